//! Random command/exit/timer sequences must keep the invariants of
//! docs/reliability.md (promises 4, 5, 9 and 10, as the pure core sees them).
//!
//! Up to five services with random specs (`after` edges among them,
//! including self-loops, cycles and services that are never monitored;
//! oneshots; tests; short timeouts), two spec variants each so `monitor`
//! after `forget` brings a changed spec. Steps: every command, exits of any
//! live process in any order, spawns failing at random, time passing, and
//! a shutdown at a random point. After every step:
//!
//! - at most one live main process per service, and it is the one the
//!   supervisor reports; at most one live probe not already SIGKILLed;
//! - nothing is spawned for a service after a `stop` was acknowledged,
//!   until a later start, restart or monitor; nothing at all after a
//!   shutdown was acknowledged;
//! - a service is spawned only when its dependencies are satisfied and it
//!   is in no cycle;
//! - timers: each service has at most one live timer (one whose generation
//!   is current), and only in a phase that waits for one (back-off, stop
//!   deadline, probe interval or timeout); a phase that waits for a timer
//!   has one; a forgotten service has none;
//! - during a shutdown, a stop signal reaches a service only once none of
//!   its dependents (outside its own cycle) has a process;
//! - restart policies and the crash-loop limit: a service whose policy is
//!   `never` is spawned at most once per start, restart or monitor (or
//!   run zinit stopped itself, which a binding may start again); one
//!   that gave up has no process and is not spawned again until one of
//!   those.
//!
//! At the end every process obeys the signals it got (a third of them only
//! SIGKILL, so stop deadlines fire) and time runs on: the shutdown
//! completes exactly once, nothing is left running and no live timer
//! remains.

use super::harness::reply_to;
use super::service::Probe;
use super::*;
use crate::spec::{RestartLimit, RestartWhen};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

const NAMES: [&str; 5] = ["a", "b", "c", "d", "e"];
/// Depended on, never monitored.
const MISSING: &str = "ghost";

#[derive(Clone, Debug)]
struct Shape {
    /// Indexes into NAMES, or NAMES.len() for MISSING.
    after: Vec<usize>,
    oneshot: bool,
    test: bool,
    /// Milliseconds.
    shutdown_timeout: u64,
    restart: Option<RestartWhen>,
    /// `restart.max_restarts` (within 2 s).
    max_restarts: Option<u32>,
    autostart: bool,
    /// Indexes into NAMES (or MISSING), like `after`.
    requires: Vec<usize>,
    conflicts: Vec<usize>,
}

#[derive(Clone, Debug)]
enum Step {
    Start(usize),
    Stop(usize),
    Restart(usize),
    Kill(usize),
    Forget(usize),
    /// Monitor with spec variant 0 or 1.
    Monitor(usize, usize),
    /// The k-th live process (by pid, modulo their number) exits.
    Exit(usize, ExitStatus),
    /// Spawns of this service (main or probe) fail from now on, or not.
    FailSpawns(usize, RunKind, bool),
    Advance(u64),
    Shutdown,
}

fn shape() -> impl Strategy<Value = Shape> {
    (
        proptest::collection::vec(0..=NAMES.len(), 0..3),
        proptest::bool::weighted(0.2),
        proptest::bool::weighted(0.4),
        prop_oneof![Just(300u64), Just(1000), Just(3000)],
        prop_oneof![
            Just(None),
            Just(Some(RestartWhen::Always)),
            Just(Some(RestartWhen::OnFailure)),
            Just(Some(RestartWhen::Never)),
        ],
        prop_oneof![Just(None), (1..4u32).prop_map(Some)],
        proptest::bool::weighted(0.8),
        proptest::collection::vec(0..=NAMES.len(), 0..2),
        prop_oneof![4 => Just(Vec::new()), 1 => proptest::collection::vec(0..NAMES.len(), 1..2)],
    )
        .prop_map(
            |(
                after,
                oneshot,
                test,
                shutdown_timeout,
                restart,
                max_restarts,
                autostart,
                requires,
                conflicts,
            )| Shape {
                after,
                oneshot,
                test,
                shutdown_timeout,
                // The parser refuses `always` on a oneshot.
                restart: match restart {
                    Some(RestartWhen::Always) if oneshot => Some(RestartWhen::OnFailure),
                    other => other,
                },
                max_restarts,
                autostart,
                requires,
                conflicts,
            },
        )
}

