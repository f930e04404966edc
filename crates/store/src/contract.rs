//! The traits' promises, tested against every implementation: each test
//! below runs once on [`SqliteStore`] (real files in a temporary directory)
//! and once on [`MemoryStore`], through `&dyn Store`, so the runtime can
//! take either. History selectors and their edge cases, private-message
//! visibility, search of words with hostile input, offline messages,
//! accounts and certificates, rooms, retention and msgids. Last, the two
//! are driven with the same random operations and must give the same
//! answers to every question.
//!
//! What only SQLite has (files, WAL, migrations, damaged pages, journal
//! recovery, reopening) is tested in `tests.rs`. This file must not reach
//! into either implementation's insides.

use std::fs;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::*;
use chatroom_core::{MsgTarget, Topic, UserInfo};

use Anchor::{MsgId, Time};

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "chatroom-contract-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A fresh, empty store of one implementation, with what it needs to live.
trait Backend {
    /// Answering at most `max_limit` records a query.
    fn open(max_limit: usize) -> Self;
    fn store(&self) -> &dyn Store;
}

struct Sqlite {
    // Dropped before the directory it lives in.
    store: SqliteStore,
    _dir: TempDir,
}

impl Backend for Sqlite {
    fn open(max_limit: usize) -> Sqlite {
        let dir = TempDir::new();
        let opts = StoreOptions {
            max_limit,
            ..StoreOptions::default()
        };
        let store = SqliteStore::open_with(&dir.0, opts).expect("open");
        Sqlite { store, _dir: dir }
    }

    fn store(&self) -> &dyn Store {
        &self.store
    }
}

struct Memory(MemoryStore);

impl Backend for Memory {
    fn open(max_limit: usize) -> Memory {
        Memory(MemoryStore::with_max_limit(max_limit))
    }

    fn store(&self) -> &dyn Store {
        &self.0
    }
}

/// One `#[test]` per implementation for each generic test named.
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test]
            fn $name() {
                super::$name::<super::Sqlite>();
            })*
        }
        mod memory {
            $(#[test]
            fn $name() {
                super::$name::<super::Memory>();
            })*
        }
    };
}

contract!(
    a_duplicate_msgid_fails_the_whole_batch,
    an_id_above_i64_max_is_refused,
    records_round_trip_every_field,
    latest_returns_the_newest_in_ascending_order,
    before_and_after_are_exclusive,
    messages_in_the_same_millisecond_are_ordered_by_msgid,
    ordering_follows_time_not_insertion,
    around_centres_on_the_anchor_and_fills_from_the_longer_side,
    between_is_exclusive_in_both_directions,
    unknown_or_foreign_msgids_give_an_empty_result,
    limits_are_clamped_and_zero_returns_nothing,
    extreme_moments_do_not_break_queries,
    private_messages_are_seen_only_by_their_two_parties,
    messages_to_oneself_are_a_conversation_too,
    private_history_is_read_by_account_not_by_nickname,
    a_conversation_is_found_by_the_peers_nickname_or_account,
    targets_lists_conversations_by_latest_message,
    targets_leaves_out_conversations_that_went_on_after_the_window,
    search_finds_words_newest_first_in_one_room,
    search_treats_fts_syntax_as_plain_text,
    search_finds_what_was_appended_just_before,
    a_search_pages_through_matches_in_other_rooms,
    a_word_with_a_quote_still_finds_the_word,
    search_matches_whole_words_without_case_or_accents,
    offline_messages_come_back_in_order_once,
    held_messages_stay_until_acknowledged_and_go_in_order,
    offline_messages_survive_retention,
    certificate_fingerprints_belong_to_one_account,
    compaction_by_age_keeps_what_is_young_enough,
    compaction_by_count_keeps_the_newest,
    a_rooms_own_limits_override_the_server_policy,
    last_id_counts_records_of_rooms_that_keep_nothing,
    an_id_already_in_a_page_is_refused_as_a_duplicate,
    room_state_round_trips,
    read_markers_only_move_forward,
    accounts_round_trip_case_insensitively,
    a_room_can_keep_no_history_at_all,
    last_id_survives_compaction_and_counts_offline_messages,
    a_store_is_shared_by_concern_across_threads,
    client_tags_and_tag_only_messages_come_back_from_every_query,
    tags_are_never_searched,
    held_messages_keep_their_tags,
    a_redaction_removes_the_message_from_every_answer,
);

fn at(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(1_700_000_000_000 + ms)
}

fn user(nick: &str) -> UserInfo {
    UserInfo {
        nick: nick.into(),
        user: format!("{}_u", nick.to_lowercase()).into(),
        realname: format!("{nick} Real").into(),
        host: "203.0.113.7".into(),
        account: None,
        bot: false,
    }
}

fn room_msg(id: u64, ms: u64, from: &str, room: &str, text: &str) -> Record {
    Record {
        id,
        time: at(ms),
        kind: RecordKind::Say,
        from: user(from).into(),
        to: MsgTarget::Room(room.into()),
        text: text.into(),
        to_account: None,
        tags: Vec::new(),
    }
}

/// A private message between two people each logged in to the account of
/// their nickname's name (the usual case).
fn pm(id: u64, ms: u64, from: &str, to: &str, text: &str) -> Record {
    pm_as(id, ms, (from, Some(from)), (to, Some(to)), text)
}

/// A private message between (nickname, account) pairs.
fn pm_as(
    id: u64,
    ms: u64,
    (from, from_account): (&str, Option<&str>),
    (to, to_account): (&str, Option<&str>),
    text: &str,
) -> Record {
    Record {
        id,
        time: at(ms),
        kind: RecordKind::Say,
        from: UserInfo {
            account: from_account.map(Into::into),
            ..user(from)
        }
        .into(),
        to: MsgTarget::Nick(to.into()),
        text: text.into(),
        to_account: to_account.map(Into::into),
        tags: Vec::new(),
    }
}

/// `rec` as a store gives it back: without the parties' accounts.
fn without_accounts(rec: &Record) -> Record {
    Record {
        from: UserInfo {
            account: None,
            ..(*rec.from).clone()
        }
        .into(),
        to_account: None,
        ..rec.clone()
    }
}

fn room_q(room: &str, selector: Selector, limit: usize) -> HistoryQuery {
    HistoryQuery {
        requester: "reader".into(),
        target: QueryTarget::Room(room.into()),
        selector,
        limit,
    }
}

fn pm_q(requester: &str, target: QueryTarget, selector: Selector) -> HistoryQuery {
    HistoryQuery {
        requester: requester.into(),
        target,
        selector,
        limit: 100,
    }
}

fn ids(records: &[Record]) -> Vec<u64> {
    records.iter().map(|r| r.id).collect()
}

/// Ten messages in #r with ids 1..=10 at times 10, 20, ..., 100 ms, plus
/// noise in another room.
fn ten(store: &dyn Store) {
    let batch: Vec<Record> = (1..=10)
        .map(|i| room_msg(i, i * 10, "alice", "#r", &format!("message {i}")))
        .chain((11..=13).map(|i| room_msg(i, i * 10, "bob", "#other", "noise")))
        .collect();
    store.append(&batch).expect("append");
}

fn q(store: &dyn Store, selector: Selector, limit: usize) -> Vec<u64> {
    ids(&store.query(&room_q("#r", selector, limit)).expect("query"))
}

/// The record of `by` withdrawing `msgid` from `to`, under msgid `id`.
fn redaction(id: u64, ms: u64, by: &str, to: MsgTarget, msgid: u64) -> Record {
    let by = Arc::new(user(by));
    Record::from_message(&chatroom_core::Event::Redacted {
        id,
        time: at(ms),
        by,
        to,
        msgid,
        reason: Some("spam".into()),
    })
    .expect("a redaction is a record")
}

// ----- history ---------------------------------------------------------------------

