//! Reading the log forward from any LSN, across sealed (compressed, memory-mapped) and active
//! segments. The segment is found by its name (its first LSN), the block inside a sealed one by
//! binary search in its block index, so a read never scans from the start of the journal. A
//! reader of an open [`super::Journal`] stops at the last LSN the journal had when the reader was
//! made: anything failing a check before that is corruption, reported with its file and offset
//! and recorded in the damage marker. A read-only reader ([`super::read_only`]) writes nothing
//! and finds the log's end itself, by section 9's rule, so that a damaged journal can still be
//! read up to its first damage.

use super::batch::CutBatch;
use super::format::{
    Checkpoint, FRAME_FLAG_BATCH_CONTINUES, FRAME_HEADER_BYTES, SEGMENT_HEADER_BYTES,
};
use super::recovery::{
    bad_frame_damage, check_link, gap_error, read_checkpoint, synced_past, TornTail,
    CHECKPOINT_FILE,
};
use super::segment::{
    decode_frame, decode_frame_header, io_error, list_segments, read_segment_header, segment_path,
    FrameError, SealedSegment,
};
use super::vfs::{Vfs, VfsFile};
use crate::error::{Error, Result};
use crossbeam_channel::Receiver;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

/// A known frame boundary of an active segment: the frame of LSN `lsn` starts at byte
/// `offset` of segment `segment`. Reading from `lsn` or later may start there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FrameBoundary {
    pub segment: u64,
    pub offset: u64,
    pub lsn: u64,
}

impl FrameBoundary {
    /// The boundary a recovery checkpoint records: where the log ended when it was written.
    fn of_checkpoint(checkpoint: &Checkpoint) -> FrameBoundary {
        FrameBoundary {
            segment: checkpoint.segment,
            offset: checkpoint.offset,
            lsn: checkpoint.next_lsn,
        }
    }
}

/// How much of an active segment a reader fetches at a time.
const ACTIVE_READ_CHUNK_BYTES: usize = 1024 * 1024;
/// How many decompressed blocks each of a sealed segment's prefetch threads keeps ready (at
/// most 2 x 8 x 256 KiB = 4 MiB per reader). Two were too few on 2 cores shared by three busy
/// threads: a thread descheduled for a time slice left the other side waiting. With 8, the
/// rebuild bench went from 2.00-2.04 s to 1.68-1.91 s and sealed replay from 1.41-1.64 to
/// 1.84-1.87 GiB/s (bench binaries with 2 and 8, run in turn); 16 gained nothing more.
const PREFETCH_BLOCKS: usize = 8;
/// How many threads decompress a sealed segment's blocks: block `n` goes to thread
/// `n % PREFETCH_THREADS`. Decompression is most of a replay's cost, and one thread of it
/// could not keep the reader busy.
const PREFETCH_THREADS: usize = 2;

/// A sealed segment's blocks, from `first_block` on, decompressed ahead of the reader on
/// threads of their own, so that decompression overlaps checking and handing out records.
/// Blocks come out in order. Each thread stops at its first error, at the last block, or when
/// the prefetch is dropped; dropping it also waits for them, so no thread reads the segment's
/// mapping after its reader is gone.
struct BlockPrefetch {
    /// One channel per thread; block `first_block + i` arrives on `threads[i % len]`.
    threads: Vec<Receiver<Result<Vec<u8>>>>,
    /// The threads, joined on drop.
    handles: Vec<JoinHandle<()>>,
    /// How many blocks the reader has taken.
    taken: usize,
}

impl BlockPrefetch {
    fn start(segment: &SealedSegment, first_block: usize) -> Result<BlockPrefetch> {
        let mut prefetch = BlockPrefetch {
            threads: Vec::with_capacity(PREFETCH_THREADS),
            handles: Vec::with_capacity(PREFETCH_THREADS),
            taken: 0,
        };
        for thread in 0..PREFETCH_THREADS {
            let (sender, receiver) = crossbeam_channel::bounded(PREFETCH_BLOCKS);
            let segment = segment.clone();
            let handle = std::thread::Builder::new()
                .name("agentrail-prefetch".into())
                .spawn(move || {
                    let blocks = segment.blocks.len();
                    for number in (first_block + thread..blocks).step_by(PREFETCH_THREADS) {
                        let block = segment.block(number);
                        let failed = block.is_err();
                        if sender.send(block).is_err() || failed {
                            break;
                        }
                    }
                })
                .map_err(|error| Error::io("starting a block prefetch thread", error))?;
            prefetch.threads.push(receiver);
            prefetch.handles.push(handle);
        }
        Ok(prefetch)
    }

