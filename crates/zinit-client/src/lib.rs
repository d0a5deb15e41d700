//! Async client for zinit's control socket, used by the `zinit` CLI.
//!
//! Every call opens one connection, writes one newline-delimited JSON-RPC
//! 2.0 request, reads one response line and closes; logs use the legacy
//! `log` command, whose answer is a stream of text lines. Errors are typed
//! ([`ClientError`]), and daemon refusals keep their code and data.
//!
//! This crate depends only on the wire formats in `zinit-proto`; it must
//! not know the daemon's internals.

mod error;
mod follow;
mod logs;

pub use error::ClientError;
pub use follow::{LogFollow, LogQuery};
pub use logs::{log_line_service, LogLines};
pub use zinit_proto::errors::{ErrorCode, RpcError};
pub use zinit_proto::jsonrpc::Method;
pub use zinit_proto::observe::{LogItem, LogPage, LogRecord, WhyReport};
pub use zinit_proto::wire::{ChildStats, ServiceStats, ServiceStatus};

use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use zinit_proto::jsonrpc::{Params, Request, Response};
use zinit_proto::legacy::LegacyCommand;

/// The socket path deployed zinit uses unless told otherwise.
pub const DEFAULT_SOCKET: &str = "/var/run/zinit.sock";

/// A handle on the daemon's socket. Cheap; holds no connection.
#[derive(Debug)]
pub struct Client {
    socket: PathBuf,
    next_id: AtomicU64,
}

impl Client {
    pub fn new(socket: impl Into<PathBuf>) -> Self {
        Client {
            socket: socket.into(),
            next_id: AtomicU64::new(1),
        }
    }

    /// The socket this client talks to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Calls `method` with `params` (an array, an object, or `null` for
    /// none) and returns its result.
    pub async fn call(&self, method: Method, params: Value) -> Result<Value, ClientError> {
        self.call_keeping_connection(method, params)
            .await
            .map(|(result, _)| result)
    }

    /// [`call`](Self::call), returning the connection too, for methods
    /// that push notifications on it afterwards.
    async fn call_keeping_connection(
        &self,
        method: Method,
        params: Value,
    ) -> Result<(Value, BufReader<UnixStream>), ClientError> {
        let (id, request) = self.request_line(method, params)?;
        let mut stream = self.connect().await?;
        let written = match stream.write_all(request.as_bytes()).await {
            Ok(()) => stream.flush().await,
            Err(e) => Err(e),
        };
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        // A daemon that refuses the connection (too many, not allowed)
        // writes why and closes, possibly before our request arrives: the
        // write then fails but the refusal is there to read.
        let read = match (written, reader.read_line(&mut line).await) {
            (Ok(()), read) => read?,
            (Err(_), Ok(read)) if read > 0 => read,
            (Err(e), _) => return Err(e.into()),
        };
        let result = answer(method, &id, read, &line)?;
        Ok((result, reader))
    }

    /// The id and the newline-terminated line of a request.
    fn request_line(&self, method: Method, params: Value) -> Result<(Value, String), ClientError> {
        let params = Params::from_value(params).ok_or_else(|| {
            ClientError::Protocol("params must be an array, an object or null".to_string())
        })?;
        let id = json!(self.next_id.fetch_add(1, Ordering::Relaxed));
        let line = Request::new(id.clone(), method, params).to_line();
        Ok((id, line))
    }

    /// [`Client::call`] without an async runtime: one blocking connection,
    /// one request, one answer. For one-shot commands (the CLI), where
    /// building a runtime would cost more than the whole exchange.
    pub fn call_blocking(&self, method: Method, params: Value) -> Result<Value, ClientError> {
        use std::io::{BufRead, Write};
        let (id, request) = self.request_line(method, params)?;
        let mut stream =
            std::os::unix::net::UnixStream::connect(&self.socket).map_err(|source| {
                ClientError::Unreachable {
                    socket: self.socket.clone(),
                    source,
                }
            })?;
        let written = stream.write_all(request.as_bytes());
        let mut reader = std::io::BufReader::new(stream);
        let mut line = String::new();
        // As in `call`: a refusal may be waiting even if the write failed.
        let read = match (written, reader.read_line(&mut line)) {
            (Ok(()), read) => read?,
            (Err(_), Ok(read)) if read > 0 => read,
            (Err(e), _) => return Err(e.into()),
        };
        answer(method, &id, read, &line)
    }

