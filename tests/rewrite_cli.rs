//! `merge`, `rebase`, `compress` and `reorder` through the binary: a conflicting merge without
//! a resolver (exit 1, conflicts listed, nothing recorded), with a failing resolver (the same),
//! with a resolver whose token use becomes an `llm_call`; a conflicting rebase (its output
//! pinned by an insta snapshot over commits imported with fixed times) without and with a
//! resolver; rebase, compress with `--summary` and `--summarizer`, reorder with and without
//! `--force`, reorder flattening a merge (a warning, in `--json` too; naming the merge exits
//! 2), bad input (exit 2), a merge that would lose a block (exit 1, nothing recorded), and
//! `undo` after each.

use serde_json::Value;

#[path = "common/workspace_dir.rs"]
mod workspace_dir;

use workspace_dir::{text, Dir};

fn commit(dir: &Dir, args: &[&str]) -> String {
    let mut all = vec!["commit"];
    all.extend_from_slice(args);
    dir.json(&all)["id"].as_str().unwrap().to_owned()
}

fn context(dir: &Dir) -> Vec<String> {
    dir.json(&["context"])["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|block| block["content"].as_str().unwrap().to_owned())
        .collect()
}

fn events(dir: &Dir) -> usize {
    dir.export().len()
}

/// Both sides of `topic` and `main` edit `base` and pin "rule" differently.
fn conflicting(dir: &Dir) {
    let base = commit(dir, &["-m", "base", "--content", "base"]);
    dir.ok(&["branch", "topic"]);
    edit_and_pin(dir, &base, "ours", "never push");
    dir.ok(&["switch", "topic"]);
    edit_and_pin(dir, &base, "theirs", "always push");
    dir.ok(&["switch", "main"]);
}

/// An edit `e` of `base` to `edit`, then a pin `rule` of `pin`, on the current branch.
fn edit_and_pin(dir: &Dir, base: &str, edit: &str, pin: &str) {
    let edit_args = [
        "-m",
        "e",
        "--kind",
        "edit",
        "--target",
        base,
        "--content",
        edit,
    ];
    commit(dir, &edit_args);
    commit(dir, &["-m", "rule", "--kind", "pin", "--content", pin]);
}

#[test]
fn a_conflicting_merge_stops_unless_a_resolver_resolves_it() {
    let dir = Dir::initialized_with_sync(Some("never"));
    conflicting(&dir);
    let before = events(&dir);
    let output = dir.run(&["merge", "topic"]);
    assert_eq!(output.status.code(), Some(1), "{}", dir.render(&output));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("both sides edited block"), "{stderr}");
    assert!(stderr.contains("contradicting pins \"rule\""), "{stderr}");
    assert!(stderr.contains("nothing was recorded"), "{stderr}");
    let output = dir.run(&["merge", "topic", "--resolver", "cat >/dev/null; exit 3"]);
    assert_eq!(output.status.code(), Some(1), "{}", dir.render(&output));
    assert!(text(&output.stderr).contains("exit code 3"));
    assert_eq!(events(&dir), before);
    // The resolver sees both sides as JSON and prints the merged content and its token use.
    let resolver = r#"python3 -c 'import json,sys; c=json.load(sys.stdin); print(c["kind"] + ": " + c["ours"]["content"] + " | " + c["theirs"]["content"]); print(json.dumps({"usage": {"model": "judge", "input_tokens": 7, "output_tokens": 3}}))'"#;
    let merged = dir.json(&["merge", "topic", "--resolver", resolver]);
    assert_eq!(merged["merge"], "merged", "{merged}");
    assert_eq!(merged["conflicts"].as_array().unwrap().len(), 2);
    assert_eq!(
        context(&dir),
        ["edit: ours | theirs", "pin: never push | always push"]
    );
    let tokens = dir.json(&["tokens", "--by", "model"]);
    assert_eq!(tokens["judge"]["input_tokens"], 14, "{tokens}");
    assert_eq!(tokens["judge"]["output_tokens"], 6, "{tokens}");
    // Each resolution links to their side's commit it resolves: `log --json` and `show` say so.
    let log = dir.json(&["log", "--oneline", "-n", "3"]);
    let theirs_pin = dir.json(&["show", "topic"])["id"].clone();
    assert_eq!(
        log["commits"][0]["links"],
        serde_json::json!({"resolves": theirs_pin})
    );
    assert_eq!(
        log["commits"][2]["links"],
        serde_json::json!({}),
        "the merge commit"
    );
    let shown = dir.ok(&["show", "HEAD"]);
    let resolves = format!("resolves: {}", &theirs_pin.as_str().unwrap()[..12]);
    assert_eq!(shown.lines().nth(2), Some(resolves.as_str()), "{shown}");
    // Undo puts main back before the merge.
    dir.ok(&["undo"]);
    assert_eq!(context(&dir), ["ours", "never push"]);
}

