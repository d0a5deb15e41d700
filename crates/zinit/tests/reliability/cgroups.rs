//! Promise 3 with cgroup v2: a stop reaches the whole tree of a service,
//! including processes that left its process group (`setsid`) and
//! double-forked daemons; a TERM-ignoring escaper is SIGKILLed at
//! `shutdown_timeout`. Without cgroups the stop walks the process tree
//! below the main process, so an escaper still below it is stopped too.
//! Each test mounts a private cgroup2 and passes
//! `--cgroup MOUNT/zinit-test-N`; guards kill, remove and unmount whatever
//! is left, even when a test panics. A process SIGKILLed a moment ago
//! can still be listed in `cgroup.procs` after its /proc entry stopped
//! showing the marker (its memory is released first), so emptiness is
//! waited for, not asserted.

use crate::common::namespace::*;
use crate::common::*;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A private cgroup2 mount in a temp dir and the base zinit is given.
pub(crate) struct CgroupMount {
    pub mount: tempfile::TempDir,
    /// `MOUNT/zinit-test-PID-N`: not created; zinit makes it.
    pub base: PathBuf,
}

impl CgroupMount {
    pub(crate) fn new(d: &Daemon) -> CgroupMount {
        let mount = tempfile::tempdir().expect("mount point");
        let status = std::process::Command::new("mount")
            .args(["-t", "cgroup2", "none"])
            .arg(mount.path())
            .status()
            .expect("run mount");
        assert!(status.success(), "mount -t cgroup2 failed");
        let base = mount.path().join(&d.marker);
        CgroupMount { mount, base }
    }

    pub(crate) fn arg(&self) -> String {
        self.base.display().to_string()
    }

    /// A service's cgroup directory.
    pub(crate) fn service(&self, name: &str) -> PathBuf {
        self.base.join(format!("{name}.service"))
    }
}

/// The pids in a cgroup (empty if it does not exist).
pub(crate) fn cgroup_pids(dir: &Path) -> Vec<i32> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

impl Drop for CgroupMount {
    fn drop(&mut self) {
        remove_cgroup_tree(&self.base);
        let _ = std::process::Command::new("umount")
            .arg(self.mount.path())
            .status();
    }
}

/// Marked processes whose command line is `needle`, or a `sh -c` script
/// containing it (not `setsid sleep N` on its way to exec `sleep N`).
pub(crate) fn with_cmdline(d: &Daemon, needle: &str) -> Vec<i32> {
    d.marked_processes()
        .into_iter()
        .filter(|p| {
            let c = cmdline(*p);
            c == needle || (c.starts_with("sh -c") && c.contains(needle))
        })
        .collect()
}

/// Wait until exactly `n` marked processes run `needle`; their pids.
#[track_caller]
pub(crate) fn wait_count(d: &Daemon, needle: &str, n: usize) -> Vec<i32> {
    wait_for(&format!("{n} x {needle:?}"), || {
        let found = with_cmdline(d, needle);
        (found.len() == n).then_some(found)
    })
}

/// `daemon`: double-forks a daemon (same group, orphaned to zinit).
/// `escaper`: its child calls setsid, leaving group and session.
fn tree_services(d: &Daemon) {
    let daemon = script(d, "daemon", "(sleep 1001 &)\nexec sleep 1000\n");
    let escaper = script(d, "escaper", "setsid sleep 1002 &\nexec sleep 1000\n");
    d.service("daemon", &sh_service(&daemon, ""));
    d.service("escaper", &sh_service(&escaper, ""));
}

#[test]
fn stop_reaches_setsid_escapers_and_double_forked_daemons() {
    require_root!("stop_reaches_setsid_escapers_and_double_forked_daemons");
    let d = Daemon::new();
    let cg = CgroupMount::new(&d);
    tree_services(&d);
    let d = d.start_args(&["--cgroup", &cg.arg()]);
    d.wait_running("daemon");
    d.wait_running("escaper");
    let forked = wait_count(&d, "sleep 1001", 1);
    let escaped = wait_count(&d, "sleep 1002", 1);
    // They really left: the escaper has its own session.
    let sid = |pid: i32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| {
                s.rsplit_once(')')?
                    .1
                    .split_whitespace()
                    .nth(3)?
                    .parse::<i32>()
                    .ok()
            })
    };
    let leader = d.state("escaper").1 as i32;
    assert_ne!(sid(escaped[0]), Some(leader), "setsid left the session");
    assert!(cgroup_pids(&cg.service("daemon")).contains(&forked[0]));
    assert!(cgroup_pids(&cg.service("escaper")).contains(&escaped[0]));

    d.ok(&["stop", "daemon"]);
    d.ok(&["stop", "escaper"]);
    wait_until("both stopped", || {
        d.state("daemon").1 == 0 && d.state("escaper").1 == 0
    });
    wait_until("nothing of either left", || d.marked_processes().is_empty());
    nothing_survives(&d);
    wait_until("the cgroup empty", || {
        cgroup_pids(&cg.service("daemon")).is_empty()
    });
    wait_until("the cgroup empty", || {
        cgroup_pids(&cg.service("escaper")).is_empty()
    });
    // Still answering, and a start after the stop works.
    d.ok(&["start", "escaper"]);
    wait_count(&d, "sleep 1002", 1);
}

