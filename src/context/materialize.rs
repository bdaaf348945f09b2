//! Materializing a context: the blocks reachable from a commit, oldest first, as the prompt an
//! agent resumes from. The graph holds no content, so each block's content is read back from
//! the journal at its commit's LSN.
//!
//! The rules, in the order of [`Graph::topological`] (first-parent line first, a merge's other
//! side after it): an `append` or `pin` adds a block at the end, unless a block with the same
//! content is already there (identical blocks are kept once, as when two sides of a merge hold
//! the same block; it stays pinned if either was); an `edit` replaces the content and token
//! count of its target's block in place (an edit of an edit replaces the same block); an edit
//! whose target is not in the context changes nothing.

use super::graph::{Commit, Graph};
use super::CommitKind;
use crate::error::{Error, Result};
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
    let commits = match at {
        Some(at) => graph.topological(&[at]),
        None => Vec::new(),
    };
    let mut builder = Builder::default();
    for commit in commits {
        let content = content_at(journal, commit)?;
        if commit.kind == CommitKind::Edit {
            builder.edit(commit, content);
        } else {
            builder.add(commit, content);
        }
    }
    let tokens = builder.blocks.iter().map(|block| block.tokens).sum();
    Ok(Context {
        at: at.map(str::to_owned),
        blocks: builder.blocks,
        tokens,
    })
}

/// The blocks so far, with the indexes that keep each step constant time.
#[derive(Default)]
struct Builder<'a> {
    blocks: Vec<Block>,
    /// The block each commit so far brought in or edited.
    block_of: HashMap<&'a str, usize>,
    /// The blocks holding each content (more than one only after edits), for keeping
    /// identical blocks once.
    by_content: HashMap<String, BTreeSet<usize>>,
}

impl<'a> Builder<'a> {
    fn add(&mut self, commit: &'a Commit, content: String) {
        let first_same = self.by_content.get(&content).and_then(|same| same.first());
        if let Some(&index) = first_same {
            if commit.kind == CommitKind::Pin {
                self.blocks[index].kind = CommitKind::Pin;
            }
            self.block_of.insert(&commit.id, index);
            return;
        }
        let index = self.blocks.len();
        self.block_of.insert(&commit.id, index);
        self.by_content
            .entry(content.clone())
            .or_default()
            .insert(index);
        self.blocks.push(Block {
            id: commit.id.clone(),
            kind: commit.kind,
            message: commit.message.clone(),
            content,
            tokens: commit.tokens,
            tokens_counted: commit.tokens_counted,
            edited_by: None,
        });
    }

    fn edit(&mut self, commit: &'a Commit, content: String) {
        let Some(&index) = commit
            .target
            .as_deref()
            .and_then(|target| self.block_of.get(target))
        else {
            return;
        };
        let block = &mut self.blocks[index];
        if let Some(same) = self.by_content.get_mut(&block.content) {
            same.remove(&index);
        }
        self.by_content
            .entry(content.clone())
            .or_default()
            .insert(index);
        block.content = content;
        block.tokens = commit.tokens;
        block.tokens_counted = commit.tokens_counted;
        block.edited_by = Some(commit.id.clone());
        self.block_of.insert(&commit.id, index);
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
        Found::Event(event) if crate::event::tombstone::is_removed_commit(&event) => {
            Ok(removed_content(&commit.id))
        }
        Found::Event(event) => event
            .text("content")
            .map(str::to_owned)
            .ok_or_else(|| missing("is not a string")),
        Found::Skipped | Found::Absent => Err(missing("is not in the journal")),
    }
}
