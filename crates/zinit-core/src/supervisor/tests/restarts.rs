//! Restart policies (`always`, `on-failure`, `never`) and the crash-loop
//! limit, on the fake clock.

use super::harness::{logs, spawned};
use super::*;
use crate::spec::{EndAction, RestartLimit, RestartWhen};

fn policy(mut s: ServiceSpec, when: RestartWhen) -> ServiceSpec {
    s.restart.when = Some(when);
    s
}

fn limited(mut s: ServiceSpec, max_restarts: u32, window: Duration) -> ServiceSpec {
    s.restart.limit = Some(RestartLimit {
        max_restarts,
        window,
    });
    s
}

/// Every later spawn of `n` fails with `reason`.
fn fail_spawns(h: &mut Harness, n: &str, reason: &str) {
    h.failing.insert((name(n), RunKind::Main), reason.into());
}

/// Let the back-off timer fire: the first delays are 250 ms and 500 ms,
/// and a run that follows stays under `restart.stable_after` (1 s).
fn past_back_off(h: &mut Harness) -> Vec<Effect> {
    h.advance(Duration::from_secs(1))
}

#[test]
fn on_failure_restarts_failures_and_leaves_a_success_down() {
    let mut h = Harness::new();
    h.monitor("job", policy(spec("job"), RestartWhen::OnFailure));
    let pid = h.pid("job");
    h.exit(pid, ExitStatus::Code(3));
    assert_eq!(h.view("job").phase.name(), "BackingOff");
    assert_eq!(spawned(&past_back_off(&mut h)), ["job"]);
    let pid = h.pid("job");
    h.exit(pid, ExitStatus::Signaled(9));
    assert_eq!(h.view("job").phase.name(), "BackingOff");
    assert_eq!(spawned(&past_back_off(&mut h)), ["job"]);
    // Exit 0: down for good, in Success, target still Up.
    let pid = h.pid("job");
    h.exit(pid, ExitStatus::Code(0));
    let v = h.view("job");
    assert_eq!((v.phase.name(), h.state("job")), ("Idle", "Success".into()));
    assert_eq!(v.target, Target::Up);
    assert!(spawned(&past_back_off(&mut h)).is_empty());
    // A spawn failure is a failure: retried.
    h.call(Command::Start(name("job"))).unwrap();
    let pid = h.pid("job");
    h.exit(pid, ExitStatus::Code(1));
    fail_spawns(&mut h, "job", "no such file");
    past_back_off(&mut h);
    assert_eq!(h.state("job"), "Failure(no such file)");
    assert_eq!(h.view("job").phase.name(), "BackingOff");
}

#[test]
fn never_runs_once_and_shows_how_it_ended() {
    let mut h = Harness::new();
    h.monitor("once", policy(spec("once"), RestartWhen::Never));
    let pid = h.pid("once");
    h.exit(pid, ExitStatus::Code(3));
    assert_eq!(h.state("once"), "Error(exited with code 3)");
    assert_eq!(h.view("once").phase.name(), "Idle");
    assert!(spawned(&past_back_off(&mut h)).is_empty());
    // The operator runs it again.
    h.call(Command::Start(name("once"))).unwrap();
    assert_eq!(h.state("once"), "Running");
    fail_spawns(&mut h, "once", "gone");
    let pid = h.pid("once");
    h.exit(pid, ExitStatus::Code(0));
    assert_eq!(h.state("once"), "Success");
    h.call(Command::Start(name("once"))).unwrap();
    assert_eq!(h.state("once"), "Failure(gone)");
    assert_eq!(h.view("once").phase.name(), "Idle");
}

#[test]
fn a_oneshot_on_failure_is_retried_until_it_succeeds() {
    let mut h = Harness::new();
    h.monitor(
        "migrate",
        policy(oneshot(spec("migrate")), RestartWhen::OnFailure),
    );
    h.monitor("web", after(spec("web"), &["migrate"]));
    let pid = h.pid("migrate");
    h.exit(pid, ExitStatus::Code(1));
    assert_eq!(h.view("migrate").phase.name(), "BackingOff");
    assert_eq!(h.state("web"), "Blocked");
    assert_eq!(spawned(&past_back_off(&mut h)), ["migrate"]);
    let pid = h.pid("migrate");
    let effects = h.exit(pid, ExitStatus::Code(0));
    assert_eq!(h.state("migrate"), "Success");
    assert_eq!(spawned(&effects), ["web"]);
}

