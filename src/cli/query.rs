//! The reading commands: `status`, `log`, `show`, `tokens`, `resume` and `rebuild`. They answer
//! from projections (brought up to date from their checkpoints) and read events by LSN; their
//! human form is short on purpose, since agents pay for every token they read.

use super::session::current_session;
use super::visible::{line as one_line, quoted};
use super::{counted, emit, open_recorder, CliError, CliResult, EXIT_BAD_INPUT, EXIT_FAILURE};
use agentrail::event::{format_ts, Event, EventRef};
use agentrail::project::{SessionInfo, SessionTokens, Sessions, Stats, TokenTotals, Tokens};
use agentrail::query::{event_at, Found};
use agentrail::recorder::Recorder;
use clap::{Args, ValueEnum};
use serde_json::{json, Value as Json};
use std::collections::BTreeMap;

/// Events `log` lists when not told how many.
const LOG_EVENTS_DEFAULT: usize = 20;
/// Events of the open session `resume` shows.
const RESUME_EVENTS: usize = 10;

/// `log` lists events, or with `--graph`, `--oneline` or `--all` the agent's context commits; the options
/// of one form are refused in the other rather than ignored.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("context_form").args(["graph", "oneline", "all"]).multiple(true))]
pub struct LogArgs {
    /// Show the last N events (default 20).
    #[arg(long, value_name = "N", conflicts_with = "context_form")]
    last: Option<usize>,
    /// Only events of this type.
    #[arg(long = "type", value_name = "TYPE", conflicts_with = "context_form", value_parser = event_type)]
    event_type: Option<String>,
    /// Only events of this session.
    #[arg(long, value_name = "ID", conflicts_with = "context_form")]
    session: Option<String>,
    /// List the agent's context commits as a graph, newest first.
    #[arg(long)]
    graph: bool,
    /// List the agent's context commits one per line.
    #[arg(long)]
    oneline: bool,
    /// List the context commits reachable from every ref, not only HEAD.
    #[arg(long)]
    all: bool,
    /// With --graph, --oneline or --all: only the N newest commits.
    #[arg(
        short = 'n',
        long = "max-count",
        value_name = "N",
        requires = "context_form"
    )]
    max_count: Option<usize>,
    /// The agent whose context commits to list (default main); for events, only that agent's
    /// (an event without an agent is main's).
    #[arg(long, env = "AGENTRAIL_AGENT", value_name = "NAME", value_parser = super::context::agent_name)]
    agent: Option<String>,
}

/// A `--type` names one of the closed set of event types: any other could match nothing.
fn event_type(name: &str) -> Result<String, String> {
    match agentrail::event::EventType::parse(name) {
        Some(kind) => Ok(kind.as_str().to_owned()),
        None => Err(format!(
            "no event type is named {}; the types are {}",
            quoted(name),
            agentrail::event::EventType::names()
        )),
    }
}

