//! The length-header wire format, as pure functions over buffers: a field is
//! a 10-byte header holding the field's byte length as ASCII decimal padded
//! with spaces (the tutorial writes `f"{len:<10}"`), then that many bytes.
//!
//! Parsing is stricter than the tutorial's `int(header.strip())`: only ASCII
//! digits surrounded by whitespace are a length. Everything else (signs,
//! underscores, blank headers, lengths over the configured maximum) is a
//! [`HeaderError`], after which the stream cannot be resynchronised and the
//! connection must end. No I/O and no protocol meaning beyond the framing.

use crate::framing::Decode;
use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Bytes in every length header.
pub const HEADER_LEN: usize = 10;

/// Why a length header was refused. The text is for the person at the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("the length header is blank")]
    Blank,
    #[error("the length header {0:?} is not a number")]
    NotANumber(String),
    #[error("the length header {0:?} is negative")]
    Negative(String),
    #[error("a field of {len} bytes is longer than the {max} bytes allowed")]
    TooLong { len: u64, max: usize },
}

/// Reads a length header. `max` is the longest field accepted.
pub fn parse_header(header: &[u8], max: usize) -> Result<usize, HeaderError> {
    // Shown back to the client in the error, so never raw bytes: invalid
    // UTF-8 and control characters are escaped by `{:?}` when displayed.
    let shown = || String::from_utf8_lossy(header).trim().to_string();
    let Ok(text) = std::str::from_utf8(header) else {
        return Err(HeaderError::NotANumber(shown()));
    };
    let digits = text.trim_matches(|c: char| c.is_ascii_whitespace() || c == '\0');
    if digits.is_empty() {
        return Err(HeaderError::Blank);
    }
    if let Some(rest) = digits.strip_prefix('-')
        && !rest.is_empty()
        && rest.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(HeaderError::Negative(shown()));
    }
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HeaderError::NotANumber(shown()));
    }
    // At most 10 digits fit in the header, so u64 never overflows.
    let len: u64 = digits
        .parse()
        .map_err(|_| HeaderError::NotANumber(shown()))?;
    match usize::try_from(len) {
        Ok(n) if n <= max => Ok(n),
        _ => Err(HeaderError::TooLong { len, max }),
    }
}

/// Why the field stream stopped.
#[derive(Debug, thiserror::Error)]
pub enum FieldError {
    #[error("{0}")]
    Header(#[from] HeaderError),
    #[error("read error: {0}")]
    Io(#[from] std::io::Error),
}

/// Splits a byte stream into fields. Memory is bounded by `max` plus one
/// header: a field's bytes are only buffered after its length was accepted.
#[derive(Debug)]
pub struct FieldCodec {
    max: usize,
    /// Length of the field whose header has been read, waiting for its bytes.
    want: Option<usize>,
}

impl FieldCodec {
    pub fn new(max: usize) -> FieldCodec {
        FieldCodec { max, want: None }
    }
}

impl Decode for FieldCodec {
    type Item = BytesMut;
    type Error = FieldError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<BytesMut>, FieldError> {
        let want = match self.want {
            Some(n) => n,
            None => {
                if buf.len() < HEADER_LEN {
                    return Ok(None);
                }
                let n = parse_header(&buf[..HEADER_LEN], self.max)?;
                buf.advance(HEADER_LEN);
                self.want = Some(n);
                n
            }
        };
        if buf.len() < want {
            buf.reserve(want - buf.len());
            return Ok(None);
        }
        self.want = None;
        Ok(Some(buf.split_to(want)))
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<BytesMut>, FieldError> {
        // A field cut short by the client going away is dropped, not sent.
        match self.decode(buf)? {
            Some(field) => Ok(Some(field)),
            None => {
                buf.clear();
                Ok(None)
            }
        }
    }
}

/// Appends one field (header and bytes) to `out`.
pub fn put_field(out: &mut BytesMut, bytes: &[u8]) {
    let header = format!("{:<width$}", bytes.len(), width = HEADER_LEN);
    out.put_slice(header.as_bytes());
    out.put_slice(bytes);
}

/// A username field followed by a message field: what every client of this
/// dialect reads as one line, `username > message`.
pub fn pair(username: &str, message: &str) -> Bytes {
    let mut out = BytesMut::with_capacity(2 * HEADER_LEN + username.len() + message.len());
    put_field(&mut out, username.as_bytes());
    put_field(&mut out, message.as_bytes());
    out.freeze()
}

/// The lines of a message field: a field may hold several lines (CR, LF or
/// CR LF); each becomes its own message, and blank ones are dropped, so no
/// line break ever reaches another user's stream from here.
pub fn message_lines(text: &str) -> impl Iterator<Item = &str> {
    text.split(['\r', '\n']).filter(|l| !l.trim().is_empty())
}
