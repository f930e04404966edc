//! One connection as one task: the edge's reading session and the writer
//! that drains the connection's queue (`outbound`) with coalesced writes,
//! polled side by side, and `Ctx`, the handle an edge's reading session
//! uses to talk to the hub (with flood control and the registration flag).
//!
//! Nothing here knows a protocol: the edge supplies a `Renderer` for the
//! writer and a session future for the reader. Nor does it know the
//! transport: plain TCP and TLS arrive as the same boxed halves.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::oneshot;

use chatroom_config::Config;
use chatroom_core::{Command, ConnId, Event, HubError, RoomRef};
pub use chatroom_proto::Renderer;
use chatroom_proto::{Body, Shared};

use super::inbox::{GroupItem, HubHandle, HubMsg};
use super::limits::TokenBucket;
use super::outbound::{self, Control, Incoming, Taken};
use chatroom_core::history::{HistoryAsk, HistoryError, HistoryPage};

pub use super::outbound::Outgoing;

/// What an edge's session reads from. Boxed so that one edge serves plain TCP
/// and TLS alike; the cost is one allocation per connection and a virtual
/// call per read, noise next to the read's syscall.
pub type ReadHalf = Box<dyn AsyncRead + Send + Unpin>;

/// What the connection's writer writes to (see [`ReadHalf`]).
pub type WriteHalf = Box<dyn AsyncWrite + Send + Unpin>;

/// Splits a plain TCP stream without the lock `tokio::io::split` needs.
pub fn split_tcp(stream: tokio::net::TcpStream) -> (ReadHalf, WriteHalf) {
    let (rd, wr) = stream.into_split();
    (Box::new(rd), Box::new(wr))
}

/// Splits any other stream (a TLS stream, whose reads and writes share one
/// session state and so cannot be split without a lock).
pub fn split_any<S>(stream: S) -> (ReadHalf, WriteHalf)
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (rd, wr) = tokio::io::split(stream);
    (Box::new(rd), Box::new(wr))
}

/// The hub task has stopped (the server is shutting down).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HubGone;

/// An edge session's handle on its connection and on the hub.
pub struct Ctx {
    pub id: ConnId,
    pub peer: SocketAddr,
    pub cfg: Arc<Config>,
    hub: HubHandle,
    flood: TokenBucket,
    flood_warned: bool,
    control: Control,
    /// The accounts service, when accounts are on.
    pub accounts: Option<Arc<super::accounts::Accounts>>,
    /// The login throttle (operator logins use it directly).
    pub logins: Arc<super::logins::Logins>,
    /// The TLS client certificate's fingerprint, if one was presented.
    pub certfp: Option<String>,
    deadlines: Arc<super::deadlines::Deadlines>,
}

impl Ctx {
    /// Asks the server's deadline task to check, for as long as the
    /// connection lasts, that the client is still there (see
    /// `deadlines::Liveness`); [`Ctx::heard`] tells it of input.
    pub fn keep_alive(&self) {
        self.deadlines.keep_alive(self.control.clone());
    }

    /// Something arrived from the client.
    pub fn heard(&self) {
        self.control.heard(super::deadlines::now_secs());
    }

    /// Sends a command without waiting for its outcome; refusals reach the
    /// client as `Event::Error`. Subject to flood control: past the burst,
    /// the session is paused (and told once) rather than anything dropped.
    ///
    /// Like everything here that makes the connection a reply, it first
    /// waits while the client has too much unread (`outbound::Control::paced`):
    /// the session's reading stops with it, so a client that asks for more
    /// than it reads is slowed down by TCP rather than cut off.
    pub async fn send(&mut self, cmd: Command) -> Result<(), HubGone> {
        self.control.paced().await;
        self.throttle(&cmd).await?;
        self.hub
            .send(HubMsg::Cmd {
                id: self.id,
                cmd,
                ack: None,
            })
            .await
            .map_err(|_| HubGone)
    }

    /// Sends a command and waits for the outcome (the client is told of a
    /// refusal too). A successful `Register` marks the connection registered.
    pub async fn request(&mut self, cmd: Command) -> Result<Result<(), HubError>, HubGone> {
        self.control.paced().await;
        self.throttle(&cmd).await?;
        let registering = matches!(cmd, Command::Register { .. });
        let (tx, rx) = oneshot::channel();
        self.hub
            .send(HubMsg::Cmd {
                id: self.id,
                cmd,
                ack: Some(tx),
            })
            .await
            .map_err(|_| HubGone)?;
        let outcome = rx.await.map_err(|_| HubGone)?;
        if registering && outcome.is_ok() {
            self.control.set_registered();
        }
        Ok(outcome)
    }

