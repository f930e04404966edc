//! Fuzz targets: one plain function per codec that faces the network or the
//! disk, taking arbitrary bytes and panicking when a promise of that codec
//! is broken (a panic inside the codec counts too). A fuzzing engine drives
//! them (see `afl/` and `scripts/fuzz.sh`); `tests/corpus.rs` replays the
//! committed corpus through them as an ordinary test.
//!
//! The targets check properties, not fixed answers, so that any input is a
//! test. Each reads its parameters (a limit, where to cut reads) from the
//! first bytes, so the fuzzer controls them too. This crate must not
//! depend on a fuzzing engine, touch the network, or write outside a
//! temporary directory.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use bytes::BytesMut;
use chatroom_proto::framing::Decode;

use chatroom_core::{MsgTarget, UserInfo};
use chatroom_proto::framing::{Frame, LineCodec, split_text};
use chatroom_proto::irc::message::{Message, escape_tag, unescape_tag};
use chatroom_proto::lenheader::codec::{FieldCodec, HEADER_LEN, parse_header, put_field};
use chatroom_proto::nickhs::codec::{Chunker, Piece, fold_ascii};
use chatroom_proto::websocket::{message_to_lines, next_line};
use chatroom_store::journal::{payload_records, put_frame, read_segment};
use chatroom_store::{Record, RecordKind};

/// A fuzz target: panics when the input breaks a promise.
pub type Target = fn(&[u8]);

/// Every target by name, as the harness and the corpus directories call them.
pub const TARGETS: &[(&str, Target)] = &[
    ("irc_message", irc_message),
    ("line_framer", line_framer),
    ("lenheader", lenheader),
    ("nickhs", nickhs),
    ("websocket", websocket),
    ("page", page),
    ("journal", journal),
];

/// The target called `name`.
pub fn target(name: &str) -> Option<Target> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

/// Reads parameters off the front of the input; past its end, zeros.
struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    /// The rest as pieces, each a length byte and that many bytes (the
    /// last one whatever is left): reads of a socket, messages, records.
    fn pieces(self) -> Vec<&'a [u8]> {
        let mut rest = self.0;
        let mut out = Vec::new();
        while let Some((&n, tail)) = rest.split_first() {
            let n = usize::from(n).min(tail.len());
            out.push(&tail[..n]);
            rest = &tail[n..];
        }
        out
    }
}

/// IRC message syntax: parsing anything never panics, and a parsed
/// message that is valid IRC writes back to a line meaning the same;
/// tag values survive escaping.
pub fn irc_message(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for line in text.split('\n') {
        if let Ok(m) = Message::parse(line) {
            assert!(!m.command.is_empty());
            let written = m.to_string();
            if wire_valid(&m) {
                assert!(!written.contains(['\r', '\n']), "{written:?}");
                assert_eq!(Message::parse(&written).as_ref(), Ok(&m), "{line:?}");
            }
        }
        let mut escaped = String::new();
        let _ = escape_tag(line, &mut escaped);
        assert!(!escaped.contains([' ', ';', '\r', '\n', '\0']));
        assert_eq!(unescape_tag(&escaped), line.replace('\0', ""));
    }
}

/// What the grammar allows and `Display` can therefore write back as it
/// was read: a command of letters or digits, tag keys that are not empty,
/// and no CR, LF or NUL anywhere (the parser keeps what it is given; the
/// writer's callers must not pass those).
fn wire_valid(m: &Message) -> bool {
    let clean = |s: &str| !s.contains(['\r', '\n', '\0']);
    m.command.bytes().all(|b| b.is_ascii_alphanumeric())
        && m.tags
            .iter()
            .all(|(k, v)| !k.is_empty() && clean(k) && clean(v))
        && m.source.as_deref().is_none_or(clean)
        && m.params.iter().all(|p| clean(p))
}

fn frames(max: usize, reads: &[&[u8]]) -> Vec<Frame> {
    let mut codec = LineCodec::new(max);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for read in reads {
        buf.extend_from_slice(read);
        while let Some(f) = codec.decode(&mut buf).expect("LineCodec never fails") {
            out.push(f);
        }
    }
    while let Some(f) = codec.decode_eof(&mut buf).expect("LineCodec never fails") {
        out.push(f);
    }
    out
}

