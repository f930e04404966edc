use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::*;
use crate::irc::caps::{Cap, CapSet};
use crate::irc::message::Message;
use chatroom_core::names::Name;
use chatroom_core::{RoomInfo, Topic};

use crate::envelope::{Body, Envelope, Slot};

fn user(nick: &str) -> Arc<UserInfo> {
    Arc::new(UserInfo {
        nick: nick.into(),
        user: nick.into(),
        realname: format!("{nick} R").into(),
        host: "127.0.0.1".into(),
        account: None,
    })
}

fn renderer() -> IrcRenderer {
    IrcRenderer::new(&Config::default())
}

fn render(r: &mut IrcRenderer, ev: impl Into<Body>) -> String {
    let mut out = BytesMut::new();
    r.render(&Envelope::new(ev), &mut out);
    String::from_utf8(out.to_vec()).expect("utf-8")
}

fn lines(s: &str) -> Vec<&str> {
    s.split_terminator("\r\n").collect()
}

/// A renderer whose client is registered as `me` (and has had its
/// registration burst: welcome, counts, MOTD).
fn registered(me: &str) -> IrcRenderer {
    let mut r = renderer();
    render(
        &mut r,
        Event::Welcome {
            nick: me.into(),
            user: user(me),
        },
    );
    render(&mut r, Event::Lusers(Lusers::default()));
    r
}

fn msg(from: &str, to: MsgTarget, kind: MsgKind, text: &str) -> Event {
    Event::Message {
        id: 1,
        time: SystemTime::now(),
        from: user(from),
        to,
        kind,
        text: text.into(),
        tags: Vec::new(),
    }
}

fn room(name: &str) -> MsgTarget {
    MsgTarget::Room(name.into())
}

#[test]
fn welcome_burst() {
    let mut r = renderer();
    let out = render(
        &mut r,
        Event::Welcome {
            nick: "bob".into(),
            user: user("bob"),
        },
    );
    let l = lines(&out);
    assert_eq!(
        l[0],
        ":chatroom 001 bob :Welcome to the chatroom IRC network, bob!bob@127.0.0.1"
    );
    assert!(l[1].starts_with(":chatroom 002 bob :Your host is chatroom"));
    assert!(l[2].starts_with(":chatroom 003 bob :"));
    assert!(l[3].starts_with(":chatroom 004 bob chatroom chatroom-"));
    // 005 takes as many lines as its tokens need.
    let isupport: Vec<&str> = l
        .iter()
        .copied()
        .filter(|x| x.contains(" 005 bob "))
        .collect();
    assert!(isupport.len() >= 2, "{l:#?}");
    let isupport = isupport.join(" ");
    for token in [
        " CASEMAPPING=ascii ",
        " CHANTYPES=# ",
        " PREFIX=(ov)@+ ",
        " CHANMODES=beI,k,l,imnst ",
        " NICKLEN=30 ",
        " CHANNELLEN=50 ",
        " TOPICLEN=390 ",
        " AWAYLEN=200 ",
        " KICKLEN=390 ",
        " MODES=6 ",
        " MAXLIST=beI:100 ",
        " LINELEN=512 ",
        " NETWORK=chatroom ",
        " TARGMAX=",
        " WHOX ",
        " EXCEPTS=e ",
        " INVEX=I ",
        " STATUSMSG=@+ ",
        " MONITOR=100 ",
    ] {
        assert!(isupport.contains(token), "{token} in {isupport}");
    }
    assert!(
        l.last().is_some_and(|x| x.contains(" 005 bob ")),
        "the MOTD waits for the counts"
    );
    assert!(l.iter().all(|line| line.len() <= 510));
    let out = render(
        &mut r,
        Event::Lusers(Lusers {
            users: 3,
            invisible: 1,
            opers: 1,
            rooms: 2,
            unknown: 0,
            max_users: 4,
        }),
    );
    assert_eq!(
        lines(&out),
        vec![
            ":chatroom 251 bob :There are 2 users and 1 invisible on 1 servers",
            ":chatroom 252 bob 1 :operator(s) online",
            ":chatroom 254 bob 2 :channels formed",
            ":chatroom 255 bob :I have 3 clients and 0 servers",
            ":chatroom 265 bob 3 4 :Current local users 3, max 4",
            ":chatroom 266 bob 3 4 :Current global users 3, max 4",
            ":chatroom 422 bob :MOTD File is missing",
        ]
    );
    // A later LUSERS has no MOTD.
    let out = render(&mut r, Event::Lusers(Lusers::default()));
    assert!(!out.contains(" 422 "), "{out}");
    // 253 only when some connections have not registered (Modern LUSERS).
    assert!(!out.contains(" 253 "), "{out}");
    let out = render(
        &mut r,
        Event::Lusers(Lusers {
            unknown: 2,
            ..Lusers::default()
        }),
    );
    let l = lines(&out);
    assert_eq!(l[1], ":chatroom 252 bob 0 :operator(s) online");
    assert_eq!(l[2], ":chatroom 253 bob 2 :unknown connection(s)");
    assert_eq!(l[3], ":chatroom 254 bob 0 :channels formed");
}

#[test]
fn motd_lines() {
    let cfg = Config {
        motd: Some("hello\nsecond line".into()),
        ..Config::default()
    };
    let mut r = IrcRenderer::new(&cfg);
    render(
        &mut r,
        Event::Welcome {
            nick: "bob".into(),
            user: user("bob"),
        },
    );
    let out = render(&mut r, Event::Lusers(Lusers::default()));
    assert!(out.contains(":chatroom 375 bob :- chatroom Message of the day - \r\n"));
    assert!(out.contains(":chatroom 372 bob :- hello\r\n"));
    assert!(out.contains(":chatroom 372 bob :- second line\r\n"));
    assert!(out.ends_with(":chatroom 376 bob :End of /MOTD command.\r\n"));
}

