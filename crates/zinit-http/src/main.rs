//! `zinit-http`: zinit's JSON-RPC API over HTTP and WebSocket, forwarded to
//! the control socket. See `zinit_http::cli` for options and exit codes.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = zinit_http::cli::HttpArgs::parse();
    zinit_http::cli::run_http(&args)
}
