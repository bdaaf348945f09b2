//! The context commands: `commit`, `branch` (and `branch -d`), `switch`, `checkout`, `reset`,
//! `context`, `reflog` and `undo`, plus the context forms of `log`, `show` and `status`. Thin over
//! `agentrail::context`: this module picks the agent (`--agent`, else `AGENTRAIL_AGENT`, else
//! `main`) and the session, reads the content to commit, and prints.

use super::session::recording_session;
use super::visible::line as one_line;
use super::{emit, with_recorder, CliError, CliResult, JsonSeq, EXIT_BAD_INPUT, EXIT_FAILURE};
use agentrail::context::graph::refs_to_json;
use agentrail::context::id::short_id;
use agentrail::context::lanes::{graph_rows, Entries};
use agentrail::context::materialize::content_at;
use agentrail::context::{
    Agent, Commit, CommitKind, CommitRequest, Context, ContextError, DeletedBranch, Graph, Head,
    HeadMove, RefMove, Refs, ResetMode, DEFAULT_AGENT,
};
use agentrail::recorder::Recorder;
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{json, Value as Json};
use std::collections::BTreeSet;
use std::io::Read;
use std::path::PathBuf;

/// Whose context a command acts on.
#[derive(Debug, Clone, Args)]
pub struct AgentArg {
    /// The agent whose context this is.
    #[arg(long, env = "AGENTRAIL_AGENT", value_name = "NAME", default_value = DEFAULT_AGENT, value_parser = agent_name)]
    pub agent: String,
}

/// An agent name given with `--agent` or `AGENTRAIL_AGENT`: refused when empty (as from
/// `--agent "$UNSET"`), which would otherwise start the context of an agent named "".
pub fn agent_name(name: &str) -> Result<String, String> {
    match name {
        "" => Err(
            "an agent name is not empty (unset AGENTRAIL_AGENT rather than leave it empty)".into(),
        ),
        name => Ok(name.to_owned()),
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum KindArg {
    Append,
    Edit,
    Pin,
}

/// What `commit` takes.
#[derive(Debug, Args)]
pub struct CommitArgs {
    #[arg(short, long, value_name = "MSG")]
    message: String,
    #[arg(long, value_enum, default_value = "append")]
    kind: KindArg,
    /// For --kind edit: the commit whose content this replaces.
    #[arg(long, value_name = "COMMIT")]
    target: Option<String>,
    /// The block's token count; counted with o200k_base when not given.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    tokens: Option<u64>,
    #[arg(long, value_name = "TEXT", conflicts_with = "file")]
    content: Option<String>,
    #[arg(long, value_name = "F")]
    file: Option<PathBuf>,
    #[command(flatten)]
    agent: AgentArg,
}

#[derive(Debug, Subcommand)]
pub enum ContextCommand {
    /// Commit a block of context on HEAD (content from --content, --file, else stdin) and print
    /// its short id.
    Commit(CommitArgs),
    /// List the branches (alone or with --list), create branch NAME at AT (default HEAD), or
    /// delete one (-d, -D).
    #[command(
        group = clap::ArgGroup::new("deleting").multiple(true).args(["delete", "force_delete"]),
        override_usage = "agentrail branch [--list] [OPTIONS]\n       agentrail branch [OPTIONS] NAME [AT]\n       agentrail branch (-d | -D) [OPTIONS] NAME"
    )]
    Branch {
        /// The branch to create or delete.
        #[arg(value_name = "NAME")]
        name: Option<String>,
        /// Where to create it: a revision (default HEAD).
        #[arg(value_name = "AT", conflicts_with = "deleting")]
        at: Option<String>,
        /// List the branches (as `branch` alone does).
        #[arg(long, conflicts_with_all = ["name", "deleting"])]
        list: bool,
        /// Delete branch NAME; refused for HEAD's branch, and for a branch that neither HEAD
        /// nor another branch reaches (unless --force).
        #[arg(short = 'd', long, requires = "name")]
        delete: bool,
        /// Delete branch NAME even when nothing else reaches it (`--delete --force`).
        #[arg(short = 'D', requires = "name")]
        force_delete: bool,
        /// With --delete: delete a branch that nothing else reaches.
        #[arg(short = 'f', long, requires = "deleting")]
        force: bool,
        #[command(flatten)]
        agent: AgentArg,
    },
    /// Put HEAD on branch NAME (`checkout` detaches HEAD at a commit).
    Switch {
        #[arg(value_name = "NAME")]
        name: String,
        #[command(flatten)]
        agent: AgentArg,
    },
    /// Detach HEAD at COMMIT, or switch to it when COMMIT is exactly a branch's name, as in git.
    ///
    /// `BRANCH~0` detaches HEAD at a branch's commit.
    Checkout {
        #[arg(value_name = "COMMIT")]
        commit: String,
        #[command(flatten)]
        agent: AgentArg,
    },
    /// Move HEAD's branch (or detached HEAD) to COMMIT.
    #[command(group = clap::ArgGroup::new("mode").required(true).args(["soft", "hard"]))]
    Reset {
        /// The later commits stay reachable from the reflog (until gc_retention_days pass).
        #[arg(long)]
        soft: bool,
        /// The later commits are unreachable: the next gc collects them unless a ref or an undo reaches them.
        #[arg(long)]
        hard: bool,
        #[arg(value_name = "COMMIT")]
        commit: String,
        #[command(flatten)]
        agent: AgentArg,
    },
    /// The materialized context at HEAD (or --at): the prompt an agent resumes from.
    Context {
        #[arg(long, value_name = "COMMIT")]
        at: Option<String>,
        #[command(flatten)]
        agent: AgentArg,
    },
    /// Every move of the agent's refs, newest first.
    Reflog {
        #[command(flatten)]
        agent: AgentArg,
    },
    /// Put the refs back as they were before the last ref move (each undo goes one further).
    Undo {
        #[command(flatten)]
        agent: AgentArg,
    },
}

