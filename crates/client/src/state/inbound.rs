//! Messages from the server, applied to the state: the dispatcher
//! ([`State::handle_message`]) and everything about rooms and people —
//! joins, parts, kicks, quits, nick changes, talk (with CTCP), topics,
//! modes, NAMES and the other numerics. Registration and lag replies are
//! handed to `link.rs`, history batches and search answers to `history.rs`.
//!
//! It must not carry out user commands (`commands.rs`) and must never
//! panic on a malformed or hostile line: missing parameters read as "".

use chatroom_proto::irc::message::Message;
use chrono::{DateTime, Local, TimeZone};

use super::account::nickserv_shown;
use super::buffer::{BufferKind, Line, LineKind, Member};
use super::model::{Now, Scope, State};
use super::text::{clean_text, non_empty, parse_ctcp};

impl State {
    /// Applies one message from the server. Returns the replies to send.
    pub fn handle_message(&mut self, msg: &Message, now: Now) -> Vec<Message> {
        let time = message_time(msg, now.local);
        let from = msg.source_nick().unwrap_or("").to_string();
        let talk = matches!(
            msg.command.as_str(),
            "PRIVMSG" | "NOTICE" | "INVITE" | "TAGMSG"
        );
        if talk && self.is_ignored(msg.source.as_deref()) {
            return Vec::new();
        }
        if self.take_batched(msg, &from, time) {
            return Vec::new();
        }
        if self.lusers_part(msg, time) {
            return Vec::new();
        }
        self.lusers_done(time);
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
            "AUTHENTICATE" => return self.on_authenticate(msg),
            "900" | "901" | "902" | "903" | "904" | "905" | "906" | "907" | "908" => {
                return self.on_account_numeric(msg, time);
            }
            "REGISTER" => self.on_register_reply(msg, time),
            "FAIL" if msg.param(0).eq_ignore_ascii_case("REGISTER") => {
                self.on_register_fail(msg, time)
            }
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

    fn on_join(&mut self, msg: &Message, from: &str, time: DateTime<Local>, now: Now) {
        let chan = msg.param(0);
        if chan.is_empty() {
            return;
        }
        let key = self.fold(from);
        if self.same(from, &self.nick) {
            // A server with batch replays the room's recent lines in a
            // chathistory batch after the join; pages wait for it.
            let replay = self.has_cap("batch");
            let i = self.ensure_buffer(chan, BufferKind::Channel);
            let b = &mut self.buffers[i];
            b.name = chan.to_string();
            b.joined = true;
            b.rejoin = false;
            b.members.clear();
            b.names_done = true;
            b.show_names = true;
            b.history_on_join(replay, now.instant);
            b.members.insert(
                key,
                Member {
                    nick: from.to_string(),
                    prefixes: String::new(),
                },
            );
            let casemap = self.casemap();
            if let Some(pos) = self
                .switch_on_join
                .iter()
                .position(|c| casemap.same(c, chan))
            {
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
            self.want_log(i);
        } else if let Some(i) = self.find_buffer(chan) {
            self.buffers[i].members.insert(
                key,
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
        let me = self.same(nick, &self.nick);
        let key = self.fold(nick);
        let b = &mut self.buffers[i];
        if me {
            b.joined = false;
            b.rejoin = false;
            b.members.clear();
        } else {
            b.members.remove(&key);
        }
        self.push_to(i, line(nick.to_string()), time);
    }

    fn on_quit(&mut self, nick: &str, reason: Option<String>, time: DateTime<Local>) {
        let key = self.fold(nick);
        let casemap = self.casemap();
        let mut told = false;
        for i in 0..self.buffers.len() {
            let b = &mut self.buffers[i];
            let present = match b.kind {
                BufferKind::Channel => b.members.remove(&key).is_some(),
                BufferKind::Query => casemap.same(&b.name, nick),
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
        let me = self.same(old, &self.nick);
        if me {
            self.nick = new.to_string();
        }
        let old_key = self.fold(old);
        let new_key = self.fold(new);
        let casemap = self.casemap();
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
                        b.members.insert(new_key.clone(), m);
                        true
                    }
                    None => false,
                },
                BufferKind::Query if casemap.same(&b.name, old) => {
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
        let own = !from.is_empty() && self.same(from, &self.nick);
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
        if notice && (from_server || from.is_empty()) && !action {
            self.server_notice(msg, time);
            return replies;
        }
        let mut text = clean_text(&text);
        if own && target.eq_ignore_ascii_case("nickserv") {
            text = nickserv_shown(&text);
        }
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
        let key = self.fold(nick);
        let Some(m) = self.buffers[i].members.get_mut(&key) else {
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
        if self.whois_part(msg, time) {
            return;
        }
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
                let users = match p(2).parse::<u64>() {
                    Ok(1) => "1 user".to_string(),
                    Ok(n) => format!("{n} users"),
                    Err(_) => p(2).to_string(),
                };
                self.info_at(current, format!("  {} ({users}){topic}", p(1)), time);
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
            "369" => self.info_at(current, last, time),
            "375" => {}
            "376" | "422" => {
                if msg.command == "422" {
                    self.push(0, LineKind::Info(last), time, Some(Scope::Global));
                }
                self.motd_done = true;
            }
            "372" => {
                let text = last.strip_prefix("- ").unwrap_or(&last).to_string();
                self.push(0, LineKind::Info(text), time, Some(Scope::Global));
            }
            "004" => {
                let text = format!("{} runs {}", p(1), p(2));
                self.push(0, LineKind::Info(text), time, Some(Scope::Global));
            }
            "002" | "003" => {
                self.push(0, LineKind::Info(last), time, Some(Scope::Global));
            }
            "396" => {
                let text = format!("{} is now your displayed host", p(1));
                self.push(0, LineKind::Info(text), time, Some(Scope::Global));
            }
            "221" => self.info_at(current, format!("your modes: {}", p(1)), time),
            "324" => {
                let modes: Vec<&str> = msg.params.iter().skip(2).map(String::as_str).collect();
                let i = self.find_buffer(p(1)).unwrap_or(current);
                self.info_at(i, format!("{} has modes {}", p(1), modes.join(" ")), time);
            }
            "329" => {
                let when = p(2)
                    .parse::<i64>()
                    .ok()
                    .and_then(|t| Local.timestamp_opt(t, 0).single());
                if let Some(t) = when {
                    let i = self.find_buffer(p(1)).unwrap_or(current);
                    let text = format!("{} was created on {}", p(1), t.format("%Y-%m-%d %H:%M"));
                    self.info_at(i, text, time);
                }
            }
            "341" => self.info_at(current, format!("invited {} to {}", p(1), p(2)), time),
            "381" => self.info_at(current, "you are now a server operator".to_string(), time),
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
                let casemap = self.casemap();
                let b = &mut self.buffers[i];
                if b.names_done {
                    b.members.clear();
                    b.names_done = false;
                }
                for m in parsed {
                    b.members.insert(casemap.fold(&m.nick), m);
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
}

/// The `time` tag (server-time) when present and valid, else `now`.
fn message_time(msg: &Message, now: DateTime<Local>) -> DateTime<Local> {
    msg.tag("time")
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Local))
        .unwrap_or(now)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::test_support::{feed, joined, last_kind, msgs, nicks, now};

    #[test]
    fn ping_gets_pong() {
        let mut s = State::new("h:1", "me", None);
        assert_eq!(feed(&mut s, "PING :abc def"), msgs(&["PONG :abc def"]));
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
}
