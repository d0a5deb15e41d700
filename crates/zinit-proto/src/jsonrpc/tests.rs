//! Framing rules of the JSON-RPC 2.0 specification, one test per rule, plus
//! the specification's own batch example run through a toy dispatcher.

use super::*;
use crate::errors::{INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND, PARSE_ERROR};
use serde_json::json;

fn single(line: &str) -> Result<Request, Response> {
    match parse_frame(line) {
        Frame::Single(r) => r,
        other => panic!("expected a single frame for {line}, got {other:?}"),
    }
}

fn invalid(line: &str) -> Response {
    match parse_frame(line) {
        Frame::Invalid(r) => r,
        other => panic!("expected an invalid frame for {line}, got {other:?}"),
    }
}

fn error_code(response: &Response) -> i64 {
    response.outcome.as_ref().err().map(|e| e.code).unwrap_or(0)
}

/// A toy server: echoes the first param, knows only zinit methods.
fn answer(request: &Request) -> Option<Response> {
    let outcome = request.resolve().and_then(|method| match method {
        Method::ServiceStatus => Ok(json!(request.params.required_str(0, "name")?)),
        _ => Ok(Value::Null),
    });
    request.respond(outcome)
}

fn serve(line: &str) -> Option<String> {
    match parse_frame(line) {
        Frame::Invalid(response) => Some(response.to_line()),
        Frame::Single(Err(response)) => Some(response.to_line()),
        Frame::Single(Ok(request)) => answer(&request).map(|r| r.to_line()),
        Frame::Batch(items) => {
            let responses: Vec<Response> = items
                .iter()
                .filter_map(|item| match item {
                    Ok(request) => answer(request),
                    Err(response) => Some(response.clone()),
                })
                .collect();
            batch_line(&responses)
        }
    }
}