impl ContextCommand {
    /// True for the commands that record (and so do nothing under `AGENTRAIL=off`).
    fn records(&self) -> bool {
        !matches!(
            self,
            ContextCommand::Context { .. }
                | ContextCommand::Reflog { .. }
                | ContextCommand::Branch { list: true, .. }
                | ContextCommand::Branch { name: None, .. }
        )
    }
}

pub fn run(command: ContextCommand, json: bool) -> CliResult {
    with_recorder(command.records(), |recorder| {
        dispatch(recorder, command, json)
    })
}

fn dispatch(recorder: &Recorder, command: ContextCommand, json: bool) -> CliResult {
    use ContextCommand::*;
    match command {
        Commit(args) => commit(recorder, args, json),
        Branch {
            list: true, agent, ..
        }
        | Branch {
            name: None, agent, ..
        } => branch_list(recorder, &agent.agent, json),
        Branch {
            name,
            delete,
            force_delete,
            force,
            agent,
            ..
        } if delete || force_delete => {
            let name = name.unwrap_or_default();
            let force = force || force_delete;
            let deleted = with_agent(recorder, &agent.agent, |ops| {
                ops.delete_branch(&name, force)
            })?;
            emit_deleted(json, &deleted)
        }
        Branch {
            name, at, agent, ..
        } => {
            let name = name.unwrap_or_default();
            let refs = with_agent(recorder, &agent.agent, |ops| {
                ops.branch(&name, at.as_deref())
            })?;
            let at = refs.branches.get(&name).cloned().unwrap_or_default();
            emit(json, &json!({ "branch": name, "at": at }), || {
                format!("created branch {} at {}", one_line(&name), short_id(&at))
            })
        }
        Switch { name, agent } => {
            let moved = switch(recorder, &agent.agent, &name)?;
            emit_head_move(json, &moved)
        }
        Checkout { commit, agent } => {
            let moved = with_agent(recorder, &agent.agent, |ops| ops.checkout(&commit))?;
            emit_head_move(json, &moved)
        }
        Reset {
            hard,
            commit,
            agent,
            ..
        } => {
            let mode = if hard {
                ResetMode::Hard
            } else {
                ResetMode::Soft
            };
            let refs = with_agent(recorder, &agent.agent, |ops| ops.reset(mode, &commit))?;
            emit_refs(json, &format!("reset --{}", mode.as_str()), &refs)
        }
        Context { at, agent } => context(recorder, &agent.agent, at.as_deref(), json),
        Reflog { agent } => reflog(recorder, &agent.agent, json),
        Undo { agent } => {
            let refs = with_agent(recorder, &agent.agent, |ops| ops.undo())?;
            emit_refs(json, "undo", &refs)
        }
    }
}

