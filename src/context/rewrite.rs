//! The operations that rewrite history: `rebase`, `compress` and `reorder`. None changes a
//! commit: each writes new commits (with `move_head: false`), each pointing at the commit it
//! replays through a `rebased_from` link, then one `ref_update` moving HEAD's branch (or the
//! detached HEAD) onto the new line, all as one batch; the old commits stay, reachable from the
//! reflog, so `undo` puts the refs back.
//!
//! Replaying a commit keeps its kind, message, content, token count and links, and points its
//! target, its other parents and its links at the new copies of commits replayed before it (so
//! an edit follows its target). Its first parent is the previous new commit (`compress` and
//! `reorder`, which rewrite a line), or, for `rebase`, the new copy of its first parent (ONTO
//! when that was not replayed): rebase keeps the shape of what it replays, merge commits
//! included, as `git rebase --rebase-merges` does, so a merged branch stays merged. A rebase
//! finds conflicts as `merge` does and, given a resolver, writes merge's resolution edits after
//! the replayed HEAD.
//!
//! A range `FROM..TO` is git's: the commits reachable from TO and not from FROM; both must be
//! on HEAD's first-parent line, FROM before TO. `..TO` starts at the first commit. So a range
//! holding a merge holds the merged side's commits too: `reorder` flattens it, as `git rebase
//! -i` does without `--rebase-merges`, replaying the range's other commits as one line in the
//! order given and dropping its merge commits (which add no block), each reported in
//! [`Rewrite::flattened`]. Since a line is not a merge, `reorder` checks, before it records
//! anything, that the new context holds the blocks the old one held (by kind and content; only
//! their order may change): an edit or a merge resolution put before a commit it must follow
//! would otherwise change a block, or bring back a side's block, silently.

use super::graph::{Commit, Graph};
use super::lock::RefLock;
use super::materialize::{contents_at, materialize, materialize_pending, Block};
use super::merge::{
    check_nothing_lost, predicted_graph, resolve_conflicts, side, BlockRoots, Conflict, Generated,
    Resolver,
};
use super::ops::{Agent, NewCommit, RANGE_SEPARATOR};
use super::{CommitKind, ContextError, Refs};
use crate::error::Result;
use crate::event::Event;
use std::collections::{BTreeMap, HashMap, HashSet};

/// The link from a replayed commit to the commit it replays.
pub const REBASED_FROM_LINK: &str = "rebased_from";
/// The link from a compression's summary commit to the last commit it summarizes (TO).
pub const COMPRESSED_TO_LINK: &str = "compressed_to";
/// The link from a pin a compression kept to the commit that brought the pinned block in.
pub const PINNED_FROM_LINK: &str = "pinned_from";

/// What a summarizer is given: the blocks of the range, as in the context at TO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompressInput {
    pub from: Option<String>,
    pub to: String,
    pub blocks: Vec<Block>,
}

/// An edit a reorder puts before the commit it edits: it keeps its old target, which is then
/// not in the context, so it changes nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditBeforeTarget {
    pub edit: String,
    pub target: String,
}

/// What a rewriting operation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewrite {
    /// The new commits, oldest first (none when there was nothing to do).
    pub commits: Vec<Commit>,
    /// The refs after it.
    pub refs: Refs,
    /// The context's tokens at HEAD before and after.
    pub tokens_before: u64,
    pub tokens_after: u64,
    /// Edits a forced reorder put before their targets.
    pub warnings: Vec<EditBeforeTarget>,
    /// The merge commits a reorder flattened: dropped, their sides' commits replayed as one
    /// line, oldest first.
    pub flattened: Vec<String>,
    /// The pinned blocks a compression checked, byte for byte, in the new context.
    pub pins_checked: usize,
    /// The conflicts a rebase resolved, in the order of its resolution edits (the last commits).
    pub conflicts: Vec<Conflict>,
}

