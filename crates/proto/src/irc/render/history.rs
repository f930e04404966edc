//! Stored messages → IRC lines.
//!
//! A client with `server-time` gets each stored line as it was first
//! relayed, with its original `@time=` (and `msgid` with message-tags), and
//! with `batch` the whole replay inside one `BATCH +id chathistory #room`,
//! which is how IRCv3 clients tell history from live traffic
//! ([`render_timed`]).
//!
//! Without `batch` a client has no way to tell a replayed line from a live
//! one, so the replay is framed by two server NOTICEs in the room and each
//! line carries its original time in front of the text (`[09:12]`, or with
//! the date when older than today). That holds for clients with
//! `server-time` too: they get the original `@time` as well, but a client
//! may ignore it (irssi asks for `server-time` and, with its default
//! settings, shows the time a line arrived), and would then show old lines
//! as said just now, again on every rejoin. The lines themselves are
//! ordinary PRIVMSG/NOTICE from their original senders, so every client
//! files them in the right window under the right nick. Search results are
//! server NOTICEs to the client.
//!
//! A sub-renderer: it writes through the wire primitives and the shared
//! message encoding, never through the renderer. Must not decide what is
//! replayed (the runtime and the store do) nor keep state: it renders one
//! event at a time.

use bytes::BytesMut;

use crate::framing::split_text;
use crate::past::stamp;
use chatroom_core::{Event, MsgKind, MsgTarget, multiline};

use super::shared::render_message;
use crate::irc::tags;
use crate::irc::wire::{MAX_LINE, in_batch, source, tag_line, write_line};

