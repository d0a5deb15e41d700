//! Tests of the whole pipeline: text in, spec or diagnostics out.
//! (Rendered examples live in `tests/config_golden/`.)

use super::*;
use crate::name::ServiceName;
use crate::signal::Signal;
use crate::spec::{CommandLine, LogMode, ProbePolicy, RestartLimit, RestartPolicy, RestartWhen};
use serde_json::json;
use std::path::PathBuf;
use std::time::Duration;

fn ok(text: &str) -> Parsed {
    match parse_service("web.yaml", text) {
        Ok(parsed) => parsed,
        Err(diags) => panic!("unexpected errors: {:#?}", render(&diags)),
    }
}

fn errors(text: &str) -> Vec<String> {
    match parse_service("web.yaml", text) {
        Ok(parsed) => panic!("unexpectedly valid: {parsed:#?}"),
        Err(diags) => {
            assert!(diags.iter().any(Diagnostic::is_error));
            render(&diags)
        }
    }
}

fn render(diags: &[Diagnostic]) -> Vec<String> {
    diags.iter().map(ToString::to_string).collect()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn names(list: &[&str]) -> Vec<ServiceName> {
    list.iter().map(|n| ServiceName::new(n).unwrap()).collect()
}

#[test]
fn minimal_file_gets_every_default() {
    let p = ok("exec: redis-server --port 7777\n");
    assert!(p.warnings.is_empty());
    let expected = ServiceSpec::from_exec(CommandLine::parse("redis-server --port 7777").unwrap());
    assert_eq!(p.spec, expected);
    assert_eq!(p.spec.shutdown_timeout, Duration::from_secs(10));
    assert_eq!(p.spec.stop_signal, Signal::Term);
    assert_eq!(p.spec.log, LogMode::Ring);
    assert_eq!(p.spec.dir, PathBuf::from("/"));
    assert_eq!(p.spec.restart, RestartPolicy::default());
    assert_eq!(p.spec.probe, ProbePolicy::default());
}

#[test]
fn every_key() {
    let p = ok(r#"
exec: sh -c "echo 'hi there'; sleep 100"
test: "redis-cli ping"
oneshot: true
shutdown_timeout: 30
after: [db, cache]
signal:
  stop: sigint
log: stdout
env:
  PORT: 8080
  DEBUG: true
  RATIO: 1.50
  NAME: web
dir: /srv/web
restart: {delay: 500ms, max_delay: 1m, stable_after: 10s}
test_interval: 1s
test_timeout: 2.5s
"#);
    assert!(p.warnings.is_empty(), "{:?}", render(&p.warnings));
    let s = p.spec;
    assert_eq!(s.exec.argv, ["sh", "-c", "echo 'hi there'; sleep 100"]);
    assert_eq!(s.test.unwrap().argv, ["redis-cli", "ping"]);
    assert!(s.oneshot);
    assert_eq!(s.shutdown_timeout, Duration::from_secs(30));
    assert_eq!(s.after, names(&["db", "cache"]));
    assert_eq!(s.stop_signal, Signal::Int);
    assert_eq!(s.log, LogMode::Stdout);
    let env: Vec<_> = s
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        env,
        [
            ("DEBUG", "true"),
            ("NAME", "web"),
            ("PORT", "8080"),
            ("RATIO", "1.50")
        ]
    );
    assert_eq!(s.dir, PathBuf::from("/srv/web"));
    assert_eq!(
        s.restart,
        RestartPolicy {
            initial_delay: ms(500),
            max_delay: Duration::from_secs(60),
            stable_after: Duration::from_secs(10),
            ..RestartPolicy::default()
        }
    );
    assert_eq!(
        s.probe,
        ProbePolicy {
            interval: Duration::from_secs(1),
            timeout: ms(2500),
        }
    );
}

#[test]
fn log_modes() {
    for (text, mode) in [
        ("ring", LogMode::Ring),
        ("RING", LogMode::Ring),
        ("stdout", LogMode::Stdout),
        ("Stdout", LogMode::Stdout),
        ("null", LogMode::Null),
        ("~", LogMode::Null),
        ("", LogMode::Null),
        ("'null'", LogMode::Null),
        ("none", LogMode::Null),
        ("NONE", LogMode::Null),
    ] {
        let p = ok(&format!("exec: x\nlog: {text}\n"));
        assert_eq!(p.spec.log, mode, "log: {text}");
    }
    assert_eq!(
        errors("exec: x\nlog: file\n"),
        ["web.yaml:2:6: log: unknown log mode \"file\": expected ring, stdout, null or none"]
    );
    assert_eq!(
        errors("exec: x\nlog: true\n"),
        ["web.yaml:2:6: log: expected one of ring, stdout, null, none, found a boolean"]
    );
}

#[test]
fn null_means_default_for_optional_keys() {
    let p = ok("exec: x\ntest:\noneshot: ~\nshutdown_timeout: null\nafter:\nsignal:\nenv:\ndir:\nrestart:\n");
    assert_eq!(
        p.spec,
        ServiceSpec::from_exec(CommandLine::parse("x").unwrap())
    );
    let p = ok("exec: x\nsignal: {stop: ~}\nrestart: {delay: ~}\n");
    assert_eq!(p.spec.stop_signal, Signal::Term);
}

#[test]
fn after_accepts_a_single_name_and_warns_about_repeats() {
    assert_eq!(ok("exec: x\nafter: db\n").spec.after, names(&["db"]));
    assert_eq!(ok("exec: x\nafter: []\n").spec.after, names(&[]));
    let p = ok("exec: x\nafter:\n  - db\n  - 42\n  - db\n");
    assert_eq!(p.spec.after, names(&["db", "42"]));
    assert_eq!(
        render(&p.warnings),
        ["web.yaml:5:5: warning: after[2]: \"db\" is listed more than once"]
    );
    assert_eq!(
        errors("exec: x\nafter: [ok, ../etc, {a: b}, '']\n"),
        [
            "web.yaml:2:13: after[1]: invalid service name \"../etc\": service name must not start with '.'",
            "web.yaml:2:21: after[2]: expected a service name, found a mapping",
            "web.yaml:2:29: after[3]: invalid service name \"\": service name is empty",
        ]
    );
}

#[test]
fn signals_are_case_insensitive_and_checked() {
    for raw in ["SIGINT", "sigint", "INT", "2"] {
        assert_eq!(
            ok(&format!("exec: x\nsignal:\n  stop: {raw}\n"))
                .spec
                .stop_signal,
            Signal::Int
        );
    }
    assert_eq!(
        errors("exec: x\nsignal:\n  stop: SIGNOPE\n"),
        ["web.yaml:3:9: signal.stop: unknown signal \"SIGNOPE\""]
    );
    assert_eq!(
        errors("exec: x\nsignal: SIGINT\n"),
        ["web.yaml:2:9: signal: expected a mapping like `{stop: SIGTERM}`, found a string"]
    );
    let p = ok("exec: x\nsignal:\n  stop: SIGHUP\n  reload: SIGUSR1\n");
    assert_eq!(p.spec.stop_signal, Signal::Hup);
    assert_eq!(
        render(&p.warnings),
        ["web.yaml:4:3: warning: signal.reload: unknown key (ignored)"]
    );
}

#[test]
fn env_values_and_names() {
    let p = ok("exec: x\nenv:\n  PORT: 8080\n  HEX: 0x10\n  EMPTY: ''\n  UNSET:\n  Q: \"8080\"\n");
    assert_eq!(p.spec.env["PORT"], "8080");
    assert_eq!(p.spec.env["HEX"], "0x10");
    assert_eq!(p.spec.env["EMPTY"], "");
    assert_eq!(p.spec.env["UNSET"], "");
    assert_eq!(p.spec.env["Q"], "8080");
    assert_eq!(
        render(&p.warnings),
        ["web.yaml:6:3: warning: env.UNSET: no value; the variable is set to an empty string"]
    );
    assert_eq!(
        errors("exec: x\nenv:\n  A=B: 1\n  '': 2\n  C: [1]\n  D: \"a\\0b\"\n"),
        [
            "web.yaml:3:3: env.A=B: variable name must not contain '='",
            "web.yaml:4:3: env.: variable name is empty",
            "web.yaml:5:6: env.C: expected a string, found a list",
            "web.yaml:6:6: env.D: value must not contain a NUL byte",
        ]
    );
    assert_eq!(
        errors("exec: x\nenv: [A=1]\n"),
        ["web.yaml:2:6: env: expected a mapping of variable names to values, found a list"]
    );
}

#[test]
fn dir_must_be_a_path_and_relative_ones_warn() {
    let p = ok("exec: x\ndir: data\n");
    assert_eq!(p.spec.dir, PathBuf::from("data"));
    assert_eq!(
        render(&p.warnings),
        ["web.yaml:2:6: warning: dir: relative path \"data\" is resolved against zinit's working directory"]
    );
    assert_eq!(
        errors("exec: x\ndir: ''\n"),
        ["web.yaml:2:6: dir: path is empty"]
    );
    assert_eq!(
        errors("exec: x\ndir: 12\n"),
        ["web.yaml:2:6: dir: expected a path, found an integer"]
    );
}

#[test]
fn exec_is_required_and_must_be_a_command() {
    assert_eq!(
        errors("test: x\n"),
        ["web.yaml:1:1: exec: missing required key (the command to run)"]
    );
    assert_eq!(
        errors("exec: 'echo \"x'\n"),
        ["web.yaml:1:7: exec: invalid command line: unbalanced quotes or trailing backslash"]
    );
    assert_eq!(
        errors("exec: ''\n"),
        ["web.yaml:1:7: exec: invalid command line: command is empty"]
    );
    assert_eq!(
        errors("exec:\n"),
        ["web.yaml:1:1: exec: expected a command line, found null"]
    );
    assert_eq!(
        errors("exec: [a, b]\n"),
        ["web.yaml:1:7: exec: expected a command line (a string), found a list"]
    );
}

#[test]
fn booleans_follow_yaml_1_2() {
    for t in ["true", "True", "TRUE"] {
        assert!(ok(&format!("exec: x\noneshot: {t}\n")).spec.oneshot);
    }
    assert!(!ok("exec: x\noneshot: false\n").spec.oneshot);
    assert_eq!(
        errors("exec: x\noneshot: yes\n"),
        ["web.yaml:2:10: oneshot: expected true or false, found the string \"yes\"; write true"]
    );
    assert_eq!(
        errors("exec: x\noneshot: 'true'\n"),
        ["web.yaml:2:10: oneshot: expected true or false, found the string \"true\"; write true"]
    );
    assert_eq!(
        errors("exec: x\noneshot: 1\n"),
        ["web.yaml:2:10: oneshot: expected true or false, found an integer"]
    );
}

#[test]
fn durations() {
    let timeout = |v: &str| {
        ok(&format!("exec: x\nshutdown_timeout: {v}\n"))
            .spec
            .shutdown_timeout
    };
    assert_eq!(timeout("0"), Duration::ZERO);
    assert_eq!(timeout("15"), Duration::from_secs(15));
    assert_eq!(timeout("1.5"), ms(1500));
    assert_eq!(timeout("2m"), Duration::from_secs(120));
    assert_eq!(timeout("'20'"), Duration::from_secs(20));
    assert_eq!(timeout("24h"), Duration::from_secs(86_400));
    assert_eq!(
        errors("exec: x\nshutdown_timeout: -1\n"),
        ["web.yaml:2:19: shutdown_timeout: must not be negative, found -1"]
    );
    assert_eq!(
        errors("exec: x\nshutdown_timeout: 25h\n"),
        ["web.yaml:2:19: shutdown_timeout: 25h is longer than the maximum of 1 day"]
    );
    assert_eq!(
        errors("exec: x\nshutdown_timeout: soon\n"),
        ["web.yaml:2:19: shutdown_timeout: invalid duration \"soon\": expected seconds or numbers with a unit (ms, s, m, h), e.g. 10, \"250ms\", \"1.5s\", \"1m30s\""]
    );
    assert_eq!(
        errors("exec: x\nshutdown_timeout: true\n"),
        ["web.yaml:2:19: shutdown_timeout: expected a duration (seconds, or a string like \"2s\"), found a boolean"]
    );
    assert_eq!(
        errors("exec: x\ntest: t\ntest_timeout: 0\ntest_interval: 0s\n"),
        [
            "web.yaml:3:15: test_timeout: must be greater than zero",
            "web.yaml:4:16: test_interval: must be greater than zero",
        ]
    );
}

#[test]
fn restart_policy() {
    let restart = |v: &str| ok(&format!("exec: x\nrestart: {v}\n")).spec.restart;
    let default = RestartPolicy::default();
    assert_eq!(restart("{}"), default);
    let r = restart("{delay: 1m}");
    assert_eq!(
        (r.initial_delay, r.max_delay),
        (Duration::from_secs(60), Duration::from_secs(60))
    );
    let r = restart("{max_delay: 100ms}");
    assert_eq!((r.initial_delay, r.max_delay), (ms(100), ms(100)));
    let r = restart("{stable_after: 1h}");
    assert_eq!(r.stable_after, Duration::from_secs(3600));
    assert_eq!(
        errors(
            "exec: x\nrestart:\n  delay: 10s\n  max_delay: 5s\n  stable_after: 0\n  jitter: 1\n"
        ),
        [
            "web.yaml:3:10: restart.delay: 10s is greater than restart.max_delay (5s)",
            "web.yaml:5:17: restart.stable_after: must be greater than zero",
            "web.yaml:6:3: warning: restart.jitter: unknown key (ignored)",
        ]
    );
    assert_eq!(
        errors("exec: x\nrestart: 5\n"),
        ["web.yaml:2:10: restart: expected a restart policy (always, on-failure or never) or a mapping like `{policy: on-failure, delay: 1s}`, found an integer"]
    );
}

#[test]
fn restart_policies_and_the_crash_loop_limit() {
    let restart = |v: &str| ok(&format!("exec: x\nrestart: {v}\n")).spec.restart;
    assert_eq!(restart("on-failure").when, Some(RestartWhen::OnFailure));
    assert_eq!(restart("on_failure").when, Some(RestartWhen::OnFailure));
    assert_eq!(restart("never").when, Some(RestartWhen::Never));
    assert_eq!(restart("always").when, Some(RestartWhen::Always));
    assert_eq!(restart("{policy: never}").when, Some(RestartWhen::Never));
    assert_eq!(restart("{delay: 1s}").when, None);
    let r = restart("{policy: on-failure, max_restarts: 5, window: 1m, delay: 1s}");
    assert_eq!(r.when, Some(RestartWhen::OnFailure));
    assert_eq!(
        r.limit,
        Some(RestartLimit {
            max_restarts: 5,
            window: Duration::from_secs(60)
        })
    );
    assert_eq!(r.initial_delay, Duration::from_secs(1));
    // The window defaults to 10 s.
    assert_eq!(
        restart("{max_restarts: 3}").limit,
        Some(RestartLimit {
            max_restarts: 3,
            window: Duration::from_secs(10)
        })
    );
    // The default depends on oneshot; the spec resolves it.
    let oneshot = ok("exec: x\noneshot: true\n").spec;
    assert_eq!(oneshot.restart_when(), RestartWhen::Never);
    let retried = ok("exec: x\noneshot: true\nrestart: on-failure\n").spec;
    assert_eq!(retried.restart_when(), RestartWhen::OnFailure);
    assert_eq!(ok("exec: x\n").spec.restart_when(), RestartWhen::Always);

    assert_eq!(
        errors("exec: x\nrestart: sometimes\n"),
        ["web.yaml:2:10: restart: unknown restart policy \"sometimes\"; expected always, on-failure, never"]
    );
    assert_eq!(
        errors("exec: x\noneshot: true\nrestart: {policy: always}\n"),
        ["web.yaml:3:19: restart.policy: a oneshot cannot restart always (it would run again each time it succeeds); on-failure retries a failed oneshot"]
    );
    assert_eq!(
        errors("exec: x\nrestart:\n  max_restarts: 0\n  window: 0\n  policy: 3\n"),
        [
            "web.yaml:3:17: restart.max_restarts: must be at least 1; to never restart, write `restart: never`",
            "web.yaml:4:11: restart.window: must be greater than zero",
            "web.yaml:5:11: restart.policy: expected always, on-failure or never, found an integer",
        ]
    );
    for bad in ["-1", "1.5", "many", "[1]"] {
        let found = errors(&format!("exec: x\nrestart: {{max_restarts: {bad}}}\n"));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with("web.yaml:2:25: restart.max_restarts: expected a whole number of restarts (1 or more), found"),
            "{found:?}"
        );
    }
    // Keys that mean nothing as written: warnings, the service loads.
    let p = ok("exec: x\nrestart: {policy: never, delay: 1s}\n");
    assert_eq!(
        render(&p.warnings),
        ["web.yaml:2:26: warning: restart.delay: has no effect: the service is never restarted"]
    );
    let p = ok("exec: x\nrestart: {window: 1m}\n");
    assert_eq!(
        render(&p.warnings),
        ["web.yaml:2:19: warning: restart.window: has no effect without restart.max_restarts"]
    );
}

