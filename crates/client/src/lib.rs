//! The terminal client (`chatroom join HOST[:PORT]`): an IRC client that
//! works against our server and any standard IRC server.
//!
//! When stdin and stdout are both terminals it runs full-screen (`tui.rs`
//! drawing with `ui.rs`); otherwise it runs a plain line mode for scripts
//! (`plain.rs`). Both share one pure state model (`state.rs`), the command
//! parser (`command.rs`) and the connection task with reconnect/backoff
//! (`conn.rs`), tied together by `session.rs`. The configuration file is
//! `config.rs`'s, the settings `settings.rs`'s, the chat logs `logs.rs`'s, and `launch.rs` turns the
//! command line and the file into what to connect to. This file only
//! starts things in order; it must not hold client logic itself.

#![deny(unsafe_code)]

pub mod attention;
pub mod command;
pub mod config;
pub mod conn;
pub mod discover;
pub mod input;
pub mod launch;
pub mod logs;
pub mod plain;
pub mod session;
pub mod settings;
pub mod state;
pub mod tls;
pub mod tui;
pub mod ui;

use std::io::IsTerminal;

use session::Session;

/// Arguments of `chatroom join`.
#[derive(Debug, Clone, clap::Args)]
pub struct JoinArgs {
    /// Server to connect to: the name of a server saved in the
    /// configuration file, or HOST[:PORT] (an IP address or a host name;
    /// default port 6667, or 6697 with TLS; IPv6 addresses go in
    /// brackets: [::1]:6667). Without it: the file's default_server, or,
    /// with no server saved, the chatroom servers on the LAN are looked
    /// for (mDNS) and you pick one; its advertised certificate
    /// fingerprint is pinned when it offers TLS.
    #[arg(value_name = "NAME|HOST[:PORT]")]
    pub server: Option<String>,
    /// The configuration file (default: client.toml in the XDG
    /// configuration directory, ~/.config/chatroom/; created with
    /// comments on first use).
    #[arg(long, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
    /// Seconds to look for servers on the LAN when none is given or saved.
    #[arg(long, value_name = "SECS", default_value_t = 2.0)]
    pub discover_secs: f64,
    /// Nickname (default: $USER, with characters IRC does not allow removed).
    #[arg(long, short = 'n', value_name = "NAME")]
    pub nick: Option<String>,
    /// Room to join on connect (default: #lobby).
    #[arg(long, short = 'r', value_name = "ROOM")]
    pub room: Option<String>,
    /// Use the plain line mode even on a terminal.
    #[arg(long)]
    pub plain: bool,
    /// Connect over TLS, checking the certificate against the system's
    /// trusted roots (see --tls-fingerprint for a LAN server).
    #[arg(long)]
    pub tls: bool,
    /// Connect over TLS and accept only the certificate with this SHA-256
    /// fingerprint (AB:CD:..., as the server prints it at start).
    #[arg(long, value_name = "AB:CD:...", conflicts_with = "tls_insecure")]
    pub tls_fingerprint: Option<String>,
    /// Connect over TLS without checking the certificate: encrypted, but
    /// anyone on the network path could pose as the server.
    #[arg(long)]
    pub tls_insecure: bool,
    /// Log in to this account with SASL (default: the nick).
    #[arg(long, value_name = "NAME")]
    pub account: Option<String>,
    /// The account's password, for SASL PLAIN. On a shared machine prefer
    /// --ask-password or CHATROOM_PASSWORD: arguments are visible to
    /// other users of the machine.
    #[arg(
        long,
        value_name = "PASSWORD",
        env = "CHATROOM_PASSWORD",
        hide_env_values = true
    )]
    pub password: Option<String>,
    /// Ask for the account's password on the terminal (not echoed).
    #[arg(long, conflicts_with = "password")]
    pub ask_password: bool,
    /// A TLS client certificate (PEM) to show the server; logs in with
    /// SASL EXTERNAL unless a password is given too.
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// The client certificate's private key (PEM), when it is not in the
    /// --tls-cert file.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,
    /// Lines kept in memory per buffer; older ones are fetched again from
    /// the server's history when scrolled back to.
    #[arg(long, value_name = "LINES")]
    pub scrollback: Option<usize>,
    /// Lines asked for per page of history when scrolling back (the
    /// server may send fewer).
    #[arg(long, value_name = "LINES")]
    pub history_page: Option<usize>,
}

