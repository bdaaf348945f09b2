//! `agentrail event llm-call|tool-output|failure|git-diff|decision` (a flag per field) and
//! `agentrail diff`. Each records one typed event in the current session, or in none when no
//! session is open, and prints its LSN.

use super::session::recording_session;
use super::{emit, open_recorder, CliError, CliResult, EXIT_BAD_INPUT, EXIT_FAILURE};
use agentrail::event::{Event, EventType, InputError};
use agentrail::recorder::Recorder;
use clap::{Args, Subcommand};
use serde_json::{json, Map, Value as Json};

/// Where an event goes: overrides of the current session and its agent.
#[derive(Debug, Args)]
pub struct Envelope {
    /// Record in this session instead of the current one.
    #[arg(long, value_name = "ID")]
    session: Option<String>,
    /// The agent's name (default: AGENTRAIL_AGENT, else the session's agent).
    #[arg(long, value_name = "NAME")]
    agent: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum EventCommand {
    /// A model call and its token usage.
    LlmCall {
        #[arg(long)]
        model: String,
        #[arg(long, allow_negative_numbers = true)]
        input_tokens: u64,
        #[arg(long, allow_negative_numbers = true)]
        output_tokens: u64,
        #[arg(long, allow_negative_numbers = true)]
        cache_read_tokens: Option<u64>,
        #[arg(long, allow_negative_numbers = true)]
        cache_creation_tokens: Option<u64>,
        #[arg(long, value_name = "USD", allow_negative_numbers = true)]
        cost_usd: Option<f64>,
        #[arg(long, allow_negative_numbers = true)]
        latency_ms: Option<u64>,
        #[arg(long)]
        prompt: Option<String>,
        #[arg(long)]
        response: Option<String>,
        #[command(flatten)]
        envelope: Envelope,
    },
    /// A tool's output (stdout and stderr are capped at 10 KiB each, head and tail kept).
    ToolOutput {
        #[arg(long)]
        tool: String,
        #[arg(long)]
        command: Option<String>,
        /// An exit code, as a process has one (it fits a 32-bit signed integer).
        #[arg(long, allow_negative_numbers = true)]
        exit_code: Option<i32>,
        #[arg(long)]
        stdout: Option<String>,
        #[arg(long)]
        stderr: Option<String>,
        #[arg(long, allow_negative_numbers = true)]
        duration_ms: Option<u64>,
        /// The output given was cut before it got here (sets `truncated: true`, as the cap
        /// does when it cuts).
        #[arg(long)]
        truncated: bool,
        #[command(flatten)]
        envelope: Envelope,
    },
    /// A failure: the error and the variables at the failing frame (secrets are redacted).
    Failure {
        #[arg(long)]
        error_type: String,
        #[arg(long)]
        message: String,
        #[arg(long)]
        location: Option<String>,
        /// A local variable as name=value; repeat for more.
        #[arg(long = "local", value_name = "NAME=VALUE")]
        locals: Vec<String>,
        #[command(flatten)]
        envelope: Envelope,
    },
    /// A diff (its first 50 lines are kept).
    GitDiff {
        #[arg(long)]
        diff: String,
        #[arg(long)]
        stat: Option<String>,
        /// A changed file; repeat for more.
        #[arg(long = "file", value_name = "PATH")]
        files: Vec<String>,
        /// The diff given was cut before it got here (sets `truncated: true`, as the cap does
        /// when it cuts).
        #[arg(long)]
        truncated: bool,
        #[command(flatten)]
        envelope: Envelope,
    },
    /// A decision and why.
    Decision {
        #[arg(value_name = "CHOICE")]
        choice: String,
        #[arg(long)]
        rationale: Option<String>,
        /// An option that was considered; repeat for more.
        #[arg(long = "option", value_name = "TEXT")]
        options: Vec<String>,
        #[command(flatten)]
        envelope: Envelope,
    },
}

/// Members from (name, value) pairs, leaving out absent values and empty lists.
fn members(pairs: Vec<(&str, Json)>) -> Map<String, Json> {
    pairs
        .into_iter()
        .filter(|(_, value)| {
            !value.is_null() && value.as_array().is_none_or(|items| !items.is_empty())
        })
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
}

/// A boolean flag's member: `true` when given, absent otherwise (as an event that was not cut
/// has no `truncated`).
fn flag(given: bool) -> Json {
    match given {
        true => Json::Bool(true),
        false => Json::Null,
    }
}

fn locals(pairs: &[String]) -> Result<Json, CliError> {
    let mut locals = Map::new();
    for pair in pairs {
        let (name, value) = pair.split_once('=').ok_or_else(|| {
            CliError::new(
                EXIT_BAD_INPUT,
                format!(
                    "--local {}: must be NAME=VALUE; nothing was recorded",
                    super::visible::quoted(pair)
                ),
            )
        })?;
        if name.is_empty() || locals.contains_key(name) {
            let problem = match name.is_empty() {
                true => "a local needs a name",
                false => "names a local already given",
            };
            return Err(CliError::new(
                EXIT_BAD_INPUT,
                format!(
                    "--local {}: {problem}; nothing was recorded",
                    super::visible::quoted(name)
                ),
            ));
        }
        locals.insert(name.to_owned(), value.into());
    }
    Ok(if locals.is_empty() {
        Json::Null
    } else {
        Json::Object(locals)
    })
}

/// `--cost-usd`: NaN and the infinities have no JSON form, and would be dropped rather than
/// stored, so they are refused as the schema refuses a negative cost.
fn cost(cost_usd: Option<f64>) -> Result<Json, CliError> {
    match cost_usd {
        Some(cost) if !cost.is_finite() => Err(InputError {
            line: 0,
            field: Some("data.cost_usd".into()),
            message: format!("must be a non-negative number, not {cost}"),
        }
        .into()),
        cost => Ok(json!(cost)),
    }
}

/// Refuses a blank `--model`, `--tool`, `--message`, `--diff`, `--file`, `--rationale` or
/// `--option` (exit 2), naming the option: `--model ""` is a slip (an unset variable, usually).
/// The event schema refuses the same values as JSON fields, for `import` and `append`, but for
/// a `failure`'s message, which an imported `AssertionError` may leave empty.
fn check_arguments(command: &EventCommand) -> Result<(), CliError> {
    let given: Vec<(&str, &String)> = match command {
        EventCommand::LlmCall { model, .. } => vec![("--model", model)],
        EventCommand::ToolOutput { tool, .. } => vec![("--tool", tool)],
        EventCommand::Failure { message, .. } => vec![("--message", message)],
        EventCommand::GitDiff { diff, files, .. } => std::iter::once(("--diff", diff))
            .chain(files.iter().map(|file| ("--file", file)))
            .collect(),
        EventCommand::Decision {
            rationale, options, ..
        } => (rationale.iter().map(|rationale| ("--rationale", rationale)))
            .chain(options.iter().map(|option| ("--option", option)))
            .collect(),
    };
    given
        .into_iter()
        .try_for_each(|(name, value)| super::not_blank(name, value))
}

fn build(command: EventCommand) -> Result<(EventType, Map<String, Json>, Envelope), CliError> {
    check_arguments(&command)?;
    Ok(match command {
        EventCommand::LlmCall {
            model,
            input_tokens,
            output_tokens,
            cache_read_tokens,
            cache_creation_tokens,
            cost_usd,
            latency_ms,
            prompt,
            response,
            envelope,
        } => (
            EventType::LlmCall,
            members(vec![
                ("model", model.into()),
                ("input_tokens", input_tokens.into()),
                ("output_tokens", output_tokens.into()),
                ("cache_read_tokens", json!(cache_read_tokens)),
                ("cache_creation_tokens", json!(cache_creation_tokens)),
                ("cost_usd", cost(cost_usd)?),
                ("latency_ms", json!(latency_ms)),
                ("prompt", json!(prompt)),
                ("response", json!(response)),
            ]),
            envelope,
        ),
        EventCommand::ToolOutput {
            tool,
            command,
            exit_code,
            stdout,
            stderr,
            duration_ms,
            truncated,
            envelope,
        } => (
            EventType::ToolOutput,
            members(vec![
                ("tool", tool.into()),
                ("command", json!(command)),
                ("exit_code", json!(exit_code)),
                ("stdout", json!(stdout)),
                ("stderr", json!(stderr)),
                ("duration_ms", json!(duration_ms)),
                ("truncated", flag(truncated)),
            ]),
            envelope,
        ),
        EventCommand::Failure {
            error_type,
            message,
            location,
            locals: pairs,
            envelope,
        } => (
            EventType::Failure,
            members(vec![
                ("error_type", error_type.into()),
                ("message", message.into()),
                ("location", json!(location)),
                ("locals", locals(&pairs)?),
            ]),
            envelope,
        ),
        EventCommand::GitDiff {
            diff,
            stat,
            files,
            truncated,
            envelope,
        } => (
            EventType::GitDiff,
            members(vec![
                ("diff", diff.into()),
                ("stat", json!(stat)),
                ("files", json!(files)),
                ("truncated", flag(truncated)),
            ]),
            envelope,
        ),
        EventCommand::Decision {
            choice,
            rationale,
            options,
            envelope,
        } => (
            EventType::Decision,
            members(vec![
                ("choice", choice.into()),
                ("rationale", json!(rationale)),
                ("options", json!(options)),
            ]),
            envelope,
        ),
    })
}

/// Records an event in the envelope's session, else the current one, else none; a session
/// named by the envelope or `AGENTRAIL_SESSION` must be open.
pub fn record(
    recorder: &Recorder,
    kind: EventType,
    data: Map<String, Json>,
    envelope: Envelope,
) -> Result<(u64, Option<String>), CliError> {
    let named = envelope_agent(recorder, envelope.agent)?;
    let session = envelope.session.as_deref();
    let (session, session_agent) = recording_session(recorder, session, named.as_deref())?
        .map_or((None, None), |(id, agent)| (Some(id), agent));
    let agent = named.or(session_agent);
    let event = Event::new(kind, session.clone(), agent, data)?;
    Ok((recorder.record(event)?, session))
}

/// The agent an event names: `--agent` (`flag`), which must not be blank, else
/// `AGENTRAIL_AGENT` (an empty one names none, as [`super::env_agent`] has it); a name the
/// journal does not know must be one a new agent may have ([`Recorder::check_agent`]).
pub fn envelope_agent(
    recorder: &Recorder,
    flag: Option<String>,
) -> Result<Option<String>, CliError> {
    if let Some(agent) = &flag {
        super::not_blank("--agent", agent)?;
    }
    let agent = flag.or_else(super::env_agent);
    if let Some(agent) = &agent {
        // Before anything is done (`run` runs its command after this), and before the name is
        // quoted in an error.
        recorder.redactor()?.check_name("agent", agent)?;
        recorder.check_agent(agent)?;
    }
    Ok(agent)
}

pub fn run(command: EventCommand, json: bool) -> CliResult {
    let (kind, data, envelope) = build(command)?;
    let recorder = open_recorder()?;
    let recorded = record(&recorder, kind, data, envelope);
    recorder.close();
    let (lsn, session) = recorded?;
    emit(
        json,
        &json!({ "lsn": lsn, "type": kind.as_str(), "session": session }),
        || lsn.to_string(),
    )
}

/// The default envelope: the current session, and `AGENTRAIL_AGENT` else the session's agent.
pub fn current_envelope() -> Envelope {
    Envelope {
        session: None,
        agent: None,
    }
}

/// Runs git with `args` in the working directory and returns its stdout.
fn git(args: &[&str]) -> Result<String, CliError> {
    let output = std::process::Command::new("git")
        .args(args)
        .output()
        .map_err(|error| {
            CliError::new(EXIT_FAILURE, format!("running git: {error}"))
                .with_hint("agentrail diff needs git on PATH")
        })?;
    if !output.status.success() {
        return Err(CliError::new(
            EXIT_FAILURE,
            format!(
                "git {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Git's empty tree: what a repository without commits is compared with.
const GIT_EMPTY_TREE: &str = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";

/// `agentrail diff`: records the working tree's `git diff` against HEAD (against the empty
/// tree in a repository without commits).
pub fn diff(agent: Option<String>, json: bool) -> CliResult {
    // Outside a work tree, `git diff` against the empty tree would answer with its whole usage.
    if git(&["rev-parse", "--is-inside-work-tree"])?.trim() != "true" {
        return Err(CliError::new(
            EXIT_FAILURE,
            "not in a git work tree: agentrail diff records the work tree's `git diff`",
        ));
    }
    let base = match git(&["rev-parse", "--verify", "--quiet", "HEAD"]) {
        Ok(_) => "HEAD",
        Err(_) => GIT_EMPTY_TREE,
    };
    let diff = git(&["diff", "--no-color", base])?;
    if diff.is_empty() {
        return emit(json, &json!({ "lsn": null, "changed": false }), || {
            "no changes in the working tree; nothing was recorded".into()
        });
    }
    let stat = git(&["diff", "--no-color", "--stat", base])?;
    // `-z`: names as they are, not quoted and escaped as git prints names outside ASCII.
    let files: Vec<Json> = git(&["diff", "--name-only", "-z", base])?
        .split('\0')
        .filter(|name| !name.is_empty())
        .map(Json::from)
        .collect();
    let summary = stat.lines().last().unwrap_or_default().trim().to_owned();
    let data = members(vec![
        ("diff", diff.into()),
        ("stat", stat.trim_end().into()),
        ("files", Json::Array(files)),
    ]);
    let recorder = open_recorder()?;
    let envelope = Envelope {
        session: None,
        agent,
    };
    let recorded = record(&recorder, EventType::GitDiff, data, envelope);
    recorder.close();
    let (lsn, session) = recorded?;
    emit(
        json,
        &json!({ "lsn": lsn, "changed": true, "session": session, "stat": summary }),
        // As `session commit` says its LSN: `1 1 file changed` read as one count.
        || format!("recorded {summary} (LSN {lsn})"),
    )
}