#[test]
fn room_message_from_others_but_no_echo() {
    let mut r = registered("bob");
    assert_eq!(
        render(&mut r, msg("alice", room("#lobby"), MsgKind::Say, "hi")),
        ":alice!alice@127.0.0.1 PRIVMSG #lobby :hi\r\n"
    );
    assert_eq!(
        render(&mut r, msg("bob", room("#lobby"), MsgKind::Say, "mine")),
        ""
    );
    assert_eq!(
        render(&mut r, msg("BOB", room("#lobby"), MsgKind::Notice, "x")),
        ""
    );
    // A private message to oneself is shown (it was addressed to us).
    assert_eq!(
        render(
            &mut r,
            msg("bob", MsgTarget::Nick("bob".into()), MsgKind::Say, "me")
        ),
        ":bob!bob@127.0.0.1 PRIVMSG bob :me\r\n"
    );
    // Our private message to someone else is not echoed.
    assert_eq!(
        render(
            &mut r,
            msg("bob", MsgTarget::Nick("alice".into()), MsgKind::Say, "x")
        ),
        ""
    );
    assert_eq!(
        render(
            &mut r,
            msg("alice", MsgTarget::Nick("bob".into()), MsgKind::Say, "psst")
        ),
        ":alice!alice@127.0.0.1 PRIVMSG bob :psst\r\n"
    );
}

#[test]
fn actions_and_notices() {
    let mut r = registered("bob");
    assert_eq!(
        render(&mut r, msg("alice", room("#a"), MsgKind::Action, "waves")),
        ":alice!alice@127.0.0.1 PRIVMSG #a :\u{1}ACTION waves\u{1}\r\n"
    );
    assert_eq!(
        render(&mut r, msg("alice", room("#a"), MsgKind::Notice, "note")),
        ":alice!alice@127.0.0.1 NOTICE #a :note\r\n"
    );
    // Text that looks like a parameter list stays one trailing parameter.
    assert_eq!(
        render(&mut r, msg("alice", room("#a"), MsgKind::Say, ":-) x")),
        ":alice!alice@127.0.0.1 PRIVMSG #a ::-) x\r\n"
    );
}

#[test]
fn long_messages_are_split_below_512_bytes() {
    let mut r = registered("bob");
    let text = "word ".repeat(110);
    let out = render(
        &mut r,
        msg("alice", room("#a"), MsgKind::Action, text.trim()),
    );
    let l = lines(&out);
    assert!(l.len() >= 2, "{out}");
    for line in &l {
        assert!(line.len() <= 510, "{} bytes", line.len());
        assert!(line.starts_with(":alice!alice@127.0.0.1 PRIVMSG #a :\u{1}ACTION "));
        assert!(line.ends_with('\u{1}'));
    }
}

#[test]
fn shared_lines_use_the_cache() {
    let mut a = registered("bob");
    let mut b = registered("carol");
    let env = Envelope::new(Event::Joined {
        room: "#a".into(),
        who: user("alice"),
    });
    let mut out_a = BytesMut::new();
    let mut out_b = BytesMut::new();
    a.render(&env, &mut out_a);
    b.render(&env, &mut out_b);
    assert_eq!(out_a, out_b);
    assert_eq!(&out_a[..], b":alice!alice@127.0.0.1 JOIN #a\r\n");
    // The cache slot now holds the IRC bytes.
    let cached = env.rendered(slot(false, false), |_| Bytes::from_static(b"not used"));
    assert_eq!(&cached[..], b":alice!alice@127.0.0.1 JOIN #a\r\n");
}

#[test]
fn join_part_quit_nick_topic() {
    let mut r = registered("bob");
    assert_eq!(
        render(
            &mut r,
            Event::Parted {
                room: "#a".into(),
                who: user("alice"),
                reason: Some("bye now".into())
            }
        ),
        ":alice!alice@127.0.0.1 PART #a :bye now\r\n"
    );
    assert_eq!(
        render(
            &mut r,
            Event::Parted {
                room: "#a".into(),
                who: user("alice"),
                reason: None
            }
        ),
        ":alice!alice@127.0.0.1 PART #a\r\n"
    );
    assert_eq!(
        render(
            &mut r,
            Event::Quit {
                who: user("alice"),
                reason: "Quit: gone".into()
            }
        ),
        ":alice!alice@127.0.0.1 QUIT :Quit: gone\r\n"
    );
    assert_eq!(
        render(
            &mut r,
            Event::NickChanged {
                old: "alice".into(),
                who: user("alice2")
            }
        ),
        ":alice!alice2@127.0.0.1 NICK :alice2\r\n"
    );
    let t = Topic {
        text: "news".into(),
        setter: "alice".into(),
        time: SystemTime::now(),
    };
    assert_eq!(
        render(
            &mut r,
            Event::TopicChanged {
                room: "#a".into(),
                topic: Some(t),
                by: user("alice")
            }
        ),
        ":alice!alice@127.0.0.1 TOPIC #a :news\r\n"
    );
    assert_eq!(
        render(
            &mut r,
            Event::TopicChanged {
                room: "#a".into(),
                topic: None,
                by: user("alice")
            }
        ),
        ":alice!alice@127.0.0.1 TOPIC #a :\r\n"
    );
}

#[test]
fn own_nick_change_is_followed() {
    let mut r = registered("bob");
    let out = render(
        &mut r,
        Event::NickChanged {
            old: "bob".into(),
            who: user("robert"),
        },
    );
    assert_eq!(out, ":bob!robert@127.0.0.1 NICK :robert\r\n");
    assert_eq!(
        render(&mut r, Event::Error(HubError::NoText)),
        ":chatroom 412 robert :No text to send\r\n"
    );
    // Messages from the new nick are ours now.
    assert_eq!(
        render(&mut r, msg("robert", room("#a"), MsgKind::Say, "x")),
        ""
    );
}

