//! History in a cluster, with real processes: every room message is in
//! the cluster's journal (a JetStream stream) before anyone receives it,
//! and every node's history is an index of that journal. The scenario of
//! the issue: a user on node a and a user on node c chat; node b is
//! killed with SIGKILL while they do; both see its users leave; after b
//! restarts, a user joining there finds every line they exchanged in
//! CHATHISTORY, as do a and c (no acknowledged line missing anywhere,
//! none twice).

mod common;

use std::time::{Duration, Instant};

use common::irc::Irc;
use common::nats::Nats;
use common::{TestServer, WAIT};

const CAPS: &str = "batch draft/chathistory message-tags server-time";

fn irc(node: &TestServer, nick: &str) -> Irc {
    let mut c = Irc::negotiate(node.irc.expect("irc"), nick, CAPS);
    c.expect(&format!(" 366 {nick} #lobby "));
    c.sync("joined");
    c
}

/// The texts of `room`'s newest lines (up to 1000), oldest first.
fn history(c: &mut Irc, room: &str) -> Vec<String> {
    c.send(&format!("CHATHISTORY LATEST {room} * 1000"));
    let start = c.expect(" BATCH +");
    let id = start
        .split(" BATCH +")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .expect("batch id")
        .to_string();
    let end = format!("BATCH -{id}");
    let mut texts = Vec::new();
    loop {
        let l = c.wait_for("a history line", |_| true);
        if l.ends_with(&end) {
            return texts;
        }
        if let Some((_, text)) = l.split_once(&format!(" PRIVMSG {room} :")) {
            texts.push(text.to_string());
        }
    }
}

/// Asks until `room`'s history is exactly `want`.
fn until_history(c: &mut Irc, room: &str, want: &[String]) {
    let deadline = Instant::now() + WAIT * 2;
    loop {
        let got = history(c, room);
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{}'s history of {room} never became {want:#?}; it is {got:#?}",
            c.nick
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_node_killed_while_two_others_chat_finds_every_line_after_its_restart() {
    let nats = Nats::start();
    let flood = ["--flood-rate", "0"];
    let a = nats.node("a", &flood);
    let mut b = nats.node("b", &flood);
    let c = nats.node("c", &flood);
    let mut alice = irc(&a, "alice");
    let _bob = irc(&b, "bob");
    let mut carol = irc(&c, "carol");
    // Everyone sees everyone before they start.
    for (who, other) in [(0, "bob"), (0, "carol"), (1, "bob")] {
        let who = if who == 0 { &mut alice } else { &mut carol };
        let deadline = Instant::now() + WAIT;
        loop {
            who.send(&format!("WHOIS {other}"));
            if who.sync("w").iter().any(|l| l.contains(" 311 ")) {
                break;
            }
            assert!(Instant::now() < deadline, "{other} never seen");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let b_dir = b.data_dir.clone();
    b.keep_files();
    let mut said = Vec::new();
    for i in 0..30 {
        if i == 10 {
            b.kill9();
        }
        let (from, to, text) = if i % 2 == 0 {
            (&mut alice, &mut carol, format!("a-{i}"))
        } else {
            (&mut carol, &mut alice, format!("c-{i}"))
        };
        from.send(&format!("PRIVMSG #lobby :{text}"));
        // Delivered: acknowledged by the journal.
        to.expect(&format!(" PRIVMSG #lobby :{text}"));
        said.push(text);
    }
    let limit = Duration::from_secs(15);
    for c in [&mut alice, &mut carol] {
        c.c.wait_within(limit, "bob's quit", |l| {
            l.contains(":bob!") && l.contains(" QUIT :") && l.contains("node b lost")
        });
    }
    let b = nats.node_in(Some(&b_dir), "b", &flood);
    let mut dave = irc(&b, "dave");
    until_history(&mut dave, "#lobby", &said);
    until_history(&mut alice, "#lobby", &said);
    until_history(&mut carol, "#lobby", &said);
}

#[test]
fn a_node_started_late_indexes_rooms_it_never_followed() {
    let nats = Nats::start();
    let a = nats.node("a", &["--flood-rate", "0"]);
    let mut alice = irc(&a, "alice");
    alice.join("#quiet");
    let mut said = Vec::new();
    for i in 0..20 {
        let text = format!("q-{i}");
        alice.send(&format!("PRIVMSG #quiet :{text}"));
        said.push(text);
    }
    until_history(&mut alice, "#quiet", &said);
    // A node that did not exist when these were said builds its history
    // from the journal.
    let b = nats.node("b", &["--flood-rate", "0"]);
    let mut bob = irc(&b, "bob");
    bob.join("#quiet");
    until_history(&mut bob, "#quiet", &said);
}
