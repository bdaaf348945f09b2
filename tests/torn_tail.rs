//! Torn tails at every byte. A real journal (one sealed segment and an active one) is built once;
//! then, for every byte offset inside the last records of its active segment, the segment is
//! cut there, or keeps its length with the rest zeroed, or with the rest garbage, as a crash in
//! the middle of a write can leave it (`format-spec/journal.md` section 9). Reopening must keep
//! exactly the complete records before the damage, report what it dropped and from which LSN,
//! and append right after them; `verify` must call the same bytes a torn tail, not corruption.

mod common;

use agentrail::journal::format::FrameHeader;
use agentrail::journal::vfs::StdFs;
use agentrail::journal::{
    verify, Durability, Journal, Options, TornTail, CHECKPOINT_INTERVAL_BYTES_DEFAULT, KIND_EVENT,
};
use common::{
    active_frames, append_until, assert_deterministic_prefix, checkpoint_position, fast_tempdir,
    payload, read_all, segment_first_lsn, segment_names, splitmix, DiskImage, FrameSpan,
    SEGMENT_HEADER_BYTES,
};
use std::path::Path;

const SEGMENT_BYTES: u64 = 64 * 1024;

fn options(durability: Durability) -> Options {
    Options {
        segment_bytes: SEGMENT_BYTES,
        durability,
        ..Options::default()
    }
}

/// A journal image and what its active segment holds.
struct Built {
    image: DiskImage,
    active: String,
    active_first_lsn: u64,
    frames: Vec<FrameSpan>,
}

/// Appends records one by one until the journal has `sealed` sealed segments and an active
/// segment with `active_records` records, then keeps the directory's bytes.
fn build(sealed: usize, active_records: u64) -> Built {
    let built = build_with(sealed, active_records, CHECKPOINT_INTERVAL_BYTES_DEFAULT);
    // The checkpoint (written at each roll) must sit at the start of the active segment, so
    // that every cut below is after the position it records as synced: a cut before it would
    // be a disk that lied, not a crash.
    if sealed > 0 {
        let start = SEGMENT_HEADER_BYTES as u64;
        let first = built.active_first_lsn;
        let position = checkpoint_position(built.image.file("checkpoint"));
        assert_eq!(position, (first, start, first));
    }
    built
}

fn build_with(sealed: usize, active_records: u64, checkpoint_interval_bytes: u64) -> Built {
    let dir = fast_tempdir();
    // Durability never: the image is read back from the page cache, and building is fast.
    let building = Options {
        checkpoint_interval_bytes,
        ..options(Durability::Never)
    };
    let journal = Journal::create(dir.path(), building).unwrap();
    append_until(&journal, dir.path(), sealed, active_records);
    journal.close();
    let image = DiskImage::capture(dir.path());
    let active = image.segments()[sealed].clone();
    let active_first_lsn = segment_first_lsn(Path::new(&active));
    let frames = active_frames(image.file(&active));
    assert_eq!(frames.len() as u64, active_records);
    Built {
        image,
        active,
        active_first_lsn,
        frames,
    }
}

/// What a crash left where the last write was cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Damage {
    /// The file ends at the cut.
    Cut,
    /// The file kept its length; the bytes from the cut on are zeros.
    Zeros,
    /// The file kept its length; the bytes from the cut on are garbage.
    Garbage,
}

fn damage_segment(original: &[u8], cut: usize, damage: Damage) -> Vec<u8> {
    let mut bytes = original[..cut].to_vec();
    match damage {
        Damage::Cut => {}
        Damage::Zeros => bytes.resize(original.len(), 0),
        Damage::Garbage => {
            let mut state = cut as u64;
            bytes.extend((cut..original.len()).map(|_| splitmix(&mut state) as u8));
        }
    }
    bytes
}

