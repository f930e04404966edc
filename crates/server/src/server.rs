//! Listeners and the accept loops: binds one TCP listener per enabled
//! protocol, raises the open-file limit, admits connections at accept time
//! within the connection limits (before any handshake; a refused TLS or
//! web connection is closed without one), backs off when out of
//! descriptors, completes the TLS handshake (bounded by a timeout) on the
//! TLS listeners, lets the web listener's HTTP (`web.rs`) run until a
//! WebSocket upgrade, hands each connection to its edge, reloads the TLS certificate on SIGHUP, and runs
//! the orderly shutdown (stop accepting, tell everyone, let writers flush,
//! close).
//!
//! No name look-ups happen here or anywhere in the server: peers are shown
//! by address, so registration never waits on DNS or ident.
//!
//! The history store is opened here, and only here by its concrete type
//! (the embedded SQLite store, in the data directory); everything after
//! takes it by concern, as `Arc<dyn ...>` of the trait it needs.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use chatroom_config::Config;
use chatroom_core::{Hub, Services};
use chatroom_proto::{irc, lenheader, line, nickhs};
use chatroom_store::{SqliteStore, Store, StoreOptions};

use super::accounts::Accounts;
use super::connection::{ConnEnv, ReadHalf, WriteHalf, drive, split_any, split_tcp};
use super::deadlines::Deadlines;
use super::hub_task::{self, Persisted};
use super::inbox::{self, HubMsg};
use super::limits::{AcceptBackoff, Admission, Admitted, ConnPermit, Rules, Tally, ceiling};
use super::live::{Live, Prototypes};
use super::logins::Logins;
use super::persist::{JournalAt, Stage, sync_room_limits};
use super::tls::{Origin, Tls};
use super::web;
use crate::session;

/// The wire protocols the server speaks, one listener each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    Line,
    Irc,
    /// IRC over TLS.
    IrcTls,
    /// The web listener: the browser app, and IRC over WebSocket.
    Web,
    /// The web listener over HTTPS.
    WebTls,
    LenHeader,
    Nick,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Line => "line",
            Protocol::Irc => "irc",
            Protocol::IrcTls => "ircs",
            Protocol::Web => "web",
            Protocol::WebTls => "web-tls",
            Protocol::LenHeader => "lenheader",
            Protocol::Nick => "nick",
        })
    }
}

/// The store as opened at bind time.
#[derive(Clone)]
struct Opened {
    store: Arc<dyn Store>,
    /// Its file, for the start-up line.
    file: std::path::PathBuf,
    /// Where the persist stage's journal goes: where the store reads it
    /// back at its next open.
    journal: JournalAt,
}

pub struct Server {
    cfg: Arc<Config>,
    listeners: Vec<(Protocol, TcpListener)>,
    tls: Option<Arc<Tls>>,
    /// The history store, when history is on.
    store: Option<Opened>,
    /// The admission rules, with the ceiling worked out from the open-file
    /// limit at bind time.
    rules: Rules,
    /// The metrics listener, when on.
    metrics: Option<TcpListener>,
    /// The admin socket (`chatroom admin`), unless it could not be opened.
    admin: Option<tokio::net::UnixListener>,
    /// The configuration as loaded, before the ports were filled in: what
    /// a reload compares the file with.
    configured: Config,
    /// Loads the configuration again for a reload (SIGHUP, `chatroom admin
    /// reload`); none: a reload only reloads the TLS certificate.
    load: Option<super::reload::LoadConfig>,
    /// The open-file limit found at start.
    nofile: Option<u64>,
    /// Set when this server is one node of a cluster.
    cluster: Option<super::link::ClusterPlug>,
    /// Installed at bind time, so a SIGHUP that arrives once the addresses
    /// are printed reloads instead of killing the process.
    #[cfg(unix)]
    hangup: Option<tokio::signal::unix::Signal>,
}

