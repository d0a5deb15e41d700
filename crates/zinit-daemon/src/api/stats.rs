//! Resource usage of a service's process tree, read from /proc.
//!
//! Runs on a blocking thread, never in the actor. CPU is the average over
//! each process's lifetime (CPU time / wall time since it started), which
//! needs one read and no sleeping.

use procfs::process::{all_processes, Process, Stat};
use procfs::Current;
use std::collections::HashMap;
use zinit_proto::wire::{ChildStats, ServiceStats};

/// Sample `pid` and all its descendants; `None` if `pid` is gone.
pub fn sample(name: &str, pid: i32) -> Option<ServiceStats> {
    let root = Process::new(pid).ok()?.stat().ok()?;
    let clock = Clock::now();
    let children = descendants(pid)
        .into_iter()
        .map(|stat| ChildStats {
            pid: u32::try_from(stat.pid).unwrap_or(0),
            memory_usage: rss_bytes(&stat),
            cpu_usage: clock.cpu_percent(&stat),
        })
        .collect();
    Some(ServiceStats {
        name: name.to_owned(),
        pid: u32::try_from(pid).unwrap_or(0),
        memory_usage: rss_bytes(&root),
        cpu_usage: clock.cpu_percent(&root),
        children,
    })
}

fn rss_bytes(stat: &Stat) -> u64 {
    stat.rss.saturating_mul(procfs::page_size())
}

/// Every process below `root`, found with one pass over /proc.
fn descendants(root: i32) -> Vec<Stat> {
    let Ok(all) = all_processes() else {
        return Vec::new();
    };
    let mut by_parent: HashMap<i32, Vec<Stat>> = HashMap::new();
    for stat in all.flatten().filter_map(|p| p.stat().ok()) {
        by_parent.entry(stat.ppid).or_default().push(stat);
    }
    let mut found = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for child in by_parent.remove(&parent).unwrap_or_default() {
            frontier.push(child.pid);
            found.push(child);
        }
    }
    found.sort_by_key(|s| s.pid);
    found
}

struct Clock {
    ticks_per_second: f64,
    uptime_seconds: f64,
}

impl Clock {
    fn now() -> Clock {
        Clock {
            ticks_per_second: procfs::ticks_per_second() as f64,
            uptime_seconds: procfs::Uptime::current().map_or(0.0, |u| u.uptime),
        }
    }

    fn cpu_percent(&self, stat: &Stat) -> f64 {
        let cpu_seconds = (stat.utime + stat.stime) as f64 / self.ticks_per_second;
        let started = stat.starttime as f64 / self.ticks_per_second;
        let alive = self.uptime_seconds - started;
        if alive <= 0.0 {
            return 0.0;
        }
        (cpu_seconds / alive * 100.0 * 100.0).round() / 100.0
    }
}
