//! Admission for the two tutorial dialects carried out: registering the
//! first free variant of the name the client sent, and the lingering close
//! before hanging up on bad input. The naming rules are
//! `chatroom_proto::lenheader::admit`'s.

use std::time::Duration;

use tokio::io::AsyncReadExt;

use chatroom_core::names::sanitize_nick;
use chatroom_core::{Command, HubError};
use chatroom_proto::lenheader::admit::{Admission, candidate, note_for, with_suffix};

use crate::connection::{Ctx, HubGone, ReadHalf};

/// Numbered candidates tried (`name2` .. `name{ATTEMPTS}`) before falling
/// back to the connection id, which no other live connection has.
const ATTEMPTS: u32 = 30;

/// Registers the connection under the nickname nearest to `wanted`.
pub async fn register_unique(ctx: &mut Ctx, wanted: &str) -> Result<Admission, HubGone> {
    let max = ctx.cfg.hub.nick_len;
    let wanted = wanted.trim();
    let base = sanitize_nick(wanted, max);
    let host = ctx.host();
    for n in 0..=ATTEMPTS {
        let nick = if n < ATTEMPTS {
            candidate(&base, n, max)
        } else {
            with_suffix(&base, &format!("_{}", ctx.id), max)
        };
        let outcome = ctx
            .request(Command::Register {
                nick: nick.clone(),
                user: nick.clone(),
                realname: nick.clone(),
                host: host.clone(),
            })
            .await?;
        match outcome {
            Ok(()) => {
                let note = note_for(wanted, &base, &nick);
                return Ok(Admission::Registered { nick, note });
            }
            Err(HubError::NickInUse(_)) => continue,
            Err(e) => return Ok(Admission::Refused(e.to_string())),
        }
    }
    Ok(Admission::Refused(format!(
        "no free nickname near {base} was found"
    )))
}

/// How long, and how many bytes, to keep reading after deciding to hang up.
const LINGER_TIME: Duration = Duration::from_secs(2);

const LINGER_BYTES: usize = 1 << 20;

/// Reads and discards input for a bounded time before a connection is cut
/// off for bad input. Closing a socket that still has unread input makes the
/// kernel send a reset, which can destroy the error message queued just
/// before it; draining first (Apache's "lingering close") lets the client
/// read why it was disconnected.
pub async fn linger(rd: &mut ReadHalf) {
    let mut sink = [0u8; 4096];
    let mut total = 0usize;
    let drain = async {
        loop {
            match rd.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    total += n;
                    if total > LINGER_BYTES {
                        break;
                    }
                }
            }
        }
    };
    let _ = tokio::time::timeout(LINGER_TIME, drain).await;
}