fn status() -> impl Strategy<Value = ExitStatus> {
    prop_oneof![
        Just(ExitStatus::Code(0)),
        Just(ExitStatus::Code(1)),
        Just(ExitStatus::Signaled(9)),
        Just(ExitStatus::Signaled(15)),
    ]
}

fn step(services: usize) -> impl Strategy<Value = Step> {
    let i = 0..services;
    prop_oneof![
        3 => i.clone().prop_map(Step::Start),
        3 => i.clone().prop_map(Step::Stop),
        2 => i.clone().prop_map(Step::Restart),
        1 => i.clone().prop_map(Step::Kill),
        2 => i.clone().prop_map(Step::Forget),
        2 => (i.clone(), 0..2usize).prop_map(|(i, v)| Step::Monitor(i, v)),
        6 => (0..8usize, status()).prop_map(|(k, s)| Step::Exit(k, s)),
        1 => (i, prop_oneof![Just(RunKind::Main), Just(RunKind::Probe)], proptest::bool::weighted(0.5))
            .prop_map(|(i, k, f)| Step::FailSpawns(i, k, f)),
        5 => prop_oneof![0..400u64, 0..4000u64].prop_map(Step::Advance),
        1 => Just(Step::Shutdown),
    ]
}

/// Services, their two spec shapes each, which start monitored, the steps.
fn case() -> impl Strategy<Value = (Vec<[Shape; 2]>, Vec<bool>, Vec<Step>)> {
    (1..=NAMES.len()).prop_flat_map(|n| {
        (
            proptest::collection::vec((shape(), shape()).prop_map(|(a, b)| [a, b]), n),
            proptest::collection::vec(proptest::bool::weighted(0.8), n),
            proptest::collection::vec(step(n), 1..80),
        )
    })
}

fn build(shape: &Shape) -> ServiceSpec {
    let mut s = spec("app");
    s.after = shape
        .after
        .iter()
        .map(|&i| name(NAMES.get(i).copied().unwrap_or(MISSING)))
        .collect();
    s.after.dedup();
    let names = |list: &[usize]| -> Vec<ServiceName> {
        let mut out: Vec<ServiceName> = Vec::new();
        for &i in list {
            let n = name(NAMES.get(i).copied().unwrap_or(MISSING));
            if !out.contains(&n) {
                out.push(n);
            }
        }
        out
    };
    s.requires = names(&shape.requires);
    // What the parser refuses: a conflict that is also a dependency.
    s.conflicts = names(&shape.conflicts)
        .into_iter()
        .filter(|c| !s.after.contains(c) && !s.requires.contains(c))
        .collect();
    s.oneshot = shape.oneshot;
    if shape.test {
        s.test = Some(CommandLine::parse("check").unwrap());
    }
    s.shutdown_timeout = ms(shape.shutdown_timeout);
    s.restart.initial_delay = ms(100);
    s.restart.max_delay = ms(1600);
    s.restart.stable_after = ms(500);
    s.restart.when = shape.restart;
    s.autostart = shape.autostart;
    s.restart.limit = shape.max_restarts.map(|max_restarts| RestartLimit {
        max_restarts,
        window: ms(2000),
    });
    s.probe.interval = ms(200);
    s.probe.timeout = ms(700);
    s
}

/// What the test remembers besides the harness.
#[derive(Default)]
struct Model {
    /// Services whose `stop` was acknowledged and not undone since.
    stopped: BTreeSet<ServiceName>,
    shutdown: bool,
    shutdown_completions: usize,
    /// Dependency graph frozen when the shutdown began: name -> after.
    frozen: BTreeMap<ServiceName, Vec<ServiceName>>,
    /// Main spawns since the last start, restart or monitor.
    runs: BTreeMap<ServiceName, usize>,
    /// Services that gave up (crash-loop limit) before this step, not
    /// started, restarted or monitored since.
    gave_up: BTreeSet<ServiceName>,
}

impl Model {
    /// An operator start, restart or monitor: a new series of runs.
    fn started(&mut self, n: &ServiceName) {
        self.stopped.remove(n);
        self.runs.remove(n);
        self.gave_up.remove(n);
    }

    /// An operator start of `n`, with what it brings along: the services
    /// it requires (started with it) and those that require it (held down
    /// by its stop, started again with it), transitively.
    fn started_with_bound(&mut self, h: &Harness, n: &ServiceName) {
        let mut seen = BTreeSet::new();
        let mut frontier = vec![n.clone()];
        while let Some(next) = frontier.pop() {
            if !seen.insert(next.clone()) {
                continue;
            }
            self.started(&next);
            if let Some(svc) = h.sup.services.get(&next) {
                frontier.extend(svc.spec.requires.iter().cloned());
            }
            frontier.extend(h.sup.requirers(&next));
        }
    }
}

