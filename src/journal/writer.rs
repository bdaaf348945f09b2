//! The writer thread: group commit. Appenders send requests on a channel; the thread takes every
//! request waiting, holds the journal's exclusive lock for the batch, writes all its frames with
//! one write and one `fdatasync` (in mode `always`), and only then acknowledges each appender
//! with its LSNs. A failed write or sync poisons the writer: nothing after it is acknowledged.

use super::batch::{cut_floor, ends_inside_batch};
use super::format::{chain_next, FrameHeader, FRAME_FLAG_BATCH_CONTINUES, FRAME_HEADER_BYTES};
use super::reader::FrameBoundary;
use super::recovery::{
    read_checkpoint, recover, scan_active, RecoveryReport, Tail, CHECKPOINT_FILE,
};
use super::reply::Replier;
use super::rewrite::{by_segment, rewrite_sealed, Summarizer, TombstoneReport};
use super::segment::{
    create_segment, io_error, list_segments, seal_frames, seal_segment, segment_path,
    write_file_atomically, SealInput,
};
use super::vfs::{Vfs, VfsLock};
use super::{take_lock, Durability, LockWaitNotice, NewRecord, BULK_SEAL_DIVISOR};
use crate::error::{Error, Result};
use crossbeam_channel::{Receiver, RecvTimeoutError};
use std::collections::BTreeSet;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// A batch is closed once it holds this many bytes of records (more if one request is larger).
pub const GROUP_COMMIT_BYTES_MAX: usize = 8 * 1024 * 1024;
/// The longest a batch waits for more appenders in mode `always` (see `Writer::gather`).
pub const GROUP_COMMIT_WAIT_MAX: Duration = Duration::from_millis(2);
/// In mode `batch`, the longest time written records stay unsynced.
pub const BATCH_SYNC_INTERVAL: Duration = Duration::from_millis(50);

pub(crate) enum Request {
    Append {
        records: Vec<NewRecord>,
        /// A bulk append: seal the active segment after it when its records are a bulk's worth
        /// (`Journal::append_bulk`).
        bulk: bool,
        reply: Replier<Result<Range<u64>>>,
    },
    Sync {
        reply: Replier<Result<()>>,
    },
    /// Follow what other processes appended; answered with the journal's last LSN.
    Refresh {
        reply: Replier<Result<u64>>,
    },
    Tombstone {
        lsns: BTreeSet<u64>,
        summarize: Summarizer,
        reply: Replier<Result<TombstoneReport>>,
    },
}

impl Request {
    fn bytes(&self) -> usize {
        match self {
            Request::Append { records, .. } => framed_bytes(records),
            Request::Sync { .. } | Request::Refresh { .. } | Request::Tombstone { .. } => 0,
        }
    }
}

/// The bytes `records` take as frames.
fn framed_bytes(records: &[NewRecord]) -> usize {
    records.iter().map(frame_bytes).sum()
}

/// The bytes `record` takes as a frame.
fn frame_bytes(record: &NewRecord) -> usize {
    FRAME_HEADER_BYTES + record.payload.len()
}

/// State the writer shares with readers in the same process.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    /// The last LSN written (and, in mode `always`, synced).
    pub last_lsn: AtomicU64,
    /// Where the last record written starts, when it is in the active segment: a read of it
    /// (a projection checking the record its checkpoint is tied to) starts there instead of
    /// hopping over the frames from the recovery checkpoint on.
    pub last_frame: Mutex<Option<FrameBoundary>>,
}

impl Shared {
    /// Publishes the end of the log `tail` has reached.
    fn publish(&self, tail: &Tail) {
        let last_lsn = tail.next_lsn - 1;
        let frame = (tail.last_record_offset != 0).then_some(FrameBoundary {
            segment: tail.segment,
            offset: tail.last_record_offset,
            lsn: last_lsn,
        });
        *self
            .last_frame
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = frame;
        self.last_lsn.store(last_lsn, Ordering::Release);
    }
}

pub(crate) struct WriterConfig {
    pub segment_bytes: u64,
    pub durability: Durability,
    pub checkpoint_interval_bytes: u64,
    pub lock_wait_notice: Option<LockWaitNotice>,
}

pub(crate) struct Writer {
    pub vfs: Arc<dyn Vfs>,
    pub dir: PathBuf,
    pub config: WriterConfig,
    pub lock: Box<dyn VfsLock>,
    pub tail: Tail,
    pub shared: Arc<Shared>,
    pub poisoned: Option<String>,
    pub unsynced: bool,
    /// True once this writer has written records itself.
    pub wrote: bool,
    pub last_sync: Instant,
    pub bytes_since_checkpoint: u64,
    /// Requests in the last batch, and how long the last `fdatasync` took: `gather` uses both.
    pub last_batch_requests: usize,
    pub last_sync_duration: Duration,
}

