//! Registered rooms as data: what a person may ask about a room's
//! registration (IRC's ChanServ), what the hub answers, and the notes the
//! hub leaves for the runtime to persist (a registered room's state, topic
//! changes for the history).
//!
//! Plain data only: the rules are in `hub/registered.rs`, the wording in
//! each edge, the saving in the runtime. Nothing here may do I/O.

use std::sync::Arc;
use std::time::SystemTime;

use super::model::{Topic, UserInfo};
use super::names::Name;

/// A request about a room's registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomRequest {
    /// Register the room to the asker's account (a logged-in room operator).
    Register(String),
    /// Drop the registration (the founder or a server operator).
    Drop(String),
    /// Who founded the room, when, and its saved topic and modes.
    Info(String),
}

/// The hub's answer to a [`RoomRequest`], sent to the asker only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomReply {
    Registered {
        room: Name,
        founder: Name,
    },
    Dropped {
        room: Name,
    },
    Info {
        room: Name,
        founder: Name,
        since: SystemTime,
        topic: Option<Topic>,
        /// The mode letters in force (`+ntl`); the key itself is never shown.
        modes: Name,
    },
    Refused {
        room: Name,
        why: Refusal,
    },
}

/// Why a [`RoomRequest`] was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Registering needs an account.
    NotLoggedIn,
    /// Registering needs operator status in the room.
    NotOp,
    AlreadyRegistered {
        founder: Name,
    },
    NotRegistered,
    /// The room does not exist (nobody is in it and it is not registered).
    NoSuchRoom,
    /// Dropping needs the founder's account or a server operator.
    NotFounder,
    /// Not a valid room name.
    BadName(&'static str),
}

/// A registered room's lasting state, as the runtime saves and restores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedRoom {
    pub name: Name,
    pub topic: Option<Topic>,
    /// Flag letters, then `k` and `l` with their arguments in that order
    /// (`+ntkl secret 10`); see [`format_modes`].
    pub modes: String,
    pub founder: Name,
    pub since: SystemTime,
}

/// Something the runtime must write down, in the hub's order. The hub
/// keeps these only when asked to (`Hub::keep_notes`): without a store
/// nobody would take them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// A registered room's state changed (or it was just registered).
    SaveRoom(SavedRoom),
    /// A room's registration was dropped.
    ForgetRoom(Name),
    /// An account's read marker moved forward.
    ReadMarker {
        account: Name,
        target: Name,
        at: SystemTime,
    },
    /// The private message `id` (just delivered) went to someone logged in
    /// to `account`: history keeps it with the message, since private
    /// history is read by account and the event names only the nickname.
    PrivateRecipient { id: u64, account: Name },
    /// A topic was set (or cleared: empty `text`) in any room; stored in the
    /// history like a message, under its own msgid.
    Topic {
        id: u64,
        time: SystemTime,
        room: Name,
        by: Arc<UserInfo>,
        text: Name,
    },
}

/// Room modes as one string: `+` and the flag letters, then `k`/`l` and
/// their arguments (`+ntkl secret 10`).
pub fn format_modes(flags: &[char], key: Option<&str>, limit: Option<usize>) -> String {
    let mut s = String::from("+");
    s.extend(flags.iter());
    let mut args = Vec::new();
    if let Some(k) = key {
        s.push('k');
        args.push(k.to_string());
    }
    if let Some(l) = limit {
        s.push('l');
        args.push(l.to_string());
    }
    for a in args {
        s.push(' ');
        s.push_str(&a);
    }
    s
}

/// The parts of a [`format_modes`] string: flags (letters of `allowed`),
/// key and limit. Unknown letters and arguments that do not parse are left
/// out rather than refusing the whole room.
pub fn parse_modes(s: &str, allowed: &str) -> (Vec<char>, Option<String>, Option<usize>) {
    let mut words = s.split_whitespace();
    let letters = words.next().unwrap_or("");
    let (mut flags, mut key, mut limit) = (Vec::new(), None, None);
    for c in letters.chars() {
        match c {
            '+' => {}
            'k' => key = words.next().map(str::to_string),
            'l' => limit = words.next().and_then(|w| w.parse().ok()).filter(|&n| n > 0),
            c if allowed.contains(c) => flags.push(c),
            _ => {}
        }
    }
    (flags, key, limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_round_trip() {
        let s = format_modes(&['n', 't'], Some("secret"), Some(10));
        assert_eq!(s, "+ntkl secret 10");
        assert_eq!(
            parse_modes(&s, "imnst"),
            (vec!['n', 't'], Some("secret".to_string()), Some(10))
        );
        assert_eq!(parse_modes("+nx", "imnst"), (vec!['n'], None, None));
        assert_eq!(parse_modes("+l nope", "imnst"), (vec![], None, None));
        assert_eq!(parse_modes("", "imnst"), (vec![], None, None));
    }
}
