//! `agentrail gc` and `agentrail purge` as a person types them: purge of a secret that just
//! leaked (so it is in the active segment), `gc --dry-run` changing nothing, `gc` then `verify`
//! and `rebuild`, and `context` unchanged for what stays reachable.

#[path = "common/workspace_dir.rs"]
mod workspace_dir;

use serde_json::Value;
use workspace_dir::{text, Dir};

const SECRET: &str = "internal-credential-7f3a9c";

/// Every file of the journal, as bytes, to check that nothing changed or that a text is gone.
fn journal_bytes(dir: &Dir) -> Vec<(String, Vec<u8>)> {
    let journal = dir.path().join(".agentrail/journal");
    let mut files: Vec<_> = std::fs::read_dir(&journal)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            (name, std::fs::read(entry.path()).unwrap())
        })
        .collect();
    files.sort();
    files
}

/// True when `needle` is in any journal file's raw bytes (the active segment) or in what `export`
/// reads back (sealed segments hold it compressed).
fn journal_holds(dir: &Dir, needle: &str) -> bool {
    journal_bytes(dir).iter().any(|(_, bytes)| {
        let raw = bytes
            .windows(needle.len())
            .any(|window| window == needle.as_bytes());
        raw || String::from_utf8_lossy(bytes).contains(needle)
    }) || dir.ok(&["export"]).contains(needle)
}

fn set_retention_days(dir: &Dir, days: u64) {
    set_context_config(dir, serde_json::json!({ "gc_retention_days": days }));
}

fn set_context_config(dir: &Dir, context: Value) {
    let path = dir.path().join(".agentrail/config.json");
    let mut config: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    config["context"] = context;
    std::fs::write(&path, config.to_string()).unwrap();
}

#[test]
fn purge_removes_a_secret_that_just_leaked_into_the_active_segment() {
    let dir = Dir::initialized();
    dir.ok(&[
        "append",
        "--event",
        r#"{"type":"action","data":{"description":"before"}}"#,
    ]);
    let leaked = format!(
        r#"{{"type":"tool_output","data":{{"tool":"sh","exit_code":0,"stdout":"token {SECRET}"}}}}"#
    );
    let lsn = dir.ok(&["append", "--event", &leaked]).trim().to_string();
    assert!(journal_holds(&dir, SECRET));
    let purged = dir.json(&["purge", &lsn]);
    assert_eq!(purged["purged"][0]["lsn"].to_string(), lsn);
    assert_eq!(purged["purged"][0]["type"], "tool_output");
    assert_eq!(purged["sealed_active"], true);
    assert!(
        !journal_holds(&dir, SECRET),
        "the secret is gone from every file"
    );
    dir.ok(&["verify"]);
    let shown = dir.json(&["show", &lsn]);
    assert_eq!(shown["type"], "tool_output");
    assert_eq!(shown["data"]["exit_code"], 0);
    assert!(shown["tombstone"]["sha256"].as_str().unwrap().len() == 64);
    // The human form says the event was purged, under its header, and what it kept.
    let human = dir.ok(&["show", &lsn]);
    let purged_line = format!(
        "purged: {} bytes removed, sha256 {}",
        shown["tombstone"]["bytes"],
        shown["tombstone"]["sha256"].as_str().unwrap()
    );
    assert_eq!(human.lines().nth(1), Some(purged_line.as_str()), "{human}");
    assert!(human.contains("\nexit_code: 0\n"), "{human}");
    let exported = dir.export();
    assert!(exported[1].get("tombstone").is_some());
    let after = dir.ok(&[
        "append",
        "--event",
        r#"{"type":"action","data":{"description":"after"}}"#,
    ]);
    assert_eq!(after.trim(), "3", "appends go on after the sealed segment");
    let line = serde_json::to_string(&exported[1]).unwrap();
    let refused = dir.run_stdin(&["import", "-"], &line);
    assert_eq!(
        refused.status.code(),
        Some(2),
        "a tombstone line is not imported"
    );
    assert!(text(&refused.stderr).contains("tombstone"));
}

