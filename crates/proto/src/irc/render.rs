//! Core events → IRC lines, for one connection.
//!
//! The renderer runs in the connection's writer and is the only place
//! that knows what the client currently calls itself: it learns its nickname
//! from `Event::Welcome` and `Event::NickChanged`, in stream order, so every
//! numeric carries the nickname the client holds at that point (`*` before
//! registration).
//!
//! Lines that look the same to every IRC recipient (PRIVMSG, JOIN, PART,
//! QUIT, NICK, TOPIC, ...) are formatted once per event and capability
//! variant through the render cache ([`slot`]) and shared: recipients
//! that enabled the same relevant IRCv3 capabilities share one encoding.
//!
//! IRCv3 capabilities change what is written: the session tells the
//! renderer which ones the client enabled ([`Local::Caps`]), in stream
//! order, so a capability applies from the first line after its ACK.
//! Labeled responses ([`Local::LabelBegin`]/[`Local::LabelEnd`]) hold the
//! lines of one labeled command back and write them labeled, batched or
//! as an `ACK`.
//!
//! The session talks to the renderer through `Event::Edge` notes holding a
//! [`Local`]: templated replies that need the current nickname, and the
//! brackets around USERHOST/ISON look-ups. `Raw` bytes are written as they are.
//!
//! This module must not decide anything: it never drops a message the hub
//! delivered except the client's own PRIVMSG/NOTICE/TAGMSG echo when the
//! client did not enable `echo-message` (IRC clients then show their own
//! messages themselves), events whose capability the client did not
//! enable (TAGMSG, AWAY, SETNAME, invite notices) and replies it folds
//! into USERHOST/ISON.

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{BufMut, Bytes, BytesMut};

use crate::Renderer;
use crate::envelope::{Body, Shared, Slot};
use crate::framing::split_text;
use chatroom_config::Config;
use chatroom_core::names::Name;
use chatroom_core::names::same;
use chatroom_core::{
    Event, HubError, ListEntry, Lusers, MemberInfo, ModeChange, MsgKind, MsgTarget, UserInfo,
};

use super::caps::{Cap, CapSet};
use super::message::escape_tag;
use super::numeric::*;
use super::tags;

/// The cache slot of a shared line: `time` is `server-time`; `second` is
/// the one other capability that changes that kind of line, if any
/// (`message-tags` for PRIVMSG/NOTICE/TAGMSG, `extended-join` for JOIN).
/// Within one event the meaning of the bits is fixed, so one slot always
/// holds one encoding.
pub fn slot(time: bool, second: bool) -> Slot {
    Slot::Irc { time, second }
}

/// The cache slot of a PRIVMSG/NOTICE/TAGMSG: as [`slot`], plus whether
/// it carries `@account=`. That only varies when the sender is logged in,
/// so a message from someone who is not uses the four slots of [`slot`]:
/// at most eight encodings of one message.
pub fn message_slot(time: bool, tagged: bool, account: bool) -> Slot {
    if account {
        Slot::IrcAccount { time, tagged }
    } else {
        slot(time, tagged)
    }
}

/// Longest `label` honoured (labeled-response: 64 bytes); a longer one is
/// treated as no label.
pub const MAX_LABEL: usize = 64;

/// Longest line written, CR LF not included (RFC 1459: 512 with CR LF).
const MAX_LINE: usize = 510;

/// Mode parameters written in one MODE line. Masks are at most 128 bytes,
/// so three of them with the source and room name stay under 512 bytes.
const MODES_PER_LINE: usize = 3;

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
/// `Body::Irc` so that they stay in order with the hub's replies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Local {
    /// `:server <command> <nick> <params...>`; with `trailing` the last
    /// parameter is always written as a trailing one (`:text`).
    Reply {
        command: String,
        params: Vec<String>,
        trailing: bool,
    },
    /// The next WHO reply is WHOX (`WHO mask %fields,token`): answer with
    /// RPL_WHOSPCRPL holding these fields.
    Whox { fields: String, token: String },
    /// The message of the day (MOTD command).
    Motd,
    /// NAMES replies that follow have no RPL_ENDOFNAMES of their own…
    NamesBegin,
    /// …until this one, naming everything that was asked.
    NamesEnd(String),
    /// WHOIS replies and ERR_NOSUCHNICK that follow are collected, not shown…
    QuietBegin,
    /// …until this, which answers them as one RPL_USERHOST…
    UserhostEnd,
    /// …or as one RPL_ISON.
    IsonEnd,
    /// The end of one WHOIS: RPL_ENDOFWHOIS if it was answered with
    /// ERR_NOSUCHNICK (a found nickname's reply ends itself).
    WhoisEnd(String),
    /// The capabilities the client has enabled from now on.
    Caps(CapSet),
    /// The lines that follow answer a command labeled with this…
    LabelBegin(String),
    /// …up to here.
    LabelEnd,
    /// A `CHATHISTORY` answer about `target`: the lines in a `chathistory`
    /// batch (an empty one when there are none) with `batch`, else bare.
    ChatHistory { target: String, lines: Vec<Event> },
    /// A `CHATHISTORY TARGETS` answer: (target, latest time) pairs in a
    /// `draft/chathistory-targets` batch.
    Targets(Vec<(String, SystemTime)>),
    /// RPL_LOGGEDIN for `account`; `mask` is the client's `nick!user@host`
    /// as the session knows it, used before registration (after it the
    /// renderer's own nickname and `user@host` are used).
    LoggedIn { account: String, mask: String },
    /// RPL_LOGGEDOUT (see `LoggedIn` for `mask`).
    LoggedOut { mask: String },
    /// Private messages held while the client was offline (each an
    /// `Event::Message`, oldest first). `handed` fires once they are in
    /// the connection's output, so that the store may forget them.
    Held { lines: Vec<Event>, handed: Handed },
    /// A NOTICE from a service (`NickServ`) to the client.
    Service { from: String, text: String },
    /// An IRCv3 standard reply (`FAIL`, `WARN`, `NOTE`): `kind command code
    /// [context...] :text`.
    Standard {
        kind: String,
        command: String,
        code: String,
        context: Vec<String>,
        text: String,
    },
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

    /// This instruction as a queue entry for the connection's renderer.
    pub fn body(&self) -> Body {
        Body::Irc(self.clone())
    }

    /// `FAIL command code [context...] :text`.
    pub fn fail(command: &str, code: &str, context: &[&str], text: &str) -> Local {
        Local::Standard {
            kind: "FAIL".into(),
            command: command.into(),
            code: code.into(),
            context: context.iter().map(|c| c.to_string()).collect(),
            text: text.into(),
        }
    }
}

