//! The hub without a network: commands in, the events each connection
//! receives out (recorded by the `Vec<(ConnId, Arc<Event>)>` outbox).

use std::time::Duration;

use super::*;
use crate::Clock;
use crate::services::{Effect, Services};
use crate::{MemberInfo, MsgTarget, Overflow, RoomInfo, SayTarget};

/// A hub plus what it delivered for the last command.
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

    /// Runs one command; the deliveries of earlier commands are forgotten.
    fn run(&mut self, conn: ConnId, cmd: Command) -> Result<(), HubError> {
        self.out.clear();
        self.hub.handle(conn, cmd, &mut self.out)
    }

    /// Runs a command that must succeed.
    fn ok(&mut self, conn: ConnId, cmd: Command) {
        let r = self.run(conn, cmd.clone());
        assert_eq!(r, Ok(()), "{cmd:?} from {conn}");
    }

    /// Runs a command that must be refused with `err`, and checks that the
    /// refusal delivered nothing to anyone.
    fn refused(&mut self, conn: ConnId, cmd: Command, err: HubError) {
        let r = self.run(conn, cmd.clone());
        assert_eq!(r, Err(err), "{cmd:?} from {conn}");
        assert!(
            self.out.is_empty(),
            "a refused command delivered {:?}",
            self.all()
        );
    }

    fn reg(&mut self, conn: ConnId, nick: &str) {
        self.ok(conn, register(nick));
    }

    /// The events `conn` received from the last command, in order.
    fn to(&self, conn: ConnId) -> Vec<Event> {
        self.out
            .iter()
            .filter(|(c, _)| *c == conn)
            .map(|(_, e)| (**e).clone())
            .collect()
    }

    /// Every delivery of the last command, in order.
    fn all(&self) -> Vec<(ConnId, Event)> {
        self.out.iter().map(|(c, e)| (*c, (**e).clone())).collect()
    }

    /// The connections that received something from the last command,
    /// sorted, with repetitions.
    fn recipients(&self) -> Vec<ConnId> {
        let mut v: Vec<ConnId> = self.out.iter().map(|(c, _)| *c).collect();
        v.sort();
        v
    }

    fn say(&mut self, conn: ConnId, target: SayTarget, kind: MsgKind, text: &str) -> Outcome {
        self.run(
            conn,
            Command::Say {
                target,
                kind,
                text: text.into(),
                tags: Vec::new(),
                overflow: Overflow::Cut,
            },
        )
    }
}

fn register(nick: &str) -> Command {
    Command::Register {
        nick: nick.into(),
        user: format!("{nick}_u"),
        realname: format!("{nick} Real"),
        host: "127.0.0.1".into(),
    }
}

fn room(name: &str) -> SayTarget {
    SayTarget::Room(name.into())
}

fn nick(name: &str) -> SayTarget {
    SayTarget::Nick(name.into())
}

fn name(s: &str) -> Name {
    s.into()
}

fn joined(room: &str, nick: &str) -> (String, String) {
    (room.into(), nick.into())
}

/// (room, nick) of a `Joined` event.
fn as_joined(e: &Event) -> Option<(String, String)> {
    match e {
        Event::Joined { room, who } => Some((room.to_string(), who.nick.to_string())),
        _ => None,
    }
}

/// (nick, op, away) of each member.
fn members(ms: &[MemberInfo]) -> Vec<(String, bool, Option<String>)> {
    ms.iter()
        .map(|m| {
            (
                m.user.nick.to_string(),
                m.op,
                m.away.as_ref().map(|a| a.to_string()),
            )
        })
        .collect()
}

/// (id, from, target, kind, text) of a `Message` event.
fn as_message(e: &Event) -> Option<(u64, String, MsgTarget, MsgKind, String)> {
    match e {
        Event::Message {
            id,
            from,
            to,
            kind,
            text,
            ..
        } => Some((
            *id,
            from.nick.to_string(),
            to.clone(),
            *kind,
            text.to_string(),
        )),
        _ => None,
    }
}

fn messages(events: &[Event]) -> Vec<(u64, String, MsgTarget, MsgKind, String)> {
    events.iter().filter_map(as_message).collect()
}

fn focus(room: Option<&str>) -> Event {
    Event::Focus {
        room: room.map(name),
    }
}

// ---------------------------------------------------------------- registration

#[test]
fn registration_welcomes_and_joins_the_lobby() {
    let mut t = T::new();
    t.reg(1, "alice");
    let ev = t.to(1);
    assert_eq!(ev.len(), 5, "{ev:#?}");
    match &ev[0] {
        Event::Welcome { nick, user } => {
            assert_eq!(&**nick, "alice");
            assert_eq!(&*user.nick, "alice");
            assert_eq!(&*user.user, "alice_u");
            assert_eq!(&*user.realname, "alice Real");
            assert_eq!(&*user.host, "127.0.0.1");
        }
        other => panic!("expected Welcome first, got {other:?}"),
    }
    // The counts follow the welcome (IRC shows them before the MOTD).
    assert!(matches!(&ev[1], Event::Lusers(l) if l.users == 1 && l.rooms == 0));
    assert_eq!(as_joined(&ev[2]), Some(joined("#lobby", "alice")));
    match &ev[3] {
        Event::Names {
            room, members: ms, ..
        } => {
            assert_eq!(&**room, "#lobby");
            // The first person in a room is its operator.
            assert_eq!(members(ms), vec![("alice".into(), true, None)]);
        }
        other => panic!("expected Names, got {other:?}"),
    }
    assert_eq!(ev[4], focus(Some("#lobby")));
    assert_eq!(t.recipients(), vec![1, 1, 1, 1, 1]);
    assert_eq!(t.hub.member_count(), 1);
    assert_eq!(t.hub.room_count(), 1);
    assert_eq!(t.hub.nick_of(1).as_deref(), Some("alice"));
}

#[test]
fn newcomer_is_announced_to_everyone_in_the_lobby() {
    let mut t = T::new();
    t.reg(1, "alice");
    t.reg(2, "bob");
    // Alice only hears that bob joined.
    let a = t.to(1);
    assert_eq!(a.len(), 1, "{a:#?}");
    assert_eq!(as_joined(&a[0]), Some(joined("#lobby", "bob")));
    // Bob gets the full welcome; he is not op, alice still is.
    let b = t.to(2);
    assert!(matches!(&b[0], Event::Welcome { nick, .. } if &**nick == "bob"));
    assert!(matches!(&b[1], Event::Lusers(l) if l.users == 2 && l.rooms == 1));
    assert_eq!(as_joined(&b[2]), Some(joined("#lobby", "bob")));
    match &b[3] {
        Event::Names {
            room, members: ms, ..
        } => {
            assert_eq!(&**room, "#lobby");
            assert_eq!(
                members(ms),
                vec![("alice".into(), true, None), ("bob".into(), false, None)]
            );
        }
        other => panic!("expected Names, got {other:?}"),
    }
    assert_eq!(b[4], focus(Some("#lobby")));
    assert_eq!(b.len(), 5);
}

#[test]
fn invalid_nick_is_refused_with_a_reason() {
    let mut t = T::new();
    for (bad, reason) in [
        ("1abc", "a nickname cannot start with a digit or '-'"),
        ("", "a nickname cannot be empty"),
        (
            "a b",
            "a nickname may only hold letters, digits and []\\`_^{|}-",
        ),
        (
            "a\r\nQUIT",
            "a nickname may only hold letters, digits and []\\`_^{|}-",
        ),
    ] {
        t.refused(
            1,
            register(bad),
            HubError::ErroneousNick {
                nick: name(bad),
                reason,
            },
        );
    }
    let long = "a".repeat(31);
    t.refused(
        1,
        register(&long),
        HubError::ErroneousNick {
            nick: name(&long),
            reason: "nickname is too long",
        },
    );
    assert_eq!(t.hub.member_count(), 0);
    // A refused registration can be retried.
    t.reg(1, "alice");
}

#[test]
fn taken_nick_is_refused_case_insensitively() {
    let mut t = T::new();
    t.reg(1, "alice");
    t.refused(2, register("alice"), HubError::NickInUse(name("alice")));
    t.refused(2, register("ALICE"), HubError::NickInUse(name("ALICE")));
    assert!(!t.hub.nick_available("Alice", 2));
    assert!(
        t.hub.nick_available("Alice", 1),
        "one's own nick is available"
    );
    assert_eq!(t.hub.member_count(), 1);
    t.reg(2, "alice2");
}

