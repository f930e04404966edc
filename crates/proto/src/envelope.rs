//! What travels on a connection's outbound queue: a hub event shared by all
//! its recipients with the encodings rendered so far, or something a
//! session queues for its own connection only (bytes, an IRC renderer
//! instruction), kept in order with the hub's replies.
//!
//! The render cache is how a message to a room of a thousand is formatted
//! once per protocol variant rather than a thousand times: the first
//! recipient of each [`Slot`] renders the bytes, every later one reuses
//! them. The slots are one enum, so two protocols can never pick the same
//! one by accident.
//!
//! Must not render anything itself nor know what an event means.

use std::sync::{Arc, OnceLock};

use bytes::{Bytes, BytesMut};
use chatroom_core::Event;

use crate::irc::render::Local;

/// What one queue entry carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// An event from the hub, or a hub-style reply a session tells its own
    /// connection.
    Event(Event),
    /// Bytes a session queues for its own connection (a prompt, a PONG).
    Raw(Bytes),
    /// An IRC session's instruction to its own renderer (a reply that
    /// needs state only the renderer has). Other renderers ignore it.
    Irc(Local),
}

impl From<Event> for Body {
    fn from(event: Event) -> Body {
        Body::Event(event)
    }
}

impl From<Bytes> for Body {
    fn from(bytes: Bytes) -> Body {
        Body::Raw(bytes)
    }
}

impl From<Local> for Body {
    fn from(local: Local) -> Body {
        Body::Irc(local)
    }
}

/// One encoding an event can be cached under: a protocol and the variant
/// of it that changes the bytes. Two renderings under the same slot must
/// produce the same bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// Line protocol: a message in the recipient's focused room…
    LineFocused,
    /// …or in another room (marked `[#room]`), and other shared lines.
    LineOtherRoom,
    /// IRC: a line that clients with the same `server-time` (`time`) and
    /// the one other capability that changes that kind of line (`second`:
    /// `message-tags` for PRIVMSG/NOTICE/TAGMSG, `extended-join` for JOIN)
    /// receive identically.
    Irc { time: bool, second: bool },
    /// IRC: a message from a logged-in sender to a client with
    /// `account-tag` (`@account=`), with or without `server-time` and
    /// `message-tags`.
    IrcAccount { time: bool, tagged: bool },
    /// The length-header tutorial dialect.
    LenHeader,
    /// The NICK-handshake tutorial dialect.
    Nick,
}

impl Slot {
    /// How many distinct slots there are.
    pub const COUNT: usize = 12;

    #[inline]
    fn index(self) -> usize {
        let bits = |a: bool, b: bool| usize::from(a) + 2 * usize::from(b);
        match self {
            Slot::LineFocused => 0,
            Slot::LineOtherRoom => 1,
            Slot::Irc { time, second } => 2 + bits(time, second),
            Slot::LenHeader => 6,
            Slot::Nick => 7,
            Slot::IrcAccount { time, tagged } => 8 + bits(time, tagged),
        }
    }
}

/// A queue entry and the bytes each protocol variant rendered it to.
#[derive(Debug)]
pub struct Envelope {
    body: Body,
    cache: [OnceLock<Bytes>; Slot::COUNT],
}

/// What each recipient's queue holds: cheap to clone, never copied.
pub type Shared = Arc<Envelope>;

impl Envelope {
    pub fn new(body: impl Into<Body>) -> Shared {
        Arc::new(Envelope {
            body: body.into(),
            cache: Default::default(),
        })
    }

    #[inline]
    pub fn body(&self) -> &Body {
        &self.body
    }

    /// The hub event this carries, if it carries one.
    #[inline]
    pub fn event(&self) -> Option<&Event> {
        match &self.body {
            Body::Event(event) => Some(event),
            _ => None,
        }
    }

    /// The bytes for `slot`, rendered with `render` the first time. Only
    /// events are cached (anything else is for one connection): for other
    /// bodies this is empty.
    /// Appends the bytes for `slot` to `out`, rendering them with `render`
    /// the first time. What every recipient after the first does: a copy
    /// out of the shared cache, with no reference count touched (a `Bytes`
    /// clone and drop per delivery is two atomic operations on a cache line
    /// every recipient's writer shares).
    #[inline]
    pub fn render_into(
        &self,
        slot: Slot,
        out: &mut BytesMut,
        render: impl FnOnce(&Event) -> Bytes,
    ) {
        let Body::Event(event) = &self.body else {
            return;
        };
        match self.cache.get(slot.index()) {
            Some(cell) => out.extend_from_slice(cell.get_or_init(|| render(event))),
            None => out.extend_from_slice(&render(event)),
        }
    }

    #[inline]
    pub fn rendered(&self, slot: Slot, render: impl FnOnce(&Event) -> Bytes) -> Bytes {
        let Body::Event(event) = &self.body else {
            return Bytes::new();
        };
        match self.cache.get(slot.index()) {
            Some(cell) => cell.get_or_init(|| render(event)).clone(),
            None => render(event),
        }
    }
}

/// A message of several lines ([`chatroom_core::multiline`]) as the
/// plain-text protocols show it: one message per non-blank line as the
/// reader sees them (continued lines joined), each in an envelope of its
/// own, so every path of those renderers handles one line as ever. `None`
/// for anything else.
pub fn one_per_line(shared: &Shared) -> Option<Vec<Shared>> {
    let Body::Event(ev @ Event::Message { text, .. }) = shared.body() else {
        return None;
    };
    if !chatroom_core::multiline::is_multi(text) {
        return None;
    }
    Some(
        chatroom_core::multiline::read_lines(text)
            .into_iter()
            .map(|line| {
                let mut one = ev.clone();
                if let Event::Message { text, .. } = &mut one {
                    *text = line.into();
                }
                Envelope::new(one)
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_slot() -> Vec<Slot> {
        let mut all = vec![
            Slot::LineFocused,
            Slot::LineOtherRoom,
            Slot::LenHeader,
            Slot::Nick,
        ];
        for a in [false, true] {
            for b in [false, true] {
                all.push(Slot::Irc { time: a, second: b });
                all.push(Slot::IrcAccount { time: a, tagged: b });
            }
        }
        all
    }

    #[test]
    fn every_slot_has_a_cell_of_its_own() {
        let all = every_slot();
        let mut seen: Vec<usize> = all.iter().map(|s| s.index()).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), all.len(), "two slots share a cell");
        assert_eq!(seen.len(), Slot::COUNT);
        assert!(seen.iter().all(|&i| i < Slot::COUNT));
    }

    #[test]
    fn an_event_renders_once_per_slot() {
        let env = Envelope::new(Event::ServerNotice { text: "hi".into() });
        let mut calls = 0;
        let a = env.rendered(Slot::Nick, |_| {
            calls += 1;
            Bytes::from_static(b"x")
        });
        let b = env.rendered(Slot::Nick, |_| {
            calls += 1;
            Bytes::from_static(b"y")
        });
        assert_eq!((a.as_ref(), b.as_ref(), calls), (&b"x"[..], &b"x"[..], 1));
        let c = env.rendered(Slot::LenHeader, |_| Bytes::from_static(b"z"));
        assert_eq!(c, Bytes::from_static(b"z"));
    }

    #[test]
    fn bytes_for_one_connection_are_never_cached() {
        let env = Envelope::new(Bytes::from_static(b"PONG\r\n"));
        assert!(env.event().is_none());
        assert!(
            env.rendered(Slot::Nick, |_| Bytes::from_static(b"x"))
                .is_empty()
        );
    }
}
