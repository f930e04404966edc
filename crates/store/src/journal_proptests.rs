//! Property tests of the journal's frames: they round-trip; a segment cut
//! at any byte (a torn write) gives back exactly the frames before the
//! cut; a damaged byte or bit in any frame gives back exactly the frames
//! before it; nothing panics. Checked on bytes (`read_segment`) and, with
//! fewer cases, through real files (`Journal::append`, `recover`).
//!
//! Must not write outside its temporary directories.

use proptest::prelude::*;

use super::*;
use crate::page::proptests::{config, records};

/// Frames of records (some empty), encoded one after another: the
/// segment's bytes, the records of each frame, and where each frame ends.
fn segment() -> impl Strategy<Value = (Vec<u8>, Vec<Vec<Record>>, Vec<usize>)> {
    proptest::collection::vec(records(false, 5), 1..6).prop_map(|frames| {
        let frames: Vec<Vec<Record>> = frames
            .into_iter()
            .map(|f| f.into_iter().map(|(_, r)| r).collect())
            .collect();
        let mut bytes = Vec::new();
        let mut ends = Vec::new();
        for f in &frames {
            put_frame(f, &mut bytes).expect("a small frame");
            ends.push(bytes.len());
        }
        (bytes, frames, ends)
    })
}

/// The records of the frames that end at or before `at`, and where the
/// last of them ends.
fn before(frames: &[Vec<Record>], ends: &[usize], at: usize) -> (Vec<Record>, usize) {
    let whole = ends.iter().take_while(|&&e| e <= at).count();
    let recs = frames[..whole].iter().flatten().cloned().collect();
    (recs, if whole == 0 { 0 } else { ends[whole - 1] })
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn frames_round_trip((bytes, frames, _) in segment()) {
        let all: Vec<Record> = frames.iter().flatten().cloned().collect();
        prop_assert_eq!(read_segment(&bytes).expect("reads"), (all, bytes.len()));
    }

    #[test]
    fn a_torn_write_keeps_exactly_the_frames_before_it(
        (bytes, frames, ends) in segment(),
        cut in any::<usize>(),
    ) {
        let cut = cut % (bytes.len() + 1);
        prop_assert_eq!(read_segment(&bytes[..cut]).expect("reads"), before(&frames, &ends, cut));
    }

    /// A flipped bit or an overwritten byte anywhere in a frame (its
    /// length, its checksum or its records) ends the segment before that
    /// frame. (A changed length could in principle find a payload whose
    /// checksum matches by chance, one in 2^32.)
    #[test]
    fn damage_in_a_frame_keeps_exactly_the_frames_before_it(
        (bytes, frames, ends) in segment(),
        at in any::<usize>(),
        bit in 0u8..8,
        overwrite in proptest::option::of(any::<u8>()),
    ) {
        let at = at % bytes.len();
        let mut bad = bytes.clone();
        match overwrite {
            Some(v) if v != bad[at] => bad[at] = v,
            _ => bad[at] ^= 1 << bit,
        }
        let frame = ends.iter().take_while(|&&e| e <= at).count();
        let start = if frame == 0 { 0 } else { ends[frame - 1] };
        prop_assert_eq!(read_segment(&bad).expect("reads"), before(&frames, &ends, start));
    }

    #[test]
    fn any_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok((_, intact)) = read_segment(&bytes) {
            prop_assert!(intact <= bytes.len());
        }
    }
}

proptest! {
    #![proptest_config(config(24))]

    /// The same through the files: appended frames, a segment cut short
    /// on disk, `recover` reading it back.
    #[test]
    fn recovery_from_a_torn_segment_file(
        (bytes, frames, ends) in segment(),
        cut in any::<usize>(),
    ) {
        let dir = tests::Dir::new("prop");
        let mut j = Journal::start(&dir.0, false).expect("start");
        for f in &frames {
            j.append(f).expect("append");
        }
        drop(j);
        let seg = dir.0.join(JOURNAL_DIR).join(format!("{:020}.log", 1));
        let on_disk = fs::read(&seg).expect("read");
        prop_assert_eq!(&on_disk, &bytes, "append writes put_frame's bytes");
        let cut = cut % (bytes.len() + 1);
        fs::write(&seg, &bytes[..cut]).expect("write");
        let (got, last) = recover(&dir.0).expect("recover");
        prop_assert_eq!(got, before(&frames, &ends, cut).0);
        prop_assert_eq!(last, 1);
    }
}

/// A frame whose checksum matches but whose records do not decode is not
/// a torn write: it is reported, not skipped.
#[test]
fn a_frame_with_a_good_checksum_and_bad_records_is_an_error() {
    let payload = [9u8, 1, 2, 3];
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    bytes.extend_from_slice(&payload);
    assert!(read_segment(&bytes).is_err());
}
