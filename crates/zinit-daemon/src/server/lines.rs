//! Reading request lines with a hard size limit, so no client can make
//! zinit buffer without bound.
//!
//! [`Lines`] keeps a partly received line across calls, so waiting for a
//! line may be cancelled (a `select!` that pushes a log notification
//! meanwhile) without losing the bytes already read, and it remembers when
//! the line began, so a client trickling a request is timed from its first
//! byte, not from its last.

use std::time::Instant;
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// Why no line could be read.
#[derive(Debug)]
pub enum LineError {
    TooLong,
    Io(#[allow(dead_code)] std::io::Error),
}

/// A reader of `\n`-terminated lines of at most `max` bytes.
pub struct Lines<R> {
    reader: R,
    max: usize,
    /// The line being received (without its newline).
    partial: Vec<u8>,
    /// When its first byte arrived.
    started: Option<Instant>,
    /// The partial line ended at end of stream: return it, then `None`.
    at_end: bool,
}

impl<R: AsyncBufRead + Unpin> Lines<R> {
    pub fn new(reader: R, max: usize) -> Lines<R> {
        Lines {
            reader,
            max,
            partial: Vec::new(),
            started: None,
            at_end: false,
        }
    }

    /// The next line (without the newline, nor a `\r` before it), or
    /// `None` at end of stream. A final line without a newline still
    /// counts as a line. Cancel-safe: bytes read before a cancellation
    /// stay in the partial line.
    pub async fn next_line(&mut self) -> Result<Option<Vec<u8>>, LineError> {
        loop {
            if self.at_end {
                if self.partial.is_empty() {
                    return Ok(None);
                }
                return Ok(Some(self.take()));
            }
            let available = self.reader.fill_buf().await.map_err(LineError::Io)?;
            if available.is_empty() {
                self.at_end = true;
                continue;
            }
            let (chunk, found) = match available.iter().position(|b| *b == b'\n') {
                Some(i) => (&available[..i], true),
                None => (available, false),
            };
            if self.partial.len() + chunk.len() > self.max {
                // Keep what fits: it still tells which protocol spoke.
                let room = self.max - self.partial.len();
                self.partial.extend_from_slice(&chunk[..room]);
                return Err(LineError::TooLong);
            }
            if self.started.is_none() && (found || !chunk.is_empty()) {
                self.started = Some(Instant::now());
            }
            self.partial.extend_from_slice(chunk);
            let used = chunk.len() + usize::from(found);
            self.reader.consume(used);
            if found {
                if self.partial.last() == Some(&b'\r') {
                    self.partial.pop();
                }
                return Ok(Some(self.take()));
            }
        }
    }

    /// A new limit for the lines still to come.
    pub fn set_max(&mut self, max: usize) {
        self.max = max;
    }

    /// When the line being received began, if one is.
    pub fn partial_since(&self) -> Option<Instant> {
        self.started
    }

    /// What was received of the line being read (after [`LineError::TooLong`]:
    /// its first `max` bytes).
    pub fn partial(&self) -> &[u8] {
        &self.partial
    }

    fn take(&mut self) -> Vec<u8> {
        self.started = None;
        std::mem::take(&mut self.partial)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn splits_limits_and_tolerates_crlf() {
        let data: &[u8] = b"one\r\ntwo\n\nthree";
        let mut lines = Lines::new(tokio::io::BufReader::with_capacity(2, data), 10);
        let mut got = Vec::new();
        while let Some(line) = lines.next_line().await.unwrap() {
            got.push(String::from_utf8(line).unwrap());
        }
        assert_eq!(got, vec!["one", "two", "", "three"]);
        assert!(lines.next_line().await.unwrap().is_none());

        let long = [b'x'; 100];
        let mut lines = Lines::new(tokio::io::BufReader::new(&long[..]), 99);
        assert!(matches!(lines.next_line().await, Err(LineError::TooLong)));
        assert_eq!(lines.partial(), &long[..99]);
    }

    #[tokio::test]
    async fn a_cancelled_read_loses_nothing_and_the_line_is_timed_from_its_first_byte() {
        let (client, server) = tokio::io::duplex(64);
        let (mut client, server) = (client, tokio::io::BufReader::new(server));
        let mut lines = Lines::new(server, 1024);
        assert!(lines.partial_since().is_none());
        client.write_all(b"{\"a\":").await.unwrap();
        // Cancelled after the first bytes arrived, as a select! would.
        let read = tokio::time::timeout(Duration::from_millis(50), lines.next_line()).await;
        assert!(read.is_err());
        let began = lines.partial_since().expect("a line began");
        client.write_all(b"1}\nnext").await.unwrap();
        assert_eq!(lines.next_line().await.unwrap().unwrap(), b"{\"a\":1}");
        assert!(lines.partial_since().is_none_or(|t| t >= began));
        drop(client);
        assert_eq!(lines.next_line().await.unwrap().unwrap(), b"next");
        assert!(lines.next_line().await.unwrap().is_none());
    }
}
