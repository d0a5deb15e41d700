//! Log reads and follows as the API offers them: which lines (`after_seq`,
//! `last`, `since`, one service or all), checked and turned into what the
//! log hub understands, and log lines turned into wire records.

use super::facts::rfc3339;
use super::{parse_name, Api, ApiError, ErrorKind};
use crate::logs::{FollowItem, Follower, LogFrom, LogLine, Stream};
use std::sync::Arc;
use std::time::SystemTime;
use zinit_proto::observe::{LogItem, LogPage, LogRecord, LogStream};

/// Which log lines a request selects (all parts optional).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogQuery {
    pub name: Option<String>,
    /// Lines with a larger seq.
    pub after_seq: Option<u64>,
    /// The newest N of the lines otherwise selected.
    pub last: Option<u64>,
    /// RFC 3339 time, or a duration back from now (`10m`).
    pub since: Option<String>,
}

/// A checked [`LogQuery`].
struct Selection {
    service: Option<Arc<str>>,
    after_seq: Option<u64>,
    last: Option<usize>,
    since: Option<SystemTime>,
}

impl LogQuery {
    fn check(&self, action: &'static str) -> Result<Selection, ApiError> {
        let service = match &self.name {
            Some(raw) => Some(Arc::from(parse_name(raw, action)?.as_str())),
            None => None,
        };
        let since = match &self.since {
            Some(text) => Some(parse_since(text, SystemTime::now(), action)?),
            None => None,
        };
        Ok(Selection {
            service,
            after_seq: self.after_seq,
            last: self.last.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
            since,
        })
    }
}

impl Selection {
    /// Where the hub starts, before `since` and `last` narrow it further.
    fn start(&self, or_else: LogFrom) -> LogFrom {
        match (self.after_seq, self.since, self.last) {
            (Some(seq), _, _) => LogFrom::AfterSeq(seq),
            (None, Some(time), _) => LogFrom::Since(time),
            (None, None, Some(n)) => LogFrom::Last(n),
            (None, None, None) => or_else,
        }
    }

    fn wanted(&self, line: &LogLine) -> bool {
        self.since.is_none_or(|since| line.time >= since)
    }
}

/// `since` as a time: RFC 3339, or a duration back from `now`.
fn parse_since(text: &str, now: SystemTime, action: &'static str) -> Result<SystemTime, ApiError> {
    if let Ok(time) = humantime::parse_rfc3339_weak(text) {
        return Ok(time);
    }
    match humantime::parse_duration(text) {
        // Further back than 1970 is the same as everything.
        Ok(back) => Ok(now
            .checked_sub(back)
            .filter(|t| *t >= SystemTime::UNIX_EPOCH)
            .unwrap_or(SystemTime::UNIX_EPOCH)),
        Err(_) => Err(ApiError {
            kind: ErrorKind::InvalidParams,
            message: format!(
                "invalid \"since\" {text:?}: expected an RFC 3339 time \
                 (2026-11-24T10:00:00Z) or a duration back from now (90s, 10m, 2h)"
            ),
            service: None,
            action,
        }),
    }
}

/// A follow in progress: the hub's follower, narrowed by `since`.
pub struct LogFollow {
    follower: Follower,
    since: Option<SystemTime>,
}

/// How many items a follower takes at once: enough to write in big
/// chunks, few enough to stay responsive.
const FOLLOW_BATCH: usize = 256;

impl LogFollow {
    /// The next items; waits for at least one line or gap the query wants.
    pub async fn next_batch(&mut self) -> Vec<FollowItem> {
        loop {
            let mut items = self.follower.next_batch(FOLLOW_BATCH).await;
            if let Some(since) = self.since {
                items.retain(|item| match item {
                    FollowItem::Line(line) => line.time >= since,
                    FollowItem::Gap { .. } => true,
                });
            }
            if !items.is_empty() {
                return items;
            }
        }
    }
}

impl Api {
    /// `stream_readLogs`: the kept lines the query selects, oldest first.
    pub fn read_logs(&self, query: &LogQuery) -> Result<LogPage, ApiError> {
        let selection = query.check("read_logs")?;
        let read = self
            .logs
            .read(selection.service.as_deref(), selection.start(LogFrom::All));
        let mut lines: Vec<&Arc<LogLine>> =
            read.lines.iter().filter(|l| selection.wanted(l)).collect();
        if let Some(n) = selection.last {
            lines.drain(..lines.len().saturating_sub(n));
        }
        Ok(LogPage {
            lines: lines.into_iter().map(|l| record(l)).collect(),
            missed: match selection.after_seq {
                Some(_) => read.missed,
                None => Some(0),
            },
            next_seq: read.next_seq,
        })
    }

    /// `stream_followLogs` (and the CLI's `log`): the lines the query
    /// selects, then every new one, with gaps where a slow reader lost some.
    /// Without `after_seq`, `since` or `last`, only new lines.
    pub fn follow_logs(&self, query: &LogQuery) -> Result<LogFollow, ApiError> {
        let selection = query.check("follow_logs")?;
        let service = selection.service.clone();
        let start = match (selection.after_seq, selection.last) {
            // Resuming, but only the newest N: pick them now, then follow
            // from just before the first of them. Nothing of the view after
            // it can have been dropped (a service's lines go oldest first),
            // so this adds no false gap; a real one is reported as usual.
            (Some(_), Some(_)) => {
                let page = self.read_logs(query)?;
                let before_first = page.lines.first().map_or(page.next_seq, |l| l.seq);
                LogFrom::AfterSeq(before_first.saturating_sub(1))
            }
            (Some(seq), None) => LogFrom::AfterSeq(seq),
            // The newest N, of those since a time when both are given: the
            // newest N overall narrowed by `since` are exactly those.
            (None, Some(n)) => LogFrom::Last(n),
            (None, None) => selection.start(LogFrom::Now),
        };
        Ok(LogFollow {
            follower: self.logs.follow(service, start),
            since: selection.since,
        })
    }
}

/// One kept line as the wire shows it.
pub fn record(line: &LogLine) -> LogRecord {
    LogRecord {
        seq: line.seq,
        time: rfc3339(line.time),
        service: line.service.to_string(),
        stream: match line.stream {
            Stream::Stdout => LogStream::Stdout,
            Stream::Stderr => LogStream::Stderr,
        },
        text: line.text.clone(),
        truncated: line.truncated,
    }
}

/// A follower's item as the wire shows it.
pub fn item(item: &FollowItem) -> LogItem {
    match item {
        FollowItem::Line(line) => LogItem::Line(record(line)),
        FollowItem::Gap { missed } => LogItem::Gap { missed: *missed },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_times_and_durations() {
        let now = humantime::parse_rfc3339("2026-11-24T10:00:00Z").unwrap();
        let at = |t: &str| humantime::format_rfc3339(parse_since(t, now, "t").unwrap()).to_string();
        assert_eq!(at("10m"), "2026-11-24T09:50:00Z");
        assert_eq!(at("1h 30m"), "2026-11-24T08:30:00Z");
        assert_eq!(at("2026-11-24T09:00:00Z"), "2026-11-24T09:00:00Z");
        assert_eq!(at("2026-11-24 09:00:00"), "2026-11-24T09:00:00Z");
        let err = parse_since("soon", now, "read_logs").unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidParams);
        assert!(
            err.message.contains("\"since\" \"soon\""),
            "{}",
            err.message
        );
        assert_eq!(
            parse_since("100000000000h", now, "t").unwrap(),
            SystemTime::UNIX_EPOCH
        );
    }
}
