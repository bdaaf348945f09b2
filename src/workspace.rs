//! The `.agentrail` directory: where a journal lives, how it is found, and its config. A
//! workspace is found by walking up from a starting directory as git finds `.git`; the CLI
//! passes the working directory or `AGENTRAIL_DIR` (the library reads no environment).

use crate::error::{Error, Result};
use crate::journal::segment::write_file_atomically;
use crate::journal::vfs::StdFs;
use crate::journal::{self, Durability, Journal, LockWaitNotice, Options};
use crate::redact::{PatternConfig, Redactor};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Name of the workspace directory.
pub const WORKSPACE_DIR_NAME: &str = ".agentrail";
const CONFIG_FILE: &str = "config.json";

/// The workspace's `config.json`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub format_version: u32,
    pub segment_bytes: u64,
    /// Patterns redacted besides the built-in detectors (`format-spec/events.md`).
    #[serde(default, skip_serializing_if = "RedactConfig::is_empty")]
    pub redact: RedactConfig,
    /// Context version control settings (`README.md`, "Context version control").
    #[serde(default, skip_serializing_if = "ContextConfig::is_empty")]
    pub context: ContextConfig,
}

/// The `context` section of `config.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextConfig {
    /// The tokens an agent's materialized context should stay under; `status` warns at 80%
    /// and at 100% of it.
    #[serde(default)]
    pub budget_tokens: Option<u64>,
    /// `gc` keeps commits that a reflog entry younger than this many days names; default 30
    /// (`crate::context::gc::GC_RETENTION_DAYS_DEFAULT`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gc_retention_days: Option<u64>,
    /// When true, `gc` no longer keeps a collapsed child's inner history through the collapse
    /// commit's `child_head` and `child` links. Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gc_collapsed_children: Option<bool>,
}

impl ContextConfig {
    fn is_empty(&self) -> bool {
        self.budget_tokens.is_none()
            && self.gc_retention_days.is_none()
            && self.gc_collapsed_children.is_none()
    }
}

/// The `redact` section of `config.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedactConfig {
    #[serde(default)]
    pub patterns: Vec<PatternConfig>,
}

impl RedactConfig {
    fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }
}

/// Parses `config.json`, or says where it is wrong: the line, and a reason naming the column
/// and the field (`context.budget_tokens`, `redact.patterns[0]`) when there is one.
fn parse_config(text: &str) -> std::result::Result<Config, (usize, String)> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let config = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let field = error.path().to_string();
        config_fault(error.into_inner(), &field)
    })?;
    deserializer
        .end()
        .map_err(|error| config_fault(error, "."))?;
    Ok(config)
}

/// The line of a fault in `config.json`, and its reason: the column, the field (unless it is
/// the whole document, `.`, or unknown, `?`) and serde_json's message.
fn config_fault(error: serde_json::Error, field: &str) -> (usize, String) {
    let message = crate::error::json_message(&error);
    let field = match field {
        "." | "?" => String::new(),
        field => format!(", field `{field}`"),
    };
    let column = error.column();
    (error.line(), format!("column {column}{field}: {message}"))
}

/// True when `root` is what an interrupted [`Workspace::init`] leaves (an empty directory, or
/// one holding `journal/`), which `init` refuses to overwrite.
fn is_partial_workspace(root: &Path) -> bool {
    root.join("journal").is_dir()
        || std::fs::read_dir(root).is_ok_and(|mut entries| entries.next().is_none())
}

/// An opened `.agentrail` directory.
#[derive(Debug, Clone)]
pub struct Workspace {
    root: PathBuf,
    config: Config,
    /// Given to every journal this workspace opens (see [`Workspace::with_lock_wait_notice`]).
    lock_wait_notice: Option<LockWaitNotice>,
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
    /// Options are checked before anything is created, and a failure part way removes what
    /// was made, so a workspace is either whole or absent.
    pub fn init(root: &Path, segment_bytes: u64) -> Result<Workspace> {
        if root.exists() {
            return Err(Error::AlreadyExists(root.to_path_buf()));
        }
        let options = Options {
            segment_bytes,
            ..Options::default()
        };
        options.check()?;
        let config = Config {
            format_version: journal::format::FORMAT_VERSION,
            segment_bytes,
            redact: RedactConfig::default(),
            context: ContextConfig::default(),
        };
        std::fs::create_dir_all(root)
            .map_err(|error| Error::io(format!("creating {}", root.display()), error))?;
        let made = Self::populate(root, &config, options);
        if made.is_err() {
            let _ = std::fs::remove_dir_all(root);
        }
        made.map(|()| Workspace {
            root: root.to_path_buf(),
            config,
            lock_wait_notice: None,
        })
    }

