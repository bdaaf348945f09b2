//! The bytes of format version 1, as `format-spec/journal.md` defines them: the segment header,
//! the record frame header, the sealed segment's block index and footer, and the checkpoint.
//! Each structure encodes to and decodes from a fixed-size little-endian array; decoding checks
//! the structure's own checksum and magic before any field is trusted. Nothing here does I/O.

/// The format version this code writes and reads.
pub const FORMAT_VERSION: u32 = 1;

pub const SEGMENT_MAGIC: [u8; 8] = *b"AGNTRAIL";
pub const SEAL_MAGIC: [u8; 8] = *b"AGNTSEAL";
pub const CHECKPOINT_MAGIC: [u8; 8] = *b"AGNTCKPT";

pub const SEGMENT_HEADER_BYTES: usize = 32;
pub const FRAME_HEADER_BYTES: usize = 24;
pub const INDEX_ENTRY_BYTES: usize = 32;
pub const FOOTER_BYTES: usize = 48;
pub const CHECKPOINT_BYTES: usize = 56;

/// The largest payload a frame may carry.
pub const RECORD_PAYLOAD_BYTES_MAX: u32 = 64 * 1024 * 1024;
/// A sealed block is closed once its uncompressed size reaches this.
pub const SEALED_BLOCK_BYTES: usize = 256 * 1024;
/// The largest uncompressed block a reader accepts (one maximal record plus a full block).
pub const SEALED_BLOCK_BYTES_MAX: u32 =
    RECORD_PAYLOAD_BYTES_MAX + FRAME_HEADER_BYTES as u32 + SEALED_BLOCK_BYTES as u32;

/// Segment flag: the segment is sealed (zstd blocks, index, footer).
pub const SEGMENT_FLAG_SEALED: u32 = 1;
/// Segment flag: the sealed segment holds tombstone frames (section 10 of the spec). A reader
/// of format version 1 refuses it as an unknown flag instead of misreading a tombstone.
pub const SEGMENT_FLAG_TOMBSTONES: u32 = 2;
/// Every segment flag this version knows.
pub const SEGMENT_FLAGS_KNOWN: u32 = SEGMENT_FLAG_SEALED | SEGMENT_FLAG_TOMBSTONES;
/// Frame flag: a reader that does not know the record's kind must stop rather than skip it.
pub const FRAME_FLAG_MUST_UNDERSTAND: u16 = 1;
/// Frame flag: the frame is a tombstone; its payload starts with the original frame header
/// and the SHA-256 of the original payload (section 10 of the spec).
pub const FRAME_FLAG_TOMBSTONE: u16 = 2;
/// Frame flag: the next record belongs to the same append request (section 11 of the spec);
/// a log whose last record carries it ends inside a request a crash cut short.
pub const FRAME_FLAG_BATCH_CONTINUES: u16 = 4;
/// Bytes of a SHA-256 digest.
pub const SHA256_BYTES: usize = 32;
/// Bytes a tombstone payload holds before the caller's summary: the kept header and the hash.
pub const TOMBSTONE_PREFIX_BYTES: usize = FRAME_HEADER_BYTES + SHA256_BYTES;

fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

/// Continues the log's running checksum over one record header.
pub fn chain_next(chain: u32, frame_header: &[u8; FRAME_HEADER_BYTES]) -> u32 {
    let mut hasher = crc32fast::Hasher::new_with_initial(chain);
    hasher.update(frame_header);
    hasher.finalize()
}

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

/// The 32 bytes at the start of every segment file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    pub flags: u32,
    pub first_lsn: u64,
    pub prev_chain: u32,
}

impl SegmentHeader {
    pub fn is_sealed(&self) -> bool {
        self.flags & SEGMENT_FLAG_SEALED != 0
    }

