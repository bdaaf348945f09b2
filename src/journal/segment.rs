//! Segment files: their names, the frames inside them, and the two shapes a segment has on
//! disk. An *active* segment is a header followed by raw frames and is only ever appended to;
//! a *sealed* one is the same frames regrouped into independent zstd blocks with an index and a
//! footer (`format-spec/journal.md` sections 3 to 5). Segments are created and sealed through a
//! temporary file, a sync and a rename, so a segment file is either whole or absent.

use super::format::{
    chain_next, BlockIndexEntry, FrameHeader, FrameHeaderError, SealedFooter, SegmentHeader,
    Tombstone, FOOTER_BYTES, FRAME_HEADER_BYTES, INDEX_ENTRY_BYTES, RECORD_PAYLOAD_BYTES_MAX,
    SEALED_BLOCK_BYTES, SEALED_BLOCK_BYTES_MAX, SEGMENT_FLAG_SEALED, SEGMENT_FLAG_TOMBSTONES,
    SEGMENT_HEADER_BYTES,
};
use super::vfs::{MappedBytes, Vfs, VfsFile};
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// zstd level for sealed blocks: fast to write, and decompression speed does not depend on it.
pub const SEALED_ZSTD_LEVEL: i32 = 1;
/// Most threads one roll compresses its blocks on.
pub const SEAL_THREADS_MAX: usize = 4;
const SEGMENT_SUFFIX: &str = ".seg";
pub const TEMP_SUFFIX: &str = ".tmp";
const SEGMENT_NAME_DIGITS: usize = 20;

/// The file name of the segment whose first record has `first_lsn`.
pub fn segment_name(first_lsn: u64) -> String {
    format!(
        "{first_lsn:0width$}{SEGMENT_SUFFIX}",
        width = SEGMENT_NAME_DIGITS
    )
}

pub fn segment_path(dir: &Path, first_lsn: u64) -> PathBuf {
    dir.join(segment_name(first_lsn))
}

/// Parses a segment file name back to its first LSN; `None` for any other file.
pub fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SEGMENT_SUFFIX)?;
    if digits.len() != SEGMENT_NAME_DIGITS || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The first LSNs of every segment in `dir`, in log order.
pub fn list_segments(vfs: &dyn Vfs, dir: &Path) -> Result<Vec<u64>> {
    let names = vfs
        .list_dir(dir)
        .map_err(|error| Error::io(format!("listing {}", dir.display()), error))?;
    Ok(segments_among(&names))
}

/// The first LSNs of the segments among file `names`, in log order.
pub fn segments_among(names: &[String]) -> Vec<u64> {
    let mut segments: Vec<u64> = names
        .iter()
        .filter_map(|name| parse_segment_name(name))
        .collect();
    segments.sort_unstable();
    segments
}

/// A record frame decoded from a buffer.
#[derive(Debug, Clone, Copy)]
pub struct Frame {
    pub header: FrameHeader,
    pub header_bytes: [u8; FRAME_HEADER_BYTES],
    /// The header bytes the chain continues over: the frame's own, or, for a tombstone (known
    /// once [`decode_frame`] checked its payload), the header of the record it replaced.
    pub chain_bytes: [u8; FRAME_HEADER_BYTES],
    /// Offset of the payload in the buffer.
    pub payload_start: usize,
}

impl Frame {
    pub fn payload<'a>(&self, buffer: &'a [u8]) -> &'a [u8] {
        &buffer[self.payload_start..self.payload_start + self.header.payload_len as usize]
    }

    pub fn end(&self) -> usize {
        self.payload_start + self.header.payload_len as usize
    }
}

/// Why the bytes at some position are not the frame expected there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// The buffer ends inside the header or the payload.
    Incomplete,
    /// The header's checksum or length check failed.
    BadHeader(String),
    /// A valid header with another LSN than the one expected.
    WrongLsn { expected: u64, found: u64 },
    /// The payload's checksum does not match.
    BadPayload { lsn: u64 },
    /// A tombstone whose payload passes its checksum but does not hold a valid kept header.
    BadTombstone { lsn: u64, reason: String },
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Incomplete => f.write_str("record is incomplete"),
            FrameError::BadHeader(reason) => write!(f, "record header is damaged: {reason}"),
            FrameError::WrongLsn { expected, found } => {
                write!(f, "expected LSN {expected}, found LSN {found}")
            }
            FrameError::BadPayload { lsn } => {
                write!(f, "payload checksum mismatch in record LSN {lsn}")
            }
            FrameError::BadTombstone { lsn, reason } => {
                write!(f, "record LSN {lsn}: {reason}")
            }
        }
    }
}

