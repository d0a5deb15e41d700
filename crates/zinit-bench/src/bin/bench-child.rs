//! `bench-child`: the workload process every supervisor in the benchmark runs.
//!
//! It is exec'd hundreds of times per scenario (and is the fork+exec floor),
//! so it stays as cheap as a Rust program can be with a plain `fn main`: no
//! async runtime, no allocation beyond the notification, raw libc calls.
//!
//! - id: `argv[1]` if given, else the basename of the current directory
//!   (runit and s6 exec `./run` inside the service directory).
//! - `BENCH_NOTIFY=PATH`: send the datagram `"ID PID"` once to the bound
//!   `AF_UNIX` `SOCK_DGRAM` socket at PATH; failures are ignored (no socket,
//!   no notification).
//! - `BENCH_MODE`: unset or `sleep`: pause until SIGTERM (whose default
//!   action is restored first, so an inherited ignore or block cannot keep it
//!   alive); `exit`: exit 0 at once; `lines`: write 100-byte lines (99 bytes
//!   and `\n`, with a running counter) to stdout, one write(2) per line,
//!   forever; exits quietly (status 0) on EPIPE.

use std::ffi::CStr;
use std::os::unix::ffi::OsStrExt;

const LINE_LEN: usize = 100;
/// Bytes 5..25 of a line hold the counter as 20 decimal digits.
const COUNTER: std::ops::Range<usize> = 5..25;

fn main() {
    let mode = getenv(c"BENCH_MODE").map(CStr::to_bytes);
    match mode {
        None | Some(b"sleep") => {
            restore_sigterm();
            notify();
            loop {
                // SAFETY: pause(2) has no preconditions.
                unsafe { libc::pause() };
            }
        }
        Some(b"exit") => notify(),
        Some(b"lines") => {
            notify();
            write_lines();
        }
        Some(other) => {
            let msg = [
                b"bench-child: unknown BENCH_MODE '".as_slice(),
                other,
                b"' (expected sleep, exit or lines)\n",
            ]
            .concat();
            write_all_stderr(&msg);
            std::process::exit(2);
        }
    }
}

/// `getenv(3)` without copying; bench-child never sets variables nor starts
/// threads, so the returned pointer stays valid for the whole run.
fn getenv(name: &CStr) -> Option<&'static CStr> {
    // SAFETY: `name` is NUL-terminated; single-threaded, environment never
    // modified, so the pointer outlives every use.
    let value = unsafe { libc::getenv(name.as_ptr()) };
    if value.is_null() {
        None
    } else {
        // SAFETY: non-null getenv results are NUL-terminated C strings.
        Some(unsafe { CStr::from_ptr(value) })
    }
}

/// Default SIGTERM action and SIGTERM unblocked: dispositions "ignore" and
/// the signal mask survive exec, and "sleep" must end on SIGTERM.
fn restore_sigterm() {
    // SAFETY: plain signal-state syscalls on a zeroed, initialised sigset.
    unsafe {
        libc::signal(libc::SIGTERM, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
    }
}

/// Sends `"ID PID"` to `$BENCH_NOTIFY` if it is set. Errors are ignored:
/// the notification is best effort by contract.
fn notify() {
    let Some(path) = getenv(c"BENCH_NOTIFY") else {
        return;
    };
    let path = path.to_bytes();
    // SAFETY: sockaddr_un is plain old data; zeroed is a valid value.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    if path.is_empty() || path.len() >= addr.sun_path.len() {
        write_all_stderr(
            b"bench-child: BENCH_NOTIFY path is empty or too long for a socket address\n",
        );
        return;
    }
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    for (dst, &src) in addr.sun_path.iter_mut().zip(path) {
        *dst = src as libc::c_char;
    }

    let mut cwd = [0u8; libc::PATH_MAX as usize];
    let arg = std::env::args_os().nth(1);
    let id: &[u8] = match &arg {
        Some(arg) => arg.as_bytes(),
        None => cwd_basename(&mut cwd),
    };
    let mut msg = Vec::with_capacity(id.len() + 12);
    msg.extend_from_slice(id);
    msg.push(b' ');
    // SAFETY: getpid(2) cannot fail.
    push_decimal(&mut msg, unsafe { libc::getpid() } as u64);

    // SAFETY: valid socket arguments; the fd is closed at exit (or below);
    // the buffer and address outlive the call.
    unsafe {
        let fd = libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return;
        }
        loop {
            let sent = libc::sendto(
                fd,
                msg.as_ptr().cast(),
                msg.len(),
                0,
                std::ptr::addr_of!(addr).cast(),
                std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t,
            );
            if sent >= 0 || last_errno() != libc::EINTR {
                break;
            }
        }
        libc::close(fd);
    }
}

/// Basename of the current directory, or `?` when it cannot be read.
fn cwd_basename(buf: &mut [u8]) -> &[u8] {
    // SAFETY: getcwd writes at most buf.len() bytes, NUL included.
    let ok = unsafe { !libc::getcwd(buf.as_mut_ptr().cast(), buf.len()).is_null() };
    if !ok {
        return b"?";
    }
    let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let path = &buf[..len];
    match path.iter().rposition(|&b| b == b'/') {
        Some(slash) if slash + 1 < path.len() => &path[slash + 1..],
        _ => path,
    }
}

fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[start..]);
}

/// `line 00000000000000000001 abcdef...\n`: exactly 100 bytes.
fn first_line() -> [u8; LINE_LEN] {
    let mut line = [0u8; LINE_LEN];
    line[..COUNTER.start].copy_from_slice(b"line ");
    line[COUNTER].fill(b'0');
    line[COUNTER.end - 1] = b'1';
    line[COUNTER.end] = b' ';
    for (i, b) in line[COUNTER.end + 1..LINE_LEN - 1].iter_mut().enumerate() {
        *b = b'a' + (i % 26) as u8;
    }
    line[LINE_LEN - 1] = b'\n';
    line
}

/// Increments the decimal counter in place (no formatting per line).
fn increment(line: &mut [u8; LINE_LEN]) {
    for digit in line[COUNTER].iter_mut().rev() {
        if *digit == b'9' {
            *digit = b'0';
        } else {
            *digit += 1;
            return;
        }
    }
}

fn write_lines() -> ! {
    let mut line = first_line();
    loop {
        let mut done = 0;
        while done < LINE_LEN {
            // SAFETY: writes from a live buffer of at least LINE_LEN - done bytes.
            let n = unsafe { libc::write(1, line[done..].as_ptr().cast(), LINE_LEN - done) };
            if n >= 0 {
                done += n as usize;
                continue;
            }
            match last_errno() {
                libc::EINTR => {}
                libc::EPIPE => std::process::exit(0),
                _ => std::process::exit(1),
            }
        }
        increment(&mut line);
    }
}

fn write_all_stderr(mut msg: &[u8]) {
    while !msg.is_empty() {
        // SAFETY: writes from a live buffer.
        let n = unsafe { libc::write(2, msg.as_ptr().cast(), msg.len()) };
        if n < 0 && last_errno() == libc::EINTR {
            continue;
        }
        if n <= 0 {
            return;
        }
        msg = &msg[n as usize..];
    }
}

fn last_errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}
