//! Captured service output: a bounded ring of lines shared by all services,
//! plus a broadcast for followers.
//!
//! The ring is bounded by line count AND total bytes (oldest lines evicted
//! first), and each line is cut at [`MAX_LINE_BYTES`], so zinit's memory
//! never grows with what a service writes (promise 6). Lines carry a
//! sequence number, so a follower that lags behind the broadcast can
//! resynchronise from a snapshot.
//!
//! This module lives outside the supervisor: the actor never touches it.
//! [`reader`] turns a service's pipe into lines.

mod reader;

pub use reader::spawn_pipe_reader;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::broadcast;

/// The longest line kept, in bytes; longer lines are cut and marked
/// truncated.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// How many lines a follower may fall behind before it sees
/// `RecvError::Lagged` (and should resync from a snapshot by `seq`). Also
/// bounds what the broadcast channel keeps alive: at most this many lines.
pub const FOLLOW_BUFFER: usize = 256;

/// Which of a service's output streams a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// One line of service output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// Increases by one for every line pushed to the hub, kept or not.
    pub seq: u64,
    pub service: Arc<str>,
    pub stream: Stream,
    /// Without the line end; invalid UTF-8 replaced.
    pub text: String,
    /// The line was longer than [`MAX_LINE_BYTES`]; the rest was dropped.
    pub truncated: bool,
}

impl LogLine {
    /// The text as the original zinit printed it: `[+] NAME: text` for
    /// stdout, `[-] NAME: text` for stderr.
    pub fn legacy_text(&self) -> String {
        let mark = match self.stream {
            Stream::Stdout => '+',
            Stream::Stderr => '-',
        };
        format!("[{mark}] {}: {}", self.service, self.text)
    }
}

struct Ring {
    lines: VecDeque<Arc<LogLine>>,
    /// Sum of `text.len()` over `lines`.
    bytes: usize,
    next_seq: u64,
}

/// The shared log ring and follower broadcast.
pub struct LogHub {
    ring: Mutex<Ring>,
    followers: broadcast::Sender<Arc<LogLine>>,
    max_lines: usize,
    max_bytes: usize,
}

impl LogHub {
    /// A hub keeping at most `max_lines` lines and `max_bytes` bytes of
    /// text. `max_lines == 0` keeps nothing; followers still get every line.
    /// Nothing is preallocated, so absurd bounds cost nothing up front.
    pub fn new(max_lines: usize, max_bytes: usize) -> Arc<Self> {
        let (followers, _) = broadcast::channel(FOLLOW_BUFFER);
        Arc::new(LogHub {
            ring: Mutex::new(Ring {
                lines: VecDeque::new(),
                bytes: 0,
                next_seq: 0,
            }),
            followers,
            max_lines,
            max_bytes,
        })
    }

    /// Add a line (cut at [`MAX_LINE_BYTES`] if longer).
    pub fn push(&self, service: &str, stream: Stream, text: String) {
        self.push_line(Arc::from(service), stream, text, false);
    }

    /// Add a line from a reader that may already have cut it.
    pub fn push_line(&self, service: Arc<str>, stream: Stream, mut text: String, truncated: bool) {
        let cut = text.len() > MAX_LINE_BYTES;
        if cut {
            text.truncate(floor_char_boundary(&text, MAX_LINE_BYTES));
        }
        let mut ring = self.lock();
        let line = Arc::new(LogLine {
            seq: ring.next_seq,
            service,
            stream,
            text,
            truncated: truncated || cut,
        });
        ring.next_seq += 1;
        if self.max_lines > 0 {
            ring.bytes += line.text.len();
            ring.lines.push_back(Arc::clone(&line));
            while ring.lines.len() > self.max_lines || ring.bytes > self.max_bytes {
                match ring.lines.pop_front() {
                    Some(old) => ring.bytes -= old.text.len(),
                    None => break,
                }
            }
        }
        // Sent under the lock so `subscribe` sees each line exactly once.
        // An error only means nobody follows.
        let _ = self.followers.send(line);
    }

    /// The lines currently kept, oldest first.
    pub fn snapshot(&self) -> Vec<Arc<LogLine>> {
        self.lock().lines.iter().cloned().collect()
    }

