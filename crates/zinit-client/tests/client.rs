//! The client against a fake daemon on a temporary Unix socket that answers
//! canned lines: request shape, result and error decoding, the unreachable
//! message, protocol violations and log streaming.

use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use zinit_client::{Client, ClientError, ErrorCode, Method};

/// A fresh directory for one test's socket; removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "zinit-client-test-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn socket(&self) -> PathBuf {
        self.0.join("zinit.sock")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Serves `connections` connections: reads one line from each, writes what
/// `reply` returns for it, closes. Yields the lines received.
fn fake<F>(dir: &TempDir, connections: usize, reply: F) -> JoinHandle<Vec<String>>
where
    F: Fn(&str) -> String + Send + 'static,
{
    let listener = UnixListener::bind(dir.socket()).unwrap();
    tokio::spawn(async move {
        let mut received = Vec::new();
        for _ in 0..connections {
            let (stream, _) = listener.accept().await.unwrap();
            let mut reader = BufReader::new(stream);
            let mut line = String::new();
            reader.read_line(&mut line).await.unwrap();
            let answer = reply(&line);
            reader.get_mut().write_all(answer.as_bytes()).await.unwrap();
            received.push(line);
        }
        received
    })
}

/// Answers every request with `result`, echoing its id.
fn answering(result: Value) -> impl Fn(&str) -> String + Send + 'static {
    move |line| {
        let request: Value = serde_json::from_str(line).unwrap();
        format!(
            "{}\n",
            json!({"jsonrpc": "2.0", "id": request["id"], "result": result})
        )
    }
}

fn parse(line: &str) -> Value {
    assert!(
        line.ends_with('\n'),
        "request is newline-terminated: {line:?}"
    );
    assert_eq!(line.matches('\n').count(), 1, "one line: {line:?}");
    serde_json::from_str(line).unwrap()
}

#[tokio::test]
async fn status_request_shape_and_result() {
    let dir = TempDir::new();
    let server = fake(
        &dir,
        1,
        answering(json!({
            "name": "redis", "pid": 42, "state": "Running", "target": "Up",
            "after": {"net": "Success"}
        })),
    );
    let client = Client::new(dir.socket());
    let status = client.status("redis").await.unwrap();
    assert_eq!(status.name, "redis");
    assert_eq!(status.pid, 42);
    assert_eq!(status.after["net"], "Success");
    assert_eq!(status.reason, None);

    let request = parse(&server.await.unwrap()[0]);
    assert_eq!(request["jsonrpc"], "2.0");
    assert_eq!(request["method"], "service_status");
    assert_eq!(request["params"], json!(["redis"]));
    assert!(request["id"].is_u64());
}