/// The line framer: the frames of a stream are the same however it was
/// read, no line is over the limit or holds a LF, and `split_text` keeps
/// to its limit without losing more than the spaces it cut at.
pub fn line_framer(data: &[u8]) {
    let mut input = Input(data);
    let max = usize::from(input.byte() % 64);
    let reads = input.pieces();
    let whole: Vec<u8> = reads.concat();
    let want = frames(max, &[&whole]);
    assert_eq!(frames(max, &reads), want);
    let bytes: Vec<&[u8]> = whole.chunks(1).collect();
    assert_eq!(frames(max, &bytes), want);
    for f in &want {
        if let Frame::Line(l) = f {
            assert!(l.len() <= max && !l.contains(&b'\n'));
        }
    }
    let text = String::from_utf8_lossy(&whole);
    let max = max + 4;
    let pieces = split_text(&text, max);
    let mut rest: &str = &text;
    for (i, piece) in pieces.iter().enumerate() {
        assert!(piece.len() <= max);
        if i > 0 {
            rest = rest
                .strip_prefix(' ')
                .filter(|r| r.starts_with(piece))
                .unwrap_or(rest);
        }
        assert!(rest.starts_with(piece), "{piece:?} is not next in {rest:?}");
        rest = &rest[piece.len()..];
    }
    assert!(rest.is_empty() || (rest == " " && text.len() > max));
}

