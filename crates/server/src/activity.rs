//! What the log says about people, at info level: registrations (with
//! the nickname), nickname changes, joins and leaves, quits and kills,
//! each with the connection's id and address, so that an operator can
//! follow someone from the accept line (`accepted`, with the port) to the
//! quit.
//!
//! Called by the hub task around the commands that change who is where;
//! reads the hub, never changes it, and logs nothing a person typed beyond
//! names and quit reasons (never a password: no command that carries one
//! is looked at).

use std::sync::Arc;

use chatroom_core::names::Name;
use chatroom_core::{Command, ConnId, Hub, UserInfo};

/// What to compare after a command that may change who a connection is
/// or where.
pub enum Before {
    /// A registration, a nickname change, joins or parts.
    Moves {
        nick: Option<Name>,
        rooms: Vec<Name>,
    },
    /// An operator's KILL: whom it removes, and why.
    Kill {
        by: Option<Name>,
        victim: Arc<UserInfo>,
        conn: ConnId,
        reason: String,
    },
    /// QUIT: the hub forgets the connection at once.
    Quit {
        user: Arc<UserInfo>,
        reason: Option<String>,
    },
}

/// What to compare after `cmd` (`None` for the commands that change
/// nothing logged here, at no cost).
pub fn before(hub: &Hub, id: ConnId, cmd: &Command) -> Option<Before> {
    match cmd {
        Command::Kill { nick, reason } => {
            let conn = hub.conn_of(nick)?;
            Some(Before::Kill {
                by: hub.nick_of(id),
                victim: hub.user_of(conn)?,
                conn,
                reason: reason.clone(),
            })
        }
        Command::Quit(reason) => Some(Before::Quit {
            user: hub.user_of(id)?,
            reason: reason.clone(),
        }),
        Command::Register { .. }
        | Command::Nick(_)
        | Command::Join(_)
        | Command::JoinKey { .. }
        | Command::Part { .. }
        | Command::PartAll => Some(Before::Moves {
            nick: hub.nick_of(id),
            rooms: hub.rooms_of(id),
        }),
        _ => None,
    }
}

/// Logs what changed since `before`.
pub fn after(hub: &Hub, id: ConnId, before: Before) {
    let (nick0, rooms0) = match before {
        Before::Kill {
            by,
            victim,
            conn,
            reason,
        } => {
            let (nick, addr) = (&*victim.nick, &*victim.host);
            let by = by.as_deref().unwrap_or("?");
            tracing::info!(conn, nick = %nick, addr = %addr, "{nick} was killed by the operator {by}: {reason}");
            return;
        }
        Before::Quit { user, reason } => {
            let (nick, addr) = (&*user.nick, &*user.host);
            let reason = reason.as_deref().unwrap_or("");
            tracing::info!(conn = id, nick = %nick, addr = %addr, reason, "{nick} quit: {reason}");
            return;
        }
        Before::Moves { nick, rooms } => (nick, rooms),
    };
    let Some(user) = hub.user_of(id) else {
        return;
    };
    let (nick, addr) = (&*user.nick, &*user.host);
    match &nick0 {
        None => tracing::info!(conn = id, nick = %nick, addr = %addr, "registered as {nick}"),
        Some(old) if **old != *nick => {
            tracing::info!(conn = id, nick = %nick, addr = %addr, "{old} is now known as {nick}")
        }
        Some(_) => {}
    }
    let now = hub.rooms_of(id);
    for room in now.iter().filter(|r| !rooms0.contains(r)) {
        tracing::info!(conn = id, nick = %nick, addr = %addr, room = %room, "{nick} joined {room}");
    }
    for room in rooms0.iter().filter(|r| !now.contains(r)) {
        tracing::info!(conn = id, nick = %nick, addr = %addr, room = %room, "{nick} left {room}");
    }
}

/// Logs a connection's end, before the hub forgets who it was. One the
/// hub already removed (QUIT, KILL, a slow consumer: logged when it
/// happened) is only noted at debug level.
pub fn quit(hub: &Hub, id: ConnId, reason: &str) {
    match hub.user_of(id) {
        Some(user) => {
            let (nick, addr) = (&*user.nick, &*user.host);
            tracing::info!(conn = id, nick = %nick, addr = %addr, reason, "{nick} quit: {reason}");
        }
        None if hub.is_unregistered(id) => {
            tracing::info!(conn = id, reason, "closed before registering: {reason}")
        }
        None => tracing::debug!(conn = id, reason, "connection closed: {reason}"),
    }
}
