//! The two tutorial dialects against the real server binary, with the
//! tutorials' own client programs (`tests/tutorial/*.py`, run by python3 as
//! subprocesses) chatting with a line-protocol user and a raw-socket IRC
//! user; plus raw-socket tests of bad input on both dialects.
//!
//! Every child process is killed by PID in a Drop guard, so a failing test
//! leaves nothing running. All waits are bounded (`common::WAIT`); nothing
//! asserts on timing.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{LineClient, TestServer, WAIT};

const POLL: Duration = Duration::from_millis(50);

// ---------------------------------------------------------------------------
// The tutorial client programs as subprocesses.

/// A tutorial client program. Its stdout is kept as one transcript (the
/// NICK client prints whatever one `recv` returned, which may hold several
/// messages), searched forward from a cursor so that expectations also
/// check order.
struct PyClient {
    child: Child,
    stdin: Option<ChildStdin>,
    out: Receiver<Vec<u8>>,
    transcript: Vec<u8>,
    cursor: usize,
    stderr: Arc<Mutex<Vec<u8>>>,
    /// The length-header client only reads the socket after reading a line
    /// of input; empty lines make it poll without sending anything.
    pump: bool,
    name: String,
}

impl PyClient {
    fn start(script: &str, addr: SocketAddr, name: &str, pump: bool) -> PyClient {
        let path = format!("{}/tests/tutorial/{script}", env!("CARGO_MANIFEST_DIR"));
        let mut cmd = Command::new("python3");
        cmd.arg("-u")
            .arg(path)
            .arg(addr.ip().to_string())
            .arg(addr.port().to_string())
            .arg(name)
            // The tutorial client prints what it receives; make that work
            // whatever the test machine's locale.
            .env("PYTHONIOENCODING", "utf-8");
        PyClient::spawn(cmd, name, pump)
    }

    /// Our own terminal client, `chatroom join`, in its plain line mode
    /// (stdin and stdout are pipes), connected to the IRC listener.
    fn terminal(irc: SocketAddr, name: &str) -> PyClient {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_chatroom"));
        cmd.args(["join", &irc.to_string(), "--nick", name]);
        PyClient::spawn(cmd, name, false)
    }

    fn spawn(mut cmd: Command, name: &str, pump: bool) -> PyClient {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start client program");
        let stdin = child.stdin.take();
        let mut stdout = child.stdout.take().expect("stdout");
        let mut stderr_pipe = child.stderr.take().expect("stderr");
        let (tx, out) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr_pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if let Ok(mut s) = sink.lock() {
                    s.extend_from_slice(&buf[..n]);
                }
            }
        });
        PyClient {
            child,
            stdin,
            out,
            transcript: Vec::new(),
            cursor: 0,
            stderr,
            pump,
            name: name.to_string(),
        }
    }

    fn lenheader(addr: SocketAddr, name: &str) -> PyClient {
        PyClient::start("lenheader_client.py", addr, name, true)
    }

    fn nick(addr: SocketAddr, name: &str) -> PyClient {
        PyClient::start("nick_client.py", addr, name, false)
    }

    /// Types a line into the client.
    fn type_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .and_then(|_| stdin.flush())
            .expect("write to client stdin");
    }

    fn transcript(&self) -> String {
        String::from_utf8_lossy(&self.transcript).into_owned()
    }

    fn describe(&self) -> String {
        let stderr = self
            .stderr
            .lock()
            .map(|s| String::from_utf8_lossy(&s).into_owned())
            .unwrap_or_default();
        format!(
            "{} printed:\n{}\n--- stderr:\n{stderr}",
            self.name,
            self.transcript()
        )
    }

    /// Waits until `needle` appears after everything matched so far.
    fn expect(&mut self, needle: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            let hay = &self.transcript[self.cursor..];
            if let Some(i) = hay
                .windows(needle.len())
                .position(|w| w == needle.as_bytes())
            {
                self.cursor += i + needle.len();
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {needle:?}; {}",
                self.describe()
            );
            if self.pump {
                self.type_line("");
            }
            match self.out.recv_timeout(POLL) {
                Ok(bytes) => self.transcript.extend_from_slice(&bytes),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("client exited waiting for {needle:?}; {}", self.describe())
                }
            }
        }
    }
}

