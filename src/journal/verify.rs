//! `verify` reads every record of every segment and checks everything the format lets it check:
//! headers, names, links between segments, footers, block indexes, block checksums, frames, LSN
//! order and the chain. It changes nothing. `repair` is the explicit way out of damage: it moves
//! the first damaged segment and every later one aside, writes the good prefix of the damaged
//! segment back as the active segment, and says which LSNs were dropped.
//!
//! A file under a segment name that is not part of the log (a stray: one the log goes on
//! without, or one after the active segment that does not continue it) is a problem too, but
//! not damage of the log: `repair` moves only the strays aside and keeps every segment of the
//! log (`format-spec/journal.md` section 9, "Strays").

use super::batch::CutBatch;
use super::format::{chain_next, Checkpoint, SegmentHeader, SegmentList, SEGMENT_HEADER_BYTES};
use super::recovery::{
    checkpoint_segment_missing, linked_header, read_checkpoint, recover, RecoveryReport, TornTail,
    CHECKPOINT_FILE,
};
use super::segment::{
    decode_frame, find_valid_frame_after, find_valid_frame_from, io_error, list_segments,
    read_segment_header, segment_name, segment_path, write_file_atomically, FrameError,
    SealedSegment,
};
use super::vfs::Vfs;
use super::LOCK_FILE;
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// One damaged place.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    pub segment: PathBuf,
    pub offset: u64,
    pub reason: String,
}

/// What verify saw of one segment.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SegmentSummary {
    pub path: PathBuf,
    pub first_lsn: u64,
    pub records: u64,
    pub sealed: bool,
    pub file_bytes: u64,
    /// Bytes of record frames (uncompressed).
    pub record_bytes: u64,
    /// The highest LSN of any valid record seen in the segment, after damage too (0 if none).
    pub last_lsn_seen: u64,
}

/// The result of [`verify`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    pub segments: Vec<SegmentSummary>,
    /// Records that passed every check.
    pub records: u64,
    /// The last LSN of the unbroken log from LSN 1.
    pub last_good_lsn: u64,
    pub problems: Vec<Problem>,
    /// A torn tail that the next open will truncate (not corruption).
    pub torn_tail: Option<TornTail>,
    /// An append the log ends inside, cut short by a crash, which the next open removes
    /// (`format-spec/journal.md` section 11; not corruption).
    pub unfinished: Option<CutBatch>,
    /// Files under segment names that are not part of the log, each also in `problems`.
    pub strays: Vec<PathBuf>,
    /// A damage marker that outlived its damage: every record verifies, yet writers refuse to
    /// append until `repair` removes it. Also in `problems`.
    pub marker_left: bool,
    damage: Option<Damage>,
}

impl VerifyReport {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// Whether the log itself is damaged: its problems are more than strays beside it and a
    /// checkpoint to drop.
    pub fn log_is_damaged(&self) -> bool {
        self.damage.is_some()
    }
}

/// The first damaged segment and the good log before the damage in it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Damage {
    index: usize,
    first_lsn: u64,
    prev_chain: u32,
    good_frames: Vec<u8>,
    next_lsn: u64,
    chain: u32,
    last_record_offset: u64,
}

/// The log position a segment is expected to continue from.
#[derive(Debug, Clone, Copy)]
struct Expected {
    next_lsn: u64,
    chain: u32,
}

/// What checking one segment found.
struct SegmentCheck {
    summary: SegmentSummary,
    problem: Option<Problem>,
    torn: Option<TornTail>,
    good: Damage,
    /// The end of this segment, when it could be read to its end.
    end: Option<Expected>,
    /// The problem is that the file cannot be opened, its header does not read, or it does not
    /// link to the log before it: it may be a stray.
    unlinked: bool,
    /// The segment is not sealed, yet later files exist: either they are strays or the seal
    /// is lost.
    unsealed_with_later: bool,
}

