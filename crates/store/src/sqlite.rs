//! [`SqliteStore`]: the embedded store, one SQLite file in the data directory.
//!
//! Connections: one writer (behind a mutex) for appends, room and account
//! changes and compaction; a small pool of read-only connections for
//! queries, which WAL lets run beside the writer without waiting for it; and
//! one maintenance connection that only checkpoints, so the fsync of a
//! checkpoint happens outside the writer's lock.
//!
//! Where records go: a room's records are appended as pages (`page.rs`),
//! one row per room per commit, kept in (time, msgid) order without overlap
//! so that a query walks them like an index (`page_range`). A record that
//! would break that order (the clock stepped back, or a msgid not above
//! every stored one) and every private message go to `messages`, a row
//! each, as did all history before schema version 7. Queries read both and
//! merge them (`range`); private history is rows only.
//!
//! Compaction deletes in chunks, each its own short transaction on the writer
//! connection, releasing the mutex in between so that appends interleave. A
//! page partly past a limit is rewritten without its oldest records.
//!
//! This file must not decide policy (who may read a room, how long to keep
//! history): it executes what the caller asks, within the trait's rules.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::types::Value;
use rusqlite::{
    Connection, ErrorCode, OpenFlags, OptionalExtension, Row, TransactionBehavior, params,
    params_from_iter,
};

use super::error::StoreError;
use super::fts::fts_query;
use super::schema::{self, OpenSettings};
use super::search::{Forget, PASS_ROWS, SearchIndex};
use super::{
    Account, Anchor, CompactStats, DEFAULT_MAX_LIMIT, HistoryQuery, Limits, QueryTarget, Record,
    RecordKind, Retention, RoomState, Selector, Store, TargetInfo,
};
use super::{journal, page};
use chatroom_core::names::Key;
use chatroom_core::{MsgTarget, Topic, UserInfo};

/// The database's file name inside the data directory.
pub const DB_FILE: &str = "chatroom.db";

/// How the store behaves; the defaults suit a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// Largest number of records one query returns; larger limits are cut.
    pub max_limit: usize,
    /// `synchronous=FULL`: fsync the WAL on every commit, so that even a
    /// power cut loses nothing committed. Costs one fsync per batch.
    pub sync_every_commit: bool,
    /// Run `PRAGMA quick_check` at start (reads the whole file once).
    pub check_at_start: bool,
    /// Idle read connections kept open.
    pub readers: usize,
    /// The caller runs [`Store::checkpoint`] regularly from a thread of its
    /// own, so the writer connection never checkpoints by itself: a commit
    /// then never includes a checkpoint's fsync. Without such a thread the
    /// WAL would grow without end, hence off by default.
    pub background_checkpoints: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_limit: DEFAULT_MAX_LIMIT,
            sync_every_commit: false,
            check_at_start: true,
            readers: 4,
            background_checkpoints: false,
        }
    }
}

