//! Shutdown order on random graphs, against the plain definition: a
//! service stops once no service depending on it, directly or through
//! services without a process, still has one; members of one cycle do not
//! wait for each other. Also checks that the cycles the supervisor keeps
//! are the ones a search over the whole graph finds.

use super::harness::signals;
use super::*;
use crate::graph;
use crate::signal::Signal;
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

const NAMES: [&str; 6] = ["s0", "s1", "s2", "s3", "s4", "s5"];

/// `after` (a flag per name, then one for an unmonitored name) and oneshot.
type Shape = (Vec<bool>, bool);

/// Mostly edges to earlier names, so most services can run; a few back
/// edges close cycles, a few name a service that is never monitored.
fn shape(i: usize) -> impl Strategy<Value = Shape> {
    let flags: Vec<_> = (0..=NAMES.len())
        .map(|b| {
            let p = match b {
                _ if b == NAMES.len() => 0.03,
                _ if b < i => 0.4,
                _ => 0.08,
            };
            proptest::bool::weighted(p)
        })
        .collect();
    (flags, proptest::bool::weighted(0.3))
}

/// Two shapes per name, as `shapes[i * 2 + variant]`.
fn shapes() -> impl Strategy<Value = Vec<Shape>> {
    (0..NAMES.len() * 2)
        .map(|k| shape(k / 2))
        .collect::<Vec<_>>()
}

#[derive(Clone, Debug)]
enum Op {
    /// Monitor (or re-monitor after a forget) with one of two shapes.
    Monitor(usize, usize),
    Stop(usize),
    /// Stop, reap and forget, so it can come back with the other shape.
    Forget(usize),
    /// The live main process of a service exits with this code.
    Exit(usize, i32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..6usize, 0..2usize).prop_map(|(i, v)| Op::Monitor(i, v)),
        1 => (0..6usize).prop_map(Op::Stop),
        1 => (0..6usize).prop_map(Op::Forget),
        2 => (0..6usize, 0..2i32).prop_map(|(i, c)| Op::Exit(i, c)),
    ]
}

fn make_spec(i: usize, (flags, is_oneshot): &Shape) -> ServiceSpec {
    let mut deps: Vec<&str> = (0..NAMES.len())
        .filter(|&b| flags[b])
        .map(|b| NAMES[b])
        .collect();
    if flags[NAMES.len()] {
        deps.push("ghost");
    }
    let s = after(spec(NAMES[i]), &deps);
    if *is_oneshot {
        oneshot(s)
    } else {
        s
    }
}

/// The definition, walked naively for one service.
fn must_wait(sup: &Supervisor, name: &ServiceName) -> bool {
    let edges: graph::Edges<'_> = sup
        .services
        .iter()
        .map(|(n, s)| (n, s.spec.after.as_slice()))
        .collect();
    let my_cycle = sup.cycles.get(name);
    let mut seen = BTreeSet::from([name]);
    let mut frontier = vec![name];
    while let Some(current) = frontier.pop() {
        for dependent in graph::dependents(&edges, current) {
            if !seen.insert(dependent) {
                continue;
            }
            if my_cycle.is_some() && sup.cycles.get(dependent) == my_cycle {
                continue;
            }
            let phase = &sup.services[dependent].phase;
            if phase.has_process() || *phase == Phase::Starting {
                return true;
            }
            frontier.push(dependent);
        }
    }
    false
}

fn all_cycles(sup: &Supervisor) -> BTreeMap<ServiceName, String> {
    let edges: graph::Edges<'_> = sup
        .services
        .iter()
        .map(|(n, s)| (n, s.spec.after.as_slice()))
        .collect();
    let mut map = BTreeMap::new();
    for group in graph::cycle_groups(&edges) {
        let text = format!("dependency cycle: {}", graph::describe_cycle(&group.path));
        for member in group.members {
            map.insert(member, text.clone());
        }
    }
    map
}

fn stopping(sup: &Supervisor) -> BTreeSet<ServiceName> {
    sup.services
        .iter()
        .filter(|(_, s)| matches!(s.phase, Phase::Stopping { .. }))
        .map(|(n, _)| n.clone())
        .collect()
}