    pub fn encode(&self) -> [u8; SEGMENT_HEADER_BYTES] {
        let mut bytes = [0u8; SEGMENT_HEADER_BYTES];
        bytes[0..8].copy_from_slice(&SEGMENT_MAGIC);
        bytes[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        bytes[12..16].copy_from_slice(&self.flags.to_le_bytes());
        bytes[16..24].copy_from_slice(&self.first_lsn.to_le_bytes());
        bytes[24..28].copy_from_slice(&self.prev_chain.to_le_bytes());
        let crc = crc32(&bytes[0..28]);
        bytes[28..32].copy_from_slice(&crc.to_le_bytes());
        bytes
    }

    /// Decodes and checks a header; the error says which check failed.
    pub fn decode(bytes: &[u8]) -> Result<SegmentHeader, String> {
        if bytes.len() < SEGMENT_HEADER_BYTES {
            return Err(format!(
                "segment header needs {SEGMENT_HEADER_BYTES} bytes, file has {}",
                bytes.len()
            ));
        }
        if bytes[0..8] != SEGMENT_MAGIC {
            return Err("segment header magic is not AGNTRAIL".into());
        }
        if crc32(&bytes[0..28]) != u32_at(bytes, 28) {
            return Err("segment header checksum mismatch".into());
        }
        let version = u32_at(bytes, 8);
        if version != FORMAT_VERSION {
            return Err(format!(
                "segment format version {version}; this agentrail reads version {FORMAT_VERSION}"
            ));
        }
        let flags = u32_at(bytes, 12);
        if flags & !SEGMENT_FLAGS_KNOWN != 0 {
            return Err(format!("segment header has unknown flags {flags:#x}"));
        }
        Ok(SegmentHeader {
            flags,
            first_lsn: u64_at(bytes, 16),
            prev_chain: u32_at(bytes, 24),
        })
    }
}

/// The 24-byte header in front of every record payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    pub payload_len: u32,
    pub lsn: u64,
    pub kind: u16,
    pub flags: u16,
    pub payload_crc: u32,
}

/// Why a frame header did not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameHeaderError {
    Checksum,
    TooLong(u32),
}

impl FrameHeader {
    pub fn for_payload(lsn: u64, kind: u16, flags: u16, payload: &[u8]) -> FrameHeader {
        FrameHeader {
            payload_len: payload.len() as u32,
            lsn,
            kind,
            flags,
            payload_crc: crc32(payload),
        }
    }

    pub fn encode(&self) -> [u8; FRAME_HEADER_BYTES] {
        let mut bytes = [0u8; FRAME_HEADER_BYTES];
        bytes[4..8].copy_from_slice(&self.payload_len.to_le_bytes());
        bytes[8..16].copy_from_slice(&self.lsn.to_le_bytes());
        bytes[16..18].copy_from_slice(&self.kind.to_le_bytes());
        bytes[18..20].copy_from_slice(&self.flags.to_le_bytes());
        bytes[20..24].copy_from_slice(&self.payload_crc.to_le_bytes());
        let crc = crc32(&bytes[4..24]);
        bytes[0..4].copy_from_slice(&crc.to_le_bytes());
        bytes
    }

    /// Decodes a header whose own checksum passes and whose length is within the limit.
    pub fn decode(bytes: &[u8; FRAME_HEADER_BYTES]) -> Result<FrameHeader, FrameHeaderError> {
        if crc32(&bytes[4..24]) != u32_at(bytes, 0) {
            return Err(FrameHeaderError::Checksum);
        }
        let payload_len = u32_at(bytes, 4);
        if payload_len > RECORD_PAYLOAD_BYTES_MAX {
            return Err(FrameHeaderError::TooLong(payload_len));
        }
        Ok(FrameHeader {
            payload_len,
            lsn: u64_at(bytes, 8),
            kind: u16_at(bytes, 16),
            flags: u16_at(bytes, 18),
            payload_crc: u32_at(bytes, 20),
        })
    }

    pub fn is_tombstone(&self) -> bool {
        self.flags & FRAME_FLAG_TOMBSTONE != 0
    }

    pub fn payload_matches(&self, payload: &[u8]) -> bool {
        payload.len() == self.payload_len as usize && crc32(payload) == self.payload_crc
    }

    /// Bytes of header plus payload.
    pub fn frame_len(&self) -> u64 {
        FRAME_HEADER_BYTES as u64 + u64::from(self.payload_len)
    }
}

