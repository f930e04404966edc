//! What nodes say to each other, as bytes on NATS: one JSON object per
//! NATS message, an [`Envelope`] naming the node (and which run of it)
//! around a [`Body`]. The core's types carry no serde of their own (the
//! core stays free of wire concerns), so this module has its own mirror
//! of the few the cluster passes on, and the conversions both ways.
//!
//! Pure data and conversions: must not do I/O. Anything read from NATS is
//! untrusted until it decodes here.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use chatroom_core::hub::{RoomView, Standing};
use chatroom_core::{Command, ConnId, Event, MsgKind, MsgTarget, RoomRef, UserInfo};
use chatroom_core::{ListEntry, Topic};

/// One NATS message between nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// The sender's node name.
    pub node: String,
    /// Which run of that node (new at each start): a node seen with a new
    /// run has restarted, and what the others knew of it is stale.
    pub run: u64,
    pub body: Body,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Body {
    /// A command the node accepted from its person `conn`.
    Cmd {
        conn: ConnId,
        cmd: WireCmd,
        standing: Option<(bool, bool)>,
    },
    /// A message said on the node; `to` is the recipient's id on the node
    /// this is sent to (a private message).
    Said { msg: WireSaid, to: Option<ConnId> },
    /// The node's person `conn` left.
    Gone { conn: ConnId, reason: String },
    /// The node is alive.
    Heartbeat,
    /// Who asks where everyone stands (answered on the reply subject).
    Ask,
    /// The node's people, where they stand, and their rooms.
    People {
        people: Vec<WirePerson>,
        rooms: Vec<WireRoom>,
    },
}

