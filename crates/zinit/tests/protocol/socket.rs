//! The control socket file: private, never stolen from a live daemon,
//! replaced when stale.

use super::*;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};

#[test]
fn the_socket_is_private_and_never_stolen() {
    let d = Daemon::new();
    let mut d = d.start();
    let meta = std::fs::symlink_metadata(&d.socket).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let inode = meta.ino();

    // A second daemon on the same socket refuses and leaves it alone.
    let other = d.path("other");
    std::fs::create_dir(&other).unwrap();
    let mut second = std::process::Command::new(ZINIT)
        .arg("-s")
        .arg(&d.socket)
        .arg("init")
        .arg("-c")
        .arg(&other)
        .arg("--env-file")
        .arg(d.path("environment"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_for("the second zinit to give up", || second.try_wait().unwrap());
    let mut stderr = String::new();
    second
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr,
        format!(
            "zinit: another zinit is already listening on {}; refusing to take over its socket\n",
            d.socket.display()
        )
    );
    assert_eq!(std::fs::symlink_metadata(&d.socket).unwrap().ino(), inode);
    assert_eq!(send(&d, "list"), ok("{}"));

    // A daemon killed outright leaves its socket behind; the next one
    // replaces it.
    let killed = d.kill_daemon();
    assert_eq!(killed.code(), None);
    assert!(std::fs::symlink_metadata(&d.socket)
        .unwrap()
        .file_type()
        .is_socket());
    assert!(UnixStream::connect(&d.socket).is_err());
    d.spawn_init(&[]);
    wait_until("the new daemon to answer", || {
        UnixStream::connect(&d.socket).is_ok()
    });
    assert_eq!(send(&d, "list"), ok("{}"));
    let meta = std::fs::symlink_metadata(&d.socket).unwrap();
    assert_ne!(meta.ino(), inode);
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
}

/// `zinit init` with `args`, expected to refuse: its exit code and stderr.
fn refused_init(d: &Daemon, args: &[&str]) -> (Option<i32>, String) {
    let output = d
        .init_command(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn one_zinit_serves_every_path_it_is_given() {
    let d = Daemon::new();
    d.service("web", LOOP);
    let upstream = d.path("tmp-zinit.sock");
    let run = d.path("run/zinit.sock");
    let (upstream_arg, run_arg) = (upstream.display().to_string(), run.display().to_string());
    let mut d = d.start_args(&["--also-socket", &upstream_arg, "--also-socket", &run_arg]);
    let pid = d.wait_running("web");

    for path in [&d.socket, &upstream, &run] {
        let meta = std::fs::symlink_metadata(path).unwrap();
        assert!(meta.file_type().is_socket(), "{}", path.display());
        assert_eq!(
            meta.permissions().mode() & 0o777,
            0o600,
            "{}",
            path.display()
        );
        // Both protocols, JSON-RPC framed as upstream's client frames it.
        let mut legacy = UnixStream::connect(path).unwrap();
        legacy.write_all(b"status web\n").unwrap();
        let mut reply = String::new();
        legacy.read_to_string(&mut reply).unwrap();
        assert_eq!(reply, ok(&status_body("web", pid, "Running", "Up", "{}")));
        let mut rpc = UnixStream::connect(path).unwrap();
        rpc.set_read_timeout(Some(DEADLINE)).unwrap();
        rpc.write_all(br#"{"jsonrpc":"2.0","id":1,"method":"service_list"}"#)
            .unwrap();
        let mut line = String::new();
        BufReader::new(rpc).read_line(&mut line).unwrap();
        assert_eq!(
            line,
            "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"web\":\"Running\"}}\n"
        );
    }
    assert!(
        d.output().contains(&format!(
            "socket {}, {}, {}",
            d.socket.display(),
            upstream_arg,
            run_arg
        )),
        "{}",
        d.output()
    );

    // While it runs, another zinit may not take any of its paths.
    let elsewhere = Daemon::new();
    let (code, stderr) = refused_init(&elsewhere, &["--also-socket", &run_arg]);
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(
        stderr,
        format!("zinit: another zinit is already listening on {run_arg}; refusing to take over its socket\n")
    );
    assert!(std::fs::symlink_metadata(&elsewhere.socket).is_err());
    assert_eq!(send_to(&run, "list"), ok("{\"web\":\"Running\"}"));

    // A clean stop removes every socket file it made.
    let status = d.terminate();
    assert!(status.success(), "{status:?}");
    for path in [&d.socket, &upstream, &run] {
        assert!(
            std::fs::symlink_metadata(path).is_err(),
            "{} left behind",
            path.display()
        );
    }
}

#[test]
fn a_path_that_cannot_be_served_stops_a_daemon_before_it_starts() {
    let d = Daemon::new();
    // Given twice, or the -s socket again: a usage error.
    let socket = d.socket.display().to_string();
    let (code, stderr) = refused_init(&d, &["--also-socket", &socket]);
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(
        stderr,
        format!("zinit: --also-socket {socket} is given twice (or is the -s socket); each path is served once\n")
    );
    // A path taken by something that is not a socket: refused, and the
    // primary socket it had already bound is removed again.
    let taken = d.path("taken");
    std::fs::write(&taken, "not a socket").unwrap();
    let (code, stderr) = refused_init(&d, &["--also-socket", &taken.display().to_string()]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("{} exists and is not a socket", taken.display())),
        "{stderr}"
    );
    assert!(
        std::fs::symlink_metadata(&d.socket).is_err(),
        "the -s socket was left behind"
    );
    assert_eq!(std::fs::read_to_string(&taken).unwrap(), "not a socket");

    // In a directory anyone can write to, it is served with a warning.
    let open = d.path("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let shared = open.join("zinit.sock");
    let shared_arg = shared.display().to_string();
    let d = d.start_args(&["--also-socket", &shared_arg]);
    assert_eq!(send_to(&shared, "list"), ok("{}"));
    wait_until("the warning about the open directory", || {
        d.output().contains(&format!(
            "control socket {shared_arg}: anyone can create files in {}",
            open.display()
        ))
    });
}

/// One legacy command to the socket at `path`: the whole reply.
fn send_to(path: &Path, line: &str) -> String {
    let mut stream = UnixStream::connect(path).unwrap();
    stream.write_all(format!("{line}\n").as_bytes()).unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    reply
}
