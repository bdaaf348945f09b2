//! Library-level tests of appending, rolling, reopening and reading.

mod common;

use agentrail::journal::sim::{CrashMode, SimFs};
use agentrail::journal::{Durability, Journal, NewRecord, Options, BULK_SEAL_DIVISOR, KIND_EVENT};
use common::{is_sealed, segment_file_name, segment_first_lsn, segment_names, segment_paths};
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn small_options() -> Options {
    Options {
        segment_bytes: 64 * 1024,
        ..Options::default()
    }
}

fn payload(lsn: u64) -> Vec<u8> {
    let len = (lsn * 37 % 3000) as usize;
    (0..len).map(|index| (lsn as usize + index) as u8).collect()
}

fn read_all(journal: &Journal) -> Vec<(u64, Vec<u8>)> {
    journal
        .iter()
        .unwrap()
        .map(|record| record.map(|r| (r.lsn, r.payload)).unwrap())
        .collect()
}

#[test]
fn appends_roll_into_sealed_segments_and_read_back_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    {
        let journal = Journal::create(&path, small_options()).unwrap();
        for lsn in 1..=500u64 {
            assert_eq!(journal.append(KIND_EVENT, payload(lsn)).unwrap(), lsn);
        }
        let all = read_all(&journal);
        assert_eq!(all.len(), 500);
    }
    let segments = std::fs::read_dir(&path)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".seg")
        })
        .count();
    assert!(segments > 5, "expected several segments, found {segments}");
    let journal = Journal::open(&path, small_options()).unwrap();
    assert_eq!(journal.last_lsn(), 500);
    let all = read_all(&journal);
    for (index, (lsn, bytes)) in all.iter().enumerate() {
        assert_eq!(*lsn, index as u64 + 1);
        assert_eq!(bytes, &payload(*lsn));
    }
    let from = journal.read_from(333).unwrap().next().unwrap().unwrap();
    assert_eq!(from.lsn, 333);
    assert_eq!(journal.append(KIND_EVENT, b"x".to_vec()).unwrap(), 501);
}

#[test]
fn concurrent_appenders_get_unique_contiguous_lsns() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Arc::new(
        Journal::create(
            dir.path(),
            Options {
                durability: Durability::Always,
                ..small_options()
            },
        )
        .unwrap(),
    );
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let journal = journal.clone();
            std::thread::spawn(move || {
                (0..100)
                    .map(|_| {
                        journal
                            .append_batch(vec![NewRecord::new(1, vec![7; 100])])
                            .unwrap()
                            .start
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut lsns: Vec<u64> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    lsns.sort();
    assert_eq!(lsns, (1..=800).collect::<Vec<_>>());
}

#[test]
fn refresh_follows_what_another_handle_appended_across_a_roll() {
    let dir = tempfile::tempdir().unwrap();
    let first = Journal::create(dir.path(), small_options()).unwrap();
    first.append(KIND_EVENT, payload(1)).unwrap();
    let second = Journal::open(dir.path(), small_options()).unwrap();
    assert_eq!(second.last_lsn(), 1);
    for lsn in 2..=100 {
        first.append(KIND_EVENT, payload(lsn)).unwrap();
    }
    // Another handle's appends stay out of reach until a refresh, and are all there after one.
    assert_eq!(second.last_lsn(), 1);
    assert_eq!(read_all(&second).len(), 1);
    assert_eq!(second.refresh().unwrap(), 100);
    assert_eq!(second.last_lsn(), 100);
    let records = read_all(&second);
    assert_eq!(records.len(), 100);
    assert!(records.iter().all(|(lsn, bytes)| *bytes == payload(*lsn)));
    assert_eq!(second.append(KIND_EVENT, payload(101)).unwrap(), 101);
}

/// A closed journal of ten records whose checkpoint was rewritten after every append.
fn ten_records_checkpointed_after_each() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        checkpoint_interval_bytes: 1,
        ..small_options()
    };
    let journal = Journal::create(dir.path(), options).unwrap();
    for lsn in 1..=10 {
        journal.append(KIND_EVENT, payload(lsn)).unwrap();
    }
    dir
}

#[test]
fn deleting_every_segment_is_reported_not_restarted_at_lsn_1() {
    let dir = ten_records_checkpointed_after_each();
    for path in segment_paths(dir.path()) {
        std::fs::remove_file(path).unwrap();
    }
    let error = Journal::open(dir.path(), small_options()).unwrap_err();
    assert!(error.is_corruption(), "{error}");
    assert!(error.to_string().contains("no segment files"), "{error}");
}

#[test]
fn a_damaged_record_before_the_checkpoint_is_corruption_and_is_not_truncated() {
    let dir = ten_records_checkpointed_after_each();
    let segment = dir.path().join("00000000000000000001.seg");
    let mut bytes = std::fs::read(&segment).unwrap();
    let length = bytes.len();
    // Damage the last record's payload and make the checkpoint unusable, so recovery must scan
    // the segment from its start: the damaged record is synced data, not a torn write.
    bytes[length - 2] ^= 0x40;
    std::fs::write(&segment, &bytes).unwrap();
    let checkpoint = dir.path().join("checkpoint");
    let mut checkpoint_bytes = std::fs::read(&checkpoint).unwrap();
    checkpoint_bytes[48] ^= 1; // last_record_offset, then re-seal its CRC
    let crc = crc32fast::hash(&checkpoint_bytes[..52]);
    checkpoint_bytes[52..56].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&checkpoint, &checkpoint_bytes).unwrap();
    let error = Journal::open(dir.path(), small_options()).unwrap_err();
    assert!(error.is_corruption(), "{error}");
    assert_eq!(
        std::fs::metadata(&segment).unwrap().len() as usize,
        length,
        "nothing may be truncated"
    );
}