#[test]
fn probe_timings_without_a_test_warn() {
    let p = ok("exec: x\ntest_interval: 2s\n");
    assert_eq!(p.spec.probe.interval, Duration::from_secs(2));
    assert_eq!(
        render(&p.warnings),
        ["web.yaml:2:16: warning: test_interval: has no effect without `test`"]
    );
}

#[test]
fn unknown_keys_warn_and_suggest() {
    let p = ok("exec: x\ncolour: red\nafer: [db]\n");
    assert_eq!(
        render(&p.warnings),
        [
            "web.yaml:2:1: warning: colour: unknown key (ignored)",
            "web.yaml:3:1: warning: afer: unknown key (ignored); did you mean `after`?",
        ]
    );
    assert!(p.spec.after.is_empty());
}

#[test]
fn every_problem_of_a_file_is_reported_at_once() {
    let text = "\
test: echo \"unbalanced
oneshot: maybe
shutdown_timeout: -5
after: [a/b]
signal: {stop: SIGWHAT}
log: syslog
colour: blue
env: {A=B: 1}
oneshot: false
";
    assert_eq!(
        errors(text),
        [
            "web.yaml:1:1: exec: missing required key (the command to run)",
            "web.yaml:1:7: test: invalid command line: unbalanced quotes or trailing backslash",
            "web.yaml:2:10: oneshot: expected true or false, found the string \"maybe\"",
            "web.yaml:3:19: shutdown_timeout: must not be negative, found -5",
            "web.yaml:4:9: after[0]: invalid service name \"a/b\": service name must not contain '/'",
            "web.yaml:5:16: signal.stop: unknown signal \"SIGWHAT\"",
            "web.yaml:6:6: log: unknown log mode \"syslog\": expected ring, stdout, null or none",
            "web.yaml:7:1: warning: colour: unknown key (ignored)",
            "web.yaml:8:7: env.A=B: variable name must not contain '='",
            "web.yaml:9:1: oneshot: duplicate key (each key may appear once)",
        ]
    );
}