impl Envelope {
    pub fn encode(&self) -> Vec<u8> {
        // Plain data with string keys: serialising cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn decode(bytes: &[u8]) -> Option<Envelope> {
        serde_json::from_slice(bytes).ok()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireUser {
    pub nick: String,
    pub user: String,
    pub realname: String,
    pub host: String,
    pub account: Option<String>,
    /// User mode +B (a bot), shown by WHO/WHOIS on every node.
    #[serde(default)]
    pub bot: bool,
}

impl From<&UserInfo> for WireUser {
    fn from(u: &UserInfo) -> WireUser {
        WireUser {
            nick: u.nick.to_string(),
            user: u.user.to_string(),
            realname: u.realname.to_string(),
            host: u.host.to_string(),
            account: u.account.as_deref().map(str::to_string),
            bot: u.bot,
        }
    }
}

impl From<WireUser> for UserInfo {
    fn from(u: WireUser) -> UserInfo {
        UserInfo {
            nick: u.nick.into(),
            user: u.user.into(),
            realname: u.realname.into(),
            host: u.host.into(),
            account: u.account.map(Into::into),
            bot: u.bot,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WirePerson {
    pub conn: ConnId,
    pub user: WireUser,
    pub away: Option<String>,
    pub oper: bool,
    pub invisible: bool,
    pub rooms: Vec<(String, bool, bool)>,
}

impl From<&Standing> for WirePerson {
    fn from(s: &Standing) -> WirePerson {
        WirePerson {
            conn: s.conn,
            user: (&s.info).into(),
            away: s.away.as_deref().map(str::to_string),
            oper: s.oper,
            invisible: s.invisible,
            rooms: s
                .rooms
                .iter()
                .map(|(r, o, v)| (r.to_string(), *o, *v))
                .collect(),
        }
    }
}

impl From<WirePerson> for Standing {
    fn from(p: WirePerson) -> Standing {
        Standing {
            conn: p.conn,
            info: p.user.into(),
            away: p.away.map(Into::into),
            oper: p.oper,
            invisible: p.invisible,
            rooms: p
                .rooms
                .into_iter()
                .map(|(r, o, v)| (r.into(), o, v))
                .collect(),
        }
    }
}

/// A room's state (see `RoomView`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireRoom {
    pub name: String,
    /// Text, setter, time.
    pub topic: Option<(String, String, SystemTime)>,
    pub flags: String,
    pub key: Option<String>,
    pub limit: Option<usize>,
    /// Mask, setter, time; for `b`, `e` and `I`.
    pub lists: [Vec<(String, String, SystemTime)>; 3],
    pub created: SystemTime,
}

impl From<&RoomView> for WireRoom {
    fn from(r: &RoomView) -> WireRoom {
        let list = |l: &[ListEntry]| {
            l.iter()
                .map(|e| (e.mask.to_string(), e.setter.to_string(), e.time))
                .collect()
        };
        WireRoom {
            name: r.name.to_string(),
            topic: r
                .topic
                .as_ref()
                .map(|t| (t.text.to_string(), t.setter.to_string(), t.time)),
            flags: r.flags.clone(),
            key: r.key.as_deref().map(str::to_string),
            limit: r.limit,
            lists: [list(&r.bans), list(&r.excepts), list(&r.invex)],
            created: r.created,
        }
    }
}

impl From<WireRoom> for RoomView {
    fn from(r: WireRoom) -> RoomView {
        let [bans, excepts, invex] = r.lists.map(|l| {
            l.into_iter()
                .map(|(mask, setter, time)| ListEntry {
                    mask: mask.into(),
                    setter: setter.into(),
                    time,
                })
                .collect()
        });
        RoomView {
            name: r.name.into(),
            topic: r.topic.map(|(text, setter, time)| Topic {
                text: text.into(),
                setter: setter.into(),
                time,
            }),
            flags: r.flags,
            key: r.key.map(Into::into),
            limit: r.limit,
            bans,
            excepts,
            invex,
            created: r.created,
        }
    }
}

/// A message or tag-only message as the sender's node built it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireSaid {
    pub id: u64,
    pub time: SystemTime,
    pub from: WireUser,
    pub to: WireTarget,
    /// `None`: a tag-only message (TAGMSG).
    pub kind: Option<WireKind>,
    pub text: String,
    pub tags: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WireKind {
    Say,
    Action,
    Notice,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum WireTarget {
    Room(String),
    Nick(String),
    Status(String),
}

impl WireSaid {
    pub fn of(event: &Event) -> Option<WireSaid> {
        let target = |to: &MsgTarget| match to {
            MsgTarget::Room(r) => WireTarget::Room(r.to_string()),
            MsgTarget::Nick(n) => WireTarget::Nick(n.to_string()),
            MsgTarget::Status(s) => WireTarget::Status(s.to_string()),
        };
        let tags = |t: &[(chatroom_core::names::Name, chatroom_core::names::Name)]| {
            t.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        match event {
            Event::Message {
                id,
                time,
                from,
                to,
                kind,
                text,
                tags: t,
            } => Some(WireSaid {
                id: *id,
                time: *time,
                from: (&**from).into(),
                to: target(to),
                kind: Some(match kind {
                    MsgKind::Say => WireKind::Say,
                    MsgKind::Action => WireKind::Action,
                    MsgKind::Notice => WireKind::Notice,
                }),
                text: text.to_string(),
                tags: tags(t),
            }),
            Event::TagMsg {
                id,
                time,
                from,
                to,
                tags: t,
            } => Some(WireSaid {
                id: *id,
                time: *time,
                from: (&**from).into(),
                to: target(to),
                kind: None,
                text: String::new(),
                tags: tags(t),
            }),
            _ => None,
        }
    }

    /// The room it was said in, if any (status messages too).
    pub fn room(&self) -> Option<&str> {
        match &self.to {
            WireTarget::Room(r) => Some(r),
            WireTarget::Status(s) => Some(s.trim_start_matches(['@', '+'])),
            WireTarget::Nick(_) => None,
        }
    }

    pub fn into_event(self) -> Event {
        let to = match self.to {
            WireTarget::Room(r) => MsgTarget::Room(r.into()),
            WireTarget::Nick(n) => MsgTarget::Nick(n.into()),
            WireTarget::Status(s) => MsgTarget::Status(s.into()),
        };
        let from = std::sync::Arc::new(UserInfo::from(self.from));
        let tags = self
            .tags
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        match self.kind {
            Some(kind) => Event::Message {
                id: self.id,
                time: self.time,
                from,
                to,
                kind: match kind {
                    WireKind::Say => MsgKind::Say,
                    WireKind::Action => MsgKind::Action,
                    WireKind::Notice => MsgKind::Notice,
                },
                text: self.text.into(),
                tags,
            },
            None => Event::TagMsg {
                id: self.id,
                time: self.time,
                from,
                to,
                tags,
            },
        }
    }
}

/// The commands other nodes apply, with rooms always named.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum WireCmd {
    Register {
        nick: String,
        user: String,
        realname: String,
        host: String,
    },
    Nick(String),
    Join(String),
    JoinKey {
        room: String,
        key: String,
    },
    PartAll,
    Part {
        room: String,
        reason: Option<String>,
    },
    Topic {
        room: String,
        topic: String,
    },
    Mode {
        target: String,
        args: Vec<String>,
    },
    Kick {
        room: String,
        nick: String,
        reason: Option<String>,
    },
    Invite {
        nick: String,
        room: String,
    },
    Oper {
        name: String,
    },
    Kill {
        nick: String,
        reason: String,
    },
    Wallops(String),
    ChgHost {
        nick: String,
        host: String,
    },
    Secure,
    Login(Option<String>),
    Away(Option<String>),
    Setname(String),
}

fn named(room: &RoomRef) -> Option<String> {
    match room {
        RoomRef::Named(n) => Some(n.clone()),
        RoomRef::Focus => None,
    }
}

impl WireCmd {
    /// The command as passed on (its rooms already named by `Link`);
    /// `None` for commands other nodes do not apply.
    pub fn of(cmd: &Command) -> Option<WireCmd> {
        Some(match cmd {
            Command::Register {
                nick,
                user,
                realname,
                host,
            } => WireCmd::Register {
                nick: nick.clone(),
                user: user.clone(),
                realname: realname.clone(),
                host: host.clone(),
            },
            Command::Nick(n) => WireCmd::Nick(n.clone()),
            Command::Join(r) => WireCmd::Join(r.clone()),
            Command::JoinKey { room, key } => WireCmd::JoinKey {
                room: room.clone(),
                key: key.clone(),
            },
            Command::PartAll => WireCmd::PartAll,
            Command::Part { room, reason } => WireCmd::Part {
                room: named(room)?,
                reason: reason.clone(),
            },
            Command::Topic {
                room,
                topic: Some(t),
            } => WireCmd::Topic {
                room: named(room)?,
                topic: t.clone(),
            },
            Command::Mode { target, args } => WireCmd::Mode {
                target: named(target)?,
                args: args.clone(),
            },
            Command::Kick { room, nick, reason } => WireCmd::Kick {
                room: named(room)?,
                nick: nick.clone(),
                reason: reason.clone(),
            },
            Command::Invite { nick, room } => WireCmd::Invite {
                nick: nick.clone(),
                room: named(room)?,
            },
            Command::Oper { name } => WireCmd::Oper { name: name.clone() },
            Command::Kill { nick, reason } => WireCmd::Kill {
                nick: nick.clone(),
                reason: reason.clone(),
            },
            Command::Wallops(t) => WireCmd::Wallops(t.clone()),
            Command::ChgHost { nick, host } => WireCmd::ChgHost {
                nick: nick.clone(),
                host: host.clone(),
            },
            Command::Secure => WireCmd::Secure,
            Command::Login(a) => WireCmd::Login(a.clone()),
            Command::Away(a) => WireCmd::Away(a.clone()),
            Command::Setname(r) => WireCmd::Setname(r.clone()),
            _ => return None,
        })
    }

    pub fn into_command(self) -> Command {
        match self {
            WireCmd::Register {
                nick,
                user,
                realname,
                host,
            } => Command::Register {
                nick,
                user,
                realname,
                host,
            },
            WireCmd::Nick(n) => Command::Nick(n),
            WireCmd::Join(r) => Command::Join(r),
            WireCmd::JoinKey { room, key } => Command::JoinKey { room, key },
            WireCmd::PartAll => Command::PartAll,
            WireCmd::Part { room, reason } => Command::Part {
                room: RoomRef::Named(room),
                reason,
            },
            WireCmd::Topic { room, topic } => Command::Topic {
                room: RoomRef::Named(room),
                topic: Some(topic),
            },
            WireCmd::Mode { target, args } => Command::Mode {
                target: RoomRef::Named(target),
                args,
            },
            WireCmd::Kick { room, nick, reason } => Command::Kick {
                room: RoomRef::Named(room),
                nick,
                reason,
            },
            WireCmd::Invite { nick, room } => Command::Invite {
                nick,
                room: RoomRef::Named(room),
            },
            WireCmd::Oper { name } => Command::Oper { name },
            WireCmd::Kill { nick, reason } => Command::Kill { nick, reason },
            WireCmd::Wallops(t) => Command::Wallops(t),
            WireCmd::ChgHost { nick, host } => Command::ChgHost { nick, host },
            WireCmd::Secure => Command::Secure,
            WireCmd::Login(a) => Command::Login(a),
            WireCmd::Away(a) => Command::Away(a),
            WireCmd::Setname(r) => Command::Setname(r),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_message_survives_the_wire() {
        let event = Event::Message {
            id: 77 << 10 | 3,
            time: SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(1_234_567),
            from: Arc::new(UserInfo {
                nick: "alice".into(),
                user: "a".into(),
                realname: "Alice".into(),
                host: "127.0.0.1".into(),
                account: Some("alice".into()),
                bot: true,
            }),
            to: MsgTarget::Room("#lobby".into()),
            kind: MsgKind::Action,
            text: "waves".into(),
            tags: vec![("+typing".into(), "done".into())],
        };
        let env = Envelope {
            node: "a".into(),
            run: 9,
            body: Body::Said {
                msg: WireSaid::of(&event).expect("a message"),
                to: None,
            },
        };
        let back = Envelope::decode(&env.encode()).expect("decodes");
        assert_eq!(back, env);
        let Body::Said { msg, .. } = back.body else {
            panic!("{back:?}")
        };
        assert_eq!(msg.room(), Some("#lobby"));
        assert_eq!(msg.into_event(), event);
    }

    #[test]
    fn commands_survive_the_wire_and_focus_is_never_sent() {
        let cmds = [
            Command::Join("#a".into()),
            Command::Part {
                room: RoomRef::Named("#a".into()),
                reason: Some("bye".into()),
            },
            Command::Mode {
                target: RoomRef::Named("#a".into()),
                args: vec!["+o".into(), "bob".into()],
            },
            Command::Away(Some("lunch".into())),
        ];
        for cmd in cmds {
            let wire = WireCmd::of(&cmd).expect("passed on");
            let json = serde_json::to_vec(&wire).expect("encodes");
            let back: WireCmd = serde_json::from_slice(&json).expect("decodes");
            assert_eq!(back.into_command(), cmd);
        }
        let focus = Command::Part {
            room: RoomRef::Focus,
            reason: None,
        };
        assert_eq!(WireCmd::of(&focus), None);
        assert_eq!(WireCmd::of(&Command::Lusers), None);
        assert_eq!(Envelope::decode(b"{not json"), None);
    }
}