#[test]
fn topic_is() {
    let mut r = registered("bob");
    let time = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let out = render(
        &mut r,
        Event::TopicIs {
            room: "#a".into(),
            topic: Some(Topic {
                text: "the topic".into(),
                setter: "alice".into(),
                time,
            }),
        },
    );
    assert_eq!(
        out,
        ":chatroom 332 bob #a :the topic\r\n:chatroom 333 bob #a alice 1700000000\r\n"
    );
    assert_eq!(
        render(
            &mut r,
            Event::TopicIs {
                room: "#a".into(),
                topic: None
            }
        ),
        ":chatroom 331 bob #a :No topic is set\r\n"
    );
}

fn member(nick: &str, op: bool, away: Option<&str>) -> MemberInfo {
    MemberInfo {
        user: user(nick),
        op,
        voice: false,
        oper: false,
        away: away.map(Into::into),
    }
}

#[test]
fn names_split_under_512() {
    let mut r = registered("bob");
    let out = render(
        &mut r,
        Event::Names {
            room: "#a".into(),
            members: vec![member("alice", true, None), member("bob", false, None)],
            secret: false,
        },
    );
    assert_eq!(
        out,
        ":chatroom 353 bob = #a :@alice bob\r\n:chatroom 366 bob #a :End of /NAMES list.\r\n"
    );
    let many: Vec<MemberInfo> = (0..200)
        .map(|i| member(&format!("user{i:03}_long_nickname"), i == 0, None))
        .collect();
    let out = render(
        &mut r,
        Event::Names {
            room: "#a".into(),
            members: many,
            secret: false,
        },
    );
    let l = lines(&out);
    assert!(l.len() > 3);
    let mut seen = 0;
    for line in &l[..l.len() - 1] {
        assert!(line.len() <= 510);
        assert!(line.starts_with(":chatroom 353 bob = #a :"));
        seen += line
            .rsplit(" :")
            .next()
            .map(|n| n.split(' ').count())
            .unwrap_or(0);
    }
    assert_eq!(seen, 200);
    assert!(l[0].contains(":@user000_long_nickname "));
}

#[test]
fn list_who_whois() {
    let mut r = registered("bob");
    let out = render(
        &mut r,
        Event::RoomList {
            rooms: vec![RoomInfo {
                name: "#a".into(),
                members: 2,
                topic: Some("t".into()),
            }],
        },
    );
    assert_eq!(
        lines(&out),
        vec![
            ":chatroom 321 bob Channel :Users  Name",
            ":chatroom 322 bob #a 2 :t",
            ":chatroom 323 bob :End of /LIST",
        ]
    );
    let out = render(
        &mut r,
        Event::WhoReply {
            mask: "#a".into(),
            members: vec![
                member("alice", true, None),
                member("carol", false, Some("out")),
            ],
        },
    );
    assert_eq!(
        lines(&out),
        vec![
            ":chatroom 352 bob #a alice 127.0.0.1 chatroom alice H@ :0 alice R",
            ":chatroom 352 bob #a carol 127.0.0.1 chatroom carol G :0 carol R",
            ":chatroom 315 bob #a :End of /WHO list.",
        ]
    );
    let out = render(
        &mut r,
        Event::WhoReply {
            mask: "alice".into(),
            members: vec![member("alice", false, None)],
        },
    );
    assert!(out.starts_with(":chatroom 352 bob * alice 127.0.0.1 chatroom alice H :0 alice R\r\n"));
    let signon = UNIX_EPOCH + Duration::from_secs(1_600_000_000);
    let rooms: Vec<Name> = vec!["#a".into(), "#b".into()];
    let out = render(
        &mut r,
        Event::WhoisReply {
            user: user("alice"),
            rooms,
            standing: vec![(true, true), (false, false)],
            away: Some("lunch".into()),
            idle_secs: 5,
            signon,
            oper: true,
            secure: true,
            certfp: None,
        },
    );
    assert_eq!(
        lines(&out),
        vec![
            ":chatroom 311 bob alice alice 127.0.0.1 * :alice R",
            ":chatroom 319 bob alice :@#a #b",
            ":chatroom 312 bob alice chatroom :chatroom server",
            ":chatroom 313 bob alice :is an IRC operator",
            ":chatroom 671 bob alice :is using a secure connection",
            ":chatroom 301 bob alice :lunch",
            ":chatroom 317 bob alice 5 1600000000 :seconds idle, signon time",
            ":chatroom 318 bob alice :End of /WHOIS list.",
        ]
    );
}

#[test]
fn errors_map_to_numerics() {
    let mut r = renderer();
    // Before registration the target is `*`.
    assert_eq!(
        render(&mut r, Event::Error(HubError::NickInUse("bob".into()))),
        ":chatroom 433 * bob :Nickname is already in use\r\n"
    );
    let mut r = registered("bob");
    let cases: Vec<(HubError, &str)> = vec![
        (HubError::NotRegistered, ":chatroom 451 bob :"),
        (HubError::AlreadyRegistered, ":chatroom 462 bob :"),
        (HubError::NickInUse("x".into()), ":chatroom 433 bob x :"),
        (
            HubError::ErroneousNick {
                nick: "1x".into(),
                reason: "r",
            },
            ":chatroom 432 bob 1x :",
        ),
        (
            HubError::BadRoomName {
                name: "x".into(),
                reason: "r",
            },
            ":chatroom 403 bob x :",
        ),
        (HubError::NoSuchNick("z".into()), ":chatroom 401 bob z :"),
        (HubError::NoSuchRoom("#z".into()), ":chatroom 403 bob #z :"),
        (HubError::NotInRoom("#z".into()), ":chatroom 442 bob #z :"),
        (HubError::NoFocus, ":chatroom 403 bob * :"),
        (
            HubError::CannotSendToRoom("#z".into()),
            ":chatroom 404 bob #z :",
        ),
        (HubError::NoText, ":chatroom 412 bob :"),
        (HubError::TooManyRooms(50), ":chatroom 405 bob * :"),
    ];
    for (e, want) in cases {
        let out = render(&mut r, Event::Error(e.clone()));
        assert!(out.starts_with(want), "{e:?}: {out}");
        assert_eq!(lines(&out).len(), 1);
    }
}

