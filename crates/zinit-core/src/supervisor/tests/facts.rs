//! The facts kept for stats and `why`: run start, last exit, pending
//! restart, last test, restart count. All times come from the fake clock.

use super::*;

const CODE1: ExitStatus = ExitStatus::Code(1);
const SIGKILL: ExitStatus = ExitStatus::Signaled(9);

fn exit_record(
    status: ExitStatus,
    at: Instant,
    ran_for: Duration,
    stopped_by_zinit: bool,
    oom: Oom,
) -> Option<ExitRecord> {
    Some(ExitRecord {
        status,
        at,
        ran_for,
        stopped_by_zinit,
        oom,
    })
}

#[test]
fn a_crash_is_recorded_with_its_run_time_and_not_as_zinit_stopping_it() {
    let mut h = Harness::new();
    let started = h.now;
    h.monitor("web", spec("web"));
    let v = h.view("web");
    assert_eq!(v.up_since, Some(started));
    assert_eq!(v.last_exit, None);
    h.advance(ms(300));
    let pid = h.pid("web");
    h.exit(pid, ExitStatus::Code(3));
    let v = h.view("web");
    assert_eq!(
        v.last_exit,
        exit_record(
            ExitStatus::Code(3),
            started + ms(300),
            ms(300),
            false,
            Oom::No
        )
    );
    assert_eq!(v.up_since, None, "no run while backing off");
    // The next run has its own start; the last exit stays until it ends.
    h.advance(ms(250));
    let v = h.view("web");
    assert_eq!(v.up_since, Some(started + ms(550)));
    assert_eq!(v.last_exit.unwrap().at, started + ms(300));
}

#[test]
fn a_stop_and_a_kill_at_the_timeout_are_recorded_as_zinit_stopping_it() {
    let mut h = Harness::new();
    let mut s = spec("stubborn");
    s.shutdown_timeout = Duration::from_secs(3);
    h.monitor("stubborn", s);
    let started = h.now;
    h.advance(Duration::from_secs(60));
    let pid = h.pid("stubborn");
    h.call(Command::Stop(name("stubborn"))).unwrap();
    // Still stopping: the run goes on, so does its start.
    assert_eq!(h.view("stubborn").up_since, Some(started));
    h.advance(Duration::from_secs(3));
    h.exit(pid, SIGKILL);
    assert_eq!(
        h.view("stubborn").last_exit,
        exit_record(
            SIGKILL,
            started + Duration::from_secs(63),
            Duration::from_secs(63),
            true,
            Oom::No
        )
    );
    // A polite stop too.
    h.call(Command::Start(name("stubborn"))).unwrap();
    let pid = h.pid("stubborn");
    h.advance(ms(1500));
    h.call(Command::Stop(name("stubborn"))).unwrap();
    h.advance(ms(20));
    h.exit(pid, ExitStatus::Code(0));
    let last = h.view("stubborn").last_exit.unwrap();
    assert_eq!((last.ran_for, last.stopped_by_zinit), (ms(1520), true));
}

#[test]
fn an_operator_signal_is_not_zinit_stopping_it() {
    let mut h = Harness::new();
    h.monitor("web", spec("web"));
    let pid = h.pid("web");
    h.call(Command::Kill(name("web"), Signal::Kill)).unwrap();
    h.exit(pid, SIGKILL);
    let last = h.view("web").last_exit.unwrap();
    assert_eq!((last.status, last.stopped_by_zinit), (SIGKILL, false));
}

#[test]
fn the_oom_flag_is_carried_through() {
    let mut h = Harness::new();
    h.monitor("hog", spec("hog"));
    let pid = h.pid("hog");
    h.advance(ms(40));
    h.exit_with(pid, SIGKILL, Oom::Suspected);
    let start = h.now - ms(40);
    assert_eq!(
        h.view("hog").last_exit,
        exit_record(SIGKILL, start + ms(40), ms(40), false, Oom::Suspected)
    );
    // The next exit replaces it, flag and all.
    h.advance(ms(250));
    let pid = h.pid("hog");
    h.exit(pid, CODE1);
    let last = h.view("hog").last_exit.unwrap();
    assert_eq!((last.status, last.oom), (CODE1, Oom::No));
}

#[test]
fn next_start_says_when_and_after_which_delay_and_is_cleared_after() {
    let mut h = Harness::new();
    h.monitor("flaky", spec("flaky"));
    assert_eq!(h.view("flaky").next_start, None);
    let pid = h.pid("flaky");
    h.exit(pid, CODE1);
    let first = h.now;
    assert_eq!(
        h.view("flaky").next_start,
        Some(NextStart {
            at: first + ms(250),
            delay: ms(250)
        })
    );
    h.advance(ms(249));
    assert_eq!(h.view("flaky").next_start.unwrap().at, first + ms(250));
    h.advance(ms(1));
    assert_eq!(h.view("flaky").next_start, None, "restarted");
    h.advance(ms(100));
    let pid = h.pid("flaky");
    h.exit(pid, CODE1);
    assert_eq!(
        h.view("flaky").next_start,
        Some(NextStart {
            at: h.now + ms(500),
            delay: ms(500)
        })
    );
    // A stop cancels the restart, and with it the fact.
    h.call(Command::Stop(name("flaky"))).unwrap();
    assert_eq!(h.view("flaky").next_start, None);
    // So does an operator start during a back-off.
    h.call(Command::Start(name("flaky"))).unwrap();
    let pid = h.pid("flaky");
    h.exit(pid, CODE1);
    assert!(h.view("flaky").next_start.is_some());
    h.call(Command::Start(name("flaky"))).unwrap();
    assert_eq!(h.view("flaky").next_start, None);
    assert_eq!(h.state("flaky"), "Running");
}

