//! Checkpoint files: a projection's state saved with the LSN it covers and a tie to the record
//! at that LSN, so that the next load replays only newer events (`format-spec/projections.md`).
//!
//! A checkpoint is a cache, never the truth. It is written to a temporary file and renamed into
//! place, without fsync: after a crash it may be old, torn or empty, and each of those fails a
//! check here (the trailing CRC-32, the lengths) or against the journal (the tie), so the
//! projection is rebuilt from the journal instead. This module only encodes and checks bytes;
//! which projection and which journal they belong to is decided by [`super::Projector`].

use crate::error::{Error, Result};
use crate::journal::Record;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// First bytes of every checkpoint file.
pub const CHECKPOINT_MAGIC: [u8; 8] = *b"AGNTPROJ";
/// Version of the checkpoint file layout (not of a projection's state: that is
/// [`super::Projection::VERSION`]).
pub const CHECKPOINT_FORMAT_VERSION: u32 = 1;
/// Bytes before the projection's name.
pub const CHECKPOINT_HEADER_BYTES: usize = 48;
/// Bytes of the trailing CRC-32.
pub const CHECKPOINT_CRC_BYTES: usize = 4;
/// Longest projection name.
pub const PROJECTION_NAME_BYTES_MAX: usize = 64;
/// Largest encoded state a checkpoint holds; a bigger state is not checkpointed.
pub const CHECKPOINT_STATE_BYTES_MAX: u64 = 1024 * 1024 * 1024;
/// Largest checkpoint file read; anything longer is damaged.
pub const CHECKPOINT_FILE_BYTES_MAX: u64 =
    (CHECKPOINT_HEADER_BYTES + PROJECTION_NAME_BYTES_MAX + CHECKPOINT_CRC_BYTES) as u64
        + CHECKPOINT_STATE_BYTES_MAX;
/// Extension of checkpoint files: `<name>.ckpt`.
pub const CHECKPOINT_EXTENSION: &str = "ckpt";
/// Suffix of a checkpoint being written: `<name>.ckpt.<pid>-<n>.tmp`.
pub const CHECKPOINT_TEMP_SUFFIX: &str = ".tmp";

/// What ties a checkpoint to one journal: the record at the covered LSN, identified by its
/// kind, payload length and payload CRC-32. A journal that was cut or re-created holds another
/// record at that LSN, or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tie {
    /// The last LSN the state covers; 0 for the empty state, which fits every journal.
    pub lsn: u64,
    pub kind: u16,
    pub payload_bytes: u32,
    pub payload_crc: u32,
}

impl Tie {
    /// The tie to `record`.
    pub fn of(record: &Record) -> Tie {
        Tie {
            lsn: record.lsn,
            kind: record.kind,
            payload_bytes: u32::try_from(record.payload.len()).unwrap_or(u32::MAX),
            payload_crc: crc32fast::hash(&record.payload),
        }
    }
}

/// A checkpoint file's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointFile<'a> {
    pub name: &'a str,
    pub projection_version: u32,
    pub tie: Tie,
    /// The projection's state, encoded with postcard.
    pub state: &'a [u8],
}

/// Why a checkpoint file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unusable {
    /// Written by another version of the checkpoint layout.
    Stale,
    /// Fails a check; the text says which.
    Damaged(String),
}

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    let mut word = [0u8; 2];
    word.copy_from_slice(&bytes[at..at + 2]);
    u16::from_le_bytes(word)
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(word)
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

