//! A service's log file: `<dir>/<service>.log`, rotated by size, written
//! by a thread of its own so a slow or full disk never slows the service,
//! its pipe reader or the ring.
//!
//! Lines reach the thread through a bounded queue ([`QUEUE_LINES`] lines
//! and [`QUEUE_BYTES`] bytes per file); [`LogFile::write`] never blocks:
//! when the queue is full the line is dropped and counted
//! ([`LogCounters::file_dropped_total`](super::LogCounters)). Each line is
//! written as `<RFC 3339 UTC time, milliseconds> [+] text` (`[-]` for
//! stderr, ` [cut]` appended to a truncated line).
//!
//! Rotation: before a line that would take the file past `max_size` (when
//! the file is not empty), `<svc>.log.(k)` becomes `.(k+1)` for
//! `k = keep-1 .. 1`, `<svc>.log` becomes `<svc>.log.1` and a fresh
//! `<svc>.log` is opened; `keep == 0` truncates the file in place. So at
//! most `keep + 1` files of at most `max_size` bytes each exist (a single
//! line longer than `max_size` is still written, alone, to an empty file).
//!
//! Errors (unwritable directory, full disk, I/O error) never stop anything:
//! lost lines are counted, the first failure is reported at once and then
//! at most once per [`REPORT_EVERY`], through `tracing` and as a `zinit`
//! line in the hub; recovery is reported once. A file that cannot be
//! opened is retried at most once per second.

use super::ring::cost;
use super::{LogHub, LogLine, Stream};
use std::fmt::Write as _;
use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Lines queued for one file's writer at most.
pub const QUEUE_LINES: usize = 4096;
/// Bytes (text + [`super::LINE_OVERHEAD`] per line) queued for one file's
/// writer at most: what a stuck disk can make zinit hold per file.
pub const QUEUE_BYTES: usize = 1 << 20;
/// A persisting failure is reported at most this often.
pub const REPORT_EVERY: Duration = Duration::from_secs(60);
/// A file that cannot be opened is retried at most this often.
const REOPEN_EVERY: Duration = Duration::from_secs(1);
/// Lines are gathered into writes of about this size.
const WRITE_CHUNK: usize = 64 * 1024;

/// A handle on a service's log file; clones share the file and its
/// writer thread, which ends (after writing what is queued) when the last
/// clone is dropped. Open one per service and give clones to both of its
/// pipe readers.
#[derive(Clone)]
pub struct LogFile {
    tx: SyncSender<Arc<LogLine>>,
    shared: Arc<Shared>,
}

struct Shared {
    hub: Arc<LogHub>,
    path: PathBuf,
    queue_bytes: usize,
    queued_bytes: AtomicUsize,
    /// Lines dropped because the queue was full (reported by the writer).
    queue_dropped: AtomicU64,
}

/// Tunables, injectable for tests.
#[derive(Clone, Copy)]
struct Options {
    queue_lines: usize,
    queue_bytes: usize,
    reopen_every: Duration,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            queue_lines: QUEUE_LINES,
            queue_bytes: QUEUE_BYTES,
            reopen_every: REOPEN_EVERY,
        }
    }
}

impl LogFile {
    /// Start writing `service`'s lines to `<dir>/<service>.log` (appended
    /// to if it exists; `dir` created with mode 0750 if missing), rotated
    /// at `max_size` bytes keeping `keep` old files. Never fails: a file
    /// that cannot be opened is reported and retried.
    pub fn open(dir: &Path, service: &str, max_size: u64, keep: u32, hub: Arc<LogHub>) -> LogFile {
        start(dir, service, max_size, keep, hub, Options::default(), None).0
    }

    /// `<dir>/<service>.log`.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// Queue `line` for the file. Never blocks: with the queue full the
    /// line is dropped and counted.
    pub fn write(&self, line: &Arc<LogLine>) {
        let shared = &*self.shared;
        let cost = cost(line);
        let queued = shared.queued_bytes.load(Ordering::Relaxed);
        if queued > 0 && queued + cost > shared.queue_bytes {
            self.dropped();
            return;
        }
        shared.queued_bytes.fetch_add(cost, Ordering::Relaxed);
        match self.tx.try_send(Arc::clone(line)) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                shared.queued_bytes.fetch_sub(cost, Ordering::Relaxed);
                self.dropped();
            }
        }
    }

    fn dropped(&self) {
        self.shared.hub.note_file_dropped(1);
        self.shared.queue_dropped.fetch_add(1, Ordering::Relaxed);
    }
}

