//! Crash tests on the simulated file system ([`SimFs`]), which keeps what was synced apart from
//! what was only written and can show the disk as a power cut would leave it: unsynced writes
//! dropped, kept, or a prefix kept with the last one torn (`format-spec/journal.md` section 9).
//!
//! Deterministic workloads of appends and batches run with 4 KiB segments and a checkpoint
//! every KiB, so that rolls, sealing and checkpoints happen all the time. A workload is cut at a
//! sync point, either by making that sync fail (the process dies there) or by taking crash
//! images just before it while the workload goes on (a hook in front of the file system). Every
//! image must open; its log must be LSNs 1..=n without a gap, with the bytes that were appended;
//! in mode `always` every acknowledged record must be there; appending must continue at n + 1;
//! and `verify` must then find nothing wrong.
//!
//! A failed write, sync or rename must poison the writer: nothing after it is acknowledged.

mod common;

use agentrail::journal::sim::{CrashMode, SimFs};
use agentrail::journal::vfs::{MappedBytes, Vfs, VfsFile, VfsLock};
use agentrail::journal::{
    verify, Durability, Journal, NewRecord, Options, RecoveryReport, KIND_EVENT,
};
use agentrail::Error;
use common::{assert_deterministic_prefix, payload, read_all, splitmix};
use std::collections::hash_map::DefaultHasher;
use std::collections::HashSet;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::io;
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

const DIR: &str = "/crash/journal";
const SEGMENT_BYTES: u64 = 4 * 1024;
const CHECKPOINT_INTERVAL_BYTES: u64 = 1024;

fn options(vfs: Arc<dyn Vfs>, durability: Durability) -> Options {
    Options {
        segment_bytes: SEGMENT_BYTES,
        checkpoint_interval_bytes: CHECKPOINT_INTERVAL_BYTES,
        durability,
        vfs,
        ..Options::default()
    }
}

/// Every way to crash, with tears drawn from `seed`.
fn crash_modes(seed: u64) -> [CrashMode; 4] {
    [
        CrashMode::DropUnsynced,
        CrashMode::KeepUnsynced,
        CrashMode::TearUnsynced { seed },
        CrashMode::TearUnsynced {
            seed: seed ^ 0x5EED_0000_0000,
        },
    ]
}

/// One crash mode, rotating with `point`, for tests that take one image per point.
fn rotating_mode(point: u64) -> CrashMode {
    match point % 3 {
        0 => CrashMode::DropUnsynced,
        1 => CrashMode::KeepUnsynced,
        _ => CrashMode::TearUnsynced { seed: point },
    }
}

/// The sizes of a workload's requests, in order: one record (sent with `append`) or a batch of
/// 2 to 8, now and then of 20 to 40 (sent with `append_batch`), `records` records in all.
fn workload(records: u64, seed: u64) -> Vec<u64> {
    let mut state = seed;
    let mut sizes = Vec::new();
    let mut total = 0;
    while total < records {
        let roll = splitmix(&mut state);
        let size = match roll % 40 {
            0 => 20 + roll / 40 % 21, // a batch that spans a roll or two
            1..=24 => 1,
            _ => 2 + roll / 40 % 7,
        };
        let size = size.min(records - total);
        sizes.push(size);
        total += size;
    }
    sizes
}

/// How far a workload got: LSNs 1..=acknowledged were acknowledged, 1..=attempted handed to
/// the journal (the last request may have been cut), 1..=synced made durable by a successful
/// `Journal::sync`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
struct Progress {
    acknowledged: u64,
    attempted: u64,
    synced: u64,
}

/// [`Progress`] shared with a hook running in the writer thread.
#[derive(Debug, Default)]
struct SharedProgress {
    acknowledged: AtomicU64,
    attempted: AtomicU64,
    synced: AtomicU64,
}

impl SharedProgress {
    fn get(&self) -> Progress {
        Progress {
            acknowledged: self.acknowledged.load(Ordering::SeqCst),
            attempted: self.attempted.load(Ordering::SeqCst),
            synced: self.synced.load(Ordering::SeqCst),
        }
    }
}

/// Sends one request of `size` records starting at LSN `first`.
fn send(journal: &Journal, first: u64, size: u64) -> agentrail::Result<Range<u64>> {
    if size == 1 {
        let lsn = journal.append(KIND_EVENT, payload(first))?;
        return Ok(lsn..lsn + 1);
    }
    let records = (first..first + size)
        .map(|lsn| NewRecord::new(KIND_EVENT, payload(lsn)))
        .collect();
    journal.append_batch(records)
}

