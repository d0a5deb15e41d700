//! Where one JSON-RPC request ends in a byte stream: at the end of its JSON
//! value, whether or not a newline follows.
//!
//! Real clients frame requests three ways, and all of them must work on
//! one socket: `zinit-client` 0.4 ends each request with `\n`; upstream's
//! own client (jsonrpsee on reth-ipc) writes requests back to back with no
//! separator; upstream's documented Python client sends one request with no
//! newline and waits for the reply; a person may paste a pretty-printed
//! request spread over several lines. So, like reth-ipc's codec and the
//! 0.2.2x server, a request that starts with `{` or `[` ends where its
//! brackets balance outside strings.
//!
//! Two rules keep errors prompt, as line framing had them:
//! - A value that does not start with `{` or `[` is never a request, and
//!   nothing tells where it ends: it runs to the end of its line.
//! - An object or array still open at a newline is checked with
//!   `serde_json`: if what was received is already wrong (not merely
//!   unfinished), the frame ends there, so `{bad\n` gets its parse error at
//!   once instead of waiting for brackets that never balance. The check
//!   runs only when the frame has doubled since the last one, so a long
//!   request with many lines is still scanned in linear time.
//!
//! The scanner is pure: it sees the bytes of the frame received so far and
//! remembers how far it looked, so bytes arriving one at a time cost the
//! same as one large read. Size limits and budgets are the transport's.

/// The end of a frame in the bytes received for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameEnd {
    /// Bytes that form the request (a newline ending a bare value is not
    /// part of it).
    pub len: usize,
    /// Bytes used up, `len` or `len + 1`.
    pub consumed: usize,
}

/// Finds the end of one JSON value that starts at the first byte given to
/// [`scan`](ValueScanner::scan). Make a new one for each frame.
#[derive(Debug, Clone, Default)]
pub struct ValueScanner {
    /// Bytes of the frame already looked at.
    scanned: usize,
    /// Open objects and arrays; 0 before the first byte.
    depth: usize,
    /// The frame does not start with `{` or `[`: it ends at a newline.
    bare: bool,
    in_string: bool,
    escaped: bool,
    /// Frame length at the last syntax check.
    checked: usize,
    /// Bytes parsed by syntax checks in all, to test they stay linear.
    #[cfg(test)]
    check_work: usize,
}

impl ValueScanner {
    pub fn new() -> ValueScanner {
        ValueScanner::default()
    }

