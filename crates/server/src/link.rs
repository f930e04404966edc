//! The seam between the hub task and a cluster: what the hub task tells
//! the other nodes ([`Shout`]), what it applies from them ([`Remote`]),
//! and the bookkeeping of remote people on this node ([`Link`]).
//!
//! The hub task stays the one writer of this node's state: everything
//! from other nodes arrives through its inbox (`HubMsg::Remote`) and is
//! applied there, in order. How nodes reach each other (NATS, JetStream,
//! the wire format) is the cluster crate's business; this module must not
//! do any I/O, and the hub task must never wait on the cluster: shouts go
//! through an unbounded channel to the task that publishes them.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::{mpsc, oneshot};

use chatroom_core::hub::{REMOTE, RoomView, Standing, is_remote};
use chatroom_core::names::{Key, Name};
use chatroom_core::{Command, ConnId, Event, Hub, MsgTarget, RoomRef};

use chatroom_proto::Shared;

use crate::inbox::{GroupItem, HubHandle, HubMsg};

/// A node's name in the cluster (`--node-name`).
pub type NodeName = Arc<str>;

/// What the hub task tells the other nodes.
#[derive(Debug, Clone)]
pub enum Shout {
    /// A command of a local person that the hub accepted and that changes
    /// what others see; other nodes apply it under that person's remote
    /// id. `standing` is, for a join, the standing the joiner got here,
    /// which the others copy (their own replay may decide otherwise when
    /// two people create a room on two nodes at once).
    Cmd {
        conn: ConnId,
        cmd: Command,
        standing: Option<(bool, bool)>,
    },
    /// A message a local person said, as the hub built it (msgid, time,
    /// text): to a room (every node following it), or privately to
    /// someone homed on `to.0`, known there as connection `to.1`.
    Said {
        event: Event,
        to: Option<(NodeName, ConnId)>,
    },
    /// Messages a local person said to a room, for the cluster's journal
    /// (the stream): once it has stored them all, they go to the room's
    /// followers and `Remote::Journaled` releases the local deliveries.
    Journal { token: u64, events: Vec<Event> },
    /// A local person left.
    Gone { conn: ConnId, reason: Name },
    /// Claim `nick` in the cluster for the local person `conn` (answered
    /// with `Remote::Claimed`).
    Claim { conn: ConnId, nick: String },
    /// `node`'s person `conn` no longer holds `nick`: its claim goes
    /// (only if it is still theirs).
    Release {
        node: Option<NodeName>,
        conn: ConnId,
        nick: Name,
    },
    /// Someone here is now in `room`: follow its messages.
    Follow(Name),
    /// Nobody here is in `room` any more.
    Unfollow(Name),
}

/// What another node did, for the hub task to apply.
pub enum Remote {
    /// A command `node`'s person `conn` gave, which `node` accepted.
    Cmd {
        node: NodeName,
        conn: ConnId,
        cmd: Command,
        standing: Option<(bool, bool)>,
    },
    /// A message someone on `node` said; `to` is the local person a
    /// private one is for.
    Said {
        node: NodeName,
        event: Event,
        to: Option<ConnId>,
    },
    /// `node`'s person `conn` left.
    Gone {
        node: NodeName,
        conn: ConnId,
        reason: String,
    },
    /// `node` is gone (silent too long, or restarted): everyone homed
    /// there leaves with `reason`.
    NodeGone { node: NodeName, reason: String },
    /// Where the local people stand, and their rooms, for a node that
    /// asks.
    Standings {
        reply: oneshot::Sender<(Vec<Standing>, Vec<RoomView>)>,
    },
    /// `node`'s people and their rooms as it describes them (this node is
    /// new, or `node` is).
    Place {
        node: NodeName,
        people: Vec<Standing>,
        rooms: Vec<RoomView>,
    },
    /// Stop following the rooms nobody here is in any more.
    Sweep,
    /// Room messages from the cluster's journal to store here (this
    /// node's history is an index of the journal); `done` is answered once
    /// they are committed.
    Index {
        events: Vec<Event>,
        done: oneshot::Sender<()>,
    },
    /// The answer to `Shout::Journal`: stored (`ok`), or not (the sender
    /// is told, nobody receives them).
    Journaled { token: u64, ok: bool },
    /// The answer to `Shout::Claim`: whether `nick` is now `conn`'s in
    /// the whole cluster.
    Claimed {
        conn: ConnId,
        nick: String,
        outcome: Claim,
    },
}

