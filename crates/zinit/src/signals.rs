//! Termination signals for both halves of the binary: `zinit init` stops
//! every service on SIGTERM/SIGINT, and `zinit log` stops following.
//!
//! The handlers are installed when [`termination`] is called, not when its
//! future is first polled: a signal that arrives in between is remembered
//! instead of killing the process with the default action (which, for
//! `zinit init`, would leave its services running without a supervisor).
//! Must be called inside a tokio runtime.

use std::future::Future;
use tokio::signal::unix::{signal, SignalKind};

/// Installs SIGTERM and SIGINT handlers now; the future resolves on the
/// first of either. If the handlers cannot be installed, it never resolves
/// (the signals keep their default action) and the error is logged.
pub fn termination() -> impl Future<Output = ()> {
    let handlers = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    );
    async move {
        match handlers {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            (Err(e), _) | (_, Err(e)) => {
                tracing::error!("cannot install signal handlers: {e}");
                std::future::pending().await
            }
        }
    }
}

/// What zinit is running as; decides what signals mean.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunMode {
    /// Not PID 1: signals end zinit after an ordered shutdown.
    Daemon,
    /// `--container`: like a daemon, and the exit status reports forced stops.
    Container,
    /// PID 1 of a machine: signals power off or reboot it.
    Machine,
}

/// Installs the handlers for the signals that mean "shut down" now; the
/// future resolves with the shutdown the first such signal asks for.
///
/// | signal | daemon / container | machine (PID 1) |
/// |---|---|---|
/// | SIGTERM | exit | ignored (logged) |
/// | SIGINT | exit | reboot (Ctrl-Alt-Del) |
/// | SIGPWR | exit | power off |
/// | SIGHUP | ignored (logged) | ignored (logged) |
///
/// The handlers stay installed afterwards, so a repeated signal during the
/// shutdown changes nothing.
pub fn shutdown_requests(mode: RunMode) -> impl Future<Output = zinit_daemon::ShutdownMode> {
    use zinit_daemon::ShutdownMode;
    let handlers = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
        signal(SignalKind::from_raw(libc::SIGPWR)),
    );
    let machine = mode == RunMode::Machine;
    async move {
        let (Ok(mut term), Ok(mut int), Ok(mut hup), Ok(mut pwr)) = handlers else {
            tracing::error!("cannot install signal handlers; use `zinit shutdown` to stop zinit");
            return std::future::pending().await;
        };
        loop {
            tokio::select! {
                _ = term.recv() => {
                    if !machine {
                        return ShutdownMode::Exit;
                    }
                    tracing::warn!(
                        "SIGTERM ignored: zinit is PID 1; use `zinit shutdown` or `zinit reboot`"
                    );
                }
                _ = int.recv() => {
                    return if machine { ShutdownMode::Reboot } else { ShutdownMode::Exit };
                }
                _ = pwr.recv() => {
                    return if machine { ShutdownMode::PowerOff } else { ShutdownMode::Exit };
                }
                _ = hup.recv() => tracing::info!("SIGHUP ignored"),
            }
        }
    }
}
