//! Registered rooms in the hub, without a network: who may register and
//! drop, what a registered room keeps while empty, the founder's operator
//! status, and the notes left for the runtime.

use super::*;
use crate::Topic;
use crate::registry::{Note, Refusal, RoomReply, RoomRequest, SavedRoom};

struct T {
    hub: Hub,
    out: Vec<(ConnId, Arc<Event>)>,
}

impl T {
    fn new() -> T {
        let mut hub = Hub::new(
            HubConfig {
                default_rooms: Vec::new(),
                ..HubConfig::default()
            },
            std::sync::Arc::new(crate::ManualClock::new_year()),
        );
        hub.keep_notes();
        T {
            hub,
            out: Vec::new(),
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

    fn to(&self, conn: ConnId) -> Vec<Event> {
        self.out
            .iter()
            .filter(|(c, _)| *c == conn)
            .map(|(_, e)| (**e).clone())
            .collect()
    }

    /// The ChanServ answer `conn` got from the last command.
    fn reply(&self, conn: ConnId) -> RoomReply {
        self.to(conn)
            .into_iter()
            .find_map(|e| match e {
                Event::RoomReg(r) => Some(r),
                _ => None,
            })
            .expect("an answer")
    }

    fn ask(&mut self, conn: ConnId, req: RoomRequest) -> RoomReply {
        self.ok(conn, Command::RoomReg(req));
        self.reply(conn)
    }

    /// Did `conn` get `+o` from services in the last command's events?
    fn opped(&self, conn: ConnId, nick: &str) -> bool {
        self.to(conn).iter().any(|e| {
            matches!(e, Event::ModeChanged { by, changes, .. }
                if &*by.nick == SERVICES_NICK
                && changes.iter().any(|c| c.add && c.mode == 'o'
                    && c.arg.as_deref() == Some(nick)))
        })
    }

    fn is_op(&self, room: &str, conn: ConnId) -> bool {
        self.hub.rooms[&Key::of(room)].is_op(conn)
    }
}

fn refused(reply: RoomReply) -> Refusal {
    match reply {
        RoomReply::Refused { why, .. } => why,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn registering_needs_an_account_and_operator_status() {
    let mut t = T::new();
    t.reg(1, "alice", None);
    t.reg(2, "bob", Some("bob"));
    assert_eq!(
        refused(t.ask(1, RoomRequest::Register("#r".into()))),
        Refusal::NoSuchRoom
    );
    t.ok(1, Command::Join("#r".into()));
    t.ok(2, Command::Join("#r".into()));
    assert_eq!(
        refused(t.ask(1, RoomRequest::Register("#r".into()))),
        Refusal::NotLoggedIn
    );
    assert_eq!(
        refused(t.ask(2, RoomRequest::Register("#r".into()))),
        Refusal::NotOp
    );
    assert_eq!(
        refused(t.ask(2, RoomRequest::Register("nope".into()))),
        Refusal::BadName("a room name starts with '#'")
    );
    assert!(t.hub.take_notes().is_empty());
    t.ok(1, Command::Login(Some("alice".into())));
    assert_eq!(
        t.ask(1, RoomRequest::Register("#R".into())),
        RoomReply::Registered {
            room: "#r".into(),
            founder: "alice".into()
        }
    );
    let notes = t.hub.take_notes();
    assert!(
        matches!(&notes[..], [Note::SaveRoom(SavedRoom { founder, modes, .. })]
            if &**founder == "alice" && modes == "+nt"),
        "{notes:?}"
    );
    assert_eq!(
        refused(t.ask(2, RoomRequest::Register("#r".into()))),
        Refusal::AlreadyRegistered {
            founder: "alice".into()
        }
    );
    match t.ask(2, RoomRequest::Info("#r".into())) {
        RoomReply::Info { founder, modes, .. } => {
            assert_eq!(&*founder, "alice");
            assert_eq!(&*modes, "+nt");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_registered_room_outlives_its_members_and_ops_only_the_founder() {
    let mut t = T::new();
    t.reg(1, "alice", Some("alice"));
    t.reg(2, "bob", Some("bob"));
    t.ok(1, Command::Join("#r".into()));
    t.ask(1, RoomRequest::Register("#r".into()));
    t.ok(
        1,
        Command::Topic {
            room: "#r".into(),
            topic: Some("kept".into()),
        },
    );
    t.ok(
        1,
        Command::Part {
            room: "#r".into(),
            reason: None,
        },
    );
    assert_eq!(t.hub.room_count(), 1, "an empty registered room stays");
    // Someone else comes first: no operator status for them.
    t.ok(2, Command::Join("#r".into()));
    assert!(!t.is_op("#r", 2));
    assert!(
        t.to(2)
            .iter()
            .any(|e| matches!(e, Event::TopicIs { topic: Some(tp), .. } if &*tp.text == "kept")),
        "the topic was kept"
    );
    // The founder gets it on joining, and everyone sees it.
    t.ok(1, Command::Join("#r".into()));
    assert!(t.is_op("#r", 1));
    assert!(t.opped(1, "alice") && t.opped(2, "alice"));
    // Dropping: not bob; alice may; then the room is an ordinary one,
    // kept empty for a while like any room with a topic (lasting_tests).
    assert_eq!(
        refused(t.ask(2, RoomRequest::Drop("#r".into()))),
        Refusal::NotFounder
    );
    t.hub.take_notes();
    assert_eq!(
        t.ask(1, RoomRequest::Drop("#r".into())),
        RoomReply::Dropped { room: "#r".into() }
    );
    assert_eq!(t.hub.take_notes(), vec![Note::ForgetRoom("#r".into())]);
    t.ok(1, Command::Quit(None));
    t.ok(2, Command::Quit(None));
    assert_eq!(t.hub.kept_room_count(), 1);
}

#[test]
fn logging_in_inside_the_room_gives_operator_status() {
    let mut t = T::new();
    t.reg(1, "alice", Some("alice"));
    t.ok(1, Command::Join("#r".into()));
    t.ask(1, RoomRequest::Register("#r".into()));
    t.ok(1, Command::Quit(None));
    t.reg(2, "bob", None);
    t.reg(3, "al", None);
    t.ok(2, Command::Join("#r".into()));
    t.ok(3, Command::Join("#r".into()));
    assert!(!t.is_op("#r", 3));
    t.ok(3, Command::Login(Some("ALICE".into())));
    assert!(t.is_op("#r", 3));
    assert!(t.opped(2, "al"));
}

#[test]
fn seeded_rooms_come_back_with_topic_modes_and_founder() {
    let mut t = T::new();
    let since = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
    t.hub
        .seed_room(SavedRoom {
            name: "#Saved".into(),
            topic: Some(Topic {
                text: "old topic".into(),
                setter: "alice".into(),
                time: since,
            }),
            modes: "+ntl 5".into(),
            founder: "alice".into(),
            since,
        })
        .unwrap();
    t.reg(2, "bob", None);
    t.ok(
        2,
        Command::Mode {
            target: "#saved".into(),
            args: Vec::new(),
        },
    );
    assert!(
        t.to(2)
            .iter()
            .any(|e| matches!(e, Event::RoomModes { modes, args, .. }
            if &**modes == "+ntl" && args.len() == 1 && &*args[0] == "5")),
        "{:?}",
        t.to(2)
    );
    match t.ask(2, RoomRequest::Info("#saved".into())) {
        RoomReply::Info {
            room,
            since: s,
            topic,
            ..
        } => {
            assert_eq!(&*room, "#Saved");
            assert_eq!(s, since);
            assert_eq!(topic.map(|t| t.text), Some("old topic".into()));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn topic_changes_are_noted_in_every_room() {
    let mut t = T::new();
    t.reg(1, "alice", None);
    t.ok(1, Command::Join("#plain".into()));
    t.ok(
        1,
        Command::Topic {
            room: "#plain".into(),
            topic: Some("hello".into()),
        },
    );
    t.ok(
        1,
        Command::Topic {
            room: "#plain".into(),
            topic: Some(String::new()),
        },
    );
    let notes = t.hub.take_notes();
    let texts: Vec<(u64, &str)> = notes
        .iter()
        .filter_map(|n| match n {
            Note::Topic { id, text, by, .. } if &*by.nick == "alice" => Some((*id, &**text)),
            _ => None,
        })
        .collect();
    assert_eq!(texts.len(), 2, "{notes:?}");
    assert_eq!(texts[0].1, "hello");
    assert_eq!(texts[1].1, "");
    assert!(texts[0].0 < texts[1].0, "ids grow");
    assert_eq!(t.hub.last_msg_id(), texts[1].0);
    // Without notes kept, nothing piles up.
    let mut quiet = Hub::new(
        HubConfig::default(),
        std::sync::Arc::new(crate::ManualClock::new_year()),
    );
    let mut out = Vec::new();
    quiet
        .handle(
            1,
            Command::Register {
                nick: "a".into(),
                user: "a".into(),
                realname: "a".into(),
                host: "h".into(),
            },
            &mut out,
        )
        .unwrap();
    quiet
        .handle(
            1,
            Command::Topic {
                room: "#lobby".into(),
                topic: Some("x".into()),
            },
            &mut out,
        )
        .unwrap();
    assert!(quiet.take_notes().is_empty());
}
