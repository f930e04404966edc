//! What a history question means, once, for every implementation: how each
//! [`Selector`] turns into walks over one scope in (time, msgid) order, and
//! how `CHATHISTORY TARGETS` orders and cuts its answer.
//!
//! An implementation supplies a [`Walk`] (find a msgid in the scope; list
//! the records between two places, from either end) and gets the selector
//! semantics from [`run`], so that SQLite and the in-memory store cannot
//! drift apart on anchors, exclusivity or the AROUND window. This file must
//! not touch storage.

use std::time::SystemTime;

use chatroom_core::history::{Anchor, Selector, TargetInfo};

use super::Record;
use super::error::StoreError;
use super::keys::{Pos, target_name, to_ms};

/// How an anchor is used: as the low end of a range, the high end, or the
/// middle of AROUND (a moment's messages count as "at or after" it).
#[derive(Clone, Copy)]
pub(crate) enum Role {
    Low,
    High,
    Pivot,
}

/// One scope's records, walked in (time, msgid) order.
pub(crate) trait Walk {
    /// Where msgid `id` is, if it is a record of this scope: another
    /// conversation's msgid is as unknown as one that never existed.
    fn find(&self, id: i64) -> Result<Option<Pos>, StoreError>;

    /// Records strictly above `low` (or at or above it, when its flag says
    /// inclusive) and strictly below `high`, nearest the start of the walk
    /// first (the highest first when `descending`), at most `limit`.
    fn range(
        &self,
        low: Option<(Pos, bool)>,
        high: Option<Pos>,
        descending: bool,
        limit: usize,
    ) -> Result<Vec<Record>, StoreError>;

    /// `range` walking backwards, returned in ascending order.
    fn range_back(
        &self,
        low: Option<(Pos, bool)>,
        high: Option<Pos>,
        limit: usize,
    ) -> Result<Vec<Record>, StoreError> {
        let mut rows = self.range(low, high, true, limit)?;
        rows.reverse();
        Ok(rows)
    }
}

fn position<W: Walk + ?Sized>(
    w: &W,
    anchor: Anchor,
    role: Role,
) -> Result<Option<Pos>, StoreError> {
    match anchor {
        Anchor::Time(t) => {
            let ms = to_ms(t);
            Ok(Some(match role {
                Role::Low => (ms, i64::MAX),
                Role::High | Role::Pivot => (ms, i64::MIN),
            }))
        }
        Anchor::MsgId(id) => match i64::try_from(id) {
            Ok(id) => w.find(id),
            Err(_) => Ok(None),
        },
    }
}

/// The answer to `selector` over `w`, in ascending order, at most `limit`
/// (already cut to the store's maximum; not 0).
pub(crate) fn run<W: Walk + ?Sized>(
    w: &W,
    selector: Selector,
    limit: usize,
) -> Result<Vec<Record>, StoreError> {
    let pos = |anchor, role| position(w, anchor, role);
    match selector {
        Selector::Latest { after: None } => w.range_back(None, None, limit),
        Selector::Latest { after: Some(a) } => match pos(a, Role::Low)? {
            Some(low) => w.range_back(Some((low, false)), None, limit),
            None => Ok(Vec::new()),
        },
        Selector::Before(a) => match pos(a, Role::High)? {
            Some(high) => w.range_back(None, Some(high), limit),
            None => Ok(Vec::new()),
        },
        Selector::After(a) => match pos(a, Role::Low)? {
            Some(low) => w.range(Some((low, false)), None, false, limit),
            None => Ok(Vec::new()),
        },
        Selector::Around(a) => {
            let Some(pivot) = pos(a, Role::Pivot)? else {
                return Ok(Vec::new());
            };
            // Fetch up to `limit` on each side, then keep a window of
            // `limit` centred on the pivot, letting a short side's share go
            // to the other.
            let before = w.range(None, Some(pivot), true, limit)?;
            let after = w.range(Some((pivot, true)), None, false, limit)?;
            let mut nb = before.len().min(limit / 2);
            let na = after.len().min(limit - nb);
            nb = before.len().min(limit - na);
            let mut out: Vec<Record> = before.into_iter().take(nb).collect();
            out.reverse();
            out.extend(after.into_iter().take(na));
            Ok(out)
        }
        Selector::Between(a, b) => {
            let (Some(a_low), Some(b_high)) = (pos(a, Role::Low)?, pos(b, Role::High)?) else {
                return Ok(Vec::new());
            };
            if a_low < b_high {
                return w.range(Some((a_low, false)), Some(b_high), false, limit);
            }
            // Backwards in time: from `a` down to `b`, nearest `a` kept.
            let (Some(a_high), Some(b_low)) = (pos(a, Role::High)?, pos(b, Role::Low)?) else {
                return Ok(Vec::new());
            };
            w.range_back(Some((b_low, false)), Some(a_high), limit)
        }
    }
}

/// Two walks in the same direction, merged, at most `limit` long.
pub(crate) fn merge(a: Vec<Record>, b: Vec<Record>, descending: bool, limit: usize) -> Vec<Record> {
    if b.is_empty() {
        return a;
    }
    if a.is_empty() {
        return b;
    }
    let key = |r: &Record| (to_ms(r.time), r.id);
    let mut out = Vec::with_capacity(limit.min(a.len() + b.len()));
    let (mut a, mut b) = (a.into_iter().peekable(), b.into_iter().peekable());
    while out.len() < limit {
        let from_a = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) => (key(x) < key(y)) != descending,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        let next = if from_a { a.next() } else { b.next() };
        out.extend(next);
    }
    out
}

/// `CHATHISTORY TARGETS`' order and cut: ascending by latest message (then
/// by name), at most `limit`, those nearest `from` kept.
pub(crate) fn finish_targets(
    mut found: Vec<TargetInfo>,
    from: SystemTime,
    to: SystemTime,
    limit: usize,
) -> Vec<TargetInfo> {
    found.sort_by(|a, b| {
        a.latest
            .cmp(&b.latest)
            .then_with(|| target_name(&a.target).cmp(target_name(&b.target)))
    });
    if from <= to {
        found.truncate(limit);
    } else {
        found.drain(..found.len().saturating_sub(limit));
    }
    found
}
