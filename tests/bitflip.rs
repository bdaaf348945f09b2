//! Bit rot: one flipped bit anywhere in a journal is always detected, never a panic, never a
//! silent skip. Journals are built once on the real file system; each case flips one bit of one
//! file, looks with every tool the library has, and puts the byte back.
//!
//! "Detected" means one of: `Journal::open` fails with a corruption error; reading every record
//! fails with one; `verify` reports a problem naming the damaged file at or before the flipped
//! byte; or, only for a flip inside the last record of the active segment (which cannot be told
//! from a torn write, `format-spec/journal.md` section 9), open reports a torn tail there. What
//! must never happen: open and a full read both succeed with records that differ from those
//! appended, or with fewer records and no report.
//!
//! Every byte of segment headers, frame headers, block indexes and footers is flipped (every
//! bit of segment headers and footers); payloads and compressed blocks are sampled.

mod common;

use agentrail::journal::vfs::StdFs;
use agentrail::journal::{verify, Durability, Journal, Options, KIND_EVENT};
use agentrail::Error;
use common::{
    active_frames, append_until, assert_deterministic_prefix, checkpoint_position, fast_tempdir,
    payload, read_all, sealed_layout, segment_first_lsn, segment_names, DiskImage, FrameSpan,
    FRAME_HEADER_BYTES, SEGMENT_HEADER_BYTES,
};
use std::path::Path;

/// What part of the format a flipped byte belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Region {
    SegmentHeader,
    FrameHeader,
    Payload,
    Block,
    BlockIndex,
    Footer,
}

/// One bit to flip.
#[derive(Debug, Clone)]
struct Flip {
    file: String,
    offset: usize,
    bit: u8,
    region: Region,
    /// The byte is inside the last record of the active segment.
    in_last_record: bool,
}

/// A journal image, the records it holds, and its segments' layouts.
struct Built {
    options: Options,
    image: DiskImage,
    records: u64,
    sealed: Vec<String>,
    active: String,
    frames: Vec<FrameSpan>,
}

fn build(segment_bytes: u64, checkpoint_interval_bytes: u64, sealed: usize, active: u64) -> Built {
    let options = Options {
        segment_bytes,
        checkpoint_interval_bytes,
        durability: Durability::Always,
        ..Options::default()
    };
    let dir = fast_tempdir();
    let building = Options {
        durability: Durability::Never,
        ..options.clone()
    };
    let journal = Journal::create(dir.path(), building).unwrap();
    let lsn = append_until(&journal, dir.path(), sealed, active);
    journal.close();
    let image = DiskImage::capture(dir.path());
    let mut segments = image.segments();
    let active = segments.pop().unwrap();
    let frames = active_frames(image.file(&active));
    Built {
        options,
        image,
        records: lsn,
        sealed: segments,
        active,
        frames,
    }
}

impl Built {
    fn flip(&self, file: &str, offset: usize, bit: u8, region: Region) -> Flip {
        let in_last_record = file == self.active
            && self
                .frames
                .last()
                .is_some_and(|frame| (frame.start..frame.end).contains(&offset));
        Flip {
            file: file.to_string(),
            offset,
            bit,
            region,
            in_last_record,
        }
    }

    /// Every bit of the segment header.
    fn segment_header_flips(&self, file: &str) -> Vec<Flip> {
        (0..SEGMENT_HEADER_BYTES)
            .flat_map(|offset| {
                (0..8).map(move |bit| self.flip(file, offset, bit, Region::SegmentHeader))
            })
            .collect()
    }

    /// Every bit of the footer, every byte of the block index, samples of every block.
    fn sealed_flips(&self, file: &str) -> Vec<Flip> {
        let layout = sealed_layout(self.image.file(file));
        let mut flips = Vec::new();
        for offset in layout.footer_offset..self.image.file(file).len() {
            flips.extend((0..8).map(|bit| self.flip(file, offset, bit, Region::Footer)));
        }
        for offset in layout.index_offset..layout.footer_offset {
            flips.push(self.flip(file, offset, rotating_bit(offset), Region::BlockIndex));
        }
        for &(start, len) in &layout.blocks {
            for offset in samples(start, start + len, 40) {
                flips.push(self.flip(file, offset, rotating_bit(offset), Region::Block));
            }
        }
        flips
    }

