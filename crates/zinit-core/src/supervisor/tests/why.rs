//! `why` on real supervisor snapshots, driven by the fake shell and clock.

use super::*;
use crate::supervisor::{format_elapsed, why, Why};

fn no_output(_: &ServiceName) -> Option<String> {
    None
}

fn explain(h: &Harness, n: &str) -> Why {
    why(&h.sup.snapshot(), &name(n), h.now, &no_output).expect("monitored")
}

fn explain_with(h: &Harness, n: &str, output: &dyn Fn(&ServiceName) -> Option<String>) -> Why {
    why(&h.sup.snapshot(), &name(n), h.now, output).expect("monitored")
}

fn names(list: &[&str]) -> Vec<ServiceName> {
    list.iter().map(|n| name(n)).collect()
}

#[test]
fn elapsed_times_are_compact() {
    let s = Duration::from_secs;
    assert_eq!(format_elapsed(Duration::ZERO), "0ms");
    assert_eq!(format_elapsed(ms(350)), "350ms");
    assert_eq!(format_elapsed(ms(2160)), "2.1s");
    assert_eq!(format_elapsed(ms(59_999)), "59.9s");
    assert_eq!(format_elapsed(s(192)), "3m 12s");
    assert_eq!(format_elapsed(s(2 * 3600 + 5 * 60 + 59)), "2h 5m");
    assert_eq!(format_elapsed(s(3 * 86_400 + 4 * 3600)), "3d 4h");
}

#[test]
fn an_unknown_service_has_no_explanation() {
    let h = Harness::new();
    assert_eq!(why(&h.sup.snapshot(), &name("x"), h.now, &no_output), None);
}

#[test]
fn a_healthy_service() {
    let mut h = Harness::new();
    h.monitor("web", spec("web"));
    h.advance(Duration::from_secs(192));
    let w = explain(&h, "web");
    assert_eq!(
        w.summary,
        "web is Running, pid 100, up 3m 12s; restarted 0 times"
    );
    assert!(w.details.is_empty(), "{:?}", w.details);
    assert!(w.blocked_by.is_empty());
}

#[test]
fn a_healthy_service_with_a_history() {
    let mut h = Harness::new();
    h.monitor("web", tested(spec("web")));
    h.advance(ms(500));
    let probe = h.pid_of("web", RunKind::Probe).unwrap();
    h.exit(probe, ExitStatus::Code(0));
    h.advance(Duration::from_secs(3));
    let pid = h.pid("web");
    h.exit(pid, ExitStatus::Code(2));
    h.advance(Duration::from_secs(1));
    let probe = h.pid_of("web", RunKind::Probe).unwrap();
    h.exit(probe, ExitStatus::Code(0));
    h.advance(Duration::from_secs(60));
    let w = explain(&h, "web");
    assert_eq!(
        w.summary,
        "web is Running, pid 102, up 1m 1s; restarted 1 time"
    );
    assert_eq!(
        w.details,
        vec![
            "Its last test passed 1m 0s ago.",
            "Before this run, it last exited with code 2 1m 1s ago after running 3.5s."
        ]
    );
}

#[test]
fn blocked_through_a_chain_of_two_down_to_a_failing_test_with_its_output() {
    let mut h = Harness::new();
    h.monitor("db", tested(spec("db")));
    h.monitor("app", after(spec("app"), &["db"]));
    h.monitor("web", after(spec("web"), &["app"]));
    h.advance(ms(300));
    let probe = h.pid_of("db", RunKind::Probe).unwrap();
    h.exit(probe, ExitStatus::Code(1));
    h.advance(ms(1200));
    let output = |n: &ServiceName| {
        (n.as_str() == "db").then(|| "connecting to 127.0.0.1:5432\nconnection refused\n".into())
    };
    let w = explain_with(&h, "web", &output);
    assert_eq!(
        w.summary,
        "web is Blocked: waiting for app, which is Blocked: waiting for db, which is Spawned: \
         its test has not passed yet (last test 1.2s ago exited with code 1: connection refused)"
    );
    assert_eq!(w.blocked_by, names(&["app", "db"]));
    assert_eq!(
        w.details,
        vec![
            "Output of db's last test:",
            "  connecting to 127.0.0.1:5432",
            "  connection refused"
        ]
    );
    // db itself, while its next test is pending.
    let w = explain_with(&h, "db", &output);
    assert_eq!(
        w.summary,
        "db is Spawned, pid 100, up 1.5s: its test has not passed yet (last test 1.2s ago \
         exited with code 1: connection refused); restarted 0 times"
    );
}

