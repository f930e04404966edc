//! What a connected person can ask the hub to do.
//!
//! Edges turn their protocol's input into these; the hub decides the outcome.
//! Nothing here is tied to a wire format: a `Say` from netcat and a PRIVMSG
//! from irssi are the same command.

use std::time::{Duration, SystemTime};

/// The hub's name for one connection. Assigned by the runtime, never reused.
pub type ConnId = u64;

/// Where a message goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SayTarget {
    /// The room the sender last joined or switched to (line protocol, tutorial dialects).
    Focus,
    /// A room by name (`#name`).
    Room(String),
    /// A person by nickname (a private message).
    Nick(String),
    /// The members of a room with at least a status (IRC STATUSMSG,
    /// `@#name` / `+#name`): `'@'` operators, `'+'` voiced people and
    /// operators.
    Status(char, String),
}

/// Which room a command is about: one named, or the sender's focused room
/// (the room their plain lines go to), for protocols whose commands may
/// leave the room out. A name may also be a nickname where the command
/// allows one (`Who`, `Mode`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomRef {
    Focus,
    Named(String),
}

impl From<String> for RoomRef {
    fn from(name: String) -> RoomRef {
        RoomRef::Named(name)
    }
}

impl From<&str> for RoomRef {
    fn from(name: &str) -> RoomRef {
        RoomRef::Named(name.to_string())
    }
}

pub use crate::model::MsgKind;

