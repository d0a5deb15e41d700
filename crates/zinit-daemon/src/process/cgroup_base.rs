//! Where `--cgroup auto` puts the service cgroups: in a writable cgroup2
//! hierarchy that zinit's own process is in.
//!
//! The hierarchy is found in `/proc/self/mountinfo` (every `cgroup2`
//! mount: `/sys/fs/cgroup` on a pure cgroup2 host, `/sys/fs/cgroup/unified`
//! on a hybrid one, where the v1 controllers sit beside it), zinit's place
//! in it from the `0::PATH` line of `/proc/self/cgroup`. The standard
//! mount points are tried first, then the others in mount order; the
//! first whose directory for zinit's cgroup exists and is writable wins.
//!
//! - **PID 1** (machine or container): zinit's own cgroup is the base, as
//!   it owns it; in machine mode cgroup2 is mounted on `/sys/fs/cgroup`
//!   when nothing is mounted there. A cgroup that also holds processes
//!   outside zinit's PID namespace is refused.
//! - **Daemon**: zinit's own cgroup is usually shared (a login session, a
//!   systemd service with `Delegate=yes`, the root cgroup where many
//!   daemons run side by side, maybe with the same service names), so the
//!   base is a per-instance directory inside it, named after the control
//!   socket: `zinit-<hash of its canonical path>`. The name is the same
//!   for every instance on that socket, so a daemon restarted after a
//!   crash finds what its predecessor left (`leftovers`); it never ends in
//!   `.service`, so it cannot be taken for a service's cgroup. zinit
//!   removes it at exit once empty.
//!
//! Must not: touch anything but the base it chose (and, in machine mode,
//! the one mount); this module only decides and creates the base.

use super::cgroup::{self, Cgroups};
use std::path::{Path, PathBuf};

/// Where cgroup2 is mounted by convention, tried first: pure cgroup2,
/// then the unified hierarchy of a hybrid host.
const STANDARD_MOUNTS: [&str; 2] = ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"];

/// One cgroup2 mount from mountinfo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    /// The hierarchy's path mounted there (`/` unless a sub-tree is).
    pub root: String,
    /// Where it is mounted.
    pub point: PathBuf,
}

/// The cgroup2 mounts in a `/proc/self/mountinfo` text, in its order.
pub fn cgroup2_mounts(mountinfo: &str) -> Vec<Mount> {
    super::mountinfo::parse_mountinfo(mountinfo)
        .into_iter()
        .filter(|m| m.fs_type == "cgroup2")
        .map(|m| Mount {
            root: m.root.to_string_lossy().into_owned(),
            point: m.mount_point,
        })
        .collect()
}

/// The directory of cgroup `own` (a `/proc/self/cgroup` path) under each
/// mount that shows it, standard mount points first.
pub fn own_dirs(mounts: &[Mount], own: &str) -> Vec<(PathBuf, PathBuf)> {
    let standard = |m: &Mount| STANDARD_MOUNTS.iter().position(|p| m.point == Path::new(p));
    let mut ordered: Vec<&Mount> = mounts.iter().collect();
    ordered.sort_by_key(|m| standard(m).unwrap_or(STANDARD_MOUNTS.len()));
    ordered
        .into_iter()
        .filter_map(|m| {
            let below = relative_to(own, &m.root)?;
            let dir = if below.is_empty() {
                m.point.clone()
            } else {
                m.point.join(below)
            };
            Some((m.point.clone(), dir))
        })
        .collect()
}

/// `path` below `root`, without the leading `/`; `None` if not below.
fn relative_to<'a>(path: &'a str, root: &str) -> Option<&'a str> {
    let root = root.trim_end_matches('/');
    let rest = path.strip_prefix(root)?;
    if !rest.is_empty() && !rest.starts_with('/') {
        return None; // `/a` is not below `/ab`
    }
    Some(rest.trim_start_matches('/'))
}