/// `conflicting`'s history, imported with fixed times so that its ids do not move; HEAD on
/// `topic`.
fn conflicting_imported(dir: &Dir) {
    let line = |second: u32, data: Value| {
        let event = serde_json::json!({
            "ts": format!("2026-11-23T10:00:{second:02}Z"),
            "type": "commit",
            "data": data,
        });
        event.to_string() + "\n"
    };
    let block = |message: &str, kind: &str, content: &str| serde_json::json!({"kind": kind, "message": message, "content": content, "tokens": 2});
    dir.import(&line(0, block("base", "append", "base")));
    dir.ok(&["branch", "topic"]);
    let base = dir.json(&["context"])["blocks"][0]["id"].clone();
    let edit_and_pin = |first: u32, edit: &str, pin: &str| {
        let mut edit = block("e", "edit", edit);
        edit["target"] = base.clone();
        line(first, edit) + &line(first + 1, block("rule", "pin", pin))
    };
    dir.import(&edit_and_pin(1, "ours", "never push"));
    dir.ok(&["switch", "topic"]);
    dir.import(&edit_and_pin(3, "theirs", "always push"));
}

#[test]
fn a_conflicting_rebase_stops_unless_a_resolver_resolves_it() {
    let dir = Dir::initialized_with_sync(Some("never"));
    conflicting_imported(&dir);
    let before = events(&dir);
    insta::assert_snapshot!(
        "rebase_conflicts",
        dir.render(&dir.run(&["rebase", "main"]))
    );
    assert_eq!(events(&dir), before, "nothing was recorded");
    assert_eq!(context(&dir), ["theirs", "always push"]);
    // The resolver sees both sides as JSON (ours: topic's, being replayed; theirs: main's).
    let resolver = r#"python3 -c 'import json,sys; c=json.load(sys.stdin); print(c["kind"] + ": " + c["ours"]["content"] + " | " + c["theirs"]["content"]); print(json.dumps({"usage": {"model": "judge", "input_tokens": 7, "output_tokens": 3}}))'"#;
    let rebased = dir.ok(&["rebase", "main", "--resolver", resolver]);
    assert!(
        rebased.starts_with("rebase: 4 commits written, HEAD topic (")
            && rebased.contains(", 2 conflicts resolved"),
        "{rebased}"
    );
    assert_eq!(
        context(&dir),
        ["edit: theirs | ours", "pin: always push | never push"]
    );
    let tokens = dir.json(&["tokens", "--by", "model"]);
    assert_eq!(tokens["judge"]["input_tokens"], 14, "{tokens}");
    dir.ok(&["undo"]);
    assert_eq!(context(&dir), ["theirs", "always push"]);
}

