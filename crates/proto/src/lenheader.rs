//! The length-header tutorial dialect: the chat of the classic "Python
//! sockets chat room" tutorial, so its client program works unchanged.
//!
//! Every field on the wire is a 10-byte ASCII length header plus that many
//! bytes (see [`codec`]). The client sends its username as one field, then
//! each message as one field. The server sends every line as a pair of
//! fields, username then message, which the client prints as
//! `username > message`:
//!
//! - messages from people on any protocol: `alice > hi`; actions
//!   `alice > * alice waves`; messages from rooms other than the client's
//!   current one are prefixed `[#room] `; private ones `(private) `;
//! - everything the server itself says uses the server's name as username:
//!   `chatroom > bob joined #lobby`, `chatroom > bob quit (Client quit)`,
//!   `chatroom > alice is now known as alice2`, errors, notices.
//!
//! Like the tutorial's own server, a client's own messages and its own join
//! are not echoed to it. Its username cannot be asked again, so an invalid or
//! taken one is adjusted (see [`crate::dialect`]) and the client told its real name.
//! A bad length header (not a number, negative, blank, over
//! `limits.lenheader_max_field`) ends the connection with an error, since
//! the stream cannot be resynchronised; nobody else notices beyond the quit.
//!
//! Must not decide anything the hub decides; it parses and renders only.

pub mod codec;
pub mod session;

use bytes::{BufMut, Bytes, BytesMut};

use crate::Renderer;
use crate::envelope::{Body, Shared, Slot};
use crate::terminal::for_terminal;
use chatroom_config::Config;
use chatroom_core::names::same;
use chatroom_core::{Event, MsgKind, MsgTarget};

use super::past::stamp;

pub fn renderer(cfg: &Config) -> LenHeaderRenderer {
    LenHeaderRenderer {
        server: cfg.server_name.clone(),
        me: None,
        focus: None,
    }
}

/// A username/message field pair for the tutorial client, which prints
/// both as they come: no control sequence and no IRC formatting gets
/// through (see `crate::terminal`).
fn pair(name: &str, text: &str) -> Bytes {
    codec::pair(&for_terminal(name, false), &for_terminal(text, false))
}

/// Renders events as username/message field pairs. Remembers the
/// recipient's nickname (to leave out its own messages and join) and its
/// current room (to mark messages from elsewhere), both learned from events.
#[derive(Debug)]
pub struct LenHeaderRenderer {
    server: String,
    me: Option<String>,
    focus: Option<String>,
}

fn body(kind: MsgKind, nick: &str, text: &str) -> String {
    match kind {
        MsgKind::Action => format!("* {nick} {text}"),
        MsgKind::Say | MsgKind::Notice => text.to_string(),
    }
}

/// What a recipient other than the event's subject sees; the same bytes for
/// all of them, hence cached. Empty for events that show nothing.
fn render_shared(server: &str, ev: &Event) -> Bytes {
    match ev {
        Event::Message {
            from, kind, text, ..
        } => pair(&from.nick, &body(*kind, &from.nick, text)),
        Event::Joined { room, who } => pair(server, &format!("{} joined {room}", who.nick)),
        Event::Parted { room, who, reason } => match reason {
            Some(r) => pair(server, &format!("{} left {room} ({r})", who.nick)),
            None => pair(server, &format!("{} left {room}", who.nick)),
        },
        Event::Quit { who, reason } => pair(server, &format!("{} quit ({reason})", who.nick)),
        Event::NickChanged { old, who } => {
            pair(server, &format!("{old} is now known as {}", who.nick))
        }
        Event::TopicChanged { room, topic, by } => match topic {
            Some(t) => pair(
                server,
                &format!("{} set the topic of {room}: {}", by.nick, t.text),
            ),
            None => pair(server, &format!("{} cleared the topic of {room}", by.nick)),
        },
        _ => Bytes::new(),
    }
}

impl LenHeaderRenderer {
    fn is_me(&self, nick: &str) -> bool {
        self.me.as_deref().is_some_and(|m| same(m, nick))
    }

    fn focused(&self, room: &str) -> bool {
        self.focus.as_deref().is_some_and(|f| same(f, room))
    }

    fn shared(&self, shared: &Shared) -> Bytes {
        shared.rendered(Slot::LenHeader, |ev| render_shared(&self.server, ev))
    }
}

