//! Microbenchmark of the hub's fan-out: one message said in a room of N
//! members, delivered (as the runtime does) by a non-blocking `try_send`
//! of the shared event into each member's bounded queue.
//!
//! Measures only; asserts nothing about speed. Run with `cargo bench`.

use std::collections::HashMap;
use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tokio::sync::mpsc;

use std::sync::Arc;

use chatroom_core::{Command, ConnId, Event, Hub, HubConfig, MsgKind, Outbox, Overflow, SayTarget};

type Shared = Arc<Event>;

/// Per-member bounded queues, like the runtime's outgoing side.
struct Queues {
    tx: HashMap<ConnId, mpsc::Sender<Shared>>,
    rx: Vec<mpsc::Receiver<Shared>>,
}

impl Outbox for Queues {
    type Env = Shared;

    fn wrap(&mut self, event: Event) -> Shared {
        Arc::new(event)
    }

    fn send(&mut self, to: ConnId, event: &Shared) {
        if let Some(tx) = self.tx.get(&to) {
            let _ = tx.try_send(event.clone());
        }
    }
}

impl Queues {
    fn drain(&mut self) {
        for rx in &mut self.rx {
            while rx.try_recv().is_ok() {}
        }
    }
}

fn room_of(n: u64) -> (Hub, Queues) {
    let mut hub = Hub::new(
        HubConfig {
            default_rooms: Vec::new(),
            ..HubConfig::default()
        },
        std::sync::Arc::new(chatroom_core::ManualClock::new_year()),
    );
    let mut q = Queues {
        tx: HashMap::new(),
        rx: Vec::new(),
    };
    for id in 1..=n {
        let (tx, rx) = mpsc::channel(1024);
        q.tx.insert(id, tx);
        q.rx.push(rx);
        let nick = format!("u{id}");
        let _ = hub.handle(
            id,
            Command::Register {
                nick: nick.clone(),
                user: nick.clone(),
                realname: nick,
                host: "127.0.0.1".into(),
            },
            &mut q,
        );
        let _ = hub.handle(id, Command::Join("#bench".into()), &mut q);
        q.drain();
    }
    (hub, q)
}

fn fanout(c: &mut Criterion) {
    let mut g = c.benchmark_group("hub_fanout");
    for n in [10u64, 100, 1000] {
        let (mut hub, mut q) = room_of(n);
        g.throughput(Throughput::Elements(n));
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                let r = hub.handle(
                    1,
                    Command::Say {
                        target: SayTarget::Room("#bench".into()),
                        kind: MsgKind::Say,
                        text: "bqzz 17 4242 123456789012 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                            .into(),
                        tags: Vec::new(),
                        overflow: Overflow::Cut,
                    },
                    &mut q,
                );
                q.drain();
                black_box(r)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, fanout);
criterion_main!(benches);
