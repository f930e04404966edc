//! The client's network side: resolving and connecting to the server
//! (plain TCP or TLS, see `tls.rs` for how certificates are checked),
//! reading and writing lines with the protocol crate's framing (the same
//! codec the server reads with: LF or CR LF, bounded length, lossy UTF-8),
//! and reconnecting when the link drops: exponential backoff (1 s, 2 s,
//! 4 s … capped at 30 s) with ±20% jitter, so clients dropped together do
//! not all come back in the same instant, and at most `max_tries`
//! attempts in a row. Some failures stop it at once instead, with their
//! explanation: a TLS certificate that is not the expected one (trying
//! again cannot change it) and a login the server refused (the state model
//! says so with [`ConnCommand::Stop`]). Stopped, it waits for
//! [`ConnCommand::Reconnect`] (`/reconnect`).
//!
//! It runs as one task that reports [`ConnEvent`]s and takes [`ConnCommand`]s
//! over channels. It must not interpret IRC beyond framing lines (the
//! handshake and everything else live in `state/`), must not frame lines
//! itself (that is `chatroom_proto::framing`), and must not touch the
//! terminal.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::BytesMut;
use chatroom_proto::framing::{Decode, Frame, LineCodec, encode_line, text};
use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::codec::FramedRead;

pub const DEFAULT_PORT: u16 = 6667;

/// The IRC-over-TLS port (RFC 7194), the default with `--tls`.
pub const DEFAULT_TLS_PORT: u16 = 6697;

/// TLS settings for the connection: the rustls configuration and how it
/// checks the server (to explain failures and describe the link).
#[derive(Clone)]
pub struct TlsClient {
    pub config: Arc<rustls::ClientConfig>,
    pub verify: super::tls::Verify,
}

/// A connected stream, plain or TLS.
trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<S: AsyncRead + AsyncWrite + Send + Unpin> Stream for S {}
type BoxStream = Box<dyn Stream>;

/// Longest line accepted from the server, without its CR LF: 512 for the
/// message plus 8191 for IRCv3 tags, rounded up. Longer lines are dropped
/// whole, not buffered.
pub const MAX_LINE: usize = 9 * 1024;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// How long to wait for the server to close after our QUIT.
const QUIT_LINGER: Duration = Duration::from_secs(3);

/// Splits `HOST[:PORT]` (also `[v6]:port` and a bare IPv6 literal) into a
/// host and a port, with [`DEFAULT_PORT`] when there is none.
pub fn parse_server(s: &str) -> anyhow::Result<(String, u16)> {
    parse_server_or(s, DEFAULT_PORT)
}

/// [`parse_server`] with another default port (6697 for TLS).
pub fn parse_server_or(s: &str, default_port: u16) -> anyhow::Result<(String, u16)> {
    let s = s.trim();
    if s.is_empty() {
        bail!("no server given");
    }
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .context("an IPv6 address in [ ] is missing its ]")?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().with_context(|| format!("bad port {p:?}"))?,
            None if after.is_empty() => default_port,
            None => bail!("unexpected {after:?} after ]"),
        };
        return Ok((host.to_string(), port));
    }
    match s.matches(':').count() {
        0 => Ok((s.to_string(), default_port)),
        1 => {
            let (host, port) = s.split_once(':').context("unreachable")?;
            if host.is_empty() {
                bail!("no host before the port");
            }
            let port = port.parse().with_context(|| format!("bad port {port:?}"))?;
            Ok((host.to_string(), port))
        }
        // Several colons: a bare IPv6 literal, no port.
        _ => Ok((s.to_string(), default_port)),
    }
}

/// `host:port` as shown to the user, with brackets around IPv6 hosts.
pub fn display_server(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The delays between reconnection attempts.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
    rng: fastrand::Rng,
}

impl Backoff {
    pub const FIRST: Duration = Duration::from_secs(1);
    pub const MAX: Duration = Duration::from_secs(30);
    /// The delays vary by up to this fraction either way.
    pub const JITTER: f64 = 0.2;

    pub fn new() -> Backoff {
        Backoff::with_rng(fastrand::Rng::new())
    }

    /// With a given random source (tests use a seeded one).
    pub fn with_rng(rng: fastrand::Rng) -> Backoff {
        Backoff {
            next: Self::FIRST,
            rng,
        }
    }

