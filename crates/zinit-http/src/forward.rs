//! `POST /`: one JSON-RPC frame (a request, a notification or a batch) in
//! the body, forwarded as one line on a fresh socket connection; the
//! daemon's one answer line comes back as the HTTP body.
//!
//! The proxy answers by itself only what the daemon cannot be asked or
//! would answer the same way: a body that is not JSON (-32700, HTTP 200,
//! as the socket does) or JSON that is neither an object nor an array
//! (-32600; forwarded, it would be taken for a line-protocol command), a
//! wrong content type (415), a body too large (413) or too slow (408), and
//! a daemon that cannot be reached (503). A frame of
//! notifications only gets no answer from the daemon, so none is awaited:
//! HTTP 204.
//!
//! Must not: dispatch or rewrite requests; the daemon is the one place
//! that answers them.

use crate::config::ProxyConfig;
use crate::daemon::{self, DaemonError};
use crate::error::{json_body, json_line, refusal};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncWriteExt, BufReader};
use zinit_proto::errors::RpcError;
use zinit_proto::jsonrpc::{parse_frame, Frame};

/// How long a client may take to send its body once the headers are in.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the daemon may take to answer (a restart waits for the stop,
/// which may take a service's whole `shutdown_timeout`).
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(300);

/// The handler for `POST /`.
pub async fn post(State(config): State<Arc<ProxyConfig>>, request: Request) -> Response {
    if !is_json(request.headers()) {
        return refusal(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send JSON-RPC with Content-Type: application/json",
        );
    }
    if declared_length(request.headers()).is_some_and(|n| n > config.max_body as u64) {
        return too_large(config.max_body);
    }
    let body = match read_body(request.into_body(), config.max_body).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    let expects_answer = match std::str::from_utf8(&body).map(parse_frame) {
        Err(e) => return parse_error(e),
        // Not JSON, or JSON that is neither an object nor an array (which
        // the socket would even take for a line-protocol command).
        Ok(Frame::Invalid(response)) => return json_line(StatusCode::OK, response.to_line()),
        Ok(frame) => expects_answer(&frame),
    };
    match exchange(&config, &body, expects_answer).await {
        Ok(Some(mut line)) => {
            line.push(b'\n');
            json_line(StatusCode::OK, line)
        }
        Ok(None) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => daemon_failure(&e),
    }
}

/// The `Content-Length` the client announced, if any (a body without one
/// is still limited while it is read).
fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

fn too_large(max: usize) -> Response {
    refusal(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("request body larger than {max} bytes"),
    )
}

/// `application/json`, with or without parameters such as a charset.
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

/// The whole body, at most `max` bytes, within [`BODY_TIMEOUT`].
async fn read_body(body: Body, max: usize) -> Result<Vec<u8>, Response> {
    let collected = tokio::time::timeout(BODY_TIMEOUT, Limited::new(body, max).collect()).await;
    match collected {
        Err(_) => Err(refusal(
            StatusCode::REQUEST_TIMEOUT,
            format!("request body not received within {BODY_TIMEOUT:?}"),
        )),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large(max)),
        Ok(Err(e)) => Err(refusal(
            StatusCode::BAD_REQUEST,
            format!("cannot read request body: {e}"),
        )),
        Ok(Ok(collected)) => Ok(collected.to_bytes().to_vec()),
    }
}

/// Invalid UTF-8 is invalid JSON: the socket's answer, given here.
fn parse_error(e: std::str::Utf8Error) -> Response {
    let response = zinit_proto::jsonrpc::Response::error(
        serde_json::Value::Null,
        RpcError::parse_error(format!("request is not UTF-8: {e}")),
    );
    json_line(StatusCode::OK, response.to_line())
}

/// Whether the daemon will write an answer line for this frame: anything
/// but a notification, or a batch of notifications only, is answered
/// (invalid requests too, with errors).
fn expects_answer(frame: &Frame) -> bool {
    match frame {
        Frame::Invalid(_) => true,
        Frame::Single(Err(_)) => true,
        Frame::Single(Ok(request)) => !request.is_notification(),
        Frame::Batch(items) => items
            .iter()
            .any(|item| item.as_ref().map_or(true, |r| !r.is_notification())),
    }
}

/// Send `body` as one line on a fresh connection; the answer line, if one
/// is expected.
async fn exchange(
    config: &ProxyConfig,
    body: &[u8],
    expects_answer: bool,
) -> Result<Option<Vec<u8>>, DaemonError> {
    let socket = &config.socket;
    let io = |source| DaemonError::Io {
        socket: socket.display().to_string(),
        source,
    };
    let stream = daemon::connect(socket).await?;
    let (read, mut write) = stream.into_split();
    write.write_all(&daemon::one_line(body)).await.map_err(io)?;
    write.flush().await.map_err(io)?;
    if !expects_answer {
        // The daemon reads the line before it sees the end of the stream.
        let _ = write.shutdown().await;
        return Ok(None);
    }
    let mut reader = BufReader::new(read);
    let answer = tokio::time::timeout(ANSWER_TIMEOUT, daemon::read_line(&mut reader, socket))
        .await
        .map_err(|_| {
            io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer within {ANSWER_TIMEOUT:?}"),
            ))
        })??;
    match answer {
        Some(line) => Ok(Some(line)),
        None => Err(DaemonError::NoAnswer {
            socket: socket.display().to_string(),
        }),
    }
}

/// 503 when the daemon cannot be reached, 502 when it broke off, 504 when
/// it took too long; always with a JSON-RPC -32603 body naming the socket.
fn daemon_failure(e: &DaemonError) -> Response {
    let status = match e {
        DaemonError::Unreachable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        DaemonError::Io { source, .. } if source.kind() == std::io::ErrorKind::TimedOut => {
            StatusCode::GATEWAY_TIMEOUT
        }
        DaemonError::NoAnswer { .. } | DaemonError::Io { .. } | DaemonError::TooLong { .. } => {
            StatusCode::BAD_GATEWAY
        }
    };
    tracing::warn!("{e}");
    json_body(status, &RpcError::internal(e))
}
