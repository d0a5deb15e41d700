//! The ring: memory stays flat under a flood and an endless line, one
//! noisy service cannot evict a quiet one's lines, lines carry timestamps.

use super::*;

#[test]
fn a_flood_of_lines_keeps_memory_bounded_and_the_daemon_answering() {
    let d = Daemon::new();
    // 400,000 lines of 101 bytes (40 MB) as fast as `yes` writes them.
    let line = "0123456789".repeat(10);
    d.service("flood", &oneshot(&format!("yes {line} | head -n 400000")));
    // A ring allowing a million lines: only the byte bound holds it.
    let d = d.start_args(&["-b", "1000000"]);
    let mut peak = 0;
    wait_until("the flood to end", || {
        // The daemon keeps answering while it captures.
        let (state, _) = d.state("flood");
        peak = peak.max(vm_rss_bytes(d.pid()));
        state == "Success"
    });
    wait_until("every line captured", || {
        d.lines_captured("flood") == 400_000
    });
    let rss = vm_rss_bytes(d.pid());
    assert!(
        rss < RSS_BOUND && peak < RSS_BOUND,
        "zinit's RSS {rss} (peak seen {peak}) is over {RSS_BOUND}"
    );
    let kept = kept_texts(&d, "flood");
    assert!(!kept.is_empty() && kept.len() < 400_000, "{}", kept.len());
    assert!(kept.iter().all(|t| *t == line));
}

#[test]
fn an_endless_line_is_cut_and_memory_stays_bounded() {
    let d = Daemon::new();
    // 256 MiB with no newline at all.
    d.service("endless", &oneshot("head -c 268435456 /dev/zero"));
    let d = d.start();
    d.wait_state("endless", |s| s == "Success");
    let page = d.result("stream_readLogs", json!({"name": "endless"}));
    let lines = page["lines"].as_array().expect("lines");
    assert_eq!(lines.len(), 1, "one cut line, the rest dropped");
    assert_eq!(lines[0]["truncated"], true);
    assert_eq!(lines[0]["text"].as_str().expect("text").len(), 64 * 1024);
    let rss = vm_rss_bytes(d.pid());
    assert!(rss < RSS_BOUND, "zinit's RSS {rss} is over {RSS_BOUND}");
    // The legacy rendering marks the cut.
    let snapshot = d.raw("log snapshot\n");
    assert!(
        snapshot
            .lines()
            .any(|l| l.starts_with("[+] endless: ") && l.ends_with(" [cut]")),
        "no cut line in the snapshot"
    );
}

#[test]
fn a_noisy_service_does_not_evict_a_quiet_ones_lines() {
    let d = Daemon::new();
    d.service(
        "quiet",
        &oneshot("for i in 1 2 3 4 5; do echo quiet $i; done"),
    )
    .service(
        "noisy",
        &format!(
            "{}after:\n  - quiet\n",
            oneshot("yes noise | head -n 50000")
        ),
    );
    // A ring of 100 lines, shared.
    let d = d.start_args(&["-b", "100"]);
    d.wait_state("noisy", |s| s == "Success");
    // The exit can be seen before the pipe is drained.
    wait_until("every line captured", || {
        d.lines_captured("noisy") == 50_000
    });
    assert_eq!(
        kept_texts(&d, "quiet"),
        ["quiet 1", "quiet 2", "quiet 3", "quiet 4", "quiet 5"]
    );
    let noisy = kept_texts(&d, "noisy");
    assert!(
        !noisy.is_empty() && noisy.len() <= 100 - 5,
        "{} noisy lines kept",
        noisy.len()
    );
    // The legacy snapshot shows the quiet lines too.
    let snapshot = d.raw("log snapshot\n");
    for i in 1..=5 {
        assert!(snapshot.contains(&format!("[+] quiet: quiet {i}\n")));
    }
}

#[test]
fn lines_carry_seq_time_and_stream() {
    let d = Daemon::new();
    d.service("talk", &oneshot("echo out; echo err >&2; echo out2"));
    let before = std::time::SystemTime::now();
    let d = d.start();
    d.wait_state("talk", |s| s == "Success");
    wait_until("all three lines", || kept_texts(&d, "talk").len() == 3);
    let page = d.result("stream_readLogs", json!({"name": "talk"}));
    let lines = page["lines"].as_array().expect("lines");
    let seqs: Vec<u64> = lines.iter().map(|l| l["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert!(page["next_seq"].as_u64().unwrap() > *seqs.last().unwrap());
    let streams: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| (l["text"].as_str().unwrap(), l["stream"].as_str().unwrap()))
        .collect();
    assert!(streams.contains(&("err", "stderr")), "{streams:?}");
    assert!(streams.contains(&("out", "stdout")), "{streams:?}");
    for line in lines {
        let time = line["time"].as_str().expect("time");
        let parsed = humantime::parse_rfc3339(time).expect("RFC 3339 time");
        assert!(
            parsed >= before - std::time::Duration::from_secs(1),
            "{time}"
        );
        assert!(time.ends_with('Z') && time.len() == 24, "{time}");
    }
    // `last` keeps the newest lines; `after_seq` resumes without repeats.
    let last = d.result("stream_readLogs", json!({"name": "talk", "last": 1}));
    assert_eq!(last["lines"].as_array().unwrap().len(), 1);
    let after = d.result(
        "stream_readLogs",
        json!({"name": "talk", "after_seq": seqs[0]}),
    );
    let resumed: Vec<u64> = after["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(resumed, seqs[1..]);
    assert_eq!(after["missed"], 0);
}

#[test]
fn bad_log_queries_are_refused_naming_the_parameter() {
    let d = Daemon::new().start();
    for (params, named) in [
        (json!({"since": "yesterday-ish"}), "since"),
        (json!({"last": -1}), "last"),
        (json!({"after_seq": "x"}), "after_seq"),
        (json!({"name": "../etc"}), "name"),
    ] {
        let response = d.rpc("stream_readLogs", params.clone());
        assert_eq!(response["error"]["code"], -32602, "{params}: {response}");
        let message = response["error"]["message"].as_str().unwrap();
        assert!(message.contains(named), "{params}: {message}");
    }
}
