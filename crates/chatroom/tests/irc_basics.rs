//! IRC edge against the real server binary, with raw-socket IRC clients and
//! line-protocol users in the same rooms.

mod common;

use std::cell::RefCell;
use std::net::SocketAddr;

use common::{LineClient, TestServer};

fn server() -> TestServer {
    TestServer::start(&["--flood-rate", "0"])
}

/// Connects and registers an IRC client; waits until it is in #lobby.
fn irc_login(addr: SocketAddr, nick: &str) -> LineClient {
    let mut c = LineClient::connect(addr);
    c.send(&format!("NICK {nick}"));
    c.send(&format!("USER {nick} 0 * :Real {nick}"));
    c.expect(&format!(" 001 {nick} :Welcome"));
    c.expect(&format!(":{nick}!{nick}@127.0.0.1 JOIN #lobby"));
    c.expect(&format!(" 366 {nick} #lobby "));
    c
}

/// Waits for a line containing `needle`; returns every line received
/// before it (not including it).
fn lines_until(c: &mut LineClient, needle: &str) -> Vec<String> {
    let before = RefCell::new(Vec::new());
    c.wait_for(needle, |l| {
        if l.contains(needle) {
            true
        } else {
            before.borrow_mut().push(l.to_string());
            false
        }
    });
    before.into_inner()
}

/// Round trip through the server: everything the server queued for this
/// client before the PONG has arrived once this returns; returns it.
fn sync(c: &mut LineClient, token: &str) -> Vec<String> {
    c.send(&format!("PING :{token}"));
    lines_until(c, &format!("PONG chatroom :{token}"))
}

#[test]
fn irc_and_line_users_talk_both_ways() {
    let srv = server();
    let irc = srv.irc.expect("irc listener");
    let mut alice = LineClient::line_login(srv.line.expect("line listener"), "alice");
    let mut bob = irc_login(irc, "ircbob");
    alice.expect("* ircbob joined #lobby");
    alice.send("hi");
    bob.expect(":alice!alice@127.0.0.1 PRIVMSG #lobby :hi");
    bob.send("PRIVMSG #lobby :hi");
    alice.expect("<ircbob> hi");
    // The IRC client does not get its own message back.
    let got = sync(&mut bob, "after-hi");
    assert!(
        !got.iter().any(|l| l.contains("PRIVMSG #lobby")),
        "echo: {got:#?}"
    );
    // Actions both ways.
    alice.send("/me waves");
    bob.expect(":alice!alice@127.0.0.1 PRIVMSG #lobby :\u{1}ACTION waves\u{1}");
    bob.send("PRIVMSG #lobby :\u{1}ACTION dances\u{1}");
    alice.expect("* ircbob dances");
    // Private messages both ways.
    alice.send("/msg ircbob psst");
    bob.expect(":alice!alice@127.0.0.1 PRIVMSG ircbob :psst");
    bob.send("PRIVMSG alice :back at you");
    alice.expect("[private] <ircbob> back at you");
    // A notice to the room.
    bob.send("NOTICE #lobby :heads up");
    alice.expect("-ircbob- heads up");
    let got = sync(&mut bob, "after-notice");
    assert!(!got.iter().any(|l| l.contains("NOTICE #lobby")), "{got:#?}");
}

#[test]
fn irc_clients_see_each_other() {
    let srv = server();
    let irc = srv.irc.expect("irc listener");
    let mut bob = irc_login(irc, "bob");
    let mut carol = irc_login(irc, "carol");
    bob.expect(":carol!carol@127.0.0.1 JOIN #lobby");
    carol.send("PRIVMSG #lobby :hello bob");
    bob.expect(":carol!carol@127.0.0.1 PRIVMSG #lobby :hello bob");
    bob.send("PRIVMSG carol :hello carol");
    carol.expect(":bob!bob@127.0.0.1 PRIVMSG carol :hello carol");
    // Invalid UTF-8 is refused (utf8only), never relayed as something
    // the sender did not write.
    bob.send_raw(b"PRIVMSG #lobby :caf\xff!\r\n");
    bob.expect(":chatroom FAIL PRIVMSG INVALID_UTF8 :Message rejected: it is not valid UTF-8");
    // LF alone ends a line too.
    bob.send_raw(b"PRIVMSG #lobby :bare lf\n");
    carol.expect("PRIVMSG #lobby :bare lf");
}

