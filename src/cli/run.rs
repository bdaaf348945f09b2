//! `agentrail run -- CMD [ARGS]...`: runs the command with its output passed through as it
//! comes, then records a `tool_output` with the exit code, the duration, and stdout and stderr
//! each capped at 10 KiB (head and tail kept, `truncated` set). Exits with the command's code.
//! Only the head and tail of each stream are held in memory, whatever the command prints.
//! The run ends when the command exits, not when its output does: a process it left running in
//! the background may hold the output open, so once the command has exited its output is read
//! for [`OUTPUT_GRACE`] more at most.

use super::event::{current_envelope, record};
use super::session::recording_session;
use super::{emit, open_recorder, recording_off, CliError, EXIT_FAILURE};
use agentrail::event::schema::{
    head_end_at_line, join_head_tail, next_line_start, next_word_break, CAP_MARKER_BYTES_MAX,
    TOOL_OUTPUT_STREAM_BYTES_MAX,
};
use agentrail::event::EventType;
use serde_json::{json, Map, Value as Json};
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Exit code when the command is not found, as a shell says.
const EXIT_NOT_FOUND: i32 = 127;
/// Exit code when the command is found but cannot be run (not executable, a directory), as a
/// shell says.
const EXIT_CANNOT_RUN: i32 = 126;
/// How long, once the command has exited, its output is still read: what it wrote just before
/// exiting may not have been read yet, while a process it left running in the background may
/// hold its output open for as long as it runs.
const OUTPUT_GRACE: Duration = Duration::from_millis(150);
/// Bytes kept from each end of a stream: a UTF-8 character cut at either end becomes one
/// replacement character (up to 3 bytes), hence the slack.
const STREAM_END_BYTES: usize = (TOOL_OUTPUT_STREAM_BYTES_MAX - CAP_MARKER_BYTES_MAX) / 2 - 4;

/// The head and tail of a stream and how long it was.
#[derive(Default)]
struct Capture {
    head: Vec<u8>,
    tail: VecDeque<u8>,
    total: usize,
}

impl Capture {
    fn push(&mut self, mut bytes: &[u8]) {
        self.total += bytes.len();
        let room = STREAM_END_BYTES.saturating_sub(self.head.len());
        let (to_head, rest) = bytes.split_at(room.min(bytes.len()));
        self.head.extend_from_slice(to_head);
        bytes = rest;
        if bytes.len() > STREAM_END_BYTES {
            bytes = &bytes[bytes.len() - STREAM_END_BYTES..];
        }
        self.tail.extend(bytes);
        let excess = self.tail.len().saturating_sub(STREAM_END_BYTES);
        self.tail.drain(..excess);
    }

    /// Whether the stream is empty or its last byte ends a line.
    fn ends_line(&self) -> bool {
        let last = self.tail.back().or(self.head.last());
        last.is_none_or(|&byte| byte == b'\n')
    }

    /// The text to store and whether anything was left out. When something was, the head and
    /// the tail are cut at line ends as [`cap_head_tail`](agentrail::event::schema::cap_head_tail)
    /// cuts them, so that no line is kept in part.
    fn text(self) -> (String, bool) {
        let omitted = self.total - self.head.len() - self.tail.len();
        let (mut head, mut tail): (Vec<u8>, Vec<u8>) = (self.head, self.tail.into());
        if omitted == 0 {
            head.extend(tail);
            return (String::from_utf8_lossy(&head).into_owned(), false);
        }
        head.truncate(head_end_at_line(&head, head.len()));
        // The byte before the tail is not kept: the tail is taken to start inside a line, and
        // inside a word when no line ends near its start.
        let tail_start = next_line_start(&tail, 0).or_else(|| next_word_break(&tail, 0));
        tail.drain(..tail_start.unwrap_or(0));
        let omitted = self.total - head.len() - tail.len();
        let (head, tail) = (
            String::from_utf8_lossy(&head),
            String::from_utf8_lossy(&tail),
        );
        (join_head_tail(&head, omitted, &tail), true)
    }
}

