//! TOPIC, NAMES, LIST, KICK and INVITE: asking about rooms and acting on
//! their members.
//!
//! Syntax only (room and nickname lists, LIST's filters, KICK's pairing of
//! rooms with nicknames); whether the asker may see or do any of it is the
//! hub's to decide, and this handler must not check it.

use std::time::Duration;

use chatroom_core::{Command, ListQuery};

use super::args::{Args, CommaList, Missing, Params, need_more_params};
use super::context::Context;
use crate::irc::limits::TARGMAX;
use crate::irc::local::Local;
use crate::irc::numeric::RPL_ENDOFNAMES;
use crate::irc::step::echo;

/// `TOPIC <room> [:topic]`; a topic given empty clears it.
pub struct Topic<'m> {
    room: &'m str,
    topic: Option<&'m str>,
}

impl<'m> Args<'m> for Topic<'m> {
    fn parse(p: &mut Params<'m>) -> Result<Topic<'m>, Missing> {
        Ok(Topic {
            room: p.required()?,
            topic: p.maybe(),
        })
    }
}

pub fn topic(cx: &mut Context<'_>, Topic { room, topic }: Topic<'_>) {
    cx.send(Command::Topic {
        room: room.into(),
        topic: topic.map(str::to_string),
    });
}

/// `NAMES [<room>{,<room>}]`.
pub struct Names<'m> {
    /// Empty when none were given.
    rooms: &'m str,
}

impl<'m> Args<'m> for Names<'m> {
    fn parse(p: &mut Params<'m>) -> Result<Names<'m>, Missing> {
        Ok(Names {
            rooms: p.optional(),
        })
    }
}

pub fn names(cx: &mut Context<'_>, Names { rooms }: Names<'_>) {
    if rooms.is_empty() {
        // Listing everyone on the server is not offered.
        cx.reply(RPL_ENDOFNAMES, &["*", "End of /NAMES list."]);
        return;
    }
    let CommaList(list) = CommaList::of(rooms);
    // Several rooms: one RPL_ENDOFNAMES naming them all, after every
    // room's 353s (Modern IRC, NAMES).
    let several = list.len() > 1;
    if several {
        cx.note(Local::NamesBegin);
    }
    for room in list {
        cx.send(Command::Names(room.to_string()));
    }
    if several {
        cx.note(Local::NamesEnd(echo(rooms).to_string()));
    }
}

/// `LIST [filters]`: comma-separated room masks, `!mask` (not matching),
/// `>n` (more than n members), `<n` (fewer than n), `C<n` / `C>n`
/// (created less / more than n minutes ago) and `T<n` / `T>n` (topic set
/// less / more than n minutes ago) (RFC 2812 3.2.6; ELIST=CMNTU as modern
/// IRC documents it).
pub struct Filters<'m>(&'m str);

impl<'m> Args<'m> for Filters<'m> {
    fn parse(p: &mut Params<'m>) -> Result<Filters<'m>, Missing> {
        Ok(Filters(p.optional()))
    }
}

pub fn list(cx: &mut Context<'_>, Filters(filters): Filters<'_>) {
    cx.send(Command::List(list_query(filters)));
}

/// LIST's filters as a query for the hub.
fn list_query(arg: &str) -> ListQuery {
    let mut q = ListQuery::default();
    // Bounded: a 512-byte line cannot hold many, but masks are matched
    // against every room, so keep the work small anyway.
    let minutes = |n: &str| {
        n.parse::<u64>()
            .ok()
            .map(|m| Duration::from_secs(m.saturating_mul(60)))
    };
    for item in arg.split(',').filter(|i| !i.is_empty()).take(16) {
        if let Some(n) = item.strip_prefix('>') {
            q.more_than = n.parse().ok();
        } else if let Some(n) = item.strip_prefix('<') {
            q.fewer_than = n.parse().ok();
        } else if let Some(n) = item.strip_prefix("C<") {
            q.created_within = minutes(n);
        } else if let Some(n) = item.strip_prefix("C>") {
            q.created_before = minutes(n);
        } else if let Some(n) = item.strip_prefix("T<") {
            q.topic_within = minutes(n);
        } else if let Some(n) = item.strip_prefix("T>") {
            q.topic_before = minutes(n);
        } else if let Some(mask) = item.strip_prefix('!') {
            q.not_masks.push(mask.to_string());
        } else {
            q.masks.push(item.to_string());
        }
    }
    q
}

/// `KICK <room>{,<room>} <nick>{,<nick>} [:reason]`.
pub struct Kick<'m> {
    rooms: &'m str,
    nicks: &'m str,
    reason: Option<&'m str>,
}

