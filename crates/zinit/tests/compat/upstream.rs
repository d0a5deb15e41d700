//! Upstream zinit's own client (v0.2.25 to v0.2.28): the `zinit-client`
//! crate inside the upstream repository, which upstream's `zinit` command
//! line also uses, is jsonrpsee 0.25's client over reth-ipc.
//!
//! reth-ipc is not on the crates registry (upstream takes it from git), so
//! it cannot be built here. What it adds to jsonrpsee is only the
//! transport, and that is small and read from its source: each request is
//! written as it is, with no newline, on one connection kept open for
//! every request and subscription, and replies are read as a stream of
//! JSON values, split where their brackets balance. [`RethIpc`] is that
//! transport; everything else (ids, concurrent requests, subscriptions,
//! unsubscribing, error objects decoded with unknown fields refused) is
//! jsonrpsee's own client code, the same version upstream builds.

use super::*;
use jsonrpsee::async_client::{Client, ClientBuilder};
use jsonrpsee::core::client::{
    ClientT, Error as RpcClientError, ReceivedMessage, SubscriptionClientT, TransportReceiverT,
    TransportSenderT,
};
use jsonrpsee::core::params::ArrayParams;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

/// reth-ipc's sending half: the request's bytes, and nothing after them.
struct RethIpcSender(OwnedWriteHalf);

/// reth-ipc's receiving half: one JSON value at a time from the stream.
struct RethIpcReceiver {
    stream: OwnedReadHalf,
    buffer: Vec<u8>,
}

#[derive(Debug)]
struct TransportError(String);

impl std::error::Error for TransportError {}

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TransportSenderT for RethIpcSender {
    type Error = TransportError;

    async fn send(&mut self, msg: String) -> Result<(), TransportError> {
        self.0
            .write_all(msg.as_bytes())
            .await
            .map_err(|e| TransportError(format!("write: {e}")))
    }
}

impl TransportReceiverT for RethIpcReceiver {
    type Error = TransportError;

    async fn receive(&mut self) -> Result<ReceivedMessage, TransportError> {
        loop {
            // The first complete JSON value in what arrived, if any.
            let mut values = serde_json::Deserializer::from_slice(&self.buffer)
                .into_iter::<serde::de::IgnoredAny>();
            match values.next() {
                Some(Ok(_)) => {
                    let end = values.byte_offset();
                    let text = String::from_utf8_lossy(&self.buffer[..end])
                        .trim()
                        .to_owned();
                    self.buffer.drain(..end);
                    return Ok(ReceivedMessage::Text(text));
                }
                Some(Err(e)) if !e.is_eof() => {
                    return Err(TransportError(format!("not a JSON stream: {e}")))
                }
                _ => {}
            }
            let mut chunk = [0u8; 4096];
            let n = self
                .stream
                .read(&mut chunk)
                .await
                .map_err(|e| TransportError(format!("read: {e}")))?;
            if n == 0 {
                return Err(TransportError("the server closed the connection".into()));
            }
            self.buffer.extend_from_slice(&chunk[..n]);
        }
    }
}

/// A jsonrpsee client on `socket` over the reth-ipc-shaped transport, as
/// upstream's `IpcClientBuilder::build` makes one.
async fn upstream_client(socket: &Path) -> Client {
    let stream = tokio::net::UnixStream::connect(socket).await.unwrap();
    let (read, write) = stream.into_split();
    let receiver = RethIpcReceiver {
        stream: read,
        buffer: Vec::new(),
    };
    ClientBuilder::default().build_with_tokio(RethIpcSender(write), receiver)
}

/// `rpc_params![a, b, ...]` as upstream writes it.
fn params(values: &[Value]) -> ArrayParams {
    let mut params = ArrayParams::new();
    for value in values {
        params.insert(value).unwrap();
    }
    params
}

/// The code and the `data` of a call's error.
fn call_error(e: RpcClientError) -> (i32, String, Value) {
    match e {
        RpcClientError::Call(object) => {
            let data = object
                .data()
                .map(|raw| serde_json::from_str(raw.get()).unwrap())
                .unwrap_or(Value::Null);
            (object.code(), object.message().to_owned(), data)
        }
        other => panic!("expected a call error, got {other:?}"),
    }
}

