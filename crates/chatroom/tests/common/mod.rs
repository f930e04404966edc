//! Shared test harness: starts the real `chatroom` binary on loopback with
//! every listener on port 0, learns the ports from what it prints, and gives
//! simple blocking clients. The server is killed (by PID) when the handle
//! is dropped, even when a test fails.
#![allow(dead_code)]

pub mod irc;
pub mod nats;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Upper bound for any single wait in a test; never a timing assertion.
pub const WAIT: Duration = Duration::from_secs(10);

pub struct TestServer {
    child: Child,
    pub line: Option<SocketAddr>,
    pub irc: Option<SocketAddr>,
    /// IRC over TLS.
    pub ircs: Option<SocketAddr>,
    /// The web listener (the app, and IRC over WebSocket at /irc).
    pub web: Option<SocketAddr>,
    /// The web listener over HTTPS.
    pub webs: Option<SocketAddr>,
    pub lenheader: Option<SocketAddr>,
    pub nick: Option<SocketAddr>,
    /// Lines the server printed to stderr are kept in this file.
    pub stderr_path: std::path::PathBuf,
    /// The server's data directory.
    pub data_dir: std::path::PathBuf,
    /// This server's own directory (its log, and its data unless given
    /// one): removed when the server is dropped, unless the test failed
    /// (the log says what happened) or [`TestServer::keep_files`] was called.
    dir: std::path::PathBuf,
    keep: bool,
    /// Every line the server printed to stdout so far, and the signal
    /// that another has come.
    stdout: std::sync::Arc<(std::sync::Mutex<Vec<String>>, std::sync::Condvar)>,
}

impl TestServer {
    /// Starts the server with the line and IRC listeners on port 0, plus `args`.
    pub fn start(args: &[&str]) -> TestServer {
        TestServer::start_in(None, args)
    }

    /// Like [`TestServer::start`], with the given data directory (to start
    /// a second server on the first one's files) or a fresh one.
    pub fn start_in(data_dir: Option<&std::path::Path>, args: &[&str]) -> TestServer {
        TestServer::launch(data_dir, args, None, "chatroom=debug")
    }

    /// Like [`TestServer::start`], with `RUST_LOG` set to `rust_log` (""
    /// for none: the server's own default) instead of debug.
    pub fn start_with_log(rust_log: &str, args: &[&str]) -> TestServer {
        TestServer::launch(None, args, None, rust_log)
    }

    /// Like [`TestServer::start`], with the server's open-file limit (soft
    /// and hard, so it cannot raise it) set to `nofile` by the shell that
    /// starts it (`ulimit`, then `exec`: the PID is the server's).
    pub fn start_with_nofile(nofile: u64, args: &[&str]) -> TestServer {
        TestServer::launch(None, args, Some(nofile), "chatroom=debug")
    }

