//! The hub: rooms, members, nicknames and the rules of delivery.
//!
//! The hub is a plain state machine. `Hub::handle` takes one command from one
//! connection, updates the state and hands the resulting events to an
//! [`Outbox`], which decides how they reach the connections (the runtime puts
//! them on per-connection queues; tests record them). Because every command
//! passes through `handle` one at a time, everyone sees each sender's
//! messages in the order they were sent.
//!
//! The hub must not do I/O, know any wire protocol, or block: it only decides.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::SystemTime;

use indexmap::{IndexMap, IndexSet};

use super::command::{Command, ConnId, MsgKind, SayTarget};
use super::error::HubError;
use super::event::{Envelope, Event, MemberInfo, MsgTarget, RoomInfo, Shared, Topic, UserInfo};
use super::names::{self, Key, Name};

/// Limits and defaults the hub enforces. Part of the server's one config
/// struct (`crate::config::Config::hub`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct HubConfig {
    /// Longest nickname, in bytes.
    pub nick_len: usize,
    /// Longest room name, in bytes, including the `#`.
    pub room_len: usize,
    /// Longest topic, in bytes; longer topics are cut.
    pub topic_len: usize,
    /// Longest message text, in bytes. Edges split longer input into several
    /// messages; the hub cuts anything longer as a last resort.
    pub text_len: usize,
    /// Longest away message, in bytes.
    pub away_len: usize,
    /// Rooms every newcomer joins on registration.
    pub default_rooms: Vec<String>,
    /// How many rooms one person may be in at once.
    pub max_rooms_per_member: usize,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            nick_len: 30,
            room_len: 50,
            topic_len: 390,
            text_len: 400,
            away_len: 200,
            default_rooms: vec!["#lobby".to_string()],
            max_rooms_per_member: 50,
        }
    }
}

/// Where the hub's events go. Implementations must not block.
pub trait Outbox {
    fn send(&mut self, to: ConnId, event: &Shared);
}

/// Records deliveries; used by tests and by anything that wants to inspect
/// the hub's decisions.
impl Outbox for Vec<(ConnId, Shared)> {
    fn send(&mut self, to: ConnId, event: &Shared) {
        self.push((to, event.clone()));
    }
}

struct Member {
    info: Arc<UserInfo>,
    /// Rooms in the order they were joined.
    rooms: IndexSet<Key>,
    focus: Option<Key>,
    away: Option<Name>,
    signon: SystemTime,
    last_spoke: SystemTime,
}

struct Room {
    name: Name,
    /// Members in join order, with their operator flag.
    members: IndexMap<ConnId, bool>,
    topic: Option<Topic>,
}

#[derive(Default)]
pub struct Hub {
    cfg: HubConfig,
    members: HashMap<ConnId, Member>,
    nicks: HashMap<Key, ConnId>,
    rooms: HashMap<Key, Room>,
    next_msg_id: u64,
}

type Outcome = Result<(), HubError>;

impl Hub {
    pub fn new(cfg: HubConfig) -> Hub {
        Hub {
            cfg,
            ..Hub::default()
        }
    }

    pub fn config(&self) -> &HubConfig {
        &self.cfg
    }

    /// Number of registered members.
    pub fn member_count(&self) -> usize {
        self.members.len()
    }

    /// Number of rooms that exist (a room exists while someone is in it).
    pub fn room_count(&self) -> usize {
        self.rooms.len()
    }

    /// The current nickname of a connection, if registered.
    pub fn nick_of(&self, conn: ConnId) -> Option<Name> {
        self.members.get(&conn).map(|m| m.info.nick.clone())
    }

    /// Is `nick` free to take (by someone other than `conn`)?
    pub fn nick_available(&self, nick: &str, conn: ConnId) -> bool {
        self.nicks
            .get(&Key::of(nick))
            .is_none_or(|&holder| holder == conn)
    }

