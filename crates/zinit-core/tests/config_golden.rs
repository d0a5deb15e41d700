//! Golden files for service-file lowering.
//!
//! Each `tests/config_golden/*.yaml` is parsed with
//! `zinit_core::config::parse_service` (and `service_file_to_json`); the
//! rendered outcome must equal the neighbouring `*.expected` file. Run
//! with `ZINIT_BLESS=1` to (re)write the expected files, then review the
//! diff.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use zinit_core::config::{
    format_duration, format_size, parse_service, service_file_to_json, Diagnostic,
};
use zinit_core::spec::ServiceSpec;

fn render_spec(out: &mut String, s: &ServiceSpec) {
    let test = s.test.as_ref().map(|t| format!("{:?}", t.argv));
    let after: Vec<&str> = s.after.iter().map(|n| n.as_str()).collect();
    let _ = writeln!(out, "exec: {:?}", s.exec.argv);
    let _ = writeln!(out, "test: {}", test.as_deref().unwrap_or("none"));
    let _ = writeln!(out, "oneshot: {}", s.oneshot);
    let _ = writeln!(
        out,
        "shutdown_timeout: {}",
        format_duration(s.shutdown_timeout)
    );
    let _ = writeln!(out, "after: {after:?}");
    let _ = writeln!(out, "signal.stop: {}", s.stop_signal);
    let _ = writeln!(out, "log: {:?}", s.log);
    match &s.log_file {
        Some(f) => {
            let _ = writeln!(
                out,
                "log_file: max_size {} ({}), keep {}",
                f.max_size,
                format_size(f.max_size),
                f.keep
            );
        }
        None => {
            let _ = writeln!(out, "log_file: off");
        }
    }
    let _ = writeln!(out, "env: {:?}", s.env);
    let _ = writeln!(out, "dir: {:?}", s.dir);
    let r = &s.restart;
    let _ = writeln!(
        out,
        "restart: delay {}, max_delay {}, stable_after {}",
        format_duration(r.initial_delay),
        format_duration(r.max_delay),
        format_duration(r.stable_after)
    );
    let p = &s.probe;
    let _ = writeln!(
        out,
        "probe: interval {}, timeout {}",
        format_duration(p.interval),
        format_duration(p.timeout)
    );
}

fn render_diags(out: &mut String, title: &str, diags: &[Diagnostic]) {
    if diags.is_empty() {
        return;
    }
    let _ = writeln!(out, "# {title}");
    for d in diags {
        let _ = writeln!(out, "{d}");
    }
}

fn render(file: &str, text: &str) -> String {
    let mut out = String::new();
    match parse_service(file, text) {
        Ok(parsed) => {
            render_diags(&mut out, "warnings", &parsed.warnings);
            let _ = writeln!(out, "# spec");
            render_spec(&mut out, &parsed.spec);
        }
        Err(diags) => render_diags(&mut out, "errors", &diags),
    }
    let _ = writeln!(out, "# json");
    match service_file_to_json(file, text) {
        Ok(value) => {
            let _ = writeln!(out, "{value}");
        }
        Err(diags) => {
            let _ = writeln!(out, "refused ({} diagnostics)", diags.len());
        }
    }
    out
}

fn cases(dir: &Path) -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read golden dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    cases.sort();
    cases
}

#[test]
fn golden_files() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/config_golden");
    let bless = std::env::var_os("ZINIT_BLESS").is_some_and(|v| v == "1");
    let cases = cases(&dir);
    assert!(
        cases.len() >= 10,
        "golden cases missing in {}",
        dir.display()
    );
    let mut failures = Vec::new();
    for case in &cases {
        let text = std::fs::read_to_string(case).expect("read case");
        let name = case
            .file_name()
            .and_then(|n| n.to_str())
            .expect("utf-8 name");
        let actual = render(name, &text);
        let expected_path = case.with_extension("expected");
        if bless {
            std::fs::write(&expected_path, &actual).expect("write expected");
            continue;
        }
        match std::fs::read_to_string(&expected_path) {
            Ok(expected) if expected == actual => {}
            Ok(expected) => failures.push(format!(
                "{name}: output differs\n--- expected\n{expected}--- actual\n{actual}"
            )),
            Err(_) => failures.push(format!("{name}: no .expected file\n--- actual\n{actual}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{}\n(run with ZINIT_BLESS=1 to accept the new output)",
        failures.join("\n")
    );
}
