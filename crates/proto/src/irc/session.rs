//! The reading side of an IRC connection: framing, the registration state
//! machine (NICK/USER in any order, CAP negotiation holding registration
//! back), and translation of every client command into hub commands or
//! local replies. The liveness check (PING after 90 s of silence, give up
//! after another 90 s) is kept by the server's deadline task
//! (`runtime::deadlines`); the session only notes that it heard its client.
//!
//! Translation is a pure function ([`translate`]) from one parsed message
//! and the session [`State`] to a list of [`Step`]s; the async [`run`] loop
//! only executes them. That keeps every IRC rule testable without sockets.
//!
//! IRCv3: `CAP` negotiation ([`super::caps`]) holds registration back and
//! tells the renderer what was enabled; lines may carry up to 8191 bytes
//! of tags besides the 512 of the message; lines that are not UTF-8 are
//! refused (`utf8only`); a `label` tag brackets the command's replies for
//! the renderer, and the whole labeled command reaches the hub as one
//! group so that nothing else lands inside its response.
//!
//! Must not decide what the hub decides (who may join, send, take a
//! nickname, change a mode) nor format events (the renderer does, including
//! the numerics queued here as [`Local`] instructions, so that they carry
//! the nickname in effect when they are written). The one check made here
//! is the operator password (`OPER`), because argon2 is too slow for the
//! hub's task: it runs on a blocking thread and the hub is told only the
//! outcome.

use std::borrow::Cow;
use std::time::Duration;

use bytes::Bytes;

use crate::framing::split_text;
use chatroom_config::Config;
use chatroom_core::command::MonitorOp;
use chatroom_core::names::validate_nick;
use chatroom_core::{Command, Event, HubError, ListQuery, MsgKind, SayTarget};

use super::caps::{Cap, CapOutcome, CapState, Offer};
use super::limits::MAX_LABEL;
use super::local::Local;
use super::message::Message;
use super::numeric::*;
use super::tags::{self, TagRefusal};

/// Silence after which the server checks the client is still there (PING),
/// and again after which it gives up.
pub const PING_AFTER: Duration = Duration::from_secs(90);

/// The liveness check of IRC connections, kept for all of them by the
/// server's deadline task: a PING after [`PING_AFTER`] of silence, and the
/// end after as long again without an answer.
pub fn liveness(cfg: &Config) -> crate::Liveness {
    let ping = format!("PING :{}\r\n", cfg.server_name);
    crate::Liveness {
        after: PING_AFTER,
        probe: crate::Envelope::new(Bytes::from(ping)),
        reason: format!("Ping timeout: {} seconds", 2 * PING_AFTER.as_secs()),
    }
}

/// Longest part of a client's input echoed back in an error reply.
const ECHO_MAX: usize = 64;

pub use super::limits::{MAX_TAG_BYTES, TARGMAX};

/// What this server offers in `CAP LS`: exactly what the session and the
/// renderer implement. `chghost` is absent because hosts never change here
/// (the host is the peer's address for the life of the connection);
/// `draft/chathistory` is offered when there is a history to read
/// (`history`); SASL, account-notify, account-tag and
/// draft/account-registration when accounts are on (`accounts`).
pub fn offer(history: bool, accounts: bool) -> Offer {
    let offer = [
        Cap::CapNotify,
        Cap::MessageTags,
        Cap::ServerTime,
        Cap::EchoMessage,
        Cap::LabeledResponse,
        Cap::Batch,
        Cap::MultiPrefix,
        Cap::UserhostInNames,
        Cap::ExtendedJoin,
        Cap::AwayNotify,
        Cap::Setname,
        Cap::Chghost,
        Cap::InviteNotify,
        Cap::StandardReplies,
        Cap::Utf8Only,
    ]
    .into_iter()
    .fold(Offer::new(), |o, c| o.with(c, None));
    let offer = if history {
        offer.with(Cap::ChatHistory, None)
    } else {
        offer
    };
    if accounts {
        offer
            .with(Cap::Sasl, Some(super::sasl::MECHANISMS))
            .with(Cap::AccountNotify, None)
            .with(Cap::AccountTag, None)
            .with(
                Cap::AccountRegistration,
                Some(super::login::REGISTRATION_CAP),
            )
    } else {
        offer
    }
}

