//! The `zinit-http` binary on its own: what it refuses at start (exit 2),
//! the line it prints once listening, forwarding to a socket, 503 without
//! one, and a clean exit on SIGTERM. The full API against a real daemon is
//! tested in `crates/zinit/tests/http.rs` (which also needs this binary
//! built: `cargo test --workspace` builds it for this test).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_zinit-http");
const DEADLINE: Duration = Duration::from_secs(20);

fn run(args: &[&str]) -> (i32, String) {
    let out = Command::new(BIN)
        .args(args)
        .env_remove("ZINIT_HTTP_TOKEN")
        .stdin(Stdio::null())
        .output()
        .expect("run zinit-http");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn refuses_unsafe_or_broken_configurations_with_exit_2() {
    let (code, err) = run(&[
        "--socket",
        "/nonexistent",
        "--address",
        "0.0.0.0",
        "--port",
        "0",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("without a token") && err.contains("--insecure"),
        "{err}"
    );

    let (code, err) = run(&["--port", "0", "--cors-origin", "*"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("wildcard"), "{err}");

    let (code, err) = run(&["--address", "127.0.0.1:1", "--port", "2"]);
    assert_eq!(code, 2, "{err}");

    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "\n").unwrap();
    let (code, err) = run(&["--port", "0", "--token-file", token.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("empty"), "{err}");
}

/// A running `zinit-http` on a free loopback port.
struct Running {
    child: Child,
    port: u16,
}

impl Running {
    fn start(socket: &Path) -> Running {
        let mut child = Command::new(BIN)
            .args(["--socket", socket.to_str().unwrap(), "--port", "0"])
            .env_remove("ZINIT_HTTP_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn zinit-http");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let address = line
            .trim()
            .strip_prefix("zinit-http listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        let port = address.rsplit(':').next().unwrap().parse().unwrap();
        Running { child, port }
    }

    fn post(&self, body: &str) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        write!(
            stream,
            "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).unwrap();
        reply
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn forwards_to_the_socket_and_answers_503_without_it() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("zinit.sock");
    let mut proxy = Running::start(&socket);
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"service_list"}"#;

    let reply = proxy.post(body);
    assert!(reply.starts_with("HTTP/1.1 503"), "{reply}");
    assert!(
        reply.contains("-32603") && reply.contains("zinit.sock"),
        "{reply}"
    );

    // A stand-in daemon: one line in, one line out.
    let listener = UnixListener::bind(&socket).unwrap();
    let fake = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let mut stream = stream;
        stream
            .write_all(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n")
            .unwrap();
        line
    });
    let reply = proxy.post(body);
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(
        reply.ends_with("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n"),
        "{reply}"
    );
    assert_eq!(fake.join().unwrap(), format!("{body}\n"));

    // SIGTERM: a clean exit.
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(proxy.child.id() as i32, libc::SIGTERM) };
    let start = Instant::now();
    let status = loop {
        if let Some(status) = proxy.child.try_wait().unwrap() {
            break status;
        }
        assert!(start.elapsed() < DEADLINE, "zinit-http ignored SIGTERM");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(status.success(), "{status}");
}