#[test]
fn kill_restart_and_shutdown_reach_the_whole_cgroup() {
    require_root!("kill_restart_and_shutdown_reach_the_whole_cgroup");
    let d = Daemon::new();
    let cg = CgroupMount::new(&d);
    tree_services(&d);
    let mut d = d.start_args(&["--cgroup", &cg.arg()]);
    d.wait_running("escaper");
    let first = wait_count(&d, "sleep 1002", 1);

    // restart: the old run's escaper goes with it; exactly one new one.
    d.ok(&["restart", "escaper"]);
    let second = wait_for("a new escaper", || {
        let now = with_cmdline(&d, "sleep 1002");
        (now.len() == 1 && now != first).then_some(now)
    });
    assert!(!alive(first[0]));

    // kill: a signal to the main process only (as documented); the run
    // ends, zinit restarts it, and its escaper stays in the cgroup...
    let (_, pid) = d.wait_state("escaper", |s| s == "Running");
    d.ok(&["kill", "escaper", "SIGKILL"]);
    wait_until("a new run", || {
        let (state, now) = d.state("escaper");
        state == "Running" && now != 0 && now != pid
    });
    wait_count(&d, "sleep 1002", 2);
    assert!(alive(second[0]));
    // ... until the next stop, which takes everything in the cgroup.
    d.ok(&["stop", "escaper"]);
    wait_until("every escaper gone", || {
        with_cmdline(&d, "sleep 1002").is_empty()
    });

    // shutdown: nothing of any service survives, the cgroups are removed.
    d.ok(&["start", "escaper"]);
    wait_count(&d, "sleep 1002", 1);
    wait_count(&d, "sleep 1001", 1);
    assert!(d.terminate().success());
    nothing_survives(&d);
    assert!(
        !cg.service("daemon").exists(),
        "service cgroups removed at exit"
    );
    assert!(!cg.service("escaper").exists());
}

/// Stop "stubborn" (see [`stubborn`]): its escaper dies at the 1 s
/// `shutdown_timeout`, not before, and nothing marked is left.
fn stop_stubborn_and_see_its_escaper_killed_at_the_timeout(d: &Daemon) {
    d.wait_running("stubborn");
    let escaper = wait_count(d, "stubborn-escaper", 1)[0];
    wait_until("the trap set", || {
        d.ok(&["log", "-s", "stubborn"]).contains("ready")
    });
    let asked = Instant::now();
    d.ok(&["stop", "stubborn"]);
    within(Duration::from_secs(8), "the escaper SIGKILLed", || {
        (!alive(escaper)).then_some(())
    });
    let took = asked.elapsed();
    assert!(
        took >= Duration::from_millis(900),
        "killed before the timeout: {took:?}"
    );
    wait_until("nothing left", || d.marked_processes().is_empty());
}

/// A leader and an escaper that both ignore TERM.
fn stubborn(d: &Daemon) {
    let body = "trap '' TERM\n\
                setsid sh -c \"trap '' TERM; while :; do sleep 0.1; done; : stubborn-escaper\" &\n\
                echo ready\n\
                while :; do sleep 0.1; done\n";
    let path = script(d, "stubborn", body);
    d.service("stubborn", &sh_service(&path, "shutdown_timeout: 1\n"));
}

#[test]
fn a_term_ignoring_escaper_is_killed_at_the_timeout() {
    require_root!("a_term_ignoring_escaper_is_killed_at_the_timeout");
    let d = Daemon::new();
    let cg = CgroupMount::new(&d);
    stubborn(&d);
    let d = d.start_args(&["--cgroup", &cg.arg()]);
    stop_stubborn_and_see_its_escaper_killed_at_the_timeout(&d);
    wait_until("the cgroup empty", || {
        cgroup_pids(&cg.service("stubborn")).is_empty()
    });
    // zinit's own log is written by its own thread: poll for it.
    wait_until("the SIGKILL logged", || {
        mentions(&d, "did not stop within 1 s") > 0
    });
}