    /// Registers under `nick` (also as user and real name, for protocols
    /// that have neither), with the peer's address as host; a refusal is
    /// told to the client by the hub and returned.
    pub async fn register_as(&mut self, nick: String) -> Result<Result<(), HubError>, HubGone> {
        let host = self.host();
        self.request(Command::Register {
            user: nick.clone(),
            realname: nick.clone(),
            nick,
            host,
        })
        .await
    }

    /// Sends commands and local events that the hub applies back to back
    /// (see [`HubMsg::Group`]). Every command is paced by flood control
    /// before the group leaves, as if sent one by one.
    pub async fn send_group(&mut self, items: Vec<GroupItem>) -> Result<(), HubGone> {
        self.control.paced().await;
        for item in &items {
            if let GroupItem::Cmd(cmd) = item {
                self.throttle(cmd).await?;
            }
        }
        self.hub
            .send(HubMsg::Group { id: self.id, items })
            .await
            .map_err(|_| HubGone)
    }

    /// Asks about a room's history (or the focused room). Subject
    /// to flood control like a command: a search is not free.
    pub async fn history(
        &mut self,
        room: RoomRef,
        ask: HistoryAsk,
    ) -> Result<Result<HistoryPage, HistoryError>, HubGone> {
        self.control.paced().await;
        self.flood_wait().await?;
        let (tx, rx) = oneshot::channel();
        self.hub
            .send(HubMsg::History {
                id: self.id,
                room,
                ask,
                reply: tx,
            })
            .await
            .map_err(|_| HubGone)?;
        rx.await.map_err(|_| HubGone)
    }

    /// Who this connection is now, as the hub knows it (`None` before
    /// registration): nickname, user, host and account.
    pub async fn whoami(&self) -> Result<Option<Arc<chatroom_core::UserInfo>>, HubGone> {
        let (tx, rx) = oneshot::channel();
        self.hub
            .send(HubMsg::WhoAmI {
                id: self.id,
                reply: tx,
            })
            .await
            .map_err(|_| HubGone)?;
        rx.await.map_err(|_| HubGone)
    }

    /// Queues an event, bytes or a renderer instruction for this
    /// connection only, in order with the hub's replies.
    pub async fn tell(&self, body: impl Into<Body>) -> Result<(), HubGone> {
        self.control.paced().await;
        self.hub
            .send(HubMsg::Local {
                id: self.id,
                body: body.into(),
            })
            .await
            .map_err(|_| HubGone)
    }

    pub fn is_registered(&self) -> bool {
        self.control.is_registered()
    }

    /// The peer's address as shown to others (no reverse DNS, ever).
    pub fn host(&self) -> String {
        self.peer.ip().to_string()
    }

    async fn throttle(&mut self, cmd: &Command) -> Result<(), HubGone> {
        if matches!(cmd, Command::Quit(_)) {
            return Ok(());
        }
        self.flood_wait().await
    }

    /// Flood control proper: waits for a token, telling the client once.
    async fn flood_wait(&mut self) -> Result<(), HubGone> {
        let wait = self.flood.take(Instant::now());
        if wait.is_zero() {
            self.flood_warned = false;
            return Ok(());
        }
        if !self.flood_warned {
            self.flood_warned = true;
            let rate = self.cfg.limits.flood_rate;
            self.tell(Event::ServerNotice {
                text: format!(
                    "Flood control: you are sending faster than {rate} messages per second; your messages are being delayed, none are lost"
                )
                .into(),
            })
            .await?;
        }
        tokio::time::sleep(wait).await;
        Ok(())
    }
}

/// The session is over (it returned, or the connection is going): from now
/// on the connection takes no more deliveries it did not cause (see
/// `outbound::Control::leave`).
impl Drop for Ctx {
    fn drop(&mut self) {
        self.control.leave();
    }
}

/// Everything a connection needs from the server around it.
#[derive(Clone)]
pub struct ConnEnv {
    pub cfg: Arc<Config>,
    pub hub: HubHandle,
    pub accounts: Option<Arc<super::accounts::Accounts>>,
    pub logins: Arc<super::logins::Logins>,
    /// The SHA-256 fingerprint of the TLS client certificate this
    /// connection presented (set per connection by the accept loop).
    pub certfp: Option<String>,
    /// Keeps the registration timeout.
    pub deadlines: Arc<super::deadlines::Deadlines>,
    /// Counted at accept.
    pub metrics: Arc<super::metrics::Metrics>,
    /// Checked at accept.
    pub bans: Arc<super::admin::Bans>,
    /// The outbound limits of the listener the connection came in on.
    pub budget: outbound::Budget,
}

