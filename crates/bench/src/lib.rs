//! `chatroom bench`: the load generator, shipped in the same binary as the
//! server (as redis-benchmark ships with Redis). It speaks IRC (to any
//! RFC 1459/2812 server, not only ours) and chatroom's line protocol.
//!
//! This module is the orchestrator: it turns the flags into a [`Job`],
//! splits the clients into parts (in this process, or in worker processes
//! that re-execute this binary with `bench --worker`), steps every part
//! through the same phases with a deadline on each, samples the server's
//! CPU and memory from `/proc`, and prints the progress bar, the human
//! summary, the `--json` line and the `--report` SVG.
//!
//! It must never target a non-loopback address unless `--allow-remote` is
//! given, never resolve a name (targets are literal addresses), and never
//! wait without a bound: `--max-time` caps the whole run.

#![deny(unsafe_code)]

pub mod client;
pub mod pace;
pub mod payload;
pub mod replay;
pub mod report;
pub mod stats;
pub mod workload;

use std::collections::BTreeMap;
use std::io::{BufRead, Write as _};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use serde::Serialize;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use client::{NetCfg, Proto};
use payload::mono_ns;
use stats::{LatencySummary, ProcSample};
use workload::{
    ConnectSpec, Ctl, IdleSpec, Job, Layout, Link, Live, LiveSnap, Msg, PartResult, RuntimeKind,
    SendMode, Spec, TrafficSpec,
};

/// Which workload to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Workload {
    /// N clients in one room; S of them send (fixed rate or flooding).
    Fanout,
    /// Many rooms of --members clients each; traffic in every room.
    Rooms,
    /// C connections registered, joined (spread over rooms) and held;
    /// reports the server's memory per connection.
    Idle,
    /// Connection storm: connects/s and registration latency.
    Connect,
    /// Fill a fresh room with --lines messages, then --clients joiners one
    /// after the other: time from JOIN to the end of the replayed history
    /// (chatroom only).
    Replay,
}

/// Flags of `chatroom bench`.
#[derive(Debug, Clone, Args)]
#[command(
    after_help = "Examples:\n  chatroom bench fanout --clients 100 --senders 100 --rate 10 --duration 20\n  chatroom bench fanout --clients 50 --senders 50 --window 32 --proto line --target 127.0.0.1:5000\n  chatroom bench idle --clients 10000 --workers 2 --sources 4 --server-pid 1234\n\nExit status: 0 clean run, 1 could not run, 2 the run saw errors or lost messages."
)]
pub struct BenchArgs {
    /// What to run.
    #[arg(value_enum, required_unless_present = "worker")]
    pub workload: Option<Workload>,
    /// Server address (a literal IP and port; names are never resolved).
    /// Default: 127.0.0.1:6667 for IRC, 127.0.0.1:5000 for the line protocol.
    #[arg(long)]
    pub target: Option<SocketAddr>,
    /// Another node of the same cluster (repeatable): clients connect to
    /// `--target` and these in turn, so the run crosses nodes.
    #[arg(long = "also-target")]
    pub also_target: Vec<SocketAddr>,
    /// Protocol the simulated clients speak.
    #[arg(long, value_enum, default_value = "irc")]
    pub proto: Proto,
    /// Clients: the room's size (fanout), connections (idle, connect).
    #[arg(long, short = 'n', default_value_t = 100)]
    pub clients: u32,
    /// Sending clients (fanout: in the room; rooms: in each room).
    #[arg(long, short = 's')]
    pub senders: Option<u32>,
    /// Rooms (rooms workload).
    #[arg(long, default_value_t = 10)]
    pub rooms: u32,
    /// Clients per room (rooms workload).
    #[arg(long, default_value_t = 10)]
    pub members: u32,
    /// Messages per second per sender (ignored with --window).
    #[arg(long, default_value_t = 10.0)]
    pub rate: f64,
    /// How fixed-rate senders wait for each message: a timerfd (precise)
    /// or tokio's timer (1 ms granularity; for comparison).
    #[arg(long, value_enum, default_value = "precise")]
    pub pacing: pace::Pacing,
    /// Flood instead: each sender keeps this many messages in flight.
    #[arg(long)]
    pub window: Option<u32>,
    /// Seconds of sending (traffic workloads).
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Lines written into the room before the joiners come (replay).
    #[arg(long, default_value_t = 1000)]
    pub lines: u32,
    /// Bytes of text per message.
    #[arg(long, default_value_t = 64)]
    pub payload: usize,
    /// Clients per room (idle).
    #[arg(long, default_value_t = 100)]
    pub room_size: u32,
    /// Seconds to hold the idle connections before measuring the server.
    #[arg(long, default_value_t = 2.0)]
    pub hold: f64,
    /// Idle: after every client quit, keep reading the server's memory for
    /// this many seconds (what it gives back after a burst of quits).
    #[arg(long, default_value_t = 0.0)]
    pub after_quit: f64,
    /// Clients stay in rooms the server puts them in by itself (chatroom's
    /// default #lobby), as plain IRC clients do; by default the bench
    /// leaves them so that every client is only in its workload's room.
    #[arg(long)]
    pub stay: bool,
    /// IRC registration in two writes (NICK, then USER) instead of one.
    #[arg(long)]
    pub split_registration: bool,
    /// Join a room after registering (connect).
    #[arg(long)]
    pub join: bool,
    /// Clients being set up at once (connection attempts in flight, from
    /// the connect to the end of the join), per process.
    #[arg(long, visible_alias = "in-flight", default_value_t = 64)]
    pub concurrency: usize,
    /// Bound, in seconds, of every single wait (connect, registration
    /// step, write, window progress).
    #[arg(long, default_value_t = 10.0)]
    pub timeout: f64,
    /// Seconds receivers may wait for the last messages after sending ends.
    #[arg(long, default_value_t = 5.0)]
    pub drain: f64,
    /// Hard cap on the whole run, in seconds.
    #[arg(long, default_value_t = 600.0)]
    pub max_time: f64,
    /// Worker processes (each runs a share of the clients), to go past one
    /// process's open-file limit. 1: everything in this process.
    #[arg(long, default_value_t = 1)]
    pub workers: u32,
    /// Local source addresses, used round-robin (each has its own
    /// ephemeral ports), e.g. 127.0.0.2,127.0.0.3.
    #[arg(long, value_delimiter = ',')]
    pub source_addr: Vec<IpAddr>,
    /// Shorthand: use N source addresses 127.0.0.2, 127.0.0.3, ...
    #[arg(long)]
    pub sources: Option<u8>,
    /// The server's process id: report its CPU time and memory (/proc).
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Print one JSON line with every figure at the end.
    #[arg(long)]
    pub json: bool,
    /// Draw latency distribution and throughput over time into this SVG file.
    #[arg(long)]
    pub report: Option<std::path::PathBuf>,
    /// Allow a target (or source address) that is not loopback.
    #[arg(long)]
    pub allow_remote: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Scheduler of each bench process.
    #[arg(long, value_enum, default_value = "current")]
    pub runtime: RuntimeKind,
    /// Threads with --runtime multi.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Run name: nickname prefix and payload tag (letters, 2-5).
    #[arg(long)]
    pub tag: Option<String>,
    /// Internal: run one part, reading the job from stdin.
    #[arg(long, hide = true)]
    pub worker: bool,
}

