//! Request parameters, by position or by name, and the accessors that turn
//! a missing or mistyped parameter into an `invalid params` error naming it.
//!
//! Only shape is checked here (presence, JSON type, arity); what a value
//! means (a valid service name, a known signal) is the caller's business.

use crate::errors::RpcError;
use serde_json::{Map, Value};

/// The `params` member of a request.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Params {
    /// Omitted (or `null`, which we accept as omitted).
    #[default]
    None,
    /// By position: `[..]`.
    Positional(Vec<Value>),
    /// By name: `{..}`.
    Named(Map<String, Value>),
}

impl Params {
    /// The parameter at `index` (positional) or called `name` (named).
    /// An explicit `null` is returned as such.
    pub fn get(&self, index: usize, name: &str) -> Option<&Value> {
        match self {
            Params::None => None,
            Params::Positional(values) => values.get(index),
            Params::Named(map) => map.get(name),
        }
    }

    /// The parameter, required: absent or `null` is an error naming it.
    pub fn required_value(&self, index: usize, name: &str) -> Result<&Value, RpcError> {
        match self.get(index, name) {
            None | Some(Value::Null) => Err(RpcError::invalid_params(format!(
                "missing required parameter {name:?}"
            ))),
            Some(value) => Ok(value),
        }
    }

    /// A required string parameter.
    pub fn required_str(&self, index: usize, name: &str) -> Result<&str, RpcError> {
        let value = self.required_value(index, name)?;
        value
            .as_str()
            .ok_or_else(|| mistyped(name, "a string", value))
    }

    /// An optional string parameter: absent or `null` is `None`, any other
    /// non-string is an error naming it.
    pub fn optional_str(&self, index: usize, name: &str) -> Result<Option<&str>, RpcError> {
        match self.get(index, name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(value) => Err(mistyped(name, "a string", value)),
        }
    }

    /// An optional non-negative integer parameter: absent or `null` is
    /// `None`; a negative, fractional or non-numeric value is an error
    /// naming it.
    pub fn optional_u64(&self, index: usize, name: &str) -> Result<Option<u64>, RpcError> {
        match self.get(index, name) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => value
                .as_u64()
                .map(Some)
                .ok_or_else(|| mistyped(name, "a non-negative integer", value)),
        }
    }

    /// A required object parameter (e.g. `service_create`'s `content`).
    pub fn required_object(
        &self,
        index: usize,
        name: &str,
    ) -> Result<&Map<String, Value>, RpcError> {
        let value = self.required_value(index, name)?;
        value
            .as_object()
            .ok_or_else(|| mistyped(name, "an object", value))
    }

    /// Checks params against a method's parameter names, of which the
    /// first `required` are required.
    ///
    /// Parameters a method does not have are ignored, as upstream zinit's
    /// jsonrpsee server ignores them: a client that adds one (a newer
    /// field, upstream's `filter` next to `name`) is never refused for it.
    /// Only when a required parameter is missing and the request named
    /// others is the error about those names, since a misspelt name
    /// (`nme`) is then the likely cause.
    pub fn check_names(&self, names: &[&str], required: usize) -> Result<(), RpcError> {
        let Params::Named(map) = self else {
            return Ok(());
        };
        let missing = names[..required.min(names.len())]
            .iter()
            .any(|name| !map.contains_key(*name));
        let unknown: Vec<&str> = map
            .keys()
            .map(String::as_str)
            .filter(|key| !names.contains(key))
            .collect();
        if !missing || unknown.is_empty() {
            return Ok(());
        }
        let quoted: Vec<String> = unknown.iter().map(|k| format!("{k:?}")).collect();
        Err(RpcError::invalid_params(format!(
            "unknown parameter{} {}; expected {}",
            if unknown.len() == 1 { "" } else { "s" },
            quoted.join(", "),
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        )))
    }

    /// The `params` member to send, `None` when it should be omitted.
    pub fn to_value(&self) -> Option<Value> {
        match self {
            Params::None => None,
            Params::Positional(values) => Some(Value::Array(values.clone())),
            Params::Named(map) => Some(Value::Object(map.clone())),
        }
    }

    /// Reads a `params` member; `None` for a value that is neither an array,
    /// an object nor `null`.
    pub fn from_value(value: Value) -> Option<Params> {
        match value {
            Value::Null => Some(Params::None),
            Value::Array(values) => Some(Params::Positional(values)),
            Value::Object(map) => Some(Params::Named(map)),
            _ => None,
        }
    }
}

