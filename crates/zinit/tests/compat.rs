//! The real clients against the real binary: the published `zinit-client`
//! crate (0.4, on crates.io), over JSON-RPC as it picks for us and over the
//! line protocol as it falls back to with older servers, and a raw client
//! shaped like the Zero-OS Go client.
//!
//! What the published crate does, read from its source: it detects the
//! protocol once per client by sending `service_list` as JSON-RPC and
//! looking for `"jsonrpc":"2.0"` in the first reply line, else it sends
//! `list` and looks for `"state":"ok"`. On JSON-RPC it reports every error
//! as `JsonRpcError {code, message, data}`; on the line protocol it maps
//! error phrases to typed errors (`UnknownService`, `ServiceIsUp`, ...).
//! `logs`, `shutdown` and `reboot` always use the line protocol.

mod common;
#[path = "compat/upstream.rs"]
mod upstream;

use common::*;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use zinit_client_crates_io::{ServiceState, ServiceTarget, StreamExt, ZinitClient, ZinitError};

/// The code, message and data of a JSON-RPC error from the crate.
fn rpc_error(e: ZinitError) -> (i32, String, Option<Value>) {
    match e {
        ZinitError::JsonRpcError {
            code,
            message,
            data,
        } => (code, message, data),
        other => panic!("expected a JSON-RPC error, got {other:?}"),
    }
}

/// The `data` member compat.md promises with every application error.
fn data(code_name: &str, service: &str, action: &str) -> Option<Value> {
    Some(json!({"code_name": code_name, "service": service, "action": action}))
}

/// A `list` result as the crate types it.
fn states(pairs: &[(&str, ServiceState)]) -> HashMap<String, ServiceState> {
    pairs
        .iter()
        .map(|(name, state)| (name.to_string(), state.clone()))
        .collect()
}

#[tokio::test]
async fn the_published_client_drives_the_daemon_over_json_rpc() {
    let d = Daemon::new();
    d.service("web", "exec: \"sleep 1000\"\n");
    d.service("app", "exec: \"sleep 1000\"\nafter: [web]\n");
    let mut d = d.start();
    let web = d.wait_running("web");
    let app = d.wait_running("app");
    let client = ZinitClient::new(&d.socket);

    assert_eq!(
        client.list().await.unwrap(),
        states(&[
            ("app", ServiceState::Running),
            ("web", ServiceState::Running)
        ])
    );
    let status = client.status("app").await.unwrap();
    assert_eq!(
        (
            status.name.as_str(),
            status.pid,
            &status.state,
            &status.target
        ),
        (
            "app",
            app as u32,
            &ServiceState::Running,
            &ServiceTarget::Up
        )
    );
    assert_eq!(
        status.after,
        HashMap::from([("web".to_owned(), "Running".to_owned())])
    );

    client.kill("web", "SIGSTOP").await.unwrap();
    wait_until("web to be stopped", || {
        process_state(web as i32) == Some('T')
    });
    client.kill("web", "SIGCONT").await.unwrap();
    wait_until("web to continue", || process_state(web as i32) != Some('T'));
    client.stop("web").await.unwrap();
    d.wait_state("web", |s| s != "Running");
    let status = client.status("web").await.unwrap();
    // `Error(killed by signal SIGTERM)` is not one of the crate's words.
    assert_eq!(
        (status.pid, &status.state, &status.target),
        (0, &ServiceState::Unknown, &ServiceTarget::Down)
    );
    client.start("web").await.unwrap();
    let web = d.wait_running("web");
    // The crate's restart: stop, poll status until pid 0, start.
    client.restart("web").await.unwrap();
    assert!(!alive(web as i32));
    let (_, web) = d.wait_state("web", |s| s == "Running");

    // Errors come back with the codes and data of compat.md (and as
    // JsonRpcError: proof that the crate detected JSON-RPC here).
    assert_eq!(
        rpc_error(client.status("nope").await.unwrap_err()),
        (
            -32000,
            "service name \"nope\" unknown".to_owned(),
            data("ServiceNotFound", "nope", "status")
        )
    );
    assert_eq!(
        rpc_error(client.monitor("web").await.unwrap_err()),
        (
            -32001,
            "service \"web\" already monitored".to_owned(),
            data("ServiceAlreadyMonitored", "web", "monitor")
        )
    );
    assert_eq!(
        rpc_error(client.forget("web").await.unwrap_err()),
        (
            -32002,
            "service \"web\" is up".to_owned(),
            data("ServiceIsUp", "web", "forget")
        )
    );
    assert_eq!(
        rpc_error(client.kill("web", "SIGNOPE").await.unwrap_err()),
        (
            -32004,
            "invalid signal \"SIGNOPE\"".to_owned(),
            data("InvalidSignal", "web", "kill")
        )
    );
    client.stop("app").await.unwrap();
    d.wait_state("app", |s| s != "Running");
    assert_eq!(
        rpc_error(client.kill("app", "SIGTERM").await.unwrap_err()),
        (
            -32003,
            "service \"app\" is down".to_owned(),
            data("ServiceIsDown", "app", "kill")
        )
    );
    client.forget("app").await.unwrap();
    assert_eq!(
        client.list().await.unwrap(),
        states(&[("web", ServiceState::Running)])
    );
    client.monitor("app").await.unwrap();
    d.wait_running("app");

    // Service files. The crate's get_service reads the status, and its
    // delete_service stops, forgets, then deletes the file.
    let path = d.config.join("made.yaml");
    client
        .create_service("made", json!({"exec": "sleep 1000"}))
        .await
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "exec: \"sleep 1000\"\n"
    );
    assert_eq!(
        rpc_error(client.get_service("made").await.unwrap_err()).0,
        -32000
    );
    client.monitor("made").await.unwrap();
    let made = d.wait_running("made");
    assert_eq!(
        client.get_service("made").await.unwrap(),
        json!({"name": "made", "pid": made, "state": "Running", "target": "Up", "after": {}})
    );
    client.delete_service("made").await.unwrap();
    assert!(!path.exists());
    assert!(!alive(made as i32));
    assert_eq!(
        client.list().await.unwrap(),
        states(&[
            ("app", ServiceState::Running),
            ("web", ServiceState::Running)
        ])
    );

    // `log snapshot` (line protocol) ends by itself. The crate keeps only
    // lines starting `zinit:`, which neither the original zinit nor we
    // write into the ring (`[+] NAME: text`), so it yields nothing.
    let snapshot = client.logs(false, None::<&str>).await.unwrap();
    let entries = tokio::time::timeout(DEADLINE, snapshot.collect::<Vec<_>>())
        .await
        .expect("the snapshot to end");
    assert_eq!(entries.len(), 0);
    // `log` follows: the connection stays until the client drops it.
    wait_until("earlier connections to close", || {
        connections(&d.socket) == 0
    });
    let follow = client.logs(true, None::<&str>).await.unwrap();
    wait_until("the follower to be served", || connections(&d.socket) == 1);
    drop(follow);
    wait_until("the follower to be gone", || connections(&d.socket) == 0);
    assert_eq!(client.status("web").await.unwrap().pid, web as u32);

    // shutdown (line protocol): answered, everything stopped, socket gone.
    client.shutdown().await.unwrap();
    let status = d.wait_exit();
    assert!(status.success(), "zinit exited with {status}");
    assert!(d.marked_processes().is_empty());
    assert!(!d.socket.exists());
}

