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
pub mod discover;
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
    /// brackets: [::1]:6667. Without it, the chatroom servers on the LAN
    /// are looked for (mDNS) and you pick one; its advertised certificate
    /// fingerprint is pinned when it offers TLS.
    #[arg(value_name = "HOST[:PORT]")]
    pub server: Option<String>,
    /// Seconds to look for servers on the LAN when no HOST is given.
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
    let (host, port, verify) = match &args.server {
        Some(server) => {
            let default_port = if verify.is_some() {
                conn::DEFAULT_TLS_PORT
            } else {
                conn::DEFAULT_PORT
            };
            let (host, port) = conn::parse_server_or(server, default_port)?;
            (host, port, verify)
        }
        None => discovered(&args, verify).await?,
    };
    let tls = match verify {
        Some(verify) => Some(conn::TlsClient {
            config: tls::client_config(&verify)?,
            verify,
        }),
        None => None,
    };
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
    let mut session = Session::start_with(host, port, tls, &nick, Some(&room));
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

/// `chatroom join` without an address: the servers on the LAN, one picked
/// (by the user when there are several), and how to reach it: IRC over
/// TLS with the advertised fingerprint pinned when it offers TLS (unless
/// the user chose how to check the certificate), else plain IRC.
async fn discovered(
    args: &JoinArgs,
    verify: Option<tls::Verify>,
) -> anyhow::Result<(String, u16, Option<tls::Verify>)> {
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
    let host = ip.to_string();
    let ircs = server.ports.get("ircs").copied();
    let irc = server.ports.get("irc").copied();
    let (port, verify, how) = match (verify, ircs, irc, &server.fingerprint) {
        (Some(v), Some(p), _, _) => (p, Some(v), "over TLS".to_string()),
        (None, Some(p), _, Some(fp)) => (
            p,
            Some(tls::Verify::Pin(tls::parse_fingerprint(fp)?)),
            "over TLS, certificate pinned to the fingerprint it announced".to_string(),
        ),
        (None, _, Some(p), _) => (p, None, "over IRC".to_string()),
        _ => anyhow::bail!("{} offers no IRC port this client can use", server.name),
    };
    eprintln!("Joining {} at {host} port {port} ({how})", server.name);
    Ok((host, port, verify))
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
