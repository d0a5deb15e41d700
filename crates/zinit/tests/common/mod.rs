//! Harness for integration tests: a real `zinit init` on a private config
//! directory and socket, a CLI runner, raw socket clients, and polling with
//! deadlines (never fixed sleeps).
//!
//! Every service a test starts carries a marker variable (through the
//! daemon's environment file), so the guard can find and kill anything
//! that survives, by pid, even if the daemon itself misbehaves.
#![allow(dead_code)] // each test binary uses a different part

pub mod namespace;

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const ZINIT: &str = env!("CARGO_BIN_EXE_zinit");

/// Generous: CI machines are small and shared.
pub const DEADLINE: Duration = Duration::from_secs(20);

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Poll `check` until it returns `Some`, or panic after `DEADLINE`.
pub fn wait_for<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let mut found = None;
    wait_for_or_timeout(|| {
        found = check();
        found.is_some()
    });
    found.unwrap_or_else(|| panic!("timed out after {DEADLINE:?} waiting for {what}"))
}

/// Poll `check` until it is true (`true`) or `DEADLINE` passes (`false`),
/// for a caller that reports what it saw last.
pub fn wait_for_or_timeout(mut check: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if check() {
            return true;
        }
        if start.elapsed() > DEADLINE {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Poll until `check` is true.
pub fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    wait_for(what, || check().then_some(()))
}

/// Whether a daemon serves `socket`: it answered a request. A connection
/// alone is not enough: the socket is bound (and connections wait in its
/// backlog) while the config directory is still being loaded, and a test
/// that writes a service file meanwhile would race that load.
pub fn answers(socket: &Path) -> bool {
    let Ok(mut stream) = UnixStream::connect(socket) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(DEADLINE));
    if stream
        .write_all(b"{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"service_list\"}\n")
        .is_err()
    {
        return false;
    }
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if !reader.read_line(&mut line).is_ok_and(|n| n > 0) {
        return false;
    }
    // Hang up and wait for zinit to close its end too, so this connection
    // is gone from its descriptors before a test counts them.
    let _ = reader.get_ref().shutdown(std::net::Shutdown::Write);
    let _ = reader.read_to_end(&mut Vec::new());
    true
}

/// Whether process `pid` handles signal `sig` itself: a trap (caught) or
/// ignored. A shell service sets its `trap` a moment after it is spawned,
/// so a test that relies on it waits for this first.
pub fn handles_signal(pid: u64, sig: i32) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    let bit = 1u64 << (sig - 1);
    status
        .lines()
        .filter(|l| l.starts_with("SigCgt:") || l.starts_with("SigIgn:"))
        .filter_map(|l| u64::from_str_radix(l.split_whitespace().nth(1)?, 16).ok())
        .any(|mask| mask & bit != 0)
}

/// Wait until process `pid` has its handler (or SIG_IGN) for `sig` set.
#[track_caller]
pub fn wait_handles(pid: u64, sig: i32) {
    wait_until(&format!("pid {pid} to handle signal {sig}"), || {
        handles_signal(pid, sig)
    });
}

/// A running `zinit init` for one test.
pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub socket: PathBuf,
    pub marker: String,
    child: Option<Child>,
    pub stdout_path: PathBuf,
}

impl Daemon {
    /// A daemon on an empty config directory; add services before `start`.
    pub fn new() -> Daemon {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("services");
        std::fs::create_dir(&config).expect("config dir");
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let marker = format!("zinit-test-{}-{n}", std::process::id());
        std::fs::write(
            dir.path().join("environment"),
            format!("ZINIT_TEST_MARKER={marker}\n"),
        )
        .expect("environment file");
        Daemon {
            socket: dir.path().join("zinit.sock"),
            stdout_path: dir.path().join("zinit.out"),
            config,
            marker,
            dir,
            child: None,
        }
    }

    /// A started daemon with two services that each print one line when
    /// they start (`[+] web: hello`, `[+] db: db up`), both running: for
    /// log followers, which see a line again at each restart.
    pub fn talkers() -> Daemon {
        let d = Daemon::new();
        d.service("web", "exec: \"sh -c 'echo hello; exec sleep 1000'\"\n");
        d.service("db", "exec: \"sh -c 'echo db up; exec sleep 1000'\"\n");
        let d = d.start();
        d.wait_running("web");
        d.wait_running("db");
        d
    }

    /// Write `<name>.yaml` into the config directory.
    pub fn service(&self, name: &str, yaml: &str) -> &Daemon {
        std::fs::write(self.config.join(format!("{name}.yaml")), yaml).expect("service file");
        self
    }

    /// A path inside the test's private directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Start `zinit init` and wait until its socket answers.
    pub fn start(mut self) -> Daemon {
        self.spawn_init(&[]);
        let socket = self.socket.clone();
        wait_until("the control socket", || answers(&socket));
        self
    }

    /// Start `zinit init` with extra arguments (`-b 100`, `--log-dir D`)
    /// and wait until its socket answers.
    pub fn start_args(mut self, extra: &[&str]) -> Daemon {
        self.spawn_init(extra);
        let socket = self.socket.clone();
        wait_until("the control socket", || answers(&socket));
        self
    }