/// Checks every record of the journal in `dir` under its lock.
/// Changes no log data; when it finds damage it records it in the damage marker, so that
/// writers refuse appends until `repair`.
pub fn verify(vfs: &dyn Vfs, dir: &Path) -> Result<VerifyReport> {
    with_lock(vfs, dir, || {
        let mut report = verify_unlocked(vfs, dir)?;
        if let Some(problem) = report.problems.first() {
            let error = Error::corruption(&problem.segment, problem.offset, problem.reason.clone());
            super::mark_damaged(vfs, dir, &error);
        } else if let Some(problem) = left_damage_marker(vfs, dir) {
            report.problems.push(problem);
            report.marker_left = true;
        }
        Ok(report)
    })
}

/// A damage marker that outlived its damage (a segment put back from a backup, say): every
/// record verifies, yet writers refuse to append until `repair` removes the marker, so verify
/// must not call the journal sound.
fn left_damage_marker(vfs: &dyn Vfs, dir: &Path) -> Option<Problem> {
    let text = super::damage_marker(vfs, dir)?;
    Some(Problem {
        segment: dir.join(super::DAMAGE_MARKER_FILE),
        offset: 0,
        reason: format!(
            "damage marker left by an earlier error ({text}); every record verifies now, but appends are refused until repair removes it"
        ),
    })
}

fn with_lock<T>(vfs: &dyn Vfs, dir: &Path, work: impl FnOnce() -> Result<T>) -> Result<T> {
    if !vfs.exists(dir) {
        return Err(Error::NotFound(dir.to_path_buf()));
    }
    let lock_path = dir.join(LOCK_FILE);
    let lock = vfs
        .open_lock(&lock_path)
        .map_err(io_error(&lock_path, "opening"))?;
    lock.lock()
        .map_err(|error| Error::io("taking the journal lock", error))?;
    let result = work();
    lock.unlock()
        .map_err(|error| Error::io("releasing the journal lock", error))?;
    result
}

fn verify_unlocked(vfs: &dyn Vfs, dir: &Path) -> Result<VerifyReport> {
    let segments = list_segments(vfs, dir)?;
    let checkpoint = read_checkpoint(vfs, dir);
    let mut report = VerifyReport::default();
    let mut expected = Some(Expected {
        next_lsn: 1,
        chain: 0,
    });
    let mut index = 0;
    while index < segments.len() {
        let first_lsn = segments[index];
        let later = &segments[index + 1..];
        let mut check = check_segment(
            vfs,
            dir,
            first_lsn,
            expected,
            later.is_empty(),
            checkpoint.as_ref(),
        );
        if let (true, Some(at)) = (check.unlinked, expected) {
            if let Some(skip) = first_linking(vfs, dir, later, at) {
                // The log goes on in a later file without this one and any before that.
                let why = format!("the log goes on in {}", segment_name(later[skip]));
                for &stray in &segments[index..=index + skip] {
                    report.add_stray(vfs, dir, stray, at, &why);
                }
                index += skip + 1;
                continue;
            }
        }
        let strays_after = check.unsealed_with_later && ends_the_log(vfs, dir, &mut check, later);
        expected = report.add_check(check);
        if let (true, Some(end)) = (strays_after, expected) {
            let why = format!(
                "the log ends in {}, which is not sealed",
                segment_name(first_lsn)
            );
            for &stray in later {
                report.add_stray(vfs, dir, stray, end, &why);
            }
            break;
        }
        index += 1;
    }
    if let Some(checkpoint) = checkpoint {
        // The segments of the log: every file but the strays.
        let log: Vec<u64> = (report.segments.iter())
            .map(|segment| segment.first_lsn)
            .collect();
        let missing = checkpoint_segment_missing(&log, &checkpoint);
        if let Some(reason) = missing.filter(|_| !log.is_empty()) {
            report.problems.push(Problem {
                segment: dir.join(CHECKPOINT_FILE),
                offset: 16,
                reason,
            });
        } else if report.damage.is_none() && report.last_good_lsn + 1 < checkpoint.next_lsn {
            report.problems.push(Problem {
                segment: dir.join(CHECKPOINT_FILE),
                offset: 32,
                reason: format!(
                    "the checkpoint records LSNs up to {} as durable, but the log ends at LSN {}",
                    checkpoint.next_lsn - 1,
                    report.last_good_lsn
                ),
            });
        }
    }
    if report.problems.is_empty() {
        let floor = super::batch::cut_floor(checkpoint.as_ref());
        report.unfinished = super::batch::unfinished(vfs, dir, floor)?;
    }
    Ok(report)
}

