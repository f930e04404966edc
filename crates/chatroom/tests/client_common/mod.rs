//! Shared by the client's end-to-end tests: a small fake IRC server on
//! 127.0.0.1 (port 0) that registers clients, echoes JOINs with a NAMES
//! reply, greets each join with a PRIVMSG from `alice`, answers PING and
//! QUIT, records every line it receives, and lets a test push lines or drop
//! connections. It stands on its own: no part of the real server is used.

#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chatroom_proto::irc::message::Message;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{broadcast, oneshot};

/// A directory standing in for the user's XDG directories, so that the
/// client under test reads and writes its configuration and logs there
/// and never in the real home. Removed when dropped, unless the test
/// failed (what the client wrote may say why).
pub struct TempHome {
    pub root: std::path::PathBuf,
}

impl TempHome {
    pub fn new(tag: &str) -> TempHome {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let root = std::env::temp_dir().join(format!(
            "chatroom-client-home-{tag}-{}-{n}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("create the test home");
        TempHome { root }
    }

    pub fn config_dir(&self) -> std::path::PathBuf {
        self.root.join("config").join("chatroom")
    }

    pub fn config_file(&self) -> std::path::PathBuf {
        self.config_dir().join("client.toml")
    }

    pub fn data_dir(&self) -> std::path::PathBuf {
        self.root.join("data").join("chatroom")
    }

    /// Writes the configuration file before the client starts.
    pub fn write_config(&self, text: &str) {
        std::fs::create_dir_all(self.config_dir()).expect("create the config dir");
        std::fs::write(self.config_file(), text).expect("write the config file");
    }

    /// The environment that points the client here.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            (
                "XDG_CONFIG_HOME".into(),
                self.root.join("config").to_string_lossy().into_owned(),
            ),
            (
                "XDG_DATA_HOME".into(),
                self.root.join("data").to_string_lossy().into_owned(),
            ),
            ("HOME".into(), self.root.to_string_lossy().into_owned()),
        ]
    }

    /// The same, as `env` arguments for a shell command line.
    pub fn env_prefix(&self) -> String {
        self.env()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl Drop for TempHome {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}

/// Upper bound for anything a test waits for; never a timed assertion.
pub const WAIT: Duration = Duration::from_secs(10);

pub const GREETING: &str = "hello from alice";

#[derive(Debug, Clone)]
enum Push {
    Line(String),
    /// Close every connection, as a crashed or restarted server would.
    Drop,
}

struct Shared {
    lines: Mutex<Vec<String>>,
    changed: Condvar,
    connections: AtomicUsize,
    push: broadcast::Sender<Push>,
    /// Nicks the server says are in use.
    taken: Vec<String>,
    /// Offer the history capabilities but refuse (NAK) every request.
    nak_caps: bool,
}

pub struct FakeIrc {
    pub port: u16,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl FakeIrc {
    pub fn start() -> FakeIrc {
        FakeIrc::start_with_taken(&[])
    }

    /// A server where the nicks in `taken` get 433 (nick in use).
    pub fn start_with_taken(taken: &[&str]) -> FakeIrc {
        FakeIrc::start_opts(taken, false)
    }

    /// A server that offers batch, message-tags, echo-message and
    /// draft/chathistory besides server-time, and refuses every CAP REQ.
    pub fn start_naking() -> FakeIrc {
        FakeIrc::start_opts(&[], true)
    }

    fn start_opts(taken: &[&str], nak_caps: bool) -> FakeIrc {
        let (push, _) = broadcast::channel(256);
        let shared = Arc::new(Shared {
            lines: Mutex::new(Vec::new()),
            changed: Condvar::new(),
            connections: AtomicUsize::new(0),
            push,
            taken: taken.iter().map(|s| s.to_string()).collect(),
            nak_caps,
        });
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = oneshot::channel();
        let sh = shared.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("fake server runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("fake server binds 127.0.0.1:0");
                let port = listener.local_addr().expect("local addr").port();
                port_tx.send(port).expect("report port");
                let accept = async {
                    loop {
                        let Ok((sock, _)) = listener.accept().await else {
                            continue;
                        };
                        sh.connections.fetch_add(1, Ordering::SeqCst);
                        tokio::spawn(serve(sock, sh.clone()));
                    }
                };
                tokio::select! {
                    _ = accept => {}
                    _ = stop_rx => {}
                }
            });
        });
        let port = port_rx
            .recv_timeout(WAIT)
            .expect("fake server reports its port");
        FakeIrc {
            port,
            shared,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Every line received so far, from all connections, in order.
    pub fn received(&self) -> Vec<String> {
        self.shared
            .lines
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default()
    }

    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Waits (up to [`WAIT`]) until some received line, parsed, satisfies
    /// `pred`; returns its index in [`FakeIrc::received`].
    pub fn wait_for(&self, pred: impl Fn(&Message) -> bool) -> Option<usize> {
        self.wait_for_from(0, pred)
    }

    pub fn wait_for_from(&self, start: usize, pred: impl Fn(&Message) -> bool) -> Option<usize> {
        let deadline = Instant::now() + WAIT;
        let mut lines = self.shared.lines.lock().ok()?;
        loop {
            if let Some(i) = lines
                .iter()
                .enumerate()
                .skip(start)
                .find(|(_, l)| Message::parse(l).is_ok_and(|m| pred(&m)))
                .map(|(i, _)| i)
            {
                return Some(i);
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            lines = self.shared.changed.wait_timeout(lines, left).ok()?.0;
        }
    }

    /// Sends a raw line to every connected client.
    pub fn push(&self, line: &str) {
        let _ = self.shared.push.send(Push::Line(line.to_string()));
    }

    /// Closes every client connection (the listener stays up).
    pub fn drop_connections(&self) {
        let _ = self.shared.push.send(Push::Drop);
    }
}

impl Drop for FakeIrc {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// True when `m` is `command` with exactly these parameters.
pub fn is(m: &Message, command: &str, params: &[&str]) -> bool {
    m.command == command
        && m.params
            .iter()
            .map(String::as_str)
            .eq(params.iter().copied())
}

async fn serve(sock: tokio::net::TcpStream, shared: Arc<Shared>) {
    let mut pushed = shared.push.subscribe();
    let (r, mut w) = sock.into_split();
    let mut lines = BufReader::new(r).lines();
    let mut nick: Option<String> = None;
    let mut user = false;
    let mut cap_open = false;
    let mut registered = false;
    loop {
        let line = tokio::select! {
            line = lines.next_line() => match line {
                Ok(Some(line)) => line,
                _ => break,
            },
            p = pushed.recv() => match p {
                Ok(Push::Line(l)) => {
                    if w.write_all(format!("{l}\r\n").as_bytes()).await.is_err() {
                        break;
                    }
                    continue;
                }
                Ok(Push::Drop) | Err(broadcast::error::RecvError::Closed) => break,
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
            },
        };
        if let Ok(mut all) = shared.lines.lock() {
            all.push(line.clone());
            shared.changed.notify_all();
        }
        let Ok(msg) = Message::parse(&line) else {
            continue;
        };
        let me = nick.clone().unwrap_or_else(|| "*".to_string());
        let mut out: Vec<String> = Vec::new();
        match msg.command.as_str() {
            "CAP" => match msg.param(0) {
                "LS" => {
                    cap_open = true;
                    out.push(if shared.nak_caps {
                        ":fake.server CAP * LS :server-time batch message-tags echo-message draft/chathistory".to_string()
                    } else {
                        ":fake.server CAP * LS :server-time".to_string()
                    });
                }
                "REQ" if shared.nak_caps => {
                    out.push(format!(":fake.server CAP * NAK :{}", msg.param(1)))
                }
                "REQ" => out.push(format!(":fake.server CAP * ACK :{}", msg.param(1))),
                "END" => cap_open = false,
                _ => {}
            },
            "NICK" => {
                let wanted = msg.param(0).to_string();
                if shared.taken.contains(&wanted) {
                    out.push(format!(
                        ":fake.server 433 {me} {wanted} :Nickname is already in use"
                    ));
                } else {
                    nick = Some(wanted);
                }
            }
            "USER" => user = true,
            "PING" => out.push(format!(":fake.server PONG fake.server :{}", msg.param(0))),
            "JOIN" => {
                for chan in msg.param(0).split(',') {
                    out.push(format!(":{me}!u@127.0.0.1 JOIN {chan}"));
                    out.push(format!(":fake.server 353 {me} = {chan} :@alice {me}"));
                    out.push(format!(":fake.server 366 {me} {chan} :End of /NAMES list"));
                    out.push(format!(":alice!a@127.0.0.1 PRIVMSG {chan} :{GREETING}"));
                }
            }
            "QUIT" => {
                let _ = w.write_all(b"ERROR :Closing link (quit)\r\n").await;
                break;
            }
            _ => {}
        }
        if !registered && user && !cap_open && nick.is_some() {
            registered = true;
            let me = nick.clone().unwrap_or_default();
            out.push(format!(
                ":fake.server 001 {me} :Welcome to the fake network {me}"
            ));
            out.push(format!(":fake.server 376 {me} :End of /MOTD command."));
        }
        for l in out {
            if w.write_all(format!("{l}\r\n").as_bytes()).await.is_err() {
                return;
            }
        }
    }
}
