//! The workloads, and what every one of them shares: the job a part runs
//! (one process's share of the clients), the link between a part and the
//! orchestrator, and opening many clients with bounded concurrency.
//!
//! - [`traffic`]: `fanout` (one room) and `rooms` (many rooms): clients send
//!   bench messages at a fixed rate or with a bounded in-flight window, every
//!   receiver measures end-to-end latency, and the run ends with an exact
//!   drain (each receiver waits, bounded, for every message it should get).
//! - [`idle`]: many registered, joined, silent connections held open, for
//!   the server's memory per connection.
//! - [`connect`]: a connection storm, for connects/s and registration latency.
//!
//! A run is split into parts by client index (contiguous ranges). A part
//! runs in this process, or in a worker process when `--workers` asks for
//! several (to get past one process's open-file limit); the phases are the
//! same either way: setup → `Ready` → `Go` → run → (`Sent` → `Expect` →
//! drain) → `Done`. Parts never wait unboundedly: every phase of the
//! orchestrator has a deadline, and a part whose link closes stops.

pub mod connect;
pub mod idle;
pub mod traffic;

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::client::{self, NetCfg, Opened, Step};
use super::payload::mono_ns;
use super::stats::{Counts, ErrorSamples, Hist, ProcSample, Series};

pub use connect::ConnectSpec;
pub use idle::IdleSpec;
pub use traffic::{Layout, SendMode, TrafficSpec};

/// Which workload, with everything a part needs to run its share.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Spec {
    Traffic(TrafficSpec),
    Idle(IdleSpec),
    Connect(ConnectSpec),
}

impl Spec {
    pub fn name(&self) -> &'static str {
        match self {
            Spec::Traffic(t) => match t.layout {
                Layout::Fanout { .. } => "fanout",
                Layout::Rooms { .. } => "rooms",
            },
            Spec::Idle(_) => "idle",
            Spec::Connect(_) => "connect",
        }
    }

    /// Clients in the whole run.
    pub fn clients(&self) -> u32 {
        match self {
            Spec::Traffic(t) => t.clients(),
            Spec::Idle(i) => i.clients,
            Spec::Connect(c) => c.clients,
        }
    }
}

/// How a process runs its tokio runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeKind {
    /// One thread: no cross-thread wakeups or locking.
    Current,
    /// tokio's work-stealing scheduler on `--threads` threads.
    Multi,
}

/// One part of a run: what the orchestrator sends a worker process (as one
/// JSON line) or hands to the in-process part.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    pub net: NetCfg,
    pub spec: Spec,
    /// Names the run: nickname prefix and payload tag.
    pub tag: String,
    pub part: u32,
    pub parts: u32,
    /// The run's zero on the shared monotonic clock.
    pub epoch_ns: u64,
    /// Hard cap on the whole run.
    pub max_time_ns: u64,
    /// Clients being set up at once (per part).
    pub connect_concurrency: usize,
    /// The loopback guard, checked again by each worker.
    pub allow_remote: bool,
    pub runtime: RuntimeKind,
    pub threads: Option<usize>,
}

impl Job {
    /// The client indices of this part.
    pub fn range(&self) -> Range<u32> {
        part_range(self.spec.clients(), self.part, self.parts)
    }

    /// The nickname of client `idx`: the run's tag and the index in base 36,
    /// short enough for servers with 9-character nicknames (ngircd).
    pub fn nick(&self, idx: u32) -> String {
        format!("{}{}", self.tag, base36(idx))
    }
}

/// Contiguous share `part` of `n` items split into `parts`.
pub fn part_range(n: u32, part: u32, parts: u32) -> Range<u32> {
    let parts = u64::from(parts.max(1));
    let at = |p: u64| (u64::from(n) * p / parts) as u32;
    at(u64::from(part))..at(u64::from(part) + 1)
}

pub fn base36(mut n: u32) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// Part → orchestrator.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Msg {
    Progress(LiveSnap),
    /// Setup is over; how many clients joined each room (traffic only).
    Ready {
        joined_per_room: Vec<u64>,
    },
    /// Sending is over; messages sent to each room by this part.
    Sent {
        per_room: Vec<u64>,
    },
    Done(Box<PartResult>),
    Failed(String),
}

/// Orchestrator → part.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ctl {
    /// Start the run phase at `start_ns` (shared clock).
    Go {
        start_ns: u64,
    },
    /// Messages sent to each room by all parts together.
    Expect {
        per_room: Vec<u64>,
    },
    Abort,
}

