//! Reading a service's stdout or stderr pipe into lines for the hub.
//!
//! The reader always drains the pipe promptly (pushing a line is a short
//! critical section), so a service never blocks on its output for long, and
//! it holds at most one partial line of [`MAX_LINE_BYTES`]: a longer line
//! is pushed cut and marked truncated, and the rest of it is dropped up to
//! the next newline. Invalid UTF-8 is replaced, never a reason to stop.
//! The reader awaits nothing but the pipe: the hub's lock is short and a
//! log file's queue never blocks (a full queue drops the line, counted).
//!
//! An idle reader holds no read buffer: it waits for readiness, then reads
//! into its worker thread's one scratch buffer without awaiting in between,
//! so hundreds of quiet services cost no buffer memory each.

use super::{LogFile, LogHub, Stream, MAX_LINE_BYTES};
use std::cell::RefCell;
use std::io::ErrorKind;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use tokio::net::unix::pipe;

/// How much is read from the pipe at once (a whole default pipe buffer).
const READ_CHUNK: usize = 64 * 1024;

thread_local! {
    /// The scratch buffer every reader on this thread reads into. Borrowed
    /// only between a readiness wake-up and the end of that one read, never
    /// across an await, so one per thread is enough.
    static READ_BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// What one read from the pipe came to.
enum Read {
    Data,
    NotReady,
    Eof,
    Failed(std::io::Error),
}

/// Read `fd` (the read end of a pipe) until EOF, pushing each line to `hub`
/// as `service`'s `stream`, and to `file` if any. An unterminated last
/// line is pushed at EOF. Must be called within a tokio runtime.
pub fn spawn_pipe_reader(
    hub: Arc<LogHub>,
    service: Arc<str>,
    stream: Stream,
    fd: OwnedFd,
    file: Option<LogFile>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let pipe = match pipe::Receiver::from_owned_fd(fd) {
            Ok(pipe) => pipe,
            Err(e) => {
                tracing::warn!(%service, "cannot read output of service {service}: {e}");
                return;
            }
        };
        let mut lines = Splitter::new(MAX_LINE_BYTES);
        let mut emit = |bytes: &[u8], truncated: bool| {
            let text = String::from_utf8_lossy(bytes).into_owned();
            let line = hub.push_line(Arc::clone(&service), stream, text, truncated);
            if let Some(file) = &file {
                file.write(&line);
            }
        };
        loop {
            if let Err(e) = pipe.readable().await {
                tracing::warn!(%service, "reading output of service {service} failed: {e}");
                break;
            }
            let read = READ_BUF.with_borrow_mut(|buf| {
                if buf.len() < READ_CHUNK {
                    buf.resize(READ_CHUNK, 0);
                }
                match pipe.try_read(buf) {
                    Ok(0) => Read::Eof,
                    Ok(n) => {
                        lines.feed(&buf[..n], &mut emit);
                        Read::Data
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => Read::NotReady,
                    Err(e) if e.kind() == ErrorKind::Interrupted => Read::NotReady,
                    Err(e) => Read::Failed(e),
                }
            });
            match read {
                Read::Data | Read::NotReady => {}
                Read::Eof => break,
                Read::Failed(e) => {
                    tracing::warn!(%service, "reading output of service {service} failed: {e}");
                    break;
                }
            }
        }
        lines.finish(&mut emit);
    })
}

/// Splits a byte stream on `\n` (dropping a `\r` before it), holding at most
/// `max` bytes of a partial line.
struct Splitter {
    pending: Vec<u8>,
    /// Dropping the rest of a line that was already pushed truncated.
    discarding: bool,
    max: usize,
}

impl Splitter {
    fn new(max: usize) -> Splitter {
        Splitter {
            pending: Vec::new(),
            discarding: false,
            max,
        }
    }

    fn feed(&mut self, mut data: &[u8], emit: &mut impl FnMut(&[u8], bool)) {
        while !data.is_empty() {
            match data.iter().position(|b| *b == b'\n') {
                Some(at) => {
                    self.take(&data[..at], emit);
                    self.end_line(emit);
                    data = &data[at + 1..];
                }
                None => {
                    self.take(data, emit);
                    data = &[];
                }
            }
        }
    }

    /// Push the unterminated tail, if any.
    fn finish(mut self, emit: &mut impl FnMut(&[u8], bool)) {
        if !self.discarding && !self.pending.is_empty() {
            self.end_line(emit);
        }
    }

    /// Append part of a line; once it would exceed `max`, push the first
    /// `max` bytes truncated and drop the rest of the line.
    fn take(&mut self, chunk: &[u8], emit: &mut impl FnMut(&[u8], bool)) {
        if self.discarding {
            return;
        }
        let room = self.max - self.pending.len();
        if chunk.len() <= room {
            self.pending.extend_from_slice(chunk);
            return;
        }
        self.pending.extend_from_slice(&chunk[..room]);
        emit(&self.pending, true);
        self.pending.clear();
        self.discarding = true;
    }

