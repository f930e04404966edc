//! The length-header dialect's session loop: the username field, then one
//! message per field.

use futures_util::StreamExt;

use chatroom_core::{Command, MsgKind, SayTarget};
use chatroom_proto::framing::{split_text, text};
use chatroom_proto::lenheader::codec::{FieldCodec, FieldError, message_lines, pair};

use crate::connection::{Ctx, HubGone, ReadHalf};
use crate::reader::FrameReader;

use chatroom_proto::lenheader::admit::Admission;

use super::admit::{linger, register_unique};

const SHUTDOWN: &str = "Server shutting down";

/// Reads fields until the client leaves or sends a bad header; returns the
/// quit reason shown to others.
pub async fn session(mut ctx: Ctx, rd: ReadHalf) -> String {
    let server = ctx.cfg.server_name.clone();
    let mut frames = FrameReader::new(rd, FieldCodec::new(ctx.cfg.limits.lenheader_max_field));
    loop {
        let field = match frames.next().await {
            None => return "Connection closed".into(),
            Some(Ok(field)) => field,
            Some(Err(FieldError::Io(e))) => return format!("Read error: {e}"),
            Some(Err(FieldError::Header(e))) => {
                let msg = format!("error: {e}; disconnecting");
                if ctx.tell(pair(&server, &msg)).await.is_err() {
                    return SHUTDOWN.into();
                }
                linger(frames.get_mut()).await;
                return "Bad length header".into();
            }
        };
        let field = text(&field);
        let flow = if ctx.is_registered() {
            say_lines(&mut ctx, &field).await
        } else {
            admit(&mut ctx, &server, &field).await
        };
        match flow {
            Ok(None) => {}
            Ok(Some(reason)) => return reason,
            Err(HubGone) => return SHUTDOWN.into(),
        }
    }
}

/// The first field is the username. Returns a reason when the connection
/// must end.
async fn admit(ctx: &mut Ctx, server: &str, username: &str) -> Result<Option<String>, HubGone> {
    match register_unique(ctx, username).await? {
        Admission::Registered { note, .. } => {
            if let Some(note) = note {
                ctx.tell(pair(server, &note)).await?;
            }
            Ok(None)
        }
        Admission::Refused(why) => {
            ctx.tell(pair(server, &format!("error: {why}"))).await?;
            Ok(Some(why))
        }
    }
}

/// One message field: each line a message, each cut to the hub's length.
async fn say_lines(ctx: &mut Ctx, field: &str) -> Result<Option<String>, HubGone> {
    let max = ctx.cfg.hub.text_len;
    for line in message_lines(field) {
        for part in split_text(line, max) {
            ctx.send(Command::Say {
                target: SayTarget::Focus,
                kind: MsgKind::Say,
                text: part.into(),
                tags: Vec::new(),
            })
            .await?;
        }
    }
    Ok(None)
}
