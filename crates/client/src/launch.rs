//! From the command line and the configuration file to what to connect
//! to: which server (an address, or a saved server by name), how (plain or
//! TLS, which certificate check, which client certificate), as whom (nick,
//! login) and which rooms. Command-line options win over the saved server's
//! entry, which wins over the `[settings]`.
//!
//! [`plan`] is a pure function of the two, so every combination is
//! tested without a network or a terminal; asking for a password and
//! reading certificate files happen after it, in `lib.rs`.

use std::path::PathBuf;

use anyhow::bail;

use crate::config::{ClientConfig, ServerEntry, expand_home};
use crate::{JoinArgs, conn, default_nick, sanitize_nick, tls};

/// How the server's certificate is to be checked, if TLS at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsPlan {
    None,
    Verify(tls::Verify),
}

/// How to log in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginPlan {
    None,
    Password(String),
    Ask,
    /// SASL EXTERNAL with the client certificate.
    Certificate,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The saved server's name, when one was picked.
    pub saved: Option<String>,
    pub host: String,
    pub port: u16,
    /// The server as written in the file or on the command line, for /save.
    pub address: String,
    pub tls: TlsPlan,
    /// The fingerprint as written, for /save.
    pub fingerprint: Option<String>,
    pub nick: String,
    pub rooms: Vec<String>,
    pub account: Option<String>,
    pub login: LoginPlan,
    pub tls_cert: Option<(PathBuf, Option<PathBuf>)>,
    pub scrollback: usize,
    pub history_page: usize,
}

