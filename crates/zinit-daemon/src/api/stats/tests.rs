use super::*;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};

fn key(pid: i32, starttime: u64) -> ProcessKey {
    ProcessKey { pid, starttime }
}

fn reading(pid: i32, starttime: u64, ticks: u64) -> Reading {
    Reading {
        key: key(pid, starttime),
        ticks,
    }
}

const HZ: f64 = 100.0;

#[test]
fn first_sight_is_the_lifetime_average() {
    let now = Instant::now();
    // 50 ticks = 0.5 s of CPU over 2 s alive: 25 %.
    let mark = advance(None, 50, now, HZ, || 2.0);
    assert_eq!(mark.percent, 25.0);
    assert_eq!((mark.ticks, mark.at, mark.seen), (50, now, now));
    // Born this very tick: no time to divide by.
    assert_eq!(advance(None, 3, now, HZ, || 0.0).percent, 0.0);
}

#[test]
fn later_samples_use_the_difference() {
    let t0 = Instant::now();
    let first = advance(None, 100, t0, HZ, || 10.0);
    assert_eq!(first.percent, 10.0);
    // 30 more ticks (0.3 s) over 0.5 s: 60 %.
    let t1 = t0 + Duration::from_millis(500);
    let second = advance(Some(first), 130, t1, HZ, || panic!("not a new process"));
    assert_eq!(second.percent, 60.0);
    assert_eq!((second.ticks, second.at), (130, t1));
    // Idle for 2 s: 0 %.
    let t2 = t1 + Duration::from_secs(2);
    let third = advance(Some(second), 130, t2, HZ, || panic!("not a new process"));
    assert_eq!(third.percent, 0.0);
    // Several cores busy: more than 100 %.
    let t3 = t2 + Duration::from_secs(1);
    let fourth = advance(Some(third), 380, t3, HZ, || panic!("not a new process"));
    assert_eq!(fourth.percent, 250.0);
}

#[test]
fn a_too_recent_sample_repeats_the_last_percent() {
    let t0 = Instant::now();
    let first = advance(None, 100, t0, HZ, || 10.0);
    let soon = t0 + MIN_WINDOW - Duration::from_millis(1);
    let again = advance(Some(first), 105, soon, HZ, || panic!("not a new process"));
    assert_eq!(again.percent, first.percent);
    // The window still starts at the older reading...
    assert_eq!((again.ticks, again.at, again.seen), (100, t0, soon));
    // ...so the next one measures from there: 20 ticks over 200 ms.
    let later = t0 + Duration::from_millis(200);
    let next = advance(Some(again), 120, later, HZ, || panic!("not a new process"));
    assert_eq!(next.percent, 100.0);
}

#[test]
fn tracker_tells_a_recycled_pid_from_the_old_process() {
    let tracker = CpuTracker::new();
    let t0 = Instant::now();
    let lifetimes = |starttime: u64| if starttime == 1000 { 100.0 } else { 1.0 };
    let first = tracker.percents(&[reading(42, 1000, 1000)], t0, HZ, lifetimes);
    assert_eq!(first, [10.0]);
    let t1 = t0 + Duration::from_secs(1);
    // Same pid, another start time: a new process, seen for the first
    // time (its own lifetime average), not a delta against the old one.
    let reused = tracker.percents(&[reading(42, 9000, 50)], t1, HZ, lifetimes);
    assert_eq!(reused, [50.0]);
    // The old one, had it survived, still has its own window.
    let old = tracker.percents(&[reading(42, 1000, 1100)], t1, HZ, lifetimes);
    assert_eq!(old, [100.0]);
    assert_eq!(tracker.remembered(), 2);
}

#[test]
fn tracker_forgets_processes_not_seen_for_ten_minutes() {
    let tracker = CpuTracker::new();
    let t0 = Instant::now();
    let one = |_: u64| 1.0;
    tracker.percents(&[reading(1, 1, 0), reading(2, 2, 0)], t0, HZ, one);
    let t1 = t0 + FORGET_AFTER / 2;
    tracker.percents(&[reading(2, 2, 0)], t1, HZ, one);
    assert_eq!(tracker.remembered(), 2);
    let t2 = t0 + FORGET_AFTER + PRUNE_EVERY;
    tracker.percents(&[reading(3, 3, 0)], t2, HZ, one);
    let marks = tracker.inner.lock().unwrap();
    let mut kept: Vec<i32> = marks.by_process.keys().map(|k| k.pid).collect();
    kept.sort_unstable();
    assert_eq!(kept, [2, 3]);
}

