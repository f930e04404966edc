//! Admission at accept time, against the real binary started with an
//! open-file limit of 1,024 (soft and hard, so it cannot raise it): one
//! address (127.0.0.2) opens far more bare connections than the limits
//! allow, to every listener, and holds them without sending a byte, while
//! another address (127.0.0.1) registers on IRC and on the line protocol
//! and chats. The server must neither run out of descriptors nor make the
//! second address wait for the first to stop.

mod common;

use std::net::{IpAddr, SocketAddr, TcpStream};

use common::irc::Irc;
use common::{LineClient, TestServer, WAIT};

/// The server's open-file limit in these tests: a common default.
const NOFILE: u64 = 1024;
/// Bare connections the attacker opens, all held at once.
const ATTACK: usize = 1300;

fn attacker() -> IpAddr {
    IpAddr::from([127, 0, 0, 2])
}

/// This process holds every attacking connection at once: raise its own
/// soft open-file limit to its hard one.
fn enough_descriptors_here() {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let now = getrlimit(Resource::Nofile);
    if now.maximum.is_some() && now.current != now.maximum {
        setrlimit(
            Resource::Nofile,
            Rlimit {
                current: now.maximum,
                maximum: now.maximum,
            },
        )
        .expect("raise this test's open-file limit");
    }
    let soft = getrlimit(Resource::Nofile).current;
    assert!(
        soft.is_none_or(|n| n >= ATTACK as u64 + 256),
        "this test needs {} open files, the hard limit allows {soft:?}",
        ATTACK + 256
    );
}

/// A bare TCP connection from `from`: connected, nothing sent. `None` if
/// the server never completed it (its accept queue full).
fn bare(from: IpAddr, to: SocketAddr) -> Option<TcpStream> {
    use socket2::{Domain, Socket, Type};
    let sock = Socket::new(Domain::for_address(to), Type::STREAM, None).expect("socket");
    sock.bind(&SocketAddr::new(from, 0).into())
        .expect("bind the local address");
    sock.connect_timeout(&to.into(), WAIT).ok()?;
    Some(sock.into())
}

