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
//! This stage must not decide anything the hub decides, and must never drop
//! a delivery: a failed journal write or append is logged at error level
//! (the messages are still delivered; the log says they may be missing from
//! the history).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::mpsc;

use chatroom_config::History;
use chatroom_core::names::Name;
use chatroom_core::registry::{Note, SavedRoom};
use chatroom_core::{ConnId, Event, MsgTarget, Outbox};
use chatroom_proto::{Envelope, Shared};
use chatroom_store::journal::{self, Journal};
use chatroom_store::{
    Anchor, HistoryQuery, HistoryStore, QueryTarget, Record, RecordKind, Retention, RoomState,
    RoomStore, SearchStore, Selector, Store,
};

use crate::fanout::Fanout;
use crate::outbound::Outgoing;

/// One step of a batch, in the hub's order.
pub enum Op {
    Attach {
        id: ConnId,
        out: Outgoing,
    },
    Detach {
        id: ConnId,
    },
    Deliver {
        to: ConnId,
        event: Shared,
    },
    /// One event to several recipients, in this order: what consecutive
    /// deliveries of the same event become, so that a message to a room of
    /// fifty is one op, not fifty.
    DeliverMany {
        to: Vec<ConnId>,
        event: Shared,
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

/// A room's lasting state as the writer writes it.
pub enum RoomSave {
    Save(RoomState),
    Forget(String),
}

/// What the writer thread is given: one batch's writes.
struct Write {
    batch: u64,
    records: Vec<Record>,
    rooms: Vec<RoomSave>,
    /// Something waits for this batch to be in SQLite (a room save, a
    /// replay or a history question behind it): no lingering.
    urgent: bool,
}

/// What the writer hands the applier: a group of batches, in the journal.
struct Apply {
    /// The last batch of the group.
    batch: u64,
    records: Vec<Record>,
    rooms: Vec<RoomSave>,
    urgent: bool,
    /// The journal segment holding the group's records.
    segment: u64,
}

/// A replay read by the replay thread (`event: None`: nothing to show).
pub struct Replayed {
    to: ConnId,
    ticket: u64,
    event: Option<Shared>,
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
const QUEUE: usize = 64;

/// Batches held for their commit at most before the hub task waits for
/// the writer (those with records are bounded by `QUEUE` already).
const HELD_MAX: usize = 4 * QUEUE;

/// At most this many records are gathered into one commit, so one huge
/// group cannot delay the first deliveries in it for long.
const GROUP_MAX: usize = 16 * 1024;

/// Groups queued for the applier before the writer waits (and, behind it,
/// the hub task): a bound on what is in the journal but not yet in SQLite.
const APPLY_QUEUE: usize = 1024;

/// The applier waits for this many records before it commits, unless
/// something is waiting for the commit or [`APPLY_LINGER`] has passed:
/// large transactions write far fewer WAL bytes per record, and nothing on
/// the delivery path waits for them.
const APPLY_MIN: usize = 4096;

/// At most this many records go into one SQLite transaction.
const APPLY_MAX: usize = 64 * 1024;

/// How long the applier lets records gather before it commits them.
const APPLY_LINGER: Duration = Duration::from_millis(50);

/// How often the WAL is checkpointed in the background.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// Where the stage puts a batch's records.
enum Journaling {
    /// To the writer thread, which writes and syncs them (with
    /// `sync_every_commit`).
    Thread(mpsc::Sender<Write>),
    /// Into the journal here, on the hub task (without).
    Inline(Box<Writer>),
    /// Nowhere: shut down.
    Closed,
}

/// A place reserved in the queue a batch goes to.
enum Permit {
    Writer(mpsc::OwnedPermit<Write>),
    Applier(mpsc::OwnedPermit<Apply>),
}

/// A batch's deliveries waiting for their writes.
struct Held {
    /// The number of the write this waits for.
    batch: u64,
    /// Waits for that write to be in SQLite, not only in the journal.
    after_apply: bool,
    ops: Vec<Op>,
}

/// Where the stage keeps its journal: the directory the store reads it
/// back from at open (for the SQLite store, its data directory: see
/// `SqliteStore::open`), and whether each write is synced
/// (`fdatasync`) before its deliveries go out.
#[derive(Debug, Clone)]
pub struct JournalAt {
    pub dir: std::path::PathBuf,
    pub sync_every_write: bool,
}

/// The hub task's side of the stage: it builds batches, sends their writes
/// to the writer thread, and releases their deliveries once committed.
pub struct Stage {
    /// Where a batch's records go.
    journaling: Journaling,
    ops: Vec<Op>,
    /// The messages of this batch to store: kept apart from `ops` (all of
    /// them go into the journal before any of the batch's deliveries, so
    /// their place among the ops does not matter), which spares a box and
    /// a sorting pass per message.
    records: Vec<Record>,
    /// The highest msgid turned into a record (or skipped by retention).
    recorded: u64,
    cfg: Arc<History>,
    /// Batches whose writes are not committed yet, oldest first.
    held: VecDeque<Held>,
    /// The number of the last batch sent to the writer.
    sent: u64,
    /// The number of the last batch the writer put in the journal.
    committed: u64,
    /// The number of the last batch the applier put in SQLite.
    applied: u64,
    heard: mpsc::UnboundedReceiver<Heard>,
    release: Release,
    /// How many recipients the last `DeliverMany` had.
    many_hint: usize,
    _maintenance: Maintenance,
}

impl Stage {
    /// Starts the writer, replay and maintenance threads on `store`, with
    /// the journal where `journal` says. `hold_max` bounds what is held for
    /// one connection while its replay is read (its queue size: past it, it
    /// is a slow consumer).
    pub fn start(
        store: Arc<dyn Store>,
        journal: JournalAt,
        cfg: Arc<History>,
        hold_max: usize,
    ) -> std::io::Result<Stage> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let (heard_tx, heard) = mpsc::unbounded_channel();
        let maintenance = Maintenance::start(store.clone(), store.clone(), &cfg)?;
        let (jobs, job_rx) = std_mpsc::channel();
        let reader = Replayer {
            history: store.clone(),
            cfg: cfg.clone(),
            back: heard_tx.clone(),
        };
        std::thread::Builder::new()
            .name("history-replay".into())
            .spawn(move || reader.run(job_rx))?;
        let syncs = journal.sync_every_write;
        let journal = Journal::start(&journal.dir, syncs).map_err(std::io::Error::other)?;
        let (apply_tx, apply_rx) = mpsc::channel(APPLY_QUEUE);
        let backlog = Arc::new(AtomicUsize::new(0));
        let applier = Applier {
            history: store.clone(),
            rooms: store,
            heard: heard_tx.clone(),
            journal_dir: journal.dir().to_path_buf(),
            backlog: backlog.clone(),
        };
        let applier = std::thread::Builder::new()
            .name("history-apply".into())
            .spawn(move || {
                background_priority();
                applier.run(apply_rx)
            })?;
        let writer = Writer {
            journal,
            apply: apply_tx,
            applier: applier.thread().clone(),
            backlog,
            heard: heard_tx,
        };
        // Without a sync per write, the journal is written here, on the
        // hub task: one `write(2)` into the page cache costs it less than
        // handing the batch to a thread and being woken when it is done,
        // and its deliveries go out at once. With one, the `fdatasync` is
        // worth a thread that gathers batches while it waits.
        let journaling = if syncs {
            std::thread::Builder::new()
                .name("history-writer".into())
                .spawn(move || writer.run(rx))?;
            Journaling::Thread(tx)
        } else {
            Journaling::Inline(Box::new(writer))
        };
        Ok(Stage {
            journaling,
            ops: Vec::new(),
            records: Vec::new(),
            recorded: 0,
            cfg,
            held: VecDeque::new(),
            sent: 0,
            committed: 0,
            applied: 0,
            heard,
            release: Release {
                fanout: Fanout::default(),
                jobs,
                waiting: HashMap::new(),
                next_ticket: 0,
                hold_max: hold_max.max(1),
            },
            many_hint: 0,
            _maintenance: maintenance,
        })
    }

    pub fn push(&mut self, op: Op) {
        self.ops.push(op);
    }
    /// Ends the batch: its writes go to the writer (waiting while its queue
    /// is full), its deliveries wait here until they are in the journal
    /// (and in SQLite, for a batch with a read or a room save), or go out
    /// at once when there is nothing to store and nothing waiting before
    /// them.
    /// Returns false when the writer is gone.
    pub async fn flush(&mut self) -> bool {
        if self.ops.is_empty() && self.records.is_empty() {
            return true;
        }
        // A stalled writer slows the hub down here, as a full writer queue
        // does, rather than let what is held for it grow. (Before the batch
        // is taken apart, so that a wait cut short loses nothing.)
        while self.held.len() >= HELD_MAX && self.applied < self.sent {
            if !self.hear_and_act().await {
                return false;
            }
        }
        // A place in the writer's queue first (waiting while it is full),
        // so that a wait cut short leaves the batch whole.
        let needs_write = !self.records.is_empty()
            || self
                .ops
                .iter()
                .any(|op| matches!(op, Op::Room(_) | Op::Replay { .. } | Op::Read(_)));
        let permit = match (&self.journaling, needs_write) {
            (_, false) => None,
            (Journaling::Thread(tx), true) => match tx.clone().reserve_owned().await {
                Ok(permit) => Some(Permit::Writer(permit)),
                Err(_) => {
                    tracing::error!("history writer is gone: nothing more is delivered or saved");
                    return false;
                }
            },
            (Journaling::Inline(w), true) => match w.apply.clone().reserve_owned().await {
                Ok(permit) => Some(Permit::Applier(permit)),
                Err(_) => {
                    tracing::error!("history applier is gone: nothing more is delivered or saved");
                    return false;
                }
            },
            (Journaling::Closed, true) => return false,
        };
        // The next batch is likely the size of this one: no regrowing.
        let next = Vec::with_capacity(self.ops.len().min(GROUP_MAX));
        let ops = std::mem::replace(&mut self.ops, next);
        let records_next = Vec::with_capacity(self.records.len().min(GROUP_MAX));
        let records = std::mem::replace(&mut self.records, records_next);
        let mut rooms = Vec::new();
        let mut deliveries = Vec::with_capacity(ops.len());
        // Reads (a replay, a history question) must see everything before
        // them, so they wait for SQLite, not only the journal; so does
        // whatever follows a room's saved state.
        let mut after_apply = false;
        for op in ops {
            match op {
                Op::Room(save) => {
                    after_apply = true;
                    rooms.push(save);
                }
                other => {
                    after_apply |= matches!(other, Op::Replay { .. } | Op::Read(_));
                    deliveries.push(other);
                }
            }
        }
        if records.is_empty() && !after_apply {
            if self.held.is_empty() {
                self.release.apply(deliveries);
                return true;
            }
            self.held.push_back(Held {
                batch: self.sent,
                after_apply: false,
                ops: deliveries,
            });
            return true;
        }
        if records.is_empty()
            && rooms.is_empty()
            && self.held.is_empty()
            && self.applied >= self.sent
        {
            // A read with nothing before it still to apply.
            self.release.apply(deliveries);
            return true;
        }
        // A write even when there is nothing to store: it tells the
        // applier not to linger over what is before it.
        let batch = self.sent + 1;
        match (permit, &mut self.journaling) {
            (Some(Permit::Writer(permit)), _) => {
                permit.send(Write {
                    batch,
                    records,
                    rooms,
                    urgent: after_apply,
                });
            }
            (Some(Permit::Applier(permit)), Journaling::Inline(w)) => {
                let segment = w.append(&records);
                let group = Apply {
                    batch,
                    records,
                    rooms,
                    urgent: after_apply,
                    segment,
                };
                w.hand_on(group, |g| {
                    permit.send(g);
                    true
                });
                self.committed = batch;
            }
            _ => return false,
        }
        self.sent = batch;
        if self.committed >= batch && !after_apply && self.held.is_empty() {
            self.release.apply(deliveries);
            return true;
        }
        self.held.push_back(Held {
            batch,
            after_apply,
            ops: deliveries,
        });
        true
    }

    /// The next thing the writer or the replay thread has to say; pending
    /// forever once they are gone. Cancel safe (for `select!`).
    pub async fn hear(&mut self) -> Heard {
        match self.heard.recv().await {
            Some(h) => h,
            None => std::future::pending().await,
        }
    }

    /// Acts on what was heard: releases the batches now written, or a
    /// replay.
    pub fn on(&mut self, heard: Heard) {
        match heard {
            Heard::Committed(upto) => self.committed = self.committed.max(upto),
            Heard::Applied(upto) => self.applied = self.applied.max(upto),
            Heard::Replayed(r) => {
                self.release.replayed(r.to, r.ticket, r.event);
                return;
            }
        }
        while let Some(front) = self.held.front()
            && front.batch <= self.committed
            && (!front.after_apply || front.batch <= self.applied)
        {
            if let Some(held) = self.held.pop_front() {
                self.release.apply(held.ops);
            }
        }
    }

    /// Waits for the next report and acts on it; false once the stage's
    /// threads are gone.
    async fn hear_and_act(&mut self) -> bool {
        match self.heard.recv().await {
            Some(heard) => {
                self.on(heard);
                true
            }
            None => false,
        }
    }

    /// Acts on everything heard so far, without waiting.
    pub fn on_all_heard(&mut self) {
        while let Ok(heard) = self.heard.try_recv() {
            self.on(heard);
        }
    }

    /// The slow consumers found since the last call, already cut off: the
    /// hub tells their rooms.
    pub fn take_cuts(&mut self) -> Vec<ConnId> {
        let cut = self.release.fanout.cut_slow();
        for id in &cut {
            self.release.waiting.remove(id);
        }
        cut
    }

    /// Waits until every batch sent is in SQLite and released.
    pub async fn settle(&mut self) {
        while self.applied < self.sent {
            if !self.hear_and_act().await {
                break;
            }
        }
    }

    /// Shuts down: everything queued is in SQLite and released, what is
    /// owed to connections waiting for a replay goes out without it, then
    /// everyone is told and every queue closed; the writer stops.
    pub async fn shutdown(&mut self, reason: &str) {
        self.flush().await;
        self.settle().await;
        // Batches with nothing to store held behind the last commit.
        while let Some(held) = self.held.pop_front() {
            self.release.apply(held.ops);
        }
        let waiting: Vec<ConnId> = self.release.waiting.keys().copied().collect();
        for id in waiting {
            self.release.give_up_waiting(id);
        }
        self.release.fanout.shutdown(reason);
        // The writer (or, inline, the applier) ends when its inbox closes.
        self.journaling = Journaling::Closed;
    }

    /// Turns one of the hub's notes into ops: a topic change becomes a
    /// record (stored and committed like a message, before anything queued
    /// after it is released), a registered room's state a save.
    pub fn note(&mut self, note: Note) {
        match note {
            Note::Topic {
                id,
                time,
                room,
                by,
                text,
            } => {
                let to = MsgTarget::Room(room);
                if self.keeps(&to) {
                    self.records.push(Record {
                        id,
                        time,
                        kind: RecordKind::Topic,
                        from: by,
                        to,
                        text,
                    });
                }
            }
            Note::SaveRoom(saved) => {
                let state = room_state(&self.cfg, saved);
                self.ops.push(Op::Room(RoomSave::Save(state)));
            }
            Note::ForgetRoom(name) => {
                // A room the configuration gives limits of its own keeps
                // its row for them (see `sync_room_limits`).
                let save = match self.cfg.room(&name) {
                    Some(_) => RoomSave::Save(RoomState {
                        limits: Some(self.cfg.limits_for(&name)),
                        ..unregistered(&name)
                    }),
                    None => RoomSave::Forget(name.to_string()),
                };
                self.ops.push(Op::Room(save));
            }
        }
    }

    fn keeps(&self, to: &MsgTarget) -> bool {
        match to {
            MsgTarget::Room(room) => self.cfg.limits_for(room).max_count != Some(0),
            MsgTarget::Nick(_) => self.cfg.max_count != Some(0),
            MsgTarget::Status(_) => false,
        }
    }
}

impl Stage {
    /// One event goes to many recipients; its record is made once, before
    /// its first delivery (ids only grow).
    fn record(&mut self, event: &Shared) {
        if let Some(Event::Message { id, to: target, .. }) = event.event()
            && *id > self.recorded
        {
            self.recorded = *id;
            if self.keeps(target)
                && let Some(rec) = event.event().and_then(Record::from_message)
            {
                self.records.push(rec);
            }
        }
    }
}

impl Outbox for Stage {
    type Env = Shared;

    fn wrap(&mut self, event: Event) -> Shared {
        Envelope::new(event)
    }

    fn send_all(&mut self, to: impl ExactSizeIterator<Item = ConnId>, event: &Shared) {
        if to.len() < 2 {
            for r in to {
                self.send(r, event);
            }
            return;
        }
        self.record(event);
        let all: Vec<ConnId> = to.collect();
        self.many_hint = all.len();
        self.ops.push(Op::DeliverMany {
            to: all,
            event: event.clone(),
        });
    }

    fn send(&mut self, to: ConnId, event: &Shared) {
        self.record(event);
        match self.ops.last_mut() {
            Some(Op::DeliverMany { to: all, event: e }) if Arc::ptr_eq(e, event) => {
                all.push(to);
                self.many_hint = all.len();
            }
            Some(Op::Deliver {
                to: first,
                event: e,
            }) if Arc::ptr_eq(e, event) => {
                // Sized like the last one: a room's messages go to the same
                // number of people, and growing by doubling copies each time.
                let mut all = Vec::with_capacity(self.many_hint.max(2));
                all.push(*first);
                all.push(to);
                let event = event.clone();
                if let Some(last) = self.ops.last_mut() {
                    *last = Op::DeliverMany { to: all, event };
                }
            }
            _ => self.ops.push(Op::Deliver {
                to,
                event: event.clone(),
            }),
        }
    }
}

/// A room's row with nothing in it but its name.
fn unregistered(name: &str) -> RoomState {
    RoomState {
        name: name.to_string(),
        topic: None,
        modes: String::new(),
        founder: None,
        registered: false,
        registered_at: None,
        limits: None,
    }
}

/// The store's row for a registered room (limits as the configuration says).
fn room_state(cfg: &History, saved: SavedRoom) -> RoomState {
    let limits = cfg.room(&saved.name).map(|_| cfg.limits_for(&saved.name));
    RoomState {
        name: saved.name.to_string(),
        topic: saved.topic,
        modes: saved.modes,
        founder: Some(saved.founder.to_string()),
        registered: true,
        registered_at: Some(saved.since),
        limits,
    }
}

/// The registered rooms of the store, for the hub to restore at start.
pub fn saved_rooms(store: &dyn RoomStore) -> Result<Vec<SavedRoom>, chatroom_store::StoreError> {
    Ok(store
        .load_rooms()?
        .into_iter()
        .filter(|r| r.registered)
        .filter_map(|r| {
            Some(SavedRoom {
                founder: r.founder?.into(),
                name: r.name.into(),
                topic: r.topic,
                modes: r.modes,
                since: r.registered_at.unwrap_or(std::time::UNIX_EPOCH),
            })
        })
        .collect())
}

/// The connections' queues and what is held for those waiting for a
/// replay: where committed batches are applied, on the hub task.
struct Release {
    fanout: Fanout,
    /// Replays for the replay thread to read.
    jobs: std_mpsc::Sender<Job>,
    /// Connections whose replay is being read: what they are owed, in order.
    waiting: HashMap<ConnId, VecDeque<Owed>>,
    next_ticket: u64,
    hold_max: usize,
}

/// What a connection waiting for a replay is owed.
enum Owed {
    /// A replay, filled in when read (`Some(None)`: read, nothing to show).
    Replay {
        ticket: u64,
        event: Option<Option<Shared>>,
    },
    Event(Shared),
}

impl Release {
    /// Applies a batch whose records are written: attaches, detaches,
    /// deliveries, replays to read.
    fn apply(&mut self, ops: Vec<Op>) {
        for op in ops {
            match op {
                Op::Attach { id, out } => self.fanout.attach(id, out),
                Op::Detach { id } => {
                    // What was due before the detach (its goodbye, say)
                    // still goes out, whatever became of the replay.
                    self.give_up_waiting(id);
                    self.fanout.detach(id);
                }
                Op::Deliver { to, event } => self.deliver(to, &event),
                Op::DeliverMany { to, event } => {
                    for to in to {
                        self.deliver(to, &event);
                    }
                }
                Op::Replay { to, room, mark } => {
                    self.next_ticket += 1;
                    let ticket = self.next_ticket;
                    self.waiting.entry(to).or_default().push_back(Owed::Replay {
                        ticket,
                        event: None,
                    });
                    let _ = self.jobs.send(Job {
                        to,
                        ticket,
                        room,
                        mark,
                    });
                }
                Op::Read(start) => start(),
                // Split off by `Stage::flush` before a batch is held.
                Op::Room(_) => {}
            }
        }
    }

    /// Sends `event` to `to`, or holds it while `to` waits for a replay.
    fn deliver(&mut self, to: ConnId, event: &Shared) {
        match self.waiting.get_mut(&to) {
            None => self.fanout.send(to, event),
            Some(owed) if owed.len() < self.hold_max => owed.push_back(Owed::Event(event.clone())),
            Some(_) => {
                self.waiting.remove(&to);
                self.fanout.mark_slow(to);
            }
        }
    }

    /// Stops waiting for `id`'s replays: what is owed goes out now, in
    /// order, with the replays already read; unread ones are dropped.
    fn give_up_waiting(&mut self, id: ConnId) {
        for o in self.waiting.remove(&id).unwrap_or_default() {
            match o {
                Owed::Event(e)
                | Owed::Replay {
                    event: Some(Some(e)),
                    ..
                } => self.fanout.send(id, &e),
                Owed::Replay { .. } => {}
            }
        }
    }

    /// Fills in a replay that was read, then sends what is owed up to the
    /// next replay still being read.
    fn replayed(&mut self, to: ConnId, ticket: u64, event: Option<Shared>) {
        let Some(owed) = self.waiting.get_mut(&to) else {
            // Gone (or cut off) meanwhile.
            return;
        };
        let mut event = Some(event);
        for o in owed.iter_mut() {
            if let Owed::Replay {
                ticket: t,
                event: slot,
            } = o
                && *t == ticket
            {
                *slot = event.take();
                break;
            }
        }
        while let Some(front) = owed.front() {
            if matches!(front, Owed::Replay { event: None, .. }) {
                return;
            }
            match owed.pop_front() {
                Some(Owed::Event(e)) => self.fanout.send(to, &e),
                Some(Owed::Replay {
                    event: Some(Some(e)),
                    ..
                }) => self.fanout.send(to, &e),
                _ => {}
            }
        }
        self.waiting.remove(&to);
    }
}

/// The journal writer: puts a batch's records in the journal and hands
/// them to the applier; on a thread of its own ([`Writer::run`], with
/// `sync_every_commit`, saying when each group is written) or on the hub
/// task ([`Journaling::Inline`]).
struct Writer {
    journal: Journal,
    apply: mpsc::Sender<Apply>,
    /// Woken when a group is urgent or enough has queued up; otherwise it
    /// lingers undisturbed.
    applier: std::thread::Thread,
    /// Groups sent to the applier and not yet taken.
    backlog: Arc<AtomicUsize>,
    heard: mpsc::UnboundedSender<Heard>,
}

impl Writer {
    fn run(mut self, mut rx: mpsc::Receiver<Write>) {
        while let Some(first) = rx.blocking_recv() {
            // Group commit: whatever queued up while the last write ran
            // goes into this one.
            let mut last = first.batch;
            let mut urgent = first.urgent;
            let mut records = first.records;
            let mut rooms = first.rooms;
            while records.len() < GROUP_MAX {
                match rx.try_recv() {
                    Ok(more) => {
                        last = more.batch;
                        urgent |= more.urgent;
                        records.extend(more.records);
                        rooms.extend(more.rooms);
                    }
                    Err(_) => break,
                }
            }
            let segment = self.append(&records);
            if self.heard.send(Heard::Committed(last)).is_err() {
                return;
            }
            let group = Apply {
                batch: last,
                records,
                rooms,
                urgent,
                segment,
            };
            if !self.hand_on(group, |g| self.apply.blocking_send(g).is_ok()) {
                return;
            }
        }
    }

    /// Writes `records` to the journal; the segment holding them (0 for
    /// none). A failure is logged, never returned: delivery goes on.
    fn append(&mut self, records: &[Record]) -> u64 {
        if records.is_empty() {
            return 0;
        }
        match self.journal.append(records) {
            Ok(segment) => segment,
            Err(e) => {
                // A chat that stops because the disk is full helps nobody.
                // But the risk is loud.
                tracing::error!(
                    first_id = records.first().map_or(0, |r| r.id),
                    last_id = records.last().map_or(0, |r| r.id),
                    "history: {} message(s) could NOT be written to the journal \
                     (is the disk full or the data directory unwritable?); they are \
                     lost from the history if the server dies before they reach \
                     the database: {e}",
                    records.len()
                );
                0
            }
        }
    }

    /// Gives a written group to the applier with `send` (false: the
    /// applier is gone), waking it for an urgent group, or before its queue
    /// fills and whoever sends would wait on it.
    fn hand_on(&self, group: Apply, send: impl FnOnce(Apply) -> bool) -> bool {
        let urgent = group.urgent;
        // Counted before it is sent, so the applier never takes a group it
        // has not been told of.
        let queued = self.backlog.fetch_add(1, Ordering::Relaxed) + 1;
        if !send(group) {
            return false;
        }
        if urgent || queued >= APPLY_QUEUE / 4 {
            self.applier.unpark();
        }
        true
    }
}

/// The applier thread: copies what is in the journal into SQLite in large
/// transactions, says so, and deletes the journal segments it has copied.
struct Applier {
    history: Arc<dyn HistoryStore>,
    rooms: Arc<dyn RoomStore>,
    heard: mpsc::UnboundedSender<Heard>,
    journal_dir: std::path::PathBuf,
    /// Groups sent and not yet taken (see `Writer::backlog`).
    backlog: Arc<AtomicUsize>,
}

/// What the applier gathers into one transaction.
#[derive(Default)]
struct Gathered {
    last: u64,
    urgent: bool,
    records: Vec<Record>,
    rooms: Vec<RoomSave>,
    /// The newest journal segment holding any of it.
    segment: u64,
    /// How many groups it came in.
    groups: usize,
}

impl Gathered {
    fn take(&mut self, g: Apply) {
        self.last = g.batch;
        self.urgent |= g.urgent;
        self.records.extend(g.records);
        self.rooms.extend(g.rooms);
        self.segment = self.segment.max(g.segment);
        self.groups += 1;
    }
}

impl Applier {
    fn run(self, mut rx: mpsc::Receiver<Apply>) {
        let mut got = Gathered::default();
        let mut open = true;
        let mut removed_below = 0;
        while open {
            match rx.blocking_recv() {
                Some(g) => got.take(g),
                None => break,
            }
            let since = Instant::now();
            // What is queued joins at once; then, unless someone waits for
            // this commit or enough is here, whatever comes in the linger.
            // Parked rather than blocked on the channel: a receiver blocked
            // in `recv` is woken by every group sent, and those wake-ups
            // were a tenth of the writer's time. The writer unparks this
            // thread for an urgent group only.
            while got.records.len() < APPLY_MAX {
                match rx.try_recv() {
                    Ok(g) => {
                        got.take(g);
                        continue;
                    }
                    Err(mpsc::error::TryRecvError::Disconnected) => {
                        open = false;
                        break;
                    }
                    Err(mpsc::error::TryRecvError::Empty) => {}
                }
                let wait = APPLY_LINGER.saturating_sub(since.elapsed());
                if got.urgent
                    || got.records.len() >= APPLY_MIN
                    || got.groups >= APPLY_QUEUE / 4
                    || wait.is_zero()
                {
                    break;
                }
                std::thread::park_timeout(wait);
            }
            self.backlog.fetch_sub(got.groups, Ordering::Relaxed);
            got.groups = 0;
            if !got.records.is_empty() {
                self.commit(&got.records);
                got.records.clear();
            }
            for save in got.rooms.drain(..) {
                self.save_room(save);
            }
            got.urgent = false;
            if self.heard.send(Heard::Applied(got.last)).is_err() {
                return;
            }
            // Every segment before the newest one this group touched is
            // wholly in SQLite now.
            if got.segment > removed_below {
                self.remove_segments_before(got.segment);
                removed_below = got.segment;
            }
        }
        // The writer is gone and everything it wrote is copied.
        if got.segment > 0 {
            self.remove_segments_before(got.segment + 1);
        }
    }

    fn remove_segments_before(&self, segment: u64) {
        if let Err(e) = journal::remove_before(&self.journal_dir, segment) {
            tracing::warn!("history: could not delete copied journal segments: {e}");
        }
    }

    fn save_room(&self, save: RoomSave) {
        let (name, result) = match &save {
            RoomSave::Save(state) => (&state.name, self.rooms.save_room(state)),
            RoomSave::Forget(name) => (name, self.rooms.forget_room(name)),
        };
        if let Err(e) = result {
            // The room goes on as it is; only a restart would lose the change.
            tracing::error!("rooms: could NOT save the state of {name}: {e}");
        }
    }

    fn commit(&self, records: &[Record]) {
        if let Err(e) = self.history.append(records) {
            let first = records.first().map_or(0, |r| r.id);
            let last = records.last().map_or(0, |r| r.id);
            let hint = if e.is_disk_problem() {
                " (is the disk full or the data directory unwritable?)"
            } else {
                ""
            };
            // Delivery goes on: a chat that stops because the disk is full
            // helps nobody. But the loss is never silent.
            tracing::error!(
                first_id = first,
                last_id = last,
                "history: {} message(s) could NOT be saved and are missing from the history{hint}: {e}",
                records.len()
            );
        }
    }
}

/// A replay to read.
struct Job {
    to: ConnId,
    ticket: u64,
    room: Name,
    mark: u64,
}

/// The replay thread: reads a room's recent history for whoever joined, off
/// the hub task and the writer, and hands it back to the hub task.
struct Replayer {
    history: Arc<dyn HistoryStore>,
    cfg: Arc<History>,
    back: mpsc::UnboundedSender<Heard>,
}

impl Replayer {
    fn run(self, jobs: std_mpsc::Receiver<Job>) {
        while let Ok(job) = jobs.recv() {
            let event = self.read(&job.room, job.mark).map(|lines| {
                Envelope::new(Event::History {
                    room: job.room.clone(),
                    lines,
                })
            });
            let done = Heard::Replayed(Replayed {
                to: job.to,
                ticket: job.ticket,
                event,
            });
            if self.back.send(done).is_err() {
                return;
            }
        }
    }

    /// The newest replay lines of `room` with msgids up to `mark` (messages
    /// after the join reach the joiner live), oldest first; `None` when
    /// there are none.
    fn read(&self, room: &Name, mark: u64) -> Option<Vec<Event>> {
        let (lines, hours) = self.cfg.replay_for(room);
        if lines == 0 {
            return None;
        }
        let after = hours
            .and_then(|h| {
                SystemTime::now().checked_sub(Duration::from_secs(h.saturating_mul(3600)))
            })
            .map(Anchor::Time);
        // Messages committed after the join are left out; ask for a few
        // more than needed so that usually one query suffices.
        let mut extra = 16;
        loop {
            let want = lines + extra;
            let query = HistoryQuery {
                requester: String::new(),
                target: QueryTarget::Room(room.to_string()),
                selector: Selector::Latest { after },
                limit: want,
            };
            let records = match self.history.query(&query) {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!("history: cannot replay {room}: {e}");
                    return None;
                }
            };
            let complete = records.len() < want || want >= chatroom_store::DEFAULT_MAX_LIMIT;
            let mut kept: Vec<Record> = records.into_iter().filter(|r| r.id <= mark).collect();
            if kept.len() >= lines || complete {
                let cut = kept.len().saturating_sub(lines);
                kept.drain(..cut);
                let lines: Vec<Event> = kept.iter().filter_map(Record::to_event).collect();
                return (!lines.is_empty()).then_some(lines);
            }
            extra = extra.saturating_mul(4);
        }
    }
}

/// Makes the store's per-room limits match the configuration, so that
/// compaction and the store's "keep nothing" rooms follow the file. Rooms
/// the file no longer names go back to the server-wide limits.
pub fn sync_room_limits(
    store: &dyn RoomStore,
    cfg: &History,
) -> Result<(), chatroom_store::StoreError> {
    let saved = store.load_rooms()?;
    for state in &saved {
        if state.limits.is_some() && cfg.room(&state.name).is_none() {
            store.save_room(&RoomState {
                limits: None,
                ..state.clone()
            })?;
        }
    }
    for name in cfg.rooms.keys() {
        let limits = cfg.limits_for(name);
        let state = match saved
            .iter()
            .find(|s| chatroom_core::names::same(&s.name, name))
        {
            Some(s) if s.limits == Some(limits) => continue,
            Some(s) => RoomState {
                limits: Some(limits),
                ..s.clone()
            },
            None => RoomState {
                limits: Some(limits),
                ..unregistered(name)
            },
        };
        store.save_room(&state)?;
    }
    Ok(())
}

/// The server-wide retention policy.
pub fn retention(cfg: &History) -> Retention {
    let limits = cfg.server_limits();
    Retention {
        rooms: limits,
        private: limits,
        ..Retention::default()
    }
}

/// The background thread that checkpoints and compacts, and the one that
/// fills the search index. Both stop when this is dropped.
struct Maintenance {
    stop: Option<std_mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    indexer: Option<Indexer>,
}

/// Puts the calling thread in the idle scheduling class (Linux
/// `SCHED_IDLE`): it runs only when nothing else of ours (or anyone's) wants
/// the CPU, and a waking delivery thread preempts it at once. Where that is
/// refused, nice 19. Neither needs privileges (both only lower priority).
fn lowest_priority() {
    if sched_idle() {
        return;
    }
    let me = rustix::thread::gettid();
    if let Err(e) = rustix::process::setpriority_process(Some(me), 19) {
        tracing::debug!("history: search indexer keeps normal priority: {e}");
    }
}

/// `sched_setscheduler(0, SCHED_IDLE)`: whether the calling thread is now
/// in the idle class. The one call into libc of this crate: rustix has no
/// wrapper for it (it leaves the scheduler calls to libc).
#[allow(unsafe_code)]
fn sched_idle() -> bool {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: the kernel reads one `sched_param` through the pointer during
    // the call and keeps nothing; `param` is an initialised local that
    // outlives the call. pid 0 is the calling thread, and the call changes
    // nothing but its scheduling class.
    unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) == 0 }
}

