//! The process tree below a process, read from /proc: the one walk that
//! stats (`api::stats`) and stops (`stop`) share.
//!
//! Costs O(tree): the descendants are found through
//! `/proc/PID/task/TID/children`, and only when the kernel lacks those
//! files (`CONFIG_PROC_CHILDREN` off) through one scan of every process. A
//! process that exits while it is being read is left out, never an error;
//! a pid whose parent is not the one that listed it (recycled meanwhile)
//! too. The caller's `visit` decides what else a child must satisfy (a
//! stop checks its identity through a pidfd) before the walk descends.
//!
//! Must not: signal or wait; it only reads.

use procfs::process::{all_processes, Process, Stat};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::OnceLock;

/// `/proc/PID/stat`, if the process exists.
pub fn read_stat(pid: i32) -> Option<Stat> {
    if pid <= 0 {
        return None;
    }
    Process::new(pid).ok()?.stat().ok()
}

/// Every process below `root`, sorted by pid.
pub fn descendants(root: &Stat) -> Vec<Stat> {
    let mut found = Vec::new();
    walk(root, |_, child| {
        found.push(child.clone());
        true
    });
    found.sort_by_key(|s| s.pid);
    found
}

/// Visit every process below `root`, parents before their children:
/// `visit(parent, child)` with `child.ppid == parent.pid` as read; it
/// returns whether `child` counts (the walk then descends into it).
pub fn walk(root: &Stat, visit: impl FnMut(&Stat, &Stat) -> bool) {
    if children_files_exist() {
        walk_children_files(root, visit);
    } else {
        walk_scan(root, visit);
    }
}

/// Whether this kernel has `/proc/PID/task/TID/children`, checked once.
fn children_files_exist() -> bool {
    static EXIST: OnceLock<bool> = OnceLock::new();
    *EXIST.get_or_init(|| {
        let me = std::process::id();
        Path::new(&format!("/proc/{me}/task/{me}/children")).exists()
    })
}

/// Walk down from `root` through the children files of every thread.
fn walk_children_files(root: &Stat, mut visit: impl FnMut(&Stat, &Stat) -> bool) {
    let mut visited = HashSet::from([root.pid]);
    let mut parents = vec![root.clone()];
    while let Some(parent) = parents.pop() {
        for child in children_of(parent.pid) {
            if !visited.insert(child) {
                continue;
            }
            // Gone meanwhile, or a recycled pid that is someone else's.
            let Some(stat) = read_stat(child).filter(|s| s.ppid == parent.pid) else {
                continue;
            };
            if visit(&parent, &stat) {
                parents.push(stat);
            }
        }
    }
}

/// The pids in the children files of all threads of `pid` (a child belongs
/// to the thread that forked it); empty if `pid` is gone.
fn children_of(pid: i32) -> Vec<i32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let mut children = Vec::new();
    for task in tasks.flatten() {
        if let Ok(text) = std::fs::read_to_string(task.path().join("children")) {
            children.extend(
                text.split_ascii_whitespace()
                    .filter_map(|p| p.parse::<i32>().ok()),
            );
        }
    }
    children
}

/// One pass over every process in /proc, grouped by parent.
fn walk_scan(root: &Stat, mut visit: impl FnMut(&Stat, &Stat) -> bool) {
    let Ok(all) = all_processes() else {
        return;
    };
    let mut by_parent: HashMap<i32, Vec<Stat>> = HashMap::new();
    for stat in all.flatten().filter_map(|p| p.stat().ok()) {
        by_parent.entry(stat.ppid).or_default().push(stat);
    }
    let mut parents = vec![root.clone()];
    while let Some(parent) = parents.pop() {
        for child in by_parent.remove(&parent.pid).unwrap_or_default() {
            if visit(&parent, &child) {
                parents.push(child);
            }
        }
    }
}

/// [`descendants`] through the fallback scan, for tests comparing both.
#[cfg(test)]
pub fn descendants_by_scan(root: &Stat) -> Vec<Stat> {
    let mut found = Vec::new();
    walk_scan(root, |_, child| {
        found.push(child.clone());
        true
    });
    found.sort_by_key(|s| s.pid);
    found
}
