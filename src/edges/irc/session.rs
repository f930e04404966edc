//! The reading side of an IRC connection: framing, the registration state
//! machine (NICK/USER in any order, CAP negotiation holding registration
//! back), translation of every client command into hub commands or local
//! replies, and the liveness check (PING after 90 s of silence, give up after
//! another 90 s).
//!
//! Translation is a pure function ([`translate`]) from one parsed message
//! and the session [`State`] to a list of [`Step`]s; the async [`run`] loop
//! only executes them. That keeps every IRC rule testable without sockets.
//!
//! Must not decide what the hub decides (who may join, send, take a
//! nickname) nor format events (the renderer does, including the numerics
//! queued here as [`Local`] instructions, so that they carry the nickname in
//! effect when they are written). It mirrors two facts it needs for IRC
//! commands the hub has no command for: the client's own nickname (for
//! `MODE nick`) and the rooms it is in (for `JOIN 0` and `MODE #room`),
//! both updated only from the hub's answers.

use std::borrow::Cow;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use tokio_util::codec::FramedRead;

use crate::config::Config;
use crate::core::names::{same, validate_nick};
use crate::core::{Command, Event, HubError, MsgKind, SayTarget};
use crate::edges::framing::{Frame, LineCodec, split_text, text};
use crate::runtime::{Ctx, HubGone};

use super::message::Message;
use super::numeric::*;
use super::render::Local;

/// Silence after which the server checks the client is still there (PING),
/// and again after which it gives up.
pub const PING_AFTER: Duration = Duration::from_secs(90);

/// Longest part of a client's input echoed back in an error reply.
const ECHO_MAX: usize = 64;

/// What the session knows about its client.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct State {
    registered: bool,
    /// Before registration: the nickname offered (valid by the hub's rules,
    /// maybe taken). After: the nickname the hub confirmed.
    nick: Option<String>,
    /// USER's username and real name.
    user: Option<(String, String)>,
    /// CAP LS/REQ was received and CAP END not yet: registration waits.
    cap_open: bool,
    /// Rooms the hub confirmed this client is in.
    rooms: Vec<String>,
}

impl State {
    pub fn is_registered(&self) -> bool {
        self.registered
    }

    pub fn nick(&self) -> Option<&str> {
        self.nick.as_deref()
    }

    pub fn rooms(&self) -> &[String] {
        &self.rooms
    }

    /// The hub accepted the registration; it has put the client into the
    /// default rooms.
    pub fn registered(&mut self, default_rooms: &[String]) {
        self.registered = true;
        for r in default_rooms {
            self.joined(r);
        }
    }

    /// The hub refused the nickname: the client must send another NICK.
    pub fn register_failed(&mut self) {
        self.nick = None;
    }

    pub fn nick_changed(&mut self, nick: &str) {
        self.nick = Some(nick.to_string());
    }

    pub fn joined(&mut self, room: &str) {
        if !self.in_room(room) {
            self.rooms.push(room.to_string());
        }
    }

    pub fn parted(&mut self, room: &str) {
        self.rooms.retain(|r| !same(r, room));
    }

    fn in_room(&self, room: &str) -> bool {
        self.rooms.iter().any(|r| same(r, room))
    }

    /// Registration happens once NICK and USER are known and no CAP
    /// negotiation is open.
    fn try_register(&self, steps: &mut Vec<Step>) {
        if self.registered || self.cap_open {
            return;
        }
        if let (Some(nick), Some((user, realname))) = (&self.nick, &self.user) {
            steps.push(Step::Register {
                nick: nick.clone(),
                user: user.clone(),
                realname: realname.clone(),
            });
        }
    }
}

/// One thing the session does in answer to a client line, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// An event for this connection only (a hub-style reply).
    Tell(Event),
    /// An instruction for this connection's renderer (a local reply that
    /// needs the renderer's state).
    Note(Local),
    /// A hub command whose refusal the hub reports itself.
    Send(Command),
    /// `Command::Register` with the peer's address; the outcome updates
    /// the state.
    Register {
        nick: String,
        user: String,
        realname: String,
    },
    /// Commands whose outcome the state mirrors.
    Nick(String),
    Join(String),
    Part {
        room: String,
        reason: Option<String>,
    },
    /// WHOIS: the end-of-WHOIS line must follow a 401 too.
    Whois(String),
    /// Tell the hub and end the session with this reason.
    Quit(String),
}

