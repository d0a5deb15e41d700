//! Every bench-tool subcommand on a tiny run: one parseable JSON object with
//! sane values, or the documented failure status.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};

const TOOL: &str = env!("CARGO_BIN_EXE_bench-tool");
const CHILD: &str = env!("CARGO_BIN_EXE_bench-child");

fn tool(args: &[&str]) -> Output {
    Command::new(TOOL).args(args).output().unwrap()
}

/// Runs a subcommand that must succeed; returns its one JSON object.
fn measure(args: &[&str]) -> Value {
    let out = tool(args);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}\n{stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.lines().count(), 1, "one line of output: {stdout:?}");
    let value: Value = serde_json::from_str(&stdout).unwrap();
    assert!(value.is_object(), "{value}");
    value
}

fn failure(args: &[&str], code: i32) -> String {
    let out = tool(args);
    assert_eq!(out.status.code(), Some(code), "{args:?}");
    assert!(out.stdout.is_empty(), "no JSON on failure");
    String::from_utf8(out.stderr).unwrap()
}

fn assert_summary(v: &Value, samples: u64) {
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys.len(), 4, "{v}");
    assert_eq!(v["samples"], samples, "{v}");
    let min = v["min_us"].as_f64().unwrap();
    let median = v["median_us"].as_f64().unwrap();
    let max = v["max_us"].as_f64().unwrap();
    assert!(0.0 < min && min <= median && median <= max, "{v}");
    assert!(max < 5_000_000.0, "{v}");
    for key in ["min_us", "median_us", "max_us"] {
        let x = v[key].as_f64().unwrap();
        assert_eq!((x * 10.0).round() / 10.0, x, "one decimal: {v}");
    }
}

fn assert_rate(v: &Value, clients: u64, seconds: f64) {
    assert!(v["per_second"].as_u64().unwrap() > 0, "{v}");
    assert_eq!(v["clients"], clients, "{v}");
    assert_eq!(v["seconds"].as_f64(), Some(seconds), "{v}");
}

#[test]
fn spawn_floor() {
    let v = measure(&["spawn-floor", "--child", CHILD, "--runs", "5"]);
    assert_summary(&v, 5);
}

#[test]
fn spawn_floor_of_a_missing_child_fails() {
    let err = failure(
        &[
            "spawn-floor",
            "--child",
            "/nonexistent/bench-child",
            "--runs",
            "2",
        ],
        1,
    );
    assert!(err.contains("/nonexistent/bench-child"), "{err}");
}

#[test]
fn echo_floor() {
    let v = measure(&["echo-floor", "--runs", "200"]);
    assert_summary(&v, 200);
}

#[test]
fn echo_load() {
    let v = measure(&["echo-load", "--clients", "3", "--seconds", "0.2"]);
    assert_rate(&v, 3, 0.2);
}

#[test]
fn pipe_floor() {
    let v = measure(&["pipe-floor", "--seconds", "0.2"]);
    assert_eq!(v.as_object().unwrap().len(), 1, "{v}");
    assert!(v["per_second"].as_u64().unwrap() > 1000, "{v}");
}

#[test]
fn run_many_true() {
    let v = measure(&["run-many", "--runs", "5", "--", "/bin/true"]);
    assert_summary(&v, 5);
}

#[test]
fn run_many_with_arguments() {
    let v = measure(&["run-many", "--runs", "3", "--", "/bin/sh", "-c", "exit 0"]);
    assert_summary(&v, 3);
}

#[test]
fn run_many_fails_when_a_run_fails() {
    let err = failure(&["run-many", "--runs", "3", "--", "/bin/false"], 1);
    assert!(err.contains("/bin/false"), "{err}");
    let err = failure(&["run-many", "--runs", "3", "--", "/nonexistent/cmd"], 1);
    assert!(err.contains("/nonexistent/cmd"), "{err}");
}

#[test]
fn bad_arguments_exit_2_with_usage() {
    for args in [
        &["run-many", "--runs", "3"][..],
        &["run-many", "--runs", "0", "--", "/bin/true"],
        &["echo-floor", "--runs", "-1"],
        &["echo-load", "--clients", "2", "--seconds", "0"],
        &["pipe-floor", "--seconds", "soon"],
        &["rpc-rtt", "--socket", "/x", "--runs", "3"],
        &["no-such-subcommand"],
        &[],
    ] {
        let err = failure(args, 2);
        assert!(err.contains("Usage"), "{args:?}: {err}");
    }
}