fn a_redaction_removes_the_message_from_every_answer<B: Backend>() {
    let b = B::open(DEFAULT_MAX_LIMIT);
    let store = b.store();
    ten(store);
    store
        .append(&[pm(14, 140, "alice", "bob", "message private")])
        .expect("append");
    // Indexed first, so that the index has something to forget.
    while store.index_search(100).expect("index") > 0 {}
    let room = || MsgTarget::Room("#r".into());
    assert_eq!(redaction(15, 150, "op", room(), 5).redacts(), Some(5));
    store
        .append(&[
            // One from an earlier commit, the newest of its page too.
            redaction(15, 150, "op", room(), 5),
            redaction(16, 160, "op", room(), 10),
            // One appended in the same batch as the message it withdraws.
            room_msg(17, 170, "alice", "#r", "message seventeen"),
            redaction(18, 180, "alice", room(), 17),
            // A private message (a row), and an id stored nowhere.
            redaction(19, 190, "alice", MsgTarget::Nick("bob".into()), 14),
            redaction(20, 200, "alice", room(), 999),
        ])
        .expect("a batch of redactions");
    let left = vec![1, 2, 3, 4, 6, 7, 8, 9];
    assert_eq!(q(store, Selector::Latest { after: None }, 50), left);
    assert_eq!(q(store, Selector::Before(Time(at(1000))), 50), left);
    assert_eq!(q(store, Selector::After(MsgId(4)), 50), vec![6, 7, 8, 9]);
    assert_eq!(q(store, Selector::Before(MsgId(10)), 50), Vec::<u64>::new());
    assert_eq!(q(store, Selector::Around(MsgId(5)), 50), Vec::<u64>::new());
    let search = |target: QueryTarget, words: &str| {
        ids(&store.search("alice", &target, words, 50).expect("search"))
    };
    assert_eq!(
        search(QueryTarget::Room("#r".into()), "message"),
        vec![9, 8, 7, 6, 4, 3, 2, 1]
    );
    let private = pm_q(
        "alice",
        QueryTarget::Nick("bob".into()),
        Selector::Latest { after: None },
    );
    assert_eq!(
        ids(&store.query(&private).expect("query")),
        Vec::<u64>::new()
    );
    assert_eq!(
        search(QueryTarget::Nick("bob".into()), "private"),
        Vec::<u64>::new()
    );
    // The redactions' own ids are never given out again; the room goes on.
    assert_eq!(store.last_id().expect("last id"), 20);
    store
        .append(&[room_msg(21, 210, "bob", "#r", "after")])
        .expect("append");
    assert_eq!(
        q(store, Selector::Latest { after: None }, 3),
        vec![8, 9, 21]
    );
    assert_eq!(q(store, Selector::After(MsgId(9)), 50), vec![21]);
}

fn a_duplicate_msgid_fails_the_whole_batch<B: Backend>() {
    let b = B::open(DEFAULT_MAX_LIMIT);
    let store = b.store();
    store
        .append(&[room_msg(1, 1, "a", "#r", "one")])
        .expect("append");
    let err = store
        .append(&[
            room_msg(2, 2, "a", "#r", "two"),
            room_msg(1, 3, "a", "#r", "again"),
        ])
        .expect_err("duplicate");
    assert!(matches!(err, StoreError::DuplicateId(1)), "{err}");
    assert_eq!(q(store, Selector::Latest { after: None }, 10), vec![1]);
    assert_eq!(store.last_id().expect("last id"), 1);
}

fn an_id_above_i64_max_is_refused<B: Backend>() {
    let b = B::open(DEFAULT_MAX_LIMIT);
    let store = b.store();
    let err = store
        .append(&[room_msg(u64::MAX, 1, "a", "#r", "x")])
        .expect_err("too big");
    assert!(matches!(err, StoreError::InvalidRecord(_)), "{err}");
    assert!(store.append(&[]).is_ok());
}

fn records_round_trip_every_field<B: Backend>() {
    let b = B::open(DEFAULT_MAX_LIMIT);
    let store = b.store();
    let mut topic = room_msg(5, 123, "Alice", "#Room", "new topic");
    topic.kind = RecordKind::Topic;
    let mut action = pm(6, 124, "Alice", "Bob", "waves");
    action.kind = RecordKind::Action;
    store
        .append(&[topic.clone(), action.clone()])
        .expect("append");
    let got = store
        .query(&room_q("#room", Selector::Latest { after: None }, 10))
        .expect("query");
    assert_eq!(got, vec![topic]);
    let got = store
        .query(&HistoryQuery {
            requester: "bob".into(),
            target: QueryTarget::Nick("ALICE".into()),
            selector: Selector::Latest { after: None },
            limit: 10,
        })
        .expect("query");
    assert_eq!(got, vec![without_accounts(&action)]);
}

fn tagged(mut rec: Record, tags: &[(&str, &str)]) -> Record {
    rec.tags = tags
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect();
    rec
}

/// A reaction: a TAGMSG record with its tags.
fn reaction(id: u64, ms: u64, from: &str, to: MsgTarget, on: u64, emoji: &str) -> Record {
    let mut rec = room_msg(id, ms, from, "#unused", "");
    rec.kind = RecordKind::TagMsg;
    rec.to = to;
    tagged(
        rec,
        &[("+draft/react", emoji), ("+draft/reply", &on.to_string())],
    )
}

/// A reply (a message with `+draft/reply`) and a reaction (a TAGMSG)
/// come back with their tags, in a room (pages, and rows for what comes
/// out of order) and in private, from every selector that reaches them.
fn client_tags_and_tag_only_messages_come_back_from_every_query<B: Backend>() {
    let b = B::open(DEFAULT_MAX_LIMIT);
    let store = b.store();
    let room = || MsgTarget::Room("#r".into());
    let first = room_msg(1, 10, "alice", "#r", "who brings the cake");
    let reply = tagged(
        room_msg(2, 20, "bob", "#r", "me"),
        &[("+draft/reply", "1"), ("+draft/channel-context", "#r")],
    );
    let react = reaction(3, 30, "carol", room(), 2, "🎂");
    let last = room_msg(4, 40, "alice", "#r", "thanks");
    store
        .append(&[first.clone(), reply.clone(), react.clone(), last.clone()])
        .expect("append");
    // An older reaction arriving late goes to a row, not a page.
    let late = reaction(5, 15, "dave", room(), 1, "👍");
    store
        .append(std::slice::from_ref(&late))
        .expect("append late");
    let all = vec![first, late, reply.clone(), react.clone(), last];
    let got = store
        .query(&room_q("#r", Selector::Latest { after: None }, 10))
        .expect("latest");
    assert_eq!(got, all);
    let got = store
        .query(&room_q("#r", Selector::Before(Anchor::MsgId(4)), 2))
        .expect("before");
    assert_eq!(got, vec![reply.clone(), react.clone()]);
    let got = store
        .query(&room_q("#r", Selector::Around(Anchor::MsgId(3)), 3))
        .expect("around");
    assert_eq!(got, all[2..5].to_vec());
    // A tag-only message can be an anchor like any other.
    let got = store
        .query(&room_q("#r", Selector::After(Anchor::MsgId(5)), 1))
        .expect("after");
    assert_eq!(got, vec![reply]);
    // In private: both parties read the reaction with its tags.
    let mut dm = reaction(6, 60, "alice", MsgTarget::Nick("bob".into()), 4, "❤");
    Arc::make_mut(&mut dm.from).account = Some("alice".into());
    dm.to_account = Some("bob".into());
    store.append(std::slice::from_ref(&dm)).expect("append dm");
    for (me, peer) in [("alice", "bob"), ("bob", "alice")] {
        let got = store
            .query(&pm_q(
                me,
                QueryTarget::Nick(peer.into()),
                Selector::Latest { after: None },
            ))
            .expect("private");
        assert_eq!(got, vec![without_accounts(&dm)], "{me}");
    }
}

/// SEARCH looks at what people wrote, not at tags: a reaction's emoji or
/// a reply's msgid is never a match, and a tag-only message never one.
fn tags_are_never_searched<B: Backend>() {
    let b = B::open(DEFAULT_MAX_LIMIT);
    let store = b.store();
    let room = || MsgTarget::Room("#r".into());
    store
        .append(&[
            room_msg(1, 10, "alice", "#r", "quince jam"),
            tagged(
                room_msg(2, 20, "bob", "#r", "plain"),
                &[("+draft/reply", "medlar")],
            ),
            reaction(3, 30, "carol", room(), 1, "medlar"),
        ])
        .expect("append");
    assert!(
        store
            .search("", &QueryTarget::Room("#r".into()), "medlar", 10)
            .expect("search")
            .is_empty()
    );
    assert_eq!(
        ids(&store
            .search("", &QueryTarget::Room("#r".into()), "quince", 10)
            .expect("search")),
        vec![1]
    );
}

/// A private message held for an offline account keeps its tags (a
/// reply to something the recipient said).
fn held_messages_keep_their_tags<B: Backend>() {
    let b = B::open(DEFAULT_MAX_LIMIT);
    let store = b.store();
    let held = tagged(
        pm(7, 300, "alice", "Carol", "yes"),
        &[("+draft/reply", "6")],
    );
    store.hold_offline("Carol", &held).expect("hold");
    let peeked = store.peek_offline("carol").expect("peek");
    assert_eq!(peeked.len(), 1);
    assert_eq!(peeked[0].1, without_accounts(&held));
    assert_eq!(
        store.take_offline("carol").expect("take"),
        vec![without_accounts(&held)]
    );
}

fn latest_returns_the_newest_in_ascending_order<B: Backend>() {
    let b = B::open(DEFAULT_MAX_LIMIT);
    let store = b.store();
    ten(store);
    assert_eq!(
        q(store, Selector::Latest { after: None }, 3),
        vec![8, 9, 10]
    );
    assert_eq!(
        q(
            store,
            Selector::Latest {
                after: Some(MsgId(7))
            },
            100
        ),
        vec![8, 9, 10]
    );
    assert_eq!(
        q(
            store,
            Selector::Latest {
                after: Some(MsgId(2))
            },
            2
        ),
        vec![9, 10]
    );
    // A moment exactly at message 7's time excludes message 7.
    assert_eq!(
        q(
            store,
            Selector::Latest {
                after: Some(Time(at(70)))
            },
            100
        ),
        vec![8, 9, 10]
    );
    assert!(
        q(
            store,
            Selector::Latest {
                after: Some(MsgId(10))
            },
            100
        )
        .is_empty()
    );
}

