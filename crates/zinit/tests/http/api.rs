//! Every method through both entry points, with the same answers as the
//! socket; batches and notifications; the seeds' curl examples as written;
//! the OpenRPC document against what the server answers.

use super::*;
use std::collections::BTreeSet;
use zinit_proto::jsonrpc::Method;

#[test]
fn every_method_through_zinit_http() {
    every_method(Entry::ZinitHttp);
}

#[test]
fn every_method_through_zinit_proxy() {
    every_method(Entry::ZinitProxy);
}

fn every_method(entry: Entry) {
    let d = Daemon::new();
    d.service("web", "exec: \"sleep 1000\"\n");
    let flag = d.path("flag");
    d.service("talker", &prints_after(&flag, "hello-from-talker"));
    let mut d = d.start();
    let web = d.wait_running("web");
    d.wait_running("talker");
    let p = Proxy::start(entry, &d.socket, &[]);
    let socket = d.socket.clone();

    // Reads answer exactly as on the socket, errors included.
    let doc = same_as_socket(&p, &socket, &request("rpc.discover", json!([])));
    assert_eq!(doc["result"]["openrpc"], "1.2.6");
    same_as_socket(&p, &socket, &request("rpc_discover", Value::Null));
    let list = same_as_socket(&p, &socket, &request("service_list", json!({})));
    assert_eq!(
        list["result"],
        json!({"talker": "Running", "web": "Running"})
    );
    same_as_socket(&p, &socket, &request("service.list", json!([])));
    let status = same_as_socket(&p, &socket, &request("service_status", json!(["web"])));
    assert_eq!(status["result"]["pid"], web);
    let missing = same_as_socket(
        &p,
        &socket,
        &request("service.status", json!({"name": "nope"})),
    );
    assert_eq!(missing["error"]["code"], -32000, "{missing}");
    let bad_name = same_as_socket(&p, &socket, &request("service_status", json!(["../x"])));
    assert_eq!(bad_name["error"]["code"], -32602, "{bad_name}");
    let unknown = same_as_socket(&p, &socket, &request("service_nope", json!([])));
    assert_eq!(unknown["error"]["code"], -32601, "{unknown}");

    // Changes.
    assert_eq!(p.result("service_stop", json!(["web"])), Value::Null);
    wait_gone(web as i32);
    assert_eq!(
        p.result("service.start", json!({"name": "web"})),
        Value::Null
    );
    let web = d.wait_running("web");
    assert_eq!(p.result("service_restart", json!(["web"])), Value::Null);
    let restarted = d.wait_running("web");
    assert_ne!(restarted, web);
    let web = restarted;
    assert_eq!(
        p.result("service_kill", json!(["web", "SIGSTOP"])),
        Value::Null
    );
    wait_until("web stopped", || process_state(web as i32) == Some('T'));
    assert_eq!(
        p.result("service_kill", json!({"name": "web", "signal": "SIGCONT"})),
        Value::Null
    );
    wait_until("web continued", || process_state(web as i32) != Some('T'));
    let stats = p.result("service_stats", json!(["web"]));
    assert_eq!(
        (stats["name"].clone(), stats["pid"].clone()),
        (json!("web"), json!(web))
    );

    // Service files.
    let created = p.result("service_create", json!(["made", {"exec": "sleep 1000"}]));
    assert!(created.as_str().unwrap().contains("made"), "{created}");
    assert!(d.config.join("made.yaml").exists());
    let got = same_as_socket(&p, &socket, &request("service_get", json!(["made"])));
    assert_eq!(got["result"], json!({"exec": "sleep 1000"}));
    assert_eq!(p.result("service_monitor", json!(["made"])), Value::Null);
    let made = d.wait_running("made");
    let again = p.rpc("service_monitor", json!(["made"]));
    assert_eq!(again["error"]["code"], -32001, "{again}");
    assert_eq!(p.result("service_stop", json!(["made"])), Value::Null);
    wait_gone(made as i32);
    assert_eq!(p.result("service_forget", json!(["made"])), Value::Null);
    assert!(p.result("service_list", json!([])).get("made").is_none());
    let deleted = p.result("service_delete", json!(["made"]));
    assert!(deleted.as_str().unwrap().contains("made"), "{deleted}");
    assert!(!d.config.join("made.yaml").exists());

    // Logs: the buffer, and a subscription id (pushes need a WebSocket).
    std::fs::write(&flag, "").unwrap();
    wait_until("talker's line in the buffer", || {
        let lines = p.result("stream_currentLogs", json!(["talker"]));
        lines
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l.as_str().unwrap().contains("hello-from-talker"))
    });
    same_as_socket(
        &p,
        &socket,
        &request("stream.currentLogs", json!({"name": "talker"})),
    );
    assert!(p.result("stream_subscribeLogs", json!([])).is_u64());

    // The daemon starts and stops its own proxy (covered in depth in lifecycle).
    let message = p.result("system_start_http_server", json!(["127.0.0.1:0"]));
    assert!(
        message.as_str().unwrap().contains("127.0.0.1:"),
        "{message}"
    );
    assert_eq!(p.result("system_stop_http_server", json!([])), Value::Null);

    frames(&p, &d, web);

    // system_reboot (not PID 1: the daemon exits), then a new daemon on the
    // same socket answers through the same proxy, and system_shutdown.
    assert_eq!(p.result("system_reboot", json!([])), Value::Null);
    assert!(d.wait_exit().success(), "{}", d.output());
    d.spawn_init(&[]);
    wait_until("the new daemon's socket", || {
        std::os::unix::net::UnixStream::connect(&d.socket).is_ok()
    });
    assert_eq!(p.result("system.shutdown", json!({})), Value::Null);
    assert!(d.wait_exit().success(), "{}", d.output());
}