    /// [`Client::call_blocking`] with the result decoded as `T`.
    pub fn call_typed_blocking<T: DeserializeOwned>(
        &self,
        method: Method,
        params: Value,
    ) -> Result<T, ClientError> {
        let result = self.call_blocking(method, params)?;
        decode(method, result)
    }

    async fn call_typed<T: DeserializeOwned>(
        &self,
        method: Method,
        params: Value,
    ) -> Result<T, ClientError> {
        let result = self.call(method, params).await?;
        decode(method, result)
    }

    /// Service name to state.
    pub async fn list(&self) -> Result<BTreeMap<String, String>, ClientError> {
        self.call_typed(Method::ServiceList, json!([])).await
    }

    pub async fn status(&self, name: &str) -> Result<ServiceStatus, ClientError> {
        self.call_typed(Method::ServiceStatus, json!([name])).await
    }

    pub async fn start(&self, name: &str) -> Result<(), ClientError> {
        self.call(Method::ServiceStart, json!([name]))
            .await
            .map(drop)
    }

    pub async fn stop(&self, name: &str) -> Result<(), ClientError> {
        self.call(Method::ServiceStop, json!([name]))
            .await
            .map(drop)
    }

    pub async fn restart(&self, name: &str) -> Result<(), ClientError> {
        self.call(Method::ServiceRestart, json!([name]))
            .await
            .map(drop)
    }

    pub async fn monitor(&self, name: &str) -> Result<(), ClientError> {
        self.call(Method::ServiceMonitor, json!([name]))
            .await
            .map(drop)
    }

    pub async fn forget(&self, name: &str) -> Result<(), ClientError> {
        self.call(Method::ServiceForget, json!([name]))
            .await
            .map(drop)
    }

    pub async fn kill(&self, name: &str, signal: &str) -> Result<(), ClientError> {
        self.call(Method::ServiceKill, json!([name, signal]))
            .await
            .map(drop)
    }

    pub async fn stats(&self, name: &str) -> Result<ServiceStats, ClientError> {
        self.call_typed(Method::ServiceStats, json!([name])).await
    }

    /// Why the service is in its state, in words.
    pub async fn why(&self, name: &str) -> Result<WhyReport, ClientError> {
        self.call_typed(Method::ServiceWhy, json!([name])).await
    }

    /// The kept log lines `query` selects, with sequence numbers.
    pub async fn read_logs(&self, query: &LogQuery) -> Result<LogPage, ClientError> {
        self.call_typed(Method::StreamReadLogs, query.to_params())
            .await
    }

    /// Follow log lines from where `query` says (new lines only when it
    /// selects nothing old); the subscription lasts until dropped.
    pub async fn follow_logs(&self, query: &LogQuery) -> Result<LogFollow, ClientError> {
        let (subscription, reader) = self
            .call_keeping_connection(Method::StreamFollowLogs, query.to_params())
            .await?;
        Ok(LogFollow::new(reader, subscription))
    }

    /// Writes `<name>.yaml` from `content`; returns the daemon's message.
    pub async fn create(&self, name: &str, content: Value) -> Result<String, ClientError> {
        self.call_typed(Method::ServiceCreate, json!([name, content]))
            .await
    }

    /// Removes `<name>.yaml`; returns the daemon's message.
    pub async fn delete(&self, name: &str) -> Result<String, ClientError> {
        self.call_typed(Method::ServiceDelete, json!([name])).await
    }

    /// The service file as a JSON object.
    pub async fn get(&self, name: &str) -> Result<Value, ClientError> {
        self.call(Method::ServiceGet, json!([name])).await
    }

    pub async fn shutdown(&self) -> Result<(), ClientError> {
        self.call(Method::SystemShutdown, json!([])).await.map(drop)
    }

    pub async fn reboot(&self) -> Result<(), ClientError> {
        self.call(Method::SystemReboot, json!([])).await.map(drop)
    }

