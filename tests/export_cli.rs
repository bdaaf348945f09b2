//! `agentrail export` of a damaged journal, through the binary: it salvages every event before
//! the first damage, in LSN order, as valid JSON lines (on stdout or in `-o FILE`), names the
//! damage by segment file and byte offset on stderr with how many events came before it, exits
//! 2, and leaves every file of the journal byte for byte as it was: no truncation, no damage
//! marker, no new segment. A torn tail alone is still truncated and reported, as before.

mod common;
#[path = "common/workspace_dir.rs"]
mod workspace_dir;

use common::{active_frames, sealed_layout, segment_first_lsn, segment_names, DiskImage};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Output;
use workspace_dir::{text, Dir};

/// An event line with a fixed timestamp, so that output is the same on every run.
fn event(index: usize) -> String {
    json!({
        "ts": "2026-01-02T03:04:05.000000Z",
        "type": "action",
        "data": {"description": "step", "index": index, "pad": "x".repeat(60 + index % 50)},
    })
    .to_string()
}

/// A workspace holding `count` events, and their export while the journal is sound.
fn journal_of(count: usize) -> (Dir, Vec<String>) {
    let dir = Dir::initialized_with_sync(Some("never"));
    let lines: Vec<String> = (0..count).map(event).collect();
    dir.import(&(lines.join("\n") + "\n"));
    let sound = dir.ok(&["export"]).lines().map(String::from).collect();
    (dir, sound)
}

fn journal_dir(dir: &Dir) -> PathBuf {
    dir.path().join(".agentrail").join("journal")
}

fn flip(path: &Path, offset: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[offset] ^= 0xff;
    std::fs::write(path, bytes).unwrap();
}

/// Damages the header of the record of LSN `lsn` in the active segment, with valid records
/// after it; returns the segment and the record's byte offset.
fn damage_active_record(dir: &Dir, lsn: u64) -> (PathBuf, usize) {
    let segment = journal_dir(dir).join(segment_names(&journal_dir(dir)).pop().unwrap());
    let frames = active_frames(&std::fs::read(&segment).unwrap());
    let frame = frames.iter().find(|frame| frame.lsn == lsn).unwrap();
    flip(&segment, frame.start + 2);
    (segment, frame.start)
}

fn exit_code(output: &Output) -> i32 {
    output.status.code().expect("the process was killed")
}

/// Asserts that `output` is exactly the first `count` lines of the sound export.
fn assert_prefix(output: &str, sound: &[String], count: usize) {
    let lines: Vec<&str> = output.lines().collect();
    assert_eq!(lines.len(), count, "{output}");
    for (index, line) in lines.iter().enumerate() {
        assert_eq!(*line, sound[index], "line {}", index + 1);
        let event: Value = serde_json::from_str(line).unwrap();
        assert_eq!(event["lsn"], index + 1);
    }
    assert!(
        output.is_empty() || output.ends_with('\n'),
        "a partial last line"
    );
}

#[test]
fn export_salvages_the_events_before_damage_in_the_active_segment() {
    let (dir, sound) = journal_of(10);
    let (segment, offset) = damage_active_record(&dir, 4);
    let before = DiskImage::capture(&journal_dir(&dir));

    let output = dir.run(&["export"]);
    assert_eq!(exit_code(&output), 2);
    assert_prefix(&text(&output.stdout), &sound, 3);
    let stderr = text(&output.stderr);
    let name = segment.file_name().unwrap().to_str().unwrap();
    assert!(
        stderr.contains(&format!("{name} at byte offset {offset}")),
        "{stderr}"
    );
    assert!(
        stderr.contains("stopped after exporting 3 events (through LSN 3)"),
        "{stderr}"
    );
    insta::assert_snapshot!("export_damaged_active_segment", dir.render(&output));
    assert_eq!(DiskImage::capture(&journal_dir(&dir)), before);

    // What verify calls the good log is what export wrote.
    let verify = dir.run(&["--json", "verify"]);
    let report: Value = serde_json::from_slice(&verify.stdout).unwrap();
    assert_eq!(report["last_good_lsn"], 3);
}

