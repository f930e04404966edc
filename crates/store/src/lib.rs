//! The history store: what the server remembers across restarts.
//!
//! It keeps every room message, action, notice and topic change and every
//! private message (with its msgid, server time, sender and target), the
//! state of rooms (topic, modes, founder, registration, history limits),
//! accounts, and private messages held for accounts that are offline.
//!
//! Everything goes through the [`Store`] trait so that the cluster store can
//! replace the embedded one later. The embedded default is [`SqliteStore`]:
//! one SQLite file (`chatroom.db`) in the data directory, in WAL mode.
//!
//! # Files
//! - `mod.rs`: the trait and the plain data types it speaks in.
//! - `error.rs`: [`StoreError`], one variant per thing an operator must act on.
//! - `schema.rs`: the versioned migrations and the start-up checks that refuse
//!   a foreign or corrupt file without touching it.
//! - `sqlite.rs`: [`SqliteStore`], the SQLite implementation.
//! - `page.rs`: the codec of a page, the records of one room from one commit
//!   in one blob, which is how room history is stored (one row per room per
//!   commit instead of one per message: the cost of storing is on the
//!   delivery path).
//! - `journal.rs`: the append-only files the delivery path writes records to
//!   before anyone receives them; copied into SQLite behind it, and read
//!   back into SQLite at start after a crash.
//! - `fts.rs`: turns what a person typed into a safe FTS5 query.
//! - `search.rs`: the full-text index, a file of its own (`search.db`)
//!   filled behind the writer.
//! - `tests.rs`: tests on real SQLite files in temporary directories.
//!
//! # What this module must not do
//! It must not know about sockets, protocols or the hub's state, and it must
//! not decide who may read a room (the caller checks membership before asking
//! for a room's history). It does enforce the one rule it alone can: a private
//! message is only ever returned to one of its two parties, because every
//! private-message query is keyed by the requester's own nickname.
//!
//! # Who calls it, and how delivery stays fast
//! Every method is synchronous and may block on disk. Callers on the delivery
//! path must not call it from a tokio worker directly: the runtime hands
//! records to one writer thread, which gathers whatever has queued up and
//! writes it to the [`journal`] with one `write(2)`; an applier thread then
//! copies it into SQLite with one [`Store::append`] per large group (group
//! commit: one transaction, one WAL append, for many messages). Queries run on other connections (WAL lets
//! readers run beside the writer), from `spawn_blocking`.
//!
//! # Durability
//! The database runs with `journal_mode=WAL` and `synchronous=NORMAL`. A
//! commit writes its WAL frames with `write(2)` before `append` returns, but
//! does not `fsync`; SQLite syncs the WAL only when it checkpoints. That is
//! enough for the promise we make: once `append` has returned, the records are
//! in the operating system's page cache, which survives the death of our
//! process (`kill -9`, a panic, an OOM kill) and is replayed from the WAL on
//! the next open. What it does not survive is the machine losing power or the
//! kernel crashing before the next checkpoint: then the last fraction of a
//! second of messages may be lost (never corrupted: WAL frames carry
//! checksums). [`StoreOptions::sync_every_commit`] switches to
//! `synchronous=FULL` for operators who want that too, at the price of one
//! `fsync` per batch.
//!
//! So "a message that any client has received is in the store after
//! `kill -9`" holds if the runtime fans a message out only after the batch
//! holding it is in the journal: the journal gets the same page-cache
//! guarantee from one `write(2)` (and one `fdatasync` with
//! `sync_every_commit`), and [`SqliteStore::open`] appends whatever the
//! journal holds beyond the newest stored message before anything else
//! reads the store.

#![deny(unsafe_code)]

mod error;
mod fts;
pub mod journal;
mod page;
mod schema;
mod search;
mod sqlite;

#[cfg(test)]
mod tests;

use std::time::SystemTime;

use chatroom_core::event::Event;
use chatroom_core::names::Name;
use chatroom_core::{MsgKind, MsgTarget, Topic, UserInfo};

