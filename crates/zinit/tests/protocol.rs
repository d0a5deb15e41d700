//! The control socket through the real binary: exact legacy replies, log
//! streaming, every JSON-RPC method and error code, framing (batches,
//! notifications, pipelining), hostile names and input, many clients, and
//! the socket file itself. Shared helpers live here; the tests are split by
//! subject under `protocol/`.

mod common;

#[path = "protocol/errors.rs"]
mod errors;
#[path = "protocol/framing.rs"]
mod framing;
#[path = "protocol/legacy.rs"]
mod legacy;
#[path = "protocol/logs.rs"]
mod logs;
#[path = "protocol/robustness.rs"]
mod robustness;
#[path = "protocol/rpc.rs"]
mod rpc;
#[path = "protocol/socket.rs"]
mod socket;

use common::*;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

/// A legacy success reply, exactly as sent.
fn ok(body: &str) -> String {
    format!("{{\"state\":\"ok\",\"body\":{body}}}\n")
}

/// A legacy error reply, exactly as sent.
fn err(message: &str) -> String {
    let body = serde_json::to_string(message).unwrap();
    format!("{{\"state\":\"error\",\"body\":{body}}}\n")
}

/// A legacy `status` body, exactly as sent.
fn status_body(name: &str, pid: u64, state: &str, target: &str, after: &str) -> String {
    format!(
        "{{\"name\":\"{name}\",\"pid\":{pid},\"state\":\"{state}\",\"target\":\"{target}\",\"after\":{after}}}"
    )
}

/// Send one legacy command line and return the whole reply.
fn send(d: &Daemon, line: &str) -> String {
    d.raw(&format!("{line}\n"))
}

/// A service that loops until killed (no `sleep 1000` child to reparent).
const LOOP: &str = "exec: \"sh -c 'while true; do sleep 0.05; done'\"\n";

/// A JSON-RPC request line.
fn request(id: Value, method: &str, params: Value) -> String {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string()
}

/// The result of a successful call, checking the response's exact shape.
fn result(c: &mut RpcConnection, method: &str, params: Value) -> Value {
    let response = c.call(method, params.clone());
    let object = response.as_object().unwrap();
    let keys: Vec<&str> = object.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["id", "jsonrpc", "result"],
        "{method} {params}: {response}"
    );
    assert_eq!(response["jsonrpc"], "2.0");
    response["result"].clone()
}

/// The error object of a failed call, checking the response's exact shape.
fn error(c: &mut RpcConnection, method: &str, params: Value) -> Value {
    let response = c.call(method, params.clone());
    let object = response.as_object().unwrap();
    let keys: Vec<&str> = object.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["error", "id", "jsonrpc"],
        "{method} {params}: {response}"
    );
    response["error"].clone()
}

/// An application error object.
fn app_error(code: i64, name: &str, message: &str, service: Value, action: &str) -> Value {
    json!({
        "code": code,
        "message": message,
        "data": {"code_name": name, "service": service, "action": action},
    })
}

/// A status object as a JSON value (JSON-RPC results compare as values).
fn rpc_status(name: &str, pid: u64, state: &str, target: &str, after: Value) -> Value {
    json!({"name": name, "pid": pid, "state": state, "target": target, "after": after})
}

/// The first line of the reply to `bytes` (written by another thread while
/// this one reads, so a daemon that answers early cannot deadlock us).
fn exchange(socket: &Path, bytes: Vec<u8>) -> String {
    let stream = UnixStream::connect(socket).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let writing = std::thread::spawn(move || {
        // The daemon may close before reading everything: that is fine.
        let _ = writer.write_all(&bytes);
        let _ = writer.shutdown(std::net::Shutdown::Write);
    });
    let mut reply = Vec::new();
    let mut reader = BufReader::new(stream);
    let _ = reader.read_until(b'\n', &mut reply);
    writing.join().unwrap();
    String::from_utf8(reply).unwrap()
}
