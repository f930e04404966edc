//! Stored messages → IRC lines, for clients that negotiated nothing.
//!
//! Without IRCv3 (`batch`, `server-time`, `draft/chathistory`) a client has
//! no way to tell a replayed line from a live one, so the replay is framed
//! by two server NOTICEs in the room and each line carries its original
//! time in front of the text (`[09:12]`, or with the date when older than
//! today). The lines themselves are ordinary PRIVMSG/NOTICE from their
//! original senders, so every client files them in the right window under
//! the right nick. Search results are server NOTICEs to the client.
//!
//! Must not decide what is replayed (the runtime and the store do) nor keep
//! state: it renders one event at a time.

use bytes::BytesMut;

use crate::core::{Event, MsgKind, MsgTarget};
use crate::edges::framing::split_text;
use crate::edges::past::stamp;

use super::render::{source, write_line};

/// Longest line written, CR LF not included.
const MAX_LINE: usize = 510;

/// Renders `Event::History` and `Event::Found`; other events write nothing.
pub fn render(server: &str, me: &str, event: &Event, out: &mut BytesMut) {
    match event {
        Event::History { room, lines } => {
            let notice = |out: &mut BytesMut, text: &str| {
                write_line(out, Some(server), "NOTICE", &[room], Some(text))
            };
            if lines.is_empty() {
                notice(out, &format!("*** No earlier messages in {room}"));
                return;
            }
            let n = lines.len();
            let s = if n == 1 { "" } else { "s" };
            notice(
                out,
                &format!("*** Replaying {n} earlier message{s} of {room}"),
            );
            for line in lines {
                replay_line(line, out);
            }
            notice(out, "*** End of replay");
        }
        Event::Found { room, words, lines } => {
            let notice = |out: &mut BytesMut, text: &str| {
                write_line(out, Some(server), "NOTICE", &[me], Some(text))
            };
            if lines.is_empty() {
                notice(
                    out,
                    &format!("*** Search for \"{words}\" in {room}: nothing found"),
                );
                return;
            }
            notice(
                out,
                &format!(
                    "*** Search for \"{words}\" in {room}: {} found, newest first",
                    lines.len()
                ),
            );
            for line in lines {
                if let Event::Message {
                    time,
                    from,
                    kind,
                    text,
                    ..
                } = line
                {
                    let body = match kind {
                        MsgKind::Action => format!("* {} {text}", from.nick),
                        _ => format!("<{}> {text}", from.nick),
                    };
                    notice(out, &format!("[{}] {body}", stamp(*time)));
                }
            }
            notice(out, "*** End of search");
        }
        _ => {}
    }
}

/// One stored message as a PRIVMSG/NOTICE from its sender, split like live
/// messages when it would pass 512 bytes.
fn replay_line(ev: &Event, out: &mut BytesMut) {
    let Event::Message {
        time,
        from,
        to,
        kind,
        text,
        ..
    } = ev
    else {
        return;
    };
    let src = source(from);
    let target = match to {
        MsgTarget::Room(r) | MsgTarget::Nick(r) => r,
    };
    let command = if *kind == MsgKind::Notice {
        "NOTICE"
    } else {
        "PRIVMSG"
    };
    let pre = match kind {
        MsgKind::Action => format!("\u{1}ACTION [{}] ", stamp(*time)),
        _ => format!("[{}] ", stamp(*time)),
    };
    let post = if *kind == MsgKind::Action {
        "\u{1}"
    } else {
        ""
    };
    let overhead =
        1 + src.len() + 1 + command.len() + 1 + target.len() + 2 + pre.len() + post.len();
    let budget = MAX_LINE.saturating_sub(overhead).max(64);
    for part in split_text(text, budget) {
        write_line(
            out,
            Some(&src),
            command,
            &[target],
            Some(&format!("{pre}{part}{post}")),
        );
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::core::UserInfo;

    fn msg(id: u64, nick: &str, kind: MsgKind, text: &str, time: SystemTime) -> Event {
        Event::Message {
            id,
            time,
            from: Arc::new(UserInfo {
                nick: nick.into(),
                user: nick.into(),
                realname: nick.into(),
                host: "127.0.0.1".into(),
            }),
            to: MsgTarget::Room("#lobby".into()),
            kind,
            text: text.into(),
            tags: Vec::new(),
        }
    }

    fn lines(ev: &Event) -> Vec<String> {
        let mut out = BytesMut::new();
        render("irc.test", "carol", ev, &mut out);
        String::from_utf8_lossy(&out)
            .split("\r\n")
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn replay_is_framed_and_keeps_senders() {
        let now = SystemTime::now();
        let ev = Event::History {
            room: "#lobby".into(),
            lines: vec![
                msg(1, "alice", MsgKind::Say, "hello", now),
                msg(2, "bob", MsgKind::Action, "waves", now),
                msg(3, "bob", MsgKind::Notice, "note", now),
            ],
        };
        let got = lines(&ev);
        let t = stamp(now);
        assert_eq!(got.len(), 5, "{got:#?}");
        assert!(got[0].starts_with(":irc.test NOTICE #lobby :*** Replaying 3 earlier messages"));
        assert_eq!(
            got[1],
            format!(":alice!alice@127.0.0.1 PRIVMSG #lobby :[{t}] hello")
        );
        assert_eq!(
            got[2],
            format!(":bob!bob@127.0.0.1 PRIVMSG #lobby :\u{1}ACTION [{t}] waves\u{1}")
        );
        assert_eq!(
            got[3],
            format!(":bob!bob@127.0.0.1 NOTICE #lobby :[{t}] note")
        );
        assert_eq!(got[4], ":irc.test NOTICE #lobby :*** End of replay");
    }

    #[test]
    fn old_lines_carry_their_date_and_long_ones_are_split() {
        let old = SystemTime::now() - Duration::from_secs(3 * 86_400);
        let long = "x".repeat(900);
        let ev = Event::History {
            room: "#lobby".into(),
            lines: vec![msg(1, "alice", MsgKind::Say, &long, old)],
        };
        let got = lines(&ev);
        assert!(got.len() >= 4, "{got:#?}");
        assert!(got[1].contains(&format!("[{}] ", stamp(old))));
        assert!(stamp(old).contains('-'), "a date: {}", stamp(old));
        for l in &got {
            assert!(l.len() <= MAX_LINE, "{}", l.len());
        }
        let sent: usize = got[1..got.len() - 1]
            .iter()
            .map(|l| l.matches('x').count())
            .sum();
        assert_eq!(sent, 900);
    }

    #[test]
    fn search_results_are_notices_to_the_client() {
        let now = SystemTime::now();
        let ev = Event::Found {
            room: "#lobby".into(),
            words: "hello".into(),
            lines: vec![msg(1, "alice", MsgKind::Say, "hello there", now)],
        };
        let got = lines(&ev);
        assert_eq!(got.len(), 3, "{got:#?}");
        assert!(got[1].starts_with(":irc.test NOTICE carol :["));
        assert!(got[1].ends_with("<alice> hello there"));
        let none = Event::Found {
            room: "#lobby".into(),
            words: "zzz".into(),
            lines: vec![],
        };
        assert_eq!(lines(&none).len(), 1);
    }
}