    /// Start `zinit init` from `command` (see `spawn_init_with`) and wait
    /// until its socket answers.
    pub fn start_with(mut self, command: Command) -> Daemon {
        self.spawn_init_with(command, &[]);
        let socket = self.socket.clone();
        wait_until("the control socket", || answers(&socket));
        self
    }

    /// Start `zinit init` with extra arguments, without waiting.
    pub fn spawn_init(&mut self, extra: &[&str]) {
        self.spawn_init_with(Command::new(ZINIT), extra);
    }

    /// Start `zinit init` from `command` (a `Command::new(ZINIT)` carrying
    /// pre-exec hooks or environment, but no arguments), without waiting.
    pub fn spawn_init_with(&mut self, mut command: Command, extra: &[&str]) {
        let out = std::fs::File::create(&self.stdout_path).expect("stdout file");
        let err = out.try_clone().expect("stderr file");
        let child = self
            .init_args(&mut command, extra)
            .env("ZINIT_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn zinit init");
        self.child = Some(child);
    }

    /// `zinit -s SOCKET init -c CONFIG --env-file ENV EXTRA...` for this
    /// daemon's files, not started (for an `init` expected to refuse).
    pub fn init_command(&self, extra: &[&str]) -> Command {
        let mut command = Command::new(ZINIT);
        self.init_args(&mut command, extra);
        command
    }

