//! Short `chatroom bench` runs against the real server, over IRC and the
//! line protocol: every workload must finish clean (no loss, no error) with
//! the counts its flags imply, and its `--json` line must parse. Also: a
//! non-loopback target is refused, and a server that dies or stalls
//! mid-run ends the bench with errors counted instead of a hang.
//!
//! Correctness only: nothing here asserts how fast anything was.

mod common;

use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::TestServer;
use serde_json::Value;

/// Longest any bench run here may take before the test fails (the runs
/// themselves are a few seconds; `--max-time` bounds them further).
const RUN_BOUND: Duration = Duration::from_secs(120);

fn server() -> TestServer {
    // Flood control, the per-address cap and the per-address connection
    // rate off: the bench is many fast clients from one address.
    TestServer::start(&[
        "--flood-rate",
        "0",
        "--max-per-ip",
        "0",
        "--max-connects-per-ip",
        "0",
    ])
}

fn bench_cmd(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_chatroom"));
    c.arg("bench")
        .args(["--quiet", "--json", "--max-time", "90"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// Waits for `child` (bounded), killing it by its handle if it overstays.
fn wait_bounded(mut child: Child) -> Output {
    let deadline = Instant::now() + RUN_BOUND;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("chatroom bench did not finish within {RUN_BOUND:?}");
            }
        }
    }
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    if let Some(mut o) = child.stdout.take() {
        let _ = o.read_to_end(&mut stdout);
    }
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_end(&mut stderr);
    }
    let status = child.wait().expect("exit status");
    Output {
        status,
        stdout,
        stderr,
    }
}

/// Runs the bench and returns its exit code and parsed `--json` line.
fn bench(args: &[&str]) -> (i32, Value, String) {
    let child = bench_cmd(args).spawn().expect("start chatroom bench");
    let out = wait_bounded(child);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let last = stdout.lines().last().unwrap_or_default();
    let json: Value = serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("no JSON line ({e}): stdout {stdout} stderr {stderr}"));
    (out.status.code().unwrap_or(-1), json, stdout)
}

fn n(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
}

fn assert_clean(code: i32, v: &Value, human: &str) {
    assert_eq!(n(v, "errors"), 0, "{human}");
    assert_eq!(n(v, "lost"), 0, "{human}");
    assert_eq!(n(v, "duplicates"), 0, "{human}");
    assert_eq!(n(v, "gaps"), 0, "{human}");
    assert_eq!(code, 0, "{human}");
}

fn target(s: &TestServer, proto: &str) -> String {
    match proto {
        "irc" => s.irc,
        _ => s.line,
    }
    .expect("listener")
    .to_string()
}

#[test]
fn fanout_at_a_fixed_rate_delivers_everything() {
    let s = server();
    for proto in ["irc", "line"] {
        let t = target(&s, proto);
        let (code, v, human) = bench(&[
            "fanout",
            "--proto",
            proto,
            "--target",
            &t,
            "-n",
            "8",
            "--senders",
            "4",
            "--rate",
            "20",
            "--duration",
            "1",
        ]);
        assert_clean(code, &v, &human);
        assert_eq!(n(&v, "joined"), 8, "{human}");
        // A fixed schedule: 4 senders × 20/s × 1 s, each to the 7 others.
        assert_eq!(n(&v, "sent"), 80, "{human}");
        assert_eq!(n(&v, "expected"), 80 * 7, "{human}");
        assert_eq!(n(&v, "received"), 80 * 7, "{human}");
        assert_eq!(v["latency"]["count"].as_u64(), Some(80 * 7));
        // The line protocol shows a sender its own messages; IRC does not.
        // (A receiver stops once it has everyone else's, so its own last
        // echo may not be counted.)
        let echoes = n(&v, "echoes");
        if proto == "line" {
            assert!(echoes > 0, "{human}");
        } else {
            assert_eq!(echoes, 0, "{human}");
        }
        assert!(human.contains("p99.9"), "{human}");
        // Every message's send lateness (written minus due) is measured;
        // no bound on its size (shared machine), only that it is there.
        assert_send_lateness(&v, 80, "precise", &human);
    }
}

