//! The TLS listener (IRC over TLS) of the real server binary: a pinned
//! rustls client chatting with a line-protocol user, the printed fingerprint,
//! the certificate kept across restarts, SIGHUP reloading a configured
//! certificate without dropping connections, stalled and garbage handshakes,
//! our terminal client over TLS, and weechat over TLS.
//!
//! Only 127.0.0.1; every process is killed by PID when its guard drops;
//! every wait is bounded and none is a timing assertion.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use chatroom_client::tls::{Verify, client_config, parse_fingerprint};
use chatroom_proto::certfp::fingerprint;
use common::{LineClient, TestServer, WAIT};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

/// A blocking IRC client over TLS that accepts only the certificate with
/// fingerprint `fp`.
struct TlsClient {
    tls: rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
    buf: Vec<u8>,
    seen: Vec<String>,
}

impl TlsClient {
    fn connect(addr: SocketAddr, fp: &str) -> Result<TlsClient, std::io::Error> {
        let pin = parse_fingerprint(fp).expect("fingerprint parses");
        let config: Arc<rustls::ClientConfig> = client_config(&Verify::Pin(pin)).expect("config");
        let name = ServerName::try_from("localhost").expect("name");
        let conn = rustls::ClientConnection::new(config, name).expect("client connection");
        let sock = TcpStream::connect(addr)?;
        sock.set_read_timeout(Some(Duration::from_millis(50)))?;
        let mut tls = rustls::StreamOwned::new(conn, sock);
        // Drive the handshake now, so a refused certificate shows up here.
        let deadline = Instant::now() + WAIT;
        while tls.conn.is_handshaking() {
            match tls.conn.complete_io(&mut tls.sock) {
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) && Instant::now() < deadline => {}
                Err(e) => return Err(e),
            }
        }
        Ok(TlsClient {
            tls,
            buf: Vec::new(),
            seen: Vec::new(),
        })
    }

    /// The fingerprint of the certificate the server presented.
    fn peer_fingerprint(&self) -> String {
        let certs = self.tls.conn.peer_certificates().expect("peer certificate");
        fingerprint(certs[0].as_ref())
    }

    fn send(&mut self, line: &str) {
        self.tls
            .write_all(format!("{line}\r\n").as_bytes())
            .and_then(|()| self.tls.flush())
            .expect("send over TLS");
    }

    /// Reads what is there within one short poll; false at EOF or error.
    fn poll(&mut self) -> bool {
        let mut chunk = [0u8; 16384];
        match self.tls.read(&mut chunk) {
            Ok(0) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                while let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = self.buf.drain(..=i).collect();
                    self.seen.push(
                        String::from_utf8_lossy(&line)
                            .trim_end_matches(['\r', '\n'])
                            .to_string(),
                    );
                }
                true
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                true
            }
            Err(_) => false,
        }
    }

    fn expect(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(i) = self.seen.iter().position(|l| l.contains(needle)) {
                let line = self.seen[i].clone();
                self.seen.drain(..=i);
                return line;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {needle:?}; got {:#?}",
                self.seen
            );
            assert!(
                self.poll(),
                "connection closed while waiting for {needle:?}; got {:#?}",
                self.seen
            );
        }
    }

    /// Registers as `nick` and joins #lobby.
    fn login(addr: SocketAddr, fp: &str, nick: &str) -> TlsClient {
        let mut c = TlsClient::connect(addr, fp).expect("TLS handshake");
        c.send(&format!("NICK {nick}"));
        c.send(&format!("USER {nick} 0 * :{nick}"));
        c.expect(" 001 ");
        c.send("JOIN #lobby");
        c.expect(&format!(":{nick}!"));
        c
    }
}

/// Waits until a raw TCP connection is closed by the server (EOF or reset).
fn expect_closed(sock: &mut TcpStream, what: &str) {
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let deadline = Instant::now() + WAIT;
    let mut chunk = [0u8; 4096];
    loop {
        match sock.read(&mut chunk) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return,
        }
        assert!(Instant::now() < deadline, "{what}: connection not closed");
    }
}

