//! One simulated chat client, for either protocol: connect (optionally from a
//! chosen loopback source address), register, join a room, send bench
//! messages, and classify what the server sends back.
//!
//! IRC is spoken the way any RFC 1459/2812 server expects (NICK/USER, PING
//! answered with PONG, JOIN waiting for the end of NAMES), so the bench can
//! drive ngircd or InspIRCd as well as ours. The line protocol is our own
//! netcat-style one (nick prompt, `HH:MM <nick> text`).
//!
//! Every wait has a deadline and every write a timeout: a server that stalls,
//! drops or disconnects produces an error here, never a hang. Nothing read
//! from the network is trusted: lines are length-bounded by the shared
//! framing codec and parsed without panicking.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::BytesMut;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;
use tokio_util::codec::FramedRead;

use chatroom_proto::framing::{Decode, Frame, LineCodec};
use chatroom_proto::irc::message::Message;

/// Longest line the bench accepts from a server. Generous (IRC's is 512
/// plus tags) but bounded, so a misbehaving server cannot grow our memory.
const MAX_LINE: usize = 16 * 1024;

/// Which protocol the simulated clients speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// IRC (any RFC 1459/2812 server).
    Irc,
    /// chatroom's line protocol (netcat style).
    Line,
}

impl Proto {
    pub fn name(self) -> &'static str {
        match self {
            Proto::Irc => "irc",
            Proto::Line => "line",
        }
    }
}

/// Where and how to connect; shared by every client of a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NetCfg {
    pub target: SocketAddr,
    /// More servers of the same cluster (`--also-target`): client `i`
    /// connects to the `i`-th of `target` and these, round-robin, so a
    /// room's members and senders are spread over the nodes.
    #[serde(default)]
    pub also: Vec<SocketAddr>,
    pub proto: Proto,
    /// Local addresses to bind before connecting, used round-robin by
    /// client index (each has its own ephemeral port range). Empty: let the
    /// kernel choose.
    pub source_addrs: Vec<IpAddr>,
    /// Bound of every single wait (connect, each registration step, a write).
    pub timeout_ns: u64,
    /// Stay in rooms the server joins a client to by itself (its default
    /// rooms), as a plain client does, instead of leaving them.
    #[serde(default)]
    pub stay: bool,
    /// IRC registration as two writes (NICK, then USER) instead of one.
    #[serde(default)]
    pub split_registration: bool,
}

impl NetCfg {
    pub fn timeout(&self) -> Duration {
        Duration::from_nanos(self.timeout_ns)
    }

    /// The server client `idx` connects to.
    pub fn target_of(&self, idx: u32) -> SocketAddr {
        match idx as usize % (1 + self.also.len()) {
            0 => self.target,
            i => self.also[i - 1],
        }
    }
}

