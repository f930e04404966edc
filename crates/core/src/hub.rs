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

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::SystemTime;

use indexmap::{IndexMap, IndexSet};

use super::clock::Clock;
use super::command::{Command, ConnId, ListQuery, MsgKind, RoomRef, SayTarget};
use super::error::HubError;
use super::event::{Event, Lusers, MemberInfo, MsgTarget, RoomInfo, Topic, UserInfo, WhowasEntry};
use super::modes::{self, ListEntry};
use super::names::{self, Key, Name};
use super::registry::Note;
use super::services::{Effect, Services};

/// Limits and defaults the hub enforces. Part of the server's one config
/// struct (the server configuration's `hub` section).
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
    /// Flag modes a new room starts with (any of `imnst`).
    pub default_modes: String,
    /// Mode changes with a parameter applied from one command; the rest
    /// of a longer mode string is ignored (IRC `MODES`).
    pub max_modes: usize,
    /// Entries each ban, exception and invite-exception list may hold.
    pub max_list_entries: usize,
    /// Longest kick reason, in bytes.
    pub kick_len: usize,
    /// Departed nicknames remembered for WHOWAS.
    pub whowas_len: usize,
    /// Nicknames nobody may take (the services the server answers as).
    pub reserved_nicks: Vec<String>,
    /// Nicknames one connection may watch with MONITOR.
    pub monitor_len: usize,
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
            default_modes: "nt".to_string(),
            max_modes: 6,
            max_list_entries: 100,
            kick_len: 390,
            whowas_len: 200,
            reserved_nicks: vec!["NickServ".to_string(), "ChanServ".to_string()],
            monitor_len: 100,
        }
    }
}

/// Where the hub's events go. Implementations must not block.
///
/// The hub builds each event once and has the outbox [`wrap`](Outbox::wrap)
/// it in whatever its recipients share (the runtime's envelope carries the
/// protocols' cached encodings beside the event); it then hands the same
/// wrapped event to every recipient.
pub trait Outbox {
    /// One event as its recipients share it; cloned once per recipient.
    type Env: Clone;

    fn wrap(&mut self, event: Event) -> Self::Env;

    fn send(&mut self, to: ConnId, event: &Self::Env);

    /// One event to each of `to`, in that order (a room's members). The
    /// same as a `send` each; an outbox that keeps deliveries for later
    /// can take them in one go.
    fn send_all(&mut self, to: impl ExactSizeIterator<Item = ConnId>, event: &Self::Env)
    where
        Self: Sized,
    {
        for r in to {
            self.send(r, event);
        }
    }
}

/// Records deliveries; used by tests and by anything that wants to inspect
/// the hub's decisions.
impl Outbox for Vec<(ConnId, Arc<Event>)> {
    type Env = Arc<Event>;

    fn wrap(&mut self, event: Event) -> Arc<Event> {
        Arc::new(event)
    }

    fn send(&mut self, to: ConnId, event: &Arc<Event>) {
        self.push((to, event.clone()));
    }
}

struct Member {
    info: Arc<UserInfo>,
    /// Rooms in the order they were joined. A list, not a set: a member is
    /// in a few rooms (at most `max_rooms_per_member`), and a set's table
    /// cost every member about a hundred bytes (measured idle).
    rooms: Vec<Key>,
    focus: Option<Key>,
    away: Option<Name>,
    signon: SystemTime,
    last_spoke: SystemTime,
    /// User mode `+i`: not found by WHO searches of people who share no room.
    invisible: bool,
    /// User mode `+o`: a server operator.
    oper: bool,
    /// Connected over TLS (told by the edge after registration).
    secure: bool,
    /// The TLS client certificate's fingerprint, if one was presented.
    certfp: Option<Name>,
}

/// A member's standing in one room.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Status {
    op: bool,
    voice: bool,
}

struct Room {
    name: Name,
    /// Members in join order, with their standing.
    members: IndexMap<ConnId, Status>,
    topic: Option<Topic>,
    created: SystemTime,
    /// Flag modes in force (letters of `modes::FLAG_MODES`).
    flags: BTreeSet<char>,
    key: Option<Name>,
    limit: Option<usize>,
    bans: Vec<ListEntry>,
    excepts: Vec<ListEntry>,
    invex: Vec<ListEntry>,
    /// Nicknames invited by INVITE, until they join (oldest first).
    invited: IndexSet<Key>,
    /// Set for a registered room, which exists while empty.
    reg: Option<registered::Registration>,
}

