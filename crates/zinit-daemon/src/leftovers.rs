//! zinit restarted over running services: a previous instance that was
//! SIGKILLed (or crashed) left its services running; the new one must not
//! start a second copy of them.
//!
//! The choice: **stop the leftovers, then start normally.** Adopting them
//! is impossible (they are not our children: we cannot wait for them, and
//! their log pipes died with the old zinit), and refusing to start would
//! leave the machine without a supervisor.
//!
//! How they are found:
//! - **A state file** next to the control socket (`<socket>.state`): one
//!   line per running service, `NAME PID START`, where START is the
//!   process's start time from /proc (read under the process-table lock,
//!   so the pid was not reaped and recycled meanwhile). A writer thread
//!   rewrites it atomically (temp file + rename) whenever the set of main
//!   processes changes, off the actor; a clean exit removes it (a failed
//!   supervisor leaves it, for the next instance).
//! - **Service cgroups** when cgroups are on: a populated `NAME.service`
//!   under the base for a configured (or recorded) service holds exactly
//!   its leftovers, `setsid` escapers included.
//!
//! This runs only after the new instance bound the socket: binding refuses
//! a live daemon's socket, so the old instance is known dead. A recorded
//! pid is trusted only if a pidfd opened on it finds the same start time
//! afterwards; a recycled pid (a stranger) is left alone. It is stopped as
//! a `process::stop::Tree`: signals go through the pidfd, to the group
//! (`kill(-pgid)`) only while the leader is verified alive, and to the
//! descendants that left the group through pidfds checked when found;
//! once more with SIGKILL right after the leader exits (the same rule as a
//! normal stop's remnants).
//!
//! Each leftover gets its service's stop signal, `shutdown_timeout`, then
//! SIGKILL, through `process::stop::escalate`; all in parallel, before any
//! service starts.

use crate::process::cgroup::{self, Cgroups};
use crate::process::pidfd::{self, Pidfd};
use crate::process::stop::{self, Outcome, Step, Stop, Target, Tree};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use zinit_core::signal::Signal;
use zinit_core::supervisor::Snapshot;

/// First line of the state file.
const HEADER: &str = "# zinit running services v1: NAME PID START";

/// How long killed leftovers may take to disappear before zinit reports
/// them and goes on.
const KILL_WAIT: Duration = Duration::from_secs(3);

/// One running service as recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub service: String,
    pub pid: i32,
    /// Field 22 of /proc/PID/stat.
    pub start: u64,
}

/// How to stop a leftover of one service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StopPolicy {
    pub signal: Signal,
    pub timeout: Duration,
}

impl Default for StopPolicy {
    fn default() -> StopPolicy {
        StopPolicy {
            signal: Signal::Term,
            timeout: zinit_core::spec::DEFAULT_SHUTDOWN_TIMEOUT,
        }
    }
}

/// The state file that goes with a control socket.
pub fn state_path(socket: &Path) -> PathBuf {
    let mut name = socket.as_os_str().to_owned();
    name.push(".state");
    PathBuf::from(name)
}

/// The state file's text.
pub fn render(records: &[Record]) -> String {
    let mut text = format!("{HEADER}\n");
    for r in records {
        text.push_str(&format!("{} {} {}\n", r.service, r.pid, r.start));
    }
    text
}

/// Records from a state file's text; anything malformed is skipped.
pub fn parse(text: &str) -> Vec<Record> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let mut fields = l.split(' ');
            let service = fields.next()?;
            let pid: i32 = fields.next()?.parse().ok()?;
            let start: u64 = fields.next()?.parse().ok()?;
            let valid = fields.next().is_none()
                && pid > 1
                && zinit_core::name::ServiceName::new(service).is_ok();
            valid.then(|| Record {
                service: service.to_owned(),
                pid,
                start,
            })
        })
        .collect()
}

/// Keeps the state file up to date; see [`start_recorder`].
pub struct Recorder {
    path: PathBuf,
    task: tokio::task::JoinHandle<()>,
    writer: std::thread::JoinHandle<()>,
}

impl Recorder {
    /// Stop recording; wait for the last write; remove the file if
    /// `remove` (every service was stopped).
    pub async fn finish(self, remove: bool) {
        self.task.abort();
        let _ = self.task.await;
        let (writer, path) = (self.writer, self.path);
        let _ = tokio::task::spawn_blocking(move || {
            let _ = writer.join();
            if remove {
                let _ = std::fs::remove_file(path);
            }
        })
        .await;
    }
}

