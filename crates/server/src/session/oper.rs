//! Operator logins carried out, for every protocol (IRC `OPER`, the line
//! protocol's `/oper`): `chatroom_core::services::oper` decides who may try
//! and against which hash; this checks the password on the blocking pool
//! (argon2 is slow by design, never on the hub's task) under the login
//! throttle (`logins`: per operator name and address, and per address),
//! and pauses after a failure, which bounds guessing on one connection.
//!
//! Must not decide the rule itself nor word the outcome: the hub's events
//! (`YoureOper`, `Error`) are rendered by each protocol.

use std::time::Duration;

use chatroom_core::services::accounts::{plaintext_refused, secure_enough};
use chatroom_core::services::guard::Target;
use chatroom_core::services::oper::{OperCheck, check};
use chatroom_core::{Command, Event, HubError};

use crate::accounts::echo;
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
    let checked = check(&ctx.cfg.opers, &name, allowed);
    if let OperCheck::Refuse {
        error,
        plaintext: true,
        ..
    } = checked
    {
        // Nothing is checked, so nothing counts.
        tracing::warn!(conn = ctx.id, peer = %ctx.peer, "OPER over plain TCP refused");
        return Err(vec![plaintext_refused(), Event::Error(error)]);
    }
    let slot = match ctx.logins.begin(ctx.peer.ip(), Target::Oper(&name)) {
        Ok(slot) => slot,
        Err(secs) => {
            tracing::warn!(conn = ctx.id, peer = %ctx.peer, oper = %echo(&name), "OPER refused unchecked: too many failures; try again in {secs} s");
            return Err(vec![
                Event::ServerNotice {
                    text: format!("Too many failed operator logins: try again in {secs} seconds")
                        .into(),
                },
                Event::Error(HubError::PasswordMismatch),
            ]);
        }
    };
    let hash = match checked {
        OperCheck::Verify { hash } => hash.to_string(),
        OperCheck::Refuse { error, pause, .. } => {
            // A guess at a name counts like a guess at a password.
            slot.finish(false);
            tracing::warn!(conn = ctx.id, peer = %ctx.peer, oper = %echo(&name), "OPER with an unknown name");
            if pause {
                tokio::time::sleep(FAIL_PAUSE).await;
            }
            return Err(vec![Event::Error(error)]);
        }
    };
    if ctx.logins.verify(password, hash).await {
        slot.finish(true);
        tracing::info!(conn = ctx.id, peer = %ctx.peer, oper = %name, "OPER succeeded");
        Ok(Command::Oper { name })
    } else {
        slot.finish(false);
        tracing::warn!(conn = ctx.id, peer = %ctx.peer, oper = %echo(&name), "OPER with a wrong password");
        tokio::time::sleep(FAIL_PAUSE).await;
        Err(vec![Event::Error(HubError::PasswordMismatch)])
    }
}
