//! Service files as the API sees them: create, delete, get.
//!
//! Blocking `std::fs` code; the daemon calls it from `spawn_blocking`.
//! `create` never leaves a half-written `NAME.yaml` and never overwrites
//! one: the text goes to a temporary file (`O_EXCL`) in the same
//! directory, is fsynced, then hard-linked to its final name (the link
//! fails if the name exists, even under a concurrent create), the
//! temporary is removed in every case and the directory is fsynced.
//! Leftover temporaries (after a crash) are hidden and do not end in
//! `.yaml`, so the loader ignores them. Nothing here follows a symlink:
//! `get` opens with `O_NOFOLLOW` and reads only regular files, `create`
//! never replaces any entry (a dangling link included), and `delete`
//! unlinks the entry itself, never what a link points to. Validation is
//! `zinit_core::config`'s; rendering is `zinit_proto::yaml`'s.

use crate::config_dir::{read_service_text, service_path, write_list, LoadError};
use serde_json::Value;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use zinit_core::config::{parse_service, service_file_to_json, Diagnostic, Severity};
use zinit_core::name::ServiceName;

/// Why a service-file operation failed.
#[derive(Debug)]
pub enum ServiceFileError {
    NotFound {
        name: String,
        path: PathBuf,
    },
    AlreadyExists {
        name: String,
        path: PathBuf,
    },
    Invalid {
        name: String,
        diagnostics: Vec<Diagnostic>,
    },
    /// `NAME.yaml` is a symlink or a special file: never read.
    NotRegular {
        name: String,
        path: PathBuf,
        kind: &'static str,
    },
    Io {
        path: PathBuf,
        source: io::Error,
    },
}

impl fmt::Display for ServiceFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceFileError::NotFound { name, path } => {
                write!(
                    f,
                    "service \"{name}\" has no service file: {} not found",
                    path.display()
                )
            }
            ServiceFileError::AlreadyExists { name, path } => {
                write!(f, "service \"{name}\" already exists: {}", path.display())
            }
            ServiceFileError::Invalid { name, diagnostics } => {
                write!(f, "invalid configuration for service \"{name}\": ")?;
                write_list(f, diagnostics)
            }
            ServiceFileError::NotRegular { name, path, kind } => {
                let refusal = crate::config_dir::refusal(kind);
                write!(f, "service \"{name}\": {} {refusal}", path.display())
            }
            ServiceFileError::Io { path, source } => {
                write!(f, "i/o error on {}: {source}", path.display())
            }
        }
    }
}

impl std::error::Error for ServiceFileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ServiceFileError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Write `DIR/NAME.yaml` from a JSON object with the service-file keys.
/// Stricter than loading: unknown keys (usually typos) are refused too.
pub fn create(
    dir: &Path,
    name: &ServiceName,
    content: &Value,
) -> Result<PathBuf, ServiceFileError> {
    let path = service_path(dir, name);
    let label = format!("{name}.yaml");
    if !content.is_object() {
        let message = format!(
            "content must be an object of service-file keys, found {}",
            zinit_proto::jsonrpc::json_type(content)
        );
        return Err(invalid(name, vec![whole(&label, message)]));
    }
    if path.symlink_metadata().is_ok() {
        return Err(already_exists(name, &path));
    }
    let text = zinit_proto::yaml::to_yaml(content);
    let diagnostics = match parse_service(&label, &text) {
        Ok(parsed) => parsed.warnings,
        Err(diagnostics) => diagnostics,
    };
    if !diagnostics.is_empty() {
        // Positions point into text the caller never saw; keys are enough.
        let diagnostics = diagnostics
            .into_iter()
            .map(|d| without_position(d, &label))
            .collect();
        return Err(invalid(name, diagnostics));
    }
    write_new(dir, name, &path, text.as_bytes())?;
    Ok(path)
}

