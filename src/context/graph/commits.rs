//! The graph's commits, stored column by column so that a checkpoint of 100,000 commits loads
//! in milliseconds: a column of numbers decodes in one tight loop and the ids and messages as
//! one block of bytes each, where a map of [`Commit`] values costs several allocations per
//! commit. A commit is numbered by its *position* (the order it was inserted in, which is LSN
//! order); parents and targets are kept as how many positions back they are (1 for the commit
//! just before, one byte in the checkpoint). The full [`Commit`] of a position is built the
//! first time it is asked for and kept.
//!
//! Ids are found by binary search over `sorted` (every position, by id, as of the last load)
//! and in `recent` (the commits inserted since), so a load builds no map.
//!
//! Architecture invariant: every parent and target is at a lower position, and LSNs grow with
//! positions; [`Commits::check`] refuses a decoded checkpoint that breaks any invariant, so
//! nothing here panics on a damaged one.

use super::names::Names;
use super::Commit;
use crate::context::id::hex as id_hex;
use crate::context::CommitKind;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

/// A commit's position: the order it was inserted in, from 0.
pub type Pos = u32;
/// Bytes of a commit id (a SHA-256).
pub const ID_BYTES: usize = 32;

const KIND_BITS: u8 = 0b11;
const FLAG_TOKENS_COUNTED: u8 = 1 << 2;
const FLAG_REMOVED: u8 = 1 << 3;

/// What materializing needs of a commit, read from the columns without building the commit.
#[derive(Debug, Clone, Copy)]
pub struct Node {
    pub kind: CommitKind,
    pub parents: usize,
    pub target: Option<Pos>,
    pub tokens: u64,
    pub tokens_counted: bool,
    pub content_key: u64,
}

/// The columns, as checkpointed. Entry `p` of every per-commit column is commit `p`'s.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Columns {
    /// `ID_BYTES` per commit.
    #[serde(with = "serde_bytes")]
    ids: Vec<u8>,
    lsn: Vec<u64>,
    ts_micros: Vec<i64>,
    tokens: Vec<u64>,
    content_key: Vec<u64>,
    /// The kind (`KIND_BITS`), then `FLAG_TOKENS_COUNTED` and `FLAG_REMOVED`.
    #[serde(with = "serde_bytes")]
    flags: Vec<u8>,
    /// 0 for no target, else how many positions back the target is.
    target_back: Vec<u32>,
    /// Commit `p`'s parents are `parent_back[parent_ends[p - 1]..parent_ends[p]]`, each as
    /// how many positions back it is.
    parent_ends: Vec<u64>,
    parent_back: Vec<u32>,
    /// Index in `names`.
    agent: Vec<u32>,
    /// 0 for no session, else 1 + its index in `names`.
    session: Vec<u32>,
    /// Commit `p`'s message is `messages[message_ends[p - 1]..message_ends[p]]`.
    message_ends: Vec<u64>,
    messages: String,
    /// The links of the commits that have any, by position, in position order.
    links: Vec<(Pos, BTreeMap<String, String>)>,
    /// Agent and session names.
    names: Names,
}

/// Every commit of the graph.
#[derive(Debug, Clone, Default)]
pub struct Commits {
    columns: Columns,
    /// Positions below `sorted.len()`, ordered by id.
    sorted: Vec<Pos>,
    /// The positions from `sorted.len()` on, by id.
    recent: HashMap<[u8; ID_BYTES], Pos>,
    /// Each position's commit, built when first asked for.
    built: Vec<OnceLock<Box<Commit>>>,
}

impl PartialEq for Commits {
    /// Equal columns: the same commits inserted in the same order.
    fn eq(&self, other: &Commits) -> bool {
        self.columns == other.columns
    }
}

impl Eq for Commits {}

/// The id bytes of 64 lowercase hex digits.
pub fn id_bytes(id: &str) -> Option<[u8; ID_BYTES]> {
    let digits = id.as_bytes();
    if digits.len() != 2 * ID_BYTES {
        return None;
    }
    let mut bytes = [0u8; ID_BYTES];
    for (byte, pair) in bytes.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(bytes)
}

fn nibble(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        _ => None,
    }
}