/// Exit status of a run that completed but saw errors or loss.
pub const EXIT_DIRTY: i32 = 2;

/// Entry point of `chatroom bench`; returns the process exit status.
pub fn main(args: BenchArgs) -> i32 {
    raise_fd_limit();
    if args.worker {
        return match worker_main() {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("bench worker: {e:#}");
                1
            }
        };
    }
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("chatroom bench: {e:#}");
            1
        }
    }
}

/// Lifts the soft open-file limit to the hard one: every client is a socket.
fn raise_fd_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut lim = getrlimit(Resource::Nofile);
    if lim.current < lim.maximum {
        lim.current = lim.maximum;
        let _ = setrlimit(Resource::Nofile, lim);
    }
}

fn build_runtime(
    kind: RuntimeKind,
    threads: Option<usize>,
) -> anyhow::Result<tokio::runtime::Runtime> {
    let rt = match kind {
        RuntimeKind::Current => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?,
        RuntimeKind::Multi => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            if let Some(t) = threads {
                b.worker_threads(t.max(1));
            }
            b.enable_all().build()?
        }
    };
    Ok(rt)
}

/// Checks the flags and turns them into the job every part runs.
pub fn plan(args: &BenchArgs) -> anyhow::Result<Job> {
    let Some(workload) = args.workload else {
        bail!("which workload? fanout, rooms, idle or connect");
    };
    let target = args.target.unwrap_or_else(|| {
        let port = match args.proto {
            Proto::Irc => 6667,
            Proto::Line => 5000,
        };
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)
    });
    let mut sources = args.source_addr.clone();
    if let Some(n) = args.sources {
        for i in 0..n {
            sources.push(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2u8.saturating_add(i))));
        }
    }
    if !args.allow_remote {
        if let Some(t) = args.also_target.iter().find(|t| !t.ip().is_loopback()) {
            bail!("refusing to load {t}: not a loopback address (pass --allow-remote)");
        }
        if !target.ip().is_loopback() {
            bail!(
                "refusing to load {target}: not a loopback address (pass --allow-remote to bench a server you run elsewhere)"
            );
        }
        if let Some(s) = sources.iter().find(|s| !s.is_loopback()) {
            bail!("refusing source address {s}: not loopback (pass --allow-remote)");
        }
    }
    let secs = |name: &str, v: f64| -> anyhow::Result<u64> {
        if !(v.is_finite() && v > 0.0 && v <= 86_400.0) {
            bail!("--{name} must be between 0 and 86400 seconds");
        }
        Ok((v * 1e9) as u64)
    };
    let timeout_ns = secs("timeout", args.timeout)?;
    let max_time_ns = secs("max-time", args.max_time)?;
    if args.payload > payload::MAX_PAYLOAD {
        bail!("--payload is at most {} bytes", payload::MAX_PAYLOAD);
    }
    if args.clients == 0 {
        bail!("--clients must be at least 1");
    }
    const MAX_CLIENTS: u32 = 1_000_000;
    let mode = match args.window {
        Some(w) if (1..=10_000).contains(&w) => SendMode::Window { window: w },
        Some(_) => bail!("--window must be between 1 and 10000"),
        None if args.rate.is_finite() && args.rate > 0.0 && args.rate <= 1e6 => {
            SendMode::Rate { per_sec: args.rate }
        }
        None => bail!("--rate must be between 0 and 1000000"),
    };
    let spec = match workload {
        Workload::Fanout | Workload::Rooms => {
            let layout = if workload == Workload::Fanout {
                Layout::Fanout {
                    clients: args.clients,
                    senders: args.senders.unwrap_or(args.clients).min(args.clients),
                }
            } else {
                if args.rooms == 0 || args.members == 0 {
                    bail!("--rooms and --members must be at least 1");
                }
                Layout::Rooms {
                    rooms: args.rooms,
                    members: args.members,
                    senders: args.senders.unwrap_or(1).min(args.members),
                }
            };
            if u64::from(layout.rooms()) * u64::from(layout.members()) > u64::from(MAX_CLIENTS) {
                bail!("at most {MAX_CLIENTS} clients");
            }
            Spec::Traffic(TrafficSpec {
                layout,
                mode,
                duration_ns: secs("duration", args.duration)?,
                payload: args.payload,
                drain_ns: secs("drain", args.drain)?,
                pacing: args.pacing,
            })
        }
        Workload::Idle => Spec::Idle(IdleSpec {
            clients: args.clients.min(MAX_CLIENTS),
            room_size: args.room_size.max(1),
        }),
        Workload::Replay => bail!("replay runs in one process, without parts"),
        Workload::Connect => Spec::Connect(ConnectSpec {
            clients: args.clients.min(MAX_CLIENTS),
            join: args.join,
        }),
    };
    let tag = match &args.tag {
        Some(t) if (2..=5).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_lowercase()) => {
            t.clone()
        }
        Some(_) => bail!("--tag must be 2 to 5 lowercase letters"),
        None => {
            // Letters only, so it is a valid nickname start on every server.
            let mut n = (mono_ns() / 1000) ^ u64::from(std::process::id());
            let mut t = String::from("b");
            for _ in 0..3 {
                t.push((b'a' + (n % 26) as u8) as char);
                n /= 26;
            }
            t
        }
    };
    Ok(Job {
        net: NetCfg {
            target,
            also: args.also_target.clone(),
            proto: args.proto,
            source_addrs: sources,
            timeout_ns,
            stay: args.stay,
            split_registration: args.split_registration,
        },
        spec,
        tag,
        part: 0,
        parts: args.workers.clamp(1, 64),
        epoch_ns: mono_ns(),
        max_time_ns,
        connect_concurrency: args.concurrency.clamp(1, 4096),
        allow_remote: args.allow_remote,
        runtime: args.runtime,
        threads: args.threads,
    })
}