fn before_and_after_are_exclusive<B: Backend>() {
    let b = B::open(DEFAULT_MAX_LIMIT);
    let store = b.store();
    ten(store);
    assert_eq!(q(store, Selector::Before(MsgId(5)), 2), vec![3, 4]);
    assert_eq!(q(store, Selector::Before(MsgId(5)), 100), vec![1, 2, 3, 4]);
    assert_eq!(
        q(store, Selector::Before(Time(at(50))), 100),
        vec![1, 2, 3, 4]
    );
    assert_eq!(q(store, Selector::Before(Time(at(51))), 1), vec![5]);
    assert_eq!(q(store, Selector::After(MsgId(5)), 2), vec![6, 7]);
    assert_eq!(q(store, Selector::After(Time(at(50))), 2), vec![6, 7]);
    assert_eq!(q(store, Selector::After(Time(at(49))), 1), vec![5]);
    assert!(q(store, Selector::Before(MsgId(1)), 10).is_empty());
    assert!(q(store, Selector::After(MsgId(10)), 10).is_empty());
    assert!(q(store, Selector::After(Time(at(100_000))), 10).is_empty());
}

fn messages_in_the_same_millisecond_are_ordered_by_msgid<B: Backend>() {
    let b = B::open(DEFAULT_MAX_LIMIT);
    let store = b.store();
    let batch: Vec<Record> = (1..=6)
        .map(|i| room_msg(i, 7, "a", "#r", "same time"))
        .collect();
    store.append(&batch).expect("append");
    assert_eq!(q(store, Selector::Before(MsgId(4)), 2), vec![2, 3]);
    assert_eq!(q(store, Selector::After(MsgId(4)), 10), vec![5, 6]);
    // Paging backwards by msgid visits every message exactly once.
    let mut seen = Vec::new();
    let mut anchor = Selector::Latest { after: None };
    loop {
        let page = q(store, anchor, 2);
        let Some(&first) = page.first() else { break };
        seen.splice(0..0, page);
        anchor = Selector::Before(MsgId(first));
    }
    assert_eq!(seen, vec![1, 2, 3, 4, 5, 6]);
    // A moment at that millisecond: everything is "at", nothing before/after.
    assert!(q(store, Selector::Before(Time(at(7))), 10).is_empty());
    assert!(q(store, Selector::After(Time(at(7))), 10).is_empty());
}

fn ordering_follows_time_not_insertion<B: Backend>() {
    let b = B::open(DEFAULT_MAX_LIMIT);
    let store = b.store();
    store
        .append(&[
            room_msg(3, 30, "a", "#r", "c"),
            room_msg(1, 10, "a", "#r", "a"),
        ])
        .expect("append");
    store
        .append(&[room_msg(2, 20, "a", "#r", "b")])
        .expect("append");
    assert_eq!(
        q(store, Selector::Latest { after: None }, 10),
        vec![1, 2, 3]
    );
}

fn around_centres_on_the_anchor_and_fills_from_the_longer_side<B: Backend>() {
    let b = B::open(DEFAULT_MAX_LIMIT);
    let store = b.store();
    ten(store);
    assert_eq!(q(store, Selector::Around(MsgId(5)), 4), vec![3, 4, 5, 6]);
    assert_eq!(q(store, Selector::Around(MsgId(5)), 3), vec![4, 5, 6]);
    assert_eq!(q(store, Selector::Around(MsgId(5)), 1), vec![5]);
    // Near the start, the missing "before" share goes to "after".
    assert_eq!(q(store, Selector::Around(MsgId(1)), 4), vec![1, 2, 3, 4]);
    // Near the end, the missing "after" share goes to "before".
    assert_eq!(q(store, Selector::Around(MsgId(10)), 4), vec![7, 8, 9, 10]);
    // A moment: messages at or after it count as "after".
    assert_eq!(
        q(store, Selector::Around(Time(at(55))), 4),
        vec![4, 5, 6, 7]
    );
    assert_eq!(q(store, Selector::Around(Time(at(50))), 2), vec![4, 5]);
    assert_eq!(q(store, Selector::Around(MsgId(5)), 100).len(), 10);
}

fn between_is_exclusive_in_both_directions<B: Backend>() {
    let b = B::open(DEFAULT_MAX_LIMIT);
    let store = b.store();
    ten(store);
    assert_eq!(
        q(store, Selector::Between(MsgId(3), MsgId(7)), 100),
        vec![4, 5, 6]
    );
    // The limit keeps those nearest the first anchor.
    assert_eq!(
        q(store, Selector::Between(MsgId(3), MsgId(7)), 2),
        vec![4, 5]
    );
    assert_eq!(
        q(store, Selector::Between(MsgId(7), MsgId(3)), 100),
        vec![4, 5, 6]
    );
    assert_eq!(
        q(store, Selector::Between(MsgId(7), MsgId(3)), 2),
        vec![5, 6]
    );
    assert_eq!(
        q(store, Selector::Between(Time(at(30)), Time(at(70))), 100),
        vec![4, 5, 6]
    );
    assert_eq!(
        q(store, Selector::Between(Time(at(70)), Time(at(30))), 1),
        vec![6]
    );
    assert_eq!(
        q(store, Selector::Between(MsgId(3), Time(at(70))), 100),
        vec![4, 5, 6]
    );
    assert!(q(store, Selector::Between(MsgId(5), MsgId(5)), 100).is_empty());
    assert!(q(store, Selector::Between(MsgId(5), MsgId(6)), 100).is_empty());
    assert!(q(store, Selector::Between(Time(at(50)), Time(at(50))), 100).is_empty());
}

fn unknown_or_foreign_msgids_give_an_empty_result<B: Backend>() {
    let b = B::open(DEFAULT_MAX_LIMIT);
    let store = b.store();
    ten(store);
    // 99 never existed; 12 is in #other; u64::MAX cannot exist.
    for bad in [99, 12, u64::MAX, 0] {
        for selector in [
            Selector::Latest {
                after: Some(MsgId(bad)),
            },
            Selector::Before(MsgId(bad)),
            Selector::After(MsgId(bad)),
            Selector::Around(MsgId(bad)),
            Selector::Between(MsgId(bad), MsgId(5)),
            Selector::Between(MsgId(5), MsgId(bad)),
        ] {
            assert!(q(store, selector, 10).is_empty(), "{selector:?}");
        }
    }
}

fn limits_are_clamped_and_zero_returns_nothing<B: Backend>() {
    let b = B::open(4);
    let store = b.store();
    ten(store);
    assert_eq!(
        q(store, Selector::Latest { after: None }, usize::MAX),
        vec![7, 8, 9, 10]
    );
    assert_eq!(
        q(store, Selector::After(MsgId(1)), 1_000_000_000),
        vec![2, 3, 4, 5]
    );
    assert_eq!(q(store, Selector::Around(MsgId(5)), usize::MAX).len(), 4);
    assert!(q(store, Selector::Latest { after: None }, 0).is_empty());
    assert!(q(store, Selector::Around(MsgId(5)), 0).is_empty());
}

fn extreme_moments_do_not_break_queries<B: Backend>() {
    let b = B::open(DEFAULT_MAX_LIMIT);
    let store = b.store();
    ten(store);
    let far_future = UNIX_EPOCH + Duration::from_secs(u64::MAX / 4);
    let before_epoch = UNIX_EPOCH - Duration::from_secs(1_000_000);
    assert_eq!(q(store, Selector::Before(Time(far_future)), 2), vec![9, 10]);
    assert_eq!(q(store, Selector::After(Time(before_epoch)), 2), vec![1, 2]);
    assert_eq!(
        q(
            store,
            Selector::Between(Time(before_epoch), Time(far_future)),
            100
        )
        .len(),
        10
    );
    assert_eq!(q(store, Selector::Around(Time(far_future)), 2), vec![9, 10]);
}

fn private_messages_are_seen_only_by_their_two_parties<B: Backend>() {
    let b = B::open(DEFAULT_MAX_LIMIT);
    let store = b.store();
    store
        .append(&[
            pm(1, 10, "Alice", "bob", "secret one"),
            pm(2, 20, "Bob", "alice", "secret two"),
            pm(3, 30, "carol", "dave", "other secret"),
            room_msg(4, 40, "carol", "#r", "public"),
        ])
        .expect("append");
    let latest = Selector::Latest { after: None };
    let both = vec![1, 2];
    // Either party, any case, sees the conversation.
    let seen = store
        .query(&pm_q("alice", QueryTarget::Nick("BOB".into()), latest))
        .expect("query");
    assert_eq!(ids(&seen), both);
    let seen = store
        .query(&pm_q("BOB", QueryTarget::Nick("alice".into()), latest))
        .expect("query");
    assert_eq!(ids(&seen), both);
    let all = store
        .query(&pm_q("bob", QueryTarget::AllPrivate, latest))
        .expect("query");
    assert_eq!(ids(&all), both);
    // A third party sees nothing, whichever way it asks.
    for target in [
        QueryTarget::Nick("alice".into()),
        QueryTarget::Nick("bob".into()),
        QueryTarget::Nick("carol".into()),
    ] {
        for selector in [
            latest,
            Selector::Around(MsgId(1)),
            Selector::After(MsgId(1)),
            Selector::Between(MsgId(1), MsgId(2)),
            Selector::Between(Time(at(0)), Time(at(1000))),
        ] {
            let got = store
                .query(&pm_q("mallory", target.clone(), selector))
                .expect("query");
            assert!(got.is_empty(), "{target:?} {selector:?}");
        }
    }
    let got = store
        .query(&pm_q("mallory", QueryTarget::AllPrivate, latest))
        .expect("query");
    assert!(got.is_empty());
    // A private msgid is no anchor in a room.
    assert!(q(store, Selector::Around(MsgId(1)), 10).is_empty());
    // The room query does not leak private messages.
    let room = store.query(&room_q("#R", latest, 10)).expect("query");
    assert_eq!(ids(&room), vec![4]);
    // Searching someone else's conversation finds nothing.
    let found = store
        .search("mallory", &QueryTarget::Nick("alice".into()), "secret", 10)
        .expect("search");
    assert!(found.is_empty());
    let found = store
        .search("alice", &QueryTarget::Nick("bob".into()), "secret", 10)
        .expect("search");
    assert_eq!(ids(&found), vec![2, 1]);
}

