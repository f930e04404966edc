//! Admission for the two tutorial dialects (length-header and NICK
//! handshake), whose clients send a name once and can never be asked for
//! another: the name is made valid (`sanitize_nick`) and, when taken, unique
//! by appending digits; the client is then told, in its own dialect, which
//! name it got. Also the "lingering close" both use before hanging up on bad
//! input.
//!
//! Shared by `edges::lenheader` and `edges::nickhs`. It decides nothing the
//! hub decides: it only retries `Register` with other candidates.

use std::time::Duration;

use tokio::io::AsyncReadExt;

use crate::core::Command;
use crate::core::HubError;
use crate::core::names::sanitize_nick;
use crate::runtime::{Ctx, HubGone};

/// Numbered candidates tried (`name2` .. `name{ATTEMPTS}`) before falling
/// back to the connection id, which no other live connection has.
const ATTEMPTS: u32 = 30;

/// How a tutorial client's name request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Registered as `nick`; `note` says why it differs from what was asked.
    Registered { nick: String, note: Option<String> },
    /// No name could be registered; the text says why.
    Refused(String),
}

/// The `n`-th candidate for `base`: `base` itself, then `base2`, `base3`,
/// ... with `base` shortened so the result stays within `max_len` bytes.
/// `base` is ASCII (it comes from `sanitize_nick`).
pub fn candidate(base: &str, n: u32, max_len: usize) -> String {
    if n == 0 {
        return base.to_string();
    }
    with_suffix(base, &(n + 1).to_string(), max_len)
}

fn with_suffix(base: &str, suffix: &str, max_len: usize) -> String {
    let keep = max_len.saturating_sub(suffix.len()).min(base.len());
    let mut end = keep;
    while !base.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{suffix}", &base[..end])
}

/// Why the name a client got differs from the one it asked for, if it does.
pub fn note_for(wanted: &str, base: &str, nick: &str) -> Option<String> {
    if wanted == nick {
        return None;
    }
    // Keep the echo of a hostile "name" short; it goes only to its sender.
    let shown: String = wanted.chars().take(40).collect();
    let why = if wanted == base {
        format!("{shown} was taken")
    } else if base == nick {
        format!("{shown:?} is not a valid nickname: use letters, digits and []\\`_^{{|}}-")
    } else {
        format!("{shown:?} is not a valid nickname and {base} was taken")
    };
    Some(format!("You are known here as {nick} ({why})"))
}

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
pub async fn linger(rd: &mut crate::runtime::ReadHalf) {
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
