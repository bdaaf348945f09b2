//! Context version control benchmarks: issue 4's targets on a 100k-commit graph, with the
//! peers side by side.
//!
//! The fixture is one agent's context of 100,000 commits on one branch, built through the
//! library (`Agent::commit_event` in batches of 1,000): blocks of 40 to 120 words (about 420
//! bytes), every 20th an `edit` of a random earlier block, every 50th a `pin`, the rest
//! `append`; every 10th counted with o200k_base, the others give their tokens. Every 1,000th
//! commit also starts a branch there. It is built once under
//! `target/bench-data/context-v{version}-100k` with current checkpoints, and reused.
//!
//! - `context/100k/log/{agentrail,git}`: the 20 newest commits, as `agentrail log --oneline
//!   -n 20` and `git log --oneline -n 20` print them, as processes (`target/release/agentrail`
//!   and the `git` on PATH, on a repository of the same 100k commits made by `git
//!   fast-import`, one file per block).
//! - `context/100k/status/agentrail`: `agentrail status` as a process (journal, session, token
//!   totals, and the context's tokens against the budget).
//! - `context/100k/context/{agentrail,sqlite}`: materializing HEAD's context, through the
//!   library (`Agent::context`, from the graph's checkpoint), beside SQLite walking the same
//!   commits (`WITH RECURSIVE` over a `commits` table, first parents, contents in order).
//! - `context/100k/context-process/agentrail`: `agentrail context --json` as a process.
//! - `context/100k/rebuild-graph/agentrail`: replaying the journal into the graph projection
//!   from LSN 1 (what `rebuild` does for it); commits/s from criterion.
//! - `context/100k/merge/{merge,commit}`: through the library on a copy of the workspace
//!   whose branch `side` forks 1,000 commits back and adds 10: `Agent::merge("side")` then
//!   `Agent::undo`, beside the cheapest ref-moving pair, `Agent::commit` then `Agent::undo`,
//!   so the difference is what merging costs (the merge base, the conflict check, and the
//!   no-loss check, which clones the graph and plans three contexts).
//! - `context/100k/after-commit/{status,log}`: `agentrail status` and `agentrail log --oneline
//!   -n 20` as processes, each timed just after a library commit on the same copy (undone
//!   after, untimed): what an agent that commits and then looks pays, with the checkpoint
//!   lagging behind the journal as it does in use rather than current.
//!
//! Run: `cargo build --release && cargo bench --bench context` (the first run builds the
//! fixtures: about a minute and 200 MB). One group: `cargo bench --bench context -- log/`.

use agentrail::context::{
    Agent, CommitKind, CommitRequest, Graph, MergeOutcome, NewCommit, Unrelated,
};
use agentrail::journal::{Durability, SEGMENT_BYTES_DEFAULT};
use agentrail::project::Projection;
use agentrail::recorder::Recorder;
use agentrail::workspace::Workspace;
use criterion::{criterion_group, Criterion, SamplingMode, Throughput};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rusqlite::{params, Connection};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const COMMITS: usize = 100_000;
const SEED: u64 = 4;
/// Commits recorded per batch while building the fixture.
const FIXTURE_BATCH_COMMITS: usize = 1_000;
/// How far back from the tip the merge bench's side branch forks, in commits.
const SIDE_FORK_BACK_COMMITS: usize = 1_000;
/// Commits on the merge bench's side branch.
const SIDE_COMMITS: usize = 10;
/// Part of the fixture's directory name: bumped when the way it is made changes.
const FIXTURE_VERSION: u32 = 1;
const WORDS: &[&str] = &[
    "the",
    "agent",
    "reads",
    "file",
    "src/main.rs",
    "and",
    "finds",
    "that",
    "function",
    "returns",
    "an",
    "error",
    "when",
    "input",
    "is",
    "empty",
    "so",
    "we",
    "add",
    "a",
    "check",
    "test",
    "passes",
    "now",
    "context",
    "window",
    "token",
    "budget",
    "plan",
    "step",
    "next",
    "refactor",
    "module",
    "journal",
    "segment",
    "commit",
    "branch",
    "merge",
    "review",
    "fix",
];

fn data_root() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    std::fs::create_dir_all(&root).expect("creating target/bench-data");
    root
}