/// Fields decoded from `reads`, and the error that ended them, as text.
fn fields(max: usize, reads: &[&[u8]]) -> (Vec<Vec<u8>>, Option<String>) {
    let mut codec = FieldCodec::new(max);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for read in reads {
        buf.extend_from_slice(read);
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

/// The length-header codec: the same fields and error however the bytes
/// were read, no field over the limit, fields written back read back, and
/// a header only ever reads as digits.
pub fn lenheader(data: &[u8]) {
    let mut input = Input(data);
    let max = usize::from(input.u16() % 2048);
    let reads = input.pieces();
    let whole: Vec<u8> = reads.concat();
    let want = fields(max, &[&whole]);
    assert_eq!(fields(max, &reads), want);
    assert!(want.0.iter().all(|f| f.len() <= max));
    let mut wire = BytesMut::new();
    for f in &want.0 {
        put_field(&mut wire, f);
    }
    assert_eq!(fields(max, &[&wire]), (want.0, None));
    for header in whole.windows(HEADER_LEN).take(64) {
        if let Ok(n) = parse_header(header, usize::MAX) {
            let text = std::str::from_utf8(header).expect("a length is text");
            let digits = text.trim_matches(|c: char| c.is_ascii_whitespace() || c == '\0');
            assert_eq!(digits.parse::<usize>().ok(), Some(n));
        }
    }
}

/// The NICK dialect's input: no message holds a LF or passes the limit,
/// a peer in line mode from its first read gets the line framer's frames,
/// and what is sent out is printable ASCII.
pub fn nickhs(data: &[u8]) {
    let mut input = Input(data);
    let max = usize::from(input.byte() % 64) + 1;
    let quiet = input.byte();
    let reads = input.pieces();
    let mut c = Chunker::new(max);
    let mut out = Vec::new();
    for (i, read) in reads.iter().enumerate() {
        c.push(read, &mut out);
        if c.discarding() && quiet & (1 << (i % 8)) != 0 {
            c.end_discard();
        }
    }
    c.finish(&mut out);
    for p in &out {
        if let Piece::Text(t) = p {
            assert!(!t.contains(&b'\n') && t.len() <= max, "{t:?} (max {max})");
        }
    }
    if reads.first().is_some_and(|r| r.contains(&b'\n')) {
        let whole: Vec<u8> = reads.concat();
        let want: Vec<Piece> = frames(max, &[&whole])
            .into_iter()
            .map(|f| match f {
                Frame::Line(l) => Piece::Text(l),
                Frame::TooLong => Piece::TooLong,
            })
            .collect();
        assert_eq!(out, want);
    }
    let folded = fold_ascii(&String::from_utf8_lossy(data));
    assert!(folded.bytes().all(|b| (b' '..=b'~').contains(&b)));
}

/// IRC over WebSocket: a received message is the lines it visibly holds,
/// each CR LF-terminated; written bytes leave as one message per LF, in
/// any pieces, and each comes back in as the same line.
pub fn websocket(data: &[u8]) {
    let messages = Input(data).pieces();
    let mut input = BytesMut::new();
    let mut want: Vec<&[u8]> = Vec::new();
    for m in &messages {
        message_to_lines(m, &mut input);
        want.extend(
            m.split(|&b| b == b'\r' || b == b'\n')
                .filter(|l| !l.is_empty()),
        );
    }
    let got = frames(usize::MAX - 1, &[&input]);
    let want: Vec<Frame> = want
        .into_iter()
        .map(|l| Frame::Line(BytesMut::from(l)))
        .collect();
    assert_eq!(got, want);
    let mut output = BytesMut::new();
    let mut sent = Vec::new();
    for piece in &messages {
        output.extend_from_slice(piece);
        while let Some(line) = next_line(&mut output) {
            assert!(!line.contains(&b'\n'));
            sent.push(line);
        }
    }
    let lfs = messages
        .iter()
        .flat_map(|m| m.iter())
        .filter(|&&b| b == b'\n');
    assert_eq!(sent.len(), lfs.count());
    assert!(!output.contains(&b'\n'));
    for line in sent.iter().filter(|l| !l.contains(&b'\r')) {
        let mut back = BytesMut::new();
        message_to_lines(line, &mut back);
        assert_eq!(back.strip_suffix(b"\r\n").unwrap_or(&back), &line[..]);
    }
}

/// The page codec (as journal payloads, which are page bodies): damage is
/// an error, never a panic, and what decodes encodes back to the same
/// records.
pub fn page(data: &[u8]) {
    if let Ok(recs) = payload_records(data) {
        let mut frame = Vec::new();
        put_frame(&recs, &mut frame).expect("a decoded payload fits a frame");
        let (back, intact) = read_segment(&frame).expect("our own frame reads");
        assert_eq!(intact, frame.len());
        assert_eq!(back, recs);
    }
}

/// Journal recovery: any bytes read as a segment never panic; frames built
/// from the input and then cut or damaged give back exactly the frames
/// before the cut or the damage.
pub fn journal(data: &[u8]) {
    if let Ok((recs, intact)) = read_segment(data) {
        assert!(intact <= data.len());
        let mut again = Vec::new();
        put_frame(&recs, &mut again).expect("fits a frame");
        assert_eq!(read_segment(&again).expect("reads").0, recs);
    }
    let mut input = Input(data);
    let per_frame = usize::from(input.byte() % 4) + 1;
    let cut = usize::from(input.u16());
    let flip = usize::from(input.u16());
    let bit = input.byte() % 8;
    let recs: Vec<Record> = input
        .pieces()
        .iter()
        .enumerate()
        .map(|(i, text)| record(i, text))
        .collect();
    let mut bytes = Vec::new();
    let mut ends = Vec::new();
    let groups: Vec<&[Record]> = recs.chunks(per_frame).collect();
    for g in &groups {
        put_frame(g, &mut bytes).expect("fits a frame");
        ends.push(bytes.len());
    }
    let before = |at: usize| -> (Vec<Record>, usize) {
        let whole = ends.iter().take_while(|&&e| e <= at).count();
        let recs = groups[..whole].iter().flat_map(|g| g.iter()).cloned();
        (recs.collect(), if whole == 0 { 0 } else { ends[whole - 1] })
    };
    let cut = cut % (bytes.len() + 1);
    assert_eq!(read_segment(&bytes[..cut]).expect("reads"), before(cut));
    if !bytes.is_empty() {
        let at = flip % bytes.len();
        bytes[at] ^= 1 << bit;
        let start = before(at).1;
        assert_eq!(read_segment(&bytes).expect("reads"), before(start));
    }
}

/// A record whose fields come from `bytes` (the text, and the sender and
/// target taken from it), with a time in whole milliseconds as stored.
fn record(i: usize, bytes: &[u8]) -> Record {
    let text = String::from_utf8_lossy(bytes);
    let n = bytes.first().copied().unwrap_or(0);
    let who: Arc<str> = format!("n{}", n % 3).into();
    Record {
        id: (i as u64) << (n % 64),
        time: UNIX_EPOCH + Duration::from_millis(u64::from(n) * 1_000_003),
        kind: [RecordKind::Say, RecordKind::Action, RecordKind::Topic][usize::from(n % 3)],
        from: Arc::new(UserInfo {
            nick: who.clone(),
            user: text.chars().take(3).collect::<String>().into(),
            realname: "r".into(),
            host: "::1".into(),
            // The journal keeps accounts (those of private messages'
            // parties): some senders and recipients are logged in.
            account: (n % 5 == 1).then(|| who.clone()),
            bot: false,
        }),
        to: match n % 4 {
            0 => MsgTarget::Nick(who.clone()),
            1 => MsgTarget::Status("#s".into()),
            _ => MsgTarget::Room(format!("#{}", n % 5).into()),
        },
        text: text.into(),
        to_account: (n % 7 == 0).then_some(who),
        tags: Vec::new(),
    }
}
