//! IRC over WebSocket (IRCv3 WebSocket specification) against the real
//! binary: subprotocol choice, one line per message with no CR LF, the
//! same IRC rules as on TCP, people on every protocol meeting in one room,
//! oversized messages and foreign origins refused without affecting anyone.

mod common;

use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::irc::Irc;
use common::{LineClient, TestServer, WAIT};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocket;
use tokio_tungstenite::tungstenite::{Error, Message};

/// A blocking WebSocket IRC client.
struct WsIrc {
    ws: WebSocket<TcpStream>,
    /// The subprotocol the server chose.
    protocol: Option<String>,
    /// Every message received, as text, in order.
    seen: Vec<String>,
    /// Whether each received message was binary.
    binary: Vec<bool>,
}

impl WsIrc {
    fn connect(
        addr: SocketAddr,
        protocols: Option<&str>,
        origin: Option<&str>,
    ) -> Result<WsIrc, Error> {
        let mut req = format!("ws://{addr}/irc")
            .into_client_request()
            .expect("request");
        if let Some(p) = protocols {
            req.headers_mut().insert(
                "Sec-WebSocket-Protocol",
                HeaderValue::from_str(p).expect("header"),
            );
        }
        if let Some(o) = origin {
            req.headers_mut()
                .insert("Origin", HeaderValue::from_str(o).expect("header"));
        }
        let sock = TcpStream::connect(addr).expect("connect");
        // The whole answer to the upgrade within the bound (a short read
        // timeout here would interrupt the handshake on a busy machine),
        // short reads after it (see `poll`).
        sock.set_read_timeout(Some(WAIT)).expect("timeout");
        let (mut ws, resp) = match tokio_tungstenite::tungstenite::client::client(req, sock) {
            Ok(ok) => ok,
            Err(tokio_tungstenite::tungstenite::HandshakeError::Failure(e)) => return Err(e),
            Err(tokio_tungstenite::tungstenite::HandshakeError::Interrupted(_)) => {
                panic!("handshake interrupted")
            }
        };
        ws.get_mut()
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        let protocol = resp
            .headers()
            .get("sec-websocket-protocol")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        Ok(WsIrc {
            ws,
            protocol,
            seen: Vec::new(),
            binary: Vec::new(),
        })
    }

    fn send(&mut self, line: &str) {
        let msg = if self.protocol.as_deref() == Some("binary.ircv3.net") {
            Message::Binary(line.as_bytes().to_vec().into())
        } else {
            Message::Text(line.into())
        };
        self.ws.send(msg).expect("send");
    }

    /// Reads what has arrived; false once the server closed.
    fn poll(&mut self) -> bool {
        match self.ws.read() {
            Ok(Message::Text(t)) => {
                self.seen.push(t.to_string());
                self.binary.push(false);
                true
            }
            Ok(Message::Binary(b)) => {
                self.seen.push(String::from_utf8_lossy(&b).into_owned());
                self.binary.push(true);
                true
            }
            Ok(Message::Close(_)) => false,
            Ok(_) => true,
            Err(Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                true
            }
            Err(_) => false,
        }
    }

    fn expect(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        let mut checked = 0;
        loop {
            if let Some(l) = self.seen[checked..].iter().find(|l| l.contains(needle)) {
                return l.clone();
            }
            checked = self.seen.len();
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {needle:?}; got {:#?}",
                self.seen
            );
            assert!(
                self.poll(),
                "closed while waiting for {needle:?}: {:#?}",
                self.seen
            );
        }
    }

    /// Waits until the server closes the WebSocket or the socket.
    fn expect_closed(&mut self) {
        let deadline = Instant::now() + WAIT;
        while self.poll() {
            assert!(
                Instant::now() < deadline,
                "not closed; got {:#?}",
                self.seen
            );
        }
    }

    fn register(&mut self, nick: &str) {
        self.send(&format!("NICK {nick}"));
        self.send(&format!("USER {nick} 0 * :web user"));
        self.expect(&format!(" 001 {nick} "));
    }
}

