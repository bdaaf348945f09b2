//! Running the command a user gives for an LLM step (a merge resolver, a summarizer): `sh -c
//! CMD` with JSON on stdin and its stdout read back. One place for the process mechanics; each
//! caller words the failure for its own command.

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