#[test]
fn export_to_a_file_holds_the_salvaged_prefix_and_json_names_the_damage() {
    let (dir, sound) = journal_of(10);
    let (segment, offset) = damage_active_record(&dir, 6);
    let before = DiskImage::capture(&journal_dir(&dir));

    let output = dir.run(&["export", "-o", "out.jsonl"]);
    assert_eq!(exit_code(&output), 2);
    assert_eq!(text(&output.stdout), "");
    assert!(text(&output.stderr).contains(&format!("byte offset {offset}")));
    let written = std::fs::read_to_string(dir.path().join("out.jsonl")).unwrap();
    assert_prefix(&written, &sound, 5);

    let output = dir.run(&["--json", "export", "-o", "again.jsonl"]);
    assert_eq!(exit_code(&output), 2);
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["exported"], 5);
    assert_eq!(report["last_lsn"], 5);
    assert_eq!(
        report["damage"]["segment"],
        segment.canonicalize().unwrap().to_str().unwrap()
    );
    assert_eq!(report["damage"]["offset"], offset);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("again.jsonl")).unwrap(),
        written
    );

    // Without --json, stdout gets the lines themselves and nothing else.
    let output = dir.run(&["--json", "export"]);
    assert_eq!(exit_code(&output), 2);
    assert_eq!(text(&output.stdout), written);
    assert_eq!(DiskImage::capture(&journal_dir(&dir)), before);
}

#[test]
fn export_salvages_every_segment_before_a_bad_block_of_a_sealed_one() {
    let (dir, sound) = journal_of(2000);
    let journal = journal_dir(&dir);
    let names = segment_names(&journal);
    assert!(names.len() >= 4, "{names:?}");
    let damaged = journal.join(&names[1]);
    let first_lsn = segment_first_lsn(&damaged) as usize;
    let (block_offset, block_len) = sealed_layout(&std::fs::read(&damaged).unwrap()).blocks[0];
    flip(&damaged, block_offset + block_len / 2);
    let before = DiskImage::capture(&journal);

    let output = dir.run(&["export"]);
    assert_eq!(exit_code(&output), 2);
    assert_prefix(&text(&output.stdout), &sound, first_lsn - 1);
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(&format!("{} at byte offset {block_offset}", names[1])),
        "{stderr}"
    );
    assert_eq!(
        DiskImage::capture(&journal),
        before,
        "export wrote a damage marker or changed a segment"
    );
}

#[test]
fn export_with_a_damage_marker_salvages_what_reads_and_exits_2() {
    let (dir, sound) = journal_of(10);
    let (_, offset) = damage_active_record(&dir, 8);
    // An earlier reader (verify here) left the marker.
    assert_eq!(exit_code(&dir.run(&["verify"])), 2);
    assert!(journal_dir(&dir).join("DAMAGED").exists());
    let before = DiskImage::capture(&journal_dir(&dir));
    let output = dir.run(&["export"]);
    assert_eq!(exit_code(&output), 2);
    assert_prefix(&text(&output.stdout), &sound, 7);
    assert!(text(&output.stderr).contains(&format!("byte offset {offset}")));
    assert_eq!(DiskImage::capture(&journal_dir(&dir)), before);
}

#[test]
fn export_of_a_log_that_reads_whole_but_is_marked_damaged_exits_2_naming_the_marker() {
    let (dir, sound) = journal_of(10);
    let marker = "corruption in elsewhere.seg at byte offset 77: seen by an earlier reader";
    std::fs::write(journal_dir(&dir).join("DAMAGED"), format!("{marker}\n")).unwrap();
    let before = DiskImage::capture(&journal_dir(&dir));
    let output = dir.run(&["export"]);
    assert_eq!(exit_code(&output), 2);
    assert_prefix(&text(&output.stdout), &sound, 10);
    let stderr = text(&output.stderr);
    assert!(stderr.contains(marker), "{stderr}");
    assert!(
        stderr.contains("stopped after exporting 10 events"),
        "{stderr}"
    );
    assert_eq!(DiskImage::capture(&journal_dir(&dir)), before);
}

