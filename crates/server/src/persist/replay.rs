//! The replay thread: reads a room's recent history for someone who just
//! joined, so that the query never holds up anyone else's delivery.
//!
//! Must not write anything.

use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::time::Duration;
use std::time::SystemTime;

use tokio::sync::mpsc;

use chatroom_config::History;
use chatroom_core::ConnId;
use chatroom_core::Event;
use chatroom_core::names::Name;
use chatroom_proto::Envelope;
use chatroom_proto::Shared;
use chatroom_store::Anchor;
use chatroom_store::HistoryQuery;
use chatroom_store::HistoryStore;
use chatroom_store::QueryTarget;
use chatroom_store::Record;
use chatroom_store::Selector;

use super::Heard;

/// A replay read by the replay thread (`event: None`: nothing to show).
pub struct Replayed {
    pub(super) to: ConnId,
    pub(super) ticket: u64,
    pub(super) event: Option<Shared>,
}

/// A replay to read.
pub(super) struct Job {
    pub(super) to: ConnId,
    pub(super) ticket: u64,
    pub(super) room: Name,
    pub(super) mark: u64,
}

/// The replay thread: reads a room's recent history for whoever joined, off
/// the hub task and the writer, and hands it back to the hub task.
pub(super) struct Replayer {
    pub(super) history: Arc<dyn HistoryStore>,
    pub(super) cfg: Arc<History>,
    pub(super) back: mpsc::UnboundedSender<Heard>,
}

impl Replayer {
    pub(super) fn run(self, jobs: std_mpsc::Receiver<Job>) {
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
    pub(super) fn read(&self, room: &Name, mark: u64) -> Option<Vec<Event>> {
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
