//! Service lifecycle through the real binary: dependency order, oneshots,
//! restarts with back-off, stop escalation, restart, shutdown order.

mod common;

use common::*;

#[test]
fn services_start_in_dependency_order_and_stop_in_reverse() {
    let d = Daemon::new();
    let order = d.path("order");
    let record = |name: &str| {
        format!(
            "exec: \"sh -c 'echo start {name} >> {o}; trap \\\"echo stop {name} >> {o}; exit 0\\\" TERM; while true; do sleep 0.05; done'\"\n",
            o = order.display()
        )
    };
    d.service(
        "db",
        &format!("{}test: \"test -e {}\"\n", record("db"), order.display()),
    );
    d.service(
        "migrate",
        &format!(
            "exec: \"sh -c 'echo start migrate >> {}'\"\noneshot: true\nafter: [db]\n",
            order.display()
        ),
    );
    d.service("app", &format!("{}after: [migrate]\n", record("app")));
    let mut d = d.start();
    d.wait_running("app");
    assert_eq!(d.state("migrate").0, "Success");
    // Running (no test) means spawned: wait for its first line.
    wait_until("app to write its line", || {
        std::fs::read_to_string(&order)
            .unwrap()
            .ends_with("start app\n")
    });
    let started = std::fs::read_to_string(&order).unwrap();
    assert_eq!(started, "start db\nstart migrate\nstart app\n");

    let status = d.terminate();
    assert!(status.success(), "zinit exited with {status}");
    let all = std::fs::read_to_string(&order).unwrap();
    assert_eq!(
        all,
        "start db\nstart migrate\nstart app\nstop app\nstop db\n",
        "{}",
        d.output()
    );
    assert!(
        d.marked_processes().is_empty(),
        "left running: {:?}",
        d.marked_processes()
    );
}
