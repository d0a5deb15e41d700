//! The typed service specification: what a service file means once it has
//! been parsed and checked. Nothing here is re-parsed later.

use crate::name::ServiceName;
use crate::signal::Signal;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Default `shutdown_timeout`: time between the stop signal and SIGKILL.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// A command line, split shell-style once at load time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandLine {
    /// The text as written in the service file.
    pub raw: String,
    /// `argv`; never empty.
    pub argv: Vec<String>,
}

impl CommandLine {
    /// Split `raw` shell-style (quotes respected, no expansion).
    pub fn parse(raw: &str) -> Result<CommandLine, CommandLineError> {
        let argv = shlex::split(raw).ok_or(CommandLineError::Unbalanced)?;
        if argv.is_empty() {
            return Err(CommandLineError::Empty);
        }
        if argv.iter().any(|a| a.contains('\0')) {
            return Err(CommandLineError::Nul);
        }
        Ok(CommandLine {
            raw: raw.to_owned(),
            argv,
        })
    }

    /// The program to run (`argv[0]`).
    pub fn program(&self) -> &str {
        &self.argv[0]
    }
}

/// Why a command line cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommandLineError {
    Empty,
    Unbalanced,
    Nul,
}

impl std::fmt::Display for CommandLineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CommandLineError::Empty => write!(f, "command is empty"),
            CommandLineError::Unbalanced => write!(f, "unbalanced quotes or trailing backslash"),
            CommandLineError::Nul => write!(f, "command contains a NUL byte"),
        }
    }
}

/// Where a service's stdout and stderr go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LogMode {
    /// Captured into zinit's in-memory ring buffer.
    #[default]
    Ring,
    /// Inherit zinit's own stdout/stderr.
    Stdout,
    /// Discarded (`null` or `none`).
    Null,
}

/// `log_file` default: rotate once the current file reaches 10 MiB.
pub const DEFAULT_LOG_FILE_MAX_SIZE: u64 = 10 * 1024 * 1024;
/// `log_file` default: keep 5 rotated files next to the current one.
pub const DEFAULT_LOG_FILE_KEEP: u32 = 5;
/// Smallest `log_file.max_size`: 128 KiB (smaller files would rotate on
/// almost every burst of output).
pub const MIN_LOG_FILE_MAX_SIZE: u64 = 128 * 1024;
/// Largest `log_file.max_size`: 1 TiB.
pub const MAX_LOG_FILE_MAX_SIZE: u64 = 1024 * 1024 * 1024 * 1024;
/// Largest `log_file.keep`.
pub const MAX_LOG_FILE_KEEP: u32 = 100;

/// A service's output also written to `<log dir>/<name>.log`, rotated by
/// size. Disk use is bounded by `max_size * (keep + 1)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogFileSpec {
    /// The current file is rotated once it reaches this many bytes.
    pub max_size: u64,
    /// Rotated (older) files kept besides the current one; 0 keeps only
    /// the current file.
    pub keep: u32,
}

impl Default for LogFileSpec {
    fn default() -> Self {
        LogFileSpec {
            max_size: DEFAULT_LOG_FILE_MAX_SIZE,
            keep: DEFAULT_LOG_FILE_KEEP,
        }
    }
}

impl LogFileSpec {
    /// The most disk the files of one service can take.
    pub fn disk_bound(&self) -> u64 {
        self.max_size.saturating_mul(u64::from(self.keep) + 1)
    }
}

/// Which ends of a run zinit answers with a restart (`restart:` or
/// `restart.policy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestartWhen {
    /// After every end that zinit did not ask for: zinit 0.2's behaviour
    /// and the default of long-running services.
    Always,
    /// After a non-zero exit, a signal or a failed spawn; an exit 0 leaves
    /// the service down in `Success`.
    OnFailure,
    /// One run; the state shows how it ended. The default of oneshots.
    Never,
}

impl RestartWhen {
    /// Every policy, for messages.
    pub const ALL: [RestartWhen; 3] = [
        RestartWhen::Always,
        RestartWhen::OnFailure,
        RestartWhen::Never,
    ];

    /// As written in a service file.
    pub fn name(self) -> &'static str {
        match self {
            RestartWhen::Always => "always",
            RestartWhen::OnFailure => "on-failure",
            RestartWhen::Never => "never",
        }
    }

    /// A name from a service file (`on_failure` is accepted too).
    pub fn parse(text: &str) -> Option<RestartWhen> {
        match text {
            "always" => Some(RestartWhen::Always),
            "on-failure" | "on_failure" => Some(RestartWhen::OnFailure),
            "never" => Some(RestartWhen::Never),
            _ => None,
        }
    }

    /// Whether a run that ended this way (`succeeded`: exit 0) is
    /// restarted.
    pub fn restarts(self, succeeded: bool) -> bool {
        match self {
            RestartWhen::Always => true,
            RestartWhen::OnFailure => !succeeded,
            RestartWhen::Never => false,
        }
    }
}

