//! The control socket server: accepts connections and tells the two
//! protocols apart by the first non-blank byte (`{` or `[` is JSON-RPC,
//! framed by JSON value, anything else a legacy command line; see
//! [`frames`]).
//!
//! Every accepted connection is checked against who may use the socket
//! ([`peer::Access`]) and takes a slot ([`slots`]): the socket's
//! connections use at most half of `RLIMIT_NOFILE`, and never more than
//! 512 are served at once, so supervision keeps the other half of its file
//! descriptors. A connection that waits
//! for a request gets [`IDLE_TIMEOUT`] to send a complete line, and is the
//! first closed to make room for a new one; a log stream is never idle. A
//! spare descriptor lets zinit accept and refuse a connection even when it
//! is out of descriptors, so a full backlog never makes the accept loop
//! spin, and no accept error ever ends it.
//!
//! Must not: hold any service state (everything goes through `Api`), or
//! let one client's input or slowness affect another.

mod frames;
mod jsonrpc;
mod legacy;
pub mod peer;
pub mod slots;
pub mod socket;

use crate::api::Api;
use frames::{FrameError, Frames};
use peer::Access;
pub use slots::MAX_CONNECTIONS;
use slots::{Admission, Budget, Slot, Slots};
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Longest request accepted (a legacy line or a JSON-RPC value), in bytes.
pub const MAX_REQUEST: usize = 1 << 20;
/// How long a connection waiting for a request may take to send a
/// complete one (from when it started waiting: trickling bytes do not
/// extend it; a blank line does, as a keep-alive). A connection with a log
/// stream has no such limit, but a request it starts must still complete
/// within this time of its first byte.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a reply or a log line may wait for a client that does not
/// read before the connection is given up (its slot is never idle, so it
/// could otherwise be held forever).
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a refused client is given to send its request before it is
/// told why and closed.
const REFUSAL_WAIT: Duration = Duration::from_millis(500);
/// How long a refused client is given to send its request when zinit is
/// out of descriptors (the accept loop waits meanwhile).
const REFUSAL_WAIT_NO_FDS: Duration = Duration::from_millis(50);
/// How long a connection that finds every slot busy may wait for one to
/// free before it is refused: a client often arrives just as the previous
/// one, already answered, is hanging up. The accept loop waits, so later
/// clients wait their turn in the socket's backlog.
const FULL_GRACE: Duration = Duration::from_millis(300);
/// How long to pause after an accept error that is not about a connection
/// (out of memory or buffers), so the loop never spins.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

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
    accepting: Vec<tokio::task::JoinHandle<()>>,
    in_flight: InFlight,
}

impl Server {
    /// Stop accepting, then give requests under way `grace` to answer.
    pub async fn stop(self, grace: Duration) {
        for task in &self.accepting {
            task.abort();
        }
        self.in_flight.drain(grace).await;
    }
}

/// Start serving connections on every one of `listeners` (the control
/// socket and the paths it is also served on) to the peers `access`
/// allows. They share one connection budget: more paths are not more
/// descriptors.
pub fn start(listeners: Vec<UnixListener>, api: Api, access: Access) -> Server {
    let in_flight = InFlight::new();
    let slots = Arc::new(Slots::default());
    let accepting = listeners
        .into_iter()
        .map(|listener| {
            let serving = serve(
                listener,
                api.clone(),
                access.clone(),
                in_flight.clone(),
                slots.clone(),
            );
            tokio::spawn(serving)
        })
        .collect();
    Server {
        accepting,
        in_flight,
    }
}

