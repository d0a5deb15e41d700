//! The command line, as clap types. Raw arguments only: validation of
//! names and signals happens in the daemon, the one place that decides.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// zinit: a process supervisor and PID 1.
///
/// Every command but `init` talks to a running zinit over its control
/// socket. Exit status: 0 success, 1 refused or failed, 2 usage error,
/// 3 zinit not reachable on the socket.
#[derive(Debug, Parser)]
#[command(name = "zinit", version, propagate_version = true)]
pub struct Args {
    /// Path of the control socket (before the command: `zinit -s PATH list`).
    #[arg(
        short,
        long,
        env = "ZINIT_SOCKET",
        default_value = "/var/run/zinit.sock"
    )]
    pub socket: PathBuf,

    /// Debug logging (for `init`; `ZINIT_LOG` overrides it).
    #[arg(short, long)]
    pub debug: bool,

    /// Print results as JSON instead of YAML (for scripts).
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the supervisor (as PID 1, in a container, or as a daemon).
    Init(InitArgs),
    /// List every service and its state.
    List,
    /// Show one service's state, target, pid and dependencies.
    Status {
        /// Service name.
        name: String,
    },
    /// Set a service's target to Up and start it.
    Start {
        /// Service name.
        name: String,
    },
    /// Set a service's target to Down and send it its stop signal.
    Stop {
        /// Service name.
        name: String,
    },
    /// Stop a service, wait until it is gone, and start it again.
    Restart {
        /// Service name.
        name: String,
    },
    /// Load <name>.yaml from the config directory and supervise it.
    Monitor {
        /// Service name (the file name without `.yaml`).
        name: String,
    },
    /// Stop supervising a stopped service.
    Forget {
        /// Service name.
        name: String,
    },
    /// Send a signal to a service's main process.
    Kill {
        /// Service name.
        name: String,
        /// Signal name (SIGTERM, sigterm, TERM) or number.
        #[arg(default_value = "SIGTERM")]
        signal: String,
    },
    /// Show log lines; follows new ones until interrupted.
    Log {
        /// Print what is buffered and exit instead of following.
        #[arg(short, long)]
        snapshot: bool,
        /// Only lines of this service.
        name: Option<String>,
    },
    /// Memory and CPU of a service and its children.
    Stats {
        /// Service name.
        name: String,
    },
    /// Stop every service in reverse dependency order and power off
    /// (or, when zinit is not PID 1, exit).
    Shutdown,
    /// Stop every service in reverse dependency order and reboot
    /// (or, when zinit is not PID 1, exit).
    Reboot,
    /// Serve the JSON-RPC API over HTTP and WebSocket, forwarding to the
    /// control socket (loopback only unless a token is given).
    Proxy(zinit_http::cli::ProxyArgs),
}

#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// Directory of service files (<name>.yaml).
    #[arg(short, long, default_value = "/etc/zinit/")]
    pub config: PathBuf,

    /// Lines kept in the log ring buffer.
    #[arg(short = 'b', long = "buffer", default_value_t = 2000)]
    pub buffer: usize,

    /// Container mode: signals stop every service and exit, never power off.
    #[arg(long)]
    pub container: bool,

    /// Variables merged into every service's environment.
    #[arg(long, default_value = "/etc/environment")]
    pub env_file: PathBuf,
}