/// How a nickname claim ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// The nickname is the claimant's in the whole cluster.
    Won,
    /// Someone on another node holds it.
    Taken,
    /// The cluster could not be asked (NATS unreachable).
    Unreachable,
}

/// Shown to someone whose nickname could not be claimed for want of the
/// cluster.
pub const CLAIM_UNREACHABLE: &str =
    "The cluster is unreachable: your nickname could not be taken (try again shortly)";

/// What a cluster is given when the hub task starts.
pub struct LinkPorts {
    /// Everything the hub task shouts, in the order it happened.
    pub shouts: mpsc::UnboundedReceiver<Shout>,
    /// The hub's inbox, for `HubMsg::Remote`.
    pub hub: HubHandle,
    /// The history store, when history is on (read only: to tell what
    /// is stored already).
    pub history: Option<Arc<dyn chatroom_store::HistoryStore>>,
}

/// How a cluster starts (called once the hub's inbox exists).
pub type LinkStart = Box<dyn FnOnce(LinkPorts) + Send>;

/// What the server is given to run as one node of a cluster.
pub struct ClusterPlug {
    /// This node's msgid slot (see `Hub::use_id_slot`), unique in the
    /// cluster.
    pub id_slot: u16,
    /// Whether the cluster can take messages now (the cluster keeps it);
    /// while it cannot, local people's messages are refused with a
    /// notice, not dropped.
    pub up: Arc<AtomicBool>,
    pub start: LinkStart,
}

/// The hub task's side of the cluster: its shouts and the remote people
/// it holds.
pub struct Link {
    tx: mpsc::UnboundedSender<Shout>,
    up: Arc<AtomicBool>,
    /// (home node, id there) → id here, and back.
    ghosts: HashMap<(NodeName, ConnId), ConnId>,
    homes: HashMap<ConnId, (NodeName, ConnId)>,
    next_ghost: u64,
    /// Rooms whose messages this node follows.
    followed: HashSet<Key>,
    /// Connections waiting for a nickname claim: what they sent
    /// meanwhile, in order (their registration or NICK first).
    parked: HashMap<ConnId, VecDeque<HubMsg>>,
    /// Claims answered and not yet used: the nickname and how it went.
    answered: HashMap<ConnId, (Key, Claim)>,
    /// Deliveries waiting for the journal, by token: whose message, and
    /// who receives what.
    held: HashMap<u64, (ConnId, Vec<(ConnId, Shared)>)>,
    next_token: u64,
}

/// Told to a sender whose message the cluster's journal did not take.
pub const NOT_STORED: &str =
    "The cluster did not store your message: it was not sent (try again shortly)";

/// Shown to a local sender while the cluster cannot take messages.
pub const CLUSTER_DOWN: &str =
    "The cluster is unreachable: your message was not sent (try again shortly)";

impl Link {
    pub fn new(tx: mpsc::UnboundedSender<Shout>, up: Arc<AtomicBool>) -> Link {
        Link {
            tx,
            up,
            ghosts: HashMap::new(),
            homes: HashMap::new(),
            next_ghost: 0,
            followed: HashSet::new(),
            parked: HashMap::new(),
            answered: HashMap::new(),
            held: HashMap::new(),
            next_token: 0,
        }
    }

    /// Holds `deliveries` (what `author`'s messages `events` make here)
    /// until the cluster's journal has stored the messages.
    pub fn journal(
        &mut self,
        author: ConnId,
        events: Vec<Event>,
        deliveries: Vec<(ConnId, Shared)>,
    ) {
        self.next_token += 1;
        let token = self.next_token;
        self.held.insert(token, (author, deliveries));
        self.shout(Shout::Journal { token, events });
    }

    /// The deliveries the journal's answer `token` releases, and whose.
    pub fn journaled(&mut self, token: u64) -> Option<(ConnId, Vec<(ConnId, Shared)>)> {
        self.held.remove(&token)
    }

