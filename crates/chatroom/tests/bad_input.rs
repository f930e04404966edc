//! Hostile and broken clients against the real binary: each test checks
//! that the bad client gets a clear answer and that nobody else is affected.

mod common;

use std::cell::RefCell;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::{LineClient, TestServer, WAIT};

/// Waits for a line containing `needle`; returns every line received
/// before it and the line itself (so tests can check what did not arrive).
fn lines_until(c: &mut LineClient, needle: &str) -> Vec<String> {
    let got = RefCell::new(Vec::new());
    c.wait_for(needle, |l| {
        got.borrow_mut().push(l.to_string());
        l.contains(needle)
    });
    got.into_inner()
}

fn expect_end(c: &mut LineClient, suffix: &str) -> String {
    c.wait_for(suffix, |l| l.ends_with(suffix))
}

fn login(server: &TestServer, nick: &str) -> LineClient {
    LineClient::line_login(server.line.expect("line listener"), nick)
}

/// Reads raw bytes from `stream` until they contain `needle` (bounded by
/// `WAIT`); returns all bytes read. For checks the line-splitting client
/// would hide: CR, NUL, invalid UTF-8.
fn raw_until(stream: &mut TcpStream, needle: &[u8]) -> Vec<u8> {
    let deadline = Instant::now() + WAIT;
    let mut got = Vec::new();
    let mut chunk = [0u8; 65536];
    while !got.windows(needle.len()).any(|w| w == needle) {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {:?}; got {:?}",
            String::from_utf8_lossy(needle),
            String::from_utf8_lossy(&got)
        );
        match stream.read(&mut chunk) {
            Ok(0) => panic!(
                "closed while waiting for {:?}; got {:?}",
                String::from_utf8_lossy(needle),
                String::from_utf8_lossy(&got)
            ),
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("read: {e}"),
        }
    }
    got
}

/// Reads until the peer closes (EOF or reset), bounded by `WAIT`; returns
/// the bytes read. Panics if the connection stays open.
fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let deadline = Instant::now() + WAIT;
    let mut got = Vec::new();
    let mut chunk = [0u8; 65536];
    loop {
        assert!(
            Instant::now() < deadline,
            "connection was not closed; got {} bytes",
            got.len()
        );
        match stream.read(&mut chunk) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return got,
        }
    }
}

/// An IRC client on a raw socket: registers and waits for the welcome.
fn irc_login(addr: SocketAddr, nick: &str) -> LineClient {
    let mut c = LineClient::connect(addr);
    c.send_raw(format!("NICK {nick}\r\nUSER {nick} 0 * :{nick}\r\n").as_bytes());
    c.expect(" 001 ");
    c
}

#[test]
fn oversized_line_is_refused_whole() {
    let server = TestServer::start(&["--max-line-bytes", "100", "--flood-rate", "0"]);
    let mut alice = login(&server, "alice");
    let mut bob = login(&server, "bob");
    let refusal = "! line too long (at most 100 bytes); it was not sent";

    // 1. 1,000 bytes in one write, ending in something that would be a
    //    command if the tail were taken for a line of its own.
    let mut big = "x".repeat(988);
    big.push_str("/nick pwned\n");
    assert_eq!(big.len(), 1000);
    alice.send_raw(big.as_bytes());
    alice.expect(refusal);

    // 2. The head arrives first and is refused (the error proves the server
    //    has read it); only then the tail. The tail must be discarded, not
    //    run as a command.
    alice.send_raw("y".repeat(900).as_bytes());
    alice.expect(refusal);
    alice.send_raw(b"/nick hacked\n");

    // 3. Same with a tail that would be a message.
    alice.send_raw("z".repeat(500).as_bytes());
    alice.expect(refusal);
    alice.send_raw(b"TAILTEXT\n");

    // A line of exactly the limit still goes through, then a marker.
    let exact = "e".repeat(100);
    alice.send(&exact);
    alice.send("marker");
    let seen = lines_until(&mut bob, "> marker");
    assert!(
        seen.iter()
            .any(|l| l.ends_with(&format!("<alice> {exact}"))),
        "a line of exactly max-line-bytes must pass: {seen:#?}"
    );
    for bad in ["xxxx", "yyyy", "zzzz", "pwned", "hacked", "TAILTEXT"] {
        assert!(
            !seen.iter().any(|l| l.contains(bad)),
            "{bad:?} leaked to another user: {seen:#?}"
        );
    }
    // Alice is still alice: neither tail ran as /nick.
    let mine = lines_until(&mut alice, "> marker");
    assert!(
        !mine.iter().any(|l| l.contains("known as")),
        "a tail ran as a command: {mine:#?}"
    );
    assert!(
        !mine.iter().any(|l| l.contains("TAILTEXT")),
        "a tail was sent as a message: {mine:#?}"
    );
    // Exactly one refusal per oversized line (all three were already seen).
    assert!(
        !mine.iter().any(|l| l.contains("line too long")),
        "{mine:#?}"
    );
}