/// A range of HEAD's first-parent line.
struct Range<'g> {
    from: Option<String>,
    to: String,
    /// Reachable from TO and not from FROM, parents first.
    commits: Vec<&'g Commit>,
    /// HEAD's first-parent line after TO, oldest first.
    later: Vec<&'g Commit>,
}

impl Agent<'_> {
    /// Replays the commits reachable from HEAD and not from `onto` (a branch or commit; git's
    /// `ONTO..HEAD`) on top of `onto`, keeping their shape (merge commits stay merges). Nothing
    /// to do when `onto` is in HEAD already; HEAD moves to `onto` when it is in `onto`. The
    /// conflicts are merge's (HEAD's side is ours, ONTO's theirs): `resolve` is asked for the
    /// content of each, written as resolution edits after the replayed HEAD; without it a
    /// conflicting rebase records nothing and fails with [`ContextError::RebaseConflicts`].
    pub fn rebase(&self, onto: &str, resolve: Option<&mut Resolver>) -> Result<Rewrite> {
        let (lock, graph) = self.lock_graph(&[])?;
        let mut refs = graph.refs(self.name());
        let head = self.head_commit(&refs)?;
        let onto_id = self.resolve(&graph, onto)?;
        let tokens_before = self.tokens_at(&graph, &head)?;
        if graph.is_ancestor(&onto_id, &head) {
            return Ok(unchanged(refs, tokens_before));
        }
        if graph.is_ancestor(&head, &onto_id) {
            refs.move_head_to(&onto_id);
            return self.finish(&lock, "rebase", refs, Vec::new(), &[], tokens_before);
        }
        let ours = side(&graph, &head, Some(&onto_id));
        replayable(&graph, &ours)?;
        let conflicts = self.conflicts(&graph, &head, &onto_id)?;
        let resolutions =
            resolve_conflicts(&conflicts, resolve, || ContextError::RebaseConflicts {
                onto: onto.to_owned(),
                conflicts: conflicts.clone(),
            })?;
        let mut map = HashMap::new();
        let mut commits = Vec::new();
        self.replay_onto(&ours, &onto_id, &mut map, &mut commits)?;
        let new_copy = |id: &str| map.get(id).cloned().unwrap_or_else(|| id.to_owned());
        let (resolved, usage) =
            self.resolution_commits(&conflicts, resolutions, new_copy(&head), new_copy)?;
        let tip = resolved
            .last()
            .map_or_else(|| new_copy(&head), |c| c.1.id.clone());
        commits.extend(resolved);
        let last_lsn = self.recorder().journal().last_lsn();
        check_nothing_lost(
            &graph,
            last_lsn,
            [&head, &onto_id],
            &commits,
            &tip,
            &conflicts,
        )?;
        refs.move_head_to(&tip);
        let mut rewrite = self.finish(&lock, "rebase", refs, commits, &usage, tokens_before)?;
        rewrite.conflicts = conflicts;
        Ok(rewrite)
    }

    /// Replaces the range with one summary commit (from `summarize`, given the range's blocks),
    /// then, with `respect_pins`, the range's pinned blocks verbatim, then HEAD's later commits
    /// replayed. Refuses an edit the cut would separate from its target, and, before
    /// recording, a compression whose new context would lose a pinned block it keeps (byte for
    /// byte), naming it: checked first, so no crash can leave the refs on such a context.
    pub fn compress(
        &self,
        range: &str,
        respect_pins: bool,
        message: Option<String>,
        summarize: &mut dyn FnMut(&CompressInput) -> Result<Generated>,
    ) -> Result<Rewrite> {
        let (lock, graph) = self.lock_graph(&[])?;
        let mut refs = graph.refs(self.name());
        let head = self.head_commit(&refs)?;
        let cut = self.range(&graph, &head, range)?;
        let journal = self.recorder().journal();
        let in_range: HashSet<&str> = cut.commits.iter().map(|c| c.id.as_str()).collect();
        let (pins, summarized): (Vec<Block>, Vec<Block>) =
            materialize(journal, &graph, Some(&cut.to))?
                .blocks
                .into_iter()
                .filter(|block| in_range.contains(block.id.as_str()))
                .partition(|block| respect_pins && block.kind == CommitKind::Pin);
        let kept: HashSet<&str> = pins.iter().map(|pin| pin.id.as_str()).collect();
        check_cut(&graph, &cut, &in_range, &kept)?;
        replayable(&graph, &cut.later)?;
        pins_replayable(&graph, &pins)?;
        let generated = summarize(&CompressInput {
            from: cut.from.clone(),
            to: cut.to.clone(),
            blocks: summarized,
        })?;
        if generated.content.trim().is_empty() {
            return Err(ContextError::HelperFailed {
                helper: "summarizer".into(),
                reason: "it printed no summary".into(),
            }
            .into());
        }
        let summary = NewCommit {
            kind: CommitKind::Append,
            message: message.unwrap_or_else(|| format!("compress {range}")),
            content: generated.content,
            parents: cut.from.iter().cloned().collect(),
            target: None,
            tokens: None,
            links: BTreeMap::from([(COMPRESSED_TO_LINK.to_owned(), cut.to.clone())]),
        };
        let mut commits = vec![self.commit_event(summary, false)?];
        let mut map = HashMap::new();
        let mut roots = BlockRoots::new(&graph);
        let cut_roots: Vec<Option<&str>> = cut
            .commits
            .iter()
            .map(|commit| roots.of(&commit.id))
            .collect();
        for pin in &pins {
            let parent = commits[commits.len() - 1].1.id.clone();
            let (event, kept) = self.commit_event(kept_pin(pin, parent), false)?;
            for (commit, root) in cut.commits.iter().zip(&cut_roots) {
                if *root == Some(pin.id.as_str()) {
                    map.insert(commit.id.clone(), kept.id.clone());
                }
            }
            commits.push((event, kept));
        }
        let parent = Some(commits[commits.len() - 1].1.id.clone());
        let tip = self.replay(&cut.later, parent, &mut map, &mut commits)?;
        let tip = tip.unwrap_or_default();
        let before = materialize(journal, &graph, Some(&head))?;
        let after = predicted_context(journal, &graph, &commits, &tip)?;
        let pins_checked = check_pins(&before.blocks, &after.blocks, &in_range, respect_pins)?;
        refs.move_head_to(&tip);
        let usage = generated.usage.as_slice();
        let mut rewrite = self.finish(&lock, "compress", refs, commits, usage, before.tokens)?;
        rewrite.pins_checked = pins_checked;
        Ok(rewrite)
    }

    /// Puts the range's commits in `order` (each of them once, as branch names or id prefixes)
    /// and replays HEAD's later commits after them. A range holding a merge is flattened: its
    /// commits, the merged side's included, become one line and its merge commits are dropped
    /// (reported in [`Rewrite::flattened`]; `order` must not name them). An edit put before its
    /// target is refused unless `force`, when it keeps its old target and so changes nothing
    /// (a warning). Refused before anything is recorded: a new context that would not hold the
    /// blocks the context at HEAD holds (a block a forced edit leaves unchanged aside).
    pub fn reorder(&self, range: &str, order: &[String], force: bool) -> Result<Rewrite> {
        let (lock, graph) = self.lock_graph(&[])?;
        let mut refs = graph.refs(self.name());
        let head = self.head_commit(&refs)?;
        let cut = self.range(&graph, &head, range)?;
        replayable(&graph, &cut.commits)?;
        replayable(&graph, &cut.later)?;
        let ordered = self.ordered(&graph, &cut, order)?;
        let warnings = edits_before_targets(&ordered);
        if let (Some(first), false) = (warnings.first(), force) {
            return Err(ContextError::EditBeforeTarget {
                edit: first.edit.clone(),
                target: first.target.clone(),
            }
            .into());
        }
        let journal = self.recorder().journal();
        let before = materialize(journal, &graph, Some(&head))?;
        if moves_nothing(&ordered, cut.from.as_deref(), cut.commits.len()) {
            return Ok(unchanged(refs, before.tokens));
        }
        let mut map = HashMap::new();
        let mut commits = Vec::new();
        let tip = self.replay(&ordered, cut.from.clone(), &mut map, &mut commits)?;
        let tip = self.replay(&cut.later, tip, &mut map, &mut commits)?;
        let tip = tip.unwrap_or_default();
        let after = predicted_context(journal, &graph, &commits, &tip)?;
        let excused = edited_roots(&graph, &warnings);
        check_same_blocks(&before.blocks, &after.blocks, &excused, &map)?;
        refs.move_head_to(&tip);
        let mut rewrite = self.finish(&lock, "reorder", refs, commits, &[], before.tokens)?;
        rewrite.warnings = warnings;
        rewrite.flattened = cut
            .commits
            .iter()
            .filter(|commit| commit.parents.len() > 1)
            .map(|commit| commit.id.clone())
            .collect();
        Ok(rewrite)
    }

    /// The range `text` names on HEAD's first-parent line.
    fn range<'g>(&self, graph: &'g Graph, head: &str, text: &str) -> Result<Range<'g>> {
        let bad = |reason: &str| ContextError::BadRange {
            range: text.to_owned(),
            reason: reason.to_owned(),
        };
        if text.contains("...") {
            return Err(bad("three dots make no range here: write FROM..TO").into());
        }
        let (from, to) = text
            .split_once(RANGE_SEPARATOR)
            .ok_or_else(|| bad("write it FROM..TO (or ..TO from the first commit)"))?;
        if to.is_empty() {
            return Err(bad("TO is missing").into());
        }
        let to = self.resolve(graph, to)?;
        let from = match from {
            "" => None,
            from => Some(self.resolve(graph, from)?),
        };
        let line = graph.first_parent_line(head);
        let position = |id: &str| line.iter().position(|commit| commit.id == id);
        let to_at = position(&to).ok_or_else(|| bad("TO is not on HEAD's first-parent line"))?;
        if let Some(from) = &from {
            let from_at =
                position(from).ok_or_else(|| bad("FROM is not on HEAD's first-parent line"))?;
            if from_at >= to_at {
                return Err(bad("FROM must come before TO").into());
            }
        }
        Ok(Range {
            commits: side(graph, &to, from.as_deref()),
            later: line[to_at + 1..].to_vec(),
            from,
            to,
        })
    }

    /// The range's commits in the order `order` names them: each exactly once, but for the
    /// merge commits, which a reorder flattens and so must not be named.
    fn ordered<'g>(
        &self,
        graph: &Graph,
        cut: &Range<'g>,
        order: &[String],
    ) -> Result<Vec<&'g Commit>> {
        let bad = |reason: String| ContextError::BadOrder { reason };
        let mut ordered: Vec<&Commit> = Vec::new();
        for rev in order {
            let id = self.resolve(graph, rev)?;
            let commit = cut
                .commits
                .iter()
                .find(|commit| commit.id == id)
                .ok_or_else(|| bad(format!("{rev} is not in the range")))?;
            if commit.parents.len() > 1 {
                return Err(bad(format!(
                    "{rev} is the merge commit {id}: a reorder flattens the range's merges \
                     (their sides become one line), so name only the other commits"
                ))
                .into());
            }
            if ordered.iter().any(|seen| seen.id == id) {
                return Err(bad(format!("{rev} is named twice")).into());
            }
            ordered.push(commit);
        }
        let named = cut.commits.iter().filter(|c| c.parents.len() <= 1).count();
        if ordered.len() != named {
            let reason = format!(
                "it names {} of the range's {named} commits (merge commits aside); name each once",
                ordered.len(),
            );
            return Err(bad(reason).into());
        }
        Ok(ordered)
    }

    /// Writes a replay of `commits` after `parent`, each the first parent of the next; `map`
    /// learns each replayed commit. Returns the last new commit (`parent` when `commits` is
    /// empty).
    fn replay(
        &self,
        commits: &[&Commit],
        mut parent: Option<String>,
        map: &mut HashMap<String, String>,
        out: &mut Vec<(Event, Commit)>,
    ) -> Result<Option<String>> {
        // One forward pass for every content, not a block decompressed per commit.
        let contents = contents_at(self.recorder().journal(), commits)?;
        for (commit, content) in commits.iter().zip(contents) {
            let first_parent = parent.take().into_iter().collect();
            let new = replayed(commit, content, first_parent, map);
            parent = Some(self.write_replay(commit, new, map, out)?);
        }
        Ok(parent)
    }

    /// Writes a replay of `commits` (parents first, all of them reachable from HEAD and not
    /// from `onto`) on `onto`, keeping their shape: a commit's first parent is the new copy of
    /// its first parent, or `onto` when that was not replayed. (A copy names a parent twice
    /// only when its original did: each new copy is a new commit, and a merge whose first
    /// parent was not replayed cannot have `onto` as another, or `onto` would be in HEAD.)
    fn replay_onto(
        &self,
        commits: &[&Commit],
        onto: &str,
        map: &mut HashMap<String, String>,
        out: &mut Vec<(Event, Commit)>,
    ) -> Result<()> {
        let contents = contents_at(self.recorder().journal(), commits)?;
        for (commit, content) in commits.iter().zip(contents) {
            let first_parent = commit.parents.first().and_then(|parent| map.get(parent));
            let first_parent = first_parent.map_or(onto, String::as_str).to_owned();
            let new = replayed(commit, content, vec![first_parent], map);
            self.write_replay(commit, new, map, out)?;
        }
        Ok(())
    }

    /// Writes `new`, the replay of `commit`, and teaches `map` its id, which it returns.
    fn write_replay(
        &self,
        commit: &Commit,
        new: NewCommit,
        map: &mut HashMap<String, String>,
        out: &mut Vec<(Event, Commit)>,
    ) -> Result<String> {
        let (event, written) = self.commit_event(new, false)?;
        map.insert(commit.id.clone(), written.id.clone());
        let id = written.id.clone();
        out.push((event, written));
        Ok(id)
    }

    /// Records a rewrite and reports it.
    fn finish(
        &self,
        lock: &RefLock,
        op: &str,
        refs: Refs,
        commits: Vec<(Event, Commit)>,
        usage: &[super::LlmUsage],
        tokens_before: u64,
    ) -> Result<Rewrite> {
        let commits = self.record_rewrite(lock, op, refs.clone(), commits, usage)?;
        let tokens_after = self.context(None)?.tokens;
        Ok(Rewrite {
            commits,
            refs,
            tokens_before,
            tokens_after,
            warnings: Vec::new(),
            flattened: Vec::new(),
            pins_checked: 0,
            conflicts: Vec::new(),
        })
    }

    fn tokens_at(&self, graph: &Graph, at: &str) -> Result<u64> {
        Ok(materialize(self.recorder().journal(), graph, Some(at))?.tokens)
    }
}

