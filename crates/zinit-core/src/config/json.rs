//! A marked tree as a generic JSON value, for the `service_get` API.
//!
//! Plain scalars are typed with the core schema: integers and finite
//! floats become numbers, booleans bools, null null; everything else,
//! including every quoted scalar, is a string. Keys are their text. The
//! tree's depth is bounded by [`super::yaml_tree::MAX_DEPTH`], so the
//! recursion here is too.
//!
//! Where the service file means text (`env` values, `after` names,
//! `signal.stop`, `umask` digits, `user` and `group`), a number or boolean is shown as a number or boolean
//! only when that is how it was written (`8080`, `true`); `0.50`, `0x1F`,
//! `007` or `True` stay strings, so what `service_get` returns, given back
//! to `service_create`, is the same service (found by fuzzing).

use super::scalar::Typed;
use super::yaml_tree::Node;
use serde_json::{Map, Number, Value};

/// The whole file (the root mapping) as JSON, keeping text where the
/// service file means text.
pub(crate) fn file_to_json(root: &Node) -> Value {
    let Typed::Map(entries) = Typed::of(root) else {
        return to_json(root);
    };
    let mut map = Map::new();
    for (key, value) in entries {
        let Some(k) = key.scalar_text() else {
            continue;
        };
        let json = match (k, Typed::of(value)) {
            ("env", Typed::Map(vars)) => Value::Object(
                vars.iter()
                    .filter_map(|(n, v)| Some((n.scalar_text()?.to_owned(), text_json(v))))
                    .collect(),
            ),
            ("after", Typed::Seq(items)) => Value::Array(items.iter().map(text_json).collect()),
            ("after", _) => text_json(value),
            // `umask: 0027` means the digits, not YAML's decimal 27; a
            // `user: 0033` is not 33 either once it is a name.
            ("umask" | "user" | "group", _) => text_json(value),
            ("signal", Typed::Map(signals)) => Value::Object(
                signals
                    .iter()
                    .filter_map(|(n, v)| {
                        let n = n.scalar_text()?;
                        let v = if n == "stop" {
                            text_json(v)
                        } else {
                            to_json(v)
                        };
                        Some((n.to_owned(), v))
                    })
                    .collect(),
            ),
            _ => to_json(value),
        };
        map.insert(k.to_owned(), json);
    }
    Value::Object(map)
}

/// A scalar whose meaning is its text: a number or boolean only when
/// JSON writes it back exactly as it was written.
fn text_json(node: &Node) -> Value {
    let json = to_json(node);
    match (&json, node.scalar_text()) {
        (Value::Number(_) | Value::Bool(_), Some(text))
            if serde_json::to_string(&json).ok().as_deref() != Some(text) =>
        {
            Value::String(text.to_owned())
        }
        _ => json,
    }
}

pub(crate) fn to_json(node: &Node) -> Value {
    match Typed::of(node) {
        Typed::Null => Value::Null,
        Typed::Bool(b) => Value::Bool(b),
        Typed::Int(n) => Value::Number(n.into()),
        Typed::Float(f) => match Number::from_f64(f) {
            Some(n) => Value::Number(n),
            None => Value::String(node.scalar_text().unwrap_or_default().to_owned()),
        },
        Typed::Str(s) => Value::String(s.to_owned()),
        Typed::Seq(items) => Value::Array(items.iter().map(to_json).collect()),
        Typed::Map(entries) => {
            let mut map = Map::new();
            for (key, value) in entries {
                if let Some(k) = key.scalar_text() {
                    map.insert(k.to_owned(), to_json(value));
                }
            }
            Value::Object(map)
        }
    }
}
