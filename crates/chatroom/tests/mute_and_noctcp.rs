//! Room mode `+C` (no CTCP but ACTION) and the mute extban (`+b m:mask`,
//! `EXTBAN=,m`) against the real server binary, over IRC and the line
//! protocol: a muted person stays in the room and is refused with 404 (the
//! line user with a sentence), voice or a `+e m:` exception lifts the
//! mute; under `+C` a CTCP request is refused and an action goes through.
//! Raw sockets on loopback only.

mod common;

use common::irc::Irc;
use common::{LineClient, TestServer};

#[test]
fn a_muted_person_stays_but_is_not_heard() {
    let srv = TestServer::start(&["--flood-rate", "0", "--no-tls"]);
    let addr = srv.irc.expect("irc listener");
    let mut op = Irc::negotiate(addr, "op", "");
    op.join("#quiet");
    let mut bar = Irc::negotiate(addr, "bar", "");
    bar.join("#quiet");
    op.expect(" JOIN #quiet");
    op.send("MODE #quiet +b m:BAR");
    op.expect(" MODE #quiet +b m:BAR!*@*");
    bar.send("PRIVMSG #quiet :can anyone hear me");
    bar.expect(" 404 bar #quiet ");
    op.expect_none("can anyone hear me", "op-1");
    // Still in the room, and the mute is no ban: leaving and coming back
    // works.
    bar.send("PART #quiet");
    bar.expect(" PART #quiet");
    bar.join("#quiet");
    op.send("MODE #quiet +e m:*!bar@*");
    op.expect(" MODE #quiet +e m:*!bar@*");
    bar.send("PRIVMSG #quiet :excepted");
    op.expect(":excepted");
    op.send("MODE #quiet -e m:*!bar@*");
    op.expect(" MODE #quiet -e ");
    let mut dot = LineClient::line_login(srv.line.expect("line"), "dot");
    dot.send("/join #quiet");
    dot.expect("you are now talking in #quiet");
    op.send("MODE #quiet +b m:dot");
    op.expect(" MODE #quiet +b m:dot!*@*");
    dot.send("is this thing on");
    dot.expect("you are muted");
    op.send("MODE #quiet +v dot");
    op.expect(" MODE #quiet +v dot");
    dot.send("now it is");
    op.expect("now it is");
}

#[test]
fn no_ctcp_but_action_under_plus_c() {
    let srv = TestServer::start(&["--flood-rate", "0", "--no-tls"]);
    let addr = srv.irc.expect("irc listener");
    let mut op = Irc::negotiate(addr, "op", "");
    let isupport = op.sync("op-registered").join("\n");
    assert!(
        isupport.contains(" CHANMODES=beI,k,l,Cimnst "),
        "{isupport}"
    );
    assert!(isupport.contains(" EXTBAN=,m "), "{isupport}");
    op.join("#calm");
    let mut user = Irc::negotiate(addr, "user", "");
    user.join("#calm");
    op.send("MODE #calm +C");
    op.expect(" MODE #calm +C");
    user.send("PRIVMSG #calm :\u{1}VERSION\u{1}");
    user.expect(" 404 user #calm ");
    user.send("PRIVMSG #calm :\u{1}ACTION waves\u{1}");
    op.expect(" PRIVMSG #calm :\u{1}ACTION waves\u{1}");
    op.expect_none("VERSION", "op-done");
}
