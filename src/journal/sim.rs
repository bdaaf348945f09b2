//! A simulated file system for crash tests. It keeps, for every file, the bytes that a sync has
//! made durable and the writes made since; for every directory, the names a directory sync has
//! made durable. [`SimFs::crash_image`] returns the file system as a power cut could leave it:
//! durable names and bytes, plus a prefix of the unsynced writes of each file whose last kept
//! write may be torn (cut short, and the rest of its range zeros or garbage). That is the disk
//! model of `format-spec/journal.md` section 9. [`SimFs::fail_at_sync`] makes the N-th sync fail
//! and every later mutation too, as if the process died there. [`SimFs::hold_syncs`] stops
//! every file sync once it has started until the test releases it, with success or failure: a
//! sync makes durable only the writes made before it started, as on a real disk where writes
//! may go on during an `fdatasync`, so a test can see which writes an acknowledgement waited for.

use super::vfs::{MappedBytes, Vfs, VfsFile, VfsLock};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

#[derive(Debug, Clone)]
enum PendingOp {
    Write { offset: u64, bytes: Vec<u8> },
    SetLen(u64),
}

#[derive(Debug, Clone, Default)]
struct Inode {
    data: Vec<u8>,
    durable: Vec<u8>,
    pending: Vec<PendingOp>,
    /// How many ops were ever made durable: with `pending`, numbers every op, so that a held
    /// sync makes durable exactly the ops made before it started.
    durable_ops: u64,
}

impl Inode {
    /// Makes durable the ops up to number `until` (those made before a sync started).
    fn make_durable(&mut self, until: u64) {
        let count = (until.saturating_sub(self.durable_ops) as usize).min(self.pending.len());
        for op in self.pending.drain(..count) {
            Inode::apply(&mut self.durable, &op);
        }
        self.durable_ops += count as u64;
    }
}

impl Inode {
    fn apply(data: &mut Vec<u8>, op: &PendingOp) {
        match op {
            PendingOp::Write { offset, bytes } => {
                let end = *offset as usize + bytes.len();
                if data.len() < end {
                    data.resize(end, 0);
                }
                data[*offset as usize..end].copy_from_slice(bytes);
            }
            PendingOp::SetLen(len) => data.resize(*len as usize, 0),
        }
    }
}

#[derive(Debug, Default)]
struct State {
    inodes: HashMap<u64, Inode>,
    next_inode: u64,
    names: BTreeMap<PathBuf, u64>,
    durable_names: BTreeMap<PathBuf, u64>,
    /// Directories made by `create_dir_all`; they survive a crash (the journal never depends
    /// on a directory's own creation being durable).
    dirs: BTreeSet<PathBuf>,
    syncs: u64,
    /// Bytes `read_at` has returned, from every file (mapped files not counted).
    bytes_read: u64,
    fail_at_sync: Option<u64>,
    failed: bool,
    locked: bool,
    /// While true, file syncs wait for [`SimFs::release_sync`] once started.
    hold_syncs: bool,
    /// Held syncs, by ticket in the order they started.
    held: BTreeSet<u64>,
    /// Outcomes given to held syncs not yet returned: `true` for success.
    released: HashMap<u64, bool>,
    next_ticket: u64,
}

/// How a crash treats the writes that were not synced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashMode {
    /// Every unsynced write is lost.
    DropUnsynced,
    /// Every unsynced write survives (the OS flushed just before the cut).
    KeepUnsynced,
    /// A pseudo-random prefix of each file's unsynced writes survives, the last one torn.
    TearUnsynced { seed: u64 },
}

/// The simulated file system. Cloning shares the same state.
#[derive(Clone, Default)]
pub struct SimFs {
    state: Arc<(Mutex<State>, Condvar)>,
}

impl fmt::Debug for SimFs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SimFs")
    }
}

fn failed() -> io::Error {
    io::Error::other("simulated crash: the process is gone")
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{} not found", path.display()),
    )
}