#[test]
fn a_test_that_timed_out_and_one_not_finished_yet() {
    let mut h = Harness::new();
    let mut s = tested(spec("db"));
    s.probe.timeout = Duration::from_secs(2);
    h.monitor("db", s);
    h.monitor("web", after(spec("web"), &["db"]));
    assert_eq!(
        explain(&h, "web").summary,
        "web is Blocked: waiting for db, which is Spawned: its test has not passed yet (no \
         test run has finished yet)"
    );
    h.advance(Duration::from_secs(2));
    let probe = h.pid_of("db", RunKind::Probe).unwrap();
    h.exit(probe, ExitStatus::Signaled(9));
    assert_eq!(
        explain(&h, "web").summary,
        "web is Blocked: waiting for db, which is Spawned: its test has not passed yet (last \
         test 0ms ago was killed at its test_timeout (2s))"
    );
}

#[test]
fn blocked_by_a_service_that_is_not_monitored() {
    let mut h = Harness::new();
    h.monitor("web", after(spec("web"), &["cache"]));
    let w = explain(&h, "web");
    assert_eq!(
        w.summary,
        "web is Blocked: waiting for cache, which is not monitored (`zinit monitor cache` \
         loads it)"
    );
    assert_eq!(w.blocked_by, names(&["cache"]));
}

#[test]
fn blocked_by_several_dependencies() {
    let mut h = Harness::new();
    h.monitor("db", tested(spec("db")));
    h.monitor("web", after(spec("web"), &["cache", "db"]));
    let w = explain(&h, "web");
    assert_eq!(
        w.summary,
        "web is Blocked: waiting for cache, which is not monitored (`zinit monitor cache` \
         loads it); also waiting for db"
    );
    assert_eq!(
        w.details,
        vec![
            "It is also waiting for db, which is Spawned: its test has not passed yet (no test \
             run has finished yet)."
        ]
    );
    assert_eq!(w.blocked_by, names(&["cache", "db"]));
}

#[test]
fn blocked_in_a_cycle_and_behind_one() {
    let mut h = Harness::new();
    h.monitor("a", after(spec("a"), &["b"]));
    h.monitor("b", after(spec("b"), &["c"]));
    h.monitor("c", after(spec("c"), &["a"]));
    h.monitor("web", after(spec("web"), &["b"]));
    let w = explain(&h, "b");
    assert_eq!(
        w.summary,
        "b is Blocked: dependency cycle a -> b -> c -> a; none of them can start until one of \
         their `after` lists is changed (then forget and monitor that service again)"
    );
    assert_eq!(w.blocked_by, names(&["c", "a"]));
    let w = explain(&h, "web");
    assert!(
        w.summary
            .starts_with("web is Blocked: waiting for b, which is Blocked: dependency cycle a"),
        "{}",
        w.summary
    );
    assert_eq!(w.blocked_by, names(&["b", "c", "a"]));
}