pub struct SqliteStore {
    path: PathBuf,
    opts: StoreOptions,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    maintenance: Mutex<Connection>,
    /// The full-text index, in a file of its own (see `search.rs`).
    pub(super) search: SearchIndex,
    /// Conversation keys of rooms that keep no history; `append` drops their
    /// records. Mirrors the rooms table, updated by `save_room`.
    silent: RwLock<HashSet<String>>,
    /// What `append` needs to keep each room's pages in order. Locked only
    /// by `append`, under the writer's lock.
    tails: Mutex<Tails>,
    /// Held (locked) while the store is open, so that a second server on
    /// the same data directory is refused instead of writing clashing ids.
    /// The operating system releases it when the process ends, however.
    _lock: fs::File,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens the store in `dir` with default options; see [`Self::open_with`].
    pub fn open(dir: &Path) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_with(dir, StoreOptions::default())
    }

    /// Creates `dir` if needed, checks that it can be written (a full disk or
    /// a read-only directory is an error now, not a silent loss later), then
    /// opens and migrates `dir/chatroom.db`.
    pub fn open_with(dir: &Path, opts: StoreOptions) -> Result<SqliteStore, StoreError> {
        prepare_dir(dir)?;
        let lock = lock_dir(dir)?;
        let path = dir.join(DB_FILE);
        let settings = OpenSettings {
            sync_every_commit: opts.sync_every_commit,
            check_at_start: opts.check_at_start,
        };
        let writer = schema::open(&path, &settings)?;
        if opts.background_checkpoints {
            writer.pragma_update(None, "wal_autocheckpoint", 0)?;
        }
        let search = SearchIndex::open(dir, &settings)?;
        let maintenance = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .and_then(|c| schema::configure(&c, &settings).map(|()| c))?;
        let store = SqliteStore {
            path,
            opts,
            writer: Mutex::new(writer),
            readers: Mutex::new(Vec::new()),
            maintenance: Mutex::new(maintenance),
            search,
            silent: RwLock::new(HashSet::new()),
            tails: Mutex::new(Tails::default()),
            _lock: lock,
        };
        let max_id = store.read(|conn| {
            Ok(conn.query_row(
                "SELECT max(coalesce((SELECT max(id) FROM messages), 0), \
                            coalesce((SELECT max(id) FROM pages), 0))",
                [],
                |r| r.get::<_, i64>(0),
            )?)
        })?;
        store
            .tails
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .max_id = max_id;
        let silent = store
            .load_rooms()?
            .into_iter()
            .filter(|r| r.limits.is_some_and(|l| l.keeps_nothing()))
            .map(|r| room_conv(&r.name))
            .collect();
        *store.silent.write().unwrap_or_else(PoisonError::into_inner) = silent;
        store.recover_journal(dir)?;
        Ok(store)
    }

    /// Appends what the journal holds beyond the newest stored message
    /// (what a killed server had delivered but not yet copied here), then
    /// deletes the journal's segments. See `journal.rs`.
    fn recover_journal(&self, dir: &Path) -> Result<(), StoreError> {
        let (records, last) = journal::recover(dir)?;
        if last == 0 {
            return Ok(());
        }
        let have = self
            .tails
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .max_id;
        let missing: Vec<Record> = records
            .into_iter()
            .filter(|r| i64::try_from(r.id).is_ok_and(|id| id > have))
            .collect();
        for group in missing.chunks(RECOVER_GROUP) {
            self.append(group)?;
        }
        if !missing.is_empty() {
            tracing::info!(
                "history: {} message(s) recovered from the journal",
                missing.len()
            );
        }
        journal::remove_before(&dir.join(journal::JOURNAL_DIR), last + 1)
    }

    /// Whether each commit is synced to disk (see [`StoreOptions`]).
    pub fn syncs_every_commit(&self) -> bool {
        self.opts.sync_every_commit
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(super) fn writer(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves the connection usable: an
        // unfinished rusqlite transaction rolls back when it is dropped.
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on a pooled read-only connection.
    fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let pooled = self
            .readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let conn = match pooled {
            Some(c) => c,
            None => {
                let c = Connection::open_with_flags(
                    &self.path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                c.busy_timeout(Duration::from_secs(5))?;
                c
            }
        };
        let out = f(&conn);
        let mut pool = self.readers.lock().unwrap_or_else(PoisonError::into_inner);
        if pool.len() < self.opts.readers {
            pool.push(conn);
        }
        out
    }

    fn clamp(&self, limit: usize) -> usize {
        limit.min(self.opts.max_limit)
    }
}

/// Creates the data directory and proves it writable with a small synced
/// file, so that a read-only or full disk stops the server at start.
fn prepare_dir(dir: &Path) -> Result<(), StoreError> {
    let fail = |reason: String, source: Option<std::io::Error>| StoreError::DataDir {
        path: dir.to_path_buf(),
        reason,
        source,
    };
    match fs::metadata(dir) {
        Ok(m) if !m.is_dir() => {
            return Err(fail("it exists and is not a directory".into(), None));
        }
        Ok(_) => {}
        Err(_) => {
            fs::create_dir_all(dir).map_err(|e| fail(format!("cannot create it: {e}"), Some(e)))?
        }
    }
    let probe = dir.join(".chatroom-write-test");
    let written = fs::File::create(&probe).and_then(|mut f| {
        // Big enough that a nearly full disk fails here rather than later.
        f.write_all(&[0u8; 64 * 1024])?;
        f.sync_all()
    });
    let removed = fs::remove_file(&probe);
    written.map_err(|e| fail(format!("cannot write to it: {e}"), Some(e)))?;
    removed.map_err(|e| fail(format!("cannot remove files in it: {e}"), Some(e)))?;
    Ok(())
}

/// The lock file in the data directory; see [`SqliteStore`]'s `_lock`.
pub const LOCK_FILE: &str = "chatroom.lock";

/// Takes the data directory's lock, or says who has it.
fn lock_dir(dir: &Path) -> Result<fs::File, StoreError> {
    let path = dir.join(LOCK_FILE);
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| StoreError::DataDir {
            path: dir.to_path_buf(),
            reason: format!("cannot create {}: {e}", path.display()),
            source: Some(e),
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(StoreError::InUse {
            path: dir.to_path_buf(),
        }),
        Err(fs::TryLockError::Error(e)) => Err(StoreError::DataDir {
            path: dir.to_path_buf(),
            reason: format!("cannot lock {}: {e}", path.display()),
            source: Some(e),
        }),
    }
}

// ----- keys, times and rows -------------------------------------------------

/// Where each room's pages end, so that `append` puts a record in a page
/// only if it comes after everything in the room's earlier pages (the
/// order every page query relies on; see `page_range`).
#[derive(Debug, Default)]
struct Tails {
    /// The (time, msgid) of the newest record in each room's pages, loaded
    /// from the room's newest page the first time the room is written.
    rooms: HashMap<String, Pos>,
    /// The highest msgid in `messages` or `pages`. A record at or below it
    /// may be a duplicate, so it takes the slow path: a row, checked
    /// against the pages first.
    max_id: i64,
}

fn room_conv(room: &str) -> String {
    format!("r:{}", Key::of(room).as_str())
}

/// The two parties of a private conversation, case-folded and sorted.
fn pm_pair(a: &str, b: &str) -> (String, String) {
    let (a, b) = (Key::of(a), Key::of(b));
    if a <= b {
        (a.as_str().to_string(), b.as_str().to_string())
    } else {
        (b.as_str().to_string(), a.as_str().to_string())
    }
}

/// Nicknames never contain spaces (every protocol splits on them), so the
/// space keeps the pair unambiguous.
fn pm_conv(a: &str, b: &str) -> String {
    format!("p:{a} {b}")
}

pub(super) fn to_ms(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_millis()).map_or(i64::MIN, |ms| -ms),
    }
}

