//! `log_file`: output also written to `<log dir>/<name>.log`, rotated by
//! size, never more than `max_size * (keep + 1)` bytes on disk; a log
//! directory that cannot be written is reported and harms nothing.

use super::*;
use std::path::Path;

/// The number in a file line `<time> [+] line NNNNNN padding`.
fn line_number(line: &str) -> u64 {
    let (_, rest) = line
        .split_once(" [+] line ")
        .unwrap_or_else(|| panic!("{line:?}"));
    rest[..6].parse().expect("number")
}

fn numbers(path: &Path) -> Vec<u64> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(line_number)
        .collect()
}

#[test]
fn rotation_keeps_at_most_the_configured_files_and_bytes() {
    let d = Daemon::new();
    let logs = d.path("logs");
    // 4,000 lines of ~190 bytes with the timestamp: ~760 KB, six times
    // the 128 KiB files, yet less than a file writer's queue holds (4,096
    // lines, 1 MiB), so however the threads are scheduled none is dropped.
    let padding = "p".repeat(150);
    d.service(
        "rot",
        &format!(
            "{}log_file:\n  max_size: 128KiB\n  keep: 2\n",
            oneshot(&format!("seq -f \"line %06g {padding}\" 1 4000"))
        ),
    );
    let d = d.start_args(&["--log-dir", logs.to_str().unwrap()]);
    d.wait_state("rot", |s| s == "Success");
    let live = logs.join("rot.log");
    wait_until("the last line in the file", || {
        std::fs::read_to_string(&live)
            .is_ok_and(|t| t.lines().last().is_some_and(|l| line_number(l) == 4000))
    });

    let mut names: Vec<String> = std::fs::read_dir(&logs)
        .expect("log dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["rot.log", "rot.log.1", "rot.log.2"]);
    let mut total = 0;
    for name in &names {
        let size = std::fs::metadata(logs.join(name)).expect("size").len();
        assert!(size <= 128 * 1024, "{name} is {size} bytes");
        total += size;
    }
    assert!(total <= 3 * 128 * 1024);
    // Newest in rot.log, then .1, then .2, with no line lost between them.
    let (newest, older, oldest) = (
        numbers(&live),
        numbers(&logs.join("rot.log.1")),
        numbers(&logs.join("rot.log.2")),
    );
    let joined: Vec<u64> = oldest
        .iter()
        .chain(&older)
        .chain(&newest)
        .copied()
        .collect();
    let first = joined[0];
    assert!(first > 1, "old lines were rotated away");
    assert_eq!(joined, (first..=4000).collect::<Vec<_>>());
    // The ring got the lines too, and the files lost none.
    assert_eq!(d.lines_captured("rot"), 4000);
    let metrics = d.result("system_metrics", json!([]));
    assert_eq!(metrics["log"]["file_dropped_total"], 0);
}

#[test]
fn an_unwritable_log_dir_is_reported_and_the_service_still_runs() {
    let d = Daemon::new();
    // A log "directory" below a regular file can never be created.
    let blocker = d.path("not-a-dir");
    std::fs::write(&blocker, "").expect("file");
    let logs = blocker.join("logs");
    d.service(
        "talk",
        &format!("{}log_file: true\n", sh("echo hello; exec sleep 1000")),
    );
    let d = d.start_args(&["--log-dir", logs.to_str().unwrap()]);
    d.wait_running("talk");
    wait_until("the line in the ring", || {
        kept_texts(&d, "talk") == ["hello"]
    });
    let zinit_lines = kept_texts(&d, "zinit");
    assert!(
        zinit_lines
            .iter()
            .any(|l| l.contains(logs.to_str().unwrap()) && l.contains("talk")),
        "no report of the unwritable log file in {zinit_lines:?}"
    );
    let metrics = d.result("system_metrics", json!([]));
    assert!(metrics["log"]["file_dropped_total"].as_u64().unwrap() >= 1);
    assert_eq!(d.state("talk").0, "Running");
}
