//! Rewriting sealed segments to remove content: each chosen record becomes a *tombstone* that
//! keeps its LSN, its kind, its original 24-byte frame header and the SHA-256 of the removed
//! payload, plus a summary its owner chooses (`format-spec/journal.md` section 10). The chain
//! runs over the kept header, so the rewritten segment links exactly as before and no later
//! segment changes. A segment is rewritten whole: decompress, replace, re-seal into a temporary
//! file, sync, rename over the old file, sync the directory; a crash leaves the old file or the
//! new one. Only sealed segments are rewritten; the writer seals the active segment first when
//! a chosen record is in it (see `Writer::tombstone`). The caller holds the journal's lock.

use super::format::{
    FrameHeader, Tombstone, RECORD_PAYLOAD_BYTES_MAX, SEGMENT_HEADER_BYTES, SHA256_BYTES,
    TOMBSTONE_PREFIX_BYTES,
};
use super::reader::Record;
use super::segment::{
    decode_frame, encode_sealed, segment_path, write_file_atomically, Frame, SealInput,
    SealedSegment,
};
use super::vfs::Vfs;
use crate::error::{Error, Result};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Makes the summary a tombstone keeps of the record it replaces (for an event: its envelope
/// and the fields that are not free text). Called with the journal's lock held.
pub type Summarizer = Arc<dyn Fn(&Record) -> Result<Vec<u8>> + Send + Sync>;

/// The largest summary a tombstone may keep.
pub const TOMBSTONE_SUMMARY_BYTES_MAX: usize = 64 * 1024;

/// One record replaced by a tombstone.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Tombstoned {
    pub lsn: u64,
    pub kind: u16,
    /// Length of the removed payload.
    pub payload_bytes: u32,
    /// SHA-256 of the removed payload, 64 lowercase hex digits.
    pub payload_sha256: String,
}

/// One sealed segment rewritten.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SegmentRewrite {
    pub path: PathBuf,
    pub file_bytes_before: u64,
    pub file_bytes_after: u64,
}

/// What [`super::Journal::tombstone`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct TombstoneReport {
    /// Records replaced by tombstones, in LSN order.
    pub tombstoned: Vec<Tombstoned>,
    /// LSNs asked for that were tombstones already (left as they were).
    pub already: Vec<u64>,
    pub rewritten: Vec<SegmentRewrite>,
    /// True when the active segment was sealed first, because a record asked for was in it.
    pub sealed_active: bool,
}

/// Lowercase hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Rewrites the sealed segment starting at `first_lsn` with every record whose LSN is in
/// `lsns` replaced by a tombstone; records that are tombstones already stay as they are.
pub fn rewrite_sealed(
    vfs: &dyn Vfs,
    dir: &Path,
    first_lsn: u64,
    lsns: &BTreeSet<u64>,
    summarize: &Summarizer,
    report: &mut TombstoneReport,
) -> Result<()> {
    let path = segment_path(dir, first_lsn);
    let segment = SealedSegment::open(vfs, &path, first_lsn)?;
    let mut raw = Vec::with_capacity(segment.footer.raw_bytes as usize);
    // Where each block's frames start in `raw`, to name a damaged frame's block.
    let mut block_starts = Vec::with_capacity(segment.blocks.len());
    for number in 0..segment.blocks.len() {
        block_starts.push(raw.len());
        raw.extend_from_slice(&segment.block(number)?);
    }
    let mut rewritten = Vec::with_capacity(raw.len());
    let (mut position, mut lsn, mut changed) = (0usize, first_lsn, false);
    while position < raw.len() {
        let frame = decode_frame(&raw, position, lsn).map_err(|error| {
            // Blocks hold whole frames, so the frame starts in the last block starting at or
            // before it.
            let block = block_starts.partition_point(|&start| start <= position) - 1;
            Error::corruption(
                &path,
                segment.blocks[block].offset,
                format!(
                    "while rewriting, block {block} (uncompressed offset {}): {error}",
                    position - block_starts[block]
                ),
            )
        })?;
        let bytes = &raw[position..frame.end()];
        if !lsns.contains(&lsn) {
            rewritten.extend_from_slice(bytes);
        } else if frame.header.is_tombstone() {
            report.already.push(lsn);
            rewritten.extend_from_slice(bytes);
        } else {
            let (tombstone, done) = tombstone_frame(&raw, &frame, summarize)?;
            rewritten.extend_from_slice(&tombstone);
            report.tombstoned.push(done);
            changed = true;
        }
        position = frame.end();
        lsn += 1;
    }
    if !changed {
        return Ok(());
    }
    let input = SealInput {
        first_lsn,
        prev_chain: segment.header.prev_chain,
        end: (SEGMENT_HEADER_BYTES + rewritten.len()) as u64,
        end_chain: segment.footer.end_chain,
        last_lsn: segment.footer.last_lsn,
    };
    // encode_sealed checks every frame again and that the chain still ends at the footer's
    // end_chain: a rewrite can never seal in a log that does not link.
    let sealed = encode_sealed(&path, &rewritten, input)?;
    let file_bytes_before = segment.file_bytes();
    drop(segment);
    write_file_atomically(vfs, dir, &path, &sealed)?;
    report.rewritten.push(SegmentRewrite {
        path,
        file_bytes_before,
        file_bytes_after: sealed.len() as u64,
    });
    Ok(())
}

