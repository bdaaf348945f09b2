//! The journal: agentrail's segmented, checksummed, crash-safe append-only log of records.
//!
//! A journal is a directory of segment files (`format-spec/journal.md`). [`Journal`] is its
//! handle: appends go to one writer thread per handle that commits them in groups under a lock
//! shared by every process, reads go straight to the segment files. The journal stores opaque
//! payloads tagged with a kind; what an event means is the business of [`crate::event`].
//!
//! Architecture invariant: every byte reaches the disk through [`vfs::Vfs`], so the crash tests
//! see every write, sync and rename the journal makes.

pub mod batch;
pub mod format;
pub mod reader;
pub mod recovery;
mod reply;
pub mod rewrite;
pub mod segment;
pub mod sim;
pub mod verify;
pub mod vfs;
mod writer;

pub use reader::{Reader, Record};
pub use recovery::{RecoveryReport, TornTail};
pub use rewrite::{Summarizer, TombstoneReport, Tombstoned};
pub use verify::{repair, verify, RepairReport, VerifyReport};

use crate::error::{Error, Result};
use crossbeam_channel::Sender;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use vfs::{StdFs, Vfs};
use writer::{Request, Shared, Writer, WriterConfig};

/// The default size at which a segment is sealed and the next one started.
pub const SEGMENT_BYTES_DEFAULT: u64 = 64 * 1024 * 1024;
/// The smallest segment size accepted (tests use 64 KiB).
pub const SEGMENT_BYTES_MIN: u64 = 4 * 1024;
/// The largest segment size accepted: offsets in a segment must fit in 32 bits.
pub const SEGMENT_BYTES_MAX: u64 = 1024 * 1024 * 1024;
/// A bulk append ([`Journal::append_bulk`]) of at least `segment_bytes / BULK_SEAL_DIVISOR`
/// bytes of frames (8 MiB of the default 64 MiB) seals the active segment after it, so that a
/// bulk load is stored compressed and not left raw.
pub const BULK_SEAL_DIVISOR: u64 = 8;
/// By default, the checkpoint is refreshed after this many bytes of appends.
pub const CHECKPOINT_INTERVAL_BYTES_DEFAULT: u64 = 4 * 1024 * 1024;
/// Name of the lock file in the journal directory.
pub const LOCK_FILE: &str = "LOCK";
/// Name of the damage marker: present once corruption was seen, until `repair` removes it.
pub const DAMAGE_MARKER_FILE: &str = "DAMAGED";
/// How long a wait for the journal's lock lasts before [`Options::lock_wait_notice`] is told.
pub const LOCK_WAIT_NOTICE_AFTER: Duration = Duration::from_secs(1);

/// Told, once per wait and on a thread of its own, when taking the journal's lock has waited
/// [`LOCK_WAIT_NOTICE_AFTER`]: another process holds it (a large import, say). The library
/// prints nothing; the CLI tells the person why the command is waiting.
#[derive(Clone)]
pub struct LockWaitNotice(pub Arc<dyn Fn() + Send + Sync>);

impl std::fmt::Debug for LockWaitNotice {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("LockWaitNotice")
    }
}

/// Takes `lock`, waiting as long as it takes; when the wait lasts [`LOCK_WAIT_NOTICE_AFTER`],
/// `notice` is told while it goes on. Without a notice, or with the lock free, no thread is
/// started.
pub(crate) fn take_lock(
    lock: &dyn vfs::VfsLock,
    notice: Option<&LockWaitNotice>,
) -> std::io::Result<()> {
    let Some(notice) = notice else {
        return lock.lock();
    };
    if lock.try_lock()? {
        return Ok(());
    }
    let (taken, waiting) = crossbeam_channel::bounded::<()>(0);
    std::thread::scope(|scope| {
        scope.spawn(move || {
            // Disconnected, not timed out, once the lock is taken.
            let waited = waiting.recv_timeout(LOCK_WAIT_NOTICE_AFTER);
            if waited == Err(crossbeam_channel::RecvTimeoutError::Timeout) {
                (notice.0)();
            }
        });
        let locked = lock.lock();
        drop(taken);
        locked
    })
}