/// A one-shot signal from the renderer to whoever queued the lines: "these
/// lines are in the connection's output now". If the entry is dropped
/// unrendered (the connection was cut first), the signal never fires, and
/// its closure is dropped with it (a channel's receiver sees the sender
/// gone).
#[derive(Clone)]
pub struct Handed(Arc<std::sync::Mutex<Option<HandedFn>>>);

type HandedFn = Box<dyn FnOnce() + Send>;

impl Handed {
    pub fn new(fire: impl FnOnce() + Send + 'static) -> Handed {
        Handed(Arc::new(std::sync::Mutex::new(Some(Box::new(fire)))))
    }

    fn fire(&self) {
        let fire = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(fire) = fire {
            fire();
        }
    }
}

impl std::fmt::Debug for Handed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Handed(..)")
    }
}

/// Two signals are equal only when they are the same one.
impl PartialEq for Handed {
    fn eq(&self, other: &Handed) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Handed {}

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
    /// The server's name, MOTD and ISUPPORT tokens: the same for every
    /// connection, so shared rather than copied into each (the copies were
    /// over a kilobyte per idle connection, measured).
    server: Arc<str>,
    motd: Option<Arc<str>>,
    isupport: Arc<[String]>,
    /// The client's nickname once registered: the hub's string, shared.
    me: Option<Name>,
    /// The user name and host once registered (for the ERROR line), the
    /// hub's strings, shared: `user@host` is made when it is needed, which
    /// is rarely, rather than kept by every connection.
    userhost: Option<(Name, Name)>,
    /// The MOTD follows the first LUSERS after the welcome.
    motd_pending: bool,
    /// State needed only in the middle of some replies, boxed so that an
    /// idle connection holds a pointer instead of it (measured).
    rare: Option<Box<Rare>>,
    /// Inside a multi-room NAMES: the per-room 366s are held back.
    names_batch: bool,
    /// The IRCv3 capabilities the client enabled.
    caps: CapSet,
    /// Batch references handed out so far (they only need to be unique
    /// on this connection).
    batches: u64,
}

/// What a renderer holds only while it is in the middle of something.
#[derive(Debug, Default)]
struct Rare {
    /// Inside a USERHOST/ISON look-up: what was found so far.
    quiet: Option<Vec<Found>>,
    /// WHOX fields and token for the next WHO reply.
    whox: Option<(String, String)>,
    /// The nickname of the last ERR_NOSUCHNICK written, for WhoisEnd.
    no_such: Option<String>,
    /// Inside a labeled response: its label; the lines are held in `held`.
    label: Option<String>,
    held: BytesMut,
}

impl Rare {
    fn is_idle(&self) -> bool {
        self.quiet.is_none()
            && self.whox.is_none()
            && self.no_such.is_none()
            && self.label.is_none()
            && self.held.is_empty()
    }
}

/// ISUPPORT tokens that say what this server does (see docs/irc.md).
pub fn isupport(cfg: &Config) -> Vec<String> {
    let h = &cfg.hub;
    let mut tokens = vec![
        "AWAYLEN=".to_string() + &h.away_len.to_string(),
        format!("CASEMAPPING={}", super::casemap::SERVER.token()),
        format!("CHANLIMIT=#:{}", h.max_rooms_per_member),
        "CHANMODES=beI,k,l,imnst".to_string(),
        format!("CHANNELLEN={}", h.room_len),
        "CHANTYPES=#".to_string(),
        "ELIST=MU".to_string(),
        "EXCEPTS=e".to_string(),
        "INVEX=I".to_string(),
        format!("KEYLEN={}", chatroom_core::hub::KEY_LEN),
        format!("KICKLEN={}", h.kick_len),
        format!("LINELEN={}", cfg.limits.irc_line_bytes),
        format!("MAXLIST=beI:{}", h.max_list_entries),
        format!("MODES={}", h.max_modes),
        format!("MONITOR={}", h.monitor_len),
        format!("NETWORK={NETWORK}"),
        format!("NICKLEN={}", h.nick_len),
        "PREFIX=(ov)@+".to_string(),
        "STATUSMSG=@+".to_string(),
        format!(
            "TARGMAX=JOIN:,KICK:{t},NAMES:,PART:,PRIVMSG:{t},NOTICE:{t},WHOIS:{t}",
            t = super::session::TARGMAX
        ),
        format!("TOPICLEN={}", h.topic_len),
        "UTF8ONLY".to_string(),
        "WHOX".to_string(),
    ];
    // Only with a history to read: the CHATHISTORY command and its limit.
    if cfg.history.enabled {
        tokens.push(format!(
            "CHATHISTORY={}",
            chatroom_core::history::MAX_ANSWER
        ));
        tokens.push("MSGREFTYPES=msgid,timestamp".to_string());
        tokens.sort();
    }
    tokens
}

impl IrcRenderer {
    pub fn new(cfg: &Config) -> IrcRenderer {
        created();
        IrcRenderer::with_shared(
            cfg.server_name.as_str().into(),
            cfg.motd.as_deref().map(Arc::from),
            isupport(cfg).into(),
        )
    }

    /// A renderer for another connection of the same server: it shares this
    /// one's fixed strings and starts with a fresh connection state.
    pub fn for_new_connection(&self) -> IrcRenderer {
        IrcRenderer::with_shared(
            self.server.clone(),
            self.motd.clone(),
            self.isupport.clone(),
        )
    }

    fn with_shared(
        server: Arc<str>,
        motd: Option<Arc<str>>,
        isupport: Arc<[String]>,
    ) -> IrcRenderer {
        IrcRenderer {
            server,
            motd,
            isupport,
            me: None,
            userhost: None,
            motd_pending: false,
            rare: None,
            names_batch: false,
            caps: CapSet::EMPTY,
            batches: 0,
        }
    }

    /// Whether the client enabled `cap`.
    pub fn has(&self, cap: Cap) -> bool {
        self.caps.has(cap)
    }

    /// A PRIVMSG/NOTICE/TAGMSG from this client to itself.
    fn is_self_message(&self, ev: Option<&Event>) -> bool {
        match ev {
            Some(Event::Message { from, to, .. } | Event::TagMsg { from, to, .. }) => {
                self.is_me(&from.nick) && matches!(to, MsgTarget::Nick(n) if self.is_me(n))
            }
            _ => false,
        }
    }

    /// `@time=... ` for a line told as it happens, or nothing.
    fn time_prefix(&self) -> String {
        let mut s = String::new();
        if self.has(Cap::ServerTime) {
            let t = tags::server_time(SystemTime::now());
            tags::write_prefix(&mut s, &[("time", &t)]);
        }
        s
    }

