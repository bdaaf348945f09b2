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
//! Architecture invariant: every parent and target of a commit is a commit inserted before it
//! (so the graph has no cycles), and every ref points at a commit.

use super::id::{commit_id, resolve_prefix, CommitFields};
use super::tokens::count_tokens;
use super::{CommitKind, ContextError, Head, Refs, DEFAULT_AGENT};
use crate::event::{Event, EventType};
use crate::project::Projection;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashSet};

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
    /// What moved them: `commit`, `branch`, `switch`, `checkout`, `reset`, `undo`, ...
    pub op: String,
    /// `soft` or `hard` for a reset.
    pub mode: Option<String>,
    pub before: Refs,
    pub after: Refs,
    pub lsn: u64,
    pub ts_micros: i64,
}

/// An agent's refs and reflog. The reflog keeps of each move only what changed (HEAD, and
/// the branches that moved), so its size grows with the moves, not with moves times branches;
/// [`Graph::reflog`] rebuilds the full refs before and after each move, walking back from the
/// current refs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentRefs {
    pub refs: Refs,
    reflog: Vec<StoredMove>,
}

/// One move of an agent's refs, as kept: what changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StoredMove {
    op: String,
    mode: Option<String>,
    /// HEAD before, when the move changed it.
    head_before: Option<Head>,
    /// Each branch the move changed: its name and where it pointed before (`None`: it did
    /// not exist) and after (`None`: it was deleted).
    branches: Vec<(String, Option<String>, Option<String>)>,
    lsn: u64,
    ts_micros: i64,
}

impl StoredMove {
    fn new(
        op: &str,
        mode: Option<String>,
        before: &Refs,
        after: &Refs,
        lsn: u64,
        ts_micros: i64,
    ) -> StoredMove {
        let names: BTreeSet<&String> = before
            .branches
            .keys()
            .chain(after.branches.keys())
            .collect();
        let branches = names
            .into_iter()
            .filter_map(|name| {
                let (was, is) = (before.branches.get(name), after.branches.get(name));
                (was != is).then(|| (name.clone(), was.cloned(), is.cloned()))
            })
            .collect();
        StoredMove {
            op: op.to_owned(),
            mode,
            head_before: (before.head != after.head).then(|| before.head.clone()),
            branches,
            lsn,
            ts_micros,
        }
    }

    /// The refs before this move, from the refs after it.
    fn undo(&self, after: &Refs) -> Refs {
        let mut before = after.clone();
        if let Some(head) = &self.head_before {
            before.head = head.clone();
        }
        for (name, was, _) in &self.branches {
            match was {
                Some(id) => before.branches.insert(name.clone(), id.clone()),
                None => before.branches.remove(name),
            };
        }
        before
    }
}

/// The context graph of every agent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Graph {
    commits: BTreeMap<String, Commit>,
    agents: BTreeMap<String, AgentRefs>,
    /// Commits whose content gc or purge removed (placeholders without a message).
    removed: BTreeSet<String>,
    /// Context events that changed nothing because they would have broken the graph.
    pub rejected: u64,
}

impl Projection for Graph {
    const NAME: &'static str = "graph";
    const VERSION: u32 = 5;

    fn apply(&mut self, lsn: u64, event: &Event) {
        let applied = match event.kind() {
            Some(EventType::Commit) => self.apply_commit(lsn, event),
            Some(EventType::RefUpdate) => self.apply_ref_update(lsn, event),
            _ => return,
        };
        if applied.is_none() {
            self.rejected += 1;
        }
    }
}

/// The agent an event belongs to.
pub fn agent_of(event: &Event) -> &str {
    event.agent.as_deref().unwrap_or(DEFAULT_AGENT)
}

impl Graph {
    fn apply_commit(&mut self, lsn: u64, event: &Event) -> Option<()> {
        let agent = agent_of(event).to_owned();
        let parents = match event.data.get("parents") {
            None | Some(Json::Null) => self
                .agents
                .get(&agent)
                .and_then(|entry| entry.refs.head_commit())
                .map(str::to_owned)
                .into_iter()
                .collect(),
            Some(parents) => strings(parents)?,
        };
        let removed = crate::event::tombstone::is_removed_commit(event);
        let commit = if removed {
            self.removed_commit_of(lsn, event, parents, agent)?
        } else {
            self.commit_of(lsn, event, parents, agent)?
        };
        if removed {
            self.removed.insert(commit.id.clone());
        }
        let move_head = event.data.get("move_head").and_then(Json::as_bool) != Some(false);
        let id = commit.id.clone();
        let agent = commit.agent.clone();
        self.commits.insert(id.clone(), commit);
        if move_head {
            self.move_head_to(&agent, id, lsn, event.ts_micros);
        }
        Some(())
    }

