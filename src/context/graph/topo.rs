//! The order `log --graph` lists commits in: git's default for a graph (`--topo-order`), each
//! commit after all its children and, after a merge, the commits only its last parent reaches
//! before its first parent's line, so a branch's commits stay together; among commits that
//! could come next with nothing else deciding (the tips), the newest (highest LSN) first, as
//! git takes the newest by date.
//!
//! Like git's walk with generation numbers, it reads no further back than it needs: a commit's
//! children all have higher LSNs (positions), so once every commit from the tips down to a
//! position is counted, the children of that position are all known. With `-n`, `log --graph`
//! visits about as many commits as it shows plus those newer than the last shown.

use super::{Commit, Graph, Pos};
use std::collections::{BinaryHeap, HashMap, HashSet};

impl Graph {
    /// The commits reachable from `tips` in git's topological order for a graph, at most
    /// `limit` of them. Every commit comes before its parents.
    pub fn topo_order<'a>(&'a self, tips: &[&str], limit: Option<usize>) -> Vec<&'a Commit> {
        let mut tips: Vec<Pos> = tips.iter().filter_map(|tip| self.position(tip)).collect();
        tips.sort_unstable();
        tips.dedup();
        let mut children = ChildCounts::new(self, &tips);
        if let Some(&oldest) = tips.first() {
            children.count_down_to(oldest);
        }
        // A stack, as git's: the newest tip on top, then each commit's parents pushed in order
        // as their last child is listed, so the last parent's line comes out first.
        let mut ready: Vec<Pos> = tips
            .into_iter()
            .filter(|tip| children.remaining(*tip) == 0)
            .collect();
        let mut order = Vec::new();
        while order.len() < limit.unwrap_or(usize::MAX) {
            let Some(pos) = ready.pop() else {
                break;
            };
            for parent in self.commits.parents(pos) {
                children.count_down_to(parent);
                if children.listed(parent) {
                    ready.push(parent);
                }
            }
            order.push(self.at(pos));
        }
        order
    }
}

/// How many children of each commit seen are not yet listed, counted from the newest commit
/// down.
struct ChildCounts<'a> {
    graph: &'a Graph,
    /// Commits whose parents are still to count, newest on top.
    uncounted: BinaryHeap<Pos>,
    queued: HashSet<Pos>,
    unlisted: HashMap<Pos, usize>,
}

impl<'a> ChildCounts<'a> {
    fn new(graph: &'a Graph, tips: &[Pos]) -> Self {
        Self {
            graph,
            uncounted: tips.iter().copied().collect(),
            queued: tips.iter().copied().collect(),
            unlisted: HashMap::new(),
        }
    }

    /// Counts the parents of every commit at `bound` or above, so that every commit at
    /// `bound` or above has all its children counted.
    fn count_down_to(&mut self, bound: Pos) {
        while self.uncounted.peek().is_some_and(|pos| *pos >= bound) {
            let Some(pos) = self.uncounted.pop() else {
                break;
            };
            for parent in self.graph.commits.parents(pos) {
                *self.unlisted.entry(parent).or_default() += 1;
                if self.queued.insert(parent) {
                    self.uncounted.push(parent);
                }
            }
        }
    }

    fn remaining(&self, pos: Pos) -> usize {
        self.unlisted.get(&pos).copied().unwrap_or_default()
    }

    /// Notes that one child of `pos` was listed; true when it was the last.
    fn listed(&mut self, pos: Pos) -> bool {
        match self.unlisted.get_mut(&pos) {
            Some(count) => {
                *count = count.saturating_sub(1);
                *count == 0
            }
            None => true,
        }
    }
}
