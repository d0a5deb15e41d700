//! JSON-RPC: every method's exact result, batches, notifications,
//! pipelining and `system_shutdown`.

use super::*;
use std::collections::BTreeSet;

#[test]
fn every_rpc_method_answers_exactly() {
    let d = Daemon::new();
    d.service("web", "exec: \"sleep 1000\"\n");
    d.service("app", "exec: \"sleep 1000\"\nafter: [web]\n");
    d.service("talker", "exec: \"sh -c 'echo hello; exec sleep 1000'\"\n");
    // The exact shape of a stats answer without cgroups; what a service's
    // cgroups add is tested in reliability::limits.
    let d = d.start_args(&["--cgroup", "off"]);
    let web = d.wait_running("web");
    let app = d.wait_running("app");
    d.wait_running("talker");
    let mut c = RpcConnection::open(&d.socket);

    // The exact bytes of one response.
    c.send(r#"{"jsonrpc":"2.0","id":1,"method":"service_list"}"#);
    assert_eq!(
        c.read_line(),
        r#"{"jsonrpc":"2.0","id":1,"result":{"app":"Running","talker":"Running","web":"Running"}}"#
    );
    let list = json!({"app": "Running", "talker": "Running", "web": "Running"});
    assert_eq!(result(&mut c, "service.list", json!([])), list);
    assert_eq!(result(&mut c, "service_list", json!({})), list);
    assert_eq!(result(&mut c, "service_list", Value::Null), list);

    let web_status = rpc_status("web", web, "Running", "Up", json!({}));
    assert_eq!(result(&mut c, "service_status", json!(["web"])), web_status);
    assert_eq!(
        result(&mut c, "service.status", json!({"name": "web"})),
        web_status
    );
    assert_eq!(
        result(&mut c, "service_status", json!({"name": "app"})),
        rpc_status("app", app, "Running", "Up", json!({"web": "Running"}))
    );

    // kill delivers the signal.
    assert_eq!(
        result(&mut c, "service_kill", json!(["web", "SIGSTOP"])),
        Value::Null
    );
    wait_until("web to be stopped", || {
        process_state(web as i32) == Some('T')
    });
    assert_eq!(
        result(
            &mut c,
            "service.kill",
            json!({"signal": "cont", "name": "web"})
        ),
        Value::Null
    );
    wait_until("web to continue", || process_state(web as i32) != Some('T'));

    assert_eq!(result(&mut c, "service_stop", json!(["web"])), Value::Null);
    d.wait_state("web", |s| s != "Running");
    assert_eq!(
        result(&mut c, "service_status", json!(["web"])),
        rpc_status(
            "web",
            0,
            "Error(killed by signal SIGTERM)",
            "Down",
            json!({})
        )
    );
    assert_eq!(
        result(&mut c, "service_start", json!({"name": "web"})),
        Value::Null
    );
    let web = d.wait_running("web");
    assert_eq!(
        result(&mut c, "service_restart", json!(["web"])),
        Value::Null
    );
    assert!(!alive(web as i32));
    let (_, web) = d.wait_state("web", |s| s == "Running");

    let stats = wait_for("web to use memory", || {
        let stats = result(&mut c, "service_stats", json!(["web"]));
        (stats["memory_usage"] != 0).then_some(stats)
    });
    assert_eq!(stats["name"], "web");
    assert_eq!(stats["pid"], web);
    assert!(stats["memory_usage"].as_u64().unwrap() > 0, "{stats}");
    assert!(stats["cpu_usage"].as_f64().unwrap() >= 0.0, "{stats}");
    assert_eq!(stats["children"], json!([]));
    let keys: Vec<&String> = stats.as_object().unwrap().keys().collect();
    // The original keys, and the extras old clients ignore: the restart
    // above left a last exit.
    assert_eq!(
        keys,
        [
            "children",
            "cpu_seconds",
            "cpu_usage",
            "last_exit",
            "memory_usage",
            "name",
            "pid",
            "restarts",
            "started_at",
            "total_cpu_usage",
            "total_memory_usage",
            "uptime_seconds"
        ]
    );
    assert_eq!(stats["last_exit"]["signal"], "SIGTERM", "{stats}");
    assert_eq!(stats["restarts"], 0, "{stats}");

    assert_eq!(result(&mut c, "service_stop", json!(["app"])), Value::Null);
    d.wait_state("app", |s| s != "Running");
    assert_eq!(
        result(&mut c, "service_forget", json!(["app"])),
        Value::Null
    );
    assert_eq!(
        result(&mut c, "service_list", json!([])),
        json!({"talker": "Running", "web": "Running"})
    );
    assert_eq!(
        result(&mut c, "service_monitor", json!(["app"])),
        Value::Null
    );
    d.wait_running("app");

    // Service files: create, get, monitor, delete.
    let path = d.config.join("made.yaml");
    let content = json!({"exec": "sleep 1000", "env": {"A": "1"}});
    assert_eq!(
        result(&mut c, "service_create", json!(["made", content])),
        json!(format!("service \"made\" created: {}", path.display()))
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "env:\n  A: \"1\"\nexec: \"sleep 1000\"\n"
    );
    assert_eq!(
        result(&mut c, "service_get", json!({"name": "made"})),
        content
    );
    // Created is not monitored.
    assert_eq!(
        error(&mut c, "service_status", json!(["made"]))["code"],
        -32000
    );
    assert_eq!(
        result(&mut c, "service_monitor", json!(["made"])),
        Value::Null
    );
    d.wait_running("made");
    assert_eq!(
        result(&mut c, "service_delete", json!(["made"])),
        json!(format!("service \"made\" deleted: {}", path.display()))
    );
    assert!(!path.exists());
    assert_eq!(
        error(&mut c, "service_get", json!(["made"])),
        app_error(
            -32000,
            "ServiceNotFound",
            &format!(
                "service \"made\" has no service file: {} not found",
                path.display()
            ),
            json!("made"),
            "get"
        )
    );

    // Logs in the ring, all or one service's.
    let all = result(&mut c, "stream_currentLogs", json!([]));
    let all: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert!(all.contains(&"[+] talker: hello"), "{all:?}");
    assert!(
        all.contains(&"[+] zinit: monitoring service made"),
        "{all:?}"
    );
    assert_eq!(
        result(&mut c, "stream.currentLogs", json!({"name": "talker"})),
        json!(["[+] talker: hello"])
    );
    assert_eq!(
        result(&mut c, "stream_currentLogs", json!(["nobody"])),
        json!([])
    );

    // The OpenRPC document lists every method.
    let doc = result(&mut c, "rpc.discover", json!([]));
    assert_eq!(doc["openrpc"], "1.2.6");
    let methods: BTreeSet<&str> = doc["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    let expected: BTreeSet<&str> = [
        "rpc.discover",
        "service_list",
        "service_status",
        "service_start",
        "service_stop",
        "service_restart",
        "service_monitor",
        "service_forget",
        "service_kill",
        "service_create",
        "service_delete",
        "service_get",
        "service_stats",
        "system_shutdown",
        "system_reboot",
        "system_start_http_server",
        "system_stop_http_server",
        "stream_currentLogs",
        "stream_subscribeLogs",
        // jsonrpsee adds it for the subscription (docs/compat.md).
        "stream_unsubscribeLogs",
        // Added by zinit: tested in tests/observability and tests/http.
        "service_why",
        "stream_readLogs",
        "stream_followLogs",
        "system_metrics",
    ]
    .into();
    assert_eq!(methods, expected);
    assert_eq!(result(&mut c, "rpc_discover", Value::Null), doc);

    // The daemon runs the HTTP proxy as a child on request (tested in
    // depth in tests/http).
    let started = result(&mut c, "system_start_http_server", json!(["127.0.0.1:0"]));
    assert!(
        started.as_str().unwrap().contains("http://127.0.0.1:"),
        "{started}"
    );
    assert_eq!(
        result(&mut c, "system.stop_http_server", json!([])),
        Value::Null
    );
}

#[test]
fn system_shutdown_stops_everything_and_removes_the_socket() {
    let d = Daemon::new();
    d.service("web", "exec: \"sleep 1000\"\n");
    d.service("loop", LOOP);
    let mut d = d.start();
    let web = d.wait_running("web");
    let looping = d.wait_running("loop");
    let mut c = RpcConnection::open(&d.socket);
    c.send(&request(json!(1), "system_shutdown", json!([])));
    assert_eq!(c.read_line(), r#"{"jsonrpc":"2.0","id":1,"result":null}"#);
    let status = d.wait_exit();
    assert!(
        status.success(),
        "zinit exited with {status}\n{}",
        d.output()
    );
    assert!(!alive(web as i32) && !alive(looping as i32));
    assert!(
        d.marked_processes().is_empty(),
        "{:?}",
        d.marked_processes()
    );
    assert!(!d.socket.exists(), "socket file left behind");
}

#[test]
fn batches_notifications_and_pipelining() {
    let d = Daemon::new();
    d.service("web", "exec: \"sleep 1000\"\n");
    d.service("other", LOOP);
    let d = d.start();
    let web = d.wait_running("web");
    d.wait_running("other");
    let mut c = RpcConnection::open(&d.socket);

    // A batch: answered in order, in one line; the notification is carried
    // out but not answered; a bad element gets its own error.
    c.send(concat!(
        r#"[{"jsonrpc":"2.0","id":1,"method":"service_list"},"#,
        r#"{"jsonrpc":"2.0","method":"service_stop","params":["other"]},"#,
        r#"{"jsonrpc":"2.0","id":"two","method":"service.status","params":{"name":"web"}},"#,
        r#"42]"#
    ));
    let web_status = rpc_status("web", web, "Running", "Up", json!({}));
    let batch: Value = serde_json::from_str(&c.read_line()).unwrap();
    assert_eq!(
        batch,
        json!([
            {"jsonrpc": "2.0", "id": 1, "result": {"other": "Running", "web": "Running"}},
            {"jsonrpc": "2.0", "id": "two", "result": web_status},
            {"jsonrpc": "2.0", "id": null, "error": {
                "code": -32600,
                "message": "invalid request: expected a request object, got a number",
            }},
        ])
    );
    d.wait_state("other", |s| s != "Running");

    // Nothing at all is written for notifications, even failing ones, nor
    // for a batch of them: the next line is the next request's answer.
    c.send(r#"[{"jsonrpc":"2.0","method":"service_start","params":["other"]},{"jsonrpc":"2.0","method":"nope"}]"#);
    c.send(r#"{"jsonrpc":"2.0","method":"service_list"}"#);
    c.send(r#"{"jsonrpc":"2.0","method":"no_such_method"}"#);
    c.send(r#"{"jsonrpc":"2.0","method":"service_status","params":[1]}"#);
    c.send(r#"{"jsonrpc":"2.0","method":"service_status","params":["nope"]}"#);
    c.send("");
    c.send("   ");
    c.send(&request(json!(9), "service_status", json!(["web"])));
    let answer: Value = serde_json::from_str(&c.read_line()).unwrap();
    assert_eq!(
        answer,
        json!({"jsonrpc": "2.0", "id": 9, "result": web_status})
    );
    d.wait_running("other");

    // Several requests in one write are answered one line each, in order;
    // a null id is an id.
    let mut burst = String::new();
    for (id, method) in [(json!(10), "service_list"), (Value::Null, "service.list")] {
        burst.push_str(&request(id, method, json!([])));
        burst.push('\n');
    }
    burst.push_str(r#"{"jsonrpc":"2.0","id":12,"method":"service_status","params":null}"#);
    c.send(&burst);
    let list = r#"{"other":"Running","web":"Running"}"#;
    assert_eq!(
        c.read_line(),
        format!(r#"{{"jsonrpc":"2.0","id":10,"result":{list}}}"#)
    );
    assert_eq!(
        c.read_line(),
        format!(r#"{{"jsonrpc":"2.0","id":null,"result":{list}}}"#)
    );
    assert_eq!(
        c.read_line(),
        r#"{"jsonrpc":"2.0","id":12,"error":{"code":-32602,"message":"invalid params: missing required parameter \"name\""}}"#
    );
    // Once a connection speaks JSON-RPC, a legacy line is not JSON.
    c.send("list");
    let reply: Value = serde_json::from_str(&c.read_line()).unwrap();
    assert_eq!(reply["id"], Value::Null);
    assert_eq!(reply["error"]["code"], -32700);
    assert_eq!(result(&mut c, "service_list", json!([]))["web"], "Running");
}
