//! The sub-agent and inspection commands: `spawn`, `collapse`, `expand`, `blame`, `audit`, and
//! `diff A B` (the two-revision form of `diff`; with none it records the working tree's git
//! diff as before). Thin over `agentrail::context::{subagent, inspect}`; this module also runs
//! a collapse's `--summarizer` command, which the library leaves to its caller.
//!
//! The summarizer protocol: `sh -c CMD` gets the child's materialized context on stdin (the
//! JSON of `context --json`) and prints the summary on stdout. When its last non-empty line is
//! a JSON object with a `usage` member, `{"usage":{"input_tokens":N,"output_tokens":M},
//! "model":"..."}`, that line is not part of the summary and is recorded as an `llm_call`.

use super::context::{
    blocks_json, commit_json, context_error, head_label, refs_json, with_agent, AgentArg,
};
use super::session::recording_session;
use super::shell::ShellFailure;
use super::visible::{line as one_line, quoted};
use super::{
    counted, emit, open_recorder, recording_off, with_recorder, CliError, CliResult, JsonSeq,
    EXIT_BAD_INPUT, EXIT_FAILURE,
};
use agentrail::context::id::short_id;
use agentrail::context::inspect::{context_text, AuditBound, BlameHit, ContextDiff};
use agentrail::context::ops::RANGE_SEPARATOR;
use agentrail::context::revision;
use agentrail::context::subagent::{CommitText, Expansion, SubagentCommitKind};
use agentrail::context::{Agent, Commit, Context, ContextError, LlmUsage};
use agentrail::event::{Event, EventType};
use agentrail::recorder::{object, Recorder};
use clap::Subcommand;
use serde_json::{json, Value as Json};
use std::time::Instant;

#[derive(Debug, Subcommand)]
pub enum SubagentCommand {
    /// Start sub-agent CHILD (a new agent) from HEAD: a root commit holding the task on the
    /// child, a spawn commit pointing at it on this agent.
    Spawn {
        #[arg(value_name = "CHILD")]
        child: String,
        /// The child's first block (default: a line naming its parent).
        #[arg(long, value_name = "TEXT")]
        task: Option<String>,
        #[command(flatten)]
        agent: AgentArg,
    },
    /// Fold sub-agent CHILD back: one commit on HEAD with its output, a summary and its head.
    #[command(group = clap::ArgGroup::new("summary_source").required(true).args(["summary", "summarizer"]))]
    Collapse {
        #[arg(value_name = "CHILD")]
        child: String,
        #[arg(long, value_name = "TEXT")]
        summary: Option<String>,
        /// A shell command: the child's context as JSON on stdin, the summary on stdout.
        #[arg(long, value_name = "CMD")]
        summarizer: Option<String>,
        /// The child's final output (default: the content of its HEAD commit).
        #[arg(long, value_name = "TEXT")]
        output: Option<String>,
        #[command(flatten)]
        agent: AgentArg,
    },
    /// Show a spawn or collapse COMMIT with the child's commits inline.
    Expand {
        #[arg(value_name = "COMMIT")]
        commit: String,
        #[command(flatten)]
        agent: AgentArg,
    },
    /// Which commit brought TEXT into the context at HEAD (or --at), and the edit that last
    /// changed it. Exits 1 when no block holds it.
    Blame {
        #[arg(value_name = "TEXT")]
        text: String,
        #[arg(long, value_name = "COMMIT")]
        at: Option<String>,
        #[command(flatten)]
        agent: AgentArg,
    },
    /// What the agent's context held at an LSN, or at a time (the last event at or before it).
    Audit {
        #[arg(long, value_name = "TIME|LSN")]
        at: String,
        #[command(flatten)]
        agent: AgentArg,
    },
}

impl SubagentCommand {
    fn records(&self) -> bool {
        matches!(
            self,
            SubagentCommand::Spawn { .. } | SubagentCommand::Collapse { .. }
        )
    }
}

pub fn run(command: SubagentCommand, json: bool) -> CliResult {
    with_recorder(command.records(), |recorder| {
        dispatch(recorder, command, json)
    })
}

