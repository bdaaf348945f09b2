//! Merging a branch into HEAD: the merge base, the conflicts, and the merge commit. A merge
//! whose other side is already in HEAD changes nothing; one whose HEAD is in the other side is a
//! fast-forward (one `ref_update`, op `merge`); any other writes a merge commit with parents
//! `[HEAD, theirs]` and no content (it adds no block: materializing walks both sides), then,
//! when there were conflicts, one `edit` per conflict carrying the resolved content, then one
//! `ref_update`, all as one batch.
//!
//! A conflict is two sides changing one thing differently since the merge base: both edited
//! the same block (ending with different content), or both added a pin with the same message
//! and different content. Without a resolver a conflicting merge records nothing and returns
//! [`ContextError::MergeConflicts`]. The resolver is a closure: the library runs no process;
//! the CLI's `--resolver CMD` is one such closure, and what it reports of its model's token
//! use is recorded as an `llm_call` in the same batch. `rebase` (in `rewrite.rs`) finds its
//! conflicts and writes its resolutions with the same functions.

use super::graph::{content_key, Commit, Graph};
use super::lock::RefLock;
use super::materialize::{block_keys, content_at, materialize, shown_for};
use super::ops::{Agent, NewCommit, RefChange};
use super::{CommitKind, ContextError, Refs};
use crate::error::Result;
use crate::event::{Event, EventType};
use serde::Serialize;
use serde_json::{Map, Value as Json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

/// The link a resolution edit carries to the other side's commit it resolves; when that
/// commit's block is not the edit's target's (a pin conflict), materializing drops it.
pub const RESOLVES_LINK: &str = "resolves";

/// What conflicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ConflictKind {
    /// Both sides edited the same block.
    Edit,
    /// Both sides added a pin with the same message and different content.
    Pin,
}

/// One side of a conflict: its commit (the last edit of the block, or the pin) and content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConflictSide {
    pub commit: String,
    pub content: String,
}

/// Two sides changing one thing differently since the merge base.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Conflict {
    pub kind: ConflictKind,
    /// For an edit conflict, the commit that brought the block in.
    pub block: Option<String>,
    /// The block's message (for a pin conflict, the message both pins share).
    pub message: String,
    /// For an edit conflict, the block's content at the merge base.
    pub base: Option<String>,
    pub ours: ConflictSide,
    pub theirs: ConflictSide,
}

impl fmt::Display for Conflict {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        let short = super::id::short_id;
        match self.kind {
            ConflictKind::Edit => write!(
                out,
                "both sides edited block {} (\"{}\"): {} and {}",
                short(self.block.as_deref().unwrap_or_default()),
                self.message,
                short(&self.ours.commit),
                short(&self.theirs.commit)
            ),
            ConflictKind::Pin => write!(
                out,
                "contradicting pins \"{}\": {} and {}",
                self.message,
                short(&self.ours.commit),
                short(&self.theirs.commit)
            ),
        }
    }
}

/// A model's token use, as a resolver or summarizer reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LlmUsage {
    pub model: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// What a resolver or summarizer produced: the content, and its model's token use if known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generated {
    pub content: String,
    pub usage: Option<LlmUsage>,
}

/// Commits an operation has made and not recorded yet, each with its event.
type Pending = Vec<(Event, Commit)>;

/// What asks for the content of each conflict of a merge or rebase (the CLI's `--resolver CMD`).
pub type Resolver<'a> = dyn FnMut(&Conflict) -> Result<Generated> + 'a;

/// What a merge did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeOutcome {
    /// The other side was already in HEAD: nothing was recorded.
    UpToDate,
    /// HEAD was in the other side (or unborn): HEAD moved to it.
    FastForward { refs: Refs },
    /// A merge commit, and one resolution edit per conflict after it.
    Merged {
        merge: Box<Commit>,
        resolutions: Vec<Commit>,
        conflicts: Vec<Conflict>,
        refs: Refs,
    },
}

