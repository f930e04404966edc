//! The names every implementation files records under, and the time and
//! msgid conversions they share, so that two stores agree on what one
//! conversation is and on which instant a record was at.
//!
//! A conversation key is case-folded: `r:<room>` for a room, `p:<a> <b>`
//! (the two nicknames, sorted) for a private conversation. A private
//! message also has its [`Parties`]: the two nicknames and the account each
//! was logged in to, by which it is found ([`Scope::Private`]). Times are
//! kept in whole milliseconds (IRC's server-time precision), msgids as
//! SQLite's signed integers. This file must not touch storage.

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

/// Nicknames never contain spaces (every protocol splits on them), so the
/// space keeps the pair unambiguous.
pub(crate) fn pm_conv(a: &str, b: &str) -> String {
    format!("p:{a} {b}")
}

/// The two sides of a private message, sorted by nickname as in its
/// conversation key: each side's case-folded nickname, and the case-folded
/// account it was logged in to (`None`: not logged in). Both sides are the
/// same nickname for a message to oneself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Parties {
    pub a: String,
    pub b: String,
    pub acct_a: Option<String>,
    pub acct_b: Option<String>,
}

/// Where a record goes: its conversation key, and for a private message
/// its parties.
pub(crate) fn record_keys(rec: &Record) -> (String, Option<Parties>) {
    match &rec.to {
        // Status messages are never handed to the store (see persist's
        // `keeps`); filed under their room if one ever were.
        MsgTarget::Room(room) => (room_conv(room), None),
        MsgTarget::Status(to) => (room_conv(to.trim_start_matches(['@', '+'])), None),
        MsgTarget::Nick(nick) => {
            let acct = |a: &Option<chatroom_core::names::Name>| {
                a.as_deref().map(|a| Key::of(a).as_str().to_string())
            };
            let sender = Key::of(&rec.from.nick).as_str().to_string();
            let recipient = Key::of(nick).as_str().to_string();
            let (from_acct, to_acct) = (acct(&rec.from.account), acct(&rec.to_account));
            let parties = if sender <= recipient {
                Parties {
                    a: sender,
                    b: recipient,
                    acct_a: from_acct,
                    acct_b: to_acct,
                }
            } else {
                Parties {
                    a: recipient,
                    b: sender,
                    acct_a: to_acct,
                    acct_b: from_acct,
                }
            };
            (pm_conv(&parties.a, &parties.b), Some(parties))
        }
    }
}

/// Which records a query may see: one room, or private messages of one
/// account (case-folded), all of them or those with one other party.
pub(crate) enum Scope {
    Conv(String),
    Private {
        account: String,
        /// The other party's nickname or account, case-folded; `None`:
        /// every private message of the account.
        peer: Option<String>,
    },
}

impl Scope {
    /// The scope of `target` asked by the account `requester`: private
    /// messages are only ever those the requester's account took part in.
    pub(crate) fn of(requester: &str, target: &QueryTarget) -> Scope {
        let account = Key::of(requester).as_str().to_string();
        match target {
            QueryTarget::Room(room) => Scope::Conv(room_conv(room)),
            QueryTarget::Nick(peer) => Scope::Private {
                account,
                peer: Some(Key::of(peer).as_str().to_string()),
            },
            QueryTarget::AllPrivate => Scope::Private {
                account,
                peer: None,
            },
        }
    }

    /// The room's conversation key, when the scope is a room.
    pub(crate) fn room(&self) -> Option<&str> {
        match self {
            Scope::Conv(k) if k.starts_with("r:") => Some(k),
            _ => None,
        }
    }

    /// Whether a private message with these parties is in the scope: one
    /// side logged in to the account, the other (when a peer is named)
    /// holding that nickname or logged in to an account of that name. The
    /// rule SQLite's `Scope::sql` states in SQL.
    pub(crate) fn sees(&self, p: &Parties) -> bool {
        let Scope::Private { account, peer } = self else {
            return false;
        };
        let side = |mine: &Option<String>, nick: &str, acct: &Option<String>| {
            mine.as_deref() == Some(account.as_str())
                && peer
                    .as_deref()
                    .is_none_or(|p| nick == p || acct.as_deref() == Some(p))
        };
        side(&p.acct_a, &p.b, &p.acct_b) || side(&p.acct_b, &p.a, &p.acct_a)
    }
}

/// The other parties of `account` (case-folded) in a private message, for
/// `CHATHISTORY TARGETS`: side b's nickname when side a was logged in to
/// the account, side a's when side b was (both, rarely: one account on two
/// nicknames).
pub(crate) fn peers_of<'p>(account: &str, p: &'p Parties) -> impl Iterator<Item = &'p str> {
    let b = (p.acct_a.as_deref() == Some(account)).then_some(p.b.as_str());
    let a = (p.acct_b.as_deref() == Some(account)).then_some(p.a.as_str());
    b.into_iter().chain(a)
}

/// How the party `peer` (case-folded) of a private message from `from` to
/// `target` is spelled: as the recipient when it is the recipient (for a
/// message to oneself, too), else as the sender.
pub(crate) fn peer_name<'r>(from: &'r str, target: &'r str, peer: &str) -> &'r str {
    if Key::of(target).as_str() == peer {
        target
    } else {
        from
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
