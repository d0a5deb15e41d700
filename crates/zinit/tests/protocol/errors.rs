//! JSON-RPC error codes with their data objects, standard and application,
//! and refusals while zinit shuts down.

use super::*;

#[test]
fn rpc_error_codes_and_data() {
    let d = Daemon::new();
    d.service("web", "exec: \"sleep 1000\"\n");
    d.service("down", "exec: \"sleep 1000\"\n");
    d.service("broken", "exec: [unclosed\n");
    let d = d.start();
    d.wait_running("web");
    d.wait_running("down");
    let mut c = RpcConnection::open(&d.socket);
    assert_eq!(result(&mut c, "service_stop", json!(["down"])), Value::Null);
    d.wait_state("down", |s| s != "Running");

    let not_found = |action: &str| {
        app_error(
            -32000,
            "ServiceNotFound",
            "service name \"nope\" unknown",
            json!("nope"),
            action,
        )
    };
    for (method, params, action) in [
        ("service_status", json!(["nope"]), "status"),
        ("service_start", json!(["nope"]), "start"),
        ("service_stop", json!(["nope"]), "stop"),
        ("service_restart", json!(["nope"]), "restart"),
        ("service_forget", json!(["nope"]), "forget"),
        ("service_kill", json!(["nope", "SIGTERM"]), "kill"),
        ("service_stats", json!(["nope"]), "stats"),
    ] {
        assert_eq!(error(&mut c, method, params), not_found(action), "{method}");
    }
    assert_eq!(
        error(&mut c, "service_monitor", json!(["web"])),
        app_error(
            -32001,
            "ServiceAlreadyMonitored",
            "service \"web\" already monitored",
            json!("web"),
            "monitor"
        )
    );
    assert_eq!(
        error(&mut c, "service_forget", json!(["web"])),
        app_error(
            -32002,
            "ServiceIsUp",
            "service \"web\" is up",
            json!("web"),
            "forget"
        )
    );
    for (method, params, action) in [
        ("service_kill", json!(["down", "SIGTERM"]), "kill"),
        ("service_stats", json!(["down"]), "stats"),
    ] {
        assert_eq!(
            error(&mut c, method, params),
            app_error(
                -32003,
                "ServiceIsDown",
                "service \"down\" is down",
                json!("down"),
                action
            )
        );
    }
    assert_eq!(
        error(&mut c, "service_kill", json!(["web", "SIGNOPE"])),
        app_error(
            -32004,
            "InvalidSignal",
            "invalid signal \"SIGNOPE\"",
            json!("web"),
            "kill"
        )
    );
    // Invalid content is refused with every problem named; nothing written.
    assert_eq!(
        error(
            &mut c,
            "service_create",
            json!(["bad", {"exce": "x", "oneshot": "maybe"}])
        ),
        app_error(
            -32005,
            "ConfigError",
            concat!(
                "invalid configuration for service \"bad\": ",
                "bad.yaml: exce: unknown key; did you mean `exec`?; ",
                "bad.yaml: exec: missing required key (the command to run); ",
                "bad.yaml: oneshot: expected true or false, found the string \"maybe\""
            ),
            json!("bad"),
            "create"
        )
    );
    assert!(!d.config.join("bad.yaml").exists());
    let broken = d.config.join("broken.yaml");
    let monitor_broken = error(&mut c, "service_monitor", json!(["broken"]));
    assert_eq!(
        monitor_broken,
        app_error(
            -32005,
            "ConfigError",
            monitor_broken["message"].as_str().unwrap(),
            json!("broken"),
            "monitor"
        )
    );
    assert_eq!(
        monitor_broken["message"],
        format!(
            "invalid service file {p} (1 error): {p}:2:1: yaml syntax error: \
             while parsing a flow sequence, expected ',' or ']'",
            p = broken.display()
        )
    );
    assert_eq!(
        error(
            &mut c,
            "service_create",
            json!(["web", {"exec": "sleep 1"}])
        ),
        app_error(
            -32007,
            "ServiceAlreadyExists",
            &format!(
                "service \"web\" already exists: {}",
                d.config.join("web.yaml").display()
            ),
            json!("web"),
            "create"
        )
    );
    assert_eq!(
        error(&mut c, "service_monitor", json!(["ghost"])),
        app_error(
            -32005,
            "ConfigError",
            &format!(
                "service file {} not found",
                d.config.join("ghost.yaml").display()
            ),
            json!("ghost"),
            "monitor"
        )
    );

    // Standard codes: no data member.
    let standard = |code: i64, message: &str| json!({"code": code, "message": message});
    for (params, message) in [
        (
            json!([]),
            "invalid params: missing required parameter \"name\"",
        ),
        (
            json!([null]),
            "invalid params: missing required parameter \"name\"",
        ),
        (
            json!([1]),
            "invalid params: parameter \"name\" must be a string, got a number",
        ),
        (
            json!({"nme": "web"}),
            "invalid params: unknown parameter \"nme\"; expected name",
        ),
    ] {
        assert_eq!(
            error(&mut c, "service_status", params.clone()),
            standard(-32602, message),
            "{params}"
        );
    }
    assert_eq!(
        error(&mut c, "service_create", json!(["x"])),
        standard(
            -32602,
            "invalid params: missing required parameter \"content\""
        )
    );
    // Parameters a method does not have are ignored, as upstream's server
    // ignores them, unless a required one is missing (above).
    let web = result(&mut c, "service_status", json!({"name": "web"}));
    for params in [
        json!(["web", "x"]),
        json!({"name": "web", "filter": "web", "verbose": true}),
    ] {
        assert_eq!(
            result(&mut c, "service_status", params.clone()),
            web,
            "{params}"
        );
    }
    let list = result(&mut c, "service_list", json!([]));
    assert_eq!(result(&mut c, "service_list", json!(["x"])), list);
    assert_eq!(result(&mut c, "service_list", json!({"x": 1})), list);
    for method in [
        "service_frobnicate",
        "Service_list",
        "list",
        "service.list.x",
    ] {
        assert_eq!(
            error(&mut c, method, json!([])),
            standard(-32601, &format!("method not found: {method:?}"))
        );
    }
    // Lines that are not requests, on a fresh connection each (the first
    // byte decides the protocol) and inside a JSON-RPC session.
    let exact = |id: Value, error: Value| {
        format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"error\":{error}}}\n")
    };
    let reply_to = |line: &str| exchange(&d.socket, format!("{line}\n").into_bytes());
    assert_eq!(
        reply_to(r#"{"jsonrpc":"2.0","id":1,"#),
        exact(
            Value::Null,
            standard(
                -32700,
                "parse error: EOF while parsing a value at line 1 column 24"
            )
        )
    );
    assert_eq!(
        reply_to("[1,"),
        exact(
            Value::Null,
            standard(
                -32700,
                "parse error: EOF while parsing a value at line 1 column 3"
            )
        )
    );
    assert_eq!(
        reply_to("[]"),
        exact(
            Value::Null,
            standard(-32600, "invalid request: empty batch")
        )
    );
    for (line, id, message) in [
        (
            r#"{"jsonrpc":"1.0","id":3,"method":"service_list"}"#,
            json!(3),
            r#"invalid request: "jsonrpc" must be exactly "2.0""#,
        ),
        (
            r#"{"id":"x","method":"service_list"}"#,
            json!("x"),
            r#"invalid request: missing "jsonrpc":"2.0""#,
        ),
        (
            r#"{"jsonrpc":"2.0","id":5}"#,
            json!(5),
            r#"invalid request: missing "method""#,
        ),
        (
            r#"{"jsonrpc":"2.0","id":6,"method":7}"#,
            json!(6),
            r#"invalid request: "method" must be a string"#,
        ),
        (
            r#"{"jsonrpc":"2.0","id":{"a":1},"method":"service_list"}"#,
            Value::Null,
            "invalid request: id must be a string, a number or null, got an object",
        ),
        (
            r#"{"jsonrpc":"2.0","id":7,"method":"service_list","params":"x"}"#,
            json!(7),
            r#"invalid request: "params" must be an array or an object"#,
        ),
    ] {
        assert_eq!(
            reply_to(line),
            exact(id, standard(-32600, message)),
            "{line}"
        );
    }
    for (line, message) in [
        (
            "42",
            "invalid request: expected an object or an array, got a number",
        ),
        (
            r#""str""#,
            "invalid request: expected an object or an array, got a string",
        ),
    ] {
        c.send(line);
        assert_eq!(
            format!("{}\n", c.read_line()),
            exact(Value::Null, standard(-32600, message))
        );
    }
    // After all that, the same connection still answers.
    assert_eq!(result(&mut c, "service_list", json!([]))["web"], "Running");
}