#[test]
fn the_crash_loop_limit_gives_up_at_the_exact_end_and_start_clears_it() {
    let mut h = Harness::new();
    h.monitor("flaky", limited(spec("flaky"), 3, Duration::from_secs(10)));
    // Three quick failures are restarted (back-off 250ms, 500ms, 1s)...
    for _ in 0..3 {
        let pid = h.pid("flaky");
        h.exit(pid, ExitStatus::Code(3));
        assert_eq!(h.view("flaky").phase.name(), "BackingOff");
        assert_eq!(spawned(&h.advance(Duration::from_secs(1))), ["flaky"]);
    }
    // ...the fourth end within 10 s is one too many.
    let pid = h.pid("flaky");
    let effects = h.exit(pid, ExitStatus::Code(3));
    assert_eq!(
        h.state("flaky"),
        "Error(gave up after 3 restarts in 10s: exited with code 3)"
    );
    let v = h.view("flaky");
    assert_eq!((v.phase.name(), v.target), ("Idle", Target::Up));
    let gave_up = v.gave_up.expect("gave up");
    assert_eq!(
        (gave_up.restarts, gave_up.window),
        (3, Duration::from_secs(10))
    );
    assert_eq!(
        logs(&effects).last().unwrap(),
        "service flaky: gave up after 3 restarts in 10s (restart.max_restarts 3); it stays \
         down until `zinit start flaky`"
    );
    assert!(spawned(&h.advance(Duration::from_secs(3600))).is_empty());
    // The wire shape clients parse still holds.
    assert!(h.state("flaky").starts_with("Error(") && h.state("flaky").ends_with(')'));

    // `start` clears it, with a fresh count.
    h.call(Command::Start(name("flaky"))).unwrap();
    assert!(h.view("flaky").gave_up.is_none());
    for _ in 0..3 {
        let pid = h.pid("flaky");
        h.exit(pid, ExitStatus::Code(3));
        assert_eq!(h.view("flaky").phase.name(), "BackingOff");
        h.advance(Duration::from_secs(1));
    }
    let pid = h.pid("flaky");
    h.exit(pid, ExitStatus::Code(3));
    assert!(h.view("flaky").gave_up.is_some());
    // So does `restart`.
    h.call(Command::Restart(name("flaky"))).unwrap();
    assert!(h.view("flaky").gave_up.is_none());
    assert_eq!(h.state("flaky"), "Running");
}

#[test]
fn ends_older_than_the_window_do_not_count() {
    let mut h = Harness::new();
    // Back-off 250ms, 500ms; each run lasts 4 s, under stable_after.
    let mut s = limited(spec("slow"), 2, Duration::from_secs(10));
    s.restart.stable_after = Duration::from_secs(3600);
    h.monitor("slow", s);
    for round in 0..6 {
        h.advance(Duration::from_secs(4));
        let pid = h.pid("slow");
        h.exit(pid, ExitStatus::Code(1));
        assert_eq!(
            h.view("slow").phase.name(),
            "BackingOff",
            "round {round}: at most 2 restarts fall in any 10 s"
        );
        h.advance(Duration::from_secs(2));
    }
    assert!(h.view("slow").gave_up.is_none());
}

#[test]
fn spawn_failures_count_toward_the_limit() {
    let mut h = Harness::new();
    fail_spawns(&mut h, "gone", "no such file");
    h.monitor("gone", limited(spec("gone"), 1, Duration::from_secs(60)));
    assert_eq!(h.view("gone").phase.name(), "BackingOff");
    past_back_off(&mut h);
    assert_eq!(
        h.state("gone"),
        "Failure(gave up after 1 restarts in 1m: no such file)"
    );
    assert_eq!(h.view("gone").phase.name(), "Idle");
}

#[test]
fn a_stop_or_a_shutdown_is_never_a_failure_to_restart() {
    let mut h = Harness::new();
    h.monitor("web", limited(spec("web"), 1, Duration::from_secs(60)));
    for _ in 0..3 {
        h.call(Command::Stop(name("web"))).unwrap();
        let pid = h.pid("web");
        h.exit(pid, ExitStatus::Signaled(15));
        h.call(Command::Start(name("web"))).unwrap();
    }
    assert!(h.view("web").gave_up.is_none());
    assert_eq!(h.state("web"), "Running");
}

