//! Typed client errors: unreachable daemon, refusals from the daemon (with
//! their wire code mapped back to [`ErrorCode`]), protocol violations and
//! I/O failures mid-conversation.

use std::io;
use std::path::PathBuf;
use zinit_proto::errors::{ErrorCode, RpcError, INTERNAL_ERROR};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Connecting to the socket failed: the daemon is not running, or the
    /// path or permissions are wrong.
    #[error("zinit is not running: cannot connect to {}: {source}", socket.display())]
    Unreachable { socket: PathBuf, source: io::Error },
    /// The daemon answered with an error; the message is the daemon's.
    #[error("{0}")]
    Rpc(RpcError),
    /// The daemon's answer did not follow the protocol.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// Reading or writing failed after the connection was made.
    #[error("i/o error talking to zinit: {0}")]
    Io(#[from] io::Error),
}

impl ClientError {
    /// The application error code, when the daemon refused with one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Rpc(error) => error.error_code(),
            _ => None,
        }
    }

    /// The daemon's error object, when it refused.
    pub fn rpc(&self) -> Option<&RpcError> {
        match self {
            ClientError::Rpc(error) => Some(error),
            _ => None,
        }
    }

    /// Whether the daemon could not be reached at all.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, ClientError::Unreachable { .. })
    }
}

/// Maps a legacy-protocol error message to an [`RpcError`], recognising the
/// phrases compat.md fixes (the legacy protocol carries no codes).
pub(crate) fn from_legacy_message(message: String) -> RpcError {
    let code = if message.contains("shutting down") {
        Some(ErrorCode::ShuttingDown)
    } else if message.contains("unknown") && message.contains("service") {
        Some(ErrorCode::ServiceNotFound)
    } else if message.contains("already monitored") {
        Some(ErrorCode::ServiceAlreadyMonitored)
    } else if message.contains("is up") {
        Some(ErrorCode::ServiceIsUp)
    } else if message.contains("is down") {
        Some(ErrorCode::ServiceIsDown)
    } else {
        None
    };
    RpcError::new(code.map_or(INTERNAL_ERROR, ErrorCode::code), message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreachable_names_the_socket() {
        let err = ClientError::Unreachable {
            socket: PathBuf::from("/run/x.sock"),
            source: io::Error::from(io::ErrorKind::NotFound),
        };
        assert!(err
            .to_string()
            .starts_with("zinit is not running: cannot connect to /run/x.sock: "));
        assert!(err.is_unreachable());
        assert_eq!(err.code(), None);
    }

    #[test]
    fn legacy_messages_map_to_codes() {
        let code = |m: &str| from_legacy_message(m.to_string()).error_code();
        assert_eq!(
            code("zinit is shutting down"),
            Some(ErrorCode::ShuttingDown)
        );
        assert_eq!(
            code("service name \"a\" unknown"),
            Some(ErrorCode::ServiceNotFound)
        );
        assert_eq!(code("something else"), None);
        assert_eq!(from_legacy_message("x".into()).message, "x");
    }
}