#[test]
fn aliases_are_resolved() {
    let p = ok("exec: &cmd redis-server\ntest: *cmd\nenv: &e {A: 1}\nrestart: {delay: &d 2s, max_delay: *d}\n");
    assert_eq!(p.spec.test.unwrap().argv, ["redis-server"]);
    assert_eq!(p.spec.restart.max_delay, Duration::from_secs(2));
}

#[test]
fn file_level_problems() {
    assert_eq!(
        errors(""),
        ["web.yaml:1:1: the file is empty: expected a mapping with at least `exec`"]
    );
    assert_eq!(
        errors("- exec: x\n"),
        ["web.yaml:1:1: expected a mapping of service keys, found a list"]
    );
    assert_eq!(
        errors("just text\n"),
        ["web.yaml:1:1: expected a mapping of service keys, found a string"]
    );
    assert_eq!(
        errors("exec: x\n---\nexec: y\n"),
        ["web.yaml:2:1: more than one yaml document (one service per file)"]
    );
    let e = errors("exec: [x\n");
    assert_eq!(e.len(), 1);
    assert!(
        e[0].starts_with("web.yaml:2:1: yaml syntax error: "),
        "{e:?}"
    );
}

#[test]
fn json_view_types_plain_scalars_only() {
    let text = "exec: x\noneshot: true\nshutdown_timeout: 10\nratio: 1.5\nq: '10'\nn: ~\nafter: [a, 2]\nenv: {PORT: 80}\n";
    let v = service_file_to_json("web.yaml", text).unwrap();
    assert_eq!(
        v,
        json!({
            "exec": "x", "oneshot": true, "shutdown_timeout": 10, "ratio": 1.5, "q": "10",
            "n": null, "after": ["a", 2], "env": {"PORT": 80},
        })
    );
    assert_eq!(
        service_file_to_json("w", "x: .inf\n").unwrap(),
        json!({"x": ".inf"})
    );
    let e = service_file_to_json("w", "a: 1\na: 2\n").unwrap_err();
    assert_eq!(
        render(&e),
        ["w:2:1: a: duplicate key (each key may appear once)"]
    );
    let e = service_file_to_json("w", "[1]\n").unwrap_err();
    assert_eq!(
        render(&e),
        ["w:1:1: expected a mapping of service keys, found a list"]
    );
    // Unknown keys and bad values are not the JSON view's business.
    assert_eq!(
        service_file_to_json("w", "bogus: 1\n").unwrap(),
        json!({"bogus": 1})
    );
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    /// Text made of YAML's structural characters and a few words.
    fn yamlish() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("exec: x\n".to_owned()),
            Just("after:\n".to_owned()),
            Just("- ".to_owned()),
            Just("  ".to_owned()),
            Just("\n".to_owned()),
            Just(": ".to_owned()),
            Just("&a ".to_owned()),
            Just("*a".to_owned()),
            Just("---\n".to_owned()),
            Just("? ".to_owned()),
            "[\\[\\]{},:'\"#|>!%@`\\\\ ~-]".prop_map(|s| s),
            "[a-z0-9.]{1,6}".prop_map(|s| s),
        ];
        prop::collection::vec(piece, 0..40).prop_map(|pieces| pieces.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]
        #[test]
        fn parse_service_is_total(text in yamlish()) {
            match parse_service("f.yaml", &text) {
                Ok(parsed) => prop_assert!(parsed.warnings.iter().all(|d| !d.is_error())),
                Err(diags) => prop_assert!(diags.iter().any(Diagnostic::is_error)),
            }
            let _ = service_file_to_json("f.yaml", &text);
        }
    }
}

