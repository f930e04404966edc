use std::sync::Arc;
use std::time::SystemTime;

use crate::framing::Decode;
use bytes::BytesMut;

use super::codec::{self, *};
use super::*;
use crate::dialect::{candidate, note_for};
use chatroom_core::{HubError, UserInfo};

use crate::envelope::{Envelope, Slot};

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

/// Decodes a whole buffer of field pairs into `(username, message)`.
fn pairs(mut bytes: BytesMut) -> Vec<(String, String)> {
    let mut codec = FieldCodec::new(1 << 20);
    let mut fields = Vec::new();
    while let Some(f) = codec.decode(&mut bytes).expect("valid output") {
        fields.push(String::from_utf8(f.to_vec()).expect("utf-8"));
    }
    assert!(bytes.is_empty(), "trailing bytes");
    assert!(fields.len() % 2 == 0, "fields come in pairs: {fields:?}");
    fields
        .chunks(2)
        .map(|p| (p[0].clone(), p[1].clone()))
        .collect()
}

fn render_all(r: &mut LenHeaderRenderer, events: Vec<Event>) -> Vec<(String, String)> {
    let mut out = BytesMut::new();
    for ev in events {
        r.render(&Envelope::new(ev), &mut out);
    }
    pairs(out)
}

fn registered(nick: &str) -> LenHeaderRenderer {
    let mut r = renderer(&Config::default());
    render_all(
        &mut r,
        vec![
            Event::Welcome {
                nick: nick.into(),
                user: user(nick),
            },
            Event::Joined {
                room: "#lobby".into(),
                who: user(nick),
            },
            Event::Focus {
                room: Some("#lobby".into()),
            },
        ],
    );
    r
}

#[test]
fn headers() {
    assert_eq!(parse_header(b"5         ", 100), Ok(5));
    assert_eq!(parse_header(b"         5", 100), Ok(5));
    assert_eq!(parse_header(b"0         ", 100), Ok(0));
    assert_eq!(parse_header(b"100       ", 100), Ok(100));
    assert_eq!(parse_header(b"0000000042", 100), Ok(42));
    assert_eq!(parse_header(b"          ", 100), Err(HeaderError::Blank));
    assert_eq!(
        parse_header(b"\0\0\0\0\0\0\0\0\0\0", 100),
        Err(HeaderError::Blank)
    );
    assert!(matches!(
        parse_header(b"abc       ", 100),
        Err(HeaderError::NotANumber(_))
    ));
    assert!(matches!(
        parse_header(b"1 2       ", 100),
        Err(HeaderError::NotANumber(_))
    ));
    assert!(matches!(
        parse_header(b"+5        ", 100),
        Err(HeaderError::NotANumber(_))
    ));
    assert!(matches!(
        parse_header(b"\xff\xfe       ", 100),
        Err(HeaderError::NotANumber(_))
    ));
    assert!(matches!(
        parse_header(b"-5        ", 100),
        Err(HeaderError::Negative(_))
    ));
    assert!(matches!(
        parse_header(b"-         ", 100),
        Err(HeaderError::NotANumber(_))
    ));
    assert_eq!(
        parse_header(b"101       ", 100),
        Err(HeaderError::TooLong { len: 101, max: 100 })
    );
    assert_eq!(
        parse_header(b"9999999999", 100),
        Err(HeaderError::TooLong {
            len: 9_999_999_999,
            max: 100
        })
    );
}

#[test]
fn header_errors_read_well() {
    let e = parse_header(b"hello     ", 10).expect_err("bad");
    assert_eq!(e.to_string(), "the length header \"hello\" is not a number");
    let e = parse_header(b"\x1b[2J     ", 10).expect_err("bad");
    assert!(!e.to_string().contains('\x1b'), "escaped: {e}");
}

#[test]
fn fields_decode_across_reads() {
    let mut codec = FieldCodec::new(100);
    let mut buf = BytesMut::from(&b"5    "[..]);
    assert!(codec.decode(&mut buf).expect("ok").is_none());
    buf.extend_from_slice(b"     hel");
    assert!(codec.decode(&mut buf).expect("ok").is_none());
    buf.extend_from_slice(b"lo0         3         abc");
    assert_eq!(
        codec.decode(&mut buf).expect("ok").as_deref(),
        Some(&b"hello"[..])
    );
    assert_eq!(
        codec.decode(&mut buf).expect("ok").as_deref(),
        Some(&b""[..])
    );
    assert_eq!(
        codec.decode(&mut buf).expect("ok").as_deref(),
        Some(&b"abc"[..])
    );
    assert!(codec.decode(&mut buf).expect("ok").is_none());
    // A field cut short by EOF is dropped quietly.
    buf.extend_from_slice(b"9         abc");
    assert!(codec.decode_eof(&mut buf).expect("ok").is_none());
}

#[test]
fn bad_header_stops_the_stream() {
    let mut codec = FieldCodec::new(100);
    let mut buf = BytesMut::from(&b"3         abcxyz       hello"[..]);
    assert_eq!(
        codec.decode(&mut buf).expect("ok").as_deref(),
        Some(&b"abc"[..])
    );
    assert!(matches!(
        codec.decode(&mut buf),
        Err(FieldError::Header(HeaderError::NotANumber(_)))
    ));
}

#[test]
fn huge_header_reserves_nothing_big() {
    let mut codec = FieldCodec::new(1000);
    let mut buf = BytesMut::from(&b"999999999 x"[..]);
    assert!(codec.decode(&mut buf).is_err());
    assert!(buf.capacity() < 4096);
}

#[test]
fn encoding() {
    let p = codec::pair("alice", "hi there");
    assert_eq!(&p[..], b"5         alice8         hi there");
    let mut out = BytesMut::new();
    put_field(&mut out, "é".as_bytes());
    assert_eq!(&out[..], b"2         \xc3\xa9");
}

