//! `agentrail append`: validate every input line first, then append them all as one batch, and
//! print the LSNs once they are durable. A bad line writes nothing.

use super::{emit, open_recorder, CliError, CliResult, EXIT_BAD_INPUT};
use agentrail::event::{now_micros, InputError};
use agentrail::import::{append, encode_input, encode_line, Batch, ImportError};
use agentrail::recorder::Recorder;
use serde_json::json;
use std::ops::Range;

/// A bad input line, said so that the person knows nothing was stored.
pub fn bad_input(error: InputError) -> CliError {
    CliError::new(EXIT_BAD_INPUT, format!("{error}; nothing was appended"))
}

/// A bad `--event`: named as the option, since the event came on the command line, not on a
/// line of input.
fn event_arg_error(error: InputError) -> CliError {
    let field = error.field.map(|field| format!(", field `{field}`"));
    let message = format!("--event{}: {}", field.unwrap_or_default(), error.message);
    CliError::new(EXIT_BAD_INPUT, format!("{message}; nothing was appended"))
}

/// The error for input that cannot be imported: exit 2, naming the bad line, or the input
/// (`source`: a file's name, or `stdin`) that could not be read.
pub fn import_error(source: &str, error: ImportError) -> CliError {
    match error {
        ImportError::Input(error) => bad_input(error),
        ImportError::Read(error) => CliError::new(
            EXIT_BAD_INPUT,
            format!("reading {source}: {error}; nothing was appended"),
        ),
        other => CliError::new(EXIT_BAD_INPUT, format!("{other}; nothing was appended")),
    }
}

/// Appends a checked batch: an event that would change nothing or break a view (a context
/// event the graph rejects, a session started twice) is a bad input, said by `bad`.
pub fn append_batch(
    recorder: &Recorder,
    batch: Batch,
    bad: fn(InputError) -> CliError,
) -> Result<Range<u64>, CliError> {
    match append(recorder, batch) {
        Err(agentrail::Error::Input(error)) => Err(bad(error)),
        other => Ok(other?),
    }
}

pub fn run(event: Option<String>, json: bool) -> CliResult {
    let recorder = open_recorder()?;
    let now = now_micros();
    let redactor = recorder.redactor()?;
    let (batch, bad): (_, fn(InputError) -> CliError) = match event {
        Some(text) => {
            let batch = encode_line(redactor, &text, 1, now).map_err(event_arg_error)?;
            (batch, event_arg_error)
        }
        None => {
            let batch = encode_input(redactor, std::io::stdin().lock(), now)
                .map_err(|error| import_error("stdin", error))?;
            (batch, bad_input)
        }
    };
    let lsns = append_batch(&recorder, batch, bad)?;
    recorder.close();
    let listed: Vec<u64> = lsns.clone().collect();
    emit(json, &json!({ "lsns": listed }), || {
        lsns.map(|lsn| format!("{lsn}\n")).collect()
    })
}
