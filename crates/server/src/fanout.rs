//! The connections' outgoing queues, and the one place events are pushed
//! onto them (by the hub task, directly or once the persist stage releases
//! a batch). A delivery the recipient did not cause, refused because the
//! recipient has its limit of bytes unread, marks it as a slow consumer
//! instead of waiting: it is cut off with a reason, and the room carries
//! on. Replies to a connection's own command (it is the command's
//! *author*) are always queued: its reading is paced instead (see
//! `outbound`).
//!
//! Must not wait on any connection, render, or decide who receives what.

use rustc_hash::FxHashMap;

use chatroom_core::{ConnId, Event, Outbox};
use chatroom_proto::{Envelope, Shared};

use crate::outbound::{Outgoing, PushError};

/// The connections' outgoing queues, and the one place events are pushed
/// onto them. A connection with its limit of bytes unread is marked as a
/// slow consumer instead of waited for (unless the event answers its own
/// command).
#[derive(Default)]
pub struct Fanout {
    /// Looked up once per delivery: FxHash (one multiply for an integer
    /// id) instead of SipHash, which was 5% of the server's CPU at
    /// saturation. Ids are ours, not chosen by clients, so the DoS
    /// resistance SipHash buys is not needed here.
    conns: FxHashMap<ConnId, Outgoing>,
    slow: Vec<ConnId>,
    /// Whose command the hub is applying now: what it sends to them is a
    /// reply to their own command.
    author: Option<ConnId>,
}

impl Fanout {
    pub fn attach(&mut self, id: ConnId, out: Outgoing) {
        self.conns.insert(id, out);
    }

    pub fn detach(&mut self, id: ConnId) {
        self.conns.remove(&id);
        // The table keeps the size of its busiest moment otherwise (see
        // the hub's tables, which do the same).
        if self.conns.capacity() > 64 && self.conns.len() < self.conns.capacity() / 4 {
            self.conns.shrink_to(self.conns.len() * 2);
        }
    }

    /// Everything sent from now until the next call answers `author`'s own
    /// command (`None`: nobody's).
    pub fn set_author(&mut self, author: Option<ConnId>) {
        self.author = author;
    }

    /// Queues `event` for `to`; `author` is whose command it answers.
    #[inline]
    pub fn deliver(&mut self, to: ConnId, event: &Shared, author: Option<ConnId>) {
        if let Some(out) = self.conns.get(&to) {
            match out.push(event.clone(), author == Some(to)) {
                Ok(()) => {}
                Err(PushError::Full) => self.slow.push(to),
                // The writer is already gone; its Detach is on the way.
                Err(PushError::Closed) => {}
            }
        }
    }

    /// Bytes queued and not yet written: for all connections, and the
    /// most for one (read at each metrics scrape: one pass over the queues).
    pub fn queued(&self) -> (usize, usize) {
        self.conns.values().fold((0, 0), |(sum, max), out| {
            let n = out.unread();
            (sum.saturating_add(n), max.max(n))
        })
    }

    /// Marks a connection as a slow consumer (cut by the next `cut_slow`).
    pub fn mark_slow(&mut self, id: ConnId) {
        self.slow.push(id);
    }

    /// Cuts off every connection whose queue overflowed, returning their
    /// ids so the hub can tell the rooms they left.
    pub fn cut_slow(&mut self) -> Vec<ConnId> {
        let mut cut = Vec::new();
        while let Some(id) = self.slow.pop() {
            if let Some(out) = self.conns.remove(&id) {
                let unread = out.unread();
                tracing::info!(conn = id, unread, "{SLOW_CONSUMER}");
                // The client itself is told how far behind it was; the
                // others see the reason without the number.
                out.kill(&format!(
                    "Slow consumer: {unread} bytes unread, past the limit of {} (send_queue_bytes)",
                    out.limit()
                ));
                cut.push(id);
            }
        }
        cut
    }

    /// Tells everyone the server is going and closes every queue.
    pub fn shutdown(&mut self, reason: &str) {
        let notice = Envelope::new(Event::ServerNotice {
            text: reason.into(),
        });
        let closing = Envelope::new(Event::Closing {
            reason: reason.into(),
        });
        for (_, out) in self.conns.drain() {
            if out.try_send(notice.clone()).is_err() || out.try_send(closing.clone()).is_err() {
                out.kill(reason);
            }
        }
    }
}

pub const SLOW_CONSUMER: &str = "Slow consumer: too many bytes unread";

impl Outbox for Fanout {
    type Env = Shared;

    fn wrap(&mut self, event: Event) -> Shared {
        Envelope::new(event)
    }

    #[inline]
    fn send(&mut self, to: ConnId, event: &Shared) {
        self.deliver(to, event, self.author);
    }
}