impl Drop for PyClient {
    fn drop(&mut self) {
        // Child::kill signals the child's own PID, nothing else.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------
// Raw-socket clients.

fn irc_login(addr: SocketAddr, nick: &str) -> LineClient {
    let mut c = LineClient::connect(addr);
    c.send(&format!("NICK {nick}"));
    c.send(&format!("USER {nick} 0 * :{nick}"));
    c.expect(" 001 ");
    c.wait_for("own JOIN", |l| {
        l.starts_with(&format!(":{nick}!")) && l.contains("JOIN")
    });
    c
}

/// An IRC line from `nick` with `command` (and more) in it.
fn irc_from(c: &mut LineClient, nick: &str, rest: &str) -> String {
    let prefix = format!(":{nick}!");
    c.wait_for(&format!("{prefix}... {rest}"), |l| {
        l.starts_with(&prefix) && l.contains(rest)
    })
}

/// A hand-written length-header client that sees the exact fields.
struct LenClient {
    stream: TcpStream,
    buf: Vec<u8>,
}

fn field(bytes: &[u8]) -> Vec<u8> {
    let mut out = format!("{:<10}", bytes.len()).into_bytes();
    out.extend_from_slice(bytes);
    out
}

impl LenClient {
    fn connect(addr: SocketAddr, username: &str) -> LenClient {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(POLL)).expect("timeout");
        let mut c = LenClient {
            stream,
            buf: Vec::new(),
        };
        c.send_raw(&field(username.as_bytes()));
        c
    }

    fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send");
    }

    fn say(&mut self, text: &str) {
        self.send_raw(&field(text.as_bytes()));
    }

    /// One complete field from the buffer, if there is one.
    fn take_field(&mut self) -> Option<String> {
        if self.buf.len() < 10 {
            return None;
        }
        let len: usize = std::str::from_utf8(&self.buf[..10])
            .ok()
            .and_then(|h| h.trim().parse().ok())
            .unwrap_or_else(|| panic!("server sent a bad header: {:?}", &self.buf[..10]));
        if self.buf.len() < 10 + len {
            return None;
        }
        let f: Vec<u8> = self.buf.drain(..10 + len).skip(10).collect();
        Some(String::from_utf8(f).expect("server sends UTF-8"))
    }

    /// The next (username, message) pair; `None` when the server closed.
    fn next_pair(&mut self) -> Option<(String, String)> {
        let deadline = Instant::now() + WAIT;
        let mut fields = Vec::new();
        loop {
            while fields.len() < 2 {
                match self.take_field() {
                    Some(f) => fields.push(f),
                    None => break,
                }
            }
            if fields.len() == 2 {
                let msg = fields.pop()?;
                let user = fields.pop()?;
                return Some((user, msg));
            }
            assert!(
                Instant::now() < deadline,
                "no field pair arrived; fields {fields:?}"
            );
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    assert!(fields.is_empty() && self.buf.is_empty(), "closed mid-pair");
                    return None;
                }
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => return None,
            }
        }
    }

    /// Waits for a pair from `user` whose message contains `needle`.
    fn expect(&mut self, user: &str, needle: &str) -> String {
        let mut seen = Vec::new();
        loop {
            match self.next_pair() {
                Some((u, m)) if u == user && m.contains(needle) => return m,
                Some(p) => seen.push(p),
                None => panic!("closed waiting for {user} > {needle}; got {seen:?}"),
            }
        }
    }

    /// Reads every pair until the server closes the connection.
    fn until_closed(&mut self) -> Vec<(String, String)> {
        let mut seen = Vec::new();
        while let Some(p) = self.next_pair() {
            seen.push(p);
        }
        seen
    }
}

