//! Diagnostics: one problem of one service file, with its position.
//!
//! Lowering never stops at the first problem; it pushes every one into a
//! `Diags` collector and the caller gets them all, sorted by position.
//! This module only formats and collects; it decides nothing about YAML.

use std::fmt;

/// How bad a problem is. An error leaves the service unloaded; a warning
/// is reported and the service loads anyway.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Severity {
    Error,
    Warning,
}

/// One problem of a service file.
///
/// Displays as `FILE:LINE:COL: KEY: MESSAGE`, with `warning: ` after the
/// location for warnings; absent parts are left out (`line == 0` means the
/// problem concerns the whole file and has no position).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Diagnostic {
    pub file: String,
    /// 1-based; 0 = whole file (no line or column shown).
    pub line: usize,
    /// 1-based; 0 = unknown (not shown).
    pub column: usize,
    /// Dotted path of the key concerned, e.g. `signal.stop`, `after[1]`.
    pub key: Option<String>,
    pub severity: Severity,
    pub message: String,
}

impl Diagnostic {
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut location = self.file.clone();
        if self.line > 0 {
            location = if location.is_empty() {
                self.line.to_string()
            } else {
                format!("{location}:{}", self.line)
            };
            if self.column > 0 {
                location = format!("{location}:{}", self.column);
            }
        }
        if !location.is_empty() {
            write!(f, "{location}: ")?;
        }
        if self.severity == Severity::Warning {
            f.write_str("warning: ")?;
        }
        if let Some(key) = &self.key {
            write!(f, "{}: ", one_line(key))?;
        }
        f.write_str(&one_line(&self.message))
    }
}

/// Text from the file (a key spanning lines, say) with its control
/// characters escaped, so a diagnostic stays one line in zinit's log and
/// the CLI's output (found by fuzzing).
fn one_line(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains(char::is_control) {
        return text.into();
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
}

/// A position in the text: 1-based line and column (0 = none).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Pos {
    pub line: usize,
    pub col: usize,
}

/// Collects the diagnostics of one file.
pub(crate) struct Diags {
    file: String,
    list: Vec<Diagnostic>,
}

impl Diags {
    pub fn new(file: &str) -> Diags {
        Diags {
            file: file.to_owned(),
            list: Vec::new(),
        }
    }

    pub fn error(&mut self, at: Pos, key: Option<&str>, message: impl Into<String>) {
        self.push(Severity::Error, at, key, message.into());
    }

    pub fn warn(&mut self, at: Pos, key: Option<&str>, message: impl Into<String>) {
        self.push(Severity::Warning, at, key, message.into());
    }

    fn push(&mut self, severity: Severity, at: Pos, key: Option<&str>, message: String) {
        self.list.push(Diagnostic {
            file: self.file.clone(),
            line: at.line,
            column: at.col,
            key: key.map(str::to_owned),
            severity,
            message,
        });
    }

    pub fn has_errors(&self) -> bool {
        self.error_count() > 0
    }

    pub fn error_count(&self) -> usize {
        self.list.iter().filter(|d| d.is_error()).count()
    }

    /// Every diagnostic, in file order (whole-file ones first), each
    /// position moved onto `text`: at the end of input yaml-rust2 reports
    /// marks on the line after the last one (found by fuzzing).
    pub fn into_sorted_within(mut self, text: &str) -> Vec<Diagnostic> {
        let normalized = text.replace("\r\n", "\n");
        let lines: Vec<usize> = normalized
            .split(['\n', '\r'])
            .map(|l| l.chars().count())
            .collect();
        for d in &mut self.list {
            if d.line > 0 {
                let at = within(
                    &lines,
                    Pos {
                        line: d.line,
                        col: d.column,
                    },
                );
                (d.line, d.column) = (at.line, at.col);
            }
        }
        self.into_sorted()
    }

