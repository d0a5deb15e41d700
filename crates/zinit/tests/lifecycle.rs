//! Service lifecycle through the real binary: dependency order, oneshots,
//! restarts with back-off, stop escalation, restart, shutdown order.

mod common;

use common::*;

#[test]
fn services_start_in_dependency_order_and_stop_in_reverse() {
    let d = Daemon::new();
    let order = d.path("order");
    let record = |name: &str| {
        format!(
            "exec: \"sh -c 'echo start {name} >> {o}; trap \\\"echo stop {name} >> {o}; exit 0\\\" TERM; while true; do sleep 0.05; done'\"\n",
            o = order.display()
        )
    };
    d.service(
        "db",
        &format!("{}test: \"test -e {}\"\n", record("db"), order.display()),
    );
    d.service(
        "migrate",
        &format!(
            "exec: \"sh -c 'echo start migrate >> {}'\"\noneshot: true\nafter: [db]\n",
            order.display()
        ),
    );
    d.service("app", &format!("{}after: [migrate]\n", record("app")));
    let mut d = d.start();
    d.wait_running("app");
    assert_eq!(d.state("migrate").0, "Success");
    // Running (no test) means spawned: wait for its first line.
    wait_until("app to write its line", || {
        std::fs::read_to_string(&order)
            .unwrap()
            .ends_with("start app\n")
    });
    let started = std::fs::read_to_string(&order).unwrap();
    assert_eq!(started, "start db\nstart migrate\nstart app\n");
    // Each sets its TERM trap just after writing its line.
    wait_handles(d.state("db").1, libc::SIGTERM);
    wait_handles(d.state("app").1, libc::SIGTERM);

    let status = d.terminate();
    assert!(status.success(), "zinit exited with {status}");
    let all = std::fs::read_to_string(&order).unwrap();
    assert_eq!(
        all,
        "start db\nstart migrate\nstart app\nstop app\nstop db\n",
        "{}",
        d.output()
    );
    assert!(
        d.marked_processes().is_empty(),
        "left running: {:?}",
        d.marked_processes()
    );
}

/// Lines of a file, or none if it does not exist yet.
/// `first` appears in zinit's output `out`, and before `then`.
fn assert_logged_in_order(out: &str, first: &str, then: &str) {
    let at = |what: &str| {
        out.find(what)
            .unwrap_or_else(|| panic!("no {what:?} in {out}"))
    };
    assert!(at(first) < at(then), "{first:?} after {then:?} in {out}");
}