#[test]
fn positional_request_as_the_published_client_sends_it() {
    let req =
        single(r#"{"jsonrpc":"2.0","method":"service_status","params":["redis"],"id":1}"#).unwrap();
    assert_eq!(req.id, Some(json!(1)));
    assert_eq!(req.method, "service_status");
    assert_eq!(req.params, Params::Positional(vec![json!("redis")]));
    assert_eq!(req.resolve().unwrap(), Method::ServiceStatus);
    assert_eq!(
        serve(r#"{"jsonrpc":"2.0","method":"service_status","params":["redis"],"id":1}"#).unwrap(),
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"redis\"}\n"
    );
}

#[test]
fn named_params() {
    let line = r#"{"jsonrpc":"2.0","method":"service.kill","params":{"signal":"SIGHUP","name":"a"},"id":"x"}"#;
    let req = single(line).unwrap();
    assert_eq!(req.resolve().unwrap(), Method::ServiceKill);
    assert_eq!(req.params.required_str(0, "name").unwrap(), "a");
    assert_eq!(req.params.required_str(1, "signal").unwrap(), "SIGHUP");
}

#[test]
fn notification_has_no_id_and_gets_no_reply() {
    let line = r#"{"jsonrpc":"2.0","method":"service_list"}"#;
    let req = single(line).unwrap();
    assert!(req.is_notification());
    assert_eq!(req.params, Params::None);
    assert_eq!(serve(line), None);
    // Not even an error is sent for a notification.
    assert_eq!(serve(r#"{"jsonrpc":"2.0","method":"nope"}"#), None);
    assert_eq!(
        serve(r#"{"jsonrpc":"2.0","method":"service_status","params":[]}"#),
        None
    );
}

#[test]
fn null_id_is_a_request_not_a_notification() {
    let req = single(r#"{"jsonrpc":"2.0","method":"service_list","id":null}"#).unwrap();
    assert!(!req.is_notification());
    assert_eq!(
        serve(r#"{"jsonrpc":"2.0","method":"service_list","id":null}"#).unwrap(),
        "{\"jsonrpc\":\"2.0\",\"id\":null,\"result\":null}\n"
    );
}

#[test]
fn ids_are_echoed_unchanged() {
    for id in [
        json!(7),
        json!(-3),
        json!(1.5),
        json!("abc"),
        json!(u64::MAX),
    ] {
        let line = json!({"jsonrpc":"2.0","method":"service_list","id":id}).to_string();
        let reply = serve(&line).unwrap();
        let back = Response::from_line(&reply).unwrap();
        assert_eq!(back.id, id, "{reply}");
    }
}

#[test]
fn invalid_json_is_a_parse_error_with_null_id() {
    for line in [
        r#"{"jsonrpc":"2.0","method":"foobar,"params":"bar","baz]"#,
        "",
        "   ",
        "not json",
        r#"[{"jsonrpc":"2.0","method":"sum","params":[1,2,4],"id":"1"},{"jsonrpc":"2.0","method""#,
    ] {
        let response = invalid(line);
        assert_eq!(response.id, Value::Null);
        assert_eq!(error_code(&response), PARSE_ERROR, "{line:?}");
    }
    assert!(serve("{")
        .unwrap()
        .starts_with(r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"#));
}

#[test]
fn non_request_json_is_an_invalid_request() {
    for line in ["1", "\"x\"", "null", "true", "[]"] {
        let response = invalid(line);
        assert_eq!(response.id, Value::Null);
        assert_eq!(error_code(&response), INVALID_REQUEST, "{line}");
    }
}

#[test]
fn request_shape_errors_echo_a_readable_id() {
    let cases = [
        (r#"{"method":"service_list","id":1}"#, json!(1)),
        (
            r#"{"jsonrpc":"1.0","method":"service_list","id":2}"#,
            json!(2),
        ),
        (
            r#"{"jsonrpc":2.0,"method":"service_list","id":3}"#,
            json!(3),
        ),
        (r#"{"jsonrpc":"2.0","id":4}"#, json!(4)),
        (
            r#"{"jsonrpc":"2.0","method":1,"params":"bar","id":"5"}"#,
            json!("5"),
        ),
        (
            r#"{"jsonrpc":"2.0","method":"service_status","params":"redis","id":6}"#,
            json!(6),
        ),
        (
            r#"{"jsonrpc":"2.0","method":"service_status","params":7,"id":7}"#,
            json!(7),
        ),
        // An invalid request without id is still answered (it is not a
        // valid notification), with a null id.
        (
            r#"{"jsonrpc":"2.0","method":1,"params":"bar"}"#,
            Value::Null,
        ),
        (r#"{"foo":"boo"}"#, Value::Null),
    ];
    for (line, id) in cases {
        let response = single(line).unwrap_err();
        assert_eq!(error_code(&response), INVALID_REQUEST, "{line}");
        assert_eq!(response.id, id, "{line}");
    }
}

#[test]
fn ids_of_a_wrong_type_are_invalid_with_null_id() {
    for id in [json!(true), json!([1]), json!({"a": 1})] {
        let line = json!({"jsonrpc":"2.0","method":"service_list","id":id}).to_string();
        let response = single(&line).unwrap_err();
        assert_eq!(error_code(&response), INVALID_REQUEST);
        assert_eq!(response.id, Value::Null);
    }
}

#[test]
fn null_params_are_taken_as_omitted() {
    let req = single(r#"{"jsonrpc":"2.0","method":"service_list","params":null,"id":1}"#).unwrap();
    assert_eq!(req.params, Params::None);
}

#[test]
fn surrounding_whitespace_and_crlf_are_ignored() {
    let req = single("  {\"jsonrpc\":\"2.0\",\"method\":\"service_list\",\"id\":1}\r\n").unwrap();
    assert_eq!(req.resolve().unwrap(), Method::ServiceList);
}

#[test]
fn unknown_members_are_ignored() {
    let req = single(r#"{"jsonrpc":"2.0","method":"service_list","id":1,"extra":true}"#).unwrap();
    assert_eq!(req.resolve().unwrap(), Method::ServiceList);
}

#[test]
fn resolve_errors() {
    let req = single(r#"{"jsonrpc":"2.0","method":"service_frob","id":1}"#).unwrap();
    let err = req.resolve().unwrap_err();
    assert_eq!(err.code, METHOD_NOT_FOUND);
    assert!(err.message.contains("service_frob"));

    // Parameters a method lacks are ignored, as upstream's server does...
    let req =
        single(r#"{"jsonrpc":"2.0","method":"service_status","params":["a","b"],"id":1}"#).unwrap();
    assert_eq!(req.resolve().unwrap(), Method::ServiceStatus);
    let req = single(r#"{"jsonrpc":"2.0","method":"service_list","params":[1],"id":1}"#).unwrap();
    assert_eq!(req.resolve().unwrap(), Method::ServiceList);

    // ...unless a required one is missing: then they are named.

    let req = single(r#"{"jsonrpc":"2.0","method":"service_status","params":{"nam":"a"},"id":1}"#)
        .unwrap();
    assert_eq!(req.resolve().unwrap_err().code, INVALID_PARAMS);

    // Missing required param: resolve passes, reading it names it.
    let reply = serve(r#"{"jsonrpc":"2.0","method":"service_status","params":[],"id":9}"#).unwrap();
    let response = Response::from_line(&reply).unwrap();
    let err = response.outcome.unwrap_err();
    assert_eq!(err.code, INVALID_PARAMS);
    assert!(err.message.contains("\"name\""), "{err}");
}

#[test]
fn batch_from_the_specification() {
    let line = r#"[
        {"jsonrpc":"2.0","method":"service_status","params":["a"],"id":"1"},
        {"jsonrpc":"2.0","method":"service_list","params":[7]},
        {"jsonrpc":"2.0","method":"service.status","params":{"name":"b"},"id":"2"},
        {"foo":"boo"},
        {"jsonrpc":"2.0","method":"foo.get","params":{"name":"myself"},"id":"5"},
        {"jsonrpc":"2.0","method":"rpc.discover","id":"9"}
    ]"#;
    let Frame::Batch(items) = parse_frame(&line.replace('\n', "")) else {
        panic!("expected a batch");
    };
    assert_eq!(items.len(), 6);
    let reply = serve(&line.replace('\n', "")).unwrap();
    assert!(reply.ends_with("]\n") && reply.matches('\n').count() == 1);
    let responses: Vec<Value> = serde_json::from_str(&reply).unwrap();
    let ids: Vec<&Value> = responses.iter().map(|r| &r["id"]).collect();
    assert_eq!(
        ids,
        [
            &json!("1"),
            &json!("2"),
            &Value::Null,
            &json!("5"),
            &json!("9")
        ]
    );
    assert_eq!(responses[0]["result"], "a");
    assert_eq!(responses[1]["result"], "b");
    assert_eq!(responses[2]["error"]["code"], INVALID_REQUEST);
    assert_eq!(responses[3]["error"]["code"], METHOD_NOT_FOUND);
    assert_eq!(responses[4]["result"], Value::Null);
}

#[test]
fn batch_of_invalid_elements() {
    let reply = serve("[1,2,3]").unwrap();
    let responses: Vec<Value> = serde_json::from_str(&reply).unwrap();
    assert_eq!(responses.len(), 3);
    for r in responses {
        assert_eq!(r["error"]["code"], INVALID_REQUEST);
        assert_eq!(r["id"], Value::Null);
    }
    assert_eq!(serve("[1]").unwrap().matches("-32600").count(), 1);
}

#[test]
fn batch_of_notifications_writes_nothing() {
    let line = r#"[{"jsonrpc":"2.0","method":"service_list"},{"jsonrpc":"2.0","method":"nope"}]"#;
    assert_eq!(serve(line), None);
    assert_eq!(batch_line(&[]), None);
}

#[test]
fn responses_are_compact_lines_starting_with_the_version() {
    let ok = Response::result(json!(1), json!({"b": 1, "a": "x\ny"}));
    assert_eq!(
        ok.to_line(),
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"a\":\"x\\ny\",\"b\":1}}\n"
    );
    let err = Response::error(json!("q"), RpcError::invalid_params("bad"));
    assert_eq!(
        err.to_line(),
        "{\"jsonrpc\":\"2.0\",\"id\":\"q\",\"error\":{\"code\":-32602,\"message\":\"invalid params: bad\"}}\n"
    );
    let null = Response::result(json!(2), Value::Null);
    assert_eq!(
        null.to_line(),
        "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":null}\n"
    );
    for line in [ok.to_line(), err.to_line(), null.to_line()] {
        assert!(line.contains("\"jsonrpc\":\"2.0\""));
        assert_eq!(line.matches('\n').count(), 1);
    }
    assert_eq!(
        batch_line(&[ok, null]).unwrap(),
        "[{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"a\":\"x\\ny\",\"b\":1}},{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":null}]\n"
    );
}

#[test]
fn response_decoding() {
    let ok = Response::from_line(r#"{"jsonrpc":"2.0","id":1,"result":[1]}"#).unwrap();
    assert_eq!(ok.outcome, Ok(json!([1])));
    let err = Response::from_line(
        r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32003,"message":"service \"a\" is down","data":{"code_name":"ServiceIsDown"}}}"#,
    )
    .unwrap();
    let rpc = err.outcome.unwrap_err();
    assert_eq!(rpc.code, -32003);
    assert_eq!(rpc.data.unwrap()["code_name"], "ServiceIsDown");
    for bad in [
        r#"{"id":1,"result":1}"#,
        r#"{"jsonrpc":"2.0","result":1}"#,
        r#"{"jsonrpc":"2.0","id":1}"#,
        r#"{"jsonrpc":"2.0","id":1,"result":1,"error":{"code":1,"message":"x"}}"#,
        r#"{"jsonrpc":"2.0","id":1,"error":"x"}"#,
        r#"[]"#,
        "nope",
    ] {
        assert!(Response::from_line(bad).is_err(), "{bad}");
    }
}

#[test]
fn request_encoding() {
    let req = Request::new(
        json!(3),
        Method::ServiceKill,
        Params::Positional(vec![json!("a"), json!("SIGTERM")]),
    );
    assert_eq!(
        req.to_line(),
        "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"service_kill\",\"params\":[\"a\",\"SIGTERM\"]}\n"
    );
    let bare = Request::new(json!(4), Method::ServiceList, Params::None);
    assert_eq!(
        bare.to_line(),
        "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"service_list\"}\n"
    );
    let notification = Request { id: None, ..bare };
    assert_eq!(
        notification.to_line(),
        "{\"jsonrpc\":\"2.0\",\"method\":\"service_list\"}\n"
    );
    assert!(notification.respond(Ok(Value::Null)).is_none());
    // What we send, we parse back.
    assert_eq!(single(&req.to_line()).unwrap(), req);
}

#[test]
fn subscription_notification_shape() {
    let n = Notification::subscription(LOG_SUBSCRIPTION_METHOD, json!(12), json!("[+] a: hi"));
    assert_eq!(
        n.to_line(),
        "{\"jsonrpc\":\"2.0\",\"method\":\"stream_subscribeLogs\",\"params\":{\"subscription\":12,\"result\":\"[+] a: hi\"}}\n"
    );
}

/// Found by fuzzing (fuzz/ jsonrpc_frame): a number id beyond u64 became a
/// float that, echoed in the response and read back, was another number,
/// so the client could not match its answer. serde_json's
/// `float_roundtrip` parses floats exactly.
#[test]
fn a_huge_number_id_is_echoed_as_the_same_number() {
    for id in [
        "18464744073709155616",
        "1.846474407370915e19",
        "0.1",
        "-1e-300",
    ] {
        let line = format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"nope\"}}");
        let request = single(&line).unwrap();
        let response = answer(&request).unwrap();
        let again = Response::from_line(&response.to_line()).unwrap();
        assert_eq!(again.id, request.id.clone().unwrap(), "{id}");
        assert_eq!(again, response);
    }
}
