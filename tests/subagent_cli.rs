//! The sub-agent and inspection commands through the binary: a lead that spawns, waits for and
//! collapses helpers; the summarizer protocol (context JSON on stdin, summary and an optional
//! usage line on stdout, recorded as an `llm_call`); `expand`, `blame`, `audit` and `diff A B`
//! in their human and `--json` forms; bad input (exit 2) and failed operations (exit 1).

use serde_json::{json, Value};

#[path = "common/workspace_dir.rs"]
mod workspace_dir;

use workspace_dir::{text, Dir};

fn commit(dir: &Dir, agent: &str, content: &str) -> String {
    let value = dir.json(&[
        "commit",
        "-m",
        content,
        "--content",
        content,
        "--agent",
        agent,
    ]);
    value["id"].as_str().unwrap().to_owned()
}

fn failing(dir: &Dir, args: &[&str], code: i32) -> String {
    let output = dir.run(args);
    assert_eq!(
        output.status.code(),
        Some(code),
        "{args:?}: {}",
        text(&output.stderr)
    );
    text(&output.stderr)
}

#[test]
fn a_lead_spawns_a_helper_collapses_it_and_expands_the_collapse() {
    let dir = Dir::initialized_with_sync(Some("never"));
    commit(&dir, "lead", "You lead.");
    let spawned = dir.json(&[
        "spawn",
        "helper",
        "--task",
        "Find the flaky test.",
        "--agent",
        "lead",
    ]);
    let root = spawned["root"].as_str().unwrap().to_owned();
    assert_eq!(spawned["child"], json!("helper"));
    assert_eq!(
        spawned["lsn"],
        json!(4),
        "the one ref_update after two commits"
    );
    assert_eq!(
        dir.ok(&["context", "--agent", "helper"]),
        "Find the flaky test.\n"
    );
    commit(&dir, "helper", "Looked in tests/.");
    let head = commit(&dir, "helper", "It is tests/io.rs.");
    let collapsed = dir.ok(&[
        "collapse",
        "helper",
        "--summary",
        "io.rs is flaky",
        "--agent",
        "lead",
    ]);
    let collapsed = collapsed.trim();
    assert_eq!(collapsed.len(), 12);
    // The helper has not committed since: a second collapse is refused, with the way to
    // change the summary instead.
    let again = [
        "collapse",
        "helper",
        "--summary",
        "again",
        "--agent",
        "lead",
    ];
    let refused = failing(&dir, &again, 1);
    assert!(
        refused.contains("has not committed since commit"),
        "{refused}"
    );
    assert!(
        refused.contains(&format!("commit --kind edit --target {collapsed}")),
        "{refused}"
    );
    assert_eq!(
        dir.ok(&["context", "--agent", "lead"]),
        "You lead.\n\nSpawned sub-agent helper with the task:\nFind the flaky test.\n\n\
         Sub-agent helper finished.\n\nSummary:\nio.rs is flaky\n\nOutput:\nIt is tests/io.rs.\n"
    );
    let expanded = dir.ok(&["expand", collapsed]);
    let lines: Vec<&str> = expanded.lines().collect();
    assert_eq!(
        lines[0],
        format!("collapse {collapsed} of helper by lead"),
        "{expanded}"
    );
    assert_eq!(lines[1], "    Sub-agent helper finished.");
    assert_eq!(lines[2], "");
    assert_eq!(
        lines[8],
        format!("| {} append 5 tokens spawned by lead", &root[..12])
    );
    assert_eq!(lines[9], "|     Find the flaky test.");
    let child_lines = lines
        .iter()
        .filter(|line| line.starts_with("| ") && !line.starts_with("|  "));
    assert_eq!(child_lines.count(), 3, "{expanded}");
    let value = dir.json(&["expand", collapsed]);
    assert_eq!(value["kind"], json!("collapse"));
    assert_eq!(value["commit"]["links"]["child_head"], json!(head));
    assert_eq!(
        value["child_commits"][0]["links"]["parent_agent"],
        json!("lead")
    );
    assert_eq!(
        value["child_commits"][2]["content"],
        json!("It is tests/io.rs.")
    );
    // Both agents' reflogs hold the spawn; undo moves back only the agent that undoes.
    for agent in ["lead", "helper"] {
        let reflog = dir.ok(&["reflog", "--agent", agent]);
        assert!(reflog.contains("4 spawn: main@"), "{agent}: {reflog}");
    }
    assert!(dir
        .ok(&["reflog", "--agent", "lead"])
        .contains(" collapse: main@"));
    dir.ok(&["undo", "--agent", "lead"]);
    dir.ok(&["undo", "--agent", "lead"]);
    assert_eq!(dir.ok(&["context", "--agent", "lead"]), "You lead.\n");
    assert_eq!(
        dir.ok(&["context", "--agent", "helper"]).lines().count(),
        5,
        "the helper keeps its context"
    );
}