pub use chatroom_core::history::{Anchor, Limits, Selector, TargetInfo};
pub use error::StoreError;
pub use fts::fts_query;
pub use search::{PASS_ROWS as SEARCH_PASS_ROWS, SEARCH_FILE};
pub use sqlite::{DB_FILE, LOCK_FILE, SqliteStore, StoreOptions};

/// The largest number of records one query returns unless
/// [`StoreOptions::max_limit`] says otherwise (`CHATHISTORY=1000` in ISUPPORT).
pub const DEFAULT_MAX_LIMIT: usize = 1000;

/// What a stored line was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    Say,
    Action,
    Notice,
    /// A topic change; the text is the new topic (empty: cleared).
    Topic,
    /// For event playback; the text is empty.
    Join,
    /// For event playback; the text is the reason, if any.
    Part,
    /// For event playback, one record per room the person was in.
    Quit,
    /// For event playback, one record per room; the text is the new nickname.
    Nick,
}

impl RecordKind {
    /// True for what IRC sends as PRIVMSG or NOTICE: the lines a client
    /// without `event-playback` may be sent.
    pub fn is_message(self) -> bool {
        matches!(
            self,
            RecordKind::Say | RecordKind::Action | RecordKind::Notice
        )
    }

    /// The name stored in the database; part of the file format.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RecordKind::Say => "say",
            RecordKind::Action => "action",
            RecordKind::Notice => "notice",
            RecordKind::Topic => "topic",
            RecordKind::Join => "join",
            RecordKind::Part => "part",
            RecordKind::Quit => "quit",
            RecordKind::Nick => "nick",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<RecordKind> {
        Some(match s {
            "say" => RecordKind::Say,
            "action" => RecordKind::Action,
            "notice" => RecordKind::Notice,
            "topic" => RecordKind::Topic,
            "join" => RecordKind::Join,
            "part" => RecordKind::Part,
            "quit" => RecordKind::Quit,
            "nick" => RecordKind::Nick,
            _ => return None,
        })
    }
}

impl From<MsgKind> for RecordKind {
    fn from(kind: MsgKind) -> RecordKind {
        match kind {
            MsgKind::Say => RecordKind::Say,
            MsgKind::Action => RecordKind::Action,
            MsgKind::Notice => RecordKind::Notice,
        }
    }
}

/// One stored line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The msgid. Unique across the store: appending an id twice is an error.
    /// Must be at most `i64::MAX` (SQLite integers are signed).
    pub id: u64,
    /// Server time; stored with millisecond precision (as IRC's server-time).
    pub time: SystemTime,
    pub kind: RecordKind,
    /// Who sent it, as they were at the time (shared with the event it
    /// came from, and among a page's records when read back).
    pub from: std::sync::Arc<UserInfo>,
    /// A room, or (for a private message) the recipient's nickname. The
    /// conversation is the pair `from.nick` / recipient, whichever asks.
    pub to: MsgTarget,
    pub text: Name,
}

impl Record {
    /// The record for a hub `Message` event; `None` for any other event.
    /// (A topic change carries no msgid in its event: the caller builds that
    /// record itself with an id of its own.)
    pub fn from_message(event: &Event) -> Option<Record> {
        match event {
            Event::Message {
                id,
                time,
                from,
                to,
                kind,
                text,
                ..
            } => Some(Record {
                id: *id,
                time: *time,
                kind: (*kind).into(),
                from: from.clone(),
                to: to.clone(),
                text: text.clone(),
            }),
            _ => None,
        }
    }

    /// The hub event that replays this record, for the kinds that are
    /// messages; `None` for topic changes and membership events.
    pub fn to_message(&self) -> Option<Event> {
        let kind = match self.kind {
            RecordKind::Say => MsgKind::Say,
            RecordKind::Action => MsgKind::Action,
            RecordKind::Notice => MsgKind::Notice,
            _ => return None,
        };
        Some(Event::Message {
            id: self.id,
            time: self.time,
            from: self.from.clone(),
            to: self.to.clone(),
            kind,
            text: self.text.clone(),
            tags: Vec::new(),
        })
    }
}