    /// The delay before the next attempt: doubling up to the cap, each
    /// varied by up to ±20%.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        let factor = 1.0 + Self::JITTER * (self.rng.f64() * 2.0 - 1.0);
        d.mul_f64(factor)
    }

    /// After a successful registration the next outage starts again at 1 s.
    pub fn reset(&mut self) {
        self.next = Self::FIRST;
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new()
    }
}

/// Attempts in a row before giving up, by default (the `reconnect_tries`
/// setting): about three minutes of trying.
pub const MAX_TRIES: u32 = 10;

/// A failure that trying again cannot mend (a certificate that is not the
/// expected one): the task stops and explains instead of retrying.
#[derive(Debug)]
pub struct Fatal(pub String);

impl std::fmt::Display for Fatal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Fatal {}

/// What the connection task reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnEvent {
    Connecting {
        attempt: u32,
    },
    Connected {
        peer: String,
    },
    Line(String),
    /// The link is down; the next attempt starts after `retry_in`, or,
    /// with `None`, only on [`ConnCommand::Reconnect`].
    Disconnected {
        reason: String,
        retry_in: Option<Duration>,
    },
}

/// What the connection task is asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnCommand {
    /// Write one line (without CR LF). Dropped while disconnected.
    Send(String),
    /// Registration succeeded: the next outage's backoff starts at 1 s.
    Registered,
    /// Drop the link (if up) and connect again now: the server stopped
    /// answering, or the user asked (`/reconnect`, also after a stop).
    Reconnect(String),
    /// Drop the link (saying QUIT with this reason) and do not reconnect
    /// until asked: the server refused the login.
    Stop(String),
    /// Write this line (a QUIT), wait briefly for the server to close, end.
    Quit(String),
}

pub struct Conn {
    pub commands: mpsc::UnboundedSender<ConnCommand>,
    pub events: mpsc::Receiver<ConnEvent>,
    pub task: JoinHandle<()>,
}

/// Starts the connection task for `host:port`.
pub fn spawn(host: String, port: u16) -> Conn {
    spawn_with(host, port, None, MAX_TRIES)
}

/// Starts the connection task for `host:port`, over TLS when `tls` is
/// given, giving up after `max_tries` failed attempts in a row (0: never).
pub fn spawn_with(host: String, port: u16, tls: Option<TlsClient>, max_tries: u32) -> Conn {
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (ev_tx, ev_rx) = mpsc::channel(1024);
    let task = tokio::spawn(run(host, port, tls, max_tries, cmd_rx, ev_tx));
    Conn {
        commands: cmd_tx,
        events: ev_rx,
        task,
    }
}

enum Ended {
    /// Stop for good (quit, or nobody is listening any more).
    Stop,
    Lost(String),
    /// Connect again at once (asked for).
    Again(String),
    /// Do not reconnect until asked (the login was refused).
    Stopped(String),
}

/// What to do after a failed or lost connection.
enum Next {
    Wait(Duration),
    Now,
    Halt,
}