/// Runs a workload from one thread until it ends or a request fails. With `sync_every`, calls
/// `Journal::sync` after every that many requests. One thread, so that a hook sees exactly
/// what had been acknowledged when it runs: the next request is sent only after the last
/// acknowledgement has been recorded.
fn run_workload(
    vfs: Arc<dyn Vfs>,
    durability: Durability,
    sizes: &[u64],
    sync_every: Option<usize>,
    progress: &SharedProgress,
) -> agentrail::Result<()> {
    let journal = Journal::create(DIR, options(vfs, durability))?;
    let mut next = 1;
    for (number, &size) in sizes.iter().enumerate() {
        progress.attempted.store(next + size - 1, Ordering::SeqCst);
        let range = send(&journal, next, size)?;
        assert_eq!(range, next..next + size, "LSNs of request {number}");
        next = range.end;
        progress.acknowledged.store(next - 1, Ordering::SeqCst);
        if sync_every.is_some_and(|every| (number + 1) % every == 0) {
            journal.sync()?;
            progress.synced.store(next - 1, Ordering::SeqCst);
        }
    }
    journal.close();
    Ok(())
}

/// Opens a crash image of a deterministic workload and checks it against what the workload had
/// been told; returns the number of records recovered and what recovery reported.
fn check_image(
    image: &SimFs,
    durability: Durability,
    progress: Progress,
    context: &str,
) -> (u64, RecoveryReport) {
    // A crash is not damage: verify, run before anything opens the image, may see a torn
    // tail but no problem.
    let before = verify(image, Path::new(DIR))
        .unwrap_or_else(|error| panic!("{context}: verify before open: {error}"));
    assert!(
        before.is_ok(),
        "{context}: verify before open: {:?}",
        before.problems
    );
    let vfs: Arc<dyn Vfs> = Arc::new(image.clone());
    let journal = Journal::open(DIR, options(vfs, durability))
        .unwrap_or_else(|error| panic!("{context}: open failed: {error}"));
    let report = journal.recovery_report().clone();
    let torn = report
        .torn_tail
        .as_ref()
        .map(|torn| (torn.offset, torn.lsn));
    let torn_before = before
        .torn_tail
        .as_ref()
        .map(|torn| (torn.offset, torn.lsn));
    assert_eq!(
        torn, torn_before,
        "{context}: verify and open disagree on the torn tail"
    );
    let records = read_all(&journal).unwrap_or_else(|error| panic!("{context}: read: {error}"));
    let recovered = records.len() as u64;
    assert_deterministic_prefix(&records, context);
    assert_eq!(journal.last_lsn(), recovered, "{context}");
    if durability == Durability::Always {
        assert!(
            recovered >= progress.acknowledged,
            "{context}: LSNs 1..={} were acknowledged, only 1..={recovered} recovered",
            progress.acknowledged
        );
        assert_whole_request(recovered, progress, context);
    }
    assert!(
        recovered >= progress.synced,
        "{context}: LSNs 1..={} were synced, only 1..={recovered} recovered",
        progress.synced
    );
    assert!(
        recovered <= progress.attempted,
        "{context}: {recovered} records recovered, only {} appended",
        progress.attempted
    );
    let next = journal
        .append(KIND_EVENT, payload(recovered + 1))
        .unwrap_or_else(|error| panic!("{context}: append after recovery: {error}"));
    assert_eq!(
        next,
        recovered + 1,
        "{context}: LSN of the append after recovery"
    );
    journal.close();
    assert_verifies(image, recovered + 1, context);
    (recovered, report)
}

/// An append request is stored whole or not at all (`format-spec/journal.md` section 11): in
/// mode `always`, where everything before the request in flight was acknowledged durable, the
/// log ends before that request or after it, never inside it.
fn assert_whole_request(recovered: u64, progress: Progress, context: &str) {
    assert!(
        recovered == progress.acknowledged || recovered == progress.attempted,
        "{context}: 1..={recovered} recovered, inside the request of LSNs {}..={}",
        progress.acknowledged + 1,
        progress.attempted
    );
}

fn assert_verifies(image: &SimFs, last_lsn: u64, context: &str) {
    let report = verify(image, Path::new(DIR)).unwrap();
    assert!(report.is_ok(), "{context}: verify: {:?}", report.problems);
    assert_eq!(report.torn_tail, None, "{context}: verify");
    assert_eq!(report.last_good_lsn, last_lsn, "{context}: verify");
}

/// A fingerprint of the journal directory of an image, to skip checking the same bytes twice.
fn fingerprint(image: &SimFs) -> u64 {
    let dir = Path::new(DIR);
    let mut names = image.list_dir(dir).unwrap();
    names.sort();
    let mut hasher = DefaultHasher::new();
    for name in names {
        name.hash(&mut hasher);
        image.read_file(&dir.join(&name)).unwrap().hash(&mut hasher);
    }
    hasher.finish()
}

/// Runs a workload with the `sync`-th sync failing, as if the process died there; returns what
/// it got done, or `None` when it finished before that sync.
fn run_until_sync_fails(
    fs: &SimFs,
    durability: Durability,
    sizes: &[u64],
    sync: u64,
) -> Option<Progress> {
    fs.fail_at_sync(sync);
    let progress = SharedProgress::default();
    let vfs: Arc<dyn Vfs> = Arc::new(fs.clone());
    match run_workload(vfs, durability, sizes, None, &progress) {
        Ok(()) => {
            assert!(
                !fs.has_failed(),
                "the workload went on after sync {sync} failed"
            );
            None
        }
        Err(error) => {
            assert!(fs.has_failed(), "the workload failed on its own: {error}");
            Some(progress.get())
        }
    }
}