/// Keep `path` up to date with the main processes in the published
/// snapshots, until [`Recorder::finish`].
pub fn start_recorder(
    path: PathBuf,
    mut snapshots: watch::Receiver<Arc<Snapshot>>,
) -> Option<Recorder> {
    let (tx, rx) = std::sync::mpsc::channel::<Vec<(String, i32)>>();
    let file = path.clone();
    let writer = std::thread::Builder::new()
        .name("zinit-state".into())
        .spawn(move || write_states(&file, &rx));
    let writer = match writer {
        Ok(writer) => writer,
        Err(e) => {
            tracing::warn!("cannot start the state file writer: {e}");
            return None;
        }
    };
    let task = tokio::spawn(async move {
        let mut last = None;
        loop {
            let running: Vec<(String, i32)> = snapshots
                .borrow_and_update()
                .services
                .iter()
                .filter_map(|(name, view)| Some((name.to_string(), view.pid?)))
                .collect();
            if last.as_ref() != Some(&running) {
                if tx.send(running.clone()).is_err() {
                    return;
                }
                last = Some(running);
            }
            if snapshots.changed().await.is_err() {
                return; // the actor ended
            }
        }
    });
    Some(Recorder { path, task, writer })
}

/// The writer thread: latest set first, each written atomically.
fn write_states(path: &Path, sets: &std::sync::mpsc::Receiver<Vec<(String, i32)>>) {
    while let Ok(first) = sets.recv() {
        let latest = sets.try_iter().last().unwrap_or(first);
        let records: Vec<Record> = latest
            .into_iter()
            .filter_map(|(service, pid)| {
                let start = crate::process::start_time_of_child(pid)?;
                Some(Record {
                    service,
                    pid,
                    start,
                })
            })
            .collect();
        if let Err(e) = write_atomically(path, &render(&records)) {
            tracing::warn!("cannot write {}: {e}", path.display());
        }
    }
}

fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&tmp)?;
    file.write_all(text.as_bytes())?;
    drop(file);
    std::fs::rename(&tmp, path)
}

/// The records of a state file we can trust: a regular file (not a
/// symlink), ours, writable by nobody else. `None` if there is none.
fn read_state(path: &Path) -> Option<Vec<Record>> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path);
    let mut file = match file {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::warn!("ignoring state file {}: {e}", path.display());
            return None;
        }
    };
    let meta = file.metadata().ok()?;
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    if !meta.is_file() || meta.uid() != me || meta.mode() & 0o022 != 0 {
        tracing::warn!(
            "ignoring state file {}: not a private regular file of ours",
            path.display()
        );
        return None;
    }
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::Read::take(&mut file, 1 << 20), &mut text).ok()?;
    Some(parse(&text))
}

struct Leftover {
    service: String,
    target: Target,
    policy: StopPolicy,
}

impl Leftover {
    fn describe(&self) -> String {
        match &self.target {
            Target::Cgroup(dir) => format!(
                "{} (cgroup {}: pids {:?})",
                self.service,
                dir.display(),
                cgroup::procs(dir).unwrap_or_default()
            ),
            Target::Tree(tree) => format!("{} (pid {})", self.service, tree.pid()),
            Target::Child(pid) => format!("{} (pid {pid})", self.service),
            Target::Everyone => self.service.clone(),
        }
    }
}

/// Find what a previous zinit left running (from `state` and the service
/// cgroups) and stop it; blocks until done, bounded by the longest
/// `shutdown_timeout` involved plus a few seconds. `policies`: the
/// configured services.
pub fn stop_leftovers(
    state: Option<&Path>,
    cgroups: Option<&Cgroups>,
    policies: &BTreeMap<String, StopPolicy>,
) {
    let records = state.and_then(read_state).unwrap_or_default();
    let mut found = find_cgroups(cgroups, policies, &records);
    let in_cgroups: BTreeSet<i32> = found
        .iter()
        .filter_map(|l| match &l.target {
            Target::Cgroup(dir) => cgroup::procs(dir).ok(),
            _ => None,
        })
        .flatten()
        .collect();
    for record in &records {
        if in_cgroups.contains(&record.pid) {
            continue; // stopped through its cgroup
        }
        if let Some(fd) = verify(record) {
            found.push(Leftover {
                service: record.service.clone(),
                policy: policies.get(&record.service).copied().unwrap_or_default(),
                target: Target::Tree(Tree::adopted(fd, record.start)),
            });
        }
    }
    if found.is_empty() {
        return;
    }
    let list: Vec<String> = found.iter().map(Leftover::describe).collect();
    tracing::warn!(
        "found services left running by a previous zinit: {}; stopping them before starting any",
        list.join(", ")
    );
    stop_all(found);
}

