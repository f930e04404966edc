//! [`HistoryStore`]: the records of rooms and private conversations, what
//! the persist stage writes and `CHATHISTORY`, `/history` and replay on join
//! read, and the upkeep that keeps them bounded (retention, checkpoints).
//!
//! # What it promises
//! - **Atomic batches.** [`HistoryStore::append`] stores all of a batch or
//!   none of it; on error the caller still holds the batch.
//! - **One order.** Every conversation is read in ascending (time, msgid)
//!   order, time in whole milliseconds; records at the same millisecond go
//!   by msgid. Appending out of order (a clock set back) is allowed; reads
//!   still come back in that order.
//! - **Unique msgids.** A msgid already stored anywhere (any room, any
//!   conversation) is refused as [`StoreError::DuplicateId`]; a msgid above
//!   `i64::MAX` as [`StoreError::InvalidRecord`]. Both fail the whole batch.
//! - **Private stays private.** A private message is only ever read by one
//!   of its two parties: every query is keyed by the requester's account
//!   (case-insensitively), and a message is theirs only if that party was
//!   logged in to it when the message was sent. A nickname nobody had
//!   registered, taken later by someone else (with an account of that name
//!   or not), reads nothing of what its earlier holder said. A msgid of
//!   another conversation is no anchor (as unknown as one that never
//!   existed).
//! - **Ids are never given out twice.** [`HistoryStore::last_id`] is the
//!   highest msgid ever appended or held offline (see
//!   [`crate::AccountStore::hold_offline`]), even after compaction deleted
//!   it or a room that keeps nothing dropped it.
//! - **Rooms' own limits.** A room saved (see [`crate::RoomStore`]) with
//!   limits that keep nothing has its records dropped by `append` (not an
//!   error); [`HistoryStore::compact`] applies each saved room's own limits
//!   instead of the server's.
//!
//! # What it must not do
//! It must not decide who may read a room (the caller checks membership
//! first), nor what the retention policy is (the caller passes it), nor
//! know about connections or protocols. Every method may block (on disk,
//! for SQLite): callers on the delivery path hand work to threads of their
//! own and never call it from an async worker.

use std::time::SystemTime;

use super::error::StoreError;
use super::{CompactStats, HistoryQuery, Record, Retention, TargetInfo};

/// The history of rooms and private conversations. Object safe: the
/// runtime shares it as `Arc<dyn HistoryStore>` across threads.
pub trait HistoryStore: Send + Sync {
    /// Commits `batch` in one transaction: all of it or none of it. Records
    /// for rooms that keep no history are skipped. On error nothing of the
    /// batch is stored and the caller still holds it (retry, or log loudly).
    fn append(&self, batch: &[Record]) -> Result<(), StoreError>;

    /// History for `CHATHISTORY` (and replay on join), ascending order. At
    /// most `q.limit` records, cut to the store's maximum (not an error); a
    /// limit of 0, an anchor msgid outside the scope, or nothing in range
    /// gives an empty answer, not an error.
    fn query(&self, q: &HistoryQuery) -> Result<Vec<Record>, StoreError>;

    /// `CHATHISTORY TARGETS`: the conversations of `requester` (an account,
    /// as in [`crate::HistoryQuery::requester`]) whose latest message is
    /// strictly between `from` and `to` (either order), with the time of
    /// that message, in ascending order of it; at most `limit`, those
    /// nearest `from`. A conversation with a message in the window but a
    /// later one after it is not listed (draft/chathistory: the time given
    /// is that of the conversation's latest message). A private
    /// conversation is one per nickname of the other party; they are found
    /// from the store; rooms only among `rooms`, the ones the caller says
    /// the requester may see (the store does not know membership). An empty
    /// `requester` has no private conversation (account names are never
    /// empty).
    fn targets(
        &self,
        requester: &str,
        rooms: &[String],
        from: SystemTime,
        to: SystemTime,
        limit: usize,
    ) -> Result<Vec<TargetInfo>, StoreError>;

    /// The highest msgid ever appended (or held offline), even if compaction
    /// has since deleted it; 0 for a new store. New ids must be above it.
    fn last_id(&self) -> Result<u64, StoreError>;

    /// Deletes what retention says must go, oldest first, in steps of at
    /// most `policy.chunk` records so that appends are never held up long.
    fn compact(&self, policy: &Retention, now: SystemTime) -> Result<CompactStats, StoreError>;

    /// Upkeep that need not happen on the writer's time (for SQLite: moves
    /// WAL contents into the database file without blocking writers). Run
    /// now and then from a background thread; a store with nothing to do
    /// returns at once.
    fn checkpoint(&self) -> Result<(), StoreError>;
}
