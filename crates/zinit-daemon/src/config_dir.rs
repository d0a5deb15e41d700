//! Reading the config directory: one `NAME.yaml` per service.
//!
//! Blocking `std::fs` code; the daemon calls it from `spawn_blocking`.
//! Lowering is `zinit_core::config`'s job; this module only lists the
//! directory, reads files (with a size cap) and labels diagnostics with
//! the path the operator knows. A broken file never stops the others, and
//! nothing here ever fails the daemon: only an unreadable directory is an
//! error, and the caller decides what that means.
//!
//! Service files are opened without following symlinks (`O_NOFOLLOW`) and
//! must be regular files: a link in the config directory could point
//! anywhere, and a FIFO or device would block or feed a read forever. Such
//! an entry is refused with a diagnostic naming it, and left untouched.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use zinit_core::config::{parse_service, Diagnostic, Severity};
use zinit_core::envfile::{parse_env_file, parse_environment};
use zinit_core::name::ServiceName;
use zinit_core::spec::{EnvFile, ServiceSpec, MAX_ENV_FILE_SIZE};

/// Largest service (or environment) file read, in bytes.
pub const MAX_FILE_SIZE: u64 = 1024 * 1024;

/// Extension of service files.
pub const EXTENSION: &str = "yaml";

/// One service file that lowered without errors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadedService {
    pub name: ServiceName,
    pub path: PathBuf,
    pub spec: ServiceSpec,
    /// Warnings of this file (only here, not repeated in
    /// [`DirReport::diagnostics`]).
    pub warnings: Vec<Diagnostic>,
}

/// Everything found in the config directory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DirReport {
    /// Valid services, sorted by name.
    pub services: Vec<LoadedService>,
    /// Errors and warnings of the files that did not load, and warnings
    /// about the directory itself (`.yml` files, bad names), sorted by
    /// file and position.
    pub diagnostics: Vec<Diagnostic>,
}

/// Why one service file could not be loaded.
#[derive(Debug)]
pub enum LoadError {
    NotFound {
        path: PathBuf,
    },
    /// A symlink, directory, FIFO, socket or device: never read.
    NotRegular {
        path: PathBuf,
        kind: &'static str,
    },
    Io {
        path: PathBuf,
        source: io::Error,
    },
    Invalid {
        path: PathBuf,
        diagnostics: Vec<Diagnostic>,
    },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::NotFound { path } => {
                write!(f, "service file {} not found", path.display())
            }
            LoadError::NotRegular { path, kind } => {
                write!(f, "service file {} {}", path.display(), refusal(kind))
            }
            LoadError::Io { path, source } => {
                write!(f, "cannot read service file {}: {source}", path.display())
            }
            LoadError::Invalid { path, diagnostics } => {
                write!(f, "invalid service file {}", path.display())?;
                let errors = diagnostics.iter().filter(|d| d.is_error()).count();
                write!(
                    f,
                    " ({errors} error{}): ",
                    if errors == 1 { "" } else { "s" }
                )?;
                write_list(f, diagnostics)
            }
        }
    }
}

impl std::error::Error for LoadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LoadError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Why a service file that is not a regular file is refused.
pub(crate) fn refusal(kind: &str) -> String {
    let why = if kind == "symbolic link" {
        "zinit does not follow symbolic links in its config directory; copy the file there instead"
    } else {
        "a service file must be a regular file"
    };
    format!("refused: it is a {kind} ({why})")
}

/// Diagnostics on one line, separated by `; `.
pub(crate) fn write_list(f: &mut fmt::Formatter<'_>, diagnostics: &[Diagnostic]) -> fmt::Result {
    for (i, d) in diagnostics.iter().enumerate() {
        if i > 0 {
            f.write_str("; ")?;
        }
        write!(f, "{d}")?;
    }
    Ok(())
}

