//! JSON-RPC 2.0 over the socket: one request (or batch) per line, one
//! response per line, many per connection, plus log subscriptions pushed
//! as notifications.

use super::lines::{read_line, LineError};
use super::{InFlight, MAX_REQUEST_LINE};
use crate::api::{Api, ApiError};
use crate::logs::{FollowItem, LogFrom};
use serde::Serialize;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::io::{AsyncBufRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use zinit_core::supervisor::ShutdownMode;
use zinit_proto::errors::RpcError;
use zinit_proto::jsonrpc::{
    batch_line, parse_frame, Frame, Method, Notification, Request, Response,
    LOG_SUBSCRIPTION_METHOD,
};

/// Pushed notifications waiting for the writer; a subscriber this far
/// behind loses lines (and is told how many).
const PUSH_QUEUE: usize = 1024;

static NEXT_SUBSCRIPTION: AtomicU64 = AtomicU64::new(1);

/// Serve a JSON-RPC connection whose first line is `first`.
pub async fn session<R, W>(
    mut reader: R,
    mut writer: W,
    api: &Api,
    in_flight: &InFlight,
    first: Vec<u8>,
) -> std::io::Result<()>
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let (push_tx, mut push_rx) = mpsc::channel::<String>(PUSH_QUEUE);
    let mut line = first;
    loop {
        if !line.iter().all(u8::is_ascii_whitespace) {
            let _guard = in_flight.begin();
            let text = String::from_utf8_lossy(&line);
            if let Some(reply) = answer_frame(api, &text, &push_tx).await {
                writer.write_all(reply.as_bytes()).await?;
                writer.flush().await?;
            }
        }
        // Wait for the next request, pushing notifications meanwhile.
        loop {
            tokio::select! {
                read = read_line(&mut reader, MAX_REQUEST_LINE, &mut line) => match read {
                    Ok(true) => break,
                    Ok(false) | Err(LineError::Io(_)) => return Ok(()),
                    Err(LineError::TooLong) => {
                        writer.write_all(too_long_reply().as_bytes()).await?;
                        // The stream cannot be resynchronised: close it.
                        return writer.shutdown().await;
                    }
                },
                Some(note) = push_rx.recv() => {
                    writer.write_all(note.as_bytes()).await?;
                    writer.flush().await?;
                }
            }
        }
    }
}

/// The answer to a request line over [`MAX_REQUEST_LINE`]: -32600 with a
/// null id (the request's own id was never read).
pub fn too_long_reply() -> String {
    let error =
        RpcError::invalid_request(format!("request line longer than {MAX_REQUEST_LINE} bytes"));
    Response::error(Value::Null, error).to_line()
}

/// The line to write for one received frame, if any.
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
    let outcome = match request.resolve() {
        Ok(method) => call(api, method, request, pushes).await,
        Err(e) => Err(e),
    };
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
            to_value(api.current_logs(filter))
        }
        Method::StreamSubscribeLogs => {
            let filter = p.optional_str(0, "name")?.map(str::to_owned);
            Ok(subscribe(api, filter, pushes.clone()))
        }
    }
}

/// Start pushing new log lines (optionally of one service) to this
/// connection; returns the subscription id.
fn subscribe(api: &Api, filter: Option<String>, pushes: mpsc::Sender<String>) -> Value {
    let id = NEXT_SUBSCRIPTION.fetch_add(1, Ordering::Relaxed);
    let mut follower = api.logs().follow(filter.map(Into::into), LogFrom::Now);
    tokio::spawn(async move {
        let push = |result: Value| {
            Notification::subscription(LOG_SUBSCRIPTION_METHOD, json!(id), result).to_line()
        };
        loop {
            for item in follower.next_batch(256).await {
                let note = match item {
                    FollowItem::Line(line) => push(json!(line.legacy_text())),
                    FollowItem::Gap { missed } => {
                        let missed = missed.map_or("some".to_owned(), |n| n.to_string());
                        push(json!(format!(
                            "[-] zinit: {missed} log lines dropped: subscriber too slow"
                        )))
                    }
                };
                // The connection is gone: end the subscription.
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
