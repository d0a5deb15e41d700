//! Ordered shutdown: dependents stop before what they depend on, services
//! with no ordering between them stop in parallel, cycles never hang it.

use super::service::{Phase, Probe};
use super::types::*;
use super::Supervisor;
use crate::name::ServiceName;
use std::collections::BTreeMap;

/// The `after` graph as it stands when the shutdown begins, by position in
/// `services` (name order). Nothing is monitored or forgotten once a
/// shutdown began, so it stays valid to the end, and each step walks
/// integers once instead of rebuilding a map of names per running service.
#[derive(Debug, Default)]
pub(super) struct StopOrder {
    /// Monitored dependencies of each service.
    deps: Vec<Vec<usize>>,
    /// Monitored dependents of each service.
    dependents: Vec<Vec<usize>>,
    /// The cycle message of each service (`Supervisor::cycles`), numbered.
    cycle: Vec<Option<usize>>,
    /// The strongly connected component of each service.
    component: Vec<usize>,
    /// Whether the services sharing this service's cycle message are
    /// exactly its component, when that component is a cycle, and none
    /// otherwise. `cycles` lists only the path it shows, so a component
    /// made of several cycles can leave members unlisted; those take the
    /// slow walk.
    regular: Vec<bool>,
}

impl StopOrder {
    fn new(sup: &Supervisor) -> StopOrder {
        let count = sup.services.len();
        let position: BTreeMap<&ServiceName, usize> = sup
            .services
            .keys()
            .enumerate()
            .map(|(i, n)| (n, i))
            .collect();
        let deps: Vec<Vec<usize>> = sup
            .services
            .values()
            .map(|s| {
                // Every hard edge: `after` and `requires`.
                s.spec
                    .hard_deps()
                    .iter()
                    .filter_map(|d| position.get(d).copied())
                    .collect()
            })
            .collect();
        let mut dependents = vec![Vec::new(); count];
        for (dependent, ds) in deps.iter().enumerate() {
            for &dep in ds {
                dependents[dep].push(dependent);
            }
        }
        // Members of one cycle share its message; number the messages.
        let mut ids: BTreeMap<&str, usize> = BTreeMap::new();
        let cycle: Vec<Option<usize>> = sup
            .services
            .keys()
            .map(|n| {
                let message = sup.cycles.get(n)?;
                let next = ids.len();
                Some(*ids.entry(message.as_str()).or_insert(next))
            })
            .collect();
        let component = components(&deps);
        // A component is a cycle if it has two members or a self-loop.
        let mut size = vec![0usize; count];
        for &c in &component {
            size[c] += 1;
        }
        let is_cycle: Vec<bool> = (0..count)
            .map(|i| size[component[i]] > 1 || deps[i].contains(&i))
            .collect();
        // Per component: the one message all members share, if they do.
        let mut shared: Vec<Option<Option<usize>>> = vec![None; count];
        let mut consistent = vec![true; count];
        for i in 0..count {
            let c = component[i];
            match shared[c] {
                None => shared[c] = Some(cycle[i]),
                Some(m) if m != cycle[i] => consistent[c] = false,
                Some(_) => {}
            }
        }
        let mut message_size = vec![0usize; ids.len()];
        for id in cycle.iter().flatten() {
            message_size[*id] += 1;
        }
        let regular = (0..count)
            .map(|i| {
                let c = component[i];
                match cycle[i] {
                    None => !is_cycle[i],
                    Some(id) => is_cycle[i] && consistent[c] && message_size[id] == size[c],
                }
            })
            .collect();
        StopOrder {
            deps,
            dependents,
            cycle,
            component,
            regular,
        }
    }
}

/// Strongly connected components (Tarjan's algorithm, iterative so a long
/// chain cannot overflow the stack): the component number of each node.
fn components(deps: &[Vec<usize>]) -> Vec<usize> {
    const UNSEEN: usize = usize::MAX;
    let count = deps.len();
    let mut index = vec![UNSEEN; count];
    let mut low = vec![0; count];
    let mut on_stack = vec![false; count];
    let mut component = vec![UNSEEN; count];
    let mut stack = Vec::new();
    let mut next_index = 0;
    let mut next_component = 0;
    for root in 0..count {
        if index[root] != UNSEEN {
            continue;
        }
        // (node, position in its dependency list)
        let mut work = vec![(root, 0)];
        index[root] = next_index;
        low[root] = next_index;
        next_index += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&mut (node, ref mut pos)) = work.last_mut() {
            if let Some(&dep) = deps[node].get(*pos) {
                *pos += 1;
                if index[dep] == UNSEEN {
                    index[dep] = next_index;
                    low[dep] = next_index;
                    next_index += 1;
                    stack.push(dep);
                    on_stack[dep] = true;
                    work.push((dep, 0));
                } else if on_stack[dep] {
                    low[node] = low[node].min(index[dep]);
                }
                continue;
            }
            work.pop();
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[node]);
            }
            if low[node] == index[node] {
                while let Some(member) = stack.pop() {
                    on_stack[member] = false;
                    component[member] = next_component;
                    if member == node {
                        break;
                    }
                }
                next_component += 1;
            }
        }
    }
    component
}

