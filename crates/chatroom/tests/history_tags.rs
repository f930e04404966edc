//! Replies and reactions in the history, against the real server binary
//! with its SQLite file and journal: the client-only tags of a message
//! (`+draft/reply`) and tag-only messages (TAGMSG with `+draft/react`)
//! made before someone joins reach that person's join replay and every
//! CHATHISTORY page with their tags, only for clients with message-tags;
//! typing notifications are never kept; and all of it survives a restart,
//! from the journal after `kill -9` and from SQLite after a clean stop.
//! Raw sockets on loopback only.

mod common;

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use chatroom_store::{HistoryQuery, HistoryStore, QueryTarget, RecordKind, Selector, SqliteStore};
use common::irc::Irc;
use common::{LineClient, TestServer};

const TAGGED: &str = "batch draft/chathistory message-tags server-time";
const ECHO: &str = "batch draft/chathistory echo-message message-tags server-time";

fn temp_dir(name: &str) -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "history-tags-{name}-{}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn server_in(dir: &Path) -> TestServer {
    TestServer::start_in(Some(dir), &["--flood-rate", "0", "--no-tls"])
}

fn irc(srv: &TestServer) -> std::net::SocketAddr {
    srv.irc.expect("irc listener")
}

/// The value of tag `key` on a line, if the line has tags.
fn tag<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let tags = line.strip_prefix('@')?.split(' ').next()?;
    tags.split(';').find_map(|t| match t.split_once('=') {
        Some((k, v)) if k == key => Some(v),
        None if t == key => Some(""),
        _ => None,
    })
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

fn ask(c: &mut Irc, req: &str) -> Vec<String> {
    c.send(req);
    next_batch(c)
}

/// What each line of a batch is, in a form easy to compare: its command,
/// its text (for messages) and its client-only tags.
fn shape(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .map(|l| {
            let client: Vec<&str> = l
                .strip_prefix('@')
                .and_then(|r| r.split(' ').next())
                .map(|t| t.split(';').filter(|t| t.starts_with('+')).collect())
                .unwrap_or_default();
            let body = match l.strip_prefix('@') {
                Some(r) => r.split_once(' ').map_or("", |(_, b)| b),
                None => l,
            };
            let mut words = body.splitn(4, ' ');
            let command = words.nth(1).unwrap_or("");
            let text = body.split_once(" :").map_or("", |(_, t)| t);
            format!("{command} {text} [{}]", client.join(";"))
        })
        .collect()
}

/// What alice, bob and carol did before anyone else came: the msgids of
/// alice's question, bob's reply, bob's reaction and alice's thanks.
struct Talk {
    question: String,
    reply: String,
    reaction: String,
    thanks: String,
}

fn talk(srv: &TestServer) -> Talk {
    let mut alice = Irc::negotiate(irc(srv), "alice", ECHO);
    alice.expect(" 366 alice #lobby ");
    let mut bob = Irc::negotiate(irc(srv), "bob", ECHO);
    bob.expect(" 366 bob #lobby ");
    alice.send("PRIVMSG #lobby :who brings the cake");
    let echo = alice.expect(" PRIVMSG #lobby :who brings the cake");
    let question = tag(&echo, "msgid").expect("msgid").to_string();
    bob.expect(" PRIVMSG #lobby :who brings the cake");
    bob.send(&format!("@+draft/reply={question} PRIVMSG #lobby :me"));
    let echo = bob.expect(" PRIVMSG #lobby :me");
    let reply = tag(&echo, "msgid").expect("msgid").to_string();
    bob.send(&format!(
        "@+draft/react=🎂;+draft/reply={question} TAGMSG #lobby"
    ));
    let echo = bob.expect(" TAGMSG #lobby");
    let reaction = tag(&echo, "msgid").expect("msgid").to_string();
    // A typing notification: delivered live, never kept.
    bob.send("@+typing=active TAGMSG #lobby");
    alice.expect("+typing=active");
    alice.send("PRIVMSG #lobby :thanks");
    let echo = alice.expect(" PRIVMSG #lobby :thanks");
    let thanks = tag(&echo, "msgid").expect("msgid").to_string();
    Talk {
        question,
        reply,
        reaction,
        thanks,
    }
}

/// The whole conversation as a client with message-tags sees it.
fn tagged_shape(t: &Talk) -> Vec<String> {
    vec![
        "PRIVMSG who brings the cake []".to_string(),
        format!("PRIVMSG me [+draft/reply={}]", t.question),
        format!("TAGMSG  [+draft/react=🎂;+draft/reply={}]", t.question),
        "PRIVMSG thanks []".to_string(),
    ]
}

/// A client with message-tags gets the reply's tag and the reaction in
/// its join replay and from LATEST, BEFORE and AROUND, with msgids.
fn check_tagged_reader(addr: std::net::SocketAddr, nick: &str, t: &Talk) {
    let mut c = Irc::negotiate(addr, nick, TAGGED);
    c.expect(&format!(" 366 {nick} #lobby "));
    let replay = next_batch(&mut c);
    let whole = tagged_shape(t);
    assert_eq!(shape(&replay), whole, "{replay:#?}");
    let ids: Vec<&str> = replay.iter().filter_map(|l| tag(l, "msgid")).collect();
    assert_eq!(ids, [&t.question, &t.reply, &t.reaction, &t.thanks]);

    let latest = ask(&mut c, "CHATHISTORY LATEST #lobby * 10");
    assert_eq!(shape(&latest), whole, "{latest:#?}");
    let before = ask(
        &mut c,
        &format!("CHATHISTORY BEFORE #lobby msgid={} 2", t.thanks),
    );
    assert_eq!(shape(&before), whole[1..3].to_vec(), "{before:#?}");
    let around = ask(
        &mut c,
        &format!("CHATHISTORY AROUND #lobby msgid={} 3", t.reaction),
    );
    assert_eq!(shape(&around), whole[1..4].to_vec(), "{around:#?}");
    // The reaction is an anchor like any message.
    let after = ask(
        &mut c,
        &format!("CHATHISTORY AFTER #lobby msgid={} 5", t.reaction),
    );
    assert_eq!(shape(&after), whole[3..].to_vec(), "{after:#?}");
}