    /// Every byte of every frame header of the active segment, three bytes of each payload.
    fn active_frame_flips(&self) -> Vec<Flip> {
        let mut flips = Vec::new();
        for frame in &self.frames {
            let payload_start = frame.start + FRAME_HEADER_BYTES;
            for offset in frame.start..payload_start {
                let flip = self.flip(
                    &self.active,
                    offset,
                    rotating_bit(offset),
                    Region::FrameHeader,
                );
                flips.push(flip);
            }
            for offset in samples(payload_start, frame.end, 3) {
                flips.push(self.flip(&self.active, offset, rotating_bit(offset), Region::Payload));
            }
        }
        flips
    }
}

fn rotating_bit(offset: usize) -> u8 {
    (offset * 3 % 8) as u8
}

/// Up to `count` offsets spread over `start..end`, always including both ends.
fn samples(start: usize, end: usize, count: usize) -> Vec<usize> {
    if end <= start {
        return Vec::new();
    }
    let span = end - 1 - start;
    let mut offsets: Vec<usize> = (0..count)
        .map(|step| start + span * step / (count - 1).max(1))
        .collect();
    offsets.dedup();
    offsets
}

/// How the flip was noticed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Noticed {
    OpenFailed,
    ReadFailed,
    TornTail,
}

/// Flips the bit in `dir` (which holds the built image), checks that it is detected, puts the
/// byte back, and says how open and read noticed it.
fn check_flip(dir: &Path, built: &Built, flip: &Flip) -> Noticed {
    let context = format!("{flip:?}");
    let path = dir.join(&flip.file);
    let pristine = built.image.file(&flip.file);
    let mut damaged = pristine.to_vec();
    damaged[flip.offset] ^= 1 << flip.bit;
    std::fs::write(&path, &damaged).unwrap();

    let noticed = open_and_read(dir, built, flip, &path, &context);
    check_refusal(dir, built, noticed, &path, &context);

    // Verify sees the damage as it was, before open cut anything or anyone marked it.
    built.image.remove_other_files(dir);
    std::fs::write(&path, &damaged).unwrap();
    let verified = verify(&StdFs, dir).unwrap_or_else(|error| panic!("{context}: {error}"));
    let named = verified
        .problems
        .iter()
        .any(|problem| problem.segment == path && problem.offset <= flip.offset as u64);
    let torn_in_verify = verified
        .torn_tail
        .as_ref()
        .is_some_and(|torn| torn.segment == path && torn.offset <= flip.offset as u64);
    assert!(
        named || (flip.in_last_record && torn_in_verify),
        "{context}: verify did not name the damage: {:?}",
        verified.problems
    );

    std::fs::write(&path, pristine).unwrap();
    assert_eq!(segment_names(dir), built.image.segments(), "{context}");
    built.image.remove_other_files(dir);
    noticed
}

/// Opens the damaged journal and reads every record; says which of them noticed the damage.
fn open_and_read(dir: &Path, built: &Built, flip: &Flip, path: &Path, context: &str) -> Noticed {
    let journal = match Journal::open(dir, built.options.clone()) {
        Err(error) => {
            assert_corruption_in(&error, path, context);
            return Noticed::OpenFailed;
        }
        Ok(journal) => journal,
    };
    let torn = journal.recovery_report().torn_tail.clone();
    match (read_all(&journal), torn) {
        (Err(error), _) => {
            assert!(error.is_corruption(), "{context}: reading: {error}");
            Noticed::ReadFailed
        }
        (Ok(records), Some(torn)) => {
            assert!(flip.in_last_record, "{context}: a torn tail {torn:?}");
            assert!(torn.segment == path && torn.offset <= flip.offset as u64);
            assert_eq!(records.len() as u64, torn.lsn - 1, "{context}");
            assert_eq!(torn.lsn, built.records, "{context}");
            assert_deterministic_prefix(&records, context);
            Noticed::TornTail
        }
        (Ok(records), None) => panic!(
            "{context}: open and a full read of {} records succeeded, no torn tail",
            records.len()
        ),
    }
}

