//! Room traffic as IRC lines that look the same to every recipient with
//! the same relevant capabilities: PRIVMSG/NOTICE/TAGMSG
//! ([`render_message`]), JOIN, PART, QUIT, NICK, TOPIC, KICK, MODE, AWAY,
//! ACCOUNT, SETNAME, WALLOPS and invite notices ([`render_shared`]), REDACT
//! ([`render_redacted`]), and the render
//! cache slot each capability combination uses ([`slot`],
//! [`message_slot`]). Also the CHGHOST emulation, which is built from
//! these lines but differs per recipient.
//!
//! These encodings are formatted once per event and slot and shared
//! between recipients, so they must not depend on anything about one
//! recipient beyond the capabilities the slot names.

use std::sync::Arc;
use std::time::SystemTime;

use bytes::{BufMut, Bytes, BytesMut};

use chatroom_core::names::Name;
use chatroom_core::{Event, ModeChange, MsgKind, MsgTarget, UserInfo, multiline};

use super::numerics::Numerics;
use crate::envelope::Slot;
use crate::framing::split_text;
use crate::irc::caps::{Cap, CapSet};
use crate::irc::numeric::RPL_VISIBLEHOST;
use crate::irc::wire::{MAX_LINE, host, source, tag_prefix, word, write_line};

/// Mode parameters written in one MODE line. Masks are at most 128 bytes,
/// so three of them with the source and room name stay under 512 bytes.
const MODES_PER_LINE: usize = 3;

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

/// The most text a PRIVMSG or NOTICE from `from` to `to` carries in one
/// line of 512 bytes with CR LF, tags aside (RFC 1459; message-tags gives
/// tags a limit of their own): the line is `:nick!user@host PRIVMSG
/// target :text` (an action wraps the text in `\x01ACTION \x01`). The hub
/// keeps every message to this (`Hub::fit_text_with`): IRC's line is the
/// narrowest any protocol relays, and a line over 512 bytes is one that
/// clients may cut or refuse.
pub fn text_fit(from: &UserInfo, to: &MsgTarget, kind: MsgKind) -> usize {
    // As `source` writes it, without building the string.
    let src = from.nick.len() + 1 + word(&from.user).len() + 1 + host(&from.host).len();
    MAX_LINE.saturating_sub(message_overhead(src, target_of(to), kind))
}

/// The target a message names on the line.
fn target_of(to: &MsgTarget) -> &str {
    match to {
        MsgTarget::Room(r) | MsgTarget::Status(r) => r,
        MsgTarget::Nick(n) => n,
    }
}

fn command_of(kind: MsgKind) -> &'static str {
    if kind == MsgKind::Notice {
        "NOTICE"
    } else {
        "PRIVMSG"
    }
}

/// What CTCP wraps around the text of an action.
fn ctcp_of(kind: MsgKind) -> (&'static str, &'static str) {
    if kind == MsgKind::Action {
        ("\u{1}ACTION ", "\u{1}")
    } else {
        ("", "")
    }
}

/// The bytes of a message line besides the text, CR LF not counted:
/// `:`, the source of `src` bytes, ` COMMAND target :` and the CTCP.
fn message_overhead(src: usize, target: &str, kind: MsgKind) -> usize {
    let (pre, post) = ctcp_of(kind);
    1 + src + 1 + command_of(kind).len() + 1 + target.len() + 2 + pre.len() + post.len()
}

