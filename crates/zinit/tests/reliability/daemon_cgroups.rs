//! Issue #15 item 6: `--cgroup auto` in daemon mode. As root, a daemon
//! puts its services in a directory of its own (`zinit-<hash of the
//! socket>`) inside its own cgroup of a writable cgroup2 hierarchy found in
//! /proc/self/mountinfo (`/sys/fs/cgroup/unified` on a hybrid host,
//! `/sys/fs/cgroup` on a pure cgroup2 one), says so in one line at start,
//! and removes the directory at exit. Two daemons never share a service
//! cgroup, and a daemon restarted after a SIGKILL finds its predecessor's
//! leftovers there.

use crate::cgroups::{cgroup_pids, wait_count};
use crate::common::namespace::*;
use crate::common::*;
use std::path::{Path, PathBuf};

/// zinit's own cgroup directory as the test sees it: the test and the
/// daemons it starts share a cgroup.
fn own_cgroup_dirs() -> Vec<PathBuf> {
    let mountinfo = read(Path::new("/proc/self/mountinfo"));
    let own = read(Path::new("/proc/self/cgroup"))
        .lines()
        .find_map(|l| l.strip_prefix("0::").map(str::to_owned))
        .expect("a cgroup2 line");
    mountinfo
        .lines()
        .filter(|l| {
            l.split(" - ")
                .nth(1)
                .is_some_and(|t| t.starts_with("cgroup2 "))
        })
        .filter_map(|l| {
            let mut fields = l.split_whitespace();
            let root = fields.nth(3)?;
            let point = fields.next()?;
            let below = own.strip_prefix(root.trim_end_matches('/'))?;
            Some(Path::new(point).join(below.trim_start_matches('/')))
        })
        .collect()
}

/// The base the daemon announced; checked to be its own directory inside
/// the cgroup it shares with the test.
#[track_caller]
fn instance_base(d: &Daemon) -> PathBuf {
    let base = wait_for("the cgroup line", || d.cgroup_base());
    assert!(is_instance_base(&base), "{}", d.output());
    let parent = base.parent().expect("a parent").to_owned();
    assert!(
        own_cgroup_dirs().contains(&parent),
        "{} is not in zinit's own cgroup ({:?})",
        base.display(),
        own_cgroup_dirs()
    );
    base
}

fn escaper(d: &Daemon, name: &str, sleep: &str) {
    let path = script(
        d,
        name,
        &format!("setsid sleep {sleep} &\nexec sleep 1000\n"),
    );
    d.service(name, &sh_service(&path, ""));
}

#[test]
fn a_daemon_gets_its_own_cgroup_and_a_stop_ends_a_setsid_escapee() {
    require_root!("a_daemon_gets_its_own_cgroup_and_a_stop_ends_a_setsid_escapee");
    let d = Daemon::new();
    escaper(&d, "esc", "1061");
    let mut d = d.start();
    let base = instance_base(&d);
    let out = d.output();
    assert_eq!(
        out.matches("services run in cgroups under").count(),
        1,
        "one line names the choice: {out}"
    );
    assert!(out.contains("cgroup2 hierarchy on"), "and why: {out}");
    d.wait_running("esc");
    let escaped = wait_count(&d, "sleep 1061", 1)[0];
    let service = base.join("esc.service");
    assert!(
        cgroup_pids(&service).contains(&escaped),
        "{}",
        service.display()
    );

    d.ok(&["stop", "esc"]);
    wait_until("the escapee gone", || !alive(escaped));
    wait_until("the service's cgroup empty", || {
        cgroup_pids(&service).is_empty()
    });
    assert!(d.terminate().success());
    assert!(!base.exists(), "the instance's base is removed at exit");
    nothing_survives(&d);
}

#[test]
fn off_says_so_and_still_stops_a_setsid_escapee() {
    let d = Daemon::new();
    escaper(&d, "esc", "1062");
    let d = d.start_args(&["--cgroup", "off"]);
    d.wait_running("esc");
    let escaped = wait_count(&d, "sleep 1062", 1)[0];
    wait_until("the cgroup line", || {
        d.output().contains("not using cgroups (--cgroup off)")
    });
    assert_eq!(d.cgroup_base(), None);
    d.ok(&["stop", "esc"]);
    wait_until("the escapee gone", || !alive(escaped));
    wait_until("nothing left", || d.marked_processes().is_empty());
    nothing_survives(&d);
}

#[test]
fn two_daemons_with_the_same_service_name_do_not_share_a_cgroup() {
    require_root!("two_daemons_with_the_same_service_name_do_not_share_a_cgroup");
    let one = Daemon::new();
    let two = Daemon::new();
    escaper(&one, "same", "1063");
    escaper(&two, "same", "1064");
    let one = one.start();
    let two = two.start();
    let (base_one, base_two) = (instance_base(&one), instance_base(&two));
    assert_ne!(base_one, base_two);
    let first = wait_count(&one, "sleep 1063", 1)[0];
    let second = wait_count(&two, "sleep 1064", 1)[0];
    let (cg_one, cg_two) = (base_one.join("same.service"), base_two.join("same.service"));
    assert!(cgroup_pids(&cg_one).contains(&first));
    assert!(!cgroup_pids(&cg_one).contains(&second));
    assert!(cgroup_pids(&cg_two).contains(&second));

    // One's stop does not touch the other's.
    one.ok(&["stop", "same"]);
    wait_until("the first escapee gone", || !alive(first));
    assert!(alive(second), "the other daemon's service was hit");
    assert_eq!(two.state("same").0, "Running");
    wait_until("nothing of the first left", || {
        one.marked_processes().is_empty()
    });
    assert!(alive(second));
    nothing_survives(&one);
}

#[test]
fn a_restarted_daemon_stops_its_predecessors_leftovers_through_its_cgroup() {
    require_root!("a_restarted_daemon_stops_its_predecessors_leftovers_through_its_cgroup");
    let d = Daemon::new();
    escaper(&d, "esc", "1065");
    let mut d = d.start();
    let base = instance_base(&d);
    d.wait_running("esc");
    let old = wait_count(&d, "sleep 1065", 1)[0];
    let mut state = d.socket.as_os_str().to_owned();
    state.push(".state");
    let state = PathBuf::from(state);
    wait_until("the state file written", || read(&state).contains("esc "));
    d.kill_daemon();
    // Without the state file, only the cgroup tells what was running.
    std::fs::remove_file(&state).expect("remove state file");
    assert!(
        base.join("esc.service").exists(),
        "left behind by the crash"
    );

    d.spawn_init(&[]);
    let socket = d.socket.clone();
    wait_until("the new zinit answers", || answers(&socket));
    d.wait_running("esc");
    assert!(!alive(old), "the old setsid escapee survived");
    wait_count(&d, "sleep 1065", 1);
    let out = d.output();
    assert!(out.contains("left running by a previous zinit"), "{out}");
    assert!(
        out.contains(&base.join("esc.service").display().to_string()),
        "{out}"
    );
    assert_eq!(d.cgroup_base(), Some(base.clone()), "the same base again");
    assert!(d.terminate().success());
    assert!(!base.exists());
    nothing_survives(&d);
}
