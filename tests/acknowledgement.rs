//! When an append is acknowledged (`format-spec/journal.md` sections 8 and 9): in mode `always`
//! only after an `fdatasync` that started after its write completed has returned success, and
//! never after a write or sync of the writer failed before that `fdatasync` started; in every
//! mode, `Journal::sync` returns only once everything written before it is durable.
//!
//! The tests hold every file sync of a simulated file system once it has started
//! ([`SimFs::hold_syncs`]): a held sync makes durable only the writes made before it started,
//! as a real `fdatasync` may while writes go on, and returns when the test releases it, with
//! success or failure. Each appender checks, the moment its append returns, that a power cut
//! then would keep its records. A writer that acknowledged after the write alone, that retried
//! a failed `fdatasync` and acknowledged after the retry, or that answered `sync` without
//! syncing, fails them (each tried by hand on a broken writer).

mod common;

use agentrail::journal::sim::{CrashMode, SimFs};
use agentrail::journal::vfs::Vfs;
use agentrail::journal::{verify, Durability, Journal, NewRecord, Options, KIND_EVENT};
use agentrail::Error;
use common::splitmix;
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const DIR: &str = "/ack/journal";
/// Small segments and frequent checkpoints: rolls and checkpoints fall between the batches.
const SEGMENT_BYTES: u64 = 4 * 1024;
const CHECKPOINT_INTERVAL_BYTES: u64 = 1024;
const THREADS: u64 = 4;
const REQUESTS_PER_THREAD: u64 = 60;
/// How long a test waits for the writer to do what it must before calling it stuck.
const STUCK_AFTER: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(1);

fn options(fs: &SimFs, durability: Durability) -> Options {
    let vfs: Arc<dyn Vfs> = Arc::new(fs.clone());
    Options {
        segment_bytes: SEGMENT_BYTES,
        checkpoint_interval_bytes: CHECKPOINT_INTERVAL_BYTES,
        durability,
        vfs,
        ..Options::default()
    }
}

/// The last LSN a power cut now would keep on `fs`.
fn durable_last_lsn(fs: &SimFs) -> u64 {
    let image = fs.crash_image(CrashMode::DropUnsynced);
    let journal = Journal::open(DIR, options(&image, Durability::Always));
    journal.expect("a crash image opens").last_lsn()
}

/// Holds the syncs of `fs` until dropped, also when a test fails: a writer blocked in a held
/// sync would otherwise never let the journal's handle close.
struct Holding(SimFs);

fn hold(fs: &SimFs) -> Holding {
    fs.hold_syncs(true);
    Holding(fs.clone())
}

impl Drop for Holding {
    fn drop(&mut self) {
        self.0.hold_syncs(false);
    }
}

/// Waits until `done` holds, or fails the test when the writer seems stuck.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < STUCK_AFTER,
            "stuck waiting until {what}"
        );
        std::thread::sleep(POLL);
    }
}

/// Releases held syncs one at a time, with success, until every thread has ended.
fn release_until_done<T>(fs: &SimFs, threads: &[JoinHandle<T>]) {
    wait_until("every appender is done", || {
        fs.release_sync(true);
        threads.iter().all(JoinHandle::is_finished)
    });
}

/// Appends requests of 1 to 4 records until one fails, checking at each acknowledgement that
/// its records are durable; returns the LSNs acknowledged.
fn append_and_check(journal: &Journal, fs: &SimFs, thread: u64) -> Vec<Range<u64>> {
    let mut state = thread;
    let mut acknowledged = Vec::new();
    for _ in 0..REQUESTS_PER_THREAD {
        let size = 1 + splitmix(&mut state) % 4;
        let records = (0..size).map(|_| NewRecord::new(KIND_EVENT, vec![thread as u8; 300]));
        let Ok(lsns) = journal.append_batch(records.collect()) else {
            break;
        };
        let durable = durable_last_lsn(fs);
        assert!(
            durable >= lsns.end - 1,
            "thread {thread}: LSNs {lsns:?} acknowledged with 1..={durable} durable"
        );
        acknowledged.push(lsns);
    }
    acknowledged
}

fn start_appenders(journal: &Arc<Journal>, fs: &SimFs) -> Vec<JoinHandle<Vec<Range<u64>>>> {
    (0..THREADS)
        .map(|thread| {
            let (journal, fs) = (journal.clone(), fs.clone());
            std::thread::spawn(move || append_and_check(&journal, &fs, thread))
        })
        .collect()
}

