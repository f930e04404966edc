//! End-to-end: the real `chatroom join` binary full-screen in a
//! pseudo-terminal (a private tmux server, 120x40) against the fake IRC
//! server in `client_common`. Checks what is on screen and what the server
//! receives when keys are typed. Only 127.0.0.1; timeouts are upper bounds.

mod client_common;
mod common;

use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use client_common::{FakeIrc, GREETING, TempHome, WAIT, is};

/// A private tmux server running one client. Dropping it kills the client
/// and the tmux server by PID, then the server by name, pass or fail.
struct Tmux {
    socket: String,
    /// The client's PID (the pane runs it via `exec`).
    client: Option<u32>,
    /// The tmux server's PID.
    server: Option<u32>,
    socket_path: Option<String>,
}

fn tmux(socket: &str, args: &[&str]) -> Output {
    Command::new("tmux")
        .arg("-L")
        .arg(socket)
        .arg("-f")
        .arg("/dev/null")
        .args(args)
        .output()
        .expect("tmux runs (is tmux installed?)")
}

impl Tmux {
    fn start(command: &str) -> Tmux {
        static N: AtomicUsize = AtomicUsize::new(0);
        let socket = format!(
            "chatroom-client-tui-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let out = tmux(
            &socket,
            &[
                "new-session",
                "-d",
                "-s",
                "t",
                "-x",
                "120",
                "-y",
                "40",
                command,
            ],
        );
        assert!(
            out.status.success(),
            "tmux new-session failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut me = Tmux {
            socket,
            client: None,
            server: None,
            socket_path: None,
        };
        let out = tmux(
            &me.socket,
            &[
                "display-message",
                "-p",
                "-t",
                "t",
                "#{pane_pid} #{pid} #{socket_path}",
            ],
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut words = text.split_whitespace();
        me.client = words.next().and_then(|p| p.parse().ok());
        me.server = words.next().and_then(|p| p.parse().ok());
        me.socket_path = words.next().map(str::to_string);
        me
    }

    fn screen(&self) -> String {
        let out = tmux(&self.socket, &["capture-pane", "-p", "-t", "t"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits (up to WAIT) until the screen satisfies `pred`.
    fn wait_screen(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let screen = self.screen();
            if pred(&screen) {
                return screen;
            }
            if Instant::now() > deadline {
                panic!("screen never showed {what}; it shows:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Appends everything the client writes to the terminal from now on
    /// (escape sequences included) to `path`.
    fn record_output(&self, path: &std::path::Path) {
        let out = tmux(
            &self.socket,
            &[
                "pipe-pane",
                "-O",
                "-t",
                "t",
                &format!("cat >> '{}'", path.display()),
            ],
        );
        assert!(out.status.success(), "tmux pipe-pane failed");
    }

    /// The pane's title, as the client set it.
    fn title(&self) -> String {
        let out = tmux(
            &self.socket,
            &["display-message", "-p", "-t", "t", "#{pane_title}"],
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Waits (up to WAIT) until the title satisfies `pred`.
    fn wait_title(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let title = self.title();
            if pred(&title) {
                return title;
            }
            if Instant::now() > deadline {
                panic!("the title never showed {what}; it is {title:?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn type_text(&self, text: &str) {
        tmux(&self.socket, &["send-keys", "-t", "t", "-l", text]);
    }

    fn key(&self, key: &str) {
        tmux(&self.socket, &["send-keys", "-t", "t", key]);
    }
}

fn kill(pid: Option<u32>) {
    if let Some(pid) = pid {
        let _ = Command::new("kill").arg("-9").arg(pid.to_string()).output();
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        kill(self.client);
        // Graceful first so tmux removes its socket, then make sure.
        let _ = tmux(&self.socket, &["kill-server"]);
        kill(self.server);
        if let Some(path) = &self.socket_path {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[test]
fn full_screen_client_shows_messages_and_sends_typed_lines() {
    let server = FakeIrc::start();
    // `exec` so the pane's PID is the client itself.
    let home = TempHome::new("tui");
    let command = format!(
        "exec env {} {} join {} --nick tuiuser",
        home.env_prefix(),
        env!("CARGO_BIN_EXE_chatroom"),
        server.addr()
    );
    let term = Tmux::start(&command);

    // The message pushed by the server on join, with a timestamp.
    let screen = term.wait_screen("alice's greeting", |s| {
        s.contains(&format!("<alice> {GREETING}"))
    });
    let line = screen
        .lines()
        .find(|l| l.contains(GREETING))
        .unwrap_or_default();
    assert!(
        line.len() > 6 && line.as_bytes()[2] == b':',
        "timestamped: {line:?}"
    );
    // Buffer bar, member list with the op, status line.
    term.wait_screen("the buffer bar, members and status", |s| {
        s.contains("2:#lobby") && s.contains("@alice") && s.contains("tuiuser | #lobby (2 users)")
    });

    // Typing a line sends it to the room and shows it.
    term.type_text("hello from the tui");
    term.key("Enter");
    server
        .wait_for(|m| is(m, "PRIVMSG", &["#lobby", "hello from the tui"]))
        .unwrap_or_else(|| panic!("server never got the line; screen:\n{}", term.screen()));
    term.wait_screen("our own line", |s| {
        s.contains("<tuiuser> hello from the tui")
    });

    // Editing: Ctrl-U clears what was typed, so only the retyped text goes.
    term.type_text("wrong words");
    term.key("C-u");
    term.type_text("/me dances");
    term.key("Enter");
    server
        .wait_for(|m| is(m, "PRIVMSG", &["#lobby", "\u{1}ACTION dances\u{1}"]))
        .unwrap_or_else(|| panic!("server never got the action; screen:\n{}", term.screen()));

    // A private message opens a buffer with an unread count.
    server.push(":bob!b@127.0.0.1 PRIVMSG tuiuser :psst, over here");
    term.wait_screen("bob's buffer with 1 unread, for us", |s| {
        s.contains("3:bob(1!)")
    });
    // Alt-3 switches to it.
    term.key("M-3");
    term.wait_screen("the private buffer", |s| {
        s.contains("<bob> psst, over here") && s.contains("private: bob")
    });

    // /quit sends QUIT and the client exits (the pane, and session, end).
    term.type_text("/quit see you");
    term.key("Enter");
    server
        .wait_for(|m| is(m, "QUIT", &["see you"]))
        .unwrap_or_else(|| panic!("server never got QUIT; screen:\n{}", term.screen()));
}

/// The same full-screen client against the real server, with a netcat-style
/// line-protocol user in the room: messages both ways, the member list, and
/// what the client shows when the server goes away.
#[test]
fn full_screen_client_against_the_real_server() {
    let server = common::TestServer::start(&["--flood-rate", "0"]);
    let irc = server.irc.expect("irc listener");
    let mut lina = common::LineClient::line_login(server.line.expect("line listener"), "lina");
    let home = TempHome::new("tui");
    let command = format!(
        "exec env {} {} join {irc} --nick tuiuser",
        home.env_prefix(),
        env!("CARGO_BIN_EXE_chatroom")
    );
    let term = Tmux::start(&command);
    lina.expect("tuiuser joined #lobby");
    term.wait_screen("the member list", |s| {
        s.contains("lina") && s.contains("tuiuser")
    });

    lina.send("hello, terminal");
    term.wait_screen("lina's message", |s| s.contains("<lina> hello, terminal"));

    term.type_text("hello, netcat");
    term.key("Enter");
    lina.expect("<tuiuser> hello, netcat");

    lina.send("/nick lina2");
    term.wait_screen("the nick change", |s| {
        s.contains("lina is now known as lina2")
    });

    // The server goes away: the client says so and keeps its scrollback.
    let mut server = server;
    assert!(server.terminate(), "server exits on SIGTERM");
    term.wait_screen("the disconnect notice, with scrollback kept", |s| {
        s.to_lowercase().contains("disconnected") && s.contains("<lina> hello, terminal")
    });
}

/// History in the full-screen client against the real server: a room with
/// 320 earlier messages from a line-protocol user. Joining shows the latest
/// (the replay, marked as history); PageUp past the oldest line held fetches
/// older pages (`CHATHISTORY BEFORE`) until the very first message and the
/// beginning-of-history mark are on screen, in order; /search finds a word
/// and shows who said it.
#[test]
fn full_screen_client_pages_back_through_history_and_searches() {
    const TOTAL: usize = 320;
    let server = common::TestServer::start(&["--flood-rate", "0"]);
    let irc = server.irc.expect("irc listener");
    let mut lina = common::LineClient::line_login(server.line.expect("line listener"), "lina");
    for n in 1..=TOTAL {
        if n == 150 {
            lina.send("the pizza has arrived");
        }
        lina.send(&format!("hist {n:03}"));
    }
    // Everything is stored once a search sees the last line.
    lina.send(&format!("/search hist {TOTAL:03}"));
    lina.expect(&format!("<lina> hist {TOTAL:03}"));

    let home = TempHome::new("tui");
    let command = format!(
        "exec env {} {} join {irc} --nick tuiuser",
        home.env_prefix(),
        env!("CARGO_BIN_EXE_chatroom")
    );
    let term = Tmux::start(&command);
    // The latest lines, as history above the live mark.
    term.wait_screen("the replayed latest line and the history marks", |s| {
        s.contains(&format!("<lina> hist {TOTAL:03}")) && s.contains("— live —")
    });

    // Page up until the beginning of the history is on screen; each
    // PageUp waits (bounded) for the page it may have asked for.
    let deadline = Instant::now() + WAIT * 12;
    let mut presses = 0;
    let screen = loop {
        let screen = term.screen();
        if screen.contains("beginning of history") {
            break screen;
        }
        assert!(
            Instant::now() < deadline,
            "no beginning of history after {presses} PageUps; screen:\n{screen}"
        );
        if !screen.contains("fetching history") {
            term.key("PageUp");
            presses += 1;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let rows: Vec<&str> = screen.lines().collect();
    let row_of = |needle: &str| {
        rows.iter()
            .position(|r| r.contains(needle))
            .unwrap_or_else(|| panic!("{needle:?} not on screen:\n{screen}"))
    };
    let begin = row_of("— beginning of history —");
    let first = row_of("<lina> hist 001");
    let second = row_of("<lina> hist 002");
    assert!(begin < first && first < second, "in order:\n{screen}");
    assert_eq!(
        rows.iter()
            .filter(|r| r.contains("<lina> hist 001"))
            .count(),
        1,
        "once:\n{screen}"
    );
    // It took several pages (the replay holds 50 lines, a page 100).
    assert!(presses >= 4, "{presses} PageUps:\n{screen}");

    // /search shows the found message with its time and sender.
    term.type_text("/search pizza");
    term.key("Enter");
    let screen = term.wait_screen("the search result", |s| {
        s.contains("*** Search for \"pizza\" in #lobby: 1 found")
            && s.contains("<lina> the pizza has arrived")
    });
    let found = screen
        .lines()
        .find(|l| l.contains("] <lina> the pizza has arrived"))
        .unwrap_or_else(|| panic!("result with its time:\n{screen}"));
    assert!(found.contains(":"), "{found}");
}

/// Waits (up to WAIT) until the file holds `needle`; returns its text.
fn wait_file(path: &std::path::Path, what: &str, needle: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let text = String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).into_owned();
        if text.contains(needle) {
            return text;
        }
        if Instant::now() > deadline {
            panic!("{what} never came; the file holds:\n{text:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Attention: a line naming us and a private message ring the bell and
/// send the desktop notification sequence the configuration asks for
/// (OSC 777 here: tmux itself would get none with `auto`), and the
/// terminal title counts what waits in other buffers.
#[test]
fn full_screen_client_notifies_on_a_mention_and_counts_in_the_title() {
    let server = FakeIrc::start();
    let home = TempHome::new("attention");
    home.write_config(
        "[settings]\nnotifications = \"osc777\"\nbell = true\nhighlights = [\"pizza\"]\n",
    );
    let command = format!(
        "exec env {} {} join {} --nick tuiuser",
        home.env_prefix(),
        env!("CARGO_BIN_EXE_chatroom"),
        server.addr()
    );
    let term = Tmux::start(&command);
    let output = home.root.join("terminal-output");
    term.record_output(&output);
    term.wait_screen("alice's greeting", |s| s.contains(GREETING));
    term.wait_title("the room", |t| t == "#lobby - chatroom");

    server.push(":alice!a@127.0.0.1 PRIVMSG #lobby :tuiuser: the pizza is here");
    let seen = wait_file(
        &output,
        "the notification",
        "\u{1b}]777;notify;alice in #lobby;tuiuser: the pizza is here\u{7}",
    );
    assert!(seen.contains('\u{7}'), "a bell: {seen:?}");

    server.push(":bob!b@127.0.0.1 PRIVMSG tuiuser :psst");
    wait_file(
        &output,
        "the private notification",
        "777;notify;bob (private);psst",
    );
    term.wait_screen("bob's buffer", |s| s.contains("3:bob(1!)"));
    term.wait_title("the waiting line", |t| {
        t == "#lobby (1 unread, 1 mention) - chatroom"
    });
    // Read: the counts go.
    term.key("M-3");
    term.wait_title("the private buffer", |t| t == "bob - chatroom");
    term.wait_screen("no count", |s| {
        s.lines()
            .next()
            .is_some_and(|bar| bar.trim_end().ends_with(" 3:bob"))
    });
}

/// Logging in from the full-screen client against the real server: the
/// password asked for at start is not echoed, SASL logs in, and a
/// `/login` typed later shows as stars while typed, is never on screen
/// and is not brought back by Up.
#[test]
fn full_screen_client_asks_for_the_password_and_logs_in() {
    const PASSWORD: &str = "tui-secret-pass";
    let server = common::TestServer::start(&["--flood-rate", "0"]);
    let irc = server.irc.expect("irc listener");
    // The account, made from the line protocol (from this machine).
    let mut maker = common::LineClient::line_login(server.line.expect("line"), "tuiacct");
    maker.send(&format!("/register {PASSWORD}"));
    maker.expect("account tuiacct registered");
    maker.send("/quit");
    maker.expect_closed();

    let home = TempHome::new("login");
    let command = format!(
        "exec env {} {} join {irc} --nick tuiuser --account tuiacct --ask-password",
        home.env_prefix(),
        env!("CARGO_BIN_EXE_chatroom")
    );
    let term = Tmux::start(&command);
    term.wait_screen("the password prompt", |s| {
        s.contains(&format!("password for tuiacct on {irc}:"))
    });
    term.type_text(PASSWORD);
    let typed = term.screen();
    assert!(!typed.contains(PASSWORD), "echoed:\n{typed}");
    term.key("Enter");
    term.wait_screen("the account in the status line", |s| {
        s.contains("tuiuser [account tuiacct] | #lobby")
    });
    term.key("M-1");
    let screen = term.wait_screen("the SASL login in the server buffer", |s| {
        s.contains("logged in as tuiacct")
    });
    assert!(!screen.contains(PASSWORD), "{screen}");

    // /login typed in the input line: stars while typing.
    term.type_text(&format!("/login tuiacct {PASSWORD}"));
    let typing = term.wait_screen("the masked input", |s| {
        s.contains(&format!(
            "/login {} {}",
            "*".repeat(7),
            "*".repeat(PASSWORD.len())
        ))
    });
    assert!(!typing.contains(PASSWORD), "{typing}");
    term.key("Enter");
    let after = term.wait_screen("the NickServ request, masked", |s| {
        s.contains("logging in as tuiacct (NickServ IDENTIFY ********)")
    });
    assert!(!after.contains(PASSWORD), "{after}");
    // Up does not bring the line back.
    term.key("Up");
    let up = term.screen();
    assert!(!up.contains("/login tuiacct"), "{up}");
    assert!(!up.contains(PASSWORD), "{up}");
}

/// Logs from the full-screen client: the room's lines go to its log file,
/// and on the next start against a server without history (the fake one)
/// the room shows them again under `— from the log —`.
#[test]
fn full_screen_client_writes_logs_and_shows_them_on_the_next_start() {
    let server = FakeIrc::start();
    let home = TempHome::new("tuilogs");
    let command = format!(
        "exec env {} {} join {} --nick tuiuser",
        home.env_prefix(),
        env!("CARGO_BIN_EXE_chatroom"),
        server.addr()
    );
    let term = Tmux::start(&command);
    term.wait_screen("alice's greeting", |s| s.contains(GREETING));
    term.type_text("a line worth keeping");
    term.key("Enter");
    server
        .wait_for(|m| is(m, "PRIVMSG", &["#lobby", "a line worth keeping"]))
        .expect("sent");
    term.type_text("/quit");
    term.key("Enter");
    server.wait_for(|m| m.command == "QUIT").expect("quit");
    drop(term);

    let log = home
        .data_dir()
        .join("logs")
        .join(server.addr().replace(':', "_"))
        .join("#lobby.log");
    let text = std::fs::read_to_string(&log).expect("the room's log");
    assert!(text.contains(" <tuiuser> a line worth keeping\n"), "{text}");

    let term = Tmux::start(&command);
    let screen = term.wait_screen("the log as scrollback", |s| {
        s.contains("— from the log —") && s.contains("<tuiuser> a line worth keeping")
    });
    let rows: Vec<&str> = screen.lines().collect();
    let mark = rows
        .iter()
        .position(|r| r.contains("— from the log —"))
        .expect("mark");
    let kept = rows
        .iter()
        .position(|r| r.contains("a line worth keeping"))
        .expect("line");
    assert!(mark < kept, "{screen}");
}