impl CheckpointFile<'_> {
    /// The file's bytes. The caller checked the name and state lengths against their limits.
    pub fn encode(&self) -> Vec<u8> {
        let name = self.name.as_bytes();
        let total = CHECKPOINT_HEADER_BYTES + name.len() + self.state.len() + CHECKPOINT_CRC_BYTES;
        let mut bytes = Vec::with_capacity(total);
        bytes.extend_from_slice(&CHECKPOINT_MAGIC);
        bytes.extend_from_slice(&CHECKPOINT_FORMAT_VERSION.to_le_bytes());
        bytes.extend_from_slice(&self.projection_version.to_le_bytes());
        bytes.extend_from_slice(&self.tie.lsn.to_le_bytes());
        bytes.extend_from_slice(&self.tie.payload_crc.to_le_bytes());
        bytes.extend_from_slice(&self.tie.payload_bytes.to_le_bytes());
        bytes.extend_from_slice(&(self.state.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&(name.len() as u16).to_le_bytes());
        bytes.extend_from_slice(&self.tie.kind.to_le_bytes());
        bytes.extend_from_slice(&[0u8; 4]);
        debug_assert_eq!(bytes.len(), CHECKPOINT_HEADER_BYTES);
        bytes.extend_from_slice(name);
        bytes.extend_from_slice(self.state);
        let crc = crc32fast::hash(&bytes);
        bytes.extend_from_slice(&crc.to_le_bytes());
        debug_assert_eq!(bytes.len(), total);
        bytes
    }

    /// Checks and decodes a checkpoint file. The CRC is checked first, over everything before
    /// the last four bytes, so no field is trusted before it passed; then the magic and the
    /// layout version, then the lengths against the file's.
    pub fn decode(bytes: &[u8]) -> Result<CheckpointFile<'_>, Unusable> {
        let damaged = |reason: String| Err(Unusable::Damaged(reason));
        if bytes.len() < CHECKPOINT_HEADER_BYTES + CHECKPOINT_CRC_BYTES {
            return damaged(format!("the file is only {} bytes long", bytes.len()));
        }
        let body = bytes.len() - CHECKPOINT_CRC_BYTES;
        let (expected, found) = (u32_at(bytes, body), crc32fast::hash(&bytes[..body]));
        if expected != found {
            return damaged(format!(
                "checksum mismatch (stored {expected:#010x}, computed {found:#010x})"
            ));
        }
        if bytes[0..8] != CHECKPOINT_MAGIC {
            return damaged("not a projection checkpoint (bad magic)".into());
        }
        if u32_at(bytes, 8) != CHECKPOINT_FORMAT_VERSION {
            return Err(Unusable::Stale);
        }
        let name_bytes = usize::from(u16_at(bytes, 40));
        let state_bytes = u64_at(bytes, 32);
        let expected_body = (CHECKPOINT_HEADER_BYTES + name_bytes) as u64 + state_bytes;
        if name_bytes > PROJECTION_NAME_BYTES_MAX || expected_body != body as u64 {
            return damaged(format!(
                "lengths (name {name_bytes}, state {state_bytes} bytes) do not fit the file"
            ));
        }
        let name_end = CHECKPOINT_HEADER_BYTES + name_bytes;
        let Ok(name) = std::str::from_utf8(&bytes[CHECKPOINT_HEADER_BYTES..name_end]) else {
            return damaged("the projection name is not UTF-8".into());
        };
        Ok(CheckpointFile {
            name,
            projection_version: u32_at(bytes, 12),
            tie: Tie {
                lsn: u64_at(bytes, 16),
                payload_crc: u32_at(bytes, 24),
                payload_bytes: u32_at(bytes, 28),
                kind: u16_at(bytes, 42),
            },
            state: &bytes[name_end..body],
        })
    }
}

/// True for a name usable as a file stem on every platform: 1 to 64 bytes of lower-case ASCII
/// letters, digits, `_` and `-`.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= PROJECTION_NAME_BYTES_MAX
        && name.bytes().all(|byte| {
            byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_' || byte == b'-'
        })
}

/// Checkpoint files at least this long are mapped rather than read.
pub const CHECKPOINT_MAP_BYTES_MIN: u64 = 1024 * 1024;

/// A checkpoint file's bytes: mapped, or read into memory.
pub enum FileBytes {
    /// A large file, mapped read-only. Checkpoint files are never written in place: every
    /// writer writes a temporary file and renames it over the old one ([`write`]), so the
    /// mapping keeps the file it opened whole while another process replaces it.
    Mapped(memmap2::Mmap),
    Read(Vec<u8>),
}

impl std::ops::Deref for FileBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            FileBytes::Mapped(map) => map,
            FileBytes::Read(bytes) => bytes,
        }
    }
}

/// The checkpoint file's bytes: `None` if there is no file, `Err` with the reason if it is
/// longer than any checkpoint can be. A large one is mapped, which spares copying it and
/// faulting in as much fresh memory (a 100k-commit graph's is about 10 MB).
pub fn read(path: &Path) -> Result<Option<Result<FileBytes, String>>> {
    let fail = |error: std::io::Error| match error.kind() {
        std::io::ErrorKind::NotFound => Ok(None),
        _ => Err(Error::io(format!("reading {}", path.display()), error)),
    };
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(error) => return fail(error),
    };
    let length = match file.metadata() {
        Ok(metadata) => metadata.len(),
        Err(error) => return fail(error),
    };
    if length > CHECKPOINT_FILE_BYTES_MAX {
        return Ok(Some(Err(format!(
            "the file is {length} bytes long, more than {CHECKPOINT_FILE_BYTES_MAX}"
        ))));
    }
    if length >= CHECKPOINT_MAP_BYTES_MIN {
        // SAFETY: the file is never modified in place (see `FileBytes::Mapped`); the mapping
        // is read-only and dropped with the bytes.
        return match unsafe { memmap2::Mmap::map(&file) } {
            Ok(map) => Ok(Some(Ok(FileBytes::Mapped(map)))),
            Err(error) => fail(error),
        };
    }
    let mut bytes = Vec::with_capacity(length as usize);
    match std::io::Read::read_to_end(&mut &file, &mut bytes) {
        Ok(_) => Ok(Some(Ok(FileBytes::Read(bytes)))),
        Err(error) => fail(error),
    }
}