/// Connections the daemon holds open on its control socket: connected
/// entries of /proc/net/unix under the socket's bind-time name (it binds
/// `SOCKET.tmp-PID` and renames it into place).
fn connections(socket: &Path) -> usize {
    let table = std::fs::read_to_string("/proc/net/unix").unwrap();
    let prefix = format!("{}.tmp-", socket.display());
    table
        .lines()
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.len() == 8 && fields[5] == "03" && fields[7].starts_with(&prefix)
        })
        .count()
}

/// A socket in front of the daemon that speaks only the line protocol, as
/// zinit did before JSON-RPC: a connection whose first line is JSON is
/// closed unanswered; any other is relayed both ways.
struct LineOnlyProxy {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    acceptor: Option<std::thread::JoinHandle<()>>,
}

impl LineOnlyProxy {
    fn start(upstream: &Path, path: PathBuf) -> LineOnlyProxy {
        let listener = UnixListener::bind(&path).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let upstream = upstream.to_owned();
        let stopped = stop.clone();
        let acceptor = std::thread::spawn(move || {
            for client in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = client else { continue };
                let upstream = upstream.clone();
                std::thread::spawn(move || relay(client, &upstream));
            }
        });
        LineOnlyProxy {
            path,
            stop,
            acceptor: Some(acceptor),
        }
    }
}

impl Drop for LineOnlyProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the acceptor so it sees the flag.
        let _ = UnixStream::connect(&self.path);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn relay(client: UnixStream, upstream: &Path) {
    let mut from_client = BufReader::new(client.try_clone().unwrap());
    let mut first = Vec::new();
    if from_client.read_until(b'\n', &mut first).is_err() {
        return;
    }
    let json = first
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| matches!(b, b'{' | b'['));
    if json {
        return;
    }
    let Ok(mut to_daemon) = UnixStream::connect(upstream) else {
        return;
    };
    if to_daemon.write_all(&first).is_err() {
        return;
    }
    let mut from_daemon = to_daemon.try_clone().unwrap();
    let mut to_client = client;
    let back = std::thread::spawn(move || {
        let _ = std::io::copy(&mut from_daemon, &mut to_client);
        let _ = to_client.shutdown(std::net::Shutdown::Both);
    });
    let _ = std::io::copy(&mut from_client, &mut to_daemon);
    let _ = to_daemon.shutdown(std::net::Shutdown::Write);
    let _ = back.join();
}