/// Copies a child's stream to ours as it comes and captures it, until the stream ends or, once
/// `exited` is readable (its write end closed: the command has exited), [`OUTPUT_GRACE`] has
/// passed. A process the command left running may hold the stream open for as long as it runs;
/// `run` records the command, not it.
fn tee(mut from: impl Read + AsFd, mut to: impl Write, exited: BorrowedFd) -> Capture {
    let mut capture = Capture::default();
    let mut buffer = vec![0; 64 * 1024];
    let mut deadline: Option<Instant> = None;
    loop {
        let ready = match deadline {
            None => wait_readable(from.as_fd(), Some(exited), None),
            Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                Some(left) => wait_readable(from.as_fd(), None, Some(left)),
                None => break,
            },
        };
        match ready {
            Ok(Ready::Stream) => {}
            Ok(Ready::Exited) => {
                deadline = Some(Instant::now() + OUTPUT_GRACE);
                continue;
            }
            Ok(Ready::Neither) => continue,
            Err(_) => break,
        }
        match from.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => {
                capture.push(&buffer[..read]);
                // A closed stdout of ours must not stop the command: keep capturing.
                let _ = to.write_all(&buffer[..read]).and_then(|()| to.flush());
            }
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    capture
}

/// What [`wait_readable`] saw.
enum Ready {
    /// The stream has bytes, or its end, to read.
    Stream,
    /// The command has exited.
    Exited,
    /// The timeout passed, or a signal interrupted the wait.
    Neither,
}

/// Waits until `stream` or `exited` is readable, or `timeout` passes (none: no limit).
fn wait_readable(
    stream: BorrowedFd,
    exited: Option<BorrowedFd>,
    timeout: Option<Duration>,
) -> std::io::Result<Ready> {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let timeout = timeout.map(|timeout| Timespec {
        tv_sec: timeout.as_secs() as i64,
        tv_nsec: timeout.subsec_nanos().into(),
    });
    let mut fds = vec![PollFd::from_borrowed_fd(stream, PollFlags::IN)];
    if let Some(exited) = exited {
        fds.push(PollFd::from_borrowed_fd(exited, PollFlags::IN));
    }
    match poll(&mut fds, timeout.as_ref()) {
        Ok(_) if !fds[0].revents().is_empty() => Ok(Ready::Stream),
        Ok(_) if fds.get(1).is_some_and(|fd| !fd.revents().is_empty()) => Ok(Ready::Exited),
        Ok(_) | Err(rustix::io::Errno::INTR) => Ok(Ready::Neither),
        Err(error) => Err(error.into()),
    }
}

/// What the command did.
struct Outcome {
    exit_code: i32,
    /// The signal that ended the command, if one did.
    signal: Option<i32>,
    duration_ms: u64,
    stdout: Capture,
    stderr: Capture,
}

fn execute(command: &[String]) -> Result<Outcome, std::io::Error> {
    let started = Instant::now();
    // Closing `exit_notice` tells the copying threads that the command has exited; it is
    // close-on-exec, so that the command does not hold it.
    let (exited, exit_notice) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    let caught = super::signals::catch()?;
    let mut child = Command::new(&command[0])
        .args(&command[1..])
        .stdin(Stdio::inherit())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let forwarder = caught.forward_to(&child);
    let child_out = child.stdout.take().expect("stdout is piped");
    let child_err = child.stderr.take().expect("stderr is piped");
    let (stdout, stderr, waited, duration) = std::thread::scope(|scope| {
        let out = scope.spawn(|| tee(child_out, std::io::stdout(), exited.as_fd()));
        let err = scope.spawn(|| tee(child_err, std::io::stderr(), exited.as_fd()));
        let waited = super::signals::wait_for_exit(&child);
        let duration = started.elapsed();
        forwarder.stop();
        drop(exit_notice);
        (
            out.join().unwrap_or_default(),
            err.join().unwrap_or_default(),
            waited,
            duration,
        )
    });
    waited?;
    let status = child.wait()?;
    Ok(Outcome {
        exit_code: exit_code(status),
        signal: killed_by(status),
        duration_ms: duration.as_millis() as u64,
        stdout,
        stderr,
    })
}

