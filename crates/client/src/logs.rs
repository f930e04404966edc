//! Chat logs on disk: one plain-text file per buffer, under the XDG data
//! directory (`$XDG_DATA_HOME/chatroom/logs/<server>/<buffer>.log`, or the
//! `log_dir` setting), one line per event with its date and time:
//!
//! ```text
//! 2026-12-07 21:14:03 <alice> is the pizza here yet?
//! 2026-12-07 21:14:09 * bob checks the door
//! 2026-12-07 21:14:12 --> carol joined
//! ```
//!
//! The lines are written as the state model queues them (live lines only:
//! what the server replays is in its own history, and a password never
//! reaches a line), and the end of a file is read back as scrollback when
//! a room is joined on a server without history. Files are appended to and
//! never rewritten; a write that fails is reported once and logging goes
//! on with the next line. It must not decide what is logged (the model
//! does) and reads at most [`TAIL_BYTES`] of a file, however large.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use chrono::{Local, NaiveDateTime, TimeZone};

use crate::state::{Line, LineKind};

/// How much of the end of a log is read back as scrollback.
pub const TAIL_BYTES: u64 = 256 * 1024;

/// Open files kept at once; past this the least recently written is
/// closed (it is opened again when needed).
const MAX_OPEN: usize = 32;

const TIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

/// A name made safe as one path component: no separator, no control
/// character, no leading dot, lower case (IRC names differ in case only
/// as one person or room).
pub fn safe_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c == '/' || c == '\\' || c == ':' || c.is_control() {
                '_'
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect();
    if out.starts_with('.') || out.is_empty() {
        out.insert(0, '_');
    }
    out.chars().take(100).collect()
}

/// One line as it is written (no line ending); `None` for what is not
/// logged (marks, lines from the server's history).
pub fn format_line(line: &Line) -> Option<String> {
    if line.history || matches!(line.kind, LineKind::Marker(_)) {
        return None;
    }
    let time = line.time.format(TIME_FORMAT);
    let body = match &line.kind {
        LineKind::Message { nick, text, .. } => format!("<{nick}> {text}"),
        LineKind::Action { nick, text, .. } => format!("* {nick} {text}"),
        LineKind::Notice { nick, text, .. } => format!("-{nick}- {text}"),
        LineKind::Join { .. } => format!("--> {}", line.kind.event_text()?),
        LineKind::Part { .. } | LineKind::Quit { .. } | LineKind::Kick { .. } => {
            format!("<-- {}", line.kind.event_text()?)
        }
        LineKind::Error(text) => format!("!! {text}"),
        kind => format!("-- {}", kind.event_text()?),
    };
    // One event, one line, whatever the text held.
    Some(format!("{time} {}", body.replace(['\n', '\r'], " ")))
}

/// A logged line read back, marked as history; `me` is our nick (our own
/// lines are shown as ours). `None` for a line that is not one of ours.
pub fn parse_line(text: &str, me: &str) -> Option<Line> {
    let stamp = text.get(..19)?;
    let rest = text.get(20..)?;
    let naive = NaiveDateTime::parse_from_str(stamp, TIME_FORMAT).ok()?;
    let time = Local.from_local_datetime(&naive).earliest()?;
    let own = |nick: &str| nick.eq_ignore_ascii_case(me);
    let kind = if let Some(r) = rest.strip_prefix('<') {
        let (nick, text) = r.split_once("> ")?;
        LineKind::Message {
            nick: nick.to_string(),
            text: text.to_string(),
            own: own(nick),
        }
    } else if let Some(r) = rest.strip_prefix("* ") {
        let (nick, text) = r.split_once(' ').unwrap_or((r, ""));
        LineKind::Action {
            nick: nick.to_string(),
            text: text.to_string(),
            own: own(nick),
        }
    } else if let Some(r) = rest.strip_prefix("-- ") {
        LineKind::Info(r.to_string())
    } else if let Some(r) = rest
        .strip_prefix("--> ")
        .or_else(|| rest.strip_prefix("<-- "))
    {
        LineKind::Info(r.to_string())
    } else if let Some(r) = rest.strip_prefix("!! ") {
        LineKind::Error(r.to_string())
    } else if let Some(r) = rest.strip_prefix('-') {
        let (nick, text) = r.split_once("- ")?;
        LineKind::Notice {
            nick: nick.to_string(),
            text: text.to_string(),
            own: own(nick),
        }
    } else {
        return None;
    };
    Some(Line {
        history: true,
        ..Line::new(time, kind)
    })
}

