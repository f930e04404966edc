//! The bench's message payload and its clock.
//!
//! Every message a simulated client sends carries who sent it, its sequence
//! number and when it was (meant to be) sent, so the receiving client can
//! compute true end-to-end latency on its own, with no bookkeeping shared
//! between clients:
//!
//! ```text
//! <tag> <sender> <seq> <nanos>  xxxxxxxx…   (padded to --payload bytes)
//! ```
//!
//! `tag` names the run (it is also the nickname prefix), so text from
//! anyone else in the room — a person, another run — is never mistaken for
//! a bench message. `nanos` counts from the run's epoch on the system-wide
//! monotonic clock (`CLOCK_MONOTONIC`), which every process on the machine
//! shares: worker processes can measure messages sent by other workers.
//!
//! Spaces separate the fields; padding is `x`, so the text survives IRC's
//! trailing parameter and the line protocol unchanged. Never starts with `/`
//! (the line protocol would read it as a command).

use std::io::Write as _;

/// The fields of one bench message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Payload {
    /// Global index of the sending client.
    pub sender: u32,
    /// Per-sender sequence number, from 0.
    pub seq: u64,
    /// Nanoseconds from the run's epoch when the message was sent (or, at a
    /// fixed rate, when it was scheduled to be sent).
    pub t_ns: u64,
}

/// Longest payload the bench sends: IRC lines are 512 bytes with the
/// `:nick!user@host PRIVMSG #room :` prefix, and our hub's text limit is 400.
pub const MAX_PAYLOAD: usize = 400;

/// Appends the text of `p` to `out`, padded with `x` to `size` bytes. When
/// the fields alone are longer than `size` nothing is padded (the message
/// is then a little longer than asked; never cut, or it could not be read).
pub fn encode(tag: &str, p: &Payload, size: usize, out: &mut Vec<u8>) {
    let start = out.len();
    // Writing into a Vec cannot fail.
    let _ = write!(out, "{tag} {} {} {} ", p.sender, p.seq, p.t_ns);
    let written = out.len() - start;
    if written < size {
        out.resize(start + size, b'x');
    }
}

/// Reads a payload written by [`encode`] with the same `tag`; `None` for
/// any other text.
pub fn decode(tag: &str, text: &[u8]) -> Option<Payload> {
    let rest = text.strip_prefix(tag.as_bytes())?.strip_prefix(b" ")?;
    let mut fields = rest.splitn(4, |&b| b == b' ');
    let sender = parse_u64(fields.next()?)?;
    let seq = parse_u64(fields.next()?)?;
    let t_ns = parse_u64(fields.next()?)?;
    Some(Payload {
        sender: u32::try_from(sender).ok()?,
        seq,
        t_ns,
    })
}

/// Decimal digits only (no sign, no spaces), without overflow.
fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let mut v: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(v)
}

/// Nanoseconds on `CLOCK_MONOTONIC`. Unlike `std::time::Instant` this is a
/// plain number, so worker processes can be told the run's epoch and all
/// timestamps stay comparable across processes on this machine.
pub fn mono_ns() -> u64 {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

/// A `tokio` instant `ns` nanoseconds (on the [`mono_ns`] clock) from now;
/// the past maps to now.
pub fn instant_at(ns: u64) -> tokio::time::Instant {
    let now = mono_ns();
    tokio::time::Instant::now() + std::time::Duration::from_nanos(ns.saturating_sub(now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_with_padding() {
        let p = Payload {
            sender: 42,
            seq: 7,
            t_ns: 123_456_789,
        };
        let mut buf = Vec::new();
        encode("bqz", &p, 64, &mut buf);
        assert_eq!(buf.len(), 64);
        assert!(buf.ends_with(b"xxx"));
        assert_eq!(decode("bqz", &buf), Some(p));
        // Appends: two payloads in one buffer are independent.
        let before = buf.len();
        encode("bqz", &p, 64, &mut buf);
        assert_eq!(buf.len(), before + 64);
    }

    #[test]
    fn small_size_keeps_fields_whole() {
        let p = Payload {
            sender: u32::MAX,
            seq: u64::MAX,
            t_ns: u64::MAX,
        };
        let mut buf = Vec::new();
        encode("t", &p, 8, &mut buf);
        assert!(buf.len() > 8);
        assert_eq!(decode("t", &buf), Some(p));
    }

    #[test]
    fn rejects_foreign_text() {
        assert_eq!(decode("bqz", b"hello there"), None);
        assert_eq!(decode("bqz", b"bqa 1 2 3 x"), None, "other run");
        assert_eq!(decode("bqz", b"bqzz 1 2 3 x"), None, "tag is a prefix only");
        assert_eq!(decode("bqz", b"bqz 1 2"), None, "missing field");
        assert_eq!(decode("bqz", b"bqz 1 -2 3 "), None, "sign");
        assert_eq!(decode("bqz", b"bqz 1 2 3x"), None, "junk in a number");
        assert_eq!(decode("bqz", b"bqz 4294967296 2 3 "), None, "sender > u32");
        assert_eq!(
            decode("bqz", b"bqz 1 2 99999999999999999999 "),
            None,
            "overflow"
        );
        // The last field may end the text (a server that trims padding).
        assert_eq!(
            decode("bqz", b"bqz 1 2 3"),
            Some(Payload {
                sender: 1,
                seq: 2,
                t_ns: 3
            })
        );
    }

    #[test]
    fn clock_is_monotonic() {
        let a = mono_ns();
        let b = mono_ns();
        assert!(b >= a);
        assert!(a > 0);
    }
}
