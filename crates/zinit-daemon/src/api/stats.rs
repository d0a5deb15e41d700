//! Resource usage of a service's process tree, read from /proc in one
//! pass that never sleeps (`service_stats`, `system_metrics`).
//!
//! Runs on a blocking thread, never in the actor. Costs O(tree): the
//! descendants come from `process::tree`, the walk stops use too.
//!
//! RSS is `VmRSS` of `/proc/PID/status`, what `ps`, `top` and operators
//! read: since Linux 6.2 the `rss` of `/proc/PID/stat` (and `statm`) is a
//! per-CPU approximation that can be off by several percent for a small
//! process; it is only the fallback when `VmRSS` cannot be read. CPU percent comes from the difference to the previous
//! sample of the same process in the shared [`CpuTracker`], when that one
//! is at least [`MIN_WINDOW`] old; a younger one gives its percent again
//! (no sleeping to make a window); a process seen for the first time gets
//! its average over its lifetime.
//!
//! Must not: sleep, or take the tracker's lock while reading /proc.

use crate::process::tree;
use procfs::process::Stat;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};
use zinit_proto::wire::{ChildStats, ProcessMetrics, ServiceStats};

/// The shortest interval over which a CPU percent is computed from two
/// samples; a sample newer than this repeats the last percent.
pub const MIN_WINDOW: Duration = Duration::from_millis(100);
/// A process not sampled for this long is forgotten by the tracker.
pub const FORGET_AFTER: Duration = Duration::from_secs(600);
/// How often at most the tracker looks for entries to forget.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// One process of a sampled tree.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcSample {
    pub pid: i32,
    /// Its parent (for the root, whoever that is: zinit, normally).
    pub ppid: i32,
    /// Resident memory, in bytes.
    pub rss_bytes: u64,
    /// Percent of one core (see the module documentation for the window).
    pub cpu_percent: f64,
    /// User + system CPU time so far, in seconds.
    pub cpu_seconds: f64,
}

/// A service's main process and all its descendants, sampled at once.
#[derive(Debug, Clone, PartialEq)]
pub struct TreeSample {
    pub root: ProcSample,
    /// Every process below the root, by pid.
    pub descendants: Vec<ProcSample>,
    /// Sums over the root and every descendant.
    pub total_rss_bytes: u64,
    pub total_cpu_percent: f64,
    pub total_cpu_seconds: f64,
}

impl TreeSample {
    /// The `service_stats` result for service `name`: the original fields
    /// and the tree totals. What the supervisor knows (restarts, the
    /// current run's start, the last exit) is the caller's to fill.
    pub fn to_wire(&self, name: &str) -> ServiceStats {
        ServiceStats {
            name: name.to_owned(),
            pid: wire_pid(self.root.pid),
            memory_usage: self.root.rss_bytes,
            cpu_usage: self.root.cpu_percent,
            children: self
                .descendants
                .iter()
                .map(|p| ChildStats {
                    pid: wire_pid(p.pid),
                    memory_usage: p.rss_bytes,
                    cpu_usage: p.cpu_percent,
                    cpu_seconds: Some(round2(p.cpu_seconds)),
                })
                .collect(),
            total_memory_usage: Some(self.total_rss_bytes),
            total_cpu_usage: Some(self.total_cpu_percent),
            cpu_seconds: Some(round2(self.total_cpu_seconds)),
            ..ServiceStats::default()
        }
    }
}

fn wire_pid(pid: i32) -> u32 {
    u32::try_from(pid).unwrap_or(0)
}

/// The previous CPU reading of every recently sampled process, shared by
/// the whole daemon (one per daemon, in an `Arc`). Bounded: a process not
/// sampled for [`FORGET_AFTER`] is dropped.
#[derive(Debug, Default)]
pub struct CpuTracker {
    inner: Mutex<Marks>,
}

#[derive(Debug, Default)]
struct Marks {
    by_process: HashMap<ProcessKey, CpuMark>,
    last_prune: Option<Instant>,
}

/// A process, told apart from a later one with the same pid by its start
/// time (in clock ticks since boot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct ProcessKey {
    pid: i32,
    starttime: u64,
}

/// One process's CPU time (user + system, in ticks) as just read.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Reading {
    key: ProcessKey,
    ticks: u64,
}

impl Reading {
    fn of(stat: &Stat) -> Reading {
        Reading {
            key: ProcessKey {
                pid: stat.pid,
                starttime: stat.starttime,
            },
            ticks: stat.utime.saturating_add(stat.stime),
        }
    }
}

/// What the tracker remembers of one process.
#[derive(Debug, Clone, Copy, PartialEq)]
struct CpuMark {
    /// CPU time in ticks at `at`, the start of the next window.
    ticks: u64,
    at: Instant,
    /// The percent computed last.
    percent: f64,
    /// When it was last sampled (for forgetting).
    seen: Instant,
}

impl CpuTracker {
    pub fn new() -> CpuTracker {
        CpuTracker::default()
    }

    /// Percent for each of `readings`, updating the marks; one lock.
    /// `lifetime_seconds(starttime)` is asked only for new processes.
    fn percents(
        &self,
        readings: &[Reading],
        now: Instant,
        ticks_per_second: f64,
        lifetime_seconds: impl Fn(u64) -> f64,
    ) -> Vec<f64> {
        let mut marks = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let percents = readings
            .iter()
            .map(|reading| {
                let previous = marks.by_process.get(&reading.key).copied();
                let lifetime = || lifetime_seconds(reading.key.starttime);
                let mark = advance(previous, reading.ticks, now, ticks_per_second, lifetime);
                marks.by_process.insert(reading.key, mark);
                mark.percent
            })
            .collect();
        marks.prune(now);
        percents
    }

    #[cfg(test)]
    fn remembered(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .by_process
            .len()
    }
}

