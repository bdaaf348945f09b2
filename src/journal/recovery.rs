//! Open-time recovery: find where the log ends, cheaply. Recovery starts at the checkpoint (or,
//! without a usable one, at the start of the last segment), checks that every segment it
//! crosses links to the one before, and reads the active segment's frames to the end of the
//! file. A bad frame with no valid frame after it is a torn tail and is truncated (and
//! reported); a bad frame followed by a valid one is corruption and stops the writer. This is
//! the argument of `format-spec/journal.md` section 9.

use super::batch::{cut_floor, cut_incomplete_batch, ends_inside_batch, unfinished, CutBatch};
use super::format::{
    chain_next, Checkpoint, FrameHeader, SegmentHeader, SegmentList, CHECKPOINT_BYTES,
    FRAME_HEADER_BYTES, SEGMENT_HEADER_BYTES,
};
use super::segment::{
    create_segment, decode_frame, find_valid_frame_after, io_error, read_segment_header,
    segment_name, segment_path, segments_among, write_file_atomically, FrameError, SealedSegment,
    TEMP_SUFFIX,
};
use super::vfs::{Vfs, VfsFile};
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

pub const CHECKPOINT_FILE: &str = "checkpoint";

/// The torn end of the log that recovery cut off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    pub segment: PathBuf,
    /// Byte offset where the log now ends (the torn record started here).
    pub offset: u64,
    pub bytes_dropped: u64,
    /// The LSN the torn record would have had.
    pub lsn: u64,
}

/// What opening the journal found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    pub torn_tail: Option<TornTail>,
    /// True when recovery started from the checkpoint rather than a segment start.
    pub from_checkpoint: bool,
    /// Bytes of the active segment read to find its end.
    pub scanned_bytes: u64,
    /// Leftover temporary files (from a crash mid-rename) that were removed.
    pub removed_temp_files: Vec<String>,
    /// True when a new segment was created (empty journal, or last segment sealed).
    pub created_segment: bool,
    /// The records of an append a crash cut short, which recovery removed (section 11).
    pub cut_batch: Option<CutBatch>,
}

/// The end of the log: the active segment and the state a writer continues from.
#[derive(Debug)]
pub struct Tail {
    pub segment: u64,
    pub path: PathBuf,
    pub file: Box<dyn VfsFile>,
    pub inode: u64,
    pub prev_chain: u32,
    pub end: u64,
    pub next_lsn: u64,
    pub chain: u32,
    pub last_record_offset: u64,
    /// The segment files up to and including this one, for the checkpoint.
    pub segments: SegmentList,
}

impl Tail {
    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            segment: self.segment,
            offset: self.end,
            next_lsn: self.next_lsn,
            chain: self.chain,
            last_record_offset: self.last_record_offset as u32,
            segments: Some(self.segments),
        }
    }
}

/// Where the walk over the segments begins.
#[derive(Debug, Clone, Copy)]
struct Start {
    index: usize,
    next_lsn: u64,
    chain: u32,
    /// Mid-segment position from a checkpoint: (offset, last_record_offset).
    resume: Option<(u64, u64)>,
    /// True when `next_lsn` and `chain` describe the start of segment `index`, so its header
    /// must link to them; false when they come from a checkpoint inside it.
    at_segment_start: bool,
}

/// Removes leftover temporary files among `names`, the files of `dir`.
fn remove_temp_files(
    vfs: &dyn Vfs,
    dir: &Path,
    names: &[String],
    report: &mut RecoveryReport,
) -> Result<()> {
    for name in names.iter().filter(|name| name.ends_with(TEMP_SUFFIX)) {
        let path = dir.join(name);
        vfs.remove_file(&path)
            .map_err(io_error(&path, "removing"))?;
        report.removed_temp_files.push(name.clone());
    }
    if !report.removed_temp_files.is_empty() {
        vfs.sync_dir(dir)
            .map_err(io_error(dir, "syncing directory"))?;
    }
    Ok(())
}

/// Reads the checkpoint, if there is one that decodes.
pub fn read_checkpoint(vfs: &dyn Vfs, dir: &Path) -> Option<Checkpoint> {
    let file = vfs.open_read(&dir.join(CHECKPOINT_FILE)).ok()?;
    let mut bytes = [0u8; CHECKPOINT_BYTES];
    file.read_exact_at(&mut bytes, 0).ok()?;
    Checkpoint::decode(&bytes)
}

