//! Command-line parsing and dispatch. Each command lives in its own module and returns a
//! [`CliError`] that carries its exit code and a hint for the person at the terminal.

mod append;
mod context;
mod event;
mod event_text;
mod export;
mod gc;
mod import;
mod init;
mod query;
mod rewrite;
mod run;
mod session;
mod shell;
mod signals;
mod subagent;
mod verify;
mod visible;

use agentrail::journal::{Durability, Journal, LockWaitNotice};
use agentrail::workspace::Workspace;
use clap::{Parser, Subcommand};
use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Exit code for a failed operation.
pub const EXIT_FAILURE: i32 = 1;
/// Exit code for bad usage, bad input or a damaged journal.
pub const EXIT_BAD_INPUT: i32 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "agentrail",
    version,
    about = "A crash-safe flight recorder for AI agents"
)]
struct Cli {
    /// Print one compact JSON object on stdout instead of the human form.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create ./.agentrail (or $AGENTRAIL_DIR) with an empty journal.
    Init {
        /// Seal a segment and start the next one at this size (4096 to 1073741824).
        #[arg(long, default_value_t = agentrail::journal::SEGMENT_BYTES_DEFAULT)]
        segment_bytes: u64,
    },
    /// The journal, the current session and the token totals, and the agent's context.
    Status {
        /// The agent whose context to show (else AGENTRAIL_AGENT, else main).
        #[arg(long, value_name = "NAME")]
        agent: Option<String>,
    },
    /// Append events: JSON objects, one per line on stdin, or one given with --event. Prints
    /// the assigned LSNs once they are durable.
    Append {
        /// One event as a JSON object, instead of stdin. `--json OBJECT` says the same and
        /// prints the LSN as JSON.
        #[arg(long, value_name = "OBJECT")]
        event: Option<String>,
    },
    /// Import JSON lines from FILE (`-` for stdin): every line is checked first, then all are
    /// appended with one sync at the end. `lsn` in the input is ignored.
    Import {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Write every event as one JSON line, in LSN order.
    Export {
        /// Write to this file instead of stdout (`-` is stdout).
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Start, inspect and end a work session.
    #[command(subcommand)]
    Session(session::SessionCommand),
    /// Record one typed event in the current session.
    #[command(subcommand)]
    Event(event::EventCommand),
    /// Run a command, pass its output through, and record a tool_output with its exit code,
    /// duration, and stdout and stderr (10 KiB each, head and tail kept). Exits with the
    /// command's exit code.
    Run {
        #[arg(
            required = true,
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "CMD"
        )]
        command: Vec<String>,
    },
    /// Record the working tree's `git diff` (its stat and first 50 lines); with two revisions
    /// A B (or A..B), compare the agent's contexts at A and B instead.
    Diff {
        /// None: record the git diff; two, or one A..B: the revisions (branches or commits) to
        /// compare.
        #[arg(value_name = "A B")]
        revisions: Vec<String>,
        /// The agent: whose contexts two revisions name (default `AGENTRAIL_AGENT`, else
        /// main), or whom the recorded git diff names (default `AGENTRAIL_AGENT`, else none).
        #[arg(long, value_name = "NAME")]
        agent: Option<String>,
    },
    /// List events, newest last; with --graph, --oneline or --all, the agent's context commits.
    Log(query::LogArgs),
    /// Show one event (by LSN), one session (by id) with its events, or one context commit
    /// (by id prefix) with its content.
    Show {
        /// A commit is a revision: an id prefix (of any agent's commit), or HEAD or a branch
        /// of --agent, followed by any `~N` and `^N` steps.
        #[arg(value_name = "LSN|SESSION|COMMIT")]
        target: String,
        #[command(flatten)]
        agent: context::AgentArg,
    },
    /// Token totals, overall or by session, agent or model.
    Tokens {
        #[arg(long, value_enum)]
        by: Option<query::TokensBy>,
    },
    /// What an agent needs after a crash: the open session, its last events, the token totals.
    Resume {
        /// The agent whose most recent open session to resume (else AGENTRAIL_AGENT; any
        /// agent's when neither names one).
        #[arg(long, env = "AGENTRAIL_AGENT", value_name = "NAME")]
        agent: Option<String>,
    },
    /// Drop every projection checkpoint and replay the journal from LSN 1.
    Rebuild,
    /// Check every record of every segment; exit 2 and name file and offset on damage.
    Verify,
    /// Move damaged segments aside and cut the log after the last good record.
    Repair,
    /// Remove the content of context commits that no ref or recent reflog entry reaches
    ///
    /// A reflog entry is recent when younger than `context.gc_retention_days` in
    /// `.agentrail/config.json` (default 30). Each collected commit becomes a tombstone keeping
    /// its LSN, id, parents and a SHA-256 of what was removed; sealed segments are rewritten.
    Gc {
        /// List what would be collected (count, LSNs, bytes) and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Remove the content of the events at these LSNs (a secret that slipped through)
    ///
    /// Whatever their type, each becomes a tombstone keeping its LSN, type, envelope, counts
    /// and a SHA-256 of what was removed. A record in the active segment is sealed in first.
    Purge {
        #[arg(required = true, value_name = "LSN")]
        lsns: Vec<u64>,
    },
    #[command(flatten)]
    Context(context::ContextCommand),
    #[command(flatten)]
    Subagent(subagent::SubagentCommand),
    #[command(flatten)]
    Rewrite(rewrite::RewriteCommand),
}

/// An error on its way to the terminal.
#[derive(Debug)]
pub struct CliError {
    pub code: i32,
    pub message: String,
    pub hint: Option<String>,
}

impl CliError {
    pub fn new(code: i32, message: impl Into<String>) -> CliError {
        CliError {
            code,
            message: message.into(),
            hint: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> CliError {
        self.hint = Some(hint.into());
        self
    }
}

impl From<agentrail::Error> for CliError {
    fn from(error: agentrail::Error) -> CliError {
        use agentrail::Error;
        let code = match &error {
            Error::Corruption { .. }
            | Error::Damaged(_)
            | Error::UnknownKind { .. }
            | Error::Decode { .. }
            | Error::Limit { .. }
            | Error::NoSuchLsn { .. }
            | Error::Config { .. }
            | Error::Input(_) => EXIT_BAD_INPUT,
            Error::Context(
                agentrail::context::ContextError::NothingToUndo { .. }
                | agentrail::context::ContextError::RefsBusy { .. }
                | agentrail::context::ContextError::LosesBlock { .. },
            ) => EXIT_FAILURE,
            Error::Context(_) => EXIT_BAD_INPUT,
            _ => EXIT_FAILURE,
        };
        let hint = match &error {
            Error::Corruption { .. } | Error::Damaged(_) => Some("run `agentrail verify` to see all damage, and `agentrail repair` to cut the log at the last good record"),
            Error::NotFound(_) => Some("run `agentrail init` to create a journal here"),
            _ => None,
        };
        let cli_error = CliError::new(code, error.to_string());
        match hint {
            Some(hint) => cli_error.with_hint(hint),
            None => cli_error,
        }
    }
}

impl From<agentrail::event::InputError> for CliError {
    fn from(error: agentrail::event::InputError) -> CliError {
        CliError::new(EXIT_BAD_INPUT, format!("{error}; nothing was recorded"))
    }
}

impl From<std::io::Error> for CliError {
    fn from(error: std::io::Error) -> CliError {
        CliError::new(EXIT_FAILURE, error.to_string())
    }
}

pub type CliResult = Result<(), CliError>;

/// Reads `append --json OBJECT` as `append --json --event OBJECT`: the journal's first CLI took
/// the event after `--json`, before `--json` became every command's switch for JSON output.
/// `append` takes no positional argument, so any argument after its `--json` that is not an
/// option is taken as the event, and one that is not a JSON object (`[1]`) gets the event
/// parser's error naming line 1 rather than clap's "unexpected argument". `--json` before the
/// subcommand only switches the output.
fn append_json_object_as_event(mut args: Vec<OsString>) -> Vec<OsString> {
    let Some(subcommand) = args.iter().skip(1).position(|arg| arg != "--json") else {
        return args;
    };
    let subcommand = subcommand + 1;
    if args[subcommand] != "append" {
        return args;
    }
    let mut index = subcommand + 1;
    while index + 1 < args.len() {
        let option = args[index + 1].to_string_lossy().starts_with('-');
        if args[index] == "--json" && !option {
            args.insert(index + 1, OsString::from("--event"));
            index += 1;
        }
        index += 1;
    }
    args
}

/// Runs the command line and returns the process exit code.
pub fn run() -> i32 {
    let cli = match parse(append_json_object_as_event(std::env::args_os().collect())) {
        Ok(cli) => cli,
        Err((error, plain)) => return usage_error(error, plain),
    };
    let json = cli.json;
    let result = match cli.command {
        Command::Init { segment_bytes } => init::run(segment_bytes, json),
        Command::Status { agent } => query::status(agent, json),
        Command::Append { .. } | Command::Import { .. } if recording_off() => Ok(()),
        Command::Append { event } => append::run(event, json),
        Command::Import { file } => import::run(&file, json),
        Command::Export { output } => export::run(output, json),
        Command::Session(command) => session::run(command, json),
        Command::Event(_) if recording_off() => Ok(()),
        Command::Event(command) => event::run(command, json),
        Command::Run { command } => return run::run(&command, json),
        Command::Diff { revisions, agent } => subagent::diff(&revisions, agent, json),
        Command::Log(args) => query::log(&args, json),
        Command::Show { target, agent } => query::show(&target, &agent.agent, json),
        Command::Tokens { by } => query::tokens(by, json),
        Command::Resume { agent } => query::resume(agent, json),
        Command::Rebuild => query::rebuild(json),
        Command::Verify => verify::run_verify(json),
        Command::Repair => verify::run_repair(json),
        Command::Gc { dry_run } => gc::run_gc(dry_run, json),
        Command::Purge { lsns } => gc::run_purge(&lsns, json),
        Command::Context(command) => context::run(command, json),
        Command::Subagent(command) => subagent::run(command, json),
        Command::Rewrite(command) => rewrite::run(command, json),
    };
    match result {
        Ok(()) => 0,
        Err(error) => report(error),
    }
}

/// Tells the person about an error and returns its exit code. The message and the hint are
/// one line each, whatever names and texts they quote.
pub fn report(error: CliError) -> i32 {
    if error.message == BROKEN_PIPE {
        return 0;
    }
    eprintln!("agentrail: {}", visible::line(&error.message));
    if let Some(hint) = error.hint {
        eprintln!("hint: {}", visible::line(&hint));
    }
    error.code
}

/// Parses the command line. clap's messages quote a refused argument as given, so when an
/// argument holds a control character they are made without clap's styles (which are escape
/// sequences themselves), to be printed by [`usage_error`] with their control characters shown.
fn parse(arguments: Vec<OsString>) -> Result<Cli, (clap::Error, bool)> {
    use clap::{CommandFactory, FromArgMatches};
    let plain = arguments
        .iter()
        .any(|argument| argument.to_string_lossy().chars().any(char::is_control));
    let mut command = Cli::command();
    if plain {
        command = command.styles(clap::builder::Styles::plain());
    }
    let parsed = match command.try_get_matches_from_mut(arguments) {
        Ok(mut matches) => {
            Cli::from_arg_matches_mut(&mut matches).map_err(|error| error.format(&mut command))
        }
        Err(error) => Err(error),
    };
    parsed.map_err(|error| (error, plain))
}

/// Prints clap's error (or the help or version it was asked for) and returns its exit code:
/// as clap does, or, for a `plain` message, with its control characters shown.
fn usage_error(error: clap::Error, plain: bool) -> i32 {
    // A failed write is ignored, as clap's own `exit` does: there is no one left to tell.
    if !plain {
        let _ = error.print();
        return error.exit_code();
    }
    let text = error.render().ansi().to_string();
    let shown = visible::block(&text);
    let _ = match error.use_stderr() {
        true => std::io::stderr().lock().write_all(shown.as_bytes()),
        false => std::io::stdout().lock().write_all(shown.as_bytes()),
    };
    error.exit_code()
}

/// "1 segment", "3 calls": a count and its noun, plural unless the count is 1.
pub fn counted(count: u64, noun: &str) -> String {
    let plural = if count == 1 { "" } else { "s" };
    format!("{count} {noun}{plural}")
}

/// `AGENTRAIL_AGENT`, when set and not empty.
pub fn env_agent() -> Option<String> {
    std::env::var("AGENTRAIL_AGENT")
        .ok()
        .filter(|agent| !agent.is_empty())
}

/// Refuses an argument given as empty or only whitespace (exit 2) before anything is recorded:
/// the person typed an argument, not a `data` field, so the message names the argument.
pub fn not_blank(name: &str, value: &str) -> Result<(), CliError> {
    match value.trim().is_empty() {
        true => Err(CliError::new(
            EXIT_BAD_INPUT,
            format!("{name} must not be empty or only whitespace; nothing was recorded"),
        )),
        false => Ok(()),
    }
}

/// True when `AGENTRAIL` is `off` (or `0`, `false`, `no`; any case): every recording command is
/// then a silent no-op that exits 0 (`run` still runs its command). A value that is neither off
/// nor on (`on`, `1`, `true`, `yes`, empty) records, as a flight recorder should when in doubt,
/// and says so once on stderr rather than silently.
pub fn recording_off() -> bool {
    static OFF: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *OFF.get_or_init(|| {
        let value = std::env::var_os("AGENTRAIL").unwrap_or_default();
        let value = value.to_string_lossy();
        let is = |words: &[&str]| words.iter().any(|word| value.eq_ignore_ascii_case(word));
        if is(&["off", "0", "false", "no"]) {
            return true;
        }
        if !value.is_empty() && !is(&["on", "1", "true", "yes"]) {
            eprintln!(
                "agentrail: warning: AGENTRAIL={} is neither on nor off; recording (AGENTRAIL=off turns recording off)",
                visible::line(&value)
            );
        }
        false
    })
}

/// A JSON array whose items are turned into JSON (by the function) as they are written, so a
/// long list (100,000 commits or ref moves) is never held whole as JSON values.
pub struct JsonSeq<'a, T, F>(pub &'a [T], pub F);

impl<T, F: Fn(&T) -> serde_json::Value> serde::Serialize for JsonSeq<'_, T, F> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(&self.1))
    }
}

