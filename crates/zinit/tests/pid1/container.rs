//! Container mode (`init --container`, here as PID 1 of a namespace):
//! SIGTERM, SIGINT, `shutdown` and `reboot` all stop the services in
//! reverse dependency order and exit; 0 when every service stopped in
//! time, 1 when one had to be SIGKILLed. SIGHUP is ignored. reboot(2) is
//! never called (it would end the namespace by a signal, not an exit code).

use super::*;

/// `app` (after `db`) stops before `db`; zinit exits 0 by itself.
fn stops_in_order_and_exits_0(ns: &mut Namespace, order: &Path) {
    let (status, took) = ns.wait_end(END_LIMIT);
    assert_eq!(
        status.code(),
        Some(0),
        "zinit must exit 0 (took {took:?}): {status}\n{}",
        ns.output()
    );
    assert_eq!(read(order), "stop app\nstop db\n", "{}", ns.output());
    nothing_survives(ns);
}

fn container_with_app_after_db() -> (Namespace, PathBuf) {
    let d = Daemon::new();
    let order = app_after_db(&d);
    let ns = Namespace::start(d, &["--container"]);
    wait_ready(&ns, &["db", "app"]);
    (ns, order)
}

#[test]
fn container_sighup_is_ignored_and_sigterm_stops_in_order_and_exits_0() {
    require_namespaces!("container_sighup_is_ignored_and_sigterm_stops_in_order_and_exits_0");
    let (mut ns, order) = container_with_app_after_db();
    let app = ns.state("app").1;

    ns.signal_zinit(libc::SIGHUP);
    // Handled or discarded, it is no longer pending; then zinit must still
    // be supervising, not shutting down: a change is accepted.
    within(Duration::from_secs(5), "the SIGHUP to be consumed", || {
        (!pending(ns.zinit, libc::SIGHUP)).then_some(())
    });
    assert_eq!(ns.state("app"), ("Running".to_owned(), app));
    stop_and_start(&ns, "app");
    assert!(ns.running(), "zinit exited on SIGHUP\n{}", ns.output());
    assert_eq!(read(&order), "stop app\n", "{}", ns.output());
    std::fs::remove_file(&order).expect("reset the order file");

    ns.signal_zinit(libc::SIGTERM);
    stops_in_order_and_exits_0(&mut ns, &order);
}

#[test]
fn container_sigint_twice_is_one_ordered_shutdown() {
    require_namespaces!("container_sigint_twice_is_one_ordered_shutdown");
    let (mut ns, order) = container_with_app_after_db();
    ns.signal_zinit(libc::SIGINT);
    ns.signal_zinit(libc::SIGINT);
    stops_in_order_and_exits_0(&mut ns, &order);
}

#[test]
fn container_shutdown_stops_in_order_and_exits_0() {
    require_namespaces!("container_shutdown_stops_in_order_and_exits_0");
    let (mut ns, order) = container_with_app_after_db();
    ns.ok(&["shutdown"]);
    stops_in_order_and_exits_0(&mut ns, &order);
}

#[test]
fn container_reboot_stops_in_order_and_exits_0() {
    require_namespaces!("container_reboot_stops_in_order_and_exits_0");
    let (mut ns, order) = container_with_app_after_db();
    ns.ok(&["reboot"]);
    stops_in_order_and_exits_0(&mut ns, &order);
}

#[test]
fn container_exits_1_when_a_service_is_killed_at_its_timeout() {
    require_namespaces!("container_exits_1_when_a_service_is_killed_at_its_timeout");
    let d = Daemon::new();
    let order = d.path("order");
    let stubborn = script(
        &d,
        "stubborn",
        "trap '' TERM\necho ready\nwhile :; do sleep 0.05; done\n",
    );
    let polite = recorder(&d, "polite", &order, "0");
    d.service("stubborn", &sh_service(&stubborn, "shutdown_timeout: 1\n"));
    d.service("polite", &sh_service(&polite, ""));
    let mut ns = Namespace::start(d, &["--container"]);
    wait_ready(&ns, &["stubborn", "polite"]);

    ns.signal_zinit(libc::SIGTERM);
    let (status, took) = ns.wait_end(END_LIMIT);
    assert_eq!(
        status.code(),
        Some(1),
        "a SIGKILLed service makes zinit exit 1: {status}\n{}",
        ns.output()
    );
    assert!(
        took >= Duration::from_millis(900),
        "stubborn was killed after {took:?}, before its 1 s timeout\n{}",
        ns.output()
    );
    assert!(
        took < Duration::from_secs(5),
        "shutdown took {took:?} for a 1 s timeout"
    );
    assert_eq!(read(&order), "stop polite\n", "{}", ns.output());
    nothing_survives(&ns);
}
