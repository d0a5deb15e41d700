//! The legacy line protocol: one command line per connection, answered by
//! one compact JSON object `{"state":"ok"|"error","body":..}` (or, for
//! `log`, by plain text lines).
//!
//! This module parses command lines into [`LegacyCommand`] and renders
//! replies; it must not execute anything. Arguments are split shell-style,
//! like the original zinit did, so quoted names keep working.

use serde::Serialize;
use serde_json::Value;
use std::fmt;

/// A parsed legacy command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegacyCommand {
    List,
    Status(String),
    Start(String),
    Stop(String),
    Restart(String),
    Monitor(String),
    Forget(String),
    Kill {
        name: String,
        signal: String,
    },
    Stats(String),
    Shutdown,
    Reboot,
    /// `log` (follow) or `log snapshot` (dump and close).
    Log {
        snapshot: bool,
    },
}

/// Parses one command line (a trailing `\n` or `\r\n` is tolerated).
///
/// Errors are human messages suitable for [`reply_error`]: an unknown
/// command is named, a wrong argument count gives a `usage: ...` line.
pub fn parse_command(line: &str) -> Result<LegacyCommand, String> {
    let line = line.trim_end_matches(['\n', '\r']);
    let words = shlex::split(line).ok_or_else(|| {
        format!("invalid command line {line:?}: unbalanced quotes or trailing escape")
    })?;
    let Some((command, args)) = words.split_first() else {
        return Err("empty command".to_string());
    };
    match command.as_str() {
        "list" => no_args(args, "list", LegacyCommand::List),
        "shutdown" => no_args(args, "shutdown", LegacyCommand::Shutdown),
        "reboot" => no_args(args, "reboot", LegacyCommand::Reboot),
        "status" => one_name(args, "status").map(LegacyCommand::Status),
        "start" => one_name(args, "start").map(LegacyCommand::Start),
        "stop" => one_name(args, "stop").map(LegacyCommand::Stop),
        "restart" => one_name(args, "restart").map(LegacyCommand::Restart),
        "monitor" => one_name(args, "monitor").map(LegacyCommand::Monitor),
        "forget" => one_name(args, "forget").map(LegacyCommand::Forget),
        "stats" => one_name(args, "stats").map(LegacyCommand::Stats),
        "kill" => match args {
            [name, signal] => Ok(LegacyCommand::Kill {
                name: name.clone(),
                signal: signal.clone(),
            }),
            _ => Err("usage: kill NAME SIGNAL".to_string()),
        },
        "log" => match args {
            [] => Ok(LegacyCommand::Log { snapshot: false }),
            [s] if s == "snapshot" => Ok(LegacyCommand::Log { snapshot: true }),
            _ => Err("usage: log [snapshot]".to_string()),
        },
        other => Err(format!("unknown command {other:?}")),
    }
}

fn no_args(args: &[String], usage: &str, command: LegacyCommand) -> Result<LegacyCommand, String> {
    if args.is_empty() {
        Ok(command)
    } else {
        Err(format!("usage: {usage}"))
    }
}

fn one_name(args: &[String], command: &str) -> Result<String, String> {
    match args {
        [name] => Ok(name.clone()),
        _ => Err(format!("usage: {command} NAME")),
    }
}

impl LegacyCommand {
    /// The command line a client sends, shell-quoted, ending with `\n`.
    /// Fails only when an argument contains a NUL byte.
    pub fn to_line(&self) -> Result<String, String> {
        let words: Vec<&str> = match self {
            LegacyCommand::List => vec!["list"],
            LegacyCommand::Status(n) => vec!["status", n],
            LegacyCommand::Start(n) => vec!["start", n],
            LegacyCommand::Stop(n) => vec!["stop", n],
            LegacyCommand::Restart(n) => vec!["restart", n],
            LegacyCommand::Monitor(n) => vec!["monitor", n],
            LegacyCommand::Forget(n) => vec!["forget", n],
            LegacyCommand::Kill { name, signal } => vec!["kill", name, signal],
            LegacyCommand::Stats(n) => vec!["stats", n],
            LegacyCommand::Shutdown => vec!["shutdown"],
            LegacyCommand::Reboot => vec!["reboot"],
            LegacyCommand::Log { snapshot: false } => vec!["log"],
            LegacyCommand::Log { snapshot: true } => vec!["log", "snapshot"],
        };
        let mut line = shlex::try_join(words).map_err(|e| e.to_string())?;
        line.push('\n');
        Ok(line)
    }