/// A worker process: one job line on stdin, then control lines; messages
/// to the orchestrator as JSON lines on stdout.
fn worker_main() -> anyhow::Result<()> {
    let stdin = std::io::stdin();
    let mut first = String::new();
    stdin.lock().read_line(&mut first)?;
    let job: Job = serde_json::from_str(&first).context("reading the job")?;
    if !job.allow_remote
        && (!job.net.target.ip().is_loopback()
            || job.net.also.iter().any(|t| !t.ip().is_loopback()))
    {
        bail!("refusing a non-loopback target");
    }
    let rt = build_runtime(job.runtime, job.threads)?;
    rt.block_on(async move {
        let (msg_tx, mut msg_rx) = mpsc::unbounded_channel::<Msg>();
        let (ctl_tx, ctl_rx) = mpsc::unbounded_channel::<Ctl>();
        // Control lines from the orchestrator; EOF means it is gone: abort.
        std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                match serde_json::from_str::<Ctl>(&line) {
                    Ok(c) => {
                        if ctl_tx.send(c).is_err() {
                            break;
                        }
                    }
                    Err(_) => break,
                }
            }
            let _ = ctl_tx.send(Ctl::Abort);
        });
        let link = Link {
            tx: msg_tx,
            rx: ctl_rx,
            live: Arc::new(Live::default()),
        };
        let part = tokio::spawn(workload::run_part(job, link));
        let mut out = std::io::stdout().lock();
        while let Some(m) = msg_rx.recv().await {
            let done = matches!(m, Msg::Done(_) | Msg::Failed(_));
            let mut line = serde_json::to_string(&m)?;
            line.push('\n');
            out.write_all(line.as_bytes())?;
            out.flush()?;
            if done {
                break;
            }
        }
        let _ = part.await;
        Ok(())
    })
}

