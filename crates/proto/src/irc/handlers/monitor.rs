//! MONITOR (IRCv3): watching nicknames come and go.
//!
//! The subcommand and its list are parsed into the hub's [`MonitorOp`];
//! anything else is ERR_NEEDMOREPARAMS. Who is watched, the list's limit
//! and the online/offline notices are the hub's; this handler must not
//! keep or check any of it.

use chatroom_core::Command;
use chatroom_core::command::MonitorOp;

use super::args::{Args, Missing, Params};
use super::context::Context;

/// `MONITOR + a,b`, `- a,b`, `C`, `L`, `S`.
impl<'m> Args<'m> for MonitorOp {
    fn parse(p: &mut Params<'m>) -> Result<MonitorOp, Missing> {
        let sub = p.optional();
        let list = p.optional();
        let targets = || -> Vec<String> {
            list.split(',')
                .filter(|n| !n.is_empty())
                .map(str::to_string)
                .collect()
        };
        match sub {
            "+" if !list.is_empty() => Ok(MonitorOp::Add(targets())),
            "-" if !list.is_empty() => Ok(MonitorOp::Remove(targets())),
            "C" | "c" => Ok(MonitorOp::Clear),
            "L" | "l" => Ok(MonitorOp::List),
            "S" | "s" => Ok(MonitorOp::Status),
            _ => Err(Missing),
        }
    }
}

pub fn monitor(cx: &mut Context<'_>, op: MonitorOp) {
    cx.send(Command::Monitor(op));
}

#[cfg(test)]
mod tests {
    use chatroom_core::Command;
    use chatroom_core::command::MonitorOp;

    use crate::irc::handlers::test_support::*;
    use crate::irc::step::Step;

    #[test]
    fn subcommands_become_monitor_ops_and_anything_else_is_461() {
        let mut st = registered_state();
        let op = |op| vec![Step::Send(Command::Monitor(op))];
        assert_eq!(
            run(&mut st, "MONITOR + alice,,bob"),
            op(MonitorOp::Add(vec!["alice".into(), "bob".into()]))
        );
        assert_eq!(
            run(&mut st, "MONITOR - alice"),
            op(MonitorOp::Remove(vec!["alice".into()]))
        );
        assert_eq!(run(&mut st, "MONITOR c"), op(MonitorOp::Clear));
        assert_eq!(run(&mut st, "MONITOR L"), op(MonitorOp::List));
        assert_eq!(run(&mut st, "MONITOR s"), op(MonitorOp::Status));
        for bad in ["MONITOR", "MONITOR +", "MONITOR - :", "MONITOR X a"] {
            let steps = run(&mut st, bad);
            assert_eq!(steps.len(), 1, "{bad}");
            assert!(
                shown(&steps[0]).contains(" 461 * MONITOR :"),
                "{bad}: {steps:?}"
            );
        }
    }
}