/// The value of hex digit `at` of `id`.
fn digit_at(id: &[u8], at: usize) -> u8 {
    let byte = id[at / 2];
    if at.is_multiple_of(2) {
        byte >> 4
    } else {
        byte & 0xf
    }
}

/// True when the hex digits of `id` start with `prefix` (lowercase hex digits).
fn has_prefix(id: &[u8], prefix: &[u8]) -> bool {
    (0..prefix.len()).all(|at| nibble(prefix[at]) == Some(digit_at(id, at)))
}

fn kind_code(kind: CommitKind) -> u8 {
    match kind {
        CommitKind::Append => 0,
        CommitKind::Edit => 1,
        CommitKind::Pin => 2,
    }
}

fn kind_of(code: u8) -> Option<CommitKind> {
    match code & KIND_BITS {
        0 => Some(CommitKind::Append),
        1 => Some(CommitKind::Edit),
        2 => Some(CommitKind::Pin),
        _ => None,
    }
}

fn end(ends: &[u64], pos: usize) -> usize {
    ends[pos] as usize
}

fn start(ends: &[u64], pos: usize) -> usize {
    if pos == 0 {
        0
    } else {
        ends[pos - 1] as usize
    }
}

impl Commits {
    pub fn len(&self) -> usize {
        self.columns.lsn.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn id_at(&self, pos: Pos) -> &[u8] {
        let at = pos as usize * ID_BYTES;
        &self.columns.ids[at..at + ID_BYTES]
    }

    /// The position of the commit with this id (64 hex digits).
    pub fn position(&self, id: &str) -> Option<Pos> {
        let bytes = id_bytes(id)?;
        if let Some(&pos) = self.recent.get(&bytes) {
            return Some(pos);
        }
        let found = self
            .sorted
            .binary_search_by(|&pos| self.id_at(pos).cmp(&bytes[..]));
        found.ok().map(|at| self.sorted[at])
    }

    /// Up to `limit` positions of commits whose ids start with `prefix` (lowercase hex
    /// digits), in id order: none when it is longer than an id.
    pub fn with_prefix(&self, prefix: &str, limit: usize) -> Vec<Pos> {
        let digits = prefix.as_bytes();
        if digits.len() > 2 * ID_BYTES {
            return Vec::new();
        }
        let first = self
            .sorted
            .partition_point(|&pos| id_hex_lt(self.id_at(pos), digits));
        let mut found: Vec<Pos> = self.sorted[first..]
            .iter()
            .copied()
            .take_while(|&pos| has_prefix(self.id_at(pos), digits))
            .take(limit)
            .collect();
        found.extend(
            self.recent
                .values()
                .copied()
                .filter(|&pos| has_prefix(self.id_at(pos), digits)),
        );
        found.sort_by(|&a, &b| self.id_at(a).cmp(self.id_at(b)));
        found.truncate(limit);
        found
    }

    /// The id of the commit at `pos`, as 64 hex digits.
    pub fn id(&self, pos: Pos) -> String {
        id_hex(self.id_at(pos))
    }

    /// The value of the link `name` of the commit at `pos`, without building the commit.
    pub fn link(&self, pos: Pos, name: &str) -> Option<&str> {
        let links = &self.columns.links;
        let found = links
            .binary_search_by_key(&pos, |(linked, _)| *linked)
            .ok()?;
        links[found].1.get(name).map(String::as_str)
    }

    pub fn message(&self, pos: Pos) -> &str {
        let (ends, at) = (&self.columns.message_ends, pos as usize);
        &self.columns.messages[start(ends, at)..end(ends, at)]
    }

    pub fn lsn(&self, pos: Pos) -> u64 {
        self.columns.lsn[pos as usize]
    }

    pub fn is_removed(&self, pos: Pos) -> bool {
        self.columns.flags[pos as usize] & FLAG_REMOVED != 0
    }

    /// The positions of a commit's parents, in order.
    pub fn parents(&self, pos: Pos) -> impl Iterator<Item = Pos> + '_ {
        let ends = &self.columns.parent_ends;
        let backs = &self.columns.parent_back[start(ends, pos as usize)..end(ends, pos as usize)];
        backs.iter().map(move |back| pos - back)
    }

