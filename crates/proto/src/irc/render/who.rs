//! Answers about people: NAMES (353/366), WHO and WHOX (352/354/315),
//! WHOIS (311–320, 330, 671, 276), WHOWAS (314/369), and the folding of
//! WHOIS answers into one USERHOST (302) or ISON (303) reply.
//!
//! Lines are split to stay under 512 bytes and fields are made into IRC
//! words. Must not decide who is shown (the hub does: invisible users,
//! rooms the asker may not see) nor keep state: the renderer holds what a
//! look-up has found so far and hands it in.

use bytes::BytesMut;

use chatroom_core::names::Name;
use chatroom_core::{Event, MemberInfo, UserInfo, WhowasEntry};

use super::numerics::Numerics;
use crate::irc::caps::{Cap, CapSet};
use crate::irc::numeric::*;
use crate::irc::wire::{MAX_LINE, host, source, unix, word};

/// One person found during a USERHOST/ISON look-up.
#[derive(Debug)]
pub(super) struct Found {
    nick: String,
    user: String,
    host: String,
    away: bool,
}

impl Found {
    pub fn of(user: &UserInfo, away: bool) -> Found {
        Found {
            nick: user.nick.to_string(),
            user: word(&user.user).into_owned(),
            host: host(&user.host).into_owned(),
            away,
        }
    }
}

/// The NAMES/WHO prefix of a member's highest standing in a room, or
/// with `all` (IRCv3 multi-prefix) of every standing, highest first.
pub(super) fn prefixes(m: &MemberInfo, all: bool) -> &'static str {
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

/// RPL_NAMREPLY lines for `room`, then RPL_ENDOFNAMES unless `end` is
/// false (inside a multi-room NAMES). `caps`: the client's, for
/// multi-prefix and userhost-in-names.
pub(super) fn names(
    to: &Numerics,
    room: &str,
    members: &[MemberInfo],
    secret: bool,
    caps: CapSet,
    end: bool,
    out: &mut BytesMut,
) {
    // RFC 2812 3.2.5 / Modern RPL_NAMREPLY: `@` secret, `*` private
    // (no +p here), `=` public.
    let symbol = if secret { "@" } else { "=" };
    let prefix_len = format!(":{} {RPL_NAMREPLY} {} = {room} :", to.server, to.me).len();
    let room_budget = MAX_LINE.saturating_sub(prefix_len).max(64);
    let mut chunk = String::new();
    let all = caps.has(Cap::MultiPrefix);
    let full = caps.has(Cap::UserhostInNames);
    for m in members {
        let entry = match full {
            true => format!("{}{}", prefixes(m, all), source(&m.user)),
            false => format!("{}{}", prefixes(m, all), m.user.nick),
        };
        if !chunk.is_empty() && chunk.len() + 1 + entry.len() > room_budget {
            to.numeric(out, RPL_NAMREPLY, &[symbol, room], Some(&chunk));
            chunk.clear();
        }
        if !chunk.is_empty() {
            chunk.push(' ');
        }
        chunk.push_str(&entry);
    }
    if !chunk.is_empty() {
        to.numeric(out, RPL_NAMREPLY, &[symbol, room], Some(&chunk));
    }
    if end {
        names_end(to, room, out);
    }
}

/// RPL_ENDOFNAMES naming what was asked.
pub(super) fn names_end(to: &Numerics, mask: &str, out: &mut BytesMut) {
    to.numeric(out, RPL_ENDOFNAMES, &[mask], Some("End of /NAMES list."));
}

/// The answer to `WHO mask`: RPL_WHOREPLY per member, or with `whox`
/// (fields, token) RPL_WHOSPCRPL; then RPL_ENDOFWHO. `all`: multi-prefix.
pub(super) fn who(
    to: &Numerics,
    mask: &str,
    members: &[MemberInfo],
    whox: Option<&(String, String)>,
    all: bool,
    out: &mut BytesMut,
) {
    let room = if mask.starts_with('#') { mask } else { "*" };
    for m in members {
        let mut flags = String::from(if m.away.is_some() { "G" } else { "H" });
        if m.oper {
            flags.push('*');
        }
        // A bot (IRCv3 bot-mode), before the room prefixes that clients
        // read off the end.
        if m.user.bot {
            flags.push('B');
        }
        if room != "*" {
            flags.push_str(prefixes(m, all));
        }
        if let Some((fields, token)) = whox {
            whox_line(to, out, fields, token, room, m, &flags);
            continue;
        }
        to.numeric(
            out,
            RPL_WHOREPLY,
            &[
                room,
                &word(&m.user.user),
                &host(&m.user.host),
                to.server,
                &m.user.nick,
                &flags,
            ],
            Some(&format!("0 {}", m.user.realname)),
        );
    }
    to.numeric(out, RPL_ENDOFWHO, &[mask], Some("End of /WHO list."));
}

