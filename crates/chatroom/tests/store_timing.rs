//! How long one group commit takes: a quick sanity measurement, not a
//! benchmark with a pass mark (speed targets live in `chatroom bench`).
//!
//! Run it in release mode on the disk you care about:
//! `cargo test --release --test store_timing -- --ignored --nocapture`

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use chatroom_core::{MsgTarget, UserInfo};
use chatroom_store::{Record, RecordKind, SqliteStore, Store, StoreOptions};

fn record(id: u64) -> Record {
    Record {
        id,
        time: SystemTime::now(),
        kind: RecordKind::Say,
        from: std::sync::Arc::new(UserInfo {
            nick: format!("user{}", id % 50).into(),
            user: "u".into(),
            realname: "A Person".into(),
            host: "192.0.2.1".into(),
            account: None,
        }),
        to: MsgTarget::Room(format!("#room{}", id % 10).into()),
        text: format!("message {id}: an ordinary line of chat, about sixty bytes long").into(),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e6
}

#[test]
#[ignore = "a measurement; run with --release --ignored --nocapture"]
fn append_latency_by_batch_size() {
    for sync_every_commit in [false, true] {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "store-timing-{}-{sync_every_commit}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let store = SqliteStore::open_with(
            &dir,
            StoreOptions {
                sync_every_commit,
                ..StoreOptions::default()
            },
        )
        .expect("open");
        let mut next = 1;
        // Warm up: a table with some rows, the statement cache filled.
        let warm: Vec<Record> = (next..next + 20_000).map(record).collect();
        store.append(&warm).expect("warm up");
        next += 20_000;
        eprintln!(
            "synchronous={}",
            if sync_every_commit { "FULL" } else { "NORMAL" }
        );
        for (size, rounds) in [(1u64, 2000), (10, 1000), (100, 300)] {
            let mut times = Vec::with_capacity(rounds);
            for _ in 0..rounds {
                let batch: Vec<Record> = (next..next + size).map(record).collect();
                next += size;
                let t = Instant::now();
                store.append(&batch).expect("append");
                times.push(t.elapsed());
            }
            times.sort_unstable();
            let mean = times.iter().sum::<Duration>().as_secs_f64() * 1e6 / rounds as f64;
            eprintln!(
                "  batch {size:>3}: mean {mean:>8.1} µs  p50 {:>8.1}  p99 {:>8.1}  max {:>8.1}  \
                 ({:.1} µs/message)",
                percentile(&times, 0.5),
                percentile(&times, 0.99),
                percentile(&times, 1.0),
                mean / size as f64,
            );
        }
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
