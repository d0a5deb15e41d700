//! Reading requests with a hard size limit, so no client can make zinit
//! buffer without bound, framed as each protocol frames them.
//!
//! A connection's first non-blank byte picks its framing for good ([`Framing`]):
//! `{` or `[` is JSON-RPC, where a request ends where its JSON value ends,
//! newline or not ([`zinit_proto::jsonrpc::ValueScanner`]); anything else is
//! the legacy protocol, one command per `\n`-terminated line. Whitespace
//! between requests is skipped, and a newline there comes back as an empty
//! frame: a keep-alive, as a blank line always was.
//!
//! [`Frames`] keeps a partly received request across calls, so waiting for
//! one may be cancelled (a `select!` that pushes a log notification
//! meanwhile) without losing the bytes already read, and it remembers when
//! the request began, so a client trickling a request is timed from its
//! first byte, not from its last.
//!
//! Every partly received request is also charged to one budget shared by
//! all connections ([`REQUEST_BUDGET`]): the per-request limit times the
//! number of connections would otherwise let a few hundred clients make
//! zinit hold hundreds of MiB by each sending most of a long request.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;
use tokio::io::{AsyncBufRead, AsyncBufReadExt};
use zinit_proto::jsonrpc::{FrameEnd, ValueScanner};

/// Why no request could be read.
#[derive(Debug)]
pub enum FrameError {
    TooLong,
    /// Partly received requests of all connections together already hold
    /// the whole [`PartialBudget`].
    OverBudget,
    Io(#[allow(dead_code)] std::io::Error),
}
/// Bytes of partly received requests that all readers charged to it may hold
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
/// received requests in all (64 maximal requests at once).
pub static REQUEST_BUDGET: PartialBudget = PartialBudget::new(64 << 20);

/// How a connection's requests are delimited.
#[derive(Debug)]
pub enum Framing {
    /// Nothing but whitespace received yet: the first byte decides.
    Undecided,
    /// Legacy commands: one per line.
    Lines,
    /// JSON-RPC: one JSON value each; the scanner of the current one.
    Json(ValueScanner),
}

impl Framing {
    /// Where the request that `frame` holds the start of ends, if it does
    /// yet; the bytes before `new` were looked at already.
    fn find_end(&mut self, frame: &[u8], new: usize) -> Option<FrameEnd> {
        match self {
            Framing::Json(scanner) => scanner.scan(frame),
            Framing::Lines | Framing::Undecided => {
                let newline = frame[new..].iter().position(|b| *b == b'\n')? + new;
                let len = match newline.checked_sub(1) {
                    Some(cr) if frame[cr] == b'\r' => cr,
                    _ => newline,
                };
                Some(FrameEnd {
                    len,
                    consumed: newline + 1,
                })
            }
        }
    }

    /// A request begins with `first`: the connection's first request picks
    /// the framing, and a JSON value gets a fresh scanner.
    fn begin(&mut self, first: u8) {
        *self = match self {
            Framing::Undecided if matches!(first, b'{' | b'[') => {
                Framing::Json(ValueScanner::new())
            }
            Framing::Undecided | Framing::Lines => Framing::Lines,
            Framing::Json(_) => Framing::Json(ValueScanner::new()),
        };
    }
}

/// A reader of requests of at most `max` bytes each.
pub struct Frames<R> {
    reader: R,
    max: usize,
    framing: Framing,
    /// The request being received, from its first non-blank byte.
    partial: Vec<u8>,
    /// When its first byte arrived.
    started: Option<Instant>,
    /// The stream ended: return the partial request, then `None`.
    at_end: bool,
    /// A JSON value just ended: the newline ending its line, if one
    /// follows, is its own and no keep-alive.
    line_open: bool,
    /// Where the partial request's bytes are charged.
    budget: &'static PartialBudget,
    /// How many of them are charged now.
    charged: usize,
}

impl<R: AsyncBufRead + Unpin> Frames<R> {
    /// Requests charged to the control socket's [`REQUEST_BUDGET`].
    pub fn new(reader: R, max: usize) -> Frames<R> {
        Frames::with_budget(reader, max, &REQUEST_BUDGET)
    }