/// Writes 300 records to a new journal at `path` (several sealed segments), then flips a bit
/// inside the first compressed block of its first segment. Returns that segment and its
/// sound bytes.
fn with_first_block_damaged(path: &Path) -> (PathBuf, Vec<u8>) {
    {
        let journal = Journal::create(path, small_options()).unwrap();
        for lsn in 1..=300 {
            journal.append(KIND_EVENT, payload(lsn)).unwrap();
        }
    }
    let first = path.join("00000000000000000001.seg");
    let sound = std::fs::read(&first).unwrap();
    let mut damaged = sound.clone();
    damaged[40] ^= 0x01;
    std::fs::write(&first, &damaged).unwrap();
    (first, sound)
}

/// A segment put back whole after a reader marked its damage: every record verifies, but the
/// marker still makes writers refuse. Verify must say so rather than call the journal sound,
/// and repair removes the marker keeping every record.
#[test]
fn verify_reports_a_damage_marker_that_outlived_its_damage() {
    use agentrail::journal::{repair, verify, vfs::StdFs, DAMAGE_MARKER_FILE};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let (first, sound) = with_first_block_damaged(&path);
    let journal = Journal::open(&path, small_options()).unwrap();
    assert!(journal.iter().unwrap().any(|record| record.is_err()));
    drop(journal);
    std::fs::write(&first, &sound).unwrap();

    let report = verify(&StdFs, &path).unwrap();
    assert!(!report.is_ok() && report.marker_left, "{report:?}");
    assert_eq!(report.records, 300);
    assert_eq!(report.problems.len(), 1, "{report:?}");
    assert_eq!(report.problems[0].segment, path.join(DAMAGE_MARKER_FILE));
    assert!(report.problems[0]
        .reason
        .contains("00000000000000000001.seg"));
    let refused = Journal::open(&path, small_options())
        .unwrap()
        .append(KIND_EVENT, b"x".to_vec())
        .unwrap_err();
    assert!(matches!(refused, agentrail::Error::Damaged(_)), "{refused}");

    let repaired = repair(&StdFs, &path, &dir.path().join("aside")).unwrap();
    assert_eq!(repaired.last_lsn, 300);
    let report = verify(&StdFs, &path).unwrap();
    assert!(report.is_ok() && !report.marker_left, "{report:?}");
    let journal = Journal::open(&path, small_options()).unwrap();
    assert_eq!(journal.append(KIND_EVENT, b"y".to_vec()).unwrap(), 301);
}

#[test]
fn once_a_reader_sees_a_damaged_sealed_segment_writers_refuse_until_repair() {
    use agentrail::journal::{repair, verify, vfs::StdFs};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    with_first_block_damaged(&path);

    // Open scans only the tail, so the damage is not seen yet.
    let journal = Journal::open(&path, small_options()).unwrap();
    assert_eq!(journal.append(KIND_EVENT, b"before".to_vec()).unwrap(), 301);
    let error = journal
        .iter()
        .unwrap()
        .find_map(|record| record.err())
        .expect("the reader must hit the damage");
    assert!(error.is_corruption(), "{error}");
    let refused = journal.append(KIND_EVENT, b"after".to_vec()).unwrap_err();
    assert!(matches!(refused, agentrail::Error::Damaged(_)), "{refused}");
    drop(journal);
    let refused = Journal::open(&path, small_options())
        .unwrap()
        .append(KIND_EVENT, b"x".to_vec())
        .unwrap_err();
    assert!(
        matches!(refused, agentrail::Error::Damaged(_)),
        "a new writer refuses too: {refused}"
    );

    let report = repair(&StdFs, &path, &dir.path().join("aside")).unwrap();
    assert_eq!(
        report.last_lsn, 0,
        "the damage is in the first block of the first segment"
    );
    assert!(verify(&StdFs, &path).unwrap().is_ok());
    let journal = Journal::open(&path, small_options()).unwrap();
    assert_eq!(journal.append(KIND_EVENT, b"again".to_vec()).unwrap(), 1);
}

