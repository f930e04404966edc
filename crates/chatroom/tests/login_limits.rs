//! Login throttling against the real binary on loopback, under attack:
//! many connections from one address (127.0.0.2, 127.0.0.3) guessing at
//! once over SASL PLAIN, OPER and the line protocol's `/login`, while the
//! account's owner connects from 127.0.0.1.
//!
//! What the server checked is read from its log, which has one `WARN`
//! line per password found wrong (and none for an attempt refused
//! unchecked); every refusal must say how long to wait. No timing is
//! asserted: the counts are the same however slow the machine is.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use common::irc::{Irc, sasl_plain_payload};
use common::{LineClient, TestServer};

/// The attacker's address; the owner's is 127.0.0.1, the harness's own.
const ATTACKER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
/// A second attacker, trying many accounts.
const SPRAYER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));

/// Connections per attack: fewer than the connection limit per address,
/// which the test configurations set above it (and the connection rate
/// per address off: this is about logins, not connection floods).
const CONNECTIONS: usize = 40;

fn start(toml: &str) -> TestServer {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path =
        std::env::temp_dir().join(format!("chatroom-logins-{}-{n}.toml", std::process::id()));
    // The documented defaults, written out: the counts below rest on them.
    let toml = format!(
        "{toml}\n[accounts]\nmax_failures_per_account = 5\nmax_failures_per_ip = 20\n\
         [limits]\nmax_connections_per_ip = 100\nmax_connects_per_ip = 0\n"
    );
    std::fs::write(&path, toml).expect("write config");
    let path_str = path.to_string_lossy().into_owned();
    TestServer::start(&["--flood-rate", "0", "--config", &path_str])
}

fn irc(srv: &TestServer) -> SocketAddr {
    srv.irc.expect("irc listener")
}

/// Registers `nick` as an account (from 127.0.0.1) and quits.
fn make_account(addr: SocketAddr, nick: &str, password: &str) {
    let mut c = Irc::login(addr, nick);
    c.send(&format!("REGISTER * * {password}"));
    c.expect(&format!("REGISTER SUCCESS {nick} :"));
    c.send("QUIT");
    c.c.expect_closed();
}

/// Connects from `from` and stops before the SASL exchange.
fn sasl_start_from(from: IpAddr, addr: SocketAddr, nick: &str) -> Irc {
    let mut c = Irc::connect_from(from, addr, nick);
    c.send("CAP LS 302");
    c.send(&format!("NICK {nick}"));
    c.send(&format!("USER {nick} 0 * :Real {nick}"));
    c.expect(" CAP * LS :");
    c.send("CAP REQ :sasl");
    c.expect(" CAP * ACK :sasl");
    c
}

/// Connects from `from` and registers as `nick`.
fn irc_login_from(from: IpAddr, addr: SocketAddr, nick: &str) -> Irc {
    let mut c = Irc::connect_from(from, addr, nick);
    c.send(&format!("NICK {nick}"));
    c.send(&format!("USER {nick} 0 * :Real {nick}"));
    c.expect(&format!(" 366 {nick} #lobby "));
    c
}

/// Connects to the line protocol from `from` as `nick`.
fn line_login_from(from: IpAddr, addr: SocketAddr, nick: &str) -> LineClient {
    let mut c = LineClient::connect_from(from, addr);
    c.expect("Choose a nickname");
    c.send(nick);
    c.expect("you are now talking in #lobby");
    c
}

