//! Creating the control socket: mode 0600 whatever the umask (0660 and
//! the group changed with `--socket-group`), a stale socket replaced, a
//! live daemon's socket never stolen, and anything else at the path (a
//! symlink above all) left alone.

use super::peer::Access;
use nix::unistd::Gid;
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// Why the control socket could not be created.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error("another zinit is already listening on {0}; refusing to take over its socket")]
    InUse(PathBuf),
    #[error("{0} exists and is not a socket; refusing to replace it")]
    NotASocket(PathBuf),
    #[error("cannot create control socket {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("unknown group {0:?} for the control socket")]
    UnknownGroup(String),
}

/// A bound control socket, and what is needed to clean it up.
#[derive(Debug)]
pub struct ControlSocket {
    pub listener: UnixListener,
    pub path: PathBuf,
    inode: u64,
    /// The group that may use the socket besides root and zinit's user.
    pub group: Option<Gid>,
}

impl ControlSocket {
    /// Remove the socket file, unless another process has replaced it since.
    pub fn remove_file(path: &Path, inode: u64) {
        if std::fs::symlink_metadata(path).is_ok_and(|m| m.ino() == inode) {
            let _ = std::fs::remove_file(path);
        }
    }

    pub fn inode(&self) -> u64 {
        self.inode
    }

    /// Who may use the socket (checked on every connection).
    pub fn access(&self) -> Access {
        Access::new(self.group)
    }
}

/// The control socket and the other paths the same zinit is served on
/// (`zinit init --also-socket PATH`): clients of every upstream generation
/// look for it in a different place (`/var/run/zinit.sock`,
/// `/tmp/zinit.sock`, `/run/zinit.sock`). Each path is a socket of its own,
/// bound like the primary, so each can be bind-mounted into a container.
#[derive(Debug)]
pub struct ControlSockets {
    /// The `-s` path: the one the HTTP proxy forwards to and the state file
    /// is named after.
    pub primary: ControlSocket,
    pub also: Vec<ControlSocket>,
}

impl ControlSockets {
    /// The primary socket, then the others.
    pub fn all(&self) -> impl Iterator<Item = &ControlSocket> {
        std::iter::once(&self.primary).chain(&self.also)
    }

    /// Remove every socket file still ours.
    pub fn remove_files(&self) {
        for socket in self.all() {
            ControlSocket::remove_file(&socket.path, socket.inode);
        }
    }
}

/// The directory holding `path` when anyone may create files in it (like
/// `/tmp`): whoever binds the name there first, or while zinit is down,
/// answers zinit's clients, so zinit never puts a socket there by itself.
pub fn world_writable_directory(path: &Path) -> Option<PathBuf> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let mode = std::fs::metadata(&parent).ok()?.permissions().mode();
    (mode & 0o002 != 0).then_some(parent)
}

/// A group given by name (`zinit`) or number (`1000`).
pub fn resolve_group(text: &str) -> Result<Gid, BindError> {
    if let Ok(number) = text.parse::<u32>() {
        return Ok(Gid::from_raw(number));
    }
    match nix::unistd::Group::from_name(text) {
        Ok(Some(group)) => Ok(group.gid),
        _ => Err(BindError::UnknownGroup(text.to_owned())),
    }
}

/// Bind the control socket at `path`, usable by root and zinit's user.
pub fn bind(path: &Path) -> Result<ControlSocket, BindError> {
    bind_with(path, None)
}

