//! Captured service output: per-service rings of timestamped lines under
//! global bounds, cursor-based followers, and optional log files.
//!
//! Memory is bounded by line count AND bytes (each kept line counts its
//! text plus [`LINE_OVERHEAD`]), and each line is cut at
//! [`MAX_LINE_BYTES`], so zinit's memory never grows with what a service
//! writes (promise 6). When a bound is exceeded the *fair-share* policy
//! (see [`LogHub`]) picks the line to drop, so one noisy service cannot
//! push the other services' recent lines out.
//!
//! Every line gets a global sequence number (`seq`, from 1, +1 per line)
//! and a wall-clock time. Followers ([`Follower`]) walk the rings with a
//! cursor: they see the lines of their view in seq order without
//! duplicates, and are told exactly how many lines they missed when they
//! fell behind ([`FollowItem::Gap`]).
//!
//! This module lives outside the supervisor: the actor never touches it.
//! [`reader`] turns a service's pipe into lines; [`file`] writes them to a
//! rotated log file on a thread of its own. Operator documentation:
//! `docs/logs.md`.

pub mod file;
mod follow;
mod reader;
mod ring;

pub use file::LogFile;
pub use follow::{FollowItem, Follower};
pub use reader::spawn_pipe_reader;

use ring::Ring;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;
use tokio::sync::Notify;

/// The longest line kept, in bytes; longer lines are cut (on a char
/// boundary) and marked truncated.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// What a kept line costs beyond its text, in bytes, as counted against
/// [`RingLimits::max_bytes`]: the shared `LogLine` allocation (its fields
/// and the two reference counts, about 100 bytes), the ring slot (8) and
/// allocator rounding. With it the byte bound is a bound on the memory the
/// ring really holds, even for a flood of empty lines.
pub const LINE_OVERHEAD: usize = 128;

/// Which of a service's output streams a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// One line of service output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// Starts at 1 and increases by one for every line pushed to the hub,
    /// kept or not. Restarts with the daemon.
    pub seq: u64,
    /// When the hub received the line (wall clock).
    pub time: SystemTime,
    pub service: Arc<str>,
    pub stream: Stream,
    /// Without the line end; invalid UTF-8 replaced.
    pub text: String,
    /// The line was longer than [`MAX_LINE_BYTES`]; the rest was dropped.
    pub truncated: bool,
}

impl LogLine {
    /// The text as the original zinit printed it: `[+] NAME: text` for
    /// stdout, `[-] NAME: text` for stderr, plus ` [cut]` for a truncated
    /// line.
    pub fn legacy_text(&self) -> String {
        let mark = match self.stream {
            Stream::Stdout => '+',
            Stream::Stderr => '-',
        };
        let cut = if self.truncated { " [cut]" } else { "" };
        format!("[{mark}] {}: {}{cut}", self.service, self.text)
    }
}

/// The hub's global bounds. Both hold at all times (after each push).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingLimits {
    /// Lines kept over all services; 0 keeps nothing.
    pub max_lines: usize,
    /// Bytes kept over all services, counting each line's text plus
    /// [`LINE_OVERHEAD`].
    pub max_bytes: usize,
}

/// Where a read or a follower starts in its view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFrom {
    /// Nothing kept: only lines pushed from now on.
    Now,
    /// Every kept line.
    All,
    /// The kept lines with `seq > s` (resume after the last line seen).
    AfterSeq(u64),
    /// The newest `n` kept lines.
    Last(usize),
    /// The kept lines with `time >= t`.
    Since(SystemTime),
}

/// The result of [`LogHub::read`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogRead {
    /// Kept lines of the view, oldest first (ascending seq).
    pub lines: Vec<Arc<LogLine>>,
    /// Only for [`LogFrom::AfterSeq`] (else `None`): how many lines of the
    /// view with a greater seq are no longer kept. Exact for all services;
    /// for one service exact unless the service's evicted lines straddle
    /// the given seq (then `None`: at least one, at most what the service
    /// lost).
    pub missed: Option<u64>,
    /// The seq the next pushed line will get: `AfterSeq(next_seq - 1)`
    /// continues right after this read.
    pub next_seq: u64,
}

