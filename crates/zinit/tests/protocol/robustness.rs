//! Hostile names, oversized and malformed input, silent and numerous
//! clients: refused or served, never harmful.

use super::*;
use std::collections::BTreeSet;
use std::io::Read;

/// Every file and directory under `root`, relative to it.
fn tree(root: &Path) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut todo = vec![root.to_owned()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path.clone());
            }
            let relative = path.strip_prefix(root).unwrap();
            found.insert(relative.display().to_string());
        }
    }
    found
}

/// Names that must never reach the file system, and why each is refused.
fn hostile_names() -> Vec<(String, &'static str)> {
    let dot = "service name must not start with '.'";
    vec![
        ("../x".to_owned(), dot),
        ("../../x".to_owned(), dot),
        (".".to_owned(), dot),
        ("..".to_owned(), dot),
        (".hidden".to_owned(), dot),
        ("a/b".to_owned(), "service name must not contain '/'"),
        (
            "/etc/passwd".to_owned(),
            "service name must not contain '/'",
        ),
        ("a\\b".to_owned(), "service name must not contain '\\\\'"),
        (String::new(), "service name is empty"),
        ("a\0b".to_owned(), "service name must not contain '\\0'"),
        ("a\nb".to_owned(), "service name must not contain '\\n'"),
        (
            "x".repeat(10 * 1024),
            "service name is longer than 200 bytes",
        ),
        (
            "a\u{2028}b".to_owned(),
            "service name must not contain '\\u{2028}'",
        ),
        (
            "a\u{85}b".to_owned(),
            "service name must not contain '\\u{85}'",
        ),
        (
            "a\u{a0}b".to_owned(),
            "service name must not contain '\\u{a0}'",
        ),
    ]
}

fn refusal(name: &str, why: &str) -> String {
    let shown: String = name.chars().take(64).collect();
    format!("invalid service name {shown:?}: {why}")
}

#[test]
fn hostile_names_are_refused_everywhere() {
    let d = Daemon::new();
    d.service("web", "exec: \"sleep 1000\"\n");
    let d = d.start();
    let web = d.wait_running("web");
    let before = tree(d.dir.path());
    let outside = d.dir.path().parent().unwrap().join("x.yaml");
    let outside_existed = outside.exists();
    let mut c = RpcConnection::open(&d.socket);

    for (name, why) in hostile_names() {
        let expected = json!({
            "code": -32602,
            "message": format!("invalid params: {}", refusal(&name, why)),
        });
        for (method, params) in [
            ("service_status", json!([name])),
            ("service_start", json!([name])),
            ("service_stop", json!({ "name": name })),
            ("service_restart", json!([name])),
            ("service_monitor", json!([name])),
            ("service_forget", json!([name])),
            ("service_kill", json!([name, "SIGTERM"])),
            ("service_create", json!([name, {"exec": "sleep 1000"}])),
            ("service_delete", json!({ "name": name })),
            ("service_get", json!([name])),
            ("service_stats", json!([name])),
        ] {
            assert_eq!(error(&mut c, method, params), expected, "{method} {name:?}");
        }
        // The legacy protocol quotes the name; a newline cannot be sent
        // inside one line at all.
        for command in [
            "status", "start", "stop", "restart", "monitor", "forget", "stats", "kill",
        ] {
            let signal = if command == "kill" { " SIGTERM" } else { "" };
            let reply = send(&d, &format!("{command} '{name}'{signal}"));
            let expected = if name.contains('\n') {
                let first = name.split('\n').next().unwrap();
                err(&format!(
                    "invalid command line \"{command} '{first}\": unbalanced quotes or trailing escape"
                ))
            } else {
                err(&refusal(&name, why))
            };
            assert_eq!(reply, expected, "{command} {name:?}");
        }
    }
    assert_eq!(tree(d.dir.path()), before);
    assert_eq!(outside.exists(), outside_existed);
    assert!(std::fs::read_dir(&d.config).unwrap().count() == 1);

    // Unicode itself is fine: the file lands in the config directory.
    let name = "ünïcode-✓";
    let path = d.config.join(format!("{name}.yaml"));
    assert_eq!(
        result(
            &mut c,
            "service_create",
            json!([name, {"exec": "sleep 1000"}])
        ),
        json!(format!("service \"{name}\" created: {}", path.display()))
    );
    assert!(path.is_file());
    assert_eq!(send(&d, &format!("monitor {name}")), ok("null"));
    let pid = d.wait_running(name);
    assert_eq!(
        result(&mut c, "service_status", json!([name])),
        rpc_status(name, pid, "Running", "Up", json!({}))
    );
    let mut expected = before.clone();
    expected.insert(format!("services/{name}.yaml"));
    assert_eq!(tree(d.dir.path()), expected);
    assert_eq!(
        send(&d, "status web"),
        ok(&status_body("web", web, "Running", "Up", "{}"))
    );
}

