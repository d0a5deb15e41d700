//! `why` explains a state in words, over JSON-RPC and the CLI.

use super::*;

fn why(d: &Daemon, name: &str) -> Value {
    d.result("service_why", json!([name]))
}

/// Summary and details as one text, for looking up facts.
fn words(report: &Value) -> String {
    let mut text = report["summary"].as_str().expect("summary").to_owned();
    for detail in report["details"].as_array().expect("details") {
        text.push('\n');
        text.push_str(detail.as_str().expect("detail"));
    }
    text
}

#[test]
fn why_a_healthy_service_is_running() {
    let d = Daemon::new();
    d.service("web", &sh("exec sleep 1000"));
    let d = d.start();
    let pid = d.wait_running("web");
    let report = why(&d, "web");
    assert_eq!(report["name"], "web");
    assert_eq!(report["state"], "Running");
    assert_eq!(report["blocked_by"], json!([]));
    let text = words(&report);
    assert!(text.contains("Running"), "{text}");
    assert!(text.contains(&pid.to_string()), "{text}");
    // The CLI prints the same words.
    let cli = d.ok(&["why", "web"]);
    assert!(
        cli.starts_with(&format!("web is Running, pid {pid}, up ")),
        "{cli}"
    );
}

#[test]
fn why_a_blocked_service_names_the_chain_and_the_failing_test() {
    let d = Daemon::new();
    d.service(
        "db",
        "exec: sleep 1000\ntest: \"sh -c 'echo db not ready yet; exit 1'\"\n",
    )
    .service("api", "exec: sleep 1000\nafter:\n  - db\n")
    .service("web", "exec: sleep 1000\nafter:\n  - api\n");
    let d = d.start();
    d.wait_state("db", |s| s == "Spawned");
    let report = wait_for("the test output to be known", || {
        let report = why(&d, "web");
        words(&report)
            .contains("db not ready yet")
            .then_some(report)
    });
    assert_eq!(report["state"], "Blocked");
    assert_eq!(report["blocked_by"], json!(["api", "db"]));
    let text = words(&report);
    assert!(text.contains("api") && text.contains("db"), "{text}");
    assert!(
        text.contains("exited with code 1") || text.contains("code 1"),
        "{text}"
    );
}

#[test]
fn why_a_dependency_that_is_not_monitored() {
    let d = Daemon::new();
    d.service("web", "exec: sleep 1000\nafter:\n  - cache\n");
    let d = d.start();
    d.wait_state("web", |s| s == "Blocked");
    let report = why(&d, "web");
    assert_eq!(report["blocked_by"], json!(["cache"]));
    let text = words(&report);
    assert!(
        text.contains("cache") && text.contains("not monitored"),
        "{text}"
    );
}

#[test]
fn why_a_crash_looping_service_gives_the_exit_and_the_next_try() {
    let d = Daemon::new();
    d.service("flaky", &sh("echo boom; exit 3"));
    let d = d.start();
    wait_until("two restarts", || {
        let stats = d.rpc("service_why", json!(["flaky"]));
        words(&stats["result"]).contains("restarted") && d.state("flaky").0.starts_with("Error")
    });
    let report = wait_for("a back-off in progress", || {
        let report = why(&d, "flaky");
        words(&report).contains("next try").then_some(report)
    });
    let text = words(&report);
    assert!(text.contains("code 3"), "{text}");
    assert!(text.contains("restarted"), "{text}");
    assert!(
        report["state"].as_str().unwrap().starts_with("Error"),
        "{report}"
    );
}

#[test]
fn why_of_an_unknown_service_is_the_compat_refusal() {
    let d = Daemon::new().start();
    let response = d.rpc("service_why", json!(["ghost"]));
    assert_eq!(response["error"]["code"], -32000, "{response}");
    let out = d.zinit(&["why", "ghost"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("service name \"ghost\" unknown"));
}
