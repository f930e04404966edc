//! IRC accounts against the real server binary on loopback: registration
//! (IRCv3 REGISTER and NickServ), SASL PLAIN and EXTERNAL (with a client
//! certificate over TLS), the SASL error numerics, the brute-force limit,
//! password changes, account-notify / account-tag / extended-join / WHOIS /
//! WHOX, nickname protection, messages held for offline accounts, and
//! accounts surviving a restart. Raw sockets only, so every byte the server
//! writes is checked.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::irc::Irc;
use common::{TestServer, WAIT};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};

/// Starts a server with `toml` added to its configuration.
fn start(toml: &str) -> TestServer {
    start_in(None, toml)
}

fn start_in(data_dir: Option<&std::path::Path>, toml: &str) -> TestServer {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path =
        std::env::temp_dir().join(format!("chatroom-accounts-{}-{n}.toml", std::process::id()));
    std::fs::write(&path, toml).expect("write config");
    let path_str = path.to_string_lossy().into_owned();
    TestServer::start_in(data_dir, &["--flood-rate", "0", "--config", &path_str])
}

fn irc(srv: &TestServer) -> SocketAddr {
    srv.irc.expect("irc listener")
}

fn plain(account: &str, password: &str) -> String {
    common::irc::sasl_plain_payload(account, password)
}

/// Waits until the registration burst is over and the client is in #lobby.
fn burst(c: &mut Irc) {
    let nick = c.nick.clone();
    c.wait_for("end of MOTD", |l| {
        l.contains(&format!(" 376 {nick} ")) || l.contains(&format!(" 422 {nick} "))
    });
    c.expect(&format!(" 366 {nick} #lobby "));
}

fn sasl_start(addr: SocketAddr, nick: &str, caps: &str) -> Irc {
    Irc::sasl_start(addr, nick, caps)
}

/// Logs in with SASL PLAIN before registration; returns the registered
/// client (in #lobby).
fn sasl_login(addr: SocketAddr, nick: &str, account: &str, password: &str, caps: &str) -> Irc {
    let (mut c, logged) = Irc::sasl_plain(addr, nick, account, password, caps);
    assert!(
        // The account as registered, whatever case the login used.
        logged.to_lowercase().contains(&format!(
            " 900 * {nick}!{nick}@127.0.0.1 {} :",
            account.to_lowercase()
        )),
        "{logged}"
    );
    burst(&mut c);
    c
}

/// Registers `nick` as an account with IRCv3 REGISTER on an existing
/// connection (registered, in #lobby).
fn register(c: &mut Irc, password: &str) {
    c.send(&format!("REGISTER * * {password}"));
    let ok = c.expect("REGISTER SUCCESS");
    assert!(
        ok.contains(&format!("REGISTER SUCCESS {} :", c.nick)),
        "{ok}"
    );
    c.numeric("900");
}

/// A new client that registers `nick` as an account and quits.
fn make_account(addr: SocketAddr, nick: &str, password: &str) {
    let mut c = Irc::login(addr, nick);
    register(&mut c, password);
    c.send("QUIT");
    c.c.expect_closed();
}

/// Every line up to and including the first containing `needle`.
fn lines_through(c: &mut Irc, needle: &str) -> Vec<String> {
    let lines = std::cell::RefCell::new(Vec::new());
    c.wait_for(needle, |l| {
        lines.borrow_mut().push(l.to_string());
        l.contains(needle)
    });
    lines.into_inner()
}

/// Waits until the server no longer has anyone called `nick` (after a
/// QUIT), so that the nickname is free for the next step.
fn gone(srv: &TestServer, nick: &str) {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut probe = Irc::login(irc(srv), &format!("probe{n}"));
    let deadline = Instant::now() + WAIT;
    loop {
        probe.send(&format!("WHOIS {nick}"));
        let l = probe.wait_for("WHOIS answer", |l| {
            l.contains(" 401 ") || l.contains(" 311 ")
        });
        if l.contains(" 401 ") {
            break;
        }
        assert!(Instant::now() < deadline, "{nick} is still connected");
        std::thread::sleep(Duration::from_millis(50));
    }
    probe.send("QUIT");
}

// ---------------------------------------------------------------- SASL

