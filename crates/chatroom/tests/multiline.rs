//! IRCv3 `draft/multiline` against the real binary: a batch of lines from
//! one client reaching a client with the capability as one batch, a client
//! without it as one PRIVMSG per non-blank line, a line-protocol user as
//! lines; kept in the history as one message and replayed the same ways.

mod common;

use common::irc::Irc;
use common::{LineClient, TestServer};

const CAPS: &str = "draft/multiline batch message-tags server-time echo-message";

#[test]
fn one_message_of_several_lines_reaches_everyone_in_their_form_and_stays_one() {
    let srv = TestServer::start(&[]);
    let irc = srv.irc.expect("irc");
    let mut alice = Irc::negotiate(irc, "alice", CAPS);
    alice.expect(" 366 alice #lobby ");
    let mut bob = Irc::negotiate(irc, "bob", CAPS);
    bob.expect(" 366 bob #lobby ");
    let mut carol = Irc::negotiate(irc, "carol", "message-tags server-time");
    carol.expect(" 366 carol #lobby ");
    let mut dave = LineClient::line_login(srv.line.expect("line"), "dave");

    alice.send("BATCH +b1 draft/multiline #lobby");
    alice.send("@batch=b1 PRIVMSG #lobby :first line");
    alice.send("@batch=b1 PRIVMSG #lobby :");
    alice.send("@batch=b1 PRIVMSG #lobby :second, split ");
    alice.send("@batch=b1;draft/multiline-concat PRIVMSG #lobby :for transport");
    alice.send("BATCH -b1");

    // With the capability: one batch, the lines as composed.
    let start = bob.expect(" BATCH +");
    assert!(start.contains("draft/multiline #lobby"), "{start}");
    assert!(start.contains("msgid="), "{start}");
    let got = bob.sync("after-batch");
    let inner: Vec<&String> = got
        .iter()
        .filter(|l| l.contains(" PRIVMSG #lobby"))
        .collect();
    assert_eq!(inner.len(), 4, "{got:#?}");
    assert!(
        inner[0].ends_with("PRIVMSG #lobby :first line"),
        "{}",
        inner[0]
    );
    assert!(inner[3].contains("draft/multiline-concat"), "{}", inner[3]);
    assert!(got.iter().any(|l| l.contains(" BATCH -")), "{got:#?}");
    // The sender's echo is the same batch.
    alice.expect(" BATCH +");
    // Without it: one PRIVMSG per non-blank line, the msgid on the first.
    let one = carol.expect("PRIVMSG #lobby :first line");
    assert!(one.contains("msgid="), "{one}");
    let two = carol.expect("PRIVMSG #lobby :second, split ");
    assert!(!two.contains("msgid="), "{two}");
    carol.expect("PRIVMSG #lobby :for transport");
    // The line protocol: the lines as the reader sees them.
    dave.expect("<alice> first line");
    dave.expect("<alice> second, split for transport");

    // Kept as one message: CHATHISTORY gives one batch again.
    bob.send("CHATHISTORY LATEST #lobby * 10");
    let replay = bob.sync("after-history");
    let batches = replay
        .iter()
        .filter(|l| l.contains(" BATCH +") && l.contains("draft/multiline"))
        .count();
    assert_eq!(batches, 1, "{replay:#?}");
    // An oversized batch is refused with the advertised limit.
    alice.send("BATCH +b2 draft/multiline #lobby");
    for _ in 0..40 {
        alice.send("@batch=b2 PRIVMSG #lobby :x");
    }
    alice.send("BATCH -b2");
    alice.expect("FAIL BATCH MULTILINE_MAX_LINES 32");
}
