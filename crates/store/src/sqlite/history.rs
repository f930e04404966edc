//! [`HistoryStore`] for [`SqliteStore`]: queries walk a scope's rows and,
//! for a room, its pages, merged in (time, msgid) order; the selector
//! semantics are `select.rs`'s. Appends are `append.rs`'s, compaction and
//! checkpoints `maintenance.rs`'s. This file must not write anything.

use std::time::SystemTime;

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

use super::SqliteStore;
use super::rows::{COLS, blob, collect};
use crate::error::StoreError;
use crate::keys::{Pos, Scope, db_id, from_ms, peer_name, room_conv, to_ms};
use crate::select::{self, Walk, merge};
use crate::{CompactStats, HistoryQuery, HistoryStore, Record, Retention, TargetInfo, page};
use chatroom_core::MsgTarget;
use chatroom_core::names::Key;

/// One scope of the database, seen by one read connection.
struct SqlWalk<'a> {
    conn: &'a Connection,
    scope: &'a Scope,
}

impl Walk for SqlWalk<'_> {
    fn find(&self, id: i64) -> Result<Option<Pos>, StoreError> {
        let (conn, scope) = (self.conn, self.scope);
        let sql = format!(
            "SELECT m.time_ms, m.id FROM messages m WHERE m.id = ?1 AND {}",
            scope.sql(2)
        );
        let mut stmt = conn.prepare_cached(&sql)?;
        let params = std::iter::once(Value::Integer(id)).chain(scope.params());
        let row = stmt
            .query_row(params_from_iter(params), |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        match (row, scope.room()) {
            (None, Some(conv)) => Ok(page_find(conn, conv, id)?.map(|(ms, _)| (ms, id))),
            (row, _) => Ok(row),
        }
    }

    /// From the rows, and for a room from its pages too.
    fn range(
        &self,
        low: Option<(Pos, bool)>,
        high: Option<Pos>,
        descending: bool,
        limit: usize,
    ) -> Result<Vec<Record>, StoreError> {
        let (conn, scope) = (self.conn, self.scope);
        let rows = rows_range(conn, scope, low, high, descending, limit)?;
        match scope.room() {
            Some(conv) => {
                let pages = page_range(conn, conv, low, high, descending, limit)?;
                Ok(merge(rows, pages, descending, limit))
            }
            None => Ok(rows),
        }
    }
}

/// The record `id` of `conv`'s pages, with its time in milliseconds.
fn page_find(conn: &Connection, conv: &str, id: i64) -> Result<Option<(i64, Record)>, StoreError> {
    let uid = u64::try_from(id).unwrap_or(0);
    Ok(page_holding(conn, conv, id)?
        .and_then(|(_, _, recs)| recs.into_iter().find(|(_, r)| r.id == uid)))
}

/// The page of `conv` whose msgids span `id`, as (lo_id, hi_id, records).
fn page_holding(
    conn: &Connection,
    conv: &str,
    id: i64,
) -> Result<Option<(i64, i64, Decoded)>, StoreError> {
    // Pages are keyed by their newest msgid, so the first at or above `id`
    // is the only one that can hold it.
    let mut stmt = conn.prepare_cached(
        "SELECT id, lo_id, body FROM pages WHERE conv = ?1 AND id >= ?2 ORDER BY id LIMIT 1",
    )?;
    let mut rows = stmt.query(params![conv, id])?;
    let Some(row) = rows.next()? else {
        return Ok(None);
    };
    let (page, lo): (i64, i64) = (row.get(0)?, row.get(1)?);
    if lo > id {
        return Ok(None);
    }
    Ok(Some((lo, page, page::decode(blob(row, 2)?, page)?)))
}