/// Runs one connection to the end: attaches it to the hub, runs the edge's
/// reading `session` (which returns the quit reason when the client goes)
/// and the writer side by side in this one task, enforces the registration
/// timeout, and detaches. `guard` (the connection's place under the
/// connection limits) is held until then.
///
/// One task, not a reader task and a writer task: a task of its own for the
/// writer cost its header, its future and a join handle on every
/// connection, idle or not. A plain function returning the future, not an
/// `async fn`: an async function keeps its arguments (the renderer, the
/// stream halves) in its state for its whole life even once moved out, and
/// the session and the writer are boxed at their own sizes, where held
/// inline they were laid out side by side with the copies made to pin them
/// (the connection's future was 7.9 KB, measured with `size_of_val`).
pub fn drive<R, F, Fut, G>(
    (rd, wr): (ReadHalf, WriteHalf),
    peer: SocketAddr,
    id: ConnId,
    env: ConnEnv,
    renderer: R,
    session: F,
    guard: G,
) -> impl std::future::Future<Output = ()> + Send + 'static
where
    G: Send + 'static,
    R: Renderer,
    F: FnOnce(Ctx, ReadHalf) -> Fut,
    Fut: std::future::Future<Output = String> + Send + 'static,
{
    let (out, incoming) = outbound::queue(env.budget);
    let control = incoming.control();
    let write_timeout = Duration::from_secs(env.cfg.limits.write_timeout_secs.max(1));
    let mut writer = Box::pin(write_loop(wr, incoming, renderer, write_timeout));
    let ctx = Ctx {
        id,
        peer,
        cfg: env.cfg.clone(),
        hub: env.hub.clone(),
        flood: TokenBucket::new(env.cfg.limits.flood_rate, env.cfg.limits.flood_burst),
        flood_warned: false,
        control: control.clone(),
        accounts: env.accounts.clone(),
        logins: env.logins.clone(),
        certfp: env.certfp.clone(),
        deadlines: env.deadlines.clone(),
    };
    let mut sess = Box::pin(session(ctx, rd));
    // The registration timeout cuts the connection off through its queue
    // (see `deadlines`): the writer says why and ends. Started here rather
    // than in the future below, which would keep room for the handle (and
    // for `deadlines`) all its life.
    env.deadlines.watch(control);
    // The peer is said here, once: the future below keeps only the id.
    tracing::debug!(conn = id, %peer, "connection starts");
    let hub = env.hub;
    // What the future below keeps for the connection's whole life is what
    // sizes its task (tokio rounds the task up to 128 bytes; 256 B in all
    // when the future stays within 144 B): the permit, the hub's handle, the
    // two boxes, the id, and the queue's end until it is handed to the hub.
    async move {
        // Boxed, like the Detach below: a message to the hub is large, and
        // the connection's state would hold room for it all its life.
        if Box::pin(hub.send(HubMsg::Attach { id, out }))
            .await
            .is_err()
        {
            drop(guard);
            return;
        }
        let mut writer_done = false;
        let reason = tokio::select! {
            reason = &mut sess => reason,
            reason = &mut writer => {
                writer_done = true;
                reason
            }
        };
        drop(sess);
        tracing::debug!(conn = id, %reason, "connection ends");
        let _ = Box::pin(hub.send(HubMsg::Detach { id, reason })).await;
        // The hub lets go of the queue when it detaches: the writer flushes
        // what was queued before (a QUIT's ERROR line) and ends.
        if !writer_done {
            writer.await;
        }
        // Held until here: the connection's place under the limits.
        drop(guard);
    }
}