/// How the orchestrator talks to one part.
struct PartHandle {
    ctl: mpsc::UnboundedSender<Ctl>,
    /// A worker process, killed (by its handle) if it outlives the run.
    child: Option<tokio::process::Child>,
}

#[derive(Default)]
struct PartState {
    snap: LiveSnap,
    ready: Option<Vec<u64>>,
    sent: Option<Vec<u64>>,
    done: Option<Box<PartResult>>,
    failed: Option<String>,
}

impl PartState {
    fn over(&self) -> bool {
        self.done.is_some() || self.failed.is_some()
    }
}

/// Server figures from `/proc`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ServerStats {
    pub pid: u32,
    /// CPU seconds the server used from the start of the run phase to the end.
    pub cpu_s: f64,
    /// `cpu_s` over the wall time of that span, in percent of one core.
    pub cpu_pct: f64,
    /// Highest resident memory seen while the bench ran, KiB.
    pub peak_rss_kb: u64,
    /// The server's own peak (VmHWM) at the end, KiB.
    pub hwm_kb: u64,
    /// Its peak (VmHWM) when the held memory was read: the peak of the
    /// setup (idle: of the joins), KiB.
    pub hwm_held_kb: u64,
    /// Resident memory before the bench connected anything, KiB.
    pub rss_before_kb: u64,
    /// Resident memory with every client set up (idle: after the hold), KiB.
    pub rss_loaded_kb: u64,
    /// (loaded - before) / clients set up.
    pub bytes_per_conn: f64,
    /// Idle with `--after-quit`: resident memory at the end of it, KiB.
    pub rss_after_quit_kb: Option<u64>,
    /// Idle with `--after-quit`: (seconds after the last client quit,
    /// resident KiB) read along it.
    pub after_quit_series: Vec<(f64, u64)>,
}

/// Everything a run measured; the `--json` line.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub workload: &'static str,
    pub proto: &'static str,
    pub target: String,
    pub tag: String,
    pub clients: u32,
    pub rooms: u32,
    pub senders: u64,
    pub mode: String,
    /// How fixed-rate senders waited ("precise" or "tokio"; empty for
    /// other modes).
    pub pacing: &'static str,
    pub payload: usize,
    pub duration_s: f64,
    pub workers: u32,
    pub connected: u64,
    pub registered: u64,
    pub joined: u64,
    pub sent: u64,
    pub expected: u64,
    pub received: u64,
    pub lost: u64,
    pub duplicates: u64,
    pub gaps: u64,
    pub echoes: u64,
    pub pings: u64,
    /// Clients the server said its flood control delayed or cut
    /// ([`client::FLOOD_SIGNS`]).
    pub flood_notices: u64,
    pub errors: u64,
    pub connect_errors: u64,
    pub register_errors: u64,
    pub join_errors: u64,
    pub setup_timeouts: u64,
    pub disconnects: u64,
    pub write_stalls: u64,
    pub window_stalls: u64,
    pub drain_timeouts: u64,
    pub part_failures: u64,
    pub error_kinds: BTreeMap<String, u64>,
    pub sent_per_s: f64,
    pub deliveries_per_s: f64,
    pub latency: LatencySummary,
    /// Fixed-rate runs: written minus due time of every message sent
    /// (count 0 otherwise).
    pub send_lateness: LatencySummary,
    pub connect_latency: LatencySummary,
    pub register_latency: LatencySummary,
    pub connects_per_s: f64,
    pub server: Option<ServerStats>,
    pub bench_cpu_s: f64,
    pub wall_s: f64,
    pub sent_series: Vec<u64>,
    pub delivered_series: Vec<u64>,
}

impl Summary {
    /// A clean run: no error of any kind and nothing lost.
    pub fn clean(&self) -> bool {
        self.errors == 0 && self.lost == 0 && self.duplicates == 0
    }
}

