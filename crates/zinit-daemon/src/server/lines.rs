//! Reading request lines with a hard size limit, so no client can make
//! zinit buffer without bound.
//!
//! [`Lines`] keeps a partly received line across calls, so waiting for a
//! line may be cancelled (a `select!` that pushes a log notification
//! meanwhile) without losing the bytes already read, and it remembers when
//! the line began, so a client trickling a request is timed from its first
//! byte, not from its last.
//!
//! Every partly received line is also charged to one budget shared by all
//! connections ([`REQUEST_BUDGET`]): the per-line limit times the number of
//! connections would otherwise let a few hundred clients make zinit hold
//! hundreds of MiB by each sending most of a long line.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// Why no line could be read.
#[derive(Debug)]
pub enum LineError {
    TooLong,
    /// Partly received requests of all connections together already hold
    /// the whole [`PartialBudget`].
    OverBudget,
    Io(#[allow(dead_code)] std::io::Error),
}

/// Bytes of partly received lines that all readers charged to it may hold
/// together.
pub struct PartialBudget {
    held: AtomicUsize,
    limit: usize,
}

impl PartialBudget {
    pub const fn new(limit: usize) -> PartialBudget {
        PartialBudget {
            held: AtomicUsize::new(0),
            limit,
        }
    }

    /// Take `bytes` from the budget, or nothing if they do not fit.
    fn charge(&self, bytes: usize) -> bool {
        self.held
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |held| {
                held.checked_add(bytes).filter(|total| *total <= self.limit)
            })
            .is_ok()
    }

    fn release(&self, bytes: usize) {
        self.held.fetch_sub(bytes, Ordering::Relaxed);
    }

    /// Bytes held now.
    #[cfg(test)]
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }

    pub fn limit(&self) -> usize {
        self.limit
    }
}

/// The budget of the control socket's connections: 64 MiB of partly
/// received requests in all (64 maximal request lines at once).
pub static REQUEST_BUDGET: PartialBudget = PartialBudget::new(64 << 20);

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
    /// Where the partial line's bytes are charged.
    budget: &'static PartialBudget,
    /// How many of them are charged now.
    charged: usize,
}

impl<R: AsyncBufRead + Unpin> Lines<R> {
    /// Lines charged to the control socket's [`REQUEST_BUDGET`].
    pub fn new(reader: R, max: usize) -> Lines<R> {
        Lines::with_budget(reader, max, &REQUEST_BUDGET)
    }

    pub fn with_budget(reader: R, max: usize, budget: &'static PartialBudget) -> Lines<R> {
        Lines {
            reader,
            max,
            partial: Vec::new(),
            started: None,
            at_end: false,
            budget,
            charged: 0,
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
                if self.budget.charge(room) {
                    self.charged += room;
                    self.partial.extend_from_slice(&chunk[..room]);
                }
                return Err(LineError::TooLong);
            }
            if self.started.is_none() && (found || !chunk.is_empty()) {
                self.started = Some(Instant::now());
            }
            // A line complete in this chunk is never held across a wait, so
            // only bytes kept for later are charged.
            if !found {
                if !self.budget.charge(chunk.len()) {
                    return Err(LineError::OverBudget);
                }
                self.charged += chunk.len();
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

    /// The line received, its bytes returned to the budget.
    fn take(&mut self) -> Vec<u8> {
        self.started = None;
        self.budget.release(std::mem::take(&mut self.charged));
        std::mem::take(&mut self.partial)
    }
}

impl<R> Drop for Lines<R> {
    fn drop(&mut self) {
        self.budget.release(self.charged);
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

    #[tokio::test]
    async fn partial_lines_of_all_readers_share_one_budget() {
        static BUDGET: PartialBudget = PartialBudget::new(10);
        let (mut a_client, a) = tokio::io::duplex(64);
        let (mut b_client, b) = tokio::io::duplex(64);
        let mut a = Lines::with_budget(tokio::io::BufReader::new(a), 100, &BUDGET);
        let mut b = Lines::with_budget(tokio::io::BufReader::new(b), 100, &BUDGET);
        a_client.write_all(b"123456").await.unwrap();
        let read = tokio::time::timeout(Duration::from_millis(20), a.next_line()).await;
        assert!(read.is_err(), "still waiting for the newline");
        assert_eq!(BUDGET.held(), 6);
        // b's partial line would take the total over 10.
        b_client.write_all(b"abcde").await.unwrap();
        assert!(matches!(b.next_line().await, Err(LineError::OverBudget)));
        assert_eq!(BUDGET.held(), 6);
        // A whole line in one chunk is never charged; a's line completes
        // and gives its bytes back.
        a_client
            .write_all(b"7\nwhole line longer than ten\n")
            .await
            .unwrap();
        assert_eq!(a.next_line().await.unwrap().unwrap(), b"1234567");
        assert_eq!(BUDGET.held(), 0);
        assert_eq!(
            a.next_line().await.unwrap().unwrap(),
            b"whole line longer than ten"
        );
        // A reader dropped mid-line gives its bytes back too.
        a_client.write_all(b"xyz").await.unwrap();
        let read = tokio::time::timeout(Duration::from_millis(20), a.next_line()).await;
        assert!(read.is_err());
        assert_eq!(BUDGET.held(), 3);
        drop(a);
        assert_eq!(BUDGET.held(), 0);
        // A line ended by the end of the stream returns its bytes as well.
        drop(b);
        let (mut c_client, c) = tokio::io::duplex(64);
        let mut c = Lines::with_budget(tokio::io::BufReader::new(c), 100, &BUDGET);
        c_client.write_all(b"tail").await.unwrap();
        drop(c_client);
        assert_eq!(c.next_line().await.unwrap().unwrap(), b"tail");
        assert_eq!(BUDGET.held(), 0);
        assert_eq!(BUDGET.limit(), 10);
    }
}
