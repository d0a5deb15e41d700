//! JSON-RPC 2.0 framing (<https://www.jsonrpc.org/specification>): parsing
//! a received line into requests, single or batched, and rendering
//! responses and subscription notifications as compact single lines.
//!
//! Rules kept here, so that no transport re-implements them:
//! - invalid JSON is -32700 with id `null`; JSON that is not a request
//!   (wrong `jsonrpc`, method not a string, params not structured, id of a
//!   wrong type, not an object, empty batch) is -32600, with the request's
//!   id when it could be read and `null` otherwise;
//! - a request without `id` is a notification and gets no response, not
//!   even an error; a batch of only notifications gets no reply at all;
//! - every response starts with the literal text `{"jsonrpc":"2.0"` (the
//!   published client checks for it) and is one line.
//!
//! One deliberate leniency: `"params": null` is taken as omitted params,
//! as the jsonrpsee-based original zinit did, because scripts send it.
//!
//! This module dispatches nothing; the server maps [`Request`]s to work.

mod framing;
mod method;
mod params;
#[cfg(test)]
mod tests;

pub use framing::{FrameEnd, ValueScanner};
pub use method::Method;
pub use params::{json_type, Params};

use crate::errors::RpcError;
use serde::ser::{SerializeStruct, Serializer};
use serde::Serialize;
use serde_json::{Map, Value};

/// The only protocol version we speak.
pub const VERSION: &str = "2.0";

/// The notification method used for pushes on a `stream_subscribeLogs`
/// subscription.
pub const LOG_SUBSCRIPTION_METHOD: &str = "stream_subscribeLogs";

/// One request (or notification, when `id` is `None`).
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// `None`: a notification, never answered. `Some(Value::Null)` is a
    /// request with a null id, which is answered.
    pub id: Option<Value>,
    pub method: String,
    pub params: Params,
}

impl Request {
    /// A request with an id, for clients.
    pub fn new(id: Value, method: Method, params: Params) -> Self {
        Request {
            id: Some(id),
            method: method.canonical_name().to_string(),
            params,
        }
    }

    /// Whether the caller expects no response.
    pub fn is_notification(&self) -> bool {
        self.id.is_none()
    }

    /// Resolves the method name (canonical or alias) and checks that the
    /// params fit it (see [`Params::check_names`]: parameters the method
    /// does not have are ignored).
    /// Presence and types of individual params are checked when read, with
    /// [`Params::required_str`] and friends.
    pub fn resolve(&self) -> Result<Method, RpcError> {
        let method =
            Method::lookup(&self.method).ok_or_else(|| RpcError::method_not_found(&self.method))?;
        self.params
            .check_names(method.param_names(), method.required_params())?;
        Ok(method)
    }

    /// The response to send for this request, `None` for a notification.
    pub fn respond(&self, outcome: Result<Value, RpcError>) -> Option<Response> {
        self.id.as_ref().map(|id| Response {
            id: id.clone(),
            outcome,
        })
    }

    /// The request as one compact line ending with `\n`.
    pub fn to_line(&self) -> String {
        line_of(self)
    }
}

impl Serialize for Request {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let params = self.params.to_value();
        let len = 2 + usize::from(self.id.is_some()) + usize::from(params.is_some());
        let mut s = serializer.serialize_struct("Request", len)?;
        s.serialize_field("jsonrpc", VERSION)?;
        if let Some(id) = &self.id {
            s.serialize_field("id", id)?;
        }
        s.serialize_field("method", &self.method)?;
        if let Some(params) = &params {
            s.serialize_field("params", params)?;
        }
        s.end()
    }
}

/// A response: the request's id and its result or error.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub id: Value,
    pub outcome: Result<Value, RpcError>,
}

impl Response {
    pub fn result(id: Value, result: Value) -> Self {
        Response {
            id,
            outcome: Ok(result),
        }
    }

    pub fn error(id: Value, error: RpcError) -> Self {
        Response {
            id,
            outcome: Err(error),
        }
    }

    /// The response as one compact line ending with `\n`.
    pub fn to_line(&self) -> String {
        line_of(self)
    }

    /// Decodes a single response (client side). Requires `"jsonrpc":"2.0"`,
    /// an `id` member, and exactly one of `result` and `error`.
    pub fn from_line(line: &str) -> Result<Response, String> {
        let value: Value =
            serde_json::from_str(line).map_err(|e| format!("response is not JSON: {e}"))?;
        Response::from_value(value)
    }

    /// Like [`from_line`](Self::from_line), from a parsed value.
    pub fn from_value(value: Value) -> Result<Response, String> {
        let Value::Object(mut object) = value else {
            return Err("response is not a JSON object".to_string());
        };
        if object.get("jsonrpc").and_then(Value::as_str) != Some(VERSION) {
            return Err("response lacks \"jsonrpc\":\"2.0\"".to_string());
        }
        let id = object
            .remove("id")
            .ok_or_else(|| "response has no id".to_string())?;
        let outcome = match (object.remove("result"), object.remove("error")) {
            (Some(result), None) => Ok(result),
            (None, Some(error)) => Err(serde_json::from_value::<RpcError>(error)
                .map_err(|e| format!("malformed error object: {e}"))?),
            _ => return Err("response must have exactly one of result and error".to_string()),
        };
        Ok(Response { id, outcome })
    }
}

