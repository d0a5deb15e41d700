//! `/proc/self/mountinfo`: where each filesystem is mounted, for finding
//! the cgroup hierarchies (cgroup2 for containment, v1 ones for limits on
//! hybrid hosts). Pure parsing.

use std::path::PathBuf;

/// One line of `/proc/self/mountinfo`, the fields zinit needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    /// The directory of the filesystem mounted here (`/` for a whole
    /// hierarchy, a sub-cgroup for a bind mount or a cgroup namespace).
    pub root: PathBuf,
    pub mount_point: PathBuf,
    pub fs_type: String,
    /// Per-superblock options: for cgroup v1, the controllers it carries.
    pub super_options: Vec<String>,
}

/// Parse `/proc/self/mountinfo` (`ID PARENT MAJ:MIN ROOT POINT OPTS
/// [TAGS...] - TYPE SOURCE SUPER_OPTS`); malformed lines are skipped.
pub fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let (before, after) = line.split_once(" - ")?;
            let fields: Vec<&str> = before.split(' ').collect();
            let mut rest = after.split(' ');
            let fs_type = rest.next()?;
            let _source = rest.next()?;
            let super_options = rest.next().unwrap_or("");
            Some(Mount {
                root: PathBuf::from(unescape(fields.get(3)?)),
                mount_point: PathBuf::from(unescape(fields.get(4)?)),
                fs_type: fs_type.to_owned(),
                super_options: super_options.split(',').map(str::to_owned).collect(),
            })
        })
        .collect()
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(d) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_are_undone_and_short_ones_kept() {
        assert_eq!(unescape("a\\134b\\011"), "a\\b\t");
        assert_eq!(unescape("trailing\\04"), "trailing\\04");
        assert_eq!(unescape("with\\040space"), "with space");
    }
}
