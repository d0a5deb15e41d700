//! The fuzz targets' checks as ordinary tests, on stable Rust: every file of
//! the committed corpus and of `regressions/` (inputs the fuzzer once broke
//! zinit with), then mutated corpus inputs for a few seconds per target.
//!
//! `ZINIT_FUZZ_SMOKE_SECS` sets the mutation time per target (default 2);
//! `ZINIT_FUZZ_SEED` replays one run (the seed is printed on failure).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

type Check = fn(&[u8]);

fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut found = Vec::new();
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if let Ok(data) = std::fs::read(&path) {
                found.push((path, data));
            }
        }
    }
    found.sort();
    found
}

/// xorshift64*: no dependency, reproducible from the printed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Tokens worth inserting: the syntax each parser cares about.
const TOKENS: &[&[u8]] = &[
    b"\n",
    b"\r\n",
    b"\r",
    b" ",
    b"\t",
    b"\0",
    b":",
    b": ",
    b"- ",
    b"[",
    b"]",
    b"{",
    b"}",
    b",",
    b"\"",
    b"'",
    b"\\",
    b"&a ",
    b"*a",
    b"!!str ",
    b"!x ",
    b"---\n",
    b"...\n",
    b"#",
    b"|\n",
    b">-\n",
    b"0x1F",
    b"0o17",
    b"1e3",
    b".inf",
    b"-1",
    b"99999999999999999999",
    b"~",
    b"null",
    b"true",
    b"True",
    b"exec: ",
    b"after: ",
    b"env: ",
    b"log_file: ",
    b"restart: ",
    b"test: ",
    b"signal: ",
    b"250ms",
    b"1.5s",
    b"10MiB",
    b"\"jsonrpc\":\"2.0\"",
    b"\"id\":",
    b"\"method\":",
    b"\"params\":",
    b"service_status",
    b"service.list",
    b"null",
    b"1e400",
    b"\\u0000",
    b"\\ud800",
    b"export ",
    b"=",
    b"status ",
    b"kill ",
    b"log snapshot",
    b"\xff",
    b"\xc3\xa9",
    b"\xf0\x9f\x92\xa9",
];