#[test]
fn nick_changes_across_protocols() {
    let srv = server();
    let mut alice = LineClient::line_login(srv.line.expect("line"), "alice");
    let mut bob = irc_login(srv.irc.expect("irc"), "ircbob");
    alice.expect("* ircbob joined #lobby");
    bob.send("NICK robert");
    bob.expect(":ircbob!ircbob@127.0.0.1 NICK :robert");
    alice.expect("* ircbob is now known as robert");
    // Numerics now address the new nick.
    bob.send("FROB");
    bob.expect(":chatroom 421 robert FROB :Unknown command");
    alice.send("/nick alicia");
    bob.expect(":alice!alice@127.0.0.1 NICK :alicia");
    // Taken and invalid nicknames.
    bob.send("NICK alicia");
    bob.expect(":chatroom 433 robert alicia :Nickname is already in use");
    bob.send("NICK 9lives");
    bob.expect(":chatroom 432 robert 9lives :");
    bob.send("NICK");
    bob.expect(":chatroom 431 robert :");
}

#[test]
fn parts_and_quits_across_protocols() {
    let srv = server();
    let mut alice = LineClient::line_login(srv.line.expect("line"), "alice");
    let mut bob = irc_login(srv.irc.expect("irc"), "bob");
    bob.send("JOIN #x,#y");
    bob.expect(":bob!bob@127.0.0.1 JOIN #x");
    bob.expect(" 366 bob #x :");
    bob.expect(":bob!bob@127.0.0.1 JOIN #y");
    alice.send("/join #x");
    bob.expect(":alice!alice@127.0.0.1 JOIN #x");
    alice.send("/part #x see you");
    bob.expect(":alice!alice@127.0.0.1 PART #x :see you");
    alice.send("/join #y");
    bob.expect(":alice!alice@127.0.0.1 JOIN #y");
    bob.send("PART #y :off to bed");
    bob.expect(":bob!bob@127.0.0.1 PART #y :off to bed");
    alice.expect("* bob left #y (off to bed)");
    bob.send("QUIT :later");
    alice.expect("* bob quit (Quit: later)");
    bob.expect("ERROR :Closing link: (bob@127.0.0.1) [Quit: later]");
    bob.expect_closed();
    // A line user's quit is a QUIT on IRC.
    let mut carol = irc_login(srv.irc.expect("irc"), "carol");
    alice.send("/quit gone fishing");
    carol.expect(":alice!alice@127.0.0.1 QUIT :gone fishing");
}

#[test]
fn join_zero_parts_everything() {
    let srv = server();
    let mut bob = irc_login(srv.irc.expect("irc"), "bob");
    bob.send("JOIN #a");
    bob.expect(" 366 bob #a :");
    bob.send("JOIN 0");
    bob.expect(":bob!bob@127.0.0.1 PART #lobby");
    bob.expect(":bob!bob@127.0.0.1 PART #a");
    bob.send("WHOIS bob");
    let whois = lines_until(&mut bob, " 318 bob bob :");
    assert!(!whois.iter().any(|l| l.contains(" 319 ")), "{whois:#?}");
}

