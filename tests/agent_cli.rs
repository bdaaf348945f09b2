//! The agents' commands as an agent drives them: sessions, typed events, `run`, `diff`, `log`,
//! `show`, `tokens`, `status`, `resume`, `import`, `rebuild`, `--json` on every command and
//! `AGENTRAIL=off`. What a person reads is pinned by insta snapshots over a fixed scenario
//! (imported with fixed timestamps and session ids, so the output does not move); what must
//! hold whatever the wording is asserted directly.

use serde_json::{json, Value};

mod common;
#[path = "common/workspace_dir.rs"]
mod workspace_dir;

use workspace_dir::{text, Dir};

/// A fixed scenario: two sessions of two agents, one committed, one still open.
fn scenario() -> String {
    let events = [
        json!({"ts": "2026-11-23T10:00:00Z", "type": "session_start", "session": "s-000000000001", "agent": "planner", "data": {"task": "fix the flaky test"}}),
        json!({"ts": "2026-11-23T10:00:05Z", "type": "llm_call", "session": "s-000000000001", "agent": "planner", "data": {"model": "claude-sonnet-4", "input_tokens": 1200, "output_tokens": 300, "cache_read_tokens": 800, "cost_usd": 0.012}}),
        json!({"ts": "2026-11-23T10:00:09Z", "type": "action", "session": "s-000000000001", "agent": "planner", "data": {"description": "read tests/crash.rs", "kind": "search"}}),
        json!({"ts": "2026-11-23T10:00:20Z", "type": "tool_output", "session": "s-000000000001", "agent": "planner", "data": {"tool": "cargo", "command": "cargo test", "exit_code": 101, "stdout": "test result: FAILED", "duration_ms": 5400}}),
        json!({"ts": "2026-11-23T10:00:21Z", "type": "failure", "session": "s-000000000001", "agent": "planner", "data": {"error_type": "AssertionError", "message": "left == right failed", "location": "tests/crash.rs:88"}}),
        json!({"ts": "2026-11-23T10:00:30Z", "type": "decision", "session": "s-000000000001", "agent": "planner", "data": {"choice": "wait for the writer", "rationale": "the race is in the test"}}),
        json!({"ts": "2026-11-23T10:01:00Z", "type": "session_end", "session": "s-000000000001", "agent": "planner", "data": {"status": "committed", "message": "fix the race in the crash test"}}),
        json!({"ts": "2026-11-23T11:00:00Z", "type": "session_start", "session": "s-000000000002", "agent": "coder", "data": {"task": "add the tokens command"}}),
        json!({"ts": "2026-11-23T11:00:04Z", "type": "llm_call", "session": "s-000000000002", "agent": "coder", "data": {"model": "gpt-5", "input_tokens": 5000, "output_tokens": 700}}),
        json!({"ts": "2026-11-23T11:00:09Z", "type": "git_diff", "session": "s-000000000002", "agent": "coder", "data": {"diff": "+fn tokens() {}", "stat": " src/cli/query.rs | 1 +\n 1 file changed, 1 insertion(+)"}}),
    ];
    events
        .iter()
        .map(|event| event.to_string() + "\n")
        .collect()
}

/// What `agentrail ARGS` printed and how it exited, after a `$ agentrail ARGS` line, for each
/// command in turn: a transcript for a snapshot, with what changes from run to run replaced
/// (see [`stable`]).
fn transcript(dir: &Dir, commands: &[&[&str]]) -> String {
    let text: String = commands
        .iter()
        .map(|args| {
            let output = dir.run(args);
            let typed: Vec<String> = args.iter().map(|arg| shell_quoted(arg)).collect();
            format!("$ agentrail {}\n{}\n", typed.join(" "), dir.render(&output))
        })
        .collect();
    stable(&text)
}

/// `arg` as a person would type it in a shell: in single quotes unless it is plain.
fn shell_quoted(arg: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./=:+".contains(c);
    match !arg.is_empty() && arg.chars().all(plain) {
        true => arg.to_owned(),
        false => format!("'{}'", arg.replace('\'', r"'\''")),
    }
}

/// `text` with the ids of sessions started by the test, which are random, as `[SESSION 1]`,
/// `[SESSION 2]`, ... in the order they first appear (the scenario's fixed ids, of zeros, are
/// kept), and `rebuild`'s timing as `[SECONDS]` and `[RATE]`.
fn stable(text: &str) -> String {
    let ids = regex::Regex::new(r"s-[0-9a-f]{12}").unwrap();
    let mut seen: Vec<String> = Vec::new();
    let text = ids.replace_all(text, |found: &regex::Captures| {
        let id = &found[0];
        if id.starts_with("s-0000000000") {
            return id.to_owned();
        }
        let number = match seen.iter().position(|known| known == id) {
            Some(index) => index + 1,
            None => {
                seen.push(id.to_owned());
                seen.len()
            }
        };
        format!("[SESSION {number}]")
    });
    let timing = regex::Regex::new(r"in [0-9.]+ s \([0-9]+ events/s\)").unwrap();
    timing
        .replace_all(&text, "in [SECONDS] s ([RATE] events/s)")
        .into_owned()
}

fn with_scenario() -> Dir {
    let dir = Dir::initialized();
    let output = dir.run_stdin(&["import", "-"], &scenario());
    assert!(output.status.success(), "{}", text(&output.stderr));
    dir
}

