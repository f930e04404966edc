//! Typed arguments for the command handlers: each handler declares what it
//! takes from a message as a small struct implementing [`Args`], parsed
//! here from the message's parameters in one place. A message with too few
//! parameters (or one that does not parse) never reaches its handler: the
//! dispatcher answers ERR_NEEDMOREPARAMS ([`need_more_params`]) instead.
//!
//! Must not hold any command's rules beyond what its parameters are; the
//! handlers decide what the parameters mean.

use crate::irc::message::Message;
use crate::irc::numeric::ERR_NEEDMOREPARAMS;
use crate::irc::step::{Step, echo, reply};

/// Too few parameters, or one that does not parse: ERR_NEEDMOREPARAMS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Missing;

/// What a handler takes from a message.
pub trait Args<'m>: Sized {
    fn parse(p: &mut Params<'m>) -> Result<Self, Missing>;
}

/// ERR_NEEDMOREPARAMS (461) naming `command`.
pub fn need_more_params(command: &str) -> Step {
    reply(
        ERR_NEEDMOREPARAMS,
        &[echo(command), "Not enough parameters"],
    )
}

/// A message's parameters, taken in order.
///
/// Only the last parameter of a message can be empty (a trailing `:`);
/// "required" means present and not empty, which is what IRC servers take
/// as given.
#[derive(Debug)]
pub struct Params<'m> {
    msg: &'m Message,
    next: usize,
}

impl<'m> Params<'m> {
    pub fn new(msg: &'m Message) -> Params<'m> {
        Params { msg, next: 0 }
    }

    /// The next parameter as it is, if there is one (an empty trailing
    /// one included).
    pub fn maybe(&mut self) -> Option<&'m str> {
        let p = self.msg.params.get(self.next)?;
        self.next += 1;
        Some(p)
    }

    /// The next parameter, which must be there; it may be empty.
    pub fn present(&mut self) -> Result<&'m str, Missing> {
        self.maybe().ok_or(Missing)
    }

    /// The next parameter, which must be there and not be empty.
    pub fn required(&mut self) -> Result<&'m str, Missing> {
        self.maybe().filter(|p| !p.is_empty()).ok_or(Missing)
    }

    /// The next parameter, or "" when there is none.
    pub fn optional(&mut self) -> &'m str {
        self.maybe().unwrap_or("")
    }

    /// The next parameter if there is one and it is not empty.
    pub fn nonempty(&mut self) -> Option<&'m str> {
        self.maybe().filter(|p| !p.is_empty())
    }

    /// Every parameter not taken yet.
    pub fn rest(&mut self) -> &'m [String] {
        let rest = self.msg.params.get(self.next..).unwrap_or_default();
        self.next = self.msg.params.len();
        rest
    }

    /// The last parameter, or "" when there is none (`WHOIS [server]
    /// nick`).
    pub fn last(&mut self) -> &'m str {
        self.next = self.msg.params.len();
        self.msg.params.last().map(String::as_str).unwrap_or("")
    }

    /// The message's IRCv3 tags.
    pub fn tags(&self) -> &'m [(String, String)] {
        &self.msg.tags
    }

    /// The whole message, for commands whose syntax is parsed by a module
    /// of its own (CAP, CHATHISTORY, the account commands).
    pub fn message(&self) -> &'m Message {
        self.msg
    }
}

/// No parameters needed (any given are ignored).
impl Args<'_> for () {
    fn parse(_: &mut Params<'_>) -> Result<(), Missing> {
        Ok(())
    }
}

/// The whole message: the handler's own module parses it and answers
/// its own refusals.
impl<'m> Args<'m> for &'m Message {
    fn parse(p: &mut Params<'m>) -> Result<&'m Message, Missing> {
        Ok(p.message())
    }
}

/// A comma-separated list with at least one non-empty item (`a,,b` is
/// `a`, `b`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommaList<'m>(pub Vec<&'m str>);

impl<'m> CommaList<'m> {
    /// The items of `s`, empty ones left out; possibly none.
    pub fn of(s: &'m str) -> CommaList<'m> {
        CommaList(s.split(',').filter(|t| !t.is_empty()).collect())
    }
}

impl<'m> Args<'m> for CommaList<'m> {
    fn parse(p: &mut Params<'m>) -> Result<CommaList<'m>, Missing> {
        let list = CommaList::of(p.optional());
        if list.0.is_empty() {
            return Err(Missing);
        }
        Ok(list)
    }
}

/// Everything from here on joined by spaces (`CS REGISTER #a` as one
/// text), possibly empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Words(pub String);

impl Args<'_> for Words {
    fn parse(p: &mut Params<'_>) -> Result<Words, Missing> {
        Ok(Words(p.rest().join(" ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(line: &str) -> Message {
        Message::parse(line).expect("parses")
    }

    #[test]
    fn required_present_and_optional_parameters() {
        let m = params("X a :");
        let mut p = Params::new(&m);
        assert_eq!(p.required(), Ok("a"));
        assert_eq!(p.required(), Err(Missing), "an empty trailing is missing");
        let mut p = Params::new(&m);
        assert_eq!(p.present(), Ok("a"));
        assert_eq!(p.present(), Ok(""), "an empty trailing is present");
        assert_eq!(p.present(), Err(Missing));
        assert_eq!(p.optional(), "");
        assert_eq!(p.nonempty(), None);
        let m = params("WHOIS srv alice");
        let mut p = Params::new(&m);
        assert_eq!(p.last(), "alice");
        assert_eq!(p.rest(), &[] as &[String]);
    }

    #[test]
    fn lists_need_one_item() {
        let m = params("TAGMSG ,,");
        assert_eq!(CommaList::parse(&mut Params::new(&m)), Err(Missing));
        let m = params("TAGMSG a,,b");
        assert_eq!(
            CommaList::parse(&mut Params::new(&m)),
            Ok(CommaList(vec!["a", "b"]))
        );
        let m = params("NS identify  pw");
        assert_eq!(
            Words::parse(&mut Params::new(&m)),
            Ok(Words("identify pw".into()))
        );
    }
}