/// Counters of the hub, for stats and metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogCounters {
    /// Lines ever pushed.
    pub lines_total: u64,
    /// Lines dropped from the ring to keep it within its bounds.
    pub evicted_total: u64,
    /// Lines followers were told they missed (gaps).
    pub follower_missed_total: u64,
    /// Lines that did not reach a log file (queue full or write error).
    pub file_dropped_total: u64,
    pub kept_lines: usize,
    /// As counted against the byte bound (text + [`LINE_OVERHEAD`]).
    pub kept_bytes: usize,
    /// Every service that ever logged, in order of its first line.
    pub per_service: Vec<ServiceLogCounters>,
}

/// One service's share of [`LogCounters`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceLogCounters {
    pub service: Arc<str>,
    pub lines_total: u64,
    pub kept_lines: usize,
    pub kept_bytes: usize,
    pub evicted_total: u64,
}

/// The shared log store: one ring per service under global bounds.
///
/// **Fair share.** When a push exceeds a bound (lines or bytes), the hub
/// drops one line at a time until both hold again. Let `n` be the number
/// of services holding lines (the pusher included) and the *fair share*
/// of a bound be `bound / n`. If the pushing service holds at least its
/// fair share of the exceeded bound, its own oldest line goes; otherwise
/// the oldest line of the service holding the most (lines for the line
/// bound, bytes for the byte bound) goes. Guarantee: a service holding
/// less than its fair share never loses a line to another service's
/// output. Pushing is O(1) for a service at or above its share (the noisy
/// case) and O(services) otherwise.
pub struct LogHub {
    ring: Mutex<Ring>,
    limits: RingLimits,
    /// Woken on push, but only while `waiters > 0`.
    notify: Notify,
    /// Followers waiting for a line (maintained under the ring's lock).
    waiters: AtomicUsize,
    file_dropped: AtomicU64,
}

impl LogHub {
    /// A hub within `limits`. Nothing is preallocated, so absurd bounds
    /// cost nothing up front.
    pub fn new(limits: RingLimits) -> Arc<Self> {
        Arc::new(LogHub {
            ring: Mutex::new(Ring::new()),
            limits,
            notify: Notify::new(),
            waiters: AtomicUsize::new(0),
            file_dropped: AtomicU64::new(0),
        })
    }

    pub fn limits(&self) -> RingLimits {
        self.limits
    }

    /// Add a line (cut at [`MAX_LINE_BYTES`] if longer).
    pub fn push(&self, service: &str, stream: Stream, text: String) -> Arc<LogLine> {
        self.push_line(Arc::from(service), stream, text, false)
    }

    /// Add a line from a reader that may already have cut it.
    pub fn push_line(
        &self,
        service: Arc<str>,
        stream: Stream,
        mut text: String,
        truncated: bool,
    ) -> Arc<LogLine> {
        let cut = text.len() > MAX_LINE_BYTES;
        if cut {
            text.truncate(floor_char_boundary(&text, MAX_LINE_BYTES));
        }
        if text.capacity() > text.len() {
            // What is kept is what is counted.
            text.shrink_to_fit();
        }
        let line = self
            .lock()
            .push(self.limits, service, stream, text, truncated || cut);
        // Incremented under the lock by a follower that found nothing, so
        // a follower that checked before this push is seen here.
        if self.waiters.load(Ordering::SeqCst) > 0 {
            self.notify.notify_waiters();
        }
        line
    }

