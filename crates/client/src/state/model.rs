//! The client's whole state ([`State`]) and the changes every part of it
//! shares: finding, creating and switching buffers, adding a line (the
//! scrollback bound, unread counts, highlights, msgid de-duplication, the
//! events plain mode prints), and comparing names under the case mapping
//! the server announced (`CASEMAPPING`, rfc1459 until it says otherwise).
//!
//! It must not import the handlers built on it (`link.rs`, `inbound.rs`,
//! `commands.rs`, `history.rs`): they change the state through what is
//! here, never the other way round. Like the rest of `state/` it does no
//! I/O and reads no clock.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chatroom_proto::irc::casemap::CaseMapping;
use chatroom_proto::irc::message::Message;
use chrono::{DateTime, Local};

use super::account::{Login, Sasl};
use super::buffer::{Buffer, BufferKind, Line, LineKind, Member};
use super::replies::{Lusers, Whois};
use super::text::has_word;
use crate::settings::Settings;

/// Lines kept per buffer by default (`--scrollback`); older ones are dropped
/// so a long-running client's memory stays bounded. Older history dropped
/// this way is fetched again when the user scrolls back up to it.
pub const SCROLLBACK_LIMIT: usize = 5000;

/// Lines asked for per `CHATHISTORY` page by default (`--history-page`);
/// servers cut it to their own `CHATHISTORY=` maximum.
pub const HISTORY_PAGE: usize = 100;

/// Above the lines read back from a buffer's log.
pub const LOG_MARK: &str = "— from the log —";

/// The two clocks a transition may need: monotonic for lag, wall for
/// timestamps. Passed in so tests can fix them.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    pub instant: Instant,
    pub local: DateTime<Local>,
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

/// A line that wants the user's attention (a highlight, a private
/// message): the full-screen mode rings the bell and notifies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// The buffer it went to.
    pub buffer: String,
    pub from: String,
    pub text: String,
    pub private: bool,
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
    /// Write the settings (and the server, under this name) to the
    /// configuration file.
    Save(Option<String>),
    /// Drop the link (if up) and connect again now.
    Reconnect,
}

/// Capability negotiation (`link.rs` runs it).
#[derive(Debug, Default)]
pub(super) struct Caps {
    pub(super) negotiating: bool,
    pub(super) offered: Vec<String>,
    pub(super) enabled: Vec<String>,
    /// CAP REQs sent (and a SASL login started) and not yet answered;
    /// CAP END goes once none are.
    pub(super) pending: usize,
    /// The mechanisms offered with `sasl=` (CAP 302), upper case; `None`
    /// when the server did not list them.
    pub(super) sasl_mechs: Option<Vec<String>>,
}

/// An open `chathistory` batch (`history.rs` fills and places it).
#[derive(Debug)]
pub(super) struct OpenBatch {
    pub(super) target: String,
    pub(super) lines: Vec<Line>,
    /// Stored lines not shown (tag-only messages: reactions), and the
    /// msgid of the first of them: a page of nothing else is not the
    /// beginning of the history, and the next page goes on from there.
    pub(super) hidden: usize,
    pub(super) first_hidden: Option<String>,
}

