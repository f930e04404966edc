//! The full-text search index: an FTS5 table in a file of its own
//! (`search.db` beside `chatroom.db`), filled from the `messages` rows and
//! the room pages behind the writer, never by it.
//!
//! Why a separate file: indexing a line costs more than storing it (FTS5
//! tokenizes it and merges its terms into segments: measured at 3-4 µs per
//! bench line against 2-3 µs for the row itself), and the writer's commit is
//! on the delivery path (messages are released only after it). So the
//! writer stores rows only, and a background thread adds them to this index
//! from two watermarks (the highest row msgid indexed and the highest page
//! id indexed, kept in this file in the same transaction as the entries,
//! so a crash never indexes a record twice or skips one). In a file of its own the index has its own write lock: the
//! background thread never holds up the writer's commits, whatever its
//! priority.
//!
//! A search first indexes whatever is still pending ([`SearchIndex::catch_up`]),
//! so results never lag behind the history. Rows deleted by retention are
//! removed from the index by [`SearchIndex::forget`], under the same lock as
//! indexing, so a row is either deleted before any indexing pass can see it
//! or removed after the pass that indexed it.
//!
//! The file holds nothing that is not also in `chatroom.db`: deleting it
//! (with the server stopped) makes the next start index the history again.
//! It is still checked like the main file at start: a foreign or damaged
//! file is refused with an error naming it, never overwritten.
//!
//! This file must not decide who may read what: it returns candidate
//! msgids, and the caller reads the rows with its own scope rules.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};

use super::schema::{self, OpenSettings};
use crate::error::StoreError;
use crate::page;

/// A record deleted from the history: its msgid and, if it was in a page,
/// that page's id (each source has its own watermark).
pub type Forget = (i64, Option<i64>);

/// The index's file name inside the data directory.
pub const SEARCH_FILE: &str = "search.db";

/// `PRAGMA application_id` of the search index ("ChRs"): not the main
/// file's id, so that neither is ever opened as the other.
const SEARCH_APPLICATION_ID: i32 = 0x4368_5273;

/// The index's own schema version (independent of the main file's).
const SEARCH_VERSION: i64 = 1;

