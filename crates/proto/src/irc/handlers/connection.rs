//! PING, PONG and QUIT: the connection itself.
//!
//! PING is answered here (a PONG needs nothing from the hub); QUIT ends
//! the session with a reason marked as the client's. Must not keep the
//! liveness check: the server's deadline task does, and any input at all
//! proves the client is alive.

use bytes::BytesMut;

use super::args::{Args, Missing, Params};
use super::context::Context;
use crate::irc::numeric::ERR_NOORIGIN;
use crate::irc::step::Step;
use crate::irc::wire::write_line;

/// `PING <token>`.
pub struct Ping<'m> {
    /// Empty when none was given.
    token: &'m str,
}

impl<'m> Args<'m> for Ping<'m> {
    fn parse(p: &mut Params<'m>) -> Result<Ping<'m>, Missing> {
        Ok(Ping {
            token: p.optional(),
        })
    }
}

pub fn ping(cx: &mut Context<'_>, Ping { token }: Ping<'_>) {
    if token.is_empty() {
        cx.reply(ERR_NOORIGIN, &["No origin specified"]);
        return;
    }
    // PONG carries no nickname, so it needs no template; a token as long
    // as the line allows is cut to keep the reply within 512 bytes.
    let server = &cx.cfg.server_name;
    let mut pong = BytesMut::new();
    write_line(&mut pong, Some(server), "PONG", &[server], Some(token));
    cx.push(Step::Raw(pong.freeze()));
}

/// `PONG`: any input proves the client is alive; the session loop notes
/// that for every line, so there is nothing more to do.
pub fn pong(_: &mut Context<'_>, _: ()) {}

/// `QUIT [:reason]`.
pub struct Quit<'m> {
    reason: Option<&'m str>,
}

impl<'m> Args<'m> for Quit<'m> {
    fn parse(p: &mut Params<'m>) -> Result<Quit<'m>, Missing> {
        Ok(Quit {
            reason: p.nonempty(),
        })
    }
}

pub fn quit(cx: &mut Context<'_>, Quit { reason }: Quit<'_>) {
    // "Quit: " keeps a client from posing as a server message
    // ("Ping timeout") in everyone's quit line.
    let reason = match reason {
        Some(r) => format!("Quit: {r}"),
        None => "Client quit".to_string(),
    };
    cx.push(Step::Quit(reason));
}

#[cfg(test)]
mod tests {
    use crate::irc::handlers::test_support::*;
    use crate::irc::step::Step;

    #[test]
    fn quit_reason_is_marked() {
        let mut st = registered_state();
        assert_eq!(
            run(&mut st, "QUIT :Ping timeout"),
            vec![Step::Quit("Quit: Ping timeout".into())]
        );
        assert_eq!(
            run(&mut st, "QUIT :"),
            vec![Step::Quit("Client quit".into())]
        );
    }
}