impl Record {
    /// The event that replays this record in a history page: a message, or
    /// a past topic change (`Event::PastTopic`); `None` for membership
    /// events, which nothing replays yet.
    pub fn to_event(&self) -> Option<Event> {
        match (self.kind, &self.to) {
            (RecordKind::Topic, MsgTarget::Room(room)) => Some(Event::PastTopic {
                id: self.id,
                time: self.time,
                room: room.clone(),
                by: self.from.clone(),
                text: self.text.clone(),
            }),
            _ => self.to_message(),
        }
    }
}

/// Whose history a query reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryTarget {
    /// A room's history. The caller has checked that the requester may read it.
    Room(String),
    /// The private conversation between the requester and this nickname.
    Nick(String),
    /// Every private message the requester sent or received (IRC's `*`).
    AllPrivate,
}

/// One history request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryQuery {
    /// The nickname asking. Private history is looked up by this name.
    pub requester: String,
    pub target: QueryTarget,
    pub selector: Selector,
    /// At most this many records; larger values are cut to the store's
    /// maximum (not an error), 0 returns nothing.
    pub limit: usize,
}

/// The server-wide retention policy given to [`Store::compact`]. A room's own
/// [`RoomState::limits`] replace `rooms` for that room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    /// Limits for rooms that have none of their own.
    pub rooms: Limits,
    /// Limits for each private conversation.
    pub private: Limits,
    /// Rows deleted per transaction, so the writer never waits long for a
    /// compaction step.
    pub chunk: usize,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            rooms: Limits::default(),
            private: Limits::default(),
            chunk: 500,
        }
    }
}

/// What one compaction pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompactStats {
    /// Conversations looked at.
    pub conversations: u64,
    /// Records deleted for being too old.
    pub by_age: u64,
    /// Records deleted for being beyond a room's count (or in a room that
    /// keeps no history).
    pub by_count: u64,
    /// Transactions used (each one short).
    pub transactions: u64,
}

/// The persistent state of a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomState {
    /// The room's name as first created (case preserved).
    pub name: String,
    pub topic: Option<Topic>,
    /// Mode letters and their arguments, as the hub writes them (e.g. `+nt`).
    pub modes: String,
    /// The account that registered the room, if any.
    pub founder: Option<String>,
    /// A registered room exists (with its state) even while empty.
    pub registered: bool,
    /// When it was registered (`None` for rooms saved only for their
    /// limits, and for registrations saved before schema version 5).
    pub registered_at: Option<SystemTime>,
    /// This room's history limits; `None` follows the server's policy.
    pub limits: Option<Limits>,
}

/// An account. The store keeps the hash string; hashing is not its business.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The account name (looked up case-insensitively, stored as given).
    pub name: String,
    /// A PHC string (`$argon2id$v=19$...`).
    pub password_hash: String,
    pub created: SystemTime,
}

/// The storage behind the server. Object safe: the runtime holds an
/// `Arc<dyn Store>`. Every method may block on disk; see the module docs
/// for which thread calls what.
pub trait Store: Send + Sync {
    /// Commits `batch` in one transaction: all of it or none of it. Records
    /// for rooms that keep no history are skipped. On error nothing of the
    /// batch is stored and the caller still holds it (retry, or log loudly).
    fn append(&self, batch: &[Record]) -> Result<(), StoreError>;

    /// History for `CHATHISTORY` (and replay on join), ascending order.
    fn query(&self, q: &HistoryQuery) -> Result<Vec<Record>, StoreError>;