    /// Applies one command. On refusal nothing changed and the error is
    /// returned; the caller tells the sender (see `Event::Error`).
    pub fn handle(&mut self, conn: ConnId, cmd: Command, out: &mut impl Outbox) -> Outcome {
        if let Command::Register {
            nick,
            user,
            realname,
            host,
        } = cmd
        {
            return self.register(conn, nick, user, realname, host, out);
        }
        if !self.members.contains_key(&conn) {
            if let Command::Quit(reason) = cmd {
                let reason = reason.unwrap_or_else(|| "Client quit".into());
                send(
                    out,
                    conn,
                    Event::Closing {
                        reason: reason.into(),
                    },
                );
                return Ok(());
            }
            return Err(HubError::NotRegistered);
        }
        match cmd {
            Command::Register { .. } => unreachable!("handled above"),
            Command::Nick(nick) => self.nick(conn, nick, out),
            Command::Join(room) => self.join(conn, &room, out),
            Command::Part { room, reason } => {
                let room = self.resolve_room(conn, room)?;
                self.part(conn, &room, reason, out)
            }
            Command::Say { target, kind, text } => self.say(conn, target, kind, text, out),
            Command::Topic { room, topic } => {
                let room = self.resolve_room(conn, room)?;
                self.topic(conn, &room, topic, out)
            }
            Command::ListRooms => {
                self.list_rooms(conn, out);
                Ok(())
            }
            Command::Who(mask) => {
                let mask = self.resolve_room(conn, mask)?;
                self.who(conn, &mask, out);
                Ok(())
            }
            Command::Names(room) => {
                self.names(conn, &room, out);
                Ok(())
            }
            Command::Whois(nick) => self.whois(conn, &nick, out),
            Command::Away(message) => {
                self.away(conn, message, out);
                Ok(())
            }
            Command::Quit(reason) => {
                self.quit(conn, reason.unwrap_or_else(|| "Client quit".into()), out);
                Ok(())
            }
        }
    }

    /// An empty room name stands for the member's focused room (the line
    /// protocol's `/part`, `/topic`, `/who` without arguments).
    fn resolve_room(&self, conn: ConnId, name: String) -> Result<String, HubError> {
        if !name.is_empty() {
            return Ok(name);
        }
        let member = &self.members[&conn];
        member
            .focus
            .as_ref()
            .and_then(|k| self.rooms.get(k))
            .map(|r| r.name.to_string())
            .ok_or(HubError::NoFocus)
    }

    fn register(
        &mut self,
        conn: ConnId,
        nick: String,
        user: String,
        realname: String,
        host: String,
        out: &mut impl Outbox,
    ) -> Outcome {
        if self.members.contains_key(&conn) {
            return Err(HubError::AlreadyRegistered);
        }
        self.check_nick(conn, &nick)?;
        let now = SystemTime::now();
        let info = Arc::new(UserInfo {
            nick: nick.as_str().into(),
            user: clean_field(&user, &nick).into(),
            realname: clean_field(&realname, &nick).into(),
            host: host.into(),
        });
        self.nicks.insert(Key::of(&nick), conn);
        self.members.insert(
            conn,
            Member {
                info: info.clone(),
                rooms: IndexSet::new(),
                focus: None,
                away: None,
                signon: now,
                last_spoke: now,
            },
        );
        send(
            out,
            conn,
            Event::Welcome {
                nick: info.nick.clone(),
                user: info,
            },
        );
        for room in self.cfg.default_rooms.clone() {
            // A misconfigured default room must not stop registration.
            if let Err(e) = self.join(conn, &room, out) {
                send(out, conn, Event::Error(e));
            }
        }
        Ok(())
    }

    fn check_nick(&self, conn: ConnId, nick: &str) -> Outcome {
        names::validate_nick(nick, self.cfg.nick_len).map_err(|e| HubError::ErroneousNick {
            nick: nick.into(),
            reason: e.0,
        })?;
        if !self.nick_available(nick, conn) {
            return Err(HubError::NickInUse(nick.into()));
        }
        Ok(())
    }

    fn nick(&mut self, conn: ConnId, nick: String, out: &mut impl Outbox) -> Outcome {
        self.check_nick(conn, &nick)?;
        let member = self.member_mut(conn);
        if *member.info.nick == *nick {
            return Ok(());
        }
        let old = member.info.nick.clone();
        let info = Arc::new(UserInfo {
            nick: nick.as_str().into(),
            ..(*member.info).clone()
        });
        member.info = info.clone();
        self.nicks.remove(&Key::of(&old));
        self.nicks.insert(Key::of(&nick), conn);
        let env = Envelope::new(Event::NickChanged { old, who: info });
        for to in self.sharing(conn) {
            out.send(to, &env);
        }
        Ok(())
    }