/// One RPL_WHOSPCRPL: the requested fields in the fixed order the WHOX
/// specification gives (`tcuihsnfdlaor`), whatever order they were
/// asked in; unknown letters are ignored.
fn whox_line(
    to: &Numerics,
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
            's' => params.push(to.server.to_string()),
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
    to.numeric(out, RPL_WHOSPCRPL, &refs, realname.as_deref());
}

/// RPL_WHOIS* for an `Event::WhoisReply` (anything else is ignored).
/// `all`: multi-prefix.
pub(super) fn whois(to: &Numerics, ev: &Event, all: bool, out: &mut BytesMut) {
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
    let nick = &*user.nick;
    to.numeric(
        out,
        RPL_WHOISUSER,
        &[nick, &word(&user.user), &host(&user.host), "*"],
        Some(&user.realname),
    );
    if !rooms.is_empty() {
        whois_channels(to, nick, rooms, standing, all, out);
    }
    to.numeric(
        out,
        RPL_WHOISSERVER,
        &[nick, to.server],
        Some("chatroom server"),
    );
    if oper {
        to.numeric(out, RPL_WHOISOPERATOR, &[nick], Some("is an IRC operator"));
    }
    if user.bot {
        to.numeric(out, RPL_WHOISBOT, &[nick], Some("is a bot"));
    }
    if *secure {
        to.numeric(
            out,
            RPL_WHOISSECURE,
            &[nick],
            Some("is using a secure connection"),
        );
    }
    if let Some(fp) = certfp {
        to.numeric(
            out,
            RPL_WHOISCERTFP,
            &[nick],
            Some(&format!("has client certificate fingerprint {fp}")),
        );
    }
    if let Some(account) = &user.account {
        to.numeric(
            out,
            RPL_WHOISACCOUNT,
            &[nick, account],
            Some("is logged in as"),
        );
    }
    if let Some(a) = away {
        to.numeric(out, RPL_AWAY, &[nick], Some(a));
    }
    let idle = idle_secs.to_string();
    let signon = unix(signon).to_string();
    to.numeric(
        out,
        RPL_WHOISIDLE,
        &[nick, &idle, &signon],
        Some("seconds idle, signon time"),
    );
    whois_end(to, nick, out);
}

/// RPL_WHOISCHANNELS, over as many lines as the rooms need.
fn whois_channels(
    to: &Numerics,
    nick: &str,
    rooms: &[Name],
    standing: &[(bool, bool)],
    all: bool,
    out: &mut BytesMut,
) {
    let prefix_len = format!(":{} {RPL_WHOISCHANNELS} {} {nick} :", to.server, to.me).len();
    let budget = MAX_LINE.saturating_sub(prefix_len).max(64);
    let mut chunk = String::new();
    for (i, r) in rooms.iter().enumerate() {
        let (op, voice) = standing.get(i).copied().unwrap_or_default();
        let p = prefix_of(op, voice, all);
        if !chunk.is_empty() && chunk.len() + 1 + p.len() + r.len() > budget {
            to.numeric(out, RPL_WHOISCHANNELS, &[nick], Some(&chunk));
            chunk.clear();
        }
        if !chunk.is_empty() {
            chunk.push(' ');
        }
        chunk.push_str(p);
        chunk.push_str(r);
    }
    to.numeric(out, RPL_WHOISCHANNELS, &[nick], Some(&chunk));
}

/// RPL_ENDOFWHOIS.
pub(super) fn whois_end(to: &Numerics, nick: &str, out: &mut BytesMut) {
    to.numeric(out, RPL_ENDOFWHOIS, &[nick], Some("End of /WHOIS list."));
}