#[test]
fn registering_twice_is_refused_and_changes_nothing() {
    let mut t = T::new();
    t.reg(1, "alice");
    t.refused(1, register("bob"), HubError::AlreadyRegistered);
    assert_eq!(t.hub.nick_of(1).as_deref(), Some("alice"));
    assert!(t.hub.nick_available("bob", 2), "bob must not be held");
}

#[test]
fn commands_before_registration_are_refused() {
    let mut t = T::new();
    t.refused(1, Command::Join("#x".into()), HubError::NotRegistered);
    t.refused(1, Command::Nick("bob".into()), HubError::NotRegistered);
    let r = t.say(1, SayTarget::Focus, MsgKind::Say, "hi");
    assert_eq!(r, Err(HubError::NotRegistered));
    // Quitting before registering just closes.
    t.ok(1, Command::Quit(Some("bye".into())));
    assert_eq!(
        t.all(),
        vec![(
            1,
            Event::Closing {
                reason: name("bye")
            }
        )]
    );
}

#[test]
fn bad_default_room_does_not_stop_registration() {
    let mut t = T::with(HubConfig {
        default_rooms: vec!["nohash".into(), "#ok".into()],
        ..HubConfig::default()
    });
    t.reg(1, "alice");
    let ev = t.to(1);
    assert!(matches!(ev[0], Event::Welcome { .. }));
    assert!(
        matches!(&ev[2], Event::Error(HubError::BadRoomName { name: n, .. }) if &**n == "nohash"),
        "{ev:#?}"
    );
    assert_eq!(as_joined(&ev[3]), Some(joined("#ok", "alice")));
    assert_eq!(ev.last(), Some(&focus(Some("#ok"))));
}

// ---------------------------------------------------------------- join / part

#[test]
fn join_creates_a_room_and_tells_its_members() {
    let mut t = T::new();
    t.reg(1, "alice");
    t.reg(2, "bob");
    t.ok(1, Command::Join("#rust".into()));
    let a = t.to(1);
    assert_eq!(as_joined(&a[0]), Some(joined("#rust", "alice")));
    assert!(
        matches!(&a[1], Event::Names { room, members: ms, .. } if &**room == "#rust" && members(ms) == vec![("alice".into(), true, None)])
    );
    assert_eq!(a[2], focus(Some("#rust")));
    assert_eq!(a.len(), 3);
    assert!(t.to(2).is_empty(), "bob is not in #rust");
    assert_eq!(t.hub.room_count(), 2);

    // Case-insensitive: bob's #RUST is alice's #rust, and keeps its spelling.
    t.ok(2, Command::Join("#RUST".into()));
    assert_eq!(t.to(1), t.to(2)[..1].to_vec());
    assert_eq!(as_joined(&t.to(1)[0]), Some(joined("#rust", "bob")));
    assert!(
        matches!(&t.to(2)[1], Event::Names { room, members: ms, .. } if &**room == "#rust" && members(ms) == vec![("alice".into(), true, None), ("bob".into(), false, None)])
    );
    assert_eq!(t.hub.room_count(), 2);

    // Joining a room one is in only moves the focus.
    t.ok(2, Command::Join("#lobby".into()));
    assert_eq!(t.all(), vec![(2, focus(Some("#lobby")))]);
}

#[test]
fn bad_room_names_are_refused() {
    let mut t = T::new();
    t.reg(1, "alice");
    for bad in ["lobby", "#", "#a b", "#a,b", "#a\rb"] {
        let r = t.run(1, Command::Join(bad.into()));
        assert!(
            matches!(&r, Err(HubError::BadRoomName { name: n, .. }) if &**n == bad),
            "{bad:?}: {r:?}"
        );
        assert!(t.out.is_empty());
    }
    assert_eq!(t.hub.room_count(), 1);
}

#[test]
fn part_tells_everyone_in_the_room_including_the_leaver() {
    let mut t = T::new();
    t.reg(1, "alice");
    t.reg(2, "bob");
    t.reg(3, "carol");
    t.ok(1, Command::Join("#rust".into()));
    t.ok(2, Command::Join("#rust".into()));
    t.ok(
        2,
        Command::Part {
            room: "#rust".into(),
            reason: Some("bye\r\nQUIT".into()),
        },
    );
    let parted = Event::Parted {
        room: name("#rust"),
        who: t
            .to(2)
            .iter()
            .find_map(|e| match e {
                Event::Parted { who, .. } => Some(who.clone()),
                _ => None,
            })
            .expect("bob hears his own part"),
        reason: Some(name("bye  QUIT")),
    };
    assert_eq!(t.to(1), vec![parted.clone()]);
    // Bob's focus moves back to the lobby.
    assert_eq!(t.to(2), vec![parted, focus(Some("#lobby"))]);
    assert!(t.to(3).is_empty(), "carol is not in #rust");
    // An empty reason is no reason.
    t.ok(1, Command::Join("#a".into()));
    t.ok(
        1,
        Command::Part {
            room: "#a".into(),
            reason: Some(String::new()),
        },
    );
    assert!(matches!(&t.to(1)[0], Event::Parted { reason: None, .. }));
}

#[test]
fn empty_rooms_vanish() {
    let mut t = T::new();
    t.reg(1, "alice");
    t.reg(2, "bob");
    t.ok(1, Command::Join("#tmp".into()));
    assert_eq!(t.hub.room_count(), 2);
    t.ok(
        1,
        Command::Part {
            room: "#TMP".into(),
            reason: None,
        },
    );
    assert_eq!(t.hub.room_count(), 1);
    t.ok(2, Command::ListRooms);
    match &t.to(2)[..] {
        [Event::RoomList { rooms }] => {
            assert_eq!(
                rooms.iter().map(|r| &*r.name).collect::<Vec<_>>(),
                vec!["#lobby"]
            )
        }
        other => panic!("{other:?}"),
    }
    // A new #tmp is a new room: its first joiner is op, no old topic.
    t.ok(2, Command::Join("#tmp".into()));
    assert!(
        matches!(&t.to(2)[1], Event::Names { members: ms, .. } if members(ms) == vec![("bob".into(), true, None)]),
        "{:?}",
        t.to(2)
    );
}

#[test]
fn focus_moves_to_the_previous_room_on_part() {
    let mut t = T::new();
    t.reg(1, "alice");
    t.ok(1, Command::Join("#a".into()));
    t.ok(1, Command::Join("#b".into()));
    assert_eq!(t.to(1).last(), Some(&focus(Some("#b"))));
    // Leaving the focused room moves the focus to the last one joined.
    t.ok(
        1,
        Command::Part {
            room: "#b".into(),
            reason: None,
        },
    );
    assert_eq!(t.to(1).last(), Some(&focus(Some("#a"))));
    // Leaving a room that is not focused leaves the focus alone.
    t.ok(
        1,
        Command::Part {
            room: "#lobby".into(),
            reason: None,
        },
    );
    assert!(!t.to(1).iter().any(|e| matches!(e, Event::Focus { .. })));
    t.ok(
        1,
        Command::Say {
            target: SayTarget::Focus,
            kind: MsgKind::Say,
            text: "still here".into(),
            tags: Vec::new(),
            overflow: Overflow::Cut,
        },
    );
    assert!(matches!(&messages(&t.to(1))[0].2, MsgTarget::Room(r) if &**r == "#a"));
    // Leaving the last room: no focus, and plain text has nowhere to go.
    t.ok(
        1,
        Command::Part {
            room: RoomRef::Focus,
            reason: None,
        },
    );
    assert_eq!(t.to(1).last(), Some(&focus(None)));
    assert_eq!(
        t.say(1, SayTarget::Focus, MsgKind::Say, "hello?"),
        Err(HubError::NoFocus)
    );
    t.refused(
        1,
        Command::Part {
            room: RoomRef::Focus,
            reason: None,
        },
        HubError::NoFocus,
    );
    assert_eq!(t.hub.room_count(), 0);
}

#[test]
fn part_errors() {
    let mut t = T::new();
    t.reg(1, "alice");
    t.reg(2, "bob");
    t.ok(2, Command::Join("#bobs".into()));
    t.refused(
        1,
        Command::Part {
            room: "#bobs".into(),
            reason: None,
        },
        HubError::NotInRoom(name("#bobs")),
    );
    t.refused(
        1,
        Command::Part {
            room: "#nowhere".into(),
            reason: None,
        },
        HubError::NoSuchRoom(name("#nowhere")),
    );
}

