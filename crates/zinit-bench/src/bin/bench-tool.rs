//! `bench-tool SUBCOMMAND ...`: the hot loops of the benchmark harness
//! (`bench/bench.py`). Every subcommand prints one JSON object on stdout.
//! Exit status: 0 measured, 1 the measurement failed (stderr says what),
//! 2 bad arguments (with usage).

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser, Subcommand};
use serde::Serialize;
use zinit_bench::{echo, pipe, rpc, spawn, Failure};

#[derive(Parser)]
#[command(
    name = "bench-tool",
    version,
    about = "Measurement loops for the zinit benchmark; prints one JSON object",
    after_help = "Latencies are in microseconds (one decimal) after one untimed warm-up run; \
                  rates are per second. Exit status: 0 ok, 1 measurement failed, 2 bad arguments."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// fork+exec+wait of bench-child with BENCH_MODE=exit:
    /// {"median_us","min_us","max_us","samples"}
    SpawnFloor {
        /// Path of the bench-child binary.
        #[arg(long, value_name = "PATH")]
        child: PathBuf,
        #[arg(long, value_name = "N", value_parser = runs, allow_negative_numbers = true)]
        runs: u64,
    },
    /// Round trips of a 70-byte line to an in-process Unix socket echo
    /// server on one keep-alive connection: {"median_us",...}
    EchoFloor {
        #[arg(long, value_name = "N", value_parser = runs, allow_negative_numbers = true)]
        runs: u64,
    },
    /// C keep-alive echo clients, one server thread each:
    /// {"per_second","clients","seconds"}
    EchoLoad {
        #[arg(long, value_name = "C", value_parser = clients)]
        clients: usize,
        #[arg(long, value_name = "S", value_parser = seconds, allow_negative_numbers = true)]
        seconds: f64,
    },
    /// 100-byte lines through a pipe, one write(2) each, read in 64 KiB
    /// chunks: {"per_second"}
    PipeFloor {
        #[arg(long, value_name = "S", value_parser = seconds, allow_negative_numbers = true)]
        seconds: f64,
    },
    /// zinit JSON-RPC service_status round trips on one keep-alive
    /// connection: {"median_us",...}
    RpcRtt {
        /// zinit's control socket.
        #[arg(long, value_name = "P")]
        socket: PathBuf,
        /// Service to ask about.
        #[arg(long, value_name = "NAME")]
        name: String,
        #[arg(long, value_name = "N", value_parser = runs, allow_negative_numbers = true)]
        runs: u64,
        /// Send each request without a trailing newline, as upstream
        /// zinit's own client (reth-ipc) does.
        #[arg(long)]
        no_newline: bool,
    },
    /// C keep-alive JSON-RPC service_status clients:
    /// {"per_second","clients","seconds"}
    RpcLoad {
        #[arg(long, value_name = "P")]
        socket: PathBuf,
        #[arg(long, value_name = "NAME")]
        name: String,
        #[arg(long, value_name = "C", value_parser = clients)]
        clients: usize,
        #[arg(long, value_name = "S", value_parser = seconds, allow_negative_numbers = true)]
        seconds: f64,
    },
    /// fork+exec+wait of a whole command N times, output to /dev/null;
    /// fails if any run exits non-zero: {"median_us",...}
    RunMany {
        #[arg(long, value_name = "N", value_parser = runs, allow_negative_numbers = true)]
        runs: u64,
        /// The command and its arguments, after `--`.
        #[arg(last = true, required = true, value_name = "ARGV")]
        argv: Vec<OsString>,
    },
}

const MAX_RUNS: u64 = 10_000_000;
const MAX_CLIENTS: usize = 4096;

fn runs(s: &str) -> Result<u64, String> {
    match s.parse::<u64>() {
        Ok(n) if (1..=MAX_RUNS).contains(&n) => Ok(n),
        _ => Err(format!("expected a whole number from 1 to {MAX_RUNS}")),
    }
}

fn clients(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=MAX_CLIENTS).contains(&n) => Ok(n),
        _ => Err(format!("expected a whole number from 1 to {MAX_CLIENTS}")),
    }
}

fn seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 && x <= 86_400.0 => Ok(x),
        _ => Err("expected a number of seconds above 0 (e.g. 2 or 0.5)".into()),
    }
}

impl Command {
    fn name(&self) -> &'static str {
        match self {
            Command::SpawnFloor { .. } => "spawn-floor",
            Command::EchoFloor { .. } => "echo-floor",
            Command::EchoLoad { .. } => "echo-load",
            Command::PipeFloor { .. } => "pipe-floor",
            Command::RpcRtt { .. } => "rpc-rtt",
            Command::RpcLoad { .. } => "rpc-load",
            Command::RunMany { .. } => "run-many",
        }
    }

    fn run(self) -> Result<String, Failure> {
        match self {
            Command::SpawnFloor { child, runs } => json(&spawn::spawn_floor(&child, runs)?),
            Command::EchoFloor { runs } => json(&echo::echo_floor(runs)?),
            Command::EchoLoad { clients, seconds } => json(&echo::echo_load(clients, seconds)?),
            Command::PipeFloor { seconds } => json(&pipe::pipe_floor(seconds)?),
            Command::RpcRtt {
                socket,
                name,
                runs,
                no_newline,
            } => json(&rpc::rpc_rtt(&socket, &name, runs, !no_newline)?),
            Command::RpcLoad {
                socket,
                name,
                clients,
                seconds,
            } => json(&rpc::rpc_load(&socket, &name, clients, seconds)?),
            Command::RunMany { runs, argv } => json(&spawn::run_many(&argv, runs)?),
        }
    }
}

fn json<T: Serialize>(value: &T) -> Result<String, Failure> {
    serde_json::to_string(value).map_err(|e| Failure(format!("JSON output: {e}")))
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return bad_arguments(e),
    };
    let name = cli.command.name();
    match cli.command.run() {
        Ok(out) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench-tool {name}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `--help` and `--version` go to stdout with status 0; any other argument
/// error goes to stderr with the usage of the subcommand concerned (clap
/// leaves it out for invalid values) and status 2.
fn bad_arguments(e: clap::Error) -> ExitCode {
    if !e.use_stderr() {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    let _ = e.print();
    let has_usage = matches!(
        e.kind(),
        ErrorKind::MissingRequiredArgument
            | ErrorKind::UnknownArgument
            | ErrorKind::MissingSubcommand
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            | ErrorKind::InvalidSubcommand
            | ErrorKind::ArgumentConflict
    );
    if !has_usage {
        let mut cmd = Cli::command();
        cmd.build();
        let sub = std::env::args().nth(1);
        let usage = match sub.as_deref().and_then(|s| cmd.find_subcommand_mut(s)) {
            Some(sub) => sub.render_usage(),
            None => cmd.render_usage(),
        };
        eprintln!("\n{usage}");
    }
    ExitCode::from(2)
}
