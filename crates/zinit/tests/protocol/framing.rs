//! JSON-RPC framing as every client generation frames it: a request ends
//! where its JSON value ends, newline or not. Each reply must come from the
//! framing itself: the connection stays open (no half-close ends the
//! request) and every read gives up at [`PROMPT`], half the daemon's idle
//! timeout, so no answer can be one the timeout provoked.

use super::*;
use serde_json::de::IoRead;
use serde_json::StreamDeserializer;
use std::io::Read;
use std::time::Duration;

/// Half the daemon's 10 s idle timeout: a reply within this came from the
/// request, not from the connection timing out.
const PROMPT: Duration = Duration::from_secs(5);

/// A connection read as a stream of JSON values, as reth-ipc reads it.
struct JsonStream {
    writer: UnixStream,
    values: StreamDeserializer<'static, IoRead<UnixStream>, Value>,
}

impl JsonStream {
    fn open(socket: &Path) -> JsonStream {
        let stream = UnixStream::connect(socket).unwrap();
        stream.set_read_timeout(Some(PROMPT)).unwrap();
        JsonStream {
            writer: stream.try_clone().unwrap(),
            values: serde_json::Deserializer::from_reader(stream).into_iter(),
        }
    }

    fn write(&mut self, bytes: &str) {
        self.writer.write_all(bytes.as_bytes()).unwrap();
    }

    /// The next JSON value the daemon sent, within [`PROMPT`].
    fn next(&mut self) -> Value {
        match self.values.next() {
            Some(Ok(value)) => value,
            other => panic!("no JSON value within {PROMPT:?}: {other:?}"),
        }
    }

    /// Nothing arrives for `wait` (the request is not complete yet).
    fn nothing_for(&self, wait: Duration) {
        let mut reader = &self.writer;
        self.writer.set_read_timeout(Some(wait)).unwrap();
        let mut byte = [0u8; 1];
        let got = reader.read(&mut byte);
        self.writer.set_read_timeout(Some(PROMPT)).unwrap();
        match got {
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            other => panic!("expected nothing yet, got {other:?}"),
        }
    }
}

fn list_request(id: u64) -> String {
    format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"service_list"}}"#)
}

fn list_reply(id: u64) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": {"web": "Running"}})
}

