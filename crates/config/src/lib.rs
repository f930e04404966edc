//! The server's one configuration struct, and how it is assembled:
//! built-in defaults, then a TOML file (`--config`), then environment
//! variables and command-line flags (a flag beats its variable).
//!
//! Every limit the server enforces is a field here with a sane default.
//! This module must not start anything; it only describes.

#![deny(unsafe_code)]

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use serde::{Deserialize, Serialize};

use chatroom_core::HubConfig;
use chatroom_core::history::Limits as Retain;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on: `::` (all interfaces, IPv6 and IPv4 alike) by
    /// default, or `0.0.0.0` where the system has no IPv6; `localhost`
    /// stands for `127.0.0.1`.
    #[serde(deserialize_with = "bind_from_text")]
    pub bind: IpAddr,
    /// The name the server gives itself in IRC (the source of numerics).
    pub server_name: String,
    /// A line about the server, shown by IRC's LINKS (RFC 2812 `<server
    /// info>`).
    pub server_info: String,
    pub listeners: Listeners,
    pub limits: Limits,
    pub hub: HubConfig,
    /// Message of the day, shown to IRC clients after registration.
    pub motd: Option<String>,
    /// Where the server keeps its files (the generated TLS certificate in
    /// `tls/`, the history). Relative paths are taken from the working
    /// directory; `chatroom-data` by default.
    pub data_dir: PathBuf,
    pub tls: Tls,
    pub web: Web,
    /// Server operators (IRC `OPER name password`).
    pub opers: Vec<Oper>,
    /// IRC connection password (`PASS`), as an argon2id hash from
    /// `chatroom hash-password`; none: IRC clients need no password. Only
    /// the IRC listeners ask for it.
    pub irc_password_hash: Option<String>,
    /// Accept passwords (OPER, the IRC connection password) over plain
    /// TCP from other machines. Off: credentials travel only over TLS or
    /// from this machine (loopback).
    pub allow_plaintext_credentials: bool,
    pub history: History,
    pub accounts: Accounts,
    /// How log lines (on stderr) look: `text` for people, `json` (one
    /// object per line) for log collectors.
    pub log_format: LogFormat,
    pub metrics: Metrics,
    pub mdns: Mdns,
    /// Rooms that exist from start, with their topic, modes, founder and
    /// operators (`[[rooms]]`); see `chatroom_core::hub::RoomSpec`.
    pub rooms: Vec<RoomSpec>,
    pub cluster: Cluster,
}

/// Running as one node of a cluster (`[cluster]`) over NATS with
/// JetStream. Without `urls` (and `--cluster`) the server is a single
/// node and none of this is used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Cluster {
    /// NATS servers to connect to (`nats://host:4222`, `tls://...`); any
    /// one reachable is enough. `--cluster URL` (comma-separated for
    /// several).
    pub urls: Vec<String>,
    /// This node's name, unique in the cluster and the same across its
    /// restarts (`--node-name`); none: the server name.
    pub node_name: Option<String>,
    /// A NATS credentials file (JWT and NKey seed).
    pub credentials_file: Option<PathBuf>,
    /// NATS user and password.
    pub user: Option<String>,
    pub password: Option<String>,
    /// NATS token.
    pub token: Option<String>,
    /// CA certificates (PEM) to trust for the NATS servers' TLS.
    pub tls_ca: Option<PathBuf>,
    /// Client certificate and key (PEM) for NATS servers that ask for one.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Refuse NATS servers that do not offer TLS.
    pub require_tls: bool,
    /// The first token of every subject, stream and bucket name this
    /// cluster uses (several clusters can share one NATS).
    pub prefix: String,
    /// Milliseconds between two heartbeats of a node.
    pub heartbeat_ms: u64,
    /// Milliseconds of silence after which a node is taken as lost: its
    /// people leave (`node NAME lost`) and its nickname claims go.
    pub lost_after_ms: u64,
    /// Milliseconds a starting node waits for the others to tell it who
    /// is where.
    pub sync_wait_ms: u64,
    /// Milliseconds a publish may wait for the stream's acknowledgement.
    pub ack_timeout_ms: u64,
    /// Copies JetStream keeps of the stream and buckets (1, or 3 on a
    /// NATS cluster of three).
    pub replicas: usize,
    /// Days the stream keeps messages (0: for ever).
    pub stream_max_age_days: u64,
}

impl Default for Cluster {
    fn default() -> Self {
        Cluster {
            urls: Vec::new(),
            node_name: None,
            credentials_file: None,
            user: None,
            password: None,
            token: None,
            tls_ca: None,
            tls_cert: None,
            tls_key: None,
            require_tls: false,
            prefix: "chatroom".to_string(),
            heartbeat_ms: 2000,
            lost_after_ms: 10_000,
            sync_wait_ms: 1000,
            ack_timeout_ms: 5000,
            replicas: 1,
            stream_max_age_days: 0,
        }
    }
}

impl Cluster {
    /// Whether this server is a node of a cluster.
    pub fn enabled(&self) -> bool {
        !self.urls.is_empty()
    }
}

/// LAN discovery (`[mdns]`): the server announces itself with mDNS/DNS-SD
/// (`_chatroom._tcp`, `_irc._tcp`, `_ircs-u._tcp`) so that `chatroom join`
/// and `chatroom discover` on the LAN find it without an address. Only
/// when it listens beyond loopback: a server bound to 127.0.0.1 or ::1 is
/// reachable from this machine alone and announces nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Mdns {
    /// `--no-mdns` turns it off.
    pub enabled: bool,
}

impl Default for Mdns {
    fn default() -> Self {
        Mdns { enabled: true }
    }
}

/// The metrics listener (`[metrics]`): Prometheus metrics at `/metrics`,
/// and `/healthz` and `/readyz`, over plain HTTP on an address of its own,
/// on loopback by default: what it tells is for the operator, not for the
/// people chatting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Metrics {
    /// `--no-metrics` turns it off.
    pub enabled: bool,
    /// Where it listens; port 0 picks a free port.
    pub addr: std::net::SocketAddr,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            enabled: true,
            addr: std::net::SocketAddr::from(([127, 0, 0, 1], 9187)),
        }
    }
}

/// The form of the server's log lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One line per event, for people (coloured only on a terminal).
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// IRC accounts (`[accounts]`): registration (IRCv3 `REGISTER`, NickServ),
/// login (SASL PLAIN and EXTERNAL, NickServ IDENTIFY), nickname protection,
/// messages held for accounts that are offline, and the brute-force limits.
/// Accounts live in the history store, so they need history on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Accounts {
    /// Offer accounts at all (SASL, REGISTER, NickServ). Off: none of it
    /// is advertised or answered.
    pub enabled: bool,
    /// Let people register new accounts. Off: existing accounts still log in.
    pub registration: bool,
    /// Let IRC's `REGISTER` (draft/account-registration) be used before the
    /// connection is complete (NICK, USER, CAP END), as the capability's
    /// `before-connect` says. Off: it is refused there with `FAIL REGISTER
    /// COMPLETE_CONNECTION_REQUIRED` and the capability has no value.
    pub register_before_connect: bool,
    /// Shortest password accepted at registration or a password change.
    pub min_password_len: usize,
    /// Accounts one IP address may register per hour (0: no limit).
    pub max_registrations_per_ip_per_hour: u32,
    /// Seconds someone holding a registered nickname without being logged
    /// in to its account has to log in before being renamed to a guest
    /// nickname. 0 turns nickname protection off.
    pub nick_grace_secs: u64,
    /// Private messages to a registered account whose owner is not
    /// connected are kept and delivered at the next login.
    pub offline_messages: bool,
    /// Most messages held for one account; further ones are refused.
    pub max_offline_per_account: usize,
    /// Failed logins of one account (or operator name) from one address
    /// within `failure_window_secs` before that address is locked out of
    /// it for a while. Never counted per account alone: guesses from
    /// elsewhere must not lock the owner out. 0: no limit.
    pub max_failures_per_account: u32,
    /// Failed logins of any kind from one IP address (IPv6: one
    /// `limits.ipv6_prefix`) within `failure_window_secs` before that
    /// address is locked out of every login and of registration (higher
    /// than the per account limit: several people may share one address).
    pub max_failures_per_ip: u32,
    /// Seconds over which failures are counted.
    pub failure_window_secs: u64,
    /// Seconds of the first lock; each further lock of the same account or
    /// address doubles it, up to `max_lockout_secs`.
    pub lockout_secs: u64,
    pub max_lockout_secs: u64,
    /// Password checks and hashings (argon2id, tens of milliseconds and
    /// about 19 MiB each) running at once, server-wide, for accounts,
    /// operators and the connection password; more wait their turn. At
    /// least 1.
    pub password_checks_at_once: usize,
    /// Longest SASL `AUTHENTICATE` payload, in bytes after reassembly of
    /// the 400-byte chunks (before base64 decoding); longer: ERR_SASLFAIL
    /// (ERR_SASLTOOLONG is for one chunk over 400 bytes).
    pub max_sasl_bytes: usize,
}

