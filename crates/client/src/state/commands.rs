//! User commands carried out on the state: what each parsed line the user
//! typed (`command.rs` parses) sends and changes — talk split to fit a
//! line, joins, parts, nick changes, closing buffers, `/help`.
//!
//! It must not parse input (that is `command.rs`) nor handle what the
//! server sends back (`inbound.rs`); what is to be sent is returned as
//! [`Effect`]s for the session to carry out.

use chatroom_proto::framing::split_text;
use chatroom_proto::irc::message::Message;

use super::account::nickserv_shown;
use super::buffer::{BufferKind, LineKind};
use super::model::{Effect, Link, Now, Scope, State};
use crate::command::{Command, HELP};

impl State {
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
                | Command::Login { .. }
                | Command::Set { .. }
                | Command::Save(_)
                | Command::Ignore(_)
                | Command::Reconnect
                | Command::Unignore(_)
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
                    if !self.switch_on_join.iter().any(|c| self.same(c, r)) {
                        self.switch_on_join.push(r.clone());
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
            Command::Set { name, value } => {
                self.set_command(name, value, now);
                Vec::new()
            }
            Command::Save(name) => vec![Effect::Save(name)],
            Command::Ignore(mask) => self.ignore_command(mask, now),
            Command::Reconnect => {
                self.info(format!("reconnecting to {}", self.server), now);
                vec![Effect::Reconnect]
            }
            Command::Unignore(what) => self.unignore_command(what, now),
            Command::Login { account, password } => self.login_command(account, password, now),
            Command::Register { password, email } => self.register_command(password, email, now),
            Command::Raw(line) => match Message::parse(&line) {
                Ok(msg) => vec![Effect::Send(msg)],
                Err(e) => {
                    self.error(format!("cannot send {line:?}: {e}"), now);
                    Vec::new()
                }
            },
        }
    }

    /// `/set`, `/set NAME`, `/set NAME VALUE`.
    fn set_command(&mut self, name: Option<String>, value: Option<String>, now: Now) {
        let Some(name) = name else {
            self.info(
                "settings (/set NAME VALUE changes one; /save keeps them):",
                now,
            );
            for (name, value) in self.settings.entries() {
                self.info(format!("  {name} = {value}"), now);
            }
            return;
        };
        let name = name.to_ascii_lowercase();
        let Some(value) = value else {
            match self.settings.get(&name) {
                Some(v) => self.info(format!("{name} = {v}"), now),
                None => self.error(format!("no setting {name:?}; /set lists them"), now),
            }
            return;
        };
        match self.settings.set(&name, &value) {
            Ok(()) => {
                self.scrollback_limit = self.settings.scrollback.max(1);
                self.history_page = self.settings.history_page.clamp(1, 1000);
                let shown = self
                    .settings
                    .get(&name)
                    .map(|v| v.to_string())
                    .unwrap_or(value);
                self.info(format!("{name} = {shown} (/save keeps it)"), now);
            }
            Err(why) => self.error(why, now),
        }
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
        let secret = name.eq_ignore_ascii_case("nickserv");
        for chunk in chunks {
            let shown = if secret {
                nickserv_shown(chunk)
            } else {
                chunk.to_string()
            };
            let line = if action {
                LineKind::Action {
                    nick: nick.clone(),
                    text: shown,
                    own: true,
                }
            } else {
                LineKind::Message {
                    nick: nick.clone(),
                    text: shown,
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

/// How much text fits in one PRIVMSG to `target` so that the line the
/// server relays (with our full `nick!user@host` prefix) stays within 512
/// bytes; the user and host lengths are guessed at their usual maximum.
fn max_text_len(nick: &str, target: &str) -> usize {
    let overhead = 1 + nick.len() + 1 + 10 + 1 + 63 + " PRIVMSG ".len() + target.len() + 2 + 2;
    512usize.saturating_sub(overhead).max(64)
}

/// Messages to send `text` to `target`, split to fit.
fn send_chunks(command: &str, target: &str, text: &str, nick: &str) -> Vec<Effect> {
    split_text(text, max_text_len(nick, target))
        .into_iter()
        .map(|chunk| Effect::Send(Message::new(command, &[target, chunk])))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::test_support::{feed, joined, last_kind, msgs, now, run, sent};

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
        // Split at spaces, the space at each cut not sent (the shared
        // `split_text`'s rule, the server's too).
        let texts: Vec<&str> = out.iter().map(|m| m.param(1)).collect();
        assert!(texts.iter().all(|t| !t.starts_with(' ')), "{texts:?}");
        assert_eq!(texts.join(" "), long);
    }

    #[test]
    fn set_lists_shows_and_changes_settings() {
        let mut s = joined();
        run(&mut s, "/set time_format %H:%M:%S");
        assert_eq!(s.settings.time_format, "%H:%M:%S");
        assert!(
            matches!(last_kind(&s, "#lobby"), LineKind::Info(t) if t == "time_format = %H:%M:%S (/save keeps it)")
        );
        run(&mut s, "/set scrollback 300");
        assert_eq!(s.scrollback_limit, 300);
        run(&mut s, "/set colors maybe");
        assert!(matches!(last_kind(&s, "#lobby"), LineKind::Error(t) if t.contains("on or off")));
        run(&mut s, "/set colors");
        assert!(matches!(last_kind(&s, "#lobby"), LineKind::Info(t) if t == "colors = on"));
        let before = s.current_buffer().lines.len();
        run(&mut s, "/set");
        let listed = s.current_buffer().lines.len() - before;
        assert_eq!(listed, 1 + s.settings.entries().len());
        assert_eq!(
            run(&mut s, "/save lan"),
            vec![Effect::Save(Some("lan".into()))]
        );
    }

    #[test]
    fn extra_rooms_are_joined_on_registration() {
        let mut s = State::new("h:1", "me", Some("#a"));
        s.add_room("b");
        s.on_connected("h:1", now());
        assert_eq!(
            feed(&mut s, ":srv 001 me :hi"),
            msgs(&["JOIN #a", "JOIN #b"])
        );
        assert_eq!(s.current_buffer().name, "#a");
        assert_eq!(s.rooms(), vec!["#a", "#b"]);
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
}
