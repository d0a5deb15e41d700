//! Exit codes 2 (usage) and 3 (daemon unreachable), and `ZINIT_SOCKET`.

use super::*;

#[test]
fn daemon_not_running_exits_3_and_names_the_socket() {
    let d = Daemon::new();
    for args in [
        &["list"][..],
        &["status", "a"],
        &["log", "-s"],
        &["log"],
        &["shutdown"],
    ] {
        unreachable(&d.zinit(args), &d.socket);
    }
    stale_socket(&d.socket);
    unreachable(&d.zinit(&["list"]), &d.socket);
}

#[test]
fn usage_errors_exit_2_before_connecting() {
    // No daemon: a usage error must win over "not running".
    let d = Daemon::new();
    expect(
        &d.zinit(&["status"]),
        2,
        "",
        "error: the following required arguments were not provided:\n  <NAME>\n\n\
         Usage: zinit status <NAME>\n\nFor more information, try '--help'.\n",
    );
    expect(
        &d.zinit(&["bogus"]),
        2,
        "",
        "error: unrecognized subcommand 'bogus'\n\n\
         Usage: zinit [OPTIONS] <COMMAND>\n\nFor more information, try '--help'.\n",
    );
    for args in [
        &[][..],
        &["kill"],
        &["log", "a", "b"],
        &["init", "-b", "many"],
        &["list", "-x"],
    ] {
        let out = d.zinit(args);
        assert_eq!(
            (out.status.code(), text(&out.stdout).as_str()),
            (Some(2), ""),
            "{args:?}"
        );
        assert!(
            text(&out.stderr).starts_with("error: "),
            "{args:?}: {out:?}"
        );
    }
    quiet_stdout(
        &d.zinit(&["--version"]),
        &format!("zinit {}\n", env!("CARGO_PKG_VERSION")),
    );
    let help = d.ok(&["--help"]);
    for command in [
        "init", "list", "status", "start", "stop", "restart", "monitor", "forget", "kill", "log",
        "stats", "shutdown", "reboot",
    ] {
        assert!(
            help.contains(&format!("\n  {command} ")),
            "{command} missing from {help}"
        );
    }
}

#[test]
fn zinit_socket_variable_works_like_the_flag() {
    let d = Daemon::new();
    d.service("a", "exec: sleep 1000\n");
    let d = d.start();
    d.wait_running("a");
    let bogus = d.path("bogus.sock");
    let cli = |socket: &Path, args: &[&str]| {
        let mut command = Command::new(ZINIT);
        command.env("ZINIT_SOCKET", socket).args(args);
        bounded(command)
    };
    quiet_stdout(&cli(&d.socket, &["list"]), "a: Running\n");
    // The flag wins over the variable.
    let mut flagged = vec!["-s", d.socket.to_str().expect("utf-8")];
    flagged.push("list");
    quiet_stdout(&cli(&bogus, &flagged), "a: Running\n");
    unreachable(&cli(&bogus, &["list"]), &bogus);
}