impl VerifyReport {
    /// Adds what checking one segment of the log found; returns where the next one must start.
    fn add_check(&mut self, check: SegmentCheck) -> Option<Expected> {
        let index = self.segments.len();
        let records = check.summary.records;
        self.segments.push(check.summary);
        if self.damage.is_none() {
            // The records before the first damage are good, in the damaged segment too.
            self.records += records;
            self.last_good_lsn = check.good.next_lsn - 1;
        }
        if let Some(problem) = check.problem {
            self.problems.push(problem);
            if self.damage.is_none() {
                self.damage = Some(Damage {
                    index,
                    ..check.good
                });
            }
        }
        self.torn_tail = check.torn;
        check.end
    }

    /// Adds a file that is not part of the log: `why`, and why it does not continue the log
    /// at `at`.
    fn add_stray(&mut self, vfs: &dyn Vfs, dir: &Path, first_lsn: u64, at: Expected, why: &str) {
        let path = segment_path(dir, first_lsn);
        let (offset, reason) = match link_error(vfs, dir, first_lsn, at) {
            Some(Error::Corruption { offset, reason, .. }) => (offset, reason),
            Some(other) => (0, other.to_string()),
            None => (
                0,
                "it continues the log from the same place as another file".into(),
            ),
        };
        self.problems.push(Problem {
            segment: path.clone(),
            offset,
            reason: format!("not part of the log ({reason}); {why}"),
        });
        self.strays.push(path);
    }
}

/// Whether the unsealed segment `check` looked at ends the log, the files `later` being
/// strays: none of them continues the log from its end. When one does, the segment's seal is
/// lost: that is its problem.
fn ends_the_log(vfs: &dyn Vfs, dir: &Path, check: &mut SegmentCheck, later: &[u64]) -> bool {
    let (None, Some(end)) = (&check.problem, check.end) else {
        return false;
    };
    let Some(skip) = first_linking(vfs, dir, later, end) else {
        return true;
    };
    check.problem = Some(Problem {
        segment: check.summary.path.clone(),
        offset: 12,
        reason: format!(
            "segment is not sealed, yet the log goes on in {}",
            segment_name(later[skip])
        ),
    });
    check.torn = None;
    check.end = None;
    false
}

/// The index in `later` of the first file that continues the log from `at`.
fn first_linking(vfs: &dyn Vfs, dir: &Path, later: &[u64], at: Expected) -> Option<usize> {
    (later.iter()).position(|&first_lsn| link_error(vfs, dir, first_lsn, at).is_none())
}

/// Why the segment file of `first_lsn` does not continue the log from `at`, if it does not:
/// it cannot be read, its header does not decode or disagrees with its name, or it does not
/// link there.
fn link_error(vfs: &dyn Vfs, dir: &Path, first_lsn: u64, at: Expected) -> Option<Error> {
    let path = segment_path(dir, first_lsn);
    linked_header(vfs, &path, first_lsn, at.next_lsn, at.chain).err()
}

fn check_segment(
    vfs: &dyn Vfs,
    dir: &Path,
    first_lsn: u64,
    expected: Option<Expected>,
    is_last: bool,
    checkpoint: Option<&Checkpoint>,
) -> SegmentCheck {
    let path = segment_path(dir, first_lsn);
    let start = expected.unwrap_or(Expected {
        next_lsn: first_lsn,
        chain: 0,
    });
    let mut check = SegmentCheck {
        summary: SegmentSummary {
            path: path.clone(),
            first_lsn,
            records: 0,
            sealed: false,
            file_bytes: 0,
            record_bytes: 0,
            last_lsn_seen: 0,
        },
        problem: None,
        torn: None,
        good: Damage {
            index: 0,
            first_lsn: start.next_lsn,
            prev_chain: start.chain,
            good_frames: Vec::new(),
            next_lsn: start.next_lsn,
            chain: start.chain,
            last_record_offset: 0,
        },
        end: None,
        unlinked: false,
        unsealed_with_later: false,
    };
    if let Err(error) = check_segment_body(
        vfs, &path, first_lsn, expected, is_last, checkpoint, &mut check,
    ) {
        let (segment, offset, reason) = match error {
            Error::Corruption {
                segment,
                offset,
                reason,
            } => (segment, offset, reason),
            other => (path.clone(), 0, other.to_string()),
        };
        check.problem = Some(Problem {
            segment,
            offset,
            reason,
        });
        check.end = None;
    }
    check
}

