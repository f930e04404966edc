//! The server's metrics, and the listener that serves them: Prometheus's
//! text format (OpenMetrics) at `/metrics`, `/healthz` (the hub task
//! answers) and `/readyz` (listeners accepting, not shutting down), over
//! plain HTTP on hyper (as the web listener), on loopback by default.
//!
//! Counters are atomics bumped where things happen (accepts, the hub task
//! for registrations, messages, deliveries and disconnects); whatever is a
//! level (connections, rooms, queues, the history's lag, file sizes) is read
//! at each scrape, from the hub task (`HubMsg::Stats`) and the disk, so that
//! nothing on the delivery path keeps a gauge up to date.
//!
//! Must not decide anything, nor be reachable from the chat listeners.

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use chatroom_core::Command;

use crate::inbox::{HubHandle, HubMsg, HubStats};
use crate::limits::{Admission, Refusal};
use crate::server::Protocol;

/// Every protocol, in the order of the `accepted` counters.
const PROTOCOLS: [Protocol; 7] = [
    Protocol::Line,
    Protocol::Irc,
    Protocol::IrcTls,
    Protocol::Web,
    Protocol::WebTls,
    Protocol::LenHeader,
    Protocol::Nick,
];

/// The upper bounds of the room-size buckets deliveries are counted in:
/// a message to one person, to a handful, to a busy room, to a crowd.
const ROOM_SIZES: [(usize, &str); 5] = [
    (1, "1"),
    (10, "2-10"),
    (100, "11-100"),
    (1000, "101-1000"),
    (usize::MAX, "1001+"),
];

/// Why a connection ended, as the metrics count it. Flood control never
/// disconnects (a fast sender is slowed down), so it has no reason here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disconnect {
    /// The client said QUIT (or `/quit`).
    Quit,
    /// The client closed the connection without a word.
    Closed,
    /// Registration or ping timeout.
    Timeout,
    /// Too much unread: cut off.
    SlowConsumer,
    /// An operator's KILL, or the administrator's.
    Kill,
    /// Banned by the administrator.
    Ban,
    /// A read error.
    Error,
    /// The server shut down.
    Shutdown,
}

impl Disconnect {
    const ALL: [Disconnect; 8] = [
        Disconnect::Quit,
        Disconnect::Closed,
        Disconnect::Timeout,
        Disconnect::SlowConsumer,
        Disconnect::Kill,
        Disconnect::Ban,
        Disconnect::Error,
        Disconnect::Shutdown,
    ];

    fn label(self) -> &'static str {
        match self {
            Disconnect::Quit => "quit",
            Disconnect::Closed => "closed",
            Disconnect::Timeout => "timeout",
            Disconnect::SlowConsumer => "slow_consumer",
            Disconnect::Kill => "kill",
            Disconnect::Ban => "ban",
            Disconnect::Error => "error",
            Disconnect::Shutdown => "shutdown",
        }
    }

    /// The reason of a connection that ended while the hub still had it
    /// (not by QUIT, a KILL or a cut, which are counted where they happen):
    /// one the server gave it (a timeout, shutdown) or the end of its input.
    pub fn of_detach(reason: &str) -> Disconnect {
        if reason == crate::deadlines::REGISTRATION_TIMED_OUT || reason.starts_with("Ping timeout")
        {
            Disconnect::Timeout
        } else if reason == "Server shutting down" {
            Disconnect::Shutdown
        } else if reason.starts_with("Read error") {
            Disconnect::Error
        } else {
            Disconnect::Closed
        }
    }
}

/// What the hub task counts of a command, noted before it is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    Registration,
    Message,
    Quit,
    Kill,
    Nothing,
}

impl Counted {
    pub fn of(cmd: &Command) -> Counted {
        match cmd {
            Command::Register { .. } => Counted::Registration,
            Command::Say { .. } => Counted::Message,
            Command::Quit(_) => Counted::Quit,
            Command::Kill { .. } => Counted::Kill,
            _ => Counted::Nothing,
        }
    }
}

type Labels = [(&'static str, &'static str); 1];

