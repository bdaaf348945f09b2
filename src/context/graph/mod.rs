//! The `graph` projection: every context commit by id (without its content, which stays in
//! the journal at the commit's LSN, so the checkpoint stays small), each agent's refs, and each
//! agent's reflog (every move of its refs). It is rebuilt from `commit` and `ref_update` events
//! like every projection. An event that would break the graph's invariants (a parent or target
//! that does not exist, an `id` that does not match its hash, a ref to an unknown commit, a
//! commit seen before) changes nothing and is counted in `rejected`, since `apply` accepts any
//! event and the library's operations check before they append.
//!
//! A `commit` event whose content gc or purge removed (a tombstone, `format-spec/events.md`
//! section 8) still carries the commit's id, parents, kind, target, tokens and links: it becomes
//! a *removed* commit, a placeholder with an empty message, so that later commits on top of it
//! and reflog entries naming it still apply and every projection rebuilds after gc.
//!
//! The commits are kept column by column ([`commits`]) and each agent's reflog as deltas
//! ([`reflog`]), so that a checkpoint of 100,000 commits loads in milliseconds: `log`,
//! `status` and `context` all start by loading it.
//!
//! Architecture invariant: every parent and target of a commit is a commit inserted before it
//! (so the graph has no cycles), and every ref points at a commit.

mod commits;
mod names;
mod reflog;
mod rejection;
mod topo;

use reflog::AgentRefs;

pub(crate) use commits::{Node, Pos};
pub use rejection::Rejection;

use super::id::{commit_id, resolve_prefix, CommitFields};
use super::tokens::count_tokens;
use super::{CommitKind, ContextError, Head, Refs, DEFAULT_AGENT};
use crate::event::{Event, EventRef, EventType};
use crate::project::Projection;
use commits::{Commits, StoredColumns};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value as Json};
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};

/// One context commit, without its content (read it from the journal at `lsn`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commit {
    pub id: String,
    pub parents: Vec<String>,
    pub kind: CommitKind,
    pub message: String,
    pub target: Option<String>,
    pub tokens: u64,
    /// True when the tokenizer counted the content (the event gave no count, or names the
    /// `tokenizer` that counted it), false when the count was given.
    pub tokens_counted: bool,
    pub agent: String,
    pub session: Option<String>,
    pub ts_micros: i64,
    /// The LSN of the `commit` event that holds the content.
    pub lsn: u64,
    /// Named pointers from the event's `links`: `child` and `child_root` on a spawn,
    /// `parent_agent` and `spawned_from` on a child's root, and so on (section 7 of
    /// `format-spec/events.md`).
    pub links: BTreeMap<String, String>,
    /// The first 8 bytes (little-endian) of the SHA-256 of the content as stored: equal
    /// contents have equal keys, so a context's identical blocks are found without reading
    /// them. Two different contents share a key with a chance of about 2^-64 per pair.
    pub content_key: u64,
}

/// The key of a commit's content (see [`Commit::content_key`]).
pub fn content_key(content: &str) -> u64 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(content.as_bytes());
    u64::from_le_bytes(digest[..8].try_into().expect("a SHA-256 has 32 bytes"))
}

/// What a commit event says, before its id: the fields the id is computed from, with the
/// event's session and time.
pub(crate) struct Draft<'a> {
    pub parents: Vec<String>,
    pub kind: CommitKind,
    pub content: &'a str,
    pub message: String,
    pub target: Option<String>,
    pub tokens: u64,
    pub tokens_counted: bool,
    pub agent: String,
    pub links: BTreeMap<String, String>,
}

impl Draft<'_> {
    /// The commit, its id computed from these fields and `event`'s session and time.
    pub(crate) fn commit(self, event: &Event, lsn: u64) -> Commit {
        let id = commit_id(&CommitFields {
            parents: &self.parents,
            kind: self.kind,
            content: self.content,
            message: &self.message,
            target: self.target.as_deref(),
            tokens: self.tokens,
            agent: &self.agent,
            session: event.session.as_deref(),
            ts_micros: event.ts_micros,
            links: &self.links,
        });
        Commit {
            id,
            parents: self.parents,
            kind: self.kind,
            message: self.message,
            target: self.target,
            tokens: self.tokens,
            tokens_counted: self.tokens_counted,
            agent: self.agent,
            session: event.session.clone(),
            ts_micros: event.ts_micros,
            lsn,
            links: self.links,
            content_key: content_key(self.content),
        }
    }
}