/// Found by fuzzing (fuzz/ service_file): `service_get` showed `RATIO:
/// 0.50` as `0.5` and `HEX: 0x1F` as `31`, so giving its answer back to
/// `service_create` changed the service's environment. Where a file
/// means text, only numbers and booleans written canonically are typed.
#[test]
fn json_view_keeps_the_text_where_the_file_means_text() {
    let text = "exec: x\nshutdown_timeout: 0x1F\n\
                env: {A: 8080, B: 0.50, C: 0x1F, D: 007, E: True, F: true, G: 1e3, H: 1.5, I: +7}\n\
                after: [007, 42, 1.50]\nsignal: {stop: 09}\n";
    let v = service_file_to_json("w", text).unwrap();
    assert_eq!(
        v,
        json!({
            "exec": "x", "shutdown_timeout": 31,
            "env": {"A": 8080, "B": "0.50", "C": "0x1F", "D": "007", "E": "True", "F": true,
                    "G": "1e3", "H": 1.5, "I": "+7"},
            "after": ["007", 42, "1.50"], "signal": {"stop": "09"},
        })
    );
    let v = service_file_to_json("w", "exec: x\nafter: 007\n").unwrap();
    assert_eq!(v, json!({"exec": "x", "after": "007"}));
    let v = service_file_to_json("w", "exec: x\numask: 0027\nuser: 33\ngroup: 007\n").unwrap();
    assert_eq!(
        v,
        json!({"exec": "x", "umask": "0027", "user": 33, "group": "007"})
    );
    // Given back to service_create, YAML's octal stays the same mask.
    let v = service_file_to_json("w", "exec: x\numask: 0o27\n").unwrap();
    assert_eq!(v["umask"], "0o27");
    let again = format!("exec: x\numask: {}\n", v["umask"]);
    assert_eq!(ok(&again).spec.umask, Some(0o27));
}

