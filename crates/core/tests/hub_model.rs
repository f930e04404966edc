//! The hub against a small reference model: random sequences of commands
//! from several connections (registering, changing nickname, joining,
//! leaving, talking to rooms and to people, quitting), and after each one
//! the hub's answer and deliveries are checked against what the model says
//! should happen: who is registered under which nickname (never two
//! holders of one name), who is in which room, who receives each message,
//! and that every recipient gets each sender's messages in sending order.
//!
//! The model is deliberately naive (sets and maps, no modes beyond the
//! default `+nt`); proptest shrinks a failing sequence to a short one.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use proptest::prelude::*;

use chatroom_core::{
    Command, ConnId, Event, Hub, HubConfig, HubError, ManualClock, MsgKind, MsgTarget, Overflow,
    RoomRef, SayTarget,
};

const CONNS: ConnId = 4;
const NICKS: [&str; 5] = ["ann", "bob", "cat", "dan", "eve"];
const ROOMS: [&str; 3] = ["#a", "#b", "#c"];

#[derive(Debug, Clone)]
enum Op {
    Register(usize),
    Nick(usize),
    Join(usize),
    Part(usize),
    SayRoom(usize),
    SayNick(usize),
    Quit,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0..NICKS.len()).prop_map(Op::Register),
        1 => (0..NICKS.len()).prop_map(Op::Nick),
        3 => (0..ROOMS.len()).prop_map(Op::Join),
        1 => (0..ROOMS.len()).prop_map(Op::Part),
        4 => (0..ROOMS.len()).prop_map(Op::SayRoom),
        2 => (0..NICKS.len()).prop_map(Op::SayNick),
        1 => Just(Op::Quit),
    ]
}

/// What the hub should know.
#[derive(Default)]
struct Model {
    nicks: BTreeMap<ConnId, &'static str>,
    rooms: BTreeMap<&'static str, BTreeSet<ConnId>>,
    gone: BTreeSet<ConnId>,
}

impl Model {
    fn holder(&self, nick: &str) -> Option<ConnId> {
        self.nicks
            .iter()
            .find(|(_, n)| **n == nick)
            .map(|(c, _)| *c)
    }

    fn members(&self, room: &str) -> BTreeSet<ConnId> {
        self.rooms.get(room).cloned().unwrap_or_default()
    }
}

/// What one command should do: its outcome (as a coarse kind), and for a
/// message, who receives it.
#[derive(Debug, PartialEq, Eq)]
enum Expect {
    Ok,
    OkTo(BTreeSet<ConnId>),
    Err(&'static str),
}

fn kind(e: &HubError) -> &'static str {
    match e {
        HubError::NotRegistered => "not registered",
        HubError::AlreadyRegistered => "already registered",
        HubError::NickInUse(_) => "nick in use",
        HubError::NoSuchNick(_) => "no such nick",
        HubError::NoSuchRoom(_) => "no such room",
        HubError::NotInRoom(_) => "not in room",
        HubError::CannotSendToRoom(_) | HubError::CannotSend { .. } => "cannot send",
        _ => "other",
    }
}

/// Applies `op` from `conn` to the model and says what the hub must do.
fn step(m: &mut Model, conn: ConnId, op: &Op) -> Expect {
    let registered = m.nicks.contains_key(&conn);
    match *op {
        Op::Register(i) => {
            if registered {
                return Expect::Err("already registered");
            }
            if m.holder(NICKS[i]).is_some() {
                return Expect::Err("nick in use");
            }
            m.nicks.insert(conn, NICKS[i]);
            Expect::Ok
        }
        // Leaving is always possible, registered or not.
        Op::Quit => {
            m.nicks.remove(&conn);
            for members in m.rooms.values_mut() {
                members.remove(&conn);
            }
            m.rooms.retain(|_, members| !members.is_empty());
            m.gone.insert(conn);
            Expect::Ok
        }
        _ if !registered => Expect::Err("not registered"),
        Op::Nick(i) => match m.holder(NICKS[i]) {
            Some(other) if other != conn => Expect::Err("nick in use"),
            _ => {
                m.nicks.insert(conn, NICKS[i]);
                Expect::Ok
            }
        },
        Op::Join(r) => {
            m.rooms.entry(ROOMS[r]).or_default().insert(conn);
            Expect::Ok
        }
        Op::Part(r) => {
            let Some(room) = m.rooms.get_mut(ROOMS[r]) else {
                return Expect::Err("no such room");
            };
            if !room.remove(&conn) {
                return Expect::Err("not in room");
            }
            if room.is_empty() {
                m.rooms.remove(ROOMS[r]);
            }
            Expect::Ok
        }
        Op::SayRoom(r) => {
            let members = m.members(ROOMS[r]);
            if members.is_empty() {
                Expect::Err("no such room")
            } else if !members.contains(&conn) {
                // The rooms are +n: members only.
                Expect::Err("cannot send")
            } else {
                Expect::OkTo(members)
            }
        }
        Op::SayNick(i) => match m.holder(NICKS[i]) {
            None => Expect::Err("no such nick"),
            Some(them) => Expect::OkTo([conn, them].into_iter().collect()),
        },
    }
}

