//! Server replies read as sentences: a WHOIS answer gathered into one
//! small block (`nora is n@host (Nora)` then its details), the LUSERS
//! numerics (251-255, 265, 266) into one line (`3 users online, 1
//! operator, 2 rooms`), server notices without their `***`, and
//! `/ignore` (whose masks decide which people's lines are not shown).
//!
//! The collecting is state (what has come of a WHOIS so far); the wording
//! is here too, so the numbers never show raw. It must not handle other
//! numerics (`inbound.rs`) and, like the rest of the model, does no I/O.

use chatroom_core::modes::glob_match;
use chatroom_proto::irc::message::Message;
use chrono::{DateTime, Local, TimeZone};

use super::buffer::{BufferKind, LineKind};
use super::model::{Effect, Now, Scope, State};
use super::text::clean_text;
use crate::settings::full_mask;

/// A WHOIS answer being gathered (311 … 318).
#[derive(Debug, Clone, Default)]
pub(crate) struct Whois {
    nick: String,
    head: Option<String>,
    details: Vec<String>,
}

/// The LUSERS numbers gathered so far.
#[derive(Debug, Clone, Default)]
pub(crate) struct Lusers {
    users: Option<u64>,
    invisible: Option<u64>,
    servers: Option<u64>,
    ops: Option<u64>,
    rooms: Option<u64>,
    local: Option<u64>,
    global: Option<u64>,
    global_max: Option<u64>,
}

/// The numerics of a WHOIS answer (besides 311, which starts it, and 318,
/// which ends it).
const WHOIS_PARTS: &[&str] = &[
    "301", "307", "312", "313", "317", "319", "320", "330", "335", "338", "378", "379", "671",
    "276",
];

const LUSERS: &[&str] = &["251", "252", "253", "254", "255", "265", "266"];

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `84` → `1m 24s`, `90061` → `1d 1h 1m`.
pub(super) fn duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    let parts: Vec<String> = [(d, "d"), (h, "h"), (m, "m"), (s, "s")]
        .iter()
        .skip_while(|(n, _)| *n == 0)
        .take(3)
        .filter(|(n, _)| *n > 0)
        .map(|(n, u)| format!("{n}{u}"))
        .collect();
    if parts.is_empty() {
        "0s".to_string()
    } else {
        parts.join(" ")
    }
}

/// The numbers in `text`, in order (for replies that only say them in
/// words: `There are 3 users and 1 invisible on 1 servers`).
fn numbers(text: &str) -> Vec<u64> {
    text.split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect()
}

impl Lusers {
    fn sentence(&self) -> String {
        let users = self
            .global
            .or(self.local)
            .or_else(|| self.users.map(|u| u + self.invisible.unwrap_or(0)));
        let mut parts = Vec::new();
        if let Some(u) = users {
            parts.push(format!("{} online", plural(u, "user", "users")));
        }
        if let Some(o) = self.ops.filter(|&o| o > 0) {
            parts.push(plural(o, "operator", "operators"));
        }
        if let Some(r) = self.rooms {
            parts.push(plural(r, "room", "rooms"));
        }
        if let Some(s) = self.servers.filter(|&s| s > 1) {
            parts.push(format!("on {s} servers"));
        }
        if let (Some(max), Some(u)) = (self.global_max, users)
            && max > u
        {
            parts.push(format!("at most {max} at once"));
        }
        if parts.is_empty() {
            "nobody counted".to_string()
        } else {
            parts.join(", ")
        }
    }
}

impl State {
    // ----- WHOIS ---------------------------------------------------------