impl Server {
    /// Binds every enabled listener. Fails (with the address) if any cannot.
    pub async fn bind(cfg: Config) -> anyhow::Result<Server> {
        // Before any file is opened: the store, the listeners and every
        // connection come out of the same limit.
        let configured = cfg.clone();
        let nofile = super::descriptors::raise();
        let limits = &cfg.limits;
        let total = ceiling(
            limits.max_connections,
            nofile.soft,
            limits.descriptor_reserve,
        );
        let rules = Rules::from_config(limits, total)?;
        let at_most = if total == 0 {
            "no limit on connections".to_string()
        } else {
            format!("at most {total} connections at once")
        };
        tracing::info!(
            "descriptors: {}; {at_most} (limits.max_connections {}, descriptor_reserve {})",
            nofile.describe(),
            limits.max_connections,
            limits.descriptor_reserve
        );
        // First, so that a bad data directory or database stops the server
        // before it listens anywhere (and before TLS writes into it).
        let store = if cfg.history.enabled {
            let opts = StoreOptions {
                sync_every_commit: cfg.history.sync_every_commit,
                // The persist stage's maintenance thread checkpoints.
                background_checkpoints: true,
                ..StoreOptions::default()
            };
            let journal = JournalAt {
                dir: cfg.data_dir.clone(),
                sync_every_write: opts.sync_every_commit,
            };
            let dir = cfg.data_dir.clone();
            let history = cfg.history.clone();
            let store = tokio::task::spawn_blocking(move || {
                let store = SqliteStore::open_with(&dir, opts)?;
                sync_room_limits(&store, &history)?;
                Ok::<_, chatroom_store::StoreError>(store)
            })
            .await
            .context("history: opening the store failed")?
            .map_err(|e| anyhow::anyhow!("history: {e}"))?;
            Some(Opened {
                file: store.path().to_path_buf(),
                store: Arc::new(store),
                journal,
            })
        } else {
            None
        };
        let mut cfg = cfg;
        cfg.bind = super::listen::effective_bind(cfg.bind);
        let l = &cfg.listeners;
        let mut wanted = vec![
            (l.line, Protocol::Line, l.line_port),
            (l.irc, Protocol::Irc, l.irc_port),
            (l.lenheader, Protocol::LenHeader, l.lenheader_port),
            (l.nick, Protocol::Nick, l.nick_port),
        ];
        let mut tls = None;
        if cfg.tls.enabled {
            tls = Some(Arc::new(Tls::setup(&cfg)?));
            wanted.push((true, Protocol::IrcTls, cfg.tls.port));
        }
        let w = &cfg.web;
        wanted.push((w.enabled, Protocol::Web, w.port));
        wanted.push((
            w.enabled && w.tls_enabled && tls.is_some(),
            Protocol::WebTls,
            w.tls_port,
        ));
        let mut listeners = Vec::new();
        for (on, proto, port) in wanted {
            if !on {
                continue;
            }
            let addr = SocketAddr::new(cfg.bind, port);
            let listener = super::listen::bind(addr).with_context(|| {
                format!(
                    "cannot listen for {proto} on {addr} (change it with {})",
                    super::listen::port_flag(proto)
                )
            })?;
            listeners.push((proto, listener));
        }
        let metrics = if cfg.metrics.enabled {
            let addr = cfg.metrics.addr;
            let listener = super::listen::bind(addr).with_context(|| {
                format!(
                    "cannot listen for metrics on {addr} (change it with --metrics-addr, or turn it off with --no-metrics)"
                )
            })?;
            if let Ok(real) = listener.local_addr() {
                cfg.metrics.addr = real;
            }
            Some(listener)
        } else {
            None
        };
        // From here on the configuration holds the ports really taken (a
        // port of 0 became a free one): hints that name another listener's
        // port, and the LAN announcement, read them there.
        for (proto, listener) in &listeners {
            let Ok(port) = listener.local_addr().map(|a| a.port()) else {
                continue;
            };
            match proto {
                Protocol::Line => cfg.listeners.line_port = port,
                Protocol::Irc => cfg.listeners.irc_port = port,
                Protocol::LenHeader => cfg.listeners.lenheader_port = port,
                Protocol::Nick => cfg.listeners.nick_port = port,
                Protocol::IrcTls => cfg.tls.port = port,
                Protocol::Web => cfg.web.port = port,
                Protocol::WebTls => cfg.web.tls_port = port,
            }
        }
        // After the store: its lock keeps a second server off this data
        // directory. Without it the server still runs.
        let admin = match super::admin::bind(&cfg.data_dir) {
            Ok(l) => Some(l),
            Err(e) => {
                tracing::warn!(
                    "admin: no admin socket in {}: {e:#}",
                    cfg.data_dir.display()
                );
                None
            }
        };
        #[cfg(unix)]
        let hangup = {
            use tokio::signal::unix::{SignalKind, signal};
            match signal(SignalKind::hangup()) {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::warn!("cannot listen for SIGHUP: {e}");
                    None
                }
            }
        };
        Ok(Server {
            cfg: Arc::new(cfg),
            listeners,
            tls,
            store,
            rules,
            metrics,
            admin,
            configured,
            load: None,
            nofile: nofile.soft,
            cluster: None,
            #[cfg(unix)]
            hangup,
        })
    }

    /// The line telling people how to check the TLS certificate, if TLS is on.
    pub fn tls_line(&self) -> Option<String> {
        let tls = self.tls.as_ref()?;
        let whence = match tls.origin() {
            Origin::Configured => format!("from {}", tls.cert_path().display()),
            Origin::Generated => format!(
                "self-signed, generated now, kept in {}",
                tls.cert_path().display()
            ),
            Origin::Reused => format!("self-signed, from {}", tls.cert_path().display()),
        };
        Some(format!(
            "tls: SHA-256 fingerprint {} ({whence})",
            tls.fingerprint()
        ))
    }

    /// Runs this server as one node of a cluster (see `link`).
    pub fn join_cluster(&mut self, plug: super::link::ClusterPlug) {
        self.cluster = Some(plug);
    }

    /// How to reload the configuration (SIGHUP, `chatroom admin reload`):
    /// `load` reads it again as at start.
    pub fn on_reload(&mut self, load: super::reload::LoadConfig) {
        self.load = Some(load);
    }

    /// The line saying where the admin socket is, if it is open.
    pub fn admin_line(&self) -> Option<String> {
        self.admin.as_ref()?;
        Some(format!(
            "admin: chatroom admin --data-dir {} status",
            self.cfg.data_dir.display()
        ))
    }

    /// The line saying where the metrics are, if they are on.
    pub fn metrics_line(&self) -> Option<String> {
        let addr = self.metrics.as_ref()?.local_addr().ok()?;
        Some(format!(
            "metrics: http://{addr}/metrics (and /healthz, /readyz)"
        ))
    }

    /// The line saying where the history is kept (or that it is off).
    pub fn history_line(&self) -> String {
        match &self.store {
            Some(opened) => format!("history: {}", opened.file.display()),
            None => "history: off (nothing is kept)".to_string(),
        }
    }

    /// Where each protocol is listening (with the real port when 0 was asked).
    pub fn local_addrs(&self) -> Vec<(Protocol, SocketAddr)> {
        self.listeners
            .iter()
            .filter_map(|(p, l)| l.local_addr().ok().map(|a| (*p, a)))
            .collect()
    }

    /// Lines telling people how to reach the server: for each address of
    /// this machine when listening on all interfaces (loopback left out
    /// unless there is nothing else), else for the bound address, the chat
    /// listeners and the web addresses; then the netcat command.
    pub fn reach_lines(&self) -> Vec<String> {
        let interfaces: Vec<IpAddr> = if self.cfg.bind.is_unspecified() {
            if_addrs::get_if_addrs()
                .unwrap_or_default()
                .into_iter()
                .map(|i| i.ip())
                .collect()
        } else {
            Vec::new()
        };
        let ips = super::banner::reachable(self.cfg.bind, &interfaces);
        // The `.local` name reaches the server when it answers for it.
        let name = super::mdns::wanted(&self.cfg)
            .then(super::banner::local_name)
            .flatten();
        super::banner::lines(&self.local_addrs(), &ips, name.as_deref())
    }

    /// Serves until `stop` resolves, then shuts down in order.
    pub async fn run(self, stop: impl std::future::Future<Output = ()>) -> anyhow::Result<()> {
        let cfg = self.cfg.clone();
        if let Some(events) = cfg.limits.send_queue {
            tracing::warn!(
                "limits.send_queue (--send-queue) is deprecated: {events} events stand for send_queue_bytes = {}; give send_queue_bytes (--send-queue-bytes) instead",
                cfg.limits.send_queue_bytes
            );
        }
        let mut core = Hub::new(cfg.hub.clone(), Arc::new(WallClock));
        // Every message fits one IRC line, the narrowest any edge relays.
        core.fit_text_with(chatroom_proto::irc::text_fit);
        let history = match self.store.clone() {
            None => None,
            Some(Opened { store, journal, .. }) => {
                let reader = store.clone();
                let last = tokio::task::spawn_blocking(move || reader.last_id())
                    .await
                    .context("history: reading the last msgid failed")?
                    .map_err(|e| anyhow::anyhow!("history: {e}"))?;
                core.continue_ids_after(last);
                // Registered rooms exist before anyone can connect.
                let reader = store.clone();
                let rooms =
                    tokio::task::spawn_blocking(move || super::persist::saved_rooms(&*reader))
                        .await
                        .context("rooms: loading failed")?
                        .map_err(|e| anyhow::anyhow!("rooms: {e}"))?;
                for saved in rooms {
                    let name = saved.name.clone();
                    if let Err(e) = core.seed_room(saved) {
                        tracing::warn!("rooms: not restoring {name}: {e}");
                    }
                }
                // Where everyone had read to, for their next join.
                let reader = store.clone();
                let markers = tokio::task::spawn_blocking(move || reader.load_read_markers())
                    .await
                    .context("read markers: loading failed")?
                    .map_err(|e| anyhow::anyhow!("read markers: {e}"))?;
                for m in markers {
                    core.seed_read_marker(&m.account, &m.target, m.at);
                }
                core.keep_notes();
                let stage = Stage::start(
                    store.clone(),
                    journal,
                    Arc::new(cfg.history.clone()),
                    // What a joiner's queue could hold of the smallest
                    // events, held while its replay is read.
                    cfg.limits.send_queue_bytes / super::outbound::LINE,
                )
                .context("history: cannot start the writer")?;
                Some(Persisted {
                    history: store.clone(),
                    search: store,
                    stage,
                })
            }
        };
        // The configuration's rooms, over the registered ones restored
        // above; nobody is connected yet to be told anything.
        let mut told: Vec<(chatroom_core::ConnId, Arc<chatroom_core::Event>)> = Vec::new();
        for problem in core.configure_rooms(&cfg.rooms, &mut told) {
            tracing::warn!("rooms: {problem}");
        }
        // Everyone who talks to the hub holds its inbox's sending end; the
        // hub task, started below, the receiving end.
        let (hub, inbox) = inbox::channel();
        // Every password check (accounts and operators) goes through it.
        let logins = Arc::new(Logins::new(&cfg));
        // Accounts live in the history store: without it there are none.
        let accounts = match (self.store.as_ref().map(|o| &o.store), cfg.accounts.enabled) {
            (Some(store), true) => {
                let s = store.clone();
                let names = tokio::task::spawn_blocking(move || s.account_names())
                    .await
                    .context("accounts: loading failed")?
                    .map_err(|e| anyhow::anyhow!("accounts: {e}"))?;
                core.seed_accounts(names);
                Some(Arc::new(Accounts::new(
                    cfg.clone(),
                    store.clone(),
                    logins.clone(),
                    hub.clone(),
                )))
            }
            _ => None,
        };
        core.set_services(Services {
            hold_offline: accounts.is_some() && cfg.accounts.offline_messages,
            nick_grace: accounts.as_ref().and(cfg.accounts.nick_grace()),
            replay: history.is_some(),
        });
        let metrics = Arc::new(super::metrics::Metrics::new());
        let bans = Arc::new(super::admin::Bans::load(&cfg.data_dir));
        let link = self.cluster.map(|plug| {
            core.use_id_slot(plug.id_slot);
            core.keep_departures();
            let (tx, shouts) = tokio::sync::mpsc::unbounded_channel();
            (plug.start)(super::link::LinkPorts {
                shouts,
                hub: hub.clone(),
                history: self.store.as_ref().map(|o| {
                    let h: Arc<dyn chatroom_store::HistoryStore> = o.store.clone();
                    h
                }),
            });
            super::link::Link::new(tx, plug.up)
        });
        let hub_task = hub_task::spawn(
            core,
            inbox,
            history,
            accounts.clone(),
            metrics.clone(),
            bans.clone(),
            link,
        );
        let (deadlines, deadlines_task) = Deadlines::start(
            cfg.limits.registration_timeout(),
            Some(chatroom_proto::irc::session::liveness(&cfg)),
        );
        let env = ConnEnv {
            cfg: cfg.clone(),
            hub: hub.clone(),
            accounts,
            logins,
            certfp: None,
            deadlines,
            metrics: metrics.clone(),
            bans: bans.clone(),
            budget: budget(Protocol::Line, &cfg.limits),
        };
        let admission = Admission::new(self.rules.clone());
        let live = Live::new(cfg.clone());
        let reloader = Arc::new(super::reload::Reloader::new(
            self.load.clone(),
            self.configured.clone(),
            cfg.clone(),
            live.clone(),
            self.tls.clone(),
            admission.clone(),
            hub.clone(),
            self.nofile,
        ));
        #[cfg(unix)]
        let hangups = self
            .hangup
            .map(|hup| tokio::spawn(reload_on_hangup(hup, reloader.clone())));
        let ready = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop_metrics = CancellationToken::new();
        if let Some(listener) = self.metrics {
            let probe = super::metrics::Probe {
                metrics: metrics.clone(),
                hub: hub.clone(),
                admission: admission.clone(),
                ready: ready.clone(),
                history_files: history_files(self.store.as_ref(), &cfg),
            };
            tokio::spawn(super::metrics::serve(listener, probe, stop_metrics.clone()));
        }
        if let Some(listener) = self.admin {
            let admin = super::admin::Admin {
                hub: hub.clone(),
                admission: admission.clone(),
                bans: bans.clone(),
                reloader: reloader.clone(),
                started: Instant::now(),
                since: std::time::SystemTime::now(),
                listeners: self
                    .listeners
                    .iter()
                    .filter_map(|(p, l)| l.local_addr().ok().map(|a| (*p, a)))
                    .collect(),
                history: self.store.as_ref().map(|o| o.file.clone()),
                history_files: history_files(self.store.as_ref(), &cfg),
                identity: Arc::new(chatroom_core::UserInfo {
                    nick: cfg.server_name.as_str().into(),
                    user: "admin".into(),
                    realname: cfg.server_info.as_str().into(),
                    host: cfg.server_name.as_str().into(),
                    account: None,
                    bot: false,
                }),
            };
            tokio::spawn(super::admin::serve(
                listener,
                Arc::new(admin),
                stop_metrics.clone(),
            ));
        }
        let next_id = Arc::new(AtomicU64::new(1));
        let tracker = TaskTracker::new();
        let stop_accepting = CancellationToken::new();
        let mut accepts = Vec::new();
        for (proto, listener) in self.listeners {
            let acceptor = match proto {
                Protocol::IrcTls => self.tls.as_ref().map(|t| t.acceptor()),
                Protocol::WebTls => self.tls.as_ref().map(|t| t.web_acceptor()),
                _ => None,
            };
            accepts.push(tokio::spawn(accept_loop(
                proto,
                listener,
                acceptor,
                env.clone(),
                live.clone(),
                admission.clone(),
                next_id.clone(),
                tracker.clone(),
                stop_accepting.clone(),
            )));
        }
        // Announced on the LAN once every listener accepts.
        let announcer = match super::banner::local_name() {
            Some(name) if super::mdns::wanted(&cfg) => {
                let fp = self.tls.as_ref().map(|t| t.fingerprint());
                match super::mdns::announce(&cfg, &name, fp.as_deref()) {
                    Ok(a) => {
                        tracing::info!("mdns: announced as {}", a.names().join(", "));
                        Some(a)
                    }
                    Err(e) => {
                        tracing::warn!("mdns: cannot announce the server on the LAN: {e}");
                        None
                    }
                }
            }
            None if super::mdns::wanted(&cfg) => {
                tracing::warn!(
                    "mdns: this machine's host name is not usable on the LAN; not announced"
                );
                None
            }
            _ => None,
        };
        ready.store(true, Ordering::Relaxed);
        stop.await;
        ready.store(false, Ordering::Relaxed);
        if let Some(a) = announcer {
            // Goodbye packets first, so that the LAN forgets the server.
            let _ = tokio::task::spawn_blocking(move || a.withdraw()).await;
        }
        tracing::info!("shutting down");
        stop_accepting.cancel();
        for a in accepts {
            let _ = a.await;
        }
        let (done_tx, done_rx) = oneshot::channel();
        let _ = hub
            .send(HubMsg::Shutdown {
                reason: "Server shutting down".to_string(),
                done: done_tx,
            })
            .await;
        let _ = done_rx.await;
        tracker.close();
        let grace = Duration::from_secs(cfg.limits.shutdown_grace_secs);
        if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
            tracing::warn!("some connections did not close within {grace:?}");
        }
        stop_metrics.cancel();
        drop(hub);
        hub_task.abort();
        deadlines_task.abort();
        #[cfg(unix)]
        if let Some(r) = hangups {
            r.abort();
        }
        Ok(())
    }
}

