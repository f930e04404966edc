//! IRC message syntax: parsing one line into tags, source, command and
//! parameters, and writing a message back out. Pure functions over strings;
//! shared by the server's IRC edge, the terminal client and the bench.
//!
//! Follows the Modern IRC client protocol document's grammar and the IRCv3
//! message-tags escaping rules. Must not know what any command means.

use std::fmt::{self, Write as _};

/// One parsed IRC message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    /// IRCv3 tags as (key, unescaped value); a tag without `=` has value "".
    pub tags: Vec<(String, String)>,
    /// The source (`nick!user@host` or a server name), without the `:`.
    pub source: Option<String>,
    /// The command, upper-cased (numerics stay as three digits).
    pub command: String,
    pub params: Vec<String>,
}

/// Why a line could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// The line had nothing but whitespace (clients may send these; ignore them).
    Empty,
    /// A `@` or `:` with nothing after it, or no command.
    NoCommand,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Empty => f.write_str("empty line"),
            ParseError::NoCommand => f.write_str("no command"),
        }
    }
}

impl std::error::Error for ParseError {}

impl Message {
    /// A message with a command and parameters, no tags or source.
    pub fn new(command: &str, params: &[&str]) -> Message {
        Message {
            tags: Vec::new(),
            source: None,
            command: command.to_string(),
            params: params.iter().map(|p| p.to_string()).collect(),
        }
    }

    pub fn with_source(mut self, source: &str) -> Message {
        self.source = Some(source.to_string());
        self
    }

    /// The value of tag `key`, if present.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Parameter `i`, or "" when absent.
    pub fn param(&self, i: usize) -> &str {
        self.params.get(i).map(String::as_str).unwrap_or("")
    }

    /// The nickname part of the source (`nick` of `nick!user@host`).
    pub fn source_nick(&self) -> Option<&str> {
        self.source
            .as_deref()
            .map(|s| s.split(['!', '@']).next().unwrap_or(s))
    }

    /// Parses one line (without its CR LF; a trailing CR or LF is ignored).
    pub fn parse(line: &str) -> Result<Message, ParseError> {
        let line = line.trim_end_matches(['\r', '\n']);
        let mut rest = line.trim_start_matches(' ');
        if rest.is_empty() {
            return Err(ParseError::Empty);
        }
        let mut msg = Message::default();
        if let Some(after) = rest.strip_prefix('@') {
            let (tags, tail) = after.split_once(' ').unwrap_or((after, ""));
            for tag in tags.split(';').filter(|t| !t.is_empty()) {
                let (k, v) = tag.split_once('=').unwrap_or((tag, ""));
                let v = unescape_tag(v);
                // A repeated key: the last one wins (message-tags spec).
                if let Some(slot) = msg.tags.iter_mut().find(|(key, _)| key == k) {
                    slot.1 = v;
                } else {
                    msg.tags.push((k.to_string(), v));
                }
            }
            rest = tail.trim_start_matches(' ');
        }
        if let Some(after) = rest.strip_prefix(':') {
            let (source, tail) = after.split_once(' ').unwrap_or((after, ""));
            if source.is_empty() {
                return Err(ParseError::NoCommand);
            }
            msg.source = Some(source.to_string());
            rest = tail.trim_start_matches(' ');
        }
        let (command, mut rest) = rest.split_once(' ').unwrap_or((rest, ""));
        if command.is_empty() {
            return Err(ParseError::NoCommand);
        }
        msg.command = command.to_ascii_uppercase();
        loop {
            rest = rest.trim_start_matches(' ');
            if rest.is_empty() {
                break;
            }
            if let Some(trailing) = rest.strip_prefix(':') {
                msg.params.push(trailing.to_string());
                break;
            }
            let (p, tail) = rest.split_once(' ').unwrap_or((rest, ""));
            msg.params.push(p.to_string());
            rest = tail;
        }
        Ok(msg)
    }
}

