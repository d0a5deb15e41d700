//! Service output over the socket: `log snapshot`, `log` (follow) and
//! `stream_subscribeLogs` notifications.

use super::*;
use std::collections::BTreeSet;

/// Every line of a log dump has the `[+] NAME: text` / `[-] NAME: text` shape.
fn assert_log_shape(text: &str) {
    for line in text.lines() {
        let rest = line
            .strip_prefix("[+] ")
            .or_else(|| line.strip_prefix("[-] "))
            .unwrap_or_else(|| panic!("bad log line {line:?}"));
        let (name, _) = rest
            .split_once(": ")
            .unwrap_or_else(|| panic!("bad log line {line:?}"));
        assert!(!name.is_empty() && !name.contains(' '), "{line:?}");
    }
}

#[test]
fn log_snapshot_dumps_both_streams_and_closes() {
    let d = Daemon::new();
    d.service(
        "talker",
        "exec: \"sh -c 'echo out-line; echo err-line >&2; exec sleep 1000'\"\n",
    );
    let d = d.start();
    let pid = d.wait_running("talker");
    wait_until("both lines in the ring", || {
        let snapshot = send(&d, "log snapshot");
        snapshot.contains("[+] talker: out-line\n") && snapshot.contains("[-] talker: err-line\n")
    });
    // `raw` reads to EOF: the snapshot closes by itself.
    let snapshot = send(&d, "log snapshot");
    assert!(snapshot.ends_with('\n'));
    assert_log_shape(&snapshot);
    let lines: Vec<&str> = snapshot.lines().collect();
    let own: BTreeSet<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.contains(" talker: "))
        .collect();
    assert_eq!(
        own,
        BTreeSet::from(["[+] talker: out-line", "[-] talker: err-line"])
    );
    // zinit marks the start of the service (the service's first lines may
    // come before the mark: they are read from its pipes concurrently).
    let started = format!("[+] zinit: service talker started (pid {pid})");
    assert_eq!(
        lines.iter().filter(|l| **l == started).count(),
        1,
        "{snapshot}"
    );
}

/// A `log` follower: the stream and a line reader on it.
fn follow(d: &Daemon) -> BufReader<UnixStream> {
    let mut stream = UnixStream::connect(&d.socket).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    stream.write_all(b"log\n").unwrap();
    BufReader::new(stream)
}

/// Read lines until one equals `wanted`; the lines read before it.
fn read_until_line(reader: &mut impl BufRead, wanted: &str) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line).expect("read");
        assert!(n > 0, "stream ended before {wanted:?}; got {seen:?}");
        let line = line.trim_end_matches('\n').to_owned();
        if line == wanted {
            return seen;
        }
        seen.push(line);
    }
}

/// A daemon whose service `late` prints `line` once `trigger` exists; the
/// daemon, the trigger path, the log line marking the service's start, and
/// the service's pid.
fn late_service(line: &str) -> (Daemon, std::path::PathBuf, String, u64) {
    let d = Daemon::new();
    let trigger = d.path("trigger");
    d.service(
        "late",
        &format!(
            "exec: \"sh -c 'while [ ! -e {} ]; do sleep 0.02; done; echo {line}; exec sleep 1000'\"\n",
            trigger.display()
        ),
    );
    let d = d.start();
    let pid = d.wait_running("late");
    let started = format!("[+] zinit: service late started (pid {pid})");
    (d, trigger, started, pid)
}

/// Open file descriptors of a process.
fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

