//! Dependencies, oneshots, cycles, probes, restarts, stops and shutdown.

use super::harness::{logs, reply_to, signals, spawned};
use super::*;

const CODE0: ExitStatus = ExitStatus::Code(0);
const CODE1: ExitStatus = ExitStatus::Code(1);

#[test]
fn a_service_without_dependencies_starts_and_runs() {
    let mut h = Harness::new();
    h.monitor("web", spec("web"));
    assert_eq!(h.state("web"), "Running");
    let v = h.view("web");
    assert_eq!(v.target, Target::Up);
    assert_eq!(v.pid, Some(h.pid("web")));
}

#[test]
fn dependents_wait_for_a_running_dependency() {
    let mut h = Harness::new();
    h.monitor("app", after(spec("app"), &["db"]));
    assert_eq!(h.state("app"), "Blocked");
    assert_eq!(
        h.view("app").reason.as_deref(),
        Some("waiting for db (not monitored)")
    );
    // The missing dependency is monitored: both start, db first.
    let (_, effects) = h.command(Command::Monitor {
        name: name("db"),
        spec: Arc::new(tested(spec("db"))),
    });
    assert_eq!(spawned(&effects), vec!["db"]);
    assert_eq!(h.state("db"), "Spawned");
    assert_eq!(h.state("app"), "Blocked");
    assert_eq!(
        h.view("app").reason.as_deref(),
        Some("waiting for db (Spawned)")
    );
    // db's test passes: app starts in the same step.
    let probe = h.pid_of("db", RunKind::Probe).unwrap();
    let effects = h.exit(probe, CODE0);
    assert_eq!(h.state("db"), "Running");
    assert_eq!(spawned(&effects), vec!["app"]);
    assert_eq!(h.state("app"), "Running");
}

#[test]
fn oneshot_dependencies_must_succeed() {
    let mut h = Harness::new();
    h.monitor("init", oneshot(spec("init")));
    h.monitor("app", after(spec("app"), &["init"]));
    assert_eq!(h.state("init"), "Spawned");
    assert_eq!(h.state("app"), "Blocked");
    let pid = h.pid("init");
    let effects = h.exit(pid, CODE1);
    assert_eq!(h.state("init"), "Error(exited with code 1)");
    assert!(spawned(&effects).is_empty(), "a oneshot is never restarted");
    assert_eq!(h.state("app"), "Blocked");
    // The operator runs it again; this time it succeeds and app starts.
    h.call(Command::Start(name("init"))).unwrap();
    let pid = h.pid("init");
    let effects = h.exit(pid, CODE0);
    assert_eq!(h.state("init"), "Success");
    assert_eq!(spawned(&effects), vec!["app"]);
    assert_eq!(h.view("init").target, Target::Up);
}

#[test]
fn a_chain_starts_in_order() {
    let mut h = Harness::new();
    h.monitor("c", after(tested(spec("c")), &["b"]));
    h.monitor("b", after(tested(spec("b")), &["a"]));
    h.monitor("a", tested(spec("a")));
    let mut order = Vec::new();
    for n in ["a", "b", "c"] {
        assert_eq!(h.state(n), "Spawned", "{n}");
        let probe = h.pid_of(n, RunKind::Probe).unwrap();
        order.extend(spawned(&h.exit(probe, CODE0)));
    }
    assert_eq!(order, vec!["b", "c"]);
}

#[test]
fn cycles_stay_blocked_and_are_named() {
    let mut h = Harness::new();
    h.monitor("a", after(spec("a"), &["b"]));
    let (_, effects) = h.command(Command::Monitor {
        name: name("b"),
        spec: Arc::new(after(spec("b"), &["a"])),
    });
    assert_eq!(
        logs(&effects),
        vec!["monitoring service b", "dependency cycle: a -> b -> a"]
    );
    for n in ["a", "b"] {
        assert_eq!(h.state(n), "Blocked");
        assert_eq!(
            h.view(n).reason.as_deref(),
            Some("dependency cycle: a -> b -> a")
        );
    }
    // Breaking the cycle (forget b after stopping it) unblocks a's reason.
    h.call(Command::Stop(name("b"))).unwrap();
    h.call(Command::Forget(name("b"))).unwrap();
    assert_eq!(
        h.view("a").reason.as_deref(),
        Some("waiting for b (not monitored)")
    );
}