/// Says why a checkpoint cannot belong to a journal holding `segments`: it is written only
/// once the segment it names is durable, so that segment missing means it was removed with
/// whatever records it held, which recovery must not paper over with a fresh segment.
pub fn checkpoint_segment_missing(segments: &[u64], checkpoint: &Checkpoint) -> Option<String> {
    segments
        .binary_search(&checkpoint.segment)
        .is_err()
        .then(|| {
            format!(
                "the checkpoint names segment {}, which is missing: its records are lost",
                segment_name(checkpoint.segment)
            )
        })
}

/// Checks that a checkpoint still describes the log: its segment exists, the position is in
/// the file, and the record it names as last ends exactly there.
fn checkpoint_start(
    vfs: &dyn Vfs,
    dir: &Path,
    segments: &[u64],
    checkpoint: &Checkpoint,
) -> Result<Option<Start>> {
    let Ok(index) = segments.binary_search(&checkpoint.segment) else {
        return Ok(None);
    };
    let path = segment_path(dir, checkpoint.segment);
    let file = vfs.open(&path).map_err(io_error(&path, "opening"))?;
    let header = read_segment_header(file.as_ref(), &path, checkpoint.segment)?;
    let start = Start {
        index,
        next_lsn: checkpoint.next_lsn,
        chain: checkpoint.chain,
        resume: None,
        at_segment_start: false,
    };
    if header.is_sealed() {
        return Ok(Some(start));
    }
    let length = file
        .len()
        .map_err(io_error(&path, "reading the length of"))?;
    if checkpoint.offset > length || checkpoint.next_lsn < checkpoint.segment {
        return Ok(None);
    }
    let last_record_offset = u64::from(checkpoint.last_record_offset);
    if checkpoint.next_lsn == checkpoint.segment {
        let at_start = checkpoint.offset == SEGMENT_HEADER_BYTES as u64
            && checkpoint.chain == header.prev_chain;
        return Ok(at_start.then_some(Start {
            resume: Some((checkpoint.offset, 0)),
            ..start
        }));
    }
    let mut bytes = [0u8; FRAME_HEADER_BYTES];
    if file.read_exact_at(&mut bytes, last_record_offset).is_err() {
        return Ok(None);
    }
    let links = FrameHeader::decode(&bytes).is_ok_and(|frame| {
        frame.lsn + 1 == checkpoint.next_lsn
            && last_record_offset + frame.frame_len() == checkpoint.offset
    });
    Ok(links.then_some(Start {
        resume: Some((checkpoint.offset, last_record_offset)),
        ..start
    }))
}

/// Checks the segment files up to the one `checkpoint` names against the list it recorded
/// (`format-spec/journal.md` section 6). They differ when a segment was removed or one was
/// added; the links between them (each header against the footer before it) then say which
/// file breaks the log: corruption, named by that file and offset. When every link holds,
/// the files still form the log the checkpoint describes and the difference is not damage.
fn check_segment_list(
    vfs: &dyn Vfs,
    dir: &Path,
    segments: &[u64],
    checkpoint: &Checkpoint,
) -> Result<()> {
    let Some(recorded) = checkpoint.segments else {
        return Ok(());
    };
    let through = segments.partition_point(|&first_lsn| first_lsn <= checkpoint.segment);
    if SegmentList::of(&segments[..through]) == recorded {
        return Ok(());
    }
    let (mut next_lsn, mut chain) = (1, 0);
    for &first_lsn in &segments[..through] {
        let path = segment_path(dir, first_lsn);
        let header = linked_header(vfs, &path, first_lsn, next_lsn, chain)?;
        if first_lsn == checkpoint.segment {
            break;
        }
        if !header.is_sealed() {
            return Err(unsealed_with_later(&path, segments, first_lsn));
        }
        let sealed = SealedSegment::open(vfs, &path, first_lsn)?;
        (next_lsn, chain) = (sealed.footer.last_lsn + 1, sealed.footer.end_chain);
    }
    Ok(())
}

/// Reads the header of the segment file at `path` (named for `first_lsn`) and checks that it
/// continues the log at `next_lsn` with `chain`.
pub fn linked_header(
    vfs: &dyn Vfs,
    path: &Path,
    first_lsn: u64,
    next_lsn: u64,
    chain: u32,
) -> Result<SegmentHeader> {
    let file = vfs.open_read(path).map_err(io_error(path, "opening"))?;
    let header = read_segment_header(file.as_ref(), path, first_lsn)?;
    check_link(path, header.first_lsn, header.prev_chain, next_lsn, chain)?;
    Ok(header)
}

