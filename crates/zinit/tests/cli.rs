//! Every command of the CLI through the real binary against a real
//! `zinit init`: exact output (YAML and `--json`), exit codes and messages
//! (0 ok, 1 refused, 2 usage, 3 daemon unreachable), log snapshot and
//! follow, shutdown and reboot, `init`'s own flags and signals,
//! `ZINIT_SOCKET`, and the quick-start flow on `examples/services`. Shared
//! helpers live here; the tests are split by subject under `cli/`.

mod common;

#[path = "cli/control.rs"]
mod control;
#[path = "cli/daemon.rs"]
mod daemon;
#[path = "cli/exit_codes.rs"]
mod exit_codes;
#[path = "cli/logs.rs"]
mod logs;
#[path = "cli/query.rs"]
mod query;

use common::*;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A service file whose `exec` runs `script` with `sh -c` (the script must
/// not contain single quotes).
fn sh(script: &str) -> String {
    let escaped = script.replace('\\', "\\\\").replace('"', "\\\"");
    format!("exec: \"sh -c '{escaped}'\"\n")
}

/// A service that runs until stopped, and exits 0 on SIGTERM once it has
/// printed `ready`.
const LOOP: &str = "trap \"exit 0\" TERM; echo ready; while true; do sleep 0.05; done";

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Exact exit code, stdout and stderr.
#[track_caller]
fn expect(out: &Output, code: i32, stdout: &str, stderr: &str) {
    assert_eq!(
        (
            out.status.code(),
            text(&out.stdout).as_str(),
            text(&out.stderr).as_str()
        ),
        (Some(code), stdout, stderr)
    );
}

/// Exit 0, nothing on stdout or stderr.
#[track_caller]
fn quiet(out: &Output) {
    expect(out, 0, "", "");
}

/// Exit 0, empty stderr, exactly `stdout`.
#[track_caller]
fn quiet_stdout(out: &Output, stdout: &str) {
    expect(out, 0, stdout, "");
}

/// Exit 1, nothing on stdout, exactly `zinit: MESSAGE` on stderr.
#[track_caller]
fn refused(out: &Output, message: &str) {
    expect(out, 1, "", &format!("zinit: {message}\n"));
}

/// Exit 1, nothing on stdout, and one line on stderr: `zinit: ` and a
/// message holding every one of `parts` (for messages compat.md does not
/// fix word for word).
#[track_caller]
fn refused_with(out: &Output, parts: &[&str]) {
    let stderr = text(&out.stderr);
    assert_eq!(
        (out.status.code(), text(&out.stdout).as_str()),
        (Some(1), ""),
        "{stderr}"
    );
    assert!(stderr.starts_with("zinit: "), "{stderr:?}");
    assert_eq!(stderr.lines().count(), 1, "{stderr:?}");
    for part in parts {
        assert!(stderr.contains(part), "{part:?} not in {stderr:?}");
    }
}

/// Exit 3, and one line saying zinit is not running and naming `socket`.
#[track_caller]
fn unreachable(out: &Output, socket: &Path) {
    let stderr = text(&out.stderr);
    assert_eq!(
        (out.status.code(), text(&out.stdout).as_str()),
        (Some(3), ""),
        "{stderr}"
    );
    let prefix = format!(
        "zinit: zinit is not running: cannot connect to {}: ",
        socket.display()
    );
    assert!(stderr.starts_with(&prefix), "{stderr:?}");
    assert_eq!(stderr.lines().count(), 1, "{stderr:?}");
}

/// Run a command with a deadline (it must not hang), capturing its output.
fn bounded(mut command: Command) -> Output {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = child.id() as i32;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output()));
    match rx.recv_timeout(DEADLINE) {
        Ok(out) => out.expect("wait"),
        Err(_) => {
            signal(pid, libc::SIGKILL);
            panic!("{command:?} did not finish within {DEADLINE:?}");
        }
    }
}

/// `zinit -s SOCKET init -c CONFIG --env-file ENV EXTRA...` for `d`, run to
/// completion (for an `init` that must refuse to start).
fn init_once(d: &Daemon, extra: &[&str]) -> Output {
    bounded(d.init_command(extra))
}

/// The lines of `zinit log -s [NAME]`.
fn snapshot(d: &Daemon, name: Option<&str>) -> Vec<String> {
    let mut args = vec!["log", "-s"];
    args.extend(name);
    let out = d.zinit(&args);
    assert_eq!(
        (out.status.code(), text(&out.stderr).as_str()),
        (Some(0), "")
    );
    text(&out.stdout).lines().map(str::to_owned).collect()
}

/// Wait until the log buffer holds `line`.
fn wait_log(d: &Daemon, line: &str) {
    wait_until(&format!("log line {line:?}"), || {
        snapshot(d, None).iter().any(|l| l == line)
    });
}

fn json_of(stdout: &str) -> Value {
    assert_eq!(
        stdout.lines().count(),
        1,
        "one JSON object per line: {stdout:?}"
    );
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{stdout:?}: {e}"))
}

/// `zinit --json status NAME`, parsed.
fn status_json(d: &Daemon, name: &str) -> Value {
    json_of(&d.ok(&["--json", "status", name]))
}

fn pid_of(d: &Daemon, name: &str) -> i32 {
    status_json(d, name)["pid"].as_i64().expect("pid") as i32
}

/// Wait until `zinit init` exits by itself; it must exit 0, leave no
/// service behind and remove its socket.
fn expect_clean_exit(d: &mut Daemon, status: ExitStatus) {
    assert_eq!(status.code(), Some(0), "{}", d.output());
    assert_eq!(d.marked_processes(), Vec::<i32>::new(), "{}", d.output());
    assert!(!d.socket.exists(), "socket left behind");
}

/// A `zinit log ...` running in the background, its stdout line by line.
struct Follower {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Follower {
    fn start(d: &Daemon, args: &[&str]) -> Follower {
        let mut child = Command::new(ZINIT)
            .arg("-s")
            .arg(&d.socket)
            .arg("log")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn zinit log");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Follower { child, lines }
    }

    /// Read lines until `line` arrives; returns the lines before it.
    fn expect_line(&self, line: &str) -> Vec<String> {
        let deadline = Instant::now() + DEADLINE;
        let mut before = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(got) if got == line => return before,
                Ok(got) => before.push(got),
                Err(e) => panic!("no line {line:?} from zinit log ({e}); got {before:?}"),
            }
        }
    }

    /// Wait for it to exit; its status and stderr.
    fn wait(&mut self) -> (ExitStatus, String) {
        let child = &mut self.child;
        let status = wait_for("zinit log to exit", || child.try_wait().ok().flatten());
        let mut stderr = String::new();
        if let Some(mut err) = child.stderr.take() {
            err.read_to_string(&mut stderr).expect("stderr");
        }
        (status, stderr)
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            signal(self.child.id() as i32, libc::SIGKILL);
            let _ = self.child.wait();
        }
    }
}

/// Leave a socket file at `path` that nobody listens on (as a crashed
/// zinit would).
fn stale_socket(path: &Path) {
    drop(UnixListener::bind(path).expect("bind"));
    // A child forked meanwhile by another test thread holds the listener
    // until it execs: wait until it is really closed.
    wait_until("the stale socket to refuse", || {
        std::os::unix::net::UnixStream::connect(path).is_err()
    });
    assert!(path.exists());
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}
