use super::*;
use crate::logs::{LogFrom, RingLimits};
use std::time::SystemTime;

fn hub() -> Arc<LogHub> {
    LogHub::new(RingLimits {
        max_lines: 10_000,
        max_bytes: usize::MAX,
    })
}

/// Open a log file whose writer can be joined; `gate` holds it back.
fn open(
    dir: &Path,
    max_size: u64,
    keep: u32,
    hub: &Arc<LogHub>,
    options: Options,
    gate: Option<Receiver<()>>,
) -> (LogFile, std::thread::JoinHandle<()>) {
    let (file, thread) = start(dir, "svc", max_size, keep, Arc::clone(hub), options, gate);
    (file, thread.unwrap())
}

/// Write lines "line 0".."line n-1" through `hub` and `file`, then close
/// the file and wait for its writer.
fn write_lines(hub: &LogHub, file: LogFile, thread: std::thread::JoinHandle<()>, n: usize) {
    for i in 0..n {
        let line = hub.push("svc", Stream::Stdout, format!("line {i}"));
        file.write(&line);
    }
    drop(file);
    thread.join().unwrap();
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// The texts of a file's lines, checking each line's format.
fn texts(content: &str) -> Vec<String> {
    content
        .lines()
        .map(|l| {
            let (time, rest) = l.split_once(' ').unwrap();
            humantime::parse_rfc3339(time).unwrap();
            assert!(time.ends_with('Z') && time.len() == 24, "{time}");
            let (mark, text) = rest.split_once(' ').unwrap();
            assert!(mark == "[+]" || mark == "[-]");
            text.to_owned()
        })
        .collect()
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn lines_are_written_with_time_and_stream() {
    let dir = tempfile::tempdir().unwrap();
    let hub = hub();
    let log_dir = dir.path().join("logs");
    let (file, thread) = open(&log_dir, 1 << 20, 2, &hub, Options::default(), None);
    assert_eq!(file.path(), log_dir.join("svc.log"));
    let before = SystemTime::now();
    file.write(&hub.push("svc", Stream::Stdout, "hello".into()));
    file.write(&hub.push("svc", Stream::Stderr, "oops".into()));
    file.write(&hub.push_line("svc".into(), Stream::Stdout, "long".into(), true));
    drop(file);
    thread.join().unwrap();
    let content = read(&log_dir.join("svc.log"));
    let lines: Vec<_> = content.lines().collect();
    assert_eq!(lines.len(), 3);
    assert!(lines[0].ends_with(" [+] hello"));
    assert!(lines[1].ends_with(" [-] oops"));
    assert!(lines[2].ends_with(" [+] long [cut]"));
    let time = humantime::parse_rfc3339(lines[0].split(' ').next().unwrap()).unwrap();
    let slack = std::time::Duration::from_millis(1);
    assert!(time + slack >= before && time <= SystemTime::now());
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&log_dir) & !0o750, 0);
    assert_eq!(mode(&log_dir.join("svc.log")) & !0o640, 0);
    assert_eq!(hub.counters().file_dropped_total, 0);
}

#[test]
fn rotation_keeps_at_most_keep_files_of_max_size() {
    let dir = tempfile::tempdir().unwrap();
    let hub = hub();
    // Each line is 24 (time) + 5 + "line NNN" + 1 bytes: about 38.
    let max_size = 400;
    let (file, thread) = open(dir.path(), max_size, 3, &hub, Options::default(), None);
    write_lines(&hub, file, thread, 500);
    assert_eq!(
        names(dir.path()),
        ["svc.log", "svc.log.1", "svc.log.2", "svc.log.3"]
    );
    let mut all = Vec::new();
    for name in ["svc.log.3", "svc.log.2", "svc.log.1", "svc.log"] {
        let content = read(&dir.path().join(name));
        assert!(
            content.len() as u64 <= max_size,
            "{name}: {}",
            content.len()
        );
        // Rotated files are full: the next line did not fit.
        if name != "svc.log" {
            assert!(
                content.len() as u64 > max_size - 40,
                "{name}: {}",
                content.len()
            );
        }
        all.extend(texts(&content));
    }
    // Oldest to newest across the files, ending with the last line.
    let first: usize = all[0].strip_prefix("line ").unwrap().parse().unwrap();
    let expected: Vec<_> = (first..500).map(|i| format!("line {i}")).collect();
    assert_eq!(all, expected);
    assert_eq!(hub.counters().file_dropped_total, 0);

    // Reopened with a smaller keep: files beyond it go on open.
    let (file, thread) = open(dir.path(), max_size, 1, &hub, Options::default(), None);
    write_lines(&hub, file, thread, 1);
    assert_eq!(names(dir.path()), ["svc.log", "svc.log.1"]);
}

#[test]
fn keep_zero_truncates_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let hub = hub();
    let (file, thread) = open(dir.path(), 400, 0, &hub, Options::default(), None);
    write_lines(&hub, file, thread, 100);
    assert_eq!(names(dir.path()), ["svc.log"]);
    let content = read(&dir.path().join("svc.log"));
    assert!(content.len() <= 400);
    assert_eq!(texts(&content).last().unwrap(), "line 99");
}

