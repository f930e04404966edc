//! The client's pure state model: buffers (the server buffer, rooms and
//! private conversations), their scrollback, member lists and unread counts,
//! the registration handshake, and how each parsed IRC message, connection
//! event or user command changes them. Server history (the join replay,
//! pages fetched while scrolling, /search) is in `state/history.rs`.
//!
//! Everything here is a plain function of its inputs — the current time is
//! passed in as [`Now`] — so it can be tested without a network, a clock or a
//! terminal. It must not do I/O, read the clock, spawn tasks, or know about
//! ratatui or crossterm. What it wants sent to the server it returns as
//! [`Message`]s (or [`Effect`]s) for the caller to write. It must never panic
//! on a malformed or hostile server line: missing parameters read as "".

mod history;
#[cfg(test)]
mod history_tests;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use chrono::{DateTime, Local, TimeZone};

use super::command::{Command, HELP};
use chatroom_proto::irc::message::Message;

pub use history::{BufHistory, Fetch};

/// Lines kept per buffer by default (`--scrollback`); older ones are dropped
/// so a long-running client's memory stays bounded. Older history dropped
/// this way is fetched again when the user scrolls back up to it.
pub const SCROLLBACK_LIMIT: usize = 5000;

/// Lines asked for per `CHATHISTORY` page by default (`--history-page`);
/// servers cut it to their own `CHATHISTORY=` maximum.
pub const HISTORY_PAGE: usize = 100;

/// Capabilities we ask for when the server offers them. server-time gives
/// correct timestamps for replayed history; batch frames the join replay
/// and history pages; message-tags brings the msgids that history pages
/// are asked relative to and duplicates are recognised by; echo-message
/// gives our own lines their msgid too (they are then shown when the server
/// echoes them, not when typed); draft/chathistory fetches older pages;
/// multi-prefix only changes how NAMES/WHO show prefixes, which we parse
/// either way. Any subset works: each is used only when the server agreed.
const WANTED_CAPS: &[&str] = &[
    "server-time",
    "multi-prefix",
    "batch",
    "message-tags",
    "echo-message",
    "draft/chathistory",
];

/// Refused nicks tried automatically during registration before asking the
/// user, so a server that refuses everything cannot keep us looping.
const MAX_NICK_TRIES: u32 = 20;

/// The two clocks a transition may need: monotonic for lag, wall for
/// timestamps. Passed in so tests can fix them.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    pub instant: Instant,
    pub local: DateTime<Local>,
}

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

/// Where an event belongs, for the plain line mode's one-line-per-event
/// output (which does not mirror buffers: a nick change is printed once even
/// though it is added to every shared room).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Room(String),
    /// A conversation with this nick.
    Private(String),
    Global,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub scope: Scope,
    pub line: Line,
}

#[derive(Debug, Clone)]
pub struct Buffer {
    /// `#room`, a nick, or the server's address for the server buffer.
    pub name: String,
    pub kind: BufferKind,
    pub lines: VecDeque<Line>,
    /// Keyed by the lower-cased nick.
    pub members: BTreeMap<String, Member>,
    pub topic: Option<String>,
    /// Talk lines added while this was not the current buffer.
    pub unread: usize,
    /// Set when an unread line mentions us or is private.
    pub highlight: bool,
    /// We are in the room (for channels).
    pub joined: bool,
    /// How many lines the view is scrolled up from the newest.
    pub scroll: usize,
    /// Join this room again after a reconnect.
    rejoin: bool,
    /// The last NAMES reply ended; the next 353 starts a fresh list.
    names_done: bool,
    /// Show the next complete NAMES list as a line (after a join or /names).
    show_names: bool,
    /// Server history: what is being fetched, where it ends, msgids held.
    pub hist: BufHistory,
}

impl Buffer {
    fn new(name: &str, kind: BufferKind) -> Buffer {
        Buffer {
            name: name.to_string(),
            kind,
            lines: VecDeque::new(),
            members: BTreeMap::new(),
            topic: None,
            unread: 0,
            highlight: false,
            joined: false,
            scroll: 0,
            rejoin: false,
            names_done: true,
            show_names: false,
            hist: BufHistory::default(),
        }
    }
}

/// The state of the link to the server, for the status line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    Connecting,
    /// TCP is up; NICK/USER sent, waiting for 001.
    Registering,
    Registered,
    Disconnected {
        retry_in: Option<Duration>,
    },
}

/// Something the driver must do on behalf of a user command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Send(Message),
    /// Send QUIT with this reason, close the connection and exit.
    Quit(String),
    /// Measure lag now and report it.
    LagPing,
}

#[derive(Debug, Default)]
struct Caps {
    negotiating: bool,
    offered: Vec<String>,
    enabled: Vec<String>,
    /// CAP REQs sent and not yet answered; CAP END goes once none are.
    pending: usize,
}

pub struct State {
    /// The server as the user gave it (`host:port`).
    pub server: String,
    /// The server's own name, from the source of 001.
    pub server_name: Option<String>,
    /// Our nick: the one the server knows once registered, the one we will
    /// ask for before that.
    pub nick: String,
    pub buffers: Vec<Buffer>,
    pub current: usize,
    pub link: Link,
    pub lag: Option<Duration>,
    pub away: Option<String>,
    /// Keep an [`Event`] per added line for [`State::take_events`] (plain mode).
    pub record_events: bool,
    events: Vec<Event>,
    caps: Caps,
    nick_tries: u32,
    /// (mode letter, prefix symbol), highest rank first, from ISUPPORT PREFIX.
    prefixes: Vec<(char, char)>,
    /// ISUPPORT CHANMODES groups A..D: which modes take an argument.
    chanmodes: [String; 4],
    chantypes: String,
    ping: Option<(String, Instant, bool)>,
    ping_seq: u64,
    /// Lower-cased rooms the user asked to join: switch to them on arrival.
    switch_on_join: Vec<String>,
    /// Lines kept per buffer (see [`SCROLLBACK_LIMIT`]).
    pub scrollback_limit: usize,
    /// Lines asked for per history page (see [`HISTORY_PAGE`]).
    pub history_page: usize,
    /// Open `chathistory` batches by reference: their target and lines.
    batches: HashMap<String, history::OpenBatch>,
    /// The room a `/search` was sent for, and whether its answer started.
    search: Option<history::Search>,
}

impl State {
    pub fn new(server: &str, nick: &str, room: Option<&str>) -> State {
        let mut state = State {
            server: server.to_string(),
            server_name: None,
            nick: nick.to_string(),
            buffers: vec![Buffer::new(server, BufferKind::Server)],
            current: 0,
            link: Link::Connecting,
            lag: None,
            away: None,
            record_events: false,
            events: Vec::new(),
            caps: Caps::default(),
            nick_tries: 0,
            prefixes: vec![('q', '~'), ('a', '&'), ('o', '@'), ('h', '%'), ('v', '+')],
            chanmodes: [
                "beI".to_string(),
                "k".to_string(),
                "l".to_string(),
                "imnpst".to_string(),
            ],
            chantypes: "#&".to_string(),
            ping: None,
            ping_seq: 0,
            switch_on_join: Vec::new(),
            scrollback_limit: SCROLLBACK_LIMIT,
            history_page: HISTORY_PAGE,
            batches: HashMap::new(),
            search: None,
        };
        // The first room exists (and is current) from the start, marked to
        // be joined on registration, so lines typed before the server has
        // answered go to it rather than to the server buffer.
        if let Some(room) = room.map(str::trim).filter(|r| !r.is_empty()) {
            let name = state.channel_name(room);
            let i = state.ensure_buffer(&name, BufferKind::Channel);
            state.buffers[i].rejoin = true;
            state.current = i;
        }
        state
    }

    pub fn is_registered(&self) -> bool {
        self.link == Link::Registered
    }

    pub fn current_buffer(&self) -> &Buffer {
        // `current` is kept in range by every method that changes buffers.
        &self.buffers[self.current.min(self.buffers.len() - 1)]
    }

    /// The events recorded since the last call (when `record_events`).
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    pub fn is_channel(&self, name: &str) -> bool {
        name.chars()
            .next()
            .is_some_and(|c| self.chantypes.contains(c))
    }

    /// A room name as the user typed it, with `#` added when it has no
    /// channel prefix (`/join lobby` means `#lobby`).
    pub fn channel_name(&self, name: &str) -> String {
        if self.is_channel(name) {
            name.to_string()
        } else {
            format!("#{name}")
        }
    }

    pub fn find_buffer(&self, name: &str) -> Option<usize> {
        let key = irc_lower(name);
        self.buffers.iter().position(|b| irc_lower(&b.name) == key)
    }

    fn ensure_buffer(&mut self, name: &str, kind: BufferKind) -> usize {
        if let Some(i) = self.find_buffer(name) {
            return i;
        }
        self.buffers.push(Buffer::new(name, kind));
        self.buffers.len() - 1
    }

    /// Makes buffer `i` current and marks it read.
    pub fn switch_to(&mut self, i: usize) {
        if let Some(b) = self.buffers.get_mut(i) {
            b.unread = 0;
            b.highlight = false;
            self.current = i;
        }
    }

    pub fn next_buffer(&mut self) {
        let n = self.buffers.len();
        self.switch_to((self.current + 1) % n);
    }

    pub fn prev_buffer(&mut self) {
        let n = self.buffers.len();
        self.switch_to((self.current + n - 1) % n);
    }

