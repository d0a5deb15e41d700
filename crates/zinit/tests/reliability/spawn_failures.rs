//! Spawns that fail: a missing program, a file that is not executable, a
//! missing `dir`, no file descriptors left (EMFILE, with `prlimit`) and no
//! processes left (EAGAIN from fork, injected with `strace`). Each gives a
//! clear error naming the errno, the service backs off instead of looping,
//! it starts once the fault is gone, and zinit's fd count returns to where
//! it was (nothing leaked per failed spawn).

use crate::common::namespace::*;
use crate::common::*;
use serde_json::json;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A service's (state, restarts) from `system_metrics` and legacy status.
fn state_and_restarts(d: &Daemon, name: &str) -> (String, u64) {
    let reply = d.rpc("system_metrics", json!({}));
    let restarts = reply["result"]["services"]
        .as_array()
        .expect("services")
        .iter()
        .find(|s| s["name"] == name)
        .and_then(|s| s["restarts"].as_u64())
        .expect("restarts");
    (d.state(name).0, restarts)
}

/// Wait until zinit's fd count is back to `baseline`, showing its fds if
/// it never gets there.
#[track_caller]
fn fds_back_to(zinit: i32, baseline: usize) {
    let start = Instant::now();
    while fd_count(zinit) > baseline {
        if start.elapsed() > Duration::from_secs(10) {
            let fds: Vec<_> = std::fs::read_dir(format!("/proc/{zinit}/fd"))
                .unwrap()
                .flatten()
                .map(|e| (e.file_name(), std::fs::read_link(e.path())))
                .collect();
            panic!("zinit's fds did not return to {baseline}: {fds:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A crash-looping service with a constant, short back-off; every run is
/// quick. `log: ring` so each spawn needs its pipes.
const FLAKY: &str =
    "exec: \"sh -c 'exit 1'\"\nrestart:\n  delay: 100ms\n  max_delay: 100ms\n  stable_after: 1h\n";

/// Start a daemon with no services, note its fds, then monitor `flaky`
/// and wait until it has crashed and been restarted twice.
fn daemon_with_flaky() -> (Daemon, usize) {
    let d = Daemon::new().start();
    let zinit = d.pid() as i32;
    // Settled: the first request has been served.
    d.ok(&["list"]);
    let baseline = fd_count(zinit);
    d.service("flaky", FLAKY);
    d.ok(&["monitor", "flaky"]);
    wait_until("flaky to crash-loop", || {
        state_and_restarts(&d, "flaky").1 >= 2
    });
    (d, baseline)
}

/// While a fault holds: `flaky` is in `Failure(...)` with `errno_text`,
/// `why` says so, and over one second it tried at most at its back-off
/// pace (100 ms), not in a hot loop.
fn fails_cleanly_and_backs_off(d: &Daemon, errno_text: &str) {
    let (state, _) = d.wait_state("flaky", |s| s.starts_with("Failure"));
    assert!(state.contains(errno_text), "{state}");
    let why = d.ok(&["why", "flaky"]);
    assert!(why.contains(errno_text), "{why}");
    let (_, before) = state_and_restarts(d, "flaky");
    let t0 = Instant::now();
    within(Duration::from_secs(5), "a second of failures", || {
        (t0.elapsed() >= Duration::from_secs(1)).then_some(())
    });
    let (state, after) = state_and_restarts(d, "flaky");
    assert!(state.starts_with("Failure"), "{state}");
    let attempts = after - before;
    assert!(
        (3..=12).contains(&attempts),
        "{attempts} attempts in {:?} with a 100 ms back-off",
        t0.elapsed()
    );
    wait_until("zinit to log the failed spawn", || {
        d.output().contains("cannot spawn: ")
    });
}

/// After the fault: `flaky` runs (and crashes) again, then, stopped,
/// leaves zinit with the fds it had before it was ever monitored.
fn recovers_and_leaks_nothing(d: &Daemon, baseline: usize) {
    wait_until("flaky to run again", || {
        let output = d.ok(&["log", "-s", "zinit"]);
        let (state, _) = state_and_restarts(d, "flaky");
        state.starts_with("Error") && output.contains("service flaky started")
    });
    let runs = |d: &Daemon| {
        d.ok(&["log", "-s", "zinit"])
            .matches("service flaky started")
            .count()
    };
    let seen = runs(d);
    wait_until("two more runs", || runs(d) >= seen + 2);
    d.ok(&["stop", "flaky"]);
    fds_back_to(d.pid() as i32, baseline);
    assert!(!d.output().contains("panicked"), "{}", d.output());
}

fn prlimit(pid: i32, nofile: &str) {
    let status = Command::new("prlimit")
        .arg("--pid")
        .arg(pid.to_string())
        .arg(format!("--nofile={nofile}"))
        .status()
        .expect("prlimit");
    assert!(status.success(), "prlimit --nofile={nofile}");
}

#[test]
fn no_fds_left_emfile_fails_spawns_cleanly_and_they_recover() {
    require_root!("no_fds_left_emfile_fails_spawns_cleanly_and_they_recover");
    let (d, baseline) = daemon_with_flaky();
    let zinit = d.pid() as i32;
    let original = std::fs::read_to_string(format!("/proc/{zinit}/limits")).unwrap();
    let soft_hard: Vec<String> = original
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap()
        .split_whitespace()
        .skip(3)
        .take(2)
        .map(str::to_owned)
        .collect();
    // With flaky stopped and its pipes closed, leave exactly 3 free fd
    // numbers below the limit (new fds take the lowest free numbers):
    // enough for a control connection, not for a spawn (which needs 7).
    d.ok(&["stop", "flaky"]);
    fds_back_to(zinit, baseline);
    let open: Vec<usize> = std::fs::read_dir(format!("/proc/{zinit}/fd"))
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    let limit = (1..)
        .find(|l| l - open.iter().filter(|fd| *fd < l).count() == 3)
        .unwrap();
    prlimit(zinit, &format!("{limit}:{}", soft_hard[1]));
    d.ok(&["start", "flaky"]);
    fails_cleanly_and_backs_off(&d, "too many open files");
    prlimit(zinit, &format!("{}:{}", soft_hard[0], soft_hard[1]));
    recovers_and_leaks_nothing(&d, baseline);
}

#[test]
fn no_processes_left_eagain_fails_spawns_cleanly_and_they_recover() {
    require_root!("no_processes_left_eagain_fails_spawns_cleanly_and_they_recover");
    if Command::new("strace").arg("-V").output().is_err() {
        assert!(std::env::var_os("CI").is_none(), "CI must install strace");
        eprintln!("skipped: needs strace");
        return;
    }
    let (d, baseline) = daemon_with_flaky();
    let zinit = d.pid() as i32;
    // glibc's fork is the `clone` system call (threads use clone3): every
    // fork of every zinit thread fails with EAGAIN while strace holds on.
    let mut strace = Command::new("strace")
        .args(["-f", "-qq", "-o", "/dev/null", "-e", "trace=clone"])
        .args(["-e", "inject=clone:error=EAGAIN"])
        .arg("-p")
        .arg(zinit.to_string())
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("strace");
    let guard = KillOnDrop(strace.id() as i32);
    fails_cleanly_and_backs_off(&d, "fork failed: try again");
    // Detaching removes the fault.
    drop(guard);
    let _ = strace.wait();
    recovers_and_leaks_nothing(&d, baseline);
}

/// SIGTERM to a helper we started (strace detaches on it), by pid.
struct KillOnDrop(i32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        signal(self.0, libc::SIGTERM);
    }
}

#[test]
fn failed_execs_under_churn_carry_their_errno_and_the_daemon_keeps_answering() {
    let d = Daemon::new();
    let data = d.path("not-executable");
    std::fs::write(&data, "#!/bin/sh\nexit 0\n").unwrap();
    let missing_dir = d.path("no-such-dir");
    for i in 0..5 {
        d.service(&format!("ghost{i}"), "exec: \"/nonexistent/ghost\"\n");
        d.service(
            &format!("denied{i}"),
            &format!("exec: \"{}\"\n", data.display()),
        );
        d.service(
            &format!("nodir{i}"),
            &format!("exec: \"sleep 1000\"\ndir: {}\n", missing_dir.display()),
        );
        // Churn: quick crashes restarted every 20 ms.
        d.service(
            &format!("churn{i}"),
            "exec: \"sh -c 'exit 3'\"\nrestart:\n  delay: 20ms\n  max_delay: 20ms\n  stable_after: 1h\n",
        );
    }
    let d = d.start();
    let zinit = d.pid() as i32;
    let expected = [
        (
            "ghost",
            "executable \"/nonexistent/ghost\" not found".to_owned(),
        ),
        (
            "denied",
            format!(
                "executable \"{}\" is not executable: permission denied",
                data.display()
            ),
        ),
        (
            "nodir",
            format!(
                "cannot enter working directory \"{}\": no such file or directory",
                missing_dir.display()
            ),
        ),
    ];
    let t0 = Instant::now();
    // Two seconds of churn, with operator starts and stops on top; the
    // daemon answers every request throughout.
    let mut round = 0;
    while t0.elapsed() < Duration::from_secs(2) {
        let i = round % 5;
        d.ok(&["stop", &format!("churn{i}")]);
        d.ok(&["start", &format!("ghost{i}")]);
        d.ok(&["start", &format!("churn{i}")]);
        round += 1;
    }
    for i in 0..5 {
        for (kind, message) in &expected {
            let name = format!("{kind}{i}");
            let (state, pid) = d.state(&name);
            assert_eq!(state, format!("Failure({message})"), "{name}");
            assert_eq!(pid, 0);
            let why = d.ok(&["why", &name]);
            assert!(why.contains(message.as_str()), "{why}");
        }
    }
    // Each failure is in zinit's log with its reason.
    let log = d.ok(&["log", "-s", "zinit"]);
    for (kind, message) in &expected {
        assert!(
            log.contains(&format!("service {kind}0: cannot spawn: {message}")),
            "{log}"
        );
    }
    // Back-off, not a hot loop: the doubling delay (250 ms, 500 ms, ...)
    // allows at most a few automatic attempts in these seconds.
    let elapsed = t0.elapsed();
    let reply = d.rpc("system_metrics", json!({}));
    for s in reply["result"]["services"].as_array().unwrap() {
        let name = s["name"].as_str().unwrap();
        if name.starts_with("nodir") || name.starts_with("denied") {
            assert!(
                s["restarts"].as_u64().unwrap() <= 5,
                "{name}: {s} in {elapsed:?}"
            );
        }
    }
    assert!(!d.output().contains("panicked"), "{}", d.output());
    // Stopped, everything gives its fds back: the failing services hold
    // none, and no pipe of a failed spawn is left behind.
    for i in 0..5 {
        for kind in ["ghost", "denied", "nodir", "churn"] {
            d.ok(&["stop", &format!("{kind}{i}")]);
        }
    }
    let idle = Daemon::new().start();
    idle.ok(&["list"]);
    let baseline = fd_count(idle.pid() as i32);
    drop(idle);
    fds_back_to(zinit, baseline);
    assert!(zombies_under(zinit).is_empty());
}
