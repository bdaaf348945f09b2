//! The history-rewriting context commands: `merge`, `rebase`, `compress` and `reorder`. Thin
//! over `agentrail::context`: the library takes the resolver and the summarizer as closures,
//! and this module makes them out of a shell command (`sh -c CMD`, the input as one JSON object
//! on stdin, the content on stdout, and optionally, as the last line, the model's token use:
//! `{"usage": {"model": M, "input_tokens": N, "output_tokens": N}}`).

use super::context::{emit_refs, head_label, refs_json, with_agent, AgentArg};
use super::shell::ShellFailure;
use super::{emit, with_recorder, CliError, CliResult, EXIT_BAD_INPUT, EXIT_FAILURE};
use agentrail::context::id::short_id;
use agentrail::context::{
    CompressInput, Conflict, ContextError, Generated, MergeOutcome, Resolver, Rewrite, Unrelated,
};
use agentrail::recorder::Recorder;
use clap::Subcommand;
use serde_json::{json, Value as Json};

#[derive(Debug, Subcommand)]
pub enum RewriteCommand {
    /// Merge BRANCH into HEAD: a merge commit with two parents; conflicts stop it unless
    /// --resolver CMD resolves them.
    ///
    /// A conflict is both sides editing one block, or pinning different content under one
    /// message.
    Merge {
        #[arg(value_name = "BRANCH")]
        branch: String,
        /// Run `sh -c CMD` once per conflict: both sides as JSON on stdin, the merged content
        /// on stdout.
        #[arg(long, value_name = "CMD")]
        resolver: Option<String>,
        #[arg(short, long, value_name = "MSG")]
        message: Option<String>,
        /// Merge even when BRANCH and HEAD have no commit in common (refused otherwise, as
        /// git does).
        #[arg(long)]
        allow_unrelated_histories: bool,
        #[command(flatten)]
        agent: AgentArg,
    },
    /// Replay HEAD's commits that ONTO lacks on top of ONTO, merges kept; conflicts stop it
    /// unless --resolver CMD resolves them.
    ///
    /// A conflict is as for merge: HEAD's side and ONTO's both editing one block, or pinning
    /// different content under one message.
    Rebase {
        #[arg(value_name = "ONTO")]
        onto: String,
        /// Run `sh -c CMD` once per conflict: both sides as JSON on stdin (ours: HEAD's, theirs:
        /// ONTO's), the merged content on stdout.
        #[arg(long, value_name = "CMD")]
        resolver: Option<String>,
        #[command(flatten)]
        agent: AgentArg,
    },
    /// Replace the range FROM..TO with one summary commit and replay the later commits on top.
    #[command(group = clap::ArgGroup::new("source").required(true).args(["summary", "summarizer"]))]
    Compress {
        #[arg(value_name = "FROM..TO")]
        range: String,
        /// The summary's content.
        #[arg(long, value_name = "TEXT")]
        summary: Option<String>,
        /// Run `sh -c CMD`: the range's blocks as JSON on stdin, the summary on stdout.
        #[arg(long, value_name = "CMD")]
        summarizer: Option<String>,
        /// Keep the range's pinned blocks verbatim after the summary, checked byte for byte
        /// (the default; the flag is accepted for scripts that say so).
        #[arg(long, conflicts_with = "summarize_pins")]
        respect_pins: bool,
        /// Summarize the range's pinned blocks with the rest instead of keeping them.
        #[arg(long)]
        summarize_pins: bool,
        #[arg(short, long, value_name = "MSG")]
        message: Option<String>,
        #[command(flatten)]
        agent: AgentArg,
    },
    /// Put the commits of the range FROM..TO in the order given and replay the later ones.
    ///
    /// A range holding a merge is flattened, as `git rebase -i` does: its commits, the merged
    /// side's included, become one line, and its merge commits are dropped (a warning each).
    Reorder {
        #[arg(value_name = "FROM..TO")]
        range: String,
        /// Every commit of the range once, comma-separated; not its merge commits.
        #[arg(long, value_name = "ID,ID,...", value_delimiter = ',', required = true)]
        order: Vec<String>,
        /// Reorder even when an edit comes before its target (the edit then changes nothing).
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        agent: AgentArg,
    },
}

pub fn run(command: RewriteCommand, json: bool) -> CliResult {
    with_recorder(true, |recorder| dispatch(recorder, command, json))
}

