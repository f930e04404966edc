//! The IRC session's account requests carried out: SASL, REGISTER/VERIFY
//! and NickServ against the runtime's accounts service (argon2 and the
//! store stay off the hub's task); the outcome is worded by
//! `chatroom_proto::irc::login` and the hub is told only `Command::Login`.

use std::sync::Arc;

use chatroom_core::names::same;
use chatroom_core::services::accounts::plaintext_refused;
use chatroom_core::{Command, Event};
use chatroom_proto::irc::login::{Ask, ns};
use chatroom_proto::irc::nickserv::{self, Request};
use chatroom_proto::irc::numeric::*;
use chatroom_proto::irc::render::Local;
use chatroom_proto::irc::sasl::{self, Mechanism};
use chatroom_proto::irc::session::State;

use crate::accounts::{Accounts, LoginError, RegisterError};
use crate::connection::{Ctx, HubGone};

use super::oper::credentials_allowed;

/// Carries out an account request.
pub async fn carry_out(ctx: &mut Ctx, st: &mut State, ask: Ask) -> Result<(), HubGone> {
    let Some(accounts) = ctx.accounts.clone() else {
        return match ask {
            Ask::Sasl { .. } => {
                ctx.tell(Local::reply(ERR_SASLFAIL, &["SASL authentication failed"]).body())
                    .await
            }
            Ask::Register { .. } => {
                ctx.tell(Local::fail(
                    "REGISTER",
                    "TEMPORARILY_UNAVAILABLE",
                    &["*"],
                    "Accounts are not available",
                ))
                .await
            }
            Ask::NickServ(_) => ctx.tell(ns("Accounts are not available")).await,
        };
    };
    match ask {
        Ask::Sasl { mechanism, payload } => sasl(ctx, st, &accounts, mechanism, payload).await,
        Ask::Register { account, password } => {
            register_account(ctx, st, &accounts, account, password, false).await
        }
        Ask::NickServ(req) => nick_serv(ctx, st, &accounts, req).await,
    }
}

async fn sasl(
    ctx: &mut Ctx,
    st: &mut State,
    accounts: &Arc<Accounts>,
    mechanism: Mechanism,
    payload: String,
) -> Result<(), HubGone> {
    let ip = ctx.peer.ip();
    let outcome = match mechanism {
        Mechanism::Plain => {
            let Some(plain) = sasl::decode_plain(&payload) else {
                return failed(ctx).await;
            };
            if !credentials_allowed(st.secure, ctx) {
                tracing::warn!(conn = ctx.id, peer = %ctx.peer, "SASL PLAIN over plain TCP refused");
                ctx.tell(plaintext_refused()).await?;
                return failed(ctx).await;
            }
            if !plain.authzid.is_empty() && !same(&plain.authzid, &plain.authcid) {
                return failed(ctx).await;
            }
            accounts
                .login_password(ip, &plain.authcid, &plain.password)
                .await
        }
        Mechanism::External => {
            let Some(authzid) = sasl::decode_external(&payload) else {
                return failed(ctx).await;
            };
            let fp = ctx.certfp.clone();
            accounts.login_cert(ip, fp.as_deref(), &authzid).await
        }
    };
    match outcome {
        Ok(name) => {
            log_in(ctx, st, name).await?;
            ctx.tell(Local::reply(RPL_SASLSUCCESS, &["SASL authentication successful"]).body())
                .await?;
            if st.is_registered() {
                deliver_held(ctx, st).await?;
            }
            Ok(())
        }
        Err(LoginError::Locked { secs }) => {
            let text = format!(
                "SASL authentication failed: too many failed logins, try again in {secs} seconds"
            );
            ctx.tell(Local::reply(ERR_SASLFAIL, &[&text]).body()).await
        }
        Err(_) => failed(ctx).await,
    }
}

/// Records the login: in the session, with the hub (which tells those who
/// share a room), and to the client (RPL_LOGGEDIN).
async fn failed(ctx: &Ctx) -> Result<(), HubGone> {
    ctx.tell(Local::reply(ERR_SASLFAIL, &["SASL authentication failed"]).body())
        .await
}

