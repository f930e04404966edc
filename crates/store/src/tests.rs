//! Tests of what only the SQLite store has, on real files in temporary
//! directories: reopening (rooms, accounts, retention and msgids survive),
//! pages and rows answering like one sorted list, start-up refusals
//! (foreign, corrupt, newer files), migrations and damaged pages. What
//! every store promises is tested on both stores in `contract.rs`.
//! The `kill -9` test lives in `tests/store_crash.rs` (it needs a process).

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use proptest::prelude::*;
use rusqlite::Connection;

use super::sqlite::schema::{
    APPLICATION_ID, MIGRATIONS, PAGE_SIZE, SCHEMA_VERSION, V1, V2, V3, V4,
};
use super::*;
use chatroom_core::names::Name;
use chatroom_core::{MsgTarget, Topic, UserInfo};
use std::sync::Arc;

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "chatroom-store-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn db(&self) -> PathBuf {
        self.0.join(DB_FILE)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

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

/// A private message between two people logged in to the accounts of
/// their nicknames' names.
fn pm(id: u64, ms: u64, from: &str, to: &str, text: &str) -> Record {
    Record {
        id,
        time: at(ms),
        kind: RecordKind::Say,
        from: UserInfo {
            account: Some(from.into()),
            ..user(from)
        }
        .into(),
        to: MsgTarget::Nick(to.into()),
        text: text.into(),
        to_account: Some(to.into()),
        tags: Vec::new(),
    }
}

fn open(dir: &TempDir) -> SqliteStore {
    SqliteStore::open(dir.path()).expect("open store")
}

fn room_q(room: &str, selector: Selector, limit: usize) -> HistoryQuery {
    HistoryQuery {
        requester: "reader".into(),
        target: QueryTarget::Room(room.into()),
        selector,
        limit,
    }
}

fn ids(records: &[Record]) -> Vec<u64> {
    records.iter().map(|r| r.id).collect()
}

/// Ten messages in #r with ids 1..=10 at times 10, 20, ..., 100 ms, plus
/// noise in another room.
fn ten(store: &SqliteStore) {
    let batch: Vec<Record> = (1..=10)
        .map(|i| room_msg(i, i * 10, "alice", "#r", &format!("message {i}")))
        .chain((11..=13).map(|i| room_msg(i, i * 10, "bob", "#other", "noise")))
        .collect();
    store.append(&batch).expect("append");
}

fn q(store: &SqliteStore, selector: Selector, limit: usize) -> Vec<u64> {
    ids(&store.query(&room_q("#r", selector, limit)).expect("query"))
}

use Anchor::MsgId;

// ----- opening -----------------------------------------------------------------

#[test]
fn fts5_is_compiled_into_the_bundled_sqlite() {
    let conn = Connection::open_in_memory().expect("memory db");
    let used: i64 = conn
        .query_row("SELECT sqlite_compileoption_used('ENABLE_FTS5')", [], |r| {
            r.get(0)
        })
        .expect("compile option");
    assert_eq!(used, 1);
    conn.execute_batch("CREATE VIRTUAL TABLE t USING fts5(x)")
        .expect("fts5 table");
}

#[test]
fn open_creates_the_directory_and_a_wal_database() {
    let tmp = TempDir::new();
    let dir = tmp.path().join("a/b/data");
    let store = SqliteStore::open(&dir).expect("open");
    assert!(dir.join(DB_FILE).is_file());
    assert!(!dir.join(".chatroom-write-test").exists());
    drop(store);
    let conn = Connection::open(dir.join(DB_FILE)).expect("raw open");
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("mode");
    assert_eq!(mode, "wal");
    let app: i32 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .expect("app id");
    assert_eq!(app, APPLICATION_ID);
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("version");
    assert_eq!(version, SCHEMA_VERSION);
    for file in [DB_FILE, SEARCH_FILE] {
        let conn = Connection::open(dir.join(file)).expect("raw open");
        let page: i64 = conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .expect("page size");
        assert_eq!(page, PAGE_SIZE, "{file}");
    }
}

#[test]
fn reopening_keeps_everything_and_last_id() {
    let tmp = TempDir::new();
    {
        let store = open(&tmp);
        assert_eq!(store.last_id().expect("last id"), 0);
        ten(&store);
        assert_eq!(store.last_id().expect("last id"), 13);
    }
    let store = open(&tmp);
    assert_eq!(store.last_id().expect("last id"), 13);
    assert_eq!(
        q(&store, Selector::Latest { after: None }, 100),
        (1..=10).collect::<Vec<_>>()
    );
}

#[test]
fn last_id_survives_compaction_and_counts_offline_messages() {
    let tmp = TempDir::new();
    {
        let store = open(&tmp);
        ten(&store);
        let policy = Retention {
            rooms: Limits::NONE,
            ..Retention::default()
        };
        store.compact(&policy, at(1000)).expect("compact");
        assert!(q(&store, Selector::Latest { after: None }, 100).is_empty());
        store
            .hold_offline("carol", &pm(40, 400, "alice", "carol", "later"))
            .expect("hold");
    }
    let store = open(&tmp);
    assert_eq!(store.last_id().expect("last id"), 40);
}

// ----- appending ------------------------------------------------------------------

#[test]
fn hub_message_events_convert_both_ways() {
    let rec = pm(9, 50, "alice", "bob", "hi");
    let event = rec.to_message().expect("a message");
    // The event does not carry the recipient's account.
    assert_eq!(
        Record::from_message(&event),
        Some(Record {
            to_account: None,
            ..rec.clone()
        })
    );
    // Lasting client tags go with the record and come back; a typing
    // notification does not.
    let reply = with_tags(rec.clone(), &[("+draft/reply", "8"), ("+typing", "done")]);
    let back = Record::from_message(&reply.to_message().expect("a message")).expect("record");
    assert_eq!(
        back.tags,
        with_tags(rec.clone(), &[("+draft/reply", "8")]).tags
    );
    // A tag-only message is a record when it has lasting tags.
    let react = room_reaction(10, 60, "bob", 9);
    let event = react.to_message().expect("a TAGMSG event");
    assert!(matches!(&event, chatroom_core::Event::TagMsg { tags, .. } if *tags == react.tags));
    assert_eq!(Record::from_message(&event), Some(react.clone()));
    let typing = with_tags(react, &[("+typing", "active")]);
    assert!(Record::from_message(&typing.to_message().expect("event")).is_none());
    let mut topic = rec;
    topic.kind = RecordKind::Topic;
    assert!(topic.to_message().is_none());
    assert!(
        Record::from_message(&chatroom_core::Event::ServerNotice { text: "x".into() }).is_none()
    );
}

