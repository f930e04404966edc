//! Core events → IRC lines, for one connection.
//!
//! The renderer runs in the connection's writer task and is the only place
//! that knows what the client currently calls itself: it learns its nickname
//! from `Event::Welcome` and `Event::NickChanged`, in stream order, so every
//! numeric carries the nickname the client holds at that point (`*` before
//! registration).
//!
//! Lines that look the same to every IRC recipient (PRIVMSG, JOIN, PART,
//! QUIT, NICK, TOPIC) are formatted once per event through the render cache
//! ([`SLOT_PLAIN`]) and shared.
//!
//! The session talks to the renderer through `Event::Edge` notes holding a
//! [`Local`]: templated replies that need the current nickname, and the
//! brackets around USERHOST/ISON look-ups. `Raw` bytes are written as they are.
//!
//! This module must not decide anything: it never drops a message the hub
//! delivered except the client's own PRIVMSG/NOTICE echo (IRC clients show
//! their own messages themselves) and replies it folds into USERHOST/ISON.

use std::borrow::Cow;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{BufMut, Bytes, BytesMut};

use crate::config::Config;
use crate::core::names::{Name, same};
use crate::core::{EdgeNote, Event, HubError, MemberInfo, MsgKind, MsgTarget, Shared, UserInfo};
use crate::edges::framing::split_text;
use crate::runtime::Renderer;

use super::numeric::*;

/// Render-cache slot for lines every plain IRC client receives identically.
/// Slots 3..=5 are kept for later variants (IRCv3 `server-time`,
/// `echo-message`, ...); 0 and 1 belong to the line protocol.
pub const SLOT_PLAIN: usize = 2;

/// Longest line written, CR LF not included (RFC 1459: 512 with CR LF).
const MAX_LINE: usize = 510;

/// The network name in 001 and ISUPPORT.
pub const NETWORK: &str = "chatroom";

/// What the server calls its software in 002/004.
pub fn version() -> String {
    format!("chatroom-{}", env!("CARGO_PKG_VERSION"))
}

/// Roughly when the server started: the first time a renderer was built.
fn created() -> &'static str {
    static CREATED: OnceLock<String> = OnceLock::new();
    CREATED.get_or_init(|| {
        chrono::Utc::now()
            .format("%Y-%m-%d %H:%M:%S UTC")
            .to_string()
    })
}

/// Instructions from this edge's session to its renderer, carried in
/// `Event::Edge` so that they stay in order with the hub's replies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Local {
    /// `:server <command> <nick> <params...>`; with `trailing` the last
    /// parameter is always written as a trailing one (`:text`).
    Reply {
        command: String,
        params: Vec<String>,
        trailing: bool,
    },
    /// RPL_UMODEIS with the modes the renderer knows (`+a` when away).
    Umode,
    /// The message of the day (MOTD command).
    Motd,
    /// WHOIS replies and ERR_NOSUCHNICK that follow are collected, not shown…
    QuietBegin,
    /// …until this, which answers them as one RPL_USERHOST…
    UserhostEnd,
    /// …or as one RPL_ISON.
    IsonEnd,
}

impl Local {
    /// A numeric (or CAP) reply for the client whose last parameter is text.
    pub fn reply(command: &str, params: &[&str]) -> Local {
        Local::Reply {
            command: command.to_string(),
            params: params.iter().map(|p| p.to_string()).collect(),
            trailing: true,
        }
    }

    /// A reply whose parameters are all plain words.
    pub fn reply_words(command: &str, params: &[&str]) -> Local {
        Local::Reply {
            command: command.to_string(),
            params: params.iter().map(|p| p.to_string()).collect(),
            trailing: false,
        }
    }

    pub fn event(&self) -> Event {
        Event::Edge(EdgeNote::new(self.clone()))
    }
}

/// One person found during a USERHOST/ISON look-up.
#[derive(Debug)]
struct Found {
    nick: String,
    user: String,
    host: String,
    away: bool,
}

