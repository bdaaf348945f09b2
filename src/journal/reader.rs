//! Reading the log forward from any LSN, across sealed (compressed, memory-mapped) and active
//! segments. The segment is found by its name (its first LSN), the block inside a sealed one by
//! binary search in its block index, so a read never scans from the start of the journal. A
//! reader stops at the last LSN the journal had when the reader was made: anything failing a
//! check before that is corruption, reported with its file and offset.

use super::format::{Checkpoint, SEGMENT_HEADER_BYTES};
use super::segment::{
    decode_frame, decode_frame_header, io_error, read_segment_header, segment_path, FrameError,
    SealedSegment,
};
use super::vfs::{Vfs, VfsFile};
use crate::error::{Error, Result};
use crossbeam_channel::Receiver;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How much of an active segment a reader fetches at a time.
const ACTIVE_READ_CHUNK_BYTES: usize = 1024 * 1024;
/// How many decompressed blocks a sealed segment's prefetch thread keeps ready.
const PREFETCH_BLOCKS: usize = 4;

/// Decompresses a sealed segment's blocks, from `first_block` on, on a thread of its own, so
/// that decompression (most of a replay's cost) overlaps checking and handing out records. The
/// thread stops at the first error, at the last block, or when the reader is dropped.
fn prefetch_blocks(
    segment: SealedSegment,
    first_block: usize,
) -> Result<Receiver<Result<Vec<u8>>>> {
    let (sender, receiver) = crossbeam_channel::bounded(PREFETCH_BLOCKS);
    std::thread::Builder::new()
        .name("agentrail-prefetch".into())
        .spawn(move || {
            for number in first_block..segment.blocks.len() {
                let block = segment.block(number);
                let failed = block.is_err();
                if sender.send(block).is_err() || failed {
                    break;
                }
            }
        })
        .map_err(|error| Error::io("starting a block prefetch thread", error))?;
    Ok(receiver)
}

fn next_block(path: &Path, blocks: &Receiver<Result<Vec<u8>>>) -> Result<Vec<u8>> {
    blocks.recv().map_err(|_| {
        Error::io(
            format!("reading {}", path.display()),
            std::io::Error::other("the block prefetch thread stopped"),
        )
    })?
}

/// One record as stored: its LSN, kind, flags and payload bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub lsn: u64,
    pub kind: u16,
    pub flags: u16,
    pub payload: Vec<u8>,
}

enum Source {
    Sealed {
        segment: SealedSegment,
        blocks: Receiver<Result<Vec<u8>>>,
        block: usize,
        buffer: Vec<u8>,
        position: usize,
        cursor_lsn: u64,
    },
    Active {
        path: PathBuf,
        file: Box<dyn VfsFile>,
        buffer: Vec<u8>,
        buffer_offset: u64,
        position: usize,
        cursor_lsn: u64,
    },
}

/// An iterator over records, in LSN order.
pub struct Reader {
    vfs: Arc<dyn Vfs>,
    dir: PathBuf,
    segments: Vec<u64>,
    next_lsn: u64,
    last_lsn: u64,
    source: Option<Source>,
    /// First LSN of the segment last read to its end: the next one must start after it.
    finished_segment: Option<u64>,
    current_segment: u64,
    done: bool,
    /// A known frame boundary (the recovery checkpoint's), where reading an active segment
    /// may start instead of at its first record.
    start_hint: Option<Checkpoint>,
}

impl Reader {
    pub(crate) fn new(
        vfs: Arc<dyn Vfs>,
        dir: &Path,
        segments: Vec<u64>,
        from_lsn: u64,
        last_lsn: u64,
    ) -> Reader {
        Reader {
            vfs,
            dir: dir.to_path_buf(),
            segments,
            next_lsn: from_lsn.max(1),
            last_lsn,
            source: None,
            finished_segment: None,
            current_segment: 0,
            done: false,
            start_hint: None,
        }
    }

    /// Lets reads of an active segment start at the checkpoint's position when the LSN asked
    /// for is at or after it: a read near the end of a 64 MiB segment then hops over at most
    /// one checkpoint interval of frames. The frames found there are checked as any others, so
    /// a hint that does not match the log is corruption, as recovery treats it.
    pub(crate) fn with_start_hint(mut self, hint: Option<Checkpoint>) -> Reader {
        self.start_hint = hint;
        self
    }