/// A tiny deterministic generator (SplitMix64), so crash images are reproducible by seed.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl SimFs {
    pub fn new() -> SimFs {
        SimFs::default()
    }

    fn lock_state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock only happens in a failing test; keep going.
        self.state
            .0
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Makes the `n`-th sync from now on (counting file and directory syncs, from 1) fail, and
    /// every mutation after it.
    pub fn fail_at_sync(&self, n: u64) {
        let mut state = self.lock_state();
        state.fail_at_sync = Some(state.syncs + n);
    }

    /// How many syncs have succeeded so far.
    pub fn sync_count(&self) -> u64 {
        self.lock_state().syncs
    }

    /// How many bytes reads of files (not maps) have returned so far.
    pub fn bytes_read(&self) -> u64 {
        self.lock_state().bytes_read
    }

    /// True once a planned failure has happened.
    pub fn has_failed(&self) -> bool {
        self.lock_state().failed
    }

    /// From now on, while `hold` is true, a file sync that has started (and so covers exactly
    /// the writes made before it) waits until [`SimFs::release_sync`] lets it return. Ending
    /// the hold lets every held sync return with success.
    pub fn hold_syncs(&self, hold: bool) {
        let mut state = self.lock_state();
        state.hold_syncs = hold;
        if !hold {
            let held = std::mem::take(&mut state.held);
            state
                .released
                .extend(held.into_iter().map(|ticket| (ticket, true)));
            self.state.1.notify_all();
        }
    }

    /// How many file syncs are waiting to be released.
    pub fn held_syncs(&self) -> usize {
        self.lock_state().held.len()
    }

    /// Waits until at least `count` file syncs are held.
    pub fn wait_for_held_syncs(&self, count: usize) {
        let (_, condvar) = &*self.state;
        let mut state = self.lock_state();
        while state.held.len() < count {
            state = condvar
                .wait(state)
                .unwrap_or_else(|poison| poison.into_inner());
        }
    }

    /// Lets the oldest held sync return: made durable what it covers when `succeed`, or
    /// failed with an I/O error (its writes stay unsynced; later calls work). False if none
    /// was held.
    pub fn release_sync(&self, succeed: bool) -> bool {
        let mut state = self.lock_state();
        let Some(ticket) = state.held.pop_first() else {
            return false;
        };
        state.released.insert(ticket, succeed);
        self.state.1.notify_all();
        true
    }

    /// A new, independent file system as a power cut now would leave this one.
    pub fn crash_image(&self, mode: CrashMode) -> SimFs {
        let state = self.lock_state();
        let mut rng = match mode {
            CrashMode::TearUnsynced { seed } => seed,
            _ => 0,
        };
        let mut inodes = HashMap::new();
        for (&number, inode) in &state.inodes {
            let mut data = inode.durable.clone();
            match mode {
                CrashMode::DropUnsynced => {}
                CrashMode::KeepUnsynced => data = inode.data.clone(),
                CrashMode::TearUnsynced { .. } => tear(&mut data, &inode.pending, &mut rng),
            }
            let durable = data.clone();
            inodes.insert(
                number,
                Inode {
                    data,
                    durable,
                    pending: Vec::new(),
                    durable_ops: 0,
                },
            );
        }
        let names = match mode {
            CrashMode::KeepUnsynced => state.names.clone(),
            _ => state.durable_names.clone(),
        };
        let new_state = State {
            inodes,
            next_inode: state.next_inode,
            durable_names: names.clone(),
            names,
            dirs: state.dirs.clone(),
            ..State::default()
        };
        SimFs {
            state: Arc::new((Mutex::new(new_state), Condvar::new())),
        }
    }

    /// Reads a whole file (for tests that damage bytes).
    pub fn read_file(&self, path: &Path) -> io::Result<Vec<u8>> {
        let state = self.lock_state();
        let number = state.names.get(path).ok_or_else(|| not_found(path))?;
        Ok(state.inodes[number].data.clone())
    }

    /// Replaces a whole file's bytes, durably (for tests that damage bytes).
    pub fn write_file(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let mut state = self.lock_state();
        let number = *state.names.get(path).ok_or_else(|| not_found(path))?;
        let inode = state
            .inodes
            .get_mut(&number)
            .ok_or_else(|| not_found(path))?;
        inode.data = bytes.to_vec();
        inode.durable = bytes.to_vec();
        inode.pending.clear();
        Ok(())
    }

    fn mutate<T>(&self, op: impl FnOnce(&mut State) -> io::Result<T>) -> io::Result<T> {
        let mut state = self.lock_state();
        if state.failed {
            return Err(failed());
        }
        op(&mut state)
    }

    /// While syncs are held, waits for this one's release and returns its outcome.
    fn wait_if_held(&self) -> io::Result<()> {
        let (_, condvar) = &*self.state;
        let mut state = self.lock_state();
        if !state.hold_syncs {
            return Ok(());
        }
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        state.held.insert(ticket);
        condvar.notify_all();
        loop {
            if let Some(succeed) = state.released.remove(&ticket) {
                return match succeed {
                    true => Ok(()),
                    false => Err(io::Error::other("simulated sync failure")),
                };
            }
            state = condvar
                .wait(state)
                .unwrap_or_else(|poison| poison.into_inner());
        }
    }

    fn count_sync(state: &mut State) -> io::Result<()> {
        state.syncs += 1;
        if state.fail_at_sync == Some(state.syncs) {
            state.failed = true;
            state.syncs -= 1;
            return Err(failed());
        }
        Ok(())
    }
}

