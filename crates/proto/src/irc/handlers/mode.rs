//! MODE: a room's or one's own modes, asked about or changed.
//!
//! The parameters go to the hub as they are: which letters exist, which
//! take a parameter, who may set them and how many apply at once (MODES)
//! are all the hub's, and this handler must not interpret any of them.

use chatroom_core::Command;

use super::args::{Args, Missing, Params};
use super::context::Context;

/// `MODE <target> [<modes> [<params>...]]`.
pub struct Mode<'m> {
    target: &'m str,
    args: &'m [String],
}

impl<'m> Args<'m> for Mode<'m> {
    fn parse(p: &mut Params<'m>) -> Result<Mode<'m>, Missing> {
        Ok(Mode {
            target: p.required()?,
            args: p.rest(),
        })
    }
}

pub fn mode(cx: &mut Context<'_>, Mode { target, args }: Mode<'_>) {
    cx.send(Command::Mode {
        target: target.into(),
        args: args.to_vec(),
    });
}

#[cfg(test)]
mod tests {
    use chatroom_core::Command;

    use crate::irc::handlers::test_support::*;
    use crate::irc::step::Step;

    #[test]
    fn modes_go_to_the_hub() {
        let mut st = registered_state();
        let mode = |t: &str, args: &[&str]| {
            Step::Send(Command::Mode {
                target: t.into(),
                args: args.iter().map(|a| a.to_string()).collect(),
            })
        };
        assert_eq!(run(&mut st, "MODE #lobby"), vec![mode("#lobby", &[])]);
        assert_eq!(
            run(&mut st, "MODE #lobby +ov-b bob carol *!*@x"),
            vec![mode("#lobby", &["+ov-b", "bob", "carol", "*!*@x"])]
        );
        assert_eq!(run(&mut st, "MODE bob +i"), vec![mode("bob", &["+i"])]);
        assert!(shown(&run(&mut st, "MODE")[0]).contains(" 461 * MODE :"));
        // Hundreds of parameters are passed on as they are; the hub applies
        // at most MODES of them.
        let many = format!("MODE #lobby +{} {}", "b".repeat(100), "x ".repeat(100));
        let steps = run(&mut st, &many);
        assert_eq!(steps.len(), 1);
    }
}