    /// Every diagnostic, in file order (whole-file ones first).
    pub fn into_sorted(mut self) -> Vec<Diagnostic> {
        self.list.sort_by_key(|d| (d.line, d.column));
        self.list
    }
}

/// `at` moved onto a text whose lines have these lengths (in chars): past
/// the last line is the end of the last line, past the end of a line is
/// just after its last character.
fn within(lines: &[usize], at: Pos) -> Pos {
    let line = at.line.clamp(1, lines.len().max(1));
    let end = lines.get(line - 1).copied().unwrap_or(0) + 1;
    let col = if line < at.line {
        end
    } else {
        at.col.clamp(1, end)
    };
    Pos { line, col }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diag(line: usize, column: usize, key: Option<&str>, severity: Severity) -> Diagnostic {
        Diagnostic {
            file: "web.yaml".into(),
            line,
            column,
            key: key.map(Into::into),
            severity,
            message: "unknown key (ignored)".into(),
        }
    }

    #[test]
    fn renders_every_part_that_is_present() {
        let d = diag(3, 1, Some("colour"), Severity::Warning);
        assert_eq!(
            d.to_string(),
            "web.yaml:3:1: warning: colour: unknown key (ignored)"
        );
        let d = diag(3, 1, Some("colour"), Severity::Error);
        assert_eq!(d.to_string(), "web.yaml:3:1: colour: unknown key (ignored)");
        let d = diag(0, 0, None, Severity::Error);
        assert_eq!(d.to_string(), "web.yaml: unknown key (ignored)");
        let d = diag(7, 0, Some("exec"), Severity::Error);
        assert_eq!(d.to_string(), "web.yaml:7: exec: unknown key (ignored)");
        let mut d = diag(0, 0, Some("exec"), Severity::Warning);
        d.file.clear();
        assert_eq!(d.to_string(), "warning: exec: unknown key (ignored)");
    }

    #[test]
    fn sorts_by_position_keeping_insertion_order_on_ties() {
        let mut d = Diags::new("f");
        d.error(Pos { line: 4, col: 1 }, Some("b"), "x");
        d.warn(Pos { line: 2, col: 3 }, Some("a"), "x");
        d.error(Pos { line: 4, col: 1 }, Some("c"), "x");
        d.error(Pos::default(), None, "whole file");
        assert!(d.has_errors());
        let keys: Vec<_> = d.into_sorted().into_iter().map(|d| d.key).collect();
        assert_eq!(
            keys,
            [None, Some("a".into()), Some("b".into()), Some("c".into())]
        );
    }

    #[test]
    fn positions_are_moved_onto_the_text() {
        let lines = [1, 2];
        assert_eq!(
            within(&lines, Pos { line: 7, col: 9 }),
            Pos { line: 2, col: 3 }
        );
        assert_eq!(
            within(&lines, Pos { line: 1, col: 9 }),
            Pos { line: 1, col: 2 }
        );
        assert_eq!(
            within(&lines, Pos { line: 2, col: 0 }),
            Pos { line: 2, col: 1 }
        );
        assert_eq!(
            within(&[], Pos { line: 3, col: 3 }),
            Pos { line: 1, col: 1 }
        );
        let mut d = Diags::new("f");
        d.error(Pos { line: 9, col: 9 }, None, "x");
        d.error(Pos::default(), None, "whole file");
        let sorted = d.into_sorted_within("ab\r\nc");
        let at: Vec<_> = sorted.iter().map(|d| (d.line, d.column)).collect();
        assert_eq!(at, [(0, 0), (2, 2)]);
    }

    #[test]
    fn renders_on_one_line_whatever_the_key() {
        let mut d = diag(2, 3, Some("log_file.a\n\nb\t"), Severity::Warning);
        d.message = "bad\rvalue".into();
        assert_eq!(
            d.to_string(),
            "web.yaml:2:3: warning: log_file.a\\n\\nb\\t: bad\\rvalue"
        );
    }
}
