//! The HTTP API through real processes: a real daemon (`zinit init`) and a
//! real proxy, started both ways (`zinit-http` and `zinit proxy`), on
//! 127.0.0.1 with a port the proxy picks and prints. Shared helpers live
//! here; the tests are split by subject under `http/`.
//!
//! `zinit-http` is another package's binary, so it is looked up beside
//! `zinit` in the target directory (`cargo test --workspace` builds it).
//! The HTTP client is a few lines over `TcpStream`, so tests can send any
//! `Host`, `Origin` or malformed input; WebSockets use `tungstenite`.

mod common;

#[path = "http/api.rs"]
mod api;
#[path = "http/dashboard.rs"]
mod dashboard;
#[path = "http/lifecycle.rs"]
mod lifecycle;
#[path = "http/metrics.rs"]
mod metrics;
#[path = "http/security.rs"]
mod security;
#[path = "http/ws.rs"]
mod ws;

use common::*;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

/// The line a proxy prints once it listens, before its address.
const READY: &str = "zinit-http listening on http://";

/// Which command line runs the proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Entry {
    /// `zinit-http --socket PATH --address IP --port PORT`
    ZinitHttp,
    /// `zinit -s PATH proxy -a IP:PORT`
    ZinitProxy,
}

const BOTH: [Entry; 2] = [Entry::ZinitHttp, Entry::ZinitProxy];

/// The `zinit-http` binary beside `zinit`, refusing a missing or stale one
/// (`cargo test -p zinit` alone does not rebuild another package's binary).
fn zinit_http_binary() -> PathBuf {
    let path = Path::new(ZINIT).with_file_name("zinit-http");
    let fix = "`cargo test --workspace` builds it, or run `cargo build -p zinit-http`";
    let built = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| panic!("{} is missing: {fix}", path.display()));
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for source in ["zinit-http/src", "zinit-http/dashboard", "zinit-proto/src"] {
        for entry in std::fs::read_dir(crates.join(source))
            .into_iter()
            .flatten()
            .flatten()
        {
            let changed = entry.metadata().and_then(|m| m.modified());
            if changed.is_ok_and(|changed| changed > built) {
                panic!(
                    "{} is older than {}: {fix}",
                    path.display(),
                    entry.path().display()
                );
            }
        }
    }
    path
}

impl Entry {
    /// The command for `socket`, listening on `ip` and `port` (`None`:
    /// the entry point's defaults), plus `extra` arguments.
    fn command(self, socket: &Path, listen: Option<(&str, u16)>, extra: &[&str]) -> Command {
        let mut command = match self {
            Entry::ZinitHttp => {
                let mut c = Command::new(zinit_http_binary());
                c.arg("--socket").arg(socket);
                if let Some((ip, port)) = listen {
                    c.args(["--address", ip, "--port", &port.to_string()]);
                }
                c
            }
            Entry::ZinitProxy => {
                let mut c = Command::new(ZINIT);
                c.arg("-s").arg(socket).arg("proxy");
                if let Some((ip, port)) = listen {
                    let address = if ip.contains(':') {
                        format!("[{ip}]:{port}")
                    } else {
                        format!("{ip}:{port}")
                    };
                    c.args(["-a", &address]);
                }
                c
            }
        };
        command
            .args(extra)
            .env_remove("ZINIT_HTTP_TOKEN")
            .env_remove("ZINIT_SOCKET")
            .stdin(Stdio::null());
        command
    }
}

/// A running proxy; killed (by pid) when dropped.
struct Proxy {
    child: Child,
    addr: SocketAddr,
    stderr: PathBuf,
    _dir: tempfile::TempDir,
}

impl Proxy {
    /// A loopback proxy on a free port.
    fn start(entry: Entry, socket: &Path, extra: &[&str]) -> Proxy {
        Proxy::launch(entry.command(socket, Some(("127.0.0.1", 0)), extra))
            .unwrap_or_else(|(status, err)| panic!("{entry:?} failed to start ({status}): {err}"))
    }

    /// Start `command`; its bound address once it prints it, or its exit
    /// status and stderr if it exits first.
    fn launch(mut command: Command) -> Result<Proxy, (ExitStatus, String)> {
        let dir = tempfile::tempdir().expect("temp dir");
        let stderr = dir.path().join("stderr");
        let file = std::fs::File::create(&stderr).expect("stderr file");
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(file)
            .spawn()
            .expect("spawn proxy");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(DEADLINE).unwrap_or_default();
        match line.trim().strip_prefix(READY) {
            Some(address) => Ok(Proxy {
                addr: address.parse().expect("bound address"),
                child,
                stderr,
                _dir: dir,
            }),
            None => {
                let status = wait_for("the proxy to exit", || child.try_wait().ok().flatten());
                Err((status, std::fs::read_to_string(&stderr).unwrap_or_default()))
            }
        }
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// `POST /` with a JSON body.
    fn post(&self, body: &str) -> HttpResponse {
        http(
            self.addr,
            "POST",
            "/",
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        )
    }

    /// A JSON-RPC call (id 1) over HTTP; the whole response object.
    fn rpc(&self, method: &str, params: Value) -> Value {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let response = self.post(&body.to_string());
        assert_eq!(
            response.status,
            200,
            "{method}: {response:?}\n{}",
            self.stderr()
        );
        response.json()
    }

    /// The `result` of a call that must succeed.
    fn result(&self, method: &str, params: Value) -> Value {
        let response = self.rpc(method, params);
        assert!(response.get("error").is_none(), "{method}: {response}");
        response["result"].clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A parsed HTTP response.
#[derive(Debug)]
struct HttpResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl HttpResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.text()))
    }
}