/// The corruption of an unsealed segment at `path` that is followed by other segment files:
/// the next is named, since it is either not part of the log (`verify` tells) or the sign of a
/// lost seal.
fn unsealed_with_later(path: &Path, segments: &[u64], first_lsn: u64) -> Error {
    let next = segments.iter().find(|&&later| later > first_lsn);
    let next = next.map_or_else(String::new, |&later| segment_name(later));
    Error::corruption(
        path,
        12,
        format!("segment is not sealed, yet a later segment file exists ({next})"),
    )
}

/// Without a checkpoint: start at the last segment, taking its expected LSN and chain from the
/// footer of the segment before it.
fn last_segment_start(vfs: &dyn Vfs, dir: &Path, segments: &[u64]) -> Result<Start> {
    let index = segments.len() - 1;
    if index == 0 {
        return Ok(Start {
            index,
            next_lsn: 1,
            chain: 0,
            resume: None,
            at_segment_start: true,
        });
    }
    let (path, first_lsn) = (segment_path(dir, segments[index - 1]), segments[index - 1]);
    let file = vfs.open_read(&path).map_err(io_error(&path, "opening"))?;
    if !read_segment_header(file.as_ref(), &path, first_lsn)?.is_sealed() {
        return Err(unsealed_with_later(&path, segments, first_lsn));
    }
    let previous = SealedSegment::open(vfs, &path, first_lsn)?;
    Ok(Start {
        index,
        next_lsn: previous.footer.last_lsn + 1,
        chain: previous.footer.end_chain,
        resume: None,
        at_segment_start: true,
    })
}

/// Finds the end of the log in `dir`, truncating a torn tail, cutting off an append a crash
/// cut short (section 11) and creating the first or next segment where needed. The caller
/// holds the journal's lock.
pub fn recover(vfs: &dyn Vfs, dir: &Path) -> Result<(Tail, RecoveryReport)> {
    let (tail, mut report) = find_end(vfs, dir)?;
    let checkpoint = read_checkpoint(vfs, dir);
    let floor = cut_floor(checkpoint.as_ref());
    if !ends_inside_batch(vfs, dir, &tail, floor)? {
        return Ok((tail, report));
    }
    drop(tail);
    let Some(cut) = unfinished(vfs, dir, floor)? else {
        return Err(Error::corruption(
            dir,
            0,
            "the log's last record continues an append, but no unfinished append was found",
        ));
    };
    cut_incomplete_batch(vfs, dir, &cut, checkpoint.as_ref())?;
    let (tail, again) = find_end(vfs, dir)?;
    write_file_atomically(
        vfs,
        dir,
        &dir.join(CHECKPOINT_FILE),
        &tail.checkpoint().encode(),
    )?;
    report.cut_batch = Some(cut);
    report.created_segment |= again.created_segment;
    report.scanned_bytes += again.scanned_bytes;
    Ok((tail, report))
}

/// Finds the end of the log in `dir` as it is, truncating a torn tail and creating the first
/// or next segment where needed.
fn find_end(vfs: &dyn Vfs, dir: &Path) -> Result<(Tail, RecoveryReport)> {
    let mut report = RecoveryReport::default();
    // One listing serves both: a temporary file is never a segment.
    let names = vfs.list_dir(dir).map_err(io_error(dir, "listing"))?;
    remove_temp_files(vfs, dir, &names, &mut report)?;
    let segments = segments_among(&names);
    let checkpoint = read_checkpoint(vfs, dir);
    if segments.is_empty() {
        if let Some(checkpoint) = checkpoint.filter(|checkpoint| checkpoint.next_lsn > 1) {
            return Err(Error::corruption(dir.join(CHECKPOINT_FILE), 32, format!(
                "the checkpoint records LSNs up to {} as durable, but the journal has no segment files",
                checkpoint.next_lsn - 1
            )));
        }
        report.created_segment = true;
        let mut tail = new_segment_tail(vfs, dir, 1, 0)?;
        tail.segments = SegmentList::of(&[1]);
        return Ok((tail, report));
    }
    if let Some(reason) = checkpoint
        .as_ref()
        .and_then(|checkpoint| checkpoint_segment_missing(&segments, checkpoint))
    {
        return Err(Error::corruption(dir.join(CHECKPOINT_FILE), 16, reason));
    }
    if let Some(checkpoint) = &checkpoint {
        check_segment_list(vfs, dir, &segments, checkpoint)?;
    }
    let from_checkpoint = match &checkpoint {
        Some(checkpoint) => checkpoint_start(vfs, dir, &segments, checkpoint)?,
        None => None,
    };
    report.from_checkpoint = from_checkpoint.is_some();
    let start = match from_checkpoint {
        Some(start) => start,
        None => last_segment_start(vfs, dir, &segments)?,
    };
    let mut tail = walk(vfs, dir, &segments, start, checkpoint.as_ref(), &mut report)?;
    let before = segments.partition_point(|&first_lsn| first_lsn < tail.segment);
    tail.segments = SegmentList::of(&segments[..before]).then(tail.segment);
    if let Some(checkpoint) = checkpoint {
        if tail.next_lsn < checkpoint.next_lsn {
            return Err(Error::corruption(
                dir.join(CHECKPOINT_FILE),
                32,
                format!(
                    "the checkpoint records LSNs up to {} as durable, but the log ends at LSN {}",
                    checkpoint.next_lsn - 1,
                    tail.next_lsn - 1
                ),
            ));
        }
    }
    Ok((tail, report))
}

