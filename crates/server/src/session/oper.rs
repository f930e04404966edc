//! Operator logins carried out, for every protocol (IRC `OPER`, the line
//! protocol's `/oper`): `chatroom_core::services::oper` decides who may try
//! and against which hash; this checks the password on the blocking pool
//! (argon2 is slow by design, never on the hub's task) and pauses after a
//! failure, which bounds guessing on one connection.
//!
//! Must not decide the rule itself nor word the outcome: the hub's events
//! (`YoureOper`, `Error`) are rendered by each protocol.

use std::time::Duration;

use chatroom_core::services::accounts::{plaintext_refused, secure_enough};
use chatroom_core::services::oper::{OperCheck, check};
use chatroom_core::{Command, Event};

use crate::connection::Ctx;

/// How long a failed operator login holds the session back.
const FAIL_PAUSE: Duration = Duration::from_secs(1);

/// Credentials travel only over TLS or from this machine, unless the
/// configuration says otherwise (the core's rule, with this connection's
/// facts).
pub fn credentials_allowed(secure: bool, ctx: &Ctx) -> bool {
    secure_enough(secure, ctx.peer.ip(), ctx.cfg.allow_plaintext_credentials)
}

/// Checks an operator login. `Ok` is the command that makes the sender an
/// operator (nothing is sent yet, so that IRC can send it inside a labeled
/// group); `Err` the events to tell the sender.
pub async fn oper(
    ctx: &Ctx,
    secure: bool,
    name: String,
    password: String,
) -> Result<Command, Vec<Event>> {
    let allowed = credentials_allowed(secure, ctx);
    let hash = match check(&ctx.cfg.opers, &name, allowed) {
        OperCheck::Verify { hash } => hash.to_string(),
        OperCheck::Refuse {
            error,
            pause,
            plaintext,
        } => {
            let mut told = Vec::new();
            if plaintext {
                tracing::warn!(conn = ctx.id, peer = %ctx.peer, "OPER over plain TCP refused");
                told.push(plaintext_refused());
            } else {
                tracing::warn!(conn = ctx.id, peer = %ctx.peer, oper = %echo(&name), "OPER with an unknown name");
            }
            if pause {
                tokio::time::sleep(FAIL_PAUSE).await;
            }
            told.push(Event::Error(error));
            return Err(told);
        }
    };
    if crate::accounts::verify(password, hash).await {
        tracing::info!(conn = ctx.id, peer = %ctx.peer, oper = %name, "OPER succeeded");
        Ok(Command::Oper { name })
    } else {
        tracing::warn!(conn = ctx.id, peer = %ctx.peer, oper = %echo(&name), "OPER with a wrong password");
        tokio::time::sleep(FAIL_PAUSE).await;
        Err(vec![Event::Error(
            chatroom_core::HubError::PasswordMismatch,
        )])
    }
}

/// Client input echoed in a log line, cut short.
fn echo(s: &str) -> &str {
    let mut end = s.len().min(64);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
