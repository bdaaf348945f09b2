//! The context commands through the binary: a session of commands as an agent drives them,
//! the `--json` shapes, bad input (exit 2, naming the field), unknown and ambiguous id prefixes,
//! `--agent` and `AGENTRAIL_AGENT`, and `AGENTRAIL=off`. Human output is pinned by insta
//! snapshots over commits imported with fixed times, so their ids do not move.

use serde_json::{json, Value};

#[path = "common/workspace_dir.rs"]
mod workspace_dir;

use workspace_dir::{text, Dir};

/// Commit events as an import gives them: no parents (each lands on HEAD), fixed times and
/// token counts, so their ids are the same on every run.
fn imported(count: usize) -> String {
    (0..count)
        .map(|index| {
            let kind = if index == 1 { "pin" } else { "append" };
            json!({
                "ts": format!("2026-11-23T10:{:02}:{:02}Z", index / 60, index % 60),
                "type": "commit",
                "session": "s-000000000001",
                "data": {"kind": kind, "message": format!("block {index}"), "content": format!("content {index}"), "tokens": 10 + index},
            })
            .to_string()
                + "\n"
        })
        .collect()
}

#[test]
fn an_agent_commits_branches_and_resumes_from_its_context() {
    let dir = Dir::initialized_with_sync(Some("never"));
    let first = dir.ok(&[
        "commit",
        "-m",
        "system",
        "--content",
        "You are a coding agent.",
    ]);
    let first = first.trim();
    assert_eq!(first.len(), 12);
    std::fs::write(dir.path().join("task.txt"), "Fix the flaky test.").unwrap();
    dir.ok(&[
        "commit", "-m", "task", "--kind", "pin", "--file", "task.txt",
    ]);
    let output = dir
        .command(&[])
        .args(["commit", "-m", "plan", "--tokens", "3"])
        .write_stdin("Plan: read the test.")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    dir.ok(&["branch", "try-a"]);
    dir.ok(&["switch", "try-a"]);
    dir.ok(&[
        "commit",
        "-m",
        "a",
        "--content",
        "Tried A: it failed.",
        "--tokens",
        "5",
    ]);
    dir.ok(&[
        "commit",
        "-m",
        "fix",
        "--kind",
        "edit",
        "--target",
        first,
        "--content",
        "You are a careful coding agent.",
    ]);
    assert_eq!(
        dir.ok(&["context"]),
        "You are a careful coding agent.\n\nFix the flaky test.\n\nPlan: read the test.\n\nTried A: it failed.\n"
    );
    dir.ok(&["switch", "main"]);
    assert_eq!(
        dir.ok(&["context"]),
        "You are a coding agent.\n\nFix the flaky test.\n\nPlan: read the test.\n"
    );
    assert_eq!(dir.ok(&["context", "--at", "try-a"]).lines().count(), 7);
    let listed = dir.ok(&["branch", "--list"]);
    assert!(
        listed.contains("* main") && listed.contains("  try-a"),
        "{listed}"
    );
    let oneline = dir.ok(&["log", "--oneline", "--all"]);
    assert_eq!(oneline.lines().count(), 5, "{oneline}");
    assert!(
        oneline.lines().next().unwrap().contains("(try-a) edit of"),
        "{oneline}"
    );
    assert!(
        oneline.contains("(HEAD -> main) append 3 tokens plan"),
        "{oneline}"
    );
    assert_eq!(dir.ok(&["log", "--graph"]).matches("* commit ").count(), 3);
    let newest_two = dir.ok(&["log", "--oneline", "--all", "-n", "2"]);
    assert_eq!(
        newest_two,
        oneline
            .lines()
            .take(2)
            .map(|line| format!("{line}\n"))
            .collect::<String>()
    );
    // All digits read as an LSN in `show`; a full id never does.
    let full = dir.json(&["log", "--oneline"])["commits"][2]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(full.starts_with(first));
    let shown = dir.ok(&["show", &full]);
    assert!(
        shown.starts_with("commit ") && shown.ends_with("You are a coding agent.\n"),
        "{shown}"
    );
    // Reset and undo: the refs move, the commits stay.
    dir.ok(&["reset", "--hard", first]);
    assert_eq!(dir.ok(&["context"]), "You are a coding agent.\n");
    dir.ok(&["undo"]);
    assert_eq!(dir.ok(&["context"]).lines().count(), 5);
    let reflog = dir.ok(&["reflog"]);
    assert!(
        reflog.lines().next().unwrap().contains(" undo: main@"),
        "{reflog}"
    );
    assert!(reflog.contains(" reset --hard: main@"), "{reflog}");
    // Detached, HEAD's commit is named once (it was twice: `detached at ID at ID`).
    let checkout = dir.ok(&["checkout", first]);
    assert_eq!(checkout, format!("checkout: HEAD detached ({first})\n"));
    let reflog = dir.ok(&["reflog"]);
    let moved = reflog.lines().next().unwrap();
    assert!(moved.ends_with(&format!(" -> detached@{first}")), "{moved}");
    let status = dir.ok(&["status"]);
    assert!(
        status.contains(&format!(
            "context: agent main, detached at {first}, 6 tokens (counted with o200k_base)"
        )),
        "{status}"
    );
}

#[test]
fn context_shows_blocks_one_blank_line_apart_whatever_their_line_ends() {
    let dir = Dir::initialized_with_sync(Some("never"));
    std::fs::write(dir.path().join("task.txt"), "Fix the flaky test.\n").unwrap();
    dir.ok(&["commit", "-m", "system", "--content", "You are an agent."]);
    dir.ok(&["commit", "-m", "task", "--file", "task.txt"]);
    dir.ok(&["commit", "-m", "crlf", "--content", "Plan.\r\n\r\n"]);
    dir.ok(&["commit", "-m", "last", "--content", "Done.\n"]);
    assert_eq!(
        dir.ok(&["context"]),
        "You are an agent.\n\nFix the flaky test.\n\nPlan.\n\nDone.\n"
    );
    // The content is kept as it was given.
    let blocks = dir.json(&["context"])["blocks"].clone();
    assert_eq!(blocks[1]["content"], "Fix the flaky test.\n");
    assert_eq!(blocks[2]["content"], "Plan.\r\n\r\n");
}

