//! Projections: views of the journal rebuilt from its events, such as the list of sessions or
//! the token totals. A [`Projection`] is a state and a rule to apply one event to it; the
//! [`Projector`] feeds it the journal and keeps a checkpoint of its state per projection, so a
//! load replays only the events appended since. The journal is the truth and a checkpoint only
//! a cache: one that is missing, stale, damaged or of another journal is never trusted, and the
//! projection is rebuilt from LSN 1 (`format-spec/projections.md`).
//!
//! Architecture invariant: a projection's state depends only on the events, in LSN order, so
//! loading from a checkpoint and replaying the rest equals replaying everything.

pub mod active;
pub mod checkpoint;
mod fields;
pub mod sessions;
pub mod stats;
pub mod tokens;

pub use active::{Active, ActiveSession};
pub use sessions::{SessionInfo, SessionStatus, Sessions};
pub use stats::Stats;
pub use tokens::{SessionTokens, TokenTotals, Tokens, NO_KEY};

use crate::error::{Error, Result};
use crate::event::{decode_record_ref, EventRef};
use crate::journal::{Journal, Reader, Record};
use checkpoint::{CheckpointFile, Tie, Unusable, CHECKPOINT_EXTENSION, CHECKPOINT_STATE_BYTES_MAX};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A view of the journal: a state and how one event changes it.
///
/// `apply` gets the event borrowed from its record: it reads the fields it needs and copies
/// only what it keeps (see [`EventRef`]). It must depend only on the state, the LSN and the
/// event, and must accept any event: types it does not use, fields missing or of the wrong
/// type. The state is checkpointed with postcard, which is not self-describing: any change to
/// the state's layout or meaning must bump `VERSION`, which makes older checkpoints stale and
/// rebuilt.
pub trait Projection: Default + Serialize + DeserializeOwned {
    /// The checkpoint's file name stem: 1 to 64 bytes of `a-z`, `0-9`, `_` and `-`.
    const NAME: &'static str;
    /// The version of the state's layout and meaning.
    const VERSION: u32;
    fn apply(&mut self, lsn: u64, event: &EventRef<'_>);
}

/// How [`Projector::load`] found a projection's checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointStatus {
    /// Valid and tied to this journal: only newer events were replayed.
    Current,
    /// There was no checkpoint.
    Missing,
    /// Written for another `VERSION` of the projection or another checkpoint layout.
    Stale,
    /// It failed a check (checksum, length, decoding); the text says which.
    Damaged(String),
    /// Valid, but of another journal: the journal is shorter than the LSN the checkpoint
    /// covers, or holds another record at that LSN (cut by `repair`, or re-created).
    Mismatch,
}

impl From<Unusable> for CheckpointStatus {
    fn from(unusable: Unusable) -> CheckpointStatus {
        match unusable {
            Unusable::Stale => CheckpointStatus::Stale,
            Unusable::Damaged(reason) => CheckpointStatus::Damaged(reason),
        }
    }
}

/// A projection brought up to date with the journal.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded<P> {
    pub state: P,
    /// The last LSN the state covers (0 for an empty journal).
    pub lsn: u64,
    /// Records read past the checkpoint (events, and records of kinds this version skips).
    pub replayed: u64,
    pub checkpoint: CheckpointStatus,
}

/// What [`Projector::rebuild`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct RebuildReport {
    /// Events replayed into every built-in projection.
    pub events: u64,
    /// Records read, including those of kinds this version skips.
    pub records: u64,
    pub elapsed: Duration,
    pub events_per_second: f64,
}

/// Loads projections from the journal, keeping their checkpoints in one directory.
#[derive(Debug, Clone)]
pub struct Projector {
    dir: PathBuf,
}

/// The object-safe face of a projection, so that [`Projector::rebuild`] feeds a list of them in
/// one pass over the journal.
trait AnyProjection {
    fn apply_event(&mut self, lsn: u64, event: &EventRef<'_>);
    fn save_checkpoint(&self, projector: &Projector, tie: &Tie) -> Result<()>;
}

impl<P: Projection> AnyProjection for P {
    fn apply_event(&mut self, lsn: u64, event: &EventRef<'_>) {
        self.apply(lsn, event);
    }

