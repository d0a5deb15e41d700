//! `why`: a service's state explained in words an operator understands.
//!
//! Built from a published [`Snapshot`] only, so it needs no access to the
//! supervisor and answers at once. Pure: time is the caller's `now`, and a
//! test's output comes from the caller's `test_output` (the core keeps no
//! output). The explanation follows a blocked service's dependencies down
//! to what actually holds it up, names the last exit (code, signal, OOM
//! suspicion, zinit's own SIGKILL), the back-off and the last test.

use super::service::Phase;
use super::snapshot::{ServiceView, Snapshot};
use super::types::{ExitRecord, State, Target, TestOutcome};
use crate::config::format_duration;
use crate::exit::{ExitStatus, Oom};
use crate::graph;
use crate::name::ServiceName;
use crate::signal::Signal;
use crate::spec::RestartWhen;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The explanation of one service's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Why {
    /// One line: the state and its main cause.
    pub summary: String,
    /// Further lines: other blockers, earlier exits, the back-off rule,
    /// test output.
    pub details: Vec<String>,
    /// Services in the blocking path, nearest first (empty unless the
    /// service waits for dependencies).
    pub blocked_by: Vec<ServiceName>,
}

/// Explain why `name` is in its state; `None` if it is not monitored.
/// `test_output` gives the output of a service's last test run, if the
/// caller kept it.
pub fn why(
    snapshot: &Snapshot,
    name: &ServiceName,
    now: Instant,
    test_output: &dyn Fn(&ServiceName) -> Option<String>,
) -> Option<Why> {
    let view = snapshot.services.get(name)?;
    let edges: graph::Edges<'_> = snapshot
        .services
        .iter()
        .map(|(n, v)| (n, v.spec.after.as_slice()))
        .collect();
    let mut cycles = BTreeMap::new();
    for group in graph::cycle_groups(&edges) {
        for member in &group.members {
            cycles.insert(member.clone(), group.path.clone());
        }
    }
    let ctx = Ctx {
        snapshot,
        now,
        test_output,
        cycles,
    };
    Some(ctx.explain(name, view))
}

/// Who a service's runs run as and what limits them, when its file says
/// (`user`, `group`, `resources`): one detail for `why`.
fn run_settings(spec: &crate::spec::ServiceSpec) -> Option<String> {
    use crate::config::format_size;
    let mut parts = Vec::new();
    if let Some(user) = &spec.user {
        parts.push(format!("as user {user}"));
    }
    if let Some(group) = &spec.group {
        parts.push(format!("with group {group}"));
    }
    let r = &spec.resources;
    let mut limits = Vec::new();
    let sizes = [
        ("memory_max", r.memory_max),
        ("memory_high", r.memory_high),
        ("memory_swap_max", r.memory_swap_max),
    ];
    for (key, size) in sizes {
        if let Some(bytes) = size {
            limits.push(format!("{key} {}", format_size(bytes)));
        }
    }
    if let Some(cpu) = r.cpu {
        limits.push(format!("cpu {} cores", cpu.cores()));
    }
    let counts = [
        ("cpu_weight", r.cpu_weight.map(u64::from)),
        ("pids_max", r.pids_max),
        ("io_weight", r.io_weight.map(u64::from)),
    ];
    for (key, count) in counts {
        if let Some(n) = count {
            limits.push(format!("{key} {n}"));
        }
    }
    if !limits.is_empty() {
        parts.push(format!("limited by resources {}", limits.join(", ")));
    }
    (!parts.is_empty()).then(|| format!("It runs {}.", parts.join(", ")))
}

/// A duration for humans: `350ms`, `2.1s`, `3m 12s`, `2h 5m`, `3d 4h`.
pub fn format_elapsed(d: Duration) -> String {
    let secs = d.as_secs();
    if secs == 0 {
        return format!("{}ms", d.subsec_millis());
    }
    if secs < 60 {
        return format!("{secs}.{}s", d.subsec_millis() / 100);
    }
    let (days, hours, minutes) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60);
    if secs < 3600 {
        format!("{minutes}m {}s", secs % 60)
    } else if secs < 86_400 {
        format!("{hours}h {minutes}m")
    } else {
        format!("{days}d {hours}h")
    }
}

