//! zinit's own log output: stdout always, the kernel log (`/dev/kmsg`) when
//! zinit is PID 1, and a panic hook that sends panics to both.
//!
//! Reliability promise: logging never blocks zinit. Each destination has its
//! own worker thread fed by a bounded, lossy queue (`tracing-appender`): the
//! thread that logs only enqueues, and when a destination is stuck (a full
//! stdout pipe nobody reads, a hung console) its queue fills and further
//! lines for it are dropped. A stuck console never delays kmsg, nor the
//! reverse.
//!
//! This module must not write to stdout or the kernel log directly from the
//! logging thread, and must not retry a failed write.

// `init.rs` switches to `logging::init` separately; until it does, only the
// tests use this module.

use std::fs::File;
use std::io::{self, IsTerminal, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;
use tracing::{Event, Level, Subscriber};
use tracing_appender::non_blocking::{NonBlocking, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// The variable holding an `EnvFilter` directive that overrides `-d`.
const FILTER_VAR: &str = "ZINIT_LOG";
/// Lines queued per destination before new ones are dropped. Bounds the
/// memory a stuck destination can hold (about 100 bytes a line). The queue
/// preallocates and touches 32 bytes a slot, so it stays small: 2,048 lines
/// cover a start-up burst of hundreds of services for 64 KiB of resident
/// memory (16,384 slots cost 512 KiB).
const QUEUE_LINES: usize = 2 * 1024;
/// Longest kmsg record in bytes, prefix and newline included. The kernel
/// refuses records near 1 KiB; longer lines are cut to this.
const KMSG_RECORD_MAX: usize = 900;
/// How long dropping [`LogOutput`] waits for the queues to drain.
const FLUSH_DEADLINE: Duration = Duration::from_secs(3);

/// What [`init`] needs to know.
#[derive(Debug, Clone, Default)]
pub struct LogConfig {
    /// `-d`: debug level unless `ZINIT_LOG` says otherwise.
    pub debug: bool,
    /// The kernel log, `Some("/dev/kmsg")` when zinit is PID 1.
    pub kmsg: Option<PathBuf>,
}

/// Keeps the log worker threads alive. Dropping it flushes what is queued,
/// waiting at most a few seconds however stuck a destination is.
#[must_use = "dropping LogOutput stops zinit's log output"]
pub struct LogOutput {
    /// Flushed in order: kmsg before the console, which is likelier stuck.
    guards: Vec<WorkerGuard>,
}

/// Installs zinit's global tracing subscriber and panic hook. Never fails: a
/// kmsg path that cannot be opened is skipped with one warning on stdout.
pub fn init(config: &LogConfig) -> LogOutput {
    let (filter, filter_warning) = choose_filter(std::env::var(FILTER_VAR), config.debug);
    let mut warnings: Vec<String> = filter_warning.into_iter().collect();
    let mut guards = Vec::new();
    let kmsg = config.kmsg.as_deref().and_then(|path| {
        let what = format!("kernel log {}", path.display());
        match open_kmsg(path) {
            Ok(file) => worker(
                KmsgWriter::new(file),
                ("zinit-kmsg", &what),
                &mut guards,
                &mut warnings,
            ),
            Err(e) => {
                warnings.push(format!("{what}: cannot open ({e}); logging to stdout only"));
                None
            }
        }
    });
    let console = worker(
        console_destination(),
        ("zinit-stdout", "stdout"),
        &mut guards,
        &mut warnings,
    );
    let ansi = io::stdout().is_terminal();
    // Fails only if a subscriber is already installed: then that one stays.
    let _ = subscriber(filter, console, ansi, kmsg).try_init();
    install_panic_hook();
    for warning in warnings {
        tracing::warn!("{warning}");
    }
    LogOutput { guards }
}

/// Starts the worker thread `thread_name` for the destination `what`,
/// keeping its guard, or notes in `warnings` that `what` gets no lines.
fn worker<W: Write + Send + 'static>(
    writer: W,
    (thread_name, what): (&str, &str),
    guards: &mut Vec<WorkerGuard>,
    warnings: &mut Vec<String>,
) -> Option<NonBlocking> {
    match start_worker(writer, thread_name) {
        Some((writer, guard)) => {
            guards.push(guard);
            Some(writer)
        }
        None => {
            warnings.push(format!("{what}: cannot start its log thread; skipped"));
            None
        }
    }
}

impl Drop for LogOutput {
    fn drop(&mut self) {
        flush_bounded(std::mem::take(&mut self.guards), FLUSH_DEADLINE);
    }
}

/// Drops the guards (each waits for its worker to write what is queued) on
/// a helper thread, and waits for that at most `deadline`. Bounded because
/// tracing-appender's guard, when its queue stays full, prints a complaint
/// with `println!`, which blocks for good on a stuck stdout.
fn flush_bounded(guards: Vec<WorkerGuard>, deadline: Duration) {
    if guards.is_empty() {
        return;
    }
    let (done_tx, done_rx) = mpsc::channel::<()>();
    // The guards travel through a channel rather than the closure, so a
    // failed spawn cannot drop (and block on) them on this thread.
    let (guards_tx, guards_rx) = mpsc::channel::<Vec<WorkerGuard>>();
    let spawned = std::thread::Builder::new()
        .name("zinit-log-flush".into())
        .spawn(move || {
            if let Ok(guards) = guards_rx.recv() {
                drop(guards);
            }
            let _ = done_tx.send(());
        });
    match spawned {
        Ok(_) => match guards_tx.send(guards) {
            Ok(()) => {
                let _ = done_rx.recv_timeout(deadline);
            }
            Err(unsent) => std::mem::forget(unsent.0),
        },
        // No thread to wait on: give up the flush rather than risk blocking.
        Err(_) => std::mem::forget(guards),
    }
}

/// The filter: `ZINIT_LOG` if set and valid, else `debug` with `-d`, else
/// `info`. A set but invalid `ZINIT_LOG` also yields a warning to log.
fn choose_filter(
    env: Result<String, std::env::VarError>,
    debug: bool,
) -> (EnvFilter, Option<String>) {
    let fallback = if debug { "debug" } else { "info" };
    match env {
        Ok(spec) => match EnvFilter::try_new(&spec) {
            Ok(filter) => (filter, None),
            Err(e) => (
                EnvFilter::new(fallback),
                Some(format!(
                    "{FILTER_VAR}={spec:?} is not a valid filter ({e}); logging at {fallback}"
                )),
            ),
        },
        Err(std::env::VarError::NotPresent) => (EnvFilter::new(fallback), None),
        Err(std::env::VarError::NotUnicode(_)) => (
            EnvFilter::new(fallback),
            Some(format!(
                "{FILTER_VAR} is not valid UTF-8; logging at {fallback}"
            )),
        ),
    }
}

/// The subscriber: one filter for both destinations, the console in the
/// usual format (no target), kmsg in its record format.
fn subscriber(
    filter: EnvFilter,
    console: Option<NonBlocking>,
    ansi: bool,
    kmsg: Option<NonBlocking>,
) -> impl Subscriber + Send + Sync + 'static {
    let console = console.map(|writer| {
        tracing_subscriber::fmt::layer()
            .with_target(false)
            .with_ansi(ansi)
            .with_writer(writer)
    });
    let kmsg = kmsg.map(|writer| {
        tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .event_format(KmsgFormat)
            .with_writer(writer)
    });
    tracing_subscriber::registry()
        .with(filter)
        .with(console)
        .with(kmsg)
}