    fn end_line(&mut self, emit: &mut impl FnMut(&[u8], bool)) {
        if std::mem::take(&mut self.discarding) {
            return;
        }
        let line = self.pending.strip_suffix(b"\r").unwrap_or(&self.pending);
        emit(line, false);
        self.pending.clear();
        if self.pending.capacity() > 4 * 1024 {
            // Do not keep a 64 KiB buffer per idle service after one long line.
            self.pending.shrink_to(1024);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::{LogFrom, RingLimits};
    use std::io::Write;
    use std::time::Duration;

    fn split(max: usize, chunks: &[&[u8]]) -> Vec<(String, bool)> {
        let mut out = Vec::new();
        let mut emit = |b: &[u8], t: bool| out.push((String::from_utf8_lossy(b).into_owned(), t));
        let mut s = Splitter::new(max);
        for c in chunks {
            s.feed(c, &mut emit);
        }
        s.finish(&mut emit);
        out
    }

    fn owned(v: &[(&str, bool)]) -> Vec<(String, bool)> {
        v.iter().map(|(s, t)| (s.to_string(), *t)).collect()
    }

    #[test]
    fn splits_across_chunks_and_strips_cr() {
        let got = split(100, &[b"ab", b"c\r\nde\n\nf", b"g"]);
        assert_eq!(
            got,
            owned(&[("abc", false), ("de", false), ("", false), ("fg", false)])
        );
    }

    #[test]
    fn cuts_long_lines_and_drops_their_rest() {
        let got = split(4, &[b"abcdefgh", b"ij\nxy\n1234\n12345"]);
        assert_eq!(
            got,
            owned(&[
                ("abcd", true),
                ("xy", false),
                ("1234", false),
                ("1234", true)
            ])
        );
    }

    #[test]
    fn invalid_utf8_is_kept_lossily() {
        let got = split(100, &[b"a\xffb\0c\n"]);
        assert_eq!(got, owned(&[("a\u{fffd}b\0c", false)]));
    }

    /// A pipe whose write end is fed by a plain thread.
    fn pipe_with_writer(data: Vec<u8>) -> (OwnedFd, std::thread::JoinHandle<()>) {
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        let writer = std::thread::spawn(move || {
            let mut file = std::fs::File::from(w);
            file.write_all(&data).unwrap();
        });
        (r, writer)
    }

    #[tokio::test]
    async fn a_one_mib_line_without_newline_becomes_one_truncated_line() {
        let hub = LogHub::new(RingLimits {
            max_lines: 100,
            max_bytes: usize::MAX,
        });
        let mut data = b"first\n".to_vec();
        data.extend(std::iter::repeat_n(b'x', 1024 * 1024));
        let (fd, writer) = pipe_with_writer(data);
        let task = spawn_pipe_reader(hub.clone(), "svc".into(), Stream::Stdout, fd, None);
        tokio::time::timeout(Duration::from_secs(20), task)
            .await
            .unwrap()
            .unwrap();
        writer.join().unwrap();
        let lines = hub.read(None, LogFrom::All).lines;
        assert_eq!(lines.len(), 2);
        assert_eq!(
            (lines[0].text.as_str(), lines[0].truncated),
            ("first", false)
        );
        assert_eq!(lines[1].text.len(), MAX_LINE_BYTES);
        assert!(lines[1].truncated);
        assert_eq!(&*lines[1].service, "svc");
    }

    #[tokio::test]
    async fn lines_also_go_to_the_log_file() {
        let dir = tempfile::tempdir().unwrap();
        let hub = LogHub::new(RingLimits {
            max_lines: 100,
            max_bytes: usize::MAX,
        });
        let file = LogFile::open(dir.path(), "svc", 1 << 20, 1, hub.clone());
        let (fd, writer) = pipe_with_writer(b"one\ntwo\n".to_vec());
        let task = spawn_pipe_reader(hub.clone(), "svc".into(), Stream::Stderr, fd, Some(file));
        tokio::time::timeout(Duration::from_secs(20), task)
            .await
            .unwrap()
            .unwrap();
        writer.join().unwrap();
        assert_eq!(hub.read(None, LogFrom::All).lines.len(), 2);
        // The reader's handle is gone: the writer finishes on its own.
        let path = dir.path().join("svc.log");
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let content = std::fs::read_to_string(&path).unwrap_or_default();
            let ends: Vec<_> = content
                .lines()
                .map(|l| l.split_once(' ').unwrap().1)
                .collect();
            if ends == ["[-] one", "[-] two"] {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{content:?}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn pushes_the_unterminated_tail_at_eof() {
        let hub = LogHub::new(RingLimits {
            max_lines: 100,
            max_bytes: usize::MAX,
        });
        let (fd, writer) = pipe_with_writer(b"one\r\ntwo".to_vec());
        let task = spawn_pipe_reader(hub.clone(), "svc".into(), Stream::Stderr, fd, None);
        tokio::time::timeout(Duration::from_secs(20), task)
            .await
            .unwrap()
            .unwrap();
        writer.join().unwrap();
        let lines: Vec<_> = hub
            .read(None, LogFrom::All)
            .lines
            .iter()
            .map(|l| (l.text.clone(), l.stream))
            .collect();
        assert_eq!(
            lines,
            [
                ("one".to_string(), Stream::Stderr),
                ("two".to_string(), Stream::Stderr)
            ]
        );
    }

    #[tokio::test]
    async fn a_fast_writer_is_never_stalled_and_memory_stays_bounded() {
        // 16 MiB through a ring of 1000 lines / 1 MiB: the writer finishes
        // and the ring holds no more than its bounds.
        let hub = LogHub::new(RingLimits {
            max_lines: 1000,
            max_bytes: 1024 * 1024,
        });
        let line = [b"y".repeat(1023), b"\n".to_vec()].concat();
        let data: Vec<u8> = line
            .iter()
            .copied()
            .cycle()
            .take(16 * 1024 * 1024)
            .collect();
        let (fd, writer) = pipe_with_writer(data);
        let task = spawn_pipe_reader(hub.clone(), "svc".into(), Stream::Stdout, fd, None);
        tokio::time::timeout(Duration::from_secs(60), task)
            .await
            .unwrap()
            .unwrap();
        writer.join().unwrap();
        let kept = hub.read(None, LogFrom::All).lines;
        assert!(kept.len() <= 1000);
        assert!(kept.iter().map(|l| l.text.len()).sum::<usize>() <= 1024 * 1024);
        assert_eq!(kept.last().unwrap().seq, 16 * 1024);
    }
}