/// Lowers the calling thread's priority to nice [`BACKGROUND_NICE`]: for
/// work that must keep up but that nobody waits for (copying the journal
/// into SQLite, checkpoints). It then takes mostly the CPU that delivery
/// leaves idle, yet still a fair share when there is none (unlike
/// `SCHED_IDLE`, under which a saturated server would starve it, and the
/// journal back up until the hub task waits).
fn background_priority() {
    let me = rustix::thread::gettid();
    if let Err(e) = rustix::process::setpriority_process(Some(me), BACKGROUND_NICE) {
        tracing::debug!("history: background thread keeps normal priority: {e}");
    }
}

/// The niceness of [`background_priority`] threads: a tenth of the weight of
/// a normal thread.
const BACKGROUND_NICE: i32 = 10;

/// How often the search indexer looks for rows to index.
const INDEX_EVERY: Duration = Duration::from_millis(500);

/// The search indexer: adds stored rows to the full-text index behind the
/// writer, at the lowest scheduling priority there is (`SCHED_IDLE`), so
/// that on a busy machine it takes the CPU only when delivery leaves some.
/// It may fall behind under a long flood; a search catches the index up
/// itself before it looks (see `store/search.rs`), so results never lag.
struct Indexer {
    stop: std_mpsc::Sender<()>,
}

