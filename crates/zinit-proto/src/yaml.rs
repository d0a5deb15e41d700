//! JSON values rendered as block-style YAML text.
//!
//! Used to write service files (`service_create`) and for the CLI's YAML
//! output (`list`, `status`, `stats`). Objects become `key: value` lines,
//! arrays `- item` lines, nested two spaces deeper; empty ones are `{}` and
//! `[]`. A string is written plain only when it is a "plain-safe word"
//! (letters, digits and `_-./`, starting with a letter, `_` or `/`, and
//! not a YAML 1.1 or 1.2 boolean or null); every other string is a
//! double-quoted scalar with JSON-compatible escapes, which any YAML 1.2
//! parser reads back as the same string. Keys follow the same rule.
//! Numbers, booleans and null are written as they are. Pure; no parsing.

use serde_json::Value;
use std::fmt::Write as _;

/// Render `value` as a YAML document (ending in a newline).
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => write_object(&mut out, map, 0),
        Value::Array(items) if !items.is_empty() => write_array(&mut out, items, 0),
        scalar => {
            out += &inline(scalar);
            out.push('\n');
        }
    }
    out
}

/// A value on the same line as its key or dash: scalars, `{}` and `[]`.
fn inline(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => string(s),
        Value::Array(_) => "[]".to_owned(),
        Value::Object(_) => "{}".to_owned(),
    }
}

fn is_block(value: &Value) -> bool {
    match value {
        Value::Array(items) => !items.is_empty(),
        Value::Object(map) => !map.is_empty(),
        _ => false,
    }
}

fn indent(out: &mut String, level: usize) {
    out.extend(std::iter::repeat_n("  ", level));
}

/// The longest key written as `key: value`. YAML limits an implicit key
/// to 1024 characters; a longer one is written as an explicit `? key`
/// (found by fuzzing: such a key did not read back).
const MAX_IMPLICIT_KEY: usize = 1000;

fn write_object(out: &mut String, map: &serde_json::Map<String, Value>, level: usize) {
    for (i, (key, value)) in map.iter().enumerate() {
        // The first entry of an object inside a list sits after its dash.
        if i > 0 || level == 0 || !out.ends_with("- ") {
            indent(out, level);
        }
        let key = string(key);
        if key.chars().count() > MAX_IMPLICIT_KEY {
            // `? key` / `: value`: YAML allows no longer implicit key.
            out.push_str("? ");
            out.push_str(&key);
            out.push('\n');
            indent(out, level);
        } else {
            out.push_str(&key);
        }
        out.push(':');
        write_value(out, value, level + 1);
    }
}

fn write_array(out: &mut String, items: &[Value], level: usize) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 || level == 0 || !out.ends_with("- ") {
            indent(out, level);
        }
        out.push('-');
        match item {
            Value::Object(map) if !map.is_empty() => {
                out.push(' ');
                write_object(out, map, level + 1);
            }
            Value::Array(inner) if !inner.is_empty() => {
                out.push(' ');
                write_array(out, inner, level + 1);
            }
            scalar => {
                out.push(' ');
                out.push_str(&inline(scalar));
                out.push('\n');
            }
        }
    }
}

/// After `key:`: a scalar on the same line, or a nested block below.
fn write_value(out: &mut String, value: &Value, level: usize) {
    if !is_block(value) {
        out.push(' ');
        out.push_str(&inline(value));
        out.push('\n');
        return;
    }
    out.push('\n');
    match value {
        Value::Object(map) => write_object(out, map, level),
        Value::Array(items) => write_array(out, items, level),
        _ => {}
    }
}

/// A string as a plain word when that is unambiguous, else double-quoted.
fn string(s: &str) -> String {
    if is_plain_safe(s) {
        s.to_owned()
    } else {
        quoted(s)
    }
}

/// Words every YAML reader (1.1 or 1.2) would type as bool or null.
const RESERVED: &[&str] = &["true", "false", "yes", "no", "on", "off", "y", "n", "null"];

fn is_plain_safe(s: &str) -> bool {
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/');
    (first.is_ascii_alphabetic() || first == '_' || first == '/')
        && chars.all(allowed)
        && !RESERVED.contains(&s.to_ascii_lowercase().as_str())
}

