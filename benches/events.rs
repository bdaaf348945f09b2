//! Agent-event benchmarks: issue 3's speed and size targets, with the peers side by side. The
//! peers are SQLite as the first design stored events (tables `agent_sessions` and `events`,
//! the data as JSON text, an index on `events(session_id)`, WAL, one transaction, each line
//! parsed with serde_json for its columns) and a plain JSONL file.
//!
//! The workload is `common/workload.rs` (sessions of 20-200 events, 40% `llm_call`, 30%
//! `tool_output`), with a `session_start` before and a `session_end` after each session added
//! here, cut to exactly N lines (so the last session may stay open): 1,749 bytes per JSON line
//! on average.
//!
//! - `import/200k/{agentrail,sqlite,jsonl}`: 200k events from JSONL text already in memory.
//!   agentrail does what `agentrail import` does: open the workspace with the recorder in mode
//!   `never`, `encode_input` (the text read as it is encoded), one `import::append`, `sync`,
//!   close; the tokenizer is loaded once, by the first iteration. SQLite parses and inserts in
//!   one transaction, commits and closes (which checkpoints the WAL); JSONL writes the text and
//!   fsyncs once. Events/s from criterion; MB/s is the input bytes printed at the start over
//!   the time.
//! - `tokens/{1M,10k}/agentrail`: what `agentrail tokens` does (open the workspace's journal,
//!   `load::<Tokens>`, close) with current checkpoints; `tokens/1M/sqlite` is the GROUP BY
//!   model over `json_extract` of the payloads, on a fresh connection.
//! - `rebuild/1M/{agentrail,sqlite}`: what `agentrail rebuild` does (`Projector::rebuild` of
//!   every built-in projection) beside `SELECT session_id, COUNT(*), SUM(...) ... GROUP BY
//!   session_id`.
//! - `event_cli/{1M,empty}/{library,process}`: one `agentrail event decision x` with
//!   `AGENTRAIL_SYNC=always`, through the library (`Recorder::open`, `load::<Active>`,
//!   `record`, `close`) and as a process of `target/release/agentrail`, on a copy of the
//!   1M-event workspace and on a new one. Each call appends, so "empty" ends with a few
//!   thousand events.
//! - Size on disk, printed at the end and written to `target/bench-data/events-size.txt`: the
//!   journal directory, the JSONL and the SQLite database (+WAL) for 200k events, and for 1M
//!   events once those fixtures exist.
//!
//! The fixtures (JSONL, an imported workspace with current checkpoints, a SQLite database) are
//! built once per count and seed under `target/bench-data/events-v{version}-{count}-seed{seed}`
//! (the build's disk, never a tmpfs) and reused; the first run takes several minutes more and
//! about 5 GB. Delete that directory to rebuild them.
//!
//! Run: `cargo build --release && cargo bench --bench events` (the `process` variant runs
//! `target/release/agentrail` and is skipped when it is missing). One group:
//! `cargo bench --bench events -- tokens/`.

#[path = "common/workload.rs"]
mod workload;

use agentrail::event::{now_micros, Event, EventType};
use agentrail::import::{append, encode_input, encode_lines};
use agentrail::journal::{Durability, SEGMENT_BYTES_DEFAULT};
use agentrail::project::{Active, Loaded, RebuildReport, Tokens};
use agentrail::recorder::{object, Recorder};
use agentrail::workspace::Workspace;
use criterion::{criterion_group, Criterion, SamplingMode, Throughput};
use rusqlite::{params, Connection, Statement};
use serde_json::{json, Value as Json};
use std::cell::OnceCell;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The allocator the `agentrail` binary uses, so that the library here runs as the CLI does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SEED: u64 = 1;
const IMPORT_EVENTS: usize = 200_000;
const LARGE_EVENTS: usize = 1_000_000;
const SMALL_EVENTS: usize = 10_000;
/// Lines imported per batch when building a fixture, so memory stays near 150 MB of records.
/// Each batch is appended as `agentrail import` appends a file (a bulk append, which seals
/// the active segment after it), so the fixture is what importing files of that many lines
/// in turn leaves.
const FIXTURE_IMPORT_CHUNK_LINES: usize = 100_000;
/// Part of the fixtures' directory name: bumped when the way they are made changes.
const FIXTURE_VERSION: u32 = 3;