#[test]
fn appends_batched_with_a_concurrent_sync_still_get_their_lsns() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        durability: Durability::Never,
        ..small_options()
    };
    let journal = Arc::new(Journal::create(dir.path(), options).unwrap());
    let syncer = {
        let journal = journal.clone();
        std::thread::spawn(move || (0..2000).for_each(|_| journal.sync().unwrap()))
    };
    let appenders: Vec<_> = (0..4)
        .map(|_| {
            let journal = journal.clone();
            std::thread::spawn(move || {
                (0..500)
                    .map(|_| journal.append(KIND_EVENT, vec![1; 64]).unwrap())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut lsns: Vec<u64> = appenders
        .into_iter()
        .flat_map(|thread| thread.join().unwrap())
        .collect();
    syncer.join().unwrap();
    lsns.sort_unstable();
    assert_eq!(lsns, (1..=2000).collect::<Vec<_>>());
}

#[test]
fn reads_of_any_lsn_in_an_active_segment_past_several_checkpoints_return_that_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let options = Options {
        segment_bytes: 16 * 1024 * 1024,
        checkpoint_interval_bytes: 64 * 1024,
        durability: Durability::Never,
        ..Options::default()
    };
    let journal = Journal::create(&path, options).unwrap();
    let records: Vec<NewRecord> = (1..=400u64)
        .map(|lsn| NewRecord::new(KIND_EVENT, payload(lsn)))
        .collect();
    for chunk in records.chunks(7) {
        journal.append_batch(chunk.to_vec()).unwrap();
    }
    journal.sync().unwrap();
    // The checkpoint now sits in the middle of the active segment: reads before, at and
    // after it must all find their record.
    for lsn in 1..=400u64 {
        let record = journal.read_from(lsn).unwrap().next().unwrap().unwrap();
        assert_eq!((record.lsn, record.payload), (lsn, payload(lsn)));
    }
    let all = read_all(&journal);
    assert_eq!(all.len(), 400);
}

/// A file system that remembers which files were opened for writing.
#[derive(Debug, Default)]
struct OpenLog {
    written: std::sync::Mutex<Vec<std::path::PathBuf>>,
}

impl agentrail::journal::vfs::Vfs for OpenLog {
    fn create_dir_all(&self, dir: &std::path::Path) -> std::io::Result<()> {
        agentrail::journal::vfs::StdFs.create_dir_all(dir)
    }
    fn list_dir(&self, dir: &std::path::Path) -> std::io::Result<Vec<String>> {
        agentrail::journal::vfs::StdFs.list_dir(dir)
    }
    fn exists(&self, path: &std::path::Path) -> bool {
        agentrail::journal::vfs::StdFs.exists(path)
    }
    fn open(
        &self,
        path: &std::path::Path,
    ) -> std::io::Result<Box<dyn agentrail::journal::vfs::VfsFile>> {
        self.written.lock().unwrap().push(path.to_path_buf());
        agentrail::journal::vfs::StdFs.open(path)
    }
    fn open_read(
        &self,
        path: &std::path::Path,
    ) -> std::io::Result<Box<dyn agentrail::journal::vfs::VfsFile>> {
        agentrail::journal::vfs::StdFs.open_read(path)
    }
    fn create(
        &self,
        path: &std::path::Path,
    ) -> std::io::Result<Box<dyn agentrail::journal::vfs::VfsFile>> {
        self.written.lock().unwrap().push(path.to_path_buf());
        agentrail::journal::vfs::StdFs.create(path)
    }
    fn map(&self, path: &std::path::Path) -> std::io::Result<agentrail::journal::vfs::MappedBytes> {
        agentrail::journal::vfs::StdFs.map(path)
    }
    fn stat(&self, path: &std::path::Path) -> std::io::Result<(u64, u64)> {
        agentrail::journal::vfs::StdFs.stat(path)
    }
    fn rename(&self, from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
        agentrail::journal::vfs::StdFs.rename(from, to)
    }
    fn remove_file(&self, path: &std::path::Path) -> std::io::Result<()> {
        agentrail::journal::vfs::StdFs.remove_file(path)
    }
    fn sync_dir(&self, dir: &std::path::Path) -> std::io::Result<()> {
        agentrail::journal::vfs::StdFs.sync_dir(dir)
    }
    fn open_lock(
        &self,
        path: &std::path::Path,
    ) -> std::io::Result<Box<dyn agentrail::journal::vfs::VfsLock>> {
        agentrail::journal::vfs::StdFs.open_lock(path)
    }
}

#[test]
fn reading_and_verifying_open_no_file_for_writing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let log = Arc::new(OpenLog::default());
    let options = Options {
        vfs: log.clone(),
        ..small_options()
    };
    let journal = Journal::create(&path, options).unwrap();
    for lsn in 1..=300u64 {
        journal.append(KIND_EVENT, payload(lsn)).unwrap();
    }
    log.written.lock().unwrap().clear();
    assert_eq!(read_all(&journal).len(), 300);
    assert_eq!(journal.read_from(250).unwrap().count(), 51);
    agentrail::journal::verify(log.as_ref(), &path).unwrap();
    assert_eq!(
        *log.written.lock().unwrap(),
        Vec::<std::path::PathBuf>::new()
    );
}

fn sim_options(fs: &SimFs, durability: Durability) -> Options {
    Options {
        segment_bytes: 64 * 1024 * 1024,
        durability,
        vfs: Arc::new(fs.clone()),
        ..Options::default()
    }
}

/// The record at `lsn`, and how many bytes of files reading it took.
fn read_counting(fs: &SimFs, journal: &Journal, lsn: u64) -> (u64, Vec<u8>, u64) {
    let before = fs.bytes_read();
    let record = journal.read_from(lsn).unwrap().next().unwrap().unwrap();
    (record.lsn, record.payload, fs.bytes_read() - before)
}

#[test]
fn reading_the_last_record_starts_at_it_not_at_the_recovery_checkpoint() {
    // Every command that loads a projection reads the record its checkpoint is tied to,
    // usually the last one; it used to hop over every frame written since the recovery
    // checkpoint (up to a checkpoint interval, 4 MiB by default) to get there.
    let fs = SimFs::new();
    let mut journal = Journal::create("/j", sim_options(&fs, Durability::Never)).unwrap();
    let records: Vec<NewRecord> = (1..=1000u64)
        .map(|lsn| NewRecord::new(KIND_EVENT, vec![lsn as u8; 1000]))
        .collect();
    for chunk in records.chunks(50) {
        journal.append_batch(chunk.to_vec()).unwrap();
    }
    for reopen in [false, true] {
        if reopen {
            drop(journal);
            journal = Journal::open("/j", sim_options(&fs, Durability::Never)).unwrap();
        }
        let (lsn, payload, read) = read_counting(&fs, &journal, 1000);
        assert_eq!((lsn, payload), (1000, vec![1000u64 as u8; 1000]));
        assert!(read < 16 * 1024, "{read} bytes read for the last record");
        // The record before it is read from the recovery checkpoint's position, here the
        // segment's start: what reading the last record cost before.
        let (lsn, payload, read) = read_counting(&fs, &journal, 999);
        assert_eq!((lsn, payload), (999, vec![999u64 as u8; 1000]));
        assert!(
            read > 900 * 1000,
            "{read} bytes read for the record before the last"
        );
    }
    // After another handle appends, its frames are read from the last one this handle knew.
    let other = Journal::open("/j", sim_options(&fs, Durability::Never)).unwrap();
    other.append(KIND_EVENT, vec![7; 1000]).unwrap();
    assert_eq!(journal.refresh().unwrap(), 1001);
    let (lsn, payload, read) = read_counting(&fs, &journal, 1001);
    assert_eq!((lsn, payload), (1001, vec![7; 1000]));
    assert!(read < 16 * 1024, "{read} bytes read for the last record");
}

#[test]
fn a_handle_that_writes_nothing_closes_without_a_sync() {
    // Every reading command opens the journal; closing used to `fdatasync` the active segment
    // whenever recovery had read past the checkpoint, which is nearly always.
    let fs = SimFs::new();
    let journal = Journal::create("/j", sim_options(&fs, Durability::Never)).unwrap();
    for lsn in 1..=10 {
        journal.append(KIND_EVENT, payload(lsn)).unwrap();
    }
    drop(journal);
    let syncs = fs.sync_count();
    let reader = Journal::open("/j", sim_options(&fs, Durability::Always)).unwrap();
    assert_eq!(reader.iter().unwrap().count(), 10);
    drop(reader);
    assert_eq!(fs.sync_count(), syncs);
    // A handle that appends syncs what it found unsynced with its own records.
    let writer = Journal::open("/j", sim_options(&fs, Durability::Always)).unwrap();
    writer.append(KIND_EVENT, payload(11)).unwrap();
    drop(writer);
    let image = fs.crash_image(CrashMode::DropUnsynced);
    let after_crash = Journal::open("/j", sim_options(&image, Durability::Always)).unwrap();
    assert_eq!(after_crash.last_lsn(), 11);
}

/// A journal whose last append (records 101 to 400, across several segments) a crash cut short:
/// the active segment loses its last records, and the checkpoint is where the writer left it
/// before that append (gone here: the one at the append's end was never written).
fn journal_ending_inside_an_append() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    with_an_append_of_300(&path).close();
    let segments = segment_paths(&path);
    assert!(segments.len() >= 3, "the append spans segments");
    // Cut the active segment at its last record: no record of the append ends it any more.
    let active = segments.last().unwrap();
    let bytes = std::fs::read(active).unwrap();
    let reader = agentrail::journal::read_only(Arc::new(agentrail::journal::vfs::StdFs), &path);
    let last_offset = {
        let records: Vec<_> = reader.unwrap().map(Result::unwrap).collect();
        let last = records.last().unwrap();
        assert_eq!(last.lsn, 400);
        bytes.len() - last.payload.len() - 24
    };
    std::fs::write(active, &bytes[..last_offset]).unwrap();
    std::fs::remove_file(path.join("checkpoint")).unwrap();
    dir
}