#[test]
fn next_start_is_set_after_a_spawn_failure_and_cleared_by_shutdown() {
    let mut h = Harness::new();
    h.failing
        .insert((name("svc"), RunKind::Main), "not found".into());
    h.monitor("svc", spec("nope"));
    assert_eq!(
        h.view("svc").next_start,
        Some(NextStart {
            at: h.now + ms(250),
            delay: ms(250)
        })
    );
    h.advance(ms(250));
    assert_eq!(
        h.view("svc").next_start,
        Some(NextStart {
            at: h.now + ms(500),
            delay: ms(500)
        })
    );
    assert_eq!(h.view("svc").last_exit, None, "it never ran");
    h.command(Command::Shutdown(ShutdownMode::Exit));
    assert_eq!(h.view("svc").next_start, None);
}

#[test]
fn last_test_records_failures_timeouts_and_passes() {
    let mut h = Harness::new();
    let mut s = tested(spec("svc"));
    s.probe.interval = ms(100);
    s.probe.timeout = ms(1000);
    h.monitor("svc", s);
    assert_eq!(h.view("svc").last_test, None, "no test has finished");
    h.advance(ms(30));
    let probe = h.pid_of("svc", RunKind::Probe).unwrap();
    h.exit(probe, ExitStatus::Code(7));
    assert_eq!(
        h.view("svc").last_test,
        Some(TestRecord {
            at: h.now,
            outcome: TestOutcome::Failed(ExitStatus::Code(7))
        })
    );
    // The next test hangs and is killed at its timeout.
    h.advance(ms(100));
    let probe = h.pid_of("svc", RunKind::Probe).unwrap();
    h.advance(ms(1000));
    h.exit(probe, SIGKILL);
    assert_eq!(
        h.view("svc").last_test,
        Some(TestRecord {
            at: h.now,
            outcome: TestOutcome::TimedOut
        })
    );
    // A test killed by something else is a plain failure.
    h.advance(ms(100));
    let probe = h.pid_of("svc", RunKind::Probe).unwrap();
    h.exit(probe, SIGKILL);
    assert_eq!(
        h.view("svc").last_test.unwrap().outcome,
        TestOutcome::Failed(SIGKILL)
    );
    h.advance(ms(100));
    let probe = h.pid_of("svc", RunKind::Probe).unwrap();
    h.advance(ms(5));
    h.exit(probe, ExitStatus::Code(0));
    assert_eq!(
        h.view("svc").last_test,
        Some(TestRecord {
            at: h.now,
            outcome: TestOutcome::Passed
        })
    );
    assert_eq!(h.state("svc"), "Running");
}

#[test]
fn last_test_records_a_test_that_cannot_run() {
    let mut h = Harness::new();
    h.failing.insert(
        (name("svc"), RunKind::Probe),
        "executable \"check\" not found".into(),
    );
    h.monitor("svc", tested(spec("svc")));
    assert_eq!(
        h.view("svc").last_test,
        Some(TestRecord {
            at: h.now,
            outcome: TestOutcome::CannotRun("executable \"check\" not found".into())
        })
    );
}

#[test]
fn restarts_count_only_the_starts_zinit_makes_on_its_own() {
    let mut h = Harness::new();
    h.monitor("flaky", spec("flaky"));
    let restarts = |h: &Harness| h.view("flaky").restarts;
    let pid = h.pid("flaky");
    h.exit(pid, CODE1);
    assert_eq!(restarts(&h), 0, "not restarted yet: backing off");
    h.advance(ms(250));
    assert_eq!(restarts(&h), 1, "the back-off timer restarted it");
    // A stable run ends: restarted at once, and counted.
    h.advance(Duration::from_secs(5));
    let pid = h.pid("flaky");
    h.exit(pid, CODE1);
    assert_eq!(restarts(&h), 2);
    // A stop during the back-off cancels a restart that never happens.
    let pid = h.pid("flaky");
    h.exit(pid, CODE1);
    h.call(Command::Stop(name("flaky"))).unwrap();
    h.advance(Duration::from_secs(60));
    assert_eq!(restarts(&h), 2);
    // Operator starts and restarts are not automatic.
    h.call(Command::Start(name("flaky"))).unwrap();
    let pid = h.pid("flaky");
    h.command(Command::Restart(name("flaky")));
    h.exit(pid, ExitStatus::Signaled(15));
    assert_eq!(h.state("flaky"), "Running");
    let pid = h.pid("flaky");
    h.exit(pid, CODE1);
    h.call(Command::Start(name("flaky"))).unwrap();
    assert_eq!(restarts(&h), 2);
    // Retries after spawn failures are automatic restarts too.
    h.failing
        .insert((name("flaky"), RunKind::Main), "not found".into());
    let pid = h.pid("flaky");
    h.exit(pid, CODE1);
    h.advance(ms(250));
    h.advance(ms(500));
    assert_eq!(restarts(&h), 4);
    // A oneshot is never restarted.
    h.monitor("init", oneshot(spec("init")));
    let pid = h.pid("init");
    h.exit(pid, CODE1);
    h.advance(Duration::from_secs(60));
    assert_eq!(h.view("init").restarts, 0);
}