#[tokio::test]
async fn upstreams_own_client_works_over_the_socket() {
    let d = Daemon::new();
    d.service("web", "exec: \"sh -c 'echo hello; exec sleep 1000'\"\n");
    d.service("db", "exec: \"sleep 1000\"\n");
    let d = d.start();
    let web = d.wait_running("web");
    d.wait_running("db");
    // Running is not yet printed: wait for web's line to be captured.
    wait_until("web's line in the log", || d.lines_captured("web") >= 1);
    let client = upstream_client(&d.socket).await;

    // Every method upstream's client calls, with the params it sends.
    let list: HashMap<String, String> = client.request("service_list", params(&[])).await.unwrap();
    assert_eq!(list["web"], "Running");
    let status: Value = client
        .request("service_status", params(&[json!("web")]))
        .await
        .unwrap();
    assert_eq!(
        status,
        json!({"name": "web", "pid": web, "state": "Running", "target": "Up", "after": {}})
    );
    // Several requests in flight at once on the one connection: jsonrpsee
    // writes them back to back, with nothing between them.
    let (a, b, c) = tokio::join!(
        client.request::<Value, _>("service_status", params(&[json!("db")])),
        client.request::<Value, _>("service_list", params(&[])),
        client.request::<Value, _>("stream_currentLogs", params(&[Value::Null])),
    );
    assert_eq!(a.unwrap()["state"], "Running");
    assert_eq!(b.unwrap()["db"], "Running");
    let logs = c.unwrap();
    assert!(
        logs.as_array()
            .unwrap()
            .iter()
            .any(|l| l == "[+] web: hello"),
        "{logs}"
    );
    let got: Value = client
        .request("service_get", params(&[json!("db")]))
        .await
        .unwrap();
    assert_eq!(got["exec"], "sleep 1000");
    let stats: Value = client
        .request("service_stats", params(&[json!("db")]))
        .await
        .unwrap();
    assert_eq!(stats["name"], "db");
    let created: String = client
        .request(
            "service_create",
            params(&[json!("extra"), json!({"exec": "sleep 1000"})]),
        )
        .await
        .unwrap();
    assert!(created.contains("extra"), "{created}");
    let monitored: Value = client
        .request("service_monitor", params(&[json!("extra")]))
        .await
        .unwrap();
    assert_eq!(monitored, Value::Null);
    d.wait_running("extra");
    for (method, args) in [
        ("service_kill", vec![json!("extra"), json!("SIGTERM")]),
        ("service_stop", vec![json!("extra")]),
        ("service_forget", vec![json!("extra")]),
    ] {
        let done: Value = client.request(method, params(&args)).await.unwrap();
        assert_eq!(done, Value::Null, "{method}");
        if method == "service_stop" {
            wait_until("extra to stop", || {
                d.rpc("service_status", json!(["extra"]))["result"]["state"] != "Running"
            });
        }
    }
    let deleted: String = client
        .request("service_delete", params(&[json!("extra")]))
        .await
        .unwrap();
    assert!(deleted.contains("extra"), "{deleted}");

    // Errors decode as upstream's client reads them (jsonrpsee refuses an
    // error object with members it does not know), with the codes its
    // `ClientError` maps: -32000 ServiceNotFound, -32005 ConfigError.
    let e = client
        .request::<Value, _>("service_status", params(&[json!("ghost")]))
        .await
        .unwrap_err();
    let (code, message, data) = call_error(e);
    assert_eq!(code, -32000);
    assert!(
        message.contains("service name \"ghost\" unknown"),
        "{message}"
    );
    assert_eq!(data["code_name"], "ServiceNotFound");
    let e = client
        .request::<Value, _>("service_monitor", params(&[json!("ghost")]))
        .await
        .unwrap_err();
    let (code, _, data) = call_error(e);
    assert_eq!(
        (code, data["code_name"].clone()),
        (-32005, json!("ConfigError"))
    );
    let e = client
        .request::<Value, _>("system_stop_http_server", params(&[]))
        .await
        .unwrap_err();
    let (code, message, _) = call_error(e);
    assert_eq!(code, -32009);
    assert!(message.contains("no HTTP server is running"), "{message}");
    assert!(client.is_connected());
}

#[tokio::test]
async fn upstreams_cli_follows_logs_and_unsubscribes() {
    let d = Daemon::talkers();
    let client = upstream_client(&d.socket).await;

    // `zinit log web` in upstream's CLI: a subscription with the filter by
    // position, and jsonrpsee's unsubscribe method for it.
    let mut web_only = client
        .subscribe::<String, _>(
            "stream_subscribeLogs",
            params(&[json!("web")]),
            "stream_unsubscribeLogs",
        )
        .await
        .unwrap();
    let mut everything = client
        .subscribe::<String, _>(
            "stream_subscribeLogs",
            params(&[Value::Null]),
            "stream_unsubscribeLogs",
        )
        .await
        .unwrap();
    // Both follow from now on: restart both services and read.
    d.ok(&["restart", "db"]);
    d.ok(&["restart", "web"]);
    let mut all_lines = Vec::new();
    while !(all_lines.iter().any(|l| l == "[+] db: db up")
        && all_lines.iter().any(|l| l == "[+] web: hello"))
    {
        all_lines.push(next_line(&mut everything).await);
    }
    let mut web_lines = Vec::new();
    while !web_lines.iter().any(|l| l == "[+] web: hello") {
        web_lines.push(next_line(&mut web_only).await);
    }
    assert!(
        web_lines.iter().all(|l| l.contains(" web: ")),
        "{web_lines:?}"
    );

    // Unsubscribing ends the subscription on the server (jsonrpsee sends
    // `stream_unsubscribeLogs [id]` and drops the answer), and the
    // connection goes on serving.
    web_only.unsubscribe().await.unwrap();
    wait_until("the unsubscribe to be answered", || {
        let metrics = d.rpc("system_metrics", json!([]))["result"].clone();
        metrics["rpc"].as_array().unwrap().iter().any(|m| {
            m["method"] == "stream_unsubscribeLogs"
                && m["requests"] == 1
                && m["errors"] == json!([])
        })
    });
    let list: HashMap<String, String> = client.request("service_list", params(&[])).await.unwrap();
    assert_eq!(list["web"], "Running");
    drop(everything);
    assert!(client.is_connected());
}

/// The next line of a log subscription, within the deadline.
async fn next_line(subscription: &mut jsonrpsee::core::client::Subscription<String>) -> String {
    tokio::time::timeout(DEADLINE, subscription.next())
        .await
        .expect("a log line before the deadline")
        .expect("the subscription is open")
        .expect("a string")
}
