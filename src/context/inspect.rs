//! Inspecting contexts without changing them: `blame` (which commit brought a piece of text
//! into an agent's context), `audit` (what an agent's context held at a past LSN or time, from
//! the graph replayed up to then) and `diff` (the commits one revision has and the other lacks,
//! and a unified text diff of the two materialized contexts). Nothing here appends.
//!
//! Audit replays the journal into a fresh [`Graph`] and never touches the projector's
//! checkpoints; materializing reads contents by LSN, which works for a past graph as well,
//! since the journal only grows.

use super::graph::{Commit, Graph};
use super::materialize::{materialize, Block, Context};
use super::ops::Agent;
use super::{ContextError, Refs};
use crate::error::Result;
use crate::event::decode_record_ref;
use crate::journal::Journal;
use crate::project::Projection;
use std::collections::HashSet;

/// Lines of unchanged context around each change of a text diff.
pub const DIFF_CONTEXT_LINES: usize = 3;

/// One block that holds the blamed text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlameHit {
    /// The block's position in the context, from 0.
    pub index: usize,
    /// The block: `id` is the commit that brought it in, `edited_by` the last edit of it.
    pub block: Block,
    /// Each line (1-based, within the block) where a match starts, with its text.
    pub lines: Vec<(usize, String)>,
}

/// The blocks of a context at a commit that hold a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blame {
    pub at: Option<String>,
    pub hits: Vec<BlameHit>,
}

/// When an audit looks: just after an LSN, or just after the last event at or before a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditBound {
    Lsn(u64),
    /// UTC microseconds since the Unix epoch.
    Time(i64),
}

/// What an agent's context held at a moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audit {
    /// The last LSN replayed (0: before the first event).
    pub lsn: u64,
    /// The time of the event at `lsn`.
    pub ts_micros: Option<i64>,
    /// The agent's refs then.
    pub refs: Refs,
    /// The context at its HEAD then.
    pub context: Context,
}

/// How two revisions of a context differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextDiff {
    pub from: String,
    pub to: String,
    /// Commits reachable from `from` and not from `to`, newest first.
    pub only_from: Vec<Commit>,
    /// Commits reachable from `to` and not from `from`, newest first.
    pub only_to: Vec<Commit>,
    /// A unified diff of the two materialized contexts; empty when they are the same text.
    pub unified: String,
}

/// The blocks of `context` whose content holds `text`, with the lines where it starts.
pub fn blame_in(context: &Context, text: &str) -> Result<Vec<BlameHit>, ContextError> {
    if text.is_empty() {
        return Err(ContextError::EmptyBlameText);
    }
    let hits = context
        .blocks
        .iter()
        .enumerate()
        .filter(|(_, block)| block.content.contains(text))
        .map(|(index, block)| BlameHit {
            index,
            block: block.clone(),
            lines: match_lines(&block.content, text),
        })
        .collect();
    Ok(hits)
}

/// The 1-based lines of `content` where a match of `text` starts, each once, with their text.
/// One pass: the line count and the line's start move forward with the matches.
fn match_lines(content: &str, text: &str) -> Vec<(usize, String)> {
    let mut lines: Vec<(usize, String)> = Vec::new();
    let (mut number, mut line_start, mut scanned) = (1usize, 0usize, 0usize);
    for (offset, _) in content.match_indices(text) {
        for (newline, _) in content[scanned..offset].match_indices('\n') {
            number += 1;
            line_start = scanned + newline + 1;
        }
        scanned = offset;
        if lines.last().is_some_and(|(last, _)| *last == number) {
            continue;
        }
        let line = content[line_start..].lines().next().unwrap_or_default();
        lines.push((number, line.to_owned()));
    }
    lines
}

/// The graph as it was after the events up to `lsn`, replayed from the journal.
pub fn graph_at(journal: &Journal, lsn: u64) -> Result<Graph> {
    let mut graph = Graph::default();
    if lsn == 0 {
        return Ok(graph);
    }
    for record in journal.read_from(1)? {
        let record = record?;
        if record.lsn > lsn {
            break;
        }
        if let Some(event) = decode_record_ref(&record)? {
            graph.apply(record.lsn, &event);
        }
    }
    Ok(graph)
}

/// The last event at or before `bound` and its time: `(0, None)` when there is none.
fn bound_event(journal: &Journal, bound: AuditBound) -> Result<(u64, Option<i64>)> {
    let last = journal.last_lsn();
    if let AuditBound::Lsn(lsn) = bound {
        if lsn > last {
            return Err(ContextError::LsnBeyondJournal { lsn, last }.into());
        }
    }
    let mut found = (0, None);
    for record in journal.read_from(1)? {
        let record = record?;
        let Some(event) = decode_record_ref(&record)? else {
            continue;
        };
        match bound {
            AuditBound::Lsn(lsn) if record.lsn > lsn => break,
            AuditBound::Time(time) if event.ts_micros > time => continue,
            _ => found = (record.lsn, Some(event.ts_micros)),
        }
    }
    Ok(found)
}