/// One generated commit: what the agentrail, git and SQLite fixtures all hold.
struct Block {
    kind: CommitKind,
    message: String,
    content: String,
    /// For an edit: the index of the block it replaces.
    target: Option<usize>,
    /// Given tokens; `None` for the ones the tokenizer counts.
    tokens: Option<u64>,
}

fn blocks() -> Vec<Block> {
    let mut rng = StdRng::seed_from_u64(SEED);
    (0..COMMITS)
        .map(|index| {
            let words = rng.gen_range(40..=120);
            let content: Vec<&str> = (0..words)
                .map(|_| WORDS[rng.gen_range(0..WORDS.len())])
                .collect();
            let content = format!("block {index}: {}", content.join(" "));
            let (kind, target) = match index {
                _ if index > 0 && index % 20 == 0 => {
                    (CommitKind::Edit, Some(rng.gen_range(0..index)))
                }
                _ if index % 50 == 0 => (CommitKind::Pin, None),
                _ => (CommitKind::Append, None),
            };
            let tokens = (index % 10 != 0).then_some(words as u64 * 5 / 4 + 3);
            Block {
                kind,
                message: format!("step {index}"),
                content,
                target,
                tokens,
            }
        })
        .collect()
}

/// The cached fixtures.
struct Fixture {
    dir: PathBuf,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = data_root().join(format!("context-v{FIXTURE_VERSION}-100k"));
        std::fs::create_dir_all(&dir).expect("creating the fixture directory");
        Fixture { dir }
    }

    /// The directory holding `.agentrail`.
    fn workspace_root(&self) -> PathBuf {
        self.dir.join("workspace")
    }

    fn git(&self) -> PathBuf {
        self.dir.join("git")
    }

    fn sqlite(&self) -> PathBuf {
        self.dir.join("commits.sqlite")
    }

    /// The directory holding the merge bench's copy of the workspace, which it writes to.
    fn merge_root(&self) -> PathBuf {
        self.dir.join("merge-workspace")
    }

    /// Runs `build` unless `part` was built before, then marks it built.
    fn build_once(&self, part: &str, build: impl FnOnce()) {
        let done = self.dir.join(format!("{part}.done"));
        if done.exists() {
            return;
        }
        eprintln!("building the {part} fixture of {COMMITS} commits (once, cached)");
        let started = Instant::now();
        build();
        File::create(done).expect("marking a fixture built");
        eprintln!("built in {:.1} s", started.elapsed().as_secs_f64());
    }

    fn ready(&self) -> &Fixture {
        let blocks = blocks();
        self.build_once("workspace", || {
            build_workspace(&self.workspace_root(), &blocks)
        });
        self.build_once("git", || build_git(&self.git(), &blocks));
        self.build_once("sqlite", || build_sqlite(&self.sqlite(), &blocks));
        self.build_once("merge", || {
            build_merge(&self.workspace_root(), &self.merge_root())
        });
        self
    }
}

fn build_workspace(root: &Path, blocks: &[Block]) {
    if root.exists() {
        std::fs::remove_dir_all(root).expect("removing a partial workspace");
    }
    let workspace = Workspace::init(&root.join(".agentrail"), SEGMENT_BYTES_DEFAULT).expect("init");
    let recorder = Recorder::open(workspace, Durability::Never).expect("opening");
    let agent = Agent::new(&recorder, "main", None);
    let mut ids: Vec<String> = Vec::with_capacity(blocks.len());
    for chunk in blocks.chunks(FIXTURE_BATCH_COMMITS) {
        let mut events = Vec::with_capacity(chunk.len());
        for block in chunk {
            let new = NewCommit {
                kind: block.kind,
                message: block.message.clone(),
                content: block.content.clone(),
                parents: ids.last().cloned().into_iter().collect(),
                target: block.target.map(|index| ids[index].clone()),
                tokens: block.tokens,
                links: BTreeMap::new(),
            };
            let (event, commit) = agent.commit_event(new, true).expect("a commit");
            ids.push(commit.id);
            events.push(event);
        }
        recorder.record_all(events).expect("recording");
        if ids.len().is_multiple_of(FIXTURE_BATCH_COMMITS) {
            let name = format!("at-{}", ids.len());
            agent.branch(&name, None).expect("a branch");
        }
    }
    recorder.journal().sync().expect("syncing");
    recorder
        .projector()
        .rebuild(recorder.journal())
        .expect("rebuilding");
    let graph = recorder.load::<Graph>().expect("the graph").state;
    assert_eq!(graph.rejected(), 0);
    assert_eq!(graph.commits().len(), blocks.len());
    recorder.close();
}

