//! Followers that fall behind are told exactly how many lines they missed;
//! followers that keep up see every line once, in order.

use super::*;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;

/// A connection that sent `request` and will not read until told to.
fn idle_connection(d: &Daemon, request: &str) -> UnixStream {
    let mut stream = UnixStream::connect(&d.socket).expect("connect");
    stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
    stream.write_all(request.as_bytes()).expect("send");
    stream
}

/// Monitor a oneshot that prints `count` lines as fast as it can, and wait
/// until it is done and every line was captured.
fn flood(d: &Daemon, name: &str, count: u64) {
    d.service(name, &oneshot(&format!("yes line | head -n {count}")));
    d.ok(&["monitor", name]);
    d.wait_state(name, |s| s == "Success");
    wait_until("every line captured", || d.lines_captured(name) == count);
}

#[test]
fn a_slow_json_rpc_follower_is_told_exactly_how_many_lines_it_missed() {
    let d = Daemon::new().start_args(&["-b", "100"]);
    let stream = idle_connection(
        &d,
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"stream_followLogs\",\"params\":{\"name\":\"noisy\"}}\n",
    );
    let mut reader = BufReader::new(stream);
    let mut first = String::new();
    reader.read_line(&mut first).expect("subscription reply");
    let subscription = serde_json::from_str::<Value>(&first).expect("reply")["result"].clone();
    assert!(subscription.is_u64(), "{first}");

    // 200,000 lines while the follower reads nothing.
    flood(&d, "noisy", 200_000);

    // Now read: every line is accounted for, as a line or in a gap.
    let (mut received, mut missed, mut gaps) = (0u64, 0u64, 0);
    let mut last_seq = None;
    while received + missed < 200_000 {
        let mut line = String::new();
        assert!(
            reader.read_line(&mut line).expect("push") > 0,
            "closed early"
        );
        let push: Value = serde_json::from_str(&line).expect("push json");
        assert_eq!(push["params"]["subscription"], subscription);
        let item = &push["params"]["result"];
        match item["kind"].as_str() {
            Some("line") => {
                assert_eq!(item["service"], "noisy");
                assert_eq!(item["text"], "line");
                let seq = item["seq"].as_u64().expect("seq");
                assert!(last_seq.is_none_or(|s| s < seq), "{seq} after {last_seq:?}");
                last_seq = Some(seq);
                received += 1;
            }
            Some("gap") => {
                missed += item["missed"].as_u64().expect("an exact count");
                gaps += 1;
            }
            other => panic!("unexpected item {other:?}: {item}"),
        }
    }
    assert_eq!(received + missed, 200_000);
    assert!(
        gaps > 0 && missed > 0,
        "the follower was not told of a loss"
    );
    let counted = d.result("system_metrics", json!([]))["log"]["follower_missed_total"]
        .as_u64()
        .expect("counter");
    assert!(counted >= missed, "{counted} < {missed}");
}

#[test]
fn a_slow_legacy_follower_gets_a_line_counting_what_it_missed() {
    let d = Daemon::new().start_args(&["-b", "100"]);
    let stream = idle_connection(&d, "log\n");
    flood(&d, "noisy", 200_000);
    let mut reader = BufReader::new(stream);
    let (mut received, mut missed) = (0u64, 0u64);
    while received + missed < 200_000 {
        let mut line = String::new();
        assert!(
            reader.read_line(&mut line).expect("line") > 0,
            "closed early"
        );
        let line = line.trim_end();
        if line == "[+] noisy: line" {
            received += 1;
        } else if let Some(rest) = line.strip_prefix("[-] zinit: ") {
            if let Some((n, _)) = rest.split_once(" log line") {
                missed += n.parse::<u64>().expect("a count");
            }
        }
    }
    assert!(missed > 0, "no loss reported");
    // The all-services view also counts zinit's own lines it missed, so
    // the total can only be at least the service's lines.
    assert!(received + missed >= 200_000);
}

#[test]
fn a_follower_that_keeps_up_sees_every_line_once_in_order() {
    let d = Daemon::new().start();
    let mut conn = RpcConnection::open(&d.socket);
    let reply = conn.call("stream_followLogs", json!({"name": "counter", "last": 10}));
    assert!(reply["result"].is_u64(), "{reply}");
    // Fewer lines than the ring holds: however slowly this test reads,
    // nothing is evicted, so nothing may be missing.
    d.service("counter", &oneshot("seq 1 500"));
    d.ok(&["monitor", "counter"]);
    for expected in 1..=500 {
        let push: Value = serde_json::from_str(&conn.read_line()).expect("push");
        let item = &push["params"]["result"];
        assert_eq!(item["kind"], "line", "{item}");
        assert_eq!(item["text"], expected.to_string(), "{item}");
    }
}

#[test]
fn cli_log_options_select_and_render_lines() {
    let d = Daemon::new();
    // One stream, so the order of the lines is the order they were written.
    d.service("talk", &oneshot("echo one; echo two; echo three"));
    let d = d.start();
    d.wait_state("talk", |s| s == "Success");
    wait_until("three lines", || kept_texts(&d, "talk").len() == 3);

    let last_two = d.ok(&["log", "-s", "-n", "2", "talk"]);
    let last_two: Vec<&str> = last_two.lines().collect();
    assert_eq!(last_two, ["[+] talk: two", "[+] talk: three"]);

    let stamped = d.ok(&["log", "-s", "-t", "talk"]);
    for line in stamped.lines() {
        let (time, rest) = line.split_once(' ').expect("time first");
        humantime::parse_rfc3339(time).unwrap_or_else(|e| panic!("{line:?}: {e}"));
        assert!(rest.starts_with("[+] talk: "), "{line:?}");
    }

    let json_lines = d.ok(&["log", "-s", "--json", "talk"]);
    let items: Vec<Value> = json_lines
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(items.len(), 3);
    assert!(items
        .iter()
        .all(|i| i["kind"] == "line" && i["seq"].is_u64()));
    let after = items[0]["seq"].as_u64().unwrap().to_string();
    let resumed = d.ok(&["log", "-s", "--after", &after, "talk"]);
    assert_eq!(resumed.lines().count(), 2, "{resumed}");

    assert_eq!(
        d.ok(&["log", "-s", "--since", "1h", "talk"])
            .lines()
            .count(),
        3
    );
    let future = humantime::format_rfc3339(
        std::time::SystemTime::now() + std::time::Duration::from_secs(3600),
    )
    .to_string();
    assert_eq!(d.ok(&["log", "-s", "--since", &future, "talk"]), "");

    let bad = d.zinit(&["log", "-s", "--since", "soon", "talk"]);
    assert_eq!(bad.status.code(), Some(1));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("since"), "{err}");
}

#[test]
fn cli_log_starts_with_the_kept_lines_and_no_false_gap() {
    let d = Daemon::new().start_args(&["-b", "100"]);
    flood(&d, "noisy", 1000);
    let mut child = std::process::Command::new(ZINIT)
        .arg("-s")
        .arg(&d.socket)
        .args(["log", "noisy"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("zinit log");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    // The ring dropped 900 of noisy's lines long before this follower
    // started: that is not a loss to report to it.
    let mut first = Vec::new();
    while first.len() < 10 {
        let mut line = String::new();
        assert!(out.read_line(&mut line).expect("line") > 0, "closed early");
        first.push(line.trim_end().to_owned());
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(first.iter().all(|l| l == "[+] noisy: line"), "{first:?}");
}
