//! WebSocket relay (`GET /ws`, or an upgrade on `/`): each text message is
//! one JSON-RPC frame, written as one line to a socket connection of its
//! own; each line the daemon writes (answers and `stream_subscribeLogs`
//! notifications alike) comes back as one text message.
//!
//! A slow WebSocket client never slows the daemon: the daemon's lines are
//! read as fast as it writes them into a bounded queue, and a client that
//! lets the queue fill is disconnected with a close reason. Closing the
//! socket connection ends the daemon's subscriptions for it.
//!
//! Must not: interpret answers or notifications.

use crate::config::ProxyConfig;
use crate::daemon;
use crate::error::json_body;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::Response;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit};
use zinit_proto::errors::{RpcError, PARSE_ERROR};
use zinit_proto::jsonrpc::{parse_frame, Frame};

/// Lines from the daemon waiting for a slow client before it is dropped.
pub const QUEUE_LINES: usize = 1024;
/// How long a close frame may take to reach a client that is being dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one message may take to reach the client before it is taken
/// for gone (a client that stopped reading would otherwise hold us forever).
const SEND_TIMEOUT: Duration = Duration::from_secs(30);
/// Close code 1008 (policy violation): the client did not keep up.
const CLOSE_TOO_SLOW: u16 = 1008;
/// Close code 1011 (server error): the daemon went away or failed.
const CLOSE_DAEMON_GONE: u16 = 1011;
/// Close code 1003 (unsupported data): a binary message.
const CLOSE_UNSUPPORTED: u16 = 1003;
/// How often a blank line goes to the daemon while the client sends
/// nothing: the daemon closes a connection that sends nothing for 10 s
/// (and takes a blank line as a keep-alive), but a WebSocket client may
/// rightly stay quiet for as long as it likes.
const KEEPALIVE: Duration = Duration::from_secs(4);

/// Accept the upgrade once the daemon is reachable (503 otherwise).
/// `slot` counts this WebSocket against the limit until it closes.
pub async fn upgrade(
    config: Arc<ProxyConfig>,
    upgrade: WebSocketUpgrade,
    slot: OwnedSemaphorePermit,
) -> Response {
    let stream = match daemon::connect(&config.socket).await {
        Ok(stream) => stream,
        Err(e) => return json_body(StatusCode::SERVICE_UNAVAILABLE, &RpcError::internal(e)),
    };
    let socket = config.socket.clone();
    upgrade
        .max_message_size(config.max_body)
        .max_frame_size(config.max_body)
        .on_upgrade(move |ws| async move {
            let (read, write) = stream.into_split();
            relay(ws, read, write, socket).await;
            drop(slot);
        })
}

/// Why the daemon-to-client side stopped.
enum Ended {
    /// The daemon closed the connection.
    Daemon(String),
    /// The client let [`QUEUE_LINES`] lines pile up.
    TooSlow,
}

async fn relay(mut ws: WebSocket, read: OwnedReadHalf, mut write: OwnedWriteHalf, socket: PathBuf) {
    let (lines_tx, mut lines) = mpsc::channel::<String>(QUEUE_LINES);
    let (ended_tx, mut ended) = oneshot::channel::<Ended>();
    let reader = tokio::spawn(read_daemon(read, socket, lines_tx, ended_tx));
    let mut keepalive =
        tokio::time::interval_at(tokio::time::Instant::now() + KEEPALIVE, KEEPALIVE);
    let close = loop {
        tokio::select! {
            incoming = ws.recv() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    if let Some(reply) = local_answer(text.as_str()) {
                        if !send(&mut ws, Message::text(reply)).await {
                            break None;
                        }
                    } else if write.write_all(&daemon::one_line(text.as_bytes())).await.is_err() {
                        break Some(close_frame(CLOSE_DAEMON_GONE, "zinit closed the connection"));
                    } else {
                        keepalive.reset();
                    }
                }
                Some(Ok(Message::Binary(_))) => {
                    break Some(close_frame(CLOSE_UNSUPPORTED, "send JSON-RPC as text messages"));
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break None,
            },
            line = lines.recv() => match line {
                // A client that stopped reading blocks this send; the
                // reader then overflows and `ended` breaks it off.
                Some(line) => tokio::select! {
                    sent = send(&mut ws, Message::text(line)) => if !sent {
                        break None;
                    },
                    why = &mut ended => break Some(close_for(why.ok())),
                },
                // The reader stopped; `ended` says why.
                None => break Some(close_for((&mut ended).await.ok())),
            },
            why = &mut ended => break Some(close_for(why.ok())),
            _ = keepalive.tick() => {
                if write.write_all(b"\n").await.is_err() {
                    break Some(close_frame(CLOSE_DAEMON_GONE, "zinit closed the connection"));
                }
            }
        }
    };
    reader.abort();
    drop(write);
    tracing::debug!(
        "WebSocket relay ends: {}",
        close
            .as_ref()
            .map_or("the client left", |f| f.reason.as_str())
    );
    if let Some(frame) = close {
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, ws.send(Message::Close(Some(frame)))).await;
    }
}

/// Send one message; false if the client is gone or does not take it
/// within [`SEND_TIMEOUT`].
async fn send(ws: &mut WebSocket, message: Message) -> bool {
    matches!(
        tokio::time::timeout(SEND_TIMEOUT, ws.send(message)).await,
        Ok(Ok(()))
    )
}

/// Read the daemon's lines into the queue until it closes or the queue is
/// full (the client is too slow), never waiting for the client.
async fn read_daemon(
    read: OwnedReadHalf,
    socket: PathBuf,
    lines: mpsc::Sender<String>,
    ended: oneshot::Sender<Ended>,
) {
    let mut reader = BufReader::new(read);
    let why = loop {
        match daemon::read_line(&mut reader, &socket).await {
            Ok(Some(line)) => {
                let text = String::from_utf8_lossy(&line).into_owned();
                if let Err(mpsc::error::TrySendError::Full(_)) = lines.try_send(text) {
                    break Ended::TooSlow;
                }
            }
            Ok(None) => break Ended::Daemon("zinit closed the connection".to_owned()),
            Err(e) => break Ended::Daemon(e.to_string()),
        }
    };
    if matches!(why, Ended::Daemon(_)) {
        // Let the client have what was queued before the close.
        let _ = lines.reserve_many(QUEUE_LINES).await;
    }
    let _ = ended.send(why);
}

fn close_for(why: Option<Ended>) -> CloseFrame {
    match why {
        Some(Ended::TooSlow) => close_frame(
            CLOSE_TOO_SLOW,
            "client too slow: more than 1024 messages waiting; reconnect and subscribe again",
        ),
        Some(Ended::Daemon(reason)) => close_frame(CLOSE_DAEMON_GONE, &reason),
        None => close_frame(CLOSE_DAEMON_GONE, "zinit closed the connection"),
    }
}

/// A close frame; the reason is cut to fit the 123 bytes a frame allows.
fn close_frame(code: u16, reason: &str) -> CloseFrame {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    CloseFrame {
        code,
        reason: Utf8Bytes::from(&reason[..end]),
    }
}

/// The answer the proxy gives by itself: -32700 for a message that is not
/// JSON (its line breaks could otherwise make it several requests).
fn local_answer(text: &str) -> Option<String> {
    match parse_frame(text) {
        Frame::Invalid(response) if matches!(&response.outcome, Err(e) if e.code == PARSE_ERROR) => {
            Some(response.to_line().trim_end().to_owned())
        }
        _ => None,
    }
}
