//! What the recording commands accept from the command line and the environment: agent names
//! (one rule for every command that records an agent), blank values, exit codes, `export -o -`,
//! an empty session on import, and the values of `AGENTRAIL`. Each refusal exits 2 and records
//! nothing.

use serde_json::json;

#[path = "common/workspace_dir.rs"]
mod workspace_dir;

use workspace_dir::{text, Dir};

/// Runs a command that must exit 2, record nothing, and name `named` in its message.
fn refused(dir: &Dir, args: &[&str], env: &[(&str, &str)], named: &str) {
    let before = dir.export().len();
    let output = dir.run_env(args, env);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{args:?} {env:?}: {stderr}");
    assert!(stderr.contains(named), "{args:?} {env:?}: {stderr}");
    assert_eq!(dir.export().len(), before, "{args:?} {env:?} recorded");
}

/// Every command that records an agent refuses `name`, given with `--agent` or as
/// `AGENTRAIL_AGENT`, saying `rule`; `run` before it runs `command`.
fn refused_as_agent(dir: &Dir, name: &str, rule: &str, command: &str) {
    let flag = format!("--agent={name}");
    refused(dir, &["event", "decision", "d", &flag], &[], rule);
    refused(dir, &["session", "start", "t", &flag], &[], rule);
    let env = [("AGENTRAIL_AGENT", name)];
    refused(dir, &["event", "decision", "d"], &env, rule);
    refused(dir, &["session", "start", "t"], &env, rule);
    refused(dir, &["run", "--", "sh", "-c", command], &env, rule);
}

#[test]
fn every_command_that_records_an_agent_refuses_a_name_a_new_agent_may_not_have() {
    let dir = Dir::initialized_with_sync(Some("never"));
    let long = "a".repeat(201);
    let marker = dir.path().join("ran");
    let marker_command = format!("touch {}", marker.display());
    for name in ["has space", "-leading", "bell\u{7}", &long] {
        refused_as_agent(&dir, name, "is not a name for a new agent", &marker_command);
    }
    assert!(!marker.exists(), "run ran its command");
    // A blank --agent is a slip, as other blank arguments are; an empty AGENTRAIL_AGENT is none.
    for blank in ["", " "] {
        refused(
            &dir,
            &["event", "decision", "d", "--agent", blank],
            &[],
            "--agent",
        );
        refused(
            &dir,
            &["session", "start", "t", "--agent", blank],
            &[],
            "--agent",
        );
    }
    dir.ok(&["event", "decision", "d", "--agent", "planner"]);
    // An agent an import brought with another name keeps working.
    dir.import(&format!(
        "{}\n",
        json!({"type": "session_start", "session": "s-1", "agent": "my agent", "data": {"task": "t"}})
    ));
    dir.ok(&["event", "decision", "d", "--agent", "my agent"]);
    let output = dir.run_env(&["run", "--", "true"], &[("AGENTRAIL_AGENT", "my agent")]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let events = dir.export();
    let agents: Vec<_> = events.iter().map(|event| event["agent"].clone()).collect();
    assert_eq!(
        agents,
        [
            json!("planner"),
            json!("my agent"),
            json!("my agent"),
            json!("my agent")
        ]
    );
}

#[test]
fn a_secret_looking_agent_name_is_refused_before_anything_is_done() {
    // Redaction never rewrites an agent name (other events refer to it) and refuses one that
    // looks like a secret; `run` must refuse it before running its command, not after.
    let dir = Dir::initialized_with_sync(Some("never"));
    let token = "ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8";
    let marker = dir.path().join("ran");
    let marker_command = format!("touch {}; exit 5", marker.display());
    refused_as_agent(
        &dir,
        token,
        "looks like a secret (github_token)",
        &marker_command,
    );
    let env = [("AGENTRAIL_AGENT", token)];
    assert!(!marker.exists(), "run ran its command");
    let output = dir.run_env(&["run", "--", "true"], &env);
    assert!(
        !text(&output.stderr).contains(token),
        "the secret was shown"
    );
}

#[test]
fn blank_values_and_an_exit_code_beyond_32_bits_are_refused() {
    let dir = Dir::initialized_with_sync(Some("never"));
    refused(
        &dir,
        &["event", "failure", "--error-type", "E", "--message", ""],
        &[],
        "--message",
    );
    refused(&dir, &["event", "git-diff", "--diff", ""], &[], "--diff");
    refused(
        &dir,
        &["event", "git-diff", "--diff", "+a", "--file", ""],
        &[],
        "--file",
    );
    refused(
        &dir,
        &["event", "decision", "d", "--rationale", " "],
        &[],
        "--rationale",
    );
    refused(
        &dir,
        &["event", "decision", "d", "--option", "a", "--option", ""],
        &[],
        "--option",
    );
    dir.ok(&["session", "start", "t"]);
    refused(&dir, &["session", "log", "x", "--type", ""], &[], "--type");
    refused(
        &dir,
        &["event", "decision", "d", "--session", ""],
        &[],
        "--session",
    );
    refused(
        &dir,
        &[
            "event",
            "tool-output",
            "--tool",
            "t",
            "--exit-code",
            "99999999999",
        ],
        &[],
        "--exit-code",
    );
    dir.ok(&[
        "event",
        "tool-output",
        "--tool",
        "t",
        "--exit-code",
        "-2147483648",
    ]);
    dir.ok(&["event", "failure", "--error-type", "E", "--message", "m"]);
}

#[test]
fn export_to_dash_writes_stdout() {
    let dir = Dir::initialized_with_sync(Some("never"));
    dir.ok(&["event", "decision", "d"]);
    let exported = dir.ok(&["export", "-o", "-"]);
    assert_eq!(exported, dir.ok(&["export"]));
    assert!(exported.contains("\"choice\":\"d\""), "{exported}");
    assert!(!dir.path().join("-").exists());
}

#[test]
fn an_empty_session_on_import_is_named_as_empty_not_missing() {
    let dir = Dir::initialized_with_sync(Some("never"));
    let line = json!({"type": "session_start", "session": "", "data": {"task": "t"}});
    let output = dir.run_stdin(&["import", "-"], &format!("{line}\n"));
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        text(&output.stderr),
        "agentrail: line 1, field `session`: must not be empty: a session_start or session_end names the session it starts or ends; nothing was appended\n"
    );
    assert!(dir.export().is_empty());
}

#[test]
fn agentrail_off_and_its_synonyms_turn_recording_off_and_an_unknown_value_warns() {
    let dir = Dir::initialized_with_sync(Some("never"));
    for off in ["off", "OFF", "0", "false", "No"] {
        let output = dir.run_env(&["event", "decision", "d"], &[("AGENTRAIL", off)]);
        assert!(output.status.success(), "{off}");
        assert_eq!(text(&output.stdout), "", "{off}");
        assert_eq!(text(&output.stderr), "", "{off}");
    }
    assert!(dir.export().is_empty());
    for on in ["", "on", "1", "TRUE"] {
        let output = dir.run_env(&["event", "decision", "d"], &[("AGENTRAIL", on)]);
        assert!(output.status.success(), "{on}");
        assert_eq!(text(&output.stderr), "", "{on}");
    }
    assert_eq!(dir.export().len(), 4);
    let output = dir.run_env(&["event", "decision", "d"], &[("AGENTRAIL", "maybe")]);
    assert!(output.status.success());
    assert_eq!(
        text(&output.stderr),
        "agentrail: warning: AGENTRAIL=maybe is neither on nor off; recording (AGENTRAIL=off turns recording off)\n"
    );
    assert_eq!(dir.export().len(), 5);
}
