//! Upkeep of [`SqliteStore`] off the delivery path: retention compaction in
//! short transactions (a page partly past a limit is rewritten without its
//! oldest records; the search index forgets what went), and passive WAL
//! checkpoints on a connection of their own. This file must not decide the
//! retention policy; it applies the one it is given.

use std::collections::HashMap;
use std::sync::PoisonError;
use std::time::SystemTime;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::SqliteStore;
use super::index::Forget;
use crate::error::StoreError;
use crate::keys::{Pos, db_id, room_conv, to_ms};
use crate::{CompactStats, Limits, Retention, RoomStore, page};

impl SqliteStore {
    /// See [`crate::HistoryStore::compact`].
    pub(super) fn compact_in_chunks(
        &self,
        policy: &Retention,
        now: SystemTime,
    ) -> Result<CompactStats, StoreError> {
        let chunk = policy.chunk.max(1);
        let own: HashMap<String, Limits> = self
            .load_rooms()?
            .into_iter()
            .filter_map(|r| r.limits.map(|l| (room_conv(&r.name), l)))
            .collect();
        let mut stats = CompactStats::default();
        let mut next = self.read(|c| next_conv(c, None))?;
        while let Some(conv) = next {
            stats.conversations += 1;
            let limits = match own.get(&conv) {
                Some(l) => *l,
                None if conv.starts_with("p:") => policy.private,
                None => policy.rooms,
            };
            if let Some(cutoff) = limits.max_age.and_then(|age| now.checked_sub(age)) {
                let cutoff = (to_ms(cutoff), i64::MIN);
                loop {
                    let n = self.delete_oldest(&conv, Some(cutoff), chunk)?;
                    stats.by_age += n as u64;
                    stats.transactions += 1;
                    if n < chunk {
                        break;
                    }
                }
            }
            if let Some(keep) = limits.max_count {
                let count: i64 = self.read(|c| {
                    Ok(c.prepare_cached(
                        "SELECT (SELECT count(*) FROM messages WHERE conv = ?1) \
                                + coalesce((SELECT sum(n) FROM pages WHERE conv = ?1), 0)",
                    )?
                    .query_row([&conv], |r| r.get(0))?)
                })?;
                let mut excess = u64::try_from(count).unwrap_or(0).saturating_sub(keep);
                while excess > 0 {
                    let want = usize::try_from(excess).unwrap_or(usize::MAX).min(chunk);
                    let n = self.delete_oldest(&conv, None, want)?;
                    stats.by_count += n as u64;
                    stats.transactions += 1;
                    if n == 0 {
                        break;
                    }
                    excess = excess.saturating_sub(n as u64);
                }
            }
            next = self.read(|c| next_conv(c, Some(&conv)))?;
        }
        Ok(stats)
    }

    /// See [`crate::HistoryStore::checkpoint`].
    pub(super) fn checkpoint_passive(&self) -> Result<(), StoreError> {
        let conn = self
            .maintenance
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // PASSIVE never waits for readers or the writer; the frames it cannot
        // copy now are copied next time.
        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
        drop(conn);
        self.search.checkpoint()
    }

