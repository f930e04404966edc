//! PASS, USER and NICK: what a client offers to register, and NICK's
//! change of nickname afterwards.
//!
//! Registration happens once NICK and USER are known and no CAP
//! negotiation holds it back; the hub then decides (the nickname may be
//! taken, the password wrong). Must not decide whether a nickname is free
//! nor check the connection password: only a nickname that breaks the
//! hub's own rules is refused here, as the hub would refuse it.

use chatroom_core::names::validate_nick;
use chatroom_core::{Command, Event, HubError};

use super::args::{Args, Missing, Params};
use super::context::Context;
use crate::irc::numeric::ERR_NONICKNAMEGIVEN;
use crate::irc::step::{Step, echo};

/// `PASS <password>`.
pub struct Pass<'m> {
    password: &'m str,
}

impl<'m> Args<'m> for Pass<'m> {
    fn parse(p: &mut Params<'m>) -> Result<Pass<'m>, Missing> {
        Ok(Pass {
            password: p.required()?,
        })
    }
}

pub fn pass(cx: &mut Context<'_>, Pass { password }: Pass<'_>) {
    // Checked at registration against `irc_password_hash` (ignored when
    // none is configured).
    cx.st.offer_pass(password);
}

/// `USER <username> <mode> <unused> :<realname>`.
pub struct User<'m> {
    username: &'m str,
    realname: &'m str,
}

impl<'m> Args<'m> for User<'m> {
    fn parse(p: &mut Params<'m>) -> Result<User<'m>, Missing> {
        // An empty username or real name is as good as none (Modern IRC,
        // USER).
        let username = p.required()?;
        let _mode = p.present()?;
        let _unused = p.present()?;
        let realname = p.required()?;
        Ok(User { username, realname })
    }
}

pub fn user(cx: &mut Context<'_>, User { username, realname }: User<'_>) {
    cx.st.offer_user(username, realname);
    cx.st.try_register(&mut cx.steps);
}

/// `NICK <nickname>`.
pub struct Nick<'m> {
    /// Empty when none was given.
    nick: &'m str,
}

impl<'m> Args<'m> for Nick<'m> {
    fn parse(p: &mut Params<'m>) -> Result<Nick<'m>, Missing> {
        Ok(Nick { nick: p.optional() })
    }
}

pub fn nick(cx: &mut Context<'_>, Nick { nick }: Nick<'_>) {
    if nick.is_empty() {
        cx.reply(ERR_NONICKNAMEGIVEN, &["No nickname given"]);
    } else if cx.st.is_registered() {
        // From here on the renderer follows the nickname (from the hub's
        // NICK event); the session no longer needs it.
        cx.send(Command::Nick(nick.to_string()));
    } else if let Err(e) = validate_nick(nick, cx.cfg.hub.nick_len) {
        // The hub would say the same at registration; saying it now is
        // what clients expect (they offer the next nickname).
        cx.push(Step::Tell(Event::Error(HubError::ErroneousNick {
            nick: echo(nick).into(),
            reason: e.0,
        })));
    } else {
        cx.st.offer_nick(nick);
        cx.st.try_register(&mut cx.steps);
    }
}

#[cfg(test)]
mod tests {
    use chatroom_core::Command;

    use crate::irc::handlers::test_support::*;
    use crate::irc::state::State;
    use crate::irc::step::Step;

    #[test]
    fn nick_then_user_registers() {
        let mut st = State::default();
        assert_eq!(run(&mut st, "NICK bob"), vec![]);
        assert_eq!(
            run(&mut st, "USER bobby 0 * :Bob Smith"),
            vec![register_step("bob", "bobby", "Bob Smith")]
        );
    }

    #[test]
    fn user_then_nick_registers() {
        let mut st = State::default();
        assert_eq!(run(&mut st, "USER u 0 * :R"), vec![]);
        assert_eq!(
            run(&mut st, "NICK bob"),
            vec![register_step("bob", "u", "R")]
        );
    }

    #[test]
    fn taken_nick_can_be_retried() {
        let mut st = State::default();
        run(&mut st, "USER u 0 * :R");
        assert_eq!(
            run(&mut st, "NICK alice"),
            vec![register_step("alice", "u", "R")]
        );
        st.register_failed();
        assert_eq!(
            run(&mut st, "NICK alice_"),
            vec![register_step("alice_", "u", "R")]
        );
        st.registered();
        assert!(st.is_registered());
        // The names now live in the hub and the renderer only.
        assert_eq!(st.nick(), None);
    }

    #[test]
    fn erroneous_nick_is_refused_at_once() {
        let mut st = State::default();
        let steps = run(&mut st, "NICK 9lives");
        assert_eq!(steps.len(), 1);
        assert!(shown(&steps[0]).starts_with(":chatroom 432 * 9lives :Erroneous nickname"));
        assert_eq!(st.nick(), None);
        assert_eq!(run(&mut st, "USER u 0 * :R"), vec![]);
        let steps = run(&mut st, "NICK");
        assert!(shown(&steps[0]).starts_with(":chatroom 431 * :"));
    }

    #[test]
    fn after_registration_user_and_pass_are_refused() {
        let mut st = registered_state();
        for line in ["USER a b c :d", "PASS x"] {
            let steps = run(&mut st, line);
            assert!(shown(&steps[0]).contains(" 462 "), "{line}");
        }
        assert_eq!(
            run(&mut st, "NICK robert"),
            vec![Step::Send(Command::Nick("robert".into()))]
        );
    }
}
