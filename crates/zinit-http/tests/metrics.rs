//! `GET /metrics` through a real proxy against a fake daemon: a Unix
//! socket in the test that answers `system_metrics` with a canned
//! snapshot (or with garbage, or not at all).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpStream, UnixListener};
use tokio::sync::{oneshot, Mutex};
use zinit_http::{Proxy, ProxyConfig};
use zinit_proto::wire::{LogMetrics, MetricsSnapshot, ProcessMetrics, ServiceMetrics};

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

fn snapshot() -> MetricsSnapshot {
    MetricsSnapshot {
        services: vec![ServiceMetrics {
            name: "web".into(),
            state: "Running".into(),
            target: "Up".into(),
            up: true,
            pid: 4242,
            restarts: 1,
            memory_rss_bytes: Some(2_000_000),
            cpu_seconds_total: Some(0.75),
            log_lines_total: 3,
            ..ServiceMetrics::default()
        }],
        log: LogMetrics {
            lines_total: 3,
            ..LogMetrics::default()
        },
        rpc: Vec::new(),
        process: ProcessMetrics {
            rss_bytes: 5_000_000,
            cpu_seconds: 0.5,
            open_fds: 9,
        },
    }
}

/// A fake daemon answering every connection's first line with `answer`;
/// the request lines it received are kept.
fn fake_daemon(socket: &Path, answer: String) -> Arc<Mutex<Vec<String>>> {
    let listener = UnixListener::bind(socket).unwrap();
    let received = Arc::new(Mutex::new(Vec::new()));
    let log = received.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (read, mut write) = stream.into_split();
            let mut line = String::new();
            BufReader::new(read).read_line(&mut line).await.unwrap();
            log.lock().await.push(line);
            write.write_all(answer.as_bytes()).await.unwrap();
        }
    });
    received
}

/// A proxy for `socket` on a free loopback port; stops when the sender
/// is dropped.
async fn proxy(socket: PathBuf, token: Option<&str>) -> (u16, oneshot::Sender<()>) {
    let mut config = ProxyConfig::new(socket, "127.0.0.1:0".parse().unwrap());
    config.token = token.map(str::to_owned);
    let proxy = Proxy::bind(config).await.unwrap();
    let port = proxy.local_addr().port();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(proxy.run(async move {
        let _ = stopped.await;
    }));
    (port, stop)
}

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// `GET path` over a plain HTTP/1.1 connection closed after the answer,
/// with `Host: 127.0.0.1:PORT` unless `extra` names a host.
async fn get(port: u16, path: &str, extra: &str) -> Answer {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let host = if extra.starts_with("Host:") {
        String::new()
    } else {
        format!("Host: 127.0.0.1:{port}\r\n")
    };
    let request = format!("GET {path} HTTP/1.1\r\n{host}{extra}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("headers end");
    let mut lines = head.lines();
    let status = lines.next().unwrap().split(' ').nth(1).unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Answer {
        status: status.parse().unwrap(),
        headers,
        body: body.to_owned(),
    }
}

fn response_line(result: &MetricsSnapshot) -> String {
    let response = serde_json::json!({"jsonrpc": "2.0", "id": 1, "result": result});
    format!("{response}\n")
}

#[tokio::test]
async fn serves_the_daemon_metrics_as_openmetrics() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("zinit.sock");
    let received = fake_daemon(&socket, response_line(&snapshot()));
    let (port, _stop) = proxy(socket, None).await;

    let answer = get(port, "/metrics", "").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.header("content-type"), Some(OPENMETRICS));
    let lines: Vec<&str> = answer.body.lines().collect();
    for expected in [
        "# TYPE zinit_service_up gauge",
        r#"zinit_service_up{service="web"} 1"#,
        r#"zinit_service_state{service="web",state="Running"} 1"#,
        r#"zinit_service_restarts_total{service="web"} 1"#,
        r#"zinit_service_memory_rss_bytes{service="web"} 2000000"#,
        r#"zinit_service_cpu_seconds_total{service="web"} 0.75"#,
        "zinit_log_lines_total 3",
        "zinit_process_open_fds 9",
    ] {
        assert!(
            lines.contains(&expected),
            "missing {expected:?} in\n{}",
            answer.body
        );
    }
    assert_eq!(lines.last(), Some(&"# EOF"));

    // One fresh connection per scrape, asking exactly system_metrics.
    let again = get(port, "/metrics", "").await;
    assert_eq!(again.status, 200);
    let requests = received.lock().await.clone();
    assert_eq!(requests.len(), 2);
    for request in requests {
        let value: serde_json::Value = serde_json::from_str(&request).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "system_metrics"})
        );
    }
}

#[tokio::test]
async fn no_daemon_is_503_in_plain_text() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("absent.sock");
    let (port, _stop) = proxy(socket.clone(), None).await;
    let answer = get(port, "/metrics", "").await;
    assert_eq!(answer.status, 503);
    assert_eq!(
        answer.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert!(
        answer.body.contains(&socket.display().to_string()),
        "{}",
        answer.body
    );
}

#[tokio::test]
async fn an_answer_that_is_not_a_snapshot_is_502() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("zinit.sock");
    fake_daemon(&socket, "this is not json\n".into());
    let (port, _stop) = proxy(socket, None).await;
    let answer = get(port, "/metrics", "").await;
    assert_eq!(answer.status, 502);
    assert!(
        answer.body.contains("not a metrics snapshot"),
        "{}",
        answer.body
    );
}

#[tokio::test]
async fn a_daemon_without_system_metrics_is_502() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("zinit.sock");
    let error = r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"method not found: system_metrics"}}"#;
    fake_daemon(&socket, format!("{error}\n"));
    let (port, _stop) = proxy(socket, None).await;
    let answer = get(port, "/metrics", "").await;
    assert_eq!(answer.status, 502);
    assert!(
        answer.body.contains("method not found: system_metrics"),
        "{}",
        answer.body
    );
}

#[tokio::test]
async fn metrics_are_behind_the_guard() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("zinit.sock");
    let received = fake_daemon(&socket, response_line(&snapshot()));
    let (port, _stop) = proxy(socket, Some("s3cret")).await;

    let refused = get(port, "/metrics", "").await;
    assert_eq!(refused.status, 401);
    let wrong_host = get(port, "/metrics", "Host: evil.example\r\n").await;
    assert_eq!(wrong_host.status, 403);
    assert!(
        received.lock().await.is_empty(),
        "a refused scrape reached the daemon"
    );

    let allowed = get(port, "/metrics", "Authorization: Bearer s3cret\r\n").await;
    assert_eq!(allowed.status, 200, "{}", allowed.body);
    assert_eq!(received.lock().await.len(), 1);
}