/// `show COMMIT` prints each link as `NAME: VALUE` (a commit shortened to 12 digits, an agent
/// by name) and the session; `--json` of `show` and `log` carry the `links` object, `{}` for a
/// commit without links.
#[test]
fn show_and_log_name_the_links_of_spawn_root_and_collapse_commits() {
    let dir = Dir::initialized_with_sync(Some("never"));
    let session = dir.json(&["session", "start", "lead the work", "--agent", "lead"])["session"]
        .as_str()
        .unwrap()
        .to_owned();
    let first = commit(&dir, "lead", "You lead.");
    let spawned = dir.json(&["spawn", "helper", "--task", "Find it.", "--agent", "lead"]);
    let root = spawned["root"].as_str().unwrap().to_owned();
    let head = commit(&dir, "helper", "Found it.");
    dir.ok(&[
        "collapse",
        "helper",
        "--summary",
        "found",
        "--agent",
        "lead",
    ]);
    let lead = ["--agent", "lead"];
    let id_of = |rev: &str| dir.json(&["show", rev, lead[0], lead[1]])["id"].clone();
    let spawn = id_of("HEAD~1");
    let show = |rev: &str| dir.ok(&["show", rev, lead[0], lead[1]]);
    let lines = |shown: &str| shown.lines().map(str::to_owned).collect::<Vec<_>>();
    // The spawn commit: the child and its root.
    let shown = show("HEAD~1");
    assert!(
        lines(&shown)[1].contains(&format!(" tokens, agent lead, session {session}, 20")),
        "{shown}"
    );
    assert_eq!(
        lines(&shown)[2..5],
        [
            "child: helper",
            &format!("child_root: {}", &root[..12])[..],
            "    spawn helper"
        ],
        "{shown}"
    );
    // The child's root: its parent agent and the parent's HEAD at the spawn.
    let shown = show(&root[..12]);
    assert_eq!(
        lines(&shown)[2..4],
        [
            "parent_agent: lead",
            &format!("spawned_from: {}", &first[..12])[..]
        ],
        "{shown}"
    );
    // The collapse: the child and the child's head it folded.
    let shown = show("HEAD");
    assert_eq!(
        lines(&shown)[2..4],
        ["child: helper", &format!("child_head: {}", &head[..12])[..]],
        "{shown}"
    );
    // A commit without links or session: no line for either.
    let shown = dir.ok(&["show", &head[..12]]);
    assert!(
        lines(&shown)[1].starts_with("append, 3 tokens, agent helper, 20"),
        "{shown}"
    );
    assert_eq!(lines(&shown)[2], "    Found it.", "{shown}");

    let shown = dir.json(&["show", "HEAD", lead[0], lead[1]]);
    assert_eq!(
        shown["links"],
        json!({"child": "helper", "child_head": head})
    );
    assert_eq!(shown["session"], json!(session));
    assert_eq!(dir.json(&["show", &head[..12]])["links"], json!({}));
    let log = dir.json(&["log", "--oneline", lead[0], lead[1]]);
    let links: Vec<&Value> = log["commits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|commit| &commit["links"])
        .collect();
    assert_eq!(
        links,
        [
            &json!({"child": "helper", "child_head": head}),
            &json!({"child": "helper", "child_root": root}),
            &json!({}),
        ]
    );
    assert_eq!(log["commits"][1]["id"], spawn);
    let log = dir.json(&["log", "--oneline", "--agent", "helper"]);
    assert_eq!(
        log["commits"][1]["links"],
        json!({"parent_agent": "lead", "spawned_from": first})
    );
}

#[test]
fn the_summarizer_reads_the_context_json_and_its_usage_line_is_an_llm_call() {
    let dir = Dir::initialized_with_sync(Some("never"));
    commit(&dir, "lead", "You lead.");
    dir.ok(&["spawn", "helper", "--agent", "lead"]);
    commit(&dir, "helper", "Done: 42.");
    let summarizer = "cat > seen.json; printf 'The answer is 42.\\n\\n'; \
         echo '{\"usage\":{\"input_tokens\":120,\"output_tokens\":7},\"model\":\"small\"}'";
    let value = dir.json(&[
        "collapse",
        "helper",
        "--summarizer",
        summarizer,
        "--output",
        "42",
        "--agent",
        "lead",
    ]);
    assert_eq!(value["summary"], json!("The answer is 42."));
    assert_eq!(value["output"], json!("42"));
    let seen: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("seen.json")).unwrap())
            .unwrap();
    assert_eq!(seen["agent"], json!("helper"));
    assert_eq!(seen["blocks"].as_array().unwrap().len(), 2);
    assert_eq!(seen["blocks"][1]["content"], json!("Done: 42."));
    let call = dir
        .export()
        .into_iter()
        .find(|event| event["type"] == json!("llm_call"))
        .unwrap();
    assert_eq!(call["lsn"], value["llm_call_lsn"]);
    assert_eq!(call["agent"], json!("lead"));
    assert_eq!(call["data"]["model"], json!("small"));
    assert_eq!(call["data"]["input_tokens"], json!(120));
    let tokens = dir.json(&["tokens", "--by", "model"]);
    assert_eq!(tokens["small"]["output_tokens"], json!(7));

    // Without a usage line the whole output is the summary and nothing else is recorded.
    commit(&dir, "helper", "Checked: 42.");
    let value = dir.json(&[
        "collapse",
        "helper",
        "--summarizer",
        "echo plain",
        "--agent",
        "lead",
    ]);
    assert_eq!(value["summary"], json!("plain"));
    assert_eq!(value["llm_call_lsn"], Value::Null);

    // A failing summarizer, or a bad usage line, is a failed operation; nothing is recorded.
    commit(&dir, "helper", "Rechecked: 42.");
    let events = dir.export().len();
    let stderr = failing(
        &dir,
        &[
            "collapse",
            "helper",
            "--summarizer",
            "exit 3",
            "--agent",
            "lead",
        ],
        1,
    );
    assert!(
        stderr.contains("failed (exit status: 3); nothing was recorded"),
        "{stderr}"
    );
    let bad_usage = "echo s; echo '{\"usage\":{\"input_tokens\":-1}}'";
    let stderr = failing(
        &dir,
        &[
            "collapse",
            "helper",
            "--summarizer",
            bad_usage,
            "--agent",
            "lead",
        ],
        1,
    );
    assert!(stderr.contains("usage.input_tokens"), "{stderr}");
    assert_eq!(dir.export().len(), events);
}

