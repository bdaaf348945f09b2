//! The library's typed errors. Each variant carries what a person needs to act on it: the
//! segment file and byte offset for damage on disk, the LSN for a record, the limit and the
//! value for input out of bounds. The CLI adds hints on top; the library never prints.

use std::path::PathBuf;

/// Everything that can go wrong in the journal.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system I/O call failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    /// Bytes on disk fail a check: a checksum, a magic number, an LSN out of sequence.
    #[error("corruption in {segment} at byte offset {offset}: {reason}", segment = .segment.display())]
    Corruption {
        segment: PathBuf,
        offset: u64,
        reason: String,
    },

    /// A record carries a kind this version cannot read and is flagged must-understand.
    #[error("record LSN {lsn} has kind {kind}, which this version of agentrail does not know")]
    UnknownKind { lsn: u64, kind: u16 },

    /// The journal directory already exists where `create` was asked to make a new one.
    #[error("a journal already exists at {}", .0.display())]
    AlreadyExists(PathBuf),

    /// No journal at the path given.
    #[error("no journal at {}", .0.display())]
    NotFound(PathBuf),

    /// A value given to the library is outside what the format allows.
    #[error("{what} is {value}, but must be {bound}")]
    Limit {
        what: &'static str,
        value: u64,
        bound: String,
    },

    /// What a tombstone would keep of a record is larger than a tombstone may hold.
    #[error("the tombstone of LSN {lsn} would keep a summary of {bytes} bytes, more than the {bytes_max} a tombstone holds; that record was not rewritten")]
    TombstoneTooLarge {
        lsn: u64,
        bytes: u64,
        bytes_max: u64,
    },

    /// An LSN given to the library is not in the journal.
    #[error("no record at LSN {lsn}: the journal holds LSN 1 to {last_lsn}")]
    NoSuchLsn { lsn: u64, last_lsn: u64 },

    /// A record payload could not be decoded.
    #[error("record LSN {lsn} cannot be decoded: {reason}")]
    Decode { lsn: u64, reason: String },

    /// An earlier write or sync failed, so this writer acknowledges nothing more.
    #[error("the journal writer stopped after an I/O failure and accepts no more appends: {0}")]
    Poisoned(String),

    /// The journal is damaged and the writer refuses to append until `repair` runs.
    #[error("the journal is damaged and refuses appends until `agentrail repair`: {0}")]
    Damaged(String),

    /// A projection's state cannot be checkpointed: its name is not a valid file stem, or its
    /// state does not encode.
    #[error("projection \"{name}\" cannot be checkpointed: {reason}")]
    Projection { name: &'static str, reason: String },

    /// The workspace's `config.json` is not valid (`line` 0 when the fault has no line).
    #[error("{}{}{reason}", .path.display(), if *.line == 0 { String::from(": ") } else { format!(" line {line}, ") })]
    Config {
        path: PathBuf,
        line: usize,
        reason: String,
    },

    /// An event given to the library is not valid; nothing of the call was written.
    #[error("{0}")]
    Input(#[from] crate::event::InputError),

    /// A context operation names what does not exist or cannot be done; nothing was written.
    #[error("{0}")]
    Context(#[from] crate::context::ContextError),
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// Builds a corruption error for a segment file and offset.
    pub fn corruption(
        segment: impl Into<PathBuf>,
        offset: u64,
        reason: impl Into<String>,
    ) -> Error {
        Error::Corruption {
            segment: segment.into(),
            offset,
            reason: reason.into(),
        }
    }

    /// An equivalent error, for telling several waiters about one failure.
    pub fn duplicate(&self) -> Error {
        match self {
            Error::Io { context, source } => Error::Io {
                context: context.clone(),
                source: std::io::Error::new(source.kind(), source.to_string()),
            },
            Error::Corruption {
                segment,
                offset,
                reason,
            } => Error::Corruption {
                segment: segment.clone(),
                offset: *offset,
                reason: reason.clone(),
            },
            Error::UnknownKind { lsn, kind } => Error::UnknownKind {
                lsn: *lsn,
                kind: *kind,
            },
            Error::AlreadyExists(path) => Error::AlreadyExists(path.clone()),
            Error::NotFound(path) => Error::NotFound(path.clone()),
            Error::Limit { what, value, bound } => Error::Limit {
                what,
                value: *value,
                bound: bound.clone(),
            },
            Error::TombstoneTooLarge {
                lsn,
                bytes,
                bytes_max,
            } => Error::TombstoneTooLarge {
                lsn: *lsn,
                bytes: *bytes,
                bytes_max: *bytes_max,
            },
            Error::NoSuchLsn { lsn, last_lsn } => Error::NoSuchLsn {
                lsn: *lsn,
                last_lsn: *last_lsn,
            },
            Error::Decode { lsn, reason } => Error::Decode {
                lsn: *lsn,
                reason: reason.clone(),
            },
            Error::Poisoned(reason) => Error::Poisoned(reason.clone()),
            Error::Damaged(reason) => Error::Damaged(reason.clone()),
            Error::Projection { name, reason } => Error::Projection {
                name,
                reason: reason.clone(),
            },
            Error::Config { path, line, reason } => Error::Config {
                path: path.clone(),
                line: *line,
                reason: reason.clone(),
            },
            Error::Input(error) => Error::Input(error.clone()),
            Error::Context(error) => Error::Context(error.clone()),
        }
    }

    /// True when the error means bytes on disk are damaged (as opposed to an I/O failure).
    pub fn is_corruption(&self) -> bool {
        matches!(self, Error::Corruption { .. } | Error::Damaged(_))
    }
}

/// serde_json's message for `error` without the `at line L column C` it ends with, for errors
/// that say the position their own way (a JSONL line's number is not serde_json's line 1).
pub(crate) fn json_message(error: &serde_json::Error) -> String {
    let message = error.to_string();
    let position = format!(" at line {} column {}", error.line(), error.column());
    match message.strip_suffix(&position) {
        Some(message) => message.to_owned(),
        None => message,
    }
}