#[test]
fn empty_room_name_means_the_focused_room() {
    let mut t = T::new();
    t.reg(1, "alice");
    t.reg(2, "bob");
    t.ok(1, Command::Join("#a".into()));
    t.ok(2, Command::Join("#a".into()));
    t.ok(
        1,
        Command::Topic {
            room: RoomRef::Focus,
            topic: Some("focused".into()),
        },
    );
    assert!(matches!(&t.to(2)[0], Event::TopicChanged { room, .. } if &**room == "#a"));
    t.ok(1, Command::Who(RoomRef::Focus));
    assert!(
        matches!(&t.to(1)[0], Event::WhoReply { mask, members: ms } if &**mask == "#a" && ms.len() == 2)
    );
    t.ok(
        1,
        Command::Part {
            room: RoomRef::Focus,
            reason: None,
        },
    );
    assert!(matches!(&t.to(2)[0], Event::Parted { room, .. } if &**room == "#a"));
}

#[test]
fn too_many_rooms() {
    let mut t = T::with(HubConfig {
        max_rooms_per_member: 3,
        ..HubConfig::default()
    });
    t.reg(1, "alice");
    t.ok(1, Command::Join("#a".into()));
    t.ok(1, Command::Join("#b".into()));
    t.refused(1, Command::Join("#c".into()), HubError::TooManyRooms(3));
    assert_eq!(t.hub.room_count(), 3);
    // Switching to a room one is already in is not joining another.
    t.ok(1, Command::Join("#a".into()));
    t.ok(
        1,
        Command::Part {
            room: "#b".into(),
            reason: None,
        },
    );
    t.ok(1, Command::Join("#c".into()));
}

// ---------------------------------------------------------------- nicknames

#[test]
fn nick_change_is_told_once_to_everyone_sharing_a_room() {
    let mut t = T::new();
    t.reg(1, "alice");
    t.reg(2, "bob");
    t.reg(3, "carol");
    t.reg(4, "dave");
    // Alice and bob share two rooms; carol only the lobby; dave none.
    t.ok(1, Command::Join("#x".into()));
    t.ok(2, Command::Join("#x".into()));
    t.ok(
        4,
        Command::Part {
            room: "#lobby".into(),
            reason: None,
        },
    );
    t.ok(1, Command::Nick("alicia".into()));
    assert_eq!(t.recipients(), vec![1, 2, 3], "{:#?}", t.all());
    for c in [1, 2, 3] {
        match &t.to(c)[..] {
            [Event::NickChanged { old, who }] => {
                assert_eq!(&**old, "alice");
                assert_eq!(&*who.nick, "alicia");
                assert_eq!(&*who.user, "alice_u", "the rest of the identity stays");
            }
            other => panic!("{c}: {other:?}"),
        }
    }
    assert_eq!(t.hub.nick_of(1).as_deref(), Some("alicia"));
    // Her messages now carry the new name.
    t.say(1, SayTarget::Focus, MsgKind::Say, "hi").expect("say");
    assert_eq!(messages(&t.to(2))[0].1, "alicia");
}

#[test]
fn nick_change_rules() {
    let mut t = T::new();
    t.reg(1, "alice");
    t.reg(2, "bob");
    t.refused(
        1,
        Command::Nick("bob".into()),
        HubError::NickInUse(name("bob")),
    );
    t.refused(
        1,
        Command::Nick("BOB".into()),
        HubError::NickInUse(name("BOB")),
    );
    t.refused(
        1,
        Command::Nick("9lives".into()),
        HubError::ErroneousNick {
            nick: name("9lives"),
            reason: "a nickname cannot start with a digit or '-'",
        },
    );
    // The same nick: nothing happens.
    t.ok(1, Command::Nick("alice".into()));
    assert!(t.out.is_empty());
    // Changing only the case is allowed and announced.
    t.ok(1, Command::Nick("Alice".into()));
    assert_eq!(t.recipients(), vec![1, 2]);
    assert!(
        matches!(&t.to(2)[0], Event::NickChanged { old, who } if &**old == "alice" && &*who.nick == "Alice")
    );
    // The old nick becomes free.
    t.ok(1, Command::Nick("alicia".into()));
    assert!(t.hub.nick_available("alice", 3));
    assert!(!t.hub.nick_available("ALICIA", 3));
    t.reg(3, "alice");
    t.refused(
        2,
        Command::Nick("Alicia".into()),
        HubError::NickInUse(name("Alicia")),
    );
}

// ---------------------------------------------------------------- quit

#[test]
fn quit_tells_each_sharer_once_and_cleans_up() {
    let mut t = T::new();
    t.reg(1, "alice");
    t.reg(2, "bob");
    t.reg(3, "carol");
    t.reg(4, "dave");
    t.ok(1, Command::Join("#x".into()));
    t.ok(2, Command::Join("#x".into()));
    t.ok(1, Command::Join("#solo".into()));
    t.ok(
        4,
        Command::Part {
            room: "#lobby".into(),
            reason: None,
        },
    );
    assert_eq!(t.hub.room_count(), 3, "#lobby, #x, #solo");
    t.ok(1, Command::Quit(Some("gone\r\nfishing".into())));
    assert_eq!(t.recipients(), vec![1, 2, 3], "{:#?}", t.all());
    for c in [2, 3] {
        match &t.to(c)[..] {
            [Event::Quit { who, reason }] => {
                assert_eq!(&*who.nick, "alice");
                assert_eq!(&**reason, "gone  fishing");
            }
            other => panic!("{c}: {other:?}"),
        }
    }
    assert_eq!(
        t.to(1),
        vec![Event::Closing {
            reason: name("gone  fishing")
        }]
    );
    assert_eq!(t.hub.member_count(), 3);
    assert_eq!(t.hub.nick_of(1), None);
    assert!(t.hub.nick_available("alice", 5));
    assert_eq!(t.hub.room_count(), 2, "#solo is gone, #x still has bob");
    t.ok(2, Command::Who("#x".into()));
    assert!(
        matches!(&t.to(2)[0], Event::WhoReply { members: ms, .. } if members(ms) == vec![("bob".into(), false, None)])
    );
    // The quitter is unknown now.
    assert_eq!(
        t.say(2, nick("alice"), MsgKind::Say, "hi"),
        Err(HubError::NoSuchNick(name("alice")))
    );
    t.refused(1, Command::Join("#x".into()), HubError::NotRegistered);
    t.reg(5, "alice");
}

#[test]
fn quit_without_reason_and_runtime_quit() {
    let mut t = T::new();
    t.reg(1, "alice");
    t.reg(2, "bob");
    t.ok(1, Command::Quit(None));
    assert!(matches!(&t.to(2)[..], [Event::Quit { reason, .. }] if &**reason == "Client quit"));
    // The runtime's quit (connection dropped) works the same way.
    t.out.clear();
    t.hub.quit(2, "Connection closed".into(), &mut t.out);
    assert_eq!(
        t.all(),
        vec![(
            2,
            Event::Closing {
                reason: name("Connection closed")
            }
        )]
    );
    assert_eq!(t.hub.member_count(), 0);
    assert_eq!(t.hub.room_count(), 0);
    // Quitting twice is harmless.
    t.out.clear();
    t.hub.quit(2, "again".into(), &mut t.out);
    assert_eq!(t.recipients(), vec![2]);
}

// ---------------------------------------------------------------- topics

#[test]
fn topics_set_query_clear() {
    // Without +t anyone in the room may set the topic.
    let mut t = T::with(HubConfig {
        topic_len: 10,
        default_modes: "n".into(),
        ..HubConfig::default()
    });
    t.reg(1, "alice");
    t.reg(2, "bob");
    t.ok(
        1,
        Command::Topic {
            room: "#lobby".into(),
            topic: None,
        },
    );
    assert_eq!(
        t.all(),
        vec![(
            1,
            Event::TopicIs {
                room: name("#lobby"),
                topic: None
            }
        )]
    );
    t.ok(
        2,
        Command::Topic {
            room: "#LOBBY".into(),
            topic: Some("release\r\nday is today".into()),
        },
    );
    assert_eq!(t.recipients(), vec![1, 2]);
    for c in [1, 2] {
        match &t.to(c)[..] {
            [
                Event::TopicChanged {
                    room,
                    topic: Some(topic),
                    by,
                },
            ] => {
                assert_eq!(&**room, "#lobby");
                assert_eq!(&*topic.text, "release  d", "cut to topic_len, CR LF gone");
                assert_eq!(&*topic.setter, "bob");
                assert_eq!(&*by.nick, "bob");
            }
            other => panic!("{c}: {other:?}"),
        }
    }
    t.ok(
        1,
        Command::Topic {
            room: "#lobby".into(),
            topic: None,
        },
    );
    match &t.to(1)[..] {
        [
            Event::TopicIs {
                room,
                topic: Some(topic),
            },
        ] => {
            assert_eq!(&**room, "#lobby");
            assert_eq!(&*topic.text, "release  d");
            assert_eq!(&*topic.setter, "bob");
        }
        other => panic!("{other:?}"),
    }
    // A newcomer is told the topic on joining, before the names.
    t.reg(3, "carol");
    let c = t.to(3);
    let topic_at = c
        .iter()
        .position(
            |e| matches!(e, Event::TopicIs { topic: Some(tp), .. } if &*tp.text == "release  d"),
        )
        .expect("topic on join");
    let names_at = c
        .iter()
        .position(|e| matches!(e, Event::Names { .. }))
        .expect("names on join");
    assert!(topic_at < names_at);
    // Clearing.
    t.ok(
        1,
        Command::Topic {
            room: "#lobby".into(),
            topic: Some(String::new()),
        },
    );
    assert_eq!(t.recipients(), vec![1, 2, 3]);
    assert!(
        matches!(&t.to(3)[..], [Event::TopicChanged { topic: None, by, .. }] if &*by.nick == "alice")
    );
    t.ok(
        2,
        Command::Topic {
            room: "#lobby".into(),
            topic: None,
        },
    );
    assert!(matches!(&t.to(2)[..], [Event::TopicIs { topic: None, .. }]));
}

