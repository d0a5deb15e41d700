//! Binding and serving: the router (which paths exist, all behind the
//! guard) and our own accept loop on hyper, so the limits that protect the
//! proxy from slow or greedy clients are set here: a header read timeout,
//! a header size cap, a cap on connections and WebSockets, and a bounded
//! graceful shutdown.
//!
//! Must not: decide what a request may do (`guard`) or how it is answered
//! (`forward`, `ws`).

use crate::config::ProxyConfig;
use crate::error::{refusal, ProxyError};
use crate::guard::{self, Guard};
use crate::{dashboard, forward, metrics, ws};
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{middleware, Router};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

/// How long a client may take to send a request's headers.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes of headers (and buffered input) a connection may hold.
const MAX_BUFFER: usize = 64 * 1024;
/// HTTP connections served at once; more wait in the kernel's backlog.
pub const MAX_CONNECTIONS: usize = 256;
/// WebSockets open at once (each holds a daemon connection); more get 503.
pub const MAX_WEBSOCKETS: usize = 64;
/// How long requests under way may take to finish after a shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A bound proxy, ready to [`run`](Proxy::run).
pub struct Proxy {
    listener: TcpListener,
    local: SocketAddr,
    config: Arc<ProxyConfig>,
}

impl Proxy {
    /// Check `config` (see [`ProxyConfig::validate`]) and bind its address.
    pub async fn bind(config: ProxyConfig) -> Result<Proxy, ProxyError> {
        let config = config.validate()?;
        let bind_error = |source| ProxyError::Bind {
            address: config.address,
            source,
        };
        let listener = TcpListener::bind(config.address)
            .await
            .map_err(bind_error)?;
        let local = listener.local_addr().map_err(bind_error)?;
        Ok(Proxy {
            listener,
            local,
            config: Arc::new(config),
        })
    }

    /// The address actually bound (the chosen port when it was 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Serve until `shutdown` resolves, then give requests under way a
    /// short grace to finish.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), ProxyError> {
        let router = router(self.config.clone());
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        let (stop_tx, stop_rx) = watch::channel(false);
        tokio::pin!(shutdown);
        loop {
            let accepted = tokio::select! {
                () = &mut shutdown => break,
                accepted = accept(&self.listener, &slots) => accepted,
            };
            let Some((stream, permit)) = accepted else {
                continue;
            };
            tokio::spawn(connection(stream, router.clone(), stop_rx.clone(), permit));
        }
        drop(self.listener);
        let _ = stop_tx.send(true);
        let all = u32::try_from(MAX_CONNECTIONS).unwrap_or(u32::MAX);
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, slots.acquire_many(all)).await;
        Ok(())
    }
}

/// The next connection and its slot; `None` after a failed accept (out
/// of fds, say), which is reported and retried after a moment.
async fn accept(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
) -> Option<(TcpStream, OwnedSemaphorePermit)> {
    let permit = slots.clone().acquire_owned().await.ok()?;
    match listener.accept().await {
        Ok((stream, _peer)) => {
            let _ = stream.set_nodelay(true);
            Some((stream, permit))
        }
        Err(e) => {
            tracing::error!("cannot accept HTTP connections: {e}");
            tokio::time::sleep(Duration::from_millis(100)).await;
            None
        }
    }
}

/// Serve one connection until it ends, finishing gracefully on shutdown.
async fn connection(
    stream: TcpStream,
    router: Router,
    mut stop: watch::Receiver<bool>,
    permit: OwnedSemaphorePermit,
) {
    let service = TowerToHyperService::new(router);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(MAX_BUFFER);
    let conn = builder
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(conn);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!("HTTP connection ended: {e}");
    }
    drop(permit);
}

/// Shared by the handlers.
#[derive(Clone)]
struct AppState {
    config: Arc<ProxyConfig>,
    websockets: Arc<Semaphore>,
}

impl axum::extract::FromRef<AppState> for Arc<ProxyConfig> {
    fn from_ref(state: &AppState) -> Arc<ProxyConfig> {
        state.config.clone()
    }
}

/// `POST /` (JSON-RPC), `GET /` (the dashboard, or a WebSocket upgrade),
/// `GET /assets/NAME` (the dashboard's files), `GET /ws` (WebSocket),
/// `GET /metrics` (OpenMetrics); everything behind the guard, 404s
/// included.
fn router(config: Arc<ProxyConfig>) -> Router {
    let guards = Guards {
        api: Arc::new(Guard::new(&config)),
        page: Arc::new(Guard::new(&ProxyConfig {
            token: None,
            ..ProxyConfig::clone(&config)
        })),
    };
    let state = AppState {
        config,
        websockets: Arc::new(Semaphore::new(MAX_WEBSOCKETS)),
    };
    Router::new()
        .route("/", get(root).post(forward::post))
        .route("/assets/{name}", get(dashboard::asset))
        .route("/ws", get(websocket))
        .route("/metrics", get(metrics::get))
        .with_state(state)
        .layer(middleware::from_fn_with_state(guards, guard_request))
}

/// The guard for the API, and the same guard without the token for the
/// dashboard's static files: they hold no data, and a browser navigating
/// to the page cannot send a token. Host and Origin are checked on both.
#[derive(Clone)]
struct Guards {
    api: Arc<Guard>,
    page: Arc<Guard>,
}

async fn guard_request(State(guards): State<Guards>, request: Request, next: Next) -> Response {
    let guard = if dashboard::is_page_request(&request) {
        guards.page
    } else {
        guards.api
    };
    guard::guard(State(guard), request, next).await
}

async fn root(
    State(state): State<AppState>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    match upgrade {
        Ok(upgrade) => start_websocket(state, upgrade).await,
        Err(rejection) if headers.contains_key(header::UPGRADE) => rejection.into_response(),
        Err(_) => dashboard::page(&headers),
    }
}

async fn websocket(
    State(state): State<AppState>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    match upgrade {
        Ok(upgrade) => start_websocket(state, upgrade).await,
        Err(rejection) => rejection.into_response(),
    }
}

async fn start_websocket(state: AppState, upgrade: WebSocketUpgrade) -> Response {
    let Ok(slot) = state.websockets.clone().try_acquire_owned() else {
        return refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("too many WebSockets open (at most {MAX_WEBSOCKETS})"),
        );
    };
    ws::upgrade(state.config, upgrade, slot).await
}