/// Runs the client until the user quits (or stdin ends in plain mode).
pub async fn run(args: JoinArgs) -> anyhow::Result<()> {
    let config_path = match &args.config {
        Some(p) => Some(p.clone()),
        None => config::dirs().map(|d| d.config_file),
    };
    let loaded = match &config_path {
        Some(path) => Some(config::load_or_create(path)?),
        None => None,
    };
    if let Some(l) = loaded.as_ref().filter(|l| l.created) {
        eprintln!(
            "wrote a configuration file with comments to {} (settings and saved servers)",
            l.path.display()
        );
    }
    let cfg = loaded.map(|l| l.config).unwrap_or_default();
    let mut args = args;
    if args.server.is_none() && cfg.default_server.is_none() && cfg.servers.is_empty() {
        // Nothing given, nothing saved: the servers on the LAN.
        let (address, fingerprint) = discovered(&args).await?;
        args.server = Some(address);
        if args.tls_fingerprint.is_none() && !args.tls && !args.tls_insecure {
            args.tls_fingerprint = fingerprint;
        }
    }
    let plan = launch::plan(&args, &cfg, std::env::var("USER").ok().as_deref())?;
    let verify = match &plan.tls {
        launch::TlsPlan::Verify(v) => Some(v.clone()),
        launch::TlsPlan::None => None,
    };
    if verify == Some(tls::Verify::Insecure) {
        eprintln!(
            "warning: --tls-insecure: the server's certificate is not checked; the chat is encrypted, but anyone on the network path could pose as the server. Prefer --tls-fingerprint."
        );
    }
    let client_cert = match &plan.tls_cert {
        Some((cert, key)) => Some(tls::load_client_cert(cert, key.as_deref())?),
        None => None,
    };
    let tls = match verify {
        Some(verify) => Some(conn::TlsClient {
            config: tls::client_config_with(&verify, client_cert.as_ref())?,
            verify,
        }),
        None => None,
    };
    let shown = conn::display_server(&plan.host, plan.port);
    let login = match &plan.login {
        launch::LoginPlan::None => None,
        launch::LoginPlan::Certificate => Some(state::Login::External),
        launch::LoginPlan::Password(p) => Some(state::Login::Plain {
            account: plan.account.clone(),
            password: state::Secret::new(p.clone()),
        }),
        launch::LoginPlan::Ask => {
            let who = plan.account.as_deref().unwrap_or(&plan.nick);
            Some(state::Login::Plain {
                account: plan.account.clone(),
                password: state::Secret::new(ask_password(&format!(
                    "password for {who} on {shown}: "
                ))?),
            })
        }
    };
    let first = plan.rooms.first().map(String::as_str);
    let mut session = Session::start_tries(
        plan.host.clone(),
        plan.port,
        tls,
        cfg.settings.reconnect_tries,
        &plan.nick,
        first,
    );
    session.state.login = login;
    for room in plan.rooms.iter().skip(1) {
        session.state.add_room(room);
    }
    session.state.settings = cfg.settings.clone();
    let log_root = if cfg.settings.log_dir.is_empty() {
        config::dirs().map(|d| d.data_dir.join("logs"))
    } else {
        Some(config::expand_home(std::path::Path::new(
            &cfg.settings.log_dir,
        )))
    };
    if let Some(root) = log_root {
        let server = plan.saved.clone().unwrap_or_else(|| shown.clone());
        session.set_logger(logs::Logger::new(&root, &server));
    }
    session.state.scrollback_limit = plan.scrollback;
    session.state.history_page = plan.history_page;
    session.saving = session::Saving {
        path: config_path,
        name: plan.saved.clone(),
        address: plan.address.clone(),
        tls: matches!(plan.tls, launch::TlsPlan::Verify(tls::Verify::System)),
        fingerprint: plan.fingerprint.clone(),
    };
    let full_screen =
        !args.plain && std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    if full_screen {
        tui::run(session).await
    } else {
        plain::run(session).await
    }
}

/// Reads a password from the terminal without echoing it.
fn ask_password(prompt: &str) -> anyhow::Result<String> {
    let password = rpassword::prompt_password(prompt).map_err(|e| {
        anyhow::anyhow!(
            "cannot ask for the password ({e}): there is no terminal; use --password or CHATROOM_PASSWORD"
        )
    })?;
    if password.is_empty() {
        anyhow::bail!("no password given");
    }
    Ok(password)
}

