//! The task that owns the hub. Connections send it commands through one
//! bounded inbox; it applies them one at a time (which is what keeps every
//! sender's messages in order) and pushes the resulting events onto each
//! recipient's bounded queue without ever waiting. A recipient whose queue
//! is full is a slow consumer: it is cut off with a reason, and the room
//! carries on.
//!
//! This task must not do I/O or wait on any one connection.

use std::collections::HashMap;

use bytes::Bytes;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot};

use crate::core::{Command, ConnId, Envelope, Event, Hub, HubError, Outbox, Shared};

use super::connection::Outgoing;

/// What connections ask of the hub task.
pub enum HubMsg {
    /// A new connection: where its events go.
    Attach { id: ConnId, out: Outgoing },
    /// A command; `ack` (when given) receives the outcome.
    Cmd {
        id: ConnId,
        cmd: Command,
        ack: Option<oneshot::Sender<Result<(), HubError>>>,
    },
    /// An event an edge queues for its own connection (replies that need no
    /// decision, notices), routed through here to stay in order with the
    /// hub's own replies.
    Local { id: ConnId, event: Event },
    /// Commands and local events applied one after the other with nothing
    /// else in between, so that everything they produce for this
    /// connection arrives together (an IRC labeled response).
    Group { id: ConnId, items: Vec<GroupItem> },
    /// The connection is gone; `reason` is shown to those who shared a room.
    Detach { id: ConnId, reason: String },
    /// Tell everyone, close every queue, then answer `done`.
    Shutdown {
        reason: String,
        done: oneshot::Sender<()>,
    },
}

/// One part of a [`HubMsg::Group`].
pub enum GroupItem {
    /// A command; a refusal is told to the connection as usual.
    Cmd(Command),
    /// An event for the connection itself, as with [`HubMsg::Local`].
    Local(Event),
}

/// The sending side of the hub's inbox.
pub type HubHandle = mpsc::Sender<HubMsg>;

/// Inbox capacity. Readers wait when it is full, which slows senders down
/// instead of letting the hub fall behind without bound.
const INBOX: usize = 8192;

/// Starts the hub task; returns the handle connections use.
pub fn spawn(hub: Hub) -> (HubHandle, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(INBOX);
    let task = tokio::spawn(run(hub, rx));
    (tx, task)
}

/// The connections' outgoing queues, and the one place events are pushed
/// onto them. A full queue marks the connection as a slow consumer instead
/// of waiting.
#[derive(Default)]
pub struct Fanout {
    conns: HashMap<ConnId, Outgoing>,
    slow: Vec<ConnId>,
}

impl Outbox for Fanout {
    fn send(&mut self, to: ConnId, event: &Shared) {
        if let Some(out) = self.conns.get(&to) {
            match out.tx.try_send(event.clone()) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => self.slow.push(to),
                // The writer is already gone; its Detach is on the way.
                Err(TrySendError::Closed(_)) => {}
            }
        }
    }
}

impl Fanout {
    pub fn attach(&mut self, id: ConnId, out: Outgoing) {
        self.conns.insert(id, out);
    }

    pub fn detach(&mut self, id: ConnId) {
        self.conns.remove(&id);
    }

    /// Cuts off every connection whose queue overflowed, returning their
    /// ids so the hub can tell the rooms they left.
    pub fn cut_slow(&mut self) -> Vec<ConnId> {
        let mut cut = Vec::new();
        while let Some(id) = self.slow.pop() {
            if let Some(out) = self.conns.remove(&id) {
                tracing::info!(conn = id, "{SLOW_CONSUMER}");
                out.kill.kill(SLOW_CONSUMER);
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
            if out.tx.try_send(notice.clone()).is_err() || out.tx.try_send(closing.clone()).is_err()
            {
                out.kill.kill(reason);
            }
        }
    }
}

const SLOW_CONSUMER: &str = "Slow consumer: too many unread messages";

async fn run(mut hub: Hub, mut rx: mpsc::Receiver<HubMsg>) {
    let mut fanout = Fanout::default();
    let mut batch = Vec::with_capacity(128);
    while rx.recv_many(&mut batch, 128).await > 0 {
        for msg in batch.drain(..) {
            match msg {
                HubMsg::Attach { id, out } => fanout.attach(id, out),
                HubMsg::Cmd { id, cmd, ack } => {
                    let result = hub.handle(id, cmd, &mut fanout);
                    if let Err(e) = &result {
                        fanout.send(id, &Envelope::new(Event::Error(e.clone())));
                    }
                    if let Some(ack) = ack {
                        let _ = ack.send(result);
                    }
                }
                HubMsg::Local { id, event } => fanout.send(id, &Envelope::new(event)),
                HubMsg::Group { id, items } => {
                    for item in items {
                        match item {
                            GroupItem::Cmd(cmd) => {
                                if let Err(e) = hub.handle(id, cmd, &mut fanout) {
                                    fanout.send(id, &Envelope::new(Event::Error(e)));
                                }
                            }
                            GroupItem::Local(event) => fanout.send(id, &Envelope::new(event)),
                        }
                    }
                }
                HubMsg::Detach { id, reason } => {
                    hub.quit(id, reason, &mut fanout);
                    fanout.detach(id);
                }
                HubMsg::Shutdown { reason, done } => {
                    fanout.shutdown(&reason);
                    let _ = done.send(());
                    return;
                }
            }
            // Telling the others that someone left can overflow more queues.
            loop {
                let cut = fanout.cut_slow();
                if cut.is_empty() {
                    break;
                }
                for id in cut {
                    hub.quit(id, SLOW_CONSUMER.to_string(), &mut fanout);
                }
            }
        }
    }
}

/// Convenience for edges: raw bytes for one's own connection.
pub fn raw(id: ConnId, bytes: Bytes) -> HubMsg {
    HubMsg::Local {
        id,
        event: Event::Raw(bytes),
    }
}
