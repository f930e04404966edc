//! The IRC session's command handlers: one file per command or small
//! family of commands, and the dispatcher ([`dispatch`]) that maps a
//! command's name to its handler.
//!
//! Each handler declares what it takes from the message as typed
//! arguments ([`args::Args`]); the dispatcher parses them in one place, so
//! too few parameters are answered with ERR_NEEDMOREPARAMS before any
//! handler runs. It also applies the registration gate: commands other
//! than registration's are refused with ERR_NOTREGISTERED until the hub
//! has accepted the client, and PASS and USER with ERR_ALREADYREGISTERED
//! after. The account commands (`login`), CHATHISTORY (`chathistory`) and
//! ChanServ (`chanserv`) keep their parsing in their own modules and are
//! reached through this dispatcher like every other command.
//!
//! Handlers are pure: they read the message and the session [`State`]
//! and append [`Step`]s for the server's session loop to carry out; the
//! only effect is on the state, for facts that need no hub decision.
//! They must not decide anything the hub decides (who may join, send,
//! take a nickname, change a mode) nor format anything the renderer
//! formats.

pub mod args;
pub mod cap;
mod channel;
mod connection;
mod context;
mod help;
mod history;
mod info;
mod join;
mod markread;
mod mode;
mod monitor;
mod multiline;
mod oper;
mod privmsg;
mod redact;
mod registration;
mod services;
mod user;
mod who;

#[cfg(test)]
pub(crate) mod test_support;

use chatroom_config::Config;

use super::login;
use super::message::Message;
use super::numeric::*;
use super::state::State;
use super::step::{Step, echo};
use args::{Args, Missing, Params, need_more_params};
use context::Context;

/// When a command may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gate {
    /// Before and after registration.
    Any,
    /// Only before (PASS, USER).
    Unregistered,
    /// Only after.
    Registered,
}