    pub fn node(&self, pos: Pos) -> Node {
        let at = pos as usize;
        let columns = &self.columns;
        let flags = columns.flags[at];
        Node {
            kind: kind_of(flags).expect("checked kinds"),
            parents: end(&columns.parent_ends, at) - start(&columns.parent_ends, at),
            target: match columns.target_back[at] {
                0 => None,
                back => Some(pos - back),
            },
            tokens: columns.tokens[at],
            tokens_counted: flags & FLAG_TOKENS_COUNTED != 0,
            content_key: columns.content_key[at],
        }
    }

    /// The commit at `pos`, built on first use.
    pub fn get(&self, pos: Pos) -> &Commit {
        self.built[pos as usize].get_or_init(|| Box::new(self.build(pos)))
    }

    fn build(&self, pos: Pos) -> Commit {
        let at = pos as usize;
        let columns = &self.columns;
        let node = self.node(pos);
        let links = columns
            .links
            .binary_search_by_key(&pos, |(linked, _)| *linked)
            .map(|found| columns.links[found].1.clone())
            .unwrap_or_default();
        Commit {
            id: id_hex(self.id_at(pos)),
            parents: self
                .parents(pos)
                .map(|parent| id_hex(self.id_at(parent)))
                .collect(),
            kind: node.kind,
            message: self.message(pos).to_owned(),
            target: node.target.map(|target| id_hex(self.id_at(target))),
            tokens: node.tokens,
            tokens_counted: node.tokens_counted,
            agent: columns.names.get(columns.agent[at]).to_owned(),
            session: match columns.session[at] {
                0 => None,
                name => Some(columns.names.get(name - 1).to_owned()),
            },
            ts_micros: columns.ts_micros[at],
            lsn: columns.lsn[at],
            links,
            content_key: node.content_key,
        }
    }

    /// Inserts a commit whose parents and target are known and whose id is 64 hex digits and
    /// new, returning its position.
    pub fn push(&mut self, commit: Commit, removed: bool) -> Pos {
        let pos = Pos::try_from(self.len()).expect("fewer than 2^32 commits");
        let back = |id: &str| pos - self.position(id).expect("a known commit");
        let target_back = commit.target.as_deref().map_or(0, back);
        let parent_back: Vec<u32> = commit.parents.iter().map(|id| back(id)).collect();
        let bytes = id_bytes(&commit.id).expect("a commit id of 64 hex digits");
        let names = &mut self.columns.names;
        let agent = names.intern(&commit.agent);
        let session = commit
            .session
            .as_deref()
            .map_or(0, |session| 1 + names.intern(session));
        let columns = &mut self.columns;
        columns.ids.extend_from_slice(&bytes);
        columns.lsn.push(commit.lsn);
        columns.ts_micros.push(commit.ts_micros);
        columns.tokens.push(commit.tokens);
        columns.content_key.push(commit.content_key);
        let mut flags = kind_code(commit.kind);
        if commit.tokens_counted {
            flags |= FLAG_TOKENS_COUNTED;
        }
        if removed {
            flags |= FLAG_REMOVED;
        }
        columns.flags.push(flags);
        columns.target_back.push(target_back);
        columns.parent_back.extend(parent_back);
        columns.parent_ends.push(columns.parent_back.len() as u64);
        columns.agent.push(agent);
        columns.session.push(session);
        columns.messages.push_str(&commit.message);
        columns.message_ends.push(columns.messages.len() as u64);
        if !commit.links.is_empty() {
            columns.links.push((pos, commit.links.clone()));
        }
        self.recent.insert(bytes, pos);
        self.built.push(OnceLock::from(Box::new(commit)));
        pos
    }

