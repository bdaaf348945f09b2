//! Garbage collection of context commits, and purge of any event. `gc` removes the content of
//! the commits nothing needs any more: a commit is kept when it is reachable (through parents,
//! an edit's target, and links naming commits) from any agent's current refs, or from the refs
//! before or after any reflog entry younger than the retention period, but for the commits a
//! `reset --hard` left behind, which its entry and older ones no longer keep. With the
//! `gc_collapsed_children` policy, a collapsed child's inner history (what a collapse's
//! `child_head` reaches among the child's own commits) is kept only by commits that build on it:
//! neither links nor the child's own refs and reflog keep it. `purge` removes the content of the events at given LSNs,
//! whatever their type: the way out for a secret that slipped past redaction.
//!
//! Both replace records by tombstones through [`Journal::tombstone`]; the summary a tombstone
//! keeps of a `commit` is the commit as the graph knows it (id, explicit parents, kind, target,
//! tokens, links), so the graph rebuilds with a removed placeholder in its place and old
//! reflog entries still apply. Projection checkpoints may hold removed text (a session's task,
//! a commit's message), so both drop every checkpoint before the rewrite and rebuild them after.

use super::graph::{Commit, Graph};
use super::lock::{RefLock, REF_LOCK_WAIT_MAX};
use super::subagent::{LINK_CHILD, LINK_CHILD_HEAD};
use crate::error::Result;
use crate::event::tombstone::{kept_event, summary_of};
use crate::event::{Event, EventType};
use crate::journal::{Journal, Record, Summarizer, TombstoneReport, KIND_EVENT};
use crate::recorder::Recorder;
use crate::workspace::ContextConfig;
use serde_json::{json, Value as Json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

/// Reflog entries younger than this many days keep the commits they name, by default.
pub const GC_RETENTION_DAYS_DEFAULT: u64 = 30;
const MICROS_PER_DAY: i64 = 86_400 * 1_000_000;
/// Links that record where a commit came from (the original a rebase, compression or reorder
/// replayed): they never keep what they name, or no rewritten history could be collected.
pub const PROVENANCE_LINKS: [&str; 3] = [
    super::rewrite::REBASED_FROM_LINK,
    super::rewrite::COMPRESSED_TO_LINK,
    super::rewrite::PINNED_FROM_LINK,
];

/// What `gc` keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub retention_days: u64,
    /// When true, a collapsed child's inner history is kept only by commits built on it.
    pub collect_collapsed_children: bool,
    /// The time the retention period is counted back from (UTC microseconds).
    pub now_micros: i64,
}

impl Policy {
    /// The policy of a workspace's `context` config, at time `now_micros`.
    pub fn from_config(config: &ContextConfig, now_micros: i64) -> Policy {
        Policy {
            retention_days: config
                .gc_retention_days
                .unwrap_or(GC_RETENTION_DAYS_DEFAULT),
            collect_collapsed_children: config.gc_collapsed_children.unwrap_or(false),
            now_micros,
        }
    }

    /// Reflog entries at or after this time keep what they name.
    fn cutoff_micros(&self) -> i64 {
        let days = i64::try_from(self.retention_days).unwrap_or(i64::MAX);
        self.now_micros
            .saturating_sub(days.saturating_mul(MICROS_PER_DAY))
    }
}

/// A commit `gc` collects.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Collectable {
    pub id: String,
    pub lsn: u64,
    pub agent: String,
    /// Bytes of the event's payload, which the tombstone replaces.
    pub payload_bytes: u64,
}

/// What `gc` collects (or, in a dry run, would).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct GcReport {
    pub collected: Vec<Collectable>,
    /// Commits no ref reaches that reflog entries within the retention keep (collected once
    /// those entries are older than the retention).
    pub retained: usize,
    /// The journal's rewrite; `None` in a dry run or when nothing was collected.
    pub rewrite: Option<TombstoneReport>,
}

impl GcReport {
    pub fn payload_bytes(&self) -> u64 {
        self.collected
            .iter()
            .map(|commit| commit.payload_bytes)
            .sum()
    }
}