/// Runs one operation of `agent`'s context, in the current session if there is one. A session
/// `AGENTRAIL_SESSION` names must be open, as for events: a commit recorded in a session that
/// ended would be added to a finished session's record.
pub(super) fn with_agent<T>(
    recorder: &Recorder,
    agent: &str,
    operation: impl FnOnce(&Agent) -> agentrail::Result<T>,
) -> Result<T, CliError> {
    let session = recording_session(recorder, None, Some(agent))?.map(|(id, _)| id);
    let ops = Agent::new(recorder, agent, session);
    operation(&ops).map_err(context_error)
}

/// A library error with the exit code a context user expects: what names nothing, or cannot
/// be done (a bad revision, a branch deletion refused), is bad input (2), except having nothing
/// to undo, which is a failed operation (1).
pub fn context_error(error: agentrail::Error) -> CliError {
    match &error {
        agentrail::Error::Context(ContextError::NothingToUndo { .. }) => {
            CliError::new(EXIT_FAILURE, error.to_string())
        }
        agentrail::Error::Context(ContextError::AlreadyCollapsed { commit, .. }) => {
            CliError::new(EXIT_FAILURE, error.to_string()).with_hint(format!(
                "to change the summary, `agentrail commit --kind edit --target {}`",
                short_id(commit)
            ))
        }
        agentrail::Error::Context(ContextError::DeleteCurrentBranch { .. }) => {
            CliError::new(EXIT_BAD_INPUT, error.to_string())
        }
        agentrail::Error::Context(ContextError::BranchNotMerged { name, .. }) => {
            CliError::new(EXIT_BAD_INPUT, error.to_string()).with_hint(format!(
                "`agentrail branch -D {}` deletes it anyway",
                one_line(name)
            ))
        }
        agentrail::Error::Context(ContextError::OtherAgent { owner, .. }) => {
            CliError::new(EXIT_BAD_INPUT, error.to_string()).with_hint(format!(
                "`--agent {}` acts on that agent's context",
                one_line(owner)
            ))
        }
        agentrail::Error::Context(ContextError::AmbiguousPrefix { .. }) => {
            CliError::new(EXIT_BAD_INPUT, error.to_string())
                .with_hint("give more hex digits of the id")
        }
        agentrail::Error::Context(context) => {
            let failure = CliError::new(EXIT_BAD_INPUT, error.to_string());
            match context_hint(context) {
                Some(hint) => failure.with_hint(hint),
                None => failure,
            }
        }
        agentrail::Error::Input(input) => CliError::from(input.clone()),
        _ => CliError::from(error),
    }
}

/// The hint under a refused context operation, for the errors a listing or another option
/// helps with; none where the message says all there is (an empty summary, a name taken).
fn context_hint(error: &ContextError) -> Option<&'static str> {
    use ContextError::*;
    Some(match error {
        PrefixTooShort { .. }
        | NotHex { .. }
        | UnknownCommit { .. }
        | BadRevision { .. }
        | PastRoot { .. }
        | NoSuchParent { .. }
        | UnknownBranch { .. }
        | TargetNotInContext { .. }
        | TargetIsMerge { .. }
        | BadRange { .. }
        | NotASubagentCommit { .. } => {
            "`agentrail log --oneline` lists commits, `agentrail branch --list` branches"
        }
        BranchExists { .. } => "`agentrail branch --list` lists the branches",
        BadOrder { .. } => {
            "--order names each commit of the range exactly once (merge commits aside), in their new order"
        }
        Unborn { .. } | UnbornHead { .. } => "`agentrail commit -m MSG` makes the first commit",
        EditBeforeTarget { .. } => "--force reorders anyway (the edit then changes nothing)",
        UnrelatedHistories { .. } => "--allow-unrelated-histories merges them anyway",
        _ => return None,
    })
}

