//! Helpers shared by the crash, torn-tail and bit-flip tests: deterministic payloads, reading a
//! whole journal back, journal directories kept in memory so that every case starts from the
//! same bytes, and a parser of the on-disk layout written from `format-spec/journal.md` alone
//! (not from the library's decoder), so that a test's idea of where a frame or a footer lies
//! cannot share a bug with the code under test.

#![allow(dead_code)] // each test binary uses a different part of this module

use agentrail::journal::{Journal, Record};
use std::path::{Path, PathBuf};

/// SplitMix64: a tiny deterministic generator, so every case is reproducible from its seed.
pub fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The payload of the record with LSN `lsn` in the deterministic workloads. Lengths vary from
/// empty to a few hundred bytes, with an occasional record larger than a 4 KiB segment; the
/// bytes start with the LSN and are half text, half noise, so they compress somewhat and a
/// record found at another LSN, or with other bytes, is noticed.
pub fn payload(lsn: u64) -> Vec<u8> {
    let mut state = lsn;
    let roll = splitmix(&mut state);
    let len = match roll % 41 {
        0 => 0,
        1 => 4500 + (roll >> 8) as usize % 1500,
        _ => 8 + (roll >> 8) as usize % 400,
    };
    let mut bytes = lsn.to_le_bytes().to_vec();
    while bytes.len() < len {
        let word = splitmix(&mut state);
        if word.is_multiple_of(2) {
            bytes.extend_from_slice(b"tool_call ");
        } else {
            bytes.extend_from_slice(&word.to_le_bytes());
        }
    }
    bytes.truncate(len);
    bytes
}

/// Every record of the journal, or the first error met while reading.
pub fn read_all(journal: &Journal) -> agentrail::Result<Vec<Record>> {
    journal.iter()?.collect()
}

/// Asserts that `records` are exactly LSNs 1..=n with the payloads of [`payload`].
pub fn assert_deterministic_prefix(records: &[Record], context: &str) {
    for (index, record) in records.iter().enumerate() {
        let lsn = index as u64 + 1;
        assert_eq!(
            record.lsn, lsn,
            "{context}: record {index} has the wrong LSN"
        );
        assert!(
            record.payload == payload(lsn),
            "{context}: record LSN {lsn} has other bytes than were appended"
        );
    }
}

/// A temporary directory, in RAM when the machine has `/dev/shm`: the torn-tail and bit-flip
/// tests open a journal thousands of times and each open may `fdatasync`, which costs
/// milliseconds on a disk and nothing on tmpfs. The code path is the real file system's either
/// way.
pub fn fast_tempdir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(dir) = tempfile::Builder::new()
            .prefix("agentrail-test")
            .tempdir_in(shm)
        {
            return dir;
        }
    }
    tempfile::tempdir().unwrap()
}

/// The files of a journal directory, held in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskImage {
    pub files: Vec<(String, Vec<u8>)>,
}

impl DiskImage {
    pub fn capture(dir: &Path) -> DiskImage {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_file() {
                let name = entry.file_name().to_string_lossy().into_owned();
                files.push((name, std::fs::read(entry.path()).unwrap()));
            }
        }
        files.sort();
        DiskImage { files }
    }

    /// Makes `dir` hold exactly these files.
    pub fn restore(&self, dir: &Path) {
        std::fs::create_dir_all(dir).unwrap();
        self.remove_other_files(dir);
        for (name, bytes) in &self.files {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }

    /// Removes the files of `dir` that are not in the image (a damage marker, a new segment),
    /// so that the next case starts from the image again.
    pub fn remove_other_files(&self, dir: &Path) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            if !self.files.iter().any(|(kept, _)| *kept == name) {
                std::fs::remove_file(dir.join(name)).unwrap();
            }
        }
    }

    pub fn file(&self, name: &str) -> &[u8] {
        &self
            .files
            .iter()
            .find(|(kept, _)| kept == name)
            .unwrap_or_else(|| panic!("no file {name} in the image"))
            .1
    }

    /// Names of the segment files, in log order.
    pub fn segments(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .files
            .iter()
            .map(|(name, _)| name.clone())
            .filter(|name| is_segment_name(name))
            .collect();
        names.sort();
        names
    }
}

pub fn is_segment_name(name: &str) -> bool {
    name.strip_suffix(".seg")
        .is_some_and(|digits| digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
}

/// Names of the segment files in a real directory, in log order.
pub fn segment_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| is_segment_name(name))
        .collect();
    names.sort();
    names
}

/// Paths of the segment files in a real directory, in log order.
pub fn segment_paths(dir: &Path) -> Vec<PathBuf> {
    segment_names(dir)
        .into_iter()
        .map(|name| dir.join(name))
        .collect()
}

pub fn segment_file_name(first_lsn: u64) -> String {
    format!("{first_lsn:020}.seg")
}

/// The first LSN a segment file's name gives (its 20 digits).
pub fn segment_first_lsn(path: &Path) -> u64 {
    let stem = path.file_stem().and_then(|stem| stem.to_str());
    stem.and_then(|digits| digits.parse().ok())
        .unwrap_or_else(|| panic!("{} is not named as a segment", path.display()))
}

pub fn path_of(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap())
}