/// A worker thread fed by a lossy queue of `QUEUE_LINES` lines, or `None`
/// when the thread cannot be started (tracing-appender panics then).
fn start_worker<W: Write + Send + 'static>(
    writer: W,
    thread_name: &str,
) -> Option<(NonBlocking, WorkerGuard)> {
    let builder = NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(QUEUE_LINES)
        .thread_name(thread_name);
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| builder.finish(writer))).ok()
}

/// Where console lines go: a duplicate of fd 1, so the worker neither takes
/// nor holds std's stdout lock (a `println!` elsewhere never waits on it).
fn console_destination() -> Box<dyn Write + Send> {
    use std::os::fd::AsFd;
    match io::stdout().as_fd().try_clone_to_owned() {
        Ok(fd) => Box::new(File::from(fd)),
        Err(_) => Box::new(io::stdout()),
    }
}

/// Opens the kernel log the way a writer that must never block does.
/// What zinit says after its log output was closed (right before
/// reboot(2)): when the kernel refuses, the error must still reach someone.
/// Written straight to the kernel log and to stdout, each only if it takes
/// the line at once, so this never blocks PID 1.
pub fn last_words(kmsg: Option<&Path>, message: &str) {
    if let Some(path) = kmsg {
        if let Ok(mut file) = open_kmsg(path) {
            // Priority 3 (error), as the kmsg worker would write it.
            let _ = file.write_all(format!("<3>zinit: {message}\n").as_bytes());
        }
    }
    write_if_ready(libc::STDOUT_FILENO, &format!("zinit: {message}\n"), 0);
}

