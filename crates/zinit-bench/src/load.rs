//! Closed-loop load: C client threads, each with its own connection, doing
//! one request after another for a fixed time.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use crate::summary::per_second;
use crate::{Failure, Rate};

/// Runs `clients` threads for `seconds`: each calls `connect` once, waits
/// until all are connected, then calls `step` until the time is up. Any
/// failure stops the run early and is returned.
pub fn run<T, C, S>(clients: usize, seconds: f64, connect: C, step: S) -> Result<Rate, Failure>
where
    C: Fn() -> Result<T, Failure> + Sync,
    S: Fn(&mut T) -> Result<(), Failure> + Sync,
{
    let duration = Duration::try_from_secs_f64(seconds)
        .map_err(|e| Failure(format!("bad duration {seconds}: {e}")))?;
    let start_line = Barrier::new(clients + 1);
    let stop = AtomicBool::new(false);

    let (counts, elapsed) = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..clients)
            .map(|_| {
                scope.spawn(|| {
                    let conn = connect();
                    if conn.is_err() {
                        stop.store(true, Ordering::Relaxed);
                    }
                    start_line.wait();
                    let mut conn = conn?;
                    let mut done = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        if let Err(e) = step(&mut conn) {
                            stop.store(true, Ordering::Relaxed);
                            return Err(e);
                        }
                        done += 1;
                    }
                    Ok(done)
                })
            })
            .collect();

        start_line.wait();
        let start = Instant::now();
        let deadline = start + duration;
        // Sleep in slices so that a failing client ends the run early.
        loop {
            let now = Instant::now();
            if now >= deadline || stop.load(Ordering::Relaxed) {
                break;
            }
            std::thread::sleep((deadline - now).min(Duration::from_millis(20)));
        }
        stop.store(true, Ordering::Relaxed);
        let elapsed = start.elapsed();
        let counts: Vec<Result<u64, Failure>> = workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|_| Err(Failure("a client thread panicked".into())))
            })
            .collect();
        (counts, elapsed)
    });

    let mut total = 0u64;
    for count in counts {
        total += count?;
    }
    Ok(Rate {
        per_second: per_second(total, elapsed),
        clients,
        seconds,
    })
}
