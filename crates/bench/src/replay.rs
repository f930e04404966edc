//! The `replay` workload: how long a joining client waits for a room's
//! history. One client fills a fresh room with `--lines` messages while a
//! second one, in the room, waits until it has received all of them (so
//! every one is in the server's history: ours delivers only what it has
//! stored). Then `--clients` joiners, one after the other, register, send
//! `JOIN` and measure the time from that write to the server's end-of-replay
//! notice, counting the replayed lines on the way.
//!
//! IRC only, and only against chatroom: the end of a replay is recognised by
//! chatroom's plain-IRC framing notice (`*** End of replay` in the room).
//! The server must replay at least `--lines` lines (`--history-replay-lines`);
//! a joiner that sees another count is an error. Runs in this process (no
//! worker parts); every wait is bounded by `--timeout`.

use std::io::Write as _;
use std::time::Instant;

use anyhow::bail;
use serde::Serialize;

use super::client::{self, Proto};
use super::{BenchArgs, Workload};
use chatroom_proto::irc::message::Message;

/// Lines the filler writes per `write` call.
const FILL_CHUNK: usize = 100;

/// The JSON line of a replay run.
#[derive(Debug, Serialize)]
pub struct ReplaySummary {
    pub workload: &'static str,
    pub target: String,
    pub lines: u32,
    pub joiners: u32,
    /// Joiners that saw the whole replay.
    pub measured: u32,
    pub errors: u64,
    pub error_samples: Vec<String>,
    pub fill_secs: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub min_ms: f64,
}

impl ReplaySummary {
    fn clean(&self) -> bool {
        self.errors == 0 && self.measured == self.joiners
    }
}

/// Runs the workload; returns the exit status.
pub fn run(args: &BenchArgs) -> anyhow::Result<i32> {
    if args.proto != Proto::Irc {
        bail!("replay speaks IRC only");
    }
    if !(1..=chatroom_core::history::MAX_REPLAY_LINES as u32).contains(&args.lines) {
        bail!(
            "--lines must be between 1 and {}",
            chatroom_core::history::MAX_REPLAY_LINES
        );
    }
    // The checks and defaults shared with the other workloads (target,
    // loopback guard, timeout, tag) come from the ordinary plan.
    let mut plain = args.clone();
    plain.workload = Some(Workload::Connect);
    let job = super::plan(&plain)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let s = rt.block_on(measure(args, &job))?;
    println!(
        "replay of {} lines to {} joiners ({} measured, {} errors; fill {:.2} s)\n  p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms  min {:.2} ms",
        s.lines,
        s.joiners,
        s.measured,
        s.errors,
        s.fill_secs,
        s.p50_ms,
        s.p99_ms,
        s.max_ms,
        s.min_ms
    );
    for e in &s.error_samples {
        println!("  error: {e}");
    }
    if args.json {
        println!("{}", serde_json::to_string(&s)?);
    }
    let _ = std::io::stdout().flush();
    Ok(if s.clean() { 0 } else { super::EXIT_DIRTY })
}

