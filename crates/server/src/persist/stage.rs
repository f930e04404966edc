//! The stage itself, on the hub task: the hub's outbox while history is
//! on (each delivery an op, each new message a record), the journal append
//! at the end of each batch, and handing the written batch on to the
//! applier; what it hears back from the threads releases held deliveries.
//!
//! Must not wait on a connection or on SQLite (only on the applier's
//! bounded queue, which is backpressure), nor drop a delivery.

use std::collections::HashMap;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::sync::mpsc as std_mpsc;

use tokio::sync::mpsc;

use chatroom_config::History;
use chatroom_core::ConnId;
use chatroom_core::Event;
use chatroom_core::MsgTarget;
use chatroom_core::Outbox;
use chatroom_core::registry::Note;
use chatroom_proto::Envelope;
use chatroom_proto::Shared;
use chatroom_store::Record;
use chatroom_store::RecordKind;
use chatroom_store::RoomState;
use chatroom_store::Store;
use chatroom_store::journal::Journal;

use crate::fanout::Fanout;

use super::APPLY_QUEUE;
use super::GROUP_MAX;
use super::HELD_MAX;
use super::Heard;
use super::JournalAt;
use super::Op;
use super::QUEUE;
use super::RoomSave;
use super::applier::Applier;
use super::applier::Apply;
use super::background::Maintenance;
use super::background::background_priority;
use super::release::Release;
use super::replay::Replayer;
use super::rooms::room_state;
use super::rooms::unregistered;
use super::writer::Write;
use super::writer::Writer;

/// Where the stage puts a batch's records.
pub(super) enum Journaling {
    /// To the writer thread, which writes and syncs them (with
    /// `sync_every_commit`).
    Thread(mpsc::Sender<Write>),
    /// Into the journal here, on the hub task (without).
    Inline(Box<Writer>),
    /// Nowhere: shut down.
    Closed,
}

/// A place reserved in the queue a batch goes to.
pub(super) enum Permit {
    Writer(mpsc::OwnedPermit<Write>),
    Applier(mpsc::OwnedPermit<Apply>),
}

/// A batch's deliveries waiting for their writes.
pub(super) struct Held {
    /// The number of the write this waits for.
    pub(super) batch: u64,
    /// Waits for that write to be in SQLite, not only in the journal.
    pub(super) after_apply: bool,
    pub(super) ops: Vec<Op>,
}

/// The hub task's side of the stage: it builds batches, sends their writes
/// to the writer thread, and releases their deliveries once committed.
pub struct Stage {
    /// Where a batch's records go.
    pub(super) journaling: Journaling,
    pub(super) ops: Vec<Op>,
    /// The messages of this batch to store: kept apart from `ops` (all of
    /// them go into the journal before any of the batch's deliveries, so
    /// their place among the ops does not matter), which spares a box and
    /// a sorting pass per message.
    pub(super) records: Vec<Record>,
    /// The msgid last turned into a record (or skipped by retention).
    pub(super) recorded: u64,
    /// In a cluster: rooms' messages are stored as the cluster's journal
    /// hands them over ([`Stage::index`]), not as they are delivered here.
    pub(super) rooms_from_cluster: bool,
    pub(super) cfg: Arc<History>,
    /// Batches whose writes are not committed yet, oldest first.
    pub(super) held: VecDeque<Held>,
    /// The number of the last batch sent to the writer.
    pub(super) sent: u64,
    /// The number of the last batch the writer put in the journal.
    pub(super) committed: u64,
    /// The number of the last batch the applier put in SQLite.
    pub(super) applied: u64,
    pub(super) heard: mpsc::UnboundedReceiver<Heard>,
    pub(super) release: Release,
    /// How many recipients the last `DeliverMany` had.
    pub(super) many_hint: usize,
    /// Whose command the hub is applying (see `Fanout::set_author`).
    pub(super) author: Option<ConnId>,
    pub(super) _maintenance: Maintenance,
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
            rooms_from_cluster: false,
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
            author: None,
            _maintenance: maintenance,
        })
    }

    pub fn push(&mut self, op: Op) {
        self.ops.push(op);
    }

    /// Batches sent but not yet in the journal, and batches in the journal
    /// not yet in SQLite (the history's lag, for the metrics).
    pub fn lags(&self) -> (u64, u64) {
        (
            self.sent.saturating_sub(self.committed),
            self.committed.saturating_sub(self.applied),
        )
    }

    /// Bytes queued for the connections (see `Fanout::queued`).
    pub fn queued(&self) -> (usize, usize) {
        self.release.fanout.queued()
    }

    /// What is sent until the next call answers `author`'s own command.
    pub fn set_author(&mut self, author: Option<ConnId>) {
        self.author = author;
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
    /// after it is released), a registered room's state a save, a private
    /// message's recipient account part of its record.
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
                        to_account: None,
                        tags: Vec::new(),
                    });
                }
            }
            Note::PrivateRecipient { id, account } => {
                // The message's record was made as it was delivered, in
                // the same command, so it is among this batch's.
                if let Some(rec) = self.records.iter_mut().rev().find(|r| r.id == id) {
                    rec.to_account = Some(account);
                }
            }
            Note::SaveRoom(saved) => {
                let state = room_state(&self.cfg, saved);
                self.ops.push(Op::Room(RoomSave::Save(state)));
            }
            Note::ReadMarker {
                account,
                target,
                at,
            } => {
                self.ops
                    .push(Op::Room(RoomSave::Marker(chatroom_store::ReadMarker {
                        account: account.to_string(),
                        target: target.to_string(),
                        at,
                    })));
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

    pub(super) fn keeps(&self, to: &MsgTarget) -> bool {
        match to {
            MsgTarget::Room(room) => self.cfg.limits_for(room).max_count != Some(0),
            MsgTarget::Nick(_) => self.cfg.max_count != Some(0),
            MsgTarget::Status(_) => false,
        }
    }
}

