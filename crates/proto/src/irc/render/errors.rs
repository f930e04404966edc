//! The hub's refusals ([`HubError`]) as IRC numerics, or as the IRCv3
//! standard replies their specifications call for (`FAIL CHGHOST`,
//! `FAIL SETNAME`, `FAIL REDACT`).
//!
//! One line per refusal, worded for the client. Must not decide whether a
//! refusal is shown (the renderer folds ERR_NOSUCHNICK into USERHOST/ISON
//! before asking here) nor refuse anything itself.

use bytes::BytesMut;

use chatroom_core::{HubError, RedactRefusal};

use super::numerics::Numerics;
use crate::irc::numeric::*;

/// Writes the numeric (or standard reply) for `e`.
pub(super) fn error(to: &Numerics, e: &HubError, out: &mut BytesMut) {
    let text = e.to_string();
    match e {
        HubError::NotRegistered => {
            to.numeric(out, ERR_NOTREGISTERED, &[], Some("You have not registered"))
        }
        HubError::AlreadyRegistered => to.numeric(
            out,
            ERR_ALREADYREGISTERED,
            &[],
            Some("You may not reregister"),
        ),
        HubError::NickInUse(nick) => to.numeric(
            out,
            ERR_NICKNAMEINUSE,
            &[nick],
            Some("Nickname is already in use"),
        ),
        HubError::ErroneousNick { nick, reason } => to.numeric(
            out,
            ERR_ERRONEUSNICKNAME,
            &[nick],
            Some(&format!("Erroneous nickname: {reason}")),
        ),
        // A name that is no room name at all is an unknown channel
        // (RFC 2812 answers 403); one that looks like a room name but
        // breaks the rules is a bad channel mask.
        HubError::BadRoomName { name, reason } => to.numeric(
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
            to.numeric(out, ERR_NOSUCHNICK, &[nick], Some("No such nick/channel"))
        }
        HubError::NoSuchRoom(room) => {
            to.numeric(out, ERR_NOSUCHCHANNEL, &[room], Some("No such channel"))
        }
        HubError::NotInRoom(room) => to.numeric(
            out,
            ERR_NOTONCHANNEL,
            &[room],
            Some("You're not on that channel"),
        ),
        // IRC always names a room, so this only follows a bug elsewhere.
        HubError::NoFocus => to.numeric(out, ERR_NOSUCHCHANNEL, &["*"], Some(&text)),
        HubError::CannotSendToRoom(room) => to.numeric(
            out,
            ERR_CANNOTSENDTOCHAN,
            &[room],
            Some("Cannot send to channel (join it first)"),
        ),
        HubError::NoText => to.numeric(out, ERR_NOTEXTTOSEND, &[], Some("No text to send")),
        // The hub's error does not say which room was refused.
        HubError::TooManyRooms(_) => to.numeric(out, ERR_TOOMANYCHANNELS, &["*"], Some(&text)),
        HubError::CannotSend { room, reason } => to.numeric(
            out,
            ERR_CANNOTSENDTOCHAN,
            &[room],
            Some(&format!("Cannot send to channel: {reason}")),
        ),
        HubError::ChanOpPrivsNeeded(room) => to.numeric(
            out,
            ERR_CHANOPRIVSNEEDED,
            &[room],
            Some("You're not channel operator"),
        ),
        HubError::UserNotInRoom { nick, room } => to.numeric(
            out,
            ERR_USERNOTINCHANNEL,
            &[nick, room],
            Some("They aren't on that channel"),
        ),
        HubError::UserOnChannel { nick, room } => to.numeric(
            out,
            ERR_USERONCHANNEL,
            &[nick, room],
            Some("is already on channel"),
        ),
        HubError::KeySet(room) => {
            to.numeric(out, ERR_KEYSET, &[room], Some("Channel key already set"))
        }
        HubError::ChannelIsFull(room) => to.numeric(
            out,
            ERR_CHANNELISFULL,
            &[room],
            Some("Cannot join channel (+l)"),
        ),
        HubError::UnknownMode { mode } => to.numeric(
            out,
            ERR_UNKNOWNMODE,
            &[&mode.to_string()],
            Some("is unknown mode char to me"),
        ),
        HubError::InviteOnly(room) => to.numeric(
            out,
            ERR_INVITEONLYCHAN,
            &[room],
            Some("Cannot join channel (+i)"),
        ),
        HubError::Banned(room) => to.numeric(
            out,
            ERR_BANNEDFROMCHAN,
            &[room],
            Some("Cannot join channel (+b)"),
        ),
        HubError::BadKey(room) => to.numeric(
            out,
            ERR_BADCHANNELKEY,
            &[room],
            Some("Cannot join channel (+k)"),
        ),
        HubError::ListFull { room, mode } => to.numeric(
            out,
            ERR_BANLISTFULL,
            &[room, &mode.to_string()],
            Some("Channel list is full"),
        ),
        HubError::NoPrivileges => to.numeric(
            out,
            ERR_NOPRIVILEGES,
            &[],
            Some("Permission Denied- You're not an IRC operator"),
        ),
        HubError::PasswordMismatch => {
            to.numeric(out, ERR_PASSWDMISMATCH, &[], Some("Password incorrect"))
        }
        HubError::NoOperHost => {
            to.numeric(out, ERR_NOOPERHOST, &[], Some("No O-lines for your host"))
        }
        HubError::UnknownUserMode { .. } => {
            to.numeric(out, ERR_UMODEUNKNOWNFLAG, &[], Some("Unknown MODE flag"))
        }
        HubError::UsersDontMatch => to.numeric(
            out,
            ERR_USERSDONTMATCH,
            &[],
            Some("Can't change mode for other users"),
        ),
        HubError::InvalidHost(host) => to.standard(
            out,
            "FAIL",
            "CHGHOST",
            "INVALID_HOST",
            &[host],
            "Hosts are 1 to 63 letters, digits and .-:/_",
        ),
        HubError::Redact { why, target, msgid } => {
            let (code, window) = match why {
                RedactRefusal::InvalidTarget => ("INVALID_TARGET", None),
                RedactRefusal::Forbidden => ("REDACT_FORBIDDEN", None),
                RedactRefusal::WindowExpired(secs) => ("REDACT_WINDOW_EXPIRED", Some(secs)),
                RedactRefusal::UnknownMsgid => ("UNKNOWN_MSGID", None),
            };
            let window = window.map(u64::to_string);
            let mut context: Vec<&str> = vec![target];
            if *why != RedactRefusal::InvalidTarget {
                context.push(msgid);
            }
            context.extend(window.as_deref());
            let text = match why {
                RedactRefusal::InvalidTarget => format!("You cannot delete messages from {target}"),
                RedactRefusal::Forbidden => "You are not authorised to delete this message".into(),
                RedactRefusal::WindowExpired(_) => "You can no longer delete this message".into(),
                RedactRefusal::UnknownMsgid => "This message does not exist or is too old".into(),
            };
            to.standard(out, "FAIL", "REDACT", code, &context, &text)
        }
        HubError::InvalidRealname => to.standard(
            out,
            "FAIL",
            "SETNAME",
            "INVALID_REALNAME",
            &[],
            &format!("Realname is not valid: {text}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use chatroom_core::names::Name;
    use chatroom_core::{Event, HubError};

    use crate::irc::caps::Cap;
    use crate::irc::render::Local;
    use crate::irc::render::test_support::*;

    #[test]
    fn redaction_refusals_are_the_specs_fail_replies() {
        use chatroom_core::RedactRefusal;
        let mut r = registered("bob");
        let fail = |why| {
            Event::Error(HubError::Redact {
                why,
                target: "#lobby".into(),
                msgid: "42".into(),
            })
        };
        for (why, want) in [
            (
                RedactRefusal::InvalidTarget,
                ":chatroom FAIL REDACT INVALID_TARGET #lobby :You cannot delete messages from #lobby\r\n",
            ),
            (
                RedactRefusal::Forbidden,
                ":chatroom FAIL REDACT REDACT_FORBIDDEN #lobby 42 :You are not authorised to delete this message\r\n",
            ),
            (
                RedactRefusal::WindowExpired(900),
                ":chatroom FAIL REDACT REDACT_WINDOW_EXPIRED #lobby 42 900 :You can no longer delete this message\r\n",
            ),
            (
                RedactRefusal::UnknownMsgid,
                ":chatroom FAIL REDACT UNKNOWN_MSGID #lobby 42 :This message does not exist or is too old\r\n",
            ),
        ] {
            assert_eq!(render(&mut r, fail(why)), want);
        }
    }

    #[test]
    fn errors_map_to_numerics() {
        let mut r = renderer();
        // Before registration the target is `*`.
        assert_eq!(
            render(&mut r, Event::Error(HubError::NickInUse("bob".into()))),
            ":chatroom 433 * bob :Nickname is already in use\r\n"
        );
        let mut r = registered("bob");
        let cases: Vec<(HubError, &str)> = vec![
            (HubError::NotRegistered, ":chatroom 451 bob :"),
            (HubError::AlreadyRegistered, ":chatroom 462 bob :"),
            (HubError::NickInUse("x".into()), ":chatroom 433 bob x :"),
            (
                HubError::ErroneousNick {
                    nick: "1x".into(),
                    reason: "r",
                },
                ":chatroom 432 bob 1x :",
            ),
            (
                HubError::BadRoomName {
                    name: "x".into(),
                    reason: "r",
                },
                ":chatroom 403 bob x :",
            ),
            (HubError::NoSuchNick("z".into()), ":chatroom 401 bob z :"),
            (HubError::NoSuchRoom("#z".into()), ":chatroom 403 bob #z :"),
            (HubError::NotInRoom("#z".into()), ":chatroom 442 bob #z :"),
            (HubError::NoFocus, ":chatroom 403 bob * :"),
            (
                HubError::CannotSendToRoom("#z".into()),
                ":chatroom 404 bob #z :",
            ),
            (HubError::NoText, ":chatroom 412 bob :"),
            (HubError::TooManyRooms(50), ":chatroom 405 bob * :"),
        ];
        for (e, want) in cases {
            let out = render(&mut r, Event::Error(e.clone()));
            assert!(out.starts_with(want), "{e:?}: {out}");
            assert_eq!(lines(&out).len(), 1);
        }
    }

    #[test]
    fn refusals_map_to_their_numerics() {
        let mut r = registered("bob");
        let room = || -> Name { "#a".into() };
        let cases: Vec<(HubError, &str)> = vec![
            (
                HubError::CannotSend {
                    room: room(),
                    reason: "x",
                },
                ":chatroom 404 bob #a :",
            ),
            (
                HubError::ChanOpPrivsNeeded(room()),
                ":chatroom 482 bob #a :",
            ),
            (
                HubError::UserNotInRoom {
                    nick: "c".into(),
                    room: room(),
                },
                ":chatroom 441 bob c #a :",
            ),
            (
                HubError::UserOnChannel {
                    nick: "c".into(),
                    room: room(),
                },
                ":chatroom 443 bob c #a :",
            ),
            (HubError::KeySet(room()), ":chatroom 467 bob #a :"),
            (HubError::ChannelIsFull(room()), ":chatroom 471 bob #a :"),
            (HubError::UnknownMode { mode: 'z' }, ":chatroom 472 bob z :"),
            (HubError::InviteOnly(room()), ":chatroom 473 bob #a :"),
            (HubError::Banned(room()), ":chatroom 474 bob #a :"),
            (HubError::BadKey(room()), ":chatroom 475 bob #a :"),
            (
                HubError::BadRoomName {
                    name: "#a\u{7}".into(),
                    reason: "x",
                },
                ":chatroom 476 bob #a\u{7} :",
            ),
            (
                HubError::ListFull {
                    room: room(),
                    mode: 'b',
                },
                ":chatroom 478 bob #a b :",
            ),
            (HubError::NoPrivileges, ":chatroom 481 bob :"),
            (HubError::PasswordMismatch, ":chatroom 464 bob :"),
            (HubError::NoOperHost, ":chatroom 491 bob :"),
            (
                HubError::UnknownUserMode { mode: 'q' },
                ":chatroom 501 bob :",
            ),
            (HubError::UsersDontMatch, ":chatroom 502 bob :"),
        ];
        for (e, want) in cases {
            let out = render(&mut r, Event::Error(e.clone()));
            assert!(out.starts_with(want), "{e:?}: {out}");
        }
    }

    #[test]
    fn standard_replies_their_specs_require_need_no_capability() {
        let fail = Event::Error(HubError::InvalidRealname);
        let with = render(&mut with_caps("bob", &[Cap::StandardReplies]), fail.clone());
        assert!(
            with.starts_with(":chatroom FAIL SETNAME INVALID_REALNAME :Realname is not valid"),
            "{with}"
        );
        assert_eq!(render(&mut registered("bob"), fail), with);
        let utf8 = Local::fail("PRIVMSG", "INVALID_UTF8", &[], "bad bytes").body();
        assert_eq!(
            render(&mut with_caps("bob", &[Cap::StandardReplies]), utf8),
            ":chatroom FAIL PRIVMSG INVALID_UTF8 :bad bytes\r\n"
        );
    }
}
