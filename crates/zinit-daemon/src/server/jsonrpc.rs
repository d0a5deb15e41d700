//! JSON-RPC 2.0 over the socket: requests (or batches) framed by JSON
//! value, newline or not (see [`super::frames`]), one response per line,
//! many per connection, plus log subscriptions pushed as notifications.

use super::frames::{FrameError, Frames};
use super::slots::Slot;
use super::{write_within, InFlight, IDLE_TIMEOUT, MAX_REQUEST};
use crate::api::{log_item, Api, ApiError, LogFollow, LogQuery, Protocol};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use tokio::io::{AsyncBufRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
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

/// A notification waiting to be written, with the subscription it is for.
type Push = (u64, String);

/// The log subscriptions of one connection, by id.
#[derive(Default)]
struct Subscriptions {
    tasks: HashMap<u64, AbortHandle>,
}

impl Subscriptions {
    fn add(&mut self, id: u64, task: AbortHandle) {
        self.tasks.insert(id, task);
    }

    /// End subscription `id`; false if this connection holds none so
    /// called. Its notifications still queued are never written.
    fn end(&mut self, id: u64) -> bool {
        self.tasks.remove(&id).inspect(AbortHandle::abort).is_some()
    }

    fn holds(&self, id: u64) -> bool {
        self.tasks.contains_key(&id)
    }

    fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }
}

impl Drop for Subscriptions {
    fn drop(&mut self) {
        for task in self.tasks.values() {
            task.abort();
        }
    }
}

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
    let (push_tx, mut push_rx) = mpsc::channel::<Push>(PUSH_QUEUE);
    let mut subscriptions = Subscriptions::default();
    let mut frame = first;
    loop {
        // An empty frame is a blank line between requests: a keep-alive.
        if !frame.is_empty() {
            let _guard = in_flight.begin();
            let text = String::from_utf8_lossy(&frame);
            let mut session = Session {
                api,
                pushes: &push_tx,
                subscriptions: &mut subscriptions,
            };
            if let Some(reply) = session.answer_frame(&text).await {
                write_within(&mut writer, reply.as_bytes()).await?;
            }
        }
        let streaming = !subscriptions.is_empty();
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
                Some((subscription, note)) = push_rx.recv() => {
                    // Nothing of a subscription after its unsubscribe reply.
                    if subscriptions.holds(subscription) {
                        write_within(&mut writer, note.as_bytes()).await?;
                    }
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

/// What answering a request may touch: the API, and this connection's
/// subscriptions and push queue.
struct Session<'a> {
    api: &'a Api,
    pushes: &'a mpsc::Sender<Push>,
    subscriptions: &'a mut Subscriptions,
}

impl Session<'_> {
    /// The line to write for one received request or batch, if any.
    async fn answer_frame(&mut self, text: &str) -> Option<String> {
        match parse_frame(text) {
            Frame::Invalid(response) => Some(response.to_line()),
            Frame::Single(Err(response)) => Some(response.to_line()),
            Frame::Single(Ok(request)) => self.answer(&request).await.map(|r| r.to_line()),
            Frame::Batch(items) => {
                let mut responses = Vec::new();
                for item in items {
                    match item {
                        Err(response) => responses.push(response),
                        Ok(request) => responses.extend(self.answer(&request).await),
                    }
                }
                batch_line(&responses)
            }
        }
    }

    async fn answer(&mut self, request: &Request) -> Option<Response> {
        let (label, outcome) = match request.resolve() {
            Ok(method) => (method.canonical_name(), self.call(method, request).await),
            // Never a client's string as a label: the table must stay small.
            Err(e) => ("unknown", Err(e)),
        };
        let error = outcome.as_ref().err().map(|e| e.code);
        self.api
            .rpc_counters()
            .record(Protocol::JsonRpc, label, error);
        request.respond(outcome)
    }

    /// Dispatch one method to the API.
    async fn call(&mut self, method: Method, request: &Request) -> Result<Value, RpcError> {
        let api = self.api;
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
                // Upstream's server calls the parameter `filter`.
                let name = match p.optional_str(0, "name")? {
                    Some(name) => Some(name),
                    None => p.optional_str(0, "filter")?,
                };
                let query = LogQuery {
                    name: name.map(str::to_owned),
                    ..LogQuery::default()
                };
                let follow = api.follow_logs(&query).map_err(|e| e.to_rpc())?;
                Ok(self.subscribe(follow, Pushed::LegacyText))
            }
            Method::StreamUnsubscribeLogs => {
                let id = p.required_value(0, "subscription")?;
                Ok(json!(
                    subscription_id(id).is_some_and(|id| self.subscriptions.end(id))
                ))
            }
            Method::StreamReadLogs => wire(api.read_logs(&log_query(p)?)),
            Method::StreamFollowLogs => {
                let follow = api.follow_logs(&log_query(p)?).map_err(|e| e.to_rpc())?;
                Ok(self.subscribe(follow, Pushed::Records))
            }
            Method::ServiceWhy => wire(api.why(name()?)),
            Method::SystemMetrics => wire(api.metrics().await),
        }
    }

    /// Push what `follow` yields to this connection as notifications until
    /// it is unsubscribed or the connection closes; returns the id.
    fn subscribe(&mut self, follow: LogFollow, pushed: Pushed) -> Value {
        let id = NEXT_SUBSCRIPTION.fetch_add(1, Ordering::Relaxed);
        let task = tokio::spawn(push_logs(follow, pushed, id, self.pushes.clone()));
        self.subscriptions.add(id, task.abort_handle());
        json!(id)
    }
}

/// A subscription id as a client sends it back: the number we gave, or
/// that number as a string (jsonrpsee accepts either form).
fn subscription_id(id: &Value) -> Option<u64> {
    match id {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
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

/// Push what `follow` yields as notifications of subscription `id` until
/// the task is aborted (unsubscribed) or the connection closes.
async fn push_logs(mut follow: LogFollow, pushed: Pushed, id: u64, pushes: mpsc::Sender<Push>) {
    let method = match pushed {
        Pushed::LegacyText => LOG_SUBSCRIPTION_METHOD,
        Pushed::Records => Method::StreamFollowLogs.canonical_name(),
    };
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
            if pushes.send((id, note)).await.is_err() {
                return;
            }
        }
    }
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