    /// Members of buffer `i`, ops first, then by name.
    pub fn sorted_members(&self, i: usize) -> Vec<&Member> {
        let Some(b) = self.buffers.get(i) else {
            return Vec::new();
        };
        let rank = |m: &Member| {
            m.prefix()
                .and_then(|p| self.prefixes.iter().position(|&(_, s)| s == p))
                .unwrap_or(self.prefixes.len())
        };
        let mut members: Vec<&Member> = b.members.values().collect();
        members.sort_by(|a, b| {
            rank(a)
                .cmp(&rank(b))
                .then_with(|| irc_lower(&a.nick).cmp(&irc_lower(&b.nick)))
        });
        members
    }

    /// Adds a line to buffer `i`; `scope` says whether (and how) plain mode
    /// prints it.
    fn push(&mut self, i: usize, kind: LineKind, time: DateTime<Local>, scope: Option<Scope>) {
        self.push_line(i, Line::new(time, kind), scope);
    }

    /// Adds a built line to buffer `i` (see [`State::push`]). A line whose
    /// msgid the buffer already holds is dropped (the same message seen in
    /// the replay and live). While newer lines are unloaded (the user paged
    /// far back) live lines wait aside until the view catches up.
    fn push_line(&mut self, i: usize, line: Line, scope: Option<Scope>) {
        let i = i.min(self.buffers.len() - 1);
        if let Some(id) = &line.msgid
            && self.buffers[i].hist.holds(id)
        {
            return;
        }
        let mention = match &line.kind {
            LineKind::Message { text, own, .. }
            | LineKind::Action { text, own, .. }
            | LineKind::Notice { text, own, .. } => {
                !own && irc_lower(text).contains(&irc_lower(&self.nick))
            }
            _ => false,
        };
        let talk = line.kind.is_talk();
        if self.record_events
            && let Some(scope) = scope
        {
            self.events.push(Event {
                scope,
                line: line.clone(),
            });
        }
        let current = self.current;
        let limit = self.scrollback_limit.max(1);
        let b = &mut self.buffers[i];
        if b.hist.newer_unloaded {
            b.hist.wait_aside(line, limit);
        } else {
            b.hist.note(&line);
            b.lines.push_back(line);
            if b.scroll > 0 {
                // Keep the view still while the user reads older lines.
                b.scroll += 1;
            }
            b.trim_front(limit);
        }
        if i != current && talk {
            b.unread += 1;
            if mention || b.kind == BufferKind::Query {
                b.highlight = true;
            }
        }
    }

    fn scope_of(&self, i: usize) -> Scope {
        match self.buffers.get(i) {
            Some(b) if b.kind == BufferKind::Channel => Scope::Room(b.name.clone()),
            Some(b) if b.kind == BufferKind::Query => Scope::Private(b.name.clone()),
            _ => Scope::Global,
        }
    }

    /// Adds a line to buffer `i`, scoped as that buffer.
    fn push_to(&mut self, i: usize, kind: LineKind, time: DateTime<Local>) {
        let scope = self.scope_of(i);
        self.push(i, kind, time, Some(scope));
    }

    /// A status or error line in the current buffer (replies to commands).
    pub fn info(&mut self, text: impl Into<String>, now: Now) {
        self.push(
            self.current,
            LineKind::Info(text.into()),
            now.local,
            Some(Scope::Global),
        );
    }

    pub fn error(&mut self, text: impl Into<String>, now: Now) {
        self.push(
            self.current,
            LineKind::Error(text.into()),
            now.local,
            Some(Scope::Global),
        );
    }

    fn server_info(&mut self, text: impl Into<String>, time: DateTime<Local>) {
        self.push(0, LineKind::Info(text.into()), time, Some(Scope::Global));
    }

    // ----- connection lifecycle -------------------------------------------

    pub fn on_connecting(&mut self, attempt: u32, now: Now) {
        self.link = Link::Connecting;
        let text = if attempt > 1 {
            format!("connecting to {} (attempt {attempt})", self.server)
        } else {
            format!("connecting to {}", self.server)
        };
        self.server_info(text, now.local);
    }

    /// TCP is up: starts registration. Returns the lines to send.
    pub fn on_connected(&mut self, peer: &str, now: Now) -> Vec<Message> {
        self.link = Link::Registering;
        self.caps = Caps {
            negotiating: true,
            ..Caps::default()
        };
        self.nick_tries = 0;
        self.server_info(format!("connected to {peer}, registering"), now.local);
        let user = user_name(&self.nick);
        vec![
            Message::new("CAP", &["LS", "302"]),
            Message::new("NICK", &[&self.nick]),
            Message::new("USER", &[&user, "0", "*", "chatroom user"]),
        ]
    }

    /// The connection is gone; `retry_in` is when the next attempt starts.
    /// Scrollback stays; rooms we were in are remembered for rejoining.
    pub fn on_disconnected(&mut self, reason: &str, retry_in: Option<Duration>, now: Now) {
        let was_up = !matches!(self.link, Link::Disconnected { .. });
        self.link = Link::Disconnected { retry_in };
        self.lag = None;
        self.ping = None;
        self.caps.negotiating = false;
        self.batches.clear();
        self.search = None;
        let text = match retry_in {
            Some(d) => format!(
                "disconnected from {}: {reason}; reconnecting in {}s",
                self.server,
                d.as_secs().max(1)
            ),
            None => format!("disconnected from {}: {reason}", self.server),
        };
        for b in &mut self.buffers {
            if b.kind == BufferKind::Channel {
                b.rejoin |= b.joined;
                b.joined = false;
                b.members.clear();
                b.names_done = true;
            }
            b.hist.on_disconnect();
        }
        // Repeated failed attempts only need telling where the user looks.
        let targets: Vec<usize> = if was_up {
            (0..self.buffers.len()).collect()
        } else if self.current != 0 {
            vec![0, self.current]
        } else {
            vec![0]
        };
        for (n, i) in targets.into_iter().enumerate() {
            let scope = (n == 0).then_some(Scope::Global);
            self.push(i, LineKind::Error(text.clone()), now.local, scope);
        }
    }

    // ----- lag ---------------------------------------------------------------

    /// A PING to measure lag with, when registered. `report` shows the result
    /// as a line (on-demand measurements) besides the status line.
    pub fn lag_ping(&mut self, now: Now, report: bool) -> Option<Message> {
        if !self.is_registered() {
            return None;
        }
        self.ping_seq += 1;
        let token = format!("lag{}", self.ping_seq);
        let msg = Message::new("PING", &[&token]);
        self.ping = Some((token, now.instant, report));
        Some(msg)
    }

    /// How long the last lag PING has gone unanswered.
    pub fn ping_outstanding(&self, now: Now) -> Option<Duration> {
        self.ping
            .as_ref()
            .map(|(_, sent, _)| now.instant.saturating_duration_since(*sent))
    }

    // ----- messages from the server -------------------------------------------

    /// Applies one message from the server. Returns the replies to send.
    pub fn handle_message(&mut self, msg: &Message, now: Now) -> Vec<Message> {
        let time = message_time(msg, now.local);
        let from = msg.source_nick().unwrap_or("").to_string();
        if self.take_batched(msg, &from, time) {
            return Vec::new();
        }
        match msg.command.as_str() {
            "BATCH" => self.on_batch(msg, now),
            "FAIL" if msg.param(0).eq_ignore_ascii_case("CHATHISTORY") => {
                self.on_history_fail(msg, time)
            }
            "PING" => {
                let params: Vec<&str> = msg.params.iter().map(String::as_str).collect();
                return vec![Message::new("PONG", &params)];
            }
            "PONG" => self.on_pong(msg, now),
            "CAP" => return self.on_cap(msg),
            "001" => return self.on_welcome(msg, time),
            "005" => self.on_isupport(msg),
            "433" | "437" | "432" => return self.on_nick_error(msg, time, now),
            "JOIN" => self.on_join(msg, &from, time, now),
            "PART" => {
                let chan = msg.param(0).split(',').next().unwrap_or("").to_string();
                let reason = non_empty(msg.param(1));
                self.on_leave(&chan, &from, time, |nick| LineKind::Part {
                    nick,
                    reason: reason.clone(),
                });
            }
            "KICK" => {
                let by = from.clone();
                let reason = non_empty(msg.param(2));
                self.on_leave(msg.param(0), msg.param(1), time, |nick| LineKind::Kick {
                    nick,
                    by: by.clone(),
                    reason: reason.clone(),
                });
            }
            "QUIT" => self.on_quit(&from, non_empty(msg.param(0)), time),
            "NICK" => self.on_nick(&from, msg.param(0), time),
            "PRIVMSG" => return self.on_talk(msg, &from, false, time),
            "NOTICE" => {
                if self.search_notice(msg, &from, time) {
                    return Vec::new();
                }
                return self.on_talk(msg, &from, true, time);
            }
            "TOPIC" => {
                let chan = msg.param(0);
                if let Some(i) = self.find_buffer(chan) {
                    let text = clean_text(msg.param(1));
                    self.buffers[i].topic = non_empty(&text);
                    self.push_to(i, LineKind::Topic { nick: from, text }, time);
                }
            }
            "MODE" => self.on_mode(msg, &from, time),
            "INVITE" => {
                let text = format!("{from} invites you to {}", msg.param(1));
                self.push(
                    self.current,
                    LineKind::Info(text),
                    time,
                    Some(Scope::Global),
                );
            }
            "ERROR" => {
                let text = format!("server closed the link: {}", clean_text(msg.param(0)));
                self.push(0, LineKind::Error(text), time, Some(Scope::Global));
            }
            cmd if cmd.len() == 3 && cmd.bytes().all(|b| b.is_ascii_digit()) => {
                self.on_numeric(msg, time)
            }
            _ => {
                let text = clean_text(&msg.to_string());
                self.push(0, LineKind::Info(text), time, Some(Scope::Global));
            }
        }
        Vec::new()
    }