/// The send-lateness summary of a fixed-rate run: one sample per message
/// sent, percentiles in order, and the pacing that produced it.
fn assert_send_lateness(v: &Value, sent: u64, pacing: &str, human: &str) {
    let l = &v["send_lateness"];
    assert_eq!(l["count"].as_u64(), Some(sent), "{v}");
    let p = |k: &str| {
        l[k].as_f64()
            .unwrap_or_else(|| panic!("send_lateness.{k} missing: {v}"))
    };
    assert!(p("p50_us") >= 0.0, "{v}");
    assert!(p("p50_us") <= p("p99_us"), "{v}");
    assert!(p("p99_us") <= p("max_us"), "{v}");
    assert_eq!(v["pacing"].as_str(), Some(pacing), "{v}");
    assert!(human.contains("send late"), "{human}");
}

#[test]
fn fanout_flooding_with_a_window_and_a_report() {
    let s = server();
    let dir = s.data_dir.parent().expect("test dir").to_path_buf();
    for proto in ["irc", "line"] {
        let t = target(&s, proto);
        let svg = dir.join(format!("report-{proto}.svg"));
        let svg_arg = svg.to_string_lossy().into_owned();
        let (code, v, human) = bench(&[
            "fanout",
            "--proto",
            proto,
            "--target",
            &t,
            "-n",
            "6",
            "--window",
            "4",
            "--duration",
            "1",
            "--server-pid",
            &s.pid().to_string(),
            "--report",
            &svg_arg,
        ]);
        assert_clean(code, &v, &human);
        let sent = n(&v, "sent");
        assert!(sent > 0, "{human}");
        assert_eq!(n(&v, "expected"), sent * 5, "{human}");
        assert_eq!(n(&v, "received"), sent * 5, "{human}");
        // Flooding has no schedule, so no send lateness.
        assert_eq!(v["send_lateness"]["count"].as_u64(), Some(0), "{v}");
        assert!(!human.contains("send late"), "{human}");
        let server = &v["server"];
        assert_eq!(server["pid"].as_u64(), Some(u64::from(s.pid())));
        assert!(server["peak_rss_kb"].as_u64().unwrap_or(0) > 0, "{v}");
        let drawn = std::fs::read_to_string(&svg).expect("report written");
        assert!(drawn.starts_with("<svg"), "{drawn:.200}");
        assert!(drawn.contains("latency"));
    }
}

#[test]
fn rooms_keep_traffic_in_each_room() {
    let s = server();
    for proto in ["irc", "line"] {
        let t = target(&s, proto);
        let (code, v, human) = bench(&[
            "rooms",
            "--proto",
            proto,
            "--target",
            &t,
            "--rooms",
            "4",
            "--members",
            "3",
            "--senders",
            "2",
            "--rate",
            "10",
            "--duration",
            "1",
            // The old timer still works, and is measured the same way.
            "--pacing",
            "tokio",
        ]);
        assert_clean(code, &v, &human);
        assert_send_lateness(&v, 80, "tokio", &human);
        assert_eq!(n(&v, "joined"), 12, "{human}");
        assert_eq!(n(&v, "senders"), 8, "{human}");
        // 8 senders × 10 messages, each seen by the 2 others in its room
        // only: traffic never crosses rooms.
        assert_eq!(n(&v, "sent"), 80, "{human}");
        assert_eq!(n(&v, "expected"), 160, "{human}");
        assert_eq!(n(&v, "received"), 160, "{human}");
    }
}

#[test]
fn idle_connections_from_workers_and_several_addresses() {
    let s = server();
    for proto in ["irc", "line"] {
        let t = target(&s, proto);
        let (code, v, human) = bench(&[
            "idle",
            "--proto",
            proto,
            "--target",
            &t,
            "-n",
            "120",
            "--room-size",
            "25",
            "--workers",
            "2",
            "--sources",
            "3",
            "--hold",
            "0.5",
            "--server-pid",
            &s.pid().to_string(),
        ]);
        assert_clean(code, &v, &human);
        assert_eq!(n(&v, "joined"), 120, "{human}");
        assert_eq!(n(&v, "rooms"), 5, "{human}");
        assert_eq!(n(&v, "workers"), 2, "{human}");
        assert!(
            v["server"]["rss_loaded_kb"].as_u64().unwrap_or(0) > 0,
            "{v}"
        );
        assert!(human.contains("bytes per connection"), "{human}");
    }
    assert!(
        s.stderr().contains("127.0.0.4"),
        "a third source address was used"
    );
}