/// Load every `*.yaml` file of `dir`. Fails only when `dir` itself cannot
/// be listed; every other problem becomes a diagnostic.
pub fn load_dir(dir: &Path) -> Result<DirReport, io::Error> {
    let mut report = DirReport::default();
    for entry in std::fs::read_dir(dir)? {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                let message = format!("cannot list directory entry: {e}");
                report
                    .diagnostics
                    .push(whole_file(dir, Severity::Error, message));
                continue;
            }
        };
        load_entry(&entry.path(), &mut report);
    }
    report.services.sort_by(|a, b| a.name.cmp(&b.name));
    report
        .diagnostics
        .sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
    Ok(report)
}

/// One directory entry: a service file, a misnamed one, or something to
/// ignore (subdirectories, other extensions, hidden temporary files).
fn load_entry(path: &Path, report: &mut DirReport) {
    let extension = path.extension().and_then(|e| e.to_str());
    if !matches!(extension, Some("yaml" | "yml")) {
        return;
    }
    // Subdirectories are ignored; links and special files are refused
    // below, when opened without following links.
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()) {
        return;
    }
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
    let stem = stem.unwrap_or_default();
    if extension == Some("yml") {
        let message = format!("ignored: service files end in .yaml; rename it to {stem}.yaml");
        report
            .diagnostics
            .push(whole_file(path, Severity::Warning, message));
        return;
    }
    let name = match path
        .file_stem()
        .and_then(|s| s.to_str())
        .map(ServiceName::new)
    {
        Some(Ok(name)) => name,
        Some(Err(e)) => {
            let message = format!("ignored: {stem:?} is not a valid service name: {e}");
            report
                .diagnostics
                .push(whole_file(path, Severity::Error, message));
            return;
        }
        None => {
            let message = "ignored: the file name is not valid UTF-8".to_owned();
            report
                .diagnostics
                .push(whole_file(path, Severity::Error, message));
            return;
        }
    };
    match load_file(path, name) {
        Ok(service) => report.services.push(service),
        Err(LoadError::Invalid { diagnostics, .. }) => report.diagnostics.extend(diagnostics),
        Err(LoadError::NotRegular { kind, .. }) => {
            report
                .diagnostics
                .push(whole_file(path, Severity::Error, refusal(kind)))
        }
        Err(e) => report
            .diagnostics
            .push(whole_file(path, Severity::Error, e.to_string())),
    }
}

/// Load `DIR/NAME.yaml` (for the `monitor` command).
pub fn load_one(dir: &Path, name: &ServiceName) -> Result<LoadedService, LoadError> {
    load_file(&service_path(dir, name), name.clone())
}

/// The path of a service's file: `DIR/NAME.yaml`.
pub fn service_path(dir: &Path, name: &ServiceName) -> PathBuf {
    dir.join(format!("{name}.{EXTENSION}"))
}

fn load_file(path: &Path, name: ServiceName) -> Result<LoadedService, LoadError> {
    let text = read_service_text(path)?;
    match parse_service(&path.display().to_string(), &text) {
        Ok(mut parsed) => {
            // What would make every start fail, said at load already.
            for (key, message) in crate::process::identity::load_warnings(&parsed.spec) {
                let mut warning = whole_file(path, Severity::Warning, message);
                warning.key = Some(key.to_owned());
                parsed.warnings.push(warning);
            }
            Ok(LoadedService {
                name,
                path: path.to_owned(),
                spec: parsed.spec,
                warnings: parsed.warnings,
            })
        }
        Err(diagnostics) => Err(LoadError::Invalid {
            path: path.to_owned(),
            diagnostics,
        }),
    }
}

/// Read a service file as UTF-8 text of at most [`MAX_FILE_SIZE`] bytes.
pub(crate) fn read_service_text(path: &Path) -> Result<String, LoadError> {
    let invalid = |message: String| LoadError::Invalid {
        path: path.to_owned(),
        diagnostics: vec![whole_file(path, Severity::Error, message)],
    };
    let bytes = match read_capped(open_service_file(path)) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => {
            return Err(invalid(format!(
                "file is larger than {MAX_FILE_SIZE} bytes"
            )))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(LoadError::NotFound {
                path: path.to_owned(),
            })
        }
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(LoadError::NotRegular {
                path: path.to_owned(),
                kind: "symbolic link",
            })
        }
        Err(e) if e.kind() == io::ErrorKind::Unsupported => {
            return Err(LoadError::NotRegular {
                path: path.to_owned(),
                kind: kind_of(path),
            })
        }
        Err(source) => {
            return Err(LoadError::Io {
                path: path.to_owned(),
                source,
            })
        }
    };
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        invalid(format!("file is not valid UTF-8 (at byte {at})"))
    })
}

