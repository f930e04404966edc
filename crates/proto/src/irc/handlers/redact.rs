//! REDACT (IRCv3 `draft/message-redaction`): `REDACT <target> <msgid>
//! [:reason]` withdraws a message.
//!
//! Takes the parameters apart: the msgid is passed on as written and, when
//! it is one of ours, as the hub's message number. The hub decides who may
//! withdraw what (and refuses with the spec's `FAIL REDACT` codes); the
//! renderer shows the redaction to clients that negotiated the capability.
//! This handler must not judge a message's age, owner or room.

use chatroom_core::Command;

use super::args::{Args, Missing, Params};
use super::context::Context;
use crate::irc::tags::parse_msgid;

pub struct Redact<'m> {
    target: &'m str,
    msgid: &'m str,
    reason: Option<&'m str>,
}

impl<'m> Args<'m> for Redact<'m> {
    fn parse(p: &mut Params<'m>) -> Result<Redact<'m>, Missing> {
        Ok(Redact {
            target: p.required()?,
            msgid: p.required()?,
            reason: p.nonempty(),
        })
    }
}

pub fn redact(
    cx: &mut Context<'_>,
    Redact {
        target,
        msgid,
        reason,
    }: Redact<'_>,
) {
    cx.send(Command::Redact {
        target: target.to_string(),
        id: parse_msgid(msgid),
        msgid: msgid.to_string(),
        reason: reason.map(str::to_string),
    });
}

#[cfg(test)]
mod tests {
    use chatroom_core::Command;

    use crate::irc::handlers::test_support::*;
    use crate::irc::step::Step;

    #[test]
    fn redact_passes_the_msgid_as_written_and_as_a_number() {
        let mut st = registered_state();
        assert_eq!(
            run(&mut st, "REDACT #lobby 42 :wrong room"),
            vec![Step::Send(Command::Redact {
                target: "#lobby".into(),
                id: Some(42),
                msgid: "42".into(),
                reason: Some("wrong room".into()),
            })]
        );
        assert_eq!(
            run(&mut st, "REDACT bob someone-elses-id"),
            vec![Step::Send(Command::Redact {
                target: "bob".into(),
                id: None,
                msgid: "someone-elses-id".into(),
                reason: None,
            })]
        );
        let steps = run(&mut st, "REDACT #lobby");
        assert_eq!(steps.len(), 1);
        assert!(shown(&steps[0]).contains(" 461 "), "{}", shown(&steps[0]));
    }
}
