//! The NICK dialect's input and output handling: no message ever holds a
//! line feed or passes the limit; once a peer is in line mode its messages
//! do not depend on how its bytes were read; a refused message's bytes
//! never come out as another message; everything sent is printable ASCII.
//!
//! Must not assume a chunking except where chunk mode makes reads matter.

use bytes::BytesMut;
use chatroom_proto::framing::Decode;
use proptest::prelude::*;

use chatroom_proto::framing::{Frame, LineCodec};
use chatroom_proto::nickhs::codec::{Chunker, Piece, fold_ascii, strip_own_prefix};

/// The pieces a `Chunker` makes of `reads`; `end_discard` is called after
/// a read when `quiet[i]` says nothing more was waiting.
fn pieces(max: usize, reads: &[&[u8]], quiet: &[bool]) -> Vec<Piece> {
    let mut c = Chunker::new(max);
    let mut out = Vec::new();
    for (i, read) in reads.iter().enumerate() {
        c.push(read, &mut out);
        if c.discarding() && quiet.get(i).copied().unwrap_or(false) {
            c.end_discard();
        }
    }
    c.finish(&mut out);
    out
}

fn as_pieces(input: &[u8], max: usize) -> Vec<Piece> {
    let mut codec = LineCodec::new(max);
    let mut buf = BytesMut::from(input);
    let mut out = Vec::new();
    while let Some(f) = codec.decode_eof(&mut buf).expect("never fails") {
        out.push(match f {
            Frame::Line(l) => Piece::Text(l),
            Frame::TooLong => Piece::TooLong,
        });
    }
    out
}

fn read_sizes() -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::vec(any::<usize>(), 0..10)
}

proptest! {
    #![proptest_config(crate::config(512))]

    #[test]
    fn no_message_holds_a_line_feed_or_passes_the_limit(
        reads in proptest::collection::vec(proptest::collection::vec(
            prop_oneof![any::<u8>(), Just(b'\n'), Just(b'\r'), Just(b'a')], 0..40), 0..8),
        quiet in proptest::collection::vec(any::<bool>(), 0..8),
        max in 1usize..32,
    ) {
        let reads: Vec<&[u8]> = reads.iter().map(Vec::as_slice).collect();
        for p in pieces(max, &reads, &quiet) {
            if let Piece::Text(t) = p {
                prop_assert!(!t.contains(&b'\n'), "{t:?}");
                prop_assert!(t.len() <= max, "{} bytes over {max}", t.len());
            }
        }
    }

    /// A peer whose first read has a line feed (netcat, telnet) is in line
    /// mode from the start: its messages are the line protocol's frames,
    /// however its bytes were read.
    #[test]
    fn line_mode_does_not_depend_on_the_reads(
        first in "[a-z ]{0,8}\r?\n",
        rest in proptest::collection::vec(
            prop_oneof![any::<u8>(), Just(b'\n'), Just(b'x')], 0..120),
        cuts in read_sizes(),
        max in 1usize..24,
    ) {
        let mut input = first.into_bytes();
        let first_len = input.len();
        input.extend_from_slice(&rest);
        let mut reads = vec![&input[..first_len]];
        reads.extend(crate::chunks(&input[first_len..], &cuts));
        prop_assert_eq!(pieces(max, &reads, &[]), as_pieces(&input, max));
    }

    /// In chunk mode each read is one message; one over the limit is
    /// refused and the rest of it, however it arrives, is dropped up to
    /// its line feed.
    #[test]
    fn a_refused_message_never_comes_out_in_pieces(
        max in 2usize..32,
        extra in 1usize..40,
        tail_cuts in read_sizes(),
        before in proptest::collection::vec("[a-z ]{1,8}", 0..3),
    ) {
        let before: Vec<String> = before.into_iter().filter(|b| b.len() <= max).collect();
        let mut reads: Vec<&[u8]> = before.iter().map(|b| b.as_bytes()).collect();
        let big = vec![b'X'; max + extra];
        reads.push(&big);
        let tail = [&b"XXXX"[..], b"XX\nok\n"].concat();
        reads.extend(crate::chunks(&tail, &tail_cuts));
        let got = pieces(max, &reads, &[]);
        let mut want: Vec<Piece> =
            before.iter().map(|b| Piece::Text(BytesMut::from(b.as_bytes()))).collect();
        want.push(Piece::TooLong);
        want.push(Piece::Text(BytesMut::from(&b"ok"[..])));
        prop_assert_eq!(got, want);
    }

    #[test]
    fn folded_text_is_printable_ascii(text in any::<String>()) {
        let folded = fold_ascii(&text);
        prop_assert!(folded.bytes().all(|b| (b' '..=b'~').contains(&b)), "{folded:?}");
        if text.bytes().all(|b| (b' '..=b'~').contains(&b)) {
            prop_assert_eq!(folded, text);
        }
    }

    #[test]
    fn stripping_the_prefix_leaves_a_suffix(text in any::<String>(), name in "[a-z]{0,5}") {
        let rest = strip_own_prefix(&text, &[&name]);
        prop_assert!(text.ends_with(rest));
        if !name.is_empty() {
            let sent = format!("{name}: {text}");
            prop_assert_eq!(strip_own_prefix(&sent, &[&name]), text.as_str());
        }
    }
}