/// A handler as the dispatcher calls it: the typed arguments are parsed
/// inside (see [`with`]).
type Run = fn(&mut Context<'_>, &Message);

use Gate::{Any, Registered, Unregistered};

/// Parses `A` from `msg` and runs `handler` with it, or answers
/// ERR_NEEDMOREPARAMS.
fn with<'m, A: Args<'m>>(cx: &mut Context<'_>, msg: &'m Message, handler: fn(&mut Context<'_>, A)) {
    match A::parse(&mut Params::new(msg)) {
        Ok(args) => handler(cx, args),
        Err(Missing) => cx.push(need_more_params(&msg.command)),
    }
}

/// Every command: the names it answers to (upper case), when it may be
/// used, and its handler.
const ROUTES: &[(&[&str], Gate, Run)] = &[
    // Registration and the connection itself.
    (&["CAP"], Any, |cx, m| with(cx, m, cap::cap)),
    (&["PASS"], Unregistered, |cx, m| {
        with(cx, m, registration::pass)
    }),
    (&["USER"], Unregistered, |cx, m| {
        with(cx, m, registration::user)
    }),
    (&["NICK"], Any, |cx, m| with(cx, m, registration::nick)),
    (&["PING"], Any, |cx, m| with(cx, m, connection::ping)),
    (&["PONG"], Any, |cx, m| with(cx, m, connection::pong)),
    (&["QUIT"], Any, |cx, m| with(cx, m, connection::quit)),
    // Accounts (login.rs), before registration too (SASL,
    // draft/account-registration's before-connect).
    (&["AUTHENTICATE"], Any, |cx, m| {
        login::authenticate(cx.st, m, cx.cfg, &mut cx.steps)
    }),
    (&["REGISTER"], Any, |cx, m| {
        login::register(cx.st, m, cx.cfg, &mut cx.steps)
    }),
    (&["VERIFY"], Any, |cx, m| {
        login::verify(m, cx.cfg, &mut cx.steps)
    }),
    // Rooms.
    (&["JOIN"], Registered, |cx, m| with(cx, m, join::join)),
    (&["PART"], Registered, |cx, m| with(cx, m, join::part)),
    (&["TOPIC"], Registered, |cx, m| with(cx, m, channel::topic)),
    (&["NAMES"], Registered, |cx, m| with(cx, m, channel::names)),
    (&["LIST"], Registered, |cx, m| with(cx, m, channel::list)),
    (&["KICK"], Registered, |cx, m| with(cx, m, channel::kick)),
    (&["INVITE"], Registered, |cx, m| {
        with(cx, m, channel::invite)
    }),
    (&["MODE"], Registered, |cx, m| with(cx, m, mode::mode)),
    // Messages.
    (&["PRIVMSG"], Registered, |cx, m| {
        with(cx, m, privmsg::privmsg)
    }),
    (&["NOTICE"], Registered, |cx, m| {
        with(cx, m, privmsg::notice)
    }),
    (&["TAGMSG"], Registered, |cx, m| {
        with(cx, m, privmsg::tagmsg)
    }),
    (&["REDACT"], Registered, |cx, m| with(cx, m, redact::redact)),
    // Services.
    (&["NS", "NICKSERV"], Registered, |cx, m| {
        with(cx, m, services::nickserv)
    }),
    (&["CS", "CHANSERV"], Registered, |cx, m| {
        with(cx, m, services::chanserv)
    }),
    // People.
    (&["WHO"], Registered, |cx, m| with(cx, m, who::who)),
    (&["WHOIS"], Registered, |cx, m| with(cx, m, who::whois)),
    (&["WHOWAS"], Registered, |cx, m| with(cx, m, who::whowas)),
    (&["USERHOST"], Registered, |cx, m| {
        with(cx, m, who::userhost)
    }),
    (&["ISON"], Registered, |cx, m| with(cx, m, who::ison)),
    (&["MONITOR"], Registered, |cx, m| {
        with(cx, m, monitor::monitor)
    }),
    (&["AWAY"], Registered, |cx, m| with(cx, m, user::away)),
    (&["SETNAME"], Registered, |cx, m| with(cx, m, user::setname)),
    (&["MARKREAD"], Registered, markread::markread),
    (&["BATCH"], Registered, multiline::batch),
    // Operators.
    (&["OPER"], Registered, |cx, m| with(cx, m, oper::oper)),
    (&["KILL"], Registered, |cx, m| with(cx, m, oper::kill)),
    (&["CHGHOST"], Registered, |cx, m| with(cx, m, oper::chghost)),
    (&["WALLOPS"], Registered, |cx, m| with(cx, m, oper::wallops)),
    // The server.
    (&["MOTD"], Registered, |cx, m| with(cx, m, info::motd)),
    (&["LUSERS"], Registered, |cx, m| with(cx, m, info::lusers)),
    (&["TIME"], Registered, |cx, m| with(cx, m, info::time)),
    (&["INFO"], Registered, |cx, m| with(cx, m, info::info)),
    (&["LINKS"], Registered, |cx, m| with(cx, m, info::links)),
    (&["HELP", "HELPOP"], Any, |cx, m| with(cx, m, help::help)),
    // History.
    (&["CHATHISTORY"], Registered, |cx, m| {
        with(cx, m, history::chathistory)
    }),
    (&["SEARCH"], Registered, |cx, m| {
        with(cx, m, history::search)
    }),
];

/// The handler of `command` (upper case) and when it may be used.
fn route(command: &str) -> Option<(Gate, Run)> {
    ROUTES
        .iter()
        .find(|(names, ..)| names.contains(&command))
        .map(|&(_, gate, run)| (gate, run))
}

/// Translates one client message into steps. Pure: the only effect is on
/// `st`, for facts that need no hub decision (the NICK and USER offered
/// before registration, CAP negotiation, a SASL exchange).
pub fn dispatch(st: &mut State, msg: &Message, cfg: &Config) -> Vec<Step> {
    let registered = st.is_registered();
    let mut cx = Context {
        st,
        cfg,
        steps: Vec::new(),
    };
    // A line of an open multiline batch is gathered, whatever its command.
    if registered && multiline::take_line(&mut cx, msg) {
        return cx.steps;
    }
    match route(&msg.command) {
        Some((Gate::Registered, _)) | None if !registered => {
            cx.reply(ERR_NOTREGISTERED, &["You have not registered"]);
        }
        Some((Gate::Unregistered, _)) if registered => {
            cx.reply(ERR_ALREADYREGISTERED, &["You may not reregister"]);
        }
        Some((_, run)) => run(&mut cx, msg),
        None => cx.reply(ERR_UNKNOWNCOMMAND, &[echo(&msg.command), "Unknown command"]),
    }
    cx.steps
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use crate::irc::handlers::test_support::*;
    use crate::irc::help;
    use crate::irc::state::State;
    use crate::irc::step::Step;

    #[test]
    fn before_registration() {
        let mut st = State::default();
        for line in ["JOIN #a", "PRIVMSG #a :hi", "LIST", "WHOIS x", "FOO"] {
            let steps = run(&mut st, line);
            assert_eq!(steps.len(), 1, "{line}");
            assert_eq!(
                shown(&steps[0]),
                ":chatroom 451 * :You have not registered\r\n"
            );
        }
        assert_eq!(run(&mut st, "PASS secret"), vec![]);
        let steps = run(&mut st, "PING :tok en");
        assert_eq!(
            steps,
            vec![Step::Raw(Bytes::from_static(
                b":chatroom PONG chatroom :tok en\r\n"
            ))]
        );
        assert_eq!(run(&mut st, "PONG :x"), vec![]);
        // A token as long as a line may be: the PONG stays within 512 bytes.
        let long = format!("PING {}", "x".repeat(505));
        match &run(&mut st, &long)[..] {
            [Step::Raw(b)] => {
                assert_eq!(b.len(), 512);
                assert!(b.ends_with(b"xxx\r\n"));
            }
            other => panic!("{other:?}"),
        }
        let steps = run(&mut st, "USER bob");
        assert!(shown(&steps[0]).starts_with(":chatroom 461 * USER :"));
        assert_eq!(run(&mut st, "QUIT"), vec![Step::Quit("Client quit".into())]);
    }

    #[test]
    fn echoed_input_is_cut() {
        let mut st = registered_state();
        let long = "X".repeat(300);
        let out = shown(&run(&mut st, &long)[0]);
        assert!(out.len() < 200, "{out}");
    }

    #[test]
    fn every_command_has_help_and_every_help_a_command() {
        for (names, ..) in super::ROUTES {
            for name in *names {
                assert!(help::topic(name).is_some(), "no help on {name}");
            }
        }
        for t in help::TOPICS {
            assert!(super::route(t.name).is_some(), "help on {}", t.name);
        }
        for alias in help::aliases() {
            assert!(super::route(alias).is_some(), "help on {alias}");
        }
    }

    #[test]
    fn unknown_commands_after_registration() {
        let mut st = registered_state();
        assert!(shown(&run(&mut st, "FROB x")[0]).contains(" 421 * FROB :Unknown command"));
    }
}