/// The context at `tip` once `commits` (not recorded yet) are: checked before anything is
/// written, so that a refused operation leaves no trace a crash could keep.
fn predicted_context(
    journal: &crate::journal::Journal,
    graph: &Graph,
    commits: &[(Event, Commit)],
    tip: &str,
) -> Result<super::Context> {
    let predicted = predicted_graph(graph, journal.last_lsn(), commits);
    let pending: HashMap<String, String> = commits
        .iter()
        .map(|(event, commit)| {
            let content = event.text("content").unwrap_or_default().to_owned();
            (commit.id.clone(), content)
        })
        .collect();
    materialize_pending(journal, &predicted, tip, &pending)
}

/// Refuses to replay a commit whose content gc or purge removed: its copy would hold the
/// placeholder text as if it were content.
fn replayable(graph: &Graph, commits: &[&Commit]) -> Result<(), ContextError> {
    match commits.iter().find(|commit| graph.is_removed(&commit.id)) {
        Some(removed) => Err(ContextError::ContentRemoved {
            id: removed.id.clone(),
        }),
        None => Ok(()),
    }
}

/// Refuses to keep a pinned block whose content (its commit's, or its last edit's) gc or
/// purge removed, as [`replayable`] does for commits.
fn pins_replayable(graph: &Graph, pins: &[Block]) -> Result<(), ContextError> {
    let shown_by = |pin: &Block| pin.edited_by.clone().unwrap_or_else(|| pin.id.clone());
    match pins.iter().map(shown_by).find(|id| graph.is_removed(id)) {
        Some(id) => Err(ContextError::ContentRemoved { id }),
        None => Ok(()),
    }
}