#[test]
fn topic_needs_membership_to_set_but_not_to_read() {
    let mut t = T::new();
    t.reg(1, "alice");
    t.reg(2, "bob");
    t.ok(1, Command::Join("#a".into()));
    t.ok(
        1,
        Command::Topic {
            room: "#a".into(),
            topic: Some("mine".into()),
        },
    );
    t.refused(
        2,
        Command::Topic {
            room: "#a".into(),
            topic: Some("hijack".into()),
        },
        HubError::NotInRoom(name("#a")),
    );
    t.ok(
        2,
        Command::Topic {
            room: "#a".into(),
            topic: None,
        },
    );
    assert!(
        matches!(&t.to(2)[..], [Event::TopicIs { topic: Some(tp), .. }] if &*tp.text == "mine")
    );
    t.refused(
        2,
        Command::Topic {
            room: "#none".into(),
            topic: Some("x".into()),
        },
        HubError::NoSuchRoom(name("#none")),
    );
}

// ---------------------------------------------------------------- rooms, who, whois

#[test]
fn room_list_has_counts_and_is_sorted() {
    let mut t = T::new();
    t.reg(1, "alice");
    t.reg(2, "bob");
    t.reg(3, "carol");
    t.ok(1, Command::Join("#zeta".into()));
    t.ok(2, Command::Join("#zeta".into()));
    t.ok(3, Command::Join("#alpha".into()));
    t.ok(
        3,
        Command::Topic {
            room: "#alpha".into(),
            topic: Some("first".into()),
        },
    );
    t.ok(1, Command::Join("#Mid".into()));
    t.ok(2, Command::ListRooms);
    let got: Vec<RoomInfo> = match &t.all()[..] {
        [(2, Event::RoomList { rooms })] => rooms.clone(),
        other => panic!("{other:?}"),
    };
    let want = [
        ("#Mid", 1, None),
        ("#alpha", 1, Some("first")),
        ("#lobby", 3, None),
        ("#zeta", 2, None),
    ];
    let got: Vec<(&str, usize, Option<&str>)> = got
        .iter()
        .map(|r| (&*r.name, r.members, r.topic.as_deref()))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn who_by_room_by_nick_and_unknown() {
    let mut t = T::new();
    t.reg(1, "alice");
    t.reg(2, "bob");
    t.ok(2, Command::Away(Some("lunch".into())));
    t.ok(1, Command::Who("#LOBBY".into()));
    match &t.all()[..] {
        [(1, Event::WhoReply { mask, members: ms })] => {
            // The room as it names itself, not as it was asked for.
            assert_eq!(&**mask, "#lobby");
            assert_eq!(
                members(ms),
                vec![
                    ("alice".into(), true, None),
                    ("bob".into(), false, Some("lunch".into()))
                ]
            );
            assert_eq!(&*ms[1].user.user, "bob_u");
            assert_eq!(&*ms[1].user.host, "127.0.0.1");
        }
        other => panic!("{other:?}"),
    }
    t.ok(1, Command::Who("BOB".into()));
    assert!(
        matches!(&t.to(1)[..], [Event::WhoReply { members: ms, .. }] if members(ms) == vec![("bob".into(), false, Some("lunch".into()))])
    );
    t.ok(1, Command::Who("#nothing".into()));
    assert!(
        matches!(&t.to(1)[..], [Event::WhoReply { mask, members: ms }] if &**mask == "#nothing" && ms.is_empty())
    );
    t.ok(1, Command::Who("nobody".into()));
    assert!(matches!(&t.to(1)[..], [Event::WhoReply { members: ms, .. }] if ms.is_empty()));
}

#[test]
fn names_of_a_room() {
    let mut t = T::new();
    t.reg(1, "alice");
    t.reg(2, "bob");
    t.ok(1, Command::Names("#lobby".into()));
    assert!(
        matches!(&t.all()[..], [(1, Event::Names { room, members: ms, .. })] if &**room == "#lobby" && members(ms).len() == 2)
    );
    t.ok(1, Command::Names("#none".into()));
    assert!(
        matches!(&t.all()[..], [(1, Event::Names { room, members: ms, .. })] if &**room == "#none" && ms.is_empty())
    );
}

#[test]
fn whois() {
    let mut t = T::new();
    t.reg(1, "alice");
    t.reg(2, "bob");
    t.ok(2, Command::Join("#b".into()));
    t.ok(2, Command::Join("#a".into()));
    t.ok(2, Command::Away(Some("out".into())));
    t.ok(1, Command::Whois("BOB".into()));
    match &t.all()[..] {
        [
            (
                1,
                Event::WhoisReply {
                    user, rooms, away, ..
                },
            ),
        ] => {
            assert_eq!(&*user.nick, "bob");
            assert_eq!(&*user.user, "bob_u");
            assert_eq!(&*user.realname, "bob Real");
            // In the order joined.
            assert_eq!(
                rooms.iter().map(|r| &**r).collect::<Vec<_>>(),
                vec!["#lobby", "#b", "#a"]
            );
            assert_eq!(away.as_deref(), Some("out"));
        }
        other => panic!("{other:?}"),
    }
    t.refused(
        1,
        Command::Whois("nobody".into()),
        HubError::NoSuchNick(name("nobody")),
    );
}

#[test]
fn times_come_from_the_hubs_clock() {
    let mut t = T::new();
    let start = t.clock.now();
    t.reg(1, "alice");
    t.reg(2, "bob");
    t.clock.advance(Duration::from_secs(30));
    t.say(2, SayTarget::Focus, MsgKind::Say, "hi")
        .expect("said");
    let sent = t
        .all()
        .iter()
        .find_map(|(_, e)| match e {
            Event::Message { time, .. } => Some(*time),
            _ => None,
        })
        .expect("a message");
    assert_eq!(sent, start + Duration::from_secs(30));
    t.clock.advance(Duration::from_secs(90));
    t.ok(1, Command::Whois("bob".into()));
    match &t.all()[..] {
        [
            (
                1,
                Event::WhoisReply {
                    idle_secs, signon, ..
                },
            ),
        ] => {
            assert_eq!(*idle_secs, 90);
            assert_eq!(*signon, start);
        }
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------- messages

#[test]
fn room_message_reaches_every_member_and_only_them() {
    let mut t = T::new();
    t.reg(1, "alice");
    t.reg(2, "bob");
    t.reg(3, "carol");
    t.ok(1, Command::Join("#x".into()));
    t.ok(2, Command::Join("#x".into()));
    t.say(1, room("#X"), MsgKind::Say, "hello x").expect("say");
    assert_eq!(t.recipients(), vec![1, 2]);
    let m = messages(&t.to(2));
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].1, "alice");
    assert_eq!(m[0].2, MsgTarget::Room(name("#x")));
    assert_eq!(m[0].3, MsgKind::Say);
    assert_eq!(m[0].4, "hello x");
    // The same shared event goes to everyone: built once.
    assert!(Arc::ptr_eq(&t.out[0].1, &t.out[1].1));
    // Focus: alice is focused on #x.
    t.say(1, SayTarget::Focus, MsgKind::Say, "focus")
        .expect("say");
    assert_eq!(t.recipients(), vec![1, 2]);
    // Carol is in the lobby only.
    t.say(3, SayTarget::Focus, MsgKind::Say, "lobby")
        .expect("say");
    assert_eq!(t.recipients(), vec![1, 2, 3]);
    assert_eq!(messages(&t.to(1))[0].2, MsgTarget::Room(name("#lobby")));
}

#[test]
fn cannot_send_to_a_room_one_is_not_in() {
    let mut t = T::new();
    t.reg(1, "alice");
    t.reg(2, "bob");
    t.ok(2, Command::Join("#private".into()));
    let r = t.say(1, room("#private"), MsgKind::Say, "let me in");
    assert_eq!(r, Err(HubError::CannotSendToRoom(name("#private"))));
    assert!(t.out.is_empty());
    let r = t.say(1, room("#nowhere"), MsgKind::Say, "hello");
    assert_eq!(r, Err(HubError::NoSuchRoom(name("#nowhere"))));
    assert!(t.out.is_empty());
}

#[test]
fn private_messages_reach_recipient_and_sender() {
    let mut t = T::new();
    t.reg(1, "alice");
    t.reg(2, "bob");
    t.reg(3, "carol");
    t.say(1, nick("BOB"), MsgKind::Say, "psst").expect("pm");
    assert_eq!(t.recipients(), vec![1, 2]);
    for c in [1, 2] {
        let m = messages(&t.to(c));
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].1, "alice");
        assert_eq!(
            m[0].2,
            MsgTarget::Nick(name("bob")),
            "the recipient's real spelling"
        );
        assert_eq!(m[0].4, "psst");
    }
    // To oneself: once.
    t.say(1, nick("alice"), MsgKind::Say, "note").expect("pm");
    assert_eq!(t.recipients(), vec![1]);
    let r = t.say(1, nick("nobody"), MsgKind::Say, "hello?");
    assert_eq!(r, Err(HubError::NoSuchNick(name("nobody"))));
    assert!(t.out.is_empty());
}

