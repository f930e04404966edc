//! IRC message syntax: messages built from valid parts survive writing and
//! parsing; parsing survives anything; tag values survive escaping.
//!
//! Must not depend on what any command means.

use proptest::prelude::*;

use chatroom_proto::irc::message::{Message, ParseError, escape_tag, unescape_tag};

/// Any text without the three characters no IRC line may hold.
fn no_breaks(max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(
        any::<char>().prop_filter("no CR, LF or NUL", |c| !matches!(c, '\r' | '\n' | '\0')),
        0..max,
    )
    .prop_map(|v| v.into_iter().collect())
}

/// A word: no space either, never empty.
fn word(max: usize) -> impl Strategy<Value = String> {
    no_breaks(max)
        .prop_map(|s| s.replace(' ', "_"))
        .prop_filter("not empty", |s| !s.is_empty())
}

fn tag_key() -> impl Strategy<Value = String> {
    "\\+?([a-z0-9-]{1,6}(\\.[a-z0-9-]{1,6})*/)?[a-zA-Z0-9-]{1,12}"
}

/// A message as a client or server would build one: unique tag keys, a
/// source and middle parameters that are single words not starting with
/// `:`, an upper-case command, and a last parameter that may be anything
/// a line can hold.
fn message() -> impl Strategy<Value = Message> {
    let tags = proptest::collection::btree_map(tag_key(), no_breaks(20), 0..4);
    let source = proptest::option::of(word(20));
    let command = prop_oneof!["[A-Z]{1,12}", "[0-9]{3}"];
    let middle = proptest::collection::vec(
        word(12).prop_map(|w| {
            w.strip_prefix(':')
                .map_or(w.clone(), |rest| format!("_{rest}"))
        }),
        0..6,
    );
    let last = proptest::option::of(no_breaks(40));
    (tags, source, command, middle, last).prop_map(|(tags, source, command, middle, last)| {
        let mut params = middle;
        params.extend(last);
        Message {
            tags: tags.into_iter().collect(),
            source,
            command,
            params,
        }
    })
}

proptest! {
    #![proptest_config(crate::config(512))]

    #[test]
    fn a_message_from_valid_parts_round_trips(m in message()) {
        let line = m.to_string();
        prop_assert!(!line.contains(['\r', '\n', '\0']), "{line:?}");
        prop_assert_eq!(Message::parse(&line), Ok(m.clone()), "{:?}", line);
        // With the line ending it was sent with, too.
        prop_assert_eq!(Message::parse(&format!("{line}\r\n")), Ok(m));
    }

    #[test]
    fn parsing_any_text_never_panics_and_is_stable(s in any::<String>()) {
        // What parses once, written out and parsed again, is the same
        // message: the writer never produces a line that means something
        // else to the next hop.
        if let Ok(m) = Message::parse(&s) {
            prop_assert!(!m.command.is_empty());
            prop_assert!(m.params.iter().rev().skip(1).all(|p| !p.is_empty() && !p.contains(' ')));
            let again = Message::parse(&m.to_string());
            prop_assert_eq!(again, Ok(m), "from {:?}", s);
        }
    }

    #[test]
    fn parsing_lines_of_irc_like_bytes_never_panics(
        parts in proptest::collection::vec(
            prop_oneof![
                Just("@".to_string()), Just(":".to_string()), Just(" ".to_string()),
                Just(";".to_string()), Just("=".to_string()), Just("\\".to_string()),
                Just("\r\n".to_string()), "[a-zA-Z0-9]{1,4}", any::<String>(),
            ],
            0..24,
        )
    ) {
        let s: String = parts.concat();
        match Message::parse(&s) {
            Ok(m) => prop_assert!(!m.command.is_empty()),
            Err(ParseError::Empty) => prop_assert!(s.trim_matches([' ', '\r', '\n']).is_empty()),
            Err(ParseError::NoCommand) => {}
        }
    }

    #[test]
    fn tag_values_survive_escaping(v in any::<String>()) {
        let mut escaped = String::new();
        escape_tag(&v, &mut escaped).expect("a String takes every write");
        prop_assert!(!escaped.contains([' ', ';', '\r', '\n', '\0']), "{escaped:?}");
        // Everything but NUL, which no line can carry, comes back.
        prop_assert_eq!(unescape_tag(&escaped), v.replace('\0', ""));
    }

    #[test]
    fn unescaping_any_text_never_panics(v in any::<String>()) {
        let once = unescape_tag(&v);
        prop_assert!(once.chars().count() <= v.chars().count());
    }
}
