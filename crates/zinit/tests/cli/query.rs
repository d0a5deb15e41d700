//! `list`, `status` and `stats`: exact YAML, and `--json`.

use super::*;

#[test]
fn list_and_status_print_yaml_and_one_json_object() {
    let d = Daemon::new();
    d.service("a", "exec: sleep 1000\n")
        .service("b", "exec: sleep 1000\nafter: [a]\n")
        .service("once", "exec: \"true\"\noneshot: true\n")
        .service("blocked", "exec: sleep 1000\nafter: [missing]\n");
    let d = d.start();
    d.wait_running("b");
    d.wait_state("once", |s| s == "Success");

    quiet_stdout(
        &d.zinit(&["list"]),
        "a: Running\nb: Running\nblocked: Blocked\nonce: Success\n",
    );
    assert_eq!(
        json_of(&d.ok(&["--json", "list"])),
        json!({"a": "Running", "b": "Running", "blocked": "Blocked", "once": "Success"})
    );

    let (a, b) = (pid_of(&d, "a"), pid_of(&d, "b"));
    quiet_stdout(
        &d.zinit(&["status", "a"]),
        &format!("after: {{}}\nname: a\npid: {a}\nstate: Running\ntarget: Up\n"),
    );
    quiet_stdout(
        &d.zinit(&["status", "b"]),
        &format!("after:\n  a: Running\nname: b\npid: {b}\nstate: Running\ntarget: Up\n"),
    );
    quiet_stdout(
        &d.zinit(&["status", "once"]),
        "after: {}\nname: once\npid: 0\nstate: Success\ntarget: Up\n",
    );
    // `--json` is accepted after the command too.
    assert_eq!(
        json_of(&d.ok(&["status", "b", "--json"])),
        json!({"after": {"a": "Running"}, "name": "b", "pid": b, "state": "Running", "target": "Up"})
    );
}

#[test]
fn stats_shows_the_service_and_its_children() {
    let d = Daemon::new();
    d.service("s", &sh("sleep 1000 & echo child $!; wait"));
    // The exact shape of a stats answer without cgroups; what a service's
    // cgroups add is tested in reliability::limits.
    let d = d.start_args(&["--cgroup", "off"]);
    let pid = d.wait_running("s");
    let child = wait_for("the child's pid in the log", || {
        snapshot(&d, Some("s"))
            .iter()
            .find_map(|l| l.strip_prefix("[+] s: child ").map(str::to_owned))
    });

    let out = d.zinit(&["stats", "s"]);
    assert_eq!(
        (out.status.code(), text(&out.stderr).as_str()),
        (Some(0), "")
    );
    // Usage numbers vary: check the shape exactly, and that they are numbers.
    let mut numbers = Vec::new();
    let shape: Vec<String> = text(&out.stdout)
        .lines()
        .map(|line| match line.split_once(": ") {
            Some((key, value))
                if ["cpu_usage", "memory_usage", "cpu_seconds", "uptime_seconds"]
                    .iter()
                    .any(|k| key.ends_with(k)) =>
            {
                numbers.push(value.parse::<f64>().expect("a number"));
                format!("{key}: #")
            }
            Some(("started_at", value)) => {
                humantime::parse_rfc3339(value.trim_matches('"')).expect("an RFC 3339 time");
                "started_at: T".to_owned()
            }
            _ => line.to_owned(),
        })
        .collect();
    let expected = format!(
        "children:\n  - cpu_seconds: #\n    cpu_usage: #\n    memory_usage: #\n    pid: {child}\n\
         cpu_seconds: #\ncpu_usage: #\nmemory_usage: #\nname: s\npid: {pid}\nrestarts: 0\n\
         started_at: T\ntotal_cpu_usage: #\ntotal_memory_usage: #\nuptime_seconds: #"
    );
    assert_eq!(shape.join("\n"), expected);
    assert!(numbers.iter().all(|n| *n >= 0.0), "{numbers:?}");

    let stats = json_of(&d.ok(&["--json", "stats", "s"]));
    assert_eq!(stats["name"], "s");
    assert_eq!(stats["pid"], pid);
    assert!(
        stats["memory_usage"].as_u64().is_some_and(|m| m > 0),
        "{stats}"
    );
    assert!(
        stats["cpu_usage"].as_f64().is_some_and(|c| c >= 0.0),
        "{stats}"
    );
    let children = stats["children"].as_array().expect("children");
    assert_eq!(children.len(), 1, "{stats}");
    assert_eq!(children[0]["pid"].to_string(), child);
    assert!(
        children[0]["memory_usage"].as_u64().is_some_and(|m| m > 0),
        "{stats}"
    );
}
