//! zinit's HTTP API: a separate process that serves the daemon's JSON-RPC
//! API over HTTP (`POST /`) and WebSocket (`/ws`, for log subscriptions) by
//! forwarding every request to the control socket on a fresh connection.
//! Both `zinit-http` and `zinit proxy` run it through [`cli`].
//!
//! Safe by default: loopback only unless a token is configured (or
//! `--insecure` is said out loud), bearer-token authentication, no
//! cross-origin access unless origins are listed, `Host` checked against
//! DNS rebinding, bounded bodies, timeouts for slow clients.
//!
//! Modules, one job each:
//! - [`config`]: the configuration and the checks that refuse unsafe ones;
//! - [`cli`]: both command lines, lowered into one [`ProxyConfig`];
//! - `server`: binding, the router, the accept loop and its limits;
//! - `guard`: Host, Origin/CORS and token checks in front of every handler;
//! - `forward`: `POST /` to the socket and back;
//! - `ws`: the WebSocket relay with its bounded queue;
//! - [`metrics`]: `GET /metrics`, the daemon's `system_metrics` as OpenMetrics;
//! - [`dashboard`]: `GET /` and `/assets/*`, the web dashboard embedded in
//!   the binary;
//! - `daemon`: socket connections and bounded line reading;
//! - [`error`]: start-up errors and HTTP refusals.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod cli;
pub mod config;
mod daemon;
pub mod dashboard;
pub mod error;
mod forward;
mod guard;
pub mod metrics;
mod server;
mod ws;

pub use config::ProxyConfig;
pub use error::ProxyError;
pub use server::Proxy;

use std::future::Future;

/// Serve `config` until `shutdown` resolves: validate, bind, serve.
pub async fn serve(
    config: ProxyConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ProxyError> {
    Proxy::bind(config).await?.run(shutdown).await
}
