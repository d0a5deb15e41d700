//! The properties zinit's parsers must keep for ANY input, as functions of
//! raw bytes. The cargo-fuzz targets in `fuzz_targets/` call them under
//! libFuzzer; `tests/smoke.rs` replays the committed corpus and mutated
//! inputs through the same functions as ordinary tests on stable Rust.
//!
//! Each function panics (via `assert!`) when a property fails; "no panic"
//! alone is not the goal, every target also checks what the output means.

use serde_json::Value;
use zinit_core::config::{parse_service, service_file_to_json, Diagnostic, Severity};
use zinit_core::envfile::parse_environment;
use zinit_proto::jsonrpc::{self, Frame, Method, Request, Response, ValueScanner};
use zinit_proto::legacy::{self, LegacyCommand};

/// A service file (YAML text) lowered to a spec, with diagnostics.
///
/// - every diagnostic names the file, sits at a line:col inside the text
///   (or at 0:0 for the whole file) and renders on one line;
/// - a failure carries at least one error, a success none; both in order;
/// - what `service_get` shows (the file as JSON) written back the way
///   `service_create` writes it (`to_yaml`) reads as the same JSON, and,
///   when the file loaded, as the same spec.
pub fn service_file(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let parsed = parse_service("f.yaml", &text);
    let diags = match &parsed {
        Ok(p) => {
            assert!(
                p.warnings.iter().all(|d| d.severity == Severity::Warning),
                "an error among the warnings of a loaded file: {:?}",
                p.warnings
            );
            &p.warnings
        }
        Err(d) => {
            assert!(
                d.iter().any(Diagnostic::is_error),
                "a failed file without an error: {d:?}"
            );
            d
        }
    };
    check_diagnostics(&text, diags);

    let json = service_file_to_json("f.yaml", &text);
    if let Err(d) = &json {
        check_diagnostics(&text, d);
        assert!(d.iter().any(Diagnostic::is_error), "{d:?}");
    }
    // A file that loads is a mapping without YAML-level problems.
    if parsed.is_ok() {
        assert!(json.is_ok(), "loaded, but service_get fails: {json:?}");
    }
    if let Ok(value) = json {
        let rendered = zinit_proto::yaml::to_yaml(&value);
        let again = service_file_to_json("f.yaml", &rendered).unwrap_or_else(|d| {
            panic!("service_get output written back does not parse: {d:?}\n{rendered}")
        });
        assert_eq!(again, value, "JSON -> YAML -> JSON changed:\n{rendered}");
        if let Ok(first) = &parsed {
            let second = parse_service("f.yaml", &rendered).unwrap_or_else(|d| {
                panic!("a loaded file written back does not load: {d:?}\n{rendered}")
            });
            assert_eq!(first.spec, second.spec, "spec changed:\n{rendered}");
        }
    }
}

/// Lines as YAML counts them (`\n`, `\r\n` and `\r` end a line); a
/// position may also be just past the end.
fn check_diagnostics(text: &str, diags: &[Diagnostic]) {
    let lines: Vec<usize> = text
        .replace("\r\n", "\n")
        .split(['\n', '\r'])
        .map(|l| l.chars().count())
        .collect();
    let mut last = (0, 0);
    for d in diags {
        assert_eq!(d.file, "f.yaml");
        assert!(!d.message.is_empty(), "{d:?}");
        if d.line == 0 {
            assert_eq!(d.column, 0, "a column without a line: {d:?}");
        } else {
            assert!(
                d.line <= lines.len(),
                "line {} outside a text of {} lines: {d:?}",
                d.line,
                lines.len()
            );
            assert!(
                d.column >= 1 && d.column <= lines[d.line - 1] + 1,
                "column {} outside line {} ({} chars): {d:?}",
                d.column,
                d.line,
                lines[d.line - 1]
            );
        }
        let rendered = d.to_string();
        assert!(
            !rendered.contains(['\n', '\r']),
            "a diagnostic spans lines: {rendered:?}"
        );
        assert!((d.line, d.column) >= last, "diagnostics out of order");
        last = (d.line, d.column);
    }
}