#[test]
fn away_and_notices_and_closing() {
    let mut r = registered("bob");
    assert_eq!(
        render(
            &mut r,
            Event::IsAway {
                nick: "alice".into(),
                message: "afk".into()
            }
        ),
        ":chatroom 301 bob alice :afk\r\n"
    );
    assert_eq!(
        render(&mut r, Event::AwayChanged { away: true }),
        ":chatroom 306 bob :You have been marked as being away\r\n"
    );
    assert_eq!(
        render(&mut r, Event::AwayChanged { away: false }),
        ":chatroom 305 bob :You are no longer marked as being away\r\n"
    );
    assert_eq!(
        render(
            &mut r,
            Event::ServerNotice {
                text: "slow down".into()
            }
        ),
        ":chatroom NOTICE bob :slow down\r\n"
    );
    assert_eq!(
        render(
            &mut r,
            Event::Focus {
                room: Some("#a".into())
            }
        ),
        ""
    );
    assert_eq!(
        render(
            &mut r,
            Event::Closing {
                reason: "Quit: bye".into()
            }
        ),
        "ERROR :Closing link: (bob@127.0.0.1) [Quit: bye]\r\n"
    );
    let mut fresh = renderer();
    assert_eq!(
        render(
            &mut fresh,
            Event::Closing {
                reason: "Server full".into()
            }
        ),
        "ERROR :Closing link: [Server full]\r\n"
    );
}

#[test]
fn local_replies_carry_the_current_nick() {
    let mut r = renderer();
    assert_eq!(
        render(&mut r, Local::reply("CAP", &["LS", ""]).body()),
        ":chatroom CAP * LS :\r\n"
    );
    let mut r = registered("bob");
    assert_eq!(
        render(
            &mut r,
            Local::reply("421", &["FOO", "Unknown command"]).body()
        ),
        ":chatroom 421 bob FOO :Unknown command\r\n"
    );
    assert_eq!(
        render(&mut r, Local::reply_words("324", &["#a", "+n"]).body()),
        ":chatroom 324 bob #a +n\r\n"
    );
    // Plain raw bytes pass through.
    assert_eq!(
        render(&mut r, Bytes::from_static(b"PING :x\r\n")),
        "PING :x\r\n"
    );
}

#[test]
fn userhost_and_ison_fold_whois_replies() {
    let mut r = registered("bob");
    let whois = |nick: &str, away: Option<&str>| Event::WhoisReply {
        user: user(nick),
        rooms: vec![],
        standing: vec![],
        away: away.map(Into::into),
        idle_secs: 0,
        signon: SystemTime::now(),
        oper: false,
        secure: false,
        certfp: None,
    };
    assert_eq!(render(&mut r, Local::QuietBegin.body()), "");
    assert_eq!(render(&mut r, whois("alice", None)), "");
    assert_eq!(
        render(&mut r, Event::Error(HubError::NoSuchNick("zed".into()))),
        ""
    );
    assert_eq!(render(&mut r, whois("carol", Some("afk"))), "");
    // Other traffic still flows during the look-up.
    assert!(!render(&mut r, msg("alice", room("#a"), MsgKind::Say, "hi")).is_empty());
    assert_eq!(
        render(&mut r, Local::UserhostEnd.body()),
        ":chatroom 302 bob :alice=+alice@127.0.0.1 carol=-carol@127.0.0.1\r\n"
    );
    render(&mut r, Local::QuietBegin.body());
    render(&mut r, whois("alice", None));
    assert_eq!(
        render(&mut r, Local::IsonEnd.body()),
        ":chatroom 303 bob :alice\r\n"
    );
    // Outside a look-up, 401 is shown again.
    assert!(render(&mut r, Event::Error(HubError::NoSuchNick("zed".into()))).contains(" 401 "));
}

#[test]
fn unsafe_fields_stay_one_word() {
    let mut r = registered("bob");
    let odd = Arc::new(UserInfo {
        nick: "odd".into(),
        user: "two words".into(),
        realname: "Real Name".into(),
        host: "::1".into(),
        account: None,
    });
    let out = render(
        &mut r,
        Event::Joined {
            room: "#a".into(),
            who: odd.clone(),
        },
    );
    assert_eq!(out, ":odd!two_words@0::1 JOIN #a\r\n");
    let out = render(
        &mut r,
        Event::WhoReply {
            mask: "odd".into(),
            members: vec![MemberInfo {
                user: odd,
                op: false,
                voice: false,
                oper: false,
                away: None,
            }],
        },
    );
    let first = lines(&out)[0];
    let parsed = Message::parse(first).expect("parses");
    assert_eq!(parsed.params.len(), 8, "{first}");
    assert_eq!(parsed.params[3], "0::1");
}

#[test]
fn write_line_guards_parameters() {
    let mut out = BytesMut::new();
    write_line(
        &mut out,
        Some("s"),
        "X",
        &["", ":a", "b c"],
        Some(&"t".repeat(600)),
    );
    let s = String::from_utf8(out.to_vec()).expect("utf-8");
    assert!(s.starts_with(":s X * a b_c :ttt"));
    assert_eq!(s.len(), 512);
}

fn change(add: bool, mode: char, arg: Option<&str>) -> ModeChange {
    ModeChange {
        add,
        mode,
        arg: arg.map(Into::into),
    }
}