/// Reloads the configuration and the TLS certificate on each SIGHUP (see
/// `reload.rs`; what it changed is logged).
#[cfg(unix)]
async fn reload_on_hangup(
    mut hup: tokio::signal::unix::Signal,
    reloader: Arc<super::reload::Reloader>,
) {
    while hup.recv().await.is_some() {
        tracing::info!("SIGHUP: reloading");
        reloader.reload().await;
    }
}

/// The history's files (the database, its WAL, the search index and its
/// WAL), for their size; none with history off.
fn history_files(store: Option<&Opened>, cfg: &Config) -> Vec<std::path::PathBuf> {
    let Some(opened) = store else {
        return Vec::new();
    };
    let with = |suffix: &str| {
        let mut name = opened.file.clone().into_os_string();
        name.push(suffix);
        std::path::PathBuf::from(name)
    };
    let search = cfg.data_dir.join("search.db");
    vec![
        opened.file.clone(),
        with("-wal"),
        search.clone(),
        search.with_extension("db-wal"),
    ]
}

/// Completes the TLS handshake, or gives up after `limit`: a peer that
/// stalls or sends something other than TLS is dropped here, before it
/// reaches the hub, and costs nobody else anything.
async fn handshake(
    acceptor: &TlsAcceptor,
    stream: TcpStream,
    limit: Duration,
    peer: SocketAddr,
) -> Option<(tokio_rustls::server::TlsStream<TcpStream>, Option<String>)> {
    match tokio::time::timeout(limit, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => {
            // The client certificate, if one was presented (SASL EXTERNAL).
            let certfp = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|c| super::tls::fingerprint(c));
            Some((tls, certfp))
        }
        Ok(Err(e)) => {
            tracing::info!(%peer, "TLS handshake failed: {e}");
            None
        }
        Err(_) => {
            tracing::info!(%peer, "TLS handshake timed out after {limit:?}");
            None
        }
    }
}