/// A copy of the workspace with branch `side`, forked [`SIDE_FORK_BACK_COMMITS`] back, holding
/// [`SIDE_COMMITS`] more commits; HEAD is back on `main`.
fn build_merge(workspace: &Path, root: &Path) {
    if root.exists() {
        std::fs::remove_dir_all(root).expect("removing a partial copy");
    }
    let copied = Command::new("cp")
        .arg("-a")
        .arg(workspace)
        .arg(root)
        .status()
        .expect("running cp");
    assert!(copied.success(), "copying the workspace");
    let workspace = Workspace::open(&root.join(".agentrail")).expect("open");
    let recorder = Recorder::open(workspace, Durability::Never).expect("opening");
    let agent = Agent::new(&recorder, "main", None);
    let fork = format!("main~{SIDE_FORK_BACK_COMMITS}");
    agent.branch("side", Some(&fork)).expect("branch side");
    agent.switch("side").expect("switch side");
    for index in 0..SIDE_COMMITS {
        let content = format!("side block {index}: the agent tries the other approach");
        agent
            .commit(append_request(content))
            .expect("a side commit");
    }
    agent.switch("main").expect("switch main");
    recorder.close();
}

fn append_request(content: String) -> CommitRequest {
    CommitRequest {
        kind: CommitKind::Append,
        message: "step".to_owned(),
        content,
        target: None,
        tokens: None,
    }
}

/// A git repository of the same commits, one file per block in directories of 1,000 (an
/// edit rewrites its target's file), made with `git fast-import`.
fn build_git(dir: &Path, blocks: &[Block]) {
    if dir.exists() {
        std::fs::remove_dir_all(dir).expect("removing a partial repository");
    }
    let status = Command::new("git")
        .args(["init", "-q", "-b", "main"])
        .arg(dir)
        .status()
        .expect("running git init");
    assert!(status.success());
    let mut import = Command::new("git")
        .args(["fast-import", "--quiet"])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .spawn()
        .expect("running git fast-import");
    let mut stream = std::io::BufWriter::new(import.stdin.take().expect("stdin"));
    for (index, block) in blocks.iter().enumerate() {
        let file = block.target.unwrap_or(index);
        let message = &block.message;
        let content = &block.content;
        write!(
            stream,
            "commit refs/heads/main\ncommitter agent <agent@example.com> {} +0000\n\
             data {}\n{message}\nM 100644 inline blocks/{:03}/{:03}.txt\ndata {}\n{content}\n",
            1_700_000_000 + index,
            message.len(),
            file / 1_000,
            file % 1_000,
            content.len()
        )
        .expect("feeding git fast-import");
    }
    drop(stream);
    assert!(import.wait().expect("waiting for git").success());
    let status = Command::new("git")
        .args(["checkout", "-q", "main"])
        .current_dir(dir)
        .status()
        .expect("running git checkout");
    assert!(status.success());
}

/// A SQLite table of the same commits: id, first parent, kind, target, tokens, content.
fn build_sqlite(path: &Path, blocks: &[Block]) {
    let _ = std::fs::remove_file(path);
    let mut connection = Connection::open(path).expect("opening SQLite");
    connection
        .execute_batch(
            "CREATE TABLE commits (id INTEGER PRIMARY KEY, parent INTEGER, kind TEXT,
                target INTEGER, tokens INTEGER, message TEXT, content TEXT);
             CREATE TABLE refs (name TEXT PRIMARY KEY, id INTEGER);",
        )
        .expect("the schema");
    let transaction = connection.transaction().expect("BEGIN");
    {
        let mut insert = transaction
            .prepare("INSERT INTO commits VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")
            .expect("preparing");
        for (index, block) in blocks.iter().enumerate() {
            let id = index as i64 + 1;
            let parent = (index > 0).then_some(index as i64);
            let target = block.target.map(|target| target as i64 + 1);
            let tokens = block.tokens.unwrap_or(0) as i64;
            insert
                .execute(params![
                    id,
                    parent,
                    block.kind.as_str(),
                    target,
                    tokens,
                    block.message,
                    block.content
                ])
                .expect("inserting a commit");
        }
        transaction
            .execute(
                "INSERT INTO refs VALUES ('main', ?1)",
                [blocks.len() as i64],
            )
            .expect("inserting the ref");
    }
    transaction.commit().expect("COMMIT");
}