fn dispatch(recorder: &Recorder, command: SubagentCommand, json: bool) -> CliResult {
    use SubagentCommand::*;
    match command {
        Spawn { child, task, agent } => spawn(recorder, &agent.agent, &child, task, json),
        Collapse {
            child,
            summary,
            summarizer,
            output,
            agent,
        } => {
            let source = match (summary, summarizer) {
                (Some(text), _) => Summary::Text(text),
                (None, Some(command)) => Summary::Command(command),
                (None, None) => unreachable!("clap requires --summary or --summarizer"),
            };
            collapse(recorder, &agent.agent, &child, source, output, json)
        }
        Expand { commit, agent } => expand(recorder, &agent.agent, &commit, json),
        Blame { text, at, agent } => blame(recorder, &agent.agent, &text, at.as_deref(), json),
        Audit { at, agent } => audit(recorder, &agent.agent, &at, json),
    }
}

fn spawn(
    recorder: &Recorder,
    parent: &str,
    child: &str,
    task: Option<String>,
    json: bool,
) -> CliResult {
    let spawned = with_agent(recorder, parent, |ops| ops.spawn(child, task.as_deref()))?;
    let value = json!({
        "parent": parent,
        "child": child,
        "spawn": spawned.spawn.id,
        "root": spawned.root.id,
        "lsn": spawned.spawn.lsn + 1,
    });
    emit(json, &value, || {
        format!(
            "spawned {} at {} (its root; {} at {})",
            one_line(child),
            short_id(&spawned.root.id),
            one_line(parent),
            short_id(&spawned.spawn.id)
        )
    })
}

/// Where a collapse's summary comes from.
enum Summary {
    Text(String),
    Command(String),
}

/// What a summarizer's usage line says, and how long the summarizer ran.
struct Usage {
    llm: LlmUsage,
    latency_ms: u64,
}

fn collapse(
    recorder: &Recorder,
    parent: &str,
    child: &str,
    source: Summary,
    output: Option<String>,
    json: bool,
) -> CliResult {
    let mut usage = None;
    let session = recording_session(recorder, None, Some(parent))?.map(|(id, _)| id);
    let result =
        Agent::new(recorder, parent, session).collapse(child, output, |context| match source {
            Summary::Text(text) => Ok(text),
            Summary::Command(command) => {
                let (summary, used) = summarize(&command, child, context)?;
                usage = used;
                Ok(summary)
            }
        });
    // The model call happened whether or not the collapse was then recorded.
    let llm_call = match usage {
        Some(usage) => Some(record_usage(recorder, parent, usage)?),
        None => None,
    };
    let collapsed = result.map_err(summarizer_failure)?;
    let value = json!({
        "parent": parent,
        "child": child,
        "id": collapsed.commit.id,
        "child_head": collapsed.child_head,
        "summary": collapsed.summary,
        "output": collapsed.output,
        "tokens": collapsed.commit.tokens,
        "llm_call_lsn": llm_call,
    });
    emit(json, &value, || short_id(&collapsed.commit.id).to_owned())
}

/// A failed summarizer is a failed operation (exit 1), not bad input.
fn summarizer_failure(error: agentrail::Error) -> CliError {
    match &error {
        agentrail::Error::Context(ContextError::SummarizerFailed { .. }) => {
            CliError::new(EXIT_FAILURE, format!("{error}; nothing was recorded"))
        }
        agentrail::Error::Context(
            ContextError::NotAChild { .. } | ContextError::UnknownAgent { .. },
        ) => CliError::new(EXIT_BAD_INPUT, error.to_string())
            .with_hint("collapse runs as the parent: name it with --agent or AGENTRAIL_AGENT"),
        _ => context_error(error),
    }
}

