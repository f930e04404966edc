//! Microbenchmark of the history store's write path: one group commit of
//! room messages shaped like the bench's (64-byte payloads of numbers and
//! padding) appended with `Store::append` to a real SQLite file, as the
//! persist stage's writer does; and the background indexing of the same
//! rows into the full-text index, which runs off the delivery path.
//!
//! Measures only; asserts nothing about speed. Run with `cargo bench --bench store`.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::SystemTime;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

use chatroom_core::{MsgTarget, UserInfo};
use chatroom_store::{Record, RecordKind, SqliteStore, Store, StoreOptions};

/// A fresh data directory, removed when dropped.
struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str, n: u64) -> Dir {
        let dir = std::env::temp_dir().join(format!(
            "chatroom-bench-store-{tag}-{}-{n}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        Dir(dir)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn text(i: u64) -> String {
    let mut s = format!("bnch {} {} {} ", i % 50, i / 50, 123_456_789_000 + i * 977);
    while s.len() < 64 {
        s.push('x');
    }
    s
}

fn batch(first: u64, n: u64) -> Vec<Record> {
    let from = std::sync::Arc::new(UserInfo {
        nick: "bnch12".into(),
        user: "bench".into(),
        realname: "chatroom bench".into(),
        host: "127.0.0.1".into(),
        account: None,
    });
    (first..first + n)
        .map(|id| Record {
            id,
            time: SystemTime::now(),
            kind: RecordKind::Say,
            from: from.clone(),
            to: MsgTarget::Room("#bench".into()),
            text: text(id).into(),
        })
        .collect()
}

fn open(dir: &Dir) -> SqliteStore {
    SqliteStore::open_with(
        &dir.0,
        StoreOptions {
            background_checkpoints: true,
            check_at_start: false,
            ..StoreOptions::default()
        },
    )
    .expect("open store")
}

fn append(c: &mut Criterion) {
    let mut group = c.benchmark_group("store_append");
    for n in [1u64, 32, 300] {
        group.throughput(Throughput::Elements(n));
        let dir = Dir::new("append", n);
        let store = open(&dir);
        let mut next = 1;
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            b.iter_batched(
                || {
                    let records = batch(next, n);
                    next += n;
                    records
                },
                |records| store.append(black_box(&records)).expect("append"),
                BatchSize::SmallInput,
            );
        });
        // The WAL is never checkpointed by the writer; keep it bounded.
        let _ = store.checkpoint();
    }
    group.finish();
}

fn index(c: &mut Criterion) {
    let mut group = c.benchmark_group("store_index_search");
    let n = 2048u64;
    group.throughput(Throughput::Elements(n));
    let dir = Dir::new("index", n);
    let store = open(&dir);
    let mut next = 1;
    group.bench_function(BenchmarkId::from_parameter(n), |b| {
        b.iter_batched(
            || {
                store.append(&batch(next, n)).expect("append");
                next += n;
            },
            |()| store.index_search(n as usize).expect("index"),
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

criterion_group!(benches, append, index);
criterion_main!(benches);