/// Found by fuzzing (fuzz/ service_file): at the end of a file without a
/// final newline, yaml-rust2 puts a syntax error (or a missing value) on
/// a line after the last one; every position now points into the file.
#[test]
fn positions_at_the_end_of_the_file_point_into_it() {
    let e = parse_service("w", "exec: web\nlog: stdout\nl").unwrap_err();
    assert_eq!(
        render(&e),
        ["w:3:2: yaml syntax error: simple key expected"]
    );
    let e = parse_service("w", "exec: app\nafter:\n  -").unwrap_err();
    for d in &e {
        assert!(d.line <= 3, "{d}");
    }
}

#[test]
fn end_actions() {
    use crate::spec::EndAction;
    let s = ok("exec: x\nrestart: never\nfailure_action: shutdown\nsuccess_action: reboot\n").spec;
    assert_eq!(
        (s.failure_action, s.success_action),
        (EndAction::Shutdown, EndAction::Reboot)
    );
    let s = ok("exec: x\n").spec;
    assert_eq!(
        (s.failure_action, s.success_action),
        (EndAction::None, EndAction::None)
    );
    let s = ok("exec: x\noneshot: true\nsuccess_action: poweroff\n").spec;
    assert_eq!(s.success_action, EndAction::Poweroff);
    assert_eq!(
        errors("exec: x\nfailure_action: explode\nsuccess_action: 1\n"),
        [
            "web.yaml:2:17: failure_action: unknown action \"explode\"; expected none, shutdown, poweroff, reboot",
            "web.yaml:3:17: success_action: expected one of none, shutdown, poweroff, reboot, found an integer",
        ]
    );
    // Actions the restart policy never lets happen load, with a warning.
    let p = ok("exec: x\nfailure_action: shutdown\nsuccess_action: shutdown\n");
    assert_eq!(
        render(&p.warnings),
        [
            "web.yaml:2:17: warning: failure_action: has no effect: every failure is restarted; set restart.max_restarts so zinit gives up, or restart: never",
            "web.yaml:3:17: warning: success_action: has no effect: restart always restarts a service that exits 0 (use restart: on-failure or never)",
        ]
    );
    let p = ok("exec: x\nrestart: {max_restarts: 3}\nfailure_action: shutdown\n");
    assert!(p.warnings.is_empty(), "{:?}", render(&p.warnings));
}

