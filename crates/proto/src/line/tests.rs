//! The line protocol's renderer: every event kind to bytes, built from
//! `Envelope::new(event)` as the hub would hand them over.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::BytesMut;

use super::*;
use chatroom_core::names::Name;
use chatroom_core::{RoomInfo, Topic, UserInfo};

use crate::envelope::{Envelope, Slot};

fn user(nick: &str) -> Arc<UserInfo> {
    Arc::new(UserInfo {
        nick: nick.into(),
        user: format!("{nick}_u").into(),
        realname: format!("{nick} Real").into(),
        host: "10.0.0.7".into(),
        account: None,
        bot: false,
    })
}

fn name(s: &str) -> Name {
    s.into()
}

/// A fixed time and the clock text the renderer must show for it (local time).
fn at() -> (SystemTime, String) {
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let local: chrono::DateTime<chrono::Local> = t.into();
    (t, local.format("%H:%M").to_string())
}

fn render(r: &mut LineRenderer, event: impl Into<crate::Body>) -> String {
    render_shared(r, &Envelope::new(event))
}

fn render_shared(r: &mut LineRenderer, shared: &Shared) -> String {
    let mut out = BytesMut::new();
    r.render(shared, &mut out);
    String::from_utf8(out.to_vec()).expect("utf-8")
}

/// Checks that `line` is `HH:MM ` followed by `rest` and a newline.
fn assert_clocked(line: &str, rest: &str) {
    let b = line.as_bytes();
    assert!(
        line.len() > 6
            && b[0].is_ascii_digit()
            && b[1].is_ascii_digit()
            && b[2] == b':'
            && b[3].is_ascii_digit()
            && b[4].is_ascii_digit()
            && b[5] == b' ',
        "no clock in {line:?}"
    );
    assert_eq!(&line[6..], format!("{rest}\n"), "{line:?}");
}

/// A renderer that knows it is `me` and is talking in `focus`.
fn renderer(me: &str, focus: &str) -> LineRenderer {
    let mut r = LineRenderer::default();
    render(
        &mut r,
        Event::Welcome {
            nick: name(me),
            user: user(me),
        },
    );
    render(
        &mut r,
        Event::Focus {
            room: Some(name(focus)),
        },
    );
    r
}

fn room_msg(from: &str, room: &str, kind: MsgKind, text: &str) -> Event {
    Event::Message {
        id: 7,
        time: at().0,
        from: user(from),
        to: MsgTarget::Room(name(room)),
        kind,
        text: name(text),
        tags: Vec::new(),
    }
}

fn private_msg(from: &str, to: &str, kind: MsgKind, text: &str) -> Event {
    Event::Message {
        id: 8,
        time: at().0,
        from: user(from),
        to: MsgTarget::Nick(name(to)),
        kind,
        text: name(text),
        tags: Vec::new(),
    }
}

#[test]
fn welcome_and_focus() {
    let mut r = LineRenderer::default();
    assert_eq!(
        render(
            &mut r,
            Event::Welcome {
                nick: name("alice"),
                user: user("alice")
            }
        ),
        "Welcome, alice! Type /help for commands.\n"
    );
    assert_eq!(
        render(
            &mut r,
            Event::Focus {
                room: Some(name("#lobby"))
            }
        ),
        "* you are now talking in #lobby\n"
    );
    assert_eq!(
        render(&mut r, Event::Focus { room: None }),
        "* you are not in any room; /join one\n"
    );
}

#[test]
fn room_messages_in_focus_and_elsewhere() {
    let (_, hhmm) = at();
    let mut r = renderer("alice", "#lobby");
    assert_eq!(
        render(&mut r, room_msg("bob", "#lobby", MsgKind::Say, "hi all")),
        format!("{hhmm} <bob> hi all\n")
    );
    // The focus is compared without case.
    assert_eq!(
        render(&mut r, room_msg("bob", "#LOBBY", MsgKind::Say, "hi")),
        format!("{hhmm} <bob> hi\n")
    );
    assert_eq!(
        render(&mut r, room_msg("bob", "#rust", MsgKind::Say, "over here")),
        format!("{hhmm} [#rust] <bob> over here\n")
    );
    assert_eq!(
        render(&mut r, room_msg("bob", "#lobby", MsgKind::Action, "waves")),
        format!("{hhmm} * bob waves\n")
    );
    assert_eq!(
        render(&mut r, room_msg("bob", "#rust", MsgKind::Action, "waves")),
        format!("{hhmm} [#rust] * bob waves\n")
    );
    assert_eq!(
        render(
            &mut r,
            room_msg("bob", "#lobby", MsgKind::Notice, "heads up")
        ),
        format!("{hhmm} -bob- heads up\n")
    );
    // One's own messages are shown like anyone's.
    assert_eq!(
        render(&mut r, room_msg("alice", "#lobby", MsgKind::Say, "me")),
        format!("{hhmm} <alice> me\n")
    );
    // After switching rooms, the prefix moves.
    render(
        &mut r,
        Event::Focus {
            room: Some(name("#rust")),
        },
    );
    assert_eq!(
        render(&mut r, room_msg("bob", "#lobby", MsgKind::Say, "hi")),
        format!("{hhmm} [#lobby] <bob> hi\n")
    );
    assert_eq!(
        render(&mut r, room_msg("bob", "#rust", MsgKind::Say, "hi")),
        format!("{hhmm} <bob> hi\n")
    );
}

