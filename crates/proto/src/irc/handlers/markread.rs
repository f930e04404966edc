//! MARKREAD (IRCv3 `draft/read-marker`): `MARKREAD <target>` asks where the
//! user has read to, `MARKREAD <target> timestamp=<time>` moves it forward.
//!
//! Parses and checks the parameters, answering the spec's `FAIL MARKREAD`
//! replies; the hub keeps the markers and decides who is told. This handler
//! must not keep or compare markers.

use std::time::SystemTime;

use chatroom_core::{Command, names};

use super::context::Context;
use crate::irc::local::Local;
use crate::irc::message::Message;

fn fail(code: &str, context: &[&str], text: &str) -> Local {
    Local::fail("MARKREAD", code, context, text)
}

/// `timestamp=YYYY-MM-DDThh:mm:ss.sssZ`, as server-time writes it.
fn timestamp(param: &str) -> Option<SystemTime> {
    let t = param.strip_prefix("timestamp=")?;
    chrono::DateTime::parse_from_rfc3339(t)
        .ok()
        .map(SystemTime::from)
}

pub fn markread(cx: &mut Context<'_>, msg: &Message) {
    let Some(target) = msg.params.first().filter(|t| !t.is_empty()) else {
        cx.note(fail("NEED_MORE_PARAMS", &[], "Missing parameters"));
        return;
    };
    let hub = &cx.cfg.hub;
    let valid = if target.starts_with(['#', '&']) {
        names::validate_room(target, hub.room_len).is_ok()
    } else {
        names::validate_nick(target, hub.nick_len).is_ok()
    };
    if !valid {
        cx.note(fail("INVALID_PARAMS", &[target], "Invalid parameters"));
        return;
    }
    let at = match msg.params.get(1) {
        None => None,
        Some(p) => match timestamp(p) {
            Some(t) => Some(t),
            None => {
                cx.note(fail("INVALID_PARAMS", &[p], "Invalid parameters"));
                return;
            }
        },
    };
    cx.send(Command::MarkRead {
        target: target.to_string(),
        at,
    });
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use chatroom_core::Command;

    use crate::irc::handlers::test_support::*;
    use crate::irc::step::Step;

    #[test]
    fn markread_asks_or_moves_and_refuses_bad_parameters() {
        let mut st = registered_state();
        assert_eq!(
            run(&mut st, "MARKREAD #lobby"),
            vec![Step::Send(Command::MarkRead {
                target: "#lobby".into(),
                at: None
            })]
        );
        assert_eq!(
            run(&mut st, "MARKREAD bob timestamp=2019-01-04T14:33:26.123Z"),
            vec![Step::Send(Command::MarkRead {
                target: "bob".into(),
                at: Some(UNIX_EPOCH + Duration::from_millis(1_546_612_406_123)),
            })]
        );
        for (bad, want) in [
            (
                "MARKREAD",
                "FAIL MARKREAD NEED_MORE_PARAMS :Missing parameters",
            ),
            (
                "MARKREAD #lobby *",
                "FAIL MARKREAD INVALID_PARAMS * :Invalid parameters",
            ),
            (
                "MARKREAD #lobby 2019-01-04T14:33:26.123Z",
                "FAIL MARKREAD INVALID_PARAMS 2019-01-04T14:33:26.123Z :Invalid parameters",
            ),
            (
                "MARKREAD #lobby timestamp=yesterday",
                "FAIL MARKREAD INVALID_PARAMS timestamp=yesterday :Invalid parameters",
            ),
            (
                "MARKREAD #bad,room",
                "FAIL MARKREAD INVALID_PARAMS #bad,room :Invalid parameters",
            ),
        ] {
            let steps = run(&mut st, bad);
            assert_eq!(steps.len(), 1, "{bad}: {steps:?}");
            assert!(
                shown(&steps[0]).contains(want),
                "{bad}: {}",
                shown(&steps[0])
            );
        }
    }
}
