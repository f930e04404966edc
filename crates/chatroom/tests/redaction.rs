//! Withdrawing messages (IRCv3 `draft/message-redaction`) against the real
//! server binary with its SQLite file and journal: REDACT reaches the
//! room's clients that asked for it and no other IRC client, the line
//! protocol is told that a message was withdrawn, refusals are the spec's
//! `FAIL REDACT` replies, and the withdrawn text is gone from CHATHISTORY,
//! join replays (IRC and line), `/search` and the store itself, also
//! after `kill -9` (from the journal) and after a clean stop. Raw sockets
//! on loopback only.

mod common;

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use chatroom_store::{HistoryQuery, HistoryStore, QueryTarget, SearchStore, Selector, SqliteStore};
use common::irc::Irc;
use common::{LineClient, TestServer};

const REDACTING: &str =
    "batch draft/chathistory draft/message-redaction echo-message message-tags server-time";

fn temp_dir(name: &str) -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("redaction-{name}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn server_in(dir: &Path) -> TestServer {
    TestServer::start_in(Some(dir), &["--flood-rate", "0", "--no-tls"])
}

fn irc(srv: &TestServer) -> std::net::SocketAddr {
    srv.irc.expect("irc listener")
}

fn msgid(line: &str) -> String {
    line.strip_prefix('@')
        .and_then(|r| r.split(' ').next())
        .and_then(|tags| tags.split(';').find_map(|t| t.strip_prefix("msgid=")))
        .expect("a msgid tag")
        .to_string()
}

/// The lines of the next `chathistory` batch (the `BATCH` lines left out).
fn next_batch(c: &mut Irc) -> Vec<String> {
    let start = c.wait_for("a chathistory batch", |l| {
        l.contains(" BATCH +") && l.contains(" chathistory ")
    });
    let id = start
        .split(' ')
        .find_map(|w| w.strip_prefix('+'))
        .expect("batch id")
        .to_string();
    let end = format!("BATCH -{id}");
    let mut inside = Vec::new();
    loop {
        let l = c.wait_for("a batch line", |_| true);
        if l.ends_with(&end) {
            return inside;
        }
        inside.push(l);
    }
}

/// What a new IRC client and a new line client see of #lobby's past: no
/// trace of the withdrawn text, the rest as it was said.
fn check_history(srv: &TestServer, nick: &str) {
    let mut c = Irc::negotiate(irc(srv), nick, REDACTING);
    c.expect(&format!(" 366 {nick} #lobby "));
    let replay = next_batch(&mut c);
    assert!(replay.iter().all(|l| !l.contains("hunter2")), "{replay:#?}");
    assert!(
        replay.iter().any(|l| l.ends_with(":the rest stays")),
        "{replay:#?}"
    );
    c.send("CHATHISTORY LATEST #lobby * 50");
    let page = next_batch(&mut c);
    assert!(page.iter().all(|l| !l.contains("hunter2")), "{page:#?}");
    assert_eq!(
        page.iter()
            .filter(|l| l.contains(" PRIVMSG #lobby "))
            .count(),
        1,
        "{page:#?}"
    );

    let mut line = LineClient::line_login(srv.line.expect("line"), &format!("{nick}_l"));
    let seen = std::cell::RefCell::new(Vec::new());
    line.wait_for("--- end of history ---", |l| {
        seen.borrow_mut().push(l.to_string());
        l.contains("--- end of history ---")
    });
    let seen = seen.into_inner();
    assert!(seen.iter().all(|l| !l.contains("hunter2")), "{seen:#?}");
    assert!(
        seen.iter().any(|l| l.ends_with("the rest stays")),
        "{seen:#?}"
    );
    line.send("/search hunter2");
    line.expect("search for \"hunter2\" in #lobby: nothing found");
}

