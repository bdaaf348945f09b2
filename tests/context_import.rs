//! Imported `commit` and `ref_update` events are replayed on the graph before they are
//! appended: one that would break it (an unknown parent, target or ref, a wrong id, a commit
//! seen before) is an input error naming its line and field, and nothing of the input is
//! appended; events that build on earlier lines of the same input, or on the journal, are
//! accepted and leave no rejected event behind.

#[path = "common/context_lib.rs"]
mod context_lib;

use agentrail::context::{Agent, Graph};
use agentrail::event::InputError;
use agentrail::import::{append, encode_lines};
use agentrail::recorder::Recorder;
use context_lib::{append as commit_on, recorder};
use serde_json::{json, Value as Json};

/// A commit of `agent` at second `second`, on the given parents (on HEAD when `None`).
fn commit_line(agent: &str, second: u32, content: &str, parents: Option<&[&str]>) -> Json {
    let mut line = json!({
        "type": "commit", "agent": agent, "ts": format!("2026-11-24T10:00:{second:02}Z"),
        "data": {"kind": "append", "message": content, "content": content, "tokens": 1}
    });
    if let Some(parents) = parents {
        line["data"]["parents"] = json!(parents);
    }
    line
}

/// A `ref_update` of `agent` putting HEAD on branch `main` at `id`.
fn ref_update_line(agent: &str, id: &str) -> Json {
    json!({
        "type": "ref_update",
        "data": {"op": "reset", "agent": agent, "head": {"branch": "main"}, "branches": {"main": id}}
    })
}

/// Encodes and appends `lines` as one import; the input error, if any.
fn import(recorder: &Recorder, lines: &[Json]) -> Result<u64, InputError> {
    let text: Vec<String> = lines.iter().map(Json::to_string).collect();
    let batch = encode_lines(recorder.redactor().unwrap(), &text.join("\n"), 0)?;
    match append(recorder, batch) {
        Ok(lsns) => Ok(lsns.end - lsns.start),
        Err(agentrail::Error::Input(error)) => Err(error),
        Err(other) => panic!("expected an input error, got {other}"),
    }
}

fn graph(recorder: &Recorder) -> Graph {
    recorder.load::<Graph>().unwrap().state
}

/// The id of the commit `line` describes once imported alone on a fresh workspace.
fn id_of(line: &Json) -> String {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    import(&recorder, std::slice::from_ref(line)).unwrap();
    let id = graph(&recorder).commits().next().unwrap().id.clone();
    id
}

#[test]
fn events_naming_what_the_graph_lacks_are_refused_by_line_and_field() {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let base = commit_on(&Agent::new(&recorder, "a", None), "base");
    let unknown = "ab".repeat(32);
    let good = commit_line("a", 1, "good", None);
    let mut edit = commit_line("a", 2, "edit", None);
    edit["data"]["kind"] = json!("edit");
    edit["data"]["target"] = json!(unknown);
    let mut pin_with_target = commit_line("a", 3, "pin", None);
    pin_with_target["data"]["kind"] = json!("pin");
    pin_with_target["data"]["target"] = json!(base);
    let mut wrong_id = commit_line("a", 4, "claimed", None);
    wrong_id["data"]["id"] = json!(unknown);
    let mut other_detached = ref_update_line("a", &base);
    other_detached["data"]["also"] = json!({"b": {"head": {"detached": unknown}, "branches": {}}});
    let cases = [
        (
            commit_line("a", 5, "orphan", Some(&[base.as_str(), &unknown])),
            "data.parents[1]",
            "not an earlier commit",
        ),
        (edit, "data.target", "not an earlier commit"),
        (
            pin_with_target,
            "data.target",
            "only an edit names a target",
        ),
        (wrong_id, "data.id", "hash to"),
        (
            ref_update_line("a", &unknown),
            "data.branches.main",
            "not a commit",
        ),
        (other_detached, "data.also.b.head.detached", "not a commit"),
    ];
    let before = recorder.journal().refresh().unwrap();
    for (bad, field, message) in cases {
        let error = import(&recorder, &[good.clone(), bad.clone(), good.clone()]).unwrap_err();
        assert_eq!(
            (error.line, error.field.as_deref()),
            (2, Some(field)),
            "{bad}: {error}"
        );
        assert!(error.message.contains(message), "{bad}: {error}");
        assert_eq!(
            recorder.journal().refresh().unwrap(),
            before,
            "{bad}: nothing appended"
        );
    }
    assert_eq!(graph(&recorder).rejected(), 0);
}

#[test]
fn a_commit_imported_twice_is_refused_the_second_time() {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    // Roots: a commit without `parents` lands on HEAD, so the same line imported again is a
    // new commit on top of the first.
    let lines = [
        commit_line("a", 1, "one", Some(&[])),
        commit_line("a", 2, "two", Some(&[])),
    ];
    assert_eq!(import(&recorder, &lines), Ok(2));
    let error = import(&recorder, &lines[1..]).unwrap_err();
    assert_eq!((error.line, error.field.as_deref()), (1, None), "{error}");
    assert!(error.message.contains("already in the graph"), "{error}");
    // Twice in one input (of a new agent, whose branch no journal line set): the second is the
    // error.
    let again = commit_line("z", 3, "three", Some(&[]));
    let error = import(&recorder, &[again.clone(), again]).unwrap_err();
    assert_eq!(error.line, 2, "{error}");
    assert_eq!(graph(&recorder).len(), 2);
}

