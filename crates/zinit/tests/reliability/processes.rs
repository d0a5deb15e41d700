//! Process-level promises through the real binary: orphans are reaped (1),
//! every exit is counted exactly once even when many die together (2), a
//! recycled pid is never touched (4), crash loops are throttled and cheap
//! (5), children start clean whatever zinit inherited (8), stop timing,
//! probes that are missing, hang or flap, expensive calls that must not
//! delay a restart, and PID 1's signal policy hit twice.

use crate::common::namespace::*;
use crate::common::*;
use serde_json::json;
use std::collections::BTreeMap;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------
// Helpers of this module.

/// `system_metrics`: every service's (restarts, last exit code, pid).
fn metrics(d: &Daemon) -> BTreeMap<String, (u64, Option<i64>, u64)> {
    let reply = d.rpc("system_metrics", json!({}));
    assert!(reply["error"].is_null(), "metrics: {reply}");
    reply["result"]["services"]
        .as_array()
        .expect("services")
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_owned(),
                (
                    s["restarts"].as_u64().unwrap(),
                    s["last_exit_code"].as_i64(),
                    s["pid"].as_u64().unwrap(),
                ),
            )
        })
        .collect()
}

/// A `/proc/PID/status` line's value (`SigBlk`, `SigIgn`, ...).
fn status_field(pid: i32, field: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .map(|v| v.trim().to_owned())
        .unwrap_or_default()
}

/// Open fds of `pid`, sorted.
fn fds_of(pid: i32) -> Vec<i32> {
    let mut fds: Vec<i32> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| {
            dir.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    fds.sort_unstable();
    fds
}

/// Fields 5 and 6 of /proc/PID/stat: (process group, session).
fn group_and_session(pid: i32) -> (i32, i32) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let mut fields = stat.rsplit_once(')').unwrap().1.split_whitespace();
    let pgrp = fields.nth(2).unwrap().parse().unwrap();
    let session = fields.next().unwrap().parse().unwrap();
    (pgrp, session)
}

/// A process's environment as `KEY=VALUE` strings, sorted.
fn environ(pid: i32) -> Vec<String> {
    let raw = std::fs::read(format!("/proc/{pid}/environ")).expect("environ");
    let mut vars: Vec<String> = raw
        .split(|b| *b == 0)
        .filter(|v| !v.is_empty())
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect();
    vars.sort();
    vars
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: i32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    // After the name: state is field 3, utime 14 and stime 15 (1-based).
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_CLK_TCK) as u64 }
}

// ---------------------------------------------------------------------
// Promise 8: a child starts clean whatever zinit inherited.

/// An fd number above the classic `select` limit.
const HIGH_FD: i32 = 1500;

/// Signals zinit's parent sets to SIG_IGN: common ones, SIGCHLD (which
/// would make the kernel reap children behind zinit's back), and glibc's
/// reserved real-time signals (which glibc refuses to touch).
const IGNORED: [i32; 10] = [
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGPIPE,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGCHLD,
    32,
    33,
    40,
];

