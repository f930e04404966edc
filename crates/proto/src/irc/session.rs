//! The reading side of an IRC connection, as the server's session loop
//! sees it: the line checks made before a line is parsed (length, tags,
//! UTF-8, stray CR and NUL), [`translate`] from one parsed message to the
//! [`Step`]s the loop carries out, and the liveness check's PING. The
//! check itself (PING after 90 s of silence, give up after another 90 s)
//! is kept by the server's deadline task (`runtime::deadlines`); the
//! session only notes that it heard its client.
//!
//! Translation is pure: [`translate`] hands the message to the command
//! handlers' dispatcher (`handlers`), which updates the session [`State`]
//! and returns steps; the server's async loop only executes them. That
//! keeps every IRC rule testable without sockets.
//!
//! IRCv3: `CAP` negotiation holds registration back and tells the renderer
//! what was enabled; lines may carry up to 4096 bytes of tags (`@` and
//! the space after them included) besides the 512 of the message; lines that are not UTF-8 are refused (`utf8only`); a
//! `label` tag brackets the command's replies for the renderer
//! ([`State::label_of`]), and the whole labeled command reaches the hub as
//! one group so that nothing else lands inside its response.
//!
//! Must not decide what the hub decides (who may join, send, take a
//! nickname, change a mode) nor format events (the renderer does, including
//! the numerics queued here as `Local` instructions, so that they carry
//! the nickname in effect when they are written). The one check made on
//! this side is the operator password (`OPER`), because argon2 is too slow
//! for the hub's task: the server's loop runs it on a blocking thread and
//! the hub is told only the outcome.

use std::borrow::Cow;
use std::time::Duration;

use bytes::Bytes;

use chatroom_config::Config;

use super::handlers;
use super::local::Local;
use super::message::Message;

pub use super::handlers::cap::offer;
pub use super::limits::{MAX_TAG_BYTES, TARGMAX};
pub use super::state::State;
pub use super::step::{Step, echo, input_too_long};

/// Silence after which the server checks the client is still there (PING),
/// and again after which it gives up.
pub const PING_AFTER: Duration = Duration::from_secs(90);

/// The liveness check of IRC connections, kept for all of them by the
/// server's deadline task: a PING after [`PING_AFTER`] of silence, and the
/// end after as long again without an answer.
pub fn liveness(cfg: &Config) -> crate::Liveness {
    let ping = format!("PING :{}\r\n", cfg.server_name);
    crate::Liveness {
        after: PING_AFTER,
        probe: crate::Envelope::new(Bytes::from(ping)),
        reason: format!("Ping timeout: {} seconds", 2 * PING_AFTER.as_secs()),
    }
}

/// Translates one client message. Pure: the only effect is on `st`, for
/// facts that need no hub decision (the NICK and USER offered before
/// registration, CAP negotiation).
pub fn translate(st: &mut State, msg: &Message, cfg: &Config) -> Vec<Step> {
    handlers::dispatch(st, msg, cfg)
}

/// Makes a decoded line safe to parse: a lone CR or a NUL (which RFC 1459
/// forbids inside a message) becomes a space, so that nothing echoed back
/// can split a line on the client's side.
pub fn clean_line(line: &str) -> Cow<'_, str> {
    if line.contains(['\r', '\0']) {
        Cow::Owned(line.replace(['\r', '\0'], " "))
    } else {
        Cow::Borrowed(line)
    }
}

/// Over the limits: more than [`MAX_TAG_BYTES`] of tags (4094 bytes of tag
/// data between the `@` and the space, counted as sent, every tag
/// included), or more than `max` bytes of message after them.
pub fn too_long(line: &[u8], max: usize) -> bool {
    let tags = match line.first() {
        Some(b'@') => line
            .iter()
            .position(|&b| b == b' ')
            .map_or(line.len(), |i| i + 1),
        _ => 0,
    };
    tags > MAX_TAG_BYTES || line.len() - tags > max
}

/// utf8only: a line that is not UTF-8 is refused, never relayed with
/// replacement characters standing in for what the sender meant.
pub fn not_utf8(line: &[u8]) -> Step {
    let lossy = String::from_utf8_lossy(line);
    let command = Message::parse(&lossy)
        .ok()
        .map(|m| m.command)
        .filter(|c| !c.is_empty() && c.len() <= 32 && c.bytes().all(|b| b.is_ascii_alphanumeric()))
        .unwrap_or_else(|| "*".to_string());
    Step::Note(Local::fail(
        &command,
        "INVALID_UTF8",
        &[],
        "Message rejected: it is not valid UTF-8",
    ))
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;
    use crate::irc::handlers::test_support::*;
    use crate::irc::limits::MAX_TAG_BYTES;
    use crate::irc::local::Local;
    use crate::irc::step::Step;

    #[test]
    fn lone_cr_and_nul_become_spaces() {
        assert_eq!(clean_line("PRIVMSG #a :x\ry\0z"), "PRIVMSG #a :x y z");
        assert!(matches!(clean_line("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn line_limits_count_tags_and_message_apart() {
        let tags = format!("@a={} ", "v".repeat(MAX_TAG_BYTES - 4));
        assert_eq!(tags.len(), MAX_TAG_BYTES);
        assert!(!too_long(format!("{tags}PING x").as_bytes(), 510));
        assert!(too_long(format!("@b{tags}PING x").as_bytes(), 510));
        assert!(!too_long("P".repeat(510).as_bytes(), 510));
        assert!(too_long("P".repeat(511).as_bytes(), 510));
        assert!(too_long(
            format!("@a=b {}", "P".repeat(511)).as_bytes(),
            510
        ));
    }

    #[test]
    fn every_tag_counts_toward_the_4094_bytes_of_tag_data() {
        // message-tags: a client may send 4094 bytes between `@` and the
        // space, server tags (which are then dropped) included.
        let at_limit = format!("@foo=bar;+baz={} TAGMSG #test", "a".repeat(4081));
        assert_eq!(at_limit.find(' '), Some(4095));
        assert!(!too_long(at_limit.as_bytes(), 510));
        let over = format!("@foo=bar;+baz={} TAGMSG #test", "a".repeat(4082));
        assert!(too_long(over.as_bytes(), 510));
        let server_only = format!("@foo={} PING x", "b".repeat(4091));
        assert!(too_long(server_only.as_bytes(), 510));
    }

    #[test]
    fn invalid_utf8_is_refused_naming_the_command() {
        let step = not_utf8(b"PRIVMSG #a :caf\xff");
        assert!(
            shown(&step).starts_with(":chatroom FAIL PRIVMSG INVALID_UTF8 :"),
            "{step:?}"
        );
        assert_eq!(
            not_utf8(b"\xff\xfe"),
            Step::Note(Local::fail(
                "*",
                "INVALID_UTF8",
                &[],
                "Message rejected: it is not valid UTF-8"
            ))
        );
    }
}
