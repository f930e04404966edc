//! WHO (and WHOX), WHOIS, WHOWAS, USERHOST and ISON: asking about people.
//!
//! Each becomes hub questions plus, where the reply must be shaped here,
//! notes for the renderer: WHOX's fields, the end of a WHOIS that found
//! nobody, and the brackets within which the renderer folds WHOIS answers
//! into one USERHOST or ISON reply. Must not decide who is visible (the
//! hub does) nor word any reply (the renderer does).

use chatroom_core::Command;

use super::args::{Args, Missing, Params};
use super::context::Context;
use crate::irc::limits::TARGMAX;
use crate::irc::local::Local;
use crate::irc::numeric::*;
use crate::irc::step::echo;

/// `WHO <mask> [%<fields>[,<token>]]`.
pub struct Who<'m> {
    /// Empty when none was given.
    mask: &'m str,
    /// WHOX's `%fields,token`, if given.
    whox: Option<&'m str>,
}

impl<'m> Args<'m> for Who<'m> {
    fn parse(p: &mut Params<'m>) -> Result<Who<'m>, Missing> {
        Ok(Who {
            mask: p.optional(),
            whox: p.optional().strip_prefix('%'),
        })
    }
}

pub fn who(cx: &mut Context<'_>, Who { mask, whox }: Who<'_>) {
    if mask.is_empty() {
        cx.reply(RPL_ENDOFWHO, &["*", "End of /WHO list."]);
        return;
    }
    // WHOX: `WHO mask %fields[,token]`.
    if let Some(spec) = whox {
        let (fields, token) = spec.split_once(',').unwrap_or((spec, ""));
        // The token is echoed: keep it to a short plain word.
        let token: String = token
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(3)
            .collect();
        cx.note(Local::Whox {
            fields: fields.chars().take(16).collect(),
            token,
        });
    }
    cx.send(Command::Who(mask.into()));
}

/// `WHOIS [<server>] <nick>{,<nick>}`: the nicknames are the last
/// parameter.
pub struct Whois<'m> {
    /// Empty when none were given.
    nicks: &'m str,
}

impl<'m> Args<'m> for Whois<'m> {
    fn parse(p: &mut Params<'m>) -> Result<Whois<'m>, Missing> {
        Ok(Whois { nicks: p.last() })
    }
}

pub fn whois(cx: &mut Context<'_>, Whois { nicks }: Whois<'_>) {
    if nicks.is_empty() {
        cx.reply(ERR_NONICKNAMEGIVEN, &["No nickname given"]);
        return;
    }
    for nick in nicks.split(',').filter(|n| !n.is_empty()).take(TARGMAX) {
        // A 401 is followed by the end-of-WHOIS line too.
        cx.send(Command::Whois(nick.to_string()));
        cx.note(Local::WhoisEnd(echo(nick).to_string()));
    }
}

/// `WHOWAS <nick>{,<nick>} [<count>]`.
pub struct Whowas<'m> {
    /// Empty when none were given.
    nicks: &'m str,
    /// A count that is not a positive number means "all" (0).
    count: usize,
}

impl<'m> Args<'m> for Whowas<'m> {
    fn parse(p: &mut Params<'m>) -> Result<Whowas<'m>, Missing> {
        Ok(Whowas {
            nicks: p.optional(),
            count: p.optional().parse::<usize>().unwrap_or(0),
        })
    }
}

pub fn whowas(cx: &mut Context<'_>, Whowas { nicks, count }: Whowas<'_>) {
    if nicks.is_empty() {
        cx.reply(ERR_NONICKNAMEGIVEN, &["No nickname given"]);
        return;
    }
    for nick in nicks.split(',').filter(|n| !n.is_empty()).take(TARGMAX) {
        cx.send(Command::Whowas {
            nick: nick.to_string(),
            count,
        });
    }
}

/// `USERHOST <nick> [<nick>...]` and `ISON <nick> [<nick>...]`: the
/// nicknames may come as separate parameters or space-separated in one.
pub struct Lookup<'m> {
    params: &'m [String],
}