/// The crash-loop limit: at most `max_restarts` automatic restarts within
/// any `window`; the next end in that window makes zinit give up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RestartLimit {
    pub max_restarts: u32,
    pub window: Duration,
}

/// `restart.window` when `restart.max_restarts` is given alone (systemd's
/// and dinit's default interval).
pub const DEFAULT_RESTART_WINDOW: Duration = Duration::from_secs(10);

/// When and how fast a service that ended is restarted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RestartPolicy {
    /// Which ends are restarted at all, as the file says; `None`: the
    /// default, which depends on `oneshot` (see [`ServiceSpec::restart_when`]).
    pub when: Option<RestartWhen>,
    /// The crash-loop limit; `None`: restart forever, as zinit 0.2 does.
    pub limit: Option<RestartLimit>,
    /// Delay after the first quick failure; doubled on each further one.
    pub initial_delay: Duration,
    /// Upper bound of the delay.
    pub max_delay: Duration,
    /// A run that stayed up this long counts as stable: it is restarted at
    /// once and the delay starts over.
    pub stable_after: Duration,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        RestartPolicy {
            when: None,
            limit: None,
            initial_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(30),
            stable_after: Duration::from_secs(1),
        }
    }
}

/// What zinit does when a service ends for good (`failure_action`,
/// `success_action`, systemd's names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum EndAction {
    /// Nothing: the other services go on.
    #[default]
    None,
    /// Stop every service in order; then a machine powers off, a container
    /// or daemon exits with the service's exit status.
    Shutdown,
    /// As `shutdown` (zinit never powers off unless PID 1 of a machine).
    Poweroff,
    /// Stop every service in order; then a machine reboots, a container or
    /// daemon exits with the service's exit status.
    Reboot,
}

impl EndAction {
    pub const ALL: [EndAction; 4] = [
        EndAction::None,
        EndAction::Shutdown,
        EndAction::Poweroff,
        EndAction::Reboot,
    ];

    /// As written in a service file.
    pub fn name(self) -> &'static str {
        match self {
            EndAction::None => "none",
            EndAction::Shutdown => "shutdown",
            EndAction::Poweroff => "poweroff",
            EndAction::Reboot => "reboot",
        }
    }

    pub fn parse(text: &str) -> Option<EndAction> {
        EndAction::ALL.into_iter().find(|a| a.name() == text)
    }
}

/// How the `test` command is run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbePolicy {
    /// Pause between a failed test run and the next one.
    pub interval: Duration,
    /// A test run still going after this long is killed and counts as failed.
    pub timeout: Duration,
}

impl Default for ProbePolicy {
    fn default() -> Self {
        ProbePolicy {
            interval: Duration::from_millis(250),
            timeout: Duration::from_secs(5),
        }
    }
}

/// The CPU bandwidth period zinit writes with a `resources.cpu` quota
/// (`cpu.max` on cgroup v2, `cpu.cfs_period_us` on v1): 100 ms, the
/// kernel's and systemd's default.
pub const CPU_PERIOD_MICROS: u64 = 100_000;

/// A CPU bandwidth limit in millionths of a core: `0.5` is 500 000, `2`
/// (two whole cores) is 2 000 000.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuQuota(pub u64);

impl CpuQuota {
    /// Smallest quota: 1 % of a core (1 ms per 100 ms period, the kernel's
    /// smallest `cfs_quota_us`).
    pub const MIN: CpuQuota = CpuQuota(10_000);
    /// Largest quota: 4096 cores.
    pub const MAX: CpuQuota = CpuQuota(4096 * 1_000_000);

    /// Microseconds of CPU per [`CPU_PERIOD_MICROS`].
    pub fn quota_micros(self) -> u64 {
        self.0 * CPU_PERIOD_MICROS / 1_000_000
    }

    /// Cores, as written in a service file.
    pub fn cores(self) -> f64 {
        self.0 as f64 / 1_000_000.0
    }
}

/// `cpu_weight` and `io_weight` bounds (cgroup v2's, as systemd's
/// `CPUWeight=`/`IOWeight=`); 100 is the kernel's default.
pub const MIN_WEIGHT: u32 = 1;
pub const MAX_WEIGHT: u32 = 10_000;

