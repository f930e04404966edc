//! Messages of several lines (IRCv3 `draft/multiline`): how one message's
//! text holds the lines its sender composed.
//!
//! A multi-line message is one message (one msgid, one history record)
//! whose text joins its lines with [`BREAK`] (`\n`: a line break the reader
//! sees) and with [`CONCAT`] (`\r`: where the sender split one long line
//! into two for transport, joined again for the reader). Keeping both marks
//! keeps the composition the sender chose, which the spec asks servers to
//! hand on; neither character can come from anyone's input otherwise (the
//! hub makes both spaces in every single-line text, see
//! [`crate::hub::clean_text`]).
//!
//! Every renderer that shows text must go through [`parts`] or
//! [`combined`]; the renderers' own guards make any CR or LF that reaches
//! a line harmless anyway (a space on IRC, a visible `^J` on the line
//! protocol). Pure: no I/O.

use std::borrow::Cow;

/// A line break in the message.
pub const BREAK: char = '\n';
/// A split of one line for transport, invisible to the reader.
pub const CONCAT: char = '\r';

/// Whether `text` holds more than one line as composed.
pub fn is_multi(text: &str) -> bool {
    text.contains([BREAK, CONCAT])
}

/// The lines as the sender composed them: each with whether it continues
/// the one before it (`true`: joined without a break).
pub fn parts(text: &str) -> impl Iterator<Item = (&str, bool)> {
    let mut rest = Some(text);
    let mut concat = false;
    std::iter::from_fn(move || {
        let s = rest?;
        let this = concat;
        match s.find([BREAK, CONCAT]) {
            Some(i) => {
                concat = s[i..].starts_with(CONCAT);
                rest = Some(&s[i + 1..]);
                Some((&s[..i], this))
            }
            None => {
                rest = None;
                Some((s, this))
            }
        }
    })
}

/// The lines to send one by one to a client that takes one line per
/// message, as the sender composed them (a continued line stays a line of
/// its own, as it was split for transport); of a message of several lines,
/// the blank ones are left out (never sent alone, as the spec's fallback
/// says).
pub fn sent_lines(text: &str) -> impl Iterator<Item = &str> {
    let several = is_multi(text);
    parts(text)
        .map(|(line, _)| line)
        .filter(move |line| !several || !line.trim().is_empty())
}

/// The lines as the reader sees them (continued lines joined to the one
/// before), for the plain-text protocols; of a message of several lines,
/// the blank ones are left out.
pub fn read_lines(text: &str) -> Vec<Cow<'_, str>> {
    if !is_multi(text) {
        return vec![Cow::Borrowed(text)];
    }
    let keep = |line: &&str| !line.trim().is_empty();
    match combined(text) {
        Cow::Borrowed(all) => all.split(BREAK).filter(keep).map(Cow::Borrowed).collect(),
        Cow::Owned(all) => all
            .split(BREAK)
            .filter(keep)
            .map(|line| Cow::Owned(line.to_string()))
            .collect(),
    }
}

/// The message as the reader sees it: lines joined by `\n`, continued
/// lines joined to the one before.
pub fn combined(text: &str) -> Cow<'_, str> {
    if text.contains(CONCAT) {
        Cow::Owned(text.replace(CONCAT, ""))
    } else {
        Cow::Borrowed(text)
    }
}

/// The message on one line, for a replay that shows one line per message
/// (the tutorial dialects): line breaks become ` / `.
pub fn flat(text: &str) -> Cow<'_, str> {
    if is_multi(text) {
        Cow::Owned(combined(text).replace(BREAK, " / "))
    } else {
        Cow::Borrowed(text)
    }
}

/// The text of lines as a client sent them (`true`: continues the line
/// before). Each line must be clean (no CR, LF or NUL).
pub fn join<'a>(lines: impl IntoIterator<Item = (&'a str, bool)>) -> String {
    let mut out = String::new();
    for (i, (line, concat)) in lines.into_iter().enumerate() {
        if i > 0 {
            out.push(if concat { CONCAT } else { BREAK });
        }
        out.push_str(line);
    }
    out
}

/// What the limits of `draft/multiline` count: bytes of the combined
/// message (each line break one byte) and lines as sent.
pub fn measure(text: &str) -> (usize, usize) {
    let marks = text.matches(CONCAT).count();
    (text.len() - marks, parts(text).count())
}

/// `text` kept to `max_bytes` (as [`measure`] counts) and `max_lines`,
/// cut at a line and then at a character boundary: the hub's last resort
/// (the IRC edge refuses a batch over the limits before it gets here).
pub fn fit(text: &str, max_bytes: usize, max_lines: usize) -> String {
    let mut kept = Vec::new();
    let mut bytes = 0;
    for (i, (line, concat)) in parts(text).enumerate() {
        if i >= max_lines {
            break;
        }
        let sep = usize::from(i > 0 && !concat);
        let room = max_bytes.saturating_sub(bytes + sep);
        if room == 0 && !(line.is_empty() && sep == 0) {
            break;
        }
        let mut end = line.len().min(room);
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        kept.push((&line[..end], concat));
        bytes += sep + end;
        if end < line.len() {
            break;
        }
    }
    join(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_keep_the_composition() {
        let text = join([("hello", false), ("#how is ", false), ("everyone?", true)]);
        assert_eq!(text, "hello\n#how is \reveryone?");
        assert!(is_multi(&text));
        assert_eq!(
            parts(&text).collect::<Vec<_>>(),
            vec![("hello", false), ("#how is ", false), ("everyone?", true)]
        );
        assert_eq!(combined(&text), "hello\n#how is everyone?");
        assert_eq!(measure(&text), (23, 3));
        // Blank lines are lines.
        let blank = join([("", false), ("x", false), ("", false)]);
        assert_eq!(
            parts(&blank).collect::<Vec<_>>(),
            vec![("", false), ("x", false), ("", false)]
        );
        assert!(!is_multi("one line"));
        assert_eq!(
            parts("one line").collect::<Vec<_>>(),
            vec![("one line", false)]
        );
    }

    #[test]
    fn lines_as_sent_and_as_read_leave_out_blank_lines_of_several() {
        let text = join([
            ("hello", false),
            ("  ", false),
            ("#how is ", false),
            ("everyone?", true),
            ("", false),
        ]);
        assert_eq!(
            sent_lines(&text).collect::<Vec<_>>(),
            ["hello", "#how is ", "everyone?"]
        );
        assert_eq!(read_lines(&text), ["hello", "#how is everyone?"]);
        let plain = join([("a", false), ("", false), ("b", false)]);
        assert_eq!(sent_lines(&plain).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(read_lines(&plain), ["a", "b"]);
        // One line is itself, blank or not.
        assert_eq!(sent_lines(" ").collect::<Vec<_>>(), [" "]);
        assert_eq!(read_lines(" "), [" "]);
    }

    #[test]
    fn fit_cuts_at_lines_then_characters() {
        let text = join([("abc", false), ("déf", false), ("ghi", true)]);
        assert_eq!(fit(&text, 100, 10), text);
        assert_eq!(fit(&text, 100, 2), "abc\ndéf");
        // 3 + 1 + "dé" (3 bytes) = 7: "déf" cut before 'f'.
        assert_eq!(fit(&text, 7, 10), "abc\ndé");
        // A cut never splits a character: 6 leaves "d" (é is two bytes).
        assert_eq!(fit(&text, 6, 10), "abc\nd");
        assert_eq!(measure(&fit(&text, 7, 10)).0, 7);
    }
}
