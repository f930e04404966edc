//! The web listener of the real binary, on loopback: the app's page over
//! HTTP and HTTPS with its headers (type, encoding, entity tag and 304, the
//! Content-Security-Policy), IRC over WebSocket at /irc on both (wss with
//! the printed fingerprint pinned), what is refused and how, an idle
//! connection closed, and the switches that turn it off.
//!
//! Every wait is bounded and none is a timing assertion.

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chatroom_client::tls::{Verify, client_config, parse_fingerprint};
use common::{LineClient, TestServer, WAIT};
use rustls::pki_types::ServerName;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{Error, Message};

/// An HTTP response as read off the wire.
struct Answer {
    status: u16,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// Reads a whole response from a connection the server closes after it
/// (the request said `Connection: close`).
fn read_answer(stream: &mut impl Read) -> Answer {
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let deadline = Instant::now() + WAIT;
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) && Instant::now() < deadline => {}
            // A TLS peer closing without close_notify, once all is read.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => panic!("reading the answer: {e}"),
        }
    }
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of the headers");
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Answer {
        status,
        headers,
        body: raw[end + 4..].to_vec(),
    }
}

fn request(method: &str, path: &str, extra: &[(&str, &str)]) -> Vec<u8> {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (k, v) in extra {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.into_bytes()
}

fn get(addr: SocketAddr, path: &str, extra: &[(&str, &str)]) -> Answer {
    let mut sock = TcpStream::connect(addr).expect("connect");
    sock.set_read_timeout(Some(WAIT)).expect("timeout");
    sock.write_all(&request("GET", path, extra)).expect("write");
    read_answer(&mut sock)
}

/// A TLS connection that accepts only the certificate with fingerprint `fp`.
fn tls_connect(
    addr: SocketAddr,
    fp: &str,
) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let pin = parse_fingerprint(fp).expect("fingerprint parses");
    let config: Arc<rustls::ClientConfig> = client_config(&Verify::Pin(pin)).expect("config");
    let conn =
        rustls::ClientConnection::new(config, ServerName::try_from("localhost").expect("name"))
            .expect("client connection");
    let sock = TcpStream::connect(addr).expect("connect");
    sock.set_read_timeout(Some(WAIT)).expect("timeout");
    rustls::StreamOwned::new(conn, sock)
}

#[test]
fn the_page_comes_compressed_tagged_and_fenced() {
    let srv = TestServer::start(&[]);
    let web = srv.web.expect("the web listener is on by default");
    let page = get(web, "/", &[("Accept-Encoding", "gzip, deflate, br")]);
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(page.header("content-encoding"), Some("br"));
    assert_eq!(
        page.header("content-security-policy"),
        Some(chatroom_web::CONTENT_SECURITY_POLICY)
    );
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    let tag = page.header("etag").expect("etag").to_string();
    // Asked again with the tag: nothing to send.
    let again = get(
        web,
        "/",
        &[
            ("Accept-Encoding", "gzip, deflate, br"),
            ("If-None-Match", &tag),
        ],
    );
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    // Without compression, the page itself.
    let plain = get(web, "/index.html", &[]);
    assert_eq!(plain.status, 200);
    assert_eq!(plain.header("content-encoding"), None);
    assert!(String::from_utf8_lossy(&plain.body).contains("<html"));
    // What is not there, and what is not a page.
    assert_eq!(get(web, "/nothing-here", &[]).status, 404);
    assert_eq!(get(web, "/irc", &[]).status, 426);
    let mut sock = TcpStream::connect(web).expect("connect");
    sock.set_read_timeout(Some(WAIT)).expect("timeout");
    sock.write_all(&request("POST", "/", &[("Content-Length", "0")]))
        .expect("write");
    let post = read_answer(&mut sock);
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
}

#[test]
fn https_serves_the_page_and_irc_with_the_printed_certificate() {
    let srv = TestServer::start(&[]);
    let webs = srv.webs.expect("HTTPS is on by default with TLS");
    let fp = srv.tls_fingerprint();
    let mut tls = tls_connect(webs, &fp);
    tls.write_all(&request("GET", "/", &[])).expect("write");
    let page = read_answer(&mut tls);
    assert_eq!(page.status, 200);
    assert!(String::from_utf8_lossy(&page.body).contains("<html"));
    assert!(page.header("content-security-policy").is_some());

    // IRC over wss, meeting a line-protocol user.
    let tls = tls_connect(webs, &fp);
    let mut req = format!("wss://localhost:{}/irc", webs.port())
        .into_client_request()
        .expect("request");
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("text.ircv3.net"),
    );
    let (mut ws, resp) = match tokio_tungstenite::tungstenite::client::client(req, tls) {
        Ok(ok) => ok,
        Err(e) => panic!("wss upgrade failed: {e}"),
    };
    // Short reads from here on: the loop below polls.
    ws.get_mut()
        .sock
        .set_read_timeout(Some(Duration::from_millis(50)))
        .expect("timeout");
    assert_eq!(
        resp.headers()
            .get("sec-websocket-protocol")
            .and_then(|v| v.to_str().ok()),
        Some("text.ircv3.net")
    );
    let mut line = LineClient::line_login(srv.line.expect("line"), "liner");
    let mut seen = Vec::new();
    let mut wait_for = |ws: &mut tokio_tungstenite::tungstenite::WebSocket<_>, needle: &str| {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            match ws.read() {
                Ok(Message::Text(t)) if t.contains(needle) => return,
                Ok(Message::Text(t)) => seen.push(t.to_string()),
                Ok(_) => {}
                Err(Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => panic!("wss read: {e}; seen {seen:#?}"),
            }
        }
        panic!("no {needle:?} over wss; seen {seen:#?}");
    };
    ws.send(Message::text("NICK secure")).expect("send");
    ws.send(Message::text("USER secure 0 * :browser"))
        .expect("send");
    wait_for(&mut ws, " 001 secure ");
    ws.send(Message::text("PRIVMSG #lobby :hello over wss"))
        .expect("send");
    line.expect("<secure> hello over wss");
    line.send("hello back");
    wait_for(&mut ws, "PRIVMSG #lobby :hello back");
}