/// Renders events for one IRC connection.
#[derive(Debug)]
pub struct IrcRenderer {
    server: String,
    motd: Option<String>,
    isupport: Vec<String>,
    /// The client's nickname once registered.
    me: Option<String>,
    /// `user@host` once registered (for the ERROR line).
    userhost: Option<String>,
    away: bool,
    /// Inside a USERHOST/ISON look-up: what was found so far.
    quiet: Option<Vec<Found>>,
}

impl IrcRenderer {
    pub fn new(cfg: &Config) -> IrcRenderer {
        let h = &cfg.hub;
        // Only what the server really does: no channel modes but +n (which
        // is how rooms behave), only the @ prefix for the first member.
        let isupport = vec![
            "CASEMAPPING=ascii".to_string(),
            "CHANTYPES=#".to_string(),
            "PREFIX=(o)@".to_string(),
            "CHANMODES=,,,n".to_string(),
            format!("CHANLIMIT=#:{}", h.max_rooms_per_member),
            format!("NICKLEN={}", h.nick_len),
            format!("CHANNELLEN={}", h.room_len),
            format!("TOPICLEN={}", h.topic_len),
            format!("AWAYLEN={}", h.away_len),
            format!("NETWORK={NETWORK}"),
        ];
        created();
        IrcRenderer {
            server: cfg.server_name.clone(),
            motd: cfg.motd.clone(),
            isupport,
            me: None,
            userhost: None,
            away: false,
            quiet: None,
        }
    }

    fn me(&self) -> &str {
        self.me.as_deref().unwrap_or("*")
    }

    fn is_me(&self, nick: &str) -> bool {
        self.me.as_deref().is_some_and(|m| same(m, nick))
    }

    /// `:server <code> <me> <params...> [:trailing]`
    fn numeric(&self, out: &mut BytesMut, code: &str, params: &[&str], trailing: Option<&str>) {
        let mut all = Vec::with_capacity(params.len() + 1);
        all.push(self.me());
        all.extend_from_slice(params);
        write_line(out, Some(&self.server), code, &all, trailing);
    }

    fn welcome(&self, out: &mut BytesMut, user: &UserInfo) {
        let version = version();
        self.numeric(
            out,
            RPL_WELCOME,
            &[],
            Some(&format!(
                "Welcome to the {NETWORK} IRC network, {}",
                source(user)
            )),
        );
        self.numeric(
            out,
            RPL_YOURHOST,
            &[],
            Some(&format!(
                "Your host is {}, running version {version}",
                self.server
            )),
        );
        self.numeric(
            out,
            RPL_CREATED,
            &[],
            Some(&format!("This server was created {}", created())),
        );
        // User modes: only `a` (set by AWAY); channel modes: only `n`, and
        // `o` shown as the @ prefix.
        self.numeric(out, RPL_MYINFO, &[&self.server, &version, "a", "no"], None);
        // At most 12 tokens per line keeps every 005 line far below 512 bytes.
        for chunk in self.isupport.chunks(12) {
            let tokens: Vec<&str> = chunk.iter().map(String::as_str).collect();
            self.numeric(
                out,
                RPL_ISUPPORT,
                &tokens,
                Some("are supported by this server"),
            );
        }
        self.motd(out);
    }

    fn motd(&self, out: &mut BytesMut) {
        match self.motd.as_deref().filter(|m| !m.trim().is_empty()) {
            None => self.numeric(out, ERR_NOMOTD, &[], Some("MOTD File is missing")),
            Some(motd) => {
                self.numeric(
                    out,
                    RPL_MOTDSTART,
                    &[],
                    Some(&format!("- {} Message of the day - ", self.server)),
                );
                for line in motd.lines() {
                    for part in split_text(line, 400) {
                        self.numeric(out, RPL_MOTD, &[], Some(&format!("- {part}")));
                    }
                }
                self.numeric(out, RPL_ENDOFMOTD, &[], Some("End of /MOTD command."));
            }
        }
    }

