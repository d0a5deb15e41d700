//! `zinit init`: decide the run mode, set up logging and signals, bind the
//! socket, run the daemon, and end the way the mode requires (exit, or
//! power off / reboot when PID 1 of a machine).

use crate::cli::{Args, InitArgs};
use crate::logging::{self, LogConfig, LogOutput};
use crate::signals::{shutdown_requests, RunMode};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use zinit_daemon::pid1::{self, FinalAct};
use zinit_daemon::process::cgroup::CgroupChoice;
use zinit_daemon::server::socket::{bind_with, resolve_group, world_writable_directory};
use zinit_daemon::{BindError, ControlSockets, DaemonConfig, ShutdownMode, Stopped};

/// Container mode: some service had to be SIGKILLed during the shutdown.
const EXIT_FORCED: u8 = 1;
/// The supervisor itself failed, or zinit could not start.
const EXIT_FAILED: u8 = 1;
/// A bad option value (as clap's own usage errors).
const EXIT_USAGE: u8 = 2;

pub fn run(args: &Args, init: &InitArgs) -> ExitCode {
    // Before any thread exists (threads inherit the mask): a blocked
    // SIGTERM would never stop zinit, an ignored SIGCHLD would lose exits.
    let inherited_signals = zinit_daemon::process::reset_inherited_signals();
    limit_malloc_arenas();
    let is_pid1 = pid1::is_pid1();
    let mode = if init.container {
        RunMode::Container
    } else if is_pid1 {
        RunMode::Machine
    } else {
        RunMode::Daemon
    };
    // Kept alive until zinit ends; dropped (flushed) before reboot(2).
    let log = logging::init(&LogConfig {
        debug: args.debug,
        kmsg: kernel_log_path(is_pid1),
    });
    if let Err(e) = inherited_signals {
        tracing::warn!("cannot reset the signal state zinit inherited: {e}");
    }
    if is_pid1 {
        pid1::take_over_ctrl_alt_del();
    } else if let Err(e) = pid1::become_subreaper() {
        tracing::warn!("cannot become a child subreaper; orphans go to init: {e}");
    }

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the runtime: {e}");
            return failed(is_pid1 && mode == RunMode::Machine);
        }
    };
    let cgroup = match CgroupChoice::parse(&init.cgroup) {
        // PID 1 owns its cgroup; a daemon's is shared, so it gets a
        // directory of its own in it (see process::cgroup_base).
        Ok(CgroupChoice::Auto { .. }) => CgroupChoice::Auto {
            pid1: is_pid1,
            mount: is_pid1 && mode == RunMode::Machine,
        },
        Ok(choice) => choice,
        // PID 1 never gives up.
        Err(e) if is_pid1 => {
            tracing::warn!("{e}; not using cgroups");
            CgroupChoice::Off
        }
        Err(e) => {
            logging::error_before_exit(&e.to_string());
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let config = DaemonConfig {
        config_dir: init.config.clone(),
        log_lines: init.buffer,
        log_dir: init.log_dir.clone(),
        environment_file: Some(init.env_file.clone()),
        cgroup,
    };
    let socket_path = args.socket.clone();
    let also_sockets = match distinct_socket_paths(&socket_path, &init.also_socket) {
        Ok(paths) => paths,
        // PID 1 never gives up: serve each path once.
        Err(e) if is_pid1 => {
            tracing::warn!("{e}");
            dedup_paths(&socket_path, &init.also_socket)
        }
        Err(e) => {
            logging::error_before_exit(&e);
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let socket_group = init.socket_group.clone();
    // A panic that escapes the runtime must not end PID 1 (the kernel would
    // panic); tasks' panics are already contained by tokio.
    let serve = std::panic::AssertUnwindSafe(|| {
        runtime.block_on(async move {
            // Before anything else: a signal while the socket is bound or the
            // services load must stop zinit cleanly, not kill it outright.
            let requests = shutdown_requests(mode);
            let group = socket_group.as_deref();
            let sockets = match bind_sockets(&socket_path, &also_sockets, group, is_pid1) {
                Ok(sockets) => Some(sockets),
                // PID 1 never gives up: supervise without a control socket.
                Err(e) if is_pid1 => {
                    tracing::error!("{e}; running without a control socket");
                    None
                }
                Err(e) => {
                    logging::error_before_exit(&e.to_string());
                    return None;
                }
            };
            let served: Vec<String> = sockets
                .iter()
                .flat_map(ControlSockets::all)
                .map(|s| s.path.display().to_string())
                .collect();
            tracing::info!(
                "zinit {} starting as {mode:?}: config {}, socket {}",
                env!("CARGO_PKG_VERSION"),
                config.config_dir.display(),
                if served.is_empty() {
                    "none".to_owned()
                } else {
                    served.join(", ")
                }
            );
            Some(zinit_daemon::run(config, sockets, requests).await)
        })
    });
    let stopped = match std::panic::catch_unwind(serve) {
        Ok(Some(stopped)) => stopped,
        Ok(None) => return ExitCode::from(EXIT_FAILED),
        Err(_) => {
            tracing::error!("zinit panicked");
            return failed(is_pid1 && mode == RunMode::Machine);
        }
    };
    finish(mode, stopped, log)
}

/// Bind the control socket and every `--also-socket` path, for `group`
/// too if one is given. PID 1 keeps what it could bind (a private socket
/// rather than none when the group does not exist, the primary socket when
/// another path fails); a daemon refuses to start half-served, removing
/// what it had bound.
fn bind_sockets(
    primary: &Path,
    also: &[PathBuf],
    group: Option<&str>,
    is_pid1: bool,
) -> Result<ControlSockets, BindError> {
    let group = match group.map(resolve_group).transpose() {
        Ok(group) => group,
        Err(e) if is_pid1 => {
            tracing::error!("{e}; the socket stays private (0600)");
            None
        }
        Err(e) => return Err(e),
    };
    let mut sockets = ControlSockets {
        primary: bind_with(primary, group)?,
        also: Vec::new(),
    };
    for path in also {
        if let Some(dir) = world_writable_directory(path) {
            tracing::warn!(
                "control socket {}: anyone can create files in {}, so another user could \
                 take this name while zinit is down and answer its clients; prefer /run",
                path.display(),
                dir.display()
            );
        }
        match bind_with(path, group) {
            Ok(socket) => sockets.also.push(socket),
            Err(e) if is_pid1 => tracing::error!("{e}; not serving that path"),
            Err(e) => {
                sockets.remove_files();
                return Err(e);
            }
        }
    }
    Ok(sockets)
}

/// `--also-socket` paths must differ from `-s` and from each other.
fn distinct_socket_paths(primary: &Path, also: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let unique = dedup_paths(primary, also);
    if unique.len() == also.len() {
        return Ok(unique);
    }
    let repeated = also
        .iter()
        .enumerate()
        .find(|(i, p)| *p == primary || also[..*i].contains(p))
        .map_or_else(String::new, |(_, p)| p.display().to_string());
    Err(format!(
        "--also-socket {repeated} is given twice (or is the -s socket); each path is served once"
    ))
}

/// `also` without `primary` and without repeats, in order.
fn dedup_paths(primary: &Path, also: &[PathBuf]) -> Vec<PathBuf> {
    let mut unique: Vec<PathBuf> = Vec::new();
    for path in also {
        if path != primary && !unique.contains(path) {
            unique.push(path.clone());
        }
    }
    unique
}

/// What happens once every service is down.
fn finish(mode: RunMode, stopped: Stopped, log: LogOutput) -> ExitCode {
    if stopped.supervisor_failed {
        return failed(pid1::is_pid1() && mode == RunMode::Machine);
    }
    // A container or daemon that a service's end action took down exits
    // with that service's status, so `docker run` sees the main service's
    // result (a forced kill on the way is still logged).
    if let (Some((cause, code)), RunMode::Daemon | RunMode::Container) = (&stopped.cause, mode) {
        if !stopped.forced.is_empty() {
            tracing::warn!(
                "had to SIGKILL at their timeout: {}",
                stopped.forced.join(", ")
            );
        }
        tracing::info!("{cause}: exiting with status {code}");
        return ExitCode::from(*code);
    }
    match mode {
        RunMode::Daemon => ExitCode::SUCCESS,
        RunMode::Container if stopped.forced.is_empty() => ExitCode::SUCCESS,
        RunMode::Container => {
            tracing::warn!(
                "had to SIGKILL at their timeout: {}; exiting with status {EXIT_FORCED}",
                stopped.forced.join(", ")
            );
            ExitCode::from(EXIT_FORCED)
        }
        // Machine mode is chosen only as PID 1; check again right here.
        RunMode::Machine if !pid1::is_pid1() => ExitCode::from(EXIT_FAILED),
        RunMode::Machine => {
            let act = match stopped.mode {
                ShutdownMode::Reboot => FinalAct::Reboot,
                ShutdownMode::PowerOff | ShutdownMode::Exit => FinalAct::PowerOff,
            };
            // Returns only if the kernel refused; PID 1 must not exit. Its
            // log output is closed by then: say why straight to the console.
            if let Err(e) = pid1::power_off_or_reboot(act, || drop(log)) {
                logging::last_words(
                    kernel_log_path(true).as_deref(),
                    &format!("{e}; zinit stays PID 1 and keeps reaping orphans"),
                );
            }
            pid1::keep_reaping_forever()
        }
    }
}

/// A failure that would end zinit: PID 1 of a machine keeps reaping instead.
fn failed(keep_running: bool) -> ExitCode {
    if keep_running {
        pid1::keep_reaping_forever()
    }
    ExitCode::from(EXIT_FAILED)
}

/// Where zinit's own messages also go: `/dev/kmsg` when PID 1, unless
/// `ZINIT_KMSG` names another path or is `off` (tests in a PID namespace
/// keep the host's kernel log clean that way).
fn kernel_log_path(is_pid1: bool) -> Option<std::path::PathBuf> {
    match std::env::var_os("ZINIT_KMSG") {
        Some(v) if v == "off" => None,
        Some(path) => Some(path.into()),
        None => is_pid1.then(|| "/dev/kmsg".into()),
    }
}

/// One malloc arena for the whole process, set before any thread starts.
/// glibc gives each thread that allocates its own arena (up to 8 per core),
/// each keeping its freed memory; zinit's threads allocate little and
/// rarely contend, so separate arenas only cost resident memory.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called before any
    // other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}
