//! Writing IRC lines: one line with its parameters made safe, the tag
//! prefix of a relayed line, one more tag in front of a written line, and
//! the fields (`nick!user@host`, hosts, times) as IRC words.
//!
//! The bottom of the edge's writing side: the renderer, its sub-renderers,
//! the history and ChanServ wording and the session's PONG all write
//! through here. This module must not know what any command means nor
//! anything about the client it writes for (capabilities, nickname).

use std::borrow::Cow;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{BufMut, BytesMut};

use chatroom_core::UserInfo;
use chatroom_core::names::Name;

use super::tags;

/// Longest line written, CR LF not included (RFC 1459: 512 with CR LF).
pub const MAX_LINE: usize = 510;

/// Appends one line: `[:source ]command params... [:trailing]` + CR LF. A
/// middle parameter that is empty or starts with `:` is written as `*`
/// (it would break the parameter list); an over-long trailing is cut.
/// CR, LF and NUL never reach the line: relayed text is clean already
/// (the hub's `clean_text`), but a refusal names what the client typed,
/// and a bare CR there would end the line early at clients that split on
/// it; they become `_` in words and a space in the trailing.
pub fn write_line(
    out: &mut BytesMut,
    source: Option<&str>,
    command: &str,
    params: &[&str],
    trailing: Option<&str>,
) {
    let start = out.len();
    if let Some(s) = source {
        out.put_u8(b':');
        out.put_slice(unbroken(s, "_").as_bytes());
        out.put_u8(b' ');
    }
    out.put_slice(command.as_bytes());
    for p in params {
        out.put_u8(b' ');
        let p = p.trim_start_matches(':');
        if p.is_empty() {
            out.put_u8(b'*');
        } else if p.contains(' ') {
            out.put_slice(unbroken(&p.replace(' ', "_"), "_").as_bytes());
        } else {
            out.put_slice(unbroken(p, "_").as_bytes());
        }
    }
    if let Some(t) = trailing {
        let t = unbroken(t, " ");
        out.put_slice(b" :");
        let used = out.len() - start;
        let room = MAX_LINE.saturating_sub(used);
        let mut end = t.len().min(room);
        while !t.is_char_boundary(end) {
            end -= 1;
        }
        out.put_slice(&t.as_bytes()[..end]);
    }
    out.put_slice(b"\r\n");
}

/// `s` with CR, LF and NUL made `with` (one byte for one, so lengths
/// stay as measured); borrowed in the usual case of none.
fn unbroken<'a>(s: &'a str, with: &str) -> Cow<'a, str> {
    if memchr::memchr3(b'\r', b'\n', 0, s.as_bytes()).is_some() {
        Cow::Owned(s.replace(['\r', '\n', '\0'], with))
    } else {
        Cow::Borrowed(s)
    }
}

/// Writes `line` (one wire line with CR LF) with one more tag in front.
pub(crate) fn tag_line(out: &mut BytesMut, tag: &str, line: &[u8]) {
    out.put_u8(b'@');
    out.put_slice(tag.as_bytes());
    match line.strip_prefix(b"@") {
        Some(rest) => {
            out.put_u8(b';');
            out.put_slice(rest);
        }
        None => {
            out.put_u8(b' ');
            out.put_slice(line);
        }
    }
}

/// Whether a wire line already carries a `batch` tag.
pub(crate) fn in_batch(line: &[u8]) -> bool {
    let Some(rest) = line.strip_prefix(b"@") else {
        return false;
    };
    let end = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
    rest[..end]
        .split(|&b| b == b';')
        .any(|t| t.starts_with(b"batch="))
}

/// The tags of a relayed line: `time` with server-time, and with
/// message-tags the `msgid` and the sender's client-only tags. Shared
/// within the edge so that replayed messages carry the same tags.
pub(crate) fn tag_prefix(
    at: Option<SystemTime>,
    msgid: Option<u64>,
    account: Option<&str>,
    client: &[(Name, Name)],
) -> String {
    if at.is_none() && msgid.is_none() && account.is_none() && client.is_empty() {
        // Plain clients, the common case: no work at all.
        return String::new();
    }
    let time = at.map(tags::server_time);
    let id = msgid.map(tags::msgid);
    let mut pairs: Vec<(&str, &str)> = Vec::with_capacity(2 + client.len());
    if let Some(t) = &time {
        pairs.push(("time", t));
    }
    if let Some(i) = &id {
        pairs.push(("msgid", i));
    }
    if let Some(a) = account {
        pairs.push(("account", a));
    }
    pairs.extend(client.iter().map(|(k, v)| (&**k, &**v)));
    let mut s = String::new();
    tags::write_prefix(&mut s, &pairs);
    s
}

/// `nick!user@host`, safe to put in a source.
pub fn source(u: &UserInfo) -> String {
    format!("{}!{}@{}", u.nick, word(&u.user), host(&u.host))
}

/// A field shown as one IRC word: spaces (which other protocols' USER
/// fields may hold) and the separators of a source become `_`.
pub(crate) fn word(s: &str) -> Cow<'_, str> {
    if s.is_empty() {
        return Cow::Borrowed("*");
    }
    if s.contains([' ', '!', '@']) || s.starts_with(':') {
        Cow::Owned(s.replace([' ', '!', '@'], "_").replacen(
            ':',
            "_",
            usize::from(s.starts_with(':')),
        ))
    } else {
        Cow::Borrowed(s)
    }
}

/// A host as one IRC word: an IPv6 address like `::1` would read as a
/// trailing parameter, so it gets a leading `0` as other servers do.
pub(crate) fn host(h: &str) -> Cow<'_, str> {
    if h.starts_with(':') {
        Cow::Owned(format!("0{h}"))
    } else {
        word(h)
    }
}

/// Seconds since the epoch, as numerics carry times.
pub(crate) fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_line_guards_parameters() {
        let mut out = BytesMut::new();
        write_line(
            &mut out,
            Some("s"),
            "X",
            &["", ":a", "b c"],
            Some(&"t".repeat(600)),
        );
        let s = String::from_utf8(out.to_vec()).expect("utf-8");
        assert!(s.starts_with(":s X * a b_c :ttt"));
        assert_eq!(s.len(), 512);
    }
}
