//! The IRC and line renderers never write a line the peer would split
//! differently: whatever the names and texts in an event as they reach the
//! renderer (spaces, colons, non-ASCII, and CR, LF and NUL where they can
//! get there), every IRC line is one clean line that parses as one
//! message, and every line-protocol event is as many lines as it has items.
//!
//! Two kinds of input: fields as the hub hands them over (relayed text
//! and reasons cleaned by `clean_text`, names that passed the hub's
//! checks), and raw fields in the places where a client's own words come
//! back to it unchecked (the names in refusals, and the label).
//!
//! Must not check wording: only the framing of what is written.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use bytes::BytesMut;
use proptest::prelude::*;

use chatroom_config::Config;
use chatroom_core::hub::clean_text;
use chatroom_core::names::{Name, same, sanitize_nick};
use chatroom_core::{
    Event, HubError, MemberInfo, ModeChange, MsgKind, MsgTarget, RoomInfo, Topic, UserInfo,
};
use chatroom_proto::Renderer;
use chatroom_proto::irc::IrcRenderer;
use chatroom_proto::irc::caps::{Cap, CapSet};
use chatroom_proto::irc::message::Message;
use chatroom_proto::irc::render::Local;
use chatroom_proto::line::LineRenderer;

/// Longest IRC line without its tags and CR LF.
const MAX_LINE: usize = 510;

/// Any text, with the characters that break lines and parameters often.
fn raw() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        proptest::collection::vec(
            prop_oneof![
                Just('\r'),
                Just('\n'),
                Just('\0'),
                Just(' '),
                Just(':'),
                Just('@'),
                Just('!'),
                Just('#'),
                Just('é'),
                Just('\u{1}'),
                proptest::char::range('a', 'e'),
            ],
            0..30,
        )
        .prop_map(|v| v.into_iter().collect()),
    ]
}

/// Relayed text as the hub hands it over (CR, LF, NUL made spaces, cut to
/// `max` bytes); long enough to need splitting.
fn text(max: usize) -> impl Strategy<Value = Name> {
    prop_oneof![
        raw(),
        "[a-zé ]{300,600}",
        proptest::collection::vec(any::<char>(), 100..400).prop_map(|v| v.into_iter().collect()),
    ]
    .prop_map(move |s| clean_text(&s, max).into())
}

fn nick() -> impl Strategy<Value = Name> {
    raw().prop_map(|s| sanitize_nick(&s, 30).into())
}

/// A room name the hub accepts: `#`, then up to 49 bytes of anything but
/// spaces, commas, colons and control characters.
fn room() -> impl Strategy<Value = Name> {
    raw().prop_map(|s| {
        let mut r = String::from("#");
        for c in s.chars() {
            let c = if c.is_control() || matches!(c, ' ' | ',' | ':') {
                '_'
            } else {
                c
            };
            if r.len() + c.len_utf8() > 50 {
                break;
            }
            r.push(c);
        }
        if r.len() < 2 {
            r.push('r');
        }
        r.into()
    })
}

/// A person as the hub knows them: user name and real name cleaned and
/// cut, the host an address or a name.
fn user() -> impl Strategy<Value = Arc<UserInfo>> {
    (
        nick(),
        raw(),
        raw(),
        prop_oneof![
            Just("127.0.0.1".to_string()),
            Just("::1".to_string()),
            "[a-z0-9.-]{1,63}"
        ],
        proptest::option::of("[a-zA-Z0-9_]{1,20}"),
    )
        .prop_map(|(nick, user, realname, host, account)| {
            let field = |s: &str| {
                let c: String = clean_text(s, 64)
                    .chars()
                    .filter(|c| !c.is_control())
                    .collect();
                if c.trim().is_empty() {
                    nick.to_string()
                } else {
                    c
                }
            };
            Arc::new(UserInfo {
                user: field(&user).into(),
                realname: field(&realname).into(),
                nick,
                host: host.into(),
                account: account.map(Into::into),
                bot: false,
            })
        })
}

fn kind() -> impl Strategy<Value = MsgKind> {
    prop_oneof![
        Just(MsgKind::Say),
        Just(MsgKind::Action),
        Just(MsgKind::Notice)
    ]
}

fn target() -> impl Strategy<Value = MsgTarget> {
    prop_oneof![
        room().prop_map(MsgTarget::Room),
        nick().prop_map(MsgTarget::Nick),
        room().prop_map(MsgTarget::Status),
    ]
}