#[test]
fn blocked_by_a_failed_oneshot_or_a_stopped_service() {
    let mut h = Harness::new();
    h.monitor("migrate", oneshot(spec("migrate")));
    h.monitor("db", spec("db"));
    h.monitor("web", after(spec("web"), &["migrate"]));
    h.monitor("api", after(spec("api"), &["db"]));
    h.advance(ms(700));
    let pid = h.pid("migrate");
    h.exit(pid, ExitStatus::Code(1));
    h.call(Command::Stop(name("db"))).unwrap();
    let pid = h.pid("db");
    h.exit(pid, ExitStatus::Signaled(15));
    // api was running when db stopped; restart it so it waits again.
    h.command(Command::Restart(name("api")));
    let api = h.pid("api");
    h.exit(api, ExitStatus::Signaled(15));
    h.advance(ms(2000));
    assert_eq!(
        explain(&h, "web").summary,
        "web is Blocked: waiting for migrate, which is in Error(exited with code 1): the \
         oneshot failed (it last exited with code 1 2.0s ago after running 700ms) and is not \
         retried, so this will not start until `zinit start migrate` succeeds"
    );
    assert_eq!(
        explain(&h, "api").summary,
        "api is Blocked: waiting for db, which is in Error(killed by signal SIGTERM) and was \
         stopped (target Down); it will not start until `zinit start db`"
    );
}

#[test]
fn a_crash_looping_service_with_its_back_off_and_next_try() {
    let mut h = Harness::new();
    h.monitor("flaky", spec("flaky"));
    let mut delay = Duration::ZERO;
    for _ in 0..6 {
        h.advance(delay);
        h.advance(ms(100));
        let pid = h.pid("flaky");
        h.exit(pid, ExitStatus::Code(3));
        delay = h.view("flaky").next_start.unwrap().delay;
    }
    assert_eq!(delay, Duration::from_secs(8));
    h.advance(ms(4100));
    let w = explain(&h, "flaky");
    assert_eq!(
        w.summary,
        "flaky is in Error(exited with code 3): it last exited with code 3 4.1s ago after \
         running 100ms; restarted 5 times; next try in 3.9s (back-off delay 8s)"
    );
    assert_eq!(
        w.details,
        vec![
            "The delay doubles after each run shorter than restart.stable_after (1s), up to \
             restart.max_delay (30s); `zinit start flaky` tries again at once."
        ]
    );
}

#[test]
fn a_service_that_cannot_be_spawned() {
    let mut h = Harness::new();
    h.failing.insert(
        (name("svc"), RunKind::Main),
        "executable \"nope\" not found".into(),
    );
    h.monitor("svc", spec("nope"));
    h.advance(ms(250));
    h.advance(ms(100));
    assert_eq!(
        explain(&h, "svc").summary,
        "svc is in Failure(executable \"nope\" not found): it could not be spawned: executable \
         \"nope\" not found; restarted 1 time; next try in 400ms (back-off delay 500ms)"
    );
    h.monitor("init", oneshot(spec("init")));
    h.failing
        .insert((name("init"), RunKind::Main), "permission denied".into());
    h.call(Command::Start(name("svc"))).unwrap();
    h.call(Command::Stop(name("init"))).unwrap_or(());
    let pid = h.pid("init");
    h.exit(pid, ExitStatus::Code(0));
    h.call(Command::Start(name("init"))).unwrap();
    assert_eq!(
        explain(&h, "init").summary,
        "init is in Failure(permission denied): it could not be spawned: permission denied; a \
         oneshot is not retried: `zinit start init` tries again"
    );
}

#[test]
fn killed_by_the_oom_killer() {
    let mut h = Harness::new();
    h.monitor("hog", spec("hog"));
    h.advance(Duration::from_secs(75));
    let pid = h.pid("hog");
    h.exit_with(pid, ExitStatus::Signaled(9), Oom::Suspected);
    h.advance(ms(100));
    assert_eq!(
        explain(&h, "hog").summary,
        "hog is Running, pid 101, up 100ms; restarted 1 time"
    );
    assert_eq!(
        explain(&h, "hog").details,
        vec![
            "Before this run, it was last killed by SIGKILL 100ms ago after running 1m 15s, \
             probably by the kernel's OOM killer."
        ]
    );
    // A quick OOM kill backs off, and says so in the summary; with a
    // cgroup's counter to tell, it is certain.
    let pid = h.pid("hog");
    h.exit_with(pid, ExitStatus::Signaled(9), Oom::Killed);
    assert_eq!(
        explain(&h, "hog").summary,
        "hog is in Error(killed by signal SIGKILL): it was last killed by SIGKILL 0ms ago \
         after running 100ms, by the kernel's OOM killer: its cgroup reached its memory \
         limit; restarted 1 time; next try in 250ms (back-off delay 250ms)"
    );
}