/// The best common ancestor of `ours` and `theirs`: of the commits reachable from both, the
/// one recorded last (it cannot be an ancestor of another common one, whose LSN would be
/// larger). `None` when the histories share no commit. It walks positions, building no
/// [`Commit`]: on a graph of 100,000 commits building them was a third of a merge's time.
pub fn merge_base(graph: &Graph, ours: &str, theirs: &str) -> Option<String> {
    let (ours, theirs) = (graph.position(ours)?, graph.position(theirs)?);
    let mut reachable = vec![false; graph.len()];
    for pos in graph.topological_positions(&[ours]) {
        reachable[pos as usize] = true;
    }
    graph
        .topological_positions(&[theirs])
        .into_iter()
        .filter(|&pos| reachable[pos as usize])
        .max_by_key(|&pos| graph.lsn(pos))
        .map(|pos| graph.id(pos))
}

/// The commits reachable from `tip` and not from `base`, parents first.
pub fn side<'g>(graph: &'g Graph, tip: &str, base: Option<&str>) -> Vec<&'g Commit> {
    let behind: HashSet<&str> = base
        .map(|base| graph.topological(&[base]))
        .unwrap_or_default()
        .iter()
        .map(|commit| commit.id.as_str())
        .collect();
    graph
        .topological(&[tip])
        .into_iter()
        .filter(|commit| !behind.contains(commit.id.as_str()))
        .collect()
}

/// The commit that brought in the block a commit edits (the commit itself unless it is an
/// edit), for many commits: each edit chain is walked once, remembered along the way, so an
/// agent that edits one block a thousand times, each edit targeting the last, does not cost
/// a walk of the chain per edit.
pub struct BlockRoots<'g> {
    graph: &'g Graph,
    known: HashMap<&'g str, Option<&'g str>>,
}

impl<'g> BlockRoots<'g> {
    pub fn new(graph: &'g Graph) -> BlockRoots<'g> {
        BlockRoots {
            graph,
            known: HashMap::new(),
        }
    }

    /// The id of the commit that brought in the block `id` edits; none when the chain breaks.
    pub fn of(&mut self, id: &str) -> Option<&'g str> {
        let mut path: Vec<&'g str> = Vec::new();
        let mut at = self.graph.commit(id).map(|commit| commit.id.as_str());
        let root = loop {
            let Some(id) = at else { break None };
            if let Some(&root) = self.known.get(id) {
                break root;
            }
            path.push(id);
            let commit = self
                .graph
                .commit(id)
                .expect("ids on the path are the graph's");
            if commit.kind != CommitKind::Edit {
                break Some(id);
            }
            at = commit
                .target
                .as_deref()
                .and_then(|target| self.graph.commit(target))
                .map(|commit| commit.id.as_str());
        };
        for id in path {
            self.known.insert(id, root);
        }
        root
    }
}

/// Whether a merge may join two histories that share no commit (git's
/// `--allow-unrelated-histories`), as a `compress` or `reorder` of `..TO` leaves the old line
/// and the new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unrelated {
    /// Refuse, as git does: such a merge brings back every block of the other line.
    Refuse,
    Allow,
}