    fn error(&self, out: &mut BytesMut, e: &HubError) {
        let text = e.to_string();
        match e {
            HubError::NotRegistered => {
                self.numeric(out, ERR_NOTREGISTERED, &[], Some("You have not registered"))
            }
            HubError::AlreadyRegistered => self.numeric(
                out,
                ERR_ALREADYREGISTERED,
                &[],
                Some("You may not reregister"),
            ),
            HubError::NickInUse(nick) => self.numeric(
                out,
                ERR_NICKNAMEINUSE,
                &[nick],
                Some("Nickname is already in use"),
            ),
            HubError::ErroneousNick { nick, reason } => self.numeric(
                out,
                ERR_ERRONEUSNICKNAME,
                &[nick],
                Some(&format!("Erroneous nickname: {reason}")),
            ),
            // RFC 2812 answers a JOIN of an impossible name with 403.
            HubError::BadRoomName { name, reason } => self.numeric(
                out,
                ERR_NOSUCHCHANNEL,
                &[name],
                Some(&format!("Illegal channel name: {reason}")),
            ),
            HubError::NoSuchNick(nick) => {
                if self.quiet.is_none() {
                    self.numeric(out, ERR_NOSUCHNICK, &[nick], Some("No such nick/channel"))
                }
            }
            HubError::NoSuchRoom(room) => {
                self.numeric(out, ERR_NOSUCHCHANNEL, &[room], Some("No such channel"))
            }
            HubError::NotInRoom(room) => self.numeric(
                out,
                ERR_NOTONCHANNEL,
                &[room],
                Some("You're not on that channel"),
            ),
            // IRC always names a room, so this only follows a bug elsewhere.
            HubError::NoFocus => self.numeric(out, ERR_NOSUCHCHANNEL, &["*"], Some(&text)),
            HubError::CannotSendToRoom(room) => self.numeric(
                out,
                ERR_CANNOTSENDTOCHAN,
                &[room],
                Some("Cannot send to channel (join it first)"),
            ),
            HubError::NoText => self.numeric(out, ERR_NOTEXTTOSEND, &[], Some("No text to send")),
            // The hub's error does not say which room was refused.
            HubError::TooManyRooms(_) => {
                self.numeric(out, ERR_TOOMANYCHANNELS, &["*"], Some(&text))
            }
        }
    }

    fn names(&self, out: &mut BytesMut, room: &str, members: &[MemberInfo]) {
        let prefix_len = format!(":{} {RPL_NAMREPLY} {} = {room} :", self.server, self.me()).len();
        let room_budget = MAX_LINE.saturating_sub(prefix_len).max(64);
        let mut chunk = String::new();
        for m in members {
            let entry_len = m.user.nick.len() + usize::from(m.op);
            if !chunk.is_empty() && chunk.len() + 1 + entry_len > room_budget {
                self.numeric(out, RPL_NAMREPLY, &["=", room], Some(&chunk));
                chunk.clear();
            }
            if !chunk.is_empty() {
                chunk.push(' ');
            }
            if m.op {
                chunk.push('@');
            }
            chunk.push_str(&m.user.nick);
        }
        if !chunk.is_empty() {
            self.numeric(out, RPL_NAMREPLY, &["=", room], Some(&chunk));
        }
        self.numeric(out, RPL_ENDOFNAMES, &[room], Some("End of /NAMES list."));
    }

