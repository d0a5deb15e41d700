//! Result objects as they travel on the wire (both protocols), with the
//! field names and order deployed clients know (compat.md).
//!
//! These are deliberately plain (strings for state and target): the domain
//! types live in `zinit-core`, and the daemon converts at the edge. Nothing
//! here may grow behaviour beyond encoding and light decoding helpers.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `list` / `service_list` result: service name to state string.
pub type ServiceList = BTreeMap<String, String>;

/// `status` / `service_status` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceStatus {
    pub name: String,
    /// 0 when the service has no running process.
    pub pid: u32,
    /// `Running`, `Error(exited with code 3)`, ... (see [`split_state`]).
    pub state: String,
    /// `Up` or `Down`.
    pub target: String,
    /// Each `after` dependency and its current state.
    #[serde(default)]
    pub after: BTreeMap<String, String>,
    /// Extra, not in the original protocol: why the service is in this
    /// state (e.g. which dependency blocks it). Old clients ignore it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `stats` / `service_stats` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceStats {
    pub name: String,
    pub pid: u32,
    /// Resident memory, in bytes.
    pub memory_usage: u64,
    /// CPU usage in percent of one core.
    pub cpu_usage: f64,
    #[serde(default)]
    pub children: Vec<ChildStats>,
}

/// One descendant process in [`ServiceStats::children`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChildStats {
    pub pid: u32,
    pub memory_usage: u64,
    pub cpu_usage: f64,
}

/// Splits a wire state like `Error(exited with code 3)` into its word and
/// reason, the way clients do with `^(\w+)(?:\((.+)\))?$`. A string that
/// does not have that shape comes back whole with no reason.
pub fn split_state(state: &str) -> (&str, Option<&str>) {
    let word_end = state
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(state.len());
    let (word, rest) = state.split_at(word_end);
    if word.is_empty() {
        return (state, None);
    }
    match rest.strip_prefix('(').and_then(|r| r.strip_suffix(')')) {
        Some(reason) if !reason.is_empty() => (word, Some(reason)),
        _ if rest.is_empty() => (word, None),
        _ => (state, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn status_field_order_and_reason_omitted() {
        let status = ServiceStatus {
            name: "redis".into(),
            pid: 42,
            state: "Running".into(),
            target: "Up".into(),
            after: BTreeMap::from([("net".to_string(), "Success".to_string())]),
            reason: None,
        };
        assert_eq!(
            serde_json::to_string(&status).unwrap(),
            r#"{"name":"redis","pid":42,"state":"Running","target":"Up","after":{"net":"Success"}}"#
        );
        let with_reason = ServiceStatus {
            reason: Some("waiting for net".into()),
            ..status.clone()
        };
        let text = serde_json::to_string(&with_reason).unwrap();
        assert!(text.ends_with(r#","reason":"waiting for net"}"#), "{text}");
        let back: ServiceStatus = serde_json::from_str(&text).unwrap();
        assert_eq!(back, with_reason);
    }

    #[test]
    fn status_decodes_old_server_output() {
        let old = json!({"name":"a","pid":0,"state":"Blocked","target":"Up","after":{}});
        let status: ServiceStatus = serde_json::from_value(old).unwrap();
        assert_eq!(status.pid, 0);
        assert_eq!(status.reason, None);
    }

    #[test]
    fn stats_shape() {
        let stats = ServiceStats {
            name: "a".into(),
            pid: 7,
            memory_usage: 1024,
            cpu_usage: 1.5,
            children: vec![ChildStats {
                pid: 8,
                memory_usage: 10,
                cpu_usage: 0.0,
            }],
        };
        assert_eq!(
            serde_json::to_string(&stats).unwrap(),
            r#"{"name":"a","pid":7,"memory_usage":1024,"cpu_usage":1.5,"children":[{"pid":8,"memory_usage":10,"cpu_usage":0.0}]}"#
        );
    }

    #[test]
    fn split_state_matches_client_regex() {
        assert_eq!(split_state("Running"), ("Running", None));
        assert_eq!(
            split_state("Error(exited with code 3)"),
            ("Error", Some("exited with code 3"))
        );
        assert_eq!(split_state("Error()"), ("Error()", None));
        assert_eq!(split_state("Error(x"), ("Error(x", None));
        assert_eq!(split_state(""), ("", None));
        assert_eq!(split_state("(x)"), ("(x)", None));
    }
}
