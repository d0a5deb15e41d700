//! Promise 6: a service never blocks on its log pipe for long, and zinit's
//! memory never grows with what a service writes: lines are cut at 64 KiB,
//! the ring is bounded by bytes whatever `-b` says, invalid UTF-8 is kept
//! lossily and is never a reason to stop reading, and followers that are
//! slow or stopped cost nothing but the lines they miss, which they are
//! told about exactly.
//!
//! Elsewhere: `observability::logs` (400,000 lines against VmRSS, a 256 MiB
//! line, fair share) and `observability::follow` (slow followers' exact
//! gaps with a small ring); the reader's unit tests in
//! `zinit-daemon/src/logs/reader.rs`.

use crate::common::namespace::*;
use crate::common::*;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// zinit's whole resident memory with the default ring bounds (docs/logs.md:
/// "under 64 MiB whatever services write").
const RSS_BOUND_KB: u64 = 64 * 1024;
/// The ring's byte bound (docs/logs.md), whatever `-b` says.
const RING_BYTES: u64 = 16 * 1024 * 1024;
/// How long one status request may take while zinit captures a flood.
const STATUS_LIMIT: Duration = Duration::from_secs(2);
/// How long a writer may take for its whole output: it runs at the speed
/// of the pipe (about 2 s for 200 MB here, debug build), so this only
/// fails if zinit held it up.
const WRITER_LIMIT_MS: u64 = 30_000;

fn metrics(d: &Daemon) -> Value {
    d.result("system_metrics", json!([]))
}

/// A oneshot running `body` with `sh`, which writes how many milliseconds
/// it took into `elapsed` when done.
fn timed_oneshot(d: &Daemon, name: &str, body: &str) -> std::path::PathBuf {
    let elapsed = d.path(&format!("{name}.elapsed"));
    let path = script(
        d,
        name,
        &format!(
            "s=$(date +%s%N)\n{body}\ne=$(date +%s%N)\n\
             echo $(( (e - s) / 1000000 )) > {}.tmp && mv {0}.tmp {0}\n",
            elapsed.display()
        ),
    );
    d.service(name, &sh_service(&path, "oneshot: true\n"));
    elapsed
}

/// The writer's own elapsed time, once it has finished.
fn writer_ms(elapsed: &std::path::Path) -> u64 {
    wait_for("the writer to finish", || {
        std::fs::read_to_string(elapsed).ok()?.trim().parse().ok()
    })
}

/// While `busy` runs: status must answer within [`STATUS_LIMIT`] every
/// time, and zinit's VmRSS is sampled. Returns (busy's value, peak VmRSS
/// in kB, slowest status).
///
/// The latency is counted beyond a floor measured in the same moment: a
/// status to an idle control daemon just before and just after each one.
/// A zinit held up by the flood answers late while the control does not;
/// a machine starved by the other tests running beside this one (two
/// cores in CI) delays both, which is not what this promise is about.
fn watched<T>(d: &Daemon, name: &str, busy: impl FnOnce() -> T) -> (T, u64, Duration) {
    let pid = d.pid() as i32;
    let control = Daemon::new().start();
    let floor = || {
        let asked = Instant::now();
        let reply = control.legacy("list");
        assert!(reply.is_object(), "{reply}");
        asked.elapsed()
    };
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let watcher = s.spawn(|| {
            let (mut peak, mut slowest) = (0, Duration::ZERO);
            while !done.load(Ordering::SeqCst) {
                peak = peak.max(status_kb(pid, "VmRSS").unwrap_or(0));
                let before = floor();
                let asked = Instant::now();
                // Answered (ok, or an error before the service exists).
                let reply = d.legacy(&format!("status {name}"));
                assert!(reply["state"].is_string(), "{reply}");
                let took = asked.elapsed();
                let after = floor();
                slowest = slowest.max(took.saturating_sub(before.max(after)));
                std::thread::sleep(Duration::from_millis(20));
            }
            (peak, slowest)
        });
        let value = busy();
        done.store(true, Ordering::SeqCst);
        let (peak, slowest) = watcher.join().expect("watcher");
        (value, peak, slowest)
    })
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Proto {
    /// The line protocol's `log`: every service, classic text.
    Legacy,
    /// `stream_followLogs` for one service: records and gap items.
    Rpc,
}

impl Proto {
    /// The request that starts following `name` (Legacy: everything).
    fn request(self, name: &str) -> String {
        match self {
            Proto::Legacy => "log\n".to_owned(),
            Proto::Rpc => format!(
                "{}\n",
                json!({"jsonrpc": "2.0", "id": 1, "method": "stream_followLogs",
                       "params": {"name": name}})
            ),
        }
    }
}