fn run(args: BenchArgs) -> anyhow::Result<i32> {
    if args.workload == Some(Workload::Replay) {
        return replay::run(&args);
    }
    let job = plan(&args)?;
    let rt = build_runtime(args.runtime, args.threads)?;
    let (summary, result) = rt.block_on(orchestrate(&args, job))?;
    print!("{}", human(&summary));
    if let Some(path) = &args.report {
        report::write_svg(path, &summary, &result.latency)
            .with_context(|| format!("writing {}", path.display()))?;
        println!("report: {}", path.display());
    }
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    }
    let _ = std::io::stdout().flush();
    Ok(if summary.clean() { 0 } else { EXIT_DIRTY })
}

async fn orchestrate(args: &BenchArgs, job: Job) -> anyhow::Result<(Summary, PartResult)> {
    let t_start = mono_ns();
    let deadline = tokio::time::Instant::now() + Duration::from_nanos(job.max_time_ns);
    let parts = job.parts;
    let (all_tx, mut all_rx) = mpsc::unbounded_channel::<(usize, Msg)>();
    let server_before = args.server_pid.and_then(|p| ProcSample::read(p).ok());
    if let (Some(pid), None) = (args.server_pid, server_before) {
        bail!("cannot read /proc/{pid}: is the server running?");
    }

    let mut handles = Vec::new();
    for p in 0..parts {
        let mut j = job.clone();
        j.part = p;
        handles.push(start_part(j, p as usize, all_tx.clone(), parts > 1).await?);
    }
    drop(all_tx);

    let bar = progress_bar(args.quiet);
    let mut st: Vec<PartState> = (0..parts).map(|_| PartState::default()).collect();
    let mut peak_rss = server_before.map(|s| s.rss_kb).unwrap_or(0);
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut phase = "setup";

    // Waits until every part satisfies `want` (or is over), the deadline
    // passes, or every part's link is gone.
    macro_rules! wait_all {
        ($want:expr) => {{
            let mut timed_out = false;
            while !st.iter().all(|s| s.over() || $want(s)) {
                tokio::select! {
                    m = all_rx.recv() => match m {
                        Some((i, m)) => apply(&mut st[i], m),
                        None => {
                            for s in st.iter_mut().filter(|s| !s.over()) {
                                s.failed = Some("worker went away".into());
                            }
                        }
                    },
                    _ = tick.tick() => {
                        if let Some(pid) = args.server_pid
                            && let Ok(s) = ProcSample::read(pid)
                        {
                            peak_rss = peak_rss.max(s.rss_kb);
                        }
                        draw(&bar, phase, &st, &job);
                    }
                    _ = tokio::time::sleep_until(deadline) => { timed_out = true; break; }
                }
            }
            timed_out
        }};
    }

    let mut timed_out = wait_all!(|s: &PartState| s.ready.is_some());
    let mut server_loaded = None;
    let mut server_at_go = None;
    let mut t_go = mono_ns();
    if !timed_out {
        if let Spec::Idle(_) = job.spec {
            phase = "holding";
            let hold =
                tokio::time::Instant::now() + Duration::from_secs_f64(args.hold.clamp(0.0, 3600.0));
            let hold = hold.min(deadline);
            while tokio::time::Instant::now() < hold {
                tokio::select! {
                    m = all_rx.recv() => match m {
                        Some((i, m)) => apply(&mut st[i], m),
                        None => break,
                    },
                    _ = tick.tick() => draw(&bar, phase, &st, &job),
                    _ = tokio::time::sleep_until(hold) => {}
                }
            }
        }
        if let Some(pid) = args.server_pid {
            server_loaded = ProcSample::read(pid).ok();
            server_at_go = server_loaded;
        }
        phase = "running";
        t_go = mono_ns() + 100_000_000;
        for h in &handles {
            let _ = h.ctl.send(Ctl::Go { start_ns: t_go });
        }
        if let Spec::Traffic(_) = job.spec {
            timed_out = wait_all!(|s: &PartState| s.sent.is_some());
            if !timed_out {
                phase = "draining";
                let mut per_room: Vec<u64> = Vec::new();
                for s in &st {
                    for (r, n) in s.sent.iter().flatten().enumerate() {
                        if per_room.len() <= r {
                            per_room.resize(r + 1, 0);
                        }
                        per_room[r] += n;
                    }
                }
                for h in &handles {
                    let _ = h.ctl.send(Ctl::Expect {
                        per_room: per_room.clone(),
                    });
                }
            }
        }
        if !timed_out {
            if phase == "running" {
                phase = "finishing";
            }
            timed_out = wait_all!(|_: &PartState| false);
        }
    }
    if timed_out {
        // Give the parts a short, bounded chance to report what they have.
        for h in &handles {
            let _ = h.ctl.send(Ctl::Abort);
        }
        let grace = tokio::time::Instant::now() + Duration::from_secs(5);
        while !st.iter().all(PartState::over) {
            tokio::select! {
                m = all_rx.recv() => match m {
                    Some((i, m)) => apply(&mut st[i], m),
                    None => break,
                },
                _ = tokio::time::sleep_until(grace) => break,
            }
        }
        for s in st.iter_mut().filter(|s| !s.over()) {
            s.failed = Some("did not finish within --max-time".into());
        }
    }
    let t_end = mono_ns();
    let server_after = args.server_pid.and_then(|p| ProcSample::read(p).ok());
    let mut after_quit_series = Vec::new();
    if let (Spec::Idle(_), Some(pid), false) = (&job.spec, args.server_pid, timed_out) {
        // Every part is done, so every client has quit: what the server
        // gives back, read at these marks (bounded by --after-quit and by
        // the run's deadline).
        let span = args.after_quit.clamp(0.0, 3600.0);
        let t0 = tokio::time::Instant::now();
        for mark in [
            1.0, 2.0, 3.0, 5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0,
        ]
        .into_iter()
        .filter(|m| *m < span)
        .chain((span > 0.0).then_some(span))
        {
            let at = (t0 + Duration::from_secs_f64(mark)).min(deadline);
            tokio::time::sleep_until(at).await;
            if let Ok(s) = ProcSample::read(pid) {
                after_quit_series.push((mark, s.rss_kb));
            }
        }
    }
    bar.finish_and_clear();
    for mut h in handles {
        if let Some(c) = h.child.as_mut() {
            match tokio::time::timeout(Duration::from_secs(5), c.wait()).await {
                Ok(_) => {}
                Err(_) => {
                    let _ = c.start_kill();
                    let _ = c.wait().await;
                }
            }
        }
    }

    let mut total = PartResult::default();
    let mut failures = 0;
    for s in &st {
        if let Some(r) = &s.done {
            total.merge(r);
        }
        if let Some(f) = &s.failed {
            failures += 1;
            total.errors.add(format!("part failed: {f}"));
        }
    }
    // The orchestrator's own CPU when parts ran in this process.
    if parts == 1 {
        total.bench_cpu_s = ProcSample::read_self().map(|s| s.cpu_s).unwrap_or(0.0);
    }

    let server = args.server_pid.map(|pid| {
        let before = server_before.unwrap_or_default();
        let loaded = server_loaded.unwrap_or_default();
        let after = server_after.unwrap_or(loaded);
        let go = server_at_go.unwrap_or(before);
        let span_s = (t_end.saturating_sub(t_go)) as f64 / 1e9;
        let cpu_s = (after.cpu_s - go.cpu_s).max(0.0);
        let joined = total.counts.joined.max(1) as f64;
        ServerStats {
            pid,
            cpu_s,
            cpu_pct: if span_s > 0.0 {
                100.0 * cpu_s / span_s
            } else {
                0.0
            },
            peak_rss_kb: peak_rss.max(after.rss_kb).max(loaded.rss_kb),
            hwm_kb: after.hwm_kb,
            hwm_held_kb: loaded.hwm_kb,
            rss_before_kb: before.rss_kb,
            rss_loaded_kb: loaded.rss_kb,
            bytes_per_conn: (loaded.rss_kb.saturating_sub(before.rss_kb) as f64 * 1024.0) / joined,
            rss_after_quit_kb: after_quit_series.last().map(|&(_, kb)| kb),
            after_quit_series: after_quit_series.clone(),
        }
    });

    let c = &total.counts;
    let (rooms, senders, duration_s, mode) = match &job.spec {
        Spec::Traffic(t) => {
            let senders = (0..t.layout.clients())
                .filter(|&i| t.layout.is_sender(i))
                .count() as u64;
            let mode = match t.mode {
                SendMode::Rate { per_sec } => format!("rate {per_sec}/s"),
                SendMode::Window { window } => format!("window {window}"),
            };
            (t.layout.rooms(), senders, t.duration_ns as f64 / 1e9, mode)
        }
        Spec::Idle(i) => (
            i.clients.div_ceil(i.room_size.max(1)),
            0,
            0.0,
            "idle".into(),
        ),
        Spec::Connect(_) => (0, 0, 0.0, "storm".into()),
    };
    let per_s = |n: u64| {
        if duration_s > 0.0 {
            n as f64 / duration_s
        } else {
            0.0
        }
    };
    let summary = Summary {
        workload: job.spec.name(),
        proto: job.net.proto.name(),
        target: job.net.target.to_string(),
        tag: job.tag.clone(),
        clients: job.spec.clients(),
        rooms,
        senders,
        mode,
        pacing: match &job.spec {
            Spec::Traffic(TrafficSpec {
                mode: SendMode::Rate { .. },
                pacing,
                ..
            }) => pacing.name(),
            _ => "",
        },
        payload: match &job.spec {
            Spec::Traffic(t) => t.payload,
            _ => 0,
        },
        duration_s,
        workers: parts,
        connected: c.connected,
        registered: c.registered,
        joined: c.joined,
        sent: c.sent,
        expected: c.expected,
        received: c.received,
        lost: c.lost(),
        duplicates: c.duplicates,
        gaps: c.gaps,
        echoes: c.echoes,
        pings: c.pings,
        flood_notices: c.flood_notices,
        errors: c.errors() + failures,
        connect_errors: c.connect_errors,
        register_errors: c.register_errors,
        join_errors: c.join_errors,
        setup_timeouts: c.setup_timeouts,
        disconnects: c.disconnects,
        write_stalls: c.write_stalls,
        window_stalls: c.window_stalls,
        drain_timeouts: c.drain_timeouts,
        part_failures: failures,
        error_kinds: total.errors.0.clone(),
        sent_per_s: per_s(c.sent),
        deliveries_per_s: per_s(c.received),
        latency: total.latency.summary(),
        send_lateness: total.send_lateness.summary(),
        connect_latency: total.connect.summary(),
        register_latency: total.register.summary(),
        connects_per_s: if total.storm_ns > 0 {
            c.registered as f64 / (total.storm_ns as f64 / 1e9)
        } else {
            0.0
        },
        server,
        bench_cpu_s: total.bench_cpu_s,
        wall_s: t_end.saturating_sub(t_start) as f64 / 1e9,
        sent_series: total.sent.0.clone(),
        delivered_series: total.delivered.0.clone(),
    };
    Ok((summary, total))
}