#[test]
fn a_row_the_store_cannot_read_is_an_error_not_a_panic() {
    let tmp = TempDir::new();
    let store = open(&tmp);
    ten(&store);
    // A room's records are in a page.
    store
        .writer()
        .execute("UPDATE pages SET body = x'01ff' WHERE conv = 'r:#r'", [])
        .expect("damage a page");
    let err = store
        .query(&room_q("#r", Selector::Latest { after: None }, 5))
        .expect_err("damaged");
    assert!(matches!(err, StoreError::Damaged(_)), "{err}");
    // A private message is a row.
    store
        .append(&[pm(20, 200, "alice", "bob", "hi")])
        .expect("append");
    store
        .writer()
        .execute("UPDATE messages SET tags = x'05' WHERE id = 20", [])
        .expect("damage a row's tags");
    let err = store
        .query(&pm_q(
            "alice",
            QueryTarget::Nick("bob".into()),
            Selector::Latest { after: None },
        ))
        .expect_err("damaged tags");
    assert!(matches!(err, StoreError::Damaged(_)), "{err}");
    store
        .writer()
        .execute("UPDATE messages SET tags = NULL WHERE id = 20", [])
        .expect("mend the tags");
    store
        .writer()
        .execute("UPDATE messages SET kind = 'bogus' WHERE id = 20", [])
        .expect("damage a row");
    let err = store
        .query(&pm_q(
            "bob",
            QueryTarget::Nick("alice".into()),
            Selector::Latest { after: None },
        ))
        .expect_err("damaged");
    assert!(matches!(err, StoreError::Damaged(_)), "{err}");
}

// ----- selectors --------------------------------------------------------------------

#[test]
fn limits_are_clamped_and_zero_returns_nothing() {
    let tmp = TempDir::new();
    let store = SqliteStore::open_with(
        tmp.path(),
        StoreOptions {
            max_limit: 4,
            ..StoreOptions::default()
        },
    )
    .expect("open");
    ten(&store);
    assert_eq!(
        q(&store, Selector::Latest { after: None }, usize::MAX),
        vec![7, 8, 9, 10]
    );
    assert_eq!(
        q(&store, Selector::After(MsgId(1)), 1_000_000_000),
        vec![2, 3, 4, 5]
    );
    assert_eq!(q(&store, Selector::Around(MsgId(5)), usize::MAX).len(), 4);
    assert!(q(&store, Selector::Latest { after: None }, 0).is_empty());
    assert!(q(&store, Selector::Around(MsgId(5)), 0).is_empty());
}

// ----- private messages ----------------------------------------------------------------

fn pm_q(requester: &str, target: QueryTarget, selector: Selector) -> HistoryQuery {
    HistoryQuery {
        requester: requester.into(),
        target,
        selector,
        limit: 100,
    }
}

// ----- targets ---------------------------------------------------------------------------

// ----- search ---------------------------------------------------------------------------------

// ----- offline messages -------------------------------------------------------------------------

#[test]
fn offline_messages_survive_reopen_and_retention() {
    let tmp = TempDir::new();
    {
        let store = open(&tmp);
        store
            .hold_offline("carol", &pm(1, 1, "alice", "carol", "kept"))
            .expect("hold");
        let policy = Retention {
            private: Limits::NONE,
            ..Retention::default()
        };
        store.compact(&policy, at(10_000_000)).expect("compact");
    }
    let store = open(&tmp);
    assert_eq!(ids(&store.take_offline("carol").expect("take")), vec![1]);
}

// ----- rooms and accounts -------------------------------------------------------------------------

#[test]
fn room_state_round_trips() {
    let tmp = TempDir::new();
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
    {
        let store = open(&tmp);
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
    }
    let store = open(&tmp);
    let mut rooms = store.load_rooms().expect("load");
    rooms.sort_by(|a, b| a.name.cmp(&b.name));
    let mut lobby = lobby;
    lobby.modes = "+ntm".into();
    assert_eq!(rooms, vec![lobby, plain, quiet]);
}