#[test]
fn away_status_and_auto_reply() {
    let mut t = T::new();
    t.reg(1, "alice");
    t.reg(2, "bob");
    t.ok(2, Command::Away(Some("at lunch".into())));
    assert_eq!(t.to(2), vec![Event::AwayChanged { away: true }]);
    // alice shares #lobby with bob: she is told (for IRCv3 away-notify).
    assert!(matches!(
        &t.to(1)[..],
        [Event::AwayStatus { who, message: Some(m) }] if &*who.nick == "bob" && &**m == "at lunch"
    ));
    t.say(1, nick("bob"), MsgKind::Say, "you there?")
        .expect("pm");
    let a = t.to(1);
    assert!(a.contains(&Event::IsAway {
        nick: name("bob"),
        message: name("at lunch")
    }));
    assert_eq!(messages(&a).len(), 1, "the sender still gets the message");
    let b = t.to(2);
    assert!(!b.iter().any(|e| matches!(e, Event::IsAway { .. })));
    assert_eq!(messages(&b).len(), 1, "the away person still gets it");
    // Actions get the auto-reply too; notices never do.
    t.say(1, nick("bob"), MsgKind::Action, "pokes").expect("pm");
    assert!(t.to(1).iter().any(|e| matches!(e, Event::IsAway { .. })));
    t.say(1, nick("bob"), MsgKind::Notice, "fyi")
        .expect("notice");
    assert!(!t.to(1).iter().any(|e| matches!(e, Event::IsAway { .. })));
    assert_eq!(messages(&t.to(2)).len(), 1);
    // Room messages never trigger it.
    t.say(1, SayTarget::Focus, MsgKind::Say, "all")
        .expect("say");
    assert!(
        !t.all()
            .iter()
            .any(|(_, e)| matches!(e, Event::IsAway { .. }))
    );
    // Back: no more replies. An empty message also means back.
    t.ok(2, Command::Away(None));
    assert_eq!(t.to(2), vec![Event::AwayChanged { away: false }]);
    t.say(1, nick("bob"), MsgKind::Say, "hi").expect("pm");
    assert!(!t.to(1).iter().any(|e| matches!(e, Event::IsAway { .. })));
    t.ok(2, Command::Away(Some("x".into())));
    t.ok(2, Command::Away(Some(String::new())));
    assert_eq!(t.to(2), vec![Event::AwayChanged { away: false }]);
    t.ok(1, Command::Who("bob".into()));
    assert!(matches!(&t.to(1)[..], [Event::WhoReply { members: ms, .. }] if ms[0].away.is_none()));
}

#[test]
fn away_message_is_cleaned_and_cut() {
    let mut t = T::with(HubConfig {
        away_len: 5,
        ..HubConfig::default()
    });
    t.reg(1, "alice");
    t.reg(2, "bob");
    t.ok(2, Command::Away(Some("a\r\nbcdefgh".into())));
    t.say(1, nick("bob"), MsgKind::Say, "hi").expect("pm");
    assert!(t.to(1).contains(&Event::IsAway {
        nick: name("bob"),
        message: name("a  bc")
    }));
}

#[test]
fn kinds_are_preserved() {
    let mut t = T::new();
    t.reg(1, "alice");
    t.reg(2, "bob");
    for kind in [MsgKind::Say, MsgKind::Action, MsgKind::Notice] {
        t.say(1, SayTarget::Focus, kind, "text").expect("room");
        assert_eq!(messages(&t.to(2))[0].3, kind);
        t.say(1, nick("bob"), kind, "text").expect("pm");
        assert_eq!(messages(&t.to(2))[0].3, kind);
    }
}

#[test]
fn line_breaks_and_nul_become_spaces() {
    let mut t = T::new();
    t.reg(1, "alice");
    t.reg(2, "bob");
    t.say(
        1,
        SayTarget::Focus,
        MsgKind::Say,
        "hi\r\nPRIVMSG #lobby :evil\rQUIT\0x\n",
    )
    .expect("say");
    let m = messages(&t.to(2));
    assert_eq!(m[0].4, "hi  PRIVMSG #lobby :evil QUIT x ");
    t.say(1, nick("bob"), MsgKind::Notice, "a\nb").expect("pm");
    assert_eq!(messages(&t.to(2))[0].4, "a b");
}

#[test]
fn text_is_cut_on_a_char_boundary() {
    let mut t = T::with(HubConfig {
        text_len: 5,
        ..HubConfig::default()
    });
    t.reg(1, "alice");
    t.reg(2, "bob");
    // 'é' takes bytes 4..6: it does not fit and is dropped whole.
    t.say(1, SayTarget::Focus, MsgKind::Say, "abcdéfg")
        .expect("say");
    assert_eq!(messages(&t.to(2))[0].4, "abcd");
    t.say(1, SayTarget::Focus, MsgKind::Say, "abcdefgh")
        .expect("say");
    assert_eq!(messages(&t.to(2))[0].4, "abcde");
    t.say(1, SayTarget::Focus, MsgKind::Say, "ééé")
        .expect("say");
    assert_eq!(messages(&t.to(2))[0].4, "éé");
    assert_eq!(clean_text("日本語", 4), "日");
    assert_eq!(clean_text("日本語", 2), "");
}

/// A stand-in for a protocol's line: 40 bytes for the sender's nickname,
/// the target, the text and 2 more for an action.
fn forty_bytes(from: &UserInfo, to: &MsgTarget, kind: MsgKind) -> usize {
    let target = match to {
        MsgTarget::Room(n) | MsgTarget::Nick(n) | MsgTarget::Status(n) => n,
    };
    let extra = if kind == MsgKind::Action { 2 } else { 0 };
    40usize.saturating_sub(from.nick.len() + target.len() + extra)
}

fn say_with(
    t: &mut T,
    conn: ConnId,
    target: SayTarget,
    kind: MsgKind,
    text: &str,
    overflow: Overflow,
) -> Outcome {
    t.run(
        conn,
        Command::Say {
            target,
            kind,
            text: text.into(),
            tags: Vec::new(),
            overflow,
        },
    )
}