#[test]
fn message_lines_split_on_any_line_break() {
    let lines: Vec<&str> = message_lines("a\r\nb\rc\nd\n\n  \n").collect();
    assert_eq!(lines, vec!["a", "b", "c", "d"]);
    assert_eq!(message_lines("one").collect::<Vec<_>>(), vec!["one"]);
    assert_eq!(message_lines("\r\n").count(), 0);
}

#[test]
fn nick_candidates() {
    assert_eq!(candidate("bob", 0, 30), "bob");
    assert_eq!(candidate("bob", 1, 30), "bob2");
    assert_eq!(candidate("bob", 9, 30), "bob10");
    assert_eq!(candidate("abcdef", 1, 6), "abcde2");
    assert_eq!(candidate("abcdef", 9, 6), "abcd10");
    for n in 0..40 {
        assert!(chatroom_core::names::validate_nick(&candidate("x", n, 5), 5).is_ok());
    }
}

#[test]
fn notes_about_changed_names() {
    assert_eq!(note_for("bob", "bob", "bob"), None);
    let taken = note_for("bob", "bob", "bob2").expect("note");
    assert!(
        taken.contains("bob2") && taken.contains("bob was taken"),
        "{taken}"
    );
    let invalid = note_for("Bob Smith", "Bob_Smith", "Bob_Smith").expect("note");
    assert!(invalid.contains("not a valid nickname"), "{invalid}");
    let both = note_for("Bob Smith", "Bob_Smith", "Bob_Smith2").expect("note");
    assert!(both.contains("Bob_Smith was taken"), "{both}");
}

#[test]
fn renders_others_messages_but_never_echoes() {
    let mut r = registered("lenny");
    let got = render_all(
        &mut r,
        vec![
            msg("alice", "#lobby", MsgKind::Say, "hi"),
            msg("lenny", "#lobby", MsgKind::Say, "my own"),
            msg("alice", "#lobby", MsgKind::Action, "waves"),
            msg("alice", "#other", MsgKind::Say, "elsewhere"),
        ],
    );
    assert_eq!(
        got,
        vec![
            ("alice".into(), "hi".into()),
            ("alice".into(), "* alice waves".into()),
            ("alice".into(), "[#other] elsewhere".into()),
        ]
    );
}

#[test]
fn renders_membership_changes_from_the_server() {
    let mut r = registered("lenny");
    let got = render_all(
        &mut r,
        vec![
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
                reason: None,
            },
            Event::Quit {
                who: user("carol"),
                reason: "Client quit".into(),
            },
            Event::NickChanged {
                old: "lenny".into(),
                who: user("lenny2"),
            },
            msg("lenny2", "#lobby", MsgKind::Say, "still me"),
            Event::Error(HubError::NoText),
            Event::Closing {
                reason: "bye".into(),
            },
        ],
    );
    let s = |a: &str, b: &str| (a.to_string(), b.to_string());
    assert_eq!(
        got,
        vec![
            s("chatroom", "bob joined #lobby"),
            s("chatroom", "bob is now known as bobby"),
            s("chatroom", "bobby left #lobby"),
            s("chatroom", "carol quit (Client quit)"),
            s("chatroom", "you are now known as lenny2"),
            s("chatroom", "error: there is nothing to send"),
            s("chatroom", "Disconnected: bye"),
        ]
    );
}

#[test]
fn errors_before_registration_are_silent() {
    let mut r = renderer(&Config::default());
    let got = render_all(
        &mut r,
        vec![Event::Error(HubError::NickInUse("bob".into()))],
    );
    assert!(got.is_empty());
}

#[test]
fn cached_bytes_are_shared_between_recipients() {
    let mut a = registered("a");
    let mut b = registered("b");
    let env = Envelope::new(msg("alice", "#lobby", MsgKind::Say, "hi"));
    let (mut out_a, mut out_b) = (BytesMut::new(), BytesMut::new());
    a.render(&env, &mut out_a);
    b.render(&env, &mut out_b);
    assert_eq!(out_a, out_b);
    assert_eq!(
        env.rendered(Slot::LenHeader, |_| bytes::Bytes::new()),
        out_a.freeze()
    );
}

#[test]
fn history_is_replayed_between_server_notes_with_its_times() {
    let mut r = registered("ann");
    let got = render_all(
        &mut r,
        vec![Event::History {
            room: "#lobby".into(),
            lines: vec![
                msg("bob", "#lobby", MsgKind::Say, "earlier"),
                reaction("carol"),
                msg("ann", "#lobby", MsgKind::Action, "waved"),
            ],
        }],
    );
    let t = crate::past::stamp(SystemTime::now());
    assert_eq!(got.len(), 4, "{got:?}");
    assert_eq!(got[0].1, "history of #lobby: 2 earlier messages");
    assert_eq!(got[1], ("bob".to_string(), format!("[{t}] earlier")));
    // Even one's own lines: they are history, not an echo.
    assert_eq!(got[2], ("ann".to_string(), format!("[{t}] * ann waved")));
    assert_eq!(got[3].1, "end of history");
    assert_eq!(got[0].0, got[3].0);
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
            Event::Found {
                room: "#lobby".into(),
                words: "x".into(),
                lines: vec![],
            },
        ],
    );
    assert!(none.is_empty());
}

#[test]
fn control_sequences_never_reach_the_tutorial_client() {
    let mut r = registered("lenny");
    let got = render_all(
        &mut r,
        vec![msg("alice", "#lobby", MsgKind::Say, "\u{1b}[2J\u{2}x\u{2}")],
    );
    assert_eq!(got, vec![("alice".into(), "^[[2Jx".into())]);
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