#[test]
fn an_append_a_crash_cut_short_is_shown_by_no_reader_and_removed_whole_by_the_next_open() {
    let dir = journal_ending_inside_an_append();
    let path = dir.path().join("journal");
    let vfs: Arc<dyn agentrail::journal::vfs::Vfs> = Arc::new(agentrail::journal::vfs::StdFs);
    // A reader that writes nothing stops before the unfinished append and says so.
    let mut reader = agentrail::journal::read_only(vfs.clone(), &path).unwrap();
    let lsns: Vec<u64> = reader.by_ref().map(|record| record.unwrap().lsn).collect();
    assert_eq!(lsns, (1..=100).collect::<Vec<_>>());
    let append = reader.unfinished_append().unwrap();
    assert_eq!((append.first_lsn, append.records), (101, 299));
    // verify names it without calling it damage.
    let report = agentrail::journal::verify(vfs.as_ref(), &path).unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    let unfinished = report.unfinished.as_ref().unwrap();
    assert_eq!((unfinished.first_lsn, unfinished.records), (101, 299));
    // Opening removes it, whatever segments it spans, and says so; appends go on at 101.
    let journal = Journal::open(&path, small_options()).unwrap();
    let cut = journal.recovery_report().cut_batch.clone().unwrap();
    assert_eq!((cut.first_lsn, cut.records), (101, 299));
    assert_eq!(journal.last_lsn(), 100);
    assert_eq!(journal.append(KIND_EVENT, payload(101)).unwrap(), 101);
    assert_eq!(read_all(&journal).len(), 101);
    journal.close();
    let report = agentrail::journal::verify(vfs.as_ref(), &path).unwrap();
    assert!(report.is_ok() && report.unfinished.is_none());
}

