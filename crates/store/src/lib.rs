//! The history store: what the server remembers across restarts.
//!
//! It keeps every room message, action, notice and topic change and every
//! private message (with its msgid, server time, sender and target, and
//! the client-only tags that mean something later: a reply's context, a
//! reaction), tag-only messages (TAGMSG) that carry such tags, the
//! state of rooms (topic, modes, founder, registration, history limits),
//! accounts, and private messages held for accounts that are offline.
//!
//! The runtime sees it through four traits, one per concern, each with its
//! own promises (see each file): [`HistoryStore`] (records, queries,
//! retention), [`SearchStore`] (full-text search), [`AccountStore`]
//! (accounts, certificates, offline messages) and [`RoomStore`] (saved room
//! state). [`Store`] is all four, for code that needs everything. Two
//! implementations keep the same promises: [`SqliteStore`], the embedded
//! default (one SQLite file, `chatroom.db`, in the data directory, in WAL
//! mode), and [`MemoryStore`], which keeps everything in memory and forgets
//! it when dropped (for tests, and for a server that remembers nothing).
//!
//! # Files
//! - `lib.rs`: the plain data types the traits speak in, and [`Store`].
//! - `history.rs`, `search.rs`, `accounts.rs`, `rooms.rs`: the traits.
//! - `error.rs`: [`StoreError`], one variant per thing an operator must act on.
//! - `keys.rs`: conversation keys and millisecond times, shared by both
//!   implementations so that they agree on what a conversation is.
//! - `select.rs`: what each history selector means, shared likewise.
//! - `fts.rs`: turns what a person typed into search words and a safe FTS5
//!   query.
//! - `sqlite/`: [`SqliteStore`], split by job (open and recovery, appends,
//!   queries, search and its index file, accounts, rooms, maintenance, the
//!   schema and its migrations).
//! - `memory.rs`: [`MemoryStore`].
//! - `page.rs`: the codec of a page, the records of one room from one commit
//!   in one blob, which is how SQLite stores room history (one row per room
//!   per commit instead of one per message: the cost of storing is on the
//!   delivery path).
//! - `journal.rs`: the append-only files the delivery path writes records to
//!   before anyone receives them; copied into the store behind it, and read
//!   back into SQLite at start after a crash.
//! - `tests.rs`: tests of the SQLite store on real files (files, WAL,
//!   migrations, damaged pages, recovery); `contract.rs`: the traits'
//!   promises, run against both implementations.
//!
//! # What this crate must not do
//! It must not know about sockets, protocols or the hub's state, and it must
//! not decide who may read a room (the caller checks membership before asking
//! for a room's history). It does enforce the one rule it alone can: a private
//! message is only ever returned to one of its two parties, because every
//! private-message query is keyed by the requester's account, which must be
//! the account that party was logged in to when the message was sent.
//!
//! # Who calls it, and how delivery stays fast
//! Every method is synchronous and may block on disk. Callers on the delivery
//! path must not call it from a tokio worker directly: the runtime hands
//! records to one writer thread, which gathers whatever has queued up and
//! writes it to the [`journal`] with one `write(2)`; an applier thread then
//! copies it into the store with one [`HistoryStore::append`] per large
//! group (group commit: one transaction, one WAL append, for many
//! messages). Queries run on other connections (WAL lets readers run beside
//! the writer), from `spawn_blocking`.
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
//! reads the store. [`MemoryStore`] keeps nothing across a restart and
//! reads no journal.

#![deny(unsafe_code)]

mod accounts;
mod error;
mod fts;
mod history;
pub mod journal;
mod keys;
mod memory;
mod page;
mod rooms;
mod search;
mod select;
mod sqlite;

#[cfg(test)]
mod contract;
#[cfg(test)]
mod tests;

use std::time::SystemTime;

use chatroom_core::event::Event;
use chatroom_core::names::Name;
use chatroom_core::{MsgKind, MsgTarget, Topic, UserInfo};