#[test]
fn text_is_kept_to_what_the_relay_line_holds() {
    let mut t = T::new();
    t.hub.fit_text_with(forty_bytes);
    t.reg(1, "alice");
    t.reg(2, "bob");
    // #lobby (6) and alice (5): 29 bytes of text.
    let long = "0123456789".repeat(4);
    say_with(
        &mut t,
        1,
        SayTarget::Focus,
        MsgKind::Say,
        &long,
        Overflow::Cut,
    )
    .expect("say");
    let got = messages(&t.to(2));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].4, long[..29]);
    // The sender's echo holds the same text as everyone else's copy.
    assert_eq!(messages(&t.to(1))[0].4, long[..29]);
    // The target's length counts; so does an action's own overhead.
    say_with(
        &mut t,
        1,
        SayTarget::Nick("bob".into()),
        MsgKind::Action,
        &long,
        Overflow::Cut,
    )
    .expect("say");
    assert_eq!(messages(&t.to(2))[0].4, long[..30]);
    // A character that does not fit whole is left out whole.
    let wide = format!("{}é", "x".repeat(28));
    say_with(
        &mut t,
        1,
        SayTarget::Focus,
        MsgKind::Say,
        &wide,
        Overflow::Cut,
    )
    .expect("say");
    assert_eq!(messages(&t.to(2))[0].4, "x".repeat(28));
    // Text that fits is untouched.
    say_with(
        &mut t,
        1,
        SayTarget::Focus,
        MsgKind::Say,
        "short",
        Overflow::Cut,
    )
    .expect("say");
    assert_eq!(messages(&t.to(2))[0].4, "short");
    // `text_len` still applies when it is the smaller limit.
    let mut t = T::with(HubConfig {
        text_len: 10,
        ..HubConfig::default()
    });
    t.hub.fit_text_with(forty_bytes);
    t.reg(1, "alice");
    t.reg(2, "bob");
    say_with(
        &mut t,
        1,
        SayTarget::Focus,
        MsgKind::Say,
        &long,
        Overflow::Cut,
    )
    .expect("say");
    assert_eq!(messages(&t.to(2))[0].4, long[..10]);
}

#[test]
fn split_text_becomes_several_messages_in_order() {
    let mut t = T::new();
    t.hub.fit_text_with(forty_bytes);
    t.reg(1, "alice");
    t.reg(2, "bob");
    // 29 bytes a message: split at the last space in the second half.
    let text = "aaaa bbbb cccc dddd eeee ffff gggg hhhh iiii jjjj";
    say_with(
        &mut t,
        1,
        SayTarget::Focus,
        MsgKind::Say,
        text,
        Overflow::Split,
    )
    .expect("say");
    let got = messages(&t.to(2));
    let texts: Vec<&str> = got.iter().map(|m| m.4.as_str()).collect();
    assert_eq!(
        texts,
        ["aaaa bbbb cccc dddd eeee ffff", "gggg hhhh iiii jjjj"]
    );
    assert!(got[0].0 < got[1].0, "each piece has its own, later, msgid");
    assert_eq!(messages(&t.to(1)).len(), 2, "the sender's echo too");
    // Nothing is lost, even without spaces.
    let solid = "é".repeat(40);
    say_with(
        &mut t,
        1,
        SayTarget::Focus,
        MsgKind::Say,
        &solid,
        Overflow::Split,
    )
    .expect("say");
    let got = messages(&t.to(2));
    assert!(got.iter().all(|m| m.4.len() <= 29));
    assert_eq!(got.iter().map(|m| m.4.as_str()).collect::<String>(), solid);
    // Without a relay line, text_len alone decides.
    let mut t = T::with(HubConfig {
        text_len: 5,
        ..HubConfig::default()
    });
    t.reg(1, "alice");
    t.reg(2, "bob");
    say_with(
        &mut t,
        1,
        SayTarget::Focus,
        MsgKind::Say,
        "abcdefgh",
        Overflow::Split,
    )
    .expect("say");
    let texts: Vec<String> = messages(&t.to(2)).into_iter().map(|m| m.4).collect();
    assert_eq!(texts, ["abcde", "fgh"]);
}

#[test]
fn splitting_prefers_a_space_and_keeps_every_character() {
    assert_eq!(split_text("hello", 10), vec!["hello"]);
    assert_eq!(split_text("", 10), vec![""]);
    assert_eq!(split_text("aaaa bbbb cccc", 10), vec!["aaaa bbbb", "cccc"]);
    let s = "é".repeat(10);
    let parts = split_text(&s, 5);
    assert!(parts.iter().all(|p| p.len() <= 5));
    assert_eq!(parts.concat(), s);
}

#[test]
fn empty_text_is_refused() {
    let mut t = T::new();
    t.reg(1, "alice");
    t.reg(2, "bob");
    assert_eq!(
        t.say(1, SayTarget::Focus, MsgKind::Say, ""),
        Err(HubError::NoText)
    );
    assert_eq!(
        t.say(1, nick("bob"), MsgKind::Say, ""),
        Err(HubError::NoText)
    );
    assert!(t.out.is_empty());
}

#[test]
fn per_sender_order_is_kept_for_every_recipient() {
    let mut t = T::new();
    t.reg(1, "alice");
    t.reg(2, "bob");
    t.reg(3, "carol");
    let mut all = Vec::new();
    for i in 0..200 {
        // Alice talks; bob interleaves now and then.
        t.say(1, SayTarget::Focus, MsgKind::Say, &format!("a{i}"))
            .expect("say");
        all.append(&mut t.out);
        if i % 7 == 0 {
            t.say(2, SayTarget::Focus, MsgKind::Say, &format!("b{i}"))
                .expect("say");
            all.append(&mut t.out);
        }
    }
    for who in [1, 2, 3] {
        let got: Vec<(u64, String, String)> = all
            .iter()
            .filter(|(c, _)| *c == who)
            .filter_map(|(_, e)| as_message(e))
            .map(|(id, from, _, _, text)| (id, from, text))
            .collect();
        let ids: Vec<u64> = got.iter().map(|m| m.0).collect();
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "{who}: ids not increasing"
        );
        let from_alice: Vec<&str> = got
            .iter()
            .filter(|m| m.1 == "alice")
            .map(|m| m.2.as_str())
            .collect();
        let want: Vec<String> = (0..200).map(|i| format!("a{i}")).collect();
        assert_eq!(
            from_alice, want,
            "{who}: alice's messages out of order or lost"
        );
        let from_bob = got.iter().filter(|m| m.1 == "bob").count();
        assert_eq!(from_bob, (0..200).filter(|i| i % 7 == 0).count());
    }
}

#[test]
fn away_status_reaches_those_who_share_a_room_only() {
    let mut t = T::with(HubConfig {
        default_rooms: vec![],
        ..HubConfig::default()
    });
    t.reg(1, "alice");
    t.reg(2, "bob");
    t.reg(3, "carol");
    t.ok(1, Command::Join("#a".into()));
    t.ok(2, Command::Join("#a".into()));
    t.ok(2, Command::Away(Some("brb".into())));
    assert_eq!(t.recipients(), vec![1, 2], "carol shares no room");
    // Someone away who joins is shown away to the room, after the JOIN.
    t.ok(3, Command::Join("#b".into()));
    t.ok(2, Command::Join("#b".into()));
    let c = t.to(3);
    let join = c.iter().position(|e| matches!(e, Event::Joined { .. }));
    let away = c.iter().position(
        |e| matches!(e, Event::AwayStatus { who, message: Some(_) } if &*who.nick == "bob"),
    );
    assert!(join.is_some() && away > join, "{c:?}");
    assert!(
        !t.to(2)
            .iter()
            .any(|e| matches!(e, Event::AwayStatus { .. })),
        "not told of oneself"
    );
    // Back: told with no message.
    t.ok(2, Command::Away(None));
    assert!(
        t.to(3)
            .iter()
            .any(|e| matches!(e, Event::AwayStatus { message: None, .. }))
    );
}

#[test]
fn setname_changes_the_real_name_for_everyone_sharing_a_room() {
    let mut t = T::new();
    t.reg(1, "alice");
    t.reg(2, "bob");
    t.ok(1, Command::Setname("  Alice Liddell ".into()));
    assert_eq!(t.recipients(), vec![1, 2]);
    assert!(matches!(
        &t.to(2)[..],
        [Event::RealnameChanged { who }] if &*who.realname == "Alice Liddell"
    ));
    t.ok(2, Command::Whois("alice".into()));
    assert!(matches!(
        &t.to(2)[..],
        [Event::WhoisReply { user, .. }] if &*user.realname == "Alice Liddell"
    ));
    for bad in ["", "   ", "tab\there", &"x".repeat(REALNAME_LEN + 1)] {
        t.refused(1, Command::Setname(bad.into()), HubError::InvalidRealname);
    }
}

