//! Running the command a user gives for an LLM step (a merge resolver, a summarizer): `sh -c
//! CMD` with JSON on stdin and its stdout read back, and the protocol of that stdout: the
//! content, then optionally a last line `{"usage": {"model": M, "input_tokens": N,
//! "output_tokens": N}}` (`model` may stand beside `usage`) that is the model's token use. One
//! place for the process mechanics and the protocol; each caller words the failure for its own
//! command.

use agentrail::context::{Generated, LlmUsage};
use serde_json::Value as Json;
use std::io::Write;
use std::process::{Command, ExitStatus, Stdio};

/// Why a command gave no output to use.
#[derive(Debug)]
pub enum ShellFailure {
    /// `sh` could not be started.
    Start(std::io::Error),
    /// Waiting for it failed.
    Wait(std::io::Error),
    /// It ended with a non-zero code or a signal.
    Status(ExitStatus),
    /// Its stdout is not UTF-8.
    NotUtf8,
}

/// Runs `sh -c command` with `input` on stdin (stderr passes through) and returns its stdout.
/// The input is written from another thread, so that a command that prints before it has read
/// all its input cannot block both sides on full pipes; a command that exits without reading
/// it is not an error.
pub fn run(command: &str, input: Vec<u8>) -> Result<String, ShellFailure> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(ShellFailure::Start)?;
    let stdin = child.stdin.take();
    let writer = std::thread::spawn(move || {
        if let Some(mut stdin) = stdin {
            let _ = stdin.write_all(&input);
        }
    });
    let output = child.wait_with_output().map_err(ShellFailure::Wait)?;
    let _ = writer.join();
    if !output.status.success() {
        return Err(ShellFailure::Status(output.status));
    }
    String::from_utf8(output.stdout).map_err(|_| ShellFailure::NotUtf8)
}

/// A command's stdout as its content and its usage: trailing line ends dropped, and a last line
/// that is a JSON object with a `usage` member taken as the token use. Such a line without
/// whole, non-negative `usage.input_tokens` and `usage.output_tokens` is an error naming it.
pub fn split_usage(stdout: &str) -> Result<Generated, String> {
    let text = stdout.trim_end_matches(['\n', '\r']);
    let (rest, last) = text.rsplit_once('\n').unwrap_or(("", text));
    let line: Option<serde_json::Map<String, Json>> = serde_json::from_str(last.trim()).ok();
    let Some(line) = line.filter(|line| line.contains_key("usage")) else {
        return Ok(Generated {
            content: text.to_owned(),
            usage: None,
        });
    };
    let count = |name: &str| {
        line["usage"][name]
            .as_u64()
            .ok_or_else(|| format!("its usage line has no count usage.{name}: {last}"))
    };
    let usage = LlmUsage {
        model: line["usage"]
            .get("model")
            .or_else(|| line.get("model"))
            .and_then(Json::as_str)
            // A blank model is no model, and an `llm_call` must name one.
            .filter(|model| !model.trim().is_empty())
            .unwrap_or("unknown")
            .to_owned(),
        input_tokens: count("input_tokens")?,
        output_tokens: count("output_tokens")?,
    };
    Ok(Generated {
        content: rest.trim_end_matches(['\n', '\r']).to_owned(),
        usage: Some(usage),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_last_usage_line_is_token_use_not_content() {
        let generated = split_usage(
            "merged\ntext\n{\"usage\": {\"model\": \"m\", \"input_tokens\": 3, \"output_tokens\": 2}}\n",
        )
        .unwrap();
        assert_eq!(generated.content, "merged\ntext");
        let usage = generated.usage.unwrap();
        assert_eq!(
            (
                usage.model.as_str(),
                usage.input_tokens,
                usage.output_tokens
            ),
            ("m", 3, 2)
        );
        let beside = split_usage(
            "t\n{\"usage\": {\"input_tokens\": 1, \"output_tokens\": 1}, \"model\": \"b\"}",
        )
        .unwrap();
        assert_eq!(beside.usage.unwrap().model, "b");
        let blank = split_usage(
            "t\n{\"usage\": {\"model\": \" \", \"input_tokens\": 1, \"output_tokens\": 1}}",
        )
        .unwrap();
        assert_eq!(blank.usage.unwrap().model, "unknown");
        let alone =
            split_usage("{\"usage\": {\"input_tokens\": 1, \"output_tokens\": 1}}").unwrap();
        assert_eq!(alone.content, "");
        let plain = split_usage("just text\n\n").unwrap();
        assert_eq!(plain.content, "just text");
        assert!(plain.usage.is_none());
        let json_content = split_usage("{\"a\": 1}").unwrap();
        assert_eq!(json_content.content, "{\"a\": 1}");
        assert!(json_content.usage.is_none());
    }

    #[test]
    fn a_usage_line_without_whole_counts_is_an_error_naming_it() {
        let error = split_usage("x\n{\"usage\": {\"input_tokens\": -1, \"output_tokens\": 2}}")
            .unwrap_err();
        assert!(error.contains("usage.input_tokens"), "{error}");
        assert!(error.contains("{\"usage\""), "{error}");
        assert!(split_usage("{\"usage\": {\"input_tokens\": 1}}").is_err());
    }
}
