//! The safe defaults: tokens, public addresses, CORS, the Host check, body
//! limits, and clients that are slow or malformed.

use super::*;

const TOKEN: &str = "correct-horse-battery-staple";

fn token_file(d: &Daemon, token: &str) -> String {
    let path = d.path("token");
    std::fs::write(&path, format!("{token}\n")).unwrap();
    path.to_str().unwrap().to_owned()
}

fn list_body() -> String {
    request("service_list", json!([]))
}

#[test]
fn a_configured_token_is_required_for_everything() {
    let d = Daemon::new();
    d.service("web", "exec: \"sleep 1000\"\n");
    let d = d.start();
    let web = d.wait_running("web");
    let file = token_file(&d, TOKEN);
    for entry in BOTH {
        let p = Proxy::start(entry, &d.socket, &["--token-file", &file]);
        let post = |headers: &[(&str, &str)], body: &str| {
            let mut all = vec![("Content-Type", "application/json")];
            all.extend_from_slice(headers);
            http(p.addr, "POST", "/", &all, body.as_bytes())
        };
        // Without the token: 401, and nothing reaches the daemon.
        let stop = request("service_stop", json!(["web"]));
        let refused = post(&[], &stop);
        assert_eq!(refused.status, 401, "{refused:?}");
        assert_eq!(
            refused.header("www-authenticate"),
            Some("Bearer realm=\"zinit\"")
        );
        assert_eq!(refused.json()["error"]["code"], -32600);
        for wrong in [
            "Bearer wrong",
            "Bearer correct-horse-battery-stapl",
            "Basic Y29ycmVjdA==",
            TOKEN,
        ] {
            let refused = post(&[("Authorization", wrong)], &stop);
            assert_eq!(refused.status, 401, "{wrong}: {refused:?}");
        }
        // A forwarded stop would have set the target Down before the proxy
        // could answer at all, so checking right away is enough.
        let status = d.legacy("status web");
        assert_eq!(
            status["body"]["target"], "Up",
            "a refused request was forwarded"
        );
        assert_eq!(d.state("web"), ("Running".to_owned(), web));
        // The dashboard's static page holds no data and is served without
        // it (http/dashboard.rs); /metrics is data.
        assert_eq!(http(p.addr, "GET", "/metrics", &[], b"").status, 401);
        assert_eq!(ws_refusal(ws_connect(p.addr, "/ws", &[])), 401);
        assert_eq!(
            ws_refusal(ws_connect(
                p.addr,
                "/ws",
                &[("Authorization", "Bearer nope")]
            )),
            401
        );

        // With it: served.
        let bearer = format!("Bearer {TOKEN}");
        let ok = post(&[("Authorization", &bearer)], &list_body());
        assert_eq!(ok.status, 200, "{ok:?}");
        assert_eq!(ok.json()["result"]["web"], "Running");
        let mut ws =
            ws_connect(p.addr, "/ws", &[("Authorization", &bearer)]).expect("ws with token");
        ws_send(
            &mut ws,
            &json!({"jsonrpc": "2.0", "id": 5, "method": "service_list"}),
        );
        assert_eq!(ws_next(&mut ws)["result"]["web"], "Running");
    }
}

#[test]
fn the_token_may_come_from_the_environment_and_the_file_wins() {
    let d = Daemon::new().start();
    let file = token_file(&d, TOKEN);
    let post = |p: &Proxy, token: &str| {
        let bearer = format!("Bearer {token}");
        let headers = [
            ("Content-Type", "application/json"),
            ("Authorization", bearer.as_str()),
        ];
        http(p.addr, "POST", "/", &headers, list_body().as_bytes()).status
    };
    for entry in BOTH {
        let mut command = entry.command(&d.socket, Some(("127.0.0.1", 0)), &[]);
        command.env("ZINIT_HTTP_TOKEN", "from-env");
        let p = Proxy::launch(command).expect("proxy with an env token");
        assert_eq!((post(&p, "from-env"), post(&p, TOKEN)), (200, 401));

        let mut command =
            entry.command(&d.socket, Some(("127.0.0.1", 0)), &["--token-file", &file]);
        command.env("ZINIT_HTTP_TOKEN", "from-env");
        let p = Proxy::launch(command).expect("proxy with both");
        assert_eq!((post(&p, TOKEN), post(&p, "from-env")), (200, 401));
    }
}

