//! The wrong listener: an IRC client or `chatroom join` on the line
//! port, a web browser on the IRC or line port. Each is told, in a form its
//! program shows, which port it wants, and the connection is closed.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{LineClient, TestServer, WAIT};

#[test]
fn an_irc_client_on_the_line_port_is_told_the_irc_port() {
    let srv = TestServer::start(&[]);
    let irc_port = srv.irc.expect("irc").port();
    let mut c = LineClient::connect(srv.line.expect("line"));
    c.expect("Choose a nickname");
    c.send("CAP LS 302");
    c.send("NICK alice");
    let hint = c.expect("ERROR :");
    assert!(
        hint.contains("line protocol port") && hint.contains(&format!("port {irc_port}")),
        "{hint}"
    );
    let rest = c.expect_closed();
    assert!(
        !rest.iter().any(|l| l.contains("not a valid nickname")),
        "{rest:?}"
    );
}

#[test]
fn chatroom_join_at_the_line_port_shows_the_hint() {
    let srv = TestServer::start(&[]);
    let irc_port = srv.irc.expect("irc").port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_chatroom"))
        .args(["join", &srv.line.expect("line").to_string(), "--plain"])
        .args(["--nick", "dora"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chatroom join");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + WAIT;
    let mut seen = Vec::new();
    let found = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains("line protocol port") => break Some(line),
            Ok(line) => seen.push(line),
            Err(_) => break None,
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    let line = found.unwrap_or_else(|| panic!("no hint; the client printed {seen:#?}"));
    assert!(line.contains(&format!("port {irc_port}")), "{line}");
}

/// Sends an HTTP request to `addr` and reads the answer to its end.
fn http_get(addr: std::net::SocketAddr) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    s.write_all(b"GET / HTTP/1.1\r\nHost: chat.example\r\nAccept: text/html\r\n\r\n")
        .expect("send");
    let deadline = Instant::now() + WAIT;
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        assert!(Instant::now() < deadline, "not closed; got {got:?}");
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[test]
fn a_browser_on_the_irc_port_gets_a_plain_http_answer_naming_the_web_port() {
    let srv = TestServer::start(&[]);
    let web_port = srv.web.expect("web").port();
    let answer = http_get(srv.irc.expect("irc"));
    assert!(
        answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
        "{answer:?}"
    );
    let (head, rest) = answer.split_once("\r\n\r\n").expect("a body");
    assert!(head.contains("Content-Type: text/plain"), "{head}");
    // What follows the body (the IRC listener's closing line) is past
    // Content-Length, where an HTTP client stops reading.
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Content-Length in {head}"));
    let body = &rest[..length];
    assert!(body.ends_with('\n'), "{body:?}");
    assert!(body.contains("IRC port"), "{body}");
    assert!(body.contains(&format!("port {web_port}")), "{body}");
}

#[test]
fn an_http_request_on_the_line_port_is_told_the_web_port() {
    let srv = TestServer::start(&[]);
    let web_port = srv.web.expect("web").port();
    // The line protocol greets first, so the answer is a line, not HTTP.
    let answer = http_get(srv.line.expect("line"));
    let hint = answer
        .lines()
        .find(|l| l.contains("not a web server"))
        .unwrap_or_else(|| panic!("no hint in {answer:?}"));
    assert!(hint.contains("line protocol port"), "{hint}");
    assert!(hint.contains(&format!("port {web_port}")), "{hint}");
}
