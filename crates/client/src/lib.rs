//! The terminal client (`chatroom join HOST[:PORT]`): an IRC client that
//! works against our server and any standard IRC server.
//!
//! When stdin and stdout are both terminals it runs full-screen (`tui.rs`
//! drawing with `ui.rs`); otherwise it runs a plain line mode for scripts
//! (`plain.rs`). Both share one pure state model (`state.rs`), the command
//! parser (`command.rs`) and the connection task with reconnect/backoff
//! (`conn.rs`), tied together by `session.rs`. This file only picks the
//! mode and the defaults; it must not hold client logic itself.

#![deny(unsafe_code)]

pub mod command;
pub mod conn;
pub mod input;
pub mod plain;
pub mod session;
pub mod state;
pub mod tls;
pub mod tui;
pub mod ui;

use std::io::IsTerminal;

use session::Session;

/// Arguments of `chatroom join`.
#[derive(Debug, Clone, clap::Args)]
pub struct JoinArgs {
    /// Server to connect to: HOST[:PORT] (an IP address or a host name;
    /// default port 6667, or 6697 with TLS). IPv6 addresses go in
    /// brackets: [::1]:6667.
    #[arg(value_name = "HOST[:PORT]")]
    pub server: String,
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
    #[arg(long, value_name = "LINES", default_value_t = state::SCROLLBACK_LIMIT)]
    pub scrollback: usize,
    /// Lines asked for per page of history when scrolling back (the
    /// server may send fewer).
    #[arg(long, value_name = "LINES", default_value_t = state::HISTORY_PAGE)]
    pub history_page: usize,
}

/// Runs the client until the user quits (or stdin ends in plain mode).
pub async fn run(args: JoinArgs) -> anyhow::Result<()> {
    let verify = if let Some(fp) = &args.tls_fingerprint {
        Some(tls::Verify::Pin(tls::parse_fingerprint(fp)?))
    } else if args.tls_insecure {
        eprintln!(
            "warning: --tls-insecure: the server's certificate is not checked; the chat is encrypted, but anyone on the network path could pose as the server. Prefer --tls-fingerprint."
        );
        Some(tls::Verify::Insecure)
    } else if args.tls {
        Some(tls::Verify::System)
    } else {
        None
    };
    let client_cert = match &args.tls_cert {
        Some(cert) => Some(tls::load_client_cert(cert, args.tls_key.as_deref())?),
        None => None,
    };
    let tls = match verify {
        Some(verify) => Some(conn::TlsClient {
            config: tls::client_config_with(&verify, client_cert.as_ref())?,
            verify,
        }),
        None if client_cert.is_some() => {
            anyhow::bail!(
                "--tls-cert needs a TLS connection: add --tls, --tls-fingerprint or --tls-insecure"
            )
        }
        None => None,
    };
    let default_port = if tls.is_some() {
        conn::DEFAULT_TLS_PORT
    } else {
        conn::DEFAULT_PORT
    };
    let (host, port) = conn::parse_server_or(&args.server, default_port)?;
    let nick = match args.nick.as_deref() {
        Some(n) => {
            let clean = sanitize_nick(n);
            if clean.is_empty() {
                anyhow::bail!("{n:?} cannot be used as a nickname");
            }
            clean
        }
        None => default_nick(std::env::var("USER").ok().as_deref()),
    };
    let room = args.room.unwrap_or_else(|| "#lobby".to_string());
    let password = match (args.password, args.ask_password) {
        (Some(p), _) => Some(p),
        (None, true) => {
            let who = args.account.as_deref().unwrap_or(&nick);
            Some(ask_password(&format!(
                "password for {who} on {}: ",
                conn::display_server(&host, port)
            ))?)
        }
        (None, false) => None,
    };
    let login = match password {
        Some(password) => Some(state::Login::Plain {
            account: args.account.clone(),
            password: state::Secret::new(password),
        }),
        None if client_cert.is_some() => Some(state::Login::External),
        None => None,
    };
    let mut session = Session::start_with(host, port, tls, &nick, Some(&room));
    session.state.login = login;
    session.state.scrollback_limit = args.scrollback.max(1);
    session.state.history_page = args.history_page.clamp(1, 1000);
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