fn read_header_bytes(buffer: &[u8], position: usize) -> Option<[u8; FRAME_HEADER_BYTES]> {
    let bytes = buffer.get(position..position + FRAME_HEADER_BYTES)?;
    let mut header = [0u8; FRAME_HEADER_BYTES];
    header.copy_from_slice(bytes);
    Some(header)
}

/// Decodes only the frame header at `position`, checking its checksum, length and LSN.
pub fn decode_frame_header(
    buffer: &[u8],
    position: usize,
    expected_lsn: u64,
) -> Result<Frame, FrameError> {
    let header_bytes = read_header_bytes(buffer, position).ok_or(FrameError::Incomplete)?;
    let header = FrameHeader::decode(&header_bytes).map_err(|error| match error {
        FrameHeaderError::Checksum => FrameError::BadHeader("header checksum mismatch".into()),
        FrameHeaderError::TooLong(len) => FrameError::BadHeader(format!(
            "payload length {len} exceeds the limit of {RECORD_PAYLOAD_BYTES_MAX} bytes"
        )),
    })?;
    if header.lsn != expected_lsn {
        return Err(FrameError::WrongLsn {
            expected: expected_lsn,
            found: header.lsn,
        });
    }
    Ok(Frame {
        header,
        header_bytes,
        chain_bytes: header_bytes,
        payload_start: position + FRAME_HEADER_BYTES,
    })
}

/// Decodes and fully checks the frame at `position`.
pub fn decode_frame(
    buffer: &[u8],
    position: usize,
    expected_lsn: u64,
) -> Result<Frame, FrameError> {
    let mut frame = decode_frame_header(buffer, position, expected_lsn)?;
    let payload = buffer
        .get(frame.payload_start..frame.end())
        .ok_or(FrameError::Incomplete)?;
    if !frame.header.payload_matches(payload) {
        return Err(FrameError::BadPayload {
            lsn: frame.header.lsn,
        });
    }
    if frame.header.is_tombstone() {
        let tombstone = Tombstone::decode(&frame.header, payload).map_err(|reason| {
            FrameError::BadTombstone {
                lsn: frame.header.lsn,
                reason,
            }
        })?;
        frame.chain_bytes = tombstone.kept_header_bytes;
    }
    Ok(frame)
}

/// Looks for any complete, valid frame after the bad frame at `from` whose LSN is at least
/// `min_lsn`. Finding one means the damage at `from` is followed by good records: corruption,
/// not a torn tail. When the header at `from` passes its checksum, the bytes its length claims
/// are its own and the search starts after them: a torn record's payload may hold anything,
/// the bytes of a valid frame included, and those are not a record that follows it. The LSN
/// bound filters most offsets before a checksum is computed.
pub fn find_valid_frame_after(buffer: &[u8], from: usize, min_lsn: u64) -> Option<usize> {
    let first = match read_header_bytes(buffer, from).map(|bytes| FrameHeader::decode(&bytes)) {
        Some(Ok(header)) => from.saturating_add(header.frame_len() as usize),
        _ => from + 1,
    };
    find_valid_frame_from(buffer, first, min_lsn)
}

/// Looks for a complete, valid frame starting at `first` or later whose LSN is at least
/// `min_lsn`.
pub fn find_valid_frame_from(buffer: &[u8], first: usize, min_lsn: u64) -> Option<usize> {
    let last_start = buffer.len().checked_sub(FRAME_HEADER_BYTES)?;
    let lsn_max = min_lsn.saturating_add((buffer.len() / FRAME_HEADER_BYTES) as u64);
    for position in first..=last_start {
        let lsn = u64::from_le_bytes(buffer[position + 8..position + 16].try_into().ok()?);
        if lsn < min_lsn || lsn > lsn_max {
            continue;
        }
        if decode_frame(buffer, position, lsn).is_ok() {
            return Some(position);
        }
    }
    None
}

/// Reads and checks the header of the segment at `path`, including that its first LSN matches
/// its name.
pub fn read_segment_header(
    file: &dyn VfsFile,
    path: &Path,
    first_lsn: u64,
) -> Result<SegmentHeader> {
    let mut bytes = [0u8; SEGMENT_HEADER_BYTES];
    let length = file
        .read_at(&mut bytes, 0)
        .map_err(|error| Error::io(format!("reading {}", path.display()), error))?;
    let header = SegmentHeader::decode(&bytes[..length])
        .map_err(|reason| Error::corruption(path, 0, reason))?;
    if header.first_lsn != first_lsn {
        return Err(Error::corruption(
            path,
            16,
            format!(
                "segment header says first LSN {}, its name says {first_lsn}",
                header.first_lsn
            ),
        ));
    }
    Ok(header)
}