    fn launch(
        data_dir: Option<&std::path::Path>,
        args: &[&str],
        nofile: Option<u64>,
        rust_log: &str,
    ) -> TestServer {
        // The time as well as the pid: a failed test's directory is kept
        // (the server's log is in it), and a later run that got the same
        // pid must not start on an earlier run's history.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!(
            "chatroom-test-{}-{}-{nanos}",
            std::process::id(),
            unique()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let data_dir = data_dir.map_or_else(|| dir.join("data"), |d| d.to_path_buf());
        let data_dir_arg = data_dir.to_string_lossy().into_owned();
        let stderr_path = dir.join("stderr.log");
        let stderr = std::fs::File::create(&stderr_path).expect("stderr file");
        let bin = env!("CARGO_BIN_EXE_chatroom");
        let mut command = match nofile {
            None => Command::new(bin),
            Some(n) => {
                let mut sh = Command::new("sh");
                sh.args([
                    "-c",
                    &format!("ulimit -Sn {n} && ulimit -Hn {n} && exec \"$0\" \"$@\""),
                    bin,
                ]);
                sh
            }
        };
        if rust_log.is_empty() {
            command.env_remove("RUST_LOG");
        } else {
            command.env("RUST_LOG", rust_log);
        }
        let mut child = command
            .args([
                "serve",
                "--bind",
                "127.0.0.1",
                "--line-port",
                "0",
                "--irc-port",
                "0",
                "--lenheader-port",
                "0",
                "--nick-port",
                "0",
                "--tls-port",
                "0",
                "--web-port",
                "0",
                "--web-tls-port",
                "0",
                "--metrics-addr",
                "127.0.0.1:0",
                "--data-dir",
                &data_dir_arg,
            ])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .spawn()
            .expect("start chatroom");
        let stdout = child.stdout.take().expect("stdout");
        let mut reader = BufReader::new(stdout);
        let mut server = TestServer {
            child,
            line: None,
            irc: None,
            lenheader: None,
            ircs: None,
            web: None,
            webs: None,
            nick: None,
            stderr_path,
            data_dir,
            dir,
            keep: false,
            stdout: Default::default(),
        };
        let deadline = Instant::now() + WAIT;
        loop {
            assert!(
                Instant::now() < deadline,
                "server did not print its addresses"
            );
            let mut line = String::new();
            let n = reader.read_line(&mut line).expect("read server stdout");
            assert!(n > 0, "server exited early: {}", server.stderr());
            if let Ok(mut seen) = server.stdout.0.lock() {
                seen.push(line.trim_end().to_string());
            }
            if !line.contains("127.0.0.1:") {
                continue;
            }
            for part in line.split_whitespace().collect::<Vec<_>>().chunks(2) {
                if let [proto, addr] = part {
                    let addr: SocketAddr = addr.parse().expect("address");
                    match *proto {
                        "line:" => server.line = Some(addr),
                        "irc:" => server.irc = Some(addr),
                        "ircs:" => server.ircs = Some(addr),
                        "lenheader:" => server.lenheader = Some(addr),
                        "nick:" => server.nick = Some(addr),
                        _ => {}
                    }
                }
            }
            break;
        }
        // The web line follows the address line, when the web is on.
        let mut line = String::new();
        if reader.read_line(&mut line).is_ok() {
            if let Ok(mut seen) = server.stdout.0.lock() {
                seen.push(line.trim_end().to_string());
            }
            if let Some(urls) = line.trim().strip_prefix("web: ") {
                for url in urls.split_whitespace() {
                    let (scheme, rest) = url.split_once("://").expect("web URL");
                    let addr: SocketAddr = rest.trim_end_matches('/').parse().expect("address");
                    match scheme {
                        "http" => server.web = Some(addr),
                        "https" => server.webs = Some(addr),
                        _ => {}
                    }
                }
            }
        }
        // Keep draining stdout so the server never blocks on a full pipe,
        // keeping the lines for `stdout_line`.
        let seen = server.stdout.clone();
        std::thread::spawn(move || {
            let (lines, printed) = &*seen;
            let mut line = String::new();
            while matches!(reader.read_line(&mut line), Ok(n) if n > 0) {
                if let Ok(mut lines) = lines.lock() {
                    lines.push(line.trim_end().to_string());
                }
                printed.notify_all();
                line.clear();
            }
        });
        server
    }

    /// Waits (up to `WAIT`) for a stdout line containing `needle`.
    pub fn stdout_line(&self, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        let (lines, printed) = &*self.stdout;
        let mut seen = lines.lock().expect("stdout lines");
        loop {
            if let Some(l) = seen.iter().find(|l| l.contains(needle)) {
                return l.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "server never printed {needle:?}; stderr: {}",
                self.stderr()
            );
            seen = printed.wait_timeout(seen, left).expect("stdout lines").0;
        }
    }