/// The answer to `WHOWAS nick`: 314 and 312 per entry (406 for none), 369.
pub(super) fn whowas(to: &Numerics, nick: &str, entries: &[WhowasEntry], out: &mut BytesMut) {
    if entries.is_empty() {
        to.numeric(
            out,
            ERR_WASNOSUCHNICK,
            &[nick],
            Some("There was no such nickname"),
        );
    }
    for e in entries {
        let u = &e.user;
        to.numeric(
            out,
            RPL_WHOWASUSER,
            &[&u.nick, &word(&u.user), &host(&u.host), "*"],
            Some(&u.realname),
        );
        let when = chrono::DateTime::<chrono::Utc>::from(e.left)
            .format("%a %b %e %H:%M:%S %Y UTC")
            .to_string();
        to.numeric(out, RPL_WHOISSERVER, &[&u.nick, to.server], Some(&when));
    }
    to.numeric(out, RPL_ENDOFWHOWAS, &[nick], Some("End of WHOWAS"));
}

/// One RPL_USERHOST for everyone a look-up found (`-` for away).
pub(super) fn userhost(to: &Numerics, found: &[Found], out: &mut BytesMut) {
    let list: Vec<String> = found
        .iter()
        .map(|f| {
            let flag = if f.away { '-' } else { '+' };
            format!("{}={flag}{}@{}", f.nick, f.user, f.host)
        })
        .collect();
    to.numeric(out, RPL_USERHOST, &[], Some(&list.join(" ")));
}