#[test]
fn invalid_utf8_is_replaced_not_dropped() {
    let server = TestServer::start(&[]);
    let mut alice = login(&server, "alice");
    let mut bob = login(&server, "bob");
    alice.send_raw(b"caf\xc3\xa9 \xff\xfe ok \xe2\x82\n");
    alice.send_raw(b"marker\n");
    let got = raw_until(&mut bob.stream, b"<alice> marker\n");
    let text = String::from_utf8(got).expect("the server sends valid UTF-8 only");
    let want = "<alice> caf\u{e9} \u{fffd}\u{fffd} ok \u{fffd}\n";
    assert!(text.contains(want), "{text:?}");

    // Invalid UTF-8 in a nickname is refused like any bad nickname.
    let mut carol = LineClient::connect(server.line.expect("line"));
    carol.expect("Choose a nickname");
    carol.send_raw(b"car\xffol\n");
    carol.expect("is not a valid nickname");
    carol.expect("Choose another nickname:");
    carol.send("carol");
    carol.expect("Welcome, carol!");
}

#[test]
fn cr_and_nul_cannot_smuggle_lines_to_line_users() {
    let server = TestServer::start(&["--flood-rate", "0"]);
    let mut alice = login(&server, "alice");
    let mut bob = login(&server, "bob");
    alice.send_raw(b"hello\r/quit evil\0/nick evil\r\n");
    alice.send_raw(b"/me dances\rQUIT :x\n");
    alice.send_raw(b"/msg bob a\rb\0c\n");
    alice.send_raw(b"/topic t\r* alice is now known as evil\n");
    alice.send_raw(b"marker\n");
    let got = raw_until(&mut bob.stream, b"<alice> marker\n");
    assert!(
        !got.contains(&b'\r'),
        "a CR reached bob: {:?}",
        String::from_utf8_lossy(&got)
    );
    assert!(
        !got.contains(&b'\0'),
        "a NUL reached bob: {:?}",
        String::from_utf8_lossy(&got)
    );
    let text = String::from_utf8(got).expect("utf-8");
    let lines: Vec<&str> = text.lines().collect();
    // Each smuggling attempt is exactly one line, with spaces for CR/NUL.
    let want = [
        " <alice> hello /quit evil /nick evil",
        " * alice dances QUIT :x",
        " [private] <alice> a b c",
        "* alice set the topic of #lobby: t * alice is now known as evil",
        " <alice> marker",
    ];
    assert_eq!(lines.len(), want.len(), "{lines:#?}");
    for (line, want) in lines.iter().zip(want) {
        assert!(line.ends_with(want), "{line:?} should end with {want:?}");
    }
    // Alice still has her name and her connection.
    alice.send("still here");
    expect_end(&mut bob, " <alice> still here");
}

#[test]
fn cr_and_nul_reach_irc_users_as_one_privmsg() {
    let server = TestServer::start(&["--flood-rate", "0"]);
    let mut alice = login(&server, "alice");
    let mut irc = irc_login(server.irc.expect("irc listener"), "ircy");
    // The IRC user is in #lobby with alice (every newcomer joins it).
    irc.send("JOIN #lobby");
    irc.expect(" JOIN ");
    alice.send_raw(b"hi\rPRIVMSG #lobby :injected\0QUIT :bye\r\n");
    alice.send_raw(b"marker\n");
    let got = raw_until(&mut irc.stream, b"marker\r\n");
    assert!(
        !got.contains(&b'\0'),
        "a NUL reached the IRC user: {:?}",
        String::from_utf8_lossy(&got)
    );
    let text = String::from_utf8(got).expect("utf-8");
    // Every CR is part of a CR LF line end.
    assert_eq!(
        text.matches('\r').count(),
        text.matches("\r\n").count(),
        "a bare CR reached the IRC user: {text:?}"
    );
    let privmsgs: Vec<&str> = text
        .split("\r\n")
        .filter(|l| l.contains("PRIVMSG"))
        .collect();
    assert_eq!(
        privmsgs.len(),
        2,
        "one PRIVMSG each, no more: {privmsgs:#?}"
    );
    assert!(
        privmsgs[0].starts_with(":alice!") && privmsgs[0].contains(" PRIVMSG #lobby :hi "),
        "{privmsgs:#?}"
    );
    assert!(privmsgs[0].ends_with("injected QUIT :bye"), "{privmsgs:#?}");
    assert!(!text.split("\r\n").any(|l| l.starts_with("QUIT")));
}

