//! The database's schema, its versioned migrations, and the checks made
//! before anything is written to a file at start.
//!
//! Versions live in `PRAGMA user_version`; `MIGRATIONS[n]` takes a database
//! from version `n` to `n + 1`, in one transaction together with the version
//! bump, so a crash mid-migration leaves the old version intact. Shipped
//! steps are never edited: a schema change is a new step at the end.
//!
//! Before any write, [`open`] makes sure the file is ours: a file that is
//! not SQLite, an SQLite file of another program (another `application_id`,
//! or no id but tables of its own), a damaged file, or one from a newer
//! chatroom is refused with an error naming it, and left byte for byte as it
//! was. This file must not know about records or queries.

use std::fs;
use std::io::{self, Read};
use std::path::Path;

use rusqlite::{Connection, ErrorCode, MAIN_DB, OpenFlags, TransactionBehavior};

use crate::error::StoreError;

/// `PRAGMA application_id` of a chatroom database ("ChRm"), so that no other
/// program's SQLite file is mistaken for ours or altered by a migration.
pub const APPLICATION_ID: i32 = 0x4368_526d;

/// Version 1: messages, rooms, accounts, offline messages.
pub const V1: &str = r#"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO meta (key, value) VALUES ('last_id', 0);

-- One row per stored line. `conv` is the case-folded conversation key:
-- 'r:<room>' for a room, 'p:<a> <b>' (the two nicknames, sorted) for a
-- private conversation, whose parties are also in pm_a / pm_b so that
-- "all my private messages" is an index lookup.
CREATE TABLE messages (
    id       INTEGER PRIMARY KEY,
    time_ms  INTEGER NOT NULL,
    kind     TEXT NOT NULL,
    conv     TEXT NOT NULL,
    pm_a     TEXT,
    pm_b     TEXT,
    target   TEXT NOT NULL,
    nick     TEXT NOT NULL,
    ident    TEXT NOT NULL,
    realname TEXT NOT NULL,
    host     TEXT NOT NULL,
    text     TEXT NOT NULL
);
CREATE INDEX messages_by_conv ON messages (conv, time_ms, id);
CREATE INDEX messages_by_pm_a ON messages (pm_a, time_ms, id) WHERE pm_a IS NOT NULL;
CREATE INDEX messages_by_pm_b ON messages (pm_b, time_ms, id) WHERE pm_b IS NOT NULL;

CREATE TABLE rooms (
    key           TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    topic         TEXT,
    topic_setter  TEXT,
    topic_time_ms INTEGER,
    modes         TEXT NOT NULL,
    founder       TEXT,
    registered    INTEGER NOT NULL,
    own_limits    INTEGER NOT NULL,
    max_age_ms    INTEGER,
    max_count     INTEGER
) WITHOUT ROWID;

CREATE TABLE accounts (
    key           TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_ms    INTEGER NOT NULL
) WITHOUT ROWID;

-- Private messages waiting for an offline account, in arrival order (seq).
-- A full copy, so that history retention never removes an undelivered one.
CREATE TABLE offline (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    account  TEXT NOT NULL,
    id       INTEGER NOT NULL,
    time_ms  INTEGER NOT NULL,
    kind     TEXT NOT NULL,
    is_pm    INTEGER NOT NULL,
    target   TEXT NOT NULL,
    nick     TEXT NOT NULL,
    ident    TEXT NOT NULL,
    realname TEXT NOT NULL,
    host     TEXT NOT NULL,
    text     TEXT NOT NULL
);
CREATE INDEX offline_by_account ON offline (account, seq);
"#;