#[test]
fn purge_of_an_lsn_that_does_not_exist_exits_2() {
    let dir = Dir::initialized();
    dir.ok(&[
        "append",
        "--event",
        r#"{"type":"action","data":{"description":"one"}}"#,
    ]);
    let before = journal_bytes(&dir);
    let output = dir.run(&["purge", "1", "9"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("no record at LSN 9"));
    assert_eq!(journal_bytes(&dir), before, "nothing was purged");
}

#[test]
fn purge_of_an_event_whose_kept_envelope_is_too_large_exits_1_and_keeps_it() {
    let dir = Dir::initialized();
    let agent = "a".repeat(70_000);
    let event = serde_json::json!({"type": "decision", "agent": agent, "data": {"choice": "x"}});
    dir.ok(&["append", "--event", &event.to_string()]);
    let output = dir.run(&["purge", "1"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("the tombstone of LSN 1 would keep a summary of"),
        "{}",
        text(&output.stderr)
    );
    assert!(
        dir.ok(&["export"]).contains(&agent),
        "the event is still whole"
    );
    dir.ok(&["verify"]);
}

#[test]
fn gc_dry_run_lists_then_gc_collects_and_verify_rebuild_and_context_agree() {
    let dir = Dir::initialized();
    let base = dir.ok(&["commit", "-m", "base", "--content", "the base block"]);
    dir.ok(&[
        "commit",
        "-m",
        "later",
        "--content",
        &format!("left behind {SECRET}"),
    ]);
    // A soft reset: the reflog keeps what it left behind while young (a hard one would not).
    dir.ok(&["reset", "--soft", base.trim()]);
    dir.ok(&["commit", "-m", "kept", "--content", "a kept block"]);
    let nothing = dir.json(&["gc", "--dry-run"]);
    assert_eq!(nothing["commits"], 0, "a young reflog keeps every commit");
    assert_eq!(nothing["retained"], 1, "the commit reset away");
    assert_eq!(
        dir.ok(&["gc", "--dry-run"]).trim(),
        "nothing to collect yet: 1 commit that no ref reaches is kept by reflog entries younger than 30 days (context.gc_retention_days)"
    );
    let moves = dir.ok(&["log", "--type", "ref_update"]);
    assert!(
        moves.trim_end().ends_with("ref_update reset --soft main"),
        "{moves}"
    );
    set_retention_days(&dir, 0);
    let context = dir.ok(&["context"]);
    let before = journal_bytes(&dir);
    let dry = dir.json(&["gc", "--dry-run"]);
    assert_eq!(dry["commits"], 1);
    assert_eq!(dry["collected"][0]["lsn"], 2);
    assert!(dry["payload_bytes"].as_u64().unwrap() > 0);
    assert_eq!(journal_bytes(&dir), before, "a dry run changes nothing");
    let human = dir.ok(&["gc", "--dry-run"]);
    assert!(human.starts_with("would collect 1 commit,"), "{human}");
    let collected = dir.ok(&["gc"]);
    assert!(collected.starts_with("collected 1 commit,"), "{collected}");
    assert!(!journal_holds(&dir, SECRET));
    dir.ok(&["verify"]);
    dir.ok(&["rebuild"]);
    assert_eq!(
        dir.ok(&["context"]),
        context,
        "the reachable context is unchanged"
    );
    let id = dry["collected"][0]["id"].as_str().unwrap();
    let shown = dir.ok(&["show", &id[..12]]);
    assert!(shown.contains("collected by gc"), "{shown}");
    assert_eq!(dir.json(&["gc", "--dry-run"])["commits"], 0);
}

#[test]
fn purge_of_a_commit_in_the_context_leaves_a_marker_block_in_its_place() {
    let dir = Dir::initialized();
    dir.ok(&[
        "commit",
        "-m",
        "system",
        "--content",
        "You are a coding agent.",
    ]);
    let leaked = dir.json(&[
        "commit",
        "-m",
        "oops",
        "--content",
        "the vault says swordfish",
    ]);
    dir.ok(&["commit", "-m", "next", "--content", "Run the tests."]);
    let lsn = leaked["lsn"].to_string();
    let id = leaked["id"].as_str().unwrap().to_owned();
    dir.ok(&["purge", &lsn]);
    assert!(!journal_holds(&dir, "swordfish"));
    let context = dir.ok(&["context"]);
    let marker = format!("[content of commit {} removed by gc or purge]", &id[..12]);
    assert_eq!(
        context,
        format!("You are a coding agent.\n\n{marker}\n\nRun the tests.\n"),
    );
    let log = dir.ok(&["log", "--oneline"]);
    let purged = log.lines().find(|line| line.starts_with(&id[..12]));
    assert_eq!(
        purged,
        Some(format!("{} append 5 tokens", &id[..12]).as_str()),
        "a commit without a message ends at its tokens:\n{log}"
    );
    dir.ok(&["verify"]);
}

#[test]
fn gc_collapsed_children_collects_a_collapsed_childs_history_and_keeps_the_collapse() {
    let dir = Dir::initialized();
    dir.ok(&["commit", "-m", "s", "--content", "lead", "--agent", "lead"]);
    dir.ok(&["spawn", "kid", "--task", "do it", "--agent", "lead"]);
    let work = format!("kid work {SECRET}");
    dir.ok(&["commit", "-m", "w", "--content", &work, "--agent", "kid"]);
    // The collapse keeps the child's last block as its output: not the secret.
    dir.ok(&["commit", "-m", "r", "--content", "result", "--agent", "kid"]);
    dir.ok(&["collapse", "kid", "--summary", "done", "--agent", "lead"]);
    let lead = dir.ok(&["context", "--agent", "lead"]);
    assert_eq!(dir.json(&["gc", "--dry-run"])["commits"], 0, "policy off");
    set_context_config(&dir, serde_json::json!({ "gc_collapsed_children": true }));
    let dry = dir.json(&["gc", "--dry-run"]);
    assert_eq!(dry["commits"], 3, "the child's root and its work: {dry}");
    dir.ok(&["gc"]);
    assert!(!journal_holds(&dir, SECRET));
    dir.ok(&["verify"]);
    assert_eq!(dir.ok(&["context", "--agent", "lead"]), lead);
    let expanded = dir.ok(&["expand", "HEAD", "--agent", "lead"]);
    assert!(expanded.contains("removed by gc or purge"), "{expanded}");
}