    /// Every position, ordered by id: `sorted` merged with `recent`.
    fn all_sorted(&self) -> Cow<'_, [Pos]> {
        if self.recent.is_empty() {
            return Cow::Borrowed(&self.sorted);
        }
        let mut recent: Vec<Pos> = self.recent.values().copied().collect();
        recent.sort_unstable_by(|&a, &b| self.id_at(a).cmp(self.id_at(b)));
        let mut merged = Vec::with_capacity(self.sorted.len() + recent.len());
        let (mut old, mut new) = (self.sorted.iter().peekable(), recent.iter().peekable());
        while let (Some(&&a), Some(&&b)) = (old.peek(), new.peek()) {
            if self.id_at(a) < self.id_at(b) {
                merged.push(a);
                old.next();
            } else {
                merged.push(b);
                new.next();
            }
        }
        merged.extend(old);
        merged.extend(new);
        Cow::Owned(merged)
    }

    /// What a checkpoint keeps: the columns and every position by id.
    pub fn stored(&self) -> (impl Serialize + '_, impl Serialize + '_) {
        (&self.columns, self.all_sorted())
    }

    /// The commits a checkpoint kept, if they keep every invariant; the reason if not.
    pub fn from_stored(columns: StoredColumns, sorted: Vec<Pos>) -> Result<Commits, String> {
        let commits = Commits {
            built: (0..columns.0.lsn.len()).map(|_| OnceLock::new()).collect(),
            columns: columns.0,
            sorted,
            recent: HashMap::new(),
        };
        commits.check()?;
        Ok(commits)
    }

    /// Checks every invariant of decoded columns, so that no accessor panics on them.
    fn check(&self) -> Result<(), String> {
        let columns = &self.columns;
        let count = self.len();
        let fail = |what: &str| Err(format!("the graph's {what} do not fit"));
        if Pos::try_from(count).is_err()
            || columns.ids.len() != count * ID_BYTES
            || [
                columns.ts_micros.len(),
                columns.tokens.len(),
                columns.content_key.len(),
                columns.flags.len(),
                columns.target_back.len(),
                columns.parent_ends.len(),
                columns.agent.len(),
                columns.session.len(),
                columns.message_ends.len(),
                self.sorted.len(),
            ]
            .iter()
            .any(|&len| len != count)
        {
            return fail("column lengths");
        }
        if !columns.lsn.windows(2).all(|pair| pair[0] < pair[1]) {
            return fail("LSNs");
        }
        if columns.flags.iter().any(|&flags| kind_of(flags).is_none()) {
            return fail("kinds");
        }
        let named = |index: u32| columns.names.has(index);
        if !columns.agent.iter().all(|&agent| named(agent))
            || !columns
                .session
                .iter()
                .all(|&session| session == 0 || named(session - 1))
        {
            return fail("agents and sessions");
        }
        if !self.backs_fit() {
            return fail("parents and targets");
        }
        if !ends_fit(&columns.message_ends, columns.messages.len())
            || !columns
                .message_ends
                .iter()
                .all(|&end| columns.messages.is_char_boundary(end as usize))
        {
            return fail("messages");
        }
        if !columns.links.windows(2).all(|pair| pair[0].0 < pair[1].0)
            || columns
                .links
                .last()
                .is_some_and(|(pos, _)| *pos as usize >= count)
        {
            return fail("links");
        }
        if !self.sorted.iter().all(|&pos| (pos as usize) < count)
            || !self
                .sorted
                .windows(2)
                .all(|pair| self.id_at(pair[0]) < self.id_at(pair[1]))
        {
            return fail("ids");
        }
        Ok(())
    }

    /// True when every parent and target is at a lower position.
    fn backs_fit(&self) -> bool {
        let columns = &self.columns;
        if !ends_fit(&columns.parent_ends, columns.parent_back.len()) {
            return false;
        }
        (0..self.len()).all(|at| {
            let pos = at as u64;
            let target = u64::from(columns.target_back[at]);
            let parents = &columns.parent_back
                [start(&columns.parent_ends, at)..end(&columns.parent_ends, at)];
            target <= pos
                && parents
                    .iter()
                    .all(|&back| back > 0 && u64::from(back) <= pos)
        })
    }
}

/// True when `ends` never decrease and the last is `total` (0 when there are none).
fn ends_fit(ends: &[u64], total: usize) -> bool {
    ends.windows(2).all(|pair| pair[0] <= pair[1])
        && ends.last().map_or(0, |&end| end) == total as u64
}

/// True when the hex digits of `id` sort before `prefix`, compared digit by digit over the
/// prefix's length.
fn id_hex_lt(id: &[u8], prefix: &[u8]) -> bool {
    for (at, &digit) in prefix.iter().enumerate() {
        let (have, wanted) = (digit_at(id, at), nibble(digit).unwrap_or(0));
        if have != wanted {
            return have < wanted;
        }
    }
    false
}

/// The checkpointed columns, as decoded (checked by [`Commits::from_stored`]).
#[derive(Deserialize)]
pub struct StoredColumns(Columns);
