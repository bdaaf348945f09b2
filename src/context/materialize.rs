//! Materializing a context: the blocks reachable from a commit, oldest first, as the prompt an
//! agent resumes from. The graph holds no content, only each commit's content key (a hash of
//! it), so the blocks are worked out from the graph alone ([`size_at`] stops there, for
//! `status`), and then the content of each block left is read back from the journal at the
//! LSN of the commit it shows, in one forward pass.
//!
//! The rules, in the order of [`Graph::topological`] (first-parent line first, a merge's other
//! side after it): an `append` or `pin` adds a block at the end, unless a block with the same
//! content (the same content key) is already there (identical blocks are kept once, as when two sides of a merge hold
//! the same block; it stays pinned if either was); an `edit` replaces the content and token
//! count of its target's block in place (an edit of an edit replaces the same block); an edit
//! whose target is not in the context changes nothing. A merge commit (two or more parents)
//! adds no block. An edit that resolves a merge conflict (its `resolves` link names the other
//! side's commit) also drops that commit's block when it is another block than its target's,
//! so two contradicting pins become the one resolved pin.

use super::graph::{Commit, Graph};
use super::CommitKind;
use crate::error::{Error, Result};
use crate::event::{decode_record, Decoded};
use crate::journal::Journal;
use crate::query::{event_at, Found};
use std::collections::{BTreeSet, HashMap};

/// One block of a materialized context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The commit that brought the block in.
    pub id: String,
    pub kind: CommitKind,
    pub message: String,
    pub content: String,
    pub tokens: u64,
    /// True when the tokenizer counted `tokens`, false when the commit gave them.
    pub tokens_counted: bool,
    /// The last edit applied to the block, if any.
    pub edited_by: Option<String>,
}

/// A materialized context.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    /// The commit it was materialized at; `None` for an unborn branch.
    pub at: Option<String>,
    pub blocks: Vec<Block>,
    /// The sum of the blocks' tokens.
    pub tokens: u64,
}

/// The context at commit `at` (`None`: the empty context of an unborn branch).
pub fn materialize(journal: &Journal, graph: &Graph, at: Option<&str>) -> Result<Context> {
    fill(journal, plan(graph, at), at, &HashMap::new())
}

/// The context at `at` in `graph`, which may hold commits an operation has not recorded yet:
/// their contents are `pending`'s (by commit id), the others' are read from the journal. It
/// lets an operation check what it would leave before it writes anything.
pub fn materialize_pending(
    journal: &Journal,
    graph: &Graph,
    at: &str,
    pending: &HashMap<String, String>,
) -> Result<Context> {
    fill(journal, plan(graph, Some(at)), Some(at), pending)
}

/// The context of a plan, each block's content taken from `pending` (by commit id) or else
/// read from the journal.
fn fill(
    journal: &Journal,
    builder: Builder,
    at: Option<&str>,
    pending: &HashMap<String, String>,
) -> Result<Context> {
    let recorded: Vec<&Commit> = builder
        .sources
        .iter()
        .filter(|commit| !pending.contains_key(&commit.id))
        .copied()
        .collect();
    let mut read = contents_at(journal, &recorded)?.into_iter();
    let mut blocks = builder.blocks;
    for (block, source) in blocks.iter_mut().zip(&builder.sources) {
        block.content = match pending.get(&source.id) {
            Some(content) => content.clone(),
            None => read.next().unwrap_or_default(),
        };
    }
    let tokens = blocks.iter().map(|block| block.tokens).sum();
    Ok(Context {
        at: at.map(str::to_owned),
        blocks,
        tokens,
    })
}

/// The size of a context, worked out from the graph alone (no content is read).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ContextSize {
    pub blocks: usize,
    pub tokens: u64,
    /// The part of `tokens` the tokenizer counted (the rest the commits gave).
    pub tokens_counted: u64,
}

/// The size of the context at `at`, as [`materialize`] would give it, without reading the
/// journal: identical blocks are found by their commits' content keys.
pub fn size_at(graph: &Graph, at: Option<&str>) -> ContextSize {
    let blocks = plan(graph, at).blocks;
    ContextSize {
        blocks: blocks.len(),
        tokens: blocks.iter().map(|block| block.tokens).sum(),
        tokens_counted: blocks
            .iter()
            .filter(|block| block.tokens_counted)
            .map(|block| block.tokens)
            .sum(),
    }
}

/// The blocks of the context at `at`, without their content, and the commit each one's content
/// comes from.
fn plan<'a>(graph: &'a Graph, at: Option<&str>) -> Builder<'a> {
    let commits = match at {
        Some(at) => graph.topological(&[at]),
        None => Vec::new(),
    };
    let mut builder = Builder::default();
    for commit in commits {
        if commit.kind == CommitKind::Edit {
            builder.edit(commit);
        } else {
            builder.add(commit);
        }
    }
    builder
}

/// The blocks so far (contents still empty), with the indexes that keep each step constant
/// time.
#[derive(Default)]
struct Builder<'a> {
    blocks: Vec<Block>,
    /// For each block, the commit whose content it shows (its own, or the last edit's).
    sources: Vec<&'a Commit>,
    /// The block each commit so far brought in or edited.
    block_of: HashMap<&'a str, usize>,
    /// The blocks by their content's key (several only after edits), for keeping identical
    /// blocks once.
    by_content: HashMap<u64, BTreeSet<usize>>,
}