#[test]
fn events_building_on_earlier_lines_and_on_the_journal_are_accepted() {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let base = commit_on(&Agent::new(&recorder, "a", None), "base");
    // Agent b is new: its root, an edit of it, and a ref_update naming it, each on the lines
    // before.
    let first = commit_line("b", 1, "first", Some(&[]));
    let first_id = id_of(&first);
    let mut edit = commit_line("b", 2, "first edited", None);
    edit["data"]["kind"] = json!("edit");
    edit["data"]["target"] = json!(first_id);
    // Agent a builds on what the journal holds.
    let on_base = commit_line("a", 3, "on base", Some(&[base.as_str()]));
    let mut claimed = commit_line("c", 4, "c's root", Some(&[]));
    claimed["data"]["id"] = json!(id_of(&claimed));
    let lines = [
        first,
        edit,
        on_base,
        ref_update_line("b", &first_id),
        claimed,
    ];
    assert_eq!(import(&recorder, &lines), Ok(5));
    let graph = graph(&recorder);
    assert_eq!((graph.len(), graph.rejected()), (5, 0));
    assert_eq!(graph.refs("b").head_commit(), Some(first_id.as_str()));
    assert_ne!(graph.refs("a").head_commit(), Some(base.as_str()));
    assert!(graph.has_agent("c"));
}

#[test]
fn of_a_bad_session_bound_and_a_bad_context_event_the_earlier_line_is_named() {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let start = json!({"type": "session_start", "session": "s-1", "data": {"task": "t"}});
    assert_eq!(import(&recorder, std::slice::from_ref(&start)), Ok(1));
    let orphan = commit_line("a", 1, "orphan", Some(&[&"cd".repeat(32)]));
    let good = commit_line("a", 2, "good", None);
    let error = import(&recorder, &[good.clone(), start.clone(), orphan.clone()]).unwrap_err();
    assert_eq!(
        (error.line, error.field.as_deref()),
        (2, Some("session")),
        "{error}"
    );
    let error = import(&recorder, &[good, orphan, start]).unwrap_err();
    assert_eq!(
        (error.line, error.field.as_deref()),
        (2, Some("data.parents[0]")),
        "{error}"
    );
}

#[test]
fn a_blank_commit_message_and_a_ref_update_of_another_agent_are_refused_as_read() {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let mut blank = commit_line("a", 1, "c", Some(&[]));
    blank["data"]["message"] = json!(" ");
    let error = import(&recorder, &[blank]).unwrap_err();
    assert_eq!(
        (error.line, error.field.as_deref()),
        (1, Some("data.message")),
        "{error}"
    );
    let base = commit_on(&Agent::new(&recorder, "x", None), "base");
    let mut other = ref_update_line("x", &base);
    other["agent"] = json!("y");
    let error = import(&recorder, &[other]).unwrap_err();
    assert_eq!(
        (error.line, error.field.as_deref()),
        (1, Some("agent")),
        "{error}"
    );
    let mut same = ref_update_line("x", &base);
    same["agent"] = json!("x");
    assert_eq!(import(&recorder, &[same]), Ok(1));
}

/// An export of another workspace imported into one whose agent has refs of its own: its
/// first commit would move the agent's branch onto a root of its own, and its ref_updates,
/// which carry whole refs, would delete the branches it never knew. Both are refused; a
/// ref_update that moves a journal's branch forward is not.
#[test]
fn an_import_does_not_drop_branches_or_commits_it_did_not_make() {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let agent = Agent::new(&recorder, "a", None);
    let base = commit_on(&agent, "base");
    agent.branch("keep", None).unwrap();
    let foreign = commit_line("a", 1, "foreign root", Some(&[]));
    let error = import(&recorder, std::slice::from_ref(&foreign)).unwrap_err();
    assert_eq!(
        (error.line, error.field.as_deref()),
        (1, Some("data.parents")),
        "{error}"
    );
    assert!(
        error
            .message
            .contains("moves branch main of agent a away from"),
        "{error}"
    );
    let mut drops_keep = ref_update_line("a", &base);
    drops_keep["data"]["op"] = json!("branch");
    let error = import(&recorder, &[drops_keep]).unwrap_err();
    assert_eq!(
        error.field.as_deref(),
        Some("data.branches.keep"),
        "{error}"
    );
    assert!(
        error.message.starts_with("deletes branch keep of agent a"),
        "{error}"
    );
    // Forward: a commit on main, then a ref_update moving keep onto it.
    let on_base = commit_line("a", 2, "on base", Some(&[base.as_str()]));
    assert_eq!(import(&recorder, std::slice::from_ref(&on_base)), Ok(1));
    let head = graph(&recorder).refs("a").head_commit().unwrap().to_owned();
    let mut forward = ref_update_line("a", &head);
    forward["data"]["branches"]["keep"] = json!(head);
    assert_eq!(import(&recorder, &[forward]), Ok(1));
    assert_eq!(graph(&recorder).refs("a").branches["keep"], head);
}

/// A `ref_update` names one of the operations that write one: any other `op` would record a
/// reflog entry no command made. It is refused as the line is read, naming `data.op`.
#[test]
fn a_ref_update_whose_op_no_operation_writes_is_refused() {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let base = commit_on(&Agent::new(&recorder, "a", None), "base");
    let mut unknown = ref_update_line("a", &base);
    unknown["data"]["op"] = json!("teleport");
    let good = ref_update_line("a", &base);
    let error = import(&recorder, &[good.clone(), unknown]).unwrap_err();
    assert_eq!(
        (error.line, error.field.as_deref()),
        (2, Some("data.op")),
        "{error}"
    );
    assert!(error.message.contains("teleport"), "{error}");
    assert_eq!(
        graph(&recorder).reflog("a").len(),
        1,
        "nothing was appended"
    );
    for op in agentrail::event::schema::REF_UPDATE_OPS {
        let mut line = ref_update_line("a", &base);
        line["data"]["op"] = json!(op);
        assert_eq!(import(&recorder, &[line]), Ok(1), "{op}");
    }
}
