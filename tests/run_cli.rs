//! `agentrail run -- CMD` interrupted: real signals sent to the binary while its command runs,
//! to its whole process group (as a terminal's Ctrl-C or a supervisor's `killpg` does) and to
//! agentrail alone (as `timeout` or `kill PID` does). The run must still be recorded, with the
//! exit code a shell reports and the signal, and agentrail must exit with that code.

use rustix::process::{kill_process, kill_process_group, Pid, Signal};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::Stdio;

#[path = "common/workspace_dir.rs"]
mod workspace_dir;

use workspace_dir::{text, Dir};

/// Who the signal is sent to.
#[derive(Debug, Clone, Copy)]
enum Target {
    /// agentrail's process group: agentrail and its command.
    Group,
    /// agentrail's process only.
    Agentrail,
}

/// `agentrail run -- sh -c SCRIPT` in `dir`, in a clean environment, its output piped. The
/// caught signals are set to their default first (`env --default-signal`, coreutils 8.31):
/// agentrail leaves a signal it was started with ignored as it is, and a test run under `nohup`
/// (as CI scripts are) would otherwise hand it SIGHUP ignored.
fn run_script(dir: &Dir, script: &str) -> std::process::Command {
    let mut command = std::process::Command::new("env");
    command
        .arg("--default-signal=HUP,INT,TERM,QUIT")
        .arg(env!("CARGO_BIN_EXE_agentrail"))
        .args(["run", "--", "sh", "-c", script])
        .current_dir(dir.path())
        .env_remove("AGENTRAIL_SESSION")
        .env_remove("AGENTRAIL_AGENT")
        .env_remove("AGENTRAIL")
        .env_remove("AGENTRAIL_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Starts `agentrail run -- sh -c SCRIPT` in a process group of its own, waits for the script's
/// first line (so the command runs), sends `signal` to `target`, and returns agentrail's exit
/// code and the rest of its stdout.
fn interrupted_run(dir: &Dir, script: &str, signal: Signal, target: Target) -> (i32, String) {
    let mut command = run_script(dir, script);
    let command = command.process_group(0);
    let mut child = command.spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert_eq!(first, "started\n");
    let pid = Pid::from_child(&child);
    match target {
        Target::Group => kill_process_group(pid, signal).unwrap(),
        Target::Agentrail => kill_process(pid, signal).unwrap(),
    }
    let output = child.wait_with_output().unwrap();
    let mut rest = String::new();
    stdout.read_line(&mut rest).unwrap();
    let code = output.status.code().unwrap_or_else(|| {
        panic!(
            "agentrail died of a signal ({:?}): {}",
            output.status,
            text(&output.stderr)
        )
    });
    (code, rest)
}

/// The last event, which must be the run's `tool_output`.
fn recorded_run(dir: &Dir) -> Value {
    let event = dir.export().pop().expect("the run was recorded");
    assert_eq!(event["type"], json!("tool_output"), "{event}");
    event
}

#[test]
fn a_signal_that_ends_the_command_is_recorded_and_is_the_exit_code() {
    // `exec` so that the signal's target is the command itself, not a shell waiting for it.
    let script = "ulimit -c 0; echo started; exec sleep 30";
    let cases = [
        (Signal::INT, "SIGINT", Target::Group),
        (Signal::INT, "SIGINT", Target::Agentrail),
        (Signal::TERM, "SIGTERM", Target::Group),
        (Signal::TERM, "SIGTERM", Target::Agentrail),
        (Signal::HUP, "SIGHUP", Target::Agentrail),
        (Signal::QUIT, "SIGQUIT", Target::Agentrail),
    ];
    for (signal, name, target) in cases {
        let dir = Dir::initialized_with_sync(Some("never"));
        let (code, _) = interrupted_run(&dir, script, signal, target);
        let expected = 128 + signal.as_raw();
        assert_eq!(code, expected, "{name} to {target:?}");
        let event = recorded_run(&dir);
        assert_eq!(
            event["data"]["exit_code"],
            json!(expected),
            "{name} to {target:?}"
        );
        assert_eq!(event["data"]["signal"], json!(name), "{name} to {target:?}");
        assert_eq!(event["data"]["stdout"], json!("started\n"));
    }
}

#[test]
fn a_command_that_handles_the_signal_ends_as_it_chooses() {
    // A command that catches the signal gets it (once, sent to agentrail alone) and its own
    // exit code is what is recorded, with no signal.
    let script = "trap 'kill $!; echo caught; exit 3' TERM; echo started; sleep 30 & wait";
    for target in [Target::Group, Target::Agentrail] {
        let dir = Dir::initialized_with_sync(Some("never"));
        let (code, rest) = interrupted_run(&dir, script, Signal::TERM, target);
        assert_eq!(code, 3, "{target:?}");
        assert_eq!(rest, "caught\n", "{target:?}");
        let event = recorded_run(&dir);
        assert_eq!(event["data"]["exit_code"], json!(3));
        assert_eq!(event["data"].get("signal"), None, "{event}");
    }
}

/// How long a test waits for agentrail to exit on its own before it gives up on it: a bound that
/// only a hung agentrail reaches, not a timing the test measures.
const EXIT_WAIT_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

#[test]
fn a_process_the_command_leaves_running_does_not_hold_agentrail() {
    // The background `cat` blocks opening a FIFO that no one writes to, holding the command's
    // stderr open (as any process left running does) until the test opens the FIFO itself.
    // agentrail must record the command and exit with its code once it has exited.
    let dir = Dir::initialized_with_sync(Some("never"));
    let fifo = dir.path().join("fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let script = "cat fifo > /dev/null & echo started; echo err >&2; exit 7";
    let mut child = run_script(&dir, script).spawn().unwrap();
    let waited_since = std::time::Instant::now();
    let mut exited_alone = false;
    while waited_since.elapsed() < EXIT_WAIT_LIMIT {
        if child.try_wait().unwrap().is_some() {
            exited_alone = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // Lets `cat` end, whatever happened: opening the FIFO meets its reader.
    drop(std::fs::OpenOptions::new().write(true).open(&fifo).unwrap());
    let output = child.wait_with_output().unwrap();
    assert!(exited_alone, "agentrail waited for the background process");
    assert_eq!(output.status.code(), Some(7), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "started\n");
    let event = recorded_run(&dir);
    assert_eq!(event["data"]["exit_code"], json!(7));
    assert_eq!(event["data"]["stdout"], json!("started\n"));
    assert_eq!(event["data"]["stderr"], json!("err\n"));
}