/// The payload of a tombstone frame: the header of the record it replaces, byte for byte (the
/// chain continues over these bytes), the SHA-256 of the removed payload, and a summary the
/// payload's owner chose to keep (for an event: its envelope and some fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tombstone<'a> {
    pub kept_header_bytes: [u8; FRAME_HEADER_BYTES],
    pub kept_header: FrameHeader,
    pub payload_sha256: [u8; SHA256_BYTES],
    pub summary: &'a [u8],
}

impl<'a> Tombstone<'a> {
    /// The payload of a tombstone for the record with header `kept_header_bytes`.
    pub fn encode(
        kept_header_bytes: &[u8; FRAME_HEADER_BYTES],
        payload_sha256: &[u8; SHA256_BYTES],
        summary: &[u8],
    ) -> Vec<u8> {
        let mut payload = Vec::with_capacity(TOMBSTONE_PREFIX_BYTES + summary.len());
        payload.extend_from_slice(kept_header_bytes);
        payload.extend_from_slice(payload_sha256);
        payload.extend_from_slice(summary);
        payload
    }

    /// Decodes the payload of the tombstone frame with header `header`, checking that the kept
    /// header is a valid, non-tombstone header of the same LSN and kind.
    pub fn decode(header: &FrameHeader, payload: &'a [u8]) -> Result<Tombstone<'a>, String> {
        if payload.len() < TOMBSTONE_PREFIX_BYTES {
            return Err(format!(
                "tombstone payload of {} bytes is shorter than its {TOMBSTONE_PREFIX_BYTES}-byte prefix",
                payload.len()
            ));
        }
        let mut kept_header_bytes = [0u8; FRAME_HEADER_BYTES];
        kept_header_bytes.copy_from_slice(&payload[..FRAME_HEADER_BYTES]);
        let kept_header = FrameHeader::decode(&kept_header_bytes)
            .map_err(|_| "tombstone's kept header is damaged".to_string())?;
        if kept_header.lsn != header.lsn
            || kept_header.kind != header.kind
            || kept_header.flags & FRAME_FLAG_TOMBSTONE != 0
        {
            return Err("tombstone's kept header is not the header of its record".into());
        }
        let mut payload_sha256 = [0u8; SHA256_BYTES];
        payload_sha256.copy_from_slice(&payload[FRAME_HEADER_BYTES..TOMBSTONE_PREFIX_BYTES]);
        Ok(Tombstone {
            kept_header_bytes,
            kept_header,
            payload_sha256,
            summary: &payload[TOMBSTONE_PREFIX_BYTES..],
        })
    }
}

/// One entry of a sealed segment's block index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockIndexEntry {
    pub first_lsn: u64,
    pub offset: u64,
    pub compressed_len: u32,
    pub raw_len: u32,
    pub record_count: u32,
    pub compressed_crc: u32,
}

impl BlockIndexEntry {
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.first_lsn.to_le_bytes());
        out.extend_from_slice(&self.offset.to_le_bytes());
        out.extend_from_slice(&self.compressed_len.to_le_bytes());
        out.extend_from_slice(&self.raw_len.to_le_bytes());
        out.extend_from_slice(&self.record_count.to_le_bytes());
        out.extend_from_slice(&self.compressed_crc.to_le_bytes());
    }

    pub fn decode(bytes: &[u8]) -> BlockIndexEntry {
        BlockIndexEntry {
            first_lsn: u64_at(bytes, 0),
            offset: u64_at(bytes, 8),
            compressed_len: u32_at(bytes, 16),
            raw_len: u32_at(bytes, 20),
            record_count: u32_at(bytes, 24),
            compressed_crc: u32_at(bytes, 28),
        }
    }
}

/// The last 48 bytes of a sealed segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealedFooter {
    pub index_offset: u64,
    pub last_lsn: u64,
    pub raw_bytes: u64,
    pub block_count: u32,
    pub index_crc: u32,
    pub end_chain: u32,
}