/// Checks that every pinned block of `before` a compression keeps (all of them with
/// `respect_pins`, else those outside the range) is a pinned block of `after`, byte for byte.
/// Returns how many it checked.
fn check_pins(
    before: &[Block],
    after: &[Block],
    in_range: &HashSet<&str>,
    respect_pins: bool,
) -> Result<usize, ContextError> {
    let kept: Vec<&Block> = before
        .iter()
        .filter(|block| block.kind == CommitKind::Pin)
        .filter(|block| respect_pins || !in_range.contains(block.id.as_str()))
        .collect();
    for pin in &kept {
        let survived = after
            .iter()
            .any(|block| block.kind == CommitKind::Pin && block.content == pin.content);
        if !survived {
            return Err(ContextError::PinLost {
                pin: pin.id.clone(),
            });
        }
    }
    Ok(kept.len())
}

/// Refuses a compression that would separate an edit from its target: an edit in the range
/// of a commit before it, or a later edit of a block the summary replaces (later edits of a
/// pinned block kept follow the kept pin).
fn check_cut(
    graph: &Graph,
    cut: &Range,
    in_range: &HashSet<&str>,
    kept: &HashSet<&str>,
) -> Result<(), ContextError> {
    let cut_apart = |commit: &Commit, target: &str| ContextError::CompressCutsEdit {
        edit: commit.id.clone(),
        target: target.to_owned(),
    };
    for commit in &cut.commits {
        if let Some(target) = commit.target.as_deref() {
            if !in_range.contains(target) {
                return Err(cut_apart(commit, target));
            }
        }
    }
    let mut roots = BlockRoots::new(graph);
    for commit in &cut.later {
        let Some(target) = commit.target.as_deref() else {
            continue;
        };
        let root = roots.of(target);
        if in_range.contains(target) && !root.is_some_and(|root| kept.contains(root)) {
            return Err(cut_apart(commit, target));
        }
    }
    Ok(())
}

