//! Context version control: git for an agent's context window. Each agent has a DAG of
//! commits (blocks of context), named branches and a HEAD; every change is an event in the
//! journal, and the graph is the [`Graph`] projection rebuilt from them. [`ops`] validates an
//! operation against the graph and appends its events in one batch; [`materialize()`] reads the
//! blocks reachable from a commit back from the journal, in order, edits applied: the prompt an
//! agent resumes from.
//!
//! Two event types carry it (`format-spec/events.md`): `commit` (one block, and the move of
//! HEAD onto it unless `move_head` is false) and `ref_update` (an agent's full ref state after
//! an operation). Architecture invariant: one event is one atomic ref change, so a crash leaves
//! the refs as before or after an operation, never in between; operations that write several
//! commits write them with `move_head: false` and then one `ref_update`.

pub mod gc;
pub mod graph;
pub mod id;
pub mod inspect;
pub mod lanes;
pub mod lock;
pub mod materialize;
pub mod merge;
pub mod ops;
pub mod revision;
pub mod rewrite;
pub mod subagent;
pub mod tokens;

pub use graph::{Commit, Graph, RefMove};
pub use id::{commit_id, CommitFields, COMMIT_PREFIX_HEX_DIGITS_MIN};
pub use materialize::{materialize, Block, Context};
pub use merge::{
    Conflict, ConflictKind, ConflictSide, Generated, LlmUsage, MergeOutcome, Resolver, Unrelated,
};
pub use ops::{Agent, CommitRequest, DeletedBranch, HeadMove, NewCommit, RefChange, ResetMode};
pub use rewrite::{CompressInput, EditBeforeTarget, Rewrite};

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The agent a context belongs to when none is named.
pub const DEFAULT_AGENT: &str = "main";
/// The branch a new agent starts on, unborn until its first commit.
pub const DEFAULT_BRANCH: &str = "main";

/// What a commit's content does to the context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CommitKind {
    /// A new block at the end.
    Append,
    /// Replaces its target's content in place.
    Edit,
    /// A block compression must keep verbatim.
    Pin,
}

impl CommitKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CommitKind::Append => "append",
            CommitKind::Edit => "edit",
            CommitKind::Pin => "pin",
        }
    }

    pub fn parse(text: &str) -> Option<CommitKind> {
        [CommitKind::Append, CommitKind::Edit, CommitKind::Pin]
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }
}

/// Where an agent's HEAD is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Head {
    /// On a branch, which may be unborn (named, but with no commit yet).
    Branch(String),
    /// On a commit, outside any branch.
    Detached(String),
}

/// An agent's refs: its HEAD and its branches (name to full commit id).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Refs {
    pub head: Head,
    pub branches: BTreeMap<String, String>,
}

impl Default for Refs {
    /// A new agent's refs: on the unborn branch `main`.
    fn default() -> Refs {
        Refs {
            head: Head::Branch(DEFAULT_BRANCH.to_owned()),
            branches: BTreeMap::new(),
        }
    }
}

impl Refs {
    /// The commit HEAD points at; `None` on an unborn branch.
    pub fn head_commit(&self) -> Option<&str> {
        match &self.head {
            Head::Branch(name) => self.branches.get(name).map(String::as_str),
            Head::Detached(id) => Some(id),
        }
    }

    /// The branch HEAD is on; `None` when detached.
    pub fn branch(&self) -> Option<&str> {
        match &self.head {
            Head::Branch(name) => Some(name),
            Head::Detached(_) => None,
        }
    }

    /// Moves what HEAD points at (its branch, or the detached HEAD itself) to `id`.
    pub fn move_head_to(&mut self, id: &str) {
        match &mut self.head {
            Head::Branch(name) => {
                self.branches.insert(name.clone(), id.to_owned());
            }
            Head::Detached(detached) => *detached = id.to_owned(),
        }
    }

    /// Every commit a ref points at.
    pub fn pointed_at(&self) -> impl Iterator<Item = &str> {
        let detached = match &self.head {
            Head::Detached(id) => Some(id.as_str()),
            Head::Branch(_) => None,
        };
        self.branches.values().map(String::as_str).chain(detached)
    }
}