const SQLITE_SCHEMA: &str = "
    CREATE TABLE agent_sessions (id TEXT PRIMARY KEY, task TEXT, agent TEXT, status TEXT,
        started_at TEXT, ended_at TEXT);
    CREATE TABLE events (id INTEGER PRIMARY KEY, session_id TEXT, type TEXT, ts TEXT,
        agent TEXT, payload TEXT);
    CREATE INDEX events_session_id ON events(session_id);";
const SQLITE_TOKENS_BY_MODEL: &str = "
    SELECT json_extract(payload, '$.model'), COUNT(*),
        SUM(json_extract(payload, '$.input_tokens')),
        SUM(json_extract(payload, '$.output_tokens')),
        SUM(json_extract(payload, '$.cache_read_tokens'))
    FROM events WHERE type = 'llm_call' GROUP BY 1";
const SQLITE_TOKENS_BY_SESSION: &str = "
    SELECT session_id, COUNT(*),
        SUM(json_extract(payload, '$.input_tokens')),
        SUM(json_extract(payload, '$.output_tokens'))
    FROM events GROUP BY session_id";

fn data_root() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    std::fs::create_dir_all(&root).expect("creating target/bench-data");
    root
}

fn bench_dir(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(name)
        .tempdir_in(data_root())
        .expect("creating a bench directory")
}

// ---------------------------------------------------------------------------------------------
// The workload as JSON lines

/// One JSON line of an event built here (the session markers).
fn line(ts: &Json, session: &Json, agent: &Json, event_type: &str, data: Json) -> String {
    let event = json!({"ts": ts, "session": session, "agent": agent, "type": event_type,
        "data": data});
    event.to_string()
}

/// The workload's events, each session between a `session_start` and a `session_end`, cut to
/// `count` lines.
fn session_lines(count: usize) -> impl Iterator<Item = String> {
    let mut last: Option<Json> = None;
    workload::events(count, SEED)
        .into_iter()
        .flat_map(move |event| {
            let mut lines = Vec::with_capacity(3);
            let session = &event["session"];
            if last.as_ref().is_none_or(|last| last["session"] != *session) {
                if let Some(last) = &last {
                    let end = json!({"status": "completed"});
                    let [ts, id, agent] = [&last["ts"], &last["session"], &last["agent"]];
                    lines.push(line(ts, id, agent, "session_end", end));
                }
                let start = json!({"task": format!("task of {}", session.as_str().unwrap_or(""))});
                lines.push(line(
                    &event["ts"],
                    session,
                    &event["agent"],
                    "session_start",
                    start,
                ));
            }
            lines.push(event.to_string());
            last = Some(json!({"ts": event["ts"], "session": event["session"],
                "agent": event["agent"]}));
            lines
        })
        .take(count)
}

/// Up to `lines_max` lines of `reader`, each ending in `\n`; empty at the end.
fn read_lines(reader: &mut impl BufRead, lines_max: usize) -> String {
    let mut text = String::new();
    for _ in 0..lines_max {
        if reader
            .read_line(&mut text)
            .expect("reading the fixture's JSONL")
            == 0
        {
            break;
        }
    }
    text
}

// ---------------------------------------------------------------------------------------------
// Fixtures, built once and cached

/// The cached JSONL, workspace and SQLite database of `count` events.
struct Fixture {
    dir: PathBuf,
    count: usize,
}

impl Fixture {
    fn new(count: usize) -> Fixture {
        let name = format!("events-v{FIXTURE_VERSION}-{count}-seed{SEED}");
        let dir = data_root().join(name);
        std::fs::create_dir_all(&dir).expect("creating the fixture directory");
        Fixture { dir, count }
    }

    fn jsonl(&self) -> PathBuf {
        self.dir.join("events.jsonl")
    }

    /// The `.agentrail` directory.
    fn workspace(&self) -> PathBuf {
        self.dir.join("workspace/.agentrail")
    }

    fn sqlite(&self) -> PathBuf {
        self.dir.join("events.sqlite")
    }

    fn is_built(&self, part: &str) -> bool {
        self.dir.join(format!("{part}.done")).exists()
    }

    /// Runs `build` unless `part` was built before, then marks it built.
    fn build_once(&self, part: &str, build: impl FnOnce()) {
        if self.is_built(part) {
            return;
        }
        eprintln!(
            "building the {part} of {} events (once, cached)",
            self.count
        );
        let started = Instant::now();
        build();
        File::create(self.dir.join(format!("{part}.done"))).expect("marking a fixture built");
        eprintln!("built in {:.1} s", started.elapsed().as_secs_f64());
    }

