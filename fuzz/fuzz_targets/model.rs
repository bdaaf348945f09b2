//! Model fuzz target: the journal against a `Vec` of records, through crashes.
//!
//! The input is a setup (segment size, durability mode, checkpoint interval) and then a
//! sequence of operations: append, append a batch, sync, reopen, read from an LSN, read
//! everything, arm a failing sync, and crash. A crash takes [`SimFs::crash_image`] (dropping,
//! keeping or tearing what was not synced) and reopens the journal on it: the recovered log
//! must be a prefix of what was appended that holds at least every record known durable (all
//! acknowledged ones in mode `always`, those before the last successful `sync` otherwise), and
//! `verify` must find nothing wrong. A failing sync (`SimFs::fail_at_sync`) stops the
//! simulated process: the append that met it and every later one must fail, and only a crash
//! brings the journal back.

#![no_main]

use agentrail::journal::format::FRAME_FLAG_MUST_UNDERSTAND;
use agentrail::journal::sim::{CrashMode, SimFs};
use agentrail::journal::{verify, Durability, Journal, NewRecord, Options, Record};
use libfuzzer_sys::fuzz_target;
use std::path::Path;
use std::sync::Arc;

#[path = "cursor.rs"]
mod cursor;
use cursor::Cursor;

const JOURNAL_DIR: &str = "/journal";
/// Operations run per input: enough for several rolls and crashes, few enough to stay fast.
const OPERATIONS_MAX: usize = 96;
const BATCH_RECORDS_MAX: usize = 20;
const PAYLOAD_BYTES_MAX: usize = 6000;

/// The model: every record that may be in the log, in LSN order, and how many of them are
/// known to be in it (acknowledged) and known to survive a crash (durable).
struct Model {
    records: Vec<NewRecord>,
    acknowledged: usize,
    durable: usize,
}

struct Harness {
    fs: SimFs,
    options: Options,
    journal: Option<Journal>,
    model: Model,
    /// Distinguishes payloads, so that a record in the wrong place is noticed.
    serial: u32,
}

fuzz_target!(|input: &[u8]| {
    let mut cursor = Cursor(input);
    let mut harness = Harness::new(&mut cursor);
    for _ in 0..OPERATIONS_MAX {
        if cursor.is_empty() {
            break;
        }
        harness.step(&mut cursor);
    }
    harness.crash(CrashMode::DropUnsynced);
});

fn dir() -> &'static Path {
    Path::new(JOURNAL_DIR)
}

impl Harness {
    fn new(cursor: &mut Cursor) -> Harness {
        let fs = SimFs::new();
        let durability = match cursor.byte() % 3 {
            0 => Durability::Always,
            1 => Durability::Batch,
            _ => Durability::Never,
        };
        let options = Options {
            segment_bytes: 4096 + u64::from(cursor.u16()),
            durability,
            checkpoint_interval_bytes: u64::from(cursor.byte()) * 256,
            vfs: Arc::new(fs.clone()),
            ..Options::default()
        };
        let journal = Journal::create(dir(), options.clone()).expect("a new journal opens");
        let model = Model {
            records: Vec::new(),
            acknowledged: 0,
            durable: 0,
        };
        Harness {
            fs,
            options,
            journal: Some(journal),
            model,
            serial: 0,
        }
    }

    fn step(&mut self, cursor: &mut Cursor) {
        match cursor.byte() % 10 {
            0..=2 => {
                let record = self.new_record(cursor);
                self.append(vec![record]);
            }
            3 => {
                let count = usize::from(cursor.byte()) % (BATCH_RECORDS_MAX + 1);
                let records = (0..count).map(|_| self.new_record(cursor)).collect();
                self.append(records);
            }
            4 => self.sync(),
            5 => self.reopen(),
            6 => self.read_from(u64::from(cursor.u16())),
            7 => self.read_from(1),
            8 => self.fs.fail_at_sync(u64::from(cursor.byte() % 8) + 1),
            _ => {
                let mode = match cursor.byte() % 3 {
                    0 => CrashMode::DropUnsynced,
                    1 => CrashMode::KeepUnsynced,
                    _ => CrashMode::TearUnsynced {
                        seed: u64::from(cursor.u16()),
                    },
                };
                self.crash(mode);
            }
        }
    }

    fn new_record(&mut self, cursor: &mut Cursor) -> NewRecord {
        let shape = cursor.byte();
        let len = usize::from(cursor.u16()) % (PAYLOAD_BYTES_MAX + 1);
        self.serial += 1;
        let serial = self.serial.to_le_bytes();
        let payload = (0..len)
            .map(|index| serial[index % 4] ^ (index / 4) as u8)
            .collect();
        NewRecord {
            kind: 1 + u16::from(shape >> 1),
            flags: u16::from(shape & 1) * FRAME_FLAG_MUST_UNDERSTAND,
            payload,
        }
    }