/// The ids of every commit `policy` keeps: what the current refs reach, then what each agent's
/// reflog entries within the retention reach, newest first. A `reset --hard` forgets the
/// commits it left behind (those its refs before reach and its refs after do not): neither its
/// own entry nor any older entry of the agent keeps them, so they are collected unless a ref or
/// a newer entry (an `undo` of the reset) still reaches them.
pub fn reachable(graph: &Graph, policy: &Policy) -> HashSet<String> {
    let walk = Walk::new(graph, policy);
    let cutoff = policy.cutoff_micros();
    let mut kept: HashSet<String> = HashSet::new();
    let none = HashSet::new();
    for agent in graph.agents() {
        let roots = walk.roots(agent, graph.refs(agent).pointed_at());
        walk.keep_from(roots, &none, &mut kept);
    }
    for agent in graph.agents() {
        let mut forgotten: HashSet<String> = HashSet::new();
        // Newest first, one move at a time: the whole reflog with full refs would hold
        // moves times branches ids at once.
        for entry in graph.reflog_newest_first(agent) {
            if entry.ts_micros < cutoff {
                continue;
            }
            let after = walk.roots(agent, entry.after.pointed_at());
            let before = walk.roots(agent, entry.before.pointed_at());
            walk.keep_from(after.clone(), &forgotten, &mut kept);
            if is_hard_reset(&entry) {
                let still_reached = walk.reach(after, &HashSet::new());
                forgotten.extend(walk.reach(before.clone(), &still_reached));
            }
            walk.keep_from(before, &forgotten, &mut kept);
        }
    }
    kept
}

/// True for the reflog entry of a `reset --hard`.
fn is_hard_reset(entry: &super::graph::RefMove) -> bool {
    entry.op == "reset" && entry.mode.as_deref() == Some(super::ResetMode::Hard.as_str())
}

/// A walk of the graph from roots, as `policy` says.
struct Walk<'g> {
    graph: &'g Graph,
    /// Under `collect_collapsed_children`, each collapsed child's inner history, by the child
    /// agent's name; empty otherwise.
    collapsed: HashMap<&'g str, HashSet<&'g str>>,
    /// Every commit of `collapsed`.
    inner: HashSet<&'g str>,
}

impl<'g> Walk<'g> {
    fn new(graph: &'g Graph, policy: &Policy) -> Walk<'g> {
        let collapsed = match policy.collect_collapsed_children {
            true => collapsed_histories(graph, &current_reach(graph)),
            false => HashMap::new(),
        };
        let inner = collapsed.values().flatten().copied().collect();
        Walk {
            graph,
            collapsed,
            inner,
        }
    }

    /// The ids among `pointed_at` (an agent's refs) that keep what they reach: not those in the
    /// agent's own collapsed history.
    fn roots<'a>(&self, agent: &str, pointed_at: impl Iterator<Item = &'a str>) -> Vec<String> {
        let closed = self.collapsed.get(agent);
        pointed_at
            .filter(|id| !closed.is_some_and(|history| history.contains(id)))
            .map(str::to_owned)
            .collect()
    }

    /// Adds to `kept` what `roots` reach, not entering a commit of `blocked` nor one already
    /// kept (whose history is kept already).
    fn keep_from(&self, roots: Vec<String>, blocked: &HashSet<String>, kept: &mut HashSet<String>) {
        let mut stack = roots;
        while let Some(id) = stack.pop() {
            let Some(commit) = self.graph.commit(&id) else {
                continue;
            };
            if blocked.contains(&id) || !kept.insert(id) {
                continue;
            }
            stack.extend(commit.parents.iter().cloned());
            stack.extend(commit.target.iter().cloned());
            stack.extend(self.followed_links(commit).map(str::to_owned));
        }
    }

    /// What `roots` reach, not entering a commit of `blocked`.
    fn reach(&self, roots: Vec<String>, blocked: &HashSet<String>) -> HashSet<String> {
        let mut reached = HashSet::new();
        self.keep_from(roots, blocked, &mut reached);
        reached
    }

    /// The link values of `commit` that keep what they name: not provenance links, nor a link
    /// into a collapsed child's inner history.
    fn followed_links<'c>(&'c self, commit: &'c Commit) -> impl Iterator<Item = &'c str> {
        commit
            .links
            .iter()
            .filter(|(name, value)| {
                !PROVENANCE_LINKS.contains(&name.as_str()) && !self.inner.contains(value.as_str())
            })
            .map(|(_, value)| value.as_str())
    }
}