fn mistyped(name: &str, expected: &str, got: &Value) -> RpcError {
    RpcError::invalid_params(format!(
        "parameter {name:?} must be {expected}, got {}",
        json_type(got)
    ))
}

/// The JSON type of a value, for messages.
pub fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errors::INVALID_PARAMS;
    use serde_json::json;

    fn positional(v: Value) -> Params {
        Params::from_value(v).unwrap()
    }

    #[test]
    fn positional_and_named_reach_the_same_values() {
        let by_pos = positional(json!(["redis", "SIGHUP"]));
        let by_name = positional(json!({"signal": "SIGHUP", "name": "redis"}));
        for params in [&by_pos, &by_name] {
            assert_eq!(params.required_str(0, "name").unwrap(), "redis");
            assert_eq!(params.required_str(1, "signal").unwrap(), "SIGHUP");
            params.check_names(&["name", "signal"], 2).unwrap();
        }
    }

    #[test]
    fn missing_and_mistyped_are_named() {
        let params = positional(json!([null, 3]));
        let err = params.required_str(0, "name").unwrap_err();
        assert_eq!(err.code, INVALID_PARAMS);
        assert!(
            err.message.contains("missing required parameter \"name\""),
            "{err}"
        );
        let err = params.required_str(1, "signal").unwrap_err();
        assert!(
            err.message
                .contains("\"signal\" must be a string, got a number"),
            "{err}"
        );
        let err = Params::None.required_value(0, "content").unwrap_err();
        assert!(err.message.contains("\"content\""), "{err}");
        let err = positional(json!({"content": "x"}))
            .required_object(0, "content")
            .unwrap_err();
        assert!(err.message.contains("must be an object"), "{err}");
    }

    #[test]
    fn optional_str() {
        assert_eq!(Params::None.optional_str(0, "name").unwrap(), None);
        assert_eq!(
            positional(json!([null])).optional_str(0, "name").unwrap(),
            None
        );
        assert_eq!(
            positional(json!({"name": "a"}))
                .optional_str(0, "name")
                .unwrap(),
            Some("a")
        );
        assert!(positional(json!([1])).optional_str(0, "name").is_err());
    }

    #[test]
    fn optional_u64() {
        assert_eq!(Params::None.optional_u64(1, "last").unwrap(), None);
        let params = positional(json!({"last": 20, "after_seq": null}));
        assert_eq!(params.optional_u64(2, "last").unwrap(), Some(20));
        assert_eq!(params.optional_u64(1, "after_seq").unwrap(), None);
        for bad in [json!([-1]), json!([1.5]), json!(["7"])] {
            let err = positional(bad).optional_u64(0, "last").unwrap_err();
            assert!(
                err.message
                    .contains("\"last\" must be a non-negative integer"),
                "{err}"
            );
        }
    }

    #[test]
    fn parameters_a_method_lacks_are_ignored_unless_a_required_one_is_missing() {
        // Extra values by position or by name, as jsonrpsee's server takes them.
        positional(json!(["a", "b"]))
            .check_names(&["name"], 1)
            .unwrap();
        positional(json!({"name": "a", "filter": "b"}))
            .check_names(&["name"], 1)
            .unwrap();
        positional(json!({"x": 1})).check_names(&[], 0).unwrap();
        positional(json!({"filter": "a"}))
            .check_names(&["name"], 0)
            .unwrap();
        // A required one missing: the names given are the likely mistake.
        let err = positional(json!({"nme": "a"}))
            .check_names(&["name"], 1)
            .unwrap_err();
        assert_eq!(err.code, INVALID_PARAMS);
        assert_eq!(
            err.message,
            "invalid params: unknown parameter \"nme\"; expected name"
        );
        let err = positional(json!({"signal": "KILL", "nme": "a", "x": 1}))
            .check_names(&["name", "signal"], 2)
            .unwrap_err();
        assert_eq!(
            err.message,
            "invalid params: unknown parameters \"nme\", \"x\"; expected name, signal"
        );
        // Missing with nothing unknown is left to the accessor's message.
        positional(json!({})).check_names(&["name"], 1).unwrap();
        positional(json!([])).check_names(&["name"], 1).unwrap();
    }

    #[test]
    fn from_value_accepts_only_structured_or_null() {
        assert_eq!(Params::from_value(Value::Null), Some(Params::None));
        assert_eq!(Params::from_value(json!("x")), None);
        assert_eq!(Params::from_value(json!(1)), None);
        assert_eq!(Params::from_value(json!(true)), None);
        assert_eq!(Params::None.to_value(), None);
        assert_eq!(positional(json!([1])).to_value(), Some(json!([1])));
    }
}