/// Which situations the images of a test led recovery through, so that a test can show it
/// reached them.
#[derive(Debug, Default)]
struct Situations {
    torn_tails: u64,
    created_segments: u64,
    removed_temp_files: u64,
    without_checkpoint: u64,
    unacknowledged_kept: u64,
    unacknowledged_lost: u64,
}

impl Situations {
    fn add(&mut self, progress: Progress, recovered: u64, report: &RecoveryReport) {
        self.torn_tails += u64::from(report.torn_tail.is_some());
        self.created_segments += u64::from(report.created_segment);
        self.removed_temp_files += u64::from(!report.removed_temp_files.is_empty());
        self.without_checkpoint += u64::from(!report.from_checkpoint);
        self.unacknowledged_kept += u64::from(recovered > progress.acknowledged);
        self.unacknowledged_lost += u64::from(recovered < progress.attempted);
    }

    fn assert_all_seen(&self) {
        let counts = [
            self.torn_tails,
            self.created_segments,
            self.removed_temp_files,
            self.without_checkpoint,
            self.unacknowledged_kept,
            self.unacknowledged_lost,
        ];
        assert!(counts.iter().all(|&count| count > 0), "{self:?}");
    }
}

#[test]
fn a_crash_at_every_sync_point_loses_no_acknowledged_record() {
    let sizes = workload(200, 1);
    let mut sync = 1;
    let mut situations = Situations::default();
    loop {
        let fs = SimFs::new();
        let Some(progress) = run_until_sync_fails(&fs, Durability::Always, &sizes, sync) else {
            break;
        };
        let mut seen = HashSet::new();
        for mode in crash_modes(sync) {
            let image = fs.crash_image(mode);
            if seen.insert(fingerprint(&image)) {
                let context = format!("sync {sync}, {mode:?}, {progress:?}");
                let (recovered, report) =
                    check_image(&image, Durability::Always, progress, &context);
                situations.add(progress, recovered, &report);
            }
        }
        sync += 1;
    }
    // 200 records in 4 KiB segments: at least one sync per request, six per roll.
    assert!(sync > 150, "only {sync} sync points");
    situations.assert_all_seen();
}

/// A file-system call, as a hook sees it before it happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Call {
    Write,
    SetLen,
    SyncFile,
    SyncDir,
    Create,
    Rename,
    Remove,
}

/// What a hook decides about a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Proceed,
    /// Fail the call without doing it.
    Fail,
    /// For a write: write the first half of the bytes, then fail.
    FailHalfway,
}

type Hook = Arc<dyn Fn(Call, &SimFs) -> Verdict + Send + Sync>;

/// A [`SimFs`] whose every mutation first goes through a hook, which may look at the file
/// system just before it (to take crash images) or make it fail (to inject an I/O error).
#[derive(Clone)]
struct HookFs {
    fs: SimFs,
    hook: Hook,
}

impl fmt::Debug for HookFs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HookFs")
    }
}

fn injected() -> io::Error {
    io::Error::other("injected I/O error")
}

impl HookFs {
    fn ask(&self, call: Call) -> io::Result<()> {
        match (self.hook)(call, &self.fs) {
            Verdict::Proceed => Ok(()),
            Verdict::Fail | Verdict::FailHalfway => Err(injected()),
        }
    }

    fn wrap(&self, file: Box<dyn VfsFile>) -> Box<dyn VfsFile> {
        Box::new(HookFile {
            file,
            fs: self.clone(),
        })
    }
}

struct HookFile {
    file: Box<dyn VfsFile>,
    fs: HookFs,
}

impl fmt::Debug for HookFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HookFile")
    }
}

impl VfsFile for HookFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.file.read_at(buf, offset)
    }
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        match (self.fs.hook)(Call::Write, &self.fs.fs) {
            Verdict::Proceed => self.file.write_all_at(buf, offset),
            Verdict::Fail => Err(injected()),
            Verdict::FailHalfway => {
                self.file.write_all_at(&buf[..buf.len() / 2], offset)?;
                Err(injected())
            }
        }
    }
    fn len(&self) -> io::Result<u64> {
        self.file.len()
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.fs.ask(Call::SetLen)?;
        self.file.set_len(len)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.fs.ask(Call::SyncFile)?;
        self.file.sync_data()
    }
    fn identity(&self) -> io::Result<u64> {
        self.file.identity()
    }
}

