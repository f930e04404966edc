//! IRCv3 `extended-monitor` against the real server binary: someone who
//! watches a nickname with MONITOR, shares no room with its holder and
//! enabled extended-monitor hears that person's AWAY, SETNAME and CHGHOST
//! as a roommate would, each only with its own capability, once; a
//! watcher without extended-monitor hears none of it. Raw sockets on
//! loopback only.

mod common;

use common::TestServer;
use common::irc::Irc;

#[test]
fn watchers_that_asked_hear_a_watched_persons_news() {
    let srv = TestServer::start(&["--flood-rate", "0", "--no-tls"]);
    let addr = srv.irc.expect("irc listener");
    let mut bar = Irc::negotiate(addr, "bar", "");
    bar.send("PART #lobby");
    bar.expect(" PART #lobby");
    let mut foo = Irc::negotiate(addr, "foo", "extended-monitor away-notify setname");
    let mut plain = Irc::negotiate(addr, "plain", "away-notify setname");
    let mut names = Irc::negotiate(addr, "names", "extended-monitor setname");
    for w in [&mut foo, &mut plain, &mut names] {
        w.send("MONITOR + bar");
        w.expect(" 730 ");
    }
    bar.send("AWAY :afk");
    bar.expect(" 306 ");
    foo.expect(":bar!bar@127.0.0.1 AWAY :afk");
    bar.send("SETNAME :Bar Real");
    foo.expect(":bar!bar@127.0.0.1 SETNAME :Bar Real");
    names.expect(":bar!bar@127.0.0.1 SETNAME :Bar Real");
    plain.expect_none("bar!", "plain-done");
    names.expect_none("AWAY", "names-done");
    // Sharing a room: told once, as a roommate.
    foo.send("JOIN #x");
    foo.expect(" 366 foo #x ");
    bar.send("JOIN #x");
    foo.expect(" JOIN #x");
    // away-notify's news of a newcomer who is away.
    foo.expect(":bar!bar@127.0.0.1 AWAY :afk");
    bar.send("AWAY");
    bar.expect(" 305 ");
    foo.wait_for("bar back", |l| l == ":bar!bar@127.0.0.1 AWAY");
    foo.expect_none("AWAY", "foo-done");
}