/// Live counters of one part, for the progress bar.
#[derive(Debug, Default)]
pub struct Live {
    pub connected: AtomicU64,
    pub sent: AtomicU64,
    pub received: AtomicU64,
    pub errors: AtomicU64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveSnap {
    pub connected: u64,
    pub sent: u64,
    pub received: u64,
    pub errors: u64,
}

impl Live {
    pub fn snap(&self) -> LiveSnap {
        LiveSnap {
            connected: self.connected.load(Ordering::Relaxed),
            sent: self.sent.load(Ordering::Relaxed),
            received: self.received.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
        }
    }
}

impl LiveSnap {
    pub fn add(&mut self, o: &LiveSnap) {
        self.connected += o.connected;
        self.sent += o.sent;
        self.received += o.received;
        self.errors += o.errors;
    }
}

/// What a part measured; parts merge into the run's result.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PartResult {
    pub counts: Counts,
    /// End-to-end delivery latency (traffic workloads).
    pub latency: Hist,
    /// Fixed-rate senders: when each message was written minus when it
    /// was due (the bench's own share of `latency`, plus any write the
    /// server held up).
    #[serde(default)]
    pub send_lateness: Hist,
    /// TCP connect time.
    pub connect: Hist,
    /// Connect start to the server's welcome.
    pub register: Hist,
    /// Messages sent, per second of the run phase.
    pub sent: Series,
    /// Messages delivered, per second of the run phase.
    pub delivered: Series,
    /// Registrations completed, per second of the run phase (`connect`).
    pub registered: Series,
    pub errors: ErrorSamples,
    /// CPU seconds of the bench process(es) (one sample per process).
    pub bench_cpu_s: f64,
    /// Length of the connection storm (`connect`), in nanoseconds.
    pub storm_ns: u64,
}

impl PartResult {
    pub fn merge(&mut self, o: &PartResult) {
        self.counts.merge(&o.counts);
        self.latency.merge(&o.latency);
        self.send_lateness.merge(&o.send_lateness);
        self.connect.merge(&o.connect);
        self.register.merge(&o.register);
        self.sent.merge(&o.sent);
        self.delivered.merge(&o.delivered);
        self.registered.merge(&o.registered);
        self.errors.merge(&o.errors);
        self.bench_cpu_s += o.bench_cpu_s;
        self.storm_ns = self.storm_ns.max(o.storm_ns);
    }
}

/// A part's end of the link to the orchestrator.
pub struct Link {
    pub tx: mpsc::UnboundedSender<Msg>,
    pub rx: mpsc::UnboundedReceiver<Ctl>,
    pub live: Arc<Live>,
}

impl Link {
    fn send(&self, m: Msg) -> anyhow::Result<()> {
        self.tx
            .send(m)
            .map_err(|_| anyhow::anyhow!("orchestrator went away"))
    }

    /// Reports setup done; returns the run's start time.
    pub async fn ready(&mut self, joined_per_room: Vec<u64>) -> anyhow::Result<u64> {
        self.send(Msg::Ready { joined_per_room })?;
        match self.rx.recv().await {
            Some(Ctl::Go { start_ns }) => Ok(start_ns),
            Some(Ctl::Abort) | None => anyhow::bail!("aborted"),
            Some(other) => anyhow::bail!("unexpected {other:?} while waiting to start"),
        }
    }

    /// Reports what this part sent; returns what all parts sent.
    pub async fn sent(&mut self, per_room: Vec<u64>) -> anyhow::Result<Vec<u64>> {
        self.send(Msg::Sent { per_room })?;
        match self.rx.recv().await {
            Some(Ctl::Expect { per_room }) => Ok(per_room),
            Some(Ctl::Abort) | None => anyhow::bail!("aborted"),
            Some(other) => anyhow::bail!("unexpected {other:?} while draining"),
        }
    }
}

/// Runs one part to the end and reports it over the link; never returns
/// before `job.max_time_ns`.
pub async fn run_part(job: Job, mut link: Link) {
    // Progress for the orchestrator's bar, a few times a second.
    let live = link.live.clone();
    let tx = link.tx.clone();
    let ticker = tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(250));
        loop {
            tick.tick().await;
            if tx.send(Msg::Progress(live.snap())).is_err() {
                break;
            }
        }
    });
    let cap = std::time::Duration::from_nanos(job.max_time_ns);
    let outcome = tokio::time::timeout(cap, async {
        match &job.spec {
            Spec::Traffic(t) => traffic::run(&job, t, &mut link).await,
            Spec::Idle(i) => idle::run(&job, i, &mut link).await,
            Spec::Connect(c) => connect::run(&job, c, &mut link).await,
        }
    })
    .await;
    ticker.abort();
    let _ = link.tx.send(Msg::Progress(link.live.snap()));
    let msg = match outcome {
        Ok(Ok(mut res)) => {
            res.bench_cpu_s = ProcSample::read_self().map(|s| s.cpu_s).unwrap_or(0.0);
            Msg::Done(Box::new(res))
        }
        Ok(Err(e)) => Msg::Failed(format!("{e:#}")),
        Err(_) => Msg::Failed("part hit --max-time".into()),
    };
    let _ = link.tx.send(msg);
}