#[test]
fn accounts_round_trip_case_insensitively() {
    let tmp = TempDir::new();
    let acct = Account {
        name: "Alice".into(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        created: at(999),
    };
    {
        let store = open(&tmp);
        store.put_account(&acct).expect("put");
        assert!(store.get_account("bob").expect("get").is_none());
    }
    let store = open(&tmp);
    assert_eq!(store.get_account("ALICE").expect("get"), Some(acct.clone()));
    let changed = Account {
        password_hash: "$argon2id$new".into(),
        ..acct
    };
    store.put_account(&changed).expect("replace");
    assert_eq!(store.get_account("alice").expect("get"), Some(changed));
}

// ----- retention --------------------------------------------------------------------------------

#[test]
fn a_room_can_keep_no_history_at_all() {
    let tmp = TempDir::new();
    {
        let store = open(&tmp);
        ten(&store);
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
        assert!(q(&store, Selector::Latest { after: None }, 100).is_empty());
        assert_eq!(store.last_id().expect("last id"), 21);
        // Turning history back on stores new records again.
        state.limits = None;
        store.save_room(&state).expect("save");
        store
            .append(&[room_msg(22, 220, "a", "#r", "back")])
            .expect("append");
        assert_eq!(q(&store, Selector::Latest { after: None }, 100), vec![22]);
        state.limits = Some(Limits::NONE);
        store.save_room(&state).expect("save");
    }
    // The setting is remembered across a restart.
    let store = open(&tmp);
    store
        .append(&[room_msg(23, 230, "a", "#r", "gone too")])
        .expect("append");
    assert_eq!(q(&store, Selector::Latest { after: None }, 100), vec![22]);
}

#[test]
fn queries_do_not_wait_for_the_writer() {
    let tmp = TempDir::new();
    let store = open(&tmp);
    ten(&store);
    // Hold the write lock with an open write transaction, as a long batch
    // or a compaction step would.
    let mut writer = store.writer();
    let tx = writer
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .expect("begin");
    tx.execute(
        "INSERT INTO messages (id, time_ms, kind, conv, target, nick, ident, realname, host, text) \
         VALUES (100, 0, 'say', 'r:#r', '#r', 'n', 'u', 'r', 'h', 'uncommitted')",
        [],
    )
    .expect("insert");
    let started = std::time::Instant::now();
    let seen = q(&store, Selector::Latest { after: None }, 100);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(
        seen,
        (1..=10).collect::<Vec<_>>(),
        "uncommitted rows are invisible"
    );
    drop(tx);
}

// ----- refusing files that are not ours ---------------------------------------------------------------

fn bytes(path: &Path) -> Vec<u8> {
    fs::read(path).expect("read file")
}

#[test]
fn a_foreign_file_is_refused_and_left_untouched() {
    let tmp = TempDir::new();
    let content = b"these are somebody's notes, not a database\n".repeat(200);
    fs::write(tmp.db(), &content).expect("write");
    let err = SqliteStore::open(tmp.path()).expect_err("foreign");
    assert!(matches!(err, StoreError::Foreign { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("chatroom.db") && msg.contains("not an SQLite database"),
        "{msg}"
    );
    assert_eq!(bytes(&tmp.db()), content);
    assert!(!tmp.path().join("chatroom.db-wal").exists());
}

#[test]
fn a_short_file_is_refused() {
    let tmp = TempDir::new();
    fs::write(tmp.db(), b"SQLite").expect("write");
    let err = SqliteStore::open(tmp.path()).expect_err("short");
    assert!(matches!(err, StoreError::Foreign { .. }), "{err}");
    assert_eq!(bytes(&tmp.db()), b"SQLite");
}

#[test]
fn another_programs_sqlite_database_is_refused_and_left_untouched() {
    for app_id in [0, 0x1234_5678] {
        let tmp = TempDir::new();
        {
            let conn = Connection::open(tmp.db()).expect("create");
            conn.execute_batch(&format!(
                "PRAGMA application_id = {app_id};
                 CREATE TABLE notes (body TEXT);
                 INSERT INTO notes VALUES ('keep me');"
            ))
            .expect("fill");
        }
        let before = bytes(&tmp.db());
        let err = SqliteStore::open(tmp.path()).expect_err("foreign db");
        assert!(matches!(err, StoreError::Foreign { .. }), "{err}");
        assert!(err.to_string().contains("application id"), "{err}");
        assert_eq!(bytes(&tmp.db()), before);
    }
}

#[test]
fn an_empty_file_is_a_new_database() {
    let tmp = TempDir::new();
    fs::write(tmp.db(), b"").expect("write");
    let store = open(&tmp);
    ten(&store);
    assert_eq!(store.last_id().expect("last id"), 13);
}

#[test]
fn a_corrupt_file_is_refused_and_left_untouched() {
    let tmp = TempDir::new();
    let mut content = b"SQLite format 3\0".to_vec();
    content.extend((0..8192u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    fs::write(tmp.db(), &content).expect("write");
    let err = SqliteStore::open(tmp.path()).expect_err("corrupt");
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("chatroom.db"), "{err}");
    assert_eq!(bytes(&tmp.db()), content);
}

#[test]
fn a_damaged_chatroom_database_is_refused_and_left_untouched() {
    let tmp = TempDir::new();
    {
        let store = open(&tmp);
        let batch: Vec<Record> = (1..=8000)
            .map(|i| room_msg(i, i, "alice", "#r", &"some words to fill pages ".repeat(4)))
            .collect();
        store.append(&batch).expect("append");
    }
    // Closing the last connection checkpointed the WAL into the file.
    let mut content = bytes(&tmp.db());
    let size = usize::try_from(PAGE_SIZE).expect("page size");
    assert!(content.len() > 20 * size, "a few pages: {}", content.len());
    // Smash a page in the middle (not page 1, so the header still reads).
    let page = size * 10;
    for b in &mut content[page..page + size] {
        *b = 0xA5;
    }
    fs::write(tmp.db(), &content).expect("write");
    let err = SqliteStore::open(tmp.path()).expect_err("damaged");
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert_eq!(bytes(&tmp.db()), content);
}

#[test]
fn a_newer_schema_is_refused() {
    let tmp = TempDir::new();
    drop(open(&tmp));
    {
        let conn = Connection::open(tmp.db()).expect("raw open");
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .expect("bump version");
    }
    let before = bytes(&tmp.db());
    let err = SqliteStore::open(tmp.path()).expect_err("too new");
    assert!(
        matches!(err, StoreError::TooNew { found, supported, .. }
            if found == SCHEMA_VERSION + 1 && supported == SCHEMA_VERSION),
        "{err}"
    );
    assert_eq!(bytes(&tmp.db()), before);
}

#[test]
fn a_version_1_database_is_migrated_with_its_data() {
    let tmp = TempDir::new();
    {
        // Built by hand exactly as chatroom's first schema version left it.
        let conn = Connection::open(tmp.db()).expect("create");
        conn.execute_batch(V1).expect("v1 schema");
        conn.pragma_update(None, "application_id", APPLICATION_ID)
            .expect("app id");
        conn.pragma_update(None, "user_version", 1)
            .expect("version");
        conn.execute_batch(
            "INSERT INTO messages (id, time_ms, kind, conv, target, nick, ident, realname, host, text)
             VALUES (41, 1700000000010, 'say', 'r:#old', '#Old', 'alice', 'a', 'Alice', 'h', 'remember the alamo');
             UPDATE meta SET value = 41 WHERE key = 'last_id';
             INSERT INTO accounts VALUES ('alice', 'Alice', '$argon2id$x', 5);",
        )
        .expect("v1 rows");
    }
    let store = open(&tmp);
    let version: i64 = store
        .writer()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("version");
    assert_eq!(version, SCHEMA_VERSION);
    let old = store
        .query(&room_q("#old", Selector::Latest { after: None }, 10))
        .expect("query");
    assert_eq!(ids(&old), vec![41]);
    assert_eq!(old[0].time, at(10));
    // The new full-text index covers rows written before it existed.
    let found = store
        .search("x", &QueryTarget::Room("#old".into()), "alamo", 10)
        .expect("search");
    assert_eq!(ids(&found), vec![41]);
    assert_eq!(store.last_id().expect("last id"), 41);
    assert!(store.get_account("alice").expect("account").is_some());
    // A file made with SQLite's default page size keeps it.
    let page: i64 = store
        .writer()
        .query_row("PRAGMA page_size", [], |r| r.get(0))
        .expect("page size");
    assert_eq!(page, 4096);
}

#[test]
fn a_version_2_database_is_indexed_again_in_the_separate_search_file() {
    let tmp = TempDir::new();
    {
        // Version 2 indexed rows with a trigger; version 3 does it in append.
        let conn = Connection::open(tmp.db()).expect("create");
        conn.execute_batch(V1).expect("v1 schema");
        conn.execute_batch(V2).expect("v2 schema");
        conn.pragma_update(None, "application_id", APPLICATION_ID)
            .expect("app id");
        conn.pragma_update(None, "user_version", 2)
            .expect("version");
        conn.execute_batch(
            "INSERT INTO messages (id, time_ms, kind, conv, target, nick, ident, realname, host, text)
             VALUES (7, 1700000000010, 'say', 'r:#old', '#Old', 'alice', 'a', 'Alice', 'h', 'banana bread');
             UPDATE meta SET value = 7 WHERE key = 'last_id';",
        )
        .expect("v2 rows");
    }
    let store = open(&tmp);
    store
        .append(&[
            room_msg(8, 20, "bob", "#old", "banana split"),
            room_msg(9, 30, "bob", "#old", "cherry pie"),
        ])
        .expect("append");
    let search = |words: &str| {
        ids(&store
            .search("x", &QueryTarget::Room("#old".into()), words, 10)
            .expect("search"))
    };
    assert_eq!(search("banana"), vec![8, 7]);
    assert_eq!(search("cherry"), vec![9]);
    // Each row is in the (new, separate) index once, the old rows included.
    assert_eq!(
        store.search.matching("banana", None, 10).expect("ids"),
        vec![8, 7]
    );
    // The old row by its msgid, the new records (one page) by the page's.
    assert_eq!(store.search.watermarks().expect("watermarks"), (7, 9));
    // The old in-file index and its triggers are gone (schema version 6).
    let leftovers: i64 = store
        .writer()
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE name LIKE 'messages_fts%'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(leftovers, 0);
    // Compaction still removes rows from the index.
    store
        .compact(
            &Retention {
                rooms: Limits {
                    max_age: None,
                    max_count: Some(1),
                },
                ..Retention::default()
            },
            SystemTime::now(),
        )
        .expect("compact");
    assert_eq!(search("banana"), Vec::<u64>::new());
    assert_eq!(search("cherry"), vec![9]);
    // Gone from the index itself, not only hidden by the join.
    assert!(
        store
            .search
            .matching("banana", None, 10)
            .expect("ids")
            .is_empty()
    );
}

#[test]
fn the_search_index_fills_in_the_background_and_a_search_completes_it_first() {
    let tmp = TempDir::new();
    let store = open(&tmp);
    // Three commits: three pages, which the indexer takes whole.
    for rec in [
        room_msg(1, 10, "alice", "#r", "apple pie"),
        room_msg(2, 20, "bob", "#r", "apple tart"),
        room_msg(3, 30, "bob", "#r", "plum"),
    ] {
        store.append(&[rec]).expect("append");
    }
    // The writer's commit does not index.
    assert_eq!(store.search.watermarks().expect("watermark"), (0, 0));
    assert_eq!(store.index_search(2).expect("index"), 2);
    assert_eq!(store.search.watermarks().expect("watermark"), (0, 2));
    store
        .append(&[room_msg(4, 40, "carol", "#r", "apple crumble")])
        .expect("append");
    // Two rows pending: the search indexes them before it looks.
    let found = store
        .search("x", &QueryTarget::Room("#r".into()), "apple", 10)
        .expect("search");
    assert_eq!(ids(&found), vec![4, 2, 1]);
    assert_eq!(store.search.watermarks().expect("watermark"), (0, 4));
    assert_eq!(store.index_search(100).expect("index"), 0);
}

#[test]
fn a_foreign_search_file_is_refused_and_left_alone() {
    let tmp = TempDir::new();
    let path = tmp.path().join(crate::SEARCH_FILE);
    {
        let conn = Connection::open(&path).expect("create");
        conn.execute_batch("CREATE TABLE notes (t TEXT); INSERT INTO notes VALUES ('mine');")
            .expect("foreign");
    }
    let before = std::fs::read(&path).expect("read");
    let err = SqliteStore::open(tmp.path()).expect_err("must refuse");
    assert!(matches!(err, StoreError::Foreign { .. }), "{err}");
    assert!(err.to_string().contains("search.db"), "{err}");
    assert_eq!(std::fs::read(&path).expect("read"), before);
}

#[test]
fn with_background_checkpoints_the_writer_never_checkpoints_itself() {
    let tmp = TempDir::new();
    let store = SqliteStore::open_with(
        tmp.path(),
        StoreOptions {
            background_checkpoints: true,
            ..StoreOptions::default()
        },
    )
    .expect("open");
    let auto: i64 = store
        .writer()
        .query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0))
        .expect("pragma");
    assert_eq!(auto, 0);
    let plain = TempDir::new();
    let store = open(&plain);
    let auto: i64 = store
        .writer()
        .query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0))
        .expect("pragma");
    assert!(auto > 0, "the default keeps SQLite's own checkpoints");
}