    fn room_key(&self, name: &str) -> Result<Key, HubError> {
        names::validate_room(name, self.cfg.room_len).map_err(|e| HubError::BadRoomName {
            name: name.into(),
            reason: e.0,
        })?;
        Ok(Key::of(name))
    }

    fn join(&mut self, conn: ConnId, name: &str, out: &mut impl Outbox) -> Outcome {
        let key = self.room_key(name)?;
        let max_rooms = self.cfg.max_rooms_per_member;
        let member = self.member_mut(conn);
        if member.rooms.contains(&key) {
            return self.set_focus(conn, Some(key), out);
        }
        if member.rooms.len() >= max_rooms {
            return Err(HubError::TooManyRooms(max_rooms));
        }
        member.rooms.insert(key.clone());
        let who = member.info.clone();
        let room = self.rooms.entry(key.clone()).or_insert_with(|| Room {
            name: name.into(),
            members: IndexMap::new(),
            topic: None,
        });
        let first = room.members.is_empty();
        room.members.insert(conn, first);
        let room_name = room.name.clone();
        let topic = room.topic.clone();
        let env = Envelope::new(Event::Joined {
            room: room_name.clone(),
            who,
        });
        for &to in room.members.keys() {
            out.send(to, &env);
        }
        if topic.is_some() {
            send(
                out,
                conn,
                Event::TopicIs {
                    room: room_name.clone(),
                    topic,
                },
            );
        }
        self.names(conn, &room_name, out);
        self.set_focus(conn, Some(key), out)
    }

    fn set_focus(&mut self, conn: ConnId, key: Option<Key>, out: &mut impl Outbox) -> Outcome {
        let room = key
            .as_ref()
            .and_then(|k| self.rooms.get(k))
            .map(|r| r.name.clone());
        self.member_mut(conn).focus = key;
        send(out, conn, Event::Focus { room });
        Ok(())
    }

    fn part(
        &mut self,
        conn: ConnId,
        name: &str,
        reason: Option<String>,
        out: &mut impl Outbox,
    ) -> Outcome {
        let key = Key::of(name);
        let Some(room) = self.rooms.get_mut(&key) else {
            return Err(HubError::NoSuchRoom(name.into()));
        };
        if !room.members.contains_key(&conn) {
            return Err(HubError::NotInRoom(room.name.clone()));
        }
        let member = self.members.get_mut(&conn).expect("checked registered");
        let env = Envelope::new(Event::Parted {
            room: room.name.clone(),
            who: member.info.clone(),
            reason: reason
                .filter(|r| !r.is_empty())
                .map(|r| clean_text(&r, 390).into()),
        });
        for &to in room.members.keys() {
            out.send(to, &env);
        }
        room.members.shift_remove(&conn);
        if room.members.is_empty() {
            self.rooms.remove(&key);
        }
        member.rooms.shift_remove(&key);
        if member.focus.as_ref() == Some(&key) {
            let next = member.rooms.last().cloned();
            self.set_focus(conn, next, out)?;
        }
        Ok(())
    }