    /// The kept lines and a receiver for every later line, taken together so
    /// nothing is missed or seen twice.
    pub fn subscribe(&self) -> (Vec<Arc<LogLine>>, broadcast::Receiver<Arc<LogLine>>) {
        let ring = self.lock();
        let receiver = self.followers.subscribe();
        (ring.lines.iter().cloned().collect(), receiver)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The largest char boundary of `s` at or below `max`.
fn floor_char_boundary(s: &str, max: usize) -> usize {
    (0..=max.min(s.len()))
        .rev()
        .find(|i| s.is_char_boundary(*i))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(lines: &[Arc<LogLine>]) -> Vec<&str> {
        lines.iter().map(|l| l.text.as_str()).collect()
    }

    #[test]
    fn ring_is_bounded_by_lines() {
        let hub = LogHub::new(3, usize::MAX);
        for i in 0..10 {
            hub.push("svc", Stream::Stdout, format!("line {i}"));
        }
        let kept = hub.snapshot();
        assert_eq!(texts(&kept), ["line 7", "line 8", "line 9"]);
        assert_eq!(kept.iter().map(|l| l.seq).collect::<Vec<_>>(), [7, 8, 9]);
    }

    #[test]
    fn ring_is_bounded_by_bytes() {
        let hub = LogHub::new(usize::MAX, 10);
        hub.push("svc", Stream::Stdout, "aaaa".into());
        hub.push("svc", Stream::Stdout, "bbbb".into());
        hub.push("svc", Stream::Stdout, "cccc".into());
        assert_eq!(texts(&hub.snapshot()), ["bbbb", "cccc"]);
        // A line bigger than the whole budget is not kept at all.
        hub.push("svc", Stream::Stdout, "x".repeat(11));
        assert!(hub.snapshot().is_empty());
        hub.push("svc", Stream::Stdout, "dd".into());
        assert_eq!(texts(&hub.snapshot()), ["dd"]);
    }

    #[test]
    fn long_lines_are_cut_on_a_char_boundary() {
        let hub = LogHub::new(10, usize::MAX);
        let text = "é".repeat(MAX_LINE_BYTES); // two bytes each
        hub.push("svc", Stream::Stderr, text);
        let line = &hub.snapshot()[0];
        assert!(line.truncated);
        assert_eq!(line.text.len(), MAX_LINE_BYTES);
        hub.push("svc", Stream::Stderr, "short".into());
        assert!(!hub.snapshot()[1].truncated);
    }

    #[test]
    fn legacy_text_marks_the_stream() {
        let hub = LogHub::new(10, usize::MAX);
        hub.push("redis", Stream::Stdout, "ready".into());
        hub.push("redis", Stream::Stderr, "oops".into());
        let lines = hub.snapshot();
        assert_eq!(lines[0].legacy_text(), "[+] redis: ready");
        assert_eq!(lines[1].legacy_text(), "[-] redis: oops");
    }

    #[tokio::test]
    async fn zero_lines_keeps_nothing_but_followers_still_hear() {
        let hub = LogHub::new(0, 0);
        let (before, mut rx) = hub.subscribe();
        assert!(before.is_empty());
        hub.push("svc", Stream::Stdout, "hello".into());
        assert!(hub.snapshot().is_empty());
        assert_eq!(rx.recv().await.unwrap().text, "hello");
    }

    #[tokio::test]
    async fn subscribe_sees_later_lines_in_order_without_gaps() {
        let hub = LogHub::new(100, usize::MAX);
        hub.push("svc", Stream::Stdout, "old".into());
        let (before, mut rx) = hub.subscribe();
        assert_eq!(texts(&before), ["old"]);
        let pusher = {
            let hub = Arc::clone(&hub);
            std::thread::spawn(move || {
                for i in 0..100 {
                    hub.push("svc", Stream::Stdout, format!("new {i}"));
                }
            })
        };
        for i in 0..100 {
            let line = rx.recv().await.unwrap();
            assert_eq!(line.text, format!("new {i}"));
            assert_eq!(line.seq, before[0].seq + 1 + i);
        }
        pusher.join().unwrap();
    }

    #[tokio::test]
    async fn a_lagging_follower_is_told_and_can_resync_by_seq() {
        let hub = LogHub::new(10_000, usize::MAX);
        let (_, mut rx) = hub.subscribe();
        for i in 0..(FOLLOW_BUFFER + 10) {
            hub.push("svc", Stream::Stdout, format!("{i}"));
        }
        assert!(matches!(
            rx.recv().await,
            Err(broadcast::error::RecvError::Lagged(10))
        ));
        let next = rx.recv().await.unwrap();
        let missed: Vec<_> = hub
            .snapshot()
            .into_iter()
            .filter(|l| l.seq < next.seq)
            .collect();
        assert_eq!(missed.len(), 10);
    }
}
