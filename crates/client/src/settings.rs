//! The client's settings: what the `[settings]` table of the configuration
//! file holds, what `/set` lists and changes while the client runs, and
//! what `/save` writes back.
//!
//! Plain data and the rules for reading a typed value (`/set colors off`);
//! it must not read or write files (`config.rs` does) nor know about the
//! terminal. Every setting is listed in [`Settings::entries`], so `/set`,
//! `/save` and the tests cannot forget one.

use serde::Deserialize;

/// A setting's value, as `/set` shows it and `/save` writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Bool(bool),
    Int(i64),
    Str(String),
    List(Vec<String>),
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Bool(b) => write!(f, "{}", if *b { "on" } else { "off" }),
            Value::Int(n) => write!(f, "{n}"),
            Value::Str(s) if s.is_empty() => write!(f, "(none)"),
            Value::Str(s) => write!(f, "{s}"),
            Value::List(l) if l.is_empty() => write!(f, "(none)"),
            Value::List(l) => write!(f, "{}", l.join(" ")),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// The nick when neither the command line nor the server entry names
    /// one ("": the login name).
    pub nick: String,
    /// Colour each nick (stable per nick).
    pub colors: bool,
    /// strftime format of the times in the scrollback.
    pub time_format: String,
    /// Lines kept in memory per buffer.
    pub scrollback: usize,
    /// Lines asked for per page of server history.
    pub history_page: usize,
    /// Words that highlight a line besides our nick (case-insensitive,
    /// whole words).
    pub highlights: Vec<String>,
    /// Ring the terminal bell on a highlight or a private message.
    pub bell: bool,
    /// Desktop notifications by escape sequence: auto (where the terminal
    /// is known to show them), osc777, osc9 or off.
    pub notifications: String,
    /// Masks (`nick!user@host`, `*` and `?` as wildcards) whose messages,
    /// notices and invitations are not shown.
    pub ignores: Vec<String>,
    /// Take the mouse: the wheel scrolls, a click on the buffer bar
    /// switches (Shift selects text as usual in most terminals).
    pub mouse: bool,
    /// Failed connection attempts in a row before the client stops trying
    /// (0: never stops).
    pub reconnect_tries: u32,
    /// Write a log file per buffer.
    pub logs: bool,
    /// Where the logs go ("": `logs/` in the XDG data directory).
    pub log_dir: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            nick: String::new(),
            colors: true,
            time_format: "%H:%M".to_string(),
            scrollback: crate::state::SCROLLBACK_LIMIT,
            history_page: crate::state::HISTORY_PAGE,
            highlights: Vec::new(),
            bell: true,
            notifications: "auto".to_string(),
            ignores: Vec::new(),
            mouse: true,
            reconnect_tries: crate::conn::MAX_TRIES,
            logs: true,
            log_dir: String::new(),
        }
    }
}

/// A mask as people write them made whole: `bob` is `bob!*@*`,
/// `*@10.0.0.1` is `*!*@10.0.0.1`.
pub fn full_mask(mask: &str) -> String {
    chatroom_core::modes::normalize_mask(mask.trim(), 200)
}

/// The values of the `notifications` setting.
pub const NOTIFICATIONS: &[&str] = &["auto", "osc777", "osc9", "off"];

fn parse_bool(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "1" => Ok(true),
        "off" | "false" | "no" | "0" => Ok(false),
        _ => Err(format!("{v:?} is not on or off")),
    }
}

fn parse_count(v: &str, min: usize, max: usize) -> Result<usize, String> {
    match v.parse::<usize>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!("{v:?} is not a number from {min} to {max}")),
    }
}

/// Whether chrono can format with `f` (a bad `%` would otherwise make
/// every line's time an error at drawing time).
pub fn valid_time_format(f: &str) -> bool {
    use chrono::format::{Item, StrftimeItems};
    !f.is_empty() && StrftimeItems::new(f).all(|i| !matches!(i, Item::Error))
}