/// The content of a commit: `--content`, else the file, else stdin.
fn read_content(content: Option<String>, file: Option<PathBuf>) -> Result<String, CliError> {
    if let Some(content) = content {
        return Ok(content);
    }
    if let Some(file) = file {
        return std::fs::read_to_string(&file).map_err(|error| {
            CliError::new(
                EXIT_BAD_INPUT,
                format!("--file {}: {error}", file.display()),
            )
        });
    }
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|error| {
            CliError::new(
                EXIT_BAD_INPUT,
                format!("reading the content from stdin: {error}"),
            )
        })?;
    Ok(text)
}

fn commit(recorder: &Recorder, args: CommitArgs, json: bool) -> CliResult {
    let kind = match args.kind {
        KindArg::Append => CommitKind::Append,
        KindArg::Edit => CommitKind::Edit,
        KindArg::Pin => CommitKind::Pin,
    };
    let request = CommitRequest {
        kind,
        message: args.message,
        content: read_content(args.content, args.file)?,
        target: args.target,
        tokens: args.tokens,
    };
    let commit = with_agent(recorder, &args.agent.agent, |ops| ops.commit(request))?;
    let value = json!({
        "id": commit.id,
        "short": short_id(&commit.id),
        "parents": commit.parents,
        "kind": commit.kind.as_str(),
        "tokens": commit.tokens,
        "tokens_counted": commit.tokens_counted,
        "agent": commit.agent,
        "session": commit.session,
        "lsn": commit.lsn,
    });
    emit(json, &value, || short_id(&commit.id).to_owned())
}

/// HEAD's branch, or `detached`: every caller shows HEAD's commit beside it (`detached at
/// ID`, `detached@ID`), which this once did too, printing the id twice. For human output.
pub fn head_label(refs: &Refs) -> String {
    match &refs.head {
        Head::Branch(name) => one_line(name).into_owned(),
        Head::Detached(_) => "detached".to_owned(),
    }
}

pub(super) fn refs_json(refs: &Refs) -> Json {
    let (head, branches) = refs_to_json(refs);
    json!({ "head": head, "head_commit": refs.head_commit(), "branches": branches })
}

pub(super) fn emit_refs(json: bool, op: &str, refs: &Refs) -> CliResult {
    emit(json, &refs_json(refs), || refs_moved_line(op, refs))
}

/// `OP: HEAD main (ID)`, the line a ref move prints.
fn refs_moved_line(op: &str, refs: &Refs) -> String {
    let at = refs
        .head_commit()
        .map_or("no commit".to_owned(), |id| short_id(id).to_owned());
    format!("{op}: HEAD {} ({at})", head_label(refs))
}

/// `switch NAME`; when NAME is no branch but names a commit, the refusal hints at `checkout`,
/// which detaches HEAD there.
fn switch(recorder: &Recorder, agent: &str, name: &str) -> Result<HeadMove, CliError> {
    let mut a_commit = false;
    let moved = with_agent(recorder, agent, |ops| {
        ops.switch(name).inspect_err(|error| {
            if let agentrail::Error::Context(ContextError::UnknownBranch { .. }) = error {
                a_commit = ops
                    .graph()
                    .is_ok_and(|graph| ops.resolve(&graph, name).is_ok());
            }
        })
    });
    moved.map_err(|error| match a_commit {
        true => error.with_hint(format!(
            "`agentrail checkout {}` detaches HEAD at that commit",
            one_line(name)
        )),
        false => error,
    })
}

/// Commits listed by the warning of a move that leaves commits behind; the rest are counted.
const LEFT_BEHIND_LISTED_MAX: usize = 4;

/// What a `switch` or `checkout` did, with the warning (on stderr, as a rewrite's) when the
/// detached HEAD it left reached commits no ref reaches now: gc will collect them once the
/// reflog lets go, so the hint names the branch that keeps them. `--json` lists their ids.
fn emit_head_move(json: bool, moved: &HeadMove) -> CliResult {
    if let Some(newest) = moved.left_behind.first() {
        eprint!("{}", left_behind_warning(&moved.left_behind));
        let them = if moved.left_behind.len() == 1 {
            "it"
        } else {
            "them"
        };
        eprintln!(
            "hint: `agentrail branch NAME {}` keeps {them}",
            short_id(&newest.id)
        );
    }
    let mut value = refs_json(&moved.refs);
    let ids: Vec<&str> = moved.left_behind.iter().map(|c| c.id.as_str()).collect();
    value["left_behind"] = json!(ids);
    emit(json, &value, || refs_moved_line(moved.op, &moved.refs))
}

