//! The IRC session's loop: reads lines, has `chatroom_proto::irc::session`
//! translate each into steps, and carries them out (labeled responses as
//! one group, OPER's password check on the blocking pool, SEARCH and
//! CHATHISTORY through the hub's check and the store).

use std::future::Future;

use futures_util::StreamExt;

use chatroom_core::history::{HistoryAsk, HistoryError};
use chatroom_core::{Command, Event, HubError};
use chatroom_proto::framing::{Frame, LineCodec};
use chatroom_proto::irc::message::Message;
use chatroom_proto::irc::render::Local;
use chatroom_proto::irc::session::{
    MAX_TAG_BYTES, State, Step, clean_line, input_too_long, not_utf8, too_long, translate,
};

use super::oper::credentials_allowed;
use crate::connection::{Ctx, HubGone, ReadHalf};
use crate::inbox::GroupItem;
use crate::reader::FrameReader;
use chatroom_core::services::accounts::plaintext_refused;
use chatroom_core::services::guard::Target;

/// Reads IRC lines until the client leaves; returns the quit reason.
pub fn run(ctx: Ctx, rd: ReadHalf) -> impl Future<Output = String> + Send {
    run_on(ctx, rd, false)
}

/// Like [`run`], for a connection that came over TLS.
pub fn run_secure(ctx: Ctx, rd: ReadHalf) -> impl Future<Output = String> + Send {
    run_on(ctx, rd, true)
}

fn run_on(mut ctx: Ctx, rd: ReadHalf, secure: bool) -> impl Future<Output = String> + Send {
    // The configured limit counts CR LF (RFC 1459's 512); the codec's does
    // not, and it must let the tags through too (checked per line below).
    let max = ctx.cfg.limits.irc_line_bytes.saturating_sub(2).max(16);
    // Holds no buffer between lines (see `FrameReader`).
    let mut frames = FrameReader::new(rd, LineCodec::new(MAX_TAG_BYTES + max));
    let mut st = State::new(secure);
    // The PING after a silence, and giving up after another, are kept by
    // the server's deadline task (see `liveness`): a timer here would be
    // held by every connection all its life.
    ctx.keep_alive();
    // Not an `async fn`: its arguments would be kept twice in the
    // connection's state (as arguments and as the locals made from them).
    async move {
        loop {
            let input = frames.next().await;
            // Boxed: answering a line (parsing it, carrying out the command,
            // OPER's password check, history look-ups, the hub's replies)
            // takes a lot of state that an idle connection would otherwise
            // hold all its life, since a future is as large as its largest
            // await point; one allocation per line is noise next to the
            // line's own work. `input` is moved in whole, so the session
            // keeps nothing of it across the wait.
            if let Some(reason) = Box::pin(answer(&mut ctx, &mut st, input, max)).await {
                return reason;
            }
        }
    }
}

/// What one wait for input brought: a frame, the end of input or a read
/// error.
type Input = Option<Result<Frame, std::io::Error>>;

/// Answers one [`Input`]: a line is translated and carried out.
/// `Some(reason)` ends the session.
async fn answer(ctx: &mut Ctx, st: &mut State, input: Input, max: usize) -> Option<String> {
    let frame = match input {
        None => return Some("Connection closed".into()),
        Some(Err(e)) => return Some(format!("Read error: {e}")),
        Some(Ok(frame)) => frame,
    };
    // Any input proves the client is alive.
    ctx.heard();
    let (steps, label) = match frame {
        Frame::TooLong => (vec![input_too_long()], None),
        Frame::Line(bytes) if too_long(&bytes, max) => (vec![input_too_long()], None),
        Frame::Line(bytes) => match std::str::from_utf8(&bytes) {
            // A web browser at the IRC port: told where the web app is.
            Ok(line)
                if !ctx.is_registered() && chatroom_proto::wrong_door::is_http_request(line) =>
            {
                let (answer, reason) = chatroom_proto::wrong_door::http_on_irc_port(&ctx.cfg);
                let _ = ctx.tell(answer).await;
                return Some(reason);
            }
            Ok(line) => match Message::parse(&clean_line(line)) {
                Ok(msg) => {
                    let label = st.label_of(&msg);
                    (translate(st, &msg, &ctx.cfg), label)
                }
                // Blank lines and a lone source are ignored, as servers do.
                Err(_) => return None,
            },
            Err(_) => (vec![not_utf8(&bytes)], None),
        },
    };
    let outcome = match label {
        Some(label) => execute_labeled(ctx, st, label, steps).await,
        None => execute_all(ctx, st, steps).await,
    };
    match outcome {
        Ok(None) => None,
        Ok(Some(reason)) => Some(reason),
        Err(HubGone) => Some("Server shutting down".into()),
    }
}

