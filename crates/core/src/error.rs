//! Why the hub refused a command. Each variant maps to one IRC numeric and
//! one plain-language sentence; edges pick whichever their users read, and
//! add what only their own users can do about it (a line-protocol user is
//! told to `/join`; an IRC client gets a numeric). The sentences here name
//! no protocol's commands.

use thiserror::Error;

use super::names::Name;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HubError {
    #[error("you must choose a nickname first")]
    NotRegistered,
    #[error("you already have a nickname")]
    AlreadyRegistered,
    #[error("the nickname {0} is taken")]
    NickInUse(Name),
    #[error("{nick} is not a valid nickname: {reason}")]
    ErroneousNick { nick: Name, reason: &'static str },
    #[error("{name} is not a valid room name: {reason}")]
    BadRoomName { name: Name, reason: &'static str },
    #[error("nobody is called {0}")]
    NoSuchNick(Name),
    #[error("there is no room {0}")]
    NoSuchRoom(Name),
    #[error("you are not in {0}")]
    NotInRoom(Name),
    #[error("you are not in any room")]
    NoFocus,
    #[error("you cannot send to {0}: join it first")]
    CannotSendToRoom(Name),
    #[error("there is nothing to send")]
    NoText,
    #[error("you are in too many rooms already (at most {0})")]
    TooManyRooms(usize),
    #[error("you cannot send to {room}: {reason}")]
    CannotSend { room: Name, reason: &'static str },
    #[error("you are not an operator of {0}")]
    ChanOpPrivsNeeded(Name),
    #[error("{nick} is not in {room}")]
    UserNotInRoom { nick: Name, room: Name },
    #[error("{nick} is already in {room}")]
    UserOnChannel { nick: Name, room: Name },
    #[error("{0} already has a key")]
    KeySet(Name),
    #[error("{0} is full")]
    ChannelIsFull(Name),
    #[error("{mode} is not a mode here")]
    UnknownMode { mode: char },
    #[error("{0} is invite-only")]
    InviteOnly(Name),
    #[error("you are banned from {0}")]
    Banned(Name),
    #[error("wrong key for {0}")]
    BadKey(Name),
    #[error("the {mode} list of {room} is full")]
    ListFull { room: Name, mode: char },
    #[error("only server operators may do that")]
    NoPrivileges,
    #[error("wrong operator name or password")]
    PasswordMismatch,
    #[error("no operator login is configured for you")]
    NoOperHost,
    #[error("{mode} is not a user mode here")]
    UnknownUserMode { mode: char },
    #[error("you can only change your own modes")]
    UsersDontMatch,
    /// A real name that is empty, too long or has control characters.
    #[error(
        "a real name must be 1 to {} bytes of printable text",
        super::names::REALNAME_LEN
    )]
    InvalidRealname,
    /// A host given to CHGHOST that could not be shown in a `nick!user@host`.
    #[error("{0:?} is not a valid host")]
    InvalidHost(Name),
    /// A redaction refused; `msgid` as the client wrote it.
    #[error("{why} ({target}, {msgid})")]
    Redact {
        why: RedactRefusal,
        target: Name,
        msgid: Name,
    },
}

/// Why a redaction was refused (the codes of IRCv3 message-redaction).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RedactRefusal {
    /// No such room or person, or a room the asker is not in.
    #[error("you cannot withdraw messages there")]
    InvalidTarget,
    /// Someone else's message, and the asker is no operator.
    #[error("you may not withdraw that message")]
    Forbidden,
    /// The asker's own message, but older than the window (in seconds).
    #[error("that message is older than {0} seconds and can no longer be withdrawn")]
    WindowExpired(u64),
    /// Not a message of that conversation, or too old to be remembered.
    #[error("that message does not exist or is too old")]
    UnknownMsgid,
}
