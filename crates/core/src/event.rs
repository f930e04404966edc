//! What the hub tells connections.
//!
//! One event is built once for all its recipients; how it is shared among
//! them (and its encodings cached) is the outbox's business
//! (`Outbox::wrap`), not the core's. Nothing here knows a wire format.

use std::sync::Arc;
use std::time::SystemTime;

use super::error::HubError;
use super::modes::{ListEntry, ModeChange};
use super::names::Name;

pub use crate::model::{MsgKind, MsgTarget, Topic, UserInfo};

/// One line of a member list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberInfo {
    pub user: Arc<UserInfo>,
    /// Room operator (the first person in a room, or given `+o`).
    pub op: bool,
    /// May speak in a moderated room (`+v`).
    pub voice: bool,
    /// Server operator.
    pub oper: bool,
    pub away: Option<Name>,
}

/// A departed nickname, for WHOWAS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhowasEntry {
    pub user: Arc<UserInfo>,
    /// When the nickname was given up (quit or nick change).
    pub left: SystemTime,
}

/// The counts LUSERS reports. One server: there are no remote users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Lusers {
    /// Registered people, visible or not.
    pub users: usize,
    /// Of those, the ones with user mode `+i`.
    pub invisible: usize,
    pub opers: usize,
    pub rooms: usize,
    /// Connections that have not registered yet.
    pub unknown: usize,
    /// The most people registered at once since the server started.
    pub max_users: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomInfo {
    pub name: Name,
    pub members: usize,
    pub topic: Option<Name>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Registration succeeded; `nick` is the name now held.
    Welcome {
        nick: Name,
        user: Arc<UserInfo>,
    },
    /// Someone (possibly the recipient) joined `room`.
    Joined {
        room: Name,
        who: Arc<UserInfo>,
    },
    /// Someone (possibly the recipient) left `room`.
    Parted {
        room: Name,
        who: Arc<UserInfo>,
        reason: Option<Name>,
    },
    /// Someone who shared a room with the recipient left the server.
    Quit {
        who: Arc<UserInfo>,
        reason: Name,
    },
    /// Someone (possibly the recipient) changed nickname; `who` has the new one.
    NickChanged {
        old: Name,
        who: Arc<UserInfo>,
    },
    /// A message to a room or a person. The sender receives it too; edges
    /// decide whether their users want their own messages echoed.
    Message {
        id: u64,
        time: SystemTime,
        from: Arc<UserInfo>,
        to: MsgTarget,
        kind: MsgKind,
        text: Name,
        /// Client-only tags the sender attached (IRCv3 `+typing`,
        /// `+draft/reply`, ...): opaque to the hub, relayed as given to
        /// protocols that carry tags. Usually empty.
        tags: Vec<(Name, Name)>,
    },
    /// A message of tags only (IRCv3 TAGMSG: typing notifications,
    /// reactions), delivered like `Message`; protocols without tags
    /// show nothing.
    TagMsg {
        id: u64,
        time: SystemTime,
        from: Arc<UserInfo>,
        to: MsgTarget,
        tags: Vec<(Name, Name)>,
    },
    /// `by` withdrew the message `msgid` of `to` (a room, or a private
    /// conversation named as its messages name it): sent to whoever would
    /// receive a message there, the redactor included. `id` and `time` are
    /// the redaction's own; the history forgets the message.
    Redacted {
        id: u64,
        time: SystemTime,
        by: Arc<UserInfo>,
        to: MsgTarget,
        msgid: u64,
        reason: Option<Name>,
    },
    /// Someone who shares a room with the recipient went away
    /// (`Some(message)`) or came back (`None`).
    AwayStatus {
        who: Arc<UserInfo>,
        message: Option<Name>,
    },
    /// Someone (possibly the recipient) who shares a room with the
    /// recipient logged in or out; `who.account` is the new state.
    AccountChanged {
        who: Arc<UserInfo>,
    },
    /// A server operator changed someone's host (CHGHOST); sent to that
    /// person and to everyone sharing a room with them. `rooms` are the
    /// rooms the recipient shares with them, each with their `@`/`+`
    /// status there, so that clients without the chghost capability can be
    /// shown a part and a rejoin instead (and nothing about other rooms).
    HostChanged {
        old: Arc<UserInfo>,
        who: Arc<UserInfo>,
        rooms: Vec<(Name, bool, bool)>,
    },
    /// A server operator's message to everyone who asked for them (user
    /// mode `+w`).
    Wallops {
        from: Arc<UserInfo>,
        text: Name,
    },
    /// Someone (possibly the recipient) who shares a room with the
    /// recipient changed real name; `who` has the new one.
    RealnameChanged {
        who: Arc<UserInfo>,
    },
    /// `by` invited `nick` into `room`; sent to the room's other
    /// operators, who may want to know who is let in.
    InviteNotice {
        room: Name,
        by: Arc<UserInfo>,
        nick: Name,
    },
    /// The topic of `room` changed (sent to every member).
    TopicChanged {
        room: Name,
        topic: Option<Topic>,
        by: Arc<UserInfo>,
    },
    /// The current topic of `room` (on join, or when asked).
    TopicIs {
        room: Name,
        topic: Option<Topic>,
    },
    /// The member list of `room` (on join, or when asked).
    Names {
        room: Name,
        members: Vec<MemberInfo>,
        /// The room is secret (`+s`): IRC marks it `@` in RPL_NAMREPLY.
        secret: bool,
        /// On join only (`None` for a names query): the joiner's read
        /// marker for the room, `Some(None)` when there is none yet (IRCv3
        /// read-marker sends it before the end of the names).
        read_marker: Option<Option<SystemTime>>,
    },
    /// Where the recipient has read to in `target` (a room or a nickname):
    /// the answer to [`crate::Command::MarkRead`], and the news that
    /// another of the same person's connections moved it. `None`: never set.
    ReadMarker {
        target: Name,
        at: Option<SystemTime>,
    },
    RoomList {
        rooms: Vec<RoomInfo>,
    },
    /// Answer to `Who`: `mask` is what was asked (a room or a nickname).
    WhoReply {
        mask: Name,
        members: Vec<MemberInfo>,
    },
    /// News about someone the recipient watches with MONITOR and shares no
    /// room with: an `AwayStatus`, `AccountChanged`, `RealnameChanged` or
    /// `HostChanged` (with no rooms), as those who share a room get it.
    /// IRC shows it to clients with `extended-monitor` (IRCv3); nothing
    /// else shows it.
    Watched(Box<Event>),
    /// Watched nicknames (MONITOR) that are online: sent when asked and
    /// when one comes online.
    MonOnline(Vec<Arc<UserInfo>>),
    /// Watched nicknames that are offline (or just went).
    MonOffline(Vec<Name>),
    /// Answer to `MonitorOp::List`.
    MonList(Vec<Name>),
    /// `MonitorOp::Add` went over the limit: these were not added.
    MonListFull {
        limit: usize,
        nicks: Vec<Name>,
    },
    WhoisReply {
        user: Arc<UserInfo>,
        rooms: Vec<Name>,
        /// (operator, voiced) in each of `rooms`, in the same order.
        standing: Vec<(bool, bool)>,
        away: Option<Name>,
        idle_secs: u64,
        signon: SystemTime,
        /// A server operator.
        oper: bool,
        /// Connected over TLS.
        secure: bool,
        /// The fingerprint of their TLS client certificate, given only to
        /// themselves and to server operators.
        certfp: Option<Name>,
    },
    /// The room the recipient's plain-text lines now go to (`None`: no room).
    Focus {
        room: Option<Name>,
    },
    /// The recipient's own away state changed.
    AwayChanged {
        away: bool,
    },
    /// The recipient messaged someone who is away.
    IsAway {
        nick: Name,
        message: Name,
    },
    /// The recipient holds `nick`, someone's registered nickname, without
    /// being logged in to it: unless it logs in within `grace_secs`, it
    /// will be renamed.
    NickProtected {
        nick: Name,
        grace_secs: u64,
    },
    /// A notice from the server itself (flood warnings, shutdown, ...).
    ServerNotice {
        text: Name,
    },
    /// The recipient's command was refused.
    Error(HubError),
    /// The recipient's connection is closing; the writer flushes and closes.
    Closing {
        reason: Name,
    },
    /// Modes changed: a room's (sent to its members) or the recipient's
    /// own user modes (`target` is then its nickname).
    ModeChanged {
        target: Name,
        by: Arc<UserInfo>,
        changes: Vec<ModeChange>,
    },
    /// A room's current modes; `args` are the key (shown to members only)
    /// and the limit, in the order of their letters in `modes`.
    RoomModes {
        room: Name,
        modes: Name,
        args: Vec<Name>,
        created: SystemTime,
    },
    /// One of a room's mask lists (`b`, `e` or `I`).
    ModeList {
        room: Name,
        mode: char,
        entries: Vec<ListEntry>,
    },
    /// The recipient's own user modes (`+io`, `+` when none).
    UserModes {
        modes: Name,
    },
    /// `nick` was removed from `room` by `by` (sent to every member,
    /// `nick` included).
    Kicked {
        room: Name,
        by: Arc<UserInfo>,
        nick: Name,
        reason: Name,
    },
    /// `by` invited `nick` into `room`: sent to both; the invitee reads it
    /// as an invitation, the inviter as a confirmation.
    Invited {
        room: Name,
        by: Arc<UserInfo>,
        nick: Name,
    },
    /// The recipient is now a server operator.
    YoureOper,
    /// Who held `nick` recently, most recent first (empty: nobody).
    WhowasReply {
        nick: Name,
        entries: Vec<WhowasEntry>,
    },
    /// Counts of people and rooms.
    Lusers(Lusers),
    /// Earlier messages of `room`, oldest first, each an `Event::Message`:
    /// the replay shown on joining, or an older page the recipient asked
    /// for. Edges mark them as history, never as live traffic.
    History {
        room: Name,
        lines: Vec<Event>,
    },
    /// The answer to the recipient's request about a room's registration.
    RoomReg(crate::registry::RoomReply),
    /// A topic change read back from the history; only ever one of the
    /// `lines` of `History` (live changes are `TopicChanged`). An empty
    /// `text` cleared the topic.
    PastTopic {
        id: u64,
        time: SystemTime,
        room: Name,
        by: Arc<UserInfo>,
        text: Name,
    },
    /// What a search of `room` for `words` found, newest first, each an
    /// `Event::Message`.
    Found {
        room: Name,
        words: Name,
        lines: Vec<Event>,
    },
}