#[test]
fn a_data_dir_in_use_is_refused_until_it_is_free() {
    let tmp = TempDir::new();
    let first = open(&tmp);
    first
        .append(&[room_msg(1, 1, "alice", "#r", "hi")])
        .expect("append");
    match SqliteStore::open(tmp.path()) {
        Err(StoreError::InUse { path }) => assert_eq!(path, tmp.path()),
        other => panic!("expected InUse, got {other:?}"),
    }
    drop(first);
    let again = open(&tmp);
    assert_eq!(again.last_id().expect("last id"), 1);
}

// ----- unusable data directories ------------------------------------------------------------------

#[test]
fn a_data_dir_under_a_regular_file_is_a_clear_error() {
    let tmp = TempDir::new();
    let file = tmp.path().join("plain-file");
    fs::write(&file, b"x").expect("write");
    let err = SqliteStore::open(&file.join("data")).expect_err("parent is a file");
    assert!(matches!(err, StoreError::DataDir { .. }), "{err}");
    assert!(err.to_string().contains("cannot create it"), "{err}");
    let err = SqliteStore::open(&file).expect_err("is a file");
    assert!(err.to_string().contains("not a directory"), "{err}");
}

#[test]
fn a_read_only_data_dir_is_a_clear_error() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = TempDir::new();
    let dir = tmp.path().join("ro");
    fs::create_dir(&dir).expect("mkdir");
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o500)).expect("chmod");
    // Root ignores permission bits; then this case cannot be produced here
    // (the regular-file test above covers the error path).
    if fs::write(dir.join("probe"), b"x").is_ok() {
        let _ = fs::remove_file(dir.join("probe"));
        eprintln!("running as root: permission bits do not stop writes; skipped");
        return;
    }
    let err = SqliteStore::open(&dir).expect_err("read-only");
    assert!(matches!(err, StoreError::DataDir { .. }), "{err}");
    assert!(err.to_string().contains("cannot write"), "{err}");
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).expect("chmod back");
}

#[test]
fn run_time_disk_errors_are_classified_for_loud_logging() {
    let full =
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL), None);
    let err = StoreError::from(full);
    assert!(matches!(err, StoreError::DiskFull(_)));
    assert!(err.is_disk_problem());
    assert!(err.to_string().contains("disk"), "{err}");
    let io = rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_IOERR_WRITE),
        None,
    );
    assert!(matches!(StoreError::from(io), StoreError::Io(_)));
    assert!(!StoreError::DuplicateId(1).is_disk_problem());
}

