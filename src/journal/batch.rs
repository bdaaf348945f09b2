//! Atomic batches (`format-spec/journal.md` section 11). Every record of one append request
//! but its last carries [`FRAME_FLAG_BATCH_CONTINUES`], so a log whose last record carries it
//! ends inside a request that a crash cut short: the writer acknowledges a request only once
//! all of it is written (and, in mode `always`, synced), so none of it was acknowledged.
//! Recovery, holding the journal's lock, cuts such a batch off whole, whatever segments it
//! spans, so that an `import` is stored whole or not at all.
//!
//! The recovery checkpoint is written only between requests, so the records before its
//! position are whole requests: the cut never goes before it. That keeps what `repair` left
//! (it writes a checkpoint where it truncated, which may be inside a request whose end was
//! damaged, after all of it had been acknowledged).
//!
//! The cut removes the batch's segments newest first, then rewrites the segment the batch
//! starts in to end before it. A crash at any step leaves a log that still ends inside the
//! batch, or one that ends before it, and the checkpoint where it was: the next recovery
//! finishes the cut.

use super::format::{
    Checkpoint, SegmentHeader, SegmentList, FRAME_FLAG_BATCH_CONTINUES, FRAME_HEADER_BYTES,
    SEGMENT_HEADER_BYTES,
};
use super::recovery::{bad_frame_damage, Tail, CHECKPOINT_FILE};
use super::segment::{
    create_segment, decode_frame, decode_frame_header, io_error, list_segments,
    read_segment_header, segment_path, write_file_atomically, FrameError, SealedSegment,
};
use super::vfs::Vfs;
use crate::error::{Error, Result};
use std::path::Path;

/// The records of an append the log ends inside: cut short by a crash (recovery removes them),
/// or still being written (readers that take no lock stop before them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CutBatch {
    /// The append's first record in the log: once it is cut off, the log ends just before it.
    pub first_lsn: u64,
    /// How many of its records the log holds.
    pub records: u64,
}

/// True when the flags of a record say that the next record belongs to the same request.
pub fn continues(flags: u16) -> bool {
    flags & FRAME_FLAG_BATCH_CONTINUES != 0
}

/// The first LSN a cut may remove: the one after the checkpoint's position, before which every
/// request is whole.
pub fn cut_floor(checkpoint: Option<&Checkpoint>) -> u64 {
    checkpoint.map_or(1, |checkpoint| checkpoint.next_lsn.max(1))
}

/// True when the log that `tail` ends ends inside a batch after `floor` ([`cut_floor`]). Reads
/// the last record's header, or, when the active segment is empty, the last block of the
/// sealed segment before it.
pub fn ends_inside_batch(vfs: &dyn Vfs, dir: &Path, tail: &Tail, floor: u64) -> Result<bool> {
    if tail.next_lsn <= floor {
        return Ok(false);
    }
    if tail.next_lsn > tail.segment {
        let mut bytes = [0u8; FRAME_HEADER_BYTES];
        tail.file
            .read_exact_at(&mut bytes, tail.last_record_offset)
            .map_err(io_error(&tail.path, "reading"))?;
        let frame = decode_frame_header(&bytes, 0, tail.next_lsn - 1).map_err(|error| {
            Error::corruption(&tail.path, tail.last_record_offset, error.to_string())
        })?;
        return Ok(continues(frame.header.flags));
    }
    let segments = list_segments(vfs, dir)?;
    let Some(&previous) = segments.iter().rev().find(|&&first| first < tail.segment) else {
        return Ok(false);
    };
    let path = segment_path(dir, previous);
    let sealed = SealedSegment::open(vfs, &path, previous)?;
    let last = sealed.blocks.len() - 1;
    let raw = sealed.block(last)?;
    let (frames, _) = frames_of(&raw, sealed.blocks[last].first_lsn);
    Ok(frames.last().is_some_and(|frame| frame.continues))
}

/// Finds the append the log in `dir` ends inside, after `floor` ([`cut_floor`]): from the last
/// segment back, the records after the last one that ends a request (or that lies before
/// `floor`). Reads whole segments; `None` when the log ends with a whole request, and when a
/// frame on the way back fails its checks other than as a torn tail does (damage, which
/// recovery and readers name themselves: an unfinished append is not to hide it).
pub fn unfinished(vfs: &dyn Vfs, dir: &Path, floor: u64) -> Result<Option<CutBatch>> {
    let segments = list_segments(vfs, dir)?;
    let mut end_lsn = None;
    for &first_lsn in segments.iter().rev() {
        let segment = SegmentFrames::read(vfs, dir, first_lsn)?;
        if segment.damaged {
            return Ok(None);
        }
        let frames = &segment.frames;
        let end_lsn = *end_lsn.get_or_insert(first_lsn + frames.len() as u64);
        let kept = (0..frames.len())
            .rev()
            .find(|&index| !frames[index].continues || first_lsn + (index as u64) < floor);
        if let Some(kept) = kept {
            let first_lsn = first_lsn + kept as u64 + 1;
            let records = end_lsn - first_lsn;
            return Ok((records > 0).then_some(CutBatch { first_lsn, records }));
        }
    }
    let records = end_lsn.unwrap_or(1) - 1;
    Ok((records > 0).then_some(CutBatch {
        first_lsn: 1,
        records,
    }))
}

