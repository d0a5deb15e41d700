//! Real-process tests of spawning, reaping and signalling.
//!
//! Tests in this binary run in parallel and share the one reaper, which is
//! part of what they prove. Each test renames its thread (the `comm` a
//! forked child starts with) so it can find zombies of its own failed
//! spawns in /proc without seeing other tests' children.

use super::*;
use crate::logs::{spawn_pipe_reader, LogFrom, LogHub, LogLine, RingLimits, Stream};
use nix::errno::Errno;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use zinit_core::exit::ExitStatus;
use zinit_core::signal::Signal;

const DEADLINE: Duration = Duration::from_secs(30);

fn env() -> Vec<(String, String)> {
    vec![("PATH".into(), "/usr/bin:/bin".into())]
}

fn argv(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| a.to_string()).collect()
}

fn sh(script: &str) -> Vec<String> {
    argv(&["sh", "-c", script])
}

fn start(
    argv: &[String],
    output: Output,
    exits: &tokio::sync::mpsc::UnboundedSender<Reaped>,
) -> Spawned {
    let env = env();
    let req = SpawnRequest {
        argv,
        env: &env,
        dir: Path::new("/"),
        output,
    };
    spawn(&req, exits).unwrap()
}

async fn next_exit(rx: &mut UnboundedReceiver<Reaped>) -> Reaped {
    tokio::time::timeout(DEADLINE, rx.recv())
        .await
        .expect("no exit before the deadline")
        .expect("exit channel closed")
}

/// Poll `check` every 10 ms until it holds or the deadline passes.
async fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let end = Instant::now() + DEADLINE;
    while !check() {
        assert!(Instant::now() < end, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Name this thread (and so the `comm` of children it forks).
fn set_comm(name: &str) {
    let name = std::ffi::CString::new(name).unwrap();
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes.
    assert_eq!(unsafe { libc::prctl(libc::PR_SET_NAME, name.as_ptr()) }, 0);
}

/// `(state, ppid, pgrp, session)` of a process, from /proc/PID/stat.
fn stat_of(pid: i32) -> Option<(char, i32, i32, i32)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

fn parse_stat(text: &str) -> Option<(char, i32, i32, i32)> {
    let rest = &text[text.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?.chars().next()?;
    let mut num = || fields.next()?.parse().ok();
    Some((state, num()?, num()?, num()?))
}

/// Zombie children of this process whose comm is `comm`.
fn zombies_named(comm: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let name = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            matches!(stat_of(*pid), Some(('Z', ppid, _, _)) if ppid == me)
                && name.trim_end() == comm
        })
        .collect()
}

fn is_dead(pid: i32) -> bool {
    !matches!(stat_of(pid), Some((state, ..)) if state != 'Z')
}

/// Have orphaned grandchildren reparented to this process, as they are to
/// zinit as PID 1, so the reaper reaps them (and they do not pile up under
/// an init that does not reap).
fn become_subreaper() {
    // SAFETY: PR_SET_CHILD_SUBREAPER takes an integer flag.
    assert_eq!(unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1) }, 0);
}

/// Run `argv` with captured output, returning its lines and exit.
async fn run_captured(
    argv: &[String],
    env: &[(String, String)],
    dir: &Path,
) -> (Vec<Arc<LogLine>>, Reaped) {
    let (tx, mut rx) = unbounded_channel();
    let req = SpawnRequest {
        argv,
        env,
        dir,
        output: Output::Capture,
    };
    let child = spawn(&req, &tx).unwrap();
    let hub = LogHub::new(RingLimits {
        max_lines: 10_000,
        max_bytes: usize::MAX,
    });
    let readers = [
        spawn_pipe_reader(
            hub.clone(),
            "t".into(),
            Stream::Stdout,
            child.stdout.unwrap(),
            None,
        ),
        spawn_pipe_reader(
            hub.clone(),
            "t".into(),
            Stream::Stderr,
            child.stderr.unwrap(),
            None,
        ),
    ];
    let exit = next_exit(&mut rx).await;
    assert_eq!(exit.pid, child.pid);
    for r in readers {
        tokio::time::timeout(DEADLINE, r).await.unwrap().unwrap();
    }
    (hub.read(None, LogFrom::All).lines, exit)
}

