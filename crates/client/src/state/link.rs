//! The link to the server as the state model sees it: connecting,
//! registration (capability negotiation, NICK, refused nicks, the welcome,
//! ISUPPORT including `CASEMAPPING`), lag PINGs and disconnects (rooms are
//! remembered for rejoining).
//!
//! It must not handle room traffic or user commands (`inbound.rs`,
//! `commands.rs`), and must not do the I/O itself: what is to be sent is
//! returned as [`Message`]s for the connection task (`conn.rs`).

use std::time::Duration;

use chatroom_proto::irc::casemap::CaseMapping;
use chatroom_proto::irc::message::Message;
use chrono::{DateTime, Local};

use super::buffer::{BufferKind, LineKind};
use super::model::{Caps, Link, Now, Scope, State};
use super::text::{clean_text, format_lag};

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

impl State {
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
        self.account = None;
        self.sasl_reset();
        self.motd_done = false;
        self.whois = None;
        self.lusers = None;
        // Each connection starts from the default: the server (or its
        // configuration) may have changed while we were away.
        self.set_casemap(CaseMapping::default());
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
            Some(d) if d < Duration::from_millis(500) => {
                format!(
                    "disconnected from {}: {reason}; reconnecting now",
                    self.server
                )
            }
            Some(d) => format!(
                "disconnected from {}: {reason}; reconnecting in {}s",
                self.server,
                (d.as_millis() + 500) / 1000
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

    pub(super) fn on_pong(&mut self, msg: &Message, now: Now) {
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

    // ----- registration -----------------------------------------------------

    pub(super) fn on_cap(&mut self, msg: &Message) -> Vec<Message> {
        let sub = msg.param(1).to_ascii_uppercase();
        let list = msg.params.last().map(String::as_str).unwrap_or("");
        let caps = list
            .split(' ')
            .filter(|c| !c.is_empty())
            .map(|c| c.split('=').next().unwrap_or(c).to_string());
        match sub.as_str() {
            "LS" => {
                for token in list.split(' ').filter(|c| !c.is_empty()) {
                    if let Some(mechs) = token.strip_prefix("sasl=") {
                        self.caps.sasl_mechs =
                            Some(mechs.split(',').map(str::to_ascii_uppercase).collect());
                    }
                }
                self.caps.offered.extend(caps);
                // `CAP * LS * :...` means more lines follow.
                let more = msg.params.len() > 3 && msg.param(2) == "*";
                if more || !self.caps.negotiating {
                    return Vec::new();
                }
                let mut want: Vec<&str> = WANTED_CAPS
                    .iter()
                    .copied()
                    .filter(|w| self.caps.offered.iter().any(|o| o == w))
                    .collect();
                if self.sasl_wanted() {
                    want.push("sasl");
                }
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
                    let sasl = caps.iter().any(|c| c == "sasl");
                    self.caps.enabled.extend(caps);
                    if sasl && self.caps.negotiating {
                        // CAP END waits for the login's outcome (903/904).
                        if let Some(start) = self.sasl_start() {
                            out.push(start);
                            self.caps.pending += 1;
                        }
                    }
                } else if self.caps.negotiating && caps.len() > 1 {
                    // A REQ is all or nothing: one capability the server
                    // will not give refuses the lot. Ask for each alone so
                    // the others are still had.
                    for cap in &caps {
                        out.push(Message::new("CAP", &["REQ", cap]));
                    }
                    self.caps.pending += caps.len();
                }
                out.extend(self.cap_step_done());
                out
            }
            _ => Vec::new(),
        }
    }

    /// One awaited answer of the negotiation came (a CAP ACK/NAK, the
    /// SASL outcome); CAP END once none is awaited.
    pub(super) fn cap_step_done(&mut self) -> Vec<Message> {
        self.caps.pending = self.caps.pending.saturating_sub(1);
        if self.caps.negotiating && self.caps.pending == 0 {
            self.caps.negotiating = false;
            return vec![Message::new("CAP", &["END"])];
        }
        Vec::new()
    }

    pub(super) fn on_welcome(&mut self, msg: &Message, time: DateTime<Local>) -> Vec<Message> {
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
        self.sasl_missing(time);
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

    pub(super) fn on_isupport(&mut self, msg: &Message) {
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
                // A mapping we do not implement leaves the one in force.
                "CASEMAPPING" => {
                    if let Some(casemap) = CaseMapping::from_token(value) {
                        self.set_casemap(casemap);
                    }
                }
                _ => {}
            }
        }
    }

    pub(super) fn on_nick_error(
        &mut self,
        msg: &Message,
        time: DateTime<Local>,
        now: Now,
    ) -> Vec<Message> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Line;
    use crate::state::test_support::{feed, joined, last_kind, msgs, nicks, now, run, sent};

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
    fn each_connection_starts_with_rfc1459_casemapping() {
        let mut s = joined();
        feed(
            &mut s,
            ":srv 005 me CASEMAPPING=ascii CHANTYPES=# :are supported",
        );
        assert_eq!(s.casemap(), CaseMapping::Ascii);
        s.on_disconnected("reset", None, now());
        s.on_connected("127.0.0.1:6667", now());
        assert_eq!(s.casemap(), CaseMapping::Rfc1459);
    }
}
