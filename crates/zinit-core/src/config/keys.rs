//! The one list of what a service file may say: every key path, each with
//! a valid example value.
//!
//! Everything else that names keys is checked against it, so a key added
//! in one place and forgotten in another is a failing test, not a review
//! finding: the parser's top-level names and its lowering (here), and the
//! key tables of `docs/services.md` and the OpenRPC `ServiceConfig` schema
//! (`crates/zinit-daemon/tests/service_keys.rs`). `service_get` renders
//! whatever the file holds, so it needs no list.

/// One key a service file may set: `restart.delay` is `delay` inside the
/// `restart` mapping. A mapping key that also takes a value of its own
/// (`log_file: true`) is listed besides its sub-keys.
#[derive(Clone, Copy, Debug)]
pub struct KeyPath {
    pub path: &'static str,
    /// A valid value, as YAML.
    pub example: &'static str,
}

const fn key(path: &'static str, example: &'static str) -> KeyPath {
    KeyPath { path, example }
}

/// Every key path of a service file, in the order the docs list them.
pub const SERVICE_KEY_PATHS: &[KeyPath] = &[
    key("exec", "\"sleep 1000\""),
    key("test", "\"true\""),
    key("oneshot", "false"),
    key("shutdown_timeout", "10"),
    key("after", "[db]"),
    key("signal.stop", "SIGTERM"),
    key("log", "ring"),
    key("log_file", "true"),
    key("env", "{RUST_LOG: info}"),
    key("dir", "/"),
    key("restart.delay", "250ms"),
    key("restart.max_delay", "30s"),
    key("restart.stable_after", "1s"),
    key("test_interval", "250ms"),
    key("test_timeout", "5s"),
    key("log_file.max_size", "10MiB"),
    key("log_file.keep", "5"),
];

impl KeyPath {
    /// The top-level key (`restart` for `restart.delay`).
    pub fn top(&self) -> &'static str {
        self.path.split('.').next().unwrap_or(self.path)
    }

    /// A service file that sets this key (and `exec`, which every file
    /// needs) to its example.
    pub fn example_file(&self) -> String {
        let mut file = String::new();
        if self.path != "exec" {
            file.push_str("exec: \"sleep 1000\"\n");
        }
        if self.path == "test_interval" || self.path == "test_timeout" {
            // They mean nothing (and warn) without a test.
            file.push_str("test: \"true\"\n");
        }
        let mut indent = 0;
        let parts: Vec<&str> = self.path.split('.').collect();
        for (i, part) in parts.iter().enumerate() {
            file.push_str(&" ".repeat(indent));
            if i + 1 == parts.len() {
                file.push_str(&format!("{part}: {}\n", self.example));
            } else {
                file.push_str(&format!("{part}:\n"));
                indent += 2;
            }
        }
        file
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{parse_service, service_file_to_json, SERVICE_KEYS};
    use std::collections::BTreeSet;

    #[test]
    fn the_parsers_top_level_keys_are_the_listed_ones() {
        let listed: BTreeSet<&str> = SERVICE_KEY_PATHS.iter().map(KeyPath::top).collect();
        let parsed: BTreeSet<&str> = SERVICE_KEYS.iter().copied().collect();
        assert_eq!(listed, parsed);
        assert_eq!(parsed.len(), SERVICE_KEYS.len(), "a key twice in KEYS");
    }

    #[test]
    fn every_listed_key_is_lowered_and_shown_by_service_get() {
        for key in SERVICE_KEY_PATHS {
            let file = key.example_file();
            let parsed = parse_service("k.yaml", &file)
                .unwrap_or_else(|d| panic!("{}: {d:?}\n{file}", key.path));
            assert!(
                parsed.warnings.is_empty(),
                "{}: {:?}\n{file}",
                key.path,
                parsed.warnings
            );
            let json = service_file_to_json("k.yaml", &file).unwrap();
            let mut value = &json;
            for part in key.path.split('.') {
                value = &value[part];
            }
            assert!(!value.is_null(), "service_get lacks {}: {json}", key.path);
        }
    }
}
