//! The `agentrail` command line as a user drives it: every command, its output, its exit code
//! and its hints. What a person reads is pinned by insta snapshots (temporary paths and repair's
//! timestamp directory are replaced by placeholders); what must hold whatever the wording is
//! asserted directly: exit codes, the line and field named for bad input, that a rejected
//! append writes nothing, that damage is named by file and byte offset.

mod common;

use common::segment_first_lsn;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_agentrail");
const SEGMENT_HEADER_BYTES: usize = 32;
const FRAME_HEADER_BYTES: usize = 24;

/// A temporary directory to run the binary in, with a workspace in `.agentrail` once
/// [`Dir::init`] ran.
struct Dir {
    temp: tempfile::TempDir,
}

impl Dir {
    fn new() -> Dir {
        Dir {
            temp: tempfile::tempdir().unwrap(),
        }
    }

    /// A directory with an initialized workspace of 64 KiB segments.
    fn initialized() -> Dir {
        let dir = Dir::new();
        dir.init(65536);
        dir
    }

    fn path(&self) -> &Path {
        self.temp.path()
    }

    fn journal_dir(&self) -> PathBuf {
        self.path().join(".agentrail").join("journal")
    }

    /// The binary with this directory as working directory and no agentrail variables
    /// inherited from the environment running the tests.
    fn command(&self) -> assert_cmd::Command {
        let mut command = assert_cmd::Command::new(BIN);
        command
            .current_dir(self.path())
            .env_remove("AGENTRAIL_DIR")
            .env_remove("AGENTRAIL_SYNC");
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command().args(args).output().unwrap()
    }

    fn run_with_stdin(&self, args: &[&str], stdin: impl Into<Vec<u8>>) -> Output {
        self.command()
            .args(args)
            .write_stdin(stdin.into())
            .output()
            .unwrap()
    }

    fn init(&self, segment_bytes: u64) {
        self.command()
            .args(["init", "--segment-bytes", &segment_bytes.to_string()])
            .assert()
            .success();
    }

    /// Appends lines through stdin and returns the LSNs printed.
    fn append(&self, lines: &[String]) -> Vec<u64> {
        let output = self.run_with_stdin(&["append"], lines.join("\n") + "\n");
        assert_eq!(exit_code(&output), 0, "{}", stderr(&output));
        stdout(&output)
            .lines()
            .map(|line| line.parse().unwrap())
            .collect()
    }

    /// The export, as text.
    fn export_text(&self) -> String {
        let output = self.run(&["export"]);
        assert_eq!(exit_code(&output), 0, "{}", stderr(&output));
        stdout(&output)
    }

