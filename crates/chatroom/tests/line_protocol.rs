//! The line protocol end to end: the real binary, netcat-style raw sockets.

mod common;

use std::cell::RefCell;
use std::net::Shutdown;

use common::{LineClient, TestServer};

/// Waits for a line containing `needle`; returns every line received
/// before it and the line itself (so tests can check what did not arrive).
fn lines_until(c: &mut LineClient, needle: &str) -> Vec<String> {
    let got = RefCell::new(Vec::new());
    c.wait_for(needle, |l| {
        got.borrow_mut().push(l.to_string());
        l.contains(needle)
    });
    got.into_inner()
}

/// Waits for a line that ends with `suffix` (chat lines start with a clock).
fn expect_end(c: &mut LineClient, suffix: &str) -> String {
    c.wait_for(suffix, |l| l.ends_with(suffix))
}

fn login(server: &TestServer, nick: &str) -> LineClient {
    LineClient::line_login(server.line.expect("line listener"), nick)
}

#[test]
fn two_users_chat_in_the_lobby() {
    let server = TestServer::start(&[]);
    let mut alice = login(&server, "alice");
    let mut bob = LineClient::connect(server.line.expect("line"));
    bob.expect("Welcome to chatroom! Choose a nickname:");
    bob.send("bob");
    bob.expect("Welcome, bob! Type /help for commands.");
    bob.expect("* bob joined #lobby");
    bob.expect("In #lobby (2): @alice, bob");
    bob.expect("* you are now talking in #lobby");
    alice.expect("* bob joined #lobby");

    alice.send("hello bob");
    let line = expect_end(&mut bob, " <alice> hello bob");
    // `HH:MM <alice> hello bob`
    assert_eq!(line.len(), "12:00 <alice> hello bob".len(), "{line:?}");
    assert_eq!(line.as_bytes()[2], b':');
    // The sender sees its own line too.
    expect_end(&mut alice, " <alice> hello bob");
    bob.send("hi alice");
    expect_end(&mut alice, " <bob> hi alice");
    expect_end(&mut bob, " <bob> hi alice");
}

#[test]
fn each_senders_messages_arrive_in_order() {
    let server = TestServer::start(&["--flood-rate", "0"]);
    let mut alice = login(&server, "alice");
    let mut bob = login(&server, "bob");
    let mut carol = login(&server, "carol");
    // All 50 in one write, like a paste.
    let burst: String = (1..=50).map(|i| format!("msg {i}\n")).collect();
    alice.send_raw(burst.as_bytes());
    // Bob talks at the same time; his lines may interleave with alice's
    // but neither's order may change.
    for i in 1..=5 {
        bob.send(&format!("bob {i}"));
    }
    for (who, c) in [("bob", &mut bob), ("carol", &mut carol)] {
        let mut lines = lines_until(c, "<alice> msg 50");
        // Bob's lines may still be on their way after alice's last.
        if !lines.iter().any(|l| l.ends_with("<bob> bob 5")) {
            lines.extend(lines_until(c, "<bob> bob 5"));
        }
        let from_alice: Vec<String> = lines
            .iter()
            .filter_map(|l| l.split_once(" <alice> ").map(|(_, t)| t.to_string()))
            .collect();
        let want: Vec<String> = (1..=50).map(|i| format!("msg {i}")).collect();
        assert_eq!(from_alice, want, "{who} saw alice's messages out of order");
        let from_bob: Vec<&str> = lines
            .iter()
            .filter_map(|l| l.split_once(" <bob> ").map(|(_, t)| t))
            .collect();
        assert_eq!(
            from_bob,
            ["bob 1", "bob 2", "bob 3", "bob 4", "bob 5"],
            "{who}"
        );
    }
}

#[test]
fn rooms_joins_leaves_and_the_other_room_prefix() {
    let server = TestServer::start(&[]);
    let mut alice = login(&server, "alice");
    let mut bob = login(&server, "bob");
    alice.send("/join #rust");
    alice.expect("* alice joined #rust");
    alice.expect("In #rust (1): @alice");
    alice.expect("* you are now talking in #rust");
    bob.send("/join rust"); // the # may be left out
    bob.expect("* you are now talking in #rust");
    alice.expect("* bob joined #rust");
    // Bob switches back to the lobby: he is still in #rust.
    bob.send("/join #lobby");
    bob.expect("* you are now talking in #lobby");
    // Alice talks in #rust (her focus): bob sees it marked with the room.
    alice.send("anyone into lifetimes?");
    expect_end(&mut bob, " [#rust] <alice> anyone into lifetimes?");
    expect_end(&mut alice, " <alice> anyone into lifetimes?");
    // Alice writes to the lobby explicitly: for her it is the other room.
    alice.send("/msg #lobby back in a bit");
    expect_end(&mut alice, " [#lobby] <alice> back in a bit");
    let line = expect_end(&mut bob, " <alice> back in a bit");
    assert!(!line.contains('['), "{line:?}");
    // Leaving.
    bob.send("/part #rust not today");
    alice.expect("* bob left #rust (not today)");
    bob.expect("* bob left #rust (not today)");
    // Not in the room any more: cannot send there.
    bob.send("/msg #rust hello?");
    bob.expect("! you cannot send to #rust: join it first");
    // /part without a room leaves the current one; the focus moves back.
    alice.send("/part");
    alice.expect("* alice left #rust");
    alice.expect("* you are now talking in #lobby");
    alice.send("/part #nowhere");
    alice.expect("! there is no room #nowhere");
}

