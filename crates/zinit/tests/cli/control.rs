//! `start`, `stop`, `restart`, `monitor`, `forget`, `kill`, and refusals.

use super::*;

#[test]
fn start_stop_restart_monitor_forget() {
    let d = Daemon::new();
    d.service("t", &sh(LOOP));
    let d = d.start();
    let first = d.wait_running("t") as i32;
    wait_log(&d, "[+] t: ready");

    quiet(&d.zinit(&["stop", "t"]));
    d.wait_state("t", |s| s == "Success");
    quiet_stdout(
        &d.zinit(&["status", "t"]),
        "after: {}\nname: t\npid: 0\nstate: Success\ntarget: Down\n",
    );
    assert!(!alive(first), "stopped, yet pid {first} lives");

    quiet(&d.zinit(&["start", "t"]));
    let second = d.wait_running("t") as i32;
    assert_ne!(second, first);

    // restart returns once the old run is gone and the new one started.
    quiet(&d.zinit(&["restart", "t"]));
    let (state, third) = d.state("t");
    let third = third as i32;
    assert_eq!(state, "Running");
    assert!(
        third != 0 && third != second,
        "pid {third} after restart of {second}"
    );
    assert!(!alive(second), "old pid {second} still alive after restart");
    assert!(alive(third));

    // monitor: a file written after start.
    d.service("n", "exec: sleep 1000\n");
    quiet(&d.zinit(&["monitor", "n"]));
    d.wait_running("n");
    refused(
        &d.zinit(&["monitor", "n"]),
        "service \"n\" already monitored",
    );
    refused_with(&d.zinit(&["monitor", "nofile"]), &["nofile.yaml"]);

    // forget: refused while up, accepted once stopped.
    refused(&d.zinit(&["forget", "n"]), "service \"n\" is up");
    quiet(&d.zinit(&["stop", "n"]));
    wait_until("n to have no pid", || d.state("n").1 == 0);
    quiet(&d.zinit(&["forget", "n"]));
    quiet_stdout(&d.zinit(&["list"]), "t: Running\n");
    refused(&d.zinit(&["status", "n"]), "service name \"n\" unknown");
}

#[test]
fn kill_sends_sigterm_by_default_and_the_named_signal() {
    let d = Daemon::new();
    let record = d.path("signals");
    let r = record.display();
    // Traps TERM and USR1; stops on SIGINT, so the test ends quickly.
    let script = format!(
        "trap \"echo TERM >> {r}\" TERM; trap \"echo USR1 >> {r}\" USR1; \
         echo ready; while true; do sleep 0.05; done"
    );
    d.service("k", &format!("{}signal:\n  stop: SIGINT\n", sh(&script)));
    d.service("once", "exec: \"true\"\noneshot: true\n");
    let d = d.start();
    let pid = d.wait_running("k");
    wait_log(&d, "[+] k: ready");
    let recorded = || std::fs::read_to_string(&record).unwrap_or_default();

    quiet(&d.zinit(&["kill", "k"]));
    wait_until("SIGTERM to be trapped", || recorded() == "TERM\n");
    quiet(&d.zinit(&["kill", "k", "SIGUSR1"]));
    wait_until("SIGUSR1 to be trapped", || recorded() == "TERM\nUSR1\n");
    assert_eq!(d.state("k"), ("Running".to_owned(), pid));

    d.wait_state("once", |s| s == "Success");
    refused(&d.zinit(&["kill", "once"]), "service \"once\" is down");
    refused(&d.zinit(&["stats", "once"]), "service \"once\" is down");
    refused_with(&d.zinit(&["kill", "k", "SIGNOPE"]), &["signal", "SIGNOPE"]);
    assert_eq!(recorded(), "TERM\nUSR1\n");
}

#[test]
fn unknown_services_are_refused_with_exit_1() {
    let d = Daemon::new().start();
    for command in [
        "status", "start", "stop", "restart", "forget", "stats", "kill",
    ] {
        refused(
            &d.zinit(&[command, "nope"]),
            "service name \"nope\" unknown",
        );
    }
    refused_with(&d.zinit(&["status", "../x"]), &["\"../x\""]);
}