/// `agentrail: warning: leaving N commits not on any branch: ...`, one commit on the line,
/// more listed under it, newest first.
fn left_behind_warning(commits: &[Commit]) -> String {
    let listed = |commit: &Commit| {
        let message = commit.message.lines().next().unwrap_or_default();
        format!("{} {}", short_id(&commit.id), one_line(message))
    };
    if let [commit] = commits {
        return format!(
            "agentrail: warning: leaving 1 commit not on any branch: {}
",
            listed(commit)
        );
    }
    let mut warning = format!(
        "agentrail: warning: leaving {} commits not on any branch:
",
        commits.len()
    );
    for commit in commits.iter().take(LEFT_BEHIND_LISTED_MAX) {
        warning += &format!(
            "  {}
",
            listed(commit)
        );
    }
    if commits.len() > LEFT_BEHIND_LISTED_MAX {
        let more = commits.len() - LEFT_BEHIND_LISTED_MAX;
        warning += &format!(
            "  ... and {more} more
"
        );
    }
    warning
}

fn emit_deleted(json: bool, deleted: &DeletedBranch) -> CliResult {
    let mut value = refs_json(&deleted.refs);
    value["deleted"] = json!(deleted.name);
    value["at"] = json!(deleted.at);
    emit(json, &value, || {
        format!(
            "deleted branch {} (was {})",
            one_line(&deleted.name),
            short_id(&deleted.at)
        )
    })
}

fn branch_list(recorder: &Recorder, agent: &str, json: bool) -> CliResult {
    let refs = recorder.load::<Graph>()?.state.refs(agent);
    emit(json, &refs_json(&refs), || {
        let mut lines = String::new();
        if let Head::Detached(id) = &refs.head {
            lines += &format!("* (detached at {})\n", short_id(id));
        }
        if refs.branches.is_empty() {
            lines += &format!("* {} (unborn)\n", head_label(&refs));
        }
        for (name, id) in &refs.branches {
            let mark = if refs.branch() == Some(name) {
                "*"
            } else {
                " "
            };
            lines += &format!("{mark} {} {}\n", one_line(name), short_id(id));
        }
        lines
    })
}

/// A block as `--json` shows it.
#[derive(serde::Serialize)]
pub(super) struct BlockJson<'a> {
    id: &'a str,
    kind: &'a str,
    message: &'a str,
    content: &'a str,
    tokens: u64,
    edited_by: Option<&'a str>,
}

/// The blocks of a context as `--json` shows them, borrowed: a context of 100,000 blocks is
/// written without a copy of its text.
pub(super) fn blocks_json(context: &Context) -> Vec<BlockJson<'_>> {
    context
        .blocks
        .iter()
        .map(|block| BlockJson {
            id: &block.id,
            kind: block.kind.as_str(),
            message: &block.message,
            content: &block.content,
            tokens: block.tokens,
            edited_by: block.edited_by.as_deref(),
        })
        .collect()
}

/// `context --json`.
#[derive(serde::Serialize)]
struct ContextJson<'a> {
    agent: &'a str,
    at: Option<&'a str>,
    blocks: Vec<BlockJson<'a>>,
    tokens: u64,
}

fn context(recorder: &Recorder, agent: &str, at: Option<&str>, json: bool) -> CliResult {
    let context = Agent::new(recorder, agent, None)
        .context(at)
        .map_err(context_error)?;
    let value = ContextJson {
        agent,
        at: context.at.as_deref(),
        blocks: blocks_json(&context),
        tokens: context.tokens,
    };
    emit(json, &value, || {
        agentrail::context::inspect::context_text(&context)
    })
}

pub(super) fn refs_line(refs: &Refs) -> String {
    let at = refs
        .head_commit()
        .map_or("unborn".to_owned(), |id| short_id(id).to_owned());
    format!("{}@{at}", head_label(refs))
}

