//! The `chatroom` binary: `serve` runs the server, `join` the terminal
//! client, `bench` the load generator.

#![deny(unsafe_code)]

use clap::{Parser, Subcommand};

use chatroom_config::{Config, ServeArgs};
use chatroom_server::{Server, shutdown};

#[derive(Parser)]
#[command(
    name = "chatroom",
    version,
    about = "A chat server for netcat, IRC clients and more, and its terminal client"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the server.
    Serve(Box<ServeArgs>),
    /// Connect to a chat server with the terminal client (full-screen on a
    /// terminal, plain lines when piped).
    Join(chatroom_client::JoinArgs),
    /// Print an argon2id hash of a password read from stdin (one line), for
    /// an `[[opers]]` entry's `password_hash` in the configuration file.
    HashPassword,
    /// Load-test a chat server (this one or any IRC server) on loopback.
    Bench(chatroom_bench::BenchArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Cmd::Serve(args) => serve(args),
        // No log subscriber here: log lines on stderr would garble the full screen.
        Cmd::Join(args) => tokio::runtime::Runtime::new()?.block_on(chatroom_client::run(args)),
        Cmd::HashPassword => hash_password(),
        Cmd::Bench(args) => std::process::exit(chatroom_bench::main(args)),
    }
}

fn serve(args: Box<ServeArgs>) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cfg = Config::load(&args)?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let server = Server::bind(cfg).await?;
        let stop = shutdown::signal();
        println!(
            "chatroom {} is running. Friends can connect to:",
            env!("CARGO_PKG_VERSION")
        );
        for line in server.reach_lines() {
            println!("  {line}");
        }
        if let Some(line) = server.tls_line() {
            println!("{line}");
        }
        println!("{}", server.history_line());
        {
            use std::io::Write;
            let _ = std::io::stdout().flush();
        }
        server.run(stop).await
    })
}

fn hash_password() -> anyhow::Result<()> {
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() {
        eprint!("Password (echoed; pipe it in to avoid that): ");
    }
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    let password = line.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        anyhow::bail!("empty password");
    }
    let hash = chatroom_core::password::hash_password(password).map_err(anyhow::Error::msg)?;
    println!("{hash}");
    Ok(())
}

/// jemalloc: an idle connection is many small allocations, which it packs
/// without glibc's per-allocation header: 190 bytes less per idle
/// connection, measured (docs/perf.md); mimalloc measured worse.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read by jemalloc itself at its start (before `main`)
/// from this symbol; `_RJEM_MALLOC_CONF` in the environment still adds to
/// them. Without them, memory freed after a burst (a join or quit storm)
/// stayed resident for as long as the server was idle: jemalloc only
/// returns freed pages when something allocates, and an idle server does
/// not. The background thread returns pages freed for `dirty_decay_ms`
/// (gradually, on its own clock); `muzzy_decay_ms:0` makes that return
/// immediate (`MADV_DONTNEED`) rather than lazy, so it shows in the
/// resident size at once. Figures in docs/perf.md ("Idle memory under
/// anyone's load").
#[allow(unsafe_code)] // Exporting a symbol under a fixed name is unsafe; this is the one place.
#[unsafe(export_name = "_rjem_malloc_conf")]
// A C string: the address of its first byte, NUL-terminated.
static MALLOC_CONF: &u8 =
    &b"background_thread:true,max_background_threads:1,dirty_decay_ms:1000,muzzy_decay_ms:0\0"[0];
