//! Promises 9 and 10: dependency cycles and missing dependencies are
//! reported and never hang start or shutdown; shutdown is ordered
//! (dependents first), parallel where the graph allows, and bounded by the
//! timeouts along the deepest chain. Each case runs twice: `zinit shutdown`
//! to a daemon, and SIGTERM to zinit as PID 1 of a namespace (container
//! mode).
//!
//! Elsewhere: `lifecycle::cycles_are_blocked_and_named` and
//! `lifecycle::a_missing_dependency_blocks_until_it_is_monitored` (start),
//! `lifecycle::services_start_in_dependency_order_and_stop_in_reverse` and
//! `pid1::container::*` (a two-service order), and the core's
//! `supervisor::tests::stop_order` (every graph, cycles with running
//! members included, against the definition).

use crate::common::namespace::*;
use crate::common::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// How the test asks zinit to shut down.
#[derive(Clone, Copy, Debug)]
enum How {
    /// `zinit shutdown` to zinit running as a daemon (not PID 1).
    DaemonShutdown,
    /// SIGTERM to zinit as PID 1 of a namespace (`--container`).
    ContainerSigterm,
}

/// zinit started the way `how` needs, as a `Namespace` either way (for a
/// daemon, a plain child of the test wrapped so both end the same way).
enum Zinit {
    Daemon(Daemon),
    Pid1(Namespace),
}

impl Zinit {
    fn start(d: Daemon, how: How) -> Zinit {
        match how {
            How::DaemonShutdown => Zinit::Daemon(d.start()),
            How::ContainerSigterm => Zinit::Pid1(Namespace::start(d, &["--container"])),
        }
    }

    fn d(&self) -> &Daemon {
        match self {
            Zinit::Daemon(d) => d,
            Zinit::Pid1(ns) => ns,
        }
    }

    /// Ask for the shutdown; the instant it was asked.
    fn shut_down(&self, how: How) -> Instant {
        let asked = Instant::now();
        match (how, self) {
            (How::DaemonShutdown, Zinit::Daemon(d)) => {
                d.ok(&["shutdown"]);
            }
            (How::ContainerSigterm, Zinit::Pid1(ns)) => ns.signal_zinit(libc::SIGTERM),
            _ => unreachable!(),
        }
        asked
    }

    /// zinit's exit status if it has ended (reaping it).
    fn ended(&mut self) -> Option<std::process::ExitStatus> {
        match self {
            Zinit::Daemon(d) => d.try_exit(),
            Zinit::Pid1(ns) => ns.d.try_exit(),
        }
    }

