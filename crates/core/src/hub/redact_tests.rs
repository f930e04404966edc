//! Who may withdraw which message (IRCv3 message-redaction), and who is
//! told: the hub's rules without a network.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::{ManualClock, MsgTarget, Overflow, RedactRefusal, SayTarget};

struct T {
    hub: Hub,
    out: Vec<(ConnId, Arc<Event>)>,
    clock: Arc<ManualClock>,
}

impl T {
    fn new() -> T {
        let clock = Arc::new(ManualClock::new_year());
        T {
            hub: Hub::new(HubConfig::default(), clock.clone()),
            out: Vec::new(),
            clock,
        }
    }

    fn run(&mut self, conn: ConnId, cmd: Command) -> Outcome {
        self.out.clear();
        self.hub.handle(conn, cmd, &mut self.out)
    }

    fn ok(&mut self, conn: ConnId, cmd: Command) {
        let r = self.run(conn, cmd.clone());
        assert_eq!(r, Ok(()), "{cmd:?} from {conn}");
    }

    fn reg(&mut self, conn: ConnId, nick: &str) {
        self.ok(
            conn,
            Command::Register {
                nick: nick.into(),
                user: nick.into(),
                realname: nick.into(),
                host: "127.0.0.1".into(),
            },
        );
    }

    /// Says `text` to `target`; the msgid given.
    fn say(&mut self, conn: ConnId, target: SayTarget, text: &str) -> u64 {
        self.ok(
            conn,
            Command::Say {
                target,
                kind: MsgKind::Say,
                text: text.into(),
                tags: Vec::new(),
                overflow: Overflow::Cut,
            },
        );
        self.out
            .iter()
            .find_map(|(_, e)| match &**e {
                Event::Message { id, .. } => Some(*id),
                _ => None,
            })
            .expect("a message")
    }

    fn redact(&mut self, conn: ConnId, target: &str, id: u64) -> Outcome {
        self.run(
            conn,
            Command::Redact {
                target: target.into(),
                id: Some(id),
                msgid: id.to_string(),
                reason: None,
            },
        )
    }

    /// Who received an `Event::Redacted` of `msgid` from the last command.
    fn told(&self, msgid: u64) -> Vec<ConnId> {
        let mut v: Vec<ConnId> = self
            .out
            .iter()
            .filter(|(_, e)| matches!(&**e, Event::Redacted { msgid: m, .. } if *m == msgid))
            .map(|(c, _)| *c)
            .collect();
        v.sort();
        v
    }
}

fn refusal(why: RedactRefusal, target: &str, msgid: &str) -> Outcome {
    Err(HubError::Redact {
        why,
        target: target.into(),
        msgid: msgid.into(),
    })
}

fn room() -> SayTarget {
    SayTarget::Room("#lobby".into())
}

#[test]
fn the_sender_withdraws_within_the_window_and_every_member_is_told() {
    let mut t = T::new();
    t.reg(1, "alice");
    t.reg(2, "bob");
    t.reg(3, "carol");
    let id = t.say(2, room(), "oops");
    t.clock.advance(Duration::from_secs(60));
    assert_eq!(
        t.run(
            2,
            Command::Redact {
                target: "#LOBBY".into(),
                id: Some(id),
                msgid: id.to_string(),
                reason: Some("typo\r\nPRIVMSG x".into()),
            }
        ),
        Ok(())
    );
    assert_eq!(t.told(id), vec![1, 2, 3]);
    let Event::Redacted {
        id: own,
        by,
        to,
        reason,
        ..
    } = &*t.out[0].1
    else {
        panic!("not a redaction: {:?}", t.out[0]);
    };
    assert!(*own > id, "a redaction has a msgid of its own");
    assert_eq!(&*by.nick, "bob");
    assert_eq!(to, &MsgTarget::Room("#lobby".into()));
    assert_eq!(reason.as_deref(), Some("typo  PRIVMSG x"));
    // Withdrawn once: it is no longer known.
    assert_eq!(
        t.redact(2, "#lobby", id),
        refusal(RedactRefusal::UnknownMsgid, "#lobby", &id.to_string())
    );
}

#[test]
fn past_the_window_only_operators_withdraw() {
    let mut t = T::new();
    t.reg(1, "alice"); // first in #lobby: its operator
    t.reg(2, "bob");
    let id = t.say(2, room(), "old news");
    t.clock.advance(Duration::from_secs(901));
    assert_eq!(
        t.redact(2, "#lobby", id),
        refusal(RedactRefusal::WindowExpired(900), "#lobby", &id.to_string())
    );
    assert!(t.out.is_empty());
    assert_eq!(t.redact(1, "#lobby", id), Ok(()));
    assert_eq!(t.told(id), vec![1, 2]);
}

