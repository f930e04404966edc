//! IRCv3 message tags as this server writes and relays them: the
//! `server-time` timestamp format, the `msgid` value, and the filter that
//! decides which client-only tags (`+typing`, `+draft/reply`, ...) a sender
//! may pass on to others.
//!
//! Specs: <https://ircv3.net/specs/extensions/message-tags>,
//! <https://ircv3.net/specs/extensions/server-time>,
//! <https://ircv3.net/specs/extensions/message-ids>.
//!
//! Pure functions over strings. Tag syntax and escaping live in
//! [`super::message`]; this module must not parse lines, and it decides
//! nothing about who receives a tag (the renderer checks each recipient's
//! capabilities).

use std::fmt::Write as _;
use std::time::SystemTime;

use super::message::escape_tag;

/// The `server-time` value: UTC, millisecond precision, `Z` suffix
/// (`2026-11-23T10:33:03.123Z`), the one format the spec allows.
pub fn server_time(t: SystemTime) -> String {
    let t: chrono::DateTime<chrono::Utc> = t.into();
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// The `msgid` of the hub's message number `id`. Ids are unique for the
/// life of the data directory (the history store continues the sequence
/// after a restart), so the decimal number is enough and stays short.
pub fn msgid(id: u64) -> String {
    id.to_string()
}

/// Parses a `msgid` back into the hub's message number, if it is one of
/// ours; anything else (another server's id, garbage) is `None`.
pub fn parse_msgid(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The client-only tags of `tags` (keys starting with `+`), in the order
/// given, ready to relay: other tags are the server's to set and are
/// dropped (a client cannot forge `time`, `msgid` or `account`). Their
/// size was checked with the line's (`session::too_long`).
pub fn client_only(tags: &[(String, String)]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (key, value) in tags {
        if !key.starts_with('+') || !valid_key(key) {
            continue;
        }
        // A repeated key: the last value wins, as the spec asks.
        out.retain(|(k, _): &(String, String)| k != key);
        out.push((key.clone(), value.clone()));
    }
    out
}

/// Keys are `[+][vendor/]name` with letters, digits, `-`, `.` and `/`.
fn valid_key(key: &str) -> bool {
    let body = key.strip_prefix('+').unwrap_or(key);
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'/'))
}

/// Writes `@k=v;k2 ` (escaped, with the trailing space) for a non-empty
/// list of tags, or nothing.
pub fn write_prefix(out: &mut String, tags: &[(&str, &str)]) {
    if tags.is_empty() {
        return;
    }
    out.push('@');
    for (i, (k, v)) in tags.iter().enumerate() {
        if i > 0 {
            out.push(';');
        }
        out.push_str(k);
        if !v.is_empty() {
            out.push('=');
            let _ = escape_tag(v, out);
        }
    }
    let _ = write!(out, " ");
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    fn t(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn server_time_has_millis_and_z() {
        let at = UNIX_EPOCH + Duration::from_millis(1_795_000_000_123);
        assert_eq!(server_time(at), "2026-11-18T11:06:40.123Z");
        assert_eq!(server_time(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn msgids_round_trip_and_refuse_strangers() {
        assert_eq!(parse_msgid(&msgid(42)), Some(42));
        assert_eq!(parse_msgid("abc"), None);
        assert_eq!(parse_msgid(""), None);
        assert_eq!(parse_msgid("-1"), None);
        assert_eq!(parse_msgid("99999999999999999999999"), None);
    }

    #[test]
    fn only_client_tags_are_relayed() {
        let got = client_only(&t(&[
            ("time", "1999-01-01T00:00:00.000Z"),
            ("+typing", "active"),
            ("msgid", "forged"),
            ("+draft/reply", "12"),
            ("+bad key", "x"),
        ]));
        assert_eq!(got, t(&[("+typing", "active"), ("+draft/reply", "12")]));
    }

    #[test]
    fn last_duplicate_wins() {
        let got = client_only(&t(&[("+a", "1"), ("+b", "2"), ("+a", "3")]));
        assert_eq!(got, t(&[("+b", "2"), ("+a", "3")]));
    }

    #[test]
    fn prefix_is_escaped() {
        let mut s = String::new();
        write_prefix(&mut s, &[("time", "t"), ("+x", "a b;c"), ("+flag", "")]);
        assert_eq!(s, "@time=t;+x=a\\sb\\:c;+flag ");
        let mut empty = String::new();
        write_prefix(&mut empty, &[]);
        assert!(empty.is_empty());
    }
}
