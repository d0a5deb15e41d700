//! The legacy line protocol: exact reply text for every command and refusal.

use super::*;
use std::io::Read;

#[test]
fn legacy_replies_are_exact() {
    let d = Daemon::new();
    let got = d.path("got");
    d.service("web", "exec: \"sleep 1000\"\n");
    d.service("app", "exec: \"sleep 1000\"\nafter: [web]\n");
    d.service(
        "catcher",
        &format!(
            "exec: \"sh -c 'trap \\\"echo usr1 >> {}\\\" USR1; while true; do sleep 0.05; done'\"\n",
            got.display()
        ),
    );
    let d = d.start();
    let web = d.wait_running("web");
    let app = d.wait_running("app");
    d.wait_running("catcher");

    assert_eq!(
        send(&d, "list"),
        ok(r#"{"app":"Running","catcher":"Running","web":"Running"}"#)
    );
    assert_eq!(
        send(&d, "status web"),
        ok(&status_body("web", web, "Running", "Up", "{}"))
    );
    assert_eq!(
        send(&d, "status app"),
        ok(&status_body(
            "app",
            app,
            "Running",
            "Up",
            r#"{"web":"Running"}"#
        ))
    );

    // Refusals keep the phrases deployed clients match.
    assert_eq!(
        send(&d, "monitor web"),
        err("service \"web\" already monitored")
    );
    assert_eq!(send(&d, "forget web"), err("service \"web\" is up"));
    for line in [
        "status nope",
        "start nope",
        "stop nope",
        "restart nope",
        "forget nope",
        "stats nope",
        "kill nope SIGTERM",
    ] {
        assert_eq!(
            send(&d, line),
            err("service name \"nope\" unknown"),
            "{line}"
        );
    }
    let missing = d.config.join("nope.yaml");
    assert_eq!(
        send(&d, "monitor nope"),
        err(&format!("service file {} not found", missing.display()))
    );
    let reply = send(&d, "kill web SIGNOPE");
    assert_eq!(reply, err("invalid signal \"SIGNOPE\""));
    assert!(reply.contains("signal"));

    // kill delivers the signal and answers null.
    assert_eq!(send(&d, "kill catcher SIGUSR1"), ok("null"));
    wait_until("the trap to run", || {
        std::fs::read_to_string(&got).unwrap_or_default() == "usr1\n"
    });

    // start of a running service is a no-op; stop answers at once.
    assert_eq!(send(&d, "start web"), ok("null"));
    assert_eq!(send(&d, "stop web"), ok("null"));
    let (state, pid) = d.wait_state("web", |s| s != "Running");
    assert_eq!(
        (state.as_str(), pid),
        ("Error(killed by signal SIGTERM)", 0)
    );
    assert_eq!(
        send(&d, "status web"),
        ok(&status_body(
            "web",
            0,
            "Error(killed by signal SIGTERM)",
            "Down",
            "{}"
        ))
    );
    assert_eq!(
        send(&d, "status app"),
        ok(&status_body(
            "app",
            app,
            "Running",
            "Up",
            r#"{"web":"Error(killed by signal SIGTERM)"}"#
        ))
    );
    assert_eq!(send(&d, "stats web"), err("service \"web\" is down"));
    assert_eq!(send(&d, "kill web SIGTERM"), err("service \"web\" is down"));

    // A stopped service can be forgotten, then monitored again.
    assert_eq!(send(&d, "forget web"), ok("null"));
    assert_eq!(send(&d, "status web"), err("service name \"web\" unknown"));
    assert_eq!(
        send(&d, "list"),
        ok(r#"{"app":"Running","catcher":"Running"}"#)
    );
    assert_eq!(send(&d, "monitor web"), ok("null"));
    let web = d.wait_running("web");

    // restart answers once the old process is gone.
    assert_eq!(send(&d, "restart web"), ok("null"));
    assert!(!alive(web as i32), "old process {web} survived restart");
    let (_, new) = d.wait_state("web", |s| s == "Running");
    assert_ne!(new, web);

    // stats: the documented keys, in order. Right after exec the new
    // process may not have touched a page yet.
    let reply = wait_for("web to use memory", || {
        let reply = send(&d, "stats web");
        (!reply.contains("\"memory_usage\":0,")).then_some(reply)
    });
    let prefix =
        format!("{{\"state\":\"ok\",\"body\":{{\"name\":\"web\",\"pid\":{new},\"memory_usage\":");
    assert!(reply.starts_with(&prefix), "{reply}");
    assert!(reply.ends_with(",\"children\":[]}}\n"), "{reply}");
    let body = &serde_json::from_str::<Value>(&reply).unwrap()["body"];
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["children", "cpu_usage", "memory_usage", "name", "pid"]
    );
    assert!(body["memory_usage"].as_u64().unwrap() > 0, "{reply}");
    assert!(body["cpu_usage"].as_f64().unwrap() >= 0.0, "{reply}");

    // Framing and parsing of the command line itself.
    assert_eq!(
        send(&d, "frobnicate web"),
        err("unknown command \"frobnicate\"")
    );
    assert_eq!(send(&d, "status"), err("usage: status NAME"));
    assert_eq!(send(&d, "status web app"), err("usage: status NAME"));
    assert_eq!(send(&d, "kill web"), err("usage: kill NAME SIGNAL"));
    assert_eq!(send(&d, "list everything"), err("usage: list"));
    assert_eq!(send(&d, "log tail"), err("usage: log [snapshot]"));
    assert_eq!(
        send(&d, "status 'web"),
        err("invalid command line \"status 'web\": unbalanced quotes or trailing escape")
    );
    let status = ok(&status_body("web", new, "Running", "Up", "{}"));
    assert_eq!(d.raw("\n\n   \n\t\nstatus web\n"), status);
    assert_eq!(d.raw("status web\r\n"), status);
    assert_eq!(d.raw("\r\n  status   'web'  \r\n"), status);
    // A last line without its newline still counts once the client is done.
    let mut stream = UnixStream::connect(&d.socket).unwrap();
    stream.write_all(b"status web").unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    assert_eq!(reply, status);
}