#[test]
fn merge_up_to_date_fast_forward_and_clean() {
    let dir = Dir::initialized_with_sync(Some("never"));
    commit(&dir, &["-m", "base", "--content", "base"]);
    dir.ok(&["branch", "topic"]);
    assert_eq!(dir.ok(&["merge", "topic"]), "already up to date\n");
    dir.ok(&["switch", "topic"]);
    commit(&dir, &["-m", "t", "--content", "theirs"]);
    dir.ok(&["switch", "main"]);
    let forward = dir.json(&["merge", "topic"]);
    assert_eq!(forward["merge"], "fast_forward");
    commit(&dir, &["-m", "o", "--content", "ours"]);
    dir.ok(&["switch", "topic"]);
    commit(&dir, &["-m", "t2", "--content", "more"]);
    dir.ok(&["switch", "main"]);
    let merged = dir.ok(&["merge", "topic", "-m", "bring in more"]);
    assert!(
        merged.starts_with("merged topic: ") && !merged.contains("conflict"),
        "{merged}"
    );
    assert_eq!(context(&dir), ["base", "theirs", "ours", "more"]);
    let log = dir.ok(&["log", "--graph"]);
    assert!(log.contains("merge: "), "{log}");
}

#[test]
fn merge_of_unrelated_histories_needs_allow_unrelated_histories() {
    let dir = Dir::initialized_with_sync(Some("never"));
    commit(&dir, &["-m", "one", "--content", "one"]);
    commit(&dir, &["-m", "two", "--content", "two"]);
    dir.ok(&["branch", "before"]);
    dir.ok(&["compress", "..HEAD", "--summary", "one and two"]);
    let before = events(&dir);
    let output = dir.run(&["merge", "before"]);
    assert_eq!(output.status.code(), Some(2), "{}", dir.render(&output));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("refusing to merge unrelated histories")
            && stderr.contains("hint: --allow-unrelated-histories"),
        "{stderr}"
    );
    assert_eq!(events(&dir), before);
    let merged = dir.json(&["merge", "before", "--allow-unrelated-histories"]);
    assert_eq!(merged["merge"], "merged");
    assert_eq!(context(&dir), ["one and two", "one", "two"]);
}

#[test]
fn a_merge_that_would_lose_a_block_exits_1_with_a_hint_and_records_nothing() {
    let dir = Dir::initialized_with_sync(Some("never"));
    commit(&dir, &["-m", "base", "--content", "base"]);
    dir.ok(&["branch", "topic"]);
    let block = commit(&dir, &["-m", "x", "--content", "x"]);
    commit(
        &dir,
        &[
            "-m",
            "to y",
            "--kind",
            "edit",
            "--target",
            &block,
            "--content",
            "y",
        ],
    );
    dir.ok(&["switch", "topic"]);
    let theirs = commit(&dir, &["-m", "y", "--content", "y"]);
    commit(
        &dir,
        &[
            "-m",
            "to p",
            "--kind",
            "edit",
            "--target",
            &theirs,
            "--content",
            "p",
        ],
    );
    dir.ok(&["switch", "main"]);
    let before = events(&dir);
    let output = dir.run(&["merge", "topic"]);
    assert_eq!(output.status.code(), Some(1), "{}", dir.render(&output));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(&format!("the result would lose block {block}"))
            && stderr.contains("hint: edit one of the two blocks"),
        "{stderr}"
    );
    assert_eq!(events(&dir), before);
    assert_eq!(context(&dir), ["base", "y"]);
}