/// A connection that asked to follow and reads nothing until told to.
fn follower(d: &Daemon, proto: Proto, name: &str) -> BufReader<UnixStream> {
    let mut stream = UnixStream::connect(&d.socket).expect("connect");
    stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
    stream
        .write_all(proto.request(name).as_bytes())
        .expect("send");
    let mut reader = BufReader::new(stream);
    if proto == Proto::Rpc {
        let mut first = String::new();
        reader.read_line(&mut first).expect("subscription reply");
        let reply: Value = serde_json::from_str(&first).expect("reply");
        assert!(reply["result"].is_u64(), "{first}");
    }
    reader
}

/// What a follower saw: lines received, lines it was told it missed, and
/// how many gap reports told it so.
#[derive(Debug, Default)]
struct Seen {
    received: u64,
    missed: u64,
    gaps: u64,
}

/// Read a follower until `last(line text)` holds for a received line (for
/// Legacy, the text is the whole classic line). Reads `pace` lines, then
/// pauses 1 ms, when `pace` is set: a slow reader.
fn read_until(
    reader: &mut BufReader<UnixStream>,
    proto: Proto,
    pace: Option<u64>,
    mut last: impl FnMut(&str) -> bool,
) -> Seen {
    let mut seen = Seen::default();
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line).expect("read");
        assert!(n > 0, "the follower was closed early: {seen:?}");
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches('\n');
        let received = match proto {
            Proto::Legacy => match text
                .strip_prefix("[-] zinit: ")
                .and_then(|rest| rest.strip_suffix(" log lines missed: reader too slow"))
            {
                Some(count) => {
                    seen.missed += count.parse::<u64>().expect("an exact count");
                    seen.gaps += 1;
                    None
                }
                None => Some(text.to_owned()),
            },
            Proto::Rpc => {
                let push: Value = serde_json::from_str(text).expect("a push");
                let item = &push["params"]["result"];
                match item["kind"].as_str() {
                    Some("line") => Some(item["text"].as_str().expect("text").to_owned()),
                    Some("gap") => {
                        seen.missed += item["missed"].as_u64().expect("an exact count");
                        seen.gaps += 1;
                        None
                    }
                    other => panic!("unexpected item {other:?}: {item}"),
                }
            }
        };
        if let Some(text) = received {
            seen.received += 1;
            if pace.is_some_and(|p| seen.received % p == 0) {
                std::thread::sleep(Duration::from_millis(1));
            }
            if last(&text) {
                return seen;
            }
        }
    }
}

/// A separate process that follows (`proto`) and reads into nothing; it
/// says `following` once its request is sent. Python, because the line
/// protocol's `log` has no CLI of its own.
fn follower_process(d: &Daemon, proto: Proto, name: &str) -> Child {
    let program = "import socket, sys\n\
         s = socket.socket(socket.AF_UNIX)\n\
         s.connect(sys.argv[1])\n\
         s.sendall(sys.argv[2].encode())\n\
         print('following', flush=True)\n\
         while s.recv(65536):\n    pass\n";
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(program)
        .arg(&d.socket)
        .arg(proto.request(name))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 (CI installs it)");
    let mut said = String::new();
    BufReader::new(child.stdout.as_mut().expect("stdout"))
        .read_line(&mut said)
        .expect("read");
    assert_eq!(said, "following\n");
    child
}

/// Lines of 1000 characters (1001 bytes with the newline): 209,716 of them
/// are just over 200 MiB.
const FLOOD_LINES: u64 = 209_716;

