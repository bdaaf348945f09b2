//! The journal's only door to the disk. Every read, write, sync, rename and lock goes through
//! the [`Vfs`] trait, so that tests can swap the real file system ([`StdFs`]) for a simulated
//! one ([`super::sim::SimFs`]) that loses or tears what was not synced, as SQLite's crash-test
//! layer does. Sealed segments are read through [`Vfs::map`], which is a read-only memory map
//! on the real file system; the file being written is never mapped.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io;
use std::ops::Deref;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;
use std::sync::Arc;

/// Read-only bytes of a whole file: a memory map, or an owned buffer.
pub type MappedBytes = Arc<dyn Deref<Target = [u8]> + Send + Sync>;

/// An open file.
#[allow(clippy::len_without_is_empty)] // a file's length, not a collection's
pub trait VfsFile: Send + Sync + fmt::Debug {
    /// Reads up to `buf.len()` bytes at `offset`; returns how many were read (0 at the end).
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
    /// Writes all of `buf` at `offset`, extending the file if needed.
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()>;
    fn len(&self) -> io::Result<u64>;
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// `fdatasync`: the bytes written so far survive a crash once this returns.
    fn sync_data(&self) -> io::Result<()>;
    /// Identity of the underlying file (the inode), to notice a file replaced by rename.
    fn identity(&self) -> io::Result<u64>;

    /// Reads exactly `buf.len()` bytes at `offset`, or fails with `UnexpectedEof`.
    fn read_exact_at(&self, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
        while !buf.is_empty() {
            let read = self.read_at(buf, offset)?;
            if read == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            buf = &mut buf[read..];
            offset += read as u64;
        }
        Ok(())
    }
}

/// An exclusive lock shared by every writer of one journal, across processes.
pub trait VfsLock: Send + Sync + fmt::Debug {
    /// Blocks until this handle holds the lock exclusively.
    fn lock(&self) -> io::Result<()>;
    /// Takes the lock if no one holds it; `false` when someone does. By default it waits as
    /// [`VfsLock::lock`] does, and says it took the lock.
    fn try_lock(&self) -> io::Result<bool> {
        self.lock().map(|()| true)
    }
    fn unlock(&self) -> io::Result<()>;
}

/// What the journal needs from a file system.
pub trait Vfs: Send + Sync + fmt::Debug + 'static {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Names of the files directly in `dir`.
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>>;
    fn exists(&self, path: &Path) -> bool;
    /// Opens an existing file for reading and writing.
    fn open(&self, path: &Path) -> io::Result<Box<dyn VfsFile>>;
    /// Opens an existing file for reading only: what readers, `verify` and the checkpoint
    /// reader use, so that reading needs no write permission. By default, [`Vfs::open`].
    fn open_read(&self, path: &Path) -> io::Result<Box<dyn VfsFile>> {
        self.open(path)
    }
    /// Creates a file, or empties it if it exists.
    fn create(&self, path: &Path) -> io::Result<Box<dyn VfsFile>>;
    /// The whole content of a file that nobody writes any more (a sealed segment).
    fn map(&self, path: &Path) -> io::Result<MappedBytes>;
    /// Identity (inode) and length of the file now at `path`.
    fn stat(&self, path: &Path) -> io::Result<(u64, u64)>;
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Makes creations, renames and removals in `dir` durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Opens (creating if needed) the lock file at `path`.
    fn open_lock(&self, path: &Path) -> io::Result<Box<dyn VfsLock>>;
}

/// The real file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct StdFs;

#[derive(Debug)]
struct StdFile(File);

impl VfsFile for StdFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.0.read_at(buf, offset)
    }
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.0.write_all_at(buf, offset)
    }
    fn len(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.0.sync_data()
    }
    fn identity(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.ino())
    }
}

#[derive(Debug)]
struct StdLock(File);

impl VfsLock for StdLock {
    fn lock(&self) -> io::Result<()> {
        self.0.lock()
    }
    fn try_lock(&self) -> io::Result<bool> {
        match self.0.try_lock() {
            Ok(()) => Ok(true),
            Err(std::fs::TryLockError::WouldBlock) => Ok(false),
            Err(std::fs::TryLockError::Error(error)) => Err(error),
        }
    }
    fn unlock(&self) -> io::Result<()> {
        self.0.unlock()
    }
}

impl Vfs for StdFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)
    }
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        Ok(names)
    }
    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }
    fn open(&self, path: &Path) -> io::Result<Box<dyn VfsFile>> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        Ok(Box::new(StdFile(file)))
    }
    fn open_read(&self, path: &Path) -> io::Result<Box<dyn VfsFile>> {
        let file = OpenOptions::new().read(true).open(path)?;
        Ok(Box::new(StdFile(file)))
    }
    fn create(&self, path: &Path) -> io::Result<Box<dyn VfsFile>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        Ok(Box::new(StdFile(file)))
    }
    fn map(&self, path: &Path) -> io::Result<MappedBytes> {
        let file = File::open(path)?;
        if file.metadata()?.len() == 0 {
            return Ok(Arc::new(Vec::new()));
        }
        // SAFETY: only sealed segments are mapped. They are written once through a temporary
        // file and a rename and never modified or truncated in place afterwards (repair and
        // gc replace them by rename too), so the mapped bytes cannot change under the reader.
        let map = unsafe { memmap2::Mmap::map(&file)? };
        Ok(Arc::new(map))
    }
    fn stat(&self, path: &Path) -> io::Result<(u64, u64)> {
        let metadata = std::fs::metadata(path)?;
        Ok((metadata.ino(), metadata.len()))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
    fn open_lock(&self, path: &Path) -> io::Result<Box<dyn VfsLock>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        Ok(Box::new(StdLock(file)))
    }
}
