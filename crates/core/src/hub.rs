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
//!
//! This file holds the state and the dispatch of commands; the rules are
//! in the submodules, each a part of the same `impl Hub`: `room` (the
//! records and the entry/speech checks), `membership` (registration,
//! nicknames, joining, leaving, quitting), `messages` (who receives what),
//! `queries` (LIST, WHO, NAMES, WHOIS, WHOWAS, LUSERS), `ops` (modes, KICK,
//! INVITE, operators), `registered` (registered rooms), `lasting` (rooms
//! kept while empty, remembered operators, the configuration's rooms),
//! `accounts` (who is logged in), `monitor` (MONITOR), `services` (held
//! messages, nickname protection, replay on join), `markers` (read
//! markers), `redact` (withdrawing messages) and `history` (what the
//! history needs).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::SystemTime;

use indexmap::IndexMap;

use super::clock::Clock;
use super::command::{Command, ConnId, ListQuery, MsgKind, RoomRef};
use super::error::HubError;
use super::event::{Event, MsgTarget, UserInfo, WhowasEntry};
use super::modes::{self, ListEntry};
use super::names::{self, Key, Name};
use super::registry::Note;
use super::services::{Effect, Services};

pub use admin::Person;
use room::{Member, Room};

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
    /// Longest message text, in bytes. A message is also kept to what one
    /// relayed line holds (see [`Hub::fit_text_with`]: IRC's 512 bytes,
    /// with the sender's `nick!user@host` and the target), so the default,
    /// 510, leaves that as the limit. Longer text is cut or split as the
    /// command asks ([`crate::Overflow`]).
    pub text_len: usize,
    /// Longest away message, in bytes.
    pub away_len: usize,
    /// Rooms every newcomer joins on registration.
    pub default_rooms: Vec<String>,
    /// How many rooms one person may be in at once.
    pub max_rooms_per_member: usize,
    /// Flag modes a new room starts with (any of `Cimnst`).
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
    /// Bytes of one message of several lines (IRCv3 `draft/multiline`'s
    /// `max-bytes`: the lines joined, each break one byte).
    pub multiline_max_bytes: usize,
    /// Lines of one message of several lines (`max-lines`).
    pub multiline_max_lines: usize,
    /// How long a room everyone left keeps its topic, modes, lists and
    /// the accounts of its operators, in seconds (0: it is forgotten at
    /// once). Registered and configured rooms are kept regardless.
    pub empty_room_keep_secs: u64,
    /// Rooms kept while empty at most; past it the longest empty goes.
    pub max_empty_rooms: usize,
    /// How long after sending someone may still withdraw their own message
    /// (IRCv3 message-redaction), in seconds; room operators and server
    /// operators may withdraw a room's messages at any age the hub still
    /// remembers (see `redact::RECENT`). 0: nobody withdraws their own.
    pub redact_window_secs: u64,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            nick_len: 30,
            room_len: 50,
            topic_len: 390,
            text_len: 510,
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
            multiline_max_bytes: 4096,
            multiline_max_lines: 32,
            empty_room_keep_secs: 24 * 3600,
            max_empty_rooms: 1000,
            redact_window_secs: 900,
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

/// The most text a message from `from` to `to` may hold so that every
/// protocol can relay it as one line: given by the runtime (IRC's rule,
/// which is the narrowest: `chatroom_proto::irc::text_fit`), since the hub
/// knows no protocol's syntax.
pub type TextFit = fn(from: &UserInfo, to: &MsgTarget, kind: MsgKind) -> usize;

pub struct Hub {
    cfg: HubConfig,
    clock: Arc<dyn Clock>,
    /// `None`: only `text_len` limits a message.
    text_fit: Option<TextFit>,
    /// Boxed: a member record is 120 B, and the map keeps spare room for up
    /// to as many again (it grows by doubling), so an entry of 16 B (a
    /// pointer) wastes far less than one of 128 (measured idle).
    members: HashMap<ConnId, Box<Member>>,
    nicks: HashMap<Key, ConnId>,
    /// Boxed for the same reason: a room is about 400 B, and with many
    /// small rooms the map's spare room cost more than the rooms (rooms
    /// of one, 10,000 of them: 6.8 MB inline, 4.9 MB boxed).
    rooms: HashMap<Key, Box<Room>>,
    next_msg_id: u64,
    /// In a cluster: the low bits of every msgid made here (see
    /// `remote::use_id_slot`).
    id_slot: Option<u64>,
    /// Local people who left, while the runtime wants them (a cluster).
    departures: Option<Vec<remote::Departure>>,
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
    /// Where each person has read to (read-marker).
    markers: markers::Markers,
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
    /// Rooms kept while empty, longest empty first.
    kept: indexmap::IndexSet<Key>,
    /// The configuration's rooms as last put in force (`None`: not yet).
    room_specs: Option<Vec<lasting::RoomSpec>>,
    /// Who sent the latest messages, where and when (redaction).
    recent: redact::Recent,
}