/// A hand-written NICK-dialect client that keeps every byte received.
struct NickRaw {
    stream: TcpStream,
    got: Vec<u8>,
    cursor: usize,
}

impl NickRaw {
    /// Connects and waits for the `NICK` prompt (without answering it).
    fn connect(addr: SocketAddr) -> NickRaw {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(POLL)).expect("timeout");
        let mut c = NickRaw {
            stream,
            got: Vec::new(),
            cursor: 0,
        };
        c.expect("NICK");
        c
    }

    fn login(addr: SocketAddr, nick: &str) -> NickRaw {
        let mut c = NickRaw::connect(addr);
        c.send(nick.as_bytes());
        c.expect("Connected to server!");
        c
    }

    fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send");
    }

    /// Reads once (briefly). Returns false at EOF.
    fn poll(&mut self) -> bool {
        let mut chunk = [0u8; 4096];
        match self.stream.read(&mut chunk) {
            Ok(0) => false,
            Ok(n) => {
                self.got.extend_from_slice(&chunk[..n]);
                true
            }
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                true
            }
            Err(_) => false,
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.got).into_owned()
    }

    fn expect(&mut self, needle: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(i) = self.got[self.cursor..]
                .windows(needle.len())
                .position(|w| w == needle.as_bytes())
            {
                self.cursor += i + needle.len();
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {needle:?}; got {:?}",
                self.text()
            );
            assert!(
                self.poll(),
                "closed waiting for {needle:?}; got {:?}",
                self.text()
            );
        }
    }

    fn until_closed(&mut self) -> String {
        let deadline = Instant::now() + WAIT;
        while self.poll() {
            assert!(
                Instant::now() < deadline,
                "not closed; got {:?}",
                self.text()
            );
        }
        self.text()
    }

    fn all_printable_ascii(&self) -> bool {
        self.got
            .iter()
            .all(|&b| b == b'\n' || (0x20..0x7f).contains(&b))
    }
}

fn start() -> TestServer {
    // Flood control off: the tests send faster than people type.
    TestServer::start(&["--lenheader", "--nick-dialect", "--flood-rate", "0"])
}

fn addrs(s: &TestServer) -> (SocketAddr, SocketAddr, SocketAddr, SocketAddr) {
    (
        s.line.expect("line listener"),
        s.irc.expect("irc listener"),
        s.lenheader.expect("lenheader listener"),
        s.nick.expect("nick listener"),
    )
}

// ---------------------------------------------------------------------------