    fn whois(
        &mut self,
        out: &mut BytesMut,
        user: &UserInfo,
        rooms: &[Name],
        away: Option<&str>,
        idle_secs: u64,
        signon: SystemTime,
    ) {
        if let Some(found) = &mut self.quiet {
            found.push(Found {
                nick: user.nick.to_string(),
                user: word(&user.user).into_owned(),
                host: host(&user.host).into_owned(),
                away: away.is_some(),
            });
            return;
        }
        let nick = &*user.nick;
        self.numeric(
            out,
            RPL_WHOISUSER,
            &[nick, &word(&user.user), &host(&user.host), "*"],
            Some(&user.realname),
        );
        if !rooms.is_empty() {
            let prefix_len = format!(
                ":{} {RPL_WHOISCHANNELS} {} {nick} :",
                self.server,
                self.me()
            )
            .len();
            let budget = MAX_LINE.saturating_sub(prefix_len).max(64);
            let mut chunk = String::new();
            for r in rooms {
                if !chunk.is_empty() && chunk.len() + 1 + r.len() > budget {
                    self.numeric(out, RPL_WHOISCHANNELS, &[nick], Some(&chunk));
                    chunk.clear();
                }
                if !chunk.is_empty() {
                    chunk.push(' ');
                }
                chunk.push_str(r);
            }
            self.numeric(out, RPL_WHOISCHANNELS, &[nick], Some(&chunk));
        }
        self.numeric(
            out,
            RPL_WHOISSERVER,
            &[nick, &self.server],
            Some("chatroom server"),
        );
        if let Some(a) = away {
            self.numeric(out, RPL_AWAY, &[nick], Some(a));
        }
        let idle = idle_secs.to_string();
        let signon = unix(signon).to_string();
        self.numeric(
            out,
            RPL_WHOISIDLE,
            &[nick, &idle, &signon],
            Some("seconds idle, signon time"),
        );
        self.numeric(out, RPL_ENDOFWHOIS, &[nick], Some("End of /WHOIS list."));
    }

    fn local(&mut self, out: &mut BytesMut, local: Local) {
        match local {
            Local::Reply {
                command,
                params,
                trailing,
            } => {
                let refs: Vec<&str> = params.iter().map(String::as_str).collect();
                match (trailing, refs.split_last()) {
                    (true, Some((last, middle))) => self.numeric(out, &command, middle, Some(last)),
                    _ => self.numeric(out, &command, &refs, None),
                }
            }
            Local::Umode => {
                let modes = if self.away { "+a" } else { "+" };
                self.numeric(out, RPL_UMODEIS, &[modes], None);
            }
            Local::Motd => self.motd(out),
            Local::QuietBegin => self.quiet = Some(Vec::new()),
            Local::UserhostEnd => {
                let found = self.quiet.take().unwrap_or_default();
                let list: Vec<String> = found
                    .iter()
                    .map(|f| {
                        let flag = if f.away { '-' } else { '+' };
                        format!("{}={flag}{}@{}", f.nick, f.user, f.host)
                    })
                    .collect();
                self.numeric(out, RPL_USERHOST, &[], Some(&list.join(" ")));
            }
            Local::IsonEnd => {
                let found = self.quiet.take().unwrap_or_default();
                let list: Vec<&str> = found.iter().map(|f| f.nick.as_str()).collect();
                self.numeric(out, RPL_ISON, &[], Some(&list.join(" ")));
            }
        }
    }
}