fn a_200_mb_flood_with_slow_and_stopped_followers(proto: Proto) {
    let d = Daemon::new().start();
    let zinit = d.pid() as i32;
    let fds_before = fd_count(zinit);

    let mut slow = follower(&d, proto, "flood");
    let mut stuck = follower(&d, proto, "flood");
    let mut stopped = follower_process(&d, proto, "flood");
    signal(stopped.id() as i32, libc::SIGSTOP);
    within(Duration::from_secs(5), "the follower to stop", || {
        (process_state(stopped.id() as i32) == Some('T')).then_some(())
    });

    let elapsed = timed_oneshot(
        &d,
        "flood",
        &format!("yes \"$(printf %01000d 0)\" | head -n {FLOOD_LINES}\necho END"),
    );
    // The legacy view has zinit's own lines too: it ends with both the
    // writer's last line and zinit's line about its exit, in either order
    // (the pipe and the exit status travel separately).
    let is_last = || {
        let (mut end, mut exit) = (false, proto == Proto::Rpc);
        move |text: &str| {
            end |= matches!(text, "END" | "[+] flood: END");
            exit |= text.starts_with("[+] zinit: service flood (pid ")
                && text.ends_with(") exited with code 0");
            end && exit
        }
    };
    let (slow_seen, peak_kb, slowest) = watched(&d, "flood", || {
        d.ok(&["monitor", "flood"]);
        // A slow reader: 1 ms every 20 lines, 20,000 lines a second at best.
        let slow_seen = read_until(&mut slow, proto, Some(20), is_last());
        d.wait_state("flood", |s| s == "Success");
        slow_seen
    });
    let took_ms = writer_ms(&elapsed);
    eprintln!(
        "{proto:?}: writer {took_ms} ms, VmRSS peak {peak_kb} kB, slowest status {slowest:?}, \
         slow follower {slow_seen:?}"
    );
    assert!(
        took_ms < WRITER_LIMIT_MS,
        "the writer took {took_ms} ms for 200 MB: held up by zinit"
    );
    assert!(
        peak_kb < RSS_BOUND_KB,
        "zinit's VmRSS peaked at {peak_kb} kB (bound {RSS_BOUND_KB} kB)"
    );
    assert!(
        slowest < STATUS_LIMIT,
        "a status request took {slowest:?} during the flood"
    );
    assert_eq!(d.lines_captured("flood"), FLOOD_LINES + 1);

    // Exactly every line, received or counted as missed. Legacy follows
    // everything: all lines zinit has had (none was dropped before the
    // follower connected, the ring being nearly empty then).
    let total = match proto {
        Proto::Rpc => FLOOD_LINES + 1,
        Proto::Legacy => metrics(&d)["log"]["lines_total"].as_u64().expect("total"),
    };
    assert_eq!(
        slow_seen.received + slow_seen.missed,
        total,
        "slow: {slow_seen:?}"
    );
    assert!(slow_seen.missed > 0 && slow_seen.gaps > 0, "{slow_seen:?}");

    // The follower that read nothing during the flood now reads: it was
    // told exactly what it missed, too.
    let stuck_seen = read_until(&mut stuck, proto, None, is_last());
    assert_eq!(
        stuck_seen.received + stuck_seen.missed,
        total,
        "stuck: {stuck_seen:?}"
    );
    eprintln!("{proto:?}: stuck follower {stuck_seen:?}");
    assert!(stuck_seen.missed >= FLOOD_LINES / 2, "{stuck_seen:?}");

    // The stopped process goes away; every connection's fd is released.
    signal(stopped.id() as i32, libc::SIGKILL);
    stopped.wait().expect("reap the follower");
    drop(slow);
    drop(stuck);
    within(
        Duration::from_secs(5),
        "zinit's fds back to baseline",
        || (fd_count(zinit) <= fds_before).then_some(()),
    );
    let rss = status_kb(zinit, "VmRSS").expect("VmRSS");
    assert!(rss < RSS_BOUND_KB, "VmRSS {rss} kB after the flood");
    nothing_survives(&d);
}

#[test]
fn a_200_mb_flood_never_waits_for_slow_or_stopped_legacy_followers() {
    a_200_mb_flood_with_slow_and_stopped_followers(Proto::Legacy);
}

#[test]
fn a_200_mb_flood_never_waits_for_slow_or_stopped_json_rpc_followers() {
    a_200_mb_flood_with_slow_and_stopped_followers(Proto::Rpc);
}