#[test]
fn a_version_3_database_gains_certificates_and_keeps_its_accounts() {
    let tmp = TempDir::new();
    {
        let conn = Connection::open(tmp.db()).expect("create");
        conn.execute_batch(V1).expect("v1 schema");
        conn.execute_batch(V2).expect("v2 schema");
        conn.execute_batch(V3).expect("v3 schema");
        conn.pragma_update(None, "application_id", APPLICATION_ID)
            .expect("app id");
        conn.pragma_update(None, "user_version", 3)
            .expect("version");
        conn.execute_batch("INSERT INTO accounts VALUES ('alice', 'Alice', '$argon2id$x', 5);")
            .expect("v3 rows");
    }
    let store = open(&tmp);
    let version: i64 = store
        .writer()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("version");
    assert_eq!(version, SCHEMA_VERSION);
    assert_eq!(SCHEMA_VERSION, 10);
    assert!(store.get_account("alice").expect("account").is_some());
    assert!(store.add_cert("alice", "AA:BB").expect("add"));
    assert_eq!(
        store
            .account_by_cert("AA:BB")
            .expect("lookup")
            .map(|a| a.name),
        Some("Alice".to_string())
    );
}

#[test]
fn a_version_4_database_keeps_its_rooms_and_gains_registration_times() {
    let tmp = TempDir::new();
    {
        let conn = Connection::open(tmp.db()).expect("create");
        for v in [V1, V2, V3, V4] {
            conn.execute_batch(v).expect("old schema");
        }
        conn.pragma_update(None, "application_id", APPLICATION_ID)
            .expect("app id");
        conn.pragma_update(None, "user_version", 4)
            .expect("version");
        conn.execute_batch(
            "INSERT INTO rooms VALUES ('#a', '#A', 'hi', 'bob', 7, '+nt', 'alice', 1, 0, NULL, NULL);",
        )
        .expect("v4 rows");
    }
    let store = open(&tmp);
    let rooms = store.load_rooms().expect("rooms");
    assert_eq!(rooms.len(), 1);
    assert_eq!(rooms[0].founder.as_deref(), Some("alice"));
    assert!(rooms[0].registered);
    assert_eq!(rooms[0].registered_at, None);
    let when = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
    store
        .save_room(&RoomState {
            registered_at: Some(when),
            ..rooms[0].clone()
        })
        .expect("save");
    assert_eq!(
        store.load_rooms().expect("rooms")[0].registered_at,
        Some(when)
    );
}

#[test]
fn a_version_8_database_gives_old_private_messages_to_accounts_that_existed_then() {
    let tmp = TempDir::new();
    {
        let conn = Connection::open(tmp.db()).expect("create");
        for v in &MIGRATIONS[..8] {
            conn.execute_batch(v).expect("old schema");
        }
        conn.pragma_update(None, "application_id", APPLICATION_ID)
            .expect("app id");
        conn.pragma_update(None, "user_version", 8)
            .expect("version");
        // alice registered at 5 and chatted with bob and carol from 10 on;
        // "carol" was registered at 25, after her first message.
        conn.execute_batch(
            "INSERT INTO accounts VALUES ('alice', 'Alice', '$argon2id$x', 1700000000005);
             INSERT INTO accounts VALUES ('carol', 'carol', '$argon2id$x', 1700000000025);
             INSERT INTO messages (id, time_ms, kind, conv, pm_a, pm_b, target, nick, ident, realname, host, text) VALUES
               (1, 1700000000010, 'say', 'p:alice bob', 'alice', 'bob', 'bob', 'Alice', 'a', 'A', 'h', 'hi bob'),
               (2, 1700000000020, 'say', 'p:alice carol', 'alice', 'carol', 'alice', 'carol', 'c', 'C', 'h', 'hi alice'),
               (3, 1700000000030, 'say', 'p:alice carol', 'alice', 'carol', 'carol', 'alice', 'a', 'A', 'h', 'hi carol'),
               (4, 1700000000040, 'say', 'r:#r', NULL, NULL, '#r', 'alice', 'a', 'A', 'h', 'public');",
        )
        .expect("v8 rows");
    }
    let store = open(&tmp);
    let version: i64 = store
        .writer()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("version");
    assert_eq!(version, SCHEMA_VERSION);
    let read = |requester: &str, peer: &str| {
        ids(&store
            .query(&pm_q(
                requester,
                QueryTarget::Nick(peer.into()),
                Selector::Latest { after: None },
            ))
            .expect("query"))
    };
    // alice's account existed throughout: her conversations stay hers.
    assert_eq!(read("alice", "bob"), vec![1]);
    assert_eq!(read("alice", "carol"), vec![2, 3]);
    // carol's did only from 25 on; bob has none.
    assert_eq!(read("carol", "alice"), vec![3]);
    assert!(read("bob", "alice").is_empty());
    // The room is untouched, and new messages are found as usual.
    assert_eq!(
        ids(&store
            .query(&room_q("#r", Selector::Latest { after: None }, 10))
            .expect("room")),
        vec![4]
    );
    store
        .append(&[pm(5, 50, "bob", "alice", "now logged in")])
        .expect("append");
    assert_eq!(read("bob", "alice"), vec![5]);
    assert_eq!(read("alice", "bob"), vec![1, 5]);
}

// ----- search right after writing, and across a restart ---------------------------

#[test]
fn search_finds_what_was_appended_just_before_a_restart() {
    let tmp = TempDir::new();
    {
        let store = open(&tmp);
        store
            .append(&[
                room_msg(1, 10, "alice", "#r", "quince late"),
                room_msg(2, 20, "bob", "#r", "medlar late"),
            ])
            .expect("append");
    }
    let store = open(&tmp);
    let found = store
        .search("x", &QueryTarget::Room("#r".into()), "late", 10)
        .expect("search");
    assert_eq!(ids(&found), vec![2, 1]);
}

// ----- msgids are never given out twice ---------------------------------------------

#[test]
fn last_id_is_kept_when_compaction_deletes_the_newest_rows() {
    let tmp = TempDir::new();
    {
        let store = open(&tmp);
        ten(&store);
        let policy = Retention {
            rooms: Limits::NONE,
            ..Retention::default()
        };
        store.compact(&policy, at(1000)).expect("compact");
        assert_eq!(store.last_id().expect("last id"), 13);
    }
    let store = open(&tmp);
    assert_eq!(store.last_id().expect("last id"), 13);
}

