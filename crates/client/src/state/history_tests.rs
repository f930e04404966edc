//! Tests of the history part of the state model, with scripted server
//! lines: capability negotiation, the join replay batch, msgid
//! de-duplication, older pages (ordering, one request in flight, the
//! beginning of the history), the memory bound while paging far back,
//! refusals, and /search answers.

use std::time::Duration;

use chatroom_proto::irc::message::Message;

use super::history::{BEGINNING_MARK, HISTORY_MARK, LIVE_MARK, REPLAY_WAIT};
use super::test_support::{feed, joined, last_kind, msgs, now, run, sent};
use super::*;
use crate::command::Command;

const CAPS: &str = "batch server-time message-tags draft/chathistory echo-message";

/// Registered with the history capabilities, joined to #lobby; the replay
/// is still due.
fn hjoined() -> State {
    let mut s = State::new("irc.test:6667", "me", Some("#lobby"));
    s.on_connected("127.0.0.1:6667", now());
    let out = feed(&mut s, &format!(":srv CAP * LS :multi-prefix {CAPS}"));
    assert_eq!(out.len(), 1);
    feed(&mut s, &format!(":srv CAP * ACK :{CAPS}"));
    feed(&mut s, ":srv 001 me :Welcome");
    feed(&mut s, ":me!u@h JOIN #lobby");
    feed(&mut s, ":srv 353 me = #lobby :me alice");
    feed(&mut s, ":srv 366 me #lobby :End of NAMES list");
    s
}

/// A stored line as the server sends it inside batch `id`.
fn hline(id: &str, n: u32) -> String {
    format!(
        "@batch={id};time=2024-04-30T10:{:02}:{:02}.000Z;msgid={n} :alice!a@h PRIVMSG #lobby :old {n}",
        (n / 60) % 60,
        n % 60
    )
}

/// Feeds a `chathistory` batch for #lobby holding msgids `ids`.
fn batch(s: &mut State, id: &str, ids: impl IntoIterator<Item = u32>) {
    feed(s, &format!(":srv BATCH +{id} chathistory #lobby"));
    for n in ids {
        feed(s, &hline(id, n));
    }
    feed(s, &format!(":srv BATCH -{id}"));
}

fn lobby(s: &State) -> &Buffer {
    &s.buffers[s.find_buffer("#lobby").expect("lobby")]
}

/// The msgids of the buffer's lines, in order.
fn ids(s: &State) -> Vec<u32> {
    lobby(s)
        .lines
        .iter()
        .filter_map(|l| l.msgid.as_ref().and_then(|m| m.parse().ok()))
        .collect()
}

fn marks(s: &State) -> Vec<String> {
    lobby(s)
        .lines
        .iter()
        .filter_map(|l| match &l.kind {
            LineKind::Marker(t) => Some(t.clone()),
            _ => None,
        })
        .collect()
}

fn older(s: &mut State) -> Vec<Message> {
    s.scroll_up(1000, 10, now())
}

#[test]
fn asks_for_the_history_caps_and_keeps_what_it_gets_after_a_nak() {
    let mut s = State::new("h:1", "me", None);
    s.on_connected("h:1", now());
    let out = feed(&mut s, &format!(":srv CAP * LS :{CAPS} multi-prefix"));
    assert_eq!(
        out,
        msgs(&[
            "CAP REQ :server-time multi-prefix batch message-tags echo-message draft/chathistory",
        ])
    );
    // All or nothing refused: each is asked for alone, END after the last.
    let out = feed(
        &mut s,
        ":srv CAP * NAK :server-time multi-prefix batch message-tags echo-message draft/chathistory",
    );
    assert_eq!(out.len(), 6);
    assert!(
        out.iter()
            .all(|m| m.command == "CAP" && m.param(0) == "REQ")
    );
    for cap in [
        "server-time",
        "multi-prefix",
        "batch",
        "message-tags",
        "echo-message",
    ] {
        assert!(feed(&mut s, &format!(":srv CAP * ACK :{cap}")).is_empty());
    }
    assert_eq!(
        feed(&mut s, ":srv CAP * NAK :draft/chathistory"),
        msgs(&["CAP END"])
    );
    assert!(s.has_cap("batch") && !s.has_cap("draft/chathistory"));
    // Without draft/chathistory nothing is asked for; /history says why.
    feed(&mut s, ":srv 001 me :hi");
    run(&mut s, "/join #lobby");
    feed(&mut s, ":me!u@h JOIN #lobby");
    let later = Now {
        instant: now().instant + REPLAY_WAIT * 2,
        ..now()
    };
    assert!(s.scroll_up(10, 10, later).is_empty());
    assert!(sent(&s.execute(Command::History, later)).is_empty());
    assert!(matches!(last_kind(&s, "#lobby"), LineKind::Error(t) if t.contains("no history")));
}

