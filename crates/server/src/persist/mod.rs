//! The persist stage: each batch's records go to a journal before its
//! deliveries are released; an applier copies the journal into SQLite
//! behind the delivery path.
//!
//! With history on, the hub task does not push a stored message onto the
//! recipients' queues until the message is in the journal
//! (`store/journal.rs`). At the end of each batch of commands, the stage
//! appends the batch's records to the journal with one `write(2)` (no
//! fsync), on the hub task itself, then releases the batch's deliveries.
//! So a message reaches a client only once it is in the journal, which the
//! store reads back into SQLite at its next start: that is what makes
//! "everything any client received is in the history after `kill -9`"
//! true. Fan-out never waits for an fsync, an SQLite transaction or another
//! thread. Why on the hub task: handing each batch to a writer thread and
//! being woken when it is written cost the delivery path more than the
//! write itself (a context switch each way on a busy core, and deliveries
//! held meanwhile; measured: B with history on 17% faster without the
//! hand-off).
//!
//! With `sync_every_commit` the journal is `fdatasync`ed after each write,
//! which the hub task must not wait for: then a writer thread takes the
//! batches, gathers whatever queued up while it synced (group commit),
//! writes and syncs them, and reports the highest batch number written;
//! the deliveries wait here, tagged with their batch's number, until then.
//!
//! Each written group goes on to the applier thread, which copies it
//! into SQLite with [`HistoryStore::append`] in large transactions (it lets groups
//! gather for [`APPLY_LINGER`] or [`APPLY_MIN`] records: a transaction per
//! write group cost the delivery path several times what the journal does,
//! most of it WAL frames rewriting the same few B-tree pages), reports the
//! highest batch number in SQLite, and deletes the journal segments it has
//! copied. It runs at a lower priority, so that it takes mostly the CPU that
//! delivery leaves idle. A batch that must see everything before it in
//! SQLite (a replay, a history question, a room save) is held until the
//! applier has caught up with it, and tells the applier not to linger.
//!
//! Why the deliveries stay with the hub task even with the writer thread:
//! pushing onto a connection's queue wakes its task, and a wake from a
//! thread outside the runtime costs far more than one from the runtime's
//! own worker (measured: a writer that released deliveries spent a fifth of
//! the server's CPU on it, and the connections wrote in smaller pieces).
//!
//! Order: the deliveries of a batch keep the hub's order, and batches are
//! released in the order made, so every recipient still sees each sender's
//! messages in sending order. A batch with nothing to store goes out at once
//! when nothing before it is waiting, and after them otherwise.
//!
//! Replay on join: an [`Op::Replay`] (someone joined a room) is released
//! like a delivery, once everything before it is in SQLite, and hands the
//! reading of the room's recent history to a replay thread, so that a query
//! never holds up anyone else's delivery. Until the replay is back, what is
//! due to the joiner is held here, in order (bounded by its queue size: past
//! it, it is a slow consumer). The replay holds the messages up to the hub's
//! last msgid at the join, and whatever followed the join reaches the joiner
//! live, after the replay.
//!
//! The hub's notes ride in the same batches ([`Stage::note`]): a topic
//! change becomes a record like a message, a registered room's state an
//! [`Op::Room`] save, written by the applier after the records before it
//! (rare: one small write each).
//!
//! A background maintenance thread checkpoints the WAL (so the applier never
//! has to) and runs retention compaction, and a search indexer at the lowest
//! priority fills the full-text index; all of it off the delivery path.
//!
//! The store is reached through its traits, as trait objects: the stage
//! takes the whole store (`Arc<dyn Store>`, it starts every thread that
//! touches it) and hands each thread the one concern it uses: the applier
//! a `HistoryStore` and a `RoomStore`, the replay thread and maintenance a
//! `HistoryStore`, the indexer a `SearchStore`. Trait objects rather than
//! generics: every call blocks on a thread of its own and costs far more
//! than a virtual call (the applier makes one per large group), and a type
//! parameter would spread through the stage, the hub task and the server
//! for no gain. The embedded SQLite store is what runs; the tests also run
//! the stage on `MemoryStore`. The journal stays a concrete file
//! ([`JournalAt`]): it must be where the store reads it back at open.
//!
//! The parts, a file each: `stage` (the hub task's side: outbox, journal
//! append, hand-off), `release` (deliveries released in order, joiners
//! held behind their replay), `writer` (the fsync thread), `applier`
//! (journal into the store), `replay` (reading a joiner's history),
//! `rooms` (registered rooms to and from the store), `background`
//! (checkpoints, retention, the search indexer, thread priorities).
//!
//! This stage must not decide anything the hub decides, and must never drop
//! a delivery: a failed journal write or append is logged at error level
//! (the messages are still delivered; the log says they may be missing from
//! the history).