#[test]
fn every_protocol_meets_in_one_room() {
    let server = start();
    let (line, irc, lh, nk) = addrs(&server);

    let mut lina = LineClient::line_login(line, "lina");
    let mut irene = irc_login(irc, "irene");
    lina.expect("irene joined #lobby");

    let mut lenny = PyClient::lenheader(lh, "lenny");
    lina.expect("lenny joined #lobby");
    irc_from(&mut irene, "lenny", "JOIN");

    let mut nico = PyClient::nick(nk, "nico");
    // The tutorial's order: the join goes to everyone, then the greeting.
    nico.expect("nico joined!");
    nico.expect("Connected to server!");
    lina.expect("nico joined #lobby");
    irc_from(&mut irene, "nico", "JOIN");
    lenny.expect("chatroom > nico joined #lobby");

    let mut tui = PyClient::terminal(irc, "tui");
    tui.expect("connected to");
    lina.expect("tui joined #lobby");
    lenny.expect("chatroom > tui joined #lobby");
    nico.expect("tui joined!");
    irc_from(&mut irene, "tui", "JOIN");

    // Two messages from each sender; everyone else sees both, in order.
    lina.send("hello from line");
    lina.send("second from line");
    for needle in ["lina > hello from line", "lina > second from line"] {
        lenny.expect(needle);
    }
    tui.expect("#lobby <lina> hello from line");
    tui.expect("#lobby <lina> second from line");
    for needle in ["lina: hello from line", "lina: second from line"] {
        nico.expect(needle);
    }
    irc_from(&mut irene, "lina", "PRIVMSG #lobby :hello from line");
    irc_from(&mut irene, "lina", "PRIVMSG #lobby :second from line");

    irene.send("PRIVMSG #lobby :hi from irc");
    irene.send("PRIVMSG #lobby :again from irc");
    lina.expect("<irene> hi from irc");
    lina.expect("<irene> again from irc");
    lenny.expect("irene > hi from irc");
    lenny.expect("irene > again from irc");
    nico.expect("irene: hi from irc");
    nico.expect("irene: again from irc");
    tui.expect("#lobby <irene> hi from irc");
    tui.expect("#lobby <irene> again from irc");

    tui.type_line("hi from tui");
    tui.type_line("again from tui");
    lina.expect("<tui> hi from tui");
    lina.expect("<tui> again from tui");
    lenny.expect("tui > hi from tui");
    lenny.expect("tui > again from tui");
    nico.expect("tui: hi from tui");
    nico.expect("tui: again from tui");
    irc_from(&mut irene, "tui", "PRIVMSG #lobby :hi from tui");
    irc_from(&mut irene, "tui", "PRIVMSG #lobby :again from tui");

    lenny.type_line("hi from lenheader");
    lenny.type_line("again from lenheader");
    lina.expect("<lenny> hi from lenheader");
    lina.expect("<lenny> again from lenheader");
    nico.expect("lenny: hi from lenheader");
    nico.expect("lenny: again from lenheader");
    irc_from(&mut irene, "lenny", "PRIVMSG #lobby :hi from lenheader");
    irc_from(&mut irene, "lenny", "PRIVMSG #lobby :again from lenheader");
    tui.expect("#lobby <lenny> hi from lenheader");
    tui.expect("#lobby <lenny> again from lenheader");

    // The NICK dialect has no framing: two sends in quick succession may
    // arrive as one chunk, i.e. one message. So each is awaited first.
    nico.type_line("hi from nick");
    lina.expect("<nico> hi from nick");
    nico.type_line("again from nick");
    lina.expect("<nico> again from nick");
    // The sender sees its own messages, as with the tutorial's server.
    nico.expect("nico: hi from nick");
    nico.expect("nico: again from nick");
    lenny.expect("nico > hi from nick");
    lenny.expect("nico > again from nick");
    irc_from(&mut irene, "nico", "PRIVMSG #lobby :hi from nick");
    irc_from(&mut irene, "nico", "PRIVMSG #lobby :again from nick");
    tui.expect("#lobby <nico> hi from nick");
    tui.expect("#lobby <nico> again from nick");

    // Actions.
    lina.send("/me waves");
    lenny.expect("lina > * lina waves");
    nico.expect("* lina waves");
    irc_from(&mut irene, "lina", "PRIVMSG #lobby :\u{1}ACTION waves\u{1}");

    // Nick changes, from the line protocol and from IRC.
    lina.send("/nick lina2");
    lenny.expect("chatroom > lina is now known as lina2");
    nico.expect("lina is now known as lina2");
    irc_from(&mut irene, "lina", "NICK");
    tui.expect("lina is now known as lina2");
    irene.send("NICK irene2");
    lina.expect("irene is now known as irene2");
    tui.expect("irene is now known as irene2");
    lenny.expect("chatroom > irene is now known as irene2");
    nico.expect("irene is now known as irene2");
    tui.type_line("/nick tui2");
    lina.expect("tui is now known as tui2");
    lenny.expect("chatroom > tui is now known as tui2");
    nico.expect("tui is now known as tui2");

    // Leaving: an IRC quit, a line-protocol part (and rejoin).
    irene.send("QUIT :bye now");
    lina.expect("irene2 quit");
    lenny.expect("chatroom > irene2 quit");
    nico.expect("irene2 left!");
    lina.send("/part");
    lenny.expect("chatroom > lina2 left #lobby");
    nico.expect("lina2 left!");
    lina.send("/join #lobby");
    lenny.expect("chatroom > lina2 joined #lobby");
    nico.expect("lina2 joined!");
    tui.expect("irene2 quit");
    tui.expect("lina2 left");
    tui.expect("lina2 joined");

    // The terminal client leaves with a reason everyone sees.
    tui.type_line("/quit see you");
    lina.expect("tui2 quit (Quit: see you)");
    lenny.expect("chatroom > tui2 quit (Quit: see you)");
    nico.expect("tui2 left!");
    drop(tui);

    // The tutorial clients leave by going away.
    drop(nico);
    lina.expect("nico quit");
    lenny.expect("chatroom > nico quit");
    lina.send("last words");
    lenny.expect("lina2 > last words");

    // Like the tutorial's server, nothing the length-header user said (nor
    // its own join) came back to it.
    let t = lenny.transcript();
    assert!(!t.contains("lenny > "), "echoed: {t}");
    assert!(!t.contains("lenny joined"), "own join shown: {t}");
    drop(lenny);
    lina.expect("lenny quit");
}