#[test]
fn quick_failures_back_off_and_a_stable_run_restarts_at_once() {
    let mut h = Harness::new();
    h.monitor("flaky", spec("flaky"));
    let mut delays = Vec::new();
    for _ in 0..4 {
        let pid = h.pid("flaky");
        let effects = h.exit(pid, CODE1);
        assert!(spawned(&effects).is_empty());
        let delay = effects
            .iter()
            .find_map(|e| match e {
                Effect::SetTimer { after, .. } => Some(*after),
                _ => None,
            })
            .unwrap();
        delays.push(delay);
        assert_eq!(h.state("flaky"), "Error(exited with code 1)");
        // Nothing happens a moment before the delay ends...
        assert!(spawned(&h.advance(delay - ms(1))).is_empty());
        // ...and the restart comes exactly at it.
        assert_eq!(spawned(&h.advance(ms(1))), vec!["flaky"]);
    }
    assert_eq!(delays, vec![ms(250), ms(500), ms(1000), ms(2000)]);
    // Up for longer than the stable period: restarted in the same step.
    h.advance(Duration::from_secs(5));
    let pid = h.pid("flaky");
    assert_eq!(spawned(&h.exit(pid, CODE1)), vec!["flaky"]);
    assert_eq!(h.view("flaky").restarts, 5);
    // And the back-off starts over.
    let pid = h.pid("flaky");
    let effects = h.exit(pid, CODE1);
    assert!(effects
        .iter()
        .any(|e| matches!(e, Effect::SetTimer { after, .. } if *after == ms(250))));
}

#[test]
fn a_long_running_service_that_exits_cleanly_is_restarted_too() {
    let mut h = Harness::new();
    h.monitor("w", spec("w"));
    h.advance(Duration::from_secs(2));
    let pid = h.pid("w");
    assert_eq!(spawned(&h.exit(pid, CODE0)), vec!["w"]);
}

#[test]
fn stop_escalates_to_sigkill_at_the_timeout() {
    let mut h = Harness::new();
    let mut s = spec("stubborn");
    s.stop_signal = Signal::Int;
    s.shutdown_timeout = Duration::from_secs(3);
    h.monitor("stubborn", s);
    let pid = h.pid("stubborn");
    let (reply, effects) = h.command(Command::Stop(name("stubborn")));
    assert_eq!(reply_to(&effects, reply), Some(Ok(())));
    assert_eq!(
        signals(&effects),
        vec![(pid, Signal::Int, SignalScope::Group)]
    );
    assert_eq!(h.view("stubborn").target, Target::Down);
    assert!(signals(&h.advance(ms(2999))).is_empty());
    assert_eq!(
        signals(&h.advance(ms(1))),
        vec![(pid, Signal::Kill, SignalScope::Group)]
    );
    let effects = h.exit(pid, ExitStatus::Signaled(9));
    assert!(effects.contains(&Effect::KillGroupRemnants { pgid: pid }));
    assert!(spawned(&effects).is_empty());
    assert_eq!(h.state("stubborn"), "Error(killed by signal SIGKILL)");
    assert_eq!(h.view("stubborn").pid, None);
}

#[test]
fn a_service_that_stops_in_time_is_not_killed() {
    let mut h = Harness::new();
    h.monitor("polite", spec("polite"));
    let pid = h.pid("polite");
    h.call(Command::Stop(name("polite"))).unwrap();
    h.advance(Duration::from_secs(2));
    h.exit(pid, ExitStatus::Code(0));
    let later = h.advance(Duration::from_secs(60));
    assert!(
        signals(&later).is_empty(),
        "stale stop timer fired: {later:?}"
    );
    assert_eq!(h.state("polite"), "Success");
}

#[test]
fn restart_answers_once_the_old_process_is_gone() {
    let mut h = Harness::new();
    h.monitor("web", spec("web"));
    let old = h.pid("web");
    let (reply, effects) = h.command(Command::Restart(name("web")));
    assert_eq!(reply_to(&effects, reply), None, "answered too early");
    assert_eq!(
        signals(&effects),
        vec![(old, Signal::Term, SignalScope::Group)]
    );
    let effects = h.exit(old, ExitStatus::Signaled(15));
    assert_eq!(spawned(&effects), vec!["web"]);
    assert_eq!(reply_to(&effects, reply), Some(Ok(())));
    assert_ne!(h.pid("web"), old);
    assert_eq!(h.state("web"), "Running");
}

