//! Slow consumers, measured in bytes a client has not read: a client that
//! reads at full speed is never cut for what its own commands asked for,
//! however much it pipelines; a client that does not read what it asked
//! for is paced (its input stops being read) rather than cut; a client
//! that does not read while others talk in its room is cut, and the room
//! carries on. Real binary, loopback only, no timing assertions.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::irc::Irc;
use common::{LineClient, TestServer, WAIT};

/// Far below the default: what a burst of replies to one's own commands
/// adds up to is well past it, so only the pacing keeps such a client
/// connected.
const SMALL_LIMIT: &str = "16384";

fn small_server() -> TestServer {
    TestServer::start(&[
        "--send-queue-bytes",
        SMALL_LIMIT,
        "--flood-rate",
        "0",
        "--no-history",
    ])
}

/// No line of `seen` says the connection was cut.
fn never_cut(seen: &[String]) {
    assert!(
        !seen
            .iter()
            .any(|l| l.contains("Slow consumer") || l.starts_with("ERROR")),
        "{seen:#?}"
    );
}

#[test]
fn a_fast_reader_pipelining_1500_labeled_pings_gets_every_pong() {
    let server = small_server();
    let addr = server.irc.expect("irc");
    let mut c = Irc::negotiate(addr, "fast", "labeled-response batch");
    c.numeric("366");
    let mut burst = String::new();
    for i in 0..1500 {
        burst.push_str(&format!("@label=p{i} PING :tok{i}-{}\r\n", "x".repeat(40)));
    }
    c.c.send_raw(burst.as_bytes());
    for i in 0..1500 {
        let label = format!("@label=p{i} ");
        let line = c.c.wait_for(&format!("PONG {i}"), |l| l.contains(" PONG "));
        assert!(line.starts_with(&label), "PONG {i} out of order: {line}");
        assert!(
            line.ends_with(&format!(":tok{i}-{}", "x".repeat(40))),
            "{line}"
        );
    }
    c.send("PING :after");
    c.expect("PONG");
    never_cut(&c.c.seen);
}

#[test]
fn a_fast_reader_sending_15000_unknown_irc_commands_gets_every_error() {
    let server = small_server();
    let addr = server.irc.expect("irc");
    let mut c = Irc::negotiate(addr, "junk", "");
    c.numeric("366");
    let burst = "FROB x\r\n".repeat(15_000);
    c.c.send_raw(burst.as_bytes());
    c.send("PING :done");
    let mut errors = 0;
    loop {
        let line = c.c.wait_for("421 or the PONG", |l| {
            l.contains(" 421 ") || l.contains(" PONG ")
        });
        if line.contains(" PONG ") {
            break;
        }
        assert!(line.contains(" 421 junk FROB :Unknown command"), "{line}");
        errors += 1;
    }
    assert_eq!(errors, 15_000);
    never_cut(&c.c.seen);
}

#[test]
fn a_fast_reader_sending_15000_unknown_line_commands_gets_every_error() {
    let server = small_server();
    let addr = server.line.expect("line");
    let mut c = LineClient::line_login(addr, "junk");
    let burst = "/frob\n".repeat(15_000);
    c.send_raw(burst.as_bytes());
    c.send("/done");
    let mut errors = 0;
    loop {
        let line = c.wait_for("an error", |l| l.starts_with("! unknown command"));
        if line.contains("/done") {
            break;
        }
        assert!(line.contains("/frob"), "{line}");
        errors += 1;
    }
    assert_eq!(errors, 15_000);
    never_cut(&c.seen);
    // Still connected, still talking.
    c.send("/frob");
    c.expect("/frob");
}

/// Length of each PING line below, CR LF included.
const PING_LEN: usize = 400;

/// The `i`th PING of the paced client: fixed length, numbered.
fn ping(i: usize) -> Vec<u8> {
    let head = format!("PING :{i:08}-");
    let mut line = head.into_bytes();
    line.resize(PING_LEN - 2, b'p');
    line.extend_from_slice(b"\r\n");
    line
}

