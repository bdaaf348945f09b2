//! `agentrail import FILE|-`: check every line, then append them all with no sync per event
//! (one at the end), and say how many events were stored.

use super::append::{append_batch, import_error};
use super::{emit, open_workspace, report_recovery_of, CliResult};
use agentrail::context::tokens::load_tokenizer;
use agentrail::event::now_micros;
use agentrail::import::{encode_input, PARALLEL_INPUT_BYTES_MIN};
use agentrail::journal::Durability;
use agentrail::recorder::Recorder;
use serde_json::json;
use std::io::Read;
use std::path::Path;

pub fn run(file: &Path, json: bool) -> CliResult {
    let input: Box<dyn Read> = if file == Path::new("-") {
        Box::new(std::io::stdin().lock())
    } else {
        warm_tokenizer_for(file);
        Box::new(
            std::fs::File::open(file)
                .map_err(|error| import_error(&source_name(file), error.into()))?,
        )
    };
    // Mode `never` while appending, one sync before answering: an import is durable as a
    // whole when this command says so, without paying an fdatasync per batch.
    let recorder = Recorder::open(open_workspace()?, Durability::Never)?;
    report_recovery_of(&recorder);
    let batch = encode_input(recorder.redactor()?, input, now_micros())
        .map_err(|error| import_error(&source_name(file), error))?;
    let count = batch.len() as u64;
    let lsns = if count == 0 {
        0..0
    } else {
        append_batch(&recorder, batch, super::append::bad_input)?
    };
    recorder.journal().sync()?;
    recorder.close();
    let range = json!({ "first_lsn": lsns.start, "last_lsn": lsns.end.saturating_sub(1) });
    emit(
        json,
        &json!({ "imported": count, "lsns": range }),
        || match count {
            0 => "imported 0 events".into(),
            1 => format!("imported 1 event (LSN {})", lsns.start),
            _ => format!(
                "imported {count} events (LSN {} to {})",
                lsns.start,
                lsns.end - 1
            ),
        },
    )
}

/// Starts loading the tokenizer on another thread when `file` is large enough to be encoded on
/// every core: its commits without a token count need it, and a thread that meets one first
/// would otherwise load it while the others wait. Reading the file leaves a core free for it.
fn warm_tokenizer_for(file: &Path) {
    let large =
        std::fs::metadata(file).is_ok_and(|meta| meta.len() >= PARALLEL_INPUT_BYTES_MIN as u64);
    if large {
        std::thread::spawn(load_tokenizer);
    }
}

/// The input's name in messages.
fn source_name(file: &Path) -> String {
    if file == Path::new("-") {
        "stdin".to_owned()
    } else {
        file.display().to_string()
    }
}