/// Client-only tags as the hub relays them.
fn tags() -> impl Strategy<Value = Vec<(Name, Name)>> {
    proptest::collection::vec(("\\+[a-z/.-]{1,10}", raw()), 0..3).prop_map(|v| {
        v.into_iter()
            .map(|(k, v)| (k.into(), clean_text(&v, v.len()).into()))
            .collect()
    })
}

fn member() -> impl Strategy<Value = MemberInfo> {
    (
        user(),
        any::<bool>(),
        any::<bool>(),
        proptest::option::of(text(200)),
    )
        .prop_map(|(user, op, voice, away)| MemberInfo {
            user,
            op,
            voice,
            oper: false,
            away,
        })
}

/// The refusals that name what the client itself typed, unchecked.
fn refusal() -> impl Strategy<Value = HubError> {
    (raw(), raw()).prop_flat_map(|(a, b)| {
        prop_oneof![
            Just(HubError::NickInUse(a.clone().into())),
            Just(HubError::ErroneousNick {
                nick: a.clone().into(),
                reason: "a nickname may only hold letters"
            }),
            Just(HubError::BadRoomName {
                name: a.clone().into(),
                reason: "a room name cannot hold spaces"
            }),
            Just(HubError::NoSuchNick(a.clone().into())),
            Just(HubError::NoSuchRoom(a.clone().into())),
            Just(HubError::NotInRoom(a.clone().into())),
            Just(HubError::UserNotInRoom {
                nick: a.clone().into(),
                room: b.clone().into()
            }),
        ]
    })
}

/// An event, and how many lines the line protocol shows for it (`None`
/// where that is not one fixed number).
fn event() -> impl Strategy<Value = (Event, Option<usize>)> {
    let at = (0u64..4_000_000_000).prop_map(|s| UNIX_EPOCH + Duration::from_secs(s));
    let arms: Vec<BoxedStrategy<(Event, Option<usize>)>> = vec![
        (
            any::<u64>(),
            at.clone(),
            user(),
            target(),
            kind(),
            text(400),
            tags(),
        )
            .prop_map(|(id, time, from, to, kind, text, tags)| {
                (
                    Event::Message {
                        id,
                        time,
                        from,
                        to,
                        kind,
                        text,
                        tags,
                    },
                    Some(1),
                )
            })
            .boxed(),
        (any::<u64>(), at.clone(), user(), target(), tags())
            .prop_map(|(id, time, from, to, tags)| {
                (
                    Event::TagMsg {
                        id,
                        time,
                        from,
                        to,
                        tags,
                    },
                    None,
                )
            })
            .boxed(),
        (room(), user())
            .prop_map(|(room, who)| (Event::Joined { room, who }, Some(1)))
            .boxed(),
        (room(), user(), proptest::option::of(text(390)))
            .prop_map(|(room, who, reason)| (Event::Parted { room, who, reason }, Some(1)))
            .boxed(),
        (user(), text(390))
            .prop_map(|(who, reason)| (Event::Quit { who, reason }, Some(1)))
            .boxed(),
        (nick(), user())
            .prop_map(|(old, who)| (Event::NickChanged { old, who }, Some(1)))
            .boxed(),
        (room(), proptest::option::of(text(390)), user(), at.clone())
            .prop_map(|(room, text, by, time)| {
                let topic = text.map(|text| Topic {
                    text,
                    setter: by.nick.clone(),
                    time,
                });
                (Event::TopicChanged { room, topic, by }, Some(1))
            })
            .boxed(),
        (room(), user(), nick(), text(390))
            .prop_map(|(room, by, nick, reason)| {
                (
                    Event::Kicked {
                        room,
                        by,
                        nick,
                        reason,
                    },
                    Some(1),
                )
            })
            .boxed(),
        (room(), user(), nick())
            .prop_map(|(room, by, nick)| (Event::InviteNotice { room, by, nick }, Some(1)))
            .boxed(),
        (user(), proptest::option::of(text(200)))
            .prop_map(|(who, message)| (Event::AwayStatus { who, message }, None))
            .boxed(),
        user()
            .prop_map(|who| (Event::RealnameChanged { who }, None))
            .boxed(),
        (nick(), text(200))
            .prop_map(|(nick, message)| (Event::IsAway { nick, message }, Some(1)))
            .boxed(),
        text(400)
            .prop_map(|text| (Event::ServerNotice { text }, Some(1)))
            .boxed(),
        (room(), proptest::collection::vec(member(), 0..20))
            .prop_map(|(room, members)| {
                (
                    Event::Names {
                        room,
                        members,
                        secret: false,
                        read_marker: None,
                    },
                    Some(1),
                )
            })
            .boxed(),
        proptest::collection::vec((room(), 0usize..100, proptest::option::of(text(390))), 0..5)
            .prop_map(|rooms| {
                let n = rooms.len();
                let rooms = rooms
                    .into_iter()
                    .map(|(name, members, topic)| RoomInfo {
                        name,
                        members,
                        topic,
                    })
                    .collect();
                (Event::RoomList { rooms }, Some(1 + n))
            })
            .boxed(),
        (room(), proptest::collection::vec(member(), 0..5))
            .prop_map(|(mask, members)| {
                let n = members.len();
                (Event::WhoReply { mask, members }, Some(1 + n))
            })
            .boxed(),
        (
            room(),
            user(),
            proptest::collection::vec((any::<bool>(), "[a-z@*!.]{1,40}"), 0..8),
        )
            .prop_map(|(target, by, changes)| {
                let changes = changes
                    .into_iter()
                    .map(|(add, arg)| ModeChange {
                        add,
                        mode: 'b',
                        arg: Some(arg.into()),
                    })
                    .collect();
                (
                    Event::ModeChanged {
                        target,
                        by,
                        changes,
                    },
                    Some(1),
                )
            })
            .boxed(),
        (
            room(),
            proptest::collection::vec((any::<u64>(), at.clone(), user(), kind(), text(400)), 0..4),
        )
            .prop_map(|(room, past)| {
                let n = past.len();
                let lines = past
                    .into_iter()
                    .map(|(id, time, from, kind, text)| Event::Message {
                        id,
                        time,
                        from,
                        to: MsgTarget::Room(room.clone()),
                        kind,
                        text,
                        tags: Vec::new(),
                    })
                    .collect();
                (
                    Event::History { room, lines },
                    Some(if n == 0 { 1 } else { n + 2 }),
                )
            })
            .boxed(),
        refusal().prop_map(|e| (Event::Error(e), Some(1))).boxed(),
    ];
    proptest::strategy::Union::new(arms)
}

