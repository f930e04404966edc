//! The persist stage on real and in-memory stores: journal before
//! release, replays, room saves, backpressure, crash recovery.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;

use chatroom_config::History;
use chatroom_core::registry::{Note, SavedRoom};
use chatroom_core::{ConnId, Event, MsgTarget, Outbox};
use chatroom_proto::{Envelope, Shared};
use chatroom_store::{
    HistoryQuery, HistoryStore, QueryTarget, Record, RecordKind, RoomState, RoomStore, Selector,
};

use super::{replay::*, rooms::*, stage::*};

use std::path::PathBuf;

use super::*;
use crate::outbound::{self, Incoming};
use chatroom_core::{MsgKind, UserInfo};
use chatroom_store::{MemoryStore, SqliteStore};

struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "chatroom-persist-{name}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Dir(dir)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The journal in `dir`, where the SQLite store opened there reads it.
fn journal_in(dir: &Dir) -> JournalAt {
    JournalAt {
        dir: dir.0.clone(),
        sync_every_write: false,
    }
}

fn journal_synced(dir: &Dir) -> JournalAt {
    JournalAt {
        sync_every_write: true,
        ..journal_in(dir)
    }
}

fn message(id: u64, text: &str) -> Shared {
    message_in(id, "#r", text)
}

fn message_in(id: u64, room: &str, text: &str) -> Shared {
    Envelope::new(Event::Message {
        id,
        time: SystemTime::now(),
        from: Arc::new(UserInfo {
            nick: "alice".into(),
            user: "alice".into(),
            realname: "alice".into(),
            host: "127.0.0.1".into(),
            account: None,
            bot: false,
        }),
        to: MsgTarget::Room(room.into()),
        kind: MsgKind::Say,
        text: text.into(),
        tags: Vec::new(),
    })
}

/// What the hub task does between batches: waits for the commits, and
/// for the replays being read.
async fn settle_all(stage: &mut Stage) {
    stage.settle().await;
    while !stage.release.waiting.is_empty() {
        let heard = stage.hear().await;
        stage.on(heard);
    }
}

fn attach(stage: &mut Stage, id: ConnId) -> Incoming {
    let (out, rx) = outbound::queue(outbound::Budget::new(1 << 20, 1 << 20));
    stage.push(Op::Attach { id, out });
    rx
}

fn stored(store: &dyn HistoryStore) -> Vec<String> {
    store
        .query(&HistoryQuery {
            requester: String::new(),
            target: QueryTarget::Room("#r".into()),
            selector: Selector::Latest { after: None },
            limit: 100,
        })
        .expect("query")
        .into_iter()
        .map(|r| r.text.to_string())
        .collect()
}

fn text_of(ev: &Event) -> String {
    match ev {
        Event::Message { text, .. } => text.to_string(),
        other => format!("{other:?}"),
    }
}

#[tokio::test]
async fn a_delivery_arrives_only_after_its_record_is_stored() {
    let dir = Dir::new("order");
    let store = Arc::new(SqliteStore::open(&dir.0).expect("open"));
    let mut stage = Stage::start(
        store.clone(),
        journal_in(&dir),
        Arc::new(History::default()),
        64,
    )
    .expect("start");
    let rx = attach(&mut stage, 1);
    for (id, text) in [(1, "one"), (2, "two"), (3, "three")] {
        // The same event to two recipients makes one record.
        stage.send(1, &message(id, text));
        stage.send(2, &message(id, text));
    }
    assert!(stage.flush().await);
    settle_all(&mut stage).await;
    for want in ["one", "two", "three"] {
        let got = rx.recv().await.expect("delivery");
        assert_eq!(text_of(got.event().expect("an event")), want);
        // Already in the store when it arrives.
        assert!(stored(&*store).contains(&want.to_string()));
    }
    assert_eq!(stored(&*store), ["one", "two", "three"]);
}

