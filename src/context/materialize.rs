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

use super::graph::{Commit, Graph, Node, Pos};
use super::CommitKind;
use crate::error::{Error, Result};
use crate::event::{event_payload, EventRecord, EventType, Value};
use crate::journal::Journal;
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
    fill(journal, graph, plan(graph, at), at, &HashMap::new())
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
    fill(journal, graph, plan(graph, Some(at)), Some(at), pending)
}

/// The context of a plan, each block's content taken from `pending` (by commit id) or else
/// read from the journal. It reads the graph's columns, building no [`Commit`].
fn fill(
    journal: &Journal,
    graph: &Graph,
    planned: Vec<Planned>,
    at: Option<&str>,
    pending: &HashMap<String, String>,
) -> Result<Context> {
    let pending_of = |pos: Pos| match pending.is_empty() {
        true => None,
        false => pending.get(&graph.id(pos)),
    };
    let recorded: Vec<Pos> = planned
        .iter()
        .map(|block| block.source)
        .filter(|&source| pending_of(source).is_none())
        .collect();
    let lsns: Vec<u64> = recorded.iter().map(|&source| graph.lsn(source)).collect();
    let mut read = read_contents(journal, &lsns, |index| graph.id(recorded[index]))?.into_iter();
    let mut blocks = Vec::with_capacity(planned.len());
    for block in planned {
        let content = match pending_of(block.source) {
            Some(content) => content.clone(),
            None => read.next().unwrap_or_default(),
        };
        blocks.push(Block {
            id: graph.id(block.brought_by),
            kind: block.kind,
            message: graph.message(block.brought_by).to_owned(),
            content,
            tokens: block.tokens,
            tokens_counted: block.tokens_counted,
            edited_by: (block.source != block.brought_by).then(|| graph.id(block.source)),
        });
    }
    let tokens = total_tokens(blocks.iter().map(|block| block.tokens));
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
    let blocks = plan(graph, at);
    ContextSize {
        blocks: blocks.len(),
        tokens: total_tokens(blocks.iter().map(|block| block.tokens)),
        tokens_counted: total_tokens(
            blocks
                .iter()
                .filter(|block| block.tokens_counted)
                .map(|block| block.tokens),
        ),
    }
}

/// The sum of token counts, held at `u64::MAX` rather than wrapping: a commit may give any
/// count (`--tokens`, or an imported event), and a total that wrapped would show a context
/// over its budget as nearly empty. The token totals of `llm_call`s saturate the same way.
fn total_tokens(counts: impl Iterator<Item = u64>) -> u64 {
    counts.fold(0, u64::saturating_add)
}

/// A block of a context by content keys, from the graph alone (no content is read).
pub(crate) struct BlockKeys {
    /// The commit that brought the block in.
    pub id: String,
    /// The key of the content that commit brought in.
    pub brought: u64,
    /// The key of the content the block shows (its last edit's).
    pub shown: u64,
}

/// The blocks of the context at `at`, by content keys.
pub(crate) fn block_keys(graph: &Graph, at: Option<&str>) -> Vec<BlockKeys> {
    plan(graph, at)
        .iter()
        .map(|block| BlockKeys {
            id: graph.at(block.brought_by).id.clone(),
            brought: graph.node(block.brought_by).content_key,
            shown: graph.node(block.source).content_key,
        })
        .collect()
}

/// One block of a context, without its content, worked out from the graph's columns.
struct Planned {
    /// The commit that brought the block in.
    brought_by: Pos,
    /// The commit whose content it shows: `brought_by`, or the last edit applied.
    source: Pos,
    kind: CommitKind,
    tokens: u64,
    tokens_counted: bool,
}

/// The blocks of the context at `at`, without their content. It reads only the graph's
/// columns (no commit is built), so `status` sizes a context of 100,000 commits quickly.
fn plan(graph: &Graph, at: Option<&str>) -> Vec<Planned> {
    build(graph, at).blocks
}

/// The commit whose content the context at `at` shows in the block that commit `id` brought
/// in or edited (`id` itself when nothing replaced it); `None` when `id` adds no block there.
pub(crate) fn shown_for(graph: &Graph, at: Option<&str>, id: &str) -> Option<String> {
    let builder = build(graph, at);
    let index = builder.block_of(graph.position(id)?)?;
    Some(graph.at(builder.blocks[index].source).id.clone())
}