impl Writer {
    pub fn new(
        vfs: Arc<dyn Vfs>,
        dir: PathBuf,
        config: WriterConfig,
        lock: Box<dyn VfsLock>,
        tail: Tail,
        report: &RecoveryReport,
        shared: Arc<Shared>,
    ) -> Writer {
        shared.publish(&tail);
        Writer {
            vfs,
            dir,
            config,
            lock,
            tail,
            shared,
            poisoned: None,
            // Bytes recovery found past the checkpoint may never have been synced (an earlier
            // handle in mode `never`): the next `sync` must really sync.
            unsynced: report.scanned_bytes > 0,
            wrote: false,
            last_sync: Instant::now(),
            bytes_since_checkpoint: report.scanned_bytes,
            last_batch_requests: 1,
            last_sync_duration: Duration::ZERO,
        }
    }

    /// The thread's loop: runs until every sender is gone, then syncs what is left.
    pub fn run(mut self, requests: Receiver<Request>) {
        loop {
            let first = match self.next_request(&requests) {
                Some(request) => request,
                None => break,
            };
            let batch = self.gather(first, &requests);
            self.last_batch_requests = batch.len();
            self.handle(batch);
        }
        // Bytes only found by recovery or another process are not this handle's to make
        // durable on close: a handle that reads and writes nothing (every reading command
        // opens one) closes without an `fdatasync`.
        if self.unsynced && self.wrote && self.config.durability != Durability::Never {
            let _ = self.sync();
        }
    }

    /// Takes every request waiting behind `first`. In mode `always`, when fewer are waiting
    /// than the last batch held, it waits a little for the rest: after an `fdatasync` the
    /// writer wakes every appender of the batch, and on few cores it would otherwise start the
    /// next sync before most of them have asked again, halving the batches (measured: 8 of 16
    /// appenders per sync). The wait is at most half the last sync's duration, and nothing
    /// when the last batch held a single request, so a lone appender never waits.
    fn gather(&mut self, first: Request, requests: &Receiver<Request>) -> Vec<Request> {
        let mut bytes = first.bytes();
        let mut batch = vec![first];
        let wait = if self.config.durability == Durability::Always && self.last_batch_requests > 1 {
            (self.last_sync_duration / 2).min(GROUP_COMMIT_WAIT_MAX)
        } else {
            Duration::ZERO
        };
        let deadline = Instant::now() + wait;
        while bytes < GROUP_COMMIT_BYTES_MAX {
            let request = match requests.try_recv() {
                Ok(request) => request,
                Err(_) if batch.len() < self.last_batch_requests => {
                    match requests.recv_deadline(deadline) {
                        Ok(request) => request,
                        Err(_) => break,
                    }
                }
                Err(_) => break,
            };
            bytes += request.bytes();
            batch.push(request);
        }
        batch
    }