#[test]
fn export_under_agentrail_off_salvages_too() {
    let (dir, sound) = journal_of(10);
    damage_active_record(&dir, 4);
    let before = DiskImage::capture(&journal_dir(&dir));
    let output = dir.run_env(&["export"], &[("AGENTRAIL", "off")]);
    assert_eq!(exit_code(&output), 2);
    assert_prefix(&text(&output.stdout), &sound, 3);
    assert_eq!(DiskImage::capture(&journal_dir(&dir)), before);
}

#[test]
fn export_of_a_torn_tail_exports_everything_and_truncates_the_tail_as_before() {
    let (dir, sound) = journal_of(5);
    let journal = journal_dir(&dir);
    let segment = journal.join(segment_names(&journal).pop().unwrap());
    let length = std::fs::metadata(&segment).unwrap().len();
    let mut bytes = std::fs::read(&segment).unwrap();
    bytes.extend_from_slice(&[0xAB; 17]);
    std::fs::write(&segment, bytes).unwrap();

    let output = dir.run(&["export"]);
    assert_eq!(exit_code(&output), 0, "{}", text(&output.stderr));
    assert_prefix(&text(&output.stdout), &sound, 5);
    let stderr = text(&output.stderr);
    let name = segment.file_name().unwrap().to_str().unwrap();
    assert!(
        stderr.contains("recovered from an interrupted write"),
        "{stderr}"
    );
    assert!(
        stderr.contains("dropped 17 bytes") && stderr.contains(name),
        "{stderr}"
    );
    assert_eq!(std::fs::metadata(&segment).unwrap().len(), length);
    assert!(!journal.join("DAMAGED").exists());
}

#[test]
fn export_refuses_an_output_file_inside_the_workspace_directory() {
    let (dir, sound) = journal_of(20);
    let image = DiskImage::capture(&journal_dir(&dir));
    let active = segment_names(&journal_dir(&dir)).pop().unwrap();
    let active = format!(".agentrail/journal/{active}");
    std::os::unix::fs::symlink(&active, dir.path().join("link")).unwrap();
    for output in [
        active.as_str(),
        "./.agentrail/../.agentrail/journal/new.jsonl",
        ".agentrail/export.jsonl",
        "link",
    ] {
        let refused = dir.run(&["export", "-o", output]);
        let stderr = text(&refused.stderr);
        assert_eq!(exit_code(&refused), 2, "{output}: {stderr}");
        assert!(
            stderr.contains("inside the workspace directory"),
            "{stderr}"
        );
    }
    // A hard link is another name of the same file: written in place, it would empty it.
    std::fs::hard_link(dir.path().join(&active), dir.path().join("backup.seg")).unwrap();
    let refused = dir.run(&["export", "-o", "backup.seg"]);
    let stderr = text(&refused.stderr);
    assert_eq!(exit_code(&refused), 2, "{stderr}");
    assert!(stderr.contains("a hard link"), "{stderr}");
    let blank = dir.run(&["export", "-o", " "]);
    assert_eq!(exit_code(&blank), 2, "{}", text(&blank.stderr));
    assert!(text(&blank.stderr).contains("--output"));
    assert!(!dir.path().join(" ").exists());
    assert!(!dir.path().join(".agentrail/export.jsonl").exists());
    assert!(!journal_dir(&dir).join("new.jsonl").exists());
    assert!(
        DiskImage::capture(&journal_dir(&dir)) == image,
        "the journal changed"
    );
    assert_eq!(dir.ok(&["export"]).lines().count(), sound.len());
}
