//! `requires`, `wants` and `conflicts`, on the fake clock.

use super::harness::{logs, spawned};
use super::*;

fn requires(mut s: ServiceSpec, deps: &[&str]) -> ServiceSpec {
    s.requires = deps.iter().map(|d| name(d)).collect();
    s
}

fn wants(mut s: ServiceSpec, deps: &[&str]) -> ServiceSpec {
    s.wants = deps.iter().map(|d| name(d)).collect();
    s
}

fn conflicts(mut s: ServiceSpec, others: &[&str]) -> ServiceSpec {
    s.conflicts = others.iter().map(|d| name(d)).collect();
    s
}

#[test]
fn requires_orders_like_after_and_pulls_in_a_service_that_does_not_autostart() {
    let mut h = Harness::new();
    let mut db = tested(spec("db"));
    db.autostart = false;
    h.monitor("db", db);
    assert!(h.view("db").pid.is_none());
    // Starting web starts db, and web waits for db's test.
    let (_, effects) = h.command(Command::Monitor {
        name: name("web"),
        spec: Arc::new(requires(spec("web"), &["db"])),
    });
    assert_eq!(spawned(&effects), ["db"]);
    assert!(h.pid_of("db", RunKind::Probe).is_some());
    assert_eq!(h.view("db").target, Target::Up);
    assert_eq!(h.state("web"), "Blocked");
    let probe = h.pid_of("db", RunKind::Probe).unwrap();
    let effects = h.exit(probe, ExitStatus::Code(0));
    assert_eq!(spawned(&effects), ["web"]);
}

#[test]
fn stopping_a_required_service_stops_its_dependents_first_and_starting_it_starts_them_again() {
    let mut h = Harness::new();
    h.monitor("db", spec("db"));
    h.monitor("app", requires(spec("app"), &["db"]));
    h.monitor("web", requires(spec("web"), &["app"]));
    let (db, app, web) = (h.pid("db"), h.pid("app"), h.pid("web"));
    let effects = h.call(Command::Stop(name("db")));
    assert_eq!(effects, Ok(()));
    // web goes first, then app, then db: each waits for what requires it.
    assert!(h.signalled.contains_key(&web));
    assert!(!h.signalled.contains_key(&app) && !h.signalled.contains_key(&db));
    assert_eq!(h.view("db").target, Target::Down);
    assert_eq!(h.view("db").phase.name(), "Up", "db waits for app");
    h.exit(web, ExitStatus::Signaled(15));
    assert!(h.signalled.contains_key(&app) && !h.signalled.contains_key(&db));
    h.exit(app, ExitStatus::Signaled(15));
    assert!(h.signalled.contains_key(&db));
    h.exit(db, ExitStatus::Signaled(15));
    for n in ["db", "app", "web"] {
        assert_eq!(h.view(n).target, Target::Down, "{n}");
    }
    assert_eq!(h.view("app").held_by, vec![name("db")]);
    // db starts again: app (held by db) and then web (held by app) follow.
    let (_, effects) = h.command(Command::Start(name("db")));
    assert_eq!(spawned(&effects), ["db", "app", "web"]);
    for n in ["db", "app", "web"] {
        assert_eq!(h.state(n), "Running", "{n}");
    }
    assert!(logs(&effects)
        .contains(&"starting service app again: db, which it requires, starts".to_owned()));
}

#[test]
fn a_required_service_that_fails_for_good_stops_its_dependents() {
    let mut h = Harness::new();
    let mut db = spec("db");
    db.restart.when = Some(crate::spec::RestartWhen::Never);
    h.monitor("db", db);
    h.monitor("web", requires(spec("web"), &["db"]));
    let web = h.pid("web");
    let db_pid = h.pid("db");
    let effects = h.exit(db_pid, ExitStatus::Code(1));
    assert!(h.signalled.contains_key(&web));
    assert!(
        logs(&effects).contains(&"stopping service web: it requires db, which failed".to_owned())
    );
    h.exit(web, ExitStatus::Signaled(15));
    assert_eq!(h.view("web").target, Target::Down);
    // A restarted failure is not for good: with `always`, nothing stops.
    let mut h = Harness::new();
    h.monitor("db", spec("db"));
    h.monitor("web", requires(spec("web"), &["db"]));
    let (web, db_pid) = (h.pid("web"), h.pid("db"));
    h.exit(db_pid, ExitStatus::Code(1));
    assert!(!h.signalled.contains_key(&web));
}

#[test]
fn a_starting_start_of_the_dependent_brings_the_required_one_back() {
    let mut h = Harness::new();
    h.monitor("db", spec("db"));
    h.monitor("web", requires(spec("web"), &["db"]));
    h.call(Command::Stop(name("web"))).unwrap();
    let web = h.pid("web");
    h.exit(web, ExitStatus::Signaled(15));
    h.call(Command::Stop(name("db"))).unwrap();
    let db = h.pid("db");
    h.exit(db, ExitStatus::Signaled(15));
    let (_, effects) = h.command(Command::Start(name("web")));
    assert_eq!(spawned(&effects), ["db", "web"]);
}