/// What a ref move did to the branches other than HEAD's (which `refs_line` shows), as
/// ` (branch NAME created at ID, ...)`, or nothing: without it a `branch NAME` or `branch -d
/// NAME` line would read `main@ID -> main@ID`, naming neither the branch nor where it was.
fn other_branches_moved(before: &Refs, after: &Refs) -> String {
    let heads = [before.branch(), after.branch()];
    let names: BTreeSet<&String> = before
        .branches
        .keys()
        .chain(after.branches.keys())
        .collect();
    let changes: Vec<String> = names
        .into_iter()
        .filter(|name| !heads.contains(&Some(name.as_str())))
        .filter_map(|name| {
            let shown = one_line(name);
            match (before.branches.get(name), after.branches.get(name)) {
                (None, Some(at)) => Some(format!("branch {shown} created at {}", short_id(at))),
                (Some(at), None) => Some(format!("branch {shown} deleted at {}", short_id(at))),
                (Some(from), Some(to)) if from != to => Some(format!(
                    "branch {shown} moved from {} to {}",
                    short_id(from),
                    short_id(to)
                )),
                _ => None,
            }
        })
        .collect();
    match changes.is_empty() {
        true => String::new(),
        false => format!(" ({})", changes.join(", ")),
    }
}

fn reflog(recorder: &Recorder, agent: &str, json: bool) -> CliResult {
    let graph = recorder.load::<Graph>()?.state;
    let reflog = graph.reflog(agent);
    let moves: Vec<&RefMove> = reflog.iter().rev().collect();
    #[derive(serde::Serialize)]
    struct Reflog<'a> {
        agent: &'a str,
        moves: JsonSeq<'a, &'a RefMove, fn(&&RefMove) -> Json>,
    }
    let move_json: fn(&&RefMove) -> Json = |entry| {
        json!({
            "op": entry.op,
            "mode": entry.mode,
            "lsn": entry.lsn,
            "ts": agentrail::event::format_ts(entry.ts_micros),
            "before": refs_json(&entry.before),
            "after": refs_json(&entry.after),
        })
    };
    let value = Reflog {
        agent,
        moves: JsonSeq(&moves, move_json),
    };
    emit(json, &value, || {
        moves
            .iter()
            .map(|entry| {
                // An imported ref_update names its op and mode as it likes.
                let op = match &entry.mode {
                    Some(mode) => format!("{} --{}", one_line(&entry.op), one_line(mode)),
                    None => one_line(&entry.op).into_owned(),
                };
                format!(
                    "{} {op}: {} -> {}{}\n",
                    entry.lsn,
                    refs_line(&entry.before),
                    refs_line(&entry.after),
                    other_branches_moved(&entry.before, &entry.after)
                )
            })
            .collect()
    })
}

/// One commit as JSON, without its content.
pub fn commit_json(commit: &Commit) -> Json {
    json!({
        "id": commit.id,
        "parents": commit.parents,
        "kind": commit.kind.as_str(),
        "message": commit.message,
        "target": commit.target,
        "tokens": commit.tokens,
        "tokens_counted": commit.tokens_counted,
        "agent": commit.agent,
        "session": commit.session,
        "ts": agentrail::event::format_ts(commit.ts_micros),
        "lsn": commit.lsn,
        "links": commit.links,
    })
}

/// What a commit is, as the human output names it: `merge` for a commit of two or more
/// parents (stored with kind `append`, which `--json` keeps, beside the parents), else its kind.
pub(super) fn kind_label(commit: &Commit) -> &'static str {
    match commit.parents.len() {
        0 | 1 => commit.kind.as_str(),
        _ => "merge",
    }
}

/// How `log` lists context commits.
#[derive(Debug, Clone, Copy)]
pub struct LogStyle {
    pub graph: bool,
    pub oneline: bool,
    pub all: bool,
    /// At most this many commits.
    pub limit: Option<usize>,
}