/// A oneshot that finished but left a daemon behind (in another session),
/// and a crashed service waiting for its restart that left a child: their
/// main processes are gone, and `stop` still ends what they left.
#[test]
fn stop_ends_what_a_finished_or_crashed_service_left_behind() {
    require_root!("stop_ends_what_a_finished_or_crashed_service_left_behind");
    let d = Daemon::new();
    let cg = CgroupMount::new(&d);
    let setup = script(&d, "setup", "setsid sleep 1051 &\nexit 0\n");
    d.service("setup", &sh_service(&setup, "oneshot: true\n"));
    let crashy = script(&d, "crashy", "sleep 1052 &\nsleep 0.2\nexit 3\n");
    d.service(
        "crashy",
        &sh_service(&crashy, "restart:\n  delay: 1h\n  max_delay: 1h\n"),
    );
    let d = d.start_args(&["--cgroup", &cg.arg()]);
    d.wait_state("setup", |s| s == "Success");
    let daemon = wait_count(&d, "sleep 1051", 1)[0];
    wait_until("crashy to crash and wait for its restart", || {
        d.state("crashy").0.starts_with("Error")
    });
    let child = wait_count(&d, "sleep 1052", 1)[0];
    assert!(cgroup_pids(&cg.service("setup")).contains(&daemon));
    assert!(cgroup_pids(&cg.service("crashy")).contains(&child));

    d.ok(&["stop", "setup"]);
    d.ok(&["stop", "crashy"]);
    wait_until("what they left to be gone", || {
        !alive(daemon) && !alive(child)
    });
    wait_until("the cgroup empty", || {
        cgroup_pids(&cg.service("setup")).is_empty()
    });
    wait_until("the cgroup empty", || {
        cgroup_pids(&cg.service("crashy")).is_empty()
    });
    // zinit's own log reaches its output through a queue: wait for it.
    wait_until("both kills in zinit's log", || {
        mentions(&d, "left behind in its cgroup") >= 2
    });
    nothing_survives(&d);
}

#[test]
fn without_cgroups_a_stop_walks_the_tree_and_kills_a_term_ignoring_escaper_at_the_timeout() {
    // Without cgroups the stop walks the tree below the main process and
    // signals what left its group through checked pidfds; the SIGKILL at
    // shutdown_timeout reaches the escaper too.
    let d = Daemon::new();
    stubborn(&d);
    let d = d.start_args(&["--cgroup", "off"]);
    stop_stubborn_and_see_its_escaper_killed_at_the_timeout(&d);
    nothing_survives(&d);
}

#[test]
fn without_cgroups_an_escaper_that_outlives_its_leader_is_killed_with_the_remnants() {
    // The leader obeys SIGTERM, its setsid escaper ignores it: the stop's
    // walk remembered the escaper, so it dies with the group's remnants
    // once the leader exits, long before shutdown_timeout.
    let d = Daemon::new();
    let body = "setsid sh -c \"trap '' TERM; while :; do sleep 0.1; done; : lone-escaper\" &\n\
                exec sleep 1000\n";
    let path = script(&d, "lone", body);
    d.service("lone", &sh_service(&path, "shutdown_timeout: 60\n"));
    let d = d.start_args(&["--cgroup", "off"]);
    d.wait_running("lone");
    let escaper = wait_count(&d, "lone-escaper", 1)[0];
    wait_handles(escaper as u64, libc::SIGTERM);
    d.ok(&["stop", "lone"]);
    within(Duration::from_secs(10), "the escaper killed", || {
        (!alive(escaper)).then_some(())
    });
    wait_until("nothing left", || d.marked_processes().is_empty());
    nothing_survives(&d);
}

#[test]
fn a_bad_cgroup_directory_is_named_and_supervision_goes_on() {
    let d = Daemon::new();
    let path = script(&d, "svc", "exec sleep 1000\n");
    d.service("svc", &sh_service(&path, ""));
    let bad = d.path("not-a-cgroup/zinit");
    let d = d.start_args(&["--cgroup", &bad.display().to_string()]);
    d.wait_running("svc");
    let out = d.output();
    assert!(
        out.contains(&*d.path("not-a-cgroup").to_string_lossy())
            && out.contains("not using cgroups"),
        "{out}"
    );
    let empty = d.zinit(&["init", "--cgroup", ""]);
    assert_eq!(empty.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&empty.stderr).contains("--cgroup"));
}

