use std::sync::Arc;
use std::time::SystemTime;

use bytes::BytesMut;

use super::codec::*;
use super::*;
use chatroom_core::{HubError, UserInfo};

use crate::envelope::Envelope;

fn user(nick: &str) -> Arc<UserInfo> {
    Arc::new(UserInfo {
        nick: nick.into(),
        user: nick.into(),
        realname: nick.into(),
        host: "127.0.0.1".into(),
        account: None,
        bot: false,
    })
}

fn msg(from: &str, room: &str, kind: MsgKind, text: &str) -> Event {
    Event::Message {
        id: 1,
        time: SystemTime::now(),
        from: user(from),
        to: MsgTarget::Room(room.into()),
        kind,
        text: text.into(),
        tags: Vec::new(),
    }
}

fn texts(pieces: &[Piece]) -> Vec<String> {
    pieces
        .iter()
        .map(|p| match p {
            Piece::Text(b) => String::from_utf8_lossy(b).into_owned(),
            Piece::TooLong => "<too long>".to_string(),
        })
        .collect()
}

fn push_all(c: &mut Chunker, chunks: &[&[u8]]) -> Vec<String> {
    let mut out = Vec::new();
    for chunk in chunks {
        c.push(chunk, &mut out);
    }
    texts(&out)
}

#[test]
fn each_chunk_is_a_message_until_a_line_feed() {
    let mut c = Chunker::new(20);
    assert_eq!(
        push_all(&mut c, &[b"nico", b"nico: hi", b"nico: there\r"]),
        vec!["nico", "nico: hi", "nico: there"]
    );
    assert!(!c.line_mode());
}

#[test]
fn line_feed_switches_to_line_mode_for_good() {
    let mut c = Chunker::new(20);
    assert_eq!(push_all(&mut c, &[b"bob\r\nhel"]), vec!["bob"]);
    assert!(c.line_mode());
    assert_eq!(push_all(&mut c, &[b"lo", b" world\n"]), vec!["hello world"]);
    let mut out = Vec::new();
    c.push(b"tail", &mut out);
    assert!(out.is_empty());
    c.finish(&mut out);
    assert_eq!(texts(&out), vec!["tail"]);
}

#[test]
fn oversized_input_is_refused() {
    let mut c = Chunker::new(5);
    assert_eq!(push_all(&mut c, &[b"123456"]), vec!["<too long>"]);
    assert!(c.discarding());
    // What already arrived of the same message is dropped...
    assert!(push_all(&mut c, &[b"789"]).is_empty());
    c.end_discard();
    // ...and once nothing more was waiting, a chunk is a message again.
    assert_eq!(push_all(&mut c, &[b"ok"]), vec!["ok"]);
    // A line feed in the rest ends the refused message and starts line mode.
    assert_eq!(push_all(&mut c, &[b"123456"]), vec!["<too long>"]);
    assert_eq!(push_all(&mut c, &[b"78\nnext\n"]), vec!["next"]);
    assert!(c.line_mode() && !c.discarding());
    // In line mode an oversized line is dropped whole, even across reads.
    assert_eq!(
        push_all(&mut c, &[b"a\n12345", b"6789", b"PRIVMSG x\nb\n"]),
        vec!["a", "<too long>", "b"]
    );
    assert!(!c.discarding());
}

#[test]
fn cr_and_nul_stay_inside_the_message() {
    // The hub turns them into spaces; the chunker must not split on them,
    // or one message would become two with attacker-chosen starts.
    let mut c = Chunker::new(100);
    assert_eq!(
        push_all(&mut c, &[b"x: a\rPRIVMSG #lobby :evil\0b"]),
        vec!["x: a\rPRIVMSG #lobby :evil\0b"]
    );
}

#[test]
fn prefix_stripping() {
    let names = ["Bob Smith", "Bob_Smith"];
    assert_eq!(strip_own_prefix("Bob Smith: hi", &names), "hi");
    assert_eq!(
        strip_own_prefix("Bob_Smith: hi: there", &names),
        "hi: there"
    );
    assert_eq!(strip_own_prefix("Bob_Smith:", &names), "");
    assert_eq!(strip_own_prefix("alice: hi", &names), "alice: hi");
    assert_eq!(strip_own_prefix("hi", &names), "hi");
    assert_eq!(
        strip_own_prefix("Bob Smithers: x", &names),
        "Bob Smithers: x"
    );
    assert_eq!(strip_own_prefix(": x", &["", "a"]), ": x");
}

#[test]
fn ascii_folding() {
    assert_eq!(fold_ascii("hello"), "hello");
    assert_eq!(fold_ascii("café Ærø straße"), "cafe AEro strasse");
    assert_eq!(fold_ascii("“quoted” – ok…"), "\"quoted\" - ok...");
    assert_eq!(fold_ascii("snow ☃ 日本"), "snow ? ??");
    assert_eq!(fold_ascii("a\tb\x1b[2J\x07"), "a b?[2J?");
    assert_eq!(fold_ascii("\u{fffd}"), "?");
    for s in ["ÿ€😀\u{200b}", "\r\n\0"] {
        assert!(
            fold_ascii(s).bytes().all(|b| (0x20..0x7f).contains(&b)),
            "{s}"
        );
    }
}