/// `log --graph|--oneline|--all [-n N]`: the agent's commits reachable from HEAD (or from
/// every ref with `all`), newest first (by LSN), with each one's token cost. `--graph` lists
/// them in git's order for a graph instead (a branch's commits together, see
/// [`Graph::topo_order`]); `--json` keeps the LSN order, the graph being for people.
pub fn log(recorder: &Recorder, agent: &str, style: LogStyle, json: bool) -> CliResult {
    let graph = recorder.load::<Graph>()?.state;
    let refs = graph.refs(agent);
    let tips: Vec<&str> = if style.all {
        refs.pointed_at().collect()
    } else {
        refs.head_commit().into_iter().collect()
    };
    if json {
        let commits = graph.newest_first(&tips, style.limit);
        #[derive(serde::Serialize)]
        struct Log<'a> {
            agent: &'a str,
            commits: JsonSeq<'a, &'a Commit, fn(&&Commit) -> Json>,
        }
        let to_json: fn(&&Commit) -> Json = |commit| commit_json(commit);
        let commits = JsonSeq(&commits, to_json);
        return emit(json, &Log { agent, commits }, String::new);
    }
    emit(false, &(), || {
        if !style.graph {
            let commits = graph.newest_first(&tips, style.limit);
            let between = if style.oneline { "" } else { "\n" };
            return commits
                .iter()
                .map(|commit| log_entry(commit, &refs, style) + between)
                .collect();
        }
        let commits = graph.topo_order(&tips, style.limit);
        let entries = if style.oneline {
            Entries::OneLine
        } else {
            Entries::BlankLineBetween
        };
        let mut drawn = String::new();
        for (rows, commit) in graph_rows(&commits, entries).iter().zip(&commits) {
            if let Some(separator) = &rows.separator {
                drawn += separator.trim_end();
                drawn += "\n";
            }
            drawn += &rows.draw(&log_entry(commit, &refs, style));
        }
        drawn
    })
}

/// The refs at a commit, as `(HEAD -> main, topic)`, or nothing.
fn decorations(id: &str, refs: &Refs) -> String {
    let mut names = Vec::new();
    if let Head::Detached(head) = &refs.head {
        if head == id {
            names.push("HEAD".to_owned());
        }
    }
    // HEAD's branch first, as git's `log --decorate` lists it: `(HEAD -> topic, main)`.
    let at_id = refs.branches.iter().filter(|(_, at)| *at == id);
    let (head, others): (Vec<_>, Vec<_>) = at_id.partition(|(name, _)| refs.branch() == Some(name));
    for (name, _) in head {
        names.push(format!("HEAD -> {}", one_line(name)));
    }
    names.extend(
        others
            .into_iter()
            .map(|(name, _)| one_line(name).into_owned()),
    );
    if names.is_empty() {
        String::new()
    } else {
        format!(" ({})", names.join(", "))
    }
}

/// A commit as `log` lists it: one line with `oneline`, else a few lines (a blank one comes
/// between two).
fn log_entry(commit: &Commit, refs: &Refs, style: LogStyle) -> String {
    let decorations = decorations(&commit.id, refs);
    let target = commit
        .target
        .as_deref()
        .map_or(String::new(), |target| format!(" of {}", short_id(target)));
    if style.oneline {
        // A commit whose message is gone (collected) ends at its token count.
        let line = format!(
            "{}{decorations} {}{target} {} {}",
            short_id(&commit.id),
            kind_label(commit),
            super::counted(commit.tokens, "token"),
            one_line(commit.message.lines().next().unwrap_or_default())
        );
        return format!("{}\n", line.trim_end());
    }
    let mut entry = format!("commit {}{decorations}\n", commit.id);
    if commit.parents.len() > 1 {
        let parents: Vec<&str> = commit.parents.iter().map(|id| short_id(id)).collect();
        entry += &format!("merge: {}\n", parents.join(" "));
    }
    entry += &format!(
        "{}{target}, {}, {}\n",
        kind_label(commit),
        super::counted(commit.tokens, "token"),
        agentrail::event::format_ts(commit.ts_micros)
    );
    for line in commit.message.lines() {
        entry += &format!("    {}\n", one_line(line));
    }
    entry
}

