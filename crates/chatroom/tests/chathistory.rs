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
    let mut c = Irc::negotiate(addr, nick, caps);
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
        // Each line in a millisecond of its own, so that the timestamp
        // selectors below have something to tell apart (an echo can come
        // back well within one millisecond).
        std::thread::sleep(std::time::Duration::from_millis(2));
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
fn server_time_without_batch_gets_marked_timed_lines_and_plain_clients_the_framing() {
    let srv = server();
    let (_alice, echoes) = alice_says(irc(&srv), &["hello there"]);
    // A client may ask for server-time and still show the time a line
    // arrived (irssi does by default): without a batch, the replay is
    // marked in its text as well as timed.
    let mut tim = register_caps(irc(&srv), "tim", "server-time");
    let first = tim.expect(" NOTICE #lobby :*** Replaying 1 earlier message of #lobby");
    assert_eq!(tag(&first, "batch"), None, "{first}");
    let line = tim.expect(" PRIVMSG #lobby :[");
    assert!(line.ends_with("] hello there"), "{line}");
    assert_eq!(tag(&line, "time"), tag(&echoes[0], "time"), "{line}");
    assert_eq!(tag(&line, "msgid"), None, "no message-tags: {line}");
    assert_eq!(tag(&line, "batch"), None, "{line}");
    tim.expect(" NOTICE #lobby :*** End of replay");
    let rest = tim.sync("t");
    assert!(rest.iter().all(|l| !l.contains("BATCH")), "{rest:#?}");

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

// -------------------------------------------------------- CHATHISTORY

const CH_CAPS: &str = "batch draft/chathistory message-tags server-time";

/// Sends `req` and returns the lines of the one batch answering it (start
/// and end excluded) after checking its type and parameter.
fn batch_of(c: &mut Irc, req: &str, kind: &str) -> Vec<String> {
    c.send(req);
    let start = c.expect(" BATCH +");
    let rest = untagged(&start);
    let mut words = rest.split(' ');
    let id = words
        .nth(2)
        .and_then(|w| w.strip_prefix('+'))
        .expect("batch id")
        .to_string();
    assert_eq!(words.next(), Some(kind), "{start}");
    let mut inside = Vec::new();
    let end = format!("BATCH -{id}");
    loop {
        let l = c.wait_for("batch line", |_| true);
        if l.ends_with(&end) {
            return inside;
        }
        assert_eq!(tag(&l, "batch"), Some(id.as_str()), "{l}");
        inside.push(l);
    }
}

fn texts(lines: &[String]) -> Vec<&str> {
    lines
        .iter()
        .filter_map(|l| l.rsplit_once(" :").map(|(_, t)| t))
        .collect()
}

#[test]
fn chathistory_is_offered_and_advertised_only_with_history() {
    let srv = server();
    let mut c = Irc::connect(irc(&srv), "bob");
    c.send("CAP LS 302");
    let ls = c.expect(" CAP * LS :");
    assert!(ls.split(' ').any(|w| w == "draft/chathistory"), "{ls}");
    c.send("NICK bob");
    c.send("USER bob 0 * :Bob");
    c.send("CAP END");
    let tokens = c.wait_for("CHATHISTORY=", |l| {
        l.contains(" 005 ") && l.contains("CHATHISTORY=")
    });
    assert!(tokens.contains(" CHATHISTORY=200 "), "{tokens}");
    c.wait_for("MSGREFTYPES", |l| {
        l.contains(" 005 ") && l.contains(" MSGREFTYPES=msgid,timestamp ")
    });

    let off = TestServer::start(&["--no-history"]);
    let mut d = Irc::connect(off.irc.expect("irc"), "dan");
    d.send("CAP LS 302");
    let ls = d.expect(" CAP * LS :");
    assert!(!ls.contains("chathistory"), "{ls}");
    d.send("NICK dan");
    d.send("USER dan 0 * :Dan");
    d.send("CAP END");
    d.expect(" 366 dan #lobby ");
    let burst = d.sync("x");
    assert!(
        burst.iter().all(|l| !l.contains("CHATHISTORY=")),
        "{burst:#?}"
    );
    d.send("CHATHISTORY LATEST #lobby * 10");
    d.expect("FAIL CHATHISTORY MESSAGE_ERROR LATEST #lobby :");
}

#[test]
fn chathistory_subcommands_with_msgid_and_timestamp_selectors() {
    let srv = server();
    let (_alice, echoes) = alice_says(irc(&srv), &["m1", "m2", "m3", "m4", "m5"]);
    let ids: Vec<&str> = echoes
        .iter()
        .map(|e| tag(e, "msgid").expect("msgid"))
        .collect();
    let times: Vec<&str> = echoes
        .iter()
        .map(|e| tag(e, "time").expect("time"))
        .collect();
    let mut bob = register_caps(irc(&srv), "bob", CH_CAPS);
    bob.sync("joined");

    let latest = batch_of(&mut bob, "CHATHISTORY LATEST #lobby * 2", "chathistory");
    assert_eq!(texts(&latest), ["m4", "m5"]);
    assert_eq!(tag(&latest[1], "msgid"), Some(ids[4]));
    assert_eq!(tag(&latest[1], "time"), Some(times[4]));

    let q = format!("CHATHISTORY LATEST #lobby msgid={} 10", ids[2]);
    assert_eq!(texts(&batch_of(&mut bob, &q, "chathistory")), ["m4", "m5"]);
    let q = format!("CHATHISTORY BEFORE #lobby msgid={} 10", ids[2]);
    assert_eq!(texts(&batch_of(&mut bob, &q, "chathistory")), ["m1", "m2"]);
    // Timestamps are exclusive: what shares m2's millisecond is not after it.
    let q = format!("CHATHISTORY AFTER #lobby timestamp={} 2", times[1]);
    let after: Vec<String> = (0..5)
        .filter(|&i| times[i] > times[1])
        .take(2)
        .map(|i| format!("m{}", i + 1))
        .collect();
    assert!(!after.is_empty());
    assert_eq!(texts(&batch_of(&mut bob, &q, "chathistory")), after);
    let q = format!("CHATHISTORY AROUND #lobby msgid={} 3", ids[2]);
    assert_eq!(
        texts(&batch_of(&mut bob, &q, "chathistory")),
        ["m2", "m3", "m4"]
    );
    let q = format!(
        "CHATHISTORY BETWEEN #lobby msgid={} timestamp={} 10",
        ids[0], times[4]
    );
    let between: Vec<String> = (1..5)
        .filter(|&i| times[i] < times[4])
        .map(|i| format!("m{}", i + 1))
        .collect();
    assert_eq!(texts(&batch_of(&mut bob, &q, "chathistory")), between);
    // Nothing there: an empty batch, not silence.
    let q = format!("CHATHISTORY AFTER #lobby msgid={} 10", ids[4]);
    assert!(batch_of(&mut bob, &q, "chathistory").is_empty());
    let empty = batch_of(
        &mut bob,
        "CHATHISTORY BEFORE #lobby msgid=other-server-id 10",
        "chathistory",
    );
    assert!(empty.is_empty());
    // A huge limit is cut to the advertised maximum, not refused.
    let all = batch_of(
        &mut bob,
        "CHATHISTORY LATEST #lobby * 99999999999",
        "chathistory",
    );
    assert_eq!(texts(&all), ["m1", "m2", "m3", "m4", "m5"]);
}

#[test]
fn chathistory_refuses_rooms_one_may_not_see_and_leaks_nothing() {
    let srv = server();
    let mut alice = register_caps(irc(&srv), "alice", "");
    alice.send("JOIN #secret");
    alice.expect(" 366 alice #secret ");
    alice.send("MODE #secret +s");
    alice.expect("MODE #secret +s");
    alice.send("PRIVMSG #secret :swordfish");
    alice.send("JOIN #open");
    alice.expect(" 366 alice #open ");
    alice.send("PRIVMSG #open :open words");
    alice.sync("said");
    let mut eve = register_caps(irc(&srv), "eve", CH_CAPS);
    eve.sync("joined");
    for room in ["#secret", "#open", "#nowhere"] {
        eve.send(&format!("CHATHISTORY LATEST {room} * 10"));
        let l = eve.expect("FAIL CHATHISTORY ");
        assert!(
            l.ends_with(&format!(
                "FAIL CHATHISTORY INVALID_TARGET LATEST {room} :Messages could not be retrieved"
            )),
            "{l}"
        );
    }
    let rest = eve.sync("done");
    assert!(
        rest.iter()
            .all(|l| !l.contains("swordfish") && !l.contains("open words")),
        "{rest:#?}"
    );
    // Members read it.
    alice.send("CAP REQ :batch draft/chathistory server-time");
    alice.expect(" CAP alice ACK :");
    let got = batch_of(&mut alice, "CHATHISTORY LATEST #secret * 10", "chathistory");
    assert_eq!(texts(&got), ["swordfish"]);
}

#[test]
fn chathistory_private_history_is_only_the_askers_own_and_targets_lists_it() {
    let srv = server();
    let mut alice = register_caps(irc(&srv), "alice", CH_CAPS);
    let mut bob = register_caps(irc(&srv), "bob", CH_CAPS);
    // Private history is an account's: both log in (REGISTER logs in).
    for (c, nick) in [(&mut alice, "alice"), (&mut bob, "bob")] {
        c.send(&format!("REGISTER * * {nick}-password"));
        c.expect(&format!("REGISTER SUCCESS {nick} "));
    }
    alice.send("PRIVMSG bob :psst bob");
    bob.expect("PRIVMSG bob :psst bob");
    bob.send("PRIVMSG alice :hi alice");
    alice.expect("PRIVMSG alice :hi alice");
    alice.send("PRIVMSG #lobby :room line");
    bob.expect("PRIVMSG #lobby :room line");

    let mine = batch_of(&mut bob, "CHATHISTORY LATEST alice * 10", "chathistory");
    assert_eq!(texts(&mine), ["psst bob", "hi alice"]);
    // Eve asks for the same names: she is party to neither conversation.
    let mut eve = register_caps(irc(&srv), "eve", CH_CAPS);
    eve.sync("joined");
    eve.send("REGISTER * * eve-password");
    eve.expect("REGISTER SUCCESS eve ");
    assert!(batch_of(&mut eve, "CHATHISTORY LATEST alice * 10", "chathistory").is_empty());
    assert!(batch_of(&mut eve, "CHATHISTORY LATEST bob * 10", "chathistory").is_empty());

    let t = batch_of(
        &mut bob,
        "CHATHISTORY TARGETS timestamp=2000-01-01T00:00:00.000Z timestamp=2100-01-01T00:00:00.000Z 10",
        "draft/chathistory-targets",
    );
    let named: Vec<&str> = t
        .iter()
        .map(|l| untagged(l).split(' ').nth(3).unwrap_or(""))
        .collect();
    assert!(
        named.contains(&"alice") && named.contains(&"#lobby"),
        "{t:#?}"
    );
    assert!(
        t.iter()
            .all(|l| untagged(l).starts_with(":chatroom CHATHISTORY TARGETS ")),
        "{t:#?}"
    );
    // Eve's TARGETS: #lobby only (she is in it); nobody's private talk.
    let t = batch_of(
        &mut eve,
        "CHATHISTORY TARGETS timestamp=2000-01-01T00:00:00.000Z timestamp=2100-01-01T00:00:00.000Z 10",
        "draft/chathistory-targets",
    );
    assert!(
        t.iter()
            .all(|l| !l.contains("alice") && !l.contains(" bob ")),
        "{t:#?}"
    );
}

#[test]
fn chathistory_bad_parameters_get_the_spec_fail_codes() {
    let srv = server();
    let mut bob = register_caps(irc(&srv), "bob", CH_CAPS);
    bob.sync("joined");
    for (req, want) in [
        ("CHATHISTORY", "FAIL CHATHISTORY NEED_MORE_PARAMS :"),
        (
            "CHATHISTORY LATEST #lobby *",
            "FAIL CHATHISTORY NEED_MORE_PARAMS LATEST :",
        ),
        (
            "CHATHISTORY FROB #lobby * 5",
            "FAIL CHATHISTORY INVALID_PARAMS FROB :",
        ),
        (
            "CHATHISTORY BEFORE #lobby * 5",
            "FAIL CHATHISTORY INVALID_PARAMS BEFORE :",
        ),
        (
            "CHATHISTORY BEFORE #lobby timestamp=soon 5",
            "FAIL CHATHISTORY INVALID_PARAMS BEFORE :",
        ),
        (
            "CHATHISTORY LATEST #lobby * lots",
            "FAIL CHATHISTORY INVALID_PARAMS LATEST :",
        ),
        (
            "CHATHISTORY LATEST 9nine * 5",
            "FAIL CHATHISTORY INVALID_TARGET LATEST 9nine :",
        ),
    ] {
        bob.send(req);
        let l = bob.expect("FAIL CHATHISTORY");
        assert!(l.contains(want), "{req}: {l}");
    }
    let rest = bob.sync("alive");
    assert!(rest.iter().all(|l| !l.contains("ERROR")), "{rest:#?}");
}

#[test]
fn private_history_is_never_shown_to_whoever_takes_a_nickname_next() {
    let srv = server();
    let mut alice = register_caps(irc(&srv), "alice", CH_CAPS);
    let mut carl = register_caps(irc(&srv), "carl", CH_CAPS);
    carl.send("PRIVMSG alice :my secret");
    alice.expect("PRIVMSG alice :my secret");
    alice.send("PRIVMSG #lobby :room line");
    carl.expect("PRIVMSG #lobby :room line");
    carl.send("QUIT");
    carl.c.expect_closed();
    // Someone else connects as carl (nobody registered it) and asks.
    let mut next = register_caps(irc(&srv), "carl", CH_CAPS);
    next.send("CHATHISTORY LATEST alice * 10");
    next.expect("FAIL CHATHISTORY INVALID_TARGET LATEST alice ");
    let t = batch_of(
        &mut next,
        "CHATHISTORY TARGETS timestamp=2000-01-01T00:00:00.000Z timestamp=2100-01-01T00:00:00.000Z 10",
        "draft/chathistory-targets",
    );
    assert!(t.iter().all(|l| !l.contains(" alice ")), "{t:#?}");
    assert!(t.iter().any(|l| l.contains("#lobby")), "{t:#?}");
}

/// What an unregistered nickname said stays with the account that was
/// logged in on the other side; whoever registers that nickname later
/// reads none of it, only what they say from then on.
#[test]
fn a_nickname_registered_later_reads_nothing_said_before_under_it() {
    let srv = server();
    let mut alice = register_caps(irc(&srv), "alice", CH_CAPS);
    alice.send("REGISTER * * alice-password");
    alice.expect("REGISTER SUCCESS alice ");
    let mut carl = register_caps(irc(&srv), "carl", CH_CAPS);
    alice.send("PRIVMSG carl :hello carl");
    carl.expect("PRIVMSG carl :hello carl");
    carl.send("PRIVMSG alice :hello alice");
    alice.expect("PRIVMSG alice :hello alice");
    let mine = batch_of(&mut alice, "CHATHISTORY LATEST CARL * 10", "chathistory");
    assert_eq!(texts(&mine), ["hello carl", "hello alice"]);
    carl.send("QUIT");
    carl.c.expect_closed();

    // Someone takes the nickname and registers an account of that name.
    let mut next = register_caps(irc(&srv), "carl", CH_CAPS);
    next.send("REGISTER * * carl-password");
    next.expect("REGISTER SUCCESS carl ");
    assert!(batch_of(&mut next, "CHATHISTORY LATEST alice * 10", "chathistory").is_empty());
    let t = batch_of(
        &mut next,
        "CHATHISTORY TARGETS timestamp=2000-01-01T00:00:00.000Z timestamp=2100-01-01T00:00:00.000Z 10",
        "draft/chathistory-targets",
    );
    assert!(t.iter().all(|l| !l.contains(" alice ")), "{t:#?}");
    // From now on the conversation is theirs too.
    next.send("PRIVMSG alice :new carl here");
    alice.expect("PRIVMSG alice :new carl here");
    let theirs = batch_of(&mut next, "CHATHISTORY LATEST alice * 10", "chathistory");
    assert_eq!(texts(&theirs), ["new carl here"]);
    let mine = batch_of(&mut alice, "CHATHISTORY LATEST carl * 10", "chathistory");
    assert_eq!(texts(&mine), ["hello carl", "hello alice", "new carl here"]);
}

/// draft/chathistory: TARGETS gives each conversation with the time of its
/// latest message, so one that went on after the window is not listed.
#[test]
fn targets_lists_a_room_only_when_its_latest_message_is_in_the_window() {
    let srv = server();
    let mut alice = register_caps(irc(&srv), "alice", &format!("{CH_CAPS} echo-message"));
    alice.sync("joined");
    let mut times = Vec::new();
    for text in ["one", "two", "three"] {
        alice.send(&format!("PRIVMSG #lobby :{text}"));
        let echo = alice.expect(&format!(" PRIVMSG #lobby :{text}"));
        times.push(tag(&echo, "time").expect("time").to_string());
        // Each in a millisecond of its own, so that the bounds below fall
        // between them.
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let targets = |c: &mut Irc, from: &str, to: &str| {
        let q = format!("CHATHISTORY TARGETS timestamp={from} timestamp={to} 10");
        batch_of(c, &q, "draft/chathistory-targets")
            .iter()
            .map(|l| untagged(l).to_string())
            .collect::<Vec<_>>()
    };
    let (before, after) = ("2000-01-01T00:00:00.000Z", "2100-01-01T00:00:00.000Z");
    assert_eq!(
        targets(&mut alice, before, after),
        [format!(":chatroom CHATHISTORY TARGETS #lobby {}", times[2])]
    );
    // Up to the second message: #lobby went on after it.
    assert!(targets(&mut alice, before, &times[1]).is_empty());
    assert!(targets(&mut alice, &times[1], before).is_empty());
    assert_eq!(targets(&mut alice, &times[1], after).len(), 1);
}