/// Cuts off `batch` ([`unfinished`]): removes the segments that hold only its records, newest
/// first, and rewrites the one it starts in to end before it (see the module's documentation).
/// `checkpoint` is moved back when it names a segment removed.
pub fn cut_incomplete_batch(
    vfs: &dyn Vfs,
    dir: &Path,
    batch: &CutBatch,
    checkpoint: Option<&Checkpoint>,
) -> Result<()> {
    let mut segments = list_segments(vfs, dir)?;
    while let Some(&first_lsn) = segments.last() {
        if first_lsn < batch.first_lsn {
            let segment = SegmentFrames::read(vfs, dir, first_lsn)?;
            return segment.keep(vfs, dir, (batch.first_lsn - first_lsn) as usize);
        }
        if let Some(checkpoint) = checkpoint.filter(|checkpoint| checkpoint.segment == first_lsn) {
            checkpoint_before(vfs, dir, &segments, checkpoint)?;
        }
        remove(vfs, dir, &segment_path(dir, first_lsn))?;
        segments.pop();
    }
    create_segment(vfs, dir, 1, 0)?;
    Ok(())
}

/// Before removing the segment `checkpoint` names (it names its start, where the batch begins),
/// moves the checkpoint to the end of the segment before, which records the same position;
/// with no segment before, the checkpoint says nothing and goes.
fn checkpoint_before(
    vfs: &dyn Vfs,
    dir: &Path,
    segments: &[u64],
    checkpoint: &Checkpoint,
) -> Result<()> {
    let path = dir.join(CHECKPOINT_FILE);
    match segments.len().checked_sub(2).map(|index| segments[index]) {
        Some(previous) => {
            let moved = Checkpoint {
                segment: previous,
                offset: 0,
                last_record_offset: 0,
                segments: Some(SegmentList::of(&segments[..segments.len() - 1])),
                ..*checkpoint
            };
            write_file_atomically(vfs, dir, &path, &moved.encode())
        }
        None => remove(vfs, dir, &path),
    }
}

fn remove(vfs: &dyn Vfs, dir: &Path, path: &Path) -> Result<()> {
    vfs.remove_file(path).map_err(io_error(path, "removing"))?;
    vfs.sync_dir(dir)
        .map_err(io_error(dir, "syncing directory"))
}

/// Where a record is in a segment's frames, and whether its batch goes on after it.
#[derive(Debug, Clone, Copy)]
struct FrameAt {
    /// Offset after the record's frame, in the frames after the segment header.
    end: usize,
    continues: bool,
}

/// The frames of one segment, sealed or active, decompressed.
struct SegmentFrames {
    first_lsn: u64,
    header: SegmentHeader,
    /// Every frame after the segment header, as an active segment holds them.
    raw: Vec<u8>,
    frames: Vec<FrameAt>,
    /// True when a frame fails its checks in a way no crash leaves (anything but a torn tail
    /// of an active segment): the frames stop there, and where the log ends is for recovery
    /// and readers to name, not for this module to guess.
    damaged: bool,
}

impl SegmentFrames {
    fn read(vfs: &dyn Vfs, dir: &Path, first_lsn: u64) -> Result<SegmentFrames> {
        let path = segment_path(dir, first_lsn);
        let file = vfs.open_read(&path).map_err(io_error(&path, "opening"))?;
        let header = read_segment_header(file.as_ref(), &path, first_lsn)?;
        let raw = match header.is_sealed() {
            true => {
                let sealed = SealedSegment::open(vfs, &path, first_lsn)?;
                let mut raw = Vec::new();
                for number in 0..sealed.blocks.len() {
                    raw.extend_from_slice(&sealed.block(number)?);
                }
                raw
            }
            false => {
                let length = file
                    .len()
                    .map_err(io_error(&path, "reading the length of"))?;
                let mut raw =
                    vec![0u8; length.saturating_sub(SEGMENT_HEADER_BYTES as u64) as usize];
                file.read_exact_at(&mut raw, SEGMENT_HEADER_BYTES as u64)
                    .map_err(io_error(&path, "reading"))?;
                raw
            }
        };
        let (frames, stopped) = frames_of(&raw, first_lsn);
        let damaged = stopped.is_some_and(|(position, error)| {
            let lsn = first_lsn + frames.len() as u64;
            let base = SEGMENT_HEADER_BYTES as u64;
            header.is_sealed()
                || bad_frame_damage(&raw, position, base, lsn, &error, false).is_some()
        });
        Ok(SegmentFrames {
            first_lsn,
            header,
            raw,
            frames,
            damaged,
        })
    }

    /// Leaves the segment holding its first `count` records, as an active segment when that
    /// cuts any off.
    fn keep(&self, vfs: &dyn Vfs, dir: &Path, count: usize) -> Result<()> {
        if count == self.frames.len() {
            return Ok(());
        }
        let end = self.frames[count - 1].end;
        let active = SegmentHeader {
            flags: 0,
            ..self.header
        };
        let mut bytes = active.encode().to_vec();
        bytes.extend_from_slice(&self.raw[..end]);
        write_file_atomically(vfs, dir, &segment_path(dir, self.first_lsn), &bytes)
    }
}

/// The frames of `raw`, the first of LSN `first_lsn`, each fully checked, up to the first that
/// fails a check, whose position and error come with them.
fn frames_of(raw: &[u8], first_lsn: u64) -> (Vec<FrameAt>, Option<(usize, FrameError)>) {
    let mut frames = Vec::new();
    let mut position = 0;
    while position < raw.len() {
        let lsn = first_lsn + frames.len() as u64;
        let frame = match decode_frame(raw, position, lsn) {
            Ok(frame) => frame,
            Err(error) => return (frames, Some((position, error))),
        };
        position = frame.end();
        frames.push(FrameAt {
            end: position,
            continues: continues(frame.header.flags),
        });
    }
    (frames, None)
}