fn mutate(rng: &mut Rng, corpus: &[(PathBuf, Vec<u8>)], base: &[u8]) -> Vec<u8> {
    let mut data = base.to_vec();
    for _ in 0..=rng.below(4) {
        let len = data.len();
        let at = rng.below(len + 1);
        match rng.below(8) {
            0 if len > 0 => {
                let i = rng.below(len);
                data[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                data[i] = rng.next() as u8;
            }
            2 | 3 => {
                let token = TOKENS[rng.below(TOKENS.len())];
                data.splice(at..at, token.iter().copied());
            }
            4 if len > 0 => {
                let end = (at + 1 + rng.below(16)).min(len);
                data.drain(at.min(len - 1)..end);
            }
            5 if len > 0 => {
                let start = rng.below(len);
                let end = (start + 1 + rng.below(32)).min(len);
                let piece = data[start..end].to_vec();
                data.splice(at..at, piece);
            }
            6 if !corpus.is_empty() => {
                let other = &corpus[rng.below(corpus.len())].1;
                if !other.is_empty() {
                    let start = rng.below(other.len());
                    let end = (start + 1 + rng.below(64)).min(other.len());
                    data.splice(at..at, other[start..end].iter().copied());
                }
            }
            _ => data.truncate(at),
        }
    }
    data
}

fn smoke(target: &str, check: Check) {
    let corpus = inputs(target);
    assert!(!corpus.is_empty(), "no corpus for {target}");
    for (path, data) in &corpus {
        if std::panic::catch_unwind(|| check(data)).is_err() {
            panic!("{target}: {} fails its checks", path.display());
        }
    }
    let secs: f64 = std::env::var("ZINIT_FUZZ_SMOKE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0);
    let seed = std::env::var("ZINIT_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
                | 1
        });
    let mut rng = Rng(seed);
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let mut runs = 0u64;
    while Instant::now() < deadline {
        let base = &corpus[rng.below(corpus.len())].1;
        let data = mutate(&mut rng, &corpus, base);
        if std::panic::catch_unwind(|| check(&data)).is_err() {
            panic!(
                "{target}: mutated input fails its checks (ZINIT_FUZZ_SEED={seed}, run {runs}):\n{:?}",
                String::from_utf8_lossy(&data)
            );
        }
        runs += 1;
    }
    eprintln!(
        "{target}: {} corpus inputs, {runs} mutated runs in {secs} s (seed {seed})",
        corpus.len()
    );
}

#[test]
fn service_file() {
    smoke("service_file", zinit_fuzz::service_file);
}

#[test]
fn legacy_line() {
    smoke("legacy_line", zinit_fuzz::legacy_line);
}

#[test]
fn jsonrpc_frame() {
    smoke("jsonrpc_frame", zinit_fuzz::jsonrpc_frame);
}

#[test]
fn jsonrpc_stream() {
    smoke("jsonrpc_stream", zinit_fuzz::jsonrpc_stream);
}

#[test]
fn envfile() {
    smoke("envfile", zinit_fuzz::envfile);
}

/// Large hostile inputs (about a megabyte each) are handled in linear
/// time: a quadratic parser would take minutes here, not a fraction of a
/// second. The bound is generous for a loaded CI machine.
#[test]
fn large_inputs_stay_linear() {
    let lines = |n: usize, f: &dyn Fn(usize) -> String| -> Vec<u8> {
        (0..n).map(f).collect::<String>().into_bytes()
    };
    let cases: Vec<(&str, Check, Vec<u8>)> = vec![
        (
            "open flow brackets",
            zinit_fuzz::service_file,
            [b"exec: x\nenv: ".as_slice(), &[b'['; 1_000_000]].concat(),
        ),
        (
            "nested blocks",
            zinit_fuzz::service_file,
            lines(2000, &|i| format!("{}a:\n", " ".repeat(i))),
        ),
        (
            "one long escaped scalar",
            zinit_fuzz::service_file,
            format!("exec: \"{}\"\n", "\\u0041".repeat(200_000)).into_bytes(),
        ),
        (
            "many keys",
            zinit_fuzz::service_file,
            lines(90_000, &|i| format!("k{i}: {i}\n")),
        ),
        (
            "many duplicate keys",
            zinit_fuzz::service_file,
            [
                b"exec: x\nenv:\n".to_vec(),
                lines(100_000, &|i| format!("  K: {i}\n")),
            ]
            .concat(),
        ),
        (
            "deep JSON",
            zinit_fuzz::jsonrpc_frame,
            vec![b'['; 1_000_000],
        ),
        (
            "big batch",
            zinit_fuzz::jsonrpc_frame,
            format!(
                "[{}]",
                vec![
                    r#"{"jsonrpc":"2.0","method":"service_status","params":["a"],"id":1}"#;
                    20_000
                ]
                .join(",")
            )
            .into_bytes(),
        ),
        (
            "one request over many lines",
            zinit_fuzz::jsonrpc_stream,
            [
                b"\x03{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"service_list\",\"params\":["
                    .to_vec(),
                lines(200_000, &|_| "1,\n".to_owned()),
                b"1]}".to_vec(),
            ]
            .concat(),
        ),
        (
            "many requests back to back",
            zinit_fuzz::jsonrpc_stream,
            [
                b"\x0f".to_vec(),
                lines(10_000, &|i| {
                    format!(
                        r#"{{"jsonrpc":"2.0","id":{i},"method":"service_status","params":["a"]}}"#
                    )
                }),
            ]
            .concat(),
        ),
        (
            "many quoted words",
            zinit_fuzz::legacy_line,
            format!("status {}", "'a'".repeat(300_000)).into_bytes(),
        ),
        (
            "long environment",
            zinit_fuzz::envfile,
            [
                format!("A={}\n", "x".repeat(1_000_000)).into_bytes(),
                lines(100_000, &|_| "B=1\n".to_owned()),
            ]
            .concat(),
        ),
    ];
    for (what, check, data) in cases {
        let start = Instant::now();
        check(&data);
        let took = start.elapsed();
        assert!(took < Duration::from_secs(10), "{what}: {took:?}");
        eprintln!("{what}: {} bytes in {took:?}", data.len());
    }
}
