//! Questions a person asks about the past (`/history`, `/search`, IRC's
//! `SEARCH` and `CHATHISTORY`) and their answers, read from the store.
//!
//! The hub task checks first that the asker is in the room (the store does
//! not know membership); [`answer`] then runs on a blocking thread, on one of
//! the store's read connections, beside the writer. It must not write
//! anything nor be called from an async worker.

use crate::core::names::{Name, same};
use crate::core::{Event, HubError};
use crate::store::{
    Anchor, HistoryQuery, QueryTarget, Record, Selector, SqliteStore, Store, TargetInfo,
};

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

/// Answers `ask` from the store. `room` is the room the hub checked, or
/// for the asker's own history ([`HistoryAsk::is_own`]) the asker's
/// nickname, with `rooms` the rooms they are in. Blocks on disk.
pub fn answer(
    store: &SqliteStore,
    room: Name,
    rooms: Vec<Name>,
    ask: HistoryAsk,
) -> Result<HistoryPage, HistoryError> {
    let target = QueryTarget::Room(room.to_string());
    let mut targets = Vec::new();
    let records = match ask {
        HistoryAsk::Chat { selector, limit } => store.query(&HistoryQuery {
            // A room's history is the same for every member.
            requester: String::new(),
            target,
            selector,
            limit: limit.min(MAX_ANSWER),
        }),
        HistoryAsk::Private {
            with,
            selector,
            limit,
        } => store.query(&HistoryQuery {
            // The store answers only conversations this nickname is part of.
            requester: room.to_string(),
            target: QueryTarget::Nick(with),
            selector,
            limit: limit.min(MAX_ANSWER),
        }),
        HistoryAsk::Targets { from, to, limit } => {
            let rooms: Vec<String> = rooms.iter().map(|r| r.to_string()).collect();
            store
                .targets(&room, &rooms, from, to, limit.min(MAX_ANSWER))
                .map(|t| {
                    targets = t;
                    Vec::new()
                })
        }
        HistoryAsk::Page { before, limit } => store.query(&HistoryQuery {
            requester: String::new(),
            target,
            selector: match before {
                Some((r, id)) if same(&r, &room) => Selector::Before(Anchor::MsgId(id)),
                _ => Selector::Latest { after: None },
            },
            limit: limit.min(MAX_ANSWER),
        }),
        HistoryAsk::Search { words, limit } => {
            store.search("", &target, &words, limit.min(MAX_ANSWER))
        }
    };
    let records = records.map_err(|e| {
        tracing::error!("history: cannot read {room}: {e}");
        HistoryError::Store
    })?;
    let oldest = records.iter().map(|r| r.id).min();
    Ok(HistoryPage {
        room,
        lines: records.iter().filter_map(Record::to_message).collect(),
        oldest,
        targets,
    })
}