    fn on_pong(&mut self, msg: &Message, now: Now) {
        let token = msg.params.last().map(String::as_str).unwrap_or("");
        let matches = self.ping.as_ref().is_some_and(|(t, _, _)| t == token);
        if !matches {
            return;
        }
        if let Some((_, sent, report)) = self.ping.take() {
            let lag = now.instant.saturating_duration_since(sent);
            self.lag = Some(lag);
            if report {
                self.info(format!("lag: {}", format_lag(lag)), now);
            }
        }
    }

    fn on_cap(&mut self, msg: &Message) -> Vec<Message> {
        let sub = msg.param(1).to_ascii_uppercase();
        let list = msg.params.last().map(String::as_str).unwrap_or("");
        let caps = list
            .split(' ')
            .filter(|c| !c.is_empty())
            .map(|c| c.split('=').next().unwrap_or(c).to_string());
        match sub.as_str() {
            "LS" => {
                self.caps.offered.extend(caps);
                // `CAP * LS * :...` means more lines follow.
                let more = msg.params.len() > 3 && msg.param(2) == "*";
                if more || !self.caps.negotiating {
                    return Vec::new();
                }
                let want: Vec<&str> = WANTED_CAPS
                    .iter()
                    .copied()
                    .filter(|w| self.caps.offered.iter().any(|o| o == w))
                    .collect();
                if want.is_empty() {
                    self.caps.negotiating = false;
                    return vec![Message::new("CAP", &["END"])];
                }
                self.caps.pending = 1;
                vec![Message::new("CAP", &["REQ", &want.join(" ")])]
            }
            "ACK" | "NAK" => {
                let caps: Vec<String> = caps.collect();
                let mut out = Vec::new();
                if sub == "ACK" {
                    self.caps.enabled.extend(caps);
                } else if self.caps.negotiating && caps.len() > 1 {
                    // A REQ is all or nothing: one capability the server
                    // will not give refuses the lot. Ask for each alone so
                    // the others are still had.
                    for cap in &caps {
                        out.push(Message::new("CAP", &["REQ", cap]));
                    }
                    self.caps.pending += caps.len();
                }
                self.caps.pending = self.caps.pending.saturating_sub(1);
                if self.caps.negotiating && self.caps.pending == 0 {
                    self.caps.negotiating = false;
                    out.push(Message::new("CAP", &["END"]));
                }
                out
            }
            _ => Vec::new(),
        }
    }

    /// Whether the server agreed to capability `cap`.
    pub fn has_cap(&self, cap: &str) -> bool {
        self.caps.enabled.iter().any(|c| c == cap)
    }

    fn on_welcome(&mut self, msg: &Message, time: DateTime<Local>) -> Vec<Message> {
        self.link = Link::Registered;
        self.caps.negotiating = false;
        self.nick_tries = 0;
        if !msg.param(0).is_empty() && msg.param(0) != "*" {
            self.nick = msg.param(0).to_string();
        }
        self.server_name = msg.source.clone();
        let connected = LineKind::Connected {
            server: self.server.clone(),
            nick: self.nick.clone(),
        };
        self.push(0, connected, time, Some(Scope::Global));
        let welcome = clean_text(msg.params.last().map(String::as_str).unwrap_or(""));
        if !welcome.is_empty() {
            self.push(0, LineKind::Info(welcome), time, Some(Scope::Global));
        }
        let rooms: Vec<String> = self
            .buffers
            .iter()
            .filter(|b| b.kind == BufferKind::Channel && b.rejoin)
            .map(|b| b.name.clone())
            .collect();
        let mut out = Vec::new();
        // One JOIN per room keeps each line short whatever the room count.
        for room in rooms {
            out.push(Message::new("JOIN", &[&room]));
        }
        if let Some(away) = self.away.clone() {
            out.push(Message::new("AWAY", &[&away]));
        }
        out
    }

    fn on_isupport(&mut self, msg: &Message) {
        let n = msg.params.len();
        for token in msg.params.iter().take(n.saturating_sub(1)).skip(1) {
            let (key, value) = token.split_once('=').unwrap_or((token, ""));
            match key {
                "PREFIX" => {
                    // PREFIX=(ov)@+
                    if let Some((modes, symbols)) =
                        value.strip_prefix('(').and_then(|v| v.split_once(')'))
                    {
                        let pairs: Vec<(char, char)> = modes.chars().zip(symbols.chars()).collect();
                        if !pairs.is_empty() {
                            self.prefixes = pairs;
                        }
                    }
                }
                "CHANMODES" => {
                    let mut groups = value.split(',');
                    for g in &mut self.chanmodes {
                        *g = groups.next().unwrap_or("").to_string();
                    }
                }
                "CHANTYPES" if !value.is_empty() => self.chantypes = value.to_string(),
                _ => {}
            }
        }
    }

    fn on_nick_error(&mut self, msg: &Message, time: DateTime<Local>, now: Now) -> Vec<Message> {
        let wanted = msg.param(1).to_string();
        let why = clean_text(msg.params.last().map(String::as_str).unwrap_or(""));
        if self.is_registered() {
            self.error(format!("{wanted}: {why}"), now);
            return Vec::new();
        }
        self.nick_tries += 1;
        if self.nick_tries > MAX_NICK_TRIES {
            let text = format!("nick {wanted}: {why}; choose one with /nick NAME");
            self.push(0, LineKind::Error(text), time, Some(Scope::Global));
            return Vec::new();
        }
        let next = if msg.command == "432" || self.nick_tries > 8 {
            // The nick itself is refused (or `_` keeps colliding, e.g. past
            // the server's NICKLEN): fall back to a numbered guest nick.
            format!("guest{}", self.nick_tries)
        } else {
            format!("{}_", self.nick)
        };
        self.push(
            0,
            LineKind::Info(format!("nick {wanted}: {why}; trying {next}")),
            time,
            Some(Scope::Global),
        );
        self.nick = next.clone();
        vec![Message::new("NICK", &[&next])]
    }

    fn on_join(&mut self, msg: &Message, from: &str, time: DateTime<Local>, now: Now) {
        let chan = msg.param(0);
        if chan.is_empty() {
            return;
        }
        if irc_eq(from, &self.nick) {
            let i = self.ensure_buffer(chan, BufferKind::Channel);
            let b = &mut self.buffers[i];
            b.name = chan.to_string();
            b.joined = true;
            b.rejoin = false;
            b.members.clear();
            b.names_done = true;
            b.show_names = true;
            // A server with batch replays the room's recent lines in a
            // chathistory batch after the join; pages wait for it.
            let replay = self.caps.enabled.iter().any(|c| c == "batch");
            b.history_on_join(replay, now.instant);
            b.members.insert(
                irc_lower(from),
                Member {
                    nick: from.to_string(),
                    prefixes: String::new(),
                },
            );
            let key = irc_lower(chan);
            if let Some(pos) = self.switch_on_join.iter().position(|c| *c == key) {
                self.switch_on_join.remove(pos);
                self.switch_to(i);
            }
            self.push_to(
                i,
                LineKind::Join {
                    nick: from.to_string(),
                },
                time,
            );
        } else if let Some(i) = self.find_buffer(chan) {
            self.buffers[i].members.insert(
                irc_lower(from),
                Member {
                    nick: from.to_string(),
                    prefixes: String::new(),
                },
            );
            self.push_to(
                i,
                LineKind::Join {
                    nick: from.to_string(),
                },
                time,
            );
        }
    }

    /// PART and KICK: `nick` leaves `chan`.
    fn on_leave(
        &mut self,
        chan: &str,
        nick: &str,
        time: DateTime<Local>,
        line: impl Fn(String) -> LineKind,
    ) {
        let Some(i) = self.find_buffer(chan) else {
            return;
        };
        if self.buffers[i].kind != BufferKind::Channel {
            return;
        }
        let me = irc_eq(nick, &self.nick);
        let b = &mut self.buffers[i];
        if me {
            b.joined = false;
            b.rejoin = false;
            b.members.clear();
        } else {
            b.members.remove(&irc_lower(nick));
        }
        self.push_to(i, line(nick.to_string()), time);
    }

    fn on_quit(&mut self, nick: &str, reason: Option<String>, time: DateTime<Local>) {
        let key = irc_lower(nick);
        let mut told = false;
        for i in 0..self.buffers.len() {
            let b = &mut self.buffers[i];
            let present = match b.kind {
                BufferKind::Channel => b.members.remove(&key).is_some(),
                BufferKind::Query => irc_lower(&b.name) == key,
                BufferKind::Server => false,
            };
            if !present {
                continue;
            }
            let line = LineKind::Quit {
                nick: nick.to_string(),
                reason: reason.clone(),
            };
            let is_query = self.buffers[i].kind == BufferKind::Query;
            // A private buffer's copy is only printed when no room told it.
            let scope = if is_query && told {
                None
            } else {
                Some(self.scope_of(i))
            };
            told = true;
            self.push(i, line, time, scope);
        }
    }