/// Once corruption has been seen, by open or by a reader, no writer may append (section 9,
/// the damage marker); a torn tail is no corruption, and appending goes on after it.
fn check_refusal(dir: &Path, built: &Built, noticed: Noticed, path: &Path, context: &str) {
    let appended = match Journal::open(dir, built.options.clone()) {
        Err(error) => {
            assert_corruption_in(&error, path, context);
            None
        }
        Ok(journal) => Some(journal.append(KIND_EVENT, b"after the damage".to_vec())),
    };
    match (noticed, appended) {
        (Noticed::TornTail, Some(Ok(lsn))) => assert_eq!(lsn, built.records, "{context}"),
        (Noticed::TornTail, other) => panic!("{context}: append after a torn tail: {other:?}"),
        (_, None | Some(Err(_))) => {}
        (_, Some(Ok(lsn))) => panic!("{context}: appended LSN {lsn} after corruption was seen"),
    }
}

fn assert_corruption_in(error: &Error, path: &Path, context: &str) {
    match error {
        Error::Corruption { segment, .. } => {
            assert_eq!(
                segment, path,
                "{context}: open blamed another file: {error}"
            )
        }
        other => panic!("{context}: open failed with something else than corruption: {other}"),
    }
}

/// Runs every flip and returns how each was noticed.
fn check_flips(built: &Built, flips: &[Flip]) -> Vec<Noticed> {
    let dir = fast_tempdir();
    built.image.restore(dir.path());
    flips
        .iter()
        .map(|flip| check_flip(dir.path(), built, flip))
        .collect()
}

/// A journal of two sealed segments (one block each) and an active segment of 30 records, with
/// the checkpoint at the start of the active segment, as every roll leaves it.
fn two_sealed_one_active() -> Built {
    let built = build(64 * 1024, 4 * 1024 * 1024, 2, 30);
    let first = segment_first_lsn(Path::new(&built.active));
    let position = checkpoint_position(built.image.file("checkpoint"));
    assert_eq!(position, (first, SEGMENT_HEADER_BYTES as u64, first));
    built
}

#[test]
fn every_flip_in_a_sealed_segment_fails_the_read_and_verify_names_it() {
    let built = two_sealed_one_active();
    for file in &built.sealed {
        let mut flips = built.segment_header_flips(file);
        flips.extend(built.sealed_flips(file));
        let noticed = check_flips(&built, &flips);
        for (flip, noticed) in flips.iter().zip(noticed) {
            // Open starts from the checkpoint in the active segment and does not read sealed
            // segments; the reader must stop at the damage.
            assert_eq!(noticed, Noticed::ReadFailed, "{flip:?}");
        }
    }
}

#[test]
fn every_flip_in_the_active_segment_is_corruption_or_a_torn_last_record() {
    let built = two_sealed_one_active();
    let mut flips = built.segment_header_flips(&built.active);
    flips.extend(built.active_frame_flips());
    let noticed = check_flips(&built, &flips);
    for (flip, noticed) in flips.iter().zip(noticed) {
        // A bad frame followed by valid ones is corruption and the writer refuses to start;
        // a bad last frame is indistinguishable from a torn write and is cut.
        let expected = if flip.in_last_record {
            Noticed::TornTail
        } else {
            Noticed::OpenFailed
        };
        assert_eq!(noticed, expected, "{flip:?}");
    }
}

#[test]
fn open_refuses_a_damaged_record_followed_by_valid_ones_and_names_its_offset() {
    let built = two_sealed_one_active();
    let dir = fast_tempdir();
    built.image.restore(dir.path());
    let path = dir.path().join(&built.active);
    let pristine = built.image.file(&built.active);
    for frame in &built.frames[..built.frames.len() - 1] {
        for offset in [frame.start + 8, frame.end - 1] {
            let mut damaged = pristine.to_vec();
            damaged[offset] ^= 0x10;
            std::fs::write(&path, &damaged).unwrap();
            let error = Journal::open(dir.path(), built.options.clone()).unwrap_err();
            match &error {
                Error::Corruption {
                    segment, offset, ..
                } => {
                    assert_eq!(segment, &path);
                    assert_eq!(*offset, frame.start as u64, "{error}");
                }
                other => panic!("expected corruption, got {other}"),
            }
            // Nothing was cut: the valid records after the damage are still there for repair.
            assert_eq!(std::fs::read(&path).unwrap(), damaged);
            built.image.remove_other_files(dir.path());
        }
    }
}