async fn log_in(ctx: &mut Ctx, st: &mut State, name: String) -> Result<(), HubGone> {
    st.account = Some(name.clone());
    let mask = st.mask(&ctx.host());
    // RPL_LOGGEDIN first: it answers the client's AUTHENTICATE, and the
    // hub's news of the login (ACCOUNT, to the client too with
    // account-notify) follows it rather than overtaking it.
    ctx.tell(Local::LoggedIn {
        account: name.clone(),
        mask,
    })
    .await?;
    let _ = ctx.request(Command::Login(Some(name))).await?;
    Ok(())
}

/// Hands over the private messages held for the account while it was
/// offline, then removes them from the store, but only once the renderer
/// has written them into this connection's output: if the connection is
/// cut first (or the hand-over takes longer than the write timeout) they
/// stay stored for the next login. (A crash between the two may deliver
/// them twice; it never loses one.)
pub async fn deliver_held(ctx: &mut Ctx, st: &State) -> Result<(), HubGone> {
    let (Some(accounts), Some(account)) = (ctx.accounts.clone(), st.account.clone()) else {
        return Ok(());
    };
    let Ok(held) = accounts.held(&account).await else {
        return Ok(());
    };
    let Some(&(upto, _)) = held.last() else {
        return Ok(());
    };
    let n = held.len();
    let lines: Vec<Event> = held
        .into_iter()
        .filter_map(|(_, r)| r.to_message())
        .collect();
    ctx.tell(ns(&format!(
        "{n} message{} arrived for {account} while you were away:",
        if n == 1 { "" } else { "s" }
    )))
    .await?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let handed = chatroom_proto::irc::render::Handed::new(move || {
        let _ = tx.send(());
    });
    ctx.tell(Local::Held { lines, handed }).await?;
    let limit = std::time::Duration::from_secs(ctx.cfg.limits.write_timeout_secs.max(1));
    match tokio::time::timeout(limit, rx).await {
        Ok(Ok(())) => {
            if accounts.delivered(&account, upto).await.is_err() {
                tracing::error!(%account, "held messages were delivered but could not be removed");
            }
        }
        _ => tracing::info!(%account, "held messages not handed over; kept for the next login"),
    }
    Ok(())
}

/// The nickname the connection holds now (the hub's, once registered).
async fn current_nick(ctx: &Ctx, st: &State) -> Result<Option<String>, HubGone> {
    if st.is_registered() {
        Ok(ctx.whoami().await?.map(|u| u.nick.to_string()))
    } else {
        Ok(st.nick().map(str::to_string))
    }
}