/// Prints one compact JSON object (with `--json`) or the human form, its control characters
/// shown rather than sent (see [`visible`]).
pub fn emit(
    json: bool,
    value: &impl serde::Serialize,
    human: impl FnOnce() -> String,
) -> CliResult {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if json {
        // Written as it is encoded: a context of 100,000 blocks is tens of megabytes.
        serde_json::to_writer(&mut out, value).map_err(|error| match error.io_error_kind() {
            Some(kind) => output_error(kind.into()),
            None => CliError::new(EXIT_FAILURE, format!("encoding output: {error}")),
        })?;
        write_out(&mut out, b"\n")?;
    } else {
        let text = human();
        let text = visible::block(&text);
        write_out(&mut out, text.as_bytes())?;
        if !text.is_empty() && !text.ends_with('\n') {
            write_out(&mut out, b"\n")?;
        }
    }
    out.flush().map_err(output_error)
}

/// Opens the workspace for recording and answering: journal, redactor and projections.
pub fn open_recorder() -> Result<agentrail::recorder::Recorder, CliError> {
    let workspace = open_workspace()?;
    let recorder = agentrail::recorder::Recorder::open(workspace, durability()?)?;
    report_recovery_of(&recorder);
    Ok(recorder)
}

/// Runs a command group's `work` on the opened workspace and closes it; a command that
/// `records` does nothing under `AGENTRAIL=off`.
pub fn with_recorder(
    records: bool,
    work: impl FnOnce(&agentrail::recorder::Recorder) -> CliResult,
) -> CliResult {
    if records && recording_off() {
        return Ok(());
    }
    let recorder = open_recorder()?;
    let result = work(&recorder);
    recorder.close();
    result
}

