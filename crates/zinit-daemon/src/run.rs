//! `run`: the daemon's one entry point, used by `zinit init` and by tests
//! alike (mini-redis style: the caller binds the socket and owns the
//! shutdown trigger).

use crate::actor::{self, Environment};
use crate::api::Api;
use crate::config_dir;
use crate::logs::LogHub;
use crate::server::{self, socket::ControlSocket};
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use zinit_core::supervisor::{Command, ShutdownMode};

/// Bytes the log ring may hold, on top of its line limit.
const LOG_RING_BYTES: usize = 16 << 20;

/// How long requests under way at exit (the shutdown request itself, say)
/// may take to write their answers.
const REPLY_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// How the daemon was configured on the command line.
#[derive(Clone, Debug)]
pub struct DaemonConfig {
    /// Directory of `<name>.yaml` service files.
    pub config_dir: PathBuf,
    /// Lines kept in the log ring.
    pub log_lines: usize,
    /// Usually `/etc/environment`; `None` for none.
    pub environment_file: Option<PathBuf>,
}

/// Run the daemon until a shutdown (requested over the socket, or by
/// `shutdown` resolving) has stopped every service. Returns the mode the
/// shutdown asked for; the caller decides what to do with it.
pub async fn run(
    config: DaemonConfig,
    socket: ControlSocket,
    shutdown: impl Future<Output = ()>,
) -> ShutdownMode {
    if let Err(e) = crate::process::mark_inherited_fds_cloexec() {
        tracing::warn!("cannot mark inherited file descriptors close-on-exec: {e}");
    }
    if let Err(e) = crate::process::start_reaper() {
        tracing::error!("cannot start the reaper thread: {e}");
    }
    let logs = LogHub::new(config.log_lines, LOG_RING_BYTES);
    let env = Environment::new(std::env::vars().collect(), config.environment_file.clone());
    let (handle, done) = actor::start(logs.clone(), env);
    let api = Api::new(handle.clone(), config.config_dir.clone(), logs);

    // Load before serving, so the first answer already shows every service;
    // clients that connect meanwhile wait in the socket's backlog.
    load_services(&handle, config.config_dir.clone()).await;

    let ControlSocket { listener, path, .. } = &socket;
    let server = match listener
        .try_clone()
        .and_then(tokio::net::UnixListener::from_std)
    {
        Ok(listener) => Some(server::start(listener, api)),
        Err(e) => {
            tracing::error!("cannot serve the control socket {}: {e}", path.display());
            None
        }
    };

    tokio::pin!(shutdown);
    tokio::pin!(done);
    let mode = tokio::select! {
        ended = &mut done => match ended {
            Ok(mode) => mode,
            Err(_) => {
                // Only a bug can end the actor without a shutdown.
                tracing::error!("the supervisor stopped unexpectedly; exiting");
                ShutdownMode::Exit
            }
        },
        () = &mut shutdown => {
            tracing::info!("shutdown requested by signal");
            // Refused only if a shutdown is already under way: fine.
            let _ = handle.command(Command::Shutdown(ShutdownMode::Exit)).await;
            done.await.unwrap_or(ShutdownMode::Exit)
        }
    };
    if let Some(server) = server {
        server.stop(REPLY_GRACE).await;
    }
    ControlSocket::remove_file(&socket.path, socket.inode());
    tracing::info!("zinit stopped");
    mode
}

/// Monitor every valid service file; report the broken ones and go on.
async fn load_services(handle: &actor::Handle, dir: PathBuf) {
    let shown = dir.display().to_string();
    let report = match tokio::task::spawn_blocking(move || config_dir::load_dir(&dir)).await {
        Ok(Ok(report)) => report,
        Ok(Err(e)) => {
            tracing::error!("cannot read config directory {shown}: {e}; no services loaded");
            return;
        }
        Err(e) => {
            tracing::error!("loading {shown} failed: {e}");
            return;
        }
    };
    for diagnostic in &report.diagnostics {
        match diagnostic.severity {
            zinit_core::config::Severity::Error => tracing::error!("{diagnostic}"),
            zinit_core::config::Severity::Warning => tracing::warn!("{diagnostic}"),
        }
    }
    for service in report.services {
        for warning in &service.warnings {
            tracing::warn!("{warning}");
        }
        let command = Command::Monitor {
            name: service.name.clone(),
            spec: Arc::new(service.spec),
        };
        if let Err(e) = handle.command(command).await {
            tracing::error!("cannot monitor {}: {e}", service.name);
        }
    }
}