/// REGISTER and NickServ REGISTER: the account is the current nickname.
async fn register_account(
    ctx: &mut Ctx,
    st: &mut State,
    accounts: &Arc<Accounts>,
    asked: Option<String>,
    password: String,
    via_nickserv: bool,
) -> Result<(), HubGone> {
    let shown = asked.clone().unwrap_or_else(|| "*".to_string());
    let shown: String = shown.chars().take(32).collect();
    let refuse = |code: &'static str, text: String| {
        if via_nickserv {
            ns(&text)
        } else {
            Local::fail("REGISTER", code, &[&shown], &text)
        }
    };
    if let Some(a) = &st.account {
        return ctx
            .tell(refuse(
                "ALREADY_AUTHENTICATED",
                format!("You are already logged in as {a}"),
            ))
            .await;
    }
    let Some(nick) = current_nick(ctx, st).await? else {
        return ctx
            .tell(refuse(
                "NEED_NICK",
                "Send NICK first: the account is named after your nickname".into(),
            ))
            .await;
    };
    if let Some(a) = &asked
        && !same(a, &nick)
    {
        return ctx
            .tell(refuse(
                "ACCOUNT_NAME_MUST_BE_NICK",
                format!("The account must be named after your nickname ({nick})"),
            ))
            .await;
    }
    if !credentials_allowed(st.secure, ctx) {
        tracing::warn!(conn = ctx.id, peer = %ctx.peer, "registration over plain TCP refused");
        return ctx
            .tell(refuse(
                "TEMPORARILY_UNAVAILABLE",
                "Passwords are only accepted over TLS (the ircs port) or from this machine".into(),
            ))
            .await;
    }
    match accounts
        .register(ctx.id, ctx.peer.ip(), &nick, &password)
        .await
    {
        Ok(name) => {
            if via_nickserv {
                ctx.tell(ns(&format!(
                    "Nickname {name} registered; you are now logged in to it"
                )))
                .await?;
            } else {
                let line =
                    format!("REGISTER SUCCESS {name} :Account created; you are now logged in\r\n");
                ctx.tell(bytes::Bytes::from(line)).await?;
            }
            log_in(ctx, st, name).await
        }
        Err(e) => {
            let (code, text) = match e {
                RegisterError::Disabled => (
                    "TEMPORARILY_UNAVAILABLE",
                    "Registration is closed on this server".to_string(),
                ),
                RegisterError::Exists => {
                    ("ACCOUNT_EXISTS", format!("{nick} is already registered"))
                }
                RegisterError::TooMany { secs } => (
                    "TEMPORARILY_UNAVAILABLE",
                    format!(
                        "Too many accounts registered or failed logins from your address lately; try again in {secs} seconds"
                    ),
                ),
                RegisterError::BadName(why) => (
                    "BAD_ACCOUNT_NAME",
                    format!("{nick} cannot be an account: {why}"),
                ),
                RegisterError::WeakPassword(min) => (
                    "WEAK_PASSWORD",
                    format!("Choose a password of at least {min} characters"),
                ),
                RegisterError::Unavailable => (
                    "TEMPORARILY_UNAVAILABLE",
                    "Accounts are unavailable right now; try again later".to_string(),
                ),
            };
            ctx.tell(refuse(code, text)).await
        }
    }
}

