//! The one table of error codes: JSON-RPC standard codes and zinit's
//! application codes (-32000 ..= -32011), their names, and the wire error
//! object [`RpcError`].
//!
//! The daemon maps its domain errors onto [`ErrorCode`] here and nowhere
//! else; clients map codes back with [`ErrorCode::from_code`]. This module
//! must not know about services, processes or the supervisor: it is only
//! the wire vocabulary.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::fmt;

/// Invalid JSON was received.
pub const PARSE_ERROR: i64 = -32700;
/// The JSON sent is not a valid request object.
pub const INVALID_REQUEST: i64 = -32600;
/// The method does not exist.
pub const METHOD_NOT_FOUND: i64 = -32601;
/// Invalid method parameters (missing, mistyped, too many, unknown, or a
/// service name that could leave the config directory).
pub const INVALID_PARAMS: i64 = -32602;
/// Internal JSON-RPC error.
pub const INTERNAL_ERROR: i64 = -32603;

/// Application errors, with the codes deployed clients know (compat.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    ServiceNotFound,
    ServiceAlreadyMonitored,
    ServiceIsUp,
    ServiceIsDown,
    InvalidSignal,
    ConfigError,
    ShuttingDown,
    ServiceAlreadyExists,
    ServiceFileError,
    InvalidStateTransition,
    DependencyError,
    ProcessError,
}

impl ErrorCode {
    /// Every application error, in code order (-32000 first).
    pub const ALL: [ErrorCode; 12] = [
        ErrorCode::ServiceNotFound,
        ErrorCode::ServiceAlreadyMonitored,
        ErrorCode::ServiceIsUp,
        ErrorCode::ServiceIsDown,
        ErrorCode::InvalidSignal,
        ErrorCode::ConfigError,
        ErrorCode::ShuttingDown,
        ErrorCode::ServiceAlreadyExists,
        ErrorCode::ServiceFileError,
        ErrorCode::InvalidStateTransition,
        ErrorCode::DependencyError,
        ErrorCode::ProcessError,
    ];

    /// The numeric JSON-RPC error code.
    pub fn code(self) -> i64 {
        match self {
            ErrorCode::ServiceNotFound => -32000,
            ErrorCode::ServiceAlreadyMonitored => -32001,
            ErrorCode::ServiceIsUp => -32002,
            ErrorCode::ServiceIsDown => -32003,
            ErrorCode::InvalidSignal => -32004,
            ErrorCode::ConfigError => -32005,
            ErrorCode::ShuttingDown => -32006,
            ErrorCode::ServiceAlreadyExists => -32007,
            ErrorCode::ServiceFileError => -32008,
            ErrorCode::InvalidStateTransition => -32009,
            ErrorCode::DependencyError => -32010,
            ErrorCode::ProcessError => -32011,
        }
    }

    /// The name sent as `data.code_name`.
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::ServiceNotFound => "ServiceNotFound",
            ErrorCode::ServiceAlreadyMonitored => "ServiceAlreadyMonitored",
            ErrorCode::ServiceIsUp => "ServiceIsUp",
            ErrorCode::ServiceIsDown => "ServiceIsDown",
            ErrorCode::InvalidSignal => "InvalidSignal",
            ErrorCode::ConfigError => "ConfigError",
            ErrorCode::ShuttingDown => "ShuttingDown",
            ErrorCode::ServiceAlreadyExists => "ServiceAlreadyExists",
            ErrorCode::ServiceFileError => "ServiceFileError",
            ErrorCode::InvalidStateTransition => "InvalidStateTransition",
            ErrorCode::DependencyError => "DependencyError",
            ErrorCode::ProcessError => "ProcessError",
        }
    }

    /// A short generic description (used in the OpenRPC document).
    pub fn summary(self) -> &'static str {
        match self {
            ErrorCode::ServiceNotFound => "service not found",
            ErrorCode::ServiceAlreadyMonitored => "service already monitored",
            ErrorCode::ServiceIsUp => "service is up",
            ErrorCode::ServiceIsDown => "service is down",
            ErrorCode::InvalidSignal => "invalid signal",
            ErrorCode::ConfigError => "config error",
            ErrorCode::ShuttingDown => "shutting down",
            ErrorCode::ServiceAlreadyExists => "service already exists",
            ErrorCode::ServiceFileError => "service file error",
            ErrorCode::InvalidStateTransition => "invalid state transition",
            ErrorCode::DependencyError => "dependency error",
            ErrorCode::ProcessError => "process error",
        }
    }

    /// The application error with this numeric code, if any.
    pub fn from_code(code: i64) -> Option<Self> {
        ErrorCode::ALL.into_iter().find(|c| c.code() == code)
    }

    /// The application error with this name (as in `data.code_name`).
    pub fn from_name(name: &str) -> Option<Self> {
        ErrorCode::ALL.into_iter().find(|c| c.name() == name)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.code())
    }
}