#[test]
fn the_join_replay_is_shown_as_history_between_marks_without_duplicates() {
    let mut s = hjoined();
    feed(&mut s, ":srv BATCH +H1 chathistory #lobby");
    feed(&mut s, &hline("H1", 1));
    feed(&mut s, &hline("H1", 2));
    assert!(ids(&s).is_empty(), "nothing shown before the batch ends");
    feed(&mut s, &hline("H1", 2));
    feed(&mut s, ":srv BATCH -H1");
    assert_eq!(
        ids(&s),
        vec![1, 2],
        "the same msgid twice in a batch counts once"
    );
    assert_eq!(marks(&s), vec![HISTORY_MARK, LIVE_MARK]);
    let b = lobby(&s);
    let first = b.lines.iter().find(|l| l.msgid.is_some()).expect("a line");
    assert!(first.history);
    assert_eq!(
        first.time.with_timezone(&chrono::Utc).to_rfc3339(),
        "2024-04-30T10:00:01+00:00",
        "original time"
    );
    // The marks frame the history: the live mark is the last line.
    assert_eq!(
        b.lines.back().map(|l| &l.kind),
        Some(&LineKind::Marker(LIVE_MARK.into()))
    );
    // The same message live again is dropped; a new one is live.
    feed(
        &mut s,
        "@time=2024-04-30T10:00:02.000Z;msgid=2 :alice!a@h PRIVMSG #lobby :old 2",
    );
    feed(&mut s, "@msgid=3 :alice!a@h PRIVMSG #lobby :new");
    assert_eq!(ids(&s), vec![1, 2, 3]);
    assert!(!lobby(&s).lines.back().expect("line").history);
}

#[test]
fn scrolling_up_fetches_older_pages_in_order_one_at_a_time_until_the_beginning() {
    let mut s = hjoined();
    s.history_page = 3;
    batch(&mut s, "H1", 7..=9);
    let before = lobby(&s).lines.len();
    // Scrolling up near the oldest line held asks for the page before it.
    let out = older(&mut s);
    assert_eq!(out, msgs(&["CHATHISTORY BEFORE #lobby msgid=7 3"]));
    let scroll = lobby(&s).scroll;
    let bottom = lobby(&s).lines[before - 1 - scroll].clone();
    // One request in flight per buffer.
    assert!(older(&mut s).is_empty());
    assert!(sent(&run(&mut s, "/history")).is_empty());
    batch(&mut s, "H2", 4..=6);
    assert_eq!(ids(&s), (4..=9).collect::<Vec<_>>(), "prepended in order");
    // The page went in below the history mark, above the older page.
    let b = lobby(&s);
    let mark = b
        .lines
        .iter()
        .position(|l| l.kind == LineKind::Marker(HISTORY_MARK.into()))
        .expect("mark");
    assert_eq!(b.lines[mark + 1].msgid.as_deref(), Some("4"));
    // The view stays where it was: the same line at its bottom.
    let end = b.lines.len() - b.scroll;
    assert_eq!(b.lines[end - 1], bottom);
    assert_eq!(
        older(&mut s),
        msgs(&["CHATHISTORY BEFORE #lobby msgid=4 3"])
    );
    batch(&mut s, "H3", 1..=3);
    assert_eq!(ids(&s), (1..=9).collect::<Vec<_>>());
    assert_eq!(
        older(&mut s),
        msgs(&["CHATHISTORY BEFORE #lobby msgid=1 3"])
    );
    // An empty page: the beginning, marked, and no more requests.
    batch(&mut s, "H4", []);
    assert!(lobby(&s).hist.at_beginning);
    let b = lobby(&s);
    let begin = b
        .lines
        .iter()
        .position(|l| l.kind == LineKind::Marker(BEGINNING_MARK.into()))
        .expect("beginning mark");
    assert_eq!(b.lines[begin + 1].msgid.as_deref(), Some("1"));
    assert!(older(&mut s).is_empty());
    assert!(sent(&run(&mut s, "/history")).is_empty());
    assert!(matches!(last_kind(&s, "#lobby"), LineKind::Error(t) if t.contains("beginning")));
}

