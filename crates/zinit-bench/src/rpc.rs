//! zinit JSON-RPC `service_status` round trips over the control socket on
//! keep-alive connections: each request ended by a newline (as
//! `zinit-client` 0.4 sends it) or by nothing but its closing brace (as
//! upstream's reth-ipc client sends it).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer};

use crate::{load, Failure, Rate, Summary};

/// A keep-alive JSON-RPC client asking for one service's status.
pub struct RpcClient {
    path: PathBuf,
    name: String,
    writer: UnixStream,
    reader: BufReader<UnixStream>,
    /// `"NAME"` as a JSON string, escaped once.
    name_json: String,
    request: Vec<u8>,
    reply: String,
    id: u64,
    /// End each request with `\n`.
    newline: bool,
}

impl RpcClient {
    pub fn connect(path: &Path, name: &str) -> Result<RpcClient, Failure> {
        RpcClient::framed(path, name, true)
    }

    /// A client that ends each request with a newline, or not.
    pub fn framed(path: &Path, name: &str, newline: bool) -> Result<RpcClient, Failure> {
        let writer = UnixStream::connect(path)
            .map_err(|e| Failure::io(format_args!("connect to {}", path.display()), e))?;
        let reader = writer
            .try_clone()
            .map_err(|e| Failure::io(format_args!("socket {}", path.display()), e))?;
        let name_json =
            serde_json::to_string(name).map_err(|e| Failure(format!("service name: {e}")))?;
        Ok(RpcClient {
            path: path.to_owned(),
            name: name.to_owned(),
            writer,
            reader: BufReader::new(reader),
            name_json,
            request: Vec::with_capacity(128),
            reply: String::with_capacity(1024),
            id: 0,
            newline,
        })
    }

    /// Writes one request and reads one reply line; I/O only, so that it
    /// can be timed without the cost of checking the reply.
    pub fn round_trip(&mut self) -> Result<(), Failure> {
        self.id += 1;
        self.request.clear();
        // Writing into a Vec cannot fail.
        let _ = write!(
            self.request,
            "{{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"service_status\",\"params\":[{}]}}",
            self.id, self.name_json
        );
        if self.newline {
            self.request.push(b'\n');
        }
        self.writer
            .write_all(&self.request)
            .map_err(|e| Failure::io(format_args!("write to {}", self.path.display()), e))?;
        self.reply.clear();
        let n = self
            .reader
            .read_line(&mut self.reply)
            .map_err(|e| Failure::io(format_args!("read from {}", self.path.display()), e))?;
        if n == 0 || !self.reply.ends_with('\n') {
            return Err(Failure(format!(
                "{}: connection closed before a complete reply",
                self.path.display()
            )));
        }
        Ok(())
    }

    /// Checks that the last reply answers the last request with a `result`.
    pub fn check_reply(&self) -> Result<(), Failure> {
        let line = self.reply.trim_end();
        let fail = |why: &str| {
            Failure(format!(
                "service_status {} on {}: {why}: {}",
                self.name,
                self.path.display(),
                shorten(line)
            ))
        };
        let reply: Reply =
            serde_json::from_str(line).map_err(|_| fail("reply is not a JSON object"))?;
        if matches!(reply.error, Presence::Present) {
            return Err(fail("error reply"));
        }
        if matches!(reply.result, Presence::Absent) {
            return Err(fail("reply has no \"result\""));
        }
        if reply.id != Some(self.id) {
            return Err(fail(&format!("reply id is not {}", self.id)));
        }
        Ok(())
    }

    /// One checked request.
    pub fn call(&mut self) -> Result<(), Failure> {
        self.round_trip()?;
        self.check_reply()
    }
}

/// The parts of a reply we check, read without building the result object.
#[derive(Deserialize)]
struct Reply {
    #[serde(default)]
    id: Option<u64>,
    #[serde(default)]
    result: Presence,
    #[serde(default)]
    error: Presence,
}

/// Whether a member is there at all (`null` counts as there).
#[derive(Default)]
enum Presence {
    #[default]
    Absent,
    Present,
}

impl<'de> Deserialize<'de> for Presence {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        IgnoredAny::deserialize(d)?;
        Ok(Presence::Present)
    }
}

fn shorten(s: &str) -> &str {
    match s.char_indices().nth(300) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// `runs` timed round trips on one connection (after one untimed), each
/// request ended by a newline or not; every reply is checked, outside the
/// timed part.
pub fn rpc_rtt(socket: &Path, name: &str, runs: u64, newline: bool) -> Result<Summary, Failure> {
    let mut client = RpcClient::framed(socket, name, newline)?;
    client.call()?;
    let mut samples: Vec<Duration> = Vec::with_capacity(runs as usize);
    for _ in 0..runs {
        let start = Instant::now();
        client.round_trip()?;
        samples.push(start.elapsed());
        client.check_reply()?;
    }
    Summary::of(&samples).ok_or_else(|| Failure("no runs measured".into()))
}

/// `clients` keep-alive clients for `seconds`; checked requests per second.
pub fn rpc_load(socket: &Path, name: &str, clients: usize, seconds: f64) -> Result<Rate, Failure> {
    load::run(
        clients,
        seconds,
        || RpcClient::connect(socket, name),
        RpcClient::call,
    )
}