    /// The last LSN this reader will return.
    pub fn last_lsn(&self) -> u64 {
        self.last_lsn
    }

    fn open_source(&mut self) -> Result<Source> {
        let index = self
            .segments
            .partition_point(|&first| first <= self.next_lsn);
        let Some(&first_lsn) = index
            .checked_sub(1)
            .and_then(|index| self.segments.get(index))
        else {
            return Err(Error::corruption(
                &self.dir,
                0,
                format!("no segment holds LSN {}", self.next_lsn),
            ));
        };
        let path = segment_path(&self.dir, first_lsn);
        if self
            .finished_segment
            .is_some_and(|finished| finished >= first_lsn)
        {
            return Err(Error::corruption(
                &path,
                0,
                format!(
                    "the log ends in this segment before LSN {}, which the journal holds",
                    self.next_lsn
                ),
            ));
        }
        self.current_segment = first_lsn;
        let file = self
            .vfs
            .open_read(&path)
            .map_err(io_error(&path, "opening"))?;
        let header = read_segment_header(file.as_ref(), &path, first_lsn)?;
        if header.is_sealed() {
            let segment = SealedSegment::open(self.vfs.as_ref(), &path, first_lsn)?;
            if segment.footer.last_lsn < self.next_lsn {
                return Err(Error::corruption(&path, segment.file_bytes(), format!("segment ends at LSN {}, before LSN {} which the next segment should start with", segment.footer.last_lsn, self.next_lsn)));
            }
            let block = segment.block_for(self.next_lsn);
            let blocks = prefetch_blocks(segment.clone(), block)?;
            let buffer = next_block(&path, &blocks)?;
            let cursor_lsn = segment.blocks[block].first_lsn;
            return Ok(Source::Sealed {
                segment,
                blocks,
                block,
                buffer,
                position: 0,
                cursor_lsn,
            });
        }
        let (buffer_offset, cursor_lsn) = match &self.start_hint {
            Some(hint)
                if hint.segment == first_lsn
                    && hint.next_lsn <= self.next_lsn
                    && hint.offset >= SEGMENT_HEADER_BYTES as u64 =>
            {
                (hint.offset, hint.next_lsn)
            }
            _ => (SEGMENT_HEADER_BYTES as u64, first_lsn),
        };
        Ok(Source::Active {
            path,
            file,
            buffer: Vec::new(),
            buffer_offset,
            position: 0,
            cursor_lsn,
        })
    }

    fn next_record(&mut self) -> Result<Record> {
        loop {
            if self.source.is_none() {
                self.source = Some(self.open_source()?);
            }
            let next_lsn = self.next_lsn;
            let found = match self.source.as_mut() {
                Some(Source::Sealed {
                    segment,
                    blocks,
                    block,
                    buffer,
                    position,
                    cursor_lsn,
                }) => sealed_next(
                    segment, blocks, block, buffer, position, cursor_lsn, next_lsn,
                )?,
                Some(Source::Active {
                    path,
                    file,
                    buffer,
                    buffer_offset,
                    position,
                    cursor_lsn,
                }) => active_next(
                    path,
                    file.as_ref(),
                    buffer,
                    buffer_offset,
                    position,
                    cursor_lsn,
                    next_lsn,
                )?,
                None => None,
            };
            match found {
                Some(record) => {
                    self.next_lsn += 1;
                    return Ok(record);
                }
                None => {
                    self.source = None;
                    self.finished_segment = Some(self.current_segment);
                }
            }
        }
    }
}

