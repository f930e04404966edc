//! The cluster under contention and failure, with real processes: two
//! nodes claiming the same nickname at once (exactly one wins, every
//! round), a node killed with SIGKILL (the others tell their people that
//! its people quit, `node b lost`, within 15 s, and its nicknames become
//! free), and that node restarted under the same name (it resumes: its
//! people can take their nicknames back, and it sees everyone).

mod common;

use std::time::{Duration, Instant};

use common::irc::Irc;
use common::nats::Nats;
use common::{LineClient, TestServer, WAIT};

fn irc(node: &TestServer, nick: &str) -> Irc {
    let mut c = Irc::negotiate(node.irc.expect("irc"), nick, "");
    c.expect(&format!(" 366 {nick} #lobby "));
    c
}

/// Registers `nick` on a raw connection; true on 001, false on 433.
fn try_register(mut c: LineClient, nick: &str) -> (bool, LineClient) {
    c.send(&format!("NICK {nick}"));
    c.send(&format!("USER {nick} 0 * :{nick}"));
    let line = c.wait_for("001 or 433", |l| l.contains(" 001 ") || l.contains(" 433 "));
    (line.contains(" 001 "), c)
}

/// Asks WHOIS until `pred` holds for the lines before the end of WHOIS.
fn until_whois(c: &mut Irc, nick: &str, what: &str, pred: impl Fn(&[String]) -> bool) {
    let deadline = Instant::now() + WAIT;
    loop {
        c.send(&format!("WHOIS {nick}"));
        let mut lines = Vec::new();
        loop {
            let l = c.wait_for("WHOIS", |l| l.contains(" 318 ") || l.contains(" 3"));
            let end = l.contains(" 318 ");
            lines.push(l);
            if end {
                break;
            }
        }
        if pred(&lines) {
            return;
        }
        assert!(Instant::now() < deadline, "never {what}: {lines:#?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn two_nodes_claiming_one_nickname_at_once_give_it_to_exactly_one() {
    let nats = Nats::start();
    // Fifty connections from one address in a few seconds.
    let open = [
        "--max-connects-per-ip",
        "0",
        "--max-connections-per-ip",
        "0",
    ];
    let a = nats.node("a", &open);
    let b = nats.node("b", &open);
    let (ia, ib) = (a.irc.expect("irc"), b.irc.expect("irc"));
    for round in 0..25 {
        let nick = format!("racer{round}");
        let (ca, cb) = (LineClient::connect(ia), LineClient::connect(ib));
        let (na, nb) = (nick.clone(), nick.clone());
        // Both registrations leave at once, from two threads.
        let ta = std::thread::spawn(move || try_register(ca, &na));
        let tb = std::thread::spawn(move || try_register(cb, &nb));
        let (wa, mut ca) = ta.join().expect("a");
        let (wb, mut cb) = tb.join().expect("b");
        assert!(
            wa ^ wb,
            "round {round}: a won {wa}, b won {wb}: exactly one must"
        );
        for c in [&mut ca, &mut cb] {
            c.send("QUIT :next");
        }
        ca.expect_closed();
        cb.expect_closed();
    }
}

#[test]
fn a_killed_node_is_told_within_15_s_and_a_restarted_one_resumes() {
    let nats = Nats::start();
    let a = nats.node("a", &[]);
    let mut b = nats.node("b", &[]);
    let c = nats.node("c", &[]);
    let mut alice = irc(&a, "alice");
    let _bob = irc(&b, "bob");
    let mut carol = irc(&c, "carol");
    until_whois(&mut alice, "bob", "bob seen from a", |l| {
        l.iter().any(|l| l.contains(" 311 alice bob "))
    });
    until_whois(&mut carol, "bob", "bob seen from c", |l| {
        l.iter().any(|l| l.contains(" 311 carol bob "))
    });
    let b_dir = b.data_dir.clone();
    b.keep_files();
    b.kill9();
    let limit = Duration::from_secs(15);
    for c in [&mut alice, &mut carol] {
        c.c.wait_within(limit, "bob's quit", |l| {
            l.starts_with(":bob!") && l.contains(" QUIT :") && l.contains("node b lost")
        });
    }
    // Node b's claim on "bob" is gone: someone else may take the name.
    let mut bob2 = irc(&a, "bob");
    bob2.send("QUIT :done");
    // b comes back under the same name: it learns who is there, and its
    // people can take their nicknames.
    let b = nats.node_in(Some(&b_dir), "b", &[]);
    let mut bob = irc(&b, "bob");
    until_whois(&mut bob, "alice", "alice seen from the restarted b", |l| {
        l.iter().any(|l| l.contains(" 311 bob alice "))
    });
    until_whois(&mut alice, "bob", "the new bob seen from a", |l| {
        l.iter().any(|l| l.contains(" 311 alice bob "))
    });
}

#[test]
fn while_nats_is_down_senders_are_told_and_after_its_restart_chat_resumes() {
    let mut nats = Nats::start();
    let a = nats.node("a", &["--flood-rate", "0"]);
    let b = nats.node("b", &["--flood-rate", "0"]);
    let mut alice = irc(&a, "alice");
    let mut bob = irc(&b, "bob");
    until_whois(&mut alice, "bob", "bob seen from a", |l| {
        l.iter().any(|l| l.contains(" 311 alice bob "))
    });
    for i in 0..10 {
        alice.send(&format!("PRIVMSG #lobby :before-{i}"));
    }
    for i in 0..10 {
        bob.expect(&format!(
            ":alice!alice@127.0.0.1 PRIVMSG #lobby :before-{i}"
        ));
    }
    nats.stop();
    // Nothing is dropped without a word: the sender hears it was not sent.
    alice.send("PRIVMSG #lobby :during");
    let notice = alice.expect("was not sent");
    assert!(notice.contains(" NOTICE "), "{notice}");
    // A nickname cannot be claimed either, and the newcomer hears why.
    let mut newbie = LineClient::connect(a.irc.expect("irc"));
    newbie.send("NICK newbie");
    newbie.send("USER newbie 0 * :newbie");
    newbie.expect("your nickname could not be taken");
    newbie.expect(" 433 ");
    nats.restart();
    // The nodes reconnect and follow their rooms again by themselves.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut probe = 0;
    loop {
        alice.send(&format!("PRIVMSG #lobby :probe-{probe}"));
        let got = bob.sync(&format!("p{probe}"));
        assert!(!got.iter().any(|l| l.ends_with(":during")), "{got:#?}");
        if got.iter().any(|l| l.contains(" PRIVMSG #lobby :probe-")) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "chat never resumed after NATS came back"
        );
        probe += 1;
        std::thread::sleep(Duration::from_millis(200));
    }
    for i in 0..10 {
        alice.send(&format!("PRIVMSG #lobby :after-{i}"));
    }
    // In order, and the message refused while NATS was down never
    // reached anyone.
    for i in 0..10 {
        let want = format!(":alice!alice@127.0.0.1 PRIVMSG #lobby :after-{i}");
        bob.wait_for(&want, |l| {
            assert!(!l.ends_with(":during"), "{l}");
            l.contains(&want)
        });
    }
}
