//! `/etc/environment` and `env_file` parsing: `KEY=VALUE` lines, pure.
//!
//! Accepted: `#` comment lines, blank lines, an optional `export ` prefix,
//! whitespace around the key and the value, and a value wrapped in one
//! pair of matching single or double quotes (stripped; no escapes are
//! interpreted, as pam_env does). Lines without `=`, with a key that is not
//! a shell-style name (`[A-Za-z_][A-Za-z0-9_]*`) or with a NUL byte are
//! warned about and skipped. A later line for the same key wins and keeps
//! the position of the first one. Reading the file is the daemon's job.
//!
//! A service's `env_file` is read the same way ([`parse_env_file`]), but
//! strictly: a bad line is an error naming the line, and the run fails,
//! rather than a variable the service counts on silently missing.

use std::collections::HashMap;

/// Parse the text of an environment file into variables (in file order)
/// and warnings of the form `line N: ...`.
pub fn parse_environment(text: &str) -> (Vec<(String, String)>, Vec<String>) {
    let mut vars: Vec<(String, String)> = Vec::new();
    let mut index_of: HashMap<String, usize> = HashMap::new();
    let mut warnings = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        match parse_line(raw) {
            Ok(None) => {}
            Ok(Some((key, value))) => match index_of.get(&key) {
                Some(&i) => vars[i].1 = value,
                None => {
                    index_of.insert(key.clone(), vars.len());
                    vars.push((key, value));
                }
            },
            Err(why) => warnings.push(format!("line {}: {why} (line skipped)", index + 1)),
        }
    }
    (vars, warnings)
}

/// A bad line of an `env_file`: its number (from 1) and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvLineError {
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for EnvLineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// Parse a service's `env_file` text: the lines [`parse_environment`]
/// accepts; the first bad line is an error.
pub fn parse_env_file(text: &str) -> Result<Vec<(String, String)>, EnvLineError> {
    let (vars, _) = parse_environment(text);
    for (index, raw) in text.lines().enumerate() {
        if let Err(message) = parse_line(raw) {
            return Err(EnvLineError {
                line: index + 1,
                message,
            });
        }
    }
    Ok(vars)
}

/// One line: `Ok(None)` for blanks and comments.
fn parse_line(raw: &str) -> Result<Option<(String, String)>, String> {
    let line = raw.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let line = line
        .strip_prefix("export")
        .filter(|rest| rest.starts_with([' ', '\t']))
        .map_or(line, str::trim_start);
    let Some((key, value)) = line.split_once('=') else {
        return Err(format!("expected KEY=VALUE, found {line:?}"));
    };
    let key = key.trim_end();
    if !is_name(key) {
        return Err(format!(
            "invalid variable name {key:?} (letters, digits and '_', not starting with a digit)"
        ));
    }
    let value = unquote(value.trim());
    if value.contains('\0') {
        return Err(format!("value of {key} contains a NUL byte"));
    }
    Ok(Some((key.to_owned(), value.to_owned())))
}

fn is_name(key: &str) -> bool {
    let mut chars = key.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Strip one pair of matching surrounding quotes.
fn unquote(value: &str) -> &str {
    for quote in ['"', '\''] {
        if let Some(inner) = value
            .strip_prefix(quote)
            .and_then(|v| v.strip_suffix(quote))
        {
            return inner;
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(text: &str) -> Vec<(String, String)> {
        let (vars, warnings) = parse_environment(text);
        assert!(warnings.is_empty(), "{warnings:?}");
        vars
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn plain_lines_comments_and_blanks() {
        let text =
            "# comment\n\nPATH=/usr/bin:/bin\n  LANG=C.UTF-8  \r\n\t# indented comment\nEMPTY=\n";
        assert_eq!(
            vars(text),
            pairs(&[
                ("PATH", "/usr/bin:/bin"),
                ("LANG", "C.UTF-8"),
                ("EMPTY", "")
            ])
        );
    }

    #[test]
    fn export_prefix_and_quotes() {
        let text = "export A=1\nexport\tB=\"two words\"\nC='single'\nD=\"unbalanced\nE=\"\"\nexporter=x\nF=a=b\nG = spaced \n";
        assert_eq!(
            vars(text),
            pairs(&[
                ("A", "1"),
                ("B", "two words"),
                ("C", "single"),
                ("D", "\"unbalanced"),
                ("E", ""),
                ("exporter", "x"),
                ("F", "a=b"),
                ("G", "spaced"),
            ])
        );
    }

    #[test]
    fn later_duplicates_win() {
        assert_eq!(vars("A=1\nB=2\nA=3\n"), pairs(&[("A", "3"), ("B", "2")]));
    }

    #[test]
    fn invalid_lines_are_warned_and_skipped() {
        let (vars, warnings) =
            parse_environment("OK=1\nnot a pair\n1BAD=x\nBAD-KEY=y\n=z\nexport\nNUL=a\0b\nOK2=2\n");
        assert_eq!(vars, pairs(&[("OK", "1"), ("OK2", "2")]));
        assert_eq!(
            warnings,
            [
                "line 2: expected KEY=VALUE, found \"not a pair\" (line skipped)",
                "line 3: invalid variable name \"1BAD\" (letters, digits and '_', not starting with a digit) (line skipped)",
                "line 4: invalid variable name \"BAD-KEY\" (letters, digits and '_', not starting with a digit) (line skipped)",
                "line 5: invalid variable name \"\" (letters, digits and '_', not starting with a digit) (line skipped)",
                "line 6: expected KEY=VALUE, found \"export\" (line skipped)",
                "line 7: value of NUL contains a NUL byte (line skipped)",
            ]
        );
    }

    #[test]
    fn env_files_are_strict() {
        assert_eq!(
            parse_env_file("# c\nexport A='1'\n\nB=\"x y\"\n").unwrap(),
            pairs(&[("A", "1"), ("B", "x y")])
        );
        let e = parse_env_file("A=1\n\nnot a pair\nB-C=2\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert_eq!(
            e.to_string(),
            "line 3: expected KEY=VALUE, found \"not a pair\""
        );
    }
}