/// Distinguishes the temporary files of concurrent writers in one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to `path` through a temporary file and a rename, so that readers see the old
/// file or the new one, never a mix. Each writer has a temporary file of its own, so processes
/// saving the same checkpoint at once do not tear each other's. No fsync (see the module doc).
pub fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut temp = path.as_os_str().to_owned();
    let counter = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    temp.push(format!(
        ".{}-{counter}{CHECKPOINT_TEMP_SUFFIX}",
        std::process::id()
    ));
    let temp = PathBuf::from(temp);
    let written = std::fs::write(&temp, bytes)
        .map_err(|error| Error::io(format!("writing {}", temp.display()), error))
        .and_then(|()| {
            std::fs::rename(&temp, path)
                .map_err(|error| Error::io(format!("renaming into {}", path.display()), error))
        });
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}

/// True for the name of a checkpoint file or of a temporary one left by a writer.
pub fn is_checkpoint_file(name: &str) -> bool {
    let suffix = format!(".{CHECKPOINT_EXTENSION}");
    name.ends_with(&suffix)
        || (name.ends_with(CHECKPOINT_TEMP_SUFFIX) && name.contains(&format!("{suffix}.")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> CheckpointFile<'static> {
        CheckpointFile {
            name: "sessions",
            projection_version: 3,
            tie: Tie {
                lsn: 42,
                kind: 1,
                payload_bytes: 17,
                payload_crc: 0xDEAD_BEEF,
            },
            state: b"some state bytes",
        }
    }

    #[test]
    fn a_checkpoint_round_trips_with_the_documented_layout() {
        let bytes = sample().encode();
        assert_eq!(bytes.len(), 48 + 8 + 16 + 4);
        assert_eq!(&bytes[0..8], b"AGNTPROJ");
        assert_eq!(u32_at(&bytes, 12), 3);
        assert_eq!(u64_at(&bytes, 16), 42);
        assert_eq!(u64_at(&bytes, 32), 16);
        assert_eq!(&bytes[48..56], b"sessions");
        assert_eq!(CheckpointFile::decode(&bytes), Ok(sample()));
    }

    #[test]
    fn every_flipped_bit_and_every_truncation_is_refused() {
        let bytes = sample().encode();
        for bit in 0..bytes.len() * 8 {
            let mut flipped = bytes.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            assert!(
                matches!(CheckpointFile::decode(&flipped), Err(Unusable::Damaged(_))),
                "bit {bit}"
            );
        }
        for length in 0..bytes.len() {
            assert!(
                CheckpointFile::decode(&bytes[..length]).is_err(),
                "{length}"
            );
        }
    }

    #[test]
    fn another_layout_version_is_stale() {
        let mut bytes = sample().encode();
        bytes[8] = 2;
        let body = bytes.len() - CHECKPOINT_CRC_BYTES;
        let crc = crc32fast::hash(&bytes[..body]);
        bytes[body..].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(CheckpointFile::decode(&bytes), Err(Unusable::Stale));
    }

    #[test]
    fn names_must_be_safe_file_stems() {
        assert!(is_valid_name("context_graph-2"));
        for bad in ["", "Sessions", "a/b", "..", "a.b", &"x".repeat(65)] {
            assert!(!is_valid_name(bad), "{bad}");
        }
        assert!(is_checkpoint_file("sessions.ckpt"));
        assert!(is_checkpoint_file("sessions.ckpt.12-0.tmp"));
        assert!(!is_checkpoint_file("notes.txt"));
    }

    #[test]
    fn large_files_are_mapped_and_small_ones_read_with_the_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        for (length, mapped) in [(10, false), (CHECKPOINT_MAP_BYTES_MIN as usize + 3, true)] {
            let path = dir.path().join(format!("{length}.ckpt"));
            let bytes: Vec<u8> = (0..length).map(|at| (at * 7) as u8).collect();
            write(&path, &bytes).unwrap();
            let read = read(&path).unwrap().unwrap().unwrap();
            assert_eq!(
                matches!(read, FileBytes::Mapped(_)),
                mapped,
                "{length} bytes"
            );
            assert_eq!(&*read, &bytes[..]);
            // Replacing the file leaves what was read whole.
            write(&path, b"new").unwrap();
            assert_eq!(&*read, &bytes[..]);
        }
        assert!(read(&dir.path().join("none.ckpt")).unwrap().is_none());
    }

    proptest! {
        #[test]
        fn any_bytes_decode_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = CheckpointFile::decode(&bytes);
        }

        /// Bytes with a valid CRC reach the field checks, which must not panic either.
        #[test]
        fn any_bytes_with_their_crc_decode_without_panicking(
            mut bytes in proptest::collection::vec(any::<u8>(), 0..200),
            keep_magic in any::<bool>(),
        ) {
            if keep_magic && bytes.len() >= 12 {
                bytes[0..8].copy_from_slice(&CHECKPOINT_MAGIC);
                bytes[8..12].copy_from_slice(&CHECKPOINT_FORMAT_VERSION.to_le_bytes());
            }
            let crc = crc32fast::hash(&bytes);
            bytes.extend_from_slice(&crc.to_le_bytes());
            let _ = CheckpointFile::decode(&bytes);
        }
    }
}
