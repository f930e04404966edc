//! The length-header codec: fields written with `put_field` come back
//! whatever the chunking; any bytes end in fields and at most one error,
//! the same ones however they arrived; headers parse as promised.
//!
//! Must not assume a chunking: every property holds for any reads.

use bytes::BytesMut;
use chatroom_proto::framing::Decode;
use proptest::prelude::*;

use chatroom_proto::lenheader::codec::{
    FieldCodec, HEADER_LEN, HeaderError, message_lines, pair, parse_header, put_field,
};

/// The fields decoded from `chunks`, then the error that stopped the
/// stream (as text: `FieldError` holds an `io::Error`), if any.
fn decode_chunks(max: usize, chunks: &[&[u8]]) -> (Vec<Vec<u8>>, Option<String>) {
    let mut codec = FieldCodec::new(max);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(f)) => out.push(f.to_vec()),
                Ok(None) => break,
                Err(e) => return (out, Some(e.to_string())),
            }
        }
    }
    loop {
        match codec.decode_eof(&mut buf) {
            Ok(Some(f)) => out.push(f.to_vec()),
            Ok(None) => return (out, None),
            Err(e) => return (out, Some(e.to_string())),
        }
    }
}

proptest! {
    #![proptest_config(crate::config(512))]

    #[test]
    fn fields_round_trip_in_any_chunking(
        fields in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..8),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
    ) {
        let mut wire = BytesMut::new();
        for f in &fields {
            put_field(&mut wire, f);
        }
        let (got, err) = decode_chunks(64, &crate::chunks(&wire, &cuts));
        prop_assert_eq!(err, None);
        prop_assert_eq!(got, fields);
    }

    #[test]
    fn a_field_cut_short_by_the_end_is_dropped(
        fields in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..20), 1..5),
        lose in 1usize..30,
    ) {
        let mut wire = BytesMut::new();
        for f in &fields {
            put_field(&mut wire, f);
        }
        let lose = lose.min(wire.len());
        let (got, err) = decode_chunks(64, &[&wire[..wire.len() - lose]]);
        prop_assert_eq!(err, None);
        prop_assert_eq!(&got[..], &fields[..got.len()]);
        prop_assert!(got.len() < fields.len());
    }

    #[test]
    fn any_bytes_give_the_same_answer_in_any_chunking(
        input in proptest::collection::vec(
            prop_oneof![any::<u8>(), Just(b' '), (b'0'..=b'9')], 0..160),
        max in 0usize..64,
        cuts in proptest::collection::vec(any::<usize>(), 0..10),
    ) {
        let whole = decode_chunks(max, &[&input]);
        prop_assert!(whole.0.iter().all(|f| f.len() <= max));
        prop_assert_eq!(decode_chunks(max, &crate::chunks(&input, &cuts)), whole);
    }

    #[test]
    fn headers_parse_back_and_only_digits_are_lengths(
        n in any::<u32>(),
        max in any::<u32>(),
        header in proptest::collection::vec(any::<u8>(), HEADER_LEN),
    ) {
        let written = format!("{n:<10}");
        let (n, max) = (n as usize, max as usize);
        match parse_header(written.as_bytes(), max) {
            Ok(got) => prop_assert!(got == n && n <= max),
            Err(HeaderError::TooLong { len, .. }) => prop_assert!(len == n as u64 && n > max),
            Err(e) => prop_assert!(false, "{written:?}: {e}"),
        }
        if let Ok(len) = parse_header(&header, usize::MAX) {
            let text = std::str::from_utf8(&header).expect("a length is text");
            let digits = text.trim_matches(|c: char| c.is_ascii_whitespace() || c == '\0');
            prop_assert!(!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()));
            prop_assert_eq!(digits.parse::<usize>().ok(), Some(len));
        }
    }

    #[test]
    fn a_pair_is_two_fields(user in any::<String>(), text in any::<String>()) {
        let wire = pair(&user, &text);
        let (got, err) = decode_chunks(usize::MAX, &[&wire]);
        prop_assert_eq!(err, None);
        prop_assert_eq!(got, vec![user.into_bytes(), text.into_bytes()]);
    }

    #[test]
    fn message_lines_hold_no_line_break_and_no_blank_line(text in any::<String>()) {
        for line in message_lines(&text) {
            prop_assert!(!line.contains(['\r', '\n']));
            prop_assert!(!line.trim().is_empty());
            prop_assert!(text.contains(line));
        }
    }
}
