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
//! This file holds the renderer's per-connection state and sends each
//! event to the part that words it; the parts take what they need as
//! arguments and never reach back into the renderer:
//!
//! - `numerics`: replies addressed to the client's current nickname;
//! - `shared`: room traffic shared between recipients, the cache slots;
//! - `errors`: hub refusals as numerics;
//! - `welcome`: the registration burst, ISUPPORT, LUSERS, the MOTD;
//! - `who`: NAMES, WHO/WHOX, WHOIS, WHOWAS, USERHOST/ISON folding;
//! - `replies`: topics, LIST, modes and mask lists, away, MONITOR;
//! - `label`: labeled responses and batch references;
//! - [`history`]: replayed history, search results, held messages.
//!
//! This module must not decide anything: it never drops a message the hub
//! delivered except the client's own PRIVMSG/NOTICE/TAGMSG echo when the
//! client did not enable `echo-message` (IRC clients then show their own
//! messages themselves), events whose capability the client did not
//! enable (TAGMSG, AWAY, SETNAME, invite notices) and replies it folds
//! into USERHOST/ISON.

mod errors;
pub mod history;
mod label;
mod numerics;
mod replies;
mod shared;
mod welcome;
mod who;

#[cfg(test)]
mod test_support;

use std::sync::Arc;
use std::time::SystemTime;

use bytes::{BufMut, BytesMut};

use crate::Renderer;
use crate::envelope::{Body, Shared};
use chatroom_config::Config;
use chatroom_core::names::{Name, same};
use chatroom_core::{Event, HubError, MsgTarget, multiline};

use super::caps::{Cap, CapSet};
use super::chanserv;
use super::numeric::*;
use super::wire::{host, tag_prefix, word};
use label::Batches;
use numerics::Numerics;
use shared::{render_message, render_redacted, render_shared};
use who::Found;

pub use super::limits::MAX_LABEL;
pub use super::local::{Handed, Local};
pub use super::wire::{source, write_line};
pub use shared::{message_slot, mode_params, slot, text_fit};
pub use welcome::{NETWORK, isupport, version};

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
    /// Batch references handed out so far.
    batches: Batches,
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