fn messages_to_oneself_are_a_conversation_too<B: Backend>() {
    let b = B::open(DEFAULT_MAX_LIMIT);
    let store = b.store();
    store
        .append(&[pm(1, 10, "alice", "Alice", "note to self")])
        .expect("append");
    let got = store
        .query(&pm_q(
            "alice",
            QueryTarget::Nick("alice".into()),
            Selector::Latest { after: None },
        ))
        .expect("query");
    assert_eq!(ids(&got), vec![1]);
    let got = store
        .query(&pm_q(
            "bob",
            QueryTarget::Nick("alice".into()),
            Selector::Latest { after: None },
        ))
        .expect("query");
    assert!(got.is_empty());
}

/// Whoever later takes a nickname nobody had registered (registering it,
/// even) reads nothing of what its earlier holder said or was told; the
/// one who was logged in reads the whole conversation.
fn private_history_is_read_by_account_not_by_nickname<B: Backend>() {
    let b = B::open(DEFAULT_MAX_LIMIT);
    let store = b.store();
    store
        .append(&[
            // carol, not logged in, talks with alice, logged in.
            pm_as(1, 10, ("alice", Some("Alice")), ("carol", None), "hi carol"),
            pm_as(2, 20, ("carol", None), ("alice", Some("Alice")), "hi alice"),
            // Later, carol's nickname belongs to an account "carol".
            pm_as(
                3,
                30,
                ("carol", Some("carol")),
                ("alice", Some("Alice")),
                "it's me now",
            ),
            // alice logged in to an account named otherwise.
            pm_as(
                4,
                40,
                ("alice", Some("Alicia")),
                ("bob", Some("bob")),
                "psst",
            ),
            // bob not logged in when told something.
            pm_as(
                5,
                50,
                ("dave", Some("dave")),
                ("bob", None),
                "for whoever is bob",
            ),
        ])
        .expect("append");
    let latest = Selector::Latest { after: None };
    let read = |requester: &str, target: QueryTarget| {
        ids(&store
            .query(&pm_q(requester, target, latest))
            .expect("query"))
    };
    let nick = |n: &str| QueryTarget::Nick(n.into());
    // The account that was logged in reads everything on its side.
    assert_eq!(read("ALICE", nick("Carol")), vec![1, 2, 3]);
    assert_eq!(read("alice", QueryTarget::AllPrivate), vec![1, 2, 3]);
    // The account "carol" reads only what it took part in.
    assert_eq!(read("carol", nick("alice")), vec![3]);
    assert_eq!(read("carol", QueryTarget::AllPrivate), vec![3]);
    // Another account of alice's nickname's name is not alice's account.
    assert_eq!(read("alicia", nick("bob")), vec![4]);
    assert_eq!(read("alice", nick("bob")), Vec::<u64>::new());
    assert_eq!(read("bob", nick("alice")), vec![4]);
    assert_eq!(read("bob", nick("dave")), Vec::<u64>::new());
    assert_eq!(read("dave", nick("bob")), vec![5]);
    // Nobody reads as nobody.
    assert_eq!(read("", nick("alice")), Vec::<u64>::new());
    assert_eq!(read("", QueryTarget::AllPrivate), Vec::<u64>::new());
    // A message one may not read is no anchor either, and no search finds it.
    for selector in [
        Selector::Around(MsgId(1)),
        Selector::After(MsgId(1)),
        Selector::Before(MsgId(2)),
    ] {
        let got = store
            .query(&pm_q("carol", nick("alice"), selector))
            .expect("query");
        assert!(got.is_empty(), "{selector:?}");
    }
    let found = store
        .search("carol", &nick("alice"), "hi", 10)
        .expect("search");
    assert!(found.is_empty());
    let found = store
        .search("alice", &nick("carol"), "hi", 10)
        .expect("search");
    assert_eq!(ids(&found), vec![2, 1]);
    // TARGETS likewise.
    let names = |requester: &str| {
        store
            .targets(requester, &[], at(0), at(1000), 100)
            .expect("targets")
            .into_iter()
            .map(|t| t.target)
            .collect::<Vec<_>>()
    };
    assert_eq!(names("carol"), vec![MsgTarget::Nick("alice".into())]);
    assert_eq!(names("alice"), vec![MsgTarget::Nick("carol".into())]);
    assert_eq!(names("bob"), vec![MsgTarget::Nick("alice".into())]);
    assert!(names("").is_empty());
}

/// The other party is named by the nickname they had or the account they
/// were logged in to: bob's conversation is found as "bob" whatever his
/// nickname was, and by the nickname too.
fn a_conversation_is_found_by_the_peers_nickname_or_account<B: Backend>() {
    let b = B::open(DEFAULT_MAX_LIMIT);
    let store = b.store();
    store
        .append(&[
            pm_as(1, 10, ("alice", Some("alice")), ("bob", Some("bob")), "one"),
            pm_as(
                2,
                20,
                ("bob_away", Some("bob")),
                ("alice", Some("alice")),
                "two",
            ),
            pm_as(
                3,
                30,
                ("alice", Some("alice")),
                ("bob_away", Some("bob")),
                "three",
            ),
            pm_as(
                4,
                40,
                ("alice", Some("alice")),
                ("bob_away", None),
                "not bob",
            ),
        ])
        .expect("append");
    let read = |requester: &str, peer: &str| {
        ids(&store
            .query(&pm_q(
                requester,
                QueryTarget::Nick(peer.into()),
                Selector::Latest { after: None },
            ))
            .expect("query"))
    };
    assert_eq!(read("alice", "BOB"), vec![1, 2, 3]);
    assert_eq!(read("alice", "bob_away"), vec![2, 3, 4]);
    assert_eq!(read("bob", "alice"), vec![1, 2, 3]);
    // Between two moments, by msgid: the same conversation.
    let got = store
        .query(&pm_q(
            "alice",
            QueryTarget::Nick("bob".into()),
            Selector::Between(MsgId(1), MsgId(3)),
        ))
        .expect("query");
    assert_eq!(ids(&got), vec![2]);
    // TARGETS names each nickname the other party had.
    let targets = store
        .targets("alice", &[], at(0), at(1000), 100)
        .expect("targets");
    let got: Vec<(MsgTarget, SystemTime)> =
        targets.into_iter().map(|t| (t.target, t.latest)).collect();
    assert_eq!(
        got,
        vec![
            (MsgTarget::Nick("bob".into()), at(10)),
            (MsgTarget::Nick("bob_away".into()), at(40)),
        ]
    );
}

/// draft/chathistory's TARGETS gives each conversation with the time of
/// its latest message: one that went on after the window is not in it.
fn targets_leaves_out_conversations_that_went_on_after_the_window<B: Backend>() {
    let b = B::open(DEFAULT_MAX_LIMIT);
    let store = b.store();
    store
        .append(&[
            room_msg(1, 10, "alice", "#r", "zero"),
            room_msg(2, 20, "alice", "#r", "one"),
            room_msg(3, 30, "alice", "#r", "two"),
            pm(4, 15, "bob", "alice", "early"),
            pm(5, 35, "bob", "alice", "late"),
        ])
        .expect("append");
    let rooms = vec!["#r".to_string()];
    let t = |from, to| {
        store
            .targets("alice", &rooms, at(from), at(to), 100)
            .expect("targets")
            .into_iter()
            .map(|t| (t.target, t.latest))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        t(0, 1000),
        vec![
            (MsgTarget::Room("#r".into()), at(30)),
            (MsgTarget::Nick("bob".into()), at(35)),
        ]
    );
    // Up to the room's second message: both went on after it.
    assert!(t(0, 20).is_empty());
    assert!(t(20, 0).is_empty());
    assert_eq!(t(0, 31), vec![(MsgTarget::Room("#r".into()), at(30))]);
    assert_eq!(t(31, 36), vec![(MsgTarget::Nick("bob".into()), at(35))]);
    // Bounds stay exclusive.
    assert!(t(30, 35).is_empty());
}

