//! The JSON-RPC method table: canonical names, accepted aliases and the
//! parameter names of every method, in positional order.
//!
//! This is the single list the server dispatch, the client and the OpenRPC
//! document are checked against. It must not say what a method does.

use std::fmt;

/// Every JSON-RPC method zinit answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Method {
    RpcDiscover,
    ServiceList,
    ServiceStatus,
    ServiceStart,
    ServiceStop,
    ServiceRestart,
    ServiceMonitor,
    ServiceForget,
    ServiceKill,
    ServiceCreate,
    ServiceDelete,
    ServiceGet,
    ServiceStats,
    ServiceWhy,
    SystemShutdown,
    SystemReboot,
    SystemStartHttpServer,
    SystemStopHttpServer,
    StreamCurrentLogs,
    StreamSubscribeLogs,
    StreamUnsubscribeLogs,
    StreamReadLogs,
    StreamFollowLogs,
    SystemMetrics,
}

const NONE: &[&str] = &[];
const NAME: &[&str] = &["name"];
/// Where a log read or follow starts; all optional (see `docs/logs.md`).
const LOG_QUERY: &[&str] = &["name", "after_seq", "last", "since"];

impl Method {
    /// Every method, in the order of the OpenRPC document.
    pub const ALL: [Method; 24] = [
        Method::RpcDiscover,
        Method::ServiceList,
        Method::ServiceStatus,
        Method::ServiceStart,
        Method::ServiceStop,
        Method::ServiceRestart,
        Method::ServiceMonitor,
        Method::ServiceForget,
        Method::ServiceKill,
        Method::ServiceCreate,
        Method::ServiceDelete,
        Method::ServiceGet,
        Method::ServiceStats,
        Method::ServiceWhy,
        Method::SystemShutdown,
        Method::SystemReboot,
        Method::SystemStartHttpServer,
        Method::SystemStopHttpServer,
        Method::StreamCurrentLogs,
        Method::StreamSubscribeLogs,
        Method::StreamUnsubscribeLogs,
        Method::StreamReadLogs,
        Method::StreamFollowLogs,
        Method::SystemMetrics,
    ];

    /// The name clients send and the OpenRPC document lists.
    pub fn canonical_name(self) -> &'static str {
        match self {
            Method::RpcDiscover => "rpc.discover",
            Method::ServiceList => "service_list",
            Method::ServiceStatus => "service_status",
            Method::ServiceStart => "service_start",
            Method::ServiceStop => "service_stop",
            Method::ServiceRestart => "service_restart",
            Method::ServiceMonitor => "service_monitor",
            Method::ServiceForget => "service_forget",
            Method::ServiceKill => "service_kill",
            Method::ServiceCreate => "service_create",
            Method::ServiceDelete => "service_delete",
            Method::ServiceGet => "service_get",
            Method::ServiceStats => "service_stats",
            Method::ServiceWhy => "service_why",
            Method::SystemShutdown => "system_shutdown",
            Method::SystemReboot => "system_reboot",
            Method::SystemStartHttpServer => "system_start_http_server",
            Method::SystemStopHttpServer => "system_stop_http_server",
            Method::StreamCurrentLogs => "stream_currentLogs",
            Method::StreamSubscribeLogs => "stream_subscribeLogs",
            Method::StreamUnsubscribeLogs => "stream_unsubscribeLogs",
            Method::StreamReadLogs => "stream_readLogs",
            Method::StreamFollowLogs => "stream_followLogs",
            Method::SystemMetrics => "system_metrics",
        }
    }

    /// Parameter names in positional order. The first
    /// [`required_params`](Self::required_params) of them are required.
    pub fn param_names(self) -> &'static [&'static str] {
        match self {
            Method::RpcDiscover
            | Method::ServiceList
            | Method::SystemShutdown
            | Method::SystemReboot
            | Method::SystemStopHttpServer
            | Method::SystemMetrics => NONE,
            Method::ServiceStatus
            | Method::ServiceStart
            | Method::ServiceStop
            | Method::ServiceRestart
            | Method::ServiceMonitor
            | Method::ServiceForget
            | Method::ServiceDelete
            | Method::ServiceGet
            | Method::ServiceStats
            | Method::ServiceWhy
            | Method::StreamCurrentLogs
            | Method::StreamSubscribeLogs => NAME,
            Method::ServiceKill => &["name", "signal"],
            Method::ServiceCreate => &["name", "content"],
            Method::SystemStartHttpServer => &["address"],
            Method::StreamUnsubscribeLogs => &["subscription"],
            Method::StreamReadLogs | Method::StreamFollowLogs => LOG_QUERY,
        }
    }

    /// How many of [`param_names`](Self::param_names) are required (the
    /// rest are optional and may be omitted or `null`).
    pub fn required_params(self) -> usize {
        match self {
            Method::StreamCurrentLogs
            | Method::StreamSubscribeLogs
            | Method::StreamReadLogs
            | Method::StreamFollowLogs => 0,
            other => other.param_names().len(),
        }
    }

    /// Whether the parameter `name` is required for this method.
    pub fn is_required(self, name: &str) -> bool {
        self.param_names()[..self.required_params()].contains(&name)
    }

    /// Finds a method by its canonical name or its alias: the dotted form
    /// (`service.list`, `stream.currentLogs`, `system.start_http_server`)
    /// and, for `rpc.discover`, the underscore form `rpc_discover`. The
    /// first `.` or `_` is the namespace separator; names are case-sensitive.
    pub fn lookup(name: &str) -> Option<Method> {
        let wanted = namespace_key(name);
        Method::ALL
            .into_iter()
            .find(|m| namespace_key(m.canonical_name()) == wanted)
    }
}