/// [`plan`]'s builder, once every commit reachable from `at` is in.
fn build(graph: &Graph, at: Option<&str>) -> Builder {
    let order = match at.and_then(|at| graph.position(at)) {
        Some(at) => graph.topological_positions(&[at]),
        None => Vec::new(),
    };
    let mut builder = Builder::new(graph.len(), order.len());
    for pos in order {
        let node = graph.node(pos);
        if node.kind == CommitKind::Edit {
            builder.edit(graph, pos, node);
        } else {
            builder.add(pos, node);
        }
    }
    builder
}

/// The blocks so far, with the indexes that keep each step constant time.
struct Builder {
    blocks: Vec<Planned>,
    /// For each position, 1 + the block its commit brought in or edited; 0 for none.
    block_of: Vec<u32>,
    /// The blocks by their content's key, for keeping identical blocks once.
    by_content: HashMap<u64, Same, KeyHash>,
    /// The content key of each block's content.
    keys: Vec<u64>,
}

/// Hashes a content key by itself: it is already the start of a SHA-256, so spread evenly,
/// and SipHash over 100,000 keys was the largest cost of sizing a context.
type KeyHash = std::hash::BuildHasherDefault<KeyHasher>;

#[derive(Default)]
struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u64(&mut self, key: u64) {
        self.0 = key;
    }
}

/// The blocks with one content key: nearly always one; several only after edits.
enum Same {
    One(usize),
    Many(BTreeSet<usize>),
}

impl Builder {
    /// A builder for up to `commits` commits of a graph of `positions` commits.
    fn new(positions: usize, commits: usize) -> Builder {
        Builder {
            blocks: Vec::with_capacity(commits),
            block_of: vec![0; positions],
            by_content: HashMap::with_capacity_and_hasher(commits, KeyHash::default()),
            keys: Vec::with_capacity(commits),
        }
    }

    fn block_of(&self, pos: Pos) -> Option<usize> {
        let code = self.block_of[pos as usize];
        (code != 0).then(|| code as usize - 1)
    }

    fn set_block_of(&mut self, pos: Pos, index: usize) {
        self.block_of[pos as usize] = 1 + u32::try_from(index).expect("fewer than 2^32 blocks");
    }

    /// The first block whose content has `key`.
    fn first_with(&self, key: u64) -> Option<usize> {
        match self.by_content.get(&key)? {
            Same::One(index) => Some(*index),
            Same::Many(indexes) => indexes.first().copied(),
        }
    }

    fn index_content(&mut self, key: u64, index: usize) {
        match self.by_content.get_mut(&key) {
            None => {
                self.by_content.insert(key, Same::One(index));
            }
            Some(Same::One(other)) => {
                let other = *other;
                self.by_content
                    .insert(key, Same::Many(BTreeSet::from([other, index])));
            }
            Some(Same::Many(indexes)) => {
                indexes.insert(index);
            }
        }
    }

    fn unindex_content(&mut self, key: u64, index: usize) {
        let empty = match self.by_content.get_mut(&key) {
            None => false,
            Some(Same::One(other)) => *other == index,
            Some(Same::Many(indexes)) => {
                indexes.remove(&index);
                indexes.is_empty()
            }
        };
        if empty {
            self.by_content.remove(&key);
        }
    }

    fn add(&mut self, pos: Pos, node: Node) {
        if node.parents > 1 {
            return;
        }
        let key = node.content_key;
        if let Some(index) = self.first_with(key) {
            if node.kind == CommitKind::Pin {
                self.blocks[index].kind = CommitKind::Pin;
            }
            self.set_block_of(pos, index);
            return;
        }
        let index = self.blocks.len();
        self.set_block_of(pos, index);
        self.index_content(key, index);
        self.keys.push(key);
        self.blocks.push(Planned {
            brought_by: pos,
            source: pos,
            kind: node.kind,
            tokens: node.tokens,
            tokens_counted: node.tokens_counted,
        });
    }