#[test]
fn someone_elses_message_is_forbidden_unless_operator() {
    let mut t = T::new();
    t.reg(1, "alice");
    t.reg(2, "bob");
    t.reg(3, "carol");
    let id = t.say(1, room(), "mine");
    assert_eq!(
        t.redact(2, "#lobby", id),
        refusal(RedactRefusal::Forbidden, "#lobby", &id.to_string())
    );
    assert!(t.out.is_empty(), "nobody told of a refusal");
    // A server operator may, without being a room operator.
    t.ok(
        3,
        Command::Oper {
            name: "root".into(),
        },
    );
    assert_eq!(t.redact(3, "#lobby", id), Ok(()));
    assert_eq!(t.told(id), vec![1, 2, 3]);
}

#[test]
fn the_same_account_on_another_connection_is_the_sender() {
    let mut t = T::new();
    t.reg(1, "alice");
    t.reg(2, "bob");
    t.ok(2, Command::Login(Some("bob".into())));
    let id = t.say(2, room(), "from my laptop");
    t.ok(2, Command::Quit(None));
    t.reg(3, "bob_phone");
    t.ok(3, Command::Login(Some("BOB".into())));
    assert_eq!(t.redact(3, "#lobby", id), Ok(()));
    assert_eq!(t.told(id), vec![1, 3]);
}

#[test]
fn targets_and_msgids_must_match_and_exist() {
    let mut t = T::new();
    t.reg(1, "alice");
    t.reg(2, "bob");
    t.ok(2, Command::Join("#other".into()));
    let id = t.say(1, room(), "in the lobby");
    let other = t.say(2, SayTarget::Room("#other".into()), "elsewhere");
    let sid = id.to_string();
    assert_eq!(
        t.redact(1, "#nowhere", id),
        refusal(RedactRefusal::InvalidTarget, "#nowhere", &sid)
    );
    // A room one is not in is no target either (its messages stay unknown).
    assert_eq!(
        t.redact(1, "#other", other),
        refusal(RedactRefusal::InvalidTarget, "#other", &other.to_string())
    );
    assert_eq!(
        t.redact(1, "nobody", id),
        refusal(RedactRefusal::InvalidTarget, "nobody", &sid)
    );
    // Another room's message, named in this room, is unknown here.
    assert_eq!(
        t.redact(2, "#lobby", other),
        refusal(RedactRefusal::UnknownMsgid, "#lobby", &other.to_string())
    );
    assert_eq!(
        t.run(
            1,
            Command::Redact {
                target: "#lobby".into(),
                id: None,
                msgid: "elsewhere123".into(),
                reason: None,
            }
        ),
        refusal(RedactRefusal::UnknownMsgid, "#lobby", "elsewhere123")
    );
    assert_eq!(
        t.redact(1, "#lobby", 999_999),
        refusal(RedactRefusal::UnknownMsgid, "#lobby", "999999")
    );
}

#[test]
fn a_private_message_is_only_its_senders_to_withdraw() {
    let mut t = T::new();
    t.reg(1, "alice");
    t.reg(2, "bob");
    t.reg(3, "carol");
    let id = t.say(1, SayTarget::Nick("bob".into()), "psst");
    // The recipient is refused, a third person does not learn it exists.
    assert_eq!(
        t.redact(2, "alice", id),
        refusal(RedactRefusal::Forbidden, "alice", &id.to_string())
    );
    assert_eq!(
        t.redact(3, "bob", id),
        refusal(RedactRefusal::UnknownMsgid, "bob", &id.to_string())
    );
    t.ok(
        3,
        Command::Oper {
            name: "root".into(),
        },
    );
    assert_eq!(
        t.redact(3, "bob", id),
        refusal(RedactRefusal::UnknownMsgid, "bob", &id.to_string())
    );
    assert_eq!(t.redact(1, "BOB", id), Ok(()));
    assert_eq!(t.told(id), vec![1, 2]);
    assert!(t.out.iter().all(
        |(_, e)| matches!(&**e, Event::Redacted { to: MsgTarget::Nick(n), .. } if &**n == "bob")
    ));
}

#[test]
fn only_the_latest_messages_are_remembered() {
    let mut t = T::new();
    t.reg(1, "alice");
    let first = t.say(1, room(), "first");
    for i in 0..redact::RECENT {
        t.say(1, room(), &format!("line {i}"));
    }
    assert_eq!(
        t.redact(1, "#lobby", first),
        refusal(RedactRefusal::UnknownMsgid, "#lobby", &first.to_string())
    );
    assert_eq!(
        t.redact(1, "#lobby", first + 1 + redact::RECENT as u64 - 1),
        Ok(())
    );
}