impl Renderer for IrcRenderer {
    fn render(&mut self, shared: &Shared, out: &mut BytesMut) {
        match &shared.event {
            Event::Message { from, to, .. } => {
                // No echo-message capability yet: a client never gets its own
                // PRIVMSG/NOTICE back, except a private message to itself.
                let to_me = matches!(to, MsgTarget::Nick(n) if self.is_me(n));
                if self.is_me(&from.nick) && !to_me {
                    return;
                }
                out.put(shared.rendered(SLOT_PLAIN, render_message));
            }
            Event::Joined { .. }
            | Event::Parted { .. }
            | Event::Quit { .. }
            | Event::TopicChanged { .. } => {
                out.put(shared.rendered(SLOT_PLAIN, render_shared));
            }
            Event::NickChanged { old, who } => {
                if self.is_me(old) {
                    self.me = Some(who.nick.to_string());
                }
                out.put(shared.rendered(SLOT_PLAIN, render_shared));
            }
            Event::Welcome { nick, user } => {
                self.me = Some(nick.to_string());
                self.userhost = Some(format!("{}@{}", word(&user.user), host(&user.host)));
                self.welcome(out, user);
            }
            Event::TopicIs { room, topic } => match topic {
                Some(t) => {
                    self.numeric(out, RPL_TOPIC, &[room], Some(&t.text));
                    let time = unix(t.time).to_string();
                    self.numeric(out, RPL_TOPICWHOTIME, &[room, &t.setter, &time], None);
                }
                None => self.numeric(out, RPL_NOTOPIC, &[room], Some("No topic is set")),
            },
            Event::Names { room, members } => self.names(out, room, members),
            Event::RoomList { rooms } => {
                self.numeric(out, RPL_LISTSTART, &["Channel"], Some("Users  Name"));
                for r in rooms {
                    let n = r.members.to_string();
                    self.numeric(
                        out,
                        RPL_LIST,
                        &[&r.name, &n],
                        Some(r.topic.as_deref().unwrap_or("")),
                    );
                }
                self.numeric(out, RPL_LISTEND, &[], Some("End of /LIST"));
            }
            Event::WhoReply { mask, members } => {
                let room = if mask.starts_with('#') { &**mask } else { "*" };
                for m in members {
                    let mut flags = String::from(if m.away.is_some() { "G" } else { "H" });
                    if m.op && room != "*" {
                        flags.push('@');
                    }
                    self.numeric(
                        out,
                        RPL_WHOREPLY,
                        &[
                            room,
                            &word(&m.user.user),
                            &host(&m.user.host),
                            &self.server,
                            &m.user.nick,
                            &flags,
                        ],
                        Some(&format!("0 {}", m.user.realname)),
                    );
                }
                self.numeric(out, RPL_ENDOFWHO, &[mask], Some("End of /WHO list."));
            }
            Event::WhoisReply {
                user,
                rooms,
                away,
                idle_secs,
                signon,
            } => {
                self.whois(out, user, rooms, away.as_deref(), *idle_secs, *signon);
            }
            // The focused room only matters to protocols without room names.
            Event::Focus { .. } => {}
            Event::AwayChanged { away } => {
                self.away = *away;
                if *away {
                    self.numeric(
                        out,
                        RPL_NOWAWAY,
                        &[],
                        Some("You have been marked as being away"),
                    );
                } else {
                    self.numeric(
                        out,
                        RPL_UNAWAY,
                        &[],
                        Some("You are no longer marked as being away"),
                    );
                }
            }
            Event::IsAway { nick, message } => {
                self.numeric(out, RPL_AWAY, &[nick], Some(message));
            }
            Event::ServerNotice { text } => {
                write_line(out, Some(&self.server), "NOTICE", &[self.me()], Some(text));
            }
            Event::Error(e) => self.error(out, e),
            Event::Closing { reason } => {
                let text = match &self.userhost {
                    Some(uh) => format!("Closing link: ({uh}) [{reason}]"),
                    None => format!("Closing link: [{reason}]"),
                };
                write_line(out, None, "ERROR", &[], Some(&text));
            }
            Event::Raw(bytes) => out.put(bytes.clone()),
            Event::Edge(note) => {
                if let Some(local) = note.get::<Local>() {
                    self.local(out, local.clone());
                }
            }
            ev @ (Event::History { .. } | Event::Found { .. }) => {
                super::history::render(&self.server, self.me(), ev, out)
            }
        }
    }
}

/// `nick!user@host`, safe to put in a source.
pub fn source(u: &UserInfo) -> String {
    format!("{}!{}@{}", u.nick, word(&u.user), host(&u.host))
}

/// A field shown as one IRC word: spaces (which other protocols' USER
/// fields may hold) and the separators of a source become `_`.
fn word(s: &str) -> Cow<'_, str> {
    if s.is_empty() {
        return Cow::Borrowed("*");
    }
    if s.contains([' ', '!', '@']) || s.starts_with(':') {
        Cow::Owned(s.replace([' ', '!', '@'], "_").replacen(
            ':',
            "_",
            usize::from(s.starts_with(':')),
        ))
    } else {
        Cow::Borrowed(s)
    }
}