fn caps() -> impl Strategy<Value = CapSet> {
    proptest::collection::vec(any::<bool>(), Cap::ALL.len()).prop_map(|on| {
        Cap::ALL
            .iter()
            .zip(on)
            .filter(|(_, on)| *on)
            .fold(CapSet::EMPTY, |set, (cap, _)| set.with(*cap))
    })
}

fn render(r: &mut impl Renderer, ev: impl Into<chatroom_proto::Body>) -> Vec<u8> {
    let mut out = BytesMut::new();
    r.render(&chatroom_proto::Envelope::new(ev), &mut out);
    out.to_vec()
}

/// A registered IRC client called `me` with `caps` enabled.
fn irc(me: &Name, caps: CapSet) -> IrcRenderer {
    let mut r = IrcRenderer::new(&Config::default());
    let user = Arc::new(UserInfo {
        nick: me.clone(),
        user: "u".into(),
        realname: "R".into(),
        host: "127.0.0.1".into(),
        account: None,
        bot: false,
    });
    render(
        &mut r,
        Event::Welcome {
            nick: me.clone(),
            user,
        },
    );
    render(&mut r, Event::Lusers(Default::default()));
    render(&mut r, Local::Caps(caps));
    r
}

/// Every line of `out` is whole, clean and one message; returns them.
fn irc_lines(out: &[u8]) -> Result<Vec<Message>, TestCaseError> {
    let text = std::str::from_utf8(out).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert!(
        text.is_empty() || text.ends_with("\r\n"),
        "unterminated: {text:?}"
    );
    let mut msgs = Vec::new();
    for line in text.split_terminator("\r\n") {
        prop_assert!(!line.contains(['\r', '\n', '\0']), "broken line {line:?}");
        let body = match line.strip_prefix('@') {
            Some(tagged) => tagged.split_once(' ').map_or("", |(_, rest)| rest),
            None => line,
        };
        // `write_line` cuts the trailing to fit; words are not cut, so this
        // holds for words of the sizes the hub allows (and the refusals'
        // short ones here), not for any length.
        prop_assert!(body.len() <= MAX_LINE, "{} bytes: {line:?}", body.len());
        let msg =
            Message::parse(line).map_err(|e| TestCaseError::fail(format!("{e}: {line:?}")))?;
        msgs.push(msg);
    }
    Ok(msgs)
}