fn check_segment_body(
    vfs: &dyn Vfs,
    path: &Path,
    first_lsn: u64,
    expected: Option<Expected>,
    is_last: bool,
    checkpoint: Option<&Checkpoint>,
    check: &mut SegmentCheck,
) -> Result<()> {
    // Until the header reads and links, a failure may mean the file is a stray.
    check.unlinked = true;
    let file = vfs.open_read(path).map_err(io_error(path, "opening"))?;
    check.summary.file_bytes = file
        .len()
        .map_err(io_error(path, "reading the length of"))?;
    let header = read_segment_header(file.as_ref(), path, first_lsn)?;
    check.summary.sealed = header.is_sealed();
    match expected {
        Some(expected) => super::recovery::check_link(
            path,
            header.first_lsn,
            header.prev_chain,
            expected.next_lsn,
            expected.chain,
        )?,
        None => {
            check.good.prev_chain = header.prev_chain;
            check.good.chain = header.prev_chain;
        }
    }
    check.unlinked = false;
    if header.is_sealed() {
        return check_sealed(vfs, path, first_lsn, check);
    }
    // Read as the active segment; whether it is one, the later files strays, is for the
    // caller to tell (`ends_the_log`).
    check.unsealed_with_later = !is_last;
    let mut raw =
        vec![0u8; (check.summary.file_bytes as usize).saturating_sub(SEGMENT_HEADER_BYTES)];
    file.read_exact_at(&mut raw, SEGMENT_HEADER_BYTES as u64)
        .map_err(io_error(path, "reading"))?;
    let durable_end = checkpoint
        .filter(|checkpoint| checkpoint.segment == first_lsn)
        .map_or(0, |checkpoint| checkpoint.offset);
    check_active(path, &header, &raw, durable_end, check)
}

/// Checks the frames of a buffer starting at `check.good`'s position; returns the offset in the
/// buffer of the first bad frame and why it is bad.
fn check_frames(
    raw: &[u8],
    base_offset: u64,
    check: &mut SegmentCheck,
) -> Option<(usize, FrameError)> {
    let mut position = 0;
    while position < raw.len() {
        match decode_frame(raw, position, check.good.next_lsn) {
            Ok(frame) => {
                check.good.chain = chain_next(check.good.chain, &frame.chain_bytes);
                check.good.last_record_offset = base_offset + position as u64;
                check.good.next_lsn += 1;
                check.summary.records += 1;
                check.summary.last_lsn_seen = frame.header.lsn;
                check.summary.record_bytes += frame.header.frame_len();
                check
                    .good
                    .good_frames
                    .extend_from_slice(&raw[position..frame.end()]);
                position = frame.end();
            }
            Err(error) => return Some((position, error)),
        }
    }
    None
}

fn check_active(
    path: &Path,
    header: &SegmentHeader,
    raw: &[u8],
    durable_end: u64,
    check: &mut SegmentCheck,
) -> Result<()> {
    let base = SEGMENT_HEADER_BYTES as u64;
    if let Some((position, error)) = check_frames(raw, base, check) {
        let offset = base + position as u64;
        let valid_after = find_valid_frame_after(raw, position, check.good.next_lsn);
        if let Some(at) = valid_after {
            check.summary.last_lsn_seen = last_lsn_from(raw, at);
        }
        // As in recovery: a bad tombstone passed every checksum, so it is not a torn write.
        let checked = matches!(error, FrameError::BadTombstone { .. });
        if checked || valid_after.is_some() || offset < durable_end {
            return Err(Error::corruption(path, offset, error.to_string()));
        }
        check.torn = Some(TornTail {
            segment: path.to_path_buf(),
            offset,
            bytes_dropped: (raw.len() - position) as u64,
            lsn: check.good.next_lsn,
        });
    }
    let _ = header;
    check.end = Some(Expected {
        next_lsn: check.good.next_lsn,
        chain: check.good.chain,
    });
    Ok(())
}

