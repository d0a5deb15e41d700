//! Pipe throughput floor: one writer thread writing 100-byte lines with one
//! write(2) each, one reader thread reading 64 KiB chunks and counting
//! newlines; the same shape as a supervisor capturing a service's stdout.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use crate::summary::per_second;
use crate::{Failure, Throughput};

pub const LINE_LEN: usize = 100;
pub const READ_CHUNK: usize = 64 * 1024;

/// Lines per second through a pipe over `seconds`.
pub fn pipe_floor(seconds: f64) -> Result<Throughput, Failure> {
    let duration = Duration::try_from_secs_f64(seconds)
        .map_err(|e| Failure(format!("bad duration {seconds}: {e}")))?;
    let (read_end, write_end) = pipe()?;
    let mut line = [b'x'; LINE_LEN];
    line[LINE_LEN - 1] = b'\n';
    let stop = AtomicBool::new(false);
    let start_line = Barrier::new(3);

    let (lines, elapsed) = std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            let mut out = write_end;
            start_line.wait();
            while !stop.load(Ordering::Relaxed) {
                out.write_all(&line)
                    .map_err(|e| Failure::io("pipe write", e))?;
            }
            Ok::<(), Failure>(())
            // `out` is dropped here: the reader sees end of file.
        });
        let reader = scope.spawn(|| {
            let mut input = read_end;
            let mut buf = vec![0u8; READ_CHUNK];
            let mut lines = 0u64;
            start_line.wait();
            loop {
                match input.read(&mut buf) {
                    Ok(0) => return Ok(lines),
                    Ok(n) => lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(Failure::io("pipe read", e)),
                }
            }
        });
        start_line.wait();
        let start = Instant::now();
        std::thread::sleep(duration);
        stop.store(true, Ordering::Relaxed);
        let elapsed = start.elapsed();
        let wrote = writer
            .join()
            .unwrap_or_else(|_| Err(Failure("writer thread panicked".into())));
        let read = reader
            .join()
            .unwrap_or_else(|_| Err(Failure("reader thread panicked".into())));
        (wrote.and(read), elapsed)
    });
    Ok(Throughput {
        per_second: per_second(lines?, elapsed),
    })
}

fn pipe() -> Result<(File, File), Failure> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two fds into a two-element array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(Failure::io("pipe2", std::io::Error::last_os_error()));
    }
    // SAFETY: both fds were just created and are owned by nobody else.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    Ok((File::from(r), File::from(w)))
}