    fn say(
        &mut self,
        conn: ConnId,
        target: SayTarget,
        kind: MsgKind,
        text: String,
        out: &mut impl Outbox,
    ) -> Outcome {
        let text = clean_text(&text, self.cfg.text_len);
        if text.is_empty() {
            return Err(HubError::NoText);
        }
        let member = self.members.get(&conn).expect("checked registered");
        let from = member.info.clone();
        let (to, recipients): (MsgTarget, Vec<ConnId>) = match target {
            SayTarget::Focus => {
                let key = member.focus.clone().ok_or(HubError::NoFocus)?;
                let room = self.rooms.get(&key).ok_or(HubError::NoFocus)?;
                (MsgTarget::Room(room.name.clone()), Vec::new())
            }
            SayTarget::Room(name) => {
                let room = self
                    .rooms
                    .get(&Key::of(&name))
                    .ok_or_else(|| HubError::NoSuchRoom(name.as_str().into()))?;
                if !room.members.contains_key(&conn) {
                    return Err(HubError::CannotSendToRoom(room.name.clone()));
                }
                (MsgTarget::Room(room.name.clone()), Vec::new())
            }
            SayTarget::Nick(nick) => {
                let &them = self
                    .nicks
                    .get(&Key::of(&nick))
                    .ok_or_else(|| HubError::NoSuchNick(nick.as_str().into()))?;
                let target = &self.members[&them];
                if let (true, Some(message)) = (kind != MsgKind::Notice, &target.away) {
                    send(
                        out,
                        conn,
                        Event::IsAway {
                            nick: target.info.nick.clone(),
                            message: message.clone(),
                        },
                    );
                }
                let mut recipients = vec![them];
                if them != conn {
                    recipients.push(conn);
                }
                (MsgTarget::Nick(target.info.nick.clone()), recipients)
            }
        };
        self.next_msg_id += 1;
        let env = Envelope::new(Event::Message {
            id: self.next_msg_id,
            time: SystemTime::now(),
            from,
            to: to.clone(),
            kind,
            text: text.into(),
        });
        match &to {
            MsgTarget::Room(name) => {
                let room = &self.rooms[&Key::of(name)];
                for &r in room.members.keys() {
                    out.send(r, &env);
                }
            }
            MsgTarget::Nick(_) => {
                for r in recipients {
                    out.send(r, &env);
                }
            }
        }
        self.member_mut(conn).last_spoke = SystemTime::now();
        Ok(())
    }

    fn topic(
        &mut self,
        conn: ConnId,
        name: &str,
        topic: Option<String>,
        out: &mut impl Outbox,
    ) -> Outcome {
        let key = Key::of(name);
        let topic_len = self.cfg.topic_len;
        let by = self.members[&conn].info.clone();
        let Some(room) = self.rooms.get_mut(&key) else {
            return Err(HubError::NoSuchRoom(name.into()));
        };
        let Some(text) = topic else {
            send(
                out,
                conn,
                Event::TopicIs {
                    room: room.name.clone(),
                    topic: room.topic.clone(),
                },
            );
            return Ok(());
        };
        if !room.members.contains_key(&conn) {
            return Err(HubError::NotInRoom(room.name.clone()));
        }
        let text = clean_text(&text, topic_len);
        room.topic = (!text.is_empty()).then(|| Topic {
            text: text.into(),
            setter: by.nick.clone(),
            time: SystemTime::now(),
        });
        let env = Envelope::new(Event::TopicChanged {
            room: room.name.clone(),
            topic: room.topic.clone(),
            by,
        });
        for &to in room.members.keys() {
            out.send(to, &env);
        }
        Ok(())
    }

    fn list_rooms(&self, conn: ConnId, out: &mut impl Outbox) {
        let mut rooms: Vec<RoomInfo> = self
            .rooms
            .values()
            .map(|r| RoomInfo {
                name: r.name.clone(),
                members: r.members.len(),
                topic: r.topic.as_ref().map(|t| t.text.clone()),
            })
            .collect();
        rooms.sort_by(|a, b| a.name.cmp(&b.name));
        send(out, conn, Event::RoomList { rooms });
    }

    fn member_info(&self, conn: ConnId, op: bool) -> MemberInfo {
        let m = &self.members[&conn];
        MemberInfo {
            user: m.info.clone(),
            op,
            away: m.away.clone(),
        }
    }

    fn room_members(&self, room: &Room) -> Vec<MemberInfo> {
        room.members
            .iter()
            .map(|(&c, &op)| self.member_info(c, op))
            .collect()
    }

    fn who(&self, conn: ConnId, mask: &str, out: &mut impl Outbox) {
        let members = if let Some(room) = self.rooms.get(&Key::of(mask)) {
            self.room_members(room)
        } else if let Some(&them) = self.nicks.get(&Key::of(mask)) {
            vec![self.member_info(them, false)]
        } else {
            Vec::new()
        };
        send(
            out,
            conn,
            Event::WhoReply {
                mask: mask.into(),
                members,
            },
        );
    }

