//! Live logs over WebSocket: a subscription receives what a service prints
//! after subscribing; requests work on the same WebSocket; a client that
//! stops reading is dropped without slowing zinit or other subscribers.

use super::*;

/// Read messages until a log notification of `subscription` containing
/// `needle` arrives; returns every log line seen on the way.
fn until_line(ws: &mut WebSocket, subscription: &Value, needle: &str) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        let message = ws_next(ws);
        if message["method"] == "stream_subscribeLogs"
            && message["params"]["subscription"] == *subscription
        {
            let line = message["params"]["result"].as_str().unwrap().to_owned();
            let found = line.contains(needle);
            seen.push(line);
            if found {
                return seen;
            }
        }
    }
}

#[test]
fn a_subscription_receives_lines_printed_after_subscribing() {
    let d = Daemon::new();
    let flag = d.path("flag");
    d.service("talker", &prints_after(&flag, "printed-after-subscribing"));
    d.service("other", &prints_after(&flag, "other-service-line"));
    let d = d.start();
    d.wait_running("talker");
    d.wait_running("other");
    for (entry, path) in [(Entry::ZinitHttp, "/ws"), (Entry::ZinitProxy, "/")] {
        let _ = std::fs::remove_file(&flag);
        d.ok(&["restart", "talker"]);
        d.ok(&["restart", "other"]);
        let p = Proxy::start(entry, &d.socket, &[]);
        let mut ws = ws_connect(p.addr, path, &[]).expect("WebSocket");
        ws_send(
            &mut ws,
            &json!({"jsonrpc": "2.0", "id": 1, "method": "stream_subscribeLogs", "params": {"name": "talker"}}),
        );
        let reply = ws_next(&mut ws);
        assert_eq!(reply["id"], 1, "{reply}");
        let subscription = reply["result"].clone();
        assert!(subscription.is_u64(), "{reply}");

        // Requests share the WebSocket with the pushes.
        ws_send(
            &mut ws,
            &json!({"jsonrpc": "2.0", "id": 2, "method": "service.list"}),
        );
        let listed = loop {
            let message = ws_next(&mut ws);
            if message["id"] == 2 {
                break message;
            }
        };
        assert_eq!(listed["result"]["talker"], "Running");

        std::fs::write(&flag, "").unwrap();
        let seen = until_line(&mut ws, &subscription, "printed-after-subscribing");
        assert_eq!(
            seen.last().unwrap(),
            "[+] talker: printed-after-subscribing"
        );
        assert!(
            seen.iter().all(|l| l.contains("talker")),
            "filter by name: {seen:?}"
        );
        // Not JSON: answered by the proxy like the socket would.
        ws.send(tungstenite::Message::text("{oops")).unwrap();
        let parse = loop {
            let message = ws_next(&mut ws);
            if message.get("error").is_some() {
                break message;
            }
        };
        assert_eq!(parse["error"]["code"], -32700);
        // Ended on the same WebSocket, as jsonrpsee's clients end it.
        ws_send(
            &mut ws,
            &json!({"jsonrpc": "2.0", "id": 3, "method": "stream_unsubscribeLogs", "params": [subscription]}),
        );
        let ended = loop {
            let message = ws_next(&mut ws);
            if message["id"] == 3 {
                break message;
            }
        };
        assert_eq!(ended["result"], true, "{ended}");
        ws.close(None).unwrap();
    }
}

/// The daemon closes a socket connection that sends nothing for 10 s; the
/// proxy keeps a quiet WebSocket's connection alive, so a client may wait
/// as long as it likes between requests.
#[test]
fn a_quiet_websocket_outlives_the_daemons_idle_timeout() {
    let d = Daemon::new();
    d.service("web", "exec: \"sleep 1000\"\n");
    let d = d.start();
    d.wait_running("web");
    let p = Proxy::start(Entry::ZinitHttp, &d.socket, &[]);
    let mut ws = ws_connect(p.addr, "/ws", &[]).expect("WebSocket");
    ws_send(
        &mut ws,
        &json!({"jsonrpc": "2.0", "id": 1, "method": "service.list"}),
    );
    assert_eq!(ws_next(&mut ws)["result"]["web"], "Running");
    // Nothing at all may arrive (no close frame) for longer than the
    // daemon's idle timeout.
    let quiet = Duration::from_secs(13);
    ws.get_mut().set_read_timeout(Some(quiet)).unwrap();
    match ws.read() {
        Err(tungstenite::Error::Io(e))
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) => {}
        other => panic!("expected silence for {quiet:?}, got {other:?}"),
    }
    ws.get_mut().set_read_timeout(None).unwrap();
    ws_send(
        &mut ws,
        &json!({"jsonrpc": "2.0", "id": 2, "method": "service.status", "params": ["web"]}),
    );
    let reply = ws_next(&mut ws);
    assert_eq!(reply["id"], 2, "{reply}");
    assert_eq!(reply["result"]["state"], "Running", "{reply}");
    ws.close(None).unwrap();
}