pub(super) type Outcome = Result<(), HubError>;

impl Hub {
    /// A hub that stamps things with the time `clock` gives.
    pub fn new(cfg: HubConfig, clock: Arc<dyn Clock>) -> Hub {
        Hub {
            cfg,
            clock,
            text_fit: None,
            members: HashMap::new(),
            nicks: HashMap::new(),
            rooms: HashMap::new(),
            next_msg_id: 0,
            id_slot: None,
            departures: None,
            whowas: VecDeque::new(),
            max_users: 0,
            pending_logins: HashMap::new(),
            notes: None,
            monitors: monitor::Monitors::default(),
            markers: markers::Markers::default(),
            services: Services::default(),
            effects: Vec::new(),
            accounts: HashSet::new(),
            protected: HashMap::new(),
            protect_seq: 0,
            unregistered: HashSet::new(),
            kept: indexmap::IndexSet::new(),
            room_specs: None,
            recent: redact::Recent::default(),
        }
    }

    /// Keeps every message to what `fit` says one relayed line holds, so
    /// that everyone receives, and the history keeps, the same text.
    pub fn fit_text_with(&mut self, fit: TextFit) {
        self.text_fit = Some(fit);
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
                // A list shows no room past its time.
                self.forget_expired_rooms();
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
            Command::Wallops(text) => self.wallops(conn, &text, out),
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
                overflow,
            } => {
                let speech = messages::Speech {
                    target,
                    kind,
                    text,
                    tags,
                    overflow,
                };
                let refused = self.say(conn, speech, out);
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
                self.forget_expired_rooms();
                self.list_rooms(conn, &ListQuery::default(), out);
                Ok(())
            }
            Command::Who(mask) => {
                let mask = self.resolve_room(conn, mask)?;
                self.who(conn, &mask, out);
                Ok(())
            }
            Command::Names(room) => {
                self.names(conn, &room, None, out);
                Ok(())
            }
            Command::Whois(nick) => self.whois(conn, &nick, out),
            Command::Away(message) => {
                self.away(conn, message, out);
                Ok(())
            }
            Command::TagMsg { target, tags } => self.tagmsg(conn, target, tags, out),
            Command::Setname(realname) => self.setname(conn, &realname, out),
            Command::MarkRead { target, at } => self.mark_read(conn, target, at, out),
            Command::Redact {
                target,
                id,
                msgid,
                reason,
            } => self.redact(conn, &target, id, &msgid, reason, out),
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

    fn member_mut(&mut self, conn: ConnId) -> &mut Member {
        self.members
            .get_mut(&conn)
            .expect("caller checked registration")
    }
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
    let end = cut(&s, max).len();
    s.truncate(end);
    s
}

/// The first `max` bytes of `text` or fewer, ending on a character boundary.
pub(crate) fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// `text` in pieces of at most `max` bytes, each ending at a space when
/// one is in the second half of the piece (the space is dropped), else at
/// a character boundary. Text that fits is one piece; a piece too short
/// for the first character (`max` under 4) is the rest whole.
pub fn split_text(text: &str, max: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while rest.len() > max {
        let mut end = max;
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        // A space just past the piece ends it as well as one inside.
        if rest.as_bytes()[end] != b' '
            && let Some(space) = rest[..end].rfind(' ').filter(|&i| i > max / 2)
        {
            end = space;
        }
        if end == 0 {
            break;
        }
        out.push(&rest[..end]);
        rest = rest[end..].strip_prefix(' ').unwrap_or(&rest[end..]);
    }
    if !rest.is_empty() || out.is_empty() {
        out.push(rest);
    }
    out
}

pub use crate::names::REALNAME_LEN;

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
mod admin;
mod history;
mod lasting;
mod markers;
mod membership;
mod messages;
mod monitor;
mod ops;
mod queries;
mod redact;
mod registered;
mod remote;
mod room;
mod services;
pub use lasting::RoomSpec;
pub use ops::KEY_LEN;
pub use registered::SERVICES_NICK;
pub use remote::{Departure, REMOTE, RoomView, SLOT_BITS, Standing, is_remote};

#[cfg(test)]
mod lasting_tests;
#[cfg(test)]
mod redact_tests;
#[cfg(test)]
mod registered_tests;
#[cfg(test)]
mod tests;