/// The JSON-RPC 2.0 error object: `{"code":..,"message":..,"data":..}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl RpcError {
    /// An error with an arbitrary code and no data.
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        RpcError {
            code,
            message: message.into(),
            data: None,
        }
    }

    /// An application error; `data` is
    /// `{"code_name": .., "service": <name or null>, "action": ..}`.
    pub fn app(
        code: ErrorCode,
        message: impl Into<String>,
        service: Option<&str>,
        action: &str,
    ) -> Self {
        RpcError {
            code: code.code(),
            message: message.into(),
            data: Some(json!({
                "code_name": code.name(),
                "service": service,
                "action": action,
            })),
        }
    }

    /// -32700: the text was not JSON.
    pub fn parse_error(detail: impl fmt::Display) -> Self {
        RpcError::new(PARSE_ERROR, format!("parse error: {detail}"))
    }

    /// -32600: JSON, but not a valid request object.
    pub fn invalid_request(detail: impl fmt::Display) -> Self {
        RpcError::new(INVALID_REQUEST, format!("invalid request: {detail}"))
    }

    /// -32601: no such method; the message names it.
    pub fn method_not_found(method: &str) -> Self {
        RpcError::new(METHOD_NOT_FOUND, format!("method not found: {method:?}"))
    }

    /// -32602: missing, mistyped, extra or unacceptable params.
    pub fn invalid_params(detail: impl fmt::Display) -> Self {
        RpcError::new(INVALID_PARAMS, format!("invalid params: {detail}"))
    }

    /// -32603: the server failed for a reason the caller cannot fix.
    pub fn internal(detail: impl fmt::Display) -> Self {
        RpcError::new(INTERNAL_ERROR, format!("internal error: {detail}"))
    }

    /// Replaces `data`.
    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }

    /// The application error this is, when its code is one of ours.
    pub fn error_code(&self) -> Option<ErrorCode> {
        ErrorCode::from_code(self.code)
    }

    /// `data.service`, when present and a string.
    pub fn service(&self) -> Option<&str> {
        self.data_str("service")
    }

    /// `data.action`, when present and a string.
    pub fn action(&self) -> Option<&str> {
        self.data_str("action")
    }

    fn data_str(&self, key: &str) -> Option<&str> {
        self.data.as_ref()?.get(key)?.as_str()
    }
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RpcError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_contiguous_and_round_trip() {
        for (i, code) in ErrorCode::ALL.into_iter().enumerate() {
            assert_eq!(code.code(), -32000 - i as i64);
            assert_eq!(ErrorCode::from_code(code.code()), Some(code));
            assert_eq!(ErrorCode::from_name(code.name()), Some(code));
            assert_eq!(format!("{code:?}"), code.name());
        }
        assert_eq!(ErrorCode::from_code(-32012), None);
        assert_eq!(ErrorCode::from_code(METHOD_NOT_FOUND), None);
    }

    #[test]
    fn compat_table() {
        let expected = [
            (-32000, "ServiceNotFound"),
            (-32001, "ServiceAlreadyMonitored"),
            (-32002, "ServiceIsUp"),
            (-32003, "ServiceIsDown"),
            (-32004, "InvalidSignal"),
            (-32005, "ConfigError"),
            (-32006, "ShuttingDown"),
            (-32007, "ServiceAlreadyExists"),
            (-32008, "ServiceFileError"),
            (-32009, "InvalidStateTransition"),
            (-32010, "DependencyError"),
            (-32011, "ProcessError"),
        ];
        for (code, name) in expected {
            assert_eq!(ErrorCode::from_code(code).map(ErrorCode::name), Some(name));
        }
    }

    #[test]
    fn app_error_serialises_with_data() {
        let err = RpcError::app(
            ErrorCode::ServiceNotFound,
            "service name \"redis\" unknown",
            Some("redis"),
            "status",
        );
        let text = serde_json::to_string(&err).unwrap();
        assert_eq!(
            text,
            r#"{"code":-32000,"message":"service name \"redis\" unknown","data":{"action":"status","code_name":"ServiceNotFound","service":"redis"}}"#
        );
        let back: RpcError = serde_json::from_str(&text).unwrap();
        assert_eq!(back, err);
        assert_eq!(back.error_code(), Some(ErrorCode::ServiceNotFound));
        assert_eq!(back.service(), Some("redis"));
        assert_eq!(back.action(), Some("status"));
        assert_eq!(back.to_string(), "service name \"redis\" unknown");
    }

    #[test]
    fn app_error_without_service_has_null_service() {
        let err = RpcError::app(ErrorCode::ShuttingDown, "shutting down", None, "start");
        let data = err.data.unwrap();
        assert_eq!(data["service"], Value::Null);
        assert_eq!(data["code_name"], "ShuttingDown");
    }

    #[test]
    fn standard_errors() {
        assert_eq!(RpcError::parse_error("x").code, -32700);
        assert_eq!(RpcError::invalid_request("x").code, -32600);
        let nf = RpcError::method_not_found("nope");
        assert_eq!(nf.code, -32601);
        assert!(nf.message.contains("\"nope\""));
        assert_eq!(RpcError::invalid_params("x").code, -32602);
        assert_eq!(RpcError::internal("x").code, -32603);
        // No data member at all when there is none.
        let text = serde_json::to_string(&RpcError::invalid_params("x")).unwrap();
        assert!(!text.contains("data"), "{text}");
        assert_eq!(RpcError::internal("x").error_code(), None);
    }
}
