//! Microbenchmark of the history store's write path: one group commit of
//! room messages shaped like the bench's (64-byte payloads of numbers and
//! padding) appended with `HistoryStore::append` to a real SQLite file, as the
//! persist stage's writer does; the background indexing of the same
//! rows into the full-text index, which runs off the delivery path; and
//! the latency of one group commit of ordinary chat lines by batch size,
//! with and without an fsync per commit (`store_commit_latency`, which
//! also prints the tail of single commits: p50, p99, max).
//!
//! Measures only; asserts nothing about speed. Run with `cargo bench --bench store`
//! (one group: `cargo bench --bench store -- store_commit_latency`). The
//! commit latency group writes under the build's target directory: build
//! there on the disk you care about.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

use chatroom_core::{MsgTarget, UserInfo};
use chatroom_store::{HistoryStore, Record, RecordKind, SearchStore, SqliteStore, StoreOptions};

/// A fresh data directory, removed when dropped.
struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str, n: u64) -> Dir {
        Dir::under(std::env::temp_dir(), tag, n)
    }

    fn under(base: PathBuf, tag: &str, n: u64) -> Dir {
        let dir = base.join(format!(
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
        bot: false,
    });
    (first..first + n)
        .map(|id| Record {
            id,
            time: SystemTime::now(),
            kind: RecordKind::Say,
            from: from.clone(),
            to: MsgTarget::Room("#bench".into()),
            text: text(id).into(),
            to_account: None,
            tags: Vec::new(),
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

/// An ordinary line of chat (about sixty bytes), from one of 50 people
/// to one of 10 rooms.
fn chat(id: u64) -> Record {
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
            bot: false,
        }),
        to: MsgTarget::Room(format!("#room{}", id % 10).into()),
        text: format!("message {id}: an ordinary line of chat, about sixty bytes long").into(),
        to_account: None,
        tags: Vec::new(),
    }
}

/// Microseconds at quantile `q` of sorted durations.
fn quantile_us(sorted: &[Duration], q: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i].as_secs_f64() * 1e6
}

/// One group commit of `HistoryStore::append`, by batch size, with
/// `synchronous=NORMAL` (the default) and `FULL` (`sync_every_commit`: an
/// fsync per commit), on a store that already holds rows and has its
/// statements cached. Criterion's mean is the mean commit; the tail of
/// single commits, which a mean hides, is printed after each case.
fn commit_latency(c: &mut Criterion) {
    let mut group = c.benchmark_group("store_commit_latency");
    // A commit that waits for the disk takes milliseconds.
    group.sample_size(20);
    for sync_every_commit in [false, true] {
        let mode = if sync_every_commit { "full" } else { "normal" };
        for size in [1u64, 10, 100] {
            let dir = Dir::under(
                PathBuf::from(env!("CARGO_TARGET_TMPDIR")),
                &format!("latency-{mode}"),
                size,
            );
            let store = SqliteStore::open_with(
                &dir.0,
                StoreOptions {
                    sync_every_commit,
                    ..StoreOptions::default()
                },
            )
            .expect("open store");
            const WARM: u64 = 20_000;
            let warm: Vec<Record> = (1..=WARM).map(chat).collect();
            store.append(&warm).expect("warm up");
            let mut next = WARM + 1;
            let mut times = Vec::new();
            group.throughput(Throughput::Elements(size));
            group.bench_function(BenchmarkId::new(mode, size), |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let records: Vec<Record> = (next..next + size).map(chat).collect();
                        next += size;
                        let t = Instant::now();
                        store.append(black_box(&records)).expect("append");
                        let took = t.elapsed();
                        total += took;
                        times.push(took);
                    }
                    total
                });
            });
            // Empty when a filter left this case out.
            if !times.is_empty() {
                times.sort_unstable();
                eprintln!(
                    "store_commit_latency/{mode}/{size}: {} commits, p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs",
                    times.len(),
                    quantile_us(&times, 0.5),
                    quantile_us(&times, 0.99),
                    quantile_us(&times, 1.0),
                );
            }
            let _ = store.checkpoint();
        }
    }
    group.finish();
}

criterion_group!(benches, append, index, commit_latency);
criterion_main!(benches);
