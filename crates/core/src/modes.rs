//! Room and user modes as data: which modes exist, which take a parameter,
//! the `nick!user@host` masks of ban, exception and invite lists, and the
//! glob matching those lists use.
//!
//! The rules about who may change what live in the hub; this module only
//! describes modes and matches masks. It must not know any wire syntax
//! beyond the mode letters themselves (which every protocol shares, so that
//! `/mode #room +m` on the line protocol means what `MODE #room +m` means on
//! IRC).

use std::time::SystemTime;

use super::names::Name;

/// One applied mode change, as told to the members of a room (or to the
/// user whose modes changed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModeChange {
    /// `true` for `+`, `false` for `-`.
    pub add: bool,
    pub mode: char,
    /// The parameter: a nickname (`o`, `v`), a mask (`b`, `e`, `I`), the
    /// key (`k`) or the limit (`l`).
    pub arg: Option<Name>,
}

/// One entry of a ban, exception or invite-exception list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    pub mask: Name,
    /// Nickname of whoever added it.
    pub setter: Name,
    pub time: SystemTime,
}

/// Room modes that are lists of masks (CHANMODES type A).
pub const LIST_MODES: &str = "beI";
/// Room modes that set a flag on a member (PREFIX), strongest first.
pub const MEMBER_MODES: &str = "ov";
/// Room modes without a parameter (CHANMODES type D). `C`: no CTCP but
/// ACTION.
pub const FLAG_MODES: &str = "Cimnst";

/// A ban or exception mask with this prefix is a mute (an extban, IRC's
/// `EXTBAN=,m`): `m:nick!user@host` keeps matching people from speaking
/// without keeping them out; an exception so written lifts a mute.
pub const MUTE_PREFIX: &str = "m:";
/// User modes a person may hold.
pub const USER_MODES: &str = "io";

/// What kind of parameter a room mode takes, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModeKind {
    /// `b`, `e`, `I`: a mask to add or remove; without one, a list query.
    List,
    /// `o`, `v`: a nickname, both ways.
    Member,
    /// `k`: a key when set; a parameter is taken (and ignored) when unset.
    Key,
    /// `l`: a number when set; nothing when unset.
    Limit,
    /// `C`, `i`, `m`, `n`, `s`, `t`: no parameter.
    Flag,
}

pub fn room_mode_kind(mode: char) -> Option<ModeKind> {
    match mode {
        'b' | 'e' | 'I' => Some(ModeKind::List),
        'o' | 'v' => Some(ModeKind::Member),
        'k' => Some(ModeKind::Key),
        'l' => Some(ModeKind::Limit),
        'C' | 'i' | 'm' | 'n' | 's' | 't' => Some(ModeKind::Flag),
        _ => None,
    }
}

/// Completes a partial mask the way people write them: `bob` means
/// `bob!*@*`, `*@10.0.0.1` means `*!*@10.0.0.1`, `bob!x` means `bob!x@*`;
/// `m:bob` (a mute) means `m:bob!*@*`.
/// Bounded to `max` bytes so a list cannot hold huge entries.
pub fn normalize_mask(mask: &str, max: usize) -> String {
    // A mute's mask is completed like any other, behind its prefix.
    if let Some(rest) = mask.strip_prefix(MUTE_PREFIX) {
        let inner = normalize_mask(rest, max.saturating_sub(MUTE_PREFIX.len()));
        return format!("{MUTE_PREFIX}{inner}");
    }
    let mask: String = mask
        .chars()
        .filter(|c| !c.is_control() && *c != ' ')
        .collect();
    let full = match (mask.find('!'), mask.find('@')) {
        (Some(_), Some(_)) => mask,
        (Some(_), None) => format!("{mask}@*"),
        (None, Some(_)) => format!("*!{mask}"),
        (None, None) => format!("{mask}!*@*"),
    };
    let mut end = full.len().min(max);
    while !full.is_char_boundary(end) {
        end -= 1;
    }
    full[..end].to_string()
}

/// Glob match with `*` (any run) and `?` (one character), ASCII case
/// insensitive like every name here. Iterative with one backtrack point, so
/// a hostile mask such as `*a*a*a*a*b` costs O(len(mask) * len(text)) at
/// worst, never exponential time.
pub fn glob_match(mask: &str, text: &str) -> bool {
    let p: Vec<char> = mask.chars().map(|c| c.to_ascii_lowercase()).collect();
    let t: Vec<char> = text.chars().map(|c| c.to_ascii_lowercase()).collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_are_completed() {
        assert_eq!(normalize_mask("bob", 100), "bob!*@*");
        assert_eq!(normalize_mask("*@10.0.0.1", 100), "*!*@10.0.0.1");
        assert_eq!(normalize_mask("bob!x", 100), "bob!x@*");
        assert_eq!(normalize_mask("a!b@c", 100), "a!b@c");
        assert_eq!(normalize_mask("a\x01b", 100), "ab!*@*");
        assert_eq!(normalize_mask(&"x".repeat(500), 50).len(), 50);
    }

    #[test]
    fn globs() {
        assert!(glob_match("*!*@*", "bob!u@127.0.0.1"));
        assert!(glob_match("BOB!*@*", "bob!u@h"));
        assert!(glob_match("b?b!*@*", "bib!u@h"));
        assert!(!glob_match("b?b!*@*", "bb!u@h"));
        assert!(glob_match("*.example", "x.example"));
        assert!(!glob_match("*.example", "x.example.org"));
        assert!(glob_match("", ""));
        assert!(!glob_match("", "a"));
        assert!(glob_match("*", ""));
        assert!(glob_match("#ru*", "#rust"));
        // A pathological pattern finishes (and fails) quickly.
        let text = "a".repeat(400);
        let mask = format!("{}b", "*a".repeat(100));
        assert!(!glob_match(&mask, &text));
    }

    #[test]
    fn kinds() {
        for c in LIST_MODES.chars() {
            assert_eq!(room_mode_kind(c), Some(ModeKind::List));
        }
        for c in FLAG_MODES.chars() {
            assert_eq!(room_mode_kind(c), Some(ModeKind::Flag));
        }
        assert_eq!(room_mode_kind('z'), None);
    }
}
