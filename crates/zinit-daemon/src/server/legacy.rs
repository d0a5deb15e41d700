//! The legacy line protocol: one command, one JSON reply, close. `log`
//! streams text lines instead.

use super::lines::{read_line, LineError};
use super::InFlight;
use crate::api::{Api, ApiError};
use crate::logs::{FollowItem, LogFrom, LogLine};
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;
use tokio::io::{AsyncBufRead, AsyncWrite, AsyncWriteExt};
use tokio::net::unix::OwnedWriteHalf;
use tokio::net::UnixStream;
use zinit_core::supervisor::ShutdownMode;
use zinit_proto::legacy::{parse_command, reply_error, reply_ok, LegacyCommand};

/// Answer one legacy command line.
pub async fn serve<R>(
    reader: R,
    mut writer: OwnedWriteHalf,
    api: &Api,
    in_flight: &InFlight,
    line: &str,
) -> std::io::Result<()>
where
    R: AsyncBufRead + Unpin,
{
    // Counted until the reply is written; a log stream is not a request.
    let guard = in_flight.begin();
    let command = match parse_command(line) {
        Ok(command) => command,
        Err(message) => return finish(&mut writer, reply_error(&message)).await,
    };
    let reply = match command {
        LegacyCommand::List => reply_ok(&api.list()),
        LegacyCommand::Status(name) => answer(api.status(&name)),
        LegacyCommand::Start(name) => answer_null(api.start(&name).await),
        LegacyCommand::Stop(name) => answer_null(api.stop(&name).await),
        LegacyCommand::Restart(name) => answer_null(api.restart(&name).await),
        LegacyCommand::Monitor(name) => answer_null(api.monitor(&name).await),
        LegacyCommand::Forget(name) => answer_null(api.forget(&name).await),
        LegacyCommand::Kill { name, signal } => answer_null(api.kill(&name, &signal).await),
        LegacyCommand::Stats(name) => answer(
            api.stats(&name)
                .await
                .map(zinit_proto::wire::ServiceStats::into_original),
        ),
        LegacyCommand::Shutdown => answer_null(api.shutdown(ShutdownMode::PowerOff).await),
        LegacyCommand::Reboot => answer_null(api.shutdown(ShutdownMode::Reboot).await),
        LegacyCommand::Log { snapshot } => {
            drop(guard);
            return stream_logs(reader, writer, api, snapshot).await;
        }
    };
    finish(&mut writer, reply).await
}

fn answer<T: Serialize>(result: Result<T, ApiError>) -> String {
    match result {
        Ok(body) => reply_ok(&body),
        Err(e) => reply_error(&e.message),
    }
}

fn answer_null(result: Result<(), ApiError>) -> String {
    answer(result.map(|()| Value::Null))
}

async fn finish<W: AsyncWrite + Unpin>(writer: &mut W, reply: String) -> std::io::Result<()> {
    writer.write_all(reply.as_bytes()).await?;
    writer.shutdown().await
}

/// `log snapshot`: the buffer, then close. `log`: the buffer, then every
/// new line until the client goes away.
async fn stream_logs<R>(
    mut reader: R,
    mut writer: OwnedWriteHalf,
    api: &Api,
    snapshot: bool,
) -> std::io::Result<()>
where
    R: AsyncBufRead + Unpin,
{
    if snapshot {
        for line in &api.logs().read(None, LogFrom::All).lines {
            write_log_line(&mut writer, line).await?;
        }
        writer.flush().await?;
        return writer.shutdown().await;
    }
    let mut follow = api.logs().follow(None, LogFrom::All);
    let mut discard = Vec::new();
    // A client may half-close after its command (`echo log | socat ...`) and
    // still read: only a full close ends the stream, seen as a write error
    // or, when no lines flow, as a hang-up found by a periodic check.
    let mut reading = true;
    let mut hangup_check = tokio::time::interval(HANGUP_CHECK);
    loop {
        tokio::select! {
            items = follow.next_batch(FOLLOW_BATCH) => {
                for item in items {
                    match item {
                        FollowItem::Line(line) => write_log_line(&mut writer, &line).await?,
                        FollowItem::Gap { missed } => {
                            let missed = missed.map_or("some".to_owned(), |n| n.to_string());
                            let note = format!("[-] zinit: {missed} log lines dropped: reader too slow\n");
                            writer.write_all(note.as_bytes()).await?;
                        }
                    }
                }
                writer.flush().await?;
            },
            read = read_line(&mut reader, 4096, &mut discard), if reading => match read {
                Ok(true) => {}
                Ok(false) if peer_hung_up(writer.as_ref()) => return Ok(()),
                Ok(false) => reading = false,
                Err(LineError::TooLong) | Err(LineError::Io(_)) => return Ok(()),
            },
            _ = hangup_check.tick() => {
                if peer_hung_up(writer.as_ref()) {
                    return Ok(());
                }
            }
        }
    }
}

async fn write_log_line<W: AsyncWrite + Unpin>(
    writer: &mut W,
    line: &Arc<LogLine>,
) -> std::io::Result<()> {
    let mut text = line.legacy_text();
    text.push('\n');
    writer.write_all(text.as_bytes()).await
}

/// Log items written per flush at most.
const FOLLOW_BATCH: usize = 256;

/// How often an idle log follower is checked for a closed connection.
const HANGUP_CHECK: std::time::Duration = std::time::Duration::from_secs(2);

/// Whether the peer closed the connection completely (POLLHUP): a
/// half-closed client (POLLRDHUP only) is still reading.
fn peer_hung_up(stream: &UnixStream) -> bool {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let mut fds = [PollFd::new(stream.as_fd(), PollFlags::POLLOUT)];
    match poll(&mut fds, PollTimeout::ZERO) {
        Ok(_) => fds[0]
            .revents()
            .is_some_and(|r| r.intersects(PollFlags::POLLHUP | PollFlags::POLLERR)),
        Err(_) => false,
    }
}