#[test]
fn concurrent_appenders_are_acknowledged_only_once_durable() {
    let fs = SimFs::new();
    let journal = Arc::new(Journal::create(DIR, options(&fs, Durability::Always)).unwrap());
    let holding = hold(&fs);
    let threads = start_appenders(&journal, &fs);
    release_until_done(&fs, &threads);
    let acknowledged: usize = threads
        .into_iter()
        .map(|thread| thread.join().expect("appender thread").len())
        .sum();
    assert_eq!(acknowledged as u64, THREADS * REQUESTS_PER_THREAD);
    drop(holding);
    let last_lsn = journal.last_lsn();
    drop(journal);
    assert_eq!(durable_last_lsn(&fs), last_lsn);
    assert!(verify(&fs, Path::new(DIR)).unwrap().is_ok());
}

/// Runs the appenders and fails the `nth` held sync; returns the last LSN durable when it
/// failed and the LSNs each thread got acknowledged.
fn fail_one_sync(fs: &SimFs, journal: &Arc<Journal>, nth: u64) -> (u64, Vec<Range<u64>>) {
    let _holding = hold(fs);
    let threads = start_appenders(journal, fs);
    let released = AtomicU64::new(0);
    wait_until("the chosen sync is held", || {
        if released.load(Ordering::SeqCst) + 1 == nth {
            return fs.held_syncs() > 0;
        }
        if fs.release_sync(true) {
            released.fetch_add(1, Ordering::SeqCst);
        }
        false
    });
    assert!(fs.release_sync(false));
    // Nothing else is durable until the next release: what is durable now is all that may
    // ever be acknowledged.
    let durable = durable_last_lsn(fs);
    release_until_done(fs, &threads);
    let acknowledged = threads
        .into_iter()
        .flat_map(|thread| thread.join().expect("appender thread"))
        .collect();
    (durable, acknowledged)
}

#[test]
fn after_a_failed_sync_nothing_that_was_not_durable_is_acknowledged() {
    // The file system works again after the failure, so a writer that went on would get
    // later syncs to succeed; it must not acknowledge anything written after the last
    // successful sync, and every later request fails.
    for nth in [2, 7, 19, 40] {
        let fs = SimFs::new();
        let journal = Arc::new(Journal::create(DIR, options(&fs, Durability::Always)).unwrap());
        let (durable, acknowledged) = fail_one_sync(&fs, &journal, nth);
        for lsns in &acknowledged {
            assert!(
                lsns.end - 1 <= durable,
                "sync {nth} failed with 1..={durable} durable, yet {lsns:?} was acknowledged"
            );
        }
        let later = journal.append(KIND_EVENT, Vec::new());
        assert!(
            matches!(later, Err(Error::Poisoned(_))),
            "sync {nth}: {later:?}"
        );
        let sync = journal.sync();
        assert!(
            matches!(sync, Err(Error::Poisoned(_))),
            "sync {nth}: {sync:?}"
        );
        drop(journal);
        let recovered = durable_last_lsn(&fs);
        assert!(
            recovered >= durable,
            "sync {nth}: 1..={recovered} recovered"
        );
    }
}

#[test]
fn a_sync_request_returns_once_everything_written_before_it_is_durable() {
    // In modes `batch` and `never` appends are acknowledged after the write; `sync` is what
    // makes them durable.
    for durability in [Durability::Batch, Durability::Never] {
        let fs = SimFs::new();
        let journal = Arc::new(Journal::create(DIR, options(&fs, durability)).unwrap());
        let records = (0..5).map(|_| NewRecord::new(KIND_EVENT, vec![7; 100]));
        let lsns = journal.append_batch(records.collect()).unwrap();
        let holding = hold(&fs);
        let syncing = {
            let (journal, fs) = (journal.clone(), fs.clone());
            std::thread::spawn(move || journal.sync().map(|()| durable_last_lsn(&fs)))
        };
        release_until_done(&fs, std::slice::from_ref(&syncing));
        let durable = syncing.join().expect("sync thread").expect("sync");
        assert!(
            durable >= lsns.end - 1,
            "{durability:?}: 1..={durable} durable"
        );
        drop(holding);
    }
}
