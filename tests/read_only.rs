//! Reading a journal without writing to it (`journal::read_only`), the way out of a damaged
//! journal: every record before the first damage, in LSN order, then one error naming the
//! damaged file and byte offset, and the journal's files byte for byte as they were. A torn
//! tail ends the log without an error and is left for the next open to truncate.

mod common;

use agentrail::journal::vfs::{MappedBytes, StdFs, Vfs, VfsFile, VfsLock};
use agentrail::journal::{self, Durability, Journal, Options, Reader, Record, KIND_EVENT};
use agentrail::Error;
use common::{
    active_frames, append_until, assert_deterministic_prefix, fast_tempdir, payload, sealed_layout,
    segment_file_name, segment_first_lsn, segment_names, DiskImage, FRAME_HEADER_BYTES,
};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

fn options() -> Options {
    Options {
        segment_bytes: 64 * 1024,
        durability: Durability::Never,
        ..Options::default()
    }
}

/// A journal in `dir` with `sealed` sealed segments and `active` records in the active one;
/// returns its last LSN.
fn build(dir: &Path, sealed: usize, active: u64) -> u64 {
    let journal = Journal::create(dir, options()).unwrap();
    let last = append_until(&journal, dir, sealed, active);
    journal.close();
    last
}

fn reader(dir: &Path) -> Reader {
    journal::read_only(Arc::new(StdFs), dir).unwrap()
}

/// Reads to the end: the records, and the error the reader ended with, if any. Asserts that
/// nothing comes after an error.
fn read_to_end(reader: &mut Reader) -> (Vec<Record>, Option<Error>) {
    let mut records = Vec::new();
    for item in reader.by_ref() {
        match item {
            Ok(record) => records.push(record),
            Err(error) => return (records, Some(error)),
        }
    }
    (records, None)
}

fn assert_corruption_at(error: Option<Error>, segment: &Path, offset: u64) {
    match error {
        Some(Error::Corruption {
            segment: found,
            offset: found_offset,
            reason,
        }) => {
            assert_eq!(found, segment, "{reason}");
            assert_eq!(found_offset, offset, "{reason}");
        }
        other => panic!("expected corruption in {segment:?} at {offset}, got {other:?}"),
    }
}

fn flip(path: &Path, offset: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[offset] ^= 0xff;
    std::fs::write(path, bytes).unwrap();
}

fn active_path(dir: &Path) -> PathBuf {
    dir.join(segment_names(dir).pop().unwrap())
}

#[test]
fn damage_in_the_middle_of_the_active_segment_yields_the_records_before_it_then_names_it() {
    let temp = fast_tempdir();
    let dir = temp.path();
    assert_eq!(build(dir, 0, 10), 10);
    let active = active_path(dir);
    let frames = active_frames(&std::fs::read(&active).unwrap());
    // A bad header of record 4, with valid records after it: corruption, not a torn tail.
    flip(&active, frames[3].start + 2);
    let before = DiskImage::capture(dir);

    let mut reader = reader(dir);
    let (records, error) = read_to_end(&mut reader);
    assert_eq!(records.len(), 3);
    assert_deterministic_prefix(&records, "active damage");
    assert_corruption_at(error, &active, frames[3].start as u64);
    assert!(reader.next().is_none(), "nothing after the error");
    assert_eq!(
        DiskImage::capture(dir),
        before,
        "reading changed the journal"
    );

    // The writer refuses this journal, which is why reading must not need it.
    assert!(Journal::open(dir, options()).is_err());
}

#[test]
fn a_damaged_payload_in_the_active_segment_is_named_at_its_record() {
    let temp = fast_tempdir();
    let dir = temp.path();
    build(dir, 0, 10);
    let active = active_path(dir);
    let frames = active_frames(&std::fs::read(&active).unwrap());
    let damaged = frames
        .iter()
        .find(|frame| frame.lsn >= 5 && frame.end - frame.start > 40);
    let damaged = *damaged.expect("a record with a payload");
    flip(&active, damaged.start + FRAME_HEADER_BYTES + 3);
    let before = DiskImage::capture(dir);

    let (records, error) = read_to_end(&mut reader(dir));
    assert_eq!(records.len() as u64, damaged.lsn - 1);
    assert_deterministic_prefix(&records, "payload damage");
    assert_corruption_at(error, &active, damaged.start as u64);
    assert_eq!(DiskImage::capture(dir), before);
}