    fn populate(root: &Path, config: &Config, options: Options) -> Result<()> {
        Journal::create(root.join("journal"), options)?.close();
        let text = serde_json::to_string_pretty(config)
            .map_err(|error| Error::io("encoding config", error.into()))?
            + "\n";
        write_file_atomically(&StdFs, root, &root.join(CONFIG_FILE), text.as_bytes())
    }

    /// Opens the workspace at `root` (the `.agentrail` directory itself).
    pub fn open(root: &Path) -> Result<Workspace> {
        let path = root.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&path).map_err(|error| match error.kind() {
            std::io::ErrorKind::NotFound if is_partial_workspace(root) => Error::Config {
                path: path.clone(),
                line: 0,
                reason: format!(
                    "missing, as an interrupted `agentrail init` leaves it; if nothing in {} matters, remove it and run `agentrail init` again",
                    root.display()
                ),
            },
            std::io::ErrorKind::NotFound => Error::NotFound(root.to_path_buf()),
            _ => Error::io(format!("reading {}", path.display()), error),
        })?;
        let config = parse_config(&text).map_err(|(line, reason)| Error::Config {
            path: path.clone(),
            line,
            reason,
        })?;
        // A version this agentrail does not know was written by a newer one, whose settings
        // and journal it may misread.
        if config.format_version != journal::format::FORMAT_VERSION {
            return Err(Error::Config {
                path,
                line: 0,
                reason: format!(
                    "field `format_version`: version {} is not one this agentrail reads (it reads version {})",
                    config.format_version,
                    journal::format::FORMAT_VERSION
                ),
            });
        }
        Ok(Workspace {
            root: root.to_path_buf(),
            config,
            lock_wait_notice: None,
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

    /// Where projection checkpoints live: `projections/`. Deleting it loses nothing.
    pub fn projections_dir(&self) -> PathBuf {
        self.root.join("projections")
    }

    /// The redactor for this workspace: the built-in detectors and the config's patterns.
    pub fn redactor(&self) -> Result<Redactor> {
        Redactor::new(&self.config.redact.patterns).map_err(|error| Error::Config {
            path: self.root.join(CONFIG_FILE),
            line: 0,
            reason: error.to_string(),
        })
    }

    /// Where the locks that serialize ref moves live: `locks/` (`context::lock`).
    pub fn locks_dir(&self) -> PathBuf {
        self.root.join("locks")
    }

    /// Where `repair` moves damaged segments: `damaged/<unix-seconds>`.
    pub fn damaged_dir(&self, unix_seconds: u64) -> PathBuf {
        self.root.join("damaged").join(unix_seconds.to_string())
    }

    /// Reads the journal without writing to it (see [`journal::read_only`]).
    pub fn read_journal(&self) -> Result<journal::Reader> {
        journal::read_only(Arc::new(StdFs), &self.journal_dir())
    }

    /// The journals this workspace opens tell `notice` when taking the journal's lock waits
    /// long: another process holds it.
    pub fn with_lock_wait_notice(self, notice: LockWaitNotice) -> Workspace {
        Workspace {
            lock_wait_notice: Some(notice),
            ..self
        }
    }

    /// Opens the journal with the workspace's segment size.
    pub fn open_journal(&self, durability: Durability) -> Result<Journal> {
        let options = Options {
            segment_bytes: self.config.segment_bytes,
            durability,
            lock_wait_notice: self.lock_wait_notice.clone(),
            ..Options::default()
        };
        Journal::open(self.journal_dir(), options)
    }
}