/// A pinned block a compression keeps, after `parent`.
fn kept_pin(pin: &Block, parent: String) -> NewCommit {
    NewCommit {
        kind: CommitKind::Pin,
        message: pin.message.clone(),
        content: pin.content.clone(),
        parents: vec![parent],
        target: None,
        tokens: (!pin.tokens_counted).then_some(pin.tokens),
        links: BTreeMap::from([(PINNED_FROM_LINK.to_owned(), pin.id.clone())]),
    }
}

/// The edits `ordered` puts before their targets.
fn edits_before_targets(ordered: &[&Commit]) -> Vec<EditBeforeTarget> {
    let position = |id: &str| ordered.iter().position(|commit| commit.id == id);
    ordered
        .iter()
        .enumerate()
        .filter_map(|(at, commit)| {
            let target = commit.target.as_deref()?;
            (position(target)? > at).then(|| EditBeforeTarget {
                edit: commit.id.clone(),
                target: target.to_owned(),
            })
        })
        .collect()
}

/// True when `ordered` is the range as it is: a line (no merge to flatten) whose commits
/// are each the only child of the one before (of FROM for the first) already. Replaying it
/// would copy every commit unchanged, so a reorder writes nothing, as `git rebase -i` with
/// its todo list left as it was fast-forwards over every pick.
fn moves_nothing(ordered: &[&Commit], from: Option<&str>, range_commits: usize) -> bool {
    let mut parent = from;
    for commit in ordered {
        let parents: Vec<&str> = commit.parents.iter().map(String::as_str).collect();
        if parents != Vec::from_iter(parent) {
            return false;
        }
        parent = Some(&commit.id);
    }
    ordered.len() == range_commits
}