/// `range` over a room's pages. A room's pages follow each other in
/// (time, msgid) order without overlapping (`append` sees to it), so the
/// pages wholly below a bound are found by their newest record through the
/// `(conv, hi_ms)` index, and at most one page straddles a bound.
fn page_range(
    conn: &Connection,
    conv: &str,
    low: Option<(Pos, bool)>,
    high: Option<Pos>,
    descending: bool,
    limit: usize,
) -> Result<Vec<Record>, StoreError> {
    let above_low = |p: Pos| match low {
        Some((l, true)) => p >= l,
        Some((l, false)) => p > l,
        None => true,
    };
    let below_high = |p: Pos| high.is_none_or(|h| p < h);
    let mut out = Vec::new();
    if limit == 0 {
        return Ok(out);
    }
    if descending {
        // The page holding `high` itself (the first whose newest record is
        // at or above it), then the pages wholly below, newest first.
        let (hi_ms, hi_id) = high.unwrap_or((i64::MAX, i64::MAX));
        if high.is_some() {
            let mut stmt = conn.prepare_cached(
                "SELECT id, body FROM pages WHERE conv = ?1 AND (hi_ms, id) >= (?2, ?3) \
                 ORDER BY hi_ms, id LIMIT 1",
            )?;
            let mut rows = stmt.query(params![conv, hi_ms, hi_id])?;
            if let Some(row) = rows.next()? {
                let page: i64 = row.get(0)?;
                for (ms, rec) in page::decode(blob(row, 1)?, page)?.into_iter().rev() {
                    let p = (ms, db_id(rec.id)?);
                    if !above_low(p) || out.len() >= limit {
                        return Ok(out);
                    }
                    if below_high(p) {
                        out.push(rec);
                    }
                }
            }
        }
        let mut stmt = conn.prepare_cached(
            "SELECT id, body FROM pages WHERE conv = ?1 AND (hi_ms, id) < (?2, ?3) \
             ORDER BY hi_ms DESC, id DESC",
        )?;
        let mut rows = stmt.query(params![conv, hi_ms, hi_id])?;
        while let Some(row) = rows.next()? {
            let page: i64 = row.get(0)?;
            for (ms, rec) in page::decode(blob(row, 1)?, page)?.into_iter().rev() {
                if !above_low((ms, db_id(rec.id)?)) || out.len() >= limit {
                    return Ok(out);
                }
                out.push(rec);
            }
        }
    } else {
        let (lo_ms, lo_id) = low.map_or((i64::MIN, i64::MIN), |(l, _)| l);
        let mut stmt = conn.prepare_cached(
            "SELECT id, body FROM pages WHERE conv = ?1 AND (hi_ms, id) >= (?2, ?3) \
             ORDER BY hi_ms, id",
        )?;
        let mut rows = stmt.query(params![conv, lo_ms, lo_id])?;
        while let Some(row) = rows.next()? {
            let page: i64 = row.get(0)?;
            for (ms, rec) in page::decode(blob(row, 1)?, page)? {
                let p = (ms, db_id(rec.id)?);
                if !below_high(p) || out.len() >= limit {
                    return Ok(out);
                }
                if above_low(p) {
                    out.push(rec);
                }
            }
        }
    }
    Ok(out)
}

/// A decoded page: its records with their times in milliseconds.
type Decoded = Vec<(i64, Record)>;

/// The records of `conv`'s pages among `ids` (given newest first), newest
/// first. An id in no page of `conv` (another room's, a row's) is skipped.
pub(super) fn page_records_by_id(
    conn: &Connection,
    conv: &str,
    ids: &[i64],
) -> Result<Vec<Record>, StoreError> {
    let mut out = Vec::new();
    // The page last read, as (lo_id, hi_id, records): ids come newest
    // first, so neighbours usually share it.
    let mut last: Option<(i64, i64, Decoded)> = None;
    for &id in ids {
        let cached = last
            .as_ref()
            .is_some_and(|(lo, hi, _)| *lo <= id && id <= *hi);
        if !cached {
            match page_holding(conn, conv, id)? {
                Some(page) => last = Some(page),
                None => continue,
            }
        }
        let uid = u64::try_from(id).unwrap_or(0);
        if let Some((_, _, recs)) = &last
            && let Some((_, rec)) = recs.iter().find(|(_, r)| r.id == uid)
        {
            out.push(rec.clone());
        }
    }
    Ok(out)
}

/// `range` over the `messages` table alone.
fn rows_range(
    conn: &Connection,
    scope: &Scope,
    low: Option<(Pos, bool)>,
    high: Option<Pos>,
    descending: bool,
    limit: usize,
) -> Result<Vec<Record>, StoreError> {
    let mut sql = format!("SELECT {COLS} FROM messages m WHERE {}", scope.sql(1));
    let mut params = scope.params();
    if let Some(((t, id), inclusive)) = low {
        let op = if inclusive { ">=" } else { ">" };
        sql.push_str(&format!(
            " AND (m.time_ms, m.id) {op} (?{}, ?{})",
            params.len() + 1,
            params.len() + 2
        ));
        params.extend([Value::Integer(t), Value::Integer(id)]);
    }
    if let Some((t, id)) = high {
        sql.push_str(&format!(
            " AND (m.time_ms, m.id) < (?{}, ?{})",
            params.len() + 1,
            params.len() + 2
        ));
        params.extend([Value::Integer(t), Value::Integer(id)]);
    }
    let dir = if descending { "DESC" } else { "ASC" };
    sql.push_str(&format!(
        " ORDER BY m.time_ms {dir}, m.id {dir} LIMIT ?{}",
        params.len() + 1
    ));
    params.push(Value::Integer(i64::try_from(limit).unwrap_or(i64::MAX)));
    let mut stmt = conn.prepare_cached(&sql)?;
    collect(&mut stmt, params)
}

