//! `chatroom admin` against the real server: the socket in the data
//! directory (mode 0600), status, who and where, kick, kill, ban and unban
//! (an address, a mask), a notice to everyone, and reloading the
//! configuration through the socket and with SIGHUP.

mod common;

use std::net::IpAddr;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{LineClient, TestServer, WAIT};

fn admin(srv: &TestServer, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chatroom"))
        .arg("admin")
        .arg("--data-dir")
        .arg(&srv.data_dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run chatroom admin")
}

/// Runs `chatroom admin ARGS`, which must succeed; its output.
fn ok(srv: &TestServer, args: &[&str]) -> String {
    let out = admin(srv, args);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "admin {args:?} failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

#[test]
fn status_who_and_where() {
    use std::os::unix::fs::PermissionsExt;
    let srv = TestServer::start(&[]);
    let socket = srv.data_dir.join("admin.sock");
    let mode = std::fs::metadata(&socket)
        .expect("the socket")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    srv.stdout_line("admin: chatroom admin --data-dir");
    let mut alice = LineClient::line_login(srv.line.expect("line"), "alice");
    alice.send("/join #side");
    alice.expect("#side");
    let status = ok(&srv, &["status"]);
    for want in [
        "up ",
        "connections: 1 open (1 registered, 0 not yet)",
        "rooms: 2",
        "history: ",
        "listening: line 127.0.0.1:",
    ] {
        assert!(status.contains(want), "{want:?} not in {status}");
    }
    let who = ok(&srv, &["who"]);
    let row = who
        .lines()
        .find(|l| l.starts_with("alice\t"))
        .unwrap_or_else(|| panic!("alice not in {who}"));
    assert!(
        row.contains("127.0.0.1") && row.contains("#lobby #side"),
        "{row}"
    );
    let only_side = ok(&srv, &["who", "#side"]);
    assert!(only_side.contains("alice\t"), "{only_side}");
    let place = ok(&srv, &["where", "ALICE"]);
    assert!(place.contains("address: 127.0.0.1"), "{place}");
    assert!(place.contains("rooms: #lobby #side"), "{place}");
    let nobody = admin(&srv, &["where", "nobody"]);
    assert!(!nobody.status.success());
    assert!(String::from_utf8_lossy(&nobody.stdout).contains("error: nobody is called nobody"));
}

#[test]
fn kick_kill_and_notice() {
    let srv = TestServer::start(&[]);
    let line = srv.line.expect("line");
    let mut alice = LineClient::line_login(line, "alice");
    let mut bob = LineClient::line_login(line, "bob");
    alice.expect("* bob joined #lobby");
    ok(&srv, &["notice", "maintenance", "at", "six"]);
    alice.expect("maintenance at six");
    bob.expect("maintenance at six");
    let said = ok(&srv, &["kick", "#lobby", "bob", "too", "loud"]);
    assert!(said.contains("kicked bob from #lobby"), "{said}");
    let kick = alice.expect("bob");
    assert!(kick.contains("too loud"), "{kick}");
    let said = ok(&srv, &["kill", "bob", "go", "home"]);
    assert!(said.contains("disconnected bob"), "{said}");
    let last = bob.expect_closed();
    assert!(
        last.iter()
            .any(|l| l.contains("Disconnected by the server administrator: go home")),
        "{last:?}"
    );
    let err = admin(&srv, &["kick", "#lobby", "nobody"]);
    assert!(!err.status.success());
}

#[test]
fn bans_by_address_and_by_mask_close_and_refuse() {
    let srv = TestServer::start(&[]);
    let line = srv.line.expect("line");
    let other: IpAddr = "127.0.0.2".parse().expect("ip");
    let mut alice = LineClient::line_login(line, "alice");
    let mut from_other = LineClient::connect_from(other, line);
    from_other.expect("Choose a nickname");
    from_other.send("mallory");
    from_other.expect("Welcome, mallory!");
    let said = ok(&srv, &["ban", "127.0.0.2", "spamming"]);
    assert!(said.contains("disconnected mallory"), "{said}");
    let last = from_other.expect_closed();
    assert!(
        last.iter().any(|l| l.contains("Banned: spamming")),
        "{last:?}"
    );
    alice.expect("mallory");
    // Refused at once from then on, and the ban outlives the connection.
    let mut again = LineClient::connect_from(other, line);
    let refused = again.expect_closed();
    assert!(
        refused.iter().any(|l| l.contains("Banned: spamming")),
        "{refused:?}"
    );
    assert!(ok(&srv, &["bans"]).contains("127.0.0.2\tspamming"));
    assert!(
        std::fs::read_to_string(srv.data_dir.join("bans.txt"))
            .expect("bans file")
            .contains("127.0.0.2")
    );
    ok(&srv, &["unban", "127.0.0.2"]);
    LineClient::connect_from(other, line).expect("Choose a nickname");
    // A mask: checked when the nickname is known.
    ok(&srv, &["ban", "troll*", "no", "trolls"]);
    let mut troll = LineClient::connect(line);
    troll.expect("Choose a nickname");
    troll.send("trollface");
    let last = troll.expect_closed();
    assert!(
        last.iter().any(|l| l.contains("Banned: no trolls")),
        "{last:?}"
    );
    assert!(!admin(&srv, &["unban", "10.9.9.9"]).status.success());
}

/// Waits (bounded) until `check` holds.
fn eventually(what: &str, check: impl Fn() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !check() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn reload_through_the_socket_and_with_sighup() {
    let dir = std::env::temp_dir().join(format!("chatroom-admin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let config = dir.join("chatroom.toml");
    std::fs::write(&config, "motd = \"first words\"\n").expect("config");
    let srv = TestServer::start(&["--config", config.to_str().expect("utf-8")]);
    let irc = srv.irc.expect("irc");
    let readers = std::sync::atomic::AtomicU32::new(0);
    let motd_of = |addr| {
        let n = readers.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let nick = format!("reader{n}");
        let mut c = common::irc::Irc::connect(addr, &nick);
        c.send(&format!("NICK {nick}"));
        c.send(&format!("USER {nick} 0 * :Reader"));
        let line = c.expect(" 372 ");
        c.send("QUIT");
        line
    };
    assert!(motd_of(irc).contains("first words"));
    std::fs::write(
        &config,
        "motd = \"second words\"\nserver_name = \"renamed\"\n[hub]\ndefault_rooms = [\"#lobby\", \"#news\"]\n",
    )
    .expect("config");
    let said = ok(&srv, &["reload"]);
    assert!(said.contains("applied now: hub.default_rooms"), "{said}");
    assert!(
        said.contains("applied to new connections (open ones keep theirs): motd"),
        "{said}"
    );
    assert!(
        said.contains(
            "needs a restart (kept as it was): server_name (\"chatroom\" -> \"renamed\")"
        ),
        "{said}"
    );
    assert!(said.contains("tls: reloaded"), "{said}");
    assert!(motd_of(irc).contains("second words"));
    // The new default rooms apply at once.
    let mut carol = LineClient::line_login(srv.line.expect("line"), "carol");
    carol.expect("#news");
    // A file that does not load changes nothing, and says so.
    std::fs::write(&config, "motd = \n").expect("config");
    let out = admin(&srv, &["reload"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("was not reloaded"));
    assert!(motd_of(irc).contains("second words"));
    // SIGHUP does the same, and says so in the log.
    std::fs::write(&config, "motd = \"third words\"\n").expect("config");
    let status = Command::new("kill")
        .args(["-HUP", &srv.pid().to_string()])
        .status()
        .expect("kill -HUP");
    assert!(status.success());
    srv.log_line("the reload on SIGHUP", |l| {
        l.contains("reload: applied to new connections")
    });
    eventually("the third MOTD", || motd_of(irc).contains("third words"));
    std::fs::remove_dir_all(&dir).ok();
}