/// One move of an agent's refs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefMove {
    /// What moved them: `commit`, `branch`, `delete_branch`, `switch`, `checkout`, `reset`,
    /// `undo`, ...
    pub op: String,
    /// `soft` or `hard` for a reset.
    pub mode: Option<String>,
    pub before: Refs,
    pub after: Refs,
    pub lsn: u64,
    pub ts_micros: i64,
}

/// The context graph of every agent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Graph {
    commits: Commits,
    agents: BTreeMap<String, AgentRefs>,
    /// Context events that changed nothing because they would have broken the graph.
    rejected: u64,
}

impl Serialize for Graph {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (columns, sorted) = self.commits.stored();
        (columns, sorted, &self.agents, self.rejected).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Graph {
    /// The graph a checkpoint holds, refused (as a damaged checkpoint) unless it keeps every
    /// invariant.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Graph, D::Error> {
        use serde::de::Error;
        type Stored = (StoredColumns, Vec<Pos>, BTreeMap<String, AgentRefs>, u64);
        let (columns, sorted, agents, rejected) = Stored::deserialize(deserializer)?;
        let commits = Commits::from_stored(columns, sorted).map_err(D::Error::custom)?;
        for entry in agents.values() {
            entry.check(&commits).map_err(D::Error::custom)?;
        }
        Ok(Graph {
            commits,
            agents,
            rejected,
        })
    }
}

impl Projection for Graph {
    const NAME: &'static str = "graph";
    const VERSION: u32 = 6;

    /// Commits and ref updates are read whole, as owned events: they are a small share of a
    /// journal, and their checks read most of their fields.
    fn apply(&mut self, lsn: u64, event: &EventRef<'_>) {
        if matches!(event.kind(), Some(EventType::Commit | EventType::RefUpdate)) {
            self.apply_owned(lsn, &event.to_event());
        }
    }
}

/// The agent an event belongs to.
pub fn agent_of(event: &Event) -> &str {
    event.agent.as_deref().unwrap_or(DEFAULT_AGENT)
}

impl Graph {
    /// [`Projection::apply`] for an event already owned, such as one not recorded yet.
    pub(crate) fn apply_owned(&mut self, lsn: u64, event: &Event) {
        if self.try_apply(lsn, event).is_err() {
            self.rejected += 1;
        }
    }

    /// Applies a `commit` or `ref_update` event (any other event changes nothing), or says
    /// why it would break the graph, changing nothing: how an import checks its context
    /// events against the graph before appending them.
    pub fn try_apply(&mut self, lsn: u64, event: &Event) -> Result<(), Rejection> {
        match event.kind() {
            Some(EventType::Commit) => self.apply_commit(lsn, event),
            Some(EventType::RefUpdate) => self.apply_ref_update(lsn, event),
            _ => Ok(()),
        }
    }

    fn apply_commit(&mut self, lsn: u64, event: &Event) -> Result<(), Rejection> {
        let agent = agent_of(event).to_owned();
        let parents = match event.data.get("parents") {
            None | Some(Json::Null) => self
                .agents
                .get(&agent)
                .and_then(|entry| entry.refs.head_commit())
                .map(str::to_owned)
                .into_iter()
                .collect(),
            Some(parents) => strings(parents).ok_or_else(|| malformed(COMMIT, "parents"))?,
        };
        let removed = crate::event::tombstone::is_removed_commit(event);
        let commit = if removed {
            self.removed_commit_of(lsn, event, parents, agent)?
        } else {
            self.commit_of(lsn, event, parents, agent)?
        };
        let move_head = event.data.get("move_head").and_then(Json::as_bool) != Some(false);
        let id = commit.id.clone();
        let agent = commit.agent.clone();
        let pos = self.commits.push(commit, removed);
        if move_head {
            let entry = self.agents.entry(agent).or_default();
            entry.record_commit(&self.commits, id, pos, (lsn, event.ts_micros));
        }
        Ok(())
    }

