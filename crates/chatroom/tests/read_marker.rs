//! IRCv3 read markers (`draft/read-marker`) against the real binary: the
//! marker at join before the end of names, MARKREAD moving it forward for
//! every connection of the same account and nobody else, an earlier time
//! answered with the stored one, and the marker kept across a restart in
//! the SQLite file.

mod common;

use std::net::SocketAddr;

use common::TestServer;
use common::irc::Irc;

const CAPS: &str = "draft/read-marker server-time";
const WHEN: &str = "timestamp=2026-01-01T00:00:00.000Z";

fn make_account(addr: SocketAddr, nick: &str, password: &str) {
    let mut c = Irc::login(addr, nick);
    c.send(&format!("REGISTER * * {password}"));
    c.expect("REGISTER SUCCESS");
    c.send("QUIT");
    c.c.expect_closed();
}

/// Logged in to `account` with the read-marker cap, through the join of
/// #lobby; returns the MARKREAD line seen before the end of its names.
fn reader(addr: SocketAddr, nick: &str, account: &str) -> (Irc, String) {
    let (mut c, _) = Irc::sasl_plain(addr, nick, account, "hunter2hunter2", CAPS);
    let marker = c.expect("MARKREAD #lobby ");
    c.expect(&format!(" 366 {nick} #lobby "));
    (c, marker)
}

#[test]
fn markers_follow_the_account_across_connections_and_restarts() {
    let mut srv = TestServer::start(&[]);
    let irc = srv.irc.expect("irc");
    make_account(irc, "reader", "hunter2hunter2");
    let (mut laptop, first) = reader(irc, "reader", "reader");
    assert!(first.ends_with("MARKREAD #lobby *"), "{first}");
    let (mut phone, _) = reader(irc, "reader_phone", "reader");
    // Someone else with the cap, and someone without it.
    let mut other = Irc::negotiate(irc, "other", CAPS);
    other.expect(" 366 other #lobby ");
    let mut plain = Irc::login(irc, "plain");

    laptop.send(&format!("MARKREAD #lobby {WHEN}"));
    laptop.expect(&format!("MARKREAD #lobby {WHEN}"));
    phone.expect(&format!("MARKREAD #lobby {WHEN}"));
    other.expect_none("MARKREAD", "after-laptop");
    plain.expect_none("MARKREAD", "after-laptop");

    // Back in time: the stored marker is the answer, to the asker alone.
    phone.send("MARKREAD #lobby timestamp=2025-06-01T00:00:00.000Z");
    phone.expect(&format!("MARKREAD #lobby {WHEN}"));
    laptop.expect_none("MARKREAD", "after-phone");
    // Asking.
    other.send("MARKREAD #lobby");
    other.expect("MARKREAD #lobby *");
    other.send("MARKREAD");
    other.expect("FAIL MARKREAD NEED_MORE_PARAMS");

    drop((laptop, phone, other, plain));
    srv.keep_files();
    let data = srv.data_dir.clone();
    drop(srv);
    let srv = TestServer::start_in(Some(&data), &[]);
    let (_again, marker) = reader(srv.irc.expect("irc"), "reader", "reader");
    assert!(
        marker.ends_with(&format!("MARKREAD #lobby {WHEN}")),
        "{marker}"
    );
}
