//! Newline framing shared by the text protocols (line, IRC): splits a byte
//! stream into lines ending in LF (a CR before it is dropped) with a hard
//! length limit. A line over the limit is reported once and its bytes are
//! discarded up to the next LF, so an oversized line can never be split into
//! two commands. Writing is [`encode_line`]: one line out, never two.
//!
//! Pure codec: no sockets, no protocol meaning.

use bytes::{Buf, BufMut, BytesMut};

/// What a framed reader asks of a protocol's codec: cut the bytes read so
/// far into frames. The same shape as `tokio_util`'s `Decoder`, kept here
/// so that the codecs stay free of any runtime; the server's reader and the
/// clients' adapters drive it.
pub trait Decode {
    type Item;
    type Error: From<std::io::Error>;

    /// The next whole frame at the front of `buf` (consumed), if there is one.
    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Self::Item>, Self::Error>;

    /// Like [`Decode::decode`], once the stream has ended: a frame left
    /// without its terminator, or nothing. By default, bytes that make no
    /// frame are an error.
    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Self::Item>, Self::Error> {
        match self.decode(buf)? {
            Some(frame) => Ok(Some(frame)),
            None if buf.is_empty() => Ok(None),
            None => Err(std::io::Error::other("bytes remaining on stream").into()),
        }
    }
}

/// One framed item.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// A complete line, without CR LF. Raw bytes: decoding text (and
    /// replacing invalid UTF-8) is the edge's call.
    Line(BytesMut),
    /// A line longer than the limit arrived; it was dropped whole.
    TooLong,
}

#[derive(Debug)]
pub struct LineCodec {
    max: usize,
    /// Inside an oversized line: drop bytes until the next LF.
    discarding: bool,
    /// How far the buffer has been searched for LF already.
    scanned: usize,
}

impl LineCodec {
    /// `max` is the longest line accepted, in bytes, not counting CR LF.
    pub fn new(max: usize) -> LineCodec {
        LineCodec {
            max,
            discarding: false,
            scanned: 0,
        }
    }
}

impl Decode for LineCodec {
    type Item = Frame;
    type Error = std::io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, Self::Error> {
        loop {
            let found = memchr::memchr(b'\n', &buf[self.scanned..]);
            match (found, self.discarding) {
                (Some(i), true) => {
                    buf.advance(self.scanned + i + 1);
                    self.scanned = 0;
                    self.discarding = false;
                    // The oversized line was reported when it crossed the limit.
                }
                (Some(i), false) => {
                    let end = self.scanned + i;
                    self.scanned = 0;
                    let mut line = buf.split_to(end + 1);
                    line.truncate(end);
                    if line.last() == Some(&b'\r') {
                        line.truncate(end - 1);
                    }
                    if line.len() > self.max {
                        return Ok(Some(Frame::TooLong));
                    }
                    return Ok(Some(Frame::Line(line)));
                }
                (None, true) => {
                    buf.clear();
                    self.scanned = 0;
                    return Ok(None);
                }
                (None, false) => {
                    // +1 leaves room for the CR of a CR LF that has not ended yet.
                    if buf.len() > self.max + 1 {
                        buf.clear();
                        self.scanned = 0;
                        self.discarding = true;
                        return Ok(Some(Frame::TooLong));
                    }
                    self.scanned = buf.len();
                    return Ok(None);
                }
            }
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, Self::Error> {
        // A last line without LF is still a line (netcat -N, `printf`), but
        // never the tail of a discarded oversized one.
        match self.decode(buf)? {
            Some(frame) => Ok(Some(frame)),
            None if self.discarding || buf.is_empty() => {
                buf.clear();
                Ok(None)
            }
            None => {
                let mut line = buf.split();
                if line.last() == Some(&b'\r') {
                    line.truncate(line.len() - 1);
                }
                self.scanned = 0;
                // `decode` waits at max + 1 bytes for a CR LF to end; the
                // stream ended instead, so the line is held to the limit here.
                if line.len() > self.max {
                    return Ok(Some(Frame::TooLong));
                }
                Ok(Some(Frame::Line(line)))
            }
        }
    }
}

/// Decodes bytes as UTF-8, replacing invalid sequences with U+FFFD rather
/// than dropping the line, and falling back to Latin-1 never (a guess would
/// be wrong as often as right).
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Appends `line` to `out` as one line on the wire: CR LF after it, and
/// any CR, LF or NUL inside turned into a space, since each would end the
/// line early and let the rest pass for a second command.
pub fn encode_line(line: &str, out: &mut BytesMut) {
    out.reserve(line.len() + 2);
    for b in line.bytes() {
        out.put_u8(if matches!(b, b'\r' | b'\n' | 0) {
            b' '
        } else {
            b
        });
    }
    out.put_slice(b"\r\n");
}

/// Long text in pieces, as the hub splits a message (one rule for the
/// hub, the renderers and the terminal client).
pub use chatroom_core::hub::split_text;

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(codec: &mut LineCodec, input: &[u8]) -> Vec<Frame> {
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        while let Some(f) = codec.decode(&mut buf).expect("decodes") {
            out.push(f);
        }
        out
    }

    fn line(s: &str) -> Frame {
        Frame::Line(BytesMut::from(s.as_bytes()))
    }

    #[test]
    fn lf_and_crlf() {
        let mut c = LineCodec::new(100);
        assert_eq!(
            decode_all(&mut c, b"a\nb\r\n\r\nc"),
            vec![line("a"), line("b"), line("")]
        );
    }

    #[test]
    fn oversized_line_is_dropped_whole() {
        let mut c = LineCodec::new(5);
        let mut buf = BytesMut::from(&b"123456789"[..]);
        assert_eq!(c.decode(&mut buf).expect("ok"), Some(Frame::TooLong));
        assert_eq!(c.decode(&mut buf).expect("ok"), None);
        buf.extend_from_slice(b"PRIVMSG #x :injected\nok\n");
        assert_eq!(c.decode(&mut buf).expect("ok"), Some(line("ok")));
        // A long line that arrives whole is also refused.
        assert_eq!(
            decode_all(&mut c, b"1234567\nab\n"),
            vec![Frame::TooLong, line("ab")]
        );
        // Exactly max bytes with CR LF passes.
        assert_eq!(decode_all(&mut c, b"12345\r\n"), vec![line("12345")]);
    }

    #[test]
    fn eof_line_without_newline() {
        let mut c = LineCodec::new(10);
        let mut buf = BytesMut::from(&b"tail"[..]);
        assert_eq!(c.decode(&mut buf).expect("ok"), None);
        assert_eq!(c.decode_eof(&mut buf).expect("ok"), Some(line("tail")));
    }

    #[test]
    fn lossy_text() {
        assert_eq!(text(b"caf\xc3\xa9 \xff!"), "café \u{fffd}!");
    }

    #[test]
    fn encoded_lines_never_break_in_two() {
        let mut out = BytesMut::new();
        encode_line("PRIVMSG #a :x\r\nQUIT\0!", &mut out);
        encode_line("PING :b", &mut out);
        assert_eq!(&out[..], b"PRIVMSG #a :x  QUIT !\r\nPING :b\r\n");
        // What is written reads back as the same lines.
        let mut c = LineCodec::new(100);
        assert_eq!(
            decode_all(&mut c, &out),
            vec![line("PRIVMSG #a :x  QUIT !"), line("PING :b")]
        );
    }
}
