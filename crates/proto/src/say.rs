//! What a person typed, as the hub commands that say it: one `Say` per
//! piece when the text is longer than the hub takes in one message, cut at
//! a space or a character boundary ([`crate::framing::split_text`]). For
//! the protocols without tags (line, tutorial dialects); IRC adds its own.
//!
//! Pure; must not decide where a message goes (the target is given).

use chatroom_core::{Command, MsgKind, SayTarget};

use crate::framing::split_text;

/// The commands that say `text` to `target`, each at most `max` bytes.
pub fn says(target: &SayTarget, kind: MsgKind, text: &str, max: usize) -> Vec<Command> {
    split_text(text, max)
        .into_iter()
        .map(|part| Command::Say {
            target: target.clone(),
            kind,
            text: part.into(),
            tags: Vec::new(),
        })
        .collect()
}
