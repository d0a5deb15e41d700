//! The legacy line protocol: one command, one JSON reply, close. `log`
//! streams text lines instead.

use super::frames::{FrameError, Frames};
use super::{write_within, InFlight};
use crate::api::{Api, ApiError, Protocol};
use crate::logs::{FollowItem, LogFrom, LogLine};
use serde::Serialize;
use std::sync::Arc;
use tokio::io::{AsyncBufRead, AsyncWrite, AsyncWriteExt};
use tokio::net::unix::OwnedWriteHalf;
use tokio::net::UnixStream;
use zinit_core::supervisor::ShutdownMode;
use zinit_proto::errors::INVALID_REQUEST;
use zinit_proto::legacy::{parse_command, reply_error, reply_ok, LegacyCommand};
use zinit_proto::observe::gap_text;
use zinit_proto::wire::ServiceStats;

/// Answer one legacy command line.
pub async fn serve<R>(
    reader: Frames<R>,
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
    let counters = api.rpc_counters();
    let command = match parse_command(line) {
        Ok(command) => command,
        Err(message) => {
            counters.record(Protocol::Legacy, "unknown", Some(INVALID_REQUEST));
            return finish(&mut writer, reply_error(&message)).await;
        }
    };
    let verb = command.verb();
    let (reply, error) = match command {
        LegacyCommand::List => respond(Ok(api.list())),
        LegacyCommand::Status(name) => respond(api.status(&name)),
        LegacyCommand::Start(name) => respond(api.start(&name).await),
        LegacyCommand::Stop(name) => respond(api.stop(&name).await),
        LegacyCommand::Restart(name) => respond(api.restart(&name).await),
        LegacyCommand::Monitor(name) => respond(api.monitor(&name).await),
        LegacyCommand::Forget(name) => respond(api.forget(&name).await),
        LegacyCommand::Kill { name, signal } => respond(api.kill(&name, &signal).await),
        // Exactly the keys deployed clients know (compat.md).
        LegacyCommand::Stats(name) => {
            respond(api.stats(&name).await.map(ServiceStats::into_original))
        }
        LegacyCommand::Shutdown => respond(api.shutdown(ShutdownMode::PowerOff).await),
        LegacyCommand::Reboot => respond(api.shutdown(ShutdownMode::Reboot).await),
        LegacyCommand::Log { snapshot } => {
            counters.record(Protocol::Legacy, verb, None);
            drop(guard);
            return stream_logs(reader, writer, api, snapshot).await;
        }
    };
    counters.record(Protocol::Legacy, verb, error);
    finish(&mut writer, reply).await
}

/// The reply line for a result (`()` is a `null` body), and the error
/// code it stands for. Serialized straight from the wire type, so the keys
/// keep the order deployed clients know.
fn respond<T: Serialize>(result: Result<T, ApiError>) -> (String, Option<i64>) {
    match result {
        Ok(body) => (reply_ok(&body), None),
        Err(e) => (reply_error(&e.message), Some(e.to_rpc().code)),
    }
}

async fn finish<W: AsyncWrite + Unpin>(writer: &mut W, reply: String) -> std::io::Result<()> {
    write_within(writer, reply.as_bytes()).await?;
    writer.shutdown().await
}

/// `log snapshot`: the buffer, then close. `log`: the buffer, then every
/// new line until the client goes away.
async fn stream_logs<R>(
    mut reader: Frames<R>,
    mut writer: OwnedWriteHalf,
    api: &Api,
    snapshot: bool,
) -> std::io::Result<()>
where
    R: AsyncBufRead + Unpin,
{
    if snapshot {
        let mut text = String::new();
        for line in &api.logs().read(None, LogFrom::All).lines {
            push_log_line(&mut text, line);
            if text.len() >= WRITE_CHUNK {
                write_within(&mut writer, text.as_bytes()).await?;
                text.clear();
            }
        }
        write_within(&mut writer, text.as_bytes()).await?;
        return writer.shutdown().await;
    }
    let mut follow = api.logs().follow(None, LogFrom::All);
    reader.set_max(FOLLOWER_LINE);
    // A client may half-close after its command (`echo log | socat ...`) and
    // still read: only a full close ends the stream, seen as a write error
    // or, when no lines flow, as a hang-up found by a periodic check.
    let mut reading = true;
    let mut hangup_check = tokio::time::interval(HANGUP_CHECK);
    loop {
        tokio::select! {
            items = follow.next_batch(FOLLOW_BATCH) => {
                let mut text = String::new();
                for item in items {
                    match item {
                        FollowItem::Line(line) => push_log_line(&mut text, &line),
                        FollowItem::Gap { missed } => {
                            text.push_str(&gap_text(missed));
                            text.push('\n');
                        }
                    }
                    if text.len() >= WRITE_CHUNK {
                        write_within(&mut writer, text.as_bytes()).await?;
                        text.clear();
                    }
                }
                write_within(&mut writer, text.as_bytes()).await?;
            },
            // What the client sends is read and dropped, line by line.
            read = reader.next_frame(), if reading => match read {
                Ok(Some(_)) => {}
                Ok(None) if peer_hung_up(writer.as_ref()) => return Ok(()),
                Ok(None) => reading = false,
                Err(FrameError::TooLong | FrameError::OverBudget | FrameError::Io(_)) => return Ok(()),
            },
            _ = hangup_check.tick() => {
                if peer_hung_up(writer.as_ref()) {
                    return Ok(());
                }
            }
        }
    }
}

fn push_log_line(text: &mut String, line: &Arc<LogLine>) {
    text.push_str(&line.legacy_text());
    text.push('\n');
}

/// Log text gathered before one write.
const WRITE_CHUNK: usize = 64 * 1024;

/// Longest line a log follower may send (it is read and dropped).
const FOLLOWER_LINE: usize = 4096;

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