impl Indexer {
    fn start(search: Arc<dyn SearchStore>) -> std::io::Result<Indexer> {
        let (stop, stopped) = std_mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("history-search".into())
            .spawn(move || {
                lowest_priority();
                loop {
                    match stopped.recv_timeout(INDEX_EVERY) {
                        Err(std_mpsc::RecvTimeoutError::Timeout) => {}
                        _ => return,
                    }
                    loop {
                        match search.index_search(chatroom_store::SEARCH_PASS_ROWS) {
                            Ok(0) => break,
                            Ok(_) => {}
                            Err(e) => {
                                tracing::error!("history: search indexing failed: {e}");
                                break;
                            }
                        }
                        if !matches!(stopped.try_recv(), Err(std_mpsc::TryRecvError::Empty)) {
                            return;
                        }
                    }
                }
            })?;
        Ok(Indexer { stop })
    }
}

impl Maintenance {
    fn start(
        history: Arc<dyn HistoryStore>,
        search: Arc<dyn SearchStore>,
        cfg: &History,
    ) -> std::io::Result<Maintenance> {
        let (stop, stopped) = std_mpsc::channel::<()>();
        let policy = retention(cfg);
        let every = cfg.compact_interval();
        let thread = std::thread::Builder::new()
            .name("history-maintenance".into())
            .spawn(move || {
                background_priority();
                let mut next_compaction = Instant::now() + every;
                loop {
                    match stopped.recv_timeout(CHECKPOINT_EVERY) {
                        Err(std_mpsc::RecvTimeoutError::Timeout) => {}
                        _ => return,
                    }
                    if let Err(e) = history.checkpoint() {
                        tracing::error!("history: checkpoint failed: {e}");
                    }
                    if Instant::now() >= next_compaction {
                        next_compaction = Instant::now() + every;
                        match history.compact(&policy, SystemTime::now()) {
                            Ok(s) if s.by_age + s.by_count > 0 => tracing::info!(
                                by_age = s.by_age,
                                by_count = s.by_count,
                                "history: compaction deleted {} message(s)",
                                s.by_age + s.by_count
                            ),
                            Ok(_) => tracing::debug!("history: compaction found nothing to delete"),
                            Err(e) => tracing::error!("history: compaction failed: {e}"),
                        }
                    }
                }
            })?;
        Ok(Maintenance {
            stop: Some(stop),
            thread: Some(thread),
            indexer: Some(Indexer::start(search)?),
        })
    }
}