/// One RPL_ISON naming everyone a look-up found.
pub(super) fn ison(to: &Numerics, found: &[Found], out: &mut BytesMut) {
    let list: Vec<&str> = found.iter().map(|f| f.nick.as_str()).collect();
    to.numeric(out, RPL_ISON, &[], Some(&list.join(" ")));
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use chatroom_core::names::Name;
    use chatroom_core::{Event, HubError, MemberInfo, MsgKind, RoomInfo, UserInfo};

    use crate::irc::caps::Cap;
    use crate::irc::message::Message;
    use crate::irc::render::Local;
    use crate::irc::render::test_support::*;

    #[test]
    fn a_bot_is_b_in_who_and_335_in_whois() {
        let bot = std::sync::Arc::new(chatroom_core::UserInfo {
            bot: true,
            ..(*user("beep")).clone()
        });
        let mut r = registered("bob");
        let out = render(
            &mut r,
            Event::WhoReply {
                mask: "#lobby".into(),
                members: vec![MemberInfo {
                    user: bot.clone(),
                    ..member("beep", true, None)
                }],
            },
        );
        assert!(
            out.contains(" 352 bob #lobby beep 127.0.0.1 chatroom beep HB@ :0 "),
            "{out}"
        );
        let out = render(
            &mut r,
            Event::WhoisReply {
                user: bot,
                rooms: vec![],
                standing: vec![],
                away: None,
                idle_secs: 0,
                signon: SystemTime::now(),
                oper: false,
                secure: false,
                certfp: None,
            },
        );
        assert!(
            out.contains(":chatroom 335 bob beep :is a bot\r\n"),
            "{out}"
        );
        let out = render(
            &mut r,
            Event::WhoReply {
                mask: "beep".into(),
                members: vec![member("beep", false, None)],
            },
        );
        assert!(out.contains(" beep H :0 "), "not a bot: {out}");
    }

    #[test]
    fn names_split_under_512() {
        let mut r = registered("bob");
        let out = render(
            &mut r,
            Event::Names {
                room: "#a".into(),
                members: vec![member("alice", true, None), member("bob", false, None)],
                secret: false,
                read_marker: None,
            },
        );
        assert_eq!(
            out,
            ":chatroom 353 bob = #a :@alice bob\r\n:chatroom 366 bob #a :End of /NAMES list.\r\n"
        );
        let many: Vec<MemberInfo> = (0..200)
            .map(|i| member(&format!("user{i:03}_long_nickname"), i == 0, None))
            .collect();
        let out = render(
            &mut r,
            Event::Names {
                room: "#a".into(),
                members: many,
                secret: false,
                read_marker: None,
            },
        );
        let l = lines(&out);
        assert!(l.len() > 3);
        let mut seen = 0;
        for line in &l[..l.len() - 1] {
            assert!(line.len() <= 510);
            assert!(line.starts_with(":chatroom 353 bob = #a :"));
            seen += line
                .rsplit(" :")
                .next()
                .map(|n| n.split(' ').count())
                .unwrap_or(0);
        }
        assert_eq!(seen, 200);
        assert!(l[0].contains(":@user000_long_nickname "));
    }

    #[test]
    fn list_who_whois() {
        let mut r = registered("bob");
        let out = render(
            &mut r,
            Event::RoomList {
                rooms: vec![RoomInfo {
                    name: "#a".into(),
                    members: 2,
                    topic: Some("t".into()),
                }],
            },
        );
        assert_eq!(
            lines(&out),
            vec![
                ":chatroom 321 bob Channel :Users  Name",
                ":chatroom 322 bob #a 2 :t",
                ":chatroom 323 bob :End of /LIST",
            ]
        );
        let out = render(
            &mut r,
            Event::WhoReply {
                mask: "#a".into(),
                members: vec![
                    member("alice", true, None),
                    member("carol", false, Some("out")),
                ],
            },
        );
        assert_eq!(
            lines(&out),
            vec![
                ":chatroom 352 bob #a alice 127.0.0.1 chatroom alice H@ :0 alice R",
                ":chatroom 352 bob #a carol 127.0.0.1 chatroom carol G :0 carol R",
                ":chatroom 315 bob #a :End of /WHO list.",
            ]
        );
        let out = render(
            &mut r,
            Event::WhoReply {
                mask: "alice".into(),
                members: vec![member("alice", false, None)],
            },
        );
        assert!(
            out.starts_with(":chatroom 352 bob * alice 127.0.0.1 chatroom alice H :0 alice R\r\n")
        );
        let signon = UNIX_EPOCH + Duration::from_secs(1_600_000_000);
        let rooms: Vec<Name> = vec!["#a".into(), "#b".into()];
        let out = render(
            &mut r,
            Event::WhoisReply {
                user: user("alice"),
                rooms,
                standing: vec![(true, true), (false, false)],
                away: Some("lunch".into()),
                idle_secs: 5,
                signon,
                oper: true,
                secure: true,
                certfp: None,
            },
        );
        assert_eq!(
            lines(&out),
            vec![
                ":chatroom 311 bob alice alice 127.0.0.1 * :alice R",
                ":chatroom 319 bob alice :@#a #b",
                ":chatroom 312 bob alice chatroom :chatroom server",
                ":chatroom 313 bob alice :is an IRC operator",
                ":chatroom 671 bob alice :is using a secure connection",
                ":chatroom 301 bob alice :lunch",
                ":chatroom 317 bob alice 5 1600000000 :seconds idle, signon time",
                ":chatroom 318 bob alice :End of /WHOIS list.",
            ]
        );
    }

    #[test]
    fn whox_replies_use_the_requested_fields_once() {
        let mut r = registered("bob");
        render(
            &mut r,
            Local::Whox {
                fields: "rnt".into(),
                token: "7".into(),
            }
            .body(),
        );
        let who = || Event::WhoReply {
            mask: "#a".into(),
            members: vec![MemberInfo {
                user: user("alice"),
                op: true,
                voice: false,
                oper: true,
                away: Some("afk".into()),
            }],
        };
        let out = render(&mut r, who());
        assert_eq!(
            lines(&out),
            vec![
                ":chatroom 354 bob 7 alice :alice R",
                ":chatroom 315 bob #a :End of /WHO list."
            ]
        );
        // The next WHO is a plain one again.
        let out = render(&mut r, who());
        assert!(
            out.starts_with(
                ":chatroom 352 bob #a alice 127.0.0.1 chatroom alice G*@ :0 alice R\r\n"
            )
        );
    }

    #[test]
    fn names_with_multi_prefix_and_userhost_and_extended_join() {
        let mut both = MemberInfo {
            user: user("alice"),
            op: true,
            voice: true,
            oper: false,
            away: None,
        };
        let names = |caps: &[Cap], m: &MemberInfo| {
            render(
                &mut with_caps("bob", caps),
                Event::Names {
                    room: "#a".into(),
                    members: vec![m.clone()],
                    secret: false,
                    read_marker: None,
                },
            )
        };
        assert!(names(&[], &both).contains(" :@alice\r\n"));
        assert!(names(&[Cap::MultiPrefix], &both).contains(" :@+alice\r\n"));
        assert!(
            names(&[Cap::MultiPrefix, Cap::UserhostInNames], &both)
                .contains(" :@+alice!alice@127.0.0.1\r\n")
        );
        both.op = false;
        assert!(names(&[Cap::MultiPrefix], &both).contains(" :+alice\r\n"));
        let join = Event::Joined {
            room: "#a".into(),
            who: user("alice"),
        };
        assert_eq!(
            render(&mut with_caps("bob", &[Cap::ExtendedJoin]), join.clone()),
            ":alice!alice@127.0.0.1 JOIN #a * :alice R\r\n"
        );
        assert_eq!(
            render(&mut registered("bob"), join),
            ":alice!alice@127.0.0.1 JOIN #a\r\n"
        );
    }

    #[test]
    fn userhost_and_ison_fold_whois_replies() {
        let mut r = registered("bob");
        let whois = |nick: &str, away: Option<&str>| Event::WhoisReply {
            user: user(nick),
            rooms: vec![],
            standing: vec![],
            away: away.map(Into::into),
            idle_secs: 0,
            signon: SystemTime::now(),
            oper: false,
            secure: false,
            certfp: None,
        };
        assert_eq!(render(&mut r, Local::QuietBegin.body()), "");
        assert_eq!(render(&mut r, whois("alice", None)), "");
        assert_eq!(
            render(&mut r, Event::Error(HubError::NoSuchNick("zed".into()))),
            ""
        );
        assert_eq!(render(&mut r, whois("carol", Some("afk"))), "");
        // Other traffic still flows during the look-up.
        assert!(!render(&mut r, msg("alice", room("#a"), MsgKind::Say, "hi")).is_empty());
        assert_eq!(
            render(&mut r, Local::UserhostEnd.body()),
            ":chatroom 302 bob :alice=+alice@127.0.0.1 carol=-carol@127.0.0.1\r\n"
        );
        render(&mut r, Local::QuietBegin.body());
        render(&mut r, whois("alice", None));
        assert_eq!(
            render(&mut r, Local::IsonEnd.body()),
            ":chatroom 303 bob :alice\r\n"
        );
        // Outside a look-up, 401 is shown again.
        assert!(render(&mut r, Event::Error(HubError::NoSuchNick("zed".into()))).contains(" 401 "));
    }

    #[test]
    fn whois_end_follows_only_a_missing_nickname() {
        let mut r = registered("bob");
        let got = render(&mut r, Event::Error(HubError::NoSuchNick("zed".into())));
        assert!(got.contains(" 401 bob zed "));
        let got = render(&mut r, Local::WhoisEnd("ZED".into()).body());
        assert_eq!(got, ":chatroom 318 bob ZED :End of /WHOIS list.\r\n");
        // Once only, and never after a found nickname.
        assert_eq!(render(&mut r, Local::WhoisEnd("zed".into()).body()), "");
    }

    #[test]
    fn unsafe_fields_stay_one_word() {
        let mut r = registered("bob");
        let odd = Arc::new(UserInfo {
            nick: "odd".into(),
            user: "two words".into(),
            realname: "Real Name".into(),
            host: "::1".into(),
            account: None,
            bot: false,
        });
        let out = render(
            &mut r,
            Event::Joined {
                room: "#a".into(),
                who: odd.clone(),
            },
        );
        assert_eq!(out, ":odd!two_words@0::1 JOIN #a\r\n");
        let out = render(
            &mut r,
            Event::WhoReply {
                mask: "odd".into(),
                members: vec![MemberInfo {
                    user: odd,
                    op: false,
                    voice: false,
                    oper: false,
                    away: None,
                }],
            },
        );
        let first = lines(&out)[0];
        let parsed = Message::parse(first).expect("parses");
        assert_eq!(parsed.params.len(), 8, "{first}");
        assert_eq!(parsed.params[3], "0::1");
    }
}