/// Why a client could not get going, or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("connect: {0}")]
    Connect(std::io::Error),
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
    #[error("server closed the connection during {0}")]
    Closed(&'static str),
    #[error("refused during {step}: {reason}")]
    Refused { step: &'static str, reason: String },
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// How many TCP connects the bench has started in this process (the
/// loopback guard's test checks a refused target never gets this far).
static CONNECT_ATTEMPTS: AtomicU64 = AtomicU64::new(0);

pub fn connect_attempts() -> u64 {
    CONNECT_ATTEMPTS.load(Ordering::Relaxed)
}

/// The write side, shared by a client's sender and its reader (which answers
/// PINGs). Each write is bounded by the timeout: a server that stops reading
/// turns into a `write stall`, not a stuck task.
pub struct Writer {
    half: tokio::sync::Mutex<OwnedWriteHalf>,
    timeout: Duration,
}

impl Writer {
    pub async fn write(&self, bytes: &[u8]) -> Result<(), ClientError> {
        let mut half = self.half.lock().await;
        match tokio::time::timeout(self.timeout, half.write_all(bytes)).await {
            Ok(r) => r.map_err(ClientError::Io),
            Err(_) => Err(ClientError::Timeout("a write")),
        }
    }
}

/// What one line from the server means to the bench.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming<'a> {
    /// A message to a room: its text (bench payload or anything else).
    Text(&'a [u8]),
    /// IRC PING: answer with this line.
    Ping(String),
    /// The server says its flood control delays or drops this client's
    /// input (see [`FLOOD_SIGNS`]).
    Flood,
    /// Anything else (notices, joins, numerics).
    Other,
}

/// A connected client: the framed read side and the shared write side.
pub struct Conn {
    pub proto: Proto,
    pub nick: String,
    pub reader: FramedRead<OwnedReadHalf, Lines>,
    pub writer: Arc<Writer>,
}

/// A client that got through setup, with what setup cost.
pub struct Opened {
    pub conn: Conn,
    /// TCP connect time.
    pub connect_ns: u64,
    /// From the start of the connect to the server's welcome.
    pub register_ns: u64,
}

/// Which step of [`open`] failed, for the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Connect,
    Register,
    Join,
}

/// Connects, registers as `nick` and (when `room` is given) joins `room`.
pub async fn open(
    net: &NetCfg,
    idx: u32,
    nick: &str,
    room: Option<&str>,
) -> Result<Opened, (Step, ClientError)> {
    let t0 = Instant::now();
    let stream = connect(net, idx).await.map_err(|e| (Step::Connect, e))?;
    let connect_ns = t0.elapsed().as_nanos() as u64;
    let mut conn = Conn::new(stream, net.proto, nick, net.timeout());
    let deadline = Instant::now() + net.timeout();
    conn.register(deadline, net.split_registration)
        .await
        .map_err(|e| (Step::Register, e))?;
    let register_ns = t0.elapsed().as_nanos() as u64;
    if let Some(room) = room {
        let deadline = Instant::now() + net.timeout();
        conn.join(room, deadline, net.stay)
            .await
            .map_err(|e| (Step::Join, e))?;
    }
    Ok(Opened {
        conn,
        connect_ns,
        register_ns,
    })
}

/// A TCP connection to the target, bound first to the client's source
/// address when some were given.
pub async fn connect(net: &NetCfg, idx: u32) -> Result<TcpStream, ClientError> {
    CONNECT_ATTEMPTS.fetch_add(1, Ordering::Relaxed);
    let target = net.target_of(idx);
    let socket = match target {
        SocketAddr::V4(_) => TcpSocket::new_v4(),
        SocketAddr::V6(_) => TcpSocket::new_v6(),
    }
    .map_err(ClientError::Connect)?;
    if !net.source_addrs.is_empty() {
        let src = net.source_addrs[idx as usize % net.source_addrs.len()];
        socket
            .bind(SocketAddr::new(src, 0))
            .map_err(ClientError::Connect)?;
    }
    let stream = match tokio::time::timeout(net.timeout(), socket.connect(target)).await {
        Ok(r) => r.map_err(ClientError::Connect)?,
        Err(_) => return Err(ClientError::Timeout("connect")),
    };
    // Chat lines are small: without this, Nagle would hold a line back
    // until the previous one is acknowledged and inflate the latency.
    stream.set_nodelay(true).map_err(ClientError::Connect)?;
    Ok(stream)
}

/// Lowercase ASCII comparison, enough for room names in replies (RFC 1459
/// case mapping differs only in `[]\~`, which bench room names never use).
fn same_name(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

impl Conn {
    pub fn new(stream: TcpStream, proto: Proto, nick: &str, timeout: Duration) -> Conn {
        let (rd, wr) = stream.into_split();
        Conn {
            proto,
            nick: nick.to_string(),
            reader: FramedRead::new(rd, Lines::new(MAX_LINE)),
            writer: Arc::new(Writer {
                half: tokio::sync::Mutex::new(wr),
                timeout,
            }),
        }
    }

    /// The next line, or an error at EOF or at `deadline`. Over-long lines
    /// are skipped.
    pub async fn next_line(
        &mut self,
        deadline: Instant,
        step: &'static str,
    ) -> Result<BytesMut, ClientError> {
        loop {
            match tokio::time::timeout_at(deadline, self.reader.next()).await {
                Err(_) => return Err(ClientError::Timeout(step)),
                Ok(None) => return Err(ClientError::Closed(step)),
                Ok(Some(Err(e))) => return Err(ClientError::Io(e)),
                Ok(Some(Ok(Frame::TooLong))) => continue,
                Ok(Some(Ok(Frame::Line(line)))) => return Ok(line),
            }
        }
    }

    /// Registers; returns once the server has welcomed us.
    async fn register(&mut self, deadline: Instant, split: bool) -> Result<(), ClientError> {
        const STEP: &str = "registration";
        let nick = self.nick.clone();
        match self.proto {
            Proto::Irc => {
                if split {
                    self.writer
                        .write(format!("NICK {nick}\r\n").as_bytes())
                        .await?;
                    self.writer
                        .write(format!("USER {nick} 0 * :{nick}\r\n").as_bytes())
                        .await?;
                } else {
                    let hello = format!("NICK {nick}\r\nUSER {nick} 0 * :{nick}\r\n");
                    self.writer.write(hello.as_bytes()).await?;
                }
                loop {
                    let line = self.next_line(deadline, STEP).await?;
                    let Ok(msg) = Message::parse(&String::from_utf8_lossy(&line)) else {
                        continue;
                    };
                    match msg.command.as_str() {
                        "001" => return Ok(()),
                        "PING" => self.pong(&msg).await?,
                        "ERROR" => {
                            return Err(ClientError::Refused {
                                step: STEP,
                                reason: msg.param(0).to_string(),
                            });
                        }
                        // Nick in use / erroneous / banned / not registered
                        // ...: any error numeric before the welcome ends it.
                        c if c.len() == 3 && (c.starts_with('4') || c.starts_with('5')) => {
                            return Err(ClientError::Refused {
                                step: STEP,
                                reason: format!("{c} {}", msg.params.join(" ")),
                            });
                        }
                        _ => {}
                    }
                }
            }
            Proto::Line => {
                // The server asks first, but reads whatever we send after
                // asking; sending at once saves a round trip, as IRC does.
                self.writer.write(format!("{nick}\n").as_bytes()).await?;
                let welcome = format!("Welcome, {nick}!");
                loop {
                    let line = self.next_line(deadline, STEP).await?;
                    let text = String::from_utf8_lossy(&line);
                    if text.starts_with(&welcome) {
                        return Ok(());
                    }
                    if let Some(err) = text.strip_prefix("! ") {
                        return Err(ClientError::Refused {
                            step: STEP,
                            reason: err.to_string(),
                        });
                    }
                }
            }
        }
    }

    /// Joins `room` and leaves any room the server put us in by itself (our
    /// server's `#lobby`): every bench client should be in exactly the room
    /// the workload says, or join notices and stray traffic would skew it.
    async fn join(&mut self, room: &str, deadline: Instant, stay: bool) -> Result<(), ClientError> {
        const STEP: &str = "join";
        match self.proto {
            Proto::Irc => {
                self.writer
                    .write(format!("JOIN {room}\r\n").as_bytes())
                    .await?;
                loop {
                    let line = self.next_line(deadline, STEP).await?;
                    let Ok(msg) = Message::parse(&String::from_utf8_lossy(&line)) else {
                        continue;
                    };
                    match msg.command.as_str() {
                        "PING" => self.pong(&msg).await?,
                        "JOIN"
                            if !stay
                                && msg.source_nick() == Some(self.nick.as_str())
                                && !same_name(msg.param(0), room) =>
                        {
                            // Auto-joined elsewhere: leave it.
                            let part = format!("PART {}\r\n", msg.param(0));
                            self.writer.write(part.as_bytes()).await?;
                        }
                        // End of NAMES: the join is complete.
                        "366" if same_name(msg.param(1), room) => return Ok(()),
                        "ERROR" => {
                            return Err(ClientError::Refused {
                                step: STEP,
                                reason: msg.param(0).to_string(),
                            });
                        }
                        c if c.len() == 3
                            && (c.starts_with('4') || c.starts_with('5'))
                            && same_name(msg.param(1), room) =>
                        {
                            return Err(ClientError::Refused {
                                step: STEP,
                                reason: format!("{c} {}", msg.params.join(" ")),
                            });
                        }
                        _ => {}
                    }
                }
            }
            Proto::Line => {
                self.writer
                    .write(format!("/join {room}\n").as_bytes())
                    .await?;
                let focus = "* you are now talking in ";
                let mut elsewhere: Vec<String> = Vec::new();
                loop {
                    let line = self.next_line(deadline, STEP).await?;
                    let text = String::from_utf8_lossy(&line);
                    if let Some(r) = text.strip_prefix(focus) {
                        let r = r.trim();
                        if same_name(r, room) {
                            break;
                        }
                        if !elsewhere.iter().any(|e| same_name(e, r)) {
                            elsewhere.push(r.to_string());
                        }
                    } else if let Some(err) = text.strip_prefix("! ") {
                        return Err(ClientError::Refused {
                            step: STEP,
                            reason: err.to_string(),
                        });
                    }
                }
                for r in elsewhere.into_iter().filter(|_| !stay) {
                    self.writer.write(format!("/part {r}\n").as_bytes()).await?;
                }
                Ok(())
            }
        }
    }

    async fn pong(&self, ping: &Message) -> Result<(), ClientError> {
        self.writer.write(pong_line(ping).as_bytes()).await
    }
}

/// `PONG :token` for a PING (the token is echoed as given).
pub fn pong_line(ping: &Message) -> String {
    let mut m = Message::new("PONG", &[ping.param(0)]);
    if ping.params.is_empty() {
        m.params.clear();
    }
    let mut s = m.to_string();
    s.push_str("\r\n");
    s
}

/// The start of a line that sends text to `room`: `PRIVMSG #room :` for
/// IRC, nothing for the line protocol (plain lines go to the current room).
pub fn send_prefix(proto: Proto, room: &str) -> Vec<u8> {
    match proto {
        Proto::Irc => format!("PRIVMSG {room} :").into_bytes(),
        Proto::Line => Vec::new(),
    }
}

/// The end of a line the bench sends.
pub fn line_end(proto: Proto) -> &'static [u8] {
    match proto {
        Proto::Irc => b"\r\n",
        Proto::Line => b"\n",
    }
}

/// The quit line, sent (best effort) when a client is done.
pub fn quit_line(proto: Proto) -> &'static [u8] {
    match proto {
        Proto::Irc => b"QUIT :bench done\r\n",
        Proto::Line => b"/quit bench done\n",
    }
}

