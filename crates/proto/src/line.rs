//! The line protocol, for netcat and telnet: one line in, one message out.
//!
//! On connect the server asks for a nickname (and asks again while the name
//! is taken or invalid). Then every line is a message to the current room,
//! and lines starting with `/` are commands (`/help` lists them; `//text`
//! sends text that starts with a slash). Output is for people to read:
//! `12:01 <alice> hi`, `12:01 * bob joined #lobby`.
//!
//! Must not decide anything the hub decides; it parses and renders only.

use std::borrow::Cow;
use std::time::SystemTime;

pub mod session;

use bytes::{BufMut, Bytes, BytesMut};

use crate::Renderer;
use crate::envelope::{Body, Shared, Slot};
use crate::terminal::for_terminal;
use chatroom_config::Config;
use chatroom_core::names::same;
use chatroom_core::{Event, HubError, MemberInfo, MsgKind, MsgTarget};

use super::past::stamp;

pub const HELP: &str = "\
Commands:
  /nick NAME            change your nickname
  /join ROOM            join a room (or switch to one you are in)
  /part [ROOM] [reason] leave a room (the current one by default)
  /rooms                list rooms with member counts
  /who [ROOM]           who is in a room
  /msg NICK TEXT        private message
  /me TEXT              action (* you TEXT)
  /topic [TEXT]         show or set the current room's topic
  /mode [#ROOM] [+m|+o NICK|+b MASK...]  show or change a room's modes
  /mode NICK [+i|-i]    your own modes
  /kick NICK [reason]   remove someone from the current room (operators)
  /op NICK, /deop NICK  give or take operator status in the current room (operators)
  /invite NICK [ROOM]   invite someone (lets them into a +i room)
  /away [MESSAGE]       mark yourself away (no message: back)
  /whois NICK           about someone
  /register PASSWORD    make your nickname an account (from this machine, or where allowed)
  /login [ACCOUNT] PASSWORD  log in to an account (default: your nickname's)
  /logout               log out of your account
  /chanserv REGISTER #ROOM  keep a room you run registered to your account (also DROP, INFO)
  /oper NAME PASSWORD   become a server operator (over TLS or from this machine)
  /history [N]          the last N messages of this room (default 20)
  /history more [N]     the N messages before the last ones shown
  /search WORDS         messages of this room containing every word, newest first
  /quit [REASON]        leave
  /help [COMMAND]       this list, or more about one command
Anything else you type goes to the current room. Start a line with // to send text that begins with /.
";

/// One command as `/help COMMAND` explains it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandHelp {
    /// The name, then the other names it answers to.
    pub names: &'static [&'static str],
    /// How it is typed; also the usage line when an argument is missing.
    pub usage: &'static str,
    pub about: &'static str,
}