/// Accept and serve connections until the task is dropped.
async fn serve(
    listener: UnixListener,
    api: Api,
    access: Access,
    in_flight: InFlight,
    slots: Arc<Slots>,
) {
    let mut spare = open_spare();
    let mut complaints = Complaints::default();
    let refusing = Arc::new(AtomicUsize::new(0));
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) if is_out_of_fds(&e) => {
                complaints.say(&format!("cannot accept on the control socket: {e}"));
                // Free the spare, take the waiting connection, tell it why
                // and close it: the backlog drains instead of spinning.
                match spare.take() {
                    Some(fd) => {
                        drop(fd);
                        if let Ok((stream, _)) = listener.accept().await {
                            // Here, not aside: the spare comes back first.
                            let message =
                                "no file descriptor left for this connection; try again later";
                            refuse(stream, message.to_owned(), REFUSAL_WAIT_NO_FDS).await;
                        }
                        spare = open_spare();
                    }
                    None => {
                        spare = open_spare();
                        tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    }
                }
                continue;
            }
            Err(e) if is_about_one_connection(&e) => continue,
            Err(e) => {
                complaints.say(&format!("cannot accept on the control socket: {e}"));
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                continue;
            }
        };
        if spare.is_none() {
            spare = open_spare();
        }
        if let Err(message) = access.check(&stream) {
            complaints.say(&format!("control connection refused: {message}"));
            refuse_aside(stream, message, &refusing);
            continue;
        }
        let mut full_until = None;
        let admitted = loop {
            match slots.admit(Budget::current()) {
                Admission::Admitted(slot) => break Ok(slot),
                // Every connection is busy. One that was just answered is
                // often about to hang up: wait a moment for its slot (the
                // next clients wait in the backlog, in order), then refuse.
                Admission::Full { limit } => {
                    let until =
                        *full_until.get_or_insert_with(|| tokio::time::Instant::now() + FULL_GRACE);
                    if tokio::time::timeout_at(until, slots.changed())
                        .await
                        .is_err()
                    {
                        break Err(limit);
                    }
                }
                // Accepting faster than connections start or close: let
                // them show whether they are idle, or go.
                Admission::Wait => slots.changed().await,
            }
        };
        let slot = match admitted {
            Ok(slot) => slot,
            Err(limit) => {
                let message =
                    format!("too many connections (at most {limit} at once); try again later");
                complaints.say(&format!("control connection refused: {message}"));
                refuse_aside(stream, message, &refusing);
                continue;
            }
        };
        let api = api.clone();
        let in_flight = in_flight.clone();
        tokio::spawn(async move {
            if let Err(e) = connection(stream, slot, &api, &in_flight).await {
                tracing::debug!("control connection ended: {e}");
            }
        });
    }
}

/// A descriptor kept in reserve for accepting (and refusing) a connection
/// when zinit is out of descriptors.
fn open_spare() -> Option<OwnedFd> {
    std::fs::File::open("/dev/null").ok().map(OwnedFd::from)
}

fn is_out_of_fds(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

/// Errors about the connection being accepted, not the listener.
fn is_about_one_connection(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ECONNABORTED | libc::EINTR | libc::EAGAIN | libc::EPROTO | libc::EPERM)
    )
}

/// Tell a connection why it is refused, then close it: one line readable
/// by both protocols, a JSON-RPC error response with a null id that is also
/// a legacy `{"state":"error","body":...}` reply. The client is first given
/// `wait` to send its request, which is dropped unread: a client that
/// writes after the close would see a broken pipe instead of the line.
async fn refuse(stream: UnixStream, message: String, wait: Duration) {
    let request = async {
        let mut sink = [0u8; 4096];
        loop {
            stream.readable().await?;
            // Readiness may be a false alarm: only bytes (or the end) count.
            match stream.try_read(&mut sink) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                read => return read.map(drop),
            }
        }
    };
    let _ = tokio::time::timeout(wait, request).await;
    drain(&stream);
    let _ = stream.try_write(refusal_line(&message).as_bytes());
    // Closing with input unread would reset the connection, and the client
    // might see the reset instead of the line.
    drain(&stream);
}

/// Refuse on a task of its own, so the accept loop goes on; at most
/// `budget.refusing` at once, beyond which a refusal does not wait.
fn refuse_aside(stream: UnixStream, message: String, refusing: &Arc<AtomicUsize>) {
    let cap = Budget::current().refusing;
    let taken = refusing.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
        (n < cap).then_some(n + 1)
    });
    if taken.is_err() {
        drain(&stream);
        let _ = stream.try_write(refusal_line(&message).as_bytes());
        drain(&stream);
        return;
    }
    let refusing = refusing.clone();
    tokio::spawn(async move {
        refuse(stream, message, REFUSAL_WAIT).await;
        refusing.fetch_sub(1, Ordering::AcqRel);
    });
}

/// Read and drop what the client has sent so far, without waiting.
fn drain(stream: &UnixStream) {
    let mut sink = [0u8; 4096];
    for _ in 0..16 {
        match stream.try_read(&mut sink) {
            Ok(n) if n > 0 => continue,
            _ => break,
        }
    }
}

fn refusal_line(message: &str) -> String {
    let reply = serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": {"code": zinit_proto::errors::INVALID_REQUEST, "message": message},
        "state": "error",
        "body": message,
    });
    format!("{reply}\n")
}

/// Complaints about the socket, at most one a second (plus a count of the
/// ones held back), so a flood of refused clients cannot flood zinit's log.
#[derive(Default)]
struct Complaints {
    last: Option<Instant>,
    held_back: u64,
}

impl Complaints {
    fn say(&mut self, what: &str) {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|last| now.duration_since(last) < Duration::from_secs(1))
        {
            self.held_back += 1;
            return;
        }
        if self.held_back > 0 {
            tracing::warn!("{what} (and {} more like it)", self.held_back);
        } else {
            tracing::warn!("{what}");
        }
        self.last = Some(now);
        self.held_back = 0;
    }
}