    /// True when a commit with this id is in the graph.
    fn knows(&self, id: &str) -> bool {
        self.commits.position(id).is_some()
    }

    /// The commit an event describes, if its fields are whole and its parents, target and id
    /// are consistent with the graph.
    fn commit_of(
        &self,
        lsn: u64,
        event: &Event,
        parents: Vec<String>,
        agent: String,
    ) -> Result<Commit, Rejection> {
        let data = &event.data;
        let kind = commit_kind(data)?;
        let content = commit_text(data, "content")?;
        let message = commit_text(data, "message")?.to_owned();
        let target = optional_text(data, "target").ok_or_else(|| malformed(COMMIT, "target"))?;
        let given_tokens = match data.get("tokens") {
            None | Some(Json::Null) => None,
            Some(tokens) => Some(tokens.as_u64().ok_or_else(|| malformed(COMMIT, "tokens"))?),
        };
        self.fits(&parents, kind, target.as_deref())?;
        let links = links_of(data).ok_or_else(|| malformed(COMMIT, "links"))?;
        let commit = Draft {
            parents,
            kind,
            content,
            message,
            target,
            tokens: given_tokens.unwrap_or_else(|| count_tokens(content)),
            tokens_counted: given_tokens.is_none() || data.contains_key("tokenizer"),
            agent,
            links,
        }
        .commit(event, lsn);
        let claimed = optional_text(data, "id").ok_or_else(|| malformed(COMMIT, "id"))?;
        if let Some(claimed) = claimed.filter(|claimed| *claimed != commit.id) {
            let computed = commit.id;
            return Err(Rejection::IdMismatch { claimed, computed });
        }
        self.unseen(&commit.id)?;
        Ok(commit)
    }

    /// Whether a commit with these parents, kind and target fits the graph: its parents and
    /// target are known commits, and it has a target exactly when it is an edit.
    fn fits(
        &self,
        parents: &[String],
        kind: CommitKind,
        target: Option<&str>,
    ) -> Result<(), Rejection> {
        if let Some((index, id)) = parents.iter().enumerate().find(|(_, id)| !self.knows(id)) {
            let id = id.clone();
            return Err(Rejection::UnknownParent { index, id });
        }
        match target {
            Some(target) if !self.knows(target) => Err(Rejection::UnknownTarget {
                id: target.to_owned(),
            }),
            None if kind == CommitKind::Edit => Err(malformed(COMMIT, "target")),
            Some(_) if kind != CommitKind::Edit => Err(Rejection::TargetWithoutEdit {
                kind: kind.as_str(),
            }),
            _ => Ok(()),
        }
    }

    /// Refuses a commit id the graph already holds.
    fn unseen(&self, id: &str) -> Result<(), Rejection> {
        match self.knows(id) {
            true => Err(Rejection::Duplicate { id: id.to_owned() }),
            false => Ok(()),
        }
    }

    /// The placeholder of a removed commit: its id (64 hex digits) is taken as kept (the
    /// content it was computed from is gone), its parents and target must be known as for any
    /// commit.
    fn removed_commit_of(
        &self,
        lsn: u64,
        event: &Event,
        parents: Vec<String>,
        agent: String,
    ) -> Result<Commit, Rejection> {
        let data = &event.data;
        let id = optional_text(data, "id")
            .flatten()
            .filter(|id| commits::id_bytes(id).is_some())
            .ok_or_else(|| malformed(COMMIT, "id"))?;
        let kind = commit_kind(data)?;
        let target = optional_text(data, "target").ok_or_else(|| malformed(COMMIT, "target"))?;
        self.fits(&parents, kind, target.as_deref())?;
        self.unseen(&id)?;
        let links = links_of(data).ok_or_else(|| malformed(COMMIT, "links"))?;
        Ok(Commit {
            parents,
            kind,
            message: String::new(),
            target,
            tokens: data.get("tokens").and_then(Json::as_u64).unwrap_or(0),
            tokens_counted: data.contains_key("tokenizer"),
            agent,
            session: event.session.clone(),
            ts_micros: event.ts_micros,
            lsn,
            links,
            content_key: content_key(&super::materialize::removed_content(&id)),
            id,
        })
    }