#[test]
fn an_existing_file_is_appended_to_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let hub = hub();
    let path = dir.path().join("svc.log");
    let old = "2000-01-01T00:00:00.000Z [+] old\n".repeat(10); // 330 bytes
    std::fs::write(&path, &old).unwrap();
    let (file, thread) = open(dir.path(), 400, 1, &hub, Options::default(), None);
    write_lines(&hub, file, thread, 1);
    assert_eq!(read(&path).len(), 330 + 36);
    assert!(read(&path).starts_with(&old));
    // The next lines take it past 400: the old content rotates away whole.
    let (file, thread) = open(dir.path(), 400, 1, &hub, Options::default(), None);
    write_lines(&hub, file, thread, 2);
    assert!(read(&dir.path().join("svc.log.1")).starts_with(&old));
    assert_eq!(texts(&read(&path)), ["line 0", "line 1"]);
}

#[test]
fn an_unwritable_dir_is_reported_and_counted_without_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let hub = hub();
    // A file where the directory should be: fails even for root.
    let not_a_dir = dir.path().join("taken");
    std::fs::write(&not_a_dir, "").unwrap();
    let options = Options {
        reopen_every: Duration::ZERO,
        ..Options::default()
    };
    let (file, thread) = open(&not_a_dir, 1 << 20, 2, &hub, options, None);
    write_lines(&hub, file, thread, 5);
    assert_eq!(hub.counters().file_dropped_total, 5);
    let reports: Vec<_> = hub
        .read(Some("zinit"), LogFrom::All)
        .lines
        .iter()
        .map(|l| (l.stream, l.text.clone()))
        .collect();
    // One report (the next is due in a minute), naming file and error.
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].0, Stream::Stderr);
    assert!(reports[0]
        .1
        .contains(&*not_a_dir.join("svc.log").to_string_lossy()));
    assert!(reports[0].1.contains("cannot open"), "{}", reports[0].1);
    assert!(reports[0].1.contains("os error"), "{}", reports[0].1);
}

#[test]
fn recovery_is_reported_once() {
    let dir = tempfile::tempdir().unwrap();
    let hub = hub();
    let log_dir = dir.path().join("logs");
    std::fs::write(&log_dir, "").unwrap();
    let options = Options {
        reopen_every: Duration::ZERO,
        ..Options::default()
    };
    let (gate_tx, gate) = mpsc::channel();
    let (file, thread) = open(&log_dir, 1 << 20, 2, &hub, options, Some(gate));
    gate_tx.send(()).unwrap();
    file.write(&hub.push("svc", Stream::Stdout, "lost".into()));
    // Wait for the failure report, then fix the directory.
    let deadline = Instant::now() + Duration::from_secs(20);
    while hub.counters().file_dropped_total < 1 {
        assert!(Instant::now() < deadline);
        std::thread::yield_now();
    }
    std::fs::remove_file(&log_dir).unwrap();
    write_lines(&hub, file, thread, 3);
    assert_eq!(
        texts(&read(&log_dir.join("svc.log"))),
        ["line 0", "line 1", "line 2"]
    );
    let reports: Vec<_> = hub
        .read(Some("zinit"), LogFrom::All)
        .lines
        .iter()
        .map(|l| l.text.clone())
        .collect();
    assert_eq!(reports.len(), 2, "{reports:?}");
    assert!(reports[1].contains("writing again"), "{}", reports[1]);
    assert_eq!(hub.counters().file_dropped_total, 1);
}

#[test]
fn a_full_queue_drops_and_counts_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let hub = hub();
    let options = Options {
        queue_lines: 4,
        ..Options::default()
    };
    let (gate_tx, gate) = mpsc::channel();
    let (file, thread) = open(dir.path(), 1 << 20, 2, &hub, options, Some(gate));
    for i in 0..10 {
        file.write(&hub.push("svc", Stream::Stdout, format!("line {i}")));
    }
    assert_eq!(hub.counters().file_dropped_total, 6);
    gate_tx.send(()).unwrap();
    drop(file);
    thread.join().unwrap();
    let content = read(&dir.path().join("svc.log"));
    assert_eq!(texts(&content), ["line 0", "line 1", "line 2", "line 3"]);
    let reports = hub.read(Some("zinit"), LogFrom::All).lines;
    assert_eq!(reports.len(), 1);
    assert!(
        reports[0].text.contains("6 lines dropped"),
        "{}",
        reports[0].text
    );

    // The byte bound too: big lines fill it first.
    let options = Options {
        queue_bytes: 3 * (1000 + crate::logs::LINE_OVERHEAD),
        ..Options::default()
    };
    let hub2 = self::hub();
    let (gate_tx, gate) = mpsc::channel();
    let (file, thread) = open(dir.path(), 1 << 20, 2, &hub2, options, Some(gate));
    for _ in 0..10 {
        file.write(&hub2.push("svc", Stream::Stdout, "x".repeat(1000)));
    }
    assert_eq!(hub2.counters().file_dropped_total, 7);
    drop(gate_tx);
    drop(file);
    thread.join().unwrap();
}

#[test]
fn a_bad_service_name_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let hub = hub();
    let (file, thread) = start(
        dir.path(),
        "../x",
        1 << 20,
        2,
        Arc::clone(&hub),
        Options::default(),
        None,
    );
    file.write(&hub.push("../x", Stream::Stdout, "no".into()));
    drop(file);
    thread.unwrap().join().unwrap();
    assert_eq!(hub.counters().file_dropped_total, 1);
    assert_eq!(names(dir.path()), Vec::<String>::new());
    assert!(!dir.path().parent().unwrap().join("x.log").exists());
}
