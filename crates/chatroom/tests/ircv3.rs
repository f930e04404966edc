//! IRCv3 capabilities against the real server binary, one test per
//! capability, each written from its specification on ircv3.net; plus the
//! bad input the capabilities open up (unknown and huge CAP REQs, bad tag
//! escapes, oversized tags, TAGMSG floods). Raw sockets only, so every
//! byte the server writes is checked.

mod common;

use common::TestServer;
use common::irc::Irc;

fn server() -> TestServer {
    TestServer::start(&["--flood-rate", "0"])
}

fn irc(srv: &TestServer) -> std::net::SocketAddr {
    srv.irc.expect("irc listener")
}

/// Connects, negotiates `caps` (space-separated; "" for none) with
/// `CAP LS 302`, registers, and waits until the client is in #lobby.
fn login_caps(addr: std::net::SocketAddr, nick: &str, caps: &str) -> Irc {
    let mut c = Irc::negotiate(addr, nick, caps);
    c.wait_for("end of MOTD", |l| {
        l.contains(&format!(" 376 {nick} ")) || l.contains(&format!(" 422 {nick} "))
    });
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

/// `2026-11-23T10:33:03.123Z`: UTC, milliseconds, Z.
fn is_server_time(t: &str) -> bool {
    let b = t.as_bytes();
    b.len() == 24
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'.'
        && b[23] == b'Z'
        && t.bytes()
            .enumerate()
            .all(|(i, c)| [4, 7, 10, 13, 16, 19, 23].contains(&i) || c.is_ascii_digit())
}

// ------------------------------------------------------- negotiation

#[test]
fn cap_ls_302_req_ack_nak_list_end_hold_registration() {
    let srv = server();
    let mut c = Irc::connect(irc(&srv), "bob");
    c.send("CAP LS 302");
    let ls = c.expect(":chatroom CAP * LS :");
    let offered: Vec<&str> = ls
        .rsplit_once(" :")
        .map_or("", |(_, l)| l)
        .split(' ')
        .collect();
    for cap in [
        "cap-notify",
        "message-tags",
        "server-time",
        "echo-message",
        "labeled-response",
        "batch",
        "multi-prefix",
        "userhost-in-names",
        "extended-join",
        "away-notify",
        "setname",
        "invite-notify",
        "standard-replies",
        "utf8only",
        "draft/chathistory",
        "sasl=PLAIN,EXTERNAL",
        "account-notify",
        "account-tag",
        "draft/account-registration=before-connect",
    ] {
        assert!(offered.contains(&cap), "{cap} missing from {ls}");
    }
    assert!(offered.contains(&"chghost"), "chghost missing from {ls}");
    // Not implemented, so not offered.
    assert!(
        !offered.iter().any(|o| o.contains("event-playback")),
        "event-playback offered: {ls}"
    );
    c.send("NICK bob");
    c.send("USER bob 0 * :Bob");
    c.expect_none(" 001 ", "held-by-ls");
    // All or nothing: one unknown name refuses the whole request.
    c.send("CAP REQ :multi-prefix no-such-cap");
    c.expect(":chatroom CAP * NAK :multi-prefix no-such-cap");
    c.send("CAP REQ :multi-prefix server-time");
    c.expect(":chatroom CAP * ACK :multi-prefix server-time");
    c.send("CAP REQ :-server-time");
    c.expect(":chatroom CAP * ACK :-server-time");
    c.send("CAP LIST");
    c.expect(":chatroom CAP * LIST :cap-notify multi-prefix");
    c.expect_none(" 001 ", "held-by-req");
    c.send("CAP END");
    c.numeric("001");
    // After registration CAP still works and holds nothing back.
    c.send("CAP REQ :message-tags");
    c.expect(":chatroom CAP bob ACK :message-tags");
}

#[test]
fn cap_notify_is_implied_by_302_and_cannot_be_dropped() {
    let srv = server();
    let mut c = Irc::connect(irc(&srv), "bob");
    c.send("CAP LS 302");
    c.expect(":chatroom CAP * LS :");
    c.send("CAP LIST");
    c.expect(":chatroom CAP * LIST :cap-notify");
    c.send("CAP REQ :-cap-notify");
    c.expect(":chatroom CAP * NAK :-cap-notify");
    // A 301 client may ask for it explicitly.
    let mut d = Irc::connect(irc(&srv), "dan");
    d.send("CAP LS");
    d.expect(":chatroom CAP * LS :");
    d.send("CAP LIST");
    d.expect(":chatroom CAP * LIST :");
    d.send("CAP REQ cap-notify");
    d.expect(":chatroom CAP * ACK :cap-notify");
}

#[test]
fn cap_abuse_unknown_and_huge_requests_get_one_nak_each() {
    let srv = server();
    let mut c = Irc::connect(irc(&srv), "bob");
    c.send("CAP LS 302");
    c.expect(":chatroom CAP * LS :");
    c.send("CAP REQ :draft/event-playback");
    c.expect(":chatroom CAP * NAK :draft/event-playback");
    // Known names, too many of them for one request (within one line).
    let many = vec!["batch"; 70].join(" ");
    c.send(&format!("CAP REQ :{many}"));
    let nak = c.expect(":chatroom CAP * NAK :batch batch ");
    assert!(nak.len() + 2 <= 512, "{}", nak.len());
    c.send("CAP LIST");
    c.expect(":chatroom CAP * LIST :cap-notify");
    let rest = c.sync("after-huge");
    assert!(!rest.iter().any(|l| l.contains(" ACK ")), "{rest:#?}");
    c.send("CAP END");
    c.send("NICK bob");
    c.send("USER bob 0 * :Bob");
    c.numeric("001");
}

// -------------------------------------------------------- message-tags

#[test]
fn message_tags_relay_client_only_tags_to_those_who_enabled_them() {
    let srv = server();
    let mut alice = login_caps(irc(&srv), "alice", "message-tags");
    let mut bob = login_caps(irc(&srv), "bob", "message-tags");
    let mut carol = Irc::login(irc(&srv), "carol");
    alice.send("@+draft/reply=12;+example.com/x=a\\sb;time=1999-01-01T00:00:00.000Z;msgid=forged PRIVMSG #lobby :tagged hello");
    let got = bob.expect("PRIVMSG #lobby :tagged hello");
    assert_eq!(tag(&got, "+draft/reply"), Some("12"), "{got}");
    assert_eq!(tag(&got, "+example.com/x"), Some("a\\sb"), "{got}");
    assert!(
        tag(&got, "time").is_none(),
        "a client cannot set time: {got}"
    );
    let id = tag(&got, "msgid").expect("msgid");
    assert_ne!(id, "forged");
    assert_eq!(
        untagged(&got),
        ":alice!alice@127.0.0.1 PRIVMSG #lobby :tagged hello"
    );
    // Without message-tags: the plain line, no tags at all.
    let plain = carol.expect("PRIVMSG #lobby :tagged hello");
    assert_eq!(plain, ":alice!alice@127.0.0.1 PRIVMSG #lobby :tagged hello");
}

#[test]
fn tagmsg_reaches_only_clients_with_message_tags() {
    let srv = server();
    let mut alice = login_caps(irc(&srv), "alice", "message-tags");
    let mut bob = login_caps(irc(&srv), "bob", "message-tags");
    let mut carol = Irc::login(irc(&srv), "carol");
    alice.send("@+typing=active TAGMSG #lobby");
    let got = bob.expect(" TAGMSG #lobby");
    assert_eq!(tag(&got, "+typing"), Some("active"), "{got}");
    assert!(tag(&got, "msgid").is_some(), "{got}");
    assert_eq!(untagged(&got), ":alice!alice@127.0.0.1 TAGMSG #lobby");
    // A reaction to a message, privately.
    alice.send("@+draft/react=\u{1f44d};+draft/reply=7 TAGMSG bob");
    let got = bob.expect(" TAGMSG bob");
    assert_eq!(tag(&got, "+draft/react"), Some("\u{1f44d}"), "{got}");
    carol.expect_none("TAGMSG", "carol-sees-nothing");
    // Errors: no target, a room nobody is in.
    alice.send("TAGMSG");
    alice.numeric("461");
    alice.send("@+typing=active TAGMSG #nowhere");
    alice.numeric("403");
}

#[test]
fn tags_with_bad_escapes_are_tolerated() {
    let srv = server();
    let mut alice = login_caps(irc(&srv), "alice", "message-tags");
    let mut bob = login_caps(irc(&srv), "bob", "message-tags");
    // An unknown escape drops the backslash, a trailing one is dropped,
    // escaped CR LF stay escaped: nothing breaks a line.
    alice.send_raw(b"@+x=a\\qb\\;+y=1\\r\\n2 PRIVMSG #lobby :escapes\r\n");
    let got = bob.expect("PRIVMSG #lobby :escapes");
    assert_eq!(tag(&got, "+x"), Some("aqb"), "{got}");
    assert_eq!(tag(&got, "+y"), Some("1\\s\\s2"), "{got}");
    alice.send("PRIVMSG #lobby :after");
    bob.expect("PRIVMSG #lobby :after");
}

#[test]
fn tags_up_to_4094_bytes_are_accepted_and_beyond_get_417() {
    let srv = server();
    let mut alice = login_caps(irc(&srv), "alice", "message-tags");
    let mut bob = login_caps(irc(&srv), "bob", "message-tags");
    // 4094 bytes of tag data, every tag counted (message-tags "Size
    // limit"): a server tag (dropped) and a client-only one (relayed).
    let fill = 4094 - "foo=bar;+a=".len();
    let line = format!("@foo=bar;+a={} PRIVMSG #lobby :big tags", "v".repeat(fill));
    alice.send(&line);
    let got = bob.expect("PRIVMSG #lobby :big tags");
    assert!(got.contains(&format!("+a={} ", "v".repeat(fill))), "{got}");
    assert!(!got.contains("foo=bar"), "{got}");
    // One byte more: refused whole, nothing relayed, whichever tag it is in.
    let line = format!(
        "@foo=bar;+a={} PRIVMSG #lobby :too big",
        "v".repeat(fill + 1)
    );
    alice.send(&line);
    alice.numeric("417");
    let line = format!("@foo={} PRIVMSG #lobby :too big", "v".repeat(4091));
    alice.send(&line);
    alice.numeric("417");
    let line = format!("@+a={} PRIVMSG #lobby :client tags", "v".repeat(4100));
    alice.send(&line);
    alice.numeric("417");
    let line = format!("@+a={} TAGMSG #lobby", "v".repeat(4100));
    alice.send(&line);
    alice.numeric("417");
    // Far over (more than a line's reading limit): the same.
    let line = format!("@+a={} TAGMSG #lobby", "v".repeat(9000));
    alice.send(&line);
    alice.numeric("417");
    // With tags, the rest of the line still has its 512 bytes only.
    let line = format!("@+a=b PRIVMSG #lobby :{}", "w".repeat(520));
    alice.send(&line);
    alice.numeric("417");
    let got = bob.sync("after-big");
    assert!(
        !got.iter()
            .any(|l| l.contains("too big") || l.contains("client tags") || l.contains("www")),
        "{got:#?}"
    );
}

#[test]
fn tagmsg_flood_is_slowed_like_any_command() {
    let srv = TestServer::start(&["--flood-rate", "20", "--flood-burst", "5"]);
    let mut alice = login_caps(irc(&srv), "alice", "message-tags");
    let mut bob = login_caps(irc(&srv), "bob", "message-tags");
    let burst: String = (0..40)
        .map(|i| format!("@+typing=active;+n={i} TAGMSG #lobby\r\n"))
        .collect();
    alice.send_raw(burst.as_bytes());
    alice.expect("Flood control: you are sending faster than 20 messages per second");
    // Delayed, not dropped: all forty arrive, in order.
    let mut seen = Vec::new();
    for i in 0..40 {
        let line = bob.expect(" TAGMSG #lobby");
        seen.push(tag(&line, "+n").map(str::to_string));
        assert_eq!(seen[i].as_deref(), Some(i.to_string().as_str()));
    }
}

// ------------------------------------------- server-time, msgid, echo

#[test]
fn server_time_is_on_messages_and_events() {
    let srv = server();
    let mut bob = login_caps(irc(&srv), "bob", "server-time");
    let mut alice = Irc::login(irc(&srv), "alice");
    let join = bob.expect(" JOIN #lobby");
    assert!(untagged(&join).starts_with(":alice!"), "{join}");
    assert!(tag(&join, "time").is_some_and(is_server_time), "{join}");
    alice.send("PRIVMSG #lobby :timed");
    let msg = bob.expect("PRIVMSG #lobby :timed");
    assert!(tag(&msg, "time").is_some_and(is_server_time), "{msg}");
    assert!(
        tag(&msg, "msgid").is_none(),
        "msgid needs message-tags: {msg}"
    );
    // bob came first: he is #lobby's operator.
    bob.send("TOPIC #lobby :new topic");
    let topic = bob.expect(" TOPIC #lobby :new topic");
    assert!(tag(&topic, "time").is_some_and(is_server_time), "{topic}");
    alice.send("NICK alicia");
    let nick = bob.expect(" NICK :alicia");
    assert!(tag(&nick, "time").is_some_and(is_server_time), "{nick}");
    alice.send("QUIT :bye");
    let quit = bob.expect(" QUIT :Quit: bye");
    assert!(tag(&quit, "time").is_some_and(is_server_time), "{quit}");
}

#[test]
fn msgid_and_echo_message_carry_the_same_id() {
    let srv = server();
    let mut alice = login_caps(irc(&srv), "alice", "message-tags echo-message");
    let mut bob = login_caps(irc(&srv), "bob", "message-tags");
    alice.send("@+draft/reply=1 PRIVMSG #lobby :echo me");
    let echo = alice.expect("PRIVMSG #lobby :echo me");
    let got = bob.expect("PRIVMSG #lobby :echo me");
    assert_eq!(echo, got, "the echo is the line everyone else gets");
    let id = tag(&echo, "msgid").expect("msgid");
    assert!(!id.is_empty());
    alice.send("NOTICE #lobby :a notice");
    let n1 = alice.expect("NOTICE #lobby :a notice");
    alice.send("PRIVMSG bob :private");
    let p1 = alice.expect("PRIVMSG bob :private");
    let p2 = bob.expect("PRIVMSG bob :private");
    assert_eq!(p1, p2);
    // Every message has its own id.
    let ids = [tag(&echo, "msgid"), tag(&n1, "msgid"), tag(&p1, "msgid")];
    assert!(
        ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2],
        "{ids:?}"
    );
    alice.send("@+typing=done TAGMSG #lobby");
    alice.expect(" TAGMSG #lobby");
}