impl fmt::Display for Message {
    /// Writes the message without CR LF. The last parameter gets a `:` when
    /// it needs one (empty, has a space, or starts with `:`). Parameters
    /// are written as given: callers must not pass CR, LF or NUL.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.tags.is_empty() {
            f.write_char('@')?;
            for (i, (k, v)) in self.tags.iter().enumerate() {
                if i > 0 {
                    f.write_char(';')?;
                }
                f.write_str(k)?;
                if !v.is_empty() {
                    f.write_char('=')?;
                    escape_tag(v, f)?;
                }
            }
            f.write_char(' ')?;
        }
        if let Some(source) = &self.source {
            write!(f, ":{source} ")?;
        }
        f.write_str(&self.command)?;
        let n = self.params.len();
        for (i, p) in self.params.iter().enumerate() {
            let last = i + 1 == n;
            if last && (p.is_empty() || p.contains(' ') || p.starts_with(':')) {
                write!(f, " :{p}")?;
            } else {
                write!(f, " {p}")?;
            }
        }
        Ok(())
    }
}

/// Undoes message-tags value escaping (`\:` `\s` `\\` `\r` `\n`); an unknown
/// escape yields the character itself and a trailing lone `\` is dropped.
pub fn unescape_tag(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(':') => out.push(';'),
            Some('s') => out.push(' '),
            Some('\\') => out.push('\\'),
            Some('r') => out.push('\r'),
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

/// Escapes a tag value for the wire. A NUL, which no IRC line may hold
/// and message-tags has no escape for, is left out.
pub fn escape_tag(v: &str, out: &mut impl fmt::Write) -> fmt::Result {
    for c in v.chars() {
        match c {
            '\0' => {}
            ';' => out.write_str("\\:")?,
            ' ' => out.write_str("\\s")?,
            '\\' => out.write_str("\\\\")?,
            '\r' => out.write_str("\\r")?,
            '\n' => out.write_str("\\n")?,
            c => out.write_char(c)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_full_message() {
        let m = Message::parse(
            "@id=123;+draft/reply=a\\sb;flag :nick!u@h PRIVMSG #chan :hello there\r\n",
        )
        .expect("parses");
        assert_eq!(m.tag("id"), Some("123"));
        assert_eq!(m.tag("+draft/reply"), Some("a b"));
        assert_eq!(m.tag("flag"), Some(""));
        assert_eq!(m.source.as_deref(), Some("nick!u@h"));
        assert_eq!(m.source_nick(), Some("nick"));
        assert_eq!(m.command, "PRIVMSG");
        assert_eq!(m.params, vec!["#chan", "hello there"]);
    }

    #[test]
    fn parses_edge_cases() {
        assert_eq!(Message::parse("   "), Err(ParseError::Empty));
        assert_eq!(Message::parse(":src"), Err(ParseError::NoCommand));
        let m = Message::parse("ping  a   b  :").expect("parses");
        assert_eq!(m.command, "PING");
        assert_eq!(m.params, vec!["a", "b", ""]);
        let m = Message::parse("CMD :::x").expect("parses");
        assert_eq!(m.params, vec!["::x"]);
    }

    #[test]
    fn round_trips() {
        for line in [
            "PRIVMSG #a :hello world",
            ":srv 001 bob :Welcome home",
            "@a=b\\:c;d :x!y@z NOTICE bob :",
            "JOIN #x",
            "PRIVMSG #a ::-)",
        ] {
            let m = Message::parse(line).expect("parses");
            assert_eq!(m.to_string(), line);
        }
        // A one-word trailing parameter means the same as a middle one, and
        // is written back without the colon.
        let m = Message::parse(":srv 001 bob :Welcome").expect("parses");
        assert_eq!(m.params, vec!["bob", "Welcome"]);
        assert_eq!(m.to_string(), ":srv 001 bob Welcome");
    }

    #[test]
    fn tag_escapes() {
        let mut s = String::new();
        escape_tag("a;b c\\d\r\n", &mut s).expect("writes");
        assert_eq!(s, "a\\:b\\sc\\\\d\\r\\n");
        assert_eq!(unescape_tag(&s), "a;b c\\d\r\n");
        assert_eq!(unescape_tag("a\\"), "a");
        assert_eq!(unescape_tag("\\x"), "x");
        // A NUL cannot be written (a client's label or tag could hold one).
        let mut s = String::new();
        escape_tag("a\0b", &mut s).expect("writes");
        assert_eq!(s, "ab");
    }
}
