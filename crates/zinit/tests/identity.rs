//! The process environment of a service (issue #15), through the real
//! binary: `user` and `group` (uid, gid and supplementary groups from
//! /proc, the account's variables, the `test` command as the same user,
//! unknown names and a zinit that is not root refused with a reason),
//! `env_file` (read at every start, optional and required files, bad
//! lines), and `limits`, `umask`, `nice` and `oom_score_adj` read back from
//! /proc. Switching users needs root: those tests skip elsewhere and fail
//! under CI, which runs as root.

mod common;

use common::namespace::{is_root, require_root};
use common::*;
use std::collections::{BTreeSet, HashMap};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// A field of /proc/PID/status (`Uid`, `Groups`, `Umask`), tab-separated
/// values as written.
fn status_field(pid: u64, field: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
        .trim()
        .to_owned()
}

fn ids(text: &str) -> BTreeSet<u32> {
    text.split_whitespace()
        .map(|id| id.parse().expect("numeric id"))
        .collect()
}

/// The environment a process was started with.
fn environ(pid: u64) -> HashMap<String, String> {
    let bytes = std::fs::read(format!("/proc/{pid}/environ")).expect("environ");
    bytes
        .split(|b| *b == 0)
        .filter_map(|entry| {
            let entry = String::from_utf8_lossy(entry);
            let (k, v) = entry.split_once('=')?;
            Some((k.to_owned(), v.to_owned()))
        })
        .collect()
}

/// Name, uid, home and shell of an account from /etc/passwd.
fn account(name: &str) -> Option<(u32, u32, String, String)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() >= 7 && f[0] == name).then(|| {
            (
                f[2].parse().unwrap(),
                f[3].parse().unwrap(),
                f[5].to_owned(),
                f[6].to_owned(),
            )
        })
    })
}

/// An account to run services as: one the group database lists as a
/// member of a supplementary group (so the groups are really tested),
/// else `nobody`.
fn test_account() -> String {
    let group = std::fs::read_to_string("/etc/group").unwrap_or_default();
    group
        .lines()
        .filter_map(|line| line.split(':').nth(3))
        .flat_map(|members| members.split(','))
        .find(|m| !m.is_empty() && *m != "root" && account(m).is_some())
        .unwrap_or("nobody")
        .to_owned()
}

/// The groups `id -G USER` lists: what initgroups sets.
fn groups_of(user: &str) -> BTreeSet<u32> {
    let out = Command::new("id").args(["-G", user]).output().expect("id");
    assert!(out.status.success(), "id -G {user}");
    ids(&String::from_utf8_lossy(&out.stdout))
}

/// The `restart: never` service `name` ended in Failure with a reason
/// containing `words`, which `why` shows too.
#[track_caller]
fn fails_with(d: &Daemon, name: &str, words: &str) {
    let (state, _) = d.wait_state(name, |s| s.starts_with("Failure"));
    assert!(state.contains(words), "{name}: {state}");
    let why = d.ok(&["why", name]);
    assert!(why.contains(words), "{why}");
}

#[test]
fn a_service_runs_as_its_user_with_the_accounts_groups_and_variables() {
    require_root!("a_service_runs_as_its_user_with_the_accounts_groups_and_variables");
    let user = test_account();
    let (uid, gid, home, shell) = account(&user).expect("the account");
    let d = Daemon::new();
    // The test command passes only as the same user, with its variables.
    let test = format!("sh -c '[ \"$(id -u)\" = {uid} ] && [ \"$USER\" = {user} ]'");
    d.service(
        "web",
        &format!("exec: sleep 1000\nuser: {user}\ntest: {test}\nenv: {{SHELL: /bin/own}}\n"),
    );
    d.service(
        "grouped",
        &format!("exec: sleep 1000\nuser: {user}\ngroup: daemon\n"),
    );
    let d = d.start();
    let pid = d.wait_running("web");
    let all = format!("{uid}\t{uid}\t{uid}\t{uid}");
    assert_eq!(status_field(pid, "Uid"), all);
    let all = format!("{gid}\t{gid}\t{gid}\t{gid}");
    assert_eq!(status_field(pid, "Gid"), all);
    assert_eq!(ids(&status_field(pid, "Groups")), groups_of(&user));
    let env = environ(pid);
    assert_eq!(env.get("HOME"), Some(&home));
    assert_eq!(env.get("USER"), Some(&user));
    assert_eq!(env.get("LOGNAME"), Some(&user));
    // The file's env wins over the account.
    assert_eq!(env.get("SHELL").map(String::as_str), Some("/bin/own"));
    assert_ne!(shell, "/bin/own");
    // `group` replaces the primary group; root's groups are gone.
    let pid = d.wait_running("grouped");
    assert!(status_field(pid, "Uid").starts_with(&format!("{uid}\t")));
    assert_eq!(status_field(pid, "Gid"), "1\t1\t1\t1");
    let groups = ids(&status_field(pid, "Groups"));
    assert!(groups.contains(&1), "{groups:?}");
    assert!(!groups.contains(&0), "{groups:?}");
}