/// A `/search` waiting for (or receiving) its answer (see `history.rs`).
#[derive(Debug)]
pub(super) struct Search {
    pub(super) room: String,
    pub(super) started: bool,
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
    /// How to log in on every connection (SASL), if at all.
    pub login: Option<Login>,
    /// The account we are logged in to, as the server said (900).
    pub account: Option<String>,
    /// A `/login` or `/register` waiting for the server's word; it becomes
    /// `login` once it succeeds, so a reconnection logs in with SASL.
    pub(super) pending_login: Option<Login>,
    pub(super) sasl: Sasl,
    /// Why the server refused this connection's login, until the session
    /// has taken it (`take_stop`).
    pub(super) login_refused: Option<String>,
    /// Queue the live lines for the logs (the session writes them) while
    /// the `logs` setting is on.
    pub record_logs: bool,
    pub(super) log_queue: Vec<(Option<String>, Line)>,
    /// A WHOIS answer being gathered, the LUSERS numbers, and whether the
    /// welcome (up to the end of the MOTD) is over.
    pub(super) whois: Option<Whois>,
    pub(super) lusers: Option<Lusers>,
    pub(super) motd_done: bool,
    /// Lines that want attention, until the front end takes them.
    pub(super) alerts: Vec<Alert>,
    /// Buffers whose log should be read back as scrollback.
    pub(super) log_wanted: Vec<String>,
    /// Keep an [`Event`] per added line for [`State::take_events`] (plain mode).
    pub record_events: bool,
    pub(super) events: Vec<Event>,
    pub(super) caps: Caps,
    pub(super) nick_tries: u32,
    /// (mode letter, prefix symbol), highest rank first, from ISUPPORT PREFIX.
    pub(super) prefixes: Vec<(char, char)>,
    /// ISUPPORT CHANMODES groups A..D: which modes take an argument.
    pub(super) chanmodes: [String; 4],
    pub(super) chantypes: String,
    /// How the server compares names (ISUPPORT CASEMAPPING); member keys
    /// are folded with it.
    casemap: CaseMapping,
    pub(super) ping: Option<(String, Instant, bool)>,
    pub(super) ping_seq: u64,
    /// Rooms the user asked to join, as typed: switch to them on arrival.
    pub(super) switch_on_join: Vec<String>,
    /// The settings in force (`/set` changes them).
    pub settings: Settings,
    /// Lines kept per buffer (see [`SCROLLBACK_LIMIT`]).
    pub scrollback_limit: usize,
    /// Lines asked for per history page (see [`HISTORY_PAGE`]).
    pub history_page: usize,
    /// Open `chathistory` batches by reference: their target and lines.
    pub(super) batches: HashMap<String, OpenBatch>,
    /// The room a `/search` was sent for, and whether its answer started.
    pub(super) search: Option<Search>,
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
            login: None,
            account: None,
            pending_login: None,
            sasl: Sasl::Idle,
            login_refused: None,
            record_logs: false,
            log_queue: Vec::new(),
            log_wanted: Vec::new(),
            alerts: Vec::new(),
            whois: None,
            lusers: None,
            motd_done: false,
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
            casemap: CaseMapping::default(),
            ping: None,
            ping_seq: 0,
            switch_on_join: Vec::new(),
            settings: Settings::default(),
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

    /// Another room to join on registration (the first is given to
    /// [`State::new`]); it does not become current.
    pub fn add_room(&mut self, room: &str) {
        let room = room.trim();
        if room.is_empty() {
            return;
        }
        let name = self.channel_name(room);
        let i = self.ensure_buffer(&name, BufferKind::Channel);
        self.buffers[i].rejoin = true;
    }

    /// The rooms we are in (or will rejoin), in buffer order, for `/save`.
    pub fn rooms(&self) -> Vec<String> {
        self.buffers
            .iter()
            .filter(|b| b.kind == BufferKind::Channel && (b.joined || b.rejoin))
            .map(|b| b.name.clone())
            .collect()
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

    /// The buffer named `name` (a room or a nick, compared as the server
    /// compares names).
    pub fn find_buffer(&self, name: &str) -> Option<usize> {
        self.buffers.iter().position(|b| self.same(&b.name, name))
    }

    pub(super) fn ensure_buffer(&mut self, name: &str, kind: BufferKind) -> usize {
        if let Some(i) = self.find_buffer(name) {
            return i;
        }
        self.buffers.push(Buffer::new(name, kind));
        let i = self.buffers.len() - 1;
        if kind == BufferKind::Query {
            self.want_log(i);
        }
        i
    }

    /// Asks (once) for buffer `i`'s log as scrollback, when the server
    /// keeps no history that would bring it.
    pub(super) fn want_log(&mut self, i: usize) {
        if !self.record_logs || !self.settings.logs || self.has_cap("draft/chathistory") {
            return;
        }
        if let Some(b) = self.buffers.get_mut(i)
            && !b.log_asked
        {
            b.log_asked = true;
            self.log_wanted.push(b.name.clone());
        }
    }

    /// The lines to write to the logs since the last call: the buffer's
    /// name (`None`: the server buffer) and the line.
    pub fn take_log_lines(&mut self) -> Vec<(Option<String>, Line)> {
        std::mem::take(&mut self.log_queue)
    }

    /// The buffers whose log is to be read back ([`State::load_log`]).
    pub fn take_log_wanted(&mut self) -> Vec<String> {
        std::mem::take(&mut self.log_wanted)
    }

    /// Puts lines read from buffer `name`'s log above what it holds,
    /// under a mark, as history (dimmed, not logged again).
    pub fn load_log(&mut self, name: &str, lines: Vec<Line>, now: Now) {
        let Some(i) = self.find_buffer(name) else {
            return;
        };
        if lines.is_empty() {
            return;
        }
        let mut block = Vec::with_capacity(lines.len() + 1);
        block.push(Line::new(now.local, LineKind::Marker(LOG_MARK.to_string())));
        block.extend(lines);
        let limit = self.scrollback_limit.max(1);
        let scope = self.scope_of(i);
        if self.record_events {
            for line in &block {
                self.events.push(Event {
                    scope: scope.clone(),
                    line: line.clone(),
                });
            }
        }
        let b = &mut self.buffers[i];
        let added = block.len();
        for (n, line) in block.into_iter().enumerate() {
            b.lines.insert(n, line);
        }
        if b.scroll > 0 {
            b.scroll += added;
        }
        // The log is the oldest part: past the limit it is what goes.
        while b.lines.len() > limit {
            b.lines.pop_front();
        }
    }

    /// Makes buffer `i` current and marks it read.
    pub fn switch_to(&mut self, i: usize) {
        if let Some(b) = self.buffers.get_mut(i) {
            b.unread = 0;
            b.mentions = 0;
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
                .then_with(|| self.fold(&a.nick).cmp(&self.fold(&b.nick)))
        });
        members
    }

