//! Orphans: a service that double-forks hundreds of short-lived children.
//! Each orphan is reparented to zinit (PID 1 of a namespace, or a child
//! subreaper when it is not PID 1) and reaped when it exits; the service
//! itself is untouched.

use super::*;

/// 200 subshells, each leaving an orphaned `sleep 0.2` behind, then the
/// service execs into a long sleep.
const DOUBLE_FORKER: &str =
    "exec: \"sh -c 'for i in $(seq 200); do (sleep 0.2 &) ; done; exec sleep 1000'\"\n";

/// Marked live processes that are `sleep 0.2` orphans (any parent).
fn orphans(d: &Daemon) -> Vec<i32> {
    d.marked_processes()
        .into_iter()
        .filter(|p| cmdline(*p) == "sleep 0.2")
        .collect()
}

/// Runs the double-forker under zinit (whose host pid is `zinit`) and
/// checks every orphan comes to zinit and is reaped.
fn orphans_are_reaped(d: &Daemon, zinit: i32) {
    let (state, pid) = d.wait_state("orphans", |s| s == "Running");
    assert_ne!(pid, 0, "{state}");

    // The orphans really are zinit's: some are seen with zinit as parent
    // (otherwise this test would prove nothing about zinit).
    within(
        Duration::from_secs(5),
        "an orphan reparented to zinit",
        || {
            orphans(d)
                .into_iter()
                .find(|p| stat(*p).is_some_and(|(_, ppid)| ppid == zinit))
        },
    );
    // The loop is over once the service's process is `sleep 1000`.
    within(Duration::from_secs(10), "the service to exec", || {
        children(zinit)
            .into_iter()
            .find(|p| cmdline(*p) == "sleep 1000")
    });
    // The last orphans exit 0.2 s later; none may stay a zombie.
    within(Duration::from_secs(5), "every orphan reaped", || {
        (orphans(d).is_empty() && zombies_under(zinit).is_empty()).then_some(())
    });
    assert_eq!(
        d.state("orphans"),
        ("Running".to_owned(), pid),
        "the service must be untouched\n{}",
        d.output()
    );
    assert!(alive(zinit), "zinit died\n{}", d.output());
}

#[test]
fn pid1_reaps_orphans_of_a_double_forking_service() {
    require_namespaces!("pid1_reaps_orphans_of_a_double_forking_service");
    let d = Daemon::new();
    d.service("orphans", DOUBLE_FORKER);
    let ns = Namespace::start(d, &[]);
    orphans_are_reaped(&ns, ns.zinit);
}

#[test]
fn subreaper_reaps_orphans_of_a_double_forking_service() {
    let d = Daemon::new();
    d.service("orphans", DOUBLE_FORKER);
    let d = d.start();
    orphans_are_reaped(&d, d.pid() as i32);
}