#[tokio::test]
async fn each_method_sends_its_name_and_positional_params() {
    let dir = TempDir::new();
    let server = fake(&dir, 9, |line| {
        let request: Value = serde_json::from_str(line).unwrap();
        let result = match request["method"].as_str().unwrap() {
            "service_create" | "service_delete" => json!("done"),
            "service_get" => json!({"exec": "true"}),
            _ => Value::Null,
        };
        format!(
            "{}\n",
            json!({"jsonrpc":"2.0","id":request["id"],"result":result})
        )
    });
    let client = Client::new(dir.socket());
    client.start("a").await.unwrap();
    client.stop("a").await.unwrap();
    client.restart("a").await.unwrap();
    client.monitor("a").await.unwrap();
    client.forget("a").await.unwrap();
    client.kill("a", "SIGHUP").await.unwrap();
    assert_eq!(
        client.create("a", json!({"exec": "true"})).await.unwrap(),
        "done"
    );
    assert_eq!(client.get("a").await.unwrap(), json!({"exec": "true"}));
    client.shutdown().await.unwrap();

    let requests: Vec<Value> = server.await.unwrap().iter().map(|l| parse(l)).collect();
    let shapes: Vec<(String, Value)> = requests
        .iter()
        .map(|r| {
            (
                r["method"].as_str().unwrap().to_string(),
                r["params"].clone(),
            )
        })
        .collect();
    let expected = [
        ("service_start", json!(["a"])),
        ("service_stop", json!(["a"])),
        ("service_restart", json!(["a"])),
        ("service_monitor", json!(["a"])),
        ("service_forget", json!(["a"])),
        ("service_kill", json!(["a", "SIGHUP"])),
        ("service_create", json!(["a", {"exec": "true"}])),
        ("service_get", json!(["a"])),
        ("system_shutdown", json!([])),
    ];
    for ((method, params), (want_method, want_params)) in shapes.iter().zip(expected) {
        assert_eq!(method, want_method);
        assert_eq!(params, &want_params);
    }
    // Ids increase from call to call.
    let ids: Vec<u64> = requests.iter().map(|r| r["id"].as_u64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
}

#[tokio::test]
async fn list_and_stats_decode() {
    let dir = TempDir::new();
    let server = fake(&dir, 2, |line| {
        let request: Value = serde_json::from_str(line).unwrap();
        let result = if request["method"] == "service_list" {
            json!({"a": "Running", "b": "Error(exited with code 3)"})
        } else {
            json!({"name":"a","pid":7,"memory_usage":2048,"cpu_usage":0.5,
                   "children":[{"pid":8,"memory_usage":1,"cpu_usage":0.0}]})
        };
        format!(
            "{}\n",
            json!({"jsonrpc":"2.0","id":request["id"],"result":result})
        )
    });
    let client = Client::new(dir.socket());
    let list = client.list().await.unwrap();
    assert_eq!(list["b"], "Error(exited with code 3)");
    let stats = client.stats("a").await.unwrap();
    assert_eq!(stats.memory_usage, 2048);
    assert_eq!(stats.children[0].pid, 8);
    server.await.unwrap();
}

#[tokio::test]
async fn application_errors_keep_code_message_and_data() {
    let dir = TempDir::new();
    let server = fake(&dir, 1, |line| {
        let request: Value = serde_json::from_str(line).unwrap();
        format!(
            "{}\n",
            json!({"jsonrpc":"2.0","id":request["id"],"error":{
                "code": -32000,
                "message": "service name \"nope\" unknown",
                "data": {"code_name":"ServiceNotFound","service":"nope","action":"start"}
            }})
        )
    });
    let err = Client::new(dir.socket()).start("nope").await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::ServiceNotFound));
    assert_eq!(err.to_string(), "service name \"nope\" unknown");
    let rpc = err.rpc().unwrap();
    assert_eq!(rpc.service(), Some("nope"));
    assert_eq!(rpc.action(), Some("start"));
    assert_eq!(rpc.data.as_ref().unwrap()["code_name"], "ServiceNotFound");
    server.await.unwrap();
}

#[tokio::test]
async fn standard_errors_have_no_application_code() {
    let dir = TempDir::new();
    let server = fake(&dir, 1, |_| {
        // What a server says when it could not read the request at all.
        "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,\"message\":\"parse error\"}}\n"
            .to_string()
    });
    let err = Client::new(dir.socket()).list().await.unwrap_err();
    assert!(
        matches!(&err, ClientError::Rpc(e) if e.code == -32700),
        "{err:?}"
    );
    assert_eq!(err.code(), None);
    server.await.unwrap();
}

#[tokio::test]
async fn unreachable_names_the_socket() {
    let dir = TempDir::new();
    let socket = dir.socket();
    let err = Client::new(&socket).list().await.unwrap_err();
    assert!(err.is_unreachable(), "{err:?}");
    let message = err.to_string();
    let prefix = format!(
        "zinit is not running: cannot connect to {}: ",
        socket.display()
    );
    assert!(message.starts_with(&prefix), "{message}");
    // The same for the log stream.
    let err = Client::new(&socket).logs(false).await.unwrap_err();
    assert!(err.to_string().starts_with(&prefix), "{err}");
}

#[tokio::test]
async fn protocol_violations() {
    let replies = [
        // Wrong id.
        "{\"jsonrpc\":\"2.0\",\"id\":999999,\"result\":null}\n",
        // Not JSON-RPC (a legacy reply).
        "{\"state\":\"ok\",\"body\":null}\n",
        // Not JSON.
        "hello\n",
        // Closed without a word.
        "",
    ];
    for reply in replies {
        let dir = TempDir::new();
        let server = fake(&dir, 1, move |_| reply.to_string());
        let err = Client::new(dir.socket()).start("a").await.unwrap_err();
        assert!(
            matches!(err, ClientError::Protocol(_)),
            "{reply:?}: {err:?}"
        );
        server.await.unwrap();
    }
    // A result of the wrong shape.
    let dir = TempDir::new();
    let server = fake(&dir, 1, answering(json!("not a status")));
    let err = Client::new(dir.socket()).status("a").await.unwrap_err();
    assert!(matches!(err, ClientError::Protocol(_)), "{err:?}");
    server.await.unwrap();
    // Params that are not structured never leave the client.
    let err = Client::new("/nonexistent/zinit.sock")
        .call(Method::ServiceList, json!("x"))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Protocol(_)), "{err:?}");
}