#[test]
fn taken_and_invalid_nicknames_are_asked_again() {
    let server = TestServer::start(&[]);
    let mut alice = login(&server, "alice");
    let mut c = LineClient::connect(server.line.expect("line"));
    c.expect("Welcome to chatroom! Choose a nickname:");
    c.send("ALICE");
    c.expect("! the nickname ALICE is taken");
    c.expect("Choose another nickname:");
    c.send("9lives");
    c.expect("! 9lives is not a valid nickname: a nickname cannot start with a digit or '-'");
    c.expect("Choose another nickname:");
    c.send("bad name");
    c.expect("! bad name is not a valid nickname");
    c.send("");
    c.expect("Choose a nickname:");
    c.send(&"n".repeat(31));
    c.expect("nickname is too long");
    c.send("bob");
    c.expect("Welcome, bob!");
    c.expect("* you are now talking in #lobby");
    // Alice heard about bob once, and nothing about the refused names.
    c.send("finally");
    let seen = lines_until(&mut alice, "<bob> finally");
    let joins: Vec<&String> = seen.iter().filter(|l| l.contains("joined")).collect();
    assert_eq!(joins.len(), 1, "{seen:#?}");
    assert!(joins[0].ends_with("* bob joined #lobby"));
    assert!(
        !seen
            .iter()
            .any(|l| l.contains("9lives") || l.contains("ALICE"))
    );
}

#[test]
fn silent_client_is_timed_out() {
    let server = TestServer::start(&["--registration-timeout", "1"]);
    let mut alice = login(&server, "alice");
    let mut silent = LineClient::connect(server.line.expect("line"));
    silent.expect("Choose a nickname");
    let rest = silent.expect_closed();
    assert!(
        rest.iter()
            .any(|l| l == "*** Disconnected: Registration timed out"),
        "{rest:#?}"
    );
    // Alice was registered in time and is not affected: well past the
    // timeout she still chats with a newcomer.
    let mut bob = login(&server, "bob");
    alice.send("still here");
    expect_end(&mut bob, " <alice> still here");
    let seen = lines_until(&mut alice, "<alice> still here");
    assert!(
        !seen
            .iter()
            .any(|l| l.contains("quit") || l.contains("timed out")),
        "{seen:#?}"
    );
}

#[test]
fn slow_consumer_is_cut_off_and_the_room_carries_on() {
    let server = TestServer::start(&["--send-queue-bytes", "8192", "--flood-rate", "0"]);
    let addr = server.line.expect("line");
    // A client that never reads, with a small receive buffer so that the
    // kernel's buffers fill soon.
    let sock =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    sock.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    sock.connect(&addr.into()).expect("connect");
    let mut slow: TcpStream = sock.into();
    slow.write_all(b"slow\n").expect("register");

    let mut flooder = login(&server, "flooder");
    let mut watcher = login(&server, "watcher");
    flooder.expect("* watcher joined #lobby");

    // Flood in small batches, in lock step: the next batch goes only when
    // both readers have the previous one, so that their queues never hold
    // more than a few events while the slow client's queue fills.
    let text = "f".repeat(380);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut n = 0u64;
    let mut cut = false;
    while !cut {
        assert!(
            Instant::now() < deadline,
            "the slow client was not cut off after {n} messages"
        );
        let mut batch = String::new();
        for _ in 0..4 {
            n += 1;
            batch.push_str(&format!("{n} {text}\n"));
        }
        flooder.send_raw(batch.as_bytes());
        let last = format!(" <flooder> {n} {text}");
        expect_end(&mut flooder, &last);
        for line in lines_until(&mut watcher, &last) {
            if line.contains("* slow quit (") {
                assert!(
                    line.ends_with("* slow quit (Slow consumer: too many bytes unread)"),
                    "{line}"
                );
                cut = true;
            }
        }
    }
    // The others keep chatting.
    watcher.send("still with you");
    expect_end(&mut flooder, " <watcher> still with you");
    flooder.send("good");
    expect_end(&mut watcher, " <flooder> good");
    // The slow client's socket gets closed: after what was buffered, EOF.
    slow.set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let got = read_until_closed(&mut slow);
    assert!(!got.is_empty(), "it was sent something before being cut");
}

