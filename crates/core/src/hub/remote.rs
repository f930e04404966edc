//! People homed on another node of a cluster, as this node's hub sees them.
//!
//! A remote person is an ordinary member under a connection id with
//! [`REMOTE`] set (the runtime never hands out such ids to its own
//! connections): it holds its nickname, sits in rooms, is counted by
//! LUSERS and listed by NAMES, WHO, WHOIS, LIST and MONITOR like anyone.
//! Nothing is delivered to it here: no queue is attached to its id, and
//! its own node delivers to it. What remote people do reaches this hub in
//! two ways: the commands their node accepted, applied here under their
//! id (joins, parts, nick changes, topics, modes, kicks, away), and the
//! messages they said, relayed as their node built them ([`Hub::relay`])
//! so that everyone sees the same msgid, time and text.
//!
//! Part of `impl Hub`; must not do I/O nor know how nodes talk.

use std::sync::Arc;
use std::time::SystemTime;

use super::room::{Room, Status};
use super::{Hub, Outbox};
use crate::command::ConnId;
use crate::event::{Event, MsgTarget, UserInfo};
use crate::modes;
use crate::names::{Key, Name};

/// Set in the connection id of every remote person.
pub const REMOTE: ConnId = 1 << 63;

/// Whether `conn` stands for someone homed on another node.
pub fn is_remote(conn: ConnId) -> bool {
    conn & REMOTE != 0
}

/// Low bits of every msgid that name the node that made it, so that no
/// two nodes hand out the same id (see [`Hub::use_id_slot`]).
pub const SLOT_BITS: u32 = 10;

/// Someone who left, as the cluster must hear it (see
/// [`Hub::keep_departures`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Departure {
    pub conn: ConnId,
    pub nick: Name,
    pub reason: Name,
}

/// A person as another node needs to know them: who they are and where
/// they stand (a node's answer to a newcomer's request for its people).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    pub conn: ConnId,
    pub info: UserInfo,
    pub away: Option<Name>,
    pub oper: bool,
    pub invisible: bool,
    /// Each room, in the order joined, with (operator, voiced).
    pub rooms: Vec<(Name, bool, bool)>,
}

/// A room as a node that has people in it describes it to a newcomer:
/// what a replayed history of commands would have built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomView {
    pub name: Name,
    pub topic: Option<crate::event::Topic>,
    /// Flag modes in force (letters of `modes::FLAG_MODES`).
    pub flags: String,
    pub key: Option<Name>,
    pub limit: Option<usize>,
    pub bans: Vec<modes::ListEntry>,
    pub excepts: Vec<modes::ListEntry>,
    pub invex: Vec<modes::ListEntry>,
    pub created: SystemTime,
}

impl Hub {
    /// Has every msgid end in `slot` (its low [`SLOT_BITS`] bits), which
    /// the runtime obtains unique to this node: ids then stay unique
    /// across the cluster and still grow on each node.
    pub fn use_id_slot(&mut self, slot: u16) {
        self.id_slot = Some(u64::from(slot) & ((1 << SLOT_BITS) - 1));
    }

    /// The next msgid.
    pub(super) fn new_msg_id(&mut self) -> u64 {
        self.next_msg_id = match self.id_slot {
            None => self.next_msg_id + 1,
            Some(slot) => (((self.next_msg_id >> SLOT_BITS) + 1) << SLOT_BITS) | slot,
        };
        self.next_msg_id
    }

    /// Starts recording who leaves (see [`Hub::take_departures`]).
    pub fn keep_departures(&mut self) {
        self.departures.get_or_insert_with(Vec::new);
    }