/// "no parent", "1 parent", "2 parents".
fn parent_count(count: usize) -> String {
    match count {
        0 => "no parent".to_owned(),
        1 => "only 1 parent".to_owned(),
        count => format!("only {count} parents"),
    }
}

/// Whose refs a busy lock guards, for [`ContextError::RefsBusy`]: an agent's lock file is
/// named by a hash of its name, which says nothing to a person.
fn busy_refs(agent: Option<&str>) -> String {
    match agent {
        Some(agent) => format!("the refs of agent \"{agent}\""),
        None => "every agent's refs".to_owned(),
    }
}

/// Why a context operation cannot be done. Nothing was recorded. A name or a revision is
/// quoted as given, control characters and all: showing them safely is the caller's part (the
/// CLI shows them as it shows recorded text).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ContextError {
    #[error(
        "commit id prefix \"{prefix}\" must be at least {COMMIT_PREFIX_HEX_DIGITS_MIN} hex digits"
    )]
    PrefixTooShort { prefix: String },
    /// Every revision is looked up as a branch first, so the text names no branch either.
    #[error(
        "no branch \"{text}\", and it is not a commit id prefix: only the hex digits 0-9 and a-f"
    )]
    NotHex { text: String },
    #[error("no commit {prefix} in this journal")]
    UnknownCommit { prefix: String },
    #[error("commit id prefix {prefix} is ambiguous: it matches {}", .candidates.join(", "))]
    AmbiguousPrefix {
        prefix: String,
        candidates: Vec<String>,
    },
    #[error("commit {id} belongs to agent \"{owner}\", not \"{agent}\"")]
    OtherAgent {
        id: String,
        owner: String,
        agent: String,
    },
    #[error("\"{rev}\" is not a revision: {reason}")]
    BadRevision { rev: String, reason: String },
    #[error("revision \"{rev}\": agent \"{agent}\" has no commit yet (HEAD is on the unborn branch \"{branch}\")")]
    UnbornHead {
        rev: String,
        agent: String,
        branch: String,
    },
    #[error("revision \"{rev}\" walks past commit {root}, a root: it has no parent")]
    PastRoot { rev: String, root: String },
    #[error("revision \"{rev}\" asks for parent {parent} of commit {commit}, which has {}", parent_count(*.parents))]
    NoSuchParent {
        rev: String,
        commit: String,
        parent: u32,
        parents: usize,
    },
    #[error("agent \"{agent}\" has no branch \"{name}\"")]
    UnknownBranch { agent: String, name: String },
    #[error("agent \"{agent}\" already has a branch \"{name}\"")]
    BranchExists { agent: String, name: String },
    #[error("cannot delete branch \"{name}\": agent \"{agent}\"'s HEAD is on it (switch to another branch first)")]
    DeleteCurrentBranch { agent: String, name: String },
    #[error("branch \"{name}\" of agent \"{agent}\" (at {at}) is not reachable from HEAD or any other branch, so deleting it would leave its commits to gc; delete it with force to do so anyway")]
    BranchNotMerged {
        agent: String,
        name: String,
        at: String,
    },
    #[error("\"{name}\" is not a branch name: 1 to 200 bytes, no spaces or control characters, no \"..\", '~' or '^', not \"HEAD\", not starting with '-'")]
    BadBranchName { name: String },
    #[error("agent \"{agent}\" has no commit yet (HEAD is on the unborn branch \"{branch}\")")]
    Unborn { agent: String, branch: String },
    #[error("the edit's target {target} is not in the context at HEAD")]
    TargetNotInContext { target: String },
    #[error("the edit's target {target} is a merge commit, which adds no block to edit")]
    TargetIsMerge { target: String },
    #[error("{kind} commits take no target: only an edit replaces another commit's content")]
    TargetWithoutEdit { kind: String },
    #[error("agent \"{agent}\" has no ref move to undo")]
    NothingToUndo { agent: String },
    #[error("commit {id} names the id it must have wrong (it hashes to {computed})")]
    IdMismatch { id: String, computed: String },
    #[error("\"{name}\" is not a name for a new agent: 1 to 200 bytes, no spaces or control characters, not starting with '-'")]
    BadAgentName { name: String },
    #[error("agent \"{agent}\" cannot spawn itself")]
    SpawnItself { agent: String },
    #[error("agent \"{agent}\" already has a context; a sub-agent must be a new agent")]
    AgentExists { agent: String },
    #[error("no agent \"{agent}\" in this journal")]
    UnknownAgent { agent: String },
    #[error("agent \"{child}\" was not spawned by agent \"{parent}\"")]
    NotAChild { parent: String, child: String },
    #[error("commit {id} is neither a spawn nor a collapse: it links to no sub-agent")]
    NotASubagentCommit { id: String },
    #[error("the summarizer of agent \"{child}\" failed: {reason}")]
    SummarizerFailed { child: String, reason: String },
    #[error("the summary of agent \"{child}\" is empty")]
    EmptySummary { child: String },
    #[error("agent \"{child}\" has not committed since commit {commit} collapsed its HEAD {child_head}; nothing was recorded")]
    AlreadyCollapsed {
        child: String,
        child_head: String,
        commit: String,
    },
    #[error("the commit message is empty")]
    EmptyMessage,
    #[error("the content of the {kind} commit is empty: it would add a block that shows nothing")]
    EmptyContent { kind: String },
    #[error("the text to blame is empty")]
    EmptyBlameText,
    #[error("the task given to sub-agent {child} is empty: its context would start with nothing")]
    EmptyTask { child: String },
    #[error("LSN {lsn} is past the end of the journal (its last LSN is {last})")]
    LsnBeyondJournal { lsn: u64, last: u64 },
    #[error("merging {theirs} conflicts: {}; nothing was recorded", .conflicts.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    MergeConflicts {
        theirs: String,
        conflicts: Vec<merge::Conflict>,
    },
    #[error("refusing to merge unrelated histories: HEAD and {theirs} have no commit in common (as after a compress or reorder of ..TO), so the merge would bring back every block of {theirs}'s line; nothing was recorded")]
    UnrelatedHistories { theirs: String },
    #[error("rebasing onto {onto} conflicts: {}; nothing was recorded", .conflicts.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    RebaseConflicts {
        onto: String,
        conflicts: Vec<merge::Conflict>,
    },
    #[error("the {helper} failed: {reason}; nothing was recorded")]
    HelperFailed { helper: String, reason: String },
    #[error("\"{range}\" is not a range of HEAD's first-parent line: {reason}")]
    BadRange { range: String, reason: String },
    #[error("commit {id}'s content was removed by gc or purge, so it cannot be replayed; nothing was recorded")]
    ContentRemoved { id: String },
    #[error("block {block} would not be in the context as it is now: put each edit after the commits it edits, and each merge resolution after both sides' commits; nothing was recorded")]
    ReorderChangesBlock { block: String },
    #[error("the copy of commit {commit} would add a block the context does not hold now: put each merge resolution after the commits it resolves; nothing was recorded")]
    ReorderAddsBlock { commit: String },
    #[error("the result would lose block {block}: a block of the other side that came in with the same content and was edited after would be kept as one with it, showing {} instead; nothing was recorded", shown_instead.as_ref().map_or_else(|| "that side's content".to_owned(), |id| format!("the content of {id}")))]
    LosesBlock {
        block: String,
        /// The commit whose content the merged block would show.
        shown_instead: Option<String>,
    },
    #[error("--order: {reason}")]
    BadOrder { reason: String },
    #[error("the edit {edit} would come before its target {target} (with force it keeps its old target and changes nothing)")]
    EditBeforeTarget { edit: String, target: String },
    #[error("the edit {edit} targets {target}, which the compression would cut from it: compress a range holding both or neither")]
    CompressCutsEdit { edit: String, target: String },
    #[error("the pinned block {pin} would not survive the compression byte for byte; nothing was recorded")]
    PinLost { pin: String },
    #[error("another operation on {} holds {} and did not finish within {waited_ms} ms; nothing was recorded", busy_refs(.agent.as_deref()), .lock.display())]
    RefsBusy {
        /// The agent whose refs are locked; `None` for the lock of every agent's refs (which
        /// `gc` and `purge` hold alone, and every other operation shares).
        agent: Option<String>,
        lock: std::path::PathBuf,
        waited_ms: u64,
    },
}