#[test]
fn mode_lines_group_changes_and_stay_short() {
    let mut r = registered("bob");
    let flags: Vec<ModeChange> = "imnst".chars().map(|c| change(false, c, None)).collect();
    let out = render(
        &mut r,
        Event::ModeChanged {
            target: "#a".into(),
            by: user("alice"),
            changes: flags,
        },
    );
    assert_eq!(out, ":alice!alice@127.0.0.1 MODE #a -imnst\r\n");
    let mask = format!("{}!*@*", "x".repeat(120));
    let mut changes = vec![change(true, 'o', Some("carol")), change(true, 'm', None)];
    changes.extend((0..5).map(|_| change(true, 'b', Some(&mask))));
    changes.push(change(false, 'v', Some("dave")));
    let out = render(
        &mut r,
        Event::ModeChanged {
            target: "#a".into(),
            by: user("alice"),
            changes,
        },
    );
    let l = lines(&out);
    assert_eq!(l.len(), 3, "{out}");
    assert!(l[0].starts_with(":alice!alice@127.0.0.1 MODE #a +ombb carol "));
    assert!(
        l[1].starts_with(":alice!alice@127.0.0.1 MODE #a +bbb "),
        "{}",
        l[1]
    );
    assert_eq!(l[2], ":alice!alice@127.0.0.1 MODE #a -v dave");
    assert!(l.iter().all(|line| line.len() <= 510));
    for line in &l {
        let m = Message::parse(line).expect("parses");
        assert_eq!(m.command, "MODE");
    }
    // User modes.
    let out = render(
        &mut r,
        Event::ModeChanged {
            target: "bob".into(),
            by: user("bob"),
            changes: vec![change(true, 'i', None)],
        },
    );
    assert_eq!(out, ":bob!bob@127.0.0.1 MODE bob +i\r\n");
}

#[test]
fn room_modes_lists_kick_invite_oper_whowas() {
    let mut r = registered("bob");
    let t = UNIX_EPOCH + Duration::from_secs(1_600_000_000);
    assert_eq!(
        render(
            &mut r,
            Event::RoomModes {
                room: "#a".into(),
                modes: "+ntkl".into(),
                args: vec!["key".into(), "5".into()],
                created: t,
            }
        ),
        ":chatroom 324 bob #a +ntkl key 5\r\n:chatroom 329 bob #a 1600000000\r\n"
    );
    let entry = ListEntry {
        mask: "x!*@*".into(),
        setter: "alice".into(),
        time: t,
    };
    for (mode, item, end) in [
        ('b', "367", "368"),
        ('e', "348", "349"),
        ('I', "346", "347"),
    ] {
        let out = render(
            &mut r,
            Event::ModeList {
                room: "#a".into(),
                mode,
                entries: vec![entry.clone()],
            },
        );
        let l = lines(&out);
        assert_eq!(
            l[0],
            format!(":chatroom {item} bob #a x!*@* alice 1600000000")
        );
        assert!(l[1].starts_with(&format!(":chatroom {end} bob #a :End of channel ")));
    }
    assert_eq!(
        render(
            &mut r,
            Event::Kicked {
                room: "#a".into(),
                by: user("alice"),
                nick: "carol".into(),
                reason: "bye now".into(),
            }
        ),
        ":alice!alice@127.0.0.1 KICK #a carol :bye now\r\n"
    );
    // The invitee sees INVITE, the inviter 341.
    assert_eq!(
        render(
            &mut r,
            Event::Invited {
                room: "#a".into(),
                by: user("alice"),
                nick: "bob".into(),
            }
        ),
        ":alice!alice@127.0.0.1 INVITE bob #a\r\n"
    );
    assert_eq!(
        render(
            &mut r,
            Event::Invited {
                room: "#a".into(),
                by: user("bob"),
                nick: "carol".into(),
            }
        ),
        ":chatroom 341 bob carol #a\r\n"
    );
    assert_eq!(
        render(&mut r, Event::YoureOper),
        ":chatroom 381 bob :You are now an IRC operator\r\n"
    );
    assert_eq!(
        render(
            &mut r,
            Event::UserModes {
                modes: "+io".into()
            }
        ),
        ":chatroom 221 bob +io\r\n"
    );
    let out = render(
        &mut r,
        Event::WhowasReply {
            nick: "ghost".into(),
            entries: vec![],
        },
    );
    assert_eq!(
        lines(&out),
        vec![
            ":chatroom 406 bob ghost :There was no such nickname",
            ":chatroom 369 bob ghost :End of WHOWAS"
        ]
    );
    let out = render(
        &mut r,
        Event::WhowasReply {
            nick: "ghost".into(),
            entries: vec![chatroom_core::WhowasEntry {
                user: user("ghost"),
                left: t,
            }],
        },
    );
    let l = lines(&out);
    assert_eq!(l[0], ":chatroom 314 bob ghost ghost 127.0.0.1 * :ghost R");
    assert!(l[1].starts_with(":chatroom 312 bob ghost chatroom :"));
    assert_eq!(l[2], ":chatroom 369 bob ghost :End of WHOWAS");
}

#[test]
fn refusals_map_to_their_numerics() {
    let mut r = registered("bob");
    let room = || -> Name { "#a".into() };
    let cases: Vec<(HubError, &str)> = vec![
        (
            HubError::CannotSend {
                room: room(),
                reason: "x",
            },
            ":chatroom 404 bob #a :",
        ),
        (
            HubError::ChanOpPrivsNeeded(room()),
            ":chatroom 482 bob #a :",
        ),
        (
            HubError::UserNotInRoom {
                nick: "c".into(),
                room: room(),
            },
            ":chatroom 441 bob c #a :",
        ),
        (
            HubError::UserOnChannel {
                nick: "c".into(),
                room: room(),
            },
            ":chatroom 443 bob c #a :",
        ),
        (HubError::KeySet(room()), ":chatroom 467 bob #a :"),
        (HubError::ChannelIsFull(room()), ":chatroom 471 bob #a :"),
        (HubError::UnknownMode { mode: 'z' }, ":chatroom 472 bob z :"),
        (HubError::InviteOnly(room()), ":chatroom 473 bob #a :"),
        (HubError::Banned(room()), ":chatroom 474 bob #a :"),
        (HubError::BadKey(room()), ":chatroom 475 bob #a :"),
        (
            HubError::BadRoomName {
                name: "#a\u{7}".into(),
                reason: "x",
            },
            ":chatroom 476 bob #a\u{7} :",
        ),
        (
            HubError::ListFull {
                room: room(),
                mode: 'b',
            },
            ":chatroom 478 bob #a b :",
        ),
        (HubError::NoPrivileges, ":chatroom 481 bob :"),
        (HubError::PasswordMismatch, ":chatroom 464 bob :"),
        (HubError::NoOperHost, ":chatroom 491 bob :"),
        (
            HubError::UnknownUserMode { mode: 'q' },
            ":chatroom 501 bob :",
        ),
        (HubError::UsersDontMatch, ":chatroom 502 bob :"),
    ];
    for (e, want) in cases {
        let out = render(&mut r, Event::Error(e.clone()));
        assert!(out.starts_with(want), "{e:?}: {out}");
    }
}