/// `zinit: MESSAGE` on stderr for a daemon that is about to exit with an
/// error, waiting at most a second for a stuck stderr: exiting with the
/// status matters more than the line.
pub fn error_before_exit(message: &str) {
    write_if_ready(libc::STDERR_FILENO, &format!("zinit: {message}\n"), 1000);
}

/// Write `line` to `fd` if it becomes writable within `wait_ms`. A pipe
/// that polls writable has room for at least a page, and a shorter write
/// is whole (PIPE_BUF), so the write itself cannot block.
fn write_if_ready(fd: libc::c_int, line: &str, wait_ms: libc::c_int) {
    let mut target = libc::pollfd {
        fd,
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: poll on one valid pollfd.
    let ready =
        unsafe { libc::poll(&mut target, 1, wait_ms) } == 1 && target.revents & libc::POLLOUT != 0;
    let mut end = line.len().min(4000);
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    if ready {
        // SAFETY: writes bytes of a live buffer to `fd`.
        let _ = unsafe { libc::write(fd, line.as_ptr().cast(), end) };
    }
}

fn open_kmsg(path: &Path) -> io::Result<File> {
    std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
}

/// The syslog priority kmsg records carry for a tracing level.
fn priority(level: Level) -> u8 {
    match level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        _ => 7,
    }
}

/// Appends `text` as kmsg records: one `<P>zinit: LINE\n` per non-empty
/// line, each at most `KMSG_RECORD_MAX` bytes (cut on a character
/// boundary).
fn push_records(out: &mut String, priority: u8, text: &str) {
    let prefix = format!("<{priority}>zinit: ");
    let room = KMSG_RECORD_MAX.saturating_sub(prefix.len() + 1);
    for line in text.lines().filter(|line| !line.trim().is_empty()) {
        let mut end = room.min(line.len());
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        out.push_str(&prefix);
        out.push_str(&line[..end]);
        out.push('\n');
    }
}

/// Formats an event as kmsg records: no timestamp (the kernel adds one), no
/// level word (the priority says it), no ANSI.
struct KmsgFormat;

impl<S, N> FormatEvent<S, N> for KmsgFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let mut text = String::new();
        ctx.format_fields(Writer::new(&mut text), event)?;
        let mut records = String::new();
        push_records(&mut records, priority(*event.metadata().level()), &text);
        writer.write_str(&records)
    }
}

/// Runs on the kmsg worker thread: turns a buffer of records into one
/// `write(2)` per record. A failed write (EAGAIN, or anything else) drops
/// that record; nothing is retried.
struct KmsgWriter<W> {
    inner: W,
}

impl<W: Write> KmsgWriter<W> {
    fn new(inner: W) -> Self {
        KmsgWriter { inner }
    }
}

impl<W: Write> Write for KmsgWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        for record in buf.split_inclusive(|&b| b == b'\n') {
            let _ = self.inner.write(record);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Logs a panic (message, thread, location, and a backtrace when
/// `RUST_BACKTRACE` asks for one) to the console and kmsg, through the same
/// lossy queues as every other line.
///
/// It replaces the default hook instead of running it as well: that one
/// writes to stderr directly, and on a stderr nobody reads (a full pipe, a
/// stuck console) it blocks the panicking thread for good, be it a tokio
/// worker or PID 1's main thread, which must go on to reap.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("(no message)");
        let thread = std::thread::current();
        let thread = thread.name().unwrap_or("<unnamed>");
        let backtrace = std::backtrace::Backtrace::capture();
        let text = panic_text(thread, info.location(), message, &backtrace);
        tracing::error!("{text}");
    }));
}