async fn run(
    host: String,
    port: u16,
    tls: Option<TlsClient>,
    max_tries: u32,
    mut commands: mpsc::UnboundedReceiver<ConnCommand>,
    events: mpsc::Sender<ConnEvent>,
) {
    let mut backoff = Backoff::new();
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        if events
            .send(ConnEvent::Connecting { attempt })
            .await
            .is_err()
        {
            return;
        }
        let attempt_connect = connect(&host, port, tls.as_ref());
        let (reason, next) = match tokio::time::timeout(CONNECT_TIMEOUT, attempt_connect).await {
            Err(_) => ("connection timed out".to_string(), None),
            Ok(Err(e)) if e.is::<Fatal>() => (
                format!("{e:#}; not reconnecting (/reconnect tries again)"),
                Some(Next::Halt),
            ),
            Ok(Err(e)) => (format!("{e:#}"), None),
            Ok(Ok((stream, peer))) => {
                let peer = match &tls {
                    Some(t) => format!("{peer} ({})", t.verify.describe()),
                    None => peer.to_string(),
                };
                if events.send(ConnEvent::Connected { peer }).await.is_err() {
                    return;
                }
                attempt = 0;
                match pump(stream, &mut commands, &events, &mut backoff).await {
                    Ended::Stop => return,
                    Ended::Lost(reason) => (reason, None),
                    Ended::Again(reason) => (reason, Some(Next::Now)),
                    Ended::Stopped(reason) => (reason, Some(Next::Halt)),
                }
            }
        };
        let next = match next {
            Some(n) => n,
            None if max_tries > 0 && attempt >= max_tries => {
                let reason = format!(
                    "{reason}; gave up after {attempt} attempts in a row (the reconnect_tries setting); /reconnect tries again"
                );
                if events
                    .send(ConnEvent::Disconnected {
                        reason,
                        retry_in: None,
                    })
                    .await
                    .is_err()
                {
                    return;
                }
                attempt = 0;
                backoff.reset();
                if !halted(&mut commands).await {
                    return;
                }
                continue;
            }
            None => Next::Wait(backoff.next_delay()),
        };
        let retry_in = match next {
            Next::Wait(d) => Some(d),
            Next::Now => Some(Duration::ZERO),
            Next::Halt => None,
        };
        let down = ConnEvent::Disconnected { reason, retry_in };
        if events.send(down).await.is_err() {
            return;
        }
        match next {
            Next::Now => {}
            Next::Halt => {
                attempt = 0;
                backoff.reset();
                if !halted(&mut commands).await {
                    return;
                }
            }
            Next::Wait(delay) => {
                let sleep = tokio::time::sleep(delay);
                tokio::pin!(sleep);
                let mut stop = None;
                loop {
                    tokio::select! {
                        _ = &mut sleep => break,
                        cmd = commands.recv() => match cmd {
                            None | Some(ConnCommand::Quit(_)) => return,
                            Some(ConnCommand::Reconnect(_)) => break,
                            Some(ConnCommand::Stop(reason)) => {
                                stop = Some(reason);
                                break;
                            }
                            // Nothing to send it on; the state model already told the user.
                            Some(_) => {}
                        },
                    }
                }
                if let Some(reason) = stop {
                    let down = ConnEvent::Disconnected {
                        reason,
                        retry_in: None,
                    };
                    if events.send(down).await.is_err() {
                        return;
                    }
                    attempt = 0;
                    backoff.reset();
                    if !halted(&mut commands).await {
                        return;
                    }
                }
            }
        }
    }
}

/// Stopped: waits for [`ConnCommand::Reconnect`] (true) or the end
/// (false).
async fn halted(commands: &mut mpsc::UnboundedReceiver<ConnCommand>) -> bool {
    loop {
        match commands.recv().await {
            None | Some(ConnCommand::Quit(_)) => return false,
            Some(ConnCommand::Reconnect(_)) => return true,
            Some(_) => {}
        }
    }
}

/// Connects (see [`connect_tcp`]) and, with `tls`, completes the handshake.
async fn connect(
    host: &str,
    port: u16,
    tls: Option<&TlsClient>,
) -> anyhow::Result<(BoxStream, SocketAddr)> {
    let (tcp, addr) = connect_tcp(host, port).await?;
    let Some(tls) = tls else {
        return Ok((Box::new(tcp), addr));
    };
    // An IP literal becomes an IP-address name; rustls checks it against
    // the certificate's IP entries when verifying against roots.
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .with_context(|| format!("{host} cannot be used as a TLS server name"))?;
    let connector = tokio_rustls::TlsConnector::from(tls.config.clone());
    match connector.connect(name, tcp).await {
        Ok(stream) => Ok((Box::new(stream), addr)),
        Err(e) if super::tls::is_certificate_error(&e) => {
            Err(Fatal(super::tls::explain(&e, &tls.verify)).into())
        }
        Err(e) => bail!("{}", super::tls::explain(&e, &tls.verify)),
    }
}

