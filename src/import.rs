//! Importing JSON lines: every line is parsed and checked before anything is appended, on all
//! cores, and each valid event is redacted and encoded at once, so that only encoded records
//! are held until the append. Input is cut at line ends into chunks of about
//! [`IMPORT_CHUNK_BYTES`] that the threads take in turn, so that a thread which finishes early
//! takes the next chunk rather than waiting, and a reader ([`encode_input`]) is read while the
//! chunks before are encoded: the input is never held whole.
//!
//! [`append`] appends what was encoded. When the input holds `commit` or `ref_update` events
//! it first takes the ref locks of their agents and replays those events on the graph as it
//! is, so that one naming a commit the graph does not hold is an error naming its line and
//! field, and nothing is appended (`format-spec/events.md`, section 7). Its session bounds are
//! checked against the journal's sessions the same way (section 4): a `session_start` of an
//! id already started and a `session_end` of a session that is not open, of another agent than
//! the one that started it, or dated before its start are refused.

use crate::context::graph::{agent_of, ref_update_moves, Graph};
use crate::context::lock::{RefLock, REF_LOCK_WAIT_MAX};
use crate::context::{Refs, DEFAULT_AGENT};
use crate::event::{format_ts, Event, EventType, InputError};
use crate::journal::format::RECORD_PAYLOAD_BYTES_MAX;
use crate::journal::NewRecord;
use crate::project::Sessions;
use crate::recorder::{encode, Recorder};
use crate::redact::Redactor;
use std::collections::{BTreeSet, HashMap};
use std::io::Read;
use std::ops::Range;

/// Threads that parse one input at most.
pub const IMPORT_THREADS_MAX: usize = 8;
/// Inputs shorter than this are parsed on the calling thread alone.
pub const PARALLEL_INPUT_BYTES_MIN: usize = 1024 * 1024;
/// About how much input one thread takes at a time (a chunk ends at a line end, so a longer
/// line makes a longer chunk).
pub const IMPORT_CHUNK_BYTES: usize = 4 * 1024 * 1024;

/// Encoded events, ready to append, with the lines of those [`append`] checks against the
/// journal.
#[derive(Debug, Default)]
pub struct Batch {
    records: Vec<NewRecord>,
    /// Each `commit`, `ref_update`, `session_start` and `session_end` event, by index in
    /// `records`.
    checked: Vec<Checked>,
    /// The agents whose refs the context events may move (see [`agents_moved`]).
    agents: BTreeSet<String>,
}

/// An event [`append`] checks against the journal: where it is, and against what.
#[derive(Debug, Clone, Copy)]
struct Checked {
    /// Its index in the batch's records.
    index: usize,
    line: usize,
    /// A context event (checked against the graph), else a session bound (against the open
    /// sessions).
    context: bool,
}

/// What [`encode_event`] learnt of an event [`append`] checks.
enum Check {
    /// A context event and the agents whose refs it may move.
    Context(Vec<String>),
    SessionBound,
}

impl Batch {
    /// How many events the batch holds.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The encoded events, in input order.
    pub fn records(&self) -> &[NewRecord] {
        &self.records
    }

    /// The encoded events, to append without checking them against the graph.
    pub fn into_records(self) -> Vec<NewRecord> {
        self.records
    }

    fn push(&mut self, (record, check): (NewRecord, Option<Check>), line: usize) {
        if let Some(check) = check {
            let index = self.records.len();
            let context = matches!(check, Check::Context(_));
            self.checked.push(Checked {
                index,
                line,
                context,
            });
            if let Check::Context(agents) = check {
                self.agents.extend(agents);
            }
        }
        self.records.push(record);
    }

    fn extend(&mut self, later: Batch) {
        let offset = self.records.len();
        let shifted = later.checked.into_iter().map(|checked| Checked {
            index: checked.index + offset,
            ..checked
        });
        self.checked.extend(shifted);
        self.agents.extend(later.agents);
        self.records.extend(later.records);
    }