#[test]
fn json_shapes() {
    let dir = Dir::initialized_with_sync(Some("never"));
    let commit = dir.json(&["commit", "-m", "m", "--content", "hello world"]);
    let keys: Vec<&str> = commit
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "id",
            "short",
            "parents",
            "kind",
            "tokens",
            "tokens_counted",
            "agent",
            "session",
            "lsn"
        ]
    );
    assert_eq!(commit["tokens"], json!(2));
    assert_eq!(commit["tokens_counted"], json!(true));
    assert_eq!(commit["parents"], json!([]));
    let id = commit["id"].as_str().unwrap();
    let context = dir.json(&["context"]);
    assert_eq!(context["tokens"], json!(2));
    assert_eq!(context["at"], json!(id));
    assert_eq!(
        context["blocks"],
        json!([{"id": id, "kind": "append", "message": "m", "content": "hello world", "tokens": 2, "edited_by": null}])
    );
    let branch = dir.json(&["branch", "topic"]);
    assert_eq!(branch, json!({"branch": "topic", "at": id}));
    let switched = dir.json(&["switch", "topic"]);
    assert_eq!(
        switched,
        json!({"head": {"branch": "topic"}, "head_commit": id, "branches": {"main": id, "topic": id}, "left_behind": []})
    );
    let mut listed = switched.clone();
    listed.as_object_mut().unwrap().remove("left_behind");
    assert_eq!(dir.json(&["branch", "--list"]), listed);
    let reflog = dir.json(&["reflog"]);
    let moves = reflog["moves"].as_array().unwrap();
    assert_eq!(moves.len(), 3);
    assert_eq!(moves[0]["op"], json!("switch"));
    assert_eq!(moves[0]["before"]["head"], json!({"branch": "main"}));
    assert_eq!(moves[2]["before"]["head_commit"], json!(null));
    let log = dir.json(&["log", "--oneline"]);
    assert_eq!(log["commits"][0]["id"], json!(id));
    assert_eq!(log["commits"][0]["tokens"], json!(2));
    let shown = dir.json(&["show", &id[..8]]);
    assert_eq!(shown["content"], json!("hello world"));
    let status = dir.json(&["status"]);
    assert_eq!(status["context"]["branch"], json!("topic"));
    assert_eq!(status["context"]["tokens"], json!(2));
    assert_eq!(status["context"]["tokenizer"], json!("o200k_base"));
    assert_eq!(status["context"]["tokens_counted"], json!(2));
    let undone = dir.json(&["undo"]);
    assert_eq!(undone["head"], json!({"branch": "main"}));
}