#[test]
fn repair_removes_an_append_a_crash_cut_short_and_says_so() {
    let dir = journal_ending_inside_an_append();
    let path = dir.path().join("journal");
    let report = agentrail::journal::repair(
        &agentrail::journal::vfs::StdFs,
        &path,
        &dir.path().join("aside"),
    )
    .unwrap();
    let cut = report.cut_batch.unwrap();
    assert_eq!(
        (cut.first_lsn, cut.records, report.last_lsn),
        (101, 299, 100)
    );
}

/// A new journal at `path` of records 1 to 100 appended one by one, then 101 to 400 in one
/// append that spans several segments.
fn with_an_append_of_300(path: &std::path::Path) -> Journal {
    let journal = Journal::create(path, small_options()).unwrap();
    for lsn in 1..=100u64 {
        journal.append(KIND_EVENT, payload(lsn)).unwrap();
    }
    let batch = (101..=400u64)
        .map(|lsn| NewRecord::new(KIND_EVENT, payload(lsn)))
        .collect();
    journal.append_batch(batch).unwrap();
    journal
}

#[test]
fn repair_inside_an_append_keeps_its_first_part_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let journal = with_an_append_of_300(&path);
    journal.append(KIND_EVENT, payload(401)).unwrap();
    journal.close();
    // Damage the first block of a sealed segment that starts inside the append.
    let damaged_from = std::fs::read_dir(&path)
        .unwrap()
        .filter_map(|entry| {
            let name = entry.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".seg")?.parse::<u64>().ok()
        })
        .filter(|&first_lsn| (150..=350).contains(&first_lsn))
        .min()
        .expect("a segment starts inside the append");
    let segment = path.join(segment_file_name(damaged_from));
    let mut bytes = std::fs::read(&segment).unwrap();
    bytes[40] ^= 0x01;
    std::fs::write(&segment, &bytes).unwrap();

    let vfs = agentrail::journal::vfs::StdFs;
    let report = agentrail::journal::repair(&vfs, &path, &dir.path().join("aside")).unwrap();
    assert_eq!(report.last_lsn, damaged_from - 1);
    let part = report.partial_append.expect("the kept part is named");
    assert_eq!((part.first_lsn, part.records), (101, damaged_from - 101));
    // Kept, not cut by the next open: it had been acknowledged, and the damage took the rest.
    let journal = Journal::open(&path, small_options()).unwrap();
    assert!(journal.recovery_report().cut_batch.is_none());
    assert_eq!(journal.last_lsn(), damaged_from - 1);
    journal.close();
    let verified = agentrail::journal::verify(&vfs, &path).unwrap();
    assert!(verified.is_ok() && verified.unfinished.is_none());
}

/// A journal of records 1 to 300 in 64 KiB segments; `salt` changes every payload's bytes but
/// not its length, so two salts give journals with the same segments holding other records.
fn salted_journal(path: &std::path::Path, salt: u8) -> Vec<std::path::PathBuf> {
    let journal = Journal::create(path, small_options()).unwrap();
    for lsn in 1..=300u64 {
        let bytes = payload(lsn).iter().map(|byte| byte ^ salt).collect();
        journal.append(KIND_EVENT, bytes).unwrap();
    }
    journal.close();
    segment_paths(path)
}

