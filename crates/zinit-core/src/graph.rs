//! Dependency graph queries over `after` edges: cycles and dependents.
//!
//! The graph is derived on demand from the monitored specs. Hot paths keep
//! their own indexed copy instead (a shutdown freezes one when it begins,
//! see `supervisor/shutdown.rs`), and the cycle search on `monitor` runs
//! only when the new service can close a cycle.

use crate::name::ServiceName;
use std::collections::{BTreeMap, BTreeSet};

/// `after` edges of every monitored service: service -> its dependencies.
pub type Edges<'a> = BTreeMap<&'a ServiceName, &'a [ServiceName]>;

/// Every dependency cycle among monitored services, each as the list of its
/// members in edge order, starting from the smallest name. A service that
/// lists itself is a cycle of one. Edges to unmonitored services are ignored.
pub fn cycles(edges: &Edges<'_>) -> Vec<Vec<ServiceName>> {
    cycle_groups(edges).into_iter().map(|g| g.path).collect()
}

/// One group of services that wait on each other: a strongly connected
/// component with a cycle in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CycleGroup {
    /// One cycle through the group, for messages (see [`cycles`]).
    pub path: Vec<ServiceName>,
    /// Every member, sorted. A group can hold several cycles (`a <-> b`
    /// and `a <-> c`), so members may be missing from `path`; none of them
    /// can start, and all of them are part of the cycle.
    pub members: Vec<ServiceName>,
}

/// Every [`CycleGroup`] among monitored services, sorted by path.
pub fn cycle_groups(edges: &Edges<'_>) -> Vec<CycleGroup> {
    let components = strongly_connected(edges);
    let mut found = Vec::new();
    for component in components {
        let first = match component.iter().next() {
            Some(first) => (*first).clone(),
            None => continue,
        };
        let self_loop = edges.get(&first).is_some_and(|deps| deps.contains(&first));
        if component.len() == 1 && !self_loop {
            continue;
        }
        let members = component.iter().map(|m| (*m).clone()).collect();
        found.push(CycleGroup {
            path: cycle_path(edges, &component, first),
            members,
        });
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    found
}

/// Services that list `name` in their `after`.
pub fn dependents<'a>(edges: &Edges<'a>, name: &ServiceName) -> Vec<&'a ServiceName> {
    edges
        .iter()
        .filter(|(_, deps)| deps.contains(name))
        .map(|(svc, _)| *svc)
        .collect()
}

/// Render a cycle for humans: `a -> b -> a`.
pub fn describe_cycle(cycle: &[ServiceName]) -> String {
    let mut parts: Vec<&str> = cycle.iter().map(ServiceName::as_str).collect();
    if let Some(first) = cycle.first() {
        parts.push(first.as_str());
    }
    parts.join(" -> ")
}

/// Walk edges inside one component from `start` back to `start`, so the
/// message shows a real path rather than an unordered set.
fn cycle_path(
    edges: &Edges<'_>,
    component: &BTreeSet<&ServiceName>,
    start: ServiceName,
) -> Vec<ServiceName> {
    // Breadth-first search for the shortest path start -> ... -> start.
    let mut previous: BTreeMap<ServiceName, ServiceName> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start.clone()]);
    while let Some(node) = queue.pop_front() {
        let deps = edges.get(&node).copied().unwrap_or(&[]);
        for dep in deps.iter().filter(|d| component.contains(d)) {
            if *dep == start {
                let mut path = vec![node.clone()];
                let mut cursor = node.clone();
                while let Some(p) = previous.get(&cursor) {
                    path.push(p.clone());
                    cursor = p.clone();
                }
                path.reverse();
                return path;
            }
            if !previous.contains_key(dep) && *dep != start {
                previous.insert(dep.clone(), node.clone());
                queue.push_back(dep.clone());
            }
        }
    }
    component.iter().map(|n| (*n).clone()).collect()
}