/// `(namespace, rest)` split at the first `.` or `_`.
fn namespace_key(name: &str) -> Option<(&str, &str)> {
    let at = name.find(['.', '_'])?;
    Some((&name[..at], &name[at + 1..]))
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.canonical_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_names_look_up_to_themselves() {
        for method in Method::ALL {
            assert_eq!(Method::lookup(method.canonical_name()), Some(method));
        }
    }

    #[test]
    fn dotted_aliases() {
        assert_eq!(Method::lookup("service.list"), Some(Method::ServiceList));
        assert_eq!(Method::lookup("service.kill"), Some(Method::ServiceKill));
        assert_eq!(
            Method::lookup("stream.currentLogs"),
            Some(Method::StreamCurrentLogs)
        );
        assert_eq!(
            Method::lookup("stream.subscribeLogs"),
            Some(Method::StreamSubscribeLogs)
        );
        assert_eq!(
            Method::lookup("system.shutdown"),
            Some(Method::SystemShutdown)
        );
        assert_eq!(
            Method::lookup("system.start_http_server"),
            Some(Method::SystemStartHttpServer)
        );
        assert_eq!(Method::lookup("rpc.discover"), Some(Method::RpcDiscover));
        assert_eq!(Method::lookup("rpc_discover"), Some(Method::RpcDiscover));
        for method in Method::ALL {
            let dotted = method.canonical_name().replacen('_', ".", 1);
            assert_eq!(Method::lookup(&dotted), Some(method), "{dotted}");
        }
    }

    #[test]
    fn unknown_names() {
        for name in [
            "",
            "service",
            "list",
            "service_",
            "Service_list",
            "service_List",
            "service..list",
            "service.list.x",
            "stream_currentlogs",
            "system.start.http.server",
            "rpc.discover ",
        ] {
            assert_eq!(Method::lookup(name), None, "{name:?}");
        }
    }

    #[test]
    fn params() {
        assert_eq!(Method::ServiceKill.param_names(), ["name", "signal"]);
        assert_eq!(Method::ServiceCreate.param_names(), ["name", "content"]);
        assert_eq!(Method::SystemStartHttpServer.param_names(), ["address"]);
        assert_eq!(Method::StreamCurrentLogs.param_names(), ["name"]);
        assert_eq!(Method::StreamCurrentLogs.required_params(), 0);
        assert!(!Method::StreamSubscribeLogs.is_required("name"));
        assert!(Method::ServiceKill.is_required("signal"));
        assert!(Method::ServiceList.param_names().is_empty());
        assert_eq!(Method::ServiceList.to_string(), "service_list");
    }
}
