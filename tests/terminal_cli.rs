//! What reaches the operator's terminal. Recorded text is anyone's (an agent's commit message
//! and content, a session's task, a name, a tool's colored output), and a terminal acts on the
//! control characters it is sent: ESC starts sequences that recolor, clear the screen or move
//! the cursor. Every command's human form, on stdout and in its errors on stderr, shows them
//! instead (ESC as `␛`); a multi-line content keeps its line breaks and tabs, a one-line field
//! shows them as spaces. `--json` keeps the text exact.

use serde_json::json;

#[path = "common/workspace_dir.rs"]
mod workspace_dir;

use workspace_dir::{text, Dir};

const RED: &str = "\u{1b}[31m";
const RED_SHOWN: &str = "␛[31m";

/// Panics when `shown` holds a control character a terminal would act on: anything but a line
/// break, a tab, and a carriage return that ends a line (CRLF).
fn assert_inert(what: &str, shown: &str) {
    let mut chars = shown.chars().peekable();
    while let Some(c) = chars.next() {
        let line_end = c == '\r' && chars.peek() == Some(&'\n');
        assert!(
            !c.is_control() || matches!(c, '\n' | '\t') || line_end,
            "{what} sent {c:?} to the terminal: {shown:?}"
        );
    }
}

/// Runs a command that must succeed; its stdout, checked to be inert.
fn shown(dir: &Dir, args: &[&str]) -> String {
    let stdout = dir.ok(args);
    assert_inert(&format!("{args:?}"), &stdout);
    stdout
}

/// Runs a command that must fail with `code`; its stderr, checked to be inert.
fn refused(dir: &Dir, args: &[&str], code: i32) -> String {
    let output = dir.run(args);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(code), "{args:?}: {stderr}");
    assert_inert(&format!("{args:?} on stderr"), &stderr);
    assert_inert(&format!("{args:?}"), &text(&output.stdout));
    stderr
}

#[test]
fn a_commit_message_and_content_are_shown_not_sent() {
    let dir = Dir::initialized();
    let message = format!("m{RED}x\u{7}\nsecond{RED}line");
    let content = format!("first\n\tindented{RED}red\r\nwindows\rover\u{7}");
    let esc = ["--agent", "esc"];
    dir.ok(&[
        "commit",
        "-m",
        &message,
        "--content",
        &content,
        esc[0],
        esc[1],
    ]);
    let oneline = shown(&dir, &["log", "--oneline", esc[0], esc[1]]);
    assert!(
        oneline.ends_with(&format!(" tokens m{RED_SHOWN}x␇\n")),
        "{oneline}"
    );
    let full = shown(&dir, &["log", "--all", esc[0], esc[1]]);
    assert!(
        full.contains(&format!(
            "\n    m{RED_SHOWN}x␇\n    second{RED_SHOWN}line\n"
        )),
        "{full}"
    );
    // The content is the agent's prompt: its lines and tabs stay, a lone CR and the rest show.
    let prompt = format!("first\n\tindented{RED_SHOWN}red\r\nwindows␍over␇\n");
    assert_eq!(shown(&dir, &["context", esc[0], esc[1]]), prompt);
    let commit = shown(&dir, &["show", "HEAD", esc[0], esc[1]]);
    assert!(commit.ends_with(&format!("\n\n{prompt}")), "{commit}");
    let json = dir.json(&["context", esc[0], esc[1]]);
    assert_eq!(json["blocks"][0]["content"], json!(content));
    assert_eq!(json["blocks"][0]["message"], json!(message));
    for args in [
        &["log", "--graph", esc[0], esc[1]][..],
        &["log"],
        &["reflog", esc[0], esc[1]],
        &["branch", "--list", esc[0], esc[1]],
        &["status", esc[0], esc[1]],
        &["blame", "windows", esc[0], esc[1]],
        &["audit", "--at", "1", esc[0], esc[1]],
    ] {
        shown(&dir, args);
    }
}