#[test]
fn error_numerics() {
    let srv = server();
    let irc = srv.irc.expect("irc");
    let _alice = LineClient::line_login(srv.line.expect("line"), "alice");
    let mut c = LineClient::connect(irc);
    // Before registration.
    c.send("JOIN #lobby");
    c.expect(":chatroom 451 * :You have not registered");
    c.send("USER only");
    c.expect(":chatroom 461 * USER :Not enough parameters");
    c.send("USER bob 0 * :Bob");
    c.send("NICK alice");
    c.expect(":chatroom 433 * alice :Nickname is already in use");
    c.send("NICK 1bad");
    c.expect(":chatroom 432 * 1bad :Erroneous nickname");
    c.send("NICK bob");
    c.expect(":chatroom 001 bob :Welcome to the chatroom IRC network, bob!bob@127.0.0.1");
    c.expect(" 366 bob #lobby :");
    // After registration.
    c.send("USER bob 0 * :Bob");
    c.expect(":chatroom 462 bob :You may not reregister");
    c.send("PRIVMSG nobody :hi");
    c.expect(":chatroom 401 bob nobody :No such nick/channel");
    c.send("PRIVMSG #nowhere :hi");
    c.expect(":chatroom 403 bob #nowhere :No such channel");
    c.send("PART #nowhere");
    c.expect(":chatroom 403 bob #nowhere :No such channel");
    c.send("JOIN nohash");
    c.expect(":chatroom 403 bob nohash :Illegal channel name");
    c.send("PRIVMSG");
    c.expect(":chatroom 411 bob :No recipient given (PRIVMSG)");
    c.send("PRIVMSG #lobby");
    c.expect(":chatroom 412 bob :No text to send");
    c.send("JOIN");
    c.expect(":chatroom 461 bob JOIN :Not enough parameters");
    c.send("FROBNICATE now");
    c.expect(":chatroom 421 bob FROBNICATE :Unknown command");
    c.send("WHOIS ghost");
    c.expect(":chatroom 401 bob ghost :No such nick/channel");
    c.expect(":chatroom 318 bob ghost :End of /WHOIS list.");
    // A room bob is not in: 442 on PART, 404 on PRIVMSG.
    let mut carol = irc_login(irc, "carol");
    carol.send("JOIN #private");
    carol.expect(" 366 carol #private :");
    c.send("PART #private");
    c.expect(":chatroom 442 bob #private :You're not on that channel");
    c.send("PRIVMSG #private :let me in");
    c.expect(":chatroom 404 bob #private :Cannot send to channel");
}

#[test]
fn oversized_line_is_refused_whole() {
    let srv = server();
    let mut alice = LineClient::line_login(srv.line.expect("line"), "alice");
    let mut bob = irc_login(srv.irc.expect("irc"), "bob");
    alice.expect("* bob joined #lobby");
    // 600 bytes: a server that cut at 512 would run the tail as a command.
    let head = "PRIVMSG #lobby :";
    let pad = "a".repeat(512 - head.len());
    let line = format!("{head}{pad}JOIN #injected PRIVMSG #lobby :tail");
    let line = format!("{line}{}", "b".repeat(600 - line.len()));
    assert_eq!(line.len(), 600);
    bob.send(&line);
    bob.expect(":chatroom 417 bob :Input line was too long");
    // The connection still works, and nothing of the long line happened.
    bob.send("PRIVMSG #lobby :after");
    alice.expect("<bob> after");
    bob.send("WHOIS bob");
    let whois = lines_until(&mut bob, " 318 bob bob :");
    let rooms = whois
        .iter()
        .find(|l| l.contains(" 319 "))
        .expect("319 line");
    assert!(!rooms.contains("#injected"), "{rooms}");
    // No room called #injected exists.
    let mut probe = irc_login(srv.irc.expect("irc"), "probe");
    probe.send("LIST");
    let list = lines_until(&mut probe, " 323 probe :");
    assert!(
        list.iter().any(|l| l.contains(" 322 probe #lobby ")),
        "{list:#?}"
    );
    assert!(!list.iter().any(|l| l.contains("#injected")), "{list:#?}");
    // alice never saw the padding.
    alice.send("/who #lobby");
    let before = lines_until(&mut alice, "#lobby:");
    assert!(!before.iter().any(|l| l.contains("aaaa")), "{before:#?}");
    // A line of exactly 510 bytes (512 with CR LF) is accepted.
    let text = "c".repeat(510 - head.len());
    bob.send(&format!("{head}{text}"));
    alice.expect(&format!("<bob> {}", &text[..380]));
}

#[test]
fn ping_pong() {
    let srv = server();
    let mut c = LineClient::connect(srv.irc.expect("irc"));
    // PING works before registration too.
    c.send("PING :tok en");
    c.expect(":chatroom PONG chatroom :tok en");
    c.send("PONG :chatroom");
    c.send("PING");
    c.expect(":chatroom 409 * :No origin specified");
}

