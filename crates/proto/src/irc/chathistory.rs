//! The `CHATHISTORY` command (IRCv3 `draft/chathistory`): its parameters
//! parsed into a history question, and its refusals as the spec's `FAIL`
//! replies.
//!
//! Pure: it reads one message and says what to ask. It must not decide
//! who may read what (the hub checks room membership, the store keys
//! private history by the asker's own nickname) nor touch the store.

use std::time::SystemTime;

use chatroom_core::history::{Anchor, Selector};
use chatroom_core::history::{HistoryAsk, MAX_ANSWER};
use chatroom_core::names::validate_nick;

use super::local::Local;
use super::message::Message;
use super::tags;

/// A parsed `CHATHISTORY` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The subcommand as the client should see it echoed (upper case).
    pub sub: String,
    /// The room or nickname asked about (`*` for TARGETS).
    pub target: String,
    pub ask: HistoryAsk,
}

/// `FAIL CHATHISTORY <code> <context...> :<text>`.
fn fail(code: &str, context: &[&str], text: &str) -> Local {
    Local::fail("CHATHISTORY", code, context, text)
}

/// A selector: `msgid=...`, `timestamp=...`; `None` when malformed. A
/// msgid that cannot be one of ours names no message here, so it becomes
/// an id no conversation holds (0 is never handed out), which the store
/// answers with nothing, exactly as for a deleted or foreign message.
fn anchor(s: &str) -> Option<Anchor> {
    if let Some(id) = s.strip_prefix("msgid=") {
        if id.is_empty() {
            return None;
        }
        return Some(Anchor::MsgId(tags::parse_msgid(id).unwrap_or(0)));
    }
    let t = s.strip_prefix("timestamp=")?;
    let t = chrono::DateTime::parse_from_rfc3339(t).ok()?;
    Some(Anchor::Time(SystemTime::from(t)))
}

/// The limit: a number, cut to what ISUPPORT `CHATHISTORY` advertises.
fn limit(s: &str) -> Option<usize> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.parse::<u64>().map_or(MAX_ANSWER, |n| {
        usize::try_from(n).unwrap_or(MAX_ANSWER).min(MAX_ANSWER)
    }))
}

