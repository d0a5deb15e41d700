//! Every command that talks to a running daemon.

use crate::cli::{Args, Command};
use crate::output;
use crate::signals;
use std::process::ExitCode;
use zinit_client::{Client, ClientError, LogItem, LogQuery, WhyReport};

/// Exit status for a daemon that cannot be reached.
const EXIT_UNREACHABLE: u8 = 3;
/// Exit status for a refused or failed operation.
const EXIT_FAILED: u8 = 1;

pub fn run(args: &Args) -> ExitCode {
    let client = Client::new(args.socket.clone());
    // One request and one answer need no async runtime: building one costs
    // more than the whole exchange. Only `log` streams.
    let outcome = match one_shot(&client, args) {
        Some(outcome) => outcome,
        None => match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime.block_on(execute(&client, args)),
            Err(e) => {
                eprintln!("zinit: cannot start: {e}");
                return ExitCode::from(EXIT_FAILED);
            }
        },
    };
    match outcome {
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

/// Every command but `log`, over a blocking connection; `None` for `log`.
fn one_shot(client: &Client, args: &Args) -> Option<Result<(), Failure>> {
    if matches!(args.command, Command::Log { .. }) {
        return None;
    }
    Some(one_shot_command(client, args))
}

fn one_shot_command(client: &Client, args: &Args) -> Result<(), Failure> {
    let json = args.json;
    let client = client.blocking();
    match &args.command {
        Command::Init(_) | Command::Proxy(_) => not_a_client_command()?,
        Command::Log { .. } => not_a_one_shot_command()?,
        Command::List => output::print(&client.list()?, json)?,
        Command::Status { name } => output::print(&client.status(name)?, json)?,
        Command::Start { name } => client.start(name)?,
        Command::Stop { name } => client.stop(name)?,
        Command::Restart { name } => client.restart(name)?,
        Command::Monitor { name } => client.monitor(name)?,
        Command::Forget { name } => client.forget(name)?,
        Command::Kill { name, signal } => client.kill(name, signal)?,
        Command::Stats { name } => output::print(&client.stats(name)?, json)?,
        Command::Shutdown => client.shutdown()?,
        Command::Reboot => client.reboot()?,
        Command::Why { name } => {
            let report = client.why(name)?;
            if json {
                output::print(&report, true)?
            } else {
                print!("{}", render_why(&report));
            }
        }
    }
    Ok(())
}

/// `zinit log`, the one command that streams.
async fn execute(client: &Client, args: &Args) -> Result<(), Failure> {
    let json = args.json;
    match &args.command {
        Command::Log {
            snapshot,
            lines,
            since,
            after,
            timestamps,
            name,
        } => {
            let query = LogQuery {
                name: name.clone(),
                after_seq: *after,
                last: *lines,
                since: since.clone(),
            };
            let style = if json {
                LogStyle::Json
            } else if *timestamps {
                LogStyle::Timestamped
            } else {
                LogStyle::Plain
            };
            show_logs(client, &query, !snapshot, style).await?
        }
        _ => not_a_one_shot_command()?,
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

/// One-shot commands never reach the async path, nor `log` the blocking
/// one; reaching either is a programming error reported as a failure.
fn not_a_one_shot_command() -> Result<(), Failure> {
    Err(Failure::Other("log is not a one-shot command".to_owned()))
}

/// How `zinit log` prints each line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LogStyle {
    /// `[+] NAME: text`, as the original zinit.
    Plain,
    /// `2026-11-24T10:00:00.123Z [+] NAME: text`.
    Timestamped,
    /// One JSON object per line (the `stream_followLogs` items).
    Json,
}

fn render_log_item(item: &LogItem, style: LogStyle) -> String {
    match (style, item) {
        (LogStyle::Json, item) => serde_json::to_string(item).unwrap_or_default(),
        (LogStyle::Timestamped, LogItem::Line(record)) => {
            format!("{} {}", record.time, record.legacy_text())
        }
        (_, item) => item.legacy_text(),
    }
}

/// Print the log lines `query` selects; with `follow`, keep printing new
/// ones until the daemon closes the stream, or SIGINT / SIGTERM (exit 0).
async fn show_logs(
    client: &Client,
    query: &LogQuery,
    follow: bool,
    style: LogStyle,
) -> Result<(), Failure> {
    use std::io::Write;
    let mut stdout = std::io::stdout();
    // A closed stdout (e.g. `| head`) ends the command quietly.
    let mut print = |item: &LogItem| writeln!(stdout, "{}", render_log_item(item, style)).is_ok();
    if !follow {
        let page = client.read_logs(query).await?;
        if let Some(missed) = page.missed.filter(|m| *m > 0) {
            if !print(&LogItem::Gap {
                missed: Some(missed),
            }) {
                return Ok(());
            }
        }
        for record in page.lines {
            if !print(&LogItem::Line(record)) {
                return Ok(());
            }
        }
        return Ok(());
    }
    // Handlers first, so no interrupt is lost between two lines.
    let interrupted = signals::termination();
    tokio::pin!(interrupted);
    // With no starting point given, show everything kept first, as `log`
    // always did (the newest 2^64 lines are all of them).
    let mut query = query.clone();
    if query.after_seq.is_none() && query.last.is_none() && query.since.is_none() {
        query.last = Some(u64::MAX);
    }
    let mut items = client.follow_logs(&query).await?;
    loop {
        let next = tokio::select! {
            next = items.next() => next?,
            () = &mut interrupted => return Ok(()),
        };
        match next {
            Some(item) if print(&item) => {}
            _ => return Ok(()),
        }
    }
}

/// `zinit why` as text: the summary, then each detail on its own line.
fn render_why(report: &WhyReport) -> String {
    let mut text = format!("{}\n", report.summary);
    for detail in &report.details {
        text.push_str(&format!("  - {detail}\n"));
    }
    text
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