/// Resolves `host` (an IP literal needs no lookup) and connects to the first
/// address that answers.
async fn connect_tcp(host: &str, port: u16) -> anyhow::Result<(TcpStream, SocketAddr)> {
    let addrs: Vec<SocketAddr> = match host.parse::<std::net::IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((host, port))
            .await
            .with_context(|| format!("cannot resolve {host}"))?
            .collect(),
    };
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => {
                // Chat lines are small and interactive.
                let _ = stream.set_nodelay(true);
                return Ok((stream, addr));
            }
            Err(e) => {
                last = Some(anyhow::Error::new(e).context(format!("cannot connect to {addr}")))
            }
        }
    }
    Err(last.unwrap_or_else(|| anyhow::anyhow!("{host} has no addresses")))
}

async fn pump(
    stream: BoxStream,
    commands: &mut mpsc::UnboundedReceiver<ConnCommand>,
    events: &mpsc::Sender<ConnEvent>,
    backoff: &mut Backoff,
) -> Ended {
    let (read, mut write) = tokio::io::split(stream);
    let mut lines = FramedRead::new(read, Lines::new(MAX_LINE));
    let mut out = BytesMut::new();
    loop {
        tokio::select! {
            line = lines.next() => match line {
                Some(Ok(Frame::Line(line))) => {
                    if events.send(ConnEvent::Line(text(&line))).await.is_err() {
                        return Ended::Stop;
                    }
                }
                // An over-long line is dropped; the server's next one is
                // read as usual.
                Some(Ok(Frame::TooLong)) => {}
                Some(Err(e)) => return Ended::Lost(format!("read error: {e}")),
                None => return Ended::Lost("the server closed the connection".to_string()),
            },
            cmd = commands.recv() => {
                let Some(cmd) = cmd else { return Ended::Stop };
                let mut next = Some(cmd);
                // Encode everything already queued, then write it at once.
                while let Some(cmd) = next.take() {
                    match cmd {
                        ConnCommand::Send(line) => encode_line(&line, &mut out),
                        ConnCommand::Registered => backoff.reset(),
                        ConnCommand::Reconnect(reason) => return Ended::Again(reason),
                        ConnCommand::Stop(reason) => {
                            let quit = format!("QUIT :{reason}");
                            encode_line(&quit, &mut out);
                            let _ = write.write_all(&out).await;
                            let _ = write.flush().await;
                            linger(lines, write).await;
                            return Ended::Stopped(reason);
                        }
                        ConnCommand::Quit(line) => {
                            encode_line(&line, &mut out);
                            let _ = write.write_all(&out).await;
                            let _ = write.flush().await;
                            linger(lines, write).await;
                            return Ended::Stop;
                        }
                    }
                    next = commands.try_recv().ok();
                }
                // The flush matters for TLS, which buffers what is written.
                if let Err(e) = async {
                    write.write_all(&out).await?;
                    write.flush().await
                }
                .await
                {
                    return Ended::Lost(format!("write error: {e}"));
                }
                out.clear();
            }
        }
    }
}