/// cgroup resource limits of a service (`resources:`). `None` leaves the
/// kernel's default (no limit, weight 100). Applied to the service's
/// cgroup before each run; where zinit runs without cgroups they have no
/// effect (a warning says so).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Resources {
    /// Hard memory limit in bytes: above it the OOM killer acts.
    pub memory_max: Option<u64>,
    /// Memory throttling threshold in bytes (cgroup v2 only).
    pub memory_high: Option<u64>,
    /// Swap limit in bytes (0: no swap).
    pub memory_swap_max: Option<u64>,
    pub cpu: Option<CpuQuota>,
    pub cpu_weight: Option<u32>,
    /// Most tasks (processes and threads) at once.
    pub pids_max: Option<u64>,
    pub io_weight: Option<u32>,
}

impl Resources {
    /// Whether any limit is set.
    pub fn any(&self) -> bool {
        *self != Resources::default()
    }
}

/// A service as configured (the *spec*), validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceSpec {
    pub exec: CommandLine,
    pub test: Option<CommandLine>,
    pub oneshot: bool,
    pub shutdown_timeout: Duration,
    /// Start after these are Running (or Success, for oneshots).
    pub after: Vec<ServiceName>,
    /// Ordered like `after`, and bound: stopped when one of them stops or
    /// fails for good, started again with it; starting this starts them.
    pub requires: Vec<ServiceName>,
    /// Ordering only, while the wanted service exists and is starting.
    pub wants: Vec<ServiceName>,
    /// Starting this stops these, and starting them stops this.
    pub conflicts: Vec<ServiceName>,
    pub stop_signal: Signal,
    pub log: LogMode,
    /// Also write the output to a rotated file (only with `log: ring`).
    pub log_file: Option<LogFileSpec>,
    /// Variables from the file's `env` map (the daemon adds
    /// `/etc/environment` and its own environment below these).
    pub env: BTreeMap<String, String>,
    /// Working directory; `/` when not set.
    pub dir: PathBuf,
    pub restart: RestartPolicy,
    pub probe: ProbePolicy,
    /// When it ends for good without succeeding (its policy does not
    /// restart the end, or zinit gave up).
    pub failure_action: EndAction,
    /// When it exits 0 and its policy does not restart it.
    pub success_action: EndAction,
    /// Start it as soon as it is loaded (`true`, as zinit 0.2 does), or
    /// load it Down until an operator starts it.
    pub autostart: bool,
    /// cgroup limits (`resources:`).
    pub resources: Resources,
    // --- The process environment of a run (issue #15): identity, extra
    // environment files, umask, priority, OOM score and resource limits.
    // Applied to the main process and to the `test` command alike.
    /// Run as this user (`user`); `None`: zinit's own.
    pub user: Option<Account>,
    /// Run with this primary group (`group`); `None`: the user's primary
    /// group with `user`, zinit's own without.
    pub group: Option<Account>,
    /// `KEY=VALUE` files read at each start, after `/etc/environment` and
    /// before `env`, in order (`env_file`).
    pub env_file: Vec<EnvFile>,
    /// The file mode creation mask (`umask`); `None`: zinit's own.
    pub umask: Option<u32>,
    /// Scheduling niceness, -20..=19 (`nice`); `None`: zinit's own.
    pub nice: Option<i32>,
    /// `/proc/PID/oom_score_adj`, -1000..=1000; `None`: inherited.
    pub oom_score_adj: Option<i32>,
    /// Resource limits (`limits`); those not listed are inherited.
    pub limits: BTreeMap<Resource, ResourceLimit>,
}

impl ServiceSpec {
    /// Which ends of a run are restarted: the file's policy, else `always`
    /// for a long-running service and `never` for a oneshot.
    pub fn restart_when(&self) -> RestartWhen {
        match self.restart.when {
            Some(when) => when,
            None if self.oneshot => RestartWhen::Never,
            None => RestartWhen::Always,
        }
    }

    /// The services this one may only start after, and that stop after it
    /// in a shutdown: `after` and `requires`.
    pub fn hard_deps(&self) -> Vec<ServiceName> {
        let mut deps = self.after.clone();
        deps.extend(
            self.requires
                .iter()
                .filter(|r| !self.after.contains(r))
                .cloned(),
        );
        deps
    }