#[test]
fn tutorial_names_are_made_valid_and_unique() {
    let server = start();
    let (line, _, lh, nk) = addrs(&server);
    let mut lina = LineClient::line_login(line, "lina");

    // Taken on the length-header dialect: a number is appended, and the
    // client is told its real name.
    let mut other = PyClient::lenheader(lh, "lina");
    other.expect("chatroom > You are known here as lina2 (lina was taken)");
    lina.expect("lina2 joined #lobby");

    // Invalid: made valid.
    let mut bob = LenClient::connect(lh, "Bob Smith");
    let note = bob.expect("chatroom", "You are known here as Bob_Smith");
    assert!(note.contains("not a valid nickname"), "{note}");
    lina.expect("Bob_Smith joined #lobby");

    // Taken on the NICK dialect: the same, in ASCII.
    let mut nico = PyClient::nick(nk, "lina");
    nico.expect("lina3 joined!");
    nico.expect("Connected to server!");
    nico.expect("You are known here as lina3 (lina was taken)");
    lina.expect("lina3 joined #lobby");
    // The tutorial client still prefixes its messages with the name it
    // asked for; that prefix is removed all the same.
    nico.type_line("hello");
    lina.expect("<lina3> hello");
    other.expect("lina3 > hello");

    // A netcat user on the NICK port with an invalid name and line endings.
    let mut nc = NickRaw::connect(nk);
    nc.send(b"  \n");
    nc.send(b"9 lives\r\n");
    nc.expect("_9_lives joined!");
    nc.expect("You are known here as _9_lives");
    nc.send(b"meow\r\n");
    lina.expect("<_9_lives> meow");
}

#[test]
fn nick_dialect_sends_nick_alone_and_only_ascii() {
    let server = start();
    let (line, _, lh, nk) = addrs(&server);
    let mut lina = LineClient::line_login(line, "lina");
    let mut lenny = PyClient::lenheader(lh, "lenny");
    lina.expect("lenny joined #lobby");
    let mut nico = PyClient::nick(nk, "nico");
    nico.expect("Connected to server!");

    // NICK goes out alone: the first thing after it is the join, and only
    // once the nickname was sent.
    let mut raw = NickRaw::connect(nk);
    assert_eq!(raw.text(), "NICK");
    raw.send(b"rawuser");
    raw.expect("Connected to server!");
    assert!(
        raw.text().starts_with("NICKrawuser joined!"),
        "{:?}",
        raw.text()
    );

    lina.send("h\u{e9}llo w\u{f6}rld \u{2603} \u{65e5}\u{672c} \u{1b}[2J");
    // ESC reaches the terminal as a visible `^[`, never as a control.
    raw.expect("lina: hello world ? ?? ^[[2J");
    nico.expect("lina: hello world ? ??");
    // Other protocols get the text as it was written.
    lenny.expect("lina > h\u{e9}llo w\u{f6}rld \u{2603} \u{65e5}\u{672c}");
    // The tutorial client's strict ASCII decoding survived it.
    lina.send("plain after");
    nico.expect("lina: plain after");
    raw.expect("lina: plain after");
    assert!(
        !nico.transcript().contains("An error occured!"),
        "{}",
        nico.describe()
    );
    assert!(raw.all_printable_ascii(), "{:?}", raw.got);

    lina.send("/msg rawuser ps\u{fc}st");
    raw.expect("[private] lina: psust");
    assert!(raw.all_printable_ascii(), "{:?}", raw.got);
}