pub(super) fn from_ms(ms: i64) -> SystemTime {
    let d = Duration::from_millis(ms.unsigned_abs());
    let t = if ms >= 0 {
        UNIX_EPOCH.checked_add(d)
    } else {
        UNIX_EPOCH.checked_sub(d)
    };
    t.unwrap_or(UNIX_EPOCH)
}

fn db_id(id: u64) -> Result<i64, StoreError> {
    i64::try_from(id).map_err(|_| StoreError::InvalidRecord(format!("msgid {id} is above 2^63-1")))
}

/// Where a record goes: (conv, pm_a, pm_b).
fn record_keys(rec: &Record) -> (String, Option<String>, Option<String>) {
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

/// Columns read back into a [`Record`], in [`record_from_row`]'s order.
const COLS: &str = "m.id, m.time_ms, m.kind, m.pm_a IS NOT NULL, m.target, m.nick, m.ident, \
                    m.realname, m.host, m.text";

fn record_from_row(row: &Row<'_>) -> Result<Record, StoreError> {
    let id: i64 = row.get(0)?;
    let id = u64::try_from(id)
        .map_err(|_| StoreError::Damaged(format!("negative msgid {id} in the database")))?;
    let kind: String = row.get(2)?;
    let kind = RecordKind::parse(&kind)
        .ok_or_else(|| StoreError::Damaged(format!("msgid {id} has unknown kind {kind:?}")))?;
    let is_pm: bool = row.get(3)?;
    let target: String = row.get(4)?;
    let nick: String = row.get(5)?;
    let user: String = row.get(6)?;
    let realname: String = row.get(7)?;
    let host: String = row.get(8)?;
    let text: String = row.get(9)?;
    Ok(Record {
        id,
        time: from_ms(row.get(1)?),
        kind,
        from: Arc::new(UserInfo {
            nick: nick.into(),
            user: user.into(),
            realname: realname.into(),
            host: host.into(),
            account: None,
        }),
        to: if is_pm {
            MsgTarget::Nick(target.into())
        } else {
            MsgTarget::Room(target.into())
        },
        text: text.into(),
    })
}

fn collect(
    stmt: &mut rusqlite::Statement<'_>,
    params: Vec<Value>,
) -> Result<Vec<Record>, StoreError> {
    let mut rows = stmt.query(params_from_iter(params))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(record_from_row(row)?);
    }
    Ok(out)
}