fn command(op: &Op, seq: u64) -> Command {
    match *op {
        Op::Register(i) => Command::Register {
            nick: NICKS[i].into(),
            user: "u".into(),
            realname: "r".into(),
            host: "127.0.0.1".into(),
        },
        Op::Nick(i) => Command::Nick(NICKS[i].into()),
        Op::Join(r) => Command::Join(ROOMS[r].into()),
        Op::Part(r) => Command::Part {
            room: RoomRef::Named(ROOMS[r].into()),
            reason: None,
        },
        Op::SayRoom(r) => Command::Say {
            target: SayTarget::Room(ROOMS[r].into()),
            kind: MsgKind::Say,
            text: format!("m{seq}"),
            tags: Vec::new(),
            overflow: Overflow::Cut,
        },
        Op::SayNick(i) => Command::Say {
            target: SayTarget::Nick(NICKS[i].into()),
            kind: MsgKind::Say,
            text: format!("m{seq}"),
            tags: Vec::new(),
            overflow: Overflow::Cut,
        },
        Op::Quit => Command::Quit(None),
    }
}

fn run(ops: &[(ConnId, Op)]) -> Result<(), TestCaseError> {
    let cfg = HubConfig {
        default_rooms: Vec::new(),
        ..HubConfig::default()
    };
    let mut hub = Hub::new(cfg, Arc::new(ManualClock::new_year()));
    let mut model = Model::default();
    // The last sequence number each recipient got from each sender.
    let mut last: HashMap<(ConnId, String), u64> = HashMap::new();
    for (seq, (conn, op)) in ops.iter().enumerate() {
        let (conn, seq) = (*conn, seq as u64);
        // A connection that quit is gone for good (the runtime never reuses an id).
        if model.gone.contains(&conn) {
            continue;
        }
        let sender = model.nicks.get(&conn).copied();
        let want = step(&mut model, conn, op);
        let mut out: Vec<(ConnId, Arc<Event>)> = Vec::new();
        let got = hub.handle(conn, command(op, seq), &mut out);
        match (&want, &got) {
            (Expect::Err(k), Err(e)) => prop_assert_eq!(*k, kind(e), "{:?} from {}", op, conn),
            (Expect::Ok | Expect::OkTo(_), Ok(())) => {}
            _ => prop_assert!(
                false,
                "{:?} from {}: hub {:?}, model {:?}",
                op,
                conn,
                got,
                want
            ),
        }
        // Who received the message, and in each sender's order.
        let text = format!("m{seq}");
        let mut to = BTreeSet::new();
        for (c, e) in &out {
            if let Event::Message {
                from,
                text: t,
                to: target,
                ..
            } = &**e
            {
                prop_assert_eq!(&**t, text.as_str());
                prop_assert_eq!(Some(&*from.nick), sender);
                if let (Op::SayNick(i), MsgTarget::Nick(n)) = (op, target) {
                    prop_assert_eq!(&**n, NICKS[*i]);
                }
                to.insert(*c);
                let prev = last.insert((*c, from.nick.to_string()), seq);
                prop_assert!(prev.is_none_or(|p| p < seq), "out of order at {}", c);
            }
        }
        match &want {
            Expect::OkTo(members) => prop_assert_eq!(&to, members, "{:?} from {}", op, conn),
            _ => prop_assert!(to.is_empty(), "{:?} delivered a message", op),
        }
        // A join is seen by every member, the joiner included.
        if let (Op::Join(r), Ok(())) = (op, &got) {
            let joined: BTreeSet<ConnId> = out
                .iter()
                .filter(|(_, e)| matches!(&**e, Event::Joined { room, .. } if &**room == ROOMS[*r]))
                .map(|(c, _)| *c)
                .collect();
            let members = model.members(ROOMS[*r]);
            // Joining a room one is in already only moves the focus.
            prop_assert!(
                joined.is_empty() || joined == members,
                "{:?}: {:?}",
                joined,
                members
            );
        }
        // Nicknames: the hub's agree with the model's, never two alike.
        for c in 1..=CONNS {
            let hub_nick = hub.nick_of(c);
            prop_assert_eq!(
                hub_nick.as_deref(),
                model.nicks.get(&c).copied(),
                "nick of {}",
                c
            );
        }
        prop_assert_eq!(hub.member_count(), model.nicks.len());
        prop_assert_eq!(hub.room_count(), model.rooms.len());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(256),
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_hub_agrees_with_the_model(ops in proptest::collection::vec((1..=CONNS, op()), 1..80)) {
        run(&ops)?;
    }
}
