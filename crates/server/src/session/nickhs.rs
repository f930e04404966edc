//! The NICK-handshake dialect's session loop: the `NICK` prompt, the
//! nickname, then one message per chunk the client sends.

use bytes::Bytes;
use tokio::io::AsyncReadExt;

use chatroom_core::{Command, MsgKind, SayTarget};
use chatroom_proto::framing::{split_text, text};
use chatroom_proto::nickhs::codec::{Chunker, Piece, strip_own_prefix};
use chatroom_proto::nickhs::raw;

use crate::connection::{Ctx, HubGone, ReadHalf};

use chatroom_proto::lenheader::admit::Admission;

use super::admit::{linger, register_unique};

const SHUTDOWN: &str = "Server shutting down";

/// How much already-arrived input is thrown away after an oversized message
/// in chunk mode (the rest of that message, most likely).
const DISCARD_MAX: usize = 1 << 20;

enum Flow {
    Continue,
    /// End the connection with this reason (after a lingering close).
    Hangup(String),
}

/// Sends `NICK`, waits for the nickname, then relays messages until the
/// client leaves; returns the quit reason shown to others.
pub async fn session(mut ctx: Ctx, mut rd: ReadHalf) -> String {
    if ctx.tell(Bytes::from_static(b"NICK")).await.is_err() {
        return SHUTDOWN.into();
    }
    let max = ctx.cfg.limits.max_line_bytes;
    let mut chunker = Chunker::new(max);
    // One byte over the limit, so that an oversized chunk is recognisable.
    let mut buf = vec![0u8; max + 1];
    let mut pieces = Vec::new();
    // The name the client asked for and the one it got: either may prefix
    // its messages.
    let mut names: Vec<String> = Vec::new();
    loop {
        let n = match rd.read(&mut buf).await {
            Ok(n) => n,
            Err(e) => return format!("Read error: {e}"),
        };
        if n == 0 {
            chunker.finish(&mut pieces);
        } else {
            chunker.push(&buf[..n], &mut pieces);
            discard_ready(&mut rd, &mut buf, &mut chunker, &mut pieces);
        }
        for piece in pieces.drain(..) {
            match handle(&mut ctx, &mut names, piece).await {
                Ok(Flow::Continue) => {}
                Ok(Flow::Hangup(reason)) => {
                    linger(&mut rd).await;
                    return reason;
                }
                Err(HubGone) => return SHUTDOWN.into(),
            }
        }
        if n == 0 {
            return "Connection closed".into();
        }
    }
}

/// After an oversized chunk, hands the chunker whatever input has already
/// arrived, without waiting for more: that is the rest of the same message,
/// which must not be relayed as if it were messages of its own (the chunker
/// drops it up to the first LF).
fn discard_ready(rd: &mut ReadHalf, buf: &mut [u8], chunker: &mut Chunker, out: &mut Vec<Piece>) {
    use futures_util::FutureExt;
    let mut total = 0;
    while chunker.discarding() && total < DISCARD_MAX {
        // A read that is ready now, without waiting (the boxed reader has
        // no `try_read`).
        match rd.read(buf).now_or_never() {
            None | Some(Ok(0)) | Some(Err(_)) => break,
            Some(Ok(n)) => {
                total += n;
                chunker.push(&buf[..n], out);
            }
        }
    }
    chunker.end_discard();
}

async fn handle(ctx: &mut Ctx, names: &mut Vec<String>, piece: Piece) -> Result<Flow, HubGone> {
    let max = ctx.cfg.limits.max_line_bytes;
    let registered = ctx.is_registered();
    let text = match piece {
        Piece::TooLong if !registered => {
            ctx.tell(raw("Error: that nickname is far too long"))
                .await?;
            return Ok(Flow::Hangup("Nickname too long".into()));
        }
        Piece::TooLong => {
            let msg = format!("Error: message too long (at most {max} bytes); it was not sent");
            ctx.tell(raw(&msg)).await?;
            return Ok(Flow::Continue);
        }
        Piece::Text(bytes) => text(&bytes),
    };
    if !registered {
        let wanted = text.trim();
        // Nothing to register yet (an empty line from netcat): keep waiting.
        // NICK is not sent again, so a client that answers every NICK with
        // nothing cannot make the two ends ping-pong.
        if wanted.is_empty() {
            return Ok(Flow::Continue);
        }
        match register_unique(ctx, wanted).await? {
            Admission::Registered { nick, note } => {
                ctx.tell(raw("Connected to server!")).await?;
                if let Some(note) = note {
                    ctx.tell(raw(&note)).await?;
                }
                *names = vec![wanted.to_string(), nick];
            }
            Admission::Refused(why) => {
                ctx.tell(raw(&format!("Error: {why}"))).await?;
                return Ok(Flow::Hangup(why));
            }
        }
        return Ok(Flow::Continue);
    }
    let prefixes: Vec<&str> = names.iter().map(String::as_str).collect();
    let body = strip_own_prefix(&text, &prefixes);
    // The tutorial client sends `nick: ` for an empty input line.
    if body.trim().is_empty() {
        return Ok(Flow::Continue);
    }
    for part in split_text(body, ctx.cfg.hub.text_len) {
        ctx.send(Command::Say {
            target: SayTarget::Focus,
            kind: MsgKind::Say,
            text: part.into(),
            tags: Vec::new(),
        })
        .await?;
    }
    Ok(Flow::Continue)
}