    /// The next block in order.
    fn next(&mut self, path: &Path) -> Result<Vec<u8>> {
        let receiver = &self.threads[self.taken % self.threads.len()];
        self.taken += 1;
        receiver.recv().map_err(|_| {
            Error::io(
                format!("reading {}", path.display()),
                std::io::Error::other("the block prefetch thread stopped"),
            )
        })?
    }
}

impl Drop for BlockPrefetch {
    fn drop(&mut self) {
        // Closing the channels makes each thread's next send fail; it then stops after the
        // block in hand.
        self.threads.clear();
        for handle in self.handles.drain(..) {
            // A prefetch thread that panicked has nothing left to report: the reader got an
            // error or was done with the segment.
            let _ = handle.join();
        }
    }
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
        blocks: BlockPrefetch,
        block: usize,
        buffer: Vec<u8>,
        position: usize,
        cursor_lsn: u64,
    },
    Active(ActiveCursor),
}

/// Where a reader is in an active segment: `buffer` holds the file's bytes from
/// `buffer_offset`, and the frame of LSN `cursor_lsn` starts at `buffer[position]`.
struct ActiveCursor {
    path: PathBuf,
    file: Box<dyn VfsFile>,
    buffer: Vec<u8>,
    buffer_offset: u64,
    position: usize,
    cursor_lsn: u64,
}

/// What an active segment holds next.
enum ActiveStep {
    Record(Record),
    /// The file ends after the last frame.
    End,
    /// The frame at file offset `at` fails a check.
    BadFrame {
        at: u64,
        error: FrameError,
    },
}

