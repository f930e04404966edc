//! IRC case mappings: which names a server takes for the same name, as it
//! announces with the ISUPPORT (005) `CASEMAPPING` token. Our server folds
//! names ASCII-only (`CASEMAPPING=ascii`, see `chatroom_core::names`);
//! other servers still use `rfc1459`, where `[]\~` are the upper case of
//! `{}|^`, or `rfc1459-strict` (the same without `~`/`^`).
//!
//! The ASCII part of every mapping is the core's own folding, so a client
//! using [`CaseMapping::Ascii`] compares names exactly as our server does.
//! Pure functions over strings: this module must not decide which names are
//! valid (that is `chatroom_core::names`) nor hold any connection state.

use chatroom_core::names;

/// The mapping this server's names follow (the core's folding), as its
/// ISUPPORT announces it.
pub const SERVER: CaseMapping = CaseMapping::Ascii;

/// A `CASEMAPPING` value. The default is `rfc1459`, what a client must
/// assume until the server says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CaseMapping {
    /// Only `A`..`Z` fold to `a`..`z`.
    Ascii,
    /// ASCII letters, plus `[]\~` as the upper case of `{}|^`.
    #[default]
    Rfc1459,
    /// ASCII letters, plus `[]\` as the upper case of `{}|`.
    Rfc1459Strict,
}

impl CaseMapping {
    /// The mapping a `CASEMAPPING=` value names; `None` for one not
    /// implemented here (e.g. `rfc7613`).
    pub fn from_token(value: &str) -> Option<CaseMapping> {
        match value.to_ascii_lowercase().as_str() {
            "ascii" => Some(CaseMapping::Ascii),
            "rfc1459" => Some(CaseMapping::Rfc1459),
            "rfc1459-strict" => Some(CaseMapping::Rfc1459Strict),
            _ => None,
        }
    }

    /// The `CASEMAPPING=` value for this mapping.
    pub fn token(self) -> &'static str {
        match self {
            CaseMapping::Ascii => "ascii",
            CaseMapping::Rfc1459 => "rfc1459",
            CaseMapping::Rfc1459Strict => "rfc1459-strict",
        }
    }

    /// The lower case of one byte beyond ASCII letters (which the core
    /// folds); every other byte is left alone, so UTF-8 stays valid.
    fn fold_special(self, b: u8) -> u8 {
        match (self, b) {
            (CaseMapping::Ascii, _) => b,
            (_, b'[') => b'{',
            (_, b']') => b'}',
            (_, b'\\') => b'|',
            (CaseMapping::Rfc1459, b'~') => b'^',
            _ => b,
        }
    }

    /// The folded form of `name`: two names are the same under this
    /// mapping exactly when their folded forms are equal.
    pub fn fold(self, name: &str) -> String {
        let ascii = names::Key::of(name);
        let ascii = ascii.as_str();
        if self == CaseMapping::Ascii {
            return ascii.to_string();
        }
        ascii
            .chars()
            .map(|c| match u8::try_from(c) {
                Ok(b) if b.is_ascii() => char::from(self.fold_special(b)),
                _ => c,
            })
            .collect()
    }

    /// Whether `a` and `b` are the same name under this mapping.
    pub fn same(self, a: &str, b: &str) -> bool {
        // Every mapping folds at least what the core folds; the others
        // differ from it only in the specials.
        if names::same(a, b) {
            return true;
        }
        self != CaseMapping::Ascii
            && a.len() == b.len()
            && a.bytes().zip(b.bytes()).all(|(x, y)| {
                self.fold_special(x.to_ascii_lowercase())
                    == self.fold_special(y.to_ascii_lowercase())
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [CaseMapping; 3] = [
        CaseMapping::Ascii,
        CaseMapping::Rfc1459,
        CaseMapping::Rfc1459Strict,
    ];

    #[test]
    fn tokens_round_trip_and_default_is_rfc1459() {
        for m in ALL {
            assert_eq!(CaseMapping::from_token(m.token()), Some(m));
        }
        assert_eq!(
            CaseMapping::from_token("RFC1459"),
            Some(CaseMapping::Rfc1459)
        );
        assert_eq!(CaseMapping::from_token("rfc7613"), None);
        assert_eq!(CaseMapping::from_token(""), None);
        assert_eq!(CaseMapping::default(), CaseMapping::Rfc1459);
    }

    #[test]
    fn brackets_fold_only_under_rfc1459() {
        assert!(!CaseMapping::Ascii.same("[x]", "{x}"));
        assert!(CaseMapping::Rfc1459.same("[x]", "{x}"));
        assert!(CaseMapping::Rfc1459Strict.same("[x]", "{x}"));
        assert!(CaseMapping::Rfc1459.same("A\\B~", "a|b^"));
        assert!(!CaseMapping::Rfc1459Strict.same("a~", "a^"));
        assert!(CaseMapping::Rfc1459Strict.same("A\\", "a|"));
        assert_eq!(CaseMapping::Rfc1459.fold("Nick[1]~"), "nick{1}^");
        assert_eq!(CaseMapping::Rfc1459Strict.fold("Nick[1]~"), "nick{1}~");
        assert_eq!(CaseMapping::Ascii.fold("Nick[1]~"), "nick[1]~");
    }

    #[test]
    fn letters_fold_under_every_mapping_and_nothing_else_does() {
        for m in ALL {
            assert!(m.same("#Room", "#room"), "{m:?}");
            assert!(!m.same("#room", "#rooms"), "{m:?}");
            // Non-ASCII letters are compared as they are, like the server does.
            assert!(!m.same("É", "é"), "{m:?}");
            assert_eq!(m.fold("Café"), "café");
        }
    }

    #[test]
    fn ascii_is_the_servers_folding() {
        let samples = [
            "Alice", "aLICE", "[x]", "{x}", "a|b", "A\\B", "~^", "#Lobby", "Ünï", "",
        ];
        for a in samples {
            assert_eq!(CaseMapping::Ascii.fold(a), names::Key::of(a).as_str());
            for b in samples {
                assert_eq!(CaseMapping::Ascii.same(a, b), names::same(a, b), "{a} {b}");
            }
        }
    }

    #[test]
    fn same_agrees_with_fold() {
        let samples = [
            "[A]", "{a}", "a~", "A^", "x\\", "X|", "é[", "É{", "ab", "AB",
        ];
        for m in ALL {
            for a in samples {
                for b in samples {
                    assert_eq!(m.same(a, b), m.fold(a) == m.fold(b), "{m:?} {a} {b}");
                }
            }
        }
    }
}