#[test]
fn a_gigabyte_without_a_newline_is_one_cut_line_and_reading_goes_on() {
    let d = Daemon::new().start();
    let elapsed = timed_oneshot(
        &d,
        "endless",
        "echo before\nhead -c 1073741824 /dev/zero\necho\necho after",
    );
    let ((), peak_kb, slowest) = watched(&d, "endless", || {
        d.ok(&["monitor", "endless"]);
        d.wait_state("endless", |s| s == "Success");
        wait_until("every line", || d.lines_captured("endless") == 3);
    });
    let took_ms = writer_ms(&elapsed);
    eprintln!("1 GiB: writer {took_ms} ms, VmRSS peak {peak_kb} kB, slowest status {slowest:?}");
    assert!(took_ms < WRITER_LIMIT_MS, "1 GiB took {took_ms} ms");
    assert!(peak_kb < RSS_BOUND_KB, "VmRSS peaked at {peak_kb} kB");
    assert!(slowest < STATUS_LIMIT, "status took {slowest:?}");

    let page = d.result("stream_readLogs", json!({"name": "endless"}));
    let lines = page["lines"].as_array().expect("lines");
    let shape: Vec<(usize, bool)> = lines
        .iter()
        .map(|l| {
            (
                l["text"].as_str().expect("text").len(),
                l["truncated"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    // "before", the first 64 KiB of the gigabyte (the rest dropped up to
    // its newline), "after".
    assert_eq!(shape, [(6, false), (64 * 1024, true), (5, false)]);
    assert_eq!(lines[0]["text"], "before");
    assert!(lines[1]["text"].as_str().unwrap().bytes().all(|b| b == 0));
    assert_eq!(lines[2]["text"], "after");
    assert_eq!(page["missed"], 0);
    nothing_survives(&d);
}

#[test]
fn invalid_utf8_is_kept_lossily_nul_is_kept_and_reading_goes_on() {
    let d = Daemon::new().start();
    let mut rpc = follower(&d, Proto::Rpc, "odd");
    // printf's octal escapes: \377 is never UTF-8, \342\202 is a cut
    // three-byte sequence, \000 is NUL, \r before \n is dropped.
    let body = script(
        &d,
        "odd",
        "printf 'a\\377b\\000c\\n'\n\
         printf '\\342\\202\\n'\n\
         printf '\\000\\000\\r\\n'\n\
         printf 'x\\300\\257y\\n' >&2\n\
         echo after\n",
    );
    d.service("odd", &sh_service(&body, "oneshot: true\n"));
    d.ok(&["monitor", "odd"]);
    let expected = [
        ("a\u{fffd}b\u{0}c", "stdout"),
        ("\u{fffd}", "stdout"),
        ("\u{0}\u{0}", "stdout"),
        // An overlong encoding: each byte is invalid on its own.
        ("x\u{fffd}\u{fffd}y", "stderr"),
        ("after", "stdout"),
    ];
    wait_until("every line", || d.lines_captured("odd") == 5);
    let page = d.result("stream_readLogs", json!({"name": "odd"}));
    let kept: Vec<(&str, &str)> = page["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| (l["text"].as_str().unwrap(), l["stream"].as_str().unwrap()))
        .collect();
    // stdout and stderr are separate pipes: compare each stream in order.
    for stream in ["stdout", "stderr"] {
        let want: Vec<_> = expected.iter().filter(|e| e.1 == stream).collect();
        let got: Vec<_> = kept.iter().filter(|k| k.1 == stream).collect();
        assert_eq!(got, want, "{stream}");
    }
    // The line protocol's snapshot carries the same text, NUL bytes and
    // all, as UTF-8.
    let mut raw = Vec::new();
    let mut conn = UnixStream::connect(&d.socket).expect("connect");
    conn.write_all(b"log snapshot\n").expect("send");
    conn.read_to_end(&mut raw).expect("read");
    let raw = String::from_utf8(raw).expect("the snapshot is UTF-8");
    for want in [
        "[+] odd: a\u{fffd}b\u{0}c\n",
        "[+] odd: \u{fffd}\n",
        "[+] odd: \u{0}\u{0}\n",
        "[-] odd: x\u{fffd}\u{fffd}y\n",
        "[+] odd: after\n",
    ] {
        assert!(raw.contains(want), "{want:?} not in {raw:?}");
    }
    // A follower got them as they came, and what came after them.
    let mut texts = Vec::new();
    read_until(&mut rpc, Proto::Rpc, None, |t| {
        texts.push(t.to_owned());
        texts.len() == expected.len()
    });
    texts.sort();
    let mut want: Vec<String> = expected.iter().map(|e| e.0.to_owned()).collect();
    want.sort();
    assert_eq!(texts, want);
}

/// `zinit init -b VALUE`: its exit status and stderr, if it exits within
/// a few seconds (a usage error); None if it runs (it is then stopped).
fn try_buffer(value: &str) -> Option<(Option<i32>, String)> {
    let d = Daemon::new();
    let out = Command::new(ZINIT)
        .arg("-s")
        .arg(&d.socket)
        .args(["init", "-c"])
        .arg(&d.config)
        .arg("--env-file")
        .arg(d.path("environment"))
        .args(["-b", value])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn zinit");
    let mut child = out;
    let ended = wait_for("zinit to exit or bind", || {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(Some(status));
        }
        UnixStream::connect(&d.socket).is_ok().then_some(None)
    });
    match ended {
        Some(status) => {
            let mut err = String::new();
            child
                .stderr
                .take()
                .expect("stderr")
                .read_to_string(&mut err)
                .expect("read");
            Some((status.code(), err))
        }
        None => {
            signal(child.id() as i32, libc::SIGTERM);
            wait_for("zinit to exit", || child.try_wait().ok().flatten());
            None
        }
    }
}

#[test]
fn a_buffer_that_is_not_a_line_count_is_a_usage_error_naming_the_flag() {
    for value in ["abc", "-1", "18446744073709551616", "1e3", ""] {
        let (code, err) = try_buffer(value)
            .unwrap_or_else(|| panic!("-b {value:?} was accepted: it must be refused"));
        assert_eq!(code, Some(2), "-b {value:?}: {err}");
        assert!(
            err.contains(&format!("invalid value '{value}' for '--buffer <BUFFER>'")),
            "-b {value:?}: {err}"
        );
    }
}

#[test]
fn a_huge_buffer_is_still_bounded_by_the_ring_bytes() {
    // 30,000 lines of 1000 characters: 30 MB, twice the byte bound.
    const LINES: u64 = 30_000;
    for value in ["18446744073709551615", "10000000000"] {
        assert_eq!(try_buffer(value), None, "-b {value} must run");
        let d = Daemon::new();
        let elapsed = timed_oneshot(
            &d,
            "flood",
            &format!("yes \"$(printf %01000d 0)\" | head -n {LINES}"),
        );
        let d = d.start_args(&["-b", value]);
        let ((), peak_kb, slowest) = watched(&d, "flood", || {
            d.wait_state("flood", |s| s == "Success");
            wait_until("every line", || d.lines_captured("flood") == LINES);
        });
        assert!(writer_ms(&elapsed) < WRITER_LIMIT_MS);
        assert!(peak_kb < RSS_BOUND_KB, "-b {value}: VmRSS {peak_kb} kB");
        assert!(
            slowest < STATUS_LIMIT,
            "-b {value}: status took {slowest:?}"
        );
        let log = &metrics(&d)["log"];
        let kept_bytes = log["kept_bytes"].as_u64().expect("kept_bytes");
        // Each line counts its text plus 128 bytes.
        let per_line = 1000 + 128;
        assert!(
            kept_bytes <= RING_BYTES && kept_bytes > RING_BYTES - 2 * per_line,
            "-b {value}: the ring holds {kept_bytes} bytes"
        );
        let kept = d.result("stream_readLogs", json!({"name": "flood"}))["lines"]
            .as_array()
            .expect("lines")
            .len() as u64;
        assert!(
            kept <= RING_BYTES / per_line && kept > RING_BYTES / per_line - 10,
            "-b {value}: {kept} lines kept"
        );
    }
}

#[test]
fn a_zero_buffer_keeps_nothing_and_followers_get_exact_counts() {
    const LINES: u64 = 100_000;
    let d = Daemon::new().start_args(&["-b", "0"]);
    let mut rpc = follower(&d, Proto::Rpc, "flood");
    let elapsed = timed_oneshot(&d, "flood", &format!("seq 1 {LINES}"));
    let ((), peak_kb, slowest) = watched(&d, "flood", || {
        d.ok(&["monitor", "flood"]);
        d.wait_state("flood", |s| s == "Success");
        wait_until("every line", || d.lines_captured("flood") == LINES);
    });
    assert!(writer_ms(&elapsed) < WRITER_LIMIT_MS);
    assert!(peak_kb < RSS_BOUND_KB, "VmRSS {peak_kb} kB");
    assert!(slowest < STATUS_LIMIT, "status took {slowest:?}");
    let page = d.result("stream_readLogs", json!({"name": "flood"}));
    assert_eq!(page["lines"], json!([]));
    assert_eq!(metrics(&d)["log"]["kept_lines"], 0);
    // Nothing is kept, so the follower gets only gap items: exactly LINES.
    let mut missed = 0;
    while missed < LINES {
        let push: Value = serde_json::from_str(&{
            let mut line = String::new();
            rpc.read_line(&mut line).expect("push");
            line
        })
        .expect("a push");
        let item = &push["params"]["result"];
        assert_eq!(item["kind"], "gap", "{item}");
        missed += item["missed"].as_u64().expect("a count");
    }
    assert_eq!(missed, LINES);
    // The legacy snapshot is empty, the daemon fine.
    assert_eq!(d.raw("log snapshot\n"), "");
    d.wait_state("flood", |s| s == "Success");
}
