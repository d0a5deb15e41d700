//! The daemon side: a fresh connection to the control socket for each HTTP
//! request or WebSocket, so a restarted daemon is picked up without any
//! reconnect logic, and bounded line reading for its answers.
//!
//! Must not: interpret what the daemon answers.

use std::path::Path;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt};
use tokio::net::UnixStream;

/// Longest answer line accepted from the daemon. Its biggest answers (the
/// log ring, 16 MiB of text at most) fit with room for JSON escaping.
pub const MAX_ANSWER_LINE: u64 = 64 << 20;

/// The daemon could not be reached or broke off.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("cannot reach zinit on {socket}: {source}")]
    Unreachable {
        socket: String,
        source: std::io::Error,
    },
    #[error("zinit on {socket} closed the connection without answering")]
    NoAnswer { socket: String },
    #[error("talking to zinit on {socket} failed: {source}")]
    Io {
        socket: String,
        source: std::io::Error,
    },
    #[error("zinit on {socket} sent an answer longer than {MAX_ANSWER_LINE} bytes")]
    TooLong { socket: String },
}

/// Connect to the control socket.
pub async fn connect(socket: &Path) -> Result<UnixStream, DaemonError> {
    UnixStream::connect(socket)
        .await
        .map_err(|source| DaemonError::Unreachable {
            socket: socket.display().to_string(),
            source,
        })
}

/// Read one line (without its `\n`); `Ok(None)` at end of stream.
pub async fn read_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    socket: &Path,
) -> Result<Option<Vec<u8>>, DaemonError> {
    let mut line = Vec::new();
    let mut limited = reader.take(MAX_ANSWER_LINE + 1);
    let read = limited
        .read_until(b'\n', &mut line)
        .await
        .map_err(|source| DaemonError::Io {
            socket: socket.display().to_string(),
            source,
        })?;
    if read == 0 {
        return Ok(None);
    }
    if line.last() == Some(&b'\n') {
        line.pop();
    } else if line.len() as u64 > MAX_ANSWER_LINE {
        return Err(DaemonError::TooLong {
            socket: socket.display().to_string(),
        });
    }
    Ok(Some(line))
}

/// A valid JSON text as one line: JSON allows raw `\r` and `\n` only as
/// whitespace between tokens, so replacing them with spaces keeps the
/// request exactly as sent (numbers, key order) and makes it one line.
pub fn one_line(json: &[u8]) -> Vec<u8> {
    let mut line: Vec<u8> = json
        .iter()
        .map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b })
        .collect();
    line.push(b'\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_keeps_the_json() {
        let text = b"{\r\n \"id\": 12345678901234567890123,\n \"s\": \"a\\nb\"\n}";
        let line = one_line(text);
        assert_eq!(line.iter().filter(|b| **b == b'\n').count(), 1);
        assert_eq!(line.last(), Some(&b'\n'));
        let before: serde_json::Value = serde_json::from_slice(text).unwrap();
        let after: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(before, after);
        assert!(String::from_utf8_lossy(&line).contains("12345678901234567890123"));
    }

    #[tokio::test]
    async fn lines_are_bounded() {
        let data: &[u8] = b"one\ntwo";
        let mut reader = tokio::io::BufReader::new(data);
        let socket = Path::new("/s");
        assert_eq!(
            read_line(&mut reader, socket).await.unwrap(),
            Some(b"one".to_vec())
        );
        assert_eq!(
            read_line(&mut reader, socket).await.unwrap(),
            Some(b"two".to_vec())
        );
        assert_eq!(read_line(&mut reader, socket).await.unwrap(), None);
    }
}