/// Every series, registered once; the counters bumped in place.
pub struct Metrics {
    registry: Registry,
    accepted: Vec<Counter>,
    refused: Vec<Counter>,
    banned: Counter,
    registrations: Counter,
    received: Counter,
    delivered: Counter,
    by_room_size: Vec<Counter>,
    disconnects: Vec<Counter>,
    connections: Gauge,
    members: Gauge,
    unregistered: Gauge,
    rooms: Gauge,
    accounts: Gauge,
    queued_bytes: Gauge,
    queued_max: Gauge,
    journal_lag: Gauge,
    apply_lag: Gauge,
    db_bytes: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut r = Registry::with_prefix("chatroom");
        r.register(
            "build",
            "The running version",
            Info::new([("version", env!("CARGO_PKG_VERSION"))]),
        );
        let accepted = Family::<Labels, Counter>::default();
        r.register(
            "connections_accepted",
            "Connections accepted, by protocol",
            accepted.clone(),
        );
        let refused = Family::<Labels, Counter>::default();
        r.register(
            "connections_refused",
            "Connections refused at accept, by reason",
            refused.clone(),
        );
        let registrations = Counter::default();
        r.register(
            "registrations",
            "Connections that registered a nickname",
            registrations.clone(),
        );
        let received = Counter::default();
        r.register(
            "messages_received",
            "Messages (to rooms and people) accepted from clients",
            received.clone(),
        );
        let delivered = Counter::default();
        r.register(
            "messages_delivered",
            "Messages handed to recipients' queues (one per recipient)",
            delivered.clone(),
        );
        let sizes = Family::<Labels, Counter>::default();
        r.register(
            "deliveries_by_room_size",
            "Messages handed to recipients' queues, by the number of recipients of the message",
            sizes.clone(),
        );
        let disconnects = Family::<Labels, Counter>::default();
        r.register(
            "disconnects",
            "Connections that ended, by reason",
            disconnects.clone(),
        );
        let gauge = |r: &mut Registry, name: &str, help: &str| {
            let g = Gauge::default();
            r.register(name, help, g.clone());
            g
        };
        let connections = gauge(&mut r, "connections", "Connections open now");
        let members = gauge(&mut r, "members", "Registered people connected now");
        let unregistered = gauge(&mut r, "unregistered", "Connections not registered yet");
        let rooms = gauge(&mut r, "rooms", "Rooms that exist now");
        let accounts = gauge(&mut r, "accounts", "Registered accounts");
        let queued_bytes = gauge(
            &mut r,
            "outbound_queued_bytes",
            "Bytes queued for all connections and not yet written",
        );
        let queued_max = gauge(
            &mut r,
            "outbound_queued_bytes_max",
            "The most bytes queued for one connection",
        );
        let journal_lag = gauge(
            &mut r,
            "history_journal_lag_batches",
            "Batches of messages not yet written to the history journal",
        );
        let apply_lag = gauge(
            &mut r,
            "history_apply_lag_batches",
            "Batches in the journal not yet copied into the database",
        );
        let db_bytes = gauge(
            &mut r,
            "history_database_bytes",
            "Size of the history files (database, its WAL, the search index)",
        );
        let started = gauge(
            &mut r,
            "start_time_seconds",
            "When the server started, in seconds since the Unix epoch",
        );
        started.set(
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64),
        );
        Metrics {
            registry: r,
            accepted: PROTOCOLS
                .iter()
                .map(|p| {
                    accepted
                        .get_or_create(&[("protocol", label_of(*p))])
                        .clone()
                })
                .collect(),
            refused: REFUSALS
                .iter()
                .map(|r| {
                    refused
                        .get_or_create(&[("reason", refusal_label(*r))])
                        .clone()
                })
                .collect(),
            banned: refused.get_or_create(&[("reason", "banned")]).clone(),
            registrations,
            received,
            delivered,
            by_room_size: ROOM_SIZES
                .iter()
                .map(|(_, l)| sizes.get_or_create(&[("room_size", *l)]).clone())
                .collect(),
            disconnects: Disconnect::ALL
                .iter()
                .map(|d| disconnects.get_or_create(&[("reason", d.label())]).clone())
                .collect(),
            connections,
            members,
            unregistered,
            rooms,
            accounts,
            queued_bytes,
            queued_max,
            journal_lag,
            apply_lag,
            db_bytes,
        }
    }

    pub fn accepted(&self, proto: Protocol) {
        if let Some(i) = PROTOCOLS.iter().position(|p| *p == proto) {
            self.accepted[i].inc();
        }
    }

    pub fn refused(&self, refusal: Refusal) {
        if let Some(i) = REFUSALS.iter().position(|r| *r == refusal) {
            self.refused[i].inc();
        }
    }

    /// A connection from a banned address, refused at accept.
    pub fn banned(&self) {
        self.banned.inc();
    }

    /// A command the hub applied (`ok`) or refused.
    pub fn applied(&self, counted: Counted, ok: bool) {
        if !ok {
            return;
        }
        match counted {
            Counted::Registration => {
                self.registrations.inc();
            }
            Counted::Message => {
                self.received.inc();
            }
            Counted::Quit => self.disconnected(Disconnect::Quit),
            Counted::Kill => self.disconnected(Disconnect::Kill),
            Counted::Nothing => {}
        }
    }

    /// One message handed to `recipients` queues.
    #[inline]
    pub fn delivered(&self, recipients: usize) {
        if recipients == 0 {
            return;
        }
        self.delivered.inc_by(recipients as u64);
        let bucket = ROOM_SIZES
            .iter()
            .position(|(max, _)| recipients <= *max)
            .unwrap_or(ROOM_SIZES.len() - 1);
        self.by_room_size[bucket].inc_by(recipients as u64);
    }

    pub fn disconnected(&self, why: Disconnect) {
        if let Some(i) = Disconnect::ALL.iter().position(|d| *d == why) {
            self.disconnects[i].inc();
        }
    }

    /// The metrics in the text format, with the levels read now: open
    /// connections, the hub's numbers (when it answered) and the size of
    /// the history files (when history is on).
    pub fn render(&self, open: usize, hub: Option<&HubStats>, db_bytes: Option<u64>) -> String {
        let set = |g: &Gauge, v: usize| {
            g.set(i64::try_from(v).unwrap_or(i64::MAX));
        };
        set(&self.connections, open);
        if let Some(h) = hub {
            set(&self.members, h.members);
            set(&self.unregistered, h.unregistered);
            set(&self.rooms, h.rooms);
            set(&self.accounts, h.accounts);
            set(&self.queued_bytes, h.queued_bytes);
            set(&self.queued_max, h.queued_max);
            let (journal, apply) = h.history.unwrap_or((0, 0));
            self.journal_lag
                .set(i64::try_from(journal).unwrap_or(i64::MAX));
            self.apply_lag.set(i64::try_from(apply).unwrap_or(i64::MAX));
        }
        if let Some(bytes) = db_bytes {
            self.db_bytes.set(i64::try_from(bytes).unwrap_or(i64::MAX));
        }
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// Every reason a connection is refused at accept, in the order of the
/// `refused` counters.
const REFUSALS: [Refusal; 4] = [
    Refusal::ServerFull,
    Refusal::TooManyFromAddress,
    Refusal::TooManyHandshakes,
    Refusal::TooFast,
];

fn refusal_label(refusal: Refusal) -> &'static str {
    match refusal {
        Refusal::ServerFull => "server_full",
        Refusal::TooManyFromAddress => "too_many_from_address",
        Refusal::TooManyHandshakes => "too_many_handshakes",
        Refusal::TooFast => "too_fast",
    }
}