#[test]
fn requests_end_with_their_json_value_newline_or_not() {
    let d = Daemon::new();
    d.service("web", LOOP);
    let d = d.start();
    d.wait_running("web");

    // Upstream's documented Python client: one request with no newline, a
    // dotted method name, one recv.
    let mut python = UnixStream::connect(&d.socket).unwrap();
    python.set_read_timeout(Some(PROMPT)).unwrap();
    python
        .write_all(br#"{"jsonrpc": "2.0", "method": "service.list", "params": {}, "id": 1}"#)
        .unwrap();
    let mut recv = vec![0u8; 4096];
    let n = python.read(&mut recv).unwrap();
    let reply: Value = serde_json::from_slice(&recv[..n]).unwrap();
    assert_eq!(reply, list_reply(1));

    let mut c = JsonStream::open(&d.socket);
    // One request split over two writes, no newline anywhere.
    let request = list_request(2);
    let (head, tail) = request.split_at(17);
    c.write(head);
    c.nothing_for(Duration::from_millis(200));
    c.write(tail);
    assert_eq!(c.next(), list_reply(2));
    // Two requests back to back in one write, no separator.
    c.write(&format!("{}{}", list_request(3), list_request(4)));
    assert_eq!(c.next(), list_reply(3));
    assert_eq!(c.next(), list_reply(4));
    // A pretty-printed request over several lines.
    c.write("{\n  \"jsonrpc\": \"2.0\",\n  \"id\": 5,\n  \"method\": \"service_list\"\n}");
    assert_eq!(c.next(), list_reply(5));
    // Any whitespace between values, a batch among them, strings holding
    // brackets and escaped quotes.
    c.write(&format!(
        " \t\r\n{}\r\n\t[{}, {{\"jsonrpc\":\"2.0\",\"id\":\"}}]\\\"[\",\"method\":\"service_list\"}}]",
        list_request(6),
        list_request(7)
    ));
    assert_eq!(c.next(), list_reply(6));
    let mut batch = list_reply(7);
    let mut odd = list_reply(0);
    odd["id"] = json!("}]\"[");
    batch = json!([batch, odd]);
    assert_eq!(c.next(), batch);
    // Newline-terminated requests, as zinit-client 0.4 sends them, on the
    // same connection.
    c.write(&format!("{}\n", list_request(8)));
    assert_eq!(c.next(), list_reply(8));

    // Errors stay prompt: a value already wrong at a newline is answered
    // at once, and the session goes on.
    c.write("{\"jsonrpc\" \"2.0\",\n");
    let parse = c.next();
    assert_eq!(parse["error"]["code"], -32700, "{parse}");
    assert_eq!(parse["id"], Value::Null);
    c.write(&list_request(9));
    assert_eq!(c.next(), list_reply(9));
    // Brackets that balance around invalid JSON: a parse error, no wait.
    c.write("{\"jsonrpc\":2.0,}");
    assert_eq!(c.next()["error"]["code"], -32700);
    // A value that is not an object or array ends at its line.
    c.write("42\n");
    assert_eq!(c.next()["error"]["code"], -32600);
    c.write(&list_request(10));
    assert_eq!(c.next(), list_reply(10));

    // A client that reads to end of file: half-closing after its request
    // brings the reply and the end at once (docs/compat.md).
    let mut eof_reader = UnixStream::connect(&d.socket).unwrap();
    eof_reader.set_read_timeout(Some(PROMPT)).unwrap();
    eof_reader.write_all(list_request(11).as_bytes()).unwrap();
    eof_reader.shutdown(std::net::Shutdown::Write).unwrap();
    let mut all = String::new();
    eof_reader.read_to_string(&mut all).unwrap();
    assert!(
        all.ends_with('\n') && all.matches('\n').count() == 1,
        "{all:?}"
    );
    assert_eq!(serde_json::from_str::<Value>(&all).unwrap(), list_reply(11));
}

#[test]
fn unsubscribing_ends_a_subscription_and_nothing_of_it_follows() {
    let d = Daemon::talkers();

    let mut c = JsonStream::open(&d.socket);
    // Upstream's server names the parameter `filter`.
    c.write(
        r#"{"jsonrpc":"2.0","id":1,"method":"stream_subscribeLogs","params":{"filter":"web"}}"#,
    );
    let id = c.next()["result"].clone();
    assert!(id.is_u64(), "{id}");
    // A witness that sees every line, to know when one was written.
    let mut witness = JsonStream::open(&d.socket);
    witness.write(r#"{"jsonrpc":"2.0","id":1,"method":"stream_subscribeLogs"}"#);
    let witness_id = witness.next()["result"].clone();
    let witness_sees = |witness: &mut JsonStream, line: &str| loop {
        let note = witness.next();
        if note["params"]["result"] == line {
            break;
        }
    };

    d.ok(&["restart", "db"]);
    witness_sees(&mut witness, "[+] db: db up");
    d.ok(&["restart", "web"]);
    let note = c.next();
    assert_eq!(
        note,
        json!({"jsonrpc": "2.0", "method": "stream_subscribeLogs",
               "params": {"subscription": id, "result": "[+] web: hello"}})
    );
    witness_sees(&mut witness, "[+] web: hello");

    // jsonrpsee's unsubscribe: the id by position; true once, then false.
    c.write(&format!(
        r#"{{"jsonrpc":"2.0","id":2,"method":"stream_unsubscribeLogs","params":[{id}]}}"#
    ));
    assert_eq!(c.next(), json!({"jsonrpc": "2.0", "id": 2, "result": true}));
    d.ok(&["restart", "web"]);
    witness_sees(&mut witness, "[+] web: hello");
    // The next value is the reply to this request, not a late line.
    c.write(&list_request(3));
    assert_eq!(c.next()["id"], 3);
    for params in [
        json!([id]),
        json!([id.to_string()]),
        json!(["x"]),
        json!({"subscription": 99999}),
    ] {
        c.write(&json!({"jsonrpc": "2.0", "id": 4, "method": "stream_unsubscribeLogs", "params": params}).to_string());
        assert_eq!(
            c.next(),
            json!({"jsonrpc": "2.0", "id": 4, "result": false}),
            "{params}"
        );
    }
    c.write(r#"{"jsonrpc":"2.0","id":5,"method":"stream_unsubscribeLogs","params":[]}"#);
    assert_eq!(c.next()["error"]["code"], -32602);

    // A subscription by string id, and one of another connection stays.
    c.write(r#"{"jsonrpc":"2.0","id":6,"method":"stream.subscribeLogs","params":["db"]}"#);
    let db = c.next()["result"].clone();
    c.write(&format!(
        r#"{{"jsonrpc":"2.0","id":7,"method":"stream_unsubscribeLogs","params":["{db}"]}}"#
    ));
    assert_eq!(c.next()["result"], true);
    let mut other = JsonStream::open(&d.socket);
    // Another connection cannot end the witness's subscription.
    other.write(&format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"stream_unsubscribeLogs","params":[{witness_id}]}}"#
    ));
    assert_eq!(other.next()["result"], false);
    d.ok(&["restart", "web"]);
    witness_sees(&mut witness, "[+] web: hello");
}