/// Every command, for `/help COMMAND` and the usage lines.
pub const COMMANDS: &[CommandHelp] = &[
    CommandHelp {
        names: &["nick"],
        usage: "/nick NAME",
        about: "Changes your nickname. Letters, digits and - _ [ ] { } \\ | ^ ` (not first: a digit or -).",
    },
    CommandHelp {
        names: &["join", "j"],
        usage: "/join ROOM",
        about: "Joins ROOM (the # may be left out) and makes it the room you talk in; in a room you are already in, only switches to it.",
    },
    CommandHelp {
        names: &["part", "leave"],
        usage: "/part [ROOM] [REASON]",
        about: "Leaves ROOM, or the room you talk in, saying REASON to those who stay.",
    },
    CommandHelp {
        names: &["rooms", "list"],
        usage: "/rooms",
        about: "Lists the rooms with how many are in each and their topics.",
    },
    CommandHelp {
        names: &["who", "names"],
        usage: "/who [ROOM]",
        about: "Who is in ROOM (default: the room you talk in), operators marked @.",
    },
    CommandHelp {
        names: &["msg", "query", "m"],
        usage: "/msg NICK TEXT",
        about: "Sends TEXT to NICK alone (or to a #room you are in without switching to it).",
    },
    CommandHelp {
        names: &["me"],
        usage: "/me TEXT",
        about: "An action: everyone sees * yourname TEXT.",
    },
    CommandHelp {
        names: &["topic"],
        usage: "/topic [TEXT]",
        about: "Shows the room's topic, or sets it to TEXT (/topic #room TEXT for another room).",
    },
    CommandHelp {
        names: &["mode"],
        usage: "/mode [#ROOM] [+m|+o NICK|+b MASK...]",
        about: "Shows or changes a room's modes: +m only voiced people talk, +i invitation only, +k KEY a password, +o NICK an operator, +b MASK a ban. /mode NICK +i hides you from /who of rooms you share no room with.",
    },
    CommandHelp {
        names: &["kick"],
        usage: "/kick NICK [REASON]",
        about: "Removes NICK from the room you talk in (room operators).",
    },
    CommandHelp {
        names: &["op"],
        usage: "/op NICK",
        about: "Makes NICK an operator of the room you talk in (room operators); the same as /mode +o NICK.",
    },
    CommandHelp {
        names: &["deop"],
        usage: "/deop NICK",
        about: "Takes operator status from NICK in the room you talk in (room operators); the same as /mode -o NICK.",
    },
    CommandHelp {
        names: &["invite"],
        usage: "/invite NICK [ROOM]",
        about: "Invites NICK to ROOM (default: the room you talk in); lets them into an invitation-only room.",
    },
    CommandHelp {
        names: &["away", "back"],
        usage: "/away [MESSAGE]",
        about: "Marks you away with MESSAGE, told to whoever writes to you; /away alone (or /back) says you are back.",
    },
    CommandHelp {
        names: &["whois"],
        usage: "/whois NICK",
        about: "Who NICK is: address, rooms, idle time, away message.",
    },
    CommandHelp {
        names: &["register"],
        usage: "/register PASSWORD",
        about: "Makes your nickname an account with PASSWORD (from this machine, or where the server allows it); then nobody else can keep the name.",
    },
    CommandHelp {
        names: &["login"],
        usage: "/login [ACCOUNT] PASSWORD",
        about: "Logs in to ACCOUNT (default: the one named after your nickname).",
    },
    CommandHelp {
        names: &["logout"],
        usage: "/logout",
        about: "Logs out of your account.",
    },
    CommandHelp {
        names: &["chanserv", "cs"],
        usage: "/chanserv REGISTER|DROP|INFO #ROOM",
        about: "Room registration (also /msg ChanServ ...). REGISTER #ROOM registers a room you are an operator of to the account you are logged in to: it then keeps its topic and modes while empty and across restarts, and whoever is logged in to that account is made operator on joining, nobody else for coming first. DROP #ROOM undoes it (the founder or a server operator); INFO #ROOM says who founded it and when.",
    },
    CommandHelp {
        names: &["oper"],
        usage: "/oper NAME PASSWORD",
        about: "Makes you a server operator (over TLS or from this machine).",
    },
    CommandHelp {
        names: &["history"],
        usage: "/history [N] | /history more [N]",
        about: "/history N shows the last N messages of the room you talk in (default 20, at most 200); /history more shows the N before the last ones shown, page after page.",
    },
    CommandHelp {
        names: &["search", "find"],
        usage: "/search WORDS",
        about: "The messages of the room you talk in that contain every word, newest first.",
    },
    CommandHelp {
        names: &["quit", "exit"],
        usage: "/quit [REASON]",
        about: "Leaves the server, saying REASON.",
    },
    CommandHelp {
        names: &["help", "?"],
        usage: "/help [COMMAND]",
        about: "Lists the commands, or says more about one.",
    },
];

/// The entry for `name` (any of its names, any case, `/` optional).
pub fn command_help(name: &str) -> Option<&'static CommandHelp> {
    let name = name.trim_start_matches('/');
    COMMANDS
        .iter()
        .find(|c| c.names.iter().any(|n| n.eq_ignore_ascii_case(name)))
}