/// Version 2: full-text search. An external-content FTS5 index over
/// `messages.text`, kept in step by triggers, and built from the rows a
/// version 1 database already has.
pub const V2: &str = r#"
CREATE VIRTUAL TABLE messages_fts USING fts5 (
    text,
    content = 'messages',
    content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts (rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
    INSERT INTO messages_fts (rowid, text) VALUES (new.id, new.text);
END;
INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');
"#;

/// Version 3: the FTS index is filled by `append`, one statement per batch,
/// instead of by a trigger per row. FTS5 writes its pending terms to disk
/// at every statement boundary inside a transaction, so a trigger made
/// every row of a group commit cost one index flush (most of the cost of
/// storing a message); one `INSERT ... SELECT` per batch costs one. Deletes
/// (compaction) still go through the trigger: one statement per chunk.
pub const V3: &str = r#"
DROP TRIGGER messages_fts_insert;
"#;

/// Version 4: TLS client-certificate fingerprints of accounts (SASL
/// EXTERNAL). A fingerprint belongs to at most one account; `account` is
/// the account's case-folded key, as in `accounts.key`.
pub const V4: &str = r#"
CREATE TABLE account_certs (
    fingerprint TEXT PRIMARY KEY,
    account     TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX account_certs_by_account ON account_certs (account);
"#;

/// Version 5: when a room was registered (ChanServ INFO).
pub const V5: &str = r#"
ALTER TABLE rooms ADD COLUMN registered_ms INTEGER;
"#;

/// Version 6: the search index moves out to a file of its own
/// (`index.rs`), filled behind the writer instead of in its commit, so
/// the FTS5 table and the triggers that kept it in step go. The new index
/// is built from the existing rows by the background indexer.
pub const V6: &str = r#"
DROP TRIGGER IF EXISTS messages_fts_delete;
DROP TRIGGER IF EXISTS messages_fts_update;
DROP TABLE IF EXISTS messages_fts;
"#;

/// Version 7: room history in pages (`page.rs`): one row per room per
/// commit, its records encoded in `body`, in place of a row per message.
/// A room's pages never overlap: each holds records after every record of
/// the room's earlier pages, in (time, msgid) order. The row's id is the
/// msgid of its newest record. Records that cannot keep that order (a clock
/// set back, a msgid below one already stored) and private messages still
/// go to `messages`, as does everything stored before this version: queries
/// read both tables.
pub const V7: &str = r#"
CREATE TABLE pages (
    id    INTEGER PRIMARY KEY,
    conv  TEXT NOT NULL,
    lo_id INTEGER NOT NULL,
    lo_ms INTEGER NOT NULL,
    hi_ms INTEGER NOT NULL,
    n     INTEGER NOT NULL,
    body  BLOB NOT NULL
);
CREATE INDEX pages_by_time ON pages (conv, hi_ms);
CREATE INDEX pages_by_conv ON pages (conv);
"#;

/// Version 8: read markers (`RoomStore::save_read_marker`), one row per
/// account and target, both keyed case-folded.
pub const V8: &str = r#"
CREATE TABLE read_markers (
    account_key TEXT NOT NULL,
    target_key  TEXT NOT NULL,
    account     TEXT NOT NULL,
    target      TEXT NOT NULL,
    at_ms       INTEGER NOT NULL,
    PRIMARY KEY (account_key, target_key)
) WITHOUT ROWID;
"#;

/// Version 9: private messages are found by account. `acct_a` and
/// `acct_b` are the case-folded accounts the holders of `pm_a` and `pm_b`
/// were logged in to when the message was sent (NULL: not logged in);
/// private history is read by account (keys.rs, `Scope`), so that whoever
/// takes a nickname nobody had registered, later, reads nothing of what
/// its earlier holder said. The `pm_a`/`pm_b` indexes served lookups by
/// nickname alone, which no query makes any more.
///
/// Rows stored before this version never recorded who was logged in. They
/// are given the account of a party's nickname if an account of that name
/// existed when the message was sent (so its owner had registered it by
/// then), and none otherwise: a conversation held under a nickname before
/// anyone registered it is then nobody's.
pub const V9: &str = r#"
ALTER TABLE messages ADD COLUMN acct_a TEXT;
ALTER TABLE messages ADD COLUMN acct_b TEXT;
UPDATE messages SET acct_a = pm_a
 WHERE pm_a IS NOT NULL
   AND EXISTS (SELECT 1 FROM accounts a
                WHERE a.key = messages.pm_a AND a.created_ms <= messages.time_ms);
UPDATE messages SET acct_b = pm_b
 WHERE pm_b IS NOT NULL
   AND EXISTS (SELECT 1 FROM accounts a
                WHERE a.key = messages.pm_b AND a.created_ms <= messages.time_ms);
CREATE INDEX messages_by_acct_a ON messages (acct_a, time_ms, id) WHERE acct_a IS NOT NULL;
CREATE INDEX messages_by_acct_b ON messages (acct_b, time_ms, id) WHERE acct_b IS NOT NULL;
DROP INDEX messages_by_pm_a;
DROP INDEX messages_by_pm_b;
"#;

/// Version 10: the client-only tags kept with a record (a reply's
/// context, a reaction; see `kept_tags`) and tag-only messages (kind
/// `tagmsg`). `tags` holds them in the page codec's encoding (NULL: none),
/// in rows and in messages held offline alike; pages carry them in their
/// body (page format 4). Rows and pages stored before have none.
pub const V10: &str = r#"
ALTER TABLE messages ADD COLUMN tags BLOB;
ALTER TABLE offline ADD COLUMN tags BLOB;
"#;

/// Every migration step, in order.
pub const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5, V6, V7, V8, V9, V10];

/// The schema version this binary writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// How a connection should sync; see the module docs of `store`.
pub struct OpenSettings {
    pub sync_every_commit: bool,
    pub check_at_start: bool,
}

/// Opens (creating if missing) the database at `path`, refuses anything
/// that is not ours, sets the connection up, and migrates it to
/// [`SCHEMA_VERSION`]. Returns the connection that becomes the writer.
pub fn open(path: &Path, settings: &OpenSettings) -> Result<Connection, StoreError> {
    let existed = match fs::metadata(path) {
        Ok(meta) if !meta.is_file() => {
            return Err(StoreError::Foreign {
                path: path.to_path_buf(),
                reason: "it is not a regular file".into(),
            });
        }
        Ok(meta) => meta.len() > 0,
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        Err(e) => {
            return Err(StoreError::DataDir {
                path: path.to_path_buf(),
                reason: format!("cannot inspect the database file: {e}"),
                source: Some(e),
            });
        }
    };
    if existed {
        check_magic(path)?;
    }

    // Opening does not write to the file; nothing below writes until the
    // file has been recognised as ours (or as new and empty).
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = Connection::open_with_flags(path, flags).map_err(|e| start_error(path, e))?;
    if conn
        .is_readonly(MAIN_DB)
        .map_err(|e| start_error(path, e))?
    {
        return Err(StoreError::DataDir {
            path: path.to_path_buf(),
            reason: "the database file is read-only".into(),
            source: None,
        });
    }

    let (app_id, version, objects) = inspect(&conn).map_err(|e| start_error(path, e))?;
    let fresh = app_id == 0 && version == 0 && objects == 0;
    if !fresh && app_id != APPLICATION_ID {
        let reason = if app_id == 0 {
            "an SQLite database of another program: it has tables but no chatroom application id"
                .to_string()
        } else {
            format!("an SQLite database with application id {app_id:#010x}")
        };
        return Err(StoreError::Foreign {
            path: path.to_path_buf(),
            reason,
        });
    }
    if version > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            path: path.to_path_buf(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    if settings.check_at_start && !fresh {
        quick_check(&conn, path)?;
    }

    configure(&conn, settings).map_err(|e| start_error(path, e))?;
    enable_wal(&conn, path, fresh)?;

    migrate(&mut conn, path)?;
    Ok(conn)
}

/// The page size of files we create. History goes in as large blobs (a
/// room's page of records per commit), and SQLite writes, checksums and
/// checkpoints them one database page at a time, each page a WAL frame with
/// a write of its own: with 16 KiB instead of the default 4 KiB, a flood's
/// history costs the copying thread about 10% and the checkpoints about
/// 45% less CPU (docs/perf.md, sixth round). Larger pages would cost a quiet
/// server more bytes per small commit for little more gain. Files created
/// with another size keep it (it can only change with a VACUUM).
pub(crate) const PAGE_SIZE: i64 = 16 * 1024;

/// Switches `conn`'s file to WAL mode, or says why it cannot be. A `fresh`
/// (empty) file first gets [`PAGE_SIZE`], which can only be chosen before
/// anything is written.
pub(super) fn enable_wal(conn: &Connection, path: &Path, fresh: bool) -> Result<(), StoreError> {
    if fresh {
        conn.pragma_update(None, "page_size", PAGE_SIZE)
            .map_err(|e| start_error(path, e))?;
    }
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(|e| start_error(path, e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::DataDir {
            path: path.to_path_buf(),
            reason: format!("the file system does not support WAL mode (got {mode})"),
            source: None,
        });
    }
    Ok(())
}

/// Settings every connection (writer, readers, maintenance) shares.
pub fn configure(conn: &Connection, settings: &OpenSettings) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    let sync = if settings.sync_every_commit {
        "FULL"
    } else {
        "NORMAL"
    };
    conn.pragma_update(None, "synchronous", sync)?;
    Ok(())
}

/// The first 16 bytes of every SQLite 3 database file.
const MAGIC: &[u8; 16] = b"SQLite format 3\0";

pub(super) fn check_magic(path: &Path) -> Result<(), StoreError> {
    let mut head = [0u8; 16];
    let read = fs::File::open(path).and_then(|mut f| {
        let mut n = 0;
        while n < head.len() {
            match f.read(&mut head[n..])? {
                0 => break,
                k => n += k,
            }
        }
        Ok(n)
    });
    match read {
        Ok(16) if &head == MAGIC => Ok(()),
        Ok(_) => Err(StoreError::Foreign {
            path: path.to_path_buf(),
            reason: "it is not an SQLite database".into(),
        }),
        Err(e) => Err(StoreError::DataDir {
            path: path.to_path_buf(),
            reason: format!("cannot read the database file: {e}"),
            source: Some(e),
        }),
    }
}

/// application_id, user_version, and how many schema objects exist.
pub(super) fn inspect(conn: &Connection) -> rusqlite::Result<(i32, i64, i64)> {
    let app_id: i32 = conn.pragma_query_value(None, "application_id", |r| r.get(0))?;
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let objects: i64 = conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))?;
    Ok((app_id, version, objects))
}

