//! Wire types for watching services: log records with sequence numbers
//! (`stream_readLogs`, `stream_followLogs`) and the explanation `service_why`
//! returns. Additions to the original protocol; the legacy text renderings
//! (`[+] NAME: text`) are produced from them here so every place that prints
//! a line prints it the same way.

use serde::{Deserialize, Serialize};

/// Which output stream of a service a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogStream {
    Stdout,
    Stderr,
}

impl LogStream {
    /// The legacy mark: `+` for stdout, `-` for stderr.
    pub fn mark(self) -> char {
        match self {
            LogStream::Stdout => '+',
            LogStream::Stderr => '-',
        }
    }
}

/// Appended to the text of a line that was cut at the line-length limit.
pub const CUT_MARK: &str = " [cut]";

/// One captured line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogRecord {
    /// Position in the daemon's log: +1 for every line captured, so a gap
    /// between two records of the all-services view is a loss.
    pub seq: u64,
    /// When zinit read the line, RFC 3339 in UTC with milliseconds.
    pub time: String,
    pub service: String,
    pub stream: LogStream,
    /// Without the line end; invalid UTF-8 replaced.
    pub text: String,
    /// The line was longer than the limit and was cut.
    #[serde(default, skip_serializing_if = "is_false")]
    pub truncated: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl LogRecord {
    /// `[+] NAME: text` (stdout) or `[-] NAME: text` (stderr), as the
    /// original zinit printed lines, with [`CUT_MARK`] on a cut line.
    pub fn legacy_text(&self) -> String {
        legacy_line(self.stream, &self.service, &self.text, self.truncated)
    }
}

/// The legacy rendering of one line (see [`LogRecord::legacy_text`]).
pub fn legacy_line(stream: LogStream, service: &str, text: &str, truncated: bool) -> String {
    let cut = if truncated { CUT_MARK } else { "" };
    format!("[{}] {service}: {text}{cut}", stream.mark())
}

/// The text line a follower gets in place of lines it missed.
pub fn gap_text(missed: Option<u64>) -> String {
    match missed {
        Some(1) => "[-] zinit: 1 log line missed: reader too slow".to_owned(),
        Some(n) => format!("[-] zinit: {n} log lines missed: reader too slow"),
        None => "[-] zinit: log lines missed: reader too slow".to_owned(),
    }
}

/// What `stream_followLogs` pushes: a line, or notice of lines the
/// follower missed because it read slower than they were evicted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum LogItem {
    Line(LogRecord),
    Gap {
        /// How many lines of the followed view were lost; `null` when the
        /// count cannot be known (see `docs/logs.md`).
        missed: Option<u64>,
    },
}

impl LogItem {
    /// The legacy text rendering of the item.
    pub fn legacy_text(&self) -> String {
        match self {
            LogItem::Line(record) => record.legacy_text(),
            LogItem::Gap { missed } => gap_text(*missed),
        }
    }
}

/// `stream_readLogs` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogPage {
    /// Oldest first.
    pub lines: Vec<LogRecord>,
    /// With `after_seq`: lines of the view after it that are no longer
    /// kept (`null` when unknown); 0 otherwise.
    pub missed: Option<u64>,
    /// The seq the next captured line will get: pass `next_seq - 1` as
    /// `after_seq` to continue exactly where this page ends.
    pub next_seq: u64,
}

/// `service_why` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WhyReport {
    pub name: String,
    /// Wire state, as `service_status` shows it.
    pub state: String,
    pub target: String,
    /// One sentence.
    pub summary: String,
    /// Supporting facts, one per entry, most important first.
    #[serde(default)]
    pub details: Vec<String>,
    /// The chain of services this one waits on, nearest first.
    #[serde(default)]
    pub blocked_by: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(truncated: bool) -> LogRecord {
        LogRecord {
            seq: 7,
            time: "2026-11-24T04:01:34.123Z".into(),
            service: "web".into(),
            stream: LogStream::Stderr,
            text: "oops".into(),
            truncated,
        }
    }

    #[test]
    fn line_items_are_tagged_and_flat() {
        let item = LogItem::Line(record(false));
        let value = serde_json::to_value(&item).unwrap();
        assert_eq!(
            value,
            json!({"kind": "line", "seq": 7, "time": "2026-11-24T04:01:34.123Z",
                   "service": "web", "stream": "stderr", "text": "oops"})
        );
        assert_eq!(serde_json::from_value::<LogItem>(value).unwrap(), item);
        let gap = LogItem::Gap { missed: Some(3) };
        assert_eq!(
            serde_json::to_value(&gap).unwrap(),
            json!({"kind": "gap", "missed": 3})
        );
    }

    #[test]
    fn legacy_renderings() {
        assert_eq!(record(false).legacy_text(), "[-] web: oops");
        assert_eq!(record(true).legacy_text(), "[-] web: oops [cut]");
        assert_eq!(
            LogItem::Gap { missed: Some(2) }.legacy_text(),
            "[-] zinit: 2 log lines missed: reader too slow"
        );
        assert_eq!(
            gap_text(Some(1)),
            "[-] zinit: 1 log line missed: reader too slow"
        );
        assert_eq!(
            gap_text(None),
            "[-] zinit: log lines missed: reader too slow"
        );
        let truncated = serde_json::to_value(record(true)).unwrap();
        assert_eq!(truncated["truncated"], true);
    }
}
