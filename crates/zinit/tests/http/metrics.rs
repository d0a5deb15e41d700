//! `GET /metrics`: OpenMetrics text for every service and the daemon,
//! checked by the reference parser (Python's `prometheus_client`).

use super::*;

/// Parse `text` with `prometheus_client`'s strict OpenMetrics parser; the
/// families it found, or why it refused. `None` when the parser is not
/// installed (`.ci/run` installs it; a local run says it skipped).
fn openmetrics_families(text: &str) -> Option<Result<Vec<String>, String>> {
    let script = "import sys\n\
        from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse\n\
        for family in parse(sys.stdin.read()):\n    print(family.name)\n";
    let available = Command::new("python3")
        .args(["-c", "import prometheus_client"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !available {
        if std::env::var_os("CI").is_some() {
            panic!("python3 with prometheus_client is required in CI (.ci/run installs it)");
        }
        eprintln!(
            "SKIPPED the OpenMetrics parser check: `pip install prometheus-client` to run it"
        );
        return None;
    }
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("feed the parser");
    let out = child.wait_with_output().expect("parser output");
    Some(if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    })
}

#[test]
fn metrics_parse_as_openmetrics_and_cover_every_service() {
    let d = Daemon::new();
    d.service("web", "exec: \"sleep 1000\"\n");
    d.service("broken", "exec: \"sh -c 'exit 3'\"\n");
    d.service("done", "exec: \"true\"\noneshot: true\n");
    let d = d.start();
    let web = d.wait_running("web");
    d.wait_state("broken", |s| s.starts_with("Error"));
    d.wait_state("done", |s| s == "Success");
    wait_until("broken restarted once", || {
        d.rpc("system_metrics", json!([]))["result"]["services"]
            .as_array()
            .is_some_and(|all| {
                all.iter()
                    .any(|s| s["name"] == "broken" && s["restarts"].as_u64() >= Some(1))
            })
    });
    // Something for the request counters.
    d.rpc("service_status", json!(["ghost"]));
    let p = Proxy::start(Entry::ZinitProxy, &d.socket, &[]);

    let response = http(p.addr, "GET", "/metrics", &[], b"");
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(
        response.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    let text = response.text();
    assert!(text.ends_with("# EOF\n"), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    for expected in [
        "zinit_service_up{service=\"web\"} 1",
        "zinit_service_up{service=\"broken\"} 0",
        "zinit_service_up{service=\"done\"} 0",
        "zinit_service_state{service=\"web\",state=\"Running\"} 1",
        "zinit_service_state{service=\"web\",state=\"Blocked\"} 0",
        "zinit_service_state{service=\"done\",state=\"Success\"} 1",
        "zinit_service_state{service=\"broken\",state=\"Error\"} 1",
        "zinit_service_last_exit_code{service=\"broken\"} 3",
    ] {
        assert!(lines.contains(&expected), "no {expected:?} in\n{text}");
    }
    let value = |prefix: &str| -> f64 {
        lines
            .iter()
            .find_map(|l| l.strip_prefix(prefix))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {prefix:?} in\n{text}"))
    };
    assert!(value("zinit_service_restarts_total{service=\"broken\"}") >= 1.0);
    assert!(value("zinit_service_memory_rss_bytes{service=\"web\"}") > 0.0);
    let _ = web;
    assert!(value("zinit_process_resident_memory_bytes") > 0.0);
    assert!(
        value("zinit_rpc_errors_total{protocol=\"jsonrpc\",method=\"service_status\",code=\"-32000\"}")
            >= 1.0
    );

    if let Some(parsed) = openmetrics_families(&text) {
        let families = parsed.unwrap_or_else(|e| panic!("not OpenMetrics: {e}\n{text}"));
        for family in [
            "zinit_service_up",
            "zinit_service_state",
            "zinit_service_restarts",
            "zinit_service_cpu_seconds",
            "zinit_log_lines_dropped",
            "zinit_rpc_requests",
        ] {
            assert!(
                families.iter().any(|f| f == family),
                "no {family} in {families:?}"
            );
        }
    }
}

#[test]
fn metrics_need_the_token_like_everything_else() {
    let d = Daemon::new().start();
    let token_file = d.path("token");
    std::fs::write(&token_file, "s3cret\n").expect("token");
    let p = Proxy::start(
        Entry::ZinitProxy,
        &d.socket,
        &["--token-file", token_file.to_str().unwrap()],
    );
    assert_eq!(http(p.addr, "GET", "/metrics", &[], b"").status, 401);
    let authorized = http(
        p.addr,
        "GET",
        "/metrics",
        &[("Authorization", "Bearer s3cret")],
        b"",
    );
    assert_eq!(authorized.status, 200, "{}", authorized.text());
}

#[test]
fn metrics_without_a_daemon_are_503() {
    let dir = tempfile::tempdir().expect("dir");
    let p = Proxy::start(Entry::ZinitHttp, &dir.path().join("absent.sock"), &[]);
    let response = http(p.addr, "GET", "/metrics", &[], b"");
    assert_eq!(response.status, 503, "{}", response.text());
}