/// Bind the control socket at `path`: mode 0600, or 0660 owned by `group`
/// when one is given.
///
/// The socket is bound inside a private directory (0700) next to `path`,
/// given its mode and group there, and renamed into place, so it is never
/// reachable with looser permissions and no process-wide umask change is
/// needed. Only a socket is ever replaced at `path`: a symlink, a file or
/// a directory there is refused and left untouched.
pub fn bind_with(path: &Path, group: Option<Gid>) -> Result<ControlSocket, BindError> {
    let io_err = |source| BindError::Io {
        path: path.to_owned(),
        source,
    };
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if UnixStream::connect(path).is_ok() {
                return Err(BindError::InUse(path.to_owned()));
            }
            // Nobody answers: a stale socket from an earlier run.
        }
        Ok(_) => return Err(BindError::NotASocket(path.to_owned())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(e)),
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io_err)?;
    }
    let private = temporary_path(path);
    // A leftover from a crash between bind and rename.
    remove_leftover(&private);
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&private)
        .map_err(io_err)?;
    let temporary = private.join("socket");
    let placed = UnixListener::bind(&temporary).and_then(|listener| {
        let mode = if group.is_some() { 0o660 } else { 0o600 };
        std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(mode))?;
        if let Some(group) = group {
            nix::unistd::chown(&temporary, None, Some(group)).map_err(io::Error::from)?;
        }
        std::fs::rename(&temporary, path)?;
        Ok(listener)
    });
    remove_leftover(&private);
    let listener = placed.map_err(io_err)?;
    listener.set_nonblocking(true).map_err(io_err)?;
    let inode = std::fs::symlink_metadata(path).map_err(io_err)?.ino();
    Ok(ControlSocket {
        listener,
        path: path.to_owned(),
        inode,
        group,
    })
}

/// Remove the private directory and the socket in it, if present.
fn remove_leftover(private: &Path) {
    match std::fs::symlink_metadata(private) {
        Ok(meta) if meta.is_dir() => {
            let _ = std::fs::remove_file(private.join("socket"));
            let _ = std::fs::remove_dir(private);
        }
        // Older versions bound the socket itself under this name.
        Ok(meta) if meta.file_type().is_socket() => {
            let _ = std::fs::remove_file(private);
        }
        _ => {}
    }
}

fn temporary_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp-{}", std::process::id()));
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_0600_replaces_stale_and_refuses_live() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/zinit.sock");
        let live = bind(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(matches!(bind(&path), Err(BindError::InUse(_))));
        drop(live);
        // The file stays behind, but nobody listens: stale, replaced. (A
        // child another test is forking may hold the listener's descriptor
        // until its exec closes it: poll, with a deadline.)
        assert!(path.exists());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let again = loop {
            match bind(&path) {
                Err(BindError::InUse(_)) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                other => break other.unwrap(),
            }
        };
        ControlSocket::remove_file(&path, again.inode() + 1);
        assert!(path.exists(), "removed a socket that is not ours");
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from("zinit.sock")]);
        ControlSocket::remove_file(&path, again.inode());
        assert!(!path.exists());
    }

    #[test]
    fn a_group_socket_is_0660_and_owned_by_the_group() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("zinit.sock");
        let group = Gid::from_raw(4242);
        let socket = bind_with(&path, Some(group)).unwrap();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o660);
        if nix::unistd::Uid::effective().is_root() {
            assert_eq!(meta.gid(), 4242);
        }
        assert_eq!(socket.group, Some(group));
        assert_eq!(resolve_group("4242").unwrap(), group);
        assert_eq!(resolve_group("root").unwrap(), Gid::from_raw(0));
        assert!(matches!(
            resolve_group("no-such-group-here"),
            Err(BindError::UnknownGroup(_))
        ));
    }

    #[test]
    fn a_symlink_at_the_path_is_refused_and_its_target_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, "precious").unwrap();
        let path = dir.path().join("zinit.sock");
        std::os::unix::fs::symlink(&target, &path).unwrap();
        assert!(matches!(bind(&path), Err(BindError::NotASocket(_))));
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious");
        assert!(std::fs::symlink_metadata(&path)
            .unwrap()
            .file_type()
            .is_symlink());
    }

    #[test]
    fn refuses_to_replace_a_regular_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("zinit.sock");
        std::fs::write(&path, "precious").unwrap();
        assert!(matches!(bind(&path), Err(BindError::NotASocket(_))));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");
    }
}