/// Open a service file: never through a symlink (`ELOOP`), never blocking
/// on a FIFO, and only a regular file (`Unsupported` otherwise).
pub(crate) fn open_service_file(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::from(io::ErrorKind::Unsupported));
    }
    Ok(file)
}

/// What kind of file system entry `path` is, in words.
fn kind_of(path: &Path) -> &'static str {
    match std::fs::symlink_metadata(path).map(|m| m.file_type()) {
        Ok(t) if t.is_symlink() => "symbolic link",
        Ok(t) if t.is_dir() => "directory",
        Ok(t) if t.is_fifo() => "FIFO",
        Ok(t) if t.is_socket() => "socket",
        Ok(t) if t.is_block_device() || t.is_char_device() => "device",
        _ => "special file",
    }
}

/// The file's bytes, or `None` if it is larger than [`MAX_FILE_SIZE`].
fn read_capped(file: io::Result<File>) -> io::Result<Option<Vec<u8>>> {
    let mut bytes = Vec::new();
    file?.take(MAX_FILE_SIZE + 1).read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= MAX_FILE_SIZE).then_some(bytes))
}

fn whole_file(path: &Path, severity: Severity, message: String) -> Diagnostic {
    Diagnostic {
        file: path.display().to_string(),
        line: 0,
        column: 0,
        key: None,
        severity,
        message,
    }
}