#[test]
fn flips_in_multi_block_sealed_segments_are_detected() {
    // 300 KiB segments: each sealed segment holds a 256 KiB block and a smaller one.
    let built = build(300 * 1024, 4 * 1024 * 1024, 1, 5);
    let file = built.sealed[0].clone();
    assert_eq!(sealed_layout(built.image.file(&file)).blocks.len(), 2);
    let mut flips = built.segment_header_flips(&file);
    flips.extend(built.sealed_flips(&file));
    for (flip, noticed) in flips.iter().zip(check_flips(&built, &flips)) {
        assert_eq!(noticed, Noticed::ReadFailed, "{flip:?}");
    }
}

#[test]
fn flips_with_a_checkpoint_inside_the_active_segment_are_detected() {
    // Checkpoints every 2 KiB: open resumes from the middle of the active segment, so damage
    // before that point is found by the reader, damage after it by open.
    let built = build(64 * 1024, 2 * 1024, 1, 40);
    let first = segment_first_lsn(Path::new(&built.active));
    let (segment, offset, _) = checkpoint_position(built.image.file("checkpoint"));
    assert_eq!(segment, first);
    assert!(
        offset > SEGMENT_HEADER_BYTES as u64,
        "checkpoint at {offset}"
    );
    let last_record_offset =
        u32::from_le_bytes(built.image.file("checkpoint")[48..52].try_into().unwrap()) as usize;
    let flips = built.active_frame_flips();
    for (flip, noticed) in flips.iter().zip(check_flips(&built, &flips)) {
        if flip.offset < last_record_offset {
            // Before the checkpoint: open does not look there, the reader must.
            assert_eq!(noticed, Noticed::ReadFailed, "{flip:?}");
        } else if flip.offset as u64 >= offset && !flip.in_last_record {
            assert_eq!(noticed, Noticed::OpenFailed, "{flip:?}");
        }
    }
}

#[test]
fn flips_without_a_checkpoint_are_detected() {
    // Without a checkpoint, open reads the footer of the last sealed segment and links the
    // active segment to it.
    let mut built = two_sealed_one_active();
    built.image.files.retain(|(name, _)| name != "checkpoint");
    let last_sealed = built.sealed.last().unwrap().clone();
    let mut flips = built.segment_header_flips(&last_sealed);
    flips.extend(built.sealed_flips(&last_sealed));
    flips.extend(built.segment_header_flips(&built.active));
    flips.extend(built.active_frame_flips());
    for (flip, noticed) in flips.iter().zip(check_flips(&built, &flips)) {
        let footer_or_header = matches!(flip.region, Region::Footer | Region::SegmentHeader);
        if footer_or_header || flip.file == built.active && !flip.in_last_record {
            assert_eq!(noticed, Noticed::OpenFailed, "{flip:?}");
        }
    }
}

#[test]
fn a_flipped_checkpoint_is_ignored_and_loses_nothing() {
    // The checkpoint is a cache of where recovery may start, protected by its own checksum: a
    // damaged one is not used, and open scans the active segment from its start instead.
    let built = two_sealed_one_active();
    let dir = fast_tempdir();
    built.image.restore(dir.path());
    let path = dir.path().join("checkpoint");
    let pristine = built.image.file("checkpoint");
    assert_eq!(pristine.len(), common::CHECKPOINT_BYTES);
    for offset in 0..pristine.len() {
        let mut damaged = pristine.to_vec();
        damaged[offset] ^= 1 << rotating_bit(offset);
        std::fs::write(&path, &damaged).unwrap();
        let context = format!("checkpoint byte {offset}");
        let journal = Journal::open(dir.path(), built.options.clone()).unwrap();
        let report = journal.recovery_report();
        assert!(
            !report.from_checkpoint,
            "{context}: a damaged checkpoint was used"
        );
        assert_eq!(report.torn_tail, None, "{context}");
        let records = read_all(&journal).unwrap();
        assert_eq!(records.len() as u64, built.records, "{context}");
        assert_deterministic_prefix(&records, &context);
        let next = journal
            .append(KIND_EVENT, payload(built.records + 1))
            .unwrap();
        assert_eq!(next, built.records + 1, "{context}");
        drop(journal);
        assert!(verify(&StdFs, dir.path()).unwrap().is_ok(), "{context}");
        built.image.restore(dir.path());
    }
}