#[test]
fn autostart() {
    assert!(ok("exec: x\n").spec.autostart);
    assert!(!ok("exec: x\nautostart: false\n").spec.autostart);
    assert_eq!(
        errors("exec: x\nautostart: later\n"),
        ["web.yaml:2:12: autostart: expected true or false, found the string \"later\""]
    );
}

#[test]
fn dependency_kinds() {
    let s = ok("exec: x\nrequires: [db]\nwants: cache\nconflicts: [maint, old]\n").spec;
    assert_eq!(s.requires, names(&["db"]));
    assert_eq!(s.wants, names(&["cache"]));
    assert_eq!(s.conflicts, names(&["maint", "old"]));
    assert_eq!(s.hard_deps(), names(&["db"]));
    // web.yaml is service web: it cannot require, want or conflict with
    // itself, nor conflict with what it depends on.
    assert_eq!(
        errors("exec: x\nrequires: [web]\nwants: [web]\nconflicts: [web, db]\nafter: [db]\n"),
        [
            "web.yaml:2:11: requires: a service cannot require itself (web)",
            "web.yaml:3:8: wants: a service cannot want itself (web)",
            "web.yaml:4:12: conflicts: a service cannot conflict with itself (web)",
            "web.yaml:4:12: conflicts: db is in both conflicts and after: it cannot run with this service and before it",
        ]
    );
    assert_eq!(
        errors("exec: x\nrequires: {db: 1}\n"),
        ["web.yaml:2:11: requires: expected a list of service names, found a mapping"]
    );
}

