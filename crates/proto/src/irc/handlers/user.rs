//! AWAY and SETNAME: what a user says about themselves.
//!
//! Both go to the hub as they are; the hub checks the lengths and tells
//! those who asked to know (away-notify, setname). This handler must not
//! check or cut the text.

use chatroom_core::Command;

use super::args::{Args, Missing, Params};
use super::context::Context;

/// `AWAY [:message]`; no message (or an empty one) is back.
pub struct Away<'m> {
    message: Option<&'m str>,
}

impl<'m> Args<'m> for Away<'m> {
    fn parse(p: &mut Params<'m>) -> Result<Away<'m>, Missing> {
        Ok(Away {
            message: p.nonempty(),
        })
    }
}

pub fn away(cx: &mut Context<'_>, Away { message }: Away<'_>) {
    cx.send(Command::Away(message.map(str::to_string)));
}

/// `SETNAME :<realname>`; the hub refuses an empty one.
pub struct Setname<'m> {
    realname: &'m str,
}

impl<'m> Args<'m> for Setname<'m> {
    fn parse(p: &mut Params<'m>) -> Result<Setname<'m>, Missing> {
        Ok(Setname {
            realname: p.present()?,
        })
    }
}

pub fn setname(cx: &mut Context<'_>, Setname { realname }: Setname<'_>) {
    cx.send(Command::Setname(realname.to_string()));
}

#[cfg(test)]
mod tests {
    use chatroom_core::Command;

    use crate::irc::handlers::test_support::*;
    use crate::irc::step::Step;

    #[test]
    fn away() {
        let mut st = registered_state();
        assert_eq!(
            run(&mut st, "AWAY :lunch"),
            vec![Step::Send(Command::Away(Some("lunch".into())))]
        );
        assert_eq!(run(&mut st, "AWAY"), vec![Step::Send(Command::Away(None))]);
    }

    #[test]
    fn setname() {
        let mut st = with_caps("message-tags");
        assert_eq!(
            run(&mut st, "SETNAME :New Name"),
            vec![Step::Send(Command::Setname("New Name".into()))]
        );
        assert!(shown(&run(&mut st, "SETNAME")[0]).contains(" 461 "));
    }
}