#[test]
fn wants_orders_only_while_the_wanted_service_is_starting() {
    let mut h = Harness::new();
    // Not monitored: no wait.
    h.monitor("web", wants(spec("web"), &["cache"]));
    assert_eq!(h.state("web"), "Running");
    // Starting (its test has not passed): a new wanter waits...
    h.monitor("cache", tested(spec("cache")));
    h.monitor("api", wants(spec("api"), &["cache"]));
    assert_eq!(h.state("api"), "Blocked");
    assert_eq!(
        h.view("api").reason.as_deref(),
        Some("waiting for cache (Spawned)")
    );
    // ...until it is up.
    let probe = h.pid_of("cache", RunKind::Probe).unwrap();
    let effects = h.exit(probe, ExitStatus::Code(0));
    assert_eq!(spawned(&effects), ["api"]);
    // Failed or stopped: no wait.
    h.call(Command::Stop(name("cache"))).unwrap();
    h.monitor("job", wants(spec("job"), &["cache"]));
    assert_eq!(h.state("job"), "Running");
}

#[test]
fn conflicts_stop_the_other_in_both_directions() {
    let mut h = Harness::new();
    h.monitor("app", spec("app"));
    let app = h.pid("app");
    // Declared on the newcomer's side: starting it stops app.
    let (_, effects) = h.command(Command::Monitor {
        name: name("maintenance"),
        spec: Arc::new(conflicts(spec("maintenance"), &["app"])),
    });
    assert!(h.signalled.contains_key(&app));
    assert!(
        logs(&effects).contains(&"stopping service app: it conflicts with maintenance".to_owned())
    );
    h.exit(app, ExitStatus::Signaled(15));
    assert_eq!(h.view("app").target, Target::Down);
    assert_eq!(h.state("maintenance"), "Running");
    // The other way round: starting app stops maintenance.
    let maintenance = h.pid("maintenance");
    h.call(Command::Start(name("app"))).unwrap();
    assert!(h.signalled.contains_key(&maintenance));
    h.exit(maintenance, ExitStatus::Signaled(15));
    assert_eq!(h.view("maintenance").target, Target::Down);
    assert_eq!(h.state("app"), "Running");
}

#[test]
fn cycles_through_any_kind_are_reported_and_shutdown_orders_by_requires() {
    let mut h = Harness::new();
    h.monitor("b", requires(spec("b"), &["a"]));
    h.monitor("a", wants(spec("a"), &["b"]));
    for n in ["a", "b"] {
        assert_eq!(h.state(n), "Blocked", "{n}");
        let reason = h.view(n).reason.unwrap();
        assert!(reason.starts_with("dependency cycle: "), "{reason}");
    }

    let mut h = Harness::new();
    h.monitor("db", spec("db"));
    h.monitor("web", requires(spec("web"), &["db"]));
    let (db, web) = (h.pid("db"), h.pid("web"));
    h.call(Command::Shutdown(ShutdownMode::Exit)).unwrap();
    assert!(h.signalled.contains_key(&web) && !h.signalled.contains_key(&db));
    h.exit(web, ExitStatus::Signaled(15));
    assert!(h.signalled.contains_key(&db));
}

#[test]
fn contradictory_bindings_across_files_settle_without_running_both() {
    // b requires c, c conflicts with b: starting b starts c, which stops b.
    let mut h = Harness::new();
    h.monitor("b", requires(spec("b"), &["c"]));
    let mut c = conflicts(spec("c"), &["b"]);
    c.autostart = false;
    h.monitor("c", c);
    assert_eq!(h.view("b").target, Target::Down);
    assert_eq!(h.state("c"), "Running");
    assert!(h.view("b").pid.is_none());
}

#[test]
fn a_held_service_started_and_stopped_by_the_operator_stays_down_when_its_requirement_starts() {
    // The property test's minimal case: c requires the oneshot d. Stopping
    // d holds c down; starting c clears that hold (and starts d again, once
    // its old run is gone); stopping c must then leave c down when d's new
    // run starts and succeeds.
    let mut h = Harness::new();
    h.monitor("c", requires(spec("c"), &["d"]));
    h.monitor("d", oneshot(spec("d")));
    assert_eq!(h.state("c"), "Blocked");
    let d = h.pid("d");
    h.call(Command::Stop(name("d"))).unwrap();
    assert_eq!(h.view("c").held_by, vec![name("d")]);
    // d is still Stopping: it starts again after its exit.
    h.call(Command::Start(name("c"))).unwrap();
    assert!(h.view("c").held_by.is_empty(), "c started: no longer held");
    h.call(Command::Stop(name("c"))).unwrap();
    let effects = h.exit(d, ExitStatus::Code(0));
    assert_eq!(spawned(&effects), ["d"]);
    assert_eq!(h.view("c").target, Target::Down);
    let d = h.pid("d");
    let effects = h.exit(d, ExitStatus::Code(0));
    assert_eq!(h.state("d"), "Success");
    assert!(spawned(&effects).is_empty(), "{effects:?}");
    assert_eq!(h.view("c").target, Target::Down);
    assert!(h.view("c").pid.is_none());
}