impl Drop for Maintenance {
    fn drop(&mut self) {
        // Not joined: the hub task must not block, and a compaction cut
        // short by the process ending loses nothing (each step is a
        // transaction of its own).
        drop(self.stop.take());
        drop(self.thread.take());
        if let Some(indexer) = self.indexer.take() {
            drop(indexer.stop);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::outbound::{self, Incoming};
    use chatroom_core::{MsgKind, UserInfo};
    use chatroom_store::{MemoryStore, SqliteStore};

    struct Dir(PathBuf);

    impl Dir {
        fn new(name: &str) -> Dir {
            let nanos = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            let dir = std::env::temp_dir().join(format!(
                "chatroom-persist-{name}-{}-{nanos}",
                std::process::id()
            ));
            std::fs::create_dir_all(&dir).expect("temp dir");
            Dir(dir)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// The journal in `dir`, where the SQLite store opened there reads it.
    fn journal_in(dir: &Dir) -> JournalAt {
        JournalAt {
            dir: dir.0.clone(),
            sync_every_write: false,
        }
    }

    fn journal_synced(dir: &Dir) -> JournalAt {
        JournalAt {
            sync_every_write: true,
            ..journal_in(dir)
        }
    }

    fn message(id: u64, text: &str) -> Shared {
        message_in(id, "#r", text)
    }

    fn message_in(id: u64, room: &str, text: &str) -> Shared {
        Envelope::new(Event::Message {
            id,
            time: SystemTime::now(),
            from: Arc::new(UserInfo {
                nick: "alice".into(),
                user: "alice".into(),
                realname: "alice".into(),
                host: "127.0.0.1".into(),
                account: None,
            }),
            to: MsgTarget::Room(room.into()),
            kind: MsgKind::Say,
            text: text.into(),
            tags: Vec::new(),
        })
    }

    /// What the hub task does between batches: waits for the commits, and
    /// for the replays being read.
    async fn settle_all(stage: &mut Stage) {
        stage.settle().await;
        while !stage.release.waiting.is_empty() {
            let heard = stage.hear().await;
            stage.on(heard);
        }
    }

    fn attach(stage: &mut Stage, id: ConnId) -> Incoming {
        let (out, rx) = outbound::queue(64);
        stage.push(Op::Attach { id, out });
        rx
    }

    fn stored(store: &dyn HistoryStore) -> Vec<String> {
        store
            .query(&HistoryQuery {
                requester: String::new(),
                target: QueryTarget::Room("#r".into()),
                selector: Selector::Latest { after: None },
                limit: 100,
            })
            .expect("query")
            .into_iter()
            .map(|r| r.text.to_string())
            .collect()
    }

    fn text_of(ev: &Event) -> String {
        match ev {
            Event::Message { text, .. } => text.to_string(),
            other => format!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_delivery_arrives_only_after_its_record_is_stored() {
        let dir = Dir::new("order");
        let store = Arc::new(SqliteStore::open(&dir.0).expect("open"));
        let mut stage = Stage::start(
            store.clone(),
            journal_in(&dir),
            Arc::new(History::default()),
            64,
        )
        .expect("start");
        let rx = attach(&mut stage, 1);
        for (id, text) in [(1, "one"), (2, "two"), (3, "three")] {
            // The same event to two recipients makes one record.
            stage.send(1, &message(id, text));
            stage.send(2, &message(id, text));
        }
        assert!(stage.flush().await);
        settle_all(&mut stage).await;
        for want in ["one", "two", "three"] {
            let got = rx.recv().await.expect("delivery");
            assert_eq!(text_of(got.event().expect("an event")), want);
            // Already in the store when it arrives.
            assert!(stored(&*store).contains(&want.to_string()));
        }
        assert_eq!(stored(&*store), ["one", "two", "three"]);
    }

    #[tokio::test]
    async fn a_stored_message_is_in_the_journal_before_anyone_receives_it() {
        let dir = Dir::new("journal-first");
        let store = Arc::new(SqliteStore::open(&dir.0).expect("open"));
        let mut stage = Stage::start(
            store.clone(),
            journal_in(&dir),
            Arc::new(History::default()),
            64,
        )
        .expect("start");
        let rx = attach(&mut stage, 1);
        stage.send(1, &message(1, "stored"));
        assert!(stage.flush().await);
        // Out at once (the journal is written on the flush)...
        assert!(!rx.is_empty(), "not released after its journal write");
        // ...and what was released is in the journal, whatever SQLite has.
        let (journaled, _) = chatroom_store::journal::recover(&dir.0).expect("journal");
        assert_eq!(journaled.iter().map(|r| r.id).collect::<Vec<_>>(), vec![1]);
        assert_eq!(
            text_of(rx.recv().await.expect("1").event().expect("an event")),
            "stored"
        );
        settle_all(&mut stage).await;
        assert_eq!(stored(&*store), ["stored"]);
    }

    #[tokio::test]
    async fn with_a_sync_per_write_deliveries_wait_for_the_writer_thread() {
        let dir = Dir::new("sync");
        let opts = chatroom_store::StoreOptions {
            sync_every_commit: true,
            ..Default::default()
        };
        let store = Arc::new(SqliteStore::open_with(&dir.0, opts).expect("open"));
        let mut stage = Stage::start(
            store.clone(),
            journal_synced(&dir),
            Arc::new(History::default()),
            64,
        )
        .expect("start");
        let rx = attach(&mut stage, 1);
        // Nothing stored, nothing held: out at once.
        stage.send(1, &Envelope::new(Event::ServerNotice { text: "hi".into() }));
        assert!(stage.flush().await);
        assert!(!rx.is_empty(), "released without waiting for any write");
        let _ = rx.recv().await;
        stage.send(1, &message(1, "stored"));
        assert!(stage.flush().await);
        stage.send(
            1,
            &Envelope::new(Event::ServerNotice {
                text: "after".into(),
            }),
        );
        assert!(stage.flush().await);
        // Until the hub task hears of the synced write, neither goes out.
        assert!(rx.is_empty());
        settle_all(&mut stage).await;
        assert_eq!(
            text_of(rx.recv().await.expect("1").event().expect("an event")),
            "stored"
        );
        let second = rx.recv().await.expect("2");
        assert!(
            matches!(second.event().expect("an event"), Event::ServerNotice { text } if &**text == "after"),
            "{second:?}"
        );
        assert_eq!(stored(&*store), ["stored"]);
    }

    #[tokio::test]
    async fn a_batch_with_nothing_to_store_waits_behind_one_that_waits_for_sqlite() {
        let dir = Dir::new("behind");
        let store = Arc::new(SqliteStore::open(&dir.0).expect("open"));
        let mut stage = Stage::start(
            store.clone(),
            journal_in(&dir),
            Arc::new(History::default()),
            64,
        )
        .expect("start");
        let rx = attach(&mut stage, 1);
        stage.send(1, &message(1, "stored"));
        assert!(stage.flush().await);
        let _ = rx.recv().await;
        // A room save waits for SQLite, and what follows it waits too.
        stage.push(Op::Room(RoomSave::Save(RoomState {
            founder: Some("ann".into()),
            registered: true,
            ..unregistered("#kept")
        })));
        stage.send(
            1,
            &Envelope::new(Event::ServerNotice {
                text: "saved".into(),
            }),
        );
        assert!(stage.flush().await);
        stage.send(
            1,
            &Envelope::new(Event::ServerNotice {
                text: "after".into(),
            }),
        );
        assert!(stage.flush().await);
        // Until the hub task hears that SQLite has them, neither goes out.
        assert!(rx.is_empty());
        settle_all(&mut stage).await;
        for want in ["saved", "after"] {
            let got = rx.recv().await.expect("notice");
            assert!(
                matches!(got.event().expect("an event"), Event::ServerNotice { text } if &**text == want),
                "{got:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_stalled_database_holds_up_no_delivery_until_its_queue_is_full() {
        let dir = Dir::new("stall");
        let store = Arc::new(SqliteStore::open(&dir.0).expect("open"));
        let mut stage = Stage::start(
            store.clone(),
            journal_in(&dir),
            Arc::new(History::default()),
            64,
        )
        .expect("start");
        const LIMIT: u64 = 20_000;
        let (out, rx) = outbound::queue(LIMIT as usize + 16);
        stage.push(Op::Attach { id: 1, out });
        // Another connection holds the database's write lock: the
        // applier's commit waits (up to its busy timeout of seconds).
        let blocker = rusqlite::Connection::open(dir.0.join(chatroom_store::DB_FILE)).expect("db");
        blocker.execute_batch("BEGIN IMMEDIATE").expect("lock");
        stage.send(1, &message(1, "first"));
        assert!(stage.flush().await);
        settle_commits(&mut stage, 1).await;
        // In the journal, so delivered, though not in the database yet.
        assert_eq!(
            text_of(rx.recv().await.expect("first").event().expect("an event")),
            "first"
        );
        // What waits for the database is bounded: the hub task stops.
        let mut sent = 1;
        let mut stalled = false;
        while sent < LIMIT {
            sent += 1;
            stage.send(1, &message(sent, "more"));
            // A flush still waiting after 200 ms is taken to be held up:
            // a wait shows only as a return that does not come, which no
            // event marks. A slow machine can only make the loop stop
            // sooner, with fewer sent; nothing below depends on where.
            match tokio::time::timeout(Duration::from_millis(200), stage.flush()).await {
                Ok(done) => assert!(done),
                Err(_) => {
                    stalled = true;
                    break;
                }
            }
            stage.on_all_heard();
        }
        assert!(stalled, "flush never waited for the stalled database");
        blocker.execute_batch("COMMIT").expect("unlock");
        // The batch the cut-short flush did not take is still there.
        assert!(stage.flush().await);
        settle_all(&mut stage).await;
        let mut got = 1;
        while !rx.is_empty() {
            let d = rx.recv().await.expect("delivery");
            assert_eq!(text_of(d.event().expect("an event")), "more");
            got += 1;
        }
        assert_eq!(got, sent);
        let db = rusqlite::Connection::open(dir.0.join(chatroom_store::DB_FILE)).expect("db");
        let in_db: i64 = db
            .query_row(
                "SELECT (SELECT coalesce(sum(n), 0) FROM pages) + (SELECT count(*) FROM messages)",
                [],
                |r| r.get(0),
            )
            .expect("count");
        assert_eq!(in_db, sent as i64);
    }

    #[tokio::test]
    async fn a_room_save_alone_in_a_batch_is_written_before_its_deliveries() {
        let dir = Dir::new("roomsave");
        let store = Arc::new(SqliteStore::open(&dir.0).expect("open"));
        let mut stage = Stage::start(
            store.clone(),
            journal_in(&dir),
            Arc::new(History::default()),
            64,
        )
        .expect("start");
        let (out, rx) = outbound::queue(16);
        stage.push(Op::Attach { id: 1, out });
        assert!(stage.flush().await);
        settle_all(&mut stage).await;
        // Nothing is waiting, nothing to store: only the save.
        stage.push(Op::Room(RoomSave::Save(RoomState {
            founder: Some("ann".into()),
            registered: true,
            ..unregistered("#kept")
        })));
        stage.send(
            1,
            &Envelope::new(Event::ServerNotice {
                text: "registered".into(),
            }),
        );
        assert!(stage.flush().await);
        let got = loop {
            if !rx.is_empty() {
                break rx.recv().await.expect("reply");
            }
            let heard = stage.hear().await;
            stage.on(heard);
        };
        assert!(
            matches!(got.event().expect("an event"), Event::ServerNotice { text } if &**text == "registered")
        );
        let rooms = store.load_rooms().expect("rooms");
        assert!(
            rooms.iter().any(|r| r.name == "#kept" && r.registered),
            "{rooms:?}"
        );
    }

    /// Waits until batch `upto` is in the journal.
    async fn settle_commits(stage: &mut Stage, upto: u64) {
        while stage.committed < upto {
            let heard = stage.hear().await;
            stage.on(heard);
        }
    }

    #[tokio::test]
    async fn a_replay_holds_exactly_what_came_before_the_join() {
        let dir = Dir::new("replay");
        let store = Arc::new(SqliteStore::open(&dir.0).expect("open"));
        let mut stage = Stage::start(
            store.clone(),
            journal_in(&dir),
            Arc::new(History::default()),
            64,
        )
        .expect("start");
        let rx = attach(&mut stage, 7);
        // One batch: a message, the join, a message after the join.
        stage.send(1, &message(1, "before"));
        stage.push(Op::Replay {
            to: 7,
            room: "#r".into(),
            mark: 1,
        });
        stage.send(7, &message(2, "after"));
        assert!(stage.flush().await);
        settle_all(&mut stage).await;
        let replay = rx.recv().await.expect("replay");
        match replay.event().expect("an event") {
            Event::History { room, lines } => {
                assert_eq!(&**room, "#r");
                let texts: Vec<String> = lines.iter().map(text_of).collect();
                assert_eq!(texts, ["before"]);
            }
            other => panic!("expected the replay first, got {other:?}"),
        }
        let live = rx.recv().await.expect("live");
        assert_eq!(text_of(live.event().expect("an event")), "after");
    }

    #[tokio::test]
    async fn a_failed_append_does_not_stop_delivery() {
        let dir = Dir::new("fail");
        let store = Arc::new(SqliteStore::open(&dir.0).expect("open"));
        let mut stage = Stage::start(
            store.clone(),
            journal_in(&dir),
            Arc::new(History::default()),
            64,
        )
        .expect("start");
        let rx = attach(&mut stage, 1);
        stage.send(1, &message(5, "first"));
        assert!(stage.flush().await);
        settle_all(&mut stage).await;
        assert_eq!(
            text_of(rx.recv().await.expect("first").event().expect("an event")),
            "first"
        );
        // A stage that lost its seed would reuse an id: the store refuses
        // the batch, the recipients still get the message.
        let mut again = Stage::start(
            store.clone(),
            journal_in(&dir),
            Arc::new(History::default()),
            64,
        )
        .expect("start");
        let rx2 = attach(&mut again, 2);
        again.send(2, &message(5, "clash"));
        assert!(again.flush().await);
        settle_all(&mut again).await;
        assert_eq!(
            text_of(rx2.recv().await.expect("clash").event().expect("an event")),
            "clash"
        );
        assert_eq!(stored(&*store), ["first"]);
    }

    #[tokio::test]
    async fn rooms_that_keep_nothing_are_never_written() {
        let dir = Dir::new("silent");
        let store = Arc::new(SqliteStore::open(&dir.0).expect("open"));
        let mut cfg = History::default();
        cfg.rooms.insert(
            "#R".into(),
            chatroom_config::RoomHistory {
                max_count: Some(0),
                ..Default::default()
            },
        );
        sync_room_limits(&*store, &cfg).expect("sync");
        let mut stage =
            Stage::start(store.clone(), journal_in(&dir), Arc::new(cfg), 64).expect("start");
        let rx = attach(&mut stage, 1);
        stage.send(1, &message(1, "gone"));
        assert!(stage.flush().await);
        settle_all(&mut stage).await;
        assert_eq!(
            text_of(
                rx.recv()
                    .await
                    .expect("delivery")
                    .event()
                    .expect("an event")
            ),
            "gone"
        );
        assert!(stored(&*store).is_empty());
        // Removing the override from the configuration lifts it.
        sync_room_limits(&*store, &History::default()).expect("sync");
        let rooms = store.load_rooms().expect("rooms");
        assert!(rooms.iter().all(|r| r.limits.is_none()), "{rooms:?}");
    }

    fn saved(name: &str) -> Note {
        Note::SaveRoom(SavedRoom {
            name: name.into(),
            topic: None,
            modes: "+nt".into(),
            founder: "alice".into(),
            since: SystemTime::UNIX_EPOCH + Duration::from_secs(1_000),
        })
    }

    #[tokio::test]
    async fn notes_become_room_saves_and_topic_records_in_order() {
        let dir = Dir::new("notes");
        let store = Arc::new(SqliteStore::open(&dir.0).expect("open"));
        let mut cfg = History::default();
        cfg.rooms.insert(
            "#L".into(),
            chatroom_config::RoomHistory {
                max_count: Some(50),
                ..Default::default()
            },
        );
        sync_room_limits(&*store, &cfg).expect("sync");
        let mut stage =
            Stage::start(store.clone(), journal_in(&dir), Arc::new(cfg), 64).expect("start");
        let rx = attach(&mut stage, 1);
        stage.note(saved("#a"));
        stage.note(saved("#L"));
        stage.send(1, &message(1, "x"));
        assert!(stage.flush().await);
        settle_all(&mut stage).await;
        // Saves go before the deliveries queued after them.
        rx.recv().await.expect("x");
        let rooms = store.load_rooms().expect("rooms");
        let a = rooms.iter().find(|r| r.name == "#a").expect("#a saved");
        assert!(a.registered && a.founder.as_deref() == Some("alice"));
        assert_eq!(
            a.registered_at,
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_000))
        );
        assert_eq!(a.limits, None);
        let l = rooms.iter().find(|r| r.name == "#L").expect("#L saved");
        assert!(l.registered);
        assert_eq!(l.limits.and_then(|l| l.max_count), Some(50), "limits kept");

        stage.note(Note::ForgetRoom("#a".into()));
        stage.note(Note::ForgetRoom("#L".into()));
        stage.note(Note::Topic {
            id: 2,
            time: SystemTime::now(),
            room: "#r".into(),
            by: Arc::new(UserInfo {
                nick: "bob".into(),
                user: "bob".into(),
                realname: "bob".into(),
                host: "127.0.0.1".into(),
                account: None,
            }),
            text: "the plan".into(),
        });
        stage.send(1, &message(3, "y"));
        assert!(stage.flush().await);
        settle_all(&mut stage).await;
        rx.recv().await.expect("y");
        let rooms = store.load_rooms().expect("rooms");
        assert!(rooms.iter().all(|r| r.name != "#a"), "#a forgotten");
        let l = rooms
            .iter()
            .find(|r| r.name == "#L")
            .expect("#L keeps its row");
        assert!(!l.registered && l.founder.is_none());
        assert_eq!(l.limits.and_then(|l| l.max_count), Some(50));
        assert_eq!(stored(&*store), ["x", "the plan", "y"]);
    }

    fn replayed_texts(ev: &Event) -> (String, Vec<String>) {
        match ev {
            Event::History { room, lines } => {
                (room.to_string(), lines.iter().map(text_of).collect())
            }
            other => panic!("expected a replay, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn replays_and_live_events_keep_their_order() {
        let dir = Dir::new("two-replays");
        let store = Arc::new(SqliteStore::open(&dir.0).expect("open"));
        let mut stage = Stage::start(
            store.clone(),
            journal_in(&dir),
            Arc::new(History::default()),
            64,
        )
        .expect("start");
        let rx = attach(&mut stage, 3);
        stage.send(1, &message_in(1, "#r", "r-old"));
        stage.send(1, &message_in(2, "#s", "s-old"));
        stage.push(Op::Replay {
            to: 3,
            room: "#r".into(),
            mark: 2,
        });
        stage.send(3, &message_in(3, "#r", "r-live"));
        stage.push(Op::Replay {
            to: 3,
            room: "#s".into(),
            mark: 3,
        });
        stage.send(3, &message_in(4, "#s", "s-live"));
        assert!(stage.flush().await);
        settle_all(&mut stage).await;
        let first = rx.recv().await.expect("1");
        assert_eq!(
            replayed_texts(first.event().expect("an event")),
            ("#r".to_string(), vec!["r-old".to_string()])
        );
        assert_eq!(
            text_of(rx.recv().await.expect("2").event().expect("an event")),
            "r-live"
        );
        let third = rx.recv().await.expect("3");
        assert_eq!(
            replayed_texts(third.event().expect("an event")),
            ("#s".to_string(), vec!["s-old".to_string()])
        );
        assert_eq!(
            text_of(rx.recv().await.expect("4").event().expect("an event")),
            "s-live"
        );
    }

    #[tokio::test]
    async fn too_much_held_behind_a_replay_is_a_slow_consumer() {
        let dir = Dir::new("hold");
        let store = Arc::new(SqliteStore::open(&dir.0).expect("open"));
        let mut stage = Stage::start(
            store.clone(),
            journal_in(&dir),
            Arc::new(History::default()),
            2,
        )
        .expect("start");
        let _rx = attach(&mut stage, 9);
        stage.push(Op::Replay {
            to: 9,
            room: "#r".into(),
            mark: 0,
        });
        for id in 1..=3 {
            stage.send(9, &message(id, "flood"));
        }
        assert!(stage.flush().await);
        settle_all(&mut stage).await;
        assert_eq!(stage.take_cuts(), vec![9]);
    }

    /// The replay thread's reading, on `history` holding 1..=30 in #r.
    fn replay_reads_leave_out_what_followed_the_join(history: Arc<dyn HistoryStore>) {
        let records: Vec<Record> = (1..=30)
            .filter_map(|id| {
                message(id, &format!("m{id}"))
                    .event()
                    .and_then(Record::from_message)
            })
            .collect();
        history.append(&records).expect("append");
        let cfg = History {
            replay_lines: 5,
            ..History::default()
        };
        let (back, _rx) = mpsc::unbounded_channel();
        let replayer = Replayer {
            history,
            cfg: Arc::new(cfg),
            back,
        };
        // Joined when 10 was the newest: 11..=30 were said after the join.
        let lines = replayer.read(&"#r".into(), 10).expect("lines");
        let texts: Vec<String> = lines.iter().map(text_of).collect();
        assert_eq!(texts, ["m6", "m7", "m8", "m9", "m10"]);
        // Far more after the join than the first query asks for.
        let lines = replayer.read(&"#r".into(), 2).expect("lines");
        let texts: Vec<String> = lines.iter().map(text_of).collect();
        assert_eq!(texts, ["m1", "m2"]);
        assert!(replayer.read(&"#r".into(), 0).is_none());
        assert!(replayer.read(&"#nothing".into(), 30).is_none());
    }

    #[test]
    fn a_replay_read_late_leaves_out_what_followed_the_join() {
        let dir = Dir::new("mark");
        let store = Arc::new(SqliteStore::open(&dir.0).expect("open"));
        replay_reads_leave_out_what_followed_the_join(store);
    }

    #[test]
    fn a_replay_read_from_the_memory_store_leaves_out_what_followed_the_join() {
        replay_reads_leave_out_what_followed_the_join(Arc::new(MemoryStore::new()));
    }

    #[tokio::test]
    async fn the_stage_runs_on_the_memory_store() {
        // The journal is still a file; records, replays and room saves go
        // to the store, whichever it is.
        let dir = Dir::new("memory");
        let store = Arc::new(MemoryStore::new());
        let mut stage = Stage::start(
            store.clone(),
            journal_in(&dir),
            Arc::new(History::default()),
            64,
        )
        .expect("start");
        let rx = attach(&mut stage, 1);
        for (id, text) in [(1, "one"), (2, "two")] {
            stage.send(1, &message(id, text));
        }
        assert!(stage.flush().await);
        settle_all(&mut stage).await;
        for want in ["one", "two"] {
            let got = rx.recv().await.expect("delivery");
            assert_eq!(text_of(got.event().expect("an event")), want);
            assert!(stored(&*store).contains(&want.to_string()));
        }
        // Someone joins: the room's history comes back from memory first,
        // then what was said after the join.
        let joiner = attach(&mut stage, 2);
        stage.push(Op::Replay {
            to: 2,
            room: "#r".into(),
            mark: 2,
        });
        stage.send(2, &message(3, "three"));
        assert!(stage.flush().await);
        settle_all(&mut stage).await;
        match joiner.recv().await.expect("replay").event() {
            Some(Event::History { lines, .. }) => {
                let texts: Vec<String> = lines.iter().map(text_of).collect();
                assert_eq!(texts, ["one", "two"]);
            }
            other => panic!("expected the replay first, got {other:?}"),
        }
        let live = joiner.recv().await.expect("live");
        assert_eq!(text_of(live.event().expect("an event")), "three");
        // A registered room's state is saved after what came before it.
        stage.push(Op::Room(RoomSave::Save(RoomState {
            founder: Some("ann".into()),
            registered: true,
            ..unregistered("#kept")
        })));
        assert!(stage.flush().await);
        settle_all(&mut stage).await;
        let saved = saved_rooms(&*store).expect("rooms");
        assert_eq!(saved.len(), 1);
        assert_eq!(&*saved[0].name, "#kept");
        assert_eq!(stored(&*store), ["one", "two", "three"]);
    }

    #[tokio::test]
    async fn what_is_due_before_a_detach_goes_out_even_while_a_replay_is_read() {
        let dir = Dir::new("detach");
        let store = Arc::new(SqliteStore::open(&dir.0).expect("open"));
        let mut stage = Stage::start(
            store.clone(),
            journal_in(&dir),
            Arc::new(History::default()),
            64,
        )
        .expect("start");
        let rx = attach(&mut stage, 4);
        stage.send(1, &message(1, "old"));
        // Replay, goodbye and detach in one group: the replay cannot have
        // been read by the time the detach is applied.
        stage.push(Op::Replay {
            to: 4,
            room: "#r".into(),
            mark: 1,
        });
        stage.send(
            4,
            &Envelope::new(Event::Closing {
                reason: "bye".into(),
            }),
        );
        stage.push(Op::Detach { id: 4 });
        assert!(stage.flush().await);
        settle_all(&mut stage).await;
        let mut got = Vec::new();
        while let Some(ev) = rx.recv().await {
            got.push(ev);
        }
        assert!(
            got.iter()
                .any(|e| matches!(e.event().expect("an event"), Event::Closing { reason } if &**reason == "bye")),
            "{got:?}"
        );
    }
}
