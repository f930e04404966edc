//! One node's tasks: connecting to NATS, publishing what the hub task
//! shouts (in order, on one connection), receiving what the other nodes
//! publish and handing it to the hub task, heartbeats, and noticing nodes
//! that went silent or restarted.
//!
//! Must not touch the hub's state except through its inbox, and must not
//! make the hub task wait: everything here runs on its own tasks.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::StreamExt;
use tokio::sync::{mpsc, oneshot};
use tokio::task::AbortHandle;

use chatroom_config::{Cluster, Config};
use chatroom_core::names::Key;
use chatroom_server::inbox::{HubHandle, HubMsg};
use chatroom_server::link::{ClusterPlug, LinkPorts, NodeName, Remote, Shout};

use crate::claims::{Ask, Claims, Peers};
use crate::journal::Journal;
use crate::js::{Bucket, Js, KvError};
use crate::names::{Names, valid_node_name};
use crate::wire::{Body, Envelope, WireCmd, WirePerson, WireRoom, WireSaid};

/// Connects to NATS and claims this node's msgid slot; the plug starts
/// the node's tasks when the server's hub task starts.
pub async fn plug(cfg: &Config) -> anyhow::Result<ClusterPlug> {
    let c = &cfg.cluster;
    let node = c
        .node_name
        .clone()
        .unwrap_or_else(|| cfg.server_name.clone());
    if !valid_node_name(&node) {
        anyhow::bail!(
            "cluster: node name {node:?} must be 1-64 letters, digits, '-' or '_' (--node-name)"
        );
    }
    let up = Arc::new(AtomicBool::new(false));
    let client = connect(c, &node, up.clone()).await?;
    up.store(true, Ordering::Release);
    let names = Names::new(&c.prefix);
    let js = Js::new(
        client.clone(),
        Duration::from_millis(c.ack_timeout_ms.max(100)),
    );
    let slot = claim_slot(&js, &names, &node, c.replicas)
        .await
        .context("cluster: claiming this node's msgid slot")?;
    let max_age = Duration::from_secs(c.stream_max_age_days.saturating_mul(86_400));
    js.ensure_stream(serde_json::json!({
        "name": names.history_stream(),
        "subjects": [names.history_all()],
        "retention": "limits",
        "max_age": max_age.as_nanos() as u64,
        "storage": "file",
        "num_replicas": c.replicas.max(1),
        "discard": "old",
    }))
    .await
    .context("cluster: making the history stream")?;
    let nicks = Bucket::open(&js, &names.nicks_bucket(), c.replicas, Duration::ZERO)
        .await
        .context("cluster: opening the nicknames bucket")?;
    tracing::info!(node = %node, slot, "cluster: connected to NATS");
    let me: NodeName = node.into();
    let run = run_id();
    let peers = Peers::default();
    let claims = Claims {
        bucket: nicks,
        names: names.clone(),
        me: me.clone(),
        run,
        peers: peers.clone(),
        started: Instant::now(),
        lost_after: Duration::from_millis(c.lost_after_ms),
    };
    let node = Node {
        up: up.clone(),
        client,
        names,
        me,
        run,
        cfg: c.clone(),
        peers,
        claims: std::sync::Mutex::new(Some(claims)),
    };
    Ok(ClusterPlug {
        id_slot: slot,
        up,
        start: Box::new(move |ports| {
            tokio::spawn(node.run(ports));
        }),
    })
}