    fn edit(&mut self, graph: &Graph, pos: Pos, node: Node) {
        let Some(index) = node.target.and_then(|target| self.block_of(target)) else {
            return;
        };
        self.unindex_content(self.keys[index], index);
        self.index_content(node.content_key, index);
        self.keys[index] = node.content_key;
        let block = &mut self.blocks[index];
        block.source = pos;
        block.tokens = node.tokens;
        block.tokens_counted = node.tokens_counted;
        self.set_block_of(pos, index);
        let resolved = graph.link(pos, super::merge::RESOLVES_LINK);
        if let Some(resolved) = resolved.and_then(|id| graph.position(id)) {
            self.drop_into(resolved, index);
        }
    }

    /// Removes the block `resolved` brought in or edited, unless it is block `keep`; the
    /// commits of the removed block then name `keep`, so later edits of either side's commits
    /// replace the one block left.
    fn drop_into(&mut self, resolved: Pos, keep: usize) {
        let Some(gone) = self.block_of(resolved) else {
            return;
        };
        if gone == keep {
            return;
        }
        self.blocks.remove(gone);
        self.unindex_content(self.keys[gone], gone);
        self.keys.remove(gone);
        let keep = if keep > gone { keep - 1 } else { keep };
        let shift = |index: usize| match index {
            index if index == gone => keep,
            index if index > gone => index - 1,
            index => index,
        };
        for code in self.block_of.iter_mut().filter(|code| **code != 0) {
            *code = 1 + shift(*code as usize - 1) as u32;
        }
        for same in self.by_content.values_mut() {
            match same {
                Same::One(index) => *index = shift(*index),
                Same::Many(indexes) => *indexes = indexes.iter().map(|&at| shift(at)).collect(),
            }
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
    let lsns: Vec<u64> = commits.iter().map(|commit| commit.lsn).collect();
    read_contents(journal, &lsns, |index| commits[index].id.clone())
}

/// The contents of the commits at `lsns`, as [`contents_at`]; `id_of` gives the id of the
/// commit at an index of `lsns`, asked for only to name a removed or missing content.
fn read_contents(
    journal: &Journal,
    lsns: &[u64],
    id_of: impl Fn(usize) -> String,
) -> Result<Vec<String>> {
    let mut by_lsn: Vec<(u64, usize)> = lsns.iter().copied().zip(0..).collect();
    by_lsn.sort_unstable();
    let mut contents = vec![String::new(); lsns.len()];
    let mut reader: Option<(crate::journal::Reader, u64)> = None;
    for (lsn, index) in by_lsn {
        let near = reader
            .as_ref()
            .is_some_and(|(_, next)| *next <= lsn && lsn - *next <= CONTENT_READ_GAP_RECORDS_MAX);
        if !near {
            reader = Some((journal.read_from(lsn)?, lsn));
        }
        let (records, next) = reader.as_mut().expect("a reader was just made");
        contents[index] = content_in(records, next, lsn, || id_of(index))?;
    }
    Ok(contents)
}

/// Reads `records` (at `*next`) up to `lsn` and returns the content of the commit there.
fn content_in(
    records: &mut crate::journal::Reader,
    next: &mut u64,
    lsn: u64,
    id: impl Fn() -> String,
) -> Result<String> {
    loop {
        let Some(record) = records.next() else {
            return Err(missing_content(lsn, &id(), "is not in the journal"));
        };
        let record = record?;
        *next = record.lsn + 1;
        if record.lsn < lsn {
            continue;
        }
        return match event_payload(&record)? {
            Ok(payload) => content_of(EventRecord::decode(lsn, payload)?, lsn, id),
            Err(_) => Err(missing_content(lsn, &id(), "is not in the journal")),
        };
    }
}

fn missing_content(lsn: u64, id: &str, reason: &str) -> Error {
    Error::Decode {
        lsn,
        reason: format!("the content of commit {id} {reason}"),
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
    read_contents(journal, &[commit.lsn], |_| commit.id.clone())
        .map(|mut contents| contents.remove(0))
}

/// The content of the commit at `lsn` from its event: the marker of [`removed_content`] when
/// gc or purge removed it (a commit event without `content`).
fn content_of(mut event: EventRecord, lsn: u64, id: impl Fn() -> String) -> Result<String> {
    match event.take_field("content") {
        Some(Value::String(content)) => Ok(content),
        None if event.event_type == EventType::Commit.as_str() => Ok(removed_content(&id())),
        _ => Err(missing_content(lsn, &id(), "is not a string")),
    }
}