#[tokio::test]
async fn a_stored_message_is_in_the_journal_before_anyone_receives_it() {
    let dir = Dir::new("journal-first");
    let store = Arc::new(SqliteStore::open(&dir.0).expect("open"));
    let mut stage = Stage::start(
        store.clone(),
        journal_in(&dir),
        Arc::new(History::default()),
        64,
    )
    .expect("start");
    let rx = attach(&mut stage, 1);
    stage.send(1, &message(1, "stored"));
    assert!(stage.flush().await);
    // Out at once (the journal is written on the flush)...
    assert!(!rx.is_empty(), "not released after its journal write");
    // ...and what was released is in the journal, whatever SQLite has.
    let (journaled, _) = chatroom_store::journal::recover(&dir.0).expect("journal");
    assert_eq!(journaled.iter().map(|r| r.id).collect::<Vec<_>>(), vec![1]);
    assert_eq!(
        text_of(rx.recv().await.expect("1").event().expect("an event")),
        "stored"
    );
    settle_all(&mut stage).await;
    assert_eq!(stored(&*store), ["stored"]);
}

#[tokio::test]
async fn with_a_sync_per_write_deliveries_wait_for_the_writer_thread() {
    let dir = Dir::new("sync");
    let opts = chatroom_store::StoreOptions {
        sync_every_commit: true,
        ..Default::default()
    };
    let store = Arc::new(SqliteStore::open_with(&dir.0, opts).expect("open"));
    let mut stage = Stage::start(
        store.clone(),
        journal_synced(&dir),
        Arc::new(History::default()),
        64,
    )
    .expect("start");
    let rx = attach(&mut stage, 1);
    // Nothing stored, nothing held: out at once.
    stage.send(1, &Envelope::new(Event::ServerNotice { text: "hi".into() }));
    assert!(stage.flush().await);
    assert!(!rx.is_empty(), "released without waiting for any write");
    let _ = rx.recv().await;
    stage.send(1, &message(1, "stored"));
    assert!(stage.flush().await);
    stage.send(
        1,
        &Envelope::new(Event::ServerNotice {
            text: "after".into(),
        }),
    );
    assert!(stage.flush().await);
    // Until the hub task hears of the synced write, neither goes out.
    assert!(rx.is_empty());
    settle_all(&mut stage).await;
    assert_eq!(
        text_of(rx.recv().await.expect("1").event().expect("an event")),
        "stored"
    );
    let second = rx.recv().await.expect("2");
    assert!(
        matches!(second.event().expect("an event"), Event::ServerNotice { text } if &**text == "after"),
        "{second:?}"
    );
    assert_eq!(stored(&*store), ["stored"]);
}

#[tokio::test]
async fn a_batch_with_nothing_to_store_waits_behind_one_that_waits_for_sqlite() {
    let dir = Dir::new("behind");
    let store = Arc::new(SqliteStore::open(&dir.0).expect("open"));
    let mut stage = Stage::start(
        store.clone(),
        journal_in(&dir),
        Arc::new(History::default()),
        64,
    )
    .expect("start");
    let rx = attach(&mut stage, 1);
    stage.send(1, &message(1, "stored"));
    assert!(stage.flush().await);
    let _ = rx.recv().await;
    // A room save waits for SQLite, and what follows it waits too.
    stage.push(Op::Room(RoomSave::Save(RoomState {
        founder: Some("ann".into()),
        registered: true,
        ..unregistered("#kept")
    })));
    stage.send(
        1,
        &Envelope::new(Event::ServerNotice {
            text: "saved".into(),
        }),
    );
    assert!(stage.flush().await);
    stage.send(
        1,
        &Envelope::new(Event::ServerNotice {
            text: "after".into(),
        }),
    );
    assert!(stage.flush().await);
    // Until the hub task hears that SQLite has them, neither goes out.
    assert!(rx.is_empty());
    settle_all(&mut stage).await;
    for want in ["saved", "after"] {
        let got = rx.recv().await.expect("notice");
        assert!(
            matches!(got.event().expect("an event"), Event::ServerNotice { text } if &**text == want),
            "{got:?}"
        );
    }
}

