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
//! # Files
//! - `mod.rs` (this one): opening (the data directory, its lock, the
//!   connections), the journal's recovery at open, and the read pool.
//! - `schema.rs`: the versioned migrations and the start-up checks.
//! - `append.rs`: the write path of [`crate::HistoryStore::append`].
//! - `history.rs`: [`crate::HistoryStore`]: queries over rows and pages.
//! - `rows.rs`: reading a record back from a row.
//! - `search.rs`: [`crate::SearchStore`], over `index.rs`, the full-text
//!   index in a file of its own.
//! - `accounts.rs`, `rooms.rs`: [`crate::AccountStore`], [`crate::RoomStore`].
//! - `maintenance.rs`: retention compaction and checkpoints.
//!
//! This module must not decide policy (who may read a room, how long to keep
//! history): it executes what the caller asks, within the traits' rules.

mod accounts;
mod append;
mod history;
pub(crate) mod index;
mod maintenance;
mod rooms;
mod rows;
pub(crate) mod schema;
mod search;

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::error::StoreError;
use crate::keys::{Pos, room_conv};
use crate::{DEFAULT_MAX_LIMIT, HistoryStore, Record, RoomStore, journal};
use index::SearchIndex;
use schema::OpenSettings;

pub(crate) use rows::blob;

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
    /// The caller runs [`HistoryStore::checkpoint`] regularly from a thread of its
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

/// The embedded store: every trait of the crate over one SQLite file (and
/// the search index beside it). Share it as an `Arc`.
pub struct SqliteStore {
    path: PathBuf,
    opts: StoreOptions,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    maintenance: Mutex<Connection>,
    /// The full-text index, in a file of its own (see `index.rs`).
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

/// Records appended per transaction when the journal is recovered.
const RECOVER_GROUP: usize = 16 * 1024;