/// Drains the queue: everything queued is rendered into one buffer and
/// written with one call, so a busy room costs one syscall per wake-up, not
/// one per message. The buffer (and the batch) are let go whenever the
/// queue is empty after a write: an idle connection holds no buffer at all
/// (it was most of the memory of an idle connection, measured with
/// `chatroom bench idle`), and a busy one allocates once per wake-up, sized
/// for its batch, which costs far less than the write it accompanies.
///
/// Returns why the connection ends: the reason it was cut off with (a
/// registration or ping timeout, which the hub then tells the others), or
/// "Connection closed".
fn write_loop<R: Renderer>(
    mut wr: WriteHalf,
    incoming: Incoming,
    mut renderer: R,
    write_timeout: Duration,
) -> impl std::future::Future<Output = String> + Send {
    const KEEP_BUFFER: usize = 16 * 1024;
    // The most rendered before writing: a lagging client's batch in a
    // join or quit storm is thousands of events, and rendered whole it
    // was a buffer of megabytes held for as long as the client took to
    // read it, in every lagging connection at once.
    const CHUNK: usize = 64 * 1024;
    // A room message in IRC form is about this long.
    const RESERVE_PER_EVENT: usize = 128;
    let mut batch: VecDeque<Shared> = VecDeque::new();
    let mut buf = BytesMut::new();
    // Not an `async fn`, which would keep its arguments twice (see `drive`).
    async move {
        loop {
            match incoming.take(&mut batch).await {
                Taken::Events => {}
                Taken::Closed => break,
                Taken::Killed => {
                    let reason = incoming.kill_reason().unwrap_or_default();
                    Box::pin(farewell(&mut wr, &mut renderer, reason)).await;
                    break;
                }
            }
            let mut closing = false;
            let mut ok = true;
            // One allocation for a chunk instead of doubling as it fills.
            buf.reserve((batch.len() * RESERVE_PER_EVENT).min(CHUNK));
            loop {
                let step = render_chunk(&mut batch, &mut renderer, &mut buf, CHUNK);
                if !buf.is_empty() {
                    // Boxed: the write's state (its timer, the farewell) is
                    // only needed while writing, and an idle connection
                    // would hold it.
                    ok = Box::pin(write_chunk(
                        &mut wr,
                        &incoming,
                        &mut renderer,
                        &mut buf,
                        write_timeout,
                    ))
                    .await;
                    if !ok {
                        break;
                    }
                }
                match step {
                    Rendered::Full => {}
                    Rendered::All => break,
                    Rendered::Closing => {
                        closing = true;
                        break;
                    }
                }
            }
            if !ok {
                break;
            }
            batch.clear();
            if buf.capacity() > KEEP_BUFFER || incoming.is_empty() {
                buf = BytesMut::new();
            }
            // Kept to swap with the queue while busy; let go when idle.
            if incoming.is_empty() {
                batch = VecDeque::new();
            }
            if closing {
                break;
            }
        }
        let _ = Box::pin(tokio::time::timeout(Duration::from_secs(1), wr.shutdown())).await;
        incoming
            .kill_reason()
            .unwrap_or_else(|| "Connection closed".to_string())
    }
}

/// How far [`render_chunk`] got.
#[derive(Clone, Copy)]
enum Rendered {
    /// The chunk is full; more of the batch is left.
    Full,
    /// The whole batch.
    All,
    /// Up to the connection's closing line; the rest is not for it.
    Closing,
}

/// Renders events from the front of `batch` into `buf` until it holds
/// `chunk` bytes or more, the batch is empty, or the connection's closing
/// line is rendered.
fn render_chunk<R: Renderer>(
    batch: &mut VecDeque<Shared>,
    renderer: &mut R,
    buf: &mut BytesMut,
    chunk: usize,
) -> Rendered {
    while let Some(event) = batch.pop_front() {
        renderer.render(&event, buf);
        if matches!(event.event(), Some(Event::Closing { .. })) {
            return Rendered::Closing;
        }
        if buf.len() >= chunk {
            return if batch.is_empty() {
                Rendered::All
            } else {
                Rendered::Full
            };
        }
    }
    Rendered::All
}

/// Writes and empties `buf` (see [`write_batch`]); whether the connection
/// can go on.
async fn write_chunk<R: Renderer>(
    wr: &mut WriteHalf,
    incoming: &Incoming,
    renderer: &mut R,
    buf: &mut BytesMut,
    write_timeout: Duration,
) -> bool {
    let ok = write_batch(wr, incoming, renderer, buf, write_timeout).await;
    if ok {
        incoming.wrote(super::deadlines::now_secs);
        buf.clear();
    }
    ok
}

/// Writes one batch, unless the connection is cut off meanwhile (then it
/// says goodbye instead); whether the connection can go on.
async fn write_batch<R: Renderer>(
    wr: &mut WriteHalf,
    incoming: &Incoming,
    renderer: &mut R,
    buf: &[u8],
    write_timeout: Duration,
) -> bool {
    tokio::select! {
        biased;
        reason = incoming.killed() => {
            farewell(wr, renderer, reason).await;
            false
        }
        res = tokio::time::timeout(write_timeout, write_flush(wr, buf)) => matches!(res, Ok(Ok(()))),
    }
}

/// Best effort to tell a client why it is being cut off: it may well not be
/// reading, so this never waits long.
async fn farewell<R: Renderer>(wr: &mut WriteHalf, renderer: &mut R, reason: String) {
    let mut buf = BytesMut::new();
    renderer.render(
        &chatroom_proto::Envelope::new(Event::Closing {
            reason: reason.into(),
        }),
        &mut buf,
    );
    let _ = tokio::time::timeout(Duration::from_millis(500), write_flush(wr, &buf)).await;
}

/// Writes and flushes: TLS keeps written bytes in its session buffer until
/// flushed, while on TCP the flush costs nothing.
async fn write_flush<W: AsyncWrite + Unpin + ?Sized>(
    wr: &mut W,
    buf: &[u8],
) -> std::io::Result<()> {
    wr.write_all(buf).await?;
    wr.flush().await
}
