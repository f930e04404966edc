//! The metrics listener of the real binary: Prometheus's text format at
//! /metrics whose counters move when people connect and talk, /healthz and
//! /readyz, on loopback, and off with --no-metrics.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::{LineClient, TestServer, WAIT};

/// One HTTP/1.1 GET; the status line, the headers and the body.
fn get(addr: SocketAddr, path: &str) -> (String, String, String) {
    let mut s = TcpStream::connect(addr).expect("connect to the metrics listener");
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let deadline = Instant::now() + WAIT;
    let mut got = Vec::new();
    let mut chunk = [0u8; 16384];
    loop {
        assert!(Instant::now() < deadline, "no end to the answer: {got:?}");
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("read: {e}"),
        }
    }
    let text = String::from_utf8(got).expect("utf-8");
    let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
    let (status, headers) = head.split_once("\r\n").unwrap_or((head, ""));
    (status.to_string(), headers.to_string(), body.to_string())
}

/// The value of one series (the line that starts with `series `).
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{series} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
}

fn scrape(addr: SocketAddr) -> String {
    let (status, headers, body) = get(addr, "/metrics");
    assert_eq!(status, "HTTP/1.1 200 OK", "{headers}");
    assert!(
        headers
            .to_ascii_lowercase()
            .contains("content-type: application/openmetrics-text"),
        "{headers}"
    );
    body
}

#[test]
fn message_counters_move_when_people_talk() {
    let srv = TestServer::start(&[]);
    let metrics = srv.metrics_addr();
    assert!(metrics.ip().is_loopback());
    let before = scrape(metrics);
    assert!(before.trim_end().ends_with("# EOF"), "{before}");
    let received0 = value(&before, "chatroom_messages_received_total");
    let delivered0 = value(&before, "chatroom_messages_delivered_total");
    let small0 = value(
        &before,
        "chatroom_deliveries_by_room_size_total{room_size=\"2-10\"}",
    );
    let line = srv.line.expect("line");
    let mut alice = LineClient::line_login(line, "alice");
    let mut bob = LineClient::line_login(line, "bob");
    alice.expect("* bob joined #lobby");
    for i in 0..3 {
        alice.send(&format!("hello {i}"));
        bob.expect(&format!("hello {i}"));
    }
    let after = scrape(metrics);
    assert_eq!(
        value(&after, "chatroom_messages_received_total") - received0,
        3.0,
        "{after}"
    );
    // Each of the three reached bob at least (and alice, who sees her own).
    let delivered = value(&after, "chatroom_messages_delivered_total") - delivered0;
    assert!(delivered >= 3.0, "{after}");
    let small = value(
        &after,
        "chatroom_deliveries_by_room_size_total{room_size=\"2-10\"}",
    ) - small0;
    assert_eq!(small, delivered, "{after}");
    assert!(value(&after, "chatroom_registrations_total") >= 2.0);
    assert!(
        value(
            &after,
            "chatroom_connections_accepted_total{protocol=\"line\"}"
        ) >= 2.0
    );
    assert_eq!(value(&after, "chatroom_connections"), 2.0, "{after}");
    assert_eq!(value(&after, "chatroom_members"), 2.0, "{after}");
    assert!(value(&after, "chatroom_rooms") >= 1.0, "{after}");
    // History is on: its files have a size.
    assert!(
        value(&after, "chatroom_history_database_bytes") > 0.0,
        "{after}"
    );
    bob.send("/quit");
    bob.expect_closed();
    let deadline = Instant::now() + WAIT;
    loop {
        let now = scrape(metrics);
        if value(&now, "chatroom_disconnects_total{reason=\"quit\"}") >= 1.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "bob's quit was never counted: {now}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn health_and_readiness_answer() {
    let srv = TestServer::start(&[]);
    let metrics = srv.metrics_addr();
    let (status, _, body) = get(metrics, "/healthz");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(body, "ok\n");
    let (status, _, body) = get(metrics, "/readyz");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(body, "ready\n");
    let (status, _, _) = get(metrics, "/elsewhere");
    assert_eq!(status, "HTTP/1.1 404 Not Found");
}

#[test]
fn no_metrics_turns_the_listener_off() {
    let srv = TestServer::start(&["--no-metrics"]);
    srv.stdout_line("Ctrl-C to stop.");
    let lines = srv.printed();
    assert!(
        !lines.iter().any(|l| l.starts_with("metrics:")),
        "{lines:?}"
    );
}

/// Every series docs/grafana-dashboard.json queries is one the server
/// serves: the dashboard cannot drift from the metrics.
#[test]
fn the_grafana_dashboard_asks_only_for_series_the_server_has() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/grafana-dashboard.json"
    );
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("the dashboard")).expect("JSON");
    let mut exprs = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            exprs.push(target["expr"].as_str().expect("expr").to_string());
        }
    }
    assert!(exprs.len() >= 10, "{exprs:?}");
    let srv = TestServer::start(&[]);
    let text = scrape(srv.metrics_addr());
    let served: std::collections::HashSet<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect();
    for expr in &exprs {
        let mut rest = expr.as_str();
        let mut found = 0;
        while let Some(at) = rest.find("chatroom_") {
            let name: String = rest[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            assert!(
                served.contains(name.as_str()),
                "{name} (in {expr}) is not served"
            );
            found += 1;
            rest = &rest[at + name.len()..];
        }
        assert!(found > 0, "no chatroom series in {expr}");
    }
}