#[test]
fn whox_replies_use_the_requested_fields_once() {
    let mut r = registered("bob");
    render(
        &mut r,
        Local::Whox {
            fields: "rnt".into(),
            token: "7".into(),
        }
        .body(),
    );
    let who = || Event::WhoReply {
        mask: "#a".into(),
        members: vec![MemberInfo {
            user: user("alice"),
            op: true,
            voice: false,
            oper: true,
            away: Some("afk".into()),
        }],
    };
    let out = render(&mut r, who());
    assert_eq!(
        lines(&out),
        vec![
            ":chatroom 354 bob 7 alice :alice R",
            ":chatroom 315 bob #a :End of /WHO list."
        ]
    );
    // The next WHO is a plain one again.
    let out = render(&mut r, who());
    assert!(
        out.starts_with(":chatroom 352 bob #a alice 127.0.0.1 chatroom alice G*@ :0 alice R\r\n")
    );
}

// ---------------------------------------------------------------- IRCv3

fn with_caps(me: &str, caps: &[Cap]) -> IrcRenderer {
    let mut r = registered(me);
    let set: CapSet = caps.iter().copied().collect();
    render(&mut r, Local::Caps(set).body());
    r
}

fn tagged_msg(from: &str, text: &str, id: u64, at: SystemTime) -> Event {
    Event::Message {
        id,
        time: at,
        from: user(from),
        to: room("#a"),
        kind: MsgKind::Say,
        text: text.into(),
        tags: vec![("+draft/reply".into(), "7".into())],
    }
}

#[test]
fn recipients_with_the_same_caps_share_one_encoding() {
    let at = UNIX_EPOCH + Duration::from_millis(1_795_000_000_123);
    let env = Envelope::new(tagged_msg("alice", "hi", 42, at));
    let mut plain = BytesMut::new();
    let mut timed = BytesMut::new();
    let mut both = BytesMut::new();
    registered("bob").render(&env, &mut plain);
    with_caps("carol", &[Cap::ServerTime]).render(&env, &mut timed);
    with_caps("dave", &[Cap::ServerTime, Cap::MessageTags]).render(&env, &mut both);
    assert_eq!(&plain[..], b":alice!alice@127.0.0.1 PRIVMSG #a :hi\r\n");
    assert_eq!(
        &timed[..],
        b"@time=2026-11-18T11:06:40.123Z :alice!alice@127.0.0.1 PRIVMSG #a :hi\r\n"
    );
    assert_eq!(
        &both[..],
        &b"@time=2026-11-18T11:06:40.123Z;msgid=42;+draft/reply=7 :alice!alice@127.0.0.1 PRIVMSG #a :hi\r\n"[..]
    );
    // Each variant sits in its own slot; a later recipient reuses it.
    for (s, want) in [
        (slot(false, false), &plain),
        (slot(true, false), &timed),
        (slot(true, true), &both),
    ] {
        let cached = env.rendered(s, |_| Bytes::from_static(b"not used"));
        assert_eq!(&cached[..], &want[..]);
    }
    let mut again = BytesMut::new();
    with_caps("erin", &[Cap::MessageTags, Cap::ServerTime]).render(&env, &mut again);
    assert_eq!(again, both);
}

#[test]
fn tagmsg_needs_message_tags_and_echo_needs_echo_message() {
    let tag = Event::TagMsg {
        id: 3,
        time: SystemTime::now(),
        from: user("alice"),
        to: room("#a"),
        tags: vec![("+typing".into(), "active".into())],
    };
    assert_eq!(render(&mut registered("bob"), tag.clone()), "");
    let got = render(&mut with_caps("bob", &[Cap::MessageTags]), tag.clone());
    assert_eq!(
        got,
        "@msgid=3;+typing=active :alice!alice@127.0.0.1 TAGMSG #a\r\n"
    );
    // One's own: only with echo-message.
    assert_eq!(
        render(&mut with_caps("alice", &[Cap::MessageTags]), tag.clone()),
        ""
    );
    let mut echo = with_caps("alice", &[Cap::MessageTags, Cap::EchoMessage]);
    assert!(render(&mut echo, tag).contains(" TAGMSG #a"));
    let own = msg("alice", room("#a"), MsgKind::Say, "mine");
    assert_eq!(render(&mut with_caps("alice", &[]), own.clone()), "");
    assert_eq!(
        render(&mut with_caps("alice", &[Cap::EchoMessage]), own),
        ":alice!alice@127.0.0.1 PRIVMSG #a :mine\r\n"
    );
}