impl IrcRenderer {
    pub fn new(cfg: &Config) -> IrcRenderer {
        welcome::created();
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
            batches: Batches::default(),
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

    /// Writes the lines of a labeled command held so far, labeled.
    fn finish_label(&mut self, out: &mut BytesMut) {
        let Some(label) = self.rare.as_mut().and_then(|r| r.label.take()) else {
            return;
        };
        let held = std::mem::take(&mut self.rare_mut().held);
        label::finish(&self.server, &label, &held, &mut self.batches, out);
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

    /// Replies from this server to the client as it is called now.
    fn to(&self) -> Numerics<'_> {
        Numerics {
            server: &self.server,
            me: self.me(),
        }
    }

    /// `:server <code> <me> <params...> [:trailing]`
    fn numeric(&self, out: &mut BytesMut, code: &str, params: &[&str], trailing: Option<&str>) {
        self.to().numeric(out, code, params, trailing);
    }

    fn motd(&self, out: &mut BytesMut) {
        welcome::motd(&self.to(), self.motd.as_deref(), out);
    }

    /// A hub refusal; ERR_NOSUCHNICK is folded into a USERHOST/ISON
    /// look-up in progress, and otherwise remembered for `WhoisEnd`.
    fn error(&mut self, out: &mut BytesMut, e: &HubError) {
        if let HubError::NoSuchNick(nick) = e {
            if self.rare.as_ref().is_some_and(|r| r.quiet.is_some()) {
                return;
            }
            self.rare_mut().no_such = Some(nick.to_string());
        }
        errors::error(&self.to(), e, out);
    }

    /// A WHOIS answer: collected during a USERHOST/ISON look-up, else
    /// written.
    fn whois(&mut self, out: &mut BytesMut, ev: &Event) {
        let Event::WhoisReply { user, away, .. } = ev else {
            return;
        };
        if let Some(r) = &mut self.rare {
            r.no_such = None;
        }
        if let Some(found) = self.rare.as_mut().and_then(|r| r.quiet.as_mut()) {
            found.push(Found::of(user, away.is_some()));
            return;
        }
        who::whois(&self.to(), ev, self.has(Cap::MultiPrefix), out);
    }

    /// What a USERHOST/ISON look-up found; the look-up is over.
    fn take_found(&mut self) -> Vec<Found> {
        self.rare
            .as_mut()
            .and_then(|r| r.quiet.take())
            .unwrap_or_default()
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
                who::names_end(&self.to(), &mask, out);
            }
            Local::QuietBegin => self.rare_mut().quiet = Some(Vec::new()),
            Local::UserhostEnd => {
                let found = self.take_found();
                who::userhost(&self.to(), &found, out);
            }
            Local::IsonEnd => {
                let found = self.take_found();
                who::ison(&self.to(), &found, out);
            }
            Local::WhoisEnd(nick) => {
                if self
                    .rare
                    .as_mut()
                    .and_then(|r| r.no_such.take())
                    .is_some_and(|n| same(&n, &nick))
                {
                    who::whois_end(&self.to(), &nick, out);
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
                self.to()
                    .standard(out, &kind, &command, &code, &context, &text);
            }
            Local::ChatHistory { target, lines } => {
                let batch = self.next_batch(Cap::Batch);
                let tags = self.replay_tags(self.has(Cap::ServerTime));
                history::render_timed(&self.server, &target, &lines, batch.as_deref(), tags, out)
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
                let tags = self.replay_tags(self.has(Cap::ServerTime));
                history::render_held(self.me(), &lines, tags, out);
                handed.fire();
            }
            Local::Service { from, text } => {
                let src = format!("{from}!{from}@services.");
                write_line(out, Some(&src), "NOTICE", &[self.me()], Some(&text));
            }
            Local::Targets(found) => {
                let batch = self.next_batch(Cap::Batch);
                history::render_targets(&self.server, &found, batch.as_deref(), out)
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
        self.has(cap).then(|| self.batches.next('H'))
    }

    /// Messages of several lines go as `draft/multiline` batches (the
    /// spec makes `batch` a requirement of multiline).
    fn multi(&self) -> bool {
        self.has(Cap::Multiline) && self.has(Cap::Batch)
    }

    /// The capabilities a replayed message is written with.
    fn replay_tags(&self, time: bool) -> history::Tags {
        history::Tags {
            time,
            tagged: self.has(Cap::MessageTags),
            multi: self.multi(),
        }
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
                if let Event::Message { text, .. } = event
                    && multiline::is_multi(text)
                    && self.multi()
                {
                    // Rare enough to render for each such recipient: no
                    // cache slot of its own for every message to carry.
                    out.extend_from_slice(&render_message(event, time, tagged, acct, true));
                    return;
                }
                shared.render_into(message_slot(time, tagged, acct), out, |ev| {
                    render_message(ev, time, tagged, acct, false)
                });
            }
            // Never to a client without the capability (the spec's
            // fallback is optional; a notice for every withdrawn message
            // would be noise to those who cannot act on it).
            Event::Redacted { .. } if self.has(Cap::MessageRedaction) => {
                let tagged = self.has(Cap::MessageTags);
                shared.render_into(slot(time, tagged), out, |ev| {
                    render_redacted(ev, time, tagged)
                });
            }
            Event::Redacted { .. } => {}
            Event::Joined { .. } => {
                let ext = self.has(Cap::ExtendedJoin);
                shared.render_into(slot(time, ext), out, |ev| render_shared(ev, time, ext));
            }
            Event::Parted { .. }
            | Event::Quit { .. }
            | Event::Kicked { .. }
            | Event::TopicChanged { .. }
            | Event::Wallops { .. } => {
                shared.render_into(slot(time, false), out, |ev| render_shared(ev, time, false));
            }
            Event::AwayStatus { .. } if self.has(Cap::AwayNotify) => {
                shared.render_into(slot(time, false), out, |ev| render_shared(ev, time, false));
            }
            Event::AccountChanged { .. } if self.has(Cap::AccountNotify) => {
                shared.render_into(slot(time, false), out, |ev| render_shared(ev, time, false));
            }
            Event::RealnameChanged { .. } if self.has(Cap::Setname) => {
                shared.render_into(slot(time, false), out, |ev| render_shared(ev, time, false));
            }
            Event::InviteNotice { .. } if self.has(Cap::InviteNotify) => {
                shared.render_into(slot(time, false), out, |ev| render_shared(ev, time, false));
            }
            Event::AwayStatus { .. }
            | Event::RealnameChanged { .. }
            | Event::AccountChanged { .. }
            | Event::InviteNotice { .. } => {}
            // extended-monitor: what a watched person's roommates hear,
            // for the capabilities that show each (CHGHOST without its
            // emulation: no rooms are shared).
            Event::Watched(inner) if self.has(Cap::ExtendedMonitor) => {
                let shown = match &**inner {
                    Event::AwayStatus { .. } => self.has(Cap::AwayNotify),
                    Event::AccountChanged { .. } => self.has(Cap::AccountNotify),
                    Event::RealnameChanged { .. } => self.has(Cap::Setname),
                    Event::HostChanged { old, who, .. } if self.has(Cap::Chghost) => {
                        shared::host_changed(&self.to(), self.caps, false, old, who, &[], out);
                        false
                    }
                    _ => false,
                };
                if shown {
                    out.extend_from_slice(&render_shared(inner, time, false));
                }
            }
            Event::Watched(_) => {}
            Event::HostChanged { old, who, rooms } => {
                let is_me = self.is_me(&who.nick);
                shared::host_changed(&self.to(), self.caps, is_me, old, who, rooms, out);
            }
            Event::NickChanged { old, who } => {
                if self.is_me(old) {
                    self.me = Some(who.nick.clone());
                }
                shared.render_into(slot(time, false), out, |ev| render_shared(ev, time, false));
            }
            Event::Welcome { nick, user } => {
                self.me = Some(nick.clone());
                self.userhost = Some((user.user.clone(), user.host.clone()));
                welcome::welcome(&self.to(), user, &self.isupport, out);
                // LUSERS and the MOTD follow when the hub's counts arrive.
                self.motd_pending = true;
            }
            Event::TopicIs { room, topic } => {
                replies::topic_is(&self.to(), room, topic.as_ref(), out)
            }
            Event::Names {
                room,
                members,
                secret,
                read_marker,
            } => {
                let end = !self.names_batch;
                // read-marker: the joiner's marker before the end of names.
                let marker = read_marker.filter(|_| self.has(Cap::ReadMarker));
                let to = self.to();
                who::names(
                    &to,
                    room,
                    members,
                    *secret,
                    self.caps,
                    end && marker.is_none(),
                    out,
                );
                if let Some(at) = marker {
                    replies::markread(&to, room, at, out);
                    if end {
                        who::names_end(&to, room, out);
                    }
                }
            }
            Event::ReadMarker { target, at } if self.has(Cap::ReadMarker) => {
                replies::markread(&self.to(), target, *at, out);
            }
            Event::ReadMarker { .. } => {}
            Event::RoomList { rooms } => replies::room_list(&self.to(), rooms, out),
            Event::WhoReply { mask, members } => {
                let whox = self.rare.as_mut().and_then(|r| r.whox.take());
                let all = self.has(Cap::MultiPrefix);
                who::who(&self.to(), mask, members, whox.as_ref(), all, out);
            }
            ev @ Event::WhoisReply { .. } => self.whois(out, ev),
            // The focused room only matters to protocols without room names.
            Event::Focus { .. } => {}
            Event::AwayChanged { away } => replies::away_changed(&self.to(), *away, out),
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
            } => replies::room_modes(&self.to(), room, modes, args, *created, out),
            Event::ModeList {
                room,
                mode,
                entries,
            } => replies::mode_list(&self.to(), room, *mode, entries, out),
            Event::UserModes { modes } => self.numeric(out, RPL_UMODEIS, &[modes], None),
            Event::Invited { room, by, nick } => {
                if self.is_me(nick) {
                    // A message from the inviter: account-tag puts their
                    // account on it as on everything they send.
                    let at = self.has(Cap::ServerTime).then(SystemTime::now);
                    let account = by.account.as_deref().filter(|_| self.has(Cap::AccountTag));
                    out.put_slice(tag_prefix(at, None, account, &[]).as_bytes());
                    write_line(out, Some(&source(by)), "INVITE", &[nick, room], None);
                } else {
                    self.numeric(out, RPL_INVITING, &[nick, room], None);
                }
            }
            Event::YoureOper => {
                self.numeric(out, RPL_YOUREOPER, &[], Some("You are now an IRC operator"))
            }
            Event::WhowasReply { nick, entries } => who::whowas(&self.to(), nick, entries, out),
            Event::Lusers(l) => {
                welcome::lusers(&self.to(), l, out);
                if std::mem::take(&mut self.motd_pending) {
                    self.motd(out);
                }
            }
            ev @ (Event::MonOnline(_)
            | Event::MonOffline(_)
            | Event::MonList(_)
            | Event::MonListFull { .. }) => replies::monitor(&self.to(), ev, out),
            Event::RoomReg(reply) => chanserv::render(reply, self.me(), out),
            // Only ever inside `History`, where the history module decides.
            Event::PastTopic { .. } => {}
            // Only a `chathistory` batch tells a client that lines are
            // history: `server-time` alone does not (a client may show the
            // time lines arrive), so without `batch` the replay is marked
            // in its text.
            Event::History { room, lines } if self.has(Cap::ServerTime) && self.has(Cap::Batch) => {
                let batch = self.next_batch(Cap::Batch);
                let tags = self.replay_tags(true);
                history::render_timed(&self.server, room, lines, batch.as_deref(), tags, out)
            }
            ev @ (Event::History { .. } | Event::Found { .. }) => {
                history::render(&self.server, self.me(), ev, time, out)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use chatroom_core::{Event, HubError, MsgKind};

    use crate::irc::render::Local;
    use crate::irc::render::test_support::*;

    #[test]
    fn an_invitation_carries_the_inviters_account_for_account_tag() {
        let invite = |by| Event::Invited {
            room: "#a".into(),
            by,
            nick: "bob".into(),
        };
        let mut tagged = with_caps("bob", &[crate::irc::caps::Cap::AccountTag]);
        assert_eq!(
            render(&mut tagged, invite(logged_in("alice", "Alicia"))),
            "@account=Alicia :alice!alice@127.0.0.1 INVITE bob #a\r\n"
        );
        // Not logged in: no tag; without the capability: none either.
        assert_eq!(
            render(&mut tagged, invite(user("alice"))),
            ":alice!alice@127.0.0.1 INVITE bob #a\r\n"
        );
        let mut plain = registered("bob");
        assert_eq!(
            render(&mut plain, invite(logged_in("alice", "Alicia"))),
            ":alice!alice@127.0.0.1 INVITE bob #a\r\n"
        );
        // With server-time too, both tags.
        let mut both = with_caps(
            "bob",
            &[
                crate::irc::caps::Cap::AccountTag,
                crate::irc::caps::Cap::ServerTime,
            ],
        );
        let out = render(&mut both, invite(logged_in("alice", "Alicia")));
        assert!(out.starts_with("@time="), "{out}");
        assert!(
            out.contains(";account=Alicia :alice!alice@127.0.0.1 INVITE bob #a\r\n"),
            "{out}"
        );
    }

    #[test]
    fn own_nick_change_is_followed() {
        let mut r = registered("bob");
        let out = render(
            &mut r,
            Event::NickChanged {
                old: "bob".into(),
                who: user("robert"),
            },
        );
        assert_eq!(out, ":bob!robert@127.0.0.1 NICK :robert\r\n");
        assert_eq!(
            render(&mut r, Event::Error(HubError::NoText)),
            ":chatroom 412 robert :No text to send\r\n"
        );
        // Messages from the new nick are ours now.
        assert_eq!(
            render(&mut r, msg("robert", room("#a"), MsgKind::Say, "x")),
            ""
        );
    }

    #[test]
    fn local_replies_carry_the_current_nick() {
        let mut r = renderer();
        assert_eq!(
            render(&mut r, Local::reply("CAP", &["LS", ""]).body()),
            ":chatroom CAP * LS :\r\n"
        );
        let mut r = registered("bob");
        assert_eq!(
            render(
                &mut r,
                Local::reply("421", &["FOO", "Unknown command"]).body()
            ),
            ":chatroom 421 bob FOO :Unknown command\r\n"
        );
        assert_eq!(
            render(&mut r, Local::reply_words("324", &["#a", "+n"]).body()),
            ":chatroom 324 bob #a +n\r\n"
        );
        // Plain raw bytes pass through.
        assert_eq!(
            render(&mut r, Bytes::from_static(b"PING :x\r\n")),
            "PING :x\r\n"
        );
    }

    #[test]
    fn away_and_notices_and_closing() {
        let mut r = registered("bob");
        assert_eq!(
            render(
                &mut r,
                Event::IsAway {
                    nick: "alice".into(),
                    message: "afk".into()
                }
            ),
            ":chatroom 301 bob alice :afk\r\n"
        );
        assert_eq!(
            render(&mut r, Event::AwayChanged { away: true }),
            ":chatroom 306 bob :You have been marked as being away\r\n"
        );
        assert_eq!(
            render(&mut r, Event::AwayChanged { away: false }),
            ":chatroom 305 bob :You are no longer marked as being away\r\n"
        );
        assert_eq!(
            render(
                &mut r,
                Event::ServerNotice {
                    text: "slow down".into()
                }
            ),
            ":chatroom NOTICE bob :slow down\r\n"
        );
        assert_eq!(
            render(
                &mut r,
                Event::Focus {
                    room: Some("#a".into())
                }
            ),
            ""
        );
        assert_eq!(
            render(
                &mut r,
                Event::Closing {
                    reason: "Quit: bye".into()
                }
            ),
            "ERROR :Closing link: (bob@127.0.0.1) [Quit: bye]\r\n"
        );
        let mut fresh = renderer();
        assert_eq!(
            render(
                &mut fresh,
                Event::Closing {
                    reason: "Server full".into()
                }
            ),
            "ERROR :Closing link: [Server full]\r\n"
        );
    }
}
