//! The journal: records written here, in one `write(2)` per group, before
//! anyone receives them; copied into SQLite behind the delivery path.
//!
//! Why: a message may reach a client only once it would survive `kill -9`
//! (see `runtime/persist.rs`). An SQLite commit gives that, but costs the
//! delivery path a transaction per group: its locks, B-tree updates, and a
//! WAL frame for every page it touches, most of them the same few pages
//! written again at every commit. An append to a plain file gives the same
//! guarantee (the bytes are in the kernel's page cache once `write`
//! returns) for a fraction of the cost, and lets the copy into SQLite run
//! in large transactions that nobody waits for. With
//! `sync_every_commit`, each append is also `fdatasync`ed.
//!
//! Layout: a directory `journal/` in the data directory, holding segment
//! files `NNNNNNNNNNNNNNNNNNNN.log` (their number, ascending). Each is a
//! sequence of frames: payload length (u32, little endian), CRC-32 of the
//! payload (u32), payload: the records in [`page::encode_any`] form. A new
//! segment is begun once the current one passes [`SEGMENT_BYTES`]; a
//! segment is deleted once every record in it is in SQLite.
//!
//! At start ([`recover`]), the store reads every segment back and appends
//! the records SQLite does not have yet (a msgid above its newest), then
//! deletes the segments. A frame cut short or damaged (a power cut during
//! a write) ends its segment there: what follows it was never
//! acknowledged to anyone.
//!
//! This file must not touch SQLite or decide what is stored; it only
//! writes records down and reads them back.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use super::error::StoreError;
use super::keys::to_ms;
use super::{Record, page};

/// The journal's directory inside the data directory.
pub const JOURNAL_DIR: &str = "journal";

/// A segment is closed and a new one begun past this size, so that whole
/// files can be deleted as SQLite catches up.
pub const SEGMENT_BYTES: u64 = 8 << 20;

/// A frame's header: payload length, then its CRC-32.
const HEADER: usize = 8;

/// The largest payload a frame may claim; anything bigger is damage.
const FRAME_MAX: usize = 256 << 20;

/// The journal's writing end (one per store; used by one thread).
pub struct Journal {
    dir: PathBuf,
    /// The number of the segment being written.
    seq: u64,
    file: File,
    len: u64,
    sync: bool,
    buf: Vec<u8>,
}

impl Journal {
    /// Begins a new segment after every existing one in `data_dir`'s
    /// journal directory (created if missing).
    pub fn start(data_dir: &Path, sync: bool) -> Result<Journal, StoreError> {
        let dir = data_dir.join(JOURNAL_DIR);
        fs::create_dir_all(&dir).map_err(|e| dir_error(&dir, e))?;
        let seq = segments(&dir)?.last().map_or(1, |(n, _)| n + 1);
        let file = create(&dir, seq)?;
        Ok(Journal {
            dir,
            seq,
            file,
            len: 0,
            sync,
            buf: Vec::new(),
        })
    }

    /// Writes `records` as one frame; returns the number of the segment
    /// that holds them. When this returns, they survive the process being
    /// killed (and, with `sync`, the machine losing power).
    pub fn append(&mut self, records: &[Record]) -> io::Result<u64> {
        if self.len >= SEGMENT_BYTES {
            self.file = create(&self.dir, self.seq + 1).map_err(io::Error::other)?;
            self.seq += 1;
            self.len = 0;
        }
        self.buf.clear();
        put_frame(records, &mut self.buf)?;
        if let Err(e) = self.file.write_all(&self.buf) {
            // A partial frame would end the segment at recovery and hide
            // every later frame: the next append starts a fresh segment.
            self.len = SEGMENT_BYTES;
            return Err(e);
        }
        if self.sync {
            self.file.sync_data()?;
        }
        self.len += self.buf.len() as u64;
        Ok(self.seq)
    }

