//! The actor with a fake process backend: no fork, paused tokio time.
//!
//! The layer between the pure core's tests and the real binary's: what the
//! actor itself adds is checked here, in milliseconds and without root —
//! replies sent only after the snapshot that shows their effect, a batch of
//! commands answered from one step each, effects carried out in order
//! (spawns, stop signals, the SIGKILL timer, back-off timers), and the
//! shutdown outcome.

use super::launcher::Launcher;
use super::*;
use crate::logs::{LogHub, RingLimits};
use crate::probe_output::ProbeOutputs;
use crate::process::stop::StopError;
use crate::process::{Delivery, Reaped, Scope, SpawnError, SpawnRequest, Spawned};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;
use zinit_core::exit::ExitStatus;
use zinit_core::name::ServiceName;
use zinit_core::signal::Signal;
use zinit_core::spec::{CommandLine, ServiceSpec};

/// What the fake was asked to do, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Call {
    Spawn(String),
    Signal(i32, Signal),
}

#[derive(Default)]
struct FakeState {
    next_pid: i32,
    /// Live fake processes: pid -> (program, where its exit goes).
    live: HashMap<i32, (String, UnboundedSender<Reaped>)>,
    calls: Vec<Call>,
    /// Programs whose processes ignore SIGTERM (only SIGKILL ends them).
    stubborn: Vec<String>,
    /// The set-up and environment each spawn was asked for, in order.
    setups: Vec<(crate::process::ChildSetup, Vec<(String, String)>)>,
}

/// A launcher that forks nothing: processes are entries in a table, and
/// SIGTERM or SIGKILL "kills" one by reporting its exit, as the reaper
/// would.
#[derive(Clone, Default)]
struct Fake(Arc<Mutex<FakeState>>);

impl Fake {
    fn state(&self) -> std::sync::MutexGuard<'_, FakeState> {
        self.0.lock().unwrap()
    }

    fn calls(&self) -> Vec<Call> {
        self.state().calls.clone()
    }

    /// The live process of `program`.
    fn pid_of(&self, program: &str) -> Option<i32> {
        let state = self.state();
        state
            .live
            .iter()
            .find(|(_, (p, _))| p == program)
            .map(|(pid, _)| *pid)
    }

    /// The process exits on its own.
    fn exit(&self, pid: i32, status: ExitStatus) {
        let (_, exits) = self.state().live.remove(&pid).expect("a live fake process");
        exits
            .send(Reaped {
                pid,
                status,
                oom: zinit_core::exit::Oom::No,
            })
            .unwrap();
    }
}

impl Launcher for Fake {
    fn spawn(
        &mut self,
        request: &SpawnRequest<'_>,
        setup: &crate::process::ChildSetup,
        _cgroups: &[std::path::PathBuf],
        exits: &UnboundedSender<Reaped>,
    ) -> Result<Spawned, SpawnError> {
        let program = request.argv[0].clone();
        let mut state = self.state();
        state.setups.push((setup.clone(), request.env.to_vec()));
        state.next_pid += 1;
        let pid = 100_000 + state.next_pid;
        state.calls.push(Call::Spawn(program.clone()));
        state.live.insert(pid, (program, exits.clone()));
        Ok(Spawned {
            pid,
            stdout: None,
            stderr: None,
        })
    }

    fn signal(&mut self, pid: i32, signal: Signal, _scope: Scope) -> Result<Delivery, StopError> {
        let mut state = self.state();
        state.calls.push(Call::Signal(pid, signal));
        let Some((program, _)) = state.live.get(&pid) else {
            return Ok(Delivery::NotRunning);
        };
        let dies =
            signal == Signal::Kill || (signal == Signal::Term && !state.stubborn.contains(program));
        if dies {
            if let Some((_, exits)) = state.live.remove(&pid) {
                let status = ExitStatus::Signaled(signal.number());
                let _ = exits.send(Reaped {
                    pid,
                    status,
                    oom: zinit_core::exit::Oom::No,
                });
            }
        }
        Ok(Delivery::Sent)
    }

    fn kill_group_remnants(&mut self, _pgid: i32) -> bool {
        false
    }
}

fn name(s: &str) -> ServiceName {
    ServiceName::new(s).unwrap()
}

fn spec(program: &str) -> Arc<ServiceSpec> {
    let mut s = ServiceSpec::from_exec(CommandLine::parse(program).unwrap());
    s.shutdown_timeout = Duration::from_secs(2);
    Arc::new(s)
}

/// An actor over the fake, with a private log directory.
fn actor(
    fake: &Fake,
) -> (
    Handle,
    oneshot::Receiver<ShutdownOutcome>,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().unwrap();
    let sinks = OutputSinks {
        logs: LogHub::new(RingLimits {
            max_lines: 100,
            max_bytes: 1 << 20,
        }),
        log_dir: dir.path().to_owned(),
        probe_outputs: ProbeOutputs::default(),
        cgroups: None,
        limit_reports: Default::default(),
    };
    let (handle, done) = start_with(
        sinks,
        Environment::new(Vec::new(), None),
        Box::new(fake.clone()),
    );
    (handle, done, dir)
}

async fn monitor(h: &Handle, service: &str) {
    h.command(Command::Monitor {
        name: name(service),
        spec: spec(service),
    })
    .await
    .unwrap();
}

/// Poll until `check` holds, at most a minute of (paused, so skipped
/// ahead) tokio time.
async fn until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        tokio::time::sleep_until(tokio::time::Instant::now() + Duration::from_millis(10)).await;
        // poll
    }
}