fn reply(code: &str, params: &[&str]) -> Step {
    Step::Note(Local::reply(code, params))
}

fn reply_words(code: &str, params: &[&str]) -> Step {
    Step::Note(Local::reply_words(code, params))
}

fn local(l: Local) -> Step {
    Step::Note(l)
}

/// Client input echoed in a reply, cut so the reply stays short.
fn echo(s: &str) -> &str {
    let mut end = s.len().min(ECHO_MAX);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn need_more_params(command: &str) -> Step {
    reply(
        ERR_NEEDMOREPARAMS,
        &[echo(command), "Not enough parameters"],
    )
}

/// The text of a CTCP ACTION (`\x01ACTION waves\x01`), if `text` is one.
fn ctcp_action(text: &str) -> Option<&str> {
    let inner = text.strip_prefix("\u{1}ACTION")?;
    let inner = inner.strip_suffix('\u{1}').unwrap_or(inner);
    if inner.is_empty() {
        return Some("");
    }
    inner.strip_prefix(' ')
}

/// Translates one client message. Pure: the only effect is on `st`, for
/// facts that need no hub decision (the NICK and USER offered before
/// registration, CAP negotiation).
pub fn translate(st: &mut State, msg: &Message, cfg: &Config) -> Vec<Step> {
    let mut steps = Vec::new();
    let p = |i: usize| msg.param(i);
    let cmd = msg.command.as_str();
    match cmd {
        "CAP" => cap(st, msg, &mut steps),
        "PING" => {
            if p(0).is_empty() {
                steps.push(reply(ERR_NOORIGIN, &["No origin specified"]));
            } else {
                // PONG carries no nickname, so it needs no template.
                let server = &cfg.server_name;
                let pong = format!(":{server} PONG {server} :{}\r\n", p(0));
                steps.push(Step::Tell(Event::Raw(Bytes::from(pong))));
            }
        }
        // Any input proves the client is alive; the session notes that.
        "PONG" => {}
        "QUIT" => {
            // "Quit: " keeps a client from posing as a server message
            // ("Ping timeout") in everyone's quit line.
            let reason = match msg.params.first().filter(|r| !r.is_empty()) {
                Some(r) => format!("Quit: {r}"),
                None => "Client quit".to_string(),
            };
            steps.push(Step::Quit(reason));
        }
        "PASS" => {
            if st.registered {
                steps.push(reply(ERR_ALREADYREGISTERED, &["You may not reregister"]));
            }
            // Before registration there are no accounts to check yet.
        }
        "USER" => {
            if st.registered {
                steps.push(reply(ERR_ALREADYREGISTERED, &["You may not reregister"]));
            } else if msg.params.len() < 4 || p(0).is_empty() {
                steps.push(need_more_params(cmd));
            } else {
                st.user = Some((p(0).to_string(), p(3).to_string()));
                st.try_register(&mut steps);
            }
        }
        "NICK" => {
            let nick = p(0);
            if nick.is_empty() {
                steps.push(reply(ERR_NONICKNAMEGIVEN, &["No nickname given"]));
            } else if st.registered {
                steps.push(Step::Nick(nick.to_string()));
            } else if let Err(e) = validate_nick(nick, cfg.hub.nick_len) {
                // The hub would say the same at registration; saying it now
                // is what clients expect (they offer the next nickname).
                steps.push(Step::Tell(Event::Error(HubError::ErroneousNick {
                    nick: echo(nick).into(),
                    reason: e.0,
                })));
            } else {
                st.nick = Some(nick.to_string());
                st.try_register(&mut steps);
            }
        }
        _ if !st.registered => {
            steps.push(reply(ERR_NOTREGISTERED, &["You have not registered"]));
        }
        "JOIN" => {
            if p(0).is_empty() {
                steps.push(need_more_params(cmd));
            } else if p(0) == "0" {
                // JOIN 0 leaves every room (RFC 2812 3.2.1).
                for room in &st.rooms {
                    steps.push(Step::Part {
                        room: room.clone(),
                        reason: None,
                    });
                }
            } else {
                // Keys (the second parameter) are ignored: no room has one.
                for room in p(0).split(',').filter(|r| !r.is_empty()) {
                    steps.push(Step::Join(room.to_string()));
                }
            }
        }
        "PART" => {
            if p(0).is_empty() {
                steps.push(need_more_params(cmd));
            } else {
                let reason = msg.params.get(1).filter(|r| !r.is_empty()).cloned();
                for room in p(0).split(',').filter(|r| !r.is_empty()) {
                    steps.push(Step::Part {
                        room: room.to_string(),
                        reason: reason.clone(),
                    });
                }
            }
        }
        "PRIVMSG" | "NOTICE" => {
            let notice = cmd == "NOTICE";
            // RFC 2812: never an automatic reply to a NOTICE, not even an error.
            if p(0).is_empty() {
                if !notice {
                    steps.push(reply(
                        ERR_NORECIPIENT,
                        &[&format!("No recipient given ({cmd})")],
                    ));
                }
            } else if p(1).is_empty() {
                if !notice {
                    steps.push(reply(ERR_NOTEXTTOSEND, &["No text to send"]));
                }
            } else {
                let (kind, body) = match (notice, ctcp_action(p(1))) {
                    (true, _) => (MsgKind::Notice, p(1)),
                    (false, Some(action)) => (MsgKind::Action, action),
                    // Other CTCP (VERSION, PING, ...) is relayed as text;
                    // replies come back as NOTICE.
                    (false, None) => (MsgKind::Say, p(1)),
                };
                for target in p(0).split(',').filter(|t| !t.is_empty()) {
                    let target = if target.starts_with('#') {
                        SayTarget::Room(target.to_string())
                    } else {
                        SayTarget::Nick(target.to_string())
                    };
                    for part in split_text(body, cfg.hub.text_len) {
                        steps.push(Step::Send(Command::Say {
                            target: target.clone(),
                            kind,
                            text: part.to_string(),
                        }));
                    }
                }
            }
        }
        "TOPIC" => {
            if p(0).is_empty() {
                steps.push(need_more_params(cmd));
            } else {
                steps.push(Step::Send(Command::Topic {
                    room: p(0).to_string(),
                    topic: msg.params.get(1).cloned(),
                }));
            }
        }
        "NAMES" => {
            if p(0).is_empty() {
                // Listing everyone on the server is not offered.
                steps.push(reply(RPL_ENDOFNAMES, &["*", "End of /NAMES list."]));
            } else {
                for room in p(0).split(',').filter(|r| !r.is_empty()) {
                    steps.push(Step::Send(Command::Names(room.to_string())));
                }
            }
        }
        // Filters (LIST #a,#b, LIST >3) are ignored: every room is listed.
        "LIST" => steps.push(Step::Send(Command::ListRooms)),
        "WHO" => {
            if p(0).is_empty() {
                steps.push(reply(RPL_ENDOFWHO, &["*", "End of /WHO list."]));
            } else {
                steps.push(Step::Send(Command::Who(p(0).to_string())));
            }
        }
        "WHOIS" => {
            // WHOIS [server] nick[,nick...]
            let nicks = msg.params.last().map(String::as_str).unwrap_or("");
            if nicks.is_empty() {
                steps.push(reply(ERR_NONICKNAMEGIVEN, &["No nickname given"]));
            } else {
                for nick in nicks.split(',').filter(|n| !n.is_empty()) {
                    steps.push(Step::Whois(nick.to_string()));
                }
            }
        }
        "WHOWAS" => {
            if p(0).is_empty() {
                steps.push(reply(ERR_NONICKNAMEGIVEN, &["No nickname given"]));
            } else {
                // No history of past nicknames is kept.
                steps.push(reply(
                    ERR_WASNOSUCHNICK,
                    &[echo(p(0)), "There was no such nickname"],
                ));
                steps.push(reply(RPL_ENDOFWHOWAS, &[echo(p(0)), "End of WHOWAS"]));
            }
        }
        "AWAY" => {
            let message = msg.params.first().filter(|m| !m.is_empty()).cloned();
            steps.push(Step::Send(Command::Away(message)));
        }
        "USERHOST" | "ISON" => {
            if p(0).is_empty() {
                steps.push(need_more_params(cmd));
            } else {
                // Asked of the hub as WHOIS; the renderer folds the answers
                // into one reply (see render::Local).
                let nicks: Vec<&str> = msg
                    .params
                    .iter()
                    .flat_map(|p| p.split(' '))
                    .filter(|n| !n.is_empty())
                    // USERHOST takes at most five (RFC 2812 4.8).
                    .take(if cmd == "USERHOST" { 5 } else { usize::MAX })
                    .collect();
                steps.push(local(Local::QuietBegin));
                for nick in nicks {
                    steps.push(Step::Send(Command::Whois(nick.to_string())));
                }
                steps.push(local(if cmd == "USERHOST" {
                    Local::UserhostEnd
                } else {
                    Local::IsonEnd
                }));
            }
        }
        "MODE" => mode(st, msg, &mut steps),
        "MOTD" => steps.push(local(Local::Motd)),
        _ => steps.push(reply(ERR_UNKNOWNCOMMAND, &[echo(cmd), "Unknown command"])),
    }
    steps
}

/// CAP LS/LIST/REQ/END. Nothing is advertised yet, so every request is
/// refused; an open negotiation holds registration back until CAP END.
fn cap(st: &mut State, msg: &Message, steps: &mut Vec<Step>) {
    let sub = msg.param(0).to_ascii_uppercase();
    match sub.as_str() {
        "" => steps.push(need_more_params("CAP")),
        "LS" => {
            st.cap_open |= !st.registered;
            steps.push(reply("CAP", &["LS", ""]));
        }
        "LIST" => steps.push(reply("CAP", &["LIST", ""])),
        "REQ" => {
            st.cap_open |= !st.registered;
            steps.push(reply("CAP", &["NAK", msg.param(1)]));
        }
        "END" => {
            st.cap_open = false;
            st.try_register(steps);
        }
        _ => steps.push(reply(
            ERR_INVALIDCAPCMD,
            &[echo(msg.param(0)), "Invalid CAP command"],
        )),
    }
}

/// MODE, as far as it is true here: rooms are `+n` (only members send) and
/// nothing can be changed; users have no modes but `a` (away, set by AWAY).
fn mode(st: &State, msg: &Message, steps: &mut Vec<Step>) {
    let target = msg.param(0);
    if target.is_empty() {
        steps.push(need_more_params("MODE"));
        return;
    }
    if !target.starts_with('#') {
        if st.nick.as_deref().is_some_and(|n| same(n, target)) {
            // A change (irssi sends +i on connect) is accepted without
            // effect; the reply shows the modes really held.
            steps.push(local(Local::Umode));
        } else {
            steps.push(reply(
                ERR_USERSDONTMATCH,
                &["Can't change mode for other users"],
            ));
        }
        return;
    }
    if !st.in_room(target) {
        steps.push(reply(
            ERR_NOTONCHANNEL,
            &[echo(target), "You're not on that channel"],
        ));
        return;
    }
    let modes = msg.param(1);
    if modes.is_empty() {
        steps.push(reply_words(RPL_CHANNELMODEIS, &[target, "+n"]));
        return;
    }
    let mut adding = true;
    for c in modes.chars() {
        match c {
            '+' => adding = true,
            '-' => adding = false,
            // List queries: the lists are always empty.
            'b' => steps.push(reply(
                RPL_ENDOFBANLIST,
                &[target, "End of channel ban list"],
            )),
            'e' => steps.push(reply(
                RPL_ENDOFEXCEPTLIST,
                &[target, "End of channel exception list"],
            )),
            'I' => steps.push(reply(
                RPL_ENDOFINVITELIST,
                &[target, "End of channel invite list"],
            )),
            // Already set: nothing to do.
            'n' if adding => {}
            c => {
                let c = c.to_string();
                steps.push(reply(
                    ERR_UNKNOWNMODE,
                    &[&c, "is not a mode that can be changed on this server"],
                ));
            }
        }
    }
}

/// Liveness of a silent client: the first silent period earns a PING, the
/// second ends the connection.
#[derive(Debug, Default)]
pub struct Liveness {
    pinged: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Silence {
    /// Ask the client whether it is there.
    Ping,
    /// It did not answer: give up.
    Dead,
}

impl Liveness {
    /// Something arrived from the client.
    pub fn heard(&mut self) {
        self.pinged = false;
    }

    /// `PING_AFTER` passed without input.
    pub fn silent(&mut self) -> Silence {
        if self.pinged {
            Silence::Dead
        } else {
            self.pinged = true;
            Silence::Ping
        }
    }
}

/// Makes a decoded line safe to parse: a lone CR or a NUL (which RFC 1459
/// forbids inside a message) becomes a space, so that nothing echoed back
/// can split a line on the client's side.
pub fn clean_line(line: &str) -> Cow<'_, str> {
    if line.contains(['\r', '\0']) {
        Cow::Owned(line.replace(['\r', '\0'], " "))
    } else {
        Cow::Borrowed(line)
    }
}

/// Reads IRC lines until the client leaves; returns the quit reason.
pub async fn run(mut ctx: Ctx, rd: crate::runtime::ReadHalf) -> String {
    // The configured limit counts CR LF (RFC 1459's 512); the codec's does not.
    let max = ctx.cfg.limits.irc_line_bytes.saturating_sub(2).max(16);
    // A small first buffer: an idle connection keeps it for its lifetime
    // (the framed reader's default is 8 KiB); it grows for long lines.
    let mut frames = FramedRead::with_capacity(rd, LineCodec::new(max), 512);
    let mut st = State::default();
    let mut live = Liveness::default();
    loop {
        let frame = match tokio::time::timeout(PING_AFTER, frames.next()).await {
            Err(_) => match live.silent() {
                Silence::Ping => {
                    let ping = format!("PING :{}\r\n", ctx.cfg.server_name);
                    if ctx.tell(Event::Raw(Bytes::from(ping))).await.is_err() {
                        return "Server shutting down".into();
                    }
                    continue;
                }
                Silence::Dead => {
                    return format!("Ping timeout: {} seconds", 2 * PING_AFTER.as_secs());
                }
            },
            Ok(None) => return "Connection closed".into(),
            Ok(Some(Err(e))) => return format!("Read error: {e}"),
            Ok(Some(Ok(frame))) => frame,
        };
        live.heard();
        let steps = match frame {
            Frame::TooLong => vec![reply(ERR_INPUTTOOLONG, &["Input line was too long"])],
            Frame::Line(bytes) => {
                let line = text(&bytes);
                match Message::parse(&clean_line(&line)) {
                    Ok(msg) => translate(&mut st, &msg, &ctx.cfg),
                    // Blank lines and a lone source are ignored, as servers do.
                    Err(_) => continue,
                }
            }
        };
        for step in steps {
            match execute(&mut ctx, &mut st, step).await {
                Ok(None) => {}
                Ok(Some(reason)) => return reason,
                Err(HubGone) => return "Server shutting down".into(),
            }
        }
    }
}

/// Carries out one step; `Some(reason)` ends the session.
async fn execute(ctx: &mut Ctx, st: &mut State, step: Step) -> Result<Option<String>, HubGone> {
    match step {
        Step::Tell(event) => ctx.tell(event).await?,
        Step::Note(local) => ctx.tell(local.event()).await?,
        Step::Send(cmd) => ctx.send(cmd).await?,
        Step::Register {
            nick,
            user,
            realname,
        } => {
            let host = ctx.host();
            let outcome = ctx
                .request(Command::Register {
                    nick,
                    user,
                    realname,
                    host,
                })
                .await?;
            // A refusal already reached the client as 432/433.
            match outcome {
                Ok(()) => st.registered(&ctx.cfg.hub.default_rooms),
                Err(_) => st.register_failed(),
            }
        }
        Step::Nick(nick) => {
            if ctx.request(Command::Nick(nick.clone())).await?.is_ok() {
                st.nick_changed(&nick);
            }
        }
        Step::Join(room) => {
            if ctx.request(Command::Join(room.clone())).await?.is_ok() {
                st.joined(&room);
            }
        }
        Step::Part { room, reason } => {
            let outcome = ctx
                .request(Command::Part {
                    room: room.clone(),
                    reason,
                })
                .await?;
            if matches!(
                outcome,
                Ok(()) | Err(HubError::NotInRoom(_) | HubError::NoSuchRoom(_))
            ) {
                st.parted(&room);
            }
        }
        Step::Whois(nick) => {
            if let Err(HubError::NoSuchNick(_)) = ctx.request(Command::Whois(nick.clone())).await? {
                ctx.tell(
                    Local::reply(RPL_ENDOFWHOIS, &[echo(&nick), "End of /WHOIS list."]).event(),
                )
                .await?;
            }
        }
        Step::Quit(reason) => {
            ctx.send(Command::Quit(Some(reason.clone()))).await?;
            return Ok(Some(reason));
        }
    }
    Ok(None)
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
