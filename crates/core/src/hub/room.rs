//! The hub's records: a member (one registered connection), a room, a
//! member's standing in a room, and the checks made on entering and
//! speaking (bans, keys, limits, moderation).
//!
//! Data and pure checks only: changing them is the hub's commands' job.
//! Must not deliver anything.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::SystemTime;

use indexmap::{IndexMap, IndexSet};

use super::Outcome;
use crate::command::{ConnId, MsgKind};
use crate::error::HubError;
use crate::event::{Topic, UserInfo};
use crate::modes::{self, ListEntry};
use crate::names::{Key, Name};

/// One registered connection.
pub(super) struct Member {
    pub(super) info: Arc<UserInfo>,
    /// Rooms in the order they were joined. A list, not a set: a member is
    /// in a few rooms (at most `max_rooms_per_member`), and a set's table
    /// cost every member about a hundred bytes (measured idle). Exactly as
    /// long as it needs to be: a `Vec` kept room for four (64 B for one
    /// room), and its capacity word put this record in the 128 B class
    /// rather than 112. Joins and parts are rare next to everything else.
    pub(super) rooms: Box<[Key]>,
    pub(super) focus: Option<Key>,
    pub(super) away: Option<Name>,
    pub(super) signon: SystemTime,
    pub(super) last_spoke: SystemTime,
    /// User mode `+i`: not found by WHO searches of people who share no room.
    pub(super) invisible: bool,
    /// User mode `+o`: a server operator.
    pub(super) oper: bool,
    /// User mode `+w`: receives WALLOPS.
    pub(super) wallops: bool,
    /// Connected over TLS (told by the edge after registration).
    pub(super) secure: bool,
    /// The TLS client certificate's fingerprint, if one was presented.
    pub(super) certfp: Option<Name>,
}

impl Member {
    /// Adds `key` to the member's rooms (last).
    pub(super) fn join_list(&mut self, key: Key) {
        let mut rooms = std::mem::take(&mut self.rooms).into_vec();
        rooms.reserve_exact(1);
        rooms.push(key);
        self.rooms = rooms.into_boxed_slice();
    }

    /// Takes `key` out of the member's rooms.
    pub(super) fn leave_list(&mut self, key: &Key) {
        if self.rooms.contains(key) {
            let mut rooms = std::mem::take(&mut self.rooms).into_vec();
            rooms.retain(|k| k != key);
            self.rooms = rooms.into_boxed_slice();
        }
    }
}

/// A member's standing in one room.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Status {
    pub(super) op: bool,
    pub(super) voice: bool,
}

pub(super) struct Room {
    pub(super) name: Name,
    /// Members in join order, with their standing.
    pub(super) members: IndexMap<ConnId, Status>,
    pub(super) topic: Option<Topic>,
    pub(super) created: SystemTime,
    /// Flag modes in force (letters of `modes::FLAG_MODES`).
    pub(super) flags: BTreeSet<char>,
    pub(super) key: Option<Name>,
    pub(super) limit: Option<usize>,
    pub(super) bans: Vec<ListEntry>,
    pub(super) excepts: Vec<ListEntry>,
    pub(super) invex: Vec<ListEntry>,
    /// Nicknames invited by INVITE, until they join (oldest first).
    pub(super) invited: IndexSet<Key>,
    /// Set for a registered room, which exists while empty.
    pub(super) reg: Option<Registration>,
    /// What else keeps the room beyond its members (configured, kept
    /// while empty, operators remembered); absent for most rooms.
    pub(super) lasting: Option<Box<super::lasting::Lasting>>,
}

impl Room {
    pub(super) fn new(name: Name, flags: BTreeSet<char>, created: SystemTime) -> Room {
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
            lasting: None,
        }
    }

    pub(super) fn has(&self, flag: char) -> bool {
        self.flags.contains(&flag)
    }

    pub(super) fn status(&self, conn: ConnId) -> Option<Status> {
        self.members.get(&conn).copied()
    }

    pub(super) fn is_op(&self, conn: ConnId) -> bool {
        self.status(conn).is_some_and(|s| s.op)
    }

    /// Banned: matched by a ban and by no exception (mutes and their
    /// exceptions, `m:` masks, are not bans).
    pub(super) fn bans_user(&self, who: &UserInfo) -> bool {
        let mask = full_mask(who);
        let plain = |e: &&ListEntry| !e.mask.starts_with(modes::MUTE_PREFIX);
        self.bans
            .iter()
            .filter(plain)
            .any(|b| modes::glob_match(&b.mask, &mask))
            && !self
                .excepts
                .iter()
                .filter(plain)
                .any(|e| modes::glob_match(&e.mask, &mask))
    }

    /// Muted: matched by a mute (`+b m:mask`) and by no mute exception
    /// (`+e m:mask`).
    pub(super) fn mutes_user(&self, who: &UserInfo) -> bool {
        let mask = full_mask(who);
        let hits = |list: &[ListEntry]| {
            list.iter().any(|e| {
                e.mask
                    .strip_prefix(modes::MUTE_PREFIX)
                    .is_some_and(|m| modes::glob_match(m, &mask))
            })
        };
        hits(&self.bans) && !hits(&self.excepts)
    }

    pub(super) fn invex_user(&self, who: &UserInfo) -> bool {
        let mask = full_mask(who);
        self.invex.iter().any(|e| modes::glob_match(&e.mask, &mask))
    }
}

/// `nick!user@host`, what ban masks are matched against.
pub(super) fn full_mask(u: &UserInfo) -> String {
    format!("{}!{}@{}", u.nick, u.user, u.host)
}

/// May `who` enter `room`? Bans first (an exception lifts a ban), then
/// invite-only (an invitation or an invite exception lets one in), the key
/// and the limit (RFC 2812 3.2.1; the order other servers use too).
pub(super) fn check_entry(room: &Room, who: &UserInfo, key: Option<&str>) -> Outcome {
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
/// not from outside under `+n`, not under `+m`, not while banned or muted.
pub(super) fn check_speech(room: &Room, conn: ConnId, who: &UserInfo) -> Outcome {
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
    if room.mutes_user(who) {
        return Err(HubError::CannotSend {
            room: room.name.clone(),
            reason: "you are muted (+b m:)",
        });
    }
    Ok(())
}

/// May this text go to `room`? Under `+C` no CTCP but ACTION (which is
/// its own kind by now), from anyone.
pub(super) fn check_ctcp(room: &Room, kind: MsgKind, text: &str) -> Outcome {
    if room.has('C') && kind != MsgKind::Action && text.starts_with('\u{1}') {
        return Err(HubError::CannotSend {
            room: room.name.clone(),
            reason: "CTCP is not allowed here (+C)",
        });
    }
    Ok(())
}

/// Who registered a room, and when.
#[derive(Debug, Clone)]
pub(super) struct Registration {
    pub(super) founder: Name,
    pub(super) since: SystemTime,
}
