//! Random command/exit/timer sequences must keep the invariants.

use super::harness::spawned;
use super::*;
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Step {
    Start(usize),
    Stop(usize),
    Restart(usize),
    Kill(usize),
    Forget(usize),
    Monitor(usize),
    ExitMain(usize, i32),
    ExitProbe(usize, i32),
    Advance(u64),
}

const NAMES: [&str; 3] = ["a", "b", "c"];

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0..3usize).prop_map(Step::Start),
        (0..3usize).prop_map(Step::Stop),
        (0..3usize).prop_map(Step::Restart),
        (0..3usize).prop_map(Step::Kill),
        (0..3usize).prop_map(Step::Forget),
        (0..3usize).prop_map(Step::Monitor),
        (0..3usize, 0..3i32).prop_map(|(i, c)| Step::ExitMain(i, c)),
        (0..3usize, 0..2i32).prop_map(|(i, c)| Step::ExitProbe(i, c)),
        (0..20_000u64).prop_map(Step::Advance),
    ]
}

fn spec_for(i: usize) -> ServiceSpec {
    match i {
        0 => tested(spec("a")),
        1 => after(spec("b"), &["a"]),
        _ => oneshot(after(spec("c"), &["b"])),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn invariants_hold(steps in proptest::collection::vec(step(), 1..60)) {
        let mut h = Harness::new();
        for (i, n) in NAMES.iter().enumerate() {
            h.monitor(n, spec_for(i));
        }
        for s in steps {
            let n = |i: usize| name(NAMES[i]);
            let effects = match s {
                Step::Start(i) => h.command(Command::Start(n(i))).1,
                Step::Stop(i) => h.command(Command::Stop(n(i))).1,
                Step::Restart(i) => h.command(Command::Restart(n(i))).1,
                Step::Kill(i) => h.command(Command::Kill(n(i), crate::signal::Signal::Usr1)).1,
                Step::Forget(i) => h.command(Command::Forget(n(i))).1,
                Step::Monitor(i) => h.command(Command::Monitor { name: n(i), spec: Arc::new(spec_for(i)) }).1,
                Step::ExitMain(i, code) => match h.pid_of(NAMES[i], RunKind::Main) {
                    Some(pid) => h.exit(pid, ExitStatus::Code(code)),
                    None => vec![],
                },
                Step::ExitProbe(i, code) => match h.pid_of(NAMES[i], RunKind::Probe) {
                    Some(pid) => h.exit(pid, ExitStatus::Code(code)),
                    None => vec![],
                },
                Step::Advance(millis) => h.advance(Duration::from_millis(millis)),
            };
            let snapshot = h.sup.snapshot();
            for (svc, view) in &snapshot.services {
                // At most one live main process per service, and it is the
                // one the supervisor reports.
                let live: Vec<Pid> = h.live.iter()
                    .filter(|(_, (s, k))| s == svc && *k == RunKind::Main)
                    .map(|(p, _)| *p).collect();
                prop_assert!(live.len() <= 1, "{svc}: {live:?}");
                prop_assert_eq!(view.pid, live.first().copied(), "{}", svc);
                // Nothing is spawned for a service whose target is Down.
                if view.target == Target::Down {
                    prop_assert!(!spawned(&effects).contains(&svc.to_string()), "{}", svc);
                }
                // A dependent never runs while a dependency is unsatisfied
                // at the moment it was started: checked at spawn below.
            }
            for e in &effects {
                if let Effect::Spawn { service, kind: RunKind::Main, spec } = e {
                    for dep in &spec.after {
                        let d = snapshot.services.get(dep);
                        prop_assert!(d.is_some(), "{service} started without {dep}");
                    }
                }
            }
        }
    }
}
