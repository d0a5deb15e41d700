//! `zinit init`: set up logging, bind the socket, run the daemon until it
//! shuts down.

use crate::cli::{Args, InitArgs};
use crate::signals::termination;
use std::process::ExitCode;
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
        // Before anything else: a SIGTERM while the socket is bound or the
        // services load must stop zinit cleanly, not kill it outright.
        let termination = termination();
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
        // Power off and reboot are PID 1 duties, not done yet: whatever
        // mode the shutdown asked for, zinit has stopped every service and
        // exits. It must never reboot a machine it does not own.
        let _mode = zinit_daemon::run(config, socket, termination).await;
        ExitCode::SUCCESS
    })
}
