//! The NICK-handshake dialect's session loop: the `NICK` prompt, the
//! nickname, then one message per chunk the client sends.

use bytes::Bytes;
use tokio::io::AsyncReadExt;

use chatroom_proto::nickhs::codec::{Chunker, Piece};
use chatroom_proto::nickhs::session::{PROMPT, State};

use super::dialect::{carry_out, linger};
use crate::connection::{Ctx, HubGone, ReadHalf};

const SHUTDOWN: &str = "Server shutting down";

/// How much already-arrived input is thrown away after an oversized message
/// in chunk mode (the rest of that message, most likely).
const DISCARD_MAX: usize = 1 << 20;

/// Sends `NICK`, waits for the nickname, then relays messages until the
/// client leaves; returns the quit reason shown to others.
pub async fn session(mut ctx: Ctx, mut rd: ReadHalf) -> String {
    if ctx.tell(Bytes::from_static(PROMPT)).await.is_err() {
        return SHUTDOWN.into();
    }
    let max = ctx.cfg.limits.max_line_bytes;
    let mut chunker = Chunker::new(max);
    // One byte over the limit, so that an oversized chunk is recognisable.
    let mut buf = vec![0u8; max + 1];
    let mut pieces = Vec::new();
    let mut st = State::new(ctx.id);
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
            let steps = st.piece(piece, &ctx.cfg);
            match carry_out(&mut ctx, steps, |answer, cfg| st.outcome(answer, cfg)).await {
                Ok(None) => {}
                Ok(Some(end)) => {
                    if end.linger {
                        linger(&mut rd).await;
                    }
                    return end.reason;
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