/// Records that the journal in `dir` is damaged, so that every writer refuses appends until
/// `repair`. Open scans only the tail, so damage deeper in the log is first seen by a reader or
/// by verify; the marker makes that sighting stick. Best effort: the error that caused the
/// call is what the caller reports.
pub fn mark_damaged(vfs: &dyn Vfs, dir: &Path, error: &Error) {
    if error.is_corruption() && !vfs.exists(&dir.join(DAMAGE_MARKER_FILE)) {
        let text = format!("{error}\n");
        let _ = segment::write_file_atomically(
            vfs,
            dir,
            &dir.join(DAMAGE_MARKER_FILE),
            text.as_bytes(),
        );
    }
}

/// The damage recorded by [`mark_damaged`], if any.
pub fn damage_marker(vfs: &dyn Vfs, dir: &Path) -> Option<String> {
    let path = dir.join(DAMAGE_MARKER_FILE);
    if !vfs.exists(&path) {
        return None;
    }
    let mut text = vec![0u8; 4096];
    let length = vfs
        .open(&path)
        .and_then(|file| file.read_at(&mut text, 0))
        .unwrap_or(0);
    text.truncate(length);
    Some(String::from_utf8_lossy(&text).trim().to_string())
}

/// Reads every record of the journal in `dir`, in LSN order, without writing anything: no lock,
/// no recovery, no writer, no damage marker, so a damaged journal is left as it was found. The
/// reader ends where the log does: at the end of the last segment, or at a torn tail there,
/// which it leaves in place ([`Reader::torn_tail`]; the next [`Journal::open`] truncates it).
/// Damage ends it with one error, after every record before the damage: [`Error::Corruption`]
/// naming the segment file and byte offset for a bad frame with a valid one after it (section 9
/// of the format spec), a bad block of a sealed segment, or a checkpoint recording records the
/// log lacks; [`Error::Damaged`] with the marker's text for a damage marker left by an earlier
/// reader when the read itself found nothing.
pub fn read_only(vfs: Arc<dyn Vfs>, dir: &Path) -> Result<Reader> {
    Reader::read_only(vfs, dir)
}

/// Record kind of an agentrail event (`format-spec/journal.md` section 7).
pub const KIND_EVENT: u16 = 1;

/// When an append is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// After `fdatasync`: an acknowledged record survives a crash.
    #[default]
    Always,
    /// After the write; synced at most 50 ms later.
    Batch,
    /// After the write; syncing is left to the operating system.
    Never,
}

impl std::str::FromStr for Durability {
    type Err = String;

    /// A mode's name in any case (`always`, `ALWAYS`), as the CLI takes `AGENTRAIL=OFF`.
    fn from_str(text: &str) -> Result<Durability, String> {
        match text.to_ascii_lowercase().as_str() {
            "always" => Ok(Durability::Always),
            "batch" => Ok(Durability::Batch),
            "never" => Ok(Durability::Never),
            _ => Err(format!(
                "unknown durability mode \"{text}\": use always, batch or never"
            )),
        }
    }
}

/// How a journal is opened.
#[derive(Debug, Clone)]
pub struct Options {
    pub segment_bytes: u64,
    pub durability: Durability,
    pub checkpoint_interval_bytes: u64,
    pub vfs: Arc<dyn Vfs>,
    /// Told when taking the journal's lock waits long (see [`LockWaitNotice`]).
    pub lock_wait_notice: Option<LockWaitNotice>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            segment_bytes: SEGMENT_BYTES_DEFAULT,
            durability: Durability::Always,
            checkpoint_interval_bytes: CHECKPOINT_INTERVAL_BYTES_DEFAULT,
            vfs: Arc::new(StdFs),
            lock_wait_notice: None,
        }
    }
}

impl Options {
    /// Checks the options against the format's limits.
    pub fn check(&self) -> Result<()> {
        if !(SEGMENT_BYTES_MIN..=SEGMENT_BYTES_MAX).contains(&self.segment_bytes) {
            return Err(Error::Limit {
                what: "segment size in bytes",
                value: self.segment_bytes,
                bound: format!("between {SEGMENT_BYTES_MIN} and {SEGMENT_BYTES_MAX}"),
            });
        }
        Ok(())
    }
}

/// A record to append: its kind, flags and payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRecord {
    pub kind: u16,
    pub flags: u16,
    pub payload: Vec<u8>,
}

impl NewRecord {
    pub fn new(kind: u16, payload: Vec<u8>) -> NewRecord {
        NewRecord {
            kind,
            flags: 0,
            payload,
        }
    }
}