/// The flood: this many batches of 100 lines, 10 ms apart, so that zinit
/// itself keeps up with every subscriber and only the proxy's queue for
/// the stuck one overflows.
const FLOOD_BATCHES: usize = 100;

#[test]
fn a_stuck_websocket_client_is_dropped_without_slowing_zinit() {
    let d = Daemon::new();
    let flag = d.path("flag");
    let line = "x".repeat(2000);
    d.service(
        "flood",
        &format!(
            "exec: \"sh -c 'while [ ! -e {} ]; do sleep 0.05; done; for b in $(seq {FLOOD_BATCHES}); do yes {line} | head -n 100; sleep 0.01; done; echo flood-done; exec sleep 1000'\"\n",
            flag.display()
        ),
    );
    let d = d.start();
    d.wait_running("flood");
    let p = Proxy::start(Entry::ZinitHttp, &d.socket, &[]);
    let subscribe = json!({"jsonrpc": "2.0", "id": 1, "method": "stream_subscribeLogs"});

    // One client that stops reading, one that keeps up.
    let mut stuck = ws_connect(p.addr, "/ws", &[]).expect("WebSocket");
    ws_send(&mut stuck, &subscribe);
    assert!(ws_next(&mut stuck)["result"].is_u64());
    let mut reader = ws_connect(p.addr, "/ws", &[]).expect("WebSocket");
    ws_send(&mut reader, &subscribe);
    assert!(ws_next(&mut reader)["result"].is_u64());
    let keeps_up = std::thread::spawn(move || {
        let mut received = 0usize;
        loop {
            match reader.read() {
                Ok(tungstenite::Message::Text(text)) => {
                    received += 1;
                    if text.as_str().contains("flood-done") {
                        return received;
                    }
                }
                Ok(_) => {}
                Err(e) => panic!("the reading client was dropped after {received} messages: {e}"),
            }
        }
    });

    std::fs::write(&flag, "").unwrap();
    // zinit stays responsive throughout.
    let mut slowest = Duration::ZERO;
    let flood_started = std::time::Instant::now();
    while !keeps_up.is_finished() {
        let asked = std::time::Instant::now();
        let answer = d.rpc("service_list", json!([]));
        assert_eq!(answer["result"]["flood"], "Running");
        slowest = slowest.max(asked.elapsed());
        std::thread::sleep(Duration::from_millis(20));
    }
    println!("flood took {:?}", flood_started.elapsed());
    // It got to the end of the flood (zinit itself may have skipped lines
    // for it, saying so, if it fell behind), never disconnected.
    let received = keeps_up.join().expect("the reading client kept up");
    assert!(received > 0);
    assert!(
        slowest < Duration::from_secs(2),
        "zinit answered in {slowest:?} during the flood"
    );

    // The stuck client, reading again, finds itself disconnected: a close
    // frame saying why if it still fit, or the end of the connection.
    let mut messages = 0usize;
    let close = loop {
        match stuck.read() {
            Ok(tungstenite::Message::Text(_)) => messages += 1,
            Ok(tungstenite::Message::Close(frame)) => {
                break frame.map(|f| (u16::from(f.code), f.reason.to_string()))
            }
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                panic!(
                    "the stuck client was never disconnected ({messages} messages)\n{}",
                    p.stderr()
                )
            }
            Err(_) => break None,
        }
    };
    println!("stuck client: {messages} messages, then {close:?}");
    if let Some((code, reason)) = &close {
        assert_eq!(*code, 1008, "{reason}");
        assert!(reason.contains("too slow"), "{reason}");
    }
    assert!(
        messages < FLOOD_BATCHES * 100,
        "the stuck client was never dropped: {messages} messages"
    );
}