/// `PRAGMA quick_check`: reads every page (O(file size)), writes nothing.
pub(super) fn quick_check(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let mut problems = Vec::new();
    let result = conn.prepare("PRAGMA quick_check(5)").and_then(|mut stmt| {
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let line: String = row.get(0)?;
            if line != "ok" {
                problems.push(line);
            }
        }
        Ok(())
    });
    match result {
        Err(e) => Err(start_error(path, e)),
        Ok(()) if problems.is_empty() => Ok(()),
        Ok(()) => Err(StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: problems.join("; "),
        }),
    }
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    loop {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| start_error(path, e))?;
        // Read again under the write lock: another process may have migrated.
        let version: i64 = tx
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(|e| start_error(path, e))?;
        if version >= SCHEMA_VERSION {
            return Ok(());
        }
        let to = version + 1;
        let wrap = |e: rusqlite::Error| StoreError::Migration {
            path: path.to_path_buf(),
            to,
            source: Box::new(e.into()),
        };
        let step = usize::try_from(version)
            .ok()
            .and_then(|v| MIGRATIONS.get(v))
            .ok_or_else(|| StoreError::Corrupt {
                path: path.to_path_buf(),
                detail: format!("schema version {version} is not a version chatroom ever wrote"),
            })?;
        tx.execute_batch(step).map_err(wrap)?;
        if version == 0 {
            tx.pragma_update(None, "application_id", APPLICATION_ID)
                .map_err(wrap)?;
        }
        tx.pragma_update(None, "user_version", to).map_err(wrap)?;
        tx.commit().map_err(wrap)?;
    }
}

/// Classifies an SQLite error met while opening: damage and foreign formats
/// get the path; the rest go through the usual mapping.
pub(super) fn start_error(path: &Path, e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        // The magic header was checked before SQLite saw the file, so a file
        // SQLite cannot read here is a damaged SQLite file, not a foreign one.
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: e.to_string(),
        },
        Some(ErrorCode::CannotOpen | ErrorCode::PermissionDenied | ErrorCode::ReadOnly) => {
            StoreError::DataDir {
                path: path.to_path_buf(),
                reason: format!("cannot open the database file for writing: {e}"),
                source: None,
            }
        }
        Some(ErrorCode::DiskFull) => StoreError::DataDir {
            path: path.to_path_buf(),
            reason: format!("the disk is full: {e}"),
            source: None,
        },
        _ => e.into(),
    }
}