impl Default for Accounts {
    fn default() -> Self {
        Accounts {
            enabled: true,
            registration: true,
            register_before_connect: true,
            min_password_len: 8,
            max_registrations_per_ip_per_hour: 10,
            nick_grace_secs: 60,
            offline_messages: true,
            max_offline_per_account: 200,
            max_failures_per_account: 5,
            max_failures_per_ip: 20,
            failure_window_secs: 600,
            lockout_secs: 60,
            max_lockout_secs: 3600,
            password_checks_at_once: 2,
            max_sasl_bytes: 4096,
        }
    }
}

impl Accounts {
    /// The grace period of nickname protection; `None` when it is off.
    pub fn nick_grace(&self) -> Option<Duration> {
        (self.nick_grace_secs > 0).then(|| Duration::from_secs(self.nick_grace_secs))
    }
}

/// What the server remembers (`[history]`): the SQLite file
/// `<data_dir>/chatroom.db`, what is replayed to whoever joins a room, and how
/// long messages are kept. `[history.rooms."#name"]` overrides any of the
/// replay and retention settings for one room.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct History {
    /// Keep history at all. Off: nothing is written and nothing replayed.
    pub enabled: bool,
    /// Lines replayed to whoever joins a room (0: none).
    pub replay_lines: usize,
    /// Only lines from the last this many hours are replayed (absent: any age).
    pub replay_hours: Option<u64>,
    /// Messages older than this many hours are deleted (absent: kept).
    pub max_age_hours: Option<u64>,
    /// Only the newest this many messages of each room (and each private
    /// conversation) are kept; 0 keeps nothing (absent: no limit).
    pub max_count: Option<u64>,
    /// Seconds between two background compactions (retention).
    pub compact_interval_secs: u64,
    /// fsync every commit (survives power loss too, at the price of one
    /// fsync per batch; without it a `kill -9` still loses nothing).
    pub sync_every_commit: bool,
    /// Per-room overrides, keyed by room name (`"#name"`).
    pub rooms: BTreeMap<String, RoomHistory>,
}

/// One room's overrides of the `[history]` settings; absent keys follow
/// the server's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoomHistory {
    pub replay_lines: Option<usize>,
    pub replay_hours: Option<u64>,
    pub max_age_hours: Option<u64>,
    /// 0 keeps nothing of this room: its messages are never written.
    pub max_count: Option<u64>,
}

pub use chatroom_core::history::MAX_REPLAY_LINES;

impl Default for History {
    fn default() -> Self {
        History {
            enabled: true,
            replay_lines: 50,
            replay_hours: None,
            max_age_hours: None,
            max_count: None,
            compact_interval_secs: 600,
            sync_every_commit: false,
            rooms: BTreeMap::new(),
        }
    }
}

impl History {
    /// The overrides for `room`, if any (room names compare case-insensitively).
    pub fn room(&self, room: &str) -> Option<&RoomHistory> {
        self.rooms
            .iter()
            .find(|(name, _)| chatroom_core::names::same(name, room))
            .map(|(_, r)| r)
    }

    /// (lines, hours) replayed on joining `room`.
    pub fn replay_for(&self, room: &str) -> (usize, Option<u64>) {
        let own = self.room(room);
        let lines = own
            .and_then(|r| r.replay_lines)
            .unwrap_or(self.replay_lines);
        let hours = own.and_then(|r| r.replay_hours).or(self.replay_hours);
        (lines.min(MAX_REPLAY_LINES), hours)
    }

    pub fn compact_interval(&self) -> Duration {
        Duration::from_secs(self.compact_interval_secs.max(1))
    }

    /// The server-wide retention limits.
    pub fn server_limits(&self) -> Retain {
        Retain {
            max_age: self
                .max_age_hours
                .map(|h| Duration::from_secs(h.saturating_mul(3600))),
            max_count: self.max_count,
        }
    }

    /// The retention limits of `room`: its own where it has them, the
    /// server's otherwise.
    pub fn limits_for(&self, room: &str) -> Retain {
        let server = self.server_limits();
        match self.room(room) {
            None => server,
            Some(own) => Retain {
                max_age: own
                    .max_age_hours
                    .map(|h| Duration::from_secs(h.saturating_mul(3600)))
                    .or(server.max_age),
                max_count: own.max_count.or(server.max_count),
            },
        }
    }
}

pub use chatroom_core::hub::RoomSpec;
pub use chatroom_core::services::oper::Oper;

/// The TLS listener: IRC over TLS (`ircs`), beside the plain listeners.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Tls {
    pub enabled: bool,
    /// 6697, the IRC-over-TLS port (RFC 7194); 0: any free port.
    pub port: u16,
    /// PEM certificate chain. Without `cert` and `key` a self-signed
    /// certificate is generated once and kept in `<data_dir>/tls/`.
    pub cert: Option<PathBuf>,
    /// PEM private key belonging to `cert`.
    pub key: Option<PathBuf>,
    /// Seconds a new connection has to complete the TLS handshake.
    pub handshake_timeout_secs: u64,
}

impl Default for Tls {
    fn default() -> Self {
        Tls {
            enabled: true,
            port: 6697,
            cert: None,
            key: None,
            handshake_timeout_secs: 10,
        }
    }
}

impl Tls {
    pub fn handshake_timeout(&self) -> Duration {
        Duration::from_secs(self.handshake_timeout_secs)
    }
}

/// The web listener (`[web]`): the browser app, and IRC over WebSocket (the
/// IRCv3 WebSocket specification) at `/irc` for it and for any other
/// WebSocket IRC client, on plain HTTP and, with the server's TLS
/// certificate, on HTTPS.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Web {
    /// Plain HTTP (`--no-web` turns the whole web listener off).
    pub enabled: bool,
    /// 0: any free port.
    pub port: u16,
    /// HTTPS with the server's certificate (`[tls]`); only when TLS is on.
    pub tls_enabled: bool,
    /// 0: any free port.
    pub tls_port: u16,
    /// `Origin` headers accepted at the WebSocket upgrade besides the
    /// server's own (e.g. `https://chat.example` for a page behind a reverse
    /// proxy; `"*"`: any). By default only pages this server itself served
    /// (the origin is the request's `Host`), and clients that send no
    /// `Origin` (not a browser), may connect: a page on another site must not
    /// open a chat connection in a visitor's browser.
    pub allowed_origins: Vec<String>,
    /// Largest WebSocket message (one IRC line) accepted, in bytes; the IRC
    /// line limits apply on top of it.
    pub max_message_bytes: usize,
    /// Seconds a connection has to send a request's headers (also how long
    /// an idle keep-alive connection stays open) and to complete the
    /// WebSocket upgrade.
    pub handshake_timeout_secs: u64,
}