pub fn io_error<'a>(path: &'a Path, what: &str) -> impl FnOnce(std::io::Error) -> Error + 'a {
    let what = what.to_owned();
    move |error| Error::io(format!("{what} {}", path.display()), error)
}

/// Writes `bytes` as the file `path` through `path.tmp`, a sync and a rename, then syncs `dir`.
pub fn write_file_atomically(vfs: &dyn Vfs, dir: &Path, path: &Path, bytes: &[u8]) -> Result<()> {
    let mut temp = path.as_os_str().to_owned();
    temp.push(TEMP_SUFFIX);
    let temp = PathBuf::from(temp);
    let file = vfs.create(&temp).map_err(io_error(&temp, "creating"))?;
    file.write_all_at(bytes, 0)
        .map_err(io_error(&temp, "writing"))?;
    file.sync_data().map_err(io_error(&temp, "syncing"))?;
    drop(file);
    vfs.rename(&temp, path)
        .map_err(io_error(path, "renaming into"))?;
    vfs.sync_dir(dir)
        .map_err(io_error(dir, "syncing directory"))
}

/// Creates a new, empty active segment and returns it opened.
pub fn create_segment(
    vfs: &dyn Vfs,
    dir: &Path,
    first_lsn: u64,
    prev_chain: u32,
) -> Result<Box<dyn VfsFile>> {
    let path = segment_path(dir, first_lsn);
    let header = SegmentHeader {
        flags: 0,
        first_lsn,
        prev_chain,
    };
    write_file_atomically(vfs, dir, &path, &header.encode())?;
    vfs.open(&path).map_err(io_error(&path, "opening"))
}

/// What is known of an active segment's content when it is sealed.
#[derive(Debug, Clone, Copy)]
pub struct SealInput {
    pub first_lsn: u64,
    pub prev_chain: u32,
    /// Byte offset where the last record ends.
    pub end: u64,
    pub end_chain: u32,
    pub last_lsn: u64,
}

/// Rewrites the active segment described by `input` as a sealed one, in place (by rename).
pub fn seal_segment(vfs: &dyn Vfs, dir: &Path, file: &dyn VfsFile, input: SealInput) -> Result<()> {
    let path = segment_path(dir, input.first_lsn);
    let mut raw = vec![0u8; (input.end as usize).saturating_sub(SEGMENT_HEADER_BYTES)];
    file.read_exact_at(&mut raw, SEGMENT_HEADER_BYTES as u64)
        .map_err(io_error(&path, "reading for sealing"))?;
    seal_frames(vfs, dir, &raw, input)
}

/// Writes the segment described by `input` as a sealed one (by rename over the active file)
/// from `raw`, its frames after the header, which the writer may still hold in memory.
pub fn seal_frames(vfs: &dyn Vfs, dir: &Path, raw: &[u8], input: SealInput) -> Result<()> {
    let path = segment_path(dir, input.first_lsn);
    let sealed = encode_sealed(&path, raw, input)?;
    write_file_atomically(vfs, dir, &path, &sealed)
}

/// Builds the bytes of a sealed segment from the raw frames of an active one, checking every
/// frame on the way so that damage is never sealed in.
pub fn encode_sealed(path: &Path, raw: &[u8], input: SealInput) -> Result<Vec<u8>> {
    let (spans, chain, tombstones) = split_into_blocks(path, raw, input)?;
    let compressed = compress_blocks(raw, &spans)?;
    let header = SegmentHeader {
        flags: SEGMENT_FLAG_SEALED
            | if tombstones {
                SEGMENT_FLAG_TOMBSTONES
            } else {
                0
            },
        first_lsn: input.first_lsn,
        prev_chain: input.prev_chain,
    };
    let mut out = header.encode().to_vec();
    let mut index = Vec::with_capacity(spans.len() * INDEX_ENTRY_BYTES);
    for (span, block) in spans.iter().zip(&compressed) {
        let entry = BlockIndexEntry {
            first_lsn: span.first_lsn,
            offset: out.len() as u64,
            compressed_len: block.len() as u32,
            raw_len: (span.end - span.start) as u32,
            record_count: span.records,
            compressed_crc: crc32fast::hash(block),
        };
        entry.encode_into(&mut index);
        out.extend_from_slice(block);
    }
    let footer = SealedFooter {
        index_offset: out.len() as u64,
        last_lsn: input.last_lsn,
        raw_bytes: raw.len() as u64,
        block_count: spans.len() as u32,
        index_crc: crc32fast::hash(&index),
        end_chain: chain,
    };
    out.extend_from_slice(&index);
    out.extend_from_slice(&footer.encode());
    Ok(out)
}