    fn names(&self, conn: ConnId, name: &str, out: &mut impl Outbox) {
        let (room, members) = match self.rooms.get(&Key::of(name)) {
            Some(room) => (room.name.clone(), self.room_members(room)),
            None => (name.into(), Vec::new()),
        };
        send(out, conn, Event::Names { room, members });
    }

    fn whois(&self, conn: ConnId, nick: &str, out: &mut impl Outbox) -> Outcome {
        let &them = self
            .nicks
            .get(&Key::of(nick))
            .ok_or_else(|| HubError::NoSuchNick(nick.into()))?;
        let m = &self.members[&them];
        let idle_secs = SystemTime::now()
            .duration_since(m.last_spoke)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        send(
            out,
            conn,
            Event::WhoisReply {
                user: m.info.clone(),
                rooms: m.rooms.iter().map(|k| self.rooms[k].name.clone()).collect(),
                away: m.away.clone(),
                idle_secs,
                signon: m.signon,
            },
        );
        Ok(())
    }

    fn away(&mut self, conn: ConnId, message: Option<String>, out: &mut impl Outbox) {
        let away_len = self.cfg.away_len;
        let message = message
            .map(|m| clean_text(&m, away_len))
            .filter(|m| !m.is_empty());
        let away = message.is_some();
        self.member_mut(conn).away = message.map(Into::into);
        send(out, conn, Event::AwayChanged { away });
    }

    /// Removes a member: everyone who shared a room hears `reason`, the
    /// member's own connection is told to close. Also used by the runtime
    /// when a connection drops or is cut off.
    pub fn quit(&mut self, conn: ConnId, reason: String, out: &mut impl Outbox) {
        let reason: Name = clean_text(&reason, 390).into();
        let Some(member) = self.members.get(&conn) else {
            send(out, conn, Event::Closing { reason });
            return;
        };
        let env = Envelope::new(Event::Quit {
            who: member.info.clone(),
            reason: reason.clone(),
        });
        for to in self.sharing(conn) {
            if to != conn {
                out.send(to, &env);
            }
        }
        send(out, conn, Event::Closing { reason });
        let member = self.members.remove(&conn).expect("checked above");
        self.nicks.remove(&Key::of(&member.info.nick));
        for key in member.rooms {
            if let Some(room) = self.rooms.get_mut(&key) {
                room.members.shift_remove(&conn);
                if room.members.is_empty() {
                    self.rooms.remove(&key);
                }
            }
        }
    }

    /// The member itself and everyone who shares at least one room with it,
    /// each once.
    fn sharing(&self, conn: ConnId) -> Vec<ConnId> {
        let mut seen = HashSet::new();
        seen.insert(conn);
        let mut all = vec![conn];
        if let Some(m) = self.members.get(&conn) {
            for key in &m.rooms {
                for &c in self.rooms[key].members.keys() {
                    if seen.insert(c) {
                        all.push(c);
                    }
                }
            }
        }
        all
    }

    fn member_mut(&mut self, conn: ConnId) -> &mut Member {
        self.members
            .get_mut(&conn)
            .expect("caller checked registration")
    }
}

fn send(out: &mut impl Outbox, to: ConnId, event: Event) {
    out.send(to, &Envelope::new(event));
}

/// Makes text safe to relay on every protocol: CR, LF and NUL (which would
/// let a sender inject lines into other people's streams) become spaces, and
/// the text is cut to `max` bytes on a character boundary.
pub fn clean_text(text: &str, max: usize) -> String {
    let mut s: String = text
        .chars()
        .map(|c| {
            if matches!(c, '\r' | '\n' | '\0') {
                ' '
            } else {
                c
            }
        })
        .collect();
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

/// USER and real-name fields are shown in WHO/WHOIS; keep them printable and
/// fall back to the nickname when empty.
fn clean_field(field: &str, fallback: &str) -> String {
    let s: String = clean_text(field, 64)
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    if s.trim().is_empty() {
        fallback.to_string()
    } else {
        s
    }
}

mod history;

#[cfg(test)]
mod tests;