#[test]
fn pages_wait_for_the_join_replay() {
    let mut s = hjoined();
    assert!(older(&mut s).is_empty(), "the replay is due");
    // A server that replays nothing: after a while pages are asked for,
    // relative to the oldest line's time when no msgid is held.
    let later = Now {
        instant: now().instant + REPLAY_WAIT + Duration::from_secs(1),
        ..now()
    };
    let out = s.scroll_up(1000, 10, later);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].param(0), "BEFORE");
    assert!(out[0].param(2).starts_with("timestamp="), "{}", out[0]);

    // A live line in the room also shows the replay is over.
    let mut s = hjoined();
    feed(&mut s, "@msgid=50 :alice!a@h PRIVMSG #lobby :live");
    assert_eq!(
        older(&mut s),
        msgs(&["CHATHISTORY BEFORE #lobby msgid=50 100"])
    );
}

#[test]
fn a_refusal_ends_the_request_and_stops_automatic_ones() {
    let mut s = hjoined();
    batch(&mut s, "H1", [5]);
    assert_eq!(older(&mut s).len(), 1);
    feed(
        &mut s,
        ":srv FAIL CHATHISTORY MESSAGE_ERROR BEFORE #lobby :Messages could not be retrieved",
    );
    assert!(lobby(&s).hist.fetching.is_none());
    assert!(matches!(last_kind(&s, "#lobby"), LineKind::Error(t) if t.contains("MESSAGE_ERROR")));
    assert!(older(&mut s).is_empty());
    // Asked for explicitly, it is tried again.
    assert_eq!(sent(&run(&mut s, "/history")).len(), 1);
}

#[test]
fn a_disconnect_forgets_requests_in_flight() {
    let mut s = hjoined();
    batch(&mut s, "H1", [5]);
    assert_eq!(older(&mut s).len(), 1);
    feed(&mut s, ":srv BATCH +H2 chathistory #lobby");
    s.on_disconnected("reset", Some(Duration::from_secs(1)), now());
    assert!(lobby(&s).hist.fetching.is_none());
    // A half batch from the old connection is not taken for anything.
    feed(&mut s, &hline("H2", 1));
    assert_eq!(ids(&s), vec![5, 1], "shown as an ordinary line");
}

#[test]
fn paging_far_back_keeps_memory_bounded_and_comes_back_to_live() {
    let mut s = hjoined();
    s.scrollback_limit = 12;
    s.history_page = 5;
    batch(&mut s, "H1", 96..=100);
    // Page back three times: older pages in, the newest lines out.
    let mut first = 96;
    for page in 0..3 {
        let out = s.scroll_up(1000, 2, now());
        assert_eq!(
            out,
            msgs(&[&format!("CHATHISTORY BEFORE #lobby msgid={first} 5")])
        );
        batch(&mut s, &format!("P{page}"), first - 5..first);
        first -= 5;
        let b = lobby(&s);
        assert!(b.lines.len() <= 12 + 5, "bounded: {}", b.lines.len());
        assert_eq!(ids(&s).first(), Some(&first));
    }
    assert!(lobby(&s).hist.newer_unloaded);
    let newest_held = *ids(&s).last().expect("lines");
    assert!(newest_held < 100, "newest dropped: {:?}", ids(&s));
    // Live lines wait aside meanwhile.
    feed(
        &mut s,
        "@msgid=101 :alice!a@h PRIVMSG #lobby :live while away",
    );
    assert!(!ids(&s).contains(&101));
    // Scrolling back down asks for what follows the newest line held,
    // page by page, until a short page: then the live lines follow.
    let mut after = newest_held;
    loop {
        let out = s.scroll_down(1000, 2, now());
        assert_eq!(
            out,
            msgs(&[&format!("CHATHISTORY AFTER #lobby msgid={after} 5")])
        );
        let upto = (after + 5).min(101);
        batch(&mut s, &format!("A{after}"), after + 1..=upto);
        assert!(lobby(&s).lines.len() <= 12, "{}", lobby(&s).lines.len());
        if upto - after < 5 {
            break;
        }
        after = upto;
    }
    assert!(!lobby(&s).hist.newer_unloaded);
    let got = ids(&s);
    assert_eq!(got.last(), Some(&101));
    assert_eq!(got.iter().filter(|&&n| n == 101).count(), 1, "{got:?}");
    let mut sorted = got.clone();
    sorted.sort_unstable();
    assert_eq!(got, sorted, "in order");
    // And paging back up fetches the dropped older lines again.
    let out = s.scroll_up(1000, 2, now());
    assert_eq!(
        out,
        msgs(&[&format!("CHATHISTORY BEFORE #lobby msgid={} 5", got[0])])
    );
}