impl Default for Web {
    fn default() -> Self {
        Web {
            enabled: true,
            port: 8080,
            tls_enabled: true,
            tls_port: 8443,
            allowed_origins: Vec::new(),
            // A full tagged IRC line (4096 bytes of tags + 512) with room
            // to spare; anything bigger is refused by the WebSocket layer.
            max_message_bytes: 16 * 1024,
            handshake_timeout_secs: 10,
        }
    }
}

/// Which protocols listen, and on which TCP port (0: any free port).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Listeners {
    /// Plain line protocol for netcat and telnet.
    pub line: bool,
    pub line_port: u16,
    /// IRC (RFC 1459/2812).
    pub irc: bool,
    pub irc_port: u16,
    /// Tutorial dialect: 10-byte length headers. Off by default.
    pub lenheader: bool,
    pub lenheader_port: u16,
    /// Tutorial dialect: `NICK` handshake. Off by default.
    pub nick: bool,
    pub nick_port: u16,
}

impl Default for Listeners {
    fn default() -> Self {
        Listeners {
            line: true,
            line_port: 5000,
            irc: true,
            irc_port: 6667,
            // The ports the tutorials' client programs have written into them.
            lenheader: false,
            lenheader_port: 1234,
            nick: false,
            nick_port: 55555,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Longest line accepted on the line protocol and the NICK dialect, in
    /// bytes. Longer lines are refused whole with an error.
    pub max_line_bytes: usize,
    /// Longest IRC line, in bytes, without tags (RFC 1459: 512 with CR LF).
    pub irc_line_bytes: usize,
    /// Longest field a length-header client may announce, in bytes.
    pub lenheader_max_field: usize,
    /// Sustained commands per second per connection; 0 turns flood control off.
    pub flood_rate: f64,
    /// Commands a connection may send in a burst before it is slowed down.
    pub flood_burst: u32,
    /// Connections the server holds at once (`--max-connections`); 0 means
    /// no limit other than the descriptors: the server never admits more
    /// than its open-file limit less `descriptor_reserve`, whatever this says.
    pub max_connections: usize,
    /// Connections from one IP address at once (`--max-connections-per-ip`),
    /// counted from the moment a connection is accepted, before any TLS
    /// handshake or WebSocket upgrade; 0 means no limit.
    pub max_connections_per_ip: usize,
    /// Connections from one IP address still in their TLS handshake or
    /// WebSocket upgrade at once (`--max-handshakes-per-ip`); 0 means no
    /// limit. Smaller than `max_connections_per_ip`: a handshake that stalls
    /// holds its descriptor until its timeout.
    pub max_handshakes_per_ip: usize,
    /// New connections one IP address may open within
    /// `connect_window_secs` (`--max-connects-per-ip`); more are refused at
    /// accept time until the window ends. 0 means no limit.
    pub max_connects_per_ip: u32,
    /// The window of `max_connects_per_ip`, in seconds.
    pub connect_window_secs: u64,
    /// Addresses or networks (`"192.0.2.7"`, `"10.0.0.0/8"`, `"::1/128"`)
    /// to which the per-address limits (connections, handshakes, connection
    /// rate) do not apply: a bouncer or proxy on the LAN that carries many
    /// people. The server-wide ceiling still applies. Empty by default;
    /// loopback is not exempt unless listed.
    pub exempt: Vec<String>,
    /// Open files kept back from connections (for the history store, the
    /// listeners, the certificate, logs): the server admits at most its
    /// open-file limit less this many connections, so it can always accept
    /// one more, say that it is full, and close it.
    pub descriptor_reserve: usize,
    /// IPv6 addresses sharing this many leading bits count as one address
    /// for every per-address limit (a client can usually pick any address
    /// in its /64).
    pub ipv6_prefix: u8,
    /// Seconds a new connection has to choose a nickname.
    pub registration_timeout_secs: u64,
    /// Bytes not yet written to one connection's socket (queued replies and
    /// deliveries, by estimate, and the batch being written) past which a
    /// delivery it did not cause, such as someone else's message, cuts it
    /// off as a slow consumer. Replies to its own commands never do: they
    /// are paced instead (`pause_reading_bytes`). The default is the
    /// `hardsendq` of the connect class in InspIRCd's
    /// `conf/inspircd.conf.example` (1,048,576 bytes); ergo's `default.yaml`
    /// has `max-sendq: 96k` and UnrealIRCd's documented example client
    /// class `sendq 100000`, but rooms here can be flooded harder (see
    /// `docs/perf.md`, workload B) and pacing, not this limit, is what
    /// answers a client that asks for more than it reads. Counted up to
    /// 4 GiB; more means 4 GiB.
    pub send_queue_bytes: usize,
    /// Bytes not yet written to a connection's socket at which the server
    /// stops reading that connection's input until its writer has caught
    /// up, so that a client that asks for more than it reads is slowed
    /// down by TCP instead of cut off. As InspIRCd's `softsendq`, which
    /// delays a client's commands while its send queue drains. The
    /// default, a quarter of `send_queue_bytes`, is above what a client
    /// that keeps up carries in a flooded room (`docs/perf.md`, "Slow
    /// consumers by bytes"), so that pacing slows down only clients that
    /// fall behind. At most half of `send_queue_bytes` counts (so lowering
    /// that alone keeps pacing well below the cut).
    pub pause_reading_bytes: usize,
    /// Deprecated: the old limit in events. When given, and
    /// `send_queue_bytes` is not, `send_queue_bytes` becomes this many
    /// full IRC lines (× [`Limits::LINE_BYTES`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_queue: Option<usize>,
    /// `send_queue_bytes` and `pause_reading_bytes` of one listener, where
    /// they should differ from the two above (`[limits.listeners.web]`):
    /// a web listener that phones use, say, or a line listener for a
    /// classroom's scripts.
    pub listeners: ListenerQueues,
    /// Seconds a writer may be stuck on a client that does not read before
    /// the client is disconnected, even if its queue is not yet full.
    pub write_timeout_secs: u64,
    /// Seconds to let connections flush on shutdown.
    pub shutdown_grace_secs: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line_bytes: 4096,
            irc_line_bytes: 512,
            lenheader_max_field: 65536,
            flood_rate: 5.0,
            flood_burst: 20,
            max_connections: 10_000,
            max_connections_per_ip: 64,
            max_handshakes_per_ip: 16,
            max_connects_per_ip: 20,
            connect_window_secs: 10,
            exempt: Vec::new(),
            descriptor_reserve: 128,
            ipv6_prefix: 64,
            registration_timeout_secs: 60,
            send_queue_bytes: 1 << 20,
            pause_reading_bytes: 256 << 10,
            send_queue: None,
            listeners: ListenerQueues::default(),
            write_timeout_secs: 60,
            shutdown_grace_secs: 5,
        }
    }
}

impl Limits {
    /// What one event of the deprecated `send_queue` counts for: a full
    /// IRC line (RFC 1459: 512 bytes with CR LF).
    pub const LINE_BYTES: usize = 512;

    pub fn registration_timeout(&self) -> Duration {
        Duration::from_secs(self.registration_timeout_secs)
    }

    pub fn connect_window(&self) -> Duration {
        Duration::from_secs(self.connect_window_secs)
    }

    /// The networks of `exempt`, parsed.
    pub fn exempt_nets(&self) -> Result<Vec<Net>, ConfigError> {
        self.exempt
            .iter()
            .map(|s| {
                s.parse().map_err(|e| {
                    ConfigError::Invalid(format!("limits.exempt: {s:?} is not usable: {e}"))
                })
            })
            .collect()
    }

    /// The send queue and the pacing threshold, in bytes, of a connection
    /// accepted on a listener with `overrides` (one of
    /// [`Limits::listeners`]), the server-wide ones where it gives none.
    pub fn queue_bytes(&self, overrides: &ListenerQueue) -> (usize, usize) {
        (
            overrides.send_queue_bytes.unwrap_or(self.send_queue_bytes),
            overrides
                .pause_reading_bytes
                .unwrap_or(self.pause_reading_bytes),
        )
    }

