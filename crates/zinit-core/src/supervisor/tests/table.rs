//! Replays every row of the transition table in docs/state-machine.md.

use super::harness::{reply_to, signals, spawned};
use super::*;

const DOC: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../docs/state-machine.md"
));

struct Row {
    phase: String,
    input: String,
    next: String,
    reply: String,
    effects: String,
}

fn rows() -> Vec<Row> {
    let begin = DOC
        .find("<!-- transitions:begin -->")
        .expect("begin marker");
    let end = DOC.find("<!-- transitions:end -->").expect("end marker");
    DOC[begin..end]
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| phase") && !l.starts_with("|---"))
        .map(|l| {
            let cells: Vec<String> = l
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_owned())
                .collect();
            assert_eq!(cells.len(), 5, "bad row: {l}");
            Row {
                phase: cells[0].clone(),
                input: cells[1].clone(),
                next: cells[2].clone(),
                reply: cells[3].clone(),
                effects: cells[4].clone(),
            }
        })
        .collect()
}

/// A harness with service `s` put into `phase`.
fn in_phase(phase: &str) -> Harness {
    let mut h = Harness::new();
    match phase {
        "Idle" => {
            h.monitor("s", spec("s"));
            h.call(Command::Stop(name("s"))).unwrap();
            let pid = h.pid("s");
            h.exit(pid, ExitStatus::Signaled(15));
        }
        "Blocked" => h.monitor("s", after(spec("s"), &["d"])),
        "BackingOff" => {
            h.monitor("s", spec("s"));
            let pid = h.pid("s");
            h.exit(pid, ExitStatus::Code(1));
        }
        "Up" => h.monitor("s", spec("s")),
        "Stopping" => {
            h.monitor("s", spec("s"));
            h.call(Command::Stop(name("s"))).unwrap();
        }
        other => panic!("no recipe for phase {other}"),
    }
    assert_eq!(h.view("s").phase.name(), phase, "recipe for {phase}");
    h
}

fn apply(h: &mut Harness, input: &str) -> (Option<Result<(), CommandError>>, Vec<Effect>) {
    let s = name("s");
    let command = |h: &mut Harness, c| {
        let (reply, effects) = h.command(c);
        (reply_to(&effects, reply), effects)
    };
    match input {
        "start" => command(h, Command::Start(s)),
        "stop" => command(h, Command::Stop(s)),
        "restart" => command(h, Command::Restart(s)),
        "kill" => command(h, Command::Kill(s, crate::signal::Signal::Usr1)),
        "forget" => command(h, Command::Forget(s)),
        // No process, nothing can exit: nothing happens.
        "exit" => match h.pid_of("s", RunKind::Main) {
            Some(pid) => (None, h.exit(pid, ExitStatus::Code(1))),
            None => (None, Vec::new()),
        },
        "timer" => (None, h.advance(Duration::from_secs(3600))),
        "deps-ready" => {
            let (reply, effects) = h.command(Command::Monitor {
                name: name("d"),
                spec: Arc::new(spec("d")),
            });
            (reply_to(&effects, reply), effects)
        }
        other => panic!("unknown input {other}"),
    }
}

fn describe(effects: &[Effect], pid_before: Option<Pid>) -> String {
    let spawns = spawned(effects).iter().filter(|n| *n == "s").count();
    let sent = signals(effects);
    let timers = effects
        .iter()
        .filter(|e| matches!(e, Effect::SetTimer { service, .. } if service.as_str() == "s"))
        .count();
    let remnants = effects
        .iter()
        .any(|e| matches!(e, Effect::KillGroupRemnants { .. }));
    let mut parts = Vec::new();
    if spawns > 0 {
        parts.push("spawn".to_owned());
    }
    for (pid, signal, scope) in sent {
        assert_eq!(Some(pid), pid_before, "signal to a pid that is not s's");
        parts.push(match (signal, scope) {
            (crate::signal::Signal::Kill, SignalScope::Group) => "SIGKILL to group".to_owned(),
            (_, SignalScope::Group) => "stop signal to group".to_owned(),
            (_, SignalScope::Process) => "signal to process".to_owned(),
        });
    }
    if remnants {
        parts.push("SIGKILL to what is left of the group".to_owned());
    }
    for effect in effects {
        match effect {
            Effect::MainGone { .. } => parts.push("release the pid".to_owned()),
            Effect::KillLeftovers { .. } => {
                parts.push("SIGKILL to what it left in its cgroup".to_owned())
            }
            Effect::Forgotten { .. } => parts.push("drop its cgroup".to_owned()),
            _ => {}
        }
    }
    if timers > 0 {
        parts.push(if parts.iter().any(|p| p == "stop signal to group") {
            "SIGKILL timer".to_owned()
        } else {
            "restart timer".to_owned()
        });
    }
    if parts.is_empty() {
        "none".to_owned()
    } else {
        parts.join(", ")
    }
}

/// Every phase a service can be observed in (Starting never is: the spawn
/// result is the very next input).
const PHASES: [&str; 5] = ["Idle", "Blocked", "BackingOff", "Up", "Stopping"];
const INPUTS: [&str; 8] = [
    "start",
    "stop",
    "restart",
    "kill",
    "forget",
    "exit",
    "timer",
    "deps-ready",
];

#[test]
fn the_table_has_one_row_for_every_phase_and_input() {
    let documented: Vec<(String, String)> =
        rows().into_iter().map(|r| (r.phase, r.input)).collect();
    let unique: std::collections::BTreeSet<_> = documented.iter().cloned().collect();
    assert_eq!(unique.len(), documented.len(), "a pair has two rows");
    let expected: std::collections::BTreeSet<(String, String)> = PHASES
        .iter()
        .flat_map(|p| INPUTS.iter().map(move |i| (p.to_string(), i.to_string())))
        .collect();
    let missing: Vec<_> = expected.difference(&unique).collect();
    let unknown: Vec<_> = unique.difference(&expected).collect();
    assert!(missing.is_empty(), "pairs without a row: {missing:?}");
    assert!(
        unknown.is_empty(),
        "rows for no known phase or input: {unknown:?}"
    );
}

#[test]
fn the_documented_table_is_what_the_code_does() {
    let rows = rows();
    for row in rows {
        let mut h = in_phase(&row.phase);
        let pid_before = h.pid_of("s", RunKind::Main);
        let (reply, effects) = apply(&mut h, &row.input);
        let what = format!("{} --{}-->", row.phase, row.input);

        let next = if h.sup.snapshot().services.contains_key("s") {
            h.view("s").phase.name().to_owned()
        } else {
            "(removed)".to_owned()
        };
        assert_eq!(next, row.next, "{what} next phase");

        let reply_text = match reply {
            None if row.reply == "(deferred)" => "(deferred)".to_owned(),
            None => "(none)".to_owned(),
            Some(Ok(())) => "—".to_owned(),
            Some(Err(CommandError::IsDown(_))) => "is down".to_owned(),
            Some(Err(CommandError::IsUp(_))) => "is up".to_owned(),
            Some(Err(e)) => e.to_string(),
        };
        let expected_reply = match row.input.as_str() {
            // Not commands: nothing to answer.
            "exit" | "timer" => "(none)".to_owned(),
            _ => row.reply.clone(),
        };
        assert_eq!(reply_text, expected_reply, "{what} reply");

        let documented = row.effects.split(" (").next().unwrap_or_default();
        assert_eq!(describe(&effects, pid_before), documented, "{what} effects");
    }
}