/// The legacy line protocol.
///
/// - any line parses or is refused with a one-line message; an accepted
///   command rendered again (`to_line`) parses to the same command;
/// - a command built from the input as a name (every verb) renders to one
///   line that parses back to itself (what the client sends, the server
///   reads);
/// - error and ok replies are single-line JSON objects that decode back.
pub fn legacy_line(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    // Client side: a reply that decodes as ok re-encodes to the same body.
    if let Some(Ok(body)) = legacy::parse_reply(&text) {
        assert_eq!(
            legacy::parse_reply(&legacy::reply_ok(&body)),
            Some(Ok(body))
        );
    }
    match legacy::parse_command(&text) {
        Ok(command) => round_trip_legacy(&command),
        Err(message) => {
            let reply = legacy::reply_error(&message);
            assert_one_line(&reply);
            assert_eq!(legacy::parse_reply(&reply), Some(Err(message)));
        }
    }
    // The input as an argument of every command.
    let (name, signal) = match text.split_once('\u{1}') {
        Some((n, s)) => (n.to_owned(), s.to_owned()),
        None => (text.to_string(), "SIGTERM".to_owned()),
    };
    for command in [
        LegacyCommand::Status(name.clone()),
        LegacyCommand::Start(name.clone()),
        LegacyCommand::Stop(name.clone()),
        LegacyCommand::Restart(name.clone()),
        LegacyCommand::Monitor(name.clone()),
        LegacyCommand::Forget(name.clone()),
        LegacyCommand::Stats(name.clone()),
        LegacyCommand::Kill { name, signal },
    ] {
        round_trip_legacy(&command);
    }
    let body = Value::String(text.to_string());
    let reply = legacy::reply_ok(&body);
    assert_one_line(&reply);
    assert_eq!(legacy::parse_reply(&reply), Some(Ok(body)));
}

fn round_trip_legacy(command: &LegacyCommand) {
    let line = match command.to_line() {
        Ok(line) => line,
        Err(_) => {
            // Only a NUL byte in an argument makes a command unrenderable.
            assert!(format!("{command:?}").contains("\\0"), "{command:?}");
            return;
        }
    };
    assert!(line.ends_with('\n'), "{line:?}");
    let again = legacy::parse_command(&line)
        .unwrap_or_else(|e| panic!("{command:?} rendered as {line:?} does not parse: {e}"));
    assert_eq!(&again, command, "{line:?}");
}

fn assert_one_line(reply: &str) {
    assert!(reply.ends_with('\n'), "{reply:?}");
    assert!(
        !reply[..reply.len() - 1].contains(['\n', '\r']),
        "a reply spans lines: {reply:?}"
    );
}

/// JSON-RPC 2.0 framing and params.
///
/// - every frame gets the response the specification asks for: invalid
///   JSON -32700 with id null, a non-request -32600, notifications none;
/// - every response is one line starting with `{"jsonrpc":"2.0"` that
///   decodes back to itself; a batch reply is an array of them;
/// - an accepted request re-serialised (`to_line`) parses to itself;
/// - resolving the method and reading each of its params never panics,
///   and refusals are -32601/-32602;
/// - (client side) a line that decodes as a response encodes back to it.
pub fn jsonrpc_frame(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    // Client side: a response that decodes re-encodes to itself.
    if let Ok(response) = Response::from_line(&text) {
        check_response_line(&response);
    }
    match jsonrpc::parse_frame(&text) {
        Frame::Invalid(response) => {
            assert_eq!(response.id, Value::Null);
            let code = response.outcome.as_ref().map_err(|e| e.code);
            assert!(
                code == Err(-32700) || code == Err(-32600),
                "invalid frame answered with {code:?}"
            );
            if serde_json::from_str::<Value>(&text).is_ok() {
                assert_eq!(code, Err(-32600), "valid JSON called a parse error");
            }
            check_response_line(&response);
        }
        Frame::Single(item) => {
            if let Some(response) = answer(item) {
                check_response_line(&response);
            }
        }
        Frame::Batch(items) => {
            assert!(!items.is_empty(), "an empty batch is a frame");
            let responses: Vec<Response> = items.into_iter().filter_map(answer).collect();
            match jsonrpc::batch_line(&responses) {
                None => assert!(responses.is_empty()),
                Some(line) => {
                    assert_one_line(&line);
                    let Value::Array(values) = serde_json::from_str(&line).expect("batch is JSON")
                    else {
                        panic!("batch reply is not an array: {line}")
                    };
                    assert_eq!(values.len(), responses.len());
                    for (value, response) in values.into_iter().zip(&responses) {
                        assert_eq!(&Response::from_value(value).expect("valid"), response);
                    }
                }
            }
        }
    }
}

