//! The length-header dialect's session loop: reads fields and has
//! `chatroom_proto::lenheader::session` translate them.

use futures_util::StreamExt;

use chatroom_proto::framing::text;
use chatroom_proto::lenheader::codec::{FieldCodec, FieldError};
use chatroom_proto::lenheader::session::State;

use super::dialect::{carry_out, linger};
use crate::connection::{Ctx, HubGone, ReadHalf};
use crate::reader::FrameReader;

/// Reads fields until the client leaves or sends a bad header; returns the
/// quit reason shown to others.
pub async fn session(mut ctx: Ctx, rd: ReadHalf) -> String {
    let mut frames = FrameReader::new(rd, FieldCodec::new(ctx.cfg.limits.lenheader_max_field));
    let mut st = State::new(ctx.id);
    loop {
        let steps = match frames.next().await {
            None => return "Connection closed".into(),
            Some(Ok(field)) => st.field(&text(&field), &ctx.cfg),
            Some(Err(FieldError::Io(e))) => return format!("Read error: {e}"),
            Some(Err(FieldError::Header(e))) => st.bad_header(&e, &ctx.cfg),
        };
        match carry_out(&mut ctx, steps, |answer, cfg| st.outcome(answer, cfg)).await {
            Ok(None) => {}
            Ok(Some(end)) => {
                if end.linger {
                    linger(frames.get_mut()).await;
                }
                return end.reason;
            }
            Err(HubGone) => return "Server shutting down".into(),
        }
    }
}