// ----- pages and rows together ----------------------------------------------------

/// A place in the (time, msgid) order, as the store compares them.
type ModelPos = (SystemTime, u64);

/// What every selector must return, worked out on one sorted list.
struct Model {
    all: Vec<Record>,
}

impl Model {
    fn pos(r: &Record) -> ModelPos {
        (r.time, r.id)
    }

    /// An anchor as a bound: `None` for a msgid not in the room.
    fn bound(&self, a: Anchor, low: bool) -> Option<(ModelPos, bool)> {
        match a {
            // A moment: "after it" skips its whole millisecond when low.
            Anchor::Time(t) => Some(((t, if low { u64::MAX } else { 0 }), low)),
            Anchor::MsgId(id) => self
                .all
                .iter()
                .find(|r| r.id == id)
                .map(|r| (Self::pos(r), false)),
        }
    }

    fn above(&self, low: Option<(ModelPos, bool)>) -> Vec<Record> {
        self.all
            .iter()
            .filter(|r| low.is_none_or(|(l, _)| Self::pos(r) > l))
            .cloned()
            .collect()
    }

    fn answer(&self, sel: Selector, limit: usize) -> Vec<u64> {
        let last = |v: Vec<Record>| ids(&v[v.len().saturating_sub(limit)..]);
        let first = |v: Vec<Record>| ids(&v[..v.len().min(limit)]);
        let below = |h: ModelPos| -> Vec<Record> {
            self.all
                .iter()
                .filter(|r| Self::pos(r) < h)
                .cloned()
                .collect()
        };
        match sel {
            Selector::Latest { after: None } => last(self.all.clone()),
            Selector::Latest { after: Some(a) } => match self.bound(a, true) {
                Some(l) => last(self.above(Some(l))),
                None => vec![],
            },
            Selector::Before(a) => match self.bound(a, false) {
                Some((h, _)) => last(below(h)),
                None => vec![],
            },
            Selector::After(a) => match self.bound(a, true) {
                Some(l) => first(self.above(Some(l))),
                None => vec![],
            },
            Selector::Around(a) => {
                let Some((p, _)) = self.bound(a, false) else {
                    return vec![];
                };
                let before = below(p);
                let after: Vec<Record> = self
                    .all
                    .iter()
                    .filter(|r| Self::pos(r) >= p)
                    .cloned()
                    .collect();
                let mut nb = before.len().min(limit / 2);
                let na = after.len().min(limit - nb);
                nb = before.len().min(limit - na);
                let mut out = ids(&before[before.len() - nb..]);
                out.extend(ids(&after[..na]));
                out
            }
            Selector::Between(a, b) => {
                let (Some(lo), Some((hi, _))) = (self.bound(a, true), self.bound(b, false)) else {
                    return vec![];
                };
                if lo.0 < hi {
                    first(
                        self.above(Some(lo))
                            .into_iter()
                            .filter(|r| Self::pos(r) < hi)
                            .collect(),
                    )
                } else {
                    let (Some((ah, _)), Some(bl)) = (self.bound(a, false), self.bound(b, true))
                    else {
                        return vec![];
                    };
                    last(
                        self.above(Some(bl))
                            .into_iter()
                            .filter(|r| Self::pos(r) < ah)
                            .collect(),
                    )
                }
            }
        }
    }
}

/// How the clock moves between two records of a batch.
#[derive(Debug, Clone, Copy)]
enum Clock {
    Back(u64),
    Still,
    Forward(u64),
}

/// One record of a generated history: how far its msgid is from the one
/// before, how the clock moved, and whether it goes to the neighbouring
/// room instead.
#[derive(Debug, Clone, Copy)]
struct Step {
    id_gap: u64,
    clock: Clock,
    neighbour: bool,
}

/// Batches of varying size whose clock now and then stands still or steps
/// back, so that a room's records end up in many pages and, where the
/// order breaks, in rows between them.
fn history() -> impl Strategy<Value = Vec<Vec<Step>>> {
    let clock = prop_oneof![
        1 => (0u64..40).prop_map(Clock::Back),
        2 => Just(Clock::Still),
        9 => (0u64..15).prop_map(Clock::Forward),
    ];
    let step =
        (1u64..=2, clock, proptest::bool::weighted(0.25)).prop_map(|(id_gap, clock, neighbour)| {
            Step {
                id_gap,
                clock,
                neighbour,
            }
        });
    proptest::collection::vec(proptest::collection::vec(step, 1..13), 1..60)
}

/// Where an anchor points: a record of the room, a moment around the
/// room's history, or a msgid that is not in the room.
#[derive(Debug, Clone)]
enum AnchorAt {
    Record(proptest::sample::Index),
    Moment(u64),
    Stranger(u64),
}

fn anchor_at() -> impl Strategy<Value = AnchorAt> {
    prop_oneof![
        5 => any::<proptest::sample::Index>().prop_map(AnchorAt::Record),
        4 => (0u64..1_000).prop_map(AnchorAt::Moment),
        1 => prop_oneof![Just(0u64), 100_000u64..100_010].prop_map(AnchorAt::Stranger),
    ]
}

/// One question: which selector (0..7 as below), its anchors, a limit.
type Question = (u8, AnchorAt, AnchorAt, usize);

fn question() -> impl Strategy<Value = Question> {
    (
        0u8..7,
        anchor_at(),
        anchor_at(),
        proptest::sample::select(vec![1usize, 2, 7, 30, 1000]),
    )
}

/// Appends `batches` to the store (room `#r` and its neighbour `#n`) and
/// returns the model of `#r`: its records in (time, msgid) order.
fn fill(store: &SqliteStore, batches: &[Vec<Step>]) -> Model {
    let (mut id, mut ms) = (0u64, 50_000u64);
    let mut all = Vec::new();
    for steps in batches {
        let mut batch = Vec::new();
        for step in steps {
            id += step.id_gap;
            ms = match step.clock {
                Clock::Back(d) => ms - d,
                Clock::Still => ms,
                Clock::Forward(d) => ms + d,
            };
            let room = if step.neighbour { "#n" } else { "#r" };
            let rec = room_msg(id, ms, "alice", room, &format!("line {id}"));
            if !step.neighbour {
                all.push(rec.clone());
            }
            batch.push(rec);
        }
        store.append(&batch).expect("append");
    }
    all.sort_by_key(Model::pos);
    Model { all }
}