#[test]
fn killed_by_a_signal_and_by_zinit_at_the_timeout() {
    let mut h = Harness::new();
    let mut s = spec("stubborn");
    s.shutdown_timeout = Duration::from_secs(3);
    h.monitor("stubborn", s);
    let pid = h.pid("stubborn");
    h.advance(ms(500));
    h.exit(pid, ExitStatus::Signaled(11));
    assert!(
        explain(&h, "stubborn").summary.starts_with(
            "stubborn is in Error(killed by signal SIGSEGV): it was last killed by SIGSEGV \
             0ms ago after running 500ms;"
        ),
        "{}",
        explain(&h, "stubborn").summary
    );
    h.advance(ms(250));
    let pid = h.pid("stubborn");
    h.call(Command::Stop(name("stubborn"))).unwrap();
    assert_eq!(
        explain(&h, "stubborn").summary,
        "stubborn is stopping: zinit sent SIGTERM to pid 101 and waits for it to exit; SIGKILL \
         follows after its shutdown_timeout (3s)"
    );
    h.advance(Duration::from_secs(3));
    h.exit(pid, ExitStatus::Signaled(9));
    assert_eq!(
        explain(&h, "stubborn").summary,
        "stubborn is in Error(killed by signal SIGKILL) and stays down: it was stopped on \
         request (target Down); it was last killed by zinit with SIGKILL 0ms ago after running \
         3.0s, because it did not stop within its shutdown_timeout (3s) after SIGTERM; `zinit \
         start stubborn` starts it again"
    );
}

#[test]
fn stopped_by_the_operator() {
    let mut h = Harness::new();
    h.monitor("web", spec("web"));
    h.advance(Duration::from_secs(192));
    let pid = h.pid("web");
    h.call(Command::Stop(name("web"))).unwrap();
    h.advance(ms(40));
    h.exit(pid, ExitStatus::Signaled(15));
    h.advance(Duration::from_secs(5));
    let w = explain(&h, "web");
    assert_eq!(
        w.summary,
        "web is in Error(killed by signal SIGTERM) and stays down: it was stopped on request \
         (target Down); it was last stopped by zinit with SIGTERM 5.0s ago after running 3m \
         12s; `zinit start web` starts it again"
    );
    assert!(w.blocked_by.is_empty());
}

#[test]
fn a_oneshot_that_succeeded_and_one_that_runs() {
    let mut h = Harness::new();
    h.monitor("init", oneshot(spec("init")));
    h.advance(ms(1500));
    assert_eq!(
        explain(&h, "init").summary,
        "init is Spawned: the oneshot is running (pid 100, for 1.5s); it becomes Success when \
         it exits with code 0"
    );
    let pid = h.pid("init");
    h.exit(pid, ExitStatus::Code(0));
    h.advance(Duration::from_secs(3));
    assert_eq!(
        explain(&h, "init").summary,
        "init is Success: the oneshot finished; it last exited with code 0 3.0s ago after \
         running 1.5s; it does not run again unless started (`zinit start init`)"
    );
}

#[test]
fn a_test_that_cannot_run() {
    let mut h = Harness::new();
    h.failing.insert(
        (name("svc"), RunKind::Probe),
        "executable \"check\" not found".into(),
    );
    h.monitor("svc", tested(spec("svc")));
    h.monitor("web", after(spec("web"), &["svc"]));
    h.advance(Duration::from_secs(5));
    assert_eq!(
        explain(&h, "svc").summary,
        "svc is in TestFailure(executable \"check\" not found): it runs (pid 100, up 5.0s) but \
         its test cannot run: executable \"check\" not found; the test is not retried, so svc \
         never becomes Running and services waiting for it stay Blocked; fix the test, then \
         `zinit restart svc`"
    );
    assert_eq!(
        explain(&h, "web").summary,
        "web is Blocked: waiting for svc, which is in TestFailure(executable \"check\" not \
         found): its test cannot run (executable \"check\" not found), so it never becomes \
         Running until it is fixed and restarted"
    );
}

