//! A property test of the journal against the simplest model there is, a `Vec` of records.
//!
//! Random sequences of operations (append, append a batch, reopen, read from any LSN, read
//! everything, force a segment roll) run on a journal with a small segment size and a small
//! checkpoint interval, chosen per case, so that every case crosses sealed segments, blocks and
//! checkpoints. After each operation the journal must say what the model says; after each
//! reopen, recovery must find no torn tail and `verify` no problem. Most cases run on the
//! simulated file system, which is fast; a few run on the real one. `PROPTEST_CASES` raises the
//! number of cases for a deeper run.

use agentrail::journal::format::FRAME_FLAG_MUST_UNDERSTAND;
use agentrail::journal::sim::SimFs;
use agentrail::journal::vfs::{StdFs, Vfs};
use agentrail::journal::{
    verify, Durability, Journal, NewRecord, Options, Record, CHECKPOINT_INTERVAL_BYTES_DEFAULT,
    KIND_EVENT, SEGMENT_BYTES_MIN,
};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Cases per property unless `PROPTEST_CASES` says otherwise.
const SIM_CASES_DEFAULT: u32 = 256;
const REAL_FS_CASES_DEFAULT: u32 = 24;
const SINGLE_PAYLOAD_BYTES_MAX: usize = 5000;
const BATCH_PAYLOAD_BYTES_MAX: usize = 600;
const BATCH_RECORDS_MAX: usize = 20;
const SEGMENT_BYTES_MAX_IN_TEST: u64 = 64 * 1024;

fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// A record as generated: its payload is derived from `len` and `seed`, so that shrinking a
/// failing case shrinks payload sizes rather than thousands of bytes one by one.
#[derive(Debug, Clone)]
struct RecordSpec {
    kind: u16,
    flags: u16,
    len: usize,
    seed: u64,
}

impl RecordSpec {
    /// Odd seeds give incompressible bytes, even ones a short repeating pattern, so that sealed
    /// blocks see both.
    fn to_record(&self) -> NewRecord {
        let mut state = self.seed;
        let payload = if self.seed % 2 == 1 {
            (0..self.len).map(|_| splitmix(&mut state) as u8).collect()
        } else {
            let pattern = splitmix(&mut state).to_le_bytes();
            (0..self.len).map(|index| pattern[index % 3]).collect()
        };
        NewRecord {
            kind: self.kind,
            flags: self.flags,
            payload,
        }
    }
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[derive(Debug, Clone)]
enum Op {
    Append(RecordSpec),
    AppendBatch(Vec<RecordSpec>),
    /// Drops the journal and opens it again, possibly with another segment size.
    Reopen {
        segment_bytes: Option<u64>,
    },
    /// Reads from `lsn_seed % (records + 3)`: before, inside and just past the log.
    ReadFrom {
        lsn_seed: u64,
    },
    ReadAll,
    /// Appends a batch big enough to fill the active segment, in `pieces` records.
    Roll {
        pieces: usize,
    },
}

#[derive(Debug, Clone)]
struct Setup {
    segment_bytes: u64,
    checkpoint_interval_bytes: u64,
    durability: Durability,
}

fn record_spec(len_max: usize) -> impl Strategy<Value = RecordSpec> {
    let kind = prop_oneof![4 => Just(KIND_EVENT), 1 => 2..=u16::MAX];
    let flags = prop_oneof![3 => Just(0), 1 => Just(FRAME_FLAG_MUST_UNDERSTAND)];
    let len = prop_oneof![3 => 0..64usize, 2 => 0..=len_max];
    (kind, flags, len, any::<u64>()).prop_map(|(kind, flags, len, seed)| RecordSpec {
        kind,
        flags,
        len,
        seed,
    })
}

fn segment_bytes() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(SEGMENT_BYTES_MIN),
        SEGMENT_BYTES_MIN..=SEGMENT_BYTES_MAX_IN_TEST
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => record_spec(SINGLE_PAYLOAD_BYTES_MAX).prop_map(Op::Append),
        3 => prop::collection::vec(record_spec(BATCH_PAYLOAD_BYTES_MAX), 0..=BATCH_RECORDS_MAX)
            .prop_map(Op::AppendBatch),
        2 => prop::option::weighted(0.3, segment_bytes())
            .prop_map(|segment_bytes| Op::Reopen { segment_bytes }),
        3 => any::<u64>().prop_map(|lsn_seed| Op::ReadFrom { lsn_seed }),
        1 => Just(Op::ReadAll),
        1 => (1..=4usize).prop_map(|pieces| Op::Roll { pieces }),
    ]
}

fn setup() -> impl Strategy<Value = Setup> {
    let checkpoint_interval_bytes = prop_oneof![
        Just(1u64),
        1..=16 * 1024u64,
        Just(CHECKPOINT_INTERVAL_BYTES_DEFAULT)
    ];
    let durability = prop_oneof![
        Just(Durability::Always),
        Just(Durability::Batch),
        Just(Durability::Never)
    ];
    (segment_bytes(), checkpoint_interval_bytes, durability).prop_map(
        |(segment_bytes, checkpoint_interval_bytes, durability)| Setup {
            segment_bytes,
            checkpoint_interval_bytes,
            durability,
        },
    )
}

/// The journal under test next to its model.
struct Harness {
    vfs: Arc<dyn Vfs>,
    dir: PathBuf,
    options: Options,
    journal: Option<Journal>,
    model: Vec<NewRecord>,
}