    /// The local people who left since the last call, whatever removed
    /// them (their own QUIT, a dropped connection, KILL, a cut).
    pub fn take_departures(&mut self) -> Vec<Departure> {
        self.departures
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    pub(super) fn departed(&mut self, conn: ConnId, nick: &Name, reason: &Name) {
        if let Some(d) = self.departures.as_mut()
            && !is_remote(conn)
        {
            d.push(Departure {
                conn,
                nick: nick.clone(),
                reason: reason.clone(),
            });
        }
    }

    /// Delivers here a message (or tag-only message) that a remote person
    /// said on their node: to this node's members of the room (of its
    /// operators, or operators and voiced people, for a status message),
    /// or to `to`, the local person a private one is for. The sender's
    /// node already decided it may be said. Later ids made here stay
    /// above it.
    pub fn relay(&mut self, event: Event, to: Option<ConnId>, out: &mut impl Outbox) {
        let (id, target, from) = match &event {
            Event::Message { id, to, from, .. } | Event::TagMsg { id, to, from, .. } => {
                (*id, to.clone(), from.clone())
            }
            _ => return,
        };
        self.next_msg_id = self.next_msg_id.max(id);
        if let Some(&c) = self.nicks.get(&Key::of(&from.nick))
            && is_remote(c)
            && let Some(m) = self.members.get_mut(&c)
            && matches!(event, Event::Message { .. })
        {
            m.last_spoke = self.clock.now();
        }
        let env = out.wrap(event);
        match target {
            MsgTarget::Room(name) => {
                if let Some(room) = self.rooms.get(&Key::of(&name)) {
                    let local: Vec<ConnId> = room
                        .members
                        .keys()
                        .copied()
                        .filter(|&c| !is_remote(c))
                        .collect();
                    out.send_all(local.into_iter(), &env);
                }
            }
            MsgTarget::Status(status) => {
                let ops_only = status.starts_with('@');
                let name = status.trim_start_matches(['@', '+']);
                if let Some(room) = self.rooms.get(&Key::of(name)) {
                    for (&r, s) in &room.members {
                        if !is_remote(r) && (s.op || (!ops_only && s.voice)) {
                            out.send(r, &env);
                        }
                    }
                }
            }
            MsgTarget::Nick(_) => {
                if let Some(to) = to.filter(|&c| !is_remote(c) && self.members.contains_key(&c)) {
                    out.send(to, &env);
                }
            }
        }
    }

    /// Does anyone homed here sit in `room`? (A node follows a room's
    /// messages only while someone does.)
    pub fn has_local_members(&self, room: &str) -> bool {
        self.rooms
            .get(&Key::of(room))
            .is_some_and(|r| r.members.keys().any(|&c| !is_remote(c)))
    }

    /// Where the local people stand, for a node that asks.
    pub fn local_standings(&self) -> Vec<Standing> {
        self.members
            .iter()
            .filter(|(c, _)| !is_remote(**c))
            .map(|(&conn, m)| Standing {
                conn,
                info: (*m.info).clone(),
                away: m.away.clone(),
                oper: m.oper,
                invisible: m.invisible,
                rooms: m
                    .rooms
                    .iter()
                    .filter_map(|k| {
                        let room = self.rooms.get(k)?;
                        let s = room.status(conn).unwrap_or_default();
                        Some((room.name.clone(), s.op, s.voice))
                    })
                    .collect(),
            })
            .collect()
    }

    /// The rooms the local people are in, as they stand here.
    pub fn local_rooms(&self) -> Vec<RoomView> {
        self.rooms
            .values()
            .filter(|r| r.members.keys().any(|&c| !is_remote(c)))
            .map(|r| RoomView {
                name: r.name.clone(),
                topic: r.topic.clone(),
                flags: r.flags.iter().collect(),
                key: r.key.clone(),
                limit: r.limit,
                bans: r.bans.clone(),
                excepts: r.excepts.clone(),
                invex: r.invex.clone(),
                created: r.created,
            })
            .collect()
    }

    /// Takes a room's state as a node with people in it describes it,
    /// unless someone here is in it (this node's own view stands then).
    /// Silent: nobody here saw it change.
    pub fn adopt_room(&mut self, view: RoomView) {
        let Some(room) = self.rooms.get_mut(&Key::of(&view.name)) else {
            return;
        };
        if room.members.keys().any(|&c| !is_remote(c)) {
            return;
        }
        room.topic = view.topic;
        room.flags = view
            .flags
            .chars()
            .filter(|c| modes::FLAG_MODES.contains(*c))
            .collect();
        room.key = view.key;
        room.limit = view.limit;
        room.bans = view.bans;
        room.excepts = view.excepts;
        room.invex = view.invex;
        room.created = view.created;
    }

    /// Puts a remote person here as their node describes them (a
    /// newcomer learning who is already there): under `conn`, in their
    /// rooms with their standing, without any check (their node made
    /// them) and without telling anyone but MONITOR watchers. Someone
    /// local holding the same nickname keeps it: the remote person is
    /// then left out, and `false` is returned.
    pub fn place_remote(&mut self, conn: ConnId, s: Standing, out: &mut impl Outbox) -> bool {
        let key = Key::of(&s.info.nick);
        if !is_remote(conn) || self.members.contains_key(&conn) || self.nicks.contains_key(&key) {
            return false;
        }
        let info = Arc::new(s.info);
        let now = self.now();
        self.nicks.insert(key, conn);
        self.members.insert(
            conn,
            Box::new(super::room::Member {
                info: info.clone(),
                rooms: Box::default(),
                focus: None,
                away: s.away,
                signon: now,
                last_spoke: now,
                invisible: s.invisible,
                wallops: false,
                oper: s.oper,
                secure: false,
                certfp: None,
            }),
        );
        self.max_users = self.max_users.max(self.members.len());
        self.monitors.online(&info, out);
        for (name, op, voice) in s.rooms {
            self.seat(conn, &name, Status { op, voice }, now);
        }
        true
    }

    /// Puts `conn` in `room` with `status`, creating the room with the
    /// default modes if it does not exist; nobody is told.
    fn seat(&mut self, conn: ConnId, name: &str, status: Status, now: SystemTime) {
        let key = Key::of(name);
        let default_flags = self
            .cfg
            .default_modes
            .chars()
            .filter(|c| modes::FLAG_MODES.contains(*c))
            .collect();
        let room = self
            .rooms
            .entry(key.clone())
            .or_insert_with(|| Box::new(Room::new(name.into(), default_flags, now)));
        room.members.insert(conn, status);
        if let Some(m) = self.members.get_mut(&conn)
            && !m.rooms.contains(&key)
        {
            m.join_list(key);
        }
    }

    /// Sets `conn`'s standing in `room` as its node says, silently (a
    /// join replayed here may have made a remote person an operator, or
    /// not, differently from their own node).
    pub fn set_standing(&mut self, conn: ConnId, room: &str, op: bool, voice: bool) {
        if let Some(r) = self.rooms.get_mut(&Key::of(room))
            && let Some(s) = r.members.get_mut(&conn)
        {
            *s = Status { op, voice };
        }
    }

    /// The room `conn`'s plain lines go to, by name: what a command
    /// about "the focused room" means, resolved before it is passed on to
    /// nodes that do not know that focus.
    pub fn focus_of(&self, conn: ConnId) -> Option<Name> {
        let m = self.members.get(&conn)?;
        m.focus
            .as_ref()
            .and_then(|k| self.rooms.get(k))
            .map(|r| r.name.clone())
    }

    /// `conn`'s (operator, voiced) standing in `room`, if a member.
    pub fn standing_in(&self, conn: ConnId, room: &str) -> Option<(bool, bool)> {
        let s = self.rooms.get(&Key::of(room))?.status(conn)?;
        Some((s.op, s.voice))
    }

    /// Everyone here who stands for a remote person.
    pub fn remote_conns(&self) -> Vec<ConnId> {
        self.members
            .keys()
            .copied()
            .filter(|&c| is_remote(c))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{Command, SayTarget};
    use crate::hub::HubConfig;
    use crate::{MsgKind, Overflow};

    type Out = Vec<(ConnId, Arc<Event>)>;

    fn hub() -> Hub {
        Hub::new(
            HubConfig::default(),
            Arc::new(crate::ManualClock::new_year()),
        )
    }

    fn register(hub: &mut Hub, conn: ConnId, nick: &str) {
        let cmd = Command::Register {
            nick: nick.into(),
            user: nick.into(),
            realname: nick.into(),
            host: "127.0.0.1".into(),
        };
        assert_eq!(hub.handle(conn, cmd, &mut Out::new()), Ok(()));
    }

    fn say(room: &str, text: &str) -> Command {
        Command::Say {
            target: SayTarget::Room(room.into()),
            kind: MsgKind::Say,
            text: text.into(),
            tags: Vec::new(),
            overflow: Overflow::Cut,
        }
    }

    #[test]
    fn a_remote_person_is_listed_and_counted_but_never_delivered_to() {
        let mut hub = hub();
        let ghost = REMOTE | 7;
        register(&mut hub, 1, "alice");
        register(&mut hub, ghost, "bob");
        assert_eq!(hub.member_count(), 2);
        assert!(hub.has_local_members("#lobby"));
        let mut out = Out::new();
        hub.handle(1, say("#lobby", "hi bob"), &mut out)
            .expect("said");
        // The hub addresses the room, the remote person included; the
        // runtime has no queue for it (its node delivers).
        assert!(out.iter().any(|(c, _)| *c == ghost));
        let mut out = Out::new();
        hub.handle(1, Command::Names("#lobby".into()), &mut out)
            .expect("names");
        let Event::Names { members, .. } = &*out[0].1 else {
            panic!("{out:?}")
        };
        let nicks: Vec<&str> = members.iter().map(|m| &*m.user.nick).collect();
        assert_eq!(nicks, ["alice", "bob"]);
        assert_eq!(hub.remote_conns(), [ghost]);
        assert_eq!(hub.local_standings().len(), 1);
    }

    #[test]
    fn a_relayed_message_reaches_the_local_members_only_and_keeps_its_id() {
        let mut hub = hub();
        let ghost = REMOTE | 1;
        register(&mut hub, 1, "alice");
        register(&mut hub, ghost, "bob");
        let from = hub.user_of(ghost).expect("bob");
        let event = Event::Message {
            id: 5000,
            time: SystemTime::UNIX_EPOCH,
            from,
            to: MsgTarget::Room("#lobby".into()),
            kind: MsgKind::Say,
            text: "from afar".into(),
            tags: Vec::new(),
        };
        let mut out = Out::new();
        hub.relay(event, None, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].0, 1);
        assert!(matches!(&*out[0].1, Event::Message { id: 5000, .. }));
        // Ids made here afterwards stay above the relayed one.
        let mut out = Out::new();
        hub.handle(1, say("#lobby", "back"), &mut out)
            .expect("said");
        let Event::Message { id, .. } = &*out[0].1 else {
            panic!("{out:?}")
        };
        assert!(*id > 5000);
    }

    #[test]
    fn id_slots_keep_two_nodes_ids_apart_and_growing() {
        let (mut a, mut b) = (hub(), hub());
        a.use_id_slot(1);
        b.use_id_slot(2);
        let mut seen = std::collections::HashSet::new();
        let mut last = (0, 0);
        for _ in 0..100 {
            let (x, y) = (a.new_msg_id(), b.new_msg_id());
            assert!(x > last.0 && y > last.1);
            assert_eq!(x & ((1 << SLOT_BITS) - 1), 1);
            assert!(seen.insert(x) && seen.insert(y));
            last = (x, y);
        }
    }

    #[test]
    fn only_local_departures_are_recorded() {
        let mut hub = hub();
        hub.keep_departures();
        let ghost = REMOTE | 3;
        register(&mut hub, 1, "alice");
        register(&mut hub, ghost, "bob");
        hub.quit(ghost, "node a lost".into(), &mut Out::new());
        hub.quit(1, "bye".into(), &mut Out::new());
        let gone = hub.take_departures();
        assert_eq!(gone.len(), 1);
        assert_eq!(
            (gone[0].conn, &*gone[0].nick, &*gone[0].reason),
            (1, "alice", "bye")
        );
        assert!(hub.take_departures().is_empty());
    }

    #[test]
    fn a_room_is_adopted_only_where_nobody_local_is_in_it() {
        let mut hub = hub();
        register(&mut hub, 1, "alice");
        let ghost = REMOTE | 4;
        register(&mut hub, ghost, "bob");
        let mut out = Out::new();
        hub.handle(ghost, Command::Join("#far".into()), &mut out)
            .expect("joined");
        let mut view = hub
            .local_rooms()
            .into_iter()
            .find(|r| &*r.name == "#lobby")
            .expect("alice's room");
        view.name = "#far".into();
        view.flags = "imnt".into();
        view.topic = Some(crate::event::Topic {
            text: "far away".into(),
            setter: "bob".into(),
            time: SystemTime::UNIX_EPOCH,
        });
        hub.adopt_room(view.clone());
        view.name = "#lobby".into();
        hub.adopt_room(view);
        let rooms = hub.local_rooms();
        assert!(rooms.iter().all(|r| &*r.name != "#far"));
        let lobby = rooms.iter().find(|r| &*r.name == "#lobby").expect("lobby");
        assert_eq!(lobby.flags, "nt");
        assert!(lobby.topic.is_none());
        let mut out = Out::new();
        hub.handle(
            1,
            Command::Topic {
                room: "#far".into(),
                topic: None,
            },
            &mut out,
        )
        .expect("asked");
        assert!(
            matches!(&*out[0].1, Event::TopicIs { topic: Some(t), .. } if &*t.text == "far away"),
            "{out:?}"
        );
    }

    #[test]
    fn placing_a_remote_person_seats_them_with_their_standing() {
        let mut hub = hub();
        register(&mut hub, 1, "alice");
        let standing = Standing {
            conn: 9,
            info: UserInfo {
                nick: "carol".into(),
                user: "c".into(),
                realname: "Carol".into(),
                host: "10.0.0.1".into(),
                account: None,
                bot: false,
            },
            away: Some("lunch".into()),
            oper: false,
            invisible: false,
            rooms: vec![
                ("#lobby".into(), true, false),
                ("#other".into(), false, true),
            ],
        };
        assert!(hub.place_remote(REMOTE | 9, standing.clone(), &mut Out::new()));
        assert!(!hub.place_remote(REMOTE | 10, standing, &mut Out::new()));
        assert_eq!(
            hub.rooms_of(REMOTE | 9),
            [Name::from("#lobby"), Name::from("#other")]
        );
        assert!(!hub.has_local_members("#other"));
        assert_eq!(hub.room_count(), 2);
    }
}