    fn jsonl_ready(&self) -> PathBuf {
        self.build_once("jsonl", || {
            let mut out = BufWriter::new(File::create(self.jsonl()).expect("creating JSONL"));
            for line in session_lines(self.count) {
                out.write_all(line.as_bytes()).expect("writing JSONL");
                out.write_all(b"\n").expect("writing JSONL");
            }
            out.flush().expect("writing JSONL");
        });
        self.jsonl()
    }

    /// The workspace, imported in chunks, with every projection's checkpoint current.
    fn workspace_ready(&self) -> PathBuf {
        let jsonl = self.jsonl_ready();
        self.build_once("workspace", || {
            let parent = self.dir.join("workspace");
            if parent.exists() {
                std::fs::remove_dir_all(&parent).expect("removing a partial workspace");
            }
            let workspace = Workspace::init(&self.workspace(), SEGMENT_BYTES_DEFAULT)
                .expect("creating the workspace");
            let recorder = Recorder::open(workspace, Durability::Never).expect("opening");
            let mut reader = BufReader::new(File::open(&jsonl).expect("opening JSONL"));
            loop {
                let text = read_lines(&mut reader, FIXTURE_IMPORT_CHUNK_LINES);
                if text.is_empty() {
                    break;
                }
                let records = encode_lines(
                    recorder.redactor().expect("a valid config"),
                    &text,
                    now_micros(),
                )
                .expect("valid lines");
                append(&recorder, records).expect("appending");
            }
            recorder.journal().sync().expect("syncing");
            assert_eq!(recorder.journal().last_lsn(), self.count as u64);
            recorder
                .projector()
                .rebuild(recorder.journal())
                .expect("rebuilding");
            recorder.close();
        });
        self.workspace()
    }

    fn sqlite_ready(&self) -> PathBuf {
        let jsonl = self.jsonl_ready();
        self.build_once("sqlite", || {
            for path in sqlite_files(&self.sqlite()) {
                let _ = std::fs::remove_file(path);
            }
            let reader = BufReader::new(File::open(&jsonl).expect("opening JSONL"));
            let lines = reader.lines().map(|line| line.expect("reading JSONL"));
            assert_eq!(sqlite_import(&self.sqlite(), lines), self.count as u64);
        });
        self.sqlite()
    }
}

// ---------------------------------------------------------------------------------------------
// The peers and what the CLI does

/// The database file and its WAL.
fn sqlite_files(database: &Path) -> [PathBuf; 2] {
    [
        database.to_path_buf(),
        database.with_extension("sqlite-wal"),
    ]
}

/// The prepared statements of the SQLite import.
struct SqliteInsert<'connection> {
    event: Statement<'connection>,
    session_start: Statement<'connection>,
    session_end: Statement<'connection>,
}

impl SqliteInsert<'_> {
    /// Parses one line for its columns and inserts it, as the first design did.
    fn line(&mut self, line: &str) {
        let event: Json = serde_json::from_str(line).expect("a JSON line");
        let [session, event_type, ts, agent] =
            ["session", "type", "ts", "agent"].map(|field| event[field].as_str());
        let data = &event["data"];
        let payload = data.to_string();
        self.event
            .execute(params![session, event_type, ts, agent, payload])
            .expect("inserting an event");
        match event_type {
            Some("session_start") => self
                .session_start
                .execute(params![session, data["task"].as_str(), agent, ts])
                .expect("inserting a session"),
            Some("session_end") => self
                .session_end
                .execute(params![session, data["status"].as_str(), ts])
                .expect("ending a session"),
            _ => 0,
        };
    }
}