#[test]
fn connection_storm_registers_everyone() {
    let s = server();
    for proto in ["irc", "line"] {
        let t = target(&s, proto);
        let (code, v, human) = bench(&[
            "connect", "--proto", proto, "--target", &t, "-n", "150", "--join",
        ]);
        assert_clean(code, &v, &human);
        assert_eq!(n(&v, "registered"), 150, "{human}");
        assert_eq!(n(&v, "joined"), 150, "{human}");
        assert_eq!(v["register_latency"]["count"].as_u64(), Some(150));
    }
}

#[test]
fn replay_measures_every_joiner_over_the_whole_history() {
    let s = TestServer::start(&[
        "--flood-rate",
        "0",
        "--max-per-ip",
        "0",
        "--max-connects-per-ip",
        "0",
        "--history-replay-lines",
        "200",
    ]);
    let t = target(&s, "irc");
    let (code, v, human) = bench(&["replay", "--target", &t, "--lines", "200", "-n", "3"]);
    assert_eq!(v["workload"], "replay", "{human}");
    assert_eq!(n(&v, "errors"), 0, "{human}");
    assert_eq!(n(&v, "lines"), 200, "{human}");
    assert_eq!(n(&v, "joiners"), 3, "{human}");
    assert_eq!(n(&v, "measured"), 3, "{human}");
    assert_eq!(code, 0, "{human}");

    // A server replaying fewer lines than were written: each joiner is an
    // error, and the run says so in its exit status.
    let short = TestServer::start(&[
        "--flood-rate",
        "0",
        "--max-per-ip",
        "0",
        "--max-connects-per-ip",
        "0",
        "--history-replay-lines",
        "10",
    ]);
    let t = target(&short, "irc");
    let (code, v, human) = bench(&["replay", "--target", &t, "--lines", "20", "-n", "2"]);
    assert_eq!(n(&v, "errors"), 2, "{human}");
    assert_eq!(n(&v, "measured"), 0, "{human}");
    assert_eq!(code, 2, "{human}");
}

