//! IRC history for IRCv3 clients against the real server binary: the
//! replay on join inside a `chathistory` batch with the original
//! server-time and msgid, and as timed lines without `batch`. Raw sockets
//! only, so every byte the server writes is checked.

mod common;

use common::TestServer;
use common::irc::Irc;

fn server() -> TestServer {
    TestServer::start(&["--flood-rate", "0"])
}

fn irc(srv: &TestServer) -> std::net::SocketAddr {
    srv.irc.expect("irc listener")
}

/// Connects, negotiates `caps` with `CAP LS 302` and registers; returns
/// before the automatic join of #lobby has been answered.
fn register_caps(addr: std::net::SocketAddr, nick: &str, caps: &str) -> Irc {
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
    c.expect(&format!(" 366 {nick} #lobby "));
    c
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

/// The line without its tags.
fn untagged(line: &str) -> &str {
    match line.strip_prefix('@') {
        Some(rest) => rest.split_once(' ').map_or("", |(_, l)| l),
        None => line,
    }
}

/// Alice (echo-message, message-tags, server-time) says `texts` in #lobby;
/// returns each echo as the server sent it (with its time and msgid).
fn alice_says(addr: std::net::SocketAddr, texts: &[&str]) -> (Irc, Vec<String>) {
    let mut alice = register_caps(addr, "alice", "echo-message message-tags server-time");
    let mut echoes = Vec::new();
    for t in texts {
        alice.send(&format!("PRIVMSG #lobby :{t}"));
        echoes.push(alice.expect(&format!(" PRIVMSG #lobby :{t}")));
    }
    (alice, echoes)
}

#[test]
fn batch_clients_get_the_join_replay_in_a_chathistory_batch() {
    let srv = server();
    let (mut alice, echoes) = alice_says(irc(&srv), &["first words", "second words"]);
    let mut carol = register_caps(irc(&srv), "carol", "batch server-time message-tags");
    let start = carol.expect("BATCH +");
    assert!(
        start.starts_with(":chatroom BATCH +") && start.ends_with(" chathistory #lobby"),
        "{start}"
    );
    let id = start
        .split(' ')
        .nth(2)
        .and_then(|p| p.strip_prefix('+'))
        .expect("batch id")
        .to_string();
    for echo in &echoes {
        let line = carol.expect(" PRIVMSG #lobby :");
        assert_eq!(tag(&line, "batch"), Some(id.as_str()), "{line}");
        // The original time and msgid, not the time of the replay.
        assert_eq!(tag(&line, "time"), tag(echo, "time"), "{line} vs {echo}");
        assert_eq!(tag(&line, "msgid"), tag(echo, "msgid"), "{line} vs {echo}");
        // No `[HH:MM]` in the text: the time is in the tag.
        assert_eq!(untagged(&line), untagged(echo), "{line}");
    }
    carol.expect(&format!(":chatroom BATCH -{id}"));
    // No plain-client framing for a batch client.
    let rest = carol.sync("after");
    assert!(
        rest.iter().all(|l| !l.contains("*** Replaying")),
        "{rest:#?}"
    );
    // Live traffic comes outside the batch.
    alice.send("PRIVMSG #lobby :live now");
    let live = carol.expect("PRIVMSG #lobby :live now");
    assert_eq!(tag(&live, "batch"), None, "{live}");
}

#[test]
fn server_time_without_batch_gets_timed_lines_and_plain_clients_keep_the_framing() {
    let srv = server();
    let (_alice, echoes) = alice_says(irc(&srv), &["hello there"]);
    let mut tim = register_caps(irc(&srv), "tim", "server-time");
    let line = tim.expect(" PRIVMSG #lobby :hello there");
    assert_eq!(tag(&line, "time"), tag(&echoes[0], "time"), "{line}");
    assert_eq!(tag(&line, "msgid"), None, "no message-tags: {line}");
    assert_eq!(tag(&line, "batch"), None, "{line}");
    let rest = tim.sync("t");
    assert!(
        rest.iter()
            .all(|l| !l.contains("BATCH") && !l.contains("*** ")),
        "{rest:#?}"
    );

    let mut plain = Irc::login(irc(&srv), "plain");
    plain.expect(":chatroom NOTICE #lobby :*** Replaying 1 earlier message of #lobby");
    let old = plain.expect(" PRIVMSG #lobby :[");
    assert!(old.ends_with("] hello there"), "{old}");
    assert!(!old.starts_with('@'), "{old}");
    plain.expect(":chatroom NOTICE #lobby :*** End of replay");
}

#[test]
fn a_labeled_join_nests_the_replay_batch_in_the_labeled_response() {
    let srv = server();
    let mut alice = register_caps(irc(&srv), "alice", "echo-message server-time");
    alice.send("JOIN #nest");
    alice.expect(" 366 alice #nest ");
    alice.send("PRIVMSG #nest :kept for later");
    alice.expect("PRIVMSG #nest :kept for later");
    let mut lara = register_caps(
        irc(&srv),
        "lara",
        "batch labeled-response server-time message-tags",
    );
    lara.sync("ready");
    lara.send("@label=j1 JOIN #nest");
    let outer = lara.expect("labeled-response");
    assert!(outer.starts_with("@label=j1 "), "{outer}");
    let outer_id = untagged(&outer)
        .split(' ')
        .nth(2)
        .and_then(|p| p.strip_prefix('+'))
        .expect("outer id")
        .to_string();
    let inner = lara.expect("chathistory #nest");
    // The inner batch's start belongs to the outer batch…
    assert_eq!(tag(&inner, "batch"), Some(outer_id.as_str()), "{inner}");
    let inner_id = untagged(&inner)
        .split(' ')
        .nth(2)
        .and_then(|p| p.strip_prefix('+'))
        .expect("inner id")
        .to_string();
    // …and its lines to the inner batch only.
    let kept = lara.expect("PRIVMSG #nest :kept for later");
    assert_eq!(tag(&kept, "batch"), Some(inner_id.as_str()), "{kept}");
    assert_eq!(kept.matches("batch=").count(), 1, "{kept}");
    let end = lara.expect(&format!("BATCH -{inner_id}"));
    assert_eq!(tag(&end, "batch"), Some(outer_id.as_str()), "{end}");
    lara.expect(&format!("BATCH -{outer_id}"));
}

// ------------------------------------------------------------- SEARCH

#[test]
fn search_answers_with_notices_newest_first_with_time_and_sender() {
    let srv = server();
    let (_alice, _) = alice_says(
        irc(&srv),
        &["is the pizza here yet?", "no idea", "pizza has arrived"],
    );
    let mut bob = register_caps(irc(&srv), "bob", "");
    bob.sync("joined");
    bob.send("SEARCH #lobby :pizza");
    bob.expect(":chatroom NOTICE bob :*** Search for \"pizza\" in #lobby: 2 found, newest first");
    let newest = bob.expect(":chatroom NOTICE bob :[");
    assert!(newest.ends_with("] <alice> pizza has arrived"), "{newest}");
    let older = bob.expect(":chatroom NOTICE bob :[");
    assert!(
        older.ends_with("] <alice> is the pizza here yet?"),
        "{older}"
    );
    bob.expect(":chatroom NOTICE bob :*** End of search");

    // FTS syntax is only text to look for; nothing breaks.
    for q in ["\"unbalanced", "pizza OR *", "NEAR(a b)", "col:umn ^x -y"] {
        bob.send(&format!("SEARCH #lobby :{q}"));
        let l = bob.expect(":chatroom NOTICE bob :*** Search for");
        assert!(
            l.contains("nothing found") || l.contains("found, newest first"),
            "{l}"
        );
    }
    bob.send("SEARCH #lobby");
    bob.numeric("461");
    let rest = bob.sync("fine");
    assert!(rest.iter().all(|l| !l.contains("ERROR")), "{rest:#?}");
}

#[test]
fn search_of_a_room_one_is_not_in_is_refused_and_shows_nothing() {
    let srv = server();
    let mut alice = register_caps(irc(&srv), "alice", "");
    alice.send("JOIN #secret");
    alice.expect(" 366 alice #secret ");
    alice.send("MODE #secret +s");
    alice.expect("MODE #secret +s");
    alice.send("PRIVMSG #secret :the password is swordfish");
    alice.sync("said");
    let mut eve = register_caps(irc(&srv), "eve", "");
    eve.sync("joined");
    eve.send("SEARCH #secret :swordfish");
    let refused = eve.wait_for("442 or 403", |l| {
        l.contains(" 442 eve #secret ") || l.contains(" 403 eve #secret ")
    });
    assert!(!refused.contains("swordfish"), "{refused}");
    eve.send("SEARCH #nowhere :swordfish");
    eve.numeric("403");
    let rest = eve.sync("done");
    assert!(rest.iter().all(|l| !l.contains("swordfish")), "{rest:#?}");
}

#[test]
fn a_labeled_search_is_one_labeled_batch() {
    let srv = server();
    let (_alice, _) = alice_says(irc(&srv), &["find me"]);
    let mut lara = register_caps(irc(&srv), "lara", "batch labeled-response");
    lara.sync("ready");
    lara.send("@label=s1 SEARCH #lobby :find");
    let start = lara.expect("labeled-response");
    assert!(start.starts_with("@label=s1 "), "{start}");
    let hit = lara.expect("<alice> find me");
    assert!(hit.starts_with("@batch="), "{hit}");
    lara.expect(" BATCH -");
}