#[test]
fn a_bad_block_of_a_sealed_segment_yields_every_earlier_segment_then_names_the_block() {
    let temp = fast_tempdir();
    let dir = temp.path();
    build(dir, 3, 5);
    let names = segment_names(dir);
    let damaged = dir.join(&names[1]);
    let first_lsn = segment_first_lsn(&damaged);
    let (block_offset, block_len) = sealed_layout(&std::fs::read(&damaged).unwrap()).blocks[0];
    flip(&damaged, block_offset + block_len / 2);
    let before = DiskImage::capture(dir);

    let (records, error) = read_to_end(&mut reader(dir));
    assert_eq!(
        records.len() as u64,
        first_lsn - 1,
        "all of the first segment"
    );
    assert_deterministic_prefix(&records, "sealed damage");
    assert_corruption_at(error, &damaged, block_offset as u64);
    assert_eq!(
        DiskImage::capture(dir),
        before,
        "no damage marker, no new file"
    );
}

#[test]
fn a_torn_tail_ends_the_log_without_an_error_and_is_left_in_place() {
    let temp = fast_tempdir();
    let dir = temp.path();
    build(dir, 1, 4);
    let active = active_path(dir);
    let length = std::fs::metadata(&active).unwrap().len();
    let mut bytes = std::fs::read(&active).unwrap();
    bytes.extend_from_slice(&[0xAB; 17]);
    std::fs::write(&active, bytes).unwrap();
    let before = DiskImage::capture(dir);

    let mut reader = reader(dir);
    let (records, error) = read_to_end(&mut reader);
    assert!(error.is_none(), "{error:?}");
    let last = records.last().unwrap().lsn;
    assert_eq!(records.len() as u64, last);
    assert_deterministic_prefix(&records, "torn tail");
    let torn = reader.torn_tail().expect("the torn tail is reported");
    assert_eq!(
        (torn.segment.as_path(), torn.offset),
        (active.as_path(), length)
    );
    assert_eq!((torn.bytes_dropped, torn.lsn), (17, last + 1));
    assert_eq!(
        DiskImage::capture(dir),
        before,
        "the torn tail was truncated"
    );

    // Open still truncates it, as before.
    let journal = Journal::open(dir, options()).unwrap();
    assert_eq!(journal.recovery_report().torn_tail.as_ref(), Some(torn));
}

#[test]
fn a_damage_marker_ends_a_log_that_reads_whole_with_its_error() {
    let temp = fast_tempdir();
    let dir = temp.path();
    let last = build(dir, 1, 3);
    let text = "corruption in somewhere.seg at byte offset 99: seen by an earlier reader";
    std::fs::write(dir.join(journal::DAMAGE_MARKER_FILE), format!("{text}\n")).unwrap();
    let before = DiskImage::capture(dir);

    let (records, error) = read_to_end(&mut reader(dir));
    assert_eq!(records.len() as u64, last);
    match error {
        Some(Error::Damaged(found)) => assert_eq!(found, text),
        other => panic!("expected the marker's damage, got {other:?}"),
    }
    assert_eq!(DiskImage::capture(dir), before);
}

#[test]
fn a_sound_journal_whose_last_segment_is_sealed_reads_whole_and_gains_no_segment() {
    let temp = fast_tempdir();
    let dir = temp.path();
    let last = build(dir, 2, 0);
    // As after a crash right after sealing: the next segment was never created (and the
    // checkpoint, a cache, never written for it).
    std::fs::remove_file(active_path(dir)).unwrap();
    let _ = std::fs::remove_file(dir.join("checkpoint"));
    let names = segment_names(dir);
    assert_eq!(names.len(), 2);
    assert!(common::is_sealed(
        &std::fs::read(dir.join(&names[1])).unwrap()
    ));
    let before = DiskImage::capture(dir);

    let (records, error) = read_to_end(&mut reader(dir));
    assert!(error.is_none(), "{error:?}");
    assert_eq!(records.len() as u64, last);
    assert_deterministic_prefix(&records, "sealed last segment");
    assert_eq!(DiskImage::capture(dir), before);

    // Open, by contrast, creates the next segment.
    Journal::open(dir, options()).unwrap().close();
    assert!(dir.join(segment_file_name(last + 1)).exists());
}

#[test]
fn a_checkpoint_recording_more_than_the_log_holds_ends_the_read_with_corruption() {
    let temp = fast_tempdir();
    let dir = temp.path();
    let options = Options {
        checkpoint_interval_bytes: 1,
        ..options()
    };
    let journal = Journal::create(dir, options).unwrap();
    for lsn in 1..=6 {
        journal.append(KIND_EVENT, payload(lsn)).unwrap();
    }
    journal.close();
    // Cut the active segment after record 3: the checkpoint says 6 are durable.
    let active = active_path(dir);
    let frames = active_frames(&std::fs::read(&active).unwrap());
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&active)
        .unwrap();
    file.set_len(frames[3].start as u64).unwrap();
    drop(file);

    let (records, error) = read_to_end(&mut reader(dir));
    assert_eq!(records.len(), 3);
    assert_corruption_at(error, &dir.join("checkpoint"), 32);
}

