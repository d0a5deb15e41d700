//! The proxy and the daemon's lives: the proxy outlives a daemon crash and
//! serves the next daemon on the same socket; the daemon starts and stops
//! its own proxy (`system_start_http_server` / `system_stop_http_server`)
//! and takes it down when it exits.

use super::*;

#[test]
fn the_proxy_keeps_serving_across_a_daemon_restart() {
    let d = Daemon::new();
    d.service("web", "exec: \"sleep 1000\"\n");
    let mut d = d.start();
    d.wait_running("web");
    for entry in BOTH {
        let p = Proxy::start(entry, &d.socket, &[]);
        assert_eq!(p.result("service_list", json!([]))["web"], "Running");

        d.kill_daemon();
        // Services of the killed daemon are orphans now; the next one
        // starts its own.
        for pid in d.marked_processes() {
            signal(pid, libc::SIGKILL);
        }
        let down = p.post(&request("service_list", json!([])));
        assert_eq!(down.status, 503, "{down:?}");
        let error = &down.json()["error"];
        assert_eq!(error["code"], -32603);
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains(d.socket.to_str().unwrap()),
            "{error}"
        );
        assert!(alive(p.pid()), "the proxy died with the daemon");

        d.spawn_init(&[]);
        wait_until("the new daemon's socket", || {
            std::os::unix::net::UnixStream::connect(&d.socket).is_ok()
        });
        d.wait_running("web");
        assert_eq!(p.result("service_list", json!([]))["web"], "Running");
        // WebSockets too: each one gets its own daemon connection.
        let mut ws = ws_connect(p.addr, "/ws", &[]).expect("WebSocket");
        ws_send(
            &mut ws,
            &json!({"jsonrpc": "2.0", "id": 1, "method": "service_list"}),
        );
        assert_eq!(ws_next(&mut ws)["result"]["web"], "Running");
    }
}

/// `(address, pid)` from the start message.
fn started(message: &Value) -> (SocketAddr, i32) {
    let text = message
        .as_str()
        .unwrap_or_else(|| panic!("not a message: {message}"));
    let address = text
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {text:?}"));
    let pid = text
        .rsplit("pid ")
        .next()
        .and_then(|rest| rest.trim_end_matches(')').parse().ok())
        .unwrap_or_else(|| panic!("no pid in {text:?}"));
    (address.parse().unwrap(), pid)
}

#[test]
fn the_daemon_starts_and_stops_its_http_server() {
    let d = Daemon::new();
    d.service("web", "exec: \"sleep 1000\"\n");
    let mut d = d.start();
    d.wait_running("web");

    let answer = d.rpc(
        "system_start_http_server",
        json!({"address": "127.0.0.1:0"}),
    );
    let (address, pid) = started(&answer["result"]);
    assert_eq!(address.ip().to_string(), "127.0.0.1");
    let list = http(
        address,
        "POST",
        "/",
        &[("Content-Type", "application/json")],
        request("service_list", json!([])).as_bytes(),
    );
    assert_eq!(list.json()["result"]["web"], "Running");

    // One at a time.
    let second = d.rpc("system.start_http_server", json!(["127.0.0.1:0"]));
    assert_eq!(second["error"]["code"], -32009, "{second}");
    assert_eq!(
        second["error"]["data"]["code_name"],
        "InvalidStateTransition"
    );
    let message = second["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("already running") && message.contains(&address.to_string()),
        "{message}"
    );

    assert_eq!(
        d.rpc("system_stop_http_server", json!([]))["result"],
        Value::Null
    );
    assert!(!alive(pid), "stop returned before the proxy exited");
    assert!(
        TcpStream::connect(address).is_err(),
        "still listening on {address}"
    );
    let again = d.rpc("system_stop_http_server", json!([]));
    assert_eq!(again["error"]["code"], -32009, "{again}");
    assert_eq!(
        again["error"]["data"]["action"], "stop_http_server",
        "{again}"
    );
    assert!(again["error"]["message"]
        .as_str()
        .unwrap()
        .contains("no HTTP server is running"));

    // The child applies the same rules, and says why it refused.
    let public = d.rpc("system_start_http_server", json!(["0.0.0.0:0"]));
    assert_eq!(public["error"]["code"], -32005, "{public}");
    assert!(
        public["error"]["message"]
            .as_str()
            .unwrap()
            .contains("without a token"),
        "{public}"
    );
    let nonsense = d.rpc("system_start_http_server", json!(["not an address"]));
    assert_eq!(nonsense["error"]["code"], -32005, "{nonsense}");
    let missing = d.rpc("system_start_http_server", json!([]));
    assert_eq!(missing["error"]["code"], -32602, "{missing}");

    // A proxy that exits on its own frees the slot.
    let (_, pid) = started(&d.rpc("system_start_http_server", json!(["127.0.0.1:0"]))["result"]);
    signal(pid, libc::SIGKILL);
    let restarted = wait_for("a new start to be accepted", || {
        let answer = d.rpc("system_start_http_server", json!(["127.0.0.1:0"]));
        answer.get("result").map(|message| started(message).1)
    });
    let logs = d.rpc("stream_currentLogs", json!(["zinit"]))["result"].to_string();
    assert!(
        logs.contains(&format!("HTTP server (pid {pid}) killed by signal")),
        "{logs}"
    );

    // The daemon takes its proxy down when it exits.
    assert!(alive(restarted));
    assert!(d.terminate().success(), "{}", d.output());
    assert!(!alive(restarted), "the proxy outlived the daemon");
}