impl LogArgs {
    fn context_style(&self) -> Option<super::context::LogStyle> {
        (self.graph || self.oneline || self.all).then_some(super::context::LogStyle {
            graph: self.graph,
            oneline: self.oneline,
            all: self.all,
            limit: self.max_count,
        })
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TokensBy {
    Session,
    Agent,
    Model,
}

/// The RFC 3339 time to the second, for human output.
pub fn short_ts(ts_micros: i64) -> String {
    let full = format_ts(ts_micros);
    match full.find('.') {
        Some(dot) => format!("{}Z", &full[..dot]),
        None => full,
    }
}

fn totals_json(totals: &TokenTotals) -> Json {
    json!({
        "calls": totals.calls,
        "input_tokens": totals.input_tokens,
        "output_tokens": totals.output_tokens,
        "cache_read_tokens": totals.cache_read_tokens,
        "cache_creation_tokens": totals.cache_creation_tokens,
        "cost_usd": totals.cost_usd_rounded(),
    })
}

fn totals_line(totals: &TokenTotals) -> String {
    let mut line = format!(
        "{}, in {}, out {}",
        counted(totals.calls, "call"),
        totals.input_tokens,
        totals.output_tokens
    );
    if totals.cache_read_tokens > 0 || totals.cache_creation_tokens > 0 {
        line += &format!(
            ", cache read {}, cache write {}",
            totals.cache_read_tokens, totals.cache_creation_tokens
        );
    }
    if totals.cost_usd > 0.0 {
        line += &format!(", ${:.4}", totals.cost_usd);
    }
    line
}

pub fn session_json(session: &SessionInfo) -> Json {
    json!({
        "id": session.id,
        "task": session.task,
        "agent": session.agent,
        "status": session.status.as_str(),
        "start": format_ts(session.start_ts_micros),
        "end": session.end_ts_micros.map(format_ts),
        "duration_ms": session.duration_micros().map(|micros| micros / 1000),
        "events": session.events,
        "actions": session.actions,
        "last_lsn": session.last_lsn,
        "message": session.message,
        "description": session.description,
        "tokens": totals_json(&session.tokens),
    })
}

/// One line about a session.
pub fn session_line(session: &SessionInfo) -> String {
    let mut line = format!(
        "{} {} {}",
        one_line(&session.id),
        session.status,
        quoted(session.task.as_deref().unwrap_or_default())
    );
    if let Some(agent) = &session.agent {
        line += &format!(" agent={}", one_line(agent));
    }
    line += &format!(" started {}", short_ts(session.start_ts_micros));
    if let Some(micros) = session.duration_micros() {
        line += &format!(" took {:.1}s", micros as f64 / 1e6);
    }
    line += &format!(
        "; {}, {}; tokens {}",
        counted(session.events, "event"),
        counted(session.actions, "action"),
        totals_line(&session.tokens)
    );
    if let Some(message) = &session.message {
        line += &format!("; {}", quoted(message));
    }
    line
}

/// A few words saying what an event is about.
fn summary(event: &Event) -> String {
    let text = |field: &str| event.text(field).unwrap_or_default().to_owned();
    let first_line = |field: &str| text(field).lines().next().unwrap_or_default().to_owned();
    match event.event_type.as_str() {
        "session_start" => text("task"),
        "session_end" => format!("{} {}", text("status"), text("message"))
            .trim_end()
            .to_owned(),
        "action" => text("description"),
        "llm_call" => format!(
            "{} in={} out={}",
            text("model"),
            event.count("input_tokens").unwrap_or(0),
            event.count("output_tokens").unwrap_or(0)
        ),
        "tool_output" => {
            let command = event
                .text("command")
                .map_or_else(|| text("tool"), |_| first_line("command"));
            match event.data.get("exit_code") {
                Some(code) => format!("{command} exit={code}"),
                None => command,
            }
        }
        "failure" => format!("{}: {}", text("error_type"), first_line("message")),
        "git_diff" => match event.text("stat") {
            Some(stat) => stat.lines().last().unwrap_or_default().trim().to_owned(),
            None => format!("{} lines", text("diff").lines().count()),
        },
        "decision" => text("choice"),
        "commit" => format!("{} {}", text("kind"), first_line("message")),
        "task" => format!("{} {}", text("id"), text("status")),
        "ref_update" => {
            let mode = event.text("mode").map(|mode| format!(" --{mode}"));
            format!(
                "{}{} {}",
                text("op"),
                mode.unwrap_or_default(),
                text("agent")
            )
        }
        _ => String::new(),
    }
}

fn shorten(text: &str, chars_max: usize) -> String {
    match text.char_indices().nth(chars_max) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_owned(),
    }
}

/// Characters of an event summary in `log`'s human form.
const SUMMARY_CHARS_MAX: usize = 100;

fn log_line(lsn: u64, event: &Event) -> String {
    let mut line = format!("{lsn} {} {}", short_ts(event.ts_micros), event.event_type);
    if let Some(session) = &event.session {
        line += &format!(" {session}");
    }
    let summary = summary(event);
    if !summary.is_empty() {
        line += &format!(" {}", shorten(&summary, SUMMARY_CHARS_MAX));
    }
    // Recorded text is anyone's (a tool's colored output, say): one line, shown, not sent.
    one_line(&line).into_owned()
}

/// The last events from `first_lsn` on that pass `keep`.
fn scan(
    recorder: &Recorder,
    first_lsn: u64,
    last: usize,
    keep: impl Fn(&EventRef<'_>) -> bool,
) -> Result<Vec<(u64, Event)>, CliError> {
    Ok(agentrail::query::last_events(
        recorder.journal(),
        first_lsn,
        last,
        keep,
    )?)
}

fn events_json(events: &[(u64, Event)]) -> Json {
    Json::Array(
        events
            .iter()
            .map(|(lsn, event)| event.to_json(*lsn))
            .collect(),
    )
}

fn events_lines(events: &[(u64, Event)]) -> String {
    events
        .iter()
        .map(|(lsn, event)| log_line(*lsn, event) + "\n")
        .collect()
}

pub fn log(args: &LogArgs, json: bool) -> CliResult {
    let recorder = open_recorder()?;
    if let Some(style) = args.context_style() {
        let agent = args
            .agent
            .as_deref()
            .unwrap_or(agentrail::context::DEFAULT_AGENT);
        let listed = super::context::log(&recorder, agent, style, json);
        recorder.close();
        return listed;
    }
    let last = args.last.unwrap_or(LOG_EVENTS_DEFAULT);
    let filtered = args.event_type.is_some() || args.session.is_some() || args.agent.is_some();
    // Unfiltered, the last N events are the last N LSNs: no need to read the rest.
    let first_lsn = if filtered {
        1
    } else {
        recorder.journal().last_lsn().saturating_sub(last as u64) + 1
    };
    let events = scan(&recorder, first_lsn, last, |event| {
        args.event_type
            .as_ref()
            .is_none_or(|kind| event.event_type == kind)
            && args
                .session
                .as_deref()
                .is_none_or(|id| event.session == Some(id))
            && args.agent.as_deref().is_none_or(|agent| {
                event.agent.unwrap_or(agentrail::context::DEFAULT_AGENT) == agent
            })
    })?;
    let unknown = match args.session.as_deref().filter(|_| events.is_empty()) {
        Some(id) => recorder.load::<Sessions>()?.state.get(id).is_none(),
        None => false,
    };
    recorder.close();
    if let Some(id) = args.session.as_deref().filter(|_| unknown) {
        // No event, and no session of that id either: a mistyped id, not an empty session.
        let error = CliError::new(EXIT_BAD_INPUT, format!("no session {id} in this journal"));
        return Err(error.with_hint("`agentrail log` lists session ids"));
    }
    emit(json, &json!({ "events": events_json(&events) }), || {
        events_lines(&events)
    })
}

pub fn show(target: &str, agent: &str, json: bool) -> CliResult {
    let recorder = open_recorder()?;
    let in_journal = |lsn: u64| (1..=recorder.journal().last_lsn()).contains(&lsn);
    let shown = match target.parse::<u64>() {
        Ok(lsn) if in_journal(lsn) || !is_commit_prefix(&recorder, target)? => {
            show_event(&recorder, lsn, json)
        }
        _ => show_session_or_commit(&recorder, target, agent, json),
    };
    recorder.close();
    shown
}

/// True when all-digit `target`, which names no LSN, is the prefix of exactly one commit.
fn is_commit_prefix(recorder: &Recorder, target: &str) -> Result<bool, CliError> {
    let graph = recorder.load::<agentrail::context::Graph>()?.state;
    Ok(graph.resolve(target).is_ok())
}

fn show_event(recorder: &Recorder, lsn: u64, json: bool) -> CliResult {
    let event = match event_at(recorder.journal(), lsn)? {
        Found::Event(event) => event,
        Found::Skipped => {
            return Err(CliError::new(
                EXIT_FAILURE,
                format!("LSN {lsn} holds a record of a kind this version does not know"),
            ))
        }
        // An LSN the journal does not hold is a bad argument, as an unknown id is.
        Found::Absent => {
            let last = recorder.journal().last_lsn();
            return Err(CliError::new(
                EXIT_BAD_INPUT,
                format!("no event at LSN {lsn}: the journal holds LSN 1 to {last}"),
            ));
        }
    };
    let tombstone = agentrail::event::tombstone::tombstone_at(recorder.journal(), lsn)?;
    let value = match &tombstone {
        Some(info) => event.to_tombstone_json(lsn, info),
        None => event.to_json(lsn),
    };
    emit(json, &value, || {
        super::event_text::event_text(lsn, &event, tombstone.as_ref())
    })
}

/// A session by id, else a context commit by revision: an id prefix of any agent's commit, or
/// HEAD or a branch of `agent`, with any `~N` and `^N` steps.
fn show_session_or_commit(recorder: &Recorder, target: &str, agent: &str, json: bool) -> CliResult {
    use agentrail::context::revision::{resolve, IdScope};
    use agentrail::context::ContextError;
    let sessions = recorder.load::<Sessions>()?.state;
    if let Some(session) = sessions.get(target) {
        return show_session(recorder, session, json);
    }
    let graph = recorder.load::<agentrail::context::Graph>()?.state;
    let id = match resolve(&graph, agent, target, IdScope::AnyAgent) {
        Ok(id) => id,
        Err(ContextError::NotHex { .. }) => {
            return Err(CliError::new(
                EXIT_BAD_INPUT,
                format!(
                    "{} names no LSN, session, commit or branch in this journal",
                    quoted(target)
                ),
            )
            .with_hint(
                "`agentrail log` lists LSNs and session ids, `agentrail log --oneline --all` commits and branches",
            ))
        }
        Err(error) => return Err(super::context::context_error(error.into())),
    };
    let commit = graph
        .commit(&id)
        .ok_or_else(|| CliError::new(EXIT_FAILURE, format!("no commit {id}")))?;
    super::context::show_commit(recorder, &graph, commit, json)
}

fn show_session(recorder: &Recorder, session: &SessionInfo, json: bool) -> CliResult {
    let id = session.id.as_str();
    let events = scan(recorder, session.start_lsn, usize::MAX, |event| {
        event.session == Some(id)
    })?;
    let value = json!({ "session": session_json(session), "events": events_json(&events) });
    emit(json, &value, || {
        format!("{}\n{}", session_line(session), events_lines(&events))
    })
}

pub fn tokens(by: Option<TokensBy>, json: bool) -> CliResult {
    let recorder = open_recorder()?;
    // Sessions grow with the journal, agents and models do not: only `--by session` loads
    // the per-session totals.
    let table = match by {
        Some(TokensBy::Session) => recorder.load::<SessionTokens>()?.state.by_session,
        Some(TokensBy::Agent) => recorder.load::<Tokens>()?.state.by_agent,
        Some(TokensBy::Model) => recorder.load::<Tokens>()?.state.by_model,
        None => {
            let total = recorder.load::<Tokens>()?.state.total;
            BTreeMap::from([("total".to_owned(), total)])
        }
    };
    recorder.close();
    let value: serde_json::Map<String, Json> = table
        .iter()
        .map(|(key, totals)| (key.clone(), totals_json(totals)))
        .collect();
    emit(json, &Json::Object(value), || {
        table
            .iter()
            .map(|(key, totals)| format!("{}: {}\n", one_line(key), totals_line(totals)))
            .collect()
    })
}

pub fn status(agent: Option<String>, json: bool) -> CliResult {
    let recorder = open_recorder()?;
    let stats = recorder.load::<Stats>()?.state;
    let tokens = recorder.load::<Tokens>()?.state;
    let agent = agent.or_else(super::env_agent);
    let session = match current_session(&recorder, agent.as_deref())? {
        Some((id, _)) => recorder.load::<Sessions>()?.state.get(&id).cloned(),
        None => None,
    };
    let journal_dir = recorder.workspace().journal_dir();
    let agent = agent.unwrap_or_else(|| agentrail::context::DEFAULT_AGENT.to_owned());
    let context = super::context::status_context(&recorder, &agent)?;
    recorder.close();
    let value = json!({
        "journal": {
            "path": journal_dir,
            "events": stats.events,
            "last_lsn": stats.last_lsn,
            "first_ts": stats.first_ts_micros.map(format_ts),
            "last_ts": stats.last_ts_micros.map(format_ts),
            "sessions": stats.sessions_started,
        },
        "session": session.as_ref().map(session_json),
        "tokens": totals_json(&tokens.total),
        "context": context.as_ref().map(|(value, _)| value),
    });
    emit(json, &value, || {
        let session = session.as_ref().map_or("none".into(), session_line);
        let mut text = format!(
            "journal: {} ({}, {}, last LSN {})\nsession: {session}\ntokens: {}",
            journal_dir.display(),
            counted(stats.events, "event"),
            counted(stats.sessions_started, "session"),
            stats.last_lsn,
            totals_line(&tokens.total)
        );
        if let Some((_, line)) = &context {
            text += "\n";
            text += line;
        }
        text
    })
}

pub fn resume(agent: Option<String>, json: bool) -> CliResult {
    let recorder = open_recorder()?;
    let tokens = recorder.load::<Tokens>()?.state;
    let agent = agent.filter(|agent| !agent.is_empty());
    let session = match current_session(&recorder, agent.as_deref())? {
        Some((id, _)) => recorder.load::<Sessions>()?.state.get(&id).cloned(),
        None => None,
    };
    let events = match &session {
        Some(session) => scan(&recorder, session.start_lsn, RESUME_EVENTS, |event| {
            event.session == Some(session.id.as_str())
        })?,
        None => Vec::new(),
    };
    recorder.close();
    let value = json!({
        "session": session.as_ref().map(session_json),
        "last_events": events_json(&events),
        "tokens": totals_json(&tokens.total),
    });
    emit(json, &value, || {
        match &session {
        Some(session) => format!(
            "session: {}\nlast events:\n{}tokens (all sessions): {}",
            session_line(session),
            events_lines(&events),
            totals_line(&tokens.total)
        ),
        None => format!(
            "session: none open (start one with `agentrail session start TASK`)\ntokens (all sessions): {}",
            totals_line(&tokens.total)
        ),
    }
    })
}

pub fn rebuild(json: bool) -> CliResult {
    let recorder = open_recorder()?;
    let report = recorder.projector().rebuild(recorder.journal())?;
    recorder.close();
    let value = json!({
        "events": report.events,
        "records": report.records,
        "seconds": report.elapsed.as_secs_f64(),
        "events_per_second": report.events_per_second.round(),
    });
    emit(json, &value, || {
        format!(
            "rebuilt every projection from {} events in {:.3} s ({:.0} events/s)",
            report.events,
            report.elapsed.as_secs_f64(),
            report.events_per_second
        )
    })
}
