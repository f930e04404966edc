//! PRIVMSG, NOTICE and TAGMSG: messages to rooms, to rooms' operators or
//! voiced members (STATUSMSG), and to people.
//!
//! One line is at most one message: text too long to be relayed in one
//! line is cut by the hub (`Overflow::Cut`, see docs/irc.md, "Long
//! messages"), as IRC servers do; CTCP ACTION becomes an action;
//! client-only tags travel only from clients that enabled message-tags; a
//! message to a service (NickServ, ChanServ) goes to the service and is
//! never relayed. Must not decide who may send where (the hub does: +n,
//! +m, bans) and, as RFC 2812 requires, never answers a NOTICE, not even
//! with an error.

use chatroom_core::{Command, MsgKind, Overflow, SayTarget};

use super::args::{Args, CommaList, Missing, Params};
use super::context::Context;
use super::services;
use crate::irc::caps::Cap;
use crate::irc::limits::TARGMAX;
use crate::irc::numeric::*;
use crate::irc::state::State;
use crate::irc::step::echo;
use crate::irc::tags;

/// `PRIVMSG <target>{,<target>} :<text>` (and NOTICE). Missing parts have
/// replies of their own (411, 412), so nothing here is required.
pub struct Say<'m> {
    targets: &'m str,
    text: &'m str,
    tags: &'m [(String, String)],
}

impl<'m> Args<'m> for Say<'m> {
    fn parse(p: &mut Params<'m>) -> Result<Say<'m>, Missing> {
        Ok(Say {
            targets: p.optional(),
            text: p.optional(),
            tags: p.tags(),
        })
    }
}

pub fn privmsg(cx: &mut Context<'_>, say: Say<'_>) {
    send(cx, say, false);
}

pub fn notice(cx: &mut Context<'_>, say: Say<'_>) {
    send(cx, say, true);
}

fn send(
    cx: &mut Context<'_>,
    Say {
        targets,
        text,
        tags,
    }: Say<'_>,
    notice: bool,
) {
    if services::to_service(cx, targets, text, notice) {
        return;
    }
    let cmd = if notice { "NOTICE" } else { "PRIVMSG" };
    // RFC 2812: never an automatic reply to a NOTICE, not even an error.
    if targets.is_empty() {
        if !notice {
            cx.reply(ERR_NORECIPIENT, &[&format!("No recipient given ({cmd})")]);
        }
        return;
    }
    if text.is_empty() {
        if !notice {
            cx.reply(ERR_NOTEXTTOSEND, &["No text to send"]);
        }
        return;
    }
    let (kind, body) = match (notice, ctcp_action(text)) {
        (true, _) => (MsgKind::Notice, text),
        (false, Some(action)) => (MsgKind::Action, action),
        // Other CTCP (VERSION, PING, ...) is relayed as text; replies come
        // back as NOTICE.
        (false, None) => (MsgKind::Say, text),
    };
    let CommaList(list) = CommaList::of(targets);
    if list.len() > TARGMAX {
        if !notice {
            cx.reply(ERR_TOOMANYTARGETS, &[echo(targets), "Too many targets"]);
        }
        return;
    }
    let tags = client_tags(cx.st, tags);
    for target in list {
        cx.send(Command::Say {
            target: say_target(target),
            kind,
            text: body.to_string(),
            tags: tags.clone(),
            overflow: Overflow::Cut,
        });
    }
}

/// `TAGMSG <target>{,<target>}` with client-only tags.
pub struct TagMsg<'m> {
    targets: CommaList<'m>,
    /// The list as given, for ERR_TOOMANYTARGETS.
    given: &'m str,
    tags: &'m [(String, String)],
}

impl<'m> Args<'m> for TagMsg<'m> {
    fn parse(p: &mut Params<'m>) -> Result<TagMsg<'m>, Missing> {
        let given = p.optional();
        let targets = CommaList::of(given);
        if targets.0.is_empty() {
            return Err(Missing);
        }
        Ok(TagMsg {
            targets,
            given,
            tags: p.tags(),
        })
    }
}

pub fn tagmsg(
    cx: &mut Context<'_>,
    TagMsg {
        targets: CommaList(targets),
        given,
        tags,
    }: TagMsg<'_>,
) {
    if targets.len() > TARGMAX {
        cx.reply(ERR_TOOMANYTARGETS, &[echo(given), "Too many targets"]);
        return;
    }
    let tags = client_tags(cx.st, tags);
    for target in targets {
        cx.send(Command::TagMsg {
            target: say_target(target),
            tags: tags.clone(),
        });
    }
}

/// The client-only tags a message relays: none unless the sender enabled
/// message-tags (a client that did not cannot mean them).
pub(super) fn client_tags(st: &State, given: &[(String, String)]) -> Vec<(String, String)> {
    if !st.has(Cap::MessageTags) || given.is_empty() {
        return Vec::new();
    }
    tags::client_only(given)
}