/// An open journal.
pub struct Journal {
    dir: PathBuf,
    vfs: Arc<dyn Vfs>,
    sender: Option<Sender<Request>>,
    writer: Option<JoinHandle<()>>,
    shared: Arc<Shared>,
    report: RecoveryReport,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("dir", &self.dir)
            .field("last_lsn", &self.last_lsn())
            .finish()
    }
}

impl Journal {
    /// Creates a new journal in `dir`, which must not hold one yet.
    pub fn create(dir: impl AsRef<Path>, options: Options) -> Result<Journal> {
        let dir = dir.as_ref();
        options.check()?;
        if options.vfs.exists(dir) && !segment::list_segments(options.vfs.as_ref(), dir)?.is_empty()
        {
            return Err(Error::AlreadyExists(dir.to_path_buf()));
        }
        options
            .vfs
            .create_dir_all(dir)
            .map_err(|error| Error::io(format!("creating {}", dir.display()), error))?;
        Journal::open(dir, options)
    }

    /// Opens the journal in `dir`: recovers its tail (section 9 of the format spec) and starts
    /// the writer thread.
    pub fn open(dir: impl AsRef<Path>, options: Options) -> Result<Journal> {
        let dir = dir.as_ref().to_path_buf();
        options.check()?;
        if !options.vfs.exists(&dir) {
            return Err(Error::NotFound(dir));
        }
        let vfs = options.vfs.clone();
        let lock_path = dir.join(LOCK_FILE);
        let lock = vfs
            .open_lock(&lock_path)
            .map_err(|error| Error::io(format!("opening {}", lock_path.display()), error))?;
        take_lock(lock.as_ref(), options.lock_wait_notice.as_ref())
            .map_err(|error| Error::io("taking the journal lock", error))?;
        let recovered = recovery::recover(vfs.as_ref(), &dir);
        if let Err(error) = &recovered {
            mark_damaged(vfs.as_ref(), &dir, error);
        }
        lock.unlock()
            .map_err(|error| Error::io("releasing the journal lock", error))?;
        let (tail, report) = recovered?;
        let shared = Arc::new(Shared::default());
        let config = WriterConfig {
            segment_bytes: options.segment_bytes,
            durability: options.durability,
            checkpoint_interval_bytes: options.checkpoint_interval_bytes,
            lock_wait_notice: options.lock_wait_notice,
        };
        let writer = Writer::new(
            vfs.clone(),
            dir.clone(),
            config,
            lock,
            tail,
            &report,
            shared.clone(),
        );
        let (sender, receiver) = crossbeam_channel::unbounded();
        let handle = std::thread::Builder::new()
            .name("agentrail-writer".into())
            .spawn(move || writer.run(receiver))
            .map_err(|error| Error::io("starting the writer thread", error))?;
        Ok(Journal {
            dir,
            vfs,
            sender: Some(sender),
            writer: Some(handle),
            shared,
            report,
        })
    }

