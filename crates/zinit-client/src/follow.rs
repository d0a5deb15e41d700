//! Log records with sequence numbers: one page (`stream_readLogs`) or a
//! follow subscription (`stream_followLogs`) that stays open and yields
//! lines and gap notices as the daemon pushes them.

use crate::error::ClientError;
use serde_json::{Map, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::UnixStream;
use zinit_proto::observe::LogItem;

/// Which lines to read or to start following from (all optional).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogQuery {
    /// Only this service's lines.
    pub name: Option<String>,
    /// Only lines after this seq (resume).
    pub after_seq: Option<u64>,
    /// Only the newest N lines.
    pub last: Option<u64>,
    /// RFC 3339 time, or a duration back from now (`10m`).
    pub since: Option<String>,
}

impl LogQuery {
    /// The named params of the request.
    pub(crate) fn to_params(&self) -> Value {
        let mut params = Map::new();
        if let Some(name) = &self.name {
            params.insert("name".into(), name.clone().into());
        }
        if let Some(seq) = self.after_seq {
            params.insert("after_seq".into(), seq.into());
        }
        if let Some(last) = self.last {
            params.insert("last".into(), last.into());
        }
        if let Some(since) = &self.since {
            params.insert("since".into(), since.clone().into());
        }
        Value::Object(params)
    }
}

/// An open `stream_followLogs` subscription.
#[derive(Debug)]
pub struct LogFollow {
    reader: BufReader<UnixStream>,
    subscription: Value,
    buf: String,
}

impl LogFollow {
    pub(crate) fn new(reader: BufReader<UnixStream>, subscription: Value) -> Self {
        LogFollow {
            reader,
            subscription,
            buf: String::new(),
        }
    }

    /// The next line or gap notice; `None` when the daemon closed the
    /// connection (it is shutting down).
    pub async fn next(&mut self) -> Result<Option<LogItem>, ClientError> {
        loop {
            self.buf.clear();
            if self.reader.read_line(&mut self.buf).await? == 0 {
                return Ok(None);
            }
            let push: Value = serde_json::from_str(&self.buf)
                .map_err(|e| ClientError::Protocol(format!("unreadable log push: {e}")))?;
            let params = &push["params"];
            // Only our subscription's pushes; anything else on the
            // connection is not for us.
            if params["subscription"] != self.subscription {
                continue;
            }
            let item = serde_json::from_value(params["result"].clone())
                .map_err(|e| ClientError::Protocol(format!("unexpected log push: {e}")))?;
            return Ok(Some(item));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_given_fields_become_params() {
        assert_eq!(LogQuery::default().to_params(), json!({}));
        let query = LogQuery {
            name: Some("web".into()),
            after_seq: Some(0),
            last: Some(5),
            since: Some("10m".into()),
        };
        assert_eq!(
            query.to_params(),
            json!({"name": "web", "after_seq": 0, "last": 5, "since": "10m"})
        );
    }
}
