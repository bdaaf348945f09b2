//! Decoder fuzz target: any bytes, read as a journal, must never panic, hang or allocate without
//! bound, and what the decoders say must agree with each other.
//!
//! The first input byte picks how the rest becomes a journal directory on a [`SimFs`]:
//! - `0b00`/`0b01`: the rest is the segment file `00000000000000000001.seg`; with bit 2 set and a
//!   segment that opens as sealed, a linked empty active segment is put after it (so recovery
//!   and verify cross a sealed segment into an active one);
//! - `0b10`: as above, with a checkpoint whose fields come from the first 28 bytes (encoded with a
//!   valid checksum, so that recovery has to trust its fields and check them);
//! - `0b11`: a real journal is written from the rest (record sizes and segment size), one of its
//!   records perhaps replaced by a tombstone, then damaged by the operations that follow (xor,
//!   truncate, overwrite a word, remove a file).
//!
//! Then, on every input: `Event::decode` of the raw bytes, `SealedSegment::open` and `block()`
//! of every segment, `verify`, `Journal::open`, a full read, a read from some LSN, one append,
//! `repair`, and `verify` again. Properties checked beyond "no panic", for journals whose
//! checkpoint was not forged: verify finding no problem means open succeeds and reads exactly
//! the records verify counted; an open journal accepts an append and reads it back; after a
//! successful repair, verify finds no problem and the journal opens.

#![no_main]

use agentrail::event::{decode_record, Event};
use agentrail::journal::format::{Checkpoint, SegmentHeader, SegmentList};
use agentrail::journal::segment::{list_segments, segment_path, SealedSegment};
use agentrail::journal::sim::SimFs;
use agentrail::journal::vfs::Vfs;
use agentrail::journal::{
    repair, verify, Durability, Journal, NewRecord, Options, Record, Summarizer, VerifyReport,
    KIND_EVENT,
};
use libfuzzer_sys::fuzz_target;
use std::path::Path;
use std::sync::Arc;

#[path = "cursor.rs"]
mod cursor;
use cursor::Cursor;

const JOURNAL_DIR: &str = "/journal";
const ASIDE_DIR: &str = "/damaged";
const CHECKPOINT_FILE: &str = "checkpoint";
/// Bytes of input that a forged checkpoint's fields are taken from.
const FORGED_CHECKPOINT_INPUT_BYTES: usize = 28;
/// Records of a generated journal, and the largest payload of one.
const GENERATED_RECORDS_MAX: usize = 48;
const GENERATED_PAYLOAD_BYTES_MAX: usize = 40_000;

fuzz_target!(|input: &[u8]| {
    let _ = Event::decode(1, input);
    let Some((&control, rest)) = input.split_first() else {
        return;
    };
    let fs = SimFs::new();
    let dir = Path::new(JOURNAL_DIR);
    fs.create_dir_all(dir).expect("SimFs makes directories");
    let trusted = match control & 0b11 {
        0b11 => generate_and_damage(&fs, dir, rest),
        0b10 => {
            let (fields, segment) = rest.split_at(rest.len().min(FORGED_CHECKPOINT_INPUT_BYTES));
            write_raw_segment(&fs, dir, segment, control & 0b100 != 0);
            write_forged_checkpoint(&fs, dir, fields);
            false
        }
        _ => {
            write_raw_segment(&fs, dir, rest, control & 0b100 != 0);
            true
        }
    };
    let lsn_hint = u64::from(control >> 3);
    exercise(&fs, dir, trusted, lsn_hint);
});

fn put_file(fs: &SimFs, path: &Path, bytes: &[u8]) {
    let file = fs.create(path).expect("SimFs creates files");
    file.write_all_at(bytes, 0).expect("SimFs writes");
    file.sync_data().expect("SimFs syncs");
}

fn write_raw_segment(fs: &SimFs, dir: &Path, bytes: &[u8], link_next: bool) {
    let path = segment_path(dir, 1);
    put_file(fs, &path, bytes);
    if link_next {
        if let Ok(sealed) = SealedSegment::open(fs, &path, 1) {
            if let Some(next_lsn) = sealed.footer.last_lsn.checked_add(1) {
                let header = SegmentHeader {
                    flags: 0,
                    first_lsn: next_lsn,
                    prev_chain: sealed.footer.end_chain,
                };
                put_file(fs, &segment_path(dir, next_lsn), &header.encode());
            }
        }
    }
    fs.sync_dir(dir).expect("SimFs syncs directories");
}

