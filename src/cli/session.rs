//! `agentrail session start|status|log|commit|abort`: a work session as a git-like unit. Later
//! commands find the session in `AGENTRAIL_SESSION`, else take the most recent open one of
//! their agent (`--agent`, else `AGENTRAIL_AGENT`; any agent's when neither names one).

use super::visible::line as one_line;
use super::{emit, open_recorder, recording_off, CliError, CliResult, EXIT_FAILURE};
use agentrail::event::{format_ts, Event, EventType};
use agentrail::project::{Active, Sessions};
use agentrail::recorder::{object, Recorder};
use clap::Subcommand;
use serde_json::json;

/// What a command without an open session says.
pub const NO_SESSION: &str = "No active session. Use 'agentrail session start' first.";

#[derive(Debug, Subcommand)]
pub enum SessionCommand {
    /// Start a session and print its id; export AGENTRAIL_SESSION=<id> to keep parallel agents apart.
    Start {
        #[arg(value_name = "TASK")]
        task: String,
        /// The session's agent (else AGENTRAIL_AGENT).
        #[arg(long, value_name = "NAME")]
        agent: Option<String>,
    },
    /// The current session: task, agent, events, actions and tokens.
    Status {
        #[command(flatten)]
        agent: SessionAgent,
    },
    /// Record an action in the current session.
    Log {
        #[arg(value_name = "DESCRIPTION")]
        description: String,
        /// What kind of action (edit, test, search, ...).
        #[arg(long = "type", value_name = "KIND")]
        kind: Option<String>,
        #[command(flatten)]
        agent: SessionAgent,
    },
    /// End the current session with a commit message.
    Commit {
        #[arg(value_name = "MESSAGE")]
        message: String,
        #[arg(long, value_name = "TEXT")]
        description: Option<String>,
        #[command(flatten)]
        agent: SessionAgent,
    },
    /// End the current session as aborted.
    Abort {
        #[command(flatten)]
        agent: SessionAgent,
    },
}

/// Whose current session a command acts on.
#[derive(Debug, Clone, clap::Args)]
pub struct SessionAgent {
    /// The agent whose most recent open session is the current one (a session started without
    /// an agent is main's); any agent's when neither this nor AGENTRAIL_AGENT names one.
    /// AGENTRAIL_SESSION, when set, names the session instead.
    #[arg(long = "agent", env = "AGENTRAIL_AGENT", value_name = "NAME")]
    name: Option<String>,
}

impl SessionAgent {
    /// The agent named, if any (an empty `AGENTRAIL_AGENT` names none).
    fn name(&self) -> Option<&str> {
        self.name.as_deref().filter(|name| !name.is_empty())
    }
}

/// The session later commands of `agent` act on: `AGENTRAIL_SESSION` when set, else the most
/// recent open session of `agent` (any agent's when `None`). `None` when there is neither.
pub fn current_session(
    recorder: &Recorder,
    agent: Option<&str>,
) -> Result<Option<(String, Option<String>)>, CliError> {
    let active = recorder.load::<Active>()?.state;
    Ok(session_in(&active, agent))
}

/// The session an event of `agent` is recorded in: the one `--session` (`flag`) names, else
/// `AGENTRAIL_SESSION`'s, else the most recent open one of `agent` (of any agent when `None`),
/// else none; with the session's agent.
/// A named session must be open: an event recorded in one that has ended, or never started,
/// would be added to a finished (or a mistyped) session's record.
pub fn recording_session(
    recorder: &Recorder,
    flag: Option<&str>,
    agent: Option<&str>,
) -> Result<Option<(String, Option<String>)>, CliError> {
    if let Some(id) = flag {
        super::not_blank("--session", id)?;
    }
    let active = recorder.load::<Active>()?.state;
    let named = match flag {
        Some(id) => Some((id.to_owned(), "--session")),
        None => env_session().map(|id| (id, "AGENTRAIL_SESSION")),
    };
    if let Some((id, source)) = &named {
        if !active.is_open(id) {
            return Err(not_open(id, source));
        }
    }
    let named = named.map(|(id, _)| id);
    Ok(agentrail::query::current_session(
        &active,
        named.as_deref(),
        agent,
    ))
}

/// `AGENTRAIL_SESSION`, when set and not empty.
fn env_session() -> Option<String> {
    std::env::var("AGENTRAIL_SESSION")
        .ok()
        .filter(|id| !id.is_empty())
}

/// The current session of `agent` among the open ones in `active`, honouring
/// `AGENTRAIL_SESSION`.
fn session_in(active: &Active, agent: Option<&str>) -> Option<(String, Option<String>)> {
    agentrail::query::current_session(active, env_session().as_deref(), agent)
}

/// The current session of `agent`, which must be open.
fn open_session(
    recorder: &Recorder,
    agent: Option<&str>,
) -> Result<(String, Option<String>), CliError> {
    let active = recorder.load::<Active>()?.state;
    let (id, agent) = session_in(&active, agent).ok_or_else(no_session)?;
    if !active.is_open(&id) {
        return Err(not_open(&id, "AGENTRAIL_SESSION"));
    }
    Ok((id, agent))
}