/// `zinit` as a hostile parent would start it: every signal blocked, the
/// [`IGNORED`] ones ignored, and `/dev/null` leaked (not close-on-exec) as
/// fds 7 and [`HIGH_FD`].
fn hostile_parent(stray: &std::fs::File) -> Command {
    let stray = stray.as_raw_fd();
    let mut command = Command::new(ZINIT);
    // SAFETY: only async-signal-safe calls between fork and exec, on
    // memory that exists before the fork.
    unsafe {
        command.pre_exec(move || {
            let mut limit: libc::rlimit = std::mem::zeroed();
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
            if limit.rlim_cur <= HIGH_FD as libc::rlim_t {
                limit.rlim_cur = limit.rlim_max.min(4096);
                libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
            }
            for fd in [7, HIGH_FD] {
                if libc::dup2(stray, fd) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            // Raw system calls: glibc refuses its reserved signals 32 and
            // 33. An all-zero kernel sigaction but for the handler is
            // SIG_IGN with no flags and an empty mask.
            let ignore: [u64; 4] = [libc::SIG_IGN as u64, 0, 0, 0];
            for sig in IGNORED {
                libc::syscall(
                    libc::SYS_rt_sigaction,
                    sig,
                    ignore.as_ptr(),
                    std::ptr::null_mut::<u64>(),
                    8usize,
                );
            }
            let everything: u64 = !0;
            libc::syscall(
                libc::SYS_rt_sigprocmask,
                libc::SIG_SETMASK,
                &everything as *const u64,
                std::ptr::null_mut::<u64>(),
                8usize,
            );
            Ok(())
        });
    }
    command
}

#[test]
fn a_child_starts_clean_whatever_zinit_inherited() {
    let d = Daemon::new();
    std::fs::write(
        d.path("environment"),
        format!(
            "ZINIT_TEST_MARKER={}\nFROM_FILE=file\nBOTH=file\n",
            d.marker
        ),
    )
    .unwrap();
    let workdir = d.path("work");
    std::fs::create_dir(&workdir).unwrap();
    // The service is `sleep` itself (no shell in between), so its /proc
    // entries show exactly what zinit gave it.
    d.service(
        "clean",
        &format!(
            "exec: \"sleep 1000\"\nenv:\n  OWN: \"42\"\n  BOTH: service\ndir: {}\n",
            workdir.display()
        ),
    );
    let stray = std::fs::File::open("/dev/null").unwrap();
    let mut command = hostile_parent(&stray);
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("FROM_ZINIT", "zinit")
        .env("ZINIT_HTTP_TOKEN", "secret");
    let d = d.start_with(command);
    let zinit = d.pid() as i32;
    // The test really did hand zinit that state (else it proves nothing).
    assert_eq!(status_field(zinit, "SigIgn").len(), 16);
    assert!(fds_of(zinit).contains(&HIGH_FD), "{:?}", fds_of(zinit));

    let pid = d.wait_running("clean") as i32;
    wait_until("the service to exec sleep", || cmdline(pid) == "sleep 1000");
    assert_eq!(status_field(pid, "SigBlk"), "0000000000000000");
    assert_eq!(status_field(pid, "SigIgn"), "0000000000000000");
    assert_eq!(status_field(pid, "SigCgt"), "0000000000000000");
    assert_eq!(fds_of(pid), vec![0, 1, 2], "only stdio");
    assert_eq!(group_and_session(pid), (pid, pid), "own group and session");
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap(),
        workdir
    );
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/fd/0")).unwrap(),
        Path::new("/dev/null")
    );
    // zinit's environment (its token removed) under /etc/environment
    // under the file's `env`; the harness adds ZINIT_LOG.
    let mut expected = vec![
        "BOTH=service".to_owned(),
        "FROM_FILE=file".to_owned(),
        "FROM_ZINIT=zinit".to_owned(),
        "OWN=42".to_owned(),
        format!("PATH={}", std::env::var("PATH").unwrap_or_default()),
        "ZINIT_LOG=debug".to_owned(),
        format!("ZINIT_TEST_MARKER={}", d.marker),
    ];
    expected.sort();
    assert_eq!(environ(pid), expected);
}

#[test]
fn zinit_started_with_signals_blocked_and_sigchld_ignored_still_supervises() {
    let d = Daemon::new();
    let runs = d.path("runs");
    d.service(
        "crashes-once",
        &format!(
            "exec: \"sh -c 'echo run >> {r}; test $(wc -l < {r}) -ge 2 && exec sleep 1000; exit 7'\"\nrestart:\n  delay: 50ms\n",
            r = runs.display()
        ),
    );
    let stray = std::fs::File::open("/dev/null").unwrap();
    let mut d = d.start_with(hostile_parent(&stray));
    // The first run's exit is seen (the kernel did not reap it behind
    // zinit's back) and counted once; the service runs again.
    let (restarts, code, _) = wait_for("the restart after exit 7", || {
        let m = metrics(&d)["crashes-once"];
        (m.2 != 0 && m.0 >= 1).then_some(m)
    });
    assert_eq!((restarts, code), (1, Some(7)), "{}", d.output());
    // SIGTERM, blocked when zinit started, still stops it in order.
    let status = d.terminate();
    assert!(
        status.success(),
        "zinit exited with {status}\n{}",
        d.output()
    );
    nothing_survives(&d);
}

// ---------------------------------------------------------------------
// Stop timing.