fn lines(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_crashing_service_is_restarted_with_growing_delays() {
    let d = Daemon::new();
    let starts = d.path("starts");
    d.service(
        "crash",
        &format!(
            "exec: \"sh -c 'date +%s%N >> {}; exit 3'\"\n",
            starts.display()
        ),
    );
    let d = d.start();
    wait_until("four starts", || lines(&starts).len() >= 4);
    let (state, _) = d.state("crash");
    assert!(
        state == "Error(exited with code 3)" || state == "Running",
        "{state}"
    );
    let stamps: Vec<u128> = lines(&starts).iter().map(|l| l.parse().unwrap()).collect();
    let gaps_ms: Vec<u128> = stamps
        .windows(2)
        .map(|w| (w[1] - w[0]) / 1_000_000)
        .collect();
    // Lower bounds only: a slow machine can make gaps longer, never shorter.
    for (gap, delay) in gaps_ms.iter().zip([250u128, 500, 1000]) {
        assert!(*gap >= delay - 25, "gaps {gaps_ms:?} shorter than back-off");
    }
}

#[test]
fn stop_sends_the_stop_signal_and_kills_at_the_timeout() {
    let d = Daemon::new();
    let log = d.path("got");
    d.service(
        "polite",
        &format!(
            "exec: \"sh -c 'trap \\\"echo INT >> {} ; exit 0\\\" INT; while true; do sleep 0.05; done'\"\nsignal:\n  stop: sigint\n",
            log.display()
        ),
    );
    d.service(
        "stubborn",
        "exec: \"sh -c 'trap \\\"\\\" TERM; while true; do sleep 0.05; done'\"\nshutdown_timeout: 1\n",
    );
    let d = d.start();
    let polite = d.wait_running("polite");
    let stubborn = d.wait_running("stubborn");
    wait_handles(polite, libc::SIGINT);
    wait_handles(stubborn, libc::SIGTERM);
    d.ok(&["stop", "polite"]);
    d.ok(&["stop", "stubborn"]);
    let (state, pid) = d.wait_state("polite", |s| s == "Success");
    assert_eq!((state.as_str(), pid), ("Success", 0));
    assert_eq!(lines(&log), vec!["INT"]);
    let (state, _) = d.wait_state("stubborn", |s| s != "Running");
    assert_eq!(state, "Error(killed by signal SIGKILL)");
    assert!(!alive(polite as i32) && !alive(stubborn as i32));
    let status = d.ok(&["status", "stubborn"]);
    assert!(status.contains("target: Down"), "{status}");
}

#[test]
fn stop_reaches_the_whole_process_group() {
    let d = Daemon::new();
    d.service(
        "family",
        "exec: \"sh -c 'sleep 1000 & sleep 1000 & wait'\"\n",
    );
    let d = d.start();
    d.wait_running("family");
    wait_until("three processes", || d.marked_processes().len() == 3);
    d.ok(&["stop", "family"]);
    wait_until("the whole group to be gone", || {
        d.marked_processes().is_empty()
    });
}

#[test]
fn restart_returns_after_the_old_process_is_gone() {
    let d = Daemon::new();
    d.service("web", "exec: \"sleep 1000\"\n");
    let d = d.start();
    let old = d.wait_running("web");
    d.ok(&["restart", "web"]);
    assert!(
        !alive(old as i32),
        "old process {old} still alive after restart"
    );
    let (state, new) = d.wait_state("web", |s| s == "Running");
    assert_eq!(state, "Running");
    assert_ne!(new, old);
    assert_ne!(new, 0);
}

#[test]
fn a_missing_executable_is_failure_and_others_still_run() {
    let d = Daemon::new();
    d.service("ghost", "exec: \"/nonexistent/bin/ghost --flag\"\n");
    d.service("fine", "exec: \"sleep 1000\"\n");
    let d = d.start();
    d.wait_running("fine");
    let (state, pid) = d.wait_state("ghost", |s| s.starts_with("Failure"));
    assert_eq!(pid, 0);
    assert!(state.contains("/nonexistent/bin/ghost"), "{state}");
}

#[test]
fn the_test_command_gates_running_and_dependents() {
    let d = Daemon::new();
    let ready = d.path("ready");
    d.service(
        "db",
        &format!(
            "exec: \"sleep 1000\"\ntest: \"test -e {}\"\ntest_interval: 50ms\n",
            ready.display()
        ),
    );
    d.service("app", "exec: \"sleep 1000\"\nafter: [db]\n");
    d.service(
        "broken",
        "exec: \"sleep 1000\"\ntest: \"/nonexistent/check\"\n",
    );
    let d = d.start();
    d.wait_state("db", |s| s == "Spawned");
    let (state, pid) = d.state("app");
    assert_eq!((state.as_str(), pid), ("Blocked", 0));
    let status = d.legacy("status app");
    assert_eq!(status["body"]["after"]["db"], "Spawned");
    std::fs::write(&ready, "").unwrap();
    d.wait_running("db");
    d.wait_running("app");
    let (state, pid) = d.wait_state("broken", |s| s.starts_with("TestFailure"));
    assert!(state.contains("/nonexistent/check"), "{state}");
    assert_ne!(pid, 0, "the service itself keeps running");
}

#[test]
fn cycles_are_blocked_and_named() {
    let d = Daemon::new();
    d.service("a", "exec: \"sleep 1000\"\nafter: [b]\n");
    d.service("b", "exec: \"sleep 1000\"\nafter: [a]\n");
    d.service("c", "exec: \"sleep 1000\"\n");
    let d = d.start();
    d.wait_running("c");
    for name in ["a", "b"] {
        let status = d.legacy(&format!("status {name}"));
        assert_eq!(status["body"]["state"], "Blocked", "{status}");
        assert_eq!(
            status["body"]["reason"], "dependency cycle: a -> b -> a",
            "{status}"
        );
    }
    wait_until("the cycle in the daemon log", || {
        d.output().contains("dependency cycle: a -> b -> a")
    });
}

#[test]
fn a_missing_dependency_blocks_until_it_is_monitored() {
    let d = Daemon::new();
    d.service("app", "exec: \"sleep 1000\"\nafter: [db]\n");
    let d = d.start();
    d.wait_state("app", |s| s == "Blocked");
    let status = d.legacy("status app");
    assert_eq!(status["body"]["after"]["db"], "Unknown");
    assert_eq!(status["body"]["reason"], "waiting for db (not monitored)");
    d.service("db", "exec: \"sleep 1000\"\n");
    d.ok(&["monitor", "db"]);
    d.wait_running("db");
    d.wait_running("app");
}

#[test]
fn oneshots_run_once() {
    let d = Daemon::new();
    let runs = d.path("runs");
    d.service(
        "once",
        &format!(
            "exec: \"sh -c 'echo run >> {}'\"\noneshot: true\n",
            runs.display()
        ),
    );
    d.service("after-once", "exec: \"sleep 1000\"\nafter: [once]\n");
    let d = d.start();
    d.wait_running("after-once");
    assert_eq!(d.state("once"), ("Success".to_owned(), 0));
    // A second look later: still exactly one run.
    d.ok(&["start", "after-once"]);
    assert_eq!(lines(&runs), vec!["run"]);
}

#[test]
fn the_environment_merges_daemon_file_and_service_values() {
    let d = Daemon::new();
    let out = d.path("env");
    std::fs::write(
        d.path("environment"),
        format!(
            "ZINIT_TEST_MARKER={}\n# a comment\nFROM_FILE=file\nOVERRIDDEN=file\n",
            d.marker
        ),
    )
    .unwrap();
    d.service(
        "printer",
        &format!(
            "exec: \"sh -c 'echo $FROM_FILE $OVERRIDDEN $OWN $PWD > {}; exec sleep 1000'\"\nenv:\n  OVERRIDDEN: service\n  OWN: 42\ndir: {}\n",
            out.display(),
            d.dir.path().display()
        ),
    );
    let d = d.start();
    wait_until("the service to write its environment", || {
        lines(&out).len() == 1
    });
    assert_eq!(
        lines(&out),
        vec![format!("file service 42 {}", d.dir.path().display())]
    );
}

#[test]
fn services_start_clean() {
    use std::os::unix::process::CommandExt;
    let d = Daemon::new();
    let out = d.path("hygiene");
    d.service(
        "probe",
        &format!(
            "exec: \"sh -c 'grep -E \\\"^(SigBlk|SigIgn)\\\" /proc/self/status > {o}; ls /proc/self/fd >> {o}; echo $$ $(cut -d\\\" \\\" -f5,6 /proc/$$/stat) >> {o}; exec sleep 1000'\"\nlog: null\n",
            o = out.display()
        ),
    );
    // zinit itself inherits a stray fd (7) and blocked/ignored signals;
    // none of it may reach a service.
    let stray = std::fs::File::open("/dev/null").unwrap();
    let stray_fd = std::os::unix::io::AsRawFd::as_raw_fd(&stray);
    let mut command = std::process::Command::new(ZINIT);
    unsafe {
        command.pre_exec(move || {
            // SAFETY: only async-signal-safe calls between fork and exec.
            libc::dup2(stray_fd, 7);
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGUSR2);
            libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            libc::signal(libc::SIGHUP, libc::SIG_IGN);
            Ok(())
        });
    }
    let d = d.start_with(command);
    let pid = d.wait_running("probe");
    wait_until("the report", || lines(&out).len() >= 7);
    let report = lines(&out);
    assert_eq!(report[0], "SigBlk:\t0000000000000000");
    assert_eq!(report[1], "SigIgn:\t0000000000000000");
    // 0, 1, 2 and the fd `ls` itself opened for /proc/self/fd.
    assert_eq!(&report[2..5], ["0", "1", "2"]);
    let ids: Vec<u64> = report
        .last()
        .unwrap()
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    assert_eq!(ids, vec![pid, pid, pid], "own session and group");
}