    /// The kept lines of a view (all services, or one) selected by `from`,
    /// oldest first. See [`LogRead::missed`] for what was lost.
    pub fn read(&self, service: Option<&str>, from: LogFrom) -> LogRead {
        let ring = self.lock();
        let view = ring.view(service);
        let start = starts(&ring, &view, from);
        let missed = match from {
            LogFrom::AfterSeq(after) => {
                missed_after(&ring, service.is_none(), &view, &start, after)
            }
            _ => None,
        };
        let mut lines = Vec::new();
        for (&id, &pos) in view.iter().zip(&start) {
            let kept = ring.slots[id].lines.range(pos..);
            match from {
                LogFrom::Since(t) => lines.extend(kept.filter(|l| l.time >= t).cloned()),
                _ => lines.extend(kept.cloned()),
            }
        }
        let next_seq = ring.next_seq;
        drop(ring);
        lines.sort_unstable_by_key(|l| l.seq);
        LogRead {
            lines,
            missed,
            next_seq,
        }
    }

    /// A follower of a view (all services, or one, which need not exist
    /// yet), starting at `from`.
    pub fn follow(self: &Arc<Self>, service: Option<Arc<str>>, from: LogFrom) -> Follower {
        let ring = self.lock();
        let view = ring.view(service.as_deref());
        let start = starts(&ring, &view, from);
        let initial_gap = match from {
            LogFrom::AfterSeq(after) => {
                match missed_after(&ring, service.is_none(), &view, &start, after) {
                    Some(0) => None,
                    missed => Some(missed),
                }
            }
            _ => None,
        };
        let mut expect = vec![0; ring.slots.len()];
        for (&id, &pos) in view.iter().zip(&start) {
            expect[id] = ring.slots[id].first_kept() + pos as u64;
        }
        drop(ring);
        Follower::new(Arc::clone(self), service, expect, initial_gap)
    }

    /// The hub's counters now.
    pub fn counters(&self) -> LogCounters {
        let ring = self.lock();
        LogCounters {
            lines_total: ring.next_seq - 1,
            evicted_total: ring.evicted_total,
            follower_missed_total: ring.follower_missed_total,
            file_dropped_total: self.file_dropped.load(Ordering::Relaxed),
            kept_lines: ring.kept_lines,
            kept_bytes: ring.kept_bytes,
            per_service: ring
                .slots
                .iter()
                .map(|s| ServiceLogCounters {
                    service: Arc::clone(&s.name),
                    lines_total: s.total,
                    kept_lines: s.lines.len(),
                    kept_bytes: s.bytes,
                    evicted_total: s.evicted,
                })
                .collect(),
        }
    }

    /// Count lines that did not reach a log file.
    pub fn note_file_dropped(&self, lines: u64) {
        self.file_dropped.fetch_add(lines, Ordering::Relaxed);
    }

    fn lock(&self) -> MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Per view slot, the position among its kept lines where `from` starts.
/// `Since` assumes the clock moved forward (a read filters exactly).
fn starts(ring: &Ring, view: &[usize], from: LogFrom) -> Vec<usize> {
    let newest_wanted = match from {
        LogFrom::Last(0) => u64::MAX,
        LogFrom::Last(n) => ring.nth_newest_seq(view, n),
        _ => 0,
    };
    view.iter()
        .map(|&id| {
            let lines = &ring.slots[id].lines;
            match from {
                LogFrom::Now => lines.len(),
                LogFrom::All => 0,
                LogFrom::AfterSeq(after) => lines.partition_point(|l| l.seq <= after),
                LogFrom::Last(_) => lines.partition_point(|l| l.seq < newest_wanted),
                LogFrom::Since(t) => lines.partition_point(|l| l.time < t),
            }
        })
        .collect()
}

/// How many lines of the view with seq > `after` are no longer kept
/// (`start`: the positions of `AfterSeq(after)`).
fn missed_after(
    ring: &Ring,
    all: bool,
    view: &[usize],
    start: &[usize],
    after: u64,
) -> Option<u64> {
    if all {
        // Every seq below `next_seq` is a line of this view.
        let newer = (ring.next_seq - 1).saturating_sub(after);
        let kept: u64 = view
            .iter()
            .zip(start)
            .map(|(&id, &pos)| (ring.slots[id].lines.len() - pos) as u64)
            .sum();
        Some(newer.saturating_sub(kept))
    } else {
        view.first()
            .map_or(Some(0), |&id| ring.slots[id].missed_after(after))
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
mod tests;