#[test]
fn private_message_forms() {
    let (_, hhmm) = at();
    let mut r = renderer("alice", "#lobby");
    // Received.
    assert_eq!(
        render(&mut r, private_msg("bob", "alice", MsgKind::Say, "psst")),
        format!("{hhmm} [private] <bob> psst\n")
    );
    // Sent (the sender's own copy), whatever case the recipient was typed in.
    assert_eq!(
        render(&mut r, private_msg("ALICE", "bob", MsgKind::Say, "hey")),
        format!("{hhmm} [private to bob] hey\n")
    );
    // Actions show the nick once.
    assert_eq!(
        render(
            &mut r,
            private_msg("bob", "alice", MsgKind::Action, "pokes you")
        ),
        format!("{hhmm} [private] * bob pokes you\n")
    );
    assert_eq!(
        render(
            &mut r,
            private_msg("alice", "bob", MsgKind::Action, "pokes back")
        ),
        format!("{hhmm} [private to bob] * alice pokes back\n")
    );
    // A note to oneself reads as received.
    assert_eq!(
        render(&mut r, private_msg("alice", "alice", MsgKind::Say, "note")),
        format!("{hhmm} [private] <alice> note\n")
    );
}

#[test]
fn membership_events() {
    let mut r = renderer("alice", "#lobby");
    assert_clocked(
        &render(
            &mut r,
            Event::Joined {
                room: name("#lobby"),
                who: user("bob"),
            },
        ),
        "* bob joined #lobby",
    );
    assert_clocked(
        &render(
            &mut r,
            Event::Parted {
                room: name("#lobby"),
                who: user("bob"),
                reason: Some(name("lunch")),
            },
        ),
        "* bob left #lobby (lunch)",
    );
    assert_clocked(
        &render(
            &mut r,
            Event::Parted {
                room: name("#lobby"),
                who: user("bob"),
                reason: None,
            },
        ),
        "* bob left #lobby",
    );
    assert_clocked(
        &render(
            &mut r,
            Event::Quit {
                who: user("bob"),
                reason: name("Client quit"),
            },
        ),
        "* bob quit (Client quit)",
    );
}

#[test]
fn nick_changes_of_others_and_of_oneself() {
    let (_, hhmm) = at();
    let mut r = renderer("alice", "#lobby");
    assert_clocked(
        &render(
            &mut r,
            Event::NickChanged {
                old: name("bob"),
                who: user("robert"),
            },
        ),
        "* bob is now known as robert",
    );
    assert_clocked(
        &render(
            &mut r,
            Event::NickChanged {
                old: name("alice"),
                who: user("alicia"),
            },
        ),
        "* you are now known as alicia",
    );
    // The renderer now knows its new name: a message it sends is "to".
    assert_eq!(
        render(&mut r, private_msg("alicia", "robert", MsgKind::Say, "hi")),
        format!("{hhmm} [private to robert] hi\n")
    );
    assert_eq!(
        render(&mut r, private_msg("alice", "robert", MsgKind::Say, "hi")),
        format!("{hhmm} [private] <alice> hi\n"),
        "the old name is no longer me"
    );
}

#[test]
fn topics() {
    let (t, _) = at();
    let mut r = renderer("alice", "#lobby");
    let topic = Topic {
        text: name("release day"),
        setter: name("bob"),
        time: t,
    };
    assert_clocked(
        &render(
            &mut r,
            Event::TopicChanged {
                room: name("#lobby"),
                topic: Some(topic.clone()),
                by: user("bob"),
            },
        ),
        "* bob set the topic of #lobby: release day",
    );
    assert_clocked(
        &render(
            &mut r,
            Event::TopicChanged {
                room: name("#lobby"),
                topic: None,
                by: user("bob"),
            },
        ),
        "* bob cleared the topic of #lobby",
    );
    assert_eq!(
        render(
            &mut r,
            Event::TopicIs {
                room: name("#lobby"),
                topic: Some(topic),
            }
        ),
        "Topic of #lobby: release day (set by bob)\n"
    );
    assert_eq!(
        render(
            &mut r,
            Event::TopicIs {
                room: name("#lobby"),
                topic: None,
            }
        ),
        "#lobby has no topic\n"
    );
}