    fn export(&self) -> Vec<Value> {
        self.export_text()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    /// Replaces this directory's path by `[TMP]` and repair's `damaged/<seconds>` by
    /// `damaged/[SECS]`.
    fn normalize(&self, text: &str) -> String {
        let canonical = self.path().canonicalize().unwrap();
        let text = text
            .replace(canonical.to_str().unwrap(), "[TMP]")
            .replace(self.path().to_str().unwrap(), "[TMP]");
        normalize_damaged_seconds(&text)
    }

    /// Exit code, stdout and stderr as one normalized text for a snapshot.
    fn render(&self, output: &Output) -> String {
        self.normalize(&format!(
            "exit: {}\n--- stdout\n{}--- stderr\n{}",
            exit_code(output),
            stdout(output),
            stderr(output)
        ))
    }

    fn segments(&self) -> Vec<PathBuf> {
        common::segment_paths(&self.journal_dir())
    }
}

fn exit_code(output: &Output) -> i32 {
    output.status.code().expect("the process was killed")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

fn normalize_damaged_seconds(text: &str) -> String {
    let marker = "damaged/";
    let mut result = String::new();
    let mut rest = text;
    while let Some(index) = rest.find(marker) {
        let (before, after) = rest.split_at(index + marker.len());
        result.push_str(before);
        let digits = after.chars().take_while(char::is_ascii_digit).count();
        if digits > 0 {
            result.push_str("[SECS]");
        }
        rest = &after[digits..];
    }
    result.push_str(rest);
    result
}

/// An event line with a fixed timestamp, so output is the same on every run.
fn event(index: usize) -> String {
    json!({
        "ts": "2026-01-02T03:04:05.000000Z",
        "type": "action",
        "session": "s-1",
        "data": {"description": "step", "index": index, "pad": "x".repeat(60 + index % 50)},
    })
    .to_string()
}

fn events(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(event).collect()
}

/// The offset of every frame in an active segment file.
fn frame_offsets(segment: &[u8]) -> Vec<usize> {
    let mut offsets = Vec::new();
    let mut position = SEGMENT_HEADER_BYTES;
    while position + FRAME_HEADER_BYTES <= segment.len() {
        offsets.push(position);
        let len = u32::from_le_bytes(segment[position + 4..position + 8].try_into().unwrap());
        position += FRAME_HEADER_BYTES + len as usize;
    }
    offsets
}

fn flip_byte(path: &Path, offset: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[offset] ^= 0x40;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn help_lists_every_command() {
    let dir = Dir::new();
    let output = dir.run(&["--help"]);
    assert_eq!(exit_code(&output), 0);
    insta::assert_snapshot!("help", dir.render(&output));
}

#[test]
fn usage_errors_exit_2() {
    let dir = Dir::new();
    for args in [
        &[][..],
        &["frobnicate"],
        &["export", "--bogus"],
        &["init", "--segment-bytes", "many"],
    ] {
        let output = dir.run(args);
        assert_eq!(exit_code(&output), 2, "{args:?}: {}", stderr(&output));
        assert!(!stderr(&output).is_empty(), "{args:?}");
    }
    assert!(!dir.path().join(".agentrail").exists());
}

#[test]
fn init_creates_the_workspace_and_says_where() {
    let dir = Dir::new();
    let output = dir.run(&["init", "--segment-bytes", "65536"]);
    assert_eq!(exit_code(&output), 0);
    insta::assert_snapshot!("init", dir.render(&output));
    let config: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join(".agentrail/config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(config, json!({"format_version": 1, "segment_bytes": 65536}));
    assert_eq!(dir.segments().len(), 1);
    assert_eq!(dir.export_text(), "");
}

#[test]
fn init_twice_exits_1_and_changes_nothing() {
    let dir = Dir::initialized();
    dir.append(&events(0..3));
    let config_before = std::fs::read(dir.path().join(".agentrail/config.json")).unwrap();
    let output = dir.run(&["init", "--segment-bytes", "4096"]);
    assert_eq!(exit_code(&output), 1);
    insta::assert_snapshot!("init_twice", dir.render(&output));
    let config_after = std::fs::read(dir.path().join(".agentrail/config.json")).unwrap();
    assert_eq!(config_before, config_after);
    assert_eq!(dir.export().len(), 3);
}

#[test]
fn init_with_a_segment_size_out_of_range_exits_2_and_creates_nothing() {
    let dir = Dir::new();
    for size in ["100", "4095", "1073741825"] {
        let output = dir.run(&["init", "--segment-bytes", size]);
        assert_eq!(exit_code(&output), 2, "{size}: {}", stderr(&output));
        assert!(
            !dir.path().join(".agentrail").exists(),
            "a failed init with --segment-bytes {size} left .agentrail behind"
        );
    }
    dir.command().arg("init").assert().success();
}

#[test]
fn init_honours_agentrail_dir() {
    let dir = Dir::new();
    let elsewhere = dir.path().join("elsewhere").join("trail");
    let output = dir
        .command()
        .arg("init")
        .env("AGENTRAIL_DIR", &elsewhere)
        .output()
        .unwrap();
    assert_eq!(exit_code(&output), 0, "{}", stderr(&output));
    insta::assert_snapshot!("init_agentrail_dir", dir.render(&output));
    assert!(elsewhere.join("config.json").is_file());
    assert!(!dir.path().join(".agentrail").exists());
}

#[test]
fn commands_without_a_workspace_exit_1_with_a_hint() {
    let dir = Dir::new();
    let ancestor = dir
        .path()
        .ancestors()
        .find(|ancestor| ancestor.join(".agentrail").is_dir());
    assert_eq!(
        ancestor, None,
        "a .agentrail directory above the test's temporary directory spoils this test"
    );
    let mut transcript = String::new();
    for args in [
        &["export"][..],
        &["verify"],
        &["verify", "--json"],
        &["repair"],
    ] {
        let output = dir.run(args);
        assert_eq!(exit_code(&output), 1, "{args:?}");
        assert!(
            stderr(&output).contains("hint: run `agentrail init`"),
            "{args:?}"
        );
        transcript += &format!("$ agentrail {}\n{}\n", args.join(" "), dir.render(&output));
    }
    let output = dir.run_with_stdin(&["append"], event(0));
    assert_eq!(exit_code(&output), 1);
    assert!(stderr(&output).contains("hint: run `agentrail init`"));
    transcript += &format!("$ agentrail append\n{}", dir.render(&output));
    insta::assert_snapshot!("no_workspace", transcript);
}

#[test]
fn agentrail_dir_naming_a_missing_directory_exits_1_with_a_hint() {
    let dir = Dir::new();
    let output = dir
        .command()
        .arg("export")
        .env("AGENTRAIL_DIR", dir.path().join("missing"))
        .output()
        .unwrap();
    assert_eq!(exit_code(&output), 1);
    insta::assert_snapshot!("agentrail_dir_missing", dir.render(&output));
}

#[test]
fn the_workspace_is_found_from_a_subdirectory_and_agentrail_dir_overrides_it() {
    let dir = Dir::initialized();
    let nested = dir.path().join("a").join("b");
    std::fs::create_dir_all(&nested).unwrap();
    let output = dir
        .command()
        .current_dir(&nested)
        .args(["append", "--event", &event(1)])
        .output()
        .unwrap();
    assert_eq!(exit_code(&output), 0, "{}", stderr(&output));
    assert_eq!(stdout(&output), "1\n");

    let other = dir.path().join("other");
    dir.command()
        .arg("init")
        .env("AGENTRAIL_DIR", &other)
        .assert()
        .success();
    dir.command()
        .current_dir(&nested)
        .env("AGENTRAIL_DIR", &other)
        .args(["append", "--event", &event(2)])
        .assert()
        .success()
        .stdout("1\n");
    let exported = dir.export();
    assert_eq!(exported.len(), 1);
    assert_eq!(exported[0]["data"]["index"], 1);
}

#[test]
fn append_prints_one_lsn_per_event_and_continues_the_sequence() {
    let dir = Dir::initialized();
    let output = dir.run_with_stdin(&["append"], events(0..3).join("\n") + "\n");
    assert_eq!(exit_code(&output), 0);
    insta::assert_snapshot!("append_three", dir.render(&output));
    // Blank lines are skipped, a last line without a newline counts.
    let output = dir.run_with_stdin(&["append"], format!("\n{}\n\n{}", event(3), event(4)));
    assert_eq!(exit_code(&output), 0, "{}", stderr(&output));
    assert_eq!(stdout(&output), "4\n5\n");
    dir.command()
        .args(["append", "--event", &event(5)])
        .assert()
        .success()
        .stdout("6\n");
    // No events at all: nothing to print, nothing written.
    dir.command()
        .arg("append")
        .write_stdin("\n\n")
        .assert()
        .success()
        .stdout("");
    let lsns: Vec<u64> = dir
        .export()
        .iter()
        .map(|event| event["lsn"].as_u64().unwrap())
        .collect();
    assert_eq!(lsns, (1..=6).collect::<Vec<_>>());
}

/// Whether each segment file is sealed (bit 0 of the header's flags at offset 12), and its
/// length, in log order.
fn segment_states(dir: &Dir) -> Vec<(bool, usize)> {
    let read = |path: &PathBuf| std::fs::read(path).unwrap();
    let state = |bytes: Vec<u8>| (bytes[12] & 1 == 1, bytes.len());
    dir.segments().iter().map(read).map(state).collect()
}

#[test]
fn a_large_import_ends_with_its_segment_sealed_and_a_small_one_leaves_it_active() {
    let dir = Dir::new();
    dir.init(64 * 1024);
    let file = dir.path().join("events.jsonl");
    // 10 events of about 150 bytes: under an eighth of a segment (8 KiB), no seal.
    std::fs::write(&file, events(0..10).join("\n") + "\n").unwrap();
    dir.command()
        .args(["import", "events.jsonl"])
        .assert()
        .success();
    let states = segment_states(&dir);
    assert_eq!(states.len(), 1);
    assert!(!states[0].0, "a small import sealed its segment");
    // 100 more are past 8 KiB: the segment is sealed, and an empty active one follows.
    std::fs::write(&file, events(10..110).join("\n") + "\n").unwrap();
    dir.command()
        .args(["import", "events.jsonl"])
        .assert()
        .success();
    let states = segment_states(&dir);
    assert_eq!(states.len(), 2, "{states:?}");
    assert!(
        states[0].0,
        "the large import left its segment raw: {states:?}"
    );
    assert_eq!(states[1], (false, SEGMENT_HEADER_BYTES));
    // `append` of many lines on stdin is a bulk append too.
    let lsns = dir.append(&events(110..210));
    assert_eq!(lsns, (111..=210).collect::<Vec<u64>>());
    let states = segment_states(&dir);
    assert_eq!(states.len(), 3, "{states:?}");
    assert!(states[1].0, "{states:?}");
    // A few lines more are a plain append.
    dir.append(&events(210..213));
    let states = segment_states(&dir);
    assert_eq!(states.len(), 3, "{states:?}");
    assert!(!states[2].0, "{states:?}");
    let exported = dir.export();
    assert_eq!(exported.len(), 213);
    for (index, line) in exported.iter().enumerate() {
        assert_eq!(line["data"]["index"], index, "{line}");
    }
    dir.command().arg("verify").assert().success();
}

#[test]
fn import_of_a_missing_file_is_bad_input_naming_it() {
    let dir = Dir::initialized();
    let output = dir.run(&["import", "no-such-file.jsonl"]);
    assert_eq!(exit_code(&output), 2, "{}", stderr(&output));
    assert!(
        stderr(&output).contains("no-such-file.jsonl"),
        "{}",
        stderr(&output)
    );
    assert_eq!(stdout(&output), "");
    assert_eq!(dir.export_text(), "");
}

/// One malformed event per case: the text, and the field the message must name.
fn bad_events() -> Vec<(&'static str, String, Option<&'static str>)> {
    vec![
        ("not JSON", r#"{"type":"action","data":"#.into(), None),
        ("not JSON either", "type=note".into(), None),
        ("an array", "[1,2]".into(), None),
        ("a string", r#""note""#.into(), None),
        ("a number", "42".into(), None),
        ("null", "null".into(), None),
        (
            "missing type",
            r#"{"data":{"description":"d"}}"#.into(),
            Some("type"),
        ),
        ("missing data", r#"{"type":"action"}"#.into(), Some("data")),
        (
            "data an array",
            r#"{"type":"action","data":[1]}"#.into(),
            Some("data"),
        ),
        (
            "data a string",
            r#"{"type":"action","data":"x"}"#.into(),
            Some("data"),
        ),
        (
            "data null",
            r#"{"type":"action","data":null}"#.into(),
            Some("data"),
        ),
        (
            "type a number",
            r#"{"type":7,"data":{"description":"d"}}"#.into(),
            Some("type"),
        ),
        (
            "type null",
            r#"{"type":null,"data":{"description":"d"}}"#.into(),
            Some("type"),
        ),
        (
            "type empty",
            r#"{"type":"","data":{"description":"d"}}"#.into(),
            Some("type"),
        ),
        (
            "type too long",
            json!({"type": "t".repeat(129), "data": {"description": "d"}}).to_string(),
            Some("type"),
        ),
        (
            "ts not a date",
            r#"{"type":"action","ts":"yesterday","data":{"description":"d"}}"#.into(),
            Some("ts"),
        ),
        (
            "ts without offset",
            r#"{"type":"action","ts":"2026-01-01T00:00:00","data":{"description":"d"}}"#.into(),
            Some("ts"),
        ),
        (
            "ts a number",
            r#"{"type":"action","ts":1700000000,"data":{"description":"d"}}"#.into(),
            Some("ts"),
        ),
        (
            "session a number",
            r#"{"type":"action","session":3,"data":{"description":"d"}}"#.into(),
            Some("session"),
        ),
        (
            "agent an object",
            r#"{"type":"action","agent":{},"data":{"description":"d"}}"#.into(),
            Some("agent"),
        ),
        (
            "unknown field",
            r#"{"type":"action","data":{"description":"d"},"extra":1}"#.into(),
            Some("extra"),
        ),
        (
            "misspelt field",
            r#"{"type":"action","Data":{}}"#.into(),
            Some("Data"),
        ),
    ]
}

#[test]
fn append_rejects_every_malformed_event_naming_line_and_field_and_writes_nothing() {
    let dir = Dir::initialized();
    dir.append(&events(0..2));
    let before = dir.export_text();
    let mut transcript = String::new();
    for (name, bad, field) in bad_events() {
        // The bad event is line 2; line 1 is good and must not be written either.
        let input = format!("{}\n{bad}\n", event(100));
        let output = dir.run_with_stdin(&["append"], input);
        let message = stderr(&output);
        assert_eq!(exit_code(&output), 2, "{name}: {message}");
        assert_eq!(stdout(&output), "", "{name}");
        assert!(message.contains("line 2"), "{name}: {message}");
        assert!(
            message.contains("nothing was appended"),
            "{name}: {message}"
        );
        match field {
            Some(field) => assert!(
                message.contains(&format!("field `{field}`")),
                "{name}: {message}"
            ),
            None => assert!(!message.contains("field `"), "{name}: {message}"),
        }
        assert_eq!(dir.export_text(), before, "{name}: something was written");
        transcript += &format!("{name}: {bad}\n{}", message);
    }
    insta::assert_snapshot!("append_bad_input", transcript);
}

#[test]
fn append_takes_the_object_after_json_as_the_event() {
    let dir = Dir::initialized();
    dir.command()
        .args(["append", "--json", &event(1)])
        .assert()
        .success()
        .stdout("{\"lsns\":[1]}\n");
    dir.command()
        .args(["append", "--json"])
        .write_stdin(event(2))
        .assert()
        .success()
        .stdout("{\"lsns\":[2]}\n");
    let output = dir.run(&["append", "--json", "{\"type\":\"action\"}"]);
    assert_eq!(exit_code(&output), 2, "{}", stderr(&output));
    assert!(
        stderr(&output).contains("field `data`"),
        "{}",
        stderr(&output)
    );
    // Not an object: the event parser's error for the argument, not clap's "unexpected
    // argument".
    let output = dir.run(&["append", "--json", "[1]"]);
    assert_eq!(exit_code(&output), 2, "{}", stderr(&output));
    assert!(
        stderr(&output).contains("--event: an event must be a JSON object"),
        "{}",
        stderr(&output)
    );
    let indexes: Vec<_> = dir
        .export()
        .iter()
        .map(|e| e["data"]["index"].clone())
        .collect();
    assert_eq!(indexes, [1, 2]);
}

#[test]
fn append_rejects_a_bad_json_argument() {
    let dir = Dir::initialized();
    for (name, bad, field) in bad_events() {
        let output = dir.run(&["append", "--event", &bad]);
        let message = stderr(&output);
        assert_eq!(exit_code(&output), 2, "{name}: {message}");
        assert!(message.contains("--event"), "{name}: {message}");
        assert!(!message.contains("line 1"), "{name}: {message}");
        if let Some(field) = field {
            assert!(
                message.contains(&format!("field `{field}`")),
                "{name}: {message}"
            );
        }
    }
    assert_eq!(dir.export_text(), "");
}

#[test]
fn append_rejects_input_that_is_not_utf8() {
    let dir = Dir::initialized();
    let mut input = (event(0) + "\n").into_bytes();
    input.extend_from_slice(b"{\"type\":\"note\",\"data\":{\"x\":\"\xff\xfe\"}}\n");
    let output = dir.run_with_stdin(&["append"], input);
    assert_eq!(exit_code(&output), 2, "{}", stderr(&output));
    assert!(stderr(&output).contains("line 2"), "{}", stderr(&output));
    assert_eq!(dir.export_text(), "");
}

#[test]
fn a_bad_third_line_of_five_writes_none_of_the_five() {
    let dir = Dir::initialized();
    let earlier = dir.append(&events(0..4));
    assert_eq!(earlier, vec![1, 2, 3, 4]);
    let before = dir.export_text();
    let mut lines = events(10..15);
    lines[2] =
        r#"{"type":"action","ts":"2026-13-45T00:00:00Z","data":{"description":"d","index":12}}"#
            .into();
    let output = dir.run_with_stdin(&["append"], lines.join("\n") + "\n");
    assert_eq!(exit_code(&output), 2);
    assert_eq!(stdout(&output), "");
    assert!(
        stderr(&output).contains("line 3, field `ts`"),
        "{}",
        stderr(&output)
    );
    insta::assert_snapshot!("append_bad_line_3_of_5", dir.render(&output));
    assert_eq!(dir.export_text(), before);
    // The next good append continues right after the earlier one.
    assert_eq!(dir.append(&events(20..21)), vec![5]);
}

/// Values `event` and `commit` refuse as options, as JSON fields, with the field each names.
fn values_the_cli_refuses() -> Vec<(&'static str, &'static str)> {
    vec![
        (
            r#"{"type":"llm_call","data":{"model":" ","input_tokens":1,"output_tokens":1}}"#,
            "data.model",
        ),
        (
            r#"{"type":"tool_output","data":{"tool":"","exit_code":0}}"#,
            "data.tool",
        ),
        (
            r#"{"type":"tool_output","data":{"tool":"t","exit_code":2147483648}}"#,
            "data.exit_code",
        ),
        (
            r#"{"type":"tool_output","data":{"tool":"t","exit_code":-2147483649}}"#,
            "data.exit_code",
        ),
        (
            r#"{"type":"git_diff","data":{"diff":"","files":["a"]}}"#,
            "data.diff",
        ),
        (
            r#"{"type":"git_diff","data":{"diff":"+x","files":["a",""]}}"#,
            "data.files[1]",
        ),
        (
            r#"{"type":"decision","data":{"choice":"c","rationale":" \n"}}"#,
            "data.rationale",
        ),
        (
            r#"{"type":"decision","data":{"choice":"c","options":[""]}}"#,
            "data.options[0]",
        ),
        (
            r#"{"type":"commit","data":{"kind":"append","message":"m","content":""}}"#,
            "data.content",
        ),
        (
            r#"{"type":"commit","data":{"kind":"pin","message":"m","content":"  "}}"#,
            "data.content",
        ),
    ]
}

#[test]
fn import_and_append_refuse_what_event_and_commit_refuse() {
    let dir = Dir::initialized();
    // The walkthrough's input: five lines, each bad, all imported with exit 0 before.
    let walkthrough = [
        r#"{"type":"llm_call","data":{"model":" ","input_tokens":1,"output_tokens":1}}"#,
        r#"{"type":"tool_output","data":{"tool":"","exit_code":2147483648}}"#,
        r#"{"type":"git_diff","data":{"diff":"","files":[""]}}"#,
        r#"{"type":"decision","data":{"choice":"c","rationale":"","options":[""]}}"#,
        r#"{"type":"commit","data":{"kind":"append","message":"m","content":""}}"#,
    ];
    let output = dir.run_with_stdin(&["import", "-"], walkthrough.join("\n") + "\n");
    assert_eq!(exit_code(&output), 2, "{}", stderr(&output));
    assert_eq!(
        stderr(&output).trim(),
        "agentrail: line 1, field `data.model`: must not be empty or only whitespace; nothing was appended"
    );
    for (bad, field) in values_the_cli_refuses() {
        // The bad event is line 2; line 1 is good and must not be written either.
        let input = format!("{}\n{bad}\n", event(0));
        for args in [&["import", "-"][..], &["append"][..]] {
            let output = dir.run_with_stdin(args, input.clone());
            let message = stderr(&output);
            assert_eq!(exit_code(&output), 2, "{args:?} {bad}: {message}");
            assert!(
                message.contains(&format!("line 2, field `{field}`")),
                "{args:?} {bad}: {message}"
            );
        }
        let output = dir.run(&["append", "--event", bad]);
        assert_eq!(exit_code(&output), 2, "{bad}: {}", stderr(&output));
    }
    assert_eq!(dir.export_text(), "");
    // What the rules leave alone still imports: the extremes of an exit code, an empty failure
    // message, and an empty stat, command, stream or list.
    let good = [
        r#"{"type":"tool_output","data":{"tool":"t","command":"","stdout":"","exit_code":2147483647}}"#,
        r#"{"type":"tool_output","data":{"tool":"t","exit_code":-2147483648}}"#,
        r#"{"type":"git_diff","data":{"diff":"+x","stat":"","files":[]}}"#,
        r#"{"type":"decision","data":{"choice":"c","options":[]}}"#,
        r#"{"type":"failure","data":{"error_type":"AssertionError","message":""}}"#,
    ];
    let output = dir.run_with_stdin(&["import", "-"], good.join("\n") + "\n");
    assert_eq!(exit_code(&output), 0, "{}", stderr(&output));
    assert_eq!(dir.export().len(), good.len());
}

#[test]
fn a_bogus_sync_mode_exits_2_and_the_valid_modes_work() {
    let dir = Dir::initialized();
    let output = dir
        .command()
        .args(["append", "--event", &event(0)])
        .env("AGENTRAIL_SYNC", "bogus")
        .output()
        .unwrap();
    assert_eq!(exit_code(&output), 2);
    insta::assert_snapshot!("sync_bogus", dir.render(&output));
    let output = dir
        .command()
        .arg("export")
        .env("AGENTRAIL_SYNC", "sometimes")
        .output()
        .unwrap();
    assert_eq!(exit_code(&output), 2);
    assert!(stderr(&output).contains("AGENTRAIL_SYNC"));
    assert_eq!(dir.export_text(), "");
    for (index, mode) in ["always", "batch", "never", ""].into_iter().enumerate() {
        dir.command()
            .args(["append", "--event", &event(index)])
            .env("AGENTRAIL_SYNC", mode)
            .assert()
            .success()
            .stdout(format!("{}\n", index + 1));
    }
    assert_eq!(dir.export().len(), 4);
}

#[test]
fn a_sync_mode_is_taken_in_any_case_as_agentrail_off_is() {
    let dir = Dir::initialized();
    for (index, mode) in ["ALWAYS", "Batch", "nEVER"].into_iter().enumerate() {
        let output = dir
            .command()
            .args(["append", "--event", &event(index)])
            .env("AGENTRAIL_SYNC", mode)
            .output()
            .unwrap();
        assert_eq!(exit_code(&output), 0, "{mode}: {}", stderr(&output));
    }
    assert_eq!(dir.export().len(), 3);
}

#[test]
fn a_config_of_an_unknown_format_version_exits_2_naming_file_field_and_versions() {
    let dir = Dir::initialized();
    let config = dir.path().join(".agentrail/config.json");
    std::fs::write(
        &config,
        "{\n  \"format_version\": 2,\n  \"segment_bytes\": 65536\n}\n",
    )
    .unwrap();
    for args in [&["export"][..], &["append", "--event", &event(0)][..]] {
        let output = dir.run(args);
        assert_eq!(exit_code(&output), 2, "{args:?}: {}", stderr(&output));
        assert_eq!(
            dir.normalize(&stderr(&output)).trim(),
            "agentrail: [TMP]/.agentrail/config.json: field `format_version`: version 2 is not one this agentrail reads (it reads version 1)",
            "{args:?}"
        );
    }
    std::fs::write(
        &config,
        "{\n  \"format_version\": 1,\n  \"segment_bytes\": 65536\n}\n",
    )
    .unwrap();
    assert_eq!(dir.export_text(), "");
}

#[test]
fn export_round_trips_every_field_as_appended_plus_lsn() {
    let dir = Dir::initialized();
    let inputs = [
        json!({"ts": "2026-01-02T03:04:05.123456Z", "type": "decision", "session": "s1", "agent": "planner", "data": {"choice": "héllo, 世界 🌍", "options": ["a", "b"]}}),
        json!({"ts": "1969-07-20T20:17:40.000000Z", "type": "action", "data": {"description": "d"}}),
        json!({"ts": "2026-01-02T03:04:05.000001Z", "type": "tool_output", "session": "s1", "data": {"tool": "t", "z": 1, "a": {"nested": {"deep": [1, [2, [3, {"k": null}]]]}}, "m": true}}),
        json!({"ts": "2026-01-02T03:04:05.000000Z", "type": "task", "agent": "calc", "data": {"id": "n", "status": "done", "max_u64": u64::MAX, "min_i64": i64::MIN, "neg": -42, "float": 1.5, "small": -0.25, "pi": std::f64::consts::PI, "zero": 0}}),
        json!({"ts": "2026-01-02T03:04:05.000000Z", "type": "action", "data": {"description": "escapes", "quote": "\"", "newline": "a\nb", "nul": "\u{0}", "tab": "\t"}}),
    ];
    let lines: Vec<String> = inputs.iter().map(Value::to_string).collect();
    assert_eq!(dir.append(&lines), vec![1, 2, 3, 4, 5]);
    let exported = dir.export();
    assert_eq!(exported.len(), inputs.len());
    for (index, (input, output)) in inputs.iter().zip(&exported).enumerate() {
        let mut expected = serde_json::Map::new();
        expected.insert("lsn".into(), json!(index + 1));
        expected.extend(input.as_object().unwrap().clone());
        assert_eq!(output, &Value::Object(expected));
    }
    insta::assert_snapshot!("export_round_trip", dir.export_text());
}

#[test]
fn export_normalizes_timestamps_to_utc_and_stamps_events_without_one() {
    let dir = Dir::initialized();
    let lines = [
        r#"{"type":"action","ts":"2026-01-02T03:04:05+05:30","data":{"description":"d"}}"#.to_string(),
        r#"{"type":"action","ts":"2026-01-02T03:04:05.5-01:00","data":{"description":"d"}}"#.to_string(),
        r#"{"type":"action","ts":null,"session":null,"agent":null,"data":{"description":"d"},"lsn":77}"#.to_string(),
        r#"{"type":"action","data":{"description":"d"}}"#.to_string(),
    ];
    assert_eq!(dir.append(&lines), vec![1, 2, 3, 4]);
    let exported = dir.export();
    assert_eq!(exported[0]["ts"], "2026-01-01T21:34:05.000000Z");
    assert_eq!(exported[1]["ts"], "2026-01-02T04:04:05.500000Z");
    assert_eq!(exported[2]["lsn"], 3, "an lsn in the input is ignored");
    assert_eq!(
        exported[2].as_object().unwrap().keys().collect::<Vec<_>>(),
        ["lsn", "ts", "type", "data"],
        "null session and agent are left out"
    );
    for stamped in &exported[2..] {
        let ts = stamped["ts"].as_str().unwrap();
        assert!(ts.ends_with('Z') && ts.len() == 27, "{ts}");
        chrono::DateTime::parse_from_rfc3339(ts).unwrap();
    }
}

#[test]
fn export_to_a_file_writes_the_same_lines_and_only_says_so_on_stdout() {
    let dir = Dir::initialized();
    dir.append(&events(0..50));
    let file = dir.path().join("out.jsonl");
    let output = dir.run(&["export", "-o", file.to_str().unwrap()]);
    assert_eq!(exit_code(&output), 0, "{}", stderr(&output));
    let said = format!("exported 50 events to {}\n", file.display());
    assert_eq!(stdout(&output), said);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), dir.export_text());
    let output = dir.run(&["export", "--output", "no/such/dir/out.jsonl"]);
    assert_eq!(exit_code(&output), 1);
    assert!(
        stderr(&output).contains("no/such/dir/out.jsonl"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn export_reads_across_sealed_segments() {
    let dir = Dir::initialized();
    let mut expected = Vec::new();
    for batch in 0..5 {
        expected.extend(dir.append(&events(batch * 300..(batch + 1) * 300)));
    }
    assert!(dir.segments().len() >= 4, "{:?}", dir.segments());
    let exported = dir.export();
    assert_eq!(exported.len(), 1500);
    for (index, event) in exported.iter().enumerate() {
        assert_eq!(event["lsn"], index + 1);
        assert_eq!(event["data"]["index"], index);
    }
}

#[test]
fn verify_and_repair_report_a_sound_journal() {
    let dir = Dir::initialized();
    dir.append(&events(0..1000));
    let mut transcript = String::new();
    for args in [
        &["verify"][..],
        &["verify", "--json"],
        &["repair"],
        &["repair", "--json"],
    ] {
        let output = dir.run(args);
        assert_eq!(exit_code(&output), 0, "{args:?}: {}", stderr(&output));
        transcript += &format!("$ agentrail {}\n{}\n", args.join(" "), dir.render(&output));
    }
    insta::assert_snapshot!("verify_repair_sound", transcript);
    let report: Value = serde_json::from_slice(&dir.run(&["verify", "--json"]).stdout).unwrap();
    assert_eq!(report["ok"], true);
    assert_eq!(report["records"], 1000);
    assert_eq!(report["last_good_lsn"], 1000);
    assert_eq!(dir.export().len(), 1000);
}

#[test]
fn verify_reports_a_torn_tail_and_the_next_append_truncates_it() {
    let dir = Dir::initialized();
    dir.append(&events(0..3));
    let active = dir.segments().pop().unwrap();
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&active)
        .unwrap();
    file.write_all(&[0xAB; 17]).unwrap();
    drop(file);
    let verify = dir.run(&["verify"]);
    assert_eq!(exit_code(&verify), 0, "a torn tail is not damage");
    let append = dir.run(&["append", "--event", &event(3)]);
    assert_eq!(exit_code(&append), 0, "{}", stderr(&append));
    assert_eq!(stdout(&append), "4\n");
    let transcript = format!(
        "$ agentrail verify\n{}\n$ agentrail append\n{}",
        dir.render(&verify),
        dir.render(&append)
    );
    insta::assert_snapshot!("torn_tail", transcript);
    assert_eq!(dir.export().len(), 4);
    dir.command().arg("verify").assert().success();
}

#[test]
fn verify_counts_records_and_names_their_lsns_only_when_there_are_some() {
    let dir = Dir::initialized();
    let ok = |expected: &str| {
        dir.command()
            .arg("verify")
            .assert()
            .success()
            .stdout(predicates::str::starts_with(expected));
    };
    ok("ok: 1 segment, 0 records, ");
    dir.command()
        .args(["append", "--event", &event(1)])
        .assert()
        .success();
    ok("ok: 1 segment, 1 record (LSN 1 to 1), ");
}

#[test]
fn a_flipped_byte_in_a_sealed_segment_is_named_then_repaired() {
    let dir = Dir::initialized();
    dir.append(&events(0..2000));
    let segments = dir.segments();
    assert!(segments.len() >= 4, "{segments:?}");
    let damaged = segments[1].clone();
    let damaged_first_lsn = segment_first_lsn(&damaged);
    // Offset 40 is inside block 0, which starts right after the 32-byte segment header.
    flip_byte(&damaged, 40);
    let damaged_bytes = std::fs::read(&damaged).unwrap();

    let verify = dir.run(&["verify"]);
    assert_eq!(exit_code(&verify), 2);
    let name = damaged.file_name().unwrap().to_str().unwrap();
    assert!(
        stdout(&verify).contains(&format!("{name} at byte offset 32")),
        "{}",
        stdout(&verify)
    );
    let report: Value = serde_json::from_slice(&dir.run(&["verify", "--json"]).stdout).unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(
        report["problems"][0]["segment"],
        damaged.canonicalize().unwrap().to_str().unwrap()
    );
    assert_eq!(report["problems"][0]["offset"], 32);
    assert_eq!(report["last_good_lsn"], damaged_first_lsn - 1);

    let export = dir.run(&["export"]);
    assert_eq!(exit_code(&export), 2, "export stops at the damage");
    assert!(stderr(&export).contains(name), "{}", stderr(&export));

    let repair = dir.run(&["repair"]);
    assert_eq!(exit_code(&repair), 0, "{}", stderr(&repair));
    let moved_count = segments.len() - 1;
    assert!(
        stdout(&repair).contains(&format!("dropped LSN {} to 2000", damaged_first_lsn)),
        "{}",
        stdout(&repair)
    );
    let transcript = format!(
        "$ agentrail verify\n{}\n$ agentrail repair\n{}",
        dir.render(&verify),
        dir.render(&repair)
    );
    insta::assert_snapshot!("damaged_sealed_segment", transcript);

    // Every segment from the damaged one on is under damaged/<seconds>/, byte for byte.
    let damaged_root = dir.path().join(".agentrail").join("damaged");
    let aside: Vec<PathBuf> = std::fs::read_dir(&damaged_root)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert_eq!(aside.len(), 1);
    assert!(aside[0]
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .parse::<u64>()
        .is_ok());
    let moved: Vec<String> = std::fs::read_dir(&aside[0])
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(moved.len(), moved_count, "{moved:?}");
    assert_eq!(std::fs::read(aside[0].join(name)).unwrap(), damaged_bytes);

    dir.command().arg("verify").assert().success();
    let last_good = damaged_first_lsn - 1;
    assert_eq!(
        dir.append(&events(5000..5002)),
        vec![last_good + 1, last_good + 2]
    );
    let exported = dir.export();
    assert_eq!(exported.len() as u64, last_good + 2);
    for (index, event) in exported.iter().enumerate() {
        assert_eq!(event["lsn"], index + 1);
    }
    assert_eq!(exported[last_good as usize]["data"]["index"], 5000);
    dir.command().arg("verify").assert().success();
}

/// Damages the payload of record `lsn` in the active segment of a journal holding `count`
/// events, none of them sealed; returns the damaged record's byte offset. The events go in
/// appends of 25, well under the 8 KiB after which a bulk append seals the segment.
fn damage_active_record(dir: &Dir, count: usize, lsn: usize) -> usize {
    for start in (0..count).step_by(25) {
        dir.append(&events(start..count.min(start + 25)));
    }
    let active = dir.segments().pop().unwrap();
    let bytes = std::fs::read(&active).unwrap();
    let offsets = frame_offsets(&bytes);
    assert_eq!(offsets.len(), count);
    let offset = offsets[lsn - 1];
    flip_byte(&active, offset + FRAME_HEADER_BYTES + 5);
    offset
}

#[test]
fn a_flipped_byte_in_the_active_segment_stops_appends_until_repair() {
    let dir = Dir::initialized();
    let offset = damage_active_record(&dir, 50, 20);
    let name = "00000000000000000001.seg";

    let verify = dir.run(&["verify"]);
    assert_eq!(exit_code(&verify), 2);
    assert!(
        stdout(&verify).contains(&format!("{name} at byte offset {offset}")),
        "{}",
        stdout(&verify)
    );
    let append = dir.run(&["append", "--event", &event(999)]);
    assert_eq!(
        exit_code(&append),
        2,
        "appending to a damaged log must fail"
    );
    assert!(
        stderr(&append).contains(&format!("byte offset {offset}")),
        "{}",
        stderr(&append)
    );
    assert!(
        stderr(&append).contains("hint: run `agentrail verify`"),
        "{}",
        stderr(&append)
    );
    insta::assert_snapshot!("damaged_active_segment_append", dir.render(&append));

    let repair = dir.run(&["repair", "--json"]);
    assert_eq!(exit_code(&repair), 0, "{}", stderr(&repair));
    let report: Value = serde_json::from_slice(&repair.stdout).unwrap();
    assert_eq!(report["last_lsn"], 19);
    assert_eq!(report["problems"][0]["offset"], offset);
    assert_eq!(report["moved"].as_array().unwrap().len(), 1);
    dir.command().arg("verify").assert().success();
    assert_eq!(dir.append(&events(100..101)), vec![20]);
    let exported = dir.export();
    assert_eq!(exported.len(), 20);
    assert_eq!(exported[18]["data"]["index"], 18);
    assert_eq!(exported[19]["data"]["index"], 100);
}

#[test]
fn repair_of_a_damaged_active_segment_reports_every_dropped_lsn() {
    let dir = Dir::initialized();
    damage_active_record(&dir, 50, 20);
    let repair = dir.run(&["repair"]);
    assert_eq!(exit_code(&repair), 0, "{}", stderr(&repair));
    // LSNs 20 to 50 were in the segment moved aside: all of them are gone from the log.
    assert!(
        stdout(&repair).contains("dropped LSN 20 to 50"),
        "{}",
        stdout(&repair)
    );
}

#[test]
fn verify_of_a_damaged_active_segment_counts_the_good_records_before_the_damage() {
    let dir = Dir::initialized();
    damage_active_record(&dir, 50, 20);
    let verify = dir.run(&["verify", "--json"]);
    assert_eq!(exit_code(&verify), 2);
    let report: Value = serde_json::from_slice(&verify.stdout).unwrap();
    // Records 1 to 19 pass every check, and `repair` keeps exactly them.
    assert_eq!(report["last_good_lsn"], 19, "{report}");
    let verify = dir.run(&["verify"]);
    assert!(
        stdout(&verify).contains("the log is good through LSN 19"),
        "{}",
        stdout(&verify)
    );
}

#[test]
fn a_file_that_is_not_part_of_the_log_is_named_and_repair_moves_only_it() {
    let dir = Dir::initialized();
    dir.append(&events(0..30));
    let stray = dir
        .path()
        .join(".agentrail/journal/00000000000099999999.seg");
    std::fs::write(&stray, b"junk").unwrap();
    let status = dir.run(&["status"]);
    assert_eq!(exit_code(&status), 2);
    assert!(
        stderr(&status).contains("00000000000099999999.seg"),
        "{}",
        stderr(&status)
    );
    let verify = dir.run(&["verify"]);
    assert_eq!(exit_code(&verify), 2);
    insta::assert_snapshot!(stdout(&verify).replace(&dir.path().display().to_string(), "DIR"), @r"
    corruption: DIR/.agentrail/journal/00000000000099999999.seg at byte offset 0: not part of the log (segment header needs 32 bytes, file has 4); the log ends in 00000000000000000001.seg, which is not sealed
    the log is good through LSN 30; `agentrail repair` moves the file that is not part of the log aside and keeps every record
    ");
    let repair = dir.run(&["repair"]);
    assert_eq!(exit_code(&repair), 0, "{}", stderr(&repair));
    let printed = stdout(&repair);
    let moved: Vec<&str> = (printed.lines())
        .filter(|line| line.starts_with("moved "))
        .collect();
    assert_eq!(moved.len(), 1, "{printed}");
    assert!(
        moved[0].contains("00000000000099999999.seg"),
        "{}",
        moved[0]
    );
    assert!(!stray.exists());
    let export = dir.run(&["export"]);
    assert_eq!(exit_code(&export), 0, "{}", stderr(&export));
    assert_eq!(stdout(&export).lines().count(), 30);
}

#[test]
fn a_command_that_waits_for_another_process_says_why_once() {
    let dir = Dir::initialized();
    let append = [
        "append",
        "--json",
        r#"{"type":"decision","data":{"choice":"x"}}"#,
    ];
    // Held as another process holds it: through a file description of its own.
    let holder = std::fs::File::open(dir.journal_dir().join("LOCK")).unwrap();
    holder.lock().unwrap();
    let output = std::thread::scope(|scope| {
        let waiting = scope.spawn(|| dir.run(&append));
        std::thread::sleep(std::time::Duration::from_secs(3));
        assert!(!waiting.is_finished(), "the append waits for the lock");
        holder.unlock().unwrap();
        waiting.join().unwrap()
    });
    assert_eq!(exit_code(&output), 0, "{}", stderr(&output));
    assert_eq!(stdout(&output), "{\"lsns\":[1]}\n");
    assert_eq!(
        stderr(&output),
        "agentrail: waiting for the journal: another agentrail process is writing to it (a large import takes seconds)\n"
    );
    // With the lock free, nothing is said.
    let quick = dir.run(&append);
    assert_eq!((exit_code(&quick), stderr(&quick)), (0, String::new()));
}

#[test]
fn export_into_a_closed_pipe_exits_0() {
    let dir = Dir::initialized();
    // Far more than a pipe buffer and export's own buffer hold.
    for batch in 0..4 {
        dir.append(&events(batch * 1000..(batch + 1) * 1000));
    }
    let mut child = std::process::Command::new(BIN)
        .arg("export")
        .current_dir(dir.path())
        .env_remove("AGENTRAIL_DIR")
        .env_remove("AGENTRAIL_SYNC")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    reader.read_line(&mut first).unwrap();
    drop(reader);
    let output = child.wait_with_output().unwrap();
    assert!(first.starts_with(r#"{"lsn":1,"#), "{first}");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stderr(&output), "");
}

#[test]
fn verify_and_repair_into_a_closed_pipe_exit_0() {
    let dir = Dir::initialized();
    dir.append(&events(0..10));
    for args in [
        &["verify"][..],
        &["verify", "--json"],
        &["repair"],
        &["repair", "--json"],
    ] {
        let mut child = std::process::Command::new(BIN)
            .args(args)
            .current_dir(dir.path())
            .env_remove("AGENTRAIL_DIR")
            .env_remove("AGENTRAIL_SYNC")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Closed before the command has read the journal, so its first write finds no reader.
        drop(child.stdout.take());
        let output = child.wait_with_output().unwrap();
        assert_eq!(
            output.status.code(),
            Some(0),
            "{args:?}: {}",
            stderr(&output)
        );
        assert_eq!(stderr(&output), "", "{args:?}");
    }
}