#[test]
fn group_alone_switches_only_the_group() {
    require_root!("group_alone_switches_only_the_group");
    let d = Daemon::new();
    d.service("web", "exec: sleep 1000\ngroup: 65534\n");
    let d = d.start();
    let pid = d.wait_running("web");
    assert_eq!(status_field(pid, "Uid"), "0\t0\t0\t0");
    assert_eq!(status_field(pid, "Gid"), "65534\t65534\t65534\t65534");
    let own = status_field(u64::from(d.pid()), "Groups");
    assert_eq!(ids(&status_field(pid, "Groups")), ids(&own));
}

#[test]
fn an_unknown_user_or_group_fails_the_start_and_warns_at_load() {
    let d = Daemon::new();
    let never = "restart: never\n";
    d.service(
        "ghost",
        &format!("exec: sleep 1000\nuser: zinit-no-such-user\n{never}"),
    );
    d.service(
        "ghostgroup",
        &format!("exec: sleep 1000\ngroup: zinit-no-such-group\n{never}"),
    );
    let d = d.start();
    fails_with(&d, "ghost", "unknown user \"zinit-no-such-user\"");
    fails_with(&d, "ghostgroup", "unknown group \"zinit-no-such-group\"");
    wait_until("the load warning", || {
        d.output()
            .contains("user: unknown user \"zinit-no-such-user\": every start will fail")
    });
    assert!(
        d.marked_processes().is_empty(),
        "{:?}",
        d.marked_processes()
    );
}

#[test]
fn env_files_are_read_at_every_start() {
    let d = Daemon::new();
    let file = d.path("web.env");
    std::fs::write(
        &file,
        "# settings\nexport A=1\nB=\"two words\"\nC=from-file\n",
    )
    .unwrap();
    let optional = d.path("missing.env");
    d.service(
        "web",
        &format!(
            "exec: sleep 1000\nenv_file: [{}, -{}]\nenv: {{C: from-env}}\n",
            file.display(),
            optional.display()
        ),
    );
    let missing = d.path("required.env");
    d.service(
        "required",
        &format!(
            "exec: sleep 1000\nenv_file: {}\nrestart: never\n",
            missing.display()
        ),
    );
    let bad = d.path("bad.env");
    std::fs::write(&bad, "A=1\nnot a pair\n").unwrap();
    d.service(
        "bad",
        &format!(
            "exec: sleep 1000\nenv_file: {}\nrestart: never\n",
            bad.display()
        ),
    );
    d.service(
        "dir",
        &format!(
            "exec: sleep 1000\nenv_file: {}\nrestart: never\n",
            d.dir.path().display()
        ),
    );
    let d = d.start();
    let pid = d.wait_running("web");
    let env = environ(pid);
    assert_eq!(env.get("A").map(String::as_str), Some("1"));
    assert_eq!(env.get("B").map(String::as_str), Some("two words"));
    // /etc/environment (the daemon's --env-file) still applies, before.
    assert_eq!(env.get("ZINIT_TEST_MARKER"), Some(&d.marker));
    assert_eq!(env.get("C").map(String::as_str), Some("from-env"));
    // A restart reads the file again.
    std::fs::write(&file, "A=2\n").unwrap();
    d.ok(&["restart", "web"]);
    let new = wait_for("the new run", || {
        let (state, new) = d.state("web");
        (state == "Running" && new != pid && new != 0).then_some(new)
    });
    let env = environ(new);
    assert_eq!(env.get("A").map(String::as_str), Some("2"));
    assert_eq!(env.get("B"), None);
    fails_with(
        &d,
        "required",
        &format!("env_file {}: no such file", missing.display()),
    );
    fails_with(
        &d,
        "bad",
        &format!("env_file {}: line 2: expected KEY=VALUE", bad.display()),
    );
    fails_with(&d, "dir", "not a regular file (directory)");
}

#[test]
fn limits_umask_nice_and_oom_score_adj_are_applied() {
    let d = Daemon::new();
    d.service(
        "web",
        "exec: sleep 1000\nlimits:\n  nofile: \"512:1024\"\n  core: 0\n  stack: 4MiB\n\
         umask: \"0027\"\nnice: 7\noom_score_adj: 300\n\
         test: \"sh -c '[ $(umask) = 0027 ] && [ $(ulimit -n) = 512 ]'\"\n",
    );
    let d = d.start();
    let pid = d.wait_running("web");
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let limit = |name: &str| -> Vec<String> {
        let line = limits.lines().find(|l| l.starts_with(name)).unwrap();
        let rest = &line[name.len()..];
        rest.split_whitespace().take(2).map(str::to_owned).collect()
    };
    assert_eq!(limit("Max open files"), ["512", "1024"]);
    assert_eq!(limit("Max core file size"), ["0", "0"]);
    assert_eq!(limit("Max stack size"), ["4194304", "4194304"]);
    assert_eq!(status_field(pid, "Umask"), "0027");
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_comm = &stat[stat.rfind(')').unwrap() + 2..];
    // Field 19 (nice) is the 17th after the command name.
    assert_eq!(after_comm.split(' ').nth(16), Some("7"));
    let oom = std::fs::read_to_string(format!("/proc/{pid}/oom_score_adj")).unwrap();
    assert_eq!(oom.trim(), "300");
}