impl SealedFooter {
    pub fn encode(&self) -> [u8; FOOTER_BYTES] {
        let mut bytes = [0u8; FOOTER_BYTES];
        bytes[0..8].copy_from_slice(&self.index_offset.to_le_bytes());
        bytes[8..16].copy_from_slice(&self.last_lsn.to_le_bytes());
        bytes[16..24].copy_from_slice(&self.raw_bytes.to_le_bytes());
        bytes[24..28].copy_from_slice(&self.block_count.to_le_bytes());
        bytes[28..32].copy_from_slice(&self.index_crc.to_le_bytes());
        bytes[32..36].copy_from_slice(&self.end_chain.to_le_bytes());
        let crc = crc32(&bytes[0..36]);
        bytes[36..40].copy_from_slice(&crc.to_le_bytes());
        bytes[40..48].copy_from_slice(&SEAL_MAGIC);
        bytes
    }

    pub fn decode(bytes: &[u8]) -> Result<SealedFooter, String> {
        if bytes.len() != FOOTER_BYTES {
            return Err("sealed footer is truncated".into());
        }
        if bytes[40..48] != SEAL_MAGIC {
            return Err("sealed footer magic is not AGNTSEAL".into());
        }
        if crc32(&bytes[0..36]) != u32_at(bytes, 36) {
            return Err("sealed footer checksum mismatch".into());
        }
        Ok(SealedFooter {
            index_offset: u64_at(bytes, 0),
            last_lsn: u64_at(bytes, 8),
            raw_bytes: u64_at(bytes, 16),
            block_count: u32_at(bytes, 24),
            index_crc: u32_at(bytes, 28),
            end_chain: u32_at(bytes, 32),
        })
    }
}

/// The segment files of the log up to a given one, as a checkpoint records them: how many, and
/// a CRC-32 over their first LSNs (8 bytes little-endian each, in log order). Open compares it
/// with the files it lists, so that a sealed segment removed or slipped in before the
/// checkpoint's position is seen at once, not only by the first reader that reaches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SegmentList {
    pub count: u32,
    pub crc: u32,
}

impl SegmentList {
    /// The list of the segments starting at `first_lsns`, in log order.
    pub fn of(first_lsns: &[u64]) -> SegmentList {
        let start = SegmentList::default();
        first_lsns.iter().fold(start, |list, &lsn| list.then(lsn))
    }

    /// This list with one more segment, starting at `first_lsn`, after its last.
    pub fn then(self, first_lsn: u64) -> SegmentList {
        let mut hasher = crc32fast::Hasher::new_with_initial(self.crc);
        hasher.update(&first_lsn.to_le_bytes());
        SegmentList {
            count: self.count.saturating_add(1),
            crc: hasher.finalize(),
        }
    }
}

/// Where the verified log ends, as recorded in `journal/checkpoint`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    pub segment: u64,
    pub offset: u64,
    pub next_lsn: u64,
    pub chain: u32,
    pub last_record_offset: u32,
    /// The segment files up to and including `segment`; `None` in a checkpoint written before
    /// it was recorded (zeros where it lies).
    pub segments: Option<SegmentList>,
}

