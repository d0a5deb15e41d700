//! Promises 11 and 12 at the control socket: who may connect (mode 0600
//! whatever the umask, `--socket-group` checked by peer credentials, a
//! symlink at the socket path never followed), and that no crowd of
//! clients (silent, trickling, or more than zinit has descriptors for)
//! delays another client or starves supervision. Odd names on every
//! method of both protocols and of HTTP.
//!
//! Already proved elsewhere, not repeated here: a second daemon refused
//! and a stale socket replaced (protocol/socket.rs
//! `the_socket_is_private_and_never_stolen`), oversized lines and garbage
//! (protocol/robustness.rs `oversized_and_malformed_input_is_refused_and_serving_goes_on`),
//! hostile names on the service methods (protocol/robustness.rs
//! `hostile_names_are_refused_everywhere`), 200 clients at once
//! (`two_hundred_clients_at_once_all_get_their_answers`).

use crate::common::namespace::*;
use crate::common::*;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The daemon's idle timeout (crates/zinit-daemon/src/server/mod.rs).
const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long one request may take while crowds press on the socket: far
/// below the idle timeout, so nobody was served only because a silent
/// client timed out.
const ANSWER_LIMIT: Duration = Duration::from_secs(3);

/// Let this test process open as many descriptors as its hard limit allows.
fn raise_own_fd_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write the one struct given.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        limit.rlim_cur = limit.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
    }
}

/// `zinit` whose soft and hard `RLIMIT_NOFILE` are `n` from its start.
fn zinit_with_fd_limit(n: u64) -> Command {
    let mut command = Command::new(ZINIT);
    // SAFETY: only setrlimit, async-signal-safe, between fork and exec.
    unsafe {
        command.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: n,
                rlim_max: n,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command
}

/// `zinit` started under `umask`.
fn zinit_with_umask(mask: libc::mode_t) -> Command {
    let mut command = Command::new(ZINIT);
    // SAFETY: only umask, async-signal-safe, between fork and exec.
    unsafe {
        command.pre_exec(move || {
            libc::umask(mask);
            Ok(())
        });
    }
    command
}

/// User + system CPU time of a process so far.
fn cpu_time(pid: i32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // After the name: state is field 3, utime 14 and stime 15.
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i)?.parse::<u64>().ok())
        .sum();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_millis(ticks * 1000 / hz)
}

/// The lowest descriptor number process `pid` does not have open.
fn lowest_free_fd(pid: i32) -> usize {
    let open: std::collections::BTreeSet<usize> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    (0..).find(|n| !open.contains(n)).unwrap()
}

/// One legacy request on a fresh connection, timed; the reply.
#[track_caller]
fn timely(d: &Daemon, line: &str) -> String {
    let start = Instant::now();
    let reply = d.raw(&format!("{line}\n"));
    let took = start.elapsed();
    assert!(took < ANSWER_LIMIT, "{line:?} took {took:?}");
    reply
}

/// `status web` over the legacy protocol, exactly.
fn status_reply(pid: u64) -> String {
    format!(
        "{{\"state\":\"ok\",\"body\":{{\"name\":\"web\",\"pid\":{pid},\"state\":\"Running\",\"target\":\"Up\",\"after\":{{}}}}}}\n"
    )
}