/// Start a log file's writer; `gate`, if any, holds the writer back until
/// it is sent to or dropped (tests fill the queue with it).
fn start(
    dir: &Path,
    service: &str,
    max_size: u64,
    keep: u32,
    hub: Arc<LogHub>,
    options: Options,
    gate: Option<Receiver<()>>,
) -> (LogFile, Option<std::thread::JoinHandle<()>>) {
    let (tx, rx) = mpsc::sync_channel(options.queue_lines.max(1));
    let path = dir.join(format!("{service}.log"));
    let shared = Arc::new(Shared {
        hub: Arc::clone(&hub),
        path: path.clone(),
        queue_bytes: options.queue_bytes,
        queued_bytes: AtomicUsize::new(0),
        queue_dropped: AtomicU64::new(0),
    });
    let writer = Writer {
        dir: dir.to_owned(),
        service: service.to_owned(),
        path,
        max_size,
        keep,
        shared: Arc::clone(&shared),
        options,
        file: None,
        size: 0,
        buf: Vec::new(),
        buf_lines: 0,
        text: String::new(),
        failing: false,
        lost: 0,
        last_report: None,
        last_open: None,
        queue_dropped_reported: 0,
        last_queue_report: None,
    };
    let thread = std::thread::Builder::new()
        .name("zinit-logfile".into())
        .spawn(move || {
            if let Some(gate) = gate {
                let _ = gate.recv();
            }
            writer.run(rx)
        });
    let thread = match thread {
        Ok(thread) => Some(thread),
        Err(e) => {
            // The receiver is gone with the closure: every line is dropped
            // and counted.
            let message = format!(
                "log file {}: cannot start its writer thread: {e}; its lines are dropped",
                shared.path.display()
            );
            tracing::warn!("{message}");
            hub.push("zinit", Stream::Stderr, message);
            None
        }
    };
    (LogFile { tx, shared }, thread)
}

struct Writer {
    dir: PathBuf,
    service: String,
    path: PathBuf,
    max_size: u64,
    keep: u32,
    shared: Arc<Shared>,
    options: Options,
    file: Option<File>,
    /// Bytes in the file (as far as written).
    size: u64,
    /// Formatted lines not yet written.
    buf: Vec<u8>,
    buf_lines: u64,
    /// Scratch for formatting one line.
    text: String,
    failing: bool,
    /// Lines lost since the last report.
    lost: u64,
    last_report: Option<Instant>,
    last_open: Option<Instant>,
    queue_dropped_reported: u64,
    last_queue_report: Option<Instant>,
}

impl Writer {
    fn run(mut self, rx: Receiver<Arc<LogLine>>) {
        self.reopen();
        while let Ok(line) = rx.recv() {
            self.add(&line);
            // Everything queued now, in as few writes as possible.
            while let Ok(line) = rx.try_recv() {
                self.add(&line);
            }
            self.flush();
            self.report_queue_drops();
        }
        self.flush();
        self.report_queue_drops();
    }