impl<'a> Builder<'a> {
    fn add(&mut self, commit: &'a Commit) {
        if commit.parents.len() > 1 {
            return;
        }
        let key = commit.content_key;
        let first_same = self.by_content.get(&key).and_then(|same| same.first());
        if let Some(&index) = first_same {
            if commit.kind == CommitKind::Pin {
                self.blocks[index].kind = CommitKind::Pin;
            }
            self.block_of.insert(&commit.id, index);
            return;
        }
        let index = self.blocks.len();
        self.block_of.insert(&commit.id, index);
        self.by_content.entry(key).or_default().insert(index);
        self.sources.push(commit);
        self.blocks.push(Block {
            id: commit.id.clone(),
            kind: commit.kind,
            message: commit.message.clone(),
            content: String::new(),
            tokens: commit.tokens,
            tokens_counted: commit.tokens_counted,
            edited_by: None,
        });
    }

    fn edit(&mut self, commit: &'a Commit) {
        let Some(&index) = commit
            .target
            .as_deref()
            .and_then(|target| self.block_of.get(target))
        else {
            return;
        };
        let old_key = self.sources[index].content_key;
        if let Some(same) = self.by_content.get_mut(&old_key) {
            same.remove(&index);
        }
        self.by_content
            .entry(commit.content_key)
            .or_default()
            .insert(index);
        self.sources[index] = commit;
        let block = &mut self.blocks[index];
        block.tokens = commit.tokens;
        block.tokens_counted = commit.tokens_counted;
        block.edited_by = Some(commit.id.clone());
        self.block_of.insert(&commit.id, index);
        if let Some(resolved) = commit.links.get(super::merge::RESOLVES_LINK) {
            self.drop_into(resolved, index);
        }
    }

    /// Removes the block `resolved` brought in or edited, unless it is block `keep`; the
    /// commits of the removed block then name `keep`, so later edits of either side's commits
    /// replace the one block left.
    fn drop_into(&mut self, resolved: &str, keep: usize) {
        let Some(&gone) = self.block_of.get(resolved) else {
            return;
        };
        if gone == keep {
            return;
        }
        self.blocks.remove(gone);
        let removed = self.sources.remove(gone);
        if let Some(same) = self.by_content.get_mut(&removed.content_key) {
            same.remove(&gone);
        }
        let keep = if keep > gone { keep - 1 } else { keep };
        let shift = |index: usize| match index {
            index if index == gone => keep,
            index if index > gone => index - 1,
            index => index,
        };
        for index in self.block_of.values_mut() {
            *index = shift(*index);
        }
        for same in self.by_content.values_mut() {
            *same = same.iter().map(|&index| shift(index)).collect();
        }
    }
}

/// Records a read may pass over rather than start again at the next LSN it needs (which
/// finds the segment, and in a sealed one decompresses the block, again).
const CONTENT_READ_GAP_RECORDS_MAX: u64 = 4096;

/// The contents of `commits`, in their order, read in one forward pass over the journal that
/// starts over only to jump a gap of more than [`CONTENT_READ_GAP_RECORDS_MAX`] records:
/// reading each by its LSN would decompress a block per commit.
pub fn contents_at(journal: &Journal, commits: &[&Commit]) -> Result<Vec<String>> {
    let mut by_lsn: Vec<(u64, usize)> = commits
        .iter()
        .enumerate()
        .map(|(index, commit)| (commit.lsn, index))
        .collect();
    by_lsn.sort_unstable();
    let mut contents = vec![String::new(); commits.len()];
    let mut reader: Option<(crate::journal::Reader, u64)> = None;
    for (lsn, index) in by_lsn {
        let near = reader
            .as_ref()
            .is_some_and(|(_, next)| *next <= lsn && lsn - *next <= CONTENT_READ_GAP_RECORDS_MAX);
        if !near {
            reader = Some((journal.read_from(lsn)?, lsn));
        }
        let (records, next) = reader.as_mut().expect("a reader was just made");
        contents[index] = content_in(records, next, lsn, commits[index])?;
    }
    Ok(contents)
}

/// Reads `records` (at `*next`) up to `lsn` and returns the content of the commit there.
fn content_in(
    records: &mut crate::journal::Reader,
    next: &mut u64,
    lsn: u64,
    commit: &Commit,
) -> Result<String> {
    let missing = |reason: &str| Error::Decode {
        lsn: commit.lsn,
        reason: format!("the content of commit {} {reason}", commit.id),
    };
    loop {
        let Some(record) = records.next() else {
            return Err(missing("is not in the journal"));
        };
        let record = record?;
        *next = record.lsn + 1;
        if record.lsn < lsn {
            continue;
        }
        return match decode_record(&record)? {
            Decoded::Event(event) => content_of(&event, commit),
            Decoded::Skipped { .. } => Err(missing("is not in the journal")),
        };
    }
}

/// The text that stands for the content of a commit whose content gc or purge removed: one
/// per commit, so that two removed blocks are not taken for the same block.
pub fn removed_content(id: &str) -> String {
    format!(
        "[content of commit {} removed by gc or purge]",
        super::id::short_id(id)
    )
}

/// The content of a commit, read from its event ([`removed_content`] when it was removed).
pub fn content_at(journal: &Journal, commit: &Commit) -> Result<String> {
    let missing = |reason: &str| Error::Decode {
        lsn: commit.lsn,
        reason: format!("the content of commit {} {reason}", commit.id),
    };
    match event_at(journal, commit.lsn)? {
        Found::Event(event) => content_of(&event, commit),
        Found::Skipped | Found::Absent => Err(missing("is not in the journal")),
    }
}

/// The content of `commit` from its event: the marker of [`removed_content`] when gc or purge
/// removed it.
fn content_of(event: &crate::event::Event, commit: &Commit) -> Result<String> {
    if crate::event::tombstone::is_removed_commit(event) {
        return Ok(removed_content(&commit.id));
    }
    event
        .text("content")
        .map(str::to_owned)
        .ok_or_else(|| Error::Decode {
            lsn: commit.lsn,
            reason: format!("the content of commit {} is not a string", commit.id),
        })
}