/// Imports JSON lines into a new SQLite database in one transaction and closes it; returns
/// the events inserted.
fn sqlite_import<S: AsRef<str>>(database: &Path, lines: impl Iterator<Item = S>) -> u64 {
    let mut connection = Connection::open(database).expect("opening SQLite");
    let mode: String = connection
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .expect("setting WAL");
    assert_eq!(mode, "wal");
    connection.execute_batch(SQLITE_SCHEMA).expect("the schema");
    let transaction = connection.transaction().expect("BEGIN");
    let mut count = 0;
    {
        let prepare = |sql: &str| transaction.prepare(sql).expect("preparing");
        let mut insert = SqliteInsert {
            event: prepare(
                "INSERT INTO events (session_id, type, ts, agent, payload) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            ),
            session_start: prepare(
                "INSERT OR REPLACE INTO agent_sessions (id, task, agent, status, started_at) \
                 VALUES (?1, ?2, ?3, 'open', ?4)",
            ),
            session_end: prepare(
                "UPDATE agent_sessions SET status = ?2, ended_at = ?3 WHERE id = ?1",
            ),
        };
        for line in lines.filter(|line| !line.as_ref().trim().is_empty()) {
            insert.line(line.as_ref());
            count += 1;
        }
    }
    transaction.commit().expect("COMMIT");
    connection
        .close()
        .map_err(|(_, error)| error)
        .expect("closing SQLite");
    count
}

/// `agentrail import`: the recorder in mode `never`, every line checked and encoded, one
/// batch, one sync. The workspace exists; the time excludes making and removing it.
fn import_agentrail(text: &str) -> Duration {
    let dir = bench_dir("import-agentrail");
    let root = dir.path().join(".agentrail");
    Workspace::init(&root, SEGMENT_BYTES_DEFAULT).expect("creating the workspace");
    let started = Instant::now();
    let workspace = Workspace::open(&root).expect("opening the workspace");
    let recorder = Recorder::open(workspace, Durability::Never).expect("opening the recorder");
    let records = encode_input(
        recorder.redactor().expect("a valid config"),
        text.as_bytes(),
        now_micros(),
    )
    .expect("valid lines");
    let lsns = append(&recorder, records).expect("appending");
    recorder.journal().sync().expect("syncing");
    recorder.close();
    let elapsed = started.elapsed();
    assert_eq!(lsns.end - 1, IMPORT_EVENTS as u64);
    elapsed
}

fn import_sqlite(text: &str) -> Duration {
    let dir = bench_dir("import-sqlite");
    let started = Instant::now();
    let count = sqlite_import(&dir.path().join("events.sqlite"), text.lines());
    let elapsed = started.elapsed();
    assert_eq!(count, IMPORT_EVENTS as u64);
    elapsed
}

fn import_jsonl(text: &str) -> Duration {
    let dir = bench_dir("import-jsonl");
    let started = Instant::now();
    let mut file = File::create(dir.path().join("events.jsonl")).expect("creating JSONL");
    file.write_all(text.as_bytes()).expect("writing JSONL");
    file.sync_all().expect("fsync");
    drop(file);
    started.elapsed()
}

/// `agentrail tokens`: open the workspace, bring the `tokens` projection up to date, close.
fn tokens_like_cli(root: &Path) -> Loaded<Tokens> {
    let workspace = Workspace::open(root).expect("opening the workspace");
    let recorder = Recorder::open(workspace, Durability::Always).expect("opening the recorder");
    let tokens = recorder.load::<Tokens>().expect("loading tokens");
    recorder.close();
    tokens
}

/// Rows of a GROUP BY: the key, then the counts and sums (NULL as 0).
type SqliteRows = Vec<(Option<String>, Vec<i64>)>;

fn sqlite_query(database: &Path, sql: &str) -> SqliteRows {
    let connection = Connection::open(database).expect("opening SQLite");
    let mut statement = connection.prepare(sql).expect("preparing");
    let columns = statement.column_count();
    let rows = statement
        .query_map([], |row| {
            let numbers = (1..columns)
                .map(|column| Ok(row.get::<_, Option<i64>>(column)?.unwrap_or(0)))
                .collect::<rusqlite::Result<Vec<i64>>>()?;
            Ok((row.get(0)?, numbers))
        })
        .expect("querying")
        .collect::<rusqlite::Result<SqliteRows>>()
        .expect("reading rows");
    rows
}

/// `agentrail rebuild`: open the workspace, replay the journal into every projection, close.
fn rebuild_like_cli(root: &Path) -> RebuildReport {
    let workspace = Workspace::open(root).expect("opening the workspace");
    let recorder = Recorder::open(workspace, Durability::Always).expect("opening the recorder");
    let report = recorder
        .projector()
        .rebuild(recorder.journal())
        .expect("rebuilding");
    recorder.close();
    report
}

/// `agentrail event decision x` through the library: the current session from `active`, one
/// event appended and synced.
fn record_like_cli(root: &Path) -> u64 {
    let workspace = Workspace::open(root).expect("opening the workspace");
    let recorder = Recorder::open(workspace, Durability::Always).expect("opening the recorder");
    let active = recorder.load::<Active>().expect("loading active").state;
    let (session, agent) = active.most_recent_open().map_or((None, None), |open| {
        (Some(open.id.clone()), open.agent.clone())
    });
    let data = object(json!({"choice": "x"}));
    let event = Event::new(EventType::Decision, session, agent, data).expect("a valid event");
    let lsn = recorder.record(event).expect("recording");
    recorder.close();
    lsn
}

/// `agentrail event decision x` as a process.
fn record_with_process(binary: &Path, root: &Path) {
    let status = Command::new(binary)
        .args(["event", "decision", "x"])
        .env("AGENTRAIL_DIR", root)
        .env("AGENTRAIL_SYNC", "always")
        .env_remove("AGENTRAIL")
        .env_remove("AGENTRAIL_SESSION")
        .env_remove("AGENTRAIL_AGENT")
        .stdout(Stdio::null())
        .status()
        .expect("running agentrail");
    assert!(
        status.success(),
        "agentrail event decision failed: {status}"
    );
}

/// The release binary, if it has been built.
fn agentrail_binary() -> Option<PathBuf> {
    let binary = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/release/agentrail");
    if binary.is_file() {
        return Some(binary);
    }
    eprintln!(
        "skipping event_cli/*/process: {} is missing; run `cargo build --release` first",
        binary.display()
    );
    None
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("creating a directory");
    for entry in std::fs::read_dir(from).expect("listing a directory") {
        let entry = entry.expect("listing a directory");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("a file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copying a file");
        }
    }
}

