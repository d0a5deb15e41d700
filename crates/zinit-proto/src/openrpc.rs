//! The OpenRPC 1.2.6 document served by `rpc.discover`, kept as a JSON file
//! beside this module so it reads (and diffs) as the document it is.
//!
//! The tests here hold it to the method table in [`crate::jsonrpc::Method`]
//! and the error table in [`crate::errors`]: every method exactly once with
//! the same params, every error reference resolving to a real code. This
//! module must not describe behaviour the server does not have.

use serde_json::Value;

/// The document, verbatim.
pub const OPENRPC_JSON: &str = include_str!("openrpc.json");

/// The document as a JSON value (the `rpc.discover` result).
pub fn document() -> Value {
    // The text is checked to parse by the tests below; `Null` is unreachable.
    serde_json::from_str(OPENRPC_JSON).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errors::ErrorCode;
    use crate::jsonrpc::Method;
    use std::collections::BTreeSet;

    fn methods(doc: &Value) -> &Vec<Value> {
        doc["methods"].as_array().expect("methods is an array")
    }

    /// Follows a local `$ref` like `#/components/errors/ServiceNotFound`.
    fn resolve<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
        match value.get("$ref").and_then(Value::as_str) {
            Some(reference) => {
                let pointer = reference.strip_prefix('#').expect("local reference");
                doc.pointer(pointer)
                    .unwrap_or_else(|| panic!("dangling reference {reference}"))
            }
            None => value,
        }
    }

    fn collect_refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    out.push(r);
                }
                map.values().for_each(|v| collect_refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
            _ => {}
        }
    }

    #[test]
    fn document_parses_and_has_the_top_level_members() {
        let doc: Value = serde_json::from_str(OPENRPC_JSON).expect("openrpc.json is JSON");
        assert_eq!(doc, document());
        assert_eq!(doc["openrpc"], "1.2.6");
        assert_eq!(doc["info"]["title"], "zinit");
        assert!(doc["info"]["version"].is_string());
        assert!(!methods(&doc).is_empty());
    }

    #[test]
    fn every_method_exactly_once_and_nothing_else() {
        let doc = document();
        let listed: Vec<&str> = methods(&doc)
            .iter()
            .map(|m| m["name"].as_str().expect("method name"))
            .collect();
        let unique: BTreeSet<&str> = listed.iter().copied().collect();
        assert_eq!(unique.len(), listed.len(), "duplicate method in {listed:?}");
        let expected: BTreeSet<&str> = Method::ALL.iter().map(|m| m.canonical_name()).collect();
        assert_eq!(unique, expected);
    }

    #[test]
    fn params_match_the_method_table() {
        let doc = document();
        for entry in methods(&doc) {
            let name = entry["name"].as_str().unwrap_or_default();
            let method = Method::lookup(name).expect("known method");
            let params = entry["params"].as_array().expect("params array");
            let names: Vec<&str> = params
                .iter()
                .map(|p| resolve(&doc, p)["name"].as_str().expect("param name"))
                .collect();
            assert_eq!(names, method.param_names(), "{name}");
            for p in params {
                let p = resolve(&doc, p);
                let pname = p["name"].as_str().unwrap_or_default();
                assert_eq!(
                    p["required"].as_bool(),
                    Some(method.is_required(pname)),
                    "{name}.{pname} required flag"
                );
                assert!(p["schema"].is_object(), "{name}.{pname} schema");
            }
            let result = resolve(&doc, &entry["result"]);
            assert!(result["name"].is_string(), "{name} result name");
            assert!(result["schema"].is_object(), "{name} result schema");
        }
    }

    #[test]
    fn errors_are_the_application_codes() {
        let doc = document();
        let table = doc["components"]["errors"]
            .as_object()
            .expect("components.errors");
        assert_eq!(table.len(), ErrorCode::ALL.len());
        for code in ErrorCode::ALL {
            let entry = &table[code.name()];
            assert_eq!(entry["code"].as_i64(), Some(code.code()), "{code}");
            assert_eq!(entry["message"], code.summary(), "{code}");
        }
        for entry in methods(&doc) {
            for error in entry["errors"].as_array().into_iter().flatten() {
                let error = resolve(&doc, error);
                let code = error["code"].as_i64().expect("error code");
                assert!(ErrorCode::from_code(code).is_some(), "{code}");
            }
        }
        let listed = |m: Method| -> Vec<i64> {
            let entry = methods(&doc)
                .iter()
                .find(|e| e["name"] == m.canonical_name())
                .expect("listed");
            entry["errors"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| resolve(&doc, e)["code"].as_i64())
                .collect()
        };
        assert!(listed(Method::ServiceStatus).contains(&ErrorCode::ServiceNotFound.code()));
        assert!(listed(Method::ServiceForget).contains(&ErrorCode::ServiceIsUp.code()));
        assert!(listed(Method::ServiceKill).contains(&ErrorCode::InvalidSignal.code()));
    }

    #[test]
    fn every_reference_resolves() {
        let doc = document();
        let mut refs = Vec::new();
        collect_refs(&doc, &mut refs);
        assert!(!refs.is_empty());
        for reference in refs {
            let pointer = reference.strip_prefix('#').expect("local reference");
            assert!(doc.pointer(pointer).is_some(), "dangling {reference}");
        }
    }
}
