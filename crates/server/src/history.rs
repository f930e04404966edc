//! Questions a person asks about the past (`/history`, `/search`, IRC's
//! `SEARCH` and `CHATHISTORY`) and their answers, read from the store.
//!
//! The hub task checks first that the asker is in the room (the store does
//! not know membership); [`answer`] then runs on a blocking thread, on one of
//! the store's read connections, beside the writer. It must not write
//! anything nor be called from an async worker.

use chatroom_core::history::{HistoryAsk, HistoryError, HistoryPage, MAX_ANSWER};
use chatroom_core::names::{Name, same};
use chatroom_store::{Anchor, HistoryQuery, QueryTarget, Record, Selector, SqliteStore, Store};

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
        lines: records.iter().filter_map(Record::to_event).collect(),
        oldest,
        targets,
    })
}