async fn execute_all(
    ctx: &mut Ctx,
    st: &mut State,
    steps: Vec<Step>,
) -> Result<Option<String>, HubGone> {
    for step in steps {
        if let Some(reason) = execute(ctx, st, step).await? {
            return Ok(Some(reason));
        }
    }
    Ok(None)
}

/// A labeled command: its replies are bracketed for the renderer. When
/// every step is a plain command or local reply, brackets and commands go
/// to the hub as one group, so no other event can land inside the
/// response; the steps that cannot (QUIT, which ends the session) are run one
/// by one, and events for this connection that arrive meanwhile are
/// labeled with them.
async fn execute_labeled(
    ctx: &mut Ctx,
    st: &mut State,
    label: String,
    steps: Vec<Step>,
) -> Result<Option<String>, HubGone> {
    // OPER's password check happens before the response starts, so that
    // its outcome can join the group.
    let mut resolved = Vec::with_capacity(steps.len());
    for step in steps {
        match step {
            Step::Oper { name, password } => {
                resolved.extend(oper(ctx, st, name, password).await);
            }
            // The answer is read first, so that it joins the group too.
            Step::Search { room, words } => resolved.push(search(ctx, room, words).await?),
            Step::ChatHistory(req) => resolved.push(chathistory(ctx, req).await?),
            Step::Time => resolved.push(Step::Note(time(ctx))),
            other => resolved.push(other),
        }
    }
    let steps = resolved;
    if !steps.iter().all(Step::is_simple) {
        ctx.tell(Local::LabelBegin(label).body()).await?;
        let outcome = execute_all(ctx, st, steps).await?;
        ctx.tell(Local::LabelEnd.body()).await?;
        return Ok(outcome);
    }
    let mut items = Vec::with_capacity(steps.len() + 2);
    items.push(GroupItem::Local(Local::LabelBegin(label).body()));
    for step in steps {
        items.push(match step {
            Step::Tell(event) => GroupItem::Local(event.into()),
            Step::Raw(bytes) => GroupItem::Local(bytes.into()),
            Step::Note(local) => GroupItem::Local(local.into()),
            Step::Send(cmd) => GroupItem::Cmd(cmd),
            // is_simple() let nothing else through.
            _ => continue,
        });
    }
    items.push(GroupItem::Local(Local::LabelEnd.body()));
    ctx.send_group(items).await?;
    Ok(None)
}

/// Carries out one step; `Some(reason)` ends the session.
async fn execute(ctx: &mut Ctx, st: &mut State, step: Step) -> Result<Option<String>, HubGone> {
    match step {
        Step::Tell(event) => ctx.tell(event).await?,
        Step::Note(local) => ctx.tell(local).await?,
        Step::Raw(bytes) => ctx.tell(bytes).await?,
        Step::Send(cmd) => ctx.send(cmd).await?,
        Step::Register {
            nick,
            user,
            realname,
        } => {
            if let Some(hash) = ctx.cfg.irc_password_hash.clone() {
                let given = st.take_pass().unwrap_or_default();
                let allowed = credentials_allowed(st.secure, ctx);
                if !allowed {
                    ctx.tell(plaintext_refused()).await?;
                }
                let ok = if allowed && !given.is_empty() {
                    match ctx.logins.begin(ctx.peer.ip(), Target::ServerPassword) {
                        Ok(slot) => {
                            let ok = ctx.logins.verify(given, hash).await;
                            slot.finish(ok);
                            ok
                        }
                        Err(secs) => {
                            tracing::warn!(conn = ctx.id, peer = %ctx.peer, "connection password refused unchecked: too many failures; try again in {secs} s");
                            ctx.tell(Event::ServerNotice {
                                text: format!(
                                    "Too many wrong passwords from your address: try again in {secs} seconds"
                                )
                                .into(),
                            })
                            .await?;
                            false
                        }
                    }
                } else {
                    false
                };
                if !ok {
                    // Modern IRC: ERR_PASSWDMISMATCH, then ERROR and close.
                    tracing::warn!(conn = ctx.id, peer = %ctx.peer, "wrong or missing connection password");
                    ctx.tell(Event::Error(HubError::PasswordMismatch)).await?;
                    return Ok(Some("Bad password".into()));
                }
            }
            let host = ctx.host();
            let outcome = ctx
                .request(Command::Register {
                    nick,
                    user,
                    realname,
                    host,
                })
                .await?;
            // A refusal already reached the client as 432/433.
            match outcome {
                Ok(()) => {
                    st.registered();
                    if st.secure {
                        ctx.send(Command::Secure).await?;
                    }
                    if let Some(fp) = ctx.certfp.clone() {
                        ctx.send(Command::CertFp(fp)).await?;
                    }
                    // Logged in before registering (SASL): what was held
                    // for the account comes after the welcome.
                    super::irc_login::deliver_held(ctx, st).await?;
                }
                Err(_) => st.register_failed(),
            }
        }
        Step::Oper { name, password } => {
            for step in oper(ctx, st, name, password).await {
                match step {
                    Step::Tell(event) => ctx.tell(event).await?,
                    Step::Send(cmd) => ctx.send(cmd).await?,
                    // oper() answers with nothing else.
                    _ => {}
                }
            }
        }
        Step::Search { room, words } => {
            if let Step::Tell(event) = search(ctx, room, words).await? {
                ctx.tell(event).await?;
            }
        }
        Step::ChatHistory(req) => {
            if let Step::Note(local) = chathistory(ctx, req).await? {
                ctx.tell(local.body()).await?;
            }
        }
        Step::Account(ask) => super::irc_login::carry_out(ctx, st, ask).await?,
        Step::Time => ctx.tell(time(ctx)).await?,
        Step::Quit(reason) => {
            ctx.send(Command::Quit(Some(reason.clone()))).await?;
            return Ok(Some(reason));
        }
    }
    Ok(None)
}