pub fn report_recovery_of(recorder: &agentrail::recorder::Recorder) {
    report_recovery(recorder.journal());
}

const BROKEN_PIPE: &str = "\u{0}broken pipe";

/// Writes to stdout, turning a closed pipe into a quiet exit 0.
pub fn write_out(out: &mut impl Write, bytes: &[u8]) -> CliResult {
    out.write_all(bytes).map_err(output_error)
}

pub fn output_error(error: std::io::Error) -> CliError {
    if error.kind() == std::io::ErrorKind::BrokenPipe {
        return CliError::new(0, BROKEN_PIPE);
    }
    CliError::new(EXIT_FAILURE, format!("writing output: {error}"))
}

/// The `.agentrail` directory: `$AGENTRAIL_DIR`, else the nearest one at or above the working
/// directory.
pub fn workspace_root() -> Result<PathBuf, CliError> {
    if let Some(dir) = std::env::var_os("AGENTRAIL_DIR").filter(|dir| !dir.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let cwd = std::env::current_dir()?;
    Workspace::discover(&cwd).ok_or_else(|| {
        CliError::new(
            EXIT_FAILURE,
            format!("no .agentrail directory in {} or any parent", cwd.display()),
        )
        .with_hint("run `agentrail init` to create one, or set AGENTRAIL_DIR")
    })
}

pub fn open_workspace() -> Result<Workspace, CliError> {
    let root = workspace_root()?;
    let workspace = Workspace::open(&root).map_err(CliError::from)?;
    Ok(workspace.with_lock_wait_notice(LockWaitNotice(Arc::new(say_lock_wait))))
}

/// Tells the person, once per process, why a command waits for the journal.
fn say_lock_wait() {
    static SAID: AtomicBool = AtomicBool::new(false);
    if !SAID.swap(true, Ordering::Relaxed) {
        eprintln!("agentrail: waiting for the journal: another agentrail process is writing to it (a large import takes seconds)");
    }
}

/// The durability mode: `$AGENTRAIL_SYNC`, else `always`.
pub fn durability() -> Result<Durability, CliError> {
    match std::env::var("AGENTRAIL_SYNC") {
        Ok(mode) if !mode.is_empty() => mode.parse().map_err(|message: String| {
            CliError::new(EXIT_BAD_INPUT, format!("AGENTRAIL_SYNC: {message}"))
        }),
        _ => Ok(Durability::Always),
    }
}

/// Opens the journal and tells the person about anything recovery had to do.
pub fn open_journal(workspace: &Workspace) -> Result<Journal, CliError> {
    let journal = workspace.open_journal(durability()?)?;
    report_recovery(&journal);
    Ok(journal)
}

/// Tells the person about anything recovery had to do.
fn report_recovery(journal: &Journal) {
    if let Some(torn) = &journal.recovery_report().torn_tail {
        eprintln!(
            "agentrail: recovered from an interrupted write: dropped {} bytes at {} byte offset {} (LSN {}'s record was cut short or fails its checksum there, as a crash during a write leaves it)",
            torn.bytes_dropped,
            torn.segment.display(),
            torn.offset,
            torn.lsn
        );
    }
    if let Some(cut) = &journal.recovery_report().cut_batch {
        eprintln!(
            "agentrail: recovered from an interrupted append: removed its {} record{} from LSN {} on (an append is stored whole or not at all; none of it had been acknowledged)",
            cut.records,
            if cut.records == 1 { "" } else { "s" },
            cut.first_lsn
        );
    }
}

#[cfg(test)]
mod tests {
    use super::append_json_object_as_event;
    use std::ffi::OsString;

    fn rewrite(args: &[&str]) -> Vec<OsString> {
        append_json_object_as_event(args.iter().map(OsString::from).collect())
    }

    fn args(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn append_json_with_an_object_is_append_json_event() {
        let event = r#"{"type":"x","data":{}}"#;
        let expected = args(&["agentrail", "append", "--json", "--event", event]);
        assert_eq!(rewrite(&["agentrail", "append", "--json", event]), expected);
        let expected = args(&["agentrail", "--json", "append", "--json", "--event", event]);
        assert_eq!(
            rewrite(&["agentrail", "--json", "append", "--json", event]),
            expected
        );
        let expected = args(&["agentrail", "append", "--json", "--event", "[1]"]);
        assert_eq!(rewrite(&["agentrail", "append", "--json", "[1]"]), expected);
    }

    #[test]
    fn other_uses_of_json_are_left_alone() {
        let event = r#"{"type":"x","data":{}}"#;
        for unchanged in [
            &["agentrail", "append", "--json"][..],
            &["agentrail", "--json", "append"],
            &["agentrail", "--json", "append", "--event", event],
            &["agentrail", "append", "--json", "--event", "--json"],
            &["agentrail", "append", "--json", "--event", event],
            &["agentrail", "append", "--event", event, "--json"],
            &["agentrail", "show", "--json", "{"],
            &["agentrail", "commit", "--json", "--content", "{"],
            &["agentrail", "--json", "--json"],
            &["agentrail"],
        ] {
            assert_eq!(rewrite(unchanged), args(unchanged), "{unchanged:?}");
        }
    }
}