    /// Maps the deprecated `send_queue` (events) of a file onto
    /// `send_queue_bytes`, unless the file gives that too.
    fn map_send_queue(&mut self) {
        if let Some(events) = self.send_queue
            && self.send_queue_bytes == Limits::default().send_queue_bytes
        {
            self.send_queue_bytes = events.saturating_mul(Limits::LINE_BYTES);
        }
    }
}

/// Per-listener overrides of the outbound limits (`[limits.listeners.NAME]`),
/// one table per listener the server has.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ListenerQueues {
    pub line: ListenerQueue,
    pub irc: ListenerQueue,
    /// IRC over TLS.
    pub ircs: ListenerQueue,
    /// IRC over WebSocket on the web listener.
    pub web: ListenerQueue,
    /// IRC over WebSocket on the HTTPS web listener.
    pub web_tls: ListenerQueue,
    pub lenheader: ListenerQueue,
    pub nick: ListenerQueue,
}

impl ListenerQueues {
    /// Each listener's table with its name as in the file.
    pub fn named(&self) -> [(&'static str, &ListenerQueue); 7] {
        [
            ("line", &self.line),
            ("irc", &self.irc),
            ("ircs", &self.ircs),
            ("web", &self.web),
            ("web_tls", &self.web_tls),
            ("lenheader", &self.lenheader),
            ("nick", &self.nick),
        ]
    }
}

/// One listener's outbound limits; what it leaves out is `[limits]`'s.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ListenerQueue {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_queue_bytes: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pause_reading_bytes: Option<usize>,
}

/// An address or a network (`addr/len`) in the configuration; an address
/// alone is a network of its full length. An IPv4 address mapped into IPv6
/// (`::ffff:a.b.c.d`) is taken as the IPv4 address, on both sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Net {
    addr: IpAddr,
    len: u8,
}

impl Net {
    /// Whether `ip` is in this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = chatroom_core::addr::group(ip, 128);
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.len)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.len))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl std::str::FromStr for Net {
    type Err = String;

    fn from_str(s: &str) -> Result<Net, String> {
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .trim()
            .parse()
            .map_err(|e| format!("not an address ({e})"))?;
        let mapped = matches!(addr, IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some());
        let addr = chatroom_core::addr::group(addr, 128);
        let max: u8 = if addr.is_ipv4() { 32 } else { 128 };
        let len = match len {
            None => max,
            Some(l) => {
                let l: u8 = l
                    .trim()
                    .parse()
                    .map_err(|_| format!("{l:?} is not a prefix length"))?;
                // A mapped address's prefix counts the 96 bits before the IPv4 part.
                let l = if mapped { l.saturating_sub(96) } else { l };
                if l > max {
                    return Err(format!("prefix length {l} is longer than {max}"));
                }
                l
            }
        };
        Ok(Net { addr, len })
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: IpAddr::from(std::net::Ipv6Addr::UNSPECIFIED),
            server_name: "chatroom".to_string(),
            server_info: "chatroom server".to_string(),
            listeners: Listeners::default(),
            limits: Limits::default(),
            hub: HubConfig::default(),
            motd: None,
            data_dir: PathBuf::from("chatroom-data"),
            tls: Tls::default(),
            web: Web::default(),
            opers: Vec::new(),
            irc_password_hash: None,
            allow_plaintext_credentials: false,
            history: History::default(),
            accounts: Accounts::default(),
            log_format: LogFormat::Text,
            metrics: Metrics::default(),
            mdns: Mdns::default(),
            rooms: Vec::new(),
            cluster: Cluster::default(),
        }
    }
}

/// Flags (and their environment variables) of `chatroom serve`. Every one is
/// optional: unset means "keep what the file or the defaults say".
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// TOML configuration file.
    #[arg(long, env = "CHATROOM_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on: an IP address, or `localhost` (127.0.0.1)
    /// [default: `::`, every interface, IPv6 and IPv4 alike].
    #[arg(long, env = "CHATROOM_BIND", value_parser = parse_bind)]
    pub bind: Option<IpAddr>,
    #[arg(long, env = "CHATROOM_SERVER_NAME")]
    pub server_name: Option<String>,
    /// Port of the line protocol (netcat/telnet) [default: 5000]; 0 picks
    /// a free port.
    #[arg(long, env = "CHATROOM_LINE_PORT")]
    pub line_port: Option<u16>,
    /// Port of the IRC listener [default: 6667]; 0 picks a free port.
    #[arg(long, env = "CHATROOM_IRC_PORT")]
    pub irc_port: Option<u16>,
    /// Turn off the line-protocol listener.
    #[arg(long, env = "CHATROOM_NO_LINE")]
    pub no_line: bool,
    /// Turn off the IRC listener.
    #[arg(long, env = "CHATROOM_NO_IRC")]
    pub no_irc: bool,
    /// Enable the length-header tutorial dialect (port 1234 unless --lenheader-port).
    #[arg(long, env = "CHATROOM_LENHEADER")]
    pub lenheader: bool,
    /// Port of the length-header dialect [default: 1234]; 0 picks a free port.
    #[arg(long, env = "CHATROOM_LENHEADER_PORT")]
    pub lenheader_port: Option<u16>,
    /// Enable the NICK-handshake tutorial dialect (port 55555 unless --nick-port).
    #[arg(long, env = "CHATROOM_NICK_DIALECT")]
    pub nick_dialect: bool,
    /// Port of the NICK-handshake dialect [default: 55555]; 0 picks a free
    /// port.
    #[arg(long, env = "CHATROOM_NICK_PORT")]
    pub nick_port: Option<u16>,
    /// Commands per second per connection before flood control slows it (0: off).
    #[arg(long, env = "CHATROOM_FLOOD_RATE")]
    pub flood_rate: Option<f64>,
    #[arg(long, env = "CHATROOM_FLOOD_BURST")]
    pub flood_burst: Option<u32>,
    /// Connections at once (0: no limit).
    #[arg(long, env = "CHATROOM_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Connections from one address at once (0: no limit).
    #[arg(long, alias = "max-per-ip", env = "CHATROOM_MAX_PER_IP")]
    pub max_connections_per_ip: Option<usize>,
    /// Unfinished TLS handshakes and WebSocket upgrades from one address at
    /// once (0: no limit).
    #[arg(long, env = "CHATROOM_MAX_HANDSHAKES_PER_IP")]
    pub max_handshakes_per_ip: Option<usize>,
    /// New connections one address may open per connect window (10 s unless
    /// the file says otherwise; 0: no limit).
    #[arg(long, env = "CHATROOM_MAX_CONNECTS_PER_IP")]
    pub max_connects_per_ip: Option<u32>,
    /// Longest line on the line protocol, in bytes.
    #[arg(long, env = "CHATROOM_MAX_LINE_BYTES")]
    pub max_line_bytes: Option<usize>,
    /// Seconds a new connection has to pick a nickname.
    #[arg(long, env = "CHATROOM_REGISTRATION_TIMEOUT")]
    pub registration_timeout: Option<u64>,
    /// Bytes unread by a client (queued for it, not yet written) before
    /// someone else's message cuts it off as a slow consumer.
    #[arg(long, env = "CHATROOM_SEND_QUEUE_BYTES")]
    pub send_queue_bytes: Option<usize>,
    /// Bytes unread by a client at which its input stops being read until
    /// it catches up.
    #[arg(long, env = "CHATROOM_PAUSE_READING_BYTES")]
    pub pause_reading_bytes: Option<usize>,
    /// Deprecated: the slow-consumer limit in events; N stands for
    /// --send-queue-bytes N×512 (ignored when --send-queue-bytes is given).
    #[arg(long, env = "CHATROOM_SEND_QUEUE", hide = true)]
    pub send_queue: Option<usize>,
    /// Seconds a write may stay blocked on a client before it is cut off.
    #[arg(long, env = "CHATROOM_WRITE_TIMEOUT")]
    pub write_timeout: Option<u64>,
    /// Directory for the server's files (default ./chatroom-data).
    #[arg(long, env = "CHATROOM_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Port of the IRC-over-TLS listener [default: 6697]; 0 picks a free port.
    #[arg(long, env = "CHATROOM_TLS_PORT")]
    pub tls_port: Option<u16>,
    /// Turn off the TLS listener.
    #[arg(long, env = "CHATROOM_NO_TLS")]
    pub no_tls: bool,
    /// PEM certificate for TLS (with --tls-key); reloaded on SIGHUP.
    #[arg(long, env = "CHATROOM_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "CHATROOM_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Seconds a connection has to finish the TLS handshake.
    #[arg(long, env = "CHATROOM_TLS_HANDSHAKE_TIMEOUT")]
    pub tls_handshake_timeout: Option<u64>,
    /// Port of the web listener: the browser app, and IRC over WebSocket
    /// at /irc [default: 8080]; 0 picks a free port.
    #[arg(long, env = "CHATROOM_WEB_PORT")]
    pub web_port: Option<u16>,
    /// Port of the web listener over HTTPS, with the TLS certificate
    /// [default: 8443]; 0 picks a free port.
    #[arg(long, env = "CHATROOM_WEB_TLS_PORT")]
    pub web_tls_port: Option<u16>,
    /// Turn off the web listener (HTTP and HTTPS).
    #[arg(long, env = "CHATROOM_NO_WEB")]
    pub no_web: bool,
    /// Turn off the HTTPS web listener only.
    #[arg(long, env = "CHATROOM_NO_WEB_TLS")]
    pub no_web_tls: bool,
    /// Keep no history: nothing is written to disk, nothing replayed.
    #[arg(long, env = "CHATROOM_NO_HISTORY")]
    pub no_history: bool,
    /// Lines of a room's history shown to whoever joins it (0: none).
    #[arg(long, env = "CHATROOM_HISTORY_REPLAY_LINES")]
    pub history_replay_lines: Option<usize>,
    /// Replay only lines from the last this many hours.
    #[arg(long, env = "CHATROOM_HISTORY_REPLAY_HOURS")]
    pub history_replay_hours: Option<u64>,
    /// Delete messages older than this many hours.
    #[arg(long, env = "CHATROOM_HISTORY_MAX_AGE_HOURS")]
    pub history_max_age_hours: Option<u64>,
    /// Keep only the newest this many messages per room (0: keep nothing).
    #[arg(long, env = "CHATROOM_HISTORY_MAX_COUNT")]
    pub history_max_count: Option<u64>,
    /// Seconds between two background compactions of the history.
    #[arg(long, env = "CHATROOM_HISTORY_COMPACT_INTERVAL")]
    pub history_compact_interval: Option<u64>,
    /// fsync the history on every commit (also survives power loss).
    #[arg(long, env = "CHATROOM_HISTORY_SYNC")]
    pub history_sync: bool,
    /// How log lines look: text, or json (one object per line) [default:
    /// text]. RUST_LOG chooses what is logged (info by default).
    #[arg(long, env = "CHATROOM_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Address of the metrics listener: Prometheus metrics at /metrics,
    /// and /healthz and /readyz [default: 127.0.0.1:9187]; port 0 picks a
    /// free port.
    #[arg(long, env = "CHATROOM_METRICS_ADDR", value_name = "ADDR:PORT")]
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// Turn off the metrics listener.
    #[arg(long, env = "CHATROOM_NO_METRICS")]
    pub no_metrics: bool,
    /// Do not announce the server on the LAN (mDNS/DNS-SD), which it does
    /// by default whenever it listens beyond loopback.
    #[arg(long, env = "CHATROOM_NO_MDNS")]
    pub no_mdns: bool,
    /// Run as a node of a cluster through these NATS servers
    /// (`nats://10.0.0.5:4222`, comma-separated for several).
    #[arg(long, env = "CHATROOM_CLUSTER", value_delimiter = ',')]
    pub cluster: Vec<String>,
    /// This node's name in the cluster [default: the server name].
    #[arg(long, env = "CHATROOM_NODE_NAME")]
    pub node_name: Option<String>,
}

