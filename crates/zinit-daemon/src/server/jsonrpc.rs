//! JSON-RPC 2.0 over the socket: requests (or batches) framed by JSON
//! value, newline or not (see [`super::frames`]), one response per line,
//! many per connection, plus log subscriptions pushed as notifications.

use super::frames::{FrameError, Frames};
use super::slots::Slot;
use super::{write_within, InFlight, IDLE_TIMEOUT, MAX_REQUEST};
use crate::api::{log_item, Api, ApiError, LogFollow, LogQuery, Protocol};
use serde::Serialize;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use tokio::io::{AsyncBufRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use zinit_core::supervisor::ShutdownMode;
use zinit_proto::errors::RpcError;
use zinit_proto::jsonrpc::{
    batch_line, parse_frame, Frame, Method, Notification, Params, Request, Response,
    LOG_SUBSCRIPTION_METHOD,
};

/// Pushed notifications waiting for the writer; a subscriber this far
/// behind loses lines (and is told how many).
const PUSH_QUEUE: usize = 1024;

static NEXT_SUBSCRIPTION: AtomicU64 = AtomicU64::new(1);

/// Serve a JSON-RPC connection whose first request is `first`.
///
/// Between requests the connection is idle (see [`super::IDLE_TIMEOUT`])
/// unless it has a log subscription; then only a request it has begun
/// must complete in time.
pub async fn session<R, W>(
    mut frames: Frames<R>,
    mut writer: W,
    mut slot: Slot,
    api: &Api,
    in_flight: &InFlight,
    first: Vec<u8>,
) -> std::io::Result<()>
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let (push_tx, mut push_rx) = mpsc::channel::<String>(PUSH_QUEUE);
    let mut frame = first;
    loop {
        // An empty frame is a blank line between requests: a keep-alive.
        if !frame.is_empty() {
            let _guard = in_flight.begin();
            let text = String::from_utf8_lossy(&frame);
            if let Some(reply) = answer_frame(api, &text, &push_tx).await {
                write_within(&mut writer, reply.as_bytes()).await?;
            }
        }
        // Subscriptions hold the other senders until the connection ends.
        let streaming = push_tx.strong_count() > 1;
        if !streaming {
            slot.idle();
        }
        let waiting_since = Instant::now();
        // Wait for the next request, pushing notifications meanwhile.
        loop {
            let deadline = if streaming {
                frames.partial_since().map(|began| began + IDLE_TIMEOUT)
            } else {
                Some(waiting_since + IDLE_TIMEOUT)
            };
            let timer = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                // A request that is here is served before any close.
                biased;
                read = frames.next_frame() => match read {
                    Ok(Some(next)) => {
                        frame = next;
                        break;
                    }
                    Ok(None) | Err(FrameError::Io(_)) => return Ok(()),
                    Err(FrameError::TooLong) => {
                        write_within(&mut writer, too_long_reply().as_bytes()).await?;
                        // The stream cannot be resynchronised: close it.
                        return writer.shutdown().await;
                    }
                    Err(FrameError::OverBudget) => {
                        let error = RpcError::invalid_request(super::over_budget_message());
                        let reply = Response::error(Value::Null, error).to_line();
                        write_within(&mut writer, reply.as_bytes()).await?;
                        return writer.shutdown().await;
                    }
                },
                Some(note) = push_rx.recv() => {
                    write_within(&mut writer, note.as_bytes()).await?;
                }
                // Idle or trickling too long, or closed to make room.
                () = timer => return Ok(()),
                () = slot.evicted(), if !streaming => return Ok(()),
            }
        }
        slot.busy();
    }
}

/// The answer to a request over [`MAX_REQUEST`]: -32600 with a null id
/// (the request's own id was never read).
pub fn too_long_reply() -> String {
    let error = RpcError::invalid_request(format!("request longer than {MAX_REQUEST} bytes"));
    Response::error(Value::Null, error).to_line()
}

/// The line to write for one received request or batch, if any.
async fn answer_frame(api: &Api, text: &str, pushes: &mpsc::Sender<String>) -> Option<String> {
    match parse_frame(text) {
        Frame::Invalid(response) => Some(response.to_line()),
        Frame::Single(Err(response)) => Some(response.to_line()),
        Frame::Single(Ok(request)) => answer(api, &request, pushes).await.map(|r| r.to_line()),
        Frame::Batch(items) => {
            let mut responses = Vec::new();
            for item in items {
                match item {
                    Err(response) => responses.push(response),
                    Ok(request) => responses.extend(answer(api, &request, pushes).await),
                }
            }
            batch_line(&responses)
        }
    }
}

async fn answer(api: &Api, request: &Request, pushes: &mpsc::Sender<String>) -> Option<Response> {
    let (label, outcome) = match request.resolve() {
        Ok(method) => (
            method.canonical_name(),
            call(api, method, request, pushes).await,
        ),
        // Never a client's string as a label: the table must stay small.
        Err(e) => ("unknown", Err(e)),
    };
    let error = outcome.as_ref().err().map(|e| e.code);
    api.rpc_counters().record(Protocol::JsonRpc, label, error);
    request.respond(outcome)
}