#[test]
fn a_service_that_exits_2s_after_term_is_not_killed() {
    let d = Daemon::new();
    let script = script(
        &d,
        "slow",
        "trap 'sleep 2; exit 5' TERM\necho ready\nwhile :; do sleep 0.05; done\n",
    );
    d.service("slow", &sh_service(&script, "shutdown_timeout: 6\n"));
    let d = d.start();
    wait_ready(&d, &["slow"]);
    let pid = d.state("slow").1 as i32;
    let asked = Instant::now();
    d.ok(&["stop", "slow"]);
    let (state, _) = d.wait_state("slow", |s| s != "Running");
    let took = asked.elapsed();
    // Its own exit code, not SIGKILL; after its 2 s, well before 6 s.
    assert_eq!(state, "Error(exited with code 5)", "{}", d.output());
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(5),
        "stopped after {took:?}"
    );
    assert!(!alive(pid));
    assert!(!d.output().contains("sending SIGKILL"), "{}", d.output());
    assert_eq!(metrics(&d)["slow"], (0, Some(5), 0));
    nothing_survives(&d);
}

// ---------------------------------------------------------------------
// Promise 1: orphans are reaped and the service is untouched.

/// 500 subshells, each leaving an orphaned `true` that exits at once,
/// then the service execs into a long sleep.
const ORPHAN_BURST: &str =
    "exec: \"sh -c 'for i in $(seq 500); do (true &) ; done; exec sleep 1000'\"\n";

/// The burst runs under `zinit` (host pid); no zombie stays, the service
/// keeps its pid and was never restarted.
fn a_burst_of_orphans_is_reaped(d: &Daemon, zinit: i32) {
    let pid = d.wait_running("burst");
    let host_pid = within(Duration::from_secs(20), "the service to exec", || {
        children(zinit)
            .into_iter()
            .find(|p| cmdline(*p) == "sleep 1000")
    });
    within(Duration::from_secs(5), "every orphan reaped", || {
        zombies_under(zinit).is_empty().then_some(())
    });
    assert_eq!(d.state("burst"), ("Running".to_owned(), pid));
    assert_eq!(metrics(d)["burst"].0, 0, "restarted\n{}", d.output());
    assert!(alive(host_pid) && alive(zinit));
}

#[test]
fn pid1_reaps_a_burst_of_500_orphans_and_the_service_is_untouched() {
    require_namespaces!("pid1_reaps_a_burst_of_500_orphans_and_the_service_is_untouched");
    let d = Daemon::new();
    d.service("burst", ORPHAN_BURST);
    let ns = Namespace::start(d, &[]);
    a_burst_of_orphans_is_reaped(&ns, ns.zinit);
}

#[test]
fn a_subreaper_reaps_a_burst_of_500_orphans_and_the_service_is_untouched() {
    let d = Daemon::new();
    d.service("burst", ORPHAN_BURST);
    let d = d.start();
    a_burst_of_orphans_is_reaped(&d, d.pid() as i32);
}

// ---------------------------------------------------------------------
// Promise 2: simultaneous deaths, each counted exactly once.

const STORM_SERVICES: usize = 50;
const STORM_ROUNDS: u64 = 100;

/// Whether process `pid` has `path` open.
fn has_open(pid: i32, path: &Path) -> bool {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| {
            dir.flatten()
                .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|l| l == path))
        })
        .unwrap_or(false)
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
}

/// Opened read-write, a FIFO never blocks its opener and keeps readers
/// waiting; dropping the last writer wakes every reader at once with EOF.
fn hold_fifo(path: &Path) -> std::fs::File {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .expect("open fifo")
}