    /// The log stream: `follow` keeps it open for new lines until dropped;
    /// otherwise the ring buffer is dumped and the stream ends.
    pub async fn logs(&self, follow: bool) -> Result<LogLines, ClientError> {
        let command = LegacyCommand::Log { snapshot: !follow };
        let line = command.to_line().map_err(ClientError::Protocol)?;
        let mut stream = self.connect().await?;
        stream.write_all(line.as_bytes()).await?;
        stream.flush().await?;
        Ok(LogLines::new(stream))
    }

    async fn connect(&self) -> Result<UnixStream, ClientError> {
        UnixStream::connect(&self.socket)
            .await
            .map_err(|source| ClientError::Unreachable {
                socket: self.socket.clone(),
                source,
            })
    }
}

/// The result in the response `line` to the request `id` (`read` bytes were
/// read: 0 means the daemon closed without answering).
fn answer(method: Method, id: &Value, read: usize, line: &str) -> Result<Value, ClientError> {
    if read == 0 {
        return Err(ClientError::Protocol(format!(
            "zinit closed the connection without answering {method}"
        )));
    }
    let response = Response::from_line(line).map_err(ClientError::Protocol)?;
    // A request the server could not read is answered with a null id.
    let unreadable = response.id.is_null() && response.outcome.is_err();
    if response.id != *id && !unreadable {
        return Err(ClientError::Protocol(format!(
            "response id {} does not match request id {id}",
            response.id
        )));
    }
    response.outcome.map_err(ClientError::Rpc)
}

fn decode<T: DeserializeOwned>(method: Method, result: Value) -> Result<T, ClientError> {
    serde_json::from_value(result)
        .map_err(|e| ClientError::Protocol(format!("unexpected {method} result: {e}")))
}

/// The one-shot calls of [`Client`] without an async runtime (see
/// [`Client::call_blocking`]): what a command-line tool needs per command.
#[derive(Debug)]
pub struct Blocking<'a>(&'a Client);

impl Client {
    /// Blocking versions of the one-shot calls.
    pub fn blocking(&self) -> Blocking<'_> {
        Blocking(self)
    }
}

impl Blocking<'_> {
    fn unit(&self, method: Method, params: Value) -> Result<(), ClientError> {
        self.0.call_blocking(method, params).map(drop)
    }

    pub fn list(&self) -> Result<BTreeMap<String, String>, ClientError> {
        self.0.call_typed_blocking(Method::ServiceList, json!([]))
    }

    pub fn status(&self, name: &str) -> Result<ServiceStatus, ClientError> {
        self.0
            .call_typed_blocking(Method::ServiceStatus, json!([name]))
    }

    pub fn start(&self, name: &str) -> Result<(), ClientError> {
        self.unit(Method::ServiceStart, json!([name]))
    }

    pub fn stop(&self, name: &str) -> Result<(), ClientError> {
        self.unit(Method::ServiceStop, json!([name]))
    }

    pub fn restart(&self, name: &str) -> Result<(), ClientError> {
        self.unit(Method::ServiceRestart, json!([name]))
    }

    pub fn monitor(&self, name: &str) -> Result<(), ClientError> {
        self.unit(Method::ServiceMonitor, json!([name]))
    }

    pub fn forget(&self, name: &str) -> Result<(), ClientError> {
        self.unit(Method::ServiceForget, json!([name]))
    }

    pub fn kill(&self, name: &str, signal: &str) -> Result<(), ClientError> {
        self.unit(Method::ServiceKill, json!([name, signal]))
    }

    pub fn stats(&self, name: &str) -> Result<ServiceStats, ClientError> {
        self.0
            .call_typed_blocking(Method::ServiceStats, json!([name]))
    }

    pub fn why(&self, name: &str) -> Result<WhyReport, ClientError> {
        self.0
            .call_typed_blocking(Method::ServiceWhy, json!([name]))
    }

    pub fn shutdown(&self) -> Result<(), ClientError> {
        self.unit(Method::SystemShutdown, json!([]))
    }

    pub fn reboot(&self) -> Result<(), ClientError> {
        self.unit(Method::SystemReboot, json!([]))
    }
}