/// What a read-only reader has found of the log's end.
#[derive(Debug, Default)]
struct ReadOnlyEnd {
    /// The torn tail the log ends in, once the reader met it.
    torn_tail: Option<TornTail>,
    /// The append the log ends inside (being written, or cut short by a crash that no writer
    /// has recovered from yet), which the reader stops before.
    unfinished: Option<CutBatch>,
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
    /// The chain a sealed segment read to its end ended with (its footer's): the next
    /// segment's header must link to it, or it is stale, from another journal, or out of order.
    finished_chain: Option<u32>,
    current_segment: u64,
    done: bool,
    /// The recovery checkpoint: a known frame boundary, where reading an active segment may
    /// start instead of at its first record, and, for a read-only reader, the position before
    /// which the log was synced.
    checkpoint: Option<Checkpoint>,
    /// The last frame the journal's writer had written when the reader was made.
    last_frame: Option<FrameBoundary>,
    /// Set for a reader that writes nothing and reads to the end of the log it finds.
    read_only: Option<ReadOnlyEnd>,
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
            finished_chain: None,
            current_segment: 0,
            done: false,
            checkpoint: None,
            last_frame: None,
            read_only: None,
        }
    }

    /// A reader of every record of the journal in `dir` that writes nothing: no lock, no
    /// recovery, no damage marker. It has no last LSN to stop at: it reads to the end of the
    /// last segment, or to a torn tail there, which it leaves in place and reports through
    /// [`Reader::torn_tail`]. A bad frame that section 9 calls corruption ends it with that
    /// error, as does damage it could not see on its way: a checkpoint recording more records
    /// than the log holds, or a damage marker left by someone else.
    pub(crate) fn read_only(vfs: Arc<dyn Vfs>, dir: &Path) -> Result<Reader> {
        if !vfs.exists(dir) {
            return Err(Error::NotFound(dir.to_path_buf()));
        }
        // The checkpoint before the listing: it names a segment only once that segment is
        // durable, so a listing made after it holds every segment it names.
        let checkpoint = read_checkpoint(vfs.as_ref(), dir);
        let segments = list_segments(vfs.as_ref(), dir)?;
        // An append is whole or nothing (`format-spec/journal.md` section 11): one the log ends
        // inside is not shown. Damage met on the way is the reading's to report, not this.
        let floor = super::batch::cut_floor(checkpoint.as_ref());
        let unfinished = super::batch::unfinished(vfs.as_ref(), dir, floor)
            .ok()
            .flatten();
        let last_lsn = unfinished
            .as_ref()
            .map_or(u64::MAX, |append| append.first_lsn - 1);
        let mut reader = Reader::new(vfs, dir, segments, 1, last_lsn).with_start_hint(checkpoint);
        reader.read_only = Some(ReadOnlyEnd {
            torn_tail: None,
            unfinished,
        });
        Ok(reader)
    }

    /// Lets reads of an active segment start at the checkpoint's position when the LSN asked
    /// for is at or after it: a read near the end of a 64 MiB segment then hops over at most
    /// one checkpoint interval of frames. The frames found there are checked as any others, so
    /// a hint that does not match the log is corruption, as recovery treats it.
    pub(crate) fn with_start_hint(mut self, hint: Option<Checkpoint>) -> Reader {
        self.checkpoint = hint;
        self
    }

    /// Lets a read of the last frame the writer wrote (or of later ones) start at that frame,
    /// usually much nearer the end than the recovery checkpoint. Checked as the checkpoint's
    /// position is.
    pub(crate) fn with_last_frame(mut self, frame: Option<FrameBoundary>) -> Reader {
        self.last_frame = frame;
        self
    }

    /// The nearest known frame boundary of active segment `segment` at or before the LSN to
    /// read next.
    fn start_in_active(&self, segment: u64) -> Option<FrameBoundary> {
        let checkpoint = self.checkpoint.as_ref().map(FrameBoundary::of_checkpoint);
        [checkpoint, self.last_frame]
            .into_iter()
            .flatten()
            .filter(|hint| {
                hint.segment == segment
                    && hint.lsn <= self.next_lsn
                    && hint.offset >= SEGMENT_HEADER_BYTES as u64
            })
            .max_by_key(|hint| hint.lsn)
    }

    /// The last LSN this reader will return (`u64::MAX` for a read-only reader, which finds
    /// the end as it reads).
    pub fn last_lsn(&self) -> u64 {
        self.last_lsn
    }

    /// The torn tail a read-only reader found the log to end in: bad bytes after the last
    /// synced position with nothing valid after them, as a write that a crash cut short leaves
    /// them (format-spec/journal.md section 9), which the next open of the journal truncates.
    pub fn torn_tail(&self) -> Option<&TornTail> {
        self.read_only.as_ref()?.torn_tail.as_ref()
    }

    /// The append a read-only reader found the log to end inside, which it does not return:
    /// being written by another process, or cut short by a crash (the next open of the journal
    /// removes it).
    pub fn unfinished_append(&self) -> Option<&CutBatch> {
        self.read_only.as_ref()?.unfinished.as_ref()
    }

    fn is_last_segment(&self, first_lsn: u64) -> bool {
        self.segments.last() == Some(&first_lsn)
    }

    /// Opens the segment holding the next LSN; `None` when a read-only reader has read the last
    /// segment to its end.
    fn open_source(&mut self) -> Result<Option<Source>> {
        let index = self
            .segments
            .partition_point(|&first| first <= self.next_lsn);
        let Some(&first_lsn) = index
            .checked_sub(1)
            .and_then(|index| self.segments.get(index))
        else {
            if self.read_only.is_some() && self.segments.is_empty() {
                return Ok(None);
            }
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
            if self.read_only.is_some() && self.is_last_segment(first_lsn) {
                return Ok(None);
            }
            // A segment after the finished one that does not start at the next LSN: a gap,
            // named as verify names it.
            if let Some(&after) = self.segments.get(index) {
                let path = segment_path(&self.dir, after);
                return Err(gap_error(&path, after, self.next_lsn));
            }
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
        if let Some(chain) = self.finished_chain.take() {
            check_link(&path, first_lsn, header.prev_chain, self.next_lsn, chain)?;
        }
        if header.is_sealed() {
            let segment = SealedSegment::open(self.vfs.as_ref(), &path, first_lsn)?;
            if segment.footer.last_lsn < self.next_lsn {
                return Err(Error::corruption(&path, segment.file_bytes(), format!("segment ends at LSN {}, before LSN {} which the next segment should start with", segment.footer.last_lsn, self.next_lsn)));
            }
            let block = segment.block_for(self.next_lsn);
            let mut blocks = BlockPrefetch::start(&segment, block)?;
            let buffer = blocks.next(&path)?;
            let cursor_lsn = segment.blocks[block].first_lsn;
            return Ok(Some(Source::Sealed {
                segment,
                blocks,
                block,
                buffer,
                position: 0,
                cursor_lsn,
            }));
        }
        let (buffer_offset, cursor_lsn) = match self.start_in_active(first_lsn) {
            Some(hint) => (hint.offset, hint.lsn),
            None => (SEGMENT_HEADER_BYTES as u64, first_lsn),
        };
        Ok(Some(Source::Active(ActiveCursor {
            path,
            file,
            buffer: Vec::new(),
            buffer_offset,
            position: 0,
            cursor_lsn,
        })))
    }

    /// The next record; `None` when a read-only reader reached the end of the log.
    fn next_record(&mut self) -> Result<Option<Record>> {
        loop {
            if self.source.is_none() {
                match self.open_source()? {
                    Some(source) => self.source = Some(source),
                    None => return Ok(None),
                }
            }
            let next_lsn = self.next_lsn;
            let step = match self.source.as_mut() {
                Some(Source::Sealed {
                    segment,
                    blocks,
                    block,
                    buffer,
                    position,
                    cursor_lsn,
                }) => {
                    // The hot path of a replay: a record goes straight out.
                    let next = sealed_next(
                        segment, blocks, block, buffer, position, cursor_lsn, next_lsn,
                    )?;
                    if let Some(record) = next {
                        self.next_lsn += 1;
                        return Ok(Some(record));
                    }
                    ActiveStep::End
                }
                Some(Source::Active(cursor)) => cursor.next(next_lsn)?,
                None => ActiveStep::End,
            };
            match step {
                ActiveStep::Record(record) => {
                    self.next_lsn += 1;
                    return Ok(Some(record));
                }
                ActiveStep::End => {
                    self.finished_chain = match self.source.take() {
                        Some(Source::Sealed { segment, .. }) => Some(segment.footer.end_chain),
                        _ => None,
                    };
                    self.finished_segment = Some(self.current_segment);
                }
                ActiveStep::BadFrame { at, error } => {
                    if self.end_at_bad_frame(at, error)? {
                        return Ok(None);
                    }
                }
            }
        }
    }

    /// At a bad frame of an active segment: corruption, unless this is a read-only reader in the
    /// last segment, which applies section 9's rule. Returns true when the log ends in a torn
    /// tail there, false when the frame turned out whole (a writer was finishing it).
    fn end_at_bad_frame(&mut self, at: u64, error: FrameError) -> Result<bool> {
        let is_last = self.is_last_segment(self.current_segment);
        let (Some(read_only), Some(Source::Active(cursor)), true) =
            (self.read_only.as_mut(), self.source.as_mut(), is_last)
        else {
            let path = segment_path(&self.dir, self.current_segment);
            return Err(Error::corruption(path, at, error.to_string()));
        };
        let synced = synced_past(self.checkpoint.as_ref(), self.current_segment, at);
        match cursor.torn_tail_at(at, synced)? {
            Some(torn) => {
                read_only.torn_tail = Some(torn);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// For a read-only reader at the end of the log: damage that reading could not see on its
    /// way there.
    fn damage_at_end(&self) -> Option<Error> {
        self.read_only.as_ref()?;
        let last_lsn = self.next_lsn - 1;
        if let Some(checkpoint) = self
            .checkpoint
            .filter(|checkpoint| checkpoint.next_lsn > self.next_lsn)
        {
            return Some(Error::corruption(
                self.dir.join(CHECKPOINT_FILE),
                32,
                format!(
                    "the checkpoint records LSNs up to {} as durable, but the log ends at LSN {last_lsn}",
                    checkpoint.next_lsn - 1
                ),
            ));
        }
        super::damage_marker(self.vfs.as_ref(), &self.dir).map(Error::Damaged)
    }
}

/// The next record at or after `next_lsn` from a sealed segment, or `None` at its end.
fn sealed_next(
    segment: &SealedSegment,
    blocks: &mut BlockPrefetch,
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
            *buffer = blocks.next(&segment.path)?;
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
                flags: frame.header.flags & !FRAME_FLAG_BATCH_CONTINUES,
                payload,
            }));
        }
    }
}

