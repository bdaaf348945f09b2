//! An agent's refs and reflog. The reflog keeps of each move only what changed (HEAD, and the
//! branches that moved), with commits as positions and names as indexes in a table of the
//! agent's own, so its size grows with the moves, not with moves times branches, and a
//! checkpoint of 100,000 moves decodes without an allocation per move.
//! [`AgentRefs::newest_first`] rebuilds the full refs before and after each move, walking back
//! from the current refs.

use super::commits::{Commits, Pos};
use super::names::Names;
use super::RefMove;
use crate::context::{Head, Refs};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// An agent's refs and the moves that led to them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AgentRefs {
    pub refs: Refs,
    moves: Vec<StoredMove>,
    /// Move `m`'s branch changes are `changes[moves[m - 1].changes_end..moves[m].changes_end]`.
    changes: Vec<BranchChange>,
    /// Ops, modes and branch names.
    names: Names,
}

/// One move, as kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct StoredMove {
    /// Index in `names`.
    op: u32,
    /// 0 for none, else 1 + its index in `names`.
    mode: u32,
    head_before: HeadBefore,
    changes_end: u64,
    lsn: u64,
    ts_micros: i64,
}

/// HEAD before a move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum HeadBefore {
    /// The move did not change it.
    Unchanged,
    /// On the branch of this name index.
    Branch(u32),
    /// Detached at this position.
    Detached(Pos),
}

/// A branch a move changed: 0 for "did not exist" (before) or "deleted" (after), else 1 + the
/// position it pointed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct BranchChange {
    name: u32,
    was: u32,
    is: u32,
}

/// The position of a commit a ref points at (refs only ever point at known commits).
fn pointed(commits: &Commits, id: &str) -> Pos {
    commits.position(id).expect("refs point at known commits")
}

fn optional(commits: &Commits, id: Option<&String>) -> u32 {
    id.map_or(0, |id| 1 + pointed(commits, id))
}

impl AgentRefs {
    /// How many times the refs moved.
    pub fn moves(&self) -> usize {
        self.moves.len()
    }

    /// Records a move of the refs to `after`, every commit of which is known.
    pub fn record(
        &mut self,
        commits: &Commits,
        op: &str,
        mode: Option<&str>,
        after: Refs,
        at: (u64, i64),
    ) {
        let before = std::mem::replace(&mut self.refs, after);
        let names: BTreeSet<&String> = before
            .branches
            .keys()
            .chain(self.refs.branches.keys())
            .collect();
        let changed: Vec<(String, u32, u32)> = names
            .into_iter()
            .filter_map(|name| {
                let (was, is) = (before.branches.get(name), self.refs.branches.get(name));
                (was != is).then(|| (name.clone(), optional(commits, was), optional(commits, is)))
            })
            .collect();
        let head_before = if before.head == self.refs.head {
            HeadBefore::Unchanged
        } else {
            match &before.head {
                Head::Branch(name) => HeadBefore::Branch(self.names.intern(name)),
                Head::Detached(id) => HeadBefore::Detached(pointed(commits, id)),
            }
        };
        for (name, was, is) in changed {
            let name = self.names.intern(&name);
            self.changes.push(BranchChange { name, was, is });
        }
        let op = self.names.intern(op);
        let mode = mode.map_or(0, |mode| 1 + self.names.intern(mode));
        self.push(op, mode, head_before, at);
    }

    /// Records a commit's move of HEAD (its branch, or the detached HEAD) onto `id`, at `pos`:
    /// the one ref it changes, without copying the others.
    pub fn record_commit(&mut self, commits: &Commits, id: String, pos: Pos, at: (u64, i64)) {
        let head_before = match &mut self.refs.head {
            Head::Branch(name) => {
                let name = name.clone();
                let was = self.refs.branches.insert(name.clone(), id);
                let was = optional(commits, was.as_ref());
                let name = self.names.intern(&name);
                self.changes.push(BranchChange {
                    name,
                    was,
                    is: 1 + pos,
                });
                HeadBefore::Unchanged
            }
            Head::Detached(detached) => {
                let before = pointed(commits, &std::mem::replace(detached, id));
                HeadBefore::Detached(before)
            }
        };
        let op = self.names.intern("commit");
        self.push(op, 0, head_before, at);
    }

    fn push(&mut self, op: u32, mode: u32, head_before: HeadBefore, (lsn, ts_micros): (u64, i64)) {
        self.moves.push(StoredMove {
            op,
            mode,
            head_before,
            changes_end: self.changes.len() as u64,
            lsn,
            ts_micros,
        });
    }

    /// The moves, newest first, each rebuilt only when the walk reaches it.
    pub fn newest_first<'a>(&'a self, commits: &'a Commits) -> impl Iterator<Item = RefMove> + 'a {
        let mut after = self.refs.clone();
        let ids = move |code: u32| (code != 0).then(|| commits.id(code - 1));
        (0..self.moves.len()).rev().map(move |at| {
            let stored = &self.moves[at];
            let mut before = after.clone();
            match stored.head_before {
                HeadBefore::Unchanged => {}
                HeadBefore::Branch(name) => {
                    before.head = Head::Branch(self.names.get(name).to_owned());
                }
                HeadBefore::Detached(pos) => before.head = Head::Detached(commits.id(pos)),
            }
            let first = if at == 0 {
                0
            } else {
                self.moves[at - 1].changes_end
            };
            for change in &self.changes[first as usize..stored.changes_end as usize] {
                let name = self.names.get(change.name).to_owned();
                match ids(change.was) {
                    Some(id) => before.branches.insert(name, id),
                    None => before.branches.remove(&name),
                };
            }
            RefMove {
                op: self.names.get(stored.op).to_owned(),
                mode: (stored.mode != 0).then(|| self.names.get(stored.mode - 1).to_owned()),
                before: before.clone(),
                after: std::mem::replace(&mut after, before),
                lsn: stored.lsn,
                ts_micros: stored.ts_micros,
            }
        })
    }

    /// Checks every invariant of a decoded reflog against `commits`, so that nothing here
    /// panics on it.
    pub fn check(&self, commits: &Commits) -> Result<(), String> {
        let known = |id: &str| commits.position(id).is_some();
        let count = commits.len() as u64;
        let named = |index: u32| self.names.has(index);
        let optional_pos = |code: u32| code == 0 || u64::from(code - 1) < count;
        let moves_fit = self
            .moves
            .windows(2)
            .all(|pair| pair[0].changes_end <= pair[1].changes_end)
            && self.moves.last().map_or(0, |last| last.changes_end) == self.changes.len() as u64
            && self.moves.iter().all(|stored| {
                named(stored.op)
                    && (stored.mode == 0 || named(stored.mode - 1))
                    && match stored.head_before {
                        HeadBefore::Unchanged => true,
                        HeadBefore::Branch(name) => named(name),
                        HeadBefore::Detached(pos) => u64::from(pos) < count,
                    }
            });
        let changes_fit = self.changes.iter().all(|change| {
            named(change.name) && optional_pos(change.was) && optional_pos(change.is)
        });
        if moves_fit && changes_fit && self.refs.pointed_at().all(known) {
            Ok(())
        } else {
            Err("the graph's reflog does not fit its commits".to_owned())
        }
    }
}