/// Removes a service cgroup at the root of the hierarchy (auto mode with
/// zinit in the root cgroup), killing what is left in it.
struct RootServiceCgroup(PathBuf);

impl Drop for RootServiceCgroup {
    fn drop(&mut self) {
        if self.0.exists() {
            let _ = std::fs::write(self.0.join("cgroup.kill"), "1");
            let start = Instant::now();
            while std::fs::remove_dir(&self.0).is_err() && start.elapsed() < DEADLINE {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

#[test]
fn auto_uses_the_cgroup_of_zinit_as_pid1() {
    require_namespaces!("auto_uses_the_cgroup_of_zinit_as_pid1");
    let d = Daemon::new();
    let cg = CgroupMount::new(&d);
    // zinit as PID 1 of a namespace whose /sys/fs/cgroup is a cgroup2
    // mount, in a cgroup of its own (as in a container): MARKER, at the
    // root of the hierarchy (the namespace has no cgroup namespace, so the
    // test must not share its cgroup with zinit).
    let own = cg.mount.path().join(&d.marker);
    std::fs::create_dir(&own).expect("zinit's cgroup");
    let _own_guard = RootServiceCgroup(own.clone());
    let path = script(&d, "auto", "setsid sleep 1042 &\nexec sleep 1041\n");
    d.service("auto", &sh_service(&path, ""));
    let service_dir = own.join("auto.service");
    let _guard = RootServiceCgroup(service_dir.clone());

    let kmsg = d.path("kmsg");
    std::fs::write(&kmsg, "").expect("kmsg stand-in");
    let mut unshare = std::process::Command::new("unshare");
    unshare
        .args([
            "--pid",
            "--fork",
            "--mount-proc",
            "--kill-child",
            "sh",
            "-c",
        ])
        .arg(format!(
            "mount -t cgroup2 none /sys/fs/cgroup && echo $$ > /sys/fs/cgroup/{}/cgroup.procs \
             && exec \"$0\" \"$@\"",
            d.marker
        ))
        .arg(ZINIT)
        .env("ZINIT_KMSG", &kmsg);
    let mut d = d;
    d.spawn_init_with(unshare, &["--container"]);
    let socket = d.socket.clone();
    within(Duration::from_secs(10), "the control socket", || {
        std::os::unix::net::UnixStream::connect(&socket).ok()
    });
    d.wait_running("auto");
    let escaped = wait_count(&d, "sleep 1042", 1)[0];
    assert!(
        cgroup_pids(&service_dir).contains(&escaped),
        "{}\n{}",
        service_dir.display(),
        d.output()
    );
    d.ok(&["stop", "auto"]);
    wait_until("nothing left", || d.marked_processes().is_empty());
    wait_until("the cgroup empty", || cgroup_pids(&service_dir).is_empty());
    d.ok(&["shutdown"]);
    wait_until("the namespace ended", || d.try_exit().is_some());
    assert!(!service_dir.exists(), "removed at exit");
    nothing_survives(&d);
}

#[test]
fn auto_refuses_a_cgroup_shared_with_processes_outside_the_namespace() {
    require_namespaces!("auto_refuses_a_cgroup_shared_with_processes_outside_the_namespace");
    let d = Daemon::new();
    let path = script(&d, "svc", "exec sleep 1050\n");
    d.service("svc", &sh_service(&path, ""));
    // cgroup2 on /sys/fs/cgroup, zinit left in the cgroup of the test.
    let kmsg = d.path("kmsg");
    std::fs::write(&kmsg, "").expect("kmsg stand-in");
    let mut unshare = std::process::Command::new("unshare");
    unshare
        .args([
            "--pid",
            "--fork",
            "--mount-proc",
            "--kill-child",
            "sh",
            "-c",
        ])
        .arg("mount -t cgroup2 none /sys/fs/cgroup && exec \"$0\" \"$@\"")
        .arg(ZINIT)
        .env("ZINIT_KMSG", &kmsg);
    let mut d = d;
    d.spawn_init_with(unshare, &["--container"]);
    let socket = d.socket.clone();
    within(Duration::from_secs(10), "the control socket", || {
        std::os::unix::net::UnixStream::connect(&socket).ok()
    });
    d.wait_running("svc");
    wait_until("the warning", || {
        d.output()
            .contains("also holds processes outside its PID namespace")
    });
    d.ok(&["shutdown"]);
    wait_until("the namespace ended", || d.try_exit().is_some());
    nothing_survives(&d);
}
