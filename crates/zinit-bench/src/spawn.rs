//! fork+exec+wait loops: the spawn floor and whole commands (`run-many`).
//!
//! `std::process::Command` does the spawning: whatever it costs, it costs the
//! same for every command measured, so ratios between them hold.

use std::ffi::OsString;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::{Failure, Summary};

/// Untimed runs before measuring, to fault in the binary and page cache.
pub const WARMUP_RUNS: u64 = 1;

/// fork+exec+wait of `bench-child` with `BENCH_MODE=exit`, `runs` times.
pub fn spawn_floor(child: &Path, runs: u64) -> Result<Summary, Failure> {
    let mut cmd = Command::new(child);
    cmd.env("BENCH_MODE", "exit").env_remove("BENCH_NOTIFY");
    time_runs(&mut cmd, &child.display().to_string(), runs)
}

/// fork+exec+wait of `argv` (program and arguments), `runs` times; fails on
/// the first run that cannot start or exits non-zero.
pub fn run_many(argv: &[OsString], runs: u64) -> Result<Summary, Failure> {
    let Some((program, args)) = argv.split_first() else {
        return Err(Failure("no command given".into()));
    };
    let shown = argv
        .iter()
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ");
    let mut cmd = Command::new(program);
    cmd.args(args);
    time_runs(&mut cmd, &shown, runs)
}

fn time_runs(cmd: &mut Command, shown: &str, runs: u64) -> Result<Summary, Failure> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for _ in 0..WARMUP_RUNS {
        run_once(cmd, shown)?;
    }
    let mut samples: Vec<Duration> = Vec::with_capacity(runs as usize);
    for _ in 0..runs {
        samples.push(run_once(cmd, shown)?);
    }
    Summary::of(&samples).ok_or_else(|| Failure("no runs measured".into()))
}

fn run_once(cmd: &mut Command, shown: &str) -> Result<Duration, Failure> {
    let start = Instant::now();
    let status = cmd
        .status()
        .map_err(|e| Failure::io(format_args!("cannot run `{shown}`"), e))?;
    let elapsed = start.elapsed();
    if !status.success() {
        return Err(Failure(format!("`{shown}` failed: {status}")));
    }
    Ok(elapsed)
}