fn anchor(model: &Model, spec: &AnchorAt) -> Anchor {
    match spec {
        AnchorAt::Record(i) if !model.all.is_empty() => {
            Anchor::MsgId(model.all[i.index(model.all.len())].id)
        }
        AnchorAt::Record(_) => Anchor::MsgId(0),
        AnchorAt::Moment(ms) => Anchor::Time(at(49_900 + ms)),
        AnchorAt::Stranger(id) => Anchor::MsgId(*id),
    }
}

fn count(store: &SqliteStore, table: &str) -> i64 {
    store
        .writer()
        .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .expect("count")
}

proptest! {
    #![proptest_config(crate::page::proptests::config(12))]

    /// The store keeps a room in pages, and in rows where the clock broke
    /// the order; whatever the history, every selector answers exactly as
    /// one sorted list of the room's records would, search finds any
    /// record, and retention by age and by count keeps what it should.
    #[test]
    fn pages_and_rows_answer_every_selector_like_one_sorted_list(
        batches in history(),
        questions in proptest::collection::vec(question(), 1..150),
        probe in any::<proptest::sample::Index>(),
        cut in any::<proptest::sample::Index>(),
        keep in 1u64..40,
        chunk in 1usize..10,
    ) {
        let tmp = TempDir::new();
        let store = open(&tmp);
        let model = fill(&store, &batches);
        prop_assume!(!model.all.is_empty());
        let (rows, pages) = (count(&store, "messages"), count(&store, "pages"));
        for (which, a, b, limit) in &questions {
            let (a, b) = (anchor(&model, a), anchor(&model, b));
            let sel = match which {
                0 => Selector::Latest { after: None },
                1 => Selector::Latest { after: Some(a) },
                2 => Selector::Before(a),
                3 => Selector::After(a),
                4 => Selector::Around(a),
                5 => Selector::Between(a, b),
                _ => Selector::Between(b, a),
            };
            let got = ids(&store.query(&room_q("#r", sel, *limit)).expect("query"));
            prop_assert_eq!(
                got,
                model.answer(sel, *limit),
                "{:?}, limit {} ({} rows, {} pages)", sel, limit, rows, pages
            );
        }
        // Every record can be found by search, wherever it is stored.
        let probe = model.all[probe.index(model.all.len())].id;
        let found = store
            .search("x", &QueryTarget::Room("#r".into()), &format!("line {probe}"), 1000)
            .expect("search");
        prop_assert!(ids(&found).contains(&probe), "search for {}", probe);
        // Retention by age: exactly what is older than the cut goes.
        // One `now` for the cut and the compaction: a millisecond passing
        // between two readings of the clock would move the cut.
        let cut = model.all[cut.index(model.all.len())].time;
        let now = SystemTime::now();
        let age = now.duration_since(cut).expect("the past");
        let by_age = Retention {
            rooms: Limits { max_age: Some(age), max_count: None },
            ..Retention::default()
        };
        store.compact(&by_age, now).expect("compact");
        let kept = Model {
            all: model.all.iter().filter(|r| r.time >= cut).cloned().collect(),
        };
        let latest = Selector::Latest { after: None };
        let got = ids(&store.query(&room_q("#r", latest, 1000)).expect("query"));
        prop_assert_eq!(got, kept.answer(latest, 1000), "by age");
        // Retention by count: the newest `keep` stay.
        let by_count = Retention {
            rooms: Limits {
                max_age: None,
                max_count: Some(keep),
            },
            chunk,
            ..Retention::default()
        };
        store.compact(&by_count, SystemTime::now()).expect("compact");
        let got = store.query(&room_q("#r", latest, 1000)).expect("query");
        prop_assert_eq!(ids(&got), kept.answer(latest, keep as usize), "by count");
        // And the neighbour room lost nothing to the first room's limits
        // being counted in its pages.
        let newest = kept.all.last().map_or(0, |r| r.id);
        prop_assert!(store.last_id().expect("last id") >= newest);
    }
}

/// Found by the model test: retention by count went page by page, so a
/// row whose clock stepped back into a page's span outlived the page's
/// newer records, the room's newest message among them.
#[test]
fn retention_by_count_keeps_the_newest_even_past_a_row_inside_a_page() {
    let tmp = TempDir::new();
    let store = open(&tmp);
    store
        .append(&[
            room_msg(1, 10, "a", "#r", "one"),
            room_msg(2, 20, "a", "#r", "two"),
            room_msg(3, 30, "a", "#r", "three"),
        ])
        .expect("append");
    // The clock stepped back: a row between the page's records.
    store
        .append(&[room_msg(4, 15, "a", "#r", "four")])
        .expect("append");
    assert_eq!(count(&store, "messages"), 1, "one row");
    let keep_one = Retention {
        rooms: Limits {
            max_age: None,
            max_count: Some(1),
        },
        ..Retention::default()
    };
    store
        .compact(&keep_one, SystemTime::now())
        .expect("compact");
    let got = store
        .query(&room_q("#r", Selector::Latest { after: None }, 10))
        .expect("query");
    assert_eq!(ids(&got), vec![3]);
}

#[test]
fn a_reopened_store_keeps_a_room_in_order_from_its_newest_page() {
    let tmp = TempDir::new();
    {
        let store = open(&tmp);
        store
            .append(&[
                room_msg(1, 100, "a", "#r", "one"),
                room_msg(2, 200, "a", "#r", "two"),
            ])
            .expect("append");
    }
    // A new process knows nothing of the room's pages but what is stored:
    // a record from a clock set back must still not start an overlapping
    // page, and a later one extends the pages again.
    let store = open(&tmp);
    store
        .append(&[room_msg(3, 150, "a", "#r", "three")])
        .expect("append");
    store
        .append(&[room_msg(4, 300, "a", "#r", "four")])
        .expect("append");
    let rows: i64 = store
        .writer()
        .query_row("SELECT count(*) FROM messages", [], |r| r.get(0))
        .expect("count");
    assert_eq!(rows, 1, "only the record out of order is a row");
    let got = store
        .query(&room_q("#r", Selector::Latest { after: None }, 10))
        .expect("query");
    assert_eq!(ids(&got), vec![1, 3, 2, 4]);
    let got = store
        .query(&room_q("#r", Selector::After(Anchor::MsgId(3)), 10))
        .expect("query");
    assert_eq!(ids(&got), vec![2, 4]);
}

// ----- client tags: the version 10 migration, old journals ----------------------

fn with_tags(mut rec: Record, tags: &[(&str, &str)]) -> Record {
    rec.tags = tags
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect();
    rec
}

fn room_reaction(id: u64, ms: u64, from: &str, on: u64) -> Record {
    let mut rec = room_msg(id, ms, from, "#r", "");
    rec.kind = RecordKind::TagMsg;
    with_tags(
        rec,
        &[("+draft/react", "🎉"), ("+draft/reply", &on.to_string())],
    )
}