/// Turns an accepted socket into the byte stream its protocol's edge reads:
/// as it is, after the TLS handshake, or after the web listener's HTTP
/// ending in a WebSocket upgrade; with the fingerprint of the TLS client
/// certificate, if one was presented. `None` when the handshake failed
/// (already logged) or the connection ended as plain HTTP.
async fn open(
    proto: Protocol,
    stream: TcpStream,
    acceptor: Option<&TlsAcceptor>,
    cfg: &Arc<Config>,
    peer: SocketAddr,
) -> Option<((ReadHalf, WriteHalf), Option<String>)> {
    let limit = cfg.tls.handshake_timeout();
    match (proto, acceptor) {
        (Protocol::Web, _) => web::serve(stream, cfg, peer)
            .await
            .map(|ws| (split_any(ws), None)),
        (Protocol::WebTls, Some(a)) => {
            let (tls, _) = handshake(a, stream, limit, peer).await?;
            web::serve(tls, cfg, peer)
                .await
                .map(|ws| (split_any(ws), None))
        }
        (_, Some(a)) => {
            let (tls, certfp) = handshake(a, stream, limit, peer).await?;
            Some((split_any(tls), certfp))
        }
        (_, None) => Some((split_tcp(stream), None)),
    }
}

/// Whether an accept failed because of the one connection (reset or
/// aborted before it was accepted, refused by a firewall rule): the next
/// accept may well succeed at once. Anything else, above all running out
/// of descriptors (`EMFILE`, `ENFILE`) or of buffer memory (`ENOBUFS`,
/// `ENOMEM`), is waited out: retrying at once would spin.
fn one_connection_only(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionReset, Interrupted};
    matches!(e.kind(), ConnectionAborted | ConnectionReset | Interrupted)
        || matches!(e.raw_os_error(), Some(libc::EPROTO | libc::EPERM))
}