    pub fn with_budget(reader: R, max: usize, budget: &'static PartialBudget) -> Frames<R> {
        Frames {
            reader,
            max,
            framing: Framing::Undecided,
            partial: Vec::new(),
            started: None,
            at_end: false,
            line_open: false,
            budget,
            charged: 0,
        }
    }

    /// The next request (a legacy line without its newline, nor a `\r`
    /// before it; a JSON value), an empty frame for a blank line between
    /// requests, or `None` at end of stream. What was received of a request
    /// when the stream ended still counts as one. Cancel-safe: bytes read
    /// before a cancellation stay in the partial request.
    pub async fn next_frame(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        loop {
            if self.at_end {
                return Ok(self.take_unfinished());
            }
            let available = self.reader.fill_buf().await.map_err(FrameError::Io)?;
            if available.is_empty() {
                self.at_end = true;
                continue;
            }
            if self.partial.is_empty() {
                let blank = available
                    .iter()
                    .position(|b| !b.is_ascii_whitespace())
                    .unwrap_or(available.len());
                if let Some(newline) = available[..blank].iter().position(|b| *b == b'\n') {
                    self.reader.consume(newline + 1);
                    if std::mem::take(&mut self.line_open) {
                        continue;
                    }
                    return Ok(Some(Vec::new()));
                }
                if blank > 0 {
                    self.reader.consume(blank);
                    continue;
                }
                self.line_open = false;
                // The first byte of a request: time it from here.
                self.started = Some(Instant::now());
                self.framing.begin(available[0]);
            }
            // One byte over the limit may be the newline that ends a line
            // of exactly `max` bytes.
            let room = (self.max + 1).saturating_sub(self.partial.len());
            let take = available.len().min(room);
            let before = self.partial.len();
            // A request that begins in this chunk is scanned where it lies,
            // and only its own bytes are copied: pipelined requests would
            // otherwise copy the whole buffer once each.
            let end = if before == 0 {
                self.framing.find_end(&available[..take], 0)
            } else {
                self.partial.extend_from_slice(&available[..take]);
                self.framing.find_end(&self.partial, before)
            };
            if let Some(end) = end {
                if before == 0 {
                    self.partial.extend_from_slice(&available[..end.len]);
                } else {
                    self.partial.truncate(end.len);
                }
                self.reader.consume(end.consumed - before);
                if end.len > self.max {
                    return Err(self.too_long());
                }
                // A line ended with the frame, or one that is still open.
                self.line_open = end.consumed == end.len && self.partial.last() != Some(&b'\n');
                return Ok(Some(self.take()));
            }
            if before == 0 {
                self.partial.extend_from_slice(&available[..take]);
            }
            if self.partial.len() > self.max {
                return Err(self.too_long());
            }
            // A request complete in this chunk is never held across a
            // wait, so only bytes kept for later are charged.
            if !self.budget.charge(take) {
                self.partial.truncate(before);
                return Err(FrameError::OverBudget);
            }
            self.charged += take;
            self.reader.consume(take);
        }
    }

    /// The request is over the limit: keep its first `max` bytes (they
    /// still tell which protocol spoke), charged until it is dropped.
    fn too_long(&mut self) -> FrameError {
        let kept = self.max.min(self.partial.len());
        self.partial.truncate(kept);
        let uncharged = kept.saturating_sub(self.charged);
        if self.budget.charge(uncharged) {
            self.charged += uncharged;
        }
        FrameError::TooLong
    }

    /// Whether the connection speaks JSON-RPC (decided by its first
    /// non-blank byte).
    pub fn speaks_jsonrpc(&self) -> bool {
        matches!(self.framing, Framing::Json(_))
    }