async fn measure(args: &BenchArgs, job: &super::Job) -> anyhow::Result<ReplaySummary> {
    let net = &job.net;
    let lines = args.lines;
    // A fresh room per run, so it holds exactly the lines written here.
    let room = format!("#{}r{}", job.tag, std::process::id() % 100_000);
    // `_` is never a base-36 digit: no joiner (tag + index) can take these.
    let watch_nick = format!("{}_w", job.tag);
    let fill_nick = format!("{}_f", job.tag);
    let open_err = |what: &str, (step, e): (client::Step, client::ClientError)| {
        anyhow::anyhow!("{what}: {step:?}: {e}")
    };
    let mut watcher = client::open(net, 0, &watch_nick, Some(&room))
        .await
        .map_err(|e| open_err("watcher", e))?
        .conn;
    let filler = client::open(net, 1, &fill_nick, Some(&room))
        .await
        .map_err(|e| open_err("filler", e))?
        .conn;

    let t_fill = Instant::now();
    let pad = "x".repeat(args.payload.saturating_sub(16));
    let mut i = 0u32;
    while i < lines {
        let mut chunk = String::new();
        for _ in 0..FILL_CHUNK {
            if i >= lines {
                break;
            }
            chunk.push_str(&format!("PRIVMSG {room} :replay {i:06} {pad}\r\n"));
            i += 1;
        }
        filler.writer.write(chunk.as_bytes()).await?;
    }
    // The watcher's copy of the last line means every line is stored.
    let mut seen = 0u32;
    while seen < lines {
        let deadline = tokio::time::Instant::now() + net.timeout();
        let line = watcher.next_line(deadline, "fill").await?;
        let Ok(msg) = Message::parse(&String::from_utf8_lossy(&line)) else {
            continue;
        };
        match msg.command.as_str() {
            "PING" => {
                watcher
                    .writer
                    .write(client::pong_line(&msg).as_bytes())
                    .await?
            }
            "PRIVMSG" if msg.source_nick() == Some(fill_nick.as_str()) => seen += 1,
            _ => {}
        }
    }
    let fill_secs = t_fill.elapsed().as_secs_f64();

    let mut times_ns: Vec<u64> = Vec::with_capacity(args.clients as usize);
    let mut errors = 0u64;
    let mut samples: Vec<String> = Vec::new();
    for j in 0..args.clients {
        let nick = job.nick(j);
        match join_once(net, 2 + j, &nick, &room, lines).await {
            Ok(ns) => times_ns.push(ns),
            Err(e) => {
                errors += 1;
                if samples.len() < 5 {
                    samples.push(format!("{nick}: {e:#}"));
                }
            }
        }
    }
    let _ = watcher.writer.write(client::quit_line(Proto::Irc)).await;
    let _ = filler.writer.write(client::quit_line(Proto::Irc)).await;

    times_ns.sort_unstable();
    let pct = |p: f64| -> f64 {
        if times_ns.is_empty() {
            return 0.0;
        }
        // Nearest rank: the smallest value with at least p of the samples
        // at or below it.
        let rank = ((p * times_ns.len() as f64).ceil() as usize).clamp(1, times_ns.len());
        times_ns[rank - 1] as f64 / 1e6
    };
    Ok(ReplaySummary {
        workload: "replay",
        target: net.target.to_string(),
        lines,
        joiners: args.clients,
        measured: times_ns.len() as u32,
        errors,
        error_samples: samples,
        fill_secs,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        max_ms: pct(1.0),
        min_ms: times_ns.first().map_or(0.0, |&n| n as f64 / 1e6),
    })
}

/// One joiner: register, then time `JOIN` → end of the room's replay.
async fn join_once(
    net: &client::NetCfg,
    idx: u32,
    nick: &str,
    room: &str,
    lines: u32,
) -> anyhow::Result<u64> {
    let mut conn = client::open(net, idx, nick, None)
        .await
        .map_err(|(step, e)| anyhow::anyhow!("{step:?}: {e}"))?
        .conn;
    let t0 = Instant::now();
    conn.writer
        .write(format!("JOIN {room}\r\n").as_bytes())
        .await?;
    let deadline = tokio::time::Instant::now() + net.timeout();
    let mut replayed = 0u32;
    let took = loop {
        let line = conn.next_line(deadline, "replay").await?;
        let Ok(msg) = Message::parse(&String::from_utf8_lossy(&line)) else {
            continue;
        };
        let here = msg.param(0).eq_ignore_ascii_case(room);
        match msg.command.as_str() {
            "PING" => {
                conn.writer
                    .write(client::pong_line(&msg).as_bytes())
                    .await?
            }
            "PRIVMSG" if here => replayed += 1,
            "NOTICE" if here && msg.param(1).starts_with("*** End of replay") => {
                break t0.elapsed().as_nanos() as u64;
            }
            "NOTICE" if here && msg.param(1).starts_with("*** No earlier messages") => {
                break t0.elapsed().as_nanos() as u64;
            }
            _ => {}
        }
    };
    let _ = conn.writer.write(client::quit_line(Proto::Irc)).await;
    if replayed != lines {
        bail!(
            "replayed {replayed} lines, expected {lines} (is --history-replay-lines at least {lines}?)"
        );
    }
    Ok(took)
}
