//! The output of each service's most recent `test` run, for `why`.
//!
//! A test's stdout and stderr are drained to the end (so a chatty test never
//! blocks on a full pipe) and only the last [`KEPT_BYTES`] are kept, since
//! the end of a failing check's output is where its reason usually is.
//! Nothing here touches the log ring: a test that runs every 250 ms would
//! drown the service's own lines.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;

/// How much of a test run's output is kept.
pub const KEPT_BYTES: usize = 2048;

/// Service name to the output of its last finished test run.
#[derive(Clone, Default)]
pub struct ProbeOutputs {
    last: Arc<Mutex<HashMap<String, String>>>,
}

impl ProbeOutputs {
    /// The last finished test run's output (stdout then stderr, trimmed);
    /// `None` if it printed nothing or never ran.
    pub fn get(&self, service: &str) -> Option<String> {
        let last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        last.get(service).filter(|s| !s.is_empty()).cloned()
    }

    /// Drain a test run's pipes in the background and record what it printed
    /// once both reach EOF. Must be called within a tokio runtime.
    pub fn capture(&self, service: String, stdout: Option<OwnedFd>, stderr: Option<OwnedFd>) {
        let last = self.last.clone();
        tokio::spawn(async move {
            let (out, err) = tokio::join!(drain_tail(stdout), drain_tail(stderr));
            let text = join_outputs(&out, &err);
            last.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(service, text);
        });
    }
}

/// Read a pipe to EOF, keeping its last [`KEPT_BYTES`].
async fn drain_tail(fd: Option<OwnedFd>) -> Vec<u8> {
    let Some(fd) = fd else {
        return Vec::new();
    };
    let Ok(mut pipe) = pipe::Receiver::from_owned_fd(fd) else {
        return Vec::new();
    };
    let mut tail = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match pipe.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => keep_tail(&mut tail, &buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    tail
}

fn keep_tail(tail: &mut Vec<u8>, chunk: &[u8]) {
    tail.extend_from_slice(chunk);
    if tail.len() > KEPT_BYTES {
        tail.drain(..tail.len() - KEPT_BYTES);
    }
}

/// Both streams as one trimmed text, lossily decoded; the tail of the
/// combination is kept when it is too long.
fn join_outputs(stdout: &[u8], stderr: &[u8]) -> String {
    let mut both = Vec::with_capacity(stdout.len() + stderr.len() + 1);
    both.extend_from_slice(stdout);
    if !stdout.is_empty() && !stderr.is_empty() && !stdout.ends_with(b"\n") {
        both.push(b'\n');
    }
    both.extend_from_slice(stderr);
    let mut tail = Vec::new();
    keep_tail(&mut tail, &both);
    String::from_utf8_lossy(&tail).trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::time::{Duration, Instant};

    #[test]
    fn keeps_the_tail() {
        let mut tail = Vec::new();
        keep_tail(&mut tail, &vec![b'a'; KEPT_BYTES]);
        keep_tail(&mut tail, b"end");
        assert_eq!(tail.len(), KEPT_BYTES);
        assert!(tail.ends_with(b"aend"));
        assert_eq!(join_outputs(b"out", b"err\n"), "out\nerr");
        assert_eq!(join_outputs(b"", b"  only err \n"), "only err");
    }

    #[tokio::test]
    async fn captures_both_pipes_after_eof() {
        let outputs = ProbeOutputs::default();
        let (out_r, out_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        let (err_r, err_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        outputs.capture("db".into(), Some(out_r), Some(err_r));
        // More than a pipe holds: written from a thread while the capture
        // task drains it.
        let writer = std::thread::spawn(move || {
            std::fs::File::from(out_w)
                .write_all(&vec![b'x'; 100_000])
                .unwrap();
            std::fs::File::from(err_w)
                .write_all(b"connection refused\n")
                .unwrap();
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        while outputs.get("db").is_none() {
            assert!(Instant::now() < deadline, "output never recorded");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        writer.join().unwrap();
        let text = outputs.get("db").unwrap();
        assert!(text.ends_with("xxx\nconnection refused"), "{text}");
        assert!(text.len() <= KEPT_BYTES);
        assert_eq!(outputs.get("web"), None);
    }
}