/// One request on a fresh connection (`Connection: close`). A `Host`
/// header is added unless `headers` has one.
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpResponse {
    let mut head = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("Host: {addr}\r\n"));
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    raw_http(addr, &bytes)
}

/// Send `bytes`, read the response until the server closes.
fn raw_http(addr: SocketAddr, bytes: &[u8]) -> HttpResponse {
    let mut stream = TcpStream::connect(addr).expect("connect to the proxy");
    stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
    // The server may answer (413) and close before reading everything.
    let _ = stream.write_all(bytes);
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
    parse_response(&reply)
}

fn parse_response(reply: &[u8]) -> HttpResponse {
    let split = reply
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP response: {:?}", String::from_utf8_lossy(reply)));
    let head = String::from_utf8_lossy(&reply[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let rest = &reply[split + 4..];
    let chunked = headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_vec()
    };
    HttpResponse {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    while let Some(end) = data.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&data[..end]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        body.extend_from_slice(&data[end + 2..end + 2 + size]);
        data = &data[end + 2 + size + 2..];
    }
    body
}

/// A JSON-RPC frame over the socket: the decoded answer line.
fn socket_frame(socket: &Path, frame: &str) -> Value {
    let mut c = RpcConnection::open(socket);
    c.send(frame);
    let line = c.read_line();
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad answer {line:?}: {e}"))
}

/// The same frame over HTTP and over the socket gives the same answer.
fn same_as_socket(proxy: &Proxy, socket: &Path, frame: &str) -> Value {
    let over_http = proxy.post(frame);
    assert_eq!(over_http.status, 200, "{frame}: {over_http:?}");
    assert_eq!(over_http.header("content-type"), Some("application/json"));
    let over_http = over_http.json();
    assert_eq!(over_http, socket_frame(socket, frame), "{frame}");
    over_http
}

/// A request frame with id 1.
fn request(method: &str, params: Value) -> String {
    json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string()
}

/// A service that waits for `flag` to exist, then prints `line` and sleeps.
fn prints_after(flag: &Path, line: &str) -> String {
    format!(
        "exec: \"sh -c 'while [ ! -e {} ]; do sleep 0.05; done; echo {line}; exec sleep 1000'\"\n",
        flag.display()
    )
}

/// Give a test daemon a moment-free check that a pid is gone.
fn wait_gone(pid: i32) {
    wait_until(&format!("pid {pid} to exit"), || !alive(pid));
}

type WebSocket = tungstenite::WebSocket<TcpStream>;

/// Open a WebSocket on `path` with extra request headers.
fn ws_connect(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<WebSocket, tungstenite::Error> {
    let stream = TcpStream::connect(addr).expect("connect to the proxy");
    ws_handshake(stream, addr, path, headers)
}

/// The WebSocket handshake on a connected `stream`.
fn ws_handshake(
    stream: TcpStream,
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<WebSocket, tungstenite::Error> {
    use tungstenite::client::IntoClientRequest;
    let mut request = format!("ws://{addr}{path}")
        .into_client_request()
        .expect("request");
    for (name, value) in headers {
        request.headers_mut().insert(
            tungstenite::http::HeaderName::from_bytes(name.as_bytes()).expect("header name"),
            value.parse().expect("header value"),
        );
    }
    stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
    match tungstenite::client::client(request, stream) {
        Ok((socket, _)) => Ok(socket),
        Err(tungstenite::HandshakeError::Failure(e)) => Err(e),
        Err(tungstenite::HandshakeError::Interrupted(_)) => {
            panic!("blocking handshake interrupted")
        }
    }
}

/// The HTTP status a refused WebSocket handshake got.
fn ws_refusal(result: Result<WebSocket, tungstenite::Error>) -> u16 {
    match result {
        Err(tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(e) => panic!("unexpected WebSocket error: {e}"),
        Ok(_) => panic!("the WebSocket was accepted"),
    }
}

/// Send one JSON text message.
fn ws_send(ws: &mut WebSocket, value: &Value) {
    ws.send(tungstenite::Message::text(value.to_string()))
        .expect("send on the WebSocket");
}

/// The next text message, decoded.
fn ws_next(ws: &mut WebSocket) -> Value {
    loop {
        match ws.read().expect("read from the WebSocket") {
            tungstenite::Message::Text(text) => {
                return serde_json::from_str(text.as_str())
                    .unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
            }
            tungstenite::Message::Close(frame) => panic!("closed: {frame:?}"),
            _ => {}
        }
    }
}