/// Batches, notifications and invalid frames.
fn frames(p: &Proxy, d: &Daemon, web: u64) {
    let socket = &d.socket;
    // A batch: answers for requests only, in a JSON array.
    let batch = json!([
        {"jsonrpc": "2.0", "id": "a", "method": "service_status", "params": ["web"]},
        {"jsonrpc": "2.0", "method": "service_list"},
        {"jsonrpc": "2.0", "id": 2, "method": "nope"},
        {"jsonrpc": "1.0", "id": 3, "method": "service_list"}
    ])
    .to_string();
    let answer = same_as_socket(p, socket, &batch);
    let ids: Vec<Value> = answer
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].clone())
        .collect();
    assert_eq!(ids, [json!("a"), json!(2), json!(3)], "{answer}");

    // Invalid frames are answered like the socket answers them.
    for frame in [
        "[]",
        r#"{"jsonrpc":"2.0","id":1}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"service_status","params":{"nme":"web"}}"#,
    ] {
        let answer = same_as_socket(p, socket, frame);
        assert!(answer["error"]["code"].is_i64(), "{frame}: {answer}");
    }
    // JSON that is not a request: the JSON-RPC answer (the socket would
    // take a line that does not start with `{` or `[` for the line protocol).
    for frame in ["42", "\"list\"", "null"] {
        let answer = p.post(frame).json();
        assert_eq!(answer["error"]["code"], -32600, "{frame}: {answer}");
        assert_eq!(answer["id"], Value::Null);
    }
    // Not JSON: -32700 with HTTP 200, as the socket answers.
    let parse = same_as_socket(p, socket, "{\"jsonrpc\": \"2.0\", }");
    assert_eq!(parse["error"]["code"], -32700);
    assert_eq!(parse["id"], Value::Null);
    // A body that ends inside a value is a parse error too (on the socket
    // more bytes may still come: it waits for them).
    let cut = p.post("{\"jsonrpc\": \"2.0\", ").json();
    assert_eq!(cut["error"]["code"], -32700, "{cut}");
    let invalid_utf8 = http(
        p.addr,
        "POST",
        "/",
        &[("Content-Type", "application/json")],
        b"\"\xff\"",
    );
    assert_eq!(invalid_utf8.status, 200);
    assert_eq!(invalid_utf8.json()["error"]["code"], -32700);

    // A multi-line body is still one request.
    let pretty = "{\n  \"jsonrpc\": \"2.0\",\n  \"id\": 7,\n  \"method\": \"service_list\"\n}\n";
    let answer = p.post(pretty);
    assert_eq!(answer.json()["id"], 7, "{answer:?}");

    // A notification: 204, no body, and it takes effect.
    let note = p.post(r#"{"jsonrpc":"2.0","method":"service_stop","params":["web"]}"#);
    assert_eq!((note.status, note.body.len()), (204, 0), "{note:?}");
    wait_gone(web as i32);
    // A batch of notifications only: 204 as well.
    let notes = p.post(
        r#"[{"jsonrpc":"2.0","method":"service_start","params":["web"]},{"jsonrpc":"2.0","method":"service_list"}]"#,
    );
    assert_eq!((notes.status, notes.body.len()), (204, 0), "{notes:?}");
    d.wait_running("web");
}