#[test]
fn bad_upgrades_are_refused_with_a_reason() {
    let srv = TestServer::start(&[]);
    let web = srv.web.expect("web");
    let upgrade = |path: &str, version: &str, origin: Option<&str>| {
        let mut extra = vec![
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("Sec-WebSocket-Version", version),
        ];
        if let Some(o) = origin {
            extra.push(("Origin", o));
        }
        let mut sock = TcpStream::connect(web).expect("connect");
        sock.set_read_timeout(Some(WAIT)).expect("timeout");
        sock.write_all(&request("GET", path, &extra))
            .expect("write");
        let mut buf = [0u8; 4096];
        let n = sock.read(&mut buf).expect("read");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    // The key of RFC 6455's own example, and its accept value.
    let ok = upgrade("/irc", "13", None);
    assert!(ok.starts_with("HTTP/1.1 101 "), "{ok}");
    assert!(ok.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "{ok}");
    // Clients that know only a host and a port upgrade at /.
    assert!(upgrade("/", "13", None).starts_with("HTTP/1.1 101 "));
    let elsewhere = upgrade("/app.js", "13", None);
    assert!(elsewhere.starts_with("HTTP/1.1 404 "), "{elsewhere}");
    let old = upgrade("/irc", "8", None);
    assert!(old.starts_with("HTTP/1.1 426 "), "{old}");
    assert!(
        old.to_ascii_lowercase()
            .contains("sec-websocket-version: 13"),
        "{old}"
    );
    let foreign = upgrade("/irc", "13", Some("https://evil.example"));
    assert!(foreign.starts_with("HTTP/1.1 403 "), "{foreign}");
    assert!(foreign.contains("web.allowed_origins"), "{foreign}");
    // The refusals cost nobody else anything.
    let mut a = LineClient::line_login(srv.line.expect("line"), "amy");
    let mut b = LineClient::line_login(srv.line.expect("line"), "bob");
    a.send("still fine");
    b.expect("<amy> still fine");
}

#[test]
fn an_idle_connection_is_closed_after_the_handshake_time() {
    let dir = std::env::temp_dir().join(format!("chatroom-web-idle-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let config = dir.join("chatroom.toml");
    std::fs::write(&config, "[web]\nhandshake_timeout_secs = 1\n").expect("config");
    let srv = TestServer::start(&["--config", &config.to_string_lossy()]);
    let web = srv.web.expect("web");
    // Never a request at all.
    let mut silent = TcpStream::connect(web).expect("connect");
    silent.set_read_timeout(Some(WAIT)).expect("timeout");
    let mut buf = [0u8; 64];
    assert_eq!(silent.read(&mut buf).expect("closed, not timed out"), 0);
    // One request on a keep-alive connection, then nothing.
    let mut kept = TcpStream::connect(web).expect("connect");
    kept.set_read_timeout(Some(WAIT)).expect("timeout");
    kept.write_all(b"GET /irc HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .expect("write");
    let mut got = Vec::new();
    loop {
        let n = kept.read(&mut buf).expect("closed, not timed out");
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    assert!(got.starts_with(b"HTTP/1.1 426 "));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_web_can_be_turned_off_and_a_busy_port_names_its_flag() {
    let srv = TestServer::start(&["--no-web"]);
    assert!(srv.web.is_none() && srv.webs.is_none());
    let srv = TestServer::start(&["--no-web-tls"]);
    assert!(srv.web.is_some() && srv.webs.is_none());
    let srv = TestServer::start(&["--no-tls"]);
    assert!(
        srv.web.is_some() && srv.webs.is_none(),
        "HTTPS needs the TLS certificate"
    );
    // A port someone else holds.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = busy.local_addr().expect("addr").port().to_string();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_chatroom"))
        .args([
            "serve",
            "--bind",
            "127.0.0.1",
            "--line-port",
            "0",
            "--irc-port",
            "0",
            "--tls-port",
            "0",
            "--web-tls-port",
            "0",
            "--web-port",
            &port,
            "--data-dir",
        ])
        .arg(srv.data_dir.join("other"))
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--web-port"), "{err}");
}
