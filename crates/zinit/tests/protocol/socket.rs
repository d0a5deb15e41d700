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
