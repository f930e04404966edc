//! Starting and stopping the real binary: orderly shutdown on SIGTERM,
//! clear failures for a bad configuration or a busy port.

mod common;

use std::io::{ErrorKind, Read};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{LineClient, TestServer, WAIT};

/// Reads until the server closes the connection. Passes only on a clean
/// close (EOF): a reset means the server threw away something unsent.
fn expect_eof(stream: &mut TcpStream) -> Vec<u8> {
    let deadline = Instant::now() + WAIT;
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        assert!(Instant::now() < deadline, "connection was not closed");
        match stream.read(&mut chunk) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("connection was reset rather than closed: {e}"),
        }
    }
}

/// Runs `chatroom serve ARGS` to its end (bounded by `WAIT`, killed if it
/// does not end) and returns what it printed and how it exited.
fn serve_to_end(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_chatroom"))
        .args(["serve", "--no-metrics"])
        .args(args)
        .env("RUST_LOG", "chatroom=info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chatroom");
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "chatroom serve {args:?} kept running; stdout: {}; stderr: {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

fn temp_file(name: &str, contents: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("chatroom-lifecycle-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("write");
    path
}

#[test]
fn sigterm_tells_everyone_and_exits() {
    let mut server = TestServer::start(&[]);
    let mut alice = LineClient::line_login(server.line.expect("line"), "alice");
    let mut bob = LineClient::line_login(server.line.expect("line"), "bob");
    alice.expect("* bob joined #lobby");
    // Someone still choosing a nickname is told too.
    let mut newcomer = LineClient::connect(server.line.expect("line"));
    newcomer.expect("Choose a nickname");

    assert!(server.terminate(), "the server did not exit after SIGTERM");
    assert!(!server.alive());

    for (who, c) in [
        ("alice", &mut alice),
        ("bob", &mut bob),
        ("newcomer", &mut newcomer),
    ] {
        c.expect("*** Server shutting down");
        let last = c.expect("*** Disconnected:");
        assert_eq!(last, "*** Disconnected: Server shutting down", "{who}");
        let rest = expect_eof(&mut c.stream);
        assert!(
            rest.is_empty(),
            "{who} got more after the farewell: {rest:?}"
        );
    }
    // Nobody was told the others quit: the server said goodbye instead.
    assert!(!alice.seen.iter().any(|l| l.contains("quit (")));
}

#[test]
fn bad_config_file_is_a_clear_error() {
    let cases = [
        ("unknown.toml", "bogus = 1\n", vec!["unknown.toml", "bogus"]),
        (
            "type.toml",
            "[limits]\nflood_rate = \"fast\"\n",
            vec!["type.toml", "is not a valid configuration", "flood_rate"],
        ),
        (
            "syntax.toml",
            "[limits\n",
            vec!["syntax.toml", "is not a valid configuration"],
        ),
        (
            "value.toml",
            "[limits]\nsend_queue = 0\n",
            vec!["invalid configuration", "send_queue must be at least 1"],
        ),
    ];
    for (name, contents, wants) in cases {
        let path = temp_file(name, contents);
        let path_str = path.to_str().expect("utf-8 path");
        let out = serve_to_end(&[
            "--config",
            path_str,
            "--bind",
            "127.0.0.1",
            "--line-port",
            "0",
            "--irc-port",
            "0",
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name}: exited successfully");
        for want in wants {
            assert!(stderr.contains(want), "{name}: {want:?} not in {stderr:?}");
        }
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains("is running"),
            "{name}: started anyway"
        );
    }
    let out = serve_to_end(&["--config", "/nonexistent/chatroom.toml"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot read /nonexistent/chatroom.toml"),
        "{stderr:?}"
    );
}

#[test]
fn busy_port_fails_naming_the_address() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr");
    let port = addr.port().to_string();
    let out = serve_to_end(&[
        "--bind",
        "127.0.0.1",
        "--line-port",
        &port,
        "--irc-port",
        "0",
    ]);
    assert!(!out.status.success(), "started on a busy port");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot listen for line on {addr}")),
        "{stderr:?}"
    );
    assert!(stderr.contains("in use"), "{stderr:?}");
    drop(taken);
}