    fn add(&mut self, line: &LogLine) {
        self.shared
            .queued_bytes
            .fetch_sub(cost(line), Ordering::Relaxed);
        if self.file.is_none() && !self.reopen() {
            self.lose(1);
            return;
        }
        self.text.clear();
        let mark = match line.stream {
            Stream::Stdout => '+',
            Stream::Stderr => '-',
        };
        let _ = write!(
            self.text,
            "{} [{mark}] {}",
            humantime::format_rfc3339_millis(line.time),
            line.text
        );
        if line.truncated {
            self.text.push_str(" [cut]");
        }
        self.text.push('\n');
        let pending = self.size + self.buf.len() as u64;
        if pending > 0 && pending + self.text.len() as u64 > self.max_size {
            self.flush();
            self.rotate();
            if self.file.is_none() {
                self.lose(1);
                return;
            }
        }
        self.buf.extend_from_slice(self.text.as_bytes());
        self.buf_lines += 1;
        if self.buf.len() >= WRITE_CHUNK {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let lines = std::mem::take(&mut self.buf_lines);
        let result = match &mut self.file {
            Some(file) => match file.write_all(&self.buf) {
                Ok(()) => Ok(()),
                Err(e) => {
                    // No partial line left behind (O_APPEND writes go to
                    // the new end).
                    let _ = file.set_len(self.size);
                    Err(e)
                }
            },
            None => Err(io::Error::other("not open")),
        };
        match result {
            Ok(()) => {
                self.size += self.buf.len() as u64;
                self.recovered();
            }
            Err(e) => {
                self.lose(lines);
                self.fail(format!("cannot write: {e}"));
            }
        }
        self.buf.clear();
        if self.buf.capacity() > 2 * WRITE_CHUNK {
            self.buf.shrink_to(WRITE_CHUNK);
        }
    }

    /// Start a fresh file (the current one is written out).
    fn rotate(&mut self) {
        if self.keep > 0 {
            let renamed = (1..self.keep)
                .rev()
                .try_for_each(|k| rename_if_exists(&self.numbered(k), &self.numbered(k + 1)))
                .and_then(|()| std::fs::rename(&self.path, self.numbered(1)));
            match renamed {
                Ok(()) => {
                    self.file = None;
                    self.reopen_now();
                    return;
                }
                Err(e) => self.fail(format!("cannot rotate: {e}; truncating it instead")),
            }
        }
        // keep == 0, or the rename failed: the disk bound still holds.
        if let Some(file) = &self.file {
            match file.set_len(0) {
                Ok(()) => self.size = 0,
                Err(e) => {
                    self.fail(format!("cannot truncate: {e}"));
                    self.file = None;
                }
            }
        }
    }

    fn numbered(&self, k: u32) -> PathBuf {
        let mut name = self.path.clone().into_os_string();
        name.push(format!(".{k}"));
        PathBuf::from(name)
    }

    /// Open the file unless tried too recently; whether it is open.
    fn reopen(&mut self) -> bool {
        if self
            .last_open
            .is_some_and(|at| at.elapsed() < self.options.reopen_every)
        {
            return false;
        }
        self.reopen_now()
    }

    fn reopen_now(&mut self) -> bool {
        self.last_open = Some(Instant::now());
        match self.open_file() {
            Ok(()) => true,
            Err(e) => {
                self.fail(format!("cannot open: {e}"));
                false
            }
        }
    }

    fn open_file(&mut self) -> io::Result<()> {
        if self.service.is_empty()
            || self.service.contains('/')
            || self.service == "."
            || self.service == ".."
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a valid service name for a file",
            ));
        }
        DirBuilder::new()
            .recursive(true)
            .mode(0o750)
            .create(&self.dir)?;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o640)
            // NONBLOCK: a FIFO planted there must not hang the writer.
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
            .open(&self.path)?;
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file",
            ));
        }
        self.size = meta.len();
        self.file = Some(file);
        // Files beyond `keep` (left by a larger setting) go.
        let mut k = self.keep + 1;
        while std::fs::remove_file(self.numbered(k)).is_ok() {
            k += 1;
        }
        Ok(())
    }

    fn lose(&mut self, lines: u64) {
        self.shared.hub.note_file_dropped(lines);
        self.lost += lines;
    }

    /// Report a failure: the first at once, then at most once per
    /// [`REPORT_EVERY`].
    fn fail(&mut self, what: String) {
        let due = !self.failing
            || self
                .last_report
                .is_none_or(|at| at.elapsed() >= REPORT_EVERY);
        self.failing = true;
        if due {
            let lost = std::mem::take(&mut self.lost);
            self.report(format!(
                "log file {}: {what} ({lost} lines lost so far; lines are dropped until it works)",
                self.path.display()
            ));
            self.last_report = Some(Instant::now());
        }
    }

    fn recovered(&mut self) {
        if std::mem::take(&mut self.failing) {
            let lost = std::mem::take(&mut self.lost);
            self.report(format!(
                "log file {}: writing again ({lost} more lines lost)",
                self.path.display()
            ));
        }
    }

    fn report_queue_drops(&mut self) {
        let dropped = self.shared.queue_dropped.load(Ordering::Relaxed);
        let new = dropped - self.queue_dropped_reported;
        if new == 0
            || self
                .last_queue_report
                .is_some_and(|at| at.elapsed() < REPORT_EVERY)
        {
            return;
        }
        self.queue_dropped_reported = dropped;
        self.last_queue_report = Some(Instant::now());
        self.report(format!(
            "log file {}: {new} lines dropped: writing too slow",
            self.path.display()
        ));
    }

    fn report(&self, message: String) {
        tracing::warn!("{message}");
        self.shared.hub.push("zinit", Stream::Stderr, message);
    }
}

fn rename_if_exists(from: &Path, to: &Path) -> io::Result<()> {
    match std::fs::rename(from, to) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests;