proptest! {
    #![proptest_config(crate::config(128))]

    #[test]
    fn irc_lines_are_whole_clean_and_short(
        me in nick(),
        caps in caps(),
        events in proptest::collection::vec(event(), 1..4),
        label in proptest::option::of(raw()),
    ) {
        let mut r = irc(&me, caps);
        if let Some(label) = &label {
            render(&mut r, Local::LabelBegin(label.clone()));
        }
        let mut out = Vec::new();
        for (ev, _) in events {
            out.extend(render(&mut r, ev));
        }
        if label.is_some() {
            out.extend(render(&mut r, Local::LabelEnd));
        }
        irc_lines(&out)?;
    }

    /// A split message loses no text: its lines' texts, put back together
    /// with the one space each cut may drop, are the text.
    #[test]
    fn a_split_irc_message_keeps_all_its_text(
        me in nick(),
        caps in caps(),
        from in user(),
        to in target(),
        kind in kind(),
        text in text(400),
    ) {
        // A message to oneself is written twice (echo and delivery).
        prop_assume!(!matches!(&to, MsgTarget::Nick(n) if same(n, &me)));
        let mut r = irc(&me, caps.with(Cap::EchoMessage));
        let ev = Event::Message {
            id: 1, time: UNIX_EPOCH, from, to, kind, text: text.clone(), tags: Vec::new(),
        };
        let msgs = irc_lines(&render(&mut r, ev))?;
        prop_assert!(!msgs.is_empty());
        let mut rest = text.as_ref();
        for (i, m) in msgs.iter().enumerate() {
            let part = m.params.last().map(String::as_str).unwrap_or("");
            let part = match kind {
                MsgKind::Action => part
                    .strip_prefix("\u{1}ACTION ")
                    .and_then(|p| p.strip_suffix('\u{1}'))
                    .unwrap_or(part),
                _ => part,
            };
            if i > 0 {
                rest = rest.strip_prefix(' ').filter(|r| r.starts_with(part)).unwrap_or(rest);
            }
            prop_assert!(rest.starts_with(part), "{part:?} is not next in {rest:?}");
            rest = &rest[part.len()..];
        }
        // A cut made at the text's last character, a space, drops that
        // space (`split_text` never starts a piece with the space it cut
        // at): only it may be left over.
        prop_assert!(rest.is_empty() || (rest == " " && text.len() > 300), "{rest:?} left");
    }

    #[test]
    fn line_protocol_events_are_as_many_lines_as_they_have_items(
        me in nick(),
        focus in room(),
        (ev, lines) in event(),
    ) {
        let mut r = LineRenderer::default();
        let user = Arc::new(UserInfo {
            nick: me.clone(),
            user: "u".into(),
            realname: "R".into(),
            host: "127.0.0.1".into(),
            account: None,
            bot: false,
        });
        render(&mut r, Event::Welcome { nick: me, user });
        render(&mut r, Event::Focus { room: Some(focus) });
        let out = render(&mut r, ev);
        prop_assert!(!out.contains(&b'\r') && !out.contains(&0), "{:?}", String::from_utf8_lossy(&out));
        prop_assert!(out.is_empty() || out.ends_with(b"\n"));
        if let Some(n) = lines {
            let got = out.iter().filter(|&&b| b == b'\n').count();
            prop_assert_eq!(got, n, "{:?}", String::from_utf8_lossy(&out));
        }
    }
}

/// Found by `irc_lines_are_whole_clean_and_short`: a refusal names what
/// the client typed, and a CR in it (IRC frames on LF, so one can arrive
/// mid-line) was written into the numeric as it was.
#[test]
fn a_refusal_never_breaks_the_irc_line() {
    let mut r = irc(&Name::from("me"), CapSet::EMPTY);
    let out = render(
        &mut r,
        Event::Error(HubError::BadRoomName {
            name: "#a\r:evil PRIVMSG me :hi\0".into(),
            reason: "a room name cannot hold control characters",
        }),
    );
    let out = String::from_utf8(out).expect("utf-8");
    assert_eq!(out.matches("\r\n").count(), 1, "{out:?}");
    assert!(
        !out.trim_end_matches("\r\n").contains(['\r', '\n', '\0']),
        "{out:?}"
    );
}

/// The same for the line protocol (a CR sends the terminal's cursor back
/// over the line), and a line feed never makes it two lines.
#[test]
fn a_refusal_never_breaks_the_line_protocols_line() {
    let mut r = LineRenderer::default();
    for name in ["#a\rb\0", "#a\nfake line"] {
        let out = render(
            &mut r,
            Event::Error(HubError::BadRoomName {
                name: name.into(),
                reason: "no control characters",
            }),
        );
        let out = String::from_utf8(out).expect("utf-8");
        assert_eq!(out.matches('\n').count(), 1, "{out:?}");
        assert!(!out.contains(['\r', '\0']), "{out:?}");
    }
}