/// The restart table of docs/state-machine.md, row by row.
#[test]
fn the_documented_restart_table_is_what_the_code_does() {
    const DOC: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/state-machine.md"
    ));
    let begin = DOC.find("<!-- restarts:begin -->").expect("begin marker");
    let end = DOC.find("<!-- restarts:end -->").expect("end marker");
    let rows: Vec<Vec<String>> = DOC[begin..end]
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| policy") && !l.starts_with("|---"))
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_owned())
                .collect()
        })
        .collect();
    assert!(!rows.is_empty());
    let mut seen = std::collections::BTreeSet::new();
    for row in rows {
        let [setup, ended, next, state] = &row[..] else {
            panic!("bad row {row:?}");
        };
        assert!(
            seen.insert((setup.clone(), ended.clone())),
            "{setup}/{ended} twice"
        );
        let what = format!("{setup} --{ended}-->");
        let mut s = spec("s");
        for part in setup.split(", ") {
            match part {
                "always" => s.restart.when = Some(RestartWhen::Always),
                "on-failure" => s.restart.when = Some(RestartWhen::OnFailure),
                "never" => s.restart.when = Some(RestartWhen::Never),
                "oneshot" => s.oneshot = true,
                "limit used up" => {
                    s.restart.limit = Some(RestartLimit {
                        max_restarts: 1,
                        window: Duration::from_secs(10),
                    })
                }
                other => panic!("{what}: unknown setup {other:?}"),
            }
        }
        let mut h = Harness::new();
        let limit = setup.ends_with("limit used up");
        let spawn_fails = ended == "spawn failed";
        if spawn_fails && !limit {
            // The very first spawn is the end.
            fail_spawns(&mut h, "s", "cannot spawn");
        }
        h.monitor("s", s);
        if limit {
            // One automatic restart decided within the window; the run it
            // starts (or fails to start) is the one that ends.
            let pid = h.pid("s");
            h.exit(pid, ExitStatus::Code(1));
            if spawn_fails {
                fail_spawns(&mut h, "s", "cannot spawn");
            }
            past_back_off(&mut h);
        }
        let status = match ended.as_str() {
            "exit 0" => Some(ExitStatus::Code(0)),
            "exit 1" => Some(ExitStatus::Code(1)),
            "killed by SIGKILL" => Some(ExitStatus::Signaled(9)),
            "spawn failed" => None,
            other => panic!("{what}: unknown end {other:?}"),
        };
        if let Some(status) = status {
            let pid = h.pid("s");
            h.exit(pid, status);
        }
        assert_eq!(h.view("s").phase.name(), next, "{what} next phase");
        assert_eq!(&h.state("s"), state, "{what} state");
    }
}

fn acting(mut s: ServiceSpec, failure: EndAction, success: EndAction) -> ServiceSpec {
    s.failure_action = failure;
    s.success_action = success;
    s
}

fn shutdown_complete(effects: &[Effect]) -> Option<ShutdownMode> {
    effects.iter().find_map(|e| match e {
        Effect::ShutdownComplete(mode) => Some(*mode),
        _ => None,
    })
}

#[test]
fn a_failure_action_stops_everything_in_order_with_the_services_status() {
    let mut h = Harness::new();
    h.monitor("db", spec("db"));
    h.monitor("web", after(spec("web"), &["db"]));
    let main = acting(
        policy(after(spec("main"), &["web"]), RestartWhen::Never),
        EndAction::Shutdown,
        EndAction::None,
    );
    h.monitor("main", main);
    let (db, web) = (h.pid("db"), h.pid("web"));
    let pid = h.pid("main");
    let effects = h.exit(pid, ExitStatus::Code(3));
    assert!(logs(&effects).contains(
        &"service main exited with code 3 and its failure_action is shutdown: shutting down"
            .to_owned()
    ));
    let cause = h.sup.shutdown_cause().cloned().expect("a cause");
    assert_eq!((cause.exit_code, cause.key), (3, "failure_action"));
    assert_eq!(h.sup.snapshot().shutdown_cause, Some(cause));
    // Dependents first: web is signalled, db only once web is gone.
    assert!(h.signalled.contains_key(&web) && !h.signalled.contains_key(&db));
    h.exit(web, ExitStatus::Signaled(15));
    assert!(h.signalled.contains_key(&db));
    let effects = h.exit(db, ExitStatus::Signaled(15));
    assert_eq!(shutdown_complete(&effects), Some(ShutdownMode::PowerOff));
}