#[test]
fn labels_single_line_batch_and_ack() {
    let mut r = with_caps("bob", &[Cap::LabeledResponse, Cap::Batch]);
    let mut out = BytesMut::new();
    fn feed(r: &mut IrcRenderer, ev: impl Into<Body>, out: &mut BytesMut) {
        r.render(&Envelope::new(ev), out);
    }
    feed(&mut r, Local::LabelBegin("a b".into()).body(), &mut out);
    feed(&mut r, Local::LabelEnd.body(), &mut out);
    assert_eq!(&out[..], b"@label=a\\sb :chatroom ACK\r\n");
    out.clear();
    feed(&mut r, Local::LabelBegin("one".into()).body(), &mut out);
    feed(&mut r, Event::UserModes { modes: "+i".into() }, &mut out);
    assert!(out.is_empty(), "held until the end of the response");
    feed(&mut r, Local::LabelEnd.body(), &mut out);
    assert_eq!(&out[..], b"@label=one :chatroom 221 bob +i\r\n");
    out.clear();
    feed(&mut r, Local::LabelBegin("many".into()).body(), &mut out);
    feed(
        &mut r,
        Event::Names {
            room: "#a".into(),
            members: vec![],
            secret: false,
        },
        &mut out,
    );
    feed(&mut r, Event::UserModes { modes: "+".into() }, &mut out);
    feed(&mut r, Local::LabelEnd.body(), &mut out);
    let text = String::from_utf8(out.to_vec()).expect("utf-8");
    assert_eq!(
        lines(&text),
        vec![
            "@label=many :chatroom BATCH +L1 labeled-response",
            "@batch=L1 :chatroom 366 bob #a :End of /NAMES list.",
            "@batch=L1 :chatroom 221 bob +",
            ":chatroom BATCH -L1",
        ]
    );
    // A connection closing mid-response still gets what was answered.
    out.clear();
    feed(&mut r, Local::LabelBegin("q".into()).body(), &mut out);
    feed(&mut r, Event::UserModes { modes: "+".into() }, &mut out);
    feed(
        &mut r,
        Event::Closing {
            reason: "bye".into(),
        },
        &mut out,
    );
    let text = String::from_utf8(out.to_vec()).expect("utf-8");
    assert!(
        text.starts_with("@label=q :chatroom 221 bob +\r\nERROR "),
        "{text}"
    );
}

#[test]
fn a_message_to_oneself_is_echo_and_delivery() {
    let to_self = msg("bob", MsgTarget::Nick("bob".into()), MsgKind::Say, "note");
    let line = ":bob!bob@127.0.0.1 PRIVMSG bob :note\r\n";
    assert_eq!(render(&mut registered("bob"), to_self.clone()), line);
    let mut echo = with_caps("bob", &[Cap::EchoMessage]);
    assert_eq!(render(&mut echo, to_self.clone()), line.repeat(2));
    // Labeled: the delivery goes out as it is, the echo is the response.
    let mut r = with_caps("bob", &[Cap::EchoMessage, Cap::LabeledResponse, Cap::Batch]);
    let mut out = BytesMut::new();
    for ev in [
        Local::LabelBegin("s".into()).body(),
        to_self.clone().into(),
        Local::LabelEnd.body(),
    ] {
        r.render(&Envelope::new(ev), &mut out);
    }
    assert_eq!(&out[..], format!("{line}@label=s {line}").as_bytes());
    // Without echo-message the delivery is no response: an ACK.
    let mut r = with_caps("bob", &[Cap::LabeledResponse, Cap::Batch]);
    let mut out = BytesMut::new();
    for ev in [
        Local::LabelBegin("t".into()).body(),
        to_self.into(),
        Local::LabelEnd.body(),
    ] {
        r.render(&Envelope::new(ev), &mut out);
    }
    assert_eq!(
        &out[..],
        format!("{line}@label=t :chatroom ACK\r\n").as_bytes()
    );
}

#[test]
fn names_with_multi_prefix_and_userhost_and_extended_join() {
    let mut both = MemberInfo {
        user: user("alice"),
        op: true,
        voice: true,
        oper: false,
        away: None,
    };
    let names = |caps: &[Cap], m: &MemberInfo| {
        render(
            &mut with_caps("bob", caps),
            Event::Names {
                room: "#a".into(),
                members: vec![m.clone()],
                secret: false,
            },
        )
    };
    assert!(names(&[], &both).contains(" :@alice\r\n"));
    assert!(names(&[Cap::MultiPrefix], &both).contains(" :@+alice\r\n"));
    assert!(
        names(&[Cap::MultiPrefix, Cap::UserhostInNames], &both)
            .contains(" :@+alice!alice@127.0.0.1\r\n")
    );
    both.op = false;
    assert!(names(&[Cap::MultiPrefix], &both).contains(" :+alice\r\n"));
    let join = Event::Joined {
        room: "#a".into(),
        who: user("alice"),
    };
    assert_eq!(
        render(&mut with_caps("bob", &[Cap::ExtendedJoin]), join.clone()),
        ":alice!alice@127.0.0.1 JOIN #a * :alice R\r\n"
    );
    assert_eq!(
        render(&mut registered("bob"), join),
        ":alice!alice@127.0.0.1 JOIN #a\r\n"
    );
}

#[test]
fn away_setname_and_invite_notices_need_their_caps() {
    let away = Event::AwayStatus {
        who: user("alice"),
        message: Some("lunch".into()),
    };
    let back = Event::AwayStatus {
        who: user("alice"),
        message: None,
    };
    let name = Event::RealnameChanged { who: user("alice") };
    let invite = Event::InviteNotice {
        room: "#a".into(),
        by: user("alice"),
        nick: "dave".into(),
    };
    for ev in [&away, &back, &name, &invite] {
        assert_eq!(render(&mut registered("bob"), ev.clone()), "");
    }
    let mut r = with_caps("bob", &[Cap::AwayNotify, Cap::Setname, Cap::InviteNotify]);
    assert_eq!(
        render(&mut r, away),
        ":alice!alice@127.0.0.1 AWAY :lunch\r\n"
    );
    assert_eq!(render(&mut r, back), ":alice!alice@127.0.0.1 AWAY\r\n");
    assert_eq!(
        render(&mut r, name),
        ":alice!alice@127.0.0.1 SETNAME :alice R\r\n"
    );
    assert_eq!(
        render(&mut r, invite),
        ":alice!alice@127.0.0.1 INVITE dave #a\r\n"
    );
}

