//! `zinit init`: set up logging, bind the socket, run the daemon until it
//! shuts down.

use crate::cli::{Args, InitArgs};
use std::process::ExitCode;
use tokio::signal::unix::{signal, SignalKind};
use zinit_daemon::{bind, DaemonConfig};

pub fn run(args: &Args, init: &InitArgs) -> ExitCode {
    let level = if args.debug { "debug" } else { "info" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("ZINIT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .with_writer(std::io::stdout)
        .init();

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("zinit: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let config = DaemonConfig {
        config_dir: init.config.clone(),
        log_lines: init.buffer,
        environment_file: Some(init.env_file.clone()),
    };
    let socket_path = args.socket.clone();
    runtime.block_on(async move {
        let socket = match bind(&socket_path) {
            Ok(socket) => socket,
            Err(e) => {
                eprintln!("zinit: {e}");
                return ExitCode::from(1);
            }
        };
        tracing::info!(
            "zinit {} starting: config {}, socket {}",
            env!("CARGO_PKG_VERSION"),
            config.config_dir.display(),
            socket_path.display()
        );
        let _mode = zinit_daemon::run(config, socket, termination()).await;
        ExitCode::SUCCESS
    })
}

/// Resolves on the first SIGTERM or SIGINT.
async fn termination() {
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers; stop zinit with `zinit shutdown`");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
