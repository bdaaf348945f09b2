//! Sub-agents: an agent starts another agent's context (`spawn`), later folds the child's
//! result back into its own context as one block (`collapse`), and either commit can be opened
//! to show the child's commits inline (`expand`). The child is an ordinary agent with its own
//! refs and reflog; what ties the two contexts together are the commits' `links`, which the ids
//! cover (`format-spec/events.md`, section 7).
//!
//! Architecture invariant: a spawn is the child's root commit and the parent's spawn commit,
//! written with `move_head: false`, then one `ref_update` that moves the parent's refs and
//! carries the child's in `also`. A crash leaves both agents as before (the two commits exist,
//! unreferenced) or both as after; never a parent pointing at a child that has no context.

use super::graph::{Commit, Graph};
use super::materialize::{content_at, materialize, Context};
use super::ops::{Agent, NewCommit, RefChange};
use super::revision::IdScope;
use super::{CommitKind, ContextError, Refs};
use crate::error::Result;
use crate::event::schema::is_branch_name;
use std::collections::BTreeMap;

/// On a spawn or collapse commit: the child agent's name.
pub const LINK_CHILD: &str = "child";
/// On a spawn commit: the child's root commit.
pub const LINK_CHILD_ROOT: &str = "child_root";
/// On a collapse commit: the child's HEAD commit when it was collapsed.
pub const LINK_CHILD_HEAD: &str = "child_head";
/// On a child's root commit: the agent that spawned it.
pub const LINK_PARENT_AGENT: &str = "parent_agent";
/// On a child's root commit: the parent's HEAD commit at the spawn (absent when unborn).
pub const LINK_SPAWNED_FROM: &str = "spawned_from";

/// The reflog op of a spawn (on both agents) and of a collapse (on the parent).
pub const OP_SPAWN: &str = "spawn";
pub const OP_COLLAPSE: &str = "collapse";

/// What a spawn wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spawned {
    /// The parent's new HEAD commit, linking to the child.
    pub spawn: Commit,
    /// The child's first commit, holding its task and linking back.
    pub root: Commit,
}

/// What a collapse wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collapsed {
    /// The parent's new HEAD commit.
    pub commit: Commit,
    pub output: String,
    pub summary: String,
    /// The child's HEAD it summarizes.
    pub child_head: String,
}

/// Which kind of sub-agent commit an expansion opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubagentCommitKind {
    Spawn,
    Collapse,
}

/// A commit with its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitText {
    pub commit: Commit,
    pub content: String,
}

/// A spawn or collapse commit with the child's commits inline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expansion {
    pub kind: SubagentCommitKind,
    pub commit: CommitText,
    pub child: String,
    /// The child's commits, parents before children (a merged branch's after the line it
    /// joins, as [`Graph::topological`] orders them): those reachable from the collapsed head
    /// for a collapse, from the child's HEAD now for a spawn (its root alone when HEAD no
    /// longer reaches it).
    pub child_commits: Vec<CommitText>,
}

fn links(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect()
}

fn append(message: String, content: String, parents: Vec<String>) -> NewCommit {
    NewCommit {
        kind: CommitKind::Append,
        message,
        content,
        parents,
        target: None,
        tokens: None,
        links: BTreeMap::new(),
    }
}

/// The content of a collapse commit: the block the parent's context gains.
pub fn collapse_content(child: &str, summary: &str, output: &str) -> String {
    format!("Sub-agent {child} finished.\n\nSummary:\n{summary}\n\nOutput:\n{output}")
}