#[test]
fn fifty_services_dying_together_100_times_are_each_counted_once() {
    let d = Daemon::new();
    let dir = d.path("storm");
    std::fs::create_dir(&dir).unwrap();
    // Run n of a service counts its runs in its own file, waits on FIFO n,
    // then exits n. Runs outlast `stable_after`, so restarts are at once.
    let body = format!(
        "c={dir}/count.$1\nn=1\nif [ -e $c ]; then while read l; do n=$((n+1)); done < $c; fi\n\
         echo $n >> $c\nread x < {dir}/fifo.$n\nexit $n\n",
        dir = dir.display()
    );
    let script = script(&d, "storm", &body);
    let names: Vec<String> = (0..STORM_SERVICES).map(|i| format!("s{i:02}")).collect();
    for name in &names {
        d.service(
            name,
            &format!(
                "exec: \"sh {} {name}\"\nlog: null\nrestart:\n  delay: 10ms\n  max_delay: 20ms\n  stable_after: 1ms\n",
                script.display()
            ),
        );
    }
    let fifo = |n: u64| dir.join(format!("fifo.{n}"));
    mkfifo(&fifo(1));
    let mut writer = hold_fifo(&fifo(1));
    let d = d.start();
    let started = Instant::now();
    for round in 1..=STORM_ROUNDS {
        // Every service is in run `round`, waiting on its FIFO, and zinit
        // has counted exactly the round - 1 earlier exits.
        let m = wait_for(&format!("round {round}: all waiting"), || {
            let m = metrics(&d);
            let ready = names.iter().all(|n| {
                let (restarts, _, pid) = m[n];
                restarts >= round - 1 && pid != 0 && has_open(pid as i32, &fifo(round))
            });
            ready.then_some(m)
        });
        for name in &names {
            let expected_code = (round > 1).then_some(round as i64 - 1);
            assert_eq!(
                (m[name].0, m[name].1),
                (round - 1, expected_code),
                "{name} in round {round}\n{}",
                d.output()
            );
        }
        mkfifo(&fifo(round + 1));
        let next = hold_fifo(&fifo(round + 1));
        // All 50 wake and exit at the same instant.
        drop(std::mem::replace(&mut writer, next));
    }
    let m = wait_for("the last round's exits", || {
        let m = metrics(&d);
        names
            .iter()
            .all(|n| m[n].0 == STORM_ROUNDS && m[n].2 != 0)
            .then_some(m)
    });
    for name in &names {
        assert_eq!(m[name].1, Some(STORM_ROUNDS as i64), "{name}");
        let runs = read(&dir.join(format!("count.{name}")));
        assert_eq!(runs.lines().count() as u64, STORM_ROUNDS + 1, "{name}");
    }
    eprintln!(
        "{} deaths in {STORM_ROUNDS} rounds took {:?}",
        STORM_SERVICES as u64 * STORM_ROUNDS,
        started.elapsed()
    );
    assert!(zombies_under(d.pid() as i32).is_empty());
    drop(writer);
}

// ---------------------------------------------------------------------
// Promise 4: a recycled pid is never touched.

/// The pid a process has in the innermost PID namespace it belongs to.
fn ns_pid(host_pid: i32) -> Option<i32> {
    status_field(host_pid, "NSpid")
        .split_whitespace()
        .last()?
        .parse()
        .ok()
}

