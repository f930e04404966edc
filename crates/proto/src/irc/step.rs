//! What the IRC session does in answer to a client line: the [`Step`]s
//! that the pure translation produces and the server's session loop
//! carries out, the account requests ([`Ask`]) among them, and the
//! constructors of the replies every command handler uses.
//!
//! Below the handlers, `login` and the session facade, all of which build
//! steps; this module must not decide what any command means.

use bytes::Bytes;

use chatroom_core::{Command, Event};

use super::chathistory;
use super::local::Local;
use super::nickserv::Request;
use super::numeric::ERR_INPUTTOOLONG;
use super::sasl::Mechanism;

/// Longest part of a client's input echoed back in an error reply.
const ECHO_MAX: usize = 64;

/// One thing the session does in answer to a client line, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// An event for this connection only (a hub-style reply).
    Tell(Event),
    /// Bytes for this connection as they are (a PONG).
    Raw(Bytes),
    /// An instruction for this connection's renderer (a local reply that
    /// needs the renderer's state).
    Note(Local),
    /// A hub command whose refusal the hub reports itself.
    Send(Command),
    /// `Command::Register` with the peer's address; the outcome updates
    /// the state.
    Register {
        nick: String,
        user: String,
        realname: String,
    },
    /// OPER: check the password off the hub's task, then tell the hub.
    Oper { name: String, password: String },
    /// `SEARCH #room :words`: ask the store (through the hub, which checks
    /// that the asker is in the room), then tell the client what was found.
    Search { room: String, words: String },
    /// `CHATHISTORY`: ask the store (through the hub's check), then tell
    /// the client the batch.
    ChatHistory(chathistory::Request),
    /// An account request (SASL, REGISTER, NickServ), carried out
    /// through the runtime's accounts service.
    Account(Ask),
    /// `TIME`: the server's clock, which only the runtime may read, as
    /// RPL_TIME (see [`time_reply`]).
    Time,
    /// Tell the hub and end the session with this reason.
    Quit(String),
}

/// RPL_TIME for `now`: the server's name, and the time in the form of the
/// `server-time` tag (the modern form ignores the rest; one fixed format
/// is easier to read back than a locale's).
pub fn time_reply(server: &str, now: std::time::SystemTime) -> Local {
    Local::reply(
        crate::irc::numeric::RPL_TIME,
        &[server, &crate::irc::tags::server_time(now)],
    )
}

impl Step {
    /// Steps that need no answer from the hub before the next one, so a
    /// labeled command made of them can go to the hub as one group.
    pub fn is_simple(&self) -> bool {
        matches!(
            self,
            Step::Tell(_) | Step::Raw(_) | Step::Note(_) | Step::Send(_)
        )
    }
}

/// An account request for the session to carry out (see `login`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ask {
    /// A complete SASL payload (base64, empty for `+`).
    Sasl {
        mechanism: Mechanism,
        payload: String,
    },
    /// `REGISTER`: `account` `None` is the current nickname.
    Register {
        account: Option<String>,
        password: String,
    },
    NickServ(Request),
}

/// A numeric (or CAP) reply whose last parameter is text, written with the
/// client's nickname when it is rendered.
pub fn reply(code: &str, params: &[&str]) -> Step {
    Step::Note(Local::reply(code, params))
}

/// Client input echoed in a reply, cut so the reply stays short.
pub fn echo(s: &str) -> &str {
    let mut end = s.len().min(ECHO_MAX);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// ERR_INPUTTOOLONG (417): a line, or its tags, over the limits.
pub fn input_too_long() -> Step {
    reply(ERR_INPUTTOOLONG, &["Input line was too long"])
}
