//! JOIN and PART: entering and leaving rooms, several at once.
//!
//! Only the syntax is handled here (room lists, keys paired with rooms,
//! `JOIN 0`); whether a room may be joined (keys, bans, limits, invites)
//! is the hub's to decide, and this handler must not check any of it.

use chatroom_core::Command;

use super::args::{Args, Missing, Params};
use super::context::Context;

/// `JOIN <room>{,<room>} [<key>{,<key>}]` or `JOIN 0`.
pub struct Join<'m> {
    rooms: &'m str,
    /// Empty when none were given.
    keys: &'m str,
}

impl<'m> Args<'m> for Join<'m> {
    fn parse(p: &mut Params<'m>) -> Result<Join<'m>, Missing> {
        Ok(Join {
            rooms: p.required()?,
            keys: p.optional(),
        })
    }
}

pub fn join(cx: &mut Context<'_>, Join { rooms, keys }: Join<'_>) {
    if rooms == "0" {
        // JOIN 0 leaves every room (RFC 2812 3.2.1).
        cx.send(Command::PartAll);
        return;
    }
    // `JOIN #a,#b key1,key2`: keys pair up with rooms in order.
    let mut keys = keys.split(',');
    for room in rooms.split(',') {
        let key = keys.next().unwrap_or("");
        if room.is_empty() {
            continue;
        }
        cx.send(if key.is_empty() {
            Command::Join(room.to_string())
        } else {
            Command::JoinKey {
                room: room.to_string(),
                key: key.to_string(),
            }
        });
    }
}

/// `PART <room>{,<room>} [:reason]`.
pub struct Part<'m> {
    rooms: &'m str,
    reason: Option<&'m str>,
}

impl<'m> Args<'m> for Part<'m> {
    fn parse(p: &mut Params<'m>) -> Result<Part<'m>, Missing> {
        Ok(Part {
            rooms: p.required()?,
            reason: p.nonempty(),
        })
    }
}

pub fn part(cx: &mut Context<'_>, Part { rooms, reason }: Part<'_>) {
    for room in rooms.split(',').filter(|r| !r.is_empty()) {
        cx.send(Command::Part {
            room: room.into(),
            reason: reason.map(str::to_string),
        });
    }
}

#[cfg(test)]
mod tests {
    use chatroom_core::Command;

    use crate::irc::handlers::test_support::*;
    use crate::irc::step::Step;

    #[test]
    fn join_and_part() {
        let mut st = registered_state();
        let join = |r: &str| Step::Send(Command::Join(r.into()));
        let join_key = |r: &str, k: &str| {
            Step::Send(Command::JoinKey {
                room: r.into(),
                key: k.into(),
            })
        };
        // Keys pair up with rooms in order; an empty room is skipped with its key.
        assert_eq!(
            run(&mut st, "JOIN #a,#b,,#c key1,,x,key3"),
            vec![join_key("#a", "key1"), join("#b"), join_key("#c", "key3")]
        );
        assert_eq!(run(&mut st, "JOIN #a,#b"), vec![join("#a"), join("#b")]);
        let part = |r: &str, reason: Option<&str>| {
            Step::Send(Command::Part {
                room: r.into(),
                reason: reason.map(Into::into),
            })
        };
        assert_eq!(
            run(&mut st, "PART #a,#b :see you"),
            vec![part("#a", Some("see you")), part("#b", Some("see you"))]
        );
        assert_eq!(run(&mut st, "PART #a"), vec![part("#a", None)]);
        assert_eq!(run(&mut st, "JOIN 0"), vec![Step::Send(Command::PartAll)]);
        assert!(shown(&run(&mut st, "JOIN")[0]).contains(" 461 * JOIN :"));
        assert!(shown(&run(&mut st, "PART")[0]).contains(" 461 * PART :"));
    }
}