#[test]
fn a_stranger_with_a_dead_services_pid_is_never_signalled_or_reported() {
    require_namespaces!("a_stranger_with_a_dead_services_pid_is_never_signalled_or_reported");
    let d = Daemon::new();
    // Every run counts as quick and waits 10 minutes to be restarted:
    // once killed, the service stays dead while its pid is free.
    d.service(
        "victim",
        "exec: \"sleep 1000\"\nrestart:\n  delay: 10m\n  stable_after: 1h\n",
    );
    let ns = Namespace::start(d, &[]);
    let dead = ns.wait_running("victim") as i32;
    ns.ok(&["kill", "victim", "SIGKILL"]);
    ns.wait_state("victim", |s| s == "Error(killed by signal SIGKILL)");
    assert_eq!(ns.state("victim").1, 0);

    // A process that belongs to no service forks with ns_last_pid set so
    // its child gets exactly the dead service's pid.
    let got = ns.path("stranger.pid");
    let mut nsenter = Command::new("nsenter")
        .arg("--target")
        .arg(ns.zinit.to_string())
        .args(["--pid", "--mount", "sh", "-c"])
        .arg(format!(
            "echo {} > /proc/sys/kernel/ns_last_pid; sleep 1000 & echo $! > {}; wait",
            dead - 1,
            got.display()
        ))
        .env("ZINIT_TEST_MARKER", &ns.marker)
        .stdin(Stdio::null())
        .spawn()
        .expect("nsenter");
    let taken: i32 = within(Duration::from_secs(5), "the stranger's pid", || {
        read(&got).trim().parse().ok()
    });
    assert_eq!(taken, dead, "the stranger did not get the recycled pid");
    let stranger = within(Duration::from_secs(5), "the stranger on the host", || {
        ns.marked_processes()
            .into_iter()
            .find(|p| cmdline(*p) == "sleep 1000" && ns_pid(*p) == Some(dead))
    });

    // Nothing zinit offers reaches or reports the stranger.
    let out = ns.zinit(&["kill", "victim", "SIGTERM"]);
    assert!(!out.status.success(), "kill of a dead service succeeded");
    let out = ns.zinit(&["kill", "victim", "SIGUSR1"]);
    assert!(!out.status.success());
    let stats = ns.rpc("service_stats", json!(["victim"]));
    assert!(
        !stats.to_string().contains(&format!(":{dead},"))
            && !stats.to_string().contains(&format!(":{dead}}}")),
        "{stats}"
    );
    assert_eq!(ns.state("victim").1, 0);
    let status = ns.ok(&["status", "victim"]);
    assert!(!status.contains(&dead.to_string()), "{status}");
    ns.ok(&["stop", "victim"]);
    ns.wait_state("victim", |s| s.starts_with("Error"));
    // A fresh start gets another pid, and its stop touches only it.
    let fresh = ns.wait_state("victim", |_| true);
    assert_eq!(fresh.1, 0);
    ns.ok(&["start", "victim"]);
    let new = ns.wait_running("victim") as i32;
    assert_ne!(new, dead);
    ns.ok(&["stop", "victim"]);
    ns.wait_state("victim", |s| s != "Running");
    for sig in [libc::SIGTERM, libc::SIGUSR1, libc::SIGKILL] {
        assert!(!pending(stranger, sig), "signal {sig} pending");
    }
    assert!(alive(stranger), "the stranger was killed");
    assert_eq!(process_state(stranger), Some('S'));
    assert_eq!(cmdline(stranger), "sleep 1000");
    signal(stranger, libc::SIGKILL);
    within(Duration::from_secs(5), "nsenter to end", || {
        nsenter.try_wait().ok().flatten()
    });
}

// ---------------------------------------------------------------------
// Promise 5: a crash loop is throttled and cheap.

/// Start times (from 0) of a crash loop that follows `delays` with runs
/// of zero length, up to `elapsed`.
fn scheduled_starts(delays: &[Duration], elapsed: Duration) -> usize {
    let mut at = Duration::ZERO;
    let mut starts = 1;
    for delay in delays {
        at += *delay;
        if at > elapsed {
            break;
        }
        starts += 1;
    }
    starts
}

#[test]
fn a_crash_loop_follows_its_back_off_and_costs_zinit_little_cpu() {
    let d = Daemon::new();
    let starts = d.path("starts");
    d.service(
        "crash",
        &format!("exec: \"sh -c 'echo x >> {}; exit 1'\"\n", starts.display()),
    );
    let d = d.start();
    let zinit = d.pid() as i32;
    wait_until("the first run", || !read(&starts).is_empty());
    let (t0, cpu0) = (Instant::now(), cpu_ticks(zinit));
    within(Duration::from_secs(30), "10 s of crash loop", || {
        (t0.elapsed() >= Duration::from_secs(10)).then_some(())
    });
    let elapsed = t0.elapsed();
    let cpu = cpu_ticks(zinit) - cpu0;
    let runs = read(&starts).lines().count();
    // Default policy: 250 ms doubling, capped at 30 s.
    let delays: Vec<Duration> = (0..10)
        .map(|i| Duration::from_millis(250 << i).min(Duration::from_secs(30)))
        .collect();
    let most = scheduled_starts(&delays, elapsed + Duration::from_millis(50));
    // Each run and spawn may take up to 300 ms more on a loaded machine.
    let slow: Vec<Duration> = delays
        .iter()
        .map(|d| *d + Duration::from_millis(300))
        .collect();
    let least = scheduled_starts(&slow, elapsed);
    assert!(
        (least..=most).contains(&runs),
        "{runs} runs in {elapsed:?}, expected {least}..={most}"
    );
    let cpu_seconds = cpu as f64 / clock_ticks_per_second() as f64;
    assert!(
        cpu_seconds < 0.05 * elapsed.as_secs_f64(),
        "zinit used {cpu_seconds:.2} s of CPU in {elapsed:?}"
    );
    eprintln!("crash loop: {runs} runs, zinit CPU {cpu_seconds:.3} s in {elapsed:?}");
}

