//! Serializes the operations that move agents' refs, across threads and processes.
//!
//! An operation reads the graph, decides, and appends its events. Two operations on one agent
//! interleaved that way would both build on the same HEAD, and the second one's ref move would
//! drop the first one's commit from the branch: a lost update. So an operation holds, from
//! before it reads the graph until its events are acknowledged:
//! - an exclusive lock on `locks/agent-<hash>.lock` for every agent whose refs it may move,
//!   taken in the order of the agents' names, so that two operations never wait on each other;
//! - a shared lock on `locks/context.lock`, which `gc` and `purge` take exclusively: a
//!   collection decides from a graph that no operation is changing.
//!
//! The locks are advisory file locks (`flock`): the operating system releases them when the
//! process dies, so a killed agent never leaves its refs locked. A lock is waited for at most
//! a bounded time; then the operation fails with [`ContextError::RefsBusy`], changing nothing.

use super::ContextError;
use crate::error::{Error, Result};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;
use std::time::{Duration, Instant};

/// How long an operation waits for another one on the same agent before it gives up.
pub const REF_LOCK_WAIT_MAX: Duration = Duration::from_secs(60);
/// The longest pause between two attempts to take a lock.
const REF_LOCK_POLL_MAX: Duration = Duration::from_millis(20);
/// Hex digits of the SHA-256 of an agent's name in its lock file's name.
const AGENT_LOCK_HASH_HEX_DIGITS: usize = 32;
/// The lock `gc` and `purge` take exclusively and every other operation shared.
const CONTEXT_LOCK_FILE: &str = "context.lock";

/// Held locks; dropping it releases them.
#[derive(Debug)]
pub struct RefLock {
    /// The agents whose refs the holder may move; empty when it holds the context exclusively.
    agents: BTreeSet<String>,
    exclusive: bool,
    _files: Vec<File>,
}

impl RefLock {
    /// Locks the refs of `agents` (in `dir`, the workspace's `locks/`), waiting at most `wait`.
    pub fn agents<'a>(
        dir: &Path,
        agents: impl IntoIterator<Item = &'a str>,
        wait: Duration,
    ) -> Result<RefLock> {
        let agents: BTreeSet<String> = agents.into_iter().map(str::to_owned).collect();
        let deadline = Instant::now() + wait;
        let mut files = vec![take(
            &dir.join(CONTEXT_LOCK_FILE),
            Mode::Shared,
            None,
            deadline,
            wait,
        )?];
        for agent in &agents {
            let path = dir.join(agent_lock_file(agent));
            files.push(take(&path, Mode::Exclusive, Some(agent), deadline, wait)?);
        }
        Ok(RefLock {
            agents,
            exclusive: false,
            _files: files,
        })
    }

    /// Locks every agent's refs at once: no operation runs while it is held.
    pub fn all(dir: &Path, wait: Duration) -> Result<RefLock> {
        let deadline = Instant::now() + wait;
        let file = take(
            &dir.join(CONTEXT_LOCK_FILE),
            Mode::Exclusive,
            None,
            deadline,
            wait,
        )?;
        Ok(RefLock {
            agents: BTreeSet::new(),
            exclusive: true,
            _files: vec![file],
        })
    }

    /// Whether the holder may move `agent`'s refs.
    pub fn covers(&self, agent: &str) -> bool {
        self.exclusive || self.agents.contains(agent)
    }
}

/// The lock file of `agent`: named by a hash, since an agent's name may hold any character.
fn agent_lock_file(agent: &str) -> String {
    let digest = Sha256::digest(agent.as_bytes());
    let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("agent-{}.lock", &hex[..AGENT_LOCK_HASH_HEX_DIGITS])
}

#[derive(Debug, Clone, Copy)]
enum Mode {
    Shared,
    Exclusive,
}

/// Opens (creating it and its directory when missing) and locks `path`, the lock of `agent`'s
/// refs (`None`: of every agent's), polling until `deadline`.
fn take(
    path: &Path,
    mode: Mode,
    agent: Option<&str>,
    deadline: Instant,
    wait: Duration,
) -> Result<File> {
    let file = open(path)?;
    let mut pause = Duration::from_millis(1);
    loop {
        let attempt = match mode {
            Mode::Shared => file.try_lock_shared(),
            Mode::Exclusive => file.try_lock(),
        };
        match attempt {
            Ok(()) => return Ok(file),
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(REF_LOCK_POLL_MAX);
            }
            Err(TryLockError::WouldBlock) => {
                return Err(ContextError::RefsBusy {
                    agent: agent.map(str::to_owned),
                    lock: path.to_path_buf(),
                    waited_ms: wait.as_millis() as u64,
                }
                .into())
            }
            Err(TryLockError::Error(error)) => {
                return Err(Error::io(format!("locking {}", path.display()), error))
            }
        }
    }
}

fn open(path: &Path) -> Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|error| Error::io(format!("creating {}", dir.display()), error))?;
    }
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|error| Error::io(format!("opening {}", path.display()), error))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHORT_WAIT: Duration = Duration::from_millis(50);

    #[test]
    fn one_agent_at_a_time_other_agents_free() {
        let dir = tempfile::tempdir().unwrap();
        let held = RefLock::agents(dir.path(), ["main"], SHORT_WAIT).unwrap();
        assert!(held.covers("main") && !held.covers("other"));
        let busy = RefLock::agents(dir.path(), ["other", "main"], SHORT_WAIT).unwrap_err();
        assert!(
            matches!(busy, Error::Context(ContextError::RefsBusy { .. })),
            "{busy}"
        );
        // The lock file is named by a hash: the message names the agent too.
        assert!(
            busy.to_string()
                .starts_with("another operation on the refs of agent \"main\" holds "),
            "{busy}"
        );
        RefLock::agents(dir.path(), ["other"], SHORT_WAIT).unwrap();
        drop(held);
        RefLock::agents(dir.path(), ["other", "main"], SHORT_WAIT).unwrap();
    }

    #[test]
    fn all_excludes_every_agent_and_waits_for_them() {
        let dir = tempfile::tempdir().unwrap();
        let agent = RefLock::agents(dir.path(), ["main"], SHORT_WAIT).unwrap();
        assert!(RefLock::all(dir.path(), SHORT_WAIT).is_err());
        drop(agent);
        let all = RefLock::all(dir.path(), SHORT_WAIT).unwrap();
        assert!(all.covers("anyone"));
        assert!(RefLock::agents(dir.path(), ["main"], SHORT_WAIT).is_err());
    }

    #[test]
    fn a_waiter_gets_the_lock_once_it_is_released() {
        let dir = tempfile::tempdir().unwrap();
        let held = RefLock::agents(dir.path(), ["main"], SHORT_WAIT).unwrap();
        let path = dir.path().to_path_buf();
        let waiter = std::thread::spawn(move || {
            RefLock::agents(&path, ["main"], Duration::from_secs(30)).map(|_| ())
        });
        std::thread::sleep(Duration::from_millis(30));
        drop(held);
        waiter.join().unwrap().unwrap();
    }

    #[test]
    fn lock_files_are_named_by_hash() {
        assert_eq!(agent_lock_file("a/b c"), agent_lock_file("a/b c"));
        assert_ne!(agent_lock_file("a"), agent_lock_file("b"));
        assert_eq!(agent_lock_file("a").len(), "agent-.lock".len() + 32);
    }
}