impl<'m> Args<'m> for Lookup<'m> {
    fn parse(p: &mut Params<'m>) -> Result<Lookup<'m>, Missing> {
        let params = p.rest();
        if params.first().is_none_or(|first| first.is_empty()) {
            return Err(Missing);
        }
        Ok(Lookup { params })
    }
}

pub fn userhost(cx: &mut Context<'_>, lookup: Lookup<'_>) {
    // USERHOST takes at most five (RFC 2812 4.8).
    look_up(cx, lookup, 5, Local::UserhostEnd);
}

pub fn ison(cx: &mut Context<'_>, lookup: Lookup<'_>) {
    look_up(cx, lookup, usize::MAX, Local::IsonEnd);
}

/// Asked of the hub as WHOIS; the renderer folds the answers into one
/// reply, ended by `end`.
fn look_up(cx: &mut Context<'_>, Lookup { params }: Lookup<'_>, most: usize, end: Local) {
    let nicks: Vec<&str> = params
        .iter()
        .flat_map(|p| p.split(' '))
        .filter(|n| !n.is_empty())
        .take(most)
        .collect();
    cx.note(Local::QuietBegin);
    for nick in nicks {
        cx.send(Command::Whois(nick.to_string()));
    }
    cx.note(end);
}

#[cfg(test)]
mod tests {
    use chatroom_core::Command;

    use crate::irc::handlers::test_support::*;
    use crate::irc::local::Local;
    use crate::irc::step::Step;

    #[test]
    fn userhost_and_ison() {
        let mut st = registered_state();
        assert_eq!(
            run(&mut st, "USERHOST a b c d e f"),
            vec![
                local(Local::QuietBegin),
                Step::Send(Command::Whois("a".into())),
                Step::Send(Command::Whois("b".into())),
                Step::Send(Command::Whois("c".into())),
                Step::Send(Command::Whois("d".into())),
                Step::Send(Command::Whois("e".into())),
                local(Local::UserhostEnd),
            ]
        );
        assert_eq!(
            run(&mut st, "ISON :a b"),
            vec![
                local(Local::QuietBegin),
                Step::Send(Command::Whois("a".into())),
                Step::Send(Command::Whois("b".into())),
                local(Local::IsonEnd),
            ]
        );
        assert!(shown(&run(&mut st, "ISON")[0]).contains(" 461 "));
    }

    #[test]
    fn whox_request_is_noted_before_the_who() {
        let mut st = registered_state();
        assert_eq!(
            run(&mut st, "WHO #a %tnf,42"),
            vec![
                local(Local::Whox {
                    fields: "tnf".into(),
                    token: "42".into()
                }),
                Step::Send(Command::Who("#a".into()))
            ]
        );
    }

    #[test]
    fn queries_who_whois_whowas() {
        let mut st = registered_state();
        assert_eq!(
            run(&mut st, "WHO #a o"),
            vec![Step::Send(Command::Who("#a".into()))]
        );
        assert!(shown(&run(&mut st, "WHO")[0]).contains(" 315 * * :"));
        assert_eq!(
            run(&mut st, "WHOIS srv alice,carol"),
            vec![
                Step::Send(Command::Whois("alice".into())),
                Step::Note(Local::WhoisEnd("alice".into())),
                Step::Send(Command::Whois("carol".into())),
                Step::Note(Local::WhoisEnd("carol".into())),
            ]
        );
        assert!(shown(&run(&mut st, "WHOIS")[0]).contains(" 431 "));
        assert_eq!(
            run(&mut st, "WHOWAS zed"),
            vec![Step::Send(Command::Whowas {
                nick: "zed".into(),
                count: 0
            })]
        );
        assert_eq!(
            run(&mut st, "WHOWAS alice 2"),
            vec![Step::Send(Command::Whowas {
                nick: "alice".into(),
                count: 2
            })]
        );
    }
}
