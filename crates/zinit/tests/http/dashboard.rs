//! The web dashboard: its routes through a real proxy (types, security
//! headers, sizes, 404s, the guards), and the page itself driven in
//! headless Chromium against a real daemon (`tests/browser/dashboard.mjs`,
//! Playwright pointed at Debian's /usr/bin/chromium).
//!
//! The browser test needs `node`, `tests/browser/node_modules` (`npm ci`
//! there) and /usr/bin/chromium; `.ci/run` installs them. Without them it
//! says so and skips, except under CI, where it fails.

use super::*;

const TOKEN: &str = "dashboard-token-1234";

/// The page's embedded files, with the types they must be served with.
const ASSETS: [(&str, &str); 3] = [
    ("app.js", "text/javascript; charset=utf-8"),
    ("app.css", "text/css; charset=utf-8"),
    ("icon.svg", "image/svg+xml"),
];

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn assert_secure(response: &HttpResponse, what: &str) {
    let csp = response
        .header("content-security-policy")
        .unwrap_or_else(|| panic!("{what}: no CSP: {response:?}"));
    for part in [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(part), "{what}: {part} missing from {csp}");
    }
    assert!(!csp.contains("unsafe"), "{what}: {csp}");
    assert_eq!(
        response.header("x-content-type-options"),
        Some("nosniff"),
        "{what}"
    );
}

/// The asset links in the page, in order.
fn asset_links(page: &str) -> Vec<String> {
    page.match_indices("/assets/")
        .map(|(at, _)| {
            let rest = &page[at..];
            rest[..rest.find('"').expect("quoted link")].to_owned()
        })
        .collect()
}

#[test]
fn the_page_and_its_assets_are_served_with_types_security_headers_and_cache() {
    let d = Daemon::new().start();
    for entry in BOTH {
        let p = Proxy::start(entry, &d.socket, &[]);
        let page = http(p.addr, "GET", "/", &[], b"");
        assert_eq!(page.status, 200, "{page:?}");
        assert_eq!(
            page.header("content-type"),
            Some("text/html; charset=utf-8")
        );
        assert_eq!(page.header("cache-control"), Some("no-cache"));
        assert_secure(&page, "/");
        let html = page.text();
        assert!(html.starts_with("<!doctype html>"), "{html}");
        assert!(
            html.contains("JSON-RPC"),
            "the page still says where the API is"
        );
        let mut total = page.body.len();
        let links = asset_links(&html);
        for (name, kind) in ASSETS {
            let link = links
                .iter()
                .find(|l| l.starts_with(&format!("/assets/{name}?v=")))
                .unwrap_or_else(|| panic!("no link to {name} in {links:?}"));
            let asset = http(p.addr, "GET", link, &[], b"");
            assert_eq!(asset.status, 200, "{link}: {asset:?}");
            assert_eq!(asset.header("content-type"), Some(kind), "{link}");
            assert_secure(&asset, link);
            assert_eq!(
                asset.header("cache-control"),
                Some("public, max-age=31536000, immutable")
            );
            let etag = asset.header("etag").expect("an ETag").to_owned();
            let again = http(p.addr, "GET", link, &[("If-None-Match", &etag)], b"");
            assert_eq!(again.status, 304, "{link}");
            assert!(again.body.is_empty());
            total += asset.body.len();
        }
        assert!(total < 200 * 1024, "{total} bytes: over the 200 KB budget");
        // The same file without a version is served too (hand-typed URLs).
        assert_eq!(http(p.addr, "GET", "/assets/app.js", &[], b"").status, 200);
        // HEAD works for the page (link checkers, curl -I).
        let head = http(p.addr, "HEAD", "/", &[], b"");
        assert_eq!(head.status, 200);
        assert!(head.body.is_empty());
    }
}

#[test]
fn unknown_assets_are_404_and_post_is_still_json_rpc() {
    let d = Daemon::new();
    d.service("web", "exec: \"sleep 1000\"\n");
    let d = d.start();
    d.wait_running("web");
    let p = Proxy::start(Entry::ZinitHttp, &d.socket, &[]);
    for path in [
        "/assets/nope.js",
        "/assets/app.js.map",
        "/assets/",
        "/assets/..%2Fserver.rs",
        "/index.html",
        "/app.js",
    ] {
        let missing = http(p.addr, "GET", path, &[], b"");
        assert_eq!(missing.status, 404, "{path}: {missing:?}");
    }
    let unknown = http(p.addr, "GET", "/assets/nope.js", &[], b"");
    assert_secure(&unknown, "a 404");
    assert_eq!(
        http(p.addr, "POST", "/assets/app.js", &[], b"").status,
        405,
        "assets are read-only"
    );
    same_as_socket(&p, &d.socket, &request("service_list", json!([])));
    let status = p.result("service_status", json!(["web"]));
    assert_eq!(status["state"], "Running");
    // The WebSocket upgrade on / still works beside the page.
    let mut ws = ws_connect(p.addr, "/", &[]).expect("WebSocket on /");
    ws_send(
        &mut ws,
        &json!({"jsonrpc": "2.0", "id": 2, "method": "service_list"}),
    );
    assert_eq!(ws_next(&mut ws)["result"]["web"], "Running");
}

