//! Text on its way to a terminal: what netcat and telnet users, the
//! tutorial clients and our terminal client print as it comes. A message
//! may carry anything a sender typed, and a terminal obeys control
//! sequences: `ESC [2J` clears the screen, `ESC ]0;...BEL` retitles the
//! window, others move the cursor to overwrite what was said before. So
//! whatever a terminal is shown passes through [`for_terminal`]: IRC's
//! formatting codes (bold, colours, italics...) are removed, and every
//! other control character is replaced by a visible escape, so that a
//! message can neither steer the terminal nor pass for something else, and
//! an attempt is seen for what it is.
//!
//! IRC clients get the text as it was sent, formatting included: they
//! interpret it themselves. Must not be used for anything but display (it
//! changes lengths; never for what is stored or relayed).

use std::borrow::Cow;

/// `text` made safe to print: IRC formatting removed; C0 controls as
/// caret notation (`^[` for ESC, `^G` for BEL), DEL as `^?`, C1 controls
/// (U+0080–U+009F, which some terminals take as CSI and friends) as
/// `<U+009B>`; a tab becomes a space. A newline is kept when `lines` is
/// true (a renderer's own line breaks; the hub has already turned those a
/// sender typed into spaces), and shown as `^J` otherwise.
pub fn for_terminal(text: &str, lines: bool) -> Cow<'_, str> {
    let clean = text
        .chars()
        .all(|c| !(c.is_control() || is_format(c)) || (lines && c == '\n'));
    if clean {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' if lines => out.push('\n'),
            '\t' => out.push(' '),
            // ^C colours: up to two digits, optionally `,` and two more.
            '\u{3}' => {
                take_digits(&mut chars, 2, |c| c.is_ascii_digit());
                let mut look = chars.clone();
                if look.next() == Some(',') && look.peek().is_some_and(char::is_ascii_digit) {
                    chars.next();
                    take_digits(&mut chars, 2, |c| c.is_ascii_digit());
                }
            }
            // ^D hex colours: up to six hex digits.
            '\u{4}' => take_digits(&mut chars, 6, |c| c.is_ascii_hexdigit()),
            c if is_format(c) => {}
            c if (c as u32) < 0x20 => {
                out.push('^');
                out.push(char::from(b'@' + c as u8));
            }
            '\u{7f}' => out.push_str("^?"),
            c if c.is_control() => out.push_str(&format!("<U+{:04X}>", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// IRC's formatting codes other than the colours: bold, italics,
/// underline, strikethrough, monospace, reverse, reset.
fn is_format(c: char) -> bool {
    matches!(
        c,
        '\u{2}'
            | '\u{3}'
            | '\u{4}'
            | '\u{f}'
            | '\u{11}'
            | '\u{16}'
            | '\u{1d}'
            | '\u{1e}'
            | '\u{1f}'
    )
}

fn take_digits(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    most: usize,
    digit: impl Fn(&char) -> bool,
) {
    for _ in 0..most {
        if chars.peek().is_some_and(&digit) {
            chars.next();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed_untouched() {
        assert!(matches!(
            for_terminal("hi there, ça va? 👋", false),
            Cow::Borrowed(_)
        ));
        assert!(matches!(for_terminal("two\nlines", true), Cow::Borrowed(_)));
    }

    #[test]
    fn escape_sequences_become_visible() {
        assert_eq!(for_terminal("\x1b[2Jgone", false), "^[[2Jgone");
        assert_eq!(for_terminal("\x1b]0;owned\x07", false), "^[]0;owned^G");
        assert_eq!(for_terminal("a\u{9b}2Jb", false), "a<U+009B>2Jb");
        assert_eq!(for_terminal("del\x7f", false), "del^?");
        assert_eq!(for_terminal("nul\0 cr\r", false), "nul^@ cr^M");
        assert_eq!(for_terminal("a\nb", false), "a^Jb");
        assert_eq!(for_terminal("a\nb", true), "a\nb");
        assert_eq!(for_terminal("tab\there", true), "tab here");
    }

    #[test]
    fn irc_formatting_is_removed() {
        assert_eq!(
            for_terminal("\x02bold\x02 \x1ditalic\x0f", false),
            "bold italic"
        );
        assert_eq!(
            for_terminal("\x0304,12red on blue\x03", false),
            "red on blue"
        );
        assert_eq!(for_terminal("\x034,text", false), ",text");
        assert_eq!(for_terminal("\x04ff0000hex\x04", false), "hex");
        assert_eq!(for_terminal("\x03", false), "");
    }

    #[test]
    fn nothing_that_steers_a_terminal_survives() {
        // Every control character, alone and inside text.
        for c in (0u32..0x20).chain(0x7f..0xa0) {
            let Some(c) = char::from_u32(c) else { continue };
            let text = format!("x{c}y");
            let shown = for_terminal(&text, true);
            let bad = shown.chars().any(|s| s.is_control() && s != '\n');
            assert!(!bad, "U+{:04X} came through: {shown:?}", c as u32);
        }
    }
}