fn render_all(r: &mut NickRenderer, events: Vec<impl Into<crate::Body>>) -> String {
    let mut out = BytesMut::new();
    for ev in events {
        r.render(&Envelope::new(ev), &mut out);
    }
    String::from_utf8(out.to_vec()).expect("ascii")
}

fn welcome(nick: &str) -> Vec<Event> {
    vec![
        Event::Welcome {
            nick: nick.into(),
            user: user(nick),
        },
        Event::Joined {
            room: "#lobby".into(),
            who: user(nick),
        },
        Event::Names {
            room: "#lobby".into(),
            members: Vec::new(),
            secret: false,
            read_marker: None,
        },
        Event::Focus {
            room: Some("#lobby".into()),
        },
    ]
}

#[test]
fn newcomer_sees_its_join_then_the_greeting() {
    let mut r = renderer(&Config::default());
    let mut events: Vec<crate::Body> =
        vec![Event::Error(HubError::NickInUse("nico".into())).into()];
    events.extend(welcome("nico").into_iter().map(Into::into));
    events.push(Bytes::from_static(b"Connected to server!").into());
    assert_eq!(
        render_all(&mut r, events),
        "nico joined!\nConnected to server!"
    );
}

#[test]
fn a_lone_message_has_no_line_ending() {
    let mut r = renderer(&Config::default());
    render_all(&mut r, welcome("nico"));
    assert_eq!(
        render_all(&mut r, vec![msg("nico", "#lobby", MsgKind::Say, "hi")]),
        "nico: hi"
    );
}

#[test]
fn renders_the_tutorial_lines_in_ascii() {
    let mut r = renderer(&Config::default());
    render_all(&mut r, welcome("nico"));
    let got = render_all(
        &mut r,
        vec![
            msg("alice", "#lobby", MsgKind::Say, "héllo ☃"),
            msg("alice", "#lobby", MsgKind::Action, "waves"),
            msg("alice", "#café", MsgKind::Say, "elsewhere"),
            Event::Joined {
                room: "#lobby".into(),
                who: user("bob"),
            },
            Event::NickChanged {
                old: "bob".into(),
                who: user("bobby"),
            },
            Event::Parted {
                room: "#lobby".into(),
                who: user("bobby"),
                reason: Some("later".into()),
            },
            Event::Quit {
                who: user("carol"),
                reason: "Client quit".into(),
            },
            Event::Error(HubError::NoText),
            Event::Closing {
                reason: "bye".into(),
            },
        ],
    );
    assert_eq!(
        got,
        "alice: hello ?\n* alice waves\n[#cafe] alice: elsewhere\nbob joined!\n\
         bob is now known as bobby\nbobby left!\ncarol left!\n\
         Error: there is nothing to send\nDisconnected: bye"
    );
}

#[test]
fn own_nick_change_is_tracked() {
    let mut r = renderer(&Config::default());
    render_all(&mut r, welcome("nico"));
    render_all(
        &mut r,
        vec![Event::NickChanged {
            old: "nico".into(),
            who: user("nico2"),
        }],
    );
    let private = Event::Message {
        id: 2,
        time: SystemTime::now(),
        from: user("nico2"),
        to: MsgTarget::Nick("alice".into()),
        kind: MsgKind::Say,
        text: "psst".into(),
        tags: Vec::new(),
    };
    assert_eq!(
        render_all(&mut r, vec![private]),
        "[private to alice] nico2: psst"
    );
}

#[test]
fn history_is_replayed_between_markers_with_its_times() {
    let mut r = renderer(&Config::default());
    render_all(&mut r, welcome("nico"));
    let got = render_all(
        &mut r,
        vec![Event::History {
            room: "#lobby".into(),
            lines: vec![
                msg("alice", "#lobby", MsgKind::Say, "héllo"),
                reaction("carol"),
                msg("bob", "#lobby", MsgKind::Action, "waves"),
            ],
        }],
    );
    let t = crate::past::stamp(SystemTime::now());
    assert_eq!(
        got,
        format!(
            "--- history of #lobby: 2 earlier messages ---\n[{t}] alice: hello\n[{t}] * bob waves\n--- end of history ---"
        )
    );
    let none = render_all(
        &mut r,
        vec![
            Event::History {
                room: "#lobby".into(),
                lines: vec![],
            },
            // Reactions alone: nothing to show.
            Event::History {
                room: "#lobby".into(),
                lines: vec![reaction("carol")],
            },
        ],
    );
    assert_eq!(none, "");
}

#[test]
fn control_sequences_never_reach_the_tutorial_client() {
    let mut r = renderer(&Config::default());
    render_all(&mut r, welcome("nico"));
    let got = render_all(
        &mut r,
        vec![msg(
            "alice",
            "#lobby",
            MsgKind::Say,
            "\u{1b}]0;t\u{7}\u{3}04x",
        )],
    );
    assert_eq!(got, "alice: ^[]0;t^Gx");
}

/// A stored reaction as a replay carries it: a TAGMSG with its tags.
fn reaction(from: &str) -> Event {
    match msg(from, "#lobby", MsgKind::Say, "") {
        Event::Message {
            id, time, from, to, ..
        } => Event::TagMsg {
            id,
            time,
            from,
            to,
            tags: vec![("+draft/react".into(), "🎉".into())],
        },
        other => other,
    }
}