    /// Holds `msg` back while its connection waits for a nickname claim,
    /// or when it is a registration or NICK whose nickname the cluster
    /// must grant first (the claim is sent); otherwise gives it back.
    pub fn park(&mut self, hub: &Hub, msg: HubMsg) -> Option<HubMsg> {
        let id = match &msg {
            HubMsg::Cmd { id, .. }
            | HubMsg::Group { id, .. }
            | HubMsg::Local { id, .. }
            | HubMsg::Detach { id, .. }
            | HubMsg::WhoAmI { id, .. }
            | HubMsg::History { id, .. } => *id,
            _ => return Some(msg),
        };
        if let Some(queue) = self.parked.get_mut(&id) {
            queue.push_back(msg);
            return None;
        }
        let wanted = match &msg {
            HubMsg::Cmd { cmd, .. } => wanted_nick(cmd),
            HubMsg::Group { items, .. } => items.iter().find_map(|i| match i {
                GroupItem::Cmd(cmd) => wanted_nick(cmd),
                GroupItem::Local(_) => None,
            }),
            _ => None,
        };
        let Some(nick) = wanted else {
            return Some(msg);
        };
        let key = Key::of(nick);
        if self.answered.get(&id).is_some_and(|(k, _)| *k == key)
            // Taken here already, or not a valid nickname: the hub says
            // so without asking anyone.
            || !hub.nick_available(nick, id)
            || hub.nick_of(id).is_some_and(|n| Key::of(&n) == key)
            || chatroom_core::names::validate_nick(nick, hub.config().nick_len).is_err()
        {
            return Some(msg);
        }
        let nick = nick.to_string();
        self.parked.insert(id, VecDeque::from([msg]));
        self.shout(Shout::Claim { conn: id, nick });
        None
    }

    /// The claim for `conn` was answered: what it had sent meanwhile, to
    /// be applied now, in order.
    pub fn claimed(&mut self, conn: ConnId, nick: &str, outcome: Claim) -> VecDeque<HubMsg> {
        self.answered.insert(conn, (Key::of(nick), outcome));
        self.parked.remove(&conn).unwrap_or_default()
    }

    /// Why `conn`'s registration or NICK to `cmd`'s nickname was refused
    /// by the cluster, if it was; consumes the answer.
    pub fn refused(&mut self, conn: ConnId, cmd: &Command) -> Option<Claim> {
        let nick = wanted_nick(cmd)?;
        match self.answered.remove(&conn) {
            Some((k, outcome)) if k == Key::of(nick) => (outcome != Claim::Won).then_some(outcome),
            Some(other) => {
                self.answered.insert(conn, other);
                None
            }
            None => None,
        }
    }

    /// The nickname `conn` gave up (a NICK change): its claim goes.
    pub fn released(&self, conn: ConnId, nick: Name) {
        self.shout(Shout::Release {
            node: None,
            conn,
            nick,
        });
    }

    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    fn shout(&self, s: Shout) {
        // The receiver goes only when the process is ending.
        let _ = self.tx.send(s);
    }

    /// The command as other nodes must apply it, if it changes what they
    /// see: a focused room resolved to its name (the others do not know
    /// this person's focus). Taken before the hub applies it.
    pub fn before(&self, hub: &Hub, conn: ConnId, cmd: &Command) -> Option<Command> {
        let named = |room: &RoomRef| -> Option<RoomRef> {
            match room {
                RoomRef::Named(n) => Some(RoomRef::Named(n.clone())),
                RoomRef::Focus => hub.focus_of(conn).map(|n| RoomRef::Named(n.to_string())),
            }
        };
        Some(match cmd {
            Command::Register { .. }
            | Command::Nick(_)
            | Command::Join(_)
            | Command::JoinKey { .. }
            | Command::PartAll
            | Command::Oper { .. }
            | Command::Kill { .. }
            | Command::Wallops(_)
            | Command::ChgHost { .. }
            | Command::Secure
            | Command::Login(_)
            | Command::Away(_)
            | Command::Setname(_) => cmd.clone(),
            Command::Part { room, reason } => Command::Part {
                room: named(room)?,
                reason: reason.clone(),
            },
            Command::Topic {
                room,
                topic: Some(t),
            } => Command::Topic {
                room: named(room)?,
                topic: Some(t.clone()),
            },
            Command::Mode { target, args } if !args.is_empty() => Command::Mode {
                target: named(target)?,
                args: args.clone(),
            },
            Command::Kick { room, nick, reason } => Command::Kick {
                room: named(room)?,
                nick: nick.clone(),
                reason: reason.clone(),
            },
            Command::Invite { nick, room } => Command::Invite {
                nick: nick.clone(),
                room: named(room)?,
            },
            _ => return None,
        })
    }