struct Ctx<'a> {
    snapshot: &'a Snapshot,
    now: Instant,
    test_output: &'a dyn Fn(&ServiceName) -> Option<String>,
    /// Each service in a dependency cycle -> the cycle, in edge order.
    cycles: BTreeMap<ServiceName, Vec<ServiceName>>,
}

/// The longest piece of test output put on the summary line.
const OUTPUT_IN_SUMMARY: usize = 200;
/// How many of the last output lines go into the details.
const OUTPUT_LINES: usize = 10;

impl Ctx<'_> {
    fn explain(&self, name: &ServiceName, v: &ServiceView) -> Why {
        let mut why = Why {
            summary: String::new(),
            details: Vec::new(),
            blocked_by: Vec::new(),
        };
        let state = state_phrase(&v.state);
        if self.snapshot.shutting_down {
            why.summary = self.shutting_down(name, v, &state);
            if let Some(cause) = &self.snapshot.shutdown_cause {
                why.details.push(format!(
                    "zinit is shutting down because {cause}; a container or daemon then exits \
                     with status {}.",
                    cause.exit_code
                ));
            }
            self.last_exit_detail(v, &mut why);
            return why;
        }
        match &v.phase {
            Phase::Blocked => self.blocked(name, v, &mut why),
            Phase::BackingOff => self.backing_off(name, v, &state, &mut why),
            Phase::Up { pid, .. } => self.up(name, v, *pid, &state, &mut why),
            Phase::Stopping { pid, then_start } => {
                let timeout = format_duration(v.spec.shutdown_timeout);
                let signal = v.spec.stop_signal;
                why.summary = if *then_start && v.target == Target::Up {
                    format!(
                        "{name} is restarting: zinit sent {signal} to pid {pid} and starts it \
                         again once it has exited; SIGKILL follows after its shutdown_timeout \
                         ({timeout})"
                    )
                } else {
                    format!(
                        "{name} is stopping: zinit sent {signal} to pid {pid} and waits for it \
                         to exit; SIGKILL follows after its shutdown_timeout ({timeout})"
                    )
                };
                self.last_exit_detail(v, &mut why);
            }
            Phase::Idle | Phase::Starting => self.idle(name, v, &state, &mut why),
        }
        if let Some(settings) = run_settings(&v.spec) {
            why.details.push(settings);
        }
        why
    }

    fn shutting_down(&self, name: &ServiceName, v: &ServiceView, state: &str) -> String {
        match &v.phase {
            Phase::Stopping { pid, .. } => format!(
                "{name} is stopping: zinit is shutting down and sent {} to pid {pid}; SIGKILL \
                 follows after its shutdown_timeout ({})",
                v.spec.stop_signal,
                format_duration(v.spec.shutdown_timeout)
            ),
            Phase::Up { pid, .. } => format!(
                "{name} is {state}, pid {pid}: zinit is shutting down and stops it once the \
                 services that depend on it have stopped"
            ),
            _ => format!("{name} is {state} and stays down: zinit is shutting down"),
        }
    }

    fn up(&self, name: &ServiceName, v: &ServiceView, pid: i32, state: &str, why: &mut Why) {
        let up = self.elapsed_since(v.up_since);
        let restarted = restarted(v.restarts);
        why.summary = match &v.state {
            _ if v.spec.oneshot => format!(
                "{name} is {state}: the oneshot is running (pid {pid}, for {up}); it becomes \
                 Success when it exits with code 0"
            ),
            State::Running => format!("{name} is Running, pid {pid}, up {up}; {restarted}"),
            State::TestFailure(reason) => format!(
                "{name} is {state}: it runs (pid {pid}, up {up}) but its test cannot run: \
                 {reason}; the test is not retried, so {name} never becomes Running and \
                 services waiting for it stay Blocked; fix the test, then `zinit restart {name}`"
            ),
            _ => format!(
                "{name} is {state}, pid {pid}, up {up}: its test has not passed yet {}; \
                 {restarted}",
                self.test_paren(name, v)
            ),
        };
        if v.state == State::Running {
            if let Some(test) = &v.last_test {
                if test.outcome == TestOutcome::Passed {
                    let ago = self.ago(test.at);
                    why.details.push(format!("Its last test passed {ago} ago."));
                }
            }
        } else {
            self.output_detail(name, v, why);
        }
        self.last_exit_detail(v, why);
    }

    fn backing_off(&self, name: &ServiceName, v: &ServiceView, state: &str, why: &mut Why) {
        let cause = match (&v.state, &v.last_exit) {
            (State::Failure(reason), _) => format!("it could not be spawned: {reason}"),
            (_, Some(exit)) => self.exit_sentence(exit, v),
            (_, None) => "it stopped".to_owned(),
        };
        let next = match v.next_start {
            Some(next) => {
                let wait = next.at.saturating_duration_since(self.now);
                let delay = format_duration(next.delay);
                if wait.is_zero() {
                    format!("next try now (back-off delay {delay})")
                } else {
                    format!(
                        "next try in {} (back-off delay {delay})",
                        format_elapsed(wait)
                    )
                }
            }
            None => "the next try is due".to_owned(),
        };
        why.summary = format!(
            "{name} is {state}: {cause}; {}; {next}",
            restarted(v.restarts)
        );
        let r = &v.spec.restart;
        why.details.push(format!(
            "The delay doubles after each run shorter than restart.stable_after ({}), up to \
             restart.max_delay ({}); `zinit start {name}` tries again at once.",
            format_duration(r.stable_after),
            format_duration(r.max_delay)
        ));
        if v.spec.test.is_some() {
            self.output_detail(name, v, why);
        }
    }

    fn idle(&self, name: &ServiceName, v: &ServiceView, state: &str, why: &mut Why) {
        let exit = v.last_exit.as_ref().map(|e| self.exit_sentence(e, v));
        let exit = exit.map(|e| format!("; {e}")).unwrap_or_default();
        if let (Some(gave_up), Target::Up) = (v.gave_up, v.target) {
            why.summary = format!(
                "{name} is {state}: zinit gave up restarting it {} ago, after {} restarts within \
                 {} (restart.max_restarts){exit}; `zinit start {name}` tries again",
                self.ago(gave_up.at),
                gave_up.restarts,
                format_duration(gave_up.window)
            );
            return;
        }
        let when = v.spec.restart_when();
        why.summary = match (&v.state, v.target) {
            (_, Target::Down) if !v.held_by.is_empty() => {
                let held: Vec<&str> = v.held_by.iter().map(|n| n.as_str()).collect();
                format!(
                    "{name} is {state} and stays down: it requires {}, which stopped or failed \
                     for good{exit}; it starts again when {} starts",
                    held.join(", "),
                    if held.len() == 1 { "that" } else { "each" }
                )
            }
            (State::Unknown, Target::Down) if !v.spec.autostart => format!(
                "{name} is Unknown: it is loaded with autostart: false and waits for `zinit \
                 start {name}`"
            ),
            (_, Target::Down) => format!(
                "{name} is {state} and stays down: it was stopped on request (target Down){exit}; \
                 `zinit start {name}` starts it again"
            ),
            (State::Success, _) if !v.spec.oneshot && when == RestartWhen::OnFailure => format!(
                "{name} is Success: it exited with code 0 and restart: on-failure restarts only \
                 failures{exit}; `zinit start {name}` runs it again"
            ),
            (State::Success, _) if v.spec.oneshot => format!(
                "{name} is Success: the oneshot finished{exit}; it does not run again unless \
                 started (`zinit start {name}`)"
            ),
            (State::Failure(reason), _) if v.spec.oneshot => format!(
                "{name} is {state}: it could not be spawned: {reason}; a oneshot is not \
                 retried: `zinit start {name}` tries again"
            ),
            (State::Failure(reason), _) => format!(
                "{name} is {state}: it could not be spawned: {reason}; `zinit start {name}` \
                 tries again"
            ),
            (_, _) if v.spec.oneshot => format!(
                "{name} is {state}: the oneshot failed{exit}; a oneshot is not retried: \
                 `zinit start {name}` runs it again"
            ),
            (State::Unknown, _) => format!("{name} is Unknown: it has not been started yet"),
            _ if when == RestartWhen::Never => format!(
                "{name} is {state}{exit}; restart: never, so it is not restarted: `zinit start \
                 {name}` runs it again"
            ),
            _ => format!("{name} is {state}{exit}"),
        };
    }

    fn blocked(&self, name: &ServiceName, v: &ServiceView, why: &mut Why) {
        if let Some(cycle) = self.cycles.get(name) {
            why.summary = format!("{name} is Blocked: {}", cycle_phrase(cycle));
            why.blocked_by = rotate_after(cycle, name);
            return;
        }
        let waiting = self.waiting(v);
        let waiting: Vec<&ServiceName> = waiting.iter().collect();
        let Some((first, others)) = waiting.split_first() else {
            why.summary = format!("{name} is Blocked: its dependencies are ready; it starts now");
            return;
        };
        let mut visited = vec![name.clone()];
        let first_text = self.waiting_for(first, &mut visited, &mut why.blocked_by);
        why.summary = format!("{name} is Blocked: {first_text}");
        if !others.is_empty() {
            let names: Vec<&str> = others.iter().map(|n| n.as_str()).collect();
            why.summary += &format!("; also waiting for {}", names.join(", "));
        }
        for other in others {
            let mut visited = vec![name.clone()];
            let text = self.waiting_for(other, &mut visited, &mut why.blocked_by);
            why.details.push(format!("It is also {text}."));
        }
        // The output of the test that holds everything up, if any.
        let holder = why.blocked_by.last().cloned();
        if let Some((holder, view)) =
            holder.and_then(|h| self.snapshot.services.get(&h).map(|v| (h, v)))
        {
            self.output_detail(&holder, view, why);
        }
    }

    /// "waiting for db, which is ..." following the chain down to its end.
    fn waiting_for(
        &self,
        dep: &ServiceName,
        visited: &mut Vec<ServiceName>,
        chain: &mut Vec<ServiceName>,
    ) -> String {
        if !chain.contains(dep) {
            chain.push(dep.clone());
        }
        let Some(d) = self.snapshot.services.get(dep) else {
            return format!(
                "waiting for {dep}, which is not monitored (`zinit monitor {dep}` loads it)"
            );
        };
        if visited.contains(dep) {
            return format!("waiting for {dep}, which waits for it in turn");
        }
        visited.push(dep.clone());
        format!(
            "waiting for {dep}, which {}",
            self.dep_status(dep, d, visited, chain)
        )
    }

    /// What a dependency that is not yet satisfied is doing.
    fn dep_status(
        &self,
        dep: &ServiceName,
        d: &ServiceView,
        visited: &mut Vec<ServiceName>,
        chain: &mut Vec<ServiceName>,
    ) -> String {
        let state = state_phrase(&d.state);
        match &d.phase {
            Phase::Blocked => {
                if let Some(cycle) = self.cycles.get(dep) {
                    for member in rotate_after(cycle, dep) {
                        if !chain.contains(&member) {
                            chain.push(member);
                        }
                    }
                    return format!("is Blocked: {}", cycle_phrase(cycle));
                }
                let next = self.waiting(d).into_iter().next();
                let next = next.as_ref();
                match next {
                    Some(next) => format!("is Blocked: {}", self.waiting_for(next, visited, chain)),
                    None => "is Blocked and about to start".to_owned(),
                }
            }
            Phase::Up { pid, .. } if d.spec.oneshot => format!(
                "is {state}: the oneshot is still running (pid {pid}, for {}) and must exit \
                 with code 0 first",
                self.elapsed_since(d.up_since)
            ),
            Phase::Up { .. } => match &d.state {
                State::TestFailure(reason) => format!(
                    "is {state}: its test cannot run ({reason}), so it never becomes Running \
                     until it is fixed and restarted"
                ),
                _ => format!(
                    "is {state}: its test has not passed yet {}",
                    self.test_paren(dep, d)
                ),
            },
            Phase::Stopping { .. } => format!("is {state} and being stopped"),
            Phase::BackingOff => {
                let cause = match (&d.state, &d.last_exit) {
                    (State::Failure(reason), _) => format!("it could not be spawned: {reason}"),
                    (_, Some(exit)) => self.exit_sentence(exit, d),
                    (_, None) => "it stopped".to_owned(),
                };
                let next = match d.next_start {
                    Some(next) => format!(
                        "next try in {}",
                        format_elapsed(next.at.saturating_duration_since(self.now))
                    ),
                    None => "the next try is due".to_owned(),
                };
                format!("is {state}: {cause}; {next}")
            }
            Phase::Idle | Phase::Starting => match (&d.state, d.target) {
                (_, Target::Down) => format!(
                    "is {state} and was stopped (target Down); it will not start until \
                     `zinit start {dep}`"
                ),
                (State::Unknown, _) => "has not been started yet".to_owned(),
                (State::Success, _) if !d.spec.oneshot => format!(
                    "is {state} but not running; it will not start until `zinit start {dep}`"
                ),
                _ if d.spec.oneshot => {
                    let exit = d.last_exit.as_ref().map(|e| self.exit_sentence(e, d));
                    let exit = exit.map(|e| format!(" ({e})")).unwrap_or_default();
                    format!(
                        "is {state}: the oneshot failed{exit} and is not retried, so this will \
                         not start until `zinit start {dep}` succeeds"
                    )
                }
                _ => format!(
                    "is {state} and not running; it will not start until `zinit start {dep}`"
                ),
            },
        }
    }

    /// `(last test 1.2s ago exited with code 1: connection refused)`.
    fn test_paren(&self, name: &ServiceName, v: &ServiceView) -> String {
        let current = v
            .last_test
            .as_ref()
            .filter(|t| v.up_since.is_none_or(|since| t.at >= since));
        let Some(test) = current else {
            return "(no test run has finished yet)".to_owned();
        };
        let ago = self.ago(test.at);
        let result = match &test.outcome {
            TestOutcome::Passed => "passed".to_owned(),
            TestOutcome::Failed(status) => status.to_string(),
            TestOutcome::TimedOut => format!(
                "was killed at its test_timeout ({})",
                format_duration(v.spec.probe.timeout)
            ),
            TestOutcome::CannotRun(reason) => format!("could not run: {reason}"),
        };
        let output = (self.test_output)(name)
            .and_then(|o| last_line(&o))
            .map(|line| format!(": {line}"))
            .unwrap_or_default();
        format!("(last test {ago} ago {result}{output})")
    }

    /// The last lines of a failing test's output, when there is more than
    /// the summary could show.
    fn output_detail(&self, name: &ServiceName, v: &ServiceView, why: &mut Why) {
        let failing = v
            .last_test
            .as_ref()
            .is_some_and(|t| t.outcome != TestOutcome::Passed);
        if !failing {
            return;
        }
        let Some(output) = (self.test_output)(name) else {
            return;
        };
        let lines: Vec<&str> = output.lines().filter(|l| !l.trim().is_empty()).collect();
        if lines.len() < 2 && lines.iter().all(|l| l.len() <= OUTPUT_IN_SUMMARY) {
            return; // the summary shows it whole
        }
        why.details.push(format!("Output of {name}'s last test:"));
        let skip = lines.len().saturating_sub(OUTPUT_LINES);
        for line in &lines[skip..] {
            why.details.push(format!("  {}", line.trim_end()));
        }
    }

    fn last_exit_detail(&self, v: &ServiceView, why: &mut Why) {
        if let Some(exit) = &v.last_exit {
            let sentence = self.exit_sentence(exit, v);
            if v.phase.has_process() {
                why.details.push(format!("Before this run, {sentence}."));
            } else {
                why.details.push(format!("I{}.", &sentence[1..]));
            }
        }
    }

    /// "it last exited with code 3 2.1s ago after running 0.1s", or the
    /// signal, with who probably sent it.
    fn exit_sentence(&self, exit: &ExitRecord, v: &ServiceView) -> String {
        let when = format!(
            "{} ago after running {}",
            self.ago(exit.at),
            format_elapsed(exit.ran_for)
        );
        let stop = v.spec.stop_signal;
        match exit.status {
            ExitStatus::Code(code) if exit.stopped_by_zinit => {
                format!("it last exited with code {code} {when}, after zinit sent it {stop}")
            }
            ExitStatus::Code(code) => format!("it last exited with code {code} {when}"),
            ExitStatus::Signaled(n) => {
                let signal = signal_name(n);
                if exit.oom == Oom::Killed {
                    format!(
                        "it was last killed by {signal} {when}, by the kernel's OOM killer: \
                         its cgroup reached its memory limit"
                    )
                } else if exit.oom == Oom::Suspected {
                    format!(
                        "it was last killed by {signal} {when}, probably by the kernel's OOM \
                         killer"
                    )
                } else if exit.stopped_by_zinit
                    && n == Signal::Kill.number()
                    && stop != Signal::Kill
                {
                    format!(
                        "it was last killed by zinit with SIGKILL {when}, because it did not \
                         stop within its shutdown_timeout ({}) after {stop}",
                        format_duration(v.spec.shutdown_timeout)
                    )
                } else if exit.stopped_by_zinit && n == stop.number() {
                    format!("it was last stopped by zinit with {signal} {when}")
                } else if exit.stopped_by_zinit {
                    format!("it was last killed by {signal} {when}, while zinit was stopping it")
                } else {
                    format!("it was last killed by {signal} {when}")
                }
            }
        }
    }

    /// Whether `dep` is what its dependents wait for (as the supervisor
    /// decides it).
    /// What a service waits for: its `after` and `requires` dependencies
    /// that are not ready, and what it `wants` that is still starting.
    fn waiting(&self, v: &ServiceView) -> Vec<ServiceName> {
        let hard = v.spec.hard_deps();
        let starting = |dep: &ServiceName| {
            self.snapshot.services.get(dep).is_some_and(|d| {
                d.target == Target::Up
                    && match d.phase {
                        Phase::Blocked | Phase::Starting => true,
                        Phase::Up { .. } => d.state == State::Spawned,
                        _ => false,
                    }
            })
        };
        let mut waiting: Vec<ServiceName> = hard
            .iter()
            .filter(|dep| !self.satisfied(dep))
            .cloned()
            .collect();
        waiting.extend(
            v.spec
                .wants
                .iter()
                .filter(|w| !hard.contains(w) && starting(w))
                .cloned(),
        );
        waiting
    }

    fn satisfied(&self, dep: &ServiceName) -> bool {
        self.snapshot.services.get(dep).is_some_and(|d| {
            if d.spec.oneshot {
                d.state == State::Success
            } else {
                d.state == State::Running && d.phase.has_process()
            }
        })
    }

    fn ago(&self, at: Instant) -> String {
        format_elapsed(self.now.saturating_duration_since(at))
    }

    fn elapsed_since(&self, since: Option<Instant>) -> String {
        since.map_or_else(|| "a moment".to_owned(), |s| self.ago(s))
    }
}