/// Applies a prefix of `pending` to `data`; the last op applied may be torn.
fn tear(data: &mut Vec<u8>, pending: &[PendingOp], rng: &mut u64) {
    if pending.is_empty() {
        return;
    }
    let kept = (splitmix(rng) % (pending.len() as u64 + 1)) as usize;
    for op in &pending[..kept] {
        Inode::apply(data, op);
    }
    if let Some(PendingOp::Write { offset, bytes }) = pending.get(kept) {
        let cut = (splitmix(rng) % (bytes.len() as u64 + 1)) as usize;
        let mut torn = bytes[..cut].to_vec();
        match splitmix(rng) % 3 {
            // The file grew but the tail of the write never reached the disk: zeros.
            0 => torn.resize(bytes.len(), 0),
            // The tail holds whatever the sectors held: garbage.
            1 => torn.extend((cut..bytes.len()).map(|_| splitmix(rng) as u8)),
            // The write was cut short.
            _ => {}
        }
        Inode::apply(
            data,
            &PendingOp::Write {
                offset: *offset,
                bytes: torn,
            },
        );
    }
}

#[derive(Debug)]
struct SimFile {
    fs: SimFs,
    inode: u64,
}

impl VfsFile for SimFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let mut state = self.fs.lock_state();
        let data = &state.inodes[&self.inode].data;
        let start = (offset as usize).min(data.len());
        let count = buf.len().min(data.len() - start);
        buf[..count].copy_from_slice(&data[start..start + count]);
        state.bytes_read += count as u64;
        Ok(count)
    }
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.fs.mutate(|state| {
            let inode = state.inodes.entry(self.inode).or_default();
            let op = PendingOp::Write {
                offset,
                bytes: buf.to_vec(),
            };
            Inode::apply(&mut inode.data, &op);
            inode.pending.push(op);
            Ok(())
        })
    }
    fn len(&self) -> io::Result<u64> {
        Ok(self.fs.lock_state().inodes[&self.inode].data.len() as u64)
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.fs.mutate(|state| {
            let inode = state.inodes.entry(self.inode).or_default();
            let op = PendingOp::SetLen(len);
            Inode::apply(&mut inode.data, &op);
            inode.pending.push(op);
            Ok(())
        })
    }
    fn sync_data(&self) -> io::Result<()> {
        let until = self.fs.mutate(|state| {
            let inode = state.inodes.entry(self.inode).or_default();
            Ok(inode.durable_ops + inode.pending.len() as u64)
        })?;
        self.fs.wait_if_held()?;
        self.fs.mutate(|state| {
            SimFs::count_sync(state)?;
            state
                .inodes
                .entry(self.inode)
                .or_default()
                .make_durable(until);
            Ok(())
        })
    }
    fn identity(&self) -> io::Result<u64> {
        Ok(self.inode)
    }
}

#[derive(Debug)]
struct SimLock {
    fs: SimFs,
    held: Mutex<bool>,
}

