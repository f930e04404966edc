//! The applier thread: copies written batches into the history store in
//! large transactions, at a lower priority, tells the hub task the highest
//! batch number applied, and deletes the journal segments wholly copied.
//!
//! Must not be waited on by anyone's delivery, except what must see
//! everything before it in the store (a replay, a question, a room save).

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering;
use std::time::Instant;

use tokio::sync::mpsc;

use chatroom_store::HistoryStore;
use chatroom_store::Record;
use chatroom_store::RoomStore;
use chatroom_store::journal;

use super::APPLY_LINGER;
use super::APPLY_MAX;
use super::APPLY_MIN;
use super::APPLY_QUEUE;
use super::Heard;
use super::RoomSave;

/// What the writer hands the applier: a group of batches, in the journal.
pub(super) struct Apply {
    /// The last batch of the group.
    pub(super) batch: u64,
    pub(super) records: Vec<Record>,
    pub(super) rooms: Vec<RoomSave>,
    pub(super) urgent: bool,
    /// The journal segment holding the group's records.
    pub(super) segment: u64,
}

/// The applier thread: copies what is in the journal into SQLite in large
/// transactions, says so, and deletes the journal segments it has copied.
pub(super) struct Applier {
    pub(super) history: Arc<dyn HistoryStore>,
    pub(super) rooms: Arc<dyn RoomStore>,
    pub(super) heard: mpsc::UnboundedSender<Heard>,
    pub(super) journal_dir: std::path::PathBuf,
    /// Groups sent and not yet taken (see `Writer::backlog`).
    pub(super) backlog: Arc<AtomicUsize>,
}

/// What the applier gathers into one transaction.
#[derive(Default)]
pub(super) struct Gathered {
    pub(super) last: u64,
    pub(super) urgent: bool,
    pub(super) records: Vec<Record>,
    pub(super) rooms: Vec<RoomSave>,
    /// The newest journal segment holding any of it.
    pub(super) segment: u64,
    /// How many groups it came in.
    pub(super) groups: usize,
}

impl Gathered {
    pub(super) fn take(&mut self, g: Apply) {
        self.last = g.batch;
        self.urgent |= g.urgent;
        self.records.extend(g.records);
        self.rooms.extend(g.rooms);
        self.segment = self.segment.max(g.segment);
        self.groups += 1;
    }
}

impl Applier {
    pub(super) fn run(self, mut rx: mpsc::Receiver<Apply>) {
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

    pub(super) fn remove_segments_before(&self, segment: u64) {
        if let Err(e) = journal::remove_before(&self.journal_dir, segment) {
            tracing::warn!("history: could not delete copied journal segments: {e}");
        }
    }

    pub(super) fn save_room(&self, save: RoomSave) {
        let (name, result) = match &save {
            RoomSave::Save(state) => (&state.name, self.rooms.save_room(state)),
            RoomSave::Forget(name) => (name, self.rooms.forget_room(name)),
            RoomSave::Marker(m) => (&m.target, self.rooms.save_read_marker(m)),
        };
        if let Err(e) = result {
            // The room goes on as it is; only a restart would lose the change.
            tracing::error!("rooms: could NOT save the state of {name}: {e}");
        }
    }

    pub(super) fn commit(&self, records: &[Record]) {
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
