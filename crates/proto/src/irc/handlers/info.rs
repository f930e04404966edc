//! MOTD and LUSERS: about the server.
//!
//! The MOTD is the renderer's (it holds the text); the counts are the
//! hub's. This handler takes no parameters and must not answer either
//! itself.

use chatroom_core::Command;

use super::context::Context;
use crate::irc::local::Local;

pub fn motd(cx: &mut Context<'_>, _: ()) {
    cx.note(Local::Motd);
}

pub fn lusers(cx: &mut Context<'_>, _: ()) {
    cx.send(Command::Lusers);
}

#[cfg(test)]
mod tests {
    use chatroom_core::Command;

    use crate::irc::handlers::test_support::*;
    use crate::irc::local::Local;
    use crate::irc::step::Step;

    #[test]
    fn motd_and_lusers() {
        let mut st = registered_state();
        assert_eq!(run(&mut st, "MOTD"), vec![local(Local::Motd)]);
        assert_eq!(run(&mut st, "LUSERS"), vec![Step::Send(Command::Lusers)]);
    }
}