/// Session `id`, named by `source`, has ended or was never started.
fn not_open(id: &str, source: &str) -> CliError {
    CliError::new(
        EXIT_FAILURE,
        format!(
            "session {} (from {source}) is not open; nothing was recorded",
            one_line(id)
        ),
    )
    .with_hint(
        "start one with `agentrail session start TASK`, or name an open one (`agentrail session status` shows the current session)",
    )
}

fn no_session() -> CliError {
    CliError::new(EXIT_FAILURE, NO_SESSION)
}

pub fn run(command: SessionCommand, json: bool) -> CliResult {
    if recording_off() && !matches!(command, SessionCommand::Status { .. }) {
        return Ok(());
    }
    check_arguments(&command)?;
    let recorder = open_recorder()?;
    let result = match command {
        SessionCommand::Start { task, agent } => start(&recorder, &task, agent, json),
        SessionCommand::Status { agent } => status(&recorder, agent.name(), json),
        SessionCommand::Log {
            description,
            kind,
            agent,
        } => {
            let mut data = object(json!({ "description": description }));
            if let Some(kind) = kind {
                data.insert("kind".into(), kind.into());
            }
            record_in_session(&recorder, agent.name(), EventType::Action, data, json)
        }
        SessionCommand::Commit {
            message,
            description,
            agent,
        } => {
            let ending = Ending::Committed {
                message,
                description,
            };
            end(&recorder, agent.name(), ending, json)
        }
        SessionCommand::Abort { agent } => end(&recorder, agent.name(), Ending::Aborted, json),
    };
    recorder.close();
    result
}

/// Refuses a TASK, DESCRIPTION, MESSAGE or `--type` that is empty or only whitespace (exit 2)
/// before anything is opened: the event's schema refuses most of them too
/// (`format-spec/events.md` section 2), but the person typed an argument, not a `data` field.
fn check_arguments(command: &SessionCommand) -> Result<(), CliError> {
    if let SessionCommand::Log {
        kind: Some(kind), ..
    } = command
    {
        super::not_blank("--type", kind)?;
    }
    let (name, value) = match command {
        SessionCommand::Start { task, .. } => ("TASK", task),
        SessionCommand::Log { description, .. } => ("DESCRIPTION", description),
        SessionCommand::Commit { message, .. } => ("MESSAGE", message),
        _ => return Ok(()),
    };
    super::not_blank(name, value)
}

fn start(recorder: &Recorder, task: &str, agent: Option<String>, json: bool) -> CliResult {
    // The rule of every command that records an agent: an empty `AGENTRAIL_AGENT` is no name,
    // a blank `--agent` is refused, and a new agent's name must be one it could also commit
    // context under.
    let agent = super::event::envelope_agent(recorder, agent)?;
    let (id, lsn) = recorder.start_session(task, agent)?;
    emit(json, &json!({ "session": id, "lsn": lsn }), || id.clone())
}

fn status(recorder: &Recorder, agent: Option<&str>, json: bool) -> CliResult {
    let (id, _) = current_session(recorder, agent)?.ok_or_else(no_session)?;
    let sessions = recorder.load::<Sessions>()?.state;
    let session = sessions.get(&id).ok_or_else(|| {
        let id = one_line(&id);
        CliError::new(EXIT_FAILURE, format!("no session {id} in this journal"))
    })?;
    let value = super::query::session_json(session);
    emit(json, &value, || super::query::session_line(session))
}

fn record_in_session(
    recorder: &Recorder,
    agent: Option<&str>,
    kind: EventType,
    data: serde_json::Map<String, serde_json::Value>,
    json: bool,
) -> CliResult {
    let (id, agent) = open_session(recorder, agent)?;
    let event = Event::new(kind, Some(id.clone()), agent, data)?;
    let lsn = recorder.record(event)?;
    emit(json, &json!({ "lsn": lsn, "session": id }), || {
        lsn.to_string()
    })
}

/// How a session ends.
enum Ending {
    Committed {
        message: String,
        description: Option<String>,
    },
    Aborted,
}

fn end(recorder: &Recorder, agent: Option<&str>, ending: Ending, json: bool) -> CliResult {
    let (id, agent) = open_session(recorder, agent)?;
    let (status, data) = match ending {
        Ending::Committed {
            message,
            description,
        } => {
            let mut data = object(json!({ "status": "committed", "message": message }));
            if let Some(description) = description {
                data.insert("description".into(), description.into());
            }
            ("committed", data)
        }
        Ending::Aborted => ("aborted", object(json!({ "status": "aborted" }))),
    };
    let event = Event::new(EventType::SessionEnd, Some(id.clone()), agent, data)?;
    let ts = format_ts(event.ts_micros);
    let lsn = recorder.record(event)?;
    let value = json!({ "session": id, "status": status, "lsn": lsn, "ts": ts });
    emit(json, &value, || {
        format!("{status} {} (LSN {lsn})", one_line(&id))
    })
}