#[test]
fn nick_changes_are_seen_by_everyone() {
    let server = TestServer::start(&[]);
    let mut alice = login(&server, "alice");
    let mut bob = login(&server, "bob");
    bob.send("/nick robert");
    bob.expect("* you are now known as robert");
    alice.expect("* bob is now known as robert");
    bob.send("still me");
    expect_end(&mut alice, " <robert> still me");
    bob.send("/nick ALICE");
    let err = bob.expect("! the nickname ALICE is taken");
    assert!(!err.contains("Choose"), "{err}");
    bob.send("/nick 9lives");
    bob.expect("! 9lives is not a valid nickname");
    // The old nick is free again.
    let mut carol = login(&server, "bob");
    carol.send("I am the new bob");
    expect_end(&mut alice, " <bob> I am the new bob");
}

#[test]
fn private_messages_actions_and_topics() {
    let server = TestServer::start(&[]);
    let mut alice = login(&server, "alice");
    let mut bob = login(&server, "bob");
    let mut carol = login(&server, "carol");
    alice.send("/msg bob psst, cake in the kitchen");
    expect_end(&mut bob, " [private] <alice> psst, cake in the kitchen");
    expect_end(&mut alice, " [private to bob] psst, cake in the kitchen");
    alice.send("/msg nobody hello");
    alice.expect("! nobody is called nobody");
    alice.send("/me waves");
    expect_end(&mut bob, " * alice waves");
    expect_end(&mut carol, " * alice waves");
    alice.send("/topic Release day");
    bob.expect("* alice set the topic of #lobby: Release day");
    alice.expect("* alice set the topic of #lobby: Release day");
    bob.send("/topic");
    bob.expect("Topic of #lobby: Release day (set by alice)");
    // Carol never saw the private message: the next line she gets from
    // alice after the topic is a public one.
    alice.send("public again");
    let seen = lines_until(&mut carol, "<alice> public again");
    assert!(!seen.iter().any(|l| l.contains("psst")), "{seen:#?}");
}

#[test]
fn rooms_who_whois_and_help() {
    let server = TestServer::start(&[]);
    let mut alice = login(&server, "alice");
    let mut bob = login(&server, "bob");
    bob.send("/join #quiet");
    bob.expect("* you are now talking in #quiet");
    bob.send("/topic shh");
    bob.expect("set the topic of #quiet: shh");
    alice.send("/rooms");
    alice.expect("2 rooms:");
    alice.expect("  #lobby (2 members)");
    alice.expect("  #quiet (1 member): shh");
    alice.send("/who");
    alice.expect("#lobby:");
    alice.expect("  @alice (alice@127.0.0.1)");
    alice.expect("  bob (bob@127.0.0.1)");
    alice.send("/who #nothing");
    alice.expect("Nobody matches #nothing");
    alice.send("/whois bob");
    let line = alice.expect("bob (bob@127.0.0.1, bob): in #lobby #quiet; idle ");
    assert!(line.ends_with('s'), "{line}");
    alice.send("/whois nobody");
    alice.expect("! nobody is called nobody");
    alice.send("/help");
    alice.expect("Commands:");
    alice.expect("/msg NICK TEXT");
    alice.expect("/quit [REASON]");
    alice.expect("Start a line with // to send text that begins with /.");
    alice.send("//etc is a directory");
    expect_end(&mut bob, " [#lobby] <alice> /etc is a directory");
    alice.send("/frobnicate now");
    alice.expect("! unknown command: /frobnicate (try /help)");
    // A known command without its argument: how to use it.
    alice.send("/msg bob");
    alice.expect("! usage: /msg NICK TEXT (/help msg says more)");
    alice.send("/help msg");
    alice.expect("/msg NICK TEXT (also /query, /m)");
    alice.expect("  Sends TEXT to NICK alone");
    alice.send("/help history");
    alice.expect("/history [N] | /history more [N]");
}