/// What the session knows about its client.
///
/// Small on purpose: it lives in every connection's session state for the
/// connection's whole life, and what registration gathers (names, the
/// password) or a SASL exchange holds is needed only for a moment, so it
/// sits in boxes that exist only while they are used (the session's state
/// was 624 B, a size class above 512; `docs/perf.md`, third round).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct State {
    registered: bool,
    /// The connection came over TLS (the hub is told once registered).
    pub secure: bool,
    /// IRCv3 negotiation: what is enabled, and whether an open
    /// negotiation holds registration back.
    caps: CapState,
    /// What registration gathers; `None` once registered (or before
    /// anything was offered).
    gathered: Option<Box<Gathered>>,
    /// A SASL exchange in progress.
    pub sasl: Option<Box<super::sasl::Exchange>>,
    /// The account this connection is logged in to.
    pub account: Option<String>,
}

/// What the client offers before registration.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Gathered {
    /// The nickname offered (valid by the hub's rules, maybe taken). After
    /// registration the renderer keeps track of the nickname.
    nick: Option<String>,
    /// USER's username and real name.
    user: Option<(String, String)>,
    /// The connection password from PASS, checked at registration.
    pass: Option<String>,
}

impl State {
    /// A new connection's state; `secure` when it came over TLS.
    pub fn new(secure: bool) -> State {
        State {
            secure,
            ..State::default()
        }
    }

    pub fn is_registered(&self) -> bool {
        self.registered
    }

    pub fn nick(&self) -> Option<&str> {
        self.gathered.as_ref()?.nick.as_deref()
    }

    fn gathered(&mut self) -> &mut Gathered {
        self.gathered.get_or_insert_with(Box::default)
    }

    /// The hub accepted the registration. What was gathered for it is let
    /// go: the hub and the renderer keep the names from here on, and the
    /// session would hold its copies for the connection's whole life.
    pub fn registered(&mut self) {
        self.registered = true;
        self.gathered = None;
    }

    /// The hub refused the nickname: the client must send another NICK.
    pub fn register_failed(&mut self) {
        if let Some(g) = &mut self.gathered {
            g.nick = None;
        }
    }

    /// The connection password offered with PASS, taken to be checked.
    pub fn take_pass(&mut self) -> Option<String> {
        self.gathered.as_mut()?.pass.take()
    }

    pub fn has(&self, cap: Cap) -> bool {
        self.caps.enabled.has(cap)
    }

    /// `nick!user@host` as known before registration (`*` for what is not).
    pub fn mask(&self, host: &str) -> String {
        let g = self.gathered.as_deref();
        let nick = g.and_then(|g| g.nick.as_deref()).unwrap_or("*");
        let user = g
            .and_then(|g| g.user.as_ref())
            .map_or("*", |(u, _)| u.as_str());
        format!("{nick}!{user}@{host}")
    }

    /// The `label` of a line to answer as a labeled response, if the
    /// client enabled labeled-response and batch (which the spec requires
    /// for labels to be used) and is registered (the registration burst is
    /// never one response).
    pub fn label_of(&self, msg: &Message) -> Option<String> {
        let label = msg.tag("label")?;
        let ok = self.registered
            && self.has(Cap::LabeledResponse)
            && self.has(Cap::Batch)
            && !label.is_empty()
            && label.len() <= MAX_LABEL;
        ok.then(|| label.to_string())
    }

