//! The hub's answers about rooms, modes, away and MONITOR as numerics:
//! TOPIC (331–333), LIST (321–323), a room's modes (324/329) and mask
//! lists (367/368, 348/349, 346/347), away (305/306), MONITOR (730–734).
//!
//! One event in, its numerics out. Must not decide anything the hub
//! answered nor keep state.

use std::time::SystemTime;

use bytes::BytesMut;

use chatroom_core::names::Name;
use chatroom_core::{Event, ListEntry, RoomInfo, Topic};

use super::numerics::Numerics;
use crate::irc::numeric::*;
use crate::irc::wire::{source, unix};

/// `MARKREAD <target> timestamp=...` (or `*`: no marker yet), IRCv3
/// read-marker's server command.
pub(super) fn markread(to: &Numerics, target: &str, at: Option<SystemTime>, out: &mut BytesMut) {
    let at = match at {
        Some(t) => format!("timestamp={}", crate::irc::tags::server_time(t)),
        None => "*".to_string(),
    };
    crate::irc::wire::write_line(out, Some(to.server), "MARKREAD", &[target, &at], None);
}

/// RPL_TOPIC and RPL_TOPICWHOTIME, or RPL_NOTOPIC.
pub(super) fn topic_is(to: &Numerics, room: &str, topic: Option<&Topic>, out: &mut BytesMut) {
    match topic {
        Some(t) => {
            to.numeric(out, RPL_TOPIC, &[room], Some(&t.text));
            let time = unix(t.time).to_string();
            to.numeric(out, RPL_TOPICWHOTIME, &[room, &t.setter, &time], None);
        }
        None => to.numeric(out, RPL_NOTOPIC, &[room], Some("No topic is set")),
    }
}

/// The answer to LIST.
pub(super) fn room_list(to: &Numerics, rooms: &[RoomInfo], out: &mut BytesMut) {
    to.numeric(out, RPL_LISTSTART, &["Channel"], Some("Users  Name"));
    for r in rooms {
        let n = r.members.to_string();
        to.numeric(
            out,
            RPL_LIST,
            &[&r.name, &n],
            Some(r.topic.as_deref().unwrap_or("")),
        );
    }
    to.numeric(out, RPL_LISTEND, &[], Some("End of /LIST"));
}

/// RPL_CHANNELMODEIS and RPL_CREATIONTIME.
pub(super) fn room_modes(
    to: &Numerics,
    room: &str,
    modes: &str,
    args: &[Name],
    created: SystemTime,
    out: &mut BytesMut,
) {
    let mut params: Vec<&str> = vec![room, modes];
    params.extend(args.iter().map(|a| &**a));
    to.numeric(out, RPL_CHANNELMODEIS, &params, None);
    let t = unix(created).to_string();
    to.numeric(out, RPL_CREATIONTIME, &[room, &t], None);
}

/// One of a room's mask lists (`b`, `e` or `I`) and its end.
pub(super) fn mode_list(
    to: &Numerics,
    room: &str,
    mode: char,
    entries: &[ListEntry],
    out: &mut BytesMut,
) {
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
        to.numeric(out, item, &[room, &e.mask, &e.setter, &t], None);
    }
    to.numeric(out, end, &[room], Some(what));
}

/// RPL_NOWAWAY or RPL_UNAWAY.
pub(super) fn away_changed(to: &Numerics, away: bool, out: &mut BytesMut) {
    if away {
        to.numeric(
            out,
            RPL_NOWAWAY,
            &[],
            Some("You have been marked as being away"),
        );
    } else {
        to.numeric(
            out,
            RPL_UNAWAY,
            &[],
            Some("You are no longer marked as being away"),
        );
    }
}