#[test]
fn a_sealed_segment_from_another_journal_stops_every_reader_before_its_records() {
    use agentrail::journal::{read_only, verify, vfs::StdFs};
    let dir = tempfile::tempdir().unwrap();
    let ours = salted_journal(&dir.path().join("ours"), 0);
    let theirs = salted_journal(&dir.path().join("theirs"), 0x5a);
    assert!(ours.len() >= 4, "several sealed segments");
    // The third segment, sealed, swapped for the other journal's: same name, same LSNs, same
    // lengths, every frame and block valid on its own.
    std::fs::copy(&theirs[2], &ours[2]).unwrap();
    let stale_from = segment_first_lsn(&ours[2]);
    let path = dir.path().join("ours");
    let check = |records: Vec<agentrail::Result<agentrail::journal::Record>>| {
        let good: Vec<u64> = records
            .iter()
            .map_while(|record| record.as_ref().ok().map(|record| record.lsn))
            .collect();
        assert_eq!(good, (1..stale_from).collect::<Vec<_>>());
        let error = records[good.len()].as_ref().unwrap_err();
        assert!(error.is_corruption(), "{error}");
        let message = error.to_string();
        assert!(message.contains("does not link"), "{message}");
        assert!(
            message.contains(&segment_file_name(stale_from)),
            "{message}"
        );
    };
    // A reader that writes nothing (export), then one of an open journal.
    check(read_only(Arc::new(StdFs), &path).unwrap().collect());
    let journal = Journal::open(&path, small_options()).unwrap();
    check(journal.iter().unwrap().collect());
    drop(journal);
    let report = verify(&StdFs, &path).unwrap();
    assert!(!report.is_ok());
    assert_eq!(report.last_good_lsn, stale_from - 1);
}

/// Records of `bytes` bytes of payload each, with contents that depend on their place.
fn records_of(count: usize, bytes: usize, salt: u8) -> Vec<NewRecord> {
    (0..count)
        .map(|index| {
            let payload = (0..bytes).map(|at| (at + index) as u8 ^ salt).collect();
            NewRecord::new(KIND_EVENT, payload)
        })
        .collect()
}

/// Whether each segment file of the journal in `path` is sealed, in log order.
fn sealed_flags(path: &std::path::Path) -> Vec<bool> {
    let names = segment_names(path);
    let read = |name: &String| std::fs::read(path.join(name)).unwrap();
    names.iter().map(|name| is_sealed(&read(name))).collect()
}

#[test]
fn a_bulk_append_of_an_eighth_of_a_segment_or_more_seals_the_active_segment() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let eighth = (small_options().segment_bytes / BULK_SEAL_DIVISOR) as usize;
    let journal = Journal::create(&path, small_options()).unwrap();
    // Below an eighth of a segment, a bulk append is a plain one: the segment stays active.
    let small = journal.append_bulk(records_of(10, 100, 1)).unwrap();
    assert_eq!(small, 1..11);
    assert_eq!(sealed_flags(&path), [false]);
    // An eighth or more: the active segment, the earlier records with it, is sealed, and a
    // new, empty one is started after it.
    let large = journal.append_bulk(records_of(10, eighth / 10, 2)).unwrap();
    assert_eq!(large, 11..21);
    assert_eq!(sealed_flags(&path), [true, false]);
    assert_eq!(segment_names(&path)[1], common::segment_file_name(21));
    // A plain append of as much does not seal, nor does a small bulk append after it, however
    // full the active segment is: appends piped a few lines at a time keep whole segments.
    journal
        .append_batch(records_of(10, eighth / 10, 3))
        .unwrap();
    journal.append_bulk(records_of(2, 100, 5)).unwrap();
    assert_eq!(sealed_flags(&path), [true, false]);
    journal.close();

    let journal = Journal::open(&path, small_options()).unwrap();
    assert_eq!(journal.last_lsn(), 32);
    let batches = [
        (10, 100, 1),
        (10, eighth / 10, 2),
        (10, eighth / 10, 3),
        (2, 100, 5),
    ];
    let expected: Vec<Vec<u8>> = batches
        .into_iter()
        .flat_map(|(count, bytes, salt)| records_of(count, bytes, salt))
        .map(|record| record.payload)
        .collect();
    let all = read_all(&journal);
    assert_eq!(
        all.iter().map(|(lsn, _)| *lsn).collect::<Vec<_>>(),
        (1..=32).collect::<Vec<_>>()
    );
    assert_eq!(
        all.into_iter().map(|(_, bytes)| bytes).collect::<Vec<_>>(),
        expected
    );
    let vfs = agentrail::journal::vfs::StdFs;
    assert!(agentrail::journal::verify(&vfs, &path).unwrap().is_ok());
    assert_eq!(journal.append(KIND_EVENT, b"after".to_vec()).unwrap(), 33);
}

