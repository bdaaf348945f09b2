//! What the library tests of context version control share: a fresh workspace's recorder, the
//! contents of an agent's context, the op of its last ref move, and the context error inside
//! an error (`#[path = "common/context_lib.rs"] mod context_lib;`).

#![allow(dead_code)] // each test binary uses a different part of this module

use agentrail::context::{Agent, CommitKind, CommitRequest, ContextError};
use agentrail::journal::Durability;
use agentrail::recorder::Recorder;
use agentrail::workspace::Workspace;
use agentrail::Error;

/// A recorder on a new workspace of 64 KiB segments in `temp`, appending in mode `never`.
pub fn recorder(temp: &tempfile::TempDir) -> Recorder {
    let workspace = Workspace::init(&temp.path().join(".agentrail"), 65536).unwrap();
    Recorder::open(workspace, Durability::Never).unwrap()
}

/// The blocks' contents of `agent`'s context at `at` (a branch or commit), else at HEAD.
pub fn contents_at(agent: &Agent, at: Option<&str>) -> Vec<String> {
    let context = agent.context(at).unwrap();
    context
        .blocks
        .into_iter()
        .map(|block| block.content)
        .collect()
}

/// The blocks' contents of `agent`'s context at HEAD.
pub fn contents(agent: &Agent) -> Vec<String> {
    contents_at(agent, None)
}

/// The blocks of `agent`'s context at HEAD, each as its content and kind.
pub fn contents_and_kinds(agent: &Agent) -> Vec<(String, CommitKind)> {
    let context = agent.context(None).unwrap();
    context
        .blocks
        .into_iter()
        .map(|block| (block.content, block.kind))
        .collect()
}

pub fn context_error(error: Error) -> ContextError {
    match error {
        Error::Context(error) => error,
        other => panic!("expected a context error, got {other}"),
    }
}

/// Commits `content` (also its message, its length as its tokens) on `agent`'s HEAD; its id.
pub fn commit(agent: &Agent, kind: CommitKind, content: &str, target: Option<&str>) -> String {
    let request = CommitRequest {
        kind,
        message: content.to_owned(),
        content: content.to_owned(),
        target: target.map(str::to_owned),
        tokens: Some(content.len() as u64),
    };
    agent.commit(request).unwrap().id
}

/// Appends `content` on `agent`'s HEAD; its id.
pub fn append(agent: &Agent, content: &str) -> String {
    commit(agent, CommitKind::Append, content, None)
}

/// The op of the agent's latest ref move.
pub fn last_op(agent: &Agent) -> String {
    let graph = agent.graph().unwrap();
    graph
        .reflog(agent.name())
        .last()
        .expect("a ref move")
        .op
        .clone()
}