#[test]
fn refuses_non_loopback_targets() {
    for args in [
        &["fanout", "--target", "192.0.2.1:6667"][..],
        &["idle", "--target", "[2001:db8::1]:6667"],
        &[
            "fanout",
            "--target",
            "127.0.0.1:9",
            "--source-addr",
            "192.0.2.7",
        ],
    ] {
        let out = wait_bounded(bench_cmd(args).spawn().expect("start"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("not loopback") || stderr.contains("not a loopback"),
            "{stderr}"
        );
        assert!(out.stdout.is_empty(), "nothing ran: {:?}", out.stdout);
    }
    // Names are never resolved: a host name is not an address.
    let out = wait_bounded(
        bench_cmd(&["fanout", "--target", "localhost:6667"])
            .spawn()
            .expect("start"),
    );
    assert_ne!(out.status.code(), Some(0));
}

#[test]
fn a_server_killed_mid_run_ends_the_run_with_errors() {
    let mut s = server();
    let t = target(&s, "irc");
    // A watcher in the bench's room (known from --tag) sees it fill up.
    let mut watcher = common::LineClient::connect(s.irc.expect("irc"));
    watcher.send("NICK watcher");
    watcher.send("USER w 0 * :w");
    watcher.expect(" 001 ");
    watcher.send("JOIN #kill-0");
    watcher.expect(" 366 ");
    let child = bench_cmd(&[
        "fanout",
        "--target",
        &t,
        "-n",
        "20",
        "--rate",
        "20",
        "--duration",
        "30",
        "--timeout",
        "2",
        "--drain",
        "2",
        "--tag",
        "kill",
    ])
    .spawn()
    .expect("start bench");
    for _ in 0..20 {
        watcher.wait_for("a bench client joining", |l| l.contains(" JOIN "));
    }
    // And sending.
    watcher.expect("PRIVMSG #kill-0 :kill ");
    assert!(s.alive());
    s.kill9();
    let out = wait_bounded(child);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    let v: Value = serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(n(&v, "errors") > 0, "{stdout}");
    assert!(n(&v, "disconnects") > 0, "{stdout}");
    assert_eq!(n(&v, "joined"), 20, "{stdout}");
}

#[test]
fn a_server_that_never_answers_is_counted_not_waited_for() {
    // Accepts connections and reads nothing, says nothing.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr: SocketAddr = listener.local_addr().expect("addr");
    let held = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = held.clone();
    listener.set_nonblocking(true).expect("nonblocking");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    let acceptor = std::thread::spawn(move || {
        while !stop2.load(std::sync::atomic::Ordering::Relaxed) {
            match listener.accept() {
                Ok((c, _)) => {
                    if let Ok(mut h) = keep.lock() {
                        h.push(c);
                    }
                }
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    });
    let t = addr.to_string();
    let (code, v, human) = bench(&[
        "fanout",
        "--target",
        &t,
        "-n",
        "5",
        "--timeout",
        "1",
        "--duration",
        "1",
    ]);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = acceptor.join();
    assert_eq!(code, 2, "{human}");
    assert_eq!(n(&v, "connected"), 5, "{human}");
    assert_eq!(n(&v, "registered"), 0, "{human}");
    assert_eq!(n(&v, "register_errors"), 5, "{human}");
    assert_eq!(n(&v, "setup_timeouts"), 5, "{human}");
    assert_eq!(n(&v, "sent"), 0, "{human}");
}

/// A fake IRC server that registers and joins everyone, then drops every
/// message: senders see no progress, receivers get nothing.
fn swallowing_server() -> (SocketAddr, std::sync::Arc<std::sync::atomic::AtomicBool>) {
    use std::io::{BufRead, BufReader, Write};
    use std::sync::atomic::{AtomicBool, Ordering};
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    listener.set_nonblocking(true).expect("nonblocking");
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    std::thread::spawn(move || {
        while !stop2.load(Ordering::Relaxed) {
            let Ok((conn, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            };
            let stop3 = stop2.clone();
            std::thread::spawn(move || {
                let _ = conn.set_nonblocking(false);
                let _ = conn.set_read_timeout(Some(Duration::from_millis(100)));
                let Ok(mut out) = conn.try_clone() else {
                    return;
                };
                let mut rd = BufReader::new(conn);
                let mut nick = String::from("x");
                let mut line = String::new();
                while !stop3.load(Ordering::Relaxed) {
                    line.clear();
                    match rd.read_line(&mut line) {
                        Ok(0) => return,
                        Ok(_) => {}
                        Err(_) => continue,
                    }
                    let words: Vec<&str> = line.split_whitespace().collect();
                    let reply = match words.as_slice() {
                        ["NICK", n, ..] => {
                            nick = n.to_string();
                            continue;
                        }
                        ["USER", ..] => format!(":fake 001 {nick} :hi\r\n"),
                        ["JOIN", room, ..] => {
                            format!(":{nick}!u@h JOIN {room}\r\n:fake 366 {nick} {room} :End\r\n")
                        }
                        _ => continue,
                    };
                    if out.write_all(reply.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, stop)
}

#[test]
fn a_server_that_drops_messages_shows_as_loss_and_stalls() {
    let (addr, stop) = swallowing_server();
    let t = addr.to_string();
    let (code, v, human) = bench(&[
        "fanout",
        "--target",
        &t,
        "-n",
        "3",
        "--window",
        "4",
        "--duration",
        "3",
        "--timeout",
        "1",
        "--drain",
        "1",
    ]);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    // Each sender fills its window, waits --timeout (1 s) for progress,
    // writes its window off (a stall) and goes on, well before the 3 s end.
    assert_eq!(code, 2, "{human}");
    assert_eq!(n(&v, "joined"), 3, "{human}");
    assert!(
        n(&v, "sent") >= 12,
        "every sender filled its window: {human}"
    );
    assert_eq!(n(&v, "received"), 0, "{human}");
    assert_eq!(n(&v, "expected"), n(&v, "sent") * 2, "{human}");
    assert_eq!(n(&v, "lost"), n(&v, "expected"), "{human}");
    assert!(n(&v, "window_stalls") >= 3, "{human}");
    assert_eq!(n(&v, "drain_timeouts"), 3, "{human}");
}
