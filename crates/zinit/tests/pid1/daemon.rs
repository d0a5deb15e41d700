//! Daemon mode (not PID 1, no `--container`): SIGHUP is logged and
//! ignored. (Shutdown and reboot stopping everything and exiting 0 are in
//! tests/cli; orphan reaping as a subreaper is in `reaping`.)

use super::*;

#[test]
fn daemon_sighup_is_logged_and_ignored() {
    let d = Daemon::new();
    let order = app_after_db(&d);
    let mut d = d.start();
    wait_ready(&d, &["db", "app"]);
    let db = d.state("db").1;
    let app = d.state("app").1;

    let before = mentions(&d, "SIGHUP");
    signal(d.pid() as i32, libc::SIGHUP);
    within(Duration::from_secs(5), "zinit to log the SIGHUP", || {
        (mentions(&d, "SIGHUP") > before).then_some(())
    });
    assert_eq!(d.state("app"), ("Running".to_owned(), app));
    assert_eq!(d.state("db"), ("Running".to_owned(), db));
    assert_eq!(read(&order), "", "{}", d.output());
    stop_and_start(&d, "app");
    assert!(
        d.try_exit().is_none(),
        "zinit exited on SIGHUP\n{}",
        d.output()
    );

    // Still stops in order and exits 0 on SIGTERM.
    std::fs::remove_file(&order).expect("reset the order file");
    let status = d.terminate();
    assert_eq!(status.code(), Some(0), "{status}\n{}", d.output());
    assert_eq!(read(&order), "stop app\nstop db\n", "{}", d.output());
    nothing_survives(&d);
}
