//! IRCv3 labeled responses and batch references: the lines that answered
//! one labeled command written with the label (one line tagged, several in
//! a `labeled-response` batch, none as an `ACK`), and the per-connection
//! counter that makes batch references unique.
//!
//! The renderer decides which lines belong to a response (it holds them
//! between `Local::LabelBegin` and `Local::LabelEnd`); this module only
//! writes them out. It must not reorder or drop a held line.

use bytes::{BufMut, BytesMut};

use crate::irc::message::escape_tag;
use crate::irc::wire::{in_batch, tag_line, write_line};

/// Batch references handed out on one connection (they only need to be
/// unique there).
#[derive(Debug, Default)]
pub(super) struct Batches(u64);

impl Batches {
    /// A fresh reference: `prefix` and a number never used before on this
    /// connection.
    pub fn next(&mut self, prefix: char) -> String {
        self.0 += 1;
        format!("{prefix}{}", self.0)
    }
}

/// Writes the lines held for `label`, labeled: one line gets the label,
/// several a `labeled-response` batch, none an `ACK`.
pub(super) fn finish(
    server: &str,
    label: &str,
    held: &[u8],
    batches: &mut Batches,
    out: &mut BytesMut,
) {
    let mut tag = String::from("label=");
    let _ = escape_tag(label, &mut tag);
    let lines: Vec<&[u8]> = held
        .split_inclusive(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    match lines.as_slice() {
        [] => {
            out.put_slice(format!("@{tag} ").as_bytes());
            write_line(out, Some(server), "ACK", &[], None);
        }
        [one] => tag_line(out, &tag, one),
        // The echo of a message of several lines is one message: the
        // label goes on its own batch's start (draft/multiline).
        [first, rest @ ..] if one_batch(first, rest) => {
            tag_line(out, &tag, first);
            for line in rest {
                out.put_slice(line);
            }
        }
        all => {
            let id = batches.next('L');
            out.put_slice(format!("@{tag} ").as_bytes());
            let plus = format!("+{id}");
            write_line(
                out,
                Some(server),
                "BATCH",
                &[&plus, "labeled-response"],
                None,
            );
            let inner = format!("batch={id}");
            for line in all {
                // A line inside a nested batch (a history replay in
                // the response) belongs to that batch; only its
                // `BATCH +` line carries the outer reference.
                if in_batch(line) {
                    out.put_slice(line);
                } else {
                    tag_line(out, &inner, line);
                }
            }
            let minus = format!("-{id}");
            write_line(out, Some(server), "BATCH", &[&minus], None);
        }
    }
}

/// The words of a line after its tags and source.
fn words(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    line.split(|&b| b == b' ')
        .filter(|w| !w.is_empty())
        .skip_while(|w| w.starts_with(b"@") || w.starts_with(b":"))
}

/// Whether `first`..`rest` is exactly one batch: `BATCH +ref ...`, lines
/// in it, `BATCH -ref`.
fn one_batch(first: &[u8], rest: &[&[u8]]) -> bool {
    let mut start = words(first);
    let (Some(b"BATCH"), Some(plus)) = (start.next(), start.next()) else {
        return false;
    };
    let Some(reference) = plus.strip_prefix(b"+") else {
        return false;
    };
    let Some((last, inside)) = rest.split_last() else {
        return false;
    };
    let mut end = words(last);
    let closes = end.next() == Some(b"BATCH")
        && end
            .next()
            .and_then(|m| m.strip_prefix(b"-"))
            .is_some_and(|r| r.trim_ascii_end() == reference);
    closes && inside.iter().all(|l| in_batch(l))
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use chatroom_core::{Event, MsgKind, MsgTarget};

    use crate::Renderer;
    use crate::envelope::{Body, Envelope};
    use crate::irc::caps::Cap;
    use crate::irc::render::test_support::*;
    use crate::irc::render::{IrcRenderer, Local};

    #[test]
    fn the_echo_of_a_message_of_several_lines_carries_the_label_on_its_batch() {
        use super::{Batches, finish};
        let echo = "@time=x;msgid=9 :a!a@h BATCH +ml9 draft/multiline #r\r\n\
                    @batch=ml9 :a!a@h PRIVMSG #r :one\r\n\
                    @batch=ml9;draft/multiline-concat :a!a@h PRIVMSG #r :two\r\n\
                    :a!a@h BATCH -ml9\r\n";
        let mut out = BytesMut::new();
        finish(
            "chatroom",
            "xyz",
            echo.as_bytes(),
            &mut Batches::default(),
            &mut out,
        );
        let text = String::from_utf8(out.to_vec()).expect("utf-8");
        assert!(
            text.starts_with("@label=xyz;time=x;msgid=9 :a!a@h BATCH +ml9 draft/multiline #r\r\n"),
            "{text}"
        );
        assert!(!text.contains("labeled-response"), "{text}");
        // Anything more than that one batch is a labeled-response batch.
        let more = format!("{echo}:chatroom NOTICE a :x\r\n");
        let mut out = BytesMut::new();
        finish(
            "chatroom",
            "xyz",
            more.as_bytes(),
            &mut Batches::default(),
            &mut out,
        );
        assert!(String::from_utf8_lossy(&out).contains("labeled-response"));
    }

    #[test]
    fn labels_single_line_batch_and_ack() {
        let mut r = with_caps("bob", &[Cap::LabeledResponse, Cap::Batch]);
        let mut out = BytesMut::new();
        fn feed(r: &mut IrcRenderer, ev: impl Into<Body>, out: &mut BytesMut) {
            r.render(&Envelope::new(ev), out);
        }
        feed(&mut r, Local::LabelBegin("a b".into()).body(), &mut out);
        feed(&mut r, Local::LabelEnd.body(), &mut out);
        assert_eq!(&out[..], b"@label=a\\sb :chatroom ACK\r\n");
        out.clear();
        feed(&mut r, Local::LabelBegin("one".into()).body(), &mut out);
        feed(&mut r, Event::UserModes { modes: "+i".into() }, &mut out);
        assert!(out.is_empty(), "held until the end of the response");
        feed(&mut r, Local::LabelEnd.body(), &mut out);
        assert_eq!(&out[..], b"@label=one :chatroom 221 bob +i\r\n");
        out.clear();
        feed(&mut r, Local::LabelBegin("many".into()).body(), &mut out);
        feed(
            &mut r,
            Event::Names {
                room: "#a".into(),
                members: vec![],
                secret: false,
                read_marker: None,
            },
            &mut out,
        );
        feed(&mut r, Event::UserModes { modes: "+".into() }, &mut out);
        feed(&mut r, Local::LabelEnd.body(), &mut out);
        let text = String::from_utf8(out.to_vec()).expect("utf-8");
        assert_eq!(
            lines(&text),
            vec![
                "@label=many :chatroom BATCH +L1 labeled-response",
                "@batch=L1 :chatroom 366 bob #a :End of /NAMES list.",
                "@batch=L1 :chatroom 221 bob +",
                ":chatroom BATCH -L1",
            ]
        );
        // A connection closing mid-response still gets what was answered.
        out.clear();
        feed(&mut r, Local::LabelBegin("q".into()).body(), &mut out);
        feed(&mut r, Event::UserModes { modes: "+".into() }, &mut out);
        feed(
            &mut r,
            Event::Closing {
                reason: "bye".into(),
            },
            &mut out,
        );
        let text = String::from_utf8(out.to_vec()).expect("utf-8");
        assert!(
            text.starts_with("@label=q :chatroom 221 bob +\r\nERROR "),
            "{text}"
        );
    }

    #[test]
    fn a_message_to_oneself_is_echo_and_delivery() {
        let to_self = msg("bob", MsgTarget::Nick("bob".into()), MsgKind::Say, "note");
        let line = ":bob!bob@127.0.0.1 PRIVMSG bob :note\r\n";
        assert_eq!(render(&mut registered("bob"), to_self.clone()), line);
        let mut echo = with_caps("bob", &[Cap::EchoMessage]);
        assert_eq!(render(&mut echo, to_self.clone()), line.repeat(2));
        // Labeled: the delivery goes out as it is, the echo is the response.
        let mut r = with_caps("bob", &[Cap::EchoMessage, Cap::LabeledResponse, Cap::Batch]);
        let mut out = BytesMut::new();
        for ev in [
            Local::LabelBegin("s".into()).body(),
            to_self.clone().into(),
            Local::LabelEnd.body(),
        ] {
            r.render(&Envelope::new(ev), &mut out);
        }
        assert_eq!(&out[..], format!("{line}@label=s {line}").as_bytes());
        // Without echo-message the delivery is no response: an ACK.
        let mut r = with_caps("bob", &[Cap::LabeledResponse, Cap::Batch]);
        let mut out = BytesMut::new();
        for ev in [
            Local::LabelBegin("t".into()).body(),
            to_self.into(),
            Local::LabelEnd.body(),
        ] {
            r.render(&Envelope::new(ev), &mut out);
        }
        assert_eq!(
            &out[..],
            format!("{line}@label=t :chatroom ACK\r\n").as_bytes()
        );
    }
}