    /// Registration happens once NICK and USER are known and no CAP
    /// negotiation is open.
    fn try_register(&self, steps: &mut Vec<Step>) {
        if self.registered || self.caps.negotiating {
            return;
        }
        let Some(g) = &self.gathered else {
            return;
        };
        if let (Some(nick), Some((user, realname))) = (&g.nick, &g.user) {
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
    /// Bytes for this connection as they are (a PONG).
    Raw(Bytes),
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
    /// OPER: check the password off the hub's task, then tell the hub.
    Oper { name: String, password: String },
    /// `SEARCH #room :words`: ask the store (through the hub, which checks
    /// that the asker is in the room), then tell the client what was found.
    Search { room: String, words: String },
    /// `CHATHISTORY`: ask the store (through the hub's check), then tell
    /// the client the batch.
    ChatHistory(super::chathistory::Request),
    /// An account request (SASL, REGISTER, NickServ), carried out
    /// through the runtime's accounts service.
    Account(super::login::Ask),
    /// Tell the hub and end the session with this reason.
    Quit(String),
}

impl Step {
    /// Steps that need no answer from the hub before the next one, so a
    /// labeled command made of them can go to the hub as one group.
    pub fn is_simple(&self) -> bool {
        matches!(
            self,
            Step::Tell(_) | Step::Raw(_) | Step::Note(_) | Step::Send(_)
        )
    }
}

fn reply(code: &str, params: &[&str]) -> Step {
    Step::Note(Local::reply(code, params))
}

fn local(l: Local) -> Step {
    Step::Note(l)
}

/// Client input echoed in a reply, cut so the reply stays short.
pub fn echo(s: &str) -> &str {
    let mut end = s.len().min(ECHO_MAX);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

pub fn input_too_long() -> Step {
    reply(ERR_INPUTTOOLONG, &["Input line was too long"])
}

/// The client-only tags a message relays: none unless the sender enabled
/// message-tags (a client that did not cannot mean them).
fn client_tags(st: &State, msg: &Message) -> Result<Vec<(String, String)>, TagRefusal> {
    if !st.has(Cap::MessageTags) || msg.tags.is_empty() {
        return Ok(Vec::new());
    }
    tags::client_only(&msg.tags)
}

fn say_target(target: &str) -> SayTarget {
    // STATUSMSG: `@#room` (operators), `+#room` (voiced and operators).
    let mut chars = target.chars();
    if let (Some(p @ ('@' | '+')), Some('#')) = (chars.next(), chars.next()) {
        return SayTarget::Status(p, target[1..].to_string());
    }
    if target.starts_with('#') {
        SayTarget::Room(target.to_string())
    } else {
        SayTarget::Nick(target.to_string())
    }
}

/// A line to ChanServ: a request for the hub, or a reply of its own.
fn chanserv(text: &str, steps: &mut Vec<Step>) {
    match super::chanserv::parse(text) {
        super::chanserv::Ask::Hub(cmd) => steps.push(Step::Send(cmd)),
        super::chanserv::Ask::Say(lines) => {
            steps.extend(super::chanserv::notices(lines).into_iter().map(Step::Note))
        }
    }
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
        "CAP" => cap(st, msg, cfg, &mut steps),
        "AUTHENTICATE" => super::login::authenticate(st, msg, cfg, &mut steps),
        "REGISTER" => super::login::register(msg, cfg, &mut steps),
        "VERIFY" => super::login::verify(msg, cfg, &mut steps),
        "PING" => {
            if p(0).is_empty() {
                steps.push(reply(ERR_NOORIGIN, &["No origin specified"]));
            } else {
                // PONG carries no nickname, so it needs no template; a
                // token as long as the line allows is cut to keep the
                // reply within 512 bytes.
                let server = &cfg.server_name;
                let mut pong = bytes::BytesMut::new();
                super::wire::write_line(&mut pong, Some(server), "PONG", &[server], Some(p(0)));
                steps.push(Step::Raw(pong.freeze()));
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
            } else if p(0).is_empty() {
                steps.push(need_more_params(cmd));
            } else {
                // Checked at registration against `irc_password_hash`
                // (ignored when none is configured).
                st.gathered().pass = Some(p(0).to_string());
            }
        }
        "USER" => {
            if st.registered {
                steps.push(reply(ERR_ALREADYREGISTERED, &["You may not reregister"]));
            } else if msg.params.len() < 4 || p(0).is_empty() || p(3).is_empty() {
                // An empty username or real name is as good as none
                // (Modern IRC, USER).
                steps.push(need_more_params(cmd));
            } else {
                st.gathered().user = Some((p(0).to_string(), p(3).to_string()));
                st.try_register(&mut steps);
            }
        }
        "NICK" => {
            let nick = p(0);
            if nick.is_empty() {
                steps.push(reply(ERR_NONICKNAMEGIVEN, &["No nickname given"]));
            } else if st.registered {
                // From here on the renderer follows the nickname (from the
                // hub's NICK event); the session no longer needs it.
                steps.push(Step::Send(Command::Nick(nick.to_string())));
            } else if let Err(e) = validate_nick(nick, cfg.hub.nick_len) {
                // The hub would say the same at registration; saying it now
                // is what clients expect (they offer the next nickname).
                steps.push(Step::Tell(Event::Error(HubError::ErroneousNick {
                    nick: echo(nick).into(),
                    reason: e.0,
                })));
            } else {
                st.gathered().nick = Some(nick.to_string());
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
                steps.push(Step::Send(Command::PartAll));
            } else {
                // `JOIN #a,#b key1,key2`: keys pair up with rooms in order.
                let mut keys = p(1).split(',');
                for room in p(0).split(',') {
                    let key = keys.next().unwrap_or("");
                    if room.is_empty() {
                        continue;
                    }
                    steps.push(Step::Send(if key.is_empty() {
                        Command::Join(room.to_string())
                    } else {
                        Command::JoinKey {
                            room: room.to_string(),
                            key: key.to_string(),
                        }
                    }));
                }
            }
        }
        "PART" => {
            if p(0).is_empty() {
                steps.push(need_more_params(cmd));
            } else {
                let reason = msg.params.get(1).filter(|r| !r.is_empty()).cloned();
                for room in p(0).split(',').filter(|r| !r.is_empty()) {
                    steps.push(Step::Send(Command::Part {
                        room: room.into(),
                        reason: reason.clone(),
                    }));
                }
            }
        }
        "PRIVMSG" if super::login::is_nickserv(p(0)) => {
            super::login::nickserv(p(1), cfg, &mut steps);
        }
        // Services never answer a NOTICE, and nobody holds their nickname.
        "NOTICE" if super::login::is_nickserv(p(0)) => {}
        // Room registration (a service, not a member): never relayed.
        "PRIVMSG" if super::chanserv::is_chanserv(p(0)) => chanserv(p(1), &mut steps),
        "NOTICE" if super::chanserv::is_chanserv(p(0)) => {}
        "CS" | "CHANSERV" => chanserv(&msg.params.join(" "), &mut steps),
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
                let targets: Vec<&str> = p(0).split(',').filter(|t| !t.is_empty()).collect();
                if targets.len() > TARGMAX {
                    if !notice {
                        steps.push(reply(ERR_TOOMANYTARGETS, &[echo(p(0)), "Too many targets"]));
                    }
                    return steps;
                }
                let Ok(tags) = client_tags(st, msg) else {
                    steps.push(input_too_long());
                    return steps;
                };
                for target in targets {
                    let target = say_target(target);
                    for part in split_text(body, cfg.hub.text_len) {
                        steps.push(Step::Send(Command::Say {
                            target: target.clone(),
                            kind,
                            text: part.to_string(),
                            tags: tags.clone(),
                        }));
                    }
                }
            }
        }
        "NS" | "NICKSERV" => {
            super::login::nickserv(&msg.params.join(" "), cfg, &mut steps);
        }
        "TAGMSG" => {
            let targets: Vec<&str> = p(0).split(',').filter(|t| !t.is_empty()).collect();
            if targets.is_empty() {
                steps.push(need_more_params(cmd));
            } else if targets.len() > TARGMAX {
                steps.push(reply(ERR_TOOMANYTARGETS, &[echo(p(0)), "Too many targets"]));
            } else {
                match client_tags(st, msg) {
                    Err(TagRefusal::TooLong) => steps.push(input_too_long()),
                    Ok(tags) => {
                        for target in targets {
                            steps.push(Step::Send(Command::TagMsg {
                                target: say_target(target),
                                tags: tags.clone(),
                            }));
                        }
                    }
                }
            }
        }
        "CHATHISTORY" => match super::chathistory::parse(msg, cfg.hub.nick_len) {
            Ok(req) => steps.push(Step::ChatHistory(req)),
            Err(fail) => steps.push(Step::Note(fail)),
        },
        "SEARCH" => {
            // `SEARCH #room :some words` or `SEARCH #room some words`.
            let words = msg.params.get(1..).map(|w| w.join(" ")).unwrap_or_default();
            if p(0).is_empty() || words.trim().is_empty() {
                steps.push(need_more_params(cmd));
            } else {
                steps.push(Step::Search {
                    room: p(0).to_string(),
                    words,
                });
            }
        }
        "SETNAME" => {
            if msg.params.is_empty() {
                steps.push(need_more_params(cmd));
            } else {
                steps.push(Step::Send(Command::Setname(p(0).to_string())));
            }
        }
        "TOPIC" => {
            if p(0).is_empty() {
                steps.push(need_more_params(cmd));
            } else {
                steps.push(Step::Send(Command::Topic {
                    room: p(0).into(),
                    topic: msg.params.get(1).cloned(),
                }));
            }
        }
        "NAMES" => {
            if p(0).is_empty() {
                // Listing everyone on the server is not offered.
                steps.push(reply(RPL_ENDOFNAMES, &["*", "End of /NAMES list."]));
            } else {
                let rooms: Vec<&str> = p(0).split(',').filter(|r| !r.is_empty()).collect();
                // Several rooms: one RPL_ENDOFNAMES naming them all, after
                // every room's 353s (Modern IRC, NAMES).
                let several = rooms.len() > 1;
                if several {
                    steps.push(local(Local::NamesBegin));
                }
                for room in rooms {
                    steps.push(Step::Send(Command::Names(room.to_string())));
                }
                if several {
                    steps.push(local(Local::NamesEnd(echo(p(0)).to_string())));
                }
            }
        }
        "LIST" => steps.push(Step::Send(Command::List(list_query(p(0))))),
        "WHO" => {
            if p(0).is_empty() {
                steps.push(reply(RPL_ENDOFWHO, &["*", "End of /WHO list."]));
            } else {
                // WHOX: `WHO mask %fields[,token]`.
                if let Some(spec) = p(1).strip_prefix('%') {
                    let (fields, token) = spec.split_once(',').unwrap_or((spec, ""));
                    // The token is echoed: keep it to a short plain word.
                    let token: String = token
                        .chars()
                        .filter(char::is_ascii_alphanumeric)
                        .take(3)
                        .collect();
                    steps.push(local(Local::Whox {
                        fields: fields.chars().take(16).collect(),
                        token,
                    }));
                }
                steps.push(Step::Send(Command::Who(p(0).into())));
            }
        }
        "WHOIS" => {
            // WHOIS [server] nick[,nick...]
            let nicks = msg.params.last().map(String::as_str).unwrap_or("");
            if nicks.is_empty() {
                steps.push(reply(ERR_NONICKNAMEGIVEN, &["No nickname given"]));
            } else {
                for nick in nicks.split(',').filter(|n| !n.is_empty()).take(TARGMAX) {
                    // A 401 is followed by the end-of-WHOIS line too.
                    steps.push(Step::Send(Command::Whois(nick.to_string())));
                    steps.push(local(Local::WhoisEnd(echo(nick).to_string())));
                }
            }
        }
        "WHOWAS" => {
            if p(0).is_empty() {
                steps.push(reply(ERR_NONICKNAMEGIVEN, &["No nickname given"]));
            } else {
                // A count that is not a positive number means "all".
                let count = p(1).parse::<usize>().unwrap_or(0);
                for nick in p(0).split(',').filter(|n| !n.is_empty()).take(TARGMAX) {
                    steps.push(Step::Send(Command::Whowas {
                        nick: nick.to_string(),
                        count,
                    }));
                }
            }
        }
        "KICK" => {
            if p(1).is_empty() {
                steps.push(need_more_params(cmd));
            } else {
                // `KICK #a u1,u2` kicks both from #a; `KICK #a,#b u1,u2`
                // pairs them up (RFC 2812 3.2.8).
                let rooms: Vec<&str> = p(0).split(',').collect();
                let reason = msg.params.get(2).filter(|r| !r.is_empty()).cloned();
                for (i, nick) in p(1).split(',').take(TARGMAX).enumerate() {
                    let room = if rooms.len() == 1 {
                        rooms[0]
                    } else {
                        rooms.get(i).copied().unwrap_or("")
                    };
                    if room.is_empty() || nick.is_empty() {
                        steps.push(need_more_params(cmd));
                        continue;
                    }
                    steps.push(Step::Send(Command::Kick {
                        room: room.into(),
                        nick: nick.to_string(),
                        reason: reason.clone(),
                    }));
                }
            }
        }
        "INVITE" => {
            if p(1).is_empty() {
                steps.push(need_more_params(cmd));
            } else {
                steps.push(Step::Send(Command::Invite {
                    nick: p(0).to_string(),
                    room: p(1).into(),
                }));
            }
        }
        "OPER" => {
            if p(1).is_empty() {
                steps.push(need_more_params(cmd));
            } else {
                steps.push(Step::Oper {
                    name: p(0).to_string(),
                    password: p(1).to_string(),
                });
            }
        }
        "KILL" => {
            if p(1).is_empty() {
                steps.push(need_more_params(cmd));
            } else {
                steps.push(Step::Send(Command::Kill {
                    nick: p(0).to_string(),
                    reason: p(1).to_string(),
                }));
            }
        }
        "CHGHOST" => {
            if p(1).is_empty() {
                steps.push(need_more_params(cmd));
            } else {
                steps.push(Step::Send(Command::ChgHost {
                    nick: p(0).to_string(),
                    host: p(1).to_string(),
                }));
            }
        }
        "LUSERS" => steps.push(Step::Send(Command::Lusers)),
        "MONITOR" => {
            // IRCv3 monitor: `+ a,b`, `- a,b`, `C`, `L`, `S`.
            let targets = || -> Vec<String> {
                p(1).split(',')
                    .filter(|n| !n.is_empty())
                    .map(str::to_string)
                    .collect()
            };
            let op = match p(0) {
                "+" if !p(1).is_empty() => Some(MonitorOp::Add(targets())),
                "-" if !p(1).is_empty() => Some(MonitorOp::Remove(targets())),
                "C" | "c" => Some(MonitorOp::Clear),
                "L" | "l" => Some(MonitorOp::List),
                "S" | "s" => Some(MonitorOp::Status),
                _ => None,
            };
            match op {
                Some(op) => steps.push(Step::Send(Command::Monitor(op))),
                None => steps.push(need_more_params(cmd)),
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
        "MODE" => {
            if p(0).is_empty() {
                steps.push(need_more_params(cmd));
            } else {
                steps.push(Step::Send(Command::Mode {
                    target: p(0).into(),
                    args: msg.params[1..].to_vec(),
                }));
            }
        }
        "MOTD" => steps.push(local(Local::Motd)),
        _ => steps.push(reply(ERR_UNKNOWNCOMMAND, &[echo(cmd), "Unknown command"])),
    }
    steps
}

/// CAP LS/LIST/REQ/END ([`CapState::handle`]); an open negotiation holds
/// registration back until CAP END, and every change of the enabled set
/// is passed to the renderer in stream order.
fn cap(st: &mut State, msg: &Message, cfg: &Config, steps: &mut Vec<Step>) {
    let before = st.caps.enabled;
    let offered = offer(cfg.history.enabled, super::login::accounts_on(cfg));
    match st.caps.handle(&offered, &msg.params, st.registered) {
        CapOutcome::Reply(lines) => {
            for params in lines {
                let refs: Vec<&str> = params.iter().map(String::as_str).collect();
                steps.push(reply("CAP", &refs));
            }
            // After the ACK: capabilities apply from the next line on.
            if st.caps.enabled != before {
                steps.push(local(Local::Caps(st.caps.enabled)));
            }
        }
        CapOutcome::End => st.try_register(steps),
        CapOutcome::NeedMoreParams => steps.push(need_more_params("CAP")),
        CapOutcome::Invalid(sub) => steps.push(reply(
            ERR_INVALIDCAPCMD,
            &[echo(&sub), "Invalid CAP command"],
        )),
    }
}

/// LIST's filters (RFC 2812 3.2.6, ELIST=MU): comma-separated room masks,
/// `>n` (more than n members) and `<n` (fewer than n).
fn list_query(arg: &str) -> ListQuery {
    let mut q = ListQuery::default();
    // Bounded: a 512-byte line cannot hold many, but masks are matched
    // against every room, so keep the work small anyway.
    for item in arg.split(',').filter(|i| !i.is_empty()).take(16) {
        if let Some(n) = item.strip_prefix('>') {
            q.more_than = n.parse().ok();
        } else if let Some(n) = item.strip_prefix('<') {
            q.fewer_than = n.parse().ok();
        } else {
            q.masks.push(item.to_string());
        }
    }
    q
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

/// Over the limits: more than [`MAX_TAG_BYTES`] of tags, or more than
/// `max` bytes of message after them.
pub fn too_long(line: &[u8], max: usize) -> bool {
    let tags = match line.first() {
        Some(b'@') => line
            .iter()
            .position(|&b| b == b' ')
            .map_or(line.len(), |i| i + 1),
        _ => 0,
    };
    tags > MAX_TAG_BYTES || line.len() - tags > max
}

/// utf8only: a line that is not UTF-8 is refused, never relayed with
/// replacement characters standing in for what the sender meant.
pub fn not_utf8(line: &[u8]) -> Step {
    let lossy = String::from_utf8_lossy(line);
    let command = Message::parse(&lossy)
        .ok()
        .map(|m| m.command)
        .filter(|c| !c.is_empty() && c.len() <= 32 && c.bytes().all(|b| b.is_ascii_alphanumeric()))
        .unwrap_or_else(|| "*".to_string());
    Step::Note(Local::fail(
        &command,
        "INVALID_UTF8",
        &[],
        "Message rejected: it is not valid UTF-8",
    ))
}

pub fn secure_enough(secure: bool, peer: std::net::IpAddr, allow_plaintext: bool) -> bool {
    secure || allow_plaintext || peer.is_loopback()
}

pub fn plaintext_refused() -> Event {
    Event::ServerNotice {
        text: "Passwords are only accepted over TLS (the ircs port) or from this machine; \
               nothing was checked"
            .into(),
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