/// Waits (bounded) for the server's stderr log to contain `needle`.
fn expect_log(srv: &TestServer, needle: &str) {
    let deadline = Instant::now() + WAIT;
    while !srv.stderr().contains(needle) {
        assert!(
            Instant::now() < deadline,
            "server never logged {needle:?}:\n{}",
            srv.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn sighup(srv: &TestServer) {
    let status = Command::new("kill")
        .args(["-HUP", &srv.pid().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
}

/// Writes a fresh self-signed certificate and key to `cert` and `key`;
/// returns the certificate's fingerprint.
fn write_cert(cert: &Path, key: &Path) -> String {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("rcgen");
    std::fs::write(cert, made.cert.pem()).expect("write cert");
    std::fs::write(key, made.signing_key.serialize_pem()).expect("write key");
    fingerprint(made.cert.der().as_ref())
}

fn temp_dir(tag: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("chatroom-{tag}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[test]
fn pinned_tls_client_chats_with_a_line_user() {
    let srv = TestServer::start(&[]);
    let ircs = srv.ircs.expect("ircs listener");
    let fp = srv.tls_fingerprint();

    // What was printed is the stored certificate's fingerprint.
    let pem = srv.data_dir.join("tls").join("cert.pem");
    let der = CertificateDer::from_pem_file(&pem).expect("generated cert is PEM");
    assert_eq!(fingerprint(der.as_ref()), fp);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let key = srv.data_dir.join("tls").join("key.pem");
        let mode = std::fs::metadata(key).expect("key").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the key is private");
    }

    let mut alice = LineClient::line_login(srv.line.expect("line listener"), "alice");
    let mut bob = TlsClient::login(ircs, &fp, "bob");
    assert_eq!(bob.peer_fingerprint(), fp);
    alice.expect("* bob joined #lobby");
    bob.send("PRIVMSG #lobby :hello over tls");
    alice.expect("<bob> hello over tls");
    alice.send("hello back in plain text");
    bob.expect(":alice!alice@127.0.0.1 PRIVMSG #lobby :hello back in plain text");
    // WHOIS tells who came over TLS (671), and only them.
    bob.send("WHOIS bob");
    bob.expect(":chatroom 671 bob bob :is using a secure connection");
    bob.expect(":chatroom 318 bob bob ");
    bob.send("WHOIS alice");
    let mut seen = Vec::new();
    loop {
        let l = bob.expect(" bob alice ");
        let end = l.contains(" 318 ");
        seen.push(l);
        if end {
            break;
        }
    }
    assert!(!seen.iter().any(|l| l.contains(" 671 ")), "{seen:#?}");
}

#[test]
fn restart_keeps_the_generated_certificate() {
    let data = temp_dir("tls-restart");
    let first_fp = {
        let mut srv = TestServer::start_in(Some(&data), &[]);
        let fp = srv.tls_fingerprint();
        assert!(srv.stdout_line("tls: ").contains("generated now"));
        assert!(srv.terminate(), "server stops on SIGTERM");
        fp
    };
    let srv = TestServer::start_in(Some(&data), &[]);
    assert_eq!(srv.tls_fingerprint(), first_fp);
    let c = TlsClient::connect(srv.ircs.expect("ircs"), &first_fp).expect("same certificate");
    assert_eq!(c.peer_fingerprint(), first_fp);
    drop(c);
    drop(srv);
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn sighup_reloads_the_configured_certificate_without_dropping_connections() {
    let dir = temp_dir("tls-hup");
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let old_fp = write_cert(&cert, &key);
    let cert_arg = cert.to_string_lossy().into_owned();
    let key_arg = key.to_string_lossy().into_owned();
    let srv = TestServer::start(&["--tls-cert", &cert_arg, "--tls-key", &key_arg]);
    assert_eq!(srv.tls_fingerprint(), old_fp);
    let ircs = srv.ircs.expect("ircs");
    let mut alice = LineClient::line_login(srv.line.expect("line"), "alice");
    let mut old = TlsClient::login(ircs, &old_fp, "old");
    alice.expect("* old joined #lobby");

    let new_fp = write_cert(&cert, &key);
    assert_ne!(new_fp, old_fp);
    sighup(&srv);
    expect_log(&srv, &format!("SHA-256 fingerprint {new_fp}"));

    // New handshakes get the new certificate ...
    let mut new = TlsClient::login(ircs, &new_fp, "new");
    assert_eq!(new.peer_fingerprint(), new_fp);
    assert!(
        TlsClient::connect(ircs, &old_fp).is_err(),
        "the old certificate is no longer presented"
    );
    // ... while the connection made before the reload carries on.
    old.send("PRIVMSG #lobby :still here");
    alice.expect("<old> still here");
    new.expect(":old!old@127.0.0.1 PRIVMSG #lobby :still here");

    // A broken file keeps the current certificate.
    std::fs::write(&cert, "not a certificate").expect("break cert");
    sighup(&srv);
    expect_log(&srv, "keeping the current certificate");
    let again = TlsClient::connect(ircs, &new_fp).expect("current certificate kept");
    assert_eq!(again.peer_fingerprint(), new_fp);
    drop(srv);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn stalled_handshake_times_out_and_nobody_else_notices() {
    let srv = TestServer::start(&["--tls-handshake-timeout", "1"]);
    let fp = srv.tls_fingerprint();
    let ircs = srv.ircs.expect("ircs");
    let mut alice = LineClient::line_login(srv.line.expect("line"), "alice");
    let mut bob = TlsClient::login(ircs, &fp, "bob");

    // Connect and say nothing at all.
    let mut stalled = TcpStream::connect(ircs).expect("connect");
    bob.send("PRIVMSG #lobby :during the stall");
    alice.expect("<bob> during the stall");
    expect_closed(&mut stalled, "stalled handshake");
    expect_log(&srv, "TLS handshake timed out");

    // Everyone else carries on, and new TLS clients still get in.
    bob.send("PRIVMSG #lobby :after the stall");
    alice.expect("<bob> after the stall");
    let mut carol = TlsClient::login(ircs, &fp, "carol");
    alice.expect("* carol joined #lobby");
    carol.send("PRIVMSG #lobby :hi");
    bob.expect(":carol!carol@127.0.0.1 PRIVMSG #lobby :hi");
}

#[test]
fn garbage_instead_of_a_client_hello_is_closed() {
    let srv = TestServer::start(&[]);
    let fp = srv.tls_fingerprint();
    let ircs = srv.ircs.expect("ircs");
    let mut alice = LineClient::line_login(srv.line.expect("line"), "alice");
    let mut bob = TlsClient::login(ircs, &fp, "bob");

    // Plain IRC sent to the TLS port, then random-looking bytes.
    for garbage in [
        &b"NICK mallory\r\nUSER m 0 * :m\r\n"[..],
        &[
            0x16, 0x03, 0x01, 0xff, 0xff, 0x01, 0x00, 0x00, 0x00, 0xde, 0xad,
        ][..],
    ] {
        let mut sock = TcpStream::connect(ircs).expect("connect");
        sock.write_all(garbage).expect("send garbage");
        expect_closed(&mut sock, "garbage handshake");
    }
    expect_log(&srv, "TLS handshake failed");

    bob.send("PRIVMSG #lobby :unaffected");
    alice.expect("<bob> unaffected");
    alice.send("me too");
    bob.expect(":alice!alice@127.0.0.1 PRIVMSG #lobby :me too");
}

/// `chatroom join` in plain mode; killed by PID on drop.
struct JoinClient {
    child: Child,
    _stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl JoinClient {
    fn start(args: &[&str]) -> JoinClient {
        let mut child = Command::new(env!("CARGO_BIN_EXE_chatroom"))
            .arg("join")
            .args(args)
            .arg("--plain")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start chatroom join");
        let stdin = child.stdin.take();
        let (tx, lines) = mpsc::channel();
        let out = child.stdout.take().expect("stdout");
        let err = child.stderr.take().expect("stderr");
        for pipe in [
            Box::new(out) as Box<dyn Read + Send>,
            Box::new(err) as Box<dyn Read + Send>,
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        JoinClient {
            child,
            _stdin: stdin,
            lines,
            seen: Vec::new(),
        }
    }

    fn say(&mut self, text: &str) {
        let stdin = self._stdin.as_mut().expect("stdin");
        writeln!(stdin, "{text}").expect("write stdin");
        stdin.flush().expect("flush stdin");
    }

    fn expect(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "client never printed {needle:?}; it printed:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }
}

impl Drop for JoinClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn terminal_client_over_tls_with_a_pinned_fingerprint() {
    let srv = TestServer::start(&[]);
    let fp = srv.tls_fingerprint();
    let ircs = srv.ircs.expect("ircs").to_string();
    let mut alice = LineClient::line_login(srv.line.expect("line"), "alice");

    let mut carol = JoinClient::start(&[&ircs, "-n", "carol", "--tls-fingerprint", &fp]);
    carol.expect("certificate fingerprint matches");
    alice.expect("* carol joined #lobby");
    carol.say("hello from the terminal client");
    alice.expect("<carol> hello from the terminal client");
    alice.send("welcome carol");
    carol.expect("welcome carol");
    drop(carol);

    // A wrong pin is refused with a message that says what happened.
    let wrong = "00:".repeat(31) + "00";
    let mut dave = JoinClient::start(&[&ircs, "-n", "dave", "--tls-fingerprint", &wrong]);
    let line = dave.expect("certificate fingerprint is");
    assert!(line.contains(&fp), "names the real fingerprint: {line}");

    // Verifying against the system roots fails for a self-signed
    // certificate and points at the fingerprint option.
    let mut erin = JoinClient::start(&[&ircs, "-n", "erin", "--tls"]);
    erin.expect("--tls-fingerprint");

    // Insecure mode connects, and says what it is.
    let mut frank = JoinClient::start(&[&ircs, "-n", "frank", "--tls-insecure"]);
    frank.expect("warning: --tls-insecure");
    frank.expect("NOT checked");
    alice.expect("* frank joined #lobby");
}

#[test]
fn weechat_connects_over_tls_with_a_pinned_fingerprint() {
    let bin = which("weechat-headless");
    let srv = TestServer::start(&[]);
    let fp = srv.tls_fingerprint();
    let port = srv.ircs.expect("ircs").port();
    let mut alice = LineClient::line_login(srv.line.expect("line"), "alice");

    let dir = temp_dir("tls-weechat");
    let commands = [
        "/set logger.file.flush_delay 0".to_string(),
        format!("/server add t 127.0.0.1/{port} -ssl"),
        // weechat 3.x wants the SHA-256 as bare hex digits.
        format!(
            "/set irc.server.t.ssl_fingerprint {}",
            fp.replace(':', "").to_lowercase()
        ),
        "/set irc.server.t.nicks wee".to_string(),
        "/set irc.server.t.username wee".to_string(),
        "/set irc.server.t.autojoin #lobby".to_string(),
        "/connect t".to_string(),
    ]
    .join(";");
    let out = std::fs::File::create(dir.join("stdout.log")).expect("log file");
    let err = out.try_clone().expect("log file");
    let child = Command::new(bin)
        .arg("--dir")
        .arg(&dir)
        .args(["-P", "irc,logger", "-r", &commands])
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .spawn()
        .expect("start weechat-headless");
    struct Kill(Child, PathBuf);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
            let _ = std::fs::remove_dir_all(&self.1);
        }
    }
    let _guard = Kill(child, dir.clone());
    alice.expect("* wee joined #lobby");
    alice.send("hello weechat over tls");
    let log = dir.join("logs").join("irc.t.#lobby.weechatlog");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("alice\thello weechat over tls") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "weechat never logged the message; its log:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The path of `tool` on PATH; fails the test with an install hint if absent.
fn which(tool: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(tool))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{tool} is not installed: apt-get install -y weechat-headless"))
}