/// The LSN of the last valid frame from `first_valid` on, hopping over damage between frames.
fn last_lsn_from(raw: &[u8], first_valid: usize) -> u64 {
    let mut last = 0;
    let mut position = Some(first_valid);
    while let Some(at) = position {
        let Some(lsn_bytes) = raw.get(at + 8..at + 16) else {
            break;
        };
        let lsn = u64::from_le_bytes(lsn_bytes.try_into().unwrap_or_default());
        let Ok(frame) = decode_frame(raw, at, lsn) else {
            break;
        };
        last = lsn;
        position = if decode_frame(raw, frame.end(), lsn + 1).is_ok() {
            Some(frame.end())
        } else {
            find_valid_frame_from(raw, frame.end(), lsn + 1)
        };
    }
    last
}

fn check_sealed(
    vfs: &dyn Vfs,
    path: &Path,
    first_lsn: u64,
    check: &mut SegmentCheck,
) -> Result<()> {
    let segment = SealedSegment::open(vfs, path, first_lsn)?;
    check.summary.last_lsn_seen = segment.footer.last_lsn;
    for (number, entry) in segment.blocks.iter().enumerate() {
        let raw = segment.block(number)?;
        if let Some((position, error)) = check_frames(&raw, 0, check) {
            return Err(Error::corruption(
                path,
                entry.offset,
                format!("block {number} (uncompressed offset {position}): {error}"),
            ));
        }
    }
    if check.good.next_lsn != segment.footer.last_lsn + 1
        || check.good.chain != segment.footer.end_chain
    {
        return Err(Error::corruption(
            path,
            segment.file_bytes() - 48,
            "sealed footer does not match the records (last LSN or chain)",
        ));
    }
    check.end = Some(Expected {
        next_lsn: check.good.next_lsn,
        chain: check.good.chain,
    });
    Ok(())
}

/// What [`repair`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepairReport {
    /// Segment files moved aside, and where to.
    pub moved: Vec<(PathBuf, PathBuf)>,
    /// The log now ends at this LSN.
    pub last_lsn: u64,
    /// The LSNs dropped: from `last_lsn + 1` through this one, as far as the damaged files
    /// showed (0 when nothing was dropped).
    pub dropped_through_lsn: u64,
    /// A torn tail that was truncated.
    pub torn_tail: Option<TornTail>,
    /// An append cut short by a crash that was removed (`format-spec/journal.md` section 11).
    pub cut_batch: Option<CutBatch>,
    /// The records the log now ends with, when they are the first part of one append whose
    /// later records went with the damage: that append is no longer whole. They are kept, as
    /// every good record before the damage is; the report names them so that whoever made the
    /// append (an `import`, say) can tell.
    pub partial_append: Option<CutBatch>,
    /// The problems found before repairing.
    pub problems: Vec<Problem>,
    /// A damage marker was removed: writers may append again.
    pub marker_removed: bool,
}

/// Repairs the journal in `dir`, moving damaged segments into `aside_dir`.
pub fn repair(vfs: &dyn Vfs, dir: &Path, aside_dir: &Path) -> Result<RepairReport> {
    with_lock(vfs, dir, || {
        let mut verified = verify_unlocked(vfs, dir)?;
        let mut report = RepairReport {
            problems: verified.problems.clone(),
            last_lsn: verified.last_good_lsn,
            ..RepairReport::default()
        };
        // Not part of the log: set aside, and the log without them looked at again (until no
        // stray is left: each round moves at least one file).
        while !verified.strays.is_empty() {
            move_aside(vfs, dir, aside_dir, &verified.strays, &mut report)?;
            verified = verify_unlocked(vfs, dir)?;
            report.last_lsn = verified.last_good_lsn;
        }
        match &verified.damage {
            None if verified.problems.is_empty() => {
                let (tail, recovery): (_, RecoveryReport) = recover(vfs, dir)?;
                report.torn_tail = recovery.torn_tail;
                report.cut_batch = recovery.cut_batch;
                report.last_lsn = tail.next_lsn - 1;
            }
            None => {
                // Only the checkpoint disagrees with a sound log: drop it; it is a cache.
                vfs.remove_file(&dir.join(CHECKPOINT_FILE))
                    .map_err(io_error(dir, "removing the checkpoint in"))?;
                vfs.sync_dir(dir).map_err(io_error(dir, "syncing"))?;
            }
            Some(damage) => cut_at_damage(vfs, dir, aside_dir, &verified, damage, &mut report)?,
        }
        report.marker_removed = clear_damage_marker(vfs, dir)?;
        Ok(report)
    })
}