/// The records of one sealed block: a byte range of the raw frames.
#[derive(Debug, Clone, Copy)]
struct BlockSpan {
    start: usize,
    end: usize,
    first_lsn: u64,
    records: u32,
}

/// Checks every frame of `raw` and cuts it into blocks; returns them, the chain at the end, and
/// whether any frame is a tombstone.
fn split_into_blocks(
    path: &Path,
    raw: &[u8],
    input: SealInput,
) -> Result<(Vec<BlockSpan>, u32, bool)> {
    let mut spans = Vec::new();
    let mut span = BlockSpan {
        start: 0,
        end: 0,
        first_lsn: input.first_lsn,
        records: 0,
    };
    let (mut lsn, mut chain) = (input.first_lsn, input.prev_chain);
    let mut tombstones = false;
    while span.end < raw.len() {
        let frame = decode_frame(raw, span.end, lsn).map_err(|error| {
            Error::corruption(
                path,
                (SEGMENT_HEADER_BYTES + span.end) as u64,
                error.to_string(),
            )
        })?;
        chain = chain_next(chain, &frame.chain_bytes);
        tombstones |= frame.header.is_tombstone();
        span.end = frame.end();
        span.records += 1;
        lsn += 1;
        if span.end - span.start >= SEALED_BLOCK_BYTES || span.end == raw.len() {
            spans.push(span);
            span = BlockSpan {
                start: span.end,
                end: span.end,
                first_lsn: lsn,
                records: 0,
            };
        }
    }
    if lsn != input.last_lsn + 1 || chain != input.end_chain {
        return Err(Error::corruption(
            path,
            input.end,
            "segment content does not end where its writer recorded",
        ));
    }
    Ok((spans, chain, tombstones))
}

/// Compresses the blocks on up to `SEAL_THREADS_MAX` threads: the blocks are independent, and
/// compression is what a roll spends its time on (measured: 64 MiB at about 500 MB/s on one
/// core, while every appender waits).
fn compress_blocks(raw: &[u8], spans: &[BlockSpan]) -> Result<Vec<Vec<u8>>> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |count| count.get())
        .clamp(1, SEAL_THREADS_MAX)
        .min(spans.len().max(1));
    let per_thread = spans.len().div_ceil(threads).max(1);
    let compress_part = |part: &[BlockSpan]| -> std::io::Result<Vec<Vec<u8>>> {
        let mut compressor = zstd::bulk::Compressor::new(SEALED_ZSTD_LEVEL)?;
        part.iter()
            .map(|span| compressor.compress(&raw[span.start..span.end]))
            .collect()
    };
    let parts: Vec<std::io::Result<Vec<Vec<u8>>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = spans
            .chunks(per_thread)
            .map(|part| scope.spawn(move || compress_part(part)))
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|_| Err(std::io::Error::other("a compression thread panicked")))
            })
            .collect()
    });
    let mut blocks = Vec::with_capacity(spans.len());
    for part in parts {
        blocks.extend(part.map_err(|error| Error::io("compressing a sealed block", error))?);
    }
    Ok(blocks)
}

thread_local! {
    /// One zstd decompression context per thread: creating one per block cost 4% of replay.
    static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { std::cell::RefCell::new(None) };
}

/// Decompresses one block of at most `capacity` bytes with this thread's context.
fn decompress(compressed: &[u8], capacity: usize) -> std::io::Result<Vec<u8>> {
    DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(zstd::bulk::Decompressor::new()?);
        }
        match slot.as_mut() {
            Some(decompressor) => decompressor.decompress(compressed, capacity),
            None => zstd::bulk::decompress(compressed, capacity),
        }
    })
}

/// A sealed segment opened for reading: its mapped bytes, checked footer and block index.
#[derive(Clone)]
pub struct SealedSegment {
    pub path: PathBuf,
    pub header: SegmentHeader,
    pub footer: SealedFooter,
    pub blocks: Vec<BlockIndexEntry>,
    bytes: MappedBytes,
}

impl std::fmt::Debug for SealedSegment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedSegment")
            .field("path", &self.path)
            .field("footer", &self.footer)
            .finish()
    }
}