#[test]
fn rebase_compress_and_reorder_rewrite_the_line_and_undo_puts_it_back() {
    let dir = Dir::initialized_with_sync(Some("never"));
    let base = commit(&dir, &["-m", "base", "--content", "base"]);
    dir.ok(&["branch", "topic"]);
    commit(&dir, &["-m", "m", "--content", "main work"]);
    dir.ok(&["switch", "topic"]);
    let one = commit(
        &dir,
        &["-m", "one", "--content", "step one of a long story"],
    );
    let pin = commit(
        &dir,
        &["-m", "rule", "--kind", "pin", "--content", "keep me"],
    );
    let two = commit(
        &dir,
        &["-m", "two", "--content", "step two of a long story"],
    );
    let rebased = dir.json(&["rebase", "main"]);
    assert_eq!(rebased["commits"].as_array().unwrap().len(), 3, "{rebased}");
    assert_eq!(rebased["commits"][0]["links"]["rebased_from"], one.as_str());
    assert_eq!(
        context(&dir),
        [
            "base",
            "main work",
            "step one of a long story",
            "keep me",
            "step two of a long story"
        ]
    );
    // Compress the rebased topic commits; the pin survives verbatim.
    let head = rebased["head_commit"].as_str().unwrap().to_owned();
    let range = format!("main..{}", &head[..8]);
    let human = dir.ok(&[
        "compress",
        &range,
        "--summary",
        "two steps",
        "--respect-pins",
    ]);
    assert!(
        human.starts_with("compress: 2 commits written")
            && human.contains("1 pinned block checked byte for byte"),
        "{human}"
    );
    assert_eq!(context(&dir), ["base", "main work", "two steps", "keep me"]);
    // The summary links to the range's end, the kept pin to the commit that brought it in.
    let summary = dir.json(&["show", "HEAD~1"]);
    assert_eq!(summary["links"], serde_json::json!({"compressed_to": head}));
    let rebased_pin = rebased["commits"][1]["id"].as_str().unwrap();
    let kept = dir.json(&["show", "HEAD"]);
    assert_eq!(
        kept["links"],
        serde_json::json!({"pinned_from": rebased_pin})
    );
    let shown = dir.ok(&["show", "HEAD"]);
    let pinned_from = format!("pinned_from: {}", &rebased_pin[..12]);
    assert_eq!(shown.lines().nth(2), Some(pinned_from.as_str()), "{shown}");
    dir.ok(&["undo"]);
    // A summarizer reads the blocks as JSON.
    let summarizer = r#"python3 -c 'import json,sys; d=json.load(sys.stdin); print(str(len(d["blocks"])) + " blocks")'"#;
    let compressed = dir.json(&["compress", &range, "--summarizer", summarizer]);
    assert!(
        compressed["tokens_after"].as_u64() < compressed["tokens_before"].as_u64(),
        "{compressed}"
    );
    // Pins are kept verbatim by default: the summarizer gets the other two blocks.
    assert_eq!(context(&dir), ["base", "main work", "2 blocks", "keep me"]);
    dir.ok(&["undo"]);
    // Asked to, it summarizes the pin with the rest.
    dir.ok(&[
        "compress",
        &range,
        "--summarizer",
        summarizer,
        "--summarize-pins",
    ]);
    assert_eq!(context(&dir), ["base", "main work", "3 blocks"]);
    dir.ok(&["undo"]);
    let both = dir.run(&[
        "compress",
        &range,
        "--summary",
        "x",
        "--respect-pins",
        "--summarize-pins",
    ]);
    assert_eq!(both.status.code(), Some(2), "{}", dir.render(&both));
    dir.ok(&["undo"]);
    assert_eq!(context(&dir).len(), 4, "back before the rebase");
    // Reorder topic's own line.
    let order = format!("{},{},{}", &two[..8], &one[..8], &pin[..8]);
    let reordered = dir.json(&[
        "reorder",
        &format!("{}..{}", &base[..8], &two[..8]),
        "--order",
        &order,
    ]);
    assert!(reordered["warnings"].as_array().unwrap().is_empty());
    assert_eq!(
        context(&dir),
        [
            "base",
            "step two of a long story",
            "step one of a long story",
            "keep me"
        ]
    );
    let reflog = dir.ok(&["reflog"]);
    assert!(
        reflog.lines().next().unwrap().contains(" reorder: "),
        "{reflog}"
    );
}