impl Renderer for LenHeaderRenderer {
    fn render(&mut self, shared: &Shared, out: &mut BytesMut) {
        if let Some(lines) = crate::envelope::one_per_line(shared) {
            for line in &lines {
                self.render(line, out);
            }
            return;
        }
        let server = self.server.as_str();
        let bytes = match shared.body() {
            Body::Raw(bytes) => bytes.clone(),
            Body::Irc(_) => return,
            Body::Event(ev) => match ev {
                // The tutorial's server never echoes; neither do we.
                Event::Message { from, .. } if self.is_me(&from.nick) => return,
                Event::Message {
                    to: MsgTarget::Room(room),
                    from,
                    kind,
                    text,
                    ..
                } => {
                    if self.focused(room) {
                        self.shared(shared)
                    } else {
                        pair(
                            &from.nick,
                            &format!("[{room}] {}", body(*kind, &from.nick, text)),
                        )
                    }
                }
                Event::Message {
                    to: MsgTarget::Status(to),
                    from,
                    kind,
                    text,
                    ..
                } => pair(
                    &from.nick,
                    &format!("[{to}] {}", body(*kind, &from.nick, text)),
                ),
                Event::Message {
                    to: MsgTarget::Nick(_),
                    from,
                    kind,
                    text,
                    ..
                } => pair(
                    &from.nick,
                    &format!("(private) {}", body(*kind, &from.nick, text)),
                ),
                Event::Welcome { nick, .. } => {
                    self.me = Some(nick.to_string());
                    return;
                }
                Event::Joined { who, .. } if self.is_me(&who.nick) => return,
                Event::Parted { room, who, .. } if self.is_me(&who.nick) => {
                    pair(server, &format!("you left {room}"))
                }
                Event::NickChanged { old, who } if self.is_me(old) => {
                    self.me = Some(who.nick.to_string());
                    pair(server, &format!("you are now known as {}", who.nick))
                }
                Event::Joined { .. }
                | Event::Parted { .. }
                | Event::Quit { .. }
                | Event::NickChanged { .. }
                | Event::TopicChanged { .. } => self.shared(shared),
                Event::Focus { room } => {
                    self.focus = room.as_ref().map(|r| r.to_string());
                    return;
                }
                Event::ReadMarker { .. } => return,
                Event::IsAway { nick, message } => {
                    pair(server, &format!("{nick} is away: {message}"))
                }
                Event::ServerNotice { text } => pair(server, text),
                Event::NickProtected { nick, grace_secs } => pair(
                    server,
                    crate::line::protected_warning(nick, *grace_secs, crate::line::ELSEWHERE_HOW)
                        .trim_start_matches("*** "),
                ),
                // Before registration the session explains problems itself
                // (refused names are retried, not reported).
                Event::Error(_) if self.me.is_none() => return,
                Event::Error(e) => pair(server, &format!("error: {e}")),
                Event::Closing { reason } => pair(server, &format!("Disconnected: {reason}")),
                // Replies to questions this dialect cannot ask.
                Event::History { room, lines } => {
                    // Only messages are shown: not topics, nor stored
                    // tag-only messages (reactions).
                    let lines: Vec<&Event> = lines
                        .iter()
                        .filter(|l| matches!(l, Event::Message { .. }))
                        .collect();
                    if lines.is_empty() {
                        return;
                    }
                    let mut all = BytesMut::new();
                    let n = lines.len();
                    let s = if n == 1 { "" } else { "s" };
                    all.put(pair(
                        server,
                        &format!("history of {room}: {n} earlier message{s}"),
                    ));
                    for line in lines {
                        if let Event::Message {
                            time,
                            from,
                            kind,
                            text,
                            ..
                        } = line
                        {
                            let text = chatroom_core::multiline::flat(text);
                            let body = body(*kind, &from.nick, &text);
                            all.put(pair(&from.nick, &format!("[{}] {body}", stamp(*time))));
                        }
                    }
                    all.put(pair(server, "end of history"));
                    all.freeze()
                }
                // Answers to questions this dialect cannot ask.
                Event::Found { .. }
                | Event::TopicIs { .. }
                | Event::Names { .. }
                | Event::RoomList { .. }
                | Event::WhoReply { .. }
                | Event::WhoisReply { .. }
                | Event::MonOnline(_)
                | Event::MonOffline(_)
                | Event::MonList(_)
                | Event::MonListFull { .. }
                | Event::AwayChanged { .. }
                | Event::ModeChanged { .. }
                | Event::RoomModes { .. }
                | Event::ModeList { .. }
                | Event::UserModes { .. }
                | Event::Invited { .. }
                | Event::YoureOper
                | Event::WhowasReply { .. }
                | Event::Lusers(_)
                | Event::TagMsg { .. }
                | Event::Redacted { .. }
                | Event::Watched(_)
                | Event::AwayStatus { .. }
                | Event::RealnameChanged { .. }
                | Event::AccountChanged { .. }
                | Event::HostChanged { .. }
                | Event::RoomReg(_)
                | Event::PastTopic { .. }
                | Event::InviteNotice { .. }
                | Event::Wallops { .. } => return,
                // Being removed from a room is news even where rooms cannot
                // be managed.
                Event::Kicked {
                    room,
                    by,
                    nick,
                    reason,
                } => pair(
                    server,
                    &format!("{} was removed from {room} by {} ({reason})", nick, by.nick),
                ),
            },
        };
        out.put(bytes);
    }
}

#[cfg(test)]
mod tests;
