//! Questions a person asks about the past (`/history`, `/search`, IRC's
//! `SEARCH` and `CHATHISTORY`), and the shape of their answers.
//!
//! Data only: the hub checks who may ask (`Hub::history_room`), the
//! runtime has the store answer. Nothing here reads a store or a clock.

use std::time::{Duration, SystemTime};

use crate::error::HubError;
use crate::event::{Event, MsgTarget};
use crate::names::Name;

/// The most lines a join replay may be configured to show.
pub const MAX_REPLAY_LINES: usize = 1000;

/// Most messages one answer holds.
pub const MAX_ANSWER: usize = 200;

/// What is asked about a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HistoryAsk {
    /// The newest `limit` messages, oldest first; with `before` (a room and
    /// a msgid in it, from an earlier page), those before that msgid when
    /// the room asked about is that room.
    Page {
        before: Option<(String, u64)>,
        limit: usize,
    },
    /// Messages containing every one of `words`, newest first.
    Search { words: String, limit: usize },
    /// `CHATHISTORY` about the room: the part `selector` names, oldest first.
    Chat { selector: Selector, limit: usize },
    /// `CHATHISTORY` about the asker's private conversation with `with`
    /// (checked by the hub as the asker's own, not as a room).
    Private {
        with: String,
        selector: Selector,
        limit: usize,
    },
    /// `CHATHISTORY TARGETS`: the asker's conversations active between two
    /// moments (rooms only among those the asker is in).
    Targets {
        from: std::time::SystemTime,
        to: std::time::SystemTime,
        limit: usize,
    },
}

impl HistoryAsk {
    /// Whether the hub checks the asker (their own private history) rather
    /// than their membership of a room.
    pub fn is_own(&self) -> bool {
        matches!(
            self,
            HistoryAsk::Private { .. } | HistoryAsk::Targets { .. }
        )
    }
}

/// An answer: the room's name as the hub spells it, and the messages (each
/// an `Event::Message`) in the order of the question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryPage {
    pub room: Name,
    pub lines: Vec<Event>,
    /// The msgid of the oldest message in `lines`, to page further back.
    pub oldest: Option<u64>,
    /// For `Targets`: the conversations found (`lines` is then empty).
    pub targets: Vec<TargetInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HistoryError {
    /// The asker may not read that room (or it does not exist).
    #[error("{0}")]
    Hub(HubError),
    #[error("this server keeps no history")]
    Off,
    /// The store failed; the details are in the server's log.
    #[error("the history cannot be read right now")]
    Store,
}

/// A point in a conversation: a message, or a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    /// A message by msgid. A msgid that is not in the queried conversation
    /// (unknown, deleted, or someone else's private message) gives an empty
    /// result, never an error, so that a query cannot probe whether a
    /// message exists elsewhere (draft/chathistory: "as if no content exists").
    MsgId(u64),
    /// A moment; compared at millisecond precision.
    Time(SystemTime),
}

/// Which part of a conversation to return; the IRCv3 `draft/chathistory`
/// subcommands. Every bound is exclusive, and results always come back in
/// ascending (time, msgid) order, which is a total order: two messages with
/// the same millisecond are ordered by msgid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selector {
    /// The most recent messages; with `after`, only those after it.
    Latest { after: Option<Anchor> },
    /// The messages just before the anchor.
    Before(Anchor),
    /// The messages just after the anchor.
    After(Anchor),
    /// About half before the anchor and the rest from it on (a msgid anchor's
    /// own message is included); when one side runs short the other side
    /// fills the limit.
    Around(Anchor),
    /// The messages strictly between two anchors, which may be given in
    /// either order; the limit keeps those nearest the first anchor.
    Between(Anchor, Anchor),
}

/// One line of a `CHATHISTORY TARGETS` answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetInfo {
    /// A room, or the other party of a private conversation (as they were
    /// named in its latest message).
    pub target: MsgTarget,
    /// Time of the latest message in the asked-for window.
    pub latest: SystemTime,
}

/// How much history one conversation keeps. `max_count: Some(0)` keeps none:
/// records for such a room are dropped by the store's append and purged by its compaction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// Records older than this are deleted by compaction.
    pub max_age: Option<Duration>,
    /// Only the newest this many records are kept by compaction.
    pub max_count: Option<u64>,
}

impl Limits {
    /// Keep no history at all.
    pub const NONE: Limits = Limits {
        max_age: None,
        max_count: Some(0),
    };

    pub fn keeps_nothing(&self) -> bool {
        self.max_count == Some(0)
    }
}