/// `Running`, `Spawned`, `in Error(exited with code 3)`.
fn state_phrase(state: &State) -> String {
    match state {
        State::Error(_) | State::Failure(_) | State::TestFailure(_) => format!("in {state}"),
        _ => state.to_string(),
    }
}

fn restarted(n: u32) -> String {
    if n == 1 {
        "restarted 1 time".to_owned()
    } else {
        format!("restarted {n} times")
    }
}

fn cycle_phrase(cycle: &[ServiceName]) -> String {
    format!(
        "dependency cycle {}; none of them can start until one of their `after` lists is \
         changed (then forget and monitor that service again)",
        graph::describe_cycle(cycle)
    )
}

/// The other members of a cycle, starting after `name`.
fn rotate_after(cycle: &[ServiceName], name: &ServiceName) -> Vec<ServiceName> {
    let at = cycle.iter().position(|n| n == name).unwrap_or(0);
    cycle[at..]
        .iter()
        .chain(&cycle[..at])
        .filter(|n| *n != name)
        .cloned()
        .collect()
}

fn signal_name(n: i32) -> String {
    match Signal::from_number(n) {
        Some(signal) => signal.to_string(),
        None => format!("signal {n}"),
    }
}

/// The last non-empty line, cut to fit on the summary line.
fn last_line(output: &str) -> Option<String> {
    let line = output.lines().rev().find(|l| !l.trim().is_empty())?.trim();
    if line.len() <= OUTPUT_IN_SUMMARY {
        return Some(line.to_owned());
    }
    let mut end = OUTPUT_IN_SUMMARY;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    Some(format!("{}…", &line[..end]))
}
