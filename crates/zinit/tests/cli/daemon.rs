//! `zinit init` itself: shutdown and reboot, its socket, a missing config
//! directory, signals, and the quick start on `examples/services`.

use super::*;

fn stops_everything_and_exits(command: &str) {
    let d = Daemon::new();
    d.service("a", &sh(LOOP))
        .service("b", &format!("{}after: [a]\n", sh(LOOP)));
    let mut d = d.start();
    d.wait_running("b");
    let mut follower = Follower::start(&d, &[]);
    // Connected once the buffered lines arrive.
    follower.expect_line("[+] b: ready");

    quiet(&d.zinit(&[command]));
    let status = d.wait_exit();
    expect_clean_exit(&mut d, status);
    // The follower's stream ends with the daemon: exit 0.
    let (status, stderr) = follower.wait();
    assert_eq!((status.code(), stderr.as_str()), (Some(0), ""));
    unreachable(&d.zinit(&["list"]), &d.socket);
}

#[test]
fn shutdown_stops_everything_and_exits() {
    stops_everything_and_exits("shutdown");
}

#[test]
fn reboot_when_not_pid_1_stops_everything_and_exits() {
    stops_everything_and_exits("reboot");
}

#[test]
fn shutdown_with_no_services_answers_and_exits() {
    let mut d = Daemon::new().start();
    quiet(&d.zinit(&["shutdown"]));
    let status = d.wait_exit();
    expect_clean_exit(&mut d, status);
}

#[test]
fn init_refuses_a_live_socket_and_replaces_a_stale_one() {
    let d = Daemon::new();
    stale_socket(&d.socket);
    d.service("a", "exec: sleep 1000\n");
    let d = d.start();
    d.wait_running("a");

    let socket = d.socket.display().to_string();
    refused_with(&init_once(&d, &[]), &[&socket, "already"]);
    // The first daemon still owns its socket and answers.
    quiet_stdout(&d.zinit(&["list"]), "a: Running\n");
    assert_eq!(d.marked_processes().len(), 1, "{:?}", d.marked_processes());
}

#[test]
fn init_refuses_to_replace_a_regular_file() {
    let d = Daemon::new();
    std::fs::write(&d.socket, "precious").expect("write");
    let socket = d.socket.display().to_string();
    refused_with(&init_once(&d, &[]), &[&socket, "not a socket"]);
    assert_eq!(
        std::fs::read_to_string(&d.socket).expect("read"),
        "precious"
    );
}

#[test]
fn init_with_a_missing_config_dir_runs_with_no_services() {
    let mut d = Daemon::new();
    d.config = d.path("missing");
    let mut d = d.start();
    quiet_stdout(&d.zinit(&["list"]), "{}\n");
    quiet_stdout(&d.zinit(&["--json", "list"]), "{}\n");
    let missing = d.config.display().to_string();
    wait_until("the error about the config directory", || {
        d.output()
            .lines()
            .any(|l| l.contains("ERROR") && l.contains(&missing))
    });
    quiet(&d.zinit(&["shutdown"]));
    let status = d.wait_exit();
    expect_clean_exit(&mut d, status);
}

#[test]
fn sigterm_and_sigint_stop_services_and_exit_0() {
    for sig in [libc::SIGTERM, libc::SIGINT] {
        let d = Daemon::new();
        d.service("a", &sh(LOOP));
        let mut d = d.start();
        d.wait_running("a");
        signal(d.pid() as i32, sig);
        let status = d.wait_exit();
        expect_clean_exit(&mut d, status);
    }
}

#[test]
fn sigterm_right_after_binding_still_stops_cleanly() {
    let mut d = Daemon::new();
    d.service("a", &sh(LOOP));
    d.spawn_init(&[]);
    let socket = d.socket.clone();
    wait_until("the socket file", || socket.exists());
    signal(d.pid() as i32, libc::SIGTERM);
    let status = d.wait_exit();
    expect_clean_exit(&mut d, status);
}

#[test]
fn quick_start_on_the_bundled_examples() {
    let mut d = Daemon::new();
    d.config = workspace_root().join("examples/services");
    let mut d = d.start();
    wait_for(
        "db Running, migrate Success, web Running, flaky cycling",
        || {
            let list = json_of(&d.ok(&["--json", "list"]));
            let state = |name: &str| list[name].as_str().unwrap_or_default().to_owned();
            let flaky = state("flaky");
            let cycling = flaky.starts_with("Error") || flaky == "Running" || flaky == "Success";
            (state("db") == "Running"
                && state("migrate") == "Success"
                && state("web") == "Running"
                && cycling
                && list.as_object().is_some_and(|o| o.len() == 4))
            .then_some(())
        },
    );
    wait_log(&d, "[+] web: listening on port 8080");
    wait_log(&d, "[+] migrate: schema applied");
    quiet(&d.zinit(&["shutdown"]));
    let status = d.wait_exit();
    expect_clean_exit(&mut d, status);
}