async fn connect(
    c: &Cluster,
    node: &str,
    up: Arc<AtomicBool>,
) -> anyhow::Result<async_nats::Client> {
    let mut opts = async_nats::ConnectOptions::new()
        .name(format!("chatroom node {node}"))
        // A node never needs its own publishes back (a room it follows
        // would return each of its messages to it).
        .no_echo()
        .retry_on_initial_connect()
        .max_reconnects(None)
        .event_callback(move |event| {
            let up = up.clone();
            async move {
                match event {
                    async_nats::Event::Connected => {
                        tracing::info!("cluster: connected to NATS");
                        up.store(true, Ordering::Release);
                    }
                    async_nats::Event::Disconnected => {
                        tracing::warn!(
                            "cluster: NATS is unreachable; messages are refused until it is back"
                        );
                        up.store(false, Ordering::Release);
                    }
                    other => tracing::info!("cluster: {other}"),
                }
            }
        });
    if let Some(path) = &c.credentials_file {
        opts = opts
            .credentials_file(path)
            .await
            .with_context(|| format!("cluster: reading {}", path.display()))?;
    }
    if let (Some(user), Some(password)) = (&c.user, &c.password) {
        opts = opts.user_and_password(user.clone(), password.clone());
    }
    if let Some(token) = &c.token {
        opts = opts.token(token.clone());
    }
    if let Some(ca) = &c.tls_ca {
        opts = opts.add_root_certificates(ca.clone());
    }
    if let (Some(cert), Some(key)) = (&c.tls_cert, &c.tls_key) {
        opts = opts.add_client_certificate(cert.clone(), key.clone());
    }
    opts = opts.require_tls(c.require_tls);
    let urls: Vec<async_nats::ServerAddr> = c
        .urls
        .iter()
        .map(|u| u.parse())
        .collect::<Result<_, _>>()
        .context("cluster: a NATS URL is not valid")?;
    // With retry_on_initial_connect the client comes back at once and
    // connects in the background; wait (boundedly) for the first
    // connection so that a wrong address fails the start clearly.
    let client = opts
        .connect(urls)
        .await
        .context("cluster: cannot connect to NATS")?;
    let deadline = Instant::now() + Duration::from_secs(c.ack_timeout_ms.max(1000) / 1000 * 3);
    while client.connection_state() != async_nats::connection::State::Connected {
        if Instant::now() > deadline {
            anyhow::bail!("cluster: cannot reach NATS at {}", c.urls.join(", "));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(client)
}

/// This node's msgid slot: the first slot, from one picked by the node's
/// name, that is free or already this node's (a create is atomic: two
/// nodes never hold the same slot).
async fn claim_slot(js: &Js, names: &Names, node: &str, replicas: usize) -> anyhow::Result<u16> {
    let kv = Bucket::open(js, &names.slots_bucket(), replicas, Duration::ZERO)
        .await
        .context("opening the slots bucket")?;
    let slots = 1u32 << chatroom_core::hub::SLOT_BITS;
    let start = node
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)))
        % slots;
    for i in 0..slots {
        let slot = (start + i) % slots;
        let key = format!("s{slot}");
        match kv.create(&key, node.as_bytes().to_vec()).await {
            Ok(_) => return Ok(slot as u16),
            Err(KvError::Lost) => {
                if kv
                    .get(&key)
                    .await?
                    .is_some_and(|e| e.value == node.as_bytes())
                {
                    return Ok(slot as u16);
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    anyhow::bail!("every msgid slot is taken")
}

/// A number for this run of the node, different at each start.
fn run_id() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (now.as_nanos() as u64) ^ (u64::from(std::process::id()) << 32)
}

struct Node {
    /// Connected to NATS now.
    up: Arc<AtomicBool>,
    client: async_nats::Client,
    names: Names,
    me: NodeName,
    run: u64,
    cfg: Cluster,
    peers: Peers,
    /// Taken by `run`, which starts its task.
    claims: std::sync::Mutex<Option<Claims>>,
}

/// What the other nodes are known to be.
struct Peer {
    run: u64,
    seen: Instant,
}

impl Node {
    fn envelope(&self, body: Body) -> bytes::Bytes {
        Envelope {
            node: self.me.to_string(),
            run: self.run,
            body,
        }
        .encode()
        .into()
    }

    async fn run(self, ports: LinkPorts) {
        let node = Arc::new(self);
        let (in_tx, in_rx) = mpsc::channel::<async_nats::Message>(8192);
        let inbox = node.client.new_inbox();
        for subject in [
            node.names.events(),
            node.names.node(&node.me),
            node.names.heartbeats(),
            node.names.ask(),
            inbox.clone(),
        ] {
            match node.client.subscribe(subject.clone()).await {
                Ok(sub) => {
                    tokio::spawn(forward(sub, in_tx.clone()));
                }
                Err(e) => tracing::error!("cluster: cannot subscribe to {subject}: {e}"),
            }
        }
        // Everyone already there tells this node where their people are.
        let ask = node.envelope(Body::Ask);
        if let Err(e) = node
            .client
            .publish_with_reply(node.names.ask(), inbox.clone(), ask)
            .await
        {
            tracing::warn!("cluster: cannot ask the other nodes: {e}");
        }
        let (ask_tx, ask_rx) = mpsc::unbounded_channel();
        let claims = node.claims.lock().ok().and_then(|mut c| c.take());
        if let Some(claims) = claims {
            tokio::spawn(claims.run(ask_rx, ports.hub.clone()));
        }
        tokio::spawn(
            node.clone()
                .publish(ports.shouts, in_tx.clone(), ask_tx, ports.hub.clone()),
        );
        if let Some(history) = ports.history.clone() {
            let index = crate::index::Index {
                client: node.client.clone(),
                names: node.names.clone(),
                durable: node.me.to_string(),
                history,
                hub: ports.hub.clone(),
            };
            tokio::spawn(index.run());
        }
        tokio::spawn(node.clone().heartbeat());
        tokio::spawn(sweep(ports.hub.clone()));
        node.receive(in_rx, ports.hub, inbox).await;
    }

    /// Publishes what the hub task shouts, in order, on this one
    /// connection (NATS keeps one publisher's order).
    async fn publish(
        self: Arc<Self>,
        mut shouts: mpsc::UnboundedReceiver<Shout>,
        in_tx: mpsc::Sender<async_nats::Message>,
        asks: mpsc::UnboundedSender<Ask>,
        hub: HubHandle,
    ) {
        let mut followed: HashMap<Key, AbortHandle> = HashMap::new();
        let timeout = Duration::from_millis(self.cfg.ack_timeout_ms.max(100));
        let journal = match Journal::start(self.client.clone(), hub.clone(), timeout).await {
            Ok(j) => Some(j),
            Err(e) => {
                // Every room message is then refused (never lost silently).
                tracing::error!("cluster: cannot follow the journal's acknowledgements: {e}");
                None
            }
        };
        while let Some(shout) = shouts.recv().await {
            let (subject, body) = match shout {
                Shout::Cmd {
                    conn,
                    cmd,
                    standing,
                } => {
                    let Some(cmd) = WireCmd::of(&cmd) else {
                        continue;
                    };
                    (
                        self.names.events(),
                        Body::Cmd {
                            conn,
                            cmd,
                            standing,
                        },
                    )
                }
                Shout::Said { event, to } => {
                    let Some(msg) = WireSaid::of(&event) else {
                        continue;
                    };
                    match to {
                        Some((node, conn)) => (
                            self.names.node(&node),
                            Body::Said {
                                msg,
                                to: Some(conn),
                            },
                        ),
                        None => {
                            let Some(room) = msg.room() else { continue };
                            (self.names.room(room), Body::Said { msg, to: None })
                        }
                    }
                }
                Shout::Journal { token, events } => {
                    let entries = self.journal_entries(events);
                    match &journal {
                        Some(j) => j.publish(token, entries).await,
                        None => {
                            if !to_hub(&hub, Remote::Journaled { token, ok: false }).await {
                                return;
                            }
                        }
                    }
                    continue;
                }
                Shout::Gone { conn, reason } => (
                    self.names.events(),
                    Body::Gone {
                        conn,
                        reason: reason.to_string(),
                    },
                ),
                Shout::Claim { conn, nick } => {
                    let _ = asks.send(Ask::Claim { conn, nick });
                    continue;
                }
                Shout::Release { node, conn, nick } => {
                    let nick = nick.to_string();
                    let _ = asks.send(Ask::Release { node, conn, nick });
                    continue;
                }
                Shout::Follow(room) => {
                    if let std::collections::hash_map::Entry::Vacant(slot) =
                        followed.entry(Key::of(&room))
                    {
                        match self.client.subscribe(self.names.room(&room)).await {
                            Ok(sub) => {
                                let task = tokio::spawn(forward(sub, in_tx.clone()));
                                slot.insert(task.abort_handle());
                            }
                            Err(e) => tracing::error!("cluster: cannot follow {room}: {e}"),
                        }
                    }
                    continue;
                }
                Shout::Unfollow(room) => {
                    if let Some(task) = followed.remove(&Key::of(&room)) {
                        // Dropping the subscriber unsubscribes.
                        task.abort();
                    }
                    continue;
                }
            };
            if let Err(e) = self.client.publish(subject, self.envelope(body)).await {
                tracing::warn!("cluster: publish failed: {e}");
            }
        }
    }

    /// A command's room messages as the journal takes them: (stream
    /// subject, headers with the msgid for deduplication, the room's
    /// subject, the body).
    fn journal_entries(
        &self,
        events: Vec<chatroom_core::Event>,
    ) -> Vec<(String, async_nats::HeaderMap, String, bytes::Bytes)> {
        let mut entries = Vec::with_capacity(events.len());
        for event in &events {
            let Some(msg) = WireSaid::of(event) else {
                continue;
            };
            let Some(room) = msg.room().map(str::to_string) else {
                continue;
            };
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Nats-Msg-Id", msg.id.to_string().as_str());
            let body = self.envelope(Body::Said { msg, to: None });
            entries.push((
                self.names.history(&room),
                headers,
                self.names.room(&room),
                body,
            ));
        }
        entries
    }

    async fn heartbeat(self: Arc<Self>) {
        let mut tick = tokio::time::interval(Duration::from_millis(self.cfg.heartbeat_ms.max(50)));
        loop {
            tick.tick().await;
            let hb = self.envelope(Body::Heartbeat);
            if let Err(e) = self.client.publish(self.names.heartbeats(), hb).await {
                tracing::debug!("cluster: heartbeat not sent: {e}");
            }
        }
    }

    /// Hands what the other nodes publish to the hub task, and notices
    /// nodes that restarted or went silent.
    async fn receive(
        self: Arc<Self>,
        mut in_rx: mpsc::Receiver<async_nats::Message>,
        hub: HubHandle,
        inbox: String,
    ) {
        let mut peers: HashMap<NodeName, Peer> = HashMap::new();
        let lost_after = Duration::from_millis(self.cfg.lost_after_ms.max(100));
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            let msg = tokio::select! {
                msg = in_rx.recv() => match msg {
                    Some(m) => m,
                    None => return,
                },
                _ = tick.tick() => {
                    let now = Instant::now();
                    if !self.up.load(Ordering::Acquire) {
                        // Cut off from NATS, this node hears nobody: that
                        // says nothing about the others. Their silence
                        // counts from when it is back.
                        for p in peers.values_mut() {
                            p.seen = now;
                        }
                        continue;
                    }
                    let lost: Vec<NodeName> = peers
                        .iter()
                        .filter(|(_, p)| now.duration_since(p.seen) > lost_after)
                        .map(|(n, _)| n.clone())
                        .collect();
                    for node in lost {
                        peers.remove(&node);
                        self.share(&peers);
                        tracing::warn!(node = %node, "cluster: node {node} lost");
                        let reason = format!("node {node} lost");
                        if !to_hub(&hub, Remote::NodeGone { node, reason }).await {
                            return;
                        }
                    }
                    continue;
                }
            };
            let Some(env) = Envelope::decode(&msg.payload) else {
                tracing::debug!(subject = %msg.subject, "cluster: undecodable message ignored");
                continue;
            };
            if *env.node == *self.me {
                continue;
            }
            let node: NodeName = env.node.as_str().into();
            match peers.get_mut(&node) {
                Some(p) if p.run == env.run => p.seen = Instant::now(),
                known => {
                    if known.is_some() {
                        // The same name, a new run: what it had is gone.
                        tracing::info!(node = %node, "cluster: node {node} restarted");
                        let reason = format!("node {node} restarted");
                        let gone = Remote::NodeGone {
                            node: node.clone(),
                            reason,
                        };
                        if !to_hub(&hub, gone).await {
                            return;
                        }
                    }
                    peers.insert(
                        node.clone(),
                        Peer {
                            run: env.run,
                            seen: Instant::now(),
                        },
                    );
                    self.share(&peers);
                    if !matches!(env.body, Body::People { .. }) {
                        // Learn who is there (not asked yet, or back
                        // after being taken as lost).
                        let ask = self.envelope(Body::Ask);
                        let subject = self.names.node(&node);
                        if let Err(e) = self
                            .client
                            .publish_with_reply(subject, inbox.clone(), ask)
                            .await
                        {
                            tracing::warn!("cluster: cannot ask {node}: {e}");
                        }
                    }
                }
            }
            let remote = match env.body {
                Body::Cmd {
                    conn,
                    cmd,
                    standing,
                } => Remote::Cmd {
                    node,
                    conn,
                    cmd: cmd.into_command(),
                    standing,
                },
                Body::Said { msg, to } => Remote::Said {
                    node,
                    event: msg.into_event(),
                    to,
                },
                Body::Gone { conn, reason } => Remote::Gone { node, conn, reason },
                Body::People { people, rooms } => Remote::Place {
                    node,
                    people: people.into_iter().map(Into::into).collect(),
                    rooms: rooms.into_iter().map(Into::into).collect(),
                },
                Body::Heartbeat => continue,
                Body::Ask => {
                    if let Some(reply) = msg.reply {
                        tokio::spawn(self.clone().answer(hub.clone(), reply.to_string()));
                    }
                    continue;
                }
            };
            if !to_hub(&hub, remote).await {
                return;
            }
        }
    }

    /// What the claims task knows of the live nodes.
    fn share(&self, peers: &HashMap<NodeName, Peer>) {
        let mut shared = match self.peers.lock() {
            Ok(p) => p,
            Err(poisoned) => poisoned.into_inner(),
        };
        *shared = peers.iter().map(|(n, p)| (n.clone(), p.run)).collect();
    }

    /// Tells the node that asked where this node's people stand.
    async fn answer(self: Arc<Self>, hub: HubHandle, reply: String) {
        let (tx, rx) = oneshot::channel();
        if !to_hub(&hub, Remote::Standings { reply: tx }).await {
            return;
        }
        let Ok((people, rooms)) = rx.await else {
            return;
        };
        let people = people.iter().map(WirePerson::from).collect();
        let rooms = rooms.iter().map(WireRoom::from).collect();
        if let Err(e) = self
            .client
            .publish(reply, self.envelope(Body::People { people, rooms }))
            .await
        {
            tracing::warn!("cluster: cannot answer a node: {e}");
        }
    }
}

async fn to_hub(hub: &HubHandle, remote: Remote) -> bool {
    hub.send(HubMsg::Remote(remote)).await.is_ok()
}

/// Moves one subscription's messages into the one queue `receive` reads.
async fn forward(mut sub: async_nats::Subscriber, tx: mpsc::Sender<async_nats::Message>) {
    while let Some(msg) = sub.next().await {
        if tx.send(msg).await.is_err() {
            return;
        }
    }
}

/// Now and then, rooms nobody here is in any more stop being followed.
async fn sweep(hub: HubHandle) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tick.tick().await;
        if !to_hub(&hub, Remote::Sweep).await {
            return;
        }
    }
}