/// Runs one case in `dir` (which holds the built image) and restores the active segment after.
fn check_cut(dir: &Path, built: &Built, cut: usize, damage: Damage) {
    let context = format!("cut at byte {cut}, {damage:?}");
    let original = built.image.file(&built.active);
    let damaged = damage_segment(original, cut, damage);
    let active_path = dir.join(&built.active);
    std::fs::write(&active_path, &damaged).unwrap();

    // Zeros or garbage may happen to equal the bytes they replace (an empty payload's CRC is
    // zero): the records up to the first byte that really changed are whole.
    let changed = (cut..original.len())
        .find(|&at| damaged.get(at) != Some(&original[at]))
        .unwrap_or(original.len());
    let complete: Vec<&FrameSpan> = built.frames.iter().filter(|f| f.end <= changed).collect();
    let boundary = complete
        .last()
        .map_or(SEGMENT_HEADER_BYTES, |frame| frame.end);
    let last_lsn = built.active_first_lsn + complete.len() as u64 - 1;
    let torn = (damaged.len() > boundary).then(|| TornTail {
        segment: active_path.clone(),
        offset: boundary as u64,
        bytes_dropped: (damaged.len() - boundary) as u64,
        lsn: last_lsn + 1,
    });

    let verified = verify(&StdFs, dir).unwrap();
    assert!(
        verified.is_ok(),
        "{context}: verify: {:?}",
        verified.problems
    );
    assert_eq!(verified.torn_tail, torn, "{context}: verify's torn tail");

    let journal = Journal::open(dir, options(Durability::Always)).unwrap();
    assert_eq!(journal.recovery_report().torn_tail, torn, "{context}");
    assert_eq!(journal.last_lsn(), last_lsn, "{context}");
    let records = read_all(&journal).unwrap();
    assert_eq!(records.len() as u64, last_lsn, "{context}");
    assert_deterministic_prefix(&records, &context);
    let next = journal.append(KIND_EVENT, payload(last_lsn + 1)).unwrap();
    assert_eq!(next, last_lsn + 1, "{context}: the next append's LSN");
    drop(journal);

    // The appended record is in the file right after the kept ones, and the log verifies.
    let verified = verify(&StdFs, dir).unwrap();
    assert!(verified.is_ok(), "{context}: verify after the append");
    assert_eq!(
        verified.torn_tail, None,
        "{context}: verify after the append"
    );
    assert_eq!(verified.last_good_lsn, last_lsn + 1, "{context}");
    let expected_len = boundary + common::FRAME_HEADER_BYTES + payload(last_lsn + 1).len();
    let length = std::fs::metadata(&active_path).unwrap().len() as usize;
    assert_eq!(
        length, expected_len,
        "{context}: the torn bytes were not cut"
    );
    assert_eq!(segment_names(dir), built.image.segments(), "{context}");
    std::fs::write(&active_path, original).unwrap();
    built.image.remove_other_files(dir);
}

/// Cuts at every byte offset from the start of the last `records` frames to the end of the
/// file; with `every_variant` false, only the plain cut is tried at every offset, and the
/// zeroed and garbage tails at every 7th offset and around each frame's edges.
fn check_cuts(built: &Built, records: usize, every_variant: bool) {
    let dir = fast_tempdir();
    built.image.restore(dir.path());
    let frames = &built.frames[built.frames.len() - records..];
    let end = built.image.file(&built.active).len();
    let near_an_edge = |cut: usize| {
        frames
            .iter()
            .any(|frame| frame.start.abs_diff(cut) <= 2 || frame.end.abs_diff(cut) <= 2)
    };
    for damage in [Damage::Cut, Damage::Zeros, Damage::Garbage] {
        for cut in frames[0].start..=end {
            let sampled = cut % 7 == 0 || near_an_edge(cut);
            if every_variant || damage == Damage::Cut || sampled {
                check_cut(dir.path(), built, cut, damage);
            }
        }
    }
}

#[test]
fn a_torn_tail_at_every_byte_of_the_last_three_records_is_cut_and_reported() {
    let built = build(1, 12);
    check_cuts(&built, 3, true);
}

#[test]
fn a_torn_first_record_of_a_segment_leaves_the_previous_segment_whole() {
    // Cutting inside the first record of the active segment leaves it empty: the log then ends
    // with the sealed segment's last record, and the next append still goes to this segment.
    let built = build(1, 2);
    check_cuts(&built, 2, false);
}

#[test]
fn a_torn_tail_in_the_first_segment_can_leave_the_journal_empty() {
    let built = build(0, 3);
    check_cuts(&built, 3, false);
}

/// A payload that carries, in its middle, the bytes of a complete and valid frame for LSN
/// `embedded_lsn`: an agent may record anything, the bytes of a journal included.
fn payload_with_an_embedded_frame(embedded_lsn: u64) -> (Vec<u8>, std::ops::Range<usize>) {
    let inner = b"an embedded record".to_vec();
    let header = FrameHeader::for_payload(embedded_lsn, KIND_EVENT, 0, &inner).encode();
    let mut bytes = b"tool output: ".to_vec();
    let start = bytes.len();
    bytes.extend_from_slice(&header);
    bytes.extend_from_slice(&inner);
    let end = bytes.len();
    bytes.extend_from_slice(&[b'.'; 100]);
    (bytes, start..end)
}

