//! The NICK-handshake tutorial dialect: the chat of the classic "Python
//! threads chat room" tutorial, so its client program works unchanged.
//!
//! On connect the server sends the four bytes `NICK`, alone, and nothing
//! else until the client answers with its nickname (the client compares a
//! whole `recv` to `'NICK'`). Then, like the tutorial's server:
//! `<nick> joined!` goes to everyone in the room (the newcomer too), then
//! `Connected to server!` to the newcomer; every message is relayed to
//! everyone, the sender included, as `nick: text`; a departure is
//! `<nick> left!`. Beyond the tutorial: actions are `* nick waves`, nick
//! changes `old is now known as new`, messages from rooms other than the
//! client's current one are prefixed `[#room] `, private ones `[private] `.
//! People on every other protocol appear the same way.
//!
//! Output framing: the tutorial has none, so a message sent on its own is
//! sent without a line ending, exactly as the tutorial's server does. When
//! several messages leave in one write (the writer coalesces whatever is
//! queued), they are separated by `\n`, so the client, which prints each
//! `recv` as it comes, shows them as separate lines. Messages written
//! separately can still reach the client in one `recv` (nothing at this end
//! can prevent that); then they print run together, as with the tutorial's
//! own server.
//!
//! Everything sent is printable ASCII (see [`codec::fold_ascii`]): the
//! client decodes strictly as ASCII and its receive thread dies on anything
//! else. Input is cut into messages by [`codec::Chunker`]; the `nick: `
//! prefix the client writes is stripped. The nickname is adjusted when
//! invalid or taken, since the client cannot be asked again (see
//! [`crate::dialect`]).
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

use self::codec::fold_ascii;
use super::past::stamp;

pub fn renderer(_cfg: &Config) -> NickRenderer {
    NickRenderer::default()
}

pub fn raw(text: &str) -> Bytes {
    ascii(text)
}

/// Renders events as the tutorial's lines, in ASCII. Remembers the
/// recipient's nickname and current room, learned from the events.
#[derive(Debug, Default)]
pub struct NickRenderer {
    me: Option<String>,
    focus: Option<String>,
}

/// Printable ASCII for the tutorial client, with no control sequence and
/// no IRC formatting (see `crate::terminal`).
fn ascii(text: &str) -> Bytes {
    Bytes::from(fold_ascii(&for_terminal(text, false)))
}

fn message_line(kind: MsgKind, nick: &str, text: &str) -> String {
    match kind {
        MsgKind::Say => format!("{nick}: {text}"),
        MsgKind::Action => format!("* {nick} {text}"),
        MsgKind::Notice => format!("-{nick}- {text}"),
    }
}

/// How a room event looks in the recipient's current room: the same for
/// everyone, hence cached.
fn render_home(ev: &Event) -> Bytes {
    match ev {
        Event::Message {
            from, kind, text, ..
        } => ascii(&message_line(*kind, &from.nick, text)),
        Event::Joined { who, .. } => ascii(&format!("{} joined!", who.nick)),
        Event::Parted { who, .. } | Event::Quit { who, .. } => {
            ascii(&format!("{} left!", who.nick))
        }
        Event::NickChanged { old, who } => ascii(&format!("{old} is now known as {}", who.nick)),
        Event::TopicChanged { room, topic, by } => match topic {
            Some(t) => ascii(&format!("{} set the topic of {room}: {}", by.nick, t.text)),
            None => ascii(&format!("{} cleared the topic of {room}", by.nick)),
        },
        _ => Bytes::new(),
    }
}

impl NickRenderer {
    fn is_me(&self, nick: &str) -> bool {
        self.me.as_deref().is_some_and(|m| same(m, nick))
    }

    /// The room this client's lines go to. Before the hub names it (a
    /// newcomer's own join comes just before), the room at hand counts.
    fn home(&self, room: &str) -> bool {
        self.focus.as_deref().is_none_or(|f| same(f, room))
    }
}