#[test]
fn without_echo_message_own_messages_are_not_sent_back() {
    let srv = server();
    let mut alice = login_caps(irc(&srv), "alice", "message-tags");
    let mut bob = Irc::login(irc(&srv), "bob");
    alice.send("PRIVMSG #lobby :no echo");
    alice.send("@+typing=active TAGMSG #lobby");
    bob.expect("PRIVMSG #lobby :no echo");
    let got = alice.sync("no-echo");
    assert!(
        !got.iter()
            .any(|l| l.contains("no echo") || l.contains("TAGMSG")),
        "{got:#?}"
    );
}

// ------------------------------------------- labeled-response, batch

#[test]
fn labeled_response_labels_one_line_batches_several_acks_none() {
    let srv = server();
    let mut alice = login_caps(
        irc(&srv),
        "alice",
        "labeled-response batch echo-message message-tags",
    );
    let mut bob = login_caps(irc(&srv), "bob", "labeled-response batch");
    // One reply line: the label on it (here the echo of the message).
    alice.send("@label=m1 PRIVMSG #lobby :labeled");
    let echo = alice.expect("PRIVMSG #lobby :labeled");
    assert_eq!(tag(&echo, "label"), Some("m1"), "{echo}");
    // Others never see the label.
    let other = bob.expect("PRIVMSG #lobby :labeled");
    assert!(tag(&other, "label").is_none(), "{other}");
    // A PING's PONG.
    alice.send("@label=p1 PING :tok");
    let pong = alice.expect("PONG chatroom :tok");
    assert_eq!(tag(&pong, "label"), Some("p1"), "{pong}");
    // Several lines: one labeled-response batch around them all.
    alice.send("@label=n1 NAMES #lobby");
    let start = alice.expect(" BATCH +");
    assert_eq!(tag(&start, "label"), Some("n1"), "{start}");
    assert!(start.ends_with(" labeled-response"), "{start}");
    let id = untagged(&start)
        .split(' ')
        .nth(2)
        .and_then(|r| r.strip_prefix('+'))
        .expect("reference")
        .to_string();
    let names = alice.expect(" 353 alice = #lobby :");
    assert_eq!(tag(&names, "batch"), Some(id.as_str()), "{names}");
    let end = alice.expect(" 366 alice #lobby ");
    assert_eq!(tag(&end, "batch"), Some(id.as_str()), "{end}");
    alice.expect(&format!(":chatroom BATCH -{id}"));
    // No reply at all: an ACK (bob has no echo-message).
    bob.send("@label=q1 PRIVMSG #lobby :quiet");
    let ack = bob.expect(" ACK");
    assert_eq!(ack, "@label=q1 :chatroom ACK");
    // An error is a reply too.
    bob.send("@label=e1 PRIVMSG #nowhere :x");
    let err = bob.expect(" 403 bob #nowhere ");
    assert_eq!(tag(&err, "label"), Some("e1"), "{err}");
    // A nick change: the one NICK line.
    bob.send("@label=k1 NICK bobby");
    let nick = bob.expect(":bob!bob@127.0.0.1 NICK :bobby");
    assert_eq!(tag(&nick, "label"), Some("k1"), "{nick}");
    bob.send("@label=k2 NICK alice");
    let taken = bob.expect(" 433 bobby alice ");
    assert_eq!(tag(&taken, "label"), Some("k2"), "{taken}");
    // OPER's refusal comes after the password check, still labeled.
    bob.send("@label=o1 OPER nobody secret");
    let refused = bob.expect(" 491 bobby ");
    assert_eq!(tag(&refused, "label"), Some("o1"), "{refused}");
    // Without batch (which the spec requires) labels are not used.
    let mut carol = login_caps(irc(&srv), "carol", "labeled-response");
    carol.send("@label=n2 NAMES #lobby");
    let first = carol.expect(" 353 carol = #lobby :");
    assert!(tag(&first, "label").is_none(), "{first}");
    carol.expect_none("ACK", "carol-no-batch");
}