/// A workspace `event_cli` may append to: a copy of the fixture of `count` events, or a new
/// empty one.
fn scratch_workspace(count: Option<usize>) -> tempfile::TempDir {
    let dir = bench_dir("event-cli");
    let root = dir.path().join(".agentrail");
    match count {
        Some(count) => copy_dir(&Fixture::new(count).workspace_ready(), &root),
        None => drop(Workspace::init(&root, SEGMENT_BYTES_DEFAULT).expect("creating")),
    }
    dir
}

/// Runs `timed` `iters` times and adds up the times it returns.
fn repeat(iters: u64, mut timed: impl FnMut() -> Duration) -> Duration {
    (0..iters).map(|_| timed()).sum()
}

// ---------------------------------------------------------------------------------------------
// The benchmarks

fn import(c: &mut Criterion) {
    let jsonl = Fixture::new(IMPORT_EVENTS).jsonl_ready();
    let text = std::fs::read_to_string(jsonl).expect("reading the JSONL");
    eprintln!(
        "import/200k input: {IMPORT_EVENTS} events, {} bytes of JSONL ({:.0} bytes per event)",
        text.len(),
        text.len() as f64 / IMPORT_EVENTS as f64
    );
    let mut group = c.benchmark_group("import");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_secs(10))
        .throughput(Throughput::Elements(IMPORT_EVENTS as u64));
    group.bench_function("200k/agentrail", |b| {
        b.iter_custom(|iters| repeat(iters, || import_agentrail(&text)))
    });
    group.bench_function("200k/sqlite", |b| {
        b.iter_custom(|iters| repeat(iters, || import_sqlite(&text)))
    });
    group.bench_function("200k/jsonl", |b| {
        b.iter_custom(|iters| repeat(iters, || import_jsonl(&text)))
    });
    group.finish();
}

/// Checks once that the checkpoint is current and says how big it is.
fn check_tokens_checkpoint(root: &Path, count: usize) -> Loaded<Tokens> {
    tokens_like_cli(root);
    let loaded = tokens_like_cli(root);
    assert_eq!(
        loaded.replayed, 0,
        "the tokens checkpoint should be current"
    );
    let checkpoint = root.join("projections/tokens.ckpt");
    let bytes = std::fs::metadata(checkpoint).map_or(0, |meta| meta.len());
    eprintln!(
        "tokens checkpoint of {count} events: {bytes} bytes, {:?}",
        loaded.checkpoint
    );
    loaded
}

fn tokens(c: &mut Criterion) {
    let mut group = c.benchmark_group("tokens");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(5));
    for (name, count) in [("1M", LARGE_EVENTS), ("10k", SMALL_EVENTS)] {
        let root = OnceCell::new();
        group.bench_function(format!("{name}/agentrail"), |b| {
            let root = root.get_or_init(|| {
                let root = Fixture::new(count).workspace_ready();
                check_tokens_checkpoint(&root, count);
                root
            });
            b.iter(|| tokens_like_cli(root))
        });
    }
    let database = OnceCell::new();
    group.bench_function("1M/sqlite", |b| {
        let database = database.get_or_init(|| {
            let fixture = Fixture::new(LARGE_EVENTS);
            let database = fixture.sqlite_ready();
            let rows = sqlite_query(&database, SQLITE_TOKENS_BY_MODEL);
            let calls: i64 = rows.iter().map(|(_, numbers)| numbers[0]).sum();
            let loaded = check_tokens_checkpoint(&fixture.workspace_ready(), LARGE_EVENTS);
            assert_eq!(
                calls as u64, loaded.state.total.calls,
                "both count the same calls"
            );
            database
        });
        b.iter(|| sqlite_query(database, SQLITE_TOKENS_BY_MODEL))
    });
    group.finish();
}