/// Opens `clients` (index, nickname, room to join) with at most
/// `job.connect_concurrency` in progress; records every outcome in `res`
/// and returns the clients that made it.
pub async fn open_all(
    job: &Job,
    clients: Vec<(u32, String, Option<String>)>,
    live: &Live,
    res: &mut PartResult,
    start_ns: Option<u64>,
) -> Vec<(u32, Opened)> {
    let mut out = Vec::with_capacity(clients.len());
    open_each(job, clients, live, res, start_ns, |idx, o| {
        out.push((idx, o))
    })
    .await;
    out
}

/// Like [`open_all`], handing each client to `on_open` as soon as it is
/// ready (so it can start reading at once).
pub async fn open_each(
    job: &Job,
    clients: Vec<(u32, String, Option<String>)>,
    live: &Live,
    res: &mut PartResult,
    start_ns: Option<u64>,
    mut on_open: impl FnMut(u32, Opened),
) {
    let net = &job.net;
    let mut stream = futures_util::stream::iter(clients)
        .map(|(idx, nick, room)| async move {
            (idx, client::open(net, idx, &nick, room.as_deref()).await)
        })
        .buffer_unordered(job.connect_concurrency.max(1));
    while let Some((idx, r)) = stream.next().await {
        record_open(&r, live, res, start_ns);
        if let Ok(o) = r {
            on_open(idx, o);
        }
    }
}

/// Counts one [`client::open`] outcome.
pub fn record_open(
    r: &Result<Opened, (Step, client::ClientError)>,
    live: &Live,
    res: &mut PartResult,
    start_ns: Option<u64>,
) {
    let c = &mut res.counts;
    match r {
        Ok(o) => {
            c.connected += 1;
            c.registered += 1;
            c.joined += 1;
            res.connect.record(o.connect_ns);
            res.register.record(o.register_ns);
            if let Some(start) = start_ns {
                res.registered.add_at(start, mono_ns(), 1);
            }
            live.connected.fetch_add(1, Ordering::Relaxed);
        }
        Err((step, e)) => {
            match step {
                Step::Connect => c.connect_errors += 1,
                Step::Register => {
                    c.connected += 1;
                    c.register_errors += 1;
                }
                Step::Join => {
                    c.connected += 1;
                    c.registered += 1;
                    c.join_errors += 1;
                }
            }
            if matches!(e, client::ClientError::Timeout(_)) {
                c.setup_timeouts += 1;
            }
            res.errors.add(format!("{step:?}: {e}").to_lowercase());
            live.errors.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Sends QUIT (best effort, briefly bounded) and drops the connection.
pub async fn quit(conn: client::Conn) {
    quit_writer(conn.proto, conn.writer).await;
}

/// [`quit`] given only the write side.
pub async fn quit_writer(proto: client::Proto, writer: Arc<client::Writer>) {
    let bye = client::quit_line(proto);
    let _ = tokio::time::timeout(std::time::Duration::from_millis(500), writer.write(bye)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_cover_every_client_once() {
        for (n, parts) in [(10u32, 3u32), (1, 4), (0, 2), (100_000, 7)] {
            let mut next = 0;
            for p in 0..parts {
                let r = part_range(n, p, parts);
                assert_eq!(r.start, next);
                next = r.end;
            }
            assert_eq!(next, n);
        }
    }

    #[test]
    fn base36_names() {
        assert_eq!(base36(0), "0");
        assert_eq!(base36(35), "z");
        assert_eq!(base36(36), "10");
        assert_eq!(base36(u32::MAX), "1z141z3");
    }

    #[test]
    fn messages_serialize() {
        let m = Msg::Ready {
            joined_per_room: vec![1, 2],
        };
        let s = serde_json::to_string(&m).expect("serializes");
        assert!(matches!(
            serde_json::from_str::<Msg>(&s),
            Ok(Msg::Ready { .. })
        ));
        let d = Msg::Done(Box::default());
        let s = serde_json::to_string(&d).expect("serializes");
        assert!(matches!(serde_json::from_str::<Msg>(&s), Ok(Msg::Done(_))));
        let c = serde_json::to_string(&Ctl::Go { start_ns: 5 }).expect("serializes");
        assert!(matches!(
            serde_json::from_str::<Ctl>(&c),
            Ok(Ctl::Go { start_ns: 5 })
        ));
    }
}
