//! Machine mode (PID 1, no `--container`), as PID 1 of a namespace where
//! reboot(2) ends the namespace instead of the machine: `shutdown` and
//! SIGPWR power off, `reboot` and SIGINT (Ctrl-Alt-Del) reboot, each after
//! the ordered stop of the services and TERM to every other process.
//! SIGTERM is ignored. A socket zinit cannot bind does not stop PID 1.
//!
//! The kernel reports the namespace's end as its init killed by SIGINT
//! (power off, halt) or SIGHUP (restart), which tells the two apart.

use super::*;

/// How a test asks zinit to end the machine.
enum Ask {
    Cli(&'static str),
    Signal(i32),
}

/// Services `app` after `db`, plus a process that belongs to no service
/// (it joined the namespace with nsenter); `ask` must stop the services in
/// order, TERM the stray, then call reboot(2) with the command whose
/// signal is `ended_with`.
fn ends_the_namespace(ask: Ask, ended_with: i32) {
    let d = Daemon::new();
    let order = app_after_db(&d);
    let mut ns = Namespace::start(d, &[]);
    wait_ready(&ns, &["db", "app"]);

    let ready = ns.path("stray.ready");
    let stray = script(
        &ns,
        "stray",
        &format!(
            "trap 'echo stray >> {o}; exit 0' TERM\n: > {r}\nwhile :; do sleep 0.05; done\n",
            o = order.display(),
            r = ready.display()
        ),
    );
    let mut nsenter = ns.enter(&stray);
    within(Duration::from_secs(5), "the stray process", || {
        ready.exists().then_some(())
    });

    match ask {
        Ask::Cli(command) => {
            ns.ok(&[command]);
        }
        Ask::Signal(sig) => ns.signal_zinit(sig),
    }
    let (status, took) = ns.wait_end(END_LIMIT);
    assert!(
        ended_by(status, ended_with),
        "expected the end of a namespace by signal {ended_with} (reboot(2)), got {status} \
         after {took:?}\n{}",
        ns.output()
    );
    assert_eq!(
        read(&order),
        "stop app\nstop db\nstray\n",
        "services stop in order, then TERM to everything else\n{}",
        ns.output()
    );
    within(Duration::from_secs(5), "nsenter to exit", || {
        nsenter.try_wait().ok().flatten()
    });
    nothing_survives(&ns);
}

#[test]
fn machine_shutdown_stops_services_then_powers_off() {
    require_namespaces!("machine_shutdown_stops_services_then_powers_off");
    ends_the_namespace(Ask::Cli("shutdown"), libc::SIGINT);
}

#[test]
fn machine_reboot_stops_services_then_reboots() {
    require_namespaces!("machine_reboot_stops_services_then_reboots");
    ends_the_namespace(Ask::Cli("reboot"), libc::SIGHUP);
}

#[test]
fn machine_sigint_reboots() {
    require_namespaces!("machine_sigint_reboots");
    ends_the_namespace(Ask::Signal(libc::SIGINT), libc::SIGHUP);
}

#[test]
fn machine_sigpwr_powers_off() {
    require_namespaces!("machine_sigpwr_powers_off");
    ends_the_namespace(Ask::Signal(libc::SIGPWR), libc::SIGINT);
}

#[test]
fn machine_sigterm_is_ignored() {
    require_namespaces!("machine_sigterm_is_ignored");
    let d = Daemon::new();
    let order = app_after_db(&d);
    let mut ns = Namespace::start(d, &[]);
    wait_ready(&ns, &["db", "app"]);
    let db = ns.state("db").1;
    let app = ns.state("app").1;

    let before = mentions(&ns, "SIGTERM");
    ns.signal_zinit(libc::SIGTERM);
    within(Duration::from_secs(5), "zinit to log the SIGTERM", || {
        (mentions(&ns, "SIGTERM") > before).then_some(())
    });
    // Nothing was stopped, and zinit is not shutting down.
    assert_eq!(ns.state("app"), ("Running".to_owned(), app));
    assert_eq!(ns.state("db"), ("Running".to_owned(), db));
    assert_eq!(read(&order), "", "{}", ns.output());
    stop_and_start(&ns, "app");
    assert!(ns.running(), "zinit ended on SIGTERM\n{}", ns.output());
    std::fs::remove_file(&order).expect("reset the order file");

    ns.ok(&["shutdown"]);
    let (status, _) = ns.wait_end(END_LIMIT);
    assert!(ended_by(status, libc::SIGINT), "{status}\n{}", ns.output());
    assert_eq!(read(&order), "stop app\nstop db\n", "{}", ns.output());
    nothing_survives(&ns);
}

#[test]
fn pid1_keeps_supervising_when_it_cannot_bind_its_socket() {
    require_namespaces!("pid1_keeps_supervising_when_it_cannot_bind_its_socket");
    let d = Daemon::new();
    std::fs::write(&d.socket, "precious").expect("a regular file at the socket path");
    let started = d.path("started");
    let runs = d.path("runs");
    let web = script(
        &d,
        "web",
        &format!("echo started >> {}\nexec sleep 1000\n", started.display()),
    );
    let flaky = script(
        &d,
        "flaky",
        &format!("echo run >> {}\nsleep 0.2\nexit 1\n", runs.display()),
    );
    d.service("web", &sh_service(&web, ""));
    d.service("flaky", &sh_service(&flaky, ""));
    let mut ns = Namespace::spawn(d, &[]);

    within(Duration::from_secs(10), "web to start", || {
        (read(&started) == "started\n").then_some(())
    });
    // Restarted after crashes: zinit is still supervising, not just alive.
    within(
        Duration::from_secs(10),
        "flaky to be restarted twice",
        || (read(&runs).lines().count() >= 3).then_some(()),
    );
    assert!(ns.running(), "zinit as PID 1 exited\n{}", ns.output());
    assert!(alive(ns.zinit), "zinit as PID 1 died\n{}", ns.output());
    // Logged on the console and, as PID 1, in the kernel log (an error
    // record), naming the path.
    let socket = ns.socket.display().to_string();
    within(Duration::from_secs(5), "the socket error on stdout", || {
        ns.output().contains(&socket).then_some(())
    });
    let kmsg = ns.path("kmsg");
    within(Duration::from_secs(5), "the socket error in kmsg", || {
        read(&kmsg)
            .lines()
            .any(|l| l.starts_with("<3>zinit: ") && l.contains(&socket))
            .then_some(())
    });
    assert_eq!(read(&ns.socket), "precious", "never replace a regular file");

    // Signals still work: SIGPWR powers off (ends the namespace).
    ns.signal_zinit(libc::SIGPWR);
    let (status, _) = ns.wait_end(END_LIMIT);
    assert!(ended_by(status, libc::SIGINT), "{status}\n{}", ns.output());
    nothing_survives(&ns);
}
