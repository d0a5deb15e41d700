//! Promise 11 for HTTP, seen from another machine: two network namespaces
//! joined by a veth pair stand for the host running zinit and a machine
//! on its network. The proxy with its defaults (127.0.0.1:8080) answers on
//! the host's loopback and is unreachable from the other machine; opened
//! explicitly on the veth address with a token, it is reachable and
//! demands the token; without a token it refuses to open.
//!
//! Already proved on loopback (http/security.rs): 401 without the token
//! (`a_configured_token_is_required_for_everything`), a public address
//! needs a token (`a_public_address_needs_a_token_or_insecure`), no
//! wildcard CORS (`cross_origin_requests_only_from_listed_origins`), a
//! foreign Host refused (`a_foreign_host_header_is_refused_on_loopback`).

use crate::common::namespace::*;
use crate::common::*;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// Two network namespaces, `server` and `client`, joined by a veth pair
/// (10.231.N.1 on the server side, 10.231.N.2 on the client side).
/// Everything is removed when dropped, even after a panic.
struct TwoMachines {
    server: String,
    client: String,
    veth: String,
    server_ip: String,
    client_ip: String,
}

fn ip(args: &[&str]) -> Output {
    Command::new("ip").args(args).output().expect("run ip")
}

#[track_caller]
fn ip_ok(args: &[&str]) {
    let out = ip(args);
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl TwoMachines {
    fn new() -> TwoMachines {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let id = format!("{}{n}", std::process::id() % 100_000);
        let machines = TwoMachines {
            server: format!("zinit-s-{id}"),
            client: format!("zinit-c-{id}"),
            // Interface names have at most 15 bytes.
            veth: format!("zv{id}"),
            server_ip: format!("10.231.{}.1", n % 250),
            client_ip: format!("10.231.{}.2", n % 250),
        };
        // The guard exists before anything is made: Drop cleans up even a
        // half-done setup.
        let (s, c, v) = (&machines.server, &machines.client, &machines.veth);
        let peer = format!("{v}p");
        ip_ok(&["netns", "add", s]);
        ip_ok(&["netns", "add", c]);
        ip_ok(&["link", "add", v, "type", "veth", "peer", "name", &peer]);
        ip_ok(&["link", "set", v, "netns", s]);
        ip_ok(&["link", "set", &peer, "netns", c]);
        let addresses = [(s, v, &machines.server_ip), (c, &peer, &machines.client_ip)];
        for (ns, dev, addr) in addresses {
            ip_ok(&["-n", ns, "addr", "add", &format!("{addr}/30"), "dev", dev]);
            ip_ok(&["-n", ns, "link", "set", dev, "up"]);
            ip_ok(&["-n", ns, "link", "set", "lo", "up"]);
        }
        machines
    }

    /// `command` run inside namespace `ns`.
    fn exec(ns: &str, command: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns]).args(command);
        c
    }

    /// `curl` from namespace `ns`: (HTTP status, body), or `None` when no
    /// connection could be made.
    fn curl(ns: &str, url: &str, token: Option<&str>) -> Option<(u16, String)> {
        let body = r#"{"jsonrpc":"2.0","id":1,"method":"service_list"}"#;
        let mut args = vec![
            "curl",
            "-sS",
            "-m",
            "10",
            "-H",
            "Content-Type: application/json",
            "-d",
            body,
            "-w",
            "\n%{http_code}",
        ];
        let header;
        if let Some(token) = token {
            header = format!("Authorization: Bearer {token}");
            args.extend(["-H", &header]);
        }
        args.push(url);
        let out = TwoMachines::exec(ns, &args).output().expect("curl");
        if !out.status.success() {
            // 7: could not connect.
            assert_eq!(
                out.status.code(),
                Some(7),
                "curl {url}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            return None;
        }
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, status) = text.rsplit_once('\n').unwrap();
        Some((status.parse().unwrap(), body.to_owned()))
    }
}

impl Drop for TwoMachines {
    fn drop(&mut self) {
        // Deleting a namespace destroys the veth end in it, and with it
        // the pair; the host-side name goes too if setup stopped early.
        let _ = ip(&["netns", "del", &self.server]);
        let _ = ip(&["netns", "del", &self.client]);
        let _ = ip(&["link", "del", &self.veth]);
    }
}

/// A `zinit proxy` inside a namespace; killed (by pid) when dropped.
struct NsProxy(Child);

impl NsProxy {
    /// Start it and wait for its "listening" line; the line, or its exit
    /// status and stderr if it exits first.
    fn start(ns: &str, d: &Daemon, args: &[&str]) -> Result<(NsProxy, String), String> {
        let socket = d.socket.display().to_string();
        let mut command = vec![ZINIT, "-s", &socket, "proxy"];
        command.extend(args);
        let mut child = TwoMachines::exec(ns, &command)
            .env_remove("ZINIT_HTTP_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn proxy");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        if line.is_empty() {
            let out = child.wait_with_output().unwrap();
            return Err(format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok((NsProxy(child), line.trim().to_owned()))
    }
}

impl Drop for NsProxy {
    fn drop(&mut self) {
        // `ip netns exec` execs the proxy: this pid is the proxy's.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn http_is_reachable_only_on_loopback_unless_opened_with_a_token() {
    require_root!("http_is_reachable_only_on_loopback_unless_opened_with_a_token");
    let d = Daemon::new();
    d.service("web", "exec: \"sleep 1000\"\n");
    let d = d.start();
    d.wait_running("web");
    let machines = TwoMachines::new();
    let (server, client) = (&machines.server, &machines.client);
    let list = "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"web\":\"Running\"}}\n";

    // Defaults: 127.0.0.1:8080 (a fresh namespace has the port free).
    let (proxy, said) = NsProxy::start(server, &d, &[]).unwrap();
    assert_eq!(said, "zinit-http listening on http://127.0.0.1:8080");
    assert_eq!(
        TwoMachines::curl(server, "http://127.0.0.1:8080/", None),
        Some((200, list.to_owned()))
    );
    // From the other machine: nothing listens on the host's address.
    let remote = format!("http://{}:8080/", machines.server_ip);
    assert_eq!(TwoMachines::curl(client, &remote, None), None);
    assert_eq!(TwoMachines::curl(server, &remote, None), None);
    drop(proxy);

    // Opening it on the network without a token is refused outright.
    let open = format!("{}:8081", machines.server_ip);
    let refused = NsProxy::start(server, &d, &["-a", &open])
        .err()
        .expect("refused");
    assert!(refused.contains("token"), "{refused}");

    // With a token it is reachable from the other machine, and only with
    // the token.
    let token = "s3cret-token-for-the-netns-test";
    let token_file = d.path("token");
    std::fs::write(&token_file, token).unwrap();
    let token_path = token_file.display().to_string();
    let (_proxy, said) =
        NsProxy::start(server, &d, &["-a", &open, "--token-file", &token_path]).unwrap();
    assert_eq!(said, format!("zinit-http listening on http://{open}"));
    let url = format!("http://{open}/");
    let (status, _) = TwoMachines::curl(client, &url, None).unwrap();
    assert_eq!(status, 401);
    let (status, _) = TwoMachines::curl(client, &url, Some("wrong")).unwrap();
    assert_eq!(status, 401);
    assert_eq!(
        TwoMachines::curl(client, &url, Some(token)),
        Some((200, list.to_owned()))
    );
    // The daemon behind it never noticed.
    assert_eq!(d.ok(&["list"]), "web: Running\n");
}
