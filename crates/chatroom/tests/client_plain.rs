//! End-to-end: the real `chatroom join` binary in plain line mode (stdin
//! and stdout are pipes) against the fake IRC server in `client_common`,
//! and against the real server for history. Only 127.0.0.1; timeouts are
//! upper bounds, never assertions.

mod client_common;
mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use client_common::{FakeIrc, GREETING, WAIT, is};

/// The client process; killed by PID when dropped, pass or fail.
struct Client {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Client {
    fn start(server: &FakeIrc, args: &[&str]) -> Client {
        Client::start_at(&server.addr().to_string(), args)
    }

    fn start_at(addr: &str, args: &[&str]) -> Client {
        Client::start_home(&client_common::TempHome::new("plain"), addr, args)
    }

    /// A client whose XDG configuration and data directories are in
    /// `home` (never the real ones).
    fn start_home(home: &client_common::TempHome, addr: &str, args: &[&str]) -> Client {
        let mut command = Command::new(env!("CARGO_BIN_EXE_chatroom"));
        command.arg("join");
        if !addr.is_empty() {
            command.arg(addr);
        }
        let mut child = command
            .args(args)
            .envs(home.env())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chatroom join");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Client {
            child,
            stdin,
            lines,
            seen: Vec::new(),
        }
    }

    fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        writeln!(stdin, "{line}").expect("write to client stdin");
        stdin.flush().expect("flush client stdin");
    }

    /// Waits (up to WAIT) for a stdout line satisfying `pred`.
    fn expect_line(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if pred(&line) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "client never printed {what}; its output was:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    fn close_stdin(&mut self) {
        self.stdin = None;
    }

    fn wait_exit(&mut self) -> Option<ExitStatus> {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `HH:MM ` at the start of a line.
fn timestamped(line: &str) -> Option<&str> {
    let (time, rest) = line.split_once(' ')?;
    let ok = time.len() == 5
        && time.as_bytes()[2] == b':'
        && time
            .bytes()
            .enumerate()
            .all(|(i, b)| i == 2 || b.is_ascii_digit());
    ok.then_some(rest)
}

#[test]
fn plain_mode_talks_to_an_irc_server() {
    let server = FakeIrc::start();
    let mut client = Client::start(&server, &["--nick", "plainy"]);

    // Typed before the server has even answered: sent after the JOIN.
    client.send("early words");

    let connected = format!("connected to {} as plainy", server.addr());
    client.expect_line("the connected line", |l| l == connected);
    let joined = client.expect_line("its own join", |l| {
        timestamped(l) == Some("#lobby * plainy joined")
    });
    assert!(timestamped(&joined).is_some());
    let greeting = format!("#lobby <alice> {GREETING}");
    client.expect_line("alice's greeting", |l| {
        timestamped(l) == Some(greeting.as_str())
    });

    let sent = server.received();
    let join = server
        .wait_for(|m| is(m, "JOIN", &["#lobby"]))
        .expect("server got JOIN #lobby");
    let early = server
        .wait_for(|m| is(m, "PRIVMSG", &["#lobby", "early words"]))
        .unwrap_or_else(|| panic!("server never got the early line; it got {sent:?}"));
    assert!(join < early, "the room is joined before talking in it");
    // Registration started with capability negotiation.
    let got = server.received();
    assert!(got.iter().any(|l| l == "CAP LS 302"), "{got:?}");
    assert!(
        got.iter()
            .any(|l| l == "CAP REQ :server-time" || l == "CAP REQ server-time"),
        "{got:?}"
    );

    client.send("hello from plain");
    server
        .wait_for(|m| is(m, "PRIVMSG", &["#lobby", "hello from plain"]))
        .expect("server got the room message");
    client.expect_line("our own line echoed", |l| {
        timestamped(l) == Some("#lobby <plainy> hello from plain")
    });

    client.send("/me waves");
    server
        .wait_for(|m| is(m, "PRIVMSG", &["#lobby", "\u{1}ACTION waves\u{1}"]))
        .expect("server got the action");
    client.expect_line("the action", |l| {
        timestamped(l) == Some("#lobby * plainy waves")
    });

    client.send("/msg bob psst");
    server
        .wait_for(|m| is(m, "PRIVMSG", &["bob", "psst"]))
        .expect("server got the private message");
    client.expect_line("the sent private message", |l| {
        timestamped(l) == Some("-> bob: psst")
    });

    client.send("/whois bob");
    server
        .wait_for(|m| is(m, "WHOIS", &["bob"]))
        .expect("unknown commands are sent raw");

    server.push(":bob!b@127.0.0.1 PRIVMSG plainy :private hi");
    client.expect_line("the received private message", |l| {
        timestamped(l) == Some("<bob> (private) private hi")
    });
    server.push(":bob!b@127.0.0.1 JOIN #lobby");
    client.expect_line("bob's join", |l| {
        timestamped(l) == Some("#lobby * bob joined")
    });
    server.push(":bob!b@127.0.0.1 NICK bobby");
    client.expect_line("the nick change", |l| {
        timestamped(l) == Some("* bob is now known as bobby")
    });
    server.push(":bobby!b@127.0.0.1 PART #lobby :gone fishing");
    client.expect_line("bobby's part", |l| {
        timestamped(l) == Some("#lobby * bobby left (gone fishing)")
    });
    server.push(":alice!a@127.0.0.1 QUIT :Quit: bye");
    client.expect_line("alice's quit", |l| {
        timestamped(l) == Some("#lobby * alice quit (Quit: bye)")
    });
    // A hostile line does not end the client.
    server.push(":x PRIVMSG");
    server.push("\u{1b}[2J garbage with no sense");
    server.push(":alice!a@127.0.0.1 PRIVMSG #lobby :still \u{1b}[31mhere");
    client.expect_line("a message after garbage", |l| {
        timestamped(l) == Some("#lobby <alice> still ^[[31mhere")
    });

    // End of input: QUIT, then exit 0.
    let before = server.received().len();
    client.close_stdin();
    server
        .wait_for_from(before, |m| m.command == "QUIT")
        .expect("server got QUIT at end of input");
    let status = client.wait_exit().expect("client exits after end of input");
    assert!(status.success(), "exit status {status:?}");
}

#[test]
fn plain_mode_takes_another_nick_when_taken() {
    let server = FakeIrc::start_with_taken(&["taken"]);
    let mut client = Client::start(&server, &["--nick", "taken"]);
    let connected = format!("connected to {} as taken_", server.addr());
    client.expect_line("registration as taken_", |l| l == connected);
    server
        .wait_for(|m| is(m, "NICK", &["taken_"]))
        .expect("retried with _");
}

#[test]
fn plain_mode_reconnects_and_rejoins() {
    let server = FakeIrc::start();
    let mut client = Client::start(&server, &["--nick", "sticky", "--room", "#den"]);
    let greeting = format!("#den <alice> {GREETING}");
    client.expect_line("the first greeting", |l| {
        timestamped(l) == Some(greeting.as_str())
    });
    client.send("/join #second");
    let second = "#second * sticky joined";
    client.expect_line("the second join", |l| timestamped(l) == Some(second));

    let before = server.received().len();
    server.drop_connections();
    let down = client.expect_line("the disconnect notice", |l| {
        timestamped(l).is_some_and(|r| r.starts_with("! disconnected from"))
    });
    assert!(down.contains("reconnecting in 1s"), "{down}");
    let connected = format!("connected to {} as sticky", server.addr());
    client.expect_line("the reconnect", |l| l == connected);
    server
        .wait_for_from(before, |m| is(m, "JOIN", &["#den"]))
        .expect("rejoined #den");
    server
        .wait_for_from(before, |m| is(m, "JOIN", &["#second"]))
        .expect("rejoined #second");
    assert!(server.connections() >= 2);

    // Still usable: the current room is the one last joined.
    client.send("back again");
    server
        .wait_for_from(before, |m| is(m, "PRIVMSG", &["#second", "back again"]))
        .expect("talks after reconnecting");
    client.send("/quit done here");
    server
        .wait_for_from(before, |m| is(m, "QUIT", &["done here"]))
        .expect("server got QUIT with the reason");
    let status = client.wait_exit().expect("client exits after /quit");
    assert!(status.success(), "exit status {status:?}");
}

/// `YYYY-MM-DD HH:MM ` at the start of a line (history lines).
fn dated(line: &str) -> Option<&str> {
    let (date, rest) = line.split_once(' ')?;
    let ok = date.len() == 10
        && date.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    ok.then(|| timestamped(rest)).flatten()
}

/// Against the real server: the join replay is printed as history (dated,
/// between marks), /history reaches the beginning, /search shows what was
/// found with time and sender, and live lines are printed as before.
#[test]
fn plain_mode_marks_history_and_searches_on_the_real_server() {
    let server = common::TestServer::start(&["--flood-rate", "0"]);
    let irc = server.irc.expect("irc listener");
    let mut lina = common::LineClient::line_login(server.line.expect("line listener"), "lina");
    lina.send("first words");
    lina.send("second words");
    lina.send("/search second");
    lina.expect("<lina> second words");

    let mut client = Client::start_at(&irc.to_string(), &["--nick", "plainer"]);
    client.expect_line("the history mark", |l| {
        timestamped(l) == Some("#lobby — history —")
    });
    let first = client.expect_line("the first replayed line", |l| l.contains("first words"));
    assert_eq!(dated(&first), Some("#lobby <lina> first words"), "{first}");
    let second = client.expect_line("the second replayed line", |l| l.contains("second words"));
    assert_eq!(
        dated(&second),
        Some("#lobby <lina> second words"),
        "{second}"
    );
    client.expect_line("the live mark", |l| {
        timestamped(l) == Some("#lobby — live —")
    });

    // Nothing older than the replay: the beginning of the history.
    client.send("/history");
    let begin = client.expect_line("the beginning mark", |l| {
        l.ends_with("#lobby — beginning of history —")
    });
    assert!(dated(&begin).is_some(), "{begin}");

    client.send("/search first");
    client.expect_line("the search header", |l| {
        l.contains("*** Search for \"first\" in #lobby: 1 found")
    });
    let found = client.expect_line("the search result", |l| l.contains("<lina> first words"));
    let rest = timestamped(&found).unwrap_or_default();
    assert!(rest.starts_with("#lobby * ["), "time and sender: {found}");
    client.expect_line("the end of the search", |l| {
        l.ends_with("*** End of search")
    });

    lina.send("live words");
    let live = client.expect_line("a live line", |l| l.contains("live words"));
    assert_eq!(
        timestamped(&live),
        Some("#lobby <lina> live words"),
        "{live}"
    );
    client.send("/quit bye");
    assert!(client.wait_exit().is_some_and(|s| s.success()));
}

/// A server that offers the history capabilities and then refuses them all
/// (each retried alone, each refused): the client registers, joins and talks
/// as a plain client, and /history says there is nothing to fetch.
#[test]
fn plain_mode_works_with_a_server_that_refuses_every_capability() {
    let server = FakeIrc::start_naking();
    let mut client = Client::start(&server, &["--nick", "naked"]);
    let greeting = format!("#lobby <alice> {GREETING}");
    client.expect_line("the greeting", |l| {
        timestamped(l) == Some(greeting.as_str())
    });
    let got = server.received();
    let reqs: Vec<&String> = got.iter().filter(|l| l.starts_with("CAP REQ")).collect();
    assert!(reqs.len() > 1, "retried one by one: {got:?}");
    assert!(got.iter().any(|l| l == "CAP END"), "{got:?}");
    client.send("still here");
    server
        .wait_for(|m| is(m, "PRIVMSG", &["#lobby", "still here"]))
        .expect("talks without capabilities");
    // Without echo-message the line is shown as typed.
    client.expect_line("our own line", |l| {
        timestamped(l) == Some("#lobby <naked> still here")
    });
    client.send("/history");
    client.expect_line("why nothing is fetched", |l| {
        timestamped(l).is_some_and(|r| r.starts_with("! the server offers no history"))
    });
}

/// Accounts against the real server: `/register` makes the nick an
/// account (IRCv3 REGISTER), a later `--password` logs in with SASL PLAIN
/// before registration, and the password is never printed.
#[test]
fn plain_mode_registers_an_account_and_logs_in_with_sasl() {
    const PASSWORD: &str = "correct-horse-battery";
    let server = common::TestServer::start(&["--flood-rate", "0"]);
    let irc = server.irc.expect("irc listener").to_string();

    let mut first = Client::start_at(&irc, &["--nick", "dora"]);
    first.expect_line("the join", |l| {
        timestamped(l) == Some("#lobby * dora joined")
    });
    first.send(&format!("/register {PASSWORD}"));
    first.expect_line("the registration", |l| {
        l.contains("account dora registered")
    });
    first.send("/quit");
    assert!(first.wait_exit().is_some_and(|s| s.success()));
    assert!(
        first.seen.iter().all(|l| !l.contains(PASSWORD)),
        "{:?}",
        first.seen
    );

    // A wrong password: refused, said so, and no reconnecting with it.
    let mut wrong = Client::start_at(&irc, &["--nick", "dora", "--password", "not-it"]);
    wrong.expect_line("the refusal", |l| {
        timestamped(l).is_some_and(|r| r.starts_with("! the server refused the login as dora"))
    });
    let down = wrong.expect_line("the stop", |l| {
        timestamped(l).is_some_and(|r| r.starts_with("! disconnected from"))
    });
    assert!(down.contains("not reconnecting with it"), "{down}");
    assert!(!down.contains("reconnecting in"), "{down}");
    drop(wrong);

    let mut again = Client::start_at(&irc, &["--nick", "dora", "--password", PASSWORD]);
    again.expect_line("the SASL login", |l| {
        timestamped(l) == Some("* logged in as dora")
    });
    again.expect_line("the join", |l| {
        timestamped(l) == Some("#lobby * dora joined")
    });
    again.send("/quit");
    assert!(again.wait_exit().is_some_and(|s| s.success()));
    assert!(
        again.seen.iter().all(|l| !l.contains(PASSWORD)),
        "{:?}",
        again.seen
    );
}

/// The configuration file: created with comments on first use; a saved
/// server is picked by name (or alone, with no name) with its nick and
/// rooms; `/set` changes a setting and `/save` writes it and the rooms
/// back, keeping the comments.
#[test]
fn plain_mode_creates_the_config_then_uses_and_saves_a_saved_server() {
    let server = FakeIrc::start();
    let home = client_common::TempHome::new("saved");
    let mut first = Client::start_home(&home, &server.addr(), &["--nick", "first"]);
    first.expect_line("the join", |l| {
        timestamped(l) == Some("#lobby * first joined")
    });
    first.send("/quit");
    assert!(first.wait_exit().is_some_and(|s| s.success()));
    let created = std::fs::read_to_string(home.config_file()).expect("created on first use");
    assert!(
        created.starts_with("# chatroom's terminal client"),
        "{created}"
    );
    assert!(created.contains("\n[settings]\n"), "{created}");

    // The user adds a server to the file.
    let edited = format!(
        "{created}\n[servers.fake]\naddress = \"{}\"\nnick = \"saved\"\nrooms = [\"#one\", \"#two\"]\n",
        server.addr()
    );
    home.write_config(&edited);
    let before = server.received().len();
    let mut saved = Client::start_home(&home, "fake", &[]);
    let connected = format!("connected to {} as saved", server.addr());
    saved.expect_line("the saved nick", |l| l == connected);
    for room in ["#one", "#two"] {
        server
            .wait_for_from(before, |m| is(m, "JOIN", &[room]))
            .unwrap_or_else(|| panic!("joined {room}"));
    }
    saved.send("/set time_format %H:%M:%S");
    saved.expect_line("the change", |l| {
        timestamped(l) == Some("* time_format = %H:%M:%S (/save keeps it)")
    });
    saved.send("/join #three");
    saved.expect_line("the third room", |l| {
        timestamped(l) == Some("#three * saved joined")
    });
    saved.send("/save");
    saved.expect_line("the save", |l| {
        l.contains("* saved the settings and server \"fake\" to ")
    });
    saved.send("/quit");
    assert!(saved.wait_exit().is_some_and(|s| s.success()));
    let after = std::fs::read_to_string(home.config_file()).expect("still there");
    for line in created.lines().filter(|l| l.starts_with('#')) {
        assert!(after.contains(line), "comment {line:?} lost:\n{after}");
    }
    assert!(after.contains("time_format = \"%H:%M:%S\""), "{after}");
    assert!(
        after.contains("rooms = [\"#one\", \"#two\", \"#three\"]"),
        "{after}"
    );

    // The only saved server is the one used when none is named.
    let mut alone = Client::start_home(&home, "", &[]);
    alone.expect_line("the saved nick again", |l| l == connected);
    alone.send("/quit");
    assert!(alone.wait_exit().is_some_and(|s| s.success()));
}

/// Logs: each buffer's lines go to a file under the XDG data directory;
/// joining the room again on a server without history (the fake one)
/// shows the end of the log first, dated, under its mark.
#[test]
fn plain_mode_logs_buffers_and_reads_them_back_without_server_history() {
    let server = FakeIrc::start();
    let home = client_common::TempHome::new("logs");
    let mut first = Client::start_home(&home, &server.addr(), &["--nick", "logger"]);
    let greeting = format!("#lobby <alice> {GREETING}");
    first.expect_line("alice's greeting", |l| {
        timestamped(l) == Some(greeting.as_str())
    });
    first.send("remember this line");
    server
        .wait_for(|m| is(m, "PRIVMSG", &["#lobby", "remember this line"]))
        .expect("sent");
    first.send("/quit");
    assert!(first.wait_exit().is_some_and(|s| s.success()));

    let dir = home
        .data_dir()
        .join("logs")
        .join(server.addr().replace(':', "_"));
    let log = std::fs::read_to_string(dir.join("#lobby.log")).expect("the room's log");
    let lines: Vec<&str> = log.lines().collect();
    // `YYYY-MM-DD HH:MM:SS ` then the event.
    let body = |l: &str| l.get(20..).map(str::to_string);
    let bodies: Vec<String> = lines.iter().filter_map(|l| body(l)).collect();
    assert!(bodies.contains(&"--> logger joined".to_string()), "{log}");
    assert!(bodies.contains(&format!("<alice> {GREETING}")), "{log}");
    assert!(
        bodies.contains(&"<logger> remember this line".to_string()),
        "{log}"
    );
    assert!(dir.join("server.log").exists());

    let mut again = Client::start_home(&home, &server.addr(), &["--nick", "logger"]);
    again.expect_line("the log's mark", |l| {
        timestamped(l) == Some("#lobby — from the log —")
    });
    let said = again.expect_line("our earlier line, dated", |l| {
        dated(l) == Some("#lobby <logger> remember this line")
    });
    assert!(dated(&said).is_some());
    again.send("/quit");
    assert!(again.wait_exit().is_some_and(|s| s.success()));
}

/// A pinned certificate that is not the server's: the client says which
/// fingerprint it got, and stops instead of trying again.
#[test]
fn plain_mode_stops_on_a_fingerprint_mismatch() {
    let server = common::TestServer::start(&["--flood-rate", "0"]);
    let ircs = server.ircs.expect("ircs listener").to_string();
    let real = server.tls_fingerprint();
    let wrong = vec!["AB"; 32].join(":");
    let mut client = Client::start_at(&ircs, &["--nick", "pinned", "--tls-fingerprint", &wrong]);
    let down = client.expect_line("the stop", |l| {
        timestamped(l).is_some_and(|r| r.starts_with("! disconnected from"))
    });
    assert!(down.contains(&format!("fingerprint is {real}")), "{down}");
    assert!(down.contains(&format!("not the {wrong}")), "{down}");
    assert!(
        down.contains("not reconnecting (/reconnect tries again)"),
        "{down}"
    );
    assert!(!down.contains("reconnecting in"), "{down}");
}

/// Nothing listening: a bounded number of tries (the reconnect_tries
/// setting), then a stop that says how to try again.
#[test]
fn plain_mode_gives_up_after_its_tries() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let home = client_common::TempHome::new("tries");
    home.write_config("[settings]\nreconnect_tries = 2\n");
    let addr = format!("127.0.0.1:{port}");
    let mut client = Client::start_home(&home, &addr, &["--nick", "nobody"]);
    let first = client.expect_line("the first failure", |l| {
        timestamped(l).is_some_and(|r| r.starts_with("! disconnected from"))
    });
    assert!(first.contains("reconnecting in 1s"), "{first}");
    let last = client.expect_line("the stop", |l| {
        timestamped(l).is_some_and(|r| r.starts_with("! disconnected from"))
    });
    assert!(
        last.contains("gave up after 2 attempts in a row (the reconnect_tries setting); /reconnect tries again"),
        "{last}"
    );
}

/// `/reconnect` drops the link and connects again at once, rejoining.
#[test]
fn plain_mode_reconnects_when_asked() {
    let server = FakeIrc::start();
    let mut client = Client::start(&server, &["--nick", "asker"]);
    let connected = format!("connected to {} as asker", server.addr());
    client.expect_line("the first connection", |l| l == connected);
    client.expect_line("the join", |l| {
        timestamped(l) == Some("#lobby * asker joined")
    });
    let before = server.received().len();
    client.send("/reconnect");
    client.expect_line("the reconnect", |l| {
        timestamped(l).is_some_and(|r| r.ends_with("; reconnecting now"))
    });
    client.expect_line("the second connection", |l| l == connected);
    server
        .wait_for_from(before, |m| is(m, "JOIN", &["#lobby"]))
        .expect("rejoined");
    assert_eq!(server.connections(), 2);
}