#[test]
fn spawn_and_collapse_refuse_bad_input_with_exit_2() {
    let dir = Dir::initialized_with_sync(Some("never"));
    commit(&dir, "lead", "You lead.");
    commit(&dir, "busy", "Working.");
    let stderr = failing(&dir, &["spawn", "busy", "--agent", "lead"], 2);
    assert!(
        stderr.contains("agent \"busy\" already has a context"),
        "{stderr}"
    );
    failing(&dir, &["spawn", "lead", "--agent", "lead"], 2);
    failing(&dir, &["spawn", "-x"], 2);
    let stderr = failing(
        &dir,
        &["collapse", "busy", "--summary", "s", "--agent", "lead"],
        2,
    );
    assert!(
        stderr.contains("was not spawned by agent \"lead\""),
        "{stderr}"
    );
    let stderr = failing(
        &dir,
        &["collapse", "ghost", "--summary", "s", "--agent", "lead"],
        2,
    );
    assert!(stderr.contains("no agent \"ghost\""), "{stderr}");
    failing(&dir, &["collapse", "busy", "--agent", "lead"], 2);
    failing(
        &dir,
        &["collapse", "busy", "--summary", "s", "--summarizer", "x"],
        2,
    );
    let stderr = failing(&dir, &["expand", &commit(&dir, "lead", "plain")], 2);
    assert!(
        stderr.contains("neither a spawn nor a collapse"),
        "{stderr}"
    );
    // AGENTRAIL=off makes spawn a no-op.
    let before = dir.export().len();
    let output = dir.run_env(
        &["spawn", "quiet", "--agent", "lead"],
        &[("AGENTRAIL", "off")],
    );
    assert!(output.status.success());
    assert_eq!(dir.export().len(), before);
}