/// Damage beyond one bit: open or a full read must fail, and verify must report a problem.
fn assert_detected(dir: &Path, built: &Built, context: &str) {
    let verified = verify(&StdFs, dir).unwrap();
    assert!(!verified.is_ok(), "{context}: verify found nothing");
    built.image.remove_other_files(dir);
    if let Ok(journal) = Journal::open(dir, built.options.clone()) {
        let read = read_all(&journal);
        assert!(
            matches!(&read, Err(error) if error.is_corruption()),
            "{context}: {:?}",
            read.map(|records| records.len())
        );
    }
}

#[test]
fn a_missing_or_truncated_sealed_segment_is_never_skipped() {
    let built = two_sealed_one_active();
    let dir = fast_tempdir();
    for file in &built.sealed {
        built.image.restore(dir.path());
        std::fs::remove_file(dir.path().join(file)).unwrap();
        assert_detected(dir.path(), &built, &format!("{file} missing"));
        let bytes = built.image.file(file);
        let layout = sealed_layout(bytes);
        let cuts = [
            SEGMENT_HEADER_BYTES,
            layout.blocks[0].0 + layout.blocks[0].1 / 2,
            layout.index_offset,
            layout.footer_offset,
            bytes.len() - 1,
        ];
        for cut in cuts {
            built.image.restore(dir.path());
            std::fs::write(dir.path().join(file), &bytes[..cut]).unwrap();
            assert_detected(dir.path(), &built, &format!("{file} cut at {cut}"));
        }
    }
}

#[test]
fn a_gap_left_by_a_missing_segment_is_named_alike_by_verify_open_and_a_read() {
    // A read used to blame the segment before the gap ("the log ends in this segment"), while
    // verify named the one after it, so export and verify pointed at different files. Open
    // now sees the gap too, from the segment list in the checkpoint, and names it alike.
    let built = two_sealed_one_active();
    let dir = fast_tempdir();
    built.image.restore(dir.path());
    std::fs::remove_file(dir.path().join(&built.sealed[1])).unwrap();
    let verified = verify(&StdFs, dir.path()).unwrap();
    let problem = &verified.problems[0];
    assert!(problem.segment.ends_with(&built.active), "{problem:?}");
    assert_eq!(problem.offset, 16, "{problem:?}");
    built.image.remove_other_files(dir.path());
    let same_as_verify = |error: Error| match error {
        Error::Corruption {
            segment,
            offset,
            reason,
        } => {
            assert_eq!((&segment, offset), (&problem.segment, problem.offset));
            assert_eq!(reason, problem.reason);
        }
        other => panic!("{other}"),
    };
    same_as_verify(Journal::open(dir.path(), built.options.clone()).unwrap_err());
    let read: Result<Vec<_>, Error> =
        agentrail::journal::read_only(std::sync::Arc::new(StdFs), dir.path())
            .unwrap()
            .collect();
    same_as_verify(read.unwrap_err());
}

#[test]
fn a_missing_active_segment_is_not_a_fresh_start() {
    // The checkpoint names the active segment, so that segment was durable: if it is gone, its
    // records are lost, and open must say so rather than start a new segment in its place.
    let built = two_sealed_one_active();
    let dir = fast_tempdir();
    built.image.restore(dir.path());
    std::fs::remove_file(dir.path().join(&built.active)).unwrap();
    let verified = verify(&StdFs, dir.path()).unwrap();
    assert!(!verified.is_ok(), "verify found nothing");
    built.image.remove_other_files(dir.path());
    let opened = Journal::open(dir.path(), built.options.clone());
    assert!(
        matches!(&opened, Err(error) if error.is_corruption()),
        "open: {opened:?}"
    );
    assert_eq!(
        segment_names(dir.path()),
        built.sealed,
        "open created a segment"
    );
}

