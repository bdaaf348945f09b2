//! Importing JSON lines: every line is parsed and checked before anything is appended, on all
//! cores (a file is split at line ends into one chunk per thread), and each valid event is
//! redacted and encoded at once, so that only encoded records are held until the append.

use crate::event::{Event, InputError};
use crate::journal::NewRecord;
use crate::recorder::encode;
use crate::redact::Redactor;

/// Threads that parse one input at most.
pub const IMPORT_THREADS_MAX: usize = 8;
/// Inputs shorter than this are parsed on the calling thread alone.
pub const PARALLEL_INPUT_BYTES_MIN: usize = 1024 * 1024;

/// Parses, checks, redacts and encodes every non-blank line of `text`. The first bad line (by
/// line number) is the error; `now_micros` stamps events that carry no `ts`.
pub fn encode_lines(
    redactor: &Redactor,
    text: &str,
    now_micros: i64,
) -> Result<Vec<NewRecord>, InputError> {
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(IMPORT_THREADS_MAX);
    if threads == 1 || text.len() < PARALLEL_INPUT_BYTES_MIN {
        return encode_chunk(redactor, text, 1, now_micros);
    }
    let chunks = split_at_lines(text, threads);
    let results: Vec<Result<Vec<NewRecord>, InputError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .iter()
            .map(|&(first_line, chunk)| {
                scope.spawn(move || encode_chunk(redactor, chunk, first_line, now_micros))
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("an import thread panicked"))
            .collect()
    });
    let mut records = Vec::new();
    for result in results {
        records.extend(result?);
    }
    Ok(records)
}

fn encode_chunk(
    redactor: &Redactor,
    chunk: &str,
    first_line: usize,
    now_micros: i64,
) -> Result<Vec<NewRecord>, InputError> {
    let mut records = Vec::new();
    for (index, line) in chunk.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let event = Event::from_json_line(line, first_line + index, now_micros)?;
        records.push(encode(redactor, event));
    }
    Ok(records)
}

/// `text` cut into about `parts` pieces at line ends, each with the number of its first line.
fn split_at_lines(text: &str, parts: usize) -> Vec<(usize, &str)> {
    let target = text.len().div_ceil(parts);
    let mut chunks = Vec::with_capacity(parts);
    let (mut start, mut line) = (0, 1);
    while start < text.len() {
        let mut end = (start + target).min(text.len());
        end = match text[end..].find('\n') {
            Some(offset) => end + offset + 1,
            None => text.len(),
        };
        let chunk = &text[start..end];
        chunks.push((line, chunk));
        line += chunk.matches('\n').count();
        start = end;
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::split_at_lines;

    #[test]
    fn chunks_end_at_line_ends_and_know_their_first_line() {
        let text = "a\nbb\nccc\ndddd\ne";
        for parts in 1..6 {
            let chunks = split_at_lines(text, parts);
            let joined: String = chunks.iter().map(|(_, chunk)| *chunk).collect();
            assert_eq!(joined, text);
            for (line, chunk) in chunks {
                let expected = text.lines().nth(line - 1).unwrap();
                assert_eq!(chunk.lines().next().unwrap(), expected);
            }
        }
    }
}