const SCHEMA: &str = r#"
-- Contentless: the text lives in chatroom.db; the index keeps only terms.
-- contentless_delete lets retention remove a row by its msgid alone.
CREATE VIRTUAL TABLE fts USING fts5 (
    text,
    content = '',
    contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO meta (key, value) VALUES ('indexed', 0);
"#;

/// FTS5 `automerge`: segments of one level merged together. Each indexing
/// pass adds one segment; merging 16 at a time rewrites each term fewer
/// times over its life, at the price of searches reading a few more.
const AUTOMERGE: i64 = 16;

/// Rows read and indexed per transaction: big enough that FTS5 flushes few
/// segments, small enough that a search waiting for the lock waits little.
pub const PASS_ROWS: usize = 2048;

pub struct SearchIndex {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchIndex")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SearchIndex {
    /// Opens (creating if missing) `dir/search.db`. A file that is not an
    /// index of ours is refused and left as it was.
    pub fn open(dir: &Path, settings: &OpenSettings) -> Result<SearchIndex, StoreError> {
        let path = dir.join(SEARCH_FILE);
        let existed = fs::metadata(&path).map(|m| m.len() > 0).unwrap_or(false);
        if existed {
            schema::check_magic(&path)?;
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn =
            Connection::open_with_flags(&path, flags).map_err(|e| schema::start_error(&path, e))?;
        let (app_id, version, objects) =
            schema::inspect(&conn).map_err(|e| schema::start_error(&path, e))?;
        let fresh = app_id == 0 && version == 0 && objects == 0;
        if !fresh && app_id != SEARCH_APPLICATION_ID {
            return Err(StoreError::Foreign {
                path,
                reason: "not a chatroom search index (wrong or missing application id); \
                         move it away: the index is rebuilt from the history"
                    .into(),
            });
        }
        if version > SEARCH_VERSION {
            return Err(StoreError::TooNew {
                path,
                found: version,
                supported: SEARCH_VERSION,
            });
        }
        if settings.check_at_start && !fresh {
            schema::quick_check(&conn, &path)?;
        }
        schema::configure(&conn, settings).map_err(|e| schema::start_error(&path, e))?;
        schema::enable_wal(&conn, &path, fresh)?;
        if fresh {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| schema::start_error(&path, e))?;
            tx.execute_batch(SCHEMA)?;
            tx.execute(
                "INSERT INTO fts (fts, rank) VALUES ('automerge', ?1)",
                [AUTOMERGE],
            )?;
            tx.pragma_update(None, "application_id", SEARCH_APPLICATION_ID)?;
            tx.pragma_update(None, "user_version", SEARCH_VERSION)?;
            tx.commit()?;
        }
        Ok(SearchIndex {
            path,
            conn: Mutex::new(conn),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The highest row msgid and the highest page id indexed so far.
    #[cfg(test)]
    pub fn watermarks(&self) -> Result<(i64, i64), StoreError> {
        let conn = self.lock();
        Ok((watermark(&conn, ROWS)?, watermark(&conn, PAGES)?))
    }

    /// Indexes up to `max` rows of `messages` and up to about `max` records
    /// of whole pages above their watermarks, read through `src` (a
    /// connection to `chatroom.db`), in one transaction. Returns how many
    /// records were indexed (0: nothing was pending).
    pub fn index_some(&self, src: &Connection, max: usize) -> Result<usize, StoreError> {
        let mut conn = self.lock();
        index_pass(&mut conn, src, max)
    }

    /// Indexes everything pending, holding the lock throughout so that the
    /// caller's search sees every row committed before it began.
    pub fn catch_up(&self, src: &Connection) -> Result<(), StoreError> {
        let mut conn = self.lock();
        while index_pass(&mut conn, src, PASS_ROWS)? > 0 {}
        Ok(())
    }

    /// Removes records deleted from the history (by retention) from the
    /// index. Those above their source's watermark were never indexed and,
    /// deleted, never will be: they are skipped.
    pub fn forget(&self, gone: &[Forget]) -> Result<(), StoreError> {
        if gone.is_empty() {
            return Ok(());
        }
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (rows, pages) = (watermark(&tx, ROWS)?, watermark(&tx, PAGES)?);
        {
            let mut delete = tx.prepare_cached("DELETE FROM fts WHERE rowid = ?1")?;
            for &(id, page) in gone {
                let indexed = match page {
                    Some(page) => page <= pages,
                    None => id <= rows,
                };
                if indexed {
                    delete.execute([id])?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Up to `n` msgids whose text matches the FTS5 query `fts`, newest
    /// (highest msgid) first, all below `below` if given.
    pub fn matching(
        &self,
        fts: &str,
        below: Option<i64>,
        n: usize,
    ) -> Result<Vec<i64>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT rowid FROM fts WHERE fts MATCH ?1 AND rowid < ?2 ORDER BY rowid DESC LIMIT ?3",
        )?;
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        let rows = stmt.query_map(params![fts, below.unwrap_or(i64::MAX), n], |r| r.get(0))?;
        Ok(rows.collect::<Result<Vec<i64>, _>>()?)
    }

    /// Passive checkpoint of the index's WAL (see the main file's).
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        self.lock()
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
        Ok(())
    }
}

/// The watermarks' keys in `meta`: the highest `messages` msgid indexed,
/// and the highest page id (a page's id is its newest msgid).
const ROWS: &str = "indexed";
const PAGES: &str = "pages_indexed";

fn watermark(conn: &Connection, key: &str) -> rusqlite::Result<i64> {
    Ok(conn
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()?
        .unwrap_or(0))
}

fn index_pass(conn: &mut Connection, src: &Connection, max: usize) -> Result<usize, StoreError> {
    let max = max.max(1);
    let (from_row, from_page) = (watermark(conn, ROWS)?, watermark(conn, PAGES)?);
    let limit = i64::try_from(max).unwrap_or(i64::MAX);
    // Rows and pages are committed in msgid order (a page's id is its
    // newest record's), so everything of a source at or below the highest
    // id read here that is not in this read is gone for good.
    let mut rows: Vec<(i64, String)> = {
        let mut read =
            src.prepare_cached("SELECT id, text FROM messages WHERE id > ?1 ORDER BY id LIMIT ?2")?;
        let mapped = read.query_map(params![from_row, limit], |r| Ok((r.get(0)?, r.get(1)?)))?;
        mapped.collect::<Result<_, _>>()?
    };
    let last_row = rows.last().map(|&(id, _)| id);
    let mut last_page = None;
    {
        let mut read =
            src.prepare_cached("SELECT id, body FROM pages WHERE id > ?1 ORDER BY id")?;
        let mut pages = read.query([from_page])?;
        // Whole pages, at least one, until `max` records came from pages.
        let mut from_pages = 0;
        while from_pages < max
            && let Some(row) = pages.next()?
        {
            let id: i64 = row.get(0)?;
            for (_, rec) in page::decode(super::blob(row, 1)?, id)? {
                let rec_id = i64::try_from(rec.id).unwrap_or(i64::MAX);
                rows.push((rec_id, rec.text.to_string()));
                from_pages += 1;
            }
            last_page = Some(id);
        }
    }
    if rows.is_empty() {
        return Ok(0);
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    {
        let mut insert = tx.prepare_cached("INSERT INTO fts (rowid, text) VALUES (?1, ?2)")?;
        for (id, text) in &rows {
            insert.execute(params![id, text])?;
        }
        let mut mark =
            tx.prepare_cached("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)")?;
        if let Some(last) = last_row {
            mark.execute(params![ROWS, last])?;
        }
        if let Some(last) = last_page {
            mark.execute(params![PAGES, last])?;
        }
    }
    tx.commit()?;
    Ok(rows.len())
}