#[test]
fn log_modes_ring_null_and_stdout() {
    let d = Daemon::new();
    d.service(
        "ring",
        "exec: \"sh -c 'echo to-ring; echo err-ring >&2; exec sleep 1000'\"\n",
    );
    d.service(
        "quiet",
        "exec: \"sh -c 'echo to-null; exec sleep 1000'\"\nlog: none\n",
    );
    d.service(
        "nulled",
        "exec: \"sh -c 'echo to-null-too; exec sleep 1000'\"\nlog: null\n",
    );
    d.service(
        "loud",
        "exec: \"sh -c 'echo to-zinit-stdout; exec sleep 1000'\"\nlog: stdout\n",
    );
    let d = d.start();
    wait_until("ring lines", || {
        let logs = d.ok(&["log", "-s"]);
        logs.contains("[+] ring: to-ring") && logs.contains("[-] ring: err-ring")
    });
    wait_until("stdout line", || d.output().contains("to-zinit-stdout"));
    let logs = d.ok(&["log", "-s"]);
    assert!(!logs.contains("to-null"), "{logs}");
    assert!(!logs.contains("to-zinit-stdout"), "{logs}");
}

#[test]
fn services_do_not_inherit_the_http_token() {
    let d = Daemon::new();
    let out = d.path("seen");
    d.service(
        "nosy",
        &format!(
            "exec: \"sh -c 'echo ${{ZINIT_HTTP_TOKEN:-unset}} ${{FROM_ZINIT:-unset}} > {}; exec sleep 1000'\"\n",
            out.display()
        ),
    );
    let mut command = std::process::Command::new(ZINIT);
    command
        .env("ZINIT_HTTP_TOKEN", "secret")
        .env("FROM_ZINIT", "inherited");
    // Kept until the end: dropping it stops the daemon.
    let _daemon = d.start_with(command);
    wait_until("the service's report", || lines(&out).len() == 1);
    assert_eq!(lines(&out), vec!["unset inherited"]);
}

