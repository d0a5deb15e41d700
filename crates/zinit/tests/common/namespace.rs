//! zinit as PID 1 of a private PID namespace (`unshare --pid --fork
//! --mount-proc --kill-child`), and process-table helpers over the host's
//! /proc. Shared by `pid1.rs` and `reliability.rs`.
//!
//! The kernel turns reboot(2) in such a namespace into the end of the
//! namespace, and killing the `unshare` process (by pid) ends it too, so
//! nothing here can touch the machine. The socket lives on the shared
//! filesystem, so the CLI runs from the host; the namespace's processes are
//! visible in the host's /proc (services carry the marker).
#![allow(dead_code)] // each test binary uses a different part

use super::*;
use std::collections::HashMap;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Whether this machine can run zinit as PID 1 of a private namespace (and
/// has `nsenter`, from the same util-linux, to put a process into it).
pub fn namespaces_available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        Command::new("unshare")
            .args(["--pid", "--fork", "--mount-proc", "--kill-child", "true"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
            && Command::new("nsenter")
                .arg("--version")
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
    })
}

/// Return from the test (it passes) when namespaces are not available.
/// Return from the test (it passes) when namespaces are not available,
/// saying so; under CI (`CI` set), which runs as root, fail instead: a
/// skipped promise there would be a hole in the proof.
#[allow(unused_macros)]
macro_rules! require_namespaces {
    ($test:literal) => {
        if !crate::common::namespace::namespaces_available() {
            if std::env::var_os("CI").is_some() {
                panic!("{}: needs root and unshare(1), and CI must run it", $test);
            }
            eprintln!("skipped: {}: needs root and unshare(1)", $test);
            return;
        }
    };
}
#[allow(unused_imports)]
pub(crate) use require_namespaces;