#[test]
fn requests_during_shutdown_are_refused() {
    let d = Daemon::new();
    d.service(
        "stubborn",
        "exec: \"sh -c 'trap \\\"\\\" TERM; while true; do sleep 0.05; done'\"\nshutdown_timeout: 60\n",
    );
    d.service("web", "exec: \"sleep 1000\"\n");
    let mut d = d.start();
    let stubborn = d.wait_running("stubborn");
    // It must ignore TERM before the shutdown, or it ends it at once.
    wait_handles(stubborn, libc::SIGTERM);
    d.wait_running("web");
    let mut c = RpcConnection::open(&d.socket);
    assert_eq!(result(&mut c, "system_shutdown", json!([])), Value::Null);
    // web stops; stubborn ignores TERM and holds the shutdown open.
    d.wait_state("web", |s| s != "Running");
    let shutting_down = |action: &str, service: &str| {
        app_error(
            -32006,
            "ShuttingDown",
            "zinit is shutting down",
            json!(service),
            action,
        )
    };
    for (method, action) in [
        ("service_start", "start"),
        ("service_stop", "stop"),
        ("service_restart", "restart"),
        ("service_monitor", "monitor"),
    ] {
        assert_eq!(
            error(&mut c, method, json!(["web"])),
            shutting_down(action, "web"),
            "{method}"
        );
    }
    // A repeated shutdown request is harmless.
    assert_eq!(result(&mut c, "system_shutdown", json!([])), Value::Null);
    let reply = send(&d, "start web");
    assert_eq!(reply, err("zinit is shutting down"));
    assert!(reply.contains("shutting down"));
    // Reads still work.
    assert_eq!(
        send(&d, "status web"),
        ok(&status_body(
            "web",
            0,
            "Error(killed by signal SIGTERM)",
            "Down",
            "{}"
        ))
    );
    signal(stubborn as i32, libc::SIGKILL);
    let status = d.wait_exit();
    assert!(status.success(), "zinit exited with {status}");
    assert!(!d.socket.exists());
}
