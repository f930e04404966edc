//! The write path of [`HistoryStore::append`](crate::HistoryStore::append):
//! a room's records that follow everything stored go into one page per
//! room per commit; private messages and records out of order go into rows.
//! This file must not read history for anyone.

use std::collections::HashMap;
use std::sync::PoisonError;

use rusqlite::{Connection, ErrorCode, OptionalExtension, TransactionBehavior, params};

use super::SqliteStore;
use super::index::Forget;
use super::rows::blob;
use crate::error::StoreError;
use crate::keys::{Pos, db_id, record_keys, room_conv, target_name, to_ms};
use crate::{Record, RecordKind, page};
use chatroom_core::MsgTarget;

const INSERT_MESSAGE: &str = "INSERT INTO messages \
    (id, time_ms, kind, conv, pm_a, pm_b, acct_a, acct_b, target, nick, ident, realname, host, \
     text, tags) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)";

const INSERT_PAGE: &str = "INSERT INTO pages (id, conv, lo_id, lo_ms, hi_ms, n, body) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

/// Rooms whose page tails `append` keeps in memory (about 100 bytes each)
/// before it forgets them all and reads them back from their newest page.
const TAILS_MAX: usize = 50_000;

/// A page `append` is building: a room's records of this commit that
/// follow everything in the room's earlier pages.
struct Page<'a> {
    conv: String,
    /// The newest record's (time, msgid), in the stored pages or this one.
    tail: Pos,
    /// With their times in milliseconds, in (time, msgid) order.
    recs: Vec<(i64, &'a Record)>,
}