#[test]
fn nick_dialect_cannot_inject_lines() {
    let server = start();
    let (line, irc, lh, nk) = addrs(&server);
    let mut lina = LineClient::line_login(line, "lina");
    let mut irene = irc_login(irc, "irene");
    let mut watcher = LenClient::connect(lh, "watcher");
    lina.expect("watcher joined #lobby");
    let mut mallory = NickRaw::login(nk, "mallory");
    lina.expect("mallory joined #lobby");

    // Chunk mode (no LF yet): CR and NUL stay inside the one message and
    // the hub turns them into spaces.
    mallory.send(b"mallory: hi\rPRIVMSG #lobby :evil\0x");
    lina.expect("<mallory> hi PRIVMSG #lobby :evil x");
    let l = irc_from(
        &mut irene,
        "mallory",
        "PRIVMSG #lobby :hi PRIVMSG #lobby :evil x",
    );
    assert!(!l.contains('\r'));
    watcher.expect("mallory", "hi PRIVMSG #lobby :evil x");

    // Line mode: each line is one message from mallory, nothing more.
    mallory.send(b"a\r\n:evil!e@x PRIVMSG #lobby :fake\r\ncaf\xff\xfe\n");
    lina.expect("<mallory> a");
    lina.expect("<mallory> :evil!e@x PRIVMSG #lobby :fake");
    lina.expect("<mallory> caf\u{fffd}\u{fffd}");
    irc_from(
        &mut irene,
        "mallory",
        "PRIVMSG #lobby ::evil!e@x PRIVMSG #lobby :fake",
    );
    irc_from(&mut irene, "mallory", "PRIVMSG #lobby :caf\u{fffd}\u{fffd}");
    mallory.expect("mallory: caf??");

    lina.send("end");
    irc_from(&mut irene, "lina", "PRIVMSG #lobby :end");
    let all: Vec<String> = irene.seen.clone();
    assert!(
        !all.iter()
            .any(|l| l.starts_with(":evil") || l.starts_with("PRIVMSG")),
        "{all:#?}"
    );
    assert!(mallory.all_printable_ascii(), "{:?}", mallory.got);
}

#[test]
fn nick_dialect_refuses_oversized_messages() {
    let server = TestServer::start(&[
        "--nick-dialect",
        "--flood-rate",
        "0",
        "--max-line-bytes",
        "100",
    ]);
    let line = server.line.expect("line");
    let nk = server.nick.expect("nick");
    let mut lina = LineClient::line_login(line, "lina");
    let mut big = NickRaw::login(nk, "big");
    lina.expect("big joined #lobby");

    // Chunk mode: one send far over the limit is refused, all of it.
    let mut huge = b"big: ".to_vec();
    huge.extend(std::iter::repeat_n(b'x', 1000));
    big.send(&huge);
    big.expect("Error: message too long (at most 100 bytes)");
    big.send(b"big: fits");
    // Any part of the refused message would have reached lina first.
    lina.wait_for("<big> fits", |l| {
        assert!(!l.contains("xxxx"), "relayed: {l}");
        l.contains("<big> fits")
    });

    // Line mode: an over-long line is refused whole, the next one goes.
    let mut long = vec![b'y'; 1000];
    long.extend_from_slice(b"\nshort line\n");
    big.send(&long);
    big.expect("Error: message too long (at most 100 bytes)");
    lina.wait_for("<big> short line", |l| {
        assert!(!l.contains("yyyy"), "relayed: {l}");
        l.contains("<big> short line")
    });
    lina.send("done");
    big.expect("lina: done");

    // A "nickname" far over the limit ends the connection, with a reason.
    let mut huge_name = NickRaw::connect(nk);
    huge_name.send(&[b'n'; 1000]);
    let _ = huge_name.stream.shutdown(Shutdown::Write);
    let got = huge_name.until_closed();
    assert!(
        got.contains("Error: that nickname is far too long"),
        "{got:?}"
    );
    lina.send("still fine");
    big.expect("lina: still fine");
}