    /// Waits for a request; in mode `batch` with unsynced records, syncs when the interval ends.
    fn next_request(&mut self, requests: &Receiver<Request>) -> Option<Request> {
        loop {
            if !(self.unsynced && self.config.durability == Durability::Batch) {
                return requests.recv().ok();
            }
            let waited = self.last_sync.elapsed();
            match requests.recv_timeout(BATCH_SYNC_INTERVAL.saturating_sub(waited)) {
                Ok(request) => return Some(request),
                Err(RecvTimeoutError::Timeout) => {
                    let _ = self.sync();
                }
                Err(RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    fn handle(&mut self, batch: Vec<Request>) {
        let appends: Vec<&Vec<NewRecord>> = batch
            .iter()
            .filter_map(|request| match request {
                Request::Append { records, .. } => Some(records),
                Request::Sync { .. } | Request::Refresh { .. } | Request::Tombstone { .. } => None,
            })
            .collect();
        let wants_sync = batch
            .iter()
            .any(|request| matches!(request, Request::Sync { .. }));
        let bulk = batch.iter().any(|request| self.is_large_bulk(request));
        let committed = self.commit(&appends, bulk);
        // A sync asked for in the same batch answers the sync requests only: the appends are
        // answered by their commit, with their own LSNs.
        let synced = match &committed {
            Ok(_) if wants_sync => self.sync(),
            Ok(_) => Ok(()),
            Err(error) => Err(error.duplicate()),
        };
        let mut ranges = committed.as_ref().map(|ranges| ranges.iter().cloned());
        for request in batch {
            match request {
                Request::Append { reply, .. } => reply.send(match &mut ranges {
                    Ok(ranges) => ranges.next().ok_or_else(|| {
                        Error::Poisoned("the writer lost track of a request's LSNs".into())
                    }),
                    Err(error) => Err(error.duplicate()),
                }),
                Request::Sync { reply } => {
                    reply.send(synced.as_ref().copied().map_err(Error::duplicate))
                }
                Request::Refresh { reply } => reply.send(match &committed {
                    Ok(_) => Ok(self.shared.last_lsn.load(Ordering::Acquire)),
                    Err(error) => Err(error.duplicate()),
                }),
                Request::Tombstone {
                    lsns,
                    summarize,
                    reply,
                } => reply.send(self.tombstone(&lsns, &summarize)),
            }
        }
    }

    /// Takes the journal's lock, telling the notice when another process keeps it long.
    fn take_lock(&self) -> Result<()> {
        let notice = self.config.lock_wait_notice.as_ref();
        take_lock(self.lock.as_ref(), notice)
            .map_err(|error| Error::io("taking the journal lock", error))
    }

    fn commit(&mut self, appends: &[&Vec<NewRecord>], bulk: bool) -> Result<Vec<Range<u64>>> {
        if let Some(reason) = &self.poisoned {
            return Err(Error::Poisoned(reason.clone()));
        }
        self.take_lock()?;
        let result = self.commit_locked(appends, bulk);
        let unlocked = self
            .lock
            .unlock()
            .map_err(|error| Error::io("releasing the journal lock", error));
        let result = result.and_then(|ranges| unlocked.map(|()| ranges));
        if let Err(Error::Io { context, source }) = &result {
            self.poisoned = Some(format!("{context}: {source}"));
        }
        result
    }

    /// Replaces the records at `lsns` by tombstones, under the journal's lock so that no other
    /// process appends, rolls or rewrites meanwhile. A record in the active segment is first
    /// sealed in with a roll: only sealed segments are rewritten.
    fn tombstone(
        &mut self,
        lsns: &BTreeSet<u64>,
        summarize: &Summarizer,
    ) -> Result<TombstoneReport> {
        if let Some(reason) = &self.poisoned {
            return Err(Error::Poisoned(reason.clone()));
        }
        self.take_lock()?;
        let result = self.tombstone_locked(lsns, summarize);
        let unlocked = self
            .lock
            .unlock()
            .map_err(|error| Error::io("releasing the journal lock", error));
        result.and_then(|report| unlocked.map(|()| report))
    }

    fn tombstone_locked(
        &mut self,
        lsns: &BTreeSet<u64>,
        summarize: &Summarizer,
    ) -> Result<TombstoneReport> {
        if let Some(damage) = super::damage_marker(self.vfs.as_ref(), &self.dir) {
            return Err(Error::Damaged(damage));
        }
        self.refresh()?;
        let last_lsn = self.tail.next_lsn - 1;
        if let Some(&lsn) = lsns.iter().find(|&&lsn| lsn == 0 || lsn > last_lsn) {
            return Err(Error::NoSuchLsn { lsn, last_lsn });
        }
        let mut report = TombstoneReport::default();
        if lsns.range(self.tail.segment..).next().is_some() {
            let rolled = self.roll(None, true);
            if let Err(Error::Io { context, source }) = &rolled {
                self.poisoned = Some(format!("{context}: {source}"));
            }
            rolled?;
            report.sealed_active = true;
        }
        let segments = list_segments(self.vfs.as_ref(), &self.dir)?;
        for (first_lsn, group) in by_segment(&segments, lsns) {
            rewrite_sealed(
                self.vfs.as_ref(),
                &self.dir,
                first_lsn,
                &group,
                summarize,
                &mut report,
            )?;
        }
        Ok(report)
    }

    /// Follows what other processes appended since this writer last held the lock.
    fn refresh(&mut self) -> Result<()> {
        let stat = self.vfs.stat(&self.tail.path);
        match stat {
            Ok((inode, length)) if inode == self.tail.inode && length == self.tail.end => Ok(()),
            Ok((inode, length)) if inode == self.tail.inode && length > self.tail.end => {
                let floor = cut_floor(read_checkpoint(self.vfs.as_ref(), &self.dir).as_ref());
                let scanned = scan_active(&mut self.tail, None, &mut RecoveryReport::default())
                    .and_then(|()| {
                        ends_inside_batch(self.vfs.as_ref(), &self.dir, &self.tail, floor)
                    });
                if let Err(error) = &scanned {
                    super::mark_damaged(self.vfs.as_ref(), &self.dir, error);
                }
                // Another writer's records, perhaps unsynced: a `sync` from here covers them.
                self.unsynced = true;
                match scanned.map_err(into_damaged)? {
                    // Another process died inside an append: recovery cuts it off.
                    true => self.recover_tail(),
                    false => Ok(()),
                }
            }
            _ => self.recover_tail(),
        }
    }

    /// Finds the log's end anew, as opening the journal does.
    fn recover_tail(&mut self) -> Result<()> {
        let recovered = recover(self.vfs.as_ref(), &self.dir);
        if let Err(error) = &recovered {
            super::mark_damaged(self.vfs.as_ref(), &self.dir, error);
        }
        let (tail, report) = recovered.map_err(into_damaged)?;
        self.tail = tail;
        self.unsynced = report.scanned_bytes > 0;
        Ok(())
    }

    fn commit_locked(
        &mut self,
        appends: &[&Vec<NewRecord>],
        bulk: bool,
    ) -> Result<Vec<Range<u64>>> {
        if let Some(damage) = super::damage_marker(self.vfs.as_ref(), &self.dir) {
            return Err(Error::Damaged(damage));
        }
        self.refresh()?;
        if appends.is_empty() {
            // A sync or refresh alone: nothing to write, only the end to publish.
            self.shared.publish(&self.tail);
            return Ok(Vec::new());
        }
        // Sized once: a bulk append would otherwise grow it by doubling up to a segment (and
        // the record that crosses the segment's end).
        let framed: usize = appends.iter().map(|records| framed_bytes(records)).sum();
        let largest = appends
            .iter()
            .flat_map(|records| records.iter())
            .map(frame_bytes)
            .max()
            .unwrap_or(0);
        let mut buffer =
            Vec::with_capacity(framed.min(self.config.segment_bytes as usize + largest));
        let mut ranges = Vec::with_capacity(appends.len());
        for records in appends {
            let first = self.tail.next_lsn;
            let last = records.len().saturating_sub(1);
            for (index, record) in records.iter().enumerate() {
                // Every record but the request's last says the request goes on after it.
                let continues = match index < last {
                    true => FRAME_FLAG_BATCH_CONTINUES,
                    false => 0,
                };
                self.encode(record, continues, &mut buffer);
                if self.tail.end + buffer.len() as u64 >= self.config.segment_bytes {
                    self.fill_and_roll(&mut buffer)?;
                }
            }
            ranges.push(first..self.tail.next_lsn);
        }
        let header_bytes = super::format::SEGMENT_HEADER_BYTES as u64;
        if bulk && (self.tail.end > header_bytes || !buffer.is_empty()) {
            self.fill_and_roll(&mut buffer)?;
        }
        self.write(&mut buffer)?;
        self.after_write()?;
        self.shared.publish(&self.tail);
        Ok(ranges)
    }

    /// Whether `request` is a bulk append of at least a [`BULK_SEAL_DIVISOR`]th of a segment of
    /// frames: one after which the active segment is sealed rather than left raw.
    fn is_large_bulk(&self, request: &Request) -> bool {
        let bulk_bytes_min = self.config.segment_bytes / BULK_SEAL_DIVISOR;
        matches!(request, Request::Append { bulk: true, .. })
            && request.bytes() as u64 >= bulk_bytes_min
    }

    fn encode(&mut self, record: &NewRecord, extra_flags: u16, buffer: &mut Vec<u8>) {
        let header = FrameHeader::for_payload(
            self.tail.next_lsn,
            record.kind,
            record.flags | extra_flags,
            &record.payload,
        )
        .encode();
        self.tail.chain = chain_next(self.tail.chain, &header);
        self.tail.last_record_offset = self.tail.end + buffer.len() as u64;
        self.tail.next_lsn += 1;
        buffer.extend_from_slice(&header);
        buffer.extend_from_slice(&record.payload);
    }

    fn write(&mut self, buffer: &mut Vec<u8>) -> Result<()> {
        if buffer.is_empty() {
            return Ok(());
        }
        self.tail
            .file
            .write_all_at(buffer, self.tail.end)
            .map_err(io_error(&self.tail.path, "writing"))?;
        self.tail.end += buffer.len() as u64;
        self.bytes_since_checkpoint += buffer.len() as u64;
        self.unsynced = true;
        self.wrote = true;
        buffer.clear();
        Ok(())
    }

    fn after_write(&mut self) -> Result<()> {
        let due = self.last_sync.elapsed() >= BATCH_SYNC_INTERVAL;
        match self.config.durability {
            Durability::Always => self.sync()?,
            Durability::Batch if due => self.sync()?,
            _ => {}
        }
        if self.bytes_since_checkpoint >= self.config.checkpoint_interval_bytes {
            self.sync()?;
            self.write_checkpoint()?;
        }
        Ok(())
    }

    pub fn sync(&mut self) -> Result<()> {
        if let Some(reason) = &self.poisoned {
            return Err(Error::Poisoned(reason.clone()));
        }
        if self.unsynced {
            let started = Instant::now();
            let synced = self.tail.file.sync_data();
            self.last_sync_duration = started.elapsed();
            if let Err(error) = synced {
                let error = Error::io(format!("syncing {}", self.tail.path.display()), error);
                self.poisoned = Some(error.to_string());
                return Err(error);
            }
            self.unsynced = false;
        }
        self.last_sync = Instant::now();
        Ok(())
    }

    /// Seals the active segment and starts the next one. The records written so far become
    /// durable through the sealed file's own sync.
    /// Ends the active segment with the frames in `buffer` and seals it. When `buffer` holds
    /// every frame of the segment (a large batch filled it from empty), they are sealed from
    /// memory and never written raw: nothing in them is acknowledged before the sealed file is
    /// synced and renamed over the active one, so a crash before that leaves the segment empty,
    /// and the writer saves writing, and reading back, a segment's worth of bytes.
    fn fill_and_roll(&mut self, buffer: &mut Vec<u8>) -> Result<()> {
        let header_bytes = super::format::SEGMENT_HEADER_BYTES as u64;
        if self.tail.end != header_bytes {
            self.write(buffer)?;
            return self.roll(None, false);
        }
        self.tail.end += buffer.len() as u64;
        let rolled = self.roll(Some(buffer), false);
        buffer.clear();
        rolled
    }

    /// Seals the active segment, from `frames` when given (every frame after its header),
    /// else from the file, and starts the next one. With `checkpoint`, writes the checkpoint
    /// there; a roll inside a request does not, since a checkpoint is written only between
    /// requests (the cut of an interrupted one never goes before it, `batch.rs`): the one
    /// after the request's write covers it.
    fn roll(&mut self, frames: Option<&[u8]>, checkpoint: bool) -> Result<()> {
        let tail = &self.tail;
        let input = SealInput {
            first_lsn: tail.segment,
            prev_chain: tail.prev_chain,
            end: tail.end,
            end_chain: tail.chain,
            last_lsn: tail.next_lsn - 1,
        };
        match frames {
            Some(raw) => seal_frames(self.vfs.as_ref(), &self.dir, raw, input)?,
            None => seal_segment(self.vfs.as_ref(), &self.dir, tail.file.as_ref(), input)?,
        }
        let (next_lsn, chain) = (tail.next_lsn, tail.chain);
        let segments = tail.segments.then(next_lsn);
        let file = create_segment(self.vfs.as_ref(), &self.dir, next_lsn, chain)?;
        let path = segment_path(&self.dir, next_lsn);
        let inode = file
            .identity()
            .map_err(io_error(&path, "reading the identity of"))?;
        self.tail = Tail {
            segment: next_lsn,
            path,
            file,
            inode,
            prev_chain: chain,
            end: super::format::SEGMENT_HEADER_BYTES as u64,
            next_lsn,
            chain,
            last_record_offset: 0,
            segments,
        };
        self.unsynced = false;
        if checkpoint {
            return self.write_checkpoint();
        }
        // Due at the request's end, so that opening starts in the new segment.
        let due = self.config.checkpoint_interval_bytes;
        self.bytes_since_checkpoint = self.bytes_since_checkpoint.max(due);
        Ok(())
    }

    fn write_checkpoint(&mut self) -> Result<()> {
        let bytes = self.tail.checkpoint().encode();
        write_file_atomically(
            self.vfs.as_ref(),
            &self.dir,
            &self.dir.join(CHECKPOINT_FILE),
            &bytes,
        )?;
        self.bytes_since_checkpoint = 0;
        Ok(())
    }
}

/// Damage found while following other writers is not an I/O failure of this writer: it must
/// not poison it, but it refuses the append.
fn into_damaged(error: Error) -> Error {
    match error {
        Error::Corruption { .. } => Error::Damaged(error.to_string()),
        other => other,
    }
}