fn apply(s: &mut PartState, m: Msg) {
    match m {
        Msg::Progress(p) => s.snap = p,
        Msg::Ready { joined_per_room } => s.ready = Some(joined_per_room),
        Msg::Sent { per_room } => s.sent = Some(per_room),
        Msg::Done(r) => s.done = Some(r),
        Msg::Failed(f) => s.failed = Some(f),
    }
}

/// Starts part `i`: a task in this process, or a worker process.
async fn start_part(
    job: Job,
    i: usize,
    all: mpsc::UnboundedSender<(usize, Msg)>,
    process: bool,
) -> anyhow::Result<PartHandle> {
    let (ctl_tx, mut ctl_rx) = mpsc::unbounded_channel::<Ctl>();
    if !process {
        let (msg_tx, mut msg_rx) = mpsc::unbounded_channel::<Msg>();
        let (inner_tx, inner_rx) = mpsc::unbounded_channel::<Ctl>();
        tokio::spawn(async move {
            while let Some(c) = ctl_rx.recv().await {
                if inner_tx.send(c).is_err() {
                    break;
                }
            }
        });
        tokio::spawn(async move {
            while let Some(m) = msg_rx.recv().await {
                if all.send((i, m)).is_err() {
                    break;
                }
            }
        });
        let link = Link {
            tx: msg_tx,
            rx: inner_rx,
            live: Arc::new(Live::default()),
        };
        tokio::spawn(workload::run_part(job, link));
        return Ok(PartHandle {
            ctl: ctl_tx,
            child: None,
        });
    }
    let exe = std::env::current_exe().context("locating this program to start workers")?;
    let mut child = tokio::process::Command::new(exe)
        .args(["bench", "--worker"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .context("starting a worker process")?;
    let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        bail!("worker pipes missing");
    };
    let mut first = serde_json::to_string(&job)?;
    first.push('\n');
    stdin.write_all(first.as_bytes()).await?;
    tokio::spawn(async move {
        while let Some(c) = ctl_rx.recv().await {
            let Ok(mut line) = serde_json::to_string(&c) else {
                break;
            };
            line.push('\n');
            if stdin.write_all(line.as_bytes()).await.is_err() {
                break;
            }
        }
    });
    tokio::spawn(async move {
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let mut over = false;
        while let Ok(Some(line)) = lines.next_line().await {
            match serde_json::from_str::<Msg>(&line) {
                Ok(m) => {
                    over = matches!(m, Msg::Done(_) | Msg::Failed(_));
                    if all.send((i, m)).is_err() {
                        break;
                    }
                }
                Err(e) => {
                    let _ = all.send((i, Msg::Failed(format!("bad worker output: {e}"))));
                    over = true;
                    break;
                }
            }
        }
        if !over {
            let _ = all.send((i, Msg::Failed("worker exited early".into())));
        }
    });
    Ok(PartHandle {
        ctl: ctl_tx,
        child: Some(child),
    })
}

fn progress_bar(quiet: bool) -> indicatif::ProgressBar {
    if quiet {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new_spinner();
    if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}") {
        bar.set_style(style);
    }
    bar
}

