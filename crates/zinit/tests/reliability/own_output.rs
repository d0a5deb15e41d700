//! Promise 7: zinit never blocks on its own log output. Its stdout and
//! stderr are a pipe nobody reads, full before zinit even starts; as PID 1
//! its kernel log is missing, or a FIFO nobody reads (full too). zinit
//! still starts, restarts what crashes on time, answers the API on time
//! and shuts down in order, promptly.
//!
//! A service with `log: stdout` writes to zinit's stdout itself (it
//! inherits the descriptor; nothing of zinit's is in between): when nobody
//! reads that, the service blocks in its own write. zinit does not, and
//! stops it like any other service.
//!
//! Elsewhere: `zinit/src/logging.rs` unit tests (a stuck console never
//! blocks the logging thread nor holds back kmsg; kmsg write errors are
//! dropped, not retried).

use crate::common::namespace::*;
use crate::common::*;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// How long a status request, or a whole `zinit` CLI command, may take
/// while zinit's output is stuck.
const ANSWER_LIMIT: Duration = Duration::from_secs(2);

/// A FIFO at `path` whose read end the test holds and never reads, already
/// full: whoever opens it for writing finds it full from the first byte.
struct StuckPipe {
    read_end: File,
}

impl StuckPipe {
    fn new(path: &Path) -> StuckPipe {
        let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).expect("path");
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
        // Non-blocking: opening the read end does not wait for a writer.
        let read_end = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .expect("open the read end");
        let mut write_end = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .expect("open a write end");
        let block = [b'#'; 4096];
        loop {
            match std::io::Write::write(&mut write_end, &block) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("filling the pipe: {e}"),
            }
        }
        let pipe = StuckPipe { read_end };
        assert_eq!(pipe.queued(), 64 * 1024, "a full default pipe");
        pipe
    }

    /// Bytes waiting in the pipe.
    fn queued(&self) -> usize {
        let mut n: libc::c_int = 0;
        // SAFETY: FIONREAD writes one int.
        let rc = unsafe { libc::ioctl(self.read_end.as_raw_fd(), libc::FIONREAD, &mut n) };
        assert_eq!(rc, 0, "FIONREAD");
        n as usize
    }
}

/// `zinit ...` with stdout and stderr sent to `fifo` (by `sh`, which then
/// execs zinit: same pid). `prefix` runs before (e.g. `unshare ...`).
fn command_into(fifo: &Path, prefix: &[&str]) -> Command {
    let mut all: Vec<&str> = prefix.to_vec();
    all.push("sh");
    let mut command = Command::new(all[0]);
    command
        .args(&all[1..])
        .arg("-c")
        .arg(format!("exec \"$0\" \"$@\" > {} 2>&1", fifo.display()))
        .arg(ZINIT);
    command
}