/// The (time, msgid) of the newest record in `conv`'s pages.
fn newest_page(conn: &Connection, conv: &str) -> Result<Option<Pos>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT hi_ms, id FROM pages WHERE conv = ?1 ORDER BY hi_ms DESC, id DESC LIMIT 1",
    )?;
    Ok(stmt
        .query_row([conv], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

/// Whether msgid `id` is in a stored page or in one `append` is building.
/// Only ids at or below the highest stored one are asked about (never on
/// the delivery path's usual way: ids only grow), so a scan is affordable.
fn in_pages(conn: &Connection, id: i64, building: &[Page<'_>]) -> Result<bool, StoreError> {
    let Ok(uid) = u64::try_from(id) else {
        return Ok(false);
    };
    if building
        .iter()
        .any(|page| page.recs.iter().any(|(_, r)| r.id == uid))
    {
        return Ok(true);
    }
    let mut stmt =
        conn.prepare_cached("SELECT id, body FROM pages WHERE id >= ?1 AND lo_id <= ?1")?;
    let mut rows = stmt.query([id])?;
    while let Some(row) = rows.next()? {
        let page: i64 = row.get(0)?;
        if page::decode(blob(row, 1)?, page)?
            .iter()
            .any(|(_, r)| r.id == uid)
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Raises the newest msgid `meta` remembers (see `last_id`).
pub(super) const BUMP_LAST_ID: &str =
    "UPDATE meta SET value = max(value, ?1) WHERE key = 'last_id'";

fn is_primary_key_clash(e: &rusqlite::Error) -> bool {
    e.sqlite_error().is_some_and(|s| {
        s.code == ErrorCode::ConstraintViolation
            && s.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    })
}

impl SqliteStore {
    /// See [`crate::HistoryStore::append`]: one immediate transaction, the
    /// page tails updated only once it has committed.
    pub(super) fn write_batch(&self, batch: &[Record]) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut max_id = 0;
        for rec in batch {
            max_id = max_id.max(db_id(rec.id)?);
        }
        let silent = self.silent.read().unwrap_or_else(PoisonError::into_inner);
        let mut conn = self.writer();
        let mut tails = self.tails.lock().unwrap_or_else(PoisonError::into_inner);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut written_max = 0;
        // Room records that come after everything stored go into one page
        // per room; the rest (private messages, and room records out of
        // order or possibly duplicate) into rows. Tails change only once
        // the commit is done.
        let mut pages: Vec<Page<'_>> = Vec::new();
        let mut page_of: HashMap<String, usize> = HashMap::new();
        // The previous record's room and its page (`None`: a room that
        // keeps nothing). A batch is mostly runs of one busy room, so the
        // room's key is worked out once per run, not once per record.
        let mut current: Option<(&str, Option<usize>)> = None;
        let mut top = tails.max_id;
        let mut rows = Vec::new();
        // Msgids withdrawn by this batch's redactions (never stored
        // themselves: their ids are kept by `meta`, see below).
        let mut redacted: Vec<u64> = Vec::new();
        for rec in batch {
            let (id, ms) = (db_id(rec.id)?, to_ms(rec.time));
            if rec.kind == RecordKind::Redact {
                redacted.extend(rec.redacts());
                top = top.max(id);
                continue;
            }
            if let MsgTarget::Room(room) = &rec.to {
                let slot = match current {
                    Some((name, slot)) if name == &**room => slot,
                    _ => {
                        let conv = room_conv(room);
                        let slot = if silent.contains(&conv) {
                            None
                        } else if let Some(&at) = page_of.get(&conv) {
                            Some(at)
                        } else {
                            let tail = match tails.rooms.get(&conv) {
                                Some(t) => *t,
                                None => newest_page(&tx, &conv)?.unwrap_or((i64::MIN, i64::MIN)),
                            };
                            pages.push(Page {
                                conv: conv.clone(),
                                tail,
                                recs: Vec::new(),
                            });
                            page_of.insert(conv, pages.len() - 1);
                            Some(pages.len() - 1)
                        };
                        current = Some((room, slot));
                        slot
                    }
                };
                let Some(at) = slot else {
                    continue;
                };
                // An id above every stored one, at or after the time of the
                // room's newest paged record, extends the room's pages.
                if id > top
                    && let Some(page) = pages.get_mut(at)
                    && ms >= page.tail.0
                {
                    page.tail = (ms, id);
                    page.recs.push((ms, rec));
                    top = id;
                    continue;
                }
            }
            let (conv, parties) = record_keys(rec);
            if parties.is_none() && silent.contains(&conv) {
                continue;
            }
            if id > top {
                top = id;
            } else if in_pages(&tx, id, &pages)? {
                return Err(StoreError::DuplicateId(rec.id));
            }
            rows.push((rec, conv, parties));
        }
        // A message withdrawn in the batch that brought it is never written.
        if !redacted.is_empty() {
            rows.retain(|(rec, _, _)| !redacted.contains(&rec.id));
            for page in &mut pages {
                page.recs.retain(|(_, rec)| !redacted.contains(&rec.id));
            }
        }
        {
            let mut insert = tx.prepare_cached(INSERT_MESSAGE)?;
            for (rec, conv, parties) in &rows {
                let from = &rec.from;
                let p = parties.as_ref();
                let inserted = insert.execute(params![
                    db_id(rec.id)?,
                    to_ms(rec.time),
                    rec.kind.as_str(),
                    conv,
                    p.map(|p| &p.a),
                    p.map(|p| &p.b),
                    p.and_then(|p| p.acct_a.as_ref()),
                    p.and_then(|p| p.acct_b.as_ref()),
                    target_name(&rec.to),
                    &*from.nick,
                    &*from.user,
                    &*from.realname,
                    &*from.host,
                    &*rec.text,
                    page::encode_tags(&rec.tags),
                ]);
                match inserted {
                    Ok(_) => {
                        let id = db_id(rec.id)?;
                        written_max = written_max.max(id);
                    }
                    Err(e) if is_primary_key_clash(&e) => {
                        return Err(StoreError::DuplicateId(rec.id));
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            let mut insert = tx.prepare_cached(INSERT_PAGE)?;
            let mut body = Vec::new();
            for Page { conv, recs, .. } in &pages {
                let (Some(&(lo_ms, lo)), Some(&(hi_ms, hi))) = (recs.first(), recs.last()) else {
                    continue;
                };
                body.clear();
                page::encode(recs.iter().copied(), &mut body);
                let (lo, hi) = (db_id(lo.id)?, db_id(hi.id)?);
                insert.execute(params![
                    hi,
                    conv,
                    lo,
                    lo_ms,
                    hi_ms,
                    recs.len() as i64,
                    &body
                ])?;
                written_max = written_max.max(hi);
            }
            // The newest id is kept by its row (see `last_id`); only when
            // the newest record was not written (a room that keeps nothing)
            // must `meta` remember it. Not bumping it at every commit saves
            // a statement and a page in the WAL per batch.
            if written_max < max_id {
                tx.prepare_cached(BUMP_LAST_ID)?.execute([max_id])?;
            }
        }
        let gone = redact(&tx, &redacted)?;
        tx.commit()?;
        // Only a cache of what the newest page says: dropped whole when it
        // has grown past a busy server's rooms, and read again as needed.
        if tails.rooms.len() > TAILS_MAX {
            tails.rooms.clear();
        }
        tails
            .rooms
            .extend(pages.into_iter().map(|page| (page.conv, page.tail)));
        tails.max_id = top;
        drop(tails);
        drop(conn);
        // After the commit, as compaction does: an indexing pass that read
        // these records has finished by the time `forget` holds the lock.
        self.search.forget(&gone)?;
        Ok(())
    }
}

/// Removes the withdrawn messages `ids` from the rows and the pages they
/// are in (an id stored nowhere, or already gone, is skipped): what the
/// search index must forget. A page keeps its id and bounds, which still
/// hold every record left in it and no other page's (msgids are never
/// given out twice); a page left empty goes.
fn redact(conn: &Connection, ids: &[u64]) -> Result<Vec<Forget>, StoreError> {
    let mut gone = Vec::new();
    for &uid in ids {
        let Ok(id) = i64::try_from(uid) else {
            continue;
        };
        if conn
            .prepare_cached("DELETE FROM messages WHERE id = ?1")?
            .execute([id])?
            > 0
        {
            gone.push((id, None));
            continue;
        }
        let mut found = None;
        {
            let mut stmt =
                conn.prepare_cached("SELECT id, body FROM pages WHERE id >= ?1 AND lo_id <= ?1")?;
            let mut rows = stmt.query([id])?;
            while let Some(row) = rows.next()? {
                let page: i64 = row.get(0)?;
                let recs = page::decode(blob(row, 1)?, page)?;
                if recs.iter().any(|(_, r)| r.id == uid) {
                    found = Some((page, recs));
                    break;
                }
            }
        }
        let Some((page, recs)) = found else {
            continue;
        };
        let left: Vec<(i64, &Record)> = recs
            .iter()
            .filter(|(_, r)| r.id != uid)
            .map(|(ms, r)| (*ms, r))
            .collect();
        if left.is_empty() {
            conn.prepare_cached("DELETE FROM pages WHERE id = ?1")?
                .execute([page])?;
        } else {
            let mut body = Vec::new();
            let n = left.len() as i64;
            page::encode(left, &mut body);
            conn.prepare_cached("UPDATE pages SET body = ?2, n = ?3 WHERE id = ?1")?
                .execute(params![page, body, n])?;
        }
        gone.push((id, Some(page)));
    }
    Ok(gone)
}