impl Settings {
    /// Every setting, in the order `/set` lists them.
    pub fn entries(&self) -> Vec<(&'static str, Value)> {
        vec![
            ("nick", Value::Str(self.nick.clone())),
            ("colors", Value::Bool(self.colors)),
            ("time_format", Value::Str(self.time_format.clone())),
            ("scrollback", Value::Int(self.scrollback as i64)),
            ("history_page", Value::Int(self.history_page as i64)),
            ("highlights", Value::List(self.highlights.clone())),
            ("bell", Value::Bool(self.bell)),
            ("notifications", Value::Str(self.notifications.clone())),
            ("ignores", Value::List(self.ignores.clone())),
            ("mouse", Value::Bool(self.mouse)),
            (
                "reconnect_tries",
                Value::Int(i64::from(self.reconnect_tries)),
            ),
            ("logs", Value::Bool(self.logs)),
            ("log_dir", Value::Str(self.log_dir.clone())),
        ]
    }

    pub fn get(&self, name: &str) -> Option<Value> {
        self.entries()
            .into_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
    }

    /// `/set NAME VALUE`. `Err` says what is wrong, for the user.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), String> {
        let value = value.trim();
        match name {
            "nick" => self.nick = value.to_string(),
            "colors" | "colours" => self.colors = parse_bool(value)?,
            "time_format" => {
                if !valid_time_format(value) {
                    return Err(format!(
                        "{value:?} is not a time format (strftime, such as %H:%M:%S)"
                    ));
                }
                self.time_format = value.to_string();
            }
            "scrollback" => self.scrollback = parse_count(value, 100, 1_000_000)?,
            "history_page" => self.history_page = parse_count(value, 1, 1000)?,
            "highlights" => {
                self.highlights = value
                    .split([' ', ','])
                    .filter(|w| !w.is_empty())
                    .map(str::to_string)
                    .collect()
            }
            "bell" => self.bell = parse_bool(value)?,
            "ignores" => {
                self.ignores = value
                    .split([' ', ','])
                    .filter(|w| !w.is_empty())
                    .map(full_mask)
                    .collect()
            }
            "notifications" => {
                let v = value.to_ascii_lowercase();
                if !NOTIFICATIONS.contains(&v.as_str()) {
                    return Err(format!(
                        "notifications is one of {}",
                        NOTIFICATIONS.join(", ")
                    ));
                }
                self.notifications = v;
            }
            "mouse" => self.mouse = parse_bool(value)?,
            "reconnect_tries" => self.reconnect_tries = parse_count(value, 0, 1000)? as u32,
            "logs" => self.logs = parse_bool(value)?,
            "log_dir" => self.log_dir = value.to_string(),
            _ => {
                let names: Vec<&str> = self.entries().iter().map(|(n, _)| *n).collect();
                return Err(format!(
                    "no setting {name:?}; there are: {}",
                    names.join(", ")
                ));
            }
        }
        Ok(())
    }

    /// Checks what a configuration file gave (serde checked the types).
    pub fn validate(&self) -> Result<(), String> {
        if !NOTIFICATIONS.contains(&self.notifications.as_str()) {
            return Err(format!(
                "notifications = {:?}: it is one of {}",
                self.notifications,
                NOTIFICATIONS.join(", ")
            ));
        }
        if !valid_time_format(&self.time_format) {
            return Err(format!(
                "time_format {:?} is not a time format",
                self.time_format
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_reads_values_and_refuses_nonsense() {
        let mut s = Settings::default();
        s.set("colors", "off").expect("bool");
        assert!(!s.colors);
        s.set("time_format", "%H:%M:%S").expect("format");
        assert_eq!(s.time_format, "%H:%M:%S");
        assert!(s.set("time_format", "%Q").is_err());
        assert!(s.set("scrollback", "ten").is_err());
        assert!(s.set("scrollback", "5").is_err());
        s.set("scrollback", "2000").expect("count");
        assert_eq!(s.get("scrollback"), Some(Value::Int(2000)));
        let err = s.set("colour_scheme", "x").expect_err("unknown");
        assert!(err.contains("time_format"), "{err}");
        assert_eq!(Value::Bool(true).to_string(), "on");
    }

    #[test]
    fn every_entry_can_be_set_from_its_shown_value() {
        let mut s = Settings::default();
        for (name, value) in Settings::default().entries() {
            let shown = match &value {
                Value::Str(v) => v.clone(),
                Value::List(l) => l.join(" "),
                other => other.to_string(),
            };
            s.set(name, &shown)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        assert_eq!(s, Settings::default());
    }
}