#[test]
fn a_torn_record_whose_payload_holds_a_valid_frame_is_still_a_torn_tail() {
    // The torn record's header is whole and its checksum good, so its length says where the
    // next record would start; a frame inside its own payload is not a record that follows.
    for embedded_lsn in [6, 7, 9] {
        let dir = fast_tempdir();
        let journal = Journal::create(dir.path(), options(Durability::Always)).unwrap();
        for lsn in 1..=5 {
            journal.append(KIND_EVENT, payload(lsn)).unwrap();
        }
        let (special, embedded) = payload_with_an_embedded_frame(embedded_lsn);
        assert_eq!(journal.append(KIND_EVENT, special.clone()).unwrap(), 6);
        journal.close();
        let image = DiskImage::capture(dir.path());
        let active = image.segments()[0].clone();
        let original = image.file(&active).to_vec();
        let frames = active_frames(&original);
        let torn_start = frames[5].start;
        let payload_start = torn_start + common::FRAME_HEADER_BYTES;
        let first_cut = payload_start + embedded.end;
        for damage in [Damage::Cut, Damage::Zeros, Damage::Garbage] {
            for cut in first_cut..original.len() {
                let context = format!("embedded LSN {embedded_lsn}, cut at {cut}, {damage:?}");
                image.restore(dir.path());
                let damaged = damage_segment(&original, cut, damage);
                std::fs::write(dir.path().join(&active), &damaged).unwrap();
                let verified = verify(&StdFs, dir.path()).unwrap();
                assert!(verified.is_ok(), "{context}: {:?}", verified.problems);
                let journal = Journal::open(dir.path(), options(Durability::Always))
                    .unwrap_or_else(|error| panic!("{context}: {error}"));
                let torn = journal.recovery_report().torn_tail.clone().unwrap();
                assert_eq!(torn.offset, torn_start as u64, "{context}");
                assert_eq!(torn.lsn, 6, "{context}");
                assert_eq!(journal.append(KIND_EVENT, payload(6)).unwrap(), 6);
                let records = read_all(&journal).unwrap();
                assert_deterministic_prefix(&records, &context);
                assert_eq!(records.len(), 6, "{context}");
            }
        }
    }
}

#[test]
fn bytes_missing_before_the_checkpoint_are_corruption_and_nothing_is_cut() {
    // With a checkpoint inside the active segment, the bytes before its position were synced:
    // losing them is a disk that lied, not a crash. Open must refuse and cut nothing, and
    // verify must call it corruption; after the checkpoint, cuts are torn tails as ever.
    let built = build_with(1, 30, 2 * 1024);
    let (segment, checkpoint, _) = checkpoint_position(built.image.file("checkpoint"));
    assert_eq!(segment, built.active_first_lsn);
    let checkpoint = checkpoint as usize;
    let before: Vec<&FrameSpan> = built
        .frames
        .iter()
        .filter(|f| f.end <= checkpoint)
        .collect();
    assert!(before.len() >= 2 && checkpoint < built.frames.last().unwrap().start);
    let dir = fast_tempdir();
    built.image.restore(dir.path());
    let path = dir.path().join(&built.active);
    let original = built.image.file(&built.active);
    let first = before[before.len() - 2].start;
    for damage in [Damage::Cut, Damage::Zeros] {
        for cut in (first..checkpoint).step_by(3) {
            let context = format!("cut at byte {cut} before the checkpoint at {checkpoint}");
            let damaged = damage_segment(original, cut, damage);
            std::fs::write(&path, &damaged).unwrap();
            let verified = verify(&StdFs, dir.path()).unwrap();
            assert!(!verified.is_ok(), "{context}: verify found nothing");
            built.image.remove_other_files(dir.path());
            // A shorter file than the checkpoint's position fails open. Zeros keep the length,
            // and open, which reads on from the checkpoint, may not see them: the reader must.
            if let Ok(journal) = Journal::open(dir.path(), options(Durability::Always)) {
                assert_eq!(damage, Damage::Zeros, "{context}: open did not refuse");
                let read = read_all(&journal);
                assert!(
                    matches!(&read, Err(error) if error.is_corruption()),
                    "{context}: {damage:?}: read {:?}",
                    read.map(|records| records.len())
                );
            }
            let kept = std::fs::read(&path).unwrap();
            let synced = checkpoint.min(damaged.len());
            assert!(kept.len() >= synced, "{context}: synced bytes cut");
            assert_eq!(
                kept[..synced],
                damaged[..synced],
                "{context}: synced bytes changed"
            );
            built.image.remove_other_files(dir.path());
        }
        for cut in (checkpoint..original.len()).step_by(5) {
            check_cut(dir.path(), &built, cut, damage);
        }
    }
}
