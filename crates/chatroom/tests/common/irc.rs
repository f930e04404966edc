//! A raw-socket IRC client for protocol tests: registers, waits for the
//! end of the registration burst, and waits for numerics by code. Built on
//! [`LineClient`], so it sees exactly the bytes the server wrote.
#![allow(dead_code)]

use std::cell::RefCell;
use std::net::SocketAddr;

use super::LineClient;

/// An IRC connection with a known nickname.
pub struct Irc {
    pub c: LineClient,
    pub nick: String,
}

impl Irc {
    /// Connects without registering.
    pub fn connect(addr: SocketAddr, nick: &str) -> Irc {
        Irc {
            c: LineClient::connect(addr),
            nick: nick.to_string(),
        }
    }

    /// Connects from the local address `from`, without registering.
    pub fn connect_from(from: std::net::IpAddr, addr: SocketAddr, nick: &str) -> Irc {
        Irc {
            c: LineClient::connect_from(from, addr),
            nick: nick.to_string(),
        }
    }

    /// Connects, negotiates `caps` (space-separated; "" for none) with
    /// `CAP LS 302` and registers; returns once 001 has arrived, before the
    /// rest of the registration burst and the join of #lobby.
    pub fn negotiate(addr: SocketAddr, nick: &str, caps: &str) -> Irc {
        let mut c = Irc::connect(addr, nick);
        c.send("CAP LS 302");
        c.send(&format!("NICK {nick}"));
        c.send(&format!("USER {nick} 0 * :Real {nick}"));
        c.expect(" CAP * LS :");
        if !caps.is_empty() {
            c.send(&format!("CAP REQ :{caps}"));
            c.expect(&format!(" CAP * ACK :{caps}"));
        }
        c.send("CAP END");
        c.numeric("001");
        c
    }

    /// Connects as `nick`, asks for `sasl` and `caps` (space-separated; ""
    /// for none), and stops before the SASL exchange (registration is held
    /// by the open negotiation).
    pub fn sasl_start(addr: SocketAddr, nick: &str, caps: &str) -> Irc {
        let mut c = Irc::connect(addr, nick);
        c.send("CAP LS 302");
        c.send(&format!("NICK {nick}"));
        c.send(&format!("USER {nick} 0 * :Real {nick}"));
        let ls = c.expect(" CAP * LS :");
        assert!(ls.contains("sasl=PLAIN,EXTERNAL"), "{ls}");
        let want = if caps.is_empty() {
            "sasl".to_string()
        } else {
            format!("sasl {caps}")
        };
        c.send(&format!("CAP REQ :{want}"));
        c.expect(&format!(" CAP * ACK :{want}"));
        c
    }

    /// Logs in to `account` with SASL PLAIN before registration, then
    /// registers; returns once 001 has arrived, with the 900 line.
    pub fn sasl_plain(
        addr: SocketAddr,
        nick: &str,
        account: &str,
        password: &str,
        caps: &str,
    ) -> (Irc, String) {
        let mut c = Irc::sasl_start(addr, nick, caps);
        c.send("AUTHENTICATE PLAIN");
        c.expect("AUTHENTICATE +");
        c.send(&format!(
            "AUTHENTICATE {}",
            sasl_plain_payload(account, password)
        ));
        let logged = c.expect(" 900 ");
        // Before registration numerics name the client `*`.
        c.expect(" 903 * :");
        c.send("CAP END");
        c.numeric("001");
        (c, logged)
    }

    /// Connects, registers as `nick` and waits until the registration burst
    /// is over and the client is in the default room (#lobby).
    pub fn login(addr: SocketAddr, nick: &str) -> Irc {
        let mut irc = Irc::connect(addr, nick);
        irc.send(&format!("NICK {nick}"));
        irc.send(&format!("USER {nick} 0 * :Real {nick}"));
        irc.expect(&format!(" 001 {nick} :Welcome"));
        irc.wait_for("end of MOTD", |l| {
            l.contains(&format!(" 376 {nick} ")) || l.contains(&format!(" 422 {nick} "))
        });
        irc.expect(&format!(" 366 {nick} #lobby "));
        irc
    }

    pub fn send(&mut self, line: &str) {
        self.c.send(line);
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.c.send_raw(bytes);
    }

    pub fn expect(&mut self, needle: &str) -> String {
        self.c.expect(needle)
    }

    pub fn wait_for(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        self.c.wait_for(what, pred)
    }

    /// Waits for numeric `code` addressed to this client; returns the line.
    pub fn numeric(&mut self, code: &str) -> String {
        let needle = format!(" {code} {} ", self.nick);
        let needle2 = format!(" {code} {}", self.nick);
        self.c.wait_for(&format!("numeric {code}"), |l| {
            l.contains(&needle) || l.ends_with(&needle2)
        })
    }

    /// Round trip: returns every line the server queued before the PONG.
    pub fn sync(&mut self, token: &str) -> Vec<String> {
        self.send(&format!("PING :{token}"));
        let pong = format!("PONG chatroom :{token}");
        let before = RefCell::new(Vec::new());
        self.c.wait_for(&pong, |l| {
            if l.contains(&pong) {
                true
            } else {
                before.borrow_mut().push(l.to_string());
                false
            }
        });
        before.into_inner()
    }

    /// Asserts that nothing containing `needle` arrived before a round trip.
    pub fn expect_none(&mut self, needle: &str, token: &str) {
        let got = self.sync(token);
        assert!(
            !got.iter().any(|l| l.contains(needle)),
            "unexpected {needle:?} in {got:#?}"
        );
    }

    /// Joins `room` and waits for the end of its NAMES.
    pub fn join(&mut self, room: &str) {
        self.send(&format!("JOIN {room}"));
        self.expect(&format!(" 366 {} {room} ", self.nick));
    }

    /// The `nick!user@host` source this client's messages carry.
    pub fn source(&self) -> String {
        format!("{n}!{n}@127.0.0.1", n = self.nick)
    }
}

/// The base64 SASL PLAIN payload: no authorization id, `account`, `password`.
pub fn sasl_plain_payload(account: &str, password: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("\0{account}\0{password}"))
}