/// Read `/etc/environment`-style `KEY=VALUE` variables. A missing file is
/// no variables; warnings about bad lines are logged.
pub fn read_environment_file(path: &Path) -> Result<Vec<(String, String)>, io::Error> {
    // A link is fine here: /etc/environment is the system's, not ours.
    let bytes = match read_capped(File::open(path)) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => {
            let message = format!("{} is larger than {MAX_FILE_SIZE} bytes", path.display());
            return Err(io::Error::new(io::ErrorKind::InvalidData, message));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let text = String::from_utf8_lossy(&bytes);
    let (vars, warnings) = parse_environment(&text);
    for warning in warnings {
        tracing::warn!("{}: {warning}", path.display());
    }
    Ok(vars)
}

/// Read a service's `env_file` at the start of a run: a regular file of
/// at most [`MAX_ENV_FILE_SIZE`] bytes, UTF-8, every line valid. A missing
/// file is no variables when it is optional. The error is the reason the
/// run fails, naming the file (and the line).
pub fn read_env_file(file: &EnvFile) -> Result<Vec<(String, String)>, String> {
    let shown = file.path.display();
    // Non-blocking: a FIFO must never hold the actor; it is refused below.
    let opened = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&file.path);
    let opened = match opened {
        Ok(opened) => opened,
        Err(e) if e.kind() == io::ErrorKind::NotFound && file.optional => return Ok(Vec::new()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(format!(
                "env_file {shown}: no such file (write -{shown} to make it optional)"
            ))
        }
        Err(e) => return Err(format!("env_file {shown}: cannot open: {e}")),
    };
    match opened.metadata() {
        Ok(m) if m.is_file() => {}
        Ok(_) => {
            let kind = kind_of(&file.path);
            return Err(format!("env_file {shown}: not a regular file ({kind})"));
        }
        Err(e) => return Err(format!("env_file {shown}: {e}")),
    }
    let mut bytes = Vec::new();
    if let Err(e) = opened.take(MAX_ENV_FILE_SIZE + 1).read_to_end(&mut bytes) {
        return Err(format!("env_file {shown}: cannot read: {e}"));
    }
    if bytes.len() as u64 > MAX_ENV_FILE_SIZE {
        return Err(format!(
            "env_file {shown}: larger than {} bytes",
            MAX_ENV_FILE_SIZE
        ));
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        format!("env_file {shown}: not valid UTF-8 (at byte {at})")
    })?;
    parse_env_file(&text).map_err(|e| format!("env_file {shown}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;
    use zinit_core::signal::Signal;

    fn name(raw: &str) -> ServiceName {
        ServiceName::new(raw).unwrap()
    }

    fn write(dir: &Path, file: &str, text: &str) -> PathBuf {
        let path = dir.join(file);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn rendered(diagnostics: &[Diagnostic]) -> Vec<String> {
        diagnostics.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn loads_good_files_and_reports_broken_ones() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        write(d, "web.yaml", "exec: nginx\nafter: [db]\ncolour: red\n");
        write(d, "db.yaml", "exec: postgres\nsignal: {stop: SIGINT}\n");
        write(d, "broken.yaml", "oneshot: maybe\n");
        write(d, "old.yml", "exec: old\n");
        write(d, ".hidden.yaml", "exec: hidden\n");
        write(d, "notes.txt", "not yaml");
        write(d, "web.yaml.tmp-1-0", "exec: half");
        std::fs::create_dir(d.join("sub.yaml")).unwrap();
        write(&d.join("sub.yaml"), "inner.yaml", "exec: inner\n");

        let report = load_dir(d).unwrap();
        let names: Vec<&str> = report.services.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["db", "web"]);
        assert_eq!(report.services[0].spec.stop_signal, Signal::Int);
        assert_eq!(report.services[0].path, d.join("db.yaml"));
        assert!(report.services[0].warnings.is_empty());
        let p = |f: &str| d.join(f).display().to_string();
        assert_eq!(
            rendered(&report.services[1].warnings),
            [format!(
                "{}:3:1: warning: colour: unknown key (ignored)",
                p("web.yaml")
            )]
        );
        assert_eq!(
            rendered(&report.diagnostics),
            [
                format!(
                    "{}: ignored: \".hidden\" is not a valid service name: service name must not start with '.'",
                    p(".hidden.yaml")
                ),
                format!("{}:1:1: exec: missing required key (the command to run)", p("broken.yaml")),
                format!(
                    "{}:1:10: oneshot: expected true or false, found the string \"maybe\"",
                    p("broken.yaml")
                ),
                format!(
                    "{}: warning: ignored: service files end in .yaml; rename it to old.yaml",
                    p("old.yml")
                ),
            ]
        );
    }

    #[test]
    fn symlinks_and_special_files_are_refused_by_name_and_left_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let target = write(d, "real.txt", "exec: linked\n");
        symlink(&target, d.join("linked.yaml")).unwrap();
        symlink(d.join("missing"), d.join("dangling.yaml")).unwrap();
        nix::unistd::mkfifo(&d.join("fifo.yaml"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        write(d, "plain.yaml", "exec: plain\n");
        let report = load_dir(d).unwrap();
        let names: Vec<&str> = report.services.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["plain"]);
        let refused = |file: &str, kind: &str, why: &str| {
            format!(
                "{}: refused: it is a {kind} ({why})",
                d.join(file).display()
            )
        };
        let link = "zinit does not follow symbolic links in its config directory; copy the file there instead";
        assert_eq!(
            rendered(&report.diagnostics),
            [
                refused("dangling.yaml", "symbolic link", link),
                refused("fifo.yaml", "FIFO", "a service file must be a regular file"),
                refused("linked.yaml", "symbolic link", link),
            ]
        );
        let e = load_one(d, &name("linked")).unwrap_err();
        assert!(matches!(e, LoadError::NotRegular { .. }), "{e}");
        assert_eq!(
            e.to_string(),
            format!(
                "service file {} refused: it is a symbolic link ({link})",
                d.join("linked.yaml").display()
            )
        );
        let e = load_one(d, &name("fifo")).unwrap_err();
        assert!(
            matches!(e, LoadError::NotRegular { kind: "FIFO", .. }),
            "{e}"
        );
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "exec: linked\n");
    }

    #[test]
    fn oversized_and_non_utf8_files_are_errors() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let big = format!("exec: x\n#{}\n", "x".repeat(MAX_FILE_SIZE as usize));
        write(d, "big.yaml", &big);
        std::fs::write(d.join("bin.yaml"), b"exec: \xff\n").unwrap();
        let report = load_dir(d).unwrap();
        assert!(report.services.is_empty());
        assert_eq!(
            rendered(&report.diagnostics),
            [
                format!(
                    "{}: file is larger than 1048576 bytes",
                    d.join("big.yaml").display()
                ),
                format!(
                    "{}: file is not valid UTF-8 (at byte 6)",
                    d.join("bin.yaml").display()
                ),
            ]
        );
    }

    #[test]
    fn an_unreadable_directory_is_the_only_error() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(load_dir(&tmp.path().join("nope")).is_err());
        let empty = load_dir(tmp.path()).unwrap();
        assert_eq!(empty, DirReport::default());
    }

    #[test]
    fn load_one_reads_name_dot_yaml() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        write(d, "redis.yaml", "exec: redis-server\ndir: data\n");
        write(d, "bad.yaml", "exec: [x]\nlog: file\n");
        let loaded = load_one(d, &name("redis")).unwrap();
        assert_eq!(loaded.spec.exec.argv, ["redis-server"]);
        assert_eq!(loaded.warnings.len(), 1);

        let e = load_one(d, &name("ghost")).unwrap_err();
        assert!(matches!(&e, LoadError::NotFound { path } if *path == d.join("ghost.yaml")));
        assert_eq!(
            e.to_string(),
            format!("service file {} not found", d.join("ghost.yaml").display())
        );

        let e = load_one(d, &name("bad")).unwrap_err();
        let LoadError::Invalid { diagnostics, .. } = &e else {
            panic!("{e:?}")
        };
        assert_eq!(diagnostics.len(), 2);
        let shown = d.join("bad.yaml").display().to_string();
        assert_eq!(
            e.to_string(),
            format!(
                "invalid service file {shown} (2 errors): {shown}:1:7: exec: expected a command line \
                 (a string), found a list; {shown}:2:6: log: unknown log mode \"file\": expected \
                 ring, stdout, null or none"
            )
        );
    }

    #[test]
    fn environment_file() {
        let tmp = tempfile::tempdir().unwrap();
        let missing = read_environment_file(&tmp.path().join("environment")).unwrap();
        assert!(missing.is_empty());
        let path = write(
            tmp.path(),
            "environment",
            "# c\nPATH=/bin\nbad line\nLANG=\"C\"\n",
        );
        let vars = read_environment_file(&path).unwrap();
        let expected = [("PATH", "/bin"), ("LANG", "C")].map(|(k, v)| (k.to_owned(), v.to_owned()));
        assert_eq!(vars, expected);
        assert!(
            read_environment_file(tmp.path()).is_err(),
            "a directory is not a file"
        );
    }

    #[test]
    fn env_files_are_read_strictly() {
        let tmp = tempfile::tempdir().unwrap();
        let file = |path: PathBuf, optional| EnvFile { path, optional };
        let good = write(tmp.path(), "good.env", "# c\nexport A=1\nB='two'\n");
        let vars = read_env_file(&file(good, false)).unwrap();
        assert_eq!(
            vars,
            [("A", "1"), ("B", "two")].map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
        let missing = tmp.path().join("missing.env");
        assert_eq!(read_env_file(&file(missing.clone(), true)), Ok(Vec::new()));
        let shown = missing.display();
        assert_eq!(
            read_env_file(&file(missing.clone(), false)),
            Err(format!(
                "env_file {shown}: no such file (write -{shown} to make it optional)"
            ))
        );
        let bad = write(tmp.path(), "bad.env", "A=1\n\nnot a pair\n");
        assert_eq!(
            read_env_file(&file(bad.clone(), false)),
            Err(format!(
                "env_file {}: line 3: expected KEY=VALUE, found \"not a pair\"",
                bad.display()
            ))
        );
        assert_eq!(
            read_env_file(&file(tmp.path().to_owned(), true)),
            Err(format!(
                "env_file {}: not a regular file (directory)",
                tmp.path().display()
            ))
        );
        let big = write(tmp.path(), "big.env", &"A=1\n".repeat(300_000));
        let e = read_env_file(&file(big, false)).unwrap_err();
        assert!(e.ends_with("larger than 1048576 bytes"), "{e}");
    }
}