/// The current (not stale) generation of a service's timer slot.
fn live_timers(h: &Harness) -> BTreeMap<ServiceName, usize> {
    let mut live = BTreeMap::new();
    for (service, generation, _) in &h.timers {
        if h.sup
            .services
            .get(service)
            .is_some_and(|s| s.timer_generation == *generation)
        {
            *live.entry(service.clone()).or_insert(0) += 1;
        }
    }
    live
}

/// Whether `dependent` depends on `dep` through `after` edges (reflexive
/// and transitive), in the frozen graph.
fn reaches(
    graph: &BTreeMap<ServiceName, Vec<ServiceName>>,
    from: &ServiceName,
    to: &ServiceName,
) -> bool {
    let mut seen = BTreeSet::new();
    let mut frontier = vec![from.clone()];
    while let Some(n) = frontier.pop() {
        if &n == to {
            return true;
        }
        if seen.insert(n.clone()) {
            frontier.extend(graph.get(&n).into_iter().flatten().cloned());
        }
    }
    false
}

fn check(h: &Harness, m: &Model, effects: &[Effect]) -> Result<(), TestCaseError> {
    let snapshot = h.sup.snapshot();
    let sigkilled = |pid: &Pid| {
        h.signalled
            .get(pid)
            .is_some_and(|s| s.contains(&crate::signal::Signal::Kill))
    };
    // Processes, per service.
    for (svc, view) in &snapshot.services {
        let mains: Vec<Pid> = h
            .live
            .iter()
            .filter(|(_, (s, k))| s == svc && *k == RunKind::Main)
            .map(|(p, _)| *p)
            .collect();
        prop_assert!(mains.len() <= 1, "{svc}: live mains {mains:?}");
        prop_assert_eq!(view.pid, mains.first().copied(), "{}", svc);
        let probes: Vec<Pid> = h
            .live
            .iter()
            .filter(|(p, (s, k))| s == svc && *k == RunKind::Probe && !sigkilled(p))
            .map(|(p, _)| *p)
            .collect();
        prop_assert!(probes.len() <= 1, "{svc}: live probes {probes:?}");
        if let Phase::Up {
            probe: Probe::Running(p),
            ..
        } = view.phase
        {
            prop_assert!(h.live.contains_key(&p), "{svc}: probe {p} is not alive");
        }
    }
    // Every live process not SIGKILLed belongs to a monitored service that
    // knows it (a forgotten service leaves nothing behind).
    for (pid, (svc, kind)) in &h.live {
        if sigkilled(pid) {
            continue;
        }
        let view = snapshot.services.get(svc);
        prop_assert!(view.is_some(), "{svc} forgotten with {kind:?} {pid} alive");
        let known = h.sup.pids.get(pid) == Some(&(svc.clone(), *kind));
        prop_assert!(known, "{svc}: {kind:?} {pid} alive but unknown to the core");
    }
    // Spawns.
    for e in effects {
        let Effect::Spawn { service, kind, .. } = e else {
            continue;
        };
        prop_assert!(
            !m.shutdown,
            "{service} spawned ({kind:?}) after the shutdown"
        );
        prop_assert!(
            !m.stopped.contains(service),
            "{service} spawned ({kind:?}) after an acknowledged stop"
        );
        let view = &snapshot.services[service];
        // Contradictory bindings (c requires a, which requires b, which
        // conflicts with c) can start a service and stop it again in one
        // step: then the new run is already being stopped, or, when the
        // spawn failed, there is no run and it is Idle.
        let spawn_failed = h.failing.contains_key(&(service.clone(), *kind));
        prop_assert!(
            view.target == Target::Up
                || matches!(view.phase, Phase::Stopping { .. })
                || (spawn_failed && view.phase == Phase::Idle),
            "{} spawned while Down ({:?})",
            service,
            view.phase
        );
        if *kind == RunKind::Main {
            prop_assert!(
                !m.gave_up.contains(service),
                "{service} spawned after zinit gave up on it"
            );
            if view.spec.restart_when() == RestartWhen::Never {
                let runs = m.runs.get(service).copied().unwrap_or(0);
                prop_assert!(runs <= 1, "{service} (never) ran {runs} times");
            }
            prop_assert!(
                !h.sup.cycles.contains_key(service),
                "{service} started in a cycle"
            );
            for dep in &view.spec.hard_deps() {
                prop_assert!(
                    h.sup.satisfies_dependents(dep),
                    "{service} started before {dep} was ready"
                );
            }
        }
    }
    // Timers.
    let live = live_timers(h);
    for (svc, count) in &live {
        prop_assert_eq!(*count, 1, "{} has {} live timers", svc, count);
        let s = &h.sup.services[svc];
        let waits = matches!(
            s.phase,
            Phase::BackingOff
                | Phase::Stopping { .. }
                | Phase::Up {
                    probe: Probe::Waiting | Probe::Running(_),
                    ..
                }
        );
        prop_assert!(waits, "{svc}: a live timer in phase {:?}", s.phase);
    }
    for (svc, s) in &h.sup.services {
        let armed = live.contains_key(svc);
        match s.phase {
            Phase::BackingOff => prop_assert!(armed, "{svc}: backing off without a timer"),
            Phase::Stopping { pid, .. } => prop_assert!(
                armed || sigkilled(&pid),
                "{svc}: stopping without a deadline"
            ),
            Phase::Up {
                probe: Probe::Waiting,
                ..
            } => prop_assert!(armed, "{svc}: probe waiting without a timer"),
            Phase::Up {
                probe: Probe::Running(p),
                ..
            } => prop_assert!(
                armed || s.timed_out_probe == Some(p),
                "{svc}: probe running without a timeout"
            ),
            _ => {}
        }
    }
    // Shutdown order: a stop signal (the service's own, to its group) only
    // once no dependent outside its cycle has a process.
    if m.shutdown {
        for e in effects {
            let Effect::Signal {
                pid,
                signal,
                scope: SignalScope::Group,
            } = e
            else {
                continue;
            };
            let Some((svc, RunKind::Main)) = h.live.get(pid).cloned() else {
                continue;
            };
            if *signal != h.sup.services[&svc].spec.stop_signal {
                continue; // the SIGKILL at the deadline
            }
            for (other, view) in &snapshot.services {
                let depends = other != &svc
                    && reaches(&m.frozen, other, &svc)
                    && !reaches(&m.frozen, &svc, other);
                prop_assert!(
                    !(depends && view.phase.has_process()),
                    "{svc} stopped while its dependent {other} still runs"
                );
            }
        }
    }
    Ok(())
}