#[test]
fn end_actions_fire_only_when_a_service_is_down_for_good() {
    // A signal is 128 + its number; reboot asks for a reboot.
    let mut h = Harness::new();
    h.monitor(
        "job",
        acting(
            policy(spec("job"), RestartWhen::Never),
            EndAction::Reboot,
            EndAction::None,
        ),
    );
    let pid = h.pid("job");
    let effects = h.exit(pid, ExitStatus::Signaled(9));
    assert_eq!(h.sup.shutdown_cause().map(|c| c.exit_code), Some(137));
    assert_eq!(shutdown_complete(&effects), Some(ShutdownMode::Reboot));

    // Restarted failures are not the end; the give-up is (exit status kept).
    let mut h = Harness::new();
    h.monitor(
        "flaky",
        acting(
            limited(spec("flaky"), 1, Duration::from_secs(60)),
            EndAction::Shutdown,
            EndAction::None,
        ),
    );
    let pid = h.pid("flaky");
    h.exit(pid, ExitStatus::Code(2));
    assert!(h.sup.shutdown_cause().is_none());
    past_back_off(&mut h);
    let pid = h.pid("flaky");
    h.exit(pid, ExitStatus::Code(2));
    let cause = h.sup.shutdown_cause().expect("gave up");
    assert_eq!(cause.exit_code, 2);
    assert_eq!(
        cause.ended,
        "gave up after 1 restarts in 1m: exited with code 2"
    );

    // A success: success_action, status 0; a failure does not fire it.
    let mut h = Harness::new();
    let mut job = acting(oneshot(spec("job")), EndAction::None, EndAction::Shutdown);
    job.restart.when = Some(RestartWhen::OnFailure);
    h.monitor("job", job);
    let pid = h.pid("job");
    h.exit(pid, ExitStatus::Code(1));
    assert!(h.sup.shutdown_cause().is_none());
    past_back_off(&mut h);
    let pid = h.pid("job");
    h.exit(pid, ExitStatus::Code(0));
    let cause = h.sup.shutdown_cause().expect("succeeded");
    assert_eq!((cause.exit_code, cause.key), (0, "success_action"));

    // A spawn failure is 127.
    let mut h = Harness::new();
    fail_spawns(&mut h, "gone", "executable \"gone\" not found");
    h.monitor(
        "gone",
        acting(
            policy(spec("gone"), RestartWhen::Never),
            EndAction::Shutdown,
            EndAction::None,
        ),
    );
    assert_eq!(h.sup.shutdown_cause().map(|c| c.exit_code), Some(127));

    // An end zinit asked for is never one: stop, then the process exits.
    let mut h = Harness::new();
    h.monitor(
        "web",
        acting(
            policy(spec("web"), RestartWhen::Never),
            EndAction::Shutdown,
            EndAction::Shutdown,
        ),
    );
    h.call(Command::Stop(name("web"))).unwrap();
    let pid = h.pid("web");
    h.exit(pid, ExitStatus::Signaled(15));
    assert!(h.sup.shutdown_cause().is_none());
    // Nor is an end during a shutdown someone else asked for.
    h.call(Command::Start(name("web"))).unwrap();
    h.call(Command::Shutdown(ShutdownMode::Exit)).unwrap();
    let pid = h.pid("web");
    h.exit(pid, ExitStatus::Code(1));
    assert!(h.sup.shutdown_cause().is_none());
}

#[test]
fn autostart_false_loads_a_service_down_until_it_is_started() {
    let mut h = Harness::new();
    let mut lazy = spec("lazy");
    lazy.autostart = false;
    let (_, effects) = h.command(Command::Monitor {
        name: name("lazy"),
        spec: Arc::new(lazy),
    });
    assert!(spawned(&effects).is_empty());
    let v = h.view("lazy");
    assert_eq!(
        (h.state("lazy"), v.target, v.phase.name()),
        ("Unknown".into(), Target::Down, "Idle")
    );
    // A dependent waits for it and does not start it.
    h.monitor("web", after(spec("web"), &["lazy"]));
    assert_eq!(h.state("web"), "Blocked");
    assert!(spawned(&h.advance(Duration::from_secs(60))).is_empty());
    let (_, effects) = h.command(Command::Start(name("lazy")));
    assert_eq!(spawned(&effects), ["lazy", "web"]);
    assert_eq!(h.view("lazy").target, Target::Up);
}