fn start() -> (TestServer, SocketAddr) {
    let srv = TestServer::start(&[]);
    let addr = srv.web.expect("web listener");
    (srv, addr)
}

#[test]
fn text_subprotocol_carries_one_line_per_message() {
    let (srv, addr) = start();
    let mut web = WsIrc::connect(addr, Some("text.ircv3.net"), None).expect("upgrade");
    assert_eq!(web.protocol.as_deref(), Some("text.ircv3.net"));
    web.register("webby");
    // No message carries a line ending, and every one is a text message.
    assert!(
        web.seen
            .iter()
            .all(|l| !l.contains('\r') && !l.contains('\n')),
        "{:#?}",
        web.seen
    );
    assert!(web.binary.iter().all(|b| !b));

    // A web user, a TCP IRC user and a line user in one room.
    let mut tcp = Irc::login(srv.irc.expect("irc"), "tcpuser");
    let mut line = LineClient::line_login(srv.line.expect("line"), "liner");
    // (everyone starts in #lobby; #web is where this test talks)
    tcp.join("#web");
    line.send("/join #web");
    line.expect("* liner joined #web");
    web.send("JOIN #web");
    web.expect(":webby!webby@127.0.0.1 JOIN #web");
    tcp.expect(":webby!webby@127.0.0.1 JOIN #web");
    web.send("PRIVMSG #web :hello from a browser");
    tcp.expect(":webby!webby@127.0.0.1 PRIVMSG #web :hello from a browser");
    line.expect("<webby> hello from a browser");
    tcp.send("PRIVMSG #web :hello from tcp");
    web.expect(":tcpuser!tcpuser@127.0.0.1 PRIVMSG #web :hello from tcp");
    line.send("hello from the line protocol");
    web.expect(":liner!liner@127.0.0.1 PRIVMSG #web :hello from the line protocol");
    // PING keeps working as on TCP.
    web.send("PING :are-you-there");
    web.expect("PONG chatroom :are-you-there");
    web.send("QUIT :closing the tab");
    tcp.expect(":webby!webby@127.0.0.1 QUIT :Quit: closing the tab");
}

#[test]
fn binary_subprotocol_is_used_when_only_it_is_offered() {
    let (srv, addr) = start();
    let mut web = WsIrc::connect(addr, Some("binary.ircv3.net"), None).expect("upgrade");
    assert_eq!(web.protocol.as_deref(), Some("binary.ircv3.net"));
    web.register("binny");
    assert!(web.binary.iter().all(|b| *b), "{:#?}", web.binary);
    let mut tcp = Irc::login(srv.irc.expect("irc"), "tcpuser");
    tcp.join("#web");
    web.send("JOIN #web");
    tcp.expect(":binny!binny@127.0.0.1 JOIN #web");
    web.send("PRIVMSG #web :caf\u{e9} in binary");
    tcp.expect("PRIVMSG #web :caf\u{e9} in binary");
}

#[test]
fn the_clients_first_choice_wins_and_no_offer_means_text() {
    let (_srv, addr) = start();
    let both =
        WsIrc::connect(addr, Some("binary.ircv3.net, text.ircv3.net"), None).expect("upgrade");
    assert_eq!(both.protocol.as_deref(), Some("binary.ircv3.net"));
    let both = WsIrc::connect(
        addr,
        Some("x-other, text.ircv3.net, binary.ircv3.net"),
        None,
    )
    .expect("upgrade");
    assert_eq!(both.protocol.as_deref(), Some("text.ircv3.net"));
    let mut none = WsIrc::connect(addr, None, None).expect("upgrade");
    assert_eq!(none.protocol, None);
    none.register("plainws");
    assert!(none.binary.iter().all(|b| !b));
}