/// Clients without message-tags: no TAGMSG and no client tag anywhere,
/// in the join replay (batched, timed, or framed by notices) nor from
/// CHATHISTORY; the line protocol shows the messages only.
fn check_untagged_readers(srv: &TestServer, t: &Talk) {
    let mut dave = Irc::negotiate(irc(srv), "dave", "batch draft/chathistory server-time");
    dave.expect(" 366 dave #lobby ");
    let replay = next_batch(&mut dave);
    let plain = [
        "PRIVMSG who brings the cake []",
        "PRIVMSG me []",
        "PRIVMSG thanks []",
    ];
    assert_eq!(shape(&replay), plain, "{replay:#?}");
    let latest = ask(&mut dave, "CHATHISTORY LATEST #lobby * 10");
    assert_eq!(shape(&latest), plain, "{latest:#?}");
    let around = ask(
        &mut dave,
        &format!("CHATHISTORY AROUND #lobby msgid={} 3", t.reaction),
    );
    assert!(
        around
            .iter()
            .all(|l| !l.contains("TAGMSG") && !l.contains("+draft")),
        "{around:#?}"
    );
    dave.expect_none("TAGMSG", "dave-done");

    let mut erin = Irc::negotiate(irc(srv), "erin", "");
    let lines = erin.sync("erin-joined");
    let shown: Vec<&String> = lines.iter().filter(|l| l.contains("#lobby")).collect();
    assert!(
        shown
            .iter()
            .any(|l| l.contains("Replaying 3 earlier messages")),
        "{shown:#?}"
    );
    assert!(
        shown
            .iter()
            .all(|l| !l.contains("TAGMSG") && !l.starts_with('@')),
        "{shown:#?}"
    );

    let mut frank = LineClient::line_login(srv.line.expect("line"), "frank");
    let seen = std::cell::RefCell::new(Vec::new());
    frank.wait_for("--- end of history ---", |l| {
        seen.borrow_mut().push(l.to_string());
        l.contains("--- end of history ---")
    });
    let seen = seen.into_inner();
    assert!(
        seen.iter()
            .any(|l| l.contains("history of #lobby: 3 earlier messages")),
        "{seen:#?}"
    );
    assert!(seen.iter().any(|l| l.ends_with("<bob> me")), "{seen:#?}");
}

#[test]
fn replies_and_reactions_reach_later_joiners_with_their_tags_across_restarts() {
    let dir = temp_dir("restart");
    let mut srv = server_in(&dir);
    let t = talk(&srv);
    check_tagged_reader(irc(&srv), "carol", &t);
    check_untagged_readers(&srv, &t);

    // Killed: what was delivered is in the journal, if not yet in SQLite.
    srv.kill9();
    let mut srv = server_in(&dir);
    check_tagged_reader(irc(&srv), "gina", &t);
    // Stopped cleanly: everything is in SQLite.
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
    let kinds: Vec<RecordKind> = records.iter().map(|r| r.kind).collect();
    assert_eq!(
        kinds,
        [
            RecordKind::Say,
            RecordKind::Say,
            RecordKind::TagMsg,
            RecordKind::Say
        ],
        "no +typing TAGMSG kept: {records:#?}"
    );
    let react: Vec<(String, String)> = records[2]
        .tags
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(
        react,
        [
            ("+draft/react".to_string(), "🎂".to_string()),
            ("+draft/reply".to_string(), t.question.clone())
        ]
    );
    drop(store);
    let srv = server_in(&dir);
    check_tagged_reader(irc(&srv), "hank", &t);
    drop(srv);
    std::fs::remove_dir_all(&dir).ok();
}

/// A reaction to a private message is kept in that conversation's
/// history (read by account) and comes back from CHATHISTORY with its
/// tags.
#[test]
fn a_reaction_in_private_is_kept_in_the_conversation() {
    let dir = temp_dir("private");
    let srv = server_in(&dir);
    let mut alice = Irc::negotiate(irc(&srv), "alice", ECHO);
    alice.expect(" 366 alice #lobby ");
    alice.send("REGISTER * * alice-password");
    alice.expect("REGISTER SUCCESS alice ");
    let mut bob = Irc::negotiate(irc(&srv), "bob", ECHO);
    bob.expect(" 366 bob #lobby ");
    bob.send("REGISTER * * bob-password");
    bob.expect("REGISTER SUCCESS bob ");
    alice.send("PRIVMSG bob :lunch?");
    let echo = alice.expect(" PRIVMSG bob :lunch?");
    let id = tag(&echo, "msgid").expect("msgid").to_string();
    bob.expect(" PRIVMSG bob :lunch?");
    bob.send(&format!("@+draft/react=👍;+draft/reply={id} TAGMSG alice"));
    bob.expect(" TAGMSG alice");
    alice.expect(" TAGMSG alice");
    let got = ask(&mut alice, "CHATHISTORY LATEST bob * 10");
    assert_eq!(
        shape(&got),
        [
            "PRIVMSG lunch? []".to_string(),
            format!("TAGMSG  [+draft/react=👍;+draft/reply={id}]"),
        ],
        "{got:#?}"
    );
    drop(srv);
    std::fs::remove_dir_all(&dir).ok();
}
