//! Questions a person asks about the past (`/history`, `/search`, IRC's
//! `SEARCH` and `CHATHISTORY`) and their answers, read from the store.
//!
//! The hub task checks first that the asker is in the room (the store does
//! not know membership); [`answer`] then runs on a blocking thread, on one of
//! the store's read connections, beside the writer. It must not write
//! anything nor be called from an async worker.
//!
//! It reads through the two traits it needs, [`HistoryStore`] and
//! [`SearchStore`], as `&dyn`: the hub task holds them as `Arc<dyn ...>`
//! (a virtual call is nothing beside a blocking read, and the hub task
//! needs no type parameter for it), so any store answers; the tests below
//! use the in-memory one.

use chatroom_core::history::{HistoryAsk, HistoryError, HistoryPage, MAX_ANSWER};
use chatroom_core::names::{Name, same};
use chatroom_store::{
    Anchor, HistoryQuery, HistoryStore, QueryTarget, Record, SearchStore, Selector,
};

/// Answers `ask` from the store. `room` is the room the hub checked, or
/// for the asker's own history ([`HistoryAsk::is_own`]) the account the
/// asker is logged in to (empty: none), with `rooms` the rooms they are
/// in. Blocks on disk.
pub fn answer(
    store: &dyn HistoryStore,
    search: &dyn SearchStore,
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
            // The store answers only messages this account took part in.
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
            search.search("", &target, &words, limit.min(MAX_ANSWER))
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use chatroom_core::{Event, MsgTarget, UserInfo};
    use chatroom_store::{MemoryStore, RecordKind};

    use super::*;

    fn at(ms: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(1_700_000_000_000 + ms)
    }

    fn record(id: u64, from: &str, to: MsgTarget, kind: RecordKind, text: &str) -> Record {
        Record {
            id,
            time: at(id * 10),
            kind,
            from: Arc::new(UserInfo {
                nick: from.into(),
                user: "u".into(),
                realname: "r".into(),
                host: "127.0.0.1".into(),
                account: None,
                bot: false,
            }),
            to,
            text: text.into(),
            to_account: None,
            tags: Vec::new(),
        }
    }

    /// The texts of a page's lines, a topic change marked as such.
    fn texts(page: &HistoryPage) -> Vec<String> {
        page.lines
            .iter()
            .map(|ev| match ev {
                Event::Message { text, .. } => text.to_string(),
                Event::PastTopic { text, .. } => format!("topic: {text}"),
                other => format!("{other:?}"),
            })
            .collect()
    }

    /// Every kind of question, answered from the in-memory store: the same
    /// answers the SQLite store gives (the store's contract tests hold both
    /// to that), with no file anywhere.
    #[test]
    fn every_question_is_answered_from_the_memory_store() {
        let store = MemoryStore::new();
        let room = || MsgTarget::Room("#r".into());
        // Private history is read by account: both are logged in.
        let mut psst = record(
            3,
            "bob",
            MsgTarget::Nick("alice".into()),
            RecordKind::Say,
            "psst",
        );
        Arc::make_mut(&mut psst.from).account = Some("bob".into());
        psst.to_account = Some("Alice".into());
        store
            .append(&[
                record(1, "alice", room(), RecordKind::Say, "hello there"),
                record(2, "bob", room(), RecordKind::Topic, "plans"),
                psst,
                record(4, "alice", room(), RecordKind::Join, ""),
                record(5, "carol", room(), RecordKind::Say, "hello again"),
                record(
                    6,
                    "dave",
                    MsgTarget::Room("#elsewhere".into()),
                    RecordKind::Say,
                    "hello",
                ),
            ])
            .expect("append");
        let ask = |room: &str, rooms: Vec<Name>, ask| {
            answer(&store, &store, room.into(), rooms, ask).expect("answer")
        };
        // A page: what replays (messages, topics), oldest first; the join
        // takes its place in the count but is not shown.
        let page = ask(
            "#r",
            Vec::new(),
            HistoryAsk::Page {
                before: None,
                limit: 10,
            },
        );
        assert_eq!(texts(&page), ["hello there", "topic: plans", "hello again"]);
        assert_eq!(page.oldest, Some(1));
        let older = ask(
            "#r",
            Vec::new(),
            HistoryAsk::Page {
                before: Some(("#R".into(), 5)),
                limit: 1,
            },
        );
        assert_eq!(older.oldest, Some(4));
        assert!(older.lines.is_empty());
        let chat = ask(
            "#r",
            Vec::new(),
            HistoryAsk::Chat {
                selector: Selector::After(Anchor::MsgId(1)),
                limit: 1,
            },
        );
        assert_eq!(texts(&chat), ["topic: plans"]);
        // Search: newest first, this room only.
        let found = ask(
            "#r",
            Vec::new(),
            HistoryAsk::Search {
                words: "HELLO".into(),
                limit: 10,
            },
        );
        assert_eq!(texts(&found), ["hello again", "hello there"]);
        // Private history is read as the asker's own.
        let private = |asker: &str| {
            ask(
                asker,
                Vec::new(),
                HistoryAsk::Private {
                    with: "bob".into(),
                    selector: Selector::Latest { after: None },
                    limit: 10,
                },
            )
        };
        assert_eq!(texts(&private("Alice")), ["psst"]);
        assert!(private("mallory").lines.is_empty());
        let targets = ask(
            "alice",
            vec!["#r".into()],
            HistoryAsk::Targets {
                from: at(0),
                to: at(1000),
                limit: 10,
            },
        );
        let names: Vec<&str> = targets
            .targets
            .iter()
            .map(|t| match &t.target {
                MsgTarget::Room(n) | MsgTarget::Nick(n) | MsgTarget::Status(n) => &**n,
            })
            .collect();
        assert_eq!(names, ["bob", "#r"]);
        assert!(targets.lines.is_empty());
    }
}
