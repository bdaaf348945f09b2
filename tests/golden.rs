//! Backward compatibility: the golden journals in `tests/golden/`, one per released format
//! version, made once and never regenerated, must be read by every later agentrail exactly as
//! they were read when they were made. For each: the files are the ones made, the export
//! equals `tests/golden/<version>.jsonl` byte for byte, verify passes, reads may start at any
//! LSN, and the journal takes new appends. See `tests/golden/README.md`.

mod common;

use agentrail::event::{decode_record, tombstone_of, Decoded, Event};
use agentrail::journal::{Durability, Journal, NewRecord, KIND_EVENT};
use agentrail::workspace::Workspace;
use common::copy_dir;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_agentrail");

/// One golden journal: where it is and what it holds.
struct Golden {
    /// `v1`, `v2`: the workspace's directory and, with `.jsonl`, its export.
    version: &'static str,
    /// Every committed file with its size and CRC-32, as made. A golden journal is never
    /// regenerated: if a check fails, restore the files from git instead of updating the table.
    files: &'static [(&'static str, u64, u32)],
    /// Lines of the export: one per event, tombstones included.
    events: usize,
    /// LSNs of the records of unknown, skippable kinds (0x8000 and up are reserved for
    /// extensions), which readers pass over.
    skipped: &'static [u64],
}

impl Golden {
    fn dir(&self) -> PathBuf {
        golden_dir().join(self.version)
    }

    fn last_lsn(&self) -> u64 {
        (self.events + self.skipped.len()) as u64
    }

    fn expected_export(&self) -> String {
        std::fs::read_to_string(golden_dir().join(format!("{}.jsonl", self.version))).unwrap()
    }

    /// The lines of the expected export from `lsn` on.
    fn expected_from(&self, lsn: u64) -> String {
        self.expected_export()
            .lines()
            .filter(|line| line_lsn(line) >= lsn)
            .map(|line| format!("{line}\n"))
            .collect()
    }
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn line_lsn(line: &str) -> u64 {
    serde_json::from_str::<Value>(line).unwrap()["lsn"]
        .as_u64()
        .unwrap()
}

/// A copy of a golden workspace as `.agentrail` in a temporary directory, so that nothing a
/// test does (recovery, appends, rebuilt projections) can touch the committed files.
struct GoldenCopy {
    temp: tempfile::TempDir,
}

impl GoldenCopy {
    fn new(golden: &Golden) -> GoldenCopy {
        let temp = tempfile::tempdir().unwrap();
        copy_dir(&golden.dir(), &temp.path().join(".agentrail"));
        GoldenCopy { temp }
    }

    fn root(&self) -> PathBuf {
        self.temp.path().join(".agentrail")
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut command = Command::new(BIN);
        command.args(args).current_dir(self.temp.path());
        for variable in [
            "AGENTRAIL_DIR",
            "AGENTRAIL_SYNC",
            "AGENTRAIL_SESSION",
            "AGENTRAIL_AGENT",
            "AGENTRAIL",
        ] {
            command.env_remove(variable);
        }
        command.output().unwrap()
    }

    /// Runs `args`, which must succeed; its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "{args:?}: {}{}",
            text(&output.stdout),
            text(&output.stderr)
        );
        text(&output.stdout)
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// The golden journal of format version 1, made on 2026-11-23: 600 events over three sealed
/// segments and an active one, and one extension record.
const V1: Golden = Golden {
    version: "v1",
    files: &[
        ("v1/config.json", 52, 0xe09f_44a3),
        ("v1/journal/00000000000000000001.seg", 7156, 0x08d8_1de7),
        ("v1/journal/00000000000000000206.seg", 6734, 0x07d0_d129),
        ("v1/journal/00000000000000000397.seg", 6539, 0x30f2_8f04),
        ("v1/journal/00000000000000000580.seg", 10120, 0x76d1_e5b9),
        ("v1/journal/LOCK", 0, 0),
        ("v1/journal/checkpoint", 56, 0x2144_df1c),
        ("v1.jsonl", 247_938, 0x27e4_6f05),
    ],
    events: 600,
    skipped: &[301],
};

// ---- What every golden journal must pass ----

fn assert_files_are_the_ones_made(golden: &Golden) {
    for &(path, size, crc) in golden.files {
        let bytes = std::fs::read(golden_dir().join(path)).unwrap();
        assert_eq!(bytes.len() as u64, size, "{path} changed size");
        assert_eq!(crc32fast::hash(&bytes), crc, "{path} changed");
    }
    let prefix = format!("{}/", golden.version);
    let mut listed: Vec<&str> = golden
        .files
        .iter()
        .filter_map(|(path, _, _)| path.strip_prefix(prefix.as_str()))
        .collect();
    listed.sort_unstable();
    assert_eq!(
        files_under(&golden.dir()),
        listed,
        "files were added to or removed from {}",
        golden.version
    );
}

/// Every file under `dir`, as paths relative to it, sorted.
fn files_under(dir: &Path) -> Vec<String> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        if entry.file_type().unwrap().is_dir() {
            files.extend(
                files_under(&entry.path())
                    .into_iter()
                    .map(|inner| format!("{name}/{inner}")),
            );
        } else {
            files.push(name);
        }
    }
    files.sort_unstable();
    files
}

