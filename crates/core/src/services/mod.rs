//! The chat's services: rules about accounts, nicknames, operators and
//! history that every protocol gets, decided here once.
//!
//! - [`accounts`]: what a new account must be, login and registration
//!   failures, the credentials-over-TLS rule, held-message notices.
//! - [`guard`]: brute-force limits on logins and registrations.
//! - [`oper`]: operator authentication.
//! - In the hub itself (they need its state): holding private messages for
//!   offline accounts, nickname protection, and replaying a room's history
//!   to whoever joins. The hub decides them in its command order and leaves
//!   an [`Effect`] for the runtime to carry out.
//!
//! Nothing here does I/O, reads a clock or knows a protocol: the runtime
//! checks passwords, talks to the store and keeps the timers.

pub mod accounts;
pub mod guard;
pub mod oper;

use std::time::Duration;

use crate::command::ConnId;
use crate::event::Event;
use crate::names::Name;

/// Which services the hub runs (from the configuration; all off by default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Services {
    /// Private messages to a registered account nobody holds are held for
    /// its next login instead of refused.
    pub hold_offline: bool,
    /// Someone holding a registered nickname without being logged in to
    /// it is renamed after this long.
    pub nick_grace: Option<Duration>,
    /// Whoever joins a room is shown its recent history first.
    pub replay: bool,
}

/// Something the hub decided that the runtime carries out, in the hub's
/// order (`Hub::take_effects`, after each command).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Keep `message` (an `Event::Message` to `account`) for the account's
    /// next login, then tell `from` how that went
    /// ([`accounts::held_notice`]).
    Hold {
        from: ConnId,
        account: Name,
        message: Event,
    },
    /// `conn` holds `nick`, a registered nickname it is not logged in to;
    /// after `after`, send the hub `Command::Reclaim { nick, generation }`
    /// (which does nothing if things changed meanwhile).
    Protect {
        conn: ConnId,
        nick: Name,
        after: Duration,
        generation: u64,
    },
    /// `to` joined `room`: show it the room's history up to msgid `upto`
    /// before anything said after the join.
    Replay { to: ConnId, room: Name, upto: u64 },
}