/// Restores `built` into `dir`; its first sealed segment's path and bytes, and the file offset
/// and decompressed frames of that segment's (only) block.
fn first_sealed_block<'b>(
    built: &'b Built,
    dir: &tempfile::TempDir,
) -> (std::path::PathBuf, &'b [u8], usize, Vec<u8>) {
    built.image.restore(dir.path());
    let file = &built.sealed[0];
    let sealed = built.image.file(file);
    let (start, len) = sealed_layout(sealed).blocks[0];
    let raw = zstd::bulk::decompress(&sealed[start..start + len], 1 << 20).unwrap();
    (dir.path().join(file), sealed, start, raw)
}

#[test]
fn a_rewrite_names_the_block_holding_a_frame_damaged_before_sealing() {
    let built = two_sealed_one_active();
    let dir = fast_tempdir();
    let (path, sealed, start, raw) = first_sealed_block(&built, &dir);
    let frames = common::frames_from(&raw, 0);
    let damaged_frame = &frames[1];
    let mut damaged = raw.clone();
    damaged[damaged_frame.end - 1] ^= 0x40;
    std::fs::write(&path, common::reseal_one_block(sealed, &damaged)).unwrap();
    built.image.remove_other_files(dir.path());
    let journal = Journal::open(dir.path(), built.options.clone()).unwrap();
    let summarize: agentrail::journal::Summarizer = std::sync::Arc::new(|_| Ok(Vec::new()));
    let error = journal.tombstone(&[frames[0].lsn], summarize).unwrap_err();
    match error {
        agentrail::Error::Corruption {
            segment,
            offset,
            reason,
        } => {
            assert_eq!(segment, path);
            assert_eq!(offset, start as u64, "{reason}");
            let expected = format!("block 0 (uncompressed offset {})", damaged_frame.start);
            assert!(reason.contains(&expected), "{reason}");
        }
        other => panic!("{other}"),
    }
}

#[test]
fn a_flip_sealed_inside_a_block_is_caught_by_the_frame_checks() {
    // Damage that slipped past the block's checksum (in memory before sealing, say): the block,
    // index and footer checksums all match the damaged bytes, so only the frames' own checks,
    // the LSN sequence and the chain stand between it and the reader.
    let built = two_sealed_one_active();
    let dir = fast_tempdir();
    let (path, sealed, _, raw) = first_sealed_block(&built, &dir);
    let file = &built.sealed[0];
    assert_eq!(
        common::reseal_one_block(sealed, &raw),
        sealed,
        "resealing is not exact"
    );
    let frames = common::frames_from(&raw, 0);
    let mut offsets: Vec<usize> = Vec::new();
    for frame in frames.iter().take(2).chain(frames.last()) {
        offsets.extend(frame.start..frame.start + FRAME_HEADER_BYTES);
        offsets.extend(samples(frame.start + FRAME_HEADER_BYTES, frame.end, 5));
    }
    for offset in offsets {
        let context = format!("{file}, uncompressed byte {offset}");
        let mut damaged = raw.clone();
        damaged[offset] ^= 1 << rotating_bit(offset);
        std::fs::write(&path, common::reseal_one_block(sealed, &damaged)).unwrap();
        let verified = verify(&StdFs, dir.path()).unwrap();
        assert!(
            verified
                .problems
                .iter()
                .any(|problem| problem.segment == path),
            "{context}: verify: {:?}",
            verified.problems
        );
        built.image.remove_other_files(dir.path());
        let journal = Journal::open(dir.path(), built.options.clone()).unwrap();
        let read = read_all(&journal);
        assert!(
            matches!(&read, Err(error) if error.is_corruption()),
            "{context}: read {:?}",
            read.map(|records| records.len())
        );
        drop(journal);
        std::fs::write(&path, sealed).unwrap();
        built.image.remove_other_files(dir.path());
    }
}