/// The lines `show` prints of a commit before its message: its id; its kind, tokens, agent,
/// session (when it has one) and time; then one line per link, `NAME: VALUE`, a value that
/// names a commit of `graph` shortened as ids are elsewhere.
fn commit_header(graph: &Graph, commit: &Commit) -> String {
    let session = commit.session.as_deref().map_or(String::new(), |session| {
        format!(", session {}", one_line(session))
    });
    let mut header = format!(
        "commit {}\n{}, {}, agent {}{session}, {}\n",
        commit.id,
        kind_label(commit),
        super::counted(commit.tokens, "token"),
        one_line(&commit.agent),
        agentrail::event::format_ts(commit.ts_micros),
    );
    for (name, value) in &commit.links {
        let shown = match graph.commit(value) {
            Some(_) => short_id(value).into(),
            None => one_line(value),
        };
        header += &format!("{}: {shown}\n", one_line(name));
    }
    header
}

/// `show COMMIT`: one commit with its content, or that gc or purge removed it.
pub fn show_commit(recorder: &Recorder, graph: &Graph, commit: &Commit, json: bool) -> CliResult {
    let mut value = commit_json(commit);
    let header = commit_header(graph, commit);
    if graph.is_removed(&commit.id) {
        value["collected"] = Json::Bool(true);
        return emit(json, &value, || {
            format!("{header}    collected by gc: its content and message were removed\n")
        });
    }
    let content = content_at(recorder.journal(), commit)?;
    value["content"] = Json::String(content.clone());
    emit(json, &value, || {
        // Every line of the message indented, as `log` shows it (and git shows a message).
        let message: String = commit
            .message
            .lines()
            .map(|line| format!("    {}\n", one_line(line)))
            .collect();
        format!("{header}{message}\n{content}")
    })
}

/// Share of the budget from which `status` warns (over the budget, it says so instead).
const BUDGET_WARN_PERCENT: u64 = 80;

/// `status`'s context part for `agent`: `None` when the agent has no refs at all.
pub fn status_context(
    recorder: &Recorder,
    agent: &str,
) -> Result<Option<(Json, String)>, CliError> {
    let graph = recorder.load::<Graph>()?.state;
    if !graph.has_agent(agent) {
        return Ok(None);
    }
    let refs = graph.refs(agent);
    let context = agentrail::context::materialize::size_at(&graph, refs.head_commit());
    let budget = recorder.workspace().config().context.budget_tokens;
    // Which tokens the tokenizer counted, and which the commits gave.
    let counted = context.tokens_counted;
    let warning = budget.and_then(|budget| budget_warning(context.tokens, budget));
    let value = json!({
        "agent": agent,
        "branch": refs.branch(),
        "head": refs.head_commit(),
        "tokens": context.tokens,
        "tokens_counted": counted,
        "tokenizer": agentrail::context::tokens::TOKENIZER,
        "budget_tokens": budget,
        "warning": warning,
    });
    let head = refs
        .head_commit()
        .map_or("unborn".to_owned(), |id| short_id(id).to_owned());
    let mut line = format!(
        "context: agent {}, {} at {head}, {}",
        one_line(agent),
        head_label(&refs),
        super::counted(context.tokens, "token")
    );
    if let Some(budget) = budget {
        line += &format!(" of {budget}");
    }
    let tokenizer = agentrail::context::tokens::TOKENIZER;
    if counted > 0 && counted == context.tokens {
        line += &format!(" (counted with {tokenizer})");
    } else if counted > 0 {
        line += &format!(" ({counted} counted with {tokenizer}, the rest given)");
    }
    if let Some(warning) = &warning {
        line += &format!("\nwarning: {warning}");
    }
    Ok(Some((value, line)))
}

/// The warning from [`BUDGET_WARN_PERCENT`] of the budget on, and once the context is over
/// it: a context of exactly its budget is at 100% of it, not over it.
fn budget_warning(tokens: u64, budget: u64) -> Option<String> {
    if tokens > budget {
        return Some(match budget {
            0 => "the context is over its budget of 0 tokens".to_owned(),
            _ => format!(
                "the context is over its budget ({}% of {})",
                tokens.saturating_mul(100) / budget,
                super::counted(budget, "token")
            ),
        });
    }
    let percent = tokens.saturating_mul(100) / budget.max(1);
    (percent >= BUDGET_WARN_PERCENT).then(|| {
        let budget = super::counted(budget, "token");
        format!("the context is at {percent}% of its budget of {budget}")
    })
}