impl<'m> Args<'m> for Kick<'m> {
    fn parse(p: &mut Params<'m>) -> Result<Kick<'m>, Missing> {
        Ok(Kick {
            rooms: p.present()?,
            nicks: p.required()?,
            reason: p.nonempty(),
        })
    }
}

pub fn kick(
    cx: &mut Context<'_>,
    Kick {
        rooms,
        nicks,
        reason,
    }: Kick<'_>,
) {
    // `KICK #a u1,u2` kicks both from #a; `KICK #a,#b u1,u2` pairs them
    // up (RFC 2812 3.2.8).
    let rooms: Vec<&str> = rooms.split(',').collect();
    for (i, nick) in nicks.split(',').take(TARGMAX).enumerate() {
        let room = if rooms.len() == 1 {
            rooms[0]
        } else {
            rooms.get(i).copied().unwrap_or("")
        };
        if room.is_empty() || nick.is_empty() {
            cx.push(need_more_params("KICK"));
            continue;
        }
        cx.send(Command::Kick {
            room: room.into(),
            nick: nick.to_string(),
            reason: reason.map(str::to_string),
        });
    }
}

/// `INVITE <nick> <room>`.
pub struct Invite<'m> {
    nick: &'m str,
    room: &'m str,
}

impl<'m> Args<'m> for Invite<'m> {
    fn parse(p: &mut Params<'m>) -> Result<Invite<'m>, Missing> {
        Ok(Invite {
            nick: p.present()?,
            room: p.required()?,
        })
    }
}

pub fn invite(cx: &mut Context<'_>, Invite { nick, room }: Invite<'_>) {
    cx.send(Command::Invite {
        nick: nick.to_string(),
        room: room.into(),
    });
}

#[cfg(test)]
mod tests {
    use chatroom_core::{Command, ListQuery};

    use crate::irc::handlers::test_support::*;
    use crate::irc::local::Local;
    use crate::irc::step::Step;

    #[test]
    fn list_filters() {
        let mut st = registered_state();
        assert_eq!(
            run(&mut st, "LIST #ru*,>2,<10"),
            vec![Step::Send(Command::List(ListQuery {
                masks: vec!["#ru*".into()],
                more_than: Some(2),
                fewer_than: Some(10),
                ..ListQuery::default()
            }))]
        );
        let min = |m: u64| Some(std::time::Duration::from_secs(60 * m));
        assert_eq!(
            run(&mut st, "LIST !#ch*,C<5,C>1,T<30,T>0"),
            vec![Step::Send(Command::List(ListQuery {
                not_masks: vec!["#ch*".into()],
                created_within: min(5),
                created_before: min(1),
                topic_within: min(30),
                topic_before: min(0),
                ..ListQuery::default()
            }))]
        );
        assert_eq!(
            run(&mut st, "LIST"),
            vec![Step::Send(Command::List(ListQuery::default()))]
        );
    }

    #[test]
    fn queries_topic_and_names() {
        let mut st = registered_state();
        assert_eq!(
            run(&mut st, "TOPIC #a"),
            vec![Step::Send(Command::Topic {
                room: "#a".into(),
                topic: None
            })]
        );
        assert_eq!(
            run(&mut st, "TOPIC #a :"),
            vec![Step::Send(Command::Topic {
                room: "#a".into(),
                topic: Some(String::new())
            })]
        );
        assert_eq!(
            run(&mut st, "NAMES #a,#b"),
            vec![
                local(Local::NamesBegin),
                Step::Send(Command::Names("#a".into())),
                Step::Send(Command::Names("#b".into())),
                local(Local::NamesEnd("#a,#b".into())),
            ]
        );
        assert_eq!(
            run(&mut st, "NAMES #a"),
            vec![Step::Send(Command::Names("#a".into()))]
        );
        assert!(shown(&run(&mut st, "NAMES")[0]).contains(" 366 * * :"));
    }

    #[test]
    fn kick_and_invite() {
        let mut st = registered_state();
        let kick = |r: &str, n: &str, reason: Option<&str>| {
            Step::Send(Command::Kick {
                room: r.into(),
                nick: n.into(),
                reason: reason.map(Into::into),
            })
        };
        assert_eq!(
            run(&mut st, "KICK #a x,y :bye"),
            vec![kick("#a", "x", Some("bye")), kick("#a", "y", Some("bye"))]
        );
        assert_eq!(
            run(&mut st, "KICK #a,#b x,y"),
            vec![kick("#a", "x", None), kick("#b", "y", None)]
        );
        assert!(shown(&run(&mut st, "KICK #a")[0]).contains(" 461 * KICK :"));
        assert_eq!(
            run(&mut st, "INVITE carol #a"),
            vec![Step::Send(Command::Invite {
                nick: "carol".into(),
                room: "#a".into()
            })]
        );
        assert!(shown(&run(&mut st, "INVITE carol")[0]).contains(" 461 "));
    }
}