/// Most messages one `SEARCH` answers with (as `/search` on the line
/// protocol): NOTICEs are read by people, not scripts.
const SEARCH_RESULTS: usize = 20;

/// Runs a search of `room` for `words` and returns the reply to tell: the
/// messages found (`Event::Found`, newest first), the hub's refusal (442
/// when not in the room, 403 when there is no such room) or a notice when
/// the server keeps no history. What was typed is only ever text to look
/// for (the store quotes it for FTS5).
async fn search(ctx: &mut Ctx, room: String, words: String) -> Result<Step, HubGone> {
    let ask = HistoryAsk::Search {
        words: words.clone(),
        limit: SEARCH_RESULTS,
    };
    Ok(Step::Tell(
        match ctx.history(room.as_str().into(), ask).await? {
            Ok(page) => Event::Found {
                room: page.room,
                words: chatroom_core::hub::clean_text(&words, 100).into(),
                lines: page.lines,
            },
            Err(HistoryError::Hub(e)) => Event::Error(e),
            Err(other) => Event::ServerNotice {
                text: format!("SEARCH: {other}").into(),
            },
        },
    ))
}

/// Answers a `CHATHISTORY` request: the batch, or `INVALID_TARGET` for a
/// room the asker may not read (the same whether it is secret, elsewhere or
/// does not exist, so nothing is learnt from the refusal), `MESSAGE_ERROR`
/// when the history cannot be read.
async fn chathistory(
    ctx: &mut Ctx,
    req: chatroom_proto::irc::chathistory::Request,
) -> Result<Step, HubGone> {
    let chatroom_proto::irc::chathistory::Request { sub, target, ask } = req;
    let targets = matches!(ask, HistoryAsk::Targets { .. });
    let fail = |code: &str, text: &str| {
        let shown: String = target.chars().take(64).collect();
        Step::Note(Local::fail("CHATHISTORY", code, &[&sub, &shown], text))
    };
    Ok(match ctx.history(target.as_str().into(), ask).await? {
        Ok(page) if targets => Step::Note(Local::Targets(
            page.targets
                .into_iter()
                .map(|t| {
                    let name = match t.target {
                        chatroom_core::MsgTarget::Room(r)
                        | chatroom_core::MsgTarget::Nick(r)
                        | chatroom_core::MsgTarget::Status(r) => r.to_string(),
                    };
                    (name, t.latest)
                })
                .collect(),
        )),
        Ok(page) => Step::Note(Local::ChatHistory {
            // A room as the hub spells it; a nickname as asked.
            target: if target.starts_with('#') {
                page.room.to_string()
            } else {
                target.clone()
            },
            lines: page.lines,
        }),
        Err(HistoryError::Hub(_)) => fail("INVALID_TARGET", "Messages could not be retrieved"),
        Err(_) => fail("MESSAGE_ERROR", "Messages could not be retrieved"),
    })
}

/// RPL_TIME: the one reply that needs the server's clock.
fn time(ctx: &Ctx) -> Local {
    chatroom_proto::irc::step::time_reply(&ctx.cfg.server_name, std::time::SystemTime::now())
}

/// An OPER login (see `super::oper`), its outcome as plain steps (nothing
/// is sent yet), so that a labeled OPER can still reach the hub as one
/// group.
async fn oper(ctx: &Ctx, st: &State, name: String, password: String) -> Vec<Step> {
    match super::oper::oper(ctx, st.secure, name, password).await {
        Ok(cmd) => vec![Step::Send(cmd)],
        Err(told) => told.into_iter().map(Step::Tell).collect(),
    }
}