/// What a line from the server is. The hot path of a run: room messages
/// are picked out without allocating (a full IRC parse allocates per
/// field, and a run can deliver millions of lines per second); everything
/// else goes through the shared IRC parser.
pub fn classify(proto: Proto, line: &[u8]) -> Incoming<'_> {
    match proto {
        Proto::Irc => {
            if let Some(text) = irc_privmsg_text(line) {
                return Incoming::Text(text);
            }
            if contains_ping(line)
                && let Ok(msg) = Message::parse(&String::from_utf8_lossy(line))
                && msg.command == "PING"
            {
                return Incoming::Ping(pong_line(&msg));
            }
            flood_or_other(line)
        }
        Proto::Line => match line_text(line) {
            Some(t) => Incoming::Text(t),
            None => flood_or_other(line),
        },
    }
}

/// What servers say when flood control shapes a client: this server's
/// notice (delayed, nothing lost), and the quit reason IRC servers such as
/// ngIRCd and InspIRCd give when they cut a client for flooding. Other
/// servers delay silently; the hint then is a latency that grows with the
/// run (see the SVG report).
pub const FLOOD_SIGNS: [&[u8]; 2] = [b"Flood control:", b"Excess Flood"];

fn flood_or_other(line: &[u8]) -> Incoming<'_> {
    if FLOOD_SIGNS
        .iter()
        .any(|sign| memchr::memmem::find(line, sign).is_some())
    {
        Incoming::Flood
    } else {
        Incoming::Other
    }
}