#[test]
fn the_seeds_examples_work_as_written_on_the_default_port() {
    let d = Daemon::new();
    d.service("web", "exec: \"sleep 1000\"\n");
    let d = d.start();
    d.wait_running("web");
    let curl = Command::new("curl")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let bodies = [
        r#"{"jsonrpc":"2.0","id":1,"method":"service.list","params":{}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"service_list","params":{}}"#,
    ];
    for entry in BOTH {
        // `zinit-http --socket PATH` and `zinit -s PATH proxy`: port 8080.
        let proxy = match Proxy::launch(entry.command(&d.socket, None, &[])) {
            Ok(proxy) => proxy,
            Err((_, err)) if err.contains("in use") => {
                println!("skipped: port 8080 is taken on this machine ({err})");
                return;
            }
            Err((status, err)) => panic!("{entry:?} on the default port: {status}: {err}"),
        };
        assert_eq!(proxy.addr.to_string(), "127.0.0.1:8080");
        for body in bodies {
            let answer = if curl {
                let out = Command::new("curl")
                    .args([
                        "-s",
                        "-X",
                        "POST",
                        "-H",
                        "Content-Type: application/json",
                        "-d",
                        body,
                    ])
                    .arg("http://localhost:8080/")
                    .output()
                    .expect("curl");
                serde_json::from_slice::<Value>(&out.stdout)
                    .unwrap_or_else(|e| panic!("curl got {:?}: {e}", out.stdout))
            } else {
                proxy.post(body).json()
            };
            assert_eq!(
                answer,
                json!({"jsonrpc": "2.0", "id": 1, "result": {"web": "Running"}})
            );
        }
        drop(proxy);
    }
}

/// The document lists exactly what the server answers: every method in it
/// is answered (never -32601), under both names, and every method the
/// dispatch table knows is in it.
#[test]
fn the_openrpc_document_matches_what_the_server_answers() {
    let mut d = Daemon::new().start();
    let doc = socket_frame(&d.socket, &request("rpc.discover", json!([])))["result"].clone();
    let documented: BTreeSet<String> = doc["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_owned())
        .collect();
    let table: BTreeSet<String> = Method::ALL
        .iter()
        .map(|m| m.canonical_name().to_owned())
        .collect();
    assert_eq!(documented, table);

    // Harmless params for each; the two that end the daemon go last.
    let params = |method: Method| match method {
        Method::ServiceKill => json!(["no-such-service", "SIGTERM"]),
        Method::ServiceCreate => json!(["../refused", {"exec": "true"}]),
        Method::SystemStartHttpServer => json!(["not an address"]),
        m if m.param_names() == ["name"] => json!(["no-such-service"]),
        _ => json!([]),
    };
    let ends_daemon = |m: &Method| matches!(m, Method::SystemShutdown | Method::SystemReboot);
    for method in Method::ALL.iter().filter(|m| !ends_daemon(m)) {
        for name in [
            method.canonical_name().to_owned(),
            method.canonical_name().replacen('_', ".", 1),
        ] {
            let answer = socket_frame(&d.socket, &request(&name, params(*method)));
            assert_ne!(
                answer["error"]["code"], -32601,
                "{name} is documented but not answered: {answer}"
            );
        }
    }
    for name in [
        "service_foo",
        "system_start_http",
        "rpc.foo",
        "stream_subscribe",
    ] {
        let answer = socket_frame(&d.socket, &request(name, json!([])));
        assert_eq!(answer["error"]["code"], -32601, "{name}: {answer}");
    }
    for method in [Method::SystemReboot, Method::SystemShutdown] {
        let answer = socket_frame(&d.socket, &request(method.canonical_name(), json!([])));
        assert_eq!(answer["result"], Value::Null, "{answer}");
        assert!(d.wait_exit().success());
        if method == Method::SystemReboot {
            d.spawn_init(&[]);
            wait_until("the new daemon", || {
                std::os::unix::net::UnixStream::connect(&d.socket).is_ok()
            });
        }
    }
}
