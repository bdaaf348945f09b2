//! The context operations of one agent: each loads the graph, checks everything it can before
//! writing (names, prefixes, targets, that HEAD is born), builds its events and appends them
//! as one batch, so an operation that fails records nothing. A commit is one `commit` event
//! (which also moves HEAD); every other ref change is one `ref_update` event carrying the
//! agent's full refs after it, so the refs after a crash are those before or after.
//!
//! Operations on one agent are serialized across threads and processes: each holds the
//! agent's ref lock ([`super::lock`]) from before it loads the graph until its events are
//! acknowledged, so none builds on refs another one is moving.

use super::graph::{refs_to_json, Commit, Draft, Graph};
use super::lock::{RefLock, REF_LOCK_WAIT_MAX};
use super::materialize::{materialize, Context};
use super::revision::{self, IdScope};
use super::tokens::{count_tokens, TOKENIZER};
use super::{CommitKind, ContextError, Head, Refs};
use crate::error::Result;
use crate::event::schema::is_branch_name;
use crate::event::{Event, EventType};
use crate::recorder::Recorder;
use serde_json::{json, Map, Value as Json};
use std::collections::BTreeMap;
use std::time::Duration;

/// What separates FROM and TO in a range (`compress`, `reorder`), so no new branch name holds it.
pub const RANGE_SEPARATOR: &str = "..";

/// What `commit` records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitRequest {
    pub kind: CommitKind,
    pub message: String,
    pub content: String,
    /// For an edit: the commit it replaces (a branch name or an id prefix).
    pub target: Option<String>,
    /// The block's tokens, when the caller knows them; else the tokenizer counts them.
    pub tokens: Option<u64>,
}

/// A commit an operation writes, before its id: see [`Agent::commit_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCommit {
    pub kind: CommitKind,
    pub message: String,
    pub content: String,
    /// Full ids.
    pub parents: Vec<String>,
    /// For an edit: the full id of the commit it replaces.
    pub target: Option<String>,
    /// The block's tokens, when known; else the tokenizer counts them.
    pub tokens: Option<u64>,
    /// Named pointers the id covers (`format-spec/events.md`, section 7).
    pub links: BTreeMap<String, String>,
}

/// The refs an operation leaves: one `ref_update`, one reflog entry per agent it moves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefChange {
    /// What moved them: `merge`, `rebase`, `spawn`, ...
    pub op: String,
    pub mode: Option<ResetMode>,
    /// The operating agent's refs after the operation.
    pub refs: Refs,
    /// Other agents' refs after it, moved by the same event (a spawn starts its child).
    pub also: BTreeMap<String, Refs>,
}

/// The `op` of the `ref_update` that deletes a branch.
pub const DELETE_BRANCH_OP: &str = "delete_branch";

/// What `delete_branch` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletedBranch {
    pub name: String,
    /// The full id the branch pointed at.
    pub at: String,
    /// The agent's refs after the deletion.
    pub refs: Refs,
}

/// What `switch` or `checkout` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadMove {
    /// The op of the `ref_update` recorded: `switch` when HEAD went onto a branch, `checkout`
    /// when it was detached.
    pub op: &'static str,
    /// The agent's refs after the move.
    pub refs: Refs,
    /// The commits the detached HEAD reached before the move and no ref reaches after it,
    /// newest first (the old HEAD first): kept by the reflog only, and so collected by a `gc`
    /// once its entries are older than the retention, as git warns. Empty when HEAD was on a
    /// branch, which still holds its commits.
    pub left_behind: Vec<Commit>,
}

/// True for a name `branch` may create: a branch name (`is_branch_name`) that holds none of
/// the revision syntax (`..` of ranges, `~` and `^` of steps) and is not `HEAD`, so every
/// new branch can be named in a revision.
pub fn is_new_branch_name(name: &str) -> bool {
    is_branch_name(name)
        && !name.contains(RANGE_SEPARATOR)
        && !name.contains(['~', '^'])
        && name != revision::HEAD
}

/// How far `reset` goes. Both move the ref; `hard` says the commits left behind may be
/// collected (by a later `gc`), `soft` that they stay reachable from the reflog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetMode {
    Soft,
    Hard,
}

impl ResetMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ResetMode::Soft => "soft",
            ResetMode::Hard => "hard",
        }
    }
}

/// One agent's context, operated on through a recorder.
pub struct Agent<'r> {
    recorder: &'r Recorder,
    name: String,
    session: Option<String>,
    /// How long an operation waits for another one holding the same refs.
    lock_wait: Duration,
}