#[test]
fn with_a_token_the_page_is_served_but_no_data_without_it() {
    let d = Daemon::new();
    d.service("web", "exec: \"sleep 1000\"\n");
    let d = d.start();
    d.wait_running("web");
    let file = d.path("token");
    std::fs::write(&file, TOKEN).unwrap();
    let file = file.to_str().unwrap();
    for entry in BOTH {
        let p = Proxy::start(entry, &d.socket, &["--token-file", file]);
        // The shell has no data; a browser navigation cannot send a token.
        let page = http(p.addr, "GET", "/", &[], b"");
        assert_eq!(page.status, 200, "{page:?}");
        assert!(!page.text().contains("sleep 1000"));
        for link in asset_links(&page.text()) {
            assert_eq!(http(p.addr, "GET", &link, &[], b"").status, 200, "{link}");
        }
        // Everything that reads or acts still needs it.
        let json = [("Content-Type", "application/json")];
        let list = request("service_list", json!([]));
        assert_eq!(
            http(p.addr, "POST", "/", &json, list.as_bytes()).status,
            401
        );
        assert_eq!(http(p.addr, "GET", "/metrics", &[], b"").status, 401);
        assert_eq!(ws_refusal(ws_connect(p.addr, "/", &[])), 401);
        assert_eq!(ws_refusal(ws_connect(p.addr, "/ws", &[])), 401);
        let bearer = format!("Bearer {TOKEN}");
        let with = [
            ("Content-Type", "application/json"),
            ("Authorization", bearer.as_str()),
        ];
        let ok = http(p.addr, "POST", "/", &with, list.as_bytes());
        assert_eq!(ok.status, 200);
        assert_eq!(ok.json()["result"]["web"], "Running");
    }
}

#[test]
fn the_host_and_origin_checks_guard_the_page_too() {
    let d = Daemon::new().start();
    let p = Proxy::start(Entry::ZinitProxy, &d.socket, &[]);
    let port = p.addr.port();
    for path in ["/", "/assets/app.js"] {
        for host in [format!("evil.example:{port}"), "attacker.test".into()] {
            let refused = http(p.addr, "GET", path, &[("Host", &host)], b"");
            assert_eq!(refused.status, 403, "{path} {host}: {refused:?}");
            assert!(!refused.text().contains("<html"), "{path}");
        }
        let local = format!("localhost:{port}");
        assert_eq!(
            http(p.addr, "GET", path, &[("Host", &local)], b"").status,
            200
        );
        let foreign = [("Origin", "https://evil.example")];
        assert_eq!(http(p.addr, "GET", path, &foreign, b"").status, 403);
        let own = format!("http://127.0.0.1:{port}");
        assert_eq!(
            http(p.addr, "GET", path, &[("Origin", &own)], b"").status,
            200
        );
    }
}

/// What the browser test needs, or why it cannot run.
fn browser_tools() -> Result<(PathBuf, PathBuf), String> {
    let dir = repository().join("tests/browser");
    let node = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|p| p.join("node"))
        .find(|p| p.is_file())
        .ok_or("node is not installed")?;
    if !dir
        .join("node_modules/playwright-core/package.json")
        .is_file()
    {
        return Err(format!(
            "playwright-core is not installed: run `npm ci` in {}",
            dir.display()
        ));
    }
    if !Path::new("/usr/bin/chromium").is_file() {
        return Err(
            "/usr/bin/chromium is missing: `apt-get install chromium chromium-driver`".into(),
        );
    }
    Ok((node, dir))
}

