//! Promises 9, 11 and 12 at the config directory: service files are
//! written atomically and never through a link, read only when they are
//! regular files (a symlink or FIFO is refused by name and left alone), a
//! half-written file is reported with its position and loads once
//! complete, and create/delete/monitor/forget racing on one name leave the
//! daemon consistent with the disk.
//!
//! Already proved elsewhere: names never escape the directory
//! (protocol/robustness.rs `hostile_names_are_refused_everywhere`), broken
//! files reported by file, line and key at start (cli/ and zinit-core's
//! config golden tests), create never overwrites and leaves no temporary
//! (zinit-daemon service_files unit tests).

use crate::common::namespace::*;
use crate::common::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::time::{Duration, Instant};

/// Entries of the config directory, by name.
fn entries(d: &Daemon) -> BTreeSet<String> {
    std::fs::read_dir(&d.config)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// A response's error code, or `None` for a result.
fn code(response: &Value) -> Option<i64> {
    response.get("error").map(|e| e["code"].as_i64().unwrap())
}

/// A small deterministic generator: no dependency, the same runs each time.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

#[test]
fn create_delete_monitor_and_forget_racing_on_one_name_stay_consistent() {
    let d = Daemon::new().start();
    let contents: Vec<Value> = (0..4)
        .map(|i| json!({"exec": "sleep 1000", "env": {"VARIANT": i.to_string()}}))
        .collect();
    // Refusals a race may produce; anything else (internal errors above
    // all) is a bug.
    let allowed = [
        -32000, // ServiceNotFound
        -32001, // ServiceAlreadyMonitored
        -32002, // ServiceIsUp
        -32003, // ServiceIsDown
        -32005, // ConfigError (monitor of a file deleted meanwhile)
        -32007, // ServiceAlreadyExists
        -32009, // InvalidStateTransition
    ];
    let until = Instant::now() + Duration::from_secs(4);
    let calls: usize = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..4u64)
            .map(|worker| {
                let (d, contents, allowed) = (&d, &contents, &allowed);
                scope.spawn(move || {
                    let mut rng = Lcg(worker + 1);
                    let mut c = RpcConnection::open(&d.socket);
                    let mut calls = 0;
                    while Instant::now() < until {
                        let variant = &contents[rng.next(4) as usize];
                        let (method, params) = match rng.next(8) {
                            0 | 1 => ("service_create", json!(["x", variant])),
                            2 => ("service_delete", json!(["x"])),
                            3 | 4 => ("service_monitor", json!(["x"])),
                            5 => ("service_forget", json!(["x"])),
                            6 => ("service_stop", json!(["x"])),
                            _ => ("service_get", json!(["x"])),
                        };
                        let response = c.call(method, params);
                        if let Some(code) = code(&response) {
                            assert!(allowed.contains(&code), "{method}: {response}");
                        }
                        calls += 1;
                    }
                    calls
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    assert!(calls > 100, "only {calls} calls");

    // The disk and the daemon agree.
    let path = d.config.join("x.yaml");
    let got = d.rpc("service_get", json!(["x"]));
    if path.exists() {
        assert!(contents.contains(&got["result"]), "{got}");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("sleep 1000"), "{text}");
    } else {
        assert_eq!(code(&got), Some(-32000), "{got}");
    }
    // No temporary file is left behind, only the service file if any.
    let left = entries(&d);
    assert!(
        left.is_empty() || left == BTreeSet::from(["x.yaml".to_owned()]),
        "{left:?}"
    );
    // At most the one process of the monitored service runs.
    let monitored = d.rpc("service_list", json!([]))["result"]
        .as_object()
        .unwrap()
        .contains_key("x");
    if monitored {
        let (state, pid) = d.wait_state("x", |s| s != "Spawning" && s != "Blocked");
        let running = d.marked_processes();
        if state == "Running" {
            assert_eq!(running, vec![pid as i32]);
        }
        let _ = d.rpc("service_stop", json!(["x"]));
        wait_until("x to stop", || d.state("x").1 == 0);
        assert_eq!(code(&d.rpc("service_forget", json!(["x"]))), None);
    }
    within(Duration::from_secs(10), "nothing of x to run", || {
        d.marked_processes().is_empty().then_some(())
    });
    nothing_survives(&d);
    // And the daemon goes on serving: a last round trip on the same name.
    let _ = d.rpc("service_delete", json!(["x"]));
    assert_eq!(
        d.rpc("service_create", json!(["x", contents[0]]))["result"],
        json!(format!("service \"x\" created: {}", path.display()))
    );
    assert_eq!(code(&d.rpc("service_monitor", json!(["x"]))), None);
    d.wait_running("x");
}

#[test]
fn a_half_written_service_file_is_reported_and_loads_once_complete() {
    let d = Daemon::new();
    d.service("web", "exec: \"sleep 1000\"\n");
    // An editor (or a copy) caught half-way: the flow list is not closed.
    let half = "exec: \"sleep 1000\"\nafter: [web\n";
    d.service("half", half);
    // And one truncated to nothing.
    d.service("empty", "");
    let d = d.start();
    d.wait_running("web");
    let path = d.config.join("half.yaml");
    let empty = d.config.join("empty.yaml");
    assert_eq!(d.ok(&["list"]), "web: Running\n");
    let out = d.output();
    let half_line = out
        .lines()
        .find(|l| l.contains(&format!("{}:", path.display())))
        .unwrap_or_else(|| panic!("no diagnostic for half.yaml in:\n{out}"));
    assert!(
        half_line.contains(&format!("{}:3:", path.display())),
        "{half_line}"
    );
    assert!(
        out.contains(&format!(
            "{}:1:1: the file is empty: expected a mapping with at least `exec`",
            empty.display()
        )),
        "{out}"
    );

    // monitor reports the same, naming the file and the position.
    let answer = d.rpc("service_monitor", json!(["half"]));
    assert_eq!(code(&answer), Some(-32005), "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!(
            "invalid service file {} (1 error): {}:3:",
            path.display(),
            path.display()
        )),
        "{message}"
    );
    let answer = d.rpc("service_monitor", json!(["empty"]));
    assert_eq!(code(&answer), Some(-32005), "{answer}");

    // The editor finishes: the same file now loads.
    std::fs::write(&path, half.replace("[web\n", "[web]\n")).unwrap();
    assert_eq!(code(&d.rpc("service_monitor", json!(["half"]))), None);
    d.wait_running("half");
    assert_eq!(
        d.rpc("service_status", json!(["half"]))["result"]["after"],
        json!({"web": "Running"})
    );
}

#[test]
fn a_symlinked_or_special_service_file_is_refused_and_left_alone() {
    let d = Daemon::new();
    d.service("web", "exec: \"sleep 1000\"\n");
    // A link to a file outside the directory, and a FIFO (which would
    // block a reader forever).
    let target = d.path("outside.yaml");
    std::fs::write(&target, "exec: \"sleep 1000\"\n").unwrap();
    let link = d.config.join("linked.yaml");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let fifo = d.config.join("fifo.yaml");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let before = std::fs::metadata(&target).unwrap();
    let d = d.start();
    d.wait_running("web");
    assert_eq!(d.ok(&["list"]), "web: Running\n");
    let why_link = "refused: it is a symbolic link (zinit does not follow symbolic links in its \
                    config directory; copy the file there instead)";
    let why_fifo = "refused: it is a FIFO (a service file must be a regular file)";
    let out = d.output();
    assert!(
        out.contains(&format!("{}: {why_link}", link.display())),
        "{out}"
    );
    assert!(
        out.contains(&format!("{}: {why_fifo}", fifo.display())),
        "{out}"
    );

    // Every method that reads the file refuses, at once, naming it.
    let start = Instant::now();
    let answer = d.rpc("service_monitor", json!(["linked"]));
    assert_eq!(
        answer["error"]["message"],
        format!("service file {} {why_link}", link.display()),
        "{answer}"
    );
    // ConfigError for every load failure of monitor, as upstream answers.
    assert_eq!(code(&answer), Some(-32005));
    let answer = d.rpc("service_monitor", json!(["fifo"]));
    assert_eq!(
        answer["error"]["message"],
        format!("service file {} {why_fifo}", fifo.display()),
        "{answer}"
    );
    let answer = d.rpc("service_get", json!(["linked"]));
    assert_eq!(
        answer["error"]["message"],
        format!("service \"linked\": {} {why_link}", link.display()),
        "{answer}"
    );
    let answer = d.rpc("service_get", json!(["fifo"]));
    assert_eq!(code(&answer), Some(-32008), "{answer}");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    // create never writes through the link.
    let answer = d.rpc("service_create", json!(["linked", {"exec": "sleep 1"}]));
    assert_eq!(code(&answer), Some(-32007), "{answer}");
    // delete removes the link itself, never its target.
    assert_eq!(
        d.rpc("service_delete", json!(["linked"]))["result"],
        json!(format!("service \"linked\" deleted: {}", link.display()))
    );
    assert!(std::fs::symlink_metadata(&link).is_err());
    let after = std::fs::metadata(&target).unwrap();
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        "exec: \"sleep 1000\"\n"
    );
    assert_eq!(
        (after.ino(), after.mtime(), after.mtime_nsec()),
        (before.ino(), before.mtime(), before.mtime_nsec())
    );
    // A regular file in its place loads.
    let answer = d.rpc("service_create", json!(["linked", {"exec": "sleep 1000"}]));
    assert_eq!(code(&answer), None, "{answer}");
    assert!(std::fs::symlink_metadata(&link).unwrap().is_file());
    assert_eq!(code(&d.rpc("service_monitor", json!(["linked"]))), None);
    d.wait_running("linked");
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        "exec: \"sleep 1000\"\n"
    );
    // The FIFO is still there, untouched, and nobody is stuck on it.
    assert!(std::fs::symlink_metadata(&fifo)
        .unwrap()
        .file_type()
        .is_fifo());
    assert_eq!(d.legacy("list")["state"], "ok");
}