fn label_of(proto: Protocol) -> &'static str {
    match proto {
        Protocol::Line => "line",
        Protocol::Irc => "irc",
        Protocol::IrcTls => "ircs",
        Protocol::Web => "web",
        Protocol::WebTls => "web-tls",
        Protocol::LenHeader => "lenheader",
        Protocol::Nick => "nick",
    }
}

/// Asks the hub task how it stands; `None` when it does not answer within
/// `limit` (stopped, or stuck).
pub async fn ask_hub(hub: &HubHandle, limit: Duration) -> Option<HubStats> {
    let (tx, rx) = oneshot::channel();
    let asked = async {
        hub.send(HubMsg::Stats { reply: tx }).await.ok()?;
        rx.await.ok()
    };
    tokio::time::timeout(limit, asked).await.ok().flatten()
}

/// The total size of the files that exist among `files`.
pub async fn files_size(files: &[PathBuf]) -> u64 {
    let mut total = 0u64;
    for f in files {
        if let Ok(m) = tokio::fs::metadata(f).await {
            total = total.saturating_add(m.len());
        }
    }
    total
}

/// What the metrics listener reads from the running server.
#[derive(Clone)]
pub struct Probe {
    pub metrics: Arc<Metrics>,
    pub hub: HubHandle,
    pub admission: Arc<Admission>,
    /// True from the moment every listener accepts until shutdown begins.
    pub ready: Arc<AtomicBool>,
    /// The history's files (empty with history off).
    pub history_files: Vec<PathBuf>,
}

/// How long a scrape or a health check waits for the hub task.
const HUB_ANSWER: Duration = Duration::from_secs(2);