/// The log is sound again: writers may append. Returns whether there was a marker.
fn clear_damage_marker(vfs: &dyn Vfs, dir: &Path) -> Result<bool> {
    let marker = dir.join(super::DAMAGE_MARKER_FILE);
    if !vfs.exists(&marker) {
        return Ok(false);
    }
    vfs.remove_file(&marker)
        .map_err(io_error(&marker, "removing"))?;
    vfs.sync_dir(dir).map_err(io_error(dir, "syncing"))?;
    Ok(true)
}

/// Moves the segment files `paths` of the journal in `dir` into `aside_dir`, durably.
fn move_aside(
    vfs: &dyn Vfs,
    dir: &Path,
    aside_dir: &Path,
    paths: &[PathBuf],
    report: &mut RepairReport,
) -> Result<()> {
    vfs.create_dir_all(aside_dir)
        .map_err(io_error(aside_dir, "creating"))?;
    for path in paths {
        let name = path.file_name().map(PathBuf::from).unwrap_or_default();
        let target = aside_dir.join(name);
        vfs.rename(path, &target)
            .map_err(io_error(path, "moving aside"))?;
        report.moved.push((path.clone(), target));
    }
    vfs.sync_dir(aside_dir)
        .map_err(io_error(aside_dir, "syncing"))?;
    vfs.sync_dir(dir).map_err(io_error(dir, "syncing"))
}

fn cut_at_damage(
    vfs: &dyn Vfs,
    dir: &Path,
    aside_dir: &Path,
    verified: &VerifyReport,
    damage: &Damage,
    report: &mut RepairReport,
) -> Result<()> {
    let damaged: Vec<PathBuf> = (verified.segments[damage.index..].iter())
        .map(|summary| summary.path.clone())
        .collect();
    move_aside(vfs, dir, aside_dir, &damaged, report)?;
    let header = SegmentHeader {
        flags: 0,
        first_lsn: damage.first_lsn,
        prev_chain: damage.prev_chain,
    };
    let mut bytes = header.encode().to_vec();
    bytes.extend_from_slice(&damage.good_frames);
    let path = segment_path(dir, damage.first_lsn);
    write_file_atomically(vfs, dir, &path, &bytes)?;
    // What is left: the segments before the damage and the one just written.
    let mut kept = list_segments(vfs, dir)?;
    kept.retain(|&first_lsn| first_lsn <= damage.first_lsn);
    let checkpoint = Checkpoint {
        segment: damage.first_lsn,
        offset: bytes.len() as u64,
        next_lsn: damage.next_lsn,
        chain: damage.chain,
        last_record_offset: damage.last_record_offset as u32,
        segments: Some(SegmentList::of(&kept)),
    };
    write_file_atomically(vfs, dir, &dir.join(CHECKPOINT_FILE), &checkpoint.encode())?;
    report.last_lsn = damage.next_lsn - 1;
    // Only a report: the repair is done, and a read failing here must not say otherwise.
    report.partial_append = super::batch::unfinished(vfs, dir, 0).ok().flatten();
    let seen_after: u64 = verified.segments[damage.index..]
        .iter()
        .map(|summary| summary.last_lsn_seen)
        .max()
        .unwrap_or(0);
    report.dropped_through_lsn = if seen_after > report.last_lsn {
        seen_after
    } else {
        0
    };
    Ok(())
}
