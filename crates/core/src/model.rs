//! What commands, events and the registry all talk about: who someone is,
//! where a message goes, what kind of message it is, a room's topic.
//!
//! Plain data at the bottom of the core (only names below it), so that
//! commands, events and the registry can share it without importing each
//! other. Must not hold rules: those are the hub's.

use std::time::SystemTime;

use crate::names::Name;

/// Who someone is, as shown to others. Replaced (not mutated) on nick change,
/// so an event keeps the identity its sender had when it was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub nick: Name,
    pub user: Name,
    pub realname: Name,
    pub host: Name,
    /// The account this person is logged in to (`None`: not logged in).
    /// Shown by IRC's account-tag, account-notify, extended-join, WHOIS.
    pub account: Option<Name>,
    /// User mode `+B`: a bot (IRCv3 bot-mode), which IRC shows with the
    /// `bot` tag on its messages, a `B` in WHO and 335 in WHOIS.
    pub bot: bool,
}

/// Where a delivered message was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MsgTarget {
    Room(Name),
    /// A private message; the name is the recipient's nickname.
    Nick(Name),
    /// A room's members with a status (IRC STATUSMSG); the name is the
    /// status prefix and the room as recipients see it (`@#room`). Never
    /// kept in history: replaying it would show it to everyone.
    Status(Name),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topic {
    pub text: Name,
    pub setter: Name,
    pub time: SystemTime,
}

/// The flavour of a message, so each edge can render it the way its users expect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsgKind {
    /// An ordinary message (IRC PRIVMSG).
    Say,
    /// `/me waves` (IRC CTCP ACTION).
    Action,
    /// A notice: never answered automatically (IRC NOTICE).
    Notice,
}