/// Every listener the server has.
fn listeners(server: &TestServer) -> Vec<SocketAddr> {
    [
        server.line,
        server.irc,
        server.ircs,
        server.web,
        server.webs,
        server.lenheader,
        server.nick,
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Opens up to `n` bare connections from the attacker, round robin over
/// `to`, and returns them (held until dropped). Stops at the first one the
/// server does not complete: its accept queue is full, it has stopped
/// accepting (out of descriptors), and every further attempt would wait
/// as long.
fn flood(n: usize, to: &[SocketAddr]) -> Vec<TcpStream> {
    let mut held = Vec::with_capacity(n);
    for i in 0..n {
        match bare(attacker(), to[i % to.len()]) {
            Some(s) => held.push(s),
            None => break,
        }
    }
    assert!(!held.is_empty(), "no attacking connection was completed");
    held
}

/// 127.0.0.1 registers on IRC and on the line protocol; a message from each
/// reaches the other.
fn others_register_and_chat(server: &TestServer) {
    let line = server.line.expect("line");
    let irc = server.irc.expect("irc");
    let mut amy = Irc::login(irc, "amy");
    let mut bob = LineClient::line_login(line, "bob");
    bob.send("hello from the line protocol");
    amy.expect(":bob!bob@127.0.0.1 PRIVMSG #lobby :hello from the line protocol");
    amy.send("PRIVMSG #lobby :hello from IRC");
    bob.expect("<amy> hello from IRC");
}

/// What the server logged says it never ran out of descriptors and did
/// refuse the attacker.
fn check_log(server: &TestServer) {
    let log = server.stderr();
    assert!(
        log.contains(&format!(
            "descriptors: open-file limit {NOFILE} (hard limit {NOFILE})"
        )),
        "the start-up line about the open-file limit is missing: {log}"
    );
    assert!(
        !log.contains("accept failed") && !log.contains("Too many open files"),
        "the server ran out of descriptors: {log}"
    );
    assert!(
        log.contains("refused ") && log.contains("from 127.0.0.2"),
        "no refusal of the attacker was logged: {log}"
    );
}

/// A line-protocol connection from the attacker's address is refused with
/// one line whose reason starts with `reason`.
fn attacker_refused_on_line(server: &TestServer, reason: &str) {
    let mut extra = LineClient::connect_from(attacker(), server.line.expect("line"));
    let lines = extra.expect_closed();
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(
        lines[0].starts_with(&format!("*** Disconnected: {reason}")),
        "{lines:#?}"
    );
}

const EVERY_LISTENER: [&str; 2] = ["--lenheader", "--nick-dialect"];

#[test]
fn one_address_cannot_take_every_descriptor_with_the_default_limits() {
    enough_descriptors_here();
    let server = TestServer::start_with_nofile(NOFILE, &EVERY_LISTENER);
    let to = listeners(&server);
    assert_eq!(to.len(), 7, "every listener is on");
    let held = flood(ATTACK, &to);
    assert_eq!(held.len(), ATTACK, "the server completed every connection");
    others_register_and_chat(&server);
    // Whether the connection rate or the count per address says no
    // depends on how long the flood took; one of them does.
    attacker_refused_on_line(&server, "Too many ");
    check_log(&server);
    drop(held);
}

#[test]
fn the_count_per_address_holds_without_the_rate_limit() {
    enough_descriptors_here();
    // Nothing the attacker holds may time out before the test is over, so
    // that what it holds is exactly what the limits let it have.
    let dir = std::env::temp_dir().join(format!("chatroom-admission-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config = dir.join("long-timeouts.toml");
    std::fs::write(&config, "[web]\nhandshake_timeout_secs = 600\n").expect("config");
    let config = config.to_string_lossy().into_owned();
    let mut args = EVERY_LISTENER.to_vec();
    args.extend([
        "--max-connects-per-ip",
        "0",
        "--tls-handshake-timeout",
        "600",
        "--registration-timeout",
        "600",
        "--config",
        &config,
    ]);
    let server = TestServer::start_with_nofile(NOFILE, &args);
    let to = listeners(&server);
    assert_eq!(to.len(), 7, "every listener is on");
    let held = flood(ATTACK, &to);
    assert_eq!(held.len(), ATTACK, "the server completed every connection");
    others_register_and_chat(&server);
    attacker_refused_on_line(&server, "Too many connections from your address");
    check_log(&server);
    drop(held);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_ceiling_keeps_descriptors_to_say_the_server_is_full() {
    enough_descriptors_here();
    // Every per-address limit off: only the ceiling (1,024 less the
    // reserve of 128) stands between the attacker and the descriptors.
    let server = TestServer::start_with_nofile(
        NOFILE,
        &[
            "--max-connections-per-ip",
            "0",
            "--max-connects-per-ip",
            "0",
            "--max-handshakes-per-ip",
            "0",
            "--max-connections",
            "0",
            "--registration-timeout",
            "600",
            "--flood-rate",
            "0",
        ],
    );
    let line = server.line.expect("line");
    let irc = server.irc.expect("irc");
    let held = flood(ATTACK, &[line, irc]);
    assert_eq!(held.len(), ATTACK, "the server completed every connection");
    assert!(
        server.stderr().contains(
            "at most 896 connections at once (limits.max_connections 0, descriptor_reserve 128)"
        ),
        "{}",
        server.stderr()
    );
    // Full: another address is told so in one line, not left hanging.
    let mut late = LineClient::connect(line);
    assert_eq!(
        late.expect_closed(),
        vec!["*** Disconnected: Server is full, try again later"]
    );
    let mut late_irc = LineClient::connect(irc);
    let lines = late_irc.expect_closed();
    assert!(
        lines.len() == 1 && lines[0].contains("Server is full"),
        "{lines:#?}"
    );
    let log = server.stderr();
    assert!(
        !log.contains("accept failed") && !log.contains("Too many open files"),
        "the server ran out of descriptors: {log}"
    );
    // Once the attacker lets go, everyone else gets in again.
    drop(held);
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "no connection was admitted after the attacker left"
        );
        let mut c = LineClient::connect(line);
        let first = c.wait_for("a first line", |_| true);
        if first.contains("Choose a nickname") {
            break;
        }
        assert_eq!(first, "*** Disconnected: Server is full, try again later");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    others_register_and_chat(&server);
}

#[test]
fn accept_backs_off_and_recovers_when_descriptors_run_out() {
    enough_descriptors_here();
    // No reserve and no per-address limit: the attacker can take every
    // descriptor, and the accept loop meets EMFILE.
    let dir =
        std::env::temp_dir().join(format!("chatroom-admission-emfile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config = dir.join("no-reserve.toml");
    std::fs::write(&config, "[limits]\ndescriptor_reserve = 0\n").expect("config");
    let config = config.to_string_lossy().into_owned();
    let server = TestServer::start_with_nofile(
        NOFILE,
        &[
            "--max-connections-per-ip",
            "0",
            "--max-connects-per-ip",
            "0",
            "--max-connections",
            "0",
            "--registration-timeout",
            "600",
            "--config",
            &config,
        ],
    );
    let line = server.line.expect("line");
    let held = flood(ATTACK, &[line]);
    // The accept loop says so, counted, rather than once per failure.
    let deadline = std::time::Instant::now() + WAIT;
    let warned = loop {
        let log = server.stderr();
        if let Some(l) = log.lines().find(|l| l.contains("accept failed")) {
            break l.to_string();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no accept failure was logged: {log}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(
        warned.contains("time(s) since the last report, backing off: Too many open files"),
        "{warned}"
    );
    // Once the attacker lets go, the server accepts again.
    drop(held);
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "no connection was admitted after the attacker left"
        );
        let mut c = LineClient::connect(line);
        if c.wait_for("a first line", |_| true)
            .contains("Choose a nickname")
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    others_register_and_chat(&server);
    std::fs::remove_dir_all(&dir).ok();
}