#[test]
fn the_dashboard_in_headless_chromium() {
    let (node, dir) = match browser_tools() {
        Ok(tools) => tools,
        Err(why) if std::env::var_os("CI").is_some() => {
            panic!("the browser test cannot run in CI: {why} (.ci/run installs it)")
        }
        Err(why) => {
            eprintln!("SKIPPED the_dashboard_in_headless_chromium: {why}");
            return;
        }
    };
    let d = Daemon::new();
    // memory_high is never applied here (cgroup v1 has none, and without
    // root there are no cgroups): the page shows the warning.
    d.service(
        "web",
        "exec: \"sh -c 'echo web listening on :8080; exec sleep 1000'\"\n\
         resources:\n  memory_max: 256MiB\n  memory_high: 128MiB\n",
    );
    d.service(
        "talker",
        "exec: \"sh -c 'trap \\\"echo talker got USR1\\\" USR1; echo talker ready; \
         echo talker warming up >&2; while true; do sleep 0.1; done'\"\n",
    );
    d.service(
        "flood",
        "exec: \"sh -c 'flood() { i=0; while [ $i -lt 600 ]; do echo flood line $i; \
         i=$((i+1)); done; echo flood done; }; trap flood USR2; echo flood idle; \
         while true; do sleep 0.1; done'\"\n",
    );
    let never = d.path("never-created");
    d.service(
        "gate",
        &format!(
            "exec: \"sleep 1000\"\ntest: \"test -e {}\"\n",
            never.display()
        ),
    );
    // requires (not after) and a conflict with a service that is not
    // monitored: the dependency view names both kinds.
    d.service(
        "app",
        "exec: \"sleep 1000\"\nrequires: [gate]\nconflicts: [maintenance]\n",
    );
    d.service(
        "migrate",
        "exec: \"sh -c 'echo migrated 3 tables'\"\noneshot: true\n",
    );
    d.service(
        "broken",
        "exec: \"sh -c 'echo cannot open /etc/broken.conf >&2; exit 3'\"\noneshot: true\n",
    );
    // A small ring, so the flood makes the page see a gap after a pause.
    let d = d.start_args(&["-b", "150"]);
    let web = d.wait_running("web");
    d.wait_running("talker");
    d.wait_running("flood");
    d.wait_state("app", |s| s == "Blocked");
    d.wait_state("migrate", |s| s == "Success");
    d.wait_state("broken", |s| s.starts_with("Error"));
    d.wait_state("gate", |s| s == "Spawned");

    let plain = Proxy::start(Entry::ZinitHttp, &d.socket, &[]);
    let file = d.path("token");
    std::fs::write(&file, TOKEN).unwrap();
    let guarded = Proxy::start(
        Entry::ZinitProxy,
        &d.socket,
        &["--token-file", file.to_str().unwrap()],
    );
    let artifacts = Path::new(ZINIT)
        .parent()
        .and_then(Path::parent)
        .expect("the target directory")
        .join("dashboard");
    std::fs::create_dir_all(&artifacts).expect("artifact directory");
    let screenshot = artifacts.join("dashboard.png");
    let _ = std::fs::remove_file(&screenshot);

    let mut child = Command::new(node)
        .arg("dashboard.mjs")
        .current_dir(&dir)
        .env("ZD_URL", format!("http://{}/", plain.addr))
        .env("ZD_TOKEN_URL", format!("http://{}/", guarded.addr))
        .env("ZD_TOKEN", TOKEN)
        .env("ZD_SCREENSHOT", &screenshot)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run node");
    // The whole browser run has a deadline too; a stuck one is killed.
    let limit = std::time::Instant::now() + Duration::from_secs(180);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for node") {
            break status;
        }
        if std::time::Instant::now() > limit {
            let _ = child.kill();
            break child.wait().expect("node killed");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut out = String::new();
    let mut err = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    std::fs::write(artifacts.join("output.txt"), format!("{out}\n{err}")).unwrap();
    eprintln!("{out}");
    assert!(
        status.success(),
        "the browser test failed ({status}):\n{out}\n{err}\nproxy: {}",
        plain.stderr()
    );
    for case in [
        "page_lists_services_with_their_states",
        "log_view_shows_lines_with_stdout_and_stderr_apart",
        "dependency_view_says_who_waits_and_why",
        "kill_with_a_chosen_signal",
        "the_daemons_refusal_is_shown",
        "pause_then_resume_loses_and_repeats_nothing_and_shows_the_gap",
        "stop_from_the_page",
        "at_most_one_request_a_second_when_idle",
        "with_a_token_the_page_asks_for_it_and_shows_nothing_else",
        "with_the_right_token_the_data_comes",
    ] {
        assert!(
            out.contains(&format!("ok - {case} (")),
            "{case} missing:\n{out}"
        );
    }
    let png = std::fs::read(&screenshot).expect("the screenshot was saved");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "a real PNG"
    );

    // What the page did, checked through the socket: web really stopped...
    let (state, pid) = d.state("web");
    assert_eq!(pid, 0, "web still has a process: {state}");
    assert_eq!(
        d.rpc("service_status", json!(["web"]))["result"]["target"],
        "Down"
    );
    wait_gone(web as i32);
    // ...and talker really got SIGUSR1, twice, and is still running.
    let lines = d.rpc("stream_readLogs", json!({"name": "talker"}));
    let answers = lines["result"]["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .filter(|l| l["text"] == "talker got USR1")
        .count();
    assert_eq!(answers, 2, "{lines}");
    assert_eq!(d.state("talker").0, "Running");
}