#[test]
fn a_backing_off_service_with_a_test_shows_the_test_output() {
    let mut h = Harness::new();
    h.monitor("db", tested(spec("db")));
    let probe = h.pid_of("db", RunKind::Probe).unwrap();
    h.exit(probe, ExitStatus::Code(1));
    let pid = h.pid("db");
    h.exit(pid, ExitStatus::Code(1));
    let long: String = (1..=12).map(|i| format!("line {i}\n")).collect();
    let output = move |_: &ServiceName| Some(long.clone());
    let w = explain_with(&h, "db", &output);
    assert_eq!(w.details.len(), 1 + 1 + 10, "{:?}", w.details);
    assert_eq!(w.details[1], "Output of db's last test:");
    assert_eq!(w.details[2], "  line 3");
    assert_eq!(w.details[11], "  line 12");
}

#[test]
fn restarting_and_shutting_down() {
    let mut h = Harness::new();
    h.monitor("db", spec("db"));
    h.monitor("web", after(spec("web"), &["db"]));
    h.command(Command::Restart(name("web")));
    assert_eq!(
        explain(&h, "web").summary,
        "web is restarting: zinit sent SIGTERM to pid 101 and starts it again once it has \
         exited; SIGKILL follows after its shutdown_timeout (10s)"
    );
    let pid = h.pid("web");
    h.exit(pid, ExitStatus::Signaled(15));
    h.command(Command::Shutdown(ShutdownMode::Exit));
    assert_eq!(
        explain(&h, "db").summary,
        "db is Running, pid 100: zinit is shutting down and stops it once the services that \
         depend on it have stopped"
    );
    assert_eq!(
        explain(&h, "web").summary,
        "web is stopping: zinit is shutting down and sent SIGTERM to pid 102; SIGKILL follows \
         after its shutdown_timeout (10s)"
    );
    let pid = h.pid("web");
    h.exit(pid, ExitStatus::Signaled(15));
    let pid = h.pid("db");
    h.exit(pid, ExitStatus::Signaled(15));
    let w = explain(&h, "db");
    assert_eq!(
        w.summary,
        "db is in Error(killed by signal SIGTERM) and stays down: zinit is shutting down"
    );
    assert_eq!(
        w.details,
        vec!["It was last stopped by zinit with SIGTERM 0ms ago after running 0ms."]
    );
}

#[test]
fn restart_policies_and_a_give_up_are_explained() {
    use crate::spec::{RestartLimit, RestartWhen};
    let mut h = Harness::new();
    let mut flaky = spec("flaky");
    flaky.restart.limit = Some(RestartLimit {
        max_restarts: 1,
        window: Duration::from_secs(60),
    });
    h.monitor("flaky", flaky);
    let pid = h.pid("flaky");
    h.exit(pid, ExitStatus::Code(3));
    h.advance(ms(300));
    let pid = h.pid("flaky");
    h.advance(ms(200));
    h.exit(pid, ExitStatus::Code(3));
    h.advance(Duration::from_secs(2));
    assert_eq!(
        explain(&h, "flaky").summary,
        "flaky is in Error(gave up after 1 restarts in 1m: exited with code 3): zinit gave up \
         restarting it 2.0s ago, after 1 restarts within 1m (restart.max_restarts); it last \
         exited with code 3 2.0s ago after running 250ms; `zinit start flaky` tries again"
    );

    let mut job = spec("job");
    job.restart.when = Some(RestartWhen::OnFailure);
    h.monitor("job", job);
    let pid = h.pid("job");
    h.exit(pid, ExitStatus::Code(0));
    assert_eq!(
        explain(&h, "job").summary,
        "job is Success: it exited with code 0 and restart: on-failure restarts only failures; \
         it last exited with code 0 0ms ago after running 0ms; `zinit start job` runs it again"
    );

    let mut once = spec("once");
    once.restart.when = Some(RestartWhen::Never);
    h.monitor("once", once);
    let pid = h.pid("once");
    h.exit(pid, ExitStatus::Code(4));
    assert_eq!(
        explain(&h, "once").summary,
        "once is in Error(exited with code 4); it last exited with code 4 0ms ago after running \
         0ms; restart: never, so it is not restarted: `zinit start once` runs it again"
    );
}