/// What the panic hook logs.
fn panic_text(
    thread: &str,
    at: Option<&std::panic::Location<'_>>,
    message: &str,
    backtrace: &std::backtrace::Backtrace,
) -> String {
    let mut text = match at {
        Some(at) => format!("panic in thread {thread} at {at}: {message}"),
        None => format!("panic in thread {thread}: {message}"),
    };
    if backtrace.status() == std::backtrace::BacktraceStatus::Captured {
        text.push_str(&format!("\nstack backtrace:\n{backtrace}"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use std::time::Instant;

    /// Records every `write` call it gets, one entry per call.
    #[derive(Clone, Default)]
    struct Calls(Arc<Mutex<Vec<Vec<u8>>>>);

    impl Calls {
        fn strings(&self) -> Vec<String> {
            let calls = self.0.lock().unwrap();
            calls
                .iter()
                .map(|c| String::from_utf8(c.clone()).unwrap())
                .collect()
        }
    }

    impl Write for Calls {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().push(buf.to_vec());
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// The kmsg layer alone, writing synchronously through a `KmsgWriter`
    /// to `calls`, so each `write(2)` the kernel would see is one entry.
    fn kmsg_records(log: impl FnOnce()) -> Vec<String> {
        let calls = Calls::default();
        let sink = calls.clone();
        let layer = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .event_format(KmsgFormat)
            .with_writer(move || KmsgWriter::new(sink.clone()));
        let subscriber = tracing_subscriber::registry()
            .with(EnvFilter::new("trace"))
            .with(layer);
        tracing::subscriber::with_default(subscriber, log);
        calls.strings()
    }

    /// Runs `f` on its own thread and fails the test if it has not finished
    /// by `deadline` (a stuck thread is left behind, the test still ends).
    fn finishes_within<T: Send + 'static>(
        deadline: Duration,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> T {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(f());
        });
        rx.recv_timeout(deadline)
            .expect("did not finish in time: logging blocked")
    }

    /// A pipe nobody reads: writes to it block once its buffer is full.
    fn stuck_pipe() -> (File, std::os::fd::OwnedFd) {
        let (read, write) = nix::unistd::pipe().unwrap();
        (File::from(write), read)
    }

    #[test]
    fn kmsg_priority_follows_the_level() {
        let records = kmsg_records(|| {
            tracing::error!("e");
            tracing::warn!("w");
            tracing::info!("i");
            tracing::debug!("d");
            tracing::trace!("t");
        });
        assert_eq!(
            records,
            [
                "<3>zinit: e\n",
                "<4>zinit: w\n",
                "<6>zinit: i\n",
                "<7>zinit: d\n",
                "<7>zinit: t\n"
            ]
        );
    }

    #[test]
    fn kmsg_record_has_fields_and_no_timestamp_or_ansi() {
        let records = kmsg_records(|| tracing::info!(pid = 42, "service web started"));
        assert_eq!(records, ["<6>zinit: service web started pid=42\n"]);
    }

    #[test]
    fn kmsg_multi_line_message_is_one_write_per_line() {
        let records = kmsg_records(|| tracing::warn!("first\n \nsecond\r\nthird\n"));
        assert_eq!(
            records,
            [
                "<4>zinit: first\n",
                "<4>zinit: second\n",
                "<4>zinit: third\n"
            ]
        );
    }

    #[test]
    fn kmsg_long_line_is_cut() {
        let long = "x".repeat(5000);
        let records = kmsg_records(|| tracing::error!("{long}"));
        assert_eq!(records.len(), 1);
        let record = &records[0];
        assert_eq!(record.len(), KMSG_RECORD_MAX);
        assert!(record.starts_with("<3>zinit: xxx"));
        assert!(record.ends_with("x\n"));
    }

    #[test]
    fn kmsg_cut_keeps_characters_whole() {
        // Two-byte characters: the cut must not land inside one.
        for pad in 0..2 {
            let mut out = String::new();
            let text = format!("{}{}", "a".repeat(pad), "é".repeat(1000));
            push_records(&mut out, 6, &text);
            assert!(out.len() <= KMSG_RECORD_MAX, "{} bytes", out.len());
            assert!(out.len() >= KMSG_RECORD_MAX - 1);
            assert!(out.ends_with("é\n"));
        }
    }

    #[test]
    fn kmsg_write_errors_are_dropped_not_retried() {
        struct Refuses(usize);
        impl Write for Refuses {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                self.0 += 1;
                Err(io::ErrorKind::WouldBlock.into())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut writer = KmsgWriter::new(Refuses(0));
        let buf = b"<6>zinit: a\n<6>zinit: b\n";
        assert_eq!(writer.write(buf).unwrap(), buf.len());
        writer.write_all(buf).unwrap();
        assert_eq!(writer.inner.0, 4, "one attempt per record");
    }

    #[test]
    fn kmsg_opens_a_writable_path_and_refuses_a_missing_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kmsg");
        std::fs::write(&path, "").unwrap();
        assert!(open_kmsg(&path).is_ok());
        assert!(open_kmsg(&dir.path().join("none/kmsg")).is_err());
    }

    #[test]
    fn filter_prefers_zinit_log_then_debug_flag() {
        use std::env::VarError;
        use tracing::level_filters::LevelFilter;
        let hint = |env, debug| {
            let (filter, warning) = choose_filter(env, debug);
            (filter.max_level_hint(), warning.is_some())
        };
        assert_eq!(
            hint(Err(VarError::NotPresent), false),
            (Some(LevelFilter::INFO), false)
        );
        assert_eq!(
            hint(Err(VarError::NotPresent), true),
            (Some(LevelFilter::DEBUG), false)
        );
        assert_eq!(
            hint(Ok("warn".into()), true),
            (Some(LevelFilter::WARN), false)
        );
        assert_eq!(
            hint(Ok("trace".into()), false),
            (Some(LevelFilter::TRACE), false)
        );
        assert_eq!(
            hint(Ok("=bogus=".into()), true),
            (Some(LevelFilter::DEBUG), true)
        );
    }

    #[test]
    fn stuck_console_never_blocks_the_logging_thread() {
        let (pipe, read_end) = stuck_pipe();
        let dropped = finishes_within(Duration::from_secs(30), move || {
            let (writer, guard) = start_worker(pipe, "test-stdout").unwrap();
            let counter = writer.error_counter();
            let subscriber = subscriber(EnvFilter::new("info"), Some(writer), false, None);
            tracing::subscriber::with_default(subscriber, || {
                for i in 0..100_000 {
                    tracing::info!("line {i} of a console nobody reads");
                }
            });
            // Dropping the output with its destination still stuck returns.
            drop(LogOutput {
                guards: vec![guard],
            });
            counter.dropped_lines()
        });
        assert!(dropped > 0, "the queue should have overflowed");
        // Unblocks the worker (its writes now fail) so it can end.
        drop(read_end);
    }

    #[test]
    fn stuck_console_does_not_hold_back_kmsg() {
        let (pipe, read_end) = stuck_pipe();
        let calls = Calls::default();
        let kmsg_calls = calls.clone();
        let seen = finishes_within(Duration::from_secs(30), move || {
            let (console, console_guard) = start_worker(pipe, "test-stdout").unwrap();
            let (kmsg, kmsg_guard) =
                start_worker(KmsgWriter::new(kmsg_calls), "test-kmsg").unwrap();
            let subscriber = subscriber(EnvFilter::new("info"), Some(console), false, Some(kmsg));
            let seen = tracing::subscriber::with_default(subscriber, || {
                for i in 0..100_000 {
                    tracing::info!("line {i}");
                }
                // The console is stuck; kmsg keeps flowing. Either queue may
                // have dropped lines, so ask until one marker gets through.
                let deadline = Instant::now() + Duration::from_secs(20);
                loop {
                    tracing::error!("marker");
                    if calls.strings().iter().any(|r| r == "<3>zinit: marker\n") {
                        break true;
                    }
                    if Instant::now() > deadline {
                        break false;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            });
            drop(LogOutput {
                guards: vec![kmsg_guard, console_guard],
            });
            seen
        });
        assert!(seen, "kmsg got no line while the console was stuck");
        drop(read_end);
    }

    #[test]
    fn panic_text_names_thread_place_and_message() {
        let disabled = std::backtrace::Backtrace::disabled();
        let at = std::panic::Location::caller();
        assert_eq!(
            panic_text("doomed", Some(at), "boom", &disabled),
            format!("panic in thread doomed at {at}: boom")
        );
        assert_eq!(
            panic_text("doomed", None, "boom", &disabled),
            "panic in thread doomed: boom"
        );
        let forced = std::backtrace::Backtrace::force_capture();
        let text = panic_text("t", None, "m", &forced);
        assert!(text.starts_with("panic in thread t: m\nstack backtrace:\n"));
    }

    /// Set to a directory: `panic_hook_child` runs as the child of
    /// `a_panic_never_blocks_on_a_full_stderr`.
    const PANIC_CHILD_VAR: &str = "ZINIT_TEST_PANIC_CHILD";

    /// In the child process only: logging set up with kmsg in the given
    /// directory, then a thread panics; `survived` is written if the
    /// panicking thread came back.
    #[test]
    fn panic_hook_child() {
        let Some(dir) = std::env::var_os(PANIC_CHILD_VAR) else {
            return;
        };
        let dir = std::path::PathBuf::from(dir);
        let output = init(&LogConfig {
            debug: false,
            kmsg: Some(dir.join("kmsg")),
        });
        let panicked = std::thread::Builder::new()
            .name("doomed".into())
            .spawn(|| panic!("deliberate test panic"))
            .unwrap()
            .join();
        assert!(panicked.is_err());
        drop(output);
        std::fs::write(dir.join("survived"), "").unwrap();
    }

    /// zinit's stderr is a full pipe nobody reads: a panic is still logged
    /// (to kmsg here) and the panicking thread still unwinds, where the
    /// default hook would block in its write to stderr for good.
    #[test]
    fn a_panic_never_blocks_on_a_full_stderr() {
        use std::os::fd::AsRawFd;
        use std::process::{Command, Stdio};
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("kmsg"), "").unwrap();
        let (read_end, write_end) = nix::unistd::pipe().unwrap();
        // Fill it without blocking, then make writes to it block again.
        let fd = write_end.as_raw_fd();
        // SAFETY: fcntl on a descriptor this test owns.
        unsafe { libc::fcntl(fd, libc::F_SETFL, libc::O_NONBLOCK) };
        let mut filler = File::from(write_end.try_clone().unwrap());
        while filler.write(&[b'#'; 4096]).is_ok() {}
        // SAFETY: as above.
        unsafe { libc::fcntl(fd, libc::F_SETFL, 0) };
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "logging::tests::panic_hook_child", "--nocapture"])
            .env(PANIC_CHILD_VAR, dir.path())
            .env_remove(FILTER_VAR)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(write_end))
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        drop(read_end);
        assert!(
            dir.path().join("survived").exists(),
            "the panicking thread blocked (child: {status:?})"
        );
        let kmsg = std::fs::read_to_string(dir.path().join("kmsg")).unwrap();
        assert!(
            kmsg.contains("<3>zinit: panic in thread doomed at "),
            "{kmsg}"
        );
    }

    /// The one test that installs the global subscriber and the panic hook
    /// (both can be set once per test binary).
    #[test]
    fn init_sends_events_and_panics_to_kmsg() {
        if std::env::var_os(FILTER_VAR).is_some() {
            println!("skipped: {FILTER_VAR} is set and would change the filter");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let kmsg = dir.path().join("kmsg");
        std::fs::write(&kmsg, "").unwrap();
        let output = init(&LogConfig {
            debug: false,
            kmsg: Some(kmsg.clone()),
        });
        tracing::info!("logging test: hello");
        tracing::debug!("logging test: filtered out");
        let panicked = std::thread::Builder::new()
            .name("doomed".into())
            .spawn(|| panic!("deliberate test panic"))
            .unwrap()
            .join();
        assert!(panicked.is_err());
        drop(output);

        let text = std::fs::read_to_string(&kmsg).unwrap();
        assert!(text.contains("<6>zinit: logging test: hello\n"), "{text}");
        assert!(!text.contains("filtered out"), "{text}");
        let panic_line = text
            .lines()
            .find(|l| l.contains("deliberate test panic"))
            .unwrap_or_else(|| panic!("no panic record in {text:?}"));
        assert!(panic_line.starts_with("<3>zinit: panic in thread doomed at "));
        assert!(panic_line.contains("logging.rs:"), "{panic_line}");
    }
}