#[test]
fn a_session_from_start_to_commit() {
    let dir = Dir::initialized();
    let id = dir
        .ok(&["session", "start", "fix the bug", "--agent", "planner"])
        .trim()
        .to_owned();
    assert!(id.starts_with("s-") && id.len() == 14, "{id}");
    dir.ok(&["session", "log", "read src/lib.rs", "--type", "search"]);
    dir.ok(&[
        "event",
        "llm-call",
        "--model",
        "m1",
        "--input-tokens",
        "100",
        "--output-tokens",
        "20",
    ]);
    dir.ok(&[
        "event",
        "decision",
        "use a mutex",
        "--rationale",
        "simplest",
    ]);
    let status = dir.json(&["session", "status"]);
    assert_eq!(status["id"], json!(id));
    assert_eq!(status["status"], json!("open"));
    assert_eq!(status["agent"], json!("planner"));
    assert_eq!(status["actions"], json!(1));
    assert_eq!(status["events"], json!(4));
    assert_eq!(status["tokens"]["input_tokens"], json!(100));
    let committed = dir.json(&["session", "commit", "fixed it", "--description", "details"]);
    assert_eq!(committed["status"], json!("committed"));
    let events = dir.export();
    assert!(events.iter().all(|event| event["session"] == json!(id)));
    assert!(events
        .iter()
        .all(|event| event["agent"] == json!("planner")));
    assert_eq!(
        events.last().unwrap()["data"],
        json!({"status": "committed", "message": "fixed it", "description": "details"})
    );
    // The session is over: session commands now have nothing to act on.
    let output = dir.run(&["session", "log", "more"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        text(&output.stderr),
        "agentrail: No active session. Use 'agentrail session start' first.\n"
    );
}

#[test]
fn without_a_session_session_commands_exit_1_and_events_have_no_session() {
    let dir = Dir::initialized();
    for args in [
        &["session", "log", "x"][..],
        &["session", "commit", "m"],
        &["session", "abort"],
        &["session", "status"],
    ] {
        let output = dir.run(args);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        assert!(text(&output.stderr)
            .contains("No active session. Use 'agentrail session start' first."));
    }
    dir.ok(&["event", "decision", "go"]);
    assert_eq!(dir.export()[0].get("session"), None);
}

#[test]
fn agentrail_session_keeps_parallel_agents_apart() {
    let dir = Dir::initialized();
    let first = dir.ok(&["session", "start", "one"]).trim().to_owned();
    let second = dir.ok(&["session", "start", "two"]).trim().to_owned();
    // Without the variable, the most recent open session is used.
    dir.ok(&["session", "log", "to the second"]);
    let output = dir.run_env(
        &["session", "log", "to the first"],
        &[("AGENTRAIL_SESSION", &first)],
    );
    assert!(output.status.success());
    let output = dir.run_env(&["session", "abort"], &[("AGENTRAIL_SESSION", &first)]);
    assert!(output.status.success());
    let events = dir.export();
    let actions: Vec<(&str, &str)> = events
        .iter()
        .filter(|event| event["type"] == "action")
        .map(|event| {
            (
                event["session"].as_str().unwrap(),
                event["data"]["description"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            (second.as_str(), "to the second"),
            (first.as_str(), "to the first")
        ]
    );
    // The first is aborted; the second is still the current one.
    assert_eq!(dir.json(&["session", "status"])["id"], json!(second));
    let output = dir.run_env(
        &["session", "log", "late"],
        &[("AGENTRAIL_SESSION", &first)],
    );
    assert_eq!(output.status.code(), Some(1));
    // A context commit is refused in an ended session too, and records nothing.
    let before = dir.export().len();
    let commit = ["commit", "-m", "late", "--content", "c"];
    let output = dir.run_env(&commit, &[("AGENTRAIL_SESSION", &first)]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("is not open"));
    assert_eq!(dir.export().len(), before);
}

/// Each agent's events, session end and context commits go to its own most recent open
/// session, never to one another agent started later; a session started without an agent is
/// main's, and without any agent named the most recent open session of any agent is current.
#[test]
fn an_agents_commands_find_its_own_session_not_the_latest_one() {
    let dir = Dir::initialized();
    let one = dir
        .ok(&["session", "start", "one", "--agent", "a1"])
        .trim()
        .to_owned();
    let two = dir
        .ok(&["session", "start", "two", "--agent", "a2"])
        .trim()
        .to_owned();
    let session_of = |args: &[&str], env: &[(&str, &str)]| -> Value {
        let output = dir.run_env(args, env);
        assert!(
            output.status.success(),
            "{args:?}: {}",
            text(&output.stderr)
        );
        dir.export().last().unwrap()["session"].clone()
    };
    let decision = ["event", "decision", "by a1", "--agent", "a1"];
    assert_eq!(session_of(&decision, &[]), json!(one));
    assert_eq!(
        session_of(&["session", "log", "step"], &[("AGENTRAIL_AGENT", "a1")]),
        json!(one)
    );
    let commit = ["commit", "-m", "m", "--content", "c", "--agent", "a1"];
    assert_eq!(session_of(&commit, &[]), json!(one));
    // An agent with no open session records in none, not in a2's.
    let commit = ["commit", "-m", "m", "--content", "c", "--agent", "a3"];
    assert_eq!(session_of(&commit, &[]), Value::Null);
    assert_eq!(
        session_of(&["event", "decision", "x", "--agent", "a3"], &[]),
        Value::Null
    );
    assert_eq!(
        dir.json(&["session", "status", "--agent", "a1"])["id"],
        json!(one)
    );
    let resumed = dir.json(&["resume", "--agent", "a1"]);
    assert_eq!(resumed["session"]["id"], json!(one), "{resumed}");
    // No agent named: the most recent open session.
    assert_eq!(
        session_of(&["event", "decision", "anyone"], &[]),
        json!(two)
    );
    // Abort ends the named agent's session, and only it.
    assert_eq!(
        session_of(&["session", "abort"], &[("AGENTRAIL_AGENT", "a1")]),
        json!(one)
    );
    assert_eq!(dir.json(&["session", "status"])["id"], json!(two));
    let output = dir.run(&["session", "abort", "--agent", "a1"]);
    assert_eq!(output.status.code(), Some(1), "a1 has no open session left");
    assert_eq!(dir.json(&["session", "status"])["id"], json!(two));
    // A session started without an agent is main's.
    let plain = dir.ok(&["session", "start", "plain"]).trim().to_owned();
    let commit = ["commit", "-m", "m2", "--content", "c2"];
    assert_eq!(session_of(&commit, &[]), json!(plain));
}

/// Arguments a person or an agent typed empty, and names that name nothing, exit 2 rather
/// than record an empty field or answer with nothing.
#[test]
fn empty_arguments_and_unknown_names_exit_2() {
    let dir = Dir::initialized();
    dir.ok(&["session", "start", "task"]);
    let before = dir.export().len();
    for (args, named) in [
        (
            &[
                "event",
                "llm-call",
                "--model",
                "",
                "--input-tokens",
                "1",
                "--output-tokens",
                "1",
            ][..],
            "--model",
        ),
        (&["event", "tool-output", "--tool", " "], "--tool"),
        (&["session", "commit", ""], "MESSAGE"),
        (
            &["spawn", "kid", "--task", ""],
            "task given to sub-agent kid is empty",
        ),
        (&["show", "9999"], "no event at LSN 9999"),
        (&["log", "--session", "s-nope"], "no session s-nope"),
        // A negative count is a bad value, not an unknown argument.
        (
            &[
                "event",
                "llm-call",
                "--model",
                "m",
                "--input-tokens",
                "-5",
                "--output-tokens",
                "1",
            ],
            "invalid value '-5'",
        ),
        (
            &[
                "event",
                "llm-call",
                "--model",
                "m",
                "--input-tokens",
                "5",
                "--output-tokens",
                "1",
                "--cost-usd",
                "-1",
            ],
            "must be a non-negative number",
        ),
    ] {
        let output = dir.run(args);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(named), "{args:?}: {stderr}");
        assert!(
            stderr.matches("nothing was").count() <= 1,
            "{args:?}: {stderr}"
        );
    }
    assert_eq!(dir.export().len(), before, "nothing was recorded");
    // Into a file, export says what it wrote there.
    let file = dir.path().join("out.jsonl");
    let said = dir.ok(&["export", "-o", file.to_str().unwrap()]);
    assert_eq!(
        said.trim(),
        format!("exported 1 event to {}", file.display())
    );
}

#[test]
fn every_command_has_json_output() {
    let dir = with_scenario();
    let id = dir.json(&["session", "start", "json check"])["session"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(dir.json(&["session", "log", "x"])["lsn"].is_u64());
    assert_eq!(dir.json(&["session", "status"])["id"], json!(id));
    for args in [
        &[
            "event",
            "llm-call",
            "--model",
            "m",
            "--input-tokens",
            "1",
            "--output-tokens",
            "2",
        ][..],
        &[
            "event",
            "tool-output",
            "--tool",
            "bash",
            "--exit-code",
            "-1",
        ],
        &[
            "event",
            "failure",
            "--error-type",
            "E",
            "--message",
            "m",
            "--local",
            "x=1",
        ],
        &["event", "git-diff", "--diff", "+a", "--file", "a.rs"],
        &["event", "decision", "c", "--option", "a", "--option", "b"],
    ] {
        let value = dir.json(args);
        assert!(value["lsn"].is_u64(), "{args:?}: {value}");
        assert_eq!(value["session"], json!(id), "{args:?}");
    }
    assert!(dir.json(&["log"])["events"].is_array());
    assert!(dir.json(&["show", "1"])["type"].is_string());
    assert!(dir.json(&["show", "s-000000000001"])["events"].is_array());
    assert!(dir.json(&["tokens"])["total"].is_object());
    assert!(dir.json(&["status"])["journal"]["events"].is_u64());
    assert_eq!(dir.json(&["resume"])["session"]["id"], json!(id));
    assert!(dir.json(&["rebuild"])["events_per_second"].is_number());
    assert!(dir.json(&["verify"])["ok"].as_bool().unwrap());
    assert!(
        dir.json(&["export", "-o", "out.jsonl"])["exported"]
            .as_u64()
            .unwrap()
            > 10
    );
    assert_eq!(
        dir.json(&[
            "append",
            "--event",
            r#"{"type":"action","data":{"description":"d"}}"#
        ])["lsns"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        dir.json(&["session", "commit", "done"])["status"],
        json!("committed")
    );
    assert!(dir.json(&["run", "true"])["lsn"].is_u64());
    // Output without a final newline: the object still gets a line of its own.
    let ran = dir.ok(&["--json", "run", "--", "printf", "no newline"]);
    let (output, object) = ran.split_once('\n').unwrap();
    assert_eq!(output, "no newline");
    assert!(serde_json::from_str::<Value>(object).unwrap()["lsn"].is_u64());
    let id = dir.json(&["session", "start", "to abort"])["session"].clone();
    let aborted = dir.json(&["session", "abort"]);
    assert_eq!(aborted["session"], id);
    assert_eq!(aborted["status"], json!("aborted"));
    assert!(aborted["lsn"].is_u64());
    // `show LSN --json` is the event as `export` writes it.
    assert_eq!(dir.json(&["show", "2"]), dir.export()[1]);
}

/// The commands that need a setup of their own: `init` (where there is no workspace yet),
/// `repair` (of a sound journal and of a torn tail) and `diff` (in a git work tree).
#[test]
fn init_repair_and_diff_have_json_output_too() {
    let dir = with_scenario();
    let root = dir.path().join("other");
    let output = dir.run_env(
        &["--json", "init"],
        &[("AGENTRAIL_DIR", root.to_str().unwrap())],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let initialized: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(initialized["root"], json!(root));
    assert!(initialized["segment_bytes"].is_u64());
    assert_eq!(dir.json(&["repair"])["last_lsn"], json!(10));
    let journal = dir.path().join(".agentrail/journal");
    let segments = common::segment_paths(&journal);
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(segments.last().unwrap())
        .unwrap();
    std::io::Write::write_all(&mut file, &[0xAB; 17]).unwrap();
    drop(file);
    let repaired = dir.json(&["repair"]);
    assert_eq!(repaired["torn_tail"]["bytes"], json!(17), "{repaired}");
    git_repository(&dir);
    assert_eq!(dir.json(&["diff"]), json!({"lsn": null, "changed": false}));
    std::fs::write(dir.path().join("a.txt"), "two\n").unwrap();
    let recorded = dir.json(&["diff"]);
    assert_eq!(recorded["lsn"], json!(11), "{recorded}");
    assert_eq!(recorded["changed"], json!(true));
    assert_eq!(
        recorded["stat"],
        json!("1 file changed, 1 insertion(+), 1 deletion(-)")
    );
}

#[test]
fn the_scenario_as_a_person_reads_it() {
    let dir = with_scenario();
    insta::assert_snapshot!("log", dir.render(&dir.run(&["log"])));
    insta::assert_snapshot!(
        "log_last_2_type_llm_call",
        dir.render(&dir.run(&["log", "--last", "2", "--type", "llm_call"]))
    );
    insta::assert_snapshot!("show_lsn", dir.render(&dir.run(&["show", "2"])));
    insta::assert_snapshot!("show_lsn_multi_line", dir.render(&dir.run(&["show", "10"])));
    insta::assert_snapshot!(
        "show_session",
        dir.render(&dir.run(&["show", "s-000000000001"]))
    );
    insta::assert_snapshot!("tokens", dir.render(&dir.run(&["tokens"])));
    insta::assert_snapshot!(
        "tokens_by_model",
        dir.render(&dir.run(&["tokens", "--by", "model"]))
    );
    insta::assert_snapshot!(
        "tokens_by_session",
        dir.render(&dir.run(&["tokens", "--by", "session"]))
    );
    insta::assert_snapshot!(
        "tokens_by_agent",
        dir.render(&dir.run(&["tokens", "--by", "agent"]))
    );
    insta::assert_snapshot!(
        "session_status",
        dir.render(&dir.run(&["session", "status"]))
    );
    insta::assert_snapshot!("status", dir.render(&dir.run(&["status"])));
    insta::assert_snapshot!("resume", dir.render(&dir.run(&["resume"])));
    insta::assert_snapshot!("show_unknown", dir.render(&dir.run(&["show", "nonsense"])));
}

#[test]
fn a_session_and_its_events_as_a_person_reads_them() {
    let dir = Dir::initialized();
    let printed = transcript(
        &dir,
        &[
            &["session", "start", "fix the bug", "--agent", "planner"],
            &["session", "log", "read src/lib.rs", "--type", "search"],
            &[
                "event",
                "llm-call",
                "--model=m1",
                "--input-tokens=100",
                "--output-tokens=20",
            ],
            &["event", "tool-output", "--tool=cargo", "--exit-code=0"],
            &["event", "failure", "--error-type=E", "--message=boom"],
            &["event", "git-diff", "--diff=+a", "--stat=1 file changed"],
            &["event", "decision", "use a mutex", "--rationale=simplest"],
            &["session", "commit", "fixed it"],
            &["session", "start", "try again"],
            &["session", "abort"],
        ],
    );
    insta::assert_snapshot!("session_and_events", printed);
}

#[test]
fn run_prints_only_what_the_command_printed() {
    let dir = Dir::initialized();
    let script = "echo out; echo err >&2; exit 3";
    insta::assert_snapshot!(
        "run",
        transcript(&dir, &[&["run", "--", "sh", "-c", script]])
    );
}

#[test]
fn diff_as_a_person_reads_it() {
    let dir = Dir::initialized();
    git_repository(&dir);
    let unchanged = transcript(&dir, &[&["diff"]]);
    std::fs::write(dir.path().join("a.txt"), "two\nthree\n").unwrap();
    let changed = transcript(&dir, &[&["diff"]]);
    insta::assert_snapshot!("diff_records", unchanged + &changed);
}

#[test]
fn import_rebuild_and_export_to_a_file_as_a_person_reads_them() {
    let dir = Dir::initialized();
    std::fs::write(dir.path().join("scenario.jsonl"), scenario()).unwrap();
    let one = r#"{"type":"decision","data":{"choice":"c"}}"#;
    std::fs::write(dir.path().join("one.jsonl"), format!("{one}\n")).unwrap();
    std::fs::write(dir.path().join("none.jsonl"), "").unwrap();
    let printed = transcript(
        &dir,
        &[
            &["import", "scenario.jsonl"],
            &["import", "one.jsonl"],
            &["import", "none.jsonl"],
            &["rebuild"],
            &["export", "-o", "out.jsonl"],
        ],
    );
    insta::assert_snapshot!("import_rebuild_export", printed);
}

#[test]
fn tokens_json_is_keyed_by_what_was_asked() {
    let dir = with_scenario();
    let by_model = dir.json(&["tokens", "--by", "model"]);
    assert_eq!(by_model["claude-sonnet-4"]["input_tokens"], json!(1200));
    assert_eq!(by_model["claude-sonnet-4"]["cache_read_tokens"], json!(800));
    assert_eq!(by_model["gpt-5"]["output_tokens"], json!(700));
    let by_agent = dir.json(&["tokens", "--by", "agent"]);
    assert_eq!(by_agent["coder"]["input_tokens"], json!(5000));
    let by_session = dir.json(&["tokens", "--by", "session"]);
    assert_eq!(by_session["s-000000000001"]["output_tokens"], json!(300));
    assert_eq!(dir.json(&["tokens"])["total"]["input_tokens"], json!(6200));
}

#[test]
fn log_filters_by_type_session_agent_and_count() {
    let dir = with_scenario();
    let lsns = |args: &[&str]| -> Vec<u64> {
        dir.json(args)["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|event| event["lsn"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(lsns(&["log"]), (1..=10).collect::<Vec<_>>());
    assert_eq!(lsns(&["log", "--last", "3"]), [8, 9, 10]);
    assert_eq!(lsns(&["log", "--type", "llm_call"]), [2, 9]);
    assert_eq!(lsns(&["log", "--session", "s-000000000002"]), [8, 9, 10]);
    assert_eq!(
        lsns(&["log", "--session", "s-000000000001", "--last", "2"]),
        [6, 7]
    );
    // The scenario's agents are planner (1 to 7) and coder (8 to 10); none is main's.
    assert_eq!(lsns(&["log", "--agent", "coder"]), [8, 9, 10]);
    assert_eq!(lsns(&["log", "--agent", "main"]), Vec::<u64>::new());
}

#[test]
fn run_passes_output_through_records_it_and_exits_with_the_command_code() {
    let dir = Dir::initialized();
    let output = dir.run(&["run", "--", "sh", "-c", "echo out; echo err >&2; exit 3"]);
    assert_eq!(output.status.code(), Some(3));
    assert_eq!(text(&output.stdout), "out\n");
    assert_eq!(text(&output.stderr), "err\n");
    let event = dir.export().pop().unwrap();
    assert_eq!(event["type"], json!("tool_output"));
    assert_eq!(event["data"]["tool"], json!("sh"));
    assert_eq!(
        event["data"]["command"],
        json!("sh -c 'echo out; echo err >&2; exit 3'")
    );
    assert_eq!(event["data"]["exit_code"], json!(3));
    assert_eq!(event["data"]["stdout"], json!("out\n"));
    assert_eq!(event["data"]["stderr"], json!("err\n"));
    assert!(event["data"]["duration_ms"].is_u64());
    assert_eq!(event["data"].get("truncated"), None);
}

#[test]
fn run_keeps_head_and_tail_of_long_output() {
    let dir = Dir::initialized();
    let script =
        "echo FIRST; i=0; while [ $i -lt 3000 ]; do echo line $i; i=$((i+1)); done; echo LAST";
    let output = dir.run(&["run", "--", "sh", "-c", script]);
    assert!(output.status.success());
    assert_eq!(
        text(&output.stdout).lines().count(),
        3002,
        "the output is passed through whole"
    );
    let event = dir.export().pop().unwrap();
    let stdout = event["data"]["stdout"].as_str().unwrap();
    assert!(stdout.len() <= 10 * 1024, "{}", stdout.len());
    assert!(stdout.starts_with("FIRST\n") && stdout.ends_with("LAST\n"));
    assert!(stdout.contains("bytes omitted"));
    assert_eq!(event["data"]["truncated"], json!(true));
}

#[test]
fn run_keeps_no_fragment_of_a_token_its_cap_cuts_on_one_long_line() {
    // Found running `python3 -c 'print(minified_json)'`: with no line end near a cut, the
    // stored head ended `"gh":"ghp_R2d2C3` and the tail could start inside a token.
    let dir = Dir::initialized();
    let token = "ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8";
    for offset in [10, 30] {
        // Head and tail each keep 5,084 bytes: each cut falls `offset` bytes into a token.
        let head = format!(
            "{{\"log\":\"{}\",\"t\":\"{token}\",",
            "a".repeat(5084 - 18 - offset)
        );
        let tail = format!(
            "\"u\":\"{token}\",\"z\":\"{}\"}}\n",
            "z".repeat(5084 - 18 - offset)
        );
        let output = format!("{head}{}{tail}", "m".repeat(30_000));
        std::fs::write(dir.path().join("out.txt"), output).unwrap();
        dir.ok(&["run", "--", "cat", "out.txt"]);
        let event = dir.export().pop().unwrap();
        let stored = event["data"]["stdout"].as_str().unwrap();
        assert_eq!(event["data"]["truncated"], json!(true));
        assert_no_fragment(stored, token, 6, offset);
    }
}

#[test]
fn run_keeps_no_fragment_of_a_token_its_cap_cuts() {
    let dir = Dir::initialized();
    let token = "ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8";
    let head: String = (0..600)
        .map(|line| format!("build step {line:04}\n"))
        .collect();
    let line = format!("export GITHUB_TOKEN={token}\n");
    for offset in [10, 30] {
        // The tail kept is the last 5,084 bytes: its start falls `offset` bytes into the line.
        let after = 5084 + offset - line.len();
        let output = format!("{head}{line}{}\n", "y".repeat(after - 1));
        std::fs::write(dir.path().join("out.txt"), output).unwrap();
        dir.ok(&["run", "--", "cat", "out.txt"]);
        let event = dir.export().pop().unwrap();
        let stored = event["data"]["stdout"].as_str().unwrap();
        assert_eq!(event["data"]["truncated"], json!(true));
        assert_no_fragment(stored, token, 10, offset);
    }
}

#[test]
fn run_with_a_bad_redaction_pattern_does_not_run_the_command() {
    // Found driving the CLI: with a pattern that does not compile in config.json, `run` ran the
    // command (its side effects happened) and only then said it could not record, exit 2. A
    // session that cannot be recorded in is refused before the command runs; so is this.
    let dir = Dir::initialized();
    let config_path = dir.path().join(".agentrail/config.json");
    let mut config: Value = serde_json::from_slice(&std::fs::read(&config_path).unwrap()).unwrap();
    config["redact"] = json!({"patterns": [{"name": "bad", "regex": "("}]});
    std::fs::write(&config_path, config.to_string()).unwrap();
    let output = dir.run(&["run", "--", "sh", "-c", "touch ran"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("\"bad\""),
        "{}",
        text(&output.stderr)
    );
    assert!(!dir.path().join("ran").exists(), "the command ran");
}

#[test]
fn run_of_a_missing_command_exits_127_and_records_why() {
    let dir = Dir::initialized();
    let output = dir.run(&["run", "--", "no-such-command-agentrail"]);
    assert_eq!(output.status.code(), Some(127));
    let event = dir.export().pop().unwrap();
    assert_eq!(event["data"]["exit_code"], json!(127));
    assert!(event["data"]["stderr"]
        .as_str()
        .unwrap()
        .contains("cannot run"));
}

#[test]
fn run_of_a_blank_command_name_exits_2_and_records_nothing() {
    // A `tool_output`'s tool must not be blank, as `event tool-output --tool` must not: `run`
    // would otherwise report a command it could not record.
    let dir = Dir::initialized();
    for name in ["", " "] {
        let output = dir.run(&["run", "--", name, "arg"]);
        assert_eq!(output.status.code(), Some(2), "{}", dir.render(&output));
        assert!(
            text(&output.stderr).contains("must not be empty or only whitespace"),
            "{}",
            text(&output.stderr)
        );
    }
    assert!(dir.export().is_empty());
}

#[test]
fn run_of_a_command_that_is_not_executable_exits_126_as_a_shell_does() {
    // It exited 127 ("not found") for a directory or a file without the execute bit.
    let dir = Dir::initialized();
    std::fs::write(dir.path().join("script"), "echo hi\n").unwrap();
    for command in ["./script", "/"] {
        let output = dir.run(&["run", "--", command]);
        assert_eq!(output.status.code(), Some(126), "{}", dir.render(&output));
        let event = dir.export().pop().unwrap();
        assert_eq!(event["data"]["exit_code"], json!(126));
    }
}

/// Runs git in `dir`, which must succeed, as a fixed author.
fn git(dir: &Dir, args: &[&str]) {
    let output = std::process::Command::new("git")
        .args(args)
        .current_dir(dir.path())
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        text(&output.stderr)
    );
}

/// Makes `dir` a git repository whose one commit holds `a.txt` ("one").
fn git_repository(dir: &Dir) {
    git(dir, &["init", "-q"]);
    std::fs::write(dir.path().join("a.txt"), "one\n").unwrap();
    git(dir, &["add", "a.txt"]);
    git(dir, &["commit", "-q", "-m", "first"]);
}

#[test]
fn diff_records_the_working_tree_diff() {
    let dir = Dir::initialized();
    git_repository(&dir);
    assert!(dir.ok(&["diff"]).contains("nothing was recorded"));
    let long: String = (0..80).map(|line| format!("line {line}\n")).collect();
    std::fs::write(dir.path().join("a.txt"), long).unwrap();
    let printed = dir.ok(&["diff"]);
    assert!(printed.contains("1 file changed"), "{printed}");
    let event = dir.export().pop().unwrap();
    assert_eq!(event["type"], json!("git_diff"));
    assert_eq!(event["data"]["files"], json!(["a.txt"]));
    assert_eq!(event["data"]["diff"].as_str().unwrap().lines().count(), 50);
    assert_eq!(event["data"]["truncated"], json!(true));
    assert!(event["data"]["stat"].as_str().unwrap().contains("a.txt"));
    // `--agent` names the agent as `event` does; a bad new name records nothing.
    dir.ok(&["diff", "--agent", "reviewer"]);
    assert_eq!(dir.export().pop().unwrap()["agent"], json!("reviewer"));
    let events = dir.export().len();
    let output = dir.run(&["diff", "--agent", "bad name"]);
    assert_eq!(output.status.code(), Some(2), "{}", dir.render(&output));
    assert_eq!(dir.export().len(), events);
    // Names outside ASCII and with blanks are stored as they are, not as git quotes them.
    std::fs::write(dir.path().join("é b.txt"), "new\n").unwrap();
    git(&dir, &["add", "é b.txt"]);
    dir.ok(&["diff"]);
    let files = &dir.export().pop().unwrap()["data"]["files"];
    assert_eq!(files, &json!(["a.txt", "é b.txt"]));
}

#[test]
fn diff_outside_a_git_work_tree_says_so_in_one_line_and_records_nothing() {
    let dir = Dir::initialized();
    let ceiling = dir.path().parent().unwrap().to_str().unwrap().to_owned();
    let output = dir.run_env(&["diff"], &[("GIT_CEILING_DIRECTORIES", &ceiling)]);
    assert_eq!(output.status.code(), Some(1));
    let message = text(&output.stderr);
    assert!(message.contains("not a git repository"), "{message}");
    // Not git's usage of `git diff --no-index`: an agent pays for every line it reads.
    assert!(message.lines().count() <= 2, "{message}");
    assert!(dir.export().is_empty());
}

#[test]
fn agentrail_off_makes_recording_commands_silent_no_ops() {
    let dir = Dir::initialized();
    let off = [("AGENTRAIL", "off")];
    for args in [
        &["session", "start", "t"][..],
        &["session", "log", "x"],
        &["session", "commit", "m"],
        &["event", "decision", "c"],
        &[
            "event",
            "llm-call",
            "--model",
            "m",
            "--input-tokens",
            "1",
            "--output-tokens",
            "1",
        ],
        &[
            "append",
            "--event",
            r#"{"type":"action","data":{"description":"d"}}"#,
        ],
        &["diff"],
    ] {
        let output = dir.run_env(args, &off);
        assert_eq!(output.status.code(), Some(0), "{args:?}");
        assert!(
            output.stdout.is_empty() && output.stderr.is_empty(),
            "{args:?}"
        );
    }
    // `run` still runs the command and exits with its code, and records nothing.
    let output = dir.run_env(&["run", "--", "sh", "-c", "echo hi; exit 4"], &off);
    assert_eq!(output.status.code(), Some(4));
    assert_eq!(text(&output.stdout), "hi\n");
    assert!(dir.export().is_empty());
}

#[test]
fn import_then_export_round_trips_but_for_lsn() {
    let dir = with_scenario();
    let first = dir.ok(&["export"]);
    let other = Dir::initialized();
    std::fs::write(other.path().join("events.jsonl"), &first).unwrap();
    let imported = other.json(&["import", "events.jsonl"]);
    assert_eq!(imported["imported"], json!(10));
    let second = other.ok(&["export"]);
    assert_eq!(first, second);
    // Importing it again would start session 1 a second time: refused, naming its line.
    let output = other.run(&["import", "events.jsonl"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    let refused =
        "agentrail: line 1, field `session`: session s-000000000001 was started already, at LSN 1";
    assert!(stderr.starts_with(refused), "{stderr}");
    // The LSNs in the input are ignored: session 1's events (not its bounds) append again
    // after the ten, as late events of the session.
    let middle: String = first
        .lines()
        .skip(1)
        .take(5)
        .map(|line| format!("{line}\n"))
        .collect();
    std::fs::write(other.path().join("middle.jsonl"), middle).unwrap();
    let again = other.json(&["import", "middle.jsonl"]);
    assert_eq!(again["lsns"], json!({"first_lsn": 11, "last_lsn": 15}));
}

#[test]
fn numbers_no_64_bit_type_holds_come_back_as_written_through_export_and_import() {
    let dir = Dir::initialized();
    let line = concat!(
        r#"{"ts":"2026-01-02T03:04:05.000000Z","type":"decision","data":{"choice":"a","#,
        r#""trace":123456789012345678901234567890,"neg":-98765432109876543210987654321,"#,
        r#""digits":1.00000000000000000000001,"tiny":1e-400,"list":[18446744073709551616,0.1]}}"#,
    );
    dir.run_stdin(&["append"], &format!("{line}\n"));
    let first = dir.ok(&["export"]);
    assert_eq!(first, format!("{{\"lsn\":1,{}\n", &line[1..]));
    let other = Dir::initialized();
    std::fs::write(other.path().join("events.jsonl"), &first).unwrap();
    other.json(&["import", "events.jsonl"]);
    assert_eq!(other.ok(&["export"]), first);
}

#[test]
fn an_empty_or_blank_task_description_or_choice_exits_2_and_records_nothing() {
    let dir = Dir::initialized();
    for (args, named) in [
        (&["session", "start", ""][..], "TASK"),
        (&["session", "start", " \t"][..], "TASK"),
    ] {
        let output = dir.run(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(text(&output.stderr).contains(named), "{args:?}");
    }
    dir.ok(&["session", "start", "a task"]);
    let output = dir.run(&["session", "log", "  "]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("DESCRIPTION"));
    for (line, field) in [
        (
            r#"{"type":"action","data":{"description":""}}"#,
            "data.description",
        ),
        (
            r#"{"type":"session_start","data":{"task":" "}}"#,
            "data.task",
        ),
    ] {
        let output = dir.run_stdin(&["append"], &format!("{line}\n"));
        assert_eq!(output.status.code(), Some(2), "{line}");
        assert!(text(&output.stderr).contains(field), "{line}");
    }
    assert_eq!(dir.export().len(), 1, "only the good session_start");
}

#[test]
fn import_rejects_bad_input_naming_line_and_field_and_writes_nothing() {
    let dir = with_scenario();
    let before = dir.ok(&["export"]);
    let good = r#"{"type":"action","data":{"description":"ok"}}"#;
    let cases = [
        ("not JSON", "{\"type\":", "line 2", None),
        (
            "unknown type",
            r#"{"type":"nope","data":{}}"#,
            "line 2",
            Some("`type`"),
        ),
        (
            "missing field",
            r#"{"type":"llm_call","data":{"model":"m","output_tokens":1}}"#,
            "line 2",
            Some("`data.input_tokens`"),
        ),
        (
            "negative tokens",
            r#"{"type":"llm_call","data":{"model":"m","input_tokens":-5,"output_tokens":1}}"#,
            "line 2",
            Some("`data.input_tokens`"),
        ),
        (
            "fractional tokens",
            r#"{"type":"llm_call","data":{"model":"m","input_tokens":5,"output_tokens":1.5}}"#,
            "line 2",
            Some("`data.output_tokens`"),
        ),
        (
            "bad ts",
            r#"{"type":"action","ts":"noon","data":{"description":"d"}}"#,
            "line 2",
            Some("`ts`"),
        ),
        (
            "ts before the year 0000 in UTC",
            r#"{"type":"action","ts":"0000-01-01T00:00:00+00:01","data":{"description":"d"}}"#,
            "line 2",
            Some("`ts`"),
        ),
        (
            "bad status",
            r#"{"type":"session_end","data":{"status":"paused"}}"#,
            "line 2",
            Some("`data.status`"),
        ),
        (
            "duplicate key",
            r#"{"type":"action","type":"failure","data":{"description":"d"}}"#,
            "line 2",
            Some("`type`"),
        ),
        (
            "duplicate nested key",
            r#"{"type":"action","data":{"description":"d","more":{"a":1,"a":1}}}"#,
            "line 2",
            Some("`data.more.a`"),
        ),
        (
            "unknown ref_update op",
            r#"{"type":"ref_update","data":{"op":"teleport","agent":"main","head":{"branch":"main"},"branches":{}}}"#,
            "line 2",
            Some("`data.op`"),
        ),
        (
            "session ended by another agent",
            r#"{"ts":"2026-11-23T12:00:00Z","type":"session_end","session":"s-000000000002","agent":"planner","data":{"status":"committed"}}"#,
            "line 2",
            Some("`agent`"),
        ),
        (
            "session ended before it started",
            r#"{"ts":"2026-11-23T10:59:59Z","type":"session_end","session":"s-000000000002","agent":"coder","data":{"status":"committed"}}"#,
            "line 2",
            Some("`ts`"),
        ),
    ];
    for (name, bad, line, field) in cases {
        let input = format!("{good}\n{bad}\n{good}\n");
        let output = dir.run_stdin(&["import", "-"], &input);
        assert_eq!(output.status.code(), Some(2), "{name}");
        let message = text(&output.stderr);
        assert!(message.contains(line), "{name}: {message}");
        if let Some(field) = field {
            assert!(message.contains(field), "{name}: {message}");
        }
        assert!(
            message.contains("nothing was appended"),
            "{name}: {message}"
        );
    }
    assert_eq!(dir.ok(&["export"]), before);
    insta::assert_snapshot!(
        "import_bad_tokens",
        dir.render(&dir.run_stdin(
            &["import", "-"],
            &format!("{good}\n{good}\n{}\n", cases[3].1)
        ))
    );
}

#[test]
fn a_key_given_twice_exits_2_naming_it_whichever_way_the_event_comes() {
    let dir = Dir::initialized();
    let bad = r#"{"type":"decision","data":{"choice":"a","options":["a"],"choice":"b"}}"#;
    let good = r#"{"type":"decision","data":{"choice":"a"}}"#;
    let piped = dir.run_stdin(&["append"], &format!("{good}\n{bad}\n"));
    let given = dir.run(&["append", "--event", bad]);
    std::fs::write(dir.path().join("bad.jsonl"), format!("{good}\n{bad}\n")).unwrap();
    let imported = dir.run(&["import", "bad.jsonl"]);
    for (output, said) in [
        (
            piped,
            "agentrail: line 2, field `data.choice`: is given twice in one JSON object",
        ),
        (
            given,
            "agentrail: --event, field `data.choice`: is given twice in one JSON object",
        ),
        (
            imported,
            "agentrail: line 2, field `data.choice`: is given twice in one JSON object",
        ),
    ] {
        assert_eq!(output.status.code(), Some(2), "{said}");
        let stderr = text(&output.stderr);
        assert!(stderr.starts_with(said), "{stderr}");
        assert!(stderr.contains("nothing was appended"), "{stderr}");
    }
    assert!(dir.export().is_empty());
}

#[test]
fn a_large_file_is_read_in_chunks_and_still_all_or_nothing() {
    let dir = with_scenario();
    let before = dir.ok(&["export"]);
    // About 10 MB: several of the chunks the threads take in turn.
    let lines: Vec<String> = (0..60_000)
        .map(|index| {
            json!({"type": "action", "data": {"description": format!("step {index}"), "pad": "x".repeat(120)}})
                .to_string()
        })
        .collect();
    let mut bad = lines.clone();
    bad[51_234] = r#"{"type":"action","data":{}}"#.into();
    std::fs::write(dir.path().join("bad.jsonl"), bad.join("\n")).unwrap();
    let output = dir.run(&["import", "bad.jsonl"]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        text(&output.stderr).trim(),
        "agentrail: line 51235, field `data.description`: is missing; nothing was appended"
    );
    let mut bytes = lines.join("\n").into_bytes();
    bytes.extend_from_slice(b"\n{\"type\":\"action\",\"data\":{\"description\":\"\xfe\"}}\n");
    std::fs::write(dir.path().join("latin1.jsonl"), bytes).unwrap();
    let output = dir.run(&["import", "latin1.jsonl"]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        text(&output.stderr).trim(),
        "agentrail: line 60001: not UTF-8 text; nothing was appended"
    );
    assert_eq!(dir.ok(&["export"]), before);
    std::fs::write(dir.path().join("good.jsonl"), lines.join("\n")).unwrap();
    let imported = dir.json(&["import", "good.jsonl"]);
    assert_eq!(imported["imported"], json!(60_000));
}

#[test]
fn secrets_are_redacted_before_they_reach_disk() {
    let dir = Dir::initialized();
    dir.ok(&["session", "start", "deploy"]);
    dir.ok(&[
        "event",
        "failure",
        "--error-type",
        "AuthError",
        "--message",
        "login with AKIAIOSFODNN7EXAMPLE failed",
        "--local",
        "password=hunter2-is-my-password",
        "--local",
        "url=postgres://app:s3cr3tP4ss@db.internal:5432/app",
    ]);
    dir.ok(&[
        "run",
        "--",
        "sh",
        "-c",
        "echo GITHUB_TOKEN=ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    ]);
    let exported = dir.ok(&["export"]);
    for secret in [
        "AKIAIOSFODNN7EXAMPLE",
        "hunter2-is-my-password",
        "s3cr3tP4ss",
        "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    ] {
        assert!(
            !exported.contains(secret),
            "{secret} reached the journal: {exported}"
        );
    }
    assert!(exported.contains("[REDACTED:"), "{exported}");
    // The bytes on disk hold no secret either (segments may be compressed only when sealed).
    for entry in std::fs::read_dir(dir.path().join(".agentrail/journal")).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(!String::from_utf8_lossy(&bytes).contains("hunter2-is-my-password"));
    }
}

#[test]
fn a_secret_option_after_a_quote_backtick_or_bracket_is_redacted() {
    let dir = Dir::initialized();
    for choice in [
        "run: echo '--password hunter2'",
        "ran `--password hunter2`",
        "cmd (--password hunter2)",
    ] {
        dir.ok(&["event", "decision", choice]);
    }
    dir.ok(&["run", "--", "true", "--password hunter2"]);
    let exported = dir.ok(&["export"]);
    assert!(!exported.contains("hunter2"), "{exported}");
    let events = dir.export();
    let choices: Vec<&Value> = events
        .iter()
        .map(|event| &event["data"]["choice"])
        .collect();
    assert_eq!(
        choices[..3],
        [
            "run: echo '--password [REDACTED:secret_argument]'",
            "ran `--password [REDACTED:secret_argument]`",
            "cmd (--password [REDACTED:secret_argument])",
        ]
    );
}

#[test]
fn a_user_pattern_in_config_is_redacted_and_a_bad_one_is_refused() {
    let dir = Dir::initialized();
    let config_path = dir.path().join(".agentrail/config.json");
    let mut config: Value =
        serde_json::from_str(&std::fs::read_to_string(&config_path).unwrap()).unwrap();
    config["redact"] =
        json!({"patterns": [{"name": "internal_token", "regex": "itk_[A-Za-z0-9]{8}"}]});
    std::fs::write(&config_path, config.to_string()).unwrap();
    dir.ok(&["event", "decision", "use itk_ABCD1234 for staging"]);
    let event = dir.export().pop().unwrap();
    assert_eq!(
        event["data"]["choice"],
        json!("use [REDACTED:internal_token] for staging")
    );
    config["redact"] = json!({"patterns": [{"name": "broken", "regex": "itk_[A-Z"}]});
    std::fs::write(&config_path, config.to_string()).unwrap();
    let output = dir.run(&["event", "decision", "x"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("broken"),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(dir.export().len(), 1);
}

#[test]
fn damaged_stale_or_missing_checkpoints_are_rebuilt_by_commands() {
    let dir = with_scenario();
    let expected = dir.json(&["tokens", "--by", "model"]);
    let projections = dir.path().join(".agentrail/projections");
    let checkpoints: Vec<_> = std::fs::read_dir(&projections)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert!(!checkpoints.is_empty());
    for checkpoint in &checkpoints {
        let mut bytes = std::fs::read(checkpoint).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x40;
        std::fs::write(checkpoint, bytes).unwrap();
    }
    assert_eq!(dir.json(&["tokens", "--by", "model"]), expected);
    std::fs::remove_dir_all(&projections).unwrap();
    assert_eq!(dir.json(&["tokens", "--by", "model"]), expected);
    let rebuilt = dir.json(&["rebuild"]);
    assert_eq!(rebuilt["events"], json!(10));
    assert_eq!(dir.json(&["tokens", "--by", "model"]), expected);
}

#[test]
fn a_local_named_twice_or_without_a_name_exits_2_and_records_nothing() {
    // Found driving the CLI: `--local a=b=c --local a=dup` stored only `"a": "dup"`, the
    // first value lost without a word, and `--local =v` stored a local named "".
    let dir = Dir::initialized();
    let failure = ["event", "failure", "--error-type", "E", "--message", "m"];
    for locals in [["a=b=c", "a=dup"], ["=v", "b=1"]] {
        let mut args = failure.to_vec();
        for local in &locals {
            args.extend(["--local", local]);
        }
        let output = dir.run(&args);
        assert_eq!(output.status.code(), Some(2), "{locals:?}");
        assert!(text(&output.stderr).contains("--local"), "{locals:?}");
        assert_eq!(dir.export().len(), 0, "{locals:?}");
    }
    let mut args = failure.to_vec();
    args.extend(["--local", "a=b=c", "--local", "b=2"]);
    dir.ok(&args);
    let event = dir.export().pop().unwrap();
    assert_eq!(event["data"]["locals"], json!({"a": "b=c", "b": "2"}));
}

#[test]
fn bad_event_flags_exit_2_and_record_nothing() {
    let dir = Dir::initialized();
    let output = dir.run(&[
        "event",
        "failure",
        "--error-type",
        "E",
        "--message",
        "m",
        "--local",
        "novalue",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("--local"));
    let output = dir.run(&[
        "event",
        "llm-call",
        "--model",
        "m",
        "--input-tokens",
        "-3",
        "--output-tokens",
        "1",
    ]);
    assert_eq!(output.status.code(), Some(2));
    // A cost that is not a number would be dropped on the way to JSON, not stored.
    for cost in ["NaN", "inf", "-inf"] {
        let output = dir.run(&[
            "event",
            "llm-call",
            "--model",
            "m",
            "--input-tokens",
            "3",
            "--output-tokens",
            "1",
            &format!("--cost-usd={cost}"),
        ]);
        assert_eq!(output.status.code(), Some(2), "{cost}");
        assert!(text(&output.stderr).contains("cost_usd"), "{cost}");
    }
    assert!(dir.export().is_empty());
}

/// Every field of each `event` subcommand's type (`format-spec/events.md` section 2) has a
/// flag, and what the flags say is what is stored.
#[test]
fn every_field_of_an_event_type_has_a_flag_that_reaches_the_stored_data() {
    let dir = Dir::initialized();
    let cases = [
        (
            &[
                "llm-call",
                "--model=m",
                "--input-tokens=1",
                "--output-tokens=2",
                "--cache-read-tokens=3",
                "--cache-creation-tokens=4",
                "--cost-usd=0.5",
                "--latency-ms=6",
                "--prompt=p",
                "--response=r",
            ][..],
            json!({"model": "m", "input_tokens": 1, "output_tokens": 2, "cache_read_tokens": 3,
                "cache_creation_tokens": 4, "cost_usd": 0.5, "latency_ms": 6, "prompt": "p",
                "response": "r"}),
        ),
        (
            &[
                "tool-output",
                "--tool=cargo",
                "--command=cargo test",
                "--exit-code=101",
                "--stdout=o",
                "--stderr=e",
                "--duration-ms=7",
                "--truncated",
            ],
            json!({"tool": "cargo", "command": "cargo test", "exit_code": 101, "stdout": "o",
                "stderr": "e", "duration_ms": 7, "truncated": true}),
        ),
        (
            &[
                "failure",
                "--error-type=E",
                "--message=m",
                "--location=a.rs:1",
                "--local=x=1",
            ],
            json!({"error_type": "E", "message": "m", "location": "a.rs:1", "locals": {"x": "1"}}),
        ),
        (
            &[
                "git-diff",
                "--diff=+a",
                "--stat=1 file changed",
                "--file=a.rs",
                "--truncated",
            ],
            json!({"diff": "+a", "stat": "1 file changed", "files": ["a.rs"], "truncated": true}),
        ),
        (
            &["decision", "c", "--rationale=r", "--option=a", "--option=b"],
            json!({"choice": "c", "rationale": "r", "options": ["a", "b"]}),
        ),
        // Without the flag, an event that was not cut has no `truncated` at all.
        (&["tool-output", "--tool=t"], json!({"tool": "t"})),
        (&["git-diff", "--diff=+b"], json!({"diff": "+b"})),
    ];
    for (args, data) in cases {
        let mut command = vec!["event"];
        command.extend_from_slice(args);
        dir.ok(&command);
        assert_eq!(dir.export().pop().unwrap()["data"], data, "{args:?}");
    }
}

#[test]
fn an_event_for_a_named_session_takes_that_sessions_agent() {
    let dir = Dir::initialized();
    let first = dir.ok(&["session", "start", "one", "--agent", "planner"]);
    dir.ok(&["session", "start", "two", "--agent", "coder"]);
    dir.ok(&["event", "decision", "go", "--session", first.trim()]);
    let event = dir.export().pop().unwrap();
    assert_eq!(event["session"], json!(first.trim()));
    assert_eq!(event["agent"], json!("planner"));
    // As with AGENTRAIL_SESSION.
    dir.run_env(
        &["event", "decision", "again"],
        &[("AGENTRAIL_SESSION", first.trim())],
    );
    assert_eq!(dir.export().pop().unwrap()["agent"], json!("planner"));
}

#[test]
fn events_are_refused_for_a_named_session_that_is_not_open() {
    let dir = Dir::initialized();
    let ended = dir.ok(&["session", "start", "one"]).trim().to_owned();
    dir.ok(&["session", "commit", "done"]);
    let recorded = dir.export().len();
    let marker = dir.path().join("ran");
    let marker_command = format!("touch {}", marker.display());
    let stale = [("AGENTRAIL_SESSION", ended.as_str())];
    for (args, env) in [
        (&["event", "decision", "late"][..], &stale[..]),
        (&["event", "decision", "late", "--session", &ended], &[]),
        (&["event", "decision", "late", "--session", "s-typo"], &[]),
        (&["run", "--", "sh", "-c", &marker_command], &stale),
    ] {
        let output = dir.run_env(args, env);
        assert_eq!(output.status.code(), Some(1), "{args:?} {env:?}");
        let message = text(&output.stderr);
        assert!(
            message.contains("is not open; nothing was recorded"),
            "{args:?}: {message}"
        );
    }
    assert!(!marker.exists(), "run ran its command");
    assert_eq!(dir.export().len(), recorded);
    // An open session named either way is recorded in.
    let open = dir.ok(&["session", "start", "two"]).trim().to_owned();
    dir.ok(&["event", "decision", "now", "--session", &open]);
    assert_eq!(dir.export().pop().unwrap()["session"], json!(open));
}

#[test]
fn an_empty_agentrail_agent_is_no_agent() {
    let dir = Dir::initialized();
    let empty = [("AGENTRAIL_AGENT", "")];
    assert!(dir
        .run_env(&["session", "start", "t"], &empty)
        .status
        .success());
    assert!(dir
        .run_env(&["event", "decision", "d"], &empty)
        .status
        .success());
    for event in dir.export() {
        assert_eq!(event.get("agent"), None, "{event}");
    }
}

#[test]
fn log_type_names_one_of_the_event_types() {
    // `log --type bogus` printed nothing and exited 0, as if no such event had happened.
    let dir = with_scenario();
    let output = dir.run(&["log", "--type", "bogus"]);
    assert_eq!(output.status.code(), Some(2), "{}", dir.render(&output));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("no event type is named \"bogus\"") && stderr.contains("llm_call"),
        "{stderr}"
    );
    assert!(dir.ok(&["log", "--type", "llm_call"]).contains("llm_call"));
}

#[test]
fn tokens_shows_cache_counts_whose_sum_would_wrap() {
    // The human line tested `cache_read + cache_creation > 0`, which wraps to 0 (so the cache
    // counts went unshown) when the two add past u64::MAX.
    let dir = Dir::initialized();
    dir.ok(&["session", "start", "t"]);
    dir.ok(&[
        "event",
        "llm-call",
        "--model",
        "m",
        "--input-tokens",
        "1",
        "--output-tokens",
        "1",
        "--cache-read-tokens",
        "18446744073709551615",
        "--cache-creation-tokens",
        "1",
    ]);
    let line = dir.ok(&["tokens"]);
    assert!(line.contains("cache read 18446744073709551615"), "{line}");
}

/// Fails when `stored` holds any `length` bytes of `token` past its 4-byte prefix (the cap
/// cut `offset` bytes into the line).
fn assert_no_fragment(stored: &str, token: &str, length: usize, offset: usize) {
    for start in 4..token.len() - length {
        let fragment = &token[start..start + length];
        assert!(
            !stored.contains(fragment),
            "{offset}: {fragment} in {stored}"
        );
    }
}

#[test]
fn log_shows_control_characters_instead_of_sending_them_to_the_terminal() {
    // A recorded text is anyone's: a tool's colored output reached the terminal raw through
    // `log`, recoloring it (or worse, with cursor moves).
    let dir = Dir::initialized();
    dir.ok(&["session", "start", "t"]);
    dir.ok(&["event", "decision", "\u{1b}[31mred\u{1b}[0m\tthen\u{7}"]);
    let listed = dir.ok(&["log"]);
    assert!(
        !listed.chars().any(|c| c.is_control() && c != '\n'),
        "{listed:?}"
    );
    assert!(listed.contains("␛[31mred␛[0m then␇"), "{listed}");
}