#[test]
fn tagmsg_follows_the_rules_of_messages() {
    let mut t = T::with(HubConfig {
        default_rooms: vec![],
        ..HubConfig::default()
    });
    t.reg(1, "alice");
    t.reg(2, "bob");
    t.ok(1, Command::Join("#a".into()));
    t.ok(2, Command::Join("#a".into()));
    let tags = vec![("+typing".to_string(), "active".to_string())];
    t.ok(
        2,
        Command::TagMsg {
            target: room("#a"),
            tags: tags.clone(),
        },
    );
    assert_eq!(
        t.recipients(),
        vec![1, 2],
        "the sender too, for echo-message"
    );
    match &t.to(1)[..] {
        [Event::TagMsg { from, tags, .. }] => {
            assert_eq!(&*from.nick, "bob");
            assert_eq!(&*tags[0].0, "+typing");
        }
        other => panic!("{other:?}"),
    }
    // Outsiders of a +n room are refused, like messages.
    t.reg(3, "carol");
    t.refused(
        3,
        Command::TagMsg {
            target: room("#a"),
            tags: tags.clone(),
        },
        HubError::CannotSendToRoom(name("#a")),
    );
    // To an away person: no RPL_AWAY (typing would flood it).
    t.ok(2, Command::Away(Some("out".into())));
    t.ok(
        1,
        Command::TagMsg {
            target: nick("bob"),
            tags: tags.clone(),
        },
    );
    assert!(!t.to(1).iter().any(|e| matches!(e, Event::IsAway { .. })));
    // Messages carry their tags, with CR/LF made harmless.
    t.ok(
        1,
        Command::Say {
            target: room("#a"),
            kind: MsgKind::Say,
            text: "hi".into(),
            tags: vec![("+draft/reply".into(), "1\r\n2".into())],
            overflow: Overflow::Cut,
        },
    );
    assert!(matches!(
        &t.to(2)[..],
        [Event::Message { tags, .. }] if &*tags[0].1 == "1  2"
    ));
}

// ------------------------------------------------------------- accounts

#[test]
fn a_login_is_told_to_everyone_sharing_a_room_and_kept_on_the_member() {
    let mut t = T::new();
    t.reg(1, "alice");
    t.reg(2, "bob");
    t.reg(3, "carol");
    t.ok(
        3,
        Command::Part {
            room: "#lobby".into(),
            reason: None,
        },
    );
    t.ok(1, Command::Login(Some("alice".into())));
    let told = |e: &Event| matches!(e, Event::AccountChanged { who } if who.account.as_deref() == Some("alice"));
    assert!(t.to(1).iter().any(told));
    assert!(t.to(2).iter().any(told));
    assert!(t.to(3).is_empty(), "carol shares no room");
    assert_eq!(t.hub.account_of(1).as_deref(), Some("alice"));
    // Messages carry the sender's account from now on.
    t.say(1, SayTarget::Room("#lobby".into()), MsgKind::Say, "hi")
        .expect("said");
    assert!(t.to(2).iter().any(
        |e| matches!(e, Event::Message { from, .. } if from.account.as_deref() == Some("alice"))
    ));
    // Logging in again to the same account changes nothing.
    t.ok(1, Command::Login(Some("alice".into())));
    assert!(t.out.is_empty());
    t.ok(1, Command::Login(None));
    assert_eq!(t.hub.account_of(1), None);
}

#[test]
fn a_login_before_registration_applies_at_registration() {
    let mut t = T::new();
    t.ok(1, Command::Login(Some("alice".into())));
    t.reg(1, "alice");
    assert_eq!(t.hub.account_of(1).as_deref(), Some("alice"));
    // A connection that quits before registering leaves nothing behind.
    t.ok(2, Command::Login(Some("bob".into())));
    t.ok(2, Command::Quit(None));
    t.reg(2, "bob");
    assert_eq!(t.hub.account_of(2), None);
}

/// A hub with the services on and accounts `alice` and `bob`.
fn with_services() -> T {
    let mut t = T::new();
    t.hub.set_services(Services {
        hold_offline: true,
        nick_grace: Some(Duration::from_secs(60)),
        replay: true,
    });
    t.hub
        .seed_accounts(["alice".to_string(), "bob".to_string()]);
    t
}

fn protect_generation(effects: &[Effect], conn: ConnId) -> Option<u64> {
    effects.iter().find_map(|e| match e {
        Effect::Protect {
            conn: c,
            generation,
            after,
            ..
        } if *c == conn => {
            assert_eq!(*after, Duration::from_secs(60));
            Some(*generation)
        }
        _ => None,
    })
}

#[test]
fn a_registered_nickname_is_reclaimed_from_whoever_does_not_log_in() {
    let mut t = with_services();
    t.reg(1, "alice");
    assert!(
        t.to(1).iter().any(
            |e| matches!(e, Event::NickProtected { nick, grace_secs: 60 } if &**nick == "alice")
        )
    );
    let first = protect_generation(&t.hub.take_effects(), 1).expect("protected");
    // A nickname nobody registered is not protected.
    t.reg(3, "carol");
    assert_eq!(protect_generation(&t.hub.take_effects(), 3), None);
    // Changing nickname and back starts a new grace period: the first
    // one's rename is stale and does nothing.
    t.ok(1, Command::Nick("alicia".into()));
    t.ok(1, Command::Nick("alice".into()));
    let second = protect_generation(&t.hub.take_effects(), 1).expect("protected again");
    t.ok(
        1,
        Command::Reclaim {
            nick: "alice".into(),
            generation: first,
        },
    );
    assert!(t.out.is_empty());
    t.ok(
        1,
        Command::Reclaim {
            nick: "alice".into(),
            generation: second,
        },
    );
    let guest = t.hub.nick_of(1).expect("registered");
    assert!(guest.starts_with("Guest"), "{guest}");
    assert!(
        t.to(1)
            .iter()
            .any(|e| matches!(e, Event::NickChanged { old, .. } if &**old == "alice"))
    );
}

#[test]
fn logging_in_to_the_nickname_calls_the_rename_off() {
    let mut t = with_services();
    t.reg(2, "bob");
    let generation = protect_generation(&t.hub.take_effects(), 2).expect("protected");
    t.ok(2, Command::Login(Some("Bob".into())));
    t.ok(
        2,
        Command::Reclaim {
            nick: "bob".into(),
            generation,
        },
    );
    assert!(t.out.is_empty());
    assert_eq!(t.hub.nick_of(2).as_deref(), Some("bob"));
    // Logged in before taking it: no warning at all.
    t.ok(4, Command::Login(Some("alice".into())));
    t.reg(4, "alice");
    assert_eq!(protect_generation(&t.hub.take_effects(), 4), None);
}

#[test]
fn a_message_to_an_offline_account_is_held_not_refused() {
    let mut t = with_services();
    t.reg(1, "carol");
    t.hub.take_effects();
    t.say(1, SayTarget::Nick("BOB".into()), MsgKind::Say, "later")
        .expect("held");
    assert!(t.out.is_empty(), "nobody receives it now");
    match &t.hub.take_effects()[..] {
        [
            Effect::Hold {
                from: 1,
                account,
                message: Event::Message { text, to, .. },
            },
        ] => {
            assert_eq!(&**account, "BOB");
            assert_eq!(&**text, "later");
            assert_eq!(to, &MsgTarget::Nick("BOB".into()));
        }
        other => panic!("{other:?}"),
    }
    // A held message is cut or split as it would have been delivered.
    t.hub.fit_text_with(forty_bytes);
    let text = "aaaa bbbb cccc dddd eeee ffff gggg hhhh";
    say_with(
        &mut t,
        1,
        SayTarget::Nick("bob".into()),
        MsgKind::Say,
        text,
        Overflow::Split,
    )
    .expect("held");
    let held: Vec<String> = t
        .hub
        .take_effects()
        .into_iter()
        .filter_map(|e| match e {
            Effect::Hold {
                message: Event::Message { text, .. },
                ..
            } => Some(text.to_string()),
            _ => None,
        })
        .collect();
    // carol (5) and bob (3): 32 bytes a piece.
    assert_eq!(held, ["aaaa bbbb cccc dddd eeee ffff", "gggg hhhh"]);
    // Nobody's account: refused as ever.
    assert_eq!(
        t.say(1, SayTarget::Nick("dave".into()), MsgKind::Say, "hi"),
        Err(HubError::NoSuchNick(name("dave")))
    );
    // Holding off: refused too.
    t.hub.set_services(Services::default());
    assert_eq!(
        t.say(1, SayTarget::Nick("bob".into()), MsgKind::Say, "hi"),
        Err(HubError::NoSuchNick(name("bob")))
    );
}

#[test]
fn whoever_joins_a_room_is_replayed_its_history_up_to_the_join() {
    let mut t = with_services();
    t.reg(1, "carol");
    t.say(1, SayTarget::Focus, MsgKind::Say, "before")
        .expect("said");
    let said = t
        .all()
        .iter()
        .find_map(|(_, e)| match e {
            Event::Message { id, .. } => Some(*id),
            _ => None,
        })
        .expect("a message");
    t.reg(2, "dave");
    let replays: Vec<_> = t
        .hub
        .take_effects()
        .into_iter()
        .filter_map(|e| match e {
            Effect::Replay { to, room, upto } => Some((to, room.to_string(), upto)),
            _ => None,
        })
        .collect();
    assert_eq!(
        replays,
        vec![(1, "#lobby".into(), 0), (2, "#lobby".into(), said)]
    );
    // Joining a room one is in already replays nothing.
    t.ok(2, Command::Join("#lobby".into()));
    assert!(t.hub.take_effects().is_empty());
}