impl Agent<'_> {
    /// Starts agent `child`, which must have no context yet: its root commit holds `task` (or a
    /// line naming the parent) and links back; this agent's HEAD gains a spawn commit linking
    /// to the child. Both agents move in one `ref_update` (op `spawn`).
    pub fn spawn(&self, child: &str, task: Option<&str>) -> Result<Spawned> {
        if task.is_some_and(|task| task.trim().is_empty()) {
            let child = child.to_owned();
            return Err(ContextError::EmptyTask { child }.into());
        }
        let (lock, graph) = self.lock_graph(&[child])?;
        self.check_new_child(&graph, child)?;
        let mut refs = graph.refs(self.name());
        let from = refs.head_commit().map(str::to_owned);
        let parent = self.name();
        let child_agent = Agent::new(self.recorder(), child, self.session().map(str::to_owned));
        let task_text = task.map_or_else(
            || format!("You are sub-agent {child} of agent {parent}."),
            str::to_owned,
        );
        let mut root = append(format!("spawned by {parent}"), task_text, Vec::new());
        root.links = links(&[(LINK_PARENT_AGENT, parent)]);
        if let Some(from) = &from {
            root.links.insert(LINK_SPAWNED_FROM.into(), from.clone());
        }
        let root = child_agent.commit_event(root, false)?;
        let spawn_text = match task {
            Some(task) => format!("Spawned sub-agent {child} with the task:\n{task}"),
            None => format!("Spawned sub-agent {child}."),
        };
        let mut spawn = append(
            format!("spawn {child}"),
            spawn_text,
            from.into_iter().collect(),
        );
        spawn.links = links(&[(LINK_CHILD, child), (LINK_CHILD_ROOT, &root.1.id)]);
        let spawn = self.commit_event(spawn, false)?;
        refs.move_head_to(&spawn.1.id);
        let mut child_refs = Refs::default();
        child_refs.move_head_to(&root.1.id);
        let change = RefChange {
            op: OP_SPAWN.to_owned(),
            mode: None,
            refs,
            also: BTreeMap::from([(child.to_owned(), child_refs)]),
        };
        let mut written = self
            .record_op(&lock, change, vec![root, spawn])?
            .into_iter();
        match (written.next(), written.next()) {
            (Some(root), Some(spawn)) => Ok(Spawned { spawn, root }),
            _ => unreachable!("record_op returns the two commits it was given"),
        }
    }

    fn check_new_child(&self, graph: &Graph, child: &str) -> Result<(), ContextError> {
        self.check_new_agent(graph)?;
        if !is_branch_name(child) {
            return Err(ContextError::BadAgentName {
                name: child.to_owned(),
            });
        }
        if child == self.name() {
            return Err(ContextError::SpawnItself {
                agent: child.to_owned(),
            });
        }
        if graph.refs(child).pointed_at().next().is_some() {
            return Err(ContextError::AgentExists {
                agent: child.to_owned(),
            });
        }
        Ok(())
    }

    /// Folds `child` (which this agent spawned) back into this agent's context: one commit on
    /// HEAD (op `collapse`) holding the child's final output (`output`, else the content of the
    /// child's HEAD commit) and the summary `summarize` makes of the child's context at HEAD.
    /// `summarize` runs only after every check passed; its `Err` is the reason it failed.
    pub fn collapse(
        &self,
        child: &str,
        output: Option<String>,
        summarize: impl FnOnce(&Context) -> Result<String, String>,
    ) -> Result<Collapsed> {
        let (lock, graph) = self.lock_graph(&[child])?;
        let child_head = self.child_head(&graph, child)?;
        self.check_not_collapsed(&graph, child, &child_head)?;
        let journal = self.recorder().journal();
        let context = materialize(journal, &graph, Some(&child_head))?;
        let output = match output {
            Some(output) => output,
            None => {
                let head = graph
                    .commit(&child_head)
                    .expect("refs point at known commits");
                content_at(journal, head)?
            }
        };
        let summary = summarize(&context).map_err(|reason| ContextError::SummarizerFailed {
            child: child.to_owned(),
            reason,
        })?;
        if summary.trim().is_empty() {
            let child = child.to_owned();
            return Err(ContextError::EmptySummary { child }.into());
        }
        let mut refs = graph.refs(self.name());
        let parents = refs.head_commit().map(str::to_owned).into_iter().collect();
        let content = collapse_content(child, &summary, &output);
        let mut new = append(format!("collapse {child}"), content, parents);
        new.links = links(&[(LINK_CHILD, child), (LINK_CHILD_HEAD, &child_head)]);
        let commit = self.commit_event(new, false)?;
        refs.move_head_to(&commit.1.id);
        let change = RefChange {
            op: OP_COLLAPSE.to_owned(),
            mode: None,
            refs,
            also: BTreeMap::new(),
        };
        let commit = self.record_op(&lock, change, vec![commit])?.remove(0);
        Ok(Collapsed {
            commit,
            output,
            summary,
            child_head,
        })
    }

    /// The HEAD commit of `child`, which must be born and hold a root spawned by this agent.
    fn child_head(&self, graph: &Graph, child: &str) -> Result<String, ContextError> {
        graph.known_agent(child)?;
        let refs = graph.refs(child);
        let head = refs.head_commit().ok_or_else(|| ContextError::Unborn {
            agent: child.to_owned(),
            branch: refs.branch().unwrap_or_default().to_owned(),
        })?;
        let spawned_here = graph.topological(&[head]).iter().any(|commit| {
            commit.agent == child
                && commit.links.get(LINK_PARENT_AGENT).map(String::as_str) == Some(self.name())
        });
        if !spawned_here {
            return Err(ContextError::NotAChild {
                parent: self.name().to_owned(),
                child: child.to_owned(),
            });
        }
        Ok(head.to_owned())
    }

    /// Refuses a second collapse of the same child HEAD: the block it would add is already in
    /// this agent's context, and a summarizer run again would be paid for twice. A collapse
    /// that HEAD no longer reaches (after `reset` or `undo`) does not count.
    fn check_not_collapsed(
        &self,
        graph: &Graph,
        child: &str,
        child_head: &str,
    ) -> Result<(), ContextError> {
        let refs = graph.refs(self.name());
        let Some(head) = refs.head_commit().and_then(|head| graph.position(head)) else {
            return Ok(());
        };
        // By position and links, so that only a matching commit is built.
        let collapsed = graph
            .topological_positions(&[head])
            .into_iter()
            .rev()
            .filter(|&pos| {
                graph.link(pos, LINK_CHILD) == Some(child)
                    && graph.link(pos, LINK_CHILD_HEAD) == Some(child_head)
            })
            .map(|pos| graph.at(pos))
            .find(|commit| commit.agent == self.name());
        match collapsed {
            None => Ok(()),
            Some(commit) => Err(ContextError::AlreadyCollapsed {
                child: child.to_owned(),
                child_head: child_head.to_owned(),
                commit: commit.id.clone(),
            }),
        }
    }

    /// The spawn or collapse commit `rev` names (a revision whose base is HEAD, one of this
    /// agent's branches, else an id prefix of any agent's commit) with the child's commits
    /// inline, each with its content.
    pub fn expand(&self, rev: &str) -> Result<Expansion> {
        let graph = self.graph()?;
        let id = super::revision::resolve(&graph, self.name(), rev, IdScope::AnyAgent)?;
        let commit = graph
            .commit(&id)
            .ok_or(ContextError::UnknownCommit { prefix: id })?;
        let not_subagent = || ContextError::NotASubagentCommit {
            id: commit.id.clone(),
        };
        let child = commit.links.get(LINK_CHILD).ok_or_else(not_subagent)?;
        let (kind, line) = if let Some(head) = commit.links.get(LINK_CHILD_HEAD) {
            (SubagentCommitKind::Collapse, graph.topological(&[head]))
        } else if let Some(root) = commit.links.get(LINK_CHILD_ROOT) {
            let now = graph.refs(child).head_commit().map(str::to_owned);
            let line = now.map_or_else(Vec::new, |head| graph.topological(&[&head]));
            let line = if line.iter().any(|commit| &commit.id == root) {
                line
            } else {
                graph.topological(&[root])
            };
            (SubagentCommitKind::Spawn, line)
        } else {
            return Err(not_subagent().into());
        };
        let journal = self.recorder().journal();
        let with_text = |commit: &Commit| -> Result<CommitText> {
            Ok(CommitText {
                content: content_at(journal, commit)?,
                commit: commit.clone(),
            })
        };
        Ok(Expansion {
            kind,
            commit: with_text(commit)?,
            child: child.clone(),
            child_commits: line.into_iter().map(with_text).collect::<Result<_>>()?,
        })
    }
}
