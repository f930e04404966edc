//! The `chatroom` binary: `serve` runs the server, `join` the terminal
//! client, `bench` the load generator; `completions` and `man` print what
//! packagers install beside it.

#![deny(unsafe_code)]

use clap::{CommandFactory, Parser, Subcommand};

use chatroom_config::{Config, LogFormat, ServeArgs};
use chatroom_server::{Server, shutdown};

/// The version and the git revision it was built from (see build.rs).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("CHATROOM_GIT_REV"),
    ")"
);

#[derive(Parser)]
#[command(
    name = "chatroom",
    version = VERSION,
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
    /// List the chatroom servers on the LAN (mDNS), one line each: name,
    /// host, addresses, then version=, each protocol's port, web= and fp=
    /// (the TLS fingerprint), tab-separated.
    Discover(chatroom_client::DiscoverArgs),
    /// Print an argon2id hash of a password read from stdin (one line), for
    /// an `[[opers]]` entry's `password_hash` in the configuration file.
    HashPassword,
    /// Load-test a chat server (this one or any IRC server) on loopback.
    Bench(chatroom_bench::BenchArgs),
    /// Administer the running server through its admin socket (in its data
    /// directory; only its own user, or root, may): status, who, where,
    /// kick, kill, ban, unban, bans, notice, reload.
    Admin(chatroom_server::admin::AdminArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish,
    /// powershell) to stdout, e.g. `chatroom completions bash >
    /// /usr/share/bash-completion/completions/chatroom`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) to stdout, e.g. `chatroom man >
    /// /usr/local/share/man/man1/chatroom.1`; with --out-dir, write it and
    /// one page per subcommand (chatroom-serve.1, ...) there.
    Man {
        #[arg(long, value_name = "DIR")]
        out_dir: Option<std::path::PathBuf>,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Cmd::Serve(args) => serve(args),
        // No log subscriber here: log lines on stderr would garble the full screen.
        Cmd::Join(args) => tokio::runtime::Runtime::new()?.block_on(chatroom_client::run(args)),
        Cmd::Discover(args) => chatroom_client::discover_main(args),
        Cmd::HashPassword => hash_password(),
        Cmd::Bench(args) => std::process::exit(chatroom_bench::main(args)),
        Cmd::Admin(args) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(chatroom_server::admin::run_client(args)),
        Cmd::Completions { shell } => {
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "chatroom", &mut std::io::stdout());
            Ok(())
        }
        Cmd::Man { out_dir: None } => {
            clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout())?;
            Ok(())
        }
        Cmd::Man { out_dir: Some(dir) } => {
            std::fs::create_dir_all(&dir)?;
            clap_mangen::generate_to(Cli::command(), &dir)?;
            Ok(())
        }
    }
}

fn serve(args: Box<ServeArgs>) -> anyhow::Result<()> {
    let cfg = Config::load(&args)?;
    init_log(cfg.log_format);
    // A reload reads the file, the environment and the flags again.
    let again = args.clone();
    let load: chatroom_server::reload::LoadConfig =
        std::sync::Arc::new(move || Config::load(&again).map_err(|e| e.to_string()));
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let plug = if cfg.cluster.enabled() {
            Some(chatroom_cluster::plug(&cfg).await?)
        } else {
            None
        };
        let mut server = Server::bind(cfg).await?;
        server.on_reload(load);
        if let Some(plug) = plug {
            server.join_cluster(plug);
        }
        let stop = shutdown::signal();
        println!("chatroom {VERSION} is running. Friends can connect to:");
        for line in server.reach_lines() {
            println!("  {line}");
        }
        if let Some(line) = server.tls_line() {
            println!("{line}");
        }
        println!("{}", server.history_line());
        if let Some(line) = server.metrics_line() {
            println!("{line}");
        }
        if let Some(line) = server.admin_line() {
            println!("{line}");
        }
        println!("Ctrl-C to stop.");
        {
            use std::io::Write;
            let _ = std::io::stdout().flush();
        }
        server.run(stop).await
    })
}

/// Log lines go to stderr: what RUST_LOG asks for (info by default), as
/// text (coloured only when stderr is a terminal, so that a log file or a
/// journal holds no escape codes) or as one JSON object per line.
fn init_log(format: LogFormat) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => {
            let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            builder.with_ansi(colour).init()
        }
    }
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
