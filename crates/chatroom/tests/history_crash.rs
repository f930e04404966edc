//! Nothing a client received is lost to `kill -9`.
//!
//! Line-protocol clients send numbered messages under load (bounded) while
//! every client records the live messages it receives. Mid-stream the
//! server is killed with SIGKILL (by the PID of the child this test
//! started), then the history is read from the SQLite file through the
//! store API. Every message any client received must be there, exactly
//! once, in the order each client received it, and each sender's messages
//! in sending order. The server is then restarted on the same data
//! directory (twice over), must start, continue its msgids, and replay the
//! newest stored lines to a newcomer.

mod common;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use chatroom_store::{
    HistoryQuery, HistoryStore, QueryTarget, Record, Selector, SqliteStore, StoreOptions,
};
use common::{TestServer, WAIT};

const SENDERS: usize = 4;
/// Bounds the load: no sender sends more than this per round.
const MAX_PER_SENDER: usize = 3000;
/// Live messages the observer must have received before the kill.
const KILL_AFTER: usize = 500;
const ROUNDS: usize = 2;

#[derive(Default)]
struct Seen {
    /// Saw "you are now talking in #lobby".
    ready: bool,
    in_history: bool,
    history_done: bool,
    /// Live messages, as `sK-N`, in the order received.
    msgs: Vec<String>,
    /// The replay received on joining, as `sK-N`.
    replay: Vec<String>,
    eof: bool,
}

struct Peer {
    nick: String,
    stream: TcpStream,
    /// What the reader saw, and the signal that it saw more.
    seen: Arc<(Mutex<Seen>, Condvar)>,
    reader: Option<JoinHandle<()>>,
}

/// The text of a live room message line (`HH:MM <nick> text`).
fn message_text(line: &str) -> Option<String> {
    let (_, rest) = line.split_once(" <")?;
    let (_, text) = rest.split_once("> ")?;
    let (s, n) = text.strip_prefix('s')?.split_once('-')?;
    (s.parse::<usize>().is_ok() && n.parse::<usize>().is_ok()).then(|| text.to_string())
}

impl Peer {
    fn connect(addr: SocketAddr, nick: &str) -> Peer {
        let mut stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        stream
            .write_all(format!("{nick}\n").as_bytes())
            .expect("send nick");
        let seen = Arc::new((Mutex::new(Seen::default()), Condvar::new()));
        let shared = seen.clone();
        let rd = stream.try_clone().expect("clone");
        let reader = std::thread::spawn(move || {
            let mut rd = BufReader::new(rd);
            let deadline = Instant::now() + WAIT * 6;
            let mut line = String::new();
            while Instant::now() < deadline {
                match rd.read_line(&mut line) {
                    Ok(0) => break,
                    Ok(_) if line.ends_with('\n') => {
                        let l = line.trim_end();
                        let mut s = shared.0.lock().expect("lock");
                        if l.contains("you are now talking in #lobby") {
                            s.ready = true;
                        } else if l.starts_with("--- history of") {
                            s.in_history = true;
                        } else if l == "--- end of history ---" {
                            s.in_history = false;
                            s.history_done = true;
                        } else if let Some(text) = message_text(l) {
                            if s.in_history {
                                s.replay.push(text);
                            } else {
                                s.msgs.push(text);
                            }
                        }
                        drop(s);
                        shared.1.notify_all();
                        line.clear();
                    }
                    // A partial line stays in `line` until the rest arrives.
                    Ok(_) => {}
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) => {}
                    Err(_) => break,
                }
            }
            shared.0.lock().expect("lock").eof = true;
            shared.1.notify_all();
        });
        Peer {
            nick: nick.to_string(),
            stream,
            seen,
            reader: Some(reader),
        }
    }

    fn wait(&self, what: &str, cond: impl Fn(&Seen) -> bool) {
        let deadline = Instant::now() + WAIT;
        let (seen, changed) = &*self.seen;
        let mut s = seen.lock().expect("lock");
        while !cond(&s) {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "{}: timed out waiting for {what}",
                self.nick
            );
            s = changed.wait_timeout(s, left).expect("lock").0;
        }
    }

    fn count(&self) -> usize {
        self.seen.0.lock().expect("lock").msgs.len()
    }

    /// Waits for the reader to see the connection end; returns the live
    /// messages it got.
    fn finish(self) -> (String, Vec<String>) {
        let (nick, msgs, _) = self.finish_all();
        (nick, msgs)
    }

    /// Like `finish`, with the replay received on joining.
    fn finish_all(mut self) -> (String, Vec<String>, Vec<String>) {
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        let mut seen = self.seen.0.lock().expect("lock");
        let msgs = std::mem::take(&mut seen.msgs);
        let replay = std::mem::take(&mut seen.replay);
        drop(seen);
        (self.nick.clone(), msgs, replay)
    }
}

