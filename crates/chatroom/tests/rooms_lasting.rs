//! Rooms that outlive their members, on the real server over real sockets:
//! an emptied room keeps its topic and modes and is not handed to whoever
//! comes first when it had logged-in operators; it is forgotten after the
//! configured time; `[[rooms]]` from the configuration file, changed by a
//! reload; and ChanServ's requests from the line protocol.
//!
//! Nothing here waits on a clock: what takes time (a kept room being
//! forgotten) is polled for with a bounded deadline.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::irc::Irc;
use common::{LineClient, TestServer};

/// A private directory for a configuration file, removed at the end.
struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!(
            "chatroom-rooms-{tag}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Dir(dir)
    }

    fn config(&self, text: &str) -> PathBuf {
        let path = self.0.join("chatroom.toml");
        std::fs::write(&path, text).expect("config file");
        path
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn server(config: &Path) -> TestServer {
    TestServer::start(&[
        "--flood-rate",
        "0",
        "--no-tls",
        "--config",
        config.to_str().expect("utf-8 path"),
    ])
}

fn line(srv: &TestServer, nick: &str) -> LineClient {
    LineClient::line_login(srv.line.expect("line listener"), nick)
}

/// A line user who registers the account of its nickname (and is then
/// logged in to it).
fn account(srv: &TestServer, nick: &str) -> LineClient {
    let mut c = line(srv, nick);
    c.send(&format!("/register {nick}-password"));
    c.expect(&format!("* account {nick} registered"));
    c
}

/// A line user who logs in to the account of its nickname.
fn logged_in(srv: &TestServer, nick: &str) -> LineClient {
    let mut c = line(srv, nick);
    c.send(&format!("/login {nick}-password"));
    c.expect(&format!("* you are now logged in as {nick}"));
    c
}

/// Who `c` sees in `room`, one per line, `@` marking operators.
fn who(c: &mut LineClient, room: &str) -> String {
    c.send(&format!("/who {room}"));
    // Answered after the list: where it ends.
    c.send("/help logout");
    let seen = std::cell::RefCell::new(String::new());
    c.wait_for("the end of /who", |l| {
        if l.starts_with("/logout") {
            return true;
        }
        let mut s = seen.borrow_mut();
        s.push_str(l);
        s.push('\n');
        false
    });
    let seen = seen.into_inner();
    assert!(seen.contains(&format!("{room}:")), "{seen}");
    seen
}

#[test]
fn an_emptied_room_keeps_topic_and_modes_and_its_operator() {
    let dir = Dir::new("kept");
    let srv = server(&dir.config(""));
    let mut teacher = account(&srv, "teacher");
    teacher.send("/join #class");
    teacher.expect("* you are now talking in #class");
    assert!(who(&mut teacher, "#class").contains("@teacher ("));
    teacher.send("/topic Maths at nine");
    teacher.expect("* teacher set the topic of #class: Maths at nine");
    teacher.send("/mode +m");
    teacher.expect("sets mode +m on #class");
    teacher.send("/quit bye");
    teacher.expect_closed();

    // The room is empty now. The first to come back sees the topic and
    // the modes, and is not made operator: the teacher ran the room.
    let mut pupil = line(&srv, "pupil");
    pupil.send("/join #class");
    pupil.expect("Topic of #class: Maths at nine (set by teacher)");
    pupil.expect("* you are now talking in #class");
    assert!(!who(&mut pupil, "#class").contains("@pupil"));
    pupil.send("/mode #class");
    let modes = pupil.expect("Modes of #class: +");
    assert!(modes.contains('m'), "{modes}");
    // +m: a pupil without voice cannot talk, and cannot take the room.
    pupil.send("/topic mine now");
    pupil.expect("! ");
    pupil.send("/mode +o pupil");
    pupil.expect("! ");

    // The teacher, logged in again, is made operator by ChanServ.
    let mut teacher = logged_in(&srv, "teacher");
    teacher.send("/join #class");
    pupil.expect("* ChanServ sets mode +o teacher on #class");
    assert!(who(&mut teacher, "#class").contains("@teacher ("));
}

/// Whether joining `room` over IRC shows a topic (332) before the names end.
fn joined_with_topic(c: &mut Irc, room: &str) -> bool {
    c.send(&format!("JOIN {room}"));
    let mut topic = false;
    let end = format!(" 366 {} {room} ", c.nick);
    loop {
        let l = c.wait_for("the join's replies", |_| true);
        if l.contains(&format!(" 332 {} {room} ", c.nick)) {
            topic = true;
        }
        if l.contains(&end) {
            return topic;
        }
    }
}

#[test]
fn a_kept_room_is_forgotten_after_the_configured_time() {
    let dir = Dir::new("expiry");
    let srv = server(&dir.config("[hub]\nempty_room_keep_secs = 3\n"));
    let irc = srv.irc.expect("irc listener");
    let mut alice = Irc::login(irc, "alice");
    alice.join("#brief");
    alice.send("TOPIC #brief :here for a second");
    alice.expect("TOPIC #brief :here for a second");
    alice.send("PART #brief");
    alice.expect("PART #brief");
    // Kept at first (for 3 s, well above a few round trips)...
    let mut bob = Irc::login(irc, "bob");
    assert!(listed(&mut bob, "#brief"), "kept while empty");
    // ...then forgotten: listed until it is not, for at most 20 s (a
    // listing forgets the rooms past their time; joining would keep it).
    let deadline = Instant::now() + Duration::from_secs(20);
    while listed(&mut bob, "#brief") {
        assert!(Instant::now() < deadline, "#brief was never forgotten");
        std::thread::sleep(Duration::from_millis(200));
    }
    // A room forgotten is a new room: no topic, and its first joiner is
    // its operator.
    assert!(!joined_with_topic(&mut bob, "#brief"));
    bob.send("NAMES #brief");
    bob.expect(" 353 bob = #brief :@bob");
}

/// Whether LIST shows `room`.
fn listed(c: &mut Irc, room: &str) -> bool {
    c.send(&format!("LIST {room}"));
    let mut found = false;
    loop {
        let l = c.wait_for("the LIST", |_| true);
        if l.contains(&format!(" 322 {} {room} ", c.nick)) {
            found = true;
        }
        if l.contains(" 323 ") {
            return found;
        }
    }
}

#[test]
fn rooms_from_the_config_file_and_a_reload() {
    let dir = Dir::new("config");
    let first = "[[rooms]]\nname = \"#class\"\ntopic = \"Welcome to class\"\nmodes = \"+nt\"\n\
                 founder = \"head\"\noperators = [\"teacher\"]\n";
    let config = dir.config(first);
    let srv = server(&config);
    // There from start, with its topic, before anyone joined it.
    let mut pupil = line(&srv, "pupil");
    pupil.send("/rooms");
    pupil.expect("#class");
    pupil.send("/join #class");
    pupil.expect("Topic of #class: Welcome to class");
    assert!(
        !who(&mut pupil, "#class").contains("@pupil"),
        "not operator for coming first"
    );
    let mut teacher = account(&srv, "teacher");
    teacher.send("/join #class");
    pupil.expect("* ChanServ sets mode +o teacher on #class");
    let mut helper = account(&srv, "helper");
    helper.send("/join #class");
    helper.expect("* you are now talking in #class");
    assert!(!who(&mut helper, "#class").contains("@helper"));
    // Registered to its founder, as through ChanServ.
    pupil.send("/chanserv INFO #class");
    pupil.expect("* ChanServ: Founder    : head");

    // A new topic, +m, and helper an operator too: applied at reload,
    // seen by those in the room.
    std::fs::write(
        &config,
        "[[rooms]]\nname = \"#class\"\ntopic = \"Exam on Friday\"\nmodes = \"+ntm\"\n\
         founder = \"head\"\noperators = [\"teacher\", \"helper\"]\n\
         [[rooms]]\nname = \"#staff\"\nmodes = \"+nti\"\noperators = [\"teacher\"]\n",
    )
    .expect("config");
    let out = Command::new(env!("CARGO_BIN_EXE_chatroom"))
        .args(["admin", "--data-dir"])
        .arg(&srv.data_dir)
        .arg("reload")
        .output()
        .expect("chatroom admin reload");
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{said}");
    assert!(said.contains("applied now: rooms"), "{said}");
    pupil.expect("* ChanServ set the topic of #class: Exam on Friday");
    pupil.expect("* ChanServ sets mode +m on #class");
    pupil.expect("* ChanServ sets mode +o helper on #class");
    assert!(who(&mut pupil, "#class").contains("@helper"));
    // The new room exists from the reload on, invitation only.
    pupil.send("/join #staff");
    pupil.expect("! ");
    teacher.send("/rooms");
    teacher.expect("#staff");
}

#[test]
fn line_users_use_chanserv() {
    let dir = Dir::new("chanserv");
    let srv = server(&dir.config(""));
    let mut teacher = account(&srv, "teacher");
    let mut pupil = line(&srv, "pupil");
    teacher.send("/join #lesson");
    teacher.expect("* you are now talking in #lesson");
    pupil.send("/join #lesson");
    teacher.expect("* pupil joined #lesson");

    teacher.send("/help chanserv");
    teacher.expect("/chanserv REGISTER|DROP|INFO #ROOM");
    teacher.send("/chanserv HELP");
    teacher.expect("* ChanServ: REGISTER <#room>");
    // Refusals, worded as ChanServ words them over IRC.
    pupil.send("/chanserv REGISTER #lesson");
    pupil.expect("* ChanServ: You must be logged in to an account to register a room.");
    teacher.send("/chanserv REGISTER #lesson");
    teacher.expect("* ChanServ: #lesson is now registered to teacher.");
    pupil.send("/msg ChanServ INFO #lesson");
    pupil.expect("* ChanServ: Information on #lesson:");
    pupil.expect("* ChanServ: Founder    : teacher");
    pupil.send("/msg ChanServ DROP #lesson");
    pupil.expect("* ChanServ: Only the founder of #lesson or a server operator may drop it.");

    // /op and /deop, for operators.
    pupil.send("/op pupil");
    pupil.expect("! ");
    teacher.send("/op pupil");
    pupil.expect("* teacher sets mode +o pupil on #lesson");
    teacher.send("/deop pupil");
    pupil.expect("* teacher sets mode -o pupil on #lesson");

    // Registered: both leave, the pupil comes back first and is not
    // operator; the teacher, logged in, is.
    pupil.send("/part #lesson");
    pupil.expect("left #lesson");
    teacher.send("/quit");
    teacher.expect_closed();
    pupil.send("/join #lesson");
    pupil.expect("* you are now talking in #lesson");
    assert!(!who(&mut pupil, "#lesson").contains("@pupil"));
    let mut teacher = logged_in(&srv, "teacher");
    teacher.send("/join #lesson");
    pupil.expect("* ChanServ sets mode +o teacher on #lesson");
    teacher.send("/cs drop #lesson");
    teacher.expect("* ChanServ: #lesson is no longer registered.");
}
