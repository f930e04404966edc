//! The page codec: many records of one room, from one commit, in one blob.
//!
//! Why pages: a row per message costs SQLite a statement, a record build and
//! two B-tree inserts (the row and its `(conv, time_ms, id)` index entry):
//! 2–3 µs per message measured, on the delivery path, since deliveries wait
//! for the commit. One row per room per commit, whose body is this
//! encoding, costs a fraction of a microsecond per message (see
//! docs/perf.md, "History on vs off"). The pages of a room are kept in
//! ascending (time, msgid) order with no overlap, so a query reads them
//! like an index (see `sqlite.rs`).
//!
//! The format is part of the file format (bump [`FORMAT`] to change it):
//! one format byte, then per record, in ascending (time, msgid) order:
//! - the msgid as a LEB128 delta from the previous one (the first from 0);
//! - the time in milliseconds as a zigzag LEB128 delta (the first from 0);
//! - the kind, one byte;
//! - the target: LEB128 0 and the name, or 1 for the previous record's;
//! - the sender: LEB128 0 and four strings (nick, ident, realname, host)
//!   for one not yet in the page, or N for the page's N-th distinct sender;
//! - the text;
//! - in format 4 (pages) and 5 and 6 (the journal), the record's kept
//!   client tags: their number (LEB128, usually 0), then each key and value.
//!
//! Format 1 pages, written before tags were kept, are still read (with
//! no tags). The journal's bodies ([`encode_any`], format 6; format 5
//! before redactions, kind 9, which only format 6 may hold) also carry
//! accounts: a new target is followed by the recipient's account and a
//! new sender by the sender's, each an optional string (LEB128 0 for
//! none, or the length plus one and the bytes). Bodies of format 2 (the
//! journal's before accounts were kept) and 3 (before tags were) are
//! still read, with no accounts and no tags respectively.
//!
//! Strings are LEB128-length-prefixed UTF-8. Naming a sender once per page
//! instead of once per line makes a flood's page about 40% smaller (a chat
//! line is short; who said it is a third of it): fewer WAL bytes written,
//! checksummed and checkpointed for each commit on the delivery path.
//!
//! This file must not touch SQLite or decide where a record goes; it only
//! turns records into bytes and back, and treats every byte it reads as
//! untrusted (a damaged page is an error naming it, never a panic).

use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::error::StoreError;
use super::{Record, RecordKind};
use chatroom_core::names::Name;
use chatroom_core::{MsgTarget, UserInfo};

/// The first byte of the page bodies written before tags were kept: no
/// longer written, but read.
const FORMAT_PLAIN: u8 = 1;

/// The first byte of every page body written now: as [`FORMAT_PLAIN`],
/// each record followed by its kept client tags.
const FORMAT: u8 = 4;

/// The first byte of a body whose records may go anywhere (the journal's
/// before version 3): the target code then says which kind of target, 0
/// (room), 2 (nickname) or 3 (status), instead of 0 (room) alone. Never
/// written into the `pages` table, whose records are all one room's; no
/// longer written at all, but read.
const FORMAT_ANY_TARGET: u8 = 2;

/// The first byte of the journal's bodies (see `journal.rs`): as
/// [`FORMAT_ANY_TARGET`], with the accounts of private messages' parties
/// (the sender's with the sender, the recipient's with the target), which
/// private history is found by. No longer written, but read.
const FORMAT_ACCOUNTS: u8 = 3;

/// The first byte of the journal's bodies before redactions: as
/// [`FORMAT_ACCOUNTS`], each record followed by its kept client tags. No
/// longer written, but read.
const FORMAT_ACCOUNTS_TAGS: u8 = 5;

/// The first byte of the journal's bodies now: as
/// [`FORMAT_ACCOUNTS_TAGS`], and a record may be a redaction (kind 9,
/// which only the journal ever holds: appending one removes the message
/// it names instead of storing it).
const FORMAT_REDACTIONS: u8 = 6;

fn kind_code(kind: RecordKind) -> u8 {
    match kind {
        RecordKind::Say => 0,
        RecordKind::Action => 1,
        RecordKind::Notice => 2,
        RecordKind::Topic => 3,
        RecordKind::Join => 4,
        RecordKind::Part => 5,
        RecordKind::Quit => 6,
        RecordKind::Nick => 7,
        RecordKind::TagMsg => 8,
        RecordKind::Redact => 9,
    }
}