#[test]
fn cap_negotiation_holds_registration() {
    let srv = server();
    let mut c = LineClient::connect(srv.irc.expect("irc"));
    c.send("CAP LS 302");
    c.send("NICK bob");
    c.send("USER bob 0 * :Bob");
    c.expect(":chatroom CAP * LS :");
    c.send("CAP REQ :draft/event-playback");
    c.expect(":chatroom CAP * NAK :draft/event-playback");
    c.send("CAP REQ :multi-prefix");
    c.expect(":chatroom CAP * ACK :multi-prefix");
    let before = sync(&mut c, "still-negotiating");
    assert!(!before.iter().any(|l| l.contains(" 001 ")), "{before:#?}");
    c.send("CAP END");
    c.expect(":chatroom 001 bob :Welcome");
    c.expect(":chatroom 005 bob ");
    c.expect(":chatroom 422 bob :MOTD File is missing");
}

#[test]
fn list_names_who_topic() {
    let srv = server();
    let mut alice = LineClient::line_login(srv.line.expect("line"), "alice");
    let mut bob = irc_login(srv.irc.expect("irc"), "bob");
    alice.expect("* bob joined #lobby");
    bob.send("TOPIC #lobby");
    bob.expect(":chatroom 331 bob #lobby :No topic is set");
    // Rooms are +t: only alice, the room's operator, sets the topic.
    bob.send("TOPIC #lobby :all about chat");
    bob.expect(":chatroom 482 bob #lobby :You're not channel operator");
    alice.send("/topic all about chat");
    bob.expect(":alice!alice@127.0.0.1 TOPIC #lobby :all about chat");
    bob.send("TOPIC #lobby");
    bob.expect(":chatroom 332 bob #lobby :all about chat");
    bob.expect(":chatroom 333 bob #lobby alice ");
    alice.send("/topic hello from line");
    bob.expect(":alice!alice@127.0.0.1 TOPIC #lobby :hello from line");
    bob.send("LIST");
    bob.expect(":chatroom 321 bob Channel :Users  Name");
    bob.expect(":chatroom 322 bob #lobby 2 :hello from line");
    bob.expect(":chatroom 323 bob :End of /LIST");
    bob.send("NAMES #lobby");
    let names = bob.expect(":chatroom 353 bob = #lobby :");
    assert!(names.ends_with(":@alice bob"), "{names}");
    bob.expect(":chatroom 366 bob #lobby :End of /NAMES list.");
    bob.send("WHO #lobby");
    bob.expect(":chatroom 352 bob #lobby alice 127.0.0.1 chatroom alice H@ :0 alice");
    bob.expect(":chatroom 352 bob #lobby bob 127.0.0.1 chatroom bob H :0 Real bob");
    bob.expect(":chatroom 315 bob #lobby :End of /WHO list.");
    bob.send("WHO alice");
    bob.expect(":chatroom 352 bob * alice 127.0.0.1 chatroom alice H :0 alice");
    bob.expect(":chatroom 315 bob alice :End of /WHO list.");
    // A topic set in a new room is shown on join.
    bob.send("JOIN #news");
    bob.expect(" 366 bob #news :");
    bob.send("TOPIC #news :extra");
    bob.expect("TOPIC #news :extra");
    alice.send("/join #news");
    alice.expect("Topic of #news: extra");
    let mut carol = irc_login(srv.irc.expect("irc"), "carol");
    carol.send("JOIN #news");
    carol.expect(":carol!carol@127.0.0.1 JOIN #news");
    carol.expect(":chatroom 332 carol #news :extra");
    carol.expect(":chatroom 333 carol #news bob ");
    let names = carol.expect(":chatroom 353 carol = #news :");
    assert!(names.ends_with(":@bob alice carol"), "{names}");
}