impl Supervisor {
    pub(super) fn begin_shutdown(&mut self, mode: ShutdownMode) {
        self.shutdown = Some(mode);
        self.stop_order = StopOrder::new(self);
        for svc in self.services.values_mut() {
            // The shutdown orders every stop itself.
            svc.stop_after_requirers = false;
        }
        self.log(LogLevel::Info, format!("shutting down ({mode:?})"));
        for svc in self.services.values_mut() {
            svc.target = Target::Down;
            match svc.phase {
                Phase::Blocked => {
                    svc.phase = Phase::Idle;
                    svc.state = State::Unknown;
                }
                Phase::BackingOff => {
                    svc.phase = Phase::Idle;
                    svc.next_start = None;
                    // As `cancel_timer`: the pending restart goes stale.
                    self.timer_seq += 1;
                    svc.timer_generation = self.timer_seq;
                }
                Phase::Idle | Phase::Starting | Phase::Up { .. } | Phase::Stopping { .. } => {}
            }
        }
    }

    /// Stop every running service none of whose dependents still runs;
    /// report completion once nothing runs any more.
    pub(super) fn advance_shutdown(&mut self) {
        let Some(mode) = self.shutdown else {
            return;
        };
        if self.shutdown_reported {
            return;
        }
        if self
            .services
            .values()
            .any(|s| matches!(s.phase, Phase::Up { .. }))
        {
            let held = self.held_by_dependents();
            let ready: Vec<(ServiceName, Pid, Probe)> = self
                .services
                .iter()
                .zip(held)
                .filter_map(|((name, svc), held)| match svc.phase {
                    Phase::Up { pid, probe, .. } if !held => Some((name.clone(), pid, probe)),
                    _ => None,
                })
                .collect();
            for (name, pid, probe) in ready {
                self.send_stop(&name, pid, probe);
            }
        }
        let anything_left = self
            .services
            .values()
            .any(|s| s.phase.has_process() || s.phase == Phase::Starting);
        if !anything_left {
            self.shutdown_reported = true;
            self.log(LogLevel::Info, "all services are down".to_owned());
            self.effects.push(Effect::ShutdownComplete(mode));
        }
    }

    /// For each service (by position), whether a service that depends on
    /// it, directly or through services without a process (a finished
    /// oneshot, say), still has a process. Members of the same dependency
    /// cycle do not wait for each other, so a cycle can never hang a
    /// shutdown.
    ///
    /// One pass over the graph for all services: mark every service that
    /// has a process or reaches one through dependents without a process
    /// (from the running ones down their `after` edges), then hold every
    /// dependency of a marked service outside its own component. A walk
    /// that leaves a component never comes back into it, so excluding the
    /// cycle at the first edge is the same as excluding it all along. That
    /// holds where the listed cycle is the whole component (`regular`);
    /// the rare others are walked one by one, as the definition says.
    fn held_by_dependents(&self) -> Vec<bool> {
        let order = &self.stop_order;
        debug_assert_eq!(order.deps.len(), self.services.len());
        let active: Vec<bool> = self
            .services
            .values()
            .map(|s| s.phase.has_process() || s.phase == Phase::Starting)
            .collect();
        let mut reaches_process = active.clone();
        let mut held = vec![false; active.len()];
        let mut frontier: Vec<usize> = (0..active.len()).filter(|&i| active[i]).collect();
        while let Some(dependent) = frontier.pop() {
            for &dep in &order.deps[dependent] {
                if order.component[dep] != order.component[dependent] {
                    held[dep] = true;
                }
                if !reaches_process[dep] {
                    reaches_process[dep] = true;
                    frontier.push(dep);
                }
            }
        }
        for (i, held) in held.iter_mut().enumerate() {
            if !order.regular[i] {
                *held = order.walk_to_process(i, &active);
            }
        }
        held
    }
}

impl StopOrder {
    /// The definition for one service: walk its dependents, through those
    /// without a process, skipping members of its own cycle.
    fn walk_to_process(&self, start: usize, active: &[bool]) -> bool {
        let my_cycle = self.cycle[start];
        let mut seen = vec![false; active.len()];
        seen[start] = true;
        let mut frontier = vec![start];
        while let Some(current) = frontier.pop() {
            for &dependent in &self.dependents[current] {
                if std::mem::replace(&mut seen[dependent], true) {
                    continue;
                }
                if my_cycle.is_some() && self.cycle[dependent] == my_cycle {
                    continue;
                }
                if active[dependent] {
                    return true;
                }
                frontier.push(dependent);
            }
        }
        false
    }
}