#[tokio::test]
async fn the_published_client_maps_line_protocol_errors_to_its_types() {
    let d = Daemon::new();
    d.service("web", "exec: \"sleep 1000\"\n");
    d.service("down", "exec: \"sleep 1000\"\n");
    d.service(
        "stubborn",
        "exec: \"sh -c 'trap \\\"\\\" TERM; while true; do sleep 0.05; done'\"\nshutdown_timeout: 60\n",
    );
    let mut d = d.start();
    let web = d.wait_running("web");
    d.wait_running("down");
    let stubborn = d.wait_running("stubborn");
    wait_handles(stubborn, libc::SIGTERM);
    let proxy = LineOnlyProxy::start(&d.socket, d.path("line-only.sock"));
    let client = ZinitClient::new(&proxy.path);

    client.stop("down").await.unwrap();
    d.wait_state("down", |s| s != "Running");
    assert_eq!(
        client.list().await.unwrap(),
        states(&[
            ("down", ServiceState::Unknown),
            ("stubborn", ServiceState::Running),
            ("web", ServiceState::Running),
        ])
    );
    let status = client.status("web").await.unwrap();
    assert_eq!(
        (
            status.name.as_str(),
            status.pid,
            &status.state,
            &status.target
        ),
        (
            "web",
            web as u32,
            &ServiceState::Running,
            &ServiceTarget::Up
        )
    );
    let status = client.status("down").await.unwrap();
    assert_eq!(
        (status.name.as_str(), status.pid, &status.target),
        ("down", 0, &ServiceTarget::Down)
    );

    let e = client.status("nope").await.unwrap_err();
    assert!(
        matches!(&e, ZinitError::UnknownService(s) if s == "nope"),
        "{e:?}"
    );
    let e = client.forget("web").await.unwrap_err();
    assert!(
        matches!(&e, ZinitError::ServiceIsUp(s) if s == "web"),
        "{e:?}"
    );
    let e = client.monitor("web").await.unwrap_err();
    assert!(
        matches!(&e, ZinitError::ServiceAlreadyMonitored(s) if s == "web"),
        "{e:?}"
    );
    let e = client.kill("down", "SIGTERM").await.unwrap_err();
    assert!(
        matches!(&e, ZinitError::ServiceIsDown(s) if s == "down"),
        "{e:?}"
    );
    let e = client.kill("web", "SIGNOPE").await.unwrap_err();
    assert!(
        matches!(&e, ZinitError::InvalidSignal(s) if s == "\"SIGNOPE\""),
        "{e:?}"
    );
    client.forget("down").await.unwrap();
    client.monitor("down").await.unwrap();
    d.wait_running("down");

    // During a shutdown (held open by a service that ignores TERM).
    client.shutdown().await.unwrap();
    d.wait_state("web", |s| s != "Running");
    let e = client.start("web").await.unwrap_err();
    assert!(matches!(e, ZinitError::ShuttingDown), "{e:?}");
    signal(stubborn as i32, libc::SIGKILL);
    let status = d.wait_exit();
    assert!(status.success(), "zinit exited with {status}");
}

/// One `status NAME` the way the Zero-OS Go client does it: write the
/// command, decode exactly one JSON object from the stream, hang up.
fn go_status(socket: &Path, name: &str) -> Value {
    go_command(socket, &format!("status {name}"))
}

fn go_command(socket: &Path, command: &str) -> Value {
    let mut stream = UnixStream::connect(socket).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    stream.write_all(format!("{command}\n").as_bytes()).unwrap();
    let mut objects = serde_json::Deserializer::from_reader(&stream).into_iter::<Value>();
    objects
        .next()
        .expect("a reply object")
        .expect("a JSON reply")
}

/// The Go client's `^(\w+)(?:\((.+)\))?$` (RE2: `\w` is ASCII, `.` is not
/// a newline): the word and the reason, or `None` if it does not match.
fn go_state(state: &str) -> Option<(&str, Option<&str>)> {
    let end = state
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(state.len());
    let (word, rest) = state.split_at(end);
    if word.is_empty() {
        return None;
    }
    if rest.is_empty() {
        return Some((word, None));
    }
    let reason = rest.strip_prefix('(')?.strip_suffix(')')?;
    (!reason.is_empty() && !reason.contains('\n')).then_some((word, Some(reason)))
}