    /// A standard reply. Sent whether or not the client enabled
    /// `standard-replies`: the only ones used here are those that their own
    /// specifications require (`SETNAME INVALID_REALNAME`, `INVALID_UTF8`);
    /// the capability is about replies beyond those.
    fn standard(
        &self,
        out: &mut BytesMut,
        kind: &str,
        command: &str,
        code: &str,
        context: &[&str],
        text: &str,
    ) {
        let mut params = vec![command, code];
        params.extend_from_slice(context);
        write_line(out, Some(&*self.server), kind, &params, Some(text));
    }

    /// Writes the lines of a labeled command held so far, labeled: one line
    /// gets the label, several a `labeled-response` batch, none an `ACK`.
    fn finish_label(&mut self, out: &mut BytesMut) {
        let Some(label) = self.rare.as_mut().and_then(|r| r.label.take()) else {
            return;
        };
        let held = std::mem::take(&mut self.rare_mut().held);
        let mut tag = String::from("label=");
        let _ = escape_tag(&label, &mut tag);
        let lines: Vec<&[u8]> = held
            .split_inclusive(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        match lines.as_slice() {
            [] => {
                out.put_slice(format!("@{tag} ").as_bytes());
                write_line(out, Some(&*self.server), "ACK", &[], None);
            }
            [one] => tag_line(out, &tag, one),
            all => {
                self.batches += 1;
                let id = format!("L{}", self.batches);
                out.put_slice(format!("@{tag} ").as_bytes());
                let plus = format!("+{id}");
                write_line(
                    out,
                    Some(&*self.server),
                    "BATCH",
                    &[&plus, "labeled-response"],
                    None,
                );
                let inner = format!("batch={id}");
                for line in all {
                    // A line inside a nested batch (a history replay in
                    // the response) belongs to that batch; only its
                    // `BATCH +` line carries the outer reference.
                    if in_batch(line) {
                        out.put_slice(line);
                    } else {
                        tag_line(out, &inner, line);
                    }
                }
                let minus = format!("-{id}");
                write_line(out, Some(&*self.server), "BATCH", &[&minus], None);
            }
        }
    }

    fn rare_mut(&mut self) -> &mut Rare {
        self.rare.get_or_insert_with(Box::default)
    }

    fn labeled(&self) -> bool {
        self.rare.as_ref().is_some_and(|r| r.label.is_some())
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
        write_line(out, Some(&*self.server), code, &all, trailing);
    }

    fn welcome(&mut self, out: &mut BytesMut, user: &UserInfo) {
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
        // User modes, room modes, room modes that take a parameter.
        self.numeric(
            out,
            RPL_MYINFO,
            &[&self.server, &version, "io", "beIiklmnostv", "beIklov"],
            None,
        );
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
        // LUSERS and the MOTD follow when the hub's counts arrive.
        self.motd_pending = true;
    }

    fn lusers(&mut self, out: &mut BytesMut, l: &Lusers) {
        let visible = l.users.saturating_sub(l.invisible);
        self.numeric(
            out,
            RPL_LUSERCLIENT,
            &[],
            Some(&format!(
                "There are {visible} users and {} invisible on 1 servers",
                l.invisible
            )),
        );
        let opers = l.opers.to_string();
        self.numeric(out, RPL_LUSEROP, &[&opers], Some("operator(s) online"));
        // Modern: sent only when there are such connections.
        if l.unknown > 0 {
            let unknown = l.unknown.to_string();
            self.numeric(
                out,
                RPL_LUSERUNKNOWN,
                &[&unknown],
                Some("unknown connection(s)"),
            );
        }
        let rooms = l.rooms.to_string();
        self.numeric(out, RPL_LUSERCHANNELS, &[&rooms], Some("channels formed"));
        self.numeric(
            out,
            RPL_LUSERME,
            &[],
            Some(&format!("I have {} clients and 0 servers", l.users)),
        );
        let (u, m) = (l.users.to_string(), l.max_users.to_string());
        self.numeric(
            out,
            RPL_LOCALUSERS,
            &[&u, &m],
            Some(&format!("Current local users {u}, max {m}")),
        );
        self.numeric(
            out,
            RPL_GLOBALUSERS,
            &[&u, &m],
            Some(&format!("Current global users {u}, max {m}")),
        );
        if std::mem::take(&mut self.motd_pending) {
            self.motd(out);
        }
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

    fn error(&mut self, out: &mut BytesMut, e: &HubError) {
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
            // A name that is no room name at all is an unknown channel
            // (RFC 2812 answers 403); one that looks like a room name but
            // breaks the rules is a bad channel mask.
            HubError::BadRoomName { name, reason } => self.numeric(
                out,
                if name.starts_with('#') {
                    ERR_BADCHANMASK
                } else {
                    ERR_NOSUCHCHANNEL
                },
                &[name],
                Some(&format!("Illegal channel name: {reason}")),
            ),
            HubError::NoSuchNick(nick) => {
                if self.rare.as_ref().is_none_or(|r| r.quiet.is_none()) {
                    self.rare_mut().no_such = Some(nick.to_string());
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
            HubError::CannotSend { room, reason } => self.numeric(
                out,
                ERR_CANNOTSENDTOCHAN,
                &[room],
                Some(&format!("Cannot send to channel: {reason}")),
            ),
            HubError::ChanOpPrivsNeeded(room) => self.numeric(
                out,
                ERR_CHANOPRIVSNEEDED,
                &[room],
                Some("You're not channel operator"),
            ),
            HubError::UserNotInRoom { nick, room } => self.numeric(
                out,
                ERR_USERNOTINCHANNEL,
                &[nick, room],
                Some("They aren't on that channel"),
            ),
            HubError::UserOnChannel { nick, room } => self.numeric(
                out,
                ERR_USERONCHANNEL,
                &[nick, room],
                Some("is already on channel"),
            ),
            HubError::KeySet(room) => {
                self.numeric(out, ERR_KEYSET, &[room], Some("Channel key already set"))
            }
            HubError::ChannelIsFull(room) => self.numeric(
                out,
                ERR_CHANNELISFULL,
                &[room],
                Some("Cannot join channel (+l)"),
            ),
            HubError::UnknownMode { mode } => self.numeric(
                out,
                ERR_UNKNOWNMODE,
                &[&mode.to_string()],
                Some("is unknown mode char to me"),
            ),
            HubError::InviteOnly(room) => self.numeric(
                out,
                ERR_INVITEONLYCHAN,
                &[room],
                Some("Cannot join channel (+i)"),
            ),
            HubError::Banned(room) => self.numeric(
                out,
                ERR_BANNEDFROMCHAN,
                &[room],
                Some("Cannot join channel (+b)"),
            ),
            HubError::BadKey(room) => self.numeric(
                out,
                ERR_BADCHANNELKEY,
                &[room],
                Some("Cannot join channel (+k)"),
            ),
            HubError::ListFull { room, mode } => self.numeric(
                out,
                ERR_BANLISTFULL,
                &[room, &mode.to_string()],
                Some("Channel list is full"),
            ),
            HubError::NoPrivileges => self.numeric(
                out,
                ERR_NOPRIVILEGES,
                &[],
                Some("Permission Denied- You're not an IRC operator"),
            ),
            HubError::PasswordMismatch => {
                self.numeric(out, ERR_PASSWDMISMATCH, &[], Some("Password incorrect"))
            }
            HubError::NoOperHost => {
                self.numeric(out, ERR_NOOPERHOST, &[], Some("No O-lines for your host"))
            }
            HubError::UnknownUserMode { .. } => {
                self.numeric(out, ERR_UMODEUNKNOWNFLAG, &[], Some("Unknown MODE flag"))
            }
            HubError::UsersDontMatch => self.numeric(
                out,
                ERR_USERSDONTMATCH,
                &[],
                Some("Can't change mode for other users"),
            ),
            HubError::InvalidHost(host) => self.standard(
                out,
                "FAIL",
                "CHGHOST",
                "INVALID_HOST",
                &[host],
                "Hosts are 1 to 63 letters, digits and .-:/_",
            ),
            HubError::InvalidRealname => self.standard(
                out,
                "FAIL",
                "SETNAME",
                "INVALID_REALNAME",
                &[],
                &format!("Realname is not valid: {text}"),
            ),
        }
    }

    /// Someone's host changed (CHGHOST). Clients with the chghost
    /// capability get `:old CHGHOST user host`; the person themselves,
    /// without it, 396; everyone else without it sees them quit and come
    /// back into each shared room with their status there (the emulation
    /// the chghost spec describes), since their client would otherwise keep
    /// showing the old host. Per recipient: `rooms` differ from one to the
    /// next, so nothing here is cached.
    fn host_changed(
        &mut self,
        out: &mut BytesMut,
        old: &Arc<UserInfo>,
        who: &Arc<UserInfo>,
        rooms: &[(Name, bool, bool)],
        time: bool,
    ) {
        let stamp = if time {
            tag_prefix(Some(SystemTime::now()), None, None, &[])
        } else {
            String::new()
        };
        if self.has(Cap::Chghost) {
            out.put_slice(stamp.as_bytes());
            write_line(
                out,
                Some(&source(old)),
                "CHGHOST",
                &[&who.user, &who.host],
                None,
            );
            return;
        }
        if self.is_me(&who.nick) {
            self.numeric(
                out,
                RPL_VISIBLEHOST,
                &[&who.host],
                Some("is now your displayed host"),
            );
            return;
        }
        let quit = Event::Quit {
            who: old.clone(),
            reason: "Changing host".into(),
        };
        out.put(render_shared(&quit, time, false));
        let ext = self.has(Cap::ExtendedJoin);
        for (room, op, voice) in rooms {
            let join = Event::Joined {
                room: room.clone(),
                who: who.clone(),
            };
            out.put(render_shared(&join, time, ext));
            let mut modes = String::from("+");
            let mut params: Vec<&str> = vec![room];
            if *op {
                modes.push('o');
            }
            if *voice {
                modes.push('v');
            }
            if modes.len() > 1 {
                params.push(&modes);
                params.extend(std::iter::repeat_n(&*who.nick, modes.len() - 1));
                out.put_slice(stamp.as_bytes());
                write_line(out, Some(&self.server), "MODE", &params, None);
            }
        }
    }

    /// `code` with `items` joined by commas as its last parameter, over
    /// as many lines as the line limit needs (MONITOR's 730–732).
    fn comma_lists(&self, out: &mut BytesMut, code: &str, items: &[String]) {
        let prefix_len = format!(":{} {code} {} :", self.server, self.me()).len();
        let budget = MAX_LINE.saturating_sub(prefix_len).max(64);
        let mut chunk = String::new();
        for item in items {
            if !chunk.is_empty() && chunk.len() + 1 + item.len() > budget {
                self.numeric(out, code, &[], Some(&chunk));
                chunk.clear();
            }
            if !chunk.is_empty() {
                chunk.push(',');
            }
            chunk.push_str(item);
        }
        if !chunk.is_empty() {
            self.numeric(out, code, &[], Some(&chunk));
        }
    }

    fn names(&self, out: &mut BytesMut, room: &str, members: &[MemberInfo], secret: bool) {
        // RFC 2812 3.2.5 / Modern RPL_NAMREPLY: `@` secret, `*` private
        // (no +p here), `=` public.
        let symbol = if secret { "@" } else { "=" };
        let prefix_len = format!(":{} {RPL_NAMREPLY} {} = {room} :", self.server, self.me()).len();
        let room_budget = MAX_LINE.saturating_sub(prefix_len).max(64);
        let mut chunk = String::new();
        let all = self.has(Cap::MultiPrefix);
        let full = self.has(Cap::UserhostInNames);
        for m in members {
            let entry = match full {
                true => format!("{}{}", prefixes(m, all), source(&m.user)),
                false => format!("{}{}", prefixes(m, all), m.user.nick),
            };
            if !chunk.is_empty() && chunk.len() + 1 + entry.len() > room_budget {
                self.numeric(out, RPL_NAMREPLY, &[symbol, room], Some(&chunk));
                chunk.clear();
            }
            if !chunk.is_empty() {
                chunk.push(' ');
            }
            chunk.push_str(&entry);
        }
        if !chunk.is_empty() {
            self.numeric(out, RPL_NAMREPLY, &[symbol, room], Some(&chunk));
        }
        if !self.names_batch {
            self.numeric(out, RPL_ENDOFNAMES, &[room], Some("End of /NAMES list."));
        }
    }

    /// RPL_WHOIS* for an `Event::WhoisReply` (anything else is ignored).
    fn whois(&mut self, out: &mut BytesMut, ev: &Event) {
        let Event::WhoisReply {
            user,
            rooms,
            standing,
            away,
            idle_secs,
            signon,
            oper,
            secure,
            certfp,
        } = ev
        else {
            return;
        };
        let (away, idle_secs, signon, oper) = (away.as_deref(), *idle_secs, *signon, *oper);
        if let Some(r) = &mut self.rare {
            r.no_such = None;
        }
        if let Some(found) = self.rare.as_mut().and_then(|r| r.quiet.as_mut()) {
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
            let all = self.has(Cap::MultiPrefix);
            for (i, r) in rooms.iter().enumerate() {
                let (op, voice) = standing.get(i).copied().unwrap_or_default();
                let p = prefix_of(op, voice, all);
                if !chunk.is_empty() && chunk.len() + 1 + p.len() + r.len() > budget {
                    self.numeric(out, RPL_WHOISCHANNELS, &[nick], Some(&chunk));
                    chunk.clear();
                }
                if !chunk.is_empty() {
                    chunk.push(' ');
                }
                chunk.push_str(p);
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
        if oper {
            self.numeric(out, RPL_WHOISOPERATOR, &[nick], Some("is an IRC operator"));
        }
        if *secure {
            self.numeric(
                out,
                RPL_WHOISSECURE,
                &[nick],
                Some("is using a secure connection"),
            );
        }
        if let Some(fp) = certfp {
            self.numeric(
                out,
                RPL_WHOISCERTFP,
                &[nick],
                Some(&format!("has client certificate fingerprint {fp}")),
            );
        }
        if let Some(account) = &user.account {
            self.numeric(
                out,
                RPL_WHOISACCOUNT,
                &[nick, account],
                Some("is logged in as"),
            );
        }
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
            Local::Whox { fields, token } => self.rare_mut().whox = Some((fields, token)),
            Local::Motd => self.motd(out),
            Local::NamesBegin => self.names_batch = true,
            Local::NamesEnd(mask) => {
                self.names_batch = false;
                self.numeric(out, RPL_ENDOFNAMES, &[&mask], Some("End of /NAMES list."));
            }
            Local::QuietBegin => self.rare_mut().quiet = Some(Vec::new()),
            Local::UserhostEnd => {
                let found = self
                    .rare
                    .as_mut()
                    .and_then(|r| r.quiet.take())
                    .unwrap_or_default();
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
                let found = self
                    .rare
                    .as_mut()
                    .and_then(|r| r.quiet.take())
                    .unwrap_or_default();
                let list: Vec<&str> = found.iter().map(|f| f.nick.as_str()).collect();
                self.numeric(out, RPL_ISON, &[], Some(&list.join(" ")));
            }
            Local::WhoisEnd(nick) => {
                if self
                    .rare
                    .as_mut()
                    .and_then(|r| r.no_such.take())
                    .is_some_and(|n| same(&n, &nick))
                {
                    self.numeric(out, RPL_ENDOFWHOIS, &[&nick], Some("End of /WHOIS list."));
                }
            }
            Local::Caps(caps) => self.caps = caps,
            // Handled in `render`, which owns the held lines.
            Local::LabelBegin(_) | Local::LabelEnd => {}
            Local::Standard {
                kind,
                command,
                code,
                context,
                text,
            } => {
                let context: Vec<&str> = context.iter().map(String::as_str).collect();
                self.standard(out, &kind, &command, &code, &context, &text);
            }
            Local::ChatHistory { target, lines } => {
                let batch = self.next_batch(Cap::Batch);
                super::history::render_timed(
                    &self.server,
                    &target,
                    &lines,
                    batch.as_deref(),
                    self.has(Cap::ServerTime),
                    self.has(Cap::MessageTags),
                    out,
                )
            }
            Local::LoggedIn { account, mask } => {
                let mask = self.mask_or(mask);
                self.numeric(
                    out,
                    RPL_LOGGEDIN,
                    &[&mask, &account],
                    Some(&format!("You are now logged in as {account}")),
                );
            }
            Local::LoggedOut { mask } => {
                let mask = self.mask_or(mask);
                self.numeric(out, RPL_LOGGEDOUT, &[&mask], Some("You are now logged out"));
            }
            Local::Held { lines, handed } => {
                super::history::render_held(
                    self.me(),
                    &lines,
                    self.has(Cap::ServerTime),
                    self.has(Cap::MessageTags),
                    out,
                );
                handed.fire();
            }
            Local::Service { from, text } => {
                let src = format!("{from}!{from}@services.");
                write_line(out, Some(&src), "NOTICE", &[self.me()], Some(&text));
            }
            Local::Targets(found) => {
                let batch = self.next_batch(Cap::Batch);
                super::history::render_targets(&self.server, &found, batch.as_deref(), out)
            }
        }
    }

    /// `nick!user@host` once registered, else what the session supplied.
    fn mask_or(&self, fallback: String) -> String {
        match (&self.me, &self.userhost) {
            (Some(me), Some((u, h))) => format!("{me}!{}@{}", word(u), host(h)),
            _ => fallback,
        }
    }

    /// A fresh batch reference when the client enabled `cap` (`batch`).
    fn next_batch(&mut self, cap: Cap) -> Option<String> {
        self.has(cap).then(|| {
            self.batches += 1;
            format!("H{}", self.batches)
        })
    }
}

impl Renderer for IrcRenderer {
    fn render(&mut self, shared: &Shared, out: &mut BytesMut) {
        self.render_one(shared, out);
        if self.rare.as_ref().is_some_and(|r| r.is_idle()) {
            self.rare = None;
        }
    }
}

impl IrcRenderer {
    fn render_one(&mut self, shared: &Shared, out: &mut BytesMut) {
        if let Body::Irc(local) = shared.body() {
            match local {
                Local::LabelBegin(label) => {
                    self.finish_label(out);
                    self.rare_mut().label = Some(label.clone());
                    return;
                }
                Local::LabelEnd => return self.finish_label(out),
                _ => {}
            }
        }
        if self.has(Cap::EchoMessage) && self.is_self_message(shared.event()) {
            // A message to oneself is both an echo (a response to the
            // command, labeled) and a delivery (not a response), so it
            // is written twice, the delivery never labeled.
            let mut one = BytesMut::new();
            self.render_event(shared, &mut one);
            let copy = one.clone();
            out.put(one);
            match self.rare.as_mut().filter(|r| r.label.is_some()) {
                Some(r) => r.held.put(copy),
                None => out.put(copy),
            }
            return;
        }
        if !self.labeled() || self.is_self_message(shared.event()) {
            return self.render_event(shared, out);
        }
        if matches!(shared.event(), Some(Event::Closing { .. })) {
            // Whatever answered the label goes out before the goodbye.
            self.finish_label(out);
            return self.render_event(shared, out);
        }
        let mut held = std::mem::take(&mut self.rare_mut().held);
        self.render_event(shared, &mut held);
        self.rare_mut().held = held;
    }
}

impl IrcRenderer {
    fn render_event(&mut self, shared: &Shared, out: &mut BytesMut) {
        let time = self.has(Cap::ServerTime);
        let event = match shared.body() {
            Body::Event(event) => event,
            Body::Raw(bytes) => return out.put(bytes.clone()),
            Body::Irc(local) => return self.local(out, local.clone()),
        };
        match event {
            Event::Message { from, to, .. } | Event::TagMsg { from, to, .. } => {
                // Without echo-message a client never gets its own
                // PRIVMSG/NOTICE/TAGMSG back (it shows them itself), except
                // a private message to itself.
                let to_me = matches!(to, MsgTarget::Nick(n) if self.is_me(n));
                if self.is_me(&from.nick) && !to_me && !self.has(Cap::EchoMessage) {
                    return;
                }
                let tagged = self.has(Cap::MessageTags);
                if matches!(event, Event::TagMsg { .. }) && !tagged {
                    return;
                }
                let acct = self.has(Cap::AccountTag) && from.account.is_some();
                out.put(shared.rendered(message_slot(time, tagged, acct), |ev| {
                    render_message(ev, time, tagged, acct)
                }));
            }
            Event::Joined { .. } => {
                let ext = self.has(Cap::ExtendedJoin);
                out.put(shared.rendered(slot(time, ext), |ev| render_shared(ev, time, ext)));
            }
            Event::Parted { .. }
            | Event::Quit { .. }
            | Event::Kicked { .. }
            | Event::TopicChanged { .. } => {
                out.put(shared.rendered(slot(time, false), |ev| render_shared(ev, time, false)));
            }
            Event::AwayStatus { .. } if self.has(Cap::AwayNotify) => {
                out.put(shared.rendered(slot(time, false), |ev| render_shared(ev, time, false)));
            }
            Event::AccountChanged { .. } if self.has(Cap::AccountNotify) => {
                out.put(shared.rendered(slot(time, false), |ev| render_shared(ev, time, false)));
            }
            Event::RealnameChanged { .. } if self.has(Cap::Setname) => {
                out.put(shared.rendered(slot(time, false), |ev| render_shared(ev, time, false)));
            }
            Event::InviteNotice { .. } if self.has(Cap::InviteNotify) => {
                out.put(shared.rendered(slot(time, false), |ev| render_shared(ev, time, false)));
            }
            Event::AwayStatus { .. }
            | Event::RealnameChanged { .. }
            | Event::AccountChanged { .. }
            | Event::InviteNotice { .. } => {}
            Event::HostChanged { old, who, rooms } => {
                self.host_changed(out, old, who, rooms, time);
            }
            Event::NickChanged { old, who } => {
                if self.is_me(old) {
                    self.me = Some(who.nick.clone());
                }
                out.put(shared.rendered(slot(time, false), |ev| render_shared(ev, time, false)));
            }
            Event::Welcome { nick, user } => {
                self.me = Some(nick.clone());
                self.userhost = Some((user.user.clone(), user.host.clone()));
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
            Event::Names {
                room,
                members,
                secret,
            } => self.names(out, room, members, *secret),
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
                let whox = self.rare.as_mut().and_then(|r| r.whox.take());
                for m in members {
                    let mut flags = String::from(if m.away.is_some() { "G" } else { "H" });
                    if m.oper {
                        flags.push('*');
                    }
                    if room != "*" {
                        flags.push_str(prefixes(m, self.has(Cap::MultiPrefix)));
                    }
                    if let Some((fields, token)) = &whox {
                        self.whox_line(out, fields, token, room, m, &flags);
                        continue;
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
            ev @ Event::WhoisReply { .. } => self.whois(out, ev),
            // The focused room only matters to protocols without room names.
            Event::Focus { .. } => {}
            Event::AwayChanged { away } => {
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
                write_line(out, Some(&*self.server), "NOTICE", &[self.me()], Some(text));
            }
            Event::NickProtected { nick, grace_secs } => {
                let text = format!(
                    "NickServ: {nick} is a registered nickname. Log in to it (SASL, or /msg NickServ IDENTIFY <password>) within {grace_secs} seconds or you will be renamed"
                );
                write_line(
                    out,
                    Some(&*self.server),
                    "NOTICE",
                    &[self.me()],
                    Some(&text),
                );
            }
            Event::Error(e) => self.error(out, e),
            Event::Closing { reason } => {
                let text = match &self.userhost {
                    Some((u, h)) => format!("Closing link: ({}@{}) [{reason}]", word(u), host(h)),
                    None => format!("Closing link: [{reason}]"),
                };
                write_line(out, None, "ERROR", &[], Some(&text));
            }
            Event::ModeChanged { target, .. } => {
                if target.starts_with('#') {
                    out.put(
                        shared.rendered(slot(time, false), |ev| render_shared(ev, time, false)),
                    );
                } else {
                    // User modes: only ever sent to their holder.
                    out.put(render_shared(event, time, false));
                }
            }
            Event::RoomModes {
                room,
                modes,
                args,
                created,
            } => {
                let mut params: Vec<&str> = vec![room, modes];
                params.extend(args.iter().map(|a| &**a));
                self.numeric(out, RPL_CHANNELMODEIS, &params, None);
                let t = unix(*created).to_string();
                self.numeric(out, RPL_CREATIONTIME, &[room, &t], None);
            }
            Event::ModeList {
                room,
                mode,
                entries,
            } => self.mode_list(out, room, *mode, entries),
            Event::UserModes { modes } => self.numeric(out, RPL_UMODEIS, &[modes], None),
            Event::Invited { room, by, nick } => {
                if self.is_me(nick) {
                    out.put_slice(self.time_prefix().as_bytes());
                    write_line(out, Some(&source(by)), "INVITE", &[nick, room], None);
                } else {
                    self.numeric(out, RPL_INVITING, &[nick, room], None);
                }
            }
            Event::YoureOper => {
                self.numeric(out, RPL_YOUREOPER, &[], Some("You are now an IRC operator"))
            }
            Event::WhowasReply { nick, entries } => {
                if entries.is_empty() {
                    self.numeric(
                        out,
                        ERR_WASNOSUCHNICK,
                        &[nick],
                        Some("There was no such nickname"),
                    );
                }
                for e in entries {
                    let u = &e.user;
                    self.numeric(
                        out,
                        RPL_WHOWASUSER,
                        &[&u.nick, &word(&u.user), &host(&u.host), "*"],
                        Some(&u.realname),
                    );
                    let when = chrono::DateTime::<chrono::Utc>::from(e.left)
                        .format("%a %b %e %H:%M:%S %Y UTC")
                        .to_string();
                    self.numeric(out, RPL_WHOISSERVER, &[&u.nick, &self.server], Some(&when));
                }
                self.numeric(out, RPL_ENDOFWHOWAS, &[nick], Some("End of WHOWAS"));
            }
            Event::Lusers(l) => self.lusers(out, l),
            Event::MonOnline(who) => {
                let items: Vec<String> = who.iter().map(|u| source(u)).collect();
                self.comma_lists(out, RPL_MONONLINE, &items);
            }
            Event::MonOffline(nicks) => {
                let items: Vec<String> = nicks.iter().map(|n| n.to_string()).collect();
                self.comma_lists(out, RPL_MONOFFLINE, &items);
            }
            Event::MonList(nicks) => {
                let items: Vec<String> = nicks.iter().map(|n| n.to_string()).collect();
                self.comma_lists(out, RPL_MONLIST, &items);
                self.numeric(out, RPL_ENDOFMONLIST, &[], Some("End of MONITOR list"));
            }
            Event::MonListFull { limit, nicks } => {
                let limit = limit.to_string();
                let nicks = nicks.join(",");
                self.numeric(
                    out,
                    ERR_MONLISTFULL,
                    &[&limit, &nicks],
                    Some("Monitor list is full"),
                );
            }
            Event::RoomReg(reply) => super::chanserv::render(reply, self.me(), out),
            // Only ever inside `History`, where the history module decides.
            Event::PastTopic { .. } => {}
            Event::History { room, lines } if self.has(Cap::ServerTime) => {
                let batch = self.next_batch(Cap::Batch);
                super::history::render_timed(
                    &self.server,
                    room,
                    lines,
                    batch.as_deref(),
                    true,
                    self.has(Cap::MessageTags),
                    out,
                )
            }
            ev @ (Event::History { .. } | Event::Found { .. }) => {
                super::history::render(&self.server, self.me(), ev, out)
            }
        }
    }
}

impl IrcRenderer {
    fn mode_list(&self, out: &mut BytesMut, room: &str, mode: char, entries: &[ListEntry]) {
        let (item, end, what) = match mode {
            'b' => (RPL_BANLIST, RPL_ENDOFBANLIST, "End of channel ban list"),
            'e' => (
                RPL_EXCEPTLIST,
                RPL_ENDOFEXCEPTLIST,
                "End of channel exception list",
            ),
            _ => (
                RPL_INVITELIST,
                RPL_ENDOFINVITELIST,
                "End of channel invite list",
            ),
        };
        for e in entries {
            let t = unix(e.time).to_string();
            self.numeric(out, item, &[room, &e.mask, &e.setter, &t], None);
        }
        self.numeric(out, end, &[room], Some(what));
    }

    /// One RPL_WHOSPCRPL: the requested fields in the fixed order the WHOX
    /// specification gives (`tcuihsnfdlaor`), whatever order they were
    /// asked in; unknown letters are ignored.
    fn whox_line(
        &self,
        out: &mut BytesMut,
        fields: &str,
        token: &str,
        room: &str,
        m: &MemberInfo,
        flags: &str,
    ) {
        let user = word(&m.user.user);
        let host = host(&m.user.host);
        let mut params: Vec<String> = Vec::new();
        let mut realname = None;
        for f in "tcuihsnfdlaor".chars().filter(|c| fields.contains(*c)) {
            match f {
                't' => params.push(if token.is_empty() { "0" } else { token }.to_string()),
                'c' => params.push(room.to_string()),
                'u' => params.push(user.to_string()),
                'i' => params.push(host.to_string()),
                'h' => params.push(host.to_string()),
                's' => params.push(self.server.to_string()),
                'n' => params.push(m.user.nick.to_string()),
                'f' => params.push(flags.to_string()),
                'd' => params.push("0".to_string()),
                'l' => params.push("0".to_string()),
                // "0" means not logged in.
                'a' => params.push(
                    m.user
                        .account
                        .as_deref()
                        .map_or("0".to_string(), |a| a.to_string()),
                ),
                'o' => params.push(if m.op { "1" } else { "0" }.to_string()),
                'r' => realname = Some(m.user.realname.to_string()),
                _ => {}
            }
        }
        let refs: Vec<&str> = params.iter().map(String::as_str).collect();
        self.numeric(out, RPL_WHOSPCRPL, &refs, realname.as_deref());
    }
}

/// The NAMES/WHO prefix of a member's highest standing in a room, or
/// with `all` (IRCv3 multi-prefix) of every standing, highest first.
fn prefixes(m: &MemberInfo, all: bool) -> &'static str {
    prefix_of(m.op, m.voice, all)
}

fn prefix_of(op: bool, voice: bool, all: bool) -> &'static str {
    match (op, voice) {
        (true, true) if all => "@+",
        (true, _) => "@",
        (false, true) => "+",
        (false, false) => "",
    }
}

/// Whether a wire line already carries a `batch` tag.
fn in_batch(line: &[u8]) -> bool {
    let Some(rest) = line.strip_prefix(b"@") else {
        return false;
    };
    let end = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
    rest[..end]
        .split(|&b| b == b';')
        .any(|t| t.starts_with(b"batch="))
}

/// Writes `line` (one wire line with CR LF) with one more tag in front.
pub(super) fn tag_line(out: &mut BytesMut, tag: &str, line: &[u8]) {
    out.put_u8(b'@');
    out.put_slice(tag.as_bytes());
    match line.strip_prefix(b"@") {
        Some(rest) => {
            out.put_u8(b';');
            out.put_slice(rest);
        }
        None => {
            out.put_u8(b' ');
            out.put_slice(line);
        }
    }
}

/// `+ov-k bob carol *`: letters, then their parameters.
pub fn mode_params(changes: &[ModeChange]) -> Vec<String> {
    let mut letters = String::new();
    let mut args = Vec::new();
    let mut sign = None;
    for c in changes {
        if sign != Some(c.add) {
            letters.push(if c.add { '+' } else { '-' });
            sign = Some(c.add);
        }
        letters.push(c.mode);
        if let Some(a) = &c.arg {
            args.push(a.to_string());
        }
    }
    let mut params = vec![letters];
    params.extend(args);
    params
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
/// CR, LF and NUL never reach the line: relayed text is clean already
/// (the hub's `clean_text`), but a refusal names what the client typed,
/// and a bare CR there would end the line early at clients that split on
/// it; they become `_` in words and a space in the trailing.
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
        out.put_slice(unbroken(s, "_").as_bytes());
        out.put_u8(b' ');
    }
    out.put_slice(command.as_bytes());
    for p in params {
        out.put_u8(b' ');
        let p = p.trim_start_matches(':');
        if p.is_empty() {
            out.put_u8(b'*');
        } else if p.contains(' ') {
            out.put_slice(unbroken(&p.replace(' ', "_"), "_").as_bytes());
        } else {
            out.put_slice(unbroken(p, "_").as_bytes());
        }
    }
    if let Some(t) = trailing {
        let t = unbroken(t, " ");
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

/// `s` with CR, LF and NUL made `with` (one byte for one, so lengths
/// stay as measured); borrowed in the usual case of none.
fn unbroken<'a>(s: &'a str, with: &str) -> Cow<'a, str> {
    if memchr::memchr3(b'\r', b'\n', 0, s.as_bytes()).is_some() {
        Cow::Owned(s.replace(['\r', '\n', '\0'], with))
    } else {
        Cow::Borrowed(s)
    }
}

/// The tags of a relayed line: `time` with server-time, and with
/// message-tags the `msgid` and the sender's client-only tags. Shared
/// within the edge so that replayed messages carry the same tags.
pub(super) fn tag_prefix(
    at: Option<SystemTime>,
    msgid: Option<u64>,
    account: Option<&str>,
    client: &[(chatroom_core::names::Name, chatroom_core::names::Name)],
) -> String {
    if at.is_none() && msgid.is_none() && account.is_none() && client.is_empty() {
        // Plain clients, the common case: no work at all.
        return String::new();
    }
    let time = at.map(tags::server_time);
    let id = msgid.map(tags::msgid);
    let mut pairs: Vec<(&str, &str)> = Vec::with_capacity(2 + client.len());
    if let Some(t) = &time {
        pairs.push(("time", t));
    }
    if let Some(i) = &id {
        pairs.push(("msgid", i));
    }
    if let Some(a) = account {
        pairs.push(("account", a));
    }
    pairs.extend(client.iter().map(|(k, v)| (&**k, &**v)));
    let mut s = String::new();
    tags::write_prefix(&mut s, &pairs);
    s
}

/// PRIVMSG/NOTICE (split into several lines when the source, target and
/// text together would pass 512 bytes) and TAGMSG. `time`: server-time;
/// `tagged`: message-tags (msgid and client-only tags); `acct`:
/// account-tag (the sender's account, when logged in).
pub(super) fn render_message(ev: &Event, time: bool, tagged: bool, acct: bool) -> Bytes {
    let (id, at, from, to, client, body) = match ev {
        Event::Message {
            id,
            time: at,
            from,
            to,
            kind,
            text,
            tags,
        } => (*id, *at, from, to, tags, Some((*kind, text))),
        Event::TagMsg {
            id,
            time: at,
            from,
            to,
            tags,
        } => (*id, *at, from, to, tags, None),
        _ => return Bytes::new(),
    };
    let src = source(from);
    let target = match to {
        MsgTarget::Room(r) | MsgTarget::Status(r) => r,
        MsgTarget::Nick(n) => n,
    };
    let no_tags: &[(chatroom_core::names::Name, chatroom_core::names::Name)] = &[];
    let account = from.account.as_deref().filter(|_| acct);
    let first = tag_prefix(
        time.then_some(at),
        tagged.then_some(id),
        account,
        if tagged { client } else { no_tags },
    );
    let Some((kind, text)) = body else {
        let mut out = BytesMut::with_capacity(first.len() + src.len() + 32);
        out.put_slice(first.as_bytes());
        write_line(&mut out, Some(&src), "TAGMSG", &[target], None);
        return out.freeze();
    };
    let command = if kind == MsgKind::Notice {
        "NOTICE"
    } else {
        "PRIVMSG"
    };
    let (pre, post) = if kind == MsgKind::Action {
        ("\u{1}ACTION ", "\u{1}")
    } else {
        ("", "")
    };
    let overhead =
        1 + src.len() + 1 + command.len() + 1 + target.len() + 2 + pre.len() + post.len();
    let budget = MAX_LINE.saturating_sub(overhead).max(64);
    let mut out = BytesMut::with_capacity(first.len() + overhead + text.len() + 2);
    for (i, part) in split_text(text, budget).into_iter().enumerate() {
        if i == 0 {
            out.put_slice(first.as_bytes());
        } else if time || tagged || account.is_some() {
            // A msgid names one line; the continuation lines of a split
            // message carry the other tags only.
            let rest = tag_prefix(
                time.then_some(at),
                None,
                account,
                if tagged { client } else { no_tags },
            );
            out.put_slice(rest.as_bytes());
        }
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

/// JOIN, PART, QUIT, NICK, TOPIC, KICK, MODE, AWAY, SETNAME and invite
/// notices: the same for every recipient with the same capabilities.
/// `time`: server-time (the moment of the first rendering, which all
/// recipients then share); `ext`: extended-join.
fn render_shared(ev: &Event, time: bool, ext: bool) -> Bytes {
    let mut out = BytesMut::new();
    let stamp = if time {
        tag_prefix(Some(SystemTime::now()), None, None, &[])
    } else {
        String::new()
    };
    // Every line of the event gets the same stamp.
    let emit = |out: &mut BytesMut,
                src: Option<&str>,
                cmd: &str,
                params: &[&str],
                trailing: Option<&str>| {
        out.put_slice(stamp.as_bytes());
        write_line(out, src, cmd, params, trailing);
    };
    match ev {
        Event::Joined { room, who } if ext => emit(
            &mut out,
            Some(&source(who)),
            "JOIN",
            // `*` is "not logged in".
            &[room, who.account.as_deref().unwrap_or("*")],
            Some(&who.realname),
        ),
        Event::Joined { room, who } => emit(&mut out, Some(&source(who)), "JOIN", &[room], None),
        Event::AwayStatus { who, message } => emit(
            &mut out,
            Some(&source(who)),
            "AWAY",
            &[],
            message.as_deref(),
        ),
        Event::AccountChanged { who } => emit(
            &mut out,
            Some(&source(who)),
            "ACCOUNT",
            &[who.account.as_deref().unwrap_or("*")],
            None,
        ),
        Event::RealnameChanged { who } => emit(
            &mut out,
            Some(&source(who)),
            "SETNAME",
            &[],
            Some(&who.realname),
        ),
        Event::InviteNotice { room, by, nick } => {
            emit(&mut out, Some(&source(by)), "INVITE", &[nick, room], None)
        }
        Event::Parted { room, who, reason } => emit(
            &mut out,
            Some(&source(who)),
            "PART",
            &[room],
            reason.as_deref(),
        ),
        Event::Quit { who, reason } => {
            emit(&mut out, Some(&source(who)), "QUIT", &[], Some(reason))
        }
        Event::NickChanged { old, who } => {
            let src = format!("{old}!{}@{}", word(&who.user), host(&who.host));
            emit(&mut out, Some(&src), "NICK", &[], Some(&who.nick))
        }
        Event::Kicked {
            room,
            by,
            nick,
            reason,
        } => emit(
            &mut out,
            Some(&source(by)),
            "KICK",
            &[room, nick],
            Some(reason),
        ),
        Event::ModeChanged {
            target,
            by,
            changes,
        } => {
            // At most MODES_PER_LINE parameters per line keeps each line
            // under 512 bytes; changes without a parameter cost nothing.
            let mut start = 0;
            while start < changes.len() {
                let mut end = start;
                let mut with_param = 0;
                while end < changes.len() {
                    let has = changes[end].arg.is_some();
                    if has && with_param == MODES_PER_LINE {
                        break;
                    }
                    with_param += usize::from(has);
                    end += 1;
                }
                let params = mode_params(&changes[start..end]);
                let mut refs: Vec<&str> = vec![target];
                refs.extend(params.iter().map(String::as_str));
                emit(&mut out, Some(&source(by)), "MODE", &refs, None);
                start = end;
            }
        }
        Event::TopicChanged { room, topic, by } => emit(
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