fn write_forged_checkpoint(fs: &SimFs, dir: &Path, fields: &[u8]) {
    let mut padded = [0u8; FORGED_CHECKPOINT_INPUT_BYTES];
    padded[..fields.len()].copy_from_slice(fields);
    let word = |at: usize| {
        u32::from_le_bytes([padded[at], padded[at + 1], padded[at + 2], padded[at + 3]])
    };
    let checkpoint = Checkpoint {
        // Mostly the segment that exists, so that the deeper checks run.
        segment: if padded[0] & 1 == 0 {
            1
        } else {
            u64::from(word(0))
        },
        offset: u64::from(word(4)),
        next_lsn: u64::from(word(8)),
        chain: word(12),
        last_record_offset: word(16),
        // Mostly not recorded; else a count and CRC that may or may not match the files.
        segments: (padded[0] & 2 != 0).then(|| SegmentList {
            count: word(20) % 8,
            crc: word(24),
        }),
    };
    put_file(fs, &dir.join(CHECKPOINT_FILE), &checkpoint.encode());
    fs.sync_dir(dir).expect("SimFs syncs directories");
}

fn payload(len: usize, seed: u32) -> Vec<u8> {
    if seed & 1 == 0 {
        return (0..len)
            .map(|index| (index as u32 ^ seed) as u8 % 7)
            .collect();
    }
    let mut state = u64::from(seed) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// Writes a real journal described by the input, then damages its files as the rest of the
/// input says. Returns false when the checkpoint file was touched (then it may be forged).
fn generate_and_damage(fs: &SimFs, dir: &Path, rest: &[u8]) -> bool {
    let mut cursor = Cursor(rest);
    let options = Options {
        segment_bytes: 4096 + u64::from(cursor.u16()) * 8,
        durability: Durability::Never,
        checkpoint_interval_bytes: u64::from(cursor.byte()) * 1024,
        vfs: Arc::new(fs.clone()),
        ..Options::default()
    };
    let count = usize::from(cursor.byte()) % GENERATED_RECORDS_MAX;
    let records: Vec<NewRecord> = (0..count)
        .map(|_| {
            let len = usize::from(cursor.u16()) * 2 % GENERATED_PAYLOAD_BYTES_MAX;
            NewRecord::new(KIND_EVENT, payload(len, u32::from(cursor.byte())))
        })
        .collect();
    {
        let journal = Journal::create(dir, options).expect("a new journal on SimFs opens");
        journal
            .append_batch(records)
            .expect("SimFs never fails here");
        journal.sync().expect("SimFs never fails here");
        // Now and then tombstone one record, so that the decoders also meet tombstone frames
        // and rewritten segments (format spec section 10).
        let target = u64::from(cursor.byte());
        if target != 0 && count > 0 {
            let lsn = target % count as u64 + 1;
            let summarize: Summarizer = Arc::new(|_record: &Record| Ok(b"kept".to_vec()));
            journal
                .tombstone(&[lsn], summarize)
                .expect("SimFs never fails here");
        }
    }
    let mut trusted = true;
    while !cursor.is_empty() {
        trusted &= damage_once(fs, dir, &mut cursor);
    }
    trusted
}

/// Applies one damaging operation; returns false when it touched the checkpoint.
fn damage_once(fs: &SimFs, dir: &Path, cursor: &mut Cursor) -> bool {
    let mut names = fs.list_dir(dir).expect("SimFs lists directories");
    names.sort();
    let (which, operation, at, value) = (cursor.byte(), cursor.byte(), cursor.u32(), cursor.u32());
    let Some(name) = names.get(usize::from(which) % names.len().max(1)) else {
        return true;
    };
    let path = dir.join(name);
    let Ok(mut bytes) = fs.read_file(&path) else {
        return true;
    };
    let at = if bytes.is_empty() {
        0
    } else {
        at as usize % bytes.len()
    };
    match operation % 4 {
        0 => {
            if let Some(byte) = bytes.get_mut(at) {
                *byte ^= value as u8 | 1;
            }
        }
        1 => bytes.truncate(at),
        2 => {
            let end = (at + 4).min(bytes.len());
            bytes[at..end].copy_from_slice(&value.to_le_bytes()[..end - at]);
        }
        _ => {
            let _ = fs.remove_file(&path);
            return name != CHECKPOINT_FILE;
        }
    }
    fs.write_file(&path, &bytes).expect("SimFs rewrites files");
    name != CHECKPOINT_FILE
}

fn exercise(fs: &SimFs, dir: &Path, trusted: bool, lsn_hint: u64) {
    let verified = verify(fs, dir).ok();
    read_sealed_segments(fs, dir, lsn_hint);
    let sound = trusted && verified.as_ref().is_some_and(VerifyReport::is_ok);
    open_read_and_append(fs, dir, sound.then_some(verified).flatten(), lsn_hint);
    if repair(fs, Path::new(JOURNAL_DIR), Path::new(ASIDE_DIR)).is_ok() {
        let after = verify(fs, dir).expect("verify runs after a repair");
        assert!(after.is_ok(), "verify after repair: {:?}", after.problems);
        let options = Options {
            vfs: Arc::new(fs.clone()),
            ..Options::default()
        };
        if let Err(error) = Journal::open(dir, options) {
            panic!("the journal does not open after a repair: {error}");
        }
    }
}

fn read_sealed_segments(fs: &SimFs, dir: &Path, lsn_hint: u64) {
    for first_lsn in list_segments(fs, dir).unwrap_or_default() {
        let Ok(segment) = SealedSegment::open(fs, &segment_path(dir, first_lsn), first_lsn) else {
            continue;
        };
        let _ = segment.block_for(lsn_hint);
        for number in 0..segment.blocks.len() {
            let _ = segment.block(number);
        }
    }
}

/// Opens the journal, reads it whole and from `lsn_hint`, appends one record and reads it back.
/// With `sound` (verify found nothing wrong and no checkpoint was forged), each step must work.
fn open_read_and_append(fs: &SimFs, dir: &Path, sound: Option<VerifyReport>, lsn_hint: u64) {
    let options = Options {
        segment_bytes: 64 * 1024,
        vfs: Arc::new(fs.clone()),
        ..Options::default()
    };
    let journal = match Journal::open(dir, options) {
        Ok(journal) => journal,
        Err(error) => {
            assert!(
                sound.is_none(),
                "verify found no problem, but open failed: {error}"
            );
            return;
        }
    };
    let records: Vec<_> = match journal.iter() {
        Ok(reader) => reader.collect(),
        Err(error) => {
            assert!(
                sound.is_none(),
                "verify found no problem, but iter failed: {error}"
            );
            return;
        }
    };
    for record in records.iter().flatten() {
        let _ = decode_record(record);
    }
    if let Some(verified) = &sound {
        let good = records.iter().take_while(|record| record.is_ok()).count() as u64;
        assert_eq!(
            good,
            records.len() as u64,
            "verify found no problem, but a read failed"
        );
        // An append the log ends inside, which verify reports as unfinished, is removed by
        // the open (`format-spec/journal.md` section 11).
        let kept =
            (verified.unfinished.as_ref()).map_or(verified.last_good_lsn, |cut| cut.first_lsn - 1);
        assert_eq!(good, kept, "verify and the reader disagree on the log");
        assert_eq!(journal.last_lsn(), kept);
    }
    if let Ok(reader) = journal.read_from(lsn_hint) {
        let _ = reader.count();
    }
    let appended = journal.append(KIND_EVENT, b"after".to_vec());
    if sound.is_some() {
        let lsn = appended.expect("a sound journal accepts an append");
        let record = journal
            .read_from(lsn)
            .ok()
            .and_then(|mut reader| reader.next());
        let record = record
            .expect("the appended record is there")
            .expect("and reads");
        assert_eq!(
            (record.lsn, record.payload.as_slice()),
            (lsn, &b"after"[..])
        );
    }
}