#[test]
fn enter_after_paging_far_back_reloads_the_latest_page() {
    let mut s = hjoined();
    s.scrollback_limit = 8;
    s.history_page = 5;
    batch(&mut s, "H1", 96..=100);
    s.scroll_up(1000, 2, now());
    batch(&mut s, "P", 91..96);
    assert!(lobby(&s).hist.newer_unloaded);
    feed(&mut s, "@msgid=101 :alice!a@h PRIVMSG #lobby :live");
    assert_eq!(s.to_live(now()), msgs(&["CHATHISTORY LATEST #lobby * 5"]));
    batch(&mut s, "L", 97..=101);
    assert_eq!(ids(&s), vec![97, 98, 99, 100, 101]);
    assert_eq!(lobby(&s).scroll, 0);
    assert!(!lobby(&s).hist.newer_unloaded);
    feed(&mut s, "@msgid=102 :alice!a@h PRIVMSG #lobby :next");
    assert_eq!(ids(&s).last(), Some(&102));
}

#[test]
fn echo_message_shows_our_lines_once_with_their_msgid() {
    let mut s = hjoined();
    batch(&mut s, "H1", []);
    assert_eq!(
        sent(&run(&mut s, "hi all")),
        msgs(&["PRIVMSG #lobby :hi all"])
    );
    assert!(!matches!(last_kind(&s, "#lobby"), LineKind::Message { .. }));
    feed(&mut s, "@msgid=9 :me!u@h PRIVMSG #lobby :hi all");
    assert_eq!(
        last_kind(&s, "#lobby"),
        LineKind::Message {
            nick: "me".into(),
            text: "hi all".into(),
            own: true
        }
    );
    assert_eq!(ids(&s), vec![9]);
}

#[test]
fn search_answers_go_to_the_room_searched() {
    let mut s = hjoined();
    batch(&mut s, "H1", []);
    assert_eq!(
        sent(&run(&mut s, "/search pizza time")),
        msgs(&["SEARCH #lobby :pizza time"])
    );
    s.switch_to(0);
    for text in [
        "*** Search for \"pizza time\" in #lobby: 2 found, newest first",
        "[12:34] <alice> pizza time, room 2",
        "[12:30] <bob> is it pizza time",
        "*** End of search",
    ] {
        feed(&mut s, &format!(":chatroom NOTICE me :{text}"));
    }
    let texts: Vec<String> = lobby(&s)
        .lines
        .iter()
        .filter_map(|l| match &l.kind {
            LineKind::Info(t) => Some(t.clone()),
            _ => None,
        })
        .collect();
    let at = texts
        .iter()
        .position(|t| t.starts_with("*** Search for"))
        .expect("header in the room");
    assert_eq!(texts[at + 1], "[12:34] <alice> pizza time, room 2");
    assert_eq!(texts[at + 2], "[12:30] <bob> is it pizza time");
    // Once over, server notices go where they always went (as sentences).
    feed(&mut s, ":chatroom NOTICE me :something else");
    assert_eq!(
        last_kind(&s, "irc.test:6667"),
        LineKind::Info("something else".into())
    );

    // Nothing found ends it at once; a refusal too.
    let i = s.find_buffer("#lobby").expect("lobby");
    s.switch_to(i);
    run(&mut s, "/search nope");
    feed(
        &mut s,
        ":chatroom NOTICE me :*** Search for \"nope\" in #lobby: nothing found",
    );
    assert!(s.search.is_none());
    run(&mut s, "/search x");
    feed(
        &mut s,
        ":chatroom 442 me #lobby :You're not on that channel",
    );
    assert!(s.search.is_none());
    // A server without SEARCH: the 421 ends it too.
    run(&mut s, "/search x");
    feed(&mut s, ":other.server 421 me SEARCH :Unknown command");
    assert!(s.search.is_none());
    assert!(matches!(last_kind(&s, "#lobby"), LineKind::Error(_)));
    // Outside a room it is refused locally.
    s.switch_to(0);
    assert!(sent(&run(&mut s, "/search x")).is_empty());
}