#[tokio::test]
async fn a_stalled_database_holds_up_no_delivery_until_its_queue_is_full() {
    let dir = Dir::new("stall");
    let store = Arc::new(SqliteStore::open(&dir.0).expect("open"));
    let mut stage = Stage::start(
        store.clone(),
        journal_in(&dir),
        Arc::new(History::default()),
        64,
    )
    .expect("start");
    const LIMIT: u64 = 20_000;
    let (out, rx) = outbound::queue(outbound::Budget::new(1 << 30, 1 << 30));
    stage.push(Op::Attach { id: 1, out });
    // Another connection holds the database's write lock: the
    // applier's commit waits (up to its busy timeout of seconds).
    let blocker = rusqlite::Connection::open(dir.0.join(chatroom_store::DB_FILE)).expect("db");
    blocker.execute_batch("BEGIN IMMEDIATE").expect("lock");
    stage.send(1, &message(1, "first"));
    assert!(stage.flush().await);
    settle_commits(&mut stage, 1).await;
    // In the journal, so delivered, though not in the database yet.
    assert_eq!(
        text_of(rx.recv().await.expect("first").event().expect("an event")),
        "first"
    );
    // What waits for the database is bounded: the hub task stops.
    let mut sent = 1;
    let mut stalled = false;
    while sent < LIMIT {
        sent += 1;
        stage.send(1, &message(sent, "more"));
        // A flush still waiting after 200 ms is taken to be held up:
        // a wait shows only as a return that does not come, which no
        // event marks. A slow machine can only make the loop stop
        // sooner, with fewer sent; nothing below depends on where.
        match tokio::time::timeout(Duration::from_millis(200), stage.flush()).await {
            Ok(done) => assert!(done),
            Err(_) => {
                stalled = true;
                break;
            }
        }
        stage.on_all_heard();
    }
    assert!(stalled, "flush never waited for the stalled database");
    blocker.execute_batch("COMMIT").expect("unlock");
    // The batch the cut-short flush did not take is still there.
    assert!(stage.flush().await);
    settle_all(&mut stage).await;
    let mut got = 1;
    while !rx.is_empty() {
        let d = rx.recv().await.expect("delivery");
        assert_eq!(text_of(d.event().expect("an event")), "more");
        got += 1;
    }
    assert_eq!(got, sent);
    let db = rusqlite::Connection::open(dir.0.join(chatroom_store::DB_FILE)).expect("db");
    let in_db: i64 = db
        .query_row(
            "SELECT (SELECT coalesce(sum(n), 0) FROM pages) + (SELECT count(*) FROM messages)",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(in_db, sent as i64);
}

#[tokio::test]
async fn a_room_save_alone_in_a_batch_is_written_before_its_deliveries() {
    let dir = Dir::new("roomsave");
    let store = Arc::new(SqliteStore::open(&dir.0).expect("open"));
    let mut stage = Stage::start(
        store.clone(),
        journal_in(&dir),
        Arc::new(History::default()),
        64,
    )
    .expect("start");
    let (out, rx) = outbound::queue(outbound::Budget::new(1 << 20, 1 << 20));
    stage.push(Op::Attach { id: 1, out });
    assert!(stage.flush().await);
    settle_all(&mut stage).await;
    // Nothing is waiting, nothing to store: only the save.
    stage.push(Op::Room(RoomSave::Save(RoomState {
        founder: Some("ann".into()),
        registered: true,
        ..unregistered("#kept")
    })));
    stage.send(
        1,
        &Envelope::new(Event::ServerNotice {
            text: "registered".into(),
        }),
    );
    assert!(stage.flush().await);
    let got = loop {
        if !rx.is_empty() {
            break rx.recv().await.expect("reply");
        }
        let heard = stage.hear().await;
        stage.on(heard);
    };
    assert!(
        matches!(got.event().expect("an event"), Event::ServerNotice { text } if &**text == "registered")
    );
    let rooms = store.load_rooms().expect("rooms");
    assert!(
        rooms.iter().any(|r| r.name == "#kept" && r.registered),
        "{rooms:?}"
    );
}

/// Waits until batch `upto` is in the journal.
async fn settle_commits(stage: &mut Stage, upto: u64) {
    while stage.committed < upto {
        let heard = stage.hear().await;
        stage.on(heard);
    }
}

#[tokio::test]
async fn a_replay_holds_exactly_what_came_before_the_join() {
    let dir = Dir::new("replay");
    let store = Arc::new(SqliteStore::open(&dir.0).expect("open"));
    let mut stage = Stage::start(
        store.clone(),
        journal_in(&dir),
        Arc::new(History::default()),
        64,
    )
    .expect("start");
    let rx = attach(&mut stage, 7);
    // One batch: a message, the join, a message after the join.
    stage.send(1, &message(1, "before"));
    stage.push(Op::Replay {
        to: 7,
        room: "#r".into(),
        mark: 1,
    });
    stage.send(7, &message(2, "after"));
    assert!(stage.flush().await);
    settle_all(&mut stage).await;
    let replay = rx.recv().await.expect("replay");
    match replay.event().expect("an event") {
        Event::History { room, lines } => {
            assert_eq!(&**room, "#r");
            let texts: Vec<String> = lines.iter().map(text_of).collect();
            assert_eq!(texts, ["before"]);
        }
        other => panic!("expected the replay first, got {other:?}"),
    }
    let live = rx.recv().await.expect("live");
    assert_eq!(text_of(live.event().expect("an event")), "after");
}

#[tokio::test]
async fn a_failed_append_does_not_stop_delivery() {
    let dir = Dir::new("fail");
    let store = Arc::new(SqliteStore::open(&dir.0).expect("open"));
    let mut stage = Stage::start(
        store.clone(),
        journal_in(&dir),
        Arc::new(History::default()),
        64,
    )
    .expect("start");
    let rx = attach(&mut stage, 1);
    stage.send(1, &message(5, "first"));
    assert!(stage.flush().await);
    settle_all(&mut stage).await;
    assert_eq!(
        text_of(rx.recv().await.expect("first").event().expect("an event")),
        "first"
    );
    // A stage that lost its seed would reuse an id: the store refuses
    // the batch, the recipients still get the message.
    let mut again = Stage::start(
        store.clone(),
        journal_in(&dir),
        Arc::new(History::default()),
        64,
    )
    .expect("start");
    let rx2 = attach(&mut again, 2);
    again.send(2, &message(5, "clash"));
    assert!(again.flush().await);
    settle_all(&mut again).await;
    assert_eq!(
        text_of(rx2.recv().await.expect("clash").event().expect("an event")),
        "clash"
    );
    assert_eq!(stored(&*store), ["first"]);
}

#[tokio::test]
async fn rooms_that_keep_nothing_are_never_written() {
    let dir = Dir::new("silent");
    let store = Arc::new(SqliteStore::open(&dir.0).expect("open"));
    let mut cfg = History::default();
    cfg.rooms.insert(
        "#R".into(),
        chatroom_config::RoomHistory {
            max_count: Some(0),
            ..Default::default()
        },
    );
    sync_room_limits(&*store, &cfg).expect("sync");
    let mut stage =
        Stage::start(store.clone(), journal_in(&dir), Arc::new(cfg), 64).expect("start");
    let rx = attach(&mut stage, 1);
    stage.send(1, &message(1, "gone"));
    assert!(stage.flush().await);
    settle_all(&mut stage).await;
    assert_eq!(
        text_of(
            rx.recv()
                .await
                .expect("delivery")
                .event()
                .expect("an event")
        ),
        "gone"
    );
    assert!(stored(&*store).is_empty());
    // Removing the override from the configuration lifts it.
    sync_room_limits(&*store, &History::default()).expect("sync");
    let rooms = store.load_rooms().expect("rooms");
    assert!(rooms.iter().all(|r| r.limits.is_none()), "{rooms:?}");
}

fn saved(name: &str) -> Note {
    Note::SaveRoom(SavedRoom {
        name: name.into(),
        topic: None,
        modes: "+nt".into(),
        founder: "alice".into(),
        since: SystemTime::UNIX_EPOCH + Duration::from_secs(1_000),
    })
}

#[tokio::test]
async fn notes_become_room_saves_and_topic_records_in_order() {
    let dir = Dir::new("notes");
    let store = Arc::new(SqliteStore::open(&dir.0).expect("open"));
    let mut cfg = History::default();
    cfg.rooms.insert(
        "#L".into(),
        chatroom_config::RoomHistory {
            max_count: Some(50),
            ..Default::default()
        },
    );
    sync_room_limits(&*store, &cfg).expect("sync");
    let mut stage =
        Stage::start(store.clone(), journal_in(&dir), Arc::new(cfg), 64).expect("start");
    let rx = attach(&mut stage, 1);
    stage.note(saved("#a"));
    stage.note(saved("#L"));
    stage.send(1, &message(1, "x"));
    assert!(stage.flush().await);
    settle_all(&mut stage).await;
    // Saves go before the deliveries queued after them.
    rx.recv().await.expect("x");
    let rooms = store.load_rooms().expect("rooms");
    let a = rooms.iter().find(|r| r.name == "#a").expect("#a saved");
    assert!(a.registered && a.founder.as_deref() == Some("alice"));
    assert_eq!(
        a.registered_at,
        Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_000))
    );
    assert_eq!(a.limits, None);
    let l = rooms.iter().find(|r| r.name == "#L").expect("#L saved");
    assert!(l.registered);
    assert_eq!(l.limits.and_then(|l| l.max_count), Some(50), "limits kept");

    stage.note(Note::ForgetRoom("#a".into()));
    stage.note(Note::ForgetRoom("#L".into()));
    stage.note(Note::Topic {
        id: 2,
        time: SystemTime::now(),
        room: "#r".into(),
        by: Arc::new(UserInfo {
            nick: "bob".into(),
            user: "bob".into(),
            realname: "bob".into(),
            host: "127.0.0.1".into(),
            account: None,
            bot: false,
        }),
        text: "the plan".into(),
    });
    stage.send(1, &message(3, "y"));
    assert!(stage.flush().await);
    settle_all(&mut stage).await;
    rx.recv().await.expect("y");
    let rooms = store.load_rooms().expect("rooms");
    assert!(rooms.iter().all(|r| r.name != "#a"), "#a forgotten");
    let l = rooms
        .iter()
        .find(|r| r.name == "#L")
        .expect("#L keeps its row");
    assert!(!l.registered && l.founder.is_none());
    assert_eq!(l.limits.and_then(|l| l.max_count), Some(50));
    assert_eq!(stored(&*store), ["x", "the plan", "y"]);
}