#[test]
fn restart_policies_and_the_crash_loop_limit_with_real_processes() {
    let d = Daemon::new();
    let starts = d.path("starts");
    // Fails at once, every time: two restarts, then zinit gives up.
    d.service(
        "crash",
        &format!(
            "exec: \"sh -c 'echo x >> {}; exit 3'\"\nrestart: {{max_restarts: 2, window: 1m, delay: 50ms}}\n",
            starts.display()
        ),
    );
    // Succeeds: on-failure leaves it down in Success.
    let job_runs = d.path("job-runs");
    d.service(
        "job",
        &format!(
            "exec: \"sh -c 'echo x >> {}'\"\nrestart: on-failure\n",
            job_runs.display()
        ),
    );
    // Fails: never leaves it down in Error.
    d.service("once", "exec: \"sh -c 'exit 4'\"\nrestart: never\n");
    let d = d.start();
    let gave_up = "Error(gave up after 2 restarts in 1m: exited with code 3)";
    wait_until("zinit to give up on crash", || {
        d.state("crash").0 == gave_up
    });
    assert_eq!(lines(&starts).len(), 3, "one run and two restarts");
    wait_until("job to succeed", || d.state("job").0 == "Success");
    wait_until("once to fail", || {
        d.state("once").0 == "Error(exited with code 4)"
    });
    let why = d.ok(&["why", "crash"]);
    assert!(
        why.contains("zinit gave up restarting it")
            && why.contains("`zinit start crash` tries again"),
        "{why}"
    );
    assert!(d
        .ok(&["why", "job"])
        .contains("restart: on-failure restarts only failures"));
    assert!(d
        .ok(&["why", "once"])
        .contains("restart: never, so it is not restarted"));
    assert!(
        d.output()
            .contains("service crash: gave up after 2 restarts in 1m (restart.max_restarts 2)"),
        "{}",
        d.output()
    );
    // Nothing more runs by itself...
    let status = d.rpc("service_status", serde_json::json!(["crash"]));
    assert_eq!(status["result"]["target"], "Up", "{status}");
    // ...until an operator starts it: a fresh count of restarts.
    d.ok(&["start", "crash"]);
    wait_until("zinit to give up again", || {
        lines(&starts).len() == 6 && d.state("crash").0 == gave_up
    });
    assert_eq!(lines(&job_runs).len(), 1);
    d.ok(&["start", "job"]);
    wait_until("job to run again", || lines(&job_runs).len() == 2);
    wait_until("job to succeed again", || d.state("job").0 == "Success");
}

#[test]
fn a_container_whose_main_service_fails_stops_the_others_in_order_and_exits_with_its_status() {
    let mut d = Daemon::new();
    d.service("db", "exec: \"sleep 1000\"\n");
    d.service("web", "exec: \"sleep 1000\"\nafter: [db]\n");
    d.service(
        "main",
        "exec: \"sh -c 'exit 3'\"\nafter: [web]\nrestart: never\nfailure_action: shutdown\n",
    );
    d.spawn_init(&["--container"]);
    let status = d.wait_exit();
    let out = d.output();
    assert_eq!(status.code(), Some(3), "{out}");
    assert!(
        out.contains(
            "service main exited with code 3 and its failure_action is shutdown: shutting down"
        ),
        "{out}"
    );
    assert_logged_in_order(&out, "stopping service web", "stopping service db");
    assert!(out.contains("exiting with status 3"), "{out}");
}

#[test]
fn a_daemon_ends_with_its_job_and_reboot_never_reboots_a_daemon() {
    // success_action: the daemon exits 0 once the oneshot succeeded.
    let mut d = Daemon::new();
    d.service("other", "exec: \"sleep 1000\"\n");
    d.service(
        "job",
        "exec: \"true\"\noneshot: true\nsuccess_action: shutdown\nafter: [other]\n",
    );
    d.spawn_init(&[]);
    let status = d.wait_exit();
    assert_eq!(status.code(), Some(0), "{}", d.output());
    assert!(d
        .output()
        .contains("service job exited with code 0 and its success_action is shutdown"));

    // reboot as a daemon: exit with the status (128 + SIGKILL), no reboot.
    let mut d = Daemon::new();
    d.service(
        "killed",
        "exec: \"sh -c 'kill -9 $$'\"\nrestart: never\nfailure_action: reboot\n",
    );
    d.spawn_init(&[]);
    let status = d.wait_exit();
    assert_eq!(status.code(), Some(137), "{}", d.output());
}

