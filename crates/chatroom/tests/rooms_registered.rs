//! Registered rooms (ChanServ) and topic changes in the history, on the real
//! server: what a registered room keeps across restarts on the same data
//! directory (founder, topic with setter and time, modes), ChanServ's
//! answers and refusals, and TOPIC changes stored and replayed.
//!
//! A room can only be registered by someone logged in to an account. The
//! tests that log in over IRC (IRCv3 `REGISTER` and SASL `PLAIN`) need the
//! accounts work (SASL, REGISTER) and are ignored until it is merged; the
//! others put a registered room into the data directory's store before the
//! server starts, exactly as the server itself saves one.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chatroom_core::Topic;
use chatroom_store::{
    HistoryQuery, HistoryStore, QueryTarget, Record, RecordKind, RoomState, RoomStore, Selector,
    SqliteStore,
};
use common::irc::Irc;
use common::{LineClient, TestServer};

fn server_in(dir: &Path, extra: &[&str]) -> TestServer {
    let mut args = vec!["--flood-rate", "0", "--no-tls"];
    args.extend_from_slice(extra);
    TestServer::start_in(Some(dir), &args)
}

fn temp_dir(name: &str) -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("rooms-{name}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn irc(srv: &TestServer) -> SocketAddr {
    srv.irc.expect("irc listener")
}

/// 2023-11-14 22:13:20 UTC.
const TOPIC_SECS: u64 = 1_700_000_000;
/// 2023-11-14 22:30:00 UTC.
const REGISTERED_SECS: u64 = 1_700_001_000;

/// A registered room as the server saves one: founder alice, a topic set
/// by carol, `modes` (without `+t` anyone in it may change the topic).
fn seed_kept_room(dir: &Path, modes: &str) {
    let store = SqliteStore::open(dir).expect("open the store");
    store
        .save_room(&RoomState {
            name: "#Kept".into(),
            topic: Some(Topic {
                text: "saved topic".into(),
                setter: "carol".into(),
                time: UNIX_EPOCH + Duration::from_secs(TOPIC_SECS),
            }),
            modes: modes.into(),
            founder: Some("alice".into()),
            registered: true,
            registered_at: Some(UNIX_EPOCH + Duration::from_secs(REGISTERED_SECS)),
            limits: None,
        })
        .expect("save the room");
}

/// The NOTICEs ChanServ sent to `c` up to and including one containing `last`.
fn chanserv_until(c: &mut Irc, last: &str) -> Vec<String> {
    let seen = std::cell::RefCell::new(Vec::new());
    c.wait_for(last, |l| {
        if l.starts_with(":ChanServ!ChanServ@services. NOTICE ") {
            seen.borrow_mut().push(l.to_string());
        }
        l.contains(last)
    });
    seen.into_inner()
}

