//! What a person typed, as the hub command that says it. For the
//! protocols without tags whose people type freely (line, tutorial
//! dialects): text longer than one message holds is split by the hub into
//! several (`Overflow::Split`), where the length a message may have is
//! known. IRC builds its own command.
//!
//! Pure; must not decide where a message goes (the target is given).

use chatroom_core::{Command, MsgKind, Overflow, SayTarget};

/// The command that says `text` to `target`, in as many messages as the
/// hub needs.
pub fn says(target: &SayTarget, kind: MsgKind, text: &str) -> Command {
    Command::Say {
        target: target.clone(),
        kind,
        text: text.into(),
        tags: Vec::new(),
        overflow: Overflow::Split,
    }
}