    /// True when gc or purge removed the content of commit `id`.
    pub fn is_removed(&self, id: &str) -> bool {
        self.commits
            .position(id)
            .is_some_and(|pos| self.commits.is_removed(pos))
    }

    fn apply_ref_update(&mut self, lsn: u64, event: &Event) -> Result<(), Rejection> {
        let data = &event.data;
        let text = |field: &'static str| {
            let value = data.get(field).and_then(Json::as_str);
            value.ok_or_else(|| malformed(REF_UPDATE, field))
        };
        let op = text("op")?;
        let moves = ref_update_moves(data)?;
        for (prefix, _, refs) in &moves {
            self.refs_known(prefix, refs)?;
        }
        let mode = optional_text(data, "mode").ok_or_else(|| malformed(REF_UPDATE, "mode"))?;
        for (_, agent, after) in moves {
            let entry = self.agents.entry(agent).or_default();
            let at = (lsn, event.ts_micros);
            entry.record(&self.commits, op, mode.as_deref(), after, at);
        }
        Ok(())
    }

    /// Refuses refs that point at a commit the graph does not hold; `prefix` is where they
    /// are in the event (empty, or `also.AGENT.`).
    fn refs_known(&self, prefix: &str, refs: &Refs) -> Result<(), Rejection> {
        let unknown = |field: String, id: &str| Rejection::UnknownRef {
            field,
            id: id.to_owned(),
        };
        if let Head::Detached(id) = &refs.head {
            if !self.knows(id) {
                return Err(unknown(format!("{prefix}head.detached"), id));
            }
        }
        match refs.branches.iter().find(|(_, id)| !self.knows(id)) {
            Some((name, id)) => Err(unknown(format!("{prefix}branches.{name}"), id)),
            None => Ok(()),
        }
    }

    /// Context events that changed nothing because they would have broken the graph.
    pub fn rejected(&self) -> u64 {
        self.rejected
    }

    /// An agent's refs (a new agent's when it has none yet).
    pub fn refs(&self, agent: &str) -> Refs {
        self.agents
            .get(agent)
            .map(|entry| entry.refs.clone())
            .unwrap_or_default()
    }

    /// An agent's ref moves, oldest first, each with the full refs before and after it.
    pub fn reflog(&self, agent: &str) -> Vec<RefMove> {
        let mut moves: Vec<RefMove> = self.reflog_newest_first(agent).collect();
        moves.reverse();
        moves
    }

    /// An agent's ref moves, newest first, each rebuilt only when the walk reaches it.
    pub fn reflog_newest_first<'a>(&'a self, agent: &str) -> impl Iterator<Item = RefMove> + 'a {
        self.agents
            .get(agent)
            .into_iter()
            .flat_map(|entry| entry.newest_first(&self.commits))
    }

    /// How many times an agent's refs moved.
    pub fn reflog_len(&self, agent: &str) -> usize {
        self.agents.get(agent).map_or(0, AgentRefs::moves)
    }

    /// The agents that have refs.
    pub fn agents(&self) -> impl Iterator<Item = &str> {
        self.agents.keys().map(String::as_str)
    }

    /// Whether `agent` has a commit or a ref move here.
    pub fn has_agent(&self, agent: &str) -> bool {
        self.agents.contains_key(agent)
    }

    /// Refuses an agent with no commit and no ref move here (a mistyped name, usually).
    pub fn known_agent(&self, agent: &str) -> Result<(), super::ContextError> {
        match self.has_agent(agent) {
            true => Ok(()),
            false => Err(super::ContextError::UnknownAgent {
                agent: agent.to_owned(),
            }),
        }
    }

    pub fn commit(&self, id: &str) -> Option<&Commit> {
        Some(self.commits.get(self.commits.position(id)?))
    }

    /// How many commits the graph holds.
    pub fn len(&self) -> usize {
        self.commits.len()
    }

    pub fn is_empty(&self) -> bool {
        self.commits.is_empty()
    }

    /// Every commit, in the order they were inserted (LSN order).
    pub fn commits(&self) -> impl ExactSizeIterator<Item = &Commit> + '_ {
        (0..self.commits.len() as Pos).map(|pos| self.at(pos))
    }

    /// The commit a unique prefix of 4 or more hex digits names.
    pub fn resolve(&self, prefix: &str) -> Result<&Commit, ContextError> {
        let id = resolve_prefix(prefix, |lower, limit| {
            let found = self.commits.with_prefix(lower, limit);
            found.into_iter().map(|pos| self.commits.id(pos)).collect()
        })?;
        self.commit(&id)
            .ok_or(ContextError::UnknownCommit { prefix: id })
    }

    /// The position of commit `id`: the order it was inserted in, which is LSN order.
    pub(crate) fn position(&self, id: &str) -> Option<Pos> {
        self.commits.position(id)
    }

    /// The commit at a position.
    pub(crate) fn at(&self, pos: Pos) -> &Commit {
        self.commits.get(pos)
    }

    /// The id of the commit at `pos`.
    pub(crate) fn id(&self, pos: Pos) -> String {
        self.commits.id(pos)
    }

    /// The LSN of the commit at `pos`.
    pub(crate) fn lsn(&self, pos: Pos) -> u64 {
        self.commits.lsn(pos)
    }

    /// The message of the commit at `pos`, without building the commit.
    pub(crate) fn message(&self, pos: Pos) -> &str {
        self.commits.message(pos)
    }

    /// What materializing needs of the commit at `pos`, without building the commit.
    pub(crate) fn node(&self, pos: Pos) -> Node {
        self.commits.node(pos)
    }

    /// The value of link `name` of the commit at `pos`, without building the commit.
    pub(crate) fn link(&self, pos: Pos, name: &str) -> Option<&str> {
        self.commits.link(pos, name)
    }

    /// The commits from `tip` back along first parents to a root, root first.
    pub fn first_parent_line(&self, tip: &str) -> Vec<&Commit> {
        let mut line = Vec::new();
        let mut next = self.commit(tip);
        while let Some(commit) = next {
            line.push(commit);
            next = commit
                .parents
                .first()
                .and_then(|parent| self.commit(parent));
        }
        line.reverse();
        line
    }

    /// The commits reachable from `tips`, parents before children: a depth-first walk that
    /// takes each commit's first parent first, so a first-parent line comes out in order and a
    /// merge's second side comes after the first's.
    pub fn topological(&self, tips: &[&str]) -> Vec<&Commit> {
        let tips: Vec<Pos> = tips.iter().filter_map(|tip| self.position(tip)).collect();
        let order = self.topological_positions(&tips);
        order.into_iter().map(|pos| self.at(pos)).collect()
    }

    /// [`Graph::topological`] by position.
    pub(crate) fn topological_positions(&self, tips: &[Pos]) -> Vec<Pos> {
        let mut order = Vec::new();
        let mut seen = vec![false; self.commits.len()];
        for &tip in tips {
            if std::mem::replace(&mut seen[tip as usize], true) {
                continue;
            }
            // An explicit stack, since a context may hold more commits than the call stack
            // has frames.
            let mut stack: Vec<(Pos, usize)> = vec![(tip, 0)];
            while let Some((pos, next)) = stack.pop() {
                match self.commits.parents(pos).nth(next) {
                    Some(parent) => {
                        stack.push((pos, next + 1));
                        if !std::mem::replace(&mut seen[parent as usize], true) {
                            stack.push((parent, 0));
                        }
                    }
                    None => order.push(pos),
                }
            }
        }
        order
    }

    /// The commits reachable from `tips`, newest (highest LSN) first, at most `limit` of them.
    /// A commit's parents always have lower LSNs, so this is a topological order too; with a
    /// limit it visits only about `limit` commits, however long the history.
    pub fn newest_first<'a>(&'a self, tips: &[&str], limit: Option<usize>) -> Vec<&'a Commit> {
        // Positions grow with LSNs, so the highest position is the newest commit.
        let mut frontier: BinaryHeap<Pos> = BinaryHeap::new();
        let mut queued: HashSet<Pos> = HashSet::new();
        for pos in tips.iter().filter_map(|tip| self.position(tip)) {
            if queued.insert(pos) {
                frontier.push(pos);
            }
        }
        let mut order = Vec::new();
        while order.len() < limit.unwrap_or(usize::MAX) {
            let Some(pos) = frontier.pop() else {
                break;
            };
            for parent in self.commits.parents(pos) {
                if queued.insert(parent) {
                    frontier.push(parent);
                }
            }
            order.push(self.at(pos));
        }
        order
    }

    /// The commits reachable from `tip` that none of `kept` reaches, newest first: what a
    /// detached HEAD at `tip` leaves to gc when it moves away. Walks down from the newest
    /// commit, marking each as reached from `kept` or only from `tip` (a commit's children all
    /// come before it, so its mark is final when it is taken), and stops as soon as no commit
    /// only `tip` reaches is waiting: a HEAD a few commits past a branch costs a few steps. A
    /// `tip` far below every kept tip costs the commits in between, as [`Graph::is_ancestor`].
    pub fn reachable_only_from<'a>(&'a self, tip: &str, kept: &[&str]) -> Vec<&'a Commit> {
        let Some(tip) = self.position(tip) else {
            return Vec::new();
        };
        // Each queued commit's mark: true when a kept tip reaches it.
        let mut reached: HashMap<Pos, bool> = HashMap::from([(tip, false)]);
        let mut frontier = BinaryHeap::from([tip]);
        for pos in kept.iter().filter_map(|kept| self.position(kept)) {
            if reached.insert(pos, true).is_none() {
                frontier.push(pos);
            }
        }
        let mut only_from_tip = Vec::new();
        let mut waiting = usize::from(!reached[&tip]);
        while waiting > 0 {
            let Some(pos) = frontier.pop() else {
                break;
            };
            let kept = reached[&pos];
            if !kept {
                waiting -= 1;
                only_from_tip.push(self.at(pos));
            }
            for parent in self.commits.parents(pos) {
                match reached.get(&parent) {
                    None => {
                        reached.insert(parent, kept);
                        frontier.push(parent);
                        waiting += usize::from(!kept);
                    }
                    Some(false) if kept => {
                        reached.insert(parent, true);
                        waiting -= 1;
                    }
                    Some(_) => {}
                }
            }
        }
        only_from_tip
    }

    /// True when `ancestor` is `descendant` or reachable from it.
    pub fn is_ancestor(&self, ancestor: &str, descendant: &str) -> bool {
        let (Some(ancestor), Some(descendant)) =
            (self.position(ancestor), self.position(descendant))
        else {
            return false;
        };
        // Parents are at lower positions: nothing below `ancestor` leads back to it.
        let mut seen: HashSet<Pos> = HashSet::from([descendant]);
        let mut stack = vec![descendant];
        while let Some(pos) = stack.pop() {
            if pos == ancestor {
                return true;
            }
            for parent in self.commits.parents(pos) {
                if parent >= ancestor && seen.insert(parent) {
                    stack.push(parent);
                }
            }
        }
        false
    }
}