impl Harness {
    fn new(vfs: Arc<dyn Vfs>, dir: &Path, setup: &Setup) -> Harness {
        let options = Options {
            segment_bytes: setup.segment_bytes,
            durability: setup.durability,
            checkpoint_interval_bytes: setup.checkpoint_interval_bytes,
            vfs: vfs.clone(),
            ..Options::default()
        };
        let journal = Journal::create(dir, options.clone()).expect("creating the journal");
        Harness {
            vfs,
            dir: dir.to_path_buf(),
            options,
            journal: Some(journal),
            model: Vec::new(),
        }
    }

    fn journal(&self) -> &Journal {
        self.journal
            .as_ref()
            .expect("the journal is open between operations")
    }

    fn run(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match op {
            Op::Append(spec) => self.append(vec![spec.to_record()])?,
            Op::AppendBatch(specs) => {
                self.append(specs.iter().map(RecordSpec::to_record).collect())?
            }
            Op::Reopen { segment_bytes } => self.reopen(*segment_bytes)?,
            Op::ReadFrom { lsn_seed } => {
                self.check_read_from(lsn_seed % (self.model.len() as u64 + 3))?
            }
            Op::ReadAll => self.check_read_from(1)?,
            Op::Roll { pieces } => self.roll(*pieces)?,
        }
        prop_assert_eq!(self.journal().last_lsn(), self.model.len() as u64);
        Ok(())
    }

    /// Appends through `append` for a lone record with no flags (it writes flags 0), through
    /// `append_batch` otherwise.
    fn append(&mut self, records: Vec<NewRecord>) -> Result<(), TestCaseError> {
        let first = self.model.len() as u64 + 1;
        let appended = match records.as_slice() {
            [record] if record.flags == 0 => self
                .journal()
                .append(record.kind, record.payload.clone())
                .map(|lsn| lsn..lsn + 1),
            _ => self.journal().append_batch(records.clone()),
        };
        let lsns = appended.map_err(|error| TestCaseError::fail(format!("append: {error}")))?;
        prop_assert_eq!(lsns, first..first + records.len() as u64);
        self.model.extend(records);
        Ok(())
    }

    fn segment_count(&self) -> usize {
        let names = self.vfs.list_dir(&self.dir).expect("listing the journal");
        names.iter().filter(|name| name.ends_with(".seg")).count()
    }

    fn roll(&mut self, pieces: usize) -> Result<(), TestCaseError> {
        let before = self.segment_count();
        let len = (self.options.segment_bytes as usize).div_ceil(pieces);
        let seed = self.model.len() as u64;
        let records = (0..pieces as u64)
            .map(|piece| {
                RecordSpec {
                    kind: KIND_EVENT,
                    flags: 0,
                    len,
                    seed: seed + piece,
                }
                .to_record()
            })
            .collect();
        self.append(records)?;
        prop_assert!(self.segment_count() > before, "no segment was rolled");
        Ok(())
    }

    fn reopen(&mut self, segment_bytes: Option<u64>) -> Result<(), TestCaseError> {
        self.journal = None;
        if let Some(segment_bytes) = segment_bytes {
            self.options.segment_bytes = segment_bytes;
        }
        let journal = Journal::open(&self.dir, self.options.clone())
            .map_err(|error| TestCaseError::fail(format!("reopening: {error}")))?;
        prop_assert_eq!(&journal.recovery_report().torn_tail, &None);
        self.journal = Some(journal);
        let report = verify(self.vfs.as_ref(), &self.dir)
            .map_err(|error| TestCaseError::fail(format!("verify: {error}")))?;
        prop_assert!(
            report.is_ok(),
            "verify found problems: {:?}",
            report.problems
        );
        prop_assert_eq!(&report.torn_tail, &None);
        prop_assert_eq!(report.records, self.model.len() as u64);
        prop_assert_eq!(report.last_good_lsn, self.model.len() as u64);
        Ok(())
    }

    fn check_read_from(&self, lsn: u64) -> Result<(), TestCaseError> {
        let records: Vec<Record> = self
            .journal()
            .read_from(lsn)
            .and_then(|reader| reader.collect())
            .map_err(|error| TestCaseError::fail(format!("read_from({lsn}): {error}")))?;
        let start = (lsn.max(1) - 1) as usize;
        let expected = self.model.get(start..).unwrap_or(&[]);
        prop_assert_eq!(records.len(), expected.len(), "read_from({}) count", lsn);
        for (offset, (record, model)) in records.iter().zip(expected).enumerate() {
            prop_assert_eq!(record.lsn, (start + offset + 1) as u64);
            prop_assert_eq!((record.kind, record.flags), (model.kind, model.flags));
            prop_assert!(
                record.payload == model.payload,
                "payload of LSN {} differs",
                record.lsn
            );
        }
        Ok(())
    }

    /// The last word: a final reopen, verify and full read.
    fn finish(&mut self) -> Result<(), TestCaseError> {
        self.reopen(None)?;
        self.check_read_from(1)
    }
}

fn run_case(vfs: Arc<dyn Vfs>, dir: &Path, setup: &Setup, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut harness = Harness::new(vfs, dir, setup);
    for op in ops {
        harness.run(op)?;
    }
    harness.finish()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(SIM_CASES_DEFAULT)))]

    #[test]
    fn journal_matches_a_vec_on_the_simulated_fs(
        setup in setup(),
        ops in prop::collection::vec(op(), 1..64),
    ) {
        let fs = SimFs::new();
        run_case(Arc::new(fs.clone()), Path::new("/agentrail/journal"), &setup, &ops)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(REAL_FS_CASES_DEFAULT)))]

    #[test]
    fn journal_matches_a_vec_on_the_real_fs(
        setup in setup(),
        ops in prop::collection::vec(op(), 1..32),
    ) {
        let temp = tempfile::tempdir().expect("making a temporary directory");
        run_case(Arc::new(StdFs), &temp.path().join("journal"), &setup, &ops)?;
    }
}
