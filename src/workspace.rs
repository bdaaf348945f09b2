//! The `.agentrail` directory: where a journal lives, how it is found, and its config. A
//! workspace is found by walking up from a starting directory as git finds `.git`; the CLI
//! passes the working directory or `AGENTRAIL_DIR` (the library reads no environment).

use crate::error::{Error, Result};
use crate::journal::{self, Durability, Journal, Options};
use std::path::{Path, PathBuf};

/// Name of the workspace directory.
pub const WORKSPACE_DIR_NAME: &str = ".agentrail";
const CONFIG_FILE: &str = "config.json";

/// The workspace's `config.json`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Config {
    pub format_version: u32,
    pub segment_bytes: u64,
}

/// An opened `.agentrail` directory.
#[derive(Debug, Clone)]
pub struct Workspace {
    root: PathBuf,
    config: Config,
}

impl Workspace {
    /// Finds the nearest `.agentrail` directory at or above `start`.
    pub fn discover(start: &Path) -> Option<PathBuf> {
        start
            .ancestors()
            .map(|dir| dir.join(WORKSPACE_DIR_NAME))
            .find(|candidate| candidate.is_dir())
    }

    /// Creates a workspace at `root` (the `.agentrail` directory itself) with its journal.
    pub fn init(root: &Path, segment_bytes: u64) -> Result<Workspace> {
        if root.exists() {
            return Err(Error::AlreadyExists(root.to_path_buf()));
        }
        let config = Config {
            format_version: journal::format::FORMAT_VERSION,
            segment_bytes,
        };
        let options = Options {
            segment_bytes,
            ..Options::default()
        };
        let journal_dir = root.join("journal");
        std::fs::create_dir_all(root)
            .map_err(|error| Error::io(format!("creating {}", root.display()), error))?;
        let text = serde_json::to_string_pretty(&config)
            .map_err(|error| Error::io("encoding config", error.into()))?;
        std::fs::write(root.join(CONFIG_FILE), text + "\n").map_err(|error| {
            Error::io(
                format!("writing {}", root.join(CONFIG_FILE).display()),
                error,
            )
        })?;
        Journal::create(&journal_dir, options)?.close();
        Ok(Workspace {
            root: root.to_path_buf(),
            config,
        })
    }

    /// Opens the workspace at `root` (the `.agentrail` directory itself).
    pub fn open(root: &Path) -> Result<Workspace> {
        let path = root.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&path).map_err(|error| match error.kind() {
            std::io::ErrorKind::NotFound => Error::NotFound(root.to_path_buf()),
            _ => Error::io(format!("reading {}", path.display()), error),
        })?;
        let config: Config = serde_json::from_str(&text).map_err(|error| Error::Corruption {
            segment: path.clone(),
            offset: 0,
            reason: format!("config is not valid: {error}"),
        })?;
        Ok(Workspace {
            root: root.to_path_buf(),
            config,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn journal_dir(&self) -> PathBuf {
        self.root.join("journal")
    }

    /// Where `repair` moves damaged segments: `damaged/<unix-seconds>`.
    pub fn damaged_dir(&self, unix_seconds: u64) -> PathBuf {
        self.root.join("damaged").join(unix_seconds.to_string())
    }

    /// Opens the journal with the workspace's segment size.
    pub fn open_journal(&self, durability: Durability) -> Result<Journal> {
        let options = Options {
            segment_bytes: self.config.segment_bytes,
            durability,
            ..Options::default()
        };
        Journal::open(self.journal_dir(), options)
    }
}