    /// A WHOIS numeric; returns whether it was one (and was taken).
    pub(super) fn whois_part(&mut self, msg: &Message, time: DateTime<Local>) -> bool {
        let p = |i: usize| clean_text(msg.param(i));
        let last = clean_text(msg.params.last().map(String::as_str).unwrap_or(""));
        let code = msg.command.as_str();
        if code == "311" {
            self.whois = Some(Whois {
                nick: p(1),
                head: Some(format!("{} is {}@{} ({last})", p(1), p(2), p(3))),
                details: Vec::new(),
            });
            return true;
        }
        let pending = self
            .whois
            .as_ref()
            .is_some_and(|w| self.same(&w.nick, msg.param(1)));
        if code == "318" {
            if pending && let Some(w) = self.whois.take() {
                self.whois_done(w, time);
            }
            // Without a 311 (no such nick: 401 said so) there is nothing
            // to end.
            return true;
        }
        if !pending || !WHOIS_PARTS.contains(&code) {
            return false;
        }
        let detail = match code {
            "319" => format!(
                "in {}",
                last.split_whitespace().collect::<Vec<_>>().join(", ")
            ),
            "312" => format!("on {} ({last})", p(2)),
            "317" => {
                let idle = msg.param(2).parse::<u64>().ok();
                let since = msg
                    .param(3)
                    .parse::<i64>()
                    .ok()
                    .filter(|_| msg.params.len() > 4)
                    .and_then(|t| Local.timestamp_opt(t, 0).single());
                match (idle, since) {
                    (Some(i), Some(t)) => format!(
                        "idle {}, signed on {}",
                        duration(i),
                        t.format("%Y-%m-%d %H:%M")
                    ),
                    (Some(i), None) => format!("idle {}", duration(i)),
                    _ => last,
                }
            }
            "330" => format!("logged in as {}", p(2)),
            "301" => format!("away: {last}"),
            "313" => "is a server operator".to_string(),
            "671" => "on a secure connection".to_string(),
            "276" => format!(
                "client certificate {}",
                last.trim_start_matches("has client certificate fingerprint ")
            ),
            _ => last,
        };
        if let Some(w) = &mut self.whois {
            w.details.push(detail);
        }
        true
    }

    fn whois_done(&mut self, w: Whois, time: DateTime<Local>) {
        let i = self.current;
        let head = w.head.unwrap_or_else(|| w.nick.clone());
        self.push(i, LineKind::Info(head), time, Some(Scope::Global));
        for d in w.details {
            self.push(
                i,
                LineKind::Info(format!("  {d}")),
                time,
                Some(Scope::Global),
            );
        }
    }

    // ----- LUSERS --------------------------------------------------------

    /// A LUSERS numeric; returns whether it was one. The line is shown at
    /// 266, the last of them, or when something else comes first.
    pub(super) fn lusers_part(&mut self, msg: &Message, time: DateTime<Local>) -> bool {
        let code = msg.command.as_str();
        if !LUSERS.contains(&code) {
            return false;
        }
        let last = msg.params.last().map(String::as_str).unwrap_or("");
        let count = msg.param(1).parse::<u64>().ok();
        let l = self.lusers.get_or_insert_with(Lusers::default);
        match code {
            "251" => {
                let n = numbers(last);
                l.users = n.first().copied();
                l.invisible = n.get(1).copied();
                l.servers = n.get(2).copied();
            }
            "252" => l.ops = count,
            "254" => l.rooms = count,
            "265" => l.local = count.or_else(|| numbers(last).first().copied()),
            "266" => {
                let n = numbers(last);
                l.global = count.or_else(|| n.first().copied());
                l.global_max = msg
                    .param(2)
                    .parse::<u64>()
                    .ok()
                    .filter(|_| msg.params.len() > 3)
                    .or_else(|| n.get(1).copied());
            }
            // 253 unknown connections, 255 this server's own counts.
            _ => {}
        }
        if code == "266" {
            self.lusers_done(time);
        }
        true
    }

    /// Shows the gathered LUSERS line, if any.
    pub(super) fn lusers_done(&mut self, time: DateTime<Local>) {
        let Some(l) = self.lusers.take() else {
            return;
        };
        let text = l.sentence();
        self.push(0, LineKind::Info(text.clone()), time, Some(Scope::Global));
        // Asked for with /lusers once the welcome is over: shown where the
        // user is too.
        if self.motd_done && self.current != 0 {
            self.push(self.current, LineKind::Info(text), time, None);
        }
    }

    // ----- server notices --------------------------------------------------