/// How often refusals and accept failures are told in the log at most.
const LOG_EVERY: Duration = Duration::from_secs(10);

#[allow(clippy::too_many_arguments)]
async fn accept_loop(
    proto: Protocol,
    listener: TcpListener,
    acceptor: Option<TlsAcceptor>,
    env: ConnEnv,
    live: Arc<Live>,
    admission: Arc<Admission>,
    next_id: Arc<AtomicU64>,
    tracker: TaskTracker,
    stop: CancellationToken,
) {
    let handshakes = proto == Protocol::Web || acceptor.is_some();
    let mut backoff = AcceptBackoff::default();
    let mut refused = Tally::default();
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => return,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok((stream, peer)) => {
                backoff.succeeded();
                (stream, super::listen::canonical(peer))
            }
            Err(e) if one_connection_only(&e) => {
                tracing::debug!(%proto, "accept failed: {e}");
                continue;
            }
            Err(e) => {
                let step = backoff.failed(Instant::now());
                if let Some(n) = step.log {
                    tracing::warn!(
                        %proto,
                        "accept failed {n} time(s) since the last report, backing off: {e}"
                    );
                }
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(step.sleep) => {}
                }
                continue;
            }
        };
        if let Some(reason) = env.bans.refusal(peer.ip()) {
            env.metrics.banned();
            let reason = format!("Banned: {reason}");
            tracing::debug!(%proto, %peer, "refused: {reason}");
            if let Some(n) = refused.hit(Instant::now(), LOG_EVERY) {
                tracing::info!(
                    %proto,
                    "refused {n} connection(s) since the last report; the latest from {peer}: {reason}"
                );
            }
            if !handshakes {
                refuse_now(stream, &refusal_bytes(proto, &env.cfg, &reason));
            }
            continue;
        }
        let Admitted { conn, handshake } = match admission.admit(
            peer.ip(),
            handshakes,
            Instant::now(),
        ) {
            Ok(a) => a,
            Err(refusal) => {
                env.metrics.refused(refusal);
                tracing::debug!(%proto, %peer, "refused: {}", refusal.reason());
                if let Some(n) = refused.hit(Instant::now(), LOG_EVERY) {
                    tracing::info!(
                        %proto,
                        "refused {n} connection(s) since the last report; the latest from {peer}: {}",
                        refusal.reason()
                    );
                }
                if !handshakes {
                    // One short line in the protocol's own form, then close.
                    refuse_now(stream, &refusal_bytes(proto, &env.cfg, refusal.reason()));
                }
                // A TLS or WebSocket connection is closed as it is: a
                // handshake to say why would cost what the refusal saves.
                continue;
            }
        };
        if let Some(n) = refused.flush(Instant::now(), LOG_EVERY) {
            tracing::info!(%proto, "refused {n} connection(s) since the last report");
        }
        env.metrics.accepted(proto);
        // The configuration in force now (a reload may have replaced it).
        let (cfg, protos) = live.get();
        let env = ConnEnv { cfg, ..env.clone() };
        let id = next_id.fetch_add(1, Ordering::Relaxed);
        tracing::info!(%proto, %peer, conn = id, "accepted");
        // Chat lines are small and latency matters more than packet
        // count; coalescing happens in the writer instead.
        let _ = stream.set_nodelay(true);
        if handshakes {
            let (acceptor, env, protos, tracker) = (
                acceptor.clone(),
                env.clone(),
                protos.clone(),
                tracker.clone(),
            );
            // A short task of its own for the TLS handshake or the
            // WebSocket upgrade, whose state is large and needed only for
            // the first moments; the connection's own task starts once it
            // is done. Both permits are held through it, so a stalled
            // handshake counts against the per-address limits until it
            // ends, however it ends.
            tracker.clone().spawn(async move {
                let opened = open(proto, stream, acceptor.as_ref(), &env.cfg, peer).await;
                drop(handshake);
                if let Some((halves, certfp)) = opened {
                    let env = ConnEnv { certfp, ..env };
                    serve(proto, halves, peer, id, &env, &protos, &tracker, conn);
                }
            });
        } else {
            serve(
                proto,
                split_tcp(stream),
                peer,
                id,
                &env,
                &protos,
                &tracker,
                conn,
            )
        }
    }
}

