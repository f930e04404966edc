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

/// Removes IRC formatting codes and every other control character, so a
/// hostile line cannot move the cursor or recolour the terminal.
pub fn clean_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{3}' => {
                // ^C fg[,bg] colours: up to two digits each.
                for _ in 0..2 {
                    if chars.peek().is_some_and(char::is_ascii_digit) {
                        chars.next();
                    }
                }
                let mut look = chars.clone();
                if look.next() == Some(',') && look.peek().is_some_and(char::is_ascii_digit) {
                    chars.next();
                    for _ in 0..2 {
                        if chars.peek().is_some_and(char::is_ascii_digit) {
                            chars.next();
                        }
                    }
                }
            }
            '\u{4}' => {
                for _ in 0..6 {
                    if chars.peek().is_some_and(char::is_ascii_hexdigit) {
                        chars.next();
                    }
                }
            }
            '\t' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
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
    fn clean_text_strips_formatting_and_controls() {
        assert_eq!(
            clean_text("\u{3}04,12red\u{3} \u{2}b\u{f} \u{1b}[2Jx\ty"),
            "red b [2Jx y"
        );
        assert_eq!(clean_text("\u{3}5,x"), ",x");
    }
}
