//! The client's pure state model: buffers (the server buffer, rooms and
//! private conversations), their scrollback, member lists and unread counts,
//! and how each parsed IRC message, connection event or user command changes
//! them. One job per file under `state/`:
//!
//! - `buffer.rs`: what one buffer holds (lines, members, history bookkeeping).
//! - `model.rs`: the whole [`State`] and the changes every handler shares
//!   (finding and switching buffers, adding lines, unread counts, comparing
//!   names under the server's `CASEMAPPING`).
//! - `link.rs`: connecting, registration (CAP, NICK, 001, ISUPPORT), lag,
//!   disconnects.
//! - `account.rs`: logging in (SASL PLAIN and EXTERNAL while registering,
//!   `/login`, `/register`) and the server's answers to it.
//! - `inbound.rs`: every other message from the server (rooms, people,
//!   talk, modes, numerics).
//! - `replies.rs`: server replies as sentences (a WHOIS block, the LUSERS
//!   line, server notices) and `/ignore`.
//! - `commands.rs`: carrying out what the user typed.
//! - `history.rs`: server history (the join replay, pages fetched while
//!   scrolling, /search).
//! - `text.rs`: text helpers (formatting removal, CTCP, lag display).
//!
//! The layers only point down: `text` and `buffer` use nothing here,
//! `model` uses `buffer`, `link`, `account`, `replies` and `history` use the model, and `inbound`
//! and `commands` use the rest. The model never calls a handler.
//!
//! Everything here is a plain function of its inputs — the current time is
//! passed in as [`Now`] — so it can be tested without a network, a clock or a
//! terminal. It must not do I/O, read the clock, spawn tasks, or know about
//! ratatui or crossterm. What it wants sent to the server it returns as
//! [`Message`](chatroom_proto::irc::message::Message)s (or [`Effect`]s) for
//! the caller to write. It must never panic on a malformed or hostile server
//! line: missing parameters read as "".

mod account;
mod buffer;
mod commands;
mod history;
#[cfg(test)]
mod history_tests;
mod inbound;
mod link;
mod model;
mod replies;
#[cfg(test)]
mod test_support;
mod text;

pub use account::{Login, Secret};
pub use buffer::{BufHistory, Buffer, BufferKind, Fetch, Line, LineKind, Member};
pub use model::{
    Alert, Effect, Event, HISTORY_PAGE, LOG_MARK, Link, Now, SCROLLBACK_LIMIT, Scope, State,
};
pub use text::{clean_text, format_lag};