    /// Deletes up to `n` of the oldest records of `conv` (only those below
    /// `before`, if given), rows and pages alike, in one short transaction;
    /// returns how many went.
    fn delete_oldest(
        &self,
        conv: &str,
        before: Option<Pos>,
        n: usize,
    ) -> Result<usize, StoreError> {
        let bound = before.unwrap_or((i64::MAX, i64::MAX));
        let mut conn = self.writer();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // `append` leaves the newest id in its row or page only: remember
        // it before that may go, so that ids are never given out twice.
        tx.prepare_cached(
            "UPDATE meta SET value = max(value, coalesce((SELECT max(id) FROM messages), 0), \
                                         coalesce((SELECT max(id) FROM pages), 0)) \
             WHERE key = 'last_id'",
        )?
        .execute([])?;
        let mut gone: Vec<Forget> = Vec::new();
        while gone.len() < n {
            let budget = n - gone.len();
            let oldest_row: Option<Pos> = tx
                .prepare_cached(
                    "SELECT time_ms, id FROM messages WHERE conv = ?1 \
                     ORDER BY time_ms, id LIMIT 1",
                )?
                .query_row([conv], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            let oldest_page: Option<(i64, Pos)> = tx
                .prepare_cached(
                    "SELECT id, lo_ms, lo_id FROM pages WHERE conv = ?1 \
                     ORDER BY hi_ms, id LIMIT 1",
                )?
                .query_row([conv], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))
                .optional()?;
            match (oldest_row, oldest_page) {
                (Some(row), page) if page.is_none_or(|(_, lo)| row < lo) => {
                    // Rows first, up to where the oldest page begins.
                    let upto = page.map_or(bound, |(_, lo)| lo.min(bound));
                    if row >= upto {
                        break;
                    }
                    let mut delete = tx.prepare_cached(
                        "DELETE FROM messages WHERE id IN (SELECT id FROM messages \
                         WHERE conv = ?1 AND (time_ms, id) < (?2, ?3) \
                         ORDER BY time_ms, id LIMIT ?4) RETURNING id",
                    )?;
                    let limit = i64::try_from(budget).unwrap_or(i64::MAX);
                    let ids = delete
                        .query_map(params![conv, upto.0, upto.1, limit], |r| r.get::<_, i64>(0))?;
                    for id in ids {
                        gone.push((id?, None));
                    }
                }
                (row, Some((page, lo))) => {
                    if lo >= bound {
                        break;
                    }
                    // A row whose clock stepped back into this page's span
                    // is older than the page's records after it: those wait.
                    let bound = row.map_or(bound, |row| row.min(bound));
                    let body: Vec<u8> = tx
                        .prepare_cached("SELECT body FROM pages WHERE id = ?1")?
                        .query_row([page], |r| r.get(0))?;
                    let mut recs = page::decode(&body, page)?;
                    let mut cut = 0;
                    for (ms, rec) in &recs {
                        if cut >= budget || (*ms, db_id(rec.id)?) >= bound {
                            break;
                        }
                        cut += 1;
                    }
                    if cut == 0 {
                        break;
                    }
                    for (_, rec) in recs.drain(..cut) {
                        gone.push((db_id(rec.id)?, Some(page)));
                    }
                    match recs.first() {
                        None => {
                            tx.prepare_cached("DELETE FROM pages WHERE id = ?1")?
                                .execute([page])?;
                        }
                        Some(&(lo_ms, ref first)) => {
                            let mut body = Vec::new();
                            page::encode(recs.iter().map(|(ms, r)| (*ms, r)), &mut body);
                            tx.prepare_cached(
                                "UPDATE pages SET lo_id = ?2, lo_ms = ?3, n = ?4, body = ?5 \
                                 WHERE id = ?1",
                            )?
                            .execute(params![
                                page,
                                db_id(first.id)?,
                                lo_ms,
                                recs.len() as i64,
                                body
                            ])?;
                        }
                    }
                }
                _ => break,
            }
        }
        tx.commit()?;
        drop(conn);
        // After the commit: an indexing pass that read these records before
        // it has finished by the time `forget` holds the index's lock.
        self.search.forget(&gone)?;
        Ok(gone.len())
    }
}

/// The next conversation key after `after`, by a hop through the index
/// (a loose index scan), so listing conversations costs one seek each.
fn next_conv(conn: &Connection, after: Option<&str>) -> Result<Option<String>, StoreError> {
    let next = |sql: &str| -> Result<Option<String>, StoreError> {
        Ok(conn
            .prepare_cached(sql)?
            .query_row([after.unwrap_or("")], |r| r.get(0))
            .optional()?)
    };
    let rows = next("SELECT conv FROM messages WHERE conv > ?1 ORDER BY conv LIMIT 1")?;
    let pages = next("SELECT conv FROM pages WHERE conv > ?1 ORDER BY conv LIMIT 1")?;
    Ok(match (rows, pages) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    })
}