/// A double-quoted scalar. Escapes are the JSON ones (`\"`, `\\`, `\n`,
/// `\t`, `\uXXXX`, ...), all of which YAML double-quoted scalars accept;
/// characters YAML does not allow raw (C0/C1 controls, DEL, BOM,
/// non-characters, line and paragraph separators) are escaped too.
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn needs_escape(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}'
        | '\u{7f}'..='\u{9f}'
        | '\u{2028}' | '\u{2029}'
        | '\u{feff}' | '\u{fffe}' | '\u{ffff}')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scalars() {
        assert_eq!(to_yaml(&json!(null)), "null\n");
        assert_eq!(to_yaml(&json!(true)), "true\n");
        assert_eq!(to_yaml(&json!(-12)), "-12\n");
        assert_eq!(to_yaml(&json!(1.5)), "1.5\n");
        assert_eq!(to_yaml(&json!("redis")), "redis\n");
        assert_eq!(to_yaml(&json!({})), "{}\n");
        assert_eq!(to_yaml(&json!([])), "[]\n");
    }

    #[test]
    fn strings_are_plain_only_when_unambiguous() {
        for plain in [
            "redis",
            "my-svc_1",
            "/usr/bin/redis",
            "a.b",
            "Running",
            "_x",
            "v1.2",
        ] {
            assert_eq!(string(plain), plain);
        }
        for (raw, yaml) in [
            ("", r#""""#),
            ("true", r#""true""#),
            ("No", r#""No""#),
            ("NULL", r#""NULL""#),
            ("8080", r#""8080""#),
            ("1.5", r#""1.5""#),
            ("-x", r#""-x""#),
            (".inf", r#"".inf""#),
            ("~", r#""~""#),
            ("a b", r#""a b""#),
            ("key: value", r#""key: value""#),
            ("# not a comment", r##""# not a comment""##),
            (
                "Error(exited with code 3)",
                r#""Error(exited with code 3)""#,
            ),
            ("say \"hi\"\\", r#""say \"hi\"\\""#),
            ("tab\there\nnew", r#""tab\there\nnew""#),
            (
                "bell\u{7}del\u{7f}nel\u{85}",
                r#""bell\u0007del\u007fnel\u0085""#,
            ),
            ("ünïcode ✓", "\"ünïcode ✓\""),
            ("bom\u{feff}", r#""bom\ufeff""#),
        ] {
            assert_eq!(string(raw), yaml, "{raw:?}");
        }
    }

    #[test]
    fn nested_blocks() {
        let value = json!({
            "exec": "sh -c 'sleep 1'",
            "after": ["db", "cache"],
            "env": {"PORT": "8080", "DEBUG": true},
            "signal": {"stop": "SIGINT"},
            "empty_list": [],
            "empty_map": {},
            "n": null,
        });
        let expected = "\
after:
  - db
  - cache
empty_list: []
empty_map: {}
env:
  DEBUG: true
  PORT: \"8080\"
exec: \"sh -c 'sleep 1'\"
\"n\": null
signal:
  stop: SIGINT
";
        assert_eq!(to_yaml(&value), expected);
    }

    #[test]
    fn lists_of_blocks() {
        let value = json!([
            {"pid": 10, "children": [{"pid": 11}, {"pid": 12, "x": [1, [2, 3]]}]},
            [1, [], {}],
            "x",
        ]);
        let expected = "\
- children:
    - pid: 11
    - pid: 12
      x:
        - 1
        - - 2
          - 3
  pid: 10
- - 1
  - []
  - {}
- x
";
        assert_eq!(to_yaml(&value), expected);
    }

    #[test]
    fn keys_are_quoted_like_strings() {
        let value = json!({"8080": 1, "a b": {"": "x"}});
        assert_eq!(to_yaml(&value), "\"8080\": 1\n\"a b\":\n  \"\": x\n");
    }

    #[test]
    fn long_keys_are_explicit() {
        let long = "k".repeat(1001);
        let value = json!({ "a": 1, long.clone(): {"b": [1]}, "c": [{ long.clone(): 2 }] });
        assert_eq!(
            to_yaml(&value),
            format!("a: 1\nc:\n  - ? {long}\n    : 2\n? {long}\n:\n  b:\n    - 1\n")
        );
        let short = "k".repeat(1000);
        assert_eq!(
            to_yaml(&json!({ short.clone(): 1 })),
            format!("{short}: 1\n")
        );
    }
}
