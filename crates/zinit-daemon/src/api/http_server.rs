//! `system_start_http_server` / `system_stop_http_server`: the daemon runs
//! the HTTP proxy as a child, `<own executable> --socket <control socket>
//! proxy --address=<address>`, so clients that expect the daemon to open
//! the HTTP API get the very same proxy (and its safety rules: a public
//! address without a token is refused by the child, which says why).
//!
//! One proxy at a time. Start waits until the child prints that it
//! listens (its answer names the bound address) or exits (its stderr
//! becomes the error). The child's output goes to the log ring as
//! `zinit-http` lines. Stop is the one escalation (`process::stop`) on the
//! child: SIGTERM by pid under the table lock, SIGKILL after a grace, done
//! once the reaper has reaped it.
//!
//! Must not: wait on the child itself or use `std::process` (the reaper
//! owns every child; see `crate::process`), nor serve HTTP in this process.

use super::ApiError;
use crate::logs::{LogHub, Stream};
use crate::process::stop::{self, Outcome, Step, Stop, Target};
use crate::process::{self, Output, Reaped, SpawnRequest};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::net::unix::pipe;
use tokio::sync::{mpsc, watch};
use zinit_core::exit::ExitStatus;
use zinit_core::signal::Signal;
use zinit_proto::errors::ErrorCode;

/// The service name of the proxy's lines in the log ring.
pub const LOG_NAME: &str = "zinit-http";
/// How long the child may take to say it listens.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the child may take to exit after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// What the child prints on stdout once it listens, before the address.
const READY_MARK: &str = "listening on ";
/// Stderr kept for the error of a child that failed to start.
const MAX_ERROR_TEXT: usize = 4096;
const START: &str = "start_http_server";
const STOP: &str = "stop_http_server";
/// Longest address accepted (it is passed on the child's command line).
const MAX_ADDRESS: usize = 256;

/// The daemon's HTTP proxy child, if any.
pub struct HttpServer {
    /// `(own executable, control socket)`, known when the daemon serves a
    /// socket; without them the proxy cannot be started.
    launch: Option<(PathBuf, PathBuf)>,
    /// Shared with the task that watches the child, which frees it when the
    /// child exits on its own.
    slot: Arc<Mutex<Slot>>,
}

enum Slot {
    Idle,
    Starting,
    Running(Running),
}

#[derive(Clone)]
struct Running {
    pid: i32,
    address: String,
    /// Becomes `Some` when the reaper reports the exit.
    exited: watch::Receiver<Option<ExitStatus>>,
}

impl HttpServer {
    /// Without a control socket: start is refused.
    pub fn unavailable() -> HttpServer {
        HttpServer {
            launch: None,
            slot: Arc::new(Mutex::new(Slot::Idle)),
        }
    }

