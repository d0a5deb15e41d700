//! Every service key is declared once (`zinit_core::config::SERVICE_KEY_PATHS`)
//! and every other place that names keys agrees with that list: the key
//! tables of docs/services.md and the OpenRPC `ServiceConfig` schema that
//! `rpc.discover` serves. (The parser and `service_get` are checked against
//! it in zinit-core.)

use serde_json::Value;
use std::collections::BTreeSet;
use zinit_core::config::SERVICE_KEY_PATHS;

fn listed() -> BTreeSet<String> {
    SERVICE_KEY_PATHS
        .iter()
        .map(|k| k.path.to_owned())
        .collect()
}

/// The first cell of every row of the key tables (`| key | type | default
/// | meaning |`) in docs/services.md, without its backticks.
fn documented() -> BTreeSet<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/services.md");
    let doc = std::fs::read_to_string(path).expect("docs/services.md");
    let mut keys = BTreeSet::new();
    let mut in_key_table = false;
    for line in doc.lines() {
        if line.starts_with("| key | type | default | meaning |") {
            in_key_table = true;
            continue;
        }
        if !line.starts_with('|') {
            in_key_table = false;
            continue;
        }
        if in_key_table && !line.starts_with("|---") {
            let cell = line.trim_start_matches('|').split('|').next().unwrap_or("");
            keys.insert(cell.trim().trim_matches('`').to_owned());
        }
    }
    keys
}

/// The key paths a schema describes: each property, and the properties of
/// a property that is (or may be) a mapping; a property that may only be
/// a mapping with named properties stands for its sub-keys alone.
fn schema_paths(doc: &Value, properties: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    let Some(properties) = properties.as_object() else {
        return;
    };
    for (name, schema) in properties {
        let path = format!("{prefix}{name}");
        let schema = resolve(doc, schema);
        let alternatives: Vec<&Value> = match schema.get("oneOf").and_then(Value::as_array) {
            Some(options) => options.iter().map(|o| resolve(doc, o)).collect(),
            None => vec![schema],
        };
        let mut only_a_mapping = true;
        for alternative in alternatives {
            match alternative.get("properties") {
                Some(sub) => schema_paths(doc, sub, &format!("{path}."), out),
                None => only_a_mapping = false,
            }
        }
        if !only_a_mapping {
            out.insert(path);
        }
    }
}

fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference.trim_start_matches('#');
            doc.pointer(pointer)
                .unwrap_or_else(|| panic!("dangling {reference}"))
        }
        None => schema,
    }
}

#[test]
fn docs_services_md_documents_exactly_the_listed_keys() {
    assert_eq!(documented(), listed());
}

#[test]
fn the_openrpc_service_config_describes_exactly_the_listed_keys() {
    let doc = zinit_proto::openrpc::document();
    let config = &doc["components"]["schemas"]["ServiceConfig"];
    let mut described = BTreeSet::new();
    schema_paths(&doc, &config["properties"], "", &mut described);
    assert_eq!(described, listed());
    assert_eq!(config["required"], serde_json::json!(["exec"]));
}