/// The per-instance base directory's name for the daemon serving
/// `socket`: `zinit-` and 12 hex digits of a stable hash (64-bit FNV-1a,
/// fixed forever: a new zinit must find an old one's directory) of the
/// socket's canonical path.
pub fn instance_name(socket: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let canonical = std::fs::canonicalize(socket).unwrap_or_else(|_| socket.to_owned());
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in canonical.as_os_str().as_bytes() {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("zinit-{:012x}", hash >> 16)
}

/// How auto mode runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode<'a> {
    /// PID 1: zinit's own cgroup is the base; `mount`: mount cgroup2 on
    /// /sys/fs/cgroup first if nothing is mounted there.
    Pid1 { mount: bool },
    /// A daemon serving this control socket: a per-instance directory.
    Daemon { socket: Option<&'a Path> },
}

/// Choose and prepare the base. `Ok`: the cgroups and the why of the
/// choice, for the one log line; `Err`: why none.
pub fn auto(mode: Mode<'_>) -> Result<(Cgroups, String), String> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| format!("cannot read /proc/self/mountinfo: {e}"))?;
    let mut mounts = cgroup2_mounts(&mountinfo);
    let mut mounted = false;
    if let (true, Mode::Pid1 { mount: true }) = (mounts.is_empty(), mode) {
        cgroup::mount_default()?;
        mounted = true;
        mounts.push(Mount {
            root: "/".to_owned(),
            point: PathBuf::from(STANDARD_MOUNTS[0]),
        });
    }
    if mounts.is_empty() {
        return Err("no cgroup2 hierarchy is mounted (a cgroup v1 host?)".to_owned());
    }
    let text = std::fs::read_to_string("/proc/self/cgroup")
        .map_err(|e| format!("cannot read /proc/self/cgroup: {e}"))?;
    let own = cgroup::own_cgroup(&text)
        .ok_or_else(|| "no cgroup2 entry (0::) in /proc/self/cgroup".to_owned())?;
    let (point, dir) = writable_own_dir(&mounts, own)?;
    let how = if mounted {
        "which zinit mounted"
    } else {
        "found in /proc/self/mountinfo"
    };
    let hierarchy = format!(
        "zinit's cgroup {own} of the cgroup2 hierarchy on {} ({how})",
        point.display()
    );
    match mode {
        Mode::Pid1 { .. } => {
            refuse_shared_with_outside(&dir)?;
            let cgroups = Cgroups::at_as(&dir, true)?;
            Ok((cgroups, format!("{hierarchy}, as PID 1")))
        }
        Mode::Daemon { socket } => {
            let socket = socket.ok_or_else(|| {
                "a daemon without a control socket has no name for its own cgroup directory"
                    .to_owned()
            })?;
            let base = dir.join(instance_name(socket));
            let cgroups = Cgroups::instance(&base)?;
            Ok((
                cgroups,
                format!(
                    "this daemon's own directory (named after its control socket) in {hierarchy}, \
                     which it may share with others"
                ),
            ))
        }
    }
}

/// The first of zinit's cgroup directories that exists and is writable,
/// with its mount point.
fn writable_own_dir(mounts: &[Mount], own: &str) -> Result<(PathBuf, PathBuf), String> {
    let candidates = own_dirs(mounts, own);
    if candidates.is_empty() {
        return Err(format!("no cgroup2 mount shows zinit's cgroup {own}"));
    }
    let mut refused = Vec::new();
    for (point, dir) in candidates {
        if !dir.join("cgroup.procs").exists() {
            refused.push(format!("{} does not exist", dir.display()));
        } else if !cgroup::writable(&dir) {
            refused.push(format!("{} is not writable", dir.display()));
        } else {
            return Ok((point, dir));
        }
    }
    Err(format!("zinit's cgroup {own}: {}", refused.join("; ")))
}

/// Processes of other PID namespaces read as pid 0: a cgroup shared with
/// the outside (zinit as PID 1 of a bare `unshare --pid`, next to whoever
/// started it) is not zinit's to fill with service cgroups that other
/// instances may use under the same names.
fn refuse_shared_with_outside(dir: &Path) -> Result<(), String> {
    let procs = std::fs::read_to_string(dir.join("cgroup.procs"))
        .map_err(|e| format!("cannot read {}/cgroup.procs: {e}", dir.display()))?;
    if cgroup::shared_with_outside(&procs) {
        return Err(format!(
            "zinit's cgroup {} also holds processes outside its PID namespace \
             (give it its own cgroup, or --cgroup DIR)",
            dir.display()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
90 23 0:38 / /tmp/a\\040b rw,relatime shared:5 - cgroup2 none rw
";

    #[test]
    fn mountinfo_yields_the_cgroup2_mounts_only() {
        let mounts = cgroup2_mounts(HYBRID);
        assert_eq!(
            mounts,
            vec![
                Mount {
                    root: "/".into(),
                    point: "/sys/fs/cgroup/unified".into()
                },
                Mount {
                    root: "/".into(),
                    point: "/tmp/a b".into()
                },
            ]
        );
        let pure = "29 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";
        assert_eq!(cgroup2_mounts(pure)[0].point, Path::new("/sys/fs/cgroup"));
        assert!(cgroup2_mounts("garbage\n\n1 2 3\n").is_empty());
    }

    #[test]
    fn own_cgroup_maps_to_each_mount_standard_points_first() {
        let mut mounts = cgroup2_mounts(HYBRID);
        mounts.reverse();
        assert_eq!(
            own_dirs(&mounts, "/"),
            vec![
                (
                    "/sys/fs/cgroup/unified".into(),
                    "/sys/fs/cgroup/unified".into()
                ),
                ("/tmp/a b".into(), "/tmp/a b".into()),
            ]
        );
        let pure = cgroup2_mounts("29 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n");
        assert_eq!(
            own_dirs(&pure, "/system.slice/zinit.service"),
            vec![(
                "/sys/fs/cgroup".into(),
                "/sys/fs/cgroup/system.slice/zinit.service".into()
            )]
        );
    }

    #[test]
    fn a_mounted_sub_tree_shows_only_what_is_below_it() {
        // A container's view: /docker/abc of the host's hierarchy.
        let mounts = vec![Mount {
            root: "/docker/abc".into(),
            point: "/sys/fs/cgroup".into(),
        }];
        assert_eq!(
            own_dirs(&mounts, "/docker/abc/app"),
            vec![("/sys/fs/cgroup".into(), "/sys/fs/cgroup/app".into())]
        );
        assert_eq!(
            own_dirs(&mounts, "/docker/abc")[0].1,
            Path::new("/sys/fs/cgroup")
        );
        assert!(own_dirs(&mounts, "/docker/abcd").is_empty());
        assert!(own_dirs(&mounts, "/other").is_empty());
    }

    #[test]
    fn the_first_existing_writable_directory_is_chosen_and_refusals_are_named() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mount = |name: &str| Mount {
            root: "/".into(),
            point: tmp.path().join(name),
        };
        let mounts = vec![mount("a"), mount("b"), mount("c")];
        for name in ["b", "c"] {
            let dir = tmp.path().join(name).join("svc");
            std::fs::create_dir_all(&dir).expect("dir");
            std::fs::write(dir.join("cgroup.procs"), "").expect("procs");
        }
        let (point, dir) = writable_own_dir(&mounts, "/svc").expect("b is usable");
        assert_eq!(point, tmp.path().join("b"));
        assert_eq!(dir, tmp.path().join("b/svc"));
        let e = writable_own_dir(&mounts[..1], "/svc").expect_err("a has no svc");
        assert!(e.contains("a/svc does not exist"), "{e}");
        let e = writable_own_dir(&[], "/svc").expect_err("no mounts");
        assert!(
            e.contains("no cgroup2 mount shows zinit's cgroup /svc"),
            "{e}"
        );
    }

    #[test]
    fn the_instance_name_is_stable_per_socket_and_never_a_service() {
        let a = instance_name(Path::new("/nonexistent/run/zinit.sock"));
        assert_eq!(a, instance_name(Path::new("/nonexistent/run/zinit.sock")));
        assert_ne!(a, instance_name(Path::new("/nonexistent/run/other.sock")));
        assert!(
            a.starts_with("zinit-") && a.len() == "zinit-".len() + 12,
            "{a}"
        );
        assert_eq!(cgroup::service_of(&a), None);
        // Fixed forever: a new zinit must find an old one's directory.
        assert_eq!(
            instance_name(Path::new("/nonexistent/z")),
            "zinit-3f4700b58e9a"
        );
    }
}
