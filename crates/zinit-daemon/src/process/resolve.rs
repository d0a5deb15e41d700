//! Finding the program to execute, in the parent, before `fork`: a missing
//! or non-executable program is an ordinary error, not a child that dies.
//!
//! `argv[0]` with a `/` is used as is (relative to the service's directory,
//! which is where the child will be when it execs); otherwise it is looked
//! up in the `PATH` of the service's environment, or a default `PATH`.

use super::spawn::SpawnError;
use std::path::{Path, PathBuf};

/// The `PATH` used when the service's environment has none.
pub(super) const DEFAULT_PATH: &str =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

enum Candidate {
    Executable,
    /// Exists, but is not an executable regular file (or cannot be read).
    Denied,
    Missing,
}

/// The path to `execve` for `program`.
pub(super) fn program(
    program: &str,
    env: &[(String, String)],
    dir: &Path,
) -> Result<PathBuf, SpawnError> {
    let not_found = || SpawnError::NotFound {
        program: program.to_owned(),
    };
    let denied = || SpawnError::PermissionDenied {
        program: program.to_owned(),
    };
    if program.is_empty() {
        return Err(not_found());
    }
    if program.contains('/') {
        let path = dir.join(program);
        return match check(&path) {
            Candidate::Executable => Ok(path),
            Candidate::Denied => Err(denied()),
            Candidate::Missing => Err(not_found()),
        };
    }
    let search = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map_or(DEFAULT_PATH, |(_, v)| v.as_str());
    let mut saw_denied = false;
    for entry in search.split(':') {
        // An empty entry means the current directory, which for the child
        // is `dir`; relative entries are relative to it too.
        let path = dir.join(entry).join(program);
        match check(&path) {
            Candidate::Executable => return Ok(path),
            Candidate::Denied => saw_denied = true,
            Candidate::Missing => {}
        }
    }
    Err(if saw_denied { denied() } else { not_found() })
}

fn check(path: &Path) -> Candidate {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() && executable(path) => Candidate::Executable,
        Ok(_) => Candidate::Denied,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Candidate::Denied,
        Err(_) => Candidate::Missing,
    }
}

fn executable(path: &Path) -> bool {
    nix::unistd::access(path, nix::unistd::AccessFlags::X_OK).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn env(path: &str) -> Vec<(String, String)> {
        vec![("PATH".into(), path.into())]
    }

    #[test]
    fn searches_the_services_path_then_the_default() {
        let root = Path::new("/");
        assert_eq!(
            program("sh", &[], root).unwrap(),
            PathBuf::from("/usr/bin/sh")
        );
        let tmp = tempfile::tempdir().unwrap();
        let exe = tmp.path().join("tool");
        std::fs::write(&exe, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = format!("/nonexistent:{}", tmp.path().display());
        assert_eq!(program("tool", &env(&path), root).unwrap(), exe);
        assert_eq!(
            program("tool", &[], root),
            Err(SpawnError::NotFound {
                program: "tool".into()
            })
        );
    }

    #[test]
    fn slash_paths_are_relative_to_the_directory() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("bin")).unwrap();
        let exe = tmp.path().join("bin/run");
        std::fs::write(&exe, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(
            program("./bin/run", &[], tmp.path()).unwrap(),
            tmp.path().join("./bin/run")
        );
        assert_eq!(
            program(exe.to_str().unwrap(), &[], Path::new("/")).unwrap(),
            exe
        );
    }

    #[test]
    fn non_executables_are_denied() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("data");
        std::fs::write(&file, "x").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let denied = SpawnError::PermissionDenied {
            program: "data".into(),
        };
        let dir = tmp.path().display().to_string();
        assert_eq!(program("data", &env(&dir), Path::new("/")), Err(denied));
        // A directory is not executable either.
        assert!(matches!(
            program(&dir, &[], Path::new("/")),
            Err(SpawnError::PermissionDenied { .. })
        ));
        assert!(matches!(
            program("", &[], Path::new("/")),
            Err(SpawnError::NotFound { .. })
        ));
    }
}