#[test]
fn names_rooms_who_whois() {
    let mut r = renderer("alice", "#lobby");
    let members = vec![
        MemberInfo {
            user: user("alice"),
            op: true,
            voice: false,
            oper: false,
            away: None,
        },
        MemberInfo {
            user: user("bob"),
            op: false,
            voice: false,
            oper: false,
            away: Some(name("lunch")),
        },
    ];
    assert_eq!(
        render(
            &mut r,
            Event::Names {
                room: name("#lobby"),
                members: members.clone(),
                secret: false,
                read_marker: None,
            }
        ),
        "In #lobby (2): @alice, bob (away)\n"
    );
    assert_eq!(
        render(
            &mut r,
            Event::RoomList {
                rooms: vec![
                    RoomInfo {
                        name: name("#a"),
                        members: 1,
                        topic: Some(name("first")),
                    },
                    RoomInfo {
                        name: name("#lobby"),
                        members: 3,
                        topic: None,
                    },
                ],
            }
        ),
        "2 rooms:\n  #a (1 member): first\n  #lobby (3 members)\n"
    );
    assert_eq!(
        render(&mut r, Event::RoomList { rooms: vec![] }),
        "No rooms yet; /join one to make it.\n"
    );
    let one = vec![RoomInfo {
        name: name("#a"),
        members: 1,
        topic: None,
    }];
    assert_eq!(
        render(&mut r, Event::RoomList { rooms: one }),
        "1 room:\n  #a (1 member)\n"
    );
    assert_eq!(
        render(
            &mut r,
            Event::WhoReply {
                mask: name("#lobby"),
                members,
            }
        ),
        "#lobby:\n  @alice (alice_u@10.0.0.7)\n  bob (bob_u@10.0.0.7) away: lunch\n"
    );
    assert_eq!(
        render(
            &mut r,
            Event::WhoReply {
                mask: name("#nope"),
                members: vec![],
            }
        ),
        "Nobody matches #nope\n"
    );
    assert_eq!(
        render(
            &mut r,
            Event::WhoisReply {
                user: user("bob"),
                rooms: vec![name("#lobby"), name("#a")],
                standing: vec![(false, false), (false, false)],
                away: Some(name("lunch")),
                idle_secs: 42,
                signon: at().0,
                oper: false,
                secure: false,
                certfp: None,
            }
        ),
        "bob (bob_u@10.0.0.7, bob Real): in #lobby #a; idle 42s; away: lunch\n"
    );
    assert_eq!(
        render(
            &mut r,
            Event::WhoisReply {
                user: user("carol"),
                rooms: vec![],
                standing: vec![],
                away: None,
                idle_secs: 0,
                signon: at().0,
                oper: false,
                secure: false,
                certfp: None,
            }
        ),
        "carol (carol_u@10.0.0.7, carol Real): in no rooms; idle 0s\n"
    );
}

#[test]
fn away_notices_closing_raw() {
    let mut r = renderer("alice", "#lobby");
    assert_eq!(
        render(&mut r, Event::AwayChanged { away: true }),
        "* you are marked as away\n"
    );
    assert_eq!(
        render(&mut r, Event::AwayChanged { away: false }),
        "* you are no longer away\n"
    );
    assert_eq!(
        render(
            &mut r,
            Event::IsAway {
                nick: name("bob"),
                message: name("lunch"),
            }
        ),
        "* bob is away: lunch\n"
    );
    assert_eq!(
        render(
            &mut r,
            Event::ServerNotice {
                text: name("Server shutting down"),
            }
        ),
        "*** Server shutting down\n"
    );
    let wallops = render(
        &mut r,
        Event::Wallops {
            from: user("oper"),
            text: name("maintenance at noon"),
        },
    );
    assert_clocked(&wallops, "*** WALLOPS from oper: maintenance at noon");
    assert_eq!(
        render(
            &mut r,
            Event::Closing {
                reason: name("Server shutting down"),
            }
        ),
        "*** Disconnected: Server shutting down\n"
    );
    // Raw bytes pass through untouched: no newline added.
    assert_eq!(
        render(&mut r, Bytes::from_static(b"Choose a nickname:\n")),
        "Choose a nickname:\n"
    );
    assert_eq!(render(&mut r, Bytes::from_static(b"x")), "x");
}

