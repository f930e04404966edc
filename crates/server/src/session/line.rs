//! The line protocol's session loop (netcat, telnet): reads lines, has
//! `chatroom_proto::line::session` translate them, and carries out the
//! steps against the hub, the history and the accounts service.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;

use chatroom_core::services::accounts::{LoginError, RegisterError, plaintext_refused};
use chatroom_core::{Command, RoomRef};
use chatroom_proto::framing::{Frame, LineCodec, text};
use chatroom_proto::line::session::{AccountNews, GREETING, State, Step, account_news};

use crate::accounts::Accounts;
use crate::connection::{Ctx, HubGone, ReadHalf};
use crate::reader::FrameReader;

use super::oper::credentials_allowed;

/// Reads lines until the client leaves; returns the quit reason.
pub async fn session(mut ctx: Ctx, rd: ReadHalf) -> String {
    // Holds no buffer between lines (see `FrameReader`).
    let mut frames = FrameReader::new(rd, LineCodec::new(ctx.cfg.limits.max_line_bytes));
    let mut st = State::default();
    let mut account = None;
    if ctx.tell(Bytes::from_static(GREETING)).await.is_err() {
        return "Server shutting down".into();
    }
    loop {
        let steps = match frames.next().await {
            None => return "Connection closed".into(),
            Some(Err(e)) => return format!("Read error: {e}"),
            Some(Ok(Frame::TooLong)) => st.too_long(&ctx.cfg),
            Some(Ok(Frame::Line(bytes))) => {
                let line = text(&bytes);
                if let Some((answer, reason)) = wrong_door(&ctx, &line) {
                    let _ = ctx.tell(answer).await;
                    return reason;
                }
                st.line(&line)
            }
        };
        match carry_out(&mut ctx, &mut st, &mut account, steps).await {
            Ok(None) => {}
            Ok(Some(reason)) => return reason,
            Err(HubGone) => return "Server shutting down".into(),
        }
    }
}

/// The answer to a first line meant for another listener (an IRC
/// client's registration, an HTTP request), and the reason to close with.
fn wrong_door(ctx: &Ctx, line: &str) -> Option<(Bytes, String)> {
    use chatroom_proto::wrong_door as door;
    if ctx.is_registered() {
        return None;
    }
    if door::is_http_request(line) {
        return Some(door::http_on_line_port(&ctx.cfg));
    }
    door::is_irc_registration(line).then(|| door::irc_on_line_port(&ctx.cfg))
}

/// Carries out the steps of one line; `Some(reason)` ends the session.
async fn carry_out(
    ctx: &mut Ctx,
    st: &mut State,
    account: &mut Option<String>,
    steps: Vec<Step>,
) -> Result<Option<String>, HubGone> {
    let mut steps = std::collections::VecDeque::from(steps);
    while let Some(step) = steps.pop_front() {
        match step {
            Step::Tell(body) => ctx.tell(body).await?,
            Step::Send(cmd) => ctx.send(cmd).await?,
            Step::Register { nick } => {
                // A refusal already reached the client from the hub.
                if ctx.register_as(nick).await?.is_ok() {
                    st.registered();
                }
            }
            Step::Ask(ask) => {
                let answer = ctx.history(RoomRef::Focus, ask.clone()).await?;
                steps.extend(st.answered(&ask, answer));
            }
            Step::Oper { name, password } => {
                // The line protocol has no TLS listener: only a login from
                // this machine (or where plain text is allowed) is checked.
                match super::oper::oper(ctx, false, name, password).await {
                    Ok(cmd) => ctx.send(cmd).await?,
                    Err(told) => {
                        for event in told {
                            ctx.tell(event).await?;
                        }
                    }
                }
            }
            Step::Login {
                account: name,
                password,
            } => {
                let news = log_in(ctx, account, name, password).await?;
                ctx.tell(account_news(&news)).await?;
            }
            Step::Logout => {
                let news = match account.take() {
                    Some(_) => {
                        let _ = ctx.request(Command::Login(None)).await?;
                        tracing::info!(conn = ctx.id, peer = %ctx.peer, "logout");
                        AccountNews::LoggedOut
                    }
                    None => AccountNews::NotIn,
                };
                ctx.tell(account_news(&news)).await?;
            }
            Step::CreateAccount { password } => {
                let news = create(ctx, account, password).await?;
                ctx.tell(account_news(&news)).await?;
            }
            Step::End(reason) => return Ok(Some(reason)),
        }
    }
    Ok(None)
}

