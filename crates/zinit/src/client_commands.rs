//! Every command that talks to a running daemon.

use crate::cli::{Args, Command};
use crate::output;
use crate::signals;
use std::process::ExitCode;
use zinit_client::{Client, ClientError};

/// Exit status for a daemon that cannot be reached.
const EXIT_UNREACHABLE: u8 = 3;
/// Exit status for a refused or failed operation.
const EXIT_FAILED: u8 = 1;

pub fn run(args: &Args) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("zinit: cannot start: {e}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    let client = Client::new(args.socket.clone());
    match runtime.block_on(execute(&client, args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Client(e)) => {
            eprintln!("zinit: {}", describe(&e));
            ExitCode::from(if e.is_unreachable() {
                EXIT_UNREACHABLE
            } else {
                EXIT_FAILED
            })
        }
        Err(Failure::Other(message)) => {
            eprintln!("zinit: {message}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

/// The message for a client error. A socket we may not open is not a
/// daemon that is not running: say so, rather than mislead.
fn describe(error: &ClientError) -> String {
    match error {
        ClientError::Unreachable { socket, source }
            if source.kind() == std::io::ErrorKind::PermissionDenied =>
        {
            format!(
                "cannot connect to {}: permission denied (zinit may be running as another user)",
                socket.display()
            )
        }
        other => other.to_string(),
    }
}

enum Failure {
    Client(ClientError),
    Other(String),
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        Failure::Client(e)
    }
}

impl From<String> for Failure {
    fn from(e: String) -> Self {
        Failure::Other(e)
    }
}

async fn execute(client: &Client, args: &Args) -> Result<(), Failure> {
    let json = args.json;
    match &args.command {
        Command::Init(_) | Command::Proxy(_) => not_a_client_command()?,
        Command::List => output::print(&client.list().await?, json)?,
        Command::Status { name } => output::print(&client.status(name).await?, json)?,
        Command::Start { name } => client.start(name).await?,
        Command::Stop { name } => client.stop(name).await?,
        Command::Restart { name } => client.restart(name).await?,
        Command::Monitor { name } => client.monitor(name).await?,
        Command::Forget { name } => client.forget(name).await?,
        Command::Kill { name, signal } => client.kill(name, signal).await?,
        Command::Stats { name } => output::print(&client.stats(name).await?, json)?,
        Command::Shutdown => client.shutdown().await?,
        Command::Reboot => client.reboot().await?,
        Command::Log { snapshot, name } => follow_logs(client, !snapshot, name.as_deref()).await?,
    }
    Ok(())
}

/// `main` sends `init` and `proxy` elsewhere; reaching here is a
/// programming error reported as a failure rather than a panic.
fn not_a_client_command() -> Result<(), Failure> {
    Err(Failure::Other(
        "init and proxy are not client commands".to_owned(),
    ))
}

/// Print log lines (of one service, if named) until the daemon closes the
/// stream, or SIGINT / SIGTERM (exit 0).
async fn follow_logs(client: &Client, follow: bool, name: Option<&str>) -> Result<(), Failure> {
    use std::io::Write;
    // Handlers first, so no interrupt is lost between two lines.
    let interrupted = signals::termination();
    tokio::pin!(interrupted);
    let mut lines = client.logs(follow).await?;
    let mut stdout = std::io::stdout();
    loop {
        let next = tokio::select! {
            next = lines.next_line() => next?,
            () = &mut interrupted => return Ok(()),
        };
        let Some(line) = next else {
            return Ok(());
        };
        let wanted = match name {
            None => true,
            Some(n) => zinit_client::log_line_service(&line) == Some(n),
        };
        if wanted && writeln!(stdout, "{line}").is_err() {
            // stdout closed (e.g. `| head`): stop quietly.
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unreachable(kind: std::io::ErrorKind) -> ClientError {
        ClientError::Unreachable {
            socket: "/run/z.sock".into(),
            source: std::io::Error::from(kind),
        }
    }

    #[test]
    fn permission_denied_is_not_called_not_running() {
        assert_eq!(
            describe(&unreachable(std::io::ErrorKind::PermissionDenied)),
            "cannot connect to /run/z.sock: permission denied \
             (zinit may be running as another user)"
        );
        let refused = describe(&unreachable(std::io::ErrorKind::ConnectionRefused));
        assert!(
            refused.starts_with("zinit is not running: cannot connect to /run/z.sock: "),
            "{refused}"
        );
    }
}