fn targets_lists_conversations_by_latest_message<B: Backend>() {
    let b = B::open(DEFAULT_MAX_LIMIT);
    let store = b.store();
    store
        .append(&[
            pm(1, 10, "alice", "bob", "hi bob"),
            room_msg(2, 20, "zed", "#x", "x"),
            pm(3, 30, "Carol", "alice", "hi alice"),
            room_msg(4, 40, "zed", "#y", "y"),
            pm(5, 50, "Bob", "alice", "hi again"),
            pm(6, 60, "dave", "erin", "not alice's"),
            room_msg(7, 70, "zed", "#hidden", "alice is not in here"),
        ])
        .expect("append");
    let rooms = vec!["#x".to_string(), "#Y".to_string(), "#empty".to_string()];
    let t = |from, to, limit| {
        store
            .targets("ALICE", &rooms, at(from), at(to), limit)
            .expect("targets")
    };
    let all = t(0, 1000, 100);
    let names: Vec<(String, u128)> = all
        .iter()
        .map(|ti| {
            let name = match &ti.target {
                MsgTarget::Room(n) => format!("room {n}"),
                MsgTarget::Nick(n) => format!("nick {n}"),
                MsgTarget::Status(n) => format!("status {n}"),
            };
            let ms = ti
                .latest
                .duration_since(at(0))
                .map(|d| d.as_millis())
                .unwrap_or(0);
            (name, ms)
        })
        .collect();
    assert_eq!(
        names,
        vec![
            ("room #x".to_string(), 20),
            ("nick Carol".to_string(), 30),
            ("room #Y".to_string(), 40),
            ("nick Bob".to_string(), 50),
        ]
    );
    // A conversation is listed only when its latest message is inside
    // the (exclusive) window: bob's is at 50, so not in (0, 50), though
    // his first message, at 10, is.
    let early = t(0, 50, 100);
    assert_eq!(
        early.iter().map(|t| t.target.clone()).collect::<Vec<_>>(),
        vec![
            MsgTarget::Room("#x".into()),
            MsgTarget::Nick("Carol".into()),
            MsgTarget::Room("#Y".into()),
        ]
    );
    assert!(
        t(0, 40, 100)
            .iter()
            .all(|t| t.target != MsgTarget::Room("#Y".into()))
    );
    // ...and a window after a conversation's last message lists it not.
    assert!(
        t(25, 1000, 100)
            .iter()
            .all(|t| t.target != MsgTarget::Room("#x".into()))
    );
    // Limit keeps those nearest the first bound; reversed bounds work.
    assert_eq!(t(0, 1000, 2).len(), 2);
    assert_eq!(t(0, 1000, 2)[0].target, MsgTarget::Room("#x".into()));
    let late = t(1000, 0, 2);
    assert_eq!(late.len(), 2);
    assert_eq!(late[1].target, MsgTarget::Nick("Bob".into()));
    assert!(t(0, 1000, 0).is_empty());
    // Someone else sees none of alice's private conversations.
    let other = store
        .targets("mallory", &[], at(0), at(1000), 100)
        .expect("targets");
    assert!(other.is_empty());
}

fn search_finds_words_newest_first_in_one_room<B: Backend>() {
    let b = B::open(DEFAULT_MAX_LIMIT);
    let store = b.store();
    store
        .append(&[
            room_msg(1, 10, "alice", "#r", "the quick brown fox"),
            room_msg(2, 20, "bob", "#r", "a lazy dog"),
            room_msg(3, 30, "carol", "#r", "Quick thinking, brown-nosing"),
            room_msg(4, 40, "dave", "#other", "quick brown elsewhere"),
            room_msg(5, 50, "erin", "#r", "café crème"),
        ])
        .expect("append");
    let s = |words: &str| {
        ids(&store
            .search("x", &QueryTarget::Room("#R".into()), words, 10)
            .expect("search"))
    };
    assert_eq!(s("quick brown"), vec![3, 1]);
    assert_eq!(s("dog"), vec![2]);
    assert_eq!(s("cafe"), vec![5]);
    assert_eq!(s("nothing-here"), Vec::<u64>::new());
    let found = store
        .search("x", &QueryTarget::Room("#r".into()), "fox", 10)
        .expect("search");
    assert_eq!(found[0].from.nick.as_ref(), "alice");
    assert_eq!(found[0].time, at(10));
    assert_eq!(
        ids(&store
            .search("x", &QueryTarget::Room("#r".into()), "quick", 1)
            .expect("search")),
        vec![3]
    );
}

fn search_treats_fts_syntax_as_plain_text<B: Backend>() {
    let b = B::open(DEFAULT_MAX_LIMIT);
    let store = b.store();
    store
        .append(&[
            room_msg(1, 10, "alice", "#r", "alpha beta"),
            room_msg(2, 20, "alice", "#r", "alpha OR gamma"),
            room_msg(3, 30, "alice", "#r", "say \"hi\" there"),
            room_msg(4, 40, "alice", "#r", "text: colons and NEAR things"),
        ])
        .expect("append");
    let hostile = [
        "\"",
        "\"\"",
        "\"unclosed",
        "*",
        "alpha*",
        "NEAR(alpha beta)",
        "NEAR(",
        "-alpha",
        "alpha -beta",
        "text:alpha",
        ":",
        "AND",
        "OR",
        "NOT",
        "alpha AND",
        "OR alpha",
        "(",
        ")",
        "((alpha)",
        "^alpha",
        "{text}: alpha",
        "alpha\0beta",
        "\u{0}",
        "+",
        "alpha + beta",
        "🙂",
        "ß ẞ İ",
        "",
        "   ",
    ];
    for words in hostile {
        let got = store.search("x", &QueryTarget::Room("#r".into()), words, 10);
        assert!(got.is_ok(), "{words:?}: {got:?}");
    }
    let s = |words: &str| {
        ids(&store
            .search("x", &QueryTarget::Room("#r".into()), words, 10)
            .expect("search"))
    };
    // OR is a word, not an operator: only the message containing "or".
    assert_eq!(s("alpha OR beta"), Vec::<u64>::new());
    assert_eq!(s("alpha OR"), vec![2]);
    // A leading '-' does not negate; '*' does not make a prefix query.
    assert_eq!(s("-beta"), vec![1]);
    assert_eq!(s("alph*"), Vec::<u64>::new());
    assert_eq!(s("\"hi\""), vec![3]);
    assert_eq!(s("text: NEAR"), vec![4]);
    let huge = "alpha ".repeat(100_000);
    assert_eq!(s(&huge), vec![2, 1]);
}

fn search_finds_what_was_appended_just_before<B: Backend>() {
    let b = B::open(DEFAULT_MAX_LIMIT);
    let store = b.store();
    store
        .append(&[room_msg(1, 10, "alice", "#r", "lychee now")])
        .expect("append");
    let found = store
        .search("x", &QueryTarget::Room("#r".into()), "lychee", 10)
        .expect("search");
    assert_eq!(ids(&found), vec![1]);
}

fn a_search_pages_through_matches_in_other_rooms<B: Backend>() {
    let b = B::open(DEFAULT_MAX_LIMIT);
    let store = b.store();
    // Many newer matches in another room: the index's first page holds
    // none of #a's, and the search must go on to older pages.
    let mut batch = vec![room_msg(1, 10, "alice", "#a", "needle one")];
    for i in 2..=300 {
        batch.push(room_msg(i, 10 + i, "bob", "#b", "needle elsewhere"));
    }
    store.append(&batch).expect("append");
    let found = store
        .search("x", &QueryTarget::Room("#a".into()), "needle", 10)
        .expect("search");
    assert_eq!(ids(&found), vec![1]);
}

fn a_word_with_a_quote_still_finds_the_word<B: Backend>() {
    let b = B::open(DEFAULT_MAX_LIMIT);
    let store = b.store();
    store
        .append(&[room_msg(1, 10, "alice", "#r", "hello world from alice")])
        .expect("append");
    let found = store
        .search("x", &QueryTarget::Room("#r".into()), "\"world", 10)
        .expect("search");
    assert_eq!(ids(&found), vec![1]);
}

fn offline_messages_come_back_in_order_once<B: Backend>() {
    let b = B::open(DEFAULT_MAX_LIMIT);
    let store = b.store();
    let held = [
        pm(7, 300, "alice", "Carol", "first"),
        pm(3, 100, "bob", "Carol", "second (older time, later arrival)"),
        pm(9, 500, "alice", "Carol", "third"),
    ];
    for rec in &held {
        store.hold_offline("Carol", rec).expect("hold");
    }
    store
        .hold_offline("dave", &pm(10, 600, "alice", "dave", "for dave"))
        .expect("hold");
    let got = store.take_offline("CAROL").expect("take");
    assert_eq!(
        got,
        held.iter().map(without_accounts).collect::<Vec<_>>(),
        "arrival order, every field but the accounts (incl. time) kept"
    );
    assert!(store.take_offline("carol").expect("take again").is_empty());
    assert_eq!(ids(&store.take_offline("Dave").expect("take")), vec![10]);
    assert!(store.take_offline("nobody").expect("take").is_empty());
}

