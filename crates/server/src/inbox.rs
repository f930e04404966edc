//! The hub task's inbox: what connections, the accounts service and timers
//! ask of the hub, and the bounded channel it comes through.
//!
//! Its own module so that everything that talks to the hub depends on this
//! and not on the task that owns the hub (which depends on them). Must not
//! hold any logic.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use chatroom_core::history::{HistoryAsk, HistoryError, HistoryPage};
use chatroom_core::{Command, ConnId, HubError, RoomRef};
use chatroom_proto::Body;

use crate::outbound::Outgoing;

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
    Local { id: ConnId, body: Body },
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
    /// Who this connection is now (`None` before registration).
    WhoAmI {
        id: ConnId,
        reply: oneshot::Sender<Option<Arc<chatroom_core::UserInfo>>>,
    },
    /// How the hub and the queues stand, for the metrics and `chatroom
    /// admin status`.
    Stats { reply: oneshot::Sender<HubStats> },
    /// What the administrator asks (`chatroom admin`, a reload).
    Admin {
        ask: AdminAsk,
        reply: oneshot::Sender<AdminDone>,
    },
    /// What another node of the cluster did (see `link`).
    Remote(crate::link::Remote),
    /// A question about a room's history (`room` empty: the focused room).
    History {
        id: ConnId,
        room: RoomRef,
        ask: HistoryAsk,
        reply: oneshot::Sender<Result<HistoryPage, HistoryError>>,
    },
}

/// How the hub task stands (see [`HubMsg::Stats`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HubStats {
    /// Registered people.
    pub members: usize,
    /// Connections attached and not registered yet.
    pub unregistered: usize,
    pub rooms: usize,
    pub accounts: usize,
    /// Bytes queued for all connections and not yet written, and the most
    /// for any one connection.
    pub queued_bytes: usize,
    pub queued_max: usize,
    /// History on: batches not yet in the journal, and batches in the
    /// journal not yet in SQLite.
    pub history: Option<(u64, u64)>,
}

/// Whom a ban matches, by identity (`nick!user@host`).
pub type UserMatch = Arc<dyn Fn(&chatroom_core::UserInfo) -> bool + Send + Sync>;

/// What the administrator asks of the hub (see [`HubMsg::Admin`]).
pub enum AdminAsk {
    /// Everyone, or the members of one room.
    Who { room: Option<String> },
    /// One person.
    Where { nick: String },
    /// Remove from a room; `by` is the server's identity.
    Kick {
        room: String,
        nick: String,
        reason: String,
        by: Arc<chatroom_core::UserInfo>,
    },
    /// Disconnect.
    Kill { nick: String, reason: String },
    /// Disconnect everyone registered whom a new ban matches (those not
    /// registered yet are checked when they register).
    Ban { user: UserMatch, reason: String },
    /// A notice to everyone.
    Notice { text: String },
    /// New hub settings (a reloaded configuration).
    Reconfigure(chatroom_core::HubConfig),
    /// The configuration's rooms (`[[rooms]]`), reloaded.
    Rooms(Vec<chatroom_core::hub::RoomSpec>),
}

/// The hub's answer to an [`AdminAsk`].
pub enum AdminDone {
    People(Vec<chatroom_core::hub::Person>),
    Done(Result<(), HubError>),
    /// The nicknames (or connection ids, for those not registered) of the
    /// connections a ban removed.
    Removed(Vec<String>),
}

/// One part of a [`HubMsg::Group`].
pub enum GroupItem {
    /// A command; a refusal is told to the connection as usual.
    Cmd(Command),
    /// An event for the connection itself, as with [`HubMsg::Local`].
    Local(Body),
}

/// The sending side of the hub's inbox.
pub type HubHandle = mpsc::Sender<HubMsg>;

/// Inbox capacity. Readers wait when it is full, which slows senders down
/// instead of letting the hub fall behind without bound.
const INBOX: usize = 8192;

/// The hub task's inbox: the handle for everyone who talks to the hub,
/// and the receiving end for the task (`hub_task::spawn`).
pub fn channel() -> (HubHandle, mpsc::Receiver<HubMsg>) {
    mpsc::channel(INBOX)
}