/// `chatroom join` with no server given or saved: the servers on the LAN,
/// one picked (by the user when there are several), and how to reach it:
/// its address, and the advertised fingerprint to pin when it offers TLS
/// (unless the user chose how to check the certificate), else plain IRC.
async fn discovered(args: &JoinArgs) -> anyhow::Result<(String, Option<String>)> {
    let wait = std::time::Duration::from_secs_f64(args.discover_secs.clamp(0.1, 60.0));
    eprintln!("Looking for chatroom servers on this network...");
    let found = tokio::task::spawn_blocking(move || discover::browse(wait)).await??;
    let chosen = match found.len() {
        0 => anyhow::bail!(
            "no chatroom server answered on this network within {:.1} s; give its address: chatroom join HOST[:PORT]",
            wait.as_secs_f64()
        ),
        1 => 0,
        _ => {
            let list = found.clone();
            tokio::task::spawn_blocking(move || discover::pick(&list, &mut std::io::stdin().lock()))
                .await?
                .ok_or_else(|| anyhow::anyhow!("no server picked"))?
        }
    };
    let server = &found[chosen];
    let ip = server
        .address()
        .ok_or_else(|| anyhow::anyhow!("{} announced no usable address", server.name))?;
    let wants_tls = args.tls || args.tls_insecure || args.tls_fingerprint.is_some();
    let ircs = server.ports.get("ircs").copied();
    let irc = server.ports.get("irc").copied();
    let (port, fingerprint, how) = match (wants_tls, ircs, irc, &server.fingerprint) {
        (true, Some(p), _, _) => (p, None, "over TLS".to_string()),
        (false, Some(p), _, Some(fp)) => (
            p,
            Some(fp.clone()),
            "over TLS, certificate pinned to the fingerprint it announced".to_string(),
        ),
        (false, _, Some(p), _) => (p, None, "over IRC".to_string()),
        _ => anyhow::bail!("{} offers no IRC port this client can use", server.name),
    };
    let address = std::net::SocketAddr::new(ip, port).to_string();
    eprintln!("Joining {} at {address} ({how})", server.name);
    Ok((address, fingerprint))
}

/// `chatroom discover`: the chatroom servers on the LAN, one line each
/// for scripts (name, host, addresses, then `key=value` fields).
#[derive(Debug, Clone, clap::Args)]
pub struct DiscoverArgs {
    /// Seconds to listen for answers.
    #[arg(long, value_name = "SECS", default_value_t = 2.0)]
    pub wait: f64,
}

/// Prints the servers found; an error when there are none.
pub fn discover_main(args: DiscoverArgs) -> anyhow::Result<()> {
    let wait = std::time::Duration::from_secs_f64(args.wait.clamp(0.1, 60.0));
    let found = discover::browse(wait)?;
    if found.is_empty() {
        anyhow::bail!(
            "no chatroom server answered within {:.1} s",
            wait.as_secs_f64()
        );
    }
    for f in found {
        println!("{}", f.line());
    }
    Ok(())
}

/// Keeps the characters RFC 2812 allows in a nick, which may not start with
/// a digit or `-`; at most 30 characters.
pub fn sanitize_nick(raw: &str) -> String {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "-_[]\\`^{}|".contains(c);
    let kept: String = raw.chars().filter(|&c| allowed(c)).collect();
    let kept = kept.trim_start_matches(|c: char| c.is_ascii_digit() || c == '-');
    kept.chars().take(30).collect()
}

/// The nick to use without --nick: `$USER` sanitized, else "guest".
pub fn default_nick(user: Option<&str>) -> String {
    let nick = sanitize_nick(user.unwrap_or(""));
    if nick.is_empty() {
        "guest".to_string()
    } else {
        nick
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nick_defaults() {
        assert_eq!(default_nick(Some("alice")), "alice");
        assert_eq!(default_nick(Some("j.doe@corp")), "jdoecorp");
        assert_eq!(default_nick(Some("42root")), "root");
        assert_eq!(default_nick(Some("--")), "guest");
        assert_eq!(default_nick(None), "guest");
        assert_eq!(sanitize_nick("a[b]^"), "a[b]^");
        assert_eq!(sanitize_nick(&"x".repeat(50)).len(), 30);
    }
}
