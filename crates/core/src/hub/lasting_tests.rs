//! Rooms that outlive their members, without a network: an emptied room
//! kept with its topic and modes for the configured time and no longer,
//! the bound on how many are kept, operators remembered by account (and
//! the first joiner not made one), and the configuration's rooms.

use std::time::Duration;

use super::*;
use crate::ManualClock;
use crate::registry::Note;

struct T {
    hub: Hub,
    clock: Arc<ManualClock>,
    out: Vec<(ConnId, Arc<Event>)>,
}

impl T {
    fn with(cfg: HubConfig) -> T {
        let clock = Arc::new(ManualClock::new_year());
        let mut hub = Hub::new(
            HubConfig {
                default_rooms: Vec::new(),
                ..cfg
            },
            clock.clone(),
        );
        hub.keep_notes();
        T {
            hub,
            clock,
            out: Vec::new(),
        }
    }

    fn new() -> T {
        T::with(HubConfig {
            empty_room_keep_secs: 600,
            ..HubConfig::default()
        })
    }

    fn ok(&mut self, conn: ConnId, cmd: Command) {
        self.out.clear();
        let r = self.hub.handle(conn, cmd.clone(), &mut self.out);
        assert_eq!(r, Ok(()), "{cmd:?} from {conn}");
    }

    fn reg(&mut self, conn: ConnId, nick: &str, account: Option<&str>) {
        if let Some(a) = account {
            self.ok(conn, Command::Login(Some(a.into())));
        }
        self.ok(
            conn,
            Command::Register {
                nick: nick.into(),
                user: nick.into(),
                realname: nick.into(),
                host: "127.0.0.1".into(),
            },
        );
    }

    fn join(&mut self, conn: ConnId, room: &str) {
        self.ok(conn, Command::Join(room.into()));
    }

    fn part(&mut self, conn: ConnId, room: &str) {
        self.ok(
            conn,
            Command::Part {
                room: room.into(),
                reason: None,
            },
        );
    }

    fn topic(&mut self, conn: ConnId, room: &str, text: &str) {
        self.ok(
            conn,
            Command::Topic {
                room: room.into(),
                topic: Some(text.into()),
            },
        );
    }

    fn mode(&mut self, conn: ConnId, room: &str, args: &[&str]) {
        self.ok(
            conn,
            Command::Mode {
                target: room.into(),
                args: args.iter().map(|a| a.to_string()).collect(),
            },
        );
    }

    fn room(&self, name: &str) -> Option<&Room> {
        self.hub.rooms.get(&Key::of(name)).map(|r| &**r)
    }

    fn topic_of(&self, name: &str) -> Option<String> {
        self.room(name)
            .and_then(|r| r.topic.as_ref())
            .map(|t| t.text.to_string())
    }

    fn is_op(&self, room: &str, conn: ConnId) -> bool {
        self.room(room).is_some_and(|r| r.is_op(conn))
    }

    /// Did `conn` get `+o` for `nick` from services in the last command?
    fn opped(&self, conn: ConnId, nick: &str) -> bool {
        self.out.iter().any(|(c, e)| {
            *c == conn
                && matches!(&**e, Event::ModeChanged { by, changes, .. }
                if &*by.nick == SERVICES_NICK
                && changes.iter().any(|c| c.add && c.mode == 'o'
                    && c.arg.as_deref() == Some(nick)))
        })
    }
}

#[test]
fn an_emptied_room_keeps_topic_modes_and_lists_for_the_configured_time() {
    let mut t = T::new();
    t.reg(1, "alice", None);
    t.join(1, "#class");
    t.topic(1, "#class", "maths at nine");
    t.mode(1, "#class", &["+mk", "sesame"]);
    t.mode(1, "#class", &["+b", "troll!*@*"]);
    t.part(1, "#class");
    let room = t.room("#class").expect("kept while empty");
    assert!(room.members.is_empty());
    assert!(room.has('m'));
    assert_eq!(room.key.as_deref(), Some("sesame"));
    assert_eq!(room.bans.len(), 1);
    assert_eq!(t.hub.kept_room_count(), 1);

    // Still there just before its time; the key still guards it.
    t.clock.advance(Duration::from_secs(599));
    t.reg(2, "bob", None);
    let r = t.hub.handle(2, Command::Join("#class".into()), &mut t.out);
    assert!(matches!(r, Err(HubError::BadKey(_))), "{r:?}");
    t.ok(
        2,
        Command::JoinKey {
            room: "#class".into(),
            key: "sesame".into(),
        },
    );
    assert_eq!(t.topic_of("#class").as_deref(), Some("maths at nine"));
    assert_eq!(t.hub.kept_room_count(), 0, "in use again");
    // Nobody ran it by account: the first to come back is its operator,
    // as in a new room (nobody else could be recognised).
    assert!(t.is_op("#class", 2));

    // Emptied again; past its time it is forgotten, whoever joins next.
    t.part(2, "#class");
    t.clock.advance(Duration::from_secs(600));
    t.join(1, "#elsewhere");
    assert!(t.room("#class").is_none(), "forgotten");
    t.join(2, "#class");
    assert_eq!(t.topic_of("#class"), None);
    assert_eq!(t.room("#class").map(|r| r.key.is_some()), Some(false));
}