    fn on_nick(&mut self, old: &str, new: &str, time: DateTime<Local>) {
        if new.is_empty() {
            return;
        }
        let me = irc_eq(old, &self.nick);
        if me {
            self.nick = new.to_string();
        }
        let old_key = irc_lower(old);
        let line = LineKind::Nick {
            old: old.to_string(),
            new: new.to_string(),
        };
        let mut first = true;
        for i in 0..self.buffers.len() {
            let b = &mut self.buffers[i];
            let present = match b.kind {
                BufferKind::Channel => match b.members.remove(&old_key) {
                    Some(mut m) => {
                        m.nick = new.to_string();
                        b.members.insert(irc_lower(new), m);
                        true
                    }
                    None => false,
                },
                BufferKind::Query if irc_lower(&b.name) == old_key => {
                    b.name = new.to_string();
                    true
                }
                BufferKind::Query => false,
                BufferKind::Server => me,
            };
            if present {
                let scope = first.then_some(Scope::Global);
                first = false;
                self.push(i, line.clone(), time, scope);
            }
        }
        if first {
            // Nobody we share a buffer with; still worth a line when it's us.
            if me {
                self.push(0, line, time, Some(Scope::Global));
            }
        }
    }

    fn on_talk(
        &mut self,
        msg: &Message,
        from: &str,
        notice: bool,
        time: DateTime<Local>,
    ) -> Vec<Message> {
        let target = msg.param(0);
        let raw = msg.param(1);
        let own = !from.is_empty() && irc_eq(from, &self.nick);
        let from_server = msg.source.as_deref().is_none_or(|s| !s.contains('!'));
        let mut replies = Vec::new();
        let mut action = false;
        let mut text = raw.to_string();
        if let Some((ctcp, arg)) = parse_ctcp(raw) {
            if ctcp == "ACTION" {
                action = true;
                text = arg.to_string();
            } else {
                if !notice && !own {
                    if let Some(reply) = ctcp_reply(&ctcp, arg, time) {
                        let body = format!("\u{1}{ctcp} {reply}\u{1}");
                        replies.push(Message::new("NOTICE", &[from, &body]));
                    }
                    let info = format!("CTCP {ctcp} from {from}");
                    self.push(0, LineKind::Info(info), time, Some(Scope::Global));
                } else if notice {
                    let info = format!("CTCP {ctcp} reply from {from}: {}", clean_text(arg));
                    self.push(
                        self.current,
                        LineKind::Info(info),
                        time,
                        Some(Scope::Global),
                    );
                }
                return replies;
            }
        }
        let text = clean_text(&text);
        // STATUSMSG targets such as `@#room` go to the room's buffer.
        let room = target.trim_start_matches(['@', '+', '%', '~', '&']);
        let room = if self.is_channel(room) { room } else { target };
        let (i, scope) = if self.is_channel(room) {
            let i = self.ensure_buffer(room, BufferKind::Channel);
            (i, Scope::Room(self.buffers[i].name.clone()))
        } else if own {
            let i = self.ensure_buffer(target, BufferKind::Query);
            (i, Scope::Private(target.to_string()))
        } else if notice && (from_server || from.is_empty()) {
            (0, Scope::Global)
        } else if notice {
            let i = self.find_buffer(from).unwrap_or(self.current);
            (i, Scope::Private(from.to_string()))
        } else {
            let i = self.ensure_buffer(from, BufferKind::Query);
            (i, Scope::Private(from.to_string()))
        };
        let nick = if from.is_empty() {
            self.server_name.clone().unwrap_or_default()
        } else {
            from.to_string()
        };
        let kind = if action {
            LineKind::Action { nick, text, own }
        } else if notice {
            LineKind::Notice { nick, text, own }
        } else {
            LineKind::Message { nick, text, own }
        };
        // Live talk in a room comes after its replay (the server holds it
        // back until then), so none is due any more.
        self.buffers[i].hist.replay_over();
        let line = Line {
            msgid: msg
                .tag("msgid")
                .filter(|m| !m.is_empty())
                .map(str::to_string),
            ..Line::new(time, kind)
        };
        self.push_line(i, line, Some(scope));
        replies
    }

    fn on_mode(&mut self, msg: &Message, from: &str, time: DateTime<Local>) {
        let target = msg.param(0);
        let args: Vec<&str> = msg.params.iter().skip(1).map(String::as_str).collect();
        let text = format!("{from} sets mode {} {}", target, args.join(" "));
        let Some(i) = self.find_buffer(target).filter(|_| self.is_channel(target)) else {
            self.push(0, LineKind::Info(text), time, Some(Scope::Global));
            return;
        };
        let mut params = args.iter().skip(1);
        let mut adding = true;
        for c in msg.param(1).chars() {
            match c {
                '+' => adding = true,
                '-' => adding = false,
                c => {
                    if let Some(&(_, symbol)) = self.prefixes.iter().find(|(m, _)| *m == c) {
                        let Some(nick) = params.next() else { break };
                        self.set_prefix(i, nick, symbol, adding);
                    } else if self.chanmodes[0].contains(c)
                        || self.chanmodes[1].contains(c)
                        || (adding && self.chanmodes[2].contains(c))
                    {
                        params.next();
                    }
                }
            }
        }
        self.push_to(i, LineKind::Info(text), time);
    }

    fn set_prefix(&mut self, i: usize, nick: &str, symbol: char, adding: bool) {
        let order: Vec<char> = self.prefixes.iter().map(|&(_, s)| s).collect();
        let Some(m) = self.buffers[i].members.get_mut(&irc_lower(nick)) else {
            return;
        };
        let mut have: Vec<char> = m.prefixes.chars().filter(|&c| c != symbol).collect();
        if adding {
            have.push(symbol);
        }
        have.sort_by_key(|c| order.iter().position(|o| o == c).unwrap_or(order.len()));
        m.prefixes = have.into_iter().collect();
    }

    fn on_numeric(&mut self, msg: &Message, time: DateTime<Local>) {
        let p = |i: usize| msg.param(i);
        let last = clean_text(msg.params.last().map(String::as_str).unwrap_or(""));
        let current = self.current;
        match msg.command.as_str() {
            "353" => {
                // `353 me = #room :names`; some servers leave out the `=`.
                let (chan, names) = if msg.params.len() >= 4 {
                    (p(2), p(3))
                } else {
                    (p(1), p(2))
                };
                self.on_names(chan, names, time);
            }
            "366" => {
                if let Some(i) = self.find_buffer(p(1)) {
                    let b = &mut self.buffers[i];
                    b.names_done = true;
                    if std::mem::take(&mut b.show_names) {
                        let names: Vec<String> = self
                            .sorted_members(i)
                            .iter()
                            .map(|m| format!("{}{}", m.prefixes, m.nick))
                            .collect();
                        let text = format!("{} here: {}", names.len(), names.join(" "));
                        self.push_to(i, LineKind::Info(text), time);
                    }
                }
            }
            "332" => {
                if let Some(i) = self.find_buffer(p(1)) {
                    self.buffers[i].topic = non_empty(&last);
                    self.push_to(i, LineKind::Info(format!("topic: {last}")), time);
                } else {
                    let text = format!("topic of {}: {last}", p(1));
                    self.push(current, LineKind::Info(text), time, Some(Scope::Global));
                }
            }
            "333" => {
                let when = p(3)
                    .parse::<i64>()
                    .ok()
                    .and_then(|t| Local.timestamp_opt(t, 0).single())
                    .map(|t| format!(" on {}", t.format("%Y-%m-%d %H:%M")))
                    .unwrap_or_default();
                let setter = p(2).split('!').next().unwrap_or("");
                let text = format!("topic set by {setter}{when}");
                let i = self.find_buffer(p(1)).unwrap_or(current);
                self.push_to(i, LineKind::Info(text), time);
            }
            "331" => {
                let i = self.find_buffer(p(1)).unwrap_or(current);
                if let Some(b) = self.buffers.get_mut(i) {
                    b.topic = None;
                }
                self.push_to(
                    i,
                    LineKind::Info(format!("no topic is set for {}", p(1))),
                    time,
                );
            }
            "321" => self.info_at(current, "rooms:".to_string(), time),
            "322" => {
                let topic = if last.is_empty() || msg.params.len() < 4 {
                    String::new()
                } else {
                    format!(": {last}")
                };
                self.info_at(current, format!("  {} ({} users){topic}", p(1), p(2)), time);
            }
            "323" => self.info_at(current, "end of room list".to_string(), time),
            "352" => {
                // `352 me #room user host server nick flags :hops realname`
                let real = last.split_once(' ').map(|(_, r)| r).unwrap_or("");
                let text = format!("  {} [{}] {}@{} {} {}", p(5), p(1), p(2), p(3), p(6), real);
                self.info_at(current, text, time);
            }
            "315" => self.info_at(current, format!("end of who for {}", p(1)), time),
            "301" => {
                let i = self.find_buffer(p(1)).unwrap_or(current);
                self.push_to(i, LineKind::Info(format!("{} is away: {last}", p(1))), time);
            }
            "305" => {
                self.away = None;
                self.info_at(
                    current,
                    "you are no longer marked as away".to_string(),
                    time,
                );
            }
            "306" => {
                if self.away.is_none() {
                    self.away = Some("away".to_string());
                }
                self.info_at(current, "you are marked as away".to_string(), time);
            }
            // A search refused (not in the room, no such room, no words).
            "442" | "403" | "461" | "421" if self.search_refused(msg) => {
                let text = numeric_text(msg);
                self.push(current, LineKind::Error(text), time, Some(Scope::Global));
            }
            // Cannot join: stop trying that room on reconnects.
            "403" | "405" | "471" | "473" | "474" | "475" | "476" | "477" | "489"
                if self.find_buffer(p(1)).is_some() =>
            {
                let text = numeric_text(msg);
                if let Some(i) = self.find_buffer(p(1)) {
                    self.buffers[i].rejoin = false;
                    self.push_to(i, LineKind::Error(text), time);
                }
            }
            "311" => {
                let text = format!("{} is {}@{} ({last})", p(1), p(2), p(3));
                self.info_at(current, text, time);
            }
            "312" => {
                self.info_at(current, format!("{} is on {} ({last})", p(1), p(2)), time);
            }
            "319" => self.info_at(current, format!("{} is in {last}", p(1)), time),
            "318" | "369" => self.info_at(current, last, time),
            "002" | "003" | "004" | "251" | "252" | "253" | "254" | "255" | "265" | "266"
            | "375" | "372" | "376" | "422" | "396" => {
                let text = numeric_text(msg);
                self.push(0, LineKind::Info(text), time, Some(Scope::Global));
            }
            code => {
                let text = numeric_text(msg);
                let kind = if code.starts_with('4') || code.starts_with('5') {
                    LineKind::Error(text)
                } else {
                    LineKind::Info(text)
                };
                // Before registration nothing but the server buffer exists.
                let i = if self.is_registered() { current } else { 0 };
                self.push(i, kind, time, Some(Scope::Global));
            }
        }
    }