#[test]
fn a_bulk_append_that_fills_segments_seals_its_last_part_from_memory_too() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let segment_bytes = small_options().segment_bytes as usize;
    let journal = Journal::create(&path, small_options()).unwrap();
    // Three and a half segments' worth in one request: every part of it ends up sealed.
    let count = 7 * segment_bytes / 2 / 1000;
    assert_eq!(
        journal.append_bulk(records_of(count, 1000, 4)).unwrap(),
        1..count as u64 + 1
    );
    let flags = sealed_flags(&path);
    assert!(flags.len() >= 5, "{flags:?}");
    assert!(
        flags[..flags.len() - 1].iter().all(|sealed| *sealed),
        "{flags:?}"
    );
    assert_eq!(flags.last(), Some(&false));
    let last = std::fs::read(path.join(segment_names(&path).last().unwrap())).unwrap();
    assert_eq!(
        last.len(),
        common::SEGMENT_HEADER_BYTES,
        "the new active segment is empty"
    );
    journal.close();
    let journal = Journal::open(&path, small_options()).unwrap();
    let payloads: Vec<Vec<u8>> = read_all(&journal)
        .into_iter()
        .map(|(_, bytes)| bytes)
        .collect();
    let expected: Vec<Vec<u8>> = records_of(count, 1000, 4)
        .into_iter()
        .map(|r| r.payload)
        .collect();
    assert_eq!(payloads, expected);
}