    /// The command word (`status`, `kill`, ...), e.g. for error `action`s.
    pub fn verb(&self) -> &'static str {
        match self {
            LegacyCommand::List => "list",
            LegacyCommand::Status(_) => "status",
            LegacyCommand::Start(_) => "start",
            LegacyCommand::Stop(_) => "stop",
            LegacyCommand::Restart(_) => "restart",
            LegacyCommand::Monitor(_) => "monitor",
            LegacyCommand::Forget(_) => "forget",
            LegacyCommand::Kill { .. } => "kill",
            LegacyCommand::Stats(_) => "stats",
            LegacyCommand::Shutdown => "shutdown",
            LegacyCommand::Reboot => "reboot",
            LegacyCommand::Log { .. } => "log",
        }
    }
}

impl fmt::Display for LegacyCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_line() {
            Ok(line) => f.write_str(line.trim_end_matches('\n')),
            Err(_) => f.write_str(self.verb()),
        }
    }
}

#[derive(Serialize)]
struct Reply<'a, T: ?Sized> {
    state: &'static str,
    body: &'a T,
}

/// `{"state":"ok","body":<body>}` followed by `\n`, compact.
///
/// Generic so that a typed body keeps its declared field order; a body that
/// cannot be encoded as JSON becomes an error reply.
pub fn reply_ok<T: Serialize + ?Sized>(body: &T) -> String {
    match serde_json::to_string(&Reply { state: "ok", body }) {
        Ok(mut line) => {
            line.push('\n');
            line
        }
        Err(e) => reply_error(&format!("cannot encode reply: {e}")),
    }
}

