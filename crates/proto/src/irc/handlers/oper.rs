//! OPER, KILL, CHGHOST and WALLOPS: server operators.
//!
//! OPER's password is checked by the server's session loop off the hub's
//! task (argon2 is slow) before the hub is told ([`Step::Oper`]); KILL,
//! CHGHOST and WALLOPS go to the hub, which checks that the asker is an
//! operator. This
//! handler must not check a password or a privilege itself.

use chatroom_core::Command;

use super::args::{Args, Missing, Params};
use super::context::Context;
use crate::irc::step::Step;

/// `OPER <name> <password>`.
pub struct Oper<'m> {
    name: &'m str,
    password: &'m str,
}

impl<'m> Args<'m> for Oper<'m> {
    fn parse(p: &mut Params<'m>) -> Result<Oper<'m>, Missing> {
        Ok(Oper {
            name: p.present()?,
            password: p.required()?,
        })
    }
}

pub fn oper(cx: &mut Context<'_>, Oper { name, password }: Oper<'_>) {
    cx.push(Step::Oper {
        name: name.to_string(),
        password: password.to_string(),
    });
}

/// `KILL <nick> :<reason>`.
pub struct Kill<'m> {
    nick: &'m str,
    reason: &'m str,
}

impl<'m> Args<'m> for Kill<'m> {
    fn parse(p: &mut Params<'m>) -> Result<Kill<'m>, Missing> {
        Ok(Kill {
            nick: p.present()?,
            reason: p.required()?,
        })
    }
}

pub fn kill(cx: &mut Context<'_>, Kill { nick, reason }: Kill<'_>) {
    cx.send(Command::Kill {
        nick: nick.to_string(),
        reason: reason.to_string(),
    });
}

/// `CHGHOST <nick> <host>`.
pub struct ChgHost<'m> {
    nick: &'m str,
    host: &'m str,
}

impl<'m> Args<'m> for ChgHost<'m> {
    fn parse(p: &mut Params<'m>) -> Result<ChgHost<'m>, Missing> {
        Ok(ChgHost {
            nick: p.present()?,
            host: p.required()?,
        })
    }
}

pub fn chghost(cx: &mut Context<'_>, ChgHost { nick, host }: ChgHost<'_>) {
    cx.send(Command::ChgHost {
        nick: nick.to_string(),
        host: host.to_string(),
    });
}

/// `WALLOPS :<text>`.
pub struct Wallops<'m>(&'m str);

impl<'m> Args<'m> for Wallops<'m> {
    fn parse(p: &mut Params<'m>) -> Result<Wallops<'m>, Missing> {
        Ok(Wallops(p.required()?))
    }
}

pub fn wallops(cx: &mut Context<'_>, Wallops(text): Wallops<'_>) {
    cx.send(Command::Wallops(text.to_string()));
}

#[cfg(test)]
mod tests {
    use chatroom_core::Command;

    use crate::irc::handlers::test_support::*;
    use crate::irc::step::Step;

    #[test]
    fn wallops_go_to_the_hub() {
        let mut st = registered_state();
        assert_eq!(
            run(&mut st, "WALLOPS :hi everyone"),
            vec![Step::Send(Command::Wallops("hi everyone".into()))]
        );
        assert!(shown(&run(&mut st, "WALLOPS")[0]).contains(" 461 * WALLOPS :"));
        assert!(shown(&run(&mut st, "WALLOPS :")[0]).contains(" 461 * WALLOPS :"));
    }

    #[test]
    fn oper_and_kill() {
        let mut st = registered_state();
        assert_eq!(
            run(&mut st, "OPER admin secret"),
            vec![Step::Oper {
                name: "admin".into(),
                password: "secret".into()
            }]
        );
        assert!(shown(&run(&mut st, "OPER admin")[0]).contains(" 461 * OPER :"));
        assert!(shown(&run(&mut st, "KILL bob")[0]).contains(" 461 * KILL :"));
    }
}