    /// Poll until zinit has ended, at most [`END_LIMIT`] after `asked`,
    /// calling `watch` on every poll (to time other processes meanwhile);
    /// its exit status and how long after `asked` it ended.
    fn wait_end(
        &mut self,
        asked: Instant,
        what: &str,
        mut watch: impl FnMut(),
    ) -> (std::process::ExitStatus, Duration) {
        loop {
            watch();
            if let Some(status) = self.ended() {
                return (status, asked.elapsed());
            }
            assert!(
                asked.elapsed() < END_LIMIT,
                "{what} (limit {END_LIMIT:?})\n{}",
                self.d().output()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// A service that, on TERM, records `start NAME <ns>` and, after `linger`
/// seconds, `end NAME <ns>` (wall clock, nanoseconds) in `log`.
fn lingering(d: &Daemon, name: &str, log: &Path, linger: &str) -> std::path::PathBuf {
    script(
        d,
        name,
        &format!(
            "trap 'echo start {name} $(date +%s%N) >> {l}; sleep {linger}; \
             echo end {name} $(date +%s%N) >> {l}; exit 0' TERM\n\
             echo ready\n\
             while :; do sleep 0.05; done\n",
            l = log.display()
        ),
    )
}

/// `start`/`end` times (ns) per service from the stop log.
fn stop_times(log: &Path) -> BTreeMap<String, (u128, u128)> {
    let mut starts = BTreeMap::new();
    let mut ends = BTreeMap::new();
    for line in read(log).lines() {
        let parts: Vec<&str> = line.split(' ').collect();
        assert_eq!(parts.len(), 3, "bad stop log line {line:?}");
        let at: u128 = parts[2].parse().expect("a time");
        let into = if parts[0] == "start" {
            &mut starts
        } else {
            &mut ends
        };
        assert!(
            into.insert(parts[1].to_owned(), at).is_none(),
            "{line:?} twice"
        );
    }
    assert_eq!(starts.len(), ends.len(), "{}", read(log));
    starts
        .into_iter()
        .map(|(name, start)| {
            let end = ends[&name];
            (name, (start, end))
        })
        .collect()
}

const CHAIN: [&str; 3] = ["a", "b", "c"];
const INDEPENDENT: [&str; 5] = ["i1", "i2", "i3", "i4", "i5"];
/// How long each chain member and independent service takes to exit
/// after TERM, in seconds.
const LINGER: f64 = 1.0;
/// The TERM-ignoring service's `shutdown_timeout`.
const STUBBORN_TIMEOUT: Duration = Duration::from_secs(2);

fn ordered_parallel_bounded(how: How) {
    let d = Daemon::new();
    let log = d.path("stops");
    let linger = format!("{LINGER}");
    for (i, name) in CHAIN.iter().enumerate() {
        let body = lingering(&d, name, &log, &linger);
        // c after b after a: c stops first.
        let after = match i {
            0 => String::new(),
            _ => format!("after: [{}]\n", CHAIN[i - 1]),
        };
        d.service(name, &sh_service(&body, &after));
    }
    for name in INDEPENDENT {
        let body = lingering(&d, name, &log, &linger);
        d.service(name, &sh_service(&body, ""));
    }
    let stubborn = script(
        &d,
        "stubborn",
        "trap '' TERM\necho ready\nwhile :; do sleep 0.05; done\n",
    );
    d.service(
        "stubborn",
        &sh_service(
            &stubborn,
            &format!("shutdown_timeout: {}\n", STUBBORN_TIMEOUT.as_secs()),
        ),
    );
    let mut z = Zinit::start(d, how);
    let mut all: Vec<&str> = CHAIN.to_vec();
    all.extend(INDEPENDENT);
    all.push("stubborn");
    wait_ready(z.d(), &all);
    // Its pid as the host sees it (zinit as PID 1 reports the namespace's).
    let stubborn_pid = within(Duration::from_secs(5), "stubborn's process", || {
        let found: Vec<i32> = z
            .d()
            .marked_processes()
            .into_iter()
            .filter(|p| cmdline(*p).ends_with("stubborn.sh"))
            .collect();
        (found.len() == 1).then(|| found[0])
    });

    let asked = z.shut_down(how);
    let mut stubborn_gone = None;
    let (status, took) = z.wait_end(asked, &format!("{how:?}: zinit did not end"), || {
        if stubborn_gone.is_none() && !alive(stubborn_pid) {
            stubborn_gone = Some(asked.elapsed());
        }
    });
    let output = z.d().output();
    let stubborn_gone = stubborn_gone.unwrap_or(took);
    match how {
        How::DaemonShutdown => assert!(status.success(), "{status}\n{output}"),
        // Container mode reports that a service had to be SIGKILLed.
        How::ContainerSigterm => assert_eq!(status.code(), Some(1), "{status}\n{output}"),
    }

    eprintln!("{how:?}: shutdown took {took:?}, the TERM-ignorer was gone after {stubborn_gone:?}");
    let times = stop_times(&log);
    let mut expected: Vec<&str> = CHAIN.to_vec();
    expected.extend(INDEPENDENT);
    expected.sort_unstable();
    assert_eq!(
        times.keys().map(String::as_str).collect::<Vec<_>>(),
        expected,
        "every polite service stopped by itself\n{output}"
    );
    // Ordered: c is gone before b is told, b before a.
    for pair in ["c", "b", "a"].windows(2) {
        let (dependent, dependency) = (&times[pair[0]], &times[pair[1]]);
        assert!(
            dependent.1 <= dependency.0,
            "{} got TERM before {} had stopped: {times:?}",
            pair[1],
            pair[0]
        );
    }
    // Parallel: the independents and c all got TERM at the outset, together
    // (each had stopped before any other took its second).
    let first_wave: Vec<&(u128, u128)> = INDEPENDENT
        .iter()
        .map(|n| &times[*n])
        .chain([&times["c"]])
        .collect();
    let latest_start = first_wave.iter().map(|t| t.0).max().unwrap();
    let earliest_end = first_wave.iter().map(|t| t.1).min().unwrap();
    assert!(
        latest_start < earliest_end,
        "the first wave was not stopped in parallel: {times:?}"
    );
    // Bounded: at least the chain's three lingers, and well under the
    // serial sum of everything (3 + 5 lingers + the 2 s timeout = 10 s):
    // the chain plus slack for a loaded machine.
    let chain = Duration::from_secs_f64(LINGER * CHAIN.len() as f64);
    assert!(took >= chain, "{how:?}: shutdown took {took:?} < {chain:?}");
    let bound = chain + Duration::from_secs(3);
    assert!(
        took < bound,
        "{how:?}: shutdown took {took:?}, bound {bound:?}: {times:?}\n{output}"
    );
    // The TERM-ignorer is SIGKILLed at its timeout, not before, not much
    // later (it was told at the outset: nothing depends on it).
    assert!(
        stubborn_gone >= STUBBORN_TIMEOUT
            && stubborn_gone < STUBBORN_TIMEOUT + Duration::from_millis(1500),
        "{how:?}: stubborn was gone after {stubborn_gone:?}, timeout {STUBBORN_TIMEOUT:?}"
    );
    nothing_survives(z.d());
}

#[test]
fn daemon_shutdown_is_ordered_parallel_and_bounded() {
    ordered_parallel_bounded(How::DaemonShutdown);
}

#[test]
fn pid1_sigterm_shutdown_is_ordered_parallel_and_bounded() {
    require_namespaces!("pid1_sigterm_shutdown_is_ordered_parallel_and_bounded");
    ordered_parallel_bounded(How::ContainerSigterm);
}

/// The reason `status` gives for a blocked service.
fn reason(d: &Daemon, name: &str) -> (String, String) {
    let status = d.legacy(&format!("status {name}"));
    assert_eq!(status["state"], "ok", "{status}");
    (
        status["body"]["state"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        status["body"]["reason"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

fn cycles_and_missing(how: How) {
    let d = Daemon::new();
    let order = d.path("order");
    // A 2-cycle, a 3-cycle, one after a service that does not exist, one
    // after a member of a cycle, and two healthy services.
    d.service("x1", "exec: \"sleep 1000\"\nafter: [x2]\n");
    d.service("x2", "exec: \"sleep 1000\"\nafter: [x1]\n");
    d.service("y1", "exec: \"sleep 1000\"\nafter: [y2]\n");
    d.service("y2", "exec: \"sleep 1000\"\nafter: [y3]\n");
    d.service("y3", "exec: \"sleep 1000\"\nafter: [y1]\n");
    d.service("orphan", "exec: \"sleep 1000\"\nafter: [ghost]\n");
    d.service("behind", "exec: \"sleep 1000\"\nafter: [x1]\n");
    for name in ["h1", "h2"] {
        let body = recorder(&d, name, &order, "0");
        d.service(name, &sh_service(&body, ""));
    }
    let mut z = Zinit::start(d, how);
    let d = z.d();
    wait_ready(d, &["h1", "h2"]);

    let two = "dependency cycle: x1 -> x2 -> x1";
    let three = "dependency cycle: y1 -> y2 -> y3 -> y1";
    let why_two = "dependency cycle x1 -> x2 -> x1; none of them can start";
    let why_three = "dependency cycle y1 -> y2 -> y3 -> y1; none of them can start";
    // (name, status reason, the start of `zinit why`'s words after "is Blocked: ")
    let expected = [
        ("x1", two, why_two),
        ("x2", two, why_two),
        ("y1", three, why_three),
        ("y2", three, why_three),
        ("y3", three, why_three),
        (
            "orphan",
            "waiting for ghost (not monitored)",
            "waiting for ghost, which is not monitored",
        ),
        (
            "behind",
            "waiting for x1 (Blocked)",
            "waiting for x1, which is Blocked: dependency cycle x1 -> x2 -> x1",
        ),
    ];
    for (name, status_reason, why) in expected {
        assert_eq!(
            reason(d, name),
            ("Blocked".to_owned(), status_reason.to_owned()),
            "{name}"
        );
        assert_eq!(d.state(name).1, 0, "{name} must have no process");
        let words = d.ok(&["why", name]);
        assert!(
            words.starts_with(&format!("{name} is Blocked: {why}")),
            "why {name}: {words}"
        );
    }
    for cycle in [two, three] {
        wait_until("the cycle in the daemon log", || d.output().contains(cycle));
    }
    for name in ["h1", "h2"] {
        assert_eq!(reason(d, name).0, "Running");
    }

    let asked = z.shut_down(how);
    let (status, took) = z.wait_end(
        asked,
        &format!("{how:?}: a blocked graph held the shutdown"),
        || {},
    );
    assert!(status.success(), "{how:?}: {status}\n{}", z.d().output());
    // Two services that stop at once: nothing to wait for.
    assert!(took < Duration::from_secs(3), "{how:?}: took {took:?}");
    let mut stopped: Vec<String> = read(&order).lines().map(str::to_owned).collect();
    stopped.sort();
    assert_eq!(stopped, ["stop h1", "stop h2"]);
    nothing_survives(z.d());
}

#[test]
fn daemon_cycles_and_missing_dependencies_block_only_themselves_and_never_hang_shutdown() {
    cycles_and_missing(How::DaemonShutdown);
}

#[test]
fn pid1_cycles_and_missing_dependencies_block_only_themselves_and_never_hang_shutdown() {
    require_namespaces!(
        "pid1_cycles_and_missing_dependencies_block_only_themselves_and_never_hang_shutdown"
    );
    cycles_and_missing(How::ContainerSigterm);
}

/// Promise 1 at the very end: as PID 1 of a machine, after the ordered
/// stop, the kernel refuses reboot(2) (EPERM injected with `strace`).
/// zinit must not exit (the kernel would panic): it keeps reaping orphans
/// for good, and says why on the kernel log although its log output was
/// flushed and closed right before reboot(2).
#[test]
fn pid1_keeps_reaping_when_the_kernel_refuses_to_power_off() {
    require_namespaces!("pid1_keeps_reaping_when_the_kernel_refuses_to_power_off");
    let have_strace = std::process::Command::new("strace")
        .arg("-V")
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !have_strace {
        assert!(
            std::env::var_os("CI").is_none(),
            "strace is needed and CI must have it"
        );
        eprintln!("skipped: needs strace");
        return;
    }
    let d = Daemon::new();
    let order = app_after_db(&d);
    let mut ns = Namespace::start(d, &[]);
    wait_ready(&ns, &["db", "app"]);
    let trace = ns.path("strace");
    let mut strace = std::process::Command::new("strace")
        .args([
            "-f",
            "-qq",
            "-e",
            "trace=reboot",
            "-e",
            "inject=reboot:error=EPERM",
        ])
        .arg("-o")
        .arg(&trace)
        .arg("-p")
        .arg(ns.zinit.to_string())
        .stdin(std::process::Stdio::null())
        .spawn()
        .expect("strace");
    within(Duration::from_secs(10), "strace to attach", || {
        (status_kb(ns.zinit, "TracerPid").is_some_and(|t| t != 0)).then_some(())
    });

    ns.ok(&["shutdown"]);
    within(Duration::from_secs(15), "reboot(2) to be refused", || {
        read(&trace).contains("(INJECTED)").then_some(())
    });
    assert!(read(&trace).contains("= -1 EPERM"), "{}", read(&trace));
    let kmsg = ns.path("kmsg");
    within(Duration::from_secs(5), "zinit's last words on kmsg", || {
        read(&kmsg)
            .contains("<3>zinit: reboot(2) failed: EPERM")
            .then_some(())
    });
    assert_eq!(read(&order), "stop app\nstop db\n", "{}", ns.output());
    assert!(ns.running(), "zinit as PID 1 exited\n{}", ns.output());

    // Orphans still get reaped: a process joins the namespace and leaves
    // three short-lived children to zinit.
    let orphans = script(
        &ns,
        "orphans",
        "sleep 0.3 &\nsleep 0.3 &\nsleep 0.3 &\nexit 0\n",
    );
    let mut nsenter = ns.enter(&orphans);
    within(Duration::from_secs(5), "nsenter to exit", || {
        nsenter.try_wait().ok().flatten()
    });
    within(
        Duration::from_secs(10),
        "the orphans to end and be reaped",
        || (ns.marked_processes().is_empty() && zombies_under(ns.zinit).is_empty()).then_some(()),
    );
    assert!(ns.running(), "zinit as PID 1 exited\n{}", ns.output());
    assert!(alive(ns.zinit));
    signal(strace.id() as i32, libc::SIGTERM);
    strace.wait().expect("reap strace");
}

/// Promise 1 when the supervisor itself fails (a bug, injected in debug
/// builds with `ZINIT_FAULT_PANIC_ON_START`): zinit as PID 1 of a machine
/// does not exit (the kernel would panic). It says so, and goes on reaping:
/// orphans, and the services it can no longer supervise when they end.
#[test]
fn pid1_keeps_reaping_when_the_supervisor_itself_fails() {
    require_namespaces!("pid1_keeps_reaping_when_the_supervisor_itself_fails");
    let d = Daemon::new();
    let order = app_after_db(&d);
    d.service("boom", "exec: \"sleep 1000\"\noneshot: true\n");
    let mut ns = Namespace::start_env(d, &[], &[("ZINIT_FAULT_PANIC_ON_START", "boom")]);
    wait_ready(&ns, &["db", "app"]);
    // The actor panics on this command; the client sees the connection end.
    let _ = ns.zinit(&["start", "boom"]);
    within(
        Duration::from_secs(10),
        "zinit to say it only reaps now",
        || (mentions(&ns, "keeps reaping orphans") > 0).then_some(()),
    );
    assert!(ns.running(), "zinit as PID 1 exited\n{}", ns.output());
    assert_eq!(read(&order), "", "nothing was stopped: {}", ns.output());

    // Orphans still get reaped.
    let orphans = script(
        &ns,
        "orphans",
        "sleep 0.3 &\nsleep 0.3 &\nsleep 0.3 &\nexit 0\n",
    );
    let mut nsenter = ns.enter(&orphans);
    within(Duration::from_secs(5), "nsenter to exit", || {
        nsenter.try_wait().ok().flatten()
    });
    let orphans_gone = || {
        let table = process_table();
        let sleeping = ns
            .marked_processes()
            .into_iter()
            .any(|pid| cmdline(pid) == "sleep 0.3");
        (!sleeping && zombies_under(ns.zinit).is_empty() && !table.is_empty()).then_some(())
    };
    within(
        Duration::from_secs(10),
        "the orphans to end and be reaped",
        orphans_gone,
    );

    // A service that ends is reaped too, though no longer restarted.
    let services = ns.marked_processes();
    assert!(!services.is_empty(), "db and app still run");
    for pid in &services {
        signal(*pid, libc::SIGKILL);
    }
    within(
        Duration::from_secs(10),
        "the services' ends to be reaped",
        || (ns.marked_processes().is_empty() && zombies_under(ns.zinit).is_empty()).then_some(()),
    );
    assert!(ns.running(), "zinit as PID 1 exited\n{}", ns.output());
    assert!(alive(ns.zinit));
}