fn held_messages_stay_until_acknowledged_and_go_in_order<B: Backend>() {
    let b = B::open(DEFAULT_MAX_LIMIT);
    let store = b.store();
    store
        .hold_offline("Dora", &pm(10, 100, "alice", "dora", "first"))
        .expect("hold");
    store
        .hold_offline("dora", &pm(11, 200, "bob", "dora", "second"))
        .expect("hold");
    let held = store.peek_offline("DORA").expect("peek");
    assert_eq!(held.len(), 2);
    assert_eq!(&*held[0].1.text, "first");
    assert_eq!(&*held[1].1.text, "second");
    assert_eq!(held[0].1.time, at(100));
    // Peeking again (a crash before the hand-over) still finds both.
    assert_eq!(store.peek_offline("dora").expect("peek").len(), 2);
    store.ack_offline("dora", held[0].0).expect("ack");
    let rest = store.peek_offline("dora").expect("peek");
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].1.id, 11);
    store.ack_offline("dora", rest[0].0).expect("ack");
    assert!(store.peek_offline("dora").expect("peek").is_empty());
}

fn certificate_fingerprints_belong_to_one_account<B: Backend>() {
    let b = B::open(DEFAULT_MAX_LIMIT);
    let store = b.store();
    for name in ["Alice", "bob"] {
        store
            .put_account(&Account {
                name: name.into(),
                password_hash: "$argon2id$x".into(),
                created: at(1),
            })
            .expect("account");
    }
    assert!(store.add_cert("alice", "AA:BB").expect("add"));
    assert!(store.add_cert("ALICE", "AA:BB").expect("add again"));
    assert!(!store.add_cert("bob", "AA:BB").expect("taken"));
    assert!(store.add_cert("alice", "CC:DD").expect("add"));
    assert_eq!(store.certs("alice").expect("list"), vec!["AA:BB", "CC:DD"]);
    let owner = store.account_by_cert("AA:BB").expect("lookup");
    assert_eq!(owner.map(|a| a.name), Some("Alice".to_string()));
    assert!(store.account_by_cert("EE:FF").expect("lookup").is_none());
    assert!(!store.del_cert("bob", "AA:BB").expect("not bob's"));
    assert!(store.del_cert("alice", "AA:BB").expect("del"));
    assert!(store.account_by_cert("AA:BB").expect("lookup").is_none());
    assert_eq!(
        store.account_names().expect("names"),
        vec!["Alice".to_string(), "bob".to_string()]
    );
}

fn compaction_by_age_keeps_what_is_young_enough<B: Backend>() {
    let b = B::open(DEFAULT_MAX_LIMIT);
    let store = b.store();
    ten(store);
    let policy = Retention {
        rooms: Limits {
            max_age: Some(Duration::from_millis(45)),
            max_count: None,
        },
        chunk: 2,
        ..Retention::default()
    };
    // now = 100 ms: anything older than 55 ms goes (ids 1..=5 in #r, none in
    // #other whose messages are at 110..130).
    let stats = store.compact(&policy, at(100)).expect("compact");
    assert_eq!(stats.by_age, 5);
    assert_eq!(stats.conversations, 2);
    assert!(stats.transactions >= 3, "deleted in chunks: {stats:?}");
    assert_eq!(
        q(store, Selector::Latest { after: None }, 100),
        vec![6, 7, 8, 9, 10]
    );
    // Search no longer finds what was deleted (the FTS index followed).
    let found = store
        .search("x", &QueryTarget::Room("#r".into()), "message", 100)
        .expect("search");
    assert_eq!(ids(&found), vec![10, 9, 8, 7, 6]);
    assert_eq!(store.compact(&policy, at(100)).expect("again").by_age, 0);
}

fn compaction_by_count_keeps_the_newest<B: Backend>() {
    let b = B::open(DEFAULT_MAX_LIMIT);
    let store = b.store();
    ten(store);
    store
        .append(&[pm(20, 200, "a", "b", "p1"), pm(21, 210, "a", "b", "p2")])
        .expect("append");
    let policy = Retention {
        rooms: Limits {
            max_age: None,
            max_count: Some(3),
        },
        private: Limits {
            max_age: None,
            max_count: Some(1),
        },
        chunk: 2,
    };
    let stats = store.compact(&policy, at(100)).expect("compact");
    // 7 from #busy, none from #other, 1 private.
    assert_eq!(stats.by_count, 8);
    assert_eq!(
        q(store, Selector::Latest { after: None }, 100),
        vec![8, 9, 10]
    );
    let other = store
        .query(&room_q("#other", Selector::Latest { after: None }, 100))
        .expect("query");
    assert_eq!(ids(&other), vec![11, 12, 13]);
    let private = store
        .query(&pm_q(
            "b",
            QueryTarget::Nick("a".into()),
            Selector::Latest { after: None },
        ))
        .expect("query");
    assert_eq!(ids(&private), vec![21]);
}

fn a_rooms_own_limits_override_the_server_policy<B: Backend>() {
    let b = B::open(DEFAULT_MAX_LIMIT);
    let store = b.store();
    ten(store);
    store
        .save_room(&RoomState {
            name: "#R".into(),
            topic: None,
            modes: String::new(),
            founder: None,
            registered: true,
            registered_at: Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
            limits: Some(Limits {
                max_age: None,
                max_count: Some(2),
            }),
        })
        .expect("save");
    let policy = Retention {
        rooms: Limits {
            max_age: None,
            max_count: Some(1),
        },
        ..Retention::default()
    };
    store.compact(&policy, at(100)).expect("compact");
    assert_eq!(q(store, Selector::Latest { after: None }, 100), vec![9, 10]);
    let other = store
        .query(&room_q("#other", Selector::Latest { after: None }, 100))
        .expect("query");
    assert_eq!(ids(&other), vec![13]);
}

fn last_id_counts_records_of_rooms_that_keep_nothing<B: Backend>() {
    let b = B::open(DEFAULT_MAX_LIMIT);
    let store = b.store();
    store
        .append(&[room_msg(1, 10, "alice", "#kept", "one")])
        .expect("append");
    store
        .save_room(&RoomState {
            name: "#quiet".into(),
            topic: None,
            modes: String::new(),
            founder: None,
            registered: false,
            registered_at: None,
            limits: Some(Limits {
                max_age: None,
                max_count: Some(0),
            }),
        })
        .expect("save room");
    store
        .append(&[
            room_msg(2, 20, "alice", "#kept", "two"),
            room_msg(3, 30, "alice", "#quiet", "never written"),
        ])
        .expect("append");
    assert_eq!(store.last_id().expect("last id"), 3);
}

fn an_id_already_in_a_page_is_refused_as_a_duplicate<B: Backend>() {
    let b = B::open(DEFAULT_MAX_LIMIT);
    let store = b.store();
    store
        .append(&[
            room_msg(5, 10, "a", "#r", "one"),
            room_msg(6, 20, "a", "#r", "two"),
        ])
        .expect("append");
    // Same id again, in another room and in the same one.
    for room in ["#other", "#r"] {
        let err = store
            .append(&[room_msg(5, 30, "a", room, "again")])
            .expect_err("duplicate");
        assert!(matches!(err, StoreError::DuplicateId(5)), "{err}");
    }
    // Twice in one batch.
    let err = store
        .append(&[
            room_msg(9, 40, "a", "#r", "x"),
            room_msg(9, 41, "a", "#r", "y"),
        ])
        .expect_err("duplicate");
    assert!(matches!(err, StoreError::DuplicateId(9)), "{err}");
    // Nothing of a refused batch was kept, and later ids still go in.
    store
        .append(&[room_msg(10, 50, "a", "#r", "three")])
        .expect("append");
    let got = store
        .query(&room_q("#r", Selector::Latest { after: None }, 10))
        .expect("query");
    assert_eq!(ids(&got), vec![5, 6, 10]);
}

fn read_markers_only_move_forward<B: Backend>() {
    let b = B::open(DEFAULT_MAX_LIMIT);
    let store = b.store();
    let mark = |account: &str, target: &str, ms: u64| ReadMarker {
        account: account.into(),
        target: target.into(),
        at: at(ms),
    };
    assert!(store.load_read_markers().expect("load").is_empty());
    store
        .save_read_marker(&mark("Alice", "#Lobby", 100))
        .expect("save");
    store
        .save_read_marker(&mark("alice", "#lobby", 50))
        .expect("save");
    store
        .save_read_marker(&mark("alice", "Bob", 70))
        .expect("save");
    store
        .save_read_marker(&mark("bob", "#lobby", 10))
        .expect("save");
    let got = store.load_read_markers().expect("load");
    assert_eq!(
        got.iter()
            .map(|m| (m.account.as_str(), m.target.as_str(), m.at))
            .collect::<Vec<_>>(),
        vec![
            // An earlier time does not move the marker back (the names
            // are the last given).
            ("alice", "#lobby", at(100)),
            ("alice", "Bob", at(70)),
            ("bob", "#lobby", at(10)),
        ]
    );
    store
        .save_read_marker(&mark("ALICE", "#LOBBY", 200))
        .expect("save");
    let got = store.load_read_markers().expect("load");
    assert_eq!(got.len(), 3);
    assert_eq!(got[0].at, at(200));
    assert_eq!(got[0].target, "#LOBBY");
}