/// examples/main-and-sidecars does what its README says.
#[test]
fn the_main_and_sidecars_example_exits_with_the_apps_status() {
    let mut d = Daemon::new();
    let example =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/main-and-sidecars");
    for entry in std::fs::read_dir(&example).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            std::fs::copy(&path, d.config.join(path.file_name().unwrap())).unwrap();
        }
    }
    d.spawn_init(&["--container"]);
    let status = d.wait_exit();
    let out = d.output();
    assert_eq!(status.code(), Some(3), "{out}");
    assert!(
        out.contains("service app: gave up after 2 restarts in 1m"),
        "{out}"
    );
    assert!(
        out.contains(
            "service app gave up after 2 restarts in 1m: exited with code 3 and its failure_action is shutdown: shutting down"
        ),
        "{out}"
    );
    assert_logged_in_order(&out, "stopping service metrics", "stopping service cache");
}

#[test]
fn a_service_that_does_not_autostart_waits_for_start() {
    let d = Daemon::new();
    d.service("lazy", "exec: \"sleep 1000\"\nautostart: false\n");
    d.service("web", "exec: \"sleep 1000\"\nafter: [lazy]\n");
    let d = d.start();
    let status = d.rpc("service_status", serde_json::json!(["lazy"]))["result"].clone();
    assert_eq!(
        (status["state"].as_str(), status["target"].as_str()),
        (Some("Unknown"), Some("Down"))
    );
    assert_eq!(d.state("web").0, "Blocked");
    assert!(d.ok(&["why", "lazy"]).contains("autostart: false"));
    d.ok(&["start", "lazy"]);
    d.wait_running("lazy");
    d.wait_running("web");
}

#[test]
fn a_requires_chain_stops_dependents_first_and_starts_them_again() {
    let d = Daemon::new();
    d.service("db", "exec: \"sleep 1000\"\n");
    d.service("app", "exec: \"sleep 1000\"\nrequires: [db]\n");
    d.service("web", "exec: \"sleep 1000\"\nrequires: app\n");
    let d = d.start();
    for n in ["db", "app", "web"] {
        d.wait_running(n);
    }
    let status = d.rpc("service_status", serde_json::json!(["app"]))["result"].clone();
    assert_eq!(
        status["requires"],
        serde_json::json!({"db": "Running"}),
        "{status}"
    );
    assert!(status.get("wants").is_none(), "{status}");
    d.ok(&["stop", "db"]);
    wait_until("the chain to stop", || {
        ["db", "app", "web"].iter().all(|n| d.state(n).1 == 0)
    });
    let out = d.output();
    assert_logged_in_order(&out, "stopping service web (", "stopping service app (");
    assert_logged_in_order(&out, "stopping service app (", "stopping service db (");
    assert!(d
        .ok(&["why", "app"])
        .contains("it requires db, which stopped or failed for good"));
    // service_create checks the new keys like the loader does.
    let refused = d.rpc(
        "service_create",
        serde_json::json!(["loop", {"exec": "sleep 1", "requires": ["loop"]}]),
    );
    assert_eq!(refused["error"]["code"], -32005, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("requires: a service cannot require itself (loop)"),
        "{refused}"
    );
    // db starts again: app and web follow, in order.
    d.ok(&["start", "db"]);
    for n in ["db", "app", "web"] {
        d.wait_running(n);
    }
}

#[test]
fn conflicting_services_never_run_together() {
    let d = Daemon::new();
    d.service("app", "exec: \"sleep 1000\"\n");
    d.service(
        "maintenance",
        "exec: \"sleep 1000\"\nconflicts: [app]\nautostart: false\n",
    );
    let d = d.start();
    d.wait_running("app");
    d.ok(&["start", "maintenance"]);
    d.wait_running("maintenance");
    wait_until("app to stop", || d.state("app").1 == 0);
    assert_eq!(
        d.rpc("service_status", serde_json::json!(["app"]))["result"]["target"],
        "Down"
    );
    d.ok(&["start", "app"]);
    d.wait_running("app");
    wait_until("maintenance to stop", || d.state("maintenance").1 == 0);
}