fn new_segment_tail(vfs: &dyn Vfs, dir: &Path, first_lsn: u64, chain: u32) -> Result<Tail> {
    let file = create_segment(vfs, dir, first_lsn, chain)?;
    let path = segment_path(dir, first_lsn);
    let inode = file
        .identity()
        .map_err(io_error(&path, "reading the identity of"))?;
    Ok(Tail {
        segment: first_lsn,
        path,
        file,
        inode,
        prev_chain: chain,
        end: SEGMENT_HEADER_BYTES as u64,
        next_lsn: first_lsn,
        chain,
        last_record_offset: 0,
        segments: SegmentList::default(),
    })
}

/// Walks from `start` to the last segment and returns the tail.
fn walk(
    vfs: &dyn Vfs,
    dir: &Path,
    segments: &[u64],
    start: Start,
    durable: Option<&Checkpoint>,
    report: &mut RecoveryReport,
) -> Result<Tail> {
    let (mut next_lsn, mut chain) = (start.next_lsn, start.chain);
    for (index, &first_lsn) in segments.iter().enumerate().skip(start.index) {
        let path = segment_path(dir, first_lsn);
        let is_last = index + 1 == segments.len();
        let file = vfs.open(&path).map_err(io_error(&path, "opening"))?;
        let header = read_segment_header(file.as_ref(), &path, first_lsn)?;
        let resume = if index == start.index {
            start.resume
        } else {
            None
        };
        if index > start.index || start.at_segment_start {
            check_link(&path, header.first_lsn, header.prev_chain, next_lsn, chain)?;
        }
        if header.is_sealed() {
            let sealed = SealedSegment::open(vfs, &path, first_lsn)?;
            if sealed.footer.last_lsn + 1 < next_lsn {
                return Err(Error::corruption(
                    &path,
                    sealed.file_bytes(),
                    "sealed segment ends before the checkpoint's position",
                ));
            }
            (next_lsn, chain) = (sealed.footer.last_lsn + 1, sealed.footer.end_chain);
            if is_last {
                report.created_segment = true;
                return new_segment_tail(vfs, dir, next_lsn, chain);
            }
            continue;
        }
        if !is_last {
            return Err(unsealed_with_later(&path, segments, first_lsn));
        }
        let (offset, last_record_offset) = resume.unwrap_or((SEGMENT_HEADER_BYTES as u64, 0));
        let inode = file
            .identity()
            .map_err(io_error(&path, "reading the identity of"))?;
        let mut tail = Tail {
            segment: first_lsn,
            path,
            file,
            inode,
            prev_chain: header.prev_chain,
            end: offset,
            next_lsn,
            chain,
            last_record_offset,
            segments: SegmentList::default(),
        };
        scan_active(&mut tail, durable, report)?;
        return Ok(tail);
    }
    Err(Error::corruption(
        dir,
        0,
        "the journal has no segment to append to",
    ))
}

/// The error for segment `path`, starting at `first_lsn`, found where the log needs one that
/// starts at `next_lsn`: the one `verify`, `open` and readers all give, naming the segment
/// after the gap and its header's first-LSN field.
pub fn gap_error(path: &Path, first_lsn: u64, next_lsn: u64) -> Error {
    Error::corruption(path, 16, format!(
        "segment starts at LSN {first_lsn}, but the log before it ends at LSN {} (a segment is missing or out of order)",
        next_lsn - 1
    ))
}