/// Populated service cgroups of configured or recorded services.
fn find_cgroups(
    cgroups: Option<&Cgroups>,
    policies: &BTreeMap<String, StopPolicy>,
    records: &[Record],
) -> Vec<Leftover> {
    let Some(cgroups) = cgroups else {
        return Vec::new();
    };
    let names: BTreeSet<&str> = policies
        .keys()
        .map(String::as_str)
        .chain(records.iter().map(|r| r.service.as_str()))
        .collect();
    names
        .into_iter()
        .filter_map(|name| {
            let dir = cgroups.service_dir(name);
            cgroup::populated(&dir).ok()?.then(|| Leftover {
                service: name.to_owned(),
                policy: policies.get(name).copied().unwrap_or_default(),
                target: Target::Cgroup(dir),
            })
        })
        .collect()
}

/// A pidfd on the recorded process if it is still that process.
fn verify(record: &Record) -> Option<Pidfd> {
    let fd = Pidfd::open(record.pid).ok()??;
    // Read after the open: if /proc shows the recorded start time now, the
    // pidfd refers to that very process (or it died, and signals fail).
    match pidfd::start_time(record.pid) {
        Some(start) if start == record.start => Some(fd),
        Some(_) => {
            tracing::info!(
                "pid {} recorded for service {} now belongs to another process; left alone",
                record.pid,
                record.service
            );
            None
        }
        None => None,
    }
}

/// Stop every leftover through the one escalation, in parallel.
fn stop_all(left: Vec<Leftover>) {
    let (names, mut stops): (Vec<(String, String, Duration)>, Vec<Stop>) = left
        .into_iter()
        .map(|l| {
            let named = (l.describe(), l.service, l.policy.timeout);
            let stop = Stop {
                target: l.target,
                signal: l.policy.signal,
                grace: l.policy.timeout,
            };
            (named, stop)
        })
        .unzip();
    stop::escalate(&mut stops, KILL_WAIT, |i, step| {
        let (described, name, timeout) = &names[i];
        match step {
            Step::Failed(e) => tracing::warn!("leftover {name}: {e}"),
            Step::Killing => tracing::warn!(
                "leftover {name} did not stop within {} s: sending SIGKILL",
                timeout.as_secs_f64()
            ),
            Step::Ended(Outcome::Survived) => tracing::error!(
                "leftover {described} survived SIGKILL for {} s; starting anyway",
                KILL_WAIT.as_secs()
            ),
            Step::Ended(_) => tracing::info!("leftover {name} stopped"),
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_bad_lines_are_skipped() {
        let records = vec![
            Record {
                service: "web".into(),
                pid: 123,
                start: 456,
            },
            Record {
                service: "a.b".into(),
                pid: 7,
                start: 0,
            },
        ];
        assert_eq!(parse(&render(&records)), records);
        let text = "web 1 5\n../x 9 9\nweb x 5\nweb 9\nweb 9 9 9\nok 10 11\n";
        assert_eq!(
            parse(text),
            vec![Record {
                service: "ok".into(),
                pid: 10,
                start: 11
            }]
        );
    }

    #[test]
    fn the_state_file_sits_next_to_the_socket() {
        assert_eq!(
            state_path(Path::new("/run/zinit.sock")),
            PathBuf::from("/run/zinit.sock.state")
        );
    }

    #[test]
    fn a_recycled_pid_is_not_verified() {
        let me = std::process::id() as i32;
        let start = pidfd::start_time(me).expect("own start time");
        let ours = Record {
            service: "x".into(),
            pid: me,
            start,
        };
        assert!(verify(&ours).is_some());
        let stranger = Record {
            start: start + 1,
            ..ours
        };
        assert!(verify(&stranger).is_none());
    }

    #[test]
    fn a_state_file_others_can_write_is_ignored() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.state");
        write_atomically(&path, "# h\nweb 5 6\n").expect("write");
        assert_eq!(read_state(&path).map(|r| r.len()), Some(1));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).expect("chmod");
        assert_eq!(read_state(&path), None);
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&path, &link).expect("symlink");
        assert_eq!(read_state(&link), None);
        assert_eq!(read_state(&dir.path().join("missing")), None);
    }
}
