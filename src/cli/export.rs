//! `agentrail export`: every event as one canonical JSON line, in LSN order.

use super::{
    emit, open_journal, open_workspace, output_error, write_out, CliError, CliResult, EXIT_FAILURE,
};
use agentrail::event::{decode_record, tombstone_of, Decoded};
use serde_json::json;
use std::io::Write;
use std::path::PathBuf;

/// Writes the lines to stdout or `output`. With `--json` and a file, stdout gets one object
/// saying how many events were written (to stdout, the lines are JSON already).
pub fn run(output: Option<PathBuf>, json: bool) -> CliResult {
    let workspace = open_workspace()?;
    let journal = open_journal(&workspace)?;
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
    let (mut skipped, mut exported) = (0u64, 0u64);
    for record in journal.iter()? {
        let record = record?;
        match decode_record(&record)? {
            Decoded::Event(event) => {
                let object = match tombstone_of(&record) {
                    Some((info, _)) => event.to_tombstone_json(record.lsn, &info),
                    None => event.to_json(record.lsn),
                };
                let mut line = serde_json::to_vec(&object)
                    .map_err(|error| CliError::new(EXIT_FAILURE, error.to_string()))?;
                line.push(b'\n');
                write_out(&mut out, &line)?;
                exported += 1;
            }
            Decoded::Skipped { .. } => skipped += 1,
        }
    }
    out.flush().map_err(output_error)?;
    if skipped > 0 {
        eprintln!("agentrail: skipped {skipped} records of kinds this version does not know");
    }
    match output {
        Some(path) if json => emit(
            true,
            &json!({ "exported": exported, "skipped": skipped, "file": path }),
            String::new,
        ),
        _ => Ok(()),
    }
}