    fn append(&mut self, records: Vec<NewRecord>) {
        let Some(journal) = &self.journal else {
            return;
        };
        let failed_before = self.fs.has_failed();
        let count = records.len();
        let result = journal.append_batch(records.clone());
        // On failure the records may or may not be in the log; they stay in the model as
        // possible, and nothing after them can be acknowledged.
        self.model.records.extend(records);
        let Ok(lsns) = result else {
            return;
        };
        if count == 0 {
            // Nothing to write: this may succeed even after a failure.
            assert!(lsns.is_empty(), "an empty batch got LSNs {lsns:?}");
            return;
        }
        assert!(!failed_before, "an append succeeded after the process died");
        assert_eq!(
            self.model.records.len(),
            self.model.acknowledged + count,
            "an append succeeded after an earlier one failed"
        );
        let first = self.model.acknowledged as u64 + 1;
        assert_eq!(
            lsns,
            first..first + count as u64,
            "LSNs are not the next ones"
        );
        self.model.acknowledged += count;
        if self.options.durability == Durability::Always {
            self.model.durable = self.model.acknowledged;
        }
        assert_eq!(journal.last_lsn(), self.model.acknowledged as u64);
    }

    fn sync(&mut self) {
        let Some(journal) = &self.journal else {
            return;
        };
        if journal.sync().is_ok() && self.is_certain() {
            self.model.durable = self.model.acknowledged;
        }
    }

    /// True while nothing has failed: the log holds exactly the acknowledged records.
    fn is_certain(&self) -> bool {
        !self.fs.has_failed() && self.model.records.len() == self.model.acknowledged
    }

    /// Closes and reopens the journal; once the simulated process has died, opening may fail.
    fn reopen(&mut self) {
        self.journal = None;
        match Journal::open(dir(), self.options.clone()) {
            Ok(journal) => self.journal = Some(journal),
            Err(error) => {
                assert!(self.fs.has_failed(), "the journal does not reopen: {error}");
                return;
            }
        }
        if self.is_certain() {
            let journal = self.journal.as_ref().expect("just opened");
            assert!(
                journal.recovery_report().torn_tail.is_none(),
                "a clean close left a torn tail"
            );
            self.check_verify();
            self.read_from(1);
        }
    }

    fn check_verify(&self) {
        let report = verify(&self.fs, dir()).expect("verify runs");
        assert!(report.is_ok(), "verify: {:?}", report.problems);
        assert_eq!(report.last_good_lsn as usize, self.model.acknowledged);
    }

    fn read_from(&self, lsn: u64) {
        let Some(journal) = self.journal.as_ref().filter(|_| self.is_certain()) else {
            return;
        };
        let records: Vec<Record> = journal
            .read_from(lsn)
            .expect("a reader starts")
            .collect::<Result<_, _>>()
            .expect("every record reads");
        let start = (lsn.max(1) - 1) as usize;
        let expected = self
            .model
            .records
            .get(start..self.model.acknowledged)
            .unwrap_or(&[]);
        assert_eq!(records.len(), expected.len(), "read_from({lsn}) count");
        for (offset, (record, model)) in records.iter().zip(expected).enumerate() {
            assert_eq!(record.lsn, (start + offset + 1) as u64);
            assert_eq!((record.kind, record.flags), (model.kind, model.flags));
            assert!(
                record.payload == model.payload,
                "payload of LSN {}",
                record.lsn
            );
        }
    }

    /// Cuts the power: reopens on the crash image and checks the recovered log against the model.
    fn crash(&mut self, mode: CrashMode) {
        let image = self.fs.crash_image(mode);
        self.journal = None;
        self.fs = image;
        self.options.vfs = Arc::new(self.fs.clone());
        let journal = Journal::open(dir(), self.options.clone()).expect("the journal recovers");
        let recovered = journal.last_lsn() as usize;
        assert!(
            recovered >= self.model.durable,
            "a crash lost durable records: {recovered} recovered, {} durable",
            self.model.durable
        );
        assert!(
            recovered <= self.model.records.len(),
            "records appeared from nowhere"
        );
        self.model.records.truncate(recovered);
        self.model.acknowledged = recovered;
        self.model.durable = recovered;
        self.journal = Some(journal);
        self.check_verify();
        self.read_from(1);
    }
}