impl VfsLock for SimLock {
    fn lock(&self) -> io::Result<()> {
        let (mutex, condvar) = &*self.fs.state;
        let mut state = mutex.lock().unwrap_or_else(|poison| poison.into_inner());
        while state.locked {
            state = condvar
                .wait(state)
                .unwrap_or_else(|poison| poison.into_inner());
        }
        state.locked = true;
        *self
            .held
            .lock()
            .unwrap_or_else(|poison| poison.into_inner()) = true;
        Ok(())
    }
    fn try_lock(&self) -> io::Result<bool> {
        let mut state = self.fs.lock_state();
        if state.locked {
            return Ok(false);
        }
        state.locked = true;
        *self
            .held
            .lock()
            .unwrap_or_else(|poison| poison.into_inner()) = true;
        Ok(true)
    }
    fn unlock(&self) -> io::Result<()> {
        let mut held = self
            .held
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if *held {
            *held = false;
            self.fs.lock_state().locked = false;
            self.fs.state.1.notify_all();
        }
        Ok(())
    }
}

impl Drop for SimLock {
    fn drop(&mut self) {
        let _ = self.unlock();
    }
}

impl Vfs for SimFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.mutate(|state| {
            state.dirs.extend(dir.ancestors().map(Path::to_path_buf));
            Ok(())
        })
    }
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let state = self.lock_state();
        Ok(state
            .names
            .keys()
            .filter(|path| path.parent() == Some(dir))
            .filter_map(|path| {
                path.file_name()
                    .map(|name| name.to_string_lossy().into_owned())
            })
            .collect())
    }
    fn exists(&self, path: &Path) -> bool {
        let state = self.lock_state();
        state.names.contains_key(path) || state.dirs.contains(path)
    }
    fn open(&self, path: &Path) -> io::Result<Box<dyn VfsFile>> {
        let inode = *self
            .lock_state()
            .names
            .get(path)
            .ok_or_else(|| not_found(path))?;
        Ok(Box::new(SimFile {
            fs: self.clone(),
            inode,
        }))
    }
    fn create(&self, path: &Path) -> io::Result<Box<dyn VfsFile>> {
        let inode = self.mutate(|state| {
            state.next_inode += 1;
            let inode = state.next_inode;
            state.inodes.insert(inode, Inode::default());
            state.names.insert(path.to_path_buf(), inode);
            Ok(inode)
        })?;
        Ok(Box::new(SimFile {
            fs: self.clone(),
            inode,
        }))
    }
    fn map(&self, path: &Path) -> io::Result<MappedBytes> {
        Ok(Arc::new(self.read_file(path)?))
    }
    fn stat(&self, path: &Path) -> io::Result<(u64, u64)> {
        let state = self.lock_state();
        let inode = *state.names.get(path).ok_or_else(|| not_found(path))?;
        Ok((inode, state.inodes[&inode].data.len() as u64))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.mutate(|state| {
            let inode = state.names.remove(from).ok_or_else(|| not_found(from))?;
            state.names.insert(to.to_path_buf(), inode);
            Ok(())
        })
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.mutate(|state| {
            state
                .names
                .remove(path)
                .map(|_| ())
                .ok_or_else(|| not_found(path))
        })
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.mutate(|state| {
            SimFs::count_sync(state)?;
            state
                .durable_names
                .retain(|path, _| path.parent() != Some(dir));
            let current: Vec<(PathBuf, u64)> = state
                .names
                .iter()
                .filter(|(path, _)| path.parent() == Some(dir))
                .map(|(path, inode)| (path.clone(), *inode))
                .collect();
            state.durable_names.extend(current);
            Ok(())
        })
    }
    fn open_lock(&self, _path: &Path) -> io::Result<Box<dyn VfsLock>> {
        Ok(Box::new(SimLock {
            fs: self.clone(),
            held: Mutex::new(false),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_created_directory_exists_and_survives_a_crash() {
        let fs = SimFs::new();
        let dir = Path::new("/a/journal");
        assert!(!fs.exists(dir));
        fs.create_dir_all(dir).unwrap();
        assert!(fs.exists(dir) && fs.exists(Path::new("/a")));
        assert!(fs.crash_image(CrashMode::DropUnsynced).exists(dir));
    }
}