/// A private message's record gets the recipient's account from the hub's
/// note, through the journal into the store: the recipient reads it by
/// that account, and someone who only had the nickname does not.
#[tokio::test]
async fn a_private_message_is_stored_with_the_recipients_account() {
    let dir = Dir::new("private");
    let store = Arc::new(SqliteStore::open(&dir.0).expect("open"));
    let mut stage = Stage::start(
        store.clone(),
        journal_in(&dir),
        Arc::new(History::default()),
        64,
    )
    .expect("start");
    let rx = attach(&mut stage, 2);
    let psst = |id, text: &str| {
        Envelope::new(Event::Message {
            id,
            time: SystemTime::now(),
            from: Arc::new(UserInfo {
                nick: "alice".into(),
                user: "alice".into(),
                realname: "alice".into(),
                host: "127.0.0.1".into(),
                account: Some("Alicia".into()),
                bot: false,
            }),
            to: MsgTarget::Nick("bob".into()),
            kind: MsgKind::Say,
            text: text.into(),
            tags: Vec::new(),
        })
    };
    // bob logged in for the first, not for the second.
    stage.send(2, &psst(1, "for bobby"));
    stage.note(Note::PrivateRecipient {
        id: 1,
        account: "Bobby".into(),
    });
    stage.send(2, &psst(2, "for whoever is bob"));
    assert!(stage.flush().await);
    settle_all(&mut stage).await;
    drop(rx);
    let read = |requester: &str, with: &str| -> Vec<String> {
        store
            .query(&HistoryQuery {
                requester: requester.into(),
                target: QueryTarget::Nick(with.into()),
                selector: Selector::Latest { after: None },
                limit: 10,
            })
            .expect("query")
            .into_iter()
            .map(|r| r.text.to_string())
            .collect()
    };
    assert_eq!(read("bobby", "alice"), ["for bobby"]);
    assert!(read("bob", "alice").is_empty());
    assert_eq!(read("alicia", "bob"), ["for bobby", "for whoever is bob"]);
}