pub use accounts::AccountStore;
pub use chatroom_core::history::{Anchor, Limits, Selector, TargetInfo};
pub use error::StoreError;
pub use fts::fts_query;
pub use history::HistoryStore;
pub use memory::MemoryStore;
pub use rooms::{ReadMarker, RoomStore};
pub use search::SearchStore;
pub use sqlite::index::{PASS_ROWS as SEARCH_PASS_ROWS, SEARCH_FILE};
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
    /// A message of tags only (IRCv3 TAGMSG: a reaction, a reply's
    /// context); the text is empty, the tags are the record's
    /// [`Record::tags`]. Replayed only to clients that take tags.
    TagMsg,
    /// A message withdrawn (IRCv3 message-redaction): the text is the
    /// reason, if any, and [`Record::redacts`] the withdrawn message's
    /// msgid. Never stored: appending it removes that message from the
    /// history (and the search index), in the same commit as the
    /// records before it; only the journal carries it until then.
    Redact,
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
            RecordKind::TagMsg => "tagmsg",
            RecordKind::Redact => "redact",
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
            "tagmsg" => RecordKind::TagMsg,
            "redact" => RecordKind::Redact,
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

/// The most bytes of client-only tags one record keeps, counted as on
/// the wire (`key=value` and a separator each): the most client tags an
/// IRC line may carry, so what is stored is never more than came in.
pub const MAX_TAG_BYTES: usize = 4094;

/// Client-only tags that only matter while they are live: a typing
/// notification says nothing about the past.
const TRANSIENT_TAGS: &[&str] = &["+typing", "+draft/typing"];

/// The tags of a message worth keeping with its record: client-only
/// (`+`) tags that mean something later (a reply's context, a reaction,
/// a channel context), not typing notifications nor server tags, in the
/// order given, up to [`MAX_TAG_BYTES`] (a tag that would pass it is
/// left out, and so are those after it).
pub fn kept_tags(tags: &[(Name, Name)]) -> Vec<(Name, Name)> {
    let mut used = 0;
    let mut out = Vec::new();
    for (k, v) in tags {
        if !k.starts_with('+') || k.len() < 2 || TRANSIENT_TAGS.contains(&&**k) {
            continue;
        }
        // `key=value;`, the value's escaping not counted (an edge's own
        // limit on what came in was counted on the escaped form).
        used += k.len() + 1 + v.len() + 1;
        if used > MAX_TAG_BYTES + 1 {
            break;
        }
        out.push((k.clone(), v.clone()));
    }
    out
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
    /// conversation is the pair `from.nick` / recipient.
    pub to: MsgTarget,
    pub text: Name,
    /// For a private message, the account the recipient was logged in to
    /// (`None`: not logged in). With the sender's (`from.account`) it says
    /// whose conversation this is: private history is read by account (see
    /// [`HistoryQuery::requester`]). The stores keep both accounts of a
    /// private message to find it by, and give records back without them.
    pub to_account: Option<Name>,
    /// The client-only tags kept with it (see [`kept_tags`]): a reply's
    /// `+draft/reply`, a reaction's `+draft/react`. Usually empty; never
    /// empty for a [`RecordKind::TagMsg`].
    pub tags: Vec<(Name, Name)>,
}

/// The key under which a [`RecordKind::Redact`] record keeps the msgid it
/// withdraws, in its tags (a server key: never a client tag's, which
/// starts with `+`).
const REDACTS: &str = "redacts";

impl Record {
    /// For a [`RecordKind::Redact`] record, the msgid of the message it
    /// withdraws; `None` for every other record.
    pub fn redacts(&self) -> Option<u64> {
        if self.kind != RecordKind::Redact {
            return None;
        }
        self.tags
            .iter()
            .find(|(k, _)| &**k == REDACTS)
            .and_then(|(_, v)| v.parse().ok())
    }

