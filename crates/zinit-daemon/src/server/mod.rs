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
use tokio::sync::Semaphore;

/// Longest request line accepted, in bytes.
pub const MAX_REQUEST_LINE: usize = 1 << 20;
/// Connections served at once; more wait in the kernel's backlog.
pub const MAX_CONNECTIONS: usize = 512;
/// How long a new connection may take to send its first line.
const FIRST_LINE_TIMEOUT: Duration = Duration::from_secs(30);

/// Accept and serve connections until the task is dropped.
pub async fn serve(listener: UnixListener, api: Api) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        match listener.accept().await {
            Ok((stream, _)) => {
                let api = api.clone();
                tokio::spawn(async move {
                    if let Err(e) = connection(stream, &api).await {
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

async fn connection(stream: UnixStream, api: &Api) -> std::io::Result<()> {
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
                let message = format!("request line longer than {MAX_REQUEST_LINE} bytes");
                let reply = zinit_proto::legacy::reply_error(&message);
                write.write_all(reply.as_bytes()).await?;
                return write.shutdown().await;
            }
            Ok(Ok(true)) if line.iter().all(u8::is_ascii_whitespace) => continue,
            Ok(Ok(true)) => break,
        }
    }
    let first = line.iter().find(|b| !b.is_ascii_whitespace()).copied();
    if matches!(first, Some(b'{') | Some(b'[')) {
        jsonrpc::session(reader, write, api, line).await
    } else {
        let text = String::from_utf8_lossy(&line).into_owned();
        legacy::serve(reader, write, api, &text).await
    }
}