#[test]
fn a_withdrawn_message_is_gone_for_everyone_and_for_good() {
    let dir = temp_dir("gone");
    let mut srv = server_in(&dir);
    // alice is first in #lobby: its operator.
    let mut alice = Irc::negotiate(irc(&srv), "alice", REDACTING);
    alice.expect(" 366 alice #lobby ");
    let mut bob = Irc::negotiate(irc(&srv), "bob", REDACTING);
    bob.expect(" 366 bob #lobby ");
    let mut carol = Irc::negotiate(irc(&srv), "carol", "echo-message message-tags");
    carol.expect(" 366 carol #lobby ");
    let mut dora = LineClient::line_login(srv.line.expect("line"), "dora");

    bob.send("PRIVMSG #lobby :my password is hunter2");
    let secret = msgid(&bob.expect(" PRIVMSG #lobby :my password is hunter2"));
    alice.send("PRIVMSG #lobby :the rest stays");
    let kept = msgid(&alice.expect(" PRIVMSG #lobby :the rest stays"));
    bob.expect(":the rest stays");
    carol.expect(":the rest stays");
    dora.expect("the rest stays");

    // bob is no operator: alice's message is not his to withdraw.
    bob.send(&format!("REDACT #lobby {kept}"));
    bob.expect(&format!(
        "FAIL REDACT REDACT_FORBIDDEN #lobby {kept} :You are not authorised"
    ));
    bob.send("REDACT #lobby 99999999 :what");
    bob.expect("FAIL REDACT UNKNOWN_MSGID #lobby 99999999 ");
    bob.send(&format!("REDACT #elsewhere {secret}"));
    bob.expect("FAIL REDACT INVALID_TARGET #elsewhere ");

    // His own message he may.
    bob.send(&format!("REDACT #lobby {secret} :oops"));
    let told = bob.expect(&format!(" REDACT #lobby {secret} :oops"));
    assert!(told.contains(":bob!"), "{told}");
    let told = alice.expect(&format!(" REDACT #lobby {secret} :oops"));
    assert_ne!(msgid(&told), secret, "a redaction has a msgid of its own");
    carol.expect_none("REDACT", "carol-after");
    dora.expect("* bob withdrew a message in #lobby: oops");
    // Gone once: not withdrawn twice.
    bob.send(&format!("REDACT #lobby {secret}"));
    bob.expect(&format!("FAIL REDACT UNKNOWN_MSGID #lobby {secret} "));

    check_history(&srv, "erin");
    // Killed at once: the redaction may be in the journal only.
    srv.kill9();
    let mut srv = server_in(&dir);
    check_history(&srv, "fred");
    assert!(srv.terminate(), "server did not stop");
    drop(srv);

    let store = SqliteStore::open(&dir).expect("open the server's store");
    let records = store
        .query(&HistoryQuery {
            requester: String::new(),
            target: QueryTarget::Room("#lobby".into()),
            selector: Selector::Latest { after: None },
            limit: 100,
        })
        .expect("query");
    let texts: Vec<&str> = records.iter().map(|r| &*r.text).collect();
    assert_eq!(texts, ["the rest stays"], "{records:#?}");
    let found = store
        .search("", &QueryTarget::Room("#lobby".into()), "hunter2", 10)
        .expect("search");
    assert!(found.is_empty(), "{found:#?}");
    drop(store);
    std::fs::remove_dir_all(&dir).ok();
}

/// A private message is withdrawn by its sender only, and both parties
/// that asked for redactions are told, named as the message named them.
#[test]
fn a_private_message_is_withdrawn_by_its_sender() {
    let srv = TestServer::start(&["--flood-rate", "0", "--no-tls"]);
    let mut alice = Irc::negotiate(irc(&srv), "alice", REDACTING);
    alice.expect(" 366 alice #lobby ");
    let mut bob = Irc::negotiate(irc(&srv), "bob", REDACTING);
    bob.expect(" 366 bob #lobby ");
    alice.send("PRIVMSG bob :psst");
    let id = msgid(&alice.expect(" PRIVMSG bob :psst"));
    bob.expect(" PRIVMSG bob :psst");
    bob.send(&format!("REDACT alice {id}"));
    bob.expect(&format!("FAIL REDACT REDACT_FORBIDDEN alice {id} "));
    alice.send(&format!("REDACT bob {id}"));
    alice.expect(&format!(":alice!alice@127.0.0.1 REDACT bob {id}"));
    let told = bob.expect(&format!(" REDACT bob {id}"));
    assert!(told.contains(":alice!"), "{told}");
}