/// The wait a refusal names (`... try again in N seconds ...`).
fn wait_secs(line: &str) -> Option<u64> {
    let rest = line.split("try again in ").nth(1)?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Log lines containing `needle` about a peer at `from`.
fn logged(srv: &TestServer, needle: &str, from: IpAddr) -> usize {
    let from = from.to_string();
    srv.stderr()
        .lines()
        .filter(|l| l.contains(needle) && l.contains(&from))
        .count()
}

#[test]
fn parallel_sasl_guesses_are_each_counted_and_the_owner_still_logs_in() {
    let srv = start("");
    let addr = irc(&srv);
    make_account(addr, "victim", "victims-password");
    let mut conns: Vec<Irc> = (0..CONNECTIONS)
        .map(|i| sasl_start_from(ATTACKER, addr, &format!("m{i}")))
        .collect();
    // Five wrong passwords per connection, in one write, on every
    // connection before reading any answer.
    let guesses: String = (0..5)
        .map(|k| {
            format!(
                "AUTHENTICATE PLAIN\r\nAUTHENTICATE {}\r\n",
                sasl_plain_payload("victim", &format!("guess-{k}"))
            )
        })
        .collect();
    for c in &mut conns {
        c.send_raw(guesses.as_bytes());
    }
    let mut refused = 0;
    for c in &mut conns {
        for _ in 0..5 {
            let l = c.expect(" 904 * :");
            if l.contains("try again") {
                let secs = wait_secs(&l).unwrap_or_else(|| panic!("no wait in {l}"));
                assert!(secs >= 1, "{l}");
                refused += 1;
            }
        }
    }
    let attempts = CONNECTIONS * 5;
    let checked = logged(&srv, "login failed", ATTACKER);
    eprintln!("{attempts} parallel guesses: {checked} passwords checked, {refused} refused");
    assert!(checked <= 5, "{checked} passwords checked, the limit is 5");
    assert_eq!(
        checked + refused,
        attempts,
        "an attempt was neither checked nor refused with a wait"
    );
    // Even the right password is refused from the attacker's address...
    let mut m = sasl_start_from(ATTACKER, addr, "mright");
    m.send("AUTHENTICATE PLAIN");
    m.expect("AUTHENTICATE +");
    m.send(&format!(
        "AUTHENTICATE {}",
        sasl_plain_payload("victim", "victims-password")
    ));
    let l = m.expect(" 904 * :");
    assert!(wait_secs(&l).is_some_and(|s| s >= 1), "{l}");
    // ...but the owner, from another address, logs in at once.
    let (mut o, logged_in) = Irc::sasl_plain(addr, "victim", "victim", "victims-password", "");
    assert!(logged_in.contains(" 900 * victim!"), "{logged_in}");
    o.send("WHOIS victim");
    assert!(o.numeric("330").contains(" victim victim :"));
}

#[test]
fn parallel_oper_guesses_obey_the_same_limit() {
    let toml = format!(
        "[[opers]]\nname = \"root\"\npassword_hash = \"{}\"\n",
        common::hash_password("roots-password")
    );
    let srv = start(&toml);
    let addr = irc(&srv);
    let mut conns: Vec<Irc> = (0..CONNECTIONS / 4)
        .map(|i| irc_login_from(ATTACKER, addr, &format!("o{i}")))
        .collect();
    for c in &mut conns {
        c.send_raw(b"OPER root wrong-1\r\nOPER root wrong-2\r\n");
    }
    let mut refused = 0;
    for c in &mut conns {
        for _ in 0..2 {
            // A refusal is a notice with the wait, then 464.
            let lines = std::cell::RefCell::new(Vec::new());
            c.wait_for("464", |l| {
                lines.borrow_mut().push(l.to_string());
                l.contains(" 464 ")
            });
            if let Some(l) = lines.borrow().iter().find(|l| l.contains("try again")) {
                assert!(wait_secs(l).is_some_and(|s| s >= 1), "{l}");
                refused += 1;
            }
        }
    }
    let attempts = CONNECTIONS / 4 * 2;
    let checked = logged(&srv, "OPER with a wrong password", ATTACKER);
    eprintln!("{attempts} parallel OPER guesses: {checked} passwords checked, {refused} refused");
    assert!(checked <= 5, "{checked} passwords checked, the limit is 5");
    assert_eq!(checked + refused, attempts);
    // The operator, from another address, is not locked out.
    let mut root = Irc::login(addr, "rooty");
    root.send("OPER root roots-password");
    root.numeric("381");
}

#[test]
fn line_login_and_logout_obey_the_same_limit() {
    let srv = start("");
    let addr = irc(&srv);
    let line = srv.line.expect("line listener");
    make_account(addr, "victim", "victims-password");
    let mut conns: Vec<LineClient> = (0..CONNECTIONS / 4)
        .map(|i| line_login_from(ATTACKER, line, &format!("l{i}")))
        .collect();
    for c in &mut conns {
        c.send_raw(b"/login victim wrong-1\r\n/login victim wrong-2\r\n");
    }
    let mut refused = 0;
    for c in &mut conns {
        for _ in 0..2 {
            let l = c.wait_for("a login answer", |l| {
                l.starts_with("! ") && l.contains("login")
            });
            if l.contains("try again") {
                assert!(wait_secs(&l).is_some_and(|s| s >= 1), "{l}");
                refused += 1;
            }
        }
    }
    let attempts = CONNECTIONS / 4 * 2;
    let checked = logged(&srv, "login failed", ATTACKER);
    eprintln!("{attempts} parallel /login guesses: {checked} passwords checked, {refused} refused");
    assert!(checked <= 5, "{checked} passwords checked, the limit is 5");
    assert_eq!(checked + refused, attempts);

    // The owner logs in from another address; the hub knows (WHOIS 330).
    let mut owner = LineClient::line_login(line, "owner");
    owner.send("/login victim victims-password");
    owner.expect("* you are now logged in as victim");
    let mut w = Irc::login(addr, "watcher");
    w.send("WHOIS owner");
    assert!(w.numeric("330").contains(" owner victim :"));
    owner.send("/login victim victims-password");
    owner.expect("! you are already logged in as victim");
    owner.send("/logout");
    owner.expect("* you are no longer logged in");
    w.send("WHOIS owner");
    let end = std::cell::RefCell::new(Vec::new());
    w.wait_for("end of WHOIS", |l| {
        end.borrow_mut().push(l.to_string());
        l.contains(" 318 watcher owner ")
    });
    assert!(
        !end.borrow().iter().any(|l| l.contains(" 330 ")),
        "{:#?}",
        end.borrow()
    );
    owner.send("/logout");
    owner.expect("! you are not logged in");
}

#[test]
fn an_address_guessing_at_many_accounts_is_locked_for_every_login() {
    let toml = format!(
        "[[opers]]\nname = \"root\"\npassword_hash = \"{}\"\n",
        common::hash_password("roots-password")
    );
    let srv = start(&toml);
    let addr = irc(&srv);
    let line = srv.line.expect("line listener");
    make_account(addr, "victim", "victims-password");
    // One wrong password each for 25 accounts, at once: the address may
    // fail 20 times.
    let mut conns: Vec<LineClient> = (0..25)
        .map(|i| line_login_from(SPRAYER, line, &format!("s{i}")))
        .collect();
    for (i, c) in conns.iter_mut().enumerate() {
        c.send(&format!("/login user{i} wrong"));
    }
    let mut refused = 0;
    for c in &mut conns {
        let l = c.wait_for("a login answer", |l| {
            l.starts_with("! ") && l.contains("login")
        });
        if l.contains("try again") {
            assert!(wait_secs(&l).is_some_and(|s| s >= 1), "{l}");
            refused += 1;
        }
    }
    let checked = logged(&srv, "login failed", SPRAYER);
    assert!(checked <= 20, "{checked} failures counted, the limit is 20");
    assert_eq!(checked + refused, 25);
    // The address is locked for any account, by any protocol, even with
    // the right password...
    let mut s = sasl_start_from(SPRAYER, addr, "sright");
    s.send("AUTHENTICATE PLAIN");
    s.expect("AUTHENTICATE +");
    s.send(&format!(
        "AUTHENTICATE {}",
        sasl_plain_payload("victim", "victims-password")
    ));
    let l = s.expect(" 904 * :");
    assert!(wait_secs(&l).is_some_and(|s| s >= 1), "{l}");
    let mut o = irc_login_from(SPRAYER, addr, "soper");
    o.send("OPER root roots-password");
    let notice = o.expect("try again in");
    assert!(wait_secs(&notice).is_some_and(|s| s >= 1), "{notice}");
    o.numeric("464");
    o.send("REGISTER * * a-long-password");
    let l = o.expect("FAIL REGISTER TEMPORARILY_UNAVAILABLE");
    assert!(wait_secs(&l).is_some_and(|s| s >= 1), "{l}");
    // ...and nobody else is.
    let mut owner = LineClient::line_login(line, "owner");
    owner.send("/login victim victims-password");
    owner.expect("* you are now logged in as victim");
    let mut root = Irc::login(addr, "rooty");
    root.send("OPER root roots-password");
    root.numeric("381");
}