/// Parses `CHATHISTORY <sub> ...`; `Err` is the FAIL to send.
pub fn parse(msg: &Message, nick_len: usize) -> Result<Request, Local> {
    let p = |i: usize| msg.params.get(i).map(String::as_str).unwrap_or("");
    let sub = p(0).to_ascii_uppercase();
    let sub_echo: String = sub.chars().take(32).collect();
    let needed = match sub.as_str() {
        "" => return Err(fail("NEED_MORE_PARAMS", &[], "Missing parameters")),
        "LATEST" | "BEFORE" | "AFTER" | "AROUND" | "TARGETS" => 4,
        "BETWEEN" => 5,
        _ => {
            return Err(fail(
                "INVALID_PARAMS",
                &[&sub_echo],
                "Unknown CHATHISTORY subcommand",
            ));
        }
    };
    if msg.params.len() < needed {
        return Err(fail("NEED_MORE_PARAMS", &[&sub_echo], "Missing parameters"));
    }
    let bad = |what: &str| fail("INVALID_PARAMS", &[&sub_echo], what);
    let lim = limit(p(needed - 1)).ok_or_else(|| bad("Invalid limit"))?;
    if sub == "TARGETS" {
        let (Some(Anchor::Time(from)), Some(Anchor::Time(to))) = (anchor(p(1)), anchor(p(2)))
        else {
            return Err(bad("TARGETS takes two timestamps"));
        };
        return Ok(Request {
            sub,
            target: "*".into(),
            ask: HistoryAsk::Targets {
                from,
                to,
                limit: lim,
            },
        });
    }
    let target = p(1).to_string();
    let selector = match sub.as_str() {
        "LATEST" if p(2) == "*" => Selector::Latest { after: None },
        "LATEST" => Selector::Latest {
            after: Some(anchor(p(2)).ok_or_else(|| bad("Invalid message reference"))?),
        },
        _ => {
            let a = anchor(p(2)).ok_or_else(|| bad("Invalid message reference"))?;
            match sub.as_str() {
                "BEFORE" => Selector::Before(a),
                "AFTER" => Selector::After(a),
                "AROUND" => Selector::Around(a),
                _ => {
                    let b = anchor(p(3)).ok_or_else(|| bad("Invalid message reference"))?;
                    Selector::Between(a, b)
                }
            }
        }
    };
    let invalid_target = || {
        let shown: String = target.chars().take(64).collect();
        fail(
            "INVALID_TARGET",
            &[&sub_echo, &shown],
            "Messages could not be retrieved",
        )
    };
    let ask = if target.starts_with('#') {
        HistoryAsk::Chat {
            selector,
            limit: lim,
        }
    } else if validate_nick(&target, nick_len).is_ok() {
        HistoryAsk::Private {
            with: target.clone(),
            selector,
            limit: lim,
        }
    } else {
        return Err(invalid_target());
    };
    Ok(Request { sub, target, ask })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(line: &str) -> Result<Request, Local> {
        parse(&Message::parse(line).expect("parses"), 30)
    }

    fn code(r: Result<Request, Local>) -> String {
        match r {
            Err(Local::Standard { code, .. }) => code,
            other => panic!("not a FAIL: {other:?}"),
        }
    }

    #[test]
    fn selectors_and_subcommands() {
        let r = run("CHATHISTORY latest #lobby * 10").expect("ok");
        assert_eq!(r.sub, "LATEST");
        assert_eq!(
            r.ask,
            HistoryAsk::Chat {
                selector: Selector::Latest { after: None },
                limit: 10
            }
        );
        let r = run("CHATHISTORY BEFORE #lobby msgid=42 5").expect("ok");
        assert_eq!(
            r.ask,
            HistoryAsk::Chat {
                selector: Selector::Before(Anchor::MsgId(42)),
                limit: 5
            }
        );
        let r = run("CHATHISTORY AFTER bob timestamp=2026-11-23T10:00:00.000Z 5").expect("ok");
        let HistoryAsk::Private { with, selector, .. } = r.ask else {
            panic!("private");
        };
        assert_eq!(with, "bob");
        assert!(matches!(selector, Selector::After(Anchor::Time(_))));
        let r = run("CHATHISTORY BETWEEN #a msgid=1 msgid=9 3").expect("ok");
        assert!(matches!(
            r.ask,
            HistoryAsk::Chat {
                selector: Selector::Between(Anchor::MsgId(1), Anchor::MsgId(9)),
                ..
            }
        ));
        let r = run("CHATHISTORY TARGETS timestamp=2026-01-01T00:00:00.000Z timestamp=2027-01-01T00:00:00.000Z 9")
            .expect("ok");
        assert!(matches!(r.ask, HistoryAsk::Targets { limit: 9, .. }));
        // A msgid that is not ours names nothing: an empty answer, not an error.
        let r = run("CHATHISTORY AROUND #a msgid=abc-def 3").expect("ok");
        assert!(matches!(
            r.ask,
            HistoryAsk::Chat {
                selector: Selector::Around(Anchor::MsgId(0)),
                ..
            }
        ));
    }

    #[test]
    fn huge_limits_are_clamped() {
        for big in ["1000000", "99999999999999999999"] {
            let r = run(&format!("CHATHISTORY LATEST #lobby * {big}")).expect("ok");
            assert!(
                matches!(r.ask, HistoryAsk::Chat { limit, .. } if limit == MAX_ANSWER),
                "{big}"
            );
        }
    }

    #[test]
    fn bad_input_is_a_fail_with_the_spec_code() {
        assert_eq!(code(run("CHATHISTORY")), "NEED_MORE_PARAMS");
        assert_eq!(code(run("CHATHISTORY LATEST #a *")), "NEED_MORE_PARAMS");
        assert_eq!(
            code(run("CHATHISTORY TARGETS timestamp=2026-01-01T00:00:00Z 5")),
            "NEED_MORE_PARAMS"
        );
        assert_eq!(
            code(run("CHATHISTORY BETWEEN #a msgid=1 5")),
            "NEED_MORE_PARAMS"
        );
        assert_eq!(code(run("CHATHISTORY FROB #a * 5")), "INVALID_PARAMS");
        assert_eq!(code(run("CHATHISTORY LATEST #a * many")), "INVALID_PARAMS");
        assert_eq!(code(run("CHATHISTORY LATEST #a * -1")), "INVALID_PARAMS");
        assert_eq!(code(run("CHATHISTORY BEFORE #a * 5")), "INVALID_PARAMS");
        assert_eq!(code(run("CHATHISTORY BEFORE #a id=4 5")), "INVALID_PARAMS");
        assert_eq!(
            code(run("CHATHISTORY BEFORE #a msgid= 5")),
            "INVALID_PARAMS"
        );
        assert_eq!(
            code(run("CHATHISTORY BEFORE #a timestamp=yesterday 5")),
            "INVALID_PARAMS"
        );
        assert_eq!(
            code(run("CHATHISTORY TARGETS msgid=1 msgid=2 5")),
            "INVALID_PARAMS"
        );
        assert_eq!(code(run("CHATHISTORY LATEST * * 5")), "INVALID_TARGET");
        assert_eq!(code(run("CHATHISTORY LATEST 9lives * 5")), "INVALID_TARGET");
    }
}
