//! SEARCH and CHATHISTORY: questions to the history store.
//!
//! Both become steps that the server's session loop carries out through
//! the hub's check (is the asker in the room?) and the store.
//! CHATHISTORY's parameters and refusals (`FAIL CHATHISTORY ...`) are
//! `chathistory`'s. This handler must not decide who may read what nor
//! touch the store.

use super::args::{Args, Missing, Params};
use super::context::Context;
use crate::irc::chathistory;
use crate::irc::message::Message;
use crate::irc::step::Step;

/// `SEARCH #room :some words` or `SEARCH #room some words`.
pub struct Search<'m> {
    room: &'m str,
    words: String,
}

impl<'m> Args<'m> for Search<'m> {
    fn parse(p: &mut Params<'m>) -> Result<Search<'m>, Missing> {
        let room = p.required()?;
        let words = p.rest().join(" ");
        if words.trim().is_empty() {
            return Err(Missing);
        }
        Ok(Search { room, words })
    }
}

pub fn search(cx: &mut Context<'_>, Search { room, words }: Search<'_>) {
    cx.push(Step::Search {
        room: room.to_string(),
        words,
    });
}

/// `CHATHISTORY <subcommand> ...`: parsed by `chathistory`, which answers
/// its own refusals with the spec's FAIL replies.
pub fn chathistory(cx: &mut Context<'_>, msg: &Message) {
    match chathistory::parse(msg, cx.cfg.hub.nick_len) {
        Ok(req) => cx.push(Step::ChatHistory(req)),
        Err(fail) => cx.note(fail),
    }
}

#[cfg(test)]
mod tests {
    use crate::irc::handlers::test_support::*;
    use crate::irc::state::State;
    use crate::irc::step::Step;

    #[test]
    fn search_takes_a_room_and_words_with_or_without_a_colon() {
        let mut st = registered_state();
        let want = |room: &str, words: &str| {
            vec![Step::Search {
                room: room.into(),
                words: words.into(),
            }]
        };
        assert_eq!(
            run(&mut st, "SEARCH #lobby :pizza \"OR\" *"),
            want("#lobby", "pizza \"OR\" *")
        );
        assert_eq!(
            run(&mut st, "SEARCH #lobby pizza box"),
            want("#lobby", "pizza box")
        );
        for bad in [
            "SEARCH",
            "SEARCH #lobby",
            "SEARCH #lobby :",
            "SEARCH #lobby :   ",
        ] {
            let steps = run(&mut st, bad);
            assert_eq!(steps.len(), 1, "{bad}");
            assert!(shown(&steps[0]).contains(" 461 "), "{bad}: {steps:?}");
        }
        // Before registration it is refused like any other command.
        let mut fresh = State::default();
        let steps = run(&mut fresh, "SEARCH #lobby :x");
        assert!(shown(&steps[0]).contains(" 451 "), "{steps:?}");
    }
}
