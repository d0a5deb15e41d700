//! zinit's functional core.
//!
//! Everything here is pure: no I/O, no clock, no threads, no tokio. Time is
//! passed in by the caller, processes are named by the pids the caller
//! reports, files arrive as text. That is what lets the whole supervision
//! policy be unit-tested in microseconds.
//!
//! - [`name`]: validated service names.
//! - [`signal`]: the signal enum used in specs and commands.
//! - [`spec`]: the typed, validated service specification.
//! - [`config`]: service files (YAML text) lowered into specs, with diagnostics.
//! - [`envfile`]: `/etc/environment` parsing.
//! - [`graph`]: dependency graph queries (cycles, blockers, stop order).
//! - [`backoff`]: restart delay policy.
//! - [`supervisor`]: the state machine: `handle(now, input) -> effects`,
//!   its snapshot, and `why` (a service's state explained in words).
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod backoff;
pub mod config;
pub mod envfile;
pub mod exit;
pub mod graph;
pub mod name;
pub mod signal;
pub mod spec;
pub mod supervisor;