#[test]
fn reading_while_another_handle_appends_never_reports_damage() {
    let temp = fast_tempdir();
    let dir = temp.path().to_path_buf();
    let journal = Journal::create(&dir, options()).unwrap();
    let writer = std::thread::spawn(move || {
        for lsn in 1..=3000 {
            journal.append(KIND_EVENT, payload(lsn)).unwrap();
        }
        journal.close();
    });
    let mut reads = 0;
    while !writer.is_finished() || reads == 0 {
        let (records, error) = read_to_end(&mut reader(&dir));
        assert!(
            error.is_none(),
            "after {} records: {error:?}",
            records.len()
        );
        assert_deterministic_prefix(&records, "concurrent read");
        reads += 1;
    }
    writer.join().unwrap();
    let (records, error) = read_to_end(&mut reader(&dir));
    assert!(error.is_none(), "{error:?}");
    assert_eq!(records.len(), 3000);
}

/// The real file system, except that the file at `path` shows only its first `visible` bytes
/// until a reader meets that end in the middle of a frame: then the rest appears, as when a
/// writer in another process completes its write just after the reader looked.
#[derive(Debug)]
struct FinishingWrite {
    path: PathBuf,
    visible: u64,
    finished: Arc<AtomicBool>,
}

#[derive(Debug)]
struct FinishingFile {
    inner: Box<dyn VfsFile>,
    visible: u64,
    finished: Arc<AtomicBool>,
}

impl VfsFile for FinishingFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        if self.finished.load(Ordering::SeqCst) {
            return self.inner.read_at(buf, offset);
        }
        if offset >= self.visible {
            self.finished.store(true, Ordering::SeqCst);
            return Ok(0);
        }
        let len = buf.len().min((self.visible - offset) as usize);
        self.inner.read_at(&mut buf[..len], offset)
    }
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.inner.write_all_at(buf, offset)
    }
    fn len(&self) -> io::Result<u64> {
        match self.finished.load(Ordering::SeqCst) {
            true => self.inner.len(),
            false => Ok(self.visible),
        }
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.inner.sync_data()
    }
    fn identity(&self) -> io::Result<u64> {
        self.inner.identity()
    }
}

impl Vfs for FinishingWrite {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        StdFs.create_dir_all(dir)
    }
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        StdFs.list_dir(dir)
    }
    fn exists(&self, path: &Path) -> bool {
        StdFs.exists(path)
    }
    fn open(&self, path: &Path) -> io::Result<Box<dyn VfsFile>> {
        StdFs.open(path)
    }
    fn open_read(&self, path: &Path) -> io::Result<Box<dyn VfsFile>> {
        let inner = StdFs.open_read(path)?;
        if path != self.path {
            return Ok(inner);
        }
        Ok(Box::new(FinishingFile {
            inner,
            visible: self.visible,
            finished: self.finished.clone(),
        }))
    }
    fn create(&self, path: &Path) -> io::Result<Box<dyn VfsFile>> {
        StdFs.create(path)
    }
    fn map(&self, path: &Path) -> io::Result<MappedBytes> {
        StdFs.map(path)
    }
    fn stat(&self, path: &Path) -> io::Result<(u64, u64)> {
        StdFs.stat(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        StdFs.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        StdFs.remove_file(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        StdFs.sync_dir(dir)
    }
    fn open_lock(&self, path: &Path) -> io::Result<Box<dyn VfsLock>> {
        StdFs.open_lock(path)
    }
}

#[test]
fn a_frame_another_writer_completes_while_it_is_read_is_read_not_called_damage() {
    let temp = fast_tempdir();
    let dir = temp.path();
    let last = build(dir, 0, 8);
    let active = active_path(dir);
    let frames = active_frames(&std::fs::read(&active).unwrap());
    // The reader first sees the file end inside record 6, records 7 and 8 not yet written;
    // when it looks again, all of them are there (a torn-tail check over the bytes then seen
    // would find record 7 after a "bad" record 6 and call it corruption).
    let cut = frames[5].start + FRAME_HEADER_BYTES + 1;
    let vfs = FinishingWrite {
        path: active.clone(),
        visible: cut as u64,
        finished: Arc::new(AtomicBool::new(false)),
    };
    let finished = vfs.finished.clone();
    let mut reader = journal::read_only(Arc::new(vfs), dir).unwrap();
    let (records, error) = read_to_end(&mut reader);
    assert!(
        finished.load(Ordering::SeqCst),
        "the reader never met the cut"
    );
    assert!(error.is_none(), "{error:?}");
    assert_eq!(records.len() as u64, last);
    assert_deterministic_prefix(&records, "finishing write");
    assert!(reader.torn_tail().is_none());
}