#[test]
fn flooding_is_slowed_down_but_nothing_is_lost() {
    let server = TestServer::start(&["--flood-rate", "5", "--flood-burst", "5"]);
    let mut flooder = login(&server, "flooder");
    let mut bob = login(&server, "bob");
    let mut carol = login(&server, "carol");
    let burst: String = (1..=15).map(|i| format!("flood {i}\n")).collect();
    flooder.send_raw(burst.as_bytes());
    flooder.expect("*** Flood control: you are sending faster than 5 messages per second");
    // Someone else talking meanwhile is not held up behind the flooder.
    carol.send("carol gets through");
    let seen = lines_until(&mut bob, "<flooder> flood 15");
    let mut seen_all = seen.clone();
    if !seen
        .iter()
        .any(|l| l.ends_with("<carol> carol gets through"))
    {
        seen_all.extend(lines_until(&mut bob, "<carol> carol gets through"));
    }
    let flood: Vec<&str> = seen_all
        .iter()
        .filter_map(|l| l.split_once(" <flooder> ").map(|(_, t)| t))
        .collect();
    let want: Vec<String> = (1..=15).map(|i| format!("flood {i}")).collect();
    assert_eq!(flood, want, "all delivered, in order");
    assert!(
        seen_all
            .iter()
            .any(|l| l.ends_with("<carol> carol gets through"))
    );
    // The notice is given once per flood, not once per message.
    let mine = lines_until(&mut flooder, "<flooder> flood 15");
    assert!(
        !mine.iter().any(|l| l.contains("Flood control")),
        "{mine:#?}"
    );
}

#[test]
fn abrupt_disconnect_mid_line_delivers_nothing_of_it() {
    let server = TestServer::start(&[]);
    let mut alice = login(&server, "alice");
    let bob = login(&server, "bob");
    let mut bob_stream = bob.stream;
    bob_stream.write_all(b"half a li").expect("write");
    // Give the bytes time to reach the server before the reset; not a
    // timing assertion, the outcome must be the same either way.
    std::thread::sleep(Duration::from_millis(200));
    // SO_LINGER 0: close() resets the connection (RST), as a crashed
    // client or a pulled cable followed by a timeout would look.
    socket2::SockRef::from(&bob_stream)
        .set_linger(Some(Duration::ZERO))
        .expect("linger");
    drop(bob_stream);
    let seen = lines_until(&mut alice, "* bob quit (");
    alice.send("after");
    let mut seen_all = seen;
    seen_all.extend(lines_until(&mut alice, "<alice> after"));
    assert!(
        !seen_all.iter().any(|l| l.contains("half a li")),
        "a half line from a reset connection was delivered: {seen_all:#?}"
    );
    // (A client that closes normally, with FIN, after a last line without
    // a newline has that line delivered: see line_protocol.rs.)
}

#[test]
fn connections_per_address_are_limited() {
    let server = TestServer::start(&["--max-connections-per-ip", "3"]);
    let addr = server.line.expect("line");
    let mut open: Vec<LineClient> = (0..3)
        .map(|_| {
            let mut c = LineClient::connect(addr);
            c.expect("Choose a nickname");
            c
        })
        .collect();
    let mut fourth = LineClient::connect(addr);
    let lines = fourth.expect_closed();
    assert_eq!(
        lines,
        vec!["*** Disconnected: Too many connections from your address"]
    );
    // The three are unaffected.
    open[0].send("one");
    open[0].expect("Welcome, one!");
    // When one leaves, a new connection is accepted again.
    let first = open.remove(0);
    drop(first);
    let deadline = Instant::now() + WAIT;
    loop {
        assert!(
            Instant::now() < deadline,
            "no connection accepted after one closed"
        );
        let mut c = LineClient::connect(addr);
        let first_line = c.wait_for("a first line", |_| true);
        if first_line.contains("Choose a nickname") {
            c.send("again");
            c.expect("Welcome, again!");
            break;
        }
        assert_eq!(
            first_line,
            "*** Disconnected: Too many connections from your address"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn total_connections_are_limited() {
    let server = TestServer::start(&["--max-connections", "2"]);
    let addr = server.line.expect("line");
    let mut a = login(&server, "alice");
    let mut b = login(&server, "bob");
    let mut third = LineClient::connect(addr);
    let lines = third.expect_closed();
    assert_eq!(
        lines,
        vec!["*** Disconnected: Server is full, try again later"]
    );
    a.send("still fine");
    expect_end(&mut b, " <alice> still fine");
}
