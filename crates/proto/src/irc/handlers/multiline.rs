//! Client batches of IRCv3 `draft/multiline`: `BATCH +ref draft/multiline
//! <target>`, PRIVMSG lines tagged `batch=ref` (and `draft/multiline-concat`
//! for a line that continues the one before), `BATCH -ref`; then one
//! message of several lines goes to the hub (`Overflow::Lines`, see
//! `chatroom_core::multiline`).
//!
//! The batch is gathered in the session's state within the limits the
//! capability advertises (`[hub] multiline_max_bytes`, `max_lines`), so an
//! unfinished or oversized batch costs at most that much; every refusal is
//! the spec's `FAIL BATCH ...`. Must not decide who may send where (the hub
//! does, when the batch ends).

use chatroom_core::{Command, MsgKind, Overflow, multiline, names};

use super::context::Context;
use super::privmsg::{client_tags, say_target};
use crate::irc::caps::Cap;
use crate::irc::local::Local;
use crate::irc::message::Message;
use crate::irc::state::OpenBatch;

/// The batch type this server takes from clients.
pub const BATCH_TYPE: &str = "draft/multiline";
/// The tag of a line that continues the one before.
pub const CONCAT_TAG: &str = "draft/multiline-concat";

fn fail(cx: &mut Context<'_>, code: &str, context: &[&str], text: &str) {
    cx.note(Local::fail("BATCH", code, context, text));
}

/// `BATCH +ref draft/multiline <target>` and `BATCH -ref`.
pub fn batch(cx: &mut Context<'_>, msg: &Message) {
    let reference = msg.param(0);
    if let Some(opened) = reference.strip_prefix('+') {
        if !cx.st.has(Cap::Multiline) || msg.param(1) != BATCH_TYPE {
            fail(
                cx,
                "MULTILINE_INVALID",
                &[],
                "Only draft/multiline batches are taken from clients",
            );
            return;
        }
        let target = msg.param(2);
        if opened.is_empty() || target.is_empty() {
            fail(cx, "MULTILINE_INVALID", &[], "Invalid multiline batch");
            return;
        }
        if cx.st.multiline.is_some() {
            // A batch inside a batch: both are dropped.
            cx.st.multiline = None;
            fail(
                cx,
                "MULTILINE_INVALID",
                &[],
                "A multiline batch is already open",
            );
            return;
        }
        let tags = client_tags(cx.st, &msg.tags);
        cx.st.multiline = Some(Box::new(OpenBatch {
            reference: opened.to_string(),
            target: target.to_string(),
            label: msg.tag("label").map(str::to_string),
            tags,
            ..OpenBatch::default()
        }));
        return;
    }
    let Some(closed) = reference.strip_prefix('-') else {
        fail(cx, "MULTILINE_INVALID", &[], "Invalid multiline batch");
        return;
    };
    let Some(open) = cx.st.multiline.take() else {
        fail(cx, "MULTILINE_INVALID", &[], "No multiline batch is open");
        return;
    };
    if open.reference != closed {
        fail(
            cx,
            "MULTILINE_INVALID",
            &[],
            "Invalid multiline batch reference",
        );
        return;
    }
    if open.failed {
        return;
    }
    if open.lines.iter().all(|(l, _)| l.trim().is_empty()) {
        fail(
            cx,
            "MULTILINE_INVALID",
            &[],
            "A multiline message must not be blank",
        );
        return;
    }
    let OpenBatch {
        target,
        tags,
        lines,
        ..
    } = *open;
    let text = multiline::join(lines.iter().map(|(l, c)| (l.as_str(), *c)));
    cx.send(Command::Say {
        target: say_target(&target),
        kind: MsgKind::Say,
        text,
        tags,
        overflow: Overflow::Lines,
    });
}

/// Whether `msg` is a line of the open batch (and was taken as one).
pub fn take_line(cx: &mut Context<'_>, msg: &Message) -> bool {
    let Some(reference) = msg.tag("batch") else {
        return false;
    };
    let (max_bytes, max_lines) = (
        cx.cfg.hub.multiline_max_bytes,
        cx.cfg.hub.multiline_max_lines,
    );
    let Some(open) = cx.st.multiline.as_deref_mut() else {
        fail(cx, "MULTILINE_INVALID", &[], "No multiline batch is open");
        return true;
    };
    if open.failed {
        return true;
    }
    let refusal = if reference != open.reference {
        Some((
            "MULTILINE_INVALID",
            vec![],
            "Invalid multiline batch reference".to_string(),
        ))
    } else if msg.command != "PRIVMSG" {
        Some((
            "MULTILINE_INVALID",
            vec![],
            "Only PRIVMSG belongs in a multiline batch".into(),
        ))
    } else if !names::same(msg.param(0), &open.target) {
        Some((
            "MULTILINE_INVALID_TARGET",
            vec![open.target.clone(), msg.param(0).to_string()],
            "Invalid multiline target".into(),
        ))
    } else {
        None
    };
    if let Some((code, context, text)) = refusal {
        open.failed = true;
        let context: Vec<&str> = context.iter().map(String::as_str).collect();
        fail(cx, code, &context, &text);
        return true;
    }
    let line = msg.param(1);
    let concat = msg.tag(CONCAT_TAG).is_some();
    if concat && line.is_empty() {
        open.failed = true;
        fail(
            cx,
            "MULTILINE_INVALID",
            &[],
            "A blank line cannot continue another",
        );
        return true;
    }
    // No CR, LF or NUL can arrive inside a parameter; the hub makes sure.
    let sep = usize::from(!open.lines.is_empty() && !concat);
    let bytes = open.bytes + sep + line.len();
    if bytes > max_bytes {
        open.failed = true;
        fail(
            cx,
            "MULTILINE_MAX_BYTES",
            &[&max_bytes.to_string()],
            "Multiline batch max-bytes exceeded",
        );
        return true;
    }
    if open.lines.len() >= max_lines {
        open.failed = true;
        fail(
            cx,
            "MULTILINE_MAX_LINES",
            &[&max_lines.to_string()],
            "Multiline batch max-lines exceeded",
        );
        return true;
    }
    open.bytes = bytes;
    open.lines.push((line.to_string(), concat));
    true
}

