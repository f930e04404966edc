//! Releasing deliveries in order: a batch's deliveries go onto the queues
//! once its records are written (and, for what must see everything before
//! it, once they are in SQLite); a joiner's deliveries wait behind its
//! replay, bounded by its queue size.
//!
//! Must not reorder anyone's deliveries or hold them without bound.

use std::collections::HashMap;
use std::collections::VecDeque;
use std::sync::mpsc as std_mpsc;

use chatroom_core::ConnId;
use chatroom_proto::Shared;

use crate::fanout::Fanout;

use super::Op;
use super::replay::Job;

/// The connections' queues and what is held for those waiting for a
/// replay: where committed batches are applied, on the hub task.
pub(super) struct Release {
    pub(super) fanout: Fanout,
    /// Replays for the replay thread to read.
    pub(super) jobs: std_mpsc::Sender<Job>,
    /// Connections whose replay is being read: what they are owed, in order.
    pub(super) waiting: HashMap<ConnId, VecDeque<Owed>>,
    pub(super) next_ticket: u64,
    pub(super) hold_max: usize,
}

/// What a connection waiting for a replay is owed.
pub(super) enum Owed {
    /// A replay, filled in when read (`Some(None)`: read, nothing to show).
    Replay {
        ticket: u64,
        event: Option<Option<Shared>>,
    },
    /// An event, and whether it answers the connection's own command.
    Event(Shared, bool),
}

impl Release {
    /// Applies a batch whose records are written: attaches, detaches,
    /// deliveries, replays to read.
    pub(super) fn apply(&mut self, ops: Vec<Op>) {
        for op in ops {
            match op {
                Op::Attach { id, out } => self.fanout.attach(id, out),
                Op::Detach { id } => {
                    // What was due before the detach (its goodbye, say)
                    // still goes out, whatever became of the replay.
                    self.give_up_waiting(id);
                    self.fanout.detach(id);
                }
                Op::Deliver { to, event, author } => self.deliver(to, &event, author),
                Op::DeliverMany { to, event, author } => {
                    for to in to {
                        self.deliver(to, &event, author);
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

    /// Sends `event` to `to`, or holds it while `to` waits for a replay;
    /// `author` is whose command it answers.
    pub(super) fn deliver(&mut self, to: ConnId, event: &Shared, author: Option<ConnId>) {
        match self.waiting.get_mut(&to) {
            None => self.fanout.deliver(to, event, author),
            Some(owed) if owed.len() < self.hold_max => {
                owed.push_back(Owed::Event(event.clone(), author == Some(to)))
            }
            Some(_) => {
                self.waiting.remove(&to);
                self.fanout.mark_slow(to);
            }
        }
    }

    /// Stops waiting for `id`'s replays: what is owed goes out now, in
    /// order, with the replays already read; unread ones are dropped.
    pub(super) fn give_up_waiting(&mut self, id: ConnId) {
        for o in self.waiting.remove(&id).unwrap_or_default() {
            match o {
                Owed::Event(e, own) => self.fanout.deliver(id, &e, own.then_some(id)),
                // The replay answers the connection's own join.
                Owed::Replay {
                    event: Some(Some(e)),
                    ..
                } => self.fanout.deliver(id, &e, Some(id)),
                Owed::Replay { .. } => {}
            }
        }
    }

    /// Fills in a replay that was read, then sends what is owed up to the
    /// next replay still being read.
    pub(super) fn replayed(&mut self, to: ConnId, ticket: u64, event: Option<Shared>) {
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
                Some(Owed::Event(e, own)) => self.fanout.deliver(to, &e, own.then_some(to)),
                Some(Owed::Replay {
                    event: Some(Some(e)),
                    ..
                }) => self.fanout.deliver(to, &e, Some(to)),
                _ => {}
            }
        }
        self.waiting.remove(&to);
    }
}