    /// A commit's move of HEAD (its branch, or the detached HEAD) onto it: the one ref it
    /// changes, in place, without copying the agent's other refs.
    fn move_head_to(&mut self, agent: &str, id: String, lsn: u64, ts_micros: i64) {
        let entry = self.agents.entry(agent.to_owned()).or_default();
        let (head_before, branches) = match &mut entry.refs.head {
            Head::Branch(name) => {
                let was = entry.refs.branches.insert(name.clone(), id.clone());
                (None, vec![(name.clone(), was, Some(id))])
            }
            Head::Detached(at) => {
                let before = Head::Detached(std::mem::replace(at, id));
                (Some(before), Vec::new())
            }
        };
        entry.reflog.push(StoredMove {
            op: "commit".to_owned(),
            mode: None,
            head_before,
            branches,
            lsn,
            ts_micros,
        });
    }

    /// The commit an event describes, if its fields are whole and its parents, target and id
    /// are consistent with the graph.
    fn commit_of(
        &self,
        lsn: u64,
        event: &Event,
        parents: Vec<String>,
        agent: String,
    ) -> Option<Commit> {
        let data = &event.data;
        let kind = CommitKind::parse(data.get("kind")?.as_str()?)?;
        let content = data.get("content")?.as_str()?;
        let message = data.get("message")?.as_str()?.to_owned();
        let target = optional_text(data, "target")?;
        let given_tokens = match data.get("tokens") {
            None | Some(Json::Null) => None,
            Some(tokens) => Some(tokens.as_u64()?),
        };
        if !self.fits(&parents, kind, target.as_deref()) {
            return None;
        }
        let commit = Draft {
            parents,
            kind,
            content,
            message,
            target,
            tokens: given_tokens.unwrap_or_else(|| count_tokens(content)),
            tokens_counted: given_tokens.is_none() || data.contains_key("tokenizer"),
            agent,
            links: links_of(data)?,
        }
        .commit(event, lsn);
        let claimed = optional_text(data, "id")?;
        if claimed.is_some_and(|claimed| claimed != commit.id)
            || self.commits.contains_key(&commit.id)
        {
            return None;
        }
        Some(commit)
    }

    /// True when a commit with these parents, kind and target fits the graph: its parents and
    /// target are known commits, and it has a target exactly when it is an edit.
    fn fits(&self, parents: &[String], kind: CommitKind, target: Option<&str>) -> bool {
        let known = |id: &str| self.commits.contains_key(id);
        parents.iter().all(|id| known(id))
            && target.is_none_or(known)
            && (kind == CommitKind::Edit) == target.is_some()
    }

    /// The placeholder of a removed commit: its id is taken as kept (the content it was
    /// computed from is gone), its parents and target must be known as for any commit.
    fn removed_commit_of(
        &self,
        lsn: u64,
        event: &Event,
        parents: Vec<String>,
        agent: String,
    ) -> Option<Commit> {
        let data = &event.data;
        let id = optional_text(data, "id")??;
        let kind = CommitKind::parse(data.get("kind")?.as_str()?)?;
        let target = optional_text(data, "target")?;
        if !self.fits(&parents, kind, target.as_deref()) || self.commits.contains_key(&id) {
            return None;
        }
        Some(Commit {
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
            links: links_of(data)?,
            content_key: content_key(&super::materialize::removed_content(&id)),
            id,
        })
    }

    /// True when gc or purge removed the content of commit `id`.
    pub fn is_removed(&self, id: &str) -> bool {
        self.removed.contains(id)
    }

    fn apply_ref_update(&mut self, lsn: u64, event: &Event) -> Option<()> {
        let data = &event.data;
        let op = data.get("op")?.as_str()?;
        let agent = data.get("agent")?.as_str()?.to_owned();
        let after = refs_from_json(data.get("head")?, data.get("branches")?)?;
        let mut moves = vec![(agent, after)];
        if let Some(also) = data.get("also").filter(|also| !also.is_null()) {
            for (other, refs) in also.as_object()? {
                let refs = refs.as_object()?;
                moves.push((
                    other.clone(),
                    refs_from_json(refs.get("head")?, refs.get("branches")?)?,
                ));
            }
        }
        let known = |id: &str| self.commits.contains_key(id);
        if !moves.iter().all(|(_, refs)| refs.pointed_at().all(known)) {
            return None;
        }
        let mode = optional_text(data, "mode")?;
        for (agent, after) in moves {
            self.move_refs(&agent, op, mode.clone(), after, lsn, event.ts_micros);
        }
        Some(())
    }