/// HEAD's context through SQLite: the first-parent line from `main`, oldest first, each edit
/// replacing its target's content. Returns the blocks and their tokens.
fn sqlite_context(connection: &Connection) -> (usize, u64) {
    let mut statement = connection
        .prepare_cached(
            "WITH RECURSIVE line(id) AS (
                 SELECT id FROM refs WHERE name = 'main'
                 UNION ALL SELECT commits.parent FROM commits JOIN line ON commits.id = line.id
                 WHERE commits.parent IS NOT NULL)
             SELECT commits.id, kind, target, tokens, content FROM line
             JOIN commits ON commits.id = line.id ORDER BY commits.id",
        )
        .expect("preparing");
    let mut blocks: Vec<(i64, u64, String)> = Vec::new();
    let mut index_of: std::collections::HashMap<i64, usize> = Default::default();
    let mut rows = statement.query([]).expect("querying");
    while let Some(row) = rows.next().expect("a row") {
        let id: i64 = row.get(0).expect("id");
        let kind: String = row.get(1).expect("kind");
        let target: Option<i64> = row.get(2).expect("target");
        let tokens: i64 = row.get(3).expect("tokens");
        let content: String = row.get(4).expect("content");
        match (
            kind.as_str(),
            target.and_then(|target| index_of.get(&target).copied()),
        ) {
            ("edit", Some(index)) => {
                blocks[index] = (blocks[index].0, tokens as u64, content);
                index_of.insert(id, index);
            }
            _ => {
                index_of.insert(id, blocks.len());
                blocks.push((id, tokens as u64, content));
            }
        }
    }
    (blocks.len(), blocks.iter().map(|block| block.1).sum())
}

fn binary() -> Option<PathBuf> {
    let binary = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/release/agentrail");
    binary.exists().then_some(binary)
}

/// Runs a command to its end, its output read and dropped, and checks it succeeded.
fn run(command: &mut Command) {
    let output = command
        .stderr(Stdio::inherit())
        .output()
        .expect("running a command");
    assert!(output.status.success(), "{command:?} failed");
    assert!(!output.stdout.is_empty());
}

fn agentrail(binary: &Path, root: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(binary);
    command
        .args(args)
        .current_dir(root)
        .env_remove("AGENTRAIL_DIR")
        .env_remove("AGENTRAIL_AGENT")
        .env_remove("AGENTRAIL_SESSION")
        .env("AGENTRAIL_SYNC", "always");
    command
}

fn log(c: &mut Criterion) {
    let fixture = Fixture::new();
    let fixture = fixture.ready();
    let mut group = c.benchmark_group("context/100k/log");
    if let Some(binary) = binary() {
        let root = fixture.workspace_root();
        group.bench_function("agentrail", |b| {
            b.iter(|| {
                run(&mut agentrail(
                    &binary,
                    &root,
                    &["log", "--oneline", "-n", "20"],
                ))
            })
        });
    }
    group.bench_function("git", |b| {
        b.iter(|| {
            run(Command::new("git")
                .args(["log", "--oneline", "-n", "20"])
                .current_dir(fixture.git()))
        })
    });
    group.finish();
}

fn status(c: &mut Criterion) {
    let fixture = Fixture::new();
    let fixture = fixture.ready();
    let mut group = c.benchmark_group("context/100k/status");
    if let Some(binary) = binary() {
        let root = fixture.workspace_root();
        group.bench_function("agentrail", |b| {
            b.iter(|| run(&mut agentrail(&binary, &root, &["status"])))
        });
    }
    group.finish();
}