fn replayed_texts(ev: &Event) -> (String, Vec<String>) {
    match ev {
        Event::History { room, lines } => (room.to_string(), lines.iter().map(text_of).collect()),
        other => panic!("expected a replay, got {other:?}"),
    }
}

#[tokio::test]
async fn replays_and_live_events_keep_their_order() {
    let dir = Dir::new("two-replays");
    let store = Arc::new(SqliteStore::open(&dir.0).expect("open"));
    let mut stage = Stage::start(
        store.clone(),
        journal_in(&dir),
        Arc::new(History::default()),
        64,
    )
    .expect("start");
    let rx = attach(&mut stage, 3);
    stage.send(1, &message_in(1, "#r", "r-old"));
    stage.send(1, &message_in(2, "#s", "s-old"));
    stage.push(Op::Replay {
        to: 3,
        room: "#r".into(),
        mark: 2,
    });
    stage.send(3, &message_in(3, "#r", "r-live"));
    stage.push(Op::Replay {
        to: 3,
        room: "#s".into(),
        mark: 3,
    });
    stage.send(3, &message_in(4, "#s", "s-live"));
    assert!(stage.flush().await);
    settle_all(&mut stage).await;
    let first = rx.recv().await.expect("1");
    assert_eq!(
        replayed_texts(first.event().expect("an event")),
        ("#r".to_string(), vec!["r-old".to_string()])
    );
    assert_eq!(
        text_of(rx.recv().await.expect("2").event().expect("an event")),
        "r-live"
    );
    let third = rx.recv().await.expect("3");
    assert_eq!(
        replayed_texts(third.event().expect("an event")),
        ("#s".to_string(), vec!["s-old".to_string()])
    );
    assert_eq!(
        text_of(rx.recv().await.expect("4").event().expect("an event")),
        "s-live"
    );
}