/// The status as a shell reports it: the exit code, or 128 + the signal.
fn exit_code(status: std::process::ExitStatus) -> i32 {
    match killed_by(status) {
        Some(signal) => 128 + signal,
        None => status.code().unwrap_or(EXIT_FAILURE),
    }
}

/// The signal that ended the process, if one did.
fn killed_by(status: std::process::ExitStatus) -> Option<i32> {
    use std::os::unix::process::ExitStatusExt;
    status.signal()
}

fn data(command: &[String], outcome: Outcome) -> Map<String, Json> {
    let (stdout, stdout_cut) = outcome.stdout.text();
    let (stderr, stderr_cut) = outcome.stderr.text();
    let mut data = Map::new();
    data.insert("tool".into(), command[0].clone().into());
    data.insert("command".into(), shell_words(command).into());
    data.insert("exit_code".into(), outcome.exit_code.into());
    if let Some(signal) = outcome.signal {
        // An exit code of 128 + N may also be the command's own: this says a signal ended it.
        data.insert("signal".into(), super::signals::name(signal).into());
    }
    data.insert("stdout".into(), stdout.into());
    data.insert("stderr".into(), stderr.into());
    data.insert("duration_ms".into(), outcome.duration_ms.into());
    if stdout_cut || stderr_cut {
        data.insert("truncated".into(), true.into());
    }
    data
}

/// The command line as one string, words with spaces or quotes quoted.
fn shell_words(command: &[String]) -> String {
    command
        .iter()
        .map(|word| {
            if !word.is_empty()
                && word
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
            {
                word.clone()
            } else {
                format!("'{}'", word.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs the command and returns the process exit code (the command's).
pub fn run(command: &[String], json: bool) -> i32 {
    let recorder = if recording_off() {
        None
    } else {
        // A session that cannot be recorded in, redaction patterns that do not compile, or a
        // blank command name (a `tool_output`'s tool must not be blank) are refused before the
        // command runs.
        match open_recorder().and_then(|recorder| {
            super::not_blank("the command's name", &command[0])?;
            let agent = super::event::envelope_agent(&recorder, None)?;
            recording_session(&recorder, None, agent.as_deref())?;
            recorder.redactor()?;
            Ok(recorder)
        }) {
            Ok(recorder) => Some(recorder),
            Err(error) => return super::report(error),
        }
    };
    let outcome = match execute(command) {
        Ok(outcome) => outcome,
        Err(error) => {
            eprintln!(
                "agentrail: cannot run {}: {error}",
                super::visible::line(&command[0])
            );
            let mut stderr = Capture::default();
            stderr.push(format!("cannot run {}: {error}", command[0]).as_bytes());
            let exit_code = match error.kind() {
                std::io::ErrorKind::NotFound => EXIT_NOT_FOUND,
                _ => EXIT_CANNOT_RUN,
            };
            Outcome {
                exit_code,
                signal: None,
                duration_ms: 0,
                stdout: Capture::default(),
                stderr,
            }
        }
    };
    let exit = outcome.exit_code;
    let Some(recorder) = recorder else {
        return exit;
    };
    let output_ends_line = outcome.stdout.ends_line();
    let recorded = record(
        &recorder,
        EventType::ToolOutput,
        data(command, outcome),
        current_envelope(),
    );
    recorder.close();
    let printed = recorded.and_then(|(lsn, session)| {
        if json {
            // The object goes on a line of its own, after the command's last line.
            // Never `println!`: it panics on a closed stdout, which `emit` reports quietly.
            if !output_ends_line {
                let _ = std::io::stdout().write_all(b"\n");
            }
            emit(
                true,
                &json!({ "lsn": lsn, "exit_code": exit, "session": session }),
                String::new,
            )
        } else {
            Ok(())
        }
    });
    match printed {
        Ok(()) => exit,
        Err(error) => {
            let code = super::report(CliError::new(
                error.code,
                format!("the command ran, but was not recorded: {}", error.message),
            ));
            if exit == 0 {
                code
            } else {
                exit
            }
        }
    }
}
