//! Command-line parsing and dispatch. Each command lives in its own module and returns a
//! [`CliError`] that carries its exit code and a hint for the person at the terminal.

mod append;
mod export;
mod init;
mod verify;

use agentrail::journal::{Durability, Journal};
use agentrail::workspace::Workspace;
use clap::{Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;

/// Exit code for a failed operation.
pub const EXIT_FAILURE: i32 = 1;
/// Exit code for bad usage, bad input or a damaged journal.
pub const EXIT_BAD_INPUT: i32 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "agentrail",
    version,
    about = "A crash-safe flight recorder for AI agents"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create ./.agentrail (or $AGENTRAIL_DIR) with an empty journal.
    Init {
        /// Seal a segment and start the next one at this size (4096 to 1073741824).
        #[arg(long, default_value_t = agentrail::journal::SEGMENT_BYTES_DEFAULT)]
        segment_bytes: u64,
    },
    /// Append events: JSON objects, one per line on stdin, or one given with --json. Prints
    /// the assigned LSNs once they are durable.
    Append {
        /// One event as a JSON object, instead of stdin.
        #[arg(long, value_name = "OBJECT")]
        json: Option<String>,
    },
    /// Write every event as one JSON line, in LSN order.
    Export {
        /// Write to this file instead of stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Check every record of every segment; exit 2 and name file and offset on damage.
    Verify {
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Move damaged segments aside and cut the log after the last good record.
    Repair {
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

/// An error on its way to the terminal.
#[derive(Debug)]
pub struct CliError {
    pub code: i32,
    pub message: String,
    pub hint: Option<String>,
}

impl CliError {
    pub fn new(code: i32, message: impl Into<String>) -> CliError {
        CliError {
            code,
            message: message.into(),
            hint: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> CliError {
        self.hint = Some(hint.into());
        self
    }
}

impl From<agentrail::Error> for CliError {
    fn from(error: agentrail::Error) -> CliError {
        use agentrail::Error;
        let code = match &error {
            Error::Corruption { .. }
            | Error::Damaged(_)
            | Error::UnknownKind { .. }
            | Error::Decode { .. }
            | Error::Limit { .. } => EXIT_BAD_INPUT,
            _ => EXIT_FAILURE,
        };
        let hint = match &error {
            Error::Corruption { .. } | Error::Damaged(_) => Some("run `agentrail verify` to see all damage, and `agentrail repair` to cut the log at the last good record"),
            Error::NotFound(_) => Some("run `agentrail init` to create a journal here"),
            _ => None,
        };
        let cli_error = CliError::new(code, error.to_string());
        match hint {
            Some(hint) => cli_error.with_hint(hint),
            None => cli_error,
        }
    }
}

impl From<std::io::Error> for CliError {
    fn from(error: std::io::Error) -> CliError {
        CliError::new(EXIT_FAILURE, error.to_string())
    }
}

pub type CliResult = Result<(), CliError>;

/// Runs the command line and returns the process exit code.
pub fn run() -> i32 {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Init { segment_bytes } => init::run(segment_bytes),
        Command::Append { json } => append::run(json),
        Command::Export { output } => export::run(output),
        Command::Verify { json } => verify::run_verify(json),
        Command::Repair { json } => verify::run_repair(json),
    };
    match result {
        Ok(()) => 0,
        Err(error) if error.message == BROKEN_PIPE => 0,
        Err(error) => {
            eprintln!("agentrail: {}", error.message);
            if let Some(hint) = error.hint {
                eprintln!("hint: {hint}");
            }
            error.code
        }
    }
}

const BROKEN_PIPE: &str = "\u{0}broken pipe";

/// Writes to stdout, turning a closed pipe into a quiet exit 0.
pub fn write_out(out: &mut impl Write, bytes: &[u8]) -> CliResult {
    out.write_all(bytes).map_err(output_error)
}

pub fn output_error(error: std::io::Error) -> CliError {
    if error.kind() == std::io::ErrorKind::BrokenPipe {
        return CliError::new(0, BROKEN_PIPE);
    }
    CliError::new(EXIT_FAILURE, format!("writing output: {error}"))
}

/// The `.agentrail` directory: `$AGENTRAIL_DIR`, else the nearest one at or above the working
/// directory.
pub fn workspace_root() -> Result<PathBuf, CliError> {
    if let Some(dir) = std::env::var_os("AGENTRAIL_DIR").filter(|dir| !dir.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let cwd = std::env::current_dir()?;
    Workspace::discover(&cwd).ok_or_else(|| {
        CliError::new(
            EXIT_FAILURE,
            format!("no .agentrail directory in {} or any parent", cwd.display()),
        )
        .with_hint("run `agentrail init` to create one, or set AGENTRAIL_DIR")
    })
}

pub fn open_workspace() -> Result<Workspace, CliError> {
    let root = workspace_root()?;
    Workspace::open(&root).map_err(CliError::from)
}

/// The durability mode: `$AGENTRAIL_SYNC`, else `always`.
pub fn durability() -> Result<Durability, CliError> {
    match std::env::var("AGENTRAIL_SYNC") {
        Ok(mode) if !mode.is_empty() => mode.parse().map_err(|message: String| {
            CliError::new(EXIT_BAD_INPUT, format!("AGENTRAIL_SYNC: {message}"))
        }),
        _ => Ok(Durability::Always),
    }
}

/// Opens the journal and tells the person about anything recovery had to do.
pub fn open_journal(workspace: &Workspace) -> Result<Journal, CliError> {
    let journal = workspace.open_journal(durability()?)?;
    if let Some(torn) = &journal.recovery_report().torn_tail {
        eprintln!(
            "agentrail: recovered from an interrupted write: dropped {} bytes at {} byte offset {} (LSN {} was incomplete and never acknowledged)",
            torn.bytes_dropped,
            torn.segment.display(),
            torn.offset,
            torn.lsn
        );
    }
    Ok(journal)
}