impl Room {
    fn new(name: Name, flags: BTreeSet<char>, created: SystemTime) -> Room {
        Room {
            name,
            members: IndexMap::new(),
            topic: None,
            created,
            flags,
            key: None,
            limit: None,
            bans: Vec::new(),
            excepts: Vec::new(),
            invex: Vec::new(),
            invited: IndexSet::new(),
            reg: None,
        }
    }

    /// Nobody is in it and nothing keeps it: it goes.
    fn is_gone(&self) -> bool {
        self.members.is_empty() && self.reg.is_none()
    }

    fn has(&self, flag: char) -> bool {
        self.flags.contains(&flag)
    }

    fn status(&self, conn: ConnId) -> Option<Status> {
        self.members.get(&conn).copied()
    }

    fn is_op(&self, conn: ConnId) -> bool {
        self.status(conn).is_some_and(|s| s.op)
    }

    /// Banned: matched by a ban and by no exception.
    fn bans_user(&self, who: &UserInfo) -> bool {
        let mask = full_mask(who);
        self.bans.iter().any(|b| modes::glob_match(&b.mask, &mask))
            && !self
                .excepts
                .iter()
                .any(|e| modes::glob_match(&e.mask, &mask))
    }

    fn invex_user(&self, who: &UserInfo) -> bool {
        let mask = full_mask(who);
        self.invex.iter().any(|e| modes::glob_match(&e.mask, &mask))
    }
}

/// `nick!user@host`, what ban masks are matched against.
fn full_mask(u: &UserInfo) -> String {
    format!("{}!{}@{}", u.nick, u.user, u.host)
}

pub struct Hub {
    cfg: HubConfig,
    clock: Arc<dyn Clock>,
    /// Boxed: a member record is 120 B, and the map keeps spare room for up
    /// to as many again (it grows by doubling), so an entry of 16 B (a
    /// pointer) wastes far less than one of 128 (measured idle).
    members: HashMap<ConnId, Box<Member>>,
    nicks: HashMap<Key, ConnId>,
    rooms: HashMap<Key, Room>,
    next_msg_id: u64,
    /// Departed nicknames, most recent first, at most `whowas_len`.
    whowas: VecDeque<WhowasEntry>,
    max_users: usize,
    /// Logins of connections not registered yet (SASL before CAP END),
    /// applied at registration.
    pending_logins: HashMap<ConnId, Name>,
    /// What the runtime must write down (`None`: nobody would).
    notes: Option<Vec<Note>>,
    /// Who watches which nicknames (MONITOR).
    monitors: monitor::Monitors,
    /// Which services run, and what they left for the runtime to do.
    services: Services,
    effects: Vec<Effect>,
    /// The names of the registered accounts (folded).
    accounts: HashSet<Key>,
    /// Connections warned that they hold a registered nickname: the
    /// generation of the latest warning, which a `Reclaim` must match.
    protected: HashMap<ConnId, u64>,
    protect_seq: u64,
    /// Connections the runtime attached that have not registered yet
    /// (LUSERS 253); a connection leaves it on registering or leaving.
    unregistered: HashSet<ConnId>,
}

type Outcome = Result<(), HubError>;

/// Who receives a message: a room's members, read when delivering so that
/// no list is built per message, or a person (and the sender, when that is
/// someone else).
enum Recipients {
    Room(Key),
    /// A room's operators (`true`) or operators and voiced people
    /// (`false`), and the sender (for echo).
    Status(Key, bool, ConnId),
    People(ConnId, Option<ConnId>),
}

impl Hub {
    /// A hub that stamps things with the time `clock` gives.
    pub fn new(cfg: HubConfig, clock: Arc<dyn Clock>) -> Hub {
        Hub {
            cfg,
            clock,
            members: HashMap::new(),
            nicks: HashMap::new(),
            rooms: HashMap::new(),
            next_msg_id: 0,
            whowas: VecDeque::new(),
            max_users: 0,
            pending_logins: HashMap::new(),
            notes: None,
            monitors: monitor::Monitors::default(),
            services: Services::default(),
            effects: Vec::new(),
            accounts: HashSet::new(),
            protected: HashMap::new(),
            protect_seq: 0,
            unregistered: HashSet::new(),
        }
    }

