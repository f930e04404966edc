//! MOTD, LUSERS, TIME and INFO: about the server.
//!
//! The MOTD is the renderer's (it holds the text); the counts are the
//! hub's; the time the runtime's (this layer reads no clock). INFO is
//! answered here: it is fixed text. A target server is ignored: there is
//! only this one.

use chatroom_core::Command;

use super::context::Context;
use crate::irc::local::Local;
use crate::irc::numeric::{RPL_ENDOFINFO, RPL_INFO};
use crate::irc::step::Step;

pub fn motd(cx: &mut Context<'_>, _: ()) {
    cx.note(Local::Motd);
}

pub fn lusers(cx: &mut Context<'_>, _: ()) {
    cx.send(Command::Lusers);
}

pub fn time(cx: &mut Context<'_>, _: ()) {
    cx.push(Step::Time);
}

pub fn info(cx: &mut Context<'_>, _: ()) {
    let version = concat!("chatroom ", env!("CARGO_PKG_VERSION"));
    for line in [
        version,
        "A chat server: rooms, history and accounts for netcat, IRC,",
        "IRC over TLS and WebSocket, and the chatroom terminal client.",
    ] {
        cx.reply(RPL_INFO, &[line]);
    }
    cx.reply(RPL_ENDOFINFO, &["End of INFO list"]);
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
        assert_eq!(run(&mut st, "TIME"), vec![Step::Time]);
        assert_eq!(run(&mut st, "TIME My.Little.Server"), vec![Step::Time]);
    }

    #[test]
    fn info_is_lines_then_its_end() {
        let mut st = registered_state();
        let steps = run(&mut st, "INFO");
        let codes: Vec<&str> = steps
            .iter()
            .map(|s| match s {
                Step::Note(Local::Reply { command, .. }) => command.as_str(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(codes, ["371", "371", "371", "374"]);
    }
}