#[tokio::test]
async fn call_with_named_params() {
    let dir = TempDir::new();
    let server = fake(&dir, 1, answering(Value::Null));
    let client = Client::new(dir.socket());
    let result = client
        .call(
            Method::ServiceKill,
            json!({"name": "a", "signal": "SIGKILL"}),
        )
        .await
        .unwrap();
    assert_eq!(result, Value::Null);
    let request = parse(&server.await.unwrap()[0]);
    assert_eq!(request["params"], json!({"name": "a", "signal": "SIGKILL"}));
}

#[tokio::test]
async fn log_snapshot_streams_lines_until_close() {
    let dir = TempDir::new();
    let server = fake(&dir, 1, |_| {
        "[+] a: one\r\n[-] b: two\nzinit: x\n".to_string()
    });
    let mut lines = Client::new(dir.socket()).logs(false).await.unwrap();
    assert_eq!(
        lines.next_line().await.unwrap().as_deref(),
        Some("[+] a: one")
    );
    assert_eq!(
        lines.next_line().await.unwrap().as_deref(),
        Some("[-] b: two")
    );
    assert_eq!(
        lines.next_line().await.unwrap().as_deref(),
        Some("zinit: x")
    );
    assert_eq!(lines.next_line().await.unwrap(), None);
    assert_eq!(server.await.unwrap(), ["log snapshot\n"]);
}

#[tokio::test]
async fn log_follow_delivers_lines_as_they_come() {
    let dir = TempDir::new();
    let listener = UnixListener::bind(dir.socket()).unwrap();
    let (release_tx, release_rx) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut reader = BufReader::new(stream);
        let mut command = String::new();
        reader.read_line(&mut command).await.unwrap();
        let stream = reader.get_mut();
        stream.write_all(b"[+] a: first\n").await.unwrap();
        // The second line comes only after the client saw the first.
        release_rx.await.unwrap();
        stream.write_all(b"[+] a: second\n").await.unwrap();
        command
    });
    let mut lines = Client::new(dir.socket()).logs(true).await.unwrap();
    assert_eq!(
        lines.next_line().await.unwrap().as_deref(),
        Some("[+] a: first")
    );
    release_tx.send(()).unwrap();
    assert_eq!(
        lines.next_line().await.unwrap().as_deref(),
        Some("[+] a: second")
    );
    assert_eq!(server.await.unwrap(), "log\n");
    assert_eq!(lines.next_line().await.unwrap(), None);
}

#[tokio::test]
async fn log_refusal_is_an_error() {
    let dir = TempDir::new();
    let server = fake(&dir, 1, |_| {
        "{\"state\":\"error\",\"body\":\"zinit is shutting down\"}\n".to_string()
    });
    let mut lines = Client::new(dir.socket()).logs(true).await.unwrap();
    let err = lines.next_line().await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::ShuttingDown));
    assert_eq!(err.to_string(), "zinit is shutting down");
    server.await.unwrap();
}

/// A daemon that refuses a connection writes why and closes without reading
/// the request; a request too big for the socket buffer then fails to
/// write, and the client must still report the refusal, not "broken pipe".
#[test]
fn a_refusal_is_read_even_when_the_request_cannot_be_written() {
    let dir = TempDir::new();
    let listener = std::os::unix::net::UnixListener::bind(dir.socket()).unwrap();
    let refusal = json!({"jsonrpc": "2.0", "id": null,
        "error": {"code": -32600, "message": "too many connections"}});
    let server = std::thread::spawn(move || {
        use std::io::Write;
        for _ in 0..2 {
            let (mut stream, _) = listener.accept().unwrap();
            stream.write_all(format!("{refusal}\n").as_bytes()).unwrap();
            // Closing with the request unread makes the client's write fail.
        }
    });
    // Larger than any socket buffer, so the write is still going when the
    // fake closes.
    let big = "x".repeat(8 << 20);
    let client = Client::new(dir.socket());
    let err = client
        .call_blocking(Method::ServiceStatus, json!([big]))
        .unwrap_err();
    assert!(err.to_string().contains("too many connections"), "{err}");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let err = runtime
        .block_on(client.call(Method::ServiceStatus, json!([big])))
        .unwrap_err();
    assert!(err.to_string().contains("too many connections"), "{err}");
    server.join().unwrap();
}