/// An address to listen on, as given to `--bind` or `bind =`: an IP
/// address, or `localhost` for the IPv4 loopback address (the one every
/// client tries; binding both loopbacks would take a listener each).
pub fn parse_bind(text: &str) -> Result<IpAddr, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("localhost") {
        return Ok(IpAddr::from([127, 0, 0, 1]));
    }
    let unbracketed = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    unbracketed
        .parse()
        .map_err(|_| format!("{text:?} is neither an IP address nor localhost"))
}

fn bind_from_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<IpAddr, D::Error> {
    let text = String::deserialize(d)?;
    parse_bind(&text).map_err(serde::de::Error::custom)
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid configuration: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Reads a TOML file; absent keys keep their defaults, unknown keys are errors.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut cfg: Config = toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_path_buf(),
            source: Box::new(source),
        })?;
        cfg.limits.map_send_queue();
        Ok(cfg)
    }

    /// Defaults, then the file named by `--config`, then flags/environment.
    pub fn load(args: &ServeArgs) -> Result<Config, ConfigError> {
        let mut cfg = match &args.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        cfg.apply(args);
        cfg.validate()?;
        Ok(cfg)
    }

    fn apply(&mut self, a: &ServeArgs) {
        fn set<T: Clone>(slot: &mut T, v: &Option<T>) {
            if let Some(v) = v {
                *slot = v.clone();
            }
        }
        set(&mut self.bind, &a.bind);
        set(&mut self.server_name, &a.server_name);
        let l = &mut self.listeners;
        set(&mut l.line_port, &a.line_port);
        set(&mut l.irc_port, &a.irc_port);
        set(&mut l.lenheader_port, &a.lenheader_port);
        set(&mut l.nick_port, &a.nick_port);
        l.line &= !a.no_line;
        l.irc &= !a.no_irc;
        l.lenheader |= a.lenheader;
        l.nick |= a.nick_dialect;
        let m = &mut self.limits;
        set(&mut m.flood_rate, &a.flood_rate);
        set(&mut m.flood_burst, &a.flood_burst);
        set(&mut m.max_connections, &a.max_connections);
        set(&mut m.max_connections_per_ip, &a.max_connections_per_ip);
        set(&mut m.max_handshakes_per_ip, &a.max_handshakes_per_ip);
        set(&mut m.max_connects_per_ip, &a.max_connects_per_ip);
        set(&mut m.max_line_bytes, &a.max_line_bytes);
        set(&mut m.registration_timeout_secs, &a.registration_timeout);
        if let Some(events) = a.send_queue {
            // The flag stands for bytes, whatever the file said; an
            // explicit --send-queue-bytes below still wins.
            m.send_queue = Some(events);
            m.send_queue_bytes = events.saturating_mul(Limits::LINE_BYTES);
        }
        set(&mut m.send_queue_bytes, &a.send_queue_bytes);
        set(&mut m.pause_reading_bytes, &a.pause_reading_bytes);
        set(&mut m.write_timeout_secs, &a.write_timeout);
        set(&mut self.data_dir, &a.data_dir);
        let t = &mut self.tls;
        set(&mut t.port, &a.tls_port);
        t.enabled &= !a.no_tls;
        if a.tls_cert.is_some() {
            t.cert = a.tls_cert.clone();
        }
        if a.tls_key.is_some() {
            t.key = a.tls_key.clone();
        }
        set(&mut t.handshake_timeout_secs, &a.tls_handshake_timeout);
        let w = &mut self.web;
        set(&mut w.port, &a.web_port);
        set(&mut w.tls_port, &a.web_tls_port);
        w.enabled &= !a.no_web;
        w.tls_enabled &= !a.no_web_tls;
        let h = &mut self.history;
        h.enabled &= !a.no_history;
        set(&mut h.replay_lines, &a.history_replay_lines);
        if a.history_replay_hours.is_some() {
            h.replay_hours = a.history_replay_hours;
        }
        if a.history_max_age_hours.is_some() {
            h.max_age_hours = a.history_max_age_hours;
        }
        if a.history_max_count.is_some() {
            h.max_count = a.history_max_count;
        }
        set(&mut h.compact_interval_secs, &a.history_compact_interval);
        h.sync_every_commit |= a.history_sync;
        set(&mut self.log_format, &a.log_format);
        set(&mut self.metrics.addr, &a.metrics_addr);
        self.metrics.enabled &= !a.no_metrics;
        self.mdns.enabled &= !a.no_mdns;
        if !a.cluster.is_empty() {
            self.cluster.urls = a.cluster.clone();
        }
        if a.node_name.is_some() {
            self.cluster.node_name = a.node_name.clone();
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |s: &str| Err(ConfigError::Invalid(s.to_string()));
        let l = &self.limits;
        if !(l.flood_rate >= 0.0 && l.flood_rate.is_finite()) {
            return bad("limits.flood_rate must be a number >= 0");
        }
        if l.send_queue == Some(0) {
            return bad("limits.send_queue must be at least 1");
        }
        if l.max_connects_per_ip > 0 && l.connect_window_secs == 0 {
            return bad("limits.connect_window_secs must be at least 1");
        }
        l.exempt_nets()?;
        if l.send_queue_bytes < 1024 {
            return bad("limits.send_queue_bytes must be at least 1024");
        }
        if l.pause_reading_bytes == 0 {
            return bad("limits.pause_reading_bytes must be at least 1");
        }
        for (name, q) in l.listeners.named() {
            if q.send_queue_bytes.is_some_and(|n| n < 1024) {
                return Err(ConfigError::Invalid(format!(
                    "limits.listeners.{name}.send_queue_bytes must be at least 1024"
                )));
            }
            if q.pause_reading_bytes == Some(0) {
                return Err(ConfigError::Invalid(format!(
                    "limits.listeners.{name}.pause_reading_bytes must be at least 1"
                )));
            }
        }
        if l.max_line_bytes < 16 || l.irc_line_bytes < 16 {
            return bad("line limits must be at least 16 bytes");
        }
        if self.hub.nick_len == 0 || self.hub.text_len == 0 {
            return bad("hub.nick_len and hub.text_len must be at least 1");
        }
        if self.server_name.is_empty() || self.server_name.contains([' ', ':', '\r', '\n']) {
            return bad("server_name must be one word");
        }
        if self.server_info.contains(['\r', '\n', '\0']) {
            return bad("server_info must be one line");
        }
        let ls = &self.listeners;
        if !(ls.line || ls.irc || ls.lenheader || ls.nick || self.tls.enabled || self.web.enabled) {
            return bad("every listener is turned off");
        }
        if self.tls.cert.is_some() != self.tls.key.is_some() {
            return bad("tls.cert and tls.key must be given together");
        }
        if self.tls.handshake_timeout_secs == 0 {
            return bad("tls.handshake_timeout_secs must be at least 1");
        }
        if self.web.handshake_timeout_secs == 0 {
            return bad("web.handshake_timeout_secs must be at least 1");
        }
        if self.web.max_message_bytes < 512 {
            return bad("web.max_message_bytes must be at least 512");
        }
        let mut seen = std::collections::HashSet::new();
        for room in &self.rooms {
            if let Err(e) = chatroom_core::names::validate_room(&room.name, self.hub.room_len) {
                return Err(ConfigError::Invalid(format!(
                    "rooms: {:?} is not a room name: {}",
                    room.name, e.0
                )));
            }
            if !seen.insert(chatroom_core::names::Key::of(&room.name)) {
                return Err(ConfigError::Invalid(format!(
                    "rooms: {} is named twice",
                    room.name
                )));
            }
            let accounts = room.founder.iter().chain(&room.operators);
            if let Some(bad) = accounts
                .into_iter()
                .find(|a| chatroom_core::names::validate_nick(a, self.hub.nick_len).is_err())
            {
                return Err(ConfigError::Invalid(format!(
                    "rooms: {} names {bad:?}, which is not an account name",
                    room.name
                )));
            }
            if let Some(modes) = &room.modes
                && let Some(c) = modes
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .chars()
                    .find(|c| {
                        *c != '+'
                            && *c != 'k'
                            && *c != 'l'
                            && !chatroom_core::modes::FLAG_MODES.contains(*c)
                    })
            {
                return Err(ConfigError::Invalid(format!(
                    "rooms: {} has mode {c:?}; modes are any of +{}kl",
                    room.name,
                    chatroom_core::modes::FLAG_MODES
                )));
            }
        }
        for oper in &self.opers {
            if oper.name.is_empty() || oper.name.contains([' ', '\r', '\n']) {
                return bad("opers: a name must be one word");
            }
            if let Err(e) = chatroom_core::password::check_hash(&oper.password_hash) {
                return Err(ConfigError::Invalid(format!(
                    "opers: the password_hash of {} is not usable ({e}); make one with `chatroom hash-password`",
                    oper.name
                )));
            }
        }
        if let Some(hash) = &self.irc_password_hash
            && let Err(e) = chatroom_core::password::check_hash(hash)
        {
            return Err(ConfigError::Invalid(format!(
                "irc_password_hash is not usable ({e}); make one with `chatroom hash-password`"
            )));
        }
        if self.hub.max_modes == 0 || self.hub.max_list_entries == 0 {
            return bad("hub.max_modes and hub.max_list_entries must be at least 1");
        }
        let a = &self.accounts;
        if a.max_failures_per_account == 0 || a.max_failures_per_ip == 0 {
            return bad(
                "accounts.max_failures_per_account and max_failures_per_ip must be at least 1",
            );
        }
        if a.failure_window_secs == 0 || a.lockout_secs == 0 || a.max_lockout_secs < a.lockout_secs
        {
            return bad(
                "accounts: failure_window_secs and lockout_secs must be at least 1, max_lockout_secs at least lockout_secs",
            );
        }
        if a.max_sasl_bytes < 400 {
            return bad("accounts.max_sasl_bytes must be at least 400");
        }
        let h = &self.history;
        if h.compact_interval_secs == 0 {
            return bad("history.compact_interval_secs must be at least 1");
        }
        let replays =
            std::iter::once(h.replay_lines).chain(h.rooms.values().filter_map(|r| r.replay_lines));
        for lines in replays {
            if lines > MAX_REPLAY_LINES {
                return Err(ConfigError::Invalid(format!(
                    "history replay_lines {lines} is above the maximum of {MAX_REPLAY_LINES}"
                )));
            }
        }
        for room in h.rooms.keys() {
            if let Err(e) = chatroom_core::names::validate_room(room, self.hub.room_len) {
                return Err(ConfigError::Invalid(format!("[history.rooms] {room}: {e}")));
            }
        }
        for room in &self.hub.default_rooms {
            if let Err(e) = chatroom_core::names::validate_room(room, self.hub.room_len) {
                return Err(ConfigError::Invalid(format!("default room {room}: {e}")));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_flags() {
        let dir = std::env::temp_dir().join(format!("chatroom-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("tmp dir");
        let path = dir.join("c.toml");
        std::fs::write(
            &path,
            "server_name = \"lan\"\n[listeners]\nline_port = 7000\nnick = true\n[limits]\nflood_rate = 0.0\n[hub]\ndefault_rooms = [\"#main\"]\n",
        )
        .expect("write");
        let args = ServeArgs {
            config: Some(path.clone()),
            line_port: Some(7001),
            no_irc: true,
            ..ServeArgs::default()
        };
        let cfg = Config::load(&args).expect("loads");
        assert_eq!(cfg.server_name, "lan");
        assert_eq!(cfg.listeners.line_port, 7001);
        assert!(cfg.listeners.nick);
        assert!(!cfg.listeners.irc);
        assert_eq!(cfg.limits.flood_rate, 0.0);
        assert_eq!(cfg.hub.default_rooms, vec!["#main"]);
        assert_eq!(
            cfg.limits.send_queue_bytes,
            Limits::default().send_queue_bytes
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn rooms_from_the_file_and_what_is_refused_in_them() {
        let cfg: Config = toml::from_str(
            "[hub]\nempty_room_keep_secs = 60\n\
             [[rooms]]\nname = \"#class\"\ntopic = \"Maths\"\nmodes = \"+ntk sesame\"\n\
             founder = \"teacher\"\noperators = [\"helper\"]\n\
             [[rooms]]\nname = \"#quiet\"\n",
        )
        .expect("parses");
        assert!(cfg.validate().is_ok());
        assert_eq!(cfg.hub.empty_room_keep_secs, 60);
        assert_eq!(cfg.rooms.len(), 2);
        assert_eq!(cfg.rooms[0].founder.as_deref(), Some("teacher"));
        assert_eq!(cfg.rooms[0].operators, vec!["helper"]);
        assert_eq!(cfg.rooms[1].topic, None);
        let refused = |text: &str| {
            let cfg: Config = toml::from_str(text).expect("parses");
            match cfg.validate() {
                Err(ConfigError::Invalid(why)) => why,
                other => panic!("{text}: {other:?}"),
            }
        };
        assert!(refused("[[rooms]]\nname = \"class\"\n").contains("not a room name"));
        assert!(refused("[[rooms]]\nname = \"#a\"\n[[rooms]]\nname = \"#A\"\n").contains("twice"));
        assert!(
            refused("[[rooms]]\nname = \"#a\"\noperators = [\"no one\"]\n")
                .contains("not an account name")
        );
        assert!(refused("[[rooms]]\nname = \"#a\"\nmodes = \"+nq\"\n").contains("'q'"));
        assert!(toml::from_str::<Config>("[[rooms]]\nname = \"#a\"\nowner = \"x\"\n").is_err());
    }

    #[test]
    fn the_old_send_queue_in_events_maps_onto_bytes_unless_bytes_are_given() {
        let dir = std::env::temp_dir().join(format!("chatroom-cfg-sq-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("tmp dir");
        let path = dir.join("c.toml");
        std::fs::write(&path, "[limits]\nsend_queue = 100\n").expect("write");
        let from_file = |args: ServeArgs| {
            Config::load(&ServeArgs {
                config: Some(path.clone()),
                ..args
            })
        };
        let cfg = from_file(ServeArgs::default()).expect("loads");
        assert_eq!(cfg.limits.send_queue_bytes, 100 * 512);
        std::fs::write(
            &path,
            "[limits]\nsend_queue = 100\nsend_queue_bytes = 300000\n",
        )
        .expect("write");
        let cfg = from_file(ServeArgs::default()).expect("loads");
        assert_eq!(cfg.limits.send_queue_bytes, 300_000);
        // The old flag, then the new one, over the file.
        let cfg = from_file(ServeArgs {
            send_queue: Some(8192),
            ..ServeArgs::default()
        })
        .expect("loads");
        assert_eq!(cfg.limits.send_queue_bytes, 8192 * 512);
        let cfg = from_file(ServeArgs {
            send_queue: Some(8192),
            send_queue_bytes: Some(5000),
            pause_reading_bytes: Some(2000),
            ..ServeArgs::default()
        })
        .expect("loads");
        assert_eq!(
            (cfg.limits.send_queue_bytes, cfg.limits.pause_reading_bytes),
            (5000, 2000)
        );
        let err = from_file(ServeArgs {
            pause_reading_bytes: Some(0),
            ..ServeArgs::default()
        })
        .expect_err("never reading");
        assert!(err.to_string().contains("pause_reading_bytes"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_listener_may_have_its_own_send_queue() {
        let dir = std::env::temp_dir().join(format!("chatroom-cfg-lq-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("tmp dir");
        let path = dir.join("c.toml");
        std::fs::write(
            &path,
            "[limits]\nsend_queue_bytes = 500000\n\
             [limits.listeners.web]\nsend_queue_bytes = 65536\npause_reading_bytes = 8192\n\
             [limits.listeners.line]\npause_reading_bytes = 4096\n",
        )
        .expect("write");
        let args = ServeArgs {
            config: Some(path.clone()),
            ..ServeArgs::default()
        };
        let cfg = Config::load(&args).expect("loads");
        let l = &cfg.limits;
        assert_eq!(l.queue_bytes(&l.listeners.web), (65536, 8192));
        assert_eq!(l.queue_bytes(&l.listeners.line), (500_000, 4096));
        assert_eq!(
            l.queue_bytes(&l.listeners.irc),
            (500_000, l.pause_reading_bytes)
        );
        std::fs::write(&path, "[limits.listeners.irc]\nsend_queue_bytes = 100\n").expect("write");
        let err = Config::load(&args).expect_err("too small");
        assert!(
            err.to_string()
                .contains("limits.listeners.irc.send_queue_bytes"),
            "{err}"
        );
        std::fs::write(
            &path,
            "[limits.listeners.gopher]\nsend_queue_bytes = 4096\n",
        )
        .expect("write");
        let err = Config::load(&args).expect_err("no such listener");
        assert!(err.to_string().contains("gopher"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn rejects_unknown_keys_and_bad_values() {
        let dir = std::env::temp_dir().join(format!("chatroom-cfg2-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("tmp dir");
        let path = dir.join("c.toml");
        std::fs::write(&path, "bogus = 1\n").expect("write");
        let err = Config::from_file(&path).expect_err("unknown key");
        assert!(err.to_string().contains("bogus"), "{err}");
        std::fs::write(&path, "[hub]\ndefault_rooms = [\"nohash\"]\n").expect("write");
        let args = ServeArgs {
            config: Some(path.clone()),
            ..ServeArgs::default()
        };
        assert!(Config::load(&args).is_err());
        // LINKS writes server_info as one line.
        std::fs::write(&path, "server_info = \"test server\"\n").expect("write");
        assert_eq!(
            Config::load(&args).expect("loads").server_info,
            "test server"
        );
        std::fs::write(&path, "server_info = \"two\\nlines\"\n").expect("write");
        let err = Config::load(&args).expect_err("two lines");
        assert!(err.to_string().contains("server_info"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn history_section_flags_and_overrides() {
        let dir = std::env::temp_dir().join(format!("chatroom-cfg3-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("tmp dir");
        let path = dir.join("c.toml");
        std::fs::write(
            &path,
            "[history]\nreplay_lines = 10\nmax_age_hours = 48\n\
             [history.rooms.\"#Quiet\"]\nmax_count = 0\nreplay_lines = 0\n\
             [history.rooms.\"#long\"]\nreplay_hours = 2\nmax_age_hours = 1000\n",
        )
        .expect("write");
        let args = ServeArgs {
            config: Some(path.clone()),
            history_replay_lines: Some(30),
            history_max_count: Some(500),
            ..ServeArgs::default()
        };
        let cfg = Config::load(&args).expect("loads");
        let h = &cfg.history;
        assert!(h.enabled);
        assert_eq!(h.replay_for("#lobby"), (30, None));
        assert_eq!(h.replay_for("#quiet"), (0, None));
        assert_eq!(h.replay_for("#LONG"), (30, Some(2)));
        assert!(h.limits_for("#quiet").keeps_nothing());
        assert_eq!(
            h.limits_for("#long"),
            Retain {
                max_age: Some(Duration::from_secs(1000 * 3600)),
                max_count: Some(500),
            }
        );
        assert_eq!(
            h.limits_for("#other"),
            Retain {
                max_age: Some(Duration::from_secs(48 * 3600)),
                max_count: Some(500),
            }
        );
        let off = Config::load(&ServeArgs {
            no_history: true,
            ..ServeArgs::default()
        })
        .expect("loads");
        assert!(!off.history.enabled);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn bad_history_settings_are_refused() {
        let dir = std::env::temp_dir().join(format!("chatroom-cfg4-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("tmp dir");
        let path = dir.join("c.toml");
        for (text, needle) in [
            ("[history]\nreplay_lines = 5000\n", "replay_lines"),
            ("[history]\ncompact_interval_secs = 0\n", "compact_interval"),
            ("[history.rooms.nohash]\nmax_count = 1\n", "nohash"),
            (
                "[history.rooms.\"#a\"]\nreplay_lines = 1001\n",
                "replay_lines",
            ),
            ("[history]\nmax_count = -1\n", "max_count"),
            ("[history]\nbogus = true\n", "bogus"),
            ("[history.rooms.\"#a\"]\nbogus = 1\n", "bogus"),
        ] {
            std::fs::write(&path, text).expect("write");
            let err = Config::load(&ServeArgs {
                config: Some(path.clone()),
                ..ServeArgs::default()
            })
            .expect_err(text);
            assert!(err.to_string().contains(needle), "{text}: {err}");
        }
        std::fs::remove_dir_all(&dir).ok();
    }

    /// contrib/chatroom.example.toml holds every key at its default: it
    /// parses into exactly `Config::default()`, and every key the
    /// configuration has is in it, set or (for keys without a default
    /// value, and empty lists) shown in a comment.
    #[test]
    fn the_example_file_is_the_defaults_with_every_key() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../contrib/chatroom.example.toml"
        );
        let text = std::fs::read_to_string(path).expect("the example file");
        let parsed: Config = toml::from_str(&text).expect("the example parses");
        assert_eq!(parsed, Config::default(), "the example is not the defaults");
        // Keys set in the file, by dotted path.
        let set: toml::Table = toml::from_str(&text).expect("a table");
        // Keys shown in comments: `# key = ...` under the section in force,
        // or `# [[key]]` / `# [section.key...]` headers.
        let mut section = String::new();
        let mut shown = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if let Some(header) = line.strip_prefix('[') {
                section = header
                    .trim_start_matches('[')
                    .split(']')
                    .next()
                    .unwrap_or("")
                    .to_string();
                continue;
            }
            let Some(comment) = line.strip_prefix('#') else {
                continue;
            };
            let comment = comment.trim();
            if let Some(header) = comment.strip_prefix('[') {
                let header = header
                    .trim_start_matches('[')
                    .split(']')
                    .next()
                    .unwrap_or("");
                shown.push(header.to_string());
            } else if let Some((key, _)) = comment.split_once(" = ") {
                let key = key.trim();
                if key.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                    shown.push(if section.is_empty() {
                        key.to_string()
                    } else {
                        format!("{section}.{key}")
                    });
                }
            }
        }
        fn is_set(table: &toml::Table, path: &[&str]) -> bool {
            match path {
                [] => true,
                [key, rest @ ..] => match table.get(*key) {
                    Some(toml::Value::Table(t)) => is_set(t, rest),
                    Some(_) => rest.is_empty(),
                    None => false,
                },
            }
        }
        fn walk(v: &serde_json::Value, path: String, out: &mut Vec<(String, bool)>) {
            match v {
                serde_json::Value::Object(map) if !map.is_empty() => {
                    for (k, v) in map {
                        let p = if path.is_empty() {
                            k.clone()
                        } else {
                            format!("{path}.{k}")
                        };
                        walk(v, p, out);
                    }
                }
                serde_json::Value::Null => out.push((path, true)),
                serde_json::Value::Array(a) if a.is_empty() => out.push((path, true)),
                serde_json::Value::Object(_) => out.push((path, true)),
                _ => out.push((path, false)),
            }
        }
        let mut keys = Vec::new();
        walk(
            &serde_json::to_value(Config::default()).expect("to JSON"),
            String::new(),
            &mut keys,
        );
        assert!(keys.len() > 60, "{keys:?}");
        for (key, may_be_a_comment) in keys {
            let path: Vec<&str> = key.split('.').collect();
            let found = is_set(&set, &path)
                || (may_be_a_comment
                    && shown
                        .iter()
                        .any(|s| *s == key || s.starts_with(&format!("{key}."))));
            assert!(found, "{key} is missing from contrib/chatroom.example.toml");
        }
    }

    #[test]
    fn bind_takes_an_address_or_localhost() {
        assert_eq!(parse_bind("localhost"), Ok(IpAddr::from([127, 0, 0, 1])));
        assert_eq!(parse_bind("::"), Ok("::".parse().expect("v6")));
        assert_eq!(parse_bind("[::1]"), Ok("::1".parse().expect("v6")));
        assert_eq!(parse_bind("192.0.2.7"), Ok(IpAddr::from([192, 0, 2, 7])));
        assert!(parse_bind("example.org").is_err());
        let cfg: Config = toml::from_str("bind = \"localhost\"\n").expect("localhost in a file");
        assert_eq!(cfg.bind, IpAddr::from([127, 0, 0, 1]));
        assert!(Config::default().bind.is_unspecified());
        assert!(Config::default().bind.is_ipv6());
    }

    /// `serve --help` names every listener's default port, and the number
    /// it names is the one the server uses.
    #[test]
    fn help_names_every_default_port() {
        use clap::CommandFactory;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            serve: ServeArgs,
        }
        let mut cmd = Cli::command();
        let help = cmd.render_long_help().to_string();
        let d = Config::default();
        for (flag, port) in [
            ("--line-port", d.listeners.line_port),
            ("--irc-port", d.listeners.irc_port),
            ("--tls-port", d.tls.port),
            ("--web-port", d.web.port),
            ("--web-tls-port", d.web.tls_port),
            ("--lenheader-port", d.listeners.lenheader_port),
            ("--nick-port", d.listeners.nick_port),
        ] {
            let at = help
                .find(&format!("{flag} <"))
                .unwrap_or_else(|| panic!("{flag} in {help}"));
            let next = help[at + 2..]
                .find("\n      --")
                .map_or(help.len(), |n| at + 2 + n);
            let text = &help[at..next];
            assert!(
                text.contains(&format!("[default: {port}]")),
                "{flag} does not name its default {port}: {text}"
            );
        }
    }

    #[test]
    fn exempt_networks_parse_and_match() {
        let ip = |s: &str| -> IpAddr { s.parse().expect("test address") };
        let one: Net = "127.0.0.1".parse().expect("address");
        assert!(one.contains(ip("127.0.0.1")));
        assert!(one.contains(ip("::ffff:127.0.0.1")));
        assert!(!one.contains(ip("127.0.0.2")));
        let lan: Net = "10.0.0.0/8".parse().expect("network");
        assert!(lan.contains(ip("10.200.3.4")));
        assert!(!lan.contains(ip("11.0.0.1")));
        assert!(!lan.contains(ip("::a00:1")));
        let v6: Net = "::1/128".parse().expect("network");
        assert!(v6.contains(ip("::1")));
        assert!(!v6.contains(ip("::2")));
        let mapped: Net = "::ffff:10.1.0.0/112".parse().expect("mapped");
        assert!(mapped.contains(ip("10.1.9.9")));
        let all: Net = "::/0".parse().expect("all of IPv6");
        assert!(all.contains(ip("2001:db8::1")));
        for bad in ["10.0.0.0/33", "nonsense", "::1/129", "10.0.0.1/x"] {
            assert!(bad.parse::<Net>().is_err(), "{bad}");
        }
        let dir = std::env::temp_dir().join(format!("chatroom-cfg5-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("tmp dir");
        let path = dir.join("c.toml");
        std::fs::write(&path, "[limits]\nexempt = [\"10.0.0.0/40\"]\n").expect("write");
        let err = Config::load(&ServeArgs {
            config: Some(path.clone()),
            ..ServeArgs::default()
        })
        .expect_err("bad prefix");
        assert!(err.to_string().contains("limits.exempt"), "{err}");
        std::fs::write(&path, "[limits]\nexempt = [\"127.0.0.1\", \"::1/128\"]\n").expect("write");
        let cfg = Config::load(&ServeArgs {
            config: Some(path),
            max_connects_per_ip: Some(0),
            ..ServeArgs::default()
        })
        .expect("loads");
        assert_eq!(cfg.limits.exempt_nets().expect("nets").len(), 2);
        assert_eq!(cfg.limits.max_connects_per_ip, 0);
        std::fs::remove_dir_all(&dir).ok();
    }
}