    /// Add `-s SOCKET init -c CONFIG --env-file ENV EXTRA...` to `command`.
    fn init_args<'c>(&self, command: &'c mut Command, extra: &[&str]) -> &'c mut Command {
        command
            .arg("-s")
            .arg(&self.socket)
            .arg("init")
            .arg("-c")
            .arg(&self.config)
            .arg("--env-file")
            .arg(self.dir.path().join("environment"))
            .args(extra)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).expect("daemon started")
    }

    /// The daemon's own output so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.stdout_path).unwrap_or_default()
    }

    /// Run the CLI against this daemon.
    pub fn zinit(&self, args: &[&str]) -> Output {
        Command::new(ZINIT)
            .arg("-s")
            .arg(&self.socket)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run zinit")
    }

    /// Run the CLI, require success, return stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.zinit(args);
        assert!(
            out.status.success(),
            "zinit {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.output()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// One legacy command; the decoded JSON reply.
    pub fn legacy(&self, line: &str) -> Value {
        let reply = self.raw(&format!("{line}\n"));
        serde_json::from_str(reply.trim()).unwrap_or_else(|e| panic!("bad reply {reply:?}: {e}"))
    }

    /// Send raw bytes, read until the daemon closes.
    pub fn raw(&self, bytes: &str) -> String {
        let mut stream = UnixStream::connect(&self.socket).expect("connect");
        stream
            .set_read_timeout(Some(DEADLINE))
            .expect("read timeout");
        stream.write_all(bytes.as_bytes()).expect("write");
        let mut reply = String::new();
        stream.read_to_string(&mut reply).expect("read reply");
        reply
    }

    /// A JSON-RPC call on a fresh connection; the decoded response.
    pub fn rpc(&self, method: &str, params: Value) -> Value {
        let mut conn = RpcConnection::open(&self.socket);
        conn.call(method, params)
    }

    /// The result of a JSON-RPC call that must succeed.
    pub fn result(&self, method: &str, params: Value) -> Value {
        let response = self.rpc(method, params);
        assert!(
            response.get("error").is_none(),
            "{method} failed: {response}"
        );
        response["result"].clone()
    }

    /// Lines ever captured from service `name`, from `system_metrics`.
    pub fn lines_captured(&self, name: &str) -> u64 {
        self.result("system_metrics", serde_json::json!([]))["services"]
            .as_array()
            .expect("services")
            .iter()
            .find(|s| s["name"] == name)
            .and_then(|s| s["log_lines_total"].as_u64())
            .unwrap_or(0)
    }

    /// `status NAME` over the legacy protocol: (state, pid).
    pub fn state(&self, name: &str) -> (String, u64) {
        let reply = self.legacy(&format!("status {name}"));
        assert_eq!(reply["state"], "ok", "status {name}: {reply}");
        let body = &reply["body"];
        (
            body["state"].as_str().unwrap_or_default().to_owned(),
            body["pid"].as_u64().unwrap_or(0),
        )
    }

    /// Wait until a service's state satisfies `check`; returns (state, pid).
    pub fn wait_state(&self, name: &str, check: impl Fn(&str) -> bool) -> (String, u64) {
        wait_for(&format!("state of {name}"), || {
            let (state, pid) = self.state(name);
            check(&state).then_some((state, pid))
        })
    }

    pub fn wait_running(&self, name: &str) -> u64 {
        self.wait_state(name, |s| s == "Running").1
    }

    /// Pids of live processes started for this test (by the marker).
    pub fn marked_processes(&self) -> Vec<i32> {
        marked_processes(&self.marker)
    }

    /// Send SIGTERM to the daemon and wait for it to exit; its status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let child = self.child.as_mut().expect("daemon started");
        signal(child.id() as i32, libc::SIGTERM);
        wait_for("zinit to exit", || child.try_wait().ok().flatten())
    }

    /// Wait for the daemon to exit by itself.
    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        let child = self.child.as_mut().expect("daemon started");
        wait_for("zinit to exit", || child.try_wait().ok().flatten())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            if child.try_wait().ok().flatten().is_none() {
                signal(child.id() as i32, libc::SIGTERM);
                let start = Instant::now();
                while child.try_wait().ok().flatten().is_none() {
                    if start.elapsed() > DEADLINE {
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
        // Whatever survived is a bug the test may already report; never
        // leave it running.
        for pid in marked_processes(&self.marker) {
            signal(pid, libc::SIGKILL);
        }
        // A daemon killed on purpose leaves its per-instance cgroup base
        // (auto mode as root): empty it and remove it.
        if let Some(base) = self.cgroup_base().filter(|b| is_instance_base(b)) {
            remove_cgroup_tree(&base);
        }
    }
}

impl Daemon {
    /// The base directory the daemon said its services' cgroups are
    /// under, if it uses cgroups (from its start line).
    pub fn cgroup_base(&self) -> Option<PathBuf> {
        cgroup_base_in(&self.output())
    }
}

/// The base in a daemon's `services run in cgroups under BASE: why` line.
pub fn cgroup_base_in(output: &str) -> Option<PathBuf> {
    let line = output
        .lines()
        .find(|l| l.contains("services run in cgroups under "))?;
    let rest = line.split("services run in cgroups under ").nth(1)?;
    Some(PathBuf::from(rest.split(": ").next()?))
}

/// A daemon's own base directory in auto mode: `zinit-` and 12 hex digits.
pub fn is_instance_base(dir: &Path) -> bool {
    dir.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("zinit-"))
        .is_some_and(|hex| hex.len() == 12 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Kill everything in cgroup `dir` and below, then remove them all,
/// bounded by `DEADLINE`.
pub fn remove_cgroup_tree(dir: &Path) {
    if !dir.join("cgroup.procs").exists() {
        return;
    }
    let subdirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|e| {
            e.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    for sub in &subdirs {
        remove_cgroup_tree(sub);
    }
    let _ = std::fs::write(dir.join("cgroup.kill"), "1");
    let start = Instant::now();
    while std::fs::remove_dir(dir).is_err() && start.elapsed() < DEADLINE {
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub fn signal(pid: i32, sig: i32) {
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe {
        libc::kill(pid, sig);
    }
}

/// Live (non-zombie) processes whose environment holds the marker.
pub fn marked_processes(marker: &str) -> Vec<i32> {
    let needle = format!("ZINIT_TEST_MARKER={marker}");
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        let matches = environ
            .split(|b| *b == 0)
            .any(|var| var == needle.as_bytes());
        if matches && process_state(pid).is_some_and(|s| s != 'Z') {
            found.push(pid);
        }
    }
    found
}

/// The one-letter state of a process (R, S, Z, ...), if it exists.
pub fn process_state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = stat.rsplit_once(')')?.1;
    after_name.trim_start().chars().next()
}

pub fn alive(pid: i32) -> bool {
    process_state(pid).is_some_and(|s| s != 'Z')
}

/// A persistent JSON-RPC connection.
pub struct RpcConnection {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    next_id: u64,
}

impl RpcConnection {
    pub fn open(socket: &Path) -> RpcConnection {
        let stream = UnixStream::connect(socket).expect("connect");
        stream
            .set_read_timeout(Some(DEADLINE))
            .expect("read timeout");
        RpcConnection {
            writer: stream.try_clone().expect("clone"),
            reader: BufReader::new(stream),
            next_id: 1,
        }
    }

    /// Send one line (a newline is added).
    pub fn send(&mut self, line: &str) {
        self.writer
            .write_all(format!("{line}\n").as_bytes())
            .expect("write");
    }

    /// Read one line (without the newline).
    pub fn read_line(&mut self) -> String {
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("read");
        line.trim_end().to_owned()
    }

    pub fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let request =
            serde_json::json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.send(&request.to_string());
        let line = self.read_line();
        let response: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad response {line:?}: {e}"));
        assert_eq!(response["id"], id, "{response}");
        response
    }
}

impl Daemon {
    /// SIGKILL the daemon (by its pid) and reap it, leaving its socket file
    /// behind as a crash would. Its services, if any, are orphaned; the
    /// guard still finds and kills them by marker.
    pub fn kill_daemon(&mut self) -> std::process::ExitStatus {
        let child = self.child.as_mut().expect("daemon started");
        signal(child.id() as i32, libc::SIGKILL);
        wait_for("zinit to die", || child.try_wait().ok().flatten())
    }
}

impl Daemon {
    /// The daemon's exit status if it has exited (reaping it), without
    /// waiting. For tests that need their own, shorter deadline.
    pub fn try_exit(&mut self) -> Option<std::process::ExitStatus> {
        let child = self.child.as_mut().expect("daemon started");
        child.try_wait().ok().flatten()
    }
}
