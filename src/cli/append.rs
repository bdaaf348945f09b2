//! `agentrail append`: validate every input line first, then append them all as one batch, and
//! print the LSNs once they are durable. A bad line writes nothing.

use super::{emit, open_recorder, CliError, CliResult, EXIT_BAD_INPUT};
use agentrail::event::{now_micros, Event, InputError};
use agentrail::import::encode_lines;
use agentrail::recorder::encode;
use serde_json::json;
use std::io::Read;

/// A bad input line, said so that the person knows nothing was stored.
pub fn bad_input(error: InputError) -> CliError {
    CliError::new(EXIT_BAD_INPUT, format!("{error}; nothing was appended"))
}

/// All of stdin, or an error naming the line where it stopped being readable text.
pub fn read_stdin() -> Result<String, CliError> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .lock()
        .read_to_end(&mut bytes)
        .map_err(|error| {
            CliError::new(
                EXIT_BAD_INPUT,
                format!("cannot read stdin: {error}; nothing was appended"),
            )
        })?;
    String::from_utf8(bytes).map_err(|error| {
        let valid = &error.as_bytes()[..error.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|&&byte| byte == b'\n').count() + 1;
        CliError::new(
            EXIT_BAD_INPUT,
            format!("line {line}: not UTF-8 text; nothing was appended"),
        )
    })
}

pub fn run(event: Option<String>, json: bool) -> CliResult {
    let recorder = open_recorder()?;
    let now = now_micros();
    let redactor = recorder.redactor()?;
    let records = match event {
        Some(text) => vec![encode(
            redactor,
            Event::from_json_line(&text, 1, now).map_err(bad_input)?,
        )],
        None => encode_lines(redactor, &read_stdin()?, now).map_err(bad_input)?,
    };
    let lsns = recorder.journal().append_batch(records)?;
    recorder.close();
    let listed: Vec<u64> = lsns.clone().collect();
    emit(json, &json!({ "lsns": listed }), || {
        lsns.map(|lsn| format!("{lsn}\n")).collect()
    })
}