#[test]
fn nickserv_is_reserved() {
    let mut t = T::new();
    assert!(matches!(
        t.run(1, register("nickserv")),
        Err(HubError::ErroneousNick { .. })
    ));
    t.reg(1, "alice");
    assert!(matches!(
        t.run(1, Command::Nick("NickServ".into())),
        Err(HubError::ErroneousNick { .. })
    ));
}

/// The read marker of one answer or update, as `conn` received it.
fn markers_to(t: &T, conn: ConnId) -> Vec<(String, Option<SystemTime>)> {
    t.to(conn)
        .into_iter()
        .filter_map(|e| match e {
            Event::ReadMarker { target, at } => Some((target.to_string(), at)),
            _ => None,
        })
        .collect()
}

fn mark(target: &str, at: Option<SystemTime>) -> Command {
    Command::MarkRead {
        target: target.into(),
        at,
    }
}

#[test]
fn a_read_marker_moves_forward_only_and_never_past_now() {
    let mut t = T::new();
    t.reg(1, "alice");
    let now = t.clock.now();
    t.ok(1, mark("#lobby", None));
    assert_eq!(markers_to(&t, 1), vec![("#lobby".into(), None)]);
    let earlier = now - Duration::from_secs(60);
    t.ok(1, mark("#lobby", Some(earlier)));
    assert_eq!(markers_to(&t, 1), vec![("#lobby".into(), Some(earlier))]);
    // Back in time: the stored marker is the answer, and stays.
    t.ok(1, mark("#LOBBY", Some(earlier - Duration::from_secs(5))));
    assert_eq!(markers_to(&t, 1), vec![("#LOBBY".into(), Some(earlier))]);
    // Into the future: no further than now.
    t.ok(1, mark("#lobby", Some(now + Duration::from_secs(3600))));
    assert_eq!(markers_to(&t, 1), vec![("#lobby".into(), Some(now))]);
    // Private conversations have markers too; bad names are refused.
    t.ok(1, mark("Bob", None));
    assert_eq!(markers_to(&t, 1), vec![("Bob".into(), None)]);
    assert!(t.run(1, mark("no spaces", None)).is_err());
    assert!(t.run(1, mark("#bad room", None)).is_err());
}

#[test]
fn a_read_marker_reaches_every_connection_of_the_account_and_nobody_else() {
    let mut t = T::new();
    t.hub.keep_notes();
    t.reg(1, "alice");
    t.reg(2, "alice_phone");
    t.reg(3, "mallory");
    t.ok(1, Command::Login(Some("alice".into())));
    t.ok(2, Command::Login(Some("Alice".into())));
    let at = t.clock.now() - Duration::from_secs(10);
    t.ok(2, mark("#lobby", Some(at)));
    assert_eq!(t.recipients(), vec![1, 2]);
    assert_eq!(markers_to(&t, 1), vec![("#lobby".into(), Some(at))]);
    let notes = t.hub.take_notes();
    assert!(
        matches!(&notes[..], [Note::ReadMarker { account, target, at: a }]
            if names::same(account, "alice") && &**target == "#lobby" && *a == at),
        "{notes:?}"
    );
    // Someone else asking gets their own (none), never alice's.
    t.ok(3, mark("#lobby", None));
    assert_eq!(markers_to(&t, 3), vec![("#lobby".into(), None)]);
    // A marker of someone not logged in is the connection's alone, kept
    // nowhere and forgotten when it leaves.
    t.ok(3, mark("#lobby", Some(at)));
    assert_eq!(t.recipients(), vec![3]);
    assert!(t.hub.take_notes().is_empty());
    t.ok(3, Command::Quit(None));
    t.reg(3, "mallory");
    t.ok(3, mark("#lobby", None));
    assert_eq!(markers_to(&t, 3), vec![("#lobby".into(), None)]);
}

#[test]
fn joining_tells_the_joiner_its_marker_and_a_seeded_one_counts() {
    let mut t = T::new();
    let at = t.clock.now() - Duration::from_secs(100);
    t.hub.seed_read_marker("ALICE", "#Rust", at);
    t.reg(1, "alice");
    t.ok(1, Command::Login(Some("alice".into())));
    t.ok(1, Command::Join("#rust".into()));
    let names: Vec<Option<Option<SystemTime>>> = t
        .to(1)
        .into_iter()
        .filter_map(|e| match e {
            Event::Names { read_marker, .. } => Some(read_marker),
            _ => None,
        })
        .collect();
    assert_eq!(names, vec![Some(Some(at))]);
    t.reg(2, "bob");
    t.ok(2, Command::Join("#rust".into()));
    assert!(t.to(2).iter().any(|e| matches!(
        e,
        Event::Names {
            read_marker: Some(None),
            ..
        }
    )));
    // A names query is not a join: no marker.
    t.ok(2, Command::Names("#rust".into()));
    assert!(t.to(2).iter().any(|e| matches!(
        e,
        Event::Names {
            read_marker: None,
            ..
        }
    )));
}

#[test]
fn a_message_of_several_lines_is_one_message_kept_as_composed() {
    let mut t = T::with(HubConfig {
        multiline_max_bytes: 20,
        // Lines as sent: a continued line counts.
        multiline_max_lines: 4,
        ..HubConfig::default()
    });
    t.reg(1, "alice");
    t.reg(2, "bob");
    let texts = |t: &T| -> Vec<String> {
        t.to(2)
            .into_iter()
            .filter_map(|e| match e {
                Event::Message { text, .. } => Some(text.to_string()),
                _ => None,
            })
            .collect()
    };
    let lines = Overflow::Lines;
    say_with(
        &mut t,
        1,
        room("#lobby"),
        MsgKind::Say,
        "hi\n\nhow \rare you",
        lines,
    )
    .expect("say");
    assert_eq!(texts(&t), vec!["hi\n\nhow \rare you"]);
    // NUL never travels; past the limits the lines are cut (the edge
    // refuses such a batch before it gets here).
    say_with(
        &mut t,
        1,
        room("#lobby"),
        MsgKind::Say,
        "a\0b\nc\nd\ne\nf",
        lines,
    )
    .expect("say");
    assert_eq!(texts(&t), vec!["a b\nc\nd\ne"]);
    say_with(
        &mut t,
        1,
        room("#lobby"),
        MsgKind::Say,
        &"x".repeat(30),
        lines,
    )
    .expect("say");
    assert_eq!(texts(&t), vec!["x".repeat(20)]);
    // Blank lines only: nothing to send.
    assert_eq!(
        say_with(&mut t, 1, room("#lobby"), MsgKind::Say, "\n \n", lines),
        Err(HubError::NoText)
    );
    // Single-line text never keeps a break, whatever its overflow.
    say_with(
        &mut t,
        1,
        room("#lobby"),
        MsgKind::Say,
        "a\nb\rc",
        Overflow::Cut,
    )
    .expect("say");
    assert_eq!(texts(&t), vec!["a b c"]);
}

/// Private history is read by account, and the delivered event names only
/// the recipient's nickname: the hub notes the account each private
/// message reached (the sender's is in the event's `from`).
#[test]
fn a_private_message_notes_the_account_of_a_logged_in_recipient() {
    use crate::registry::Note;
    let mut t = T::new();
    t.hub.keep_notes();
    t.reg(1, "alice");
    t.reg(2, "bob");
    t.ok(2, Command::Login(Some("Bobby".into())));
    t.hub.take_notes();
    assert_eq!(
        t.say(1, SayTarget::Nick("BOB".into()), MsgKind::Say, "hi"),
        Ok(())
    );
    let id = match &messages(&t.to(2))[..] {
        [(id, _, MsgTarget::Nick(_), _, _)] => *id,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        t.hub.take_notes(),
        vec![Note::PrivateRecipient {
            id,
            account: "Bobby".into()
        }]
    );
    // Not logged in: nothing to note; a room's message: nothing either.
    assert_eq!(
        t.say(2, SayTarget::Nick("alice".into()), MsgKind::Say, "hi"),
        Ok(())
    );
    t.ok(1, Command::Join("#a".into()));
    assert_eq!(
        t.say(1, SayTarget::Room("#a".into()), MsgKind::Say, "hi all"),
        Ok(())
    );
    assert_eq!(t.hub.take_notes(), vec![]);
}
