//! Who may talk to zinit: the peer's credentials as the kernel recorded
//! them at connect (`SO_PEERCRED`, `SO_PEERGROUPS`), checked on every
//! accepted connection, whatever the socket file's mode.
//!
//! Root and zinit's own user always may; with `--socket-group`, so may a
//! member of that group (primary or supplementary). Everyone else is
//! refused with one line and the connection is closed.

use nix::unistd::{Gid, Uid};
use std::os::fd::{AsRawFd, RawFd};
use tokio::net::UnixStream;

/// Who may use the socket.
#[derive(Clone, Debug)]
pub struct Access {
    own_uid: Uid,
    group: Option<Gid>,
}

impl Access {
    /// Root, zinit's effective user and, if given, members of `group`.
    pub fn new(group: Option<Gid>) -> Access {
        Access {
            own_uid: Uid::effective(),
            group,
        }
    }

    /// Whether a peer with these ids may use the socket.
    pub fn allows(&self, uid: Uid, gid: Gid, groups: &[Gid]) -> bool {
        uid.is_root()
            || uid == self.own_uid
            || self
                .group
                .is_some_and(|group| gid == group || groups.contains(&group))
    }

    /// `Ok` for a peer that may use the socket, else the refusal message.
    pub fn check(&self, stream: &UnixStream) -> Result<(), String> {
        let cred = stream
            .peer_cred()
            .map_err(|e| format!("permission denied: cannot read the peer's credentials: {e}"))?;
        let (uid, gid) = (Uid::from_raw(cred.uid()), Gid::from_raw(cred.gid()));
        // Supplementary groups matter only when a group may connect.
        let groups = match self.group {
            Some(_) if !uid.is_root() && uid != self.own_uid => {
                peer_groups(stream.as_raw_fd()).unwrap_or_default()
            }
            _ => Vec::new(),
        };
        if self.allows(uid, gid, &groups) {
            return Ok(());
        }
        let who = match self.group {
            Some(group) => format!("root, uid {} and members of group {group}", self.own_uid),
            None => format!("root and uid {}", self.own_uid),
        };
        Err(format!(
            "permission denied: uid {uid} (gid {gid}) may not use this socket; only {who} may"
        ))
    }
}

/// The peer's supplementary groups as of its connect (`SO_PEERGROUPS`,
/// Linux 4.13), so a process that exits and whose pid is reused cannot
/// lend its groups to another.
fn peer_groups(fd: RawFd) -> std::io::Result<Vec<Gid>> {
    let mut groups: Vec<libc::gid_t> = vec![0; 64];
    loop {
        let mut len = libc::socklen_t::try_from(groups.len() * std::mem::size_of::<libc::gid_t>())
            .unwrap_or(libc::socklen_t::MAX);
        // SAFETY: the buffer is `len` bytes of writable gid_t; the kernel
        // writes at most `len` bytes and reports how many it needs.
        let rc = unsafe {
            libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_PEERGROUPS,
                groups.as_mut_ptr().cast(),
                &mut len,
            )
        };
        let count = len as usize / std::mem::size_of::<libc::gid_t>();
        if rc == 0 {
            groups.truncate(count);
            return Ok(groups.into_iter().map(Gid::from_raw).collect());
        }
        let error = std::io::Error::last_os_error();
        // ERANGE: the buffer was too small; `len` says how large it must be.
        if error.raw_os_error() == Some(libc::ERANGE) && count > groups.len() {
            groups.resize(count, 0);
            continue;
        }
        return Err(error);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_self_and_group_members_only() {
        let me = Uid::effective();
        let stranger = Uid::from_raw(me.as_raw().wrapping_add(4242).max(1));
        let (g, other) = (Gid::from_raw(4242), Gid::from_raw(4343));
        let private = Access::new(None);
        assert!(private.allows(Uid::from_raw(0), other, &[]));
        assert!(private.allows(me, other, &[]));
        assert!(!private.allows(stranger, g, &[g]));
        let shared = Access::new(Some(g));
        assert!(shared.allows(stranger, g, &[]), "primary group");
        assert!(shared.allows(stranger, other, &[other, g]), "supplementary");
        assert!(!shared.allows(stranger, other, &[other]));
    }

    #[tokio::test]
    async fn the_peer_of_a_socket_pair_is_this_process() {
        let (a, _b) = UnixStream::pair().unwrap();
        assert_eq!(Access::new(None).check(&a), Ok(()));
        let groups = peer_groups(a.as_raw_fd()).unwrap();
        let mine = nix::unistd::getgroups().unwrap();
        assert_eq!(groups.len(), mine.len());
    }
}
