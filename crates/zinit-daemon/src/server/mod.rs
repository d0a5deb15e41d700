//! The control socket server: accepts connections and tells the two
//! protocols apart by the first non-blank byte (`{` or `[` is JSON-RPC,
//! anything else a legacy command line).
//!
//! Must not: hold any service state (everything goes through `Api`), or
//! let one client's input or slowness affect another.

mod jsonrpc;
mod legacy;
mod lines;
pub mod socket;

use crate::api::Api;
use lines::{read_line, LineError};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Longest request line accepted, in bytes.
pub const MAX_REQUEST_LINE: usize = 1 << 20;
/// Connections served at once; more wait in the kernel's backlog.
pub const MAX_CONNECTIONS: usize = 512;
/// How long a new connection may take to send its first line.
const FIRST_LINE_TIMEOUT: Duration = Duration::from_secs(30);

/// Requests being answered right now, so a shutdown can let them finish
/// writing their reply (the one that asked for the shutdown, above all).
#[derive(Clone)]
pub struct InFlight(Arc<Semaphore>);

/// Upper bound on requests counted at once (far above MAX_CONNECTIONS).
const IN_FLIGHT_SLOTS: u32 = 1 << 16;

impl InFlight {
    fn new() -> InFlight {
        InFlight(Arc::new(Semaphore::new(IN_FLIGHT_SLOTS as usize)))
    }

    /// Count a request until the returned guard is dropped.
    pub fn begin(&self) -> Option<OwnedSemaphorePermit> {
        self.0.clone().try_acquire_owned().ok()
    }

    /// Wait until no request is being answered, or `grace` has passed.
    pub async fn drain(&self, grace: Duration) {
        let _ = tokio::time::timeout(grace, self.0.acquire_many(IN_FLIGHT_SLOTS)).await;
    }
}

/// The running server.
pub struct Server {
    task: tokio::task::JoinHandle<()>,
    in_flight: InFlight,
}

impl Server {
    /// Stop accepting, then give requests under way `grace` to answer.
    pub async fn stop(self, grace: Duration) {
        self.task.abort();
        self.in_flight.drain(grace).await;
    }
}

/// Start serving connections on `listener`.
pub fn start(listener: UnixListener, api: Api) -> Server {
    let in_flight = InFlight::new();
    let task = tokio::spawn(serve(listener, api, in_flight.clone()));
    Server { task, in_flight }
}

/// Accept and serve connections until the task is dropped.
async fn serve(listener: UnixListener, api: Api, in_flight: InFlight) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        match listener.accept().await {
            Ok((stream, _)) => {
                let api = api.clone();
                let in_flight = in_flight.clone();
                tokio::spawn(async move {
                    if let Err(e) = connection(stream, &api, &in_flight).await {
                        tracing::debug!("control connection ended: {e}");
                    }
                    drop(permit);
                });
            }
            Err(e) => {
                // Out of fds or similar: say so, give the system a moment.
                tracing::error!("cannot accept on the control socket: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn connection(stream: UnixStream, api: &Api, in_flight: &InFlight) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let mut line = Vec::new();
    // Skip blank lines; the first non-blank one decides the protocol.
    loop {
        let read = tokio::time::timeout(
            FIRST_LINE_TIMEOUT,
            read_line(&mut reader, MAX_REQUEST_LINE, &mut line),
        )
        .await;
        match read {
            Err(_) | Ok(Ok(false)) | Ok(Err(LineError::Io(_))) => return Ok(()),
            Ok(Err(LineError::TooLong)) => {
                // What was read of the line still tells the protocol, and
                // each client must get a refusal it can parse.
                let reply = if speaks_jsonrpc(&line) {
                    jsonrpc::too_long_reply()
                } else {
                    let message = format!("request line longer than {MAX_REQUEST_LINE} bytes");
                    zinit_proto::legacy::reply_error(&message)
                };
                write.write_all(reply.as_bytes()).await?;
                return write.shutdown().await;
            }
            Ok(Ok(true)) if line.iter().all(u8::is_ascii_whitespace) => continue,
            Ok(Ok(true)) => break,
        }
    }
    if speaks_jsonrpc(&line) {
        jsonrpc::session(reader, write, api, in_flight, line).await
    } else {
        let text = String::from_utf8_lossy(&line).into_owned();
        legacy::serve(reader, write, api, in_flight, &text).await
    }
}

/// Whether a connection whose first line starts with `line` speaks
/// JSON-RPC: its first non-blank byte is `{` or `[`.
fn speaks_jsonrpc(line: &[u8]) -> bool {
    let first = line.iter().find(|b| !b.is_ascii_whitespace());
    matches!(first, Some(b'{') | Some(b'['))
}