fn kind_of(code: u8) -> Option<RecordKind> {
    Some(match code {
        0 => RecordKind::Say,
        1 => RecordKind::Action,
        2 => RecordKind::Notice,
        3 => RecordKind::Topic,
        4 => RecordKind::Join,
        5 => RecordKind::Part,
        6 => RecordKind::Quit,
        7 => RecordKind::Nick,
        8 => RecordKind::TagMsg,
        9 => RecordKind::Redact,
        _ => return None,
    })
}

fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_uvarint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn put_opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        None => put_uvarint(out, 0),
        Some(s) => {
            put_uvarint(out, s.len() as u64 + 1);
            out.extend_from_slice(s.as_bytes());
        }
    }
}

fn same_sender(a: &UserInfo, b: &UserInfo) -> bool {
    // Most often the very same (shared) sender. The account counts too:
    // a body that keeps accounts must not give one sender's to another.
    std::ptr::eq(a, b)
        || a.nick == b.nick
            && a.user == b.user
            && a.realname == b.realname
            && a.host == b.host
            && a.account == b.account
}

/// Appends one page holding `records` (with their times in milliseconds),
/// which the caller has put in ascending (time, msgid) order.
pub fn encode<'a>(records: impl IntoIterator<Item = (i64, &'a Record)>, out: &mut Vec<u8>) {
    encode_as(FORMAT, records, out);
}

/// Appends a body holding `records` (in any order) with their targets of
/// every kind, rooms, nicknames and status, their accounts and their
/// tags: what the journal writes.
pub fn encode_any<'a>(records: impl IntoIterator<Item = (i64, &'a Record)>, out: &mut Vec<u8>) {
    encode_as(FORMAT_REDACTIONS, records, out);
}

/// A body in the format written before tags were kept: a room's page
/// (`journal` false, format 1) or the journal's (format 3). Only for the
/// tests that check such bodies are still read.
#[cfg(test)]
pub(crate) fn encode_before_tags<'a>(
    journal: bool,
    records: impl IntoIterator<Item = (i64, &'a Record)>,
    out: &mut Vec<u8>,
) {
    let format = if journal {
        FORMAT_ACCOUNTS
    } else {
        FORMAT_PLAIN
    };
    encode_as(format, records, out);
}

fn put_tags(out: &mut Vec<u8>, tags: &[(Name, Name)]) {
    put_uvarint(out, tags.len() as u64);
    for (k, v) in tags {
        put_str(out, k);
        put_str(out, v);
    }
}

/// A record's tags as the `tags` column of a row keeps them (the same
/// encoding as in a page); `None` (NULL) for none.
pub fn encode_tags(tags: &[(Name, Name)]) -> Option<Vec<u8>> {
    if tags.is_empty() {
        return None;
    }
    let mut out = Vec::new();
    put_tags(&mut out, tags);
    Some(out)
}

/// The tags of a row's `tags` column; `msgid` names the row in errors.
pub fn decode_tags(bytes: &[u8], msgid: u64) -> Result<Vec<(Name, Name)>, StoreError> {
    let mut r = Reader { buf: bytes, at: 0 };
    let tags = r.tags().ok_or_else(|| {
        StoreError::Damaged(format!("msgid {msgid}: damaged tags in the database"))
    })?;
    if r.at != bytes.len() {
        return Err(StoreError::Damaged(format!(
            "msgid {msgid}: damaged tags in the database"
        )));
    }
    Ok(tags)
}

/// What a body of `format` holds besides the common fields: targets of
/// any kind (not only rooms), accounts, tags. `None`: not a format.
fn layout(format: u8) -> Option<(bool, bool, bool)> {
    Some(match format {
        FORMAT_PLAIN => (false, false, false),
        FORMAT => (false, false, true),
        FORMAT_ANY_TARGET => (true, false, false),
        FORMAT_ACCOUNTS => (true, true, false),
        FORMAT_ACCOUNTS_TAGS | FORMAT_REDACTIONS => (true, true, true),
        _ => return None,
    })
}

fn target_code(to: &MsgTarget) -> u64 {
    match to {
        MsgTarget::Room(_) => 0,
        MsgTarget::Nick(_) => 2,
        MsgTarget::Status(_) => 3,
    }
}