#[test]
fn away_and_the_away_reply() {
    let server = TestServer::start(&[]);
    let mut alice = login(&server, "alice");
    let mut bob = login(&server, "bob");
    bob.send("/away at lunch");
    bob.expect("* you are marked as away");
    alice.send("/msg bob are you there?");
    alice.expect("* bob is away: at lunch");
    expect_end(&mut bob, " [private] <alice> are you there?");
    alice.send("/who");
    alice.expect("  bob (bob@127.0.0.1) away: at lunch");
    alice.send("/whois bob");
    alice.expect("; away: at lunch");
    bob.send("/away");
    bob.expect("* you are no longer away");
    alice.send("/msg bob back?");
    let seen = lines_until(&mut alice, "[private to bob] back?");
    assert!(!seen.iter().any(|l| l.contains("is away")), "{seen:#?}");
}

#[test]
fn quit_reason_is_seen_by_others() {
    let server = TestServer::start(&[]);
    let mut alice = login(&server, "alice");
    let mut bob = login(&server, "bob");
    bob.send("/quit see you tomorrow");
    alice.expect("* bob quit (see you tomorrow)");
    let rest = bob.expect_closed();
    assert!(
        rest.iter()
            .any(|l| l == "*** Disconnected: see you tomorrow"),
        "{rest:#?}"
    );
    // Bob is gone for good: the name is free and nobody answers to it.
    alice.send("/msg bob hello?");
    alice.expect("! nobody is called bob");
}

#[test]
fn lf_and_crlf_are_both_line_ends() {
    let server = TestServer::start(&[]);
    let mut alice = login(&server, "alice");
    // Registration with a bare LF, as netcat sends it.
    let mut bob = LineClient::connect(server.line.expect("line"));
    bob.expect("Choose a nickname");
    bob.send_raw(b"bob\n");
    bob.expect("Welcome, bob!");
    bob.send_raw(b"just lf\ncr lf\r\nmixed\nend\r\n");
    // Exact ends: a CR left in the text would show up as a trailing space.
    expect_end(&mut alice, " <bob> just lf");
    expect_end(&mut alice, " <bob> cr lf");
    expect_end(&mut alice, " <bob> mixed");
    expect_end(&mut alice, " <bob> end");
}

#[test]
fn last_line_without_newline_is_delivered() {
    let server = TestServer::start(&[]);
    let mut alice = login(&server, "alice");
    let mut bob = login(&server, "bob");
    // `printf 'bye' | nc -N`: the last line has no newline, then the
    // client closes its sending side.
    bob.send_raw(b"first\nno newline at the end");
    bob.stream.shutdown(Shutdown::Write).expect("shutdown");
    expect_end(&mut alice, " <bob> first");
    expect_end(&mut alice, " <bob> no newline at the end");
    alice.expect("* bob quit (Connection closed)");
    bob.expect_closed();
}

#[test]
fn long_lines_become_several_messages() {
    let server = TestServer::start(&[]);
    let mut alice = login(&server, "alice");
    let mut bob = login(&server, "bob");
    // 1,000 bytes of words: more than one message can hold (what one IRC
    // line holds after bob's source and the target, see docs/irc.md).
    let words: Vec<String> = (0..200).map(|i| format!("w{i:03}")).collect();
    let text = words.join(" ");
    assert!(text.len() > 900);
    bob.send(&text);
    bob.send("after");
    let lines = lines_until(&mut alice, "<bob> after");
    let parts: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.split_once(" <bob> ").map(|(_, t)| t))
        .filter(|t| *t != "after")
        .collect();
    assert!(parts.len() >= 3, "{parts:#?}");
    let fit = 510 - ":bob!bob@127.0.0.1 PRIVMSG #lobby :".len();
    assert!(parts.iter().all(|p| p.len() <= fit), "{parts:#?}");
    assert_eq!(parts.join(" "), text, "nothing lost or reordered");
}

#[test]
fn terminal_control_sequences_arrive_neutralised() {
    let server = TestServer::start(&[]);
    let mut alice = login(&server, "alice");
    let mut bob = common::irc::Irc::login(server.irc.expect("irc"), "bob");
    alice.expect("* bob joined #lobby");
    // Clear the screen, retitle the window, a C1 CSI, colours and bold.
    bob.send("PRIVMSG #lobby :\u{1b}[2Jwiped \u{1b}]0;owned\u{7} \u{9b}31mred \u{2}bold\u{2} \u{3}04red\u{3}");
    let line = expect_end(
        &mut alice,
        "<bob> ^[[2Jwiped ^[]0;owned^G <U+009B>31mred bold red",
    );
    assert!(!line.contains('\u{1b}'), "{line:?}");
    // Whatever the line protocol echoes of what its own user typed, too.
    alice.send("/\u{1b}[2Jx");
    let refusal = alice.expect("unknown command");
    assert!(refusal.contains("/^[[2Jx"), "{refusal:?}");
    // IRC clients get the formatting as it was sent.
    alice.send("\u{2}bold\u{2}");
    bob.expect("PRIVMSG #lobby :\u{2}bold\u{2}");
}