#[test]
fn labeled_message_to_oneself_labels_the_echo_not_the_delivery() {
    let srv = server();
    let mut a = login_caps(irc(&srv), "alice", "labeled-response batch echo-message");
    a.send("@label=s1 PRIVMSG alice :note to self");
    let got = a.sync("self");
    let lines: Vec<&String> = got.iter().filter(|l| l.contains("note to self")).collect();
    assert_eq!(lines.len(), 2, "{got:#?}");
    assert!(tag(lines[0], "label").is_none(), "{got:#?}");
    assert_eq!(tag(lines[1], "label"), Some("s1"), "{got:#?}");
}

#[test]
fn labels_are_ignored_without_the_capability() {
    let srv = server();
    let mut c = Irc::login(irc(&srv), "carol");
    c.send("@label=x1 PING :t");
    let pong = c.expect("PONG chatroom :t");
    assert_eq!(pong, ":chatroom PONG chatroom :t");
    c.send("@label=x2 PRIVMSG #lobby :hi");
    c.expect_none("ACK", "no-ack");
}

// ---------------------------------------------------- names and joins

#[test]
fn multi_prefix_shows_every_prefix_in_names_and_who() {
    let srv = server();
    let mut alice = login_caps(irc(&srv), "alice", "multi-prefix");
    let mut bob = Irc::login(irc(&srv), "bob");
    alice.join("#mp");
    bob.join("#mp");
    alice.send("MODE #mp +v alice");
    alice.expect(" MODE #mp +v alice");
    alice.send("NAMES #mp");
    let names = alice.numeric("353");
    assert!(names.ends_with(" :@+alice bob"), "{names}");
    alice.send("WHO #mp");
    let who = alice.expect(" 352 alice #mp alice ");
    assert!(who.contains(" alice H@+ :0 "), "{who}");
    // Without the capability: the highest prefix only.
    bob.send("NAMES #mp");
    let names = bob.numeric("353");
    assert!(names.ends_with(" :@alice bob"), "{names}");
}