#[test]
fn oversized_and_malformed_input_is_refused_and_serving_goes_on() {
    let d = Daemon::new();
    d.service("web", "exec: \"sleep 1000\"\n");
    let d = d.start();
    let web = d.wait_running("web");
    let status = ok(&status_body("web", web, "Running", "Up", "{}"));
    const MAX: usize = 1 << 20;
    let too_long = format!("request line longer than {MAX} bytes");
    let rpc_too_long_message = format!("request longer than {MAX} bytes");

    // Exactly the limit is still read (and the name judged)...
    let name = "x".repeat(MAX - "status ".len());
    let line = format!("status {name}\n").into_bytes();
    assert_eq!(
        exchange(&d.socket, line),
        err(&refusal(&name, "service name is longer than 200 bytes"))
    );
    // ...one byte more is not, in either protocol.
    let line = format!("status x{name}\n").into_bytes();
    assert_eq!(exchange(&d.socket, line), err(&too_long));
    let huge = "y".repeat(2 * MAX);
    assert_eq!(
        exchange(&d.socket, format!("status {huge}").into_bytes()),
        err(&too_long)
    );
    let rpc_too_long = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{{\"code\":-32600,\"message\":\"invalid request: {rpc_too_long_message}\"}}}}\n"
    );
    let request_line = request(json!(1), "service_status", json!([huge])) + "\n";
    assert_eq!(
        exchange(&d.socket, request_line.clone().into_bytes()),
        rpc_too_long
    );
    // A session that already spoke gets the same answer, then is closed.
    let mut bytes = request(json!(1), "service_list", json!([])).into_bytes();
    bytes.push(b'\n');
    bytes.extend_from_slice(request_line.as_bytes());
    let stream = UnixStream::connect(&d.socket).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let writing = std::thread::spawn(move || {
        let _ = writer.write_all(&bytes);
    });
    let mut reader = BufReader::new(stream);
    let mut first = String::new();
    reader.read_line(&mut first).unwrap();
    assert_eq!(
        first,
        format!("{{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{{\"web\":\"Running\"}}}}\n")
    );
    let mut second = String::new();
    reader.read_line(&mut second).unwrap();
    assert_eq!(second, rpc_too_long);
    let mut rest = Vec::new();
    let _ = reader.read_to_end(&mut rest);
    assert!(rest.is_empty(), "{rest:?}");
    writing.join().unwrap();

    // Garbage: a legacy error, or a JSON-RPC parse error.
    assert_eq!(
        exchange(&d.socket, b"\xff\xfe\x00\x01 junk\n".to_vec()),
        err(&format!("unknown command {:?}", "\u{fffd}\u{fffd}\0\u{1}"))
    );
    assert_eq!(
        exchange(&d.socket, b"\x00\x00\x00".to_vec()),
        err(&format!("unknown command {:?}", "\0\0\0"))
    );
    assert_eq!(
        exchange(&d.socket, b"{\xff\xfe}\n".to_vec()),
        "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,\"message\":\"parse error: key must be a string at line 1 column 2\"}}\n"
    );
    // Clients that connect and say nothing, or leave at once.
    let silent: Vec<UnixStream> = (0..20)
        .map(|_| UnixStream::connect(&d.socket).unwrap())
        .collect();
    for _ in 0..20 {
        drop(UnixStream::connect(&d.socket).unwrap());
    }
    assert_eq!(send(&d, "status web"), status);
    drop(silent);
    assert_eq!(send(&d, "status web"), status);
    let mut c = RpcConnection::open(&d.socket);
    assert_eq!(
        result(&mut c, "service_status", json!(["web"])),
        rpc_status("web", web, "Running", "Up", json!({}))
    );
}

#[test]
fn two_hundred_clients_at_once_all_get_their_answers() {
    let d = Daemon::new();
    d.service("web", "exec: \"sleep 1000\"\n");
    let d = d.start();
    let web = d.wait_running("web");
    let legacy = ok(&status_body("web", web, "Running", "Up", "{}"));
    let rpc = rpc_status("web", web, "Running", "Up", json!({}));
    let barrier = std::sync::Barrier::new(200);
    std::thread::scope(|scope| {
        for client in 0..200 {
            let (d, legacy, rpc, barrier) = (&d, &legacy, &rpc, &barrier);
            scope.spawn(move || {
                barrier.wait();
                for round in 0..5 {
                    if (client + round) % 2 == 0 {
                        assert_eq!(send(d, "status web"), *legacy);
                    } else {
                        let mut c = RpcConnection::open(&d.socket);
                        assert_eq!(result(&mut c, "service_status", json!(["web"])), *rpc);
                        assert_eq!(result(&mut c, "service.status", json!(["web"])), *rpc);
                    }
                }
            });
        }
    });
    assert_eq!(send(&d, "status web"), legacy);
}