/// What `/help NAME` shows.
pub fn help_text(c: &CommandHelp) -> String {
    let others: Vec<String> = c.names[1..].iter().map(|n| format!("/{n}")).collect();
    let also = if others.is_empty() {
        String::new()
    } else {
        format!(" (also {})", others.join(", "))
    };
    format!("{}{also}\n  {}\n", c.usage, c.about)
}

pub fn renderer(_cfg: &Config) -> LineRenderer {
    LineRenderer::default()
}

/// Renders events as lines for people. Remembers the recipient's nickname
/// and current room (both learned from the events) to say "you" and to mark
/// messages from other rooms.
#[derive(Debug, Default)]
pub struct LineRenderer {
    me: Option<String>,
    focus: Option<String>,
}

fn clock(t: SystemTime) -> String {
    let local: chrono::DateTime<chrono::Local> = t.into();
    local.format("%H:%M").to_string()
}

fn now() -> String {
    clock(SystemTime::now())
}

impl LineRenderer {
    fn is_me(&self, nick: &str) -> bool {
        self.me.as_deref().is_some_and(|m| same(m, nick))
    }

    fn focused(&self, room: &str) -> bool {
        self.focus.as_deref().is_some_and(|f| same(f, room))
    }
}

fn member_list(members: &[MemberInfo]) -> String {
    members
        .iter()
        .map(|m| {
            let mut s = String::new();
            if m.op {
                s.push('@');
            }
            s.push_str(&m.user.nick);
            if m.away.is_some() {
                s.push_str(" (away)");
            }
            s
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `+o-v bob carol`: letters, then their parameters.
fn mode_text(changes: &[chatroom_core::ModeChange]) -> String {
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
    if !args.is_empty() {
        letters.push(' ');
        letters.push_str(&args.join(" "));
    }
    letters
}

fn render_message(ev: &Event, in_focus: bool) -> Bytes {
    let Event::Message {
        time,
        from,
        to: MsgTarget::Room(room) | MsgTarget::Status(room),
        kind,
        text,
        ..
    } = ev
    else {
        return Bytes::new();
    };
    let mut out = String::with_capacity(text.len() + 40);
    out.push_str(&clock(*time));
    out.push(' ');
    if !in_focus {
        out.push('[');
        out.push_str(room);
        out.push_str("] ");
    }
    match kind {
        MsgKind::Say => out.push_str(&format!("<{}> {text}", from.nick)),
        MsgKind::Action => out.push_str(&format!("* {} {text}", from.nick)),
        MsgKind::Notice => out.push_str(&format!("-{}- {text}", from.nick)),
    }
    let mut out = match for_terminal(&out, false) {
        Cow::Borrowed(_) => out,
        Cow::Owned(shown) => shown,
    };
    out.push('\n');
    Bytes::from(out)
}

/// One stored message, as it looked when it was said (room left out: the
/// block's header names it).
fn past_line(ev: &Event, out: &mut String) {
    if let Event::PastTopic { time, by, text, .. } = ev {
        out.push_str(&stamp(*time));
        if text.is_empty() {
            out.push_str(&format!(" * {} cleared the topic\n", by.nick));
        } else {
            out.push_str(&format!(" * {} set the topic: {text}\n", by.nick));
        }
        return;
    }
    let Event::Message {
        time,
        from,
        kind,
        text,
        ..
    } = ev
    else {
        return;
    };
    // A message of several lines: each non-blank line, as it was shown.
    for text in chatroom_core::multiline::read_lines(text) {
        out.push_str(&stamp(*time));
        match kind {
            MsgKind::Say => out.push_str(&format!(" <{}> {text}", from.nick)),
            MsgKind::Action => out.push_str(&format!(" * {} {text}", from.nick)),
            MsgKind::Notice => out.push_str(&format!(" -{}- {text}", from.nick)),
        }
        out.push('\n');
    }
}

/// The plain-text protocols have no login: their users are told what will
/// happen, and where the name can be kept.
pub fn protected_warning(nick: &str, grace_secs: u64, how: &str) -> String {
    format!(
        "*** NickServ: {nick} is a registered nickname; you will be renamed in {} unless you log in to it ({how})",
        plural(grace_secs as usize, "second", "seconds")
    )
}

/// How a line user logs in, for [`protected_warning`].
pub const LOGIN_HOW: &str = "/login PASSWORD";

/// How a user of a tutorial dialect, which has no login of its own, does.
pub const ELSEWHERE_HOW: &str = "from the line protocol with /login, or from an IRC client";

pub(crate) fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Replayed history between a header and a footer, so it is never taken
/// for live traffic.
fn history_block(room: &str, lines: &[Event]) -> String {
    // Stored tag-only messages (reactions) have nothing to show here.
    let lines: Vec<&Event> = lines
        .iter()
        .filter(|l| !matches!(l, Event::TagMsg { .. }))
        .collect();
    if lines.is_empty() {
        return format!("--- no earlier messages in {room} ---");
    }
    let mut s = format!(
        "--- history of {room}: {} ---\n",
        plural(lines.len(), "earlier message", "earlier messages")
    );
    for ev in lines {
        past_line(ev, &mut s);
    }
    s.push_str("--- end of history ---");
    s
}

fn found_block(room: &str, words: &str, lines: &[Event]) -> String {
    if lines.is_empty() {
        return format!("--- search for \"{words}\" in {room}: nothing found ---");
    }
    let mut s = format!(
        "--- search for \"{words}\" in {room}: {} found, newest first ---\n",
        plural(lines.len(), "message", "messages")
    );
    for ev in lines {
        past_line(ev, &mut s);
    }
    s.push_str("--- end of search ---");
    s
}

impl Renderer for LineRenderer {
    fn render(&mut self, shared: &Shared, out: &mut BytesMut) {
        if let Some(lines) = crate::envelope::one_per_line(shared) {
            for line in &lines {
                self.render(line, out);
            }
            return;
        }
        let ev = match shared.body() {
            Body::Event(ev) => ev,
            // The session's own prompts and replies, some of which echo
            // what the client typed.
            Body::Raw(bytes) => {
                return out.put(for_terminal(&String::from_utf8_lossy(bytes), true).as_bytes());
            }
            Body::Irc(_) => return,
        };
        let line: String = match ev {
            Event::Message {
                to: MsgTarget::Room(room),
                ..
            } => {
                let in_focus = self.focused(room);
                let slot = if in_focus {
                    Slot::LineFocused
                } else {
                    Slot::LineOtherRoom
                };
                shared.render_into(slot, out, |e| render_message(e, in_focus));
                return;
            }
            // To a room's operators or voiced people (from IRC STATUSMSG):
            // always shown with its `[@#room]` label.
            Event::Message {
                to: MsgTarget::Status(_),
                ..
            } => {
                shared.render_into(Slot::LineOtherRoom, out, |e| render_message(e, false));
                return;
            }
            Event::Message {
                time,
                from,
                to: MsgTarget::Nick(to),
                kind,
                text,
                ..
            } => {
                let t = clock(*time);
                let body = match kind {
                    MsgKind::Action => format!("* {} {text}", from.nick),
                    _ => text.to_string(),
                };
                if self.is_me(&from.nick) && !self.is_me(to) {
                    format!("{t} [private to {to}] {body}")
                } else if *kind == MsgKind::Action {
                    // The body already names the sender: `* bob waves`.
                    format!("{t} [private] {body}")
                } else {
                    format!("{t} [private] <{}> {body}", from.nick)
                }
            }
            Event::Welcome { nick, .. } => {
                self.me = Some(nick.to_string());
                format!("Welcome, {nick}! Type /help for commands.")
            }
            Event::Joined { room, who } => {
                format!("{} * {} joined {room}", now(), who.nick)
            }
            Event::Parted { room, who, reason } => match reason {
                Some(r) => format!("{} * {} left {room} ({r})", now(), who.nick),
                None => format!("{} * {} left {room}", now(), who.nick),
            },
            Event::Quit { who, reason } => format!("{} * {} quit ({reason})", now(), who.nick),
            Event::NickChanged { old, who } => {
                if self.is_me(old) {
                    self.me = Some(who.nick.to_string());
                    format!("{} * you are now known as {}", now(), who.nick)
                } else {
                    format!("{} * {old} is now known as {}", now(), who.nick)
                }
            }
            Event::TopicChanged { room, topic, by } => match topic {
                Some(t) => format!(
                    "{} * {} set the topic of {room}: {}",
                    now(),
                    by.nick,
                    t.text
                ),
                None => format!("{} * {} cleared the topic of {room}", now(), by.nick),
            },
            Event::TopicIs { room, topic } => match topic {
                Some(t) => format!("Topic of {room}: {} (set by {})", t.text, t.setter),
                None => format!("{room} has no topic"),
            },
            Event::Names { room, members, .. } => {
                format!("In {room} ({}): {}", members.len(), member_list(members))
            }
            Event::RoomList { rooms } => {
                let mut s = if rooms.is_empty() {
                    "No rooms yet; /join one to make it.".to_string()
                } else {
                    format!("{}:", plural(rooms.len(), "room", "rooms"))
                };
                for r in rooms {
                    s.push_str(&format!(
                        "\n  {} ({} member{})",
                        r.name,
                        r.members,
                        if r.members == 1 { "" } else { "s" }
                    ));
                    if let Some(t) = &r.topic {
                        s.push_str(&format!(": {t}"));
                    }
                }
                s
            }
            Event::WhoReply { mask, members } => {
                if members.is_empty() {
                    format!("Nobody matches {mask}")
                } else {
                    let mut s = format!("{mask}:");
                    for m in members {
                        s.push_str(&format!(
                            "\n  {}{} ({}@{}){}",
                            if m.op { "@" } else { "" },
                            m.user.nick,
                            m.user.user,
                            m.user.host,
                            m.away
                                .as_ref()
                                .map(|a| format!(" away: {a}"))
                                .unwrap_or_default()
                        ));
                    }
                    s
                }
            }
            Event::WhoisReply {
                user,
                rooms,
                away,
                idle_secs,
                ..
            } => {
                let rooms: Vec<&str> = rooms.iter().map(|r| &**r).collect();
                let mut s = format!(
                    "{} ({}@{}, {}): in {}; idle {idle_secs}s",
                    user.nick,
                    user.user,
                    user.host,
                    user.realname,
                    if rooms.is_empty() {
                        "no rooms".to_string()
                    } else {
                        rooms.join(" ")
                    }
                );
                if let Some(a) = away {
                    s.push_str(&format!("; away: {a}"));
                }
                s
            }
            Event::Focus { room } => {
                self.focus = room.as_ref().map(|r| r.to_string());
                match room {
                    Some(r) => format!("* you are now talking in {r}"),
                    None => "* you are not in any room; /join one".to_string(),
                }
            }
            Event::AwayChanged { away: true } => "* you are marked as away".into(),
            Event::AwayChanged { away: false } => "* you are no longer away".into(),
            Event::IsAway { nick, message } => format!("* {nick} is away: {message}"),
            Event::ServerNotice { text } => format!("*** {text}"),
            Event::NickProtected { nick, grace_secs } => {
                protected_warning(nick, *grace_secs, LOGIN_HOW)
            }
            Event::Error(e) => {
                // A refusal names what the client typed, unchecked.
                let mut s = format!("! {e}").replace('\n', " ");
                if matches!(e, HubError::NoFocus) {
                    s.push_str(": /join one first");
                }
                if self.me.is_none()
                    && matches!(e, HubError::NickInUse(_) | HubError::ErroneousNick { .. })
                {
                    s.push_str("\nChoose another nickname:");
                }
                s
            }
            Event::Closing { reason } => format!("*** Disconnected: {reason}"),
            Event::ModeChanged {
                target,
                by,
                changes,
            } => {
                if target.starts_with('#') {
                    format!(
                        "{} * {} sets mode {} on {target}",
                        now(),
                        by.nick,
                        mode_text(changes)
                    )
                } else {
                    // User modes only ever reach their holder.
                    format!("* your modes changed: {}", mode_text(changes))
                }
            }
            Event::RoomModes {
                room, modes, args, ..
            } => {
                let args: Vec<&str> = args.iter().map(|a| &**a).collect();
                format!("Modes of {room}: {modes} {}", args.join(" "))
                    .trim_end()
                    .to_string()
            }
            Event::ModeList {
                room,
                mode,
                entries,
            } => {
                let mut s = format!("+{mode} list of {room} ({}):", entries.len());
                for e in entries {
                    s.push_str(&format!("\n  {} (set by {})", e.mask, e.setter));
                }
                s
            }
            Event::UserModes { modes } => format!("Your modes: {modes}"),
            Event::Kicked {
                room,
                by,
                nick,
                reason,
            } => {
                if self.is_me(nick) {
                    format!(
                        "{} * you were removed from {room} by {} ({reason})",
                        now(),
                        by.nick
                    )
                } else {
                    format!(
                        "{} * {nick} was removed from {room} by {} ({reason})",
                        now(),
                        by.nick
                    )
                }
            }
            Event::Invited { room, by, nick } => {
                if self.is_me(nick) {
                    format!("* {} invites you to {room} (/join {room})", by.nick)
                } else {
                    format!("* you invited {nick} to {room}")
                }
            }
            Event::YoureOper => "* you are now a server operator".into(),
            Event::WhowasReply { nick, entries } => match entries.first() {
                None => format!("! nobody was called {nick} recently"),
                Some(e) => format!(
                    "{nick} was {}@{} ({})",
                    e.user.user, e.user.host, e.user.realname
                ),
            },
            // Counts are for IRC clients' status windows.
            Event::Lusers(_) => return,
            // Read markers are for clients that track what was read.
            Event::ReadMarker { .. } => return,
            // MONITOR is IRC's; nothing here asks for it.
            Event::MonOnline(_)
            | Event::MonOffline(_)
            | Event::MonList(_)
            | Event::MonListFull { .. } => return,
            Event::InviteNotice { room, by, nick } => {
                format!("{} * {} invited {nick} to {room}", now(), by.nick)
            }
            Event::Wallops { from, text } => {
                format!("{} *** WALLOPS from {}: {text}", now(), from.nick)
            }
            // The withdrawn line is already on the screen; say so (the
            // redaction spec's fallback) without repeating it.
            Event::Redacted { by, to, reason, .. } => {
                let place = match to {
                    MsgTarget::Room(room) => format!(" in {room}"),
                    _ => String::new(),
                };
                let why = reason
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default();
                format!("{} * {} withdrew a message{place}{why}", now(), by.nick)
            }
            // Tags, away and real-name changes are for IRCv3 clients; the
            // line protocol shows away people through /whois and /who.
            Event::TagMsg { .. }
            | Event::Watched(_)
            | Event::AwayStatus { .. }
            | Event::RealnameChanged { .. }
            | Event::AccountChanged { .. }
            | Event::HostChanged { .. } => {
                return;
            }
            // ChanServ's answers, worded as for IRC, one line each.
            Event::RoomReg(reply) => crate::irc::chanserv::words(reply)
                .iter()
                .map(|l| format!("* ChanServ: {l}"))
                .collect::<Vec<_>>()
                .join("\n"),
            // A past topic only ever comes inside `History`.
            Event::PastTopic { .. } => return,
            Event::History { room, lines } => history_block(room, lines),
            Event::Found { room, words, lines } => found_block(room, words, lines),
        };
        // Whatever anyone typed reaches a terminal here (messages, nicks'
        // away and quit messages, topics, refusals naming what the client
        // typed): no control sequence gets through.
        out.put(for_terminal(&line, true).as_bytes());
        out.put_u8(b'\n');
    }
}

#[cfg(test)]
mod tests;
