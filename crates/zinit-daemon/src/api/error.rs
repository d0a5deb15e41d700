//! API errors and the ONE table that maps domain refusals to wire codes.

use std::fmt;
use zinit_core::name::{NameError, ServiceName};
use zinit_core::supervisor::CommandError;
use zinit_proto::errors::{ErrorCode, RpcError};

/// What class of error, for mapping to the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    App(ErrorCode),
    /// Bad input that is not about a service (e.g. an invalid name): -32602.
    InvalidParams,
    Internal,
}

/// An error from an API operation, with a human message that names what
/// is wrong.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
    pub service: Option<String>,
    pub action: &'static str,
}

impl ApiError {
    pub fn app(
        code: ErrorCode,
        message: String,
        service: Option<&ServiceName>,
        action: &'static str,
    ) -> ApiError {
        ApiError {
            kind: ErrorKind::App(code),
            message,
            service: service.map(ToString::to_string),
            action,
        }
    }

    /// The supervisor refused a command; its message keeps the phrases that
    /// deployed clients match.
    pub fn refused(refusal: CommandError, action: &'static str) -> ApiError {
        let (code, service) = match &refusal {
            CommandError::NotFound(n) => (ErrorCode::ServiceNotFound, Some(n)),
            CommandError::AlreadyMonitored(n) => (ErrorCode::ServiceAlreadyMonitored, Some(n)),
            CommandError::IsUp(n) => (ErrorCode::ServiceIsUp, Some(n)),
            CommandError::IsDown(n) => (ErrorCode::ServiceIsDown, Some(n)),
            CommandError::ShuttingDown => (ErrorCode::ShuttingDown, None),
        };
        ApiError::app(code, refusal.to_string(), service, action)
    }

    /// Name `name` as the service this error is about, unless it names one
    /// already (a shutdown refusal names none, but the request did).
    pub fn about(mut self, name: &ServiceName) -> ApiError {
        if self.service.is_none() {
            self.service = Some(name.to_string());
        }
        self
    }

    pub fn not_found(name: &ServiceName, action: &'static str) -> ApiError {
        ApiError::refused(CommandError::NotFound(name.clone()), action)
    }

    pub fn invalid_name(raw: &str, why: NameError, action: &'static str) -> ApiError {
        let shown: String = raw.chars().take(64).collect();
        ApiError {
            kind: ErrorKind::InvalidParams,
            message: format!("invalid service name {shown:?}: {why}"),
            service: None,
            action,
        }
    }

    pub fn internal(message: String) -> ApiError {
        ApiError {
            kind: ErrorKind::Internal,
            message,
            service: None,
            action: "internal",
        }
    }

    /// The JSON-RPC error object for this error.
    pub fn to_rpc(&self) -> RpcError {
        match self.kind {
            ErrorKind::App(code) => {
                RpcError::app(code, &self.message, self.service.as_deref(), self.action)
            }
            ErrorKind::InvalidParams => RpcError::invalid_params(&self.message),
            ErrorKind::Internal => RpcError::internal(&self.message),
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiError {}