impl Renderer for NickRenderer {
    fn render(&mut self, shared: &Shared, out: &mut BytesMut) {
        if let Some(lines) = crate::envelope::one_per_line(shared) {
            for line in &lines {
                self.render(line, out);
            }
            return;
        }
        let bytes = match shared.body() {
            Body::Raw(bytes) => bytes.clone(),
            Body::Irc(_) => return,
            Body::Event(ev) => match ev {
                Event::Message {
                    to: MsgTarget::Room(room),
                    from,
                    kind,
                    text,
                    ..
                } => {
                    if self.home(room) {
                        shared.rendered(Slot::Nick, render_home)
                    } else {
                        ascii(&format!(
                            "[{room}] {}",
                            message_line(*kind, &from.nick, text)
                        ))
                    }
                }
                Event::Message {
                    to: MsgTarget::Status(to),
                    from,
                    kind,
                    text,
                    ..
                } => ascii(&format!("[{to}] {}", message_line(*kind, &from.nick, text))),
                Event::Message {
                    to: MsgTarget::Nick(to),
                    from,
                    kind,
                    text,
                    ..
                } => {
                    if self.is_me(&from.nick) && !self.is_me(to) {
                        ascii(&format!(
                            "[private to {to}] {}",
                            message_line(*kind, &from.nick, text)
                        ))
                    } else {
                        ascii(&format!(
                            "[private] {}",
                            message_line(*kind, &from.nick, text)
                        ))
                    }
                }
                Event::Welcome { nick, .. } => {
                    self.me = Some(nick.to_string());
                    return;
                }
                Event::Joined { room, who } if !self.home(room) => {
                    ascii(&format!("{} joined {room}!", who.nick))
                }
                Event::Parted { room, who, .. } if !self.home(room) => {
                    ascii(&format!("{} left {room}!", who.nick))
                }
                Event::NickChanged { old, who } => {
                    if self.is_me(old) {
                        self.me = Some(who.nick.to_string());
                    }
                    shared.rendered(Slot::Nick, render_home)
                }
                Event::Joined { .. }
                | Event::Parted { .. }
                | Event::Quit { .. }
                | Event::TopicChanged { .. } => shared.rendered(Slot::Nick, render_home),
                Event::Focus { room } => {
                    self.focus = room.as_ref().map(|r| r.to_string());
                    return;
                }
                Event::ReadMarker { .. } => return,
                Event::IsAway { nick, message } => ascii(&format!("{nick} is away: {message}")),
                Event::ServerNotice { text } => ascii(&format!("Server: {text}")),
                Event::NickProtected { nick, grace_secs } => ascii(&format!(
                    "Server: {}",
                    crate::line::protected_warning(nick, *grace_secs, crate::line::ELSEWHERE_HOW)
                        .trim_start_matches("*** ")
                )),
                // Before the nickname is settled only NICK may be seen; the
                // session retries refused names itself.
                Event::Error(_) if self.me.is_none() => return,
                Event::Error(e) => ascii(&format!("Error: {e}")),
                Event::Closing { reason } => ascii(&format!("Disconnected: {reason}")),
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
                    let n = lines.len();
                    let s = if n == 1 { "" } else { "s" };
                    // Folded to ASCII line by line: folding would turn the line
                    // breaks between them into `?`.
                    let mut all = BytesMut::new();
                    all.put(ascii(&format!(
                        "--- history of {room}: {n} earlier message{s} ---"
                    )));
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
                            all.put_u8(b'\n');
                            all.put(ascii(&format!(
                                "[{}] {}",
                                stamp(*time),
                                message_line(*kind, &from.nick, &text)
                            )));
                        }
                    }
                    all.put_slice(b"\n--- end of history ---");
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
                } => ascii(&format!(
                    "{nick} was removed from {room} by {} ({reason})",
                    by.nick
                )),
            },
        };
        if bytes.is_empty() {
            return;
        }
        // Separates messages that leave in the same write; see module docs.
        if !out.is_empty() {
            out.put_u8(b'\n');
        }
        out.put(bytes);
    }
}

#[cfg(test)]
mod tests;