#[test]
fn a_room_with_nothing_set_or_a_keep_time_of_zero_goes_at_once() {
    let mut t = T::new();
    t.reg(1, "alice", None);
    t.join(1, "#plain");
    t.part(1, "#plain");
    assert!(t.room("#plain").is_none(), "nothing worth keeping");

    let mut t = T::with(HubConfig {
        empty_room_keep_secs: 0,
        ..HubConfig::default()
    });
    t.reg(1, "alice", None);
    t.join(1, "#r");
    t.topic(1, "#r", "gone soon");
    t.ok(1, Command::Quit(None));
    assert!(t.room("#r").is_none());
    assert_eq!(t.hub.room_count(), 0);
}

#[test]
fn at_most_max_empty_rooms_are_kept_the_longest_empty_going_first() {
    let mut t = T::with(HubConfig {
        empty_room_keep_secs: 600,
        max_empty_rooms: 2,
        ..HubConfig::default()
    });
    t.reg(1, "alice", None);
    for room in ["#a", "#b", "#c"] {
        t.join(1, room);
        t.topic(1, room, "kept");
        t.part(1, room);
        t.clock.advance(Duration::from_secs(1));
    }
    assert_eq!(t.hub.kept_room_count(), 2);
    assert!(t.room("#a").is_none());
    assert!(t.room("#b").is_some() && t.room("#c").is_some());
}

#[test]
fn operators_are_remembered_by_account_and_the_first_joiner_is_not_made_one() {
    let mut t = T::new();
    t.reg(1, "teacher", Some("teacher"));
    t.reg(2, "pupil", None);
    t.reg(3, "other", Some("other"));
    t.join(1, "#class");
    assert!(t.is_op("#class", 1));
    t.topic(1, "#class", "lesson one");
    t.ok(1, Command::Quit(None));
    // The teacher ran it logged in: whoever comes first is not operator.
    t.join(2, "#class");
    assert!(!t.is_op("#class", 2));
    t.join(3, "#class");
    assert!(!t.is_op("#class", 3));
    // The teacher, back and logged in, is made operator by services.
    t.reg(4, "teacher", Some("teacher"));
    t.join(4, "#class");
    assert!(t.is_op("#class", 4));
    assert!(t.opped(2, "teacher"), "{:?}", t.out);

    // Leaving without operator status forgets the account.
    t.mode(4, "#class", &["-o", "teacher"]);
    t.part(4, "#class");
    t.join(4, "#class");
    assert!(!t.is_op("#class", 4));

    // So does being kicked, operator or not.
    t.reg(5, "boss", Some("boss"));
    t.reg(6, "deputy", Some("deputy"));
    t.join(5, "#club");
    t.join(6, "#club");
    t.mode(5, "#club", &["+o", "deputy"]);
    t.ok(
        5,
        Command::Kick {
            room: "#club".into(),
            nick: "deputy".into(),
            reason: None,
        },
    );
    t.join(6, "#club");
    assert!(!t.is_op("#club", 6), "a kicked operator is not one again");
}

#[test]
fn a_registered_room_is_still_kept_for_its_founder() {
    let mut t = T::new();
    t.reg(1, "alice", Some("alice"));
    t.join(1, "#r");
    t.ok(
        1,
        Command::RoomReg(crate::registry::RoomRequest::Register("#r".into())),
    );
    t.part(1, "#r");
    t.clock.advance(Duration::from_secs(10_000));
    t.reg(2, "bob", None);
    t.join(2, "#r");
    assert!(!t.is_op("#r", 2));
    assert_eq!(
        t.hub.kept_room_count(),
        0,
        "registered rooms are not counted"
    );
}

fn spec(name: &str) -> RoomSpec {
    RoomSpec {
        name: name.into(),
        ..RoomSpec::default()
    }
}