#[test]
fn away_and_whois() {
    let srv = server();
    let mut alice = LineClient::line_login(srv.line.expect("line"), "alice");
    let mut bob = irc_login(srv.irc.expect("irc"), "bob");
    alice.send("/away out to lunch");
    alice.expect("you are marked as away");
    bob.send("PRIVMSG alice :are you there?");
    bob.expect(":chatroom 301 bob alice :out to lunch");
    bob.send("WHOIS alice");
    bob.expect(":chatroom 311 bob alice alice 127.0.0.1 * :alice");
    bob.expect(":chatroom 319 bob alice :@#lobby");
    bob.expect(":chatroom 301 bob alice :out to lunch");
    bob.expect(":chatroom 317 bob alice ");
    bob.expect(":chatroom 318 bob alice :End of /WHOIS list.");
    bob.send("AWAY :brb");
    bob.expect(":chatroom 306 bob :You have been marked as being away");
    // Away is not a user mode (WHO shows it as G).
    bob.send("MODE bob");
    bob.expect(":chatroom 221 bob +");
    alice.send("/msg bob ping?");
    alice.expect("bob is away: brb");
    bob.send("WHO #lobby");
    bob.expect(":chatroom 352 bob #lobby bob 127.0.0.1 chatroom bob G :0 Real bob");
    bob.send("AWAY");
    bob.expect(":chatroom 305 bob :You are no longer marked as being away");
    bob.send("USERHOST alice bob ghost");
    bob.expect(":chatroom 302 bob :alice=-alice@127.0.0.1 bob=+bob@127.0.0.1");
    bob.send("ISON ghost Alice bob");
    bob.expect(":chatroom 303 bob :alice bob");
    bob.send("WHOWAS ghost");
    bob.expect(":chatroom 406 bob ghost :");
    bob.expect(":chatroom 369 bob ghost :");
}

#[test]
fn modes() {
    let srv = server();
    let mut bob = irc_login(srv.irc.expect("irc"), "bob");
    bob.send("MODE #lobby");
    bob.expect(":chatroom 324 bob #lobby +nt");
    bob.expect(":chatroom 329 bob #lobby ");
    bob.send("MODE #lobby b");
    bob.expect(":chatroom 368 bob #lobby :End of channel ban list");
    // bob was first in #lobby, so he is its operator.
    bob.send("MODE #lobby +m");
    bob.expect(":bob!bob@127.0.0.1 MODE #lobby +m");
    bob.send("MODE #lobby +z");
    bob.expect(":chatroom 472 bob z :");
    bob.send("MODE bob +i");
    bob.expect(":bob!bob@127.0.0.1 MODE bob +i");
    bob.send("MODE bob");
    bob.expect(":chatroom 221 bob +i");
    let _carol = irc_login(srv.irc.expect("irc"), "carol");
    bob.send("MODE carol +i");
    bob.expect(":chatroom 502 bob :");
    bob.send("MODE #elsewhere");
    bob.expect(":chatroom 403 bob #elsewhere :");
}

#[test]
fn motd_from_config() {
    let dir = std::env::temp_dir().join(format!("chatroom-irc-motd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("motd.toml");
    std::fs::write(&path, "motd = \"Be nice.\\nHave fun.\"\n").expect("write config");
    let path_str = path.to_str().expect("utf-8 path").to_string();
    let srv = TestServer::start(&["--config", &path_str]);
    let mut c = LineClient::connect(srv.irc.expect("irc"));
    c.send("NICK bob");
    c.send("USER bob 0 * :Bob");
    c.expect(":chatroom 375 bob :- chatroom Message of the day - ");
    c.expect(":chatroom 372 bob :- Be nice.");
    c.expect(":chatroom 372 bob :- Have fun.");
    c.expect(":chatroom 376 bob :End of /MOTD command.");
    c.send("MOTD");
    c.expect(":chatroom 372 bob :- Be nice.");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn time_and_info_answer_about_this_server() {
    let srv = server();
    let mut c = irc_login(srv.irc.expect("irc listener"), "tina");
    sync(&mut c, "settled");
    c.send("TIME");
    let t = c.expect(" 391 tina chatroom :");
    // The server-time form: 2026-12-07T19:54:12.345Z.
    let when = t.rsplit(" :").next().unwrap_or("");
    assert!(
        when.len() == 24 && when.ends_with('Z') && when.as_bytes()[10] == b'T',
        "{t}"
    );
    c.send("INFO");
    let lines = lines_until(&mut c, " 374 tina :End of INFO list");
    assert!(
        lines.iter().any(|l| l.contains(" 371 tina :chatroom ")),
        "{lines:?}"
    );
    assert!(lines.iter().all(|l| l.contains(" 371 tina :")), "{lines:?}");
}