/// Remove `DIR/NAME.yaml`.
pub fn delete(dir: &Path, name: &ServiceName) -> Result<PathBuf, ServiceFileError> {
    let path = service_path(dir, name);
    match std::fs::remove_file(&path) {
        Ok(()) => {
            sync_dir(dir)?;
            Ok(path)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(not_found(name, &path)),
        Err(source) => Err(ServiceFileError::Io { path, source }),
    }
}

/// `DIR/NAME.yaml` as a generic JSON object.
pub fn get(dir: &Path, name: &ServiceName) -> Result<Value, ServiceFileError> {
    let path = service_path(dir, name);
    let text = read_service_text(&path).map_err(|e| match e {
        LoadError::NotFound { path } => not_found(name, &path),
        LoadError::Io { path, source } => ServiceFileError::Io { path, source },
        LoadError::Invalid { diagnostics, .. } => invalid(name, diagnostics),
        LoadError::NotRegular { path, kind } => ServiceFileError::NotRegular {
            name: name.to_string(),
            path,
            kind,
        },
    })?;
    service_file_to_json(&path.display().to_string(), &text).map_err(|d| invalid(name, d))
}

/// Distinguishes temporary files of one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Attempts at finding a free temporary name (a crash can leave some).
const TEMP_ATTEMPTS: usize = 16;

/// Write `bytes` to the new file `path` atomically; never overwrite.
fn write_new(
    dir: &Path,
    name: &ServiceName,
    path: &Path,
    bytes: &[u8],
) -> Result<(), ServiceFileError> {
    let (temp, file) = create_temp(dir, name)?;
    let result = fill_and_link(file, &temp, path, bytes).map_err(|(at, source)| {
        if at == path && source.kind() == io::ErrorKind::AlreadyExists {
            already_exists(name, path)
        } else {
            ServiceFileError::Io { path: at, source }
        }
    });
    if let Err(e) = std::fs::remove_file(&temp) {
        tracing::warn!("cannot remove temporary file {}: {e}", temp.display());
    }
    result?;
    sync_dir(dir)
}

/// A new, empty temporary file `.NAME.yaml.tmp-PID-N` in `dir`.
fn create_temp(dir: &Path, name: &ServiceName) -> Result<(PathBuf, File), ServiceFileError> {
    let mut attempt = 0;
    loop {
        let counter = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let temp = dir.join(format!(".{name}.yaml.tmp-{}-{counter}", std::process::id()));
        let opened = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&temp);
        match opened {
            Ok(file) => return Ok((temp, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < TEMP_ATTEMPTS => {
                attempt += 1;
            }
            Err(source) => return Err(ServiceFileError::Io { path: temp, source }),
        }
    }
}

/// Write, fsync, then link the temporary file to its final name.
fn fill_and_link(
    mut file: File,
    temp: &Path,
    path: &Path,
    bytes: &[u8],
) -> Result<(), (PathBuf, io::Error)> {
    file.write_all(bytes).map_err(|e| (temp.to_owned(), e))?;
    file.sync_all().map_err(|e| (temp.to_owned(), e))?;
    drop(file);
    std::fs::hard_link(temp, path).map_err(|e| (path.to_owned(), e))
}

/// Make a directory's entries durable.
fn sync_dir(dir: &Path) -> Result<(), ServiceFileError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| ServiceFileError::Io {
            path: dir.to_owned(),
            source,
        })
}

fn whole(file: &str, message: String) -> Diagnostic {
    Diagnostic {
        file: file.to_owned(),
        line: 0,
        column: 0,
        key: None,
        severity: Severity::Error,
        message,
    }
}

/// Every problem is an error at the API, warnings included: what would
/// be "ignored" when loading a file is refused here.
fn without_position(d: Diagnostic, file: &str) -> Diagnostic {
    Diagnostic {
        file: file.to_owned(),
        line: 0,
        column: 0,
        severity: Severity::Error,
        message: d.message.replacen(" (ignored)", "", 1),
        ..d
    }
}

fn invalid(name: &ServiceName, diagnostics: Vec<Diagnostic>) -> ServiceFileError {
    ServiceFileError::Invalid {
        name: name.to_string(),
        diagnostics,
    }
}

fn not_found(name: &ServiceName, path: &Path) -> ServiceFileError {
    ServiceFileError::NotFound {
        name: name.to_string(),
        path: path.to_owned(),
    }
}