#[test]
fn a_public_address_needs_a_token_or_insecure() {
    let d = Daemon::new().start();
    let file = token_file(&d, TOKEN);
    for entry in BOTH {
        for ip in ["0.0.0.0", "::"] {
            let refused = Proxy::launch(entry.command(&d.socket, Some((ip, 0)), &[]));
            let Err((status, err)) = refused else {
                panic!("{entry:?} served {ip} without a token");
            };
            assert_eq!(status.code(), Some(2), "{entry:?} {ip}: {err}");
            assert!(
                err.contains("without a token") && err.contains("--insecure"),
                "{err}"
            );
        }
        // Opened explicitly: served (reached here over loopback only), and
        // the Host check, which guards loopback-only binds, is off.
        let open = Proxy::launch(entry.command(&d.socket, Some(("0.0.0.0", 0)), &["--insecure"]))
            .expect("--insecure");
        let local = SocketAddr::from(([127, 0, 0, 1], open.addr.port()));
        let headers = [
            ("Content-Type", "application/json"),
            ("Host", "zinit.example:8080"),
        ];
        let ok = http(local, "POST", "/", &headers, list_body().as_bytes());
        assert_eq!(ok.status, 200, "{ok:?}");
        // With a token instead: served, and the token is required.
        let guarded =
            Proxy::launch(entry.command(&d.socket, Some(("0.0.0.0", 0)), &["--token-file", &file]))
                .expect("public with a token");
        let local = SocketAddr::from(([127, 0, 0, 1], guarded.addr.port()));
        let refused = http(local, "POST", "/", &headers, list_body().as_bytes());
        assert_eq!(refused.status, 401);
    }
}