/// The tombstone frame replacing `frame` (a frame of `raw`), and what it records.
fn tombstone_frame(
    raw: &[u8],
    frame: &Frame,
    summarize: &Summarizer,
) -> Result<(Vec<u8>, Tombstoned)> {
    let header = &frame.header;
    let payload = frame.payload(raw);
    let record = Record {
        lsn: header.lsn,
        kind: header.kind,
        flags: header.flags,
        payload: payload.to_vec(),
    };
    let summary = summarize(&record)?;
    if summary.len() > TOMBSTONE_SUMMARY_BYTES_MAX {
        return Err(Error::TombstoneTooLarge {
            lsn: header.lsn,
            bytes: summary.len() as u64,
            bytes_max: TOMBSTONE_SUMMARY_BYTES_MAX as u64,
        });
    }
    let digest: [u8; SHA256_BYTES] = Sha256::digest(payload).into();
    let tombstone_payload = Tombstone::encode(&frame.header_bytes, &digest, &summary);
    debug_assert!(tombstone_payload.len() <= TOMBSTONE_PREFIX_BYTES + TOMBSTONE_SUMMARY_BYTES_MAX);
    debug_assert!(tombstone_payload.len() as u64 <= u64::from(RECORD_PAYLOAD_BYTES_MAX));
    let tombstone_header = FrameHeader::for_payload(
        header.lsn,
        header.kind,
        header.flags | super::format::FRAME_FLAG_TOMBSTONE,
        &tombstone_payload,
    );
    let mut bytes = tombstone_header.encode().to_vec();
    bytes.extend_from_slice(&tombstone_payload);
    Ok((
        bytes,
        Tombstoned {
            lsn: header.lsn,
            kind: header.kind,
            payload_bytes: header.payload_len,
            payload_sha256: hex(&digest),
        },
    ))
}

/// Groups `lsns` by the segment (first LSN) that holds each, given the segments in log order.
pub fn by_segment(segments: &[u64], lsns: &BTreeSet<u64>) -> Vec<(u64, BTreeSet<u64>)> {
    let mut groups: Vec<(u64, BTreeSet<u64>)> = Vec::new();
    for &lsn in lsns {
        let index = segments.partition_point(|&first| first <= lsn);
        let Some(&first) = index.checked_sub(1).and_then(|index| segments.get(index)) else {
            continue;
        };
        match groups.last_mut() {
            Some((segment, group)) if *segment == first => {
                group.insert(lsn);
            }
            _ => groups.push((first, BTreeSet::from([lsn]))),
        }
    }
    groups
}