    /// The record for a hub `Message` event, with the tags worth keeping,
    /// or for a `TagMsg` event that has any (a typing notification has
    /// none: `None`), or for a `Redacted` event (a [`RecordKind::Redact`],
    /// which removes the message it names when appended); `None` for any
    /// other event. (A topic change carries
    /// no msgid in its event: the caller builds that record itself with an
    /// id of its own.) The event does not say the recipient's account:
    /// `to_account` is `None` until the caller sets it.
    pub fn from_message(event: &Event) -> Option<Record> {
        match event {
            Event::Message {
                id,
                time,
                from,
                to,
                kind,
                text,
                tags,
            } => Some(Record {
                id: *id,
                time: *time,
                kind: (*kind).into(),
                from: from.clone(),
                to: to.clone(),
                text: text.clone(),
                to_account: None,
                tags: kept_tags(tags),
            }),
            Event::Redacted {
                id,
                time,
                by,
                to,
                msgid,
                reason,
            } => Some(Record {
                id: *id,
                time: *time,
                kind: RecordKind::Redact,
                from: by.clone(),
                to: to.clone(),
                text: reason.clone().unwrap_or_else(|| Name::from("")),
                to_account: None,
                tags: vec![(Name::from(REDACTS), Name::from(msgid.to_string()))],
            }),
            Event::TagMsg {
                id,
                time,
                from,
                to,
                tags,
            } => {
                let tags = kept_tags(tags);
                (!tags.is_empty()).then(|| Record {
                    id: *id,
                    time: *time,
                    kind: RecordKind::TagMsg,
                    from: from.clone(),
                    to: to.clone(),
                    text: Name::from(""),
                    to_account: None,
                    tags,
                })
            }
            _ => None,
        }
    }

    /// The hub event that replays this record, with its kept tags, for
    /// the kinds that are messages (a TAGMSG record replays as
    /// `Event::TagMsg`, which edges show only to clients that take tags);
    /// `None` for topic changes and membership events.
    pub fn to_message(&self) -> Option<Event> {
        let kind = match self.kind {
            RecordKind::Say => MsgKind::Say,
            RecordKind::Action => MsgKind::Action,
            RecordKind::Notice => MsgKind::Notice,
            RecordKind::TagMsg => {
                return Some(Event::TagMsg {
                    id: self.id,
                    time: self.time,
                    from: self.from.clone(),
                    to: self.to.clone(),
                    tags: self.tags.clone(),
                });
            }
            _ => return None,
        };
        Some(Event::Message {
            id: self.id,
            time: self.time,
            from: self.from.clone(),
            to: self.to.clone(),
            kind,
            text: self.text.clone(),
            tags: self.tags.clone(),
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
    /// The requester's private conversation with this nickname: the
    /// messages whose other party had this nickname, or was logged in to an
    /// account of this name.
    Nick(String),
    /// Every private message the requester sent or received (IRC's `*`).
    AllPrivate,
}

/// One history request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryQuery {
    /// The account asking, for private history: a private message is the
    /// requester's if they were logged in to this account when they sent or
    /// received it (nicknames change hands; accounts do not). Ignored for a
    /// room's history. Empty: no private history at all.
    pub requester: String,
    pub target: QueryTarget,
    pub selector: Selector,
    /// At most this many records; larger values are cut to the store's
    /// maximum (not an error), 0 returns nothing.
    pub limit: usize,
}

/// The server-wide retention policy given to [`HistoryStore::compact`]. A room's own
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

/// All four concerns in one: for code that needs everything (opening the
/// server, tests). Implemented for every type that implements the four
/// traits; `Arc<dyn Store>` coerces to `Arc<dyn HistoryStore>` and the
/// others, so one store can be handed out by concern.
pub trait Store: HistoryStore + SearchStore + AccountStore + RoomStore {}

impl<T: HistoryStore + SearchStore + AccountStore + RoomStore + ?Sized> Store for T {}