/// The refs a `ref_update`'s data moves: its agent's, then each of `also`'s, each with where
/// they are in the data (empty, or `also.AGENT.`), the agent, and its refs after the event.
pub fn ref_update_moves(
    data: &Map<String, Json>,
) -> Result<Vec<(String, String, Refs)>, Rejection> {
    let agent = data.get("agent").and_then(Json::as_str);
    let agent = agent.ok_or_else(|| malformed(REF_UPDATE, "agent"))?;
    let mut moves = vec![(String::new(), agent.to_owned(), refs_of(data, "")?)];
    if let Some(also) = data.get("also").filter(|also| !also.is_null()) {
        let also = also
            .as_object()
            .ok_or_else(|| malformed(REF_UPDATE, "also"))?;
        for (other, refs) in also {
            let prefix = format!("also.{other}.");
            let refs = refs
                .as_object()
                .ok_or_else(|| malformed(REF_UPDATE, &prefix[..prefix.len() - 1]))?;
            moves.push((prefix.clone(), other.clone(), refs_of(refs, &prefix)?));
        }
    }
    Ok(moves)
}

/// The event names in [`Rejection::Malformed`].
const COMMIT: &str = "commit";
const REF_UPDATE: &str = "ref_update";

fn malformed(event: &'static str, field: &str) -> Rejection {
    let field = field.to_owned();
    Rejection::Malformed { event, field }
}