/// Runs the summarizer on the child's context: its summary, and its usage line if it printed one.
fn summarize(
    command: &str,
    child: &str,
    context: &Context,
) -> Result<(String, Option<Usage>), String> {
    let input = json!({
        "agent": child,
        "at": context.at,
        "blocks": blocks_json(context),
        "tokens": context.tokens,
    })
    .to_string();
    let started = Instant::now();
    let stdout =
        super::shell::run(command, input.into_bytes()).map_err(|failure| match failure {
            ShellFailure::Start(error) => format!("running sh -c {}: {error}", quoted(command)),
            ShellFailure::Wait(error) => format!("waiting for sh -c {}: {error}", quoted(command)),
            ShellFailure::Status(status) => format!("sh -c {} failed ({status})", quoted(command)),
            ShellFailure::NotUtf8 => "its output is not UTF-8".to_owned(),
        })?;
    let latency_ms = started.elapsed().as_millis() as u64;
    let generated = super::shell::split_usage(&stdout)?;
    let usage = generated.usage.map(|llm| Usage { llm, latency_ms });
    Ok((generated.content, usage))
}

/// Records the summarizer's model call as an `llm_call` of the parent; its LSN.
fn record_usage(recorder: &Recorder, parent: &str, usage: Usage) -> Result<u64, CliError> {
    let session = recording_session(recorder, None, Some(parent))?.map(|(id, _)| id);
    let data = object(json!({
        "model": usage.llm.model,
        "input_tokens": usage.llm.input_tokens,
        "output_tokens": usage.llm.output_tokens,
        "latency_ms": usage.latency_ms,
    }));
    let event = Event::new(EventType::LlmCall, session, Some(parent.to_owned()), data)?;
    Ok(recorder.record(event)?)
}

fn text_json(entry: &CommitText) -> Json {
    let mut value = commit_json(&entry.commit);
    value["content"] = Json::String(entry.content.clone());
    value
}

fn expand(recorder: &Recorder, agent: &str, rev: &str, json: bool) -> CliResult {
    let expansion = Agent::new(recorder, agent, None)
        .expand(rev)
        .map_err(super::context::context_error)?;
    let kind = match expansion.kind {
        SubagentCommitKind::Spawn => "spawn",
        SubagentCommitKind::Collapse => "collapse",
    };
    let value = json!({
        "kind": kind,
        "child": expansion.child,
        "commit": text_json(&expansion.commit),
        "child_commits": expansion.child_commits.iter().map(text_json).collect::<Vec<_>>(),
    });
    emit(json, &value, || expansion_text(kind, &expansion))
}

fn expansion_text(kind: &str, expansion: &Expansion) -> String {
    let commit = &expansion.commit.commit;
    let mut text = format!(
        "{kind} {} of {} by {}\n",
        short_id(&commit.id),
        one_line(&expansion.child),
        one_line(&commit.agent)
    );
    text += &indented(&expansion.commit.content, "    ");
    for entry in &expansion.child_commits {
        text += &format!(
            "| {} {}\n",
            short_id(&entry.commit.id),
            first_line(&entry.commit)
        );
        text += &indented(&entry.content, "|     ");
    }
    text
}

fn first_line(commit: &Commit) -> String {
    let message = commit.message.lines().next().unwrap_or_default();
    format!(
        "{} {} {}",
        super::context::kind_label(commit),
        super::counted(commit.tokens, "token"),
        one_line(message)
    )
}

fn indented(content: &str, prefix: &str) -> String {
    content
        .lines()
        .map(|line| match line {
            "" => format!("{}\n", prefix.trim_end()),
            line => format!("{prefix}{line}\n"),
        })
        .collect()
}

fn hit_json(hit: &BlameHit) -> Json {
    json!({
        "index": hit.index,
        "commit": hit.block.id,
        "edited_by": hit.block.edited_by,
        "message": hit.block.message,
        "lines": hit.lines.iter().map(|(line, text)| json!({"line": line, "text": text})).collect::<Vec<_>>(),
    })
}