/// Works out the plan; `user` is `$USER` for the default nick.
pub fn plan(args: &JoinArgs, cfg: &ClientConfig, user: Option<&str>) -> anyhow::Result<Plan> {
    let empty = ServerEntry::default();
    let (saved, entry, address) = match args.server.as_deref() {
        Some(name) if cfg.servers.contains_key(name) => {
            let e = &cfg.servers[name];
            (Some(name.to_string()), e, e.address.clone())
        }
        Some(address) => (None, &empty, address.to_string()),
        None => {
            let name = match (&cfg.default_server, cfg.servers.len()) {
                (Some(d), _) => d.clone(),
                (None, 1) => cfg.servers.keys().next().cloned().unwrap_or_default(),
                (None, 0) => bail!(
                    "no server given: chatroom join HOST[:PORT], or save one in the configuration file as [servers.NAME]"
                ),
                (None, _) => {
                    let names: Vec<&str> = cfg.servers.keys().map(String::as_str).collect();
                    bail!(
                        "no server given: name one of the saved servers ({}), or set default_server",
                        names.join(", ")
                    )
                }
            };
            match cfg.servers.get(&name) {
                Some(e) => (Some(name), e, e.address.clone()),
                None => bail!("default_server = {name:?}, but there is no [servers.{name}]"),
            }
        }
    };
    let fingerprint = args
        .tls_fingerprint
        .clone()
        .or_else(|| entry.fingerprint.clone());
    let tls = if let Some(fp) = &fingerprint {
        TlsPlan::Verify(tls::Verify::Pin(tls::parse_fingerprint(fp)?))
    } else if args.tls_insecure || entry.tls_insecure {
        TlsPlan::Verify(tls::Verify::Insecure)
    } else if args.tls || entry.tls {
        TlsPlan::Verify(tls::Verify::System)
    } else {
        TlsPlan::None
    };
    let default_port = match tls {
        TlsPlan::None => conn::DEFAULT_PORT,
        TlsPlan::Verify(_) => conn::DEFAULT_TLS_PORT,
    };
    let (host, port) = conn::parse_server_or(&address, default_port)?;
    let wanted = args
        .nick
        .clone()
        .or_else(|| entry.nick.clone())
        .or_else(|| (!cfg.settings.nick.is_empty()).then(|| cfg.settings.nick.clone()));
    let nick = match wanted {
        Some(n) => {
            let clean = sanitize_nick(&n);
            if clean.is_empty() {
                bail!("{n:?} cannot be used as a nickname");
            }
            clean
        }
        None => default_nick(user),
    };
    let rooms = match &args.room {
        Some(r) => vec![r.clone()],
        None if !entry.rooms.is_empty() => entry.rooms.clone(),
        None => vec!["#lobby".to_string()],
    };
    let tls_cert = args
        .tls_cert
        .clone()
        .map(|c| (c, args.tls_key.clone()))
        .or_else(|| {
            entry
                .tls_cert
                .as_ref()
                .map(|c| (expand_home(c), entry.tls_key.as_deref().map(expand_home)))
        });
    if tls_cert.is_some() && tls == TlsPlan::None {
        bail!(
            "a client certificate needs a TLS connection: add --tls, --tls-fingerprint or --tls-insecure (or tls = true)"
        );
    }
    let login = if let Some(p) = &args.password {
        LoginPlan::Password(p.clone())
    } else if args.ask_password || entry.ask_password {
        LoginPlan::Ask
    } else if let Some(p) = &entry.password {
        LoginPlan::Password(p.clone())
    } else if tls_cert.is_some() {
        LoginPlan::Certificate
    } else {
        LoginPlan::None
    };
    let account = args.account.clone().or_else(|| entry.account.clone());
    // An account named but no password anywhere: ask for it.
    let login = match (login, &account) {
        (LoginPlan::None, Some(_)) => LoginPlan::Ask,
        (l, _) => l,
    };
    Ok(Plan {
        saved,
        host,
        port,
        address,
        tls,
        fingerprint,
        nick,
        rooms,
        account,
        login,
        tls_cert,
        scrollback: args.scrollback.unwrap_or(cfg.settings.scrollback).max(1),
        history_page: args
            .history_page
            .unwrap_or(cfg.settings.history_page)
            .clamp(1, 1000),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        join: JoinArgs,
    }

    fn args(a: &[&str]) -> JoinArgs {
        let mut all = vec!["join"];
        all.extend_from_slice(a);
        Cli::try_parse_from(all).expect("arguments parse").join
    }

    const FILE: &str = r##"
[settings]
nick = "globalnick"
scrollback = 800
[servers.lan]
address = "192.0.2.2"
fingerprint = "01:FD:02:89:83:CD:26:C9:D7:F7:9D:7B:40:C7:0E:1E:07:9B:F1:39:BA:65:1D:88:44:B8:57:1D:5E:33:A2:5D"
nick = "alice"
rooms = ["#rust", "#lobby"]
account = "alice"
[servers.home]
address = "127.0.0.1:7000"
password = "pw"
"##;

    #[test]
    fn a_saved_server_is_picked_by_name() {
        let cfg = parse(FILE).expect("parses");
        let p = plan(&args(&["lan"]), &cfg, Some("user")).expect("plan");
        assert_eq!(p.saved.as_deref(), Some("lan"));
        assert_eq!((p.host.as_str(), p.port), ("192.0.2.2", 6697));
        assert!(matches!(p.tls, TlsPlan::Verify(tls::Verify::Pin(_))));
        assert_eq!(p.nick, "alice");
        assert_eq!(p.rooms, vec!["#rust", "#lobby"]);
        // An account and no password: asked for.
        assert_eq!(p.login, LoginPlan::Ask);
        assert_eq!(p.scrollback, 800);
        let home = plan(&args(&["home"]), &cfg, None).expect("plan");
        assert_eq!(home.login, LoginPlan::Password("pw".into()));
        assert_eq!(home.nick, "globalnick");
        assert_eq!(home.tls, TlsPlan::None);
    }

    #[test]
    fn the_command_line_wins() {
        let cfg = parse(FILE).expect("parses");
        let p = plan(
            &args(&["lan", "--nick", "bob", "--room", "#x", "--scrollback", "50"]),
            &cfg,
            None,
        )
        .expect("plan");
        assert_eq!(p.nick, "bob");
        assert_eq!(p.rooms, vec!["#x"]);
        assert_eq!(p.scrollback, 50);
        // An address that is no saved name is an address.
        let p = plan(&args(&["127.0.0.1:6667"]), &cfg, Some("carol")).expect("plan");
        assert_eq!(p.saved, None);
        assert_eq!(p.nick, "globalnick");
        assert_eq!(p.rooms, vec!["#lobby"]);
    }

    #[test]
    fn without_a_server_the_default_or_the_only_one() {
        let cfg = parse(FILE).expect("parses");
        let err = plan(&args(&[]), &cfg, None).expect_err("two saved, no default");
        assert!(err.to_string().contains("home, lan"), "{err}");
        let mut one = cfg.clone();
        one.servers.remove("lan");
        assert_eq!(
            plan(&args(&[]), &one, None).expect("plan").saved.as_deref(),
            Some("home")
        );
        let mut dflt = cfg.clone();
        dflt.default_server = Some("lan".into());
        assert_eq!(
            plan(&args(&[]), &dflt, None)
                .expect("plan")
                .saved
                .as_deref(),
            Some("lan")
        );
        assert!(plan(&args(&[]), &ClientConfig::default(), None).is_err());
    }

    #[test]
    fn a_client_certificate_means_external_and_needs_tls() {
        let cfg = ClientConfig::default();
        let p = plan(
            &args(&["h", "--tls-insecure", "--tls-cert", "/x.pem"]),
            &cfg,
            None,
        )
        .expect("plan");
        assert_eq!(p.login, LoginPlan::Certificate);
        assert!(plan(&args(&["h", "--tls-cert", "/x.pem"]), &cfg, None).is_err());
    }
}