#[test]
fn blame_prints_the_commit_and_the_edit_of_each_matching_line() {
    let dir = Dir::initialized_with_sync(Some("never"));
    let system = commit(&dir, "main", "You are a coding agent.\nBe brief.");
    let task = commit(&dir, "main", "Fix the flaky test.");
    let edit = dir.json(&[
        "commit",
        "-m",
        "careful",
        "--kind",
        "edit",
        "--target",
        &system,
        "--content",
        "You are a careful coding agent.\nBe brief.",
    ])["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        dir.ok(&["blame", "brief"]),
        format!(
            "{} (edited by {}) block 1 line 2: Be brief.\n",
            &system[..12],
            &edit[..12]
        )
    );
    assert_eq!(
        dir.ok(&["blame", "flaky"]),
        format!("{} block 2 line 1: Fix the flaky test.\n", &task[..12])
    );
    let value = dir.json(&["blame", "careful"]);
    assert_eq!(value["hits"][0]["commit"], json!(system));
    assert_eq!(value["hits"][0]["edited_by"], json!(edit));
    assert_eq!(
        value["hits"][0]["lines"],
        json!([{"line": 1, "text": "You are a careful coding agent."}])
    );
    let stderr = failing(&dir, &["blame", "careful", "--at", &task], 1);
    assert!(stderr.contains("holds \"careful\""), "{stderr}");
    failing(&dir, &["blame", ""], 2);
    let stderr = failing(&dir, &["blame", "careful", "--agent", "nobody"], 2);
    assert!(stderr.contains("no agent \"nobody\""), "{stderr}");
}

#[test]
fn audit_shows_a_context_as_it_was_at_an_lsn_or_a_time() {
    let dir = Dir::initialized_with_sync(Some("never"));
    let lines: String = [
        json!({"ts": "2026-11-23T10:00:00Z", "type": "commit", "agent": "agent-3", "data": {"kind": "append", "message": "v1", "content": "The API is v1.", "tokens": 5}}),
        json!({"ts": "2026-11-23T10:05:00Z", "type": "decision", "agent": "agent-1", "data": {"choice": "ship the v1 client"}}),
        json!({"ts": "2026-11-23T10:10:00Z", "type": "commit", "agent": "agent-3", "data": {"kind": "append", "message": "v2", "content": "The API moved to v2.", "tokens": 6}}),
    ]
    .iter()
    .map(|line| line.to_string() + "\n")
    .collect();
    dir.import(&lines);
    let at_decision = dir.ok(&["audit", "--agent", "agent-3", "--at", "2"]);
    let head = dir.json(&["audit", "--agent", "agent-3", "--at", "2"])["at"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        at_decision,
        format!(
            "agent agent-3 at LSN 2 (2026-11-23T10:05:00.000000Z): main at {}, 1 block, 5 tokens\n\nThe API is v1.\n",
            &head[..12]
        )
    );
    let by_time = dir.json(&[
        "audit",
        "--agent",
        "agent-3",
        "--at",
        "2026-11-23T10:07:00+00:00",
    ]);
    assert_eq!(by_time["lsn"], json!(2));
    assert_eq!(by_time["blocks"].as_array().unwrap().len(), 1);
    assert_eq!(by_time["refs"]["head"], json!({"branch": "main"}));
    let now = dir.json(&["audit", "--agent", "agent-3", "--at", "3"]);
    assert_eq!(now["tokens"], json!(11));
    let before = dir.json(&[
        "audit",
        "--agent",
        "agent-3",
        "--at",
        "2026-11-23T09:00:00Z",
    ]);
    assert_eq!(
        (before["lsn"].clone(), before["at"].clone()),
        (json!(0), Value::Null)
    );

    let stderr = failing(
        &dir,
        &["audit", "--agent", "agent-3", "--at", "yesterday"],
        2,
    );
    assert!(
        stderr.contains("neither an LSN nor an RFC 3339 time"),
        "{stderr}"
    );
    let stderr = failing(&dir, &["audit", "--agent", "agent-3", "--at", "9"], 2);
    assert!(
        stderr.contains("LSN 9 is past the end of the journal"),
        "{stderr}"
    );
    let stderr = failing(&dir, &["audit", "--agent", "agent-7", "--at", "1"], 2);
    assert!(stderr.contains("no agent \"agent-7\""), "{stderr}");
    failing(&dir, &["audit", "--agent", "agent-3"], 2);
}