/// What `/login` and `/register` need first: not logged in yet, a server
/// with accounts, and a connection where passwords may travel (the line
/// protocol has no TLS listener: only this machine, or where plain text
/// is allowed). `Err`: what the user is told instead (`refused` where
/// passwords may not travel).
async fn accounts_for(
    ctx: &mut Ctx,
    account: &Option<String>,
    what: &str,
    refused: AccountNews,
) -> Result<Result<Arc<Accounts>, AccountNews>, HubGone> {
    if let Some(a) = account {
        return Ok(Err(AccountNews::AlreadyIn(a.clone())));
    }
    let Some(accounts) = ctx.accounts.clone() else {
        return Ok(Err(AccountNews::NoAccounts));
    };
    if !credentials_allowed(false, ctx) {
        tracing::warn!(conn = ctx.id, peer = %ctx.peer, "{what} over plain TCP refused");
        ctx.tell(plaintext_refused()).await?;
        return Ok(Err(refused));
    }
    Ok(Ok(accounts))
}

/// The hub learns of the login (WHOIS, nickname protection), and so does
/// the session.
async fn logged_in(ctx: &mut Ctx, account: &mut Option<String>, name: &str) -> Result<(), HubGone> {
    let _ = ctx.request(Command::Login(Some(name.to_string()))).await?;
    *account = Some(name.to_string());
    Ok(())
}

/// `/login`: checked by the accounts service under the login throttle.
async fn log_in(
    ctx: &mut Ctx,
    account: &mut Option<String>,
    name: Option<String>,
    password: String,
) -> Result<AccountNews, HubGone> {
    let accounts = match accounts_for(
        ctx,
        account,
        "/login",
        AccountNews::Login(LoginError::Unavailable),
    )
    .await?
    {
        Ok(accounts) => accounts,
        Err(news) => return Ok(news),
    };
    let name = match name {
        Some(n) => n,
        None => match ctx.whoami().await? {
            Some(u) => u.nick.to_string(),
            None => return Ok(AccountNews::Login(LoginError::Invalid)),
        },
    };
    match accounts
        .login_password(ctx.peer.ip(), &name, &password)
        .await
    {
        Ok(name) => {
            logged_in(ctx, account, &name).await?;
            Ok(AccountNews::LoggedIn(name))
        }
        Err(e) => Ok(AccountNews::Login(e)),
    }
}

/// `/register`: the nickname becomes an account, and the user is logged in.
async fn create(
    ctx: &mut Ctx,
    account: &mut Option<String>,
    password: String,
) -> Result<AccountNews, HubGone> {
    let accounts = match accounts_for(
        ctx,
        account,
        "/register",
        AccountNews::Register(RegisterError::Unavailable),
    )
    .await?
    {
        Ok(accounts) => accounts,
        Err(news) => return Ok(news),
    };
    let Some(nick) = ctx.whoami().await?.map(|u| u.nick.to_string()) else {
        return Ok(AccountNews::Register(RegisterError::Unavailable));
    };
    match accounts
        .register(ctx.id, ctx.peer.ip(), &nick, &password)
        .await
    {
        Ok(name) => {
            logged_in(ctx, account, &name).await?;
            Ok(AccountNews::Registered(name))
        }
        Err(e) => Ok(AccountNews::Register(e)),
    }
}