#[test]
fn irc_limits_apply_and_bad_messages_affect_nobody_else() {
    let (srv, addr) = start();
    let mut tcp = Irc::login(srv.irc.expect("irc"), "bystander");
    let mut web = WsIrc::connect(addr, Some("text.ircv3.net"), None).expect("upgrade");
    web.register("webby");
    // Over the IRC line limit: refused whole with 417, like on TCP.
    web.send(&format!("PRIVMSG #lobby :{}", "x".repeat(600)));
    web.expect(" 417 webby ");
    // A message holding a line break is split there, as the same bytes on
    // TCP would be: two lines, never one line hiding a second command.
    web.send("JOIN #lobby\r\nPRIVMSG #lobby :second line");
    tcp.expect(":webby!webby@127.0.0.1 PRIVMSG #lobby :second line");

    // Over the WebSocket message limit: that connection is closed...
    let mut big = WsIrc::connect(addr, Some("text.ircv3.net"), None).expect("upgrade");
    big.register("bigmouth");
    big.send(&"y".repeat(64 * 1024));
    big.expect_closed();
    // ...and nobody else noticed anything but the quit.
    tcp.send("PRIVMSG #lobby :still here");
    web.expect(":bystander!bystander@127.0.0.1 PRIVMSG #lobby :still here");
}

#[test]
fn not_a_websocket_is_dropped_and_others_go_on() {
    use std::io::{Read, Write};
    let (srv, addr) = start();
    // Raw IRC on the WebSocket port is not an upgrade request.
    let mut raw = TcpStream::connect(addr).expect("connect");
    raw.set_read_timeout(Some(WAIT)).expect("timeout");
    raw.write_all(b"NICK raw\r\nUSER raw 0 * :raw\r\n\r\n")
        .expect("write");
    let mut buf = [0u8; 512];
    let n = raw.read(&mut buf).unwrap_or(0);
    let reply = String::from_utf8_lossy(&buf[..n]);
    assert!(!reply.contains(" 001 "), "{reply}");
    let mut web = WsIrc::connect(addr, Some("text.ircv3.net"), None).expect("upgrade");
    web.register("fine");
    let mut tcp = Irc::login(srv.irc.expect("irc"), "tcpuser");
    tcp.join("#web");
    web.send("JOIN #web");
    tcp.expect(":fine!fine@127.0.0.1 JOIN #web");
}

#[test]
fn foreign_origins_are_refused_when_origins_are_listed() {
    let dir = std::env::temp_dir().join(format!("chatroom-ws-origin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let config = dir.join("chatroom.toml");
    std::fs::write(
        &config,
        "[web]\nallowed_origins = [\"https://chat.example\"]\n",
    )
    .expect("config");
    let srv = TestServer::start(&["--config", &config.to_string_lossy()]);
    let addr = srv.web.expect("web listener");
    match WsIrc::connect(addr, Some("text.ircv3.net"), Some("https://evil.example")) {
        Err(Error::Http(resp)) => assert_eq!(resp.status().as_u16(), 403),
        Err(e) => panic!("expected 403, got {e}"),
        Ok(_) => panic!("a foreign origin was let in"),
    }
    let mut ok = WsIrc::connect(addr, Some("text.ircv3.net"), Some("https://chat.example"))
        .expect("listed origin");
    ok.register("welcome");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn by_default_only_the_servers_own_pages_and_non_browsers_may_connect() {
    let srv = TestServer::start(&[]);
    let addr = srv.web.expect("web listener");
    // A page on another site, opened in a visitor's browser.
    match WsIrc::connect(addr, Some("text.ircv3.net"), Some("https://evil.example")) {
        Err(Error::Http(resp)) => assert_eq!(resp.status().as_u16(), 403),
        Err(e) => panic!("expected 403, got {e}"),
        Ok(_) => panic!("a foreign origin was let in"),
    }
    // A page from this very address (the request's Host is `addr`).
    let mut own = WsIrc::connect(
        addr,
        Some("text.ircv3.net"),
        Some(&format!("http://{addr}")),
    )
    .expect("same origin");
    own.register("samesite");
    // Not a browser: no Origin at all.
    let mut tool = WsIrc::connect(addr, Some("text.ircv3.net"), None).expect("no origin");
    tool.register("notabrowser");
}
