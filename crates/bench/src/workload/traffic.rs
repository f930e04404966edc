//! The traffic workloads: `fanout` (every client in one room) and `rooms`
//! (many rooms of `members` clients each). Some clients of each room send
//! bench messages — at a fixed rate each, or flooding with a bounded number
//! in flight — and every client receives, measuring end-to-end latency from
//! the timestamp in each payload.
//!
//! The run ends with an exact drain: the orchestrator adds up what every
//! part sent to each room, and each receiver waits (bounded by `drain_ns`)
//! until it has seen every message from the others in its room. What never
//! arrives is loss; nothing here waits without a deadline.
//!
//! Must not decide anything about the run as a whole (that is the
//! orchestrator's job) nor print anything.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, oneshot};
use tokio::time::Instant;

use super::{Job, Link, PartResult, base36, open_all, quit_writer};
use crate::client::{self, ClientError, Conn, Incoming, Proto, Writer};
use crate::pace::{Pacer, Pacing};
use crate::payload::{self, Payload, instant_at, mono_ns};
use crate::stats::{Counts, ErrorSamples, Hist, Series};

/// How clients are spread over rooms.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub enum Layout {
    /// One room of `clients`, `senders` of whom send.
    Fanout { clients: u32, senders: u32 },
    /// `rooms` rooms of `members` each, `senders` of each room send.
    Rooms {
        rooms: u32,
        members: u32,
        senders: u32,
    },
}

impl Layout {
    pub fn rooms(&self) -> u32 {
        match *self {
            Layout::Fanout { .. } => 1,
            Layout::Rooms { rooms, .. } => rooms,
        }
    }

    pub fn members(&self) -> u32 {
        match *self {
            Layout::Fanout { clients, .. } => clients,
            Layout::Rooms { members, .. } => members,
        }
    }

    fn senders_per_room(&self) -> u32 {
        match *self {
            Layout::Fanout { senders, .. } | Layout::Rooms { senders, .. } => senders,
        }
    }

    pub fn clients(&self) -> u32 {
        self.rooms().saturating_mul(self.members())
    }

    /// The room of client `idx` (clients fill rooms in index order).
    pub fn room_of(&self, idx: u32) -> u32 {
        idx / self.members().max(1)
    }

    /// Senders are the first members of each room.
    pub fn is_sender(&self, idx: u32) -> bool {
        idx % self.members().max(1) < self.senders_per_room()
    }
}

/// How senders pace themselves.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub enum SendMode {
    /// `per_sec` messages per second each, on a fixed schedule. A message's
    /// timestamp is when it was due, so a late send shows as latency
    /// (no coordinated omission).
    Rate { per_sec: f64 },
    /// As fast as the server takes them, with at most `window` messages
    /// sent but not yet seen delivered (to one observing receiver).
    Window { window: u32 },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrafficSpec {
    pub layout: Layout,
    pub mode: SendMode,
    /// Length of the sending phase.
    pub duration_ns: u64,
    /// Bytes of text per message.
    pub payload: usize,
    /// How long receivers may wait for the last messages after sending ends.
    pub drain_ns: u64,
    /// How fixed-rate senders wait for their next message.
    #[serde(default)]
    pub pacing: Pacing,
}

impl TrafficSpec {
    pub fn clients(&self) -> u32 {
        self.layout.clients()
    }
}

/// The name of room `r` of a run.
pub fn room_name(tag: &str, r: u32) -> String {
    format!("#{tag}-{}", base36(r))
}

/// How far a window sender's messages have got: the observing receiver
/// stores the next sequence number it expects and wakes the sender.
#[derive(Default)]
struct Ack {
    next: AtomicU64,
    notify: Notify,
}

/// State shared by all clients of a part.
struct Shared {
    tag: String,
    /// The run phase's start on the shared clock, once known (0 before).
    start_ns: AtomicU64,
    /// Latencies land here in batches (one histogram per part: a histogram
    /// of this range is a few hundred KiB, too much to keep per client).
    latency: Mutex<Hist>,
    /// Fixed-rate senders: written minus due, per message (batched like
    /// `latency`).
    send_lateness: Mutex<Hist>,
    live: Arc<super::Live>,
    /// Set when the drain is over (or the part gives up): readers stop.
    stop: AtomicBool,
    stop_notify: Notify,
}