    /// A new limit for the requests still to come.
    pub fn set_max(&mut self, max: usize) {
        self.max = max;
    }

    /// When the request being received began, if one is.
    pub fn partial_since(&self) -> Option<Instant> {
        self.started
    }

    /// What was received of the request being read (after
    /// [`FrameError::TooLong`]: its first `max` bytes).
    #[cfg(test)]
    pub fn partial(&self) -> &[u8] {
        &self.partial
    }

    /// What the stream ended in the middle of, if anything. A JSON value
    /// loses the whitespace after its last byte, so a parse error points
    /// at where the value stopped.
    fn take_unfinished(&mut self) -> Option<Vec<u8>> {
        if self.speaks_jsonrpc() {
            let kept = self.partial.len()
                - self
                    .partial
                    .iter()
                    .rev()
                    .take_while(|b| b.is_ascii_whitespace())
                    .count();
            self.partial.truncate(kept);
        }
        (!self.partial.is_empty()).then(|| self.take())
    }

    /// The request received, its bytes returned to the budget.
    fn take(&mut self) -> Vec<u8> {
        self.started = None;
        self.budget.release(std::mem::take(&mut self.charged));
        std::mem::take(&mut self.partial)
    }
}

impl<R> Drop for Frames<R> {
    fn drop(&mut self) {
        self.budget.release(self.charged);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::AsyncWriteExt;

    /// Every frame of `data`, read through a buffer of `capacity` bytes.
    async fn all_frames(data: &[u8], capacity: usize, max: usize) -> (Vec<String>, bool) {
        let mut frames = Frames::new(tokio::io::BufReader::with_capacity(capacity, data), max);
        let mut got = Vec::new();
        while let Some(frame) = frames.next_frame().await.unwrap() {
            got.push(String::from_utf8(frame).unwrap());
        }
        assert!(frames.next_frame().await.unwrap().is_none());
        (got, frames.speaks_jsonrpc())
    }

    #[tokio::test]
    async fn splits_limits_and_tolerates_crlf() {
        let data: &[u8] = b"one\r\ntwo\n\nthree";
        let (got, json) = all_frames(data, 2, 10).await;
        assert_eq!(got, vec!["one", "two", "", "three"]);
        assert!(!json);
        // A line of exactly the limit is read; one byte more is not.
        assert_eq!(all_frames(b"0123456789\n", 4, 10).await.0, ["0123456789"]);
        let mut lines = Frames::new(&b"0123456789x\n"[..], 10);
        assert!(matches!(lines.next_frame().await, Err(FrameError::TooLong)));

        let long = [b'x'; 100];
        let mut lines = Frames::new(tokio::io::BufReader::new(&long[..]), 99);
        assert!(matches!(lines.next_frame().await, Err(FrameError::TooLong)));
        assert_eq!(lines.partial(), &long[..99]);
    }

    #[tokio::test]
    async fn json_rpc_is_framed_by_value_and_blank_lines_are_keep_alives() {
        let data = b"\n  \n{\"id\":1}{\"id\":2}\n\n [\n1,\n2]\r\n{\"a\":\"}\"}\n{\"tail\":";
        for capacity in [1, 3, 64] {
            let (got, json) = all_frames(data, capacity, 100).await;
            assert!(json);
            assert_eq!(
                got,
                [
                    "",
                    "",
                    "{\"id\":1}",
                    "{\"id\":2}",
                    "",
                    "[\n1,\n2]",
                    "{\"a\":\"}\"}",
                    "{\"tail\":"
                ],
                "capacity {capacity}"
            );
        }
        // An unfinished value at the end loses its trailing blanks, so a
        // parse error points at its last byte.
        assert_eq!(all_frames(b"[1,\n  ", 2, 100).await.0, ["[1,"]);
        // Once JSON, a legacy command is a bare value ending at its line.
        assert_eq!(
            all_frames(b"{}list\n{}", 64, 100).await.0,
            ["{}", "list", "{}"]
        );
        // A value over the limit, newline or not.
        let mut frames = Frames::new(&b"{\"a\":\"0123456789\"}"[..], 10);
        assert!(matches!(
            frames.next_frame().await,
            Err(FrameError::TooLong)
        ));
        assert_eq!(frames.partial(), b"{\"a\":\"0123");
        assert!(frames.speaks_jsonrpc());
    }

    #[tokio::test]
    async fn a_cancelled_read_loses_nothing_and_the_line_is_timed_from_its_first_byte() {
        let (client, server) = tokio::io::duplex(64);
        let (mut client, server) = (client, tokio::io::BufReader::new(server));
        let mut lines = Frames::new(server, 1024);
        assert!(lines.partial_since().is_none());
        client.write_all(b"  {\"a\":").await.unwrap();
        // Cancelled after the first bytes arrived, as a select! would.
        let read = tokio::time::timeout(Duration::from_millis(50), lines.next_frame()).await;
        assert!(read.is_err());
        let began = lines.partial_since().expect("a line began");
        client.write_all(b"1}[\"next\"").await.unwrap();
        assert_eq!(lines.next_frame().await.unwrap().unwrap(), b"{\"a\":1}");
        assert!(lines.partial_since().is_none_or(|t| t >= began));
        drop(client);
        assert_eq!(lines.next_frame().await.unwrap().unwrap(), b"[\"next\"");
        assert!(lines.next_frame().await.unwrap().is_none());
    }

    #[tokio::test]
    async fn partial_lines_of_all_readers_share_one_budget() {
        static BUDGET: PartialBudget = PartialBudget::new(10);
        let (mut a_client, a) = tokio::io::duplex(64);
        let (mut b_client, b) = tokio::io::duplex(64);
        let mut a = Frames::with_budget(tokio::io::BufReader::new(a), 100, &BUDGET);
        let mut b = Frames::with_budget(tokio::io::BufReader::new(b), 100, &BUDGET);
        a_client.write_all(b"123456").await.unwrap();
        let read = tokio::time::timeout(Duration::from_millis(20), a.next_frame()).await;
        assert!(read.is_err(), "still waiting for the newline");
        assert_eq!(BUDGET.held(), 6);
        // b's partial line would take the total over 10.
        b_client.write_all(b"abcde").await.unwrap();
        assert!(matches!(b.next_frame().await, Err(FrameError::OverBudget)));
        assert_eq!(BUDGET.held(), 6);
        // A whole line in one chunk is never charged; a's line completes
        // and gives its bytes back.
        a_client
            .write_all(b"7\nwhole line longer than ten\n")
            .await
            .unwrap();
        assert_eq!(a.next_frame().await.unwrap().unwrap(), b"1234567");
        assert_eq!(BUDGET.held(), 0);
        assert_eq!(
            a.next_frame().await.unwrap().unwrap(),
            b"whole line longer than ten"
        );
        // A reader dropped mid-line gives its bytes back too.
        a_client.write_all(b"xyz").await.unwrap();
        let read = tokio::time::timeout(Duration::from_millis(20), a.next_frame()).await;
        assert!(read.is_err());
        assert_eq!(BUDGET.held(), 3);
        drop(a);
        assert_eq!(BUDGET.held(), 0);
        // A line ended by the end of the stream returns its bytes as well.
        drop(b);
        let (mut c_client, c) = tokio::io::duplex(64);
        let mut c = Frames::with_budget(tokio::io::BufReader::new(c), 100, &BUDGET);
        c_client.write_all(b"tail").await.unwrap();
        drop(c_client);
        assert_eq!(c.next_frame().await.unwrap().unwrap(), b"tail");
        assert_eq!(BUDGET.held(), 0);
        assert_eq!(BUDGET.limit(), 10);
    }
}