impl Vfs for HookFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.fs.create_dir_all(dir)
    }
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.fs.list_dir(dir)
    }
    fn exists(&self, path: &Path) -> bool {
        self.fs.exists(path)
    }
    fn open(&self, path: &Path) -> io::Result<Box<dyn VfsFile>> {
        Ok(self.wrap(self.fs.open(path)?))
    }
    fn create(&self, path: &Path) -> io::Result<Box<dyn VfsFile>> {
        self.ask(Call::Create)?;
        Ok(self.wrap(self.fs.create(path)?))
    }
    fn map(&self, path: &Path) -> io::Result<MappedBytes> {
        self.fs.map(path)
    }
    fn stat(&self, path: &Path) -> io::Result<(u64, u64)> {
        self.fs.stat(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.ask(Call::Rename)?;
        self.fs.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.ask(Call::Remove)?;
        self.fs.remove_file(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.ask(Call::SyncDir)?;
        self.fs.sync_dir(dir)
    }
    fn open_lock(&self, path: &Path) -> io::Result<Box<dyn VfsLock>> {
        self.fs.open_lock(path)
    }
}

/// A crash image taken by a hook, and what the workload had been told when it was taken.
struct Snapshot {
    point: u64,
    mode: CrashMode,
    image: SimFs,
    progress: Progress,
    /// Check the whole log, not only its tail.
    whole: bool,
}

/// Runs a workload on a [`HookFs`] that, before every call for which `pick(point, call)`
/// names a crash mode and whether to check the whole log or only its tail (`point` counts the
/// calls so far), hands a crash image of that moment to
/// a checker thread, which checks it while the workload goes on. Returns the number of images
/// checked (identical ones are checked once) and the number of calls made.
fn check_snapshots(
    durability: Durability,
    sizes: &[u64],
    sync_every: Option<usize>,
    pick: impl Fn(u64, Call) -> Option<(CrashMode, bool)> + Send + Sync + 'static,
) -> (u64, u64) {
    let progress = Arc::new(SharedProgress::default());
    let points = Arc::new(AtomicU64::new(0));
    let (sender, receiver) = crossbeam_channel::bounded::<Snapshot>(2);
    let hook: Hook = {
        let (progress, points) = (progress.clone(), points.clone());
        let sender = Mutex::new(sender);
        Arc::new(move |call, fs| {
            let point = points.fetch_add(1, Ordering::SeqCst) + 1;
            if let Some((mode, whole)) = pick(point, call) {
                let snapshot = Snapshot {
                    point,
                    mode,
                    image: fs.crash_image(mode),
                    progress: progress.get(),
                    whole,
                };
                // The checker stops at its first failure; the workload goes on without it.
                let _ = sender.lock().unwrap().send(snapshot);
            }
            Verdict::Proceed
        })
    };
    let checker = std::thread::spawn(move || {
        let mut seen = HashSet::new();
        for snapshot in receiver {
            if seen.insert((fingerprint(&snapshot.image), snapshot.progress)) {
                let context = format!(
                    "call {}, {:?}, {:?}",
                    snapshot.point, snapshot.mode, snapshot.progress
                );
                if snapshot.whole {
                    check_image(&snapshot.image, durability, snapshot.progress, &context);
                } else {
                    check_image_tail(&snapshot.image, durability, snapshot.progress, &context);
                }
            }
        }
        seen.len() as u64
    });
    let fs = SimFs::new();
    let vfs: Arc<dyn Vfs> = Arc::new(HookFs {
        fs: fs.clone(),
        hook,
    });
    let finished = run_workload(vfs.clone(), durability, sizes, sync_every, &progress);
    drop(vfs); // the last sender: the checker ends once it has checked everything
    let checked = checker.join().unwrap();
    finished.unwrap();
    let total: u64 = sizes.iter().sum();
    let journal = Journal::open(DIR, options(Arc::new(fs), durability)).unwrap();
    assert_eq!(journal.last_lsn(), total);
    (checked, points.load(Ordering::SeqCst))
}

/// A cheaper check of an image of a long log, for the points between whole checks: nothing
/// acknowledged (or synced) is lost, the records from a little before the last acknowledged
/// one hold the bytes appended, and appending goes on right after the recovered log.
fn check_image_tail(image: &SimFs, durability: Durability, progress: Progress, context: &str) {
    let vfs: Arc<dyn Vfs> = Arc::new(image.clone());
    let journal = Journal::open(DIR, options(vfs, durability))
        .unwrap_or_else(|error| panic!("{context}: open failed: {error}"));
    let recovered = journal.last_lsn();
    let kept = match durability {
        Durability::Always => progress.acknowledged.max(progress.synced),
        _ => progress.synced,
    };
    assert!(
        recovered >= kept,
        "{context}: only 1..={recovered} recovered"
    );
    if durability == Durability::Always {
        assert_whole_request(recovered, progress, context);
    }
    assert!(
        recovered <= progress.attempted,
        "{context}: {recovered} recovered"
    );
    let from = progress.acknowledged.saturating_sub(30).max(1);
    let records = journal
        .read_from(from)
        .unwrap()
        .collect::<agentrail::Result<Vec<_>>>()
        .unwrap_or_else(|error| panic!("{context}: read: {error}"));
    assert_eq!(records.len() as u64, (recovered + 1).saturating_sub(from));
    for (record, lsn) in records.iter().zip(from..) {
        assert_eq!(record.lsn, lsn, "{context}");
        assert!(
            record.payload == payload(lsn),
            "{context}: LSN {lsn} has other bytes"
        );
    }
    let next = journal.append(KIND_EVENT, payload(recovered + 1)).unwrap();
    assert_eq!(
        next,
        recovered + 1,
        "{context}: LSN of the append after recovery"
    );
}

fn is_sync(call: Call) -> bool {
    matches!(call, Call::SyncFile | Call::SyncDir)
}

#[test]
fn crashes_before_syncs_of_a_workload_of_thousands_of_records_lose_nothing_acknowledged() {
    // Over 2000 syncs (some leave the same image), each with one crash mode in turn: every
    // mode at every sync point is the business of the 200-record test above. The whole log is
    // checked at every 7th sync, its tail at the others.
    let sizes = workload(2500, 2);
    let syncs = AtomicU64::new(0);
    let (checked, _) = check_snapshots(Durability::Always, &sizes, None, move |_, call| {
        if !is_sync(call) {
            return None;
        }
        let sync = syncs.fetch_add(1, Ordering::SeqCst) + 1;
        Some((rotating_mode(sync), sync.is_multiple_of(7)))
    });
    assert!(checked > 1500, "only {checked} distinct images checked");
}

#[test]
fn modes_batch_and_never_recover_a_gap_free_prefix_with_every_synced_record() {
    // Nothing is acknowledged as durable in these modes except by `Journal::sync`, which the
    // workload calls after every 10th request. Crash images are taken before every write and
    // every sync, since writes and syncs are not paired here.
    for durability in [Durability::Batch, Durability::Never] {
        let sizes = workload(400, 3);
        let (checked, calls) = check_snapshots(durability, &sizes, Some(10), |point, call| {
            let interesting = is_sync(call) || call == Call::Write;
            (interesting && point % 2 == 0).then(|| (rotating_mode(point / 2), true))
        });
        assert!(
            checked > 100,
            "{durability:?}: only {checked} of {calls} calls checked"
        );
    }
}

#[test]
fn a_crash_during_recovery_is_recovered_from() {
    // Recovery itself writes: it removes temporary files, truncates a torn tail and may create
    // a segment. A crash at each of its syncs, after a crash of the workload, must leave a
    // journal that opens as well.
    let sizes = workload(150, 4);
    for workload_sync in (5..).step_by(9) {
        let fs = SimFs::new();
        let Some(progress) = run_until_sync_fails(&fs, Durability::Always, &sizes, workload_sync)
        else {
            break;
        };
        for first_mode in crash_modes(workload_sync) {
            let first = fs.crash_image(first_mode);
            for recovery_sync in 1.. {
                let during = first.crash_image(CrashMode::KeepUnsynced);
                during.fail_at_sync(recovery_sync);
                let vfs: Arc<dyn Vfs> = Arc::new(during.clone());
                let opened = Journal::open(DIR, options(vfs, Durability::Always));
                if !during.has_failed() {
                    assert!(opened.is_ok(), "recovery failed on its own");
                    break;
                }
                drop(opened);
                let second_modes = [
                    CrashMode::DropUnsynced,
                    CrashMode::TearUnsynced {
                        seed: recovery_sync,
                    },
                ];
                for second_mode in second_modes {
                    let context = format!(
                        "workload sync {workload_sync} then {first_mode:?}, recovery sync \
                         {recovery_sync} then {second_mode:?}, {progress:?}"
                    );
                    let image = during.crash_image(second_mode);
                    check_image(&image, Durability::Always, progress, &context);
                }
            }
        }
    }
}

/// The payload of record `sequence` of thread `thread`: says whose it is.
fn thread_payload(thread: u64, sequence: u64) -> Vec<u8> {
    let mut bytes = thread.to_le_bytes().to_vec();
    bytes.extend_from_slice(&sequence.to_le_bytes());
    bytes.extend_from_slice(&payload(thread << 32 | sequence));
    bytes
}

fn thread_and_sequence(payload: &[u8]) -> (u64, u64) {
    let word = |at: usize| u64::from_le_bytes(payload[at..at + 8].try_into().unwrap());
    (word(0), word(8))
}

const THREADS: u64 = 4;

/// What one appending thread got acknowledged: (sequence, LSN) of each record, and how many
/// records it handed to the journal.
#[derive(Debug, Default)]
struct ThreadLog {
    acknowledged: Vec<(u64, u64)>,
    attempted: u64,
}

/// Runs `THREADS` threads appending their own records until one request fails. With
/// `own_handles`, each thread opens its own handle, so each has its own writer, and the
/// writers take turns under the journal's lock, each following what the others appended and
/// rolled (as separate processes do); otherwise they share one handle.
fn run_threads(vfs: Arc<dyn Vfs>, per_thread: u64, own_handles: bool) -> Vec<ThreadLog> {
    let failed_early = || (0..THREADS).map(|_| ThreadLog::default()).collect();
    let Ok(first) = Journal::create(DIR, options(vfs.clone(), Durability::Always)) else {
        return failed_early();
    };
    let mut handles = vec![Arc::new(first)];
    for _ in 1..THREADS {
        if !own_handles {
            handles.push(handles[0].clone());
            continue;
        }
        let Ok(handle) = Journal::open(DIR, options(vfs.clone(), Durability::Always)) else {
            return failed_early();
        };
        handles.push(Arc::new(handle));
    }
    let threads: Vec<_> = handles
        .into_iter()
        .zip(0..THREADS)
        .map(|(journal, thread)| {
            std::thread::spawn(move || append_as(&journal, thread, per_thread))
        })
        .collect();
    threads
        .into_iter()
        .map(|thread| thread.join().unwrap())
        .collect()
}

fn append_as(journal: &Journal, thread: u64, per_thread: u64) -> ThreadLog {
    let mut log = ThreadLog::default();
    for size in workload(per_thread, thread + 10) {
        let first = log.attempted;
        log.attempted += size;
        let records = (first..first + size)
            .map(|sequence| NewRecord::new(KIND_EVENT, thread_payload(thread, sequence)))
            .collect();
        let Ok(lsns) = journal.append_batch(records) else {
            // The writer is poisoned now, for every thread that shares it.
            let again = journal.append(KIND_EVENT, thread_payload(thread, log.attempted));
            assert!(matches!(again, Err(Error::Poisoned(_))), "{again:?}");
            break;
        };
        assert_eq!(lsns.end - lsns.start, size);
        log.acknowledged.extend((first..first + size).zip(lsns));
    }
    log
}

/// Checks a crash image of [`run_threads`]: a gap-free log in which each thread's records are
/// a prefix of what it appended, in order, and every acknowledged record is at its LSN.
fn check_threads_image(image: &SimFs, logs: &[ThreadLog], context: &str) {
    let vfs: Arc<dyn Vfs> = Arc::new(image.clone());
    let journal = Journal::open(DIR, options(vfs, Durability::Always))
        .unwrap_or_else(|error| panic!("{context}: open failed: {error}"));
    let records = read_all(&journal).unwrap_or_else(|error| panic!("{context}: read: {error}"));
    let mut next_sequence = vec![0u64; logs.len()];
    for (index, record) in records.iter().enumerate() {
        assert_eq!(record.lsn, index as u64 + 1, "{context}: LSNs have a gap");
        let (thread, sequence) = thread_and_sequence(&record.payload);
        assert_eq!(
            record.payload,
            thread_payload(thread, sequence),
            "{context}"
        );
        assert_eq!(
            sequence, next_sequence[thread as usize],
            "{context}: LSN {}: thread {thread}'s records are out of order",
            record.lsn
        );
        next_sequence[thread as usize] += 1;
    }
    for (thread, log) in logs.iter().enumerate() {
        assert!(next_sequence[thread] <= log.attempted, "{context}");
        for &(sequence, lsn) in &log.acknowledged {
            let record = records.get(lsn as usize - 1).unwrap_or_else(|| {
                panic!("{context}: acknowledged LSN {lsn} of thread {thread} is lost")
            });
            assert_eq!(
                record.payload,
                thread_payload(thread as u64, sequence),
                "{context}"
            );
        }
    }
    let recovered = records.len() as u64;
    assert_eq!(
        journal.append(KIND_EVENT, Vec::new()).unwrap(),
        recovered + 1
    );
    journal.close();
    assert_verifies(image, recovered + 1, context);
}

fn check_threads_at_sampled_sync_points(own_handles: bool) {
    let per_thread = 150;
    let mut sync = 1;
    let mut points = 0;
    loop {
        let fs = SimFs::new();
        fs.fail_at_sync(sync);
        let logs = run_threads(Arc::new(fs.clone()), per_thread, own_handles);
        if !fs.has_failed() {
            let finished: u64 = logs.iter().map(|log| log.acknowledged.len() as u64).sum();
            assert_eq!(finished, THREADS * per_thread);
            break;
        }
        for mode in crash_modes(sync) {
            let context = format!("own handles {own_handles}, sync {sync}, {mode:?}");
            check_threads_image(&fs.crash_image(mode), &logs, &context);
        }
        points += 1;
        sync += 1 + sync / 8;
    }
    assert!(points > 20, "only {points} sync points");
}

#[test]
fn concurrent_appenders_lose_nothing_acknowledged_at_sampled_sync_points() {
    // Four threads on one handle: requests are grouped into one write and one sync, so
    // acknowledgements arrive in groups and the threads' records interleave.
    check_threads_at_sampled_sync_points(false);
}

#[test]
fn concurrent_writers_lose_nothing_acknowledged_at_sampled_sync_points() {
    // Four handles, four writers: each commit follows the others' appends and rolls first.
    check_threads_at_sampled_sync_points(true);
}

#[test]
fn one_writers_io_failure_leaves_the_other_writers_going() {
    // Four handles; one write is cut halfway, or one sync fails, and the file system works
    // again. The writer that met the failure is poisoned; the others go on, each first
    // following the log past what the failed one left (a torn frame is cut, unacknowledged
    // records are kept), and nothing acknowledged is lost, now or after a crash.
    let per_thread = 100;
    for (call, verdict) in [
        (Call::Write, Verdict::FailHalfway),
        (Call::SyncFile, Verdict::Fail),
    ] {
        for nth in [5, 17, 40, 90, 150] {
            let context = format!("{call:?} number {nth} fails ({verdict:?})");
            let (hook, injector) = inject_once(call, nth, verdict);
            let fs = SimFs::new();
            let vfs: Arc<dyn Vfs> = Arc::new(HookFs {
                fs: fs.clone(),
                hook,
            });
            let logs = run_threads(vfs, per_thread, true);
            assert_ne!(injector.failed_at.load(Ordering::SeqCst), 0, "{context}");
            let stopped = logs
                .iter()
                .filter(|log| log.acknowledged.len() as u64 != per_thread)
                .count();
            assert_eq!(stopped, 1, "{context}: threads stopped");
            for mode in crash_modes(nth) {
                let image = fs.crash_image(mode);
                check_threads_image(&image, &logs, &format!("{context}, {mode:?}"));
            }
            check_threads_image(&fs, &logs, &format!("{context}, reopened"));
        }
    }
}

/// A hook that fails the `nth` call of kind `fail` once, and counts every mutation after it.
struct Injector {
    calls: AtomicU64,
    failed_at: AtomicU64,
    after: AtomicU64,
}

fn inject_once(fail: Call, nth: u64, verdict: Verdict) -> (Hook, Arc<Injector>) {
    let injector = Arc::new(Injector {
        calls: AtomicU64::new(0),
        failed_at: AtomicU64::new(0),
        after: AtomicU64::new(0),
    });
    let state = injector.clone();
    let hook: Hook = Arc::new(move |call, _fs| {
        if state.failed_at.load(Ordering::SeqCst) != 0 {
            state.after.fetch_add(1, Ordering::SeqCst);
            return Verdict::Proceed;
        }
        if call != fail {
            return Verdict::Proceed;
        }
        let count = state.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if count != nth {
            return Verdict::Proceed;
        }
        state.failed_at.store(count, Ordering::SeqCst);
        verdict
    });
    (hook, injector)
}

/// Sends the workload's requests (and, outside mode `always`, a `sync` after every third) until
/// one fails; returns the failure and the first LSN not acknowledged.
fn run_until_failure(
    journal: &Journal,
    durability: Durability,
    sizes: &[u64],
    progress: &SharedProgress,
) -> Option<(Error, u64)> {
    let mut next = 1;
    for (number, &size) in sizes.iter().enumerate() {
        progress.attempted.store(next + size - 1, Ordering::SeqCst);
        match send(journal, next, size) {
            Ok(range) => next = range.end,
            Err(error) => return Some((error, next)),
        }
        progress.acknowledged.store(next - 1, Ordering::SeqCst);
        if durability != Durability::Always && number % 3 == 2 {
            if let Err(error) = journal.sync() {
                return Some((error, next));
            }
            progress.synced.store(next - 1, Ordering::SeqCst);
        }
    }
    None
}

/// Runs the workload on a file system that fails the `nth` call of kind `fail` once and works
/// again after it; returns `false` when the workload made fewer such calls.
fn poisoning_case(
    durability: Durability,
    fail: Call,
    nth: u64,
    verdict: Verdict,
    sizes: &[u64],
) -> bool {
    let context = format!("{durability:?}: {fail:?} number {nth} fails ({verdict:?})");
    let (hook, injector) = inject_once(fail, nth, verdict);
    let fs = SimFs::new();
    let vfs: Arc<dyn Vfs> = Arc::new(HookFs {
        fs: fs.clone(),
        hook,
    });
    let Ok(journal) = Journal::create(DIR, options(vfs, durability)) else {
        // The failure hit the creation of the journal; there was no writer to poison.
        return injector.failed_at.load(Ordering::SeqCst) != 0;
    };
    let progress = SharedProgress::default();
    let Some((failure, next)) = run_until_failure(&journal, durability, sizes, &progress) else {
        assert_eq!(injector.failed_at.load(Ordering::SeqCst), 0, "{context}");
        return false;
    };
    assert!(
        matches!(failure, Error::Io { .. } | Error::Poisoned(_)),
        "{context}: the failed request returned {failure}"
    );
    // The file system works again, but the writer must not: every later request fails, and
    // it touches the disk no more.
    for attempt in 0..5 {
        let later = send(&journal, next, 1 + attempt % 3);
        assert!(
            matches!(later, Err(Error::Poisoned(_))),
            "{context}: an append after the failure returned {later:?}"
        );
    }
    let sync = journal.sync();
    assert!(
        matches!(sync, Err(Error::Poisoned(_))),
        "{context}: {sync:?}"
    );
    journal.close();
    let after = injector.after.load(Ordering::SeqCst);
    assert_eq!(
        after, 0,
        "{context}: {after} writes, syncs or renames after the failure"
    );
    let progress = progress.get();
    for mode in crash_modes(nth) {
        let image = fs.crash_image(mode);
        check_image(
            &image,
            durability,
            progress,
            &format!("{context}, {mode:?}"),
        );
    }
    // The same process may open the journal again: recovery makes it whole.
    let context = format!("{context}, reopened");
    check_image(&fs, durability, progress, &context);
    true
}

#[test]
fn a_failed_write_sync_or_rename_poisons_the_writer() {
    let sizes = workload(120, 5);
    let cases = [
        (Call::SyncFile, Verdict::Fail),
        (Call::SyncDir, Verdict::Fail),
        (Call::Write, Verdict::Fail),
        (Call::Write, Verdict::FailHalfway),
        (Call::Rename, Verdict::Fail),
        (Call::Create, Verdict::Fail),
    ];
    for (call, verdict) in cases {
        let mut nth = 1;
        while poisoning_case(Durability::Always, call, nth, verdict, &sizes) {
            nth += 1 + nth / 6;
        }
        assert!(nth > 8, "{call:?}: only {nth} calls in the workload");
    }
}

#[test]
fn a_failed_sync_poisons_the_writer_in_modes_batch_and_never() {
    // Here the failing sync may be one that `Journal::sync` asked for, outside any append.
    let sizes = workload(120, 6);
    for durability in [Durability::Batch, Durability::Never] {
        for (call, verdict) in [
            (Call::SyncFile, Verdict::Fail),
            (Call::Write, Verdict::FailHalfway),
        ] {
            let mut nth = 1;
            while poisoning_case(durability, call, nth, verdict, &sizes) {
                nth += 1 + nth / 4;
            }
            assert!(nth > 8, "{durability:?}, {call:?}: only {nth} calls");
        }
    }
}

/// One session of a journal that crashes again and again: opens the journal on `fs`, checks
/// what it recovered, and appends the workload's records after it until the `sync`-th sync
/// fails. Returns the highest LSN handed to the journal.
fn crashing_session(
    fs: &SimFs,
    durability: Durability,
    sizes: &[u64],
    sync: u64,
    progress: &SharedProgress,
    context: &str,
) -> u64 {
    // What the image holds is durable; check_image appends one more record, durable only
    // in mode `always`.
    let (durable, _) = check_image(fs, durability, progress.get(), context);
    let recovered = durable + 1;
    progress.acknowledged.store(recovered, Ordering::SeqCst);
    let synced = if durability == Durability::Always {
        recovered
    } else {
        durable
    };
    progress.synced.store(synced, Ordering::SeqCst);
    fs.fail_at_sync(sync);
    let vfs: Arc<dyn Vfs> = Arc::new(fs.clone());
    let Ok(journal) = Journal::open(DIR, options(vfs, durability)) else {
        return recovered;
    };
    let mut next = recovered + 1;
    for (number, &size) in sizes.iter().enumerate() {
        progress.attempted.store(next + size - 1, Ordering::SeqCst);
        let Ok(range) = send(&journal, next, size) else {
            return next + size - 1;
        };
        next = range.end;
        progress.acknowledged.store(next - 1, Ordering::SeqCst);
        if durability != Durability::Always && number % 4 == 3 {
            if journal.sync().is_err() {
                return next - 1;
            }
            progress.synced.store(next - 1, Ordering::SeqCst);
        }
    }
    journal.close();
    next - 1
}

#[test]
fn sessions_that_each_recover_then_crash_lose_nothing_acknowledged() {
    // Sessions that each recover what the last one left, append, and are cut at a sync: what
    // recovery truncated, created or found without a checkpoint must carry on soundly.
    for durability in [Durability::Always, Durability::Never] {
        let mut fs = SimFs::new();
        fs.create_dir_all(Path::new(DIR)).unwrap();
        let progress = SharedProgress::default();
        let mut state = 7;
        for session in 0..60 {
            let sizes = workload(splitmix(&mut state) % 60 + 1, splitmix(&mut state));
            let sync = splitmix(&mut state) % 50 + 1;
            let context = format!("{durability:?}, session {session}");
            let attempted = crashing_session(&fs, durability, &sizes, sync, &progress, &context);
            progress.attempted.store(attempted, Ordering::SeqCst);
            fs = fs.crash_image(rotating_mode(splitmix(&mut state)));
        }
    }
}