    /// For a daemon serving `socket`; its own executable is resolved now,
    /// once, so a later upgrade or removal of the file cannot change what
    /// runs.
    pub fn new(socket: PathBuf) -> HttpServer {
        let own = std::fs::read_link("/proc/self/exe")
            .unwrap_or_else(|_| PathBuf::from("/proc/self/exe"));
        HttpServer {
            launch: Some((own, socket)),
            slot: Arc::new(Mutex::new(Slot::Idle)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Slot> {
        lock(&self.slot)
    }

    /// Start the proxy on `address`; the message names the bound address.
    pub async fn start(&self, address: &str, logs: &Arc<LogHub>) -> Result<String, ApiError> {
        let Some((program, socket)) = &self.launch else {
            return Err(failure("this zinit serves no control socket to forward to"));
        };
        check_address(address)?;
        {
            let mut slot = self.lock();
            match &*slot {
                Slot::Idle => *slot = Slot::Starting,
                Slot::Starting => {
                    return Err(wrong_state("an HTTP server is being started", START))
                }
                Slot::Running(r) => {
                    return Err(wrong_state(
                        format!(
                            "an HTTP server is already running on {} (pid {}); stop it first with \
                         system_stop_http_server",
                            r.address, r.pid
                        ),
                        START,
                    ))
                }
            }
        }
        let started = launch(program, socket, address, logs, &self.slot).await;
        let mut slot = self.lock();
        match started {
            Ok(running) if running.exited.borrow().is_some() => {
                *slot = Slot::Idle;
                Err(failure(format!(
                    "the HTTP server on {} exited right after it started; see `zinit log {LOG_NAME}`",
                    running.address
                )))
            }
            Ok(running) => {
                let message = format!(
                    "HTTP server listening on http://{} (pid {})",
                    running.address, running.pid
                );
                *slot = Slot::Running(running);
                Ok(message)
            }
            Err(e) => {
                *slot = Slot::Idle;
                Err(e)
            }
        }
    }

    /// SIGTERM the proxy (SIGKILL after [`STOP_GRACE`]) and wait for its
    /// exit.
    pub async fn stop(&self) -> Result<(), ApiError> {
        let running = match &*self.lock() {
            Slot::Running(r) => r.clone(),
            Slot::Starting => return Err(wrong_state("an HTTP server is being started", STOP)),
            Slot::Idle => return Err(wrong_state("no HTTP server is running", STOP)),
        };
        let pid = running.pid;
        let outcome = super::blocking(move || {
            let mut child = [Stop {
                target: Target::Child(pid),
                signal: Signal::Term,
                grace: STOP_GRACE,
            }];
            let mut failed = None;
            let outcome = stop::escalate(&mut child, STOP_GRACE, |_, step| {
                if let Step::Failed(e) = step {
                    failed = Some(e.to_string());
                }
            });
            (outcome.first().copied(), failed)
        })
        .await?;
        match outcome {
            (Some(Outcome::Stopped | Outcome::Killed), _) => {
                forget(&self.slot, pid);
                Ok(())
            }
            (_, Some(e)) => Err(stop_failure(e)),
            _ => Err(stop_failure(format!(
                "the HTTP server (pid {pid}) did not exit after SIGKILL"
            ))),
        }
    }

    /// Stop the proxy if one runs (at daemon exit); failures are logged.
    pub async fn stop_if_running(&self) {
        if matches!(&*self.lock(), Slot::Running(_)) {
            if let Err(e) = self.stop().await {
                tracing::warn!("{e}");
            }
        }
    }
}

/// Poisoning is ignored: the slot is a plain value, always consistent.
fn lock(slot: &Mutex<Slot>) -> MutexGuard<'_, Slot> {
    slot.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The child `pid` is gone: the slot is free again.
fn forget(slot: &Mutex<Slot>, pid: i32) {
    let mut slot = lock(slot);
    if matches!(&*slot, Slot::Running(r) if r.pid == pid) {
        *slot = Slot::Idle;
    }
}

/// An address for the child's command line: short, one line, no NUL.
fn check_address(address: &str) -> Result<(), ApiError> {
    let bad = address.is_empty()
        || address.len() > MAX_ADDRESS
        || address.chars().any(|c| c.is_control() || c.is_whitespace());
    if bad {
        let shown: String = address.chars().take(64).collect();
        return Err(ApiError::app(
            ErrorCode::ConfigError,
            format!("invalid address {shown:?}: expected IP:PORT, e.g. 127.0.0.1:8080"),
            None,
            START,
        ));
    }
    Ok(())
}

/// Spawn the proxy and wait until it listens or fails.
async fn launch(
    program: &Path,
    socket: &Path,
    address: &str,
    logs: &Arc<LogHub>,
    slot: &Arc<Mutex<Slot>>,
) -> Result<Running, ApiError> {
    let (exits_tx, mut exits) = mpsc::unbounded_channel::<Reaped>();
    let argv = vec![
        program.to_string_lossy().into_owned(),
        "--socket".to_owned(),
        socket
            .to_str()
            .ok_or_else(|| failure("the control socket path is not UTF-8"))?
            .to_owned(),
        "proxy".to_owned(),
        format!("--address={address}"),
    ];
    let env: Vec<(String, String)> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    let spawned = super::blocking(move || {
        let request = SpawnRequest {
            argv: &argv,
            env: &env,
            dir: Path::new("/"),
            output: Output::Capture,
        };
        process::spawn(&request, &exits_tx)
    })
    .await?
    .map_err(|e| failure(format!("cannot start the HTTP server: {e}")))?;
    let pid = spawned.pid;
    let (Some(stdout), Some(stderr)) = (spawned.stdout, spawned.stderr) else {
        return Err(failure("the HTTP server started without output pipes"));
    };
    let errors = tokio::spawn(forward_stderr(stderr, logs.clone()));
    let mut stdout = BufReader::new(receiver(stdout)?);
    let ready = tokio::time::timeout(START_TIMEOUT, first_line(&mut stdout)).await;
    match ready {
        Ok(Some(line)) if line.contains(READY_MARK) => {
            let bound = line
                .rsplit("http://")
                .next()
                .unwrap_or(address)
                .trim()
                .to_owned();
            let (exited_tx, exited) = watch::channel(None);
            let watched = Watched {
                pid,
                exits,
                exited: exited_tx,
                slot: slot.clone(),
            };
            tokio::spawn(watch_child(stdout, watched, logs.clone()));
            Ok(Running {
                pid,
                address: bound,
                exited,
            })
        }
        Ok(_) => {
            let status = tokio::time::timeout(STOP_GRACE, exits.recv()).await;
            let status = status.ok().flatten().map(|r| r.status);
            if status.is_none() {
                // It closed stdout but lives on: it will not serve.
                let _ = Target::Child(pid).signal(Signal::Kill);
            }
            let text = tokio::time::timeout(STOP_GRACE, errors)
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default();
            Err(start_failure(address, status, &text))
        }
        Err(_) => {
            let _ = Target::Child(pid).signal(Signal::Kill);
            Err(failure(format!(
                "the HTTP server did not start listening on {address} within {START_TIMEOUT:?}"
            )))
        }
    }
}

/// The error for a child that exited before listening: its own message,
/// as ConfigError when it refused its configuration (exit code 2).
fn start_failure(address: &str, status: Option<ExitStatus>, stderr: &str) -> ApiError {
    let said = stderr
        .lines()
        .map(|l| l.trim().trim_start_matches("zinit-http: "))
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    let how = status.map_or_else(|| "exited".to_owned(), |s| s.to_string());
    let message = format!("cannot start the HTTP server on {address}: {said} ({how})");
    let code = if status == Some(ExitStatus::Code(2)) {
        ErrorCode::ConfigError
    } else {
        ErrorCode::ProcessError
    };
    ApiError::app(code, message, None, START)
}

fn receiver(fd: OwnedFd) -> Result<pipe::Receiver, ApiError> {
    pipe::Receiver::from_owned_fd(fd)
        .map_err(|e| failure(format!("cannot read the HTTP server's output: {e}")))
}

/// One line (at most 4 KiB), without its end; `None` at EOF.
async fn first_line<R: AsyncBufRead + Unpin>(reader: &mut R) -> Option<String> {
    let mut line = Vec::new();
    let read = (&mut *reader)
        .take(MAX_ERROR_TEXT as u64)
        .read_until(b'\n', &mut line)
        .await
        .ok()?;
    (read > 0).then(|| String::from_utf8_lossy(&line).trim_end().to_owned())
}

/// The child's stderr into the log ring; returns its first
/// [`MAX_ERROR_TEXT`] bytes, for the error of a failed start.
async fn forward_stderr(fd: OwnedFd, logs: Arc<LogHub>) -> String {
    let Ok(pipe) = receiver(fd) else {
        return String::new();
    };
    let mut reader = BufReader::new(pipe);
    let mut kept = String::new();
    while let Some(line) = first_line(&mut reader).await {
        if kept.len() < MAX_ERROR_TEXT {
            kept.push_str(&line);
            kept.push('\n');
        }
        logs.push(LOG_NAME, Stream::Stderr, line);
    }
    kept
}

/// After a successful start: the rest of stdout into the log ring, and the
/// exit (reported by the reaper) announced to stop waiters.
/// What the watcher of a running child needs.
struct Watched {
    pid: i32,
    exits: mpsc::UnboundedReceiver<Reaped>,
    exited: watch::Sender<Option<ExitStatus>>,
    slot: Arc<Mutex<Slot>>,
}

async fn watch_child(mut stdout: BufReader<pipe::Receiver>, mut child: Watched, logs: Arc<LogHub>) {
    let logs_out = logs.clone();
    let output = tokio::spawn(async move {
        while let Some(line) = first_line(&mut stdout).await {
            logs_out.push(LOG_NAME, Stream::Stdout, line);
        }
    });
    if let Some(reaped) = child.exits.recv().await {
        logs.push(
            "zinit",
            Stream::Stderr,
            format!("HTTP server (pid {}) {}", reaped.pid, reaped.status),
        );
        // Announced before the slot is freed: see `HttpServer::start`.
        child.exited.send_replace(Some(reaped.status));
        forget(&child.slot, child.pid);
    }
    output.abort();
}

/// The request does not fit the proxy's state (none running, one already
/// running or starting): InvalidStateTransition, which upstream zinit's
/// client reports under that name, rather than a process failure.
fn wrong_state(message: impl Into<String>, action: &'static str) -> ApiError {
    ApiError::app(
        ErrorCode::InvalidStateTransition,
        message.into(),
        None,
        action,
    )
}

/// A ProcessError about starting (the default) or stopping the proxy.
fn failure(message: impl Into<String>) -> ApiError {
    ApiError::app(ErrorCode::ProcessError, message.into(), None, START)
}

fn stop_failure(message: impl Into<String>) -> ApiError {
    ApiError::app(ErrorCode::ProcessError, message.into(), None, STOP)
}