fn room_state_round_trips<B: Backend>() {
    let b = B::open(DEFAULT_MAX_LIMIT);
    let store = b.store();
    let lobby = RoomState {
        name: "#Lobby".into(),
        topic: Some(Topic {
            text: "Welcome!".into(),
            setter: "alice".into(),
            time: at(1234),
        }),
        modes: "+nt".into(),
        founder: Some("alice".into()),
        registered: true,
        registered_at: Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
        limits: Some(Limits {
            max_age: Some(Duration::from_secs(86_400 * 30)),
            max_count: Some(10_000),
        }),
    };
    let quiet = RoomState {
        name: "#quiet".into(),
        topic: None,
        modes: String::new(),
        founder: None,
        registered: false,
        registered_at: None,
        limits: Some(Limits::NONE),
    };
    let plain = RoomState {
        name: "#plain".into(),
        topic: None,
        modes: "+s".into(),
        founder: None,
        registered: true,
        registered_at: Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
        limits: None,
    };
    for r in [&lobby, &quiet, &plain] {
        store.save_room(r).expect("save");
    }
    let mut changed = lobby.clone();
    changed.modes = "+ntm".into();
    store.save_room(&changed).expect("replace");
    store
        .save_room(&RoomState {
            name: "#gone".into(),
            ..plain.clone()
        })
        .expect("save");
    store.forget_room("#GONE").expect("forget");
    store.forget_room("#never-saved").expect("forget");
    // In case-folded name order.
    let rooms = store.load_rooms().expect("load");
    let mut lobby = lobby;
    lobby.modes = "+ntm".into();
    assert_eq!(rooms, vec![lobby, plain.clone(), quiet]);
    // Times are kept in whole milliseconds.
    let mut fine = RoomState {
        name: "#fine".into(),
        topic: Some(Topic {
            text: "t".into(),
            setter: "s".into(),
            time: at(5) + Duration::from_micros(700),
        }),
        registered_at: Some(at(6) + Duration::from_micros(999)),
        limits: Some(Limits {
            max_age: Some(Duration::from_micros(2_500)),
            max_count: None,
        }),
        ..plain.clone()
    };
    store.save_room(&fine).expect("save");
    let got = store.load_rooms().expect("load");
    let got = got.iter().find(|r| r.name == "#fine").expect("saved");
    fine.topic = Some(Topic {
        text: "t".into(),
        setter: "s".into(),
        time: at(5),
    });
    fine.registered_at = Some(at(6));
    fine.limits = Some(Limits {
        max_age: Some(Duration::from_millis(2)),
        max_count: None,
    });
    assert_eq!(got, &fine);
}

fn accounts_round_trip_case_insensitively<B: Backend>() {
    let b = B::open(DEFAULT_MAX_LIMIT);
    let store = b.store();
    let acct = Account {
        name: "Alice".into(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        created: at(999),
    };
    assert!(store.account_names().expect("names").is_empty());
    store.put_account(&acct).expect("put");
    assert!(store.get_account("bob").expect("get").is_none());
    assert_eq!(store.get_account("ALICE").expect("get"), Some(acct.clone()));
    let changed = Account {
        password_hash: "$argon2id$new".into(),
        ..acct
    };
    store.put_account(&changed).expect("replace");
    assert_eq!(store.get_account("alice").expect("get"), Some(changed));
    assert_eq!(store.account_names().expect("names"), vec!["Alice"]);
    // The creation time is kept in whole milliseconds.
    store
        .put_account(&Account {
            name: "bob".into(),
            password_hash: "h".into(),
            created: at(7) + Duration::from_micros(400),
        })
        .expect("put");
    let bob = store.get_account("BOB").expect("get").expect("bob");
    assert_eq!(bob.created, at(7));
}

fn a_room_can_keep_no_history_at_all<B: Backend>() {
    let b = B::open(DEFAULT_MAX_LIMIT);
    let store = b.store();
    {
        ten(store);
        let mut state = RoomState {
            name: "#r".into(),
            topic: None,
            modes: String::new(),
            founder: None,
            registered: true,
            registered_at: Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
            limits: Some(Limits::NONE),
        };
        store.save_room(&state).expect("save");
        // New records are not stored at all ...
        store
            .append(&[
                room_msg(20, 200, "a", "#R", "gone"),
                room_msg(21, 210, "a", "#other", "kept"),
            ])
            .expect("append");
        // ... and old ones go at the next compaction.
        let stats = store
            .compact(&Retention::default(), at(1000))
            .expect("compact");
        assert_eq!(stats.by_count, 10);
        assert!(q(store, Selector::Latest { after: None }, 100).is_empty());
        assert_eq!(store.last_id().expect("last id"), 21);
        // Turning history back on stores new records again.
        state.limits = None;
        store.save_room(&state).expect("save");
        store
            .append(&[room_msg(22, 220, "a", "#r", "back")])
            .expect("append");
        assert_eq!(q(store, Selector::Latest { after: None }, 100), vec![22]);
        state.limits = Some(Limits::NONE);
        store.save_room(&state).expect("save");
    }
    store
        .append(&[room_msg(23, 230, "a", "#r", "gone too")])
        .expect("append");
    assert_eq!(q(store, Selector::Latest { after: None }, 100), vec![22]);
    // Forgetting the room's state lets its records in again.
    store.forget_room("#R").expect("forget");
    store
        .append(&[room_msg(24, 240, "a", "#r", "in again")])
        .expect("append");
    assert_eq!(
        q(store, Selector::Latest { after: None }, 100),
        vec![22, 24]
    );
}

fn last_id_survives_compaction_and_counts_offline_messages<B: Backend>() {
    let b = B::open(DEFAULT_MAX_LIMIT);
    let store = b.store();
    assert_eq!(store.last_id().expect("last id"), 0);
    {
        ten(store);
        let policy = Retention {
            rooms: Limits::NONE,
            ..Retention::default()
        };
        store.compact(&policy, at(1000)).expect("compact");
        assert!(q(store, Selector::Latest { after: None }, 100).is_empty());
        store
            .hold_offline("carol", &pm(40, 400, "alice", "carol", "later"))
            .expect("hold");
    }
    assert_eq!(store.last_id().expect("last id"), 40);
    // Taking the held message does not lower it either.
    assert_eq!(store.take_offline("carol").expect("take").len(), 1);
    assert_eq!(store.last_id().expect("last id"), 40);
}

fn offline_messages_survive_retention<B: Backend>() {
    let b = B::open(DEFAULT_MAX_LIMIT);
    let store = b.store();
    {
        store
            .hold_offline("carol", &pm(1, 1, "alice", "carol", "kept"))
            .expect("hold");
        let policy = Retention {
            private: Limits::NONE,
            ..Retention::default()
        };
        store.compact(&policy, at(10_000_000)).expect("compact");
    }
    assert_eq!(ids(&store.take_offline("carol").expect("take")), vec![1]);
}
fn search_matches_whole_words_without_case_or_accents<B: Backend>() {
    let b = B::open(DEFAULT_MAX_LIMIT);
    let store = b.store();
    store
        .append(&[
            room_msg(1, 10, "a", "#r", "Crème BRÛLÉE tonight"),
            room_msg(2, 20, "a", "#r", "brown-nosing again"),
            room_msg(3, 30, "a", "#r", "brownie points"),
            room_msg(4, 40, "a", "#r", "nosing brown"),
        ])
        .expect("append");
    let s = |words: &str| {
        ids(&store
            .search("x", &QueryTarget::Room("#r".into()), words, 10)
            .expect("search"))
    };
    assert_eq!(s("creme brulee"), vec![1]);
    assert_eq!(s("CRÈME"), vec![1]);
    // Whole words only: no prefixes.
    assert_eq!(s("brown"), vec![4, 2]);
    assert_eq!(s("brownie"), vec![3]);
    // A word with punctuation inside is those words, next to each other.
    assert_eq!(s("brown-nosing"), vec![2]);
    assert_eq!(s("nosing brown"), vec![4, 2]);
    assert_eq!(s("... !!"), Vec::<u64>::new());
}

fn a_store_is_shared_by_concern_across_threads<B: Backend>() {
    let b = B::open(DEFAULT_MAX_LIMIT);
    let store = b.store();
    let history: &dyn HistoryStore = store;
    let search: &dyn SearchStore = store;
    let accounts: &dyn AccountStore = store;
    let rooms: &dyn RoomStore = store;
    std::thread::scope(|s| {
        for t in 0..4u64 {
            s.spawn(move || {
                for i in 0..25 {
                    let id = 1 + t * 100 + i;
                    history
                        .append(&[room_msg(id, id, "a", "#r", "shared words")])
                        .expect("append");
                }
            });
        }
        s.spawn(move || {
            accounts
                .put_account(&Account {
                    name: "alice".into(),
                    password_hash: "h".into(),
                    created: at(1),
                })
                .expect("account");
            rooms
                .save_room(&RoomState {
                    name: "#r".into(),
                    topic: None,
                    modes: "+nt".into(),
                    founder: Some("alice".into()),
                    registered: true,
                    registered_at: Some(at(1)),
                    limits: None,
                })
                .expect("room");
        });
    });
    assert_eq!(q(store, Selector::Latest { after: None }, 1000).len(), 100);
    assert_eq!(history.last_id().expect("last id"), 325);
    let found = search
        .search("x", &QueryTarget::Room("#r".into()), "shared", 1000)
        .expect("search");
    assert_eq!(found.len(), 100);
    assert!(accounts.get_account("ALICE").expect("get").is_some());
    assert_eq!(rooms.load_rooms().expect("rooms").len(), 1);
}

// ----- the two implementations side by side ---------------------------------------

/// The random choices of one run, drawn by proptest as a tape of numbers,
/// so that a failing run shrinks (fewer, smaller choices) to a short one;
/// past the tape's end every choice is the first.
struct Rng {
    tape: Vec<u64>,
    at: usize,
}

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        let v = self.tape.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        v % n.max(1)
    }

    fn pick<'a>(&mut self, of: &[&'a str]) -> &'a str {
        of[self.below(of.len() as u64) as usize]
    }
}