#[test]
fn userhost_in_names_shows_full_sources() {
    let srv = server();
    let mut alice = login_caps(irc(&srv), "alice", "userhost-in-names multi-prefix");
    alice.join("#uh");
    alice.send("NAMES #uh");
    let names = alice.numeric("353");
    assert!(names.ends_with(" :@alice!alice@127.0.0.1"), "{names}");
}

#[test]
fn extended_join_has_account_and_realname() {
    let srv = server();
    let mut bob = login_caps(irc(&srv), "bob", "extended-join");
    let mut carol = Irc::login(irc(&srv), "carol");
    let _ = Irc::login(irc(&srv), "dave");
    let ext = bob.expect("dave!dave@127.0.0.1 JOIN");
    assert!(
        ext.ends_with("dave!dave@127.0.0.1 JOIN #lobby * :Real dave"),
        "{ext}"
    );
    let plain = carol.expect("dave!dave@127.0.0.1 JOIN");
    assert_eq!(plain, ":dave!dave@127.0.0.1 JOIN #lobby");
}

// ------------------------------------------- away, setname, invites

#[test]
fn away_notify_tells_those_who_share_a_room() {
    let srv = server();
    let mut bob = login_caps(irc(&srv), "bob", "away-notify");
    let mut carol = Irc::login(irc(&srv), "carol");
    let mut alice = Irc::login(irc(&srv), "alice");
    alice.send("AWAY :at lunch");
    alice.numeric("306");
    bob.expect(":alice!alice@127.0.0.1 AWAY :at lunch");
    alice.send("AWAY");
    alice.numeric("305");
    let back = bob.expect(":alice!alice@127.0.0.1 AWAY");
    assert_eq!(back, ":alice!alice@127.0.0.1 AWAY");
    carol.expect_none(" AWAY", "carol-has-no-cap");
    // Someone away who joins is shown away right after the JOIN.
    alice.send("AWAY :gone");
    bob.expect(" AWAY :gone");
    bob.join("#aw");
    alice.send("JOIN #aw");
    bob.expect(":alice!alice@127.0.0.1 JOIN #aw");
    bob.expect(":alice!alice@127.0.0.1 AWAY :gone");
}

