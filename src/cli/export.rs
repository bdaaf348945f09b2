//! `agentrail export`: every event as one canonical JSON line, in LSN order.
//!
//! Export reads the journal read-only ([`agentrail::journal::read_only`]), never through a
//! writer, because it is the way out of a damaged journal: it writes every event before the
//! first damage, then names the damage (file and byte offset) on stderr and exits 2, and leaves
//! the journal's files as it found them. Only when the log ends in a torn tail and nothing else
//! is wrong does it open the journal afterwards, so that recovery truncates the tail and says
//! so, as every command that opens the journal does.
//!
//! `-o FILE` is written in place, not through a temporary file and a rename: after damage FILE
//! is meant to hold the salvaged prefix, the exit code says whether it is whole, and a rename
//! would fail for `/dev/stdout`, a FIFO, or a file in a directory one cannot write to. FILE is
//! created only once the journal could be opened for reading. `-o -` is stdout, as `import -`
//! reads stdin. FILE inside the workspace's own directory is refused before anything is opened:
//! created in place, it could truncate the active segment or a checkpoint. So is a FILE that is
//! a hard link to a file there, for the same reason.

use super::{
    counted, durability, emit, open_journal, open_workspace, output_error, write_out, CliError,
    CliResult, EXIT_BAD_INPUT, EXIT_FAILURE,
};
use agentrail::event::{decode_record, tombstone_of, Decoded};
use agentrail::journal::Reader;
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};

/// What was written so far.
#[derive(Debug, Default)]
struct Counts {
    exported: u64,
    skipped: u64,
    /// LSN of the last record read, exported or skipped (0 before the first).
    last_lsn: u64,
}

/// Writes the lines to stdout or `output`. With `--json` and a file, stdout gets one object
/// saying how many events were written and the damage export stopped at, if any (to stdout,
/// the lines are JSON already).
pub fn run(output: Option<PathBuf>, json: bool) -> CliResult {
    // `-o -` is stdout, as `import -` reads stdin.
    let output = output.filter(|path| path.as_os_str() != "-");
    if let Some(path) = &output {
        super::not_blank("--output", &path.to_string_lossy())?;
    }
    let workspace = open_workspace()?;
    if let Some(path) = &output {
        refuse_inside(path, workspace.root())?;
    }
    // Checked before reading, as by every command that opens the journal: export may open it
    // (after a torn tail), and a bogus mode is bad usage whether or not it does.
    durability()?;
    let mut reader = workspace.read_journal()?;
    let sink: Box<dyn Write> = match &output {
        Some(path) => Box::new(std::fs::File::create(path).map_err(|error| {
            CliError::new(
                EXIT_FAILURE,
                format!("creating {}: {error}", path.display()),
            )
        })?),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut out = std::io::BufWriter::with_capacity(1 << 16, sink);
    let mut counts = Counts::default();
    let stopped = write_events(&mut reader, &mut out, &mut counts);
    // The lines before the damage are the point of a salvage: they reach the output first.
    out.flush().map_err(output_error)?;
    let stopped = stopped?;
    if counts.skipped > 0 {
        eprintln!(
            "agentrail: skipped {} records of kinds this version does not know",
            counts.skipped
        );
    }
    if stopped.is_none() && reader.torn_tail().is_some() {
        open_journal(&workspace)?.close();
    }
    if let Some(append) = reader.unfinished_append().filter(|_| stopped.is_none()) {
        eprintln!(
            "agentrail: stopped before an unfinished append of {} from LSN {} (being written, or cut short by a crash; an append is exported whole or not at all)",
            counted(append.records, "record"),
            append.first_lsn
        );
    }
    // Into a file, the events are not on stdout: say what was written there (after damage,
    // the error says it, and `--json` says it as well).
    if let Some(path) = output.as_ref().filter(|_| json || stopped.is_none()) {
        let value = json!({
            "exported": counts.exported,
            "skipped": counts.skipped,
            "last_lsn": counts.last_lsn,
            "file": path,
            "damage": stopped.as_ref().map(damage_json),
        });
        emit(json, &value, || {
            let events = counted(counts.exported, "event");
            format!("exported {events} to {}", path.display())
        })?;
    }
    match stopped {
        None => Ok(()),
        Some(error) => Err(stopped_error(error, &counts)),
    }
}

/// Refuses an output `path` inside the workspace directory `root` (the journal's segments, its
/// checkpoints), however it is named: through `..`, a symbolic link, or a file not there yet,
/// whose directory is compared.
fn refuse_inside(path: &Path, root: &Path) -> CliResult {
    let resolved = match path.canonicalize() {
        Ok(resolved) => Some(resolved),
        Err(_) => {
            let parent = match path.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => parent,
                _ => Path::new("."),
            };
            // A directory that does not resolve is left for the file's creation to report.
            let name = path.file_name();
            (parent.canonicalize().ok())
                .zip(name)
                .map(|(dir, name)| dir.join(name))
        }
    };
    let (Some(resolved), Ok(root)) = (resolved, root.canonicalize()) else {
        return Ok(());
    };
    if resolved.starts_with(&root) {
        return Err(CliError::new(
            EXIT_BAD_INPUT,
            format!(
                "--output {} is inside the workspace directory {}, which only agentrail writes; nothing was written",
                path.display(),
                root.display()
            ),
        ));
    }
    match linked_inside(&resolved, &root) {
        Some(inside) => Err(CliError::new(
            EXIT_BAD_INPUT,
            format!(
                "--output {} is another name (a hard link) of {}, which only agentrail writes; nothing was written",
                path.display(),
                inside.display()
            ),
        )),
        None => Ok(()),
    }
}