/// A thread that reads `stream` until the daemon closes it (or the read
/// fails), and returns when that happened and what was read.
fn watch_close(stream: UnixStream) -> std::thread::JoinHandle<(Instant, Vec<u8>)> {
    std::thread::spawn(move || {
        let mut stream = stream;
        stream.set_read_timeout(Some(DEADLINE * 2)).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => return (Instant::now(), got),
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
}

/// Connections that write one byte every 100 ms and never finish a line.
struct Tricklers {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Tricklers {
    fn start(streams: Vec<UnixStream>) -> Tricklers {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut streams = streams;
            let mut first = true;
            while !flag.load(Ordering::Relaxed) {
                for s in &mut streams {
                    // Closed ones (made room for others) just fail; a
                    // byte never fills a socket buffer, so this never waits.
                    let _ = s.write(if first { b"s" } else { b"x" });
                }
                first = false;
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        Tricklers {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Tricklers {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn thousands_of_idle_and_trickling_clients_never_delay_a_real_one() {
    raise_own_fd_limit();
    let d = Daemon::new();
    d.service("web", "exec: \"sleep 1000\"\n");
    let d = d.start();
    let web = d.wait_running("web");
    let zinit = d.pid() as i32;
    assert_eq!(timely(&d, "status web"), status_reply(web));
    let baseline = fd_count(zinit);

    // 3000 silent connections, then 1000 that trickle a request that never
    // ends, a byte every 100 ms.
    let silent: Vec<UnixStream> = (0..3000)
        .map(|_| UnixStream::connect(&d.socket).unwrap())
        .collect();
    let trickling: Vec<UnixStream> = (0..1000)
        .map(|_| UnixStream::connect(&d.socket).unwrap())
        .collect();
    let tricklers = Tricklers::start(trickling);
    // A real client is answered at once, again and again, in both protocols.
    let mut rpc = RpcConnection::open(&d.socket);
    for _ in 0..20 {
        assert_eq!(timely(&d, "status web"), status_reply(web));
        let start = Instant::now();
        let answer = d.rpc("service_status", json!(["web"]));
        assert_eq!(answer["result"]["pid"], web, "{answer}");
        assert!(
            start.elapsed() < ANSWER_LIMIT,
            "rpc took {:?}",
            start.elapsed()
        );
    }
    // zinit holds at most its connection limit (512 under the usual 1024
    // descriptors; the rest were closed to make room), plus the few closed
    // for room that have not gone yet.
    let held = fd_count(zinit);
    assert!(
        held <= baseline + 512 + 64,
        "{held} fds, baseline {baseline}"
    );
    // A connection that already spoke is not idle while being answered,
    // and may go on between requests.
    assert_eq!(
        rpc.call("service_list", json!([]))["result"],
        json!({"web": "Running"})
    );

    drop(tricklers);
    drop(silent);
    drop(rpc);
    within(
        Duration::from_secs(10),
        "zinit's fds back to baseline",
        || (fd_count(zinit) <= baseline).then_some(()),
    );
    assert_eq!(timely(&d, "status web"), status_reply(web));
    assert_eq!(d.marked_processes(), vec![web as i32]);
}

#[test]
fn idle_and_trickling_clients_are_closed_after_the_timeout_but_followers_never() {
    let d = Daemon::new();
    d.service("web", "exec: \"sh -c 'echo hello; exec sleep 1000'\"\n");
    let d = d.start();
    d.wait_running("web");
    wait_until("web's first line", || {
        d.ok(&["log", "-s"]).contains("[+] web: hello")
    });
    let zinit = d.pid() as i32;
    let baseline = fd_count(zinit);

    let start = Instant::now();
    let silent: Vec<_> = (0..5)
        .map(|_| watch_close(UnixStream::connect(&d.socket).unwrap()))
        .collect();
    // A trickler is timed from when it started waiting: its bytes do not
    // buy it more time.
    let trickling = UnixStream::connect(&d.socket).unwrap();
    let trickled = watch_close(trickling.try_clone().unwrap());
    let tricklers = Tricklers::start(vec![trickling]);
    // A JSON-RPC session that asked once and then says nothing.
    let mut session = UnixStream::connect(&d.socket).unwrap();
    session
        .write_all(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"service_list\"}\n")
        .unwrap();
    let mut answer = String::new();
    BufReader::new(session.try_clone().unwrap())
        .read_line(&mut answer)
        .unwrap();
    assert_eq!(
        answer,
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"web\":\"Running\"}}\n"
    );
    let asked = Instant::now();
    let session_closed = watch_close(session);
    // Followers wait for lines, not requests: they are never idle.
    let mut legacy_follower = UnixStream::connect(&d.socket).unwrap();
    legacy_follower.write_all(b"log\n").unwrap();
    let legacy_follower = BufReader::new(legacy_follower);
    let mut subscriber = RpcConnection::open(&d.socket);
    let subscribed = subscriber.call("stream_subscribeLogs", json!(["web"]));
    assert!(subscribed["result"].is_u64(), "{subscribed}");

    for watcher in silent {
        let (closed, got) = watcher.join().unwrap();
        let after = closed - start;
        assert!(got.is_empty(), "{got:?}");
        assert!(
            after >= IDLE_TIMEOUT - Duration::from_millis(500),
            "closed after only {after:?}"
        );
        assert!(after < IDLE_TIMEOUT + Duration::from_secs(5), "{after:?}");
    }
    let (closed, got) = trickled.join().unwrap();
    drop(tricklers);
    assert!(got.is_empty(), "{got:?}");
    let after = closed - start;
    assert!(
        after >= IDLE_TIMEOUT - Duration::from_millis(500)
            && after < IDLE_TIMEOUT + Duration::from_secs(5),
        "trickler closed after {after:?}"
    );
    let (closed, _) = session_closed.join().unwrap();
    let after = closed - asked;
    assert!(
        after >= IDLE_TIMEOUT - Duration::from_millis(500)
            && after < IDLE_TIMEOUT + Duration::from_secs(5),
        "idle session closed after {after:?}"
    );

    // Well past the timeout, both followers still get new lines.
    assert!(start.elapsed() > IDLE_TIMEOUT);
    d.ok(&["restart", "web"]);
    let mut legacy_follower = legacy_follower;
    let hello = wait_for("the legacy follower to see web again", || {
        let mut line = String::new();
        legacy_follower.read_line(&mut line).ok()?;
        (line.trim_end() == "[+] web: hello" && start.elapsed() > IDLE_TIMEOUT).then_some(line)
    });
    assert_eq!(hello, "[+] web: hello\n");
    wait_for("the subscriber to see web again", || {
        let note: Value = serde_json::from_str(&subscriber.read_line()).ok()?;
        (note["params"]["result"] == "[+] web: hello").then_some(())
    });
    drop((legacy_follower, subscriber));
    // Only the followers' two connections were left; now none.
    within(
        Duration::from_secs(5),
        "the followers' connections to close",
        || (fd_count(zinit) <= baseline).then_some(()),
    );
}

#[test]
fn a_low_fd_limit_and_a_connection_flood_never_stop_supervision() {
    raise_own_fd_limit();
    let d = Daemon::new();
    let starts = d.path("starts");
    d.service(
        "crash",
        &format!(
            "exec: \"sh -c 'echo x >> {}; exit 1'\"\nrestart: {{delay: 50ms, max_delay: 100ms}}\n",
            starts.display()
        ),
    );
    d.service("web", "exec: \"sleep 1000\"\n");
    let d = d.start_with(zinit_with_fd_limit(64));
    let web = d.wait_running("web");
    let zinit = d.pid() as i32;
    let count = || read(&starts).lines().count();
    wait_until("the crash loop to run", || count() >= 3);
    let baseline = fd_count(zinit);
    assert!(baseline < 32, "{baseline} fds before the flood");

    // The flood: a thousand connections held open, and clients connecting
    // and leaving as fast as they can.
    let stop = Arc::new(AtomicBool::new(false));
    let churn: Vec<_> = (0..2)
        .map(|_| {
            let (socket, stop) = (d.socket.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut made = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(mut s) = UnixStream::connect(&socket) {
                        let _ = s.write_all(b"list\n");
                        made += 1;
                    }
                }
                made
            })
        })
        .collect();
    let held: Vec<UnixStream> = (0..1000)
        .filter_map(|_| UnixStream::connect(&d.socket).ok())
        .collect();
    // The crash loop goes on: zinit always has descriptors for its pipes.
    let before = count();
    within(
        Duration::from_secs(10),
        "ten respawns during the flood",
        || (count() >= before + 10).then_some(()),
    );
    // And a client still gets through (connections idle the longest make
    // room for it).
    let start = Instant::now();
    assert_eq!(d.raw("status web\n"), status_reply(web));
    assert!(start.elapsed() < ANSWER_LIMIT, "{:?}", start.elapsed());
    // The socket takes at most half of the 64 descriptors.
    let during = fd_count(zinit);
    assert!(during <= baseline + 32, "{during} fds, {baseline} before");
    stop.store(true, Ordering::Relaxed);
    let made: u64 = churn.into_iter().map(|t| t.join().unwrap()).sum();
    assert!(made > 100, "only {made} connections made");
    drop(held);
    within(Duration::from_secs(5), "status once the flood ends", || {
        (d.raw("status web\n") == status_reply(web)).then_some(())
    });
    within(Duration::from_secs(10), "fds back to baseline", || {
        (fd_count(zinit) <= baseline).then_some(())
    });
    // Quiet again: no busy loop left behind.
    let quiet = cpu_time(zinit);
    let since = Instant::now();
    let before = count();
    within(Duration::from_secs(10), "more respawns", || {
        (count() >= before + 5).then_some(())
    });
    let used = cpu_time(zinit) - quiet;
    assert!(
        used < since.elapsed() / 2,
        "zinit used {used:?} in {:?} while only restarting",
        since.elapsed()
    );
}

#[test]
fn out_of_descriptors_at_accept_refuses_clearly_and_never_spins() {
    require_root!("out_of_descriptors_at_accept_refuses_clearly_and_never_spins");
    let d = Daemon::new();
    d.service("web", "exec: \"sleep 1000\"\n");
    let d = d.start();
    let web = d.wait_running("web");
    let zinit = d.pid() as i32;
    let open = fd_count(zinit);
    let prlimit = |soft: &str| {
        let status = Command::new("prlimit")
            .args(["--pid", &zinit.to_string(), &format!("--nofile={soft}:")])
            .status()
            .unwrap();
        assert!(status.success(), "prlimit {soft}");
    };
    // No descriptor number left: the limit is the lowest one not in use
    // (descriptors zinit holds above it stay valid). Should a descriptor
    // below it free up meanwhile, silent clients take it until one is
    // refused. Then only the spare descriptor zinit keeps is left.
    prlimit(&lowest_free_fd(zinit).to_string());
    let refusal = json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": {"code": -32600, "message": "no file descriptor left for this connection; try again later"},
        "state": "error",
        "body": "no file descriptor left for this connection; try again later",
    });
    let mut holes = Vec::new();
    loop {
        let mut stream = UnixStream::connect(&d.socket).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut first = [0u8; 1];
        match stream.read(&mut first) {
            // Refused at once.
            Ok(1) => break,
            // Accepted: it holds a descriptor.
            _ => holes.push(stream),
        }
        assert!(holes.len() < 64, "never out of descriptors");
    }
    let cpu_before = cpu_time(zinit);
    let started = Instant::now();
    for _ in 0..50 {
        let reply = d.raw("status web\n");
        let reply: Value =
            serde_json::from_str(reply.trim()).unwrap_or_else(|e| panic!("{reply:?}: {e}"));
        assert_eq!(reply, refusal);
    }
    // The CLI shows why.
    let out = d.zinit(&["status", "web"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no file descriptor left for this connection; try again later"),
        "{err}"
    );
    // A connection left waiting in the backlog, and time passing: an
    // accept loop that spun on EMFILE would burn a core here.
    let waiting = UnixStream::connect(&d.socket).unwrap();
    let (closed, got) = watch_close(waiting).join().unwrap();
    assert!(closed - started < Duration::from_secs(5));
    assert!(String::from_utf8_lossy(&got).contains("no file descriptor left"));
    let pause = Instant::now();
    within(Duration::from_secs(5), "a quiet second", || {
        (pause.elapsed() > Duration::from_secs(1)).then_some(())
    });
    let used = cpu_time(zinit) - cpu_before;
    assert!(
        used < started.elapsed() / 2,
        "zinit used {used:?} of CPU in {:?}",
        started.elapsed()
    );
    wait_until("zinit to log the EMFILE", || {
        mentions(&d, "too many open files") >= 1
    });

    prlimit("1024");
    drop(holes);
    within(
        Duration::from_secs(5),
        "status with descriptors again",
        || (d.raw("status web\n") == status_reply(web)).then_some(()),
    );
    within(
        Duration::from_secs(5),
        "fds back to where they were",
        || (fd_count(zinit) <= open).then_some(()),
    );
}

/// The socket's mode and group.
fn socket_mode(d: &Daemon) -> (u32, u32) {
    let meta = std::fs::symlink_metadata(&d.socket).unwrap();
    (meta.permissions().mode() & 0o7777, meta.gid())
}

#[test]
fn the_socket_mode_ignores_the_umask() {
    for mask in [0o000, 0o077, 0o022] {
        let d = Daemon::new().start_with(zinit_with_umask(mask));
        assert_eq!(socket_mode(&d).0, 0o600, "umask {mask:o}");
        assert_eq!(d.legacy("list")["state"], "ok");
        // No temporary name is left beside it.
        let names: Vec<String> = std::fs::read_dir(d.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("zinit.sock.tmp"))
            .collect();
        assert!(names.is_empty(), "{names:?}");
    }
    let d = Daemon::new();
    let mut d = d;
    d.spawn_init_with(zinit_with_umask(0o000), &["--socket-group", "100"]);
    wait_until("the socket", || UnixStream::connect(&d.socket).is_ok());
    let (mode, gid) = socket_mode(&d);
    assert_eq!(mode, 0o660);
    if is_root() {
        assert_eq!(gid, 100);
    }
}

/// Run the CLI as another user (`setpriv` arguments), from a directory it
/// may traverse.
fn as_user(d: &Daemon, who: &[&str], args: &[&str]) -> std::process::Output {
    Command::new("setpriv")
        .args(who)
        .arg(ZINIT)
        .arg("-s")
        .arg(&d.socket)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("setpriv")
}

/// `nobody` cannot use the socket: the file's mode stops it, and with the
/// mode opened to everyone the peer credentials check refuses it with
/// exactly `refusal` (the CLI's stderr).
#[track_caller]
fn refused_by_mode_and_by_credentials(d: &Daemon, nobody: &[&str], refusal: &str) {
    let out = as_user(d, nobody, &["list"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(err.contains("permission denied"), "{err}");
    std::fs::set_permissions(&d.socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    let out = as_user(d, nobody, &["list"]);
    assert!(!out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stderr), refusal);
}

#[test]
fn only_root_zinits_user_and_the_socket_group_may_connect() {
    require_root!("only_root_zinits_user_and_the_socket_group_may_connect");
    let nobody = ["--reuid=65534", "--regid=65534", "--clear-groups"];
    let d = Daemon::new().start();
    // The test's directory is private; let others reach the socket file,
    // so only its own mode stands in the way.
    std::fs::set_permissions(d.dir.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
    // Even if the file's mode were opened, the credentials are checked.
    refused_by_mode_and_by_credentials(
        &d,
        &nobody,
        "zinit: permission denied: uid 65534 (gid 65534) may not use this socket; only root and uid 0 may\n",
    );
    drop(d);

    // With a group: members may (primary or supplementary group), others
    // may not.
    let mut d = Daemon::new();
    d.service("web", "exec: \"sleep 1000\"\n");
    d.spawn_init(&["--socket-group", "users"]);
    wait_until("the socket", || UnixStream::connect(&d.socket).is_ok());
    d.wait_running("web");
    std::fs::set_permissions(d.dir.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
    assert_eq!(socket_mode(&d), (0o660, 100));
    for member in [
        ["--reuid=65534", "--regid=100", "--clear-groups"],
        ["--reuid=65534", "--regid=65534", "--groups=100"],
    ] {
        let out = as_user(&d, &member, &["list"]);
        assert!(out.status.success(), "{member:?}: {out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "web: Running\n");
    }
    refused_by_mode_and_by_credentials(
        &d,
        &nobody,
        "zinit: permission denied: uid 65534 (gid 65534) may not use this socket; only root, uid 0 and members of group 100 may\n",
    );
    // A refused client changed nothing and the daemon goes on.
    assert_eq!(d.ok(&["list"]), "web: Running\n");

    // An unknown group: refused before anything is bound.
    let mut other = Daemon::new();
    other.spawn_init(&["--socket-group", "no-such-group-anywhere"]);
    let status = other.wait_exit();
    assert_eq!(status.code(), Some(1));
    assert!(
        other
            .output()
            .contains("zinit: unknown group \"no-such-group-anywhere\" for the control socket"),
        "{}",
        other.output()
    );
    assert!(!other.socket.exists());
}

#[test]
fn a_symlink_at_the_socket_path_is_never_followed() {
    let mut d = Daemon::new();
    // A link to a precious file, and a link to a directory.
    let precious = d.path("precious");
    std::fs::write(&precious, "keep me").unwrap();
    std::os::unix::fs::symlink(&precious, &d.socket).unwrap();
    d.spawn_init(&[]);
    assert_eq!(d.wait_exit().code(), Some(1));
    assert_eq!(
        d.output().lines().last().unwrap_or_default(),
        format!(
            "zinit: {} exists and is not a socket; refusing to replace it",
            d.socket.display()
        )
    );
    assert_eq!(std::fs::read_to_string(&precious).unwrap(), "keep me");
    assert!(std::fs::symlink_metadata(&d.socket)
        .unwrap()
        .file_type()
        .is_symlink());

    // A link to another daemon's live socket is not that socket either.
    let live = Daemon::new().start();
    std::fs::remove_file(&d.socket).unwrap();
    std::os::unix::fs::symlink(&live.socket, &d.socket).unwrap();
    d.spawn_init(&[]);
    assert_eq!(d.wait_exit().code(), Some(1));
    assert_eq!(live.legacy("list")["state"], "ok");
    assert!(std::fs::symlink_metadata(&live.socket)
        .unwrap()
        .file_type()
        .is_socket());
    let leftovers: Vec<String> = std::fs::read_dir(d.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("zinit.sock.tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// Names that must be refused, with why, as `ServiceName` words it.
fn odd_names() -> Vec<(String, &'static str)> {
    let dot = "service name must not start with '.'";
    vec![
        ("../x".to_owned(), dot),
        (".".to_owned(), dot),
        ("a/b".to_owned(), "service name must not contain '/'"),
        (String::new(), "service name is empty"),
        ("a\0b".to_owned(), "service name must not contain '\\0'"),
        ("a\nb".to_owned(), "service name must not contain '\\n'"),
        (
            "x".repeat(10 * 1024),
            "service name is longer than 200 bytes",
        ),
    ]
}

/// Every method that takes a name, with params naming `name`.
fn methods_with(name: &str) -> Vec<(&'static str, Value)> {
    vec![
        ("service_status", json!([name])),
        ("service_start", json!([name])),
        ("service_stop", json!([name])),
        ("service_restart", json!([name])),
        ("service_monitor", json!([name])),
        ("service_forget", json!([name])),
        ("service_kill", json!([name, "SIGTERM"])),
        ("service_create", json!([name, {"exec": "sleep 1000"}])),
        ("service_delete", json!([name])),
        ("service_get", json!([name])),
        ("service_stats", json!([name])),
        ("service_why", json!([name])),
        ("stream_currentLogs", json!([name])),
        ("stream_subscribeLogs", json!([name])),
        ("stream_readLogs", json!({"name": name})),
        ("stream_followLogs", json!({"name": name, "last": 5})),
        // Dotted aliases go through the same table.
        ("service.why", json!({"name": name})),
        ("stream.currentLogs", json!({"name": name})),
    ]
}

fn refusal(name: &str, why: &str) -> Value {
    let shown: String = name.chars().take(64).collect();
    json!({
        "code": -32602,
        "message": format!("invalid params: invalid service name {shown:?}: {why}"),
    })
}

/// The error object without its data (checked by protocol/errors.rs).
fn error_of(response: &Value) -> Value {
    let mut error = response["error"].clone();
    if let Some(object) = error.as_object_mut() {
        object.remove("data");
    }
    error
}

/// A loopback `zinit proxy` on a free port; killed when dropped.
struct LoopbackProxy {
    child: std::process::Child,
    addr: std::net::SocketAddr,
}

impl LoopbackProxy {
    fn start(socket: &std::path::Path) -> LoopbackProxy {
        let mut child = Command::new(ZINIT)
            .arg("-s")
            .arg(socket)
            .args(["proxy", "-a", "127.0.0.1:0"])
            .env_remove("ZINIT_HTTP_TOKEN")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("zinit-http listening on http://")
            .unwrap_or_else(|| panic!("proxy said {line:?}"))
            .parse()
            .unwrap();
        LoopbackProxy { child, addr }
    }

    /// POST one JSON-RPC request; the response object.
    fn rpc(&self, method: &str, params: &Value) -> Value {
        let body =
            json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string();
        let mut stream = std::net::TcpStream::connect(self.addr).unwrap();
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        write!(
            stream,
            "POST / HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.addr,
            body.len()
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 200"), "{method}: {head}");
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{method}: {body:?}: {e}"))
    }
}

impl Drop for LoopbackProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn odd_names_are_refused_on_every_method_of_every_interface() {
    let d = Daemon::new();
    d.service("web", "exec: \"sh -c 'echo hi; exec sleep 1000'\"\n");
    let d = d.start();
    let web = d.wait_running("web");
    let proxy = LoopbackProxy::start(&d.socket);
    let files_before: Vec<_> = std::fs::read_dir(&d.config)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let mut c = RpcConnection::open(&d.socket);
    for (name, why) in odd_names() {
        let expected = refusal(&name, why);
        for (method, params) in methods_with(&name) {
            let over_socket = c.call(method, params.clone());
            assert_eq!(error_of(&over_socket), expected, "socket {method} {name:?}");
            let over_http = proxy.rpc(method, &params);
            assert_eq!(error_of(&over_http), expected, "http {method} {name:?}");
        }
    }
    // Nothing was touched, nothing else started, the session still works.
    let files_after: Vec<_> = std::fs::read_dir(&d.config)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files_after, files_before);
    assert_eq!(d.marked_processes(), vec![web as i32]);
    assert_eq!(
        c.call("service_list", json!([]))["result"],
        json!({"web": "Running"})
    );

    // Unicode is a valid name: it round-trips through every method.
    let name = "ünïcode-✓-名前";
    let path = d.config.join(format!("{name}.yaml"));
    let content = json!({"exec": "sh -c 'echo hello; exec sleep 1000'"});
    let mut call = |method: &str, params: Value| {
        let response = c.call(method, params);
        assert!(response.get("error").is_none(), "{method}: {response}");
        response["result"].clone()
    };
    assert_eq!(
        call("service_create", json!([name, content])),
        json!(format!("service \"{name}\" created: {}", path.display()))
    );
    assert_eq!(call("service_get", json!([name])), content);
    assert_eq!(proxy.rpc("service_get", &json!([name]))["result"], content);
    assert_eq!(call("service_monitor", json!([name])), Value::Null);
    let pid = d.wait_running(name);
    assert_eq!(call("service_status", json!([name]))["name"], name);
    assert_eq!(call("service_stats", json!([name]))["pid"], pid);
    assert!(call("service_why", json!([name]))
        .to_string()
        .contains(name));
    wait_until("the unicode service's line", || {
        call("stream_currentLogs", json!([name])) == json!([format!("[+] {name}: hello")])
    });
    let page = call("stream_readLogs", json!({"name": name}));
    assert_eq!(page["lines"][0]["service"], name, "{page}");
    assert_eq!(page["lines"][0]["text"], "hello", "{page}");
    assert_eq!(d.legacy(&format!("status {name}"))["body"]["name"], name);
    assert_eq!(call("service_stop", json!([name])), Value::Null);
    wait_until("the unicode service to stop", || d.state(name).1 == 0);
    assert_eq!(call("service_forget", json!([name])), Value::Null);
    assert_eq!(
        call("service_delete", json!([name])),
        json!(format!("service \"{name}\" deleted: {}", path.display()))
    );
    assert!(!path.exists());
    assert_eq!(d.marked_processes(), vec![web as i32]);
}

/// Every connection may hold a partly received request of up to 1 MiB, but
/// all of them together hold at most 64 MiB: 120 clients each sending most
/// of a maximal line (and never its end) get zinit to hold no more than
/// that, the ones beyond the budget are told so, and others are served.
#[test]
fn partly_sent_requests_of_all_clients_share_one_memory_budget() {
    raise_own_fd_limit();
    let d = Daemon::new();
    d.service("web", "exec: \"sleep 1000\"\n");
    let d = d.start();
    d.wait_running("web");
    let zinit = d.pid() as i32;
    let rss_before = status_kb(zinit, "VmRSS").expect("zinit's VmRSS");
    const CLIENTS: usize = 120;
    const PART: usize = 900 << 10;
    let body = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"service_status\",\"params\":[\"{}",
        "x".repeat(PART)
    );
    let writers: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let socket = d.socket.clone();
            let body = body.clone();
            std::thread::spawn(move || {
                let mut stream = UnixStream::connect(&socket).expect("connect");
                // Fails with EPIPE once zinit refused and closed: fine.
                let _ = stream.write_all(body.as_bytes());
                stream
            })
        })
        .collect();
    let streams: Vec<UnixStream> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    // Each client either had its part taken in (held, waiting for the end
    // of the line) or was refused: read what the refused ones were told.
    let mut refused = 0;
    for stream in &streams {
        stream
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let mut line = String::new();
        if BufReader::new(stream).read_line(&mut line).is_ok() && !line.is_empty() {
            let reply: Value = serde_json::from_str(&line).expect("a JSON refusal");
            assert_eq!(reply["error"]["code"], -32600, "{reply}");
            let message = reply["error"]["message"].as_str().unwrap();
            assert!(message.contains("zinit is busy"), "{message}");
            refused += 1;
        }
    }
    let budget_kb = 64 * 1024;
    let rss = status_kb(zinit, "VmRSS").expect("zinit's VmRSS");
    // 120 × 900 KiB would be 105 MiB; the budget allows 64 MiB (plus what
    // vectors round up to).
    assert!(
        rss < rss_before + 2 * budget_kb,
        "zinit grew from {rss_before} kB to {rss} kB"
    );
    assert!(
        refused >= CLIENTS - (64 << 20) / PART,
        "only {refused} of {CLIENTS} were refused"
    );
    // Others are still served meanwhile.
    within(ANSWER_LIMIT, "status while the budget is full", || {
        let out = d.zinit(&["status", "web"]);
        out.status.success().then_some(())
    });
    drop(streams);
    // With the held lines gone, a maximal request fits again.
    within(ANSWER_LIMIT, "a long request after the crowd left", || {
        let mut stream = UnixStream::connect(&d.socket).ok()?;
        let name = "y".repeat(PART);
        let request =
            json!({"jsonrpc": "2.0", "id": 7, "method": "service_status", "params": [name]});
        stream.write_all(format!("{request}\n").as_bytes()).ok()?;
        let mut line = String::new();
        BufReader::new(stream).read_line(&mut line).ok()?;
        let reply: Value = serde_json::from_str(&line).ok()?;
        // Refused for its name, not for lack of room.
        (reply["error"]["code"] == -32602).then_some(())
    });
}