fn context(c: &mut Criterion) {
    let fixture = Fixture::new();
    let fixture = fixture.ready();
    let mut group = c.benchmark_group("context/100k/context");
    group.sample_size(10);
    let workspace = Workspace::open(&fixture.workspace_root().join(".agentrail")).expect("open");
    let recorder = Recorder::open(workspace, Durability::Never).expect("opening");
    let agent = Agent::new(&recorder, "main", None);
    let expected = agent.context(None).expect("the context");
    group.bench_function("agentrail", |b| {
        b.iter(|| {
            let context = agent.context(None).expect("the context");
            assert_eq!(context.blocks.len(), expected.blocks.len());
        })
    });
    let connection = Connection::open(fixture.sqlite()).expect("opening SQLite");
    let (blocks, _) = sqlite_context(&connection);
    assert_eq!(
        blocks,
        expected.blocks.len(),
        "the peers hold the same blocks"
    );
    group.bench_function("sqlite", |b| b.iter(|| sqlite_context(&connection)));
    group.finish();
    recorder.close();
    let mut group = c.benchmark_group("context/100k/context-process");
    group.sample_size(10);
    if let Some(binary) = binary() {
        let root = fixture.workspace_root();
        group.bench_function("agentrail", |b| {
            b.iter(|| run(&mut agentrail(&binary, &root, &["context", "--json"])))
        });
    }
    group.finish();
}

fn rebuild_graph(c: &mut Criterion) {
    let fixture = Fixture::new();
    let fixture = fixture.ready();
    let workspace = Workspace::open(&fixture.workspace_root().join(".agentrail")).expect("open");
    let recorder = Recorder::open(workspace, Durability::Never).expect("opening");
    let events = recorder.journal().last_lsn();
    let mut group = c.benchmark_group("context/100k/rebuild-graph");
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    group.measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(COMMITS as u64));
    group.bench_function("agentrail", |b| {
        b.iter(|| {
            let mut graph = Graph::default();
            for record in recorder.journal().iter().expect("a reader") {
                let record = record.expect("a record");
                if let Some(event) = agentrail::event::decode_record_ref(&record).expect("an event")
                {
                    graph.apply(record.lsn, &event);
                }
            }
            assert_eq!(graph.commits().len(), COMMITS);
        })
    });
    group.finish();
    eprintln!("rebuild-graph replays {events} events ({COMMITS} commits)");
    recorder.close();
}

fn merge(c: &mut Criterion) {
    let fixture = Fixture::new();
    let fixture = fixture.ready();
    let workspace = Workspace::open(&fixture.merge_root().join(".agentrail")).expect("open");
    let recorder = Recorder::open(workspace, Durability::Never).expect("opening");
    let agent = Agent::new(&recorder, "main", None);
    let mut group = c.benchmark_group("context/100k/merge");
    group.sample_size(20);
    group.bench_function("merge", |b| {
        b.iter(|| {
            let outcome = agent
                .merge("side", None, None, Unrelated::Refuse)
                .expect("the merge");
            assert!(matches!(outcome, MergeOutcome::Merged { .. }));
            agent.undo().expect("the undo");
        })
    });
    group.bench_function("commit", |b| {
        b.iter(|| {
            agent
                .commit(append_request("one more block".to_owned()))
                .expect("the commit");
            agent.undo().expect("the undo");
        })
    });
    group.finish();
    if let Some(binary) = binary() {
        let root = fixture.merge_root();
        let mut group = c.benchmark_group("context/100k/after-commit");
        let commands: [(&str, &[&str]); 2] = [
            ("status", &["status"]),
            ("log", &["log", "--oneline", "-n", "20"]),
        ];
        for (name, args) in commands {
            group.bench_function(name, |b| {
                b.iter_custom(|iterations| {
                    let mut timed = Duration::ZERO;
                    for _ in 0..iterations {
                        agent
                            .commit(append_request("one more block".to_owned()))
                            .expect("the commit");
                        let started = Instant::now();
                        run(&mut agentrail(&binary, &root, args));
                        timed += started.elapsed();
                        agent.undo().expect("the undo");
                    }
                    timed
                })
            });
        }
        group.finish();
    }
    recorder.close();
}

criterion_group!(benches, log, status, context, rebuild_graph, merge);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