fn assert_export_is_the_expected_file(golden: &Golden) {
    let copy = GoldenCopy::new(golden);
    let output = copy.run(&["export"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let exported = text(&output.stdout);
    let expected = golden.expected_export();
    assert_eq!(exported.lines().count(), golden.events);
    if exported != expected {
        let first_difference = exported
            .lines()
            .zip(expected.lines())
            .position(|(got, want)| got != want);
        panic!(
            "the export of the {} golden journal changed; first different line: {first_difference:?}",
            golden.version
        );
    }
    let skipped = format!("skipped {} records", golden.skipped.len());
    assert!(
        text(&output.stderr).contains(&skipped),
        "the extension records must be skipped and said so: {}",
        text(&output.stderr)
    );
}

/// Runs `verify --json` on a copy, checks that it passed over sealed segments and an active
/// one, and returns the report.
fn assert_verify_passes(golden: &Golden) -> Value {
    let copy = GoldenCopy::new(golden);
    let report: Value = serde_json::from_str(&copy.ok(&["verify", "--json"])).unwrap();
    assert_eq!(report["ok"], true);
    assert_eq!(report["records"], golden.last_lsn());
    assert_eq!(report["last_good_lsn"], golden.last_lsn());
    assert_eq!(report["torn_tail"], Value::Null);
    let sealed: Vec<bool> = report["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|segment| segment["sealed"].as_bool().unwrap())
        .collect();
    assert!(sealed.len() >= 3, "{sealed:?}");
    assert!(sealed[..sealed.len() - 1].iter().all(|&sealed| sealed));
    assert!(!sealed[sealed.len() - 1], "the last segment is active");
    assert!(copy.root().join("journal/checkpoint").is_file());
    assert!(copy.ok(&["verify"]).starts_with("ok: "));
    report
}

/// Reads from `lsn` on through the library and renders each event as export does; returns
/// the lines and the LSNs of the records skipped.
fn export_from(journal: &Journal, lsn: u64) -> (String, Vec<u64>) {
    let mut lines = String::new();
    let mut skipped = Vec::new();
    for record in journal.read_from(lsn).unwrap() {
        let record = record.unwrap();
        match decode_record(&record).unwrap() {
            Decoded::Event(event) => {
                let json = match tombstone_of(&record) {
                    Some((info, _)) => event.to_tombstone_json(record.lsn, &info),
                    None => event.to_json(record.lsn),
                };
                lines += &serde_json::to_string(&json).unwrap();
                lines.push('\n');
            }
            Decoded::Skipped { kind } => {
                assert!(kind >= 0x8000, "LSN {} of kind {kind} skipped", record.lsn);
                skipped.push(record.lsn);
            }
        }
    }
    (lines, skipped)
}

/// The first LSN of each segment, in log order.
fn segment_starts(journal_dir: &Path) -> Vec<u64> {
    let mut starts: Vec<u64> = std::fs::read_dir(journal_dir)
        .unwrap()
        .filter_map(|entry| {
            let name = entry.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".seg")?.parse().ok()
        })
        .collect();
    starts.sort_unstable();
    starts
}

fn assert_reads_from_the_middle(golden: &Golden) {
    let copy = GoldenCopy::new(golden);
    let workspace = Workspace::open(&copy.root()).unwrap();
    let journal = workspace.open_journal(Durability::Always).unwrap();
    let last = golden.last_lsn();
    let mut starts = vec![1, 2, last / 2, last];
    for &skipped in golden.skipped {
        starts.extend([skipped, skipped + 1]);
    }
    for start in segment_starts(&copy.root().join("journal")) {
        starts.extend([start - 1, start, start + 1]);
    }
    starts.retain(|&lsn| (1..=last).contains(&lsn));
    for lsn in starts {
        let (lines, skipped) = export_from(&journal, lsn);
        assert_eq!(lines, golden.expected_from(lsn), "reading from LSN {lsn}");
        let expected_skipped: Vec<u64> = golden
            .skipped
            .iter()
            .copied()
            .filter(|&extension| extension >= lsn)
            .collect();
        assert_eq!(skipped, expected_skipped, "reading from LSN {lsn}");
    }
}

fn assert_takes_new_appends(golden: &Golden) {
    let copy = GoldenCopy::new(golden);
    let event = r#"{"ts":"2027-01-01T00:00:00.000000Z","type":"action","data":{"description":"after golden"}}"#;
    let next = golden.last_lsn() + 1;
    assert_eq!(copy.ok(&["append", "--event", event]), format!("{next}\n"));
    let expected = golden.expected_export()
        + &format!(
            "{{\"lsn\":{next},\"ts\":\"2027-01-01T00:00:00.000000Z\",\"type\":\"action\",\"data\":{{\"description\":\"after golden\"}}}}\n"
        );
    assert_eq!(copy.ok(&["export"]), expected);
    copy.ok(&["verify"]);
}

// ---- Format version 1 ----

#[test]
fn the_v1_golden_files_are_the_ones_made_for_v1() {
    assert_files_are_the_ones_made(&V1);
}

#[test]
fn export_of_the_v1_golden_journal_is_byte_for_byte_the_expected_file() {
    assert_export_is_the_expected_file(&V1);
}

#[test]
fn verify_passes_on_the_v1_golden_journal_which_has_sealed_and_active_segments() {
    assert_verify_passes(&V1);
}

#[test]
fn reading_the_v1_golden_journal_from_the_middle() {
    assert_reads_from_the_middle(&V1);
}

#[test]
fn the_v1_golden_journal_takes_new_appends() {
    assert_takes_new_appends(&V1);
}

// ---- How the v1 golden journal was made ----
//
// Kept so the bytes have a known origin; running it again makes a new journal elsewhere and
// must never replace tests/golden/v1 (see the README).

/// The record of an unknown, skippable kind that the v1 golden journal holds in place of an
/// event.
const GOLDEN_EXTENSION_KIND: u16 = 0x8001;
const GOLDEN_EXTENSION_LSN: u64 = 301;
const GOLDEN_EVENTS: usize = 600;

/// The `index`th event of the golden journal: a deterministic variety of shapes.
fn golden_event(index: usize) -> Value {
    let types = [
        "user_message",
        "assistant_message",
        "tool_call",
        "tool_result",
        "note",
        "error",
        "metric",
    ];
    let seconds = 1_772_366_400 + index as i64 * 97; // 2026-03-01T12:00:00Z on
    let micros = (index as i64 * 123_457) % 1_000_000;
    let mut ts = chrono::DateTime::from_timestamp(seconds, micros as u32 * 1000)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    match index % 53 {
        5 => ts = "1969-07-20T20:17:40.000001Z".into(),
        11 => ts = "0001-01-01T00:00:00Z".into(),
        17 => ts = "9999-12-31T23:59:59.999999Z".into(),
        23 => ts = "2026-03-01T17:30:00.5+05:30".into(),
        29 => ts = "2026-03-01T00:00:00-08:00".into(),
        _ => {}
    }
    let mut event =
        json!({"ts": ts, "type": types[index % types.len()], "data": golden_data(index)});
    if !index.is_multiple_of(3) {
        event["session"] = json!(format!("session-{}", index / 40));
    }
    if index % 4 == 1 {
        event["agent"] = json!(["planner", "coder", "критик", "審査員"][index / 4 % 4]);
    }
    event
}

fn golden_data(index: usize) -> Value {
    match index % 10 {
        0 => json!({
            "text": format!("Grüße, 世界! 🚀 héllo — שלום — Ω≈ç√ — e\u{301} — zero\u{200b}width #{index}"),
            "lang": "mixed",
        }),
        1 => {
            json!({"call": {"id": format!("call_{index}"), "tool": "bash", "args": {"cmd": "ls -la", "cwd": "/tmp", "env": {"A": "1", "B": ["x", {"y": null}]}}}})
        }
        2 => json!({
            "i64_min": i64::MIN, "i64_max": i64::MAX, "u64_max": u64::MAX, "minus_one": -1,
            "zero": 0, "negative": -(index as i64) * 1_000_003, "tenth": 0.1, "tiny": -2.5e-300,
            "huge": 1e300, "avogadro": 6.022_140_76e23, "negative_zero": -0.0, "half": 0.5,
            "pi": std::f64::consts::PI, "index": index,
        }),
        3 => json!({}),
        4 => {
            json!({"output": "line of tool output ".repeat(20 + index % 150), "truncated": index % 8 == 4})
        }
        5 => {
            json!({"mixed": [null, true, false, 1, -1, 1.5, "s", [], {}, [[[]]], {"a": {}}], "index": index})
        }
        6 => {
            json!({"zeta": 1, "alpha": 2, "": "empty key", "ключ": "значение", "🔑": "🗝", "Mid": index})
        }
        7 => {
            json!({"escapes": "nul \u{0} tab \t newline \n quote \" backslash \\ unit \u{1f} line-sep \u{2028}", "index": index})
        }
        8 => {
            json!({"tokens": {"input": index * 17, "output": index * 3}, "latency_ms": index as f64 * 1.25, "ok": index % 16 != 8})
        }
        _ => {
            let mut nested = json!({"leaf": index});
            for depth in 0..20 {
                nested = json!({ format!("level{depth}"): nested, "depth": depth });
            }
            nested
        }
    }
}

/// Makes a v1 golden journal in `$AGENTRAIL_GOLDEN_OUT` (a directory that must not exist) and
/// its export next to it as `<dir>.jsonl`. This is how tests/golden/v1 was made; see the
/// README before doing anything with the result.
#[test]
#[ignore = "makes a golden journal; run only when adding a new format version"]
fn make_golden_journal() {
    let out = PathBuf::from(
        std::env::var_os("AGENTRAIL_GOLDEN_OUT")
            .expect("set AGENTRAIL_GOLDEN_OUT to a directory that does not exist yet"),
    );
    let workspace = Workspace::init(&out, 65536).unwrap();
    let journal = workspace.open_journal(Durability::Always).unwrap();
    let events: Vec<Value> = (0..GOLDEN_EVENTS).map(golden_event).collect();
    // Batches of varied sizes; the one before the extension record ends right before it.
    let events_before_extension = GOLDEN_EXTENSION_LSN as usize - 1;
    let mut appended = 0;
    let mut batch_size = 1;
    while appended < events.len() {
        let limit = if appended < events_before_extension {
            events_before_extension
        } else {
            events.len()
        };
        let end = (appended + batch_size).min(limit);
        let records = events[appended..end]
            .iter()
            .enumerate()
            .map(|(offset, event)| {
                let line = appended + offset + 1;
                let parsed = Event::from_json_line(&event.to_string(), line, 0).unwrap();
                NewRecord::new(KIND_EVENT, parsed.encode())
            })
            .collect();
        journal.append_batch(records).unwrap();
        appended = end;
        if appended == events_before_extension {
            let extension = NewRecord::new(
                GOLDEN_EXTENSION_KIND,
                b"an extension record this version skips".to_vec(),
            );
            let lsns = journal.append_batch(vec![extension]).unwrap();
            assert_eq!(lsns.start, GOLDEN_EXTENSION_LSN);
        }
        batch_size = batch_size % 37 + 6;
    }
    journal.close();
    let export = out.with_extension("jsonl");
    let status = Command::new(BIN)
        .args(["export", "-o", export.to_str().unwrap()])
        .env("AGENTRAIL_DIR", &out)
        .status()
        .unwrap();
    assert!(status.success());
    // The export says what was appended, plus the LSN and with timestamps in UTC.
    let exported = std::fs::read_to_string(&export).unwrap();
    let lines: Vec<Value> = exported
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), events.len());
    for (line, event) in lines.iter().zip(&events) {
        for field in ["type", "session", "agent", "data"] {
            assert_eq!(line.get(field), event.get(field), "{line}");
        }
        let parse =
            |value: &Value| chrono::DateTime::parse_from_rfc3339(value.as_str().unwrap()).unwrap();
        assert_eq!(parse(&line["ts"]), parse(&event["ts"]));
    }
}