#[test]
fn errors_prompt_for_a_nickname_only_before_registration() {
    let mut fresh = LineRenderer::default();
    assert_eq!(
        render(&mut fresh, Event::Error(HubError::NickInUse(name("bob")))),
        "! the nickname bob is taken\nChoose another nickname:\n"
    );
    assert_eq!(
        render(
            &mut fresh,
            Event::Error(HubError::ErroneousNick {
                nick: name("1x"),
                reason: "a nickname cannot start with a digit or '-'",
            })
        ),
        "! 1x is not a valid nickname: a nickname cannot start with a digit or '-'\nChoose another nickname:\n"
    );
    // Not a nickname problem: no prompt.
    assert_eq!(
        render(&mut fresh, Event::Error(HubError::NotRegistered)),
        "! you must choose a nickname first\n"
    );
    // Registered: a refused /nick is just an error.
    let mut r = renderer("alice", "#lobby");
    assert_eq!(
        render(&mut r, Event::Error(HubError::NickInUse(name("bob")))),
        "! the nickname bob is taken\n"
    );
    assert_eq!(
        render(&mut r, Event::Error(HubError::CannotSendToRoom(name("#x")))),
        "! you cannot send to #x: join it first\n"
    );
}

#[test]
fn render_cache_is_shared_between_recipients() {
    let (_, hhmm) = at();
    let shared = Envelope::new(room_msg("bob", "#lobby", MsgKind::Say, "once"));
    let mut a = renderer("alice", "#lobby");
    let mut b = renderer("carol", "#lobby");
    let mut elsewhere = renderer("dave", "#rust");
    let first = render_shared(&mut a, &shared);
    assert_eq!(first, format!("{hhmm} <bob> once\n"));
    // The bytes are cached under the focused slot: a second rendering
    // reuses them instead of formatting again.
    let cached = shared.rendered(Slot::LineFocused, |_| panic!("rendered twice"));
    assert_eq!(cached, first.as_bytes());
    assert_eq!(render_shared(&mut b, &shared), first);
    // A recipient focused elsewhere gets the prefixed form, cached apart...
    let other = render_shared(&mut elsewhere, &shared);
    assert_eq!(other, format!("{hhmm} [#lobby] <bob> once\n"));
    let cached = shared.rendered(Slot::LineOtherRoom, |_| panic!("rendered twice"));
    assert_eq!(cached, other.as_bytes());
    // ...and does not spoil the focused form for later recipients.
    assert_eq!(render_shared(&mut a, &shared), first);
}

#[test]
fn render_cache_bytes_are_what_the_cache_holds() {
    // If the cache holds bytes, a renderer must use them rather than format
    // its own: plant different bytes and see them come out.
    let shared = Envelope::new(room_msg("bob", "#lobby", MsgKind::Say, "real"));
    let planted = shared.rendered(Slot::LineFocused, |_| Bytes::from_static(b"planted\n"));
    assert_eq!(&planted[..], b"planted\n");
    let mut r = renderer("alice", "#lobby");
    assert_eq!(render_shared(&mut r, &shared), "planted\n");
}

/// A stored reaction (a TAGMSG record) in a replay is neither shown nor
/// counted; a reply shows as its text; a replay of reactions only says
/// there is nothing earlier.
#[test]
fn stored_tag_only_messages_are_left_out_of_history() {
    let (t, _) = at();
    let react = Event::TagMsg {
        id: 9,
        time: t,
        from: user("carol"),
        to: MsgTarget::Room(name("#lobby")),
        tags: vec![(name("+draft/react"), name("🎉"))],
    };
    let reply = Event::Message {
        id: 8,
        time: t,
        from: user("bob"),
        to: MsgTarget::Room(name("#lobby")),
        kind: MsgKind::Say,
        text: name("me"),
        tags: vec![(name("+draft/reply"), name("7"))],
    };
    let mut r = LineRenderer::default();
    let got = render(
        &mut r,
        Event::History {
            room: name("#lobby"),
            lines: vec![reply, react.clone()],
        },
    );
    assert!(
        got.contains("history of #lobby: 1 earlier message ---"),
        "{got}"
    );
    assert!(got.contains("<bob> me"), "{got}");
    assert!(!got.contains("carol"), "{got}");
    let got = render(
        &mut r,
        Event::History {
            room: name("#lobby"),
            lines: vec![react],
        },
    );
    assert!(got.contains("no earlier messages in #lobby"), "{got}");
}