fn blame(recorder: &Recorder, agent: &str, text: &str, at: Option<&str>, json: bool) -> CliResult {
    let blame = Agent::new(recorder, agent, None)
        .blame(text, at)
        .map_err(inspect_error)?;
    let value = json!({
        "agent": agent,
        "at": blame.at,
        "text": text,
        "hits": blame.hits.iter().map(hit_json).collect::<Vec<_>>(),
    });
    if blame.hits.is_empty() {
        if json {
            emit(json, &value, String::new)?;
        }
        let at = blame
            .at
            .as_deref()
            .map_or("unborn".to_owned(), |id| short_id(id).to_owned());
        return Err(CliError::new(
            EXIT_FAILURE,
            format!(
                "no block of agent {}'s context at {at} holds {}",
                one_line(agent),
                quoted(text)
            ),
        ));
    }
    emit(json, &value, || blame.hits.iter().map(hit_text).collect())
}

/// `0123abcd4567 (edited by 89ab01cd23ef) block 1 line 2: Be brief.`, one line per match.
fn hit_text(hit: &BlameHit) -> String {
    let edited = hit
        .block
        .edited_by
        .as_deref()
        .map_or(String::new(), |edit| {
            format!(" (edited by {})", short_id(edit))
        });
    hit.lines
        .iter()
        .map(|(line, text)| {
            format!(
                "{}{edited} block {} line {line}: {}\n",
                short_id(&hit.block.id),
                hit.index + 1,
                one_line(text)
            )
        })
        .collect()
}

/// `--at`: all digits is an LSN, else an RFC 3339 time.
fn audit_bound(at: &str) -> Result<AuditBound, CliError> {
    if !at.is_empty() && at.bytes().all(|byte| byte.is_ascii_digit()) {
        return at.parse().map(AuditBound::Lsn).map_err(|_| {
            CliError::new(EXIT_BAD_INPUT, format!("--at {at}: the LSN is too large"))
        });
    }
    agentrail::event::parse_ts(at)
        .map(AuditBound::Time)
        .map_err(|_| {
            CliError::new(
                EXIT_BAD_INPUT,
                format!("--at {} is neither an LSN nor an RFC 3339 time", quoted(at)),
            )
            .with_hint("give an LSN (`agentrail log`) or a time such as 2026-11-23T10:00:00Z")
        })
}

fn audit(recorder: &Recorder, agent: &str, at: &str, json: bool) -> CliResult {
    let bound = audit_bound(at)?;
    let audit = Agent::new(recorder, agent, None)
        .audit(bound)
        .map_err(inspect_error)?;
    let ts = audit.ts_micros.map(agentrail::event::format_ts);
    let value = json!({
        "agent": agent,
        "lsn": audit.lsn,
        "ts": ts,
        "refs": refs_json(&audit.refs),
        "at": audit.context.at,
        "blocks": blocks_json(&audit.context),
        "tokens": audit.context.tokens,
    });
    emit(json, &value, || {
        let head = audit
            .context
            .at
            .as_deref()
            .map_or("unborn".to_owned(), |id| short_id(id).to_owned());
        let when = ts.map_or(String::new(), |ts| format!(" ({ts})"));
        format!(
            "agent {} at LSN {}{when}: {} at {head}, {}, {} tokens\n\n{}",
            one_line(agent),
            audit.lsn,
            head_label(&audit.refs),
            counted(audit.context.blocks.len() as u64, "block"),
            audit.context.tokens,
            context_text(&audit.context)
        )
    })
}

/// The error of `blame` or `audit`: an unknown agent is bad input, with a hint.
fn inspect_error(error: agentrail::Error) -> CliError {
    match &error {
        agentrail::Error::Context(ContextError::UnknownAgent { .. }) => {
            CliError::new(EXIT_BAD_INPUT, error.to_string())
                .with_hint("name the agent with --agent or AGENTRAIL_AGENT")
        }
        agentrail::Error::Context(ContextError::LsnBeyondJournal { .. }) => {
            CliError::new(EXIT_BAD_INPUT, error.to_string())
        }
        _ => context_error(error),
    }
}

