//! Resource limits (`resources:`) through real cgroups. These machines, like
//! many real hosts, are hybrid: cgroup2 without controllers, and memory,
//! cpu and pids as cgroup v1 hierarchies. zinit contains each service in
//! a private cgroup2 mount (`--cgroup MOUNT/zinit-test-N`) and applies its
//! limits through the v1 hierarchies; these tests read the limit files the
//! kernel enforces, make a memory hog meet its limit and a fork bomb its
//! pids limit. On a host whose cgroup2 offers the controllers the same
//! keys go to the service's cgroup2 directory (unit tests in
//! `process::limit_places` cover those writes).

use super::cgroups::{cgroup_pids, CgroupMount};
use crate::common::namespace::*;
use crate::common::*;
use std::path::PathBuf;

/// The v1 directory of `controller` that service `name` joins: below
/// zinit's own v1 cgroup (the test's, which zinit inherits), in the
/// directory named after zinit's cgroup2 base.
fn v1_service_dir(cg: &CgroupMount, controller: &str, name: &str) -> Option<PathBuf> {
    use zinit_daemon::process::cgroup_v1::own_v1_dir;
    use zinit_daemon::process::mountinfo::parse_mountinfo;
    let mounts = parse_mountinfo(&std::fs::read_to_string("/proc/self/mountinfo").ok()?);
    let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let base_name = cg.base.file_name()?;
    let dir = own_v1_dir(&mounts, &own, controller)?
        .join(base_name)
        .join(format!("{name}.service"));
    Some(dir)
}

/// Whether this host has the v1 hierarchies these tests use; under CI
/// (hybrid machines) they must be there.
fn hybrid_host() -> bool {
    let hybrid = ["memory", "cpu", "pids"].iter().all(|c| {
        std::path::Path::new("/sys/fs/cgroup")
            .join(c)
            .join("tasks")
            .exists()
    });
    if !hybrid {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI machines are hybrid cgroup hosts: cgroup v1 memory, cpu and pids must be mounted"
        );
        eprintln!("skipped: not a hybrid cgroup host (no v1 memory, cpu and pids hierarchies)");
    }
    hybrid
}

fn read(dir: &std::path::Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file))
        .unwrap_or_else(|e| panic!("{}/{file}: {e}", dir.display()))
        .trim()
        .to_owned()
}

#[test]
fn limits_are_in_force_through_v1_hierarchies_and_unapplied_ones_are_named() {
    require_root!("limits_are_in_force_through_v1_hierarchies_and_unapplied_ones_are_named");
    if !hybrid_host() {
        return;
    }
    let d = Daemon::new();
    let cg = CgroupMount::new(&d);
    d.service(
        "limited",
        "exec: sleep 1000\nresources:\n  memory_max: 64MiB\n  memory_high: 32MiB\n  \
         cpu: 0.5\n  cpu_weight: 200\n  pids_max: 50\n",
    );
    d.service("free", "exec: sleep 1001\n");
    let d = d.start_args(&["--cgroup", &cg.arg()]);
    let pid = d.wait_running("limited") as i32;
    let memory = v1_service_dir(&cg, "memory", "limited").expect("v1 memory dir");
    let cpu = v1_service_dir(&cg, "cpu", "limited").expect("v1 cpu dir");
    let pids = v1_service_dir(&cg, "pids", "limited").expect("v1 pids dir");
    assert_eq!(read(&memory, "memory.limit_in_bytes"), "67108864");
    assert_eq!(read(&cpu, "cpu.cfs_quota_us"), "50000");
    assert_eq!(read(&cpu, "cpu.cfs_period_us"), "100000");
    assert_eq!(read(&cpu, "cpu.shares"), "2048");
    assert_eq!(read(&pids, "pids.max"), "50");
    for dir in [&memory, &cpu, &pids] {
        assert!(
            cgroup_pids(dir).contains(&pid),
            "{} holds {pid}",
            dir.display()
        );
    }
    // And its cgroup2 directory still contains it, for stops.
    assert!(cgroup_pids(&cg.service("limited")).contains(&pid));
    // A service without limits joins no v1 cgroup.
    d.wait_running("free");
    assert!(!v1_service_dir(&cg, "memory", "free").unwrap().exists());

    // v1 has no memory.high: said in status and why, and the service runs.
    let status = d.result("service_status", serde_json::json!({"name": "limited"}));
    let warnings = status["warnings"].as_array().expect("warnings").clone();
    assert_eq!(warnings.len(), 1, "{status}");
    assert_eq!(
        warnings[0],
        "resources.memory_high not applied: cgroup v1 has no memory.high (throttling threshold)"
    );
    let why = d.result("service_why", serde_json::json!({"name": "limited"}));
    let details = why["details"].to_string();
    assert!(
        details.contains("Its limit resources.memory_high not applied"),
        "{why}"
    );
    let free = d.result("service_status", serde_json::json!({"name": "free"}));
    assert!(free.get("warnings").is_none(), "{free}");

    // stats and system_metrics carry what the cgroups count.
    let stats = d.result("service_stats", serde_json::json!({"name": "limited"}));
    let cgroup = &stats["cgroup"];
    assert_eq!(cgroup["memory_max_bytes"], 67108864, "{stats}");
    assert_eq!(cgroup["pids_max"], 50, "{stats}");
    assert_eq!(cgroup["pids_current"], 1, "{stats}");
    assert!(cgroup["memory_current_bytes"].as_u64().is_some(), "{stats}");
    assert!(cgroup["cpu_usage_seconds"].as_f64().is_some(), "{stats}");
    assert_eq!(cgroup["oom_kills"], 0, "{stats}");
    let metrics = d.result("system_metrics", serde_json::json!({}));
    let services = metrics["services"].as_array().unwrap();
    let limited = services.iter().find(|s| s["name"] == "limited").unwrap();
    assert_eq!(limited["cgroup"]["pids_max"], 50, "{limited}");
    let free = services.iter().find(|s| s["name"] == "free").unwrap();
    assert!(free["cgroup"]["pids_max"].is_null(), "{free}");

    // Stopped and forgotten: its v1 cgroups go too.
    d.ok(&["stop", "limited"]);
    d.ok(&["forget", "limited"]);
    wait_until("v1 cgroups removed", || {
        !memory.exists() && !cpu.exists() && !pids.exists()
    });
}