    fn now(&self) -> SystemTime {
        self.clock.now()
    }

    /// A new connection, not registered yet: counted as an unknown
    /// connection in LUSERS until it registers or leaves ([`Hub::quit`]).
    pub fn attach(&mut self, conn: ConnId) {
        if !self.members.contains_key(&conn) {
            self.unregistered.insert(conn);
        }
    }

    pub fn config(&self) -> &HubConfig {
        &self.cfg
    }

    /// Number of registered members.
    pub fn member_count(&self) -> usize {
        self.members.len()
    }

    /// Number of rooms that exist (a room exists while someone is in it,
    /// or while it is registered).
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
            let result = self.register(conn, nick, user, realname, host, out);
            if result.is_ok() {
                self.check_protection(conn, out);
            }
            return result;
        }
        if let Command::AccountRegistered(name) = &cmd {
            // Also before registration (an account registered first).
            self.account_registered(name);
            return Ok(());
        }
        if !self.members.contains_key(&conn) {
            if let Command::Login(account) = cmd {
                match account {
                    Some(a) => self.pending_logins.insert(conn, a.as_str().into()),
                    None => self.pending_logins.remove(&conn),
                };
                return Ok(());
            }
            if let Command::Quit(reason) = cmd {
                self.pending_logins.remove(&conn);
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
            Command::Nick(nick) => {
                self.nick(conn, nick, out)?;
                self.check_protection(conn, out);
                Ok(())
            }
            Command::Monitor(op) => {
                self.monitor(conn, op, out);
                Ok(())
            }
            Command::Join(room) => self.join(conn, &room, None, out),
            Command::JoinKey { room, key } => self.join(conn, &room, Some(&key), out),
            Command::PartAll => {
                let rooms: Vec<Name> = self.members[&conn]
                    .rooms
                    .iter()
                    .filter_map(|k| self.rooms.get(k).map(|r| r.name.clone()))
                    .collect();
                for room in rooms {
                    self.part(conn, &room, None, out)?;
                }
                Ok(())
            }
            Command::List(query) => {
                self.list_rooms(conn, &query, out);
                Ok(())
            }
            Command::Mode { target, args } => {
                let target = self.resolve_room(conn, target)?;
                self.mode(conn, &target, &args, out)
            }
            Command::Kick { room, nick, reason } => {
                let room = self.resolve_room(conn, room)?;
                self.kick(conn, &room, &nick, reason, out)
            }
            Command::Invite { nick, room } => {
                let room = self.resolve_room(conn, room)?;
                self.invite(conn, &nick, &room, out)
            }
            Command::Oper { name } => {
                self.oper(conn, &name, out);
                Ok(())
            }
            Command::Kill { nick, reason } => self.kill(conn, &nick, &reason, out),
            Command::ChgHost { nick, host } => self.chghost(conn, &nick, &host, out),
            Command::Whowas { nick, count } => {
                self.whowas(conn, &nick, count, out);
                Ok(())
            }
            Command::Lusers => {
                send(out, conn, Event::Lusers(self.lusers()));
                Ok(())
            }
            Command::Secure => {
                self.member_mut(conn).secure = true;
                Ok(())
            }
            Command::CertFp(fp) => {
                self.member_mut(conn).certfp = Some(fp.as_str().into());
                Ok(())
            }
            Command::Login(account) => {
                self.login(conn, account.map(|a| a.as_str().into()), out);
                self.check_protection(conn, out);
                Ok(())
            }
            Command::Reclaim { nick, generation } => self.reclaim(conn, &nick, generation, out),
            // Handled above, whether registered or not.
            Command::AccountRegistered(_) => Ok(()),
            Command::RoomReg(req) => {
                self.room_request(conn, req, out);
                Ok(())
            }
            Command::Part { room, reason } => {
                let room = self.resolve_room(conn, room)?;
                self.part(conn, &room, reason, out)
            }
            Command::Say {
                target,
                kind,
                text,
                tags,
            } => {
                let refused = self.say(conn, target, kind, text, tags, out);
                // A notice is never answered automatically, not even with a
                // refusal (RFC 2812 3.3.2): a refused one is simply dropped.
                if kind == MsgKind::Notice {
                    return Ok(());
                }
                refused
            }
            Command::Topic { room, topic } => {
                let room = self.resolve_room(conn, room)?;
                self.topic(conn, &room, topic, out)
            }
            Command::ListRooms => {
                self.list_rooms(conn, &ListQuery::default(), out);
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
            Command::TagMsg { target, tags } => self.tagmsg(conn, target, tags, out),
            Command::Setname(realname) => self.setname(conn, &realname, out),
            Command::Quit(reason) => {
                self.quit(conn, reason.unwrap_or_else(|| "Client quit".into()), out);
                Ok(())
            }
        }
    }

    /// The name of the room a command is about.
    fn resolve_room(&self, conn: ConnId, room: RoomRef) -> Result<String, HubError> {
        if let RoomRef::Named(name) = room {
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
        let now = self.now();
        let nick: Name = nick.as_str().into();
        // Many clients give the same word as nickname, user name and real
        // name: one string then serves all three.
        let same_as_nick = |field: &str| -> Name {
            let field = clean_field(field, &nick);
            if *field == *nick {
                nick.clone()
            } else {
                field.into()
            }
        };
        let info = Arc::new(UserInfo {
            user: same_as_nick(&user),
            realname: same_as_nick(&realname),
            nick,
            host: host.into(),
            account: self.pending_logins.remove(&conn),
        });
        self.nicks.insert(Key::of_name(&info.nick), conn);
        self.members.insert(
            conn,
            Box::new(Member {
                info: info.clone(),
                rooms: Vec::new(),
                focus: None,
                away: None,
                signon: now,
                last_spoke: now,
                invisible: false,
                oper: false,
                secure: false,
                certfp: None,
            }),
        );
        self.max_users = self.max_users.max(self.members.len());
        self.unregistered.remove(&conn);
        self.monitors.online(&info, out);
        send(
            out,
            conn,
            Event::Welcome {
                nick: info.nick.clone(),
                user: info,
            },
        );
        send(out, conn, Event::Lusers(self.lusers()));
        for room in self.cfg.default_rooms.clone() {
            // A misconfigured default room must not stop registration.
            if let Err(e) = self.join(conn, &room, None, out) {
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
        if self.cfg.reserved_nicks.iter().any(|r| names::same(r, nick)) {
            return Err(HubError::ErroneousNick {
                nick: nick.into(),
                reason: "it is reserved for services",
            });
        }
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
        let departed = std::mem::replace(&mut member.info, info.clone());
        self.remember(departed);
        self.nicks.remove(&Key::of(&old));
        self.nicks.insert(Key::of_name(&info.nick), conn);
        if Key::of(&old) != Key::of(&nick) {
            self.monitors.offline(&old, out);
            self.monitors.online(&info, out);
        }
        let env = out.wrap(Event::NickChanged { old, who: info });
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

    fn join(
        &mut self,
        conn: ConnId,
        name: &str,
        key_given: Option<&str>,
        out: &mut impl Outbox,
    ) -> Outcome {
        let key = self.room_key(name)?;
        // The room's own key, shared (every member holds a copy of it).
        let key = match self.rooms.get_key_value(&key) {
            Some((k, _)) => k.clone(),
            None => key,
        };
        let max_rooms = self.cfg.max_rooms_per_member;
        let member = &self.members[&conn];
        if member.rooms.contains(&key) {
            return self.set_focus(conn, Some(key), out);
        }
        if member.rooms.len() >= max_rooms {
            return Err(HubError::TooManyRooms(max_rooms));
        }
        let who = member.info.clone();
        if let Some(room) = self.rooms.get(&key) {
            check_entry(room, &who, key_given)?;
        }
        self.member_mut(conn).rooms.push(key.clone());
        let default_flags: BTreeSet<char> = self
            .cfg
            .default_modes
            .chars()
            .filter(|c| modes::FLAG_MODES.contains(*c))
            .collect();
        let now = self.now();
        let room = self
            .rooms
            .entry(key.clone())
            .or_insert_with(|| Room::new(name.into(), default_flags, now));
        room.invited.shift_remove(&Key::of(&who.nick));
        // In a registered room only the founder is made an operator (below).
        let first = room.members.is_empty() && room.reg.is_none();
        room.members.insert(
            conn,
            Status {
                op: first,
                voice: false,
            },
        );
        let room_name = room.name.clone();
        let topic = room.topic.clone();
        let env = out.wrap(Event::Joined {
            room: room_name.clone(),
            who,
        });
        for &to in room.members.keys() {
            out.send(to, &env);
        }
        // Newcomers who are away are shown as such (IRCv3 away-notify).
        if let Some(message) = self.members[&conn].away.clone() {
            let away = out.wrap(Event::AwayStatus {
                who: self.members[&conn].info.clone(),
                message: Some(message),
            });
            for &to in room.members.keys() {
                if to != conn {
                    out.send(to, &away);
                }
            }
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
        self.founder_op(conn, &key, out);
        self.joined(conn, room_name);
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
        let env = out.wrap(Event::Parted {
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
        if room.is_gone() {
            self.rooms.remove(&key);
        }
        member.rooms.retain(|k| *k != key);
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
        tags: Vec<(String, String)>,
        out: &mut impl Outbox,
    ) -> Outcome {
        if let SayTarget::Nick(nick) = &target
            && let Some(held) = self.hold_for_offline(conn, nick, kind, &text)
        {
            return held;
        }
        let text = clean_text(&text, self.cfg.text_len);
        if text.is_empty() {
            return Err(HubError::NoText);
        }
        // A notice is never answered, not even with RPL_AWAY.
        let (to, recipients) = self.recipients(conn, target, kind != MsgKind::Notice, out)?;
        self.next_msg_id += 1;
        let env = out.wrap(Event::Message {
            id: self.next_msg_id,
            time: self.now(),
            from: self.members[&conn].info.clone(),
            to,
            kind,
            text: text.into(),
            tags: relay_tags(tags),
        });
        self.deliver(&recipients, &env, out);
        self.member_mut(conn).last_spoke = self.now();
        Ok(())
    }

    /// TAGMSG: delivered under the same rules as a message, without text.
    /// It does not count as speaking (idle time) and earns no RPL_AWAY:
    /// typing notifications would otherwise flood the sender with them.
    fn tagmsg(
        &mut self,
        conn: ConnId,
        target: SayTarget,
        tags: Vec<(String, String)>,
        out: &mut impl Outbox,
    ) -> Outcome {
        let (to, recipients) = self.recipients(conn, target, false, out)?;
        self.next_msg_id += 1;
        let env = out.wrap(Event::TagMsg {
            id: self.next_msg_id,
            time: self.now(),
            from: self.members[&conn].info.clone(),
            to,
            tags: relay_tags(tags),
        });
        self.deliver(&recipients, &env, out);
        Ok(())
    }

    /// Where a message from `conn` to `target` goes, if it may be sent:
    /// the target as recipients see it and who receives it (the sender
    /// included, so that edges can echo). `away_reply` tells the sender
    /// when a person messaged is away.
    fn recipients(
        &self,
        conn: ConnId,
        target: SayTarget,
        away_reply: bool,
        out: &mut impl Outbox,
    ) -> Result<(MsgTarget, Recipients), HubError> {
        let member = self.members.get(&conn).ok_or(HubError::NotRegistered)?;
        let from = &member.info;
        let (key, room) = match target {
            SayTarget::Status(prefix, name) => {
                let key = Key::of(&name);
                let room = self
                    .rooms
                    .get(&key)
                    .ok_or_else(|| HubError::NoSuchRoom(name.as_str().into()))?;
                // Whoever may speak in the room may address its
                // operators or voiced people (as InspIRCd and solanum do).
                check_speech(room, conn, from)?;
                let to = MsgTarget::Status(format!("{prefix}{}", room.name).into());
                return Ok((to, Recipients::Status(key, prefix == '@', conn)));
            }
            SayTarget::Focus => {
                let key = member.focus.clone().ok_or(HubError::NoFocus)?;
                let room = self.rooms.get(&key).ok_or(HubError::NoFocus)?;
                (key, room)
            }
            SayTarget::Room(name) => {
                let key = Key::of(&name);
                let room = self
                    .rooms
                    .get(&key)
                    .ok_or_else(|| HubError::NoSuchRoom(name.as_str().into()))?;
                (key, room)
            }
            SayTarget::Nick(nick) => {
                let &them = self
                    .nicks
                    .get(&Key::of(&nick))
                    .ok_or_else(|| HubError::NoSuchNick(nick.as_str().into()))?;
                let target = &self.members[&them];
                if let (true, Some(message)) = (away_reply, &target.away) {
                    send(
                        out,
                        conn,
                        Event::IsAway {
                            nick: target.info.nick.clone(),
                            message: message.clone(),
                        },
                    );
                }
                let sender = (them != conn).then_some(conn);
                return Ok((
                    MsgTarget::Nick(target.info.nick.clone()),
                    Recipients::People(them, sender),
                ));
            }
        };
        check_speech(room, conn, from)?;
        Ok((MsgTarget::Room(room.name.clone()), Recipients::Room(key)))
    }

    fn deliver<O: Outbox>(&self, to: &Recipients, env: &O::Env, out: &mut O) {
        match to {
            Recipients::Room(key) => {
                if let Some(room) = self.rooms.get(key) {
                    out.send_all(room.members.keys().copied(), env);
                }
            }
            Recipients::Status(key, ops_only, sender) => {
                if let Some(room) = self.rooms.get(key) {
                    for (&r, s) in &room.members {
                        if r != *sender && (s.op || (!ops_only && s.voice)) {
                            out.send(r, env);
                        }
                    }
                }
                out.send(*sender, env);
            }
            Recipients::People(them, sender) => {
                out.send(*them, env);
                if let Some(me) = sender {
                    out.send(*me, env);
                }
            }
        }
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
            if room.has('s') && !room.members.contains_key(&conn) {
                return Err(HubError::NotInRoom(room.name.clone()));
            }
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
        if room.has('t') && !room.is_op(conn) {
            return Err(HubError::ChanOpPrivsNeeded(room.name.clone()));
        }
        let text = clean_text(&text, topic_len);
        room.topic = (!text.is_empty()).then(|| Topic {
            text: text.into(),
            setter: by.nick.clone(),
            time: self.clock.now(),
        });
        let env = out.wrap(Event::TopicChanged {
            room: room.name.clone(),
            topic: room.topic.clone(),
            by: by.clone(),
        });
        for &to in room.members.keys() {
            out.send(to, &env);
        }
        self.topic_changed(&key, by);
        Ok(())
    }

    fn list_rooms(&self, conn: ConnId, q: &ListQuery, out: &mut impl Outbox) {
        let mut rooms: Vec<RoomInfo> = self
            .rooms
            .values()
            .filter(|r| !r.has('s') || r.members.contains_key(&conn))
            .filter(|r| q.masks.is_empty() || q.masks.iter().any(|m| modes::glob_match(m, &r.name)))
            .filter(|r| q.more_than.is_none_or(|n| r.members.len() > n))
            .filter(|r| q.fewer_than.is_none_or(|n| r.members.len() < n))
            .map(|r| RoomInfo {
                name: r.name.clone(),
                members: r.members.len(),
                topic: r.topic.as_ref().map(|t| t.text.clone()),
            })
            .collect();
        rooms.sort_by(|a, b| a.name.cmp(&b.name));
        send(out, conn, Event::RoomList { rooms });
    }

    fn member_info(&self, conn: ConnId, status: Status) -> MemberInfo {
        let m = &self.members[&conn];
        MemberInfo {
            user: m.info.clone(),
            op: status.op,
            voice: status.voice,
            oper: m.oper,
            away: m.away.clone(),
        }
    }

    /// The members of `room` that `asker` may see: all of them for a
    /// member; for anyone else none of a secret room and nobody invisible.
    fn room_members(&self, room: &Room, asker: ConnId) -> Vec<MemberInfo> {
        let inside = room.members.contains_key(&asker);
        if !inside && room.has('s') {
            return Vec::new();
        }
        room.members
            .iter()
            .filter(|(c, _)| inside || !self.members[*c].invisible)
            .map(|(&c, &status)| self.member_info(c, status))
            .collect()
    }

    /// True when `asker` shares at least one room with `other`.
    fn shares_room(&self, asker: ConnId, other: ConnId) -> bool {
        let (Some(a), Some(b)) = (self.members.get(&asker), self.members.get(&other)) else {
            return false;
        };
        a.rooms.iter().any(|k| b.rooms.contains(k))
    }

    fn who(&self, conn: ConnId, mask: &str, out: &mut impl Outbox) {
        let members = if let Some(room) = self.rooms.get(&Key::of(mask)) {
            self.room_members(room, conn)
        } else if let Some(&them) = self.nicks.get(&Key::of(mask)) {
            vec![self.member_info(them, Status::default())]
        } else if mask.starts_with('#') {
            Vec::new()
        } else {
            // A glob over everyone the asker may see (RFC 2812 3.6.1):
            // "0" and "*" match all.
            let all = mask == "0" || mask == "*";
            let mut found: Vec<(&Name, ConnId)> = self
                .members
                .iter()
                .filter(|(c, m)| **c == conn || !m.invisible || self.shares_room(conn, **c))
                .filter(|(_, m)| {
                    all || [&m.info.nick, &m.info.user, &m.info.host, &m.info.realname]
                        .iter()
                        .any(|f| modes::glob_match(mask, f))
                })
                .map(|(c, m)| (&m.info.nick, *c))
                .collect();
            found.sort();
            found
                .into_iter()
                .map(|(_, c)| self.member_info(c, Status::default()))
                .collect()
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
        let (room, members, secret) = match self.rooms.get(&Key::of(name)) {
            Some(room) => (
                room.name.clone(),
                self.room_members(room, conn),
                room.has('s'),
            ),
            None => (name.into(), Vec::new(), false),
        };
        send(
            out,
            conn,
            Event::Names {
                room,
                members,
                secret,
            },
        );
    }

    fn whois(&self, conn: ConnId, nick: &str, out: &mut impl Outbox) -> Outcome {
        let &them = self
            .nicks
            .get(&Key::of(nick))
            .ok_or_else(|| HubError::NoSuchNick(nick.into()))?;
        let m = &self.members[&them];
        let shown: Vec<&Room> = m
            .rooms
            .iter()
            .map(|k| &self.rooms[k])
            .filter(|r| !r.has('s') || r.members.contains_key(&conn))
            .collect();
        let idle_secs = self
            .now()
            .duration_since(m.last_spoke)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        send(
            out,
            conn,
            Event::WhoisReply {
                user: m.info.clone(),
                rooms: shown.iter().map(|r| r.name.clone()).collect(),
                standing: shown
                    .iter()
                    .map(|r| {
                        let s = r.status(them).unwrap_or_default();
                        (s.op, s.voice)
                    })
                    .collect(),
                away: m.away.clone(),
                idle_secs,
                signon: m.signon,
                oper: m.oper,
                secure: m.secure,
                certfp: if them == conn || self.members[&conn].oper {
                    m.certfp.clone()
                } else {
                    None
                },
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
        let message: Option<Name> = message.map(Into::into);
        self.member_mut(conn).away = message.clone();
        send(out, conn, Event::AwayChanged { away });
        // For clients that show who is away (IRCv3 away-notify).
        let env = out.wrap(Event::AwayStatus {
            who: self.members[&conn].info.clone(),
            message,
        });
        for to in self.sharing(conn) {
            if to != conn {
                out.send(to, &env);
            }
        }
    }

    /// SETNAME: a new real name, told to everyone who shares a room (and
    /// the member itself, as the confirmation).
    fn setname(&mut self, conn: ConnId, realname: &str, out: &mut impl Outbox) -> Outcome {
        let clean = realname.trim();
        if clean.is_empty() || clean.len() > REALNAME_LEN || clean.chars().any(char::is_control) {
            return Err(HubError::InvalidRealname);
        }
        let member = self.member_mut(conn);
        let info = Arc::new(UserInfo {
            realname: clean.into(),
            ..(*member.info).clone()
        });
        member.info = info.clone();
        let env = out.wrap(Event::RealnameChanged { who: info });
        for to in self.sharing(conn) {
            out.send(to, &env);
        }
        Ok(())
    }

    /// Removes a member: everyone who shared a room hears `reason`, the
    /// member's own connection is told to close. Also used by the runtime
    /// when a connection drops or is cut off.
    pub fn quit(&mut self, conn: ConnId, reason: String, out: &mut impl Outbox) {
        self.unregistered.remove(&conn);
        self.forget_services(conn);
        let reason: Name = clean_text(&reason, 390).into();
        self.pending_logins.remove(&conn);
        let Some(member) = self.members.get(&conn) else {
            send(out, conn, Event::Closing { reason });
            return;
        };
        let env = out.wrap(Event::Quit {
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
        self.monitors.forget(conn);
        self.monitors.offline(&member.info.nick, out);
        self.remember(member.info.clone());
        for key in member.rooms {
            if let Some(room) = self.rooms.get_mut(&key) {
                room.members.shift_remove(&conn);
                if room.is_gone() {
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

    /// Keeps a departed identity for WHOWAS, forgetting the oldest.
    fn remember(&mut self, user: Arc<UserInfo>) {
        if self.cfg.whowas_len == 0 {
            return;
        }
        self.whowas.push_front(WhowasEntry {
            user,
            left: self.now(),
        });
        self.whowas.truncate(self.cfg.whowas_len);
    }

    fn whowas(&self, conn: ConnId, nick: &str, count: usize, out: &mut impl Outbox) {
        let limit = if count == 0 { usize::MAX } else { count };
        let entries = self
            .whowas
            .iter()
            .filter(|e| names::same(&e.user.nick, nick))
            .take(limit)
            .cloned()
            .collect();
        send(
            out,
            conn,
            Event::WhowasReply {
                nick: nick.into(),
                entries,
            },
        );
    }

    fn lusers(&self) -> Lusers {
        Lusers {
            users: self.members.len(),
            invisible: self.members.values().filter(|m| m.invisible).count(),
            opers: self.members.values().filter(|m| m.oper).count(),
            rooms: self.rooms.len(),
            unknown: self.unregistered.len(),
            max_users: self.max_users,
        }
    }

    fn member_mut(&mut self, conn: ConnId) -> &mut Member {
        self.members
            .get_mut(&conn)
            .expect("caller checked registration")
    }
}

/// May `who` enter `room`? Bans first (an exception lifts a ban), then
/// invite-only (an invitation or an invite exception lets one in), the key
/// and the limit (RFC 2812 3.2.1; the order other servers use too).
fn check_entry(room: &Room, who: &UserInfo, key: Option<&str>) -> Outcome {
    let invited = room.invited.contains(&Key::of(&who.nick));
    if room.bans_user(who) && !invited {
        return Err(HubError::Banned(room.name.clone()));
    }
    if room.has('i') && !invited && !room.invex_user(who) {
        return Err(HubError::InviteOnly(room.name.clone()));
    }
    if let Some(k) = &room.key
        && key != Some(&**k)
    {
        return Err(HubError::BadKey(room.name.clone()));
    }
    if let Some(limit) = room.limit
        && room.members.len() >= limit
    {
        return Err(HubError::ChannelIsFull(room.name.clone()));
    }
    Ok(())
}

/// May `conn` speak in `room`? Operators and voiced members always; others
/// not from outside under `+n`, not under `+m`, not while banned.
fn check_speech(room: &Room, conn: ConnId, who: &UserInfo) -> Outcome {
    let status = room.status(conn);
    if status.is_some_and(|s| s.op || s.voice) {
        return Ok(());
    }
    if status.is_none() && room.has('n') {
        return Err(HubError::CannotSendToRoom(room.name.clone()));
    }
    if room.has('m') {
        return Err(HubError::CannotSend {
            room: room.name.clone(),
            reason: "the room is moderated (+m)",
        });
    }
    if room.bans_user(who) {
        return Err(HubError::CannotSend {
            room: room.name.clone(),
            reason: "you are banned (+b)",
        });
    }
    Ok(())
}

fn send(out: &mut impl Outbox, to: ConnId, event: Event) {
    let env = out.wrap(event);
    out.send(to, &env);
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

/// Longest real name (and USER username), in bytes.
pub const REALNAME_LEN: usize = 64;

/// Client-only tags as the hub keeps them: CR, LF and NUL cannot reach
/// another protocol's stream even if an edge forgot to escape them.
fn relay_tags(tags: Vec<(String, String)>) -> Vec<(Name, Name)> {
    tags.into_iter()
        .map(|(k, v)| {
            (
                clean_text(&k, k.len()).into(),
                clean_text(&v, v.len()).into(),
            )
        })
        .collect()
}

/// USER and real-name fields are shown in WHO/WHOIS; keep them printable and
/// fall back to the nickname when empty.
fn clean_field(field: &str, fallback: &str) -> String {
    let s: String = clean_text(field, REALNAME_LEN)
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    if s.trim().is_empty() {
        fallback.to_string()
    } else {
        s
    }
}

mod accounts;
mod history;
mod monitor;
mod ops;
mod registered;
mod services;
pub use ops::KEY_LEN;
pub use registered::SERVICES_NICK;

#[cfg(test)]
mod registered_tests;
#[cfg(test)]
mod tests;