/// Poll `check` until it returns `Some`, or panic after `limit` (shorter
/// than the harness's deadline: these are promises about promptness).
pub fn within<T>(limit: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = check() {
            return v;
        }
        if start.elapsed() > limit {
            panic!("timed out after {limit:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// How long a namespace may take to end once it was told to: the ordered
/// stop of the test's services (well under a second), the grace period
/// after TERM to everything, and slack for a loaded CI machine.
pub const END_LIMIT: Duration = Duration::from_secs(10);

/// zinit as PID 1 of a fresh PID namespace. Derefs to the [`Daemon`]
/// (config dir, socket, CLI, marker), whose child is the `unshare` process.
pub struct Namespace {
    pub d: Daemon,
    /// zinit's pid as seen from the host (the child of `unshare`).
    pub zinit: i32,
    ended: bool,
}

impl Namespace {
    /// Run `unshare ... zinit -s SOCK init -c DIR --env-file F EXTRA` and
    /// wait until the socket answers.
    pub fn start(d: Daemon, extra: &[&str]) -> Namespace {
        let ns = Namespace::spawn(d, extra);
        let socket = ns.socket.clone();
        within(Duration::from_secs(10), "the control socket", || {
            answers(&socket).then_some(())
        });
        ns
    }

    /// Like [`Namespace::start`], without waiting for the socket.
    /// Like [`Namespace::start`], with extra environment for zinit.
    pub fn start_env(d: Daemon, extra: &[&str], env: &[(&str, &str)]) -> Namespace {
        let ns = Namespace::spawn_env(d, extra, env);
        let socket = ns.socket.clone();
        within(Duration::from_secs(10), "the control socket", || {
            answers(&socket).then_some(())
        });
        ns
    }

    pub fn spawn(d: Daemon, extra: &[&str]) -> Namespace {
        Namespace::spawn_env(d, extra, &[])
    }

    /// Like [`Namespace::spawn`], with extra environment for zinit.
    pub fn spawn_env(mut d: Daemon, extra: &[&str], env: &[(&str, &str)]) -> Namespace {
        // zinit as PID 1 logs to /dev/kmsg: here, the host's kernel log.
        // A file of the test's stands in for it (it must exist).
        let kmsg = d.path("kmsg");
        std::fs::write(&kmsg, "").expect("kmsg stand-in");
        let mut unshare = Command::new("unshare");
        unshare
            .args(["--pid", "--fork", "--mount-proc", "--kill-child", ZINIT])
            .env("ZINIT_KMSG", &kmsg)
            .envs(env.iter().copied());
        d.spawn_init_with(unshare, extra);
        let parent = d.pid() as i32;
        let zinit = within(Duration::from_secs(10), "zinit under unshare", || {
            children(parent).into_iter().next()
        });
        Namespace {
            d,
            zinit,
            ended: false,
        }
    }

    /// Signal zinit, PID 1 of the namespace, from the host.
    pub fn signal_zinit(&self, sig: i32) {
        assert!(!self.ended, "the namespace already ended");
        signal(self.zinit, sig);
    }

    /// Wait up to `limit` for the namespace to end; its status (the
    /// `unshare` process's) and how long that took.
    pub fn wait_end(&mut self, limit: Duration) -> (ExitStatus, Duration) {
        let start = Instant::now();
        let deadline = start + limit;
        loop {
            if let Some(status) = self.d.try_exit() {
                self.ended = true;
                return (status, start.elapsed());
            }
            if Instant::now() > deadline {
                panic!(
                    "the namespace did not end within {limit:?}\nzinit's output:\n{}",
                    self.output()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Whether the namespace (its `unshare` process) is still there.
    pub fn running(&mut self) -> bool {
        if self.ended {
            return false;
        }
        if self.d.try_exit().is_some() {
            self.ended = true;
        }
        !self.ended
    }

    /// A process that joins the namespace from outside (`nsenter`), so it
    /// belongs to no service: only zinit's TERM to every process reaches it.
    pub fn enter(&self, script: &Path) -> std::process::Child {
        Command::new("nsenter")
            .arg("--target")
            .arg(self.zinit.to_string())
            .arg("--pid")
            .arg("sh")
            .arg(script)
            .env("ZINIT_TEST_MARKER", &self.marker)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn nsenter")
    }
}

impl std::ops::Deref for Namespace {
    type Target = Daemon;
    fn deref(&self) -> &Daemon {
        &self.d
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        // `unshare` blocks SIGTERM, so the harness's guard would wait its
        // whole deadline. SIGKILL makes `--kill-child` end the namespace;
        // the guard then reaps it and kills any marked survivor. Only while
        // unreaped: its pid cannot have been recycled.
        if self.running() {
            signal(self.d.pid() as i32, libc::SIGKILL);
        }
    }
}

/// One line of /proc/PID/stat, split: (state, ppid).
pub fn stat(pid: i32) -> Option<(char, i32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

/// Every process on the host: pid -> (state, ppid).
pub fn process_table() -> HashMap<i32, (char, i32)> {
    let mut table = HashMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return table;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        if let Some(s) = stat(pid) {
            table.insert(pid, s);
        }
    }
    table
}

/// Children of `parent` (any state), by scanning /proc.
pub fn children(parent: i32) -> Vec<i32> {
    let mut found: Vec<i32> = process_table()
        .into_iter()
        .filter(|(_, (_, ppid))| *ppid == parent)
        .map(|(pid, _)| pid)
        .collect();
    found.sort_unstable();
    found
}

/// Zombies among the descendants of `root` (a zombie's environment is
/// gone, so the marker cannot find them: the process tree does).
pub fn zombies_under(root: i32) -> Vec<i32> {
    let table = process_table();
    let mut zombies = Vec::new();
    let mut stack = vec![root];
    while let Some(parent) = stack.pop() {
        for (pid, (state, ppid)) in &table {
            if *ppid == parent {
                stack.push(*pid);
                if *state == 'Z' {
                    zombies.push(*pid);
                }
            }
        }
    }
    zombies
}

/// A process's command line, arguments joined by spaces.
pub fn cmdline(pid: i32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|raw| {
            raw.split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// Write `body` as a shell script in the test's directory; its path.
pub fn script(d: &Daemon, name: &str, body: &str) -> PathBuf {
    let path = d.path(&format!("{name}.sh"));
    std::fs::write(&path, body).expect("script");
    path
}

/// A service file that runs a script with `sh`.
pub fn sh_service(script: &Path, more: &str) -> String {
    format!("exec: \"sh {}\"\n{more}", script.display())
}

/// A script that runs until stopped, appending `stop NAME` to `order` when
/// it gets SIGTERM (after `linger`, so a wrongly parallel stop of what it
/// depends on would be seen first).
pub fn recorder(d: &Daemon, name: &str, order: &Path, linger: &str) -> PathBuf {
    script(
        d,
        name,
        &format!(
            "trap 'sleep {linger}; echo stop {name} >> {o}; exit 0' TERM\n\
             echo ready\n\
             while :; do sleep 0.05; done\n",
            o = order.display()
        ),
    )
}

/// `app` after `db`, both recording their stop in `d.path("order")`.
pub fn app_after_db(d: &Daemon) -> PathBuf {
    let order = d.path("order");
    let db = recorder(d, "db", &order, "0");
    let app = recorder(d, "app", &order, "0.3");
    d.service("db", &sh_service(&db, ""));
    d.service("app", &sh_service(&app, "after: [db]\n"));
    order
}

/// A file's content, empty if it does not exist.
pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Whether a process ended by signal `sig`, or exited 128+`sig` (util-linux's
/// `unshare` reports a child killed by a signal either way).
pub fn ended_by(status: ExitStatus, sig: i32) -> bool {
    status.signal() == Some(sig) || status.code() == Some(128 + sig)
}

/// Lines of zinit's output that mention `word` (case-insensitive).
pub fn mentions(d: &Daemon, word: &str) -> usize {
    let word = word.to_lowercase();
    d.output()
        .lines()
        .filter(|l| l.to_lowercase().contains(&word))
        .count()
}

/// Nothing of the test survives (the marker finds services, their
/// children and the processes the test put into the namespace).
#[track_caller]
pub fn nothing_survives(d: &Daemon) {
    let left = d.marked_processes();
    assert!(
        left.is_empty(),
        "left running: {:?}",
        left.iter().map(|p| (p, cmdline(*p))).collect::<Vec<_>>()
    );
}

/// Whether `sig` is pending for the process (thread or shared queue).
pub fn pending(pid: i32, sig: i32) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let bit = 1u64 << (sig - 1);
    status
        .lines()
        .filter(|l| l.starts_with("SigPnd:") || l.starts_with("ShdPnd:"))
        .filter_map(|l| u64::from_str_radix(l.split_whitespace().nth(1)?, 16).ok())
        .any(|mask| mask & bit != 0)
}

/// How many times service `name` (a [`recorder`]) said it was ready, i.e.
/// had its TERM trap in place.
pub fn readies(d: &Daemon, name: &str) -> usize {
    let line = format!("[+] {name}: ready");
    d.ok(&["log", "-s", name])
        .lines()
        .filter(|l| *l == line)
        .count()
}

/// Wait until each [`recorder`] in `names` runs with its trap in place.
#[track_caller]
pub fn wait_ready(d: &Daemon, names: &[&str]) {
    for name in names {
        d.wait_running(name);
        wait_for(&format!("{name} to be ready"), || {
            (readies(d, name) > 0).then_some(())
        });
    }
}

/// `stop NAME`, wait until its process is gone, `start NAME`, wait until it
/// is ready again (a [`recorder`]): both accepted, so zinit is not shutting
/// down.
#[track_caller]
pub fn stop_and_start(d: &Daemon, name: &str) {
    let before = readies(d, name);
    d.ok(&["stop", name]);
    wait_for(&format!("{name} to stop"), || {
        (d.state(name).1 == 0).then_some(())
    });
    d.ok(&["start", name]);
    wait_for(&format!("{name} to be ready again"), || {
        (d.state(name).0 == "Running" && readies(d, name) > before).then_some(())
    });
}

/// Whether the tests run as root (needed for cgroup mounts, `ns_last_pid`,
/// `setpriv`, `ip netns`, `prlimit` on another process, `strace -p`).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Return from the test (it passes) when not root, saying so; under CI
/// (`CI` set), which runs as root, fail instead.
#[allow(unused_macros)]
macro_rules! require_root {
    ($test:literal) => {
        if !crate::common::namespace::is_root() {
            if std::env::var_os("CI").is_some() {
                panic!("{}: needs root, and CI must run it", $test);
            }
            eprintln!("skipped: {}: needs root", $test);
            return;
        }
    };
}
#[allow(unused_imports)]
pub(crate) use require_root;

/// How many file descriptors process `pid` has open now.
pub fn fd_count(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// A `/proc/PID/status` field in kB (`VmRSS`, `VmHWM`), if present.
pub fn status_kb(pid: i32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}
