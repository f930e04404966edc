//! LAN discovery between two network namespaces that the test makes
//! itself, joined by a veth pair and nothing else, so that no multicast
//! leaves the machine: the real server in one announces itself (mDNS),
//! and in the other `chatroom discover` lists it and `chatroom join` with
//! no address finds it and joins, its TLS certificate pinned to the
//! fingerprint it announced.
//!
//! Needs root and iproute2 (`ip netns`); skipped with a message where
//! network namespaces cannot be made.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::WAIT;

/// The two namespaces and their link; deleted when dropped.
struct Lan {
    server: String,
    client: String,
}

const SERVER_IP: &str = "10.213.7.1";
const CLIENT_IP: &str = "10.213.7.2";

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Lan {
    /// Two namespaces joined by a veth pair, or why they cannot be made.
    fn make() -> Result<Lan, String> {
        let id = std::process::id();
        let lan = Lan {
            server: format!("chatroom-s{id}"),
            client: format!("chatroom-c{id}"),
        };
        ip(&["netns", "add", &lan.server])?;
        ip(&["netns", "add", &lan.client])?;
        // Interface names hold 15 bytes.
        let (vs, vc) = (format!("crs{id}"), format!("crc{id}"));
        ip(&[
            "link",
            "add",
            &vs,
            "netns",
            &lan.server,
            "type",
            "veth",
            "peer",
            "name",
            &vc,
            "netns",
            &lan.client,
        ])?;
        for (ns, dev, addr) in [(&lan.server, &vs, SERVER_IP), (&lan.client, &vc, CLIENT_IP)] {
            ip(&["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", dev])?;
            ip(&["-n", ns, "link", "set", dev, "up"])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        Ok(lan)
    }

    /// `chatroom ARGS` inside namespace `ns`.
    fn chatroom(ns: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns, env!("CARGO_BIN_EXE_chatroom")])
            .args(args);
        cmd
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        // Deleting a namespace deletes its end of the veth pair, and so
        // the pair.
        let _ = ip(&["netns", "del", &self.server]);
        let _ = ip(&["netns", "del", &self.client]);
    }
}

/// A process killed (by PID) when dropped, with its stdout lines.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    fn start(mut cmd: Command, stderr: Stdio) -> Running {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start");
        let out = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Running {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    fn expect(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        if let Some(l) = self.seen.iter().find(|l| l.contains(needle)) {
            return l.clone();
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!("never printed {needle:?}: {:#?}", self.seen),
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("chatroom-lan-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Waits (bounded) until the file at `path` holds a line with `needle`.
fn log_line(path: &PathBuf, needle: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if let Some(l) = text.lines().find(|l| l.contains(needle)) {
            return l.to_string();
        }
        assert!(
            Instant::now() < deadline,
            "the log never said {needle:?}: {text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_second_machine_discovers_the_server_and_joins_without_an_address() {
    let lan = match Lan::make() {
        Ok(lan) => lan,
        Err(why) => {
            eprintln!(
                "SKIPPED: LAN discovery needs network namespaces (root and iproute2), which are not available here: {why}"
            );
            return;
        }
    };
    let dir = temp_dir();
    let log = dir.join("server.log");
    // The defaults: every interface, announced on the LAN.
    let mut server = Running::start(
        Lan::chatroom(
            &lan.server,
            &[
                "serve",
                "--data-dir",
                dir.join("data").to_str().expect("utf-8"),
            ],
        ),
        Stdio::from(std::fs::File::create(&log).expect("log file")),
    );
    server.expect("Ctrl-C to stop.");
    // The banner names the host's .local name, which the server answers for.
    let local = server
        .seen
        .iter()
        .find(|l| l.contains(".local:"))
        .cloned()
        .unwrap_or_else(|| panic!("no .local name in {:#?}", server.seen));
    assert!(local.contains("irc: "), "{local}");
    let fingerprint = server
        .expect("tls: SHA-256 fingerprint ")
        .split_whitespace()
        .nth(3)
        .expect("fingerprint")
        .to_string();
    log_line(&log, "mdns: announced as");

    // The other machine lists it (a few tries: the server probes for its
    // names before it answers).
    let mut listed = String::new();
    for _ in 0..3 {
        let out = Lan::chatroom(&lan.client, &["discover", "--wait", "3"])
            .output()
            .expect("chatroom discover");
        listed = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() && listed.contains(SERVER_IP) {
            break;
        }
    }
    let line = listed
        .lines()
        .find(|l| l.contains(SERVER_IP))
        .unwrap_or_else(|| panic!("the server was not discovered: {listed:?}"));
    let fields: Vec<&str> = line.split('\t').collect();
    assert_eq!(fields[0], "chatroom", "{line}");
    assert!(fields[1].ends_with(".local"), "{line}");
    for want in [
        "irc=6667".to_string(),
        "ircs=6697".to_string(),
        "line=5000".to_string(),
        format!("version={}", env!("CARGO_PKG_VERSION")),
        format!("fp={fingerprint}"),
    ] {
        assert!(fields.contains(&want.as_str()), "{want} not in {line}");
    }
    assert!(line.contains("web=http://"), "{line}");

    // ... and joins it with no address typed: over TLS, pinned.
    let mut client = Running::start(
        Lan::chatroom(
            &lan.client,
            &[
                "join",
                "--plain",
                "--nick",
                "lanbob",
                "--discover-secs",
                "3",
            ],
        ),
        Stdio::null(),
    );
    let joined = log_line(&log, "lanbob joined #lobby");
    assert!(joined.contains(&format!("addr={CLIENT_IP}")), "{joined}");
    let accepted = log_line(&log, &format!("peer={CLIENT_IP}:"));
    assert!(accepted.contains("proto=ircs"), "{accepted}");
    if let Some(stdin) = client.child.stdin.as_mut() {
        let _ = writeln!(stdin, "hello from the other machine");
        let _ = writeln!(stdin, "/quit");
    }
    log_line(&log, "lanbob quit");
    drop(client);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