impl Agent<'_> {
    /// Merges `theirs` (a branch or commit) into HEAD. `resolve` is asked for the content of
    /// each conflict; without it a conflicting merge records nothing and fails with
    /// [`ContextError::MergeConflicts`]. `message` names the merge commit (default
    /// `merge THEIRS`). Histories with no commit in common are refused
    /// ([`ContextError::UnrelatedHistories`]) unless `unrelated` allows them.
    pub fn merge(
        &self,
        theirs: &str,
        message: Option<String>,
        resolve: Option<&mut Resolver>,
        unrelated: Unrelated,
    ) -> Result<MergeOutcome> {
        let (lock, graph) = self.lock_graph(&[])?;
        let mut refs = graph.refs(self.name());
        let their_id = self.resolve(&graph, theirs)?;
        let Some(head) = refs.head_commit().map(str::to_owned) else {
            return self.fast_forward(&lock, refs, &their_id);
        };
        if graph.is_ancestor(&their_id, &head) {
            return Ok(MergeOutcome::UpToDate);
        }
        if graph.is_ancestor(&head, &their_id) {
            return self.fast_forward(&lock, refs, &their_id);
        }
        if unrelated == Unrelated::Refuse && merge_base(&graph, &head, &their_id).is_none() {
            return Err(ContextError::UnrelatedHistories {
                theirs: theirs.to_owned(),
            }
            .into());
        }
        let conflicts = self.conflicts(&graph, &head, &their_id)?;
        let resolutions =
            resolve_conflicts(&conflicts, resolve, || ContextError::MergeConflicts {
                theirs: theirs.to_owned(),
                conflicts: conflicts.clone(),
            })?;
        let merge = NewCommit {
            kind: CommitKind::Append,
            message: message.unwrap_or_else(|| format!("merge {theirs}")),
            content: String::new(),
            parents: vec![head.clone(), their_id.clone()],
            target: None,
            tokens: None,
            links: BTreeMap::new(),
        };
        let mut commits = vec![self.commit_event(merge, false)?];
        let parent = commits[0].1.id.clone();
        let (resolved, usage) =
            self.resolution_commits(&conflicts, resolutions, parent, str::to_owned)?;
        commits.extend(resolved);
        let tip = commits[commits.len() - 1].1.id.clone();
        let last_lsn = self.recorder().journal().last_lsn();
        check_nothing_lost(
            &graph,
            last_lsn,
            [&head, &their_id],
            &commits,
            &tip,
            &conflicts,
        )?;
        refs.move_head_to(&tip);
        let mut written = self.record_rewrite(&lock, "merge", refs.clone(), commits, &usage)?;
        let merge = Box::new(written.remove(0));
        Ok(MergeOutcome::Merged {
            merge,
            resolutions: written,
            conflicts,
            refs,
        })
    }

    fn fast_forward(&self, lock: &RefLock, mut refs: Refs, to: &str) -> Result<MergeOutcome> {
        refs.move_head_to(to);
        self.record_rewrite(lock, "merge", refs.clone(), Vec::new(), &[])?;
        Ok(MergeOutcome::FastForward { refs })
    }

    /// The conflicts between HEAD (`ours`) and `theirs` since their merge base.
    pub fn conflicts(&self, graph: &Graph, ours: &str, theirs: &str) -> Result<Vec<Conflict>> {
        let base = merge_base(graph, ours, theirs);
        let our_side = side(graph, ours, base.as_deref());
        let their_side = side(graph, theirs, base.as_deref());
        let mut conflicts = self.edit_conflicts(graph, &our_side, &their_side, base.as_deref())?;
        conflicts.extend(self.pin_conflicts(&our_side, &their_side)?);
        Ok(conflicts)
    }

    fn edit_conflicts(
        &self,
        graph: &Graph,
        ours: &[&Commit],
        theirs: &[&Commit],
        base: Option<&str>,
    ) -> Result<Vec<Conflict>> {
        let ours = last_edits(graph, ours);
        // Blocks are matched by the content their first commit brought in, not by that
        // commit: identical blocks are kept once, so two roots of one content (appended on
        // both sides, or in unrelated histories) are one block, and their edits conflict.
        let theirs: HashMap<u64, &Commit> = last_edits(graph, theirs)
            .into_iter()
            .filter_map(|(root, edit)| Some((graph.commit(&root)?.content_key, edit)))
            .collect();
        let journal = self.recorder().journal();
        let mut conflicts = Vec::new();
        for (root, our_edit) in &ours {
            let key = graph.commit(root).map(|commit| commit.content_key);
            let Some(their_edit) = key.and_then(|key| theirs.get(&key)) else {
                continue;
            };
            let ours = content_at(journal, our_edit)?;
            let theirs = content_at(journal, their_edit)?;
            if ours == theirs {
                continue;
            }
            let block = graph.commit(root).map(|commit| commit.message.clone());
            conflicts.push(Conflict {
                kind: ConflictKind::Edit,
                block: Some(root.clone()),
                message: block.unwrap_or_default(),
                base: None,
                ours: side_of(our_edit, ours),
                theirs: side_of(their_edit, theirs),
            });
        }
        if !conflicts.is_empty() {
            let at_base = materialize(journal, graph, base)?;
            for conflict in &mut conflicts {
                conflict.base = at_base
                    .blocks
                    .iter()
                    .find(|block| Some(&block.id) == conflict.block.as_ref())
                    .map(|block| block.content.clone());
            }
        }
        Ok(conflicts)
    }

    fn pin_conflicts(&self, ours: &[&Commit], theirs: &[&Commit]) -> Result<Vec<Conflict>> {
        let journal = self.recorder().journal();
        let pins = |commits: &[&Commit]| -> BTreeMap<String, Commit> {
            commits
                .iter()
                .filter(|commit| commit.kind == CommitKind::Pin)
                .map(|commit| (commit.message.clone(), (*commit).clone()))
                .collect()
        };
        let theirs = pins(theirs);
        let mut conflicts = Vec::new();
        for (message, our_pin) in pins(ours) {
            let Some(their_pin) = theirs.get(&message) else {
                continue;
            };
            let ours = content_at(journal, &our_pin)?;
            let theirs = content_at(journal, their_pin)?;
            if ours != theirs {
                conflicts.push(Conflict {
                    kind: ConflictKind::Pin,
                    block: None,
                    message,
                    base: None,
                    ours: side_of(&our_pin, ours),
                    theirs: side_of(their_pin, theirs),
                });
            }
        }
        Ok(conflicts)
    }

    /// One resolution edit per conflict, in order, the first after `parent`: each an `edit` of
    /// `target_of` our side's commit (the commit itself for a merge, its new copy for a rebase)
    /// with the resolved content. Returns the commits and the token use to record.
    pub(crate) fn resolution_commits(
        &self,
        conflicts: &[Conflict],
        resolutions: Vec<Generated>,
        mut parent: String,
        target_of: impl Fn(&str) -> String,
    ) -> Result<(Pending, Vec<LlmUsage>)> {
        let mut commits = Vec::with_capacity(conflicts.len());
        let mut usage = Vec::new();
        for (conflict, generated) in conflicts.iter().zip(resolutions) {
            let target = target_of(&conflict.ours.commit);
            let new = resolution(conflict, &generated, parent, target);
            let (event, written) = self.commit_event(new, false)?;
            parent = written.id.clone();
            commits.push((event, written));
            usage.extend(generated.usage);
        }
        Ok((commits, usage))
    }

    /// Records an operation's commits, then an `llm_call` for each `usage`, then one
    /// `ref_update` (op `op`) carrying `refs`, as one batch. Returns the commits with their
    /// LSNs.
    pub(crate) fn record_rewrite(
        &self,
        lock: &RefLock,
        op: &str,
        refs: Refs,
        commits: Vec<(Event, Commit)>,
        usage: &[LlmUsage],
    ) -> Result<Vec<Commit>> {
        let change = RefChange {
            op: op.to_owned(),
            mode: None,
            refs,
            also: BTreeMap::new(),
        };
        let usage = usage
            .iter()
            .map(|usage| self.llm_call_event(usage))
            .collect::<Result<Vec<_>>>()?;
        self.record_with(lock, change, commits, usage)
    }

    fn llm_call_event(&self, usage: &LlmUsage) -> Result<Event> {
        let mut data = Map::new();
        data.insert("model".into(), usage.model.clone().into());
        data.insert("input_tokens".into(), Json::from(usage.input_tokens));
        data.insert("output_tokens".into(), Json::from(usage.output_tokens));
        Ok(Event::new(
            EventType::LlmCall,
            self.session().map(str::to_owned),
            Some(self.name().to_owned()),
            data,
        )?)
    }
}

