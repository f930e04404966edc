//! The writer thread, only with `sync_every_commit`: it gathers the
//! batches that queue up while it syncs, writes and `fdatasync`s them, and
//! tells the hub task the highest batch number written.
//!
//! Must not touch SQLite or any connection.

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering;

use tokio::sync::mpsc;

use chatroom_store::Record;
use chatroom_store::journal::Journal;

use super::APPLY_QUEUE;
use super::GROUP_MAX;
use super::Heard;
use super::RoomSave;
use super::applier::Apply;

/// What the writer thread is given: one batch's writes.
pub(super) struct Write {
    pub(super) batch: u64,
    pub(super) records: Vec<Record>,
    pub(super) rooms: Vec<RoomSave>,
    /// Something waits for this batch to be in SQLite (a room save, a
    /// replay or a history question behind it): no lingering.
    pub(super) urgent: bool,
}

/// The journal writer: puts a batch's records in the journal and hands
/// them to the applier; on a thread of its own ([`Writer::run`], with
/// `sync_every_commit`, saying when each group is written) or on the hub
/// task ([`Journaling::Inline`]).
pub(super) struct Writer {
    pub(super) journal: Journal,
    pub(super) apply: mpsc::Sender<Apply>,
    /// Woken when a group is urgent or enough has queued up; otherwise it
    /// lingers undisturbed.
    pub(super) applier: std::thread::Thread,
    /// Groups sent to the applier and not yet taken.
    pub(super) backlog: Arc<AtomicUsize>,
    pub(super) heard: mpsc::UnboundedSender<Heard>,
}

impl Writer {
    pub(super) fn run(mut self, mut rx: mpsc::Receiver<Write>) {
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
    pub(super) fn append(&mut self, records: &[Record]) -> u64 {
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
    pub(super) fn hand_on(&self, group: Apply, send: impl FnOnce(Apply) -> bool) -> bool {
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