    fn info_at(&mut self, i: usize, text: String, time: DateTime<Local>) {
        self.push(i, LineKind::Info(text), time, Some(Scope::Global));
    }

    fn on_names(&mut self, chan: &str, names: &str, time: DateTime<Local>) {
        let symbols: Vec<char> = self.prefixes.iter().map(|&(_, s)| s).collect();
        let parsed: Vec<Member> = names
            .split(' ')
            .filter(|n| !n.is_empty())
            .filter_map(|n| {
                let nick = n.trim_start_matches(|c| symbols.contains(&c));
                let prefixes = &n[..n.len() - nick.len()];
                // userhost-in-names sends nick!user@host.
                let nick = nick.split('!').next().unwrap_or(nick);
                (!nick.is_empty()).then(|| Member {
                    nick: nick.to_string(),
                    prefixes: prefixes.to_string(),
                })
            })
            .collect();
        match self.find_buffer(chan) {
            Some(i) if self.buffers[i].joined => {
                let b = &mut self.buffers[i];
                if b.names_done {
                    b.members.clear();
                    b.names_done = false;
                }
                for m in parsed {
                    b.members.insert(irc_lower(&m.nick), m);
                }
            }
            _ => {
                let list: Vec<String> = parsed
                    .iter()
                    .map(|m| format!("{}{}", m.prefixes, m.nick))
                    .collect();
                let text = format!("in {chan}: {}", list.join(" "));
                self.push(
                    self.current,
                    LineKind::Info(text),
                    time,
                    Some(Scope::Global),
                );
            }
        }
    }

    // ----- user commands ---------------------------------------------------------

    /// Carries out one line the user typed (already parsed).
    pub fn execute(&mut self, cmd: Command, now: Now) -> Vec<Effect> {
        let online = self.is_registered();
        let needs_link = !matches!(
            cmd,
            Command::Help
                | Command::Quit(_)
                | Command::Close(_)
                | Command::Query { text: None, .. }
                | Command::Nick(_)
                | Command::Clear
                | Command::Buffer(_)
                | Command::Invalid(_)
        );
        if needs_link && !online {
            self.error("not connected to the server yet", now);
            return Vec::new();
        }
        match cmd {
            Command::Invalid(why) => {
                self.error(why, now);
                Vec::new()
            }
            Command::Say(text) => {
                let i = self.current;
                self.say(i, &text, false, now)
            }
            Command::Me(text) => {
                let i = self.current;
                self.say(i, &text, true, now)
            }
            Command::Msg { target, text } => {
                if self.is_channel(&target) {
                    match self.find_buffer(&target) {
                        Some(i) => self.say(i, &text, false, now),
                        None => {
                            self.info(format!("-> {target}: {text}"), now);
                            send_chunks("PRIVMSG", &target, &text, &self.nick)
                        }
                    }
                } else {
                    let i = self.ensure_buffer(&target, BufferKind::Query);
                    self.say(i, &text, false, now)
                }
            }
            Command::Notice { target, text } => {
                let line = LineKind::Notice {
                    nick: self.nick.clone(),
                    text: text.clone(),
                    own: true,
                };
                let scope = if self.is_channel(&target) {
                    Scope::Room(target.clone())
                } else {
                    Scope::Private(target.clone())
                };
                let i = self.find_buffer(&target).unwrap_or(self.current);
                if !self.has_cap("echo-message") {
                    self.push(i, line, now.local, Some(scope));
                }
                send_chunks("NOTICE", &target, &text, &self.nick)
            }
            Command::Query { nick, text } => {
                if self.is_channel(&nick) {
                    self.error(format!("{nick} is a room; use /join {nick}"), now);
                    return Vec::new();
                }
                let i = self.ensure_buffer(&nick, BufferKind::Query);
                self.switch_to(i);
                match text {
                    Some(text) => self.say(i, &text, false, now),
                    None => Vec::new(),
                }
            }
            Command::Join { rooms, key } => {
                let rooms: Vec<String> = rooms.iter().map(|r| self.channel_name(r)).collect();
                for r in &rooms {
                    let key = irc_lower(r);
                    if !self.switch_on_join.contains(&key) {
                        self.switch_on_join.push(key);
                    }
                    // Already in it: just switch, the server will not echo.
                    if let Some(i) = self.find_buffer(r)
                        && self.buffers[i].joined
                    {
                        self.switch_to(i);
                    }
                }
                let list = rooms.join(",");
                let msg = match key {
                    Some(k) => Message::new("JOIN", &[&list, &k]),
                    None => Message::new("JOIN", &[&list]),
                };
                vec![Effect::Send(msg)]
            }
            Command::Part { room, reason } => {
                let Some(room) = room.or_else(|| self.current_channel()) else {
                    self.error("not in a room; use /part #room", now);
                    return Vec::new();
                };
                let room = self.channel_name(&room);
                let reason = reason.unwrap_or_else(|| "leaving".to_string());
                vec![Effect::Send(Message::new("PART", &[&room, &reason]))]
            }
            Command::Close(name) => self.close(name, now),
            Command::Nick(new) => {
                if online {
                    vec![Effect::Send(Message::new("NICK", &[&new]))]
                } else if self.link == Link::Registering {
                    // Registration may be stuck on refused nicks.
                    self.nick = new.clone();
                    self.nick_tries = 0;
                    vec![Effect::Send(Message::new("NICK", &[&new]))]
                } else {
                    self.nick = new.clone();
                    self.info(format!("will use nick {new} when connected"), now);
                    Vec::new()
                }
            }
            Command::Topic { room, text } => {
                let Some(room) = room.or_else(|| self.current_channel()) else {
                    self.error("not in a room; use /topic #room [text]", now);
                    return Vec::new();
                };
                let msg = match text {
                    Some(t) => Message::new("TOPIC", &[&room, &t]),
                    None => Message::new("TOPIC", &[&room]),
                };
                vec![Effect::Send(msg)]
            }
            Command::Names(room) => {
                let Some(room) = room.or_else(|| self.current_channel()) else {
                    self.error("not in a room; use /names #room", now);
                    return Vec::new();
                };
                if let Some(i) = self.find_buffer(&room) {
                    self.buffers[i].show_names = true;
                }
                vec![Effect::Send(Message::new("NAMES", &[&room]))]
            }
            Command::Who(mask) => {
                let Some(mask) = mask.or_else(|| self.current_channel()) else {
                    self.error("usage: /who MASK", now);
                    return Vec::new();
                };
                vec![Effect::Send(Message::new("WHO", &[&mask]))]
            }
            Command::List(args) => {
                let args: Vec<&str> = args.split_whitespace().collect();
                vec![Effect::Send(Message::new("LIST", &args))]
            }
            Command::Away(msg) => {
                self.away = msg.clone();
                let m = match msg {
                    Some(text) => Message::new("AWAY", &[&text]),
                    None => Message::new("AWAY", &[]),
                };
                vec![Effect::Send(m)]
            }
            Command::Quit(reason) => {
                vec![Effect::Quit(reason.unwrap_or_else(|| "bye".to_string()))]
            }
            Command::Help => {
                for line in HELP.lines() {
                    self.info(line, now);
                }
                Vec::new()
            }
            Command::Lag => vec![Effect::LagPing],
            Command::Clear => {
                let i = self.current;
                self.buffers[i].lines.clear();
                self.buffers[i].scroll = 0;
                self.buffers[i].hist.on_clear();
                Vec::new()
            }
            Command::Search(words) => self.search_command(&words, now),
            Command::History => self.history_command(now),
            Command::Buffer(n) => {
                if n >= 1 && n <= self.buffers.len() {
                    self.switch_to(n - 1);
                } else {
                    self.error(format!("no buffer {n}"), now);
                }
                Vec::new()
            }
            Command::Raw(line) => match Message::parse(&line) {
                Ok(msg) => vec![Effect::Send(msg)],
                Err(e) => {
                    self.error(format!("cannot send {line:?}: {e}"), now);
                    Vec::new()
                }
            },
        }
    }