#[test]
fn register_then_sasl_plain_in_a_new_connection() {
    let srv = start("");
    let addr = irc(&srv);
    let mut alice = Irc::login(addr, "alice");
    register(&mut alice, "correct-horse");
    // A second connection logs in to the same account by SASL.
    let mut again = sasl_login(addr, "alice2", "alice", "correct-horse", "");
    again.send("WHOIS alice2");
    let acct = again.numeric("330");
    assert!(
        acct.contains(" 330 alice2 alice2 alice :is logged in as"),
        "{acct}"
    );
    // The account name is case-insensitive on login.
    let mut third = sasl_login(addr, "alice3", "ALICE", "correct-horse", "");
    third.send("WHOIS alice3");
    assert!(third.numeric("330").contains(" alice3 alice "));
}

#[test]
fn sasl_errors_have_their_numerics() {
    let srv = start("");
    let addr = irc(&srv);
    make_account(addr, "bob", "bobs-password");

    // Wrong password: 904, and the client may try again.
    let mut c = sasl_start(addr, "bob_", "");
    c.send("AUTHENTICATE PLAIN");
    c.expect("AUTHENTICATE +");
    c.send(&format!("AUTHENTICATE {}", plain("bob", "not it")));
    c.expect(" 904 * :SASL authentication failed");
    // Malformed base64: 904.
    c.send("AUTHENTICATE PLAIN");
    c.expect("AUTHENTICATE +");
    c.send("AUTHENTICATE %%%not-base64%%%");
    c.expect(" 904 * :");
    // A chunk over 400 bytes: 905.
    c.send("AUTHENTICATE PLAIN");
    c.expect("AUTHENTICATE +");
    c.send(&format!("AUTHENTICATE {}", "A".repeat(401)));
    c.expect(" 905 * :");
    // Chunks of 400 bytes adding up to more than max_sasl_bytes (4096):
    // 904, the numeric of failures the spec names no other for.
    c.send("AUTHENTICATE PLAIN");
    c.expect("AUTHENTICATE +");
    for _ in 0..11 {
        c.send(&format!("AUTHENTICATE {}", "A".repeat(400)));
    }
    c.expect(" 904 * :SASL authentication failed");
    // Abort: 906.
    c.send("AUTHENTICATE PLAIN");
    c.expect("AUTHENTICATE +");
    c.send("AUTHENTICATE *");
    c.expect(" 906 * :");
    // An unknown mechanism: the list (908), then 904.
    c.send("AUTHENTICATE SCRAM-SHA-256");
    let mechs = c.expect(" 908 * ");
    assert!(mechs.contains(" PLAIN,EXTERNAL :"), "{mechs}");
    c.expect(" 904 * :");
    // Now the right one, split over a 400-byte chunk boundary would be
    // the client's business; a short one is one chunk.
    c.send("AUTHENTICATE PLAIN");
    c.expect("AUTHENTICATE +");
    c.send(&format!("AUTHENTICATE {}", plain("bob", "bobs-password")));
    c.expect(" 903 * :");
    // Already logged in: 907.
    c.send("AUTHENTICATE PLAIN");
    c.expect(" 907 * :");
    c.send("CAP END");
    c.numeric("001");
}

#[test]
fn a_payload_of_several_chunks_is_reassembled() {
    let srv = start("");
    let addr = irc(&srv);
    // A password long enough that the payload passes 400 bytes.
    let long = "p".repeat(390);
    make_account(addr, "carol", &long);
    let mut c = sasl_start(addr, "carol_", "");
    c.send("AUTHENTICATE PLAIN");
    c.expect("AUTHENTICATE +");
    let payload = plain("carol", &long);
    assert!(payload.len() > 400 && payload.len() < 800);
    c.send(&format!("AUTHENTICATE {}", &payload[..400]));
    c.send(&format!("AUTHENTICATE {}", &payload[400..]));
    c.expect(" 903 * :");
}

#[test]
fn sasl_after_registration_works_once() {
    let srv = start("");
    let addr = irc(&srv);
    make_account(addr, "dave", "daves-password");
    let mut c = Irc::negotiate(addr, "dave_", "sasl");
    burst(&mut c);
    c.send("AUTHENTICATE PLAIN");
    c.expect("AUTHENTICATE +");
    c.send(&format!("AUTHENTICATE {}", plain("dave", "daves-password")));
    c.expect(" 900 dave_ dave_!dave_@127.0.0.1 dave :");
    c.expect(" 903 dave_ :");
    c.send("AUTHENTICATE PLAIN");
    c.expect(" 907 dave_ :");
}