#[test]
fn resources_lower_every_limit() {
    use crate::spec::{CpuQuota, Resources};
    let p = ok(r#"
exec: x
resources:
  memory_max: 512MiB
  memory_high: 400MiB
  memory_swap_max: 0
  cpu: 0.5
  cpu_weight: 200
  pids_max: 64
  io_weight: 50
"#);
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    let mib = 1024 * 1024;
    assert_eq!(
        p.spec.resources,
        Resources {
            memory_max: Some(512 * mib),
            memory_high: Some(400 * mib),
            memory_swap_max: Some(0),
            cpu: Some(CpuQuota(500_000)),
            cpu_weight: Some(200),
            pids_max: Some(64),
            io_weight: Some(50),
        }
    );
    assert_eq!(CpuQuota(500_000).quota_micros(), 50_000);
    assert_eq!(
        ok("exec: x\nresources: {cpu: 2}\n").spec.resources.cpu,
        Some(CpuQuota(2_000_000))
    );
    assert_eq!(
        ok("exec: x\nresources: {cpu: \"1.5\"}\n")
            .spec
            .resources
            .cpu,
        Some(CpuQuota(1_500_000))
    );
    assert_eq!(
        ok("exec: x\nresources: {memory_max: 1048576}\n")
            .spec
            .resources
            .memory_max,
        Some(mib)
    );
    assert!(!ok("exec: x\nresources:\n").spec.resources.any());
    assert!(!ok("exec: x\n").spec.resources.any());
}

#[test]
fn bad_resources_name_the_key_and_the_problem() {
    let cases: &[(&str, &str)] = &[
        (
            "resources: 5",
            "web.yaml:2:12: resources: expected a mapping like",
        ),
        (
            "resources: {cpu: 0}",
            "resources.cpu: a CPU limit of 0 cores would never let the service run",
        ),
        (
            "resources: {cpu: -1}",
            "resources.cpu: must be between 0.01 and 4096 cores, found -1",
        ),
        (
            "resources: {cpu: 0.001}",
            "resources.cpu: must be between 0.01 and 4096 cores",
        ),
        (
            "resources: {cpu: lots}",
            "resources.cpu: expected a number of cores like 0.5 or 2, found \"lots\"",
        ),
        (
            "resources: {memory_max: -5}",
            "resources.memory_max: must not be negative, found -5",
        ),
        (
            "resources: {memory_max: 0}",
            "resources.memory_max: must be more than 0 bytes",
        ),
        (
            "resources: {memory_max: 12XB}",
            "resources.memory_max: invalid size \"12XB\"",
        ),
        (
            "resources: {pids_max: 0}",
            "resources.pids_max: must be at least 1, found 0",
        ),
        (
            "resources: {pids_max: many}",
            "resources.pids_max: expected a whole number of at least 1",
        ),
        (
            "resources: {cpu_weight: 0}",
            "resources.cpu_weight: must be between 1 and 10000, found 0",
        ),
        (
            "resources: {io_weight: 10001}",
            "resources.io_weight: must be between 1 and 10000, found 10001",
        ),
        (
            "resources: {memory_max: 100MiB, memory_high: 200MiB}",
            "resources.memory_high: 200MiB is above resources.memory_max (100MiB)",
        ),
    ];
    for (line, expected) in cases {
        let errors = errors(&format!("exec: x\n{line}\n"));
        assert!(
            errors.iter().any(|e| e.contains(expected)),
            "{line}: {errors:?} lacks {expected:?}"
        );
    }
    let p = ok("exec: x\nresources: {memory_maxx: 5}\n");
    assert_eq!(p.warnings.len(), 1);
    let warning = p.warnings[0].to_string();
    assert!(
        warning
            .contains("resources.memory_maxx: unknown key (ignored); did you mean `memory_max`?"),
        "{warning}"
    );
}

// --- The process environment of a run (issue #15).

#[test]
fn process_keys_lowered() {
    use crate::spec::{Account, EnvFile, Limit, Resource, ResourceLimit};
    let p = ok(r#"
exec: web
user: www-data
group: 33
env_file: [/etc/default/web, -/etc/default/web.local]
umask: "0027"
nice: -5
oom_score_adj: -1000
limits:
  nofile: "1024:65536"
  nproc: 4096
  core: unlimited
  memlock: 64MiB
  stack: "8MiB:unlimited"
"#);
    assert!(p.warnings.is_empty(), "{:?}", render(&p.warnings));
    let s = p.spec;
    assert_eq!(s.user, Some(Account::Name("www-data".into())));
    assert_eq!(s.group, Some(Account::Id(33)));
    assert_eq!(
        s.env_file,
        [
            EnvFile {
                path: "/etc/default/web".into(),
                optional: false
            },
            EnvFile {
                path: "/etc/default/web.local".into(),
                optional: true
            }
        ]
    );
    assert_eq!(s.umask, Some(0o027));
    assert_eq!(s.nice, Some(-5));
    assert_eq!(s.oom_score_adj, Some(-1000));
    let both = |v| ResourceLimit { soft: v, hard: v };
    assert_eq!(
        s.limits.get(&Resource::Nofile),
        Some(&ResourceLimit {
            soft: Limit::Value(1024),
            hard: Limit::Value(65536)
        })
    );
    assert_eq!(s.limits[&Resource::Nproc], both(Limit::Value(4096)));
    assert_eq!(s.limits[&Resource::Core], both(Limit::Unlimited));
    assert_eq!(s.limits[&Resource::Memlock], both(Limit::Value(64 << 20)));
    assert_eq!(
        s.limits[&Resource::Stack],
        ResourceLimit {
            soft: Limit::Value(8 << 20),
            hard: Limit::Unlimited
        }
    );
}

#[test]
fn process_keys_defaults_and_single_forms() {
    use crate::spec::{Account, EnvFile};
    let p = ok("exec: web\n");
    assert_eq!(p.spec.user, None);
    assert_eq!(p.spec.group, None);
    assert!(p.spec.env_file.is_empty());
    assert_eq!(
        (p.spec.umask, p.spec.nice, p.spec.oom_score_adj),
        (None, None, None)
    );
    assert!(p.spec.limits.is_empty());
    let p = ok("exec: web\nuser: 0\nenv_file: /a.env\n");
    assert_eq!(p.spec.user, Some(Account::Id(0)));
    assert_eq!(
        p.spec.env_file,
        [EnvFile {
            path: "/a.env".into(),
            optional: false
        }]
    );
    assert_eq!(
        ok("exec: web\nuser: \"4294967294\"\n").spec.user,
        Some(Account::Id(u32::MAX - 1))
    );
}

#[test]
fn umask_is_read_as_octal_digits() {
    for (text, mask) in [
        ("\"0027\"", 0o027),
        ("\"027\"", 0o027),
        ("0027", 0o027),
        ("027", 0o027),
        ("22", 0o022),
        ("0o77", 0o077),
        ("\"0o77\"", 0o077),
        ("'0777'", 0o777),
        ("0", 0),
    ] {
        let p = ok(&format!("exec: web\numask: {text}\n"));
        assert_eq!(p.spec.umask, Some(mask), "{text}");
    }
    for text in [
        "\"0028\"",
        "1000",
        "\"u=rwx\"",
        "-1",
        "0o1000",
        "\"\"",
        "[1]",
        "+7",
        "\"0o\"",
    ] {
        let e = errors(&format!("exec: web\numask: {text}\n"));
        assert_eq!(e.len(), 1, "{text}: {e:?}");
        assert!(e[0].starts_with("web.yaml:2:8: umask: "), "{e:?}");
    }
}

#[test]
fn process_keys_refuse_bad_values() {
    let e = errors(
        r#"exec: web
user: -1
group: 4294967295
nice: 20
oom_score_adj: -1001
env_file: [relative.env, "-", 3]
limits:
  nofile: 10MiB
  stack: "9MiB:8MiB"
  core: -1
  nproc: [1]
  colour: 3
"#,
    );
    assert_eq!(
        e,
        [
            "web.yaml:2:7: user: user id -1 is out of range (0..=4294967294)",
            "web.yaml:3:8: group: group id 4294967295 is out of range (0..=4294967294)",
            "web.yaml:4:7: nice: 20 is out of range (-20..=19)",
            "web.yaml:5:16: oom_score_adj: -1001 is out of range (-1000..=1000)",
            "web.yaml:6:12: env_file[0]: relative path \"relative.env\": write an absolute path (read at every start, it must not depend on zinit's working directory)",
            "web.yaml:6:26: env_file[1]: path is empty",
            "web.yaml:6:31: env_file[2]: expected a path or a list of paths, found an integer",
            "web.yaml:8:11: limits.nofile: invalid limit \"10MiB\": expected a number or \"unlimited\"",
            "web.yaml:9:10: limits.stack: soft limit 9437184 is above hard limit 8388608 (write \"SOFT:HARD\")",
            "web.yaml:10:9: limits.core: invalid size \"-1\": expected bytes or a number with a unit (KiB, MiB, GiB, TiB; K/KB, M/MB, ... mean the same), e.g. \"128KiB\", \"10MiB\"",
            "web.yaml:11:10: limits.nproc: expected a number, \"unlimited\" or \"SOFT:HARD\", found a list",
            "web.yaml:12:3: warning: limits.colour: unknown resource limit (ignored); known: as, core, cpu, data, fsize, memlock, nofile, nproc, stack",
        ]
    );
    assert_eq!(
        errors("exec: web\nuser: 99999999999999999999\ngroup: \"4294967296\"\n"),
        [
            "web.yaml:2:7: user: user id 99999999999999999999 is out of range (0..=4294967294)",
            "web.yaml:3:8: group: group id 4294967296 is out of range (0..=4294967294)",
        ]
    );
    let e = errors("exec: web\nuser: \"a b\"\ngroup: \"\"\n");
    assert_eq!(
        e,
        [
            "web.yaml:2:7: user: invalid user name \"a b\": expected a name like \"www-data\" or a numeric id",
            "web.yaml:3:8: group: invalid group name \"\": expected a name like \"www-data\" or a numeric id",
        ]
    );
    let p = ok("exec: web\nlimits: {nofil: 3}\n");
    assert_eq!(
        render(&p.warnings),
        ["web.yaml:2:10: warning: limits.nofil: unknown resource limit (ignored); did you mean `nofile`?; known: as, core, cpu, data, fsize, memlock, nofile, nproc, stack"]
    );
}