/// The blocks a forced reorder leaves as they were before their edits: those whose edits it
/// put before their targets (by the commit that brought each in).
fn edited_roots<'g>(graph: &'g Graph, warnings: &[EditBeforeTarget]) -> HashSet<&'g str> {
    let mut roots = BlockRoots::new(graph);
    warnings
        .iter()
        .filter_map(|warning| roots.of(&warning.target))
        .collect()
}

/// Refuses a reorder whose new context (`after`) would not hold the blocks of the context at
/// HEAD (`before`): compared by kind and content, as many of each, since only their order may
/// change. The blocks brought in by `excused` commits (a forced edit leaves them unedited) are
/// left out on both sides; `map` takes an original commit to its copy.
fn check_same_blocks(
    before: &[Block],
    after: &[Block],
    excused: &HashSet<&str>,
    map: &HashMap<String, String>,
) -> Result<(), ContextError> {
    let original: HashMap<&str, &str> = map
        .iter()
        .map(|(original, copy)| (copy.as_str(), original.as_str()))
        .collect();
    let original_of = |id: &str| original.get(id).copied().unwrap_or(id).to_owned();
    let mut unmatched: HashMap<(CommitKind, &str), Vec<&str>> = HashMap::new();
    for block in after.iter().rev() {
        if !excused.contains(original_of(&block.id).as_str()) {
            let same = unmatched.entry((block.kind, block.content.as_str()));
            same.or_default().push(block.id.as_str());
        }
    }
    for block in before.iter().filter(|b| !excused.contains(b.id.as_str())) {
        let same = unmatched.get_mut(&(block.kind, block.content.as_str()));
        if same.and_then(Vec::pop).is_none() {
            return Err(ContextError::ReorderChangesBlock {
                block: block.id.clone(),
            });
        }
    }
    let left: HashSet<&str> = unmatched.into_values().flatten().collect();
    match after.iter().find(|block| left.contains(block.id.as_str())) {
        Some(added) => Err(ContextError::ReorderAddsBlock {
            commit: original_of(&added.id),
        }),
        None => Ok(()),
    }
}

