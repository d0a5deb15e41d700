//! Requests served, by protocol and method, and the errors among them: the
//! figures behind `zinit_rpc_requests_total` and `zinit_rpc_errors_total`.
//!
//! Method labels come from a closed set (canonical JSON-RPC names, legacy
//! command words, or `unknown`), never from what a client typed, so a
//! hostile client cannot grow the table.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

/// Which protocol a request came in on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Protocol {
    JsonRpc,
    Legacy,
}

impl Protocol {
    pub fn label(self) -> &'static str {
        match self {
            Protocol::JsonRpc => "jsonrpc",
            Protocol::Legacy => "legacy",
        }
    }
}

/// Counts for one (protocol, method).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MethodCounts {
    pub requests: u64,
    /// Error code to how many requests ended with it.
    pub errors: BTreeMap<i64, u64>,
}

#[derive(Default)]
pub struct RpcCounters {
    counts: Mutex<BTreeMap<(Protocol, &'static str), MethodCounts>>,
}

impl RpcCounters {
    /// Count one request; `error` is the code it was answered with, if any.
    pub fn record(&self, protocol: Protocol, method: &'static str, error: Option<i64>) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = counts.entry((protocol, method)).or_default();
        entry.requests += 1;
        if let Some(code) = error {
            *entry.errors.entry(code).or_default() += 1;
        }
    }

    /// Every (protocol, method) seen so far, sorted.
    pub fn snapshot(&self) -> Vec<(Protocol, &'static str, MethodCounts)> {
        let counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        counts
            .iter()
            .map(|((protocol, method), c)| (*protocol, *method, c.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_requests_and_errors_per_method() {
        let counters = RpcCounters::default();
        counters.record(Protocol::JsonRpc, "service_status", None);
        counters.record(Protocol::JsonRpc, "service_status", Some(-32000));
        counters.record(Protocol::JsonRpc, "service_status", Some(-32000));
        counters.record(Protocol::Legacy, "status", None);
        let seen = counters.snapshot();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].0, Protocol::JsonRpc);
        assert_eq!(seen[0].1, "service_status");
        assert_eq!(seen[0].2.requests, 3);
        assert_eq!(seen[0].2.errors, BTreeMap::from([(-32000, 2)]));
        assert_eq!(
            (seen[1].0, seen[1].1, seen[1].2.requests),
            (Protocol::Legacy, "status", 1)
        );
        assert!(seen[1].2.errors.is_empty());
    }
}