/// The response a server would send for one parsed element (a stand-in
/// result for an accepted request), checking the request on the way.
fn answer(item: Result<Request, Response>) -> Option<Response> {
    let request = match item {
        Ok(request) => request,
        Err(response) => {
            assert_eq!(response.outcome.as_ref().map_err(|e| e.code), Err(-32600));
            return Some(response);
        }
    };
    // Re-serialised, it is the same request.
    let line = request.to_line();
    assert_one_line(&line);
    assert!(line.starts_with(r#"{"jsonrpc":"2.0""#), "{line}");
    match jsonrpc::parse_frame(&line) {
        Frame::Single(Ok(again)) => assert_eq!(again, request, "{line}"),
        other => panic!("{request:?} re-serialised as {line} parses as {other:?}"),
    }
    let outcome = match request.resolve() {
        Ok(method) => read_params(&request, method),
        Err(e) => {
            assert!(
                e.code == -32601 || e.code == -32602,
                "resolve gave {}",
                e.code
            );
            Err(e)
        }
    };
    let response = request.respond(outcome);
    assert_eq!(response.is_none(), request.is_notification());
    if let Some(response) = &response {
        assert_eq!(Some(&response.id), request.id.as_ref());
    }
    response
}

/// Read every parameter of `method` with every accessor a handler uses.
fn read_params(request: &Request, method: Method) -> Result<Value, zinit_proto::errors::RpcError> {
    let params = &request.params;
    for (i, name) in method.param_names().iter().enumerate() {
        for result in [
            params.required_str(i, name).map(|_| ()),
            params.optional_str(i, name).map(|_| ()),
            params.optional_u64(i, name).map(|_| ()),
            params.required_object(i, name).map(|_| ()),
        ] {
            if let Err(e) = result {
                assert_eq!(e.code, -32602, "{e:?}");
            }
        }
    }
    Ok(serde_json::json!({ "method": method.canonical_name() }))
}

fn check_response_line(response: &Response) {
    let line = response.to_line();
    assert_one_line(&line);
    assert!(line.starts_with(r#"{"jsonrpc":"2.0""#), "{line}");
    let again = Response::from_line(&line).unwrap_or_else(|e| panic!("{line}: {e}"));
    assert_eq!(&again, response);
}

/// A JSON-RPC byte stream split into requests as the socket splits it
/// ([`ValueScanner`], driven the way the daemon's reader drives it: blanks
/// between requests skipped, bytes appended as they arrive). The first
/// byte picks a chunk size for the rest.
///
/// - the split does not depend on how the bytes arrive: one at a time,
///   in chunks of the picked size, or all at once give the same frames;
/// - nothing is lost or invented: the frames and the blanks between them
///   are the input, in order; no frame starts with a blank;
/// - a stream of objects and arrays that `serde_json` reads as valid JSON
///   values is split into exactly those values (an invalid escape may make
///   `serde_json` call a balanced frame unfinished: only valid input has
///   one right split);
/// - every frame gets an answer through [`jsonrpc_frame`]'s checks.
pub fn jsonrpc_stream(data: &[u8]) {
    let Some((&pick, stream)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(pick % 16) + 1;
    let (frames, rest) = split_stream(stream, chunk);
    assert_eq!(split_stream(stream, 1), (frames.clone(), rest.clone()));
    assert_eq!(
        split_stream(stream, stream.len().max(1)),
        (frames.clone(), rest.clone())
    );
    // Frames are the input's own bytes, in order, with only blanks (a
    // bare value's line ending among them) between them.
    let mut at = 0;
    for (start, frame) in frames.iter().chain(rest.as_ref()) {
        assert!(*start >= at, "frames overlap");
        assert!(
            stream[at..*start].iter().all(u8::is_ascii_whitespace),
            "bytes skipped that are not blanks"
        );
        assert!(
            !frame[0].is_ascii_whitespace(),
            "a frame starts with a blank"
        );
        assert_eq!(&stream[*start..*start + frame.len()], frame.as_slice());
        at = start + frame.len();
    }
    if let Some((start, tail)) = &rest {
        assert_eq!(
            start + tail.len(),
            stream.len(),
            "the unfinished tail is the end"
        );
    } else {
        assert!(stream[at..].iter().all(u8::is_ascii_whitespace));
    }
    if let Some(values) = json_values(stream) {
        let split: Vec<(usize, usize)> = frames.iter().map(|(at, f)| (*at, at + f.len())).collect();
        assert_eq!(split, values, "valid JSON values split differently");
        assert!(rest.is_none());
    }
    for (_, frame) in &frames {
        jsonrpc_frame(frame);
    }
}

/// Where each value of `stream` starts and ends, when it is nothing but
/// objects and arrays separated by blanks, as `serde_json` reads it.
fn json_values(stream: &[u8]) -> Option<Vec<(usize, usize)>> {
    let mut values = serde_json::Deserializer::from_slice(stream).into_iter::<Value>();
    let mut found = Vec::new();
    let mut end = 0;
    while let Some(value) = values.next() {
        let value = value.ok()?;
        let start = end
            + stream[end..]
                .iter()
                .position(|b| !b.is_ascii_whitespace())?;
        if !matches!(value, Value::Object(_) | Value::Array(_)) {
            return None;
        }
        end = values.byte_offset();
        found.push((start, end));
    }
    Some(found)
}

/// A frame and where it starts in the stream.
type Located = (usize, Vec<u8>);

/// The frames of `stream` and its unfinished tail, if any, fed `chunk`
/// bytes at a time.
fn split_stream(stream: &[u8], chunk: usize) -> (Vec<Located>, Option<Located>) {
    let mut frames = Vec::new();
    let mut partial: Vec<u8> = Vec::new();
    let mut start = 0;
    let mut scanner = ValueScanner::new();
    let mut at = 0;
    while at < stream.len() {
        if partial.is_empty() {
            if stream[at].is_ascii_whitespace() {
                at += 1;
                continue;
            }
            start = at;
        }
        let take = chunk.min(stream.len() - at);
        let before = partial.len();
        // As the daemon's reader does: a frame that begins in this chunk is
        // scanned where it lies, and only its own bytes are copied.
        let end = if before == 0 {
            scanner.scan(&stream[at..at + take])
        } else {
            partial.extend_from_slice(&stream[at..at + take]);
            scanner.scan(&partial)
        };
        match end {
            Some(end) => {
                assert!(end.len <= end.consumed && end.consumed <= before + take);
                assert!(
                    end.consumed > before,
                    "a frame ended in bytes already scanned"
                );
                if before == 0 {
                    partial.extend_from_slice(&stream[at..at + end.len]);
                } else {
                    partial.truncate(end.len);
                }
                at += end.consumed - before;
                assert!(!partial.is_empty(), "an empty frame");
                frames.push((start, std::mem::take(&mut partial)));
                scanner = ValueScanner::new();
            }
            None => {
                if before == 0 {
                    partial.extend_from_slice(&stream[at..at + take]);
                }
                at += take;
            }
        }
    }
    let rest = (!partial.is_empty()).then_some((start, partial));
    (frames, rest)
}

/// `/etc/environment`.
///
/// - warnings name a line of the text; keys are shell names, unique, and
///   values hold no NUL;
/// - the variables written back as `KEY='VALUE'` lines parse to the same
///   variables without warnings.
pub fn envfile(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (vars, warnings) = parse_environment(&text);
    let line_count = text.lines().count();
    for w in &warnings {
        let n: usize = w
            .strip_prefix("line ")
            .and_then(|r| r.split(':').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("warning without a line: {w:?}"));
        assert!(n >= 1 && n <= line_count, "{w:?} in {line_count} lines");
        assert!(!w.contains('\n'), "{w:?}");
    }
    let mut keys = std::collections::BTreeSet::new();
    for (k, v) in &vars {
        assert!(keys.insert(k), "{k} twice");
        assert!(!k.is_empty() && !k.as_bytes()[0].is_ascii_digit(), "{k:?}");
        assert!(
            k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
            "{k:?}"
        );
        assert!(!v.contains(['\0', '\n']), "{v:?}");
    }
    let rendered: String = vars.iter().map(|(k, v)| format!("{k}='{v}'\n")).collect();
    let (again, warnings) = parse_environment(&rendered);
    assert!(warnings.is_empty(), "{warnings:?}\n{rendered}");
    assert_eq!(again, vars, "{rendered}");
}
