//! The services: NickServ (`NS`, `NICKSERV`, `/msg NickServ`) and ChanServ
//! (`CS`, `CHANSERV`, `/msg ChanServ`). A line to a service reaches its
//! module (`login` for NickServ, `chanserv`), never anyone else; a NOTICE
//! to a service is dropped (services never answer one, and nobody holds
//! their nicknames).
//!
//! Routing only: what a request means and who may make it are the
//! services' modules' and the hub's; this handler must not word or decide
//! any of it.

use super::args::Words;
use super::context::Context;
use crate::irc::chanserv::{self, Ask};
use crate::irc::login;
use crate::irc::step::Step;

/// `NS <request>`: the parameters joined are the request's text.
pub fn nickserv(cx: &mut Context<'_>, Words(text): Words) {
    login::nickserv(&text, cx.cfg, &mut cx.steps);
}

/// `CS <request>`.
pub fn chanserv(cx: &mut Context<'_>, Words(text): Words) {
    to_chanserv(cx, &text);
}

/// A PRIVMSG or NOTICE to `target`: if the target is a service, the text
/// goes to it (a PRIVMSG) or nowhere (a NOTICE), and the message is
/// handled.
pub fn to_service(cx: &mut Context<'_>, target: &str, text: &str, notice: bool) -> bool {
    if login::is_nickserv(target) {
        if !notice {
            login::nickserv(text, cx.cfg, &mut cx.steps);
        }
        return true;
    }
    // Room registration (a service, not a member): never relayed.
    if chanserv::is_chanserv(target) {
        if !notice {
            to_chanserv(cx, text);
        }
        return true;
    }
    false
}

/// A line to ChanServ: a request for the hub, or a reply of its own.
fn to_chanserv(cx: &mut Context<'_>, text: &str) {
    match chanserv::parse(text) {
        Ask::Hub(cmd) => cx.send(cmd),
        Ask::Say(lines) => cx
            .steps
            .extend(chanserv::notices(lines).into_iter().map(Step::Note)),
    }
}

#[cfg(test)]
mod tests {
    use chatroom_core::Command;
    use chatroom_core::registry::RoomRequest;

    use crate::irc::handlers::test_support::*;
    use crate::irc::step::Step;

    #[test]
    fn chanserv_by_command_or_message_and_never_by_notice() {
        let mut st = registered_state();
        let register = vec![Step::Send(Command::RoomReg(RoomRequest::Register(
            "#a".into(),
        )))];
        assert_eq!(run(&mut st, "CS REGISTER #a"), register);
        assert_eq!(run(&mut st, "PRIVMSG ChanServ :REGISTER #a"), register);
        assert_eq!(run(&mut st, "NOTICE chanserv :REGISTER #a"), vec![]);
        // Help is answered without the hub, as NOTICEs from the service.
        let help = run(&mut st, "CHANSERV HELP");
        assert!(help.len() > 3, "{help:?}");
        assert!(
            shown(&help[0]).starts_with(":ChanServ!ChanServ@services. NOTICE * :"),
            "{help:?}"
        );
    }
}