#[test]
fn plain_mode_gets_the_replay_as_marked_history() {
    let mut s = hjoined();
    s.record_events = true;
    s.take_events();
    batch(&mut s, "H1", [1]);
    let events = s.take_events();
    let kinds: Vec<(bool, String)> = events
        .iter()
        .map(|e| {
            (
                e.line.history,
                e.line.kind.event_text().unwrap_or_else(|| "talk".into()),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            (false, HISTORY_MARK.to_string()),
            (true, "talk".to_string()),
            (false, LIVE_MARK.to_string()),
        ]
    );
    assert!(
        events
            .iter()
            .all(|e| e.scope == Scope::Room("#lobby".into()))
    );
}

#[test]
fn servers_without_the_caps_still_work() {
    // No batch: replayed lines are ordinary lines; scrolling asks nothing.
    let mut s = joined();
    feed(
        &mut s,
        "@time=2024-04-30T10:00:00.000Z :alice!a@h PRIVMSG #lobby :old",
    );
    assert!(s.scroll_up(1000, 10, now()).is_empty());
    // A BATCH of another type, and lines tagged with an unknown batch.
    feed(&mut s, ":srv BATCH +x netsplit a b");
    feed(&mut s, "@batch=zz :alice!a@h PRIVMSG #lobby :tagged");
    assert!(matches!(last_kind(&s, "#lobby"), LineKind::Message { text, .. } if text == "tagged"));
    feed(&mut s, ":srv BATCH -x");
    for line in [
        "BATCH",
        ":srv BATCH",
        ":srv BATCH -",
        ":srv BATCH +",
        "FAIL CHATHISTORY",
    ] {
        if let Ok(msg) = Message::parse(line) {
            s.handle_message(&msg, now());
        }
    }
}

/// A stored reaction (TAGMSG) in a history batch is no line of its own
/// (no empty line); a reply shows its text. An older page holding only
/// reactions is not the beginning: the next page goes on from the oldest
/// of them.
#[test]
fn stored_reactions_are_not_shown_as_lines_nor_taken_for_the_beginning() {
    let mut s = hjoined();
    s.history_page = 2;
    feed(&mut s, ":srv BATCH +H1 chathistory #lobby");
    feed(&mut s, &hline("H1", 7));
    feed(
        &mut s,
        "@batch=H1;time=2024-04-30T10:00:08.000Z;msgid=8;+draft/react=🎉;+draft/reply=7 :bob!b@h TAGMSG #lobby",
    );
    feed(
        &mut s,
        "@batch=H1;time=2024-04-30T10:00:09.000Z;msgid=9;+draft/reply=7 :bob!b@h PRIVMSG #lobby :me too",
    );
    feed(&mut s, ":srv BATCH -H1");
    assert_eq!(ids(&s), vec![7, 9]);
    let shown: Vec<&Line> = lobby(&s)
        .lines
        .iter()
        .filter(|l| !matches!(l.kind, LineKind::Marker(_)))
        .collect();
    assert!(
        shown.iter().all(|l| match &l.kind {
            LineKind::Message { text, .. } => !text.is_empty(),
            _ => true,
        }),
        "{shown:?}"
    );
    assert_eq!(
        older(&mut s),
        msgs(&["CHATHISTORY BEFORE #lobby msgid=7 2"])
    );
    feed(&mut s, ":srv BATCH +H2 chathistory #lobby");
    for n in [5, 6] {
        feed(
            &mut s,
            &format!(
                "@batch=H2;time=2024-04-30T10:00:0{n}.000Z;msgid={n};+draft/react=👍 :bob!b@h TAGMSG #lobby"
            ),
        );
    }
    feed(&mut s, ":srv BATCH -H2");
    assert!(!lobby(&s).hist.at_beginning);
    assert!(!marks(&s).contains(&BEGINNING_MARK.to_string()));
    assert_eq!(ids(&s), vec![7, 9]);
    assert_eq!(
        older(&mut s),
        msgs(&["CHATHISTORY BEFORE #lobby msgid=5 2"])
    );
    batch(&mut s, "H3", [3, 4]);
    assert_eq!(ids(&s), vec![3, 4, 7, 9]);
    assert_eq!(
        older(&mut s),
        msgs(&["CHATHISTORY BEFORE #lobby msgid=3 2"])
    );
}