impl Marks {
    fn prune(&mut self, now: Instant) {
        if self
            .last_prune
            .is_some_and(|at| now.saturating_duration_since(at) < PRUNE_EVERY)
        {
            return;
        }
        self.last_prune = Some(now);
        self.by_process
            .retain(|_, mark| now.saturating_duration_since(mark.seen) < FORGET_AFTER);
    }
}

/// The next mark of a process whose CPU time is `ticks` at `now`, given
/// its previous mark. Pure: the CPU delta logic, with `lifetime_seconds`
/// asked only for a process seen for the first time.
fn advance(
    previous: Option<CpuMark>,
    ticks: u64,
    now: Instant,
    ticks_per_second: f64,
    lifetime_seconds: impl FnOnce() -> f64,
) -> CpuMark {
    let fresh = |percent| CpuMark {
        ticks,
        at: now,
        percent,
        seen: now,
    };
    match previous {
        None => fresh(percent(ticks, lifetime_seconds(), ticks_per_second)),
        Some(mark) => {
            let window = now.saturating_duration_since(mark.at);
            if window >= MIN_WINDOW {
                let used = ticks.saturating_sub(mark.ticks);
                fresh(percent(used, window.as_secs_f64(), ticks_per_second))
            } else {
                CpuMark { seen: now, ..mark }
            }
        }
    }
}

/// `ticks` of CPU over `seconds` of wall time, in percent of one core,
/// rounded to hundredths.
fn percent(ticks: u64, seconds: f64, ticks_per_second: f64) -> f64 {
    if seconds <= 0.0 || ticks_per_second <= 0.0 {
        return 0.0;
    }
    round2(ticks as f64 / ticks_per_second / seconds * 100.0)
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Tick rate and, read at most once per sample, the time since boot.
struct Clock {
    ticks_per_second: f64,
    uptime: OnceLock<f64>,
}

impl Clock {
    fn new() -> Clock {
        Clock {
            ticks_per_second: procfs::ticks_per_second() as f64,
            uptime: OnceLock::new(),
        }
    }

    fn lifetime_seconds(&self, starttime: u64) -> f64 {
        let uptime = *self.uptime.get_or_init(|| {
            use procfs::Current;
            procfs::Uptime::current().map_or(0.0, |u| u.uptime)
        });
        uptime - starttime as f64 / self.ticks_per_second
    }

    fn cpu_seconds(&self, stat: &Stat) -> f64 {
        stat.utime.saturating_add(stat.stime) as f64 / self.ticks_per_second
    }
}

/// Sample `pid` and all its descendants; `None` if `pid` is gone.
pub fn sample(pid: i32, tracker: &CpuTracker) -> Option<TreeSample> {
    let root = read_stat(pid)?;
    let below = tree::descendants(&root);
    let mut stats = vec![root];
    stats.extend(below);
    let now = Instant::now();
    let clock = Clock::new();
    let readings: Vec<Reading> = stats.iter().map(Reading::of).collect();
    let percents = tracker.percents(&readings, now, clock.ticks_per_second, |started| {
        clock.lifetime_seconds(started)
    });
    let mut samples = stats
        .iter()
        .zip(percents)
        .map(|(stat, cpu_percent)| ProcSample {
            pid: stat.pid,
            ppid: stat.ppid,
            rss_bytes: rss_bytes(stat),
            cpu_percent,
            cpu_seconds: clock.cpu_seconds(stat),
        });
    let root = samples.next()?;
    let descendants: Vec<ProcSample> = samples.collect();
    let everyone = || std::iter::once(&root).chain(&descendants);
    Some(TreeSample {
        total_rss_bytes: everyone().map(|p| p.rss_bytes).sum(),
        total_cpu_percent: round2(everyone().map(|p| p.cpu_percent).sum()),
        total_cpu_seconds: everyone().map(|p| p.cpu_seconds).sum(),
        root,
        descendants,
    })
}

/// The daemon's own process, for `system_metrics`.
pub fn own_process() -> ProcessMetrics {
    let clock = Clock::new();
    let stat = read_stat(std::process::id() as i32);
    ProcessMetrics {
        rss_bytes: stat.as_ref().map_or(0, rss_bytes),
        cpu_seconds: stat.as_ref().map_or(0.0, |s| clock.cpu_seconds(s)),
        // Less the descriptor the listing itself holds.
        open_fds: std::fs::read_dir("/proc/self/fd")
            .map_or(0, |dir| dir.count().saturating_sub(1) as u64),
    }
}

/// Resident memory of the process `stat` describes: `VmRSS`, or `rss`
/// times the page size when that cannot be read.
fn rss_bytes(stat: &Stat) -> u64 {
    vm_rss_bytes(stat.pid).unwrap_or_else(|| stat.rss.saturating_mul(procfs::page_size()))
}

/// `VmRSS` of `/proc/PID/status` in bytes; `None` if the process is gone
/// or has no memory of its own (a zombie, a kernel thread).
fn vm_rss_bytes(pid: i32) -> Option<u64> {
    let status = std::fs::read(format!("/proc/{pid}/status")).ok()?;
    vm_rss_in(&status)
}

/// The `VmRSS:   1234 kB` line of a status file, in bytes.
fn vm_rss_in(status: &[u8]) -> Option<u64> {
    let line = status
        .split(|&b| b == b'\n')
        .find_map(|line| line.strip_prefix(b"VmRSS:"))?;
    let text = std::str::from_utf8(line).ok()?.trim();
    let kib: u64 = text.strip_suffix("kB")?.trim().parse().ok()?;
    Some(kib.saturating_mul(1024))
}

fn read_stat(pid: i32) -> Option<Stat> {
    tree::read_stat(pid)
}

#[cfg(test)]
mod tests;