/// Renders `Event::History` and `Event::Found` for a client without
/// `batch`; other events write nothing. With `time` (server-time) each
/// replayed line also carries its original `@time`.
pub fn render(server: &str, me: &str, event: &Event, time: bool, out: &mut BytesMut) {
    match event {
        Event::History { room, lines } => {
            let notice = |out: &mut BytesMut, text: &str| {
                write_line(out, Some(server), "NOTICE", &[room], Some(text))
            };
            // Topic changes are not replayed over IRC: draft/chathistory
            // sends only messages to clients without event-playback.
            let n = lines
                .iter()
                .filter(|l| matches!(l, Event::Message { .. }))
                .count();
            if n == 0 {
                // Nothing a client could take for live lines: with
                // server-time, as before the frame existed, nothing at all.
                if !time {
                    notice(out, &format!("*** No earlier messages in {room}"));
                }
                return;
            }
            let s = if n == 1 { "" } else { "s" };
            notice(
                out,
                &format!("*** Replaying {n} earlier message{s} of {room}"),
            );
            for line in lines {
                replay_line(line, time, out);
            }
            notice(out, "*** End of replay");
        }
        Event::Found { room, words, lines } => {
            let notice = |out: &mut BytesMut, text: &str| {
                write_line(out, Some(server), "NOTICE", &[me], Some(text))
            };
            // Messages only, as in the replay.
            let n = lines
                .iter()
                .filter(|l| matches!(l, Event::Message { .. }))
                .count();
            if n == 0 {
                notice(
                    out,
                    &format!("*** Search for \"{words}\" in {room}: nothing found"),
                );
                return;
            }
            notice(
                out,
                &format!("*** Search for \"{words}\" in {room}: {n} found, newest first"),
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

/// Which capabilities change a replayed message: server-time (`time`),
/// message-tags (`tagged`), and draft/multiline with batch (`multi`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Tags {
    pub time: bool,
    pub tagged: bool,
    pub multi: bool,
}

/// Replayed lines for an IRCv3 client: each exactly as it was relayed
/// live (with `time` its original server-time; msgid and the client-only
/// tags kept with it when `tagged`; stored TAGMSGs only when `tagged`), no
/// text prefix, and with `batch` (a reference unique on
/// the connection) all of them inside a `chathistory` batch for `target`,
/// empty or not.
pub fn render_timed(
    server: &str,
    target: &str,
    lines: &[Event],
    batch: Option<&str>,
    tags: Tags,
    out: &mut BytesMut,
) {
    let Tags {
        time,
        tagged,
        multi,
    } = tags;
    // A stored TAGMSG (a reaction) goes only to clients that take tags,
    // as live ones do: no client without message-tags may get a TAGMSG.
    let lines = lines
        .iter()
        .filter(|l| tagged || !matches!(l, Event::TagMsg { .. }));
    let Some(id) = batch else {
        for line in lines {
            out.extend_from_slice(&render_message(line, time, tagged, false, multi));
        }
        return;
    };
    let plus = format!("+{id}");
    write_line(
        out,
        Some(server),
        "BATCH",
        &[&plus, "chathistory", target],
        None,
    );
    let tag = format!("batch={id}");
    for line in lines {
        let bytes = render_message(line, time, tagged, false, multi);
        for one in bytes
            .split_inclusive(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
        {
            // A line of a message's own multiline batch stays in it; its
            // `BATCH +`/`-` lines are the ones inside this batch.
            if in_batch(one) {
                out.extend_from_slice(one);
            } else {
                tag_line(out, &tag, one);
            }
        }
    }
    let minus = format!("-{id}");
    write_line(out, Some(server), "BATCH", &[&minus], None);
}

/// A `CHATHISTORY TARGETS` answer: one `CHATHISTORY TARGETS <target>
/// <time>` line per conversation, in a `draft/chathistory-targets` batch
/// when the client has `batch`.
pub fn render_targets(
    server: &str,
    found: &[(String, std::time::SystemTime)],
    batch: Option<&str>,
    out: &mut BytesMut,
) {
    if let Some(id) = batch {
        let plus = format!("+{id}");
        write_line(
            out,
            Some(server),
            "BATCH",
            &[&plus, "draft/chathistory-targets"],
            None,
        );
    }
    for (target, latest) in found {
        let t = tags::server_time(*latest);
        let mut line = BytesMut::new();
        write_line(
            &mut line,
            Some(server),
            "CHATHISTORY",
            &["TARGETS", target, &t],
            None,
        );
        match batch {
            Some(id) => tag_line(out, &format!("batch={id}"), &line),
            None => out.extend_from_slice(&line),
        }
    }
    if let Some(id) = batch {
        let minus = format!("-{id}");
        write_line(out, Some(server), "BATCH", &[&minus], None);
    }
}

/// Private messages held while the recipient (`me`) was offline, in the
/// order they were sent, each addressed to the recipient's nickname now:
/// with `time` (server-time) as relayed live with their original `@time`,
/// else with that time in front of the text, as replays are.
pub fn render_held(me: &str, lines: &[Event], tags: Tags, out: &mut BytesMut) {
    for line in lines {
        let mut ev = line.clone();
        if let Event::Message { to, .. } = &mut ev {
            *to = MsgTarget::Nick(me.into());
        }
        if tags.time {
            out.extend_from_slice(&render_message(&ev, true, tags.tagged, false, tags.multi));
        } else {
            replay_line(&ev, false, out);
        }
    }
}

/// One stored message as a PRIVMSG/NOTICE from its sender, its time in
/// front of the text (and as `@time` when `time`), split like live
/// messages when it would pass 512 bytes.
fn replay_line(ev: &Event, time_tag: bool, out: &mut BytesMut) {
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
        MsgTarget::Room(r) | MsgTarget::Nick(r) | MsgTarget::Status(r) => r,
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
    // A message of several lines: each non-blank line as composed.
    let lines = multiline::sent_lines(text);
    let tag = time_tag.then(|| format!("time={}", tags::server_time(*time)));
    for part in lines.flat_map(|l| split_text(l, budget)) {
        let text = format!("{pre}{part}{post}");
        match &tag {
            Some(tag) => {
                let mut one = BytesMut::new();
                write_line(&mut one, Some(&src), command, &[target], Some(&text));
                tag_line(out, tag, &one);
            }
            None => write_line(out, Some(&src), command, &[target], Some(&text)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, SystemTime};

    use chatroom_core::UserInfo;

    use super::*;
    use crate::irc::render::test_support as support;
    use crate::irc::render::{Handed, Local};

    fn msg(id: u64, nick: &str, kind: MsgKind, text: &str, time: SystemTime) -> Event {
        Event::Message {
            id,
            time,
            from: Arc::new(UserInfo {
                nick: nick.into(),
                user: nick.into(),
                realname: nick.into(),
                host: "127.0.0.1".into(),
                account: None,
                bot: false,
            }),
            to: MsgTarget::Room("#lobby".into()),
            kind,
            text: text.into(),
            tags: Vec::new(),
        }
    }

    fn lines(ev: &Event) -> Vec<String> {
        lines_timed(ev, false)
    }

    fn lines_timed(ev: &Event, time: bool) -> Vec<String> {
        let mut out = BytesMut::new();
        render("irc.test", "carol", ev, time, &mut out);
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
    fn server_time_without_batch_is_framed_and_stamped_too() {
        let then = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let ev = Event::History {
            room: "#lobby".into(),
            lines: vec![
                msg(1, "alice", MsgKind::Say, "hello", then),
                msg(2, "bob", MsgKind::Action, "waves", then),
            ],
        };
        let got = lines_timed(&ev, true);
        let t = stamp(then);
        let only_topics = Event::History {
            room: "#lobby".into(),
            lines: vec![],
        };
        assert!(lines_timed(&only_topics, true).is_empty());
        assert_eq!(lines(&only_topics).len(), 1);
        assert_eq!(
            got,
            vec![
                ":irc.test NOTICE #lobby :*** Replaying 2 earlier messages of #lobby".to_string(),
                format!(
                    "@time=2023-11-14T22:13:20.000Z :alice!alice@127.0.0.1 PRIVMSG #lobby :[{t}] hello"
                ),
                format!(
                    "@time=2023-11-14T22:13:20.000Z :bob!bob@127.0.0.1 PRIVMSG #lobby :\u{1}ACTION [{t}] waves\u{1}"
                ),
                ":irc.test NOTICE #lobby :*** End of replay".to_string(),
            ]
        );
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

    fn timed(lines_in: &[Event], batch: Option<&str>, tagged: bool) -> Vec<String> {
        let mut out = BytesMut::new();
        let tags = Tags {
            time: true,
            tagged,
            multi: false,
        };
        render_timed("irc.test", "#lobby", lines_in, batch, tags, &mut out);
        String::from_utf8_lossy(&out)
            .split("\r\n")
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn batched_replay_keeps_original_time_and_msgid_without_text_prefix() {
        let then = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let got = timed(
            &[
                msg(7, "alice", MsgKind::Say, "hello", then),
                msg(8, "bob", MsgKind::Action, "waves", then),
            ],
            Some("H1"),
            true,
        );
        assert_eq!(
            got,
            vec![
                ":irc.test BATCH +H1 chathistory #lobby".to_string(),
                "@batch=H1;time=2023-11-14T22:13:20.123Z;msgid=7 :alice!alice@127.0.0.1 PRIVMSG #lobby :hello".to_string(),
                "@batch=H1;time=2023-11-14T22:13:20.123Z;msgid=8 :bob!bob@127.0.0.1 PRIVMSG #lobby :\u{1}ACTION waves\u{1}".to_string(),
                ":irc.test BATCH -H1".to_string(),
            ]
        );
    }

    /// A stored reply keeps its client tags and a stored reaction comes
    /// as a TAGMSG for a client with message-tags; without message-tags,
    /// neither tags nor the TAGMSG, and the non-IRCv3 replay counts and
    /// shows only the message.
    #[test]
    fn stored_tags_and_tagmsgs_reach_only_clients_with_message_tags() {
        let then = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let mut reply = msg(8, "bob", MsgKind::Say, "me", then);
        if let Event::Message { tags, .. } = &mut reply {
            tags.push(("+draft/reply".into(), "7".into()));
        }
        let react = Event::TagMsg {
            id: 9,
            time: then,
            from: Arc::new(UserInfo {
                nick: "carol".into(),
                user: "carol".into(),
                realname: "carol".into(),
                host: "127.0.0.1".into(),
                account: None,
                bot: false,
            }),
            to: MsgTarget::Room("#lobby".into()),
            tags: vec![
                ("+draft/react".into(), "🎉".into()),
                ("+draft/reply".into(), "8".into()),
            ],
        };
        let stored = [reply, react];
        assert_eq!(
            timed(&stored, Some("H3"), true),
            vec![
                ":irc.test BATCH +H3 chathistory #lobby".to_string(),
                "@batch=H3;time=2023-11-14T22:13:20.123Z;msgid=8;+draft/reply=7 :bob!bob@127.0.0.1 PRIVMSG #lobby :me".to_string(),
                "@batch=H3;time=2023-11-14T22:13:20.123Z;msgid=9;+draft/react=🎉;+draft/reply=8 :carol!carol@127.0.0.1 TAGMSG #lobby".to_string(),
                ":irc.test BATCH -H3".to_string(),
            ]
        );
        assert_eq!(
            timed(&stored, Some("H4"), false),
            vec![
                ":irc.test BATCH +H4 chathistory #lobby".to_string(),
                "@batch=H4;time=2023-11-14T22:13:20.123Z :bob!bob@127.0.0.1 PRIVMSG #lobby :me"
                    .to_string(),
                ":irc.test BATCH -H4".to_string(),
            ]
        );
        assert_eq!(timed(&stored, None, false).len(), 1);
        let mut out = BytesMut::new();
        render(
            "irc.test",
            "me",
            &Event::History {
                room: "#lobby".into(),
                lines: stored.to_vec(),
            },
            false,
            &mut out,
        );
        let text = String::from_utf8_lossy(&out);
        assert!(text.contains("Replaying 1 earlier message of"), "{text}");
        assert!(!text.contains("TAGMSG"), "{text}");
        assert_eq!(text.matches("PRIVMSG").count(), 1, "{text}");
    }

    #[test]
    fn timed_replay_without_batch_or_tags_and_empty_batches() {
        let then = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let got = timed(&[msg(7, "alice", MsgKind::Notice, "n", then)], None, false);
        assert_eq!(
            got,
            vec!["@time=2023-11-14T22:13:20.000Z :alice!alice@127.0.0.1 NOTICE #lobby :n"]
        );
        let empty = timed(&[], Some("H2"), true);
        assert_eq!(
            empty,
            vec![
                ":irc.test BATCH +H2 chathistory #lobby",
                ":irc.test BATCH -H2"
            ]
        );
    }

    #[test]
    fn long_replayed_lines_stay_in_the_batch() {
        let long = "y".repeat(900);
        let got = timed(
            &[msg(3, "alice", MsgKind::Say, &long, SystemTime::now())],
            Some("H3"),
            true,
        );
        assert!(got.len() >= 4, "{got:#?}");
        for l in &got[1..got.len() - 1] {
            assert!(l.starts_with("@batch=H3;time="), "{l}");
        }
        assert_eq!(got[1..].iter().filter(|l| l.contains("msgid=3")).count(), 1);
    }

    #[test]
    fn targets_come_in_their_own_batch_or_bare() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let found = vec![("#lobby".to_string(), t), ("alice".to_string(), t)];
        let render = |batch| {
            let mut out = BytesMut::new();
            render_targets("irc.test", &found, batch, &mut out);
            String::from_utf8_lossy(&out).into_owned()
        };
        assert_eq!(
            render(Some("H9")),
            ":irc.test BATCH +H9 draft/chathistory-targets\r\n\
             @batch=H9 :irc.test CHATHISTORY TARGETS #lobby 2023-11-14T22:13:20.000Z\r\n\
             @batch=H9 :irc.test CHATHISTORY TARGETS alice 2023-11-14T22:13:20.000Z\r\n\
             :irc.test BATCH -H9\r\n"
        );
        assert_eq!(
            render(None).lines().count(),
            2,
            "no batch without the capability"
        );
    }

    #[test]
    fn held_messages_signal_once_written_and_not_when_dropped() {
        let line = support::msg(
            "bob",
            MsgTarget::Nick("alice".into()),
            MsgKind::Say,
            "later",
        );
        let (tx, rx) = std::sync::mpsc::channel();
        let handed = Handed::new(move || {
            let _ = tx.send(());
        });
        let ev = Local::Held {
            lines: vec![line.clone()],
            handed,
        }
        .body();
        let mut r = support::registered("alice2");
        let out = support::render(&mut r, ev);
        // Addressed to the nickname the recipient has now, time in front.
        assert!(
            out.starts_with(":bob!bob@127.0.0.1 PRIVMSG alice2 :["),
            "{out}"
        );
        assert!(out.ends_with("] later\r\n"), "{out}");
        assert_eq!(rx.try_recv(), Ok(()));
        // Never rendered (the connection was cut): the session hears nothing good.
        let (tx, rx) = std::sync::mpsc::channel();
        let handed = Handed::new(move || {
            let _ = tx.send(());
        });
        drop(
            Local::Held {
                lines: vec![line],
                handed,
            }
            .body(),
        );
        assert!(rx.try_recv().is_err());
    }
}