/// What the agents' current refs reach, as `gc` without a policy walks.
fn current_reach(graph: &Graph) -> HashSet<String> {
    let plain = Walk {
        graph,
        collapsed: HashMap::new(),
        inner: HashSet::new(),
    };
    let mut reached = HashSet::new();
    for agent in graph.agents() {
        let roots = graph.refs(agent).pointed_at().map(str::to_owned).collect();
        plain.keep_from(roots, &HashSet::new(), &mut reached);
    }
    reached
}

/// Each collapsed child's inner history, by the child agent's name: the child's own commits
/// that the `child_head` of a collapse the current refs reach (`current`) reaches through
/// parents and edit targets. A collapse that no ref reaches any more (undone, reset away)
/// holds the child's output for no one, so the child's history is not its to give up.
fn collapsed_histories<'g>(
    graph: &'g Graph,
    current: &HashSet<String>,
) -> HashMap<&'g str, HashSet<&'g str>> {
    let mut histories: HashMap<&str, HashSet<&str>> = HashMap::new();
    for collapse in graph.commits() {
        if !current.contains(&collapse.id) {
            continue;
        }
        let (Some(child), Some(head)) = (
            collapse.links.get(LINK_CHILD),
            collapse.links.get(LINK_CHILD_HEAD),
        ) else {
            continue;
        };
        let history = histories.entry(child.as_str()).or_default();
        let mut stack = vec![head.as_str()];
        while let Some(id) = stack.pop() {
            let Some(commit) = graph.commit(id) else {
                continue;
            };
            if commit.agent != *child || !history.insert(commit.id.as_str()) {
                continue;
            }
            stack.extend(commit.parents.iter().map(String::as_str));
            stack.extend(commit.target.as_deref());
        }
    }
    histories
}

/// The commits `policy` collects, in LSN order, without their sizes (see [`plan`]).
pub fn unreachable<'a>(graph: &'a Graph, policy: &Policy) -> Vec<&'a Commit> {
    let kept = reachable(graph, policy);
    graph
        .commits()
        .filter(|commit| !kept.contains(&commit.id) && !graph.is_removed(&commit.id))
        .collect()
}

/// What `gc` would collect, with the payload size of each commit's event.
pub fn plan(journal: &Journal, graph: &Graph, policy: &Policy) -> Result<Vec<Collectable>> {
    let commits = unreachable(graph, policy);
    let sizes = payload_bytes_at(journal, commits.iter().map(|commit| commit.lsn))?;
    Ok(commits
        .into_iter()
        .map(|commit| Collectable {
            id: commit.id.clone(),
            lsn: commit.lsn,
            agent: commit.agent.clone(),
            payload_bytes: sizes.get(&commit.lsn).copied().unwrap_or(0),
        })
        .collect())
}

/// The payload sizes of the records at `lsns`, in one forward read from the first of them: a
/// read per LSN would decompress a block (and prefetch more) for each (measured: 30 s for 5,000
/// commits in a 100 MB journal, against a fraction of a second for one pass).
fn payload_bytes_at(
    journal: &Journal,
    lsns: impl Iterator<Item = u64>,
) -> Result<BTreeMap<u64, u64>> {
    let mut sizes: BTreeMap<u64, u64> = lsns.map(|lsn| (lsn, 0)).collect();
    let (Some(&first), Some(&last)) = (sizes.keys().next(), sizes.keys().next_back()) else {
        return Ok(sizes);
    };
    for record in journal.read_from(first)? {
        let record = record?;
        if let Some(size) = sizes.get_mut(&record.lsn) {
            *size = record.payload.len() as u64;
        }
        if record.lsn >= last {
            break;
        }
    }
    Ok(sizes)
}