/// Tarjan's algorithm, iterative so a long chain cannot overflow the stack.
fn strongly_connected<'a>(edges: &Edges<'a>) -> Vec<BTreeSet<&'a ServiceName>> {
    #[derive(Clone, Copy)]
    struct Mark {
        index: usize,
        low: usize,
        on_stack: bool,
    }
    let mut marks: BTreeMap<&ServiceName, Mark> = BTreeMap::new();
    let mut stack: Vec<&ServiceName> = Vec::new();
    let mut components = Vec::new();
    let mut next_index = 0;

    for &root in edges.keys() {
        if marks.contains_key(root) {
            continue;
        }
        // (node, position in its dependency list)
        let mut work: Vec<(&ServiceName, usize)> = vec![(root, 0)];
        marks.insert(
            root,
            Mark {
                index: next_index,
                low: next_index,
                on_stack: true,
            },
        );
        next_index += 1;
        stack.push(root);
        while let Some(&mut (node, ref mut pos)) = work.last_mut() {
            let deps = edges.get(node).copied().unwrap_or(&[]);
            if let Some(dep) = deps.get(*pos) {
                *pos += 1;
                let Some((&dep_key, _)) = edges.get_key_value(dep) else {
                    continue; // not monitored: no edge
                };
                match marks.get(dep_key).copied() {
                    None => {
                        marks.insert(
                            dep_key,
                            Mark {
                                index: next_index,
                                low: next_index,
                                on_stack: true,
                            },
                        );
                        next_index += 1;
                        stack.push(dep_key);
                        work.push((dep_key, 0));
                    }
                    Some(m) if m.on_stack => {
                        if let Some(n) = marks.get_mut(node) {
                            n.low = n.low.min(m.index);
                        }
                    }
                    Some(_) => {}
                }
                continue;
            }
            work.pop();
            let Some(mark) = marks.get(node).copied() else {
                continue;
            };
            if let Some(&(parent, _)) = work.last() {
                if let Some(p) = marks.get_mut(parent) {
                    p.low = p.low.min(mark.low);
                }
            }
            if mark.low == mark.index {
                let mut component = BTreeSet::new();
                while let Some(member) = stack.pop() {
                    if let Some(m) = marks.get_mut(member) {
                        m.on_stack = false;
                    }
                    component.insert(member);
                    if member == node {
                        break;
                    }
                }
                components.push(component);
            }
        }
    }
    components
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> ServiceName {
        ServiceName::new(s).unwrap()
    }

    fn graph(spec: &[(&str, &[&str])]) -> BTreeMap<ServiceName, Vec<ServiceName>> {
        spec.iter()
            .map(|(k, deps)| (n(k), deps.iter().map(|d| n(d)).collect()))
            .collect()
    }

    fn edges(g: &BTreeMap<ServiceName, Vec<ServiceName>>) -> Edges<'_> {
        g.iter().map(|(k, v)| (k, v.as_slice())).collect()
    }

    #[test]
    fn no_cycles_in_a_dag() {
        let g = graph(&[("a", &[]), ("b", &["a"]), ("c", &["a", "b", "missing"])]);
        assert!(cycles(&edges(&g)).is_empty());
    }

    #[test]
    fn a_group_of_several_cycles_lists_every_member() {
        let g = graph(&[
            ("a", &["b", "c"]),
            ("b", &["a"]),
            ("c", &["a"]),
            ("d", &["a"]),
        ]);
        let groups = cycle_groups(&edges(&g));
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].members, [n("a"), n("b"), n("c")]);
        assert_eq!(groups[0].path, [n("a"), n("b")]);
    }

    #[test]
    fn finds_cycles_with_their_path() {
        let g = graph(&[
            ("a", &["c"]),
            ("b", &["a"]),
            ("c", &["b"]),
            ("d", &["a"]),
            ("self", &["self"]),
        ]);
        let found = cycles(&edges(&g));
        assert_eq!(found, vec![vec![n("a"), n("c"), n("b")], vec![n("self")]]);
        assert_eq!(describe_cycle(&found[0]), "a -> c -> b -> a");
        assert_eq!(describe_cycle(&found[1]), "self -> self");
    }

    #[test]
    fn a_long_chain_does_not_overflow() {
        let names: Vec<String> = (0..20_000).map(|i| format!("s{i}")).collect();
        let g: BTreeMap<ServiceName, Vec<ServiceName>> = names
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let deps = if i == 0 {
                    vec![]
                } else {
                    vec![n(&names[i - 1])]
                };
                (n(s), deps)
            })
            .collect();
        assert!(cycles(&edges(&g)).is_empty());
    }

    #[test]
    fn dependents_are_reverse_edges() {
        let g = graph(&[("a", &[]), ("b", &["a"]), ("c", &["a"])]);
        let e = edges(&g);
        let d: Vec<_> = dependents(&e, &n("a")).into_iter().cloned().collect();
        assert_eq!(d, vec![n("b"), n("c")]);
    }
}