#[test]
fn cross_origin_requests_only_from_listed_origins() {
    let d = Daemon::new().start();
    let allowed = "https://admin.example.com";
    for entry in BOTH {
        let p = Proxy::start(entry, &d.socket, &["--cors-origin", allowed]);
        let post = |origin: &str| {
            let headers = [("Content-Type", "application/json"), ("Origin", origin)];
            http(p.addr, "POST", "/", &headers, list_body().as_bytes())
        };
        let foreign = post("https://evil.example");
        assert_eq!(foreign.status, 403, "{foreign:?}");
        assert_eq!(foreign.header("access-control-allow-origin"), None);
        assert!(foreign.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--cors-origin"));

        let listed = post(allowed);
        assert_eq!(listed.status, 200, "{listed:?}");
        assert_eq!(listed.header("access-control-allow-origin"), Some(allowed));
        assert_eq!(listed.header("vary"), Some("origin"));

        // Our own origin is not cross-origin.
        let own = post(&format!("http://{}", p.addr));
        assert_eq!(own.status, 200, "{own:?}");
        assert_eq!(own.header("access-control-allow-origin"), None);

        // Preflight.
        let preflight = |origin: &str| {
            let headers = [
                ("Origin", origin),
                ("Access-Control-Request-Method", "POST"),
                (
                    "Access-Control-Request-Headers",
                    "content-type, authorization",
                ),
            ];
            http(p.addr, "OPTIONS", "/", &headers, b"")
        };
        let ok = preflight(allowed);
        assert_eq!(ok.status, 204, "{ok:?}");
        assert_eq!(ok.header("access-control-allow-origin"), Some(allowed));
        assert!(ok
            .header("access-control-allow-methods")
            .unwrap()
            .contains("POST"));
        let allow_headers = ok.header("access-control-allow-headers").unwrap();
        assert!(allow_headers.contains("content-type") && allow_headers.contains("authorization"));
        let refused = preflight("https://evil.example");
        assert_eq!(refused.status, 403);
        assert_eq!(refused.header("access-control-allow-origin"), None);

        // Browsers do not apply CORS to WebSockets: the Origin check does.
        let hijack = ws_connect(p.addr, "/ws", &[("Origin", "https://evil.example")]);
        assert_eq!(ws_refusal(hijack), 403);
        assert!(ws_connect(p.addr, "/ws", &[("Origin", allowed)]).is_ok());
    }
    // No list: every foreign origin is refused; a wildcard cannot be listed.
    let p = Proxy::start(Entry::ZinitProxy, &d.socket, &[]);
    let headers = [("Content-Type", "application/json"), ("Origin", allowed)];
    assert_eq!(
        http(p.addr, "POST", "/", &headers, list_body().as_bytes()).status,
        403
    );
    for entry in BOTH {
        let wildcard = Proxy::launch(entry.command(
            &d.socket,
            Some(("127.0.0.1", 0)),
            &["--cors-origin", "*"],
        ));
        let Err((status, err)) = wildcard else {
            panic!("{entry:?} accepted a wildcard origin")
        };
        assert_eq!(status.code(), Some(2), "{err}");
    }
}

#[test]
fn with_a_token_preflight_passes_and_the_401_is_readable_cross_origin() {
    let d = Daemon::new().start();
    let file = token_file(&d, TOKEN);
    let allowed = "https://admin.example.com";
    let p = Proxy::start(
        Entry::ZinitHttp,
        &d.socket,
        &["--token-file", &file, "--cors-origin", allowed],
    );
    let preflight = [
        ("Origin", allowed),
        ("Access-Control-Request-Method", "POST"),
    ];
    assert_eq!(http(p.addr, "OPTIONS", "/", &preflight, b"").status, 204);
    let headers = [("Content-Type", "application/json"), ("Origin", allowed)];
    let refused = http(p.addr, "POST", "/", &headers, list_body().as_bytes());
    assert_eq!(refused.status, 401);
    assert_eq!(refused.header("access-control-allow-origin"), Some(allowed));
}

#[test]
fn a_foreign_host_header_is_refused_on_loopback() {
    let d = Daemon::new().start();
    for entry in BOTH {
        let p = Proxy::start(entry, &d.socket, &[]);
        let port = p.addr.port();
        let post = |host: &str| {
            let headers = [("Content-Type", "application/json"), ("Host", host)];
            http(p.addr, "POST", "/", &headers, list_body().as_bytes())
        };
        for host in [
            format!("evil.example:{port}"),
            "evil.example".into(),
            format!("localhost.evil.example:{port}"),
            "10.1.2.3".into(),
        ] {
            let refused = post(&host);
            assert_eq!(refused.status, 403, "{host}: {refused:?}");
        }
        for host in [
            format!("localhost:{port}"),
            format!("127.0.0.1:{port}"),
            format!("[::1]:{port}"),
            "localhost".into(),
        ] {
            assert_eq!(post(&host).status, 200, "{host}");
        }
        let rebinding = ws_connect(p.addr, "/ws", &[("Host", "evil.example")]);
        assert_eq!(ws_refusal(rebinding), 403);
    }
}

#[test]
fn limits_and_malformed_clients() {
    let d = Daemon::new().start();
    for entry in BOTH {
        let p = Proxy::start(entry, &d.socket, &[]);
        let json = [("Content-Type", "application/json")];

        // 2 MiB: 413, announced or not.
        let big = format!("[{}\"x\"]", "\"x\",".repeat(512 * 1024));
        assert!(big.len() > 2 << 20);
        let too_large = http(p.addr, "POST", "/", &json, big.as_bytes());
        assert_eq!(too_large.status, 413, "{too_large:?}");
        let mut chunked = format!(
            "POST / HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
            p.addr
        )
        .into_bytes();
        for piece in big.as_bytes().chunks(64 * 1024) {
            chunked.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
            chunked.extend_from_slice(piece);
            chunked.extend_from_slice(b"\r\n");
        }
        chunked.extend_from_slice(b"0\r\n\r\n");
        assert_eq!(raw_http(p.addr, &chunked).status, 413);

        // Wrong content type, method or path.
        let text = http(
            p.addr,
            "POST",
            "/",
            &[("Content-Type", "text/plain")],
            list_body().as_bytes(),
        );
        assert_eq!(text.status, 415, "{text:?}");
        let none = http(p.addr, "POST", "/", &[], list_body().as_bytes());
        assert_eq!(none.status, 415);
        let charset = [("Content-Type", "application/json; charset=utf-8")];
        assert_eq!(
            http(p.addr, "POST", "/", &charset, list_body().as_bytes()).status,
            200
        );
        assert_eq!(
            http(p.addr, "PUT", "/", &json, list_body().as_bytes()).status,
            405
        );
        assert_eq!(
            http(p.addr, "POST", "/nope", &json, list_body().as_bytes()).status,
            404
        );
        let page = http(p.addr, "GET", "/", &[], b"");
        assert_eq!(page.status, 200);
        assert!(page.text().contains("JSON-RPC"), "{}", page.text());

        // Garbage and a client that never finishes its headers.
        let garbage = raw_http(p.addr, b"\x16\x03\x01 not http at all\r\n\r\n");
        assert_eq!(garbage.status / 100, 4, "{garbage:?}");
        let mut slow = TcpStream::connect(p.addr).unwrap();
        slow.write_all(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-")
            .unwrap();
        let started = std::time::Instant::now();
        for _ in 0..20 {
            let ok = http(p.addr, "POST", "/", &json, list_body().as_bytes());
            assert_eq!(ok.status, 200, "others are served meanwhile");
        }
        slow.set_read_timeout(Some(DEADLINE)).unwrap();
        let mut rest = Vec::new();
        let _ = slow.read_to_end(&mut rest);
        assert!(
            started.elapsed() < DEADLINE,
            "the slow client was never cut off"
        );
    }
}
