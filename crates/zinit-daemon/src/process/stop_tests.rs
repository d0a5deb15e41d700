//! The one stop path on real processes: a tree reaches a `setsid`
//! escapee, remembers one that ignores the stop signal for the remnants'
//! SIGKILL, and the escalation reports how a child ended.

use super::*;
use crate::process::{spawn, Output, Reaped, SpawnRequest};
use std::path::{Path, PathBuf};
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};

const DEADLINE: Duration = Duration::from_secs(30);

fn start(script: &str, exits: &UnboundedSender<Reaped>) -> i32 {
    let argv: Vec<String> = ["sh", "-c", script].iter().map(|a| a.to_string()).collect();
    let env = vec![("PATH".to_owned(), "/usr/bin:/bin".to_owned())];
    let req = SpawnRequest {
        argv: &argv,
        env: &env,
        dir: Path::new("/"),
        output: Output::Null,
    };
    spawn(&req, exits).expect("spawn").pid
}

/// Poll until `check` gives a value, or panic at the deadline.
fn wait_for<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + DEADLINE;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The pid written to `file` once it is complete.
fn pid_in(file: &Path) -> i32 {
    wait_for("the pid file", || {
        std::fs::read_to_string(file)
            .ok()
            .filter(|t| t.ends_with('\n'))?
            .trim()
            .parse()
            .ok()
    })
}

/// Gone or a zombie.
fn dead(pid: i32) -> bool {
    tree::read_stat(pid).is_none_or(|s| s.state == 'Z')
}

fn temp_file(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}

#[test]
fn a_tree_reaches_a_setsid_escapee_through_a_checked_pidfd() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = temp_file(&dir, "escapee");
    let (tx, _rx) = unbounded_channel();
    let leader = start(
        &format!("setsid sleep 1000 & echo $! > {}; wait", file.display()),
        &tx,
    );
    let escapee = pid_in(&file);
    wait_for("the escapee in its own session", || {
        tree::read_stat(escapee).filter(|s| s.session == escapee)
    });
    let mut target = Target::Tree(Tree::of_child(leader).expect("a running child"));
    assert_eq!(target.signal(Signal::Term).ok(), Some(Delivery::Sent));
    wait_for("the escapee gone", || dead(escapee).then_some(()));
    wait_for("the leader reaped", || target.gone().then_some(()));
}

#[test]
fn a_descendant_that_ignores_the_stop_signal_dies_with_the_remnants() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = temp_file(&dir, "stubborn");
    let (tx, _rx) = unbounded_channel();
    let leader = start(
        &format!(
            "setsid sh -c \"trap '' TERM; echo \\$\\$ > {}; while :; do sleep 0.1; done\" & \
             exec sleep 1000",
            file.display()
        ),
        &tx,
    );
    let stubborn = pid_in(&file);
    let mut target = Target::Tree(Tree::of_child(leader).expect("a running child"));
    assert_eq!(target.signal(Signal::Term).ok(), Some(Delivery::Sent));
    wait_for("the leader reaped", || target.gone().then_some(()));
    assert!(!dead(stubborn), "it ignores SIGTERM");
    // By now it has been reparented away from the leader: only the tree's
    // memory still finds it.
    assert!(target.kill_remnants());
    wait_for("the stubborn escapee gone", || dead(stubborn).then_some(()));
}

#[test]
fn escalation_kills_what_ignores_the_signal_and_reports_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = temp_file(&dir, "trapped");
    let (tx, _rx) = unbounded_channel();
    let polite = start("exec sleep 1000", &tx);
    let stubborn = start(
        &format!(
            "trap '' TERM; echo $$ > {}; while :; do sleep 0.1; done",
            file.display()
        ),
        &tx,
    );
    pid_in(&file);
    let mut stops = [polite, stubborn].map(|pid| Stop {
        target: Target::Child(pid),
        signal: Signal::Term,
        grace: Duration::from_millis(300),
    });
    let mut killing = Vec::new();
    let outcomes = escalate(&mut stops, DEADLINE, |i, step| {
        if let Step::Killing = step {
            killing.push(i);
        }
    });
    assert_eq!(outcomes, vec![Outcome::Stopped, Outcome::Killed]);
    assert_eq!(killing, vec![1]);
}
