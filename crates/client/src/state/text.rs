//! Text helpers for the state model: removing IRC formatting and control
//! characters from what the server sends, reading CTCP requests, and
//! showing lag.
//!
//! Pure functions over strings. They must not touch [`State`](super::State)
//! or know about buffers; anything that needs the server's rules (case
//! mapping, channel types) belongs to the model, and line framing and
//! splitting belong to `chatroom_proto::framing`.

use std::time::Duration;

/// `s` without formatting, or `None` when nothing is left of it.
pub(super) fn non_empty(s: &str) -> Option<String> {
    let s = clean_text(s);
    (!s.is_empty()).then_some(s)
}

/// Text from the server as the model keeps it: IRC formatting removed and
/// every other control character shown as a visible escape (`^[`), so a
/// hostile line can neither move the cursor nor recolour the terminal (the
/// rule is `chatroom_proto::terminal`'s, shared with the server's line
/// protocol).
pub fn clean_text(s: &str) -> String {
    chatroom_proto::terminal::for_terminal(s, false).into_owned()
}

/// Whether folded `text` holds one of the folded `words` as a whole word:
/// not inside a longer word or nick (`me` is not in `some` nor `me_`).
pub(super) fn has_word(text: &str, words: &[String]) -> bool {
    let part_of_word = |c: char| c.is_alphanumeric() || "-_[]\\`^{}|".contains(c);
    words.iter().filter(|w| !w.is_empty()).any(|w| {
        text.match_indices(w.as_str()).any(|(at, _)| {
            let before = text[..at].chars().next_back();
            let after = text[at + w.len()..].chars().next();
            !before.is_some_and(part_of_word) && !after.is_some_and(part_of_word)
        })
    })
}

/// `\x01CMD args\x01` → (CMD, args).
pub(super) fn parse_ctcp(text: &str) -> Option<(String, &str)> {
    let inner = text.strip_prefix('\u{1}')?;
    let inner = inner.strip_suffix('\u{1}').unwrap_or(inner);
    let (cmd, arg) = inner.split_once(' ').unwrap_or((inner, ""));
    Some((cmd.to_ascii_uppercase(), arg))
}

/// Lag as the status line and `/lag` show it: milliseconds under a second.
pub fn format_lag(lag: Duration) -> String {
    if lag < Duration::from_secs(1) {
        format!("{}ms", lag.as_millis())
    } else {
        format!("{:.1}s", lag.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_found_whole() {
        let w = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(has_word("hey me, look", &w(&["me"])));
        assert!(has_word("me: look", &w(&["me"])));
        assert!(has_word("@me", &w(&["me"])));
        assert!(!has_word("some text", &w(&["me"])));
        assert!(!has_word("me_ is another nick", &w(&["me"])));
        assert!(
            !has_word("ask [me]", &w(&["me"])),
            "brackets are nick characters"
        );
        assert!(has_word("pizza time", &w(&["me", "pizza"])));
        assert!(has_word("it's me", &w(&["me"])));
        assert!(!has_word("", &w(&["me"])));
        assert!(!has_word("anything", &w(&[""])));
    }

    #[test]
    fn clean_text_strips_formatting_and_shows_controls() {
        assert_eq!(
            clean_text("\u{3}04,12red\u{3} \u{2}b\u{f} \u{1b}[2Jx\ty"),
            "red b ^[[2Jx y"
        );
        assert_eq!(clean_text("\u{3}5,x"), ",x");
    }
}