    /// The journal's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Deletes the segments numbered below `seq` (their records are all in
/// SQLite). Errors are returned for the caller to log; nothing depends on
/// the deletion but disk space.
pub fn remove_before(dir: &Path, seq: u64) -> Result<(), StoreError> {
    for (n, path) in segments(dir)? {
        if n >= seq {
            break;
        }
        fs::remove_file(&path).map_err(|e| dir_error(&path, e))?;
    }
    Ok(())
}

/// Every record in `data_dir`'s journal, in the order written, after
/// which `done` is told the segments can go (see [`remove_before`]).
/// A damaged or cut-short frame ends its segment (with a warning).
pub fn recover(data_dir: &Path) -> Result<(Vec<Record>, u64), StoreError> {
    let dir = data_dir.join(JOURNAL_DIR);
    if !dir.exists() {
        return Ok((Vec::new(), 0));
    }
    let mut out = Vec::new();
    let mut last = 0;
    for (n, path) in segments(&dir)? {
        last = n;
        let mut bytes = Vec::new();
        File::open(&path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(|e| dir_error(&path, e))?;
        let (recs, intact) = read_segment(&bytes).map_err(|e| StoreError::Corrupt {
            path: path.clone(),
            detail: e.to_string(),
        })?;
        out.extend(recs);
        if intact < bytes.len() {
            tracing::warn!(
                "history journal {}: the last {} byte(s) are cut short or damaged \
                 (a write the machine did not finish); they were never acknowledged",
                path.display(),
                bytes.len() - intact
            );
        }
    }
    Ok((out, last))
}

/// Appends one frame holding `records` to `buf`: what [`Journal::append`]
/// writes with one `write(2)`.
pub fn put_frame(records: &[Record], buf: &mut Vec<u8>) -> io::Result<()> {
    let start = buf.len();
    buf.extend_from_slice(&[0; HEADER]);
    page::encode_any(records.iter().map(|r| (to_ms(r.time), r)), buf);
    let payload = &buf[start + HEADER..];
    let len = u32::try_from(payload.len()).map_err(io::Error::other)?;
    let crc = crc32fast::hash(payload);
    buf[start..start + 4].copy_from_slice(&len.to_le_bytes());
    buf[start + 4..start + HEADER].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// The records of a segment's bytes, frame after frame, and how many bytes
/// the intact frames span: the first frame cut short or failing its
/// checksum ends the segment there (what follows was never acknowledged),
/// so that is less than `bytes.len()` after a torn write. A frame whose
/// checksum matches but whose records do not decode is an error: no torn
/// write makes one.
pub fn read_segment(bytes: &[u8]) -> Result<(Vec<Record>, usize), StoreError> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let Some((payload, used)) = frame(&bytes[at..]) else {
            break;
        };
        out.extend(payload_records(payload)?);
        at += used;
    }
    Ok((out, at))
}

/// The records of one frame's payload (a body in [`page::encode_any`]
/// form). Every byte is untrusted: damage is an error, never a panic.
pub fn payload_records(payload: &[u8]) -> Result<Vec<Record>, StoreError> {
    Ok(page::decode(payload, 0)?
        .into_iter()
        .map(|(_, r)| r)
        .collect())
}

/// The frame at the start of `bytes`: its payload and its whole length,
/// or `None` if it is cut short or its checksum does not match.
fn frame(bytes: &[u8]) -> Option<(&[u8], usize)> {
    let len = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(bytes.get(4..HEADER)?.try_into().ok()?);
    if len > FRAME_MAX {
        return None;
    }
    let payload = bytes.get(HEADER..HEADER.checked_add(len)?)?;
    (crc32fast::hash(payload) == crc).then_some((payload, HEADER + len))
}

/// The segments in `dir`, ascending by number. Other files are ignored.
fn segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, StoreError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| dir_error(dir, e))? {
        let entry = entry.map_err(|e| dir_error(dir, e))?;
        let name = entry.file_name();
        let Some(n) = name
            .to_str()
            .and_then(|n| n.strip_suffix(".log"))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        out.push((n, entry.path()));
    }
    out.sort_unstable_by_key(|(n, _)| *n);
    Ok(out)
}

fn create(dir: &Path, seq: u64) -> Result<File, StoreError> {
    let path = dir.join(format!("{seq:020}.log"));
    let file = OpenOptions::new()
        .append(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| dir_error(&path, e))?;
    reserve(&file);
    Ok(file)
}

/// Allocates a segment's blocks up front (its size stays 0): appending into
/// allocated blocks spares each `write` the file system's block
/// reservation. Only a hint; where it is refused, appends allocate.
fn reserve(file: &File) {
    use rustix::fs::{FallocateFlags, fallocate};
    let _ = fallocate(file, FallocateFlags::KEEP_SIZE, 0, SEGMENT_BYTES);
}