fn rebuild(c: &mut Criterion) {
    let mut group = c.benchmark_group("rebuild");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_secs(10))
        .throughput(Throughput::Elements(LARGE_EVENTS as u64));
    let root = OnceCell::new();
    group.bench_function("1M/agentrail", |b| {
        let root = root.get_or_init(|| Fixture::new(LARGE_EVENTS).workspace_ready());
        b.iter(|| assert_eq!(rebuild_like_cli(root).events, LARGE_EVENTS as u64))
    });
    let database = OnceCell::new();
    group.bench_function("1M/sqlite", |b| {
        let database = database.get_or_init(|| Fixture::new(LARGE_EVENTS).sqlite_ready());
        b.iter(|| {
            let rows = sqlite_query(database, SQLITE_TOKENS_BY_SESSION);
            let events: i64 = rows.iter().map(|(_, numbers)| numbers[0]).sum();
            assert_eq!(events, LARGE_EVENTS as i64);
        })
    });
    group.finish();
}

fn event_cli(c: &mut Criterion) {
    let mut group = c.benchmark_group("event_cli");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    let binary = agentrail_binary();
    for (name, count) in [("1M", Some(LARGE_EVENTS)), ("empty", None)] {
        let dir = OnceCell::new();
        group.bench_function(format!("{name}/library"), |b| {
            let root = dir
                .get_or_init(|| scratch_workspace(count))
                .path()
                .join(".agentrail");
            b.iter(|| record_like_cli(&root))
        });
        let Some(binary) = &binary else { continue };
        let dir = OnceCell::new();
        group.bench_function(format!("{name}/process"), |b| {
            let root = dir
                .get_or_init(|| scratch_workspace(count))
                .path()
                .join(".agentrail");
            b.iter(|| record_with_process(binary, &root))
        });
    }
    group.finish();
}

// ---------------------------------------------------------------------------------------------
// Size on disk

fn file_bytes(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |meta| meta.len())
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .expect("listing a directory")
        .map(|entry| {
            let entry = entry.expect("listing a directory");
            if entry.file_type().expect("a file type").is_dir() {
                dir_bytes(&entry.path())
            } else {
                file_bytes(&entry.path())
            }
        })
        .sum()
}

/// The sizes of the fixture of `count` events, as one line.
fn size_line(fixture: &Fixture) -> String {
    let jsonl = file_bytes(&fixture.jsonl_ready());
    let journal = dir_bytes(&fixture.workspace_ready().join("journal"));
    let sqlite: u64 = sqlite_files(&fixture.sqlite_ready())
        .iter()
        .map(|path| file_bytes(path))
        .sum();
    let percent = |bytes: u64| 100.0 * bytes as f64 / jsonl as f64;
    format!(
        "size/{} events: journal {journal} bytes ({:.1}% of the JSONL), JSONL {jsonl} bytes, \
         SQLite+WAL {sqlite} bytes ({:.1}% of the JSONL)",
        fixture.count,
        percent(journal),
        percent(sqlite)
    )
}

/// Prints the sizes on disk of 200k events, and of 1M if those fixtures were built, and writes
/// them to `target/bench-data/events-size.txt`.
fn report_sizes() {
    let large = Fixture::new(LARGE_EVENTS);
    let mut fixtures = vec![Fixture::new(IMPORT_EVENTS)];
    if ["jsonl", "workspace", "sqlite"]
        .iter()
        .all(|part| large.is_built(part))
    {
        fixtures.push(large);
    }
    let text: String = fixtures
        .iter()
        .map(|fixture| size_line(fixture) + "\n")
        .collect();
    print!("{text}");
    std::fs::write(data_root().join("events-size.txt"), text).expect("writing events-size.txt");
}

criterion_group!(benches, import, tokens, rebuild, event_cli);

fn main() {
    benches();
    if !std::env::args().any(|arg| arg == "--list") {
        report_sizes();
    }
    Criterion::default().configure_from_args().final_summary();
}