/// Checks that a segment header continues the log where the previous segment ended.
pub fn check_link(
    path: &Path,
    first_lsn: u64,
    prev_chain: u32,
    next_lsn: u64,
    chain: u32,
) -> Result<()> {
    if first_lsn != next_lsn {
        return Err(gap_error(path, first_lsn, next_lsn));
    }
    if prev_chain != chain {
        return Err(Error::corruption(path, 24, format!(
            "segment does not link to the one before it (chain {prev_chain:#010x}, expected {chain:#010x}): it is stale or from another journal"
        )));
    }
    Ok(())
}

/// Reads the active segment from `tail.end` to the end of the file, advancing `tail`, and
/// truncates a torn tail.
/// `durable` is the checkpoint, if one decodes: bytes before its position were synced, so a bad
/// frame there is corruption even with nothing valid after it, and is never truncated.
pub fn scan_active(
    tail: &mut Tail,
    durable: Option<&Checkpoint>,
    report: &mut RecoveryReport,
) -> Result<()> {
    let path = tail.path.clone();
    let length = tail
        .file
        .len()
        .map_err(io_error(&path, "reading the length of"))?;
    let mut buffer = vec![0u8; length.saturating_sub(tail.end) as usize];
    tail.file
        .read_exact_at(&mut buffer, tail.end)
        .map_err(io_error(&path, "reading"))?;
    report.scanned_bytes += buffer.len() as u64;
    let base = tail.end;
    let mut position = 0usize;
    while position < buffer.len() {
        match decode_frame(&buffer, position, tail.next_lsn) {
            Ok(frame) => {
                tail.chain = chain_next(tail.chain, &frame.chain_bytes);
                tail.last_record_offset = base + position as u64;
                tail.next_lsn += 1;
                position = frame.end();
            }
            Err(error) => return end_at_bad_frame(tail, durable, report, &buffer, position, error),
        }
    }
    tail.end = base + buffer.len() as u64;
    Ok(())
}

fn end_at_bad_frame(
    tail: &mut Tail,
    durable: Option<&Checkpoint>,
    report: &mut RecoveryReport,
    buffer: &[u8],
    position: usize,
    error: FrameError,
) -> Result<()> {
    let base = tail.end;
    let offset = base + position as u64;
    let synced = synced_past(durable, tail.segment, offset);
    if let Some(reason) = bad_frame_damage(buffer, position, base, tail.next_lsn, &error, synced) {
        return Err(Error::corruption(&tail.path, offset, reason));
    }
    let dropped = buffer.len() - position;
    tail.file
        .set_len(offset)
        .map_err(io_error(&tail.path, "truncating the torn tail of"))?;
    tail.file
        .sync_data()
        .map_err(io_error(&tail.path, "syncing"))?;
    tail.end = offset;
    report.torn_tail = Some(TornTail {
        segment: tail.path.clone(),
        offset,
        bytes_dropped: dropped as u64,
        lsn: tail.next_lsn,
    });
    Ok(())
}

/// True when the checkpoint records the log as synced past `offset` of segment `segment`:
/// a bad frame there is corruption even with nothing valid after it.
pub fn synced_past(durable: Option<&Checkpoint>, segment: u64, offset: u64) -> bool {
    durable.is_some_and(|checkpoint| {
        checkpoint.segment > segment || checkpoint.segment == segment && checkpoint.offset > offset
    })
}

/// Section 9's rule for the first bad frame of the last segment, at `position` of `rest` (that
/// segment's bytes from file offset `base` to its end), where LSN `next_lsn` was expected: why
/// it is corruption, or `None` when it is a torn tail, the unacknowledged end of a write a
/// crash cut short. Recovery truncates a torn tail; a read-only reader ends the log there.
pub fn bad_frame_damage(
    rest: &[u8],
    position: usize,
    base: u64,
    next_lsn: u64,
    error: &FrameError,
    synced: bool,
) -> Option<String> {
    let valid_after = find_valid_frame_after(rest, position, next_lsn);
    // A wrong LSN or a bad tombstone passed every checksum: it is not a torn write.
    let checked = matches!(
        error,
        FrameError::WrongLsn { .. } | FrameError::BadTombstone { .. }
    );
    match valid_after {
        Some(at) => Some(format!(
            "{error}; a valid record follows at offset {}",
            base + at as u64
        )),
        None if synced => Some(format!(
            "{error}, before the position the checkpoint recorded as synced"
        )),
        None if checked => Some(error.to_string()),
        None => None,
    }
}