    /// Adds a line to buffer `i`; `scope` says whether (and how) plain mode
    /// prints it.
    pub(super) fn push(
        &mut self,
        i: usize,
        kind: LineKind,
        time: DateTime<Local>,
        scope: Option<Scope>,
    ) {
        self.push_line(i, Line::new(time, kind), scope);
    }

    /// Adds a built line to buffer `i` (see [`State::push`]). A line whose
    /// msgid the buffer already holds is dropped (the same message seen in
    /// the replay and live). While newer lines are unloaded (the user paged
    /// far back) live lines wait aside until the view catches up.
    pub(super) fn push_line(&mut self, i: usize, line: Line, scope: Option<Scope>) {
        let i = i.min(self.buffers.len() - 1);
        if let Some(id) = &line.msgid
            && self.buffers[i].hist.holds(id)
        {
            return;
        }
        let kind = self.buffers[i].kind;
        let (mention, private) = match &line.kind {
            LineKind::Message { text, own, .. } | LineKind::Action { text, own, .. } => (
                !own && self.mentions_me(text),
                !own && kind == BufferKind::Query,
            ),
            // A notice may mention us; only a person's private one alerts
            // as private (server notices are the server buffer's).
            LineKind::Notice { text, own, .. } => (
                !own && kind != BufferKind::Server && self.mentions_me(text),
                !own && kind == BufferKind::Query,
            ),
            _ => (false, false),
        };
        let attention = (mention || private) && !line.history;
        if attention && let Some(from) = line.kind.nick() {
            self.alerts.push(Alert {
                buffer: self.buffers[i].name.clone(),
                from: from.to_string(),
                text: line.kind.text().unwrap_or_default().to_string(),
                private,
            });
        }
        let talk = line.kind.is_talk();
        if self.record_logs && self.settings.logs && !line.history {
            let b = &self.buffers[i];
            let name = (b.kind != BufferKind::Server).then(|| b.name.clone());
            self.log_queue.push((name, line.clone()));
        }
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
            if mention || private {
                b.highlight = true;
                b.mentions += 1;
            }
        }
    }

    /// Whether `text` mentions our nick or a highlight word, as a whole
    /// word, compared as the server compares names.
    pub fn mentions_me(&self, text: &str) -> bool {
        let mut words = vec![self.fold(&self.nick)];
        words.extend(self.settings.highlights.iter().map(|w| self.fold(w)));
        has_word(&self.fold(text), &words)
    }

    /// The lines that want attention since the last call.
    pub fn take_alerts(&mut self) -> Vec<Alert> {
        std::mem::take(&mut self.alerts)
    }

    pub(super) fn scope_of(&self, i: usize) -> Scope {
        match self.buffers.get(i) {
            Some(b) if b.kind == BufferKind::Channel => Scope::Room(b.name.clone()),
            Some(b) if b.kind == BufferKind::Query => Scope::Private(b.name.clone()),
            _ => Scope::Global,
        }
    }

    /// Adds a line to buffer `i`, scoped as that buffer.
    pub(super) fn push_to(&mut self, i: usize, kind: LineKind, time: DateTime<Local>) {
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

    pub(super) fn server_info(&mut self, text: impl Into<String>, time: DateTime<Local>) {
        self.push(0, LineKind::Info(text.into()), time, Some(Scope::Global));
    }

    /// Whether the server agreed to capability `cap`.
    pub fn has_cap(&self, cap: &str) -> bool {
        self.caps.enabled.iter().any(|c| c == cap)
    }

    /// The current buffer's room, when it is one.
    pub(super) fn current_channel(&self) -> Option<String> {
        let b = self.current_buffer();
        (b.kind == BufferKind::Channel).then(|| b.name.clone())
    }

    // ----- names -------------------------------------------------------------

    /// How the server compares names, as its ISUPPORT said (rfc1459 before).
    pub fn casemap(&self) -> CaseMapping {
        self.casemap
    }

    /// `name` folded as the server folds it: the key of member maps.
    pub fn fold(&self, name: &str) -> String {
        self.casemap.fold(name)
    }

    /// Whether the server takes `a` and `b` for the same nick or room.
    pub fn same(&self, a: &str, b: &str) -> bool {
        self.casemap.same(a, b)
    }

    /// Compares names from now on as `casemap` does; member lists are keyed
    /// again under it (two members it makes one are then one).
    pub(super) fn set_casemap(&mut self, casemap: CaseMapping) {
        if casemap == self.casemap {
            return;
        }
        self.casemap = casemap;
        for b in &mut self.buffers {
            let members = std::mem::take(&mut b.members);
            b.members = members
                .into_values()
                .map(|m| (casemap.fold(&m.nick), m))
                .collect();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::test_support::{feed, joined, nicks, now, run};

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

    #[test]
    fn live_lines_are_queued_for_the_logs_and_logs_asked_once() {
        let mut s = State::new("irc.test:6667", "me", Some("#lobby"));
        s.record_logs = true;
        s.on_connected("127.0.0.1:6667", now());
        feed(&mut s, ":srv 001 me :Welcome");
        feed(&mut s, ":me!u@h JOIN #lobby");
        assert_eq!(s.take_log_wanted(), vec!["#lobby"]);
        feed(&mut s, ":alice!a@h PRIVMSG #lobby :hi");
        let queued = s.take_log_lines();
        let names: Vec<Option<&str>> = queued.iter().map(|(n, _)| n.as_deref()).collect();
        assert!(names.contains(&None), "server buffer lines: {names:?}");
        assert_eq!(names.last(), Some(&Some("#lobby")));
        // Joined again (a reconnect): the log is not read twice.
        feed(&mut s, ":me!u@h JOIN #lobby");
        assert!(s.take_log_wanted().is_empty());
        // A new private conversation asks for its log.
        feed(&mut s, ":bob!b@h PRIVMSG me :psst");
        assert_eq!(s.take_log_wanted(), vec!["bob"]);
        // Off: nothing queued.
        s.settings.logs = false;
        s.take_log_lines();
        feed(&mut s, ":alice!a@h PRIVMSG #lobby :unlogged");
        assert!(s.take_log_lines().is_empty());
    }

    #[test]
    fn a_server_with_history_gets_no_log_read_back() {
        let mut s = State::new("irc.test:6667", "me", Some("#lobby"));
        s.record_logs = true;
        s.on_connected("127.0.0.1:6667", now());
        feed(&mut s, ":srv CAP * LS :batch draft/chathistory");
        feed(&mut s, ":srv CAP * ACK :batch draft/chathistory");
        feed(&mut s, ":srv 001 me :Welcome");
        feed(&mut s, ":me!u@h JOIN #lobby");
        assert!(s.take_log_wanted().is_empty());
    }

    #[test]
    fn a_log_read_back_goes_above_under_its_mark() {
        let mut s = joined();
        let i = s.find_buffer("#lobby").expect("lobby");
        let before = s.buffers[i].lines.len();
        let old = Line {
            history: true,
            ..Line::new(
                now().local,
                LineKind::Message {
                    nick: "alice".into(),
                    text: "from yesterday".into(),
                    own: false,
                },
            )
        };
        s.load_log("#lobby", vec![old.clone()], now());
        let b = &s.buffers[i];
        assert_eq!(b.lines.len(), before + 2);
        assert_eq!(b.lines[0].kind, LineKind::Marker(LOG_MARK.into()));
        assert_eq!(b.lines[1], old);
        assert!(matches!(b.lines[2].kind, LineKind::Join { .. }));
    }

    #[test]
    fn highlights_and_private_lines_alert_and_count() {
        let mut s = joined();
        s.settings.set("highlights", "pizza").expect("set");
        run(&mut s, "/join #other");
        feed(&mut s, ":me!u@h JOIN #other");
        let lobby = s.find_buffer("#lobby").expect("lobby");
        s.take_alerts();
        feed(&mut s, ":alice!a@h PRIVMSG #lobby :some chatter");
        feed(&mut s, ":alice!a@h PRIVMSG #lobby :me: PIZZA is here");
        feed(&mut s, ":alice!a@h PRIVMSG #lobby :pizza again");
        feed(&mut s, ":bob!b@h PRIVMSG me :psst");
        let alerts = s.take_alerts();
        assert_eq!(
            alerts
                .iter()
                .map(|a| (a.buffer.as_str(), a.from.as_str(), a.private))
                .collect::<Vec<_>>(),
            vec![
                ("#lobby", "alice", false),
                ("#lobby", "alice", false),
                ("bob", "bob", true)
            ]
        );
        assert_eq!(alerts[0].text, "me: PIZZA is here");
        assert_eq!((s.buffers[lobby].unread, s.buffers[lobby].mentions), (3, 2));
        s.switch_to(lobby);
        assert_eq!((s.buffers[lobby].unread, s.buffers[lobby].mentions), (0, 0));
        // Our own lines and replayed history never alert.
        run(&mut s, "pizza for me");
        feed(&mut s, ":srv BATCH +x chathistory #lobby");
        feed(&mut s, "@batch=x :alice!a@h PRIVMSG #lobby :me in the past");
        feed(&mut s, ":srv BATCH -x");
        assert!(
            s.buffers[lobby]
                .lines
                .iter()
                .any(|l| l.history && l.kind.text() == Some("me in the past"))
        );
        assert!(s.take_alerts().is_empty());
    }

    /// A state registered as `me` with the server announcing `casemap`.
    fn mapped(casemap: &str) -> State {
        let mut s = joined();
        feed(
            &mut s,
            &format!(":srv 005 me CASEMAPPING={casemap} :are supported by this server"),
        );
        s
    }

    #[test]
    fn casemapping_defaults_to_rfc1459_until_announced() {
        let s = joined();
        assert_eq!(s.casemap(), CaseMapping::Rfc1459);
        assert_eq!(mapped("ascii").casemap(), CaseMapping::Ascii);
        assert_eq!(
            mapped("rfc1459-strict").casemap(),
            CaseMapping::Rfc1459Strict
        );
        // A mapping we do not know leaves the one in force.
        assert_eq!(mapped("rfc7613").casemap(), CaseMapping::Rfc1459);
    }

    #[test]
    fn rooms_differing_in_letter_case_are_one_buffer_under_ascii() {
        let mut s = mapped("ascii");
        feed(&mut s, ":me!u@h JOIN #Room");
        feed(&mut s, ":alice!a@h PRIVMSG #room :hi");
        let i = s.find_buffer("#ROOM").expect("joined");
        assert_eq!(s.find_buffer("#room"), Some(i));
        let rooms = s.buffers.iter().filter(|b| s.same(&b.name, "#room"));
        assert_eq!(rooms.count(), 1);
        assert_eq!(
            s.buffers[i].lines.back().map(|l| l.kind.is_talk()),
            Some(true)
        );
    }

    #[test]
    fn brackets_are_case_only_under_rfc1459() {
        for (casemap, same) in [("rfc1459", true), ("ascii", false)] {
            let mut s = mapped(casemap);
            feed(&mut s, ":[x]!u@h JOIN #lobby");
            feed(&mut s, ":{x}!u@h JOIN #lobby");
            let both = nicks(&s, "#lobby").len() == 5;
            assert_eq!(both, !same, "{casemap}: {:?}", nicks(&s, "#lobby"));
            feed(&mut s, ":[x]!u@h PRIVMSG me :one");
            feed(&mut s, ":{x}!u@h PRIVMSG me :two");
            let queries = s.buffers.iter().filter(|b| b.kind == BufferKind::Query);
            assert_eq!(queries.count(), if same { 1 } else { 2 }, "{casemap}");
            assert_eq!(s.same("[X]", "{x}"), same);
        }
    }

    #[test]
    fn member_keys_follow_a_new_casemapping() {
        let mut s = joined();
        feed(&mut s, ":[Al]!u@h JOIN #lobby");
        feed(&mut s, ":srv 005 me CASEMAPPING=ascii :are supported");
        // Keyed again under ascii: the part still finds the member.
        feed(&mut s, ":[al]!u@h PART #lobby");
        assert_eq!(nicks(&s, "#lobby"), vec!["@bob", "alice", "me"]);
    }
}