    /// A NOTICE from the server itself, as a sentence: into the room it is
    /// about, else where the user is (the server buffer while connecting).
    pub(super) fn server_notice(&mut self, msg: &Message, time: DateTime<Local>) {
        let text = clean_text(msg.param(1));
        let text = text.trim_start_matches("***").trim_start().to_string();
        if text.is_empty() {
            return;
        }
        let target = msg.param(0);
        let (i, scope) = match self.find_buffer(target) {
            Some(i) if self.buffers[i].kind == BufferKind::Channel => (i, self.scope_of(i)),
            _ if self.motd_done => (self.current, Scope::Global),
            _ => (0, Scope::Global),
        };
        self.push(i, LineKind::Info(text), time, Some(scope));
    }

    // ----- /ignore ---------------------------------------------------------

    /// Whether lines from `source` (`nick!user@host`) are ignored.
    pub fn is_ignored(&self, source: Option<&str>) -> bool {
        let Some(source) = source.filter(|s| s.contains('!')) else {
            return false;
        };
        self.settings.ignores.iter().any(|m| glob_match(m, source))
    }

    /// `/ignore` and `/ignore MASK`.
    pub(super) fn ignore_command(&mut self, mask: Option<String>, now: Now) -> Vec<Effect> {
        let Some(mask) = mask else {
            if self.settings.ignores.is_empty() {
                self.info(
                    "nobody is ignored; /ignore NICK (or nick!user@host with * and ?)",
                    now,
                );
            } else {
                self.info("ignored (/unignore MASK or N shows them again):", now);
                let list: Vec<String> = self.settings.ignores.clone();
                for (n, m) in list.iter().enumerate() {
                    self.info(format!("  {}. {m}", n + 1), now);
                }
            }
            return Vec::new();
        };
        let full = full_mask(&mask);
        if self
            .settings
            .ignores
            .iter()
            .any(|m| m.eq_ignore_ascii_case(&full))
        {
            self.info(format!("{full} is already ignored"), now);
        } else {
            self.settings.ignores.push(full.clone());
            self.info(format!("ignoring {full} (/save keeps it)"), now);
        }
        Vec::new()
    }

