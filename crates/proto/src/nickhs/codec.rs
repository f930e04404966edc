//! The NICK dialect's byte handling, as pure functions: cutting the input
//! stream into messages, stripping the `nick: ` prefix the tutorial client
//! puts on everything it sends, and folding outgoing text to printable ASCII
//! (the tutorial client decodes strictly as ASCII and its receive thread dies
//! on the first byte over 127).
//!
//! No I/O here and no decisions about who gets what.

use crate::framing::Decode;
use bytes::BytesMut;

use crate::framing::{Frame, LineCodec};

/// One message cut from the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// The bytes of one message, without line ending.
    Text(BytesMut),
    /// A message longer than the limit; its bytes were dropped.
    TooLong,
}

/// Cuts input into messages. The tutorial client has no framing: each of
/// its `send` calls is one message, so each chunk read is taken as one
/// message ("chunk mode"). People on netcat or telnet end lines with LF, and
/// a long line may arrive over several reads; so the first LF a peer sends
/// switches its connection to line mode for good, where input is split on
/// LF exactly like the line protocol (a CR before the LF is dropped, a line
/// over the limit is refused whole). In both modes a CR, LF or NUL left
/// inside a message is turned into a space by the hub, never passed on.
///
/// A chunk over the limit in chunk mode is refused, and the rest of that
/// message is most likely already waiting to be read: the session feeds
/// what has arrived while [`Chunker::discarding`] says so (it is dropped up
/// to the first LF, after which line mode starts), then calls
/// [`Chunker::end_discard`].
#[derive(Debug)]
pub struct Chunker {
    max: usize,
    line_mode: bool,
    discarding: bool,
    codec: LineCodec,
    buf: BytesMut,
}

impl Chunker {
    /// `max`: the longest message in bytes (`limits.max_line_bytes`).
    pub fn new(max: usize) -> Chunker {
        Chunker {
            max,
            line_mode: false,
            discarding: false,
            codec: LineCodec::new(max),
            buf: BytesMut::new(),
        }
    }

    /// Whether this peer has sent a line feed yet.
    pub fn line_mode(&self) -> bool {
        self.line_mode
    }

    /// Whether input that already arrived belongs to a refused message.
    pub fn discarding(&self) -> bool {
        self.discarding
    }

    /// Nothing more has arrived: the next chunk is a message again.
    pub fn end_discard(&mut self) {
        self.discarding = false;
    }

    /// Takes the bytes of one read; appends the messages they complete.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<Piece>) {
        let mut chunk = chunk;
        if self.discarding {
            let Some(i) = chunk.iter().position(|&b| b == b'\n') else {
                return;
            };
            self.discarding = false;
            self.line_mode = true;
            chunk = &chunk[i + 1..];
        }
        if !self.line_mode && chunk.contains(&b'\n') {
            self.line_mode = true;
        }
        if self.line_mode {
            self.buf.extend_from_slice(chunk);
            // LineCodec never fails; it reports over-long lines as frames.
            while let Ok(Some(frame)) = self.codec.decode(&mut self.buf) {
                out.push(piece(frame));
            }
        } else if chunk.len() > self.max {
            out.push(Piece::TooLong);
            self.discarding = true;
        } else if !chunk.is_empty() {
            let chunk = chunk.strip_suffix(b"\r").unwrap_or(chunk);
            out.push(Piece::Text(BytesMut::from(chunk)));
        }
    }

    /// The peer closed: a last unterminated line is still a message.
    pub fn finish(&mut self, out: &mut Vec<Piece>) {
        if self.line_mode {
            while let Ok(Some(frame)) = self.codec.decode_eof(&mut self.buf) {
                out.push(piece(frame));
            }
        }
    }
}

fn piece(frame: Frame) -> Piece {
    match frame {
        Frame::Line(bytes) => Piece::Text(bytes),
        Frame::TooLong => Piece::TooLong,
    }
}

/// The text of a message without the `nick: ` prefix the tutorial client
/// writes before everything. Any of `names` (the name the client asked for,
/// the one it got) counts; without the prefix the whole text is the message.
pub fn strip_own_prefix<'a>(text: &'a str, names: &[&str]) -> &'a str {
    for name in names.iter().filter(|n| !n.is_empty()) {
        if let Some(rest) = text.strip_prefix(name)
            && let Some(rest) = rest.strip_prefix(':')
        {
            return rest.strip_prefix(' ').unwrap_or(rest);
        }
    }
    text
}

/// Makes text safe for a strict ASCII decoder and a terminal: common Latin
/// letters and punctuation are transliterated (`café` → `cafe`), any other
/// non-ASCII character and every control character becomes `?` (a tab a
/// space), so only printable ASCII is ever sent.
pub fn fold_ascii(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\t' => out.push(' '),
            c if c.is_ascii_control() => out.push('?'),
            c if c.is_ascii() => out.push(c),
            c => out.push_str(transliterate(c).unwrap_or("?")),
        }
    }
    out
}

fn transliterate(c: char) -> Option<&'static str> {
    Some(match c {
        'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' | 'Ā' | 'Ă' | 'Ą' => "A",
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => "a",
        'Æ' => "AE",
        'æ' => "ae",
        'Ç' | 'Ć' | 'Č' => "C",
        'ç' | 'ć' | 'č' => "c",
        'Ð' | 'Ď' | 'Đ' => "D",
        'ð' | 'ď' | 'đ' => "d",
        'È' | 'É' | 'Ê' | 'Ë' | 'Ē' | 'Ė' | 'Ę' | 'Ě' => "E",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ė' | 'ę' | 'ě' => "e",
        'Ğ' => "G",
        'ğ' => "g",
        'Ì' | 'Í' | 'Î' | 'Ï' | 'Ī' | 'İ' => "I",
        'ì' | 'í' | 'î' | 'ï' | 'ī' | 'ı' => "i",
        'Ł' => "L",
        'ł' => "l",
        'Ñ' | 'Ń' | 'Ň' => "N",
        'ñ' | 'ń' | 'ň' => "n",
        'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' | 'Ø' | 'Ō' | 'Ő' => "O",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => "o",
        'Œ' => "OE",
        'œ' => "oe",
        'Ř' => "R",
        'ř' => "r",
        'Ś' | 'Š' | 'Ş' => "S",
        'ś' | 'š' | 'ş' => "s",
        'ß' => "ss",
        'Ť' => "T",
        'ť' => "t",
        'Þ' => "TH",
        'þ' => "th",
        'Ù' | 'Ú' | 'Û' | 'Ü' | 'Ū' | 'Ů' | 'Ű' => "U",
        'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' => "u",
        'Ý' | 'Ÿ' => "Y",
        'ý' | 'ÿ' => "y",
        'Ź' | 'Ż' | 'Ž' => "Z",
        'ź' | 'ż' | 'ž' => "z",
        '\u{a0}' | '\u{2002}'..='\u{200a}' | '\u{202f}' => " ",
        '‘' | '’' | '‚' | '′' => "'",
        '“' | '”' | '„' | '″' => "\"",
        '‐' | '‑' | '‒' | '–' | '—' | '−' => "-",
        '…' => "...",
        '«' => "<<",
        '»' => ">>",
        '×' => "x",
        '·' => ".",
        '•' => "*",
        _ => return None,
    })
}