#[test]
fn start_during_a_stop_starts_again_after_the_exit() {
    let mut h = Harness::new();
    h.monitor("web", spec("web"));
    let old = h.pid("web");
    h.call(Command::Stop(name("web"))).unwrap();
    let (_, effects) = h.command(Command::Start(name("web")));
    assert!(spawned(&effects).is_empty(), "two live runs at once");
    assert_eq!(spawned(&h.exit(old, CODE0)), vec!["web"]);
}

#[test]
fn stop_during_back_off_cancels_the_restart() {
    let mut h = Harness::new();
    h.monitor("flaky", spec("flaky"));
    let pid = h.pid("flaky");
    h.exit(pid, CODE1);
    h.call(Command::Stop(name("flaky"))).unwrap();
    assert!(spawned(&h.advance(Duration::from_secs(60))).is_empty());
    assert_eq!(h.view("flaky").target, Target::Down);
}

#[test]
fn probes_retry_at_their_interval_and_time_out() {
    let mut h = Harness::new();
    let mut s = tested(spec("svc"));
    s.probe.interval = ms(100);
    s.probe.timeout = ms(1000);
    h.monitor("svc", s);
    let first = h.pid_of("svc", RunKind::Probe).unwrap();
    h.exit(first, CODE1);
    assert_eq!(h.state("svc"), "Spawned");
    assert_eq!(h.pid_of("svc", RunKind::Probe), None);
    h.advance(ms(100));
    let second = h.pid_of("svc", RunKind::Probe).unwrap();
    // The second test hangs: killed at its timeout, retried after the interval.
    let effects = h.advance(ms(1000));
    assert_eq!(
        signals(&effects),
        vec![(second, Signal::Kill, SignalScope::Group)]
    );
    h.exit(second, ExitStatus::Signaled(9));
    h.advance(ms(100));
    let third = h.pid_of("svc", RunKind::Probe).unwrap();
    h.exit(third, CODE0);
    assert_eq!(h.state("svc"), "Running");
}

#[test]
fn a_test_that_cannot_run_is_test_failure_and_not_retried() {
    let mut h = Harness::new();
    h.failing.insert(
        (name("svc"), RunKind::Probe),
        "executable \"check\" not found".into(),
    );
    h.monitor("svc", tested(spec("svc")));
    assert_eq!(
        h.state("svc"),
        "TestFailure(executable \"check\" not found)"
    );
    let later = h.advance(Duration::from_secs(600));
    assert!(later.is_empty(), "busy retry: {later:?}");
}

#[test]
fn a_spawn_failure_is_failure_and_retried_with_back_off() {
    let mut h = Harness::new();
    h.failing.insert(
        (name("svc"), RunKind::Main),
        "executable \"nope\" not found".into(),
    );
    h.monitor("svc", spec("nope"));
    assert_eq!(h.state("svc"), "Failure(executable \"nope\" not found)");
    assert_eq!(spawned(&h.advance(ms(250))), vec!["svc"]);
    assert_eq!(spawned(&h.advance(ms(499))), Vec::<String>::new());
    h.failing.clear();
    assert_eq!(spawned(&h.advance(ms(1))), vec!["svc"]);
    assert_eq!(h.state("svc"), "Running");
}

#[test]
fn the_main_process_exiting_abandons_its_probe() {
    let mut h = Harness::new();
    h.monitor("svc", tested(spec("svc")));
    let probe = h.pid_of("svc", RunKind::Probe).unwrap();
    let pid = h.pid("svc");
    let effects = h.exit(pid, CODE1);
    assert!(signals(&effects).contains(&(probe, Signal::Kill, SignalScope::Group)));
    // Its late exit changes nothing.
    h.live.remove(&probe);
    let effects = h.input(Input::Exited {
        pid: probe,
        status: CODE0,
        oom: Oom::No,
    });
    assert!(effects.is_empty(), "{effects:?}");
    assert_eq!(h.state("svc"), "Error(exited with code 1)");
}