fn note(h: &Harness, m: &mut Model, effects: &[Effect]) {
    m.shutdown_completions += effects
        .iter()
        .filter(|e| matches!(e, Effect::ShutdownComplete(_)))
        .count();
    for e in effects {
        match e {
            Effect::Spawn {
                service,
                kind: RunKind::Main,
                ..
            } => *m.runs.entry(service.clone()).or_insert(0) += 1,
            // A run zinit stopped itself (a conflict, a stopped
            // requirement) was not restarted by a policy: contradictory
            // bindings may start it again in a later step of the same
            // operator command, a new start.
            Effect::MainGone { service, .. } => {
                let stopped = h
                    .sup
                    .services
                    .get(service)
                    .is_some_and(|s| s.last_exit.as_ref().is_some_and(|x| x.stopped_by_zinit));
                if stopped {
                    m.runs.remove(service);
                }
            }
            _ => {}
        }
    }
}

/// After a step: who gave up, checked to have no process.
fn note_gave_up(h: &Harness, m: &mut Model) -> Result<(), TestCaseError> {
    for (svc, view) in &h.sup.snapshot().services {
        if view.gave_up.is_some() {
            prop_assert_eq!(view.pid, None, "{} gave up with a process", svc);
            m.gave_up.insert(svc.clone());
        }
    }
    Ok(())
}