    /// Every service this one is ordered after (`after`, `requires`,
    /// `wants`): the edges a dependency cycle can run through.
    pub fn ordering_deps(&self) -> Vec<ServiceName> {
        let mut deps = self.hard_deps();
        deps.extend(
            self.wants
                .iter()
                .filter(|w| !deps.contains(w))
                .cloned()
                .collect::<Vec<_>>(),
        );
        deps
    }

    /// A spec with every optional key at its default; handy in tests.
    pub fn from_exec(exec: CommandLine) -> ServiceSpec {
        ServiceSpec {
            exec,
            test: None,
            oneshot: false,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            after: Vec::new(),
            requires: Vec::new(),
            wants: Vec::new(),
            conflicts: Vec::new(),
            stop_signal: Signal::Term,
            log: LogMode::Ring,
            log_file: None,
            env: BTreeMap::new(),
            dir: PathBuf::from("/"),
            restart: RestartPolicy::default(),
            probe: ProbePolicy::default(),
            failure_action: EndAction::None,
            success_action: EndAction::None,
            autostart: true,
            resources: Resources::default(),
            user: None,
            group: None,
            env_file: Vec::new(),
            umask: None,
            nice: None,
            oom_score_adj: None,
            limits: BTreeMap::new(),
        }
    }
}

/// A user or a group as a service file names it. Names are looked up by
/// the daemon when it starts a run, never by the core.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Account {
    Name(String),
    /// A numeric id, below `u32::MAX` (which means "no id" to the kernel).
    Id(u32),
}

impl std::fmt::Display for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Account::Name(name) => write!(f, "{name}"),
            Account::Id(id) => write!(f, "{id}"),
        }
    }
}

/// One `env_file` entry: an absolute path, optional when written with a
/// leading `-` (as systemd's `EnvironmentFile=-/path`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvFile {
    pub path: PathBuf,
    /// A missing file is no variables instead of a failed start.
    pub optional: bool,
}

/// The largest `env_file` zinit reads (1 MiB); a larger one fails the start.
pub const MAX_ENV_FILE_SIZE: u64 = 1024 * 1024;

/// A resource limit a service file may set (`limits.NAME`), setrlimit(2)'s
/// `RLIMIT_*` of the same name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Resource {
    /// Address space, bytes.
    As,
    /// Core file size, bytes.
    Core,
    /// CPU time, seconds.
    Cpu,
    /// Data segment, bytes.
    Data,
    /// File size, bytes.
    Fsize,
    /// Locked memory, bytes.
    Memlock,
    /// Open files.
    Nofile,
    /// Processes (threads) of the user.
    Nproc,
    /// Stack, bytes.
    Stack,
}

impl Resource {
    pub const ALL: [Resource; 9] = [
        Resource::As,
        Resource::Core,
        Resource::Cpu,
        Resource::Data,
        Resource::Fsize,
        Resource::Memlock,
        Resource::Nofile,
        Resource::Nproc,
        Resource::Stack,
    ];

    /// As written in a service file (`limits.nofile`).
    pub fn name(self) -> &'static str {
        match self {
            Resource::As => "as",
            Resource::Core => "core",
            Resource::Cpu => "cpu",
            Resource::Data => "data",
            Resource::Fsize => "fsize",
            Resource::Memlock => "memlock",
            Resource::Nofile => "nofile",
            Resource::Nproc => "nproc",
            Resource::Stack => "stack",
        }
    }

    pub fn parse(text: &str) -> Option<Resource> {
        Resource::ALL.into_iter().find(|r| r.name() == text)
    }

    /// Whether the limit counts bytes (and so accepts sizes like `8MiB`).
    pub fn is_bytes(self) -> bool {
        !matches!(self, Resource::Cpu | Resource::Nofile | Resource::Nproc)
    }
}

/// One bound of a resource limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Limit {
    Value(u64),
    /// `RLIM_INFINITY`; above every value.
    Unlimited,
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Limit::Value(v) => write!(f, "{v}"),
            Limit::Unlimited => write!(f, "unlimited"),
        }
    }
}

/// Soft and hard bounds of a resource limit; `soft <= hard`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResourceLimit {
    pub soft: Limit,
    pub hard: Limit,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_split_shell_style() {
        let c = CommandLine::parse(r#"sh -c "echo 'hi there'; sleep 1""#).unwrap();
        assert_eq!(c.argv, vec!["sh", "-c", "echo 'hi there'; sleep 1"]);
        assert_eq!(c.program(), "sh");
        assert_eq!(CommandLine::parse("   "), Err(CommandLineError::Empty));
        assert_eq!(
            CommandLine::parse("echo \"x"),
            Err(CommandLineError::Unbalanced)
        );
    }
}
