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
    /// Another key the example needs to mean something (`test_timeout`
    /// needs a `test`), with its value.
    pub needs: Option<(&'static str, &'static str)>,
}

const fn key(path: &'static str, example: &'static str) -> KeyPath {
    KeyPath {
        path,
        example,
        needs: None,
    }
}

const fn key_with(
    path: &'static str,
    example: &'static str,
    needs: (&'static str, &'static str),
) -> KeyPath {
    KeyPath {
        path,
        example,
        needs: Some(needs),
    }
}

/// Every key path of a service file, in the order the docs list them.
pub const SERVICE_KEY_PATHS: &[KeyPath] = &[
    key("exec", "\"sleep 1000\""),
    key("test", "\"true\""),
    key("oneshot", "false"),
    key("autostart", "false"),
    key("shutdown_timeout", "10"),
    key("after", "[db]"),
    key("requires", "[db]"),
    key("wants", "[cache]"),
    key("conflicts", "[maintenance]"),
    key("signal.stop", "SIGTERM"),
    key("log", "ring"),
    key("log_file", "true"),
    key("env", "{RUST_LOG: info}"),
    key("dir", "/"),
    key("restart", "on-failure"),
    key("restart.policy", "on-failure"),
    key("restart.delay", "250ms"),
    key("restart.max_delay", "30s"),
    key("restart.stable_after", "1s"),
    key("restart.max_restarts", "5"),
    key_with("restart.window", "1m", ("restart.max_restarts", "5")),
    key_with("test_interval", "250ms", ("test", "\"true\"")),
    key_with("test_timeout", "5s", ("test", "\"true\"")),
    key_with("failure_action", "shutdown", ("restart", "never")),
    key_with("success_action", "shutdown", ("restart", "on-failure")),
    key("log_file.max_size", "10MiB"),
    key("log_file.keep", "5"),
    key("resources.memory_max", "512MiB"),
    key("resources.memory_high", "400MiB"),
    key("resources.memory_swap_max", "0"),
    key("resources.cpu", "0.5"),
    key("resources.cpu_weight", "100"),
    key("resources.pids_max", "100"),
    key("resources.io_weight", "100"),
    // The process environment of a run.
    key("user", "nobody"),
    key("group", "nogroup"),
    key("env_file", "[/etc/default/web, -/etc/default/web.local]"),
    key("umask", "\"0027\""),
    key("nice", "5"),
    key("oom_score_adj", "-500"),
    key("limits.nofile", "\"1024:65536\""),
    key("limits.nproc", "4096"),
    key("limits.core", "unlimited"),
    key("limits.memlock", "64MiB"),
    key("limits.stack", "8MiB"),
    key("limits.as", "unlimited"),
    key("limits.cpu", "3600"),
    key("limits.data", "unlimited"),
    key("limits.fsize", "1GiB"),
];

impl KeyPath {
    /// The top-level key (`restart` for `restart.delay`).
    pub fn top(&self) -> &'static str {
        self.path.split('.').next().unwrap_or(self.path)
    }

    /// A service file that sets this key (and `exec`, which every file
    /// needs, and what the key needs) to its example.
    pub fn example_file(&self) -> String {
        let mut pairs = vec![(self.path, self.example)];
        pairs.extend(self.needs);
        if self.path != "exec" {
            pairs.push(("exec", "\"sleep 1000\""));
        }
        // Key paths are at most two deep: group the sub-keys by their top.
        let mut file = String::new();
        let mut tops: Vec<&str> = Vec::new();
        for (path, _) in &pairs {
            let top = path.split('.').next().unwrap_or(path);
            if !tops.contains(&top) {
                tops.push(top);
            }
        }
        for top in tops {
            for (path, value) in &pairs {
                if *path == top {
                    file.push_str(&format!("{top}: {value}\n"));
                }
            }
            let subs: Vec<_> = pairs
                .iter()
                .filter_map(|(path, value)| {
                    Some((path.strip_prefix(top)?.strip_prefix('.')?, value))
                })
                .collect();
            if !subs.is_empty() {
                file.push_str(&format!("{top}:\n"));
                for (sub, value) in subs {
                    file.push_str(&format!("  {sub}: {value}\n"));
                }
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
