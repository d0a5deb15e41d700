//! The Unix-socket echo floor: an in-process echo server (one thread per
//! connection) and keep-alive clients sending a ~70-byte line, the size of a
//! `service_status` request.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::{load, Failure, Rate, Summary};

/// What each client sends and expects back: 70 bytes, newline included.
pub const LINE: &[u8] =
    b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"service_status\",\"params\":[\"svc01\"]}\n";

/// An echo server on a socket in its own temporary directory; it serves
/// until the process exits.
pub struct EchoServer {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl EchoServer {
    pub fn start() -> Result<EchoServer, Failure> {
        let dir = tempfile::Builder::new()
            .prefix("bench-echo")
            .tempdir()
            .map_err(|e| Failure::io("create a temporary directory", e))?;
        let path = dir.path().join("echo.sock");
        let listener = UnixListener::bind(&path)
            .map_err(|e| Failure::io(format_args!("bind {}", path.display()), e))?;
        std::thread::Builder::new()
            .name("echo-accept".into())
            .spawn(move || accept_loop(listener))
            .map_err(|e| Failure::io("start the echo server thread", e))?;
        Ok(EchoServer { path, _dir: dir })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn accept_loop(listener: UnixListener) {
    for conn in listener.incoming() {
        let Ok(conn) = conn else { continue };
        // A connection whose thread cannot start is dropped; its client fails.
        let _ = std::thread::Builder::new()
            .name("echo-conn".into())
            .spawn(move || echo_connection(conn));
    }
}

fn echo_connection(mut conn: UnixStream) {
    let mut buf = [0u8; 4096];
    loop {
        match conn.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                if conn.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// A keep-alive client of the echo server.
pub struct EchoClient {
    stream: UnixStream,
    buf: [u8; LINE.len()],
}

impl EchoClient {
    pub fn connect(path: &Path) -> Result<EchoClient, Failure> {
        let stream = UnixStream::connect(path)
            .map_err(|e| Failure::io(format_args!("connect to {}", path.display()), e))?;
        Ok(EchoClient {
            stream,
            buf: [0; LINE.len()],
        })
    }

    /// Sends [`LINE`] and reads it back.
    pub fn round_trip(&mut self) -> Result<(), Failure> {
        self.stream
            .write_all(LINE)
            .map_err(|e| Failure::io("echo write", e))?;
        self.stream
            .read_exact(&mut self.buf)
            .map_err(|e| Failure::io("echo read", e))?;
        if self.buf != LINE {
            return Err(Failure("echo server returned different bytes".into()));
        }
        Ok(())
    }
}

/// `runs` round trips on one keep-alive connection (after one untimed).
pub fn echo_floor(runs: u64) -> Result<Summary, Failure> {
    let server = EchoServer::start()?;
    let mut client = EchoClient::connect(server.path())?;
    client.round_trip()?;
    let mut samples: Vec<Duration> = Vec::with_capacity(runs as usize);
    for _ in 0..runs {
        let start = Instant::now();
        client.round_trip()?;
        samples.push(start.elapsed());
    }
    Summary::of(&samples).ok_or_else(|| Failure("no runs measured".into()))
}

/// `clients` keep-alive clients for `seconds`; round trips per second.
pub fn echo_load(clients: usize, seconds: f64) -> Result<Rate, Failure> {
    let server = EchoServer::start()?;
    load::run(
        clients,
        seconds,
        || EchoClient::connect(server.path()),
        EchoClient::round_trip,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_is_about_seventy_bytes_and_one_line() {
        assert_eq!(LINE.len(), 70);
        assert_eq!(LINE.iter().filter(|&&b| b == b'\n').count(), 1);
        assert!(LINE.ends_with(b"\n"));
    }

    #[test]
    fn echo_round_trips_on_one_connection() {
        let server = EchoServer::start().unwrap();
        let mut client = EchoClient::connect(server.path()).unwrap();
        for _ in 0..10 {
            client.round_trip().unwrap();
        }
    }
}