#[test]
fn commands_on_unknown_or_wrong_services_are_refused() {
    let mut h = Harness::new();
    for c in [
        Command::Start(name("x")),
        Command::Stop(name("x")),
        Command::Restart(name("x")),
        Command::Forget(name("x")),
        Command::Kill(name("x"), Signal::Hup),
    ] {
        let (reply, effects) = h.command(c);
        assert_eq!(
            reply_to(&effects, reply),
            Some(Err(CommandError::NotFound(name("x"))))
        );
    }
    h.monitor("web", spec("web"));
    assert_eq!(
        h.call(Command::Monitor {
            name: name("web"),
            spec: Arc::new(spec("web"))
        }),
        Err(CommandError::AlreadyMonitored(name("web")))
    );
    assert_eq!(
        h.call(Command::Forget(name("web"))),
        Err(CommandError::IsUp(name("web")))
    );
    let pid = h.pid("web");
    let (reply, effects) = h.command(Command::Kill(name("web"), Signal::Hup));
    assert_eq!(reply_to(&effects, reply), Some(Ok(())));
    assert_eq!(
        signals(&effects),
        vec![(pid, Signal::Hup, SignalScope::Process)]
    );
    h.call(Command::Stop(name("web"))).unwrap();
    // Still stopping: the process exists, so it is "up" for forget.
    assert_eq!(
        h.call(Command::Forget(name("web"))),
        Err(CommandError::IsUp(name("web")))
    );
    h.exit(pid, ExitStatus::Signaled(15));
    assert_eq!(
        h.call(Command::Kill(name("web"), Signal::Hup)),
        Err(CommandError::IsDown(name("web")))
    );
    h.call(Command::Forget(name("web"))).unwrap();
    assert!(h.sup.snapshot().services.is_empty());
}

#[test]
fn shutdown_stops_dependents_first_and_in_parallel() {
    let mut h = Harness::new();
    // db <- app <- web, and an independent cache.
    h.monitor("db", spec("db"));
    h.monitor("app", after(spec("app"), &["db"]));
    h.monitor("web", after(spec("web"), &["app"]));
    h.monitor("cache", spec("cache"));
    let pids: BTreeMap<&str, Pid> = ["db", "app", "web", "cache"]
        .into_iter()
        .map(|n| (n, h.pid(n)))
        .collect();
    let (reply, effects) = h.command(Command::Shutdown(ShutdownMode::Exit));
    assert_eq!(reply_to(&effects, reply), Some(Ok(())));
    let first: Vec<Pid> = signals(&effects).iter().map(|s| s.0).collect();
    assert_eq!(first, vec![pids["cache"], pids["web"]]);
    assert_eq!(
        h.call(Command::Start(name("db"))),
        Err(CommandError::ShuttingDown)
    );
    let effects = h.exit(pids["web"], ExitStatus::Signaled(15));
    assert_eq!(
        signals(&effects),
        vec![(pids["app"], Signal::Term, SignalScope::Group)]
    );
    h.exit(pids["cache"], ExitStatus::Signaled(15));
    let effects = h.exit(pids["app"], ExitStatus::Signaled(15));
    assert_eq!(
        signals(&effects),
        vec![(pids["db"], Signal::Term, SignalScope::Group)]
    );
    let effects = h.exit(pids["db"], ExitStatus::Signaled(15));
    assert!(effects.contains(&Effect::ShutdownComplete(ShutdownMode::Exit)));
    assert!(h.sup.forced_stops().is_empty(), "nobody needed SIGKILL");
    assert!(
        spawned(&h.log).len() == 4,
        "nothing restarted during shutdown"
    );
}

#[test]
fn shutdown_is_bounded_by_timeouts_and_survives_cycles() {
    let mut h = Harness::new();
    let mut a = after(spec("a"), &["b"]);
    a.shutdown_timeout = Duration::from_secs(2);
    h.monitor("a", a);
    h.monitor("b", after(spec("b"), &["a"]));
    h.monitor("stubborn", spec("stubborn"));
    let pid = h.pid("stubborn");
    let effects = h.command(Command::Shutdown(ShutdownMode::Reboot)).1;
    assert_eq!(
        signals(&effects),
        vec![(pid, Signal::Term, SignalScope::Group)]
    );
    let effects = h.advance(Duration::from_secs(10));
    assert_eq!(
        signals(&effects),
        vec![(pid, Signal::Kill, SignalScope::Group)]
    );
    let effects = h.exit(pid, ExitStatus::Signaled(9));
    assert!(effects.contains(&Effect::ShutdownComplete(ShutdownMode::Reboot)));
    assert_eq!(h.sup.forced_stops(), vec![name("stubborn")]);
}