/// MONITOR's answers (`MonOnline`, `MonOffline`, `MonList`,
/// `MonListFull`); other events write nothing.
pub(super) fn monitor(to: &Numerics, ev: &Event, out: &mut BytesMut) {
    match ev {
        Event::MonOnline(who) => {
            let items: Vec<String> = who.iter().map(|u| source(u)).collect();
            to.comma_lists(out, RPL_MONONLINE, &items);
        }
        Event::MonOffline(nicks) => {
            let items: Vec<String> = nicks.iter().map(|n| n.to_string()).collect();
            to.comma_lists(out, RPL_MONOFFLINE, &items);
        }
        Event::MonList(nicks) => {
            let items: Vec<String> = nicks.iter().map(|n| n.to_string()).collect();
            to.comma_lists(out, RPL_MONLIST, &items);
            to.numeric(out, RPL_ENDOFMONLIST, &[], Some("End of MONITOR list"));
        }
        Event::MonListFull { limit, nicks } => {
            let limit = limit.to_string();
            let nicks = nicks.join(",");
            to.numeric(
                out,
                ERR_MONLISTFULL,
                &[&limit, &nicks],
                Some("Monitor list is full"),
            );
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use chatroom_core::{Event, ListEntry, Topic};

    use crate::irc::render::test_support::*;

    #[test]
    fn topic_is() {
        let mut r = registered("bob");
        let time = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let out = render(
            &mut r,
            Event::TopicIs {
                room: "#a".into(),
                topic: Some(Topic {
                    text: "the topic".into(),
                    setter: "alice".into(),
                    time,
                }),
            },
        );
        assert_eq!(
            out,
            ":chatroom 332 bob #a :the topic\r\n:chatroom 333 bob #a alice 1700000000\r\n"
        );
        assert_eq!(
            render(
                &mut r,
                Event::TopicIs {
                    room: "#a".into(),
                    topic: None
                }
            ),
            ":chatroom 331 bob #a :No topic is set\r\n"
        );
    }

    #[test]
    fn room_modes_lists_kick_invite_oper_whowas() {
        let mut r = registered("bob");
        let t = UNIX_EPOCH + Duration::from_secs(1_600_000_000);
        assert_eq!(
            render(
                &mut r,
                Event::RoomModes {
                    room: "#a".into(),
                    modes: "+ntkl".into(),
                    args: vec!["key".into(), "5".into()],
                    created: t,
                }
            ),
            ":chatroom 324 bob #a +ntkl key 5\r\n:chatroom 329 bob #a 1600000000\r\n"
        );
        let entry = ListEntry {
            mask: "x!*@*".into(),
            setter: "alice".into(),
            time: t,
        };
        for (mode, item, end) in [
            ('b', "367", "368"),
            ('e', "348", "349"),
            ('I', "346", "347"),
        ] {
            let out = render(
                &mut r,
                Event::ModeList {
                    room: "#a".into(),
                    mode,
                    entries: vec![entry.clone()],
                },
            );
            let l = lines(&out);
            assert_eq!(
                l[0],
                format!(":chatroom {item} bob #a x!*@* alice 1600000000")
            );
            assert!(l[1].starts_with(&format!(":chatroom {end} bob #a :End of channel ")));
        }
        assert_eq!(
            render(
                &mut r,
                Event::Kicked {
                    room: "#a".into(),
                    by: user("alice"),
                    nick: "carol".into(),
                    reason: "bye now".into(),
                }
            ),
            ":alice!alice@127.0.0.1 KICK #a carol :bye now\r\n"
        );
        // The invitee sees INVITE, the inviter 341.
        assert_eq!(
            render(
                &mut r,
                Event::Invited {
                    room: "#a".into(),
                    by: user("alice"),
                    nick: "bob".into(),
                }
            ),
            ":alice!alice@127.0.0.1 INVITE bob #a\r\n"
        );
        assert_eq!(
            render(
                &mut r,
                Event::Invited {
                    room: "#a".into(),
                    by: user("bob"),
                    nick: "carol".into(),
                }
            ),
            ":chatroom 341 bob carol #a\r\n"
        );
        assert_eq!(
            render(&mut r, Event::YoureOper),
            ":chatroom 381 bob :You are now an IRC operator\r\n"
        );
        assert_eq!(
            render(
                &mut r,
                Event::UserModes {
                    modes: "+io".into()
                }
            ),
            ":chatroom 221 bob +io\r\n"
        );
        let out = render(
            &mut r,
            Event::WhowasReply {
                nick: "ghost".into(),
                entries: vec![],
            },
        );
        assert_eq!(
            lines(&out),
            vec![
                ":chatroom 406 bob ghost :There was no such nickname",
                ":chatroom 369 bob ghost :End of WHOWAS"
            ]
        );
        let out = render(
            &mut r,
            Event::WhowasReply {
                nick: "ghost".into(),
                entries: vec![chatroom_core::WhowasEntry {
                    user: user("ghost"),
                    left: t,
                }],
            },
        );
        let l = lines(&out);
        assert_eq!(l[0], ":chatroom 314 bob ghost ghost 127.0.0.1 * :ghost R");
        assert!(l[1].starts_with(":chatroom 312 bob ghost chatroom :"));
        assert_eq!(l[2], ":chatroom 369 bob ghost :End of WHOWAS");
    }
}