#[test]
fn a_client_that_does_not_read_its_replies_is_paced_not_cut() {
    // The default limits: pacing is what any server does out of the box.
    let server = TestServer::start(&["--flood-rate", "0", "--no-history"]);
    let addr: SocketAddr = server.irc.expect("irc");
    let mut c = Irc::negotiate(addr, "paced", "");
    c.numeric("366");
    c.send("PING :ready");
    c.expect("PONG");
    // From here on it writes without reading. Its own socket buffers, the
    // server's and the replies the server holds come to some megabytes
    // (loopback: at most 4 MiB to send and 32 MiB to receive); a server
    // that kept reading would take all of this.
    const BOUND: usize = 64 << 20;
    let mut sock: TcpStream = c.c.stream.try_clone().expect("clone");
    // A write that makes no progress within the harness's wait is taken
    // as the server having stopped reading; whether it stopped is then
    // shown by what it answers below, not by the time.
    sock.set_write_timeout(Some(WAIT)).expect("write timeout");
    let mut written = 0usize;
    let mut chunk = Vec::new();
    let mut next = 0usize;
    loop {
        assert!(
            written < BOUND,
            "the server read {written} bytes from a client that read none of its replies"
        );
        if chunk.is_empty() {
            for _ in 0..64 {
                chunk.extend_from_slice(&ping(next));
                next += 1;
            }
        }
        match sock.write(&chunk) {
            Ok(n) => {
                written += n;
                chunk.drain(..n);
            }
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => panic!("write failed after {written} bytes: {e}"),
        }
    }
    // Held up: it reads again, and finishes the line it was in the middle
    // of, then one last PING.
    let sent = written.div_ceil(PING_LEN);
    let rest = sent * PING_LEN - written;
    let reader = {
        let mut rd = sock.try_clone().expect("clone");
        std::thread::spawn(move || read_pongs(&mut rd, sent))
    };
    sock.set_write_timeout(None).expect("write timeout");
    sock.write_all(&chunk[..rest]).expect("finish the line");
    sock.write_all(b"PING :end\r\n").expect("last ping");
    let got = reader.join().expect("reader");
    assert_eq!(got, sent, "every PING answered, in order");
    // Held up once its unread replies reached the pause mark (256 KiB of
    // PONGs of about 420 bytes), not before.
    assert!(sent > 100, "only {sent} PINGs before being held up");
}

/// Reads PONGs `0..n` in order, then the one for `end`; how many numbered
/// ones came. Fails on anything that says the connection was cut.
fn read_pongs(rd: &mut TcpStream, n: usize) -> usize {
    rd.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 1 << 16];
    let mut next = 0usize;
    let mut last_progress = Instant::now();
    loop {
        match rd.read(&mut chunk) {
            Ok(0) => panic!("closed after {next} PONGs"),
            Ok(got) => {
                buf.extend_from_slice(&chunk[..got]);
                last_progress = Instant::now();
            }
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut
                    || e.kind() == std::io::ErrorKind::Interrupted =>
            {
                assert!(
                    last_progress.elapsed() < WAIT,
                    "no more replies after {next} PONGs"
                );
            }
            Err(e) => panic!("read failed after {next} PONGs: {e}"),
        }
        let mut start = 0;
        while let Some(i) = buf[start..].iter().position(|&b| b == b'\n') {
            let line = String::from_utf8_lossy(&buf[start..start + i]).into_owned();
            start += i + 1;
            assert!(
                !line.contains("Slow consumer") && !line.starts_with("ERROR"),
                "{line}"
            );
            if !line.contains(" PONG ") {
                continue;
            }
            if line.ends_with(":end\r") || line.ends_with(":end") {
                return next;
            }
            let want = format!(":{next:08}-");
            assert!(line.contains(&want), "PONG {next} expected, got {line}");
            next += 1;
            assert!(next <= n, "more PONGs than PINGs");
        }
        buf.drain(..start);
    }
}