impl Stage {
    /// Rooms' messages are from now on stored from the cluster's journal
    /// only (see [`Stage::index`]).
    pub fn rooms_from_cluster(&mut self) {
        self.rooms_from_cluster = true;
    }

    /// Messages from the cluster's journal, stored with this batch (each
    /// once: the caller hands over what is not stored yet).
    pub fn index(&mut self, events: &[Event]) {
        for event in events {
            if let Event::Message { to, .. } = event
                && self.keeps(to)
                && let Some(rec) = Record::from_message(event)
            {
                self.records.push(rec);
            }
        }
    }

    /// One event goes to many recipients; its record is made once, before
    /// its first delivery (an event's deliveries come one after the other;
    /// ids mostly grow, but not always in a cluster, where other nodes'
    /// messages and messages held for the cluster's journal come in
    /// between). A TAGMSG is kept when it carries a tag that means
    /// something later (a reaction, a reply's context:
    /// `Record::from_message` decides), not a typing notification. A
    /// redaction is recorded like a message: the store removes the message
    /// it names when it appends it, in order.
    pub(super) fn record(&mut self, event: &Shared) {
        if let Some(
            Event::Message { id, to: target, .. }
            | Event::TagMsg { id, to: target, .. }
            | Event::Redacted { id, to: target, .. },
        ) = event.event()
            && *id != self.recorded
            && !(self.rooms_from_cluster && matches!(target, MsgTarget::Room(_)))
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
            author: self.author,
        });
    }

    fn send(&mut self, to: ConnId, event: &Shared) {
        self.record(event);
        match self.ops.last_mut() {
            Some(Op::DeliverMany {
                to: all,
                event: e,
                author,
            }) if Arc::ptr_eq(e, event) && *author == self.author => {
                all.push(to);
                self.many_hint = all.len();
            }
            Some(Op::Deliver {
                to: first,
                event: e,
                author,
            }) if Arc::ptr_eq(e, event) && *author == self.author => {
                // Sized like the last one: a room's messages go to the same
                // number of people, and growing by doubling copies each time.
                let mut all = Vec::with_capacity(self.many_hint.max(2));
                all.push(*first);
                all.push(to);
                let event = event.clone();
                if let Some(last) = self.ops.last_mut() {
                    *last = Op::DeliverMany {
                        to: all,
                        event,
                        author: self.author,
                    };
                }
            }
            _ => self.ops.push(Op::Deliver {
                to,
                event: event.clone(),
                author: self.author,
            }),
        }
    }
}
