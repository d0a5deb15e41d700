//! `rpc.discover`'s document is valid OpenRPC: checked against the official
//! meta-schema (`@open-rpc/meta-schema`, see `openrpc-meta-schema/README.md`),
//! offline. That the document lists exactly the methods the server
//! answers is checked against a real daemon in `crates/zinit/tests/http.rs`.

use serde_json::Value;

const OPENRPC_META_SCHEMA: &str =
    include_str!("openrpc-meta-schema/open-rpc-meta-schema-1.14.9.json");
/// The JSON Schema meta-schema the OpenRPC one refers to for every
/// `schema` member, as `https://meta.json-schema.tools`.
const JSON_SCHEMA_TOOLS_META_SCHEMA: &str =
    include_str!("openrpc-meta-schema/json-schema-tools-meta-schema-1.8.0.json");

/// Serves `https://meta.json-schema.tools` from the copy above; refuses
/// anything else, so the test never reaches the network.
struct Offline {
    json_schema_tools: Value,
}

impl jsonschema::Retrieve for Offline {
    fn retrieve(
        &self,
        uri: &jsonschema::Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let host = uri.authority().map(|a| a.host().to_owned());
        if host.as_deref() == Some("meta.json-schema.tools") {
            Ok(self.json_schema_tools.clone())
        } else {
            Err(format!("{uri} is not available offline").into())
        }
    }
}

fn validator() -> jsonschema::Validator {
    let meta: Value = serde_json::from_str(OPENRPC_META_SCHEMA).expect("meta-schema is JSON");
    let json_schema_tools =
        serde_json::from_str(JSON_SCHEMA_TOOLS_META_SCHEMA).expect("json-schema-tools is JSON");
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft7)
        .with_retriever(Offline { json_schema_tools })
        .build(&meta)
        .expect("the OpenRPC meta-schema compiles")
}

fn errors(validator: &jsonschema::Validator, doc: &Value) -> Vec<String> {
    validator
        .iter_errors(doc)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

#[test]
fn the_document_is_valid_openrpc() {
    let validator = validator();
    let doc = zinit_proto::openrpc::document();
    let problems = errors(&validator, &doc);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_meta_schema_catches_mistakes() {
    // Guards against a validator that accepts everything (a meta-schema
    // that failed to load its references, say).
    let validator = validator();
    let mut doc = zinit_proto::openrpc::document();
    doc["methods"][0]
        .as_object_mut()
        .expect("method object")
        .remove("name");
    assert!(!errors(&validator, &doc).is_empty());

    let mut doc = zinit_proto::openrpc::document();
    doc["methods"][1]["params"] = Value::String("not a list".into());
    assert!(!errors(&validator, &doc).is_empty());

    let mut doc = zinit_proto::openrpc::document();
    doc["methods"][1]["result"]["schema"] = serde_json::json!({"type": 7});
    assert!(!errors(&validator, &doc).is_empty(), "schemas are checked");

    let mut doc = zinit_proto::openrpc::document();
    doc["openrpc"] = Value::String("9.9.9".into());
    assert!(!errors(&validator, &doc).is_empty());
}
