//! The log stream of the legacy `log` / `log snapshot` command: plain text,
//! one line at a time, until the daemon closes (snapshot) or the caller
//! drops the stream (follow).

use crate::error::{from_legacy_message, ClientError};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::UnixStream;
use zinit_proto::legacy;

/// Log lines as the daemon sends them (`[+] NAME: text` for stdout,
/// `[-] NAME: text` for stderr, and zinit's own lines).
#[derive(Debug)]
pub struct LogLines {
    reader: BufReader<UnixStream>,
    first: bool,
    buf: String,
}

impl LogLines {
    pub(crate) fn new(stream: UnixStream) -> Self {
        LogLines {
            reader: BufReader::new(stream),
            first: true,
            buf: String::new(),
        }
    }

    /// The next line without its line ending, or `None` when the daemon
    /// closed the stream. A refusal sent instead of logs (a legacy error
    /// reply as the first line, e.g. while shutting down) is an error.
    pub async fn next_line(&mut self) -> Result<Option<String>, ClientError> {
        self.buf.clear();
        if self.reader.read_line(&mut self.buf).await? == 0 {
            return Ok(None);
        }
        let line = self.buf.trim_end_matches(['\n', '\r']).to_string();
        if std::mem::take(&mut self.first) && line.starts_with("{\"state\"") {
            if let Some(Err(message)) = legacy::parse_reply(&line) {
                return Err(ClientError::Rpc(from_legacy_message(message)));
            }
        }
        Ok(Some(line))
    }
}

/// The service a log line belongs to: `NAME` in `[+] NAME: text` or
/// `[-] NAME: text`; `None` for other lines.
pub fn log_line_service(line: &str) -> Option<&str> {
    let rest = line
        .strip_prefix("[+] ")
        .or_else(|| line.strip_prefix("[-] "))?;
    let (name, _) = rest.split_once(':')?;
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_of_a_line() {
        assert_eq!(log_line_service("[+] redis: ready"), Some("redis"));
        assert_eq!(log_line_service("[-] redis: oops: x"), Some("redis"));
        assert_eq!(log_line_service("[+] : x"), None);
        assert_eq!(log_line_service("zinit: starting redis"), None);
        assert_eq!(log_line_service("[*] a: b"), None);
    }
}