fn main_pids(h: &Harness) -> Vec<Pid> {
    h.live
        .iter()
        .filter(|(_, (_, k))| *k == RunKind::Main)
        .map(|(p, _)| *p)
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn shutdown_stops_exactly_what_the_definition_allows(
        shapes in shapes(),
        ops in proptest::collection::vec(op(), 0..60),
        exits in proptest::collection::vec(any::<u16>(), 1..16),
    ) {
        let mut h = Harness::new();
        for op in ops {
            match op {
                Op::Monitor(i, v) => {
                    let spec = make_spec(i, &shapes[i * 2 + v]);
                    h.command(Command::Monitor { name: name(NAMES[i]), spec: Arc::new(spec) });
                }
                Op::Stop(i) => {
                    h.command(Command::Stop(name(NAMES[i])));
                }
                Op::Forget(i) => {
                    h.command(Command::Stop(name(NAMES[i])));
                    if let Some(pid) = h.pid_of(NAMES[i], RunKind::Main) {
                        h.exit(pid, ExitStatus::Signaled(15));
                    }
                    h.command(Command::Forget(name(NAMES[i])));
                }
                Op::Exit(i, code) => {
                    if let Some(pid) = h.pid_of(NAMES[i], RunKind::Main) {
                        h.exit(pid, ExitStatus::Code(code));
                    }
                }
            }
            prop_assert_eq!(&h.sup.cycles, &all_cycles(&h.sup));
        }

        let mut before = stopping(&h.sup);
        let mut effects = h.command(Command::Shutdown(ShutdownMode::Exit)).1;
        let mut completions = 0;
        for step in 0.. {
            let now_stopping = stopping(&h.sup);
            for (n, svc) in &h.sup.services {
                if matches!(svc.phase, Phase::Up { .. }) {
                    prop_assert!(must_wait(&h.sup, n), "{} should have been stopped", n);
                }
                if now_stopping.contains(n) && !before.contains(n) {
                    prop_assert!(!must_wait(&h.sup, n), "{} stopped too early", n);
                }
            }
            let left = main_pids(&h);
            let complete = effects.contains(&Effect::ShutdownComplete(ShutdownMode::Exit));
            completions += usize::from(complete);
            prop_assert_eq!(complete, left.is_empty() && completions == 1);
            if left.is_empty() {
                break;
            }
            // Any process may end next: a stopped one, or one on its own.
            let pid = left[usize::from(exits[step % exits.len()]) % left.len()];
            before = now_stopping;
            effects = h.exit(pid, ExitStatus::Signaled(15));
        }
        prop_assert_eq!(completions, 1);
    }
}

/// `a` re-monitored after `b` and `c`, which run after it: one group of
/// two cycles (`a <-> b`, `a <-> c`), whose message shows only
/// `a -> b -> a`. Every member belongs to the cycle, so neither running
/// member waits for the other: both stop at once, and the shutdown ends.
#[test]
fn a_component_of_several_cycles_stops_all_its_members_at_once() {
    let mut h = Harness::new();
    h.monitor("a", spec("a"));
    h.monitor("b", after(spec("b"), &["a"]));
    h.monitor("c", after(spec("c"), &["a"]));
    h.call(Command::Stop(name("a"))).unwrap();
    let a = h.pid("a");
    h.exit(a, ExitStatus::Signaled(15));
    h.call(Command::Forget(name("a"))).unwrap();
    h.monitor("a", after(spec("a"), &["b", "c"]));
    assert_eq!(
        h.sup.cycles.keys().collect::<Vec<_>>(),
        vec![&name("a"), &name("b"), &name("c")]
    );
    let (b, c) = (h.pid("b"), h.pid("c"));
    let effects = h.command(Command::Shutdown(ShutdownMode::Exit)).1;
    assert_eq!(
        signals(&effects),
        vec![
            (b, Signal::Term, SignalScope::Group),
            (c, Signal::Term, SignalScope::Group)
        ]
    );
    h.exit(b, ExitStatus::Signaled(15));
    let effects = h.exit(c, ExitStatus::Signaled(15));
    assert!(effects.contains(&Effect::ShutdownComplete(ShutdownMode::Exit)));
}