#[tokio::test]
async fn too_much_held_behind_a_replay_is_a_slow_consumer() {
    let dir = Dir::new("hold");
    let store = Arc::new(SqliteStore::open(&dir.0).expect("open"));
    let mut stage = Stage::start(
        store.clone(),
        journal_in(&dir),
        Arc::new(History::default()),
        2,
    )
    .expect("start");
    let _rx = attach(&mut stage, 9);
    stage.push(Op::Replay {
        to: 9,
        room: "#r".into(),
        mark: 0,
    });
    for id in 1..=3 {
        stage.send(9, &message(id, "flood"));
    }
    assert!(stage.flush().await);
    settle_all(&mut stage).await;
    assert_eq!(stage.take_cuts(), vec![9]);
}

/// The replay thread's reading, on `history` holding 1..=30 in #r.
fn replay_reads_leave_out_what_followed_the_join(history: Arc<dyn HistoryStore>) {
    let records: Vec<Record> = (1..=30)
        .filter_map(|id| {
            message(id, &format!("m{id}"))
                .event()
                .and_then(Record::from_message)
        })
        .collect();
    history.append(&records).expect("append");
    let cfg = History {
        replay_lines: 5,
        ..History::default()
    };
    let (back, _rx) = mpsc::unbounded_channel();
    let replayer = Replayer {
        history,
        cfg: Arc::new(cfg),
        back,
    };
    // Joined when 10 was the newest: 11..=30 were said after the join.
    let lines = replayer.read(&"#r".into(), 10).expect("lines");
    let texts: Vec<String> = lines.iter().map(text_of).collect();
    assert_eq!(texts, ["m6", "m7", "m8", "m9", "m10"]);
    // Far more after the join than the first query asks for.
    let lines = replayer.read(&"#r".into(), 2).expect("lines");
    let texts: Vec<String> = lines.iter().map(text_of).collect();
    assert_eq!(texts, ["m1", "m2"]);
    assert!(replayer.read(&"#r".into(), 0).is_none());
    assert!(replayer.read(&"#nothing".into(), 30).is_none());
}