#[test]
fn configured_rooms_exist_from_start_and_give_their_operators_ops() {
    let mut t = T::new();
    let class = RoomSpec {
        topic: Some("Welcome to class".into()),
        modes: Some("+ntm".into()),
        founder: Some("head".into()),
        operators: vec!["teacher".into()],
        ..spec("#Class")
    };
    let problems = t
        .hub
        .configure_rooms(&[class.clone(), spec("bad name")], &mut t.out);
    assert_eq!(problems.len(), 1, "{problems:?}");
    let room = t.room("#class").expect("exists from start");
    assert_eq!(&*room.name, "#Class");
    assert!(room.has('m'));
    assert_eq!(t.topic_of("#class").as_deref(), Some("Welcome to class"));
    // Registered to its founder: saved like a ChanServ registration.
    let notes = t.hub.take_notes();
    assert!(
        notes
            .iter()
            .any(|n| matches!(n, Note::SaveRoom(s) if &*s.founder == "head")),
        "{notes:?}"
    );

    t.reg(1, "pupil", None);
    t.join(1, "#class");
    assert!(!t.is_op("#class", 1), "not made operator for being first");
    t.reg(2, "teacher", Some("teacher"));
    t.join(2, "#class");
    assert!(t.is_op("#class", 2));
    t.reg(3, "head", Some("head"));
    t.join(3, "#class");
    assert!(t.is_op("#class", 3));
    // Everyone leaves: a configured room stays, whatever the time.
    for c in 1..=3 {
        t.ok(c, Command::Quit(None));
    }
    t.clock.advance(Duration::from_secs(100_000));
    t.reg(4, "late", None);
    t.join(4, "#elsewhere");
    assert!(t.room("#class").is_some());
}

#[test]
fn reconfiguring_applies_changes_and_leaves_unchanged_rooms_alone() {
    let mut t = T::new();
    let v1 = RoomSpec {
        topic: Some("first".into()),
        operators: vec!["teacher".into()],
        ..spec("#class")
    };
    t.hub.configure_rooms(std::slice::from_ref(&v1), &mut t.out);
    t.reg(1, "pupil", None);
    t.reg(2, "helper", Some("helper"));
    t.join(1, "#class");
    t.join(2, "#class");
    assert!(!t.is_op("#class", 2));
    // Someone with operator status changes the topic in the room...
    t.hub.rooms.get_mut(&Key::of("#class")).expect("room").topic = None;
    // ...and a reload with the same entry leaves it as it is.
    t.out.clear();
    t.hub.configure_rooms(std::slice::from_ref(&v1), &mut t.out);
    assert_eq!(t.topic_of("#class"), None);

    // A changed topic and modes, and a new operator who is present.
    let v2 = RoomSpec {
        topic: Some("second".into()),
        modes: Some("+nti".into()),
        operators: vec!["teacher".into(), "helper".into()],
        ..spec("#class")
    };
    t.out.clear();
    t.hub.configure_rooms(std::slice::from_ref(&v2), &mut t.out);
    assert_eq!(t.topic_of("#class").as_deref(), Some("second"));
    assert!(t.room("#class").is_some_and(|r| r.has('i')));
    assert!(t.is_op("#class", 2));
    assert!(t.opped(1, "helper"));
    assert!(t.out.iter().any(|(c, e)| *c == 1
        && matches!(&**e, Event::TopicChanged { topic: Some(tp), .. } if &*tp.text == "second")));

    // Dropped from the configuration: an ordinary room again, which goes
    // when emptied past its time.
    t.hub.configure_rooms(&[], &mut t.out);
    t.part(1, "#class");
    t.part(2, "#class");
    t.clock.advance(Duration::from_secs(601));
    t.join(1, "#elsewhere");
    assert!(t.room("#class").is_none());
}

#[test]
fn at_start_a_restored_room_keeps_its_own_topic() {
    let mut t = T::new();
    t.hub
        .seed_room(crate::registry::SavedRoom {
            name: "#class".into(),
            topic: Some(crate::Topic {
                text: "set by people".into(),
                setter: "teacher".into(),
                time: t.clock.now(),
            }),
            modes: "+nt".into(),
            founder: "head".into(),
            since: t.clock.now(),
        })
        .expect("seeded");
    let s = RoomSpec {
        topic: Some("from the file".into()),
        founder: Some("head".into()),
        ..spec("#class")
    };
    t.hub.configure_rooms(std::slice::from_ref(&s), &mut t.out);
    assert_eq!(t.topic_of("#class").as_deref(), Some("set by people"));
    let changed = RoomSpec {
        topic: Some("from the file, changed".into()),
        ..s
    };
    t.hub.configure_rooms(&[changed], &mut t.out);
    assert_eq!(
        t.topic_of("#class").as_deref(),
        Some("from the file, changed")
    );
}
