//! `zinit`: the command-line entry point. Every command but `init` is a
//! client of the control socket; `init` runs the daemon.
//!
//! Exit codes: 0 success, 1 refused or failed, 2 usage or configuration
//! error, 3 daemon unreachable.

mod cli;
mod client_commands;
mod init;
mod logging;
mod output;
mod signals;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::Args::parse();
    match args.command {
        cli::Command::Init(ref init_args) => init::run(&args, init_args),
        cli::Command::Proxy(ref proxy) => zinit_http::cli::run_proxy(args.socket.clone(), proxy),
        _ => client_commands::run(&args),
    }
}