/// Asks `status` of `name` every 20 ms for `period`: each answer must come
/// within [`ANSWER_LIMIT`].
#[track_caller]
fn answers_on_time(d: &Daemon, name: &str, period: Duration) {
    let start = Instant::now();
    while start.elapsed() < period {
        let asked = Instant::now();
        let reply = d.legacy(&format!("status {name}"));
        assert_eq!(reply["state"], "ok", "{reply}");
        let took = asked.elapsed();
        assert!(took < ANSWER_LIMIT, "status took {took:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A CLI command that must succeed within [`ANSWER_LIMIT`].
#[track_caller]
fn quick(d: &Daemon, args: &[&str]) -> String {
    let asked = Instant::now();
    let out = d.ok(args);
    let took = asked.elapsed();
    assert!(took < ANSWER_LIMIT, "zinit {args:?} took {took:?}");
    out
}

/// Services that keep zinit logging: crash loops (each exit and restart is
/// a line or two), one that runs 1.2 s per run and so is restarted at once
/// every time (each start appends to `runs`), and one with `log: stdout`.
fn noisy_services(d: &Daemon) -> std::path::PathBuf {
    for i in 0..20 {
        d.service(&format!("crash{i}"), "exec: \"sh -c 'exit 1'\"\n");
    }
    let runs = d.path("runs");
    let flapper = script(
        d,
        "flapper",
        &format!("echo run >> {}\nsleep 1.2\nexit 1\n", runs.display()),
    );
    d.service("flapper", &sh_service(&flapper, ""));
    // Writes to zinit's stdout itself, which is full: it blocks there.
    d.service(
        "loud",
        "exec: \"sh -c 'echo to-a-full-pipe; exec sleep 1000'\"\nlog: stdout\nshutdown_timeout: 2\n",
    );
    runs
}

/// Restarts keep happening: `runs` grows by three (3.6 s of runs).
#[track_caller]
fn restarts_on_time(runs: &Path) {
    let before = read(runs).lines().count();
    within(
        Duration::from_secs(10),
        "three more runs of flapper",
        || (read(runs).lines().count() >= before + 3).then_some(()),
    );
}

/// `loud` is blocked writing to a pipe nobody reads; a stop still ends it
/// (by TERM; at the latest by KILL at its 2 s timeout). `host_pid`: zinit
/// reports pids of the test's own PID namespace, so the process itself
/// can be checked too (zinit's `pid: 0` means it reaped it either way).
#[track_caller]
fn stop_a_service_blocked_on_zinits_stdout(d: &Daemon, host_pid: bool) {
    let pid = d.wait_running("loud") as i32;
    quick(d, &["stop", "loud"]);
    within(Duration::from_secs(5), "loud to stop", || {
        (d.state("loud").1 == 0 && !(host_pid && alive(pid))).then_some(())
    });
}

#[test]
fn a_full_stdout_pipe_never_delays_supervision_or_the_api() {
    let d = Daemon::new();
    let out = StuckPipe::new(&d.path("stdout.fifo"));
    let runs = noisy_services(&d);
    let command = command_into(&d.path("stdout.fifo"), &[]);
    let mut d = d.start_with(command);
    let zinit = d.pid() as i32;

    assert_eq!(out.queued(), 64 * 1024, "nobody read the pipe");
    restarts_on_time(&runs);
    answers_on_time(&d, "flapper", Duration::from_secs(2));
    quick(&d, &["list"]);
    // A new service is taken on and runs at once.
    d.service("late", "exec: \"sleep 1000\"\n");
    quick(&d, &["monitor", "late"]);
    within(ANSWER_LIMIT, "late to run", || {
        (d.state("late").0 == "Running").then_some(())
    });
    stop_a_service_blocked_on_zinits_stdout(&d, true);
    restarts_on_time(&runs);

    // Shutdown: the services stop, then zinit gives its stuck output at
    // most a few seconds (the flush of its log queue) and exits.
    let asked = Instant::now();
    signal(zinit, libc::SIGTERM);
    let status = within(END_LIMIT, "zinit to exit", || d.try_exit());
    assert!(status.success(), "{status} after {:?}", asked.elapsed());
    assert_eq!(out.queued(), 64 * 1024);
    nothing_survives(&d);
}

/// zinit as PID 1 of a namespace (machine mode) with stdout and stderr a
/// full FIFO and `ZINIT_KMSG` at `kmsg`; the namespace is killed if the
/// test fails.
struct Pid1 {
    d: Daemon,
    zinit: i32,
}

impl Pid1 {
    fn start(d: Daemon, fifo: &Path, kmsg: &Path) -> Pid1 {
        let mut command = command_into(
            fifo,
            &["unshare", "--pid", "--fork", "--mount-proc", "--kill-child"],
        );
        command.env("ZINIT_KMSG", kmsg);
        let d = d.start_with(command);
        let unshare = d.pid() as i32;
        let zinit = within(Duration::from_secs(10), "zinit under unshare", || {
            children(unshare).into_iter().next()
        });
        Pid1 { d, zinit }
    }
}

impl Drop for Pid1 {
    fn drop(&mut self) {
        // `unshare` blocks TERM; KILL ends the namespace (--kill-child).
        if self.d.try_exit().is_none() {
            signal(self.d.pid() as i32, libc::SIGKILL);
        }
    }
}

/// Machine mode, output stuck everywhere: start, supervise, `zinit
/// shutdown` stops `app` then `db` and powers off (ends the namespace).
fn pid1_with_stuck_output(kmsg: impl FnOnce(&Daemon) -> (std::path::PathBuf, Option<StuckPipe>)) {
    let d = Daemon::new();
    let out = StuckPipe::new(&d.path("stdout.fifo"));
    let (kmsg_path, kmsg_pipe) = kmsg(&d);
    let order = app_after_db(&d);
    let runs = noisy_services(&d);
    let fifo = d.path("stdout.fifo");
    let mut z = Pid1::start(d, &fifo, &kmsg_path);
    let d = &z.d;
    assert!(cmdline(z.zinit).contains(" init "), "{}", cmdline(z.zinit));
    wait_ready(d, &["db", "app"]);
    restarts_on_time(&runs);
    answers_on_time(d, "flapper", Duration::from_secs(2));
    quick(d, &["list"]);
    stop_a_service_blocked_on_zinits_stdout(d, false);
    assert_eq!(out.queued(), 64 * 1024);
    if let Some(pipe) = &kmsg_pipe {
        assert_eq!(pipe.queued(), 64 * 1024, "nobody read kmsg");
    }

    quick(d, &["shutdown"]);
    // The ordered stop, the finale's TERM to everything (all gone at once
    // here), and at most 3 s flushing the stuck log queues.
    let status = within(END_LIMIT, "the namespace to end", || z.d.try_exit());
    assert!(
        ended_by(status, libc::SIGINT),
        "expected a power off (the namespace ended by SIGINT), got {status}"
    );
    assert_eq!(read(&order), "stop app\nstop db\n");
    nothing_survives(&z.d);
}

#[test]
fn pid1_with_no_kernel_log_and_a_full_console_still_supervises_and_stops_in_order() {
    require_namespaces!(
        "pid1_with_no_kernel_log_and_a_full_console_still_supervises_and_stops_in_order"
    );
    pid1_with_stuck_output(|d| (d.path("no-such-dir/kmsg"), None));
}

#[test]
fn pid1_with_a_full_kernel_log_and_a_full_console_still_supervises_and_stops_in_order() {
    require_namespaces!(
        "pid1_with_a_full_kernel_log_and_a_full_console_still_supervises_and_stops_in_order"
    );
    pid1_with_stuck_output(|d| {
        let path = d.path("kmsg.fifo");
        let pipe = StuckPipe::new(&path);
        (path, Some(pipe))
    });
}

/// A daemon that cannot start (here: a regular file where its socket goes)
/// exits 1 promptly even when its stderr is a full pipe nobody reads: the
/// error line is given up after a second rather than blocking for good.
#[test]
fn a_daemon_that_fails_to_start_exits_even_when_stderr_is_full() {
    let d = Daemon::new();
    let fifo = d.path("out.fifo");
    let _stuck = StuckPipe::new(&fifo);
    std::fs::write(&d.socket, "not a socket").expect("a file at the socket path");
    let mut zinit = command_into(&fifo, &[])
        .arg("-s")
        .arg(&d.socket)
        .arg("init")
        .arg("-c")
        .arg(&d.config)
        .spawn()
        .expect("spawn zinit");
    let status = within(Duration::from_secs(10), "zinit to exit", || {
        zinit.try_wait().expect("wait for zinit")
    });
    assert_eq!(status.code(), Some(1), "{status:?}");
    assert_eq!(
        std::fs::read_to_string(&d.socket).unwrap(),
        "not a socket",
        "the file is left alone"
    );
}
