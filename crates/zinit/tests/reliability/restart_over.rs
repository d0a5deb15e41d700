//! Issue #7 item 7: zinit (not PID 1) SIGKILLed and started again on the
//! same config and socket never runs a second copy of a service. The new
//! instance stops what the old one left (found through `<socket>.state`,
//! each process identified by pid and start time, and through the service
//! cgroups when cgroups are on), says so in its log, then starts normally.
//! A pid in the state file that now belongs to a stranger is not touched.

use crate::cgroups::{cgroup_pids, wait_count, with_cmdline, CgroupMount};
use crate::common::namespace::*;
use crate::common::*;
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn state_file(d: &Daemon) -> PathBuf {
    let mut path = d.socket.as_os_str().to_owned();
    path.push(".state");
    PathBuf::from(path)
}

/// `solo`: one process. `family`: a leader with a child in its group.
fn two_services(d: &Daemon) {
    let solo = script(d, "solo", "exec sleep 1010\n");
    let family = script(d, "family", "sleep 1012 &\nexec sleep 1011\n");
    d.service("solo", &sh_service(&solo, ""));
    d.service("family", &sh_service(&family, "shutdown_timeout: 2\n"));
}

/// Kill zinit with SIGKILL once its state file names both services, then
/// start it again on the same config and socket.
fn crash_and_restart(d: &mut Daemon, extra: &[&str]) {
    let state = state_file(d);
    wait_until("the state file names both services", || {
        let text = read(&state);
        text.lines().any(|l| l.starts_with("solo "))
            && text.lines().any(|l| l.starts_with("family "))
    });
    d.kill_daemon();
    d.spawn_init(extra);
    let socket = d.socket.clone();
    wait_until("the new zinit's socket", || {
        std::os::unix::net::UnixStream::connect(&socket).is_ok()
    });
}

#[test]
fn a_restarted_zinit_stops_the_leftovers_before_starting_again() {
    let d = Daemon::new();
    two_services(&d);
    // Through the state file: no cgroups to find them by.
    let mut d = d.start_args(&["--cgroup", "off"]);
    let old_solo = d.wait_running("solo") as i32;
    let old_family = d.wait_running("family") as i32;
    let old_child = wait_count(&d, "sleep 1012", 1)[0];

    crash_and_restart(&mut d, &["--cgroup", "off"]);
    let new_solo = d.wait_running("solo") as i32;
    let new_family = d.wait_running("family") as i32;
    assert_ne!(new_solo, old_solo);
    assert_ne!(new_family, old_family);
    // Exactly one copy of each, and none of the old processes.
    // (Each shell execs its sleep a moment after zinit reports the pid.)
    wait_until("exactly the new solo", || {
        with_cmdline(&d, "sleep 1010") == vec![new_solo]
    });
    wait_until("exactly the new family", || {
        with_cmdline(&d, "sleep 1011") == vec![new_family]
    });
    wait_count(&d, "sleep 1012", 1);
    for old in [old_solo, old_family, old_child] {
        assert!(!alive(old), "old process {old} ({}) survived", cmdline(old));
    }
    let out = d.output();
    assert!(out.contains("left running by a previous zinit"), "{out}");
    assert!(
        out.contains(&format!("solo (pid {old_solo})"))
            && out.contains(&format!("family (pid {old_family})")),
        "{out}"
    );
    // The state file follows the new instance, and a clean exit removes it.
    let state = state_file(&d);
    wait_until("the state file names the new pids", || {
        read(&state).contains(&format!("solo {new_solo} "))
    });
    assert!(d.terminate().success());
    assert!(!state.exists(), "state file removed at a clean exit");
    nothing_survives(&d);
}

#[test]
fn a_recycled_pid_in_the_state_file_is_left_alone() {
    let d = Daemon::new();
    let path = script(&d, "svc", "exec sleep 1020\n");
    d.service("svc", &sh_service(&path, ""));
    // A stranger (the test's own child, marked so the guard ends it) with
    // the pid the file records, but not the recorded start time.
    let mut stranger = Command::new("sleep")
        .arg("1021")
        .env("ZINIT_TEST_MARKER", &d.marker)
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn stranger");
    let pid = stranger.id() as i32;
    let stat = read(&PathBuf::from(format!("/proc/{pid}/stat")));
    let start: u64 = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(19)?.parse().ok())
        .expect("start time");
    let state = state_file(&d);
    std::fs::write(&state, format!("# zinit\nsvc {pid} {}\n", start + 1)).expect("state");
    std::fs::set_permissions(&state, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod");

    let d = d.start();
    d.wait_running("svc");
    assert!(alive(pid), "the stranger was touched");
    assert!(stranger.try_wait().expect("try_wait").is_none());
    let out = d.output();
    assert!(out.contains("now belongs to another process"), "{out}");
    assert!(!out.contains("left running by a previous zinit"), "{out}");
    stranger.kill().expect("kill stranger");
    stranger.wait().expect("reap stranger");
}

#[test]
fn with_cgroups_leftovers_are_found_through_their_cgroup() {
    require_root!("with_cgroups_leftovers_are_found_through_their_cgroup");
    let d = Daemon::new();
    let cg = CgroupMount::new(&d);
    two_services(&d);
    let escaper = script(&d, "escaper", "setsid sleep 1032 &\nexec sleep 1031\n");
    d.service("escaper", &sh_service(&escaper, ""));
    let arg = cg.arg();
    let mut d = d.start_args(&["--cgroup", &arg]);
    d.wait_running("escaper");
    let old_escaped = wait_count(&d, "sleep 1032", 1)[0];
    let old_family = d.wait_running("family") as i32;

    wait_until("the state file written", || {
        read(&state_file(&d)).contains("escaper ")
    });
    d.kill_daemon();
    // Without the state file, only the cgroups tell what was running.
    std::fs::remove_file(state_file(&d)).expect("remove state file");
    d.spawn_init(&["--cgroup", &arg]);
    let socket = d.socket.clone();
    wait_until("the new zinit's socket", || {
        std::os::unix::net::UnixStream::connect(&socket).is_ok()
    });
    d.wait_running("escaper");
    d.wait_running("family");
    assert!(!alive(old_escaped), "the old setsid escaper survived");
    assert!(!alive(old_family));
    wait_count(&d, "sleep 1032", 1);
    wait_count(&d, "sleep 1031", 1);
    wait_count(&d, "sleep 1010", 1);
    wait_count(&d, "sleep 1011", 1);
    let out = d.output();
    assert!(out.contains("left running by a previous zinit"), "{out}");
    assert!(out.contains("escaper.service"), "{out}");
    assert_eq!(cgroup_pids(&cg.service("escaper")).len(), 2);
    assert!(d.terminate().success());
    nothing_survives(&d);
}
