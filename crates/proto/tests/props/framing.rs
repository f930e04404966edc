//! The line framer and `split_text`: the frames of a stream do not depend
//! on how it was cut into reads, an over-long line is one refusal (never
//! two commands), and split text stays within its limit.
//!
//! Must not restate the codec: the expected frames come from a plain
//! split of the whole input.

use bytes::BytesMut;
use chatroom_proto::framing::Decode;
use proptest::prelude::*;

use chatroom_proto::framing::{Frame, LineCodec, split_text};

/// What `LineCodec` must make of `input` as a whole, read to its end: a
/// line per LF (without it and one CR before it), refused when longer
/// than `max`; a last line without LF counts too.
fn expected(input: &[u8], max: usize) -> Vec<Frame> {
    let mut out = Vec::new();
    let mut parts: Vec<&[u8]> = input.split(|&b| b == b'\n').collect();
    let tail = parts.pop().unwrap_or(&[]);
    let frame = |line: &[u8]| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.len() > max {
            Frame::TooLong
        } else {
            Frame::Line(BytesMut::from(line))
        }
    };
    out.extend(parts.into_iter().map(frame));
    if !tail.is_empty() {
        out.push(frame(tail));
    }
    out
}

/// Feeds `chunks` to a codec as a socket's reads would arrive, decoding
/// after each, then ends the stream.
fn decode_chunks(max: usize, chunks: &[&[u8]]) -> Vec<Frame> {
    let mut codec = LineCodec::new(max);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        while let Some(f) = codec.decode(&mut buf).expect("never fails") {
            out.push(f);
        }
    }
    while let Some(f) = codec.decode_eof(&mut buf).expect("never fails") {
        out.push(f);
    }
    out
}

/// Lines of a stream, some of them longer than the limit, with LF or
/// CR LF endings, the last one possibly unterminated.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    let line = prop_oneof![
        proptest::collection::vec(any::<u8>().prop_filter("no LF", |b| *b != b'\n'), 0..12),
        proptest::collection::vec(any::<u8>().prop_filter("no LF", |b| *b != b'\n'), 12..60),
        Just(b"PRIVMSG #a :injected".to_vec()),
    ];
    let ending = prop_oneof![Just(&b"\n"[..]), Just(&b"\r\n"[..]), Just(&b""[..])];
    proptest::collection::vec((line, ending), 0..8).prop_map(|lines| {
        lines
            .into_iter()
            .flat_map(|(mut l, e)| {
                l.extend_from_slice(e);
                l
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(crate::config(512))]

    #[test]
    fn any_chunking_gives_the_frames_of_the_whole(
        input in stream(),
        max in 0usize..24,
        cuts in proptest::collection::vec(any::<usize>(), 0..10),
    ) {
        let whole = decode_chunks(max, &[&input]);
        let bytes = crate::chunks(&input, &cuts);
        let one_by_one: Vec<&[u8]> = input.chunks(1).collect();
        prop_assert_eq!(&decode_chunks(max, &bytes), &whole);
        prop_assert_eq!(&decode_chunks(max, &one_by_one), &whole);
        prop_assert_eq!(&whole, &expected(&input, max));
    }

    #[test]
    fn any_bytes_never_panic_and_no_line_is_over_the_limit(
        input in proptest::collection::vec(any::<u8>(), 0..200),
        max in 0usize..40,
        cuts in proptest::collection::vec(any::<usize>(), 0..10),
    ) {
        for frame in decode_chunks(max, &crate::chunks(&input, &cuts)) {
            if let Frame::Line(line) = frame {
                prop_assert!(line.len() <= max, "{} bytes over {max}", line.len());
                prop_assert!(!line.contains(&b'\n'));
            }
        }
    }

    /// An over-long line followed by an injected command, arriving in
    /// any pieces: one refusal, and the command's bytes never make a line.
    #[test]
    fn an_over_long_line_is_refused_once_and_whole(
        max in 2usize..32,
        extra in 1usize..64,
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
        crlf in any::<bool>(),
    ) {
        let mut input = vec![b'x'; max + extra];
        input.extend_from_slice(b" PRIVMSG #a :injected");
        input.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
        input.extend_from_slice(b"ok\n");
        let frames = decode_chunks(max, &crate::chunks(&input, &cuts));
        prop_assert_eq!(frames, vec![Frame::TooLong, Frame::Line(BytesMut::from(&b"ok"[..]))]);
    }

    #[test]
    fn split_text_keeps_to_the_limit_and_loses_only_cut_spaces(
        text in any::<String>(),
        max in 4usize..40,
    ) {
        let pieces = split_text(&text, max);
        prop_assert!(!pieces.is_empty());
        if text.is_empty() {
            prop_assert_eq!(pieces, vec![""]);
            return Ok(());
        }
        // Each piece within the limit, never empty; pieces are slices of
        // the text, so they begin and end on character boundaries.
        let mut rest = text.as_str();
        for (i, piece) in pieces.iter().enumerate() {
            prop_assert!(piece.len() <= max, "{piece:?} over {max}");
            prop_assert!(!piece.is_empty());
            if i > 0 {
                // A cut drops at most the one space it was made at.
                rest = rest.strip_prefix(' ').filter(|r| r.starts_with(piece)).unwrap_or(rest);
            }
            prop_assert!(rest.starts_with(piece), "{piece:?} is not next in {rest:?}");
            rest = &rest[piece.len()..];
        }
        // The last cut may have dropped a final space.
        prop_assert!(
            rest.is_empty() || (rest == " " && text.len() > max),
            "{rest:?} left over"
        );
    }

    #[test]
    fn split_text_with_any_limit_never_panics(text in any::<String>(), max in 0usize..8) {
        let pieces = split_text(&text, max);
        prop_assert_eq!(pieces.concat().len() <= text.len(), true);
    }
}

/// Found by `any_chunking_gives_the_frames_of_the_whole`: `decode` waits
/// at max + 1 bytes for a CR LF, and when the stream ended there instead,
/// `decode_eof` passed the line on one byte over the limit.
#[test]
fn an_unterminated_last_line_one_byte_over_is_refused() {
    assert_eq!(decode_chunks(4, &[b"12345"]), vec![Frame::TooLong]);
    assert_eq!(
        decode_chunks(4, &[b"ok\n", b"123", b"45"]),
        vec![Frame::Line(BytesMut::from(&b"ok"[..])), Frame::TooLong]
    );
    assert_eq!(
        decode_chunks(4, &[b"1234\r"]),
        vec![Frame::Line(BytesMut::from(&b"1234"[..]))]
    );
}