fn draw(bar: &indicatif::ProgressBar, phase: &str, st: &[PartState], job: &Job) {
    let mut t = LiveSnap::default();
    for s in st {
        t.add(&s.snap);
    }
    bar.set_message(format!(
        "{phase}: {}/{} connected, {} sent, {} received, {} errors",
        t.connected,
        job.spec.clients(),
        t.sent,
        t.received,
        t.errors
    ));
    bar.tick();
}

fn fmt_us(us: f64) -> String {
    if us >= 1_000_000.0 {
        format!("{:.2} s", us / 1e6)
    } else if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{us:.0} µs")
    }
}

fn lat_line(name: &str, l: &LatencySummary) -> String {
    format!(
        "{name:<12} p50 {}  p99 {}  p99.9 {}  max {}  ({} samples)\n",
        fmt_us(l.p50_us),
        fmt_us(l.p99_us),
        fmt_us(l.p999_us),
        fmt_us(l.max_us),
        l.count
    )
}

/// The human summary.
/// Said when the server's flood control shaped the run: the latency then
/// is the server's pacing of each sender, not how fast it relays.
fn flood_hint(clients: u64) -> String {
    format!(
        "note         the server's flood control delayed or cut {clients} client(s): the figures above measure its pacing;\n\
         \x20            to measure the relay itself, start the server with --flood-rate 0 (or a higher flood_rate), or send slower\n"
    )
}

