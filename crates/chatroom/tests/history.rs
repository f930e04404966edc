//! History against the real server binary: replay on join (line protocol
//! and IRC), `/history` and `/search`, restarts on the same data directory
//! (history kept, msgids continuing), retention compaction, `--no-history`,
//! and the start-up refusals (corrupt or foreign database, unusable data
//! directory) that must leave the files untouched.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use chatroom_core::MsgTarget;
use chatroom_store::{HistoryQuery, HistoryStore, QueryTarget, Record, Selector, SqliteStore};
use common::{LineClient, TestServer, WAIT};

fn server_in(dir: Option<&Path>, extra: &[&str]) -> TestServer {
    let mut args = vec!["--flood-rate", "0", "--no-tls"];
    args.extend_from_slice(extra);
    TestServer::start_in(dir, &args)
}

fn temp_dir(name: &str) -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("history-{name}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Says each text and waits for its echo: once the sender has it, the
/// message is committed (the server releases nothing before that).
fn say_all(c: &mut LineClient, nick: &str, texts: &[&str]) {
    for t in texts {
        c.send(t);
        c.expect(&format!("<{nick}> {t}"));
    }
}

/// Every line up to and including the first containing `needle`.
fn lines_through(c: &mut LineClient, needle: &str) -> Vec<String> {
    let seen = std::cell::RefCell::new(Vec::new());
    c.wait_for(needle, |l| {
        seen.borrow_mut().push(l.to_string());
        l.contains(needle)
    });
    seen.into_inner()
}

/// Every stored record of `room`, oldest first, read from the file.
fn stored(dir: &Path, room: &str) -> Vec<Record> {
    let store = SqliteStore::open(dir).expect("open the server's store");
    store
        .query(&HistoryQuery {
            requester: "test".into(),
            target: QueryTarget::Room(room.into()),
            selector: Selector::Latest { after: None },
            limit: 1000,
        })
        .expect("query")
}

fn texts(records: &[Record]) -> Vec<String> {
    records.iter().map(|r| r.text.to_string()).collect()
}

fn irc_login(addr: SocketAddr, nick: &str) -> LineClient {
    let mut c = LineClient::connect(addr);
    c.send(&format!("NICK {nick}"));
    c.send(&format!("USER {nick} 0 * :Real {nick}"));
    c.expect(&format!(" 001 {nick} :Welcome"));
    c.expect(&format!(":{nick}!{nick}@127.0.0.1 JOIN #lobby"));
    c.expect(&format!(" 366 {nick} #lobby "));
    c
}

#[test]
fn line_users_see_recent_history_on_join_before_live_traffic() {
    let srv = server_in(None, &[]);
    let addr = srv.line.expect("line");
    let mut alice = LineClient::line_login(addr, "alice");
    say_all(&mut alice, "alice", &["first", "second"]);
    alice.send("/me waves");
    alice.expect("* alice waves");
    let mut bob = LineClient::line_login(addr, "bob");
    let block = lines_through(&mut bob, "--- end of history ---");
    let start = block
        .iter()
        .position(|l| l.contains("--- history of #lobby: 3 earlier messages ---"))
        .unwrap_or_else(|| panic!("no history header: {block:#?}"));
    let body: Vec<&str> = block[start + 1..block.len() - 1]
        .iter()
        .map(String::as_str)
        .collect();
    assert_eq!(body.len(), 3, "{block:#?}");
    assert!(body[0].ends_with(" <alice> first"), "{body:?}");
    assert!(body[1].ends_with(" <alice> second"), "{body:?}");
    assert!(body[2].ends_with(" * alice waves"), "{body:?}");
    // The original time, HH:MM (today).
    assert_eq!(body[0].find(' '), Some(5), "{body:?}");
    alice.send("live now");
    bob.expect("<alice> live now");
}

#[test]
fn a_room_without_messages_replays_nothing() {
    let srv = server_in(None, &[]);
    let mut alice = LineClient::line_login(srv.line.expect("line"), "alice");
    alice.send("/join #fresh");
    alice.expect("you are now talking in #fresh");
    alice.send("hello");
    let got = lines_through(&mut alice, "<alice> hello");
    assert!(
        got.iter().all(|l| !l.contains("history")),
        "no replay for a new room: {got:#?}"
    );
}

#[test]
fn irc_clients_get_the_replay_as_messages_from_the_senders() {
    let srv = server_in(None, &[]);
    let mut alice = LineClient::line_login(srv.line.expect("line"), "alice");
    say_all(&mut alice, "alice", &["hello irc"]);
    alice.send("/me waves");
    alice.expect("* alice waves");
    let mut carol = irc_login(srv.irc.expect("irc"), "carol");
    carol.expect(":chatroom NOTICE #lobby :*** Replaying 2 earlier messages of #lobby");
    let hello = carol.expect("PRIVMSG #lobby :");
    assert!(
        hello.starts_with(":alice!alice@127.0.0.1 PRIVMSG #lobby :[")
            && hello.ends_with("] hello irc"),
        "{hello}"
    );
    let action = carol.expect("PRIVMSG #lobby :");
    assert!(action.contains(":\u{1}ACTION ["), "{action}");
    assert!(action.ends_with("] waves\u{1}"), "{action}");
    carol.expect(":chatroom NOTICE #lobby :*** End of replay");
    alice.send("after the replay");
    carol.expect(":alice!alice@127.0.0.1 PRIVMSG #lobby :after the replay");
}

#[test]
fn history_survives_a_restart_and_msgids_continue() {
    let dir = temp_dir("restart");
    let mut first = server_in(Some(&dir), &[]);
    let mut alice = LineClient::line_login(first.line.expect("line"), "alice");
    say_all(&mut alice, "alice", &["one", "two"]);
    assert!(first.terminate(), "server did not stop");
    drop(alice);

    let mut second = server_in(Some(&dir), &[]);
    let mut bob = LineClient::line_login(second.line.expect("line"), "bob");
    let block = lines_through(&mut bob, "--- end of history ---");
    assert!(
        block.iter().any(|l| l.ends_with("<alice> one")),
        "{block:#?}"
    );
    assert!(
        block.iter().any(|l| l.ends_with("<alice> two")),
        "{block:#?}"
    );
    say_all(&mut bob, "bob", &["three"]);
    assert!(second.terminate(), "server did not stop");

    let records = stored(&dir, "#lobby");
    assert_eq!(texts(&records), ["one", "two", "three"]);
    let ids: Vec<u64> = records.iter().map(|r| r.id).collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "ids must keep growing across the restart: {ids:?}"
    );
    // Without the seed the restarted server would reuse id 1, which the
    // store refuses: "three" would be missing above.
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn history_pages_back_and_search_finds_words_newest_first() {
    let srv = server_in(None, &[]);
    let mut alice = LineClient::line_login(srv.line.expect("line"), "alice");
    say_all(
        &mut alice,
        "alice",
        &[
            "apples are red",
            "pears are green",
            "red apples again",
            "bananas",
        ],
    );
    alice.send("/history 2");
    let page = lines_through(&mut alice, "--- end of history ---");
    let n = page.len();
    assert!(
        page[n - 3].ends_with("<alice> red apples again"),
        "{page:#?}"
    );
    assert!(page[n - 2].ends_with("<alice> bananas"), "{page:#?}");
    alice.send("/history more 2");
    let page = lines_through(&mut alice, "--- end of history ---");
    let n = page.len();
    assert!(page[n - 3].ends_with("<alice> apples are red"), "{page:#?}");
    assert!(
        page[n - 2].ends_with("<alice> pears are green"),
        "{page:#?}"
    );
    alice.send("/history more 2");
    alice.expect("--- no earlier messages in #lobby ---");
    alice.send("/history more");
    alice.expect("--- no earlier messages in #lobby ---");
    // A number alone is the newest lines again, whatever came before.
    alice.send("/history 1");
    let page = lines_through(&mut alice, "--- end of history ---");
    let n = page.len();
    assert!(page[n - 3].contains("1 earlier message ---"), "{page:#?}");
    assert!(page[n - 2].ends_with("<alice> bananas"), "{page:#?}");

    alice.send("/search apples red");
    let found = lines_through(&mut alice, "--- end of search ---");
    let n = found.len();
    assert!(
        found[n - 4].contains(
            "--- search for \"apples red\" in #lobby: 2 messages found, newest first ---"
        ),
        "{found:#?}"
    );
    assert!(
        found[n - 3].ends_with("<alice> red apples again"),
        "{found:#?}"
    );
    assert!(
        found[n - 2].ends_with("<alice> apples are red"),
        "{found:#?}"
    );

    alice.send("/search kiwis");
    alice.expect("--- search for \"kiwis\" in #lobby: nothing found ---");
}

#[test]
fn search_is_scoped_to_the_current_room() {
    let srv = server_in(None, &[]);
    let mut alice = LineClient::line_login(srv.line.expect("line"), "alice");
    say_all(&mut alice, "alice", &["lobby secret word"]);
    alice.send("/join #other");
    alice.expect("you are now talking in #other");
    alice.send("/search secret");
    alice.expect("--- search for \"secret\" in #other: nothing found ---");
    // Bob's search runs in his current room, #lobby, where the word is.
    let mut bob = LineClient::line_login(srv.line.expect("line"), "bob");
    bob.send("/search secret");
    bob.expect("in #lobby: 1 message found");
}

#[test]
fn search_and_history_refuse_bad_input_harmlessly() {
    let srv = server_in(None, &[]);
    let mut alice = LineClient::line_login(srv.line.expect("line"), "alice");
    say_all(&mut alice, "alice", &["quote \"me\" (maybe) OR not*"]);
    // FTS5 syntax in a query is searched for as plain words, never parsed.
    for q in [
        "\"unbalanced",
        "(* NEAR OR",
        "col:value",
        "a AND NOT b",
        "- ^ * : ( ) \"",
        "NEAR(a b, 3)",
    ] {
        alice.send(&format!("/search {q}"));
        alice.expect("--- search for");
    }
    alice.send("/search \"me\" (maybe)");
    alice.expect("1 message found");
    alice.send("/search OR");
    alice.expect("1 message found");
    alice.send("/search");
    alice.expect("! usage: /search WORDS");
    for bad in ["abc", "0", "-3", "201", "99999999999999999999999", "1 2"] {
        alice.send(&format!("/history {bad}"));
        alice.expect("! usage: /history [N] or /history more [N]");
    }
    alice.send("/part");
    alice.expect("you are not in any room");
    alice.send("/search anything");
    alice.expect("! you are not in any room");
    alice.send("/history");
    alice.expect("! you are not in any room");
    // Still fine afterwards.
    alice.send("/join #lobby");
    alice.expect("you are now talking in #lobby");
}

#[test]
fn no_history_keeps_nothing() {
    let dir = temp_dir("off");
    let mut srv = server_in(Some(&dir), &["--no-history"]);
    srv.stdout_line("history: off");
    let addr = srv.line.expect("line");
    let mut alice = LineClient::line_login(addr, "alice");
    say_all(&mut alice, "alice", &["not to be kept"]);
    let mut bob = LineClient::line_login(addr, "bob");
    bob.send("/search kept");
    let got = lines_through(&mut bob, "! this server keeps no history");
    assert!(
        got.iter().all(|l| !l.contains("not to be kept")),
        "{got:#?}"
    );
    assert!(srv.terminate());
    assert!(
        !dir.join("chatroom.db").exists(),
        "--no-history must not create a database"
    );

    // Nor touch one that exists.
    let mut on = server_in(Some(&dir), &[]);
    let mut alice = LineClient::line_login(on.line.expect("line"), "alice");
    say_all(&mut alice, "alice", &["kept"]);
    assert!(on.terminate());
    drop(alice);
    assert_eq!(texts(&stored(&dir, "#lobby")), ["kept"]);
    let files = |dir: &Path| -> Vec<(String, Vec<u8>)> {
        let mut all: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
            .expect("read dir")
            .filter_map(Result::ok)
            .filter(|e| e.path().is_file())
            .map(|e| {
                let bytes = std::fs::read(e.path()).unwrap_or_default();
                (e.file_name().to_string_lossy().into_owned(), bytes)
            })
            .collect();
        all.sort();
        all
    };
    let before = files(&dir);
    let mut off = server_in(Some(&dir), &["--no-history"]);
    let mut bob = LineClient::line_login(off.line.expect("line"), "bob");
    bob.send("not kept");
    let got = lines_through(&mut bob, "<bob> not kept");
    assert!(
        got.iter()
            .all(|l| !l.contains("<alice> kept") && !l.contains("history of")),
        "no replay: {got:#?}"
    );
    assert!(off.terminate());
    assert!(
        before == files(&dir),
        "--no-history changed the history files"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn retention_compaction_runs_on_the_real_server() {
    let dir = temp_dir("retention");
    let config = dir.join("chatroom.toml");
    std::fs::write(
        &config,
        "[history]\nmax_count = 3\ncompact_interval_secs = 1\n\
         [history.rooms.\"#quiet\"]\nmax_count = 0\n\
         [history.rooms.\"#big\"]\nmax_count = 100\n",
    )
    .expect("config");
    let data = dir.join("data");
    let config_arg = config.to_string_lossy().into_owned();
    let mut srv = server_in(Some(&data), &["--config", &config_arg]);
    let addr = srv.line.expect("line");
    let mut alice = LineClient::line_login(addr, "alice");
    let lobby: Vec<String> = (1..=8).map(|i| format!("lobby {i}")).collect();
    let lobby: Vec<&str> = lobby.iter().map(String::as_str).collect();
    say_all(&mut alice, "alice", &lobby);
    alice.send("/join #quiet");
    alice.expect("you are now talking in #quiet");
    say_all(&mut alice, "alice", &["never kept"]);
    alice.send("/join #big");
    alice.expect("you are now talking in #big");
    let big: Vec<String> = (1..=5).map(|i| format!("big {i}")).collect();
    let big: Vec<&str> = big.iter().map(String::as_str).collect();
    say_all(&mut alice, "alice", &big);

    // Compaction runs in the background: wait (bounded) until a newcomer's
    // replay of #lobby has shrunk to the newest three.
    let deadline = Instant::now() + WAIT;
    let mut n = 0;
    loop {
        n += 1;
        let mut c = LineClient::line_login(addr, &format!("watcher{n}"));
        let block = lines_through(&mut c, "--- end of history ---");
        if block.iter().any(|l| l.contains("3 earlier messages")) {
            assert!(
                block.iter().any(|l| l.ends_with("<alice> lobby 8")),
                "{block:#?}"
            );
            assert!(
                block.iter().any(|l| l.ends_with("<alice> lobby 6")),
                "{block:#?}"
            );
            assert!(
                !block.iter().any(|l| l.ends_with("<alice> lobby 5")),
                "{block:#?}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "never compacted: {block:#?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(srv.terminate());
    assert_eq!(
        texts(&stored(&data, "#lobby")),
        ["lobby 6", "lobby 7", "lobby 8"]
    );
    assert!(stored(&data, "#quiet").is_empty(), "#quiet keeps nothing");
    assert_eq!(
        texts(&stored(&data, "#big")).len(),
        5,
        "#big keeps up to 100"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// Runs `chatroom serve` expecting it to refuse to start; returns its output.
fn refused(data_dir: &Path) -> Output {
    refused_with(data_dir, &[])
}

/// Like [`refused`], with more flags; waits a bounded time, and kills a
/// server that starts after all.
fn refused_with(data_dir: &Path, extra: &[&str]) -> Output {
    let dir_arg = data_dir.to_string_lossy().into_owned();
    let mut child = Command::new(env!("CARGO_BIN_EXE_chatroom"))
        .args([
            "serve",
            "--no-metrics",
            "--bind",
            "127.0.0.1",
            "--line-port",
            "0",
            "--irc-port",
            "0",
            "--no-tls",
            "--data-dir",
            &dir_arg,
        ])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chatroom");
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "the server started on {}: {}",
                data_dir.display(),
                String::from_utf8_lossy(&out.stdout)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("output");
    assert!(!out.status.success(), "must fail: {out:?}");
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("Friends can connect"),
        "must not listen: {out:?}"
    );
    out
}

#[test]
fn a_corrupt_database_is_refused_and_left_alone() {
    let dir = temp_dir("corrupt");
    let db = dir.join("chatroom.db");
    let mut junk = b"SQLite format 3\0".to_vec();
    junk.extend((0..8000u32).map(|i| (i * 7 % 251) as u8));
    std::fs::write(&db, &junk).expect("write");
    let out = refused(&dir);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("chatroom.db"), "{err}");
    assert!(
        err.contains("damaged") || err.contains("not a chatroom database"),
        "{err}"
    );
    assert_eq!(std::fs::read(&db).expect("read"), junk, "file changed");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_foreign_database_is_refused_and_left_alone() {
    let dir = temp_dir("foreign");
    let db = dir.join("chatroom.db");
    {
        let conn = rusqlite_conn(&db);
        conn.execute_batch("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL); INSERT INTO invoices VALUES (1, 9.5);")
            .expect("foreign db");
    }
    let before = std::fs::read(&db).expect("read");
    let out = refused(&dir);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a chatroom database"), "{err}");
    assert_eq!(std::fs::read(&db).expect("read"), before, "file changed");
    std::fs::remove_dir_all(&dir).ok();
}

fn rusqlite_conn(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).expect("open sqlite")
}

#[test]
fn an_unusable_data_directory_is_a_clear_error() {
    let dir = temp_dir("baddir");
    let file = dir.join("a-file");
    std::fs::write(&file, "not a directory").expect("write");
    let out = refused(&file);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("data directory"), "{err}");
    assert!(err.contains("not a directory"), "{err}");
    let below = file.join("data");
    let out = refused(&below);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("data directory"), "{err}");
    assert!(err.contains("cannot create"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&file).expect("read"),
        "not a directory"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// Private messages are stored, with the accounts of their parties (here
/// none: the line protocol has no login), by which alone they are read
/// back: a nickname nobody is logged in to reads nothing.
#[test]
fn private_messages_are_kept_too() {
    let dir = temp_dir("private");
    let mut srv = server_in(Some(&dir), &[]);
    let addr = srv.line.expect("line");
    let mut alice = LineClient::line_login(addr, "alice");
    let mut bob = LineClient::line_login(addr, "bob");
    alice.send("/msg bob just between us");
    bob.expect("[private] <alice> just between us");
    assert!(srv.terminate());
    let row: (String, String, Option<String>, Option<String>) =
        rusqlite_conn(&dir.join("chatroom.db"))
            .query_row(
                "SELECT target, text, acct_a, acct_b FROM messages WHERE conv = 'p:alice bob'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .expect("the private message's row");
    assert_eq!(row, ("bob".into(), "just between us".into(), None, None));
    let store = SqliteStore::open(&dir).expect("open");
    let got = store
        .query(&HistoryQuery {
            requester: "bob".into(),
            target: QueryTarget::Nick("alice".into()),
            selector: Selector::Latest { after: None },
            limit: 10,
        })
        .expect("query");
    assert!(got.is_empty(), "{got:?}");
    drop(store);
    assert!(stored(&dir, "#lobby").is_empty());
    std::fs::remove_dir_all(&dir).ok();
}

/// Kills the wrapped server when the test ends, however it ends.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_write_failure_at_run_time_is_logged_loudly_and_delivery_goes_on() {
    // The server runs under a file-size limit (with SIGXFSZ ignored, so a
    // write past it fails with EFBIG instead of killing the process): the
    // history's WAL soon cannot grow, as on a full disk.
    let dir = temp_dir("efbig");
    let stderr_path = dir.join("stderr.log");
    let data = dir.join("data");
    let mut child = Child(
        Command::new("bash")
            .arg("-c")
            .arg("trap '' XFSZ; ulimit -f 1000; exec \"$0\" \"$@\"")
            .arg(env!("CARGO_BIN_EXE_chatroom"))
            .args([
                "serve",
                "--no-metrics",
                "--bind",
                "127.0.0.1",
                "--line-port",
                "0",
                "--irc-port",
                "0",
                "--no-tls",
                "--flood-rate",
                "0",
                "--data-dir",
            ])
            .arg(&data)
            .env("RUST_LOG", "chatroom=info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(
                std::fs::File::create(&stderr_path).expect("stderr file"),
            ))
            .spawn()
            .expect("start chatroom"),
    );
    let stdout = child.0.stdout.take().expect("stdout");
    let mut reader = std::io::BufReader::new(stdout);
    let mut addr = None;
    let deadline = Instant::now() + WAIT;
    while addr.is_none() {
        assert!(Instant::now() < deadline, "no address printed");
        let mut line = String::new();
        let n = std::io::BufRead::read_line(&mut reader, &mut line).expect("stdout");
        assert!(
            n > 0,
            "server exited: {}",
            std::fs::read_to_string(&stderr_path).unwrap_or_default()
        );
        addr = line
            .split_whitespace()
            .skip_while(|w| *w != "line:")
            .nth(1)
            .and_then(|a| a.parse::<SocketAddr>().ok());
    }
    let addr = addr.expect("line address");
    let mut alice = LineClient::line_login(addr, "alice");
    let mut bob = LineClient::line_login(addr, "bob");
    let filler = "x".repeat(300);
    let mut failed = false;
    for i in 0..3000 {
        let text = format!("{i} {filler}");
        alice.send(&text);
        // Every message still reaches everyone.
        bob.expect(&format!("<alice> {i} x"));
        if i % 50 == 49 {
            let log = std::fs::read_to_string(&stderr_path).unwrap_or_default();
            if log.contains("could NOT be saved") {
                failed = true;
                break;
            }
        }
    }
    assert!(failed, "the write failure was never logged");
    let log = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    let line = log
        .lines()
        .find(|l| l.contains("could NOT be saved"))
        .expect("the line");
    assert!(line.contains("ERROR"), "{line}");
    alice.send("still talking");
    bob.expect("<alice> still talking");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn replay_shows_old_lines_with_their_date_and_follows_the_replay_limits() {
    let dir = temp_dir("dates");
    {
        // History written earlier (by an earlier run of the server).
        let store = SqliteStore::open(&dir).expect("open");
        let now = SystemTime::now();
        let carol = chatroom_core::UserInfo {
            nick: "carol".into(),
            user: "carol".into(),
            realname: "carol".into(),
            host: "127.0.0.1".into(),
            account: None,
            bot: false,
        };
        let rec = |id: u64, ago: u64, text: &str| Record {
            id,
            time: now - Duration::from_secs(ago),
            kind: chatroom_store::RecordKind::Say,
            from: carol.clone().into(),
            to: MsgTarget::Room("#lobby".into()),
            text: text.into(),
            to_account: None,
            tags: Vec::new(),
        };
        store
            .append(&[
                rec(1, 3 * 86_400, "ancient news"),
                rec(2, 7_200, "older news"),
                rec(3, 600, "recent news"),
            ])
            .expect("append");
    }
    let mut srv = server_in(Some(&dir), &[]);
    let mut bob = LineClient::line_login(srv.line.expect("line"), "bob");
    let block = lines_through(&mut bob, "--- end of history ---");
    let ancient = block
        .iter()
        .find(|l| l.ends_with("<carol> ancient news"))
        .unwrap_or_else(|| panic!("{block:#?}"));
    // Three days ago: the date comes first (YYYY-MM-DD HH:MM).
    assert_eq!(ancient.as_bytes()[4], b'-', "{ancient}");
    assert_eq!(ancient.find(" <carol>"), Some(16), "{ancient}");
    assert!(block.iter().any(|l| l.ends_with("<carol> recent news")));
    say_all(&mut bob, "bob", &["new"]);
    assert!(srv.terminate());

    // Only what was said in the last hour; then only the newest line.
    let mut srv = server_in(Some(&dir), &["--history-replay-hours", "1"]);
    let mut dave = LineClient::line_login(srv.line.expect("line"), "dave");
    let block = lines_through(&mut dave, "--- end of history ---");
    assert!(
        block.iter().any(|l| l.contains("2 earlier messages")),
        "{block:#?}"
    );
    assert!(block.iter().any(|l| l.ends_with("<carol> recent news")));
    assert!(block.iter().any(|l| l.ends_with("<bob> new")));
    assert!(srv.terminate());
    let mut srv = server_in(Some(&dir), &["--history-replay-lines", "1"]);
    let mut erin = LineClient::line_login(srv.line.expect("line"), "erin");
    let block = lines_through(&mut erin, "--- end of history ---");
    assert!(
        block.iter().any(|l| l.contains("1 earlier message ---")),
        "{block:#?}"
    );
    assert!(block.iter().any(|l| l.ends_with("<bob> new")));
    assert!(srv.terminate());

    let ids: Vec<u64> = stored(&dir, "#lobby").iter().map(|r| r.id).collect();
    assert_eq!(
        ids,
        [1, 2, 3, 4],
        "the server continued after the file's ids"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_history_flags_stop_the_server_with_a_clear_error() {
    for (args, needle) in [
        (&["--history-replay-lines", "5000"][..], "replay_lines"),
        (&["--history-compact-interval", "0"][..], "compact_interval"),
        (&["--history-max-count", "-1"][..], "-1"),
        (&["--history-replay-hours", "soon"][..], "soon"),
    ] {
        let out = refused_with(&temp_dir("flags"), args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

#[test]
fn a_second_server_on_the_same_data_directory_is_refused() {
    let dir = temp_dir("twice");
    let first = server_in(Some(&dir), &[]);
    let out = refused(&dir);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("in use by another chatroom server"), "{err}");
    // The first one is unharmed.
    let mut alice = LineClient::line_login(first.line.expect("line"), "alice");
    say_all(&mut alice, "alice", &["still here"]);
    drop(first);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_search_right_after_a_message_finds_it() {
    let srv = server_in(None, &[]);
    let mut alice = LineClient::line_login(srv.line.expect("line"), "alice");
    // Both lines in one write: the question reaches the hub in the same
    // batch as the message, before the message's commit.
    alice.send_raw(b"plums are purple\n/search plums\n");
    alice.expect("--- search for \"plums\" in #lobby: 1 message found, newest first ---");
}

#[test]
fn long_messages_fit_one_irc_line_and_history_keeps_what_was_delivered() {
    let dir = temp_dir("long");
    let mut srv = server_in(Some(&dir), &[]);
    let mut alice = LineClient::line_login(srv.line.expect("line"), "alice");
    let mut carol = irc_login(srv.irc.expect("irc"), "carol");
    alice.expect("* carol joined #lobby");
    // A full IRC line: relayed with carol's source in front it would pass
    // 512 bytes, so it is cut to fit, for everyone alike.
    let head = "PRIVMSG #lobby :";
    let sent = "c".repeat(510 - head.len());
    carol.send(&format!("{head}{sent}"));
    let fit = 510 - ":carol!carol@127.0.0.1 PRIVMSG #lobby :".len();
    let cut = &sent[..fit];
    let seen = alice.expect("<carol> ");
    assert!(seen.ends_with(&format!("<carol> {cut}")), "{seen}");
    // Text a line user types at length arrives whole at IRC clients, in
    // as many lines as it needs, none over 512 bytes.
    let words: Vec<String> = (0..120).map(|i| format!("word{i:04}")).collect();
    let long = words.join(" ");
    alice.send(&long);
    let mut pieces = Vec::new();
    while !pieces
        .last()
        .is_some_and(|p: &String| p.ends_with("word0119"))
    {
        let line = carol.expect(":alice!alice@127.0.0.1 PRIVMSG #lobby :");
        assert!(line.len() <= 510, "{} bytes: {line}", line.len());
        let (_, text) = line.split_once(" :").expect("trailing");
        pieces.push(text.to_string());
    }
    assert!(pieces.len() >= 3, "{pieces:#?}");
    assert_eq!(pieces.join(" "), long);
    assert!(srv.terminate());
    let mut want = vec![cut.to_string()];
    want.extend(pieces);
    assert_eq!(texts(&stored(&dir, "#lobby")), want);
    std::fs::remove_dir_all(&dir).ok();
}