/// Refuses a merge or rebase of `sides` (HEAD, then theirs or ONTO) whose new context, at
/// `tip` once `commits` (not recorded yet, the first at the LSN after `last_lsn`) are, would
/// lose a block one side holds: its content is nowhere in the new context, no resolution
/// replaced it, and the other side did not change that block (a block of the same brought-in
/// content, as conflicts are matched, showing other content now). Blocks are kept once when
/// their contents match as the walk meets them, so a block one side brings in can join a
/// block of the other side that an edit had given the same content, and an edit of it on its
/// own side then replaces the other side's content. Checked from the graph alone, before
/// anything is written.
pub(crate) fn check_nothing_lost(
    graph: &Graph,
    last_lsn: u64,
    sides: [&str; 2],
    commits: &[(Event, Commit)],
    tip: &str,
    conflicts: &[Conflict],
) -> std::result::Result<(), ContextError> {
    let predicted = predicted_graph(graph, last_lsn, commits);
    let resolved = conflicts
        .iter()
        .flat_map(|conflict| [&conflict.ours.content, &conflict.theirs.content])
        .map(|content| content_key(content));
    let kept: HashSet<u64> = block_keys(&predicted, Some(tip))
        .into_iter()
        .map(|block| block.shown)
        .chain(resolved)
        .collect();
    let blocks = sides.map(|side| block_keys(graph, Some(side)));
    for (side, other) in [(&blocks[0], &blocks[1]), (&blocks[1], &blocks[0])] {
        let changed_by_other: HashSet<u64> = other
            .iter()
            .filter(|block| block.shown != block.brought)
            .map(|block| block.brought)
            .collect();
        if let Some(lost) = side.iter().find(|block| {
            !kept.contains(&block.shown) && !changed_by_other.contains(&block.brought)
        }) {
            let shown = shown_for(&predicted, Some(tip), &lost.id);
            return Err(ContextError::LosesBlock {
                block: lost.id.clone(),
                shown_instead: shown.and_then(|id| recorded(commits, id)),
            });
        }
    }
    Ok(())
}

