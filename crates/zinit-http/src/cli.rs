//! The two command lines that run the proxy, `zinit-http [--socket PATH]
//! [--port PORT] [--address ADDR]` and `zinit [-s SOCKET] proxy [-a
//! ADDRESS]`, with the same security options, lowered into one
//! [`ProxyConfig`] and run the same way: print the bound address on stdout
//! (one line, `zinit-http listening on http://ADDR`), serve until SIGTERM
//! or SIGINT.
//!
//! Exit codes: 0 after a signal, 1 when the proxy cannot listen, 2 for a
//! configuration it refuses (a public address without a token, say).
//!
//! Must not: serve requests; that is `server`.

use crate::config::{self, ConfigError, ProxyConfig, DEFAULT_MAX_BODY, TOKEN_ENV};
use crate::error::{ProxyError, EXIT_FAILED};
use crate::server::Proxy;
use clap::Parser;
use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The line printed on stdout once listening starts, before the address.
pub const READY_PREFIX: &str = "zinit-http listening on http://";

/// Options both entry points share.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct SecurityArgs {
    /// File holding the bearer token every request must present
    /// (`Authorization: Bearer <token>`); overrides $ZINIT_HTTP_TOKEN.
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,

    /// An origin (scheme://host[:port]) whose web pages may call the API;
    /// repeat for more. Other cross-origin requests are refused.
    #[arg(long = "cors-origin", value_name = "ORIGIN")]
    pub cors_origins: Vec<String>,

    /// Allow listening on a non-loopback address without a token. Anyone
    /// who can reach the port can then run any command as zinit's user.
    #[arg(long)]
    pub insecure: bool,
}

/// `zinit proxy`: serve the JSON-RPC API over HTTP and WebSocket.
#[derive(Clone, Debug, clap::Args)]
pub struct ProxyArgs {
    /// Address to listen on (IP:PORT; port 0 picks a free one).
    #[arg(short, long, default_value = "127.0.0.1:8080", value_name = "ADDRESS")]
    pub address: String,

    #[command(flatten)]
    pub security: SecurityArgs,
}

/// zinit-http: serve zinit's JSON-RPC API over HTTP and WebSocket by
/// forwarding to its control socket.
#[derive(Debug, Parser)]
#[command(name = "zinit-http", version)]
pub struct HttpArgs {
    /// Path of zinit's control socket.
    #[arg(
        short,
        long,
        env = "ZINIT_SOCKET",
        default_value = "/var/run/zinit.sock"
    )]
    pub socket: PathBuf,

    /// Port to listen on [default: 8080].
    #[arg(short, long)]
    pub port: Option<u16>,

    /// IP address to listen on [default: 127.0.0.1]; IP:PORT also works.
    #[arg(short, long, value_name = "ADDR")]
    pub address: Option<String>,

    #[command(flatten)]
    pub security: SecurityArgs,
}

/// `zinit-http`'s `main`.
pub fn run_http(args: &HttpArgs) -> ExitCode {
    let address = config::address_and_port(args.address.as_deref(), args.port);
    run(args.socket.clone(), address, &args.security)
}

/// `zinit proxy`, with the socket from `zinit -s`.
pub fn run_proxy(socket: PathBuf, args: &ProxyArgs) -> ExitCode {
    run(socket, config::parse_address(&args.address), &args.security)
}

fn run(
    socket: PathBuf,
    address: Result<SocketAddr, ConfigError>,
    security: &SecurityArgs,
) -> ExitCode {
    init_logging();
    let config = match lower(socket, address, security) {
        Ok(config) => config,
        Err(e) => return fail(&ProxyError::Config(e)),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("zinit-http: cannot start: {e}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    runtime.block_on(async {
        let proxy = match Proxy::bind(config).await {
            Ok(proxy) => proxy,
            Err(e) => return fail(&e),
        };
        println!("{READY_PREFIX}{}", proxy.local_addr());
        let _ = std::io::stdout().flush();
        match proxy.run(termination()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e),
        }
    })
}

/// The command line as a [`ProxyConfig`] (not yet validated).
fn lower(
    socket: PathBuf,
    address: Result<SocketAddr, ConfigError>,
    security: &SecurityArgs,
) -> Result<ProxyConfig, ConfigError> {
    let token_file = security.token_file.as_deref();
    let token = config::load_token(token_file, std::env::var(TOKEN_ENV).ok())?;
    if let Some(path) = token_file {
        warn_if_readable_by_others(path);
    }
    Ok(ProxyConfig {
        socket,
        address: address?,
        token,
        cors_origins: security.cors_origins.clone(),
        insecure: security.insecure,
        max_body: DEFAULT_MAX_BODY,
    })
}

fn warn_if_readable_by_others(path: &Path) {
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(
                "token file {} is readable by other users; chmod 600 it",
                path.display()
            );
        }
    }
}

fn fail(e: &ProxyError) -> ExitCode {
    eprintln!("zinit-http: {e}");
    ExitCode::from(e.exit_code())
}

/// Resolves on SIGTERM or SIGINT (never, if neither can be watched).
async fn termination() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::warn!("cannot watch SIGTERM/SIGINT; stop the proxy with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    tracing::info!("stopping the HTTP proxy");
}

/// Log to stderr; `ZINIT_LOG` sets the filter (default `info`).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ZINIT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}