/// How a wait for a request ended without one.
enum Idle {
    /// The client closed, or reading failed.
    Gone,
    /// No complete request within [`IDLE_TIMEOUT`], or closed to make room.
    TimedOut,
    TooLong,
    /// Partly received requests of all connections hold the whole budget.
    OverBudget,
}

/// What a client is told when its request would take the partly received
/// requests of all connections over [`frames::REQUEST_BUDGET`].
fn over_budget_message() -> String {
    format!(
        "zinit is busy: partly received requests already hold {} MiB; send the request again",
        frames::REQUEST_BUDGET.limit() >> 20
    )
}

/// Wait for the next frame of a client that is waiting to send a request:
/// idle (may be closed for room) until it arrives, and at most until
/// `deadline`.
async fn idle_read<R>(
    frames: &mut Frames<R>,
    slot: &mut Slot,
    deadline: Instant,
) -> Result<Vec<u8>, Idle>
where
    R: tokio::io::AsyncBufRead + Unpin,
{
    slot.idle();
    let read = tokio::select! {
        // A request already here is read even if the slot was just taken
        // for room: it is answered, then the connection closes.
        biased;
        read = tokio::time::timeout_at(deadline.into(), frames.next_frame()) => read,
        () = slot.evicted() => return Err(Idle::TimedOut),
    };
    slot.busy();
    match read {
        Err(_) => Err(Idle::TimedOut),
        Ok(Ok(Some(line))) => Ok(line),
        Ok(Ok(None)) | Ok(Err(FrameError::Io(_))) => Err(Idle::Gone),
        Ok(Err(FrameError::TooLong)) => Err(Idle::TooLong),
        Ok(Err(FrameError::OverBudget)) => Err(Idle::OverBudget),
    }
}

async fn connection(
    stream: UnixStream,
    mut slot: Slot,
    api: &Api,
    in_flight: &InFlight,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut frames = Frames::new(BufReader::new(read), MAX_REQUEST);
    // Skip blank lines; the first request decides the protocol.
    let first = loop {
        match idle_read(&mut frames, &mut slot, Instant::now() + IDLE_TIMEOUT).await {
            Ok(frame) if frame.is_empty() => continue,
            Ok(frame) => break frame,
            Err(Idle::Gone | Idle::TimedOut) => return Ok(()),
            Err(Idle::OverBudget) => {
                write_within(&mut write, refusal_line(&over_budget_message()).as_bytes()).await?;
                return write.shutdown().await;
            }
            Err(Idle::TooLong) => {
                // Each client must get a refusal it can parse.
                let reply = if frames.speaks_jsonrpc() {
                    jsonrpc::too_long_reply()
                } else {
                    let message = format!("request line longer than {MAX_REQUEST} bytes");
                    zinit_proto::legacy::reply_error(&message)
                };
                write_within(&mut write, reply.as_bytes()).await?;
                return write.shutdown().await;
            }
        }
    };
    if frames.speaks_jsonrpc() {
        jsonrpc::session(frames, write, slot, api, in_flight, first).await
    } else {
        let text = String::from_utf8_lossy(&first).into_owned();
        // A legacy connection is one request (or a log stream): busy
        // until it closes.
        legacy::serve(frames, write, api, in_flight, &text).await
    }
}

/// Write all of `bytes` and flush, within [`WRITE_TIMEOUT`].
async fn write_within<W: AsyncWrite + Unpin>(writer: &mut W, bytes: &[u8]) -> std::io::Result<()> {
    let write = async {
        writer.write_all(bytes).await?;
        writer.flush().await
    };
    match tokio::time::timeout(WRITE_TIMEOUT, write).await {
        Ok(written) => written,
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("the client read nothing for {WRITE_TIMEOUT:?}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zinit_proto::jsonrpc::Response;

    #[tokio::test(start_paused = true)]
    async fn a_client_that_stops_reading_is_given_up() {
        let (mut ours, _theirs) = tokio::io::duplex(16);
        let started = tokio::time::Instant::now();
        let e = write_within(&mut ours, &[b'x'; 64]).await.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), WRITE_TIMEOUT);
    }

    #[test]
    fn a_refusal_reads_as_an_error_in_both_protocols() {
        let line = refusal_line("too many connections");
        assert!(line.ends_with('\n') && line.matches('\n').count() == 1);
        let response = Response::from_line(&line).unwrap();
        assert!(response.id.is_null());
        let error = response.outcome.unwrap_err();
        assert_eq!(error.message, "too many connections");
        let legacy: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(legacy["state"], "error");
        assert_eq!(legacy["body"], "too many connections");
    }
}
