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
    ///
    /// Lines print as `[+] NAME: text` (stdout) or `[-] NAME: text`
    /// (stderr); with --json, one JSON object per line with its seq, time,
    /// service, stream and text. Lines a slow reader missed are counted in
    /// a `zinit: N log lines missed` line.
    Log {
        /// Print what is buffered and exit instead of following.
        #[arg(short, long)]
        snapshot: bool,
        /// Only the last N lines (of those kept), then follow.
        #[arg(short = 'n', long = "lines", value_name = "N")]
        lines: Option<u64>,
        /// Only lines since a time: RFC 3339 (`2026-11-24T10:00:00Z`) or a
        /// duration back from now (`90s`, `10m`, `2h`).
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// Only lines after this sequence number (resume where a previous
        /// `--json` reader stopped).
        #[arg(long, value_name = "SEQ")]
        after: Option<u64>,
        /// Prefix each line with the time zinit read it (RFC 3339, UTC).
        #[arg(short, long)]
        timestamps: bool,
        /// Only lines of this service.
        name: Option<String>,
    },
    /// Explain in words why a service is in its state: what blocks it,
    /// how it last exited, when it is retried, its last test result.
    Why {
        /// Service name.
        name: String,
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

    /// Lines kept in the log ring buffer (at most 16 MiB of them, whatever
    /// the count).
    // Negative numbers are taken as a value, so `-b -1` is refused naming
    // the flag rather than as an unknown option.
    #[arg(
        short = 'b',
        long = "buffer",
        default_value_t = 2000,
        allow_negative_numbers = true
    )]
    pub buffer: usize,

    /// Container mode: signals stop every service and exit, never power off.
    #[arg(long)]
    pub container: bool,

    /// Variables merged into every service's environment.
    #[arg(long, default_value = "/etc/environment")]
    pub env_file: PathBuf,

    /// Directory for the log files of services with `log_file` (created
    /// when first needed).
    #[arg(long, default_value = "/var/log/zinit")]
    pub log_dir: PathBuf,

    /// cgroup v2 containment: `auto` (a writable cgroup2 hierarchy zinit
    /// is in, found in /proc/self/mountinfo: zinit's own cgroup when PID 1,
    /// a `zinit-HASH` directory of this instance in it otherwise), `off`,
    /// or a cgroup2 directory (created if its parent is one). Each service
    /// runs in `BASE/NAME.service`, so a stop reaches processes that left
    /// its process group (setsid, double forks). Any failure falls back to
    /// process groups with a warning.
    #[arg(long, value_name = "auto|off|DIR", default_value = "auto")]
    pub cgroup: String,

    /// Let this group (name or number) use the control socket too: the
    /// socket becomes 0660 and owned by it, and each connection's
    /// credentials are checked (root, zinit's user or a member). Without
    /// it the socket is 0600.
    #[arg(long, value_name = "GROUP")]
    pub socket_group: Option<String>,

    /// Also serve the control socket at PATH (repeatable), for clients
    /// that look for it elsewhere: upstream zinit 0.2.15 and later default
    /// to /tmp/zinit.sock, zinit 0.3 to /run/zinit.sock. Same protocols,
    /// mode and peer checks as the -s socket; never added by default.
    #[arg(long, value_name = "PATH")]
    pub also_socket: Vec<PathBuf>,
}