/// Dispatch one method to the API.
async fn call(
    api: &Api,
    method: Method,
    request: &Request,
    pushes: &mpsc::Sender<String>,
) -> Result<Value, RpcError> {
    let p = &request.params;
    let name = || p.required_str(0, "name");
    match method {
        Method::RpcDiscover => Ok(zinit_proto::openrpc::document()),
        Method::ServiceList => to_value(api.list()),
        Method::ServiceStatus => wire(api.status(name()?)),
        Method::ServiceStart => null(api.start(name()?).await),
        Method::ServiceStop => null(api.stop(name()?).await),
        Method::ServiceRestart => null(api.restart(name()?).await),
        Method::ServiceMonitor => null(api.monitor(name()?).await),
        Method::ServiceForget => null(api.forget(name()?).await),
        Method::ServiceKill => {
            let signal = p.optional_str(1, "signal")?.unwrap_or("SIGTERM");
            null(api.kill(name()?, signal).await)
        }
        Method::ServiceCreate => {
            let content = p.required_value(1, "content")?.clone();
            wire(api.create(name()?, content).await)
        }
        Method::ServiceDelete => wire(api.delete(name()?).await),
        Method::ServiceGet => wire(api.get(name()?).await),
        Method::ServiceStats => wire(api.stats(name()?).await),
        Method::SystemShutdown => null(api.shutdown(ShutdownMode::PowerOff).await),
        Method::SystemReboot => null(api.shutdown(ShutdownMode::Reboot).await),
        Method::SystemStartHttpServer => {
            let address = p.required_str(0, "address")?;
            wire(api.start_http_server(address).await)
        }
        Method::SystemStopHttpServer => null(api.stop_http_server().await),
        Method::StreamCurrentLogs => {
            let filter = p.optional_str(0, "name")?;
            wire(api.current_logs(filter))
        }
        Method::StreamSubscribeLogs => {
            let query = LogQuery {
                name: p.optional_str(0, "name")?.map(str::to_owned),
                ..LogQuery::default()
            };
            let follow = api.follow_logs(&query).map_err(|e| e.to_rpc())?;
            Ok(subscribe(follow, Pushed::LegacyText, pushes.clone()))
        }
        Method::StreamReadLogs => wire(api.read_logs(&log_query(p)?)),
        Method::StreamFollowLogs => {
            let follow = api.follow_logs(&log_query(p)?).map_err(|e| e.to_rpc())?;
            Ok(subscribe(follow, Pushed::Records, pushes.clone()))
        }
        Method::ServiceWhy => wire(api.why(name()?)),
        Method::SystemMetrics => wire(api.metrics().await),
    }
}

/// The `name`, `after_seq`, `last` and `since` params of a log method.
fn log_query(p: &Params) -> Result<LogQuery, RpcError> {
    Ok(LogQuery {
        name: p.optional_str(0, "name")?.map(str::to_owned),
        after_seq: p.optional_u64(1, "after_seq")?,
        last: p.optional_u64(2, "last")?,
        since: p.optional_str(3, "since")?.map(str::to_owned),
    })
}

/// What a log subscription pushes.
#[derive(Clone, Copy)]
enum Pushed {
    /// `stream_subscribeLogs`: legacy text lines (`[+] NAME: text`).
    LegacyText,
    /// `stream_followLogs`: records with seq and time, and gap items.
    Records,
}

/// Push what `follow` yields to this connection as notifications until the
/// connection closes; returns the subscription id.
fn subscribe(mut follow: LogFollow, pushed: Pushed, pushes: mpsc::Sender<String>) -> Value {
    let id = NEXT_SUBSCRIPTION.fetch_add(1, Ordering::Relaxed);
    let method = match pushed {
        Pushed::LegacyText => LOG_SUBSCRIPTION_METHOD,
        Pushed::Records => Method::StreamFollowLogs.canonical_name(),
    };
    tokio::spawn(async move {
        loop {
            let items = tokio::select! {
                items = follow.next_batch() => items,
                // The connection is gone: end the subscription.
                () = pushes.closed() => return,
            };
            for item in &items {
                let item = log_item(item);
                let result = match pushed {
                    Pushed::LegacyText => json!(item.legacy_text()),
                    Pushed::Records => json!(item),
                };
                let note = Notification::subscription(method, json!(id), result).to_line();
                // A full queue waits here, and the follower falls behind:
                // the lines it then misses come back as a counted gap.
                if pushes.send(note).await.is_err() {
                    return;
                }
            }
        }
    });
    json!(id)
}

fn to_value<T: Serialize>(value: T) -> Result<Value, RpcError> {
    serde_json::to_value(value).map_err(|e| RpcError::internal(e.to_string()))
}

fn wire<T: Serialize>(result: Result<T, ApiError>) -> Result<Value, RpcError> {
    result.map_err(|e| e.to_rpc()).and_then(to_value)
}

fn null(result: Result<(), ApiError>) -> Result<Value, RpcError> {
    result.map(|()| Value::Null).map_err(|e| e.to_rpc())
}