/// `{"state":"error","body":"<message>"}` followed by `\n`, compact.
pub fn reply_error(message: &str) -> String {
    let reply = Reply {
        state: "error",
        body: message,
    };
    // A struct of two strings always encodes; the fallback is unreachable.
    let mut line = serde_json::to_string(&reply)
        .unwrap_or_else(|_| r#"{"state":"error","body":"internal error"}"#.to_string());
    line.push('\n');
    line
}

/// Decodes a reply line (client side): `Some(Ok(body))`, `Some(Err(message))`,
/// or `None` when the line is not a legacy reply object at all (e.g. a log
/// text line).
pub fn parse_reply(line: &str) -> Option<Result<Value, String>> {
    let value: Value = serde_json::from_str(line.trim_end_matches(['\n', '\r'])).ok()?;
    let object = value.as_object()?;
    let body = object.get("body").cloned().unwrap_or(Value::Null);
    match object.get("state")?.as_str()? {
        "ok" => Some(Ok(body)),
        "error" => Some(Err(match body {
            Value::String(message) => message,
            other => other.to_string(),
        })),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ok(line: &str) -> LegacyCommand {
        parse_command(line).unwrap_or_else(|e| panic!("{line:?}: {e}"))
    }

    #[test]
    fn parses_every_command() {
        assert_eq!(ok("list"), LegacyCommand::List);
        assert_eq!(ok("status redis\n"), LegacyCommand::Status("redis".into()));
        assert_eq!(ok("start a\r\n"), LegacyCommand::Start("a".into()));
        assert_eq!(ok("stop a"), LegacyCommand::Stop("a".into()));
        assert_eq!(ok("restart a"), LegacyCommand::Restart("a".into()));
        assert_eq!(ok("monitor a"), LegacyCommand::Monitor("a".into()));
        assert_eq!(ok("forget a"), LegacyCommand::Forget("a".into()));
        assert_eq!(ok("stats a"), LegacyCommand::Stats("a".into()));
        assert_eq!(
            ok("kill a SIGTERM"),
            LegacyCommand::Kill {
                name: "a".into(),
                signal: "SIGTERM".into()
            }
        );
        assert_eq!(ok("shutdown"), LegacyCommand::Shutdown);
        assert_eq!(ok("reboot"), LegacyCommand::Reboot);
        assert_eq!(ok("log"), LegacyCommand::Log { snapshot: false });
        assert_eq!(ok("log snapshot\n"), LegacyCommand::Log { snapshot: true });
    }

    #[test]
    fn splits_shell_style() {
        assert_eq!(
            ok("status 'my service'"),
            LegacyCommand::Status("my service".into())
        );
        assert_eq!(
            ok("  status   \"a b\"  "),
            LegacyCommand::Status("a b".into())
        );
        assert!(parse_command("status 'open").is_err());
    }

    #[test]
    fn errors_name_the_problem() {
        assert_eq!(
            parse_command("frobnicate x").unwrap_err(),
            "unknown command \"frobnicate\""
        );
        assert_eq!(parse_command("status").unwrap_err(), "usage: status NAME");
        assert_eq!(
            parse_command("status a b").unwrap_err(),
            "usage: status NAME"
        );
        assert_eq!(
            parse_command("kill a").unwrap_err(),
            "usage: kill NAME SIGNAL"
        );
        assert_eq!(parse_command("list x").unwrap_err(), "usage: list");
        assert_eq!(
            parse_command("log tail").unwrap_err(),
            "usage: log [snapshot]"
        );
        assert_eq!(parse_command("\n").unwrap_err(), "empty command");
        assert_eq!(parse_command("").unwrap_err(), "empty command");
        // Commands are case-sensitive, like the original.
        assert!(parse_command("LIST").is_err());
    }

    #[test]
    fn to_line_round_trips() {
        let commands = [
            LegacyCommand::List,
            LegacyCommand::Status("my svc".into()),
            LegacyCommand::Kill {
                name: "a'b".into(),
                signal: "SIGHUP".into(),
            },
            LegacyCommand::Log { snapshot: true },
            LegacyCommand::Log { snapshot: false },
            LegacyCommand::Shutdown,
        ];
        for command in commands {
            let line = command.to_line().unwrap();
            assert!(line.ends_with('\n'));
            assert_eq!(parse_command(&line).unwrap(), command);
        }
        assert_eq!(
            LegacyCommand::Status("redis".into()).to_line().unwrap(),
            "status redis\n"
        );
        assert!(LegacyCommand::Status("a\0b".into()).to_line().is_err());
        assert_eq!(
            LegacyCommand::Log { snapshot: true }.to_string(),
            "log snapshot"
        );
    }

    #[test]
    fn replies_are_compact_single_lines() {
        assert_eq!(reply_ok(&Value::Null), "{\"state\":\"ok\",\"body\":null}\n");
        assert_eq!(
            reply_ok(&json!({"a": "Running"})),
            "{\"state\":\"ok\",\"body\":{\"a\":\"Running\"}}\n"
        );
        assert_eq!(
            reply_error("service name \"x\" unknown"),
            "{\"state\":\"error\",\"body\":\"service name \\\"x\\\" unknown\"}\n"
        );
        let multi = reply_error("line one\nline two");
        assert_eq!(multi.matches('\n').count(), 1, "{multi}");
    }

    #[test]
    fn parse_reply_decodes_both_states() {
        assert_eq!(parse_reply(&reply_ok(&json!([1]))), Some(Ok(json!([1]))));
        assert_eq!(parse_reply(&reply_error("boom")), Some(Err("boom".into())));
        assert_eq!(parse_reply("[+] redis: ready"), None);
        assert_eq!(parse_reply("{\"state\":\"weird\"}"), None);
    }
}