fn dir_error(path: &Path, e: io::Error) -> StoreError {
    StoreError::DataDir {
        path: path.to_path_buf(),
        reason: format!("the history journal cannot be used: {e}"),
        source: Some(e),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use super::*;
    use crate::RecordKind;
    use chatroom_core::{MsgTarget, UserInfo};

    pub(super) struct Dir(pub(super) PathBuf);

    impl Dir {
        pub(super) fn new(name: &str) -> Dir {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            let dir = std::env::temp_dir().join(format!(
                "chatroom-journal-{name}-{}-{nanos}",
                std::process::id()
            ));
            fs::create_dir_all(&dir).expect("temp dir");
            Dir(dir)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn rec(id: u64, to: MsgTarget, text: &str) -> Record {
        Record {
            id,
            time: UNIX_EPOCH + Duration::from_millis(1_700_000_000_000 + id),
            kind: RecordKind::Say,
            from: Arc::new(UserInfo {
                nick: "ann".into(),
                user: "a".into(),
                realname: "Ann".into(),
                host: "127.0.0.1".into(),
                account: None,
                bot: false,
            }),
            to,
            text: text.into(),
            to_account: None,
            tags: Vec::new(),
        }
    }

    /// Every kind of target, and private messages between people logged
    /// in or not (the accounts are what private history is found by, so
    /// recovery must not lose them), a reply's tags and a reaction.
    fn sample() -> Vec<Record> {
        let logged_in = |mut r: Record, from: &str, to: Option<&str>| {
            Arc::make_mut(&mut r.from).account = Some(from.into());
            r.to_account = to.map(Into::into);
            r
        };
        vec![
            rec(1, MsgTarget::Room("#a".into()), "one"),
            logged_in(rec(2, MsgTarget::Nick("bob".into()), "two"), "Ann", None),
            logged_in(
                rec(3, MsgTarget::Nick("bob".into()), "three"),
                "Ann",
                Some("Bobby"),
            ),
            rec(4, MsgTarget::Status("ann".into()), "four"),
            {
                let mut r = rec(5, MsgTarget::Room("#a".into()), "five");
                r.tags = vec![("+draft/reply".into(), "1".into())];
                r
            },
            {
                let mut r = rec(7, MsgTarget::Nick("bob".into()), "");
                r.kind = RecordKind::TagMsg;
                r.tags = vec![("+draft/react".into(), "👍".into())];
                r.to_account = Some("Bobby".into());
                r
            },
            {
                let mut r = rec(6, MsgTarget::Nick("bob".into()), "six");
                r.to_account = Some("Bobby".into());
                r
            },
        ]
    }

    #[test]
    fn records_of_every_target_come_back_in_order() {
        let dir = Dir::new("roundtrip");
        let recs = sample();
        let mut j = Journal::start(&dir.0, false).expect("start");
        j.append(&recs[..2]).expect("append");
        j.append(&recs[2..]).expect("append");
        let (back, last) = recover(&dir.0).expect("recover");
        assert_eq!(back, recs);
        assert_eq!(last, 1);
    }

    #[test]
    fn a_torn_last_frame_ends_the_segment_and_the_next_segment_still_counts() {
        let dir = Dir::new("torn");
        let recs = sample();
        let mut j = Journal::start(&dir.0, false).expect("start");
        j.append(&recs[..2]).expect("append");
        j.append(&recs[2..4]).expect("append");
        drop(j);
        // Cut the second frame short, as a power cut during its write would.
        let seg = dir.0.join(JOURNAL_DIR).join(format!("{:020}.log", 1));
        let bytes = fs::read(&seg).expect("read");
        fs::write(&seg, &bytes[..bytes.len() - 3]).expect("write");
        let mut j = Journal::start(&dir.0, false).expect("restart");
        j.append(&recs[4..5]).expect("append");
        let (back, last) = recover(&dir.0).expect("recover");
        assert_eq!(
            back,
            vec![recs[0].clone(), recs[1].clone(), recs[4].clone()]
        );
        assert_eq!(last, 2);
    }

    #[test]
    fn a_flipped_byte_is_caught_by_the_checksum() {
        let dir = Dir::new("flip");
        let recs = sample();
        let mut j = Journal::start(&dir.0, false).expect("start");
        j.append(&recs).expect("append");
        drop(j);
        let seg = dir.0.join(JOURNAL_DIR).join(format!("{:020}.log", 1));
        let mut bytes = fs::read(&seg).expect("read");
        let at = bytes.len() - 2;
        bytes[at] ^= 0x20;
        fs::write(&seg, &bytes).expect("write");
        let (back, _) = recover(&dir.0).expect("recover");
        assert!(back.is_empty(), "{back:?}");
    }

    #[test]
    fn segments_roll_over_and_old_ones_can_be_removed() {
        let dir = Dir::new("roll");
        let big = "x".repeat(64 * 1024);
        let mut j = Journal::start(&dir.0, false).expect("start");
        let mut seqs = Vec::new();
        let mut id = 0;
        while seqs.last().copied().unwrap_or(0) < 3 {
            id += 1;
            seqs.push(
                j.append(&[rec(id, MsgTarget::Room("#a".into()), &big)])
                    .expect("append"),
            );
        }
        remove_before(j.dir(), 3).expect("remove");
        let (back, last) = recover(&dir.0).expect("recover");
        assert_eq!(last, 3);
        let first_in_3 = seqs.iter().position(|&s| s == 3).expect("in 3") as u64 + 1;
        assert_eq!(back.first().map(|r| r.id), Some(first_in_3));
        assert_eq!(back.last().map(|r| r.id), Some(id));
    }
}

#[cfg(test)]
#[path = "journal_proptests.rs"]
mod proptests;