    /// After the hub accepted a local person's command: tells the others,
    /// and follows the rooms the person is now in.
    pub fn accepted(&mut self, hub: &Hub, conn: ConnId, cmd: Command) {
        let standing = match &cmd {
            Command::Join(room) | Command::JoinKey { room, .. } => hub.standing_in(conn, room),
            _ => None,
        };
        let joins = matches!(
            cmd,
            Command::Register { .. } | Command::Join(_) | Command::JoinKey { .. }
        );
        if joins {
            self.follow(hub, conn);
        }
        self.shout(Shout::Cmd {
            conn,
            cmd,
            standing,
        });
    }

    /// Follows the rooms `conn` is in that are not followed yet; the
    /// subscription goes out before the join it follows, so nothing said
    /// after the others saw the join is missed.
    fn follow(&mut self, hub: &Hub, conn: ConnId) {
        for room in hub.rooms_of(conn) {
            if self.followed.insert(Key::of(&room)) {
                self.shout(Shout::Follow(room));
            }
        }
    }

    /// A message a local person said (as the hub built it): to the room's
    /// followers, or to the node of the remote person it is for.
    pub fn said(&self, hub: &Hub, event: Event) {
        let to = match &event {
            Event::Message { to, .. } | Event::TagMsg { to, .. } => to,
            _ => return,
        };
        let to = match to {
            MsgTarget::Room(_) | MsgTarget::Status(_) => None,
            MsgTarget::Nick(nick) => match hub.conn_of(nick) {
                Some(c) if is_remote(c) => match self.homes.get(&c) {
                    Some(home) => Some(home.clone()),
                    None => return,
                },
                // Someone here, or gone: nothing for the others.
                _ => return,
            },
        };
        self.shout(Shout::Said { event, to });
    }

    /// The local people who left, for the others.
    pub fn departures(&mut self, hub: &mut Hub) {
        for d in hub.take_departures() {
            self.answered.remove(&d.conn);
            self.shout(Shout::Gone {
                conn: d.conn,
                reason: d.reason,
            });
            self.shout(Shout::Release {
                node: None,
                conn: d.conn,
                nick: d.nick,
            });
        }
    }

    /// A remote person is gone with their node: the node's claim on their
    /// nickname goes (every node says so; the first one wins, the
    /// revision check makes the rest no-ops).
    pub fn release_for(&self, node: &NodeName, conn: ConnId, nick: Name) {
        self.shout(Shout::Release {
            node: Some(node.clone()),
            conn,
            nick,
        });
    }

    /// Where `ghost` is homed.
    pub fn home_of(&self, ghost: ConnId) -> Option<&(NodeName, ConnId)> {
        self.homes.get(&ghost)
    }

    /// The id here of `node`'s person `conn`; a new one if `make`.
    pub fn ghost(&mut self, node: &NodeName, conn: ConnId, make: bool) -> Option<ConnId> {
        if let Some(&g) = self.ghosts.get(&(node.clone(), conn)) {
            return Some(g);
        }
        if !make {
            return None;
        }
        self.next_ghost += 1;
        let g = REMOTE | self.next_ghost;
        self.ghosts.insert((node.clone(), conn), g);
        self.homes.insert(g, (node.clone(), conn));
        Some(g)
    }

    /// Forgets a remote person who left.
    pub fn forget(&mut self, ghost: ConnId) {
        if let Some(home) = self.homes.remove(&ghost) {
            self.ghosts.remove(&home);
        }
    }

    /// Everyone here homed on `node`.
    pub fn ghosts_of(&self, node: &NodeName) -> Vec<ConnId> {
        self.homes
            .iter()
            .filter(|(_, (n, _))| n == node)
            .map(|(&g, _)| g)
            .collect()
    }

    /// Stops following rooms nobody here is in.
    pub fn sweep(&mut self, hub: &Hub) {
        let gone: Vec<Key> = self
            .followed
            .iter()
            .filter(|k| !hub.has_local_members(k.as_str()))
            .cloned()
            .collect();
        for k in gone {
            self.followed.remove(&k);
            self.shout(Shout::Unfollow(k.as_str().into()));
        }
    }

    /// Remote ids that no longer stand for anyone here (refused on
    /// arrival, or removed by a command applied here).
    pub fn prune(&mut self, hub: &Hub) {
        let stale: Vec<ConnId> = self
            .homes
            .keys()
            .copied()
            .filter(|&g| hub.user_of(g).is_none())
            .collect();
        for g in stale {
            self.forget(g);
        }
    }
}

/// The nickname a registration or NICK asks for.
fn wanted_nick(cmd: &Command) -> Option<&str> {
    match cmd {
        Command::Register { nick, .. } | Command::Nick(nick) => Some(nick),
        _ => None,
    }
}