fn encode_as<'a>(
    format: u8,
    records: impl IntoIterator<Item = (i64, &'a Record)>,
    out: &mut Vec<u8>,
) {
    out.push(format);
    let (any_target, accounts, tagged) = layout(format).unwrap_or((true, true, true));
    let (mut id, mut ms) = (0u64, 0i64);
    let mut target: Option<(&MsgTarget, Option<&str>)> = None;
    // The page's senders so far, and where each nickname first appears: a
    // busy room's page has dozens of senders taking turns, and a linear
    // search over them was a quarter of the encoding.
    let mut senders: Vec<&UserInfo> = Vec::new();
    let mut by_nick: FxHashMap<&str, usize> = FxHashMap::default();
    for (t, rec) in records {
        put_uvarint(out, rec.id.wrapping_sub(id));
        let dt = t.wrapping_sub(ms);
        put_uvarint(out, ((dt << 1) ^ (dt >> 63)) as u64);
        out.push(kind_code(rec.kind));
        // Without accounts in the body, a record's recipient account is
        // not written, so it does not make its target a new one.
        let to = (&rec.to, rec.to_account.as_deref().filter(|_| accounts));
        if target == Some(to) {
            put_uvarint(out, 1);
        } else {
            put_uvarint(out, if any_target { target_code(&rec.to) } else { 0 });
            put_str(out, super::keys::target_name(&rec.to));
            if accounts {
                put_opt_str(out, to.1);
            }
            target = Some(to);
        }
        let known = match by_nick.get(&*rec.from.nick) {
            Some(&i) if senders.get(i).is_some_and(|s| same_sender(s, &rec.from)) => Some(i),
            // The same nickname with another ident or host: rare.
            Some(_) => senders.iter().position(|s| same_sender(s, &rec.from)),
            None => None,
        };
        match known {
            Some(i) => put_uvarint(out, i as u64 + 1),
            None => {
                by_nick.entry(&rec.from.nick).or_insert(senders.len());
                put_uvarint(out, 0);
                put_str(out, &rec.from.nick);
                put_str(out, &rec.from.user);
                put_str(out, &rec.from.realname);
                put_str(out, &rec.from.host);
                if accounts {
                    put_opt_str(out, rec.from.account.as_deref());
                }
                senders.push(&rec.from);
            }
        }
        put_str(out, &rec.text);
        if tagged {
            put_tags(out, &rec.tags);
        }
        (id, ms) = (rec.id, t);
    }
}

/// Reads a page body back: each record with its time in milliseconds, in
/// the page's order. `page` names the page in errors.
pub fn decode(body: &[u8], page: i64) -> Result<Vec<(i64, Record)>, StoreError> {
    let damaged = |what: &str| StoreError::Damaged(format!("history page {page}: {what}"));
    let mut r = Reader { buf: body, at: 0 };
    let format = r.byte().ok_or_else(|| damaged("empty body"))?;
    let (any_target, accounts, tagged) =
        layout(format).ok_or_else(|| damaged(&format!("unknown page format {format}")))?;
    let (mut id, mut ms) = (0u64, 0i64);
    let mut target: Option<(MsgTarget, Option<Name>)> = None;
    // Decoded once per page and shared by the records.
    let mut senders: Vec<Arc<UserInfo>> = Vec::new();
    let mut out = Vec::new();
    fn text<'b>(r: &mut Reader<'b>, page: i64) -> Result<&'b str, StoreError> {
        r.string()
            .ok_or_else(|| StoreError::Damaged(format!("history page {page}: bad text")))
    }
    let account = |r: &mut Reader<'_>| -> Result<Option<Name>, StoreError> {
        if !accounts {
            return Ok(None);
        }
        r.opt_string()
            .map(|a| a.map(Name::from))
            .ok_or_else(|| damaged("bad account"))
    };
    while r.at < r.buf.len() {
        let did = r.uvarint().ok_or_else(|| damaged("truncated msgid"))?;
        let dt = r.uvarint().ok_or_else(|| damaged("truncated time"))?;
        id = id.wrapping_add(did);
        ms = ms.wrapping_add(((dt >> 1) as i64) ^ -((dt & 1) as i64));
        let code = r.byte().ok_or_else(|| damaged("truncated kind"))?;
        let kind = kind_of(code)
            .filter(|k| *k != RecordKind::Redact || format == FORMAT_REDACTIONS)
            .ok_or_else(|| damaged(&format!("unknown kind {code}")))?;
        let (to, to_account) = match (r.uvarint(), &target) {
            (Some(1), Some(to)) => to.clone(),
            (Some(code @ (0 | 2 | 3)), _) if code == 0 || any_target => {
                let name: Name = text(&mut r, page)?.into();
                let to = match code {
                    0 => MsgTarget::Room(name),
                    2 => MsgTarget::Nick(name),
                    _ => MsgTarget::Status(name),
                };
                let to = (to, account(&mut r)?);
                target = Some(to.clone());
                to
            }
            _ => return Err(damaged("bad target")),
        };
        let from = match r.uvarint() {
            Some(0) => {
                let mut s: [&str; 4] = [""; 4];
                for v in &mut s {
                    *v = text(&mut r, page)?;
                }
                let sender = Arc::new(UserInfo {
                    nick: s[0].into(),
                    user: s[1].into(),
                    realname: s[2].into(),
                    host: s[3].into(),
                    account: account(&mut r)?,
                    bot: false,
                });
                senders.push(sender.clone());
                sender
            }
            Some(n) => usize::try_from(n - 1)
                .ok()
                .and_then(|i| senders.get(i))
                .cloned()
                .ok_or_else(|| damaged(&format!("unknown sender {n}")))?,
            None => return Err(damaged("truncated sender")),
        };
        let body = text(&mut r, page)?;
        let tags = if tagged {
            r.tags().ok_or_else(|| damaged("bad tags"))?
        } else {
            Vec::new()
        };
        out.push((
            ms,
            Record {
                id,
                time: super::keys::from_ms(ms),
                kind,
                from,
                to,
                text: body.into(),
                to_account,
                tags,
            },
        ));
    }
    Ok(out)
}

struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.buf.get(self.at)?;
        self.at += 1;
        Some(b)
    }

    fn uvarint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    fn string(&mut self) -> Option<&'a str> {
        let len = usize::try_from(self.uvarint()?).ok()?;
        self.bytes_str(len)
    }

    fn bytes_str(&mut self, len: usize) -> Option<&'a str> {
        let end = self.at.checked_add(len)?;
        let bytes = self.buf.get(self.at..end)?;
        self.at = end;
        std::str::from_utf8(bytes).ok()
    }

    /// A record's tags; `None` for damage. The count is checked against
    /// the bytes left (each tag takes at least two), so a damaged count
    /// cannot make it reserve much.
    fn tags(&mut self) -> Option<Vec<(Name, Name)>> {
        let n = usize::try_from(self.uvarint()?).ok()?;
        if n > (self.buf.len() - self.at) / 2 {
            return None;
        }
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let k = self.string()?;
            let v = self.string()?;
            out.push((k.into(), v.into()));
        }
        Some(out)
    }

    /// `Some(None)` for an absent string, `None` for damage.
    fn opt_string(&mut self) -> Option<Option<&'a str>> {
        match self.uvarint()? {
            0 => Some(None),
            n => Some(Some(self.bytes_str(usize::try_from(n - 1).ok()?)?)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    fn rec(id: u64, ms: i64, kind: RecordKind, text: &str) -> (i64, Record) {
        let time = if ms >= 0 {
            UNIX_EPOCH + Duration::from_millis(ms as u64)
        } else {
            UNIX_EPOCH - Duration::from_millis(ms.unsigned_abs())
        };
        (
            ms,
            Record {
                id,
                time,
                kind,
                from: Arc::new(UserInfo {
                    nick: "alice".into(),
                    user: "al".into(),
                    realname: "Alice Ä. Example".into(),
                    host: "127.0.0.1".into(),
                    account: None,
                    bot: false,
                }),
                to: MsgTarget::Room("#Room".into()),
                text: text.into(),
                to_account: None,
                tags: Vec::new(),
            },
        )
    }

    #[test]
    fn records_come_back_as_they_went_in() {
        let recs = [
            rec(7, -5_000, RecordKind::Say, "before the epoch"),
            rec(8, 1_700_000_000_000, RecordKind::Action, "waves ✋"),
            rec(9, 1_700_000_000_000, RecordKind::Topic, ""),
            rec(u64::MAX >> 1, i64::MAX, RecordKind::Nick, "bob"),
        ];
        let mut body = Vec::new();
        encode(recs.iter().map(|(ms, r)| (*ms, r)), &mut body);
        let back = decode(&body, 1).expect("decodes");
        assert_eq!(back.len(), recs.len());
        for ((ms, r), (bms, b)) in recs.iter().zip(&back) {
            assert_eq!(ms, bms);
            assert_eq!(r.id, b.id);
            assert_eq!(r.kind, b.kind);
            assert_eq!(r.from, b.from);
            assert_eq!(r.to, b.to);
            assert_eq!(r.text, b.text);
        }
        assert_eq!(back[1].1, recs[1].1, "every field, the time included");
    }

    #[test]
    fn a_sender_and_the_target_are_written_once_per_page() {
        let mut recs: Vec<(i64, Record)> = (0..30)
            .map(|i| rec(100 + i, 1_000 + i as i64, RecordKind::Say, "same old line"))
            .collect();
        for (i, (_, r)) in recs.iter_mut().enumerate() {
            Arc::make_mut(&mut r.from).nick = format!("nick{}", i % 3).into();
            if i == 20 {
                r.to = MsgTarget::Room("#other".into());
            }
        }
        let mut body = Vec::new();
        encode(recs.iter().map(|(ms, r)| (*ms, r)), &mut body);
        let back = decode(&body, 1).expect("decodes");
        let back: Vec<Record> = back.into_iter().map(|(_, r)| r).collect();
        let sent: Vec<Record> = recs.iter().map(|(_, r)| r.clone()).collect();
        assert_eq!(back, sent);
        // 30 lines of 13 bytes; three senders of ~40 bytes named once, and
        // about six bytes of framing per line.
        assert!(
            body.len() < 30 * (13 + 8) + 3 * 45 + 2 * 8,
            "{} bytes",
            body.len()
        );
        // A reference to a sender the page has not named is damage.
        let mut bad = Vec::new();
        encode(recs[..1].iter().map(|(ms, r)| (*ms, r)), &mut bad);
        // format, msgid 100 (1 byte), time delta 1000 (2 bytes), kind,
        // target marker, then "#Room" with its length.
        let at = 1 + 1 + 2 + 1 + 1 + 1 + "#Room".len();
        assert_eq!(bad[at], 0, "the sender marker");
        bad[at] = 2;
        assert!(decode(&bad, 1).is_err());
    }

    #[test]
    fn only_the_journal_carries_redactions() {
        let (ms, mut r) = rec(7, 70, RecordKind::Redact, "spam");
        r.tags = vec![("redacts".into(), "3".into())];
        let mut body = Vec::new();
        encode_any([(ms, &r)], &mut body);
        let back = decode(&body, 0).expect("a journal body");
        assert_eq!(back[0].1.redacts(), Some(3));
        assert_eq!(back[0].1, r);
        // The same record in a room's page (format 4) or an older journal
        // body (format 5) is damage, not a redaction.
        for format in [FORMAT, FORMAT_ACCOUNTS_TAGS] {
            let mut body = Vec::new();
            encode_as(format, [(ms, &r)], &mut body);
            assert!(decode(&body, 1).is_err(), "format {format}");
        }
    }

    #[test]
    fn every_kind_has_its_own_code() {
        for code in 0..=255u8 {
            if let Some(kind) = kind_of(code) {
                assert_eq!(kind_code(kind), code);
            }
        }
        assert!(kind_of(10).is_none());
    }

    #[test]
    fn a_damaged_page_is_an_error_not_a_panic() {
        let recs = [rec(1, 10, RecordKind::Say, "hello there")];
        let mut body = Vec::new();
        encode(recs.iter().map(|(ms, r)| (*ms, r)), &mut body);
        // Every truncation, and every single-byte corruption, either
        // decodes to something or is an error; none panics.
        for cut in 0..body.len() {
            let _ = decode(&body[..cut], 1);
        }
        for at in 0..body.len() {
            for v in [0x00, 0x7f, 0x80, 0xff] {
                let mut bad = body.clone();
                bad[at] = v;
                let _ = decode(&bad, 1);
            }
        }
        assert!(decode(&[], 3).is_err());
        assert!(decode(&[9], 3).is_err());
        let err = decode(&body[..body.len() - 1], 42).expect_err("truncated");
        assert!(err.to_string().contains("page 42"), "{err}");
    }
}

#[cfg(test)]
#[path = "page_proptests.rs"]
pub(crate) mod proptests;