#[test]
fn go_state_reads_like_the_go_regex() {
    assert_eq!(go_state("Running"), Some(("Running", None)));
    assert_eq!(
        go_state("Error(exited with code 3)"),
        Some(("Error", Some("exited with code 3")))
    );
    assert_eq!(
        go_state("Failure(a (b) c)"),
        Some(("Failure", Some("a (b) c")))
    );
    for bad in [
        "",
        "Error()",
        "Error(x",
        "Error (x)",
        "(x)",
        "Ünknown",
        "Error(a\nb)",
    ] {
        assert_eq!(go_state(bad), None, "{bad:?}");
    }
}

#[test]
fn a_go_shaped_client_reads_one_object_per_command() {
    let d = Daemon::new();
    d.service("web", "exec: \"sleep 1000\"\n");
    d.service("crash", "exec: \"sh -c 'exit 3'\"\n");
    d.service("once", "exec: \"true\"\noneshot: true\n");
    d.service("waiting", "exec: \"sleep 1000\"\nafter: [missing]\n");
    d.service("ghost", "exec: \"/nonexistent/ghost\"\n");
    d.service("unwell", "exec: \"sleep 1000\"\ntest: \"false\"\n");
    d.service(
        "untestable",
        "exec: \"sleep 1000\"\ntest: \"/nonexistent/check\"\n",
    );
    d.service("stopped", "exec: \"sleep 1000\"\n");
    let d = d.start();
    let web = d.wait_running("web");
    d.wait_running("stopped");
    d.ok(&["stop", "stopped"]);
    d.wait_state("stopped", |s| s != "Running");
    d.wait_state("waiting", |s| s == "Blocked");
    d.wait_state("unwell", |s| s == "Spawned");
    d.wait_state("once", |s| s == "Success");
    d.wait_state("ghost", |s| s.starts_with("Failure"));
    d.wait_state("untestable", |s| s.starts_with("TestFailure"));

    let reply = go_status(&d.socket, "web");
    assert_eq!(
        reply,
        json!({"state": "ok", "body": {"name": "web", "pid": web, "state": "Running", "target": "Up", "after": {}}})
    );
    // crash is restarted now and then: catch it between runs.
    let crashed = wait_for("crash to be down", || {
        let reply = go_status(&d.socket, "crash");
        let state = reply["body"]["state"].as_str().unwrap().to_owned();
        state.starts_with("Error").then_some(state)
    });
    assert_eq!(
        go_state(&crashed),
        Some(("Error", Some("exited with code 3")))
    );
    let expected = [
        ("web", "Running", None),
        ("once", "Success", None),
        ("waiting", "Blocked", None),
        ("unwell", "Spawned", None),
        ("stopped", "Error", Some("killed by signal SIGTERM")),
    ];
    for (name, word, reason) in expected {
        let reply = go_status(&d.socket, name);
        assert_eq!(reply["state"], "ok", "{reply}");
        let body = &reply["body"];
        assert_eq!(body["name"], name);
        assert!(body["pid"].is_u64(), "{reply}");
        let target = body["target"].as_str().unwrap();
        assert!(target == "Up" || target == "Down", "{reply}");
        let state = body["state"].as_str().unwrap();
        assert_eq!(go_state(state), Some((word, reason)), "{reply}");
    }
    for (name, word, cause) in [
        ("ghost", "Failure", "/nonexistent/ghost"),
        ("untestable", "TestFailure", "/nonexistent/check"),
    ] {
        let reply = go_status(&d.socket, name);
        let state = reply["body"]["state"].as_str().unwrap();
        let (got, reason) = go_state(state).unwrap_or_else(|| panic!("{state:?}"));
        assert_eq!(got, word);
        assert!(reason.unwrap().contains(cause), "{state}");
    }
    // Every state in `list` has the shape too.
    let list = go_command(&d.socket, "list");
    assert_eq!(list["state"], "ok");
    let list = list["body"].as_object().unwrap();
    assert_eq!(list.len(), 8);
    for (name, state) in list {
        let state = state.as_str().unwrap();
        assert!(go_state(state).is_some(), "{name}: {state:?}");
    }
    assert_eq!(
        go_status(&d.socket, "nope"),
        json!({"state": "error", "body": "service name \"nope\" unknown"})
    );
    // Nothing follows the object but its newline, then the end.
    let mut stream = UnixStream::connect(&d.socket).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    stream.write_all(b"status web\n").unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    assert_eq!(reply.matches('\n').count(), 1);
    assert!(reply.ends_with("}\n"), "{reply:?}");
}
