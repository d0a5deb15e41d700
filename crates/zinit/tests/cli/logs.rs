//! `log -s [NAME]` snapshots, `log [NAME]` following, and `init -b`.

use super::*;

#[test]
fn log_snapshot_prints_stdout_and_stderr_lines_and_filters_by_name() {
    let d = Daemon::new();
    d.service(
        "talk",
        &sh("echo out one; echo err one >&2; echo out two; exec sleep 1000"),
    )
    .service("other", &sh("echo other line; exec sleep 1000"));
    let d = d.start();
    let pid = d.wait_running("talk");
    for line in [
        "[+] talk: out one",
        "[+] talk: out two",
        "[-] talk: err one",
        "[+] other: other line",
    ] {
        wait_log(&d, line);
    }

    // stdout and stderr are separate pipes: each in order, interleaving free.
    let talk = snapshot(&d, Some("talk"));
    let of = |prefix: &str| -> Vec<&str> {
        talk.iter()
            .filter(|l| l.starts_with(prefix))
            .map(String::as_str)
            .collect()
    };
    assert_eq!(of("[+] "), ["[+] talk: out one", "[+] talk: out two"]);
    assert_eq!(of("[-] "), ["[-] talk: err one"]);
    assert_eq!(talk.len(), 3, "{talk:?}");
    assert_eq!(snapshot(&d, Some("other")), ["[+] other: other line"]);
    assert_eq!(snapshot(&d, Some("nope")), Vec::<String>::new());

    // Unfiltered: everything, and zinit's own line for each start.
    let all = snapshot(&d, None);
    for line in talk.iter().chain(&snapshot(&d, Some("other"))) {
        assert!(all.contains(line), "{line:?} missing from {all:?}");
    }
    assert!(
        all.iter()
            .all(|l| l.starts_with("[+] ") || l.starts_with("[-] ")),
        "{all:?}"
    );
    assert!(
        all.iter().any(|l| l.starts_with("[+] zinit: ")
            && l.contains("talk")
            && l.contains(&pid.to_string())),
        "no start line for talk (pid {pid}) in {all:?}"
    );
}

#[test]
fn log_follows_new_lines_until_interrupted() {
    let d = Daemon::new();
    d.service(
        "talker",
        &sh("trap \"echo ping\" USR1; echo first; while true; do sleep 0.05; done"),
    )
    .service("noise", &sh("echo noise; exec sleep 1000"));
    let d = d.start();
    d.wait_running("talker");
    wait_log(&d, "[+] talker: first");
    wait_log(&d, "[+] noise: noise");

    let mut follower = Follower::start(&d, &["talker"]);
    assert_eq!(
        follower.expect_line("[+] talker: first"),
        Vec::<String>::new()
    );
    quiet(&d.zinit(&["kill", "talker", "SIGUSR1"]));
    assert_eq!(
        follower.expect_line("[+] talker: ping"),
        Vec::<String>::new()
    );

    let interrupted = Instant::now();
    signal(follower.child.id() as i32, libc::SIGINT);
    let (status, stderr) = follower.wait();
    assert_eq!((status.code(), stderr.as_str()), (Some(0), ""));
    assert!(
        interrupted.elapsed() < Duration::from_secs(5),
        "slow to stop: {:?}",
        interrupted.elapsed()
    );
    assert!(follower
        .lines
        .try_iter()
        .all(|l| l.starts_with("[+] talker: ")));
}

#[test]
fn init_buffer_flag_bounds_the_log() {
    let mut d = Daemon::new();
    let trigger = d.path("trigger");
    d.service(
        "burst",
        &sh(&format!(
            "while [ ! -e {} ]; do sleep 0.02; done; \
             for i in 1 2 3 4 5 6 7 8 9 10; do echo line $i; done; exec sleep 1000",
            trigger.display()
        )),
    );
    d.spawn_init(&["-b", "3"]);
    let socket = d.socket.clone();
    wait_until("the control socket", || {
        std::os::unix::net::UnixStream::connect(&socket).is_ok()
    });
    d.wait_running("burst");
    std::fs::write(&trigger, "").expect("trigger");
    wait_log(&d, "[+] burst: line 10");
    // Three lines in all; by fair share (docs/logs.md) zinit's line, below
    // its share, stays, and burst keeps its newest two.
    let all = snapshot(&d, None);
    assert_eq!(all.len(), 3, "{all:?}");
    assert!(
        all[0].starts_with("[+] zinit: service burst started"),
        "{all:?}"
    );
    let last = ["[+] burst: line 9", "[+] burst: line 10"];
    assert_eq!(all[1..], last);
    assert_eq!(snapshot(&d, Some("burst")), last);
}
