//! What one buffer holds: its lines (scrollback), members, topic, unread
//! count, and the bookkeeping of its server history (what is being fetched,
//! msgids held, live lines waiting aside while older pages are shown).
//!
//! Plain data and the operations that keep it consistent by themselves
//! (dropping lines past the scrollback limit, noting msgids). It must not
//! know about IRC messages, the connection or other buffers: deciding what
//! goes into a buffer is the model's (`model.rs`) and the handlers'.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::time::Instant;

use chrono::{DateTime, Local};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BufferKind {
    /// Server notices, MOTD and connection messages. Always buffer 0.
    Server,
    Channel,
    /// A private conversation with one nick.
    Query,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub nick: String,
    /// Membership prefixes such as `@` and `+`, highest rank first.
    pub prefixes: String,
}

impl Member {
    /// The prefix to show in front of the nick, if any.
    pub fn prefix(&self) -> Option<char> {
        self.prefixes.chars().next()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub time: DateTime<Local>,
    pub kind: LineKind,
    /// The server's message id (message-tags), used to ask for history
    /// around this line and to drop a second copy of it.
    pub msgid: Option<String>,
    /// Replayed or fetched from the server's history rather than live.
    pub history: bool,
}

impl Line {
    /// A live line without msgid.
    pub fn new(time: DateTime<Local>, kind: LineKind) -> Line {
        Line {
            time,
            kind,
            msgid: None,
            history: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineKind {
    Message {
        nick: String,
        text: String,
        own: bool,
    },
    Action {
        nick: String,
        text: String,
        own: bool,
    },
    Notice {
        nick: String,
        text: String,
        own: bool,
    },
    Join {
        nick: String,
    },
    Part {
        nick: String,
        reason: Option<String>,
    },
    Kick {
        nick: String,
        by: String,
        reason: Option<String>,
    },
    Quit {
        nick: String,
        reason: Option<String>,
    },
    Nick {
        old: String,
        new: String,
    },
    Topic {
        nick: String,
        text: String,
    },
    Connected {
        server: String,
        nick: String,
    },
    Info(String),
    Error(String),
    /// A separator the client adds: where history starts and ends, the
    /// beginning of the room's history.
    Marker(String),
}

impl LineKind {
    /// Whether the line is something someone said (counts as unread).
    pub fn is_talk(&self) -> bool {
        matches!(
            self,
            LineKind::Message { .. } | LineKind::Action { .. } | LineKind::Notice { .. }
        )
    }

    /// Who said a talk line.
    pub fn nick(&self) -> Option<&str> {
        match self {
            LineKind::Message { nick, .. }
            | LineKind::Action { nick, .. }
            | LineKind::Notice { nick, .. } => Some(nick),
            _ => None,
        }
    }

    /// What a talk line said.
    pub fn text(&self) -> Option<&str> {
        match self {
            LineKind::Message { text, .. }
            | LineKind::Action { text, .. }
            | LineKind::Notice { text, .. } => Some(text),
            _ => None,
        }
    }

    /// The text of an event line, without timestamp or buffer; `None` for
    /// talk lines, whose layout depends on the renderer.
    pub fn event_text(&self) -> Option<String> {
        fn why(reason: &Option<String>) -> String {
            match reason {
                Some(r) if !r.is_empty() => format!(" ({r})"),
                _ => String::new(),
            }
        }
        Some(match self {
            LineKind::Message { .. } | LineKind::Action { .. } | LineKind::Notice { .. } => {
                return None;
            }
            LineKind::Join { nick } => format!("{nick} joined"),
            LineKind::Part { nick, reason } => format!("{nick} left{}", why(reason)),
            LineKind::Kick { nick, by, reason } => {
                format!("{nick} was kicked by {by}{}", why(reason))
            }
            LineKind::Quit { nick, reason } => format!("{nick} quit{}", why(reason)),
            LineKind::Nick { old, new } => format!("{old} is now known as {new}"),
            LineKind::Topic { nick, text } => format!("{nick} set the topic: {text}"),
            LineKind::Connected { server, nick } => format!("connected to {server} as {nick}"),
            LineKind::Info(text) | LineKind::Error(text) | LineKind::Marker(text) => text.clone(),
        })
    }
}

#[derive(Debug, Clone)]
pub struct Buffer {
    /// `#room`, a nick, or the server's address for the server buffer.
    pub name: String,
    pub kind: BufferKind,
    pub lines: VecDeque<Line>,
    /// Keyed by the nick folded under the server's case mapping
    /// (`State::fold`).
    pub members: BTreeMap<String, Member>,
    pub topic: Option<String>,
    /// Talk lines added while this was not the current buffer.
    pub unread: usize,
    /// Set when an unread line mentions us or is private.
    pub highlight: bool,
    /// Unread lines that mention us (or, in a private buffer, every one).
    pub mentions: usize,
    /// We are in the room (for channels).
    pub joined: bool,
    /// How many lines the view is scrolled up from the newest.
    pub scroll: usize,
    /// Join this room again after a reconnect.
    pub(super) rejoin: bool,
    /// The last NAMES reply ended; the next 353 starts a fresh list.
    pub(super) names_done: bool,
    /// Show the next complete NAMES list as a line (after a join or /names).
    pub(super) show_names: bool,
    /// Server history: what is being fetched, where it ends, msgids held.
    pub hist: BufHistory,
    /// The buffer's log was asked to be read back (once per buffer).
    pub(super) log_asked: bool,
}

impl Buffer {
    pub(super) fn new(name: &str, kind: BufferKind) -> Buffer {
        Buffer {
            name: name.to_string(),
            kind,
            lines: VecDeque::new(),
            members: BTreeMap::new(),
            topic: None,
            unread: 0,
            highlight: false,
            mentions: 0,
            joined: false,
            scroll: 0,
            rejoin: false,
            names_done: true,
            show_names: false,
            hist: BufHistory::default(),
            log_asked: false,
        }
    }
}

/// What is being fetched for a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fetch {
    /// The page before the oldest history line held.
    Older,
    /// The page after the newest line held (newer lines were unloaded).
    Newer,
    /// The latest page, replacing what is held (jump back to live).
    Latest,
}

/// A buffer's history bookkeeping; `history.rs` decides what to fetch
/// and where pages go.
#[derive(Debug, Clone, Default)]
pub struct BufHistory {
    /// Msgids of the lines held, to drop a second copy of a message.
    seen: HashSet<String>,
    /// The request in flight, and the page size it asked for.
    pub fetching: Option<(Fetch, usize)>,
    /// The server said there is nothing older (an empty page).
    pub at_beginning: bool,
    /// Lines newer than the newest held were dropped to bound memory.
    pub newer_unloaded: bool,
    /// Live lines that came while `newer_unloaded`, oldest first.
    pub(super) aside: VecDeque<Line>,
    /// When we joined, while the join replay is still due.
    pub(super) replay_due: Option<Instant>,
    /// A request was refused (FAIL): no more automatic requests.
    pub(super) failed: bool,
    /// Scrollback rows the user's view showed at the last scroll.
    pub(super) view: usize,
    /// The msgid to page back from when the last older page held only
    /// lines that are not shown (tag-only messages), so older than every
    /// line held.
    pub(super) older_than: Option<String>,
}

impl BufHistory {
    /// Whether a line with this msgid is held (or waiting aside).
    pub fn holds(&self, msgid: &str) -> bool {
        self.seen.contains(msgid)
    }

    pub(super) fn note(&mut self, line: &Line) {
        if let Some(id) = &line.msgid {
            self.seen.insert(id.clone());
        }
    }

    pub(super) fn forget(&mut self, line: &Line) {
        if let Some(id) = &line.msgid {
            self.seen.remove(id);
        }
    }

    /// Keeps a live line aside while newer lines are unloaded; the oldest
    /// is dropped past `limit` (it is in the server's history anyway).
    pub(super) fn wait_aside(&mut self, line: Line, limit: usize) {
        self.note(&line);
        self.aside.push_back(line);
        while self.aside.len() > limit {
            if let Some(old) = self.aside.pop_front() {
                self.forget(&old);
            }
        }
    }

    /// Live talk arrived in the room: the join replay is over.
    pub(super) fn replay_over(&mut self) {
        self.replay_due = None;
    }

    pub(super) fn on_disconnect(&mut self) {
        self.fetching = None;
        self.replay_due = None;
    }

    pub(super) fn on_clear(&mut self) {
        let fetching = self.fetching;
        *self = BufHistory {
            fetching,
            ..BufHistory::default()
        };
    }
}

impl Buffer {
    /// Drops the oldest lines past `limit` (scrolling up fetches them
    /// again) and keeps the scroll offset in range.
    pub(super) fn trim_front(&mut self, limit: usize) {
        while self.lines.len() > limit {
            if let Some(old) = self.lines.pop_front() {
                self.hist.forget(&old);
                self.hist.at_beginning = false;
            }
        }
        self.scroll = self.scroll.min(self.lines.len().saturating_sub(1));
    }
}