#[test]
fn setname_changes_realname_and_bad_names_fail() {
    let srv = server();
    let mut alice = login_caps(irc(&srv), "alice", "setname standard-replies");
    let mut bob = login_caps(irc(&srv), "bob", "setname");
    let mut carol = Irc::login(irc(&srv), "carol");
    alice.send("SETNAME :Alice Liddell");
    alice.expect(":alice!alice@127.0.0.1 SETNAME :Alice Liddell");
    bob.expect(":alice!alice@127.0.0.1 SETNAME :Alice Liddell");
    carol.expect_none("SETNAME", "carol-has-no-cap");
    carol.send("WHOIS alice");
    let whois = carol.numeric("311");
    assert!(whois.ends_with(" :Alice Liddell"), "{whois}");
    // Too long: FAIL, and nothing changes.
    alice.send(&format!("SETNAME :{}", "x".repeat(65)));
    alice.expect(":chatroom FAIL SETNAME INVALID_REALNAME :");
    alice.send("SETNAME");
    alice.numeric("461");
    // The setname spec requires FAIL, standard-replies or not.
    bob.send("SETNAME :\u{7}bell");
    bob.expect(":chatroom FAIL SETNAME INVALID_REALNAME :Realname is not valid");
    let got = carol.sync("after-bad");
    assert!(!got.iter().any(|l| l.contains("xxxx")), "{got:#?}");
}