/// A fake zinit control socket: answers `service_status` for `known` with a
/// result, anything else with a JSON-RPC error. Counts requests.
struct FakeZinit {
    dir: tempfile::TempDir,
    served: Arc<AtomicU64>,
}

impl FakeZinit {
    fn start(known: &'static str) -> FakeZinit {
        let dir = tempfile::tempdir().unwrap();
        let listener = UnixListener::bind(dir.path().join("zinit.sock")).unwrap();
        let served = Arc::new(AtomicU64::new(0));
        let counter = served.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let conn = conn.unwrap();
                let counter = counter.clone();
                std::thread::spawn(move || serve(conn, known, &counter));
            }
        });
        FakeZinit { dir, served }
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("zinit.sock")
    }
}

fn serve(conn: UnixStream, known: &str, served: &AtomicU64) {
    let mut writer = conn.try_clone().unwrap();
    for line in BufReader::new(conn).lines() {
        let Ok(line) = line else { return };
        let req: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(req["jsonrpc"], "2.0");
        assert_eq!(req["method"], "service_status");
        let reply = if req["params"] == json!([known]) {
            json!({"jsonrpc": "2.0", "id": req["id"], "result": {"name": known, "state": "running", "pid": 42}})
        } else {
            json!({"jsonrpc": "2.0", "id": req["id"], "error": {"code": -32000, "message": "service not found"}})
        };
        served.fetch_add(1, Ordering::SeqCst);
        if writeln!(writer, "{reply}").is_err() {
            return;
        }
    }
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn rpc_rtt_against_a_fake_zinit() {
    let fake = FakeZinit::start("svc");
    let socket = fake.socket();
    let v = measure(&[
        "rpc-rtt",
        "--socket",
        path(&socket),
        "--name",
        "svc",
        "--runs",
        "50",
    ]);
    assert_summary(&v, 50);
    // One untimed warm-up request, then the measured ones.
    assert_eq!(fake.served.load(Ordering::SeqCst), 51);
}

#[test]
fn rpc_load_against_a_fake_zinit() {
    let fake = FakeZinit::start("svc");
    let socket = fake.socket();
    let v = measure(&[
        "rpc-load",
        "--socket",
        path(&socket),
        "--name",
        "svc",
        "--clients",
        "3",
        "--seconds",
        "0.2",
    ]);
    assert_rate(&v, 3, 0.2);
    assert!(fake.served.load(Ordering::SeqCst) > 0);
}

#[test]
fn rpc_error_replies_fail_the_run() {
    let fake = FakeZinit::start("svc");
    let socket = fake.socket();
    let err = failure(
        &[
            "rpc-rtt",
            "--socket",
            path(&socket),
            "--name",
            "other",
            "--runs",
            "5",
        ],
        1,
    );
    assert!(
        err.contains("error reply") && err.contains("service not found"),
        "{err}"
    );
    let err = failure(
        &[
            "rpc-load",
            "--socket",
            path(&socket),
            "--name",
            "other",
            "--clients",
            "2",
            "--seconds",
            "0.2",
        ],
        1,
    );
    assert!(err.contains("error reply"), "{err}");
}

#[test]
fn rpc_replies_without_result_fail_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("odd.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        let mut writer = conn.try_clone().unwrap();
        for line in BufReader::new(conn).lines() {
            let req: Value = serde_json::from_str(&line.unwrap()).unwrap();
            if writeln!(writer, "{}", json!({"jsonrpc": "2.0", "id": req["id"]})).is_err() {
                return;
            }
        }
    });
    let err = failure(
        &[
            "rpc-rtt",
            "--socket",
            path(&socket),
            "--name",
            "svc",
            "--runs",
            "5",
        ],
        1,
    );
    assert!(err.contains("no \"result\""), "{err}");
}

#[test]
fn rpc_to_a_missing_socket_names_the_socket() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("absent.sock");
    let err = failure(
        &[
            "rpc-rtt",
            "--socket",
            path(&socket),
            "--name",
            "svc",
            "--runs",
            "5",
        ],
        1,
    );
    assert!(err.contains(path(&socket)), "{err}");
    let err = failure(
        &[
            "rpc-load",
            "--socket",
            path(&socket),
            "--name",
            "svc",
            "--clients",
            "2",
            "--seconds",
            "0.2",
        ],
        1,
    );
    assert!(err.contains(path(&socket)), "{err}");
}