fn already_exists(name: &ServiceName, path: &Path) -> ServiceFileError {
    ServiceFileError::AlreadyExists {
        name: name.to_string(),
        path: path.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use zinit_core::signal::Signal;

    fn name(raw: &str) -> ServiceName {
        ServiceName::new(raw).unwrap()
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn rich() -> Value {
        json!({
            "exec": "sh -c 'echo \"hi\"; sleep 100'",
            "test": "redis-cli -p 7777 ping",
            "oneshot": false,
            "shutdown_timeout": 30,
            "after": ["db", "cache"],
            "signal": {"stop": "SIGINT"},
            "log": "stdout",
            "env": {"PORT": "8080", "N": 7, "FLAG": true, "EMPTY": "", "MULTI": "a\nb\t\"c\""},
            "dir": "/srv/web",
            "restart": {"delay": "500ms", "max_delay": "1m", "stable_after": 10},
            "test_interval": "1s",
            "test_timeout": 2.5,
        })
    }

    #[test]
    fn create_then_get_round_trips() {
        let tmp = tempfile::tempdir().unwrap();
        let path = create(tmp.path(), &name("web"), &rich()).unwrap();
        assert_eq!(path, tmp.path().join("web.yaml"));
        assert_eq!(files(tmp.path()), ["web.yaml"]);
        assert_eq!(get(tmp.path(), &name("web")).unwrap(), rich());

        let loaded = crate::config_dir::load_one(tmp.path(), &name("web")).unwrap();
        assert!(loaded.warnings.is_empty());
        let spec = loaded.spec;
        assert_eq!(spec.exec.argv, ["sh", "-c", "echo \"hi\"; sleep 100"]);
        assert_eq!(spec.stop_signal, Signal::Int);
        assert_eq!(spec.env["N"], "7");
        assert_eq!(spec.env["FLAG"], "true");
        assert_eq!(spec.env["MULTI"], "a\nb\t\"c\"");
        assert_eq!(
            spec.restart.stable_after,
            std::time::Duration::from_secs(10)
        );
    }

    #[test]
    fn tricky_strings_survive_yaml_and_back() {
        let tricky = [
            "",
            "true",
            "False",
            "yes",
            "no",
            "on",
            "null",
            "~",
            "8080",
            "0x10",
            "1e3",
            ".inf",
            "-",
            "- item",
            "? q",
            ": colon",
            "a: b",
            "# hash",
            "a #b",
            "&anchor",
            "*alias",
            "!tag",
            "%dir",
            "@at",
            "`tick",
            "|",
            ">",
            "'single'",
            "\"double\"",
            "back\\slash",
            "  leading",
            "trailing  ",
            "line\nbreak",
            "cr\r",
            "tab\t",
            "\u{7}bell",
            "del\u{7f}",
            "nel\u{85}",
            "ls\u{2028}",
            "bom\u{feff}",
            "ünïcode ✓ 😀",
            "{not: map}",
            "[not, seq]",
            "...",
            "---",
            "a,b",
        ];
        let tmp = tempfile::tempdir().unwrap();
        let env: serde_json::Map<String, Value> = tricky
            .iter()
            .enumerate()
            .map(|(i, s)| (format!("V{i}"), json!(s)))
            .collect();
        let after: Vec<&str> = tricky[1..].iter().copied().filter(|s| name_ok(s)).collect();
        let content = json!({"exec": "x", "env": env, "after": after});
        create(tmp.path(), &name("tricky"), &content).unwrap();
        assert_eq!(get(tmp.path(), &name("tricky")).unwrap(), content);
        let spec = crate::config_dir::load_one(tmp.path(), &name("tricky"))
            .unwrap()
            .spec;
        for (i, s) in tricky.iter().enumerate() {
            assert_eq!(spec.env[&format!("V{i}")], *s);
        }
        assert_eq!(spec.after.len(), after.len());
    }

    fn name_ok(s: &str) -> bool {
        ServiceName::new(s).is_ok()
    }

    #[test]
    fn never_overwrites() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("web.yaml"), "exec: original\n").unwrap();
        let e = create(tmp.path(), &name("web"), &json!({"exec": "new"})).unwrap_err();
        assert!(matches!(&e, ServiceFileError::AlreadyExists { name, .. } if name == "web"));
        assert_eq!(
            e.to_string(),
            format!(
                "service \"web\" already exists: {}",
                tmp.path().join("web.yaml").display()
            )
        );
        // The race: the name appears between the check and the link.
        let path = tmp.path().join("web.yaml");
        let e = write_new(tmp.path(), &name("web"), &path, b"exec: new\n").unwrap_err();
        assert!(matches!(e, ServiceFileError::AlreadyExists { .. }), "{e}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "exec: original\n");
        assert_eq!(files(tmp.path()), ["web.yaml"]);
    }

    #[test]
    fn invalid_content_lists_every_problem_and_writes_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let content = json!({"tset": "x", "signal": {"stop": "SIGNOPE"}, "after": ["a/b"]});
        let e = create(tmp.path(), &name("web"), &content).unwrap_err();
        let ServiceFileError::Invalid {
            name: service,
            diagnostics,
        } = &e
        else {
            panic!("{e}")
        };
        assert_eq!(service, "web");
        let shown: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "web.yaml: exec: missing required key (the command to run)",
                "web.yaml: after[0]: invalid service name \"a/b\": service name must not contain '/'",
                "web.yaml: signal.stop: unknown signal \"SIGNOPE\"",
                "web.yaml: tset: unknown key; did you mean `test`?",
            ]
        );
        assert!(e.to_string().starts_with(
            "invalid configuration for service \"web\": web.yaml: exec: missing required key"
        ));
        let e = create(tmp.path(), &name("web"), &json!({"exec": "x", "colour": 1})).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid configuration for service \"web\": web.yaml: colour: unknown key"
        );
        let e = create(tmp.path(), &name("web"), &json!("exec: x")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid configuration for service \"web\": web.yaml: content must be an object \
             of service-file keys, found a string"
        );
        assert!(files(tmp.path()).is_empty());
    }

    #[test]
    fn stale_temporary_files_are_skipped_and_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let next = TEMP_COUNTER.load(Ordering::Relaxed);
        let stale: Vec<String> = (next..next + 4)
            .map(|n| format!(".web.yaml.tmp-{}-{n}", std::process::id()))
            .collect();
        for s in &stale {
            std::fs::write(tmp.path().join(s), "junk").unwrap();
        }
        create(tmp.path(), &name("web"), &json!({"exec": "x"})).unwrap();
        let mut expected = stale.clone();
        expected.push("web.yaml".to_owned());
        expected.sort();
        assert_eq!(files(tmp.path()), expected);
    }

    #[test]
    fn io_errors_name_the_path() {
        let tmp = tempfile::tempdir().unwrap();
        let missing = tmp.path().join("no-such-dir");
        let e = create(&missing, &name("web"), &json!({"exec": "x"})).unwrap_err();
        let ServiceFileError::Io { path, .. } = &e else {
            panic!("{e}")
        };
        assert!(path.starts_with(&missing));
        assert!(e
            .to_string()
            .starts_with(&format!("i/o error on {}", missing.display())));
    }

    #[test]
    fn links_are_never_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let target = d.join("outside.txt");
        std::fs::write(&target, "exec: secret\n").unwrap();
        let link = d.join("web.yaml");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let e = get(d, &name("web")).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "service \"web\": {} refused: it is a symbolic link (zinit does not follow \
                 symbolic links in its config directory; copy the file there instead)",
                link.display()
            )
        );
        let e = create(d, &name("web"), &json!({"exec": "x"})).unwrap_err();
        assert!(matches!(e, ServiceFileError::AlreadyExists { .. }), "{e}");
        // A dangling link is an entry too: never replaced, never written through.
        std::os::unix::fs::symlink(d.join("nowhere"), d.join("ghost.yaml")).unwrap();
        let e = create(d, &name("ghost"), &json!({"exec": "x"})).unwrap_err();
        assert!(matches!(e, ServiceFileError::AlreadyExists { .. }), "{e}");
        assert!(!d.join("nowhere").exists());
        // delete removes the link itself.
        assert_eq!(delete(d, &name("web")).unwrap(), link);
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "exec: secret\n");
        assert_eq!(files(d), ["ghost.yaml", "outside.txt"]);
    }

    #[test]
    fn delete_and_get() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        create(d, &name("web"), &json!({"exec": "x"})).unwrap();
        assert_eq!(delete(d, &name("web")).unwrap(), d.join("web.yaml"));
        assert!(files(d).is_empty());
        let e = delete(d, &name("web")).unwrap_err();
        assert!(matches!(&e, ServiceFileError::NotFound { name, .. } if name == "web"));
        assert_eq!(
            e.to_string(),
            format!(
                "service \"web\" has no service file: {} not found",
                d.join("web.yaml").display()
            )
        );
        let e = get(d, &name("web")).unwrap_err();
        assert!(matches!(e, ServiceFileError::NotFound { .. }));

        std::fs::write(d.join("broken.yaml"), "a: 1\na: 2\n").unwrap();
        let e = get(d, &name("broken")).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "invalid configuration for service \"broken\": {}:2:1: a: duplicate key (each key may appear once)",
                d.join("broken.yaml").display()
            )
        );
        // get does not judge the keys, only the YAML.
        std::fs::write(d.join("odd.yaml"), "exec: x\ncolour: red\nport: 80\n").unwrap();
        assert_eq!(
            get(d, &name("odd")).unwrap(),
            json!({"exec": "x", "colour": "red", "port": 80})
        );
    }
}