#[tokio::test(start_paused = true)]
async fn an_answer_comes_after_the_snapshot_that_shows_it() {
    let fake = Fake::default();
    let (h, _done, _dir) = actor(&fake);
    monitor(&h, "web").await;
    // Answered: the published snapshot already has it running, with the
    // pid the fake handed out.
    let view = h.snapshot().services[&name("web")].clone();
    assert_eq!(view.state.to_string(), "Running");
    let pid = fake.pid_of("web").expect("spawned");
    assert_eq!(view.pid, Some(pid));
    // The stop is answered once the signal was sent and the snapshot says
    // so (the fake dies of SIGTERM; its exit comes in a later step).
    h.command(Command::Stop(name("web"))).await.unwrap();
    let view = h.snapshot().services[&name("web")].clone();
    assert_eq!(view.target.to_string(), "Down");
    assert_eq!(fake.calls().last(), Some(&Call::Signal(pid, Signal::Term)));
    until("the exit to be seen", || {
        h.snapshot().services[&name("web")].pid.is_none()
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_batch_of_commands_is_answered_in_one_go_and_in_order() {
    let fake = Fake::default();
    let (h, _done, _dir) = actor(&fake);
    // Queued before any is awaited: they reach the actor together.
    let answers: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|n| {
            h.send(Command::Monitor {
                name: name(n),
                spec: spec(n),
            })
            .unwrap()
        })
        .collect();
    let again = h
        .send(Command::Monitor {
            name: name("a"),
            spec: spec("a"),
        })
        .unwrap();
    for answer in answers {
        answer.await.unwrap();
    }
    assert!(matches!(
        again.await,
        Err(ActorError::Refused(CommandError::AlreadyMonitored(_)))
    ));
    let spawns: Vec<Call> = fake.calls();
    assert_eq!(
        spawns,
        ["a", "b", "c"].map(|p| Call::Spawn(p.to_owned())).to_vec()
    );
    assert_eq!(h.snapshot().services.len(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_crash_is_restarted_by_the_back_off_timer() {
    let fake = Fake::default();
    let (h, _done, _dir) = actor(&fake);
    monitor(&h, "flaky").await;
    let first = fake.pid_of("flaky").unwrap();
    fake.exit(first, ExitStatus::Code(3));
    until("the restart", || {
        fake.pid_of("flaky").is_some_and(|pid| pid != first)
    })
    .await;
    let view = h.snapshot().services[&name("flaky")].clone();
    assert_eq!(view.restarts, 1);
    assert_eq!(view.state.to_string(), "Running");
}

#[tokio::test(start_paused = true)]
async fn a_stop_escalates_to_sigkill_at_the_timeout_and_the_shutdown_reports_it() {
    let fake = Fake::default();
    fake.state().stubborn.push("stubborn".to_owned());
    let (h, done, _dir) = actor(&fake);
    monitor(&h, "stubborn").await;
    let pid = fake.pid_of("stubborn").unwrap();
    h.command(Command::Shutdown(ShutdownMode::Exit))
        .await
        .unwrap();
    let outcome = done.await.unwrap();
    assert_eq!(outcome.mode, ShutdownMode::Exit);
    assert_eq!(outcome.forced, vec![name("stubborn")]);
    assert_eq!(
        fake.calls()[1..],
        [
            Call::Signal(pid, Signal::Term),
            Call::Signal(pid, Signal::Kill)
        ]
    );
    assert!(fake.pid_of("stubborn").is_none());
}

// --- A run's process environment: prepared by the shell before spawning.

async fn monitor_file(h: &Handle, service: &str, yaml: &str) {
    let spec = zinit_core::config::parse_service("t.yaml", yaml)
        .unwrap()
        .spec;
    h.command(Command::Monitor {
        name: name(service),
        spec: Arc::new(spec),
    })
    .await
    .unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_runs_limits_and_env_files_reach_the_launcher_and_a_bad_one_fails_the_run() {
    let fake = Fake::default();
    let (h, _done, dir) = actor(&fake);
    let file = dir.path().join("web.env");
    std::fs::write(&file, "A=from-file\nB=from-file\n").unwrap();
    let yaml = format!(
        "exec: web\nenv_file: {}\nenv: {{B: from-env}}\numask: \"077\"\nlimits: {{core: 0}}\n",
        file.display()
    );
    monitor_file(&h, "web", &yaml).await;
    let (setup, env) = fake.state().setups.last().cloned().expect("spawned");
    assert_eq!(setup.umask, Some(0o077));
    assert_eq!(setup.limits.len(), 1);
    assert!(env.contains(&("A".to_owned(), "from-file".to_owned())));
    assert!(env.contains(&("B".to_owned(), "from-env".to_owned())));
    // A required file that is missing: the run fails, nothing is spawned.
    let missing = dir.path().join("missing.env");
    let yaml = format!(
        "exec: other\nenv_file: {}\nrestart: never\n",
        missing.display()
    );
    monitor_file(&h, "other", &yaml).await;
    let view = h.snapshot().services[&name("other")].clone();
    let state = view.state.to_string();
    assert!(state.starts_with("Failure(env_file "), "{state}");
    assert!(state.contains("no such file"), "{state}");
    assert_eq!(fake.pid_of("other"), None);
    assert_eq!(fake.state().setups.len(), 1);
}