/// The next record at or after `next_lsn` from a sealed segment, or `None` at its end.
fn sealed_next(
    segment: &SealedSegment,
    blocks: &Receiver<Result<Vec<u8>>>,
    block: &mut usize,
    buffer: &mut Vec<u8>,
    position: &mut usize,
    cursor_lsn: &mut u64,
    next_lsn: u64,
) -> Result<Option<Record>> {
    loop {
        if *position == buffer.len() {
            if *block + 1 == segment.blocks.len() {
                return Ok(None);
            }
            *block += 1;
            *buffer = next_block(&segment.path, blocks)?;
            *position = 0;
        }
        let frame = decode_frame(buffer, *position, *cursor_lsn).map_err(|error| {
            let entry = &segment.blocks[*block];
            Error::corruption(
                &segment.path,
                entry.offset,
                format!(
                    "block {} (uncompressed offset {}): {error}",
                    *block, *position
                ),
            )
        })?;
        *position = frame.end();
        *cursor_lsn += 1;
        if frame.header.lsn >= next_lsn {
            let payload = frame.payload(buffer).to_vec();
            return Ok(Some(Record {
                lsn: frame.header.lsn,
                kind: frame.header.kind,
                flags: frame.header.flags,
                payload,
            }));
        }
    }
}

/// Makes sure `buffer[position..]` holds at least `needed` bytes; false if the file ends first.
fn fill(
    path: &Path,
    file: &dyn VfsFile,
    buffer: &mut Vec<u8>,
    buffer_offset: &mut u64,
    position: &mut usize,
    needed: usize,
) -> Result<bool> {
    if buffer.len() - *position >= needed {
        return Ok(true);
    }
    buffer.drain(..*position);
    *buffer_offset += *position as u64;
    *position = 0;
    let have = buffer.len();
    let file_len = file
        .len()
        .map_err(io_error(path, "reading the length of"))?;
    let left_in_file = file_len.saturating_sub(*buffer_offset + have as u64) as usize;
    // A chunk at a time, but never more than the file holds: most active segments are small.
    let want = needed.max(ACTIVE_READ_CHUNK_BYTES.min(left_in_file));
    buffer.resize(have + want, 0);
    let mut filled = have;
    while filled < buffer.len() {
        let read = file
            .read_at(&mut buffer[filled..], *buffer_offset + filled as u64)
            .map_err(io_error(path, "reading"))?;
        if read == 0 {
            break;
        }
        filled += read;
    }
    buffer.truncate(filled);
    Ok(filled >= needed)
}

/// The next record at or after `next_lsn` from an active segment. Frames before `next_lsn` are
/// hopped over by their headers alone.
fn active_next(
    path: &Path,
    file: &dyn VfsFile,
    buffer: &mut Vec<u8>,
    buffer_offset: &mut u64,
    position: &mut usize,
    cursor_lsn: &mut u64,
    next_lsn: u64,
) -> Result<Option<Record>> {
    loop {
        let at = *buffer_offset + *position as u64;
        if !fill(
            path,
            file,
            buffer,
            buffer_offset,
            position,
            super::format::FRAME_HEADER_BYTES,
        )? {
            if buffer.len() == *position {
                return Ok(None);
            }
            return Err(Error::corruption(
                path,
                at,
                FrameError::Incomplete.to_string(),
            ));
        }
        let frame = decode_frame_header(buffer, *position, *cursor_lsn)
            .map_err(|error| Error::corruption(path, at, error.to_string()))?;
        let frame_len = frame.header.frame_len() as usize;
        if frame.header.lsn < next_lsn {
            if !fill(path, file, buffer, buffer_offset, position, frame_len)? {
                return Err(Error::corruption(
                    path,
                    at,
                    FrameError::Incomplete.to_string(),
                ));
            }
            *position += frame_len;
            *cursor_lsn += 1;
            continue;
        }
        if !fill(path, file, buffer, buffer_offset, position, frame_len)? {
            return Err(Error::corruption(
                path,
                at,
                FrameError::Incomplete.to_string(),
            ));
        }
        let frame = decode_frame(buffer, *position, *cursor_lsn)
            .map_err(|error| Error::corruption(path, at, error.to_string()))?;
        let payload = frame.payload(buffer).to_vec();
        *position = frame.end();
        *cursor_lsn += 1;
        return Ok(Some(Record {
            lsn: frame.header.lsn,
            kind: frame.header.kind,
            flags: frame.header.flags,
            payload,
        }));
    }
}

impl Iterator for Reader {
    type Item = Result<Record>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.next_lsn > self.last_lsn {
            return None;
        }
        let result = self.next_record();
        if let Err(error) = &result {
            self.done = true;
            super::mark_damaged(self.vfs.as_ref(), &self.dir, error);
        }
        Some(result)
    }
}
