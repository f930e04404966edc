//! Why the store failed, in words an operator can act on.
//!
//! Start-up errors name the file or directory involved. Run-time errors keep
//! SQLite's own error as their source, and [`StoreError::is_disk_problem`]
//! tells the caller when to log loudly: a full disk or an I/O error means
//! records are not being saved. This file must not log or retry anything
//! itself; it only classifies.

use std::io;
use std::path::PathBuf;

use rusqlite::ErrorCode;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    /// The data directory could not be created or used.
    #[error("data directory {path}: {reason}")]
    DataDir {
        path: PathBuf,
        reason: String,
        #[source]
        source: Option<io::Error>,
    },

    /// Another server (or store) has the data directory open.
    #[error(
        "data directory {path} is in use by another chatroom server; \
         two servers cannot share one (stop the other or choose another --data-dir)"
    )]
    InUse { path: PathBuf },

    /// The database file exists but is not ours; it was not modified.
    #[error(
        "{path} is not a chatroom database ({reason}); refusing to use or change it. \
         Move it away or choose another --data-dir"
    )]
    Foreign { path: PathBuf, reason: String },

    /// The database file is damaged; it was not modified.
    #[error(
        "{path} is damaged ({detail}); refusing to use or change it. \
         Restore a backup or move it away"
    )]
    Corrupt { path: PathBuf, detail: String },

    /// The database was written by a newer chatroom than this one.
    #[error(
        "{path} has schema version {found}, newer than this chatroom understands \
         (at most {supported}); run a newer chatroom"
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },

    /// A migration step failed; its transaction was rolled back.
    #[error("migrating {path} to schema version {to} failed: {source}")]
    Migration {
        path: PathBuf,
        to: i64,
        #[source]
        source: Box<StoreError>,
    },

    /// SQLITE_FULL: the disk (or the file-size limit) is full.
    #[error("the disk holding the history database is full: {0}")]
    DiskFull(#[source] rusqlite::Error),

    /// SQLITE_IOERR: the operating system failed a read or write.
    #[error("I/O error on the history database: {0}")]
    Io(#[source] rusqlite::Error),

    /// SQLITE_READONLY / SQLITE_CANTOPEN / SQLITE_PERM at run time.
    #[error("the history database cannot be written: {0}")]
    ReadOnly(#[source] rusqlite::Error),

    /// SQLITE_CORRUPT / SQLITE_NOTADB at run time, or a row we cannot read.
    #[error("the history database is damaged: {0}")]
    Damaged(String),

    /// A record was refused before reaching SQLite (e.g. an id above i64::MAX).
    #[error("invalid record: {0}")]
    InvalidRecord(String),

    /// A msgid that is already stored was appended again.
    #[error("msgid {0} is already stored")]
    DuplicateId(u64),

    /// Anything else SQLite reported.
    #[error("history database error: {0}")]
    Sqlite(#[source] rusqlite::Error),
}

impl StoreError {
    /// True when records are not reaching the disk for reasons outside the
    /// program (full disk, I/O error, read-only or damaged file): the caller
    /// should log this loudly, keep the batch, and retry later.
    pub fn is_disk_problem(&self) -> bool {
        matches!(
            self,
            StoreError::DiskFull(_)
                | StoreError::Io(_)
                | StoreError::ReadOnly(_)
                | StoreError::Damaged(_)
        )
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        match e.sqlite_error_code() {
            Some(ErrorCode::DiskFull) => StoreError::DiskFull(e),
            Some(ErrorCode::SystemIoFailure) => StoreError::Io(e),
            Some(ErrorCode::ReadOnly | ErrorCode::CannotOpen | ErrorCode::PermissionDenied) => {
                StoreError::ReadOnly(e)
            }
            Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => {
                StoreError::Damaged(e.to_string())
            }
            _ => StoreError::Sqlite(e),
        }
    }
}
