//! Creating the control socket: mode 0600 whatever the umask, a stale
//! socket replaced, a live daemon's socket never stolen.

use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
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
}

/// A bound control socket, and what is needed to clean it up.
#[derive(Debug)]
pub struct ControlSocket {
    pub listener: UnixListener,
    pub path: PathBuf,
    inode: u64,
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
}

/// Bind the control socket at `path`.
///
/// The socket is bound under a temporary name, restricted to 0600, and
/// renamed into place, so it is never reachable with looser permissions
/// and no process-wide umask change is needed.
pub fn bind(path: &Path) -> Result<ControlSocket, BindError> {
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
    let temporary = temporary_path(path);
    // A leftover from a crash between bind and rename.
    let _ = std::fs::remove_file(&temporary);
    let listener = UnixListener::bind(&temporary).map_err(io_err)?;
    let placed = std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(0o600))
        .and_then(|()| std::fs::rename(&temporary, path));
    if let Err(e) = placed {
        let _ = std::fs::remove_file(&temporary);
        return Err(io_err(e));
    }
    listener.set_nonblocking(true).map_err(io_err)?;
    let inode = std::fs::symlink_metadata(path).map_err(io_err)?.ino();
    Ok(ControlSocket {
        listener,
        path: path.to_owned(),
        inode,
    })
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
        // The file stays behind, but nobody listens: stale, replaced.
        assert!(path.exists());
        let again = bind(&path).unwrap();
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
    fn refuses_to_replace_a_regular_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("zinit.sock");
        std::fs::write(&path, "precious").unwrap();
        assert!(matches!(bind(&path), Err(BindError::NotASocket(_))));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");
    }
}
