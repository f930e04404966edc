//! HELP and HELPOP: the help texts as 704/705/706 (Modern "HELP"), the
//! index without a subject, 524 for a subject there is no help on.
//!
//! The texts are `irc::help`'s; this handler only frames them. Must not
//! hold any text of its own beyond the frame.

use super::args::{Args, Missing, Params};
use super::context::Context;
use crate::irc::help;
use crate::irc::numeric::{ERR_HELPNOTFOUND, RPL_ENDOFHELP, RPL_HELPSTART, RPL_HELPTXT};
use crate::irc::step::echo;

/// `HELP [<subject>]`: the first parameter is the subject.
pub struct Subject<'m>(Option<&'m str>);

impl<'m> Args<'m> for Subject<'m> {
    fn parse(p: &mut Params<'m>) -> Result<Subject<'m>, Missing> {
        Ok(Subject(p.nonempty()))
    }
}

pub fn help(cx: &mut Context<'_>, Subject(subject): Subject<'_>) {
    let (subject, lines): (&str, Vec<String>) = match subject {
        None => (help::INDEX_SUBJECT, help::index()),
        Some(wanted) => match help::topic(wanted) {
            Some(t) => (t.name, t.lines.iter().map(|l| l.to_string()).collect()),
            None => {
                cx.reply(
                    ERR_HELPNOTFOUND,
                    &[echo(wanted), "No help available on this topic"],
                );
                return;
            }
        },
    };
    let mut lines = lines.into_iter();
    let first = lines.next().unwrap_or_default();
    cx.reply(RPL_HELPSTART, &[subject, &first]);
    for line in lines {
        // An empty trailing parameter would read as none to some clients.
        let line = if line.is_empty() { " " } else { &line };
        cx.reply(RPL_HELPTXT, &[subject, line]);
    }
    cx.reply(RPL_ENDOFHELP, &[subject, "End of /HELP"]);
}

#[cfg(test)]
mod tests {
    use crate::irc::handlers::test_support::*;
    use crate::irc::help;

    fn codes(lines: &[String]) -> Vec<&str> {
        lines
            .iter()
            .map(|l| l.split(' ').nth(1).unwrap_or(""))
            .collect()
    }

    fn answer(line: &str) -> Vec<String> {
        run(&mut registered_state(), line)
            .iter()
            .map(shown)
            .collect()
    }

    #[test]
    fn no_subject_gives_the_index() {
        for command in ["HELP", "HELPOP", "help"] {
            let got = answer(command);
            let n = got.len();
            assert!(n >= 4, "{got:?}");
            assert_eq!(codes(&got)[0], "704");
            assert!(codes(&got)[1..n - 1].iter().all(|c| *c == "705"), "{got:?}");
            assert_eq!(codes(&got)[n - 1], "706");
            assert!(got[0].starts_with(":chatroom 704 * index :** chatroom help **"));
            assert!(got.iter().any(|l| l.contains("PRIVMSG")), "{got:?}");
        }
    }

    #[test]
    fn a_command_gives_its_text() {
        let got = answer("HELP privmsg");
        let t = help::topic("PRIVMSG").expect("topic");
        assert_eq!(got.len(), t.lines.len() + 1);
        assert_eq!(
            got[0],
            format!(":chatroom 704 * PRIVMSG :{}\r\n", t.lines[0])
        );
        assert_eq!(
            got[1],
            format!(":chatroom 705 * PRIVMSG :{}\r\n", t.lines[1])
        );
        assert_eq!(
            got.last().map(String::as_str),
            Some(":chatroom 706 * PRIVMSG :End of /HELP\r\n")
        );
        // Aliases answer with their command's help.
        assert!(answer("HELPOP ns")[0].starts_with(":chatroom 704 * NICKSERV :"));
    }

    #[test]
    fn an_unknown_subject_gets_524_alone() {
        assert_eq!(
            answer("HELP THISISNOTACOMMAND"),
            [":chatroom 524 * THISISNOTACOMMAND :No help available on this topic\r\n"]
        );
    }
}