fn vm_rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("VmRSS in /proc/self/status");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("VmRSS value");
    kib * 1024
}

#[test]
fn rss_matches_vm_rss() {
    // Touch some memory so the figure is not tiny.
    let block = vec![1u8; 8 << 20];
    let me = std::process::id() as i32;
    let tracker = CpuTracker::new();
    let sample = sample(me, &tracker).expect("own process");
    let expected = vm_rss_bytes();
    let ours = sample.root.rss_bytes as f64;
    let diff = (ours - expected as f64).abs() / expected as f64;
    assert!(diff < 0.05, "stat rss {ours} vs VmRSS {expected}");
    assert_eq!(sample.root.pid, me);
    assert!(sample.root.cpu_seconds >= 0.0);
    assert!(sample.total_rss_bytes >= sample.root.rss_bytes);
    assert_eq!(block.iter().map(|&b| b as usize).sum::<usize>(), 8 << 20);
}

/// A process group killed (and its leader waited for) on drop, so a
/// failing assertion leaves nothing behind.
struct Tree(Child);

impl Drop for Tree {
    fn drop(&mut self) {
        let group = nix::unistd::Pid::from_raw(self.0.id() as i32);
        let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
        // The daemon's reaper, when another test started it, may have
        // reaped it already.
        let _ = self.0.wait();
    }
}

/// `sh` -> `sh` -> `sleep`: a child and a grandchild, with their pids.
fn spawn_tree() -> (Tree, i32, i32) {
    let child = Command::new("sh")
        .args(["-c", "sh -c 'sleep 30 & echo $$ $!; wait' & wait"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("spawn sh");
    let mut tree = Tree(child);
    let stdout = tree.0.stdout.take().expect("piped stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let pids: Vec<i32> = line
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    assert_eq!(pids.len(), 2, "{line:?}");
    (tree, pids[0], pids[1])
}

#[test]
fn finds_children_and_grandchildren() {
    let (tree, inner_sh, sleep) = spawn_tree();
    let root = tree.0.id() as i32;
    let tracker = CpuTracker::new();
    let sample = sample(root, &tracker).expect("tree sampled");
    assert_eq!(sample.root.pid, root);
    let found: Vec<(i32, i32)> = sample.descendants.iter().map(|p| (p.pid, p.ppid)).collect();
    let mut expected = vec![(inner_sh, root), (sleep, inner_sh)];
    expected.sort_unstable();
    assert_eq!(found, expected);
    let sum: u64 = sample.descendants.iter().map(|p| p.rss_bytes).sum();
    assert_eq!(sample.total_rss_bytes, sample.root.rss_bytes + sum);
    assert_eq!(tracker.remembered(), 3);

    // The fallback for kernels without children files agrees.
    let root_stat = crate::process::tree::read_stat(root).expect("root stat");
    let mut scanned: Vec<(i32, i32)> = crate::process::tree::descendants_by_scan(&root_stat)
        .iter()
        .map(|s| (s.pid, s.ppid))
        .collect();
    scanned.sort_unstable();
    assert_eq!(scanned, expected);

    let wire = sample.to_wire("tree");
    assert_eq!(wire.pid, root as u32);
    let children: Vec<u32> = wire.children.iter().map(|c| c.pid).collect();
    assert_eq!(
        children,
        expected.iter().map(|e| e.0 as u32).collect::<Vec<_>>()
    );
    assert_eq!(wire.total_memory_usage, Some(sample.total_rss_bytes));
    drop(tree);
}

#[test]
fn a_gone_process_has_no_sample() {
    let tracker = CpuTracker::new();
    assert!(sample(i32::MAX, &tracker).is_none());
    assert!(sample(-1, &tracker).is_none());
    assert_eq!(tracker.remembered(), 0);
}

#[test]
fn vm_rss_line() {
    let status = b"Name:\tsh\nVmPeak:\t 9 kB\nVmRSS:\t    1924 kB\nRssAnon:\t 1 kB\n";
    assert_eq!(vm_rss_in(status), Some(1924 * 1024));
    assert_eq!(vm_rss_in(b"Name:\tkthreadd\nState:\tS\n"), None);
}

#[test]
fn own_process_metrics() {
    let own = own_process();
    assert!(own.rss_bytes > 0);
    assert!(own.open_fds >= 3, "{own:?}");
    assert!(own.cpu_seconds >= 0.0);
}