    fn current_channel(&self) -> Option<String> {
        let b = self.current_buffer();
        (b.kind == BufferKind::Channel).then(|| b.name.clone())
    }

    /// Sends `text` to buffer `i`'s room or nick, echoing it locally.
    fn say(&mut self, i: usize, text: &str, action: bool, now: Now) -> Vec<Effect> {
        // A room being (re)joined takes lines already: the JOIN was sent
        // first and the server handles lines in order.
        let (kind, name, joined, rejoin) = match self.buffers.get(i) {
            Some(b) => (b.kind, b.name.clone(), b.joined, b.rejoin),
            None => return Vec::new(),
        };
        match kind {
            BufferKind::Server => {
                self.error(
                    "this is the server buffer: /join #room or /msg NICK TEXT first",
                    now,
                );
                return Vec::new();
            }
            BufferKind::Channel if !joined && !rejoin => {
                self.error(format!("you are not in {name}: /join {name}"), now);
                return Vec::new();
            }
            _ => {}
        }
        let nick = self.nick.clone();
        // With echo-message the server sends our line back (with its msgid
        // and time); showing it now as well would show it twice.
        let echo_locally = !self.has_cap("echo-message");
        let chunks = if action {
            split_text(text, max_text_len(&nick, &name).saturating_sub(9).max(32))
        } else {
            split_text(text, max_text_len(&nick, &name))
        };
        let mut out = Vec::new();
        for chunk in chunks {
            let line = if action {
                LineKind::Action {
                    nick: nick.clone(),
                    text: chunk.to_string(),
                    own: true,
                }
            } else {
                LineKind::Message {
                    nick: nick.clone(),
                    text: chunk.to_string(),
                    own: true,
                }
            };
            if echo_locally {
                self.push_to(i, line, now.local);
            }
            let body = if action {
                format!("\u{1}ACTION {chunk}\u{1}")
            } else {
                chunk.to_string()
            };
            out.push(Effect::Send(Message::new("PRIVMSG", &[&name, &body])));
        }
        out
    }

    fn close(&mut self, name: Option<String>, now: Now) -> Vec<Effect> {
        let i = match name {
            Some(n) => match self.find_buffer(&n) {
                Some(i) => i,
                None => {
                    self.error(format!("no buffer named {n}"), now);
                    return Vec::new();
                }
            },
            None => self.current,
        };
        if i == 0 {
            self.error("the server buffer cannot be closed; /quit to leave", now);
            return Vec::new();
        }
        let b = self.buffers.remove(i);
        if self.current >= i {
            self.current = self.current.saturating_sub(1);
        }
        let c = self.current;
        self.switch_to(c);
        if b.kind == BufferKind::Channel && b.joined && self.is_registered() {
            vec![Effect::Send(Message::new("PART", &[&b.name, "closed"]))]
        } else {
            Vec::new()
        }
    }
}

/// RFC 1459 case mapping: ASCII letters plus `[]\~` as the upper case of
/// `{}|^`, so `Nick[1]` and `nick{1}` are the same nick.
pub fn irc_lower(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '[' => '{',
            ']' => '}',
            '\\' => '|',
            '~' => '^',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

pub fn irc_eq(a: &str, b: &str) -> bool {
    irc_lower(a) == irc_lower(b)
}

fn non_empty(s: &str) -> Option<String> {
    let s = clean_text(s);
    (!s.is_empty()).then_some(s)
}

/// The `time` tag (server-time) when present and valid, else `now`.
fn message_time(msg: &Message, now: DateTime<Local>) -> DateTime<Local> {
    msg.tag("time")
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Local))
        .unwrap_or(now)
}

/// Removes IRC formatting codes and every other control character, so a
/// hostile line cannot move the cursor or recolour the terminal.
pub fn clean_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{3}' => {
                // ^C fg[,bg] colours: up to two digits each.
                for _ in 0..2 {
                    if chars.peek().is_some_and(char::is_ascii_digit) {
                        chars.next();
                    }
                }
                let mut look = chars.clone();
                if look.next() == Some(',') && look.peek().is_some_and(char::is_ascii_digit) {
                    chars.next();
                    for _ in 0..2 {
                        if chars.peek().is_some_and(char::is_ascii_digit) {
                            chars.next();
                        }
                    }
                }
            }
            '\u{4}' => {
                for _ in 0..6 {
                    if chars.peek().is_some_and(char::is_ascii_hexdigit) {
                        chars.next();
                    }
                }
            }
            '\t' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// `\x01CMD args\x01` → (CMD, args).
fn parse_ctcp(text: &str) -> Option<(String, &str)> {
    let inner = text.strip_prefix('\u{1}')?;
    let inner = inner.strip_suffix('\u{1}').unwrap_or(inner);
    let (cmd, arg) = inner.split_once(' ').unwrap_or((inner, ""));
    Some((cmd.to_ascii_uppercase(), arg))
}

fn ctcp_reply(cmd: &str, arg: &str, time: DateTime<Local>) -> Option<String> {
    match cmd {
        "VERSION" => Some(format!("chatroom {}", env!("CARGO_PKG_VERSION"))),
        "PING" => Some(clean_text(arg)),
        "TIME" => Some(time.to_rfc2822()),
        "CLIENTINFO" => Some("ACTION CLIENTINFO PING TIME VERSION".to_string()),
        _ => None,
    }
}

/// A numeric's parameters after our nick, as "a b: last".
fn numeric_text(msg: &Message) -> String {
    let p: Vec<String> = msg.params.iter().skip(1).map(|s| clean_text(s)).collect();
    match p.len() {
        0 => msg.command.clone(),
        1 => p[0].clone(),
        n => format!("{}: {}", p[..n - 1].join(" "), p[n - 1]),
    }
}

/// The USER name to register with: the nick's safe characters.
fn user_name(nick: &str) -> String {
    let u: String = nick
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(10)
        .collect::<String>()
        .to_ascii_lowercase();
    if u.is_empty() {
        "chatroom".to_string()
    } else {
        u
    }
}

/// How much text fits in one PRIVMSG to `target` so that the line the
/// server relays (with our full `nick!user@host` prefix) stays within 512
/// bytes; the user and host lengths are guessed at their usual maximum.
fn max_text_len(nick: &str, target: &str) -> usize {
    let overhead = 1 + nick.len() + 1 + 10 + 1 + 63 + " PRIVMSG ".len() + target.len() + 2 + 2;
    512usize.saturating_sub(overhead).max(64)
}

