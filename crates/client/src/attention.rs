//! Getting the user's attention in the full-screen mode: which desktop
//! notification escape sequence the terminal understands (OSC 777 or
//! OSC 9, or none), the bytes for a bell and a notification, and the
//! terminal title with the unread and mention counts.
//!
//! Pure: the environment is passed in as a lookup, the sequences are
//! returned as strings; `tui.rs` writes them. It must not decide what
//! deserves attention (the state model does, in its alerts) and must never
//! let a byte of what someone wrote end the escape sequence early.

use crate::state::{Alert, BufferKind, State};

/// A desktop notification escape sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Osc {
    /// `ESC ] 777 ; notify ; TITLE ; BODY BEL` (foot, urxvt, VTE, WezTerm).
    Notify777,
    /// `ESC ] 9 ; BODY BEL` (iTerm2, Windows Terminal, ConEmu, kitty).
    Growl9,
}

/// Which sequence to use for the `notifications` setting; `env` reads an
/// environment variable. `auto` picks one only for terminals known to show
/// it: elsewhere an unknown sequence could be shown as garbage, and tmux
/// and screen drop them (or need settings we cannot see).
pub fn notifications(setting: &str, env: impl Fn(&str) -> Option<String>) -> Option<Osc> {
    match setting {
        "osc777" => return Some(Osc::Notify777),
        "osc9" => return Some(Osc::Growl9),
        "auto" => {}
        _ => return None,
    }
    let term = env("TERM").unwrap_or_default();
    let program = env("TERM_PROGRAM").unwrap_or_default();
    if env("TMUX").is_some() || term.starts_with("screen") || term.starts_with("tmux") {
        return None;
    }
    if program == "iTerm.app"
        || env("WT_SESSION").is_some()
        || env("ConEmuANSI").as_deref() == Some("ON")
        || env("KITTY_WINDOW_ID").is_some()
        || term == "xterm-kitty"
    {
        return Some(Osc::Growl9);
    }
    if program == "WezTerm"
        || term.starts_with("foot")
        || term.contains("rxvt")
        || env("VTE_VERSION").is_some()
    {
        return Some(Osc::Notify777);
    }
    None
}

/// `text` made safe inside an OSC: no control character (one would end
/// the sequence, or start another), no `;` (a field separator for 777),
/// at most `max` characters.
fn field(text: &str, max: usize) -> String {
    text.chars()
        .map(|c| if c.is_control() || c == ';' { ' ' } else { c })
        .take(max)
        .collect()
}

/// The notification for `alert` as `osc` writes it.
pub fn notification(alert: &Alert, osc: Osc) -> String {
    let title = if alert.private {
        format!("{} (private)", alert.from)
    } else {
        format!("{} in {}", alert.from, alert.buffer)
    };
    match osc {
        Osc::Notify777 => format!(
            "\u{1b}]777;notify;{};{}\u{7}",
            field(&title, 80),
            field(&alert.text, 200)
        ),
        // One field: who and what. A body starting with a digit and `;`
        // would be read by ConEmu as another OSC 9 command.
        Osc::Growl9 => format!(
            "\u{1b}]9;{}: {}\u{7}",
            field(&title, 80),
            field(&alert.text, 200)
        ),
    }
}

pub const BELL: &str = "\u{7}";

/// The terminal title: the current buffer, and what waits elsewhere.
pub fn title(state: &State) -> String {
    let b = state.current_buffer();
    let name = match b.kind {
        BufferKind::Server => state.server.clone(),
        _ => b.name.clone(),
    };
    let (unread, mentions) = state
        .buffers
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != state.current)
        .fold((0, 0), |(u, m), (_, b)| (u + b.unread, m + b.mentions));
    let mut waiting = Vec::new();
    if unread > 0 {
        waiting.push(format!("{unread} unread"));
    }
    if mentions > 0 {
        waiting.push(plural(mentions, "mention", "mentions"));
    }
    let title = if waiting.is_empty() {
        format!("{name} - chatroom")
    } else {
        format!("{name} ({}) - chatroom", waiting.join(", "))
    };
    field(&title, 200)
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn auto_picks_only_known_terminals() {
        assert_eq!(
            notifications("auto", env(&[("TERM", "foot")])),
            Some(Osc::Notify777)
        );
        assert_eq!(
            notifications(
                "auto",
                env(&[("TERM", "xterm-256color"), ("VTE_VERSION", "7600")])
            ),
            Some(Osc::Notify777)
        );
        assert_eq!(
            notifications("auto", env(&[("TERM_PROGRAM", "iTerm.app")])),
            Some(Osc::Growl9)
        );
        assert_eq!(
            notifications("auto", env(&[("TERM", "xterm-256color")])),
            None
        );
        // Inside tmux nothing, whatever is outside.
        assert_eq!(
            notifications(
                "auto",
                env(&[("TERM", "tmux-256color"), ("VTE_VERSION", "1")])
            ),
            None
        );
        assert_eq!(
            notifications("auto", env(&[("TMUX", "/tmp/x"), ("TERM", "foot")])),
            None
        );
        // Said outright, used as said.
        assert_eq!(notifications("osc9", env(&[])), Some(Osc::Growl9));
        assert_eq!(
            notifications("osc777", env(&[("TMUX", "x")])),
            Some(Osc::Notify777)
        );
        assert_eq!(notifications("off", env(&[("TERM", "foot")])), None);
    }

    #[test]
    fn what_someone_wrote_cannot_end_the_sequence() {
        let alert = Alert {
            buffer: "#lobby".into(),
            from: "eve".into(),
            text: "hi me;\u{7}\u{1b}]0;pwned\u{7}".into(),
            private: false,
        };
        let s = notification(&alert, Osc::Notify777);
        assert_eq!(s, "\u{1b}]777;notify;eve in #lobby;hi me   ]0 pwned \u{7}");
        let s = notification(
            &Alert {
                private: true,
                ..alert
            },
            Osc::Growl9,
        );
        assert!(s.starts_with("\u{1b}]9;eve (private): hi me"), "{s:?}");
        assert_eq!(s.matches('\u{7}').count(), 1);
        assert_eq!(s.matches('\u{1b}').count(), 1);
    }
}