#[test]
fn a_replay_read_late_leaves_out_what_followed_the_join() {
    let dir = Dir::new("mark");
    let store = Arc::new(SqliteStore::open(&dir.0).expect("open"));
    replay_reads_leave_out_what_followed_the_join(store);
}

#[test]
fn a_replay_read_from_the_memory_store_leaves_out_what_followed_the_join() {
    replay_reads_leave_out_what_followed_the_join(Arc::new(MemoryStore::new()));
}

#[tokio::test]
async fn the_stage_runs_on_the_memory_store() {
    // The journal is still a file; records, replays and room saves go
    // to the store, whichever it is.
    let dir = Dir::new("memory");
    let store = Arc::new(MemoryStore::new());
    let mut stage = Stage::start(
        store.clone(),
        journal_in(&dir),
        Arc::new(History::default()),
        64,
    )
    .expect("start");
    let rx = attach(&mut stage, 1);
    for (id, text) in [(1, "one"), (2, "two")] {
        stage.send(1, &message(id, text));
    }
    assert!(stage.flush().await);
    settle_all(&mut stage).await;
    for want in ["one", "two"] {
        let got = rx.recv().await.expect("delivery");
        assert_eq!(text_of(got.event().expect("an event")), want);
        assert!(stored(&*store).contains(&want.to_string()));
    }
    // Someone joins: the room's history comes back from memory first,
    // then what was said after the join.
    let joiner = attach(&mut stage, 2);
    stage.push(Op::Replay {
        to: 2,
        room: "#r".into(),
        mark: 2,
    });
    stage.send(2, &message(3, "three"));
    assert!(stage.flush().await);
    settle_all(&mut stage).await;
    match joiner.recv().await.expect("replay").event() {
        Some(Event::History { lines, .. }) => {
            let texts: Vec<String> = lines.iter().map(text_of).collect();
            assert_eq!(texts, ["one", "two"]);
        }
        other => panic!("expected the replay first, got {other:?}"),
    }
    let live = joiner.recv().await.expect("live");
    assert_eq!(text_of(live.event().expect("an event")), "three");
    // A registered room's state is saved after what came before it.
    stage.push(Op::Room(RoomSave::Save(RoomState {
        founder: Some("ann".into()),
        registered: true,
        ..unregistered("#kept")
    })));
    assert!(stage.flush().await);
    settle_all(&mut stage).await;
    let saved = saved_rooms(&*store).expect("rooms");
    assert_eq!(saved.len(), 1);
    assert_eq!(&*saved[0].name, "#kept");
    assert_eq!(stored(&*store), ["one", "two", "three"]);
}

