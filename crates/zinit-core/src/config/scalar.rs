//! Typing of tree nodes with the YAML 1.2 core schema.
//!
//! Only plain scalars are typed: `true`/`True`/`TRUE` (and false) are
//! booleans, `null`/`Null`/`NULL`/`~`/empty are null, `[-+]?[0-9]+`,
//! `0o17`, `0x1F` are integers, decimal and `.inf`/`.nan` forms are
//! floats. YAML 1.1's `yes`/`no`/`on`/`off` are strings. Quoted scalars
//! are always strings. This module decides types, not meanings.

use super::yaml_tree::{Node, NodeKind};

/// A node seen through the core schema.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Typed<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'a str),
    Seq(&'a [Node]),
    Map(&'a [(Node, Node)]),
}

impl<'a> Typed<'a> {
    pub fn of(node: &'a Node) -> Typed<'a> {
        match &node.kind {
            NodeKind::Scalar { text, plain: true } => type_plain(text),
            NodeKind::Scalar { text, plain: false } => Typed::Str(text),
            NodeKind::Seq(items) => Typed::Seq(items),
            NodeKind::Map(entries) => Typed::Map(entries),
        }
    }

    /// How the type is named in messages: "expected X, found <this>".
    pub fn describe(&self) -> &'static str {
        match self {
            Typed::Null => "null",
            Typed::Bool(_) => "a boolean",
            Typed::Int(_) => "an integer",
            Typed::Float(_) => "a number",
            Typed::Str(_) => "a string",
            Typed::Seq(_) => "a list",
            Typed::Map(_) => "a mapping",
        }
    }
}

/// The type of a plain scalar's text.
pub(crate) fn type_plain(text: &str) -> Typed<'_> {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Typed::Null,
        "true" | "True" | "TRUE" => return Typed::Bool(true),
        "false" | "False" | "FALSE" => return Typed::Bool(false),
        _ => {}
    }
    if let Some(n) = parse_int(text) {
        return n;
    }
    match parse_float(text) {
        Some(f) => Typed::Float(f),
        None => Typed::Str(text),
    }
}

/// Core-schema integers; those too big for i64 become floats.
fn parse_int(text: &str) -> Option<Typed<'_>> {
    let (radix, digits, negative) = if let Some(hex) = text.strip_prefix("0x") {
        (16, hex, false)
    } else if let Some(oct) = text.strip_prefix("0o") {
        (8, oct, false)
    } else if let Some(rest) = text.strip_prefix('-') {
        (10, rest, true)
    } else {
        (10, text.strip_prefix('+').unwrap_or(text), false)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u128::from_str_radix(digits, radix).ok();
    let value = magnitude.and_then(|m| {
        let m = i128::try_from(m).ok()?;
        i64::try_from(if negative { -m } else { m }).ok()
    });
    Some(match value {
        Some(v) => Typed::Int(v),
        None => {
            let float: f64 = digits.parse().unwrap_or(f64::INFINITY);
            Typed::Float(if negative { -float } else { float })
        }
    })
}

/// Core-schema floats: `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`
/// and the `.inf` / `.nan` spellings.
fn parse_float(text: &str) -> Option<f64> {
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    let negative = text.starts_with('-');
    if matches!(unsigned, ".inf" | ".Inf" | ".INF") {
        return Some(if negative {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    if matches!(text, ".nan" | ".NaN" | ".NAN") {
        return Some(f64::NAN);
    }
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(i) => (&unsigned[..i], Some(&unsigned[i + 1..])),
        None => (unsigned, None),
    };
    let (int_part, frac_part) = match mantissa.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (mantissa, None),
    };
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    let mantissa_ok = match frac_part {
        None => !int_part.is_empty() && digits(int_part),
        Some(f) if int_part.is_empty() => !f.is_empty() && digits(f),
        Some(f) => digits(int_part) && digits(f),
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    if !(mantissa_ok && exponent_ok) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_schema_booleans_and_nulls() {
        for t in ["true", "True", "TRUE"] {
            assert_eq!(type_plain(t), Typed::Bool(true));
        }
        for t in ["false", "False", "FALSE"] {
            assert_eq!(type_plain(t), Typed::Bool(false));
        }
        for t in ["", "~", "null", "Null", "NULL"] {
            assert_eq!(type_plain(t), Typed::Null);
        }
        for t in ["yes", "no", "on", "off", "tRue", "nULL", "y"] {
            assert_eq!(type_plain(t), Typed::Str(t));
        }
    }

    #[test]
    fn core_schema_numbers() {
        assert_eq!(type_plain("10"), Typed::Int(10));
        assert_eq!(type_plain("-3"), Typed::Int(-3));
        assert_eq!(type_plain("+7"), Typed::Int(7));
        assert_eq!(type_plain("007"), Typed::Int(7));
        assert_eq!(type_plain("0x1F"), Typed::Int(31));
        assert_eq!(type_plain("0o17"), Typed::Int(15));
        assert_eq!(type_plain("1.5"), Typed::Float(1.5));
        assert_eq!(type_plain(".5"), Typed::Float(0.5));
        assert_eq!(type_plain("2."), Typed::Float(2.0));
        assert_eq!(type_plain("1e3"), Typed::Float(1000.0));
        assert_eq!(type_plain("-1.5E-1"), Typed::Float(-0.15));
        assert_eq!(type_plain("-.inf"), Typed::Float(f64::NEG_INFINITY));
        assert!(matches!(type_plain(".nan"), Typed::Float(f) if f.is_nan()));
        assert_eq!(type_plain("99999999999999999999"), Typed::Float(1e20));
        for t in [
            "1.2.3", "0x", "0xZ", "1e", "e3", ".", "-", "+", "1_000", "10s", "0b1", "inf", "nan",
        ] {
            assert_eq!(type_plain(t), Typed::Str(t), "{t}");
        }
    }
}