fn dispatch(recorder: &Recorder, command: RewriteCommand, json: bool) -> CliResult {
    match command {
        RewriteCommand::Merge {
            branch,
            resolver,
            message,
            allow_unrelated_histories,
            agent,
        } => {
            let unrelated = if allow_unrelated_histories {
                Unrelated::Allow
            } else {
                Unrelated::Refuse
            };
            merge(
                recorder, &branch, resolver, message, unrelated, &agent, json,
            )
        }
        RewriteCommand::Rebase {
            onto,
            resolver,
            agent,
        } => {
            let mut resolve = resolver_of(resolver.as_deref());
            let rewrite = run_op(recorder, &agent, |ops| {
                ops.rebase(&onto, resolve.as_mut().map(|r| r as &mut Resolver))
            })?;
            emit_rewrite(json, "rebase", &rewrite)
        }
        RewriteCommand::Compress {
            range,
            summary,
            summarizer,
            respect_pins: _,
            summarize_pins,
            message,
            agent,
        } => {
            if summary
                .as_deref()
                .is_some_and(|text| text.trim().is_empty())
            {
                let reason =
                    "--summary is empty: the summary takes the range's place; nothing was recorded";
                return Err(CliError::new(EXIT_BAD_INPUT, reason));
            }
            let mut summarize = |input: &CompressInput| match (&summary, &summarizer) {
                (Some(text), _) => Ok(Generated {
                    content: text.clone(),
                    usage: None,
                }),
                (None, command) => run_helper(
                    command.as_deref().unwrap_or_default(),
                    "summarizer",
                    &compress_input_json(input),
                ),
            };
            let rewrite = run_op(recorder, &agent, |ops| {
                ops.compress(&range, !summarize_pins, message, &mut summarize)
            })?;
            emit_rewrite(json, "compress", &rewrite)
        }
        RewriteCommand::Reorder {
            range,
            order,
            force,
            agent,
        } => {
            let rewrite = run_op(recorder, &agent, |ops| ops.reorder(&range, &order, force))?;
            for merge in &rewrite.flattened {
                eprintln!(
                    "agentrail: warning: the merge {} was flattened: its sides' commits are now one line, and the merge commit is gone",
                    short_id(merge)
                );
            }
            for warning in &rewrite.warnings {
                eprintln!(
                    "agentrail: warning: the edit {} now comes before its target {}, so it changes nothing",
                    short_id(&warning.edit),
                    short_id(&warning.target)
                );
            }
            emit_rewrite(json, "reorder", &rewrite)
        }
    }
}

/// Runs an operation, with the exit codes of these commands: a conflict, a failed resolver or
/// summarizer, and a lost pin are failed operations (1); the rest as the context commands.
fn run_op<T>(
    recorder: &Recorder,
    agent: &AgentArg,
    operation: impl FnOnce(&agentrail::context::Agent) -> agentrail::Result<T>,
) -> Result<T, CliError> {
    let mut failure = None;
    let result = with_agent(recorder, &agent.agent, |ops| {
        operation(ops).inspect_err(|error| failure = failed_operation(error))
    });
    match (result, failure) {
        (Ok(value), _) => Ok(value),
        (Err(_), Some(failure)) => Err(failure),
        (Err(error), None) => Err(error),
    }
}

fn failed_operation(error: &agentrail::Error) -> Option<CliError> {
    let agentrail::Error::Context(context) = error else {
        return None;
    };
    let hint = match context {
        ContextError::MergeConflicts { .. } => {
            "resolve with `--resolver CMD`, or change one side (`commit --kind edit`) and merge again"
        }
        ContextError::RebaseConflicts { .. } => {
            "resolve with `--resolver CMD`, or change one side (`commit --kind edit`) and rebase again"
        }
        ContextError::HelperFailed { .. } => "run the command by hand with the JSON on stdin",
        ContextError::PinLost { .. } => "compress a range that holds no pin, or with --respect-pins",
        ContextError::LosesBlock { .. } => {
            "edit one of the two blocks (`commit --kind edit`) so their contents differ, then try again"
        }
        _ => return None,
    };
    Some(CliError::new(EXIT_FAILURE, error.to_string()).with_hint(hint))
}

fn merge(
    recorder: &Recorder,
    branch: &str,
    resolver: Option<String>,
    message: Option<String>,
    unrelated: Unrelated,
    agent: &AgentArg,
    json: bool,
) -> CliResult {
    let mut resolve = resolver_of(resolver.as_deref());
    let outcome = run_op(recorder, agent, |ops| {
        ops.merge(
            branch,
            message,
            resolve.as_mut().map(|r| r as &mut Resolver),
            unrelated,
        )
    })?;
    match outcome {
        MergeOutcome::UpToDate => emit(json, &json!({ "merge": "up_to_date" }), || {
            "already up to date".to_owned()
        }),
        MergeOutcome::FastForward { refs } => {
            if json {
                let mut value = refs_json(&refs);
                value["merge"] = "fast_forward".into();
                return emit(json, &value, String::new);
            }
            emit_refs(json, "merge (fast-forward)", &refs)
        }
        MergeOutcome::Merged {
            merge,
            resolutions,
            conflicts,
            refs,
        } => {
            let mut value = refs_json(&refs);
            value["merge"] = "merged".into();
            value["commit"] = merge.id.clone().into();
            value["resolutions"] = json!(resolutions.iter().map(|c| &c.id).collect::<Vec<_>>());
            value["conflicts"] = json!(conflicts);
            emit(json, &value, || {
                let resolved = match conflicts.len() {
                    0 => String::new(),
                    n => format!(" ({} resolved)", super::counted(n as u64, "conflict")),
                };
                let merge_id = short_id(&merge.id);
                let head = head_label(&refs);
                format!(
                    "merged {}: {merge_id}{resolved}, HEAD {head}",
                    super::visible::line(branch)
                )
            })
        }
    }
}