/// The refs in `object`'s `head` and `branches` (a `ref_update`'s data, or one of its `also`
/// entries, at `prefix`).
fn refs_of(object: &Map<String, Json>, prefix: &str) -> Result<Refs, Rejection> {
    let at = |field: &str| malformed(REF_UPDATE, &format!("{prefix}{field}"));
    let head = object.get("head").ok_or_else(|| at("head"))?;
    let branches = object.get("branches").ok_or_else(|| at("branches"))?;
    refs_from_json(head, &Json::Object(Map::new())).ok_or_else(|| at("head"))?;
    refs_from_json(head, branches).ok_or_else(|| at("branches"))
}

/// A commit event's `kind`.
fn commit_kind(data: &Map<String, Json>) -> Result<CommitKind, Rejection> {
    let kind = data.get("kind").and_then(Json::as_str);
    kind.and_then(CommitKind::parse)
        .ok_or_else(|| malformed(COMMIT, "kind"))
}

/// A commit event's text field `field`.
fn commit_text<'a>(data: &'a Map<String, Json>, field: &'static str) -> Result<&'a str, Rejection> {
    let text = data.get(field).and_then(Json::as_str);
    text.ok_or_else(|| malformed(COMMIT, field))
}

/// Refs from a `ref_update`'s `head` and `branches`, if they have the right shape.
pub fn refs_from_json(head: &Json, branches: &Json) -> Option<Refs> {
    let head = head.as_object()?;
    let head = match (head.get("branch"), head.get("detached")) {
        (Some(name), None) => Head::Branch(name.as_str()?.to_owned()),
        (None, Some(id)) => Head::Detached(id.as_str()?.to_owned()),
        _ => return None,
    };
    let branches = branches
        .as_object()?
        .iter()
        .map(|(name, id)| Some((name.clone(), id.as_str()?.to_owned())))
        .collect::<Option<BTreeMap<_, _>>>()?;
    Some(Refs { head, branches })
}