#[test]
fn shutdown_with_nothing_running_completes_at_once() {
    let mut h = Harness::new();
    let effects = h.command(Command::Shutdown(ShutdownMode::Exit)).1;
    assert!(effects.contains(&Effect::ShutdownComplete(ShutdownMode::Exit)));
    // A second request is acknowledged and reports nothing again.
    let (reply, effects) = h.command(Command::Shutdown(ShutdownMode::Exit));
    assert_eq!(reply_to(&effects, reply), Some(Ok(())));
    assert!(!effects.contains(&Effect::ShutdownComplete(ShutdownMode::Exit)));
}

#[test]
fn restart_during_shutdown_is_answered() {
    let mut h = Harness::new();
    h.monitor("web", spec("web"));
    let pid = h.pid("web");
    let (reply, _) = h.command(Command::Restart(name("web")));
    h.command(Command::Shutdown(ShutdownMode::Exit));
    let effects = h.exit(pid, ExitStatus::Signaled(15));
    assert_eq!(
        reply_to(&effects, reply),
        Some(Err(CommandError::ShuttingDown))
    );
    assert!(spawned(&effects).is_empty());
}

#[test]
fn shutdown_order_is_transitive_through_finished_oneshots() {
    let mut h = Harness::new();
    h.monitor("db", spec("db"));
    h.monitor("migrate", oneshot(after(spec("migrate"), &["db"])));
    let pid = h.pid("migrate");
    h.exit(pid, CODE0);
    h.monitor("web", after(spec("web"), &["migrate"]));
    let (db, web) = (h.pid("db"), h.pid("web"));
    let effects = h.command(Command::Shutdown(ShutdownMode::Exit)).1;
    assert_eq!(
        signals(&effects),
        vec![(web, Signal::Term, SignalScope::Group)]
    );
    let effects = h.exit(web, ExitStatus::Signaled(15));
    assert_eq!(
        signals(&effects),
        vec![(db, Signal::Term, SignalScope::Group)]
    );
}

/// Found by the property test: timers are never cancelled in the shell,
/// and a service forgotten and monitored again started counting timer
/// generations from 0, so a timer armed for the old service fired into
/// the new one as its own (here: killing a healthy probe as timed out).
#[test]
fn a_timer_of_a_forgotten_service_never_fires_into_its_successor() {
    let mut h = Harness::new();
    h.failing
        .insert((name("a"), RunKind::Main), "ENOENT".to_owned());
    h.monitor("a", tested(spec("a")));
    // Backing off: the restart timer (due in 250 ms) is armed.
    assert_eq!(h.view("a").phase, Phase::BackingOff);
    h.call(Command::Stop(name("a"))).unwrap();
    h.call(Command::Forget(name("a"))).unwrap();
    h.failing.clear();
    h.monitor("a", tested(spec("a")));
    let probe = h.pid_of("a", RunKind::Probe).expect("the new run's probe");
    // The old timer fires; the probe's 5 s timeout is far away.
    let effects = h.advance(ms(300));
    assert!(signals(&effects).is_empty(), "{effects:?}");
    assert_eq!(h.view("a").phase.pid(), Some(h.pid("a")));
    assert!(!h.signalled.contains_key(&probe));
}

/// Found by the property test: a oneshot restarted while a dependent
/// waited for it ended its old run with success and was spawned again in
/// the same step; its state still read Success while the new run was
/// being spawned, so the dependent started before the new run finished.
#[test]
fn a_dependent_waits_for_the_new_run_of_a_restarted_oneshot() {
    let mut h = Harness::new();
    h.monitor("web", after(spec("web"), &["migrate"]));
    h.monitor("migrate", oneshot(spec("migrate")));
    assert_eq!(h.state("web"), "Blocked");
    let old = h.pid("migrate");
    let (reply, _) = h.command(Command::Restart(name("migrate")));
    let effects = h.exit(old, CODE0);
    assert_eq!(reply_to(&effects, reply), Some(Ok(())));
    assert_eq!(spawned(&effects), vec!["migrate"]);
    assert_eq!(h.state("web"), "Blocked");
    // The new run succeeds: now web starts.
    let new = h.pid("migrate");
    assert_eq!(spawned(&h.exit(new, CODE0)), vec!["web"]);
}