#[tokio::test]
async fn what_is_due_before_a_detach_goes_out_even_while_a_replay_is_read() {
    let dir = Dir::new("detach");
    let store = Arc::new(SqliteStore::open(&dir.0).expect("open"));
    let mut stage = Stage::start(
        store.clone(),
        journal_in(&dir),
        Arc::new(History::default()),
        64,
    )
    .expect("start");
    let rx = attach(&mut stage, 4);
    stage.send(1, &message(1, "old"));
    // Replay, goodbye and detach in one group: the replay cannot have
    // been read by the time the detach is applied.
    stage.push(Op::Replay {
        to: 4,
        room: "#r".into(),
        mark: 1,
    });
    stage.send(
        4,
        &Envelope::new(Event::Closing {
            reason: "bye".into(),
        }),
    );
    stage.push(Op::Detach { id: 4 });
    assert!(stage.flush().await);
    settle_all(&mut stage).await;
    let mut got = Vec::new();
    while let Some(ev) = rx.recv().await {
        got.push(ev);
    }
    assert!(
        got.iter()
            .any(|e| matches!(e.event().expect("an event"), Event::Closing { reason } if &**reason == "bye")),
        "{got:?}"
    );
}

/// A reaction (a TAGMSG with `+draft/react`) is stored through the
/// journal with its lasting tags, in a room and, with the recipient's
/// account, in private; a typing notification is not stored at all, and
/// a message keeps its reply tag but not `+typing`.
#[tokio::test]
async fn reactions_are_stored_and_typing_notifications_are_not() {
    let dir = Dir::new("tagmsg");
    let store = Arc::new(SqliteStore::open(&dir.0).expect("open"));
    let mut stage = Stage::start(
        store.clone(),
        journal_in(&dir),
        Arc::new(History::default()),
        64,
    )
    .expect("start");
    let rx = attach(&mut stage, 2);
    let alice = Arc::new(UserInfo {
        nick: "alice".into(),
        user: "alice".into(),
        realname: "alice".into(),
        host: "127.0.0.1".into(),
        account: Some("Alicia".into()),
        bot: false,
    });
    let tagmsg = |id, to: MsgTarget, tags: &[(&str, &str)]| {
        Envelope::new(Event::TagMsg {
            id,
            time: SystemTime::now(),
            from: alice.clone(),
            to,
            tags: tags
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
        })
    };
    let room = || MsgTarget::Room("#a".into());
    stage.send(2, &tagmsg(1, room(), &[("+typing", "active")]));
    stage.send(
        2,
        &Envelope::new(Event::Message {
            id: 2,
            time: SystemTime::now(),
            from: alice.clone(),
            to: room(),
            kind: MsgKind::Say,
            text: "me too".into(),
            tags: vec![
                ("+draft/reply".into(), "1".into()),
                ("+typing".into(), "done".into()),
            ],
        }),
    );
    stage.send(
        2,
        &tagmsg(3, room(), &[("+draft/react", "🎉"), ("+draft/reply", "2")]),
    );
    stage.send(
        2,
        &tagmsg(4, MsgTarget::Nick("bob".into()), &[("+draft/react", "👍")]),
    );
    stage.note(Note::PrivateRecipient {
        id: 4,
        account: "Bobby".into(),
    });
    assert!(stage.flush().await);
    settle_all(&mut stage).await;
    drop(rx);
    let got = store
        .query(&HistoryQuery {
            requester: String::new(),
            target: QueryTarget::Room("#a".into()),
            selector: Selector::Latest { after: None },
            limit: 10,
        })
        .expect("room");
    type Seen = (u64, RecordKind, Vec<(String, String)>);
    let seen: Vec<Seen> = got
        .iter()
        .map(|r| {
            (
                r.id,
                r.kind,
                r.tags
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            )
        })
        .collect();
    let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
    assert_eq!(
        seen,
        vec![
            (2, RecordKind::Say, vec![pair("+draft/reply", "1")]),
            (
                3,
                RecordKind::TagMsg,
                vec![pair("+draft/react", "🎉"), pair("+draft/reply", "2")]
            ),
        ]
    );
    let private = store
        .query(&HistoryQuery {
            requester: "bobby".into(),
            target: QueryTarget::Nick("alice".into()),
            selector: Selector::Latest { after: None },
            limit: 10,
        })
        .expect("private");
    assert_eq!(
        private.iter().map(|r| (r.id, r.kind)).collect::<Vec<_>>(),
        vec![(4, RecordKind::TagMsg)]
    );
}