fn emit_rewrite(json: bool, op: &str, rewrite: &Rewrite) -> CliResult {
    let mut value = refs_json(&rewrite.refs);
    value["op"] = op.into();
    value["commits"] = json!(rewrite
        .commits
        .iter()
        .map(
            |commit| json!({ "id": commit.id, "kind": commit.kind.as_str(), "links": commit.links })
        )
        .collect::<Vec<_>>());
    value["tokens_before"] = rewrite.tokens_before.into();
    value["tokens_after"] = rewrite.tokens_after.into();
    value["pins_checked"] = rewrite.pins_checked.into();
    value["conflicts"] = json!(rewrite.conflicts);
    value["warnings"] = json!(warnings_json(rewrite));
    emit(json, &value, || {
        let head = rewrite
            .refs
            .head_commit()
            .map_or("no commit".to_owned(), |id| short_id(id).to_owned());
        let mut line = format!(
            "{op}: {} written, HEAD {} ({head}), {} -> {}",
            super::counted(rewrite.commits.len() as u64, "commit"),
            head_label(&rewrite.refs),
            rewrite.tokens_before,
            super::counted(rewrite.tokens_after, "token")
        );
        if op == "compress" {
            let pins = super::counted(rewrite.pins_checked as u64, "pinned block");
            line += &format!(", {pins} checked byte for byte");
        }
        if !rewrite.conflicts.is_empty() {
            let conflicts = super::counted(rewrite.conflicts.len() as u64, "conflict");
            line += &format!(", {conflicts} resolved");
        }
        line
    })
}

/// A rewrite's warnings, each with its `kind`: the merges a reorder flattened, then the edits
/// a forced reorder put before their targets.
fn warnings_json(rewrite: &Rewrite) -> Vec<Json> {
    let merges = rewrite
        .flattened
        .iter()
        .map(|merge| json!({ "kind": "merge_flattened", "merge": merge }));
    let edits = rewrite.warnings.iter().map(|warning| {
        json!({ "kind": "edit_before_target", "edit": warning.edit, "target": warning.target })
    });
    merges.chain(edits).collect()
}

/// The resolver `--resolver CMD` makes, for merge and rebase: `sh -c CMD` once per conflict.
fn resolver_of(
    command: Option<&str>,
) -> Option<impl FnMut(&Conflict) -> agentrail::Result<Generated> + '_> {
    let command = command?;
    Some(move |conflict: &Conflict| run_helper(command, "resolver", &json!(conflict)))
}

fn compress_input_json(input: &CompressInput) -> Json {
    json!({
        "from": input.from,
        "to": input.to,
        "blocks": input.blocks.iter().map(|block| json!({
            "id": block.id,
            "kind": block.kind.as_str(),
            "message": block.message,
            "content": block.content,
            "tokens": block.tokens,
        })).collect::<Vec<_>>(),
    })
}

/// Runs `sh -c command` with `input` on stdin; its stdout is the content, but for a last line
/// that is a usage object. A command that cannot start, exits non-zero, or prints what is not
/// UTF-8 fails the operation, which then records nothing.
fn run_helper(command: &str, helper: &str, input: &Json) -> agentrail::Result<Generated> {
    let failed = |reason: String| ContextError::HelperFailed {
        helper: format!("{helper} `{command}`"),
        reason,
    };
    let stdout = super::shell::run(command, input.to_string().into_bytes()).map_err(|failure| {
        failed(match failure {
            ShellFailure::Start(error) => format!("cannot start it: {error}"),
            ShellFailure::Wait(error) => format!("waiting for it: {error}"),
            ShellFailure::Status(status) => {
                let code = status
                    .code()
                    .map_or("a signal".to_owned(), |code| format!("exit code {code}"));
                format!("it ended with {code}")
            }
            ShellFailure::NotUtf8 => "its output is not UTF-8".to_owned(),
        })
    })?;
    super::shell::split_usage(&stdout).map_err(|reason| failed(reason).into())
}
