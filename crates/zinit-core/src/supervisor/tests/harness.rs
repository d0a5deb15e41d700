//! A fake shell: assigns pids to spawns at once, keeps timers, records
//! effects, and lets tests move the clock.

use super::*;
use std::collections::BTreeMap;

pub struct Harness {
    pub sup: Supervisor,
    pub now: Instant,
    next_pid: Pid,
    next_reply: ReplyTo,
    /// Live processes: pid -> (service, kind).
    pub live: BTreeMap<Pid, (ServiceName, RunKind)>,
    /// Every armed timer that has not fired yet: (service, generation,
    /// due). Like the daemon's shell, nothing cancels a timer: a newer one
    /// of the same service does not replace it, it fires and the core
    /// finds its generation stale.
    pub timers: Vec<(ServiceName, u64, Instant)>,
    /// Signals sent to each pid, in order.
    pub signalled: BTreeMap<Pid, Vec<Signal>>,
    /// Every effect, in order.
    pub log: Vec<Effect>,
    /// Services whose spawns fail, with the reason.
    pub failing: BTreeMap<(ServiceName, RunKind), String>,
}

impl Harness {
    pub fn new() -> Harness {
        Harness {
            sup: Supervisor::new(),
            now: Instant::now(),
            next_pid: 100,
            next_reply: 1,
            live: BTreeMap::new(),
            timers: Vec::new(),
            signalled: BTreeMap::new(),
            log: Vec::new(),
            failing: BTreeMap::new(),
        }
    }

    /// Run one input and everything it causes, like the daemon shell does.
    pub fn input(&mut self, input: Input) -> Vec<Effect> {
        let mut produced = Vec::new();
        let mut queue = std::collections::VecDeque::from(self.sup.handle(self.now, input));
        while let Some(effect) = queue.pop_front() {
            produced.push(effect.clone());
            if let Some(next) = self.apply(&effect) {
                queue.extend(self.sup.handle(self.now, next));
            }
        }
        self.log.extend(produced.clone());
        produced
    }

    fn apply(&mut self, effect: &Effect) -> Option<Input> {
        match effect {
            Effect::Spawn { service, kind, .. } => {
                let result = match self.failing.get(&(service.clone(), *kind)) {
                    Some(reason) => Err(reason.clone()),
                    None => {
                        let pid = self.next_pid;
                        self.next_pid += 1;
                        self.live.insert(pid, (service.clone(), *kind));
                        Ok(pid)
                    }
                };
                Some(Input::SpawnResult {
                    service: service.clone(),
                    kind: *kind,
                    result,
                })
            }
            Effect::SetTimer {
                service,
                generation,
                after,
            } => {
                self.timers
                    .push((service.clone(), *generation, self.now + *after));
                None
            }
            Effect::Signal { pid, signal, .. } => {
                self.signalled.entry(*pid).or_default().push(*signal);
                None
            }
            _ => None,
        }
    }

    pub fn command(&mut self, command: Command) -> (ReplyTo, Vec<Effect>) {
        let reply = self.next_reply;
        self.next_reply += 1;
        (reply, self.input(Input::Command { reply, command }))
    }

    /// Run a command that must be answered at once; return its result.
    pub fn call(&mut self, command: Command) -> Result<(), CommandError> {
        let (reply, effects) = self.command(command);
        reply_to(&effects, reply).expect("command was not answered in the same step")
    }

    pub fn monitor(&mut self, n: &str, spec: ServiceSpec) {
        self.call(Command::Monitor {
            name: name(n),
            spec: Arc::new(spec),
        })
        .unwrap();
    }

    /// The process exits with `status`.
    pub fn exit(&mut self, pid: Pid, status: ExitStatus) -> Vec<Effect> {
        self.exit_with(pid, status, Oom::No)
    }

    /// The process exits with `status`; the shell suspects the OOM killer.
    pub fn exit_with(&mut self, pid: Pid, status: ExitStatus, oom: Oom) -> Vec<Effect> {
        assert!(self.live.remove(&pid).is_some(), "pid {pid} is not alive");
        self.input(Input::Exited { pid, status, oom })
    }

    /// Move the clock forward, firing due timers in order.
    pub fn advance(&mut self, by: Duration) -> Vec<Effect> {
        let end = self.now + by;
        let mut produced = Vec::new();
        loop {
            // The earliest due timer; the first armed among equals.
            let next = self
                .timers
                .iter()
                .enumerate()
                .filter(|(_, (_, _, due))| *due <= end)
                .min_by_key(|(i, (_, _, due))| (*due, *i))
                .map(|(i, _)| i);
            let Some(index) = next else {
                break;
            };
            let (service, generation, due) = self.timers.remove(index);
            self.now = self.now.max(due);
            produced.extend(self.input(Input::TimerFired {
                service,
                generation,
            }));
        }
        self.now = end;
        produced
    }

    pub fn state(&self, n: &str) -> String {
        self.sup.snapshot().services[&name(n)].state.to_string()
    }

    pub fn view(&self, n: &str) -> ServiceView {
        self.sup.snapshot().services[&name(n)].clone()
    }

    /// The live main pid of a service.
    pub fn pid(&self, n: &str) -> Pid {
        self.pid_of(n, RunKind::Main)
            .unwrap_or_else(|| panic!("{n} has no live main process"))
    }

    pub fn pid_of(&self, n: &str, kind: RunKind) -> Option<Pid> {
        self.live
            .iter()
            .find(|(_, (s, k))| s.as_str() == n && *k == kind)
            .map(|(p, _)| *p)
    }
}

pub fn reply_to(effects: &[Effect], to: ReplyTo) -> Option<Result<(), CommandError>> {
    effects.iter().find_map(|e| match e {
        Effect::Reply { to: t, result } if *t == to => Some(result.clone()),
        _ => None,
    })
}

/// Names of services spawned (main runs) by these effects, in order.
pub fn spawned(effects: &[Effect]) -> Vec<String> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Spawn {
                service,
                kind: RunKind::Main,
                ..
            } => Some(service.to_string()),
            _ => None,
        })
        .collect()
}

/// Signals sent by these effects: (pid, signal, scope).
pub fn signals(effects: &[Effect]) -> Vec<(Pid, Signal, SignalScope)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Signal { pid, signal, scope } => Some((*pid, *signal, *scope)),
            _ => None,
        })
        .collect()
}

pub fn logs(effects: &[Effect]) -> Vec<String> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Log { message, .. } => Some(message.clone()),
            _ => None,
        })
        .collect()
}