impl Checkpoint {
    pub fn encode(&self) -> [u8; CHECKPOINT_BYTES] {
        let mut bytes = [0u8; CHECKPOINT_BYTES];
        bytes[0..8].copy_from_slice(&CHECKPOINT_MAGIC);
        bytes[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        let segments = self.segments.unwrap_or_default();
        bytes[12..16].copy_from_slice(&segments.count.to_le_bytes());
        bytes[44..48].copy_from_slice(&segments.crc.to_le_bytes());
        bytes[16..24].copy_from_slice(&self.segment.to_le_bytes());
        bytes[24..32].copy_from_slice(&self.offset.to_le_bytes());
        bytes[32..40].copy_from_slice(&self.next_lsn.to_le_bytes());
        bytes[40..44].copy_from_slice(&self.chain.to_le_bytes());
        bytes[48..52].copy_from_slice(&self.last_record_offset.to_le_bytes());
        let crc = crc32(&bytes[0..52]);
        bytes[52..56].copy_from_slice(&crc.to_le_bytes());
        bytes
    }

    /// Decodes a checkpoint, or `None` if it is damaged or of another version: a checkpoint is
    /// a cache of where recovery may start, never the truth, so a bad one is simply not used.
    pub fn decode(bytes: &[u8]) -> Option<Checkpoint> {
        if bytes.len() != CHECKPOINT_BYTES
            || bytes[0..8] != CHECKPOINT_MAGIC
            || u32_at(bytes, 8) != FORMAT_VERSION
            || crc32(&bytes[0..52]) != u32_at(bytes, 52)
        {
            return None;
        }
        Some(Checkpoint {
            segment: u64_at(bytes, 16),
            offset: u64_at(bytes, 24),
            next_lsn: u64_at(bytes, 32),
            chain: u32_at(bytes, 40),
            last_record_offset: u32_at(bytes, 48),
            segments: match u32_at(bytes, 12) {
                0 => None,
                count => Some(SegmentList {
                    count,
                    crc: u32_at(bytes, 44),
                }),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_header_round_trips_and_rejects_any_flipped_bit() {
        let header = FrameHeader::for_payload(42, 1, 0, b"hello");
        let bytes = header.encode();
        assert_eq!(FrameHeader::decode(&bytes), Ok(header));
        for bit in 0..FRAME_HEADER_BYTES * 8 {
            let mut flipped = bytes;
            flipped[bit / 8] ^= 1 << (bit % 8);
            assert_eq!(
                FrameHeader::decode(&flipped),
                Err(FrameHeaderError::Checksum)
            );
        }
    }

    #[test]
    fn frame_header_rejects_a_length_over_the_limit_even_with_a_valid_checksum() {
        let mut header = FrameHeader::for_payload(1, 1, 0, b"");
        header.payload_len = RECORD_PAYLOAD_BYTES_MAX + 1;
        let bytes = header.encode();
        assert_eq!(
            FrameHeader::decode(&bytes),
            Err(FrameHeaderError::TooLong(RECORD_PAYLOAD_BYTES_MAX + 1))
        );
    }

    #[test]
    fn segment_header_footer_and_checkpoint_round_trip() {
        let header = SegmentHeader {
            flags: SEGMENT_FLAG_SEALED,
            first_lsn: 7,
            prev_chain: 9,
        };
        assert_eq!(SegmentHeader::decode(&header.encode()), Ok(header));
        let footer = SealedFooter {
            index_offset: 100,
            last_lsn: 8,
            raw_bytes: 1000,
            block_count: 2,
            index_crc: 3,
            end_chain: 4,
        };
        assert_eq!(SealedFooter::decode(&footer.encode()), Ok(footer));
        let checkpoint = Checkpoint {
            segment: 1,
            offset: 56,
            next_lsn: 2,
            chain: 77,
            last_record_offset: 32,
            segments: Some(SegmentList::of(&[1])),
        };
        assert_eq!(Checkpoint::decode(&checkpoint.encode()), Some(checkpoint));
        // Written before the list was recorded: zeros there, and no list.
        let older = Checkpoint {
            segments: None,
            ..checkpoint
        };
        assert_eq!(Checkpoint::decode(&older.encode()), Some(older));
        assert_eq!(&older.encode()[12..16], &[0; 4]);
        assert_eq!(&older.encode()[44..48], &[0; 4]);
        let mut damaged = checkpoint.encode();
        damaged[30] ^= 4;
        assert_eq!(Checkpoint::decode(&damaged), None);
    }

    #[test]
    fn a_segment_list_tells_a_missing_an_added_and_a_moved_segment_apart() {
        let list = SegmentList::of(&[1, 100, 200]);
        assert_eq!(list, SegmentList::of(&[1, 100]).then(200));
        assert_eq!(list.count, 3);
        for other in [
            &[1, 200][..],
            &[1, 100, 150, 200],
            &[1, 101, 200],
            &[100, 1, 200],
        ] {
            assert_ne!(SegmentList::of(other), list, "{other:?}");
        }
    }
}