/// PRIVMSG/NOTICE (split into several lines when the source, target and
/// text together would pass 512 bytes: never for what the hub relays,
/// which fits, but history from before the hub kept to [`text_fit`] may)
/// and TAGMSG. `time`: server-time;
/// `tagged`: message-tags (msgid and client-only tags); `acct`:
/// account-tag (the sender's account, when logged in). A message of
/// several lines ([`chatroom_core::multiline`]) goes to a client with
/// `draft/multiline` and `batch` (`multi`) as a `draft/multiline` batch,
/// to others as one PRIVMSG per non-blank line (the spec's fallback).
pub(crate) fn render_message(
    ev: &Event,
    time: bool,
    tagged: bool,
    acct: bool,
    multi: bool,
) -> Bytes {
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
    let target = target_of(to);
    let no_tags: &[(Name, Name)] = &[];
    // IRCv3 bot-mode: a bot's messages carry `bot` (no value) among the
    // server's tags, before the client's own.
    let with_bot: Vec<(Name, Name)>;
    let client = if tagged && from.bot {
        with_bot = std::iter::once((Name::from("bot"), Name::from("")))
            .chain(client.iter().cloned())
            .collect();
        &with_bot
    } else {
        client
    };
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
    let command = command_of(kind);
    let (pre, post) = ctcp_of(kind);
    let overhead = message_overhead(src.len(), target, kind);
    let budget = MAX_LINE.saturating_sub(overhead).max(64);
    if multiline::is_multi(text) && multi {
        return multiline_batch(id, &first, &src, target, text, budget);
    }
    let mut out = BytesMut::with_capacity(first.len() + overhead + text.len() + 2);
    // One line at a time, as composed; the blank lines of a message of
    // several lines are never sent alone (the spec's fallback).
    let lines = multiline::sent_lines(text);
    for (i, part) in lines.flat_map(|l| split_text(l, budget)).enumerate() {
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

/// A message of several lines as a `draft/multiline` batch: the message's
/// tags (msgid, time, account, client-only tags) on `BATCH +`, each line as
/// composed in it (one too long for a relayed line continued with
/// `draft/multiline-concat`), blank lines included. The reference is made
/// from the msgid, so every recipient gets the same bytes.
fn multiline_batch(
    id: u64,
    tags: &str,
    src: &str,
    target: &str,
    text: &str,
    budget: usize,
) -> Bytes {
    let reference = format!("ml{id}");
    let mut out = BytesMut::with_capacity(text.len() * 2 + 256);
    out.put_slice(tags.as_bytes());
    let plus = format!("+{reference}");
    write_line(
        &mut out,
        Some(src),
        "BATCH",
        &[&plus, "draft/multiline", target],
        None,
    );
    let batch = format!("@batch={reference} ");
    let concat = format!("@batch={reference};draft/multiline-concat ");
    for (line, continued) in multiline::parts(text) {
        let pieces = if line.is_empty() {
            vec![""]
        } else {
            split_text(line, budget)
        };
        for (i, piece) in pieces.into_iter().enumerate() {
            let tag = if continued || i > 0 { &concat } else { &batch };
            out.put_slice(tag.as_bytes());
            write_line(&mut out, Some(src), "PRIVMSG", &[target], Some(piece));
        }
    }
    let minus = format!("-{reference}");
    write_line(&mut out, Some(src), "BATCH", &[&minus], None);
    out.freeze()
}

/// JOIN, PART, QUIT, NICK, TOPIC, KICK, MODE, AWAY, SETNAME and invite
/// notices: the same for every recipient with the same capabilities.
/// `time`: server-time (the moment of the first rendering, which all
/// recipients then share); `ext`: extended-join.
/// REDACT (IRCv3 message-redaction), with the redaction's own time and
/// (to clients with message-tags) msgid; `Bytes::new()` for any other
/// event.
pub(crate) fn render_redacted(ev: &Event, time: bool, tagged: bool) -> Bytes {
    let Event::Redacted {
        id,
        time: at,
        by,
        to,
        msgid,
        reason,
    } = ev
    else {
        return Bytes::new();
    };
    let mut out = BytesMut::new();
    let tags = tag_prefix(time.then_some(*at), tagged.then_some(*id), None, &[]);
    out.put_slice(tags.as_bytes());
    let msgid = crate::irc::tags::msgid(*msgid);
    write_line(
        &mut out,
        Some(&source(by)),
        "REDACT",
        &[target_of(to), &msgid],
        reason.as_deref(),
    );
    out.freeze()
}

pub(crate) fn render_shared(ev: &Event, time: bool, ext: bool) -> Bytes {
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
        Event::Wallops { from, text } => {
            emit(&mut out, Some(&source(from)), "WALLOPS", &[], Some(text))
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

/// Someone's host changed (CHGHOST). Clients with the chghost
/// capability get `:old CHGHOST user host`; the person themselves
/// (`is_me`), without it, 396; everyone else without it sees them quit and
/// come back into each shared room with their status there (the emulation
/// the chghost spec describes), since their client would otherwise keep
/// showing the old host. Per recipient: `rooms` differ from one to the
/// next, so nothing here is cached.
pub(super) fn host_changed(
    to: &Numerics,
    caps: CapSet,
    is_me: bool,
    old: &Arc<UserInfo>,
    who: &Arc<UserInfo>,
    rooms: &[(Name, bool, bool)],
    out: &mut BytesMut,
) {
    let time = caps.has(Cap::ServerTime);
    let stamp = if time {
        tag_prefix(Some(SystemTime::now()), None, None, &[])
    } else {
        String::new()
    };
    if caps.has(Cap::Chghost) {
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
    if is_me {
        to.numeric(
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
    let ext = caps.has(Cap::ExtendedJoin);
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
            write_line(out, Some(to.server), "MODE", &params, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use bytes::{Bytes, BytesMut};
    use chatroom_core::{Event, ModeChange, MsgKind, MsgTarget, Topic};

    use crate::Renderer;
    use crate::envelope::{Envelope, Slot};
    use crate::irc::caps::Cap;
    use crate::irc::message::Message;
    use crate::irc::render::test_support::*;
    use crate::irc::render::{message_slot, slot};

    #[test]
    fn a_watched_persons_news_needs_extended_monitor_and_its_own_capability() {
        let away = Event::Watched(Box::new(Event::AwayStatus {
            who: user("bar"),
            message: Some("afk".into()),
        }));
        let ext = |caps: &[Cap]| {
            let mut all = vec![Cap::ExtendedMonitor];
            all.extend_from_slice(caps);
            with_caps("foo", &all)
        };
        assert_eq!(
            render(&mut ext(&[Cap::AwayNotify]), away.clone()),
            ":bar!bar@127.0.0.1 AWAY :afk\r\n"
        );
        assert_eq!(render(&mut ext(&[]), away.clone()), "");
        assert_eq!(render(&mut with_caps("foo", &[Cap::AwayNotify]), away), "");
        let name = Event::Watched(Box::new(Event::RealnameChanged { who: user("bar") }));
        assert!(render(&mut ext(&[Cap::Setname]), name.clone()).contains(" SETNAME :"));
        assert_eq!(render(&mut ext(&[Cap::AwayNotify]), name), "");
        let host = Event::Watched(Box::new(Event::HostChanged {
            old: user("bar"),
            who: logged_in("bar", "bar"),
            rooms: Vec::new(),
        }));
        assert!(render(&mut ext(&[Cap::Chghost]), host.clone()).contains(" CHGHOST "));
        // No emulation (QUIT and JOINs) for a watcher: there is no room.
        assert_eq!(render(&mut ext(&[]), host), "");
    }

    #[test]
    fn a_bots_messages_carry_the_bot_tag_to_clients_with_message_tags() {
        let bot = std::sync::Arc::new(chatroom_core::UserInfo {
            bot: true,
            ..(*user("beep")).clone()
        });
        let ev = Event::Message {
            id: 3,
            time: UNIX_EPOCH,
            from: bot,
            to: room("#lobby"),
            kind: MsgKind::Say,
            text: "boop".into(),
            tags: vec![("+draft/reply".into(), "1".into())],
        };
        assert_eq!(
            render(&mut with_caps("bob", &[Cap::MessageTags]), ev.clone()),
            "@msgid=3;bot;+draft/reply=1 :beep!beep@127.0.0.1 PRIVMSG #lobby :boop\r\n"
        );
        assert_eq!(
            render(&mut registered("bob"), ev),
            ":beep!beep@127.0.0.1 PRIVMSG #lobby :boop\r\n"
        );
    }

    #[test]
    fn a_redaction_reaches_only_clients_that_asked_for_it() {
        let at = UNIX_EPOCH + Duration::from_millis(1_546_612_406_123);
        let ev = |reason: Option<&str>, to: MsgTarget| Event::Redacted {
            id: 9,
            time: at,
            by: user("alice"),
            to,
            msgid: 7,
            reason: reason.map(Into::into),
        };
        assert_eq!(
            render(
                &mut with_caps("bob", &[Cap::MessageRedaction]),
                ev(Some("wrong room"), room("#lobby"))
            ),
            ":alice!alice@127.0.0.1 REDACT #lobby 7 :wrong room\r\n"
        );
        assert_eq!(
            render(
                &mut with_caps(
                    "bob",
                    &[Cap::MessageRedaction, Cap::MessageTags, Cap::ServerTime]
                ),
                ev(None, MsgTarget::Nick("bob".into()))
            ),
            "@time=2019-01-04T14:33:26.123Z;msgid=9 :alice!alice@127.0.0.1 REDACT bob 7\r\n"
        );
        let everything_else: Vec<Cap> = Cap::ALL
            .into_iter()
            .filter(|c| *c != Cap::MessageRedaction)
            .collect();
        assert_eq!(
            render(
                &mut with_caps("bob", &everything_else),
                ev(None, room("#lobby"))
            ),
            ""
        );
    }

    #[test]
    fn text_that_fits_fills_the_line_exactly() {
        use std::sync::Arc;

        use chatroom_core::UserInfo;

        use super::{render_message, text_fit};

        let who = |user: &str, host: &str| {
            Arc::new(UserInfo {
                nick: "alice".into(),
                user: user.into(),
                realname: "A".into(),
                host: host.into(),
                account: Some("alice".into()),
                bot: false,
            })
        };
        // Shown as `*` and `0::1`: a byte more than given each.
        let senders = [
            who("alice", "127.0.0.1"),
            who("", "::1"),
            who("a b", "2001:db8::1"),
        ];
        let targets = [
            room("#a"),
            MsgTarget::Nick("bob".into()),
            MsgTarget::Status("@#room".into()),
        ];
        for from in &senders {
            for to in &targets {
                for kind in [MsgKind::Say, MsgKind::Action, MsgKind::Notice] {
                    let message = |text: String| Event::Message {
                        id: 1,
                        time: SystemTime::now(),
                        from: from.clone(),
                        to: to.clone(),
                        kind,
                        text: text.into(),
                        tags: Vec::new(),
                    };
                    let fit = text_fit(from, to, kind);
                    let full = "é".repeat(fit / 2) + &"x".repeat(fit % 2);
                    assert_eq!(full.len(), fit);
                    // Exactly 512 bytes with CR LF, one line, text whole;
                    // the tags of any capability come on top.
                    for (time, tagged, acct) in [(false, false, false), (true, true, true)] {
                        let line =
                            render_message(&message(full.clone()), time, tagged, acct, false);
                        let body = match line.iter().position(|&b| b == b' ') {
                            Some(i) if line[0] == b'@' => &line[i + 1..],
                            _ => &line[..],
                        };
                        assert_eq!(body.len(), 512, "{from:?} {to:?} {kind:?}");
                        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
                        assert!(String::from_utf8_lossy(body).contains(&full));
                    }
                    // One byte more would not fit: it goes on a second line.
                    let line =
                        render_message(&message("x".repeat(fit + 1)), false, false, false, false);
                    assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 2);
                }
            }
        }
    }

    #[test]
    fn wallops_come_from_the_operator() {
        let ev = Event::Wallops {
            from: user("alice"),
            text: "hi everyone".into(),
        };
        assert_eq!(
            render(&mut registered("bob"), ev.clone()),
            ":alice!alice@127.0.0.1 WALLOPS :hi everyone\r\n"
        );
        let timed = render(&mut with_caps("bob", &[Cap::ServerTime]), ev);
        assert!(timed.starts_with("@time="), "{timed}");
    }

    #[test]
    fn room_message_from_others_but_no_echo() {
        let mut r = registered("bob");
        assert_eq!(
            render(&mut r, msg("alice", room("#lobby"), MsgKind::Say, "hi")),
            ":alice!alice@127.0.0.1 PRIVMSG #lobby :hi\r\n"
        );
        assert_eq!(
            render(&mut r, msg("bob", room("#lobby"), MsgKind::Say, "mine")),
            ""
        );
        assert_eq!(
            render(&mut r, msg("BOB", room("#lobby"), MsgKind::Notice, "x")),
            ""
        );
        // A private message to oneself is shown (it was addressed to us).
        assert_eq!(
            render(
                &mut r,
                msg("bob", MsgTarget::Nick("bob".into()), MsgKind::Say, "me")
            ),
            ":bob!bob@127.0.0.1 PRIVMSG bob :me\r\n"
        );
        // Our private message to someone else is not echoed.
        assert_eq!(
            render(
                &mut r,
                msg("bob", MsgTarget::Nick("alice".into()), MsgKind::Say, "x")
            ),
            ""
        );
        assert_eq!(
            render(
                &mut r,
                msg("alice", MsgTarget::Nick("bob".into()), MsgKind::Say, "psst")
            ),
            ":alice!alice@127.0.0.1 PRIVMSG bob :psst\r\n"
        );
    }

    #[test]
    fn actions_and_notices() {
        let mut r = registered("bob");
        assert_eq!(
            render(&mut r, msg("alice", room("#a"), MsgKind::Action, "waves")),
            ":alice!alice@127.0.0.1 PRIVMSG #a :\u{1}ACTION waves\u{1}\r\n"
        );
        assert_eq!(
            render(&mut r, msg("alice", room("#a"), MsgKind::Notice, "note")),
            ":alice!alice@127.0.0.1 NOTICE #a :note\r\n"
        );
        // Text that looks like a parameter list stays one trailing parameter.
        assert_eq!(
            render(&mut r, msg("alice", room("#a"), MsgKind::Say, ":-) x")),
            ":alice!alice@127.0.0.1 PRIVMSG #a ::-) x\r\n"
        );
    }

    #[test]
    fn long_messages_are_split_below_512_bytes() {
        let mut r = registered("bob");
        let text = "word ".repeat(110);
        let out = render(
            &mut r,
            msg("alice", room("#a"), MsgKind::Action, text.trim()),
        );
        let l = lines(&out);
        assert!(l.len() >= 2, "{out}");
        for line in &l {
            assert!(line.len() <= 510, "{} bytes", line.len());
            assert!(line.starts_with(":alice!alice@127.0.0.1 PRIVMSG #a :\u{1}ACTION "));
            assert!(line.ends_with('\u{1}'));
        }
    }

    #[test]
    fn shared_lines_use_the_cache() {
        let mut a = registered("bob");
        let mut b = registered("carol");
        let env = Envelope::new(Event::Joined {
            room: "#a".into(),
            who: user("alice"),
        });
        let mut out_a = BytesMut::new();
        let mut out_b = BytesMut::new();
        a.render(&env, &mut out_a);
        b.render(&env, &mut out_b);
        assert_eq!(out_a, out_b);
        assert_eq!(&out_a[..], b":alice!alice@127.0.0.1 JOIN #a\r\n");
        // The cache slot now holds the IRC bytes.
        let cached = env.rendered(slot(false, false), |_| Bytes::from_static(b"not used"));
        assert_eq!(&cached[..], b":alice!alice@127.0.0.1 JOIN #a\r\n");
    }

    #[test]
    fn join_part_quit_nick_topic() {
        let mut r = registered("bob");
        assert_eq!(
            render(
                &mut r,
                Event::Parted {
                    room: "#a".into(),
                    who: user("alice"),
                    reason: Some("bye now".into())
                }
            ),
            ":alice!alice@127.0.0.1 PART #a :bye now\r\n"
        );
        assert_eq!(
            render(
                &mut r,
                Event::Parted {
                    room: "#a".into(),
                    who: user("alice"),
                    reason: None
                }
            ),
            ":alice!alice@127.0.0.1 PART #a\r\n"
        );
        assert_eq!(
            render(
                &mut r,
                Event::Quit {
                    who: user("alice"),
                    reason: "Quit: gone".into()
                }
            ),
            ":alice!alice@127.0.0.1 QUIT :Quit: gone\r\n"
        );
        assert_eq!(
            render(
                &mut r,
                Event::NickChanged {
                    old: "alice".into(),
                    who: user("alice2")
                }
            ),
            ":alice!alice2@127.0.0.1 NICK :alice2\r\n"
        );
        let t = Topic {
            text: "news".into(),
            setter: "alice".into(),
            time: SystemTime::now(),
        };
        assert_eq!(
            render(
                &mut r,
                Event::TopicChanged {
                    room: "#a".into(),
                    topic: Some(t),
                    by: user("alice")
                }
            ),
            ":alice!alice@127.0.0.1 TOPIC #a :news\r\n"
        );
        assert_eq!(
            render(
                &mut r,
                Event::TopicChanged {
                    room: "#a".into(),
                    topic: None,
                    by: user("alice")
                }
            ),
            ":alice!alice@127.0.0.1 TOPIC #a :\r\n"
        );
    }

    fn tagged_msg(from: &str, text: &str, id: u64, at: SystemTime) -> Event {
        Event::Message {
            id,
            time: at,
            from: user(from),
            to: room("#a"),
            kind: MsgKind::Say,
            text: text.into(),
            tags: vec![("+draft/reply".into(), "7".into())],
        }
    }

    #[test]
    fn recipients_with_the_same_caps_share_one_encoding() {
        let at = UNIX_EPOCH + Duration::from_millis(1_795_000_000_123);
        let env = Envelope::new(tagged_msg("alice", "hi", 42, at));
        let mut plain = BytesMut::new();
        let mut timed = BytesMut::new();
        let mut both = BytesMut::new();
        registered("bob").render(&env, &mut plain);
        with_caps("carol", &[Cap::ServerTime]).render(&env, &mut timed);
        with_caps("dave", &[Cap::ServerTime, Cap::MessageTags]).render(&env, &mut both);
        assert_eq!(&plain[..], b":alice!alice@127.0.0.1 PRIVMSG #a :hi\r\n");
        assert_eq!(
            &timed[..],
            b"@time=2026-11-18T11:06:40.123Z :alice!alice@127.0.0.1 PRIVMSG #a :hi\r\n"
        );
        assert_eq!(
        &both[..],
        &b"@time=2026-11-18T11:06:40.123Z;msgid=42;+draft/reply=7 :alice!alice@127.0.0.1 PRIVMSG #a :hi\r\n"[..]
    );
        // Each variant sits in its own slot; a later recipient reuses it.
        for (s, want) in [
            (slot(false, false), &plain),
            (slot(true, false), &timed),
            (slot(true, true), &both),
        ] {
            let cached = env.rendered(s, |_| Bytes::from_static(b"not used"));
            assert_eq!(&cached[..], &want[..]);
        }
        let mut again = BytesMut::new();
        with_caps("erin", &[Cap::MessageTags, Cap::ServerTime]).render(&env, &mut again);
        assert_eq!(again, both);
    }

    #[test]
    fn tagmsg_needs_message_tags_and_echo_needs_echo_message() {
        let tag = Event::TagMsg {
            id: 3,
            time: SystemTime::now(),
            from: user("alice"),
            to: room("#a"),
            tags: vec![("+typing".into(), "active".into())],
        };
        assert_eq!(render(&mut registered("bob"), tag.clone()), "");
        let got = render(&mut with_caps("bob", &[Cap::MessageTags]), tag.clone());
        assert_eq!(
            got,
            "@msgid=3;+typing=active :alice!alice@127.0.0.1 TAGMSG #a\r\n"
        );
        // One's own: only with echo-message.
        assert_eq!(
            render(&mut with_caps("alice", &[Cap::MessageTags]), tag.clone()),
            ""
        );
        let mut echo = with_caps("alice", &[Cap::MessageTags, Cap::EchoMessage]);
        assert!(render(&mut echo, tag).contains(" TAGMSG #a"));
        let own = msg("alice", room("#a"), MsgKind::Say, "mine");
        assert_eq!(render(&mut with_caps("alice", &[]), own.clone()), "");
        assert_eq!(
            render(&mut with_caps("alice", &[Cap::EchoMessage]), own),
            ":alice!alice@127.0.0.1 PRIVMSG #a :mine\r\n"
        );
    }

    #[test]
    fn away_setname_and_invite_notices_need_their_caps() {
        let away = Event::AwayStatus {
            who: user("alice"),
            message: Some("lunch".into()),
        };
        let back = Event::AwayStatus {
            who: user("alice"),
            message: None,
        };
        let name = Event::RealnameChanged { who: user("alice") };
        let invite = Event::InviteNotice {
            room: "#a".into(),
            by: user("alice"),
            nick: "dave".into(),
        };
        for ev in [&away, &back, &name, &invite] {
            assert_eq!(render(&mut registered("bob"), ev.clone()), "");
        }
        let mut r = with_caps("bob", &[Cap::AwayNotify, Cap::Setname, Cap::InviteNotify]);
        assert_eq!(
            render(&mut r, away),
            ":alice!alice@127.0.0.1 AWAY :lunch\r\n"
        );
        assert_eq!(render(&mut r, back), ":alice!alice@127.0.0.1 AWAY\r\n");
        assert_eq!(
            render(&mut r, name),
            ":alice!alice@127.0.0.1 SETNAME :alice R\r\n"
        );
        assert_eq!(
            render(&mut r, invite),
            ":alice!alice@127.0.0.1 INVITE dave #a\r\n"
        );
    }

    #[test]
    fn account_tag_uses_its_own_slots_only_for_logged_in_senders() {
        let env = Envelope::new(Event::Message {
            id: 7,
            time: SystemTime::now(),
            from: logged_in("alice", "alice"),
            to: MsgTarget::Room("#a".into()),
            kind: MsgKind::Say,
            text: "hi".into(),
            tags: Vec::new(),
        });
        let mut tagged = BytesMut::new();
        with_caps("bob", &[Cap::AccountTag]).render(&env, &mut tagged);
        assert_eq!(
            &tagged[..],
            b"@account=alice :alice!alice@127.0.0.1 PRIVMSG #a :hi\r\n"
        );
        let mut plain = BytesMut::new();
        with_caps("carol", &[]).render(&env, &mut plain);
        assert_eq!(&plain[..], b":alice!alice@127.0.0.1 PRIVMSG #a :hi\r\n");
        let cached = env.rendered(message_slot(false, false, true), |_| Bytes::new());
        assert_eq!(cached, tagged.freeze());
        assert_eq!(
            message_slot(true, false, true),
            Slot::IrcAccount {
                time: true,
                tagged: false
            }
        );
        // A sender who is not logged in: the tag changes nothing, the plain slot is used.
        let anon = Envelope::new(msg(
            "dave",
            MsgTarget::Room("#a".into()),
            MsgKind::Say,
            "yo",
        ));
        let mut out = BytesMut::new();
        with_caps("bob", &[Cap::AccountTag]).render(&anon, &mut out);
        assert_eq!(&out[..], b":dave!dave@127.0.0.1 PRIVMSG #a :yo\r\n");
    }

    #[test]
    fn account_notify_extended_join_and_whois_show_the_account() {
        let ev = Event::AccountChanged {
            who: logged_in("alice", "alice"),
        };
        assert_eq!(
            render(&mut with_caps("bob", &[Cap::AccountNotify]), ev.clone()),
            ":alice!alice@127.0.0.1 ACCOUNT alice\r\n"
        );
        assert_eq!(render(&mut with_caps("bob", &[]), ev), "");
        let out = render(
            &mut with_caps("bob", &[Cap::AccountNotify]),
            Event::AccountChanged { who: user("alice") },
        );
        assert_eq!(out, ":alice!alice@127.0.0.1 ACCOUNT *\r\n");
        let join = Event::Joined {
            room: "#a".into(),
            who: logged_in("alice", "Alice"),
        };
        assert_eq!(
            render(&mut with_caps("bob", &[Cap::ExtendedJoin]), join),
            ":alice!alice@127.0.0.1 JOIN #a Alice :alice R\r\n"
        );
        let out = render(
            &mut registered("bob"),
            Event::WhoisReply {
                user: logged_in("alice", "alice"),
                rooms: Vec::new(),
                standing: Vec::new(),
                away: None,
                idle_secs: 0,
                signon: SystemTime::now(),
                oper: false,
                secure: true,
                certfp: Some("AB:CD".into()),
            },
        );
        assert!(
            out.contains(":chatroom 330 bob alice alice :is logged in as\r\n"),
            "{out}"
        );
        assert!(
            out.contains(":chatroom 276 bob alice :has client certificate fingerprint AB:CD\r\n"),
            "{out}"
        );
    }

    fn change(add: bool, mode: char, arg: Option<&str>) -> ModeChange {
        ModeChange {
            add,
            mode,
            arg: arg.map(Into::into),
        }
    }

    #[test]
    fn mode_lines_group_changes_and_stay_short() {
        let mut r = registered("bob");
        let flags: Vec<ModeChange> = "imnst".chars().map(|c| change(false, c, None)).collect();
        let out = render(
            &mut r,
            Event::ModeChanged {
                target: "#a".into(),
                by: user("alice"),
                changes: flags,
            },
        );
        assert_eq!(out, ":alice!alice@127.0.0.1 MODE #a -imnst\r\n");
        let mask = format!("{}!*@*", "x".repeat(120));
        let mut changes = vec![change(true, 'o', Some("carol")), change(true, 'm', None)];
        changes.extend((0..5).map(|_| change(true, 'b', Some(&mask))));
        changes.push(change(false, 'v', Some("dave")));
        let out = render(
            &mut r,
            Event::ModeChanged {
                target: "#a".into(),
                by: user("alice"),
                changes,
            },
        );
        let l = lines(&out);
        assert_eq!(l.len(), 3, "{out}");
        assert!(l[0].starts_with(":alice!alice@127.0.0.1 MODE #a +ombb carol "));
        assert!(
            l[1].starts_with(":alice!alice@127.0.0.1 MODE #a +bbb "),
            "{}",
            l[1]
        );
        assert_eq!(l[2], ":alice!alice@127.0.0.1 MODE #a -v dave");
        assert!(l.iter().all(|line| line.len() <= 510));
        for line in &l {
            let m = Message::parse(line).expect("parses");
            assert_eq!(m.command, "MODE");
        }
        // User modes.
        let out = render(
            &mut r,
            Event::ModeChanged {
                target: "bob".into(),
                by: user("bob"),
                changes: vec![change(true, 'i', None)],
            },
        );
        assert_eq!(out, ":bob!bob@127.0.0.1 MODE bob +i\r\n");
    }
}