#[test]
fn log_follows_new_lines_and_notices_clients_leaving() {
    let (d, trigger, started, pid) = late_service("late-line");

    let mut reader = follow(&d);
    // The backlog holds the start line: the follower is subscribed.
    read_until_line(&mut reader, &started);
    std::fs::write(&trigger, "").unwrap();
    let between = read_until_line(&mut reader, "[+] late: late-line");
    assert!(between.is_empty(), "{between:?}");
    drop(reader);

    // Many followers at once are all served (each got its backlog)...
    let mut open: Vec<_> = (0..100)
        .map(|_| {
            let mut reader = follow(&d);
            read_until_line(&mut reader, &started);
            reader
        })
        .collect();
    let baseline = fds(d.pid()) - open.len();
    assert_eq!(
        send(&d, "status late"),
        ok(&status_body("late", pid, "Running", "Up", "{}"))
    );
    open.clear();
    // ...and every one that leaves is noticed: no descriptor stays behind.
    wait_until("followers to be closed", || fds(d.pid()) <= baseline);
    // More followers than the daemon serves at once, one after another:
    // each leaves its slot free again.
    for _ in 0..600 {
        let mut reader = follow(&d);
        read_until_line(&mut reader, &started);
    }
    assert_eq!(
        send(&d, "status late"),
        ok(&status_body("late", pid, "Running", "Up", "{}"))
    );
    wait_until("followers to be closed", || fds(d.pid()) <= baseline);
}

#[test]
fn subscribed_logs_arrive_as_notifications() {
    let d = Daemon::new();
    let trigger = d.path("trigger");
    d.service(
        "late",
        &format!(
            "exec: \"sh -c 'while [ ! -e {} ]; do sleep 0.02; done; echo late-line; exec sleep 1000'\"\n",
            trigger.display()
        ),
    );
    d.service("noise", "exec: \"sh -c 'echo noise; exec sleep 1000'\"\n");
    let d = d.start();
    d.wait_running("late");
    d.wait_running("noise");

    let mut only_late = RpcConnection::open(&d.socket);
    let id = result(&mut only_late, "stream_subscribeLogs", json!(["late"]));
    assert!(id.is_u64(), "{id}");
    let mut everything = RpcConnection::open(&d.socket);
    let all_id = result(&mut everything, "stream.subscribeLogs", json!({}));
    assert!(all_id.is_u64() && all_id != id, "{all_id} {id}");

    // Lines of other services reach only the unfiltered subscription.
    assert_eq!(
        result(&mut only_late, "service_restart", json!(["noise"])),
        Value::Null
    );
    std::fs::write(&trigger, "").unwrap();
    assert_eq!(
        only_late.read_line(),
        format!(
            r#"{{"jsonrpc":"2.0","method":"stream_subscribeLogs","params":{{"subscription":{id},"result":"[+] late: late-line"}}}}"#
        )
    );
    // Requests still work on a subscribed connection.
    assert_eq!(
        result(&mut only_late, "service_list", json!([])),
        json!({"late": "Running", "noise": "Running"})
    );

    // Everything, in notifications of one shape, until both lines came.
    let mut seen = Vec::new();
    let wanted = ["[+] noise: noise", "[+] late: late-line"];
    while !wanted.iter().all(|w| seen.iter().any(|s| s == w)) {
        let line = everything.read_line();
        let note: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(note["jsonrpc"], "2.0", "{line}");
        assert_eq!(note["method"], "stream_subscribeLogs", "{line}");
        assert_eq!(note["params"]["subscription"], all_id, "{line}");
        let keys: Vec<&String> = note.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["jsonrpc", "method", "params"], "{line}");
        let params: Vec<&String> = note["params"].as_object().unwrap().keys().collect();
        assert_eq!(params, ["result", "subscription"], "{line}");
        seen.push(note["params"]["result"].as_str().unwrap().to_owned());
    }
    assert!(
        seen.iter()
            .any(|l| l.starts_with("[+] zinit: service noise started (pid ")),
        "{seen:?}"
    );
}

#[test]
fn a_half_closed_follower_keeps_receiving() {
    let (d, trigger, started, _) = late_service("after-half-close");
    // Like `echo log | socat - UNIX:...`: the command, then end of input.
    let mut reader = follow(&d);
    reader
        .get_ref()
        .shutdown(std::net::Shutdown::Write)
        .unwrap();
    read_until_line(&mut reader, &started);
    std::fs::write(&trigger, "").unwrap();
    let between = read_until_line(&mut reader, "[+] late: after-half-close");
    assert!(between.is_empty(), "{between:?}");
}