/// The file under `root` that the existing file `path` is a hard link to, if any: written in
/// place, `path` would truncate it.
fn linked_inside(path: &Path, root: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let metadata = std::fs::metadata(path).ok()?;
    if !metadata.is_file() || metadata.nlink() < 2 {
        return None;
    }
    file_with_inode(root, metadata.dev(), metadata.ino())
}

/// The file under `dir` (not following symbolic links) with device `dev` and inode `ino`.
fn file_with_inode(dir: &Path, dev: u64, ino: u64) -> Option<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let Ok(metadata) = entry.path().symlink_metadata() else {
            continue;
        };
        if metadata.is_dir() {
            if let Some(found) = file_with_inode(&entry.path(), dev, ino) {
                return Some(found);
            }
        } else if metadata.dev() == dev && metadata.ino() == ino {
            return Some(entry.path());
        }
    }
    None
}

/// Writes every event the reader yields; returns the error that ended the read, if any.
/// `Err` is only for the output failing.
fn write_events(
    reader: &mut Reader,
    out: &mut impl Write,
    counts: &mut Counts,
) -> Result<Option<agentrail::Error>, CliError> {
    for record in reader {
        let record = match record {
            Ok(record) => record,
            Err(error) => return Ok(Some(error)),
        };
        let event = match decode_record(&record) {
            Ok(Decoded::Event(event)) => event,
            Ok(Decoded::Skipped { .. }) => {
                counts.skipped += 1;
                counts.last_lsn = record.lsn;
                continue;
            }
            Err(error) => return Ok(Some(error)),
        };
        let object = match tombstone_of(&record) {
            Some((info, _)) => event.to_tombstone_json(record.lsn, &info),
            None => event.to_json(record.lsn),
        };
        let mut line = serde_json::to_vec(&object)
            .map_err(|error| CliError::new(EXIT_FAILURE, error.to_string()))?;
        line.push(b'\n');
        write_out(out, &line)?;
        counts.exported += 1;
        counts.last_lsn = record.lsn;
    }
    Ok(None)
}

fn damage_json(error: &agentrail::Error) -> Value {
    match error {
        agentrail::Error::Corruption {
            segment,
            offset,
            reason,
        } => json!({"segment": segment, "offset": offset, "reason": reason}),
        other => json!({"reason": other.to_string()}),
    }
}

/// The error export stopped at, with how much of the output came before it.
fn stopped_error(error: agentrail::Error, counts: &Counts) -> CliError {
    let through = if counts.last_lsn > 0 {
        format!(" (through LSN {})", counts.last_lsn)
    } else {
        String::new()
    };
    let mut cli_error = CliError::from(error);
    cli_error.message = format!(
        "stopped after exporting {}{through}: {}",
        counted(counts.exported, "event"),
        cli_error.message
    );
    cli_error
}