impl Probe {
    async fn answer(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let text = |status: StatusCode, body: String, kind: &'static str| {
            let mut resp = Response::new(Full::new(Bytes::from(body)));
            *resp.status_mut() = status;
            resp.headers_mut()
                .insert(header::CONTENT_TYPE, header::HeaderValue::from_static(kind));
            resp
        };
        const PLAIN: &str = "text/plain; charset=utf-8";
        match req.uri().path() {
            "/metrics" => {
                let hub = ask_hub(&self.hub, HUB_ANSWER).await;
                let db = if self.history_files.is_empty() {
                    None
                } else {
                    Some(files_size(&self.history_files).await)
                };
                let body = self.metrics.render(self.admission.open(), hub.as_ref(), db);
                text(
                    StatusCode::OK,
                    body,
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                )
            }
            "/healthz" => match ask_hub(&self.hub, HUB_ANSWER).await {
                Some(_) => text(StatusCode::OK, "ok\n".into(), PLAIN),
                None => text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the hub task does not answer\n".into(),
                    PLAIN,
                ),
            },
            "/readyz" => {
                if self.ready.load(Ordering::Relaxed)
                    && ask_hub(&self.hub, HUB_ANSWER).await.is_some()
                {
                    text(StatusCode::OK, "ready\n".into(), PLAIN)
                } else {
                    text(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "not ready (starting or shutting down)\n".into(),
                        PLAIN,
                    )
                }
            }
            _ => text(
                StatusCode::NOT_FOUND,
                "/metrics, /healthz and /readyz are here\n".into(),
                PLAIN,
            ),
        }
    }
}

/// Serves the metrics listener until `stop`.
pub async fn serve(listener: TcpListener, probe: Probe, stop: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => return,
            a = listener.accept() => a,
        };
        let Ok((stream, peer)) = accepted else {
            // Out of descriptors, most likely: the chat listeners back off
            // and log; this one only waits a moment.
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let probe = probe.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let probe = probe.clone();
                async move { Ok::<_, Infallible>(probe.answer(req).await) }
            });
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                res = conn => if let Err(e) = res {
                    tracing::debug!(%peer, "metrics: connection ended: {e}");
                },
                _ = stop.cancelled() => {}
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_levels_in_the_text_format() {
        let m = Metrics::new();
        m.accepted(Protocol::Irc);
        m.accepted(Protocol::Irc);
        m.applied(Counted::Registration, true);
        m.applied(Counted::Message, true);
        m.applied(Counted::Message, false);
        m.delivered(3);
        m.delivered(1);
        m.disconnected(Disconnect::SlowConsumer);
        m.refused(Refusal::TooFast);
        let stats = HubStats {
            members: 2,
            rooms: 1,
            queued_bytes: 700,
            queued_max: 500,
            history: Some((1, 4)),
            ..HubStats::default()
        };
        let text = m.render(5, Some(&stats), Some(12345));
        for want in [
            "chatroom_connections_accepted_total{protocol=\"irc\"} 2",
            "chatroom_connections_accepted_total{protocol=\"line\"} 0",
            "chatroom_registrations_total 1",
            "chatroom_messages_received_total 1",
            "chatroom_messages_delivered_total 4",
            "chatroom_deliveries_by_room_size_total{room_size=\"2-10\"} 3",
            "chatroom_deliveries_by_room_size_total{room_size=\"1\"} 1",
            "chatroom_disconnects_total{reason=\"slow_consumer\"} 1",
            "chatroom_disconnects_total{reason=\"quit\"} 0",
            "chatroom_connections_refused_total{reason=\"too_fast\"} 1",
            "chatroom_connections 5",
            "chatroom_members 2",
            "chatroom_rooms 1",
            "chatroom_outbound_queued_bytes 700",
            "chatroom_history_journal_lag_batches 1",
            "chatroom_history_apply_lag_batches 4",
            "chatroom_history_database_bytes 12345",
            "# EOF",
        ] {
            assert!(text.contains(want), "{want} not in\n{text}");
        }
    }

    #[test]
    fn detach_reasons() {
        assert_eq!(
            Disconnect::of_detach(crate::deadlines::REGISTRATION_TIMED_OUT),
            Disconnect::Timeout
        );
        assert_eq!(
            Disconnect::of_detach("Ping timeout: 240 seconds"),
            Disconnect::Timeout
        );
        assert_eq!(
            Disconnect::of_detach("Read error: reset"),
            Disconnect::Error
        );
        assert_eq!(
            Disconnect::of_detach("Connection closed"),
            Disconnect::Closed
        );
    }
}
