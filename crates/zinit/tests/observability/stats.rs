//! `stats` reads /proc for the service and every descendant: the figures
//! match /proc, and the supervisor's counts come with them.

use super::*;

/// The children of `pid` as the kernel lists them.
fn proc_children(pid: u64) -> Vec<u64> {
    let text =
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).expect("children file");
    text.split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect()
}

#[test]
fn stats_of_a_service_with_children_match_proc() {
    let d = Daemon::new();
    d.service(
        "tree",
        &sh("sleep 1000 & sleep 1000 & sh -c \"sleep 1000\" & wait"),
    );
    let d = d.start();
    let pid = d.wait_running("tree");
    // The shell forks its three children right after it starts.
    let mut expected = wait_for("three children and a grandchild", || {
        let children = proc_children(pid);
        let grandchildren: Vec<u64> = children.iter().flat_map(|c| proc_children(*c)).collect();
        (children.len() == 3 && grandchildren.len() == 1).then(|| {
            children
                .into_iter()
                .chain(grandchildren)
                .collect::<Vec<_>>()
        })
    });
    expected.sort();

    let stats = d.result("service_stats", json!(["tree"]));
    assert_eq!(stats["name"], "tree");
    assert_eq!(stats["pid"], pid);
    let mut found: Vec<u64> = stats["children"]
        .as_array()
        .expect("children")
        .iter()
        .map(|c| c["pid"].as_u64().unwrap())
        .collect();
    found.sort();
    assert_eq!(found, expected);

    // Memory as /proc shows it, within 5%. Processes that have just been
    // forked or exec'd still change size, and zinit and this test read
    // /proc at different moments: compare until the two readings agree.
    let within = |reported: f64, measured: f64| (reported - measured).abs() <= measured * 0.05;
    let mut last = String::new();
    let settled = wait_for_or_timeout(|| {
        let stats = d.result("service_stats", json!(["tree"]));
        let vm_rss = vm_rss_bytes(pid as u32) as f64;
        let reported = stats["memory_usage"].as_f64().unwrap();
        let tree_rss: f64 = std::iter::once(pid)
            .chain(expected.iter().copied())
            .map(|p| vm_rss_bytes(p as u32) as f64)
            .sum();
        let total = stats["total_memory_usage"].as_f64().expect("total");
        last = format!(
            "memory_usage {reported} vs VmRSS {vm_rss}; total_memory_usage {total} vs {tree_rss}"
        );
        within(reported, vm_rss) && within(total, tree_rss)
    });
    assert!(settled, "{last}");
    assert!(stats["cpu_usage"].as_f64().unwrap() >= 0.0);
    assert_eq!(stats["restarts"], 0);
    assert!(stats["uptime_seconds"].as_f64().unwrap() >= 0.0);
    humantime::parse_rfc3339(stats["started_at"].as_str().expect("started_at")).expect("RFC 3339");

    // The CLI shows the same process tree.
    let text = d.ok(&["stats", "tree"]);
    for child in &expected {
        assert!(text.contains(&format!("pid: {child}")), "{text}");
    }
}

#[test]
fn stats_count_restarts_and_remember_the_last_exit() {
    let d = Daemon::new();
    // Exits 3 on its first two runs, then stays up.
    let count = d.path("runs");
    d.service(
        "flaky",
        &sh(&format!(
            "echo x >> {0}; [ $(wc -l < {0}) -ge 3 ] && exec sleep 1000; exit 3",
            count.display()
        )),
    );
    let d = d.start();
    let pid = wait_for("the third run up", || {
        let (state, pid) = d.state("flaky");
        let runs = std::fs::read_to_string(&count)
            .unwrap_or_default()
            .lines()
            .count();
        (state == "Running" && runs == 3).then_some(pid)
    });
    let stats = d.result("service_stats", json!(["flaky"]));
    assert_eq!(stats["pid"], pid);
    assert_eq!(stats["restarts"], 2);
    assert_eq!(stats["last_exit"]["code"], 3, "{stats}");
    humantime::parse_rfc3339(stats["last_exit"]["at"].as_str().expect("at")).expect("time");
}

#[test]
fn stats_of_a_stopped_service_keep_the_compat_refusal() {
    let d = Daemon::new();
    d.service("idle", &sh("exec sleep 1000"));
    let d = d.start();
    d.wait_running("idle");
    d.ok(&["stop", "idle"]);
    d.wait_state("idle", |s| s != "Running");
    let reply = d.legacy("stats idle");
    assert_eq!(reply["state"], "error");
    assert!(reply["body"]
        .as_str()
        .unwrap()
        .contains("service \"idle\" is down"));
}