impl ActiveCursor {
    /// Makes sure `buffer[position..]` holds at least `needed` bytes; false if the file ends
    /// first.
    fn fill(&mut self, needed: usize) -> Result<bool> {
        if self.buffer.len() - self.position >= needed {
            return Ok(true);
        }
        self.buffer.drain(..self.position);
        self.buffer_offset += self.position as u64;
        self.position = 0;
        let have = self.buffer.len();
        let file_len = self
            .file
            .len()
            .map_err(io_error(&self.path, "reading the length of"))?;
        let left_in_file = file_len.saturating_sub(self.buffer_offset + have as u64) as usize;
        // A chunk at a time, but never more than the file holds: most active segments are small.
        let want = needed.max(ACTIVE_READ_CHUNK_BYTES.min(left_in_file));
        self.buffer.resize(have + want, 0);
        let mut filled = have;
        while filled < self.buffer.len() {
            let read = self
                .file
                .read_at(
                    &mut self.buffer[filled..],
                    self.buffer_offset + filled as u64,
                )
                .map_err(io_error(&self.path, "reading"))?;
            if read == 0 {
                break;
            }
            filled += read;
        }
        self.buffer.truncate(filled);
        Ok(filled >= needed)
    }

    /// The next record at or after `next_lsn`. Frames before `next_lsn` are hopped over by
    /// their headers alone.
    fn next(&mut self, next_lsn: u64) -> Result<ActiveStep> {
        loop {
            let at = self.buffer_offset + self.position as u64;
            if !self.fill(FRAME_HEADER_BYTES)? {
                if self.buffer.len() == self.position {
                    return Ok(ActiveStep::End);
                }
                return Ok(ActiveStep::BadFrame {
                    at,
                    error: FrameError::Incomplete,
                });
            }
            let frame = match decode_frame_header(&self.buffer, self.position, self.cursor_lsn) {
                Ok(frame) => frame,
                Err(error) => return Ok(ActiveStep::BadFrame { at, error }),
            };
            let frame_len = frame.header.frame_len() as usize;
            if !self.fill(frame_len)? {
                return Ok(ActiveStep::BadFrame {
                    at,
                    error: FrameError::Incomplete,
                });
            }
            if frame.header.lsn < next_lsn {
                self.position += frame_len;
                self.cursor_lsn += 1;
                continue;
            }
            let frame = match decode_frame(&self.buffer, self.position, self.cursor_lsn) {
                Ok(frame) => frame,
                Err(error) => return Ok(ActiveStep::BadFrame { at, error }),
            };
            let payload = frame.payload(&self.buffer).to_vec();
            self.position = frame.end();
            self.cursor_lsn += 1;
            return Ok(ActiveStep::Record(Record {
                lsn: frame.header.lsn,
                kind: frame.header.kind,
                flags: frame.header.flags & !FRAME_FLAG_BATCH_CONTINUES,
                payload,
            }));
        }
    }