#[test]
fn a_shutdown_an_end_action_began_says_which_service_and_why() {
    use crate::spec::{EndAction, RestartWhen};
    let mut h = Harness::new();
    h.monitor("db", spec("db"));
    let mut main = after(spec("main"), &["db"]);
    main.restart.when = Some(RestartWhen::Never);
    main.failure_action = EndAction::Shutdown;
    h.monitor("main", main);
    let pid = h.pid("main");
    h.exit(pid, ExitStatus::Code(3));
    let w = explain(&h, "db");
    assert!(
        w.summary.contains("zinit is shutting down"),
        "{}",
        w.summary
    );
    assert_eq!(
        w.details.last().unwrap(),
        "zinit is shutting down because service main exited with code 3 and its failure_action \
         is shutdown; a container or daemon then exits with status 3."
    );
}

#[test]
fn a_service_that_does_not_autostart_says_so() {
    let mut h = Harness::new();
    let mut lazy = spec("lazy");
    lazy.autostart = false;
    h.monitor("lazy", lazy);
    assert_eq!(
        explain(&h, "lazy").summary,
        "lazy is Unknown: it is loaded with autostart: false and waits for `zinit start lazy`"
    );
}

#[test]
fn a_dependent_held_down_by_a_required_service_says_which() {
    let mut h = Harness::new();
    h.monitor("db", spec("db"));
    let mut web = spec("web");
    web.requires = vec![name("db")];
    h.monitor("web", web);
    h.call(Command::Stop(name("db"))).unwrap();
    let web_pid = h.pid("web");
    h.exit(web_pid, ExitStatus::Signaled(15));
    let summary = explain(&h, "web").summary;
    assert!(
        summary.starts_with("web is in Error(killed by signal SIGTERM) and stays down: it requires db, which stopped or failed for good"),
        "{summary}"
    );
    assert!(
        summary.ends_with("it starts again when that starts"),
        "{summary}"
    );
    // A wanted service that is starting is what a wanter waits for.
    let mut h = Harness::new();
    h.monitor("cache", tested(spec("cache")));
    let mut api = spec("api");
    api.wants = vec![name("cache")];
    h.monitor("api", api);
    let w = explain(&h, "api");
    assert!(
        w.summary
            .starts_with("api is Blocked: waiting for cache, which is Spawned"),
        "{}",
        w.summary
    );
}

#[test]
fn who_a_service_runs_as_and_its_limits_are_said() {
    use crate::spec::{Account, CpuQuota, Resources};
    let mut h = Harness::new();
    let mut limited = spec("limited");
    limited.user = Some(Account::Name("postgres".into()));
    limited.group = Some(Account::Id(1001));
    limited.resources = Resources {
        memory_max: Some(64 << 20),
        cpu: Some(CpuQuota(500_000)),
        pids_max: Some(50),
        ..Resources::default()
    };
    h.monitor("limited", limited);
    h.monitor("plain", spec("plain"));
    assert_eq!(
        explain(&h, "limited").details.last().map(String::as_str),
        Some(
            "It runs as user postgres, with group 1001, limited by resources memory_max 64MiB, \
             cpu 0.5 cores, pids_max 50."
        )
    );
    assert!(explain(&h, "plain").details.is_empty());
}