    /// The checked events of one kind (context or not), each decoded when reached, so that
    /// only one is held at a time.
    fn decoded(&self, context: bool) -> impl Iterator<Item = crate::Result<(Checked, Event)>> + '_ {
        let wanted = self
            .checked
            .iter()
            .filter(move |checked| checked.context == context);
        wanted.map(|&checked| {
            let event = Event::decode(0, &self.records[checked.index].payload)?;
            Ok((checked, event))
        })
    }
}

/// Why an input could not be imported.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// A line is not a valid event (or not UTF-8 text); the first such line by number.
    #[error(transparent)]
    Input(#[from] InputError),
    /// Reading the input failed.
    #[error("reading the input: {0}")]
    Read(#[from] std::io::Error),
}

/// Parses, checks, redacts and encodes every non-blank line of `text`. The first bad line (by
/// line number) is the error; `now_micros` stamps events that carry no `ts`.
pub fn encode_lines(redactor: &Redactor, text: &str, now_micros: i64) -> Result<Batch, InputError> {
    if thread_count() == 1 || text.len() < PARALLEL_INPUT_BYTES_MIN {
        return encode_chunk(redactor, text, 1, now_micros);
    }
    let chunks = split_at_lines(text, IMPORT_CHUNK_BYTES).into_iter().map(Ok);
    encode_chunks(redactor, chunks, now_micros).map_err(|error| match error {
        ImportError::Input(error) => error,
        // Chunks of a string in memory are never read.
        ImportError::Read(error) => InputError {
            line: 0,
            field: None,
            message: error.to_string(),
        },
    })
}

/// As [`encode_lines`], for input read from `input` as it is encoded. Input that is not UTF-8
/// is an error naming its line.
pub fn encode_input(
    redactor: &Redactor,
    input: impl Read,
    now_micros: i64,
) -> Result<Batch, ImportError> {
    encode_input_in_chunks(redactor, input, now_micros, IMPORT_CHUNK_BYTES)
}

fn encode_input_in_chunks(
    redactor: &Redactor,
    input: impl Read,
    now_micros: i64,
    chunk_bytes: usize,
) -> Result<Batch, ImportError> {
    let mut chunks = LineChunks::new(input, chunk_bytes);
    let first = match chunks.next() {
        None => return Ok(Batch::default()),
        Some(first) => first?,
    };
    if (chunks.done && first.1.len() < PARALLEL_INPUT_BYTES_MIN) || thread_count() == 1 {
        let mut records = encode_chunk(redactor, &first.1, first.0, now_micros)?;
        for chunk in chunks {
            let (line, text) = chunk?;
            records.extend(encode_chunk(redactor, &text, line, now_micros)?);
        }
        return Ok(records);
    }
    encode_chunks(
        redactor,
        std::iter::once(Ok(first)).chain(chunks),
        now_micros,
    )
}

fn thread_count() -> usize {
    std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(IMPORT_THREADS_MAX)
}

/// Encodes `chunks` (each with the number of its first line) on every core, in order. The
/// calling thread hands them out as it gets them; once a chunk fails, no later one is handed
/// out, and the failure of the earliest failed chunk is the answer.
fn encode_chunks<T: AsRef<str> + Send>(
    redactor: &Redactor,
    chunks: impl Iterator<Item = Result<(usize, T), ImportError>>,
    now_micros: i64,
) -> Result<Batch, ImportError> {
    let threads = thread_count();
    let (work, queue) = crossbeam_channel::bounded::<(usize, usize, T)>(threads);
    let (done, results) = crossbeam_channel::unbounded();
    let failed = std::sync::atomic::AtomicBool::new(false);
    let read = std::thread::scope(|scope| {
        // Moved in, so that it closes when the handing out stops, however it stops.
        let work = work;
        for _ in 0..threads {
            let (queue, done, failed) = (queue.clone(), done.clone(), &failed);
            scope.spawn(move || {
                for (index, line, text) in queue {
                    let encoded = encode_chunk(redactor, text.as_ref(), line, now_micros);
                    if encoded.is_err() {
                        failed.store(true, std::sync::atomic::Ordering::Relaxed);
                    }
                    let _ = done.send((index, encoded));
                }
            });
        }
        drop(queue);
        for (index, chunk) in chunks.enumerate() {
            if failed.load(std::sync::atomic::Ordering::Relaxed) {
                break;
            }
            let (line, text) = chunk?;
            if work.send((index, line, text)).is_err() {
                break;
            }
        }
        Ok(())
    });
    drop(done);
    let mut encoded: Vec<_> = results.into_iter().collect();
    encoded.sort_unstable_by_key(|(index, _)| *index);
    let mut batch = Batch::default();
    for (_, chunk) in encoded {
        batch.extend(chunk?);
    }
    read.map(|()| batch)
}

fn encode_chunk(
    redactor: &Redactor,
    chunk: &str,
    first_line: usize,
    now_micros: i64,
) -> Result<Batch, InputError> {
    let mut batch = Batch::default();
    for (index, text) in chunk.lines().enumerate() {
        if text.trim().is_empty() {
            continue;
        }
        let line = first_line + index;
        batch.push(encode_event(redactor, text, line, now_micros)?, line);
    }
    Ok(batch)
}

/// Parses, checks, redacts and encodes one event (`text` may span lines, as one event given
/// on the command line may); `line` is its 1-based number, for errors. An event too large for
/// one journal record is an error naming its line, found before anything is appended.
pub fn encode_line(
    redactor: &Redactor,
    text: &str,
    line: usize,
    now_micros: i64,
) -> Result<Batch, InputError> {
    let mut batch = Batch::default();
    batch.push(encode_event(redactor, text, line, now_micros)?, line);
    Ok(batch)
}

/// The record of one event, and what [`append`] checks it against, if anything.
fn encode_event(
    redactor: &Redactor,
    text: &str,
    line: usize,
    now_micros: i64,
) -> Result<(NewRecord, Option<Check>), InputError> {
    let event = Event::from_json_line(text, line, now_micros)?;
    let check = match event.kind() {
        Some(EventType::Commit | EventType::RefUpdate) => {
            Some(Check::Context(agents_moved(&event)))
        }
        Some(EventType::SessionStart | EventType::SessionEnd) => Some(Check::SessionBound),
        _ => None,
    };
    let record = encode(redactor, event).map_err(|error| InputError { line, ..error })?;
    if record.payload.len() > RECORD_PAYLOAD_BYTES_MAX as usize {
        return Err(InputError {
            line,
            field: None,
            message: format!(
                "the event is {} bytes once encoded, more than the {RECORD_PAYLOAD_BYTES_MAX} bytes a journal record holds",
                record.payload.len()
            ),
        });
    }
    Ok((record, check))
}

/// Appends `batch` as one request and returns its LSNs. A batch holding `commit` or
/// `ref_update` events is appended under the ref locks of every agent they name, once they
/// have been replayed on the graph as it then is: an event that would break the graph
/// (`format-spec/events.md`, section 7) is an [`InputError`] naming its line and field, and
/// nothing is appended. Its `session_start` and `session_end` events are replayed on the open
/// sessions: starting a session already started, or ending one that is not open, as another
/// agent, or before it started, is such an error too. It is a bulk append
/// ([`crate::journal::Journal::append_bulk`]): a large import leaves the active segment sealed.
pub fn append(recorder: &Recorder, batch: Batch) -> crate::Result<Range<u64>> {
    let has_sessions = batch.checked.iter().any(|checked| !checked.context);
    if batch.checked.is_empty() {
        return recorder.journal().append_bulk(batch.records);
    }
    let has_context = !batch.agents.is_empty();
    let _lock = match has_context {
        true => {
            let locks_dir = recorder.workspace().locks_dir();
            let agents = batch.agents.iter().map(String::as_str);
            Some(RefLock::agents(&locks_dir, agents, REF_LOCK_WAIT_MAX)?)
        }
        false => None,
    };
    let first_lsn = recorder.journal().refresh()? + 1;
    let context = match has_context {
        true => {
            let graph = recorder.load::<Graph>()?.state;
            let journal: HashMap<&str, Refs> = (batch.agents.iter())
                .map(|agent| (agent.as_str(), graph.refs(agent)))
                .collect();
            check_context(graph, &journal, first_lsn, batch.decoded(true))?
        }
        false => None,
    };
    let sessions = match has_sessions {
        true => {
            let sessions = recorder.load::<Sessions>()?.state;
            check_sessions(&sessions, batch.decoded(false))?
        }
        false => None,
    };
    // Both checks ran to their first bad line: the earlier of the two is the answer.
    let first_bad = [context, sessions].into_iter().flatten();
    if let Some(error) = first_bad.min_by_key(|error| error.line) {
        return Err(error.into());
    }
    recorder.journal().append_bulk(batch.records)
}

/// Replays the context events on `graph` in order; the first that it would reject is the
/// answer. `first_lsn` is the LSN the batch will start at.
fn check_context(
    mut graph: Graph,
    journal: &HashMap<&str, Refs>,
    first_lsn: u64,
    context: impl Iterator<Item = crate::Result<(Checked, Event)>>,
) -> crate::Result<Option<InputError>> {
    for decoded in context {
        let (checked, event) = decoded?;
        // Judged on the graph before the event; said only if the graph accepts the event,
        // whose own rejection (an unknown commit, say) is the more direct answer.
        let drops = drops_a_journal_branch(&graph, journal, &event);
        let lsn = first_lsn + checked.index as u64;
        let bad = match graph.try_apply(lsn, &event) {
            Err(rejection) => Some((rejection.field(), rejection.to_string())),
            Ok(()) => drops.map(|(field, message)| (Some(field), message)),
        };
        if let Some((field, message)) = bad {
            let line = checked.line;
            return Ok(Some(InputError {
                line,
                field,
                message,
            }));
        }
    }
    Ok(None)
}

/// A `ref_update` that deletes a branch the journal set, or moves it to a commit that does not
/// hold it, while no earlier line of the input moved it: the field and why. An export imported
/// into a workspace whose agent has refs of its own would otherwise drop them (its
/// `ref_update`s carry whole refs); `branch -d` and `reset` are the way to move such a branch.
fn drops_a_journal_branch(
    graph: &Graph,
    journal: &HashMap<&str, Refs>,
    event: &Event,
) -> Option<(String, String)> {
    if event.kind() == Some(EventType::Commit) {
        return leaves_a_journal_branch(graph, journal, event);
    }
    if event.kind() != Some(EventType::RefUpdate) {
        return None;
    }
    // A malformed ref_update is the graph check's to name.
    let moves = ref_update_moves(&event.data).ok()?;
    moves.into_iter().find_map(|(prefix, agent, after)| {
        let (before, now) = (journal.get(agent.as_str())?, graph.refs(&agent));
        let untouched = (before.branches.iter())
            .filter(|(name, at)| now.branches.get(*name) == Some(*at));
        let dropped = untouched.into_iter().find(|(name, at)| {
            (after.branches.get(*name)).is_none_or(|to| !graph.is_ancestor(at, to))
        })?;
        let (name, at) = dropped;
        let field = format!("data.{prefix}branches.{name}");
        let what = match after.branches.get(name) {
            None => "deletes",
            Some(_) => "moves back",
        };
        let message = format!(
            "{what} branch {name} of agent {agent}, which this input did not set (it is at {at} in the journal): an import does not drop refs it did not make; `agentrail branch -d` or `agentrail reset` moves them"
        );
        Some((field, message))
    })
}

/// A `commit` that moves HEAD's branch, which the journal set and no earlier line moved, to a
/// commit whose parents do not hold where the branch was (another workspace's root, say): the
/// field and why, as [`drops_a_journal_branch`] for a `ref_update`.
fn leaves_a_journal_branch(
    graph: &Graph,
    journal: &HashMap<&str, Refs>,
    event: &Event,
) -> Option<(String, String)> {
    let data = &event.data;
    let moves_head = data.get("move_head").and_then(serde_json::Value::as_bool) != Some(false);
    let parents = data.get("parents")?.as_array()?;
    let agent = agent_of(event);
    let (before, now) = (journal.get(agent)?, graph.refs(agent));
    let branch = now.branch()?;
    let at = before.branches.get(branch)?;
    let untouched = now.branches.get(branch) == Some(at);
    let parents: Vec<&str> = parents
        .iter()
        .filter_map(serde_json::Value::as_str)
        .collect();
    let kept = parents.iter().any(|parent| graph.is_ancestor(at, parent));
    if !moves_head || !untouched || kept {
        return None;
    }
    let message = format!(
        "moves branch {branch} of agent {agent} away from {at}, which this input did not set, onto a commit that does not hold it: an import does not drop commits it did not make"
    );
    Some(("data.parents".to_owned(), message))
}

/// Where a session stands during a check: started in the journal or on an earlier line, and
/// still open, with what an end is checked against.
#[derive(Clone)]
struct SessionState {
    open: bool,
    /// The line of the input that started it; `None` when the journal did.
    started_on: Option<usize>,
    /// The LSN of its start, when the journal holds it.
    start_lsn: u64,
    start_ts_micros: i64,
    /// The agent of its `session_start`: the default agent (`main`) when it named none, as
    /// everywhere an event's agent is read.
    agent: String,
}

impl SessionState {
    fn in_journal(sessions: &Sessions, id: &str) -> Option<SessionState> {
        sessions.get(id).map(|session| SessionState {
            open: session.is_open(),
            started_on: None,
            start_lsn: session.start_lsn,
            start_ts_micros: session.start_ts_micros,
            agent: session.agent.as_deref().unwrap_or(DEFAULT_AGENT).to_owned(),
        })
    }

    fn started(event: &Event, line: usize) -> SessionState {
        SessionState {
            open: true,
            started_on: Some(line),
            start_lsn: 0,
            start_ts_micros: event.ts_micros,
            agent: agent_of(event).to_owned(),
        }
    }

    /// `on line N` or `at LSN N`, for messages.
    fn where_started(&self) -> String {
        match self.started_on {
            Some(line) => format!("on line {line}"),
            None => format!("at LSN {}", self.start_lsn),
        }
    }
}

/// Replays the session starts and ends on `sessions` in input order; the first bad one is the
/// answer: a start of an id already started (open, or ended: the same session imported twice),
/// an end of a session that is not open, and an end by another agent than the one that started
/// the session (`agent`) or dated before its start (`ts`).
fn check_sessions(
    sessions: &Sessions,
    bounds: impl Iterator<Item = crate::Result<(Checked, Event)>>,
) -> crate::Result<Option<InputError>> {
    let mut states: HashMap<String, SessionState> = HashMap::new();
    for decoded in bounds {
        let (checked, event) = decoded?;
        let id = event.session.clone().unwrap_or_default();
        let state = (states.get(&id).cloned()).or_else(|| SessionState::in_journal(sessions, &id));
        let starts = event.kind() == Some(EventType::SessionStart);
        let bad = match (starts, state) {
            (true, Some(state)) => Err(start_error(&id, &state)),
            (true, None) => Ok(SessionState::started(&event, checked.line)),
            (false, state) => end_error(&id, state, &event),
        };
        match bad {
            Ok(state) => states.insert(id, state),
            Err((field, message)) => {
                let (line, field) = (checked.line, Some(field.to_owned()));
                return Ok(Some(InputError {
                    line,
                    field,
                    message,
                }));
            }
        };
    }
    Ok(None)
}

/// Why a `session_start` of a session already started is refused: the field and the message.
fn start_error(id: &str, state: &SessionState) -> (&'static str, String) {
    let message = match state.started_on {
        Some(line) => format!("session {id} was started on line {line} already"),
        None => format!(
            "session {id} was started already, at LSN {}: an id starts one session (the same input imported twice would start it again)",
            state.start_lsn
        ),
    };
    ("session", message)
}

/// The session after `event` ends it, or why it may not: it is not open, another agent ends it,
/// or the end is dated before the start.
fn end_error(
    id: &str,
    state: Option<SessionState>,
    event: &Event,
) -> Result<SessionState, (&'static str, String)> {
    let Some(state) = state.filter(|state| state.open) else {
        let message = format!(
            "session {id} is not open (never started, or already ended): this session_end would end nothing"
        );
        return Err(("session", message));
    };
    let (agent, started) = (agent_of(event), state.where_started());
    if agent != state.agent {
        let named = match &event.agent {
            Some(_) => format!("agent {agent}"),
            None => format!("no agent, so {DEFAULT_AGENT}"),
        };
        let message = format!(
            "names {named}, but session {id} was started by agent {} {started}: a session is ended by the agent that started it (one that named no agent is {DEFAULT_AGENT}'s)",
            state.agent
        );
        return Err(("agent", message));
    }
    if event.ts_micros < state.start_ts_micros {
        let message = format!(
            "{} is before session {id} started ({}, {started}): a session ends after it starts",
            format_ts(event.ts_micros),
            format_ts(state.start_ts_micros)
        );
        return Err(("ts", message));
    }
    Ok(SessionState {
        open: false,
        ..state
    })
}

/// The agents whose refs a context event may move: a commit's own, a `ref_update`'s `agent`
/// and those of its `also`.
fn agents_moved(event: &Event) -> Vec<String> {
    match event.kind() {
        Some(EventType::RefUpdate) => ref_update_moves(&event.data)
            .map(|moves| moves.into_iter().map(|(_, agent, _)| agent).collect())
            .unwrap_or_default(),
        _ => vec![agent_of(event).to_owned()],
    }
}

/// `text` cut at line ends into pieces of about `bytes`, each with the number of its first line.
fn split_at_lines(text: &str, bytes: usize) -> Vec<(usize, &str)> {
    let mut chunks = Vec::with_capacity(text.len() / bytes.max(1) + 1);
    let (mut start, mut line) = (0, 1);
    while start < text.len() {
        let mut end = (start + bytes.max(1)).min(text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        end = match text[end..].find('\n') {
            Some(offset) => end + offset + 1,
            None => text.len(),
        };
        let chunk = &text[start..end];
        chunks.push((line, chunk));
        line += chunk.matches('\n').count();
        start = end;
    }
    chunks
}

/// A reader cut at line ends into UTF-8 chunks of about `bytes` (longer when one line is),
/// each with the number of its first line.
struct LineChunks<R> {
    input: R,
    bytes: usize,
    /// Bytes read past the last line end handed out.
    carry: Vec<u8>,
    next_line: usize,
    /// The input is exhausted (and `carry` handed out).
    done: bool,
}

impl<R: Read> LineChunks<R> {
    fn new(input: R, bytes: usize) -> Self {
        LineChunks {
            input,
            bytes: bytes.max(1),
            carry: Vec::new(),
            next_line: 1,
            done: false,
        }
    }

    /// Reads until the buffer holds `bytes` and a line end, or the input ends; returns the
    /// bytes up to the last line end (all of them at the end of the input).
    fn fill(&mut self) -> std::io::Result<Vec<u8>> {
        let mut buffer = std::mem::take(&mut self.carry);
        // The carry holds no line end: only what is read after it needs searching.
        let mut searched = buffer.len();
        let mut target = self.bytes.max(buffer.len() + 1);
        loop {
            while buffer.len() < target {
                let start = buffer.len();
                buffer.resize(target, 0);
                let read = read_some(&mut self.input, &mut buffer[start..]);
                buffer.truncate(start + *read.as_ref().unwrap_or(&0));
                if read? == 0 {
                    self.done = true;
                    return Ok(buffer);
                }
            }
            if let Some(end) = buffer[searched..].iter().rposition(|&byte| byte == b'\n') {
                self.carry = buffer.split_off(searched + end + 1);
                return Ok(buffer);
            }
            searched = buffer.len();
            target = buffer.len() + self.bytes;
        }
    }
}

/// One `read`, retried when a signal interrupted it.
fn read_some(input: &mut impl Read, buffer: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match input.read(buffer) {
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

impl<R: Read> Iterator for LineChunks<R> {
    type Item = Result<(usize, String), ImportError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let bytes = match self.fill() {
            Ok(bytes) => bytes,
            Err(error) => {
                self.done = true;
                return Some(Err(error.into()));
            }
        };
        if bytes.is_empty() && self.done {
            return None;
        }
        let line = self.next_line;
        self.next_line += bytes.iter().filter(|&&byte| byte == b'\n').count();
        Some(
            String::from_utf8(bytes)
                .map(|text| (line, text))
                .map_err(|error| {
                    self.done = true;
                    let valid = &error.as_bytes()[..error.utf8_error().valid_up_to()];
                    ImportError::Input(InputError {
                        line: line + valid.iter().filter(|&&byte| byte == b'\n').count(),
                        field: None,
                        message: "not UTF-8 text".into(),
                    })
                }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::{encode_input_in_chunks, split_at_lines, ImportError, LineChunks};
    use crate::event::Event;
    use crate::redact::Redactor;

    fn action_lines(count: usize) -> Vec<String> {
        (0..count)
            .map(|index| format!(r#"{{"type":"action","data":{{"description":"step {index}"}}}}"#))
            .collect()
    }

    fn descriptions(records: &[crate::journal::NewRecord]) -> Vec<String> {
        records
            .iter()
            .map(|record| {
                let event = Event::decode(1, &record.payload).unwrap();
                event.text("description").unwrap().to_owned()
            })
            .collect()
    }

    /// Inputs of many small chunks, so every thread takes several.
    const SMALL_CHUNK_BYTES: usize = 4096;

    #[test]
    fn chunks_encoded_on_many_threads_keep_their_order() {
        let text = action_lines(20_000).join("\n");
        let records =
            encode_input_in_chunks(&Redactor::builtin(), text.as_bytes(), 0, SMALL_CHUNK_BYTES)
                .unwrap();
        let expected: Vec<String> = (0..20_000).map(|index| format!("step {index}")).collect();
        assert_eq!(descriptions(records.records()), expected);
    }

    #[test]
    fn the_first_bad_line_of_any_chunk_is_the_error() {
        let mut lines = action_lines(20_000);
        lines[12_344] = r#"{"type":"action","data":{}}"#.into();
        lines[18_000] = "not json".into();
        let text = lines.join("\n");
        let error =
            encode_input_in_chunks(&Redactor::builtin(), text.as_bytes(), 0, SMALL_CHUNK_BYTES)
                .unwrap_err();
        let ImportError::Input(error) = error else {
            panic!("expected an input error, got {error}")
        };
        assert_eq!(
            (error.line, error.field.as_deref()),
            (12_345, Some("data.description"))
        );
    }

    #[test]
    fn bytes_that_are_not_utf8_late_in_the_input_name_their_line() {
        let mut text = action_lines(5_000).join("\n").into_bytes();
        text.extend_from_slice(b"\n{\"type\":\"action\",\"data\":{\"description\":\"\xff\"}}\n");
        let error =
            encode_input_in_chunks(&Redactor::builtin(), text.as_slice(), 0, SMALL_CHUNK_BYTES)
                .unwrap_err();
        assert_eq!(error.to_string(), "line 5001: not UTF-8 text");
    }

    /// A reader that fails after `bytes` bytes.
    struct Failing<'a> {
        bytes: &'a [u8],
    }

    impl std::io::Read for Failing<'_> {
        fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
            if self.bytes.is_empty() {
                return Err(std::io::Error::other("the disk went away"));
            }
            let count = buffer.len().min(self.bytes.len());
            buffer[..count].copy_from_slice(&self.bytes[..count]);
            self.bytes = &self.bytes[count..];
            Ok(count)
        }
    }

    #[test]
    fn a_read_error_is_the_answer_and_not_a_partial_import() {
        let text = action_lines(5_000).join("\n");
        let input = Failing {
            bytes: text.as_bytes(),
        };
        let error =
            encode_input_in_chunks(&Redactor::builtin(), input, 0, SMALL_CHUNK_BYTES).unwrap_err();
        assert!(matches!(error, ImportError::Read(_)), "{error}");
    }

    #[test]
    fn chunks_end_at_line_ends_and_know_their_first_line() {
        let text = "a\nbb\nccc\ndddd\né\n\nf";
        for bytes in 1..text.len() + 2 {
            let chunks = split_at_lines(text, bytes);
            let joined: String = chunks.iter().map(|(_, chunk)| *chunk).collect();
            assert_eq!(joined, text);
            for (line, chunk) in chunks {
                let expected = text.lines().nth(line - 1).unwrap();
                assert_eq!(chunk.lines().next().unwrap(), expected);
            }
        }
    }

    /// A reader that returns at most `step` bytes per call, as pipes do.
    struct Trickle<'a> {
        bytes: &'a [u8],
        step: usize,
    }

    impl std::io::Read for Trickle<'_> {
        fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
            let count = self.step.min(buffer.len()).min(self.bytes.len());
            buffer[..count].copy_from_slice(&self.bytes[..count]);
            self.bytes = &self.bytes[count..];
            Ok(count)
        }
    }

    #[test]
    fn a_reader_is_cut_like_a_string_however_it_delivers_its_bytes() {
        let text = "a\nbb\nccc\ndddd\né\n\nf";
        for bytes in 1..text.len() + 2 {
            for step in [1, 2, 3, 7, 100] {
                let reader = Trickle {
                    bytes: text.as_bytes(),
                    step,
                };
                let chunks: Vec<(usize, String)> = LineChunks::new(reader, bytes)
                    .collect::<Result<_, _>>()
                    .unwrap();
                let joined: String = chunks.iter().map(|(_, chunk)| chunk.as_str()).collect();
                assert_eq!(joined, text, "bytes {bytes}, step {step}");
                for (line, chunk) in &chunks {
                    assert!(chunk.ends_with('\n') || chunk.ends_with('f'));
                    let expected = text.lines().nth(line - 1).unwrap();
                    assert_eq!(chunk.lines().next().unwrap(), expected);
                }
            }
        }
    }

    #[test]
    fn bytes_that_are_not_utf8_name_their_line() {
        let mut bytes = b"{\"a\":1}\n{\"b\":2}\n".to_vec();
        bytes.extend_from_slice(b"{\"c\":\"\xff\"}\n");
        for chunk_bytes in [1, 4, 1024] {
            let error = LineChunks::new(bytes.as_slice(), chunk_bytes)
                .collect::<Result<Vec<_>, _>>()
                .unwrap_err();
            assert_eq!(error.to_string(), "line 3: not UTF-8 text");
        }
    }
}