    /// The journal's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What recovery found when this handle opened the journal.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.report
    }

    /// The last LSN this handle has written or seen (0 for an empty journal).
    pub fn last_lsn(&self) -> u64 {
        self.shared.last_lsn.load(Ordering::Acquire)
    }

    fn send(&self, request: Request) -> Result<()> {
        let sender = self
            .sender
            .as_ref()
            .ok_or_else(|| Error::Poisoned("the journal is closed".into()))?;
        sender
            .send(request)
            .map_err(|_| Error::Poisoned("the writer thread has stopped".into()))
    }

    /// Appends one record and returns its LSN once it is acknowledged (durable in mode
    /// `always`).
    pub fn append(&self, kind: u16, payload: Vec<u8>) -> Result<u64> {
        let range = self.append_batch(vec![NewRecord::new(kind, payload)])?;
        Ok(range.start)
    }

    /// Appends records as one request and returns their LSNs, which are contiguous. The request
    /// is stored whole or not at all: after a crash before the acknowledgement, the next open
    /// removes whatever part of it was written (`format-spec/journal.md` section 11). A
    /// record's flags may only be [`format::FRAME_FLAG_MUST_UNDERSTAND`]: the other bits are the
    /// journal's own.
    pub fn append_batch(&self, records: Vec<NewRecord>) -> Result<Range<u64>> {
        self.append_request(records, false)
    }

    /// Appends records as [`Journal::append_batch`] does and, when their frames take at least
    /// a [`BULK_SEAL_DIVISOR`]th of `segment_bytes`, then seals the active segment
    /// (`format-spec/journal.md` section 8): a bulk load (`import`) is then stored compressed,
    /// where the active segment would keep up to a segment's worth of it raw. The sealed
    /// segment's sync makes its records durable in every mode. A smaller request is an
    /// `append_batch`, so that small imports and appends do not leave a string of small sealed
    /// segments.
    pub fn append_bulk(&self, records: Vec<NewRecord>) -> Result<Range<u64>> {
        self.append_request(records, true)
    }

    fn append_request(&self, records: Vec<NewRecord>, bulk: bool) -> Result<Range<u64>> {
        for record in &records {
            if record.flags & !format::FRAME_FLAG_MUST_UNDERSTAND != 0 {
                return Err(Error::Limit {
                    what: "record flags",
                    value: u64::from(record.flags),
                    bound: format!(
                        "0 or {} (must understand): the other bits are the journal's own",
                        format::FRAME_FLAG_MUST_UNDERSTAND
                    ),
                });
            }
            if record.payload.len() as u64 > u64::from(format::RECORD_PAYLOAD_BYTES_MAX) {
                return Err(Error::Limit {
                    what: "record payload in bytes",
                    value: record.payload.len() as u64,
                    bound: format!("at most {}", format::RECORD_PAYLOAD_BYTES_MAX),
                });
            }
        }
        let (reply, answer) = reply::reply_slot();
        self.send(Request::Append {
            records,
            bulk,
            reply,
        })?;
        answer
            .wait()
            .ok_or_else(|| Error::Poisoned("the writer thread has stopped".into()))?
    }

    /// Syncs every record written so far (useful in modes `batch` and `never`).
    pub fn sync(&self) -> Result<()> {
        let (reply, answer) = reply::reply_slot();
        self.send(Request::Sync { reply })?;
        answer
            .wait()
            .ok_or_else(|| Error::Poisoned("the writer thread has stopped".into()))?
    }

    /// Follows what other processes appended since this handle last wrote or looked, under
    /// the journal's lock, so that later reads reach the journal's true end. Returns its last
    /// LSN. Readers otherwise stop at [`Journal::last_lsn`], which only this handle's own
    /// appends move forward.
    pub fn refresh(&self) -> Result<u64> {
        let (reply, answer) = reply::reply_slot();
        self.send(Request::Refresh { reply })?;
        answer
            .wait()
            .ok_or_else(|| Error::Poisoned("the writer thread has stopped".into()))?
    }

    /// Replaces the records at `lsns` by tombstones that keep each record's LSN, kind, original
    /// frame header, the SHA-256 of its payload and what `summarize` makes of it
    /// (`format-spec/journal.md` section 10). The sealed segments holding them are rewritten
    /// under the journal's lock; when one is in the active segment, that segment is sealed
    /// first. Fails with [`Error::NoSuchLsn`] before changing anything when an LSN is not in the
    /// journal. Projection checkpoints are not this layer's business: callers drop them.
    pub fn tombstone(&self, lsns: &[u64], summarize: Summarizer) -> Result<TombstoneReport> {
        let (reply, answer) = reply::reply_slot();
        self.send(Request::Tombstone {
            lsns: lsns.iter().copied().collect(),
            summarize,
            reply,
        })?;
        answer
            .wait()
            .ok_or_else(|| Error::Poisoned("the writer thread has stopped".into()))?
    }

    /// Reads records from `lsn` to the last one written when this is called.
    pub fn read_from(&self, lsn: u64) -> Result<Reader> {
        let last_lsn = self.last_lsn();
        let segments = segment::list_segments(self.vfs.as_ref(), &self.dir)?;
        // The recovery checkpoint marks a frame boundary in the active segment: a read of a
        // recent LSN starts there instead of at the segment's first record.
        let start_hint = recovery::read_checkpoint(self.vfs.as_ref(), &self.dir);
        let last_frame = *self
            .shared
            .last_frame
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(
            Reader::new(self.vfs.clone(), &self.dir, segments, lsn, last_lsn)
                .with_start_hint(start_hint)
                .with_last_frame(last_frame),
        )
    }

    /// Reads every record.
    pub fn iter(&self) -> Result<Reader> {
        self.read_from(1)
    }

    /// Stops the writer after it has handled every request sent, syncing in mode `batch`.
    pub fn close(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.sender.take();
        if let Some(handle) = self.writer.take() {
            let _ = handle.join();
        }
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        self.shutdown();
    }
}