/// Starts one admitted connection's task with its protocol's edge.
///
/// The task's future is the connection's own (`drive`), spawned as it is:
/// no wrapper future and no box around it, so each connection costs one
/// task allocation the size of its own protocol's state (a wrapper that
/// awaited it kept copies of its arguments; measured with heaptrack).
#[allow(clippy::too_many_arguments)]
fn serve(
    proto: Protocol,
    stream: (ReadHalf, WriteHalf),
    peer: SocketAddr,
    id: u64,
    env: &ConnEnv,
    protos: &Prototypes,
    tracker: &TaskTracker,
    permit: ConnPermit,
) {
    let cfg = &env.cfg;
    let env = ConnEnv {
        budget: budget(proto, &cfg.limits),
        ..env.clone()
    };
    // Each arm is a different future type, each spawned at its own size.
    macro_rules! run {
        ($renderer:expr, $session:expr) => {{
            let fut = drive(stream, peer, id, env, $renderer, $session, permit);
            tracker.spawn(fut);
        }};
    }
    match proto {
        Protocol::Line => run!(line::renderer(cfg), session::line::session),
        Protocol::Irc => run!(protos.irc.for_new_connection(), session::irc::run),
        Protocol::IrcTls => run!(protos.irc.for_new_connection(), session::irc::run_secure),
        Protocol::Web => run!(protos.irc.for_new_connection(), session::irc::run),
        Protocol::WebTls => run!(protos.irc.for_new_connection(), session::irc::run_secure),
        Protocol::LenHeader => run!(lenheader::renderer(cfg), session::lenheader::session),
        Protocol::Nick => run!(nickhs::renderer(cfg), session::nickhs::session),
    }
}

