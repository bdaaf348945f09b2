//! `agentrail append`: validate every input line first, then append them all as one batch, and
//! print the LSNs once they are durable. A bad line writes nothing.

use super::{
    open_journal, open_workspace, output_error, write_out, CliError, CliResult, EXIT_BAD_INPUT,
};
use agentrail::event::{now_micros, Event};
use agentrail::journal::{NewRecord, KIND_EVENT};
use std::io::{BufRead, Write};

/// Reads and validates the events given on the command line or stdin, and encodes each as
/// soon as it is valid, so that only the encoded records are held until the append.
fn read_records(json: Option<String>) -> Result<Vec<NewRecord>, CliError> {
    let now = now_micros();
    let bad_input = |error: agentrail::event::InputError| {
        CliError::new(EXIT_BAD_INPUT, format!("{error}; nothing was appended"))
    };
    if let Some(text) = json {
        return Ok(vec![record(
            &Event::from_json_line(&text, 1, now).map_err(bad_input)?,
        )]);
    }
    let mut records = Vec::new();
    for (index, line) in std::io::stdin().lock().lines().enumerate() {
        let line = line.map_err(|error| {
            CliError::new(
                EXIT_BAD_INPUT,
                format!(
                    "line {}: cannot read stdin: {error}; nothing was appended",
                    index + 1
                ),
            )
        })?;
        if line.trim().is_empty() {
            continue;
        }
        records.push(record(
            &Event::from_json_line(&line, index + 1, now).map_err(bad_input)?,
        ));
    }
    Ok(records)
}

fn record(event: &Event) -> NewRecord {
    NewRecord::new(KIND_EVENT, event.encode())
}

pub fn run(json: Option<String>) -> CliResult {
    let records = read_records(json)?;
    let workspace = open_workspace()?;
    let journal = open_journal(&workspace)?;
    let lsns = journal.append_batch(records)?;
    journal.close();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for lsn in lsns {
        write_out(&mut out, format!("{lsn}\n").as_bytes())?;
    }
    out.flush().map_err(output_error)
}
