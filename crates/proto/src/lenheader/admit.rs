//! Admission for the two tutorial dialects (length-header and NICK
//! handshake), whose clients send a name once and can never be asked for
//! another: the name is made valid (`sanitize_nick`) and, when taken, unique
//! by appending digits; the client is then told, in its own dialect, which
//! name it got. Also the "lingering close" both use before hanging up on bad
//! input.
//!
//! Shared by `edges::lenheader` and `edges::nickhs`. It decides nothing the
//! hub decides: it only retries `Register` with other candidates.

/// How a tutorial client's name request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Registered as `nick`; `note` says why it differs from what was asked.
    Registered { nick: String, note: Option<String> },
    /// No name could be registered; the text says why.
    Refused(String),
}

/// The `n`-th candidate for `base`: `base` itself, then `base2`, `base3`,
/// ... with `base` shortened so the result stays within `max_len` bytes.
/// `base` is ASCII (it comes from `sanitize_nick`).
pub fn candidate(base: &str, n: u32, max_len: usize) -> String {
    if n == 0 {
        return base.to_string();
    }
    with_suffix(base, &(n + 1).to_string(), max_len)
}

pub fn with_suffix(base: &str, suffix: &str, max_len: usize) -> String {
    let keep = max_len.saturating_sub(suffix.len()).min(base.len());
    let mut end = keep;
    while !base.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{suffix}", &base[..end])
}

/// Why the name a client got differs from the one it asked for, if it does.
pub fn note_for(wanted: &str, base: &str, nick: &str) -> Option<String> {
    if wanted == nick {
        return None;
    }
    // Keep the echo of a hostile "name" short; it goes only to its sender.
    let shown: String = wanted.chars().take(40).collect();
    let why = if wanted == base {
        format!("{shown} was taken")
    } else if base == nick {
        format!("{shown:?} is not a valid nickname: use letters, digits and []\\`_^{{|}}-")
    } else {
        format!("{shown:?} is not a valid nickname and {base} was taken")
    };
    Some(format!("You are known here as {nick} ({why})"))
}