#[test]
fn lenheader_bad_headers_cut_off_only_the_offender() {
    let server = start();
    let (line, _, lh, nk) = addrs(&server);
    let mut lina = LineClient::line_login(line, "lina");
    let mut good = LenClient::connect(lh, "good");
    lina.expect("good joined #lobby");
    let mut nico = NickRaw::login(nk, "nico");
    lina.expect("nico joined #lobby");

    let cases: [(&[u8], &str); 4] = [
        (b"abc       hello", "is not a number"),
        (b"-5        hello", "is negative"),
        (b"9999999999", "longer than the 65536 bytes allowed"),
        (b"          hello", "blank"),
    ];
    for (i, (bad, why)) in cases.into_iter().enumerate() {
        let mut mallory = LenClient::connect(lh, "mallory");
        lina.expect("mallory joined #lobby");
        mallory.send_raw(bad);
        let err = mallory.expect("chatroom", "error:");
        assert!(err.contains(why), "{err}");
        // Done sending: ends the server's lingering read at once.
        let _ = mallory.stream.shutdown(Shutdown::Write);
        let rest = mallory.until_closed();
        assert!(
            rest.iter()
                .any(|(u, m)| u == "chatroom" && m.contains("Disconnected")),
            "{rest:?}"
        );
        lina.expect("mallory quit (Bad length header)");
        good.expect("chatroom", "mallory quit (Bad length header)");

        // Everyone else carries on.
        lina.send(&format!("still here {i}"));
        good.expect("lina", &format!("still here {i}"));
        nico.expect(&format!("lina: still here {i}"));
        good.say(&format!("me too {i}"));
        lina.expect(&format!("<good> me too {i}"));
    }

    // A bad header instead of a username: refused before registering.
    let stream = TcpStream::connect(lh).expect("connect");
    stream.set_read_timeout(Some(POLL)).expect("timeout");
    let mut anon = LenClient {
        stream,
        buf: Vec::new(),
    };
    anon.send_raw(b"ten bytes!");
    let err = anon.expect("chatroom", "error:");
    assert!(err.contains("not a number"), "{err}");
    let _ = anon.stream.shutdown(Shutdown::Write);
    anon.until_closed();

    // A message field with line breaks is several messages, never a
    // header or a line of someone else's.
    good.say("one\r\ntwo\rthree\n");
    lina.expect("<good> one");
    lina.expect("<good> two");
    lina.expect("<good> three");
    nico.expect("good: one");
    nico.expect("good: two");
    nico.expect("good: three");
    // Invalid UTF-8 is replaced, not dropped.
    good.send_raw(&field(b"caf\xc3"));
    lina.expect("<good> caf\u{fffd}");
}

#[test]
fn tutorial_clients_get_the_history_on_joining() {
    let srv = start();
    let (line, _, lenheader, nick) = addrs(&srv);
    let mut alice = LineClient::line_login(line, "alice");
    alice.send("said before");
    alice.expect("<alice> said before");

    let mut len = LenClient::connect(lenheader, "lena");
    let opening = len.expect("chatroom", "history of #lobby: 1 earlier message");
    assert!(opening.contains("#lobby"), "{opening}");
    let line_from_alice = len.expect("alice", "said before");
    assert!(line_from_alice.starts_with('['), "{line_from_alice}");
    len.expect("chatroom", "end of history");

    let mut nico = NickRaw::connect(nick);
    nico.send(b"nico");
    nico.expect("--- history of #lobby: 1 earlier message ---");
    nico.expect("] alice: said before");
    nico.expect("--- end of history ---");
    assert!(nico.all_printable_ascii(), "{:?}", nico.text());
}