impl SealedSegment {
    /// Maps a sealed segment and checks its header, footer and index (not yet its blocks).
    pub fn open(vfs: &dyn Vfs, path: &Path, first_lsn: u64) -> Result<SealedSegment> {
        let bytes = vfs.map(path).map_err(io_error(path, "mapping"))?;
        let header =
            SegmentHeader::decode(&bytes).map_err(|reason| Error::corruption(path, 0, reason))?;
        if header.first_lsn != first_lsn {
            return Err(Error::corruption(
                path,
                16,
                format!(
                    "segment header says first LSN {}, its name says {first_lsn}",
                    header.first_lsn
                ),
            ));
        }
        if !header.is_sealed() {
            return Err(Error::corruption(path, 12, "segment is not sealed"));
        }
        let footer_at = bytes
            .len()
            .checked_sub(FOOTER_BYTES)
            .filter(|&at| at >= SEGMENT_HEADER_BYTES)
            .ok_or_else(|| {
                Error::corruption(
                    path,
                    bytes.len() as u64,
                    "sealed segment too short for its footer",
                )
            })?;
        let footer = SealedFooter::decode(&bytes[footer_at..])
            .map_err(|reason| Error::corruption(path, footer_at as u64, reason))?;
        let blocks = Self::decode_index(path, &bytes, footer_at, &footer, &header)?;
        Ok(SealedSegment {
            path: path.to_path_buf(),
            header,
            footer,
            blocks,
            bytes,
        })
    }

    fn decode_index(
        path: &Path,
        bytes: &[u8],
        footer_at: usize,
        footer: &SealedFooter,
        header: &SegmentHeader,
    ) -> Result<Vec<BlockIndexEntry>> {
        let index_len = footer.block_count as u64 * INDEX_ENTRY_BYTES as u64;
        let at = footer.index_offset;
        if footer.block_count == 0
            || at < SEGMENT_HEADER_BYTES as u64
            || at + index_len != footer_at as u64
        {
            return Err(Error::corruption(
                path,
                footer_at as u64,
                "sealed footer's index position or block count is inconsistent",
            ));
        }
        let index = &bytes[at as usize..footer_at];
        if crc32fast::hash(index) != footer.index_crc {
            return Err(Error::corruption(path, at, "block index checksum mismatch"));
        }
        let blocks: Vec<BlockIndexEntry> = index
            .chunks_exact(INDEX_ENTRY_BYTES)
            .map(BlockIndexEntry::decode)
            .collect();
        let mut expected_offset = SEGMENT_HEADER_BYTES as u64;
        let mut expected_lsn = header.first_lsn;
        for (number, block) in blocks.iter().enumerate() {
            let entry_at = at + (number * INDEX_ENTRY_BYTES) as u64;
            if block.offset != expected_offset
                || block.first_lsn != expected_lsn
                || block.record_count == 0
                || block.raw_len > SEALED_BLOCK_BYTES_MAX
            {
                return Err(Error::corruption(
                    path,
                    entry_at,
                    format!("block index entry {number} is inconsistent"),
                ));
            }
            expected_offset += u64::from(block.compressed_len);
            expected_lsn += u64::from(block.record_count);
        }
        if expected_offset != at || expected_lsn != footer.last_lsn + 1 {
            return Err(Error::corruption(
                path,
                at,
                "block index does not cover the segment",
            ));
        }
        Ok(blocks)
    }

    /// The block whose LSN range holds `lsn` (the first block for an LSN before the segment).
    pub fn block_for(&self, lsn: u64) -> usize {
        self.blocks
            .partition_point(|block| block.first_lsn <= lsn)
            .saturating_sub(1)
    }

    /// Decompresses block `number` after checking its checksum.
    pub fn block(&self, number: usize) -> Result<Vec<u8>> {
        let entry = &self.blocks[number];
        let start = entry.offset as usize;
        let compressed = &self.bytes[start..start + entry.compressed_len as usize];
        if crc32fast::hash(compressed) != entry.compressed_crc {
            return Err(Error::corruption(
                &self.path,
                entry.offset,
                format!("block {number} checksum mismatch"),
            ));
        }
        let raw = decompress(compressed, entry.raw_len as usize).map_err(|error| {
            Error::corruption(
                &self.path,
                entry.offset,
                format!("block {number} does not decompress: {error}"),
            )
        })?;
        if raw.len() != entry.raw_len as usize {
            return Err(Error::corruption(
                &self.path,
                entry.offset,
                format!(
                    "block {number} decompresses to {} bytes, index says {}",
                    raw.len(),
                    entry.raw_len
                ),
            ));
        }
        Ok(raw)
    }

    /// Size of the file on disk.
    pub fn file_bytes(&self) -> u64 {
        self.bytes.len() as u64
    }
}
