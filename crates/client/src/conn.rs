//! The client's network side: resolving and connecting to the server
//! (plain TCP or TLS, see `tls.rs` for how certificates are checked),
//! reading and writing lines with the protocol crate's framing (the same
//! codec the server reads with: LF or CR LF, bounded length, lossy UTF-8),
//! and reconnecting with exponential backoff (1 s, 2 s, 4 s … capped at
//! 30 s) when the link drops.
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
}

impl Backoff {
    pub const FIRST: Duration = Duration::from_secs(1);
    pub const MAX: Duration = Duration::from_secs(30);

    pub fn new() -> Backoff {
        Backoff { next: Self::FIRST }
    }

    /// The delay before the next attempt; doubles each time up to the cap.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        d
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
    /// The link is down; the next attempt starts after `retry_in`.
    Disconnected {
        reason: String,
        retry_in: Duration,
    },
}

/// What the connection task is asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnCommand {
    /// Write one line (without CR LF). Dropped while disconnected.
    Send(String),
    /// Registration succeeded: the next outage's backoff starts at 1 s.
    Registered,
    /// Drop the link and reconnect (e.g. the server stopped answering).
    Reconnect(String),
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
    spawn_with(host, port, None)
}

/// Starts the connection task for `host:port`, over TLS when `tls` is given.
pub fn spawn_with(host: String, port: u16, tls: Option<TlsClient>) -> Conn {
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (ev_tx, ev_rx) = mpsc::channel(1024);
    let task = tokio::spawn(run(host, port, tls, cmd_rx, ev_tx));
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
}

async fn run(
    host: String,
    port: u16,
    tls: Option<TlsClient>,
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
        let reason = match tokio::time::timeout(CONNECT_TIMEOUT, attempt_connect).await {
            Err(_) => "connection timed out".to_string(),
            Ok(Err(e)) => format!("{e:#}"),
            Ok(Ok((stream, peer))) => {
                let peer = match &tls {
                    Some(t) => format!("{peer} ({})", t.verify.describe()),
                    None => peer.to_string(),
                };
                if events.send(ConnEvent::Connected { peer }).await.is_err() {
                    return;
                }
                match pump(stream, &mut commands, &events, &mut backoff).await {
                    Ended::Stop => return,
                    Ended::Lost(reason) => {
                        attempt = 0;
                        reason
                    }
                }
            }
        };
        let retry_in = backoff.next_delay();
        let down = ConnEvent::Disconnected { reason, retry_in };
        if events.send(down).await.is_err() {
            return;
        }
        let sleep = tokio::time::sleep(retry_in);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                _ = &mut sleep => break,
                cmd = commands.recv() => match cmd {
                    None | Some(ConnCommand::Quit(_)) => return,
                    // Nothing to send it on; the state model already told the user.
                    Some(_) => {}
                },
            }
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
                        ConnCommand::Reconnect(reason) => return Ended::Lost(reason),
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
    fn backoff_doubles_to_cap_and_resets() {
        let mut b = Backoff::new();
        let secs: Vec<u64> = (0..8).map(|_| b.next_delay().as_secs()).collect();
        assert_eq!(secs, vec![1, 2, 4, 8, 16, 30, 30, 30]);
        b.reset();
        assert_eq!(b.next_delay().as_secs(), 1);
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
            Some(ConnEvent::Disconnected { retry_in, .. }) => {
                assert_eq!(retry_in, Duration::from_secs(1))
            }
            other => panic!("unexpected {other:?}"),
        }
        let _ = conn.commands.send(ConnCommand::Quit("QUIT".into()));
        let _ = tokio::time::timeout(Duration::from_secs(10), conn.task).await;
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