/// Collects what `policy` says (nothing is changed with `dry_run`), then rebuilds every
/// projection.
pub fn collect_garbage(recorder: &Recorder, policy: &Policy, dry_run: bool) -> Result<GcReport> {
    // A collection holds every agent's refs still: a ref moved meanwhile onto a commit being
    // collected would point at removed content.
    let _lock = match dry_run {
        true => None,
        false => Some(lock_all(recorder)?),
    };
    recorder.journal().refresh()?;
    let graph = recorder.load::<Graph>()?.state;
    let collected = plan(recorder.journal(), &graph, policy)?;
    let without_retention = Policy {
        retention_days: 0,
        ..*policy
    };
    let retained = unreachable(&graph, &without_retention).len() - collected.len();
    if dry_run || collected.is_empty() {
        return Ok(GcReport {
            collected,
            retained,
            rewrite: None,
        });
    }
    let lsns: Vec<u64> = collected.iter().map(|commit| commit.lsn).collect();
    let rewrite = tombstone_and_rebuild(recorder, &graph, &lsns)?;
    Ok(GcReport {
        collected,
        retained,
        rewrite: Some(rewrite),
    })
}

/// Removes the content of the events at `lsns`, whatever their type, then rebuilds every
/// projection. An LSN the journal does not hold fails with `Error::NoSuchLsn` and changes
/// nothing in the journal.
pub fn purge(recorder: &Recorder, lsns: &[u64]) -> Result<TombstoneReport> {
    let _lock = lock_all(recorder)?;
    recorder.journal().refresh()?;
    let graph = recorder.load::<Graph>()?.state;
    tombstone_and_rebuild(recorder, &graph, lsns)
}

/// Waits until no operation moves any agent's refs, and keeps it so.
fn lock_all(recorder: &Recorder) -> Result<RefLock> {
    RefLock::all(&recorder.workspace().locks_dir(), REF_LOCK_WAIT_MAX)
}

fn tombstone_and_rebuild(
    recorder: &Recorder,
    graph: &Graph,
    lsns: &[u64],
) -> Result<TombstoneReport> {
    let journal = recorder.journal();
    // Before: no checkpoint holding removed text may outlive a crash of the rewrite.
    recorder.projector().drop_checkpoints()?;
    let report = journal.tombstone(lsns, summarizer(graph))?;
    recorder.projector().rebuild(journal)?;
    Ok(report)
}

/// The summarizer for tombstones of this journal's records: [`summary_of`], except that a
/// `commit` the graph knows keeps the commit as the graph has it, with explicit parents and id.
pub fn summarizer(graph: &Graph) -> Summarizer {
    let by_lsn: BTreeMap<u64, Commit> = graph
        .commits()
        .map(|commit| (commit.lsn, commit.clone()))
        .collect();
    Arc::new(move |record: &Record| {
        let commit = by_lsn
            .get(&record.lsn)
            .filter(|_| record.kind == KIND_EVENT);
        match (commit, Event::decode(record.lsn, &record.payload)) {
            (Some(commit), Ok(event)) => Ok(commit_summary(&event, commit).encode()),
            // A commit event the graph rejected keeps no id, so that the graph rebuilt
            // after the rewrite rejects its tombstone too.
            (None, Ok(event)) if event.kind() == Some(EventType::Commit) => {
                let mut kept = kept_event(&event);
                kept.data.remove("id");
                Ok(kept.encode())
            }
            _ => Ok(summary_of(record)),
        }
    })
}

/// What a tombstone keeps of a `commit` event that made `commit`.
fn commit_summary(event: &Event, commit: &Commit) -> Event {
    let mut kept = kept_event(event);
    let data = &mut kept.data;
    data.insert("kind".into(), commit.kind.as_str().into());
    data.insert("id".into(), commit.id.clone().into());
    data.insert("parents".into(), json!(commit.parents));
    match &commit.target {
        Some(target) => data.insert("target".into(), target.clone().into()),
        None => data.remove("target"),
    };
    data.insert("tokens".into(), commit.tokens.into());
    if commit.tokens_counted && !data.contains_key("tokenizer") {
        data.insert("tokenizer".into(), super::tokens::TOKENIZER.into());
    }
    if !commit.tokens_counted {
        data.remove("tokenizer");
    }
    if commit.links.is_empty() {
        data.remove("links");
    } else {
        data.insert("links".into(), json!(commit.links));
    }
    if data
        .get("move_head")
        .is_some_and(|value| !value.is_boolean())
    {
        data.insert("move_head".into(), Json::Bool(true));
    }
    kept
}