#[test]
fn a_memory_hog_is_reported_as_killed_by_the_oom_killer_for_certain() {
    require_root!("a_memory_hog_is_reported_as_killed_by_the_oom_killer_for_certain");
    if !hybrid_host() {
        return;
    }
    let d = Daemon::new();
    let cg = CgroupMount::new(&d);
    // `tail` keeps an endless line in memory: it grows until the limit.
    d.service(
        "hog",
        "exec: tail /dev/zero\nrestart: never\nresources:\n  memory_max: 16MiB\n  \
         memory_swap_max: 0\n",
    );
    d.service("bystander", "exec: sleep 1000\n");
    let d = d.start_args(&["--cgroup", &cg.arg()]);
    d.wait_state("hog", |s| s.starts_with("Error"));
    let memory = v1_service_dir(&cg, "memory", "hog").unwrap();
    assert!(read(&memory, "memory.oom_control").contains("oom_kill 1"));
    let why = d.result("service_why", serde_json::json!({"name": "hog"}));
    let summary = why["summary"].as_str().unwrap();
    assert!(
        summary.contains("by the kernel's OOM killer: its cgroup reached its memory limit"),
        "{summary}"
    );
    assert!(!summary.contains("probably"), "{summary}");
    // zinit and the other service are untouched.
    assert_eq!(d.state("bystander").0, "Running");
}

#[test]
fn a_fork_bomb_stops_at_its_pids_limit_and_the_rest_goes_on() {
    require_root!("a_fork_bomb_stops_at_its_pids_limit_and_the_rest_goes_on");
    if !hybrid_host() {
        return;
    }
    let d = Daemon::new();
    let cg = CgroupMount::new(&d);
    // Forks 100 sleepers and goes on when the kernel refuses one (a shell
    // would exit at its first failed fork).
    let bomb = d.path("bomb.py");
    std::fs::write(
        &bomb,
        "import os, time\nforked = 0\nfor _ in range(100):\n    try:\n        \
         if os.fork() == 0:\n            time.sleep(1000)\n            os._exit(0)\n        \
         forked += 1\n    except OSError:\n        pass\nprint('forked', forked, flush=True)\n\
         time.sleep(1000)\n",
    )
    .unwrap();
    d.service(
        "bomb",
        &format!(
            "exec: python3 {}\nresources:\n  pids_max: 20\n",
            bomb.display()
        ),
    );
    d.service("bystander", "exec: sleep 1001\n");
    let d = d.start_args(&["--cgroup", &cg.arg()]);
    d.wait_running("bomb");
    let pids = v1_service_dir(&cg, "pids", "bomb").unwrap();
    // It tried all 100 and the kernel refused the forks past 20.
    let ok = wait_for_or_timeout(|| d.ok(&["log", "-s", "bomb"]).contains("forked"));
    let log = d.ok(&["log", "-s"]);
    assert!(ok, "{log}");
    // Itself and 19 children: exactly the 20 tasks allowed.
    assert!(log.contains("bomb: forked 19"), "{log}");
    let inside = cgroup_pids(&pids).len();
    assert!(inside <= 20, "{inside} tasks in a cgroup limited to 20");
    assert!(
        inside >= 10,
        "the limit, not something else, stopped it: {inside}"
    );
    assert!(read(&pids, "pids.events").starts_with("max "));
    assert_ne!(read(&pids, "pids.events"), "max 0");
    // zinit answers, and the other service still runs and can restart.
    assert_eq!(d.state("bystander").0, "Running");
    d.ok(&["restart", "bystander"]);
    d.wait_running("bystander");
    d.ok(&["stop", "bomb"]);
    wait_until("the bomb is gone", || cgroup_pids(&pids).is_empty());
}

#[test]
fn without_cgroups_limits_have_no_effect_and_say_so() {
    let d = Daemon::new();
    d.service("limited", "exec: sleep 1000\nresources:\n  pids_max: 5\n");
    let d = d.start_args(&["--cgroup", "off"]);
    d.wait_running("limited");
    let status = d.result("service_status", serde_json::json!({"name": "limited"}));
    assert_eq!(
        status["warnings"],
        serde_json::json!([
            "resources.pids_max not applied: zinit runs without cgroups (--cgroup off, or no \
             writable cgroup2 hierarchy): the service runs unlimited"
        ])
    );
    wait_until("the load-time warning in zinit's log", || {
        d.output()
            .contains("service limited: resources.pids_max not applied: zinit runs without cgroups")
    });
}