    /// `/unignore MASK` or `/unignore N`.
    pub(super) fn unignore_command(&mut self, what: String, now: Now) -> Vec<Effect> {
        let list = &mut self.settings.ignores;
        let at = match what.parse::<usize>() {
            Ok(n) if n >= 1 && n <= list.len() => Some(n - 1),
            _ => {
                let full = full_mask(&what);
                list.iter().position(|m| m.eq_ignore_ascii_case(&full))
            }
        };
        match at {
            Some(i) => {
                let m = list.remove(i);
                self.info(format!("no longer ignoring {m}"), now);
            }
            None => self.error(format!("{what} is not ignored; /ignore lists them"), now),
        }
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::test_support::{feed, joined, last_kind, run};

    fn infos(s: &State, buffer: &str) -> Vec<String> {
        let i = s.find_buffer(buffer).expect("buffer");
        s.buffers[i]
            .lines
            .iter()
            .filter_map(|l| match &l.kind {
                LineKind::Info(t) => Some(t.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(duration(0), "0s");
        assert_eq!(duration(84), "1m 24s");
        assert_eq!(duration(3600), "1h");
        assert_eq!(duration(90061), "1d 1h 1m");
    }

    #[test]
    fn whois_is_one_small_block() {
        let mut s = joined();
        let before = infos(&s, "#lobby").len();
        for line in [
            ":srv 311 me nora n 127.0.0.1 * :Nora N",
            ":srv 319 me nora :#lobby @#ops",
            ":srv 312 me nora chatroom :LAN chat",
            ":srv 330 me nora nora :is logged in as",
            ":srv 317 me nora 84 1700000000 :seconds idle, signon time",
            ":srv 301 me nora :lunch",
            ":srv 318 me nora :End of /WHOIS list.",
        ] {
            feed(&mut s, line);
        }
        let shown = infos(&s, "#lobby");
        let when = Local
            .timestamp_opt(1_700_000_000, 0)
            .single()
            .expect("time")
            .format("%Y-%m-%d %H:%M");
        assert_eq!(
            shown[before..],
            [
                "nora is n@127.0.0.1 (Nora N)".to_string(),
                "  in #lobby, @#ops".to_string(),
                "  on chatroom (LAN chat)".to_string(),
                "  logged in as nora".to_string(),
                format!("  idle 1m 24s, signed on {when}"),
                "  away: lunch".to_string(),
            ]
        );
        // No such nick: the error, and no stray end line.
        feed(&mut s, ":srv 401 me ghost :No such nick/channel");
        feed(&mut s, ":srv 318 me ghost :End of /WHOIS list.");
        assert!(
            matches!(last_kind(&s, "#lobby"), LineKind::Error(t) if t == "ghost: No such nick/channel")
        );
        // An away reply outside a WHOIS is still shown.
        feed(&mut s, ":srv 301 me bob :gone fishing");
        assert_eq!(
            last_kind(&s, "#lobby"),
            LineKind::Info("bob is away: gone fishing".into())
        );
    }

    #[test]
    fn lusers_is_one_line() {
        let mut s = joined();
        for line in [
            ":srv 251 me :There are 3 users and 1 invisible on 1 servers",
            ":srv 252 me 0 :operator(s) online",
            ":srv 254 me 2 :channels formed",
            ":srv 255 me :I have 4 clients and 0 servers",
            ":srv 265 me 4 5 :Current local users 4, max 5",
            ":srv 266 me 4 5 :Current global users 4, max 5",
        ] {
            feed(&mut s, line);
        }
        let shown = infos(&s, "irc.test:6667");
        assert_eq!(
            shown.last().map(String::as_str),
            Some("4 users online, 2 rooms, at most 5 at once")
        );
        assert!(
            shown.iter().all(|l| !l.contains("operator(s)")),
            "{shown:?}"
        );
        // Cut short (no 266): shown when something else comes.
        feed(
            &mut s,
            ":srv 251 me :There are 1 users and 0 invisible on 1 servers",
        );
        feed(&mut s, ":srv 252 me 1 :operator(s) online");
        feed(&mut s, ":srv 375 me :- srv Message of the day -");
        let shown = infos(&s, "irc.test:6667");
        assert!(
            shown.contains(&"1 user online, 1 operator".to_string()),
            "{shown:?}"
        );
    }

    #[test]
    fn server_notices_are_sentences_in_their_place() {
        let mut s = joined();
        feed(
            &mut s,
            ":srv NOTICE #lobby :*** Replaying 3 earlier messages of #lobby",
        );
        assert_eq!(
            last_kind(&s, "#lobby"),
            LineKind::Info("Replaying 3 earlier messages of #lobby".into())
        );
        feed(&mut s, ":srv NOTICE * :*** Looking up your hostname");
        assert!(infos(&s, "irc.test:6667").contains(&"Looking up your hostname".to_string()));
        // A person's notice stays a notice.
        feed(&mut s, ":bob!b@h NOTICE #lobby :hey");
        assert!(matches!(last_kind(&s, "#lobby"), LineKind::Notice { .. }));
    }

    #[test]
    fn ignored_people_are_not_shown() {
        let mut s = joined();
        run(&mut s, "/ignore bob");
        run(&mut s, "/ignore *!*@spam.example");
        assert_eq!(s.settings.ignores, vec!["bob!*@*", "*!*@spam.example"]);
        let lobby = s.find_buffer("#lobby").expect("lobby");
        let before = s.buffers[lobby].lines.len();
        feed(&mut s, ":BOB!b@h PRIVMSG #lobby :you cannot see me");
        feed(&mut s, ":eve!e@spam.example PRIVMSG me :buy now");
        feed(&mut s, ":eve!e@spam.example INVITE me #spam");
        feed(&mut s, ":bob!b@h NOTICE me :nor this");
        assert_eq!(s.buffers[lobby].lines.len(), before);
        assert!(s.find_buffer("eve").is_none(), "no private buffer opened");
        // Others are shown; joins of the ignored still keep the list right.
        feed(&mut s, ":alice!a@h PRIVMSG #lobby :visible");
        assert_eq!(s.buffers[lobby].lines.len(), before + 1);
        run(&mut s, "/unignore 1");
        assert_eq!(s.settings.ignores, vec!["*!*@spam.example"]);
        feed(&mut s, ":bob!b@h PRIVMSG #lobby :back");
        assert_eq!(
            s.buffers[lobby].lines.len(),
            before + 3,
            "the reply and bob's line"
        );
        run(&mut s, "/unignore nobody");
        assert!(matches!(last_kind(&s, "#lobby"), LineKind::Error(_)));
    }
}