// ----- history queries --------------------------------------------------------

/// Which rows a query may see: one conversation, or all of one person's
/// private conversations. Always bound as `?1`.
enum Scope {
    Conv(String),
    Private(String),
}

impl Scope {
    fn of(requester: &str, target: &QueryTarget) -> Scope {
        match target {
            QueryTarget::Room(room) => Scope::Conv(room_conv(room)),
            QueryTarget::Nick(peer) => {
                let (a, b) = pm_pair(requester, peer);
                Scope::Conv(pm_conv(&a, &b))
            }
            QueryTarget::AllPrivate => Scope::Private(Key::of(requester).as_str().to_string()),
        }
    }

    fn sql(&self) -> &'static str {
        match self {
            Scope::Conv(_) => "m.conv = ?1",
            Scope::Private(_) => "(m.pm_a = ?1 OR m.pm_b = ?1)",
        }
    }

    fn param(&self) -> Value {
        match self {
            Scope::Conv(k) | Scope::Private(k) => Value::Text(k.clone()),
        }
    }

    /// The room's conversation key, when the scope is a room (whose
    /// history is in pages as well as rows).
    fn room(&self) -> Option<&str> {
        match self {
            Scope::Conv(k) if k.starts_with("r:") => Some(k),
            _ => None,
        }
    }
}

/// A place in the (time_ms, id) order. Bounds built from a moment use the
/// smallest or largest id so that the comparison means "before the moment"
/// or "after the moment" whatever the ids at that millisecond.
type Pos = (i64, i64);

/// How an anchor is used: as the low end of a range, the high end, or the
/// middle of AROUND (a moment's messages count as "at or after" it).
#[derive(Clone, Copy)]
enum Role {
    Low,
    High,
    Pivot,
}