use std::time::Duration;

use chatroom_core::ConnId;
use chatroom_core::names::Name;
use chatroom_proto::Shared;
use chatroom_store::RoomState;

use crate::outbound::Outgoing;

mod applier;
mod background;
mod release;
mod replay;
mod rooms;
mod stage;
mod writer;

pub use background::retention;
pub use replay::Replayed;
pub use rooms::{saved_rooms, sync_room_limits};
pub use stage::Stage;

/// One step of a batch, in the hub's order.
pub enum Op {
    Attach {
        id: ConnId,
        out: Outgoing,
    },
    Detach {
        id: ConnId,
    },
    /// `author`: whose command this answers, if anyone's (what it sends
    /// its author is a reply, see `Fanout::set_author`).
    Deliver {
        to: ConnId,
        event: Shared,
        author: Option<ConnId>,
    },
    /// One event to several recipients, in this order: what consecutive
    /// deliveries of the same event become, so that a message to a room of
    /// fifty is one op, not fifty.
    DeliverMany {
        to: Vec<ConnId>,
        event: Shared,
        author: Option<ConnId>,
    },
    /// `to` joined `room` when `mark` was the newest msgid: its recent
    /// history (up to `mark`) goes to `to` before anything queued after this.
    Replay {
        to: ConnId,
        room: Name,
        mark: u64,
    },
    /// A registered room's state to save (or, `None`, to forget), after
    /// the records before it are in SQLite. Rare: one small write.
    Room(RoomSave),
    /// A history question to start once everything before it is in
    /// SQLite, so that it sees what its asker said just before.
    Read(Box<dyn FnOnce() + Send>),
}

/// A room's lasting state as the writer writes it, and the other small
/// saves of the `RoomStore` that ride the same way: a read marker.
pub enum RoomSave {
    Save(RoomState),
    Forget(String),
    Marker(chatroom_store::ReadMarker),
}

/// What the hub task hears from the stage's threads.
pub enum Heard {
    /// Every batch up to this number is in the journal: its deliveries
    /// may go.
    Committed(u64),
    /// Every batch up to this number is in SQLite: what reads the history
    /// after it may start.
    Applied(u64),
    Replayed(Replayed),
}

/// Batches queued for the writer before the hub task waits. Small: a
/// writer that falls behind should slow the hub down, not buffer without
/// end (what waits here for its commit is bounded by it too).
pub(super) const QUEUE: usize = 64;

/// Batches held for their commit at most before the hub task waits for
/// the writer (those with records are bounded by `QUEUE` already).
pub(super) const HELD_MAX: usize = 4 * QUEUE;

/// At most this many records are gathered into one commit, so one huge
/// group cannot delay the first deliveries in it for long.
pub(super) const GROUP_MAX: usize = 16 * 1024;

/// Groups queued for the applier before the writer waits (and, behind it,
/// the hub task): a bound on what is in the journal but not yet in SQLite.
pub(super) const APPLY_QUEUE: usize = 1024;

/// The applier waits for this many records before it commits, unless
/// something is waiting for the commit or [`APPLY_LINGER`] has passed:
/// large transactions write far fewer WAL bytes per record, and nothing on
/// the delivery path waits for them.
pub(super) const APPLY_MIN: usize = 4096;

/// At most this many records go into one SQLite transaction.
pub(super) const APPLY_MAX: usize = 64 * 1024;

/// How long the applier lets records gather before it commits them.
pub(super) const APPLY_LINGER: Duration = Duration::from_millis(50);

/// Where the stage keeps its journal: the directory the store reads it
/// back from at open (for the SQLite store, its data directory: see
/// `SqliteStore::open`), and whether each write is synced
/// (`fdatasync`) before its deliveries go out.
#[derive(Debug, Clone)]
pub struct JournalAt {
    pub dir: std::path::PathBuf,
    pub sync_every_write: bool,
}

#[cfg(test)]
mod tests;