#[test]
fn invite_notify_tells_other_room_operators() {
    let srv = server();
    let mut alice = Irc::login(irc(&srv), "alice");
    let mut bob = login_caps(irc(&srv), "bob", "invite-notify");
    let mut carol = login_caps(irc(&srv), "carol", "invite-notify");
    let _dave = Irc::login(irc(&srv), "dave");
    alice.join("#inv");
    bob.join("#inv");
    carol.join("#inv");
    alice.send("MODE #inv +o bob");
    carol.expect(" MODE #inv +o bob");
    alice.send("INVITE dave #inv");
    alice.numeric("341");
    bob.expect(":alice!alice@127.0.0.1 INVITE dave #inv");
    carol.expect_none("INVITE dave", "carol-is-no-operator");
}

// -------------------------------------------- utf8only, standard-replies

#[test]
fn utf8only_is_advertised_and_invalid_utf8_is_refused() {
    let srv = server();
    let mut alice = login_caps(irc(&srv), "alice", "standard-replies");
    let mut bob = Irc::login(irc(&srv), "bob");
    let mut c = Irc::connect(irc(&srv), "erin");
    c.send("NICK erin");
    c.send("USER erin 0 * :Erin");
    let isupport = c.wait_for("UTF8ONLY", |l| {
        l.contains(" 005 erin ") && l.contains(" UTF8ONLY ")
    });
    assert!(isupport.contains(" UTF8ONLY "), "{isupport}");
    alice.send_raw(b"PRIVMSG #lobby :caf\xff!\r\n");
    alice.expect(":chatroom FAIL PRIVMSG INVALID_UTF8 :");
    alice.send("PRIVMSG #lobby :clean");
    bob.wait_for("the clean message", |l| {
        assert!(!l.contains("caf"), "relayed: {l}");
        l.ends_with("PRIVMSG #lobby :clean")
    });
    // The utf8only spec names this FAIL; it comes standard-replies or not.
    bob.send_raw(b"TOPIC #lobby :\xfe\r\n");
    bob.expect(":chatroom FAIL TOPIC INVALID_UTF8 :Message rejected");
    // `*` when not even the command can be read.
    bob.send_raw(b"\xff\xfe\r\n");
    bob.expect(":chatroom FAIL * INVALID_UTF8 :");
}