#[cfg(test)]
mod tests {
    use chatroom_core::{Command, MsgKind, Overflow, SayTarget};

    use crate::irc::handlers::test_support::*;
    use crate::irc::message::Message;
    use crate::irc::step::Step;

    fn caps() -> crate::irc::state::State {
        with_caps("draft/multiline batch message-tags labeled-response")
    }

    fn fails(steps: &[Step], want: &str) {
        assert_eq!(steps.len(), 1, "{steps:?}");
        let shown = shown(&steps[0]);
        assert!(shown.contains(want), "{shown}");
    }

    #[test]
    fn a_batch_becomes_one_message_of_its_lines_as_composed() {
        let mut st = caps();
        assert_eq!(
            run(
                &mut st,
                "@label=xyz;+draft/reply=7 BATCH +123 draft/multiline #test"
            ),
            vec![]
        );
        assert_eq!(run(&mut st, "@batch=123 PRIVMSG #test hello"), vec![]);
        assert_eq!(run(&mut st, "@batch=123 PRIVMSG #test :"), vec![]);
        assert_eq!(run(&mut st, "@batch=123 privmsg #TEST :how is "), vec![]);
        assert_eq!(
            run(
                &mut st,
                "@batch=123;draft/multiline-concat PRIVMSG #test :everyone?"
            ),
            vec![]
        );
        // The end answers the label of the start.
        let end = Message::parse("BATCH -123").expect("parses");
        assert_eq!(st.label_of(&end), Some("xyz".into()));
        assert_eq!(
            run(&mut st, "BATCH -123"),
            vec![Step::Send(Command::Say {
                target: SayTarget::Room("#test".into()),
                kind: MsgKind::Say,
                text: "hello\n\nhow is \reveryone?".into(),
                tags: vec![("+draft/reply".into(), "7".into())],
                overflow: Overflow::Lines,
            })]
        );
        assert!(st.multiline.is_none());
    }

    #[test]
    fn every_refusal_is_the_specs_fail_and_drops_the_batch() {
        // Without the capability.
        let mut st = registered_state();
        fails(
            &run(&mut st, "BATCH +1 draft/multiline #test"),
            "FAIL BATCH MULTILINE_INVALID",
        );
        let mut st = caps();
        // Another target inside.
        run(&mut st, "BATCH +a draft/multiline #test");
        fails(
            &run(&mut st, "@batch=a PRIVMSG #other :hi"),
            "FAIL BATCH MULTILINE_INVALID_TARGET #test #other",
        );
        // What follows a refusal is ignored, and the end sends nothing.
        assert_eq!(run(&mut st, "@batch=a PRIVMSG #test :more"), vec![]);
        assert_eq!(run(&mut st, "BATCH -a"), vec![]);
        // Another reference.
        run(&mut st, "BATCH +b draft/multiline #test");
        fails(
            &run(&mut st, "@batch=c PRIVMSG #test :hi"),
            "FAIL BATCH MULTILINE_INVALID",
        );
        run(&mut st, "BATCH -b");
        // A blank line cannot continue another; a blank message is refused.
        run(&mut st, "BATCH +d draft/multiline #test");
        run(&mut st, "@batch=d PRIVMSG #test :x");
        fails(
            &run(&mut st, "@batch=d;draft/multiline-concat PRIVMSG #test :"),
            "FAIL BATCH MULTILINE_INVALID",
        );
        run(&mut st, "BATCH -d");
        run(&mut st, "BATCH +e draft/multiline #test");
        run(&mut st, "@batch=e PRIVMSG #test :");
        run(&mut st, "@batch=e PRIVMSG #test : ");
        fails(&run(&mut st, "BATCH -e"), "FAIL BATCH MULTILINE_INVALID");
        // Only PRIVMSG belongs inside.
        run(&mut st, "BATCH +f draft/multiline #test");
        fails(
            &run(&mut st, "@batch=f NOTICE #test :x"),
            "FAIL BATCH MULTILINE_INVALID",
        );
        run(&mut st, "BATCH -f");
        // Other batch types are not taken.
        fails(
            &run(&mut st, "BATCH +g chathistory #test"),
            "FAIL BATCH MULTILINE_INVALID",
        );
    }

    #[test]
    fn the_limits_are_the_advertised_ones() {
        let mut st = caps();
        run(&mut st, "BATCH +m draft/multiline #test");
        let line = format!("@batch=m PRIVMSG #test :{}", "x".repeat(400));
        for _ in 0..10 {
            assert_eq!(run(&mut st, &line), vec![]);
        }
        // 10 x 400 + 9 breaks = 4009; one more line passes 4096.
        fails(&run(&mut st, &line), "FAIL BATCH MULTILINE_MAX_BYTES 4096");
        run(&mut st, "BATCH -m");
        run(&mut st, "BATCH +n draft/multiline #test");
        for _ in 0..32 {
            assert_eq!(run(&mut st, "@batch=n PRIVMSG #test :y"), vec![]);
        }
        fails(
            &run(&mut st, "@batch=n PRIVMSG #test :y"),
            "FAIL BATCH MULTILINE_MAX_LINES 32",
        );
    }
}