/// `diff`: no revision records the working tree's git diff, naming `agent` (`--agent`) as
/// `event` does; two compare contexts of `agent`, else `AGENTRAIL_AGENT`'s, else main's.
pub fn diff(revisions: &[String], agent: Option<String>, json: bool) -> CliResult {
    match revisions {
        [] if recording_off() => Ok(()),
        [] => super::event::diff(agent, json),
        [from, to] => context_diff(&context_agent(agent)?, from, to, json),
        [range] if range.contains("...") => {
            // The hint names the user's own two sides: `diff A...B` meant to compare A and B.
            let (from, to) = range.split_once("...").unwrap_or_default();
            Err(CliError::new(
                EXIT_BAD_INPUT,
                format!(
                    "{} is a three-dot range, which diff does not take: it compares two revisions, given as A B or A..B",
                    quoted(range)
                ),
            )
            .with_hint(format!("agentrail diff {} {}", side(from), side(to))))
        }
        [range] if range.contains(RANGE_SEPARATOR) => {
            let (from, to) = range.split_once(RANGE_SEPARATOR).unwrap_or_default();
            context_diff(&context_agent(agent)?, &side(from), &side(to), json)
        }
        _ => Err(CliError::new(
            EXIT_BAD_INPUT,
            format!(
                "diff takes no revision (to record the working tree's git diff) or two, A B or A..B (to compare two contexts), not {}",
                revisions.len()
            ),
        )
        .with_hint("agentrail diff A B, with A and B revisions: branches, commit ids, HEAD~N")),
    }
}

/// The agent whose contexts `diff` compares: `--agent`, else `AGENTRAIL_AGENT`, else main.
fn context_agent(flag: Option<String>) -> Result<String, CliError> {
    let agent = flag
        .or_else(super::env_agent)
        .unwrap_or_else(|| agentrail::context::DEFAULT_AGENT.to_owned());
    super::context::agent_name(&agent)
        .map_err(|reason| CliError::new(EXIT_BAD_INPUT, format!("--agent: {reason}")))
}

/// One side of a range: as in git, a side left out is HEAD (`..topic` is `HEAD..topic`).
fn side(text: &str) -> String {
    match text {
        "" => revision::HEAD.to_owned(),
        text => text.to_owned(),
    }
}

fn context_diff(agent: &str, from: &str, to: &str, json: bool) -> CliResult {
    let recorder = open_recorder()?;
    let diff = Agent::new(&recorder, agent, None)
        .diff(from, to)
        .map_err(context_error);
    recorder.close();
    let diff = diff?;
    if !json {
        return emit(json, &(), || diff_text(from, to, &diff));
    }
    #[derive(serde::Serialize)]
    struct Diff<'a> {
        agent: &'a str,
        from: &'a str,
        to: &'a str,
        only_from: JsonSeq<'a, Commit, fn(&Commit) -> Json>,
        only_to: JsonSeq<'a, Commit, fn(&Commit) -> Json>,
        diff: &'a str,
    }
    let value = Diff {
        agent,
        from: &diff.from,
        to: &diff.to,
        only_from: JsonSeq(&diff.only_from, commit_json),
        only_to: JsonSeq(&diff.only_to, commit_json),
        diff: &diff.unified,
    };
    emit(json, &value, String::new)
}

fn diff_text(from: &str, to: &str, diff: &ContextDiff) -> String {
    let mut text = String::new();
    for (name, commits) in [(from, &diff.only_from), (to, &diff.only_to)] {
        if commits.is_empty() {
            continue;
        }
        text += &format!("only in {}:\n", one_line(name));
        for commit in commits {
            text += &format!("  {} {}\n", short_id(&commit.id), first_line(commit));
        }
    }
    if !text.is_empty() && !diff.unified.is_empty() {
        text += "\n";
    }
    if text.is_empty() && diff.unified.is_empty() {
        // git prints nothing here; a word says the comparison ran (`diff ..` is HEAD against HEAD).
        return format!(
            "no difference: {} and {} have the same commits and context\n",
            one_line(from),
            one_line(to)
        );
    }
    text + &diff.unified
}