/// The outbound limits of a connection on `proto`'s listener.
fn budget(proto: Protocol, limits: &chatroom_config::Limits) -> super::outbound::Budget {
    let l = &limits.listeners;
    let over = match proto {
        Protocol::Line => &l.line,
        Protocol::Irc => &l.irc,
        Protocol::IrcTls => &l.ircs,
        Protocol::Web => &l.web,
        Protocol::WebTls => &l.web_tls,
        Protocol::LenHeader => &l.lenheader,
        Protocol::Nick => &l.nick,
    };
    let (limit, pause) = limits.queue_bytes(over);
    super::outbound::Budget::new(limit, pause)
}

/// The one line telling a refused client why, in its protocol's own form.
fn refusal_bytes(proto: Protocol, cfg: &Config, reason: &str) -> bytes::BytesMut {
    use chatroom_proto::Renderer;
    let event = chatroom_proto::Envelope::new(chatroom_core::Event::Closing {
        reason: reason.into(),
    });
    let mut buf = bytes::BytesMut::new();
    match proto {
        Protocol::Line => line::renderer(cfg).render(&event, &mut buf),
        Protocol::Irc | Protocol::IrcTls | Protocol::Web | Protocol::WebTls => {
            irc::renderer(cfg).render(&event, &mut buf)
        }
        Protocol::LenHeader => lenheader::renderer(cfg).render(&event, &mut buf),
        Protocol::Nick => nickhs::renderer(cfg).render(&event, &mut buf),
    }
    buf
}

/// Writes `bytes` to a connection that was not admitted and closes it, at
/// once and in the accept loop: a fresh socket's send buffer takes one
/// short line without waiting, and a refusal that waited (in a task of its
/// own) would hold its descriptor meanwhile, so a flood of refused
/// connections could still take every descriptor. If the line does not
/// fit, the connection is closed without it.
fn refuse_now(stream: TcpStream, bytes: &[u8]) {
    use std::io::Write;
    let Ok(mut stream) = stream.into_std() else {
        return;
    };
    let _ = stream.write(bytes);
    let _ = stream.shutdown(std::net::Shutdown::Write);
}

/// The hub's clock: the system's wall clock.
struct WallClock;

impl chatroom_core::Clock for WallClock {
    fn now(&self) -> std::time::SystemTime {
        std::time::SystemTime::now()
    }
}
