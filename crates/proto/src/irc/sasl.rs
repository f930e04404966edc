//! SASL over IRC (IRCv3 sasl-3.1/3.2): the `AUTHENTICATE` exchange's
//! mechanisms, the reassembly of its 400-byte base64 chunks, and the
//! decoding of PLAIN and EXTERNAL payloads.
//!
//! Specs: <https://ircv3.net/specs/extensions/sasl-3.1>,
//! <https://ircv3.net/specs/extensions/sasl-3.2>, RFC 4616 (PLAIN),
//! RFC 4422 appendix A (EXTERNAL).
//!
//! Pure: no password is checked here (the runtime's accounts service does)
//! and nothing is logged.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// The mechanisms offered, as in `sasl=` and RPL_SASLMECHS.
pub const MECHANISMS: &str = "PLAIN,EXTERNAL";

/// Bytes of one `AUTHENTICATE` chunk; a chunk this long means more follow.
pub const CHUNK: usize = 400;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    Plain,
    External,
}

impl Mechanism {
    /// Mechanism names are case-insensitive (RFC 4422 3.1).
    pub fn parse(name: &str) -> Option<Mechanism> {
        if name.eq_ignore_ascii_case("PLAIN") {
            Some(Mechanism::Plain)
        } else if name.eq_ignore_ascii_case("EXTERNAL") {
            Some(Mechanism::External)
        } else {
            None
        }
    }
}

/// An exchange in progress: the mechanism and the base64 received so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    pub mechanism: Mechanism,
    buf: String,
}

/// What one chunk did to an exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fed {
    /// A full chunk: more follow.
    More,
    /// The last chunk: the whole base64 payload (empty for `+`).
    Done(String),
    /// A chunk over 400 bytes (sasl-3.1's ERR_SASLTOOLONG case).
    ChunkTooLong,
    /// Chunks of the right size adding up to more than the server takes
    /// (sasl-3.1: "The server MAY place a limit on the total length");
    /// a failure the spec gives no numeric of its own, hence ERR_SASLFAIL.
    PayloadTooLong,
}

impl Exchange {
    pub fn new(mechanism: Mechanism) -> Exchange {
        Exchange {
            mechanism,
            buf: String::new(),
        }
    }

    /// Adds one `AUTHENTICATE` parameter (not `*`, which aborts and is
    /// the caller's). `+` alone ends the payload (an empty one, or one
    /// whose length was a multiple of 400).
    pub fn feed(&mut self, chunk: &str, max: usize) -> Fed {
        if chunk == "+" {
            return Fed::Done(std::mem::take(&mut self.buf));
        }
        if chunk.len() > CHUNK {
            return Fed::ChunkTooLong;
        }
        if self.buf.len() + chunk.len() > max {
            return Fed::PayloadTooLong;
        }
        self.buf.push_str(chunk);
        if chunk.len() == CHUNK {
            Fed::More
        } else {
            Fed::Done(std::mem::take(&mut self.buf))
        }
    }
}

/// A decoded PLAIN payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plain {
    /// The account to act as; empty: the same as `authcid`.
    pub authzid: String,
    /// The account whose password this is.
    pub authcid: String,
    pub password: String,
}

/// Decodes `authzid NUL authcid NUL password` from base64 (RFC 4616).
pub fn decode_plain(b64: &str) -> Option<Plain> {
    let raw = STANDARD.decode(b64).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let mut parts = text.split('\0');
    let (authzid, authcid, password) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || authcid.is_empty() || password.is_empty() {
        return None;
    }
    Some(Plain {
        authzid: authzid.to_string(),
        authcid: authcid.to_string(),
        password: password.to_string(),
    })
}

/// Decodes an EXTERNAL payload: the authorization identity, empty when
/// none was given (the empty payload, sent as `+`).
pub fn decode_external(b64: &str) -> Option<String> {
    if b64.is_empty() {
        return Some(String::new());
    }
    let raw = STANDARD.decode(b64).ok()?;
    let text = String::from_utf8(raw).ok()?;
    (!text.contains('\0')).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        STANDARD.encode(s)
    }

    #[test]
    fn plain_decodes_with_and_without_authzid() {
        assert_eq!(
            decode_plain(&b64("\0alice\0secret pw")),
            Some(Plain {
                authzid: String::new(),
                authcid: "alice".into(),
                password: "secret pw".into()
            })
        );
        let p = decode_plain(&b64("alice\0alice\0pw")).expect("decodes");
        assert_eq!(p.authzid, "alice");
        assert_eq!(decode_plain("not base64!"), None);
        assert_eq!(decode_plain(&b64("alice\0pw")), None);
        assert_eq!(decode_plain(&b64("\0\0pw")), None);
        assert_eq!(decode_plain(&b64("\0alice\0")), None);
        assert_eq!(decode_plain(&b64("a\0b\0c\0d")), None);
        assert_eq!(decode_plain(&STANDARD.encode([0, b'a', 0, 0xff])), None);
    }

    #[test]
    fn external_takes_an_empty_or_named_identity() {
        assert_eq!(decode_external(""), Some(String::new()));
        assert_eq!(decode_external(&b64("alice")), Some("alice".into()));
        assert_eq!(decode_external("%%%"), None);
    }

    #[test]
    fn chunks_are_reassembled_and_plus_ends_an_exact_multiple() {
        let payload = "A".repeat(CHUNK * 2);
        let mut ex = Exchange::new(Mechanism::Plain);
        assert_eq!(ex.feed(&payload[..CHUNK], 4096), Fed::More);
        assert_eq!(ex.feed(&payload[CHUNK..], 4096), Fed::More);
        assert_eq!(ex.feed("+", 4096), Fed::Done(payload.clone()));

        let mut ex = Exchange::new(Mechanism::Plain);
        assert_eq!(ex.feed(&payload[..CHUNK], 4096), Fed::More);
        assert_eq!(
            ex.feed("QUJD", 4096),
            Fed::Done(format!("{}QUJD", &payload[..CHUNK]))
        );

        let mut ex = Exchange::new(Mechanism::External);
        assert_eq!(ex.feed("+", 4096), Fed::Done(String::new()));
    }

    #[test]
    fn oversized_chunks_and_payloads_are_refused() {
        let mut ex = Exchange::new(Mechanism::Plain);
        assert_eq!(ex.feed(&"A".repeat(CHUNK + 1), 4096), Fed::ChunkTooLong);
        let mut ex = Exchange::new(Mechanism::Plain);
        assert_eq!(ex.feed(&"A".repeat(CHUNK), 800), Fed::More);
        assert_eq!(ex.feed(&"A".repeat(CHUNK), 800), Fed::More);
        assert_eq!(ex.feed("AAAA", 800), Fed::PayloadTooLong);
    }

    #[test]
    fn mechanism_names_ignore_case() {
        assert_eq!(Mechanism::parse("plain"), Some(Mechanism::Plain));
        assert_eq!(Mechanism::parse("EXTERNAL"), Some(Mechanism::External));
        assert_eq!(Mechanism::parse("SCRAM-SHA-256"), None);
    }
}