/// The `head` and `branches` JSON of a `ref_update` for `refs`.
pub fn refs_to_json(refs: &Refs) -> (Json, Json) {
    let head = match &refs.head {
        Head::Branch(name) => serde_json::json!({ "branch": name }),
        Head::Detached(id) => serde_json::json!({ "detached": id }),
    };
    let branches = refs
        .branches
        .iter()
        .map(|(name, id)| (name.clone(), Json::String(id.clone())))
        .collect::<Map<_, _>>();
    (head, Json::Object(branches))
}

/// A commit event's `links`: empty when absent, `None` when not an object of strings.
fn links_of(data: &Map<String, Json>) -> Option<BTreeMap<String, String>> {
    match data.get("links") {
        None | Some(Json::Null) => Some(BTreeMap::new()),
        Some(links) => links
            .as_object()?
            .iter()
            .map(|(name, value)| Some((name.clone(), value.as_str()?.to_owned())))
            .collect(),
    }
}

fn strings(value: &Json) -> Option<Vec<String>> {
    value
        .as_array()?
        .iter()
        .map(|item| item.as_str().map(str::to_owned))
        .collect()
}

/// `Some(None)` when absent or null, `Some(Some(text))` for a string, `None` for anything else.
fn optional_text(data: &Map<String, Json>, field: &str) -> Option<Option<String>> {
    match data.get(field) {
        None | Some(Json::Null) => Some(None),
        Some(Json::String(text)) => Some(Some(text.clone())),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests;