#[test]
fn monitor_tells_when_watched_nicknames_come_and_go() {
    // ircv3.net/specs/extensions/monitor: MONITOR + / - / C / L / S,
    // RPL_MONONLINE (730) with nick!user@host, RPL_MONOFFLINE (731),
    // RPL_MONLIST (732) and RPL_ENDOFMONLIST (733); MONITOR=<limit>.
    let srv = server();
    let mut alice = Irc::connect(irc(&srv), "alice");
    alice.send("NICK alice");
    alice.send("USER alice 0 * :Alice");
    alice.expect(" MONITOR=100 ");
    alice.numeric("422");
    let _bob = Irc::login(irc(&srv), "bob");
    alice.send("MONITOR + bob,Carol");
    alice.expect(":chatroom 730 alice :bob!bob@127.0.0.1");
    alice.expect(":chatroom 731 alice :Carol");
    // Coming online, in any case spelling.
    let mut carol = Irc::login(irc(&srv), "carol");
    alice.expect(":chatroom 730 alice :carol!carol@127.0.0.1");
    // Leaving a watched nickname for an unwatched one: offline only.
    carol.send("NICK dave");
    carol.expect("NICK :dave");
    alice.expect(":chatroom 731 alice :carol");
    let quiet = alice.sync("after-nick");
    assert!(!quiet.iter().any(|l| l.contains(" 730 ")), "{quiet:#?}");
    // And back.
    carol.send("NICK carol");
    alice.expect(":chatroom 730 alice :carol!carol@127.0.0.1");
    // Quitting.
    carol.send("QUIT :bye");
    alice.expect(":chatroom 731 alice :carol");
    // List, remove, status, clear.
    alice.send("MONITOR L");
    alice.expect(":chatroom 732 alice :bob,Carol");
    alice.expect(":chatroom 733 alice :End of MONITOR list");
    alice.send("MONITOR - bob");
    alice.send("MONITOR L");
    alice.expect(":chatroom 732 alice :Carol");
    alice.send("MONITOR S");
    alice.expect(":chatroom 731 alice :Carol");
    alice.send("MONITOR C");
    alice.send("MONITOR L");
    let after = alice.sync("cleared");
    assert!(
        after.iter().any(|l| l.contains(" 733 alice "))
            && !after.iter().any(|l| l.contains(" 732 ")),
        "{after:#?}"
    );
    // Nobody watched: a newcomer tells alice nothing.
    let _carol = Irc::login(irc(&srv), "carol");
    alice.expect_none(" 730 ", "no-watch");
    alice.send("MONITOR");
    alice.numeric("461");
}