#[tokio::test]
async fn exit_codes_and_signals_are_reported() {
    let (tx, mut rx) = unbounded_channel();
    let cases = [
        ("exit 7", ExitStatus::Code(7)),
        ("exit 0", ExitStatus::Code(0)),
        ("kill -9 $$", ExitStatus::Signaled(9)),
        // A real-time signal nix has no name for must not stall the reaper.
        ("kill -40 $$", ExitStatus::Signaled(40)),
    ];
    for (script, expected) in cases {
        let child = start(&sh(script), Output::Null, &tx);
        assert_eq!(
            next_exit(&mut rx).await,
            Reaped {
                pid: child.pid,
                status: expected,
                oom: zinit_core::exit::Oom::No,
            },
            "{script}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_children_are_each_reported_once() {
    set_comm("zt-many");
    let (tx, mut rx) = unbounded_channel();
    let mut expected = HashMap::new();
    let bad_dir = PathBuf::from("/nonexistent/zinit");
    let env = env();
    for i in 0..200 {
        let child = start(&sh(&format!("exit {}", i % 256)), Output::Null, &tx);
        expected.insert(child.pid, ExitStatus::Code(i % 256));
        if i % 20 == 0 {
            // Failed spawns in the churn are reaped but never reported.
            let args = sh("exit 0");
            let req = SpawnRequest {
                argv: &args,
                env: &env,
                dir: &bad_dir,
                output: Output::Capture,
            };
            assert!(matches!(spawn(&req, &tx), Err(SpawnError::Dir { .. })));
        }
    }
    let mut seen = HashMap::new();
    while seen.len() < expected.len() {
        let exit = next_exit(&mut rx).await;
        assert!(
            seen.insert(exit.pid, exit.status).is_none(),
            "{exit:?} twice"
        );
    }
    assert_eq!(seen, expected);
    wait_until("failed children are reaped", || {
        zombies_named("zt-many").is_empty()
    })
    .await;
    assert!(
        rx.try_recv().is_err(),
        "an exit nobody spawned was reported"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigchld_storm_loses_no_exit() {
    let (tx, mut rx) = unbounded_channel();
    for round in 0..10 {
        let pids: HashSet<i32> = (0..50)
            .map(|_| start(&argv(&["sleep", "1000"]), Output::Null, &tx).pid)
            .collect();
        for pid in &pids {
            assert_eq!(
                signal(*pid, Signal::Kill, Scope::Process),
                Ok(Delivery::Sent)
            );
        }
        let mut got = HashSet::new();
        while got.len() < pids.len() {
            let exit = next_exit(&mut rx).await;
            assert_eq!(exit.status, ExitStatus::Signaled(9));
            assert!(got.insert(exit.pid), "round {round}: {exit:?} twice");
        }
        assert_eq!(got, pids, "round {round}");
    }
    assert!(rx.try_recv().is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn independent_channels_get_only_their_own_exits() {
    let (tx_a, mut rx_a) = unbounded_channel();
    let (tx_b, mut rx_b) = unbounded_channel();
    let (mut pids_a, mut pids_b) = (HashSet::new(), HashSet::new());
    for _ in 0..30 {
        pids_a.insert(start(&sh("exit 3"), Output::Null, &tx_a).pid);
        pids_b.insert(start(&sh("exit 4"), Output::Null, &tx_b).pid);
    }
    for (rx, pids, code) in [(&mut rx_a, &pids_a, 3), (&mut rx_b, &pids_b, 4)] {
        let mut got = HashSet::new();
        for _ in 0..pids.len() {
            let exit = next_exit(rx).await;
            assert_eq!(exit.status, ExitStatus::Code(code));
            got.insert(exit.pid);
        }
        assert_eq!(&got, pids);
        assert!(rx.try_recv().is_err());
    }
}

#[tokio::test]
async fn spawn_failures_are_typed_and_leave_no_zombie() {
    set_comm("zt-failures");
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::write(&data, "not a program").unwrap();
    let garbage = tmp.path().join("garbage");
    std::fs::write(&garbage, [0x7f, b'E', b'L', b'F', 0, 0, 0, 0]).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&garbage, std::fs::Permissions::from_mode(0o755)).unwrap();
    let data_s = data.display().to_string();
    let garbage_s = garbage.display().to_string();
    let (tx, mut rx) = unbounded_channel();
    let env = env();
    let cases: Vec<(Vec<String>, PathBuf, SpawnError, String)> = vec![
        (
            argv(&["zinit-no-such-program"]),
            "/".into(),
            SpawnError::NotFound {
                program: "zinit-no-such-program".into(),
            },
            "executable \"zinit-no-such-program\" not found in PATH".into(),
        ),
        (
            argv(&[&data_s]),
            "/".into(),
            SpawnError::PermissionDenied {
                program: data_s.clone(),
            },
            format!("executable \"{data_s}\" is not executable: permission denied"),
        ),
        (
            argv(&["sh", "-c", "true"]),
            "/nonexistent/zinit".into(),
            SpawnError::Dir {
                dir: "/nonexistent/zinit".into(),
                errno: Errno::ENOENT,
            },
            "cannot enter working directory \"/nonexistent/zinit\": no such file or directory"
                .into(),
        ),
        (
            argv(&[&garbage_s]),
            "/".into(),
            SpawnError::Exec {
                program: garbage_s.clone(),
                errno: Errno::ENOEXEC,
            },
            format!("cannot execute \"{garbage_s}\": exec format error"),
        ),
    ];
    for (args, dir, expected, message) in cases {
        let req = SpawnRequest {
            argv: &args,
            env: &env,
            dir: &dir,
            output: Output::Capture,
        };
        let err = spawn(&req, &tx).unwrap_err();
        assert_eq!(err, expected);
        assert_eq!(err.to_string(), message);
    }
    wait_until("failed children are reaped", || {
        zombies_named("zt-failures").is_empty()
    })
    .await;
    assert!(rx.try_recv().is_err(), "a failed spawn reported an exit");
}

/// Sections of the hygiene script's output, by marker.
fn sections(lines: &[Arc<LogLine>]) -> HashMap<String, Vec<String>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    let mut current = String::new();
    for line in lines.iter().filter(|l| l.stream == Stream::Stdout) {
        match line.text.strip_prefix("== ") {
            Some(name) => current = name.to_owned(),
            None => out
                .entry(current.clone())
                .or_default()
                .push(line.text.clone()),
        }
    }
    out
}

fn status_field<'a>(status: &'a [String], key: &str) -> &'a str {
    status
        .iter()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .unwrap()
        .trim()
}

#[tokio::test]
async fn children_start_clean() {
    // Make the parent dirty: a blocked signal on this (the forking) thread,
    // a leaked fd without close-on-exec, and SIGPIPE ignored (Rust does that).
    let mut block: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: sigset manipulation on a local; pthread_sigmask on this thread.
    unsafe {
        libc::sigemptyset(&mut block);
        libc::sigaddset(&mut block, libc::SIGUSR1);
        assert_eq!(
            libc::pthread_sigmask(libc::SIG_BLOCK, &block, std::ptr::null_mut()),
            0
        );
    }
    let own = std::fs::read_to_string("/proc/thread-self/status").unwrap();
    let own: Vec<String> = own.lines().map(String::from).collect();
    assert_ne!(status_field(&own, "SigIgn"), "0000000000000000");
    assert_ne!(status_field(&own, "SigBlk"), "0000000000000000");
    let mut leaked = [0; 2];
    // SAFETY: `leaked` has room for two fds.
    assert_eq!(unsafe { libc::pipe(leaked.as_mut_ptr()) }, 0);

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().canonicalize().unwrap();
    let env = vec![
        ("PATH".to_string(), "/usr/bin:/bin".to_string()),
        ("ZINIT_TEST".to_string(), "a b=c".to_string()),
        ("EMPTY".to_string(), String::new()),
    ];
    let script = "echo '== status'; cat /proc/self/status; echo '== fds'; ls /proc/self/fd; \
                  echo '== cwd'; pwd -P; echo '== stat'; cat /proc/$$/stat; echo; \
                  echo '== env'; cat /proc/$$/environ; echo; echo to-stderr >&2";
    let (lines, exit) = run_captured(&sh(script), &env, &dir).await;

    // SAFETY: closing our own fds and restoring this thread's mask.
    unsafe {
        libc::close(leaked[0]);
        libc::close(leaked[1]);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &block, std::ptr::null_mut());
    }
    assert_eq!(exit.status, ExitStatus::Code(0));
    let s = sections(&lines);
    assert_eq!(status_field(&s["status"], "SigBlk"), "0000000000000000");
    assert_eq!(status_field(&s["status"], "SigIgn"), "0000000000000000");
    // 0-2 and the directory ls is reading.
    assert_eq!(s["fds"], ["0", "1", "2", "3"]);
    assert_eq!(s["cwd"], [dir.display().to_string()]);
    let (_, _, pgrp, session) = parse_stat(&s["stat"][0]).unwrap();
    assert_eq!((pgrp, session), (exit.pid, exit.pid));
    let seen_env: Vec<&str> = s["env"][0].split('\0').filter(|v| !v.is_empty()).collect();
    assert_eq!(
        seen_env,
        ["PATH=/usr/bin:/bin", "ZINIT_TEST=a b=c", "EMPTY="]
    );
    let stderr: Vec<&str> = lines
        .iter()
        .filter(|l| l.stream == Stream::Stderr)
        .map(|l| l.text.as_str())
        .collect();
    assert_eq!(stderr, ["to-stderr"]);
}

#[tokio::test]
async fn null_and_inherit_place_stdio() {
    let tmp = tempfile::tempdir().unwrap();
    let env = env();
    let script = argv(&[
        "sh",
        "-c",
        "l=$(readlink /proc/$$/fd/0 /proc/$$/fd/1 /proc/$$/fd/2); echo \"$l\" > out",
    ]);
    let own_out = std::fs::read_link("/proc/self/fd/1").unwrap();
    let own_err = std::fs::read_link("/proc/self/fd/2").unwrap();
    for (output, expected) in [
        (Output::Null, ["/dev/null".into(), "/dev/null".into()]),
        (Output::Inherit, [own_out, own_err]),
    ] {
        let (tx, mut rx) = unbounded_channel();
        let req = SpawnRequest {
            argv: &script,
            env: &env,
            dir: tmp.path(),
            output,
        };
        let child = spawn(&req, &tx).unwrap();
        assert!(child.stdout.is_none() && child.stderr.is_none());
        assert_eq!(next_exit(&mut rx).await.status, ExitStatus::Code(0));
        let out = std::fs::read_to_string(tmp.path().join("out")).unwrap();
        let links: Vec<PathBuf> = out.lines().map(PathBuf::from).collect();
        assert_eq!(links[0], PathBuf::from("/dev/null"), "{output:?}");
        assert_eq!(links[1..], expected, "{output:?}");
    }
}

/// Start `script` (which prints the pid of a background child) and return
/// the leader and that grandchild's pid.
async fn start_with_grandchild(script: &str, tx: &UnboundedSender<Reaped>) -> (Spawned, i32) {
    let mut child = start(&sh(script), Output::Capture, tx);
    let hub = LogHub::new(RingLimits {
        max_lines: 100,
        max_bytes: usize::MAX,
    });
    let stdout = child.stdout.take().unwrap();
    let _reader = spawn_pipe_reader(hub.clone(), "t".into(), Stream::Stdout, stdout, None);
    wait_until("the grandchild's pid is printed", || {
        !hub.read(None, LogFrom::All).lines.is_empty()
    })
    .await;
    let grandchild = hub.read(None, LogFrom::All).lines[0].text.parse().unwrap();
    (child, grandchild)
}

#[tokio::test]
async fn group_signal_reaches_a_grandchild() {
    become_subreaper();
    let (tx, mut rx) = unbounded_channel();
    let (child, grandchild) = start_with_grandchild("sleep 1000 & echo $!; wait", &tx).await;
    assert_eq!(
        stat_of(grandchild).unwrap().2,
        child.pid,
        "grandchild in the group"
    );

    assert_eq!(
        signal(child.pid, Signal::Term, Scope::Group),
        Ok(Delivery::Sent)
    );
    let exit = next_exit(&mut rx).await;
    assert_eq!(
        exit,
        Reaped {
            pid: child.pid,
            status: ExitStatus::Signaled(15),
            oom: zinit_core::exit::Oom::No,
        }
    );
    wait_until("the orphaned grandchild is reaped", || {
        stat_of(grandchild).is_none()
    })
    .await;
}

#[tokio::test]
async fn remnants_of_a_group_are_killed_after_the_leader_exits() {
    become_subreaper();
    let (tx, mut rx) = unbounded_channel();
    let (child, grandchild) = start_with_grandchild("sleep 1000 & echo $!", &tx).await;
    assert_eq!(next_exit(&mut rx).await.status, ExitStatus::Code(0));
    assert!(!is_dead(grandchild));
    // The leader is reaped: a plain signal is refused, the remnant kill is not.
    assert_eq!(
        signal(child.pid, Signal::Kill, Scope::Group),
        Ok(Delivery::NotRunning)
    );
    assert!(kill_group_remnants(child.pid));
    wait_until("the orphaned grandchild is reaped", || {
        stat_of(grandchild).is_none()
    })
    .await;
}

#[tokio::test]
async fn signals_go_only_to_live_children() {
    let (tx, mut rx) = unbounded_channel();
    let child = start(&argv(&["sleep", "1000"]), Output::Null, &tx);
    assert_eq!(
        signal(child.pid, Signal::Term, Scope::Process),
        Ok(Delivery::Sent)
    );
    let exit = next_exit(&mut rx).await;
    assert_eq!(exit.status, ExitStatus::Signaled(15));
    for scope in [Scope::Process, Scope::Group] {
        assert_eq!(
            signal(child.pid, Signal::Kill, scope),
            Ok(Delivery::NotRunning)
        );
    }
    // Never kill(0), kill(-1) or init; never a pid that is not ours.
    for pid in [0, -1, 1, std::process::id() as i32] {
        assert_eq!(
            signal(pid, Signal::Kill, Scope::Group),
            Ok(Delivery::NotRunning)
        );
    }
    for pgid in [0, 1, -1] {
        assert!(!kill_group_remnants(pgid));
    }
}

#[tokio::test]
async fn capture_pipes_are_nonblocking_and_cloexec() {
    let (tx, mut rx) = unbounded_channel();
    let child = start(&sh("exit 0"), Output::Capture, &tx);
    for fd in [
        child.stdout.as_ref().unwrap(),
        child.stderr.as_ref().unwrap(),
    ] {
        assert!(fds::is_cloexec(fd));
        let flags = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFL).unwrap();
        assert_ne!(flags & libc::O_NONBLOCK, 0);
    }
    next_exit(&mut rx).await;
    assert!(start_reaper().is_ok());
}

