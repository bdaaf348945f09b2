//! Backward compatibility: the golden journals in `tests/golden/`, one per released format
//! version, made once and never regenerated, must be read by every later agentrail exactly as
//! they were read when they were made. For each: the files are the ones made, the export
//! equals `tests/golden/<version>.jsonl` byte for byte, verify passes, reads may start at any
//! LSN, and the journal takes new appends. Version 2 adds tombstones in sealed segments, a
//! context graph that must rebuild to what it was, and a second gc and purge over them.
//! Version 3 adds event records of encoding version 2 (`v3`) and the `BATCH_CONTINUES` flag on
//! every record of an append request but its last (`v3-appends`). Version 4 adds the segment
//! list in the checkpoint, and a segment a bulk append sealed early (`v4`). See
//! `tests/golden/README.md`.

mod common;
#[path = "common/context_lib.rs"]
mod context_lib;

use agentrail::context::gc::{self, Policy};
use agentrail::context::{
    commit_id, Agent, CommitFields, CommitKind, CommitRequest, CompressInput, Conflict, Generated,
    Graph, Head, LlmUsage, MergeOutcome, ResetMode, Unrelated, DEFAULT_AGENT,
};
use agentrail::event::{decode_record, tombstone_of, Decoded, Event, EventType};
use agentrail::journal::format::FRAME_FLAG_TOMBSTONE;
use agentrail::journal::{Durability, Journal, NewRecord, KIND_EVENT};
use agentrail::recorder::Recorder;
use agentrail::workspace::Workspace;
use common::copy_dir;
use context_lib::contents_and_kinds;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
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
    /// SHA-256 of the files of the table (see [`files_digest`]): a file ending with a CRC-32
    /// of the bytes before it, like the recovery checkpoint, has the same CRC-32 (the CRC's
    /// residue, 0x2144df1c) whatever those bytes are, so CRC-32s alone would not notice a
    /// regenerated checkpoint.
    sha256: &'static str,
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

    fn recorder(&self) -> Recorder {
        Recorder::open(Workspace::open(&self.root()).unwrap(), Durability::Always).unwrap()
    }

    /// Runs `args`, which must succeed; its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        let stdout: String = text(&output.stdout).chars().take(500).collect();
        assert!(
            output.status.success(),
            "{args:?}: {stdout}{}",
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
    sha256: "ad5257e5c835715f811c75da4cf058dd3d8e5ea2e293623ae29b35a0815ac240",
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
    assert_eq!(
        files_digest(golden),
        golden.sha256,
        "{} changed",
        golden.version
    );
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

/// SHA-256 over the files of `golden`'s table in its order: each one's path, a zero byte, its
/// length (u64, little-endian) and its bytes.
fn files_digest(golden: &Golden) -> String {
    let mut hasher = Sha256::new();
    for (path, _, _) in golden.files {
        let bytes = std::fs::read(golden_dir().join(path)).unwrap();
        hasher.update(path.as_bytes());
        hasher.update([0]);
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(&bytes);
    }
    hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
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
    assert_eq!(exported.lines().count(), golden.events);
    let context = format!("the export of the {} golden journal", golden.version);
    assert_same_lines(&exported, &golden.expected_export(), &context);
    let skipped = format!("skipped {} records", golden.skipped.len());
    assert_eq!(
        text(&output.stderr).contains(&skipped),
        !golden.skipped.is_empty(),
        "the extension records must be skipped and said so, and only they: {}",
        text(&output.stderr)
    );
}

/// Asserts that `got` is `want` byte for byte; on a difference, names the first line that
/// differs instead of printing both texts whole.
fn assert_same_lines(got: &str, want: &str, context: &str) {
    if got == want {
        return;
    }
    let (got_lines, want_lines): (Vec<&str>, Vec<&str>) =
        (got.split('\n').collect(), want.split('\n').collect());
    let index = (0..got_lines.len().max(want_lines.len()))
        .find(|&index| got_lines.get(index) != want_lines.get(index))
        .unwrap_or(0);
    let shorten = |line: Option<&&str>| -> String {
        line.map_or("(none)".into(), |line| line.chars().take(300).collect())
    };
    panic!(
        "{context} differs at line {}:\n got: {}\nwant: {}",
        index + 1,
        shorten(got_lines.get(index)),
        shorten(want_lines.get(index))
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
        let context = format!("reading from LSN {lsn}");
        assert_same_lines(&lines, &golden.expected_from(lsn), &context);
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
    assert_same_lines(&copy.ok(&["export"]), &expected, "export after an append");
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

// ---- Format version 2 ----

/// The golden journal of format version 2, made on 2026-11-23: four sessions of a main agent,
/// a planner and the researcher it spawned (events of every type, one of a type this version
/// does not know, every context operation), then `purge` and `gc`, then one more session.
/// Three sealed segments, each holding tombstones, and an active one.
const V2: Golden = Golden {
    version: "v2",
    files: &[
        ("v2/config.json", 52, 0xe09f_44a3),
        ("v2/journal/00000000000000000001.seg", 4374, 0xddfa_4c97),
        ("v2/journal/00000000000000000033.seg", 13167, 0x9bb3_d40a),
        ("v2/journal/00000000000000000147.seg", 1222, 0x818c_b259),
        ("v2/journal/00000000000000000152.seg", 8919, 0x0ade_731d),
        ("v2/journal/LOCK", 0, 0),
        ("v2/journal/checkpoint", 56, 0x2144_df1c),
        ("v2.jsonl", 86433, 0x1bfa_5eec),
    ],
    sha256: "6bda6ee0d8304d588d151ffdf09882dd0bf12db34ee3dccc189671db2b3ee63d",
    events: 166,
    skipped: &[14, 66],
};

/// The LSNs of the v2 golden journal's tombstones: the four traces of an exploration reset
/// away (9 to 12) and two commits a rebase replaced (93, 94), collected by gc; leaked tool
/// outputs (18, 22, 64, 150), an extension record (66), a collapse commit (68) and a commit
/// (125), purged. 150 was in the active segment, which purge sealed first.
const V2_TOMBSTONES: [u64; 13] = [9, 10, 11, 12, 18, 22, 64, 66, 68, 93, 94, 125, 150];

#[test]
fn the_v2_golden_files_are_the_ones_made_for_v2() {
    assert_files_are_the_ones_made(&V2);
}

#[test]
fn export_of_the_v2_golden_journal_is_byte_for_byte_the_expected_file() {
    assert_export_is_the_expected_file(&V2);
    let tombstoned: Vec<u64> = V2
        .expected_export()
        .lines()
        .filter(|line| line.contains(r#""tombstone":{"sha256":""#))
        .map(line_lsn)
        .collect();
    let events: Vec<u64> = V2_TOMBSTONES
        .into_iter()
        .filter(|lsn| !V2.skipped.contains(lsn))
        .collect();
    assert_eq!(tombstoned, events);
    assert!(!V2.expected_export().contains(V2_LEAK));
}

#[test]
fn verify_passes_on_the_v2_golden_journal_whose_sealed_segments_hold_tombstones() {
    let report = assert_verify_passes(&V2);
    let firsts: Vec<u64> = report["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|segment| segment["first_lsn"].as_u64().unwrap())
        .collect();
    assert_eq!(firsts, [1, 33, 147, 152]);
    // Segment header flags (bytes 12..16): SEALED and TOMBSTONES on every sealed segment.
    let flags: Vec<u32> = firsts
        .iter()
        .map(|first| {
            let path = V2.dir().join(format!("journal/{first:020}.seg"));
            let bytes = std::fs::read(path).unwrap();
            u32::from_le_bytes(bytes[12..16].try_into().unwrap())
        })
        .collect();
    assert_eq!(flags, [0b11, 0b11, 0b11, 0]);
    let copy = GoldenCopy::new(&V2);
    let recorder = copy.recorder();
    let mut tombstones = Vec::new();
    for record in recorder.journal().iter().unwrap() {
        let record = record.unwrap();
        if record.flags & FRAME_FLAG_TOMBSTONE != 0 {
            assert!(tombstone_of(&record).is_some(), "LSN {}", record.lsn);
            tombstones.push(record.lsn);
        }
        let payload = String::from_utf8_lossy(&record.payload);
        assert!(!payload.contains(V2_LEAK), "LSN {}", record.lsn);
    }
    assert_eq!(tombstones, V2_TOMBSTONES);
}

#[test]
fn reading_the_v2_golden_journal_from_the_middle() {
    assert_reads_from_the_middle(&V2);
}

#[test]
fn the_v2_golden_journal_takes_new_appends() {
    assert_takes_new_appends(&V2);
}

/// Each agent's commits, newest first, as `log --oneline --all` lists them: 12 digits of the
/// id and the message (empty for a commit whose content was removed).
fn logged(copy: &GoldenCopy, agent: &str) -> Vec<String> {
    let log = copy.ok(&["--json", "log", "--oneline", "--all", "--agent", agent]);
    let log: Value = serde_json::from_str(&log).unwrap();
    log["commits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|commit| {
            let id = commit["id"].as_str().unwrap();
            format!("{} {}", &id[..12], commit["message"].as_str().unwrap())
        })
        .collect()
}

const V2_MAIN_LOG: [&str; 23] = [
    "054271bd0ea4 release",
    "713bf22865fe ",
    "73d4bcd013f5 step 5",
    "54c0d4efc88f step 6",
    "f19019be82bd step 4",
    "9e7a89c76626 keep",
    "df7f333dcc5a compress steps 1 to 3",
    "9eefc17edd86 feature 2",
    "cff4a78b68cc feature 1",
    "02d7a6b81349 main moved",
    "5daa98908f58 hotfix",
    "847efb184331 resolve pin conflict: rule",
    "951d4d0f810e resolve edit conflict: task",
    "11bbbd9e1a8d merge try-retry",
    "792c9f1328c1 rule",
    "69cf15debfe6 task",
    "cfb106adcbfd rule",
    "2d68f177b040 task",
    "f95a73180e45 retry",
    "32fab4611362 system",
    "a550ea4e3b63 finding",
    "8ac0f463c255 task",
    "6b9011c9e5c9 system",
];

/// Every move of the main agent's refs, oldest first (a reset with its mode).
const V2_MAIN_REFLOG: &str = "commit commit commit commit commit commit commit reset(hard) \
    commit branch switch commit commit commit switch commit commit merge branch switch commit \
    switch merge checkout switch reset(soft) undo branch switch commit commit switch commit \
    switch rebase switch merge commit commit commit commit compress commit commit reorder \
    commit reset(hard) commit commit branch";

#[test]
fn the_v2_context_graph_rebuilds_to_the_one_that_was_made() {
    let copy = GoldenCopy::new(&V2);
    assert!(copy
        .ok(&["rebuild"])
        .starts_with("rebuilt every projection from 166 events"));
    assert_eq!(logged(&copy, "main"), V2_MAIN_LOG);
    let planner = [
        "d15146e7ccee published",
        "e64e223f3788 approved",
        "dd84ef013d67 ",
        "34140b3d27e2 spawn researcher",
        "66bd8d19b3f4 goal",
    ];
    assert_eq!(logged(&copy, "planner"), planner);
    let researcher = [
        "916ec15da2d9 draft",
        "b67f38777e8f changes",
        "970c3c46597e spawned by planner",
    ];
    assert_eq!(logged(&copy, "researcher"), researcher);

    let recorder = copy.recorder();
    let graph = recorder.load::<Graph>().unwrap().state;
    assert_eq!(graph.rejected(), 0);
    assert_eq!(graph.len(), 44, "31 reachable commits and 13 that are not");
    let removed: Vec<u64> = graph
        .commits()
        .filter(|commit| graph.is_removed(&commit.id))
        .map(|commit| commit.lsn)
        .collect();
    assert_eq!(removed, [9, 10, 11, 12, 68, 93, 94, 125]);
    let branches: Vec<String> = graph
        .refs("main")
        .branches
        .iter()
        .map(|(name, id)| format!("{name} {}", &id[..12]))
        .collect();
    let expected = [
        "feature 9eefc17edd86",
        "hotfix 5daa98908f58",
        "main 054271bd0ea4",
        "release-0.2 054271bd0ea4",
        "try-retry cfb106adcbfd",
    ];
    assert_eq!(branches, expected);
    assert_eq!(graph.refs("main").head, Head::Branch("main".into()));
    let moves: Vec<String> = graph
        .reflog("main")
        .into_iter()
        .map(|entry| match entry.mode {
            Some(mode) => format!("{}({mode})", entry.op),
            None => entry.op,
        })
        .collect();
    assert_eq!(moves.join(" "), V2_MAIN_REFLOG);
    assert_v2_contexts(&recorder);
}

/// The main agent's context at HEAD, block by block.
const V2_MAIN_CONTEXT: [&str; 16] = [
    "You are a careful coding agent in the agentrail repository.",
    "Task: fix the flaky upload test without retries.\nDone when it passes 1000 times in a row.\n(Theirs said: Task: fix the flaky upload test with retries.)",
    "The test reads the counter before the worker's last increment.",
    "Tests never retry and never sleep.\n(Theirs said: Retries are fine in tests.)",
    "Alternative: retry the assertion up to five times.",
    "Also pin the worker count to 2.",
    "Meanwhile main gained a changelog.",
    "Feature: a --json flag for verify.",
    "Feature: verify counts tombstones.",
    "Summary of 2 blocks: reproduced the failure, added the barrier.",
    "Keep: the test must stay under one second.",
    "Step 4: run it 1000 times.",
    "Step 6: ask for review.",
    "Step 5: write the changelog entry.",
    "[content of commit 713bf22865fe removed by gc or purge]",
    "Tagged 0.2 and pushed the tag.",
];

/// Each agent's context at HEAD: contents read back through tombstones, a removed commit's
/// block a placeholder.
fn assert_v2_contexts(recorder: &Recorder) {
    let blocks = |agent: &str| -> Vec<String> {
        let context = Agent::new(recorder, agent, None).context(None).unwrap();
        context
            .blocks
            .into_iter()
            .map(|block| block.content)
            .collect()
    };
    assert_eq!(blocks("main"), V2_MAIN_CONTEXT);
    let planner = blocks("planner");
    assert_eq!(
        planner,
        [
            "Write the release notes for 0.2: what changed for users.",
            "Spawned sub-agent researcher with the task:\nList the user-visible changes since 0.1.",
            "[content of commit dd84ef013d67 removed by gc or purge]",
            "Release notes 0.2 are approved.",
            "The notes are on the website.",
        ]
    );
    assert_eq!(
        blocks("researcher"),
        [
            "List the user-visible changes since 0.1.",
            "- gc and purge\n- merge, rebase, compress, reorder\n- sub-agents",
            "Draft: 0.2 can forget, merge, rewrite history and spawn.",
        ]
    );
}

/// A later agentrail works on a v2 journal: commits on top of it, purges again (a tombstone is
/// left as it is), and collects what has aged since, rewriting sealed segments that hold
/// tombstones already; what was kept reads as before.
#[test]
fn the_v2_golden_journal_takes_commits_and_a_second_gc_and_purge() {
    let copy = GoldenCopy::new(&V2);
    let after = "Written by a later agentrail.";
    copy.ok(&["commit", "-m", "after golden", "--content", after]);
    let recorder = copy.recorder();
    let main = Agent::new(&recorder, "main", None);
    let context = main.context(None).unwrap();
    assert_eq!(context.blocks.last().unwrap().content, after);

    let purged = gc::purge(&recorder, &[150, 151]).unwrap();
    assert_eq!(purged.already, [150]);
    let lsns: Vec<u64> = purged.tombstoned.iter().map(|record| record.lsn).collect();
    assert_eq!(lsns, [151]);
    let years_later = Policy {
        retention_days: 14,
        collect_collapsed_children: false,
        now_micros: 1_893_456_000_000_000, // 2030-01-01
    };
    let report = gc::collect_garbage(&recorder, &years_later, false).unwrap();
    let collected: Vec<u64> = report.collected.iter().map(|commit| commit.lsn).collect();
    // The originals of the compression and the reorder, and the dead end.
    assert_eq!(collected, [106, 107, 108, 109, 115, 116, 123]);
    assert_eq!(main.context(None).unwrap(), context);
    copy.ok(&["verify"]);

    let exported = copy.ok(&["export"]);
    let mut lines = exported.lines();
    for expected in V2.expected_export().lines() {
        let line = lines.next().unwrap();
        let lsn = line_lsn(expected);
        if collected.contains(&lsn) || lsn == 151 {
            assert!(line.contains(r#""tombstone":{"sha256":""#), "{line}");
        } else {
            assert_eq!(line, expected);
        }
    }
    let last: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(last["data"]["content"], after);
    assert_eq!(lines.next(), None);
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

// ---- How the v2 golden journal was made ----
//
// Kept so the bytes have a known origin; running it again makes a new journal elsewhere and
// must never replace tests/golden/v2 (see the README).
//
// The context operations run through the library, which stamps each event with the wall
// clock, and a commit's id covers its time. So the scenario runs on a scratch workspace, and
// its records are then copied into the golden journal in LSN order with every timestamp
// replaced by a fixed one (`v2_ts`) and every commit id recomputed (and renamed wherever an
// event names it): the same operations, the same shapes, at fixed times. `gc` and `purge` run
// on the golden journal itself, with a fixed "now".

/// The time of the golden v2 record at `lsn`: LSN 1 at 2026-06-01T08:00:00Z, each next one
/// 8 hours, 7 seconds and a varying fraction later.
fn v2_ts(lsn: u64) -> i64 {
    const FIRST_SECONDS: i64 = 1_780_300_800;
    const STEP_MICROS: i64 = (8 * 3600 + 7) * 1_000_000;
    let lsn = lsn as i64;
    FIRST_SECONDS * 1_000_000 + (lsn - 1) * STEP_MICROS + (lsn * 123_457) % 1_000_000
}

const V2_SESSIONS: [&str; 4] = [
    "s-00000000a001",
    "s-00000000a002",
    "s-00000000a003",
    "s-00000000a004",
];
/// A credential the redactor does not know, so that only `purge` removes it.
const V2_LEAK: &str = "internal-credential-7f3a9c";
const V2_SKIPPED_KIND: u16 = 0x8001;
const V2_PURGED_KIND: u16 = 0x8002;
const MICROS_PER_DAY: i64 = 86_400 * 1_000_000;

/// Lines of a tool's log, deterministic from `seed`, `bytes` long.
fn log_text(seed: u64, bytes: usize) -> String {
    let mut state = seed;
    let mut text = String::new();
    let mut line = 0;
    while text.len() < bytes {
        let word = common::splitmix(&mut state);
        let level = ["INFO", "DEBUG", "WARN"][(word % 3) as usize];
        text += &format!(
            "{line:05} {level} upload chunk {:2}/64 of run {seed} sha256={word:016x}{:016x}\n",
            word % 64,
            common::splitmix(&mut state)
        );
        line += 1;
    }
    text.truncate(bytes);
    text
}

/// The workspace the scenario runs on, at wall-clock times; see [`Pinner`].
struct Scratch {
    recorder: Recorder,
}

/// What the scenario leaves for `gc` and `purge` to do, in scratch LSNs and ids.
#[derive(Default)]
struct Removals {
    /// LSNs whose content `purge` removes once they are in the golden journal.
    purge: Vec<u64>,
    /// Commits left behind long before gc runs, which it collects.
    abandoned_early: Vec<String>,
    /// Commits left behind shortly before gc runs, which its retention keeps.
    abandoned_late: Vec<String>,
}

impl Scratch {
    fn new(dir: &Path) -> Scratch {
        let workspace = Workspace::init(&dir.join(".agentrail"), 64 << 20).unwrap();
        Scratch {
            recorder: Recorder::open(workspace, Durability::Never).unwrap(),
        }
    }

    /// Records an event of `kind` (checked as input is); its time is set when copied.
    fn event(&self, kind: &str, session: &str, agent: &str, data: Value) -> u64 {
        let line = json!({"type": kind, "session": session, "agent": agent, "data": data});
        let event = Event::from_json_line(&line.to_string(), 1, 0).unwrap();
        self.recorder.record(event).unwrap()
    }

    fn agent(&self, name: &str, session: &str) -> Agent<'_> {
        Agent::new(&self.recorder, name, Some(session.to_owned()))
    }

    fn extension(&self, kind: u16, payload: &[u8]) -> u64 {
        let record = NewRecord::new(kind, payload.to_vec());
        self.recorder
            .journal()
            .append_batch(vec![record])
            .unwrap()
            .start
    }

    /// A round of ordinary work: an LLM call, an action and a short tool output.
    fn work(&self, session: &str, agent: &str, round: u64) {
        let input = 900 + round * 37;
        let model = ["claude-sonnet-4", "gpt-4.1", "gemini-2.5-pro"][(round % 3) as usize];
        let stderr = if round.is_multiple_of(3) {
            "thread 'upload' panicked at tests/upload.rs:42:5:\nassertion `left == right` failed\n  left: 3\n right: 4\n"
        } else {
            ""
        };
        self.event(
            "llm_call",
            session,
            agent,
            json!({
                "model": model,
                "input_tokens": input, "output_tokens": 120 + round * 5,
                "cache_read_tokens": input / 2, "cache_creation_tokens": round % 2 * 64,
                "cost_usd": 0.0025 * (round + 1) as f64, "latency_ms": 800 + round * 13,
                "prompt": format!("Round {round}: what should I look at next? Here is the state so far: {}", "the upload worker, the counter, the assertion; ".repeat(6)),
                "response": format!("Round {round}: read the worker's loop, then run the test again. Ça marche — 完了 ✅"),
            }),
        );
        self.event(
            "action",
            session,
            agent,
            json!({"description": format!("round {round}: read src/upload/worker.rs lines {}-{}", round * 10, round * 10 + 40), "kind": "read_file"}),
        );
        self.event(
            "tool_output",
            session,
            agent,
            json!({
                "tool": "bash", "command": format!("cargo test upload -- --test-threads={}", round % 4 + 1),
                "exit_code": if stderr.is_empty() { 0 } else { 101 },
                "stdout": log_text(round, 600 + (round as usize % 5) * 150),
                "stderr": stderr,
                "duration_ms": 4000 + round * 111,
            }),
        );
    }

    /// A tool output far over the cap that leaked a credential; its LSN.
    fn leaking_output(&self, session: &str, agent: &str, seed: u64) -> u64 {
        let stdout = format!("uploading as {V2_LEAK}\n{}", log_text(seed, 12_000));
        self.event(
            "tool_output",
            session,
            agent,
            json!({"tool": "bash", "command": "env && cargo test upload -- --nocapture", "exit_code": 0,
                   "stdout": stdout, "stderr": log_text(seed + 1, 3000), "duration_ms": 61_000}),
        )
    }
}

fn commit_on(
    agent: &Agent,
    kind: CommitKind,
    message: &str,
    content: &str,
    target: Option<&str>,
) -> String {
    let request = CommitRequest {
        kind,
        message: message.to_owned(),
        content: content.to_owned(),
        target: target.map(str::to_owned),
        tokens: None,
    };
    agent.commit(request).unwrap().id
}

/// Appends a block; the tokenizer counts its tokens.
fn append(agent: &Agent, message: &str, content: &str) -> String {
    commit_on(agent, CommitKind::Append, message, content, None)
}

fn pin(agent: &Agent, message: &str, content: &str) -> String {
    commit_on(agent, CommitKind::Pin, message, content, None)
}

fn edit(agent: &Agent, message: &str, content: &str, target: &str) -> String {
    commit_on(agent, CommitKind::Edit, message, content, Some(target))
}

fn head_of(agent: &Agent) -> String {
    let graph = agent.graph().unwrap();
    graph.refs(agent.name()).head_commit().unwrap().to_owned()
}

/// Session 1, first part: the main agent starts on a flaky test; commits of each kind (one
/// with its tokens given), an exploration reset away (gc collects it), an extension record,
/// leaked outputs, and events of every other type.
fn v2_fix_the_test(scratch: &Scratch, removals: &mut Removals) -> (String, String) {
    let session = V2_SESSIONS[0];
    let task = json!({"task": "Fix the flaky upload test"});
    scratch.event("session_start", session, "main", task);
    let main = scratch.agent("main", session);
    let system = append(
        &main,
        "system",
        "You are a coding agent in the agentrail repository.",
    );
    let request = CommitRequest {
        kind: CommitKind::Pin,
        message: "task".into(),
        content: "Task: fix the flaky upload test.\nDone when it passes 100 times in a row.".into(),
        target: None,
        tokens: Some(19),
    };
    let task = main.commit(request).unwrap().id;
    scratch.work(session, "main", 0);
    let failure = json!({"error_type": "AssertionError", "message": "left: 3, right: 4", "location": "tests/upload.rs:42",
                         "locals": {"attempt": 3, "chunks": [1, 2, 3], "password": "hunter2-hunter2"}});
    scratch.event("failure", session, "main", failure);
    let finding = append(
        &main,
        "finding",
        "The test reads the counter before the worker's last increment.",
    );
    for trace in 0..4 {
        let content = format!("Trace of attempt {trace}:\n{}", log_text(100 + trace, 7000));
        removals
            .abandoned_early
            .push(append(&main, &format!("trace {trace}"), &content));
    }
    main.reset(ResetMode::Hard, &finding).unwrap();
    scratch.extension(V2_SKIPPED_KIND, b"an extension record this version skips");
    scratch.work(session, "main", 1);
    removals
        .purge
        .push(scratch.leaking_output(session, "main", 6));
    scratch.work(session, "main", 4);
    removals
        .purge
        .push(scratch.leaking_output(session, "main", 7));
    let decision = json!({"choice": "wait for the worker with a barrier", "rationale": "sleeping hides the race; a barrier removes it",
                          "options": ["sleep 100 ms", "barrier", "retry loop"]});
    scratch.event("decision", session, "main", decision);
    scratch.event(
        "task",
        session,
        "main",
        json!({"id": "t-1", "status": "started"}),
    );
    let diff = json!({"diff": "--- a/tests/upload.rs\n+++ b/tests/upload.rs\n@@ -40,3 +40,4 @@\n     upload(&worker, chunks);\n+    worker.barrier().wait();\n     assert_eq!(worker.count(), 4);\n",
                      "stat": " tests/upload.rs | 1 +\n 1 file changed, 1 insertion(+)", "files": ["tests/upload.rs"]});
    scratch.event("git_diff", session, "main", diff);
    let done = json!({"id": "t-1", "status": "done", "result": {"runs": 100, "failures": 0}});
    scratch.event("task", session, "main", done);
    let careful = "You are a careful coding agent in the agentrail repository.";
    edit(&main, "system", careful, &system);
    (system, task)
}

/// Session 1, second part: branches whose edits and pins conflict, a merge that resolves them
/// (resolution edits and their LLM calls), a fast-forward, a detached HEAD, a soft reset and
/// its undo.
fn v2_merge_branches(scratch: &Scratch, system: &str, task: &str) {
    let session = V2_SESSIONS[0];
    let main = scratch.agent("main", session);
    main.branch("try-retry", None).unwrap();
    main.switch("try-retry").unwrap();
    append(
        &main,
        "retry",
        "Alternative: retry the assertion up to five times.",
    );
    edit(
        &main,
        "task",
        "Task: fix the flaky upload test with retries.",
        task,
    );
    pin(&main, "rule", "Retries are fine in tests.");
    main.switch("main").unwrap();
    let stricter = "Task: fix the flaky upload test without retries.\nDone when it passes 1000 times in a row.";
    edit(&main, "task", stricter, task);
    pin(&main, "rule", "Tests never retry and never sleep.");
    let mut resolver = |conflict: &Conflict| -> agentrail::Result<Generated> {
        let content = format!(
            "{}\n(Theirs said: {})",
            conflict.ours.content, conflict.theirs.content
        );
        let usage = LlmUsage {
            model: "resolver-mini".into(),
            input_tokens: 180,
            output_tokens: 42,
        };
        Ok(Generated {
            content,
            usage: Some(usage),
        })
    };
    let merged = main
        .merge("try-retry", None, Some(&mut resolver), Unrelated::Refuse)
        .unwrap();
    assert!(matches!(merged, MergeOutcome::Merged { ref conflicts, .. } if conflicts.len() == 2));
    main.branch("hotfix", None).unwrap();
    main.switch("hotfix").unwrap();
    append(&main, "hotfix", "Also pin the worker count to 2.");
    main.switch("main").unwrap();
    let fast = main.merge("hotfix", None, None, Unrelated::Refuse).unwrap();
    assert!(matches!(fast, MergeOutcome::FastForward { .. }));
    main.checkout(system).unwrap();
    main.switch("main").unwrap();
    main.reset(ResetMode::Soft, task).unwrap();
    main.undo().unwrap();
    scratch.work(session, "main", 2);
    let end =
        json!({"status": "committed", "message": "a barrier between the worker and the assertion"});
    scratch.event("session_end", session, "main", end);
}

/// Session 2: a planner spawns a researcher and collapses it (its output names a credential,
/// so the collapse commit is purged while reachable); an event of a type this version does not
/// know, and a record of an extension kind that is purged.
fn v2_spawn_and_collapse(scratch: &Scratch, removals: &mut Removals) {
    let session = V2_SESSIONS[1];
    let task = json!({"task": "Write the release notes for 0.2"});
    scratch.event("session_start", session, "planner", task);
    let planner = scratch.agent("planner", session);
    append(
        &planner,
        "goal",
        "Write the release notes for 0.2: what changed for users.",
    );
    let assignment = "List the user-visible changes since 0.1.";
    planner.spawn("researcher", Some(assignment)).unwrap();
    let researcher = scratch.agent("researcher", session);
    append(
        &researcher,
        "changes",
        "- gc and purge\n- merge, rebase, compress, reorder\n- sub-agents",
    );
    scratch.work(session, "researcher", 3);
    removals
        .purge
        .push(scratch.leaking_output(session, "researcher", 8));
    let heartbeat = Event {
        ts_micros: 0,
        event_type: "agent_heartbeat".into(),
        session: Some(session.into()),
        agent: Some("researcher".into()),
        data: object(json!({"alive": true, "queue": [3, 1, 4]})),
    };
    scratch.recorder.record(heartbeat).unwrap();
    let extension = scratch.extension(V2_PURGED_KIND, b"an extension record that purge removes");
    removals.purge.push(extension);
    append(
        &researcher,
        "draft",
        "Draft: 0.2 can forget, merge, rewrite history and spawn.",
    );
    let output = format!("Read the tracker with the token {V2_LEAK}.");
    let collapsed = planner
        .collapse("researcher", Some(output), |context| {
            let blocks = context.blocks.len();
            Ok(format!(
                "The researcher drafted the notes from {blocks} blocks."
            ))
        })
        .unwrap();
    removals.purge.push(collapsed.commit.lsn);
    pin(&planner, "approved", "Release notes 0.2 are approved.");
    for round in 20..26 {
        scratch.work(session, "planner", round);
    }
    let end = json!({"status": "completed", "description": "notes drafted"});
    scratch.event("session_end", session, "planner", end);
}

/// Session 3, first part: the main agent rebases a branch (gc collects the originals, whose
/// reflog entries are old by then), then compresses and reorders (whose originals it keeps).
fn v2_rewrite_history(scratch: &Scratch, removals: &mut Removals) {
    let session = V2_SESSIONS[2];
    let task = json!({"task": "Tidy the context before the release"});
    scratch.event("session_start", session, "main", task);
    let main = scratch.agent("main", session);
    main.branch("feature", None).unwrap();
    main.switch("feature").unwrap();
    let first = append(&main, "feature 1", "Feature: a --json flag for verify.");
    let second = append(&main, "feature 2", "Feature: verify counts tombstones.");
    removals.abandoned_early.extend([first, second]);
    main.switch("main").unwrap();
    append(&main, "main moved", "Meanwhile main gained a changelog.");
    main.switch("feature").unwrap();
    assert_eq!(main.rebase("main", None).unwrap().commits.len(), 2);
    main.switch("main").unwrap();
    let fast = main
        .merge("feature", None, None, Unrelated::Refuse)
        .unwrap();
    assert!(matches!(fast, MergeOutcome::FastForward { .. }));
    scratch.work(session, "main", 5);
    let from = head_of(&main);
    append(&main, "step 1", "Step 1: reproduce the failure.");
    pin(&main, "keep", "Keep: the test must stay under one second.");
    let to = append(&main, "step 3", "Step 3: add the barrier.");
    append(&main, "step 4", "Step 4: run it 1000 times.");
    let mut summarize = |input: &CompressInput| -> agentrail::Result<Generated> {
        let blocks = input.blocks.len();
        let usage = LlmUsage {
            model: "summarizer-mini".into(),
            input_tokens: 300,
            output_tokens: 25,
        };
        Ok(Generated {
            content: format!(
                "Summary of {blocks} blocks: reproduced the failure, added the barrier."
            ),
            usage: Some(usage),
        })
    };
    let range = format!("{from}..{to}");
    let message = Some("compress steps 1 to 3".to_owned());
    let compressed = main
        .compress(&range, true, message, &mut summarize)
        .unwrap();
    assert_eq!(compressed.pins_checked, 3);
    let before = head_of(&main);
    let five = append(&main, "step 5", "Step 5: write the changelog entry.");
    let six = append(&main, "step 6", "Step 6: ask for review.");
    let range = format!("{before}..{six}");
    main.reorder(&range, &[six.clone(), five], false).unwrap();
}

/// Session 3, second part: a dead end left behind shortly before gc runs (its retention keeps
/// it), a credential committed (purged while reachable), and a leaked output in what is the
/// active segment when purge runs (so purge seals it first).
fn v2_dead_end_and_leaks(scratch: &Scratch, removals: &mut Removals) {
    let session = V2_SESSIONS[2];
    let main = scratch.agent("main", session);
    scratch.work(session, "main", 6);
    let kept = head_of(&main);
    let dead_end = append(
        &main,
        "dead end",
        "Idea: mock the worker. It hides the race.",
    );
    removals.abandoned_late.push(dead_end);
    main.reset(ResetMode::Hard, &kept).unwrap();
    let staging = format!("Staging uploads authenticate as {V2_LEAK}.");
    let secret = append(&main, "staging", &staging);
    removals
        .purge
        .push(main.graph().unwrap().commit(&secret).unwrap().lsn);
    for round in 30..38 {
        scratch.work(session, "main", round);
    }
    removals
        .purge
        .push(scratch.leaking_output(session, "main", 9));
    let end = json!({"status": "committed", "message": "history tidied"});
    scratch.event("session_end", session, "main", end);
}

/// Session 4, after gc and purge: a commit on top of a purged one, a branch, work, a commit of
/// another agent, and a session that ends aborted.
fn v2_after_gc(scratch: &Scratch) {
    let session = V2_SESSIONS[3];
    scratch.event(
        "session_start",
        session,
        "main",
        json!({"task": "Release 0.2"}),
    );
    let main = scratch.agent("main", session);
    append(&main, "release", "Tagged 0.2 and pushed the tag.");
    main.branch("release-0.2", None).unwrap();
    for round in 8..12 {
        scratch.work(session, "main", round);
    }
    let planner = scratch.agent("planner", session);
    append(&planner, "published", "The notes are on the website.");
    let end = json!({"status": "aborted", "description": "the release machine went away"});
    scratch.event("session_end", session, "main", end);
}

fn object(value: Value) -> serde_json::Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => unreachable!("an object literal"),
    }
}

/// Copies records from the scratch journal into the golden one at fixed times (see the
/// section comment): each event gets `v2_ts(lsn)`, each commit id named anywhere is renamed to
/// the one its commit has at its new time, and it is recorded again through the golden
/// workspace's recorder (redaction, already applied, changes nothing); other records are
/// copied as they are.
#[derive(Default)]
struct Pinner {
    /// Scratch commit id to golden commit id.
    ids: HashMap<String, String>,
}

impl Pinner {
    fn copy(&mut self, scratch: &Recorder, golden: &Recorder, from_lsn: u64) {
        for record in scratch.journal().read_from(from_lsn).unwrap() {
            let record = record.unwrap();
            let lsn = if record.kind == KIND_EVENT {
                let event = Event::decode(record.lsn, &record.payload).unwrap();
                golden.record(self.pin(record.lsn, event)).unwrap()
            } else {
                let copy = NewRecord {
                    kind: record.kind,
                    flags: record.flags,
                    payload: record.payload,
                };
                golden.journal().append_batch(vec![copy]).unwrap().start
            };
            assert_eq!(lsn, record.lsn, "the golden journal has the scratch LSNs");
        }
    }

    fn pin(&mut self, lsn: u64, mut event: Event) -> Event {
        event.ts_micros = v2_ts(lsn);
        let old_id = match event.kind() {
            Some(EventType::Commit) => event.text("id").map(str::to_owned),
            _ => None,
        };
        for value in event.data.values_mut() {
            rename_ids(value, &self.ids);
        }
        if let Some(old_id) = old_id {
            let new_id = recomputed_id(&event);
            event.data.insert("id".into(), new_id.clone().into());
            self.ids.insert(old_id, new_id);
        }
        event
    }

    fn renamed(&self, id: &str) -> String {
        self.ids[id].clone()
    }
}

/// Replaces every string that is a known commit id (64 hex digits, so nothing else matches).
fn rename_ids(value: &mut Value, ids: &HashMap<String, String>) {
    match value {
        Value::String(text) => {
            if let Some(new) = ids.get(text.as_str()) {
                *text = new.clone();
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| rename_ids(item, ids)),
        Value::Object(members) => members.values_mut().for_each(|item| rename_ids(item, ids)),
        _ => {}
    }
}

/// The id of a commit event as the library writes it (explicit parents, tokens, id).
fn recomputed_id(event: &Event) -> String {
    let data = &event.data;
    let text = |field: &str| data.get(field).and_then(Value::as_str);
    let parents: Vec<String> = data["parents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|parent| parent.as_str().unwrap().to_owned())
        .collect();
    let links: BTreeMap<String, String> = data
        .get("links")
        .and_then(Value::as_object)
        .map(|links| {
            links
                .iter()
                .map(|(name, value)| (name.clone(), value.as_str().unwrap().to_owned()))
                .collect()
        })
        .unwrap_or_default();
    commit_id(&CommitFields {
        parents: &parents,
        kind: CommitKind::parse(text("kind").unwrap()).unwrap(),
        content: text("content").unwrap(),
        message: text("message").unwrap(),
        target: text("target"),
        tokens: data["tokens"].as_u64().unwrap(),
        agent: event.agent.as_deref().unwrap_or(DEFAULT_AGENT),
        session: event.session.as_deref(),
        ts_micros: event.ts_micros,
        links: &links,
    })
}

/// Every agent's refs, reflog ops and context in the golden journal are those of the scratch
/// one, ids renamed; and the golden graph rejected nothing.
fn assert_same_contexts(scratch: &Recorder, golden: &Recorder, pinner: &Pinner) {
    let (before, after) = (
        scratch.load::<Graph>().unwrap().state,
        golden.load::<Graph>().unwrap().state,
    );
    assert_eq!(after.rejected(), 0);
    assert_eq!(after.len(), before.len());
    for name in before.agents() {
        let (refs, pinned) = (before.refs(name), after.refs(name));
        let head = match &refs.head {
            Head::Branch(branch) => Head::Branch(branch.clone()),
            Head::Detached(id) => Head::Detached(pinner.renamed(id)),
        };
        assert_eq!(pinned.head, head, "{name}");
        assert_eq!(pinned.branches.len(), refs.branches.len(), "{name}");
        for (branch, id) in &refs.branches {
            assert_eq!(
                pinned.branches[branch],
                pinner.renamed(id),
                "{name} {branch}"
            );
        }
        let ops = |graph: &Graph| -> Vec<String> {
            graph
                .reflog(name)
                .into_iter()
                .map(|entry| entry.op)
                .collect()
        };
        assert_eq!(ops(&before), ops(&after), "{name}");
        let contents = |recorder: &Recorder| contents_and_kinds(&Agent::new(recorder, name, None));
        assert_eq!(contents(scratch), contents(golden), "{name}");
    }
}

/// Makes a v2 golden journal in `$AGENTRAIL_GOLDEN_OUT` (a directory that must not exist) and
/// its export next to it as `<dir>.jsonl`. This is how tests/golden/v2 was made; see the
/// README before doing anything with the result.
#[test]
#[ignore = "makes a golden journal; run only when adding a new format version"]
fn make_golden_journal_v2() {
    let out = PathBuf::from(
        std::env::var_os("AGENTRAIL_GOLDEN_OUT")
            .expect("set AGENTRAIL_GOLDEN_OUT to a directory that does not exist yet"),
    );
    let temp = tempfile::tempdir().unwrap();
    let scratch = Scratch::new(temp.path());
    let mut removals = Removals::default();
    let golden = Recorder::open(Workspace::init(&out, 65536).unwrap(), Durability::Always).unwrap();
    let mut pinner = Pinner::default();
    let (system, task) = v2_fix_the_test(&scratch, &mut removals);
    v2_merge_branches(&scratch, &system, &task);
    v2_spawn_and_collapse(&scratch, &mut removals);
    v2_rewrite_history(&scratch, &mut removals);
    v2_dead_end_and_leaks(&scratch, &mut removals);
    pinner.copy(&scratch.recorder, &golden, 1);
    assert_same_contexts(&scratch.recorder, &golden, &pinner);

    let last = v2_purge_and_collect(&golden, &removals, &pinner);

    v2_after_gc(&scratch);
    pinner.copy(&scratch.recorder, &golden, last + 1);
    let graph = golden.load::<Graph>().unwrap().state;
    assert_eq!(graph.rejected(), 0);
    assert_eq!(
        graph.len(),
        scratch.recorder.load::<Graph>().unwrap().state.len()
    );
    golden.close();
    // Projection checkpoints are caches, not the journal: the golden workspace holds none.
    std::fs::remove_dir_all(out.join("projections")).unwrap();

    let export = out.with_extension("jsonl");
    let status = Command::new(BIN)
        .args(["export", "-o", export.to_str().unwrap()])
        .env("AGENTRAIL_DIR", &out)
        .status()
        .unwrap();
    assert!(status.success());
}

/// Purges, then collects with a retention of 14 days counted back from a day after the last
/// record, and checks what each removed. Returns the last LSN.
fn v2_purge_and_collect(golden: &Recorder, removals: &Removals, pinner: &Pinner) -> u64 {
    let purged = gc::purge(golden, &removals.purge).unwrap();
    assert!(
        purged.sealed_active,
        "the last leaked output was in the active segment"
    );
    assert_eq!(purged.tombstoned.len(), removals.purge.len());
    let last = golden.journal().last_lsn();
    let policy = Policy {
        retention_days: 14,
        collect_collapsed_children: false,
        now_micros: v2_ts(last) + MICROS_PER_DAY,
    };
    let report = gc::collect_garbage(golden, &policy, false).unwrap();
    let collected: Vec<&str> = report
        .collected
        .iter()
        .map(|commit| commit.id.as_str())
        .collect();
    let early: Vec<String> = removals
        .abandoned_early
        .iter()
        .map(|id| pinner.renamed(id))
        .collect();
    assert_eq!(
        collected, early,
        "gc collects exactly what was left behind early"
    );
    for id in &removals.abandoned_late {
        let id = pinner.renamed(id);
        assert!(!collected.contains(&id.as_str()), "{id} is kept");
    }
    last
}

// ---- Event encoding version 2: exact numbers ----

/// The golden journal of event encoding version 2, made on 2026-11-24: 240 events, every
/// fourth holding numbers no `i64`, `u64` or `f64` holds exactly (stored as their text, so
/// encoding version 2), the others version 1 records beside them. Three sealed segments and
/// an active one.
const V3: Golden = Golden {
    version: "v3",
    files: &[
        ("v3/config.json", 52, 0xe09f_44a3),
        ("v3/journal/00000000000000000001.seg", 19234, 0xdd5d_0ddb),
        ("v3/journal/00000000000000000072.seg", 19604, 0xc58e_dfeb),
        ("v3/journal/00000000000000000144.seg", 19206, 0xd56b_9297),
        ("v3/journal/00000000000000000216.seg", 22622, 0x746b_9aad),
        ("v3/journal/LOCK", 0, 0),
        ("v3/journal/checkpoint", 56, 0x2144_df1c),
        ("v3.jsonl", 235_159, 0x9005_f6f7),
    ],
    sha256: "f02c108d23e9065d37d2db07c6be226742b609b70c550e90c1000b952c99c7a2",
    events: V3_EVENTS,
    skipped: &[],
};

const V3_EVENTS: usize = 240;

#[test]
fn the_v3_golden_files_are_the_ones_made_for_v3() {
    assert_files_are_the_ones_made(&V3);
}

#[test]
fn export_of_the_v3_golden_journal_is_byte_for_byte_the_expected_file() {
    assert_export_is_the_expected_file(&V3);
    assert_v3_numbers_as_written(&V3.expected_export());
}

#[test]
fn verify_passes_on_the_v3_golden_journal() {
    assert_verify_passes(&V3);
}

#[test]
fn reading_the_v3_golden_journal_from_the_middle() {
    assert_reads_from_the_middle(&V3);
}

#[test]
fn the_v3_golden_journal_takes_new_appends() {
    assert_takes_new_appends(&V3);
}

/// The records that hold a number of [`V3_NUMBERS`] are of encoding version 2, and only they:
/// the others are version 1 records byte for byte, which an agentrail that knows only
/// version 1 reads.
#[test]
fn the_v3_golden_journal_holds_encoding_versions_1_and_2_side_by_side() {
    let copy = GoldenCopy::new(&V3);
    let workspace = Workspace::open(&copy.root()).unwrap();
    let journal = workspace.open_journal(Durability::Always).unwrap();
    for record in journal.iter().unwrap() {
        let record = record.unwrap();
        let stored = agentrail::event::EventRecord::decode(record.lsn, &record.payload).unwrap();
        let expected = if (record.lsn - 1) % 4 == 0 { 2 } else { 1 };
        assert_eq!(stored.encoding_version, expected, "LSN {}", record.lsn);
    }
}

/// Numbers that only encoding version 2 keeps: each as written in the input, and as export
/// writes it (the exponent's `E` becomes `e`, and a positive one gets its `+`).
const V3_NUMBERS: [(&str, &str); 9] = [
    ("18446744073709551616", "18446744073709551616"),
    ("-9223372036854775809", "-9223372036854775809"),
    (
        "123456789012345678901234567890",
        "123456789012345678901234567890",
    ),
    (
        "0.1000000000000000055511151231257827021181583404541015625",
        "0.1000000000000000055511151231257827021181583404541015625",
    ),
    ("1e400", "1e+400"),
    ("-2.5E-400", "-2.5e-400"),
    (
        "3.14159265358979323846264338327950288",
        "3.14159265358979323846264338327950288",
    ),
    ("1.00000000000000000001", "1.00000000000000000001"),
    (
        "6.02214076000000000000001e23",
        "6.02214076000000000000001e+23",
    ),
];

/// The `index`th line of the v3 golden journal, as JSON text (numbers as written). Every
/// fourth event holds one or more of [`V3_NUMBERS`], in data, nested, or in an array.
fn v3_line(index: usize) -> String {
    let seconds = 1_795_500_000 + index as i64 * 613; // 2026-11-24 on
    let ts = chrono::DateTime::from_timestamp(seconds, (index as u32 * 7_919) % 1_000_000 * 1000)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let session = format!("s-00000000b{:03}", index / 60);
    let (kind, data) = match index % 4 {
        0 => {
            let number = V3_NUMBERS[index / 4 % V3_NUMBERS.len()].0;
            let other = V3_NUMBERS[(index / 4 + 4) % V3_NUMBERS.len()].0;
            let data = format!(
                r#"{{"description":"measured step {index}","value":{number},"nested":{{"samples":[1,{other},-0.0,2.5],"exact":{number}}},"plain":{index}}}"#
            );
            ("action", data)
        }
        1 => (
            "llm_call",
            format!(
                r#"{{"model":"m-{}","input_tokens":{},"output_tokens":{},"cost_usd":0.000125,"temperature":0.7}}"#,
                index % 3,
                1000 + index * 17,
                index * 3
            ),
        ),
        2 => {
            let stdout = log_text(index as u64, 2500 + index % 5 * 300);
            let data = json!({"tool": "upload", "exit_code": index % 2, "stdout": stdout});
            ("tool_output", data.to_string())
        }
        _ => (
            "decision",
            format!(
                r#"{{"choice":"retry {index}","confidence":0.85,"alternatives":["skip","abort"]}}"#
            ),
        ),
    };
    format!(r#"{{"ts":"{ts}","type":"{kind}","session":"{session}","data":{data}}}"#)
}

/// Makes the v3 golden journal in `$AGENTRAIL_GOLDEN_OUT` (a directory that must not exist)
/// and its export next to it as `<dir>.jsonl`. This is how tests/golden/v3 was made; see the
/// README before doing anything with the result.
#[test]
#[ignore = "makes a golden journal; run only when adding a new format version"]
fn make_golden_journal_v3() {
    let out = golden_out();
    let workspace = Workspace::init(&out, 65536).unwrap();
    let journal = workspace.open_journal(Durability::Always).unwrap();
    let mut appended = 0;
    let mut batch_size = 1;
    while appended < V3_EVENTS {
        let end = (appended + batch_size).min(V3_EVENTS);
        let records = (appended..end)
            .map(|index| {
                let event = Event::from_json_line(&v3_line(index), index + 1, 0).unwrap();
                NewRecord::new(KIND_EVENT, event.encode())
            })
            .collect();
        journal.append_batch(records).unwrap();
        appended = end;
        batch_size = batch_size % 23 + 4;
    }
    journal.close();
    let export = write_golden_export(&out);
    assert_v3_numbers_as_written(&export);
}

/// Every number of [`V3_NUMBERS`] is in the export as export writes it, in the events that
/// hold it.
fn assert_v3_numbers_as_written(export: &str) {
    let lines: Vec<&str> = export.lines().collect();
    assert_eq!(lines.len(), V3_EVENTS);
    for index in (0..V3_EVENTS).step_by(4) {
        let (_, written) = V3_NUMBERS[index / 4 % V3_NUMBERS.len()];
        let (_, other) = V3_NUMBERS[(index / 4 + 4) % V3_NUMBERS.len()];
        let line = lines[index];
        assert!(line.contains(&format!(r#""value":{written},"#)), "{line}");
        assert!(line.contains(&format!(r#""exact":{written}}}"#)), "{line}");
        assert!(line.contains(&format!(r#"[1,{other},-0.0,2.5]"#)), "{line}");
    }
}

// ---- Journal format version 3: atomic appends ----

/// The golden journal of journal format version 3 (`format-spec/journal.md` section 11), made
/// on 2026-11-24: the 240 events of [`V3`], appended as requests of 1 to 26 records and one of
/// 120 that spans segments, so that every record of a request but its last carries
/// `BATCH_CONTINUES`. Its export is byte for byte [`V3`]'s.
const V3_APPENDS: Golden = Golden {
    version: "v3-appends",
    files: &[
        ("v3-appends/config.json", 52, 0xe09f_44a3),
        (
            "v3-appends/journal/00000000000000000001.seg",
            19_283,
            0xf13b_ecda,
        ),
        (
            "v3-appends/journal/00000000000000000072.seg",
            19_627,
            0xc934_123c,
        ),
        (
            "v3-appends/journal/00000000000000000144.seg",
            19_237,
            0x839f_e4f2,
        ),
        (
            "v3-appends/journal/00000000000000000216.seg",
            22_622,
            0x765b_1a9d,
        ),
        ("v3-appends/journal/LOCK", 0, 0),
        ("v3-appends/journal/checkpoint", 56, 0x2144_df1c),
        ("v3-appends.jsonl", 235_159, 0x9005_f6f7),
    ],
    sha256: "7a098ef9be7c781f44b934ec00317cd360f5d39b0d725b51bdda65423d46f6d3",
    events: V3_EVENTS,
    skipped: &[],
};

/// The requests the v3-appends golden journal was appended in, as ranges of event indexes:
/// the sizes of [`make_golden_journal_v3`] (1, then `size % 23 + 4`), but for one request of
/// 120 events from index 60.
fn v3_appends_requests() -> Vec<std::ops::Range<usize>> {
    const LARGE: std::ops::Range<usize> = 60..180;
    let mut requests = Vec::new();
    let (mut appended, mut size) = (0, 1);
    while appended < V3_EVENTS {
        let end = match appended {
            start if start == LARGE.start => LARGE.end,
            start => (start + size)
                .min(V3_EVENTS)
                .min(match start < LARGE.start {
                    true => LARGE.start,
                    false => V3_EVENTS,
                }),
        };
        requests.push(appended..end);
        appended = end;
        size = size % 23 + 4;
    }
    requests
}

/// Every frame of the journal in `dir` as stored, `(lsn, flags)`, read from the segment files
/// themselves: readers hand records on without `BATCH_CONTINUES`.
fn stored_frame_flags(journal_dir: &Path) -> Vec<(u64, u16)> {
    use agentrail::journal::format::SEGMENT_HEADER_BYTES;
    use agentrail::journal::segment::{decode_frame, SealedSegment};
    let mut flags = Vec::new();
    let mut lsn = 1;
    let mut walk = |raw: &[u8], lsn: &mut u64| {
        let mut position = 0;
        while position < raw.len() {
            let frame = decode_frame(raw, position, *lsn).unwrap();
            flags.push((*lsn, frame.header.flags));
            position = frame.payload_start + frame.header.payload_len as usize;
            *lsn += 1;
        }
    };
    for first_lsn in segment_starts(journal_dir) {
        assert_eq!(first_lsn, lsn);
        let path = journal_dir.join(format!("{first_lsn:020}.seg"));
        let bytes = std::fs::read(&path).unwrap();
        let sealed = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) & 1 != 0;
        if !sealed {
            walk(&bytes[SEGMENT_HEADER_BYTES..], &mut lsn);
            continue;
        }
        let segment =
            SealedSegment::open(&agentrail::journal::vfs::StdFs, &path, first_lsn).unwrap();
        for block in 0..segment.blocks.len() {
            walk(&segment.block(block).unwrap(), &mut lsn);
        }
    }
    flags
}

#[test]
fn the_v3_appends_golden_files_are_the_ones_made_for_v3_appends() {
    assert_files_are_the_ones_made(&V3_APPENDS);
}

#[test]
fn export_of_the_v3_appends_golden_journal_is_byte_for_byte_v3s() {
    assert_export_is_the_expected_file(&V3_APPENDS);
    assert_eq!(V3_APPENDS.expected_export(), V3.expected_export());
}

#[test]
fn verify_passes_on_the_v3_appends_golden_journal() {
    let report = assert_verify_passes(&V3_APPENDS);
    assert!(report["unfinished_append"].is_null(), "{report}");
    assert!(report.get("unfinished_append").is_some(), "{report}");
}

#[test]
fn reading_the_v3_appends_golden_journal_from_the_middle() {
    assert_reads_from_the_middle(&V3_APPENDS);
}

#[test]
fn the_v3_appends_golden_journal_takes_new_appends() {
    assert_takes_new_appends(&V3_APPENDS);
}

/// Every record but a request's last carries `BATCH_CONTINUES` on disk, the 120-record request
/// spans segments, and readers hand every record on without the flag.
#[test]
fn the_v3_appends_golden_journal_marks_every_record_of_a_request_but_its_last() {
    use agentrail::journal::format::FRAME_FLAG_BATCH_CONTINUES;
    let journal_dir = V3_APPENDS.dir().join("journal");
    let mut expected = Vec::new();
    for request in v3_appends_requests() {
        for index in request.clone() {
            let continues = index + 1 < request.end;
            let flags = if continues {
                FRAME_FLAG_BATCH_CONTINUES
            } else {
                0
            };
            expected.push((index as u64 + 1, flags));
        }
    }
    assert_eq!(stored_frame_flags(&journal_dir), expected);
    let starts = segment_starts(&journal_dir);
    assert!(
        starts
            .iter()
            .filter(|&&first| (62..=180).contains(&first))
            .count()
            >= 1,
        "the large request spans segments: {starts:?}"
    );
    let copy = GoldenCopy::new(&V3_APPENDS);
    let recorder = copy.recorder();
    for record in recorder.journal().iter().unwrap() {
        assert_eq!(record.unwrap().flags & FRAME_FLAG_BATCH_CONTINUES, 0);
    }
}

/// Makes the v3-appends golden journal in `$AGENTRAIL_GOLDEN_OUT` (a directory that must not
/// exist) and its export next to it as `<dir>.jsonl`. This is how tests/golden/v3-appends was
/// made; see the README before doing anything with the result.
#[test]
#[ignore = "makes a golden journal; run only when adding a new format version"]
fn make_golden_journal_v3_appends() {
    let out = golden_out();
    let workspace = Workspace::init(&out, 65536).unwrap();
    let journal = workspace.open_journal(Durability::Always).unwrap();
    for request in v3_appends_requests() {
        let records = request
            .map(|index| {
                let event = Event::from_json_line(&v3_line(index), index + 1, 0).unwrap();
                NewRecord::new(KIND_EVENT, event.encode())
            })
            .collect();
        journal.append_batch(records).unwrap();
    }
    journal.close();
    let export = write_golden_export(&out);
    assert_eq!(export, V3.expected_export());
}

// ---- Journal format version 4: the checkpoint's segment list ----

/// The golden journal of journal format version 4 (`format-spec/journal.md` section 6: the
/// checkpoint records the segment files), made on 2026-11-24: the requests of [`V3_APPENDS`],
/// the one of 120 events a bulk append (`Journal::append_bulk`), which sealed its segment
/// before it was full. Its export is byte for byte [`V3`]'s.
const V4: Golden = Golden {
    version: "v4",
    files: &[
        ("v4/config.json", 52, 0xe09f_44a3),
        ("v4/journal/00000000000000000001.seg", 19_283, 0xf13b_ecda),
        ("v4/journal/00000000000000000072.seg", 19_627, 0xc934_123c),
        ("v4/journal/00000000000000000144.seg", 9_997, 0xf9a5_a3b9),
        ("v4/journal/00000000000000000181.seg", 55_519, 0x9720_ba12),
        ("v4/journal/LOCK", 0, 0),
        ("v4/journal/checkpoint", 56, 0x2144_df1c),
        ("v4.jsonl", 235_159, 0x9005_f6f7),
    ],
    sha256: "53c34ab52aa8d86eb8a0092f740e892e4f209d1e579af6c0aaa48d90ce61fa52",
    events: V3_EVENTS,
    skipped: &[],
};

#[test]
fn the_v4_golden_files_are_the_ones_made_for_v4() {
    assert_files_are_the_ones_made(&V4);
}

#[test]
fn export_of_the_v4_golden_journal_is_byte_for_byte_v3s() {
    assert_export_is_the_expected_file(&V4);
    assert_eq!(V4.expected_export(), V3.expected_export());
}

#[test]
fn verify_passes_on_the_v4_golden_journal() {
    assert_verify_passes(&V4);
}

#[test]
fn reading_the_v4_golden_journal_from_the_middle() {
    assert_reads_from_the_middle(&V4);
}

#[test]
fn the_v4_golden_journal_takes_new_appends() {
    assert_takes_new_appends(&V4);
}

/// The checkpoint records the four segment files (count at offset 12, the CRC of their first
/// LSNs at 44), the bulk append sealed segment 144 at its last record, LSN 180, and open
/// checks the list: a copy without segment 72 is refused, naming the segment after the gap.
#[test]
fn the_v4_golden_checkpoint_records_its_segments_and_open_checks_them() {
    let journal_dir = V4.dir().join("journal");
    let starts = segment_starts(&journal_dir);
    assert_eq!(starts, [1, 72, 144, 181]);
    let checkpoint = std::fs::read(journal_dir.join("checkpoint")).unwrap();
    let u32_at = |at: usize| u32::from_le_bytes(checkpoint[at..at + 4].try_into().unwrap());
    assert_eq!(u32_at(12), 4);
    let mut crc = crc32fast::Hasher::new();
    for first_lsn in &starts {
        crc.update(&first_lsn.to_le_bytes());
    }
    assert_eq!(u32_at(44), crc.finalize());
    let sealed = std::fs::read(journal_dir.join("00000000000000000144.seg")).unwrap();
    assert_eq!(
        u32::from_le_bytes(sealed[12..16].try_into().unwrap()) & 1,
        1
    );

    let copy = GoldenCopy::new(&V4);
    std::fs::remove_file(copy.root().join("journal/00000000000000000072.seg")).unwrap();
    let error = Workspace::open(&copy.root())
        .unwrap()
        .open_journal(Durability::Always)
        .unwrap_err();
    assert!(error.is_corruption(), "{error}");
    let message = error.to_string();
    assert!(message.contains("00000000000000000144.seg"), "{message}");
    assert!(message.contains("a segment is missing"), "{message}");
}

/// Makes the v4 golden journal in `$AGENTRAIL_GOLDEN_OUT` (a directory that must not exist) and
/// its export next to it as `<dir>.jsonl`. This is how tests/golden/v4 was made; see the README
/// before doing anything with the result.
#[test]
#[ignore = "makes a golden journal; run only when adding a new format version"]
fn make_golden_journal_v4() {
    let out = golden_out();
    let workspace = Workspace::init(&out, 65536).unwrap();
    let journal = workspace.open_journal(Durability::Always).unwrap();
    for request in v3_appends_requests() {
        let large = request.len() > 100;
        let records = request
            .map(|index| {
                let event = Event::from_json_line(&v3_line(index), index + 1, 0).unwrap();
                NewRecord::new(KIND_EVENT, event.encode())
            })
            .collect();
        match large {
            true => journal.append_bulk(records).unwrap(),
            false => journal.append_batch(records).unwrap(),
        };
    }
    journal.close();
    let export = write_golden_export(&out);
    assert_eq!(export, V3.expected_export());
}

/// Where a golden journal generator writes: `$AGENTRAIL_GOLDEN_OUT`, a directory that must not
/// exist yet.
fn golden_out() -> PathBuf {
    PathBuf::from(
        std::env::var_os("AGENTRAIL_GOLDEN_OUT")
            .expect("set AGENTRAIL_GOLDEN_OUT to a directory that does not exist yet"),
    )
}

/// Writes the export of the golden workspace `out` next to it as `<out>.jsonl` with the
/// binary's `export -o`, and returns it.
fn write_golden_export(out: &Path) -> String {
    let export = out.with_extension("jsonl");
    let status = Command::new(BIN)
        .args(["export", "-o", export.to_str().unwrap()])
        .env("AGENTRAIL_DIR", out)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::read_to_string(&export).unwrap()
}
