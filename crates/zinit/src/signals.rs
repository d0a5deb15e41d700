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