    /// `CHATHISTORY TARGETS`: the conversations of `requester` with a message
    /// strictly between `from` and `to` (either order), with the time of
    /// their latest such message, in ascending order of that time; at most
    /// `limit`, those nearest `from`. Private conversations are found from
    /// the store; rooms only among `rooms`, the ones the caller says the
    /// requester may see (the store does not know membership).
    fn targets(
        &self,
        requester: &str,
        rooms: &[String],
        from: SystemTime,
        to: SystemTime,
        limit: usize,
    ) -> Result<Vec<TargetInfo>, StoreError>;

    /// Full-text search in one conversation, newest first. `words` is what a
    /// person typed: every word must occur, and no character in it has a
    /// special meaning.
    fn search(
        &self,
        requester: &str,
        target: &QueryTarget,
        words: &str,
        limit: usize,
    ) -> Result<Vec<Record>, StoreError>;

    /// Keeps a private message for `account`, to hand over at its next login.
    fn hold_offline(&self, account: &str, rec: &Record) -> Result<(), StoreError>;

    /// The messages held for `account`, oldest first, removed from the store
    /// in the same transaction.
    fn take_offline(&self, account: &str) -> Result<Vec<Record>, StoreError>;

    /// The messages held for `account`, oldest first, each with its place
    /// in the queue, without removing them: the caller hands them to the
    /// connection first and then calls [`Store::ack_offline`], so that a
    /// message is never lost between the store and the connection.
    fn peek_offline(&self, account: &str) -> Result<Vec<(i64, Record)>, StoreError>;

    /// Removes the messages held for `account` up to and including `upto`
    /// (a place returned by [`Store::peek_offline`]).
    fn ack_offline(&self, account: &str, upto: i64) -> Result<(), StoreError>;

    /// Creates or replaces a room's state (keyed by its case-folded name).
    fn save_room(&self, state: &RoomState) -> Result<(), StoreError>;

    /// Removes a room's saved state (its history stays, under retention).
    fn forget_room(&self, name: &str) -> Result<(), StoreError>;

    /// Every saved room.
    fn load_rooms(&self) -> Result<Vec<RoomState>, StoreError>;

    /// Creates or replaces an account (keyed by its case-folded name).
    fn put_account(&self, acct: &Account) -> Result<(), StoreError>;

    fn get_account(&self, name: &str) -> Result<Option<Account>, StoreError>;

    /// The names of every account (as stored), for the server's in-memory
    /// index of registered nicknames.
    fn account_names(&self) -> Result<Vec<String>, StoreError>;

    /// Ties a TLS client-certificate fingerprint (`AB:CD:...`, upper case)
    /// to `account`. False when the fingerprint belongs to another account
    /// already (nothing changes then).
    fn add_cert(&self, account: &str, fingerprint: &str) -> Result<bool, StoreError>;

    /// Unties a fingerprint from `account`; false when it was not tied.
    fn del_cert(&self, account: &str, fingerprint: &str) -> Result<bool, StoreError>;

    /// The fingerprints tied to `account`, sorted.
    fn certs(&self, account: &str) -> Result<Vec<String>, StoreError>;

    /// The account a fingerprint is tied to, if any.
    fn account_by_cert(&self, fingerprint: &str) -> Result<Option<Account>, StoreError>;

    /// Deletes what retention says must go, in short transactions.
    fn compact(&self, policy: &Retention, now: SystemTime) -> Result<CompactStats, StoreError>;

    /// The highest msgid ever appended (or held offline), even if compaction
    /// has since deleted it; 0 for a new store. New ids must be above it.
    fn last_id(&self) -> Result<u64, StoreError>;

    /// Moves WAL contents into the database file without blocking writers;
    /// run now and then from a background thread so that the writer rarely
    /// has to checkpoint (and fsync) itself, or never, with
    /// [`StoreOptions::background_checkpoints`].
    fn checkpoint(&self) -> Result<(), StoreError>;

    /// Background work: adds up to `max` stored records to the full-text
    /// index, oldest first; returns how many (0: the index is complete).
    /// [`Store::search`] completes the index itself before it searches, so
    /// this only moves that work to a moment of the caller's choosing.
    fn index_search(&self, max: usize) -> Result<usize, StoreError>;
}
