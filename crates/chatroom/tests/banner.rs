//! What `chatroom serve` prints at start and how it listens: every
//! address of the machine, IPv6 and IPv4 on one listener by default, the
//! netcat command to paste, the web address, how to stop it; `--bind
//! localhost`; a busy port named with the flag that moves it; `serve
//! --help` naming every default port.

mod common;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{LineClient, WAIT};

/// A server started with `args` (every port 0, a fresh data directory),
/// killed by PID when dropped, and what it printed up to "Ctrl-C to stop.".
struct Started {
    child: Child,
    banner: Vec<String>,
    dir: std::path::PathBuf,
}

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start(args: &[&str]) -> Started {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("chatroom-banner-{}-{n}", std::process::id()));
    let data = dir.join("data");
    let mut child = Command::new(env!("CARGO_BIN_EXE_chatroom"))
        .arg("serve")
        .args([
            "--line-port",
            "0",
            "--irc-port",
            "0",
            "--tls-port",
            "0",
            "--web-port",
            "0",
            "--web-tls-port",
            "0",
            "--metrics-addr",
            "127.0.0.1:0",
            // Listening on every interface: nothing may be announced
            // beyond this machine (tests/lan_discovery.rs tests that).
            "--no-mdns",
            "--data-dir",
            data.to_str().expect("utf-8 path"),
        ])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chatroom");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut banner = Vec::new();
    let deadline = Instant::now() + WAIT;
    loop {
        assert!(Instant::now() < deadline, "no banner: {banner:#?}");
        let mut line = String::new();
        let n = out.read_line(&mut line).expect("stdout");
        assert!(n > 0, "the server exited: {banner:#?}");
        let line = line.trim_end().to_string();
        let done = line == "Ctrl-C to stop.";
        banner.push(line);
        if done {
            break;
        }
    }
    // Keep reading so that the server never blocks on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    Started { child, banner, dir }
}

/// The port of `proto` on the banner's first address line.
fn port_of(banner: &[String], proto: &str) -> u16 {
    let prefix = format!("{proto}: ");
    banner
        .iter()
        .flat_map(|l| l.split("   "))
        .map(str::trim)
        .find_map(|part| part.strip_prefix(&prefix))
        .and_then(|addr| addr.rsplit_once(':'))
        .and_then(|(_, port)| port.parse().ok())
        .unwrap_or_else(|| panic!("no {proto} in {banner:#?}"))
}

fn ipv6_loopback_works() -> bool {
    TcpListener::bind("[::1]:0").is_ok()
}

#[test]
fn listens_on_ipv6_and_ipv4_by_default_and_says_how_to_connect() {
    let srv = start(&[]);
    let banner = &srv.banner;
    let line_port = port_of(banner, "line");
    // The netcat form, host and port apart, pastes as it is.
    let nc = banner
        .iter()
        .find_map(|l| l.trim().strip_prefix("netcat: nc "))
        .unwrap_or_else(|| panic!("no netcat line in {banner:#?}"));
    let (_, port) = nc.rsplit_once(' ').expect("nc HOST PORT");
    assert_eq!(port, line_port.to_string(), "{banner:#?}");
    assert!(
        banner.iter().any(|l| l.trim().starts_with("web: http://")),
        "{banner:#?}"
    );
    assert_eq!(banner.last().map(String::as_str), Some("Ctrl-C to stop."));
    // One listener takes both families: IPv4 over loopback ...
    let v4 = SocketAddr::from(([127, 0, 0, 1], line_port));
    LineClient::connect(v4).expect("Choose a nickname");
    // ... and IPv6, where the machine has it.
    if ipv6_loopback_works() {
        let v6 = SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, line_port));
        let mut c = LineClient::line_login(v6, "sixer");
        c.send("/whois sixer");
        c.expect("::1");
    } else {
        eprintln!("no IPv6 loopback on this machine: only IPv4 was tried");
    }
}

#[test]
fn an_ipv4_client_of_the_dual_stack_listener_is_shown_as_ipv4() {
    let srv = start(&[]);
    let v4 = SocketAddr::from(([127, 0, 0, 1], port_of(&srv.banner, "line")));
    let mut c = LineClient::line_login(v4, "fourer");
    c.send("/whois fourer");
    let line = c.expect("127.0.0.1");
    assert!(!line.contains("::ffff:"), "{line}");
}

#[test]
fn bind_localhost_is_the_ipv4_loopback() {
    let srv = start(&["--bind", "localhost"]);
    let line_port = port_of(&srv.banner, "line");
    assert!(
        srv.banner
            .iter()
            .any(|l| l.contains(&format!("line: 127.0.0.1:{line_port}"))),
        "{:#?}",
        srv.banner
    );
    assert!(
        srv.banner
            .iter()
            .any(|l| l.trim() == format!("netcat: nc 127.0.0.1 {line_port}")),
        "{:#?}",
        srv.banner
    );
    LineClient::connect(SocketAddr::from(([127, 0, 0, 1], line_port))).expect("Choose a nickname");
}

/// Runs `chatroom ARGS` to its end, bounded by `WAIT`.
fn run_to_end(args: &[&str]) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_chatroom"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chatroom");
    let deadline = Instant::now() + WAIT;
    while !matches!(child.try_wait(), Ok(Some(_))) {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chatroom {args:?} kept running");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

#[test]
fn a_busy_port_names_the_flag_that_moves_it() {
    let dir = std::env::temp_dir().join(format!("chatroom-busy-{}", std::process::id()));
    let data = dir.join("data");
    let data = data.to_str().expect("utf-8 path");
    for (flag, extra) in [
        ("--line-port", None),
        ("--irc-port", None),
        ("--tls-port", None),
        ("--web-port", None),
        ("--web-tls-port", None),
        ("--lenheader-port", Some("--lenheader")),
        ("--nick-port", Some("--nick-dialect")),
    ] {
        let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = taken.local_addr().expect("addr").port().to_string();
        let mut args = vec!["serve", "--bind", "127.0.0.1", "--no-metrics", "--no-mdns"];
        args.extend(["--data-dir", data]);
        for other in [
            "--line-port",
            "--irc-port",
            "--tls-port",
            "--web-port",
            "--web-tls-port",
            "--lenheader-port",
            "--nick-port",
        ] {
            args.extend([other, if other == flag { &port } else { "0" }]);
        }
        args.extend(extra);
        let out = run_to_end(&args);
        assert!(!out.status.success(), "{flag}: started on a busy port");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("change it with {flag}")),
            "{flag}: {stderr}"
        );
        drop(taken);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn serve_help_shows_every_default_port() {
    let out = run_to_end(&["serve", "--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for port in ["5000", "6667", "6697", "8080", "8443", "1234", "55555"] {
        assert!(
            help.contains(&format!("[default: {port}]")),
            "{port} not in {help}"
        );
    }
    assert!(help.contains("localhost"), "{help}");
}