/// What one receiver saw.
#[derive(Default)]
struct ReaderOut {
    counts: Counts,
    delivered: Series,
    errors: ErrorSamples,
}

/// Hashes client indices (small trusted integers) with one multiply:
/// SipHash showed up in profiles of the per-delivery path.
#[derive(Default)]
struct IdxHasher(u64);

impl std::hash::Hasher for IdxHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = u64::from(n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type IdxMap<V> = HashMap<u32, V, std::hash::BuildHasherDefault<IdxHasher>>;

/// One receiving client's bookkeeping.
struct Receiver {
    idx: u32,
    proto: Proto,
    /// Senders this receiver reports progress for (window mode).
    observes: IdxMap<Arc<Ack>>,
    /// Next expected sequence number per sender.
    next_seq: IdxMap<u64>,
    lat_buf: Vec<u64>,
    /// When the current read returned (every line in it arrived by then).
    now: u64,
    out: ReaderOut,
}

const LAT_BATCH: usize = 256;

impl Receiver {
    fn on_text(&mut self, sh: &Shared, text: &[u8]) {
        let Some(p) = payload::decode(&sh.tag, text) else {
            return;
        };
        let now = self.now;
        if p.sender == self.idx {
            // Our own message back (the line protocol echoes): not a delivery.
            self.out.counts.echoes += 1;
        } else {
            let next = self.next_seq.entry(p.sender).or_insert(0);
            if p.seq < *next {
                self.out.counts.duplicates += 1;
                return;
            }
            if p.seq > *next {
                self.out.counts.gaps += 1;
            }
            *next = p.seq + 1;
            self.out.counts.received += 1;
            sh.live.received.fetch_add(1, Ordering::Relaxed);
            self.out
                .delivered
                .add_at(sh.start_ns.load(Ordering::Relaxed), now, 1);
            self.lat_buf.push(now.saturating_sub(p.t_ns));
            if self.lat_buf.len() >= LAT_BATCH {
                self.flush(sh);
            }
        }
        if let Some(ack) = self.observes.get(&p.sender) {
            ack.next.fetch_max(p.seq + 1, Ordering::Release);
            ack.notify.notify_one();
        }
    }

    fn flush(&mut self, sh: &Shared) {
        if self.lat_buf.is_empty() {
            return;
        }
        let mut h = sh.latency.lock().unwrap_or_else(|p| p.into_inner());
        for &ns in &self.lat_buf {
            h.record(ns);
        }
        self.lat_buf.clear();
    }
}

/// Longest line a receiver keeps; longer ones are skipped whole (a bench
/// line is a few hundred bytes; this only bounds a misbehaving server).
const MAX_LINE: usize = 16 * 1024;

/// How much a receiver reads at once: big enough that a flooded receiver
/// takes many lines per syscall.
const READ_CHUNK: usize = 64 * 1024;

/// Reads until stopped, the connection ends, or (once `expect` says how
/// many messages to wait for) everything expected has arrived or the drain
/// deadline passed.
///
/// Reads raw chunks rather than through the framed reader, so that every
/// line of one read shares one clock reading (they arrived together) and
/// lines are found with a vectorised search: at saturation the bench must
/// cost less per delivery than the server it measures.
async fn read_loop(
    conn: Conn,
    mut rx: Receiver,
    sh: Arc<Shared>,
    mut expect: oneshot::Receiver<(u64, Instant)>,
) -> (ReaderOut, Arc<Writer>) {
    use tokio::io::AsyncReadExt;
    let writer = conn.writer.clone();
    let parts = conn.reader.into_parts();
    let mut rd = parts.io;
    let mut buf = parts.read_buf;
    let mut skipping = false;
    let mut flooded = false;
    let mut expected: Option<u64> = None;
    let far = Instant::now() + Duration::from_secs(86_400);
    let drain = tokio::time::sleep_until(far);
    tokio::pin!(drain);
    'outer: loop {
        // Whatever is already buffered (from registration, or the last read).
        while let Some(i) = memchr::memchr(b'\n', &buf) {
            let line = buf.split_to(i + 1);
            if skipping {
                skipping = false;
                continue;
            }
            let mut l = &line[..i];
            if l.last() == Some(&b'\r') {
                l = &l[..l.len() - 1];
            }
            match client::classify(rx.proto, l) {
                Incoming::Text(text) => rx.on_text(&sh, text),
                Incoming::Ping(pong) => {
                    rx.out.counts.pings += 1;
                    if let Err(e) = writer.write(pong.as_bytes()).await {
                        note_write_error(&mut rx.out, &sh, &e);
                        break 'outer;
                    }
                }
                // Counted once per client: a server may say it again each
                // time the client's allowance runs out.
                Incoming::Flood if !flooded => {
                    flooded = true;
                    rx.out.counts.flood_notices += 1;
                }
                Incoming::Flood => {}
                Incoming::Other => {}
            }
        }
        if buf.len() > MAX_LINE {
            buf.clear();
            skipping = true;
        }
        if let Some(e) = expected
            && rx.out.counts.received >= e
        {
            break;
        }
        if sh.stop.load(Ordering::Acquire) {
            break;
        }
        buf.reserve(READ_CHUNK);
        tokio::select! {
            biased;
            _ = sh.stop_notify.notified() => {}
            got = &mut expect, if expected.is_none() => match got {
                Ok((n, deadline)) => {
                    expected = Some(n);
                    rx.out.counts.expected = n;
                    drain.as_mut().reset(deadline);
                }
                // The part gave up before the drain: nothing to wait for.
                Err(_) => break,
            },
            _ = &mut drain => {
                rx.out.counts.drain_timeouts += 1;
                break;
            }
            r = rd.read_buf(&mut buf) => match r {
                Ok(0) => {
                    rx.out.counts.disconnects += 1;
                    rx.out.errors.add("server closed the connection");
                    sh.live.errors.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Ok(_) => rx.now = mono_ns(),
                Err(e) => {
                    rx.out.counts.disconnects += 1;
                    rx.out.errors.add(format!("read: {e}"));
                    sh.live.errors.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            }
        }
    }
    rx.flush(&sh);
    (rx.out, writer)
}

fn note_write_error(out: &mut ReaderOut, sh: &Shared, e: &ClientError) {
    if matches!(e, ClientError::Timeout(_)) {
        out.counts.write_stalls += 1;
    }
    out.errors.add(format!("write: {e}"));
    sh.live.errors.fetch_add(1, Ordering::Relaxed);
}

/// What one sender did.
#[derive(Default)]
struct SenderOut {
    sent: u64,
    sent_series: Series,
    write_stalls: u64,
    window_stalls: u64,
    errors: ErrorSamples,
}

struct SenderCfg {
    idx: u32,
    proto: Proto,
    prefix: Vec<u8>,
    payload: usize,
    start_ns: u64,
    end_ns: u64,
    timeout: Duration,
}

/// Appends one complete bench line to `buf`.
fn push_line(c: &SenderCfg, tag: &str, seq: u64, t_ns: u64, buf: &mut Vec<u8>) {
    buf.extend_from_slice(&c.prefix);
    let p = Payload {
        sender: c.idx,
        seq,
        t_ns,
    };
    payload::encode(tag, &p, c.payload, buf);
    buf.extend_from_slice(client::line_end(c.proto));
}

fn note_send_error(out: &mut SenderOut, sh: &Shared, e: &ClientError) {
    if matches!(e, ClientError::Timeout(_)) {
        out.write_stalls += 1;
    }
    out.errors.add(format!("send: {e}"));
    sh.live.errors.fetch_add(1, Ordering::Relaxed);
}

/// Sends on a fixed schedule: message k is due at start + offset + k/rate.
///
/// Each message carries its due time, so a late departure — the bench's
/// own, or a write the server's backpressure held up — counts as latency.
/// The wait itself is `pacer`'s (precise; see [`crate::pace`]), and
/// how late each message actually went out (written minus due) is recorded
/// as the send lateness, so the bench's share of the latency is visible.
async fn send_rate(
    c: SenderCfg,
    per_sec: f64,
    offset_ns: u64,
    pacer: Arc<Pacer>,
    w: Arc<Writer>,
    sh: Arc<Shared>,
) -> SenderOut {
    let mut out = SenderOut::default();
    let period = (1e9 / per_sec.max(1e-3)) as u64;
    let mut buf = Vec::with_capacity(c.prefix.len() + c.payload + 64);
    let mut late: Vec<u64> = Vec::with_capacity(LAT_BATCH);
    let mut seq: u64 = 0;
    loop {
        let due = c.start_ns + offset_ns + seq.saturating_mul(period);
        if due >= c.end_ns || sh.stop.load(Ordering::Acquire) {
            break;
        }
        pacer.until(due).await;
        // Everything already due goes in one write, as a client that fell
        // behind would send it; each keeps its due time as its timestamp.
        buf.clear();
        let now = mono_ns();
        let first = seq;
        loop {
            let due = c.start_ns + offset_ns + seq.saturating_mul(period);
            if due > now || due >= c.end_ns || seq - first >= 64 {
                break;
            }
            push_line(&c, &sh.tag, seq, due, &mut buf);
            seq += 1;
        }
        if seq == first {
            continue;
        }
        if let Err(e) = w.write(&buf).await {
            note_send_error(&mut out, &sh, &e);
            break;
        }
        let written = mono_ns();
        for k in first..seq {
            let due = c.start_ns + offset_ns + k.saturating_mul(period);
            late.push(written.saturating_sub(due));
        }
        if late.len() >= LAT_BATCH {
            flush_lateness(&sh, &mut late);
        }
        let n = seq - first;
        out.sent += n;
        out.sent_series.add_at(c.start_ns, written, n);
        sh.live.sent.fetch_add(n, Ordering::Relaxed);
    }
    flush_lateness(&sh, &mut late);
    out
}

fn flush_lateness(sh: &Shared, late: &mut Vec<u64>) {
    if late.is_empty() {
        return;
    }
    let mut h = sh.send_lateness.lock().unwrap_or_else(|p| p.into_inner());
    for &ns in late.iter() {
        h.record(ns);
    }
    late.clear();
}

/// Floods with at most `window` messages in flight.
async fn send_window(
    c: SenderCfg,
    window: u32,
    ack: Arc<Ack>,
    w: Arc<Writer>,
    sh: Arc<Shared>,
) -> SenderOut {
    let mut out = SenderOut::default();
    let window = u64::from(window.max(1));
    let mut buf = Vec::with_capacity((c.prefix.len() + c.payload + 64) * window as usize);
    let mut seq: u64 = 0;
    // Messages written off after a stall no longer count as in flight.
    let mut forgiven: u64 = 0;
    let end = instant_at(c.end_ns);
    tokio::time::sleep_until(instant_at(c.start_ns)).await;
    loop {
        if Instant::now() >= end || sh.stop.load(Ordering::Acquire) {
            break;
        }
        let acked = ack.next.load(Ordering::Acquire).max(forgiven);
        let in_flight = seq.saturating_sub(acked);
        if in_flight >= window {
            let limit = (Instant::now() + c.timeout).min(end);
            match tokio::time::timeout_at(limit, ack.notify.notified()).await {
                Ok(()) => continue,
                Err(_) if Instant::now() >= end => break,
                Err(_) => {
                    if ack.next.load(Ordering::Acquire) <= acked {
                        out.window_stalls += 1;
                        out.errors.add("no delivery progress within --timeout");
                        sh.live.errors.fetch_add(1, Ordering::Relaxed);
                        forgiven = seq;
                    }
                    continue;
                }
            }
        }
        buf.clear();
        let now = mono_ns();
        let n = window - in_flight;
        for _ in 0..n {
            push_line(&c, &sh.tag, seq, now, &mut buf);
            seq += 1;
        }
        if let Err(e) = w.write(&buf).await {
            note_send_error(&mut out, &sh, &e);
            // The last batch may be partly written; count it as sent so
            // it shows as loss rather than vanishing.
            out.sent += n;
            sh.live.sent.fetch_add(n, Ordering::Relaxed);
            break;
        }
        out.sent += n;
        out.sent_series.add_at(c.start_ns, mono_ns(), n);
        sh.live.sent.fetch_add(n, Ordering::Relaxed);
    }
    out
}

/// Runs this part's share of a traffic workload.
pub async fn run(job: &Job, spec: &TrafficSpec, link: &mut Link) -> anyhow::Result<PartResult> {
    let layout = spec.layout;
    let nrooms = layout.rooms() as usize;
    let range = job.range();
    let mut res = PartResult::default();
    res.counts.planned = u64::from(range.end - range.start);

    let plan: Vec<(u32, String, Option<String>)> = range
        .clone()
        .map(|i| (i, job.nick(i), Some(room_name(&job.tag, layout.room_of(i)))))
        .collect();
    let opened = open_all(job, plan, &link.live, &mut res, None).await;

    let sh = Arc::new(Shared {
        tag: job.tag.clone(),
        start_ns: AtomicU64::new(0),
        latency: Mutex::new(Hist::new()),
        send_lateness: Mutex::new(Hist::new()),
        live: link.live.clone(),
        stop: AtomicBool::new(false),
        stop_notify: Notify::new(),
    });

    // Who observes whom (window mode): the next member of the same room in
    // this part, or the sender itself when it is alone here (only servers
    // that echo will then show progress).
    let mut by_room: HashMap<u32, Vec<u32>> = HashMap::new();
    for (idx, _) in &opened {
        by_room.entry(layout.room_of(*idx)).or_default().push(*idx);
    }
    let mut acks: HashMap<u32, Arc<Ack>> = HashMap::new();
    let mut observes: HashMap<u32, IdxMap<Arc<Ack>>> = HashMap::new();
    if matches!(spec.mode, SendMode::Window { .. }) {
        for members in by_room.values() {
            for (k, &idx) in members.iter().enumerate() {
                if layout.is_sender(idx) {
                    let ack = Arc::new(Ack::default());
                    let observer = members[(k + 1) % members.len()];
                    observes
                        .entry(observer)
                        .or_default()
                        .insert(idx, ack.clone());
                    acks.insert(idx, ack);
                }
            }
        }
    }

    let mut joined_per_room = vec![0u64; nrooms];
    // Readers start at once: they must drain join notices during setup, or
    // a big room's would pile up on the server.
    let mut readers = Vec::new();
    let mut senders = Vec::new();
    for (idx, o) in opened {
        joined_per_room[layout.room_of(idx) as usize] += 1;
        if layout.is_sender(idx) {
            senders.push((idx, o.conn.writer.clone()));
        }
        let rx = Receiver {
            idx,
            proto: o.conn.proto,
            observes: observes.remove(&idx).unwrap_or_default(),
            next_seq: IdxMap::default(),
            lat_buf: Vec::with_capacity(LAT_BATCH),
            now: mono_ns(),
            out: ReaderOut::default(),
        };
        let (etx, erx) = oneshot::channel();
        readers.push((
            idx,
            etx,
            tokio::spawn(read_loop(o.conn, rx, sh.clone(), erx)),
        ));
    }

    let start_ns = match link.ready(joined_per_room).await {
        Ok(s) => s,
        Err(e) => {
            stop_all(&sh);
            for (_, _, h) in readers {
                let _ = h.await;
            }
            return Err(e);
        }
    };
    sh.start_ns.store(start_ns, Ordering::Relaxed);
    let end_ns = start_ns.saturating_add(spec.duration_ns);

    let senders_total = senders.len().max(1) as f64;
    let pacer = Arc::new(match spec.mode {
        SendMode::Rate { .. } => Pacer::start(spec.pacing).unwrap_or_else(|e| {
            res.errors.add(format!(
                "precise pacing unavailable, using tokio's timer: {e}"
            ));
            Pacer::tokio()
        }),
        SendMode::Window { .. } => Pacer::tokio(),
    });
    let mut sender_tasks = Vec::new();
    for (k, (idx, writer)) in senders.into_iter().enumerate() {
        let cfg = SenderCfg {
            idx,
            proto: job.net.proto,
            prefix: client::send_prefix(job.net.proto, &room_name(&job.tag, layout.room_of(idx))),
            payload: spec.payload,
            start_ns,
            end_ns,
            timeout: job.net.timeout(),
        };
        let task = match spec.mode {
            SendMode::Rate { per_sec } => {
                // Spread the senders' phases over one period so the room
                // sees a steady stream rather than synchronized bursts.
                let period = 1e9 / per_sec.max(1e-3);
                let offset = (period * k as f64 / senders_total) as u64;
                tokio::spawn(send_rate(
                    cfg,
                    per_sec,
                    offset,
                    pacer.clone(),
                    writer,
                    sh.clone(),
                ))
            }
            SendMode::Window { window } => {
                let ack = acks.get(&idx).cloned().unwrap_or_default();
                tokio::spawn(send_window(cfg, window, ack, writer, sh.clone()))
            }
        };
        sender_tasks.push((idx, task));
    }

    let mut sent_per_room = vec![0u64; nrooms];
    let mut own_sent: HashMap<u32, u64> = HashMap::new();
    for (idx, t) in sender_tasks {
        match t.await {
            Ok(o) => {
                sent_per_room[layout.room_of(idx) as usize] += o.sent;
                own_sent.insert(idx, o.sent);
                res.counts.sent += o.sent;
                res.counts.write_stalls += o.write_stalls;
                res.counts.window_stalls += o.window_stalls;
                res.sent.merge(&o.sent_series);
                res.errors.merge(&o.errors);
            }
            Err(e) => res.errors.add(format!("sender task: {e}")),
        }
    }
    // The pacing task ends with its last handle.
    drop(pacer);

    let total = link.sent(sent_per_room).await;
    let deadline = Instant::now() + Duration::from_nanos(spec.drain_ns);
    match &total {
        Ok(per_room) => {
            for (idx, etx, _) in &mut readers {
                let room = layout.room_of(*idx) as usize;
                let expected = per_room
                    .get(room)
                    .copied()
                    .unwrap_or(0)
                    .saturating_sub(own_sent.get(idx).copied().unwrap_or(0));
                // A reader that already ended (disconnected) is not listening.
                let (dummy, _) = oneshot::channel();
                let _ = std::mem::replace(etx, dummy).send((expected, deadline));
            }
        }
        Err(_) => stop_all(&sh),
    }
    let mut quits = Vec::new();
    for (idx, etx, h) in readers {
        drop(etx);
        // Bounded even if a reader misbehaved: the drain deadline plus the
        // time a final write may take.
        let limit = deadline + job.net.timeout();
        match tokio::time::timeout_at(limit, h).await {
            Ok(Ok((out, writer))) => {
                let mut counts = out.counts;
                let expected = match &total {
                    Ok(per_room) => per_room
                        .get(layout.room_of(idx) as usize)
                        .copied()
                        .unwrap_or(0)
                        .saturating_sub(own_sent.get(&idx).copied().unwrap_or(0)),
                    Err(_) => 0,
                };
                counts.expected = expected;
                res.counts.merge(&counts);
                res.delivered.merge(&out.delivered);
                res.errors.merge(&out.errors);
                quits.push(quit_writer(job.net.proto, writer));
            }
            Ok(Err(e)) => res.errors.add(format!("reader task: {e}")),
            Err(_) => {
                stop_all(&sh);
                res.counts.drain_timeouts += 1;
                res.errors.add("a reader did not stop in time");
            }
        }
    }
    futures_util::future::join_all(quits).await;
    let h = sh.latency.lock().unwrap_or_else(|p| p.into_inner()).clone();
    res.latency.merge(&h);
    let h = sh.send_lateness.lock().unwrap_or_else(|p| p.into_inner());
    res.send_lateness.merge(&h);
    drop(h);
    total?;
    Ok(res)
}

fn stop_all(sh: &Shared) {
    sh.stop.store(true, Ordering::Release);
    sh.stop_notify.notify_waiters();
}