    /// Every line the server printed to stdout so far.
    pub fn printed(&self) -> Vec<String> {
        self.stdout.0.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// The SHA-256 fingerprint of the TLS certificate, as the server printed
    /// it at start (`AB:CD:...`).
    pub fn tls_fingerprint(&self) -> String {
        let line = self.stdout_line("tls: SHA-256 fingerprint ");
        line.split_whitespace()
            .nth(3)
            .expect("fingerprint after the label")
            .to_string()
    }

    /// The metrics listener's address (Prometheus metrics, /healthz,
    /// /readyz), as the server printed it.
    pub fn metrics_addr(&self) -> SocketAddr {
        let line = self.stdout_line("metrics: http://");
        line.trim_start_matches("metrics: http://")
            .split('/')
            .next()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
    }

    /// Keeps this server's directory after it is dropped, for a later
    /// server to start on its data.
    pub fn keep_files(&mut self) {
        self.keep = true;
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Waits (up to `WAIT`) until the server's log holds a line for which
    /// `pred` is true; returns it.
    pub fn log_line(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(l) = self.stderr().lines().find(|l| pred(l)) {
                return l.to_string();
            }
            assert!(
                Instant::now() < deadline,
                "the log never said {what}: {}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// True while the server process is running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Kills the server with SIGKILL (it gets no chance to flush or say
    /// goodbye) and waits for it to be gone.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits (bounded) for the process to exit; returns
    /// whether it exited by itself.
    pub fn terminate(&mut self) -> bool {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // A failed test says what became of the server: a connection that
        // closed under a client may be a server that died without a word.
        if std::thread::panicking() {
            match self.child.try_wait() {
                Ok(Some(status)) => eprintln!(
                    "the server (pid {}) had exited: {status}; its log is {}",
                    self.child.id(),
                    self.stderr_path.display()
                ),
                _ => eprintln!(
                    "the server (pid {}) was still running; its log is {}",
                    self.child.id(),
                    self.stderr_path.display()
                ),
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Each history keeps an 8 MiB journal segment reserved: a full run
        // would otherwise leave gigabytes in the temporary directory.
        if !std::thread::panicking() && !self.keep {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// A blocking client for any line-based protocol (line protocol, IRC, the
/// NICK dialect when it sends newlines): send lines, wait for a line.
pub struct LineClient {
    pub stream: TcpStream,
    buf: Vec<u8>,
    /// Every line received so far, in order.
    pub seen: Vec<String>,
}

impl LineClient {
    pub fn connect(addr: SocketAddr) -> LineClient {
        LineClient::over(TcpStream::connect(addr).expect("connect"))
    }

    /// Connects from the local address `from` (another loopback address,
    /// such as 127.0.0.2, for the server to see a second peer).
    pub fn connect_from(from: std::net::IpAddr, addr: SocketAddr) -> LineClient {
        use socket2::{Domain, Socket, Type};
        let sock = Socket::new(Domain::for_address(addr), Type::STREAM, None).expect("socket");
        sock.bind(&SocketAddr::new(from, 0).into())
            .expect("bind the local address");
        sock.connect(&addr.into()).expect("connect");
        LineClient::over(sock.into())
    }

    fn over(stream: TcpStream) -> LineClient {
        stream
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        LineClient {
            stream,
            buf: Vec::new(),
            seen: Vec::new(),
        }
    }

    pub fn send(&mut self, line: &str) {
        self.stream
            .write_all(format!("{line}\r\n").as_bytes())
            .expect("send");
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send");
    }

    /// Reads whatever is available within one short poll. Returns false at EOF.
    fn poll(&mut self) -> bool {
        let mut chunk = [0u8; 65536];
        match self.stream.read(&mut chunk) {
            Ok(0) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                while let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = self.buf.drain(..=i).collect();
                    let text = String::from_utf8_lossy(&line)
                        .trim_end_matches(['\r', '\n'])
                        .to_string();
                    self.seen.push(text);
                }
                true
            }
            // A signal (another test's child exiting) can interrupt the
            // read: that is no reason to give up on the connection.
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut
                    || e.kind() == std::io::ErrorKind::Interrupted =>
            {
                true
            }
            Err(e) => {
                // Shown with the failing test's output.
                eprintln!("read from the server failed: {e}");
                false
            }
        }
    }

    /// Waits (up to `WAIT`) for a line satisfying `pred` that arrives after
    /// the lines already returned by earlier waits; returns it.
    pub fn wait_for(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        self.wait_within(WAIT, what, pred)
    }

    /// Like [`LineClient::wait_for`], waiting up to `limit` (a bound the
    /// behaviour itself promises, such as the cluster's 15 s to tell
    /// that a node was lost).
    pub fn wait_within(
        &mut self,
        limit: Duration,
        what: &str,
        pred: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + limit;
        let mut checked = 0;
        loop {
            while checked < self.seen.len() {
                if pred(&self.seen[checked]) {
                    let line = self.seen[checked].clone();
                    self.seen.drain(..=checked);
                    return line;
                }
                checked += 1;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}; got: {:#?}", self.seen);
            }
            if !self.poll() {
                // EOF: one last check of what is buffered, then fail.
                if self.seen[checked..].iter().any(|l| pred(l)) {
                    continue;
                }
                panic!(
                    "connection closed while waiting for {what}; got: {:#?}",
                    self.seen
                );
            }
        }
    }

    /// Waits for a line containing `needle`.
    pub fn expect(&mut self, needle: &str) -> String {
        self.wait_for(needle, |l| l.contains(needle))
    }

    /// Waits until the server closes the connection; returns every line
    /// received until then.
    pub fn expect_closed(&mut self) -> Vec<String> {
        let deadline = Instant::now() + WAIT;
        while self.poll() {
            assert!(
                Instant::now() < deadline,
                "connection was not closed; got {:#?}",
                self.seen
            );
        }
        std::mem::take(&mut self.seen)
    }

    /// Registers on the line protocol and waits until joined to #lobby.
    pub fn line_login(addr: SocketAddr, nick: &str) -> LineClient {
        let mut c = LineClient::connect(addr);
        c.expect("Choose a nickname");
        c.send(nick);
        c.expect(&format!("Welcome, {nick}!"));
        c.expect("you are now talking in #lobby");
        c
    }
}

/// A password hash made by the real `chatroom hash-password`, for
/// `[[opers]]` entries and the connection password in test configurations.
pub fn hash_password(password: &str) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_chatroom"))
        .arg("hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run hash-password");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{password}\n").as_bytes())
        .expect("write password");
    let out = child.wait_with_output().expect("hash-password output");
    assert!(out.status.success());
    let hash = String::from_utf8(out.stdout).expect("utf-8");
    let hash = hash.trim().to_string();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    hash
}