// --- The child's limits, mask and priority (`identity::ChildSetup`).

#[tokio::test]
async fn the_child_gets_its_limits_mask_and_priority_before_exec() {
    use super::identity::{ChildSetup, RawLimit};
    use zinit_core::spec::Resource;
    let (tx, mut rx) = unbounded_channel();
    let env = env();
    let argv = argv(&["sleep", "30"]);
    let req = SpawnRequest {
        argv: &argv,
        env: &env,
        dir: Path::new("/"),
        output: Output::Null,
    };
    // Lowering is allowed without root: the test runs anywhere.
    let setup = ChildSetup {
        limits: vec![RawLimit {
            resource: Resource::Nofile,
            soft: 100,
            hard: 200,
        }],
        nice: Some(19),
        umask: Some(0o027),
        ..ChildSetup::default()
    };
    let child = spawn_with(&req, &setup, &[], &tx).unwrap();
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.pid)).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    assert_eq!(
        line.split_whitespace().collect::<Vec<_>>()[3..5],
        ["100", "200"]
    );
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.pid)).unwrap();
    assert!(status.contains("Umask:\t0027"), "{status}");
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", child.pid)).unwrap();
    let after_comm = &stat[stat.rfind(')').unwrap() + 2..];
    // Field 19 (nice) is the 17th after the command name.
    assert_eq!(after_comm.split(' ').nth(16), Some("19"));
    signal(child.pid, Signal::Kill, Scope::Process).unwrap();
    assert_eq!(next_exit(&mut rx).await.pid, child.pid);
}

#[tokio::test]
async fn a_limit_the_kernel_refuses_is_named_in_the_error() {
    use super::identity::{ChildSetup, RawLimit};
    use zinit_core::spec::Resource;
    let (tx, _rx) = unbounded_channel();
    let env = env();
    let argv = argv(&["true"]);
    let req = SpawnRequest {
        argv: &argv,
        env: &env,
        dir: Path::new("/"),
        output: Output::Null,
    };
    let fine = RawLimit {
        resource: Resource::Core,
        soft: 0,
        hard: 0,
    };
    // soft above hard: EINVAL from setrlimit, for the second limit.
    let refused = RawLimit {
        resource: Resource::Nofile,
        soft: 200,
        hard: 100,
    };
    let setup = ChildSetup {
        limits: vec![fine, refused],
        ..ChildSetup::default()
    };
    let e = spawn_with(&req, &setup, &[], &tx).unwrap_err();
    assert_eq!(
        e,
        SpawnError::Limit {
            key: "limits.nofile".into(),
            value: "200:100".into(),
            errno: Errno::EINVAL
        }
    );
    assert!(
        e.to_string()
            .starts_with("cannot set limits.nofile to 200:100: "),
        "{e}"
    );
}