const NICKS: [&str; 4] = ["alice", "Bob", "carol", "DAVE"];
/// Who asks about private history: the nicknames' accounts, one account
/// no nickname is named like, and nobody (not logged in).
const ACCOUNTS: [&str; 6] = ["alice", "Bob", "carol", "DAVE", "Erin", ""];

/// The account someone with `nick` is logged in to: none, the one named
/// like the nickname, or another.
fn account_of(rng: &mut Rng, nick: &'static str) -> Option<&'static str> {
    match rng.below(4) {
        0 => None,
        1 => Some(rng.pick(&ACCOUNTS[..5])),
        _ => Some(nick),
    }
}
const ROOMS: [&str; 3] = ["#a", "#B", "#c"];
const WORDS: [&str; 7] = [
    "apple",
    "Banana",
    "cherry",
    "élan",
    "elan",
    "pie-crust",
    "crust",
];

/// Random batches: several rooms and private conversations, a clock that
/// sometimes stands still or steps back, gaps in the msgids, now and then
/// a msgid given twice, a room that stops keeping history and starts again.
fn drive(stores: [&dyn Store; 2], rng: &mut Rng) -> u64 {
    let (mut id, mut ms) = (0u64, 1_000u64);
    for batch in 0..25 {
        let mut records = Vec::new();
        for _ in 0..1 + rng.below(5) {
            id += 1 + rng.below(2);
            match rng.below(10) {
                0 => ms = ms.saturating_sub(rng.below(40)),
                1 | 2 => {}
                _ => ms += 1 + rng.below(20),
            }
            let text = (0..1 + rng.below(3))
                .map(|_| rng.pick(&WORDS))
                .collect::<Vec<_>>()
                .join(" ");
            let from = rng.pick(&NICKS);
            records.push(if rng.below(4) == 0 {
                let to = rng.pick(&NICKS);
                let (from_acct, to_acct) = (account_of(rng, from), account_of(rng, to));
                pm_as(id, ms, (from, from_acct), (to, to_acct), &text)
            } else {
                room_msg(id, ms, from, rng.pick(&ROOMS), &text)
            });
        }
        if rng.below(8) == 0 {
            let again = 1 + rng.below(id);
            records.push(room_msg(again, ms, "eve", rng.pick(&ROOMS), "again"));
        }
        let results: Vec<Result<(), String>> = stores
            .iter()
            .map(|s| s.append(&records).map_err(|e| e.to_string()))
            .collect();
        assert_eq!(results[0], results[1], "batch {batch}");
        if rng.below(6) == 0 {
            let held = pm(id + 1, ms, "alice", "carol", "later");
            id += 1;
            for s in stores {
                s.hold_offline("Carol", &held).expect("hold");
            }
        }
        if batch == 8 || batch == 16 {
            let state = RoomState {
                name: "#B".into(),
                topic: None,
                modes: String::new(),
                founder: None,
                registered: false,
                registered_at: None,
                limits: (batch == 8).then_some(Limits::NONE),
            };
            for s in stores {
                s.save_room(&state).expect("save room");
            }
        }
    }
    id
}

fn anchor(rng: &mut Rng, top: u64) -> Anchor {
    if rng.below(2) == 0 {
        MsgId(rng.below(top + 3))
    } else {
        Time(at(900 + rng.below(700)))
    }
}

fn selector(rng: &mut Rng, top: u64) -> Selector {
    match rng.below(6) {
        0 => Selector::Latest { after: None },
        1 => Selector::Latest {
            after: Some(anchor(rng, top)),
        },
        2 => Selector::Before(anchor(rng, top)),
        3 => Selector::After(anchor(rng, top)),
        4 => Selector::Around(anchor(rng, top)),
        _ => Selector::Between(anchor(rng, top), anchor(rng, top)),
    }
}

fn target(rng: &mut Rng) -> QueryTarget {
    match rng.below(4) {
        0 | 1 => QueryTarget::Room(rng.pick(&ROOMS).to_uppercase()),
        2 => QueryTarget::Nick(rng.pick(&ACCOUNTS[..5]).to_lowercase()),
        _ => QueryTarget::AllPrivate,
    }
}

/// Every kind of question, asked of both, answered alike.
fn compare(stores: [&dyn Store; 2], rng: &mut Rng, top: u64, tape_len: u64) {
    const LIMITS: [usize; 8] = [0, 1, 2, 3, 5, 10, 1000, usize::MAX];
    for _ in 0..300 {
        let q = HistoryQuery {
            requester: rng.pick(&ACCOUNTS).to_string(),
            target: target(rng),
            selector: selector(rng, top),
            limit: LIMITS[rng.below(LIMITS.len() as u64) as usize],
        };
        let answers: Vec<Vec<Record>> =
            stores.iter().map(|s| s.query(&q).expect("query")).collect();
        assert_eq!(answers[0], answers[1], "tape of {tape_len} choices: {q:?}");
    }
    for _ in 0..60 {
        let requester = rng.pick(&ACCOUNTS);
        let target = target(rng);
        let words = format!("{} {}", rng.pick(&WORDS), rng.pick(&["", "apple", "crust"]));
        let answers: Vec<Vec<u64>> = stores
            .iter()
            .map(|s| ids(&s.search(requester, &target, &words, 50).expect("search")))
            .collect();
        assert_eq!(
            answers[0], answers[1],
            "tape of {tape_len} choices: {requester} {target:?} {words:?}"
        );
    }
    let rooms: Vec<String> = ROOMS.iter().map(|r| r.to_string()).collect();
    for _ in 0..40 {
        let requester = rng.pick(&ACCOUNTS);
        let (from, to) = (at(900 + rng.below(700)), at(900 + rng.below(700)));
        let limit = LIMITS[rng.below(LIMITS.len() as u64) as usize];
        let answers: Vec<Vec<TargetInfo>> = stores
            .iter()
            .map(|s| {
                s.targets(requester, &rooms, from, to, limit)
                    .expect("targets")
            })
            .collect();
        assert_eq!(
            answers[0], answers[1],
            "tape of {tape_len} choices: targets of {requester}"
        );
    }
    let last: Vec<u64> = stores
        .iter()
        .map(|s| s.last_id().expect("last id"))
        .collect();
    assert_eq!(last[0], last[1], "tape of {tape_len} choices");
    let held: Vec<Vec<(i64, Record)>> = stores
        .iter()
        .map(|s| s.peek_offline("carol").expect("peek"))
        .collect();
    assert_eq!(held[0], held[1], "tape of {tape_len} choices");
    let rooms: Vec<Vec<RoomState>> = stores
        .iter()
        .map(|s| s.load_rooms().expect("rooms"))
        .collect();
    assert_eq!(rooms[0], rooms[1], "tape of {tape_len} choices");
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(8),
        ..proptest::test_runner::Config::default()
    })]

    #[test]
    fn memory_and_sqlite_give_the_same_answers(
        tape in proptest::collection::vec(proptest::prelude::any::<u64>(), 0..4000)
    ) {
        let tape_len = tape.len() as u64;
        let (sqlite, memory) = (
            Sqlite::open(DEFAULT_MAX_LIMIT),
            Memory::open(DEFAULT_MAX_LIMIT),
        );
        let stores = [sqlite.store(), memory.store()];
        let mut rng = Rng { tape, at: 0 };
        let top = drive(stores, &mut rng);
        compare(stores, &mut rng, top, tape_len);
        // Retention, then the same questions again.
        let policy = Retention {
            rooms: Limits {
                max_age: Some(Duration::from_millis(200 + rng.below(200))),
                max_count: Some(5 + rng.below(20)),
            },
            private: Limits {
                max_age: None,
                max_count: Some(rng.below(6)),
            },
            chunk: 1 + rng.below(8) as usize,
        };
        let stats: Vec<CompactStats> = stores
            .iter()
            .map(|s| s.compact(&policy, at(1_500)).expect("compact"))
            .collect();
        assert_eq!(stats[0], stats[1], "tape of {tape_len} choices");
        compare(stores, &mut rng, top, tape_len);
    }
}