#[test]
fn imported_context_events_naming_unknown_commits_exit_2_and_append_nothing() {
    let dir = Dir::initialized_with_sync(Some("never"));
    import_commit(&dir, 0, "base", &[]);
    let before = dir.export();
    let unknown = "ab".repeat(32);
    let good = r#"{"type":"action","data":{"description":"ok"}}"#;
    let ref_update = json!({"type": "ref_update", "data": {"op": "reset", "agent": "main",
        "head": {"branch": "main"}, "branches": {"main": unknown}}});
    let output = dir.run_stdin(&["import", "-"], &format!("{good}\n{ref_update}\n"));
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    assert_eq!(
        text(&output.stderr).trim(),
        format!("agentrail: line 2, field `data.branches.main`: points at {unknown}, which is not a commit; nothing was appended")
    );
    let edit = json!({"type": "commit", "data": {"kind": "edit", "message": "m", "content": "c",
        "target": unknown}});
    let output = dir.run(&["append", "--event", &edit.to_string()]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("--event, field `data.target`: names"),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(dir.export(), before);
}

#[test]
fn a_new_agent_needs_the_name_a_sub_agent_would_need_but_an_imported_one_keeps_working() {
    let dir = Dir::initialized_with_sync(Some("never"));
    for env in [&[][..], &[("AGENTRAIL_AGENT", "bad name")]] {
        let mut args = vec!["commit", "-m", "m", "--content", "c"];
        if env.is_empty() {
            args.extend(["--agent", "bad name"]);
        }
        let output = dir.run_env(&args, env);
        assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
        assert!(text(&output.stderr).contains("is not a name for a new agent"));
    }
    let spawn = dir.run(&["spawn", "kid", "--agent", "-lead"]);
    assert_eq!(spawn.status.code(), Some(2), "{}", text(&spawn.stderr));
    assert!(dir.export().is_empty(), "nothing was recorded");
    let imported = json!({"type": "commit", "agent": "my agent",
        "data": {"kind": "append", "message": "m", "content": "c", "tokens": 1}});
    dir.import(&format!("{imported}\n"));
    dir.ok(&[
        "commit",
        "-m",
        "m2",
        "--content",
        "c2",
        "--agent",
        "my agent",
    ]);
    assert_eq!(dir.ok(&["context", "--agent", "my agent"]), "c\n\nc2\n");
}

#[test]
fn bad_input_exits_2_naming_the_field_and_records_nothing() {
    let dir = Dir::initialized_with_sync(Some("never"));
    dir.ok(&["commit", "-m", "m", "--content", "c"]);
    let before = dir.export().len();
    for (args, named) in [
        (
            &["commit", "-m", "x", "--kind", "edit", "--content", "y"][..],
            "data.target",
        ),
        (
            &["commit", "-m", "x", "--kind", "bogus", "--content", "y"],
            "--kind",
        ),
        (
            &["commit", "-m", "x", "--tokens=-1", "--content", "y"],
            "--tokens",
        ),
        (&["commit", "--content", "y"], "--message"),
        (&["commit", "-m", "x", "--file", "missing.txt"], "--file"),
        (&["commit", "-m", "", "--content", "y"], "message is empty"),
        (
            &["commit", "-m", "x", "--content", ""],
            "append commit is empty",
        ),
        (&["reset", "main"], "--soft|--hard"),
        (&["branch", "bad name"], "bad name"),
        (&["switch", "nowhere"], "nowhere"),
        (&["checkout", "xyz!"], "xyz!"),
        // A mistyped branch name is named as one, not only as a bad commit id prefix.
        (&["merge", "nowhere"], "no branch \"nowhere\""),
        (&["diff", "main", "nowhere"], "no branch \"nowhere\""),
        // Options of one form of `log` are refused in the other, not silently ignored.
        (&["log", "-n", "2"], "--max-count"),
        (&["log", "--oneline", "--last", "2"], "--last"),
        (&["log", "--graph", "--type", "commit"], "--type"),
        (&["checkout", "abc"], "at least 4 hex digits"),
    ] {
        let output = dir.run(args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&output.stderr)
        );
        assert!(
            text(&output.stderr).contains(named),
            "{args:?}: {}",
            text(&output.stderr)
        );
    }
    // An empty agent name (`--agent "$UNSET"`, or AGENTRAIL_AGENT left empty) names no agent:
    // it does not start a context of agent "".
    let output = dir.run(&["commit", "-m", "x", "--content", "y", "--agent", ""]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    for args in [
        &["commit", "-m", "x", "--content", "y"][..],
        &["log", "--oneline"],
    ] {
        let output = dir.run_env(args, &[("AGENTRAIL_AGENT", "")]);
        assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
        assert!(text(&output.stderr).contains("AGENTRAIL_AGENT"));
    }
    assert_eq!(dir.export().len(), before);
    let nothing = Dir::initialized_with_sync(Some("never"));
    let output = nothing.run(&["undo"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("no ref move to undo"));
}

#[test]
fn unknown_and_ambiguous_prefixes_are_clear_errors() {
    let dir = Dir::initialized_with_sync(Some("never"));
    dir.import(&imported(600));
    let log = dir.json(&["log", "--oneline"]);
    let mut ids: Vec<String> = log["commits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|commit| commit["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 600);
    ids.sort();
    let shared = ids
        .windows(2)
        .find(|pair| pair[0][..4] == pair[1][..4])
        .expect("600 ids share some 4-digit prefix");
    let prefix = &shared[0][..4];
    for args in [["checkout", prefix], ["show", prefix]] {
        let output = dir.run(&args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = text(&output.stderr);
        assert!(
            stderr.contains(&format!("commit id prefix {prefix} is ambiguous")),
            "{stderr}"
        );
        assert!(stderr.contains(&shared[1][..12]), "{stderr}");
    }
    let unused = (0..=0xffffu32)
        .map(|value| format!("{value:04x}"))
        // All digits would read as an LSN in `show`.
        .filter(|candidate| candidate.bytes().any(|byte| byte.is_ascii_alphabetic()))
        .find(|candidate| !ids.iter().any(|id| id.starts_with(candidate.as_str())))
        .unwrap();
    for args in [["checkout", &unused], ["show", &unused]] {
        let output = dir.run(&args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(text(&output.stderr).contains(&format!("no commit {unused} in this journal")));
    }
    dir.ok(&["checkout", &shared[0][..10]]);
}

#[test]
fn a_refusal_hints_only_at_what_helps() {
    let dir = Dir::initialized_with_sync(Some("never"));
    let hint = |args: &[&str]| {
        let output = dir.run(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = text(&output.stderr);
        stderr
            .lines()
            .find_map(|line| line.strip_prefix("hint: "))
            .map(str::to_owned)
    };
    let first = hint(&["checkout", "HEAD"]).unwrap();
    assert!(first.contains("agentrail commit -m MSG"), "{first}");
    dir.ok(&["commit", "-m", "one", "--content", "one"]);
    let listing = hint(&["checkout", "HEAD~3"]).unwrap();
    assert!(listing.contains("agentrail log --oneline"), "{listing}");
    let branches = hint(&["branch", "main"]).unwrap();
    assert!(branches.contains("agentrail branch --list"), "{branches}");
    // The message says all there is: no hint pointing at listings that do not help.
    assert_eq!(hint(&["blame", ""]), None);
    assert_eq!(hint(&["spawn", "main"]), None);
    // Another agent's commit: the way to act on it is that agent's --agent.
    let kid = dir.ok(&["commit", "-m", "k", "--content", "k", "--agent", "kid"]);
    let other = hint(&["checkout", kid.trim()]).unwrap();
    assert_eq!(other, "`--agent kid` acts on that agent's context");
    // A bad --order: the listing does not help, what --order must name does.
    dir.ok(&["commit", "-m", "two", "--content", "two"]);
    dir.ok(&["commit", "-m", "three", "--content", "three"]);
    let order = hint(&["reorder", "HEAD~2..HEAD", "--order", "HEAD,HEAD"]).unwrap();
    assert!(
        order.starts_with("--order names each commit of the range exactly once"),
        "{order}"
    );
}

#[test]
fn imported_history_as_a_person_reads_it() {
    let dir = Dir::initialized_with_sync(Some("never"));
    dir.import(&imported(4));
    dir.ok(&["branch", "topic", "fdcf4685"]);
    insta::assert_snapshot!(
        "log_oneline",
        dir.render(&dir.run(&["log", "--oneline", "--all"]))
    );
    insta::assert_snapshot!("log_graph", dir.render(&dir.run(&["log", "--graph"])));
    insta::assert_snapshot!("context", dir.render(&dir.run(&["context"])));
    let config = dir.path().join(".agentrail/config.json");
    let original: Value = serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    let context_lines = |budget: u64| {
        let mut value = original.clone();
        value["context"] = json!({ "budget_tokens": budget });
        std::fs::write(&config, value.to_string()).unwrap();
        let status = dir.ok(&["status"]);
        status
            .lines()
            .skip(3)
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let line =
        |budget: u64| format!("context: agent main, main at 594e68999b5b, 46 tokens of {budget}");
    assert_eq!(context_lines(60), [line(60)]);
    assert_eq!(
        context_lines(50),
        [
            line(50),
            "warning: the context is at 92% of its budget of 50 tokens".into()
        ]
    );
    assert_eq!(
        context_lines(40),
        [
            line(40),
            "warning: the context is over its budget (115% of 40 tokens)".into()
        ]
    );
    // Exactly at its budget a context is not over it; any token is over a budget of 0.
    assert_eq!(
        context_lines(46),
        [
            line(46),
            "warning: the context is at 100% of its budget of 46 tokens".into()
        ]
    );
    assert_eq!(
        context_lines(0),
        [
            line(0),
            "warning: the context is over its budget of 0 tokens".into()
        ]
    );
}

/// Imports one commit at a fixed time (second `second` of the test's minute), on HEAD unless
/// `parents` names them, so its id is the same on every run.
fn import_commit(dir: &Dir, second: u32, message: &str, parents: &[String]) {
    let mut data = json!({"kind": "append", "message": message, "content": message, "tokens": 1});
    if !parents.is_empty() {
        data["parents"] = json!(parents);
    }
    let event = json!({
        "ts": format!("2026-11-23T11:00:{second:02}Z"),
        "type": "commit",
        "session": "s-000000000001",
        "data": data,
    });
    dir.import(&format!("{event}\n"));
}

/// The id of the commit with `message`, among those `log --all` lists.
fn id_of(dir: &Dir, message: &str) -> String {
    let log = dir.json(&["log", "--all"]);
    let commits = log["commits"].as_array().unwrap();
    let found = commits.iter().find(|commit| commit["message"] == message);
    found.unwrap()["id"].as_str().unwrap().to_owned()
}

/// A topic branch merged into main twice, then worked on again: base, main-1, topic-1,
/// merge-1 of both, topic-2, main-2, merge-2, topic-3, in this order.
fn merged_twice() -> Dir {
    let dir = Dir::initialized_with_sync(Some("never"));
    import_commit(&dir, 0, "base", &[]);
    dir.ok(&["branch", "topic"]);
    import_commit(&dir, 1, "main-1", &[]);
    dir.ok(&["switch", "topic"]);
    import_commit(&dir, 2, "topic-1", &[]);
    dir.ok(&["switch", "main"]);
    let merge = |second: u32, message: &str, theirs: &str| {
        let parents = [
            id_of(&dir, &format!("main-{}", &message[6..])),
            id_of(&dir, theirs),
        ];
        import_commit(&dir, second, message, &parents);
    };
    merge(3, "merge-1", "topic-1");
    dir.ok(&["switch", "topic"]);
    import_commit(&dir, 4, "topic-2", &[]);
    dir.ok(&["switch", "main"]);
    import_commit(&dir, 5, "main-2", &[]);
    merge(6, "merge-2", "topic-2");
    dir.ok(&["switch", "topic"]);
    import_commit(&dir, 7, "topic-3", &[]);
    dir.ok(&["switch", "main"]);
    dir
}

#[test]
fn log_graph_draws_branches_and_merges_in_lanes() {
    let dir = merged_twice();
    let log = |args: &[&str]| dir.render(&dir.run(args));
    insta::assert_snapshot!(
        "log_graph_oneline_all",
        log(&["log", "--graph", "--oneline", "--all"])
    );
    insta::assert_snapshot!("log_graph_merges", log(&["log", "--graph", "-n", "4"]));
    insta::assert_snapshot!(
        "log_graph_oneline_limit",
        log(&["log", "--graph", "--oneline", "-n", "5"])
    );
    // The graph is for people: `--json` lists the same commits with or without it.
    for (limit, count) in [(&[][..], 8), (&["-n", "3"][..], 3)] {
        let listed = dir.json(&[&["log", "--oneline", "--all"], limit].concat());
        assert_eq!(listed["commits"].as_array().unwrap().len(), count);
        for graph in [&["--graph"][..], &["--graph", "--oneline"]] {
            let args = [&["log", "--all"], graph, limit].concat();
            assert_eq!(dir.json(&args), listed, "{args:?}");
        }
    }
}

#[test]
fn a_merge_commit_reads_merge_in_the_human_output_and_keeps_its_kind_in_json() {
    let dir = merged_twice();
    let merge = id_of(&dir, "merge-1");
    let short = &merge[..12];
    let listed = |args: &[&str]| {
        let output = dir.ok(args);
        let line = output.lines().find(|line| line.contains(short));
        line.unwrap_or_else(|| panic!("{args:?}: {output}"))
            .to_owned()
    };
    assert!(
        listed(&["log", "--oneline"]).ends_with(&format!("{short} merge 1 token merge-1")),
        "{}",
        listed(&["log", "--oneline"])
    );
    assert!(listed(&["log", "--graph", "--oneline", "--all"])
        .ends_with(&format!("{short} merge 1 token merge-1")));
    let log = dir.ok(&["log", "--all"]);
    assert!(log.contains(&format!("commit {merge}\nmerge: ")), "{log}");
    assert!(log.contains("\nmerge, 1 token, "), "{log}");
    let show = dir.ok(&["show", short]);
    assert!(
        show.starts_with(&format!("commit {merge}\nmerge, 1 token, agent main, ")),
        "{show}"
    );
    // --json keeps the kind as stored; its parents say it is a merge.
    let shown = dir.json(&["show", short]);
    assert_eq!(shown["kind"], "append");
    assert_eq!(shown["parents"].as_array().unwrap().len(), 2);
}

#[test]
fn agents_have_separate_contexts() {
    let dir = Dir::initialized_with_sync(Some("never"));
    dir.ok(&["commit", "-m", "m", "--content", "main's"]);
    dir.ok(&[
        "commit",
        "-m",
        "m",
        "--content",
        "planner's",
        "--agent",
        "planner",
    ]);
    let output = dir.run_env(
        &["commit", "-m", "m", "--content", "coder's"],
        &[("AGENTRAIL_AGENT", "coder")],
    );
    assert!(output.status.success());
    assert_eq!(dir.ok(&["context"]), "main's\n");
    assert_eq!(dir.ok(&["context", "--agent", "planner"]), "planner's\n");
    let output = dir.run_env(&["context"], &[("AGENTRAIL_AGENT", "coder")]);
    assert_eq!(text(&output.stdout), "coder's\n");
    let planner = dir.json(&["log", "--oneline", "--agent", "planner"]);
    assert_eq!(planner["commits"].as_array().unwrap().len(), 1);
    // `status` takes --agent as every context command does, over AGENTRAIL_AGENT.
    let status = dir.run_env(
        &["status", "--json", "--agent", "planner"],
        &[("AGENTRAIL_AGENT", "coder")],
    );
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["context"]["agent"], json!("planner"));
}

#[test]
fn recording_off_records_nothing_and_reads_still_work() {
    let dir = Dir::initialized_with_sync(Some("never"));
    let id = dir.json(&["commit", "-m", "m", "--content", "kept"])["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = dir.export().len();
    let off = [("AGENTRAIL", "off")];
    for args in [
        &["commit", "-m", "m", "--content", "dropped"][..],
        &["branch", "topic"],
        &["switch", "main"],
        &["checkout", &id],
        &["reset", "--soft", &id],
        &["undo"],
    ] {
        let output = dir.run_env(args, &off);
        assert!(output.status.success(), "{args:?}");
        assert_eq!(text(&output.stdout), "", "{args:?}");
    }
    assert_eq!(dir.export().len(), before);
    assert_eq!(text(&dir.run_env(&["context"], &off).stdout), "kept\n");
    assert!(text(&dir.run_env(&["branch", "--list"], &off).stdout).contains("* main"));
}

#[test]
fn show_keeps_lsns_and_sessions_first() {
    let dir = Dir::initialized_with_sync(Some("never"));
    dir.import(&imported(2));
    assert_eq!(dir.json(&["show", "1"])["lsn"], json!(1));
    let output = dir.run(&["show", "nonsense"]);
    assert_eq!(output.status.code(), Some(2));
    // show takes commits and branches too, and says so.
    assert!(
        text(&output.stderr).contains("names no LSN, session, commit or branch in this journal"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn an_all_digit_prefix_that_names_no_lsn_shows_the_commit() {
    use agentrail::context::{commit_id, CommitFields, CommitKind};
    // A commit time whose id starts with 8 decimal digits (about 1 time in 43).
    let no_links = Default::default();
    let (ts, id) = (1_700_000_000_000_000i64..)
        .map(|ts| {
            let id = commit_id(&CommitFields {
                parents: &[],
                kind: CommitKind::Append,
                content: "c",
                message: "m",
                target: None,
                tokens: 1,
                agent: "main",
                session: None,
                ts_micros: ts,
                links: &no_links,
            });
            (ts, id)
        })
        .find(|(_, id)| id[..8].bytes().all(|byte| byte.is_ascii_digit()))
        .unwrap();
    let dir = Dir::initialized();
    let line = json!({"type": "commit", "ts": agentrail::event::format_ts(ts), "agent": "main",
        "data": {"kind": "append", "message": "m", "content": "c", "tokens": 1}});
    let output = dir.run_stdin(&["import", "-"], &format!("{line}\n"));
    assert!(output.status.success(), "{}", text(&output.stderr));
    let shown = dir.json(&["show", &id[..8]]);
    assert_eq!(shown["id"], json!(id));
    assert_eq!(shown["content"], json!("c"));
}

#[test]
fn commits_from_parallel_processes_on_one_agent_all_stay_in_its_context() {
    const PROCESSES: usize = 4;
    const COMMITS_PER_PROCESS: usize = 6;
    let dir = Dir::initialized_with_sync(Some("never"));
    std::thread::scope(|scope| {
        for process in 0..PROCESSES {
            let dir = &dir;
            scope.spawn(move || {
                for index in 0..COMMITS_PER_PROCESS {
                    let content = format!("block {process}-{index}");
                    dir.ok(&[
                        "commit",
                        "-m",
                        &content,
                        "--tokens",
                        "1",
                        "--content",
                        &content,
                    ]);
                }
            });
        }
    });
    let context: Value = serde_json::from_str(&dir.ok(&["context", "--json"])).unwrap();
    let blocks = context["blocks"].as_array().unwrap();
    assert_eq!(blocks.len(), PROCESSES * COMMITS_PER_PROCESS, "{context}");
    let log: Value = serde_json::from_str(&dir.ok(&["log", "--oneline", "--json"])).unwrap();
    let commits = log["commits"].as_array().unwrap();
    assert_eq!(commits.len(), PROCESSES * COMMITS_PER_PROCESS);
    // One line of history: each commit's parent is the one logged after it.
    for pair in commits.windows(2) {
        assert_eq!(pair[0]["parents"], json!([pair[1]["id"]]), "{log}");
    }
}

/// The full id of the commit at `rev`, as `show --json` names it.
fn id_at(dir: &Dir, rev: &str) -> String {
    dir.json(&["show", rev])["id"].as_str().unwrap().to_owned()
}

#[test]
fn revisions_with_head_and_steps_name_commits_in_every_command() {
    let dir = Dir::initialized_with_sync(Some("never"));
    dir.import(&imported(4));
    let log = dir.json(&["log", "--oneline"]);
    let ids: Vec<&str> = log["commits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|commit| commit["id"].as_str().unwrap())
        .collect();
    // Newest first: ids[0] is HEAD, ids[3] the root.
    assert_eq!(id_at(&dir, "HEAD"), ids[0]);
    assert_eq!(id_at(&dir, "HEAD~"), ids[1]);
    assert_eq!(id_at(&dir, "main~2"), ids[2]);
    assert_eq!(id_at(&dir, "HEAD^^^"), ids[3]);
    assert_eq!(id_at(&dir, &format!("{}~1", &ids[1][..6])), ids[2]);
    assert_eq!(
        dir.ok(&["context", "--at", "HEAD~2"]),
        "content 0\n\ncontent 1\n"
    );
    let branch = dir.json(&["branch", "topic", "HEAD~3"]);
    assert_eq!(branch["at"], json!(ids[3]));
    let checkout = dir.json(&["checkout", "topic~0"]);
    assert_eq!(checkout["head"], json!({ "detached": ids[3] }));
    dir.ok(&["switch", "main"]);
    let reset = dir.json(&["reset", "--soft", "HEAD^"]);
    assert_eq!(reset["head_commit"], json!(ids[1]));
    let diff = dir.json(&["diff", "HEAD~1", "main"]);
    assert_eq!(diff["only_from"], json!([]), "{diff}");
    assert_eq!(diff["only_to"][0]["id"], json!(ids[1]), "{diff}");
    // `show` reads branches and HEAD of --agent.
    let output = dir.run(&["show", "HEAD", "--agent", "nobody"]);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn bad_revisions_exit_2_naming_the_revision() {
    let dir = Dir::initialized_with_sync(Some("never"));
    let unborn = dir.run(&["checkout", "HEAD~1"]);
    assert_eq!(unborn.status.code(), Some(2));
    assert!(
        text(&unborn.stderr).contains("revision \"HEAD~1\": agent \"main\" has no commit yet"),
        "{}",
        text(&unborn.stderr)
    );
    dir.import(&imported(2));
    let before = dir.export().len();
    for (args, says) in [
        (
            &["reset", "--hard", "HEAD~2"][..],
            "revision \"HEAD~2\" walks past commit",
        ),
        (
            &["checkout", "main^2"],
            "revision \"main^2\" asks for parent 2 of commit",
        ),
        (
            &["context", "--at", "main~x"],
            "\"main~x\" is not a revision",
        ),
        (&["branch", "b", "^HEAD"], "\"^HEAD\" is not a revision"),
        (&["show", "HEAD~9"], "revision \"HEAD~9\" walks past"),
        (
            &["diff", "HEAD", "HEAD^3"],
            "revision \"HEAD^3\" asks for parent 3",
        ),
    ] {
        let output = dir.run(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(
            text(&output.stderr).contains(says),
            "{args:?}: {}",
            text(&output.stderr)
        );
    }
    assert_eq!(dir.export().len(), before);
}

#[test]
fn branch_delete_refuses_then_deletes_and_undo_brings_it_back() {
    let dir = Dir::initialized_with_sync(Some("never"));
    dir.import(&imported(3));
    dir.ok(&["branch", "merged", "HEAD~1"]);
    dir.ok(&["branch", "topic", "HEAD~2"]);
    dir.ok(&["switch", "topic"]);
    // At a fixed time, so the snapshot's ids stay.
    let line = json!({"ts": "2026-11-23T11:00:00Z", "type": "commit",
        "data": {"kind": "append", "message": "t", "content": "only on topic", "tokens": 1}});
    dir.import(&format!("{line}\n"));
    let on_head = dir.run(&["branch", "-d", "topic"]);
    assert_eq!(on_head.status.code(), Some(2));
    assert!(text(&on_head.stderr).contains("HEAD is on it"));
    dir.ok(&["switch", "main"]);
    let before = dir.export().len();
    insta::assert_snapshot!("branch_delete", {
        let mut runs = String::new();
        for args in [
            &["branch", "-d", "topic"][..],
            &["branch", "--delete", "merged"],
            &["branch", "-d", "nowhere"],
            &["branch", "-d", "main"],
        ] {
            runs += &format!("$ {}\n{}\n", args.join(" "), dir.render(&dir.run(args)));
        }
        runs
    });
    assert_eq!(dir.export().len(), before + 1, "only `merged` was deleted");
    let topic = dir.json(&["branch", "--list"])["branches"]["topic"].clone();
    let deleted = dir.json(&["branch", "-D", "topic"]);
    assert_eq!(deleted["deleted"], json!("topic"));
    assert_eq!(deleted["at"], topic);
    assert_eq!(deleted["branches"], json!({ "main": id_at(&dir, "main") }));
    assert_eq!(deleted["head"], json!({ "branch": "main" }));
    let reflog = dir.json(&["reflog"]);
    assert_eq!(reflog["moves"][0]["op"], json!("delete_branch"));
    assert_eq!(reflog["moves"][0]["before"]["branches"]["topic"], topic);
    assert!(dir
        .ok(&["reflog"])
        .starts_with(&format!("{} delete_branch: main@", before + 2)));
    dir.ok(&["undo"]);
    assert_eq!(dir.json(&["branch", "--list"])["branches"]["topic"], topic);
    let forced = dir.json(&["branch", "--delete", "--force", "topic"]);
    assert_eq!(forced["deleted"], json!("topic"));
    let usage = dir.run(&["branch", "--force", "x"]);
    assert_eq!(usage.status.code(), Some(2), "--force only deletes");
}

/// Found by reading `agentrail reflog` after `branch x` and `branch -d x`: both lines read
/// `main@ID -> main@ID`, naming neither the branch nor where it was, so nothing said what an
/// `undo` of them would bring back. Each line now names the branches other than HEAD's that
/// the move created, deleted or moved.
#[test]
fn reflog_names_the_branches_a_move_creates_deletes_or_moves() {
    let dir = Dir::initialized_with_sync(Some("never"));
    dir.import(&imported(3));
    let first = id_at(&dir, "HEAD~2");
    let last = id_at(&dir, "HEAD");
    dir.ok(&["branch", "topic", "HEAD~2"]);
    dir.ok(&["branch", "-D", "topic"]);
    dir.ok(&["undo"]);
    let reflog = dir.ok(&["reflog"]);
    let lines: Vec<&str> = reflog.lines().take(3).collect();
    let (first, last) = (&first[..12], &last[..12]);
    assert_eq!(
        lines,
        [
            format!("6 undo: main@{last} -> main@{last} (branch topic created at {first})"),
            format!(
                "5 delete_branch: main@{last} -> main@{last} (branch topic deleted at {first})"
            ),
            format!("4 branch: main@{last} -> main@{last} (branch topic created at {first})"),
        ]
    );
}

#[test]
fn branch_delete_under_recording_off_records_nothing() {
    let dir = Dir::initialized_with_sync(Some("never"));
    dir.import(&imported(2));
    dir.ok(&["branch", "topic"]);
    let before = dir.export().len();
    let output = dir.run_env(&["branch", "-D", "topic"], &[("AGENTRAIL", "off")]);
    assert!(output.status.success());
    assert_eq!(text(&output.stdout), "");
    assert_eq!(dir.export().len(), before);
    assert!(dir.json(&["branch", "--list"])["branches"]["topic"].is_string());
}

#[test]
fn show_indents_every_line_of_a_message() {
    // Only the first line of a message of several was indented, so the rest read as content.
    let dir = Dir::initialized();
    dir.ok(&[
        "commit",
        "-m",
        "first line\nsecond line",
        "--content",
        "body",
    ]);
    let shown = dir.ok(&["show", "HEAD"]);
    let lines: Vec<&str> = shown.lines().skip(2).collect();
    assert_eq!(
        lines,
        ["    first line", "    second line", "", "body"],
        "{shown}"
    );
}

#[test]
fn branch_alone_lists_the_branches() {
    let dir = Dir::initialized_with_sync(Some("never"));
    dir.ok(&["commit", "-m", "one", "--content", "one"]);
    dir.ok(&["branch", "topic"]);
    let listed = dir.ok(&["branch", "--list"]);
    assert!(
        listed.starts_with("* main ") && listed.contains("\n  topic "),
        "{listed}"
    );
    assert_eq!(dir.ok(&["branch"]), listed);
    assert_eq!(dir.json(&["branch"]), dir.json(&["branch", "--list"]));
    // Listing records nothing, so it also lists with recording off.
    let off = dir.run_env(&["branch"], &[("AGENTRAIL", "off")]);
    assert_eq!(text(&off.stdout), listed);
    // Deleting needs NAME; the usage shows each form with what it takes.
    let output = dir.run(&["branch", "-d"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("agentrail branch (-d | -D) [OPTIONS] NAME\n"),
        "{stderr}"
    );
}

#[test]
fn checkout_of_a_branch_name_switches_to_it_and_switch_to_a_commit_hints_at_checkout() {
    let dir = Dir::initialized_with_sync(Some("never"));
    dir.ok(&["commit", "-m", "one", "--content", "one"]);
    dir.ok(&["commit", "-m", "two", "--content", "two"]);
    dir.ok(&["branch", "topic", "HEAD~1"]);
    let topic = id_at(&dir, "topic");
    let main = id_at(&dir, "main");
    // As in git: a branch's exact name puts HEAD on it, as `switch` does.
    assert_eq!(
        dir.ok(&["checkout", "topic"]),
        format!("switch: HEAD topic ({})\n", &topic[..12])
    );
    let moved = dir.json(&["checkout", "main"]);
    assert_eq!(moved["head"], json!({"branch": "main"}));
    let reflog = dir.ok(&["reflog"]);
    assert!(
        reflog.lines().next().unwrap().contains(" switch: topic@"),
        "{reflog}"
    );
    // Anything else still detaches, a branch's commit too.
    assert_eq!(
        dir.ok(&["checkout", "main~0"]),
        format!("checkout: HEAD detached ({})\n", &main[..12])
    );
    // `switch` takes branches only; a commit gets the way to detach there.
    let output = dir.run(&["switch", &topic[..4]]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        text(&output.stderr),
        format!(
            "agentrail: agent \"main\" has no branch \"{0}\"\nhint: `agentrail checkout {0}` detaches HEAD at that commit\n",
            &topic[..4]
        )
    );
    let output = dir.run(&["switch", "nowhere"]);
    assert!(
        text(&output.stderr).contains("hint: `agentrail log --oneline` lists commits"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn leaving_a_detached_head_warns_of_the_commits_no_branch_reaches() {
    let dir = Dir::initialized_with_sync(Some("never"));
    dir.ok(&["commit", "-m", "one", "--content", "one"]);
    dir.ok(&["commit", "-m", "two", "--content", "two"]);
    // Detached on a branch's line, leaving it warns of nothing.
    dir.ok(&["checkout", "HEAD~1"]);
    let output = dir.run(&["switch", "main"]);
    assert_eq!(text(&output.stderr), "");
    dir.ok(&["checkout", "HEAD~1"]);
    let kept = dir.ok(&["commit", "-m", "detached work\nmore", "--content", "x"]);
    let kept = kept.trim();
    let output = dir.run(&["switch", "main"]);
    assert!(output.status.success());
    assert_eq!(
        text(&output.stderr),
        format!(
            "agentrail: warning: leaving 1 commit not on any branch: {kept} detached work\n\
             hint: `agentrail branch NAME {kept}` keeps it\n"
        )
    );
    // `--json` lists them; a move that leaves nothing lists none.
    dir.ok(&["checkout", kept]);
    let full = id_at(&dir, "HEAD");
    let moved = dir.json(&["checkout", "main"]);
    assert_eq!(moved["left_behind"], json!([full]));
    assert_eq!(dir.json(&["switch", "main"])["left_behind"], json!([]));
    // Several: the newest few listed, the rest counted, the hint naming the newest.
    dir.ok(&["checkout", kept]);
    for index in 0..5 {
        let message = format!("more {index}");
        dir.ok(&["commit", "-m", &message, "--content", &message]);
    }
    let newest = id_at(&dir, "HEAD");
    let output = dir.run(&["checkout", "main~1"]);
    let stderr = text(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines[0],
        "agentrail: warning: leaving 6 commits not on any branch:"
    );
    assert_eq!(lines[1], format!("  {} more 4", &newest[..12]));
    assert_eq!(lines[5], "  ... and 2 more");
    assert_eq!(
        lines[6],
        format!("hint: `agentrail branch NAME {}` keeps them", &newest[..12])
    );
    // The hint does keep them: from a branch there, leaving warns of nothing.
    dir.ok(&["branch", "kept", &newest[..12]]);
    dir.ok(&["checkout", "kept~0"]);
    assert_eq!(text(&dir.run(&["switch", "main"]).stderr), "");
}

#[test]
fn redaction_never_rewrites_ids_branches_or_agents() {
    let dir = Dir::initialized();
    // A user pattern that matches 40 characters of any commit id.
    let config = dir.path().join(".agentrail/config.json");
    let mut value: Value =
        serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    value["redact"] = json!({"patterns": [{"name": "vendor_key", "regex": "[A-Za-z0-9]{40}"}]});
    std::fs::write(&config, value.to_string()).unwrap();
    dir.ok(&["commit", "-m", "one", "--content", "first"]);
    dir.ok(&["commit", "-m", "two", "--content", "second"]);
    assert_eq!(dir.ok(&["log", "--oneline"]).lines().count(), 2);
    // A branch named like a secret field keeps its commit.
    dir.ok(&["branch", "fix-password"]);
    assert!(dir.ok(&["branch"]).contains("fix-password"));
    // An agent name that is a token is refused, and nothing is stored.
    let events = dir.ok(&["export"]);
    let token = "ghp_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let output = dir.run(&["commit", "-m", "x", "--content", "x", "--agent", token]);
    assert_eq!(output.status.code(), Some(2), "{}", dir.render(&output));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("field `agent`") && stderr.contains("github_token"),
        "{stderr}"
    );
    assert_eq!(dir.ok(&["export"]), events);
    // What was stored exports and imports back as it was.
    let fresh = Dir::initialized();
    let file = fresh.path().join("events.jsonl");
    std::fs::write(&file, &events).unwrap();
    fresh.ok(&["import", file.to_str().unwrap()]);
    assert!(fresh.ok(&["branch"]).contains("fix-password"));
}

/// The ids of HEAD's first-parent line, newest first.
fn line_ids(dir: &Dir) -> Vec<String> {
    let log = dir.json(&["log", "--oneline"]);
    let commits = log["commits"].as_array().unwrap();
    commits
        .iter()
        .map(|commit| commit["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Every context command, then `export`, imported into a fresh workspace: the input checks
/// accept everything the commands write (each `ref_update` op among them), and the graph comes
/// out the same. The ops written are exactly the ones the input allows.
#[test]
fn what_every_context_command_writes_imports_into_a_fresh_workspace() {
    let dir = Dir::initialized_with_sync(Some("never"));
    for args in [
        &["commit", "-m", "base", "--content", "base"][..],
        &["commit", "-m", "a", "--content", "a"],
        &["branch", "topic"],
        &["branch", "gone"],
        &["branch", "-d", "gone"],
        &["switch", "topic"],
        &["commit", "-m", "t", "--content", "theirs"],
        &["switch", "main"],
        &["commit", "-m", "b", "--content", "b"],
        &["merge", "topic"],
        &["checkout", "topic~0"],
        &["switch", "main"],
        &["reset", "--soft", "main~1"],
        &["undo"],
        &["reset", "--hard", "main~1"],
        &["undo"],
        &["branch", "side", "main~2"],
        &["switch", "side"],
        &["commit", "-m", "s", "--content", "side"],
        &["rebase", "main"],
        &["commit", "-m", "c1", "--content", "c1"],
        &["commit", "-m", "c2", "--content", "c2"],
    ] {
        dir.ok(args);
    }
    let ids = line_ids(&dir);
    let (range, order) = (
        format!("{}..{}", ids[2], ids[0]),
        format!("{},{}", ids[0], ids[1]),
    );
    dir.ok(&["reorder", &range, "--order", &order]);
    let range = format!("{}..{}", line_ids(&dir)[2], line_ids(&dir)[0]);
    dir.ok(&["compress", &range, "--summary", "c1 and c2"]);
    dir.ok(&["spawn", "helper", "--task", "find it"]);
    dir.ok(&[
        "commit",
        "--agent",
        "helper",
        "-m",
        "f",
        "--content",
        "found",
    ]);
    dir.ok(&["collapse", "helper", "--summary", "found it"]);
    let exported = dir.ok(&["export"]);
    let mut ops: Vec<&str> = Vec::new();
    let lines: Vec<Value> = (exported.lines())
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    for line in &lines {
        if line["type"] == "ref_update" {
            ops.push(line["data"]["op"].as_str().unwrap());
        }
    }
    ops.sort_unstable();
    ops.dedup();
    let mut allowed = agentrail::event::schema::REF_UPDATE_OPS.to_vec();
    allowed.sort_unstable();
    assert_eq!(ops, allowed, "every op is written, and no other");
    let fresh = Dir::initialized_with_sync(Some("never"));
    std::fs::write(fresh.path().join("events.jsonl"), &exported).unwrap();
    let imported = fresh.json(&["import", "events.jsonl"]);
    assert_eq!(imported["imported"], json!(lines.len()));
    for agent in ["main", "helper"] {
        for args in [&["context"][..], &["branch", "--list"], &["reflog"]] {
            let args = [args, &["--agent", agent]].concat();
            assert_eq!(fresh.ok(&args), dir.ok(&args), "{args:?}");
        }
    }
}