/// The replay of `commit` with `content`: after `parents` (none or its new first parent), its
/// other parents, then its target and links, sent through `map` to their new copies.
fn replayed(
    commit: &Commit,
    content: String,
    mut parents: Vec<String>,
    map: &HashMap<String, String>,
) -> NewCommit {
    let mapped = |id: &String| map.get(id).cloned().unwrap_or_else(|| id.clone());
    parents.extend(commit.parents.iter().skip(1).map(mapped));
    let mut links: BTreeMap<String, String> = commit
        .links
        .iter()
        .map(|(name, value)| (name.clone(), mapped(value)))
        .collect();
    links.insert(REBASED_FROM_LINK.to_owned(), commit.id.clone());
    NewCommit {
        kind: commit.kind,
        message: commit.message.clone(),
        content,
        parents,
        target: commit.target.as_ref().map(mapped),
        tokens: (!commit.tokens_counted).then_some(commit.tokens),
        links,
    }
}

fn unchanged(refs: Refs, tokens: u64) -> Rewrite {
    Rewrite {
        commits: Vec::new(),
        refs,
        tokens_before: tokens,
        tokens_after: tokens,
        warnings: Vec::new(),
        flattened: Vec::new(),
        pins_checked: 0,
        conflicts: Vec::new(),
    }
}