#[test]
fn a_held_service_restarted_by_the_operator_is_no_longer_held() {
    // As above, with `restart c` in place of `start c`.
    let mut h = Harness::new();
    h.monitor("c", requires(spec("c"), &["d"]));
    h.monitor("d", oneshot(spec("d")));
    let d = h.pid("d");
    h.call(Command::Stop(name("d"))).unwrap();
    assert_eq!(h.view("c").held_by, vec![name("d")]);
    h.call(Command::Restart(name("c"))).unwrap();
    assert!(
        h.view("c").held_by.is_empty(),
        "c restarted: no longer held"
    );
    h.call(Command::Stop(name("c"))).unwrap();
    let effects = h.exit(d, ExitStatus::Code(0));
    assert_eq!(spawned(&effects), ["d"]);
    let d = h.pid("d");
    let effects = h.exit(d, ExitStatus::Code(0));
    assert!(spawned(&effects).is_empty(), "{effects:?}");
    assert_eq!(h.view("c").target, Target::Down);
    assert!(h.view("c").pid.is_none());
}

#[test]
fn a_requirer_loaded_later_starts_a_never_service_a_conflict_stopped() {
    // The property test's second minimal case: a (`restart: never`) is
    // stopped by b, which conflicts with it; c, which requires a, is
    // loaded next and starts a again: a start at load, so a second run
    // of a `never` service is right, and b is stopped in turn.
    let mut h = Harness::new();
    let mut a = spec("a");
    a.restart.when = Some(crate::spec::RestartWhen::Never);
    h.monitor("a", a);
    let first = h.pid("a");
    h.monitor("b", conflicts(spec("b"), &["a"]));
    assert!(h.signalled.contains_key(&first));
    assert_eq!(h.view("a").target, Target::Down);
    h.monitor("c", requires(spec("c"), &["a"]));
    assert_eq!(h.view("a").target, Target::Up);
    // a's old run is still stopping: it starts again (and stops b) once
    // that run is gone.
    let effects = h.exit(first, ExitStatus::Code(0));
    assert_eq!(spawned(&effects)[0], "a");
    assert_eq!(h.view("b").target, Target::Down);
}

#[test]
fn contradictory_bindings_whose_start_fails_to_spawn_leave_nothing_running() {
    // The property test's third minimal case: e requires b, b conflicts
    // with e. b's start (after its old run stops) releases e, whose start
    // stops b again in the same step: b's spawn was already asked for.
    // When that spawn fails, b is simply down: Idle, nothing to stop.
    let mut h = Harness::new();
    h.monitor("b", conflicts(spec("b"), &["e"]));
    h.monitor("e", requires(spec("e"), &["b"]));
    let b = h.pid("b");
    assert_eq!(h.view("e").held_by, vec![name("b")]);
    h.failing
        .insert((name("b"), RunKind::Main), "EAGAIN".to_owned());
    h.call(Command::Start(name("b"))).unwrap();
    let effects = h.exit(b, ExitStatus::Code(0));
    assert_eq!(spawned(&effects), ["b"]);
    for n in ["b", "e"] {
        assert_eq!(h.view(n).target, Target::Down, "{n}");
        assert_eq!(h.view(n).phase.name(), "Idle", "{n}");
    }
    assert!(h.live.is_empty(), "{:?}", h.live);
    assert_eq!(h.view("e").held_by, vec![name("b")]);
}

#[test]
fn contradictory_bindings_may_run_a_never_oneshot_again_after_zinit_stopped_it() {
    // The property test's fourth minimal case: a requires c, c requires e,
    // e (a oneshot, `restart: never`) conflicts with a. `start c` starts
    // e, releases a, whose start stops e (and with it c and a again); d
    // starts c once more. The next step finds c waiting and starts e
    // again after its stopped run is gone: a binding's start of a run
    // zinit itself stopped, not a policy restart. It settles with e
    // running and a down.
    let mut h = Harness::new();
    h.monitor("a", requires(spec("a"), &["c"]));
    let mut c = requires(spec("c"), &["e"]);
    c.autostart = false;
    h.monitor("c", c);
    h.monitor("d", requires(spec("d"), &["c"]));
    let mut e = conflicts(oneshot(spec("e")), &["a"]);
    e.restart.when = Some(crate::spec::RestartWhen::Never);
    h.monitor("e", e);
    assert!(h.live.is_empty());
    let (_, effects) = h.command(Command::Start(name("c")));
    assert_eq!(spawned(&effects), ["e"]);
    let e = h.pid("e");
    assert!(h.signalled.contains_key(&e), "a's start stopped e");
    assert_eq!(h.view("c").target, Target::Up);
    assert!(h.view("c").held_by.is_empty(), "c started again: not held");
    let effects = h.exit(e, ExitStatus::Code(0));
    assert_eq!(spawned(&effects), ["e"]);
    assert!(h.view("e").last_exit.unwrap().stopped_by_zinit);
    assert_eq!(h.view("a").target, Target::Down);
    assert_eq!(h.view("e").target, Target::Up);
}