/// Copies every file of journal `from` into a new directory `to`.
fn copy_journal(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[test]
fn a_sealed_segment_removed_or_slipped_in_before_the_checkpoint_stops_open() {
    use agentrail::journal::{repair, vfs::StdFs};
    let dir = tempfile::tempdir().unwrap();
    let original = dir.path().join("original");
    let segments = salted_journal(&original, 0);
    assert!(segments.len() >= 4, "several sealed segments");
    let name = |path: &std::path::PathBuf| path.file_name().unwrap().to_str().unwrap().to_owned();

    // The second segment removed: open sees it at once, naming the segment after the gap,
    // where before only a reader reaching it did (and appends went on until then).
    let removed = dir.path().join("removed");
    copy_journal(&original, &removed);
    std::fs::remove_file(removed.join(name(&segments[1]))).unwrap();
    let error = Journal::open(&removed, small_options()).unwrap_err();
    assert!(error.is_corruption(), "{error}");
    let message = error.to_string();
    assert!(message.contains(&name(&segments[2])), "{message}");
    assert!(message.contains("a segment is missing"), "{message}");
    // Repair keeps the log before the gap, and the journal opens and appends again.
    let report = repair(&StdFs, &removed, &dir.path().join("aside")).unwrap();
    let first_after_gap = segment_first_lsn(&segments[1]);
    assert_eq!(report.last_lsn, first_after_gap - 1);
    let journal = Journal::open(&removed, small_options()).unwrap();
    assert_eq!(
        journal.append(KIND_EVENT, b"x".to_vec()).unwrap(),
        first_after_gap
    );
    journal.close();
    assert_eq!(
        Journal::open(&removed, small_options()).unwrap().last_lsn(),
        first_after_gap
    );

    // A copy of the second segment under a name between the second and the third: open names
    // the file that does not belong.
    let added = dir.path().join("added");
    copy_journal(&original, &added);
    let stray = segment_file_name(segment_first_lsn(&segments[1]) + 1);
    std::fs::copy(&segments[1], added.join(&stray)).unwrap();
    let error = Journal::open(&added, small_options()).unwrap_err();
    assert!(error.is_corruption(), "{error}");
    assert!(error.to_string().contains(&stray), "{error}");

    // The journal as it was opens: the list the checkpoint recorded matches the files.
    let journal = Journal::open(&original, small_options()).unwrap();
    assert_eq!(journal.last_lsn(), 300);
}

/// Opens the journal at `path` and checks it holds the 300 records of [`salted_journal`]
/// (salt 0) and takes the next append at 301.
fn assert_whole_salted_journal(path: &std::path::Path, context: &str) {
    let journal = Journal::open(path, small_options()).unwrap();
    let records = read_all(&journal);
    assert_eq!(records.len(), 300, "{context}");
    for (lsn, bytes) in records {
        assert_eq!(bytes, payload(lsn), "{context}: LSN {lsn}");
    }
    assert_eq!(journal.append(KIND_EVENT, b"x".to_vec()).unwrap(), 301);
}

#[test]
fn repair_moves_strays_aside_and_keeps_every_record_of_the_log() {
    use agentrail::journal::{repair, verify, vfs::StdFs};
    let dir = tempfile::tempdir().unwrap();
    let original = dir.path().join("original");
    let segments = salted_journal(&original, 0);
    let active = segments.last().unwrap();
    assert!(
        !is_sealed(&std::fs::read(active).unwrap()),
        "the last segment is the active one"
    );
    assert!(
        std::fs::metadata(active).unwrap().len() > 32,
        "with records"
    );
    // Each case: a file that is not part of the log, under a segment name.
    let after_active = segment_file_name(99_999_999);
    let cases: Vec<(&str, String, Vec<u8>)> = vec![
        (
            "junk after the active segment",
            after_active.clone(),
            b"junk".to_vec(),
        ),
        (
            "a sealed segment copied after the active one",
            after_active,
            std::fs::read(&segments[1]).unwrap(),
        ),
        (
            "a sealed segment copied between two others",
            segment_file_name(segment_first_lsn(&segments[1]) + 1),
            std::fs::read(&segments[0]).unwrap(),
        ),
    ];
    for (case, stray, bytes) in cases {
        let path = dir.path().join(case.replace(' ', "-"));
        copy_journal(&original, &path);
        std::fs::write(path.join(&stray), bytes).unwrap();
        let error = Journal::open(&path, small_options()).unwrap_err();
        assert!(error.is_corruption(), "{case}: {error}");
        assert!(error.to_string().contains(&stray), "{case}: {error}");

        let verified = verify(&StdFs, &path).unwrap();
        assert_eq!(verified.strays, vec![path.join(&stray)], "{case}");
        assert_eq!(
            verified.problems.len(),
            1,
            "{case}: {:?}",
            verified.problems
        );
        let reason = &verified.problems[0].reason;
        assert!(
            reason.starts_with("not part of the log ("),
            "{case}: {reason}"
        );
        assert!(!verified.log_is_damaged(), "{case}");
        assert_eq!(verified.last_good_lsn, 300, "{case}");

        let aside = dir.path().join(format!("aside-{}", case.replace(' ', "-")));
        let report = repair(&StdFs, &path, &aside).unwrap();
        assert_eq!(
            report.moved,
            vec![(path.join(&stray), aside.join(&stray))],
            "{case}: only the stray is moved"
        );
        assert_eq!(
            (report.last_lsn, report.dropped_through_lsn),
            (300, 0),
            "{case}"
        );
        assert_whole_salted_journal(&path, case);
        assert!(verify(&StdFs, &path).unwrap().is_ok(), "{case}");
    }
}

#[test]
fn an_unsealed_segment_the_log_goes_on_after_is_a_lost_seal_and_repair_keeps_its_records() {
    use agentrail::journal::{repair, verify, vfs::StdFs};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lost-seal");
    let segments = salted_journal(&path, 0);
    let active = segments.last().unwrap().clone();
    let unsealed = std::fs::read(&active).unwrap();
    // A tombstone in the active segment seals it and starts the next at LSN 301; putting the
    // unsealed file back undoes the seal, the next segment still linking to its end.
    let journal = Journal::open(&path, small_options()).unwrap();
    let summarize: agentrail::journal::Summarizer = Arc::new(|_| Ok(Vec::new()));
    journal.tombstone(&[300], summarize).unwrap();
    journal.close();
    assert!(is_sealed(&std::fs::read(&active).unwrap()));
    std::fs::write(&active, unsealed).unwrap();
    let next = path.join(segment_file_name(301));
    assert!(next.exists(), "the roll started the next segment");

    let verified = verify(&StdFs, &path).unwrap();
    assert!(verified.strays.is_empty());
    assert!(verified.log_is_damaged());
    let problem = &verified.problems[0];
    assert_eq!((&problem.segment, problem.offset), (&active, 12));
    assert!(
        problem.reason.contains("00000000000000000301.seg"),
        "{problem:?}"
    );

    // Every record of the unsealed segment is good: repair keeps them and moves it (its good
    // frames are written back) and the later segment aside.
    let report = repair(&StdFs, &path, &dir.path().join("aside")).unwrap();
    assert_eq!(report.last_lsn, 300);
    assert_eq!(report.moved.len(), 2);
    assert_whole_salted_journal(&path, "lost seal");
}

#[test]
fn a_long_wait_for_the_lock_is_told_once_and_a_free_lock_is_not() {
    use agentrail::journal::{LockWaitNotice, LOCK_FILE};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    Journal::create(&path, small_options()).unwrap().close();
    let told = Arc::new(AtomicUsize::new(0));
    let counter = told.clone();
    let options = Options {
        lock_wait_notice: Some(LockWaitNotice(Arc::new(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        }))),
        ..small_options()
    };
    let journal = Journal::open(&path, options.clone()).unwrap();
    journal.append(KIND_EVENT, b"free".to_vec()).unwrap();
    assert_eq!(
        told.load(Ordering::SeqCst),
        0,
        "a free lock is taken without a word"
    );

    // Another process's hold: a file description of its own. Both an open and an append wait,
    // and each long wait is told once, while it lasts.
    let holder = std::fs::File::open(path.join(LOCK_FILE)).unwrap();
    let wait_told = |times: usize| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while told.load(Ordering::SeqCst) < times && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        told.load(Ordering::SeqCst)
    };
    holder.lock().unwrap();
    std::thread::scope(|scope| {
        let append = scope.spawn(|| journal.append(KIND_EVENT, b"held".to_vec()));
        assert_eq!(wait_told(1), 1);
        assert!(!append.is_finished());
        holder.unlock().unwrap();
        assert_eq!(append.join().unwrap().unwrap(), 2);
    });
    journal.close();
    holder.lock().unwrap();
    std::thread::scope(|scope| {
        let open = scope.spawn(|| Journal::open(&path, options.clone()));
        assert_eq!(wait_told(2), 2);
        assert!(!open.is_finished());
        holder.unlock().unwrap();
        assert_eq!(open.join().unwrap().unwrap().last_lsn(), 2);
    });
    assert_eq!(told.load(Ordering::SeqCst), 2);
}