fn temp_dir() -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("history-crash-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn start(dir: &Path) -> TestServer {
    TestServer::start_in(
        Some(dir),
        &["--flood-rate", "0", "--no-tls", "--send-queue", "100000"],
    )
}

/// Every record of #lobby, oldest first, read from the file.
fn stored(dir: &Path) -> Vec<Record> {
    let store = SqliteStore::open_with(
        dir,
        StoreOptions {
            max_limit: 1_000_000,
            ..StoreOptions::default()
        },
    )
    .expect("open the store after the crash");
    store
        .query(&HistoryQuery {
            requester: "test".into(),
            target: QueryTarget::Room("#lobby".into()),
            selector: Selector::Latest { after: None },
            limit: 1_000_000,
        })
        .expect("query")
}

/// What one round saw: each client's live messages, and the replay and
/// live messages of a client that joined mid-stream.
struct RoundSeen {
    clients: Vec<(String, Vec<String>)>,
    late_replay: Vec<String>,
    late_live: Vec<String>,
}

/// One round: clients join, senders send, someone joins mid-stream, the
/// server is killed mid-stream.
fn round(dir: &Path, round: usize) -> RoundSeen {
    let mut srv = start(dir);
    let addr = srv.line.expect("line listener");
    let observer = Peer::connect(addr, &format!("observer{round}"));
    let senders: Vec<Peer> = (0..SENDERS)
        .map(|k| Peer::connect(addr, &format!("s{k}r{round}")))
        .collect();
    for p in senders.iter().chain([&observer]) {
        p.wait("joining", |s| s.ready);
        if round > 0 {
            // The replay of earlier rounds is history, not live traffic.
            p.wait("the replay", |s| s.history_done);
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for (k, p) in senders.iter().enumerate() {
        let mut out = p.stream.try_clone().expect("clone");
        let stop = stop.clone();
        writers.push(std::thread::spawn(move || {
            let mut n = 0;
            while n < MAX_PER_SENDER && !stop.load(Ordering::Relaxed) {
                let mut chunk = String::new();
                for _ in 0..10 {
                    chunk.push_str(&format!("s{k}-{}\n", round * MAX_PER_SENDER + n));
                    n += 1;
                }
                if out.write_all(chunk.as_bytes()).is_err() {
                    return;
                }
                // Paced (part of the load's shape, not a wait for
                // anything): the kill is to land mid-stream, long before
                // a sender runs out of messages.
                std::thread::sleep(Duration::from_millis(2));
            }
        }));
    }
    observer.wait("some traffic", |s| s.msgs.len() >= KILL_AFTER / 2);
    let late = Peer::connect(addr, &format!("late{round}"));
    late.wait("the replay", |s| s.history_done);
    observer.wait("traffic", |s| s.msgs.len() >= KILL_AFTER);
    late.wait("live traffic", |s| !s.msgs.is_empty());
    srv.kill9();
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        let _ = w.join();
    }
    assert!(
        observer.count() < SENDERS * MAX_PER_SENDER,
        "the kill must come mid-stream"
    );
    let mut clients: Vec<(String, Vec<String>)> = senders.into_iter().map(Peer::finish).collect();
    clients.push(observer.finish());
    let (nick, late_live, late_replay) = late.finish_all();
    clients.push((nick, late_live.clone()));
    RoundSeen {
        clients,
        late_replay,
        late_live,
    }
}

#[test]
fn every_message_a_client_received_survives_kill_9() {
    let dir = temp_dir();
    let mut received_total = 0;
    let mut all_received: HashSet<String> = HashSet::new();
    for r in 0..ROUNDS {
        let seen = round(&dir, r);
        let got = &seen.clients;
        let records = stored(&dir);
        let texts: Vec<String> = records.iter().map(|r| r.text.to_string()).collect();

        // No duplicates: neither ids nor texts (every text is unique).
        let ids: HashSet<u64> = records.iter().map(|r| r.id).collect();
        assert_eq!(ids.len(), records.len(), "duplicate msgids");
        let position: HashMap<&str, usize> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| (t.as_str(), i))
            .collect();
        assert_eq!(position.len(), texts.len(), "a message is stored twice");

        // Stored order is id order (ids are handed out in delivery order).
        assert!(
            records.windows(2).all(|w| w[0].id < w[1].id),
            "stored order differs from msgid order"
        );

        for (nick, msgs) in got {
            assert!(!msgs.is_empty(), "{nick} received nothing");
            received_total += msgs.len();
            let mut last = None;
            for m in msgs {
                let Some(&at) = position.get(m.as_str()) else {
                    panic!("{nick} received {m:?}, which is not in the history after kill -9");
                };
                if let Some(prev) = last {
                    assert!(
                        at > prev,
                        "{nick} received {m:?} after {:?}, the history has them the other way round",
                        texts[prev]
                    );
                }
                last = Some(at);
                all_received.insert(m.clone());
            }
        }
        // Each sender's messages are stored in the order sent.
        for k in 0..SENDERS {
            let prefix = format!("s{k}-");
            let ns: Vec<usize> = texts
                .iter()
                .filter_map(|t| t.strip_prefix(&prefix)?.parse().ok())
                .collect();
            assert!(ns.windows(2).all(|w| w[0] < w[1]), "s{k} out of order");
        }
        // Whoever joined mid-stream got the newest lines before the join,
        // then everything after it live: together one unbroken stretch of
        // the history, with no gap and no line twice.
        assert_eq!(seen.late_replay.len(), 50, "a full replay");
        let seam: Vec<&String> = seen.late_replay.iter().chain(&seen.late_live).collect();
        let start = position[seam[0].as_str()];
        for (i, m) in seam.iter().enumerate() {
            assert_eq!(
                texts.get(start + i),
                Some(*m),
                "replay + live differ from the history at line {i}"
            );
        }
        // Earlier rounds are still there, whole.
        for m in &all_received {
            assert!(
                position.contains_key(m.as_str()),
                "{m} lost in a later round"
            );
        }
    }
    assert!(received_total >= ROUNDS * KILL_AFTER);

    // A last restart: it starts, replays the newest stored lines, and new
    // messages get ids above every stored one.
    let before = stored(&dir);
    let max_id = before.iter().map(|r| r.id).max().unwrap_or(0);
    let mut srv = start(&dir);
    let mut c = common::LineClient::line_login(srv.line.expect("line"), "latecomer");
    c.expect("--- history of #lobby: 50 earlier messages ---");
    let mut replay = Vec::new();
    loop {
        let l = c.wait_for("replay lines", |_| true);
        if l == "--- end of history ---" {
            break;
        }
        replay.extend(message_text(&l));
    }
    let newest: Vec<String> = before[before.len() - 50..]
        .iter()
        .map(|r| r.text.to_string())
        .collect();
    assert_eq!(replay, newest);
    c.send("after the crashes");
    c.expect("<latecomer> after the crashes");
    assert!(srv.terminate());
    let after = stored(&dir);
    let last = after.last().expect("a record");
    assert_eq!(&*last.text, "after the crashes");
    assert!(last.id > max_id, "ids continue: {} after {max_id}", last.id);
    std::fs::remove_dir_all(&dir).ok();
}