fn contains_ping(line: &[u8]) -> bool {
    line.windows(4).any(|w| w.eq_ignore_ascii_case(b"PING"))
}

/// Splits at the first space: (before, after).
fn split_space(s: &[u8]) -> Option<(&[u8], &[u8])> {
    let i = s.iter().position(|&b| b == b' ')?;
    Some((&s[..i], &s[i + 1..]))
}

/// The text of `[@tags] [:source] PRIVMSG <target> [:]text`.
fn irc_privmsg_text(line: &[u8]) -> Option<&[u8]> {
    let mut rest = line;
    if rest.first() == Some(&b'@') {
        rest = split_space(rest)?.1.trim_ascii_start();
    }
    if rest.first() == Some(&b':') {
        rest = split_space(rest)?.1.trim_ascii_start();
    }
    let (cmd, rest) = split_space(rest)?;
    if !cmd.eq_ignore_ascii_case(b"PRIVMSG") {
        return None;
    }
    let (_target, text) = split_space(rest.trim_ascii_start())?;
    let text = text.trim_ascii_start();
    Some(text.strip_prefix(b":").unwrap_or(text))
}

/// The text of a line-protocol room message: `HH:MM <nick> text` in the
/// current room, `HH:MM [#room] <nick> text` in another.
fn line_text(line: &[u8]) -> Option<&[u8]> {
    let (clock, rest) = split_space(line)?;
    if clock.len() != 5 || clock[2] != b':' {
        return None;
    }
    let rest = match rest.first() {
        Some(b'[') => split_space(rest)?.1,
        _ => rest,
    };
    let rest = rest.strip_prefix(b"<")?;
    let end = rest.windows(2).position(|w| w == b"> ")?;
    Some(&rest[end + 2..])
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
    fn classifies_irc_lines() {
        assert_eq!(
            classify(Proto::Irc, b":a!u@h PRIVMSG #bench :bqz 1 2 3 xx"),
            Incoming::Text(b"bqz 1 2 3 xx")
        );
        assert_eq!(
            classify(Proto::Irc, b"@time=x :a!u@h PRIVMSG #bench :hi there"),
            Incoming::Text(b"hi there")
        );
        assert_eq!(
            classify(Proto::Irc, b":a PRIVMSG #b word"),
            Incoming::Text(b"word")
        );
        assert_eq!(
            classify(Proto::Irc, b"PING :irc.example"),
            Incoming::Ping("PONG irc.example\r\n".into())
        );
        assert_eq!(
            classify(Proto::Irc, b":srv PING :tok en"),
            Incoming::Ping("PONG :tok en\r\n".into())
        );
        assert_eq!(
            classify(Proto::Irc, b":a!u@h NOTICE #b :PING"),
            Incoming::Other
        );
        for junk in [
            &b""[..],
            b":",
            b"@",
            b"PRIVMSG",
            b":x PRIVMSG",
            b":a JOIN #b",
            b"\xff\xfe",
        ] {
            assert_eq!(classify(Proto::Irc, junk), Incoming::Other, "{junk:?}");
        }
    }

    #[test]
    fn classifies_line_protocol_lines() {
        assert_eq!(
            classify(Proto::Line, b"12:01 <alice> bqz 1 2 3 x"),
            Incoming::Text(b"bqz 1 2 3 x")
        );
        assert_eq!(
            classify(Proto::Line, b"12:01 [#other] <bob> hi"),
            Incoming::Text(b"hi")
        );
        for other in [
            &b"12:01 * bob joined #lobby"[..],
            b"Welcome, bob! Type /help for commands.",
            b"12:01 <bob>",
            b"",
            b"1:01 <a> x",
        ] {
            assert_eq!(classify(Proto::Line, other), Incoming::Other, "{other:?}");
        }
    }

    #[test]
    fn pong_echoes_token() {
        let m = Message::parse("PING").expect("parses");
        assert_eq!(pong_line(&m), "PONG\r\n");
    }
}