impl Serialize for Response {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Response", 3)?;
        s.serialize_field("jsonrpc", VERSION)?;
        s.serialize_field("id", &self.id)?;
        match &self.outcome {
            Ok(result) => s.serialize_field("result", result)?,
            Err(error) => s.serialize_field("error", error)?,
        }
        s.end()
    }
}

/// A server-to-client push on a subscription:
/// `{"jsonrpc":"2.0","method":..,"params":{"subscription":..,"result":..}}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub method: String,
    pub subscription: Value,
    pub result: Value,
}

impl Notification {
    pub fn subscription(method: impl Into<String>, subscription: Value, result: Value) -> Self {
        Notification {
            method: method.into(),
            subscription,
            result,
        }
    }

    /// The notification as one compact line ending with `\n`.
    pub fn to_line(&self) -> String {
        line_of(self)
    }
}

impl Serialize for Notification {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct SubscriptionParams<'a> {
            subscription: &'a Value,
            result: &'a Value,
        }
        let mut s = serializer.serialize_struct("Notification", 3)?;
        s.serialize_field("jsonrpc", VERSION)?;
        s.serialize_field("method", &self.method)?;
        s.serialize_field(
            "params",
            &SubscriptionParams {
                subscription: &self.subscription,
                result: &self.result,
            },
        )?;
        s.end()
    }
}

/// What one received line holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// One request object; `Err` is the error response for an invalid one.
    Single(Result<Request, Response>),
    /// A non-empty batch; each element parsed on its own.
    Batch(Vec<Result<Request, Response>>),
    /// Not parseable as requests at all: answer with this single response.
    Invalid(Response),
}

/// Parses one received line (surrounding whitespace, including `\r\n`, is
/// ignored).
pub fn parse_frame(line: &str) -> Frame {
    let value: Value = match serde_json::from_str(line) {
        Ok(value) => value,
        Err(e) => return Frame::Invalid(Response::error(Value::Null, RpcError::parse_error(e))),
    };
    match value {
        Value::Array(items) if items.is_empty() => Frame::Invalid(Response::error(
            Value::Null,
            RpcError::invalid_request("empty batch"),
        )),
        Value::Array(items) => Frame::Batch(items.into_iter().map(parse_request).collect()),
        Value::Object(object) => Frame::Single(parse_object(object)),
        other => Frame::Invalid(Response::error(
            Value::Null,
            RpcError::invalid_request(format!(
                "expected an object or an array, got {}",
                params::json_type(&other)
            )),
        )),
    }
}

/// Parses one request value (a batch element).
pub fn parse_request(value: Value) -> Result<Request, Response> {
    match value {
        Value::Object(object) => parse_object(object),
        other => Err(Response::error(
            Value::Null,
            RpcError::invalid_request(format!(
                "expected a request object, got {}",
                params::json_type(&other)
            )),
        )),
    }
}

fn parse_object(mut object: Map<String, Value>) -> Result<Request, Response> {
    let id = match object.remove("id") {
        None => None,
        Some(id @ (Value::Null | Value::Number(_) | Value::String(_))) => Some(id),
        Some(other) => {
            return Err(invalid(
                None,
                format!(
                    "id must be a string, a number or null, got {}",
                    params::json_type(&other)
                ),
            ))
        }
    };
    match object.get("jsonrpc") {
        Some(Value::String(v)) if v == VERSION => {}
        Some(_) => return Err(invalid(id, "\"jsonrpc\" must be exactly \"2.0\"")),
        None => return Err(invalid(id, "missing \"jsonrpc\":\"2.0\"")),
    }
    let method = match object.remove("method") {
        Some(Value::String(method)) => method,
        Some(_) => return Err(invalid(id, "\"method\" must be a string")),
        None => return Err(invalid(id, "missing \"method\"")),
    };
    let params = match object.remove("params") {
        None => Params::None,
        Some(value) => match Params::from_value(value) {
            Some(params) => params,
            None => return Err(invalid(id, "\"params\" must be an array or an object")),
        },
    };
    Ok(Request { id, method, params })
}

/// An invalid-request response, echoing the id when it could be read.
fn invalid(id: Option<Value>, detail: impl std::fmt::Display) -> Response {
    Response::error(id.unwrap_or(Value::Null), RpcError::invalid_request(detail))
}

/// The reply line for a batch: a JSON array of the responses, or `None`
/// when there are none (every element was a notification), in which case
/// nothing at all must be written.
pub fn batch_line(responses: &[Response]) -> Option<String> {
    if responses.is_empty() {
        None
    } else {
        Some(line_of(responses))
    }
}

/// Compact JSON plus `\n`. Our types hold only `Value`s with string keys,
/// which always encode; the fallback keeps the peer's framing intact anyway.
fn line_of<T: Serialize + ?Sized>(value: &T) -> String {
    let mut line = serde_json::to_string(value).unwrap_or_else(|_| {
        r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"internal error: cannot encode response"}}"#
            .to_string()
    });
    line.push('\n');
    line
}
