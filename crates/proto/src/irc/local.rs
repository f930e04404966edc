//! Instructions from the IRC session to its connection's renderer
//! ([`Local`]), carried in `Body::Irc` through the hub's per-connection
//! queue so that they stay in order with the hub's replies, and the
//! one-shot [`Handed`] signal a renderer fires once lines are written.
//!
//! Both directions of the edge name these: the session (and its handlers,
//! account and history commands) queues them, the renderer carries them
//! out. Data only: this module must not render anything nor decide what a
//! reply says.

use std::sync::Arc;
use std::time::SystemTime;

use chatroom_core::Event;

use super::caps::CapSet;
use crate::envelope::Body;

/// Instructions from this edge's session to its renderer, carried in
/// `Body::Irc` so that they stay in order with the hub's replies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Local {
    /// `:server <command> <nick> <params...>`; with `trailing` the last
    /// parameter is always written as a trailing one (`:text`).
    Reply {
        command: String,
        params: Vec<String>,
        trailing: bool,
    },
    /// The next WHO reply is WHOX (`WHO mask %fields,token`): answer with
    /// RPL_WHOSPCRPL holding these fields.
    Whox { fields: String, token: String },
    /// The message of the day (MOTD command).
    Motd,
    /// NAMES replies that follow have no RPL_ENDOFNAMES of their own…
    NamesBegin,
    /// …until this one, naming everything that was asked.
    NamesEnd(String),
    /// WHOIS replies and ERR_NOSUCHNICK that follow are collected, not shown…
    QuietBegin,
    /// …until this, which answers them as one RPL_USERHOST…
    UserhostEnd,
    /// …or as one RPL_ISON.
    IsonEnd,
    /// The end of one WHOIS: RPL_ENDOFWHOIS if it was answered with
    /// ERR_NOSUCHNICK (a found nickname's reply ends itself).
    WhoisEnd(String),
    /// The capabilities the client has enabled from now on.
    Caps(CapSet),
    /// The lines that follow answer a command labeled with this…
    LabelBegin(String),
    /// …up to here.
    LabelEnd,
    /// A `CHATHISTORY` answer about `target`: the lines in a `chathistory`
    /// batch (an empty one when there are none) with `batch`, else bare.
    ChatHistory { target: String, lines: Vec<Event> },
    /// A `CHATHISTORY TARGETS` answer: (target, latest time) pairs in a
    /// `draft/chathistory-targets` batch.
    Targets(Vec<(String, SystemTime)>),
    /// RPL_LOGGEDIN for `account`; `mask` is the client's `nick!user@host`
    /// as the session knows it, used before registration (after it the
    /// renderer's own nickname and `user@host` are used).
    LoggedIn { account: String, mask: String },
    /// RPL_LOGGEDOUT (see `LoggedIn` for `mask`).
    LoggedOut { mask: String },
    /// Private messages held while the client was offline (each an
    /// `Event::Message`, oldest first). `handed` fires once they are in
    /// the connection's output, so that the store may forget them.
    Held { lines: Vec<Event>, handed: Handed },
    /// A NOTICE from a service (`NickServ`) to the client.
    Service { from: String, text: String },
    /// An IRCv3 standard reply (`FAIL`, `WARN`, `NOTE`): `kind command code
    /// [context...] :text`.
    Standard {
        kind: String,
        command: String,
        code: String,
        context: Vec<String>,
        text: String,
    },
}

impl Local {
    /// A numeric (or CAP) reply for the client whose last parameter is text.
    pub fn reply(command: &str, params: &[&str]) -> Local {
        Local::Reply {
            command: command.to_string(),
            params: params.iter().map(|p| p.to_string()).collect(),
            trailing: true,
        }
    }

    /// A reply whose parameters are all plain words.
    pub fn reply_words(command: &str, params: &[&str]) -> Local {
        Local::Reply {
            command: command.to_string(),
            params: params.iter().map(|p| p.to_string()).collect(),
            trailing: false,
        }
    }

    /// This instruction as a queue entry for the connection's renderer.
    pub fn body(&self) -> Body {
        Body::Irc(self.clone())
    }

    /// `FAIL command code [context...] :text`.
    pub fn fail(command: &str, code: &str, context: &[&str], text: &str) -> Local {
        Local::Standard {
            kind: "FAIL".into(),
            command: command.into(),
            code: code.into(),
            context: context.iter().map(|c| c.to_string()).collect(),
            text: text.into(),
        }
    }
}

/// A one-shot signal from the renderer to whoever queued the lines: "these
/// lines are in the connection's output now". If the entry is dropped
/// unrendered (the connection was cut first), the signal never fires, and
/// its closure is dropped with it (a channel's receiver sees the sender
/// gone).
#[derive(Clone)]
pub struct Handed(Arc<std::sync::Mutex<Option<HandedFn>>>);

type HandedFn = Box<dyn FnOnce() + Send>;

impl Handed {
    pub fn new(fire: impl FnOnce() + Send + 'static) -> Handed {
        Handed(Arc::new(std::sync::Mutex::new(Some(Box::new(fire)))))
    }

    /// Fires the signal (once; later calls do nothing).
    pub(crate) fn fire(&self) {
        let fire = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(fire) = fire {
            fire();
        }
    }
}

impl std::fmt::Debug for Handed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Handed(..)")
    }
}

/// Two signals are equal only when they are the same one.
impl PartialEq for Handed {
    fn eq(&self, other: &Handed) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Handed {}