fn position(
    conn: &Connection,
    scope: &Scope,
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
        Anchor::MsgId(id) => {
            // Resolved only inside the scope: another conversation's msgid
            // is as unknown as one that never existed.
            let Ok(id) = i64::try_from(id) else {
                return Ok(None);
            };
            let sql = format!(
                "SELECT m.time_ms, m.id FROM messages m WHERE m.id = ?2 AND {}",
                scope.sql()
            );
            let mut stmt = conn.prepare_cached(&sql)?;
            let row = stmt
                .query_row(params_from_iter([scope.param(), Value::Integer(id)]), |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()?;
            match (row, scope.room()) {
                (None, Some(conv)) => Ok(page_find(conn, conv, id)?.map(|(ms, _)| (ms, id))),
                (row, _) => Ok(row),
            }
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
fn page_records_by_id(
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

/// Two walks in the same direction, merged, at most `limit` long.
fn merge(a: Vec<Record>, b: Vec<Record>, descending: bool, limit: usize) -> Vec<Record> {
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

/// Records of `scope` strictly above `low` (or at/above, with `low_inclusive`)
/// and strictly below `high`, nearest the start of the walk first: from
/// the rows, and for a room from its pages too.
fn range(
    conn: &Connection,
    scope: &Scope,
    low: Option<(Pos, bool)>,
    high: Option<Pos>,
    descending: bool,
    limit: usize,
) -> Result<Vec<Record>, StoreError> {
    let rows = rows_range(conn, scope, low, high, descending, limit)?;
    match scope.room() {
        Some(conv) => {
            let pages = page_range(conn, conv, low, high, descending, limit)?;
            Ok(merge(rows, pages, descending, limit))
        }
        None => Ok(rows),
    }
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
    let mut sql = format!("SELECT {COLS} FROM messages m WHERE {}", scope.sql());
    let mut params = vec![scope.param()];
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

/// `range` walking backwards, returned in ascending order.
fn range_back(
    conn: &Connection,
    scope: &Scope,
    low: Option<(Pos, bool)>,
    high: Option<Pos>,
    limit: usize,
) -> Result<Vec<Record>, StoreError> {
    let mut rows = range(conn, scope, low, high, true, limit)?;
    rows.reverse();
    Ok(rows)
}

fn run_query(
    conn: &Connection,
    scope: &Scope,
    selector: Selector,
    limit: usize,
) -> Result<Vec<Record>, StoreError> {
    let pos = |anchor, role| position(conn, scope, anchor, role);
    match selector {
        Selector::Latest { after: None } => range_back(conn, scope, None, None, limit),
        Selector::Latest { after: Some(a) } => match pos(a, Role::Low)? {
            Some(low) => range_back(conn, scope, Some((low, false)), None, limit),
            None => Ok(Vec::new()),
        },
        Selector::Before(a) => match pos(a, Role::High)? {
            Some(high) => range_back(conn, scope, None, Some(high), limit),
            None => Ok(Vec::new()),
        },
        Selector::After(a) => match pos(a, Role::Low)? {
            Some(low) => range(conn, scope, Some((low, false)), None, false, limit),
            None => Ok(Vec::new()),
        },
        Selector::Around(a) => {
            let Some(pivot) = pos(a, Role::Pivot)? else {
                return Ok(Vec::new());
            };
            // Fetch up to `limit` on each side, then keep a window of
            // `limit` centred on the pivot, letting a short side's share go
            // to the other.
            let before = range(conn, scope, None, Some(pivot), true, limit)?;
            let after = range(conn, scope, Some((pivot, true)), None, false, limit)?;
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
                return range(
                    conn,
                    scope,
                    Some((a_low, false)),
                    Some(b_high),
                    false,
                    limit,
                );
            }
            // Backwards in time: from `a` down to `b`, nearest `a` kept.
            let (Some(a_high), Some(b_low)) = (pos(a, Role::High)?, pos(b, Role::Low)?) else {
                return Ok(Vec::new());
            };
            range_back(conn, scope, Some((b_low, false)), Some(a_high), limit)
        }
    }
}

// ----- the trait ---------------------------------------------------------------

const INSERT_MESSAGE: &str = "INSERT INTO messages \
    (id, time_ms, kind, conv, pm_a, pm_b, target, nick, ident, realname, host, text) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";

const INSERT_PAGE: &str = "INSERT INTO pages (id, conv, lo_id, lo_ms, hi_ms, n, body) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

/// Records appended per transaction when the journal is recovered.
const RECOVER_GROUP: usize = 16 * 1024;

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

/// Column `i` of `row` as bytes, without a copy.
pub(super) fn blob<'r>(row: &'r Row<'_>, i: usize) -> Result<&'r [u8], StoreError> {
    row.get_ref(i)?
        .as_blob()
        .map_err(|e| StoreError::Damaged(format!("a history page's body: {e}")))
}

const BUMP_LAST_ID: &str = "UPDATE meta SET value = max(value, ?1) WHERE key = 'last_id'";

fn is_primary_key_clash(e: &rusqlite::Error) -> bool {
    e.sqlite_error().is_some_and(|s| {
        s.code == ErrorCode::ConstraintViolation
            && s.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    })
}

pub(super) fn target_name(to: &MsgTarget) -> &str {
    match to {
        MsgTarget::Room(n) | MsgTarget::Nick(n) | MsgTarget::Status(n) => n,
    }
}

impl Store for SqliteStore {
    fn append(&self, batch: &[Record]) -> Result<(), StoreError> {
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
        for rec in batch {
            let (id, ms) = (db_id(rec.id)?, to_ms(rec.time));
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
            let (conv, pm_a, pm_b) = record_keys(rec);
            if pm_a.is_none() && silent.contains(&conv) {
                continue;
            }
            if id > top {
                top = id;
            } else if in_pages(&tx, id, &pages)? {
                return Err(StoreError::DuplicateId(rec.id));
            }
            rows.push((rec, conv, pm_a, pm_b));
        }
        {
            let mut insert = tx.prepare_cached(INSERT_MESSAGE)?;
            for (rec, conv, pm_a, pm_b) in &rows {
                let from = &rec.from;
                let inserted = insert.execute(params![
                    db_id(rec.id)?,
                    to_ms(rec.time),
                    rec.kind.as_str(),
                    conv,
                    pm_a,
                    pm_b,
                    target_name(&rec.to),
                    &*from.nick,
                    &*from.user,
                    &*from.realname,
                    &*from.host,
                    &*rec.text,
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
        Ok(())
    }

    fn query(&self, q: &HistoryQuery) -> Result<Vec<Record>, StoreError> {
        let limit = self.clamp(q.limit);
        if limit == 0 {
            return Ok(Vec::new());
        }
        let scope = Scope::of(&q.requester, &q.target);
        self.read(|conn| run_query(conn, &scope, q.selector, limit))
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
        let mut found = self.read(|conn| {
            let mut found = Vec::new();
            // SQLite returns the bare columns of the row holding max().
            let mut stmt = conn.prepare_cached(
                "SELECT max(m.time_ms), m.nick, m.target FROM messages m \
                 WHERE (m.pm_a = ?1 OR m.pm_b = ?1) AND m.time_ms > ?2 AND m.time_ms < ?3 \
                 GROUP BY m.conv",
            )?;
            let mut rows = stmt.query(params![me.as_str(), lo, hi])?;
            while let Some(row) = rows.next()? {
                let latest: i64 = row.get(0)?;
                let nick: String = row.get(1)?;
                let target: String = row.get(2)?;
                let peer = if Key::of(&nick) == me { target } else { nick };
                found.push(TargetInfo {
                    target: MsgTarget::Nick(peer.into()),
                    latest: from_ms(latest),
                });
            }
            let mut stmt = conn.prepare_cached(
                "SELECT max(m.time_ms) FROM messages m \
                 WHERE m.conv = ?1 AND m.time_ms > ?2 AND m.time_ms < ?3",
            )?;
            for room in rooms {
                let conv = room_conv(room);
                let in_rows: Option<i64> = stmt.query_row(params![conv, lo, hi], |r| r.get(0))?;
                let in_pages = page_range(
                    conn,
                    &conv,
                    Some(((lo, i64::MAX), false)),
                    Some((hi, i64::MIN)),
                    true,
                    1,
                )?
                .first()
                .map(|r| to_ms(r.time));
                if let Some(latest) = in_rows.max(in_pages) {
                    found.push(TargetInfo {
                        target: MsgTarget::Room(room.as_str().into()),
                        latest: from_ms(latest),
                    });
                }
            }
            Ok(found)
        })?;
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
        Ok(found)
    }

    fn search(
        &self,
        requester: &str,
        target: &QueryTarget,
        words: &str,
        limit: usize,
    ) -> Result<Vec<Record>, StoreError> {
        let limit = self.clamp(limit);
        let Some(fts) = fts_query(words) else {
            return Ok(Vec::new());
        };
        if limit == 0 {
            return Ok(Vec::new());
        }
        let scope = Scope::of(requester, target);
        // Whatever was committed before this search is in the index first.
        self.read(|conn| self.search.catch_up(conn))?;
        // Candidates come from the index newest first, a page at a time;
        // the rows are read with the scope's own rule, so a match in a
        // conversation the requester may not read is never returned.
        let sql = format!(
            "SELECT {COLS} FROM messages m \
             WHERE m.id IN (SELECT value FROM json_each(?2)) AND {} \
             ORDER BY m.time_ms DESC, m.id DESC",
            scope.sql()
        );
        let page = limit.clamp(64, PASS_ROWS);
        let mut found = Vec::new();
        let mut below = None;
        loop {
            let ids = self.search.matching(&fts, below, page)?;
            let Some(&last) = ids.last() else {
                break;
            };
            below = Some(last);
            let list = format!(
                "[{}]",
                ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
            );
            let rows = self.read(|conn| {
                let mut stmt = conn.prepare_cached(&sql)?;
                let rows = collect(&mut stmt, vec![scope.param(), Value::Text(list)])?;
                match scope.room() {
                    Some(conv) => Ok(merge(
                        rows,
                        page_records_by_id(conn, conv, &ids)?,
                        true,
                        usize::MAX,
                    )),
                    None => Ok(rows),
                }
            })?;
            found.extend(rows);
            if found.len() >= limit || ids.len() < page {
                break;
            }
        }
        found.truncate(limit);
        Ok(found)
    }

    fn hold_offline(&self, account: &str, rec: &Record) -> Result<(), StoreError> {
        let id = db_id(rec.id)?;
        let conn = self.writer();
        let from = &rec.from;
        let tx = conn.unchecked_transaction()?;
        tx.execute(
            "INSERT INTO offline \
             (account, id, time_ms, kind, is_pm, target, nick, ident, realname, host, text) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                Key::of(account).as_str(),
                id,
                to_ms(rec.time),
                rec.kind.as_str(),
                matches!(rec.to, MsgTarget::Nick(_)),
                target_name(&rec.to),
                &*from.nick,
                &*from.user,
                &*from.realname,
                &*from.host,
                &*rec.text,
            ],
        )?;
        tx.execute(BUMP_LAST_ID, [id])?;
        tx.commit()?;
        Ok(())
    }

    fn take_offline(&self, account: &str) -> Result<Vec<Record>, StoreError> {
        let key = Key::of(account);
        let mut conn = self.writer();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (records, last_seq) = {
            let mut stmt = tx.prepare_cached(
                "SELECT m.id, m.time_ms, m.kind, m.is_pm, m.target, m.nick, m.ident, \
                 m.realname, m.host, m.text, m.seq \
                 FROM offline m WHERE m.account = ?1 ORDER BY m.seq",
            )?;
            let mut rows = stmt.query([key.as_str()])?;
            let mut records = Vec::new();
            let mut last_seq: i64 = 0;
            while let Some(row) = rows.next()? {
                records.push(record_from_row(row)?);
                last_seq = row.get(10)?;
            }
            (records, last_seq)
        };
        if !records.is_empty() {
            tx.execute(
                "DELETE FROM offline WHERE account = ?1 AND seq <= ?2",
                params![key.as_str(), last_seq],
            )?;
        }
        tx.commit()?;
        Ok(records)
    }

    fn peek_offline(&self, account: &str) -> Result<Vec<(i64, Record)>, StoreError> {
        let key = Key::of(account);
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT m.id, m.time_ms, m.kind, m.is_pm, m.target, m.nick, m.ident, \
                 m.realname, m.host, m.text, m.seq \
                 FROM offline m WHERE m.account = ?1 ORDER BY m.seq",
            )?;
            let mut rows = stmt.query([key.as_str()])?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                out.push((row.get(10)?, record_from_row(row)?));
            }
            Ok(out)
        })
    }

    fn ack_offline(&self, account: &str, upto: i64) -> Result<(), StoreError> {
        self.writer().execute(
            "DELETE FROM offline WHERE account = ?1 AND seq <= ?2",
            params![Key::of(account).as_str(), upto],
        )?;
        Ok(())
    }

    fn save_room(&self, state: &RoomState) -> Result<(), StoreError> {
        let topic = state.topic.as_ref();
        let limits = state.limits.unwrap_or_default();
        let max_age_ms = limits
            .max_age
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let max_count = limits
            .max_count
            .map(|c| i64::try_from(c).unwrap_or(i64::MAX));
        let key = Key::of(&state.name);
        self.writer().execute(
            "INSERT OR REPLACE INTO rooms (key, name, topic, topic_setter, topic_time_ms, \
             modes, founder, registered, own_limits, max_age_ms, max_count, registered_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            params![
                key.as_str(),
                state.name,
                topic.map(|t| &*t.text),
                topic.map(|t| &*t.setter),
                topic.map(|t| to_ms(t.time)),
                state.modes,
                state.founder,
                state.registered,
                state.limits.is_some(),
                max_age_ms,
                max_count,
                state.registered_at.map(to_ms),
            ],
        )?;
        let conv = room_conv(&state.name);
        let mut silent = self.silent.write().unwrap_or_else(PoisonError::into_inner);
        if state.limits.is_some_and(|l| l.keeps_nothing()) {
            silent.insert(conv);
        } else {
            silent.remove(&conv);
        }
        Ok(())
    }

    fn forget_room(&self, name: &str) -> Result<(), StoreError> {
        self.writer()
            .execute("DELETE FROM rooms WHERE key = ?1", [Key::of(name).as_str()])?;
        self.silent
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&room_conv(name));
        Ok(())
    }

    fn load_rooms(&self) -> Result<Vec<RoomState>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT name, topic, topic_setter, topic_time_ms, modes, founder, registered, \
                 own_limits, max_age_ms, max_count, registered_ms FROM rooms ORDER BY key",
            )?;
            let mut rows = stmt.query([])?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                let name: String = row.get(0)?;
                let topic: Option<String> = row.get(1)?;
                let setter: Option<String> = row.get(2)?;
                let topic_time: Option<i64> = row.get(3)?;
                let nonnegative = |v: Option<i64>, what: &str| -> Result<Option<u64>, StoreError> {
                    v.map(|v| {
                        u64::try_from(v).map_err(|_| {
                            StoreError::Damaged(format!("room {name:?} has a negative {what}"))
                        })
                    })
                    .transpose()
                };
                let own_limits: bool = row.get(7)?;
                let max_age = nonnegative(row.get(8)?, "max age")?;
                let max_count = nonnegative(row.get(9)?, "max count")?;
                out.push(RoomState {
                    topic: topic.map(|text| Topic {
                        text: text.into(),
                        setter: setter.unwrap_or_default().into(),
                        time: from_ms(topic_time.unwrap_or(0)),
                    }),
                    modes: row.get(4)?,
                    founder: row.get(5)?,
                    registered: row.get(6)?,
                    registered_at: row.get::<_, Option<i64>>(10)?.map(from_ms),
                    limits: own_limits.then_some(Limits {
                        max_age: max_age.map(Duration::from_millis),
                        max_count,
                    }),
                    name,
                });
            }
            Ok(out)
        })
    }

    fn put_account(&self, acct: &Account) -> Result<(), StoreError> {
        self.writer().execute(
            "INSERT OR REPLACE INTO accounts (key, name, password_hash, created_ms) \
             VALUES (?1, ?2, ?3, ?4)",
            params![
                Key::of(&acct.name).as_str(),
                acct.name,
                acct.password_hash,
                to_ms(acct.created)
            ],
        )?;
        Ok(())
    }

    fn get_account(&self, name: &str) -> Result<Option<Account>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT name, password_hash, created_ms FROM accounts WHERE key = ?1",
            )?;
            Ok(stmt
                .query_row([Key::of(name).as_str()], |r| {
                    Ok(Account {
                        name: r.get(0)?,
                        password_hash: r.get(1)?,
                        created: from_ms(r.get(2)?),
                    })
                })
                .optional()?)
        })
    }

    fn account_names(&self) -> Result<Vec<String>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached("SELECT name FROM accounts ORDER BY key")?;
            let names = stmt
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(names)
        })
    }

    fn add_cert(&self, account: &str, fingerprint: &str) -> Result<bool, StoreError> {
        let key = Key::of(account);
        let conn = self.writer();
        let tx = conn.unchecked_transaction()?;
        let owner: Option<String> = tx
            .query_row(
                "SELECT account FROM account_certs WHERE fingerprint = ?1",
                [fingerprint],
                |r| r.get(0),
            )
            .optional()?;
        if owner.as_deref().is_some_and(|o| o != key.as_str()) {
            return Ok(false);
        }
        tx.execute(
            "INSERT OR REPLACE INTO account_certs (fingerprint, account) VALUES (?1, ?2)",
            params![fingerprint, key.as_str()],
        )?;
        tx.commit()?;
        Ok(true)
    }

    fn del_cert(&self, account: &str, fingerprint: &str) -> Result<bool, StoreError> {
        let n = self.writer().execute(
            "DELETE FROM account_certs WHERE fingerprint = ?1 AND account = ?2",
            params![fingerprint, Key::of(account).as_str()],
        )?;
        Ok(n > 0)
    }

    fn certs(&self, account: &str) -> Result<Vec<String>, StoreError> {
        let key = Key::of(account);
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT fingerprint FROM account_certs WHERE account = ?1 ORDER BY fingerprint",
            )?;
            let fps = stmt
                .query_map([key.as_str()], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(fps)
        })
    }

    fn account_by_cert(&self, fingerprint: &str) -> Result<Option<Account>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT a.name, a.password_hash, a.created_ms FROM account_certs c \
                 JOIN accounts a ON a.key = c.account WHERE c.fingerprint = ?1",
            )?;
            Ok(stmt
                .query_row([fingerprint], |r| {
                    Ok(Account {
                        name: r.get(0)?,
                        password_hash: r.get(1)?,
                        created: from_ms(r.get(2)?),
                    })
                })
                .optional()?)
        })
    }

    fn compact(&self, policy: &Retention, now: SystemTime) -> Result<CompactStats, StoreError> {
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

    fn checkpoint(&self) -> Result<(), StoreError> {
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

    fn index_search(&self, max: usize) -> Result<usize, StoreError> {
        self.read(|conn| self.search.index_some(conn, max))
    }
}

impl SqliteStore {
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