/// Splits `text` into pieces of at most `max` bytes, on char boundaries,
/// preferring to break after a space.
pub fn split_text(text: &str, max: usize) -> Vec<&str> {
    let max = max.max(4);
    let mut out = Vec::new();
    let mut rest = text;
    while rest.len() > max {
        let mut cut = max;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        if let Some(space) = rest[..cut].rfind(' ').filter(|&s| s > cut / 2) {
            cut = space + 1;
        }
        out.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    if !rest.is_empty() || out.is_empty() {
        out.push(rest);
    }
    out
}

/// Messages to send `text` to `target`, split to fit.
fn send_chunks(command: &str, target: &str, text: &str, nick: &str) -> Vec<Effect> {
    split_text(text, max_text_len(nick, target))
        .into_iter()
        .map(|chunk| Effect::Send(Message::new(command, &[target, chunk])))
        .collect()
}

pub fn format_lag(lag: Duration) -> String {
    if lag < Duration::from_secs(1) {
        format!("{}ms", lag.as_millis())
    } else {
        format!("{:.1}s", lag.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::parse_input;

    pub(super) fn now() -> Now {
        Now {
            instant: Instant::now(),
            local: Local
                .with_ymd_and_hms(2024, 5, 1, 12, 1, 0)
                .single()
                .expect("valid time"),
        }
    }

    pub(super) fn feed(state: &mut State, line: &str) -> Vec<Message> {
        let msg = Message::parse(line).expect("test line parses");
        state.handle_message(&msg, now())
    }

    /// Expected messages, compared parsed so the test does not depend on
    /// where the serializer chooses to put a `:`.
    pub(super) fn msgs(lines: &[&str]) -> Vec<Message> {
        lines
            .iter()
            .map(|l| Message::parse(l).expect("expected line parses"))
            .collect()
    }

    pub(super) fn run(state: &mut State, input: &str) -> Vec<Effect> {
        state.execute(parse_input(input), now())
    }

    pub(super) fn sent(effects: &[Effect]) -> Vec<Message> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Send(m) => Some(m.clone()),
                _ => None,
            })
            .collect()
    }

    /// A state registered as `me` and joined to #lobby with alice and @bob.
    pub(super) fn joined() -> State {
        let mut s = State::new("irc.test:6667", "me", Some("#lobby"));
        s.on_connected("127.0.0.1:6667", now());
        let out = feed(&mut s, ":srv 001 me :Welcome to the test net");
        assert_eq!(out, msgs(&["JOIN #lobby"]));
        feed(&mut s, ":me!u@h JOIN #lobby");
        feed(&mut s, ":srv 353 me = #lobby :me alice @bob");
        feed(&mut s, ":srv 366 me #lobby :End of NAMES list");
        s
    }

    pub(super) fn last_kind(s: &State, buffer: &str) -> LineKind {
        let i = s.find_buffer(buffer).expect("buffer exists");
        s.buffers[i].lines.back().expect("has a line").kind.clone()
    }

    fn nicks(s: &State, buffer: &str) -> Vec<String> {
        let i = s.find_buffer(buffer).expect("buffer exists");
        s.sorted_members(i)
            .iter()
            .map(|m| format!("{}{}", m.prefixes, m.nick))
            .collect()
    }

    #[test]
    fn registration_sends_cap_nick_user() {
        let mut s = State::new("h:1", "me", None);
        let out = s.on_connected("h:1", now());
        assert_eq!(
            out,
            msgs(&["CAP LS 302", "NICK me", "USER me 0 * :chatroom user"])
        );
        assert_eq!(s.link, Link::Registering);
    }

    #[test]
    fn cap_negotiation_requests_server_time_only_when_offered() {
        let mut s = State::new("h:1", "me", None);
        s.on_connected("h:1", now());
        assert!(feed(&mut s, ":srv CAP * LS * :sasl=PLAIN multi-prefix").is_empty());
        let out = feed(&mut s, ":srv CAP * LS :server-time away-notify");
        assert_eq!(out, msgs(&["CAP REQ :server-time multi-prefix"]));
        let out = feed(&mut s, ":srv CAP * ACK :server-time multi-prefix");
        assert_eq!(out, msgs(&["CAP END"]));
        assert!(s.has_cap("server-time"));

        let mut s = State::new("h:1", "me", None);
        s.on_connected("h:1", now());
        assert_eq!(feed(&mut s, ":srv CAP * LS :sasl"), msgs(&["CAP END"]));
    }

    #[test]
    fn nick_in_use_appends_underscore_before_registration() {
        let mut s = State::new("h:1", "me", None);
        s.on_connected("h:1", now());
        let out = feed(&mut s, ":srv 433 * me :Nickname is already in use");
        assert_eq!(out, msgs(&["NICK me_"]));
        let out = feed(&mut s, ":srv 433 * me_ :Nickname is already in use");
        assert_eq!(out, msgs(&["NICK me__"]));
        feed(&mut s, ":srv 001 me__ :hi");
        assert_eq!(s.nick, "me__");
        // Once registered a refused /nick is only an error.
        assert!(feed(&mut s, ":srv 433 me__ taken :Nickname is already in use").is_empty());
        assert_eq!(s.nick, "me__");
    }

    #[test]
    fn refused_nicks_fall_back_then_stop() {
        let mut s = State::new("h:1", "me", None);
        s.on_connected("h:1", now());
        assert_eq!(
            feed(&mut s, ":srv 432 * me :Erroneous nickname"),
            msgs(&["NICK guest1"])
        );
        for _ in 0..MAX_NICK_TRIES {
            feed(&mut s, ":srv 433 * x :Nickname is already in use");
        }
        assert!(feed(&mut s, ":srv 433 * x :in use").is_empty());
        assert_eq!(sent(&run(&mut s, "/nick chosen")), msgs(&["NICK chosen"]));
    }

    #[test]
    fn ping_gets_pong() {
        let mut s = State::new("h:1", "me", None);
        assert_eq!(feed(&mut s, "PING :abc def"), msgs(&["PONG :abc def"]));
    }

    #[test]
    fn welcome_joins_initial_room_and_switches_to_it() {
        let s = joined();
        assert!(s.is_registered());
        assert_eq!(s.current_buffer().name, "#lobby");
        assert_eq!(nicks(&s, "#lobby"), vec!["@bob", "alice", "me"]);
        assert!(matches!(
            &s.buffers[0].lines.iter().find(|l| matches!(l.kind, LineKind::Connected { .. })),
            Some(Line { kind: LineKind::Connected { nick, .. }, .. }) if nick == "me"
        ));
        assert_eq!(
            last_kind(&s, "#lobby"),
            LineKind::Info("3 here: @bob alice me".to_string())
        );
    }

    #[test]
    fn join_part_quit_update_members() {
        let mut s = joined();
        feed(&mut s, ":carol!c@h JOIN #lobby");
        assert_eq!(nicks(&s, "#lobby"), vec!["@bob", "alice", "carol", "me"]);
        assert_eq!(
            last_kind(&s, "#lobby"),
            LineKind::Join {
                nick: "carol".into()
            }
        );
        feed(&mut s, ":carol!c@h PART #lobby :bye all");
        assert_eq!(
            last_kind(&s, "#lobby"),
            LineKind::Part {
                nick: "carol".into(),
                reason: Some("bye all".into())
            }
        );
        feed(&mut s, ":alice!a@h QUIT :Quit: gone");
        assert_eq!(nicks(&s, "#lobby"), vec!["@bob", "me"]);
        assert_eq!(
            last_kind(&s, "#lobby"),
            LineKind::Quit {
                nick: "alice".into(),
                reason: Some("Quit: gone".into())
            }
        );
        feed(&mut s, ":bob!b@h KICK #lobby me :behave");
        let i = s.find_buffer("#lobby").expect("buffer kept");
        assert!(!s.buffers[i].joined);
        assert!(s.buffers[i].members.is_empty());
    }

    #[test]
    fn own_part_leaves_buffer_with_scrollback() {
        let mut s = joined();
        let out = sent(&run(&mut s, "/part"));
        assert_eq!(out, msgs(&["PART #lobby leaving"]));
        feed(&mut s, ":me!u@h PART #lobby :leaving");
        let i = s.find_buffer("#lobby").expect("kept");
        assert!(!s.buffers[i].joined);
        assert!(s.buffers[i].lines.len() > 1);
        // Talking there now is refused locally.
        assert!(sent(&run(&mut s, "hello?")).is_empty());
    }

    #[test]
    fn nick_change_renames_member_query_and_self() {
        let mut s = joined();
        feed(&mut s, ":alice!a@h PRIVMSG me :psst");
        feed(&mut s, ":alice!a@h NICK :alicia");
        assert_eq!(nicks(&s, "#lobby"), vec!["@bob", "alicia", "me"]);
        assert!(s.find_buffer("alicia").is_some());
        assert!(s.find_buffer("alice").is_none());
        feed(&mut s, ":me!u@h NICK newme");
        assert_eq!(s.nick, "newme");
        assert_eq!(nicks(&s, "#lobby"), vec!["@bob", "alicia", "newme"]);
    }

    #[test]
    fn nick_change_is_one_plain_event() {
        let mut s = joined();
        s.record_events = true;
        feed(&mut s, ":alice!a@h PRIVMSG me :psst");
        s.take_events();
        feed(&mut s, ":alice!a@h NICK alicia");
        let events = s.take_events();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].scope, Scope::Global);
    }

    #[test]
    fn privmsg_to_room_and_private_and_unread_counts() {
        let mut s = joined();
        feed(&mut s, ":alice!a@h PRIVMSG #lobby :hi all");
        let lobby = s.find_buffer("#lobby").expect("lobby");
        assert_eq!(s.buffers[lobby].unread, 0, "current buffer stays read");
        assert_eq!(
            last_kind(&s, "#lobby"),
            LineKind::Message {
                nick: "alice".into(),
                text: "hi all".into(),
                own: false
            }
        );
        feed(&mut s, ":bob!b@h PRIVMSG me :secret");
        feed(&mut s, ":bob!b@h PRIVMSG me :\u{1}ACTION whispers\u{1}");
        let q = s.find_buffer("bob").expect("query opened");
        assert_eq!(s.buffers[q].kind, BufferKind::Query);
        assert_eq!(s.buffers[q].unread, 2);
        assert!(s.buffers[q].highlight);
        assert_eq!(
            last_kind(&s, "bob"),
            LineKind::Action {
                nick: "bob".into(),
                text: "whispers".into(),
                own: false
            }
        );
        s.switch_to(q);
        assert_eq!(s.buffers[q].unread, 0);
        feed(&mut s, ":alice!a@h PRIVMSG #lobby :one");
        feed(&mut s, ":alice!a@h JOIN #lobby");
        feed(&mut s, ":alice!a@h PRIVMSG #lobby :two");
        assert_eq!(s.buffers[lobby].unread, 2, "joins are not unread talk");
        assert!(!s.buffers[lobby].highlight);
        feed(&mut s, ":alice!a@h PRIVMSG #lobby :hey ME look");
        assert!(s.buffers[lobby].highlight, "mention highlights");
    }

    #[test]
    fn ctcp_version_is_answered() {
        let mut s = joined();
        let out = feed(&mut s, ":bob!b@h PRIVMSG me :\u{1}VERSION\u{1}");
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].command, "NOTICE");
        assert_eq!(out[0].param(0), "bob");
        assert!(out[0].param(1).starts_with("\u{1}VERSION chatroom"));
        assert!(s.find_buffer("bob").is_none(), "CTCP opens no query");
    }

    #[test]
    fn names_with_multi_prefix_and_mode_changes() {
        let mut s = joined();
        feed(&mut s, ":srv 353 me = #lobby :@+me +alice bob!b@h");
        feed(&mut s, ":srv 366 me #lobby :End");
        assert_eq!(nicks(&s, "#lobby"), vec!["@+me", "+alice", "bob"]);
        feed(&mut s, ":me!u@h MODE #lobby +ol-v bob 10 alice");
        assert_eq!(nicks(&s, "#lobby"), vec!["@bob", "@+me", "alice"]);
    }

    #[test]
    fn topic_numerics_and_changes() {
        let mut s = joined();
        feed(&mut s, ":srv 332 me #lobby :Welcome \u{2}here\u{2}");
        let i = s.find_buffer("#lobby").expect("lobby");
        assert_eq!(s.buffers[i].topic.as_deref(), Some("Welcome here"));
        feed(&mut s, ":bob!b@h TOPIC #lobby :new topic");
        assert_eq!(s.buffers[i].topic.as_deref(), Some("new topic"));
        feed(&mut s, ":srv 331 me #lobby :No topic");
        assert_eq!(s.buffers[i].topic, None);
    }

    #[test]
    fn disconnect_keeps_scrollback_and_rejoins() {
        let mut s = joined();
        feed(&mut s, ":srv 353 me = #other :me");
        run(&mut s, "/join #second");
        feed(&mut s, ":me!u@h JOIN #second");
        let lines_before = s.buffers[1].lines.len();
        s.on_disconnected("connection reset", Some(Duration::from_secs(1)), now());
        assert!(matches!(s.link, Link::Disconnected { .. }));
        assert!(s.buffers[1].members.is_empty());
        assert_eq!(s.buffers[1].lines.len(), lines_before + 1);
        assert!(
            matches!(last_kind(&s, "#lobby"), LineKind::Error(t) if t.contains("reconnecting in 1s"))
        );
        // A failed attempt afterwards only goes to the server buffer and
        // the current one (#second).
        s.on_disconnected("refused", Some(Duration::from_secs(2)), now());
        assert_eq!(s.buffers[1].lines.len(), lines_before + 1);
        s.on_connected("127.0.0.1:6667", now());
        let out = feed(&mut s, ":srv 001 me :welcome back");
        assert_eq!(out, msgs(&["JOIN #lobby", "JOIN #second"]));
    }

    #[test]
    fn lines_typed_before_the_join_echo_go_to_the_room() {
        let mut s = State::new("h:1", "me", Some("lobby"));
        assert_eq!(s.current_buffer().name, "#lobby");
        s.on_connected("h:1", now());
        assert_eq!(feed(&mut s, ":srv 001 me :hi"), msgs(&["JOIN #lobby"]));
        assert_eq!(sent(&run(&mut s, "early")), msgs(&["PRIVMSG #lobby early"]));
        feed(&mut s, ":srv 473 me #lobby :Cannot join channel (+i)");
        assert!(matches!(last_kind(&s, "#lobby"), LineKind::Error(_)));
        assert!(sent(&run(&mut s, "late")).is_empty());
    }

    #[test]
    fn commands_produce_messages() {
        let mut s = joined();
        assert_eq!(
            sent(&run(&mut s, "hello world")),
            msgs(&["PRIVMSG #lobby :hello world"])
        );
        assert_eq!(
            sent(&run(&mut s, "/me waves")),
            msgs(&["PRIVMSG #lobby :\u{1}ACTION waves\u{1}"])
        );
        assert_eq!(sent(&run(&mut s, "/join other")), msgs(&["JOIN #other"]));
        assert_eq!(sent(&run(&mut s, "/nick neo")), msgs(&["NICK neo"]));
        assert_eq!(
            sent(&run(&mut s, "/topic hi there")),
            msgs(&["TOPIC #lobby :hi there"])
        );
        assert_eq!(sent(&run(&mut s, "/names")), msgs(&["NAMES #lobby"]));
        assert_eq!(sent(&run(&mut s, "/who")), msgs(&["WHO #lobby"]));
        assert_eq!(sent(&run(&mut s, "/list")), msgs(&["LIST"]));
        assert_eq!(sent(&run(&mut s, "/away lunch")), msgs(&["AWAY lunch"]));
        assert_eq!(sent(&run(&mut s, "/away")), msgs(&["AWAY"]));
        assert_eq!(sent(&run(&mut s, "/whois bob")), msgs(&["WHOIS bob"]));
        assert_eq!(
            run(&mut s, "/quit see you"),
            vec![Effect::Quit("see you".to_string())]
        );
        // Echoed locally as our own line.
        assert_eq!(
            last_kind(&s, "#lobby"),
            LineKind::Action {
                nick: "me".into(),
                text: "waves".into(),
                own: true
            }
        );
    }

    #[test]
    fn msg_and_query_open_private_buffers() {
        let mut s = joined();
        assert_eq!(
            sent(&run(&mut s, "/msg bob hi bob")),
            msgs(&["PRIVMSG bob :hi bob"])
        );
        let q = s.find_buffer("bob").expect("opened by /msg");
        assert_ne!(s.current, q, "/msg does not switch");
        run(&mut s, "/query carol");
        assert_eq!(s.current_buffer().name, "carol");
        assert_eq!(sent(&run(&mut s, "yo")), msgs(&["PRIVMSG carol yo"]));
        run(&mut s, "/close");
        assert!(s.find_buffer("carol").is_none());
        assert!(run(&mut s, "/close irc.test:6667").is_empty());
        assert!(s.find_buffer("irc.test:6667").is_some());
    }

    #[test]
    fn long_text_is_split() {
        let mut s = joined();
        let long = "word ".repeat(200);
        let out = sent(&run(&mut s, &long));
        assert!(out.len() >= 2);
        assert!(out.iter().all(|m| m.to_string().len() <= 512 - 2));
    }

    #[test]
    fn commands_need_a_connection() {
        let mut s = State::new("h:1", "me", Some("#lobby"));
        assert!(run(&mut s, "/join #x").is_empty());
        assert!(matches!(
            s.current_buffer().lines.back().map(|l| &l.kind),
            Some(LineKind::Error(_))
        ));
        assert!(run(&mut s, "/nick other").is_empty());
        assert_eq!(s.nick, "other");
    }

    #[test]
    fn malformed_lines_do_not_panic() {
        let mut s = joined();
        for line in [
            "PRIVMSG",
            ":x PRIVMSG",
            ":x!y@z PRIVMSG #lobby",
            "JOIN",
            ":a!b@c PART",
            ":a!b@c KICK",
            "353",
            ":s 353",
            ":s 353 me",
            ":s 366",
            ":s 332 me",
            ":s 333 me #lobby x notanumber",
            "MODE #lobby +oooo",
            ":s 005 me PREFIX=(ov CHANMODES= :are supported",
            ":s 005 me PREFIX=() :x",
            "NICK",
            "CAP",
            "CAP * ACK",
            "PONG",
            "ERROR",
            ":x!y@z PRIVMSG me :\u{1}",
            ":x!y@z PRIVMSG me :\u{1}ACTION",
            ":s 999",
            "TOPIC",
            ":x!y@z NOTICE",
        ] {
            if let Ok(msg) = Message::parse(line) {
                s.handle_message(&msg, now());
            }
        }
    }

    #[test]
    fn lag_is_measured_from_matching_pong() {
        let mut s = joined();
        let t0 = now();
        let ping = s.lag_ping(t0, false).expect("registered");
        let token = ping.param(0).to_string();
        let later = Now {
            instant: t0.instant + Duration::from_millis(42),
            local: t0.local,
        };
        s.handle_message(&Message::new("PONG", &["srv", "other"]), later);
        assert_eq!(s.lag, None);
        s.handle_message(&Message::new("PONG", &["srv", &token]), later);
        assert_eq!(s.lag, Some(Duration::from_millis(42)));
        assert_eq!(format_lag(Duration::from_millis(42)), "42ms");
    }

    #[test]
    fn server_time_tag_sets_timestamp() {
        let mut s = joined();
        feed(
            &mut s,
            "@time=2020-01-02T03:04:05.000Z :alice!a@h PRIVMSG #lobby :old",
        );
        let i = s.find_buffer("#lobby").expect("lobby");
        let line = s.buffers[i].lines.back().expect("line");
        assert_eq!(
            line.time.with_timezone(&chrono::Utc).to_rfc3339(),
            "2020-01-02T03:04:05+00:00"
        );
    }

    #[test]
    fn clean_text_strips_formatting_and_controls() {
        assert_eq!(
            clean_text("\u{3}04,12red\u{3} \u{2}b\u{f} \u{1b}[2Jx\ty"),
            "red b [2Jx y"
        );
        assert_eq!(clean_text("\u{3}5,x"), ",x");
    }

    #[test]
    fn scrollback_is_bounded_and_scroll_clamped() {
        let mut s = joined();
        for n in 0..SCROLLBACK_LIMIT + 10 {
            feed(&mut s, &format!(":alice!a@h PRIVMSG #lobby :{n}"));
        }
        let i = s.find_buffer("#lobby").expect("lobby");
        assert_eq!(s.buffers[i].lines.len(), SCROLLBACK_LIMIT);
        s.scroll_up(usize::MAX / 2, 20, now());
        assert_eq!(s.buffers[i].scroll, SCROLLBACK_LIMIT - 1);
        s.scroll_down(usize::MAX, 20, now());
        assert_eq!(s.buffers[i].scroll, 0);
    }
}