// ---------------------------------------------------------------------
// Expensive calls hammered never delay a restart beyond its policy.

#[test]
fn hammering_stats_logs_why_and_metrics_does_not_delay_restarts() {
    let d = Daemon::new();
    let starts = d.path("starts");
    // A constant 200 ms delay between quick failures.
    d.service(
        "crash",
        &format!(
            "exec: \"sh -c 'date +%s%N >> {}; exit 1'\"\nrestart:\n  delay: 200ms\n  max_delay: 200ms\n",
            starts.display()
        ),
    );
    // A full ring makes log snapshots as expensive as they get.
    d.service("chatty", "exec: \"sh -c 'seq 20000; exec sleep 1000'\"\n");
    let d = d.start_args(&["-b", "50000"]);
    d.wait_running("chatty");
    wait_until("the ring to fill", || {
        d.ok(&["log", "-s", "chatty"]).lines().count() >= 20000
    });
    let before = read(&starts).lines().count();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let clients: Vec<_> = (0..4)
        .map(|i| {
            let (stop, calls) = (stop.clone(), calls.clone());
            let socket = d.socket.clone();
            std::thread::spawn(move || {
                let mut conn = RpcConnection::open(&socket);
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let reply = match i {
                        0 => conn.call("service_stats", json!(["chatty"])),
                        1 => conn.call("stream_currentLogs", json!({})),
                        2 => conn.call("service_why", json!(["crash"])),
                        _ => conn.call("system_metrics", json!({})),
                    };
                    assert!(reply["error"].is_null(), "{reply}");
                    calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            })
        })
        .collect();
    let t0 = Instant::now();
    within(Duration::from_secs(30), "5 s of hammering", || {
        (t0.elapsed() >= Duration::from_secs(5)).then_some(())
    });
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for client in clients {
        client.join().expect("client");
    }
    let stamps: Vec<u128> = read(&starts)
        .lines()
        .skip(before)
        .map(|l| l.parse().unwrap())
        .collect();
    let gaps_ms: Vec<u128> = stamps
        .windows(2)
        .map(|w| (w[1] - w[0]) / 1_000_000)
        .collect();
    eprintln!(
        "{} calls; restart gaps under load (ms): {gaps_ms:?}",
        calls.load(std::sync::atomic::Ordering::Relaxed)
    );
    assert!(gaps_ms.len() >= 10, "too few restarts: {gaps_ms:?}");
    // The policy says 200 ms; the run itself (sh and date) and a loaded
    // 2-core machine add some, never the length of a queue of snapshots:
    // each gap within 200 ms + 1 s, and typically within 200 ms + 150 ms.
    for gap in &gaps_ms {
        assert!(
            (190..1200).contains(gap),
            "restart gaps {gaps_ms:?} outside 200 ms + 1 s"
        );
    }
    let mut sorted = gaps_ms.clone();
    sorted.sort_unstable();
    let median = sorted[sorted.len() / 2];
    assert!(median < 350, "median restart gap {median} ms: {gaps_ms:?}");
}

// ---------------------------------------------------------------------
// Test commands that do not exist, hang or flap.

#[test]
fn a_missing_test_command_is_a_clear_test_failure_without_a_loop() {
    let d = Daemon::new();
    d.service(
        "nocheck",
        "exec: \"sleep 1000\"\ntest: \"/nonexistent/check --now\"\ntest_interval: 50ms\n",
    );
    d.service("dependent", "exec: \"sleep 1000\"\nafter: [nocheck]\n");
    d.service("other", "exec: \"sleep 1000\"\n");
    let d = d.start();
    let (state, pid) = d.wait_state("nocheck", |s| s.starts_with("TestFailure"));
    assert_eq!(
        state,
        "TestFailure(executable \"/nonexistent/check\" not found)"
    );
    d.wait_running("other");
    let why = d.ok(&["why", "nocheck"]);
    assert!(why.contains("/nonexistent/check"), "{why}");
    // Not retried in a loop: one error in zinit's log, the service keeps
    // its process, no restart; the dependent waits.
    let t0 = Instant::now();
    within(Duration::from_secs(5), "a second of looking", || {
        (t0.elapsed() >= Duration::from_secs(1)).then_some(())
    });
    assert_eq!(mentions(&d, "test cannot be run"), 1, "{}", d.output());
    assert_eq!(d.state("nocheck").1, pid);
    assert_eq!(metrics(&d)["nocheck"].0, 0);
    assert_eq!(d.state("dependent").0, "Blocked");
}

