//! The reliability and security suite: every promise of
//! docs/reliability.md proved through the real binary with faults injected
//! for real (PID namespaces, a private cgroup2 mount, `ns_last_pid`,
//! `strace -e inject=`, `prlimit`, `ip netns`, `setpriv`). Each module
//! covers a group of promises; docs/reliability.md maps every promise to
//! its tests. Tests that need root skip with a message elsewhere and fail
//! under CI, which runs as root.

mod common;

#[path = "reliability/cgroups.rs"]
mod cgroups;
#[path = "reliability/daemon_cgroups.rs"]
mod daemon_cgroups;
#[path = "reliability/files.rs"]
mod files;
#[path = "reliability/interfaces.rs"]
mod interfaces;
#[path = "reliability/limits.rs"]
mod limits;
#[path = "reliability/logs.rs"]
mod logs;
#[path = "reliability/network.rs"]
mod network;
#[path = "reliability/own_output.rs"]
mod own_output;
#[path = "reliability/processes.rs"]
mod processes;
#[path = "reliability/restart_over.rs"]
mod restart_over;
#[path = "reliability/shutdown.rs"]
mod shutdown;
#[path = "reliability/spawn_failures.rs"]
mod spawn_failures;
