//! What the tutorial dialects' session loops share: carrying out the steps
//! of `chatroom_proto::dialect` (the hub's answer to a name goes back to
//! the session), and the lingering close before hanging up on bad input.

use std::time::Duration;

use tokio::io::AsyncReadExt;

use chatroom_config::Config;
use chatroom_core::HubError;
use chatroom_proto::dialect::Step;

use crate::connection::{Ctx, HubGone, ReadHalf};

/// How a dialect's step ended the connection.
pub struct Ending {
    pub reason: String,
    pub linger: bool,
}

/// Carries out `steps`, feeding the hub's answer to each registration to
/// `outcome`, whose steps come next. `Some` ends the session.
pub async fn carry_out(
    ctx: &mut Ctx,
    steps: Vec<Step>,
    mut outcome: impl FnMut(Result<(), HubError>, &Config) -> Vec<Step>,
) -> Result<Option<Ending>, HubGone> {
    let mut steps = std::collections::VecDeque::from(steps);
    while let Some(step) = steps.pop_front() {
        match step {
            Step::Tell(body) => ctx.tell(body).await?,
            Step::Send(cmd) => ctx.send(cmd).await?,
            Step::Register { nick } => {
                let answer = ctx.register_as(nick).await?;
                let cfg = ctx.cfg.clone();
                steps.extend(outcome(answer, &cfg));
            }
            Step::End { reason, linger } => return Ok(Some(Ending { reason, linger })),
        }
    }
    Ok(None)
}

/// How long, and how many bytes, to keep reading after deciding to hang up.
const LINGER_TIME: Duration = Duration::from_secs(2);

const LINGER_BYTES: usize = 1 << 20;

/// Reads and discards input for a bounded time before a connection is cut
/// off for bad input, so that the client reads why (Apache's "lingering
/// close"; see `Step::End`).
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