#[test]
fn brute_force_locks_the_account_from_that_address_but_not_other_people() {
    let srv = start(
        "[accounts]\nmax_failures_per_account = 3\nlockout_secs = 600\nmax_lockout_secs = 600\n",
    );
    let addr = irc(&srv);
    make_account(addr, "victim", "victims-password");
    make_account(addr, "other", "others-password");
    let mut m = sasl_start(addr, "mallory", "");
    for _ in 0..3 {
        m.send("AUTHENTICATE PLAIN");
        m.expect("AUTHENTICATE +");
        m.send(&format!("AUTHENTICATE {}", plain("victim", "guess")));
        m.expect(" 904 * :");
    }
    // Locked: even the right password is refused now, without a check.
    m.send("AUTHENTICATE PLAIN");
    m.expect("AUTHENTICATE +");
    m.send(&format!(
        "AUTHENTICATE {}",
        plain("victim", "victims-password")
    ));
    let refused = m.expect(" 904 * :");
    assert!(refused.contains("try again in"), "{refused}");
    // Someone else, from the same address, logs in to their own account.
    let mut o = sasl_login(addr, "other_", "other", "others-password", "");
    o.send("WHOIS other_");
    o.numeric("330");
    // The failures were logged with the address and the account.
    let deadline = Instant::now() + WAIT;
    loop {
        let log = srv.stderr();
        if log.contains("login failed") && log.contains("127.0.0.1") && log.contains("victim") {
            assert!(log.contains("WARN"), "{log}");
            break;
        }
        assert!(Instant::now() < deadline, "no warning logged: {log}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ------------------------------------------------------------ NickServ

#[test]
fn nickserv_register_identify_and_set_password() {
    let srv = start("");
    let addr = irc(&srv);
    let mut e = Irc::login(addr, "erin");
    e.send("PRIVMSG NickServ :REGISTER first-password erin@example.org");
    let ok = e.expect(":NickServ!NickServ@services. NOTICE erin :");
    assert!(ok.contains("registered"), "{ok}");
    e.numeric("900");
    e.send("PRIVMSG NickServ :SET PASSWORD second-password");
    e.expect("Password of erin changed");
    e.send("NS INFO erin");
    e.expect("Account erin registered");
    e.send("PRIVMSG NickServ :HELP");
    e.expect("CERT ADD");

    let mut f = Irc::login(addr, "erin_");
    f.send("NS IDENTIFY erin first-password");
    f.expect(":NickServ!NickServ@services. NOTICE erin_ :Invalid password for erin");
    f.send("NICKSERV IDENTIFY erin second-password");
    f.expect("You are now logged in as erin");
    f.numeric("900");
    f.send("WHOIS erin_");
    assert!(f.numeric("330").contains(" erin_ erin :"));
    // Nobody can be NickServ.
    f.send("NICK NickServ");
    f.numeric("432");
}

#[test]
fn registration_refusals() {
    let srv = start("");
    let addr = irc(&srv);
    let mut g = Irc::login(addr, "gina");
    g.send("REGISTER * * short");
    g.expect("FAIL REGISTER WEAK_PASSWORD * :");
    g.send("REGISTER someoneelse * long enough pw");
    g.expect("FAIL REGISTER ACCOUNT_NAME_MUST_BE_NICK someoneelse :");
    g.send("REGISTER gina * long-enough-pw");
    g.expect("REGISTER SUCCESS gina");
    g.send("REGISTER gina * long-enough-pw");
    g.expect("FAIL REGISTER ALREADY_AUTHENTICATED gina :");
    g.send("VERIFY gina 12345");
    g.expect("FAIL VERIFY INVALID_CODE gina :");
    // Registering before the connection is complete (before-connect).
    let mut b = Irc::connect(addr, "early");
    b.send("CAP LS 302");
    let ls = b.expect(" CAP * LS :");
    assert!(
        ls.contains("draft/account-registration=before-connect"),
        "{ls}"
    );
    b.send("NICK early");
    b.send("REGISTER * * early-bird-pw");
    b.expect("REGISTER SUCCESS early");
    b.expect(" 900 * early!*@127.0.0.1 early :");
    b.send("USER early 0 * :E");
    b.send("CAP END");
    b.numeric("001");
    b.send("WHOIS early");
    assert!(b.numeric("330").contains(" early early :"));
}

#[test]
fn registering_before_the_connection_is_complete_can_be_turned_off() {
    let srv = start("[accounts]\nregister_before_connect = false\n");
    let addr = irc(&srv);
    let mut b = Irc::connect(addr, "early");
    b.send("CAP LS 302");
    let ls = b.expect(" CAP * LS :");
    assert!(
        ls.split([' ', ':'])
            .any(|cap| cap == "draft/account-registration"),
        "offered without a value: {ls}"
    );
    assert!(!ls.contains("before-connect"), "{ls}");
    b.send("NICK early");
    b.send("REGISTER * * early-bird-pw");
    b.expect("FAIL REGISTER COMPLETE_CONNECTION_REQUIRED * :");
    // Connected, the same command registers.
    b.send("USER early 0 * :E");
    b.send("CAP END");
    b.numeric("001");
    b.send("REGISTER * * early-bird-pw");
    b.expect("REGISTER SUCCESS early");
}

// ------------------------------------------------------- account caps

#[test]
fn account_notify_tag_extended_join_whois_and_whox() {
    let srv = start("");
    let addr = irc(&srv);
    let mut watcher = Irc::negotiate(addr, "watcher", "account-notify account-tag extended-join");
    burst(&mut watcher);
    let mut plainer = Irc::login(addr, "plainer");
    let mut ann = Irc::login(addr, "ann");
    watcher.expect(":ann!ann@127.0.0.1 JOIN #lobby * :Real ann");
    register(&mut ann, "anns-password");
    watcher.expect(":ann!ann@127.0.0.1 ACCOUNT ann");
    ann.send("PRIVMSG #lobby :hello");
    let line = watcher.expect("PRIVMSG #lobby :hello");
    assert!(
        line.starts_with("@account=ann :ann!ann@127.0.0.1 PRIVMSG"),
        "{line}"
    );
    // Without the capability: no tag, no ACCOUNT.
    let got = plainer.sync("p1");
    assert!(!got.iter().any(|l| l.contains(" ACCOUNT ")), "{got:#?}");
    let plain_line = got
        .iter()
        .find(|l| l.contains("PRIVMSG #lobby :hello"))
        .expect("the message");
    assert!(plain_line.starts_with(":ann!"), "{plain_line}");
    // extended-join carries the account.
    watcher.join("#tea");
    ann.join("#tea");
    watcher.expect(":ann!ann@127.0.0.1 JOIN #tea ann :Real ann");
    // WHOIS 330 and WHOX %a.
    watcher.send("WHOIS ann");
    let w = watcher.numeric("330");
    assert!(w.contains(" 330 watcher ann ann :is logged in as"), "{w}");
    watcher.send("WHO #tea %na");
    let rows = [watcher.numeric("354"), watcher.numeric("354")];
    assert!(
        rows.iter().any(|r| r.ends_with(" 354 watcher ann ann")),
        "{rows:?}"
    );
    assert!(
        rows.iter().any(|r| r.ends_with(" 354 watcher watcher 0")),
        "{rows:?}"
    );
    // Messages from someone not logged in carry no account tag.
    plainer.send("PRIVMSG #lobby :me too");
    let l = watcher.expect("PRIVMSG #lobby :me too");
    assert!(l.starts_with(":plainer!"), "{l}");
}

// ---------------------------------------------------- nick ownership

#[test]
fn a_registered_nick_is_taken_back_after_the_grace_period() {
    let srv = start("[accounts]\nnick_grace_secs = 1\n");
    let addr = irc(&srv);
    make_account(addr, "owner", "owners-password");
    gone(&srv, "owner");
    let mut seen = Irc::login(addr, "seen");
    let mut squat = Irc::login(addr, "owner");
    let warn = squat.expect("registered nickname");
    assert!(warn.contains("within 1 seconds"), "{warn}");
    let nick = squat.expect(":owner!owner@127.0.0.1 NICK :Guest");
    // Everyone who shares a room sees the rename as a NICK.
    let renamed = seen.expect(":owner!owner@127.0.0.1 NICK :Guest");
    assert_eq!(nick, renamed);
}

#[test]
fn logging_in_within_the_grace_period_keeps_the_nick() {
    // Long enough for the two password checks below (a wrong one is
    // answered after a pause of a second) on a slow machine.
    let srv = start("[accounts]\nnick_grace_secs = 6\n");
    let addr = irc(&srv);
    make_account(addr, "keeper", "keepers-password");
    gone(&srv, "keeper");
    make_account(addr, "witness", "witness-password");
    gone(&srv, "witness");
    let mut k = Irc::login(addr, "keeper");
    k.expect("registered nickname");
    // Everything the keeper is sent from here on: where a rename would be.
    let mut after = Vec::new();
    k.send("NS IDENTIFY wrong-password");
    after.extend(lines_through(&mut k, "Invalid password"));
    k.send("NS IDENTIFY keeper keepers-password");
    after.extend(lines_through(&mut k, "You are now logged in as keeper"));
    // A squatter whose grace period began after the keeper's: its rename
    // shows, on the server's own clock, that the keeper's grace period is
    // over. A rename of the keeper would have come first.
    let mut w = Irc::login(addr, "witness");
    w.expect("registered nickname");
    after.extend(lines_through(
        &mut k,
        ":witness!witness@127.0.0.1 NICK :Guest",
    ));
    after.extend(k.sync("k1"));
    assert!(
        !after
            .iter()
            .any(|l| l.starts_with(":keeper!keeper@127.0.0.1 NICK ")),
        "{after:#?}"
    );
    // Logged in before registering (SASL): no warning at all.
    k.send("QUIT");
    k.c.expect_closed();
    gone(&srv, "keeper");
    let mut s = sasl_login(addr, "keeper", "keeper", "keepers-password", "");
    s.expect_none("registered nickname", "k2");
}

// --------------------------------------------------- offline messages

#[test]
fn messages_to_an_offline_account_are_held_and_delivered_in_order() {
    let srv = start("");
    let addr = irc(&srv);
    make_account(addr, "olga", "olgas-password");
    gone(&srv, "olga");
    let mut bob = Irc::login(addr, "bobby");
    bob.send("PRIVMSG olga :first");
    bob.expect("held for olga");
    bob.send("PRIVMSG olga :second");
    bob.expect("held for olga");
    // Not an account: the usual 401.
    bob.send("PRIVMSG nobody :hi");
    bob.numeric("401");

    // With server-time: the original time as @time, in order.
    let mut o = sasl_login(addr, "olga", "olga", "olgas-password", "server-time");
    let first = o.expect("PRIVMSG olga :first");
    let second = o.expect("PRIVMSG olga :second");
    assert!(first.starts_with("@time=20"), "{first}");
    assert!(first.contains(":bobby!bobby@127.0.0.1 PRIVMSG olga :first"));
    assert!(second.starts_with("@time=20"), "{second}");
    o.send("QUIT");
    o.c.expect_closed();
    gone(&srv, "olga");

    // Without server-time: the time in front of the text. What was
    // delivered before is gone.
    bob.send("PRIVMSG olga :third");
    bob.expect("held for olga");
    let mut p = Irc::login(addr, "olga");
    p.send("NS IDENTIFY olgas-password");
    p.expect("You are now logged in as olga");
    let third = p.expect("PRIVMSG olga :[");
    assert!(third.ends_with("] third"), "{third}");
    let rest = p.sync("o1");
    assert!(
        !rest
            .iter()
            .any(|l| l.contains(":first") || l.contains(":second")),
        "{rest:#?}"
    );
}

// ------------------------------------------------------------ restart

#[test]
fn accounts_survive_a_restart() {
    let data;
    {
        let mut srv = start("");
        srv.keep_files();
        data = srv.data_dir.clone();
        make_account(irc(&srv), "stay", "stays-password");
    }
    let srv = start_in(Some(&data), "");
    let mut c = sasl_login(irc(&srv), "stay_", "stay", "stays-password", "");
    c.send("WHOIS stay_");
    assert!(c.numeric("330").contains(" stay_ stay :"));
    drop(srv);
    if let Some(dir) = data.parent() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

// ------------------------------------------------------ SASL EXTERNAL

/// Accepts any server certificate: the test talks to its own server on
/// loopback and checks the client side of TLS, not the server's.
#[derive(Debug)]
struct AnyServer(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A blocking IRC client over TLS, optionally presenting a client
/// certificate.
struct TlsIrc {
    tls: rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
    buf: Vec<u8>,
    seen: Vec<String>,
}

impl TlsIrc {
    fn connect(addr: SocketAddr, cert: Option<&rcgen::CertifiedKey<rcgen::KeyPair>>) -> TlsIrc {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("versions")
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyServer(provider)));
        let config = match cert {
            Some(c) => builder
                .with_client_auth_cert(
                    vec![c.cert.der().clone()],
                    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(c.signing_key.serialize_der())),
                )
                .expect("client certificate"),
            None => builder.with_no_client_auth(),
        };
        let name = ServerName::try_from("localhost").expect("name");
        let conn = rustls::ClientConnection::new(Arc::new(config), name).expect("client");
        let sock = TcpStream::connect(addr).expect("connect");
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        TlsIrc {
            tls: rustls::StreamOwned::new(conn, sock),
            buf: Vec::new(),
            seen: Vec::new(),
        }
    }

    fn send(&mut self, line: &str) {
        self.tls
            .write_all(format!("{line}\r\n").as_bytes())
            .and_then(|()| self.tls.flush())
            .expect("send over TLS");
    }

    fn expect(&mut self, needle: &str) -> String {
        self.until(needle).pop().expect("the line")
    }

    /// Every line up to and including the first containing `needle`.
    fn until(&mut self, needle: &str) -> Vec<String> {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(i) = self.seen.iter().position(|l| l.contains(needle)) {
                return self.seen.drain(..=i).collect();
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {needle}; got {:#?}",
                self.seen
            );
            let mut chunk = [0u8; 16384];
            match self.tls.read(&mut chunk) {
                Ok(0) => panic!("closed while waiting for {needle}: {:#?}", self.seen),
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
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => panic!("TLS read failed waiting for {needle}: {e}"),
            }
        }
    }

    /// Registers as `nick` (no SASL) and waits for the end of the burst.
    fn login(&mut self, nick: &str) {
        self.send(&format!("NICK {nick}"));
        self.send(&format!("USER {nick} 0 * :Real {nick}"));
        self.expect(&format!(" 366 {nick} #lobby "));
    }
}

#[test]
fn sasl_external_with_a_client_certificate() {
    let srv = start("");
    let ircs = srv.ircs.expect("ircs listener");
    let cert = rcgen::generate_simple_self_signed(vec!["fran".to_string()]).expect("cert");
    let fp = chatroom_proto::certfp::fingerprint(cert.cert.der());

    // Register over TLS, presenting the certificate, and tie it to the account.
    let mut a = TlsIrc::connect(ircs, Some(&cert));
    a.login("fran");
    a.send("REGISTER * * frans-password");
    a.expect("REGISTER SUCCESS fran");
    a.send("NS CERT ADD");
    a.expect(&format!("Certificate {fp} added to fran"));
    a.send("NS CERT LIST");
    a.expect(&fp);
    // WHOIS shows one's own certificate fingerprint.
    a.send("WHOIS fran");
    let certfp = a.expect(" 276 fran fran :");
    assert!(certfp.ends_with(&fp), "{certfp}");

    // A new connection with the certificate logs in by EXTERNAL.
    let mut b = TlsIrc::connect(ircs, Some(&cert));
    b.send("CAP LS 302");
    b.send("NICK fran_");
    b.send("USER fran_ 0 * :F");
    b.expect(" CAP * LS :");
    b.send("CAP REQ :sasl");
    b.expect(" CAP * ACK :sasl");
    b.send("AUTHENTICATE EXTERNAL");
    b.expect("AUTHENTICATE +");
    b.send("AUTHENTICATE +");
    b.expect(" 900 * fran_!fran_@127.0.0.1 fran :");
    b.expect(" 903 * :");
    b.send("CAP END");
    b.expect(" 001 fran_ ");

    // Without a certificate EXTERNAL fails, and other people's WHOIS
    // does not show the fingerprint.
    let mut c = TlsIrc::connect(ircs, None);
    c.send("CAP LS 302");
    c.send("NICK nocert");
    c.send("USER nocert 0 * :N");
    c.expect(" CAP * LS :");
    c.send("CAP REQ :sasl");
    c.expect(" CAP * ACK :sasl");
    c.send("AUTHENTICATE EXTERNAL");
    c.expect("AUTHENTICATE +");
    c.send("AUTHENTICATE +");
    c.expect(" 904 * :");
    c.send("CAP END");
    c.expect(" 001 nocert ");
    c.send("WHOIS fran");
    let lines = c.until(" 318 nocert fran ");
    assert!(
        lines.iter().any(|l| l.contains(" 330 nocert fran fran ")),
        "{lines:#?}"
    );
    assert!(!lines.iter().any(|l| l.contains(" 276 ")), "{lines:#?}");
    // Another certificate is not fran's.
    let other = rcgen::generate_simple_self_signed(vec!["x".to_string()]).expect("cert");
    let mut d = TlsIrc::connect(ircs, Some(&other));
    d.send("CAP LS 302");
    d.send("NICK other");
    d.send("USER other 0 * :O");
    d.expect(" CAP * LS :");
    d.send("CAP REQ :sasl");
    d.expect(" CAP * ACK :sasl");
    d.send("AUTHENTICATE EXTERNAL");
    d.expect("AUTHENTICATE +");
    d.send("AUTHENTICATE +");
    d.expect(" 904 * :");
}

#[test]
fn accounts_are_not_offered_without_history() {
    let srv = TestServer::start(&["--flood-rate", "0", "--no-history"]);
    let mut c = Irc::connect(irc(&srv), "nohist");
    c.send("CAP LS 302");
    let ls = c.expect(" CAP * LS :");
    assert!(!ls.contains("sasl"), "{ls}");
    assert!(!ls.contains("account"), "{ls}");
}

#[test]
fn registrations_per_address_are_limited() {
    let srv = start("[accounts]\nmax_registrations_per_ip_per_hour = 2\n");
    let addr = irc(&srv);
    make_account(addr, "reg1", "reg1-password");
    make_account(addr, "reg2", "reg2-password");
    let mut c = Irc::login(addr, "reg3");
    c.send("REGISTER * * reg3-password");
    let refused = c.expect("FAIL REGISTER TEMPORARILY_UNAVAILABLE * :");
    assert!(refused.contains("Too many accounts"), "{refused}");
    // Nothing was created: logging in to it fails.
    let mut d = sasl_start(addr, "reg3_", "");
    d.send("AUTHENTICATE PLAIN");
    d.expect("AUTHENTICATE +");
    d.send(&format!("AUTHENTICATE {}", plain("reg3", "reg3-password")));
    d.expect(" 904 * :");
}

// ------------------------------------------------------- line protocol

#[test]
fn a_netcat_user_registers_logs_in_again_and_keeps_the_nickname() {
    // Long enough for a wrong password's one-second pause and a right one.
    let srv = start("[accounts]\nnick_grace_secs = 5\n");
    let line = srv.line.expect("line listener");
    let mut n = common::LineClient::line_login(line, "nora");
    n.send("/register short");
    n.expect("! registration refused: choose a password of at least 8 characters");
    n.send("/register noras-password");
    n.expect("* account nora registered; you are now logged in as nora");
    n.send("/quit");
    n.expect_closed();

    // Back on a new connection: told how to log in on this protocol, and
    // NickServ's IRC wording works too.
    let mut n = common::LineClient::line_login(line, "nora");
    n.expect("unless you log in to it (/login PASSWORD)");
    n.send("/msg NickServ IDENTIFY wrong-password");
    n.expect("! login failed: wrong password or unknown account");
    n.send("/msg NickServ IDENTIFY noras-password");
    n.expect("* you are now logged in as nora");
    // Past the grace period the nickname is still hers.
    std::thread::sleep(Duration::from_millis(5500));
    let mut w = Irc::login(irc(&srv), "watcher");
    w.send("WHOIS nora");
    assert!(w.numeric("330").contains(" nora nora :"));

    // Someone else taking a registered nickname on the line protocol, who
    // does not log in, is renamed.
    n.send("/quit");
    n.expect_closed();
    let mut m = common::LineClient::line_login(line, "nora");
    m.expect("unless you log in to it (/login PASSWORD)");
    m.expect("you are now known as Guest");
}
