//! The line protocol's session loop (netcat, telnet): reads lines, has
//! `chatroom_proto::line::session` translate them, and carries out the
//! steps against the hub and the history.

use bytes::Bytes;
use futures_util::StreamExt;

use chatroom_core::RoomRef;
use chatroom_proto::framing::{Frame, LineCodec, text};
use chatroom_proto::line::session::{GREETING, State, Step};

use crate::connection::{Ctx, HubGone, ReadHalf};
use crate::reader::FrameReader;

/// Reads lines until the client leaves; returns the quit reason.
pub async fn session(mut ctx: Ctx, rd: ReadHalf) -> String {
    // Holds no buffer between lines (see `FrameReader`).
    let mut frames = FrameReader::new(rd, LineCodec::new(ctx.cfg.limits.max_line_bytes));
    let mut st = State::default();
    if ctx.tell(Bytes::from_static(GREETING)).await.is_err() {
        return "Server shutting down".into();
    }
    loop {
        let steps = match frames.next().await {
            None => return "Connection closed".into(),
            Some(Err(e)) => return format!("Read error: {e}"),
            Some(Ok(Frame::TooLong)) => st.too_long(&ctx.cfg),
            Some(Ok(Frame::Line(bytes))) => st.line(&text(&bytes), &ctx.cfg),
        };
        match carry_out(&mut ctx, &mut st, steps).await {
            Ok(None) => {}
            Ok(Some(reason)) => return reason,
            Err(HubGone) => return "Server shutting down".into(),
        }
    }
}

/// Carries out the steps of one line; `Some(reason)` ends the session.
async fn carry_out(
    ctx: &mut Ctx,
    st: &mut State,
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
            Step::End(reason) => return Ok(Some(reason)),
        }
    }
    Ok(None)
}