#[test]
fn a_hanging_test_is_killed_at_its_timeout_and_blocks_nothing() {
    let d = Daemon::new();
    d.service(
        "hangs",
        "exec: \"sleep 1000\"\ntest: \"sleep 1000\"\ntest_timeout: 1s\ntest_interval: 100ms\n",
    );
    d.service("other", "exec: \"sleep 1000\"\n");
    let mut d = d.start();
    d.wait_running("other");
    let (state, pid) = d.state("hangs");
    assert_eq!(state, "Spawned");
    // A probe at a time; each killed at 1 s, then the next after 100 ms.
    let t0 = Instant::now();
    within(Duration::from_secs(10), "3.5 s of probing", || {
        let probes = d
            .marked_processes()
            .into_iter()
            .filter(|p| cmdline(*p) == "sleep 1000" && *p as u64 != pid)
            .count();
        // `sleep 1000` of `other`, and at most one probe.
        assert!(probes <= 2, "{probes} processes: probes pile up");
        (t0.elapsed() >= Duration::from_millis(3500)).then_some(())
    });
    let why = d.ok(&["why", "hangs"]);
    assert!(why.contains("timed out") || why.contains("killed"), "{why}");
    assert_eq!(d.state("hangs"), ("Spawned".to_owned(), pid));
    assert_eq!(metrics(&d)["hangs"].0, 0, "no restart for a test");
    // Shutdown is not held up by the hung probe.
    let asked = Instant::now();
    let status = d.terminate();
    assert!(status.success(), "{status}");
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "shutdown took {:?}",
        asked.elapsed()
    );
    nothing_survives(&d);
}

#[test]
fn a_flapping_test_does_not_make_the_service_restart() {
    let d = Daemon::new();
    let toggle = d.path("toggle");
    // Fails, passes, fails, ... on alternate runs.
    d.service(
        "flappy",
        &format!(
            "exec: \"sleep 1000\"\ntest: \"sh -c 'if [ -e {t} ]; then rm {t}; exit 0; fi; : > {t}; exit 1'\"\ntest_interval: 50ms\n",
            t = toggle.display()
        ),
    );
    d.service("after-flappy", "exec: \"sleep 1000\"\nafter: [flappy]\n");
    let d = d.start();
    let pid = d.wait_running("flappy");
    d.wait_running("after-flappy");
    let t0 = Instant::now();
    within(Duration::from_secs(5), "a second of flapping", || {
        (t0.elapsed() >= Duration::from_secs(1)).then_some(())
    });
    // Once passed, the test is done: no more probes, no restart.
    assert_eq!(d.state("flappy"), ("Running".to_owned(), pid));
    assert_eq!(metrics(&d)["flappy"].0, 0);
    assert!(!toggle.exists(), "probed again after it passed");
}

// ---------------------------------------------------------------------
// PID 1 signal policy, twice in quick succession (machine mode).

fn machine_signal_twice(sig: i32, ended_with: i32) {
    let d = Daemon::new();
    let order = app_after_db(&d);
    let mut ns = Namespace::start(d, &[]);
    wait_ready(&ns, &["db", "app"]);
    ns.signal_zinit(sig);
    ns.signal_zinit(sig);
    let (status, took) = ns.wait_end(END_LIMIT);
    assert!(
        ended_by(status, ended_with),
        "expected reboot(2) ending the namespace by signal {ended_with}, got {status} after \
         {took:?}\n{}",
        ns.output()
    );
    assert_eq!(read(&order), "stop app\nstop db\n", "{}", ns.output());
    nothing_survives(&ns);
}

#[test]
fn machine_sigpwr_twice_is_one_ordered_power_off() {
    require_namespaces!("machine_sigpwr_twice_is_one_ordered_power_off");
    machine_signal_twice(libc::SIGPWR, libc::SIGINT);
}

#[test]
fn machine_sigint_twice_is_one_ordered_reboot() {
    require_namespaces!("machine_sigint_twice_is_one_ordered_reboot");
    machine_signal_twice(libc::SIGINT, libc::SIGHUP);
}
