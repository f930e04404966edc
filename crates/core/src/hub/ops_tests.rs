//! The hub's modes, KICK, INVITE, OPER/KILL, WHOWAS and LUSERS without a
//! network: commands in, the events each connection receives out.

use super::*;
use crate::{Lusers, Overflow, SayTarget};

struct T {
    hub: Hub,
    out: Vec<(ConnId, Arc<Event>)>,
    clock: Arc<crate::ManualClock>,
}

impl T {
    fn new() -> T {
        T::with(HubConfig::default())
    }

    fn with(cfg: HubConfig) -> T {
        let clock = Arc::new(crate::ManualClock::new_year());
        T {
            hub: Hub::new(cfg, clock.clone()),
            out: Vec::new(),
            clock,
        }
    }

    fn run(&mut self, conn: ConnId, cmd: Command) -> Result<(), HubError> {
        self.out.clear();
        self.hub.handle(conn, cmd, &mut self.out)
    }

    fn ok(&mut self, conn: ConnId, cmd: Command) {
        let r = self.run(conn, cmd.clone());
        assert_eq!(r, Ok(()), "{cmd:?} from {conn}");
    }

    fn refused(&mut self, conn: ConnId, cmd: Command, err: HubError) {
        let r = self.run(conn, cmd.clone());
        assert_eq!(r, Err(err), "{cmd:?} from {conn}");
        assert!(self.out.is_empty(), "a refusal delivered {:?}", self.all());
    }

    fn reg(&mut self, conn: ConnId, nick: &str) {
        self.ok(
            conn,
            Command::Register {
                nick: nick.into(),
                user: format!("{nick}_u"),
                realname: format!("{nick} Real"),
                host: format!("10.0.0.{conn}"),
            },
        );
    }

    fn to(&self, conn: ConnId) -> Vec<Event> {
        self.out
            .iter()
            .filter(|(c, _)| *c == conn)
            .map(|(_, e)| (**e).clone())
            .collect()
    }

    fn all(&self) -> Vec<(ConnId, Event)> {
        self.out.iter().map(|(c, e)| (*c, (**e).clone())).collect()
    }

    /// Errors sent as events (mode strings report refusals this way).
    fn errors(&self, conn: ConnId) -> Vec<HubError> {
        self.to(conn)
            .into_iter()
            .filter_map(|e| match e {
                Event::Error(e) => Some(e),
                _ => None,
            })
            .collect()
    }

    fn mode(&mut self, conn: ConnId, target: &str, args: &[&str]) {
        self.ok(
            conn,
            Command::Mode {
                target: target.into(),
                args: args.iter().map(|a| a.to_string()).collect(),
            },
        );
    }

    fn join(&mut self, conn: ConnId, room: &str) -> Result<(), HubError> {
        self.run(conn, Command::Join(room.into()))
    }

    fn say(&mut self, conn: ConnId, room: &str, text: &str) -> Result<(), HubError> {
        self.run(
            conn,
            Command::Say {
                target: SayTarget::Room(room.into()),
                kind: MsgKind::Say,
                text: text.into(),
                tags: Vec::new(),
                overflow: Overflow::Cut,
            },
        )
    }

    /// The mode changes `conn` was told of by the last command.
    fn changes(&self, conn: ConnId) -> Vec<(bool, char, Option<String>)> {
        self.to(conn)
            .into_iter()
            .filter_map(|e| match e {
                Event::ModeChanged { changes, .. } => Some(changes),
                _ => None,
            })
            .flatten()
            .map(|c| (c.add, c.mode, c.arg.map(|a| a.to_string())))
            .collect()
    }

    fn names(&mut self, conn: ConnId, room: &str) -> Vec<(String, bool, bool)> {
        self.ok(conn, Command::Names(room.into()));
        match &self.to(conn)[..] {
            [Event::Names { members, .. }] => members
                .iter()
                .map(|m| (m.user.nick.to_string(), m.op, m.voice))
                .collect(),
            other => panic!("expected names, got {other:?}"),
        }
    }
}

fn c(add: bool, mode: char, arg: Option<&str>) -> (bool, char, Option<String>) {
    (add, mode, arg.map(String::from))
}

fn name(s: &str) -> Name {
    s.into()
}

/// alice (1) creates #r and is its operator; bob (2) joins it.
fn room_with_two() -> T {
    let mut t = T::new();
    t.reg(1, "alice");
    t.reg(2, "bob");
    t.join(1, "#r").expect("alice joins");
    t.join(2, "#r").expect("bob joins");
    t
}

