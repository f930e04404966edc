//! Real IRC clients (weechat-headless, irssi in tmux) against the real
//! server, talking with a line-protocol user.
//!
//! The clients must be installed (`apt-get install -y weechat-headless irssi
//! tmux`; CI does this): when one is missing these tests fail, they do not
//! skip. Every client, and the tmux server irssi runs in, is killed by PID
//! when the test ends, even when it fails. Everything stays on 127.0.0.1 and
//! no client is given a name to resolve.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::irc::Irc;
use common::{LineClient, TestServer};

/// Upper bound for waiting on a client (they queue their own output).
const CLIENT_WAIT: Duration = Duration::from_secs(15);

/// Fails the test (with the install hint) when `tool` is not on PATH.
fn require(tool: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(tool))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("{tool} is not installed: apt-get install -y weechat-headless irssi tmux")
        })
}

/// Polls `check` until it returns `Some`, for at most `CLIENT_WAIT`.
fn poll<T>(what: &str, mut check: impl FnMut() -> Option<T>, detail: impl Fn() -> String) -> T {
    let deadline = Instant::now() + CLIENT_WAIT;
    loop {
        if let Some(v) = check() {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out waiting for {what}; state:\n{}", detail());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// How a client connects and what it joins.
struct Setup {
    port: u16,
    nick: String,
    /// Connect with TLS, accepting only the certificate with this SHA-256
    /// fingerprint (`AB:CD:...`, as the server prints it).
    tls_pin: Option<String>,
    /// Log in with SASL PLAIN as (account, password).
    sasl: Option<(String, String)>,
    /// Channels to join once connected, comma-separated.
    channels: String,
}

impl Setup {
    fn plain(port: u16, nick: &str) -> Setup {
        Setup {
            port,
            nick: nick.to_string(),
            tls_pin: None,
            sasl: None,
            channels: "#lobby".to_string(),
        }
    }
}

/// A private directory removed at the end of the test.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir =
            std::env::temp_dir().join(format!("chatroom-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn read(path: &Path) -> String {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

// ---------------------------------------------------------------- weechat

/// weechat-headless in the foreground with its own home directory; killed
/// on drop.
struct Weechat {
    child: Child,
    dir: TempDir,
}

impl Weechat {
    fn start(port: u16, nick: &str) -> Weechat {
        Weechat::start_with(&Setup::plain(port, nick))
    }

    fn start_with(setup: &Setup) -> Weechat {
        let bin = require("weechat-headless");
        let dir = TempDir::new("weechat");
        let fifo = dir.path().join("fifo");
        let Setup { port, nick, .. } = setup;
        let mut commands = vec![
            format!("/set fifo.file.path {}", fifo.display()),
            "/set fifo.file.enabled on".to_string(),
            "/set logger.file.flush_delay 0".to_string(),
        ];
        match &setup.tls_pin {
            None => commands.push(format!("/server add t 127.0.0.1/{port} -notls")),
            Some(pin) => {
                // weechat 3.x (Debian 12) names its TLS options `ssl`; 4.x
                // renamed them `tls`.
                commands.push(format!("/server add t 127.0.0.1/{port} -ssl"));
                // A pinned fingerprint replaces certificate-authority checks
                // (weechat wants the bare hex digits).
                let hex: String = pin.chars().filter(|c| *c != ':').collect();
                commands.push(format!("/set irc.server.t.ssl_fingerprint {hex}"));
            }
        }
        if let Some((user, password)) = &setup.sasl {
            commands.push("/set irc.server.t.sasl_mechanism plain".to_string());
            commands.push(format!("/set irc.server.t.sasl_username {user}"));
            commands.push(format!("/set irc.server.t.sasl_password {password}"));
            // Without a login the connection is useless to the test.
            commands.push("/set irc.server.t.sasl_fail disconnect".to_string());
        }
        commands.extend([
            format!("/set irc.server.t.nicks {nick}"),
            format!("/set irc.server.t.username {nick}"),
            "/set irc.server.t.realname weechat tester".to_string(),
            format!("/set irc.server.t.autojoin {}", setup.channels),
            "/connect t".to_string(),
        ]);
        let commands = commands.join(";");
        let out = std::fs::File::create(dir.path().join("stdout.log")).expect("log file");
        let err = out.try_clone().expect("log file");
        let child = Command::new(bin)
            .arg("--dir")
            .arg(dir.path())
            // Only what the test needs: no scripts, no spell checker.
            .args(["-P", "irc,logger,fifo", "-r", &commands])
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .expect("start weechat-headless");
        Weechat { child, dir }
    }

    fn log(&self, buffer: &str) -> String {
        read(
            &self
                .dir
                .path()
                .join("logs")
                .join(format!("irc.t.{buffer}.weechatlog")),
        )
    }

    fn all_logs(&self) -> String {
        let mut s = read(&self.dir.path().join("stdout.log"));
        if let Ok(entries) = std::fs::read_dir(self.dir.path().join("logs")) {
            for e in entries.flatten() {
                s.push_str(&format!("--- {}\n{}", e.path().display(), read(&e.path())));
            }
        }
        s
    }

    /// Waits until the log of `buffer` holds `needle`.
    fn expect_log(&self, buffer: &str, needle: &str) {
        poll(
            &format!("{needle:?} in weechat's {buffer} log"),
            || self.log(buffer).contains(needle).then_some(()),
            || self.all_logs(),
        );
    }

    /// Sends a line through weechat's FIFO pipe (`buffer *text`).
    fn fifo(&self, line: &str) {
        let path = self.dir.path().join("fifo");
        poll(
            "weechat's FIFO pipe",
            || path.exists().then_some(()),
            || self.all_logs(),
        );
        // weechat keeps the pipe open for reading, so this does not block;
        // a thread keeps a broken client from hanging the test anyway.
        let (tx, rx) = std::sync::mpsc::channel();
        let data = format!("{line}\n");
        std::thread::spawn(move || {
            let res = std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .and_then(|mut f| f.write_all(data.as_bytes()));
            let _ = tx.send(res);
        });
        match rx.recv_timeout(CLIENT_WAIT) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("writing to weechat's FIFO: {e}"),
            Err(_) => panic!("weechat's FIFO is not being read:\n{}", self.all_logs()),
        }
    }
}

impl Drop for Weechat {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn weechat_talks_with_a_line_user() {
    let srv = TestServer::start(&[]);
    let port = srv.irc.expect("irc listener").port();
    let mut alice = LineClient::line_login(srv.line.expect("line listener"), "alice");
    let wee = Weechat::start(port, "wee");
    // weechat negotiates the IRCv3 capabilities it knows; extended-join is
    // why it can show the real name on the join line.
    let caps = "client capability, enabled: cap-notify message-tags server-time multi-prefix";
    poll(
        &format!("{caps:?} in weechat's server log"),
        || wee.all_logs().contains(caps).then_some(()),
        || wee.all_logs(),
    );
    wee.expect_log(
        "#lobby",
        "wee (weechat tester) (wee@127.0.0.1) has joined #lobby",
    );
    alice.expect("* wee joined #lobby");

    // Line user → weechat.
    alice.send("hello weechat from line");
    wee.expect_log("#lobby", "alice\thello weechat from line");
    alice.send("/me waves at weechat");
    wee.expect_log("#lobby", "alice waves at weechat");

    // weechat → line user, typed into weechat's #lobby buffer.
    wee.fifo("irc.t.#lobby *hello from weechat");
    alice.expect("<wee> hello from weechat");
    wee.fifo("irc.t.#lobby */me dances");
    alice.expect("* wee dances");

    // Private messages both ways.
    alice.send("/msg wee psst, weechat");
    wee.expect_log("alice", "alice\tpsst, weechat");
    wee.fifo("irc.server.t */msg alice psst back");
    alice.expect("[private] <wee> psst back");

    // alice, first in #lobby, is its operator; rooms are +t, so she
    // makes wee an operator before wee sets the topic.
    alice.send("/mode +o wee");
    wee.expect_log("#lobby", "[+o wee] by alice");
    // Topic and nick changes are seen by both.
    wee.fifo("irc.server.t */topic #lobby chat about clients");
    alice.expect("* wee set the topic of #lobby: chat about clients");
    alice.send("/nick alicia");
    wee.expect_log("#lobby", "alice is now known as alicia");

    // Leaving with a reason.
    wee.fifo("irc.server.t */disconnect t gone for tea");
    alice.expect("* wee quit (Quit: gone for tea)");
}

// ------------------------------------------------------------------ irssi

/// irssi inside a private tmux server (its socket in the test's own
/// directory, so nothing is left behind); both killed on drop.
struct Irssi {
    socket: PathBuf,
    pids: Vec<u32>,
    _home: TempDir,
}

impl Irssi {
    fn start(port: u16, nick: &str) -> Irssi {
        Irssi::start_with(&Setup::plain(port, nick))
    }

    fn start_with(setup: &Setup) -> Irssi {
        require("irssi");
        require("tmux");
        let home = TempDir::new("irssi");
        let Setup { port, nick, .. } = setup;
        // A config so irssi asks nothing, and prints every window's text in
        // the one window the test reads. The server, its network (where
        // SASL is set) and the channels are all in the config, so irssi
        // connects by itself.
        let sasl = match &setup.sasl {
            Some((user, password)) => format!(
                "sasl_mechanism = \"PLAIN\"; sasl_username = \"{user}\"; sasl_password = \"{password}\";"
            ),
            None => String::new(),
        };
        let tls = match &setup.tls_pin {
            // The pin is checked on its own; there is no authority to ask.
            Some(pin) => {
                format!("use_tls = \"yes\"; tls_verify = \"no\"; tls_pinned_cert = \"{pin}\";")
            }
            None => "use_tls = \"no\";".to_string(),
        };
        let channels: String = setup
            .channels
            .split(',')
            .map(|c| format!("  {{ name = \"{c}\"; chatnet = \"t\"; autojoin = \"yes\"; }},\n"))
            .collect();
        std::fs::write(
            home.path().join("config"),
            format!(
                "servers = (\n  {{ address = \"127.0.0.1\"; chatnet = \"t\"; port = \"{port}\"; {tls} autoconnect = \"yes\"; }}\n);\n\
                 chatnets = {{ t = {{ type = \"IRC\"; {sasl} }}; }};\n\
                 channels = (\n{channels});\n\
                 settings = {{\n  core = {{\n    real_name = \"irssi tester\";\n    user_name = \"{nick}\";\n    nick = \"{nick}\";\n    settings_autosave = \"no\";\n  }};\n  \"irc/core\" = {{\n    cmd_queue_speed = \"0\";\n    cmds_max_at_once = \"1000\";\n  }};\n  \"fe-common/core\" = {{\n    autocreate_windows = \"no\";\n    autolog = \"yes\";\n    autolog_path = \"{logs}/$0.log\";\n  }};\n}};\n",
                logs = home.path().join("logs").display(),
            ),
        )
        .expect("irssi config");
        std::fs::create_dir_all(home.path().join("logs")).expect("irssi log dir");
        // Commands irssi runs at start: one more log, of every window
        // (autolog covers only channels and queries), so that what irssi
        // shows in its status window (a SASL login, say) can be checked.
        std::fs::write(
            home.path().join("startup"),
            format!(
                "/log open {} ALL\n",
                home.path().join("logs").join("all-windows.log").display()
            ),
        )
        .expect("irssi startup file");
        let socket = home.path().join("tmux.sock");
        let irssi_cmd = format!("irssi --home={} -n {nick}", home.path().display());
        let mut me = Irssi {
            socket,
            pids: Vec::new(),
            _home: home,
        };
        let status = me
            .tmux()
            .args([
                "new-session",
                "-d",
                "-s",
                "t",
                "-x",
                "200",
                "-y",
                "50",
                &irssi_cmd,
            ])
            .status()
            .expect("run tmux");
        assert!(status.success(), "tmux new-session failed");
        // The pane's process (irssi) and the tmux server, to kill by PID.
        let out = me
            .tmux()
            .args(["display-message", "-p", "-t", "t", "#{pane_pid} #{pid}"])
            .output()
            .expect("tmux display-message");
        me.pids = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
        me
    }

    fn tmux(&self) -> Command {
        let mut c = Command::new("tmux");
        c.arg("-S").arg(&self.socket);
        c.stdin(Stdio::null());
        c
    }

    fn screen(&self) -> String {
        self.tmux()
            .args(["capture-pane", "-p", "-t", "t", "-S", "-200"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }

    fn expect_screen(&self, needle: &str) {
        poll(
            &format!("{needle:?} on irssi's screen"),
            || self.screen().contains(needle).then_some(()),
            || self.screen(),
        );
    }

    /// Everything irssi logged, one file per channel or nick. Lines about a
    /// person rather than a channel (a nick change, a quit) go to one of
    /// the windows they share, so tests look in all of them.
    fn logs(&self) -> String {
        let mut s = String::new();
        if let Ok(entries) = std::fs::read_dir(self._home.path().join("logs")) {
            for e in entries.flatten() {
                s.push_str(&format!("--- {}\n{}", e.path().display(), read(&e.path())));
            }
        }
        s
    }

    /// Waits until one line that irssi logged holds every one of `parts`
    /// (how irssi decorates a nick depends on the window it shows the line
    /// in, so the test does not pin that down).
    fn expect_log(&self, parts: &[&str]) {
        poll(
            &format!("a line with {parts:?} in irssi's logs"),
            || {
                self.logs()
                    .lines()
                    .any(|l| parts.iter().all(|p| l.contains(p)))
                    .then_some(())
            },
            || format!("{}\n--- screen\n{}", self.logs(), self.screen()),
        );
    }

    /// Types a line into irssi.
    fn type_line(&self, text: &str) {
        let ok = self
            .tmux()
            .args(["send-keys", "-t", "t", "-l", text])
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
            && self
                .tmux()
                .args(["send-keys", "-t", "t", "Enter"])
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
        assert!(ok, "tmux send-keys failed");
    }
}

fn kill(pid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

impl Drop for Irssi {
    fn drop(&mut self) {
        // irssi first, by PID, whatever state tmux is in; then the tmux
        // server, politely (it removes its socket), by PID if that fails.
        if let Some(&irssi) = self.pids.first() {
            kill(irssi);
        }
        let stopped = self
            .tmux()
            .arg("kill-server")
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if let (false, Some(&server)) = (stopped, self.pids.get(1)) {
            kill(server);
        }
    }
}

#[test]
fn irssi_talks_with_a_line_user() {
    let srv = TestServer::start(&[]);
    let port = srv.irc.expect("irc listener").port();
    let mut alice = LineClient::line_login(srv.line.expect("line listener"), "alice");
    let irssi = Irssi::start(port, "irs");
    assert_eq!(irssi.pids.len(), 2, "pids of irssi and tmux");
    alice.expect("* irs joined #lobby");
    irssi.expect_screen("irs [irs@127.0.0.1] has joined #lobby");
    // The prompt shows #lobby once irssi made it the active channel.
    irssi.expect_screen("[#lobby]");

    // Line user → irssi.
    alice.send("hello irssi from line");
    irssi.expect_screen("alice> hello irssi from line");
    alice.send("/me waves at irssi");
    irssi.expect_screen("* alice waves at irssi");

    // irssi → line user.
    irssi.type_line("hello from irssi");
    alice.expect("<irs> hello from irssi");
    irssi.type_line("/me dances");
    alice.expect("* irs dances");

    // Private messages both ways.
    alice.send("/msg irs psst, irssi");
    irssi.expect_screen("psst, irssi");
    irssi.type_line("/msg alice psst back");
    alice.expect("[private] <irs> psst back");

    // A nick change by the line user, and irssi leaving with a reason.
    alice.send("/nick alicia");
    irssi.expect_screen("alice is now known as alicia");
    irssi.type_line("/quit see you later");
    alice.expect("* irs quit (Quit: see you later)");
}

// ------------------------------------------------- both clients, TLS + SASL

/// Registers the account `nick` with `password` (the client's nick is the
/// account name) through NickServ, as a person would before configuring
/// their client for SASL.
fn register_account(srv: &TestServer, nick: &str, password: &str) {
    let mut c = Irc::login(srv.irc.expect("irc listener"), nick);
    c.send(&format!("PRIVMSG NickServ :REGISTER {password}"));
    // Registering logs the registrant in (900).
    c.numeric("900");
    c.send("QUIT :registered");
    c.expect("ERROR");
}

#[test]
fn weechat_and_irssi_chat_over_tls_with_sasl() {
    let srv = TestServer::start(&[]);
    let port = srv.ircs.expect("irc tls listener").port();
    let pin = srv.tls_fingerprint();
    register_account(&srv, "wee", "weechat-password");
    register_account(&srv, "irs", "irssi-password");
    let mut alice = LineClient::line_login(srv.line.expect("line listener"), "alice");
    // alice is in #lobby from the start; #side becomes her current room.
    alice.send("/join #side");
    alice.expect("* alice joined #side");

    let setup = |nick: &str, password: &str| Setup {
        port,
        nick: nick.to_string(),
        tls_pin: Some(pin.clone()),
        sasl: Some((nick.to_string(), password.to_string())),
        channels: "#lobby,#side".to_string(),
    };
    let wee = Weechat::start_with(&setup("wee", "weechat-password"));
    poll(
        "weechat's SASL login",
        || {
            wee.all_logs()
                .contains("SASL authentication successful")
                .then_some(())
        },
        || wee.all_logs(),
    );
    // With extended-join, weechat shows the account each joiner is logged
    // in to: its own SASL login, seen from the room...
    wee.expect_log(
        "#side",
        "wee [wee] (weechat tester) (wee@127.0.0.1) has joined #side",
    );
    alice.expect("* wee joined #side");
    let irssi = Irssi::start_with(&setup("irs", "irssi-password"));
    irssi.expect_log(&["You are now logged in as irs"]);
    irssi.expect_log(&["SASL authentication succeeded"]);
    irssi.expect_log(&["irs [irs@127.0.0.1] has joined #side"]);
    alice.expect("* irs joined #side");
    // ...and irssi's.
    wee.expect_log(
        "#side",
        "irs [irs] (irssi tester) (irs@127.0.0.1) has joined #side",
    );

    // Each client to the other and to the line user, and back (irssi
    // shows every channel in one window, so it names the channel).
    irssi.type_line("/msg #side hello from irssi over tls");
    wee.expect_log("#side", "irs\thello from irssi over tls");
    alice.expect("<irs> hello from irssi over tls");
    wee.fifo("irc.t.#side *hello from weechat over tls");
    irssi.expect_log(&["wee", "> hello from weechat over tls"]);
    alice.expect("<wee> hello from weechat over tls");
    alice.send("hello both from line");
    wee.expect_log("#side", "alice\thello both from line");
    irssi.expect_log(&["alice", "> hello both from line"]);

    // Nick changes, seen by the other client and the line user.
    wee.fifo("irc.server.t */nick weasel");
    irssi.expect_log(&["wee is now known as weasel"]);
    alice.expect("* wee is now known as weasel");
    irssi.type_line("/nick irsi");
    wee.expect_log("#side", "irs is now known as irsi");
    alice.expect("* irs is now known as irsi");

    // Parting with a reason.
    wee.fifo("irc.server.t */part #side enough of this side");
    irssi.expect_log(&["weasel [wee@127.0.0.1] has left #side [enough of this side]"]);
    alice.expect("* weasel left #side (enough of this side)");
    irssi.type_line("/part #side me too");
    alice.expect("* irsi left #side (me too)");

    // Quitting with a reason, seen in the room they still share.
    irssi.type_line("/quit irssi signing off");
    wee.expect_log(
        "#lobby",
        "irsi (irs@127.0.0.1) has quit (Quit: irssi signing off)",
    );
    alice.expect("* irsi quit (Quit: irssi signing off)");
    wee.fifo("irc.server.t */disconnect t weechat signing off");
    alice.expect("* weasel quit (Quit: weechat signing off)");
}

// ------------------------------------------------ join replay as history

/// Both clients with their default settings: neither negotiates `batch`
/// (weechat 3.8 asks for server-time, irssi 1.4 too and shows the time a
/// line arrived), so the replay must say in its text that it is history.
#[test]
fn a_join_replay_shows_as_history_in_irssi_and_weechat() {
    let srv = TestServer::start(&[]);
    let port = srv.irc.expect("irc listener").port();
    let mut alice = LineClient::line_login(srv.line.expect("line listener"), "alice");
    alice.send("an old line from before you came");
    // Seen by alice as relayed: the line is in the history now.
    alice.expect("<alice> an old line from before you came");

    let wee = Weechat::start(port, "wee");
    alice.expect("* wee joined #lobby");
    wee.expect_log("#lobby", "Replaying 1 earlier message of #lobby");
    wee.expect_log("#lobby", "End of replay");
    let log = wee.log("#lobby");
    let old = log
        .lines()
        .find(|l| l.contains("an old line from before you came"))
        .unwrap_or_else(|| panic!("the replayed line in weechat's log:\n{log}"));
    // The original time in the text, after alice's nick.
    assert!(
        old.contains("alice\t[") && old.ends_with("] an old line from before you came"),
        "{old}"
    );
    // Framed: the notices come before and after it.
    let at = |needle: &str| log.find(needle).expect("in the log");
    assert!(
        at("Replaying 1 earlier") < at("an old line") && at("an old line") < at("End of replay")
    );

    let irssi = Irssi::start(port, "irs");
    alice.expect("* irs joined #lobby");
    irssi.expect_log(&["Replaying 1 earlier message of #lobby"]);
    irssi.expect_log(&["alice", "> [", "] an old line from before you came"]);
    irssi.expect_log(&["End of replay"]);
    irssi.expect_screen("] an old line from before you came");

    // A live line after the replay carries no time in its text.
    alice.send("a live line");
    wee.expect_log("#lobby", "alice\ta live line");
    irssi.expect_log(&["alice", "> a live line"]);

    // Rejoining replays again, marked again.
    irssi.type_line("/part #lobby");
    alice.expect("* irs left #lobby");
    irssi.type_line("/join #lobby");
    alice.expect("* irs joined #lobby");
    poll(
        "the second replay in irssi's logs",
        || {
            (irssi
                .logs()
                .matches("Replaying 2 earlier messages of #lobby")
                .count()
                >= 1)
                .then_some(())
        },
        || irssi.logs(),
    );
    irssi.expect_log(&["alice", "> [", "] a live line"]);
}