#[test]
fn bad_input_exits_2_and_records_nothing() {
    let dir = Dir::initialized_with_sync(Some("never"));
    let base = commit(&dir, &["-m", "base", "--content", "base"]);
    let two = commit(&dir, &["-m", "two", "--content", "two"]);
    let edit = commit(
        &dir,
        &[
            "-m",
            "e",
            "--kind",
            "edit",
            "--target",
            &two,
            "--content",
            "two'",
        ],
    );
    let before = events(&dir);
    let range = format!("{}..{}", &base[..8], &edit[..8]);
    let edit_first = format!("{},{}", &edit[..8], &two[..8]);
    for args in [
        vec!["merge", "nowhere"],
        vec!["rebase", "abc"],
        vec!["compress", "main", "--summary", "x"],
        vec!["compress", &range],
        vec!["compress", &range, "--summary", " \n"],
        vec!["reorder", &range, "--order", &two[..8]],
        vec!["reorder", &range, "--order", &edit_first],
    ] {
        let output = dir.run(&args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            dir.render(&output)
        );
    }
    // Three dots are named as such, not read as a range to a revision ".HEAD".
    let output = dir.run(&["compress", "main~2...HEAD", "--summary", "x"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("three dots make no range here: write FROM..TO"),
        "{}",
        dir.render(&output)
    );
    let output = dir.run(&["reorder", &range, "--order", &edit_first]);
    assert!(
        text(&output.stderr).contains("would come before its target"),
        "{}",
        dir.render(&output)
    );
    assert_eq!(events(&dir), before);
    let output = dir.run(&[
        "--json",
        "reorder",
        &range,
        "--order",
        &edit_first,
        "--force",
    ]);
    assert!(output.status.success(), "{}", dir.render(&output));
    assert!(text(&output.stderr).contains("warning: the edit"));
    let value: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(value["warnings"][0]["edit"], edit.as_str());
    assert_eq!(context(&dir), ["base", "two"]);
}

#[test]
fn reorder_flattens_a_merge_with_a_warning_and_refuses_to_name_it() {
    let dir = Dir::initialized_with_sync(Some("never"));
    let base = commit(&dir, &["-m", "base", "--content", "base"]);
    dir.ok(&["branch", "topic"]);
    let ours = commit(&dir, &["-m", "m", "--content", "main work"]);
    dir.ok(&["switch", "topic"]);
    let theirs = commit(&dir, &["-m", "t", "--content", "topic work"]);
    dir.ok(&["switch", "main"]);
    let merge = dir.json(&["merge", "topic"])["commit"]
        .as_str()
        .unwrap()
        .to_owned();
    let range = format!("{}..HEAD", &base[..8]);
    let before = events(&dir);
    let named = format!("{},{},{}", &theirs[..8], &merge[..8], &ours[..8]);
    let output = dir.run(&["reorder", &range, "--order", &named]);
    assert_eq!(output.status.code(), Some(2), "{}", dir.render(&output));
    assert!(
        text(&output.stderr).contains("a reorder flattens the range's merges"),
        "{}",
        dir.render(&output)
    );
    assert_eq!(events(&dir), before);
    let order = format!("{},{}", &theirs[..8], &ours[..8]);
    let output = dir.run(&["reorder", &range, "--order", &order]);
    assert!(output.status.success(), "{}", dir.render(&output));
    let warning = format!(
        "agentrail: warning: the merge {} was flattened",
        &merge[..12]
    );
    assert!(
        text(&output.stderr).contains(&warning),
        "{}",
        dir.render(&output)
    );
    assert!(text(&output.stdout).starts_with("reorder: 2 commits written"));
    assert_eq!(context(&dir), ["base", "topic work", "main work"]);
    dir.ok(&["undo"]);
    let output = dir.run(&["--json", "reorder", &range, "--order", &order]);
    assert!(output.status.success(), "{}", dir.render(&output));
    assert!(text(&output.stderr).contains(&warning));
    let value: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(value["warnings"][0]["kind"], "merge_flattened", "{value}");
    assert_eq!(value["warnings"][0]["merge"], merge.as_str(), "{value}");
    assert_eq!(context(&dir), ["base", "topic work", "main work"]);
}