pub const SEGMENT_HEADER_BYTES: usize = 32;
pub const FRAME_HEADER_BYTES: usize = 24;
pub const INDEX_ENTRY_BYTES: usize = 32;
pub const FOOTER_BYTES: usize = 48;
pub const CHECKPOINT_BYTES: usize = 56;

/// True when the segment header's SEALED flag (bit 0 of the flags at offset 12) is set.
pub fn is_sealed(segment: &[u8]) -> bool {
    u32_at(segment, 12) & 1 == 1
}

/// A record frame of an active segment: its LSN and where it lies in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameSpan {
    pub lsn: u64,
    pub start: usize,
    pub end: usize,
}

/// The frames of an undamaged active segment, read by their length fields (section 4).
pub fn active_frames(segment: &[u8]) -> Vec<FrameSpan> {
    assert!(!is_sealed(segment), "not an active segment");
    frames_from(segment, SEGMENT_HEADER_BYTES)
}

/// The frames back to back in `bytes` from `start` to the end (an active segment's body, or a
/// sealed block once decompressed).
pub fn frames_from(bytes: &[u8], start: usize) -> Vec<FrameSpan> {
    let mut frames = Vec::new();
    let mut at = start;
    while at < bytes.len() {
        let len = u32_at(bytes, at + 4) as usize;
        let end = at + FRAME_HEADER_BYTES + len;
        assert!(end <= bytes.len(), "the last frame is incomplete");
        frames.push(FrameSpan {
            lsn: u64_at(bytes, at + 8),
            start: at,
            end,
        });
        at = end;
    }
    frames
}

/// Rebuilds a one-block sealed segment around new uncompressed frames, with every checksum
/// around them (block, index, footer) recomputed, as if damage had slipped in before sealing.
pub fn reseal_one_block(sealed: &[u8], raw: &[u8]) -> Vec<u8> {
    let layout = sealed_layout(sealed);
    assert_eq!(layout.blocks.len(), 1, "not a one-block sealed segment");
    let compressed =
        zstd::bulk::compress(raw, agentrail::journal::segment::SEALED_ZSTD_LEVEL).unwrap();
    let mut out = sealed[..SEGMENT_HEADER_BYTES].to_vec();
    out.extend_from_slice(&compressed);
    let mut entry = sealed[layout.index_offset..layout.footer_offset].to_vec();
    entry[16..20].copy_from_slice(&(compressed.len() as u32).to_le_bytes());
    entry[20..24].copy_from_slice(&(raw.len() as u32).to_le_bytes());
    entry[28..32].copy_from_slice(&crc32fast::hash(&compressed).to_le_bytes());
    let index_offset = out.len() as u64;
    out.extend_from_slice(&entry);
    let mut footer = sealed[layout.footer_offset..].to_vec();
    footer[0..8].copy_from_slice(&index_offset.to_le_bytes());
    footer[28..32].copy_from_slice(&crc32fast::hash(&entry).to_le_bytes());
    let footer_crc = crc32fast::hash(&footer[0..36]);
    footer[36..40].copy_from_slice(&footer_crc.to_le_bytes());
    out.extend_from_slice(&footer);
    out
}

/// Where the parts of a sealed segment lie (section 5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedLayout {
    /// (file offset, compressed length) of every block.
    pub blocks: Vec<(usize, usize)>,
    pub index_offset: usize,
    pub footer_offset: usize,
}

pub fn sealed_layout(segment: &[u8]) -> SealedLayout {
    assert!(is_sealed(segment), "not a sealed segment");
    let footer_offset = segment.len() - FOOTER_BYTES;
    let footer = &segment[footer_offset..];
    assert_eq!(&footer[40..48], b"AGNTSEAL");
    let index_offset = u64_at(footer, 0) as usize;
    let block_count = u32_at(footer, 24) as usize;
    assert_eq!(
        index_offset + block_count * INDEX_ENTRY_BYTES,
        footer_offset
    );
    let blocks = (0..block_count)
        .map(|number| {
            let entry = &segment[index_offset + number * INDEX_ENTRY_BYTES..];
            (u64_at(entry, 8) as usize, u32_at(entry, 16) as usize)
        })
        .collect();
    SealedLayout {
        blocks,
        index_offset,
        footer_offset,
    }
}

/// The checkpoint's (segment, offset, next_lsn) (section 6).
pub fn checkpoint_position(checkpoint: &[u8]) -> (u64, u64, u64) {
    assert_eq!(&checkpoint[0..8], b"AGNTCKPT");
    (
        u64_at(checkpoint, 16),
        u64_at(checkpoint, 24),
        u64_at(checkpoint, 32),
    )
}

/// Appends `payload(lsn)` records to a fresh `journal` in `dir` until it has exactly `sealed`
/// sealed segments and `active_records` records in the active one; returns the last LSN.
pub fn append_until(journal: &Journal, dir: &Path, sealed: usize, active_records: u64) -> u64 {
    let mut lsn = 0;
    loop {
        let segments = segment_names(dir);
        assert!(segments.len() <= sealed + 1);
        if segments.len() == sealed + 1 {
            let first: u64 = segments[sealed][..20].parse().unwrap();
            if lsn + 1 - first == active_records {
                return lsn;
            }
        }
        lsn += 1;
        assert_eq!(
            journal
                .append(agentrail::journal::KIND_EVENT, payload(lsn))
                .unwrap(),
            lsn
        );
    }
}

/// Copies directory `from` to `to`, recursively (a workspace to try something on).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}