/// The crash-loop schedule of docs/services.md with the defaults
/// (`restart.delay` 250ms doubling, `restart.max_delay` 30s,
/// `restart.stable_after` 1s), exactly, on the fake clock: every restart
/// comes at its delay and not a millisecond before, the cap holds, a run
/// just under the stable period still counts as a quick failure, one of
/// exactly the stable period restarts at once and starts the schedule
/// over, and spawn failures climb the same schedule.
#[test]
fn crash_loop_schedule_caps_and_resets_after_a_stable_run() {
    let defaults = crate::spec::RestartPolicy::default();
    assert_eq!(
        (
            defaults.initial_delay,
            defaults.max_delay,
            defaults.stable_after
        ),
        (ms(250), Duration::from_secs(30), Duration::from_secs(1))
    );
    let mut h = Harness::new();
    h.monitor("crashy", spec("crashy"));
    // Crash after `ran` each time; return the delay before the restart.
    let crash_after = |h: &mut Harness, ran: Duration| -> Duration {
        h.advance(ran);
        let pid = h.pid("crashy");
        let effects = h.exit(pid, CODE1);
        assert!(spawned(&effects).is_empty(), "restarted at once");
        let delay = h.view("crashy").next_start.expect("backing off").delay;
        assert_eq!(h.view("crashy").next_start.unwrap().at, h.now + delay);
        assert!(spawned(&h.advance(delay - ms(1))).is_empty());
        assert_eq!(spawned(&h.advance(ms(1))), vec!["crashy"]);
        delay
    };
    let quick = ms(999);
    let delays: Vec<u64> = (0..10)
        .map(|_| crash_after(&mut h, quick).as_millis() as u64)
        .collect();
    assert_eq!(
        delays,
        [250, 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]
    );
    assert_eq!(h.view("crashy").restarts, 10);
    // Up exactly the stable period: restarted in the same step...
    h.advance(Duration::from_secs(1));
    let pid = h.pid("crashy");
    assert_eq!(spawned(&h.exit(pid, CODE1)), vec!["crashy"]);
    assert!(h.view("crashy").next_start.is_none());
    // ...and the schedule starts over.
    assert_eq!(crash_after(&mut h, quick), ms(250));
    assert_eq!(crash_after(&mut h, quick), ms(500));
    // Spawn failures climb the same schedule (no process, no uptime).
    h.failing
        .insert((name("crashy"), RunKind::Main), "EAGAIN".to_owned());
    let pid = h.pid("crashy");
    h.exit(pid, CODE1);
    assert_eq!(h.view("crashy").next_start.unwrap().delay, ms(1000));
    h.advance(ms(1000));
    assert_eq!(h.state("crashy"), "Failure(EAGAIN)");
    assert_eq!(h.view("crashy").next_start.unwrap().delay, ms(2000));
    // An operator start forgets the history and starts at once.
    h.failing.clear();
    let effects = h.command(Command::Start(name("crashy"))).1;
    assert_eq!(spawned(&effects), vec!["crashy"]);
    assert_eq!(crash_after(&mut h, quick), ms(250));
}

/// Found by the property test: a service held up during a shutdown by a
/// dependent still stopping went on running its failing `test`, so new
/// probe processes were spawned after the shutdown was acknowledged.
#[test]
fn no_probe_is_spawned_once_a_shutdown_began() {
    let mut h = Harness::new();
    h.monitor("db", tested(spec("db")));
    let probe = h.pid_of("db", RunKind::Probe).unwrap();
    h.exit(probe, CODE0);
    h.monitor("web", after(spec("web"), &["db"]));
    let web = h.pid("web");
    // db crashes and comes back; its new run is being tested.
    let db = h.pid("db");
    h.exit(db, CODE1);
    h.advance(ms(250));
    let probe = h.pid_of("db", RunKind::Probe).expect("the new run's probe");
    let effects = h.command(Command::Shutdown(ShutdownMode::Exit)).1;
    assert_eq!(
        signals(&effects),
        vec![(web, Signal::Term, SignalScope::Group)]
    );
    // The test fails while web is still stopping: no new probe, ever.
    let mut after_shutdown = h.exit(probe, CODE1);
    after_shutdown.extend(h.advance(Duration::from_secs(2)));
    assert!(
        !after_shutdown
            .iter()
            .any(|e| matches!(e, Effect::Spawn { .. })),
        "{after_shutdown:?}"
    );
    let db = h.pid("db");
    let effects = h.exit(web, ExitStatus::Signaled(15));
    assert_eq!(
        signals(&effects),
        vec![(db, Signal::Term, SignalScope::Group)]
    );
    let effects = h.exit(db, ExitStatus::Signaled(15));
    assert!(effects.contains(&Effect::ShutdownComplete(ShutdownMode::Exit)));
}