    fn move_refs(
        &mut self,
        agent: &str,
        op: &str,
        mode: Option<String>,
        after: Refs,
        lsn: u64,
        ts_micros: i64,
    ) {
        let entry = self.agents.entry(agent.to_owned()).or_default();
        let stored = StoredMove::new(op, mode, &entry.refs, &after, lsn, ts_micros);
        entry.refs = after;
        entry.reflog.push(stored);
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
        let entry = self.agents.get(agent);
        let mut after = entry.map(|entry| entry.refs.clone()).unwrap_or_default();
        let stored = entry.map_or(&[][..], |entry| entry.reflog.as_slice());
        stored.iter().rev().map(move |stored| {
            let before = stored.undo(&after);
            RefMove {
                op: stored.op.clone(),
                mode: stored.mode.clone(),
                before: before.clone(),
                after: std::mem::replace(&mut after, before),
                lsn: stored.lsn,
                ts_micros: stored.ts_micros,
            }
        })
    }

    /// How many times an agent's refs moved.
    pub fn reflog_len(&self, agent: &str) -> usize {
        self.agents.get(agent).map_or(0, |entry| entry.reflog.len())
    }

    /// The agents that have refs.
    pub fn agents(&self) -> impl Iterator<Item = &str> {
        self.agents.keys().map(String::as_str)
    }

    pub fn commit(&self, id: &str) -> Option<&Commit> {
        self.commits.get(id)
    }

    /// Every commit, by id.
    pub fn commits(&self) -> &BTreeMap<String, Commit> {
        &self.commits
    }

    /// The commit a unique prefix of 4 or more hex digits names.
    pub fn resolve(&self, prefix: &str) -> Result<&Commit, ContextError> {
        let id = resolve_prefix(&self.commits, prefix)?;
        Ok(&self.commits[&id])
    }

    /// The commits reachable from `tips`, parents before children: a depth-first walk that
    /// takes each commit's first parent first, so a first-parent line comes out in order and a
    /// merge's second side comes after the first's.
    pub fn topological(&self, tips: &[&str]) -> Vec<&Commit> {
        let mut order = Vec::new();
        let mut seen: HashSet<&str> = HashSet::new();
        for tip in tips {
            self.post_order(tip, &mut seen, &mut order);
        }
        order
    }

    fn post_order<'a>(
        &'a self,
        tip: &str,
        seen: &mut HashSet<&'a str>,
        order: &mut Vec<&'a Commit>,
    ) {
        let Some(tip) = self.commits.get(tip) else {
            return;
        };
        if !seen.insert(&tip.id) {
            return;
        }
        // An explicit stack, since a context may hold more commits than the call stack frames.
        let mut stack: Vec<(&Commit, usize)> = vec![(tip, 0)];
        while let Some((commit, next)) = stack.pop() {
            match commit.parents.get(next) {
                Some(parent) => {
                    stack.push((commit, next + 1));
                    if let Some(parent) = self.commits.get(parent) {
                        if seen.insert(&parent.id) {
                            stack.push((parent, 0));
                        }
                    }
                }
                None => order.push(commit),
            }
        }
    }

    /// The commits reachable from `tips`, newest (highest LSN) first, at most `limit` of them.
    /// A commit's parents always have lower LSNs, so this is a topological order too; with a
    /// limit it visits only about `limit` commits, however long the history.
    pub fn newest_first<'a>(&'a self, tips: &[&str], limit: Option<usize>) -> Vec<&'a Commit> {
        let mut frontier: BinaryHeap<(u64, &'a str)> = BinaryHeap::new();
        let mut queued: HashSet<&'a str> = HashSet::new();
        let mut push = |id: &str, frontier: &mut BinaryHeap<(u64, &'a str)>| {
            if let Some((id, commit)) = self.commits.get_key_value(id) {
                if queued.insert(id.as_str()) {
                    frontier.push((commit.lsn, id.as_str()));
                }
            }
        };
        for tip in tips {
            push(tip, &mut frontier);
        }
        let mut order = Vec::new();
        while order.len() < limit.unwrap_or(usize::MAX) {
            let Some((_, id)) = frontier.pop() else {
                break;
            };
            let commit = &self.commits[id];
            for parent in &commit.parents {
                push(parent, &mut frontier);
            }
            order.push(commit);
        }
        order
    }

    /// True when `ancestor` is `descendant` or reachable from it.
    pub fn is_ancestor(&self, ancestor: &str, descendant: &str) -> bool {
        self.topological(&[descendant])
            .iter()
            .any(|commit| commit.id == ancestor)
    }
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