fn run(shapes: &[[Shape; 2]], initially: &[bool], steps: &[Step]) -> Result<(), TestCaseError> {
    let mut h = Harness::new();
    let mut m = Model::default();
    let n = |i: usize| name(NAMES[i]);
    for (i, monitored) in initially.iter().enumerate() {
        if *monitored {
            let effects = h.command(Command::Monitor {
                name: n(i),
                spec: Arc::new(build(&shapes[i][0])),
            });
            // A start at load, like the monitor step below: what it
            // requires (perhaps stopped meanwhile by a conflict) starts
            // anew with it.
            m.started_with_bound(&h, &n(i));
            note(&h, &mut m, &effects.1);
            check(&h, &m, &effects.1)?;
        }
    }
    for s in steps {
        let effects = match *s {
            Step::Start(i) => {
                m.started_with_bound(&h, &n(i));
                h.command(Command::Start(n(i))).1
            }
            Step::Restart(i) => {
                m.started_with_bound(&h, &n(i));
                h.command(Command::Restart(n(i))).1
            }
            Step::Stop(i) => {
                let (reply, effects) = h.command(Command::Stop(n(i)));
                if reply_to(&effects, reply) == Some(Ok(())) {
                    m.stopped.insert(n(i));
                }
                effects
            }
            Step::Kill(i) => {
                h.command(Command::Kill(n(i), crate::signal::Signal::Usr1))
                    .1
            }
            Step::Forget(i) => {
                let (reply, effects) = h.command(Command::Forget(n(i)));
                if reply_to(&effects, reply) == Some(Ok(())) {
                    m.stopped.remove(&n(i));
                    prop_assert!(
                        !live_timers(&h).contains_key(&n(i)),
                        "a forgotten service keeps a timer"
                    );
                }
                effects
            }
            Step::Monitor(i, v) => {
                let (reply, effects) = h.command(Command::Monitor {
                    name: n(i),
                    spec: Arc::new(build(&shapes[i][v])),
                });
                if reply_to(&effects, reply) == Some(Ok(())) {
                    // Its first run, in this very step, is counted below.
                    m.started_with_bound(&h, &n(i));
                }
                effects
            }
            Step::Exit(k, status) => match h.live.keys().nth(k % h.live.len().max(1)).copied() {
                Some(pid) => h.exit(pid, status),
                None => vec![],
            },
            Step::FailSpawns(i, kind, fail) => {
                if fail {
                    h.failing.insert((n(i), kind), "EAGAIN".to_owned());
                } else {
                    h.failing.remove(&(n(i), kind));
                }
                vec![]
            }
            Step::Advance(millis) => h.advance(ms(millis)),
            Step::Shutdown => {
                if !m.shutdown {
                    m.frozen = h
                        .sup
                        .services
                        .iter()
                        .map(|(k, s)| (k.clone(), s.spec.hard_deps()))
                        .collect();
                }
                let (reply, effects) = h.command(Command::Shutdown(ShutdownMode::Exit));
                prop_assert_eq!(reply_to(&effects, reply), Some(Ok(())));
                m.shutdown = true;
                effects
            }
        };
        note(&h, &mut m, &effects);
        check(&h, &m, &effects)?;
        note_gave_up(&h, &mut m)?;
    }
    // The end: shut down (if nothing did), every process obeys the signals
    // it got, and time runs on until nothing is left.
    if !m.shutdown {
        m.frozen = h
            .sup
            .services
            .iter()
            .map(|(k, s)| (k.clone(), s.spec.hard_deps()))
            .collect();
        let effects = h.command(Command::Shutdown(ShutdownMode::Exit)).1;
        m.shutdown = true;
        note(&h, &mut m, &effects);
        check(&h, &m, &effects)?;
        note_gave_up(&h, &mut m)?;
    }
    for _ in 0..100 {
        // A third of the processes ignore everything but SIGKILL, so the
        // stop deadlines fire too.
        let obeying: Vec<Pid> = h
            .live
            .keys()
            .filter(|p| {
                h.signalled
                    .get(p)
                    .is_some_and(|got| *p % 3 != 0 || got.contains(&crate::signal::Signal::Kill))
            })
            .copied()
            .collect();
        if obeying.is_empty() && h.timers.is_empty() {
            break;
        }
        for pid in obeying {
            let effects = h.exit(pid, ExitStatus::Signaled(15));
            note(&h, &mut m, &effects);
            check(&h, &m, &effects)?;
        }
        let effects = h.advance(ms(5000));
        note(&h, &mut m, &effects);
        check(&h, &m, &effects)?;
        note_gave_up(&h, &mut m)?;
    }
    prop_assert!(h.live.is_empty(), "left running: {:?}", h.live);
    prop_assert!(h.timers.is_empty(), "timers never fired: {:?}", h.timers);
    prop_assert!(live_timers(&h).is_empty());
    prop_assert_eq!(m.shutdown_completions, 1, "shutdown completions");
    for (svc, view) in h.sup.snapshot().services {
        prop_assert!(!view.phase.has_process(), "{svc}: {:?}", view.phase);
    }
    Ok(())
}

fn cases() -> u32 {
    std::env::var("ZINIT_PROPERTY_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(1000)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn invariants_hold((shapes, initially, steps) in case()) {
        run(&shapes, &initially, &steps)?;
    }
}