    /// Section 9's rule for the bad frame at file offset `at`, the reader's position in the
    /// last segment, over the bytes from there to the end of the file, read again: a writer in
    /// another process may have been finishing that frame, and then it is whole now and the
    /// cursor reads on (`None`). Otherwise the frame is a torn tail (returned, left in place) or
    /// corruption. `synced` says the checkpoint puts `at` before the log's synced end.
    fn torn_tail_at(&mut self, at: u64, synced: bool) -> Result<Option<TornTail>> {
        let file_len = self
            .file
            .len()
            .map_err(io_error(&self.path, "reading the length of"))?;
        let mut rest = vec![0u8; file_len.saturating_sub(at) as usize];
        self.file
            .read_exact_at(&mut rest, at)
            .map_err(io_error(&self.path, "reading"))?;
        let error = match decode_frame(&rest, 0, self.cursor_lsn) {
            Ok(_) => {
                self.buffer.truncate(self.position);
                self.buffer.extend_from_slice(&rest);
                return Ok(None);
            }
            Err(error) => error,
        };
        if let Some(reason) = bad_frame_damage(&rest, 0, at, self.cursor_lsn, &error, synced) {
            return Err(Error::corruption(&self.path, at, reason));
        }
        Ok(Some(TornTail {
            segment: self.path.clone(),
            offset: at,
            bytes_dropped: rest.len() as u64,
            lsn: self.cursor_lsn,
        }))
    }
}

impl Iterator for Reader {
    type Item = Result<Record>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.next_lsn > self.last_lsn {
            // A read-only reader stopped before an unfinished append still checks what reading
            // to the end checks.
            self.done = true;
            return self.damage_at_end().map(Err);
        }
        match self.next_record() {
            Ok(Some(record)) => Some(Ok(record)),
            Ok(None) => {
                self.done = true;
                self.damage_at_end().map(Err)
            }
            Err(error) => {
                self.done = true;
                if self.read_only.is_none() {
                    super::mark_damaged(self.vfs.as_ref(), &self.dir, &error);
                }
                Some(Err(error))
            }
        }
    }
}
