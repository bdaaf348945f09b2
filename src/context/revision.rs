//! Revisions: the text a person types for a commit, read as git reads it. A base, `HEAD` (the
//! agent's HEAD, on a branch or detached), a branch name or a commit id prefix, then any number
//! of steps: `~N` goes back N first parents (`~` is `~1`), `^N` takes the N-th parent (`^` is
//! `^1`, the first; `^2` a merge's second; `^0` the commit itself). Steps chain as in git:
//! `main~2^2~1` is the first parent of the second parent of main's grandparent.
//!
//! Parsing ([`Revision::parse`]) needs no graph, so the syntax is tested alone; [`walk`] takes
//! the steps through a graph; [`resolve`] does both for an agent. A branch whose whole name
//! holds `~` or `^` (allowed before they were revision syntax) still names that branch.

use super::graph::Graph;
use super::id::short_id;
use super::ContextError;

/// The base naming the agent's HEAD.
pub const HEAD: &str = "HEAD";

/// What a revision starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base<'a> {
    /// The agent's HEAD.
    Head,
    /// A branch of the agent, else a commit id prefix.
    Name(&'a str),
}

/// One step from a commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// `~N`: N first parents back.
    Ancestor(u32),
    /// `^N`: the N-th parent (1 is the first); `^0` is the commit itself.
    Parent(u32),
}

/// A parsed revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revision<'a> {
    /// The text as typed, which errors name.
    pub text: &'a str,
    pub base: Base<'a>,
    pub steps: Vec<Step>,
}

impl<'a> Revision<'a> {
    /// Reads `text`: a base, then `~N` and `^N` steps with optional decimal counts.
    pub fn parse(text: &'a str) -> Result<Revision<'a>, ContextError> {
        let bad = |reason: String| ContextError::BadRevision {
            rev: text.to_owned(),
            reason,
        };
        let (base, mut rest) = text.split_at(text.find(['~', '^']).unwrap_or(text.len()));
        let base = match base {
            "" => {
                return Err(bad(
                    "it names no commit, branch or HEAD before `~` or `^`".into()
                ))
            }
            HEAD => Base::Head,
            name => Base::Name(name),
        };
        let mut steps = Vec::new();
        while let Some(operator) = rest.chars().next() {
            let after = &rest[1..];
            let digits = after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            let (count, tail) = after.split_at(digits);
            let count = match count {
                "" => 1,
                count => count.parse::<u32>().map_err(|_| {
                    bad(format!(
                        "the count {count} is too large (at most {})",
                        u32::MAX
                    ))
                })?,
            };
            steps.push(match operator {
                '~' => Step::Ancestor(count),
                _ => Step::Parent(count),
            });
            if let Some(next) = tail.chars().next().filter(|c| !matches!(c, '~' | '^')) {
                return Err(bad(format!(
                    "'{next}' after {operator}{}: only digits, `~` and `^` may follow a `~` or `^`",
                    &after[..digits]
                )));
            }
            rest = tail;
        }
        Ok(Revision { text, base, steps })
    }
}

/// The commit `revision`'s steps reach from `start` (a full id of a commit in `graph`).
pub fn walk(graph: &Graph, revision: &Revision, start: &str) -> Result<String, ContextError> {
    let mut id = start.to_owned();
    for &step in &revision.steps {
        match step {
            Step::Ancestor(count) => {
                for _ in 0..count {
                    id = parent(graph, revision, &id, 1)?;
                }
            }
            Step::Parent(0) => {}
            Step::Parent(number) => id = parent(graph, revision, &id, number)?,
        }
    }
    Ok(id)
}

/// Parent `number` (1 is the first) of commit `id`, or the error naming the revision.
fn parent(
    graph: &Graph,
    revision: &Revision,
    id: &str,
    number: u32,
) -> Result<String, ContextError> {
    let parents = graph
        .commit(id)
        .map_or(&[][..], |commit| &commit.parents[..]);
    let index = usize::try_from(number - 1).unwrap_or(usize::MAX);
    match parents.get(index) {
        Some(parent) => Ok(parent.clone()),
        None if parents.is_empty() => Err(ContextError::PastRoot {
            rev: revision.text.to_owned(),
            root: short_id(id).to_owned(),
        }),
        None => Err(ContextError::NoSuchParent {
            rev: revision.text.to_owned(),
            commit: short_id(id).to_owned(),
            parent: number,
            parents: parents.len(),
        }),
    }
}

/// Whose commits an id prefix in a revision may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdScope {
    /// Only the agent's own (what the agent's operations take).
    Agent,
    /// Any agent's (`show` and `expand`, which only read).
    AnyAgent,
}

/// The full id `text` names for `agent`: its base (HEAD, one of the agent's branches, else a
/// commit id prefix within `scope`), walked through its steps.
pub fn resolve(
    graph: &Graph,
    agent: &str,
    text: &str,
    scope: IdScope,
) -> Result<String, ContextError> {
    let refs = graph.refs(agent);
    if text != HEAD {
        if let Some(id) = refs.branches.get(text) {
            return Ok(id.clone());
        }
    }
    let revision = Revision::parse(text)?;
    let start = match revision.base {
        Base::Head => refs
            .head_commit()
            .ok_or_else(|| ContextError::UnbornHead {
                rev: text.to_owned(),
                agent: agent.to_owned(),
                branch: refs.branch().unwrap_or_default().to_owned(),
            })?
            .to_owned(),
        Base::Name(name) => match refs.branches.get(name) {
            Some(id) => id.clone(),
            None => commit_by_prefix(graph, agent, name, scope)?,
        },
    };
    walk(graph, &revision, &start)
}

/// The commit an id prefix names, refused when `scope` is the agent's and another owns it.
fn commit_by_prefix(
    graph: &Graph,
    agent: &str,
    prefix: &str,
    scope: IdScope,
) -> Result<String, ContextError> {
    let commit = graph.resolve(prefix)?;
    if scope == IdScope::Agent && commit.agent != agent {
        return Err(ContextError::OtherAgent {
            id: commit.id.clone(),
            owner: commit.agent.clone(),
            agent: agent.to_owned(),
        });
    }
    Ok(commit.id.clone())
}

#[cfg(test)]
mod tests;
