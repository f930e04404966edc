//! Nicknames and room names: validation and case-insensitive keys.
//!
//! Every rule about what a name may contain lives here, once, so that every
//! edge refuses the same names for the same reasons. Case folding is ASCII
//! (`CASEMAPPING=ascii` in IRC terms): `Alice` and `alice` are the same person,
//! but non-ASCII letters are compared as they are.
//!
//! This module must not know about any wire protocol beyond the character
//! classes that keep a name safe to put on every protocol's wire.

use std::fmt;
use std::sync::Arc;

/// Why a name was refused. The text is meant for a person to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameError(pub &'static str);

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// The case-folded form of a name, used as the key of every map.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key(Arc<str>);

impl Key {
    pub fn of(name: &str) -> Key {
        Key(name.to_ascii_lowercase().into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key of a name held already: the name itself, shared, when it
    /// is in folded form (no capital letters), so that it costs no string
    /// of its own; otherwise a folded copy.
    pub fn of_name(name: &Name) -> Key {
        if name.bytes().any(|b| b.is_ascii_uppercase()) {
            Key::of(name)
        } else {
            Key(name.clone())
        }
    }
}

/// True when two names are the same under the server's case mapping.
pub fn same(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// Characters IRC allows in a nickname besides letters and digits
/// (RFC 2812 "special"), which every other protocol can carry too.
const NICK_SPECIAL: &[u8] = b"[]\\`_^{|}-";

/// Checks a nickname: 1..=`max_len` bytes, ASCII letters, digits and
/// `[]\`_^{|}-`, not starting with a digit or `-`.
pub fn validate_nick(nick: &str, max_len: usize) -> Result<(), NameError> {
    let bytes = nick.as_bytes();
    if bytes.is_empty() {
        return Err(NameError("a nickname cannot be empty"));
    }
    if bytes.len() > max_len {
        return Err(NameError("nickname is too long"));
    }
    if bytes[0].is_ascii_digit() || bytes[0] == b'-' {
        return Err(NameError("a nickname cannot start with a digit or '-'"));
    }
    if !bytes
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || NICK_SPECIAL.contains(b))
    {
        return Err(NameError(
            "a nickname may only hold letters, digits and []\\`_^{|}-",
        ));
    }
    Ok(())
}

/// Turns any name a client offers into a valid nickname, for protocols whose
/// clients cannot be asked again (the tutorial dialects): invalid characters
/// become `_`, a leading digit gets a `_` in front, and the result is cut to
/// `max_len`. Returns `"guest"` when nothing usable is left.
pub fn sanitize_nick(raw: &str, max_len: usize) -> String {
    let mut out = String::with_capacity(raw.len().min(max_len));
    for c in raw.trim().chars() {
        if out.len() >= max_len {
            break;
        }
        let ok = c.is_ascii_alphanumeric() || (c.is_ascii() && NICK_SPECIAL.contains(&(c as u8)));
        out.push(if ok { c } else { '_' });
    }
    if out.starts_with(|c: char| c.is_ascii_digit() || c == '-') {
        out.insert(0, '_');
        out.truncate(max_len);
    }
    if out.trim_matches('_').is_empty() {
        return "guest".to_string();
    }
    out
}

/// Checks a room name: starts with `#`, 2..=`max_len` bytes, no spaces,
/// commas, colons or control characters (they split IRC parameters).
pub fn validate_room(name: &str, max_len: usize) -> Result<(), NameError> {
    if !name.starts_with('#') {
        return Err(NameError("a room name starts with '#'"));
    }
    if name.len() < 2 {
        return Err(NameError(
            "a room name needs at least one character after '#'",
        ));
    }
    if name.len() > max_len {
        return Err(NameError("room name is too long"));
    }
    if name
        .chars()
        .any(|c| c.is_control() || c == ' ' || c == ',' || c == ':' || c == '\u{7}')
    {
        return Err(NameError(
            "a room name cannot hold spaces, commas, colons or control characters",
        ));
    }
    Ok(())
}

/// Adds the `#` that people often leave out when typing a room name.
pub fn normalize_room(name: &str) -> String {
    if name.starts_with('#') {
        name.to_string()
    } else {
        format!("#{name}")
    }
}

/// A display name shared by every event that mentions it.
pub type Name = Arc<str>;

/// Longest real name (and USER username), in bytes.
pub const REALNAME_LEN: usize = 64;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nicks() {
        assert!(validate_nick("alice", 30).is_ok());
        assert!(validate_nick("[bob]_`^{|}-x", 30).is_ok());
        assert!(validate_nick("", 30).is_err());
        assert!(validate_nick("1abc", 30).is_err());
        assert!(validate_nick("-abc", 30).is_err());
        assert!(validate_nick("a b", 30).is_err());
        assert!(validate_nick("a:b", 30).is_err());
        assert!(validate_nick("é", 30).is_err());
        assert!(validate_nick(&"a".repeat(31), 30).is_err());
        assert!(validate_nick(&"a".repeat(30), 30).is_ok());
    }

    #[test]
    fn sanitize() {
        assert_eq!(sanitize_nick("Bob Smith", 30), "Bob_Smith");
        assert_eq!(sanitize_nick("42", 30), "_42");
        assert_eq!(sanitize_nick("  ", 30), "guest");
        assert_eq!(sanitize_nick("ééé", 30), "guest");
        assert_eq!(sanitize_nick(&"x".repeat(50), 9).len(), 9);
        for raw in ["Bob Smith", "42", "a\r\nb", "-x", "ü"] {
            assert!(validate_nick(&sanitize_nick(raw, 30), 30).is_ok(), "{raw}");
        }
    }

    #[test]
    fn rooms() {
        assert!(validate_room("#lobby", 50).is_ok());
        assert!(validate_room("#café", 50).is_ok());
        assert!(validate_room("lobby", 50).is_err());
        assert!(validate_room("#", 50).is_err());
        assert!(validate_room("#a b", 50).is_err());
        assert!(validate_room("#a,b", 50).is_err());
        assert!(validate_room("#a\x07", 50).is_err());
        assert_eq!(normalize_room("lobby"), "#lobby");
        assert_eq!(normalize_room("#lobby"), "#lobby");
    }

    #[test]
    fn keys_fold_ascii_case() {
        assert_eq!(Key::of("Alice"), Key::of("aLICE"));
        assert!(same("#Lobby", "#lobby"));
        assert!(!same("a", "b"));
    }
}