/// The graph once `commits` (not recorded yet) are, the first at the LSN after `last_lsn`.
pub(crate) fn predicted_graph(graph: &Graph, last_lsn: u64, commits: &[(Event, Commit)]) -> Graph {
    let mut predicted = graph.clone();
    for (offset, (event, _)) in commits.iter().enumerate() {
        predicted.apply_owned(last_lsn + 1 + offset as u64, event);
    }
    predicted
}

/// `id` as a recorded commit: a pending copy a rebase would write is named by the commit it
/// copies (its `rebased_from` link), a pending resolution by nothing.
fn recorded(pending: &[(Event, Commit)], id: String) -> Option<String> {
    match pending.iter().find(|(_, commit)| commit.id == id) {
        Some((_, copy)) => copy.links.get(super::rewrite::REBASED_FROM_LINK).cloned(),
        None => Some(id),
    }
}

/// Each block's last edit on a side, by the commit that brought the block in.
fn last_edits<'g>(graph: &Graph, side: &[&'g Commit]) -> BTreeMap<String, &'g Commit> {
    let mut roots = BlockRoots::new(graph);
    side.iter()
        .filter(|commit| commit.kind == CommitKind::Edit)
        .filter_map(|commit| Some((roots.of(&commit.id)?.to_owned(), *commit)))
        .collect()
}

fn side_of(commit: &Commit, content: String) -> ConflictSide {
    ConflictSide {
        commit: commit.id.clone(),
        content,
    }
}

/// The content `resolve` gives each conflict, in order. Without a resolver, conflicts fail the
/// operation with `stopped` (its conflicts error); so does a resolution that is empty or only
/// whitespace. Nothing is written here, so a failure leaves no trace.
pub(crate) fn resolve_conflicts(
    conflicts: &[Conflict],
    resolve: Option<&mut Resolver>,
    stopped: impl FnOnce() -> ContextError,
) -> Result<Vec<Generated>> {
    let resolve = match (resolve, conflicts.is_empty()) {
        (_, true) => return Ok(Vec::new()),
        (None, false) => return Err(stopped().into()),
        (Some(resolve), false) => resolve,
    };
    let mut resolutions = Vec::with_capacity(conflicts.len());
    for conflict in conflicts {
        let generated = resolve(conflict)?;
        if generated.content.trim().is_empty() {
            return Err(ContextError::HelperFailed {
                helper: "resolver".into(),
                reason: format!("it printed no content for {}", conflict.message),
            }
            .into());
        }
        resolutions.push(generated);
    }
    Ok(resolutions)
}

/// The edit that resolves a conflict: it replaces our side's block (through `target`, our
/// side's commit or its new copy) with the resolved content and, through its `resolves` link,
/// drops their side's block when that is another block.
fn resolution(
    conflict: &Conflict,
    generated: &Generated,
    parent: String,
    target: String,
) -> NewCommit {
    let what = match conflict.kind {
        ConflictKind::Edit => "edit",
        ConflictKind::Pin => "pin",
    };
    NewCommit {
        kind: CommitKind::Edit,
        message: format!("resolve {what} conflict: {}", conflict.message),
        content: generated.content.clone(),
        parents: vec![parent],
        target: Some(target),
        tokens: None,
        links: BTreeMap::from([(RESOLVES_LINK.to_owned(), conflict.theirs.commit.clone())]),
    }
}
