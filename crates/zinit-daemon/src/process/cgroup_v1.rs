//! cgroup v1 hierarchies, for resource limits on hybrid hosts.
//!
//! On a hybrid host cgroup2 is mounted (often at `/sys/fs/cgroup/unified`)
//! with no controllers, while memory, cpu, pids and blkio are v1
//! hierarchies of their own. zinit keeps containing and signalling
//! services through their cgroup2 directory, and applies a limit through
//! the v1 hierarchy of its controller when cgroup2 cannot, as systemd and
//! runc do on such hosts. This module finds those hierarchies: where each
//! is mounted (`/proc/self/mountinfo`) and where zinit itself sits in it
//! (`/proc/self/cgroup`). Parsing is pure and tested on sample text.

use super::mountinfo::Mount;
use std::path::{Path, PathBuf};

/// zinit's own path in the v1 hierarchy carrying `controller`, from a
/// `/proc/self/cgroup` text (`4:memory:/a/b`, or `2:cpu,cpuacct:/a`).
pub fn own_v1_path<'a>(proc_cgroup: &'a str, controller: &str) -> Option<&'a str> {
    proc_cgroup.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_id, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        (!controller.is_empty() && controllers.split(',').any(|c| c == controller)).then_some(path)
    })
}

/// The directory of zinit's own cgroup in the v1 hierarchy of
/// `controller`: its mount point joined with zinit's path relative to the
/// mount's root. `None` when no such hierarchy is mounted or zinit's
/// cgroup is outside what is mounted.
pub fn own_v1_dir(mounts: &[Mount], proc_cgroup: &str, controller: &str) -> Option<PathBuf> {
    let own = Path::new(own_v1_path(proc_cgroup, controller)?);
    mounts
        .iter()
        .filter(|m| m.fs_type == "cgroup" && m.super_options.iter().any(|o| o == controller))
        .find_map(|m| {
            let relative = own.strip_prefix(&m.root).ok()?;
            Some(m.mount_point.join(relative))
        })
}

#[cfg(test)]
mod tests {
    use super::super::mountinfo::parse_mountinfo;
    use super::*;

    const MOUNTINFO: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 /docker/abc /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
50 23 0:40 / /mnt/with\\040space rw - ext4 /dev/sda rw
garbage line
";

    const PROC_CGROUP: &str = "\
9:name=systemd:/
8:pids:/docker/abc/inner
4:memory:/process_api/5db
2:cpu,cpuacct:/
0::/
";

    #[test]
    fn mountinfo_lines_parse_with_optional_tags_and_escapes() {
        let mounts = parse_mountinfo(MOUNTINFO);
        assert_eq!(mounts.len(), 6);
        assert_eq!(
            mounts[1].mount_point,
            Path::new("/sys/fs/cgroup/cpu,cpuacct")
        );
        assert_eq!(mounts[1].fs_type, "cgroup");
        assert_eq!(mounts[1].super_options, vec!["rw", "cpu", "cpuacct"]);
        assert_eq!(mounts[3].root, Path::new("/docker/abc"));
        assert_eq!(mounts[4].fs_type, "cgroup2");
        assert_eq!(mounts[5].mount_point, Path::new("/mnt/with space"));
    }

    #[test]
    fn own_directories_in_v1_hierarchies() {
        let mounts = parse_mountinfo(MOUNTINFO);
        assert_eq!(own_v1_path(PROC_CGROUP, "cpuacct"), Some("/"));
        assert_eq!(
            own_v1_dir(&mounts, PROC_CGROUP, "memory"),
            Some(PathBuf::from("/sys/fs/cgroup/memory/process_api/5db"))
        );
        assert_eq!(
            own_v1_dir(&mounts, PROC_CGROUP, "cpu"),
            Some(PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/"))
        );
        // Mounted from /docker/abc: zinit's path is relative to that.
        assert_eq!(
            own_v1_dir(&mounts, PROC_CGROUP, "pids"),
            Some(PathBuf::from("/sys/fs/cgroup/pids/inner"))
        );
        assert_eq!(own_v1_dir(&mounts, PROC_CGROUP, "blkio"), None);
        assert_eq!(
            own_v1_dir(&mounts, "4:memory:/elsewhere\n", "memory"),
            Some(PathBuf::from("/sys/fs/cgroup/memory/elsewhere"))
        );
        // The cgroup2 line never counts as a v1 hierarchy.
        assert_eq!(own_v1_path("0::/x\n", ""), None);
    }
}
