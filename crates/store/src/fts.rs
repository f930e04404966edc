//! Turns a person's search words into an FTS5 query that means exactly
//! "all of these words", whatever characters they contain.
//!
//! FTS5 has its own query language (`"phrase"`, `prefix*`, `NEAR(...)`,
//! `col:`, `AND`/`OR`/`NOT`, `-`, `^`, parentheses). User input must never
//! reach it raw: a stray `"` is a syntax error and `OR` changes the meaning.
//! Each whitespace-separated word therefore becomes an FTS5 string (double
//! quotes, inner `"` doubled), which FTS5 treats as a phrase of plain tokens;
//! the strings are joined by spaces (implicit AND). [`search_words`] is the
//! splitting both stores use. This file must not touch the database.

/// At most this many words are searched for; the rest are ignored, so a
/// pasted essay cannot become an expensive query.
pub const MAX_WORDS: usize = 16;

/// The words of a search, as every store reads them: split on white space
/// and control characters, at most [`MAX_WORDS`] of them. A word with no
/// letter or digit is left out: after FTS5's unicode61 tokenizer it would be
/// a phrase of zero tokens, which matches nothing useful. Control
/// characters separate words because FTS5's query parser stops at a NUL,
/// which would leave a quoted string unterminated.
pub(crate) fn search_words(words: &str) -> impl Iterator<Item = &str> {
    words
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| w.chars().any(char::is_alphanumeric))
        .take(MAX_WORDS)
}

/// The FTS5 query for `words`, or `None` when nothing in it can match
/// (empty, or only punctuation, which the tokenizer drops).
pub fn fts_query(words: &str) -> Option<String> {
    let mut out = String::new();
    for word in search_words(words) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push('"');
        out.push_str(&word.replace('"', "\"\""));
        out.push('"');
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_and_quotes_doubled() {
        assert_eq!(
            fts_query("hello world").as_deref(),
            Some("\"hello\" \"world\"")
        );
        assert_eq!(
            fts_query("say \"hi\"").as_deref(),
            Some("\"say\" \"\"\"hi\"\"\"")
        );
        assert_eq!(fts_query("a OR b").as_deref(), Some("\"a\" \"OR\" \"b\""));
    }

    #[test]
    fn punctuation_only_and_empty_give_none() {
        assert_eq!(fts_query(""), None);
        assert_eq!(fts_query("   \t "), None);
        assert_eq!(fts_query("* - \" ( ) :"), None);
        assert_eq!(fts_query("a\0b").as_deref(), Some("\"a\" \"b\""));
    }

    #[test]
    fn word_count_is_bounded() {
        let many = "w ".repeat(100);
        let q = fts_query(&many).unwrap_or_default();
        assert_eq!(q.matches('"').count(), 2 * MAX_WORDS);
    }
}