/// A host as one IRC word: an IPv6 address like `::1` would read as a
/// trailing parameter, so it gets a leading `0` as other servers do.
fn host(h: &str) -> Cow<'_, str> {
    if h.starts_with(':') {
        Cow::Owned(format!("0{h}"))
    } else {
        word(h)
    }
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Appends one line: `[:source ]command params... [:trailing]` + CR LF. A
/// middle parameter that is empty or starts with `:` is written as `*`
/// (it would break the parameter list); an over-long trailing is cut.
pub fn write_line(
    out: &mut BytesMut,
    source: Option<&str>,
    command: &str,
    params: &[&str],
    trailing: Option<&str>,
) {
    let start = out.len();
    if let Some(s) = source {
        out.put_u8(b':');
        out.put_slice(s.as_bytes());
        out.put_u8(b' ');
    }
    out.put_slice(command.as_bytes());
    for p in params {
        out.put_u8(b' ');
        let p = p.trim_start_matches(':');
        if p.is_empty() {
            out.put_u8(b'*');
        } else if p.contains(' ') {
            out.put_slice(p.replace(' ', "_").as_bytes());
        } else {
            out.put_slice(p.as_bytes());
        }
    }
    if let Some(t) = trailing {
        out.put_slice(b" :");
        let used = out.len() - start;
        let room = MAX_LINE.saturating_sub(used);
        let mut end = t.len().min(room);
        while !t.is_char_boundary(end) {
            end -= 1;
        }
        out.put_slice(&t.as_bytes()[..end]);
    }
    out.put_slice(b"\r\n");
}

/// PRIVMSG/NOTICE, split into several lines when the source, target and
/// text together would pass 512 bytes.
fn render_message(ev: &Event) -> Bytes {
    let Event::Message {
        from,
        to,
        kind,
        text,
        ..
    } = ev
    else {
        return Bytes::new();
    };
    let src = source(from);
    let target = match to {
        MsgTarget::Room(r) => r,
        MsgTarget::Nick(n) => n,
    };
    let command = if *kind == MsgKind::Notice {
        "NOTICE"
    } else {
        "PRIVMSG"
    };
    let (pre, post) = if *kind == MsgKind::Action {
        ("\u{1}ACTION ", "\u{1}")
    } else {
        ("", "")
    };
    let overhead =
        1 + src.len() + 1 + command.len() + 1 + target.len() + 2 + pre.len() + post.len();
    let budget = MAX_LINE.saturating_sub(overhead).max(64);
    let mut out = BytesMut::with_capacity(overhead + text.len() + 2);
    for part in split_text(text, budget) {
        write_line(
            &mut out,
            Some(&src),
            command,
            &[target],
            Some(&format!("{pre}{part}{post}")),
        );
    }
    out.freeze()
}

/// JOIN, PART, QUIT, NICK and TOPIC lines: the same for every recipient.
fn render_shared(ev: &Event) -> Bytes {
    let mut out = BytesMut::new();
    match ev {
        Event::Joined { room, who } => {
            write_line(&mut out, Some(&source(who)), "JOIN", &[room], None)
        }
        Event::Parted { room, who, reason } => write_line(
            &mut out,
            Some(&source(who)),
            "PART",
            &[room],
            reason.as_deref(),
        ),
        Event::Quit { who, reason } => {
            write_line(&mut out, Some(&source(who)), "QUIT", &[], Some(reason))
        }
        Event::NickChanged { old, who } => {
            let src = format!("{old}!{}@{}", word(&who.user), host(&who.host));
            write_line(&mut out, Some(&src), "NICK", &[], Some(&who.nick))
        }
        Event::TopicChanged { room, topic, by } => write_line(
            &mut out,
            Some(&source(by)),
            "TOPIC",
            &[room],
            Some(topic.as_ref().map(|t| &*t.text).unwrap_or("")),
        ),
        _ => {}
    }
    out.freeze()
}

#[cfg(test)]
#[path = "render_tests.rs"]
mod tests;
