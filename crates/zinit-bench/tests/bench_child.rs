//! bench-child as the supervisors see it: notification, modes, lines.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::net::UnixDatagram;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const CHILD: &str = env!("CARGO_BIN_EXE_bench-child");

struct Notify {
    dir: tempfile::TempDir,
    socket: UnixDatagram,
}

impl Notify {
    fn new() -> Notify {
        let dir = tempfile::tempdir().unwrap();
        let socket = UnixDatagram::bind(dir.path().join("notify.sock")).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        Notify { dir, socket }
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(CHILD);
        cmd.env("BENCH_NOTIFY", self.dir.path().join("notify.sock"))
            .env_remove("BENCH_MODE");
        cmd
    }

    fn recv(&self) -> String {
        let mut buf = [0u8; 512];
        let n = self.socket.recv(&mut buf).expect("a notification");
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }
}

fn terminate(mut child: Child) {
    // Blocked in pause(): the kernel shows it sleeping (state S), not
    // running towards an exit. Polled with a deadline, no fixed wait.
    let deadline = Instant::now() + Duration::from_secs(5);
    while process_state(child.id()) != Some('S') {
        assert!(
            child.try_wait().unwrap().is_none(),
            "sleep mode exited early"
        );
        assert!(Instant::now() < deadline, "bench-child never went to sleep");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "sleep mode exited early"
    );
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let status = wait_at_most(&mut child, Duration::from_secs(5));
    assert_eq!(status.signal(), Some(libc::SIGTERM), "{status}");
}

/// The state letter of /proc/PID/stat (`S` sleeping, `R` running, ...).
fn process_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(") ")?.1.chars().next()
}

/// Waits for `child`, killing it and failing the test after `limit`.
fn wait_at_most(child: &mut Child, limit: Duration) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("bench-child did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn notifies_id_from_argv_and_pid_then_pauses_until_sigterm() {
    let notify = Notify::new();
    let child = notify.command().arg("svc-7").spawn().unwrap();
    assert_eq!(notify.recv(), format!("svc-7 {}", child.id()));
    terminate(child);
}

#[test]
fn id_defaults_to_the_basename_of_the_working_directory() {
    let notify = Notify::new();
    let service_dir = notify.dir.path().join("my-service");
    std::fs::create_dir(&service_dir).unwrap();
    let child = notify
        .command()
        .env("BENCH_MODE", "sleep")
        .current_dir(&service_dir)
        .spawn()
        .unwrap();
    assert_eq!(notify.recv(), format!("my-service {}", child.id()));
    terminate(child);
}

#[test]
fn sigterm_ends_sleep_even_if_ignored_and_blocked_by_the_parent() {
    let notify = Notify::new();
    let mut cmd = notify.command();
    cmd.arg("stubborn");
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGTERM, libc::SIG_IGN);
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGTERM);
            libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            Ok(())
        });
    }
    let child = cmd.spawn().unwrap();
    assert_eq!(notify.recv(), format!("stubborn {}", child.id()));
    terminate(child);
}

#[test]
fn exit_mode_notifies_and_exits_zero() {
    let notify = Notify::new();
    let mut child = notify
        .command()
        .arg("quick")
        .env("BENCH_MODE", "exit")
        .spawn()
        .unwrap();
    let pid = child.id();
    assert!(child.wait().unwrap().success());
    assert_eq!(notify.recv(), format!("quick {pid}"));
}

#[test]
fn exit_mode_without_a_listener_still_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new(CHILD)
        .env("BENCH_MODE", "exit")
        .env("BENCH_NOTIFY", dir.path().join("nobody.sock"))
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(status.status.success());
    assert!(status.stderr.is_empty());
}

#[test]
fn lines_mode_writes_exact_100_byte_counted_lines_and_exits_quietly_on_epipe() {
    let mut child = Command::new(CHILD)
        .env("BENCH_MODE", "lines")
        .env_remove("BENCH_NOTIFY")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = Vec::new();
    for i in 1..=5000u64 {
        line.clear();
        out.read_until(b'\n', &mut line).unwrap();
        assert_eq!(
            line.len(),
            100,
            "line {i}: {:?}",
            String::from_utf8_lossy(&line)
        );
        assert!(line.ends_with(b"\n"));
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
        let text = std::str::from_utf8(&line).unwrap();
        let counter: u64 = text.split_whitespace().nth(1).unwrap().parse().unwrap();
        assert_eq!(counter, i);
    }
    drop(out);
    let status = wait_at_most(&mut child, Duration::from_secs(5));
    assert_eq!(status.code(), Some(0), "{status}");
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(err, "");
}

#[test]
fn unknown_mode_is_refused() {
    let out = Command::new(CHILD)
        .env("BENCH_MODE", "dance")
        .env_remove("BENCH_NOTIFY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("dance"));
}