/// Refuses a commit with no message, or an append or pin with no content: an empty
/// `--file` or stdin is nearly always a mistake, and the block it made would show nothing.
/// An edit may empty its target's block: that is how a block is blanked without a reset.
fn check_request(request: &CommitRequest) -> Result<(), ContextError> {
    if request.message.trim().is_empty() {
        return Err(ContextError::EmptyMessage);
    }
    if request.kind != CommitKind::Edit && request.content.trim().is_empty() {
        let kind = request.kind.as_str().to_owned();
        return Err(ContextError::EmptyContent { kind });
    }
    Ok(())
}

impl<'r> Agent<'r> {
    /// The context of agent `name`; commits record `session` when given.
    pub fn new(
        recorder: &'r Recorder,
        name: impl Into<String>,
        session: Option<String>,
    ) -> Agent<'r> {
        Agent {
            recorder,
            name: name.into(),
            session,
            lock_wait: REF_LOCK_WAIT_MAX,
        }
    }

    /// The same agent, waiting at most `wait` for the refs an operation needs.
    pub fn with_lock_wait(mut self, wait: Duration) -> Agent<'r> {
        self.lock_wait = wait;
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The recorder this agent's operations append through.
    pub fn recorder(&self) -> &'r Recorder {
        self.recorder
    }

    /// The session this agent's commits record, if any.
    pub fn session(&self) -> Option<&str> {
        self.session.as_deref()
    }

    /// The graph, brought up to date from its checkpoint.
    pub fn graph(&self) -> Result<Graph> {
        Ok(self.recorder.load::<Graph>()?.state)
    }

    /// Takes the ref locks of this agent and of `others`, then loads the graph with every
    /// event other processes appended before: what an operation decides from. Its events
    /// must be recorded before the lock is dropped.
    pub fn lock_graph(&self, others: &[&str]) -> Result<(RefLock, Graph)> {
        let agents = std::iter::once(self.name.as_str()).chain(others.iter().copied());
        let lock = RefLock::agents(
            &self.recorder.workspace().locks_dir(),
            agents,
            self.lock_wait,
        )?;
        self.recorder.journal().refresh()?;
        Ok((lock, self.graph()?))
    }

    /// The full id `rev` names: a revision ([`super::revision`]) whose base is HEAD, one of
    /// the agent's branches, else a commit id prefix of one of the agent's commits, followed
    /// by any `~N` and `^N` steps.
    pub fn resolve(&self, graph: &Graph, rev: &str) -> Result<String, ContextError> {
        revision::resolve(graph, &self.name, rev, IdScope::Agent)
    }

    /// Refuses to start the context of a new agent whose name is not one a sub-agent could
    /// have ([`is_branch_name`]: no blanks or control characters, no leading `-`), so every
    /// command names agents alike. An agent already in the graph (an import may bring any
    /// name) keeps working.
    pub(crate) fn check_new_agent(&self, graph: &Graph) -> Result<(), ContextError> {
        match graph.has_agent(&self.name) || is_branch_name(&self.name) {
            true => Ok(()),
            false => Err(ContextError::BadAgentName {
                name: self.name.clone(),
            }),
        }
    }

    /// Records a block on HEAD and moves HEAD (its branch, or the detached HEAD) onto it.
    pub fn commit(&self, request: CommitRequest) -> Result<Commit> {
        check_request(&request)?;
        let (lock, graph) = self.lock_graph(&[])?;
        self.check_new_agent(&graph)?;
        let parents: Vec<String> = graph
            .refs(&self.name)
            .head_commit()
            .map(str::to_owned)
            .into_iter()
            .collect();
        let target = match &request.target {
            Some(_) if request.kind != CommitKind::Edit => {
                return Err(ContextError::TargetWithoutEdit {
                    kind: request.kind.as_str().to_owned(),
                }
                .into())
            }
            Some(rev) => Some(self.target_in_context(&graph, rev, parents.first())?),
            None => None,
        };
        let new = NewCommit {
            kind: request.kind,
            message: request.message,
            content: request.content,
            parents,
            target,
            tokens: request.tokens,
            links: BTreeMap::new(),
        };
        let (event, commit) = self.commit_event(new, true)?;
        assert!(
            lock.covers(&self.name),
            "commit without its agent's ref lock"
        );
        let lsn = self.recorder.record(event)?;
        drop(lock);
        Ok(Commit { lsn, ..commit })
    }

    /// The event of a new commit of this agent, redacted, with its `tokens` (counted when not
    /// given) and `id`, and the commit it describes (LSN 0 until recorded). With `move_head`
    /// false the event adds the commit without moving any ref, for operations that write
    /// several commits and then one `ref_update` (see [`Agent::record_op`]).
    pub fn commit_event(&self, new: NewCommit, move_head: bool) -> Result<(Event, Commit)> {
        let mut data = Map::new();
        data.insert("kind".into(), new.kind.as_str().into());
        data.insert("message".into(), new.message.into());
        data.insert("content".into(), new.content.into());
        data.insert("parents".into(), json!(new.parents));
        if let Some(target) = &new.target {
            data.insert("target".into(), target.clone().into());
        }
        if !move_head {
            data.insert("move_head".into(), false.into());
        }
        if !new.links.is_empty() {
            data.insert("links".into(), json!(new.links));
        }
        let mut event = Event::new(
            EventType::Commit,
            self.session.clone(),
            Some(self.name.clone()),
            data,
        )?;
        // The id covers the content as stored, so it is computed after redaction, which is
        // idempotent: the recorder's second pass changes nothing.
        self.recorder.redactor()?.redact_event(&mut event)?;
        let links = links_of(&event);
        let commit = self.stamp(
            &mut event,
            new.tokens,
            new.parents,
            new.kind,
            new.target,
            links,
        );
        Ok((event, commit))
    }

    /// Adds `tokens` and `id` to a redacted commit event; the commit it describes.
    fn stamp(
        &self,
        event: &mut Event,
        tokens: Option<u64>,
        parents: Vec<String>,
        kind: CommitKind,
        target: Option<String>,
        links: BTreeMap<String, String>,
    ) -> Commit {
        let counted =
            tokens.unwrap_or_else(|| count_tokens(event.text("content").unwrap_or_default()));
        let commit = Draft {
            parents,
            kind,
            content: event.text("content").unwrap_or_default(),
            message: event.text("message").unwrap_or_default().to_owned(),
            target,
            tokens: counted,
            tokens_counted: tokens.is_none(),
            agent: event.agent.clone().unwrap_or_else(|| self.name.clone()),
            links,
        }
        .commit(event, 0);
        event.data.insert("tokens".into(), counted.into());
        if tokens.is_none() {
            event.data.insert("tokenizer".into(), TOKENIZER.into());
        }
        event.data.insert("id".into(), commit.id.clone().into());
        commit
    }

    /// Records an operation that writes several commits: `commits` (built by
    /// [`Agent::commit_event`] with `move_head` false), then one `ref_update` carrying this
    /// agent's refs after the operation and those of every agent in `also`, appended as one
    /// batch. A crash leaves the refs as before (the commits are there, unreferenced) or after.
    /// `lock` must cover every agent whose refs change (see [`Agent::lock_graph`]). Returns
    /// the commits with their LSNs.
    pub fn record_op(
        &self,
        lock: &RefLock,
        change: RefChange,
        commits: Vec<(Event, Commit)>,
    ) -> Result<Vec<Commit>> {
        self.record_with(lock, change, commits, Vec::new())
    }

    /// [`Agent::record_op`] with `also_events` between the commits and the `ref_update`.
    pub(crate) fn record_with(
        &self,
        lock: &RefLock,
        change: RefChange,
        commits: Vec<(Event, Commit)>,
        also_events: Vec<Event>,
    ) -> Result<Vec<Commit>> {
        let agents = std::iter::once(&self.name).chain(change.also.keys());
        for agent in agents {
            assert!(
                lock.covers(agent),
                "ref change of {agent:?} without its lock"
            );
        }
        let (mut events, mut written): (Vec<Event>, Vec<Commit>) = commits.into_iter().unzip();
        events.extend(also_events);
        events.push(self.ref_update_event(&change)?);
        let lsns = self.recorder.record_all(events)?;
        for (commit, lsn) in written.iter_mut().zip(lsns) {
            commit.lsn = lsn;
        }
        Ok(written)
    }

    /// The full id of an edit's target, which must be in the context at `head` and bring a
    /// block (a merge commit brings none).
    fn target_in_context(&self, graph: &Graph, rev: &str, head: Option<&String>) -> Result<String> {
        let target = self.resolve(graph, rev)?;
        if graph
            .commit(&target)
            .is_some_and(|commit| commit.parents.len() > 1)
        {
            return Err(ContextError::TargetIsMerge { target }.into());
        }
        match head {
            Some(head) if graph.is_ancestor(&target, head) => Ok(target),
            _ => Err(ContextError::TargetNotInContext { target }.into()),
        }
    }

    /// Creates branch `name` at `at` (a branch or a commit), else at HEAD. HEAD stays.
    pub fn branch(&self, name: &str, at: Option<&str>) -> Result<Refs> {
        let (lock, graph) = self.lock_graph(&[])?;
        let mut refs = graph.refs(&self.name);
        if !is_new_branch_name(name) {
            return Err(ContextError::BadBranchName {
                name: name.to_owned(),
            }
            .into());
        }
        if refs.branches.contains_key(name) {
            return Err(ContextError::BranchExists {
                agent: self.name.clone(),
                name: name.to_owned(),
            }
            .into());
        }
        let id = match at {
            Some(rev) => self.resolve(&graph, rev)?,
            None => self.head_commit(&refs)?,
        };
        refs.branches.insert(name.to_owned(), id);
        self.update_refs(&lock, "branch", None, refs)
    }

    /// Deletes branch `name`, which HEAD must not be on. Without `force`, refuses a branch
    /// whose commit neither HEAD nor another branch reaches, as git's `branch -d` does: its
    /// commits would be reachable only from the reflog, and so collected by a later gc. The
    /// refs before the deletion stay in the reflog, so `undo` brings the branch back.
    pub fn delete_branch(&self, name: &str, force: bool) -> Result<DeletedBranch> {
        let (lock, graph) = self.lock_graph(&[])?;
        let mut refs = graph.refs(&self.name);
        if refs.branch() == Some(name) {
            let agent = self.name.clone();
            let name = name.to_owned();
            return Err(ContextError::DeleteCurrentBranch { agent, name }.into());
        }
        let at = refs
            .branches
            .remove(name)
            .ok_or_else(|| ContextError::UnknownBranch {
                agent: self.name.clone(),
                name: name.to_owned(),
            })?;
        let reached = |tip: &str| graph.is_ancestor(&at, tip);
        if !force && !refs.pointed_at().any(reached) {
            return Err(ContextError::BranchNotMerged {
                agent: self.name.clone(),
                name: name.to_owned(),
                at: super::id::short_id(&at).to_owned(),
            }
            .into());
        }
        let refs = self.update_refs(&lock, DELETE_BRANCH_OP, None, refs)?;
        Ok(DeletedBranch {
            name: name.to_owned(),
            at,
            refs,
        })
    }

    /// Puts HEAD on branch `name`.
    pub fn switch(&self, name: &str) -> Result<HeadMove> {
        let (lock, graph) = self.lock_graph(&[])?;
        if !graph.refs(&self.name).branches.contains_key(name) {
            return Err(ContextError::UnknownBranch {
                agent: self.name.clone(),
                name: name.to_owned(),
            }
            .into());
        }
        self.move_head(&lock, &graph, Head::Branch(name.to_owned()))
    }

    /// Puts HEAD on branch `rev` when that is exactly the name of one of the agent's branches,
    /// as git's `checkout BRANCH` does; else detaches HEAD at the commit `rev` names
    /// (`main~0` detaches at main's commit).
    pub fn checkout(&self, rev: &str) -> Result<HeadMove> {
        let (lock, graph) = self.lock_graph(&[])?;
        let refs = graph.refs(&self.name);
        let head = match rev != revision::HEAD && refs.branches.contains_key(rev) {
            true => Head::Branch(rev.to_owned()),
            false => Head::Detached(self.resolve(&graph, rev)?),
        };
        self.move_head(&lock, &graph, head)
    }

    /// Records HEAD moved to `head` (a `switch` onto a branch, a `checkout` detached), with
    /// the commits the old detached HEAD leaves behind.
    fn move_head(&self, lock: &RefLock, graph: &Graph, head: Head) -> Result<HeadMove> {
        let before = graph.refs(&self.name);
        let op = match head {
            Head::Branch(_) => "switch",
            Head::Detached(_) => "checkout",
        };
        let mut refs = before.clone();
        refs.head = head;
        let left_behind = match &before.head {
            Head::Detached(old) => {
                let kept: Vec<&str> = refs.pointed_at().collect();
                let left = graph.reachable_only_from(old, &kept);
                left.into_iter().cloned().collect()
            }
            Head::Branch(_) => Vec::new(),
        };
        let refs = self.update_refs(lock, op, None, refs)?;
        Ok(HeadMove {
            op,
            refs,
            left_behind,
        })
    }

    /// Moves HEAD's branch (or the detached HEAD) to `rev`.
    pub fn reset(&self, mode: ResetMode, rev: &str) -> Result<Refs> {
        let (lock, graph) = self.lock_graph(&[])?;
        let mut refs = graph.refs(&self.name);
        let id = self.resolve(&graph, rev)?;
        refs.move_head_to(&id);
        self.update_refs(&lock, "reset", Some(mode), refs)
    }

    /// Puts the refs back as they were before the last ref move that is not undone yet: each
    /// `undo` in a row reaches one move further back. Nothing is removed from the journal.
    pub fn undo(&self) -> Result<Refs> {
        let (lock, graph) = self.lock_graph(&[])?;
        let refs = undo_target(graph.reflog_newest_first(&self.name)).ok_or_else(|| {
            ContextError::NothingToUndo {
                agent: self.name.clone(),
            }
        })?;
        self.update_refs(&lock, "undo", None, refs)
    }

    /// The context at `at` (a branch or a commit), else at HEAD.
    pub fn context(&self, at: Option<&str>) -> Result<Context> {
        self.context_in(&self.graph()?, at)
    }

    /// [`Agent::context`] in a graph already loaded.
    pub(crate) fn context_in(&self, graph: &Graph, at: Option<&str>) -> Result<Context> {
        let tip = match at {
            Some(rev) => Some(self.resolve(graph, rev)?),
            None => graph.refs(&self.name).head_commit().map(str::to_owned),
        };
        materialize(self.recorder.journal(), graph, tip.as_deref())
    }

    pub(crate) fn head_commit(&self, refs: &Refs) -> Result<String, ContextError> {
        refs.head_commit()
            .map(str::to_owned)
            .ok_or_else(|| ContextError::Unborn {
                agent: self.name.clone(),
                branch: refs.branch().unwrap_or_default().to_owned(),
            })
    }

    /// Records the agent's refs after an operation as one `ref_update`.
    fn update_refs(
        &self,
        lock: &RefLock,
        op: &str,
        mode: Option<ResetMode>,
        refs: Refs,
    ) -> Result<Refs> {
        let change = RefChange {
            op: op.to_owned(),
            mode,
            refs,
            also: BTreeMap::new(),
        };
        self.record_op(lock, change.clone(), Vec::new())?;
        Ok(change.refs)
    }

    /// The `ref_update` event of a ref change.
    pub(crate) fn ref_update_event(&self, change: &RefChange) -> Result<Event> {
        let (head, branches) = refs_to_json(&change.refs);
        let mut data = Map::new();
        data.insert("op".into(), change.op.clone().into());
        data.insert("agent".into(), self.name.clone().into());
        data.insert("head".into(), head);
        data.insert("branches".into(), branches);
        if let Some(mode) = change.mode {
            data.insert("mode".into(), Json::from(mode.as_str()));
        }
        if !change.also.is_empty() {
            let also = change
                .also
                .iter()
                .map(|(agent, refs)| {
                    let (head, branches) = refs_to_json(refs);
                    (agent.clone(), json!({ "head": head, "branches": branches }))
                })
                .collect::<Map<_, _>>();
            data.insert("also".into(), Json::Object(also));
        }
        Ok(Event::new(
            EventType::RefUpdate,
            self.session.clone(),
            Some(self.name.clone()),
            data,
        )?)
    }
}

/// The refs an `undo` restores: walking the reflog back (`newest_first`), each `undo` skips
/// one more earlier move; the first move not skipped is undone by restoring the refs before it.
pub fn undo_target(newest_first: impl Iterator<Item = super::RefMove>) -> Option<Refs> {
    let mut skip = 0usize;
    for entry in newest_first {
        if entry.op == "undo" {
            skip += 1;
        } else if skip > 0 {
            skip -= 1;
        } else {
            return Some(entry.before);
        }
    }
    None
}

/// The `links` of a (redacted) commit event, as the id covers them.
fn links_of(event: &Event) -> BTreeMap<String, String> {
    event
        .data
        .get("links")
        .and_then(Json::as_object)
        .map(|links| {
            links
                .iter()
                .filter_map(|(name, value)| Some((name.clone(), value.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}
