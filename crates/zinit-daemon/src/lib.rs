//! zinit's imperative shell around the pure core.
//!
//! The supervisor actor owns all service state (in `zinit_core::supervisor`)
//! and is fed one closed enum of inputs. Everything that touches the world
//! lives here, at the edges: spawning and reaping processes, timers, log
//! pipes, service files on disk, /proc and the control socket.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod actor;
pub mod api;
pub mod config_dir;
pub mod leftovers;
pub mod logs;
pub mod pid1;
pub mod probe_output;
pub mod process;
mod run;
pub mod server;
pub mod service_files;

pub use run::{run, DaemonConfig, Stopped};
pub use server::socket::{bind, BindError, ControlSocket, ControlSockets};
pub use zinit_core::supervisor::ShutdownMode;