impl HistoryStore for SqliteStore {
    fn append(&self, batch: &[Record]) -> Result<(), StoreError> {
        self.write_batch(batch)
    }

    fn query(&self, q: &HistoryQuery) -> Result<Vec<Record>, StoreError> {
        let limit = self.clamp(q.limit);
        if limit == 0 {
            return Ok(Vec::new());
        }
        let scope = Scope::of(&q.requester, &q.target);
        self.read(|conn| {
            let walk = SqlWalk {
                conn,
                scope: &scope,
            };
            select::run(&walk, q.selector, limit)
        })
    }

    fn targets(
        &self,
        requester: &str,
        rooms: &[String],
        from: SystemTime,
        to: SystemTime,
        limit: usize,
    ) -> Result<Vec<TargetInfo>, StoreError> {
        let limit = self.clamp(limit);
        if limit == 0 {
            return Ok(Vec::new());
        }
        let me = Key::of(requester);
        let (lo, hi) = if from <= to { (from, to) } else { (to, from) };
        let (lo, hi) = (to_ms(lo), to_ms(hi));
        let within = |ms: i64| lo < ms && ms < hi;
        let found = self.read(|conn| {
            let mut found = Vec::new();
            // The latest message with each other party (by nickname) of
            // the account's private messages: each row counts for the
            // side the account is not on (for both, when it is on both).
            let mut stmt = conn.prepare_cached(
                "SELECT peer, time_ms, nick, target FROM ( \
                   SELECT peer, time_ms, nick, target, row_number() OVER \
                     (PARTITION BY peer ORDER BY time_ms DESC, id DESC) AS n \
                   FROM ( \
                     SELECT m.pm_b AS peer, m.time_ms, m.id, m.nick, m.target \
                       FROM messages m WHERE m.acct_a = ?1 \
                     UNION ALL \
                     SELECT m.pm_a AS peer, m.time_ms, m.id, m.nick, m.target \
                       FROM messages m WHERE m.acct_b = ?1)) \
                 WHERE n = 1 AND time_ms > ?2 AND time_ms < ?3",
            )?;
            let mut rows = stmt.query(params![me.as_str(), lo, hi])?;
            while let Some(row) = rows.next()? {
                let peer: String = row.get(0)?;
                let latest: i64 = row.get(1)?;
                let nick: String = row.get(2)?;
                let target: String = row.get(3)?;
                found.push(TargetInfo {
                    target: MsgTarget::Nick(peer_name(&nick, &target, &peer).into()),
                    latest: from_ms(latest),
                });
            }
            let mut stmt =
                conn.prepare_cached("SELECT max(m.time_ms) FROM messages m WHERE m.conv = ?1")?;
            for room in rooms {
                let conv = room_conv(room);
                let in_rows: Option<i64> = stmt.query_row(params![conv], |r| r.get(0))?;
                let in_pages = page_range(conn, &conv, None, None, true, 1)?
                    .first()
                    .map(|r| to_ms(r.time));
                if let Some(latest) = in_rows.max(in_pages).filter(|&ms| within(ms)) {
                    found.push(TargetInfo {
                        target: MsgTarget::Room(room.as_str().into()),
                        latest: from_ms(latest),
                    });
                }
            }
            Ok(found)
        })?;
        Ok(select::finish_targets(found, from, to, limit))
    }

    fn last_id(&self) -> Result<u64, StoreError> {
        self.read(|conn| {
            let id: i64 = conn.query_row(
                "SELECT max( \
                   coalesce((SELECT value FROM meta WHERE key = 'last_id'), 0), \
                   coalesce((SELECT max(id) FROM messages), 0), \
                   coalesce((SELECT max(id) FROM pages), 0), \
                   coalesce((SELECT max(id) FROM offline), 0))",
                [],
                |r| r.get(0),
            )?;
            u64::try_from(id).map_err(|_| StoreError::Damaged(format!("negative last msgid {id}")))
        })
    }

    fn compact(&self, policy: &Retention, now: SystemTime) -> Result<CompactStats, StoreError> {
        self.compact_in_chunks(policy, now)
    }

    fn checkpoint(&self) -> Result<(), StoreError> {
        self.checkpoint_passive()
    }
}