impl Agent<'_> {
    /// The blocks of the context at `at` (a branch or commit; default HEAD) that hold `text`:
    /// which commit brought each in, and which edit last changed it. The agent must exist, as
    /// for [`Agent::audit`]: a mistyped name is an error, not an empty context.
    pub fn blame(&self, text: &str, at: Option<&str>) -> Result<Blame> {
        if text.is_empty() {
            return Err(ContextError::EmptyBlameText.into());
        }
        let graph = self.graph()?;
        graph.known_agent(self.name())?;
        let context = self.context_in(&graph, at)?;
        let hits = blame_in(&context, text)?;
        Ok(Blame {
            at: context.at,
            hits,
        })
    }

    /// What this agent's context held at `bound`: the graph replayed up to the bound's event,
    /// then the context at the agent's HEAD in that graph. The agent must exist now.
    pub fn audit(&self, bound: AuditBound) -> Result<Audit> {
        self.graph()?.known_agent(self.name())?;
        let journal = self.recorder().journal();
        let (lsn, ts_micros) = bound_event(journal, bound)?;
        let graph = graph_at(journal, lsn)?;
        let refs = graph.refs(self.name());
        let context = materialize(journal, &graph, refs.head_commit())?;
        Ok(Audit {
            lsn,
            ts_micros,
            refs,
            context,
        })
    }

    /// How revision `to` differs from `from` (each a branch or a commit of this agent).
    pub fn diff(&self, from: &str, to: &str) -> Result<ContextDiff> {
        let graph = self.graph()?;
        let from_id = self.resolve(&graph, from)?;
        let to_id = self.resolve(&graph, to)?;
        let journal = self.recorder().journal();
        let from_text = context_text(&materialize(journal, &graph, Some(&from_id))?);
        let to_text = context_text(&materialize(journal, &graph, Some(&to_id))?);
        let unified = similar::TextDiff::from_lines(&from_text, &to_text)
            .unified_diff()
            .context_radius(DIFF_CONTEXT_LINES)
            .header(from, to)
            .to_string();
        Ok(ContextDiff {
            only_from: only_in(&graph, &from_id, &to_id),
            only_to: only_in(&graph, &to_id, &from_id),
            from: from_id,
            to: to_id,
            unified,
        })
    }
}

/// A context as the text an agent reads: the blocks one blank line apart whether or not their
/// content ends its last line (as a file read by `--file` does), newline-ended.
pub fn context_text(context: &Context) -> String {
    let blocks: Vec<&str> = context
        .blocks
        .iter()
        .map(|block| without_line_breaks_at_end(&block.content))
        .collect();
    let mut text = blocks.join("\n\n");
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

/// `text` without the line breaks (LF or CRLF) it ends with.
fn without_line_breaks_at_end(mut text: &str) -> &str {
    while let Some(rest) = text.strip_suffix('\n') {
        text = rest.strip_suffix('\r').unwrap_or(rest);
    }
    text
}

/// The commits reachable from `tip` and not from `other`, newest first.
fn only_in(graph: &Graph, tip: &str, other: &str) -> Vec<Commit> {
    let theirs: HashSet<&str> = graph
        .topological(&[other])
        .iter()
        .map(|commit| commit.id.as_str())
        .collect();
    let mut ours: Vec<Commit> = graph
        .topological(&[tip])
        .into_iter()
        .filter(|commit| !theirs.contains(commit.id.as_str()))
        .cloned()
        .collect();
    ours.reverse();
    ours
}

#[cfg(test)]
mod tests {
    use super::{context_text, match_lines};
    use crate::context::{Block, CommitKind, Context};

    #[test]
    fn blocks_are_one_blank_line_apart_whatever_line_break_ends_them() {
        let block = |content: &str| Block {
            id: String::new(),
            kind: CommitKind::Append,
            message: String::new(),
            content: content.to_owned(),
            tokens: 1,
            tokens_counted: false,
            edited_by: None,
        };
        let blocks = vec![block("a\n"), block("b\r\n\n"), block("c")];
        let context = Context {
            at: None,
            blocks,
            tokens: 3,
        };
        assert_eq!(context_text(&context), "a\n\nb\n\nc\n");
        assert_eq!(context_text(&Context::default()), "");
    }

    #[test]
    fn match_lines_names_each_line_once_with_its_text() {
        let content = "a key\nnothing\nkey and key\n\nlast key";
        assert_eq!(
            match_lines(content, "key"),
            [
                (1, "a key".to_owned()),
                (3, "key and key".to_owned()),
                (5, "last key".to_owned()),
            ]
        );
        assert_eq!(match_lines("x\ny", "\ny"), [(1, "x".to_owned())]);
        assert!(match_lines("abc", "z").is_empty());
    }
}