/// Whether this process has capability `cap` in its effective set (a
/// sandbox may run root without CAP_SYS_RESOURCE).
fn has_capability(cap: u32) -> bool {
    let effective = status_field(u64::from(std::process::id()), "CapEff");
    u64::from_str_radix(&effective, 16).is_ok_and(|set| set & (1 << cap) != 0)
}

const CAP_SYS_RESOURCE: u32 = 24;

/// As root: a lower niceness applies; a lower OOM score and a raised hard
/// limit apply with CAP_SYS_RESOURCE, and without it (a sandboxed root)
/// fail the start with a reason naming the setting.
#[test]
fn privileged_settings_apply_as_root_or_fail_clearly() {
    require_root!("privileged_settings_apply_as_root_or_fail_clearly");
    let d = Daemon::new();
    d.service("nice", "exec: sleep 1000\nnice: -5\n");
    d.service(
        "oom",
        "exec: sleep 1000\noom_score_adj: -500\nrestart: never\n",
    );
    d.service(
        "raised",
        "exec: sleep 1000\nlimits: {nofile: \"1024:1048576\"}\nrestart: never\n",
    );
    let d = d.start();
    let pid = d.wait_running("nice");
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_comm = &stat[stat.rfind(')').unwrap() + 2..];
    assert_eq!(after_comm.split(' ').nth(16), Some("-5"));
    if has_capability(CAP_SYS_RESOURCE) {
        let pid = d.wait_running("oom");
        let oom = std::fs::read_to_string(format!("/proc/{pid}/oom_score_adj")).unwrap();
        assert_eq!(oom.trim(), "-500");
        let pid = d.wait_running("raised");
        let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
        let line = limits
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .unwrap();
        assert!(line.contains("1048576"), "{line}");
    } else {
        eprintln!("no CAP_SYS_RESOURCE: checking the failures instead");
        fails_with(&d, "oom", "cannot set oom_score_adj to -500: ");
        fails_with(&d, "raised", "cannot set limits.nofile to 1024:1048576: ");
    }
}

/// zinit not running as root: another user, or a hard limit above its
/// own, fails the start with a reason; its own user is fine. Run as
/// `nobody` by root (so CI, root, covers it), or as whoever runs the
/// tests when that is not root.
#[test]
fn a_zinit_that_is_not_root_never_runs_a_service_as_itself_instead() {
    let d = Daemon::new();
    let me = if is_root() {
        // nobody must reach the test's files and write its socket.
        let mode = std::fs::Permissions::from_mode(0o777);
        std::fs::set_permissions(d.dir.path(), mode.clone()).unwrap();
        std::fs::set_permissions(&d.config, mode).unwrap();
        let (uid, gid, _, _) = account("nobody").expect("nobody");
        (uid, gid)
    } else {
        // SAFETY: getuid/getgid have no preconditions.
        unsafe { (libc::getuid(), libc::getgid()) }
    };
    let other = if me.0 == 1 { 2 } else { 1 };
    let never = "restart: never\n";
    d.service(
        "other",
        &format!("exec: sleep 1000\nuser: {other}\n{never}"),
    );
    d.service("same", &format!("exec: sleep 1000\nuser: {}\n", me.0));
    d.service(
        "limit",
        &format!("exec: sleep 1000\nlimits: {{nofile: unlimited}}\n{never}"),
    );
    let mut command = Command::new(ZINIT);
    if is_root() {
        let (uid, gid) = me;
        // SAFETY: setgroups/setgid/setuid are async-signal-safe.
        unsafe {
            command.pre_exec(move || {
                if libc::setgroups(0, std::ptr::null()) != 0
                    || libc::setgid(gid) != 0
                    || libc::setuid(uid) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    for name in ["other", "same", "limit"] {
        let path = d.config.join(format!("{name}.yaml"));
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    std::fs::set_permissions(
        d.dir.path().join("environment"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let d = d.start_with(command);
    fails_with(
        &d,
        "other",
        &format!(
            "cannot run as user {other}: zinit runs as user {}, not root",
            me.0
        ),
    );
    let pid = d.wait_running("same");
    assert!(status_field(pid, "Uid").starts_with(&format!("{}\t", me.0)));
    fails_with(&d, "limit", "cannot set limits.nofile to unlimited: ");
    fails_with(&d, "limit", "own needs root: CAP_SYS_RESOURCE)");
    wait_until("the load warning", || {
        d.output()
            .contains(&format!("user: cannot run as user {other}"))
    });
}