pub(super) fn say_target(target: &str) -> SayTarget {
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

/// The text of a CTCP ACTION (`\x01ACTION waves\x01`), if `text` is one.
fn ctcp_action(text: &str) -> Option<&str> {
    let inner = text.strip_prefix("\u{1}ACTION")?;
    let inner = inner.strip_suffix('\u{1}').unwrap_or(inner);
    if inner.is_empty() {
        return Some("");
    }
    inner.strip_prefix(' ')
}

#[cfg(test)]
mod tests {
    use chatroom_core::{Command, MsgKind, Overflow, SayTarget};

    use crate::irc::handlers::test_support::*;
    use crate::irc::step::Step;

    fn say(target: SayTarget, kind: MsgKind, text: &str) -> Step {
        Step::Send(Command::Say {
            target,
            kind,
            text: text.into(),
            tags: Vec::new(),
            overflow: Overflow::Cut,
        })
    }

    #[test]
    fn privmsg_and_notice() {
        let mut st = registered_state();
        assert_eq!(
            run(&mut st, "PRIVMSG #a,alice :hello there"),
            vec![
                say(SayTarget::Room("#a".into()), MsgKind::Say, "hello there"),
                say(SayTarget::Nick("alice".into()), MsgKind::Say, "hello there"),
            ]
        );
        assert_eq!(
            run(&mut st, "PRIVMSG #a :\u{1}ACTION waves\u{1}"),
            vec![say(SayTarget::Room("#a".into()), MsgKind::Action, "waves")]
        );
        // A CTCP request other than ACTION is relayed as it is.
        assert_eq!(
            run(&mut st, "PRIVMSG alice :\u{1}VERSION\u{1}"),
            vec![say(
                SayTarget::Nick("alice".into()),
                MsgKind::Say,
                "\u{1}VERSION\u{1}"
            )]
        );
        assert_eq!(
            run(&mut st, "NOTICE alice :\u{1}VERSION x 1.0\u{1}"),
            vec![say(
                SayTarget::Nick("alice".into()),
                MsgKind::Notice,
                "\u{1}VERSION x 1.0\u{1}"
            )]
        );
        assert!(
            shown(&run(&mut st, "PRIVMSG")[0]).contains(" 411 * :No recipient given (PRIVMSG)")
        );
        assert!(shown(&run(&mut st, "PRIVMSG #a")[0]).contains(" 412 * :"));
        assert!(shown(&run(&mut st, "PRIVMSG #a :")[0]).contains(" 412 * :"));
        // NOTICE never gets an automatic reply, not even an error.
        assert_eq!(run(&mut st, "NOTICE"), vec![]);
        assert_eq!(run(&mut st, "NOTICE #a"), vec![]);
    }

    #[test]
    fn long_text_goes_whole_to_the_hub_to_be_cut() {
        let mut st = registered_state();
        let text = "abc ".repeat(120);
        let steps = run(&mut st, &format!("PRIVMSG #a :{}", text.trim()));
        assert_eq!(
            steps,
            vec![Step::Send(Command::Say {
                target: SayTarget::Room("#a".into()),
                kind: MsgKind::Say,
                text: text.trim().into(),
                tags: Vec::new(),
                overflow: Overflow::Cut,
            })]
        );
    }

    #[test]
    fn too_many_targets() {
        let mut st = registered_state();
        assert!(shown(&run(&mut st, "PRIVMSG a,b,c,d,e :hi")[0]).contains(" 407 * a,b,c,d,e :"));
        assert_eq!(run(&mut st, "NOTICE a,b,c,d,e :hi"), vec![]);
        assert_eq!(run(&mut st, "PRIVMSG a,b,c,d :hi").len(), 4);
    }

    #[test]
    fn tags_travel_only_from_clients_that_enabled_message_tags() {
        let line = "@+draft/reply=5;time=x PRIVMSG #a :hi";
        let plain = run(&mut registered_state(), line);
        assert!(matches!(&plain[..], [Step::Send(Command::Say { tags, .. })] if tags.is_empty()));
        let tagged = run(&mut with_caps("message-tags"), line);
        assert!(matches!(
            &tagged[..],
            [Step::Send(Command::Say { tags, .. })]
                if tags == &vec![("+draft/reply".to_string(), "5".to_string())]
        ));
    }

    #[test]
    fn tagmsg() {
        let mut st = with_caps("message-tags");
        assert_eq!(
            run(&mut st, "@+typing=active TAGMSG #a,bob"),
            vec![
                Step::Send(Command::TagMsg {
                    target: SayTarget::Room("#a".into()),
                    tags: vec![("+typing".into(), "active".into())],
                }),
                Step::Send(Command::TagMsg {
                    target: SayTarget::Nick("bob".into()),
                    tags: vec![("+typing".into(), "active".into())],
                }),
            ]
        );
        assert!(shown(&run(&mut st, "TAGMSG")[0]).contains(" 461 "));
        assert!(shown(&run(&mut st, "TAGMSG a,b,c,d,e")[0]).contains(" 407 "));
    }
}
