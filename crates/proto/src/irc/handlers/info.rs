//! MOTD, LUSERS, TIME, INFO and LINKS: about the server.
//!
//! The MOTD is the renderer's (it holds the text); the counts are the
//! hub's; the time the runtime's (this layer reads no clock). INFO and
//! LINKS are answered here: fixed text and the configuration. A target
//! server is ignored: there is only this one.

use chatroom_core::Command;
use chatroom_core::modes::glob_match;

use super::args::{Args, Missing, Params};
use super::context::Context;
use crate::irc::local::Local;
use crate::irc::numeric::{RPL_ENDOFINFO, RPL_ENDOFLINKS, RPL_INFO, RPL_LINKS};
use crate::irc::step::{Step, echo};

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

/// `LINKS [[<remote server>] <server mask>]`: the mask is the last
/// parameter.
pub struct Links<'m>(Option<&'m str>);

impl<'m> Args<'m> for Links<'m> {
    fn parse(p: &mut Params<'m>) -> Result<Links<'m>, Missing> {
        Ok(Links(p.rest().last().map(String::as_str)))
    }
}

/// The servers of the network: this one alone, hop count 0, when the
/// mask (if any) matches its name; then the end of the list.
pub fn links(cx: &mut Context<'_>, Links(mask): Links<'_>) {
    let server = cx.cfg.server_name.as_str();
    let mask = mask.filter(|m| !m.is_empty());
    if mask.is_none_or(|m| glob_match(m, server)) {
        let info = format!("0 {}", cx.cfg.server_info);
        cx.reply(RPL_LINKS, &[server, server, &info]);
    }
    cx.reply(
        RPL_ENDOFLINKS,
        &[mask.map_or("*", echo), "End of /LINKS list"],
    );
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
    fn links_lists_this_server_alone() {
        let mut st = registered_state();
        let got: Vec<String> = run(&mut st, "LINKS").iter().map(shown).collect();
        assert_eq!(
            got,
            [
                ":chatroom 364 * chatroom chatroom :0 chatroom server\r\n",
                ":chatroom 365 * * :End of /LINKS list\r\n"
            ]
        );
        let got: Vec<String> = run(&mut st, "LINKS CHAT*").iter().map(shown).collect();
        assert_eq!(got.len(), 2, "{got:?}");
        let got: Vec<String> = run(&mut st, "LINKS other.server *.example")
            .iter()
            .map(shown)
            .collect();
        assert_eq!(got, [":chatroom 365 * *.example :End of /LINKS list\r\n"]);
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