#[test]
fn standard_replies_their_specs_require_need_no_capability() {
    let fail = Event::Error(HubError::InvalidRealname);
    let with = render(&mut with_caps("bob", &[Cap::StandardReplies]), fail.clone());
    assert!(
        with.starts_with(":chatroom FAIL SETNAME INVALID_REALNAME :Realname is not valid"),
        "{with}"
    );
    assert_eq!(render(&mut registered("bob"), fail), with);
    let utf8 = Local::fail("PRIVMSG", "INVALID_UTF8", &[], "bad bytes").body();
    assert_eq!(
        render(&mut with_caps("bob", &[Cap::StandardReplies]), utf8),
        ":chatroom FAIL PRIVMSG INVALID_UTF8 :bad bytes\r\n"
    );
}

#[test]
fn whois_end_follows_only_a_missing_nickname() {
    let mut r = registered("bob");
    let got = render(&mut r, Event::Error(HubError::NoSuchNick("zed".into())));
    assert!(got.contains(" 401 bob zed "));
    let got = render(&mut r, Local::WhoisEnd("ZED".into()).body());
    assert_eq!(got, ":chatroom 318 bob ZED :End of /WHOIS list.\r\n");
    // Once only, and never after a found nickname.
    assert_eq!(render(&mut r, Local::WhoisEnd("zed".into()).body()), "");
}

fn logged_in(nick: &str, account: &str) -> Arc<UserInfo> {
    Arc::new(UserInfo {
        account: Some(account.into()),
        ..(*user(nick)).clone()
    })
}

#[test]
fn account_tag_uses_its_own_slots_only_for_logged_in_senders() {
    let env = Envelope::new(Event::Message {
        id: 7,
        time: SystemTime::now(),
        from: logged_in("alice", "alice"),
        to: MsgTarget::Room("#a".into()),
        kind: MsgKind::Say,
        text: "hi".into(),
        tags: Vec::new(),
    });
    let mut tagged = BytesMut::new();
    with_caps("bob", &[Cap::AccountTag]).render(&env, &mut tagged);
    assert_eq!(
        &tagged[..],
        b"@account=alice :alice!alice@127.0.0.1 PRIVMSG #a :hi\r\n"
    );
    let mut plain = BytesMut::new();
    with_caps("carol", &[]).render(&env, &mut plain);
    assert_eq!(&plain[..], b":alice!alice@127.0.0.1 PRIVMSG #a :hi\r\n");
    let cached = env.rendered(message_slot(false, false, true), |_| Bytes::new());
    assert_eq!(cached, tagged.freeze());
    assert_eq!(
        message_slot(true, false, true),
        Slot::IrcAccount {
            time: true,
            tagged: false
        }
    );
    // A sender who is not logged in: the tag changes nothing, the plain slot is used.
    let anon = Envelope::new(msg(
        "dave",
        MsgTarget::Room("#a".into()),
        MsgKind::Say,
        "yo",
    ));
    let mut out = BytesMut::new();
    with_caps("bob", &[Cap::AccountTag]).render(&anon, &mut out);
    assert_eq!(&out[..], b":dave!dave@127.0.0.1 PRIVMSG #a :yo\r\n");
}

#[test]
fn account_notify_extended_join_and_whois_show_the_account() {
    let ev = Event::AccountChanged {
        who: logged_in("alice", "alice"),
    };
    assert_eq!(
        render(&mut with_caps("bob", &[Cap::AccountNotify]), ev.clone()),
        ":alice!alice@127.0.0.1 ACCOUNT alice\r\n"
    );
    assert_eq!(render(&mut with_caps("bob", &[]), ev), "");
    let out = render(
        &mut with_caps("bob", &[Cap::AccountNotify]),
        Event::AccountChanged { who: user("alice") },
    );
    assert_eq!(out, ":alice!alice@127.0.0.1 ACCOUNT *\r\n");
    let join = Event::Joined {
        room: "#a".into(),
        who: logged_in("alice", "Alice"),
    };
    assert_eq!(
        render(&mut with_caps("bob", &[Cap::ExtendedJoin]), join),
        ":alice!alice@127.0.0.1 JOIN #a Alice :alice R\r\n"
    );
    let out = render(
        &mut registered("bob"),
        Event::WhoisReply {
            user: logged_in("alice", "alice"),
            rooms: Vec::new(),
            standing: Vec::new(),
            away: None,
            idle_secs: 0,
            signon: SystemTime::now(),
            oper: false,
            secure: true,
            certfp: Some("AB:CD".into()),
        },
    );
    assert!(
        out.contains(":chatroom 330 bob alice alice :is logged in as\r\n"),
        "{out}"
    );
    assert!(
        out.contains(":chatroom 276 bob alice :has client certificate fingerprint AB:CD\r\n"),
        "{out}"
    );
}

#[test]
fn held_messages_signal_once_written_and_not_when_dropped() {
    let line = msg(
        "bob",
        MsgTarget::Nick("alice".into()),
        MsgKind::Say,
        "later",
    );
    let (tx, rx) = std::sync::mpsc::channel();
    let handed = Handed::new(move || {
        let _ = tx.send(());
    });
    let ev = Local::Held {
        lines: vec![line.clone()],
        handed,
    }
    .body();
    let mut r = registered("alice2");
    let out = render(&mut r, ev);
    // Addressed to the nickname the recipient has now, time in front.
    assert!(
        out.starts_with(":bob!bob@127.0.0.1 PRIVMSG alice2 :["),
        "{out}"
    );
    assert!(out.ends_with("] later\r\n"), "{out}");
    assert_eq!(rx.try_recv(), Ok(()));
    // Never rendered (the connection was cut): the session hears nothing good.
    let (tx, rx) = std::sync::mpsc::channel();
    let handed = Handed::new(move || {
        let _ = tx.send(());
    });
    drop(
        Local::Held {
            lines: vec![line],
            handed,
        }
        .body(),
    );
    assert!(rx.try_recv().is_err());
}
