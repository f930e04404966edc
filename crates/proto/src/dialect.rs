//! What the two tutorial dialects (length-header and NICK handshake) share:
//! the steps their sessions ask the server to carry out, and admission.
//! Their clients send a name once and can never be asked for another: the
//! name is made valid (`sanitize_nick`) and, when taken, unique by
//! appending digits ([`Admit`]); the client is then told, in its own
//! dialect, which name it got.
//!
//! Pure: it decides nothing the hub decides, it only proposes the next
//! candidate after the hub refused one as taken.

use chatroom_core::names::sanitize_nick;
use chatroom_core::{Command, ConnId, HubError};

use crate::Body;

/// One thing a tutorial dialect's session asks the server to carry out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Something for this connection only, in order with the hub's replies.
    Tell(Body),
    /// A hub command; the hub reports a refusal itself.
    Send(Command),
    /// Register under `nick` (with the peer's address as host); the outcome
    /// goes back to the session's `outcome`.
    Register { nick: String },
    /// Close the connection with this reason, after what came before. With
    /// `linger`, keep reading (and discarding) for a moment first, so that
    /// the client reads the error instead of a reset: closing a socket
    /// with unread input makes the kernel send one, which can destroy the
    /// message queued just before.
    End { reason: String, linger: bool },
}

/// Numbered candidates tried (`name2` .. `name{ATTEMPTS}`) before falling
/// back to the connection id, which no other live connection has.
const ATTEMPTS: u32 = 30;

/// Finding the registered name nearest to the one a client asked for: a
/// candidate to try, the hub's answer, the next candidate or the outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admit {
    wanted: String,
    base: String,
    tried: u32,
    nick: String,
    conn: ConnId,
    max_len: usize,
}

/// What the hub's answer to a candidate leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Try this nickname.
    Try(String),
    /// Admission is over.
    Done(Admission),
}

impl Admit {
    /// Starts admitting connection `conn` under (something near) `wanted`;
    /// returns the first candidate to try.
    pub fn start(wanted: &str, conn: ConnId, max_len: usize) -> (Admit, String) {
        let wanted = wanted.trim().to_string();
        let base = sanitize_nick(&wanted, max_len);
        let nick = candidate(&base, 0, max_len);
        let admit = Admit {
            wanted,
            base,
            tried: 0,
            nick: nick.clone(),
            conn,
            max_len,
        };
        (admit, nick)
    }

    /// The name the client asked for, trimmed.
    pub fn wanted(&self) -> &str {
        &self.wanted
    }

    /// The hub's answer to the last candidate.
    pub fn outcome(&mut self, outcome: Result<(), HubError>) -> Next {
        match outcome {
            Ok(()) => Next::Done(Admission::Registered {
                nick: self.nick.clone(),
                note: note_for(&self.wanted, &self.base, &self.nick),
            }),
            Err(HubError::NickInUse(_)) if self.tried < ATTEMPTS => {
                self.tried += 1;
                self.nick = if self.tried < ATTEMPTS {
                    candidate(&self.base, self.tried, self.max_len)
                } else {
                    with_suffix(&self.base, &format!("_{}", self.conn), self.max_len)
                };
                Next::Try(self.nick.clone())
            }
            Err(HubError::NickInUse(_)) => Next::Done(Admission::Refused(format!(
                "no free nickname near {} was found",
                self.base
            ))),
            Err(e) => Next::Done(Admission::Refused(e.to_string())),
        }
    }
}

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