#[test]
fn a_client_that_does_not_read_while_its_room_talks_is_cut_and_the_room_carries_on() {
    // The IRC listener's own limit, smaller than the server-wide default
    // (the cut client is told it).
    let dir = std::env::temp_dir().join(format!("chatroom-sendq-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config = dir.join("irc-sendq.toml");
    std::fs::write(
        &config,
        "[limits.listeners.irc]\nsend_queue_bytes = 65536\n",
    )
    .expect("config");
    let config = config.to_string_lossy().into_owned();
    let server = TestServer::start(&["--config", &config, "--flood-rate", "0", "--no-history"]);
    let addr = server.irc.expect("irc");
    // Never reads once registered, with a small receive buffer so that the
    // kernel's buffers fill soon.
    let sock =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    sock.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    sock.connect(&addr.into()).expect("connect");
    let mut slow: TcpStream = sock.into();
    slow.write_all(b"NICK slow\r\nUSER slow 0 * :slow\r\nJOIN #room\r\n")
        .expect("register");

    let mut talker = Irc::negotiate(addr, "talker", "");
    talker.numeric("366");
    talker.send("JOIN #room");
    let names = talker.numeric("353");
    // The silent client's registration and JOIN race the talker's: when
    // the talker got there first it sees the silent one arrive instead.
    if !names.contains("slow") {
        talker.c.wait_for("the silent client in #room", |l| {
            l.starts_with(":slow!") && l.ends_with(" JOIN #room")
        });
    }
    let mut watcher = Irc::negotiate(addr, "watcher", "");
    watcher.numeric("366");
    watcher.send("JOIN #room");
    talker.c.wait_for("the watcher in #room", |l| {
        l.starts_with(":watcher!") && l.ends_with(" JOIN #room")
    });
    // In lock step: the next batch goes once the watcher has the last, so
    // the readers' queues stay small while the silent one's fills.
    let text = "t".repeat(380);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut n = 0u64;
    let mut cut = None;
    while cut.is_none() {
        assert!(
            Instant::now() < deadline,
            "the silent client was not cut off after {n} messages"
        );
        let mut batch = String::new();
        for _ in 0..4 {
            n += 1;
            batch.push_str(&format!("PRIVMSG #room :{n} {text}\r\n"));
        }
        talker.c.send_raw(batch.as_bytes());
        let last = format!("PRIVMSG #room :{n} {text}");
        loop {
            let line = watcher.c.wait_for("the last message or a quit", |l| {
                l.ends_with(&last) || l.contains(" QUIT ")
            });
            if line.contains(" QUIT ") {
                assert!(line.starts_with(":slow!"), "{line}");
                cut = Some(line);
            } else {
                break;
            }
        }
    }
    let cut = cut.unwrap_or_default();
    assert!(
        cut.ends_with(":Slow consumer: too many bytes unread"),
        "{cut}"
    );
    // The others keep chatting.
    watcher.send("PRIVMSG #room :still here");
    talker.expect("PRIVMSG #room :still here");
    // The silent client's socket is closed: after what was buffered, EOF.
    slow.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let deadline = Instant::now() + WAIT * 3;
    let mut chunk = [0u8; 65536];
    let mut tail = Vec::new();
    loop {
        assert!(
            Instant::now() < deadline,
            "the silent client was not closed"
        );
        match slow.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                tail.extend_from_slice(&chunk[..n]);
                let keep = tail.len().saturating_sub(1024);
                tail.drain(..keep);
            }
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut
                    || e.kind() == std::io::ErrorKind::Interrupted => {}
            // A reset is a close too.
            Err(_) => break,
        }
    }
    let tail = String::from_utf8_lossy(&tail);
    assert!(
        tail.contains("past the limit of 65536 (send_queue_bytes)"),
        "the silent client is told which limit cut it: {tail}"
    );
}