#[test]
fn first_joiner_is_operator_and_rooms_start_nt() {
    let mut t = room_with_two();
    assert_eq!(
        t.names(2, "#r"),
        vec![("alice".into(), true, false), ("bob".into(), false, false)]
    );
    t.mode(2, "#r", &[]);
    match &t.to(2)[..] {
        [
            Event::RoomModes {
                room, modes, args, ..
            },
        ] => {
            assert_eq!(&**room, "#r");
            assert_eq!(&**modes, "+nt");
            assert!(args.is_empty());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn only_operators_change_modes() {
    let mut t = room_with_two();
    t.mode(2, "#r", &["+m"]);
    assert_eq!(t.errors(2), vec![HubError::ChanOpPrivsNeeded(name("#r"))]);
    assert!(t.changes(1).is_empty());
    // Non-members are refused the same way; a list query is allowed.
    t.reg(3, "carol");
    t.mode(3, "#r", &["+b"]);
    assert!(
        matches!(&t.to(3)[..], [Event::ModeList { mode: 'b', entries, .. }] if entries.is_empty())
    );
    t.refused(
        3,
        Command::Mode {
            target: "#nope".into(),
            args: vec![],
        },
        HubError::NoSuchRoom(name("#nope")),
    );
}

#[test]
fn op_and_voice_are_given_and_taken_and_told_to_the_room() {
    let mut t = room_with_two();
    t.mode(1, "#r", &["+ov", "bob", "BOB"]);
    let expected = vec![c(true, 'o', Some("bob")), c(true, 'v', Some("bob"))];
    assert_eq!(t.changes(1), expected);
    assert_eq!(t.changes(2), expected);
    assert_eq!(
        t.names(2, "#r"),
        vec![("alice".into(), true, false), ("bob".into(), true, true)]
    );
    // Giving what is held changes nothing and tells nobody.
    t.mode(1, "#r", &["+o", "bob"]);
    assert!(t.all().is_empty());
    // bob, now operator, takes alice's.
    t.mode(2, "#r", &["-o", "alice"]);
    assert_eq!(t.changes(1), vec![c(false, 'o', Some("alice"))]);
    // Unknown people and people elsewhere.
    t.reg(3, "carol");
    t.mode(2, "#r", &["+o", "ghost"]);
    assert_eq!(t.errors(2), vec![HubError::NoSuchNick(name("ghost"))]);
    t.mode(2, "#r", &["+v", "carol"]);
    assert_eq!(
        t.errors(2),
        vec![HubError::UserNotInRoom {
            nick: name("carol"),
            room: name("#r")
        }]
    );
}

#[test]
fn moderated_rooms_let_only_voiced_and_operators_speak() {
    let mut t = room_with_two();
    t.mode(1, "#r", &["+m"]);
    assert_eq!(t.changes(2), vec![c(true, 'm', None)]);
    assert!(matches!(
        t.say(2, "#r", "hi"),
        Err(HubError::CannotSend { .. })
    ));
    assert!(t.out.is_empty());
    t.say(1, "#r", "ops may").expect("op speaks");
    t.mode(1, "#r", &["+v", "bob"]);
    t.say(2, "#r", "voiced").expect("voiced speaks");
}

#[test]
fn no_external_messages_unless_minus_n() {
    let mut t = room_with_two();
    t.reg(3, "carol");
    assert_eq!(
        t.say(3, "#r", "from outside"),
        Err(HubError::CannotSendToRoom(name("#r")))
    );
    t.mode(1, "#r", &["-n"]);
    t.say(3, "#r", "from outside")
        .expect("-n lets outsiders speak");
    assert_eq!(t.to(1).len(), 1);
    assert_eq!(t.to(2).len(), 1);
}

#[test]
fn bans_and_exceptions() {
    let mut t = room_with_two();
    t.reg(3, "carol");
    // A bare nick becomes a full mask; matching ignores case.
    t.mode(1, "#r", &["+b", "CAROL"]);
    assert_eq!(t.changes(1), vec![c(true, 'b', Some("CAROL!*@*"))]);
    assert_eq!(t.join(3, "#r"), Err(HubError::Banned(name("#r"))));
    // Banned members cannot speak.
    t.mode(1, "#r", &["+b", "*!*@10.0.0.2"]);
    assert!(matches!(
        t.say(2, "#r", "hi"),
        Err(HubError::CannotSend { .. })
    ));
    // An exception lifts the ban.
    t.mode(1, "#r", &["+e", "*!bob_u@*"]);
    t.say(2, "#r", "hi").expect("excepted");
    t.mode(1, "#r", &["+e", "carol"]);
    t.join(3, "#r").expect("excepted carol joins");
    // The lists, with setter.
    t.mode(2, "#r", &["b"]);
    match &t.to(2)[..] {
        [
            Event::ModeList {
                mode: 'b', entries, ..
            },
        ] => {
            let masks: Vec<&str> = entries.iter().map(|e| &*e.mask).collect();
            assert_eq!(masks, vec!["CAROL!*@*", "*!*@10.0.0.2"]);
            assert_eq!(&*entries[0].setter, "alice");
        }
        other => panic!("{other:?}"),
    }
    // Removal matches the mask whatever its case; removing twice is quiet.
    t.mode(1, "#r", &["-b", "carol!*@*"]);
    assert_eq!(t.changes(1), vec![c(false, 'b', Some("CAROL!*@*"))]);
    t.mode(1, "#r", &["-b", "carol!*@*"]);
    assert!(t.all().is_empty());
}

#[test]
fn lists_are_bounded() {
    let mut t = T::with(HubConfig {
        max_list_entries: 2,
        ..HubConfig::default()
    });
    t.reg(1, "alice");
    t.join(1, "#r").expect("join");
    t.mode(1, "#r", &["+bbb", "a", "b", "c"]);
    assert_eq!(t.changes(1).len(), 2);
    assert_eq!(
        t.errors(1),
        vec![HubError::ListFull {
            room: name("#r"),
            mode: 'b'
        }]
    );
}

#[test]
fn invite_only_with_invitations_and_invite_exceptions() {
    let mut t = room_with_two();
    t.reg(3, "carol");
    t.reg(4, "dave");
    t.mode(1, "#r", &["+i"]);
    assert_eq!(t.join(3, "#r"), Err(HubError::InviteOnly(name("#r"))));
    // Only operators invite into a +i room.
    t.refused(
        2,
        Command::Invite {
            nick: "carol".into(),
            room: "#r".into(),
        },
        HubError::ChanOpPrivsNeeded(name("#r")),
    );
    t.ok(
        1,
        Command::Invite {
            nick: "CAROL".into(),
            room: "#r".into(),
        },
    );
    let expected = Event::Invited {
        room: name("#r"),
        by: t
            .to(1)
            .iter()
            .find_map(|e| match e {
                Event::Invited { by, .. } => Some(by.clone()),
                _ => None,
            })
            .expect("inviter told"),
        nick: name("carol"),
    };
    assert_eq!(t.to(3), vec![expected]);
    t.join(3, "#r").expect("invited carol joins");
    // The invitation is used up.
    t.ok(
        3,
        Command::Part {
            room: "#r".into(),
            reason: None,
        },
    );
    assert_eq!(t.join(3, "#r"), Err(HubError::InviteOnly(name("#r"))));
    // An invite exception needs no invitation.
    t.mode(1, "#r", &["+I", "*!dave_u@*"]);
    t.join(4, "#r").expect("dave matches +I");
}

#[test]
fn invite_errors() {
    let mut t = room_with_two();
    t.reg(3, "carol");
    let invite = |nick: &str, room: &str| Command::Invite {
        nick: nick.into(),
        room: room.into(),
    };
    t.refused(
        1,
        invite("ghost", "#r"),
        HubError::NoSuchNick(name("ghost")),
    );
    t.refused(
        1,
        invite("carol", "#nope"),
        HubError::NoSuchRoom(name("#nope")),
    );
    t.refused(3, invite("bob", "#r"), HubError::NotInRoom(name("#r")));
    t.refused(
        1,
        invite("bob", "#r"),
        HubError::UserOnChannel {
            nick: name("bob"),
            room: name("#r"),
        },
    );
    // The inviter hears that the invitee is away.
    t.ok(3, Command::Away(Some("lunch".into())));
    t.ok(2, invite("carol", "#r"));
    assert!(
        t.to(2)
            .iter()
            .any(|e| matches!(e, Event::IsAway { message, .. } if &**message == "lunch"))
    );
}

#[test]
fn keys_and_limits() {
    let mut t = room_with_two();
    t.reg(3, "carol");
    t.reg(4, "dave");
    t.mode(1, "#r", &["+kl", "sesame", "3"]);
    assert_eq!(
        t.changes(1),
        vec![c(true, 'k', Some("sesame")), c(true, 'l', Some("3"))]
    );
    assert_eq!(t.join(3, "#r"), Err(HubError::BadKey(name("#r"))));
    assert_eq!(
        t.run(
            3,
            Command::JoinKey {
                room: "#r".into(),
                key: "wrong".into()
            }
        ),
        Err(HubError::BadKey(name("#r")))
    );
    t.ok(
        3,
        Command::JoinKey {
            room: "#r".into(),
            key: "sesame".into(),
        },
    );
    assert_eq!(
        t.run(
            4,
            Command::JoinKey {
                room: "#r".into(),
                key: "sesame".into()
            }
        ),
        Err(HubError::ChannelIsFull(name("#r")))
    );
    // A second key needs the first removed (RFC 2812's 467).
    t.mode(1, "#r", &["+k", "other"]);
    assert_eq!(t.errors(1), vec![HubError::KeySet(name("#r"))]);
    // Members see the key, others a placeholder.
    t.mode(4, "#r", &[]);
    assert!(
        matches!(&t.to(4)[..], [Event::RoomModes { modes, args, .. }] if &**modes == "+ntkl" && args == &vec![name("*"), name("3")])
    );
    t.mode(2, "#r", &[]);
    assert!(
        matches!(&t.to(2)[..], [Event::RoomModes { args, .. }] if args == &vec![name("sesame"), name("3")])
    );
    t.mode(1, "#r", &["-kl", "*"]);
    assert_eq!(
        t.changes(1),
        vec![c(false, 'k', Some("*")), c(false, 'l', None)]
    );
    t.join(4, "#r").expect("open again");
}

#[test]
fn secret_rooms_are_hidden_from_outsiders() {
    let mut t = room_with_two();
    t.reg(3, "carol");
    t.mode(1, "#r", &["+s"]);
    t.ok(3, Command::ListRooms);
    assert!(
        matches!(&t.to(3)[..], [Event::RoomList { rooms }] if rooms.iter().all(|r| &*r.name != "#r"))
    );
    t.ok(2, Command::ListRooms);
    assert!(
        matches!(&t.to(2)[..], [Event::RoomList { rooms }] if rooms.iter().any(|r| &*r.name == "#r"))
    );
    assert!(t.names(3, "#r").is_empty());
    t.ok(3, Command::Whois("alice".into()));
    assert!(
        matches!(&t.to(3)[..], [Event::WhoisReply { rooms, .. }] if !rooms.contains(&name("#r")))
    );
    t.ok(3, Command::Who("#r".into()));
    assert!(matches!(&t.to(3)[..], [Event::WhoReply { members, .. }] if members.is_empty()));
}

#[test]
fn topic_under_plus_t() {
    let mut t = room_with_two();
    let topic = |text: &str| Command::Topic {
        room: "#r".into(),
        topic: Some(text.into()),
    };
    t.refused(2, topic("mine"), HubError::ChanOpPrivsNeeded(name("#r")));
    t.ok(1, topic("ops only"));
    t.mode(1, "#r", &["-t"]);
    t.ok(2, topic("anyone"));
}

#[test]
fn kick() {
    let mut t = room_with_two();
    t.reg(3, "carol");
    let kick = |nick: &str, reason: Option<&str>| Command::Kick {
        room: "#r".into(),
        nick: nick.into(),
        reason: reason.map(Into::into),
    };
    t.refused(
        2,
        kick("alice", None),
        HubError::ChanOpPrivsNeeded(name("#r")),
    );
    t.refused(3, kick("alice", None), HubError::NotInRoom(name("#r")));
    t.refused(1, kick("ghost", None), HubError::NoSuchNick(name("ghost")));
    t.refused(
        1,
        kick("carol", None),
        HubError::UserNotInRoom {
            nick: name("carol"),
            room: name("#r"),
        },
    );
    t.refused(
        1,
        Command::Kick {
            room: "#nope".into(),
            nick: "bob".into(),
            reason: None,
        },
        HubError::NoSuchRoom(name("#nope")),
    );
    t.ok(1, kick("BOB", Some("behave")));
    for conn in [1, 2] {
        assert!(
            t.to(conn).iter().any(|e| matches!(e, Event::Kicked { nick, reason, .. } if &**nick == "bob" && &**reason == "behave")),
            "{conn}: {:?}",
            t.to(conn)
        );
    }
    assert_eq!(t.names(1, "#r"), vec![("alice".into(), true, false)]);
    assert_eq!(
        t.say(2, "#r", "hi"),
        Err(HubError::CannotSendToRoom(name("#r")))
    );
    // Without a reason the kicker's nick is the reason.
    t.join(2, "#r").expect("rejoin");
    t.ok(1, kick("bob", None));
    assert!(
        t.to(2)
            .iter()
            .any(|e| matches!(e, Event::Kicked { reason, .. } if &**reason == "alice"))
    );
}

#[test]
fn oper_and_kill() {
    let mut t = room_with_two();
    let kill = Command::Kill {
        nick: "bob".into(),
        reason: "spam".into(),
    };
    t.refused(1, kill.clone(), HubError::NoPrivileges);
    t.ok(
        1,
        Command::Oper {
            name: "admin".into(),
        },
    );
    assert_eq!(t.to(1)[0], Event::YoureOper);
    assert_eq!(t.changes(1), vec![c(true, 'o', None)]);
    t.refused(
        1,
        Command::Kill {
            nick: "ghost".into(),
            reason: "x".into(),
        },
        HubError::NoSuchNick(name("ghost")),
    );
    t.ok(1, kill);
    assert!(
        matches!(&t.to(2)[..], [Event::Closing { reason }] if &**reason == "Killed (alice (spam))")
    );
    assert!(matches!(&t.to(1)[..], [Event::Quit { who, .. }] if &*who.nick == "bob"));
    assert_eq!(t.hub.member_count(), 1);
    // WHOIS shows the operator.
    t.ok(1, Command::Whois("alice".into()));
    assert!(matches!(
        &t.to(1)[..],
        [Event::WhoisReply { oper: true, .. }]
    ));
    // Giving up operator status.
    t.mode(1, "alice", &["-o"]);
    assert_eq!(t.changes(1), vec![c(false, 'o', None)]);
}

#[test]
fn user_modes() {
    let mut t = room_with_two();
    t.mode(1, "alice", &["+i"]);
    assert_eq!(t.changes(1), vec![c(true, 'i', None)]);
    assert!(t.to(2).is_empty(), "user modes are private");
    t.mode(1, "ALICE", &[]);
    assert_eq!(t.to(1), vec![Event::UserModes { modes: name("+i") }]);
    // +o cannot be taken by oneself; unknown letters are refused once each.
    t.mode(1, "alice", &["+oxxy"]);
    assert!(t.changes(1).is_empty());
    assert_eq!(
        t.errors(1),
        vec![
            HubError::UnknownUserMode { mode: 'x' },
            HubError::UnknownUserMode { mode: 'y' }
        ]
    );
    t.refused(
        1,
        Command::Mode {
            target: "bob".into(),
            args: vec!["+i".into()],
        },
        HubError::UsersDontMatch,
    );
    t.refused(
        1,
        Command::Mode {
            target: "ghost".into(),
            args: vec![],
        },
        HubError::NoSuchNick(name("ghost")),
    );
}

#[test]
fn hostile_mode_strings_are_bounded() {
    let mut t = room_with_two();
    // Hundreds of parameters: at most `max_modes` are applied.
    let letters = format!("+{}", "b".repeat(300));
    let masks: Vec<String> = (0..300).map(|i| format!("n{i}")).collect();
    let mut args = vec![letters];
    args.extend(masks);
    t.ok(
        1,
        Command::Mode {
            target: "#r".into(),
            args,
        },
    );
    assert_eq!(t.changes(1).len(), HubConfig::default().max_modes);
    // Hundreds of unknown letters: one refusal per distinct letter.
    t.mode(1, "#r", &[&"z".repeat(400)]);
    assert_eq!(t.errors(1), vec![HubError::UnknownMode { mode: 'z' }]);
    // Hundreds of list queries: each list once.
    t.mode(2, "#r", &[&"beI".repeat(100)]);
    let lists: Vec<char> = t
        .to(2)
        .iter()
        .filter_map(|e| match e {
            Event::ModeList { mode, .. } => Some(*mode),
            _ => None,
        })
        .collect();
    assert_eq!(lists, vec!['b', 'e', 'I']);
    // A non-operator's long mode string earns one refusal.
    t.mode(2, "#r", &[&"+m-m".repeat(100)]);
    assert_eq!(t.errors(2).len(), 1);
}

#[test]
fn whowas_remembers_quits_and_nick_changes_boundedly() {
    let mut t = T::with(HubConfig {
        whowas_len: 2,
        ..HubConfig::default()
    });
    t.reg(1, "alice");
    t.ok(1, Command::Nick("alicia".into()));
    t.reg(2, "bob");
    t.ok(2, Command::Quit(None));
    let whowas = |t: &mut T, nick: &str| {
        t.ok(
            1,
            Command::Whowas {
                nick: nick.into(),
                count: 0,
            },
        );
        match &t.to(1)[..] {
            [Event::WhowasReply { entries, .. }] => entries
                .iter()
                .map(|e| format!("{}!{}", e.user.nick, e.user.user))
                .collect::<Vec<_>>(),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(whowas(&mut t, "ALICE"), vec!["alice!alice_u"]);
    assert_eq!(whowas(&mut t, "bob"), vec!["bob!bob_u"]);
    assert!(whowas(&mut t, "carol").is_empty());
    // Only the last two departures are kept.
    t.reg(3, "carol");
    t.ok(3, Command::Quit(None));
    assert!(whowas(&mut t, "alice").is_empty());
    assert_eq!(whowas(&mut t, "carol"), vec!["carol!carol_u"]);
}

#[test]
fn lusers_counts() {
    let mut t = room_with_two();
    t.mode(2, "bob", &["+i"]);
    t.ok(1, Command::Oper { name: "x".into() });
    t.ok(1, Command::Lusers);
    assert_eq!(
        t.to(1),
        vec![Event::Lusers(Lusers {
            users: 2,
            invisible: 1,
            opers: 1,
            rooms: 2,
            unknown: 0,
            max_users: 2,
        })]
    );
}

#[test]
fn lusers_counts_connections_that_have_not_registered() {
    let mut t = T::new();
    let unknown = |t: &mut T| match &t.to(1)[..] {
        [Event::Lusers(l)] => l.unknown,
        other => panic!("{other:?}"),
    };
    t.hub.attach(1);
    t.hub.attach(2);
    t.hub.attach(3);
    t.reg(1, "alice");
    t.ok(1, Command::Lusers);
    assert_eq!(unknown(&mut t), 2);
    // One registers, one leaves before registering.
    t.reg(2, "bob");
    t.hub.quit(3, "gone".into(), &mut t.out);
    t.ok(1, Command::Lusers);
    assert_eq!(unknown(&mut t), 0);
}

#[test]
fn who_masks_respect_invisibility() {
    let mut t = T::with(HubConfig {
        default_rooms: vec![],
        ..HubConfig::default()
    });
    t.reg(1, "alice");
    t.reg(2, "bob");
    t.reg(3, "bobby");
    t.mode(3, "bobby", &["+i"]);
    let who = |t: &mut T, conn: ConnId, mask: &str| {
        t.ok(conn, Command::Who(mask.into()));
        match &t.to(conn)[..] {
            [Event::WhoReply { members, .. }] => members
                .iter()
                .map(|m| m.user.nick.to_string())
                .collect::<Vec<_>>(),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(who(&mut t, 1, "bob*"), vec!["bob"]);
    // Invisible people are found by exact nick, by themselves, and by those
    // who share a room with them.
    assert_eq!(who(&mut t, 1, "bobby"), vec!["bobby"]);
    assert_eq!(who(&mut t, 3, "bob*"), vec!["bob", "bobby"]);
    t.join(1, "#x").expect("join");
    t.join(3, "#x").expect("join");
    assert_eq!(who(&mut t, 1, "*"), vec!["alice", "bob", "bobby"]);
    // Masks match the user and host too.
    assert_eq!(who(&mut t, 1, "*@10.0.0.2"), Vec::<String>::new());
    assert_eq!(who(&mut t, 1, "10.0.0.2"), vec!["bob"]);
}

#[test]
fn part_all_and_list_filters() {
    let mut t = T::new();
    t.reg(1, "alice");
    t.reg(2, "bob");
    t.join(1, "#rust").expect("join");
    t.join(1, "#ruby").expect("join");
    t.join(2, "#rust").expect("join");
    let list = |t: &mut T, q: ListQuery| {
        t.ok(1, Command::List(q));
        match &t.to(1)[..] {
            [Event::RoomList { rooms }] => {
                rooms.iter().map(|r| r.name.to_string()).collect::<Vec<_>>()
            }
            other => panic!("{other:?}"),
        }
    };
    let q = |masks: &[&str], more: Option<usize>, fewer: Option<usize>| ListQuery {
        masks: masks.iter().map(|m| m.to_string()).collect(),
        more_than: more,
        fewer_than: fewer,
        ..ListQuery::default()
    };
    assert_eq!(
        list(&mut t, q(&["#ru*"], None, None)),
        vec!["#ruby", "#rust"]
    );
    assert_eq!(list(&mut t, q(&[], Some(1), None)), vec!["#lobby", "#rust"]);
    assert_eq!(list(&mut t, q(&["#R*"], None, Some(2))), vec!["#ruby"]);
    let not = |masks: &[&str]| ListQuery {
        not_masks: masks.iter().map(|m| m.to_string()).collect(),
        ..ListQuery::default()
    };
    assert_eq!(list(&mut t, not(&["*uby"])), vec!["#lobby", "#rust"]);
    assert_eq!(list(&mut t, not(&["#ru*", "#l*"])), Vec::<String>::new());
    // Ages: #old was made an hour ago with its topic; #rust, #ruby and
    // #lobby now.
    let mins = |m: u64| Some(std::time::Duration::from_secs(60 * m));
    t.clock.advance(std::time::Duration::from_secs(3600));
    t.join(1, "#old").expect("join");
    t.ok(
        1,
        Command::Topic {
            room: "#old".into(),
            topic: Some("aged".into()),
        },
    );
    t.clock.advance(std::time::Duration::from_secs(3600));
    let by_age = |within, before| ListQuery {
        created_within: within,
        created_before: before,
        ..ListQuery::default()
    };
    assert_eq!(list(&mut t, by_age(mins(90), None)), vec!["#old"]);
    assert_eq!(
        list(&mut t, by_age(None, mins(90))),
        vec!["#lobby", "#ruby", "#rust"]
    );
    assert_eq!(list(&mut t, by_age(mins(0), None)), Vec::<String>::new());
    let by_topic = |within, before| ListQuery {
        topic_within: within,
        topic_before: before,
        ..ListQuery::default()
    };
    // Rooms without a topic match no topic-age filter.
    assert_eq!(list(&mut t, by_topic(mins(90), None)), vec!["#old"]);
    assert_eq!(list(&mut t, by_topic(None, mins(90))), Vec::<String>::new());
    assert_eq!(list(&mut t, by_topic(None, mins(30))), vec!["#old"]);
    t.ok(1, Command::PartAll);
    let parted = t
        .to(2)
        .iter()
        .filter(|e| matches!(e, Event::Parted { .. }))
        .count();
    assert_eq!(parted, 2, "bob sees alice leave #lobby and #rust");
    t.ok(1, Command::Whois("alice".into()));
    assert!(matches!(&t.to(1)[..], [Event::WhoisReply { rooms, .. }] if rooms.is_empty()));
}

#[test]
fn secure_connections_show_in_whois() {
    let mut t = room_with_two();
    t.ok(2, Command::Secure);
    assert!(t.all().is_empty(), "nothing to tell anyone");
    t.ok(1, Command::Whois("bob".into()));
    assert!(matches!(
        &t.to(1)[..],
        [Event::WhoisReply { secure: true, .. }]
    ));
    t.ok(1, Command::Whois("alice".into()));
    assert!(matches!(
        &t.to(1)[..],
        [Event::WhoisReply { secure: false, .. }]
    ));
}

#[test]
fn other_operators_are_told_of_invitations() {
    let mut t = room_with_two();
    t.reg(3, "carol");
    t.reg(4, "dave");
    t.join(3, "#r").expect("carol joins");
    // bob (2) becomes a second operator; carol (3) stays a plain member.
    t.mode(1, "#r", &["+o", "bob"]);
    t.ok(
        1,
        Command::Invite {
            nick: "dave".into(),
            room: "#r".into(),
        },
    );
    assert!(matches!(
        &t.to(2)[..],
        [Event::InviteNotice { room, by, nick }]
            if &**room == "#r" && &*by.nick == "alice" && &**nick == "dave"
    ));
    assert!(t.to(3).is_empty(), "plain members are not told");
    assert!(
        !t.to(1)
            .iter()
            .chain(t.to(4).iter())
            .any(|e| matches!(e, Event::InviteNotice { .. })),
        "inviter and invitee get their own events"
    );
}

#[test]
fn monitor_notices_follow_registration_nick_changes_and_quits() {
    use crate::command::MonitorOp;
    // Nobody shares a room: only the MONITOR notices reach alice.
    let mut t = T::with(HubConfig {
        default_rooms: vec![],
        ..HubConfig::default()
    });
    t.reg(1, "alice");
    t.ok(1, Command::Monitor(MonitorOp::Add(vec!["Bob".into()])));
    assert_eq!(t.to(1), vec![Event::MonOffline(vec!["Bob".into()])]);
    t.reg(2, "bob");
    assert!(
        matches!(&t.to(1)[..], [Event::MonOnline(w)] if &*w[0].nick == "bob"),
        "{:?}",
        t.all()
    );
    t.ok(2, Command::Nick("robert".into()));
    assert_eq!(t.to(1), vec![Event::MonOffline(vec!["bob".into()])]);
    t.ok(2, Command::Nick("bob".into()));
    assert!(matches!(&t.to(1)[..], [Event::MonOnline(_)]));
    // A watcher that leaves is forgotten: nobody is told about bob now.
    t.ok(1, Command::Quit(None));
    t.ok(2, Command::Quit(None));
    assert!(t.to(1).is_empty());
    assert!(t.hub.monitors.watchers.is_empty());
}

#[test]
fn wallops_need_an_operator_and_reach_plus_w_only() {
    let mut t = T::new();
    t.reg(1, "alice");
    t.reg(2, "bob");
    t.reg(3, "carol");
    // Nobody shares a room: WALLOPS reach people, not rooms.
    let wallops = Command::Wallops("hi everyone\r\nQUIT".into());
    t.refused(1, wallops.clone(), HubError::NoPrivileges);
    t.mode(3, "carol", &["+w"]);
    assert_eq!(t.changes(3), vec![c(true, 'w', None)]);
    t.mode(3, "carol", &[]);
    assert_eq!(t.to(3), vec![Event::UserModes { modes: name("+w") }]);
    t.mode(2, "bob", &["+w"]);
    t.mode(2, "bob", &["-w"]);
    assert_eq!(t.changes(2), vec![c(false, 'w', None)]);
    t.ok(1, Command::Oper { name: "x".into() });
    t.ok(1, wallops);
    assert_eq!(t.all().len(), 1, "{:?}", t.all());
    match &t.to(3)[..] {
        [Event::Wallops { from, text }] => {
            assert_eq!(&*from.nick, "alice");
            assert_eq!(&**text, "hi everyone  QUIT");
        }
        other => panic!("{other:?}"),
    }
    // The sender gets its own only with +w.
    t.mode(1, "alice", &["+w"]);
    t.ok(1, Command::Wallops("again".into()));
    assert_eq!(t.to(1).len(), 1);
    assert_eq!(t.to(3).len(), 1);
    t.refused(1, Command::Wallops(String::new()), HubError::NoText);
}

#[test]
fn anyone_may_say_they_are_a_bot_and_their_messages_show_it() {
    let mut t = room_with_two();
    t.mode(1, "alice", &["+B"]);
    assert_eq!(t.changes(1), vec![c(true, 'B', None)]);
    t.mode(1, "alice", &["+B"]);
    assert!(t.changes(1).is_empty(), "already a bot");
    t.mode(1, "alice", &[]);
    assert_eq!(t.to(1), vec![Event::UserModes { modes: name("+B") }]);
    t.say(1, "#r", "beep").expect("a bot may speak");
    assert!(
        t.to(2)
            .iter()
            .any(|e| matches!(e, Event::Message { from, .. } if from.bot)),
        "{:?}",
        t.to(2)
    );
    t.mode(1, "alice", &["-B"]);
    assert_eq!(t.changes(1), vec![c(false, 'B', None)]);
}

#[test]
fn a_mute_silences_without_keeping_out_and_voice_or_an_exception_lifts_it() {
    let mut t = room_with_two();
    t.mode(1, "alice", &[]);
    t.mode(1, "#r", &["+b", "m:BOB"]);
    assert_eq!(t.changes(1), vec![c(true, 'b', Some("m:BOB!*@*"))]);
    let muted = HubError::CannotSend {
        room: name("#r"),
        reason: "you are muted (+b m:)",
    };
    assert_eq!(t.say(2, "#r", "hi"), Err(muted.clone()));
    // A mute is no ban: bob may leave and come back (and stays muted).
    t.run(
        2,
        Command::Part {
            room: "#r".into(),
            reason: None,
        },
    )
    .expect("part");
    t.join(2, "#r").expect("a mute keeps nobody out");
    assert_eq!(t.say(2, "#r", "hi"), Err(muted.clone()));
    // A mute exception lifts it; a plain exception does not.
    t.mode(1, "#r", &["+e", "bob"]);
    assert_eq!(t.say(2, "#r", "hi"), Err(muted.clone()));
    t.mode(1, "#r", &["+e", "m:*!bob_u@*"]);
    t.say(2, "#r", "hi").expect("excepted");
    t.mode(1, "#r", &["-e", "m:*!bob_u@*"]);
    assert_eq!(t.say(2, "#r", "hi"), Err(muted));
    // Voice lifts it too; removing the mute (in another case) ends it.
    t.mode(1, "#r", &["+v", "bob"]);
    t.say(2, "#r", "hi").expect("voiced");
    t.mode(1, "#r", &["-v", "bob"]);
    t.mode(1, "#r", &["-b", "m:bob!*@*"]);
    t.say(2, "#r", "hi").expect("no longer muted");
}

#[test]
fn no_ctcp_but_action_under_plus_c() {
    let mut t = room_with_two();
    t.say(2, "#r", "\u{1}PING 1\u{1}").expect("no +C yet");
    t.mode(1, "#r", &["+C"]);
    assert_eq!(t.changes(1), vec![c(true, 'C', None)]);
    let refused = Err(HubError::CannotSend {
        room: name("#r"),
        reason: "CTCP is not allowed here (+C)",
    });
    assert_eq!(t.say(2, "#r", "\u{1}PING 1\u{1}"), refused);
    // Operators too: the mode is about the room, not about who may speak.
    assert_eq!(t.say(1, "#r", "\u{1}VERSION\u{1}"), refused);
    t.say(2, "#r", "plain text").expect("not a CTCP");
    t.ok(
        2,
        Command::Say {
            target: SayTarget::Room("#r".into()),
            kind: MsgKind::Action,
            text: "waves".into(),
            tags: Vec::new(),
            overflow: Overflow::Cut,
        },
    );
}