#[test]
fn monitor_list_is_limited_and_masks_are_ignored() {
    let dir = std::env::temp_dir().join(format!("chatroom-monitor-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let conf = dir.join("config.toml");
    std::fs::write(&conf, "[hub]\nmonitor_len = 2\n").expect("write config");
    let srv = TestServer::start(&[
        "--flood-rate",
        "0",
        "--config",
        conf.to_str().expect("utf-8"),
    ]);
    let mut alice = Irc::login(irc(&srv), "alice");
    // A mask can never come online: not added, no reply for it.
    alice.send("MONITOR + a,*!*@*,b,c");
    alice.expect(":chatroom 734 alice 2 c :Monitor list is full");
    alice.expect(":chatroom 731 alice :a,b");
    alice.send("MONITOR L");
    alice.expect(":chatroom 732 alice :a,b");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn chghost_tells_capable_clients_and_rejoins_for_the_others() {
    let dir = std::env::temp_dir().join(format!("chatroom-chghost-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[[opers]]\nname = \"admin\"\npassword_hash = \"{}\"\n",
            common::hash_password("correct horse")
        ),
    )
    .expect("config");
    let srv = TestServer::start(&["--flood-rate", "0", "--config", &config.to_string_lossy()]);
    let addr = irc(&srv);
    let mut admin = login_caps(addr, "admin", "");
    let mut bob = login_caps(addr, "bob", "");
    let mut modern = login_caps(addr, "modern", "chghost");
    let mut plain = login_caps(addr, "plain", "extended-join");
    let mut elsewhere = login_caps(addr, "elsewhere", "chghost");
    elsewhere.send("PART #lobby");
    elsewhere.expect("PART #lobby");
    for c in [&mut bob, &mut plain] {
        c.send("JOIN #side");
        c.expect("JOIN #side");
    }
    // bob is voiced in #lobby (by admin, its first member and operator).
    admin.send("MODE #lobby +v bob");
    plain.expect("MODE #lobby +v bob");

    // Only server operators may, and only with a host that reads as one.
    bob.send("CHGHOST bob cloaked.example");
    bob.expect(" 481 bob ");
    admin.send("OPER admin :correct horse");
    admin.expect(" 381 admin ");
    admin.send("CHGHOST bob :bad host");
    admin.expect("FAIL CHGHOST INVALID_HOST");
    admin.send("CHGHOST nobody some.host");
    admin.expect(" 401 admin nobody ");

    admin.send("CHGHOST bob users/bob");
    // With the capability: one CHGHOST line from the old identity.
    modern.expect(":bob!bob@127.0.0.1 CHGHOST bob users/bob");
    // Without it: a quit and a rejoin of every room shared, with the status
    // bob has there, so the client shows the new host.
    plain.expect(":bob!bob@127.0.0.1 QUIT :Changing host");
    plain.expect(":bob!bob@users/bob JOIN #lobby * :");
    plain.expect(":chatroom MODE #lobby +v bob");
    plain.expect(":bob!bob@users/bob JOIN #side * :");
    // bob himself, without the capability, is told his new host.
    bob.expect(" 396 bob users/bob :is now your displayed host");
    // Someone who shares no room hears nothing of it.
    elsewhere.expect_none("CHGHOST", "sync-elsewhere");
    // WHOIS and messages show the new host.
    modern.send("WHOIS bob");
    modern.expect(" 311 modern bob bob users/bob * :");
    bob.send("PRIVMSG #lobby :hello from my new host");
    modern.expect(":bob!bob@users/bob PRIVMSG #lobby :hello from my new host");
    let _ = std::fs::remove_dir_all(&dir);
}