async fn nick_serv(
    ctx: &mut Ctx,
    st: &mut State,
    accounts: &Arc<Accounts>,
    req: Request,
) -> Result<(), HubGone> {
    match req {
        Request::Help => {
            for line in nickserv::HELP {
                ctx.tell(ns(line)).await?;
            }
            Ok(())
        }
        Request::Usage(usage) => ctx.tell(ns(&format!("Syntax: {usage}"))).await,
        Request::Unknown(cmd) => {
            ctx.tell(ns(&format!(
                "Unknown command {cmd}. /msg NickServ HELP lists the commands"
            )))
            .await
        }
        Request::Register { password } => {
            register_account(ctx, st, accounts, None, password, true).await
        }
        Request::Identify { account, password } => {
            if let Some(a) = &st.account {
                return ctx
                    .tell(ns(&format!("You are already logged in as {a}")))
                    .await;
            }
            let account = match account {
                Some(a) => a,
                None => match current_nick(ctx, st).await? {
                    Some(n) => n,
                    None => return Ok(()),
                },
            };
            if !credentials_allowed(st.secure, ctx) {
                tracing::warn!(conn = ctx.id, peer = %ctx.peer, "IDENTIFY over plain TCP refused");
                return ctx.tell(plaintext_refused()).await;
            }
            match accounts
                .login_password(ctx.peer.ip(), &account, &password)
                .await
            {
                Ok(name) => {
                    ctx.tell(ns(&format!("You are now logged in as {name}")))
                        .await?;
                    log_in(ctx, st, name).await?;
                    deliver_held(ctx, st).await
                }
                Err(LoginError::Locked { secs }) => {
                    ctx.tell(ns(&format!(
                        "Too many failed logins: try again in {secs} seconds"
                    )))
                    .await
                }
                Err(LoginError::Invalid) => {
                    let shown: String = account.chars().take(32).collect();
                    ctx.tell(ns(&format!("Invalid password for {shown}"))).await
                }
                Err(LoginError::Unavailable) => {
                    ctx.tell(ns("Accounts are unavailable right now; try again later"))
                        .await
                }
            }
        }
        Request::SetPassword(new) => {
            let Some(account) = st.account.clone() else {
                return ctx.tell(ns("Log in first (IDENTIFY or SASL)")).await;
            };
            if !credentials_allowed(st.secure, ctx) {
                return ctx.tell(plaintext_refused()).await;
            }
            match accounts.set_password(&account, &new).await {
                Ok(()) => {
                    ctx.tell(ns(&format!("Password of {account} changed")))
                        .await
                }
                Err(RegisterError::WeakPassword(min)) => {
                    ctx.tell(ns(&format!(
                        "Choose a password of at least {min} characters"
                    )))
                    .await
                }
                Err(_) => {
                    ctx.tell(ns("The password could not be changed; try again later"))
                        .await
                }
            }
        }
        Request::Info(name) => {
            let name = match name.or_else(|| st.account.clone()) {
                Some(n) => n,
                None => current_nick(ctx, st).await?.unwrap_or_default(),
            };
            let shown: String = name.chars().take(32).collect();
            match accounts.info(&name).await {
                Ok(Some(info)) => {
                    let when = chrono::DateTime::<chrono::Utc>::from(info.created)
                        .format("%Y-%m-%d %H:%M:%S UTC")
                        .to_string();
                    ctx.tell(ns(&format!("Account {} registered {when}", info.name)))
                        .await?;
                    if st.account.as_deref().is_some_and(|a| same(a, &info.name)) {
                        ctx.tell(ns(&format!(
                            "{} client certificate(s) can log in to it",
                            info.certs
                        )))
                        .await?;
                    }
                    Ok(())
                }
                Ok(None) => ctx.tell(ns(&format!("{shown} is not registered"))).await,
                Err(()) => {
                    ctx.tell(ns("Accounts are unavailable right now; try again later"))
                        .await
                }
            }
        }
        Request::CertAdd(_) | Request::CertDel(_) | Request::CertList if st.account.is_none() => {
            ctx.tell(ns("Log in first (IDENTIFY or SASL)")).await
        }
        Request::CertAdd(fp) => {
            let account = st.account.clone().unwrap_or_default();
            let Some(fp) = fp.or_else(|| ctx.certfp.clone()) else {
                return ctx
                    .tell(ns(
                        "You presented no client certificate; connect over TLS with one, or give its SHA-256 fingerprint",
                    ))
                    .await;
            };
            if !nickserv::valid_fp(&fp) {
                return ctx
                    .tell(ns("That is not a SHA-256 fingerprint (32 bytes in hex)"))
                    .await;
            }
            match accounts.cert_add(&account, &fp).await {
                Ok(true) => {
                    ctx.tell(ns(&format!(
                        "Certificate {fp} added to {account}; it can now log in with SASL EXTERNAL"
                    )))
                    .await
                }
                Ok(false) => {
                    ctx.tell(ns("That certificate belongs to another account"))
                        .await
                }
                Err(()) => ctx.tell(ns("The certificate could not be added")).await,
            }
        }
        Request::CertDel(fp) => {
            let account = st.account.clone().unwrap_or_default();
            match accounts.cert_del(&account, &fp).await {
                Ok(true) => {
                    ctx.tell(ns(&format!("Certificate {fp} removed from {account}")))
                        .await
                }
                Ok(false) => {
                    ctx.tell(ns(&format!("{fp} is not a certificate of {account}")))
                        .await
                }
                Err(()) => ctx.tell(ns("The certificate could not be removed")).await,
            }
        }
        Request::CertList => {
            let account = st.account.clone().unwrap_or_default();
            match accounts.certs(&account).await {
                Ok(list) => {
                    ctx.tell(ns(&format!("{} certificate(s) of {account}:", list.len())))
                        .await?;
                    for fp in list {
                        ctx.tell(ns(&fp)).await?;
                    }
                    Ok(())
                }
                Err(()) => ctx.tell(ns("The certificates could not be read")).await,
            }
        }
    }
}
