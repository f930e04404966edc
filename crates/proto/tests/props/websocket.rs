//! IRC over WebSocket: a received message becomes exactly the lines it
//! visibly holds, framed as the same bytes on TCP would be; lines written
//! in any pieces leave as one message each; and a line survives the trip
//! out and back in.
//!
//! Must not open sockets: the mapping is pure, so are its tests.

use bytes::BytesMut;
use chatroom_proto::framing::Decode;
use proptest::prelude::*;

use chatroom_proto::framing::{Frame, LineCodec};
use chatroom_proto::websocket::{message_to_lines, next_line};

/// A line as the server writes it: no CR or LF inside.
fn line() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        any::<u8>().prop_filter("no CR or LF", |b| *b != b'\r' && *b != b'\n'),
        0..40,
    )
}

/// The IRC edge's view of received bytes: its framer's lines.
fn framed(input: &[u8]) -> Vec<Vec<u8>> {
    let mut codec = LineCodec::new(usize::MAX - 1);
    let mut buf = BytesMut::from(input);
    let mut out = Vec::new();
    while let Some(f) = codec.decode_eof(&mut buf).expect("never fails") {
        match f {
            Frame::Line(l) => out.push(l.to_vec()),
            Frame::TooLong => unreachable!("no limit here"),
        }
    }
    out
}

proptest! {
    #![proptest_config(crate::config(512))]

    #[test]
    fn a_message_is_the_lines_it_visibly_holds(
        messages in proptest::collection::vec(
            proptest::collection::vec(
                prop_oneof![any::<u8>(), Just(b'\r'), Just(b'\n')], 0..60),
            0..6),
    ) {
        let mut input = BytesMut::new();
        let mut want: Vec<Vec<u8>> = Vec::new();
        for m in &messages {
            message_to_lines(m, &mut input);
            want.extend(
                m.split(|&b| b == b'\r' || b == b'\n')
                    .filter(|l| !l.is_empty())
                    .map(<[u8]>::to_vec),
            );
        }
        prop_assert_eq!(framed(&input), want);
        // Every line ends CR LF, and nothing else breaks it.
        for l in input[..].split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            prop_assert!(l.ends_with(b"\r") && !l[..l.len() - 1].contains(&b'\r'));
        }
    }

    #[test]
    fn written_lines_leave_one_message_each_in_any_pieces(
        lines in proptest::collection::vec((line(), any::<bool>()), 0..8),
        partial in line(),
        cuts in proptest::collection::vec(any::<usize>(), 0..10),
    ) {
        let mut wire = Vec::new();
        for (l, crlf) in &lines {
            wire.extend_from_slice(l);
            wire.extend_from_slice(if *crlf { b"\r\n" } else { b"\n" });
        }
        wire.extend_from_slice(&partial);
        let mut output = BytesMut::new();
        let mut sent = Vec::new();
        for piece in crate::chunks(&wire, &cuts) {
            output.extend_from_slice(piece);
            while let Some(m) = next_line(&mut output) {
                sent.push(m.to_vec());
            }
        }
        let want: Vec<Vec<u8>> = lines.iter().map(|(l, _)| l.clone()).collect();
        prop_assert_eq!(&sent, &want);
        // The unfinished last line waits for its end.
        prop_assert_eq!(&output[..], &partial[..]);
        // And each message, received back, is that same line again.
        let mut input = BytesMut::new();
        for m in &sent {
            message_to_lines(m, &mut input);
        }
        let nonempty: Vec<Vec<u8>> = want.into_iter().filter(|l| !l.is_empty()).collect();
        prop_assert_eq!(framed(&input), nonempty);
    }

    #[test]
    fn any_output_bytes_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut output = BytesMut::from(&bytes[..]);
        let mut n = 0;
        while let Some(m) = next_line(&mut output) {
            prop_assert!(!m.contains(&b'\n'));
            n += 1;
        }
        prop_assert_eq!(n, bytes.iter().filter(|&&b| b == b'\n').count());
        prop_assert!(!output.contains(&b'\n'));
    }
}