#[test]
fn a_registered_room_keeps_topic_modes_and_founder_across_restarts() {
    let dir = temp_dir("kept");
    seed_kept_room(&dir, "+nkl secret 10");

    let mut first = server_in(&dir, &[]);
    let mut bob = Irc::login(irc(&first), "bob");
    // The room exists before anyone joins it.
    bob.send("LIST #kept");
    bob.expect(" 322 bob #Kept 0 :saved topic");
    bob.send("CS INFO #kept");
    let info = chanserv_until(&mut bob, "*** End of Info ***");
    for want in [
        "Founder    : alice",
        "Registered : 2023-11-14 22:30:00 UTC",
        "Topic      : saved topic",
        "Topic set  : by carol, 2023-11-14 22:13:20 UTC",
        "Modes      : +nkl",
    ] {
        assert!(info.iter().any(|l| l.ends_with(want)), "{want}: {info:#?}");
    }
    bob.send("JOIN #kept");
    bob.numeric("475");
    bob.send("JOIN #kept secret");
    bob.expect(" 332 bob #Kept :saved topic");
    bob.expect(&format!(" 333 bob #Kept carol {TOPIC_SECS}"));
    // Not the founder, and the room was empty: no operator status.
    let names = bob.expect(" 353 bob ");
    assert!(names.ends_with(":bob"), "{names}");
    bob.expect_none("MODE #Kept +o", "after-join");
    bob.send("MODE #kept");
    bob.expect(" 324 bob #Kept +nkl secret 10");
    // Anyone may set the topic (no +t); the change is saved.
    bob.send("TOPIC #kept :changed by bob");
    bob.expect(":bob!bob@127.0.0.1 TOPIC #Kept :changed by bob");
    bob.send("PART #kept");
    bob.expect(":bob!bob@127.0.0.1 PART #Kept");
    bob.sync("parted");
    assert!(first.terminate(), "server did not stop");
    drop(bob);

    // Second run: the new topic (bob, with its time), the modes, the founder.
    let mut second = server_in(&dir, &[]);
    let mut dave = Irc::login(irc(&second), "dave");
    dave.send("JOIN #kept secret");
    dave.expect(" 332 dave #Kept :changed by bob");
    let who_when = dave.expect(" 333 dave #Kept bob ");
    let when: u64 = who_when
        .rsplit(' ')
        .next()
        .and_then(|t| t.parse().ok())
        .expect("a topic time");
    assert!(when > REGISTERED_SECS, "the new topic's time: {who_when}");
    dave.send("MODE #kept");
    dave.expect(" 324 dave #Kept +nkl secret 10");
    dave.send("CS INFO #kept");
    let info = chanserv_until(&mut dave, "*** End of Info ***");
    assert!(info.iter().any(|l| l.ends_with("Founder    : alice")));
    assert!(
        info.iter()
            .any(|l| l.ends_with("Topic      : changed by bob"))
    );
    assert!(second.terminate(), "server did not stop");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn chanserv_answers_help_and_refuses_clearly() {
    let dir = temp_dir("refusals");
    seed_kept_room(&dir, "+nl 10");
    let srv = server_in(&dir, &[]);
    // Line users see a registered room's topic on joining (restored at start).
    let mut lina = LineClient::line_login(srv.line.expect("line"), "lina");
    lina.send("/join #kept");
    lina.expect("Topic of #Kept: saved topic (set by carol)");
    let mut bob = Irc::login(irc(&srv), "bob");

    bob.send("PRIVMSG ChanServ :HELP");
    let help = chanserv_until(&mut bob, "this list");
    assert!(
        help.iter().any(|l| l.contains("REGISTER <#room>")),
        "{help:#?}"
    );
    bob.send("PRIVMSG ChanServ :FROB #x");
    bob.expect(":ChanServ!ChanServ@services. NOTICE bob :Unknown command FROB.");
    bob.send("CS REGISTER");
    bob.expect(":ChanServ!ChanServ@services. NOTICE bob :Syntax: REGISTER <#room>");
    bob.send("CS REGISTER #nowhere");
    bob.expect(":ChanServ!ChanServ@services. NOTICE bob :#nowhere does not exist.");
    // bob made #mine and is its operator, but has no account.
    bob.join("#mine");
    bob.send("PRIVMSG ChanServ :REGISTER #mine");
    bob.expect(
        ":ChanServ!ChanServ@services. NOTICE bob :You must be logged in to an account to register a room.",
    );
    bob.send("CS REGISTER #kept");
    bob.expect(
        ":ChanServ!ChanServ@services. NOTICE bob :#kept is already registered (founder: alice).",
    );
    bob.send("CS INFO #mine");
    bob.expect(":ChanServ!ChanServ@services. NOTICE bob :#mine is not registered.");
    bob.send("CS DROP #kept");
    bob.expect(
        ":ChanServ!ChanServ@services. NOTICE bob :Only the founder of #kept or a server operator may drop it.",
    );
    bob.send("CS REGISTER nope");
    bob.expect(":ChanServ!ChanServ@services. NOTICE bob :nope is not a valid room name");
    // The service's nickname is not for anyone to take, and messages to
    // it never reach anyone.
    bob.send("NICK ChanServ");
    bob.numeric("432");
    std::fs::remove_dir_all(&dir).ok();
}

/// `hash-password` from the real binary.
fn hash(password: &str) -> String {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_chatroom"))
        .arg("hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run hash-password");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{password}\n").as_bytes())
        .expect("write password");
    let out = child.wait_with_output().expect("hash-password output");
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_string()
}

#[test]
fn a_server_operator_drops_a_registration_and_it_stays_dropped() {
    let dir = temp_dir("drop");
    seed_kept_room(&dir, "+nl 10");
    let conf = dir.join("config.toml");
    std::fs::write(
        &conf,
        format!(
            "[[opers]]\nname = \"admin\"\npassword_hash = \"{}\"\n",
            hash("correct horse")
        ),
    )
    .expect("config");
    let conf = conf.to_str().expect("utf-8 path").to_string();
    let mut first = server_in(&dir, &["--config", &conf]);
    let mut op = Irc::login(irc(&first), "op");
    op.send("OPER admin :correct horse");
    op.numeric("381");
    op.send("CS DROP #kept");
    op.expect(":ChanServ!ChanServ@services. NOTICE op :#Kept is no longer registered.");
    // Empty and no longer registered: an ordinary emptied room, kept a
    // while with its topic (tests/rooms_lasting.rs), but not registered.
    op.send("CS INFO #kept");
    op.expect(":ChanServ!ChanServ@services. NOTICE op :#kept is not registered.");
    op.sync("dropped");
    assert!(first.terminate(), "server did not stop");
    drop(op);
    let store = SqliteStore::open(&dir).expect("open the store");
    assert!(
        store.load_rooms().expect("rooms").is_empty(),
        "the registration is forgotten"
    );
    drop(store);
    let second = server_in(&dir, &["--config", &conf]);
    let mut bob = Irc::login(irc(&second), "bob");
    bob.send("CS INFO #kept");
    bob.expect(":ChanServ!ChanServ@services. NOTICE bob :#kept does not exist.");
    std::fs::remove_dir_all(&dir).ok();
}

/// Every stored record of `room`, oldest first, read from the file.
fn stored(dir: &Path, room: &str) -> Vec<Record> {
    let store = SqliteStore::open(dir).expect("open the server's store");
    store
        .query(&HistoryQuery {
            requester: "test".into(),
            target: QueryTarget::Room(room.into()),
            selector: Selector::Latest { after: None },
            limit: 1000,
        })
        .expect("query")
}

#[test]
fn topic_changes_are_history_shown_to_line_users_and_left_out_of_irc_replay() {
    let dir = temp_dir("topics");
    let mut srv = server_in(&dir, &[]);
    let mut alice = LineClient::line_login(srv.line.expect("line"), "alice");
    alice.send("/join #t");
    alice.expect("you are now talking in #t");
    alice.send("before");
    alice.expect("<alice> before");
    alice.send("/topic the plan");
    alice.expect("* alice set the topic of #t: the plan");
    alice.send("after");
    alice.expect("<alice> after");

    // A line user joining later sees the change in the replay, in order.
    let mut bob = LineClient::line_login(srv.line.expect("line"), "bob");
    bob.send("/join #t");
    let seen = std::cell::RefCell::new(Vec::new());
    bob.wait_for("end of history", |l| {
        seen.borrow_mut().push(l.to_string());
        l.contains("--- end of history ---")
    });
    let seen = seen.into_inner();
    let at = |s: &str| seen.iter().position(|l| l.ends_with(s));
    let (b, t, a) = (
        at("<alice> before"),
        at("* alice set the topic: the plan"),
        at("<alice> after"),
    );
    assert!(
        b.is_some() && t.is_some() && a.is_some() && b < t && t < a,
        "{seen:#?}"
    );
    // ... and in /history.
    bob.send("/history 5");
    bob.expect("* alice set the topic: the plan");

    // An IRC client with chathistory replay gets the messages, not the
    // TOPIC (it has not negotiated event-playback, which we do not offer).
    let mut carol = Irc::negotiate(
        irc(&srv),
        "carol",
        "batch server-time message-tags draft/chathistory",
    );
    carol.send("JOIN #t");
    // The replay is queued before anything after the join, the PONG too.
    let lines = carol.sync("replayed");
    assert!(
        lines.iter().any(|l| l.contains("PRIVMSG #t :before")),
        "{lines:#?}"
    );
    assert!(!lines.iter().any(|l| l.contains(" TOPIC #t")), "{lines:#?}");
    carol.send("CHATHISTORY LATEST #t * 10");
    let got = carol.sync("history");
    assert!(
        got.iter().any(|l| l.contains("PRIVMSG #t :after")),
        "{got:#?}"
    );
    assert!(!got.iter().any(|l| l.contains(" TOPIC ")), "{got:#?}");

    // In the store: a Topic record between the two messages.
    assert!(srv.terminate(), "server did not stop");
    let records = stored(&dir, "#t");
    let topics: Vec<&str> = records
        .iter()
        .filter(|r| r.kind == RecordKind::Topic)
        .map(|r| &*r.text)
        .collect();
    assert_eq!(topics.first(), Some(&"the plan"), "{records:#?}");
    let kinds: Vec<RecordKind> = records.iter().map(|r| r.kind).take(3).collect();
    assert_eq!(
        kinds,
        [RecordKind::Say, RecordKind::Topic, RecordKind::Say],
        "in the order they happened"
    );
    std::fs::remove_dir_all(&dir).ok();
}

// ---------------------------------------------------------------------
// Logging in over IRC: IRCv3 draft/account-registration and SASL PLAIN.
// ---------------------------------------------------------------------

/// Registers account `nick` with `password` (`REGISTER <account> * <password>`
/// after connection registration), which logs the client in.
fn register_account(addr: SocketAddr, nick: &str, password: &str) -> Irc {
    let mut c = Irc::negotiate(addr, nick, "draft/account-registration");
    c.send(&format!("REGISTER {nick} * {password}"));
    c.expect(&format!("REGISTER SUCCESS {nick} "));
    c.numeric("900");
    c
}

/// Connects and logs in to the account `nick` with SASL PLAIN before
/// registration.
fn sasl_login(addr: SocketAddr, nick: &str, password: &str) -> Irc {
    Irc::sasl_plain(addr, nick, nick, password, "").0
}

#[test]
fn the_founder_registers_a_room_and_gets_ops_after_a_restart_others_do_not() {
    let dir = temp_dir("founder");
    let mut first = server_in(&dir, &[]);
    let mut alice = register_account(irc(&first), "alice", "a-long-enough-password");
    alice.join("#home");
    alice.send("CS REGISTER #home");
    alice.expect(":ChanServ!ChanServ@services. NOTICE alice :#home is now registered to alice.");
    alice.send("CS REGISTER #home");
    alice.expect(
        ":ChanServ!ChanServ@services. NOTICE alice :#home is already registered (founder: alice).",
    );
    alice.send("TOPIC #home :alice's place");
    alice.expect("TOPIC #home :alice's place");
    alice.send("MODE #home +k sesame");
    alice.expect("MODE #home +k sesame");
    // bob is logged in but not an operator of #home.
    let mut bob = register_account(irc(&first), "bob", "another-long-password");
    bob.join("#bobs");
    bob.send("JOIN #home sesame");
    bob.expect(" 366 bob #home ");
    bob.send("CS REGISTER #home");
    bob.expect("is already registered (founder: alice).");
    bob.send("CS DROP #home");
    bob.expect("Only the founder of #home or a server operator may drop it.");
    bob.sync("bob-done");
    alice.sync("alice-done");
    assert!(first.terminate(), "server did not stop");
    drop((alice, bob));

    let second = server_in(&dir, &[]);
    // bob comes first into the empty room: no operator status.
    let mut bob = sasl_login(irc(&second), "bob", "another-long-password");
    bob.send("JOIN #home sesame");
    bob.expect(" 332 bob #home :alice's place");
    bob.expect(" 333 bob #home alice ");
    bob.expect(" 366 bob #home ");
    bob.expect_none("MODE #home +o bob", "bob-join");
    bob.send("MODE #home");
    bob.expect(" 324 bob #home +ntk sesame");
    // alice, logged in to the founder account, is made an operator.
    let mut alice = sasl_login(irc(&second), "alice", "a-long-enough-password");
    alice.send("JOIN #home sesame");
    alice.expect(":ChanServ!ChanServ@services. MODE #home +o alice");
    bob.expect(":ChanServ!ChanServ@services. MODE #home +o alice");
    alice.send("CS INFO #home");
    let info = chanserv_until(&mut alice, "*** End of Info ***");
    assert!(info.iter().any(|l| l.ends_with("Founder    : alice")));
    assert!(
        info.iter()
            .any(|l| l.ends_with("Topic      : alice's place"))
    );
    assert!(info.iter().any(|l| l.ends_with("Modes      : +ntk")));
    // The founder drops it.
    alice.send("CS DROP #home");
    alice.expect(":ChanServ!ChanServ@services. NOTICE alice :#home is no longer registered.");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn registering_needs_operator_status() {
    let dir = temp_dir("notop");
    let srv = server_in(&dir, &[]);
    let mut carol = Irc::login(irc(&srv), "carol");
    carol.join("#carols");
    let mut bob = register_account(irc(&srv), "bob", "another-long-password");
    bob.join("#carols");
    bob.send("CS REGISTER #carols");
    bob.expect(
        ":ChanServ!ChanServ@services. NOTICE bob :You must be a channel operator of #carols to register it.",
    );
    std::fs::remove_dir_all(&dir).ok();
}
