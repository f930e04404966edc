//! A record the store said it committed is there after `kill -9`.
//!
//! The writer runs in a child process: this test binary re-executes itself
//! (`current_exe()`), selecting only `crash_child`, with an environment
//! variable that tells that function to be the writer. The child appends
//! batches and prints each committed range after `append` returns; the
//! parent kills it with SIGKILL mid-stream (by its own child's PID), three
//! times over the same directory, then reopens the store and checks that
//! every printed id is stored exactly once, and that batches are whole.
//!
//! Re-executing the test binary (rather than a separate example) needs no
//! nested `cargo build` and works under `cargo test --test store_crash`.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use chatroom_core::{MsgTarget, UserInfo};
use chatroom_store::{
    HistoryQuery, HistoryStore, QueryTarget, Record, RecordKind, Selector, SqliteStore,
    StoreOptions,
};

const CHILD_ENV: &str = "CHATROOM_STORE_CRASH_CHILD";
const BATCH: u64 = 7;

fn record(id: u64) -> Record {
    Record {
        id,
        time: SystemTime::now(),
        kind: RecordKind::Say,
        from: std::sync::Arc::new(UserInfo {
            nick: "writer".into(),
            user: "w".into(),
            realname: "Writer".into(),
            host: "127.0.0.1".into(),
            account: None,
            bot: false,
        }),
        to: MsgTarget::Room("#crash".into()),
        text: format!("message number {id}").into(),
        to_account: None,
        tags: Vec::new(),
    }
}

/// The writer. As an ordinary test (no environment variable) it does nothing.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let store = SqliteStore::open(Path::new(&dir)).expect("child: open");
    let mut next = store.last_id().expect("child: last id") + 1;
    let started = Instant::now();
    let mut out = std::io::stdout().lock();
    // A safety valve: never outlive a parent that failed to kill us.
    while started.elapsed() < Duration::from_secs(60) {
        let batch: Vec<Record> = (next..next + BATCH).map(record).collect();
        store.append(&batch).expect("child: append");
        writeln!(out, "committed {} {}", next, next + BATCH - 1).expect("child: print");
        out.flush().expect("child: flush");
        next += BATCH;
    }
}

/// Kills the child if the test fails before it does.
struct Killer(Child);

impl Drop for Killer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn temp_dir() -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("store-crash-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Runs the writer until it has reported `commits` batches, kills it, and
/// returns every id it reported (including lines still in the pipe).
fn run_and_kill(dir: &Path, commits: usize) -> Vec<u64> {
    let exe = std::env::current_exe().expect("test binary path");
    let child = Command::new(exe)
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn writer");
    let mut child = Killer(child);
    let stdout = child.0.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut reported = Vec::new();
    let mut seen = 0;
    let parse = |line: &str, reported: &mut Vec<u64>| -> bool {
        // libtest's "test crash_child ... " has no newline before our
        // first line, so look for the marker anywhere in the line.
        let Some(rest) = line
            .find("committed ")
            .map(|at| &line[at + "committed ".len()..])
        else {
            return false;
        };
        let mut parts = rest.split(' ').map(|n| n.parse::<u64>().expect("a number"));
        let (first, last) = (parts.next().expect("first"), parts.next().expect("last"));
        reported.extend(first..=last);
        true
    };
    for line in lines.by_ref() {
        let line = line.expect("read child output");
        if parse(&line, &mut reported) {
            seen += 1;
            if seen == commits {
                break;
            }
        }
    }
    assert_eq!(seen, commits, "the writer stopped early");
    // SIGKILL, most likely in the middle of the next append.
    child.0.kill().expect("kill -9 the writer");
    // Lines the child printed before it died are still in the pipe.
    for line in lines {
        let line = line.expect("read child output");
        parse(&line, &mut reported);
    }
    let status = child.0.wait().expect("reap the writer");
    assert!(!status.success(), "the writer was killed, not finished");
    reported
}

#[test]
fn every_reported_commit_survives_kill_9() {
    let dir = temp_dir();
    let mut reported = Vec::new();
    for commits in [40, 250, 90] {
        reported.extend(run_and_kill(&dir, commits));
    }

    let store = SqliteStore::open_with(
        &dir,
        StoreOptions {
            max_limit: usize::MAX,
            ..StoreOptions::default()
        },
    )
    .expect("reopen after kill -9");
    let stored: Vec<u64> = store
        .query(&HistoryQuery {
            requester: "checker".into(),
            target: QueryTarget::Room("#crash".into()),
            selector: Selector::Latest { after: None },
            limit: usize::MAX,
        })
        .expect("query")
        .iter()
        .map(|r| r.id)
        .collect();
    let _ = std::fs::remove_dir_all(&dir);

    let mut sorted = stored.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), stored.len(), "no id is stored twice");
    for id in &reported {
        assert!(
            sorted.binary_search(id).is_ok(),
            "reported id {id} was lost"
        );
    }
    // Batches are all-or-nothing and ids continued across restarts: what is
    // stored is 1..=n for a whole number of batches (at most one more batch
    // per kill than was reported, committed just before the kill landed).
    let n = stored.len() as u64;
    eprintln!("reported {} ids, stored {n}", reported.len());
    assert_eq!(n % BATCH, 0, "a torn batch: {n} ids");
    assert_eq!(sorted, (1..=n).collect::<Vec<_>>());
    assert!(n >= reported.len() as u64 && n <= reported.len() as u64 + 3 * BATCH);
}