#[test]
fn diff_takes_no_revision_or_two() {
    let dir = Dir::initialized_with_sync(Some("never"));
    let base = commit(&dir, "main", "system");
    dir.ok(&["branch", "try-a"]);
    let plan_b = commit(&dir, "main", "plan B");
    dir.ok(&["switch", "try-a"]);
    let plan_a = commit(&dir, "main", "plan A");
    assert_eq!(
        dir.ok(&["diff", "main", "try-a"]),
        format!(
            "only in main:\n  {} append 2 tokens plan B\nonly in try-a:\n  {} append 2 tokens plan A\n\n\
             --- main\n+++ try-a\n@@ -1,3 +1,3 @@\n system\n \n-plan B\n+plan A\n",
            &plan_b[..12],
            &plan_a[..12]
        )
    );
    let value = dir.json(&["diff", &base[..8], "try-a"]);
    assert_eq!(value["from"], json!(base));
    assert_eq!(value["only_from"], json!([]));
    assert_eq!(value["only_to"][0]["id"], json!(plan_a));
    assert!(value["diff"].as_str().unwrap().contains("+plan A\n"));
    assert_eq!(
        dir.ok(&["diff", "main", "main"]),
        "no difference: main and main have the same commits and context\n"
    );
    // The two-revision form reads only, so it answers under AGENTRAIL=off too.
    let output = dir.run_env(&["diff", "main", "try-a"], &[("AGENTRAIL", "off")]);
    assert!(text(&output.stdout).contains("+plan A"));
    let other = commit(&dir, "other", "x");
    let stderr = failing(&dir, &["diff", "main", &other], 2);
    assert!(stderr.contains("belongs to agent \"other\""), "{stderr}");

    for args in [&["diff", "main"][..], &["diff", "a", "b", "c"][..]] {
        let stderr = failing(&dir, args, 2);
        assert!(stderr.contains("diff takes no revision"), "{stderr}");
    }
    // A..B is A B, as in git; a side left out is HEAD (try-a here).
    assert_eq!(
        dir.ok(&["diff", "main..try-a"]),
        dir.ok(&["diff", "main", "try-a"])
    );
    assert_eq!(
        dir.ok(&["diff", "main.."]),
        dir.ok(&["diff", "main", "HEAD"])
    );
    // Three dots (git's changes since the merge base) are refused as such, not read as a
    // branch ".try-a".
    let stderr = failing(&dir, &["diff", "main...try-a"], 2);
    assert!(
        stderr.starts_with("agentrail: \"main...try-a\" is a three-dot range, which diff does not take: it compares two revisions, given as A B or A..B\n"),
        "{stderr}"
    );
    // The hint names the user's own sides, a left-out one as HEAD.
    assert!(
        stderr.contains("hint: agentrail diff main try-a"),
        "{stderr}"
    );
    let stderr = failing(&dir, &["diff", "try-a..."], 2);
    assert!(
        stderr.contains("hint: agentrail diff try-a HEAD"),
        "{stderr}"
    );
    // With none it still records the working tree's git diff (agent_cli tests it in a
    // repository); outside one it fails as before, and AGENTRAIL=off makes it a no-op.
    let events = dir.export().len();
    let output = dir.run_env(&["diff"], &[("AGENTRAIL", "off")]);
    assert!(output.status.success());
    assert_eq!(dir.export().len(), events);
}