#[test]
fn sub_agent_and_diff_views_show_control_characters() {
    let dir = Dir::initialized();
    let lead = ["--agent", "lead"];
    dir.ok(&[
        "commit",
        "-m",
        "base",
        "--content",
        "base",
        lead[0],
        lead[1],
    ]);
    dir.ok(&["branch", "side", lead[0], lead[1]]);
    dir.ok(&["switch", "side", lead[0], lead[1]]);
    let message = format!("side{RED}message");
    let content = format!("side{RED}content");
    dir.ok(&[
        "commit",
        "-m",
        &message,
        "--content",
        &content,
        lead[0],
        lead[1],
    ]);
    let diff = shown(&dir, &["diff", "main", "side", lead[0], lead[1]]);
    assert!(diff.contains(&format!("side{RED_SHOWN}message")), "{diff}");
    assert!(diff.contains(&format!("side{RED_SHOWN}content")), "{diff}");
    let task = format!("do{RED}it");
    dir.ok(&["spawn", "helper", "--task", &task, lead[0], lead[1]]);
    let expanded = shown(&dir, &["expand", "HEAD", lead[0], lead[1]]);
    assert!(expanded.contains(&format!("do{RED_SHOWN}it")), "{expanded}");
}

#[test]
fn a_session_agent_and_task_are_shown_on_one_line() {
    let dir = Dir::initialized();
    let agent = "ev\u{1b}[2J\nil";
    let task = format!("fix{RED}it");
    // `session start` refuses such a name for a new agent; an import brings it in, and then
    // it is an agent the journal knows.
    let session = "s-00000000e5c0";
    let start = serde_json::json!({"type": "session_start", "session": session, "agent": agent,
        "data": {"task": task}});
    dir.import(&format!("{start}\n"));
    let refused = dir.run(&["session", "start", &task, "--agent", "ev\u{1b}[2J\nnew"]);
    assert_eq!(refused.status.code(), Some(2));
    let expected = format!("\"fix{RED_SHOWN}it\" agent=ev␛[2J il started");
    let status = shown(&dir, &["session", "status"]);
    assert!(status.contains(&expected), "{status}");
    assert_eq!(status.lines().count(), 1, "{status}");
    let summary = shown(&dir, &["show", session]);
    let first_line = summary.lines().next().unwrap_or_default();
    assert!(first_line.contains(&expected), "{summary}");
    let overall = shown(&dir, &["status"]);
    assert!(overall.contains(&expected), "{overall}");
    shown(&dir, &["resume"]);
    let model = format!("m{RED}odel");
    dir.ok(&[
        "event",
        "llm-call",
        "--model",
        &model,
        "--input-tokens",
        "1",
        "--output-tokens",
        "1",
    ]);
    let tokens = shown(&dir, &["tokens", "--by", "model"]);
    assert!(tokens.contains(&format!("m{RED_SHOWN}odel: ")), "{tokens}");
    let tokens = shown(&dir, &["tokens", "--by", "agent"]);
    assert!(tokens.contains("ev␛[2J il: "), "{tokens}");
    assert_eq!(
        dir.json(&["show", session])["session"]["agent"],
        json!(agent)
    );
}

#[test]
fn errors_show_the_names_they_quote_without_rust_escapes() {
    let dir = Dir::initialized();
    dir.ok(&["commit", "-m", "m", "--content", "c"]);
    let stderr = refused(&dir, &["branch", &format!("a{RED}red")], 2);
    assert!(
        stderr.starts_with(&format!(
            "agentrail: \"a{RED_SHOWN}red\" is not a branch name"
        )),
        "{stderr}"
    );
    let stderr = refused(&dir, &["switch", &format!("no{RED}pe")], 2);
    assert!(stderr.contains(&format!("no{RED_SHOWN}pe")), "{stderr}");
    assert!(!stderr.contains("\\u{"), "{stderr}");
    let stderr = refused(&dir, &["blame", &format!("absent{RED}\ntext")], 1);
    assert!(
        stderr.contains(&format!("\"absent{RED_SHOWN} text\"")),
        "{stderr}"
    );
    let stderr = refused(&dir, &["show", &format!("x{RED}")], 2);
    assert!(stderr.contains(&format!("\"x{RED_SHOWN}\"")), "{stderr}");
    // clap's own errors quote the value given.
    let stderr = refused(&dir, &["log", "--type", &format!("t{RED}")], 2);
    assert!(stderr.contains(&format!("t{RED_SHOWN}")), "{stderr}");
    assert!(!stderr.contains("\\u{"), "{stderr}");
}
