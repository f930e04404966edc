//! What the server logs at its default level: connections, registrations
//! with the nickname, joins and quits with the address; no colour codes
//! when stderr is not a terminal; one JSON object per line with
//! `--log-format json`; refusals with their reason and never a password.

mod common;

use common::{LineClient, TestServer};

#[test]
fn default_level_follows_people_from_accept_to_quit_without_colour_codes() {
    // RUST_LOG unset: the server's own default level.
    let srv = TestServer::start_with_log("", &[]);
    let line = srv.line.expect("line");
    let mut alice = LineClient::line_login(line, "alice");
    alice.send("/join #side");
    alice.expect("#side");
    alice.send("/quit bye now");
    alice.expect_closed();
    let accepted = srv.log_line("the accept", |l| l.contains("accepted"));
    assert!(accepted.contains("127.0.0.1:"), "{accepted}");
    assert!(accepted.contains("INFO"), "{accepted}");
    for what in [
        "registered as alice",
        "alice joined #lobby",
        "alice joined #side",
        "alice quit: ",
    ] {
        let l = srv.log_line(what, |l| l.contains(what));
        assert!(l.contains("addr=127.0.0.1"), "{l}");
        assert!(l.contains(" INFO "), "{l}");
    }
    let log = srv.stderr();
    assert!(!log.contains('\u{1b}'), "escape codes in a log file: {log}");
    // Debug lines stay out at the default level.
    assert!(!log.contains("DEBUG"), "{log}");
}

#[test]
fn json_log_is_one_object_per_line_with_the_fields() {
    let srv = TestServer::start_with_log("", &["--log-format", "json"]);
    let mut bob = LineClient::line_login(srv.line.expect("line"), "bob");
    bob.send("/quit");
    bob.expect_closed();
    let registered = srv.log_line("bob's registration", |l| l.contains("registered as bob"));
    let v: serde_json::Value = serde_json::from_str(&registered).expect("a JSON object");
    assert_eq!(v["level"], "INFO", "{v}");
    assert_eq!(v["fields"]["nick"], "bob", "{v}");
    assert_eq!(v["fields"]["addr"], "127.0.0.1", "{v}");
    srv.log_line("bob's quit", |l| l.contains("bob quit"));
    for l in srv.stderr().lines() {
        let parsed: Result<serde_json::Value, _> = serde_json::from_str(l);
        assert!(
            parsed.is_ok_and(|v| v.is_object()),
            "not a JSON object: {l}"
        );
    }
}

#[test]
fn refusals_are_logged_with_their_reason_and_never_the_password() {
    let hash = common::hash_password("correct horse");
    let dir = std::env::temp_dir().join(format!("chatroom-logs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let config = dir.join("opers.toml");
    std::fs::write(
        &config,
        format!("[[opers]]\nname = \"root\"\npassword_hash = \"{hash}\"\n"),
    )
    .expect("config");
    let srv = TestServer::start_with_log(
        "",
        &[
            "--config",
            config.to_str().expect("utf-8"),
            "--max-connections-per-ip",
            "1",
        ],
    );
    let line = srv.line.expect("line");
    let mut carol = LineClient::line_login(line, "carol");
    carol.send("/oper root battery-staple-9");
    carol.expect("");
    let wrong = srv.log_line("the failed OPER", |l| l.contains("wrong password"));
    assert!(wrong.contains("127.0.0.1"), "{wrong}");
    // A second connection from the same address is over the limit.
    let mut second = LineClient::connect(line);
    second.expect_closed();
    let refused = srv.log_line("the refused connection", |l| l.contains("refused"));
    assert!(refused.contains("127.0.0.1"), "{refused}");
    assert!(refused.contains("Too many connections"), "{refused}");
    let log = srv.stderr();
    assert!(
        !log.contains("battery-staple-9"),
        "a password in the log: {log}"
    );
    std::fs::remove_dir_all(&dir).ok();
}