/// What the hub does with the part of a message's text that does not fit
/// in one message (`[hub] text_len`, and the relay line the hub was given
/// with [`crate::Hub::fit_text_with`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    /// Dropped: the text is cut on a character boundary. For protocols
    /// whose clients send one message per line and split long text
    /// themselves (IRC), where one line in must be at most one message out.
    Cut,
    /// Sent as further messages, split at a space where one is near. For
    /// protocols where people type freely and expect all of it to arrive.
    Split,
    /// The text holds several lines as the sender composed them
    /// ([`crate::multiline`]: IRCv3 `draft/multiline`), kept whole as one
    /// message within `[hub] multiline_max_bytes` and
    /// `multiline_max_lines` (cut there as a last resort: the edge refuses
    /// what is over them first).
    Lines,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Become a named member. `user` and `realname` are IRC's USER fields
    /// (edges without them pass the nickname); `host` is the peer address.
    Register {
        nick: String,
        user: String,
        realname: String,
        host: String,
    },
    /// Change nickname.
    Nick(String),
    /// Join a room, creating it if it does not exist; joining a room one is
    /// already in just moves the focus there.
    Join(String),
    Part {
        room: RoomRef,
        reason: Option<String>,
    },
    Say {
        target: SayTarget,
        kind: MsgKind,
        text: String,
        /// Client-only tags to relay with the message (see
        /// `Event::Message::tags`); empty for protocols without tags.
        tags: Vec<(String, String)>,
        /// What becomes of text longer than one message holds.
        overflow: Overflow,
    },
    /// A message of tags only (IRCv3 TAGMSG), under the same rules as `Say`.
    TagMsg {
        target: SayTarget,
        tags: Vec<(String, String)>,
    },
    /// Change one's real name (IRCv3 SETNAME).
    Setname(String),
    /// `None` asks for the current topic; `Some("")` clears it.
    Topic {
        room: RoomRef,
        topic: Option<String>,
    },
    /// The list of rooms with member counts and topics.
    ListRooms,
    /// Who is in a room (or, given a nickname, who that is).
    Who(RoomRef),
    /// The member list of a room, in NAMES form.
    Names(String),
    /// Details about one person.
    Whois(String),
    /// `Some(message)` marks the sender away; `None` marks them back.
    Away(Option<String>),
    /// Join a room that may have a key (`+k`).
    JoinKey { room: String, key: String },
    /// Leave every room (IRC `JOIN 0`).
    PartAll,
    /// The list of rooms, filtered.
    List(ListQuery),
    /// Query or change modes. `target` is a room or the sender's own
    /// nickname; `args` is the mode string followed by its parameters
    /// (`["+ov", "bob", "carol"]`); no `args` asks for the current modes.
    Mode { target: RoomRef, args: Vec<String> },
    /// Remove someone from a room (room operators only).
    Kick {
        room: RoomRef,
        nick: String,
        reason: Option<String>,
    },
    /// Invite someone into a room (lets them past `+i`).
    Invite { nick: String, room: RoomRef },
    /// Become a server operator. The edge has already checked the
    /// operator name and password against the configuration (password
    /// hashing is far too slow to run in the hub's single task).
    Oper { name: String },
    /// Disconnect someone (server operators only).
    Kill { nick: String, reason: String },
    /// A message to everyone with user mode `+w` (server operators only).
    Wallops(String),
    /// Show `nick` with another host (server operators only): to hide an
    /// address, or to give someone a name of their own.
    ChgHost { nick: String, host: String },
    /// Who recently held a nickname; at most `count` entries (0: all kept).
    Whowas { nick: String, count: usize },
    /// How many people and rooms there are.
    Lusers,
    /// Watch nicknames come and go (IRCv3 MONITOR).
    Monitor(MonitorOp),
    /// The sender's connection is encrypted (TLS); WHOIS says so.
    Secure,
    /// The SHA-256 fingerprint of the client certificate the sender's TLS
    /// connection presented; WHOIS shows it to the sender and to operators.
    CertFp(String),
    /// The sender is now logged in to this account (`None`: logged out).
    /// The runtime has checked the credentials; the hub only records the
    /// fact and tells whoever shares a room. Accepted before registration
    /// too (SASL before CAP END): it then applies at registration.
    Login(Option<String>),
    /// Nickname protection's grace period is over (sent by the runtime
    /// on the sender's behalf, as `Effect::Protect` asked): the sender is
    /// renamed to a guest name if warning `generation` is still its latest
    /// and it still holds `nick` without being logged in to it; otherwise
    /// nothing happens.
    Reclaim { nick: String, generation: u64 },
    /// An account of this name was just registered (by the sender).
    AccountRegistered(String),
    /// A request about a room's registration (IRC's ChanServ); the answer
    /// is an `Event::RoomReg` to the sender, never an error.
    RoomReg(crate::registry::RoomRequest),
    /// Where the sender has read to in a room or private conversation
    /// (IRCv3 read-marker): `at: None` asks, `Some` moves it forward (never
    /// back, never past now). Answered with an `Event::ReadMarker`; a move
    /// also reaches the same person's other connections.
    MarkRead {
        target: String,
        at: Option<SystemTime>,
    },
    /// Withdraw a message (IRCv3 `draft/message-redaction`): its sender
    /// within `[hub] redact_window_secs`, a room operator or a server
    /// operator for a room's. `target` is the room or the other party of a
    /// private conversation; `msgid` is the message's id as the client
    /// wrote it (repeated in a refusal), `id` the hub's message number when
    /// it is one. Delivered as an `Event::Redacted`, which the history
    /// applies by forgetting the message.
    Redact {
        target: String,
        id: Option<u64>,
        msgid: String,
        reason: Option<String>,
    },
    /// Leave the server; the hub tells everyone who shares a room.
    Quit(Option<String>),
}

/// Filters for [`Command::List`]; every given filter must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    /// Room-name globs (`#rust*`); empty: every room.
    pub masks: Vec<String>,
    /// Room-name globs a room must not match (`!#rust*`).
    pub not_masks: Vec<String>,
    /// More than this many members.
    pub more_than: Option<usize>,
    /// Fewer than this many members.
    pub fewer_than: Option<usize>,
    /// Created less than this long ago.
    pub created_within: Option<Duration>,
    /// Created more than this long ago.
    pub created_before: Option<Duration>,
    /// Topic set less than this long ago (rooms without a topic never match).
    pub topic_within: Option<Duration>,
    /// Topic set more than this long ago (rooms without a topic never match).
    pub topic_before: Option<Duration>,
}

/// What a MONITOR command asks (IRCv3 monitor).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MonitorOp {
    /// Watch these nicknames; told at once which are online.
    Add(Vec<String>),
    /// Stop watching these.
    Remove(Vec<String>),
    /// Stop watching everyone.
    Clear,
    /// The nicknames watched.
    List,
    /// Which of the watched nicknames are online now.
    Status,
}
