//! The proxy's errors: why it could not start (with the exit code each
//! deserves), and the HTTP answers for refused requests. Every refusal
//! carries a JSON-RPC error object, so a JSON-RPC client always has a
//! message to show.
//!
//! Must not: decide when to refuse (that is `guard` and `forward`).

use crate::config::ConfigError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::net::SocketAddr;
use zinit_proto::errors::{RpcError, INTERNAL_ERROR, INVALID_REQUEST};

/// Exit status for a configuration the proxy refuses.
pub const EXIT_CONFIG: u8 = 2;
/// Exit status for a failure to start or serve.
pub const EXIT_FAILED: u8 = 1;

/// Why [`crate::serve`] returned an error.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: SocketAddr,
        source: std::io::Error,
    },
}

impl ProxyError {
    /// 2 for a refused configuration, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            ProxyError::Config(_) => EXIT_CONFIG,
            ProxyError::Bind { .. } => EXIT_FAILED,
        }
    }
}

/// An HTTP refusal with a JSON-RPC error body (`id` null).
pub fn refusal(status: StatusCode, message: impl std::fmt::Display) -> Response {
    let code = if status.is_server_error() {
        INTERNAL_ERROR
    } else {
        INVALID_REQUEST
    };
    json_body(status, &RpcError::new(code, message.to_string()))
}

/// `status` with a JSON-RPC error response for `error` as the body.
pub fn json_body(status: StatusCode, error: &RpcError) -> Response {
    let line = zinit_proto::jsonrpc::Response::error(Value::Null, error.clone()).to_line();
    json_line(status, line)
}

/// `status` with `line` (compact JSON) as an `application/json` body.
pub fn json_line(status: StatusCode, line: impl Into<axum::body::Body>) -> Response {
    let mut response = (status, line.into()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