    /// Looks at the bytes of `frame` not yet seen (`frame` starts with the
    /// frame's first byte, which is not whitespace, and only grows between
    /// calls) and says where the frame ends, if it does yet.
    pub fn scan(&mut self, frame: &[u8]) -> Option<FrameEnd> {
        if self.scanned == 0 {
            match frame.first() {
                None => return None,
                Some(b'{' | b'[') => {}
                Some(_) => self.bare = true,
            }
        }
        let start = self.scanned;
        self.scanned = frame.len();
        if self.bare {
            let newline = frame[start..].iter().position(|b| *b == b'\n')? + start;
            let len = if newline > 0 && frame[newline - 1] == b'\r' {
                newline - 1
            } else {
                newline
            };
            return Some(FrameEnd {
                len,
                consumed: newline + 1,
            });
        }
        for (i, byte) in frame.iter().enumerate().skip(start) {
            if self.in_string {
                match byte {
                    _ if self.escaped => self.escaped = false,
                    b'\\' => self.escaped = true,
                    b'"' => self.in_string = false,
                    _ => {}
                }
                continue;
            }
            match byte {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    self.depth = self.depth.saturating_sub(1);
                    if self.depth == 0 {
                        return Some(FrameEnd {
                            len: i + 1,
                            consumed: i + 1,
                        });
                    }
                }
                b'\n' if self.already_wrong(&frame[..=i]) => {
                    return Some(FrameEnd {
                        len: i + 1,
                        consumed: i + 1,
                    });
                }
                _ => {}
            }
        }
        None
    }

    /// Whether `received`, an unfinished value ending at a newline, is
    /// already invalid JSON (checked when it has doubled since the last
    /// check, so the checks add up to at most twice the frame's length).
    fn already_wrong(&mut self, received: &[u8]) -> bool {
        if received.len() < self.checked.saturating_mul(2) {
            return false;
        }
        self.checked = received.len();
        #[cfg(test)]
        {
            self.check_work += received.len();
        }
        match serde_json::from_slice::<serde::de::IgnoredAny>(received) {
            Err(e) => !e.is_eof(),
            Ok(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Splits `stream` into frames as a server would, feeding it `step`
    /// bytes at a time.
    fn frames(stream: &[u8], step: usize) -> Vec<String> {
        let mut out = Vec::new();
        let mut frame: Vec<u8> = Vec::new();
        let mut scanner = ValueScanner::new();
        let mut rest = stream;
        while !rest.is_empty() {
            if frame.is_empty() && rest[0].is_ascii_whitespace() {
                rest = &rest[1..];
                continue;
            }
            let take = step.min(rest.len());
            let before = frame.len();
            frame.extend_from_slice(&rest[..take]);
            match scanner.scan(&frame) {
                Some(end) => {
                    rest = &rest[end.consumed - before..];
                    out.push(String::from_utf8_lossy(&frame[..end.len]).into_owned());
                    frame.clear();
                    scanner = ValueScanner::new();
                }
                None => rest = &rest[take..],
            }
        }
        if !frame.is_empty() {
            out.push(format!("unfinished: {}", String::from_utf8_lossy(&frame)));
        }
        out
    }

    fn all_steps(stream: &str, expected: &[&str]) {
        for step in [1, 2, 3, 7, 64, 4096] {
            assert_eq!(frames(stream.as_bytes(), step), expected, "step {step}");
        }
    }

    #[test]
    fn a_value_ends_where_its_brackets_balance_with_or_without_a_newline() {
        all_steps(
            r#"{"id":1}{"id":2}  [{"id":3}]
{"id":4}"#,
            &[r#"{"id":1}"#, r#"{"id":2}"#, r#"[{"id":3}]"#, r#"{"id":4}"#],
        );
    }

    #[test]
    fn brackets_inside_strings_and_escaped_quotes_do_not_count() {
        all_steps(
            r#"{"a":"}]\"{[","b":"\\"}{"c":"\\\""}"#,
            &[r#"{"a":"}]\"{[","b":"\\"}"#, r#"{"c":"\\\""}"#],
        );
    }

    #[test]
    fn a_pretty_printed_request_is_one_frame() {
        let pretty = "{\n  \"jsonrpc\": \"2.0\",\n  \"id\": 1,\n  \"method\": \"service_list\"\n}";
        all_steps(&format!("{pretty}\n\n{pretty}"), &[pretty, pretty]);
    }

    #[test]
    fn a_bare_value_runs_to_the_end_of_its_line() {
        all_steps(
            "list\r\n42 {\"a\":1}\n{\"b\":2}",
            &["list", "42 {\"a\":1}", "{\"b\":2}"],
        );
    }

    #[test]
    fn an_open_value_already_wrong_at_a_newline_ends_there() {
        all_steps("{bad json\n{\"id\":1}", &["{bad json\n", "{\"id\":1}"]);
        // Merely unfinished: it waits for more.
        all_steps(
            "{\"jsonrpc\":\"2.0\",\n\"id\":1}",
            &["{\"jsonrpc\":\"2.0\",\n\"id\":1}"],
        );
        all_steps("[1,\n", &["unfinished: [1,\n"]);
    }

    #[test]
    fn a_stray_closing_bracket_is_a_frame_of_its_own() {
        all_steps("{\"a\":1]} x\n", &["{\"a\":1]", "} x"]);
    }

    #[test]
    fn syntax_checks_stay_linear_in_the_frame_length() {
        // 100 000 lines inside one open object: without the doubling rule
        // this would parse about 5 * 10^9 bytes.
        let mut stream = String::from("{\"a\":[");
        for _ in 0..100_000 {
            stream.push_str("1,\n");
        }
        stream.push_str("1]}");
        for step in [1, 4096] {
            let mut scanner = ValueScanner::new();
            let mut end = None;
            for upto in (step..stream.len() + step).step_by(step) {
                end = scanner.scan(&stream.as_bytes()[..upto.min(stream.len())]);
            }
            assert_eq!(end.unwrap().len, stream.len());
            assert!(
                scanner.check_work <= 2 * stream.len(),
                "{}",
                scanner.check_work
            );
        }
    }
}
