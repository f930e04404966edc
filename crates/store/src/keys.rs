//! The names every implementation files records under, and the time and
//! msgid conversions they share, so that two stores agree on what one
//! conversation is and on which instant a record was at.
//!
//! A conversation key is case-folded: `r:<room>` for a room, `p:<a> <b>`
//! (the two nicknames, sorted) for a private conversation. Times are kept in
//! whole milliseconds (IRC's server-time precision), msgids as SQLite's
//! signed integers. This file must not touch storage.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chatroom_core::MsgTarget;
use chatroom_core::names::Key;

use super::error::StoreError;
use super::{QueryTarget, Record};

/// A place in the (time_ms, msgid) order every history walks in. Bounds
/// built from a moment use the smallest or largest id so that a comparison
/// means "before the moment" or "after the moment" whatever the ids at that
/// millisecond.
pub(crate) type Pos = (i64, i64);

pub(crate) fn room_conv(room: &str) -> String {
    format!("r:{}", Key::of(room).as_str())
}

/// The two parties of a private conversation, case-folded and sorted.
pub(crate) fn pm_pair(a: &str, b: &str) -> (String, String) {
    let (a, b) = (Key::of(a), Key::of(b));
    if a <= b {
        (a.as_str().to_string(), b.as_str().to_string())
    } else {
        (b.as_str().to_string(), a.as_str().to_string())
    }
}

/// Nicknames never contain spaces (every protocol splits on them), so the
/// space keeps the pair unambiguous.
pub(crate) fn pm_conv(a: &str, b: &str) -> String {
    format!("p:{a} {b}")
}

/// Where a record goes: (conv, pm_a, pm_b); the parties only for a private
/// message.
pub(crate) fn record_keys(rec: &Record) -> (String, Option<String>, Option<String>) {
    match &rec.to {
        // Status messages are never handed to the store (see persist's
        // `keeps`); filed under their room if one ever were.
        MsgTarget::Room(room) => (room_conv(room), None, None),
        MsgTarget::Status(to) => (room_conv(to.trim_start_matches(['@', '+'])), None, None),
        MsgTarget::Nick(nick) => {
            let (a, b) = pm_pair(&rec.from.nick, nick);
            (pm_conv(&a, &b), Some(a), Some(b))
        }
    }
}

/// Which records a query may see: one conversation, or all of one person's
/// private conversations (by the person's case-folded nickname).
pub(crate) enum Scope {
    Conv(String),
    Private(String),
}

impl Scope {
    /// The scope of `target` asked by `requester`: a private conversation
    /// is always one the requester is a party of.
    pub(crate) fn of(requester: &str, target: &QueryTarget) -> Scope {
        match target {
            QueryTarget::Room(room) => Scope::Conv(room_conv(room)),
            QueryTarget::Nick(peer) => {
                let (a, b) = pm_pair(requester, peer);
                Scope::Conv(pm_conv(&a, &b))
            }
            QueryTarget::AllPrivate => Scope::Private(Key::of(requester).as_str().to_string()),
        }
    }

    /// The room's conversation key, when the scope is a room.
    pub(crate) fn room(&self) -> Option<&str> {
        match self {
            Scope::Conv(k) if k.starts_with("r:") => Some(k),
            _ => None,
        }
    }
}

pub(crate) fn to_ms(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_millis()).map_or(i64::MIN, |ms| -ms),
    }
}

pub(crate) fn from_ms(ms: i64) -> SystemTime {
    let d = Duration::from_millis(ms.unsigned_abs());
    let t = if ms >= 0 {
        UNIX_EPOCH.checked_add(d)
    } else {
        UNIX_EPOCH.checked_sub(d)
    };
    t.unwrap_or(UNIX_EPOCH)
}

/// A msgid as stored: refused above `i64::MAX` (see [`Record::id`]).
pub(crate) fn db_id(id: u64) -> Result<i64, StoreError> {
    i64::try_from(id).map_err(|_| StoreError::InvalidRecord(format!("msgid {id} is above 2^63-1")))
}

pub(crate) fn target_name(to: &MsgTarget) -> &str {
    match to {
        MsgTarget::Room(n) | MsgTarget::Nick(n) | MsgTarget::Status(n) => n,
    }
}

/// A record's (time, msgid) place.
pub(crate) fn pos_of(rec: &Record) -> Pos {
    (to_ms(rec.time), i64::try_from(rec.id).unwrap_or(i64::MAX))
}
