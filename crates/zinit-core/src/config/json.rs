//! A marked tree as a generic JSON value, for the `service_get` API.
//!
//! Plain scalars are typed with the core schema: integers and finite
//! floats become numbers, booleans bools, null null; everything else,
//! including every quoted scalar, is a string. Keys are their text. The
//! tree's depth is bounded by [`super::yaml_tree::MAX_DEPTH`], so the
//! recursion here is too.

use super::scalar::Typed;
use super::yaml_tree::Node;
use serde_json::{Map, Number, Value};

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