    fn save_checkpoint(&self, projector: &Projector, tie: &Tie) -> Result<()> {
        projector.save(P::NAME, P::VERSION, self, tie)
    }
}

/// Fresh states of the built-in projections: what [`Projector::rebuild`] replays into. A new
/// built-in projection is one more line here.
fn built_in() -> Vec<Box<dyn AnyProjection>> {
    vec![
        Box::<Sessions>::default(),
        Box::<Active>::default(),
        Box::<Tokens>::default(),
        Box::<SessionTokens>::default(),
        Box::<Stats>::default(),
        Box::<crate::context::Graph>::default(),
    ]
}

/// A load that replayed records past a Current checkpoint saves a new one only once their
/// payloads hold at least 1/`CHECKPOINT_LAG_DIVISOR` of the checkpoint file's bytes. Replaying
/// a record costs about what encoding and writing its bytes' worth of state does, so a load
/// replays at most a 32nd of a save's work more than it would right after one, while the saves
/// are one per that many records instead of one per command: a 10 MB graph checkpoint of
/// 100,000 commits is saved about once per 750 commits rather than after every commit.
pub const CHECKPOINT_LAG_DIVISOR: u64 = 32;

/// What one pass over records found.
#[derive(Default)]
struct Replayed {
    records: u64,
    events: u64,
    /// The sum of the records' payload lengths.
    payload_bytes: u64,
    last: Option<Record>,
}

/// Decodes every record of `reader` in place and hands each event to `apply`.
fn replay(reader: Reader, mut apply: impl FnMut(u64, &EventRef<'_>)) -> Result<Replayed> {
    let mut replayed = Replayed::default();
    for record in reader {
        let record = record?;
        if let Some(event) = decode_record_ref(&record)? {
            apply(record.lsn, &event);
            replayed.events += 1;
        }
        replayed.records += 1;
        replayed.payload_bytes += record.payload.len() as u64;
        replayed.last = Some(record);
    }
    Ok(replayed)
}

/// A reader of the records after the checkpoint's, if the journal holds the very record the
/// checkpoint is tied to; `None` if it does not.
fn tied_reader(journal: &Journal, tie: &Tie) -> Result<Option<Reader>> {
    if tie.lsn == 0 {
        return journal.read_from(1).map(Some);
    }
    if journal.last_lsn() < tie.lsn {
        return Ok(None);
    }
    let mut reader = journal.read_from(tie.lsn)?;
    match reader.next() {
        Some(record) => Ok((Tie::of(&record?) == *tie).then_some(reader)),
        None => Ok(None),
    }
}

/// A checkpoint's state and tie, if its bytes hold a valid state of `P`.
fn decode_state<P: Projection>(bytes: &[u8]) -> Result<(P, Tie), CheckpointStatus> {
    let file = CheckpointFile::decode(bytes)?;
    if file.name != P::NAME {
        let reason = format!("it holds projection \"{}\"", file.name);
        return Err(CheckpointStatus::Damaged(reason));
    }
    if file.projection_version != P::VERSION {
        return Err(CheckpointStatus::Stale);
    }
    match postcard::take_from_bytes::<P>(file.state) {
        Ok((state, [])) => Ok((state, file.tie)),
        Ok((_, rest)) => Err(CheckpointStatus::Damaged(format!(
            "{} bytes follow the state",
            rest.len()
        ))),
        Err(error) => Err(CheckpointStatus::Damaged(format!(
            "the state does not decode: {error}"
        ))),
    }
}

impl Projector {
    /// A projector keeping checkpoints in `checkpoint_dir`, created when first needed.
    pub fn new(checkpoint_dir: impl Into<PathBuf>) -> Projector {
        Projector {
            dir: checkpoint_dir.into(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The checkpoint file of the projection named `name`.
    pub fn checkpoint_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.{CHECKPOINT_EXTENSION}"))
    }

    /// Loads P's checkpoint, checks it against the journal, replays only the newer events, and
    /// saves a new checkpoint when the records it replayed are worth it (see
    /// [`CHECKPOINT_LAG_DIVISOR`]). Missing, stale (VERSION), damaged (checksum, truncated,
    /// undecodable), or not-matching-this-journal checkpoints are rebuilt from LSN 1, never
    /// trusted, and replaced.
    pub fn load<P: Projection>(&self, journal: &Journal) -> Result<Loaded<P>> {
        let (mut state, tie, reader, checkpoint, checkpoint_bytes) =
            match self.resume::<P>(journal)? {
                Ok((state, tie, reader, bytes)) => {
                    (state, tie, reader, CheckpointStatus::Current, bytes)
                }
                Err(status) => (
                    P::default(),
                    Tie::default(),
                    journal.read_from(1)?,
                    status,
                    0,
                ),
            };
        let replayed = replay(reader, |lsn, event| state.apply(lsn, event))?;
        let tie = replayed.last.as_ref().map_or(tie, Tie::of);
        let lag_bytes = replayed
            .payload_bytes
            .saturating_mul(CHECKPOINT_LAG_DIVISOR);
        if replayed.records > 0 && lag_bytes >= checkpoint_bytes
            || checkpoint != CheckpointStatus::Current
        {
            self.save(P::NAME, P::VERSION, &state, &tie)?;
        }
        Ok(Loaded {
            state,
            lsn: tie.lsn,
            replayed: replayed.records,
            checkpoint,
        })
    }

    /// Drops every checkpoint, replays the journal from LSN 1 once feeding all built-in
    /// projections, and saves their checkpoints.
    pub fn rebuild(&self, journal: &Journal) -> Result<RebuildReport> {
        let started = Instant::now();
        self.drop_checkpoints()?;
        let mut projections = built_in();
        let replayed = replay(journal.read_from(1)?, |lsn, event| {
            for projection in projections.iter_mut() {
                projection.apply_event(lsn, event);
            }
        })?;
        let tie = replayed.last.as_ref().map_or_else(Tie::default, Tie::of);
        for projection in &projections {
            projection.save_checkpoint(self, &tie)?;
        }
        let elapsed = started.elapsed();
        let seconds = elapsed.as_secs_f64();
        Ok(RebuildReport {
            events: replayed.events,
            records: replayed.records,
            elapsed,
            events_per_second: if seconds > 0.0 {
                replayed.events as f64 / seconds
            } else {
                0.0
            },
        })
    }

    /// Removes every checkpoint file (and any temporary one a writer left) from the checkpoint
    /// directory, and returns how many checkpoints there were. Other files are left alone.
    pub fn drop_checkpoints(&self) -> Result<usize> {
        let io = |error| Error::io(format!("listing {}", self.dir.display()), error);
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(error) => return Err(io(error)),
        };
        let mut dropped = 0;
        for entry in entries {
            let path = entry.map_err(io)?.path();
            let Some(name) = path.file_name().and_then(|name| name.to_str()) else {
                continue;
            };
            if !checkpoint::is_checkpoint_file(name) {
                continue;
            }
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
                Err(error) => return Err(Error::io(format!("removing {}", path.display()), error)),
            }
            if !name.ends_with(checkpoint::CHECKPOINT_TEMP_SUFFIX) {
                dropped += 1;
            }
        }
        Ok(dropped)
    }

    /// P's checkpointed state and a reader of the records after it, or why there is none.
    fn resume<P: Projection>(
        &self,
        journal: &Journal,
    ) -> Result<Result<(P, Tie, Reader, u64), CheckpointStatus>> {
        let path = self.checkpoint_path(P::NAME);
        let bytes = match checkpoint::read(&path)? {
            None => return Ok(Err(CheckpointStatus::Missing)),
            Some(Err(reason)) => return Ok(Err(CheckpointStatus::Damaged(reason))),
            Some(Ok(bytes)) => bytes,
        };
        let (state, tie) = match decode_state::<P>(&bytes) {
            Ok(found) => found,
            Err(status) => return Ok(Err(status)),
        };
        Ok(tied_reader(journal, &tie)?
            .map(|reader| (state, tie, reader, bytes.len() as u64))
            .ok_or(CheckpointStatus::Mismatch))
    }

    fn save<S: Serialize>(
        &self,
        name: &'static str,
        version: u32,
        state: &S,
        tie: &Tie,
    ) -> Result<()> {
        if !checkpoint::is_valid_name(name) {
            let reason = "its NAME must be 1 to 64 bytes of a-z, 0-9, _ and -".into();
            return Err(Error::Projection { name, reason });
        }
        let encoded = postcard::to_stdvec(state).map_err(|error| Error::Projection {
            name,
            reason: format!("its state does not encode: {error}"),
        })?;
        if encoded.len() as u64 > CHECKPOINT_STATE_BYTES_MAX {
            return Err(Error::Limit {
                what: "projection state in bytes",
                value: encoded.len() as u64,
                bound: format!("at most {CHECKPOINT_STATE_BYTES_MAX}"),
            });
        }
        let file = CheckpointFile {
            name,
            projection_version: version,
            tie: *tie,
            state: &encoded,
        };
        std::fs::create_dir_all(&self.dir)
            .map_err(|error| Error::io(format!("creating {}", self.dir.display()), error))?;
        checkpoint::write(&self.checkpoint_path(name), &file.encode())
    }
}