pub fn human(s: &Summary) -> String {
    let mut o = String::new();
    o.push_str(&format!(
        "chatroom bench {} over {} to {} ({} clients",
        s.workload, s.proto, s.target, s.clients
    ));
    if s.rooms > 1 {
        o.push_str(&format!(", {} rooms", s.rooms));
    }
    if s.senders > 0 {
        o.push_str(&format!(
            ", {} senders, {}, {} B payload, {} s",
            s.senders, s.mode, s.payload, s.duration_s
        ));
    }
    o.push_str(")\n");
    o.push_str(&format!(
        "clients      {} connected, {} registered, {} joined\n",
        s.connected, s.registered, s.joined
    ));
    if s.workload == "fanout" || s.workload == "rooms" {
        o.push_str(&format!(
            "messages     {} sent ({:.0}/s), {} of {} expected deliveries received ({:.0}/s), {} lost\n",
            s.sent, s.sent_per_s, s.received, s.expected, s.deliveries_per_s, s.lost
        ));
        o.push_str(&lat_line("latency", &s.latency));
        if s.send_lateness.count > 0 {
            o.push_str(&lat_line("send late", &s.send_lateness));
        }
        if s.flood_notices > 0 {
            o.push_str(&flood_hint(s.flood_notices));
        }
    }
    if s.workload == "connect" {
        o.push_str(&format!(
            "storm        {:.0} registrations/s\n",
            s.connects_per_s
        ));
    }
    if s.workload == "connect" || s.workload == "idle" {
        o.push_str(&lat_line("connect", &s.connect_latency));
        o.push_str(&lat_line("registration", &s.register_latency));
    }
    if let Some(sv) = &s.server {
        o.push_str(&format!(
            "server       pid {}: {:.2} CPU s ({:.0}% of a core), peak RSS {:.1} MiB",
            sv.pid,
            sv.cpu_s,
            sv.cpu_pct,
            sv.peak_rss_kb as f64 / 1024.0
        ));
        if s.workload == "idle" {
            o.push_str(&format!(
                ", {:.1} → {:.1} MiB held: {:.0} bytes per connection; peak of the joins (VmHWM) {:.1} MiB",
                sv.rss_before_kb as f64 / 1024.0,
                sv.rss_loaded_kb as f64 / 1024.0,
                sv.bytes_per_conn,
                sv.hwm_held_kb as f64 / 1024.0
            ));
            if let (Some(kb), Some((secs, _))) = (sv.rss_after_quit_kb, sv.after_quit_series.last())
            {
                o.push_str(&format!(
                    "; {:.1} MiB {secs:.0} s after every client quit",
                    kb as f64 / 1024.0
                ));
            }
        }
        o.push('\n');
    }
    o.push_str(&format!(
        "errors       {} (connect {}, register {}, join {}, disconnects {}, write stalls {}, window stalls {}, drain timeouts {}, parts failed {}); duplicates {}, gaps {}\n",
        s.errors,
        s.connect_errors,
        s.register_errors,
        s.join_errors,
        s.disconnects,
        s.write_stalls,
        s.window_stalls,
        s.drain_timeouts,
        s.part_failures,
        s.duplicates,
        s.gaps
    ));
    for (k, n) in &s.error_kinds {
        o.push_str(&format!("  {n} × {k}\n"));
    }
    o.push_str(&format!(
        "bench        {:.2} CPU s, {:.1} s wall\n",
        s.bench_cpu_s, s.wall_s
    ));
    o
}