/// After QUIT: half-close and read until the server closes, so the QUIT is
/// not lost to a reset from closing with unread data.
async fn linger(lines: FramedRead<ReadHalf<BoxStream>, Lines>, mut write: WriteHalf<BoxStream>) {
    let _ = write.shutdown().await;
    let mut read = lines.into_inner();
    let mut buf = [0u8; 4096];
    let _ = tokio::time::timeout(QUIT_LINGER, async {
        while let Ok(n) = read.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

/// The protocol crate's line codec as `FramedRead` wants it (the codecs
/// stay free of any runtime, so the adapter lives with the reader).
#[derive(Debug)]
pub struct Lines(LineCodec);

impl Lines {
    pub fn new(max: usize) -> Lines {
        Lines(LineCodec::new(max))
    }
}

impl tokio_util::codec::Decoder for Lines {
    type Item = Frame;
    type Error = std::io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, std::io::Error> {
        Decode::decode(&mut self.0, buf)
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, std::io::Error> {
        Decode::decode_eof(&mut self.0, buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_addresses() {
        let p = |s: &str| parse_server(s).ok();
        assert_eq!(p("irc.example.org"), Some(("irc.example.org".into(), 6667)));
        assert_eq!(p("127.0.0.1:7000"), Some(("127.0.0.1".into(), 7000)));
        assert_eq!(p("[::1]:7000"), Some(("::1".into(), 7000)));
        assert_eq!(p("[::1]"), Some(("::1".into(), 6667)));
        assert_eq!(p("::1"), Some(("::1".into(), 6667)));
        assert_eq!(p("host:notaport"), None);
        assert_eq!(p(":6667"), None);
        assert_eq!(p(""), None);
        assert_eq!(p("host:99999"), None);
        assert_eq!(display_server("::1", 5), "[::1]:5");
    }

    #[test]
    fn backoff_doubles_to_cap_with_jitter_and_resets() {
        let mut b = Backoff::with_rng(fastrand::Rng::with_seed(7));
        let base = [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0];
        let got: Vec<f64> = (0..8).map(|_| b.next_delay().as_secs_f64()).collect();
        for (d, want) in got.iter().zip(base) {
            assert!(
                (want * 0.8..=want * 1.2).contains(d),
                "{d} not within 20% of {want}: {got:?}"
            );
        }
        // Varied, not all the same offset.
        let ratios: std::collections::HashSet<u64> = got
            .iter()
            .zip(base)
            .map(|(d, w)| (d / w * 1000.0) as u64)
            .collect();
        assert!(ratios.len() > 1, "{got:?}");
        b.reset();
        let d = b.next_delay().as_secs_f64();
        assert!((0.8..=1.2).contains(&d), "{d}");
        // Two clients dropped together do not come back together.
        let mut a = Backoff::with_rng(fastrand::Rng::with_seed(1));
        let mut c = Backoff::with_rng(fastrand::Rng::with_seed(2));
        assert_ne!(a.next_delay(), c.next_delay());
    }

    #[tokio::test]
    async fn reports_refused_connection_and_retries() {
        // Bind then drop to get a port with (very likely) nothing listening.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr").port()
        };
        let mut conn = spawn("127.0.0.1".into(), port);
        assert_eq!(
            conn.events.recv().await,
            Some(ConnEvent::Connecting { attempt: 1 })
        );
        match conn.events.recv().await {
            Some(ConnEvent::Disconnected {
                retry_in: Some(d), ..
            }) => assert!(d <= Duration::from_millis(1200), "{d:?}"),
            other => panic!("unexpected {other:?}"),
        }
        let _ = conn.commands.send(ConnCommand::Quit("QUIT".into()));
        let _ = tokio::time::timeout(Duration::from_secs(10), conn.task).await;
    }

    /// A port with (very likely) nothing listening.
    fn closed_port() -> u16 {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    }

    #[tokio::test]
    async fn gives_up_after_the_tries_and_reconnect_starts_again() {
        let mut conn = spawn_with("127.0.0.1".into(), closed_port(), None, 1);
        assert_eq!(
            conn.events.recv().await,
            Some(ConnEvent::Connecting { attempt: 1 })
        );
        match conn.events.recv().await {
            Some(ConnEvent::Disconnected {
                reason,
                retry_in: None,
            }) => assert!(reason.contains("gave up after 1 attempts"), "{reason}"),
            other => panic!("unexpected {other:?}"),
        }
        // Stopped: nothing happens until asked.
        let _ = conn.commands.send(ConnCommand::Reconnect("asked".into()));
        assert_eq!(
            conn.events.recv().await,
            Some(ConnEvent::Connecting { attempt: 1 })
        );
        let _ = conn.commands.send(ConnCommand::Quit("QUIT".into()));
        let _ = tokio::time::timeout(Duration::from_secs(10), conn.task).await;
    }

    #[tokio::test]
    async fn a_stop_says_quit_and_waits_for_reconnect() {
        use tokio::io::{AsyncBufReadExt, BufReader};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let server = tokio::spawn(async move {
            let mut got = Vec::new();
            for _ in 0..2 {
                let (sock, _) = listener.accept().await.expect("accept");
                let mut lines = BufReader::new(sock).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    got.push(line);
                }
            }
            got
        });
        let mut conn = spawn("127.0.0.1".into(), port);
        loop {
            match conn.events.recv().await {
                Some(ConnEvent::Connected { .. }) => break,
                Some(ConnEvent::Connecting { .. }) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        let _ = conn
            .commands
            .send(ConnCommand::Stop("login refused".into()));
        assert_eq!(
            conn.events.recv().await,
            Some(ConnEvent::Disconnected {
                reason: "login refused".into(),
                retry_in: None
            })
        );
        let _ = conn.commands.send(ConnCommand::Reconnect("asked".into()));
        assert_eq!(
            conn.events.recv().await,
            Some(ConnEvent::Connecting { attempt: 1 })
        );
        assert!(matches!(
            conn.events.recv().await,
            Some(ConnEvent::Connected { .. })
        ));
        let _ = conn.commands.send(ConnCommand::Quit("QUIT :bye".into()));
        let got = tokio::time::timeout(Duration::from_secs(10), server)
            .await
            .expect("server finishes")
            .expect("server task");
        assert_eq!(got, vec!["QUIT :login refused", "QUIT :bye"]);
    }

    /// The framing as the client uses it, over a real socket: over-long
    /// lines are dropped whole, bad UTF-8 is replaced, a line may arrive in
    /// pieces, and a line we send cannot turn into two.
    #[tokio::test]
    async fn frames_lines_both_ways() {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let server = tokio::spawn(async move {
            let (sock, _) = listener.accept().await.expect("accept");
            let (r, mut w) = sock.into_split();
            let mut lines = BufReader::new(r).lines();
            let mut long = vec![b'x'; MAX_LINE + 10];
            long.extend_from_slice(b"\r\n\xff\xfeok\r\nhalf");
            w.write_all(&long).await.expect("write");
            w.flush().await.expect("flush");
            // The rest of the line only once the client has spoken.
            let first = lines.next_line().await.expect("reads");
            w.write_all(b" line\n").await.expect("write");
            let mut got = vec![first.unwrap_or_default()];
            while let Ok(Some(line)) = lines.next_line().await {
                got.push(line);
            }
            got
        });
        let mut conn = spawn("127.0.0.1".into(), port);
        let mut saw = Vec::new();
        let read = async {
            while let Some(ev) = conn.events.recv().await {
                match ev {
                    ConnEvent::Line(l) => {
                        saw.push(l);
                        if saw.len() == 2 {
                            break;
                        }
                    }
                    ConnEvent::Connected { .. } => {
                        let sneaky = "PRIVMSG #a :x\r\nQUIT".to_string();
                        let _ = conn.commands.send(ConnCommand::Send(sneaky));
                    }
                    ConnEvent::Disconnected { reason, .. } => panic!("lost the link: {reason}"),
                    ConnEvent::Connecting { .. } => {}
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(10), read)
            .await
            .expect("both lines arrive");
        assert_eq!(saw, vec!["\u{fffd}\u{fffd}ok", "half line"]);
        let _ = conn.commands.send(ConnCommand::Quit("QUIT :bye".into()));
        let got = tokio::time::timeout(Duration::from_secs(10), server)
            .await
            .expect("server finishes")
            .expect("server task");
        assert_eq!(got, vec!["PRIVMSG #a :x  QUIT", "QUIT :bye"]);
    }

    #[tokio::test]
    async fn exchanges_lines_and_quits() {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let server = tokio::spawn(async move {
            let (sock, _) = listener.accept().await.expect("accept");
            let (r, mut w) = sock.into_split();
            let mut lines = BufReader::new(r).lines();
            w.write_all(b":srv NOTICE * :hello\r\n")
                .await
                .expect("write");
            let mut got = Vec::new();
            while let Ok(Some(line)) = lines.next_line().await {
                got.push(line);
            }
            got
        });
        let mut conn = spawn("127.0.0.1".into(), port);
        let mut saw = Vec::new();
        while let Some(ev) = conn.events.recv().await {
            match ev {
                ConnEvent::Line(l) => {
                    saw.push(l);
                    break;
                }
                ConnEvent::Connected { .. } => {
                    let _ = conn.commands.send(ConnCommand::Send("NICK a".into()));
                    let _ = conn
                        .commands
                        .send(ConnCommand::Send("USER a 0 * :a".into()));
                }
                _ => {}
            }
        }
        assert_eq!(saw, vec![":srv NOTICE * :hello"]);
        let _ = conn.commands.send(ConnCommand::Quit("QUIT :bye".into()));
        let got = tokio::time::timeout(Duration::from_secs(10), server)
            .await
            .expect("server finishes")
            .expect("server task");
        assert_eq!(got, vec!["NICK a", "USER a 0 * :a", "QUIT :bye"]);
    }
}