#[test]
fn kept_tags_are_client_only_lasting_and_bounded() {
    let t = |pairs: &[(&str, &str)]| -> Vec<(Name, Name)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    };
    assert_eq!(
        kept_tags(&t(&[
            ("+draft/reply", "12"),
            ("+typing", "active"),
            ("msgid", "9"),
            ("+draft/react", "👍"),
            ("+", "x"),
            ("+draft/typing", "paused"),
        ])),
        t(&[("+draft/reply", "12"), ("+draft/react", "👍")])
    );
    assert!(kept_tags(&t(&[("+typing", "active")])).is_empty());
    // 4094 bytes on the wire fit exactly; one more and the last tag goes.
    let v = "v".repeat(MAX_TAG_BYTES - "+a=".len() - ";+b=".len() - 10);
    let fits = t(&[("+a", &v), ("+b", "0123456789")]);
    assert_eq!(kept_tags(&fits), fits);
    let over = t(&[("+a", &v), ("+b", "0123456789x"), ("+c", "")]);
    assert_eq!(kept_tags(&over), t(&[("+a", &v)]));
}

#[test]
fn a_version_9_database_keeps_its_history_and_gains_tags() {
    let tmp = TempDir::new();
    let old_page = [
        room_msg(1, 10, "alice", "#r", "from before"),
        room_msg(2, 20, "bob", "#r", "also before"),
    ];
    {
        let conn = Connection::open(tmp.db()).expect("create");
        for v in &MIGRATIONS[..9] {
            conn.execute_batch(v).expect("old schema");
        }
        conn.pragma_update(None, "application_id", APPLICATION_ID)
            .expect("app id");
        conn.pragma_update(None, "user_version", 9)
            .expect("version");
        // A page as version 9 wrote it (format 1), a private row, and a
        // message held offline.
        let mut body = Vec::new();
        page::encode_before_tags(
            false,
            old_page.iter().map(|r| (keys::to_ms(r.time), r)),
            &mut body,
        );
        conn.execute(
            "INSERT INTO pages (id, conv, lo_id, lo_ms, hi_ms, n, body) \
             VALUES (2, 'r:#r', 1, 1700000000010, 1700000000020, 2, ?1)",
            [&body],
        )
        .expect("v9 page");
        conn.execute_batch(
            "INSERT INTO messages (id, time_ms, kind, conv, pm_a, pm_b, acct_a, acct_b, target, nick, ident, realname, host, text) VALUES
               (3, 1700000000030, 'say', 'p:alice bob', 'alice', 'bob', 'alice', 'bob', 'bob', 'alice', 'a', 'A', 'h', 'psst');
             INSERT INTO offline (account, id, time_ms, kind, is_pm, target, nick, ident, realname, host, text) VALUES
               ('carol', 4, 1700000000040, 'say', 1, 'carol', 'alice', 'a', 'A', 'h', 'held');",
        )
        .expect("v9 rows");
    }
    let store = open(&tmp);
    let version: i64 = store
        .writer()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("version");
    assert_eq!(version, SCHEMA_VERSION);
    let latest = |store: &SqliteStore| {
        store
            .query(&room_q("#r", Selector::Latest { after: None }, 10))
            .expect("room")
    };
    assert_eq!(latest(&store), old_page.to_vec());
    let private = |store: &SqliteStore| {
        store
            .query(&pm_q(
                "bob",
                QueryTarget::Nick("alice".into()),
                Selector::Latest { after: None },
            ))
            .expect("private")
    };
    let got = private(&store);
    assert_eq!(
        (ids(&got), got[0].tags.is_empty()),
        (vec![3], true),
        "{got:?}"
    );
    let held = store.take_offline("carol").expect("held");
    assert_eq!((ids(&held), &*held[0].text), (vec![4], "held"));
    // New records keep their tags, after the old page and beside the
    // old row, and across a reopen.
    let reply = with_tags(
        room_msg(5, 50, "carol", "#r", "me too"),
        &[("+draft/reply", "2")],
    );
    let react = room_reaction(6, 60, "alice", 5);
    let mut dm = with_tags(pm(7, 70, "bob", "alice", "ok"), &[("+draft/reply", "3")]);
    store
        .append(&[reply.clone(), react.clone(), dm.clone()])
        .expect("append");
    drop(store);
    let store = open(&tmp);
    let mut want = old_page.to_vec();
    want.extend([reply, react]);
    assert_eq!(latest(&store), want);
    Arc::make_mut(&mut dm.from).account = None;
    dm.to_account = None;
    assert_eq!(private(&store).last(), Some(&dm));
}

/// A journal left by the previous version (format 3 bodies, no tags),
/// followed by a segment of this version's, is replayed into SQLite at
/// open: the old records without tags, the new ones with theirs.
#[test]
fn a_journal_written_before_tags_is_replayed_at_open() {
    let tmp = TempDir::new();
    let dir = tmp.path().join(journal::JOURNAL_DIR);
    fs::create_dir_all(&dir).expect("journal dir");
    let old = [
        room_msg(1, 10, "alice", "#r", "before the upgrade"),
        pm(2, 20, "alice", "bob", "private, before"),
    ];
    let mut payload = Vec::new();
    page::encode_before_tags(
        true,
        old.iter().map(|r| (keys::to_ms(r.time), r)),
        &mut payload,
    );
    assert_eq!(payload[0], 3, "the previous version's journal format");
    let mut segment = Vec::new();
    segment.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    segment.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    segment.extend_from_slice(&payload);
    fs::write(dir.join(format!("{:020}.log", 1)), &segment).expect("old segment");
    let new = [
        with_tags(
            room_msg(3, 30, "bob", "#r", "after"),
            &[("+draft/reply", "1")],
        ),
        room_reaction(4, 40, "carol", 3),
    ];
    let mut frame = Vec::new();
    journal::put_frame(&new, &mut frame).expect("frame");
    fs::write(dir.join(format!("{:020}.log", 2)), &frame).expect("new segment");

    let store = open(&tmp);
    let got = store
        .query(&room_q("#r", Selector::Latest { after: None }, 10))
        .expect("room");
    assert_eq!(got, vec![old[0].clone(), new[0].clone(), new[1].clone()]);
    let got = store
        .query(&pm_q(
            "bob",
            QueryTarget::Nick("alice".into()),
            Selector::Latest { after: None },
        ))
        .expect("private");
    assert_eq!((ids(&got), &*got[0].text), (vec![2], "private, before"));
    let left: Vec<_> = fs::read_dir(&dir).expect("dir").collect();
    assert!(left.is_empty(), "segments replayed are deleted");
}