/// The log files of one server.
#[derive(Debug)]
pub struct Logger {
    dir: PathBuf,
    open: HashMap<String, File>,
    /// File names in the order they were last written, oldest first.
    recent: Vec<String>,
    /// A write failed (told once; logging goes on).
    failed: bool,
}

impl Logger {
    /// Logs for `server` (a saved name or an address) under `root`.
    pub fn new(root: &Path, server: &str) -> Logger {
        Logger {
            dir: root.join(safe_name(server)),
            open: HashMap::new(),
            recent: Vec::new(),
            failed: false,
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of buffer `name` (`None`: the server buffer).
    pub fn path(&self, name: Option<&str>) -> PathBuf {
        let file = match name {
            Some(n) => format!("{}.log", safe_name(n)),
            None => "server.log".to_string(),
        };
        self.dir.join(file)
    }

    /// Appends `line` to buffer `name`'s file. `Err` only the first time a
    /// write fails, to be told to the user.
    pub fn write(&mut self, name: Option<&str>, line: &Line) -> Result<(), String> {
        let Some(text) = format_line(line) else {
            return Ok(());
        };
        let path = self.path(name);
        let key = path.to_string_lossy().into_owned();
        let result = self.append(&key, &path, &text);
        match result {
            Ok(()) => Ok(()),
            Err(e) if !self.failed => {
                self.failed = true;
                Err(format!("cannot write the log {}: {e}", path.display()))
            }
            Err(_) => Ok(()),
        }
    }

    fn append(&mut self, key: &str, path: &Path, text: &str) -> std::io::Result<()> {
        if !self.open.contains_key(key) {
            if self.open.len() >= MAX_OPEN && !self.recent.is_empty() {
                let oldest = self.recent.remove(0);
                self.open.remove(&oldest);
            }
            std::fs::create_dir_all(&self.dir)?;
            let mut options = std::fs::OpenOptions::new();
            options.create(true).append(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                // What was said in private stays the user's.
                options.mode(0o600);
            }
            self.open.insert(key.to_string(), options.open(path)?);
        }
        self.recent.retain(|k| k != key);
        self.recent.push(key.to_string());
        let file = self
            .open
            .get_mut(key)
            .ok_or_else(|| std::io::Error::other("log file not open"))?;
        // One write per line, so lines from two clients never interleave.
        file.write_all(format!("{text}\n").as_bytes())
    }

    /// The last `max` lines of buffer `name`'s log, oldest first, as
    /// history lines; empty when there is no log.
    pub fn tail(&self, name: Option<&str>, max: usize, me: &str) -> Vec<Line> {
        let Ok(mut file) = File::open(self.path(name)) else {
            return Vec::new();
        };
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        let start = len.saturating_sub(TAIL_BYTES);
        if file.seek(SeekFrom::Start(start)).is_err() {
            return Vec::new();
        }
        let mut bytes = Vec::new();
        if file.take(TAIL_BYTES).read_to_end(&mut bytes).is_err() {
            return Vec::new();
        }
        let text = String::from_utf8_lossy(&bytes);
        let mut lines: Vec<&str> = text.lines().collect();
        // Read from the middle of the file: the first line may be cut.
        if start > 0 && !lines.is_empty() {
            lines.remove(0);
        }
        let from = lines.len().saturating_sub(max);
        lines[from..]
            .iter()
            .filter_map(|l| parse_line(l, me))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(h: u32, m: u32, s: u32) -> chrono::DateTime<Local> {
        Local
            .with_ymd_and_hms(2024, 5, 1, h, m, s)
            .single()
            .expect("valid time")
    }

    fn temp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("chatroom-logs-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn lines_are_written_and_read_back() {
        let kinds = [
            LineKind::Message {
                nick: "alice".into(),
                text: "hi <there>".into(),
                own: false,
            },
            LineKind::Action {
                nick: "me".into(),
                text: "waves".into(),
                own: true,
            },
            LineKind::Notice {
                nick: "bob".into(),
                text: "psst".into(),
                own: false,
            },
            LineKind::Join {
                nick: "carol".into(),
            },
            LineKind::Info("topic: pizza".into()),
        ];
        let shown: Vec<String> = kinds
            .iter()
            .map(|k| format_line(&Line::new(at(9, 5, 7), k.clone())).expect("logged"))
            .collect();
        assert_eq!(
            shown,
            vec![
                "2024-05-01 09:05:07 <alice> hi <there>",
                "2024-05-01 09:05:07 * me waves",
                "2024-05-01 09:05:07 -bob- psst",
                "2024-05-01 09:05:07 --> carol joined",
                "2024-05-01 09:05:07 -- topic: pizza",
            ]
        );
        let back: Vec<Line> = shown.iter().filter_map(|l| parse_line(l, "ME")).collect();
        assert_eq!(back.len(), 5);
        assert!(back.iter().all(|l| l.history && l.time == at(9, 5, 7)));
        assert_eq!(back[0].kind, kinds[0]);
        assert_eq!(back[1].kind, kinds[1], "our own line, whatever the case");
        assert_eq!(back[2].kind, kinds[2]);
        assert_eq!(back[3].kind, LineKind::Info("carol joined".into()));
        // Marks and history are not logged; garbage is not read.
        assert_eq!(
            format_line(&Line::new(at(1, 1, 1), LineKind::Marker("— live —".into()))),
            None
        );
        assert!(parse_line("not a log line", "me").is_none());
        assert!(parse_line("2024-05-01 09:05:07 ", "me").is_none());
    }

    #[test]
    fn names_are_safe_path_components() {
        assert_eq!(safe_name("#Lobby"), "#lobby");
        assert_eq!(safe_name("../../etc"), "_.._.._etc");
        assert_eq!(safe_name("a/b\\c:d\u{1b}"), "a_b_c_d_");
        assert_eq!(safe_name(""), "_");
        assert_eq!(safe_name("127.0.0.1:6667"), "127.0.0.1_6667");
    }

    #[test]
    fn a_file_per_buffer_and_the_tail_is_bounded() {
        let root = temp("tail");
        let mut log = Logger::new(&root, "lan");
        for n in 0..50 {
            let line = Line::new(
                at(10, 0, 0),
                LineKind::Message {
                    nick: "alice".into(),
                    text: format!("line {n}"),
                    own: false,
                },
            );
            log.write(Some("#Lobby"), &line).expect("writes");
        }
        log.write(
            None,
            &Line::new(at(10, 0, 0), LineKind::Info("motd".into())),
        )
        .expect("writes");
        assert!(root.join("lan").join("#lobby.log").exists());
        assert!(root.join("lan").join("server.log").exists());
        let tail = log.tail(Some("#lobby"), 3, "me");
        let texts: Vec<String> = tail
            .iter()
            .map(|l| match &l.kind {
                LineKind::Message { text, .. } => text.clone(),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(texts, vec!["line 47", "line 48", "line 49"]);
        assert!(log.tail(Some("#nowhere"), 3, "me").is_empty());
        let _ = std::fs::remove_dir_all(root);
    }

    #[test]
    fn only_the_end_of_a_big_log_is_read() {
        let root = temp("big");
        let log = Logger::new(&root, "lan");
        std::fs::create_dir_all(log.dir()).expect("dir");
        let one = "2024-05-01 10:00:00 <alice> ".to_string() + &"x".repeat(100) + "\n";
        let big = one.repeat((TAIL_BYTES as usize / one.len()) * 3);
        std::fs::write(log.path(Some("#big")), big).expect("write");
        let tail = log.tail(Some("#big"), usize::MAX, "me");
        assert!(!tail.is_empty());
        assert!(tail.len() <= TAIL_BYTES as usize / one.len());
        let _ = std::fs::remove_dir_all(root);
    }
}
