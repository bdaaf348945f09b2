//! Context version control through the library: each operation on a scenario, commit id
//! prefixes, undo, edits and pins in the materialized context, commit events imported without
//! parents, events that would break the graph, and a model: random operation sequences against
//! a tiny in-memory graph (merges and rebases among them, rebases of merged branches, and the
//! conflicts of both, branch deletions, checkouts of `HEAD~N^2` revisions, and reorders of
//! ranges that may hold merges, with flawed or forced orders, compressions that keep pins,
//! spawns and collapses of sub-agents), checked after replay from the journal and after
//! `rebuild`.

#[path = "common/context_lib.rs"]
mod context_lib;

use agentrail::context::{
    commit_id, materialize, Agent, Commit, CommitFields, CommitKind, CommitRequest, Conflict,
    ContextError, Generated, Graph, Head, MergeOutcome, NewCommit, RefChange, Refs, ResetMode,
    Unrelated,
};
use agentrail::event::{Event, EventType};
use agentrail::project::{CheckpointStatus, Projector};
use agentrail::recorder::{object, Recorder};
use agentrail::Error;
use context_lib::{contents, contents_at, context_error, last_op, recorder};
use proptest::prelude::*;
use serde_json::json;
use std::collections::BTreeMap;

fn request(kind: CommitKind, content: &str, target: Option<&str>) -> CommitRequest {
    CommitRequest {
        kind,
        message: format!("{} {content}", kind.as_str()),
        content: content.to_owned(),
        target: target.map(str::to_owned),
        tokens: Some(content.len() as u64),
    }
}

fn append(agent: &Agent, content: &str) -> String {
    agent
        .commit(request(CommitKind::Append, content, None))
        .unwrap()
        .id
}

#[test]
fn a_new_agent_is_on_unborn_main_and_commits_move_its_branch() {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let agent = Agent::new(&recorder, "coder", Some("s-1".into()));
    let graph = agent.graph().unwrap();
    assert_eq!(graph.refs("coder"), Refs::default());
    assert_eq!(graph.refs("coder").head, Head::Branch("main".into()));
    assert!(agent.context(None).unwrap().blocks.is_empty());
    let first = append(&agent, "system prompt");
    let second = append(&agent, "task");
    let graph = agent.graph().unwrap();
    let refs = graph.refs("coder");
    assert_eq!(refs.head_commit(), Some(second.as_str()));
    let commit = graph.commit(&second).unwrap();
    assert_eq!(commit.parents, vec![first.clone()]);
    assert_eq!(commit.session.as_deref(), Some("s-1"));
    assert_eq!(commit.agent, "coder");
    assert!(!commit.tokens_counted);
    assert_eq!(contents_at(&agent, None), ["system prompt", "task"]);
    // Another agent's context is its own.
    assert_eq!(graph.refs("main"), Refs::default());
    let reflog = graph.reflog("coder");
    assert_eq!(reflog.len(), 2);
    assert_eq!(reflog[0].before.head_commit(), None);
    assert_eq!(reflog[1].after.head_commit(), Some(second.as_str()));
}

#[test]
fn the_id_is_the_hash_of_the_stored_fields() {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let agent = Agent::new(&recorder, "main", None);
    let commit = agent
        .commit(CommitRequest {
            tokens: None,
            ..request(CommitKind::Pin, "keep me verbatim", None)
        })
        .unwrap();
    assert!(commit.tokens_counted);
    assert_eq!(commit.tokens, 4);
    let expected = commit_id(&CommitFields {
        parents: &[],
        kind: CommitKind::Pin,
        content: "keep me verbatim",
        message: "pin keep me verbatim",
        target: None,
        tokens: 4,
        agent: "main",
        session: None,
        ts_micros: commit.ts_micros,
        links: &Default::default(),
    });
    assert_eq!(commit.id, expected);
    assert_eq!(agent.graph().unwrap().commit(&expected).unwrap().lsn, 1);
}

#[test]
fn a_secret_in_a_block_is_redacted_before_the_id_is_computed() {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let agent = Agent::new(&recorder, "main", None);
    let commit = agent
        .commit(request(
            CommitKind::Append,
            "aws configure set aws_access_key_id AKIAIOSFODNN7EXAMPLE",
            None,
        ))
        .unwrap();
    let graph = agent.graph().unwrap();
    assert_eq!(graph.rejected(), 0);
    assert!(graph.commit(&commit.id).is_some());
    let context = agent.context(None).unwrap();
    assert!(!context.blocks[0].content.contains("AKIAIOSFODNN7EXAMPLE"));
    assert!(context.blocks[0].content.contains("[REDACTED:"));
}

#[test]
fn branch_switch_checkout_and_reset() {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let agent = Agent::new(&recorder, "main", None);
    let unborn = context_error(agent.branch("topic", None).unwrap_err());
    assert!(matches!(unborn, ContextError::Unborn { .. }), "{unborn}");
    let base = append(&agent, "base");
    agent.branch("topic", None).unwrap();
    let on_main = append(&agent, "main work");
    let refs = agent.switch("topic").unwrap().refs;
    assert_eq!(refs.head_commit(), Some(base.as_str()));
    let on_topic = append(&agent, "topic work");
    assert_eq!(contents_at(&agent, None), ["base", "topic work"]);
    assert_eq!(contents_at(&agent, Some("main")), ["base", "main work"]);
    assert_eq!(
        contents_at(&agent, Some(&on_main[..6])),
        ["base", "main work"]
    );
    // A branch at another branch, and errors that record nothing.
    agent.branch("copy", Some("main")).unwrap();
    let before = recorder.journal().last_lsn();
    for (result, field) in [
        (agent.branch("copy", None), "exists"),
        (agent.branch("bad name", None), "name"),
        // ".." would split a range (`compress a..b..main`) in the wrong place.
        (agent.branch("a..b", None), "name"),
        (agent.switch("nowhere").map(|moved| moved.refs), "unknown"),
        (agent.checkout("zzzz").map(|moved| moved.refs), "hex"),
        (agent.checkout("abc").map(|moved| moved.refs), "short"),
    ] {
        let error = context_error(result.unwrap_err());
        let fits = match field {
            "exists" => matches!(error, ContextError::BranchExists { .. }),
            "name" => matches!(error, ContextError::BadBranchName { .. }),
            "unknown" => matches!(error, ContextError::UnknownBranch { .. }),
            "hex" => matches!(error, ContextError::NotHex { .. }),
            _ => matches!(error, ContextError::PrefixTooShort { .. }),
        };
        assert!(fits, "{field}: {error}");
    }
    assert_eq!(recorder.journal().last_lsn(), before);
    // Detached HEAD: commits move HEAD only.
    let refs = agent.checkout(&base).unwrap().refs;
    assert_eq!(refs.head, Head::Detached(base.clone()));
    let detached = append(&agent, "detached work");
    let refs = agent.graph().unwrap().refs("main");
    assert_eq!(refs.head, Head::Detached(detached.clone()));
    assert_eq!(refs.branches["topic"], on_topic);
    // Reset moves the branch HEAD is on, and records its mode.
    agent.switch("topic").unwrap();
    let refs = agent.reset(ResetMode::Hard, &base).unwrap();
    assert_eq!(refs.branches["topic"], base);
    assert_eq!(refs.head, Head::Branch("topic".into()));
    agent.reset(ResetMode::Soft, &on_topic).unwrap();
    let graph = agent.graph().unwrap();
    let reflog = graph.reflog("main");
    let modes: Vec<Option<&str>> = reflog
        .iter()
        .filter(|entry| entry.op == "reset")
        .map(|entry| entry.mode.as_deref())
        .collect();
    assert_eq!(modes, [Some("hard"), Some("soft")]);
    assert_eq!(graph.refs("main").branches["topic"], on_topic);
}

#[test]
fn commits_of_another_agent_do_not_resolve() {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let theirs = append(&Agent::new(&recorder, "other", None), "theirs");
    let agent = Agent::new(&recorder, "main", None);
    let error = context_error(agent.checkout(&theirs).unwrap_err());
    assert!(matches!(error, ContextError::OtherAgent { .. }), "{error}");
}

#[test]
fn a_target_on_an_append_or_a_pin_is_refused_and_records_nothing() {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let agent = Agent::new(&recorder, "main", None);
    let base = append(&agent, "base");
    let before = recorder.journal().last_lsn();
    for kind in [CommitKind::Append, CommitKind::Pin] {
        let error = context_error(agent.commit(request(kind, "x", Some(&base))).unwrap_err());
        assert!(
            matches!(error, ContextError::TargetWithoutEdit { .. }),
            "{error}"
        );
        // It read "a append commit takes no target" (found with `commit --target` on an append).
        let message = error.to_string();
        let kind = kind.as_str();
        assert!(
            message.starts_with(&format!("{kind} commits take no target")),
            "{message}"
        );
    }
    assert_eq!(recorder.journal().last_lsn(), before);
    assert_eq!(agent.graph().unwrap().rejected(), 0);
    assert_eq!(contents(&agent), ["base"]);
}

#[test]
fn an_empty_message_or_block_is_refused_and_an_edit_may_empty_its_target() {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let agent = Agent::new(&recorder, "main", None);
    let base = append(&agent, "base");
    let before = recorder.journal().last_lsn();
    let mut unnamed = request(CommitKind::Append, "x", None);
    unnamed.message = " \n".into();
    let error = context_error(agent.commit(unnamed).unwrap_err());
    assert_eq!(error, ContextError::EmptyMessage);
    for (kind, content) in [(CommitKind::Append, ""), (CommitKind::Pin, "\n\t ")] {
        let error = context_error(agent.commit(request(kind, content, None)).unwrap_err());
        let kind = kind.as_str().to_owned();
        assert_eq!(error, ContextError::EmptyContent { kind });
    }
    assert_eq!(recorder.journal().last_lsn(), before, "nothing recorded");
    agent
        .commit(request(CommitKind::Edit, "", Some(&base)))
        .unwrap();
    assert_eq!(contents(&agent), [""]);
}

#[test]
fn a_prefix_longer_than_an_id_names_no_commit() {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let agent = Agent::new(&recorder, "main", None);
    let id = append(&agent, "base");
    for longer in [format!("{id}0"), format!("{id}{id}")] {
        let error = context_error(agent.checkout(&longer).unwrap_err());
        assert!(
            matches!(error, ContextError::UnknownCommit { .. }),
            "{error}"
        );
    }
}

/// Commit events imported as the previous issue's import accepts them: no parents, fixed
/// times, so ids are the same on every run.
fn imported_commits(count: usize) -> Vec<Event> {
    (0..count)
        .map(|index| {
            let line = json!({
                "ts": format!("2026-11-23T10:00:{:02}.{index:06}Z", index % 60),
                "type": "commit",
                "data": {"kind": "append", "message": "m", "content": format!("block {index}"), "tokens": 2},
            });
            Event::from_json_line(&line.to_string(), index + 1, 0).unwrap()
        })
        .collect()
}

#[test]
fn imported_commits_land_on_head_and_prefixes_resolve_only_when_unique() {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    recorder.record_all(imported_commits(600)).unwrap();
    let agent = Agent::new(&recorder, "main", None);
    let graph = agent.graph().unwrap();
    assert_eq!(graph.commits().len(), 600);
    assert_eq!(graph.rejected(), 0);
    let context = agent.context(None).unwrap();
    assert_eq!(context.blocks.len(), 600);
    assert_eq!(context.blocks[599].content, "block 599");
    assert_eq!(context.tokens, 1200);
    // 600 ids among 65,536 four-digit prefixes: some two share one (and this is fixed).
    let mut ids: Vec<&String> = graph.commits().map(|commit| &commit.id).collect();
    ids.sort();
    let shared = ids
        .windows(2)
        .find(|pair| pair[0][..4] == pair[1][..4])
        .expect("two ids share a 4-digit prefix");
    let error = context_error(agent.checkout(&shared[0][..4]).unwrap_err());
    assert!(
        matches!(error, ContextError::AmbiguousPrefix { .. }),
        "{error}"
    );
    assert!(error.to_string().contains(&shared[1][..12]));
    let unique = &shared[0][..40];
    assert_eq!(agent.resolve(&graph, unique).unwrap(), *shared[0]);
    assert_eq!(
        agent.resolve(&graph, &unique.to_uppercase()).unwrap(),
        *shared[0]
    );
}

#[test]
fn events_that_would_break_the_graph_change_nothing() {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let agent = Agent::new(&recorder, "main", None);
    let base = append(&agent, "base");
    let unknown = "0".repeat(64);
    let bad = [
        json!({"kind": "append", "message": "m", "content": "c", "parents": [unknown]}),
        json!({"kind": "edit", "message": "m", "content": "c", "target": unknown}),
        json!({"kind": "append", "message": "m", "content": "c", "id": unknown}),
    ];
    let mut events: Vec<Event> = bad
        .into_iter()
        .map(|data| Event::new(EventType::Commit, None, None, object(data)).unwrap())
        .collect();
    let ref_update =
        json!({"op": "reset", "agent": "main", "head": {"detached": unknown}, "branches": {}});
    events.push(Event::new(EventType::RefUpdate, None, None, object(ref_update)).unwrap());
    recorder.record_all(events).unwrap();
    let graph = agent.graph().unwrap();
    assert_eq!(graph.rejected(), 4);
    assert_eq!(graph.commits().len(), 1);
    assert_eq!(graph.refs("main").head_commit(), Some(base.as_str()));
}

#[test]
fn commits_written_without_moving_head_then_one_ref_update() {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let agent = Agent::new(&recorder, "main", None);
    let base = append(&agent, "base");
    let data = json!({"kind": "append", "message": "m", "content": "side", "parents": [base], "move_head": false, "tokens": 1});
    let event = Event::new(EventType::Commit, None, Some("main".into()), object(data)).unwrap();
    recorder.record(event).unwrap();
    let graph = agent.graph().unwrap();
    assert_eq!(graph.refs("main").head_commit(), Some(base.as_str()));
    let side = graph
        .commits()
        .find(|commit| commit.parents == [base.clone()])
        .unwrap()
        .id
        .clone();
    let update = json!({"op": "rebase", "agent": "main", "head": {"branch": "main"}, "branches": {"main": side}});
    recorder
        .record(
            Event::new(
                EventType::RefUpdate,
                None,
                Some("main".into()),
                object(update),
            )
            .unwrap(),
        )
        .unwrap();
    assert_eq!(contents_at(&agent, None), ["base", "side"]);
    assert_eq!(last_op(&agent), "rebase");
}

#[test]
fn undo_steps_back_one_ref_move_per_call() {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let agent = Agent::new(&recorder, "main", None);
    let error = context_error(agent.undo().unwrap_err());
    assert!(matches!(error, ContextError::NothingToUndo { .. }));
    let first = append(&agent, "one");
    let second = append(&agent, "two");
    agent.branch("topic", None).unwrap();
    agent.switch("topic").unwrap();
    let refs = agent.undo().unwrap();
    assert_eq!(refs.head, Head::Branch("main".into()));
    assert!(refs.branches.contains_key("topic"));
    let refs = agent.undo().unwrap();
    assert!(!refs.branches.contains_key("topic"));
    assert_eq!(refs.head_commit(), Some(second.as_str()));
    let refs = agent.undo().unwrap();
    assert_eq!(refs.head_commit(), Some(first.as_str()));
    assert_eq!(contents_at(&agent, None), ["one"]);
    let refs = agent.undo().unwrap();
    assert_eq!(refs, Refs::default());
    assert!(agent.undo().is_err());
    // History is never rewritten: every commit is still there, and so is every move.
    let graph = agent.graph().unwrap();
    assert_eq!(graph.commits().len(), 2);
    assert_eq!(graph.reflog("main").len(), 8);
    // A new move after undos is what the next undo takes back.
    let third = append(&agent, "three");
    assert_eq!(agent.undo().unwrap(), Refs::default());
    assert!(agent.graph().unwrap().commit(&third).is_some());
}

/// Found by driving `agentrail commit --tokens 18446744073709551615` after a 100-token block:
/// `status` said the context held 99 tokens, because the total wrapped around.
#[test]
fn a_context_token_total_saturates_instead_of_wrapping() {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let agent = Agent::new(&recorder, "main", None);
    let mut huge = request(CommitKind::Append, "a huge count", None);
    huge.tokens = Some(u64::MAX);
    agent.commit(huge).unwrap();
    append(&agent, "one more block");
    assert_eq!(agent.context(None).unwrap().tokens, u64::MAX);
    let graph = agent.graph().unwrap();
    let size = agentrail::context::materialize::size_at(&graph, graph.refs("main").head_commit());
    assert_eq!((size.blocks, size.tokens), (2, u64::MAX));
}

#[test]
fn edits_replace_in_place_pins_stay_and_identical_blocks_are_kept_once() {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let agent = Agent::new(&recorder, "main", None);
    let system = append(&agent, "You are an agent.");
    agent
        .commit(request(CommitKind::Pin, "Never push to main.", None))
        .unwrap();
    append(&agent, "tried A: failed");
    let edit = agent
        .commit(request(
            CommitKind::Edit,
            "You are a careful agent.",
            Some(&system[..8]),
        ))
        .unwrap();
    assert_eq!(edit.target.as_deref(), Some(system.as_str()));
    // An edit of an edit replaces the same block again.
    agent
        .commit(request(
            CommitKind::Edit,
            "You are a very careful agent.",
            Some(&edit.id),
        ))
        .unwrap();
    append(&agent, "Never push to main.");
    let context = agent.context(None).unwrap();
    let shown: Vec<(&str, CommitKind)> = context
        .blocks
        .iter()
        .map(|block| (block.content.as_str(), block.kind))
        .collect();
    assert_eq!(
        shown,
        [
            ("You are a very careful agent.", CommitKind::Append),
            ("Never push to main.", CommitKind::Pin),
            ("tried A: failed", CommitKind::Append),
        ]
    );
    assert_eq!(context.blocks[0].id, system);
    assert_eq!(
        context.tokens,
        ("You are a very careful agent.".len()
            + "Never push to main.".len()
            + "tried A: failed".len()) as u64
    );
    // An edit's target must be in the context at HEAD.
    agent.branch("side", Some(&system)).unwrap();
    agent.switch("side").unwrap();
    let later = agent.graph().unwrap().refs("main").branches["main"].clone();
    let error = context_error(
        agent
            .commit(request(CommitKind::Edit, "x", Some(&later)))
            .unwrap_err(),
    );
    assert!(
        matches!(error, ContextError::TargetNotInContext { .. }),
        "{error}"
    );
    // And an edit names its target.
    let missing = agent
        .commit(request(CommitKind::Edit, "x", None))
        .unwrap_err();
    assert!(
        matches!(missing, Error::Input(ref input) if input.field.as_deref() == Some("data.target"))
    );
}

// ---- The model ----

#[derive(Debug, Clone)]
enum Op {
    Commit {
        kind: u8,
        content: u8,
        target: usize,
    },
    Branch {
        name: u8,
        at: Option<usize>,
    },
    Switch {
        name: u8,
    },
    Checkout {
        commit: usize,
    },
    Reset {
        hard: bool,
        commit: usize,
    },
    Undo,
    Merge {
        name: u8,
    },
    Rebase {
        name: u8,
    },
    /// `branch -d` (or `-D` when `force`).
    DeleteBranch {
        name: u8,
        force: bool,
    },
    /// `checkout HEAD~BACK`, then `^2` when `second`.
    CheckoutRevision {
        back: u8,
        second: bool,
    },
    Reorder(Reorder),
    /// `compress FROM..TO --respect-pins` on HEAD's first-parent line, chosen as a reorder's
    /// range is.
    Compress {
        from: Option<usize>,
        to: usize,
    },
    /// `spawn CHILD --task ...` of the child `CHILDREN[child]`.
    Spawn {
        child: u8,
    },
    /// `collapse CHILD` with a summarizer that always answers.
    Collapse {
        child: u8,
    },
}

/// `reorder FROM..TO --order ...` on HEAD's first-parent line, chosen by index: TO (`to`
/// commits back from HEAD), then FROM before it (`..TO` when none); the order is the range's commits, merges aside, in the
/// model's walk order with `swaps` applied, then spoiled by `flaw`.
#[derive(Debug, Clone)]
struct Reorder {
    from: Option<usize>,
    to: usize,
    swaps: Vec<(usize, usize)>,
    flaw: Flaw,
    force: bool,
}

/// How a reorder's order may be wrong: each index picks what to name or leave out.
#[derive(Debug, Clone)]
enum Flaw {
    None,
    /// Names one of the range's merge commits (when it holds one).
    NamesMerge(usize),
    LeavesOut(usize),
    NamesTwice(usize),
    /// Names one more commit of the graph: outside the range, a merge, or one named already.
    NamesAnother(usize),
}

/// Cases per property of the model unless `PROPTEST_CASES` says otherwise.
const MODEL_CASES_DEFAULT: u32 = 48;

const NAMES: [&str; 3] = ["main", "topic", "spike"];
/// In a merge or rebase: `main` when HEAD is on `topic`, else `topic`.
const OTHER: u8 = u8::MAX;

fn branch_name(model: &Model, name: u8) -> &'static str {
    match (name, model.refs.branch()) {
        (OTHER, Some("topic")) => "main",
        (OTHER, _) => "topic",
        (name, _) => NAMES[name as usize],
    }
}
const CONTENTS: [&str; 5] = ["alpha", "beta", "gamma", "delta", "alpha"];
/// The sub-agents `main` may spawn.
const CHILDREN: [&str; 2] = ["helper", "scout"];
/// What the model's compressions summarize their ranges to.
const SUMMARY: &str = "the range, summarized";

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..3, 0u8..5, any::<usize>()).prop_map(|(kind, content, target)| Op::Commit { kind, content, target }),
        1 => (0u8..3, proptest::option::of(any::<usize>())).prop_map(|(name, at)| Op::Branch { name, at }),
        1 => (0u8..3).prop_map(|name| Op::Switch { name }),
        1 => any::<usize>().prop_map(|commit| Op::Checkout { commit }),
        1 => (any::<bool>(), any::<usize>()).prop_map(|(hard, commit)| Op::Reset { hard, commit }),
        1 => Just(Op::Undo),
        1 => (0u8..3).prop_map(|name| Op::Merge { name }),
        1 => (0u8..3).prop_map(|name| Op::Rebase { name }),
        1 => (0u8..3, any::<bool>()).prop_map(|(name, force)| Op::DeleteBranch { name, force }),
        1 => (0u8..4, any::<bool>()).prop_map(|(back, second)| Op::CheckoutRevision { back, second }),
        1 => reorder_op(),
    ]
}

fn reorder_op() -> impl Strategy<Value = Op> {
    let flaw = prop_oneof![
        6 => Just(Flaw::None),
        1 => any::<usize>().prop_map(Flaw::NamesMerge),
        1 => any::<usize>().prop_map(Flaw::LeavesOut),
        1 => any::<usize>().prop_map(Flaw::NamesTwice),
        1 => any::<usize>().prop_map(Flaw::NamesAnother),
    ];
    let swaps = proptest::collection::vec(any::<(usize, usize)>(), 0..4);
    let from = proptest::option::weighted(0.75, any::<usize>());
    // TO is HEAD half the time, so the range often holds the merges behind it.
    let to = prop_oneof![Just(0), any::<usize>()];
    (from, to, swaps, flaw, proptest::bool::weighted(0.3)).prop_map(
        |(from, to, swaps, flaw, force)| {
            Op::Reorder(Reorder {
                from,
                to,
                swaps,
                flaw,
                force,
            })
        },
    )
}

/// Operations that build merges, edits and resolutions, then reorder ranges holding them.
fn reorder_heavy_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u8..3, 0u8..5, any::<usize>()).prop_map(|(kind, content, target)| Op::Commit { kind, content, target }),
        2 => (0u8..3).prop_map(|name| Op::Switch { name }),
        2 => Just(Op::Merge { name: OTHER }),
        1 => Just(Op::Merge { name: 2 }),
        1 => Just(Op::Undo),
        4 => reorder_op(),
    ]
}

/// [`op`]'s operations and compressions, spawns and collapses, with more commits and pins so
/// that compressions often have pins to keep and edits to cut apart.
fn compress_and_sub_agent_op() -> impl Strategy<Value = Op> {
    let range = (
        proptest::option::weighted(0.75, any::<usize>()),
        prop_oneof![Just(0), any::<usize>()],
    );
    prop_oneof![
        6 => (0u8..3, 0u8..5, any::<usize>()).prop_map(|(kind, content, target)| Op::Commit { kind, content, target }),
        4 => op(),
        3 => range.prop_map(|(from, to)| Op::Compress { from, to }),
        1 => (0u8..2).prop_map(|child| Op::Spawn { child }),
        2 => (0u8..2).prop_map(|child| Op::Collapse { child }),
    ]
}

/// Operations on `main` and `topic`, which fork, merge and rebase often, and `spike`, which
/// they merge: so a rebase often replays a merge.
fn fork_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u8..3, 0u8..5, any::<usize>()).prop_map(|(kind, content, target)| Op::Commit { kind, content, target }),
        3 => (0u8..3).prop_map(|name| Op::Switch { name }),
        1 => Just(Op::Merge { name: OTHER }),
        1 => Just(Op::Merge { name: 2 }),
        2 => Just(Op::Rebase { name: OTHER }),
        1 => Just(Op::Undo),
        1 => (0u8..3, any::<bool>()).prop_map(|(back, second)| Op::CheckoutRevision { back, second }),
        2 => reorder_op(),
    ]
}

#[derive(Debug, Clone)]
struct ModelCommit {
    parents: Vec<String>,
    kind: CommitKind,
    /// What conflicting pins share: a pin a compression kept has its block's message, which
    /// names the content the block was brought in with, not the content it kept.
    message: String,
    content: String,
    target: Option<String>,
    /// A merge resolution's `resolves` link.
    resolves: Option<String>,
    /// A collapse's `child` and `child_head` links.
    collapsed: Option<(String, String)>,
}

impl ModelCommit {
    fn of(commit: &Commit, content: String) -> ModelCommit {
        let link = |name: &str| commit.links.get(name).cloned();
        ModelCommit {
            parents: commit.parents.clone(),
            kind: commit.kind,
            message: commit.message.clone(),
            content,
            target: commit.target.clone(),
            resolves: link("resolves"),
            collapsed: link("child").zip(link("child_head")),
        }
    }

    /// A commit of no link, with the message [`request`] gives it.
    fn new(parents: Vec<String>, kind: CommitKind, content: &str) -> ModelCommit {
        ModelCommit {
            parents,
            kind,
            message: format!("{} {content}", kind.as_str()),
            content: content.to_owned(),
            target: None,
            resolves: None,
            collapsed: None,
        }
    }
}

/// One block of the model's context.
#[derive(Debug, Clone)]
struct ModelBlock {
    content: String,
    /// The kind of the commit that brought it in (a pin when an identical pin came later).
    kind: CommitKind,
    /// The commit that brought it in.
    brought_by: String,
    /// The commit whose content it shows: its last edit, else `brought_by`.
    source: String,
}

/// The graph as a test sees it: `main`'s commits in order, every agent's commits, `main`'s
/// refs, the refs before each move, and the root of each child `main` spawned (its HEAD: the
/// model never commits as a child).
#[derive(Default, Clone)]
struct Model {
    ids: Vec<String>,
    commits: BTreeMap<String, ModelCommit>,
    refs: Refs,
    moves: Vec<(String, Refs)>,
    children: BTreeMap<String, String>,
}

impl Model {
    fn pick(&self, index: usize) -> Option<String> {
        (!self.ids.is_empty()).then(|| self.ids[index % self.ids.len()].clone())
    }

    /// The commits reachable from `tip`, parents first, each commit's first parent first.
    fn walk(&self, tip: Option<&str>) -> Vec<String> {
        let mut order = Vec::new();
        let mut seen = std::collections::HashSet::new();
        if let Some(tip) = tip {
            self.visit(tip, &mut seen, &mut order);
        }
        order
    }

    fn visit(
        &self,
        id: &str,
        seen: &mut std::collections::HashSet<String>,
        order: &mut Vec<String>,
    ) {
        if !seen.insert(id.to_owned()) {
            return;
        }
        for parent in &self.commits[id].parents {
            self.visit(parent, seen, order);
        }
        order.push(id.to_owned());
    }

    fn is_ancestor(&self, ancestor: &str, tip: &str) -> bool {
        self.walk(Some(tip)).iter().any(|id| id == ancestor)
    }

    /// The context's blocks as their contents and kinds.
    fn context(&self, tip: Option<&str>) -> Vec<(String, CommitKind)> {
        let blocks = self.blocks(tip).0.into_iter();
        blocks.map(|block| (block.content, block.kind)).collect()
    }

    /// A block of `sides` (HEAD's, then theirs or ONTO's) that the context at `tip` loses,
    /// the rule the library checks merges and rebases by: its content is nowhere at `tip` nor
    /// in a resolved conflict (`resolved`: both sides' contents), and the other side did not
    /// change that block (no block of the other side was brought in with the same content
    /// and shows another now). `None` when nothing is lost.
    fn lost_block(&self, sides: [&str; 2], tip: &str, resolved: &[String]) -> Option<String> {
        let kept: std::collections::HashSet<String> = self
            .blocks(Some(tip))
            .0
            .into_iter()
            .map(|block| block.content)
            .chain(resolved.iter().cloned())
            .collect();
        let blocks = sides.map(|side| self.blocks(Some(side)).0);
        let brought = |block: &ModelBlock| self.commits[&block.brought_by].content.clone();
        for (side, other) in [(&blocks[0], &blocks[1]), (&blocks[1], &blocks[0])] {
            let changed: Vec<String> = other
                .iter()
                .filter(|block| block.content != brought(block))
                .map(brought)
                .collect();
            if let Some(lost) = side
                .iter()
                .find(|block| !kept.contains(&block.content) && !changed.contains(&brought(block)))
            {
                return Some(lost.brought_by.clone());
            }
        }
        None
    }

    /// The context's blocks, and the block each commit brought in or edited.
    fn blocks(&self, tip: Option<&str>) -> (Vec<ModelBlock>, BTreeMap<String, usize>) {
        let mut blocks: Vec<ModelBlock> = Vec::new();
        let mut block_of: BTreeMap<String, usize> = BTreeMap::new();
        for id in self.walk(tip) {
            let commit = &self.commits[&id];
            if commit.parents.len() > 1 {
                continue;
            }
            if commit.kind == CommitKind::Edit {
                if let Some(&index) = commit.target.as_ref().and_then(|t| block_of.get(t)) {
                    blocks[index].content = commit.content.clone();
                    blocks[index].source = id.clone();
                    block_of.insert(id, index);
                    let gone = commit.resolves.as_ref().and_then(|r| block_of.get(r));
                    if let Some(&gone) = gone.filter(|&&gone| gone != index) {
                        blocks.remove(gone);
                        let keep = if index > gone { index - 1 } else { index };
                        for at in block_of.values_mut() {
                            if *at == gone {
                                *at = keep;
                            } else if *at > gone {
                                *at -= 1;
                            }
                        }
                    }
                }
                continue;
            }
            // Identical blocks are kept once, pinned if either was.
            let index = match blocks.iter().position(|b| b.content == commit.content) {
                Some(index) => {
                    if commit.kind == CommitKind::Pin {
                        blocks[index].kind = CommitKind::Pin;
                    }
                    index
                }
                None => {
                    blocks.push(ModelBlock {
                        content: commit.content.clone(),
                        kind: commit.kind,
                        brought_by: id.clone(),
                        source: id.clone(),
                    });
                    blocks.len() - 1
                }
            };
            block_of.insert(id, index);
        }
        (blocks, block_of)
    }

    /// Merge's conflicts between `ours` and `theirs` since the merge base (the common commit
    /// recorded last), as (our commit, their commit): first the blocks both sides edited, each
    /// side's last edit of it ending with different content (the last edits); then, by
    /// message, the pins both sides added with one message and different content (each side's
    /// last pin of it).
    fn conflicts(&self, ours: &str, theirs: &str) -> Vec<(String, String)> {
        let our_walk = self.walk(Some(ours));
        let their_walk = self.walk(Some(theirs));
        let base = self
            .ids
            .iter()
            .rev()
            .find(|id| our_walk.contains(id) && their_walk.contains(id));
        let behind = self.walk(base.map(String::as_str));
        let last_edits = |walk: &[String]| -> BTreeMap<String, String> {
            walk.iter()
                .filter(|id| !behind.contains(id) && self.commits[*id].kind == CommitKind::Edit)
                .map(|id| (self.block_root(id), id.clone()))
                .collect()
        };
        // Identical blocks are kept once: two roots of one content are one block.
        let content = |root: &str| self.commits[root].content.clone();
        let theirs: std::collections::HashMap<String, String> = last_edits(&their_walk)
            .into_iter()
            .map(|(root, edit)| (content(&root), edit))
            .collect();
        let differ = |ours: &String, theirs: &String| {
            self.commits[ours].content != self.commits[theirs].content
        };
        let mut conflicts: Vec<(String, String)> = last_edits(&our_walk)
            .into_iter()
            .filter_map(|(root, our_edit)| {
                let their_edit = theirs.get(&content(&root))?;
                differ(&our_edit, their_edit).then(|| (our_edit, their_edit.clone()))
            })
            .collect();
        let pins = |walk: &[String]| -> BTreeMap<String, String> {
            walk.iter()
                .filter(|id| !behind.contains(id) && self.commits[*id].kind == CommitKind::Pin)
                .map(|id| (self.commits[id].message.clone(), id.clone()))
                .collect()
        };
        let their_pins = pins(&their_walk);
        for (message, our_pin) in pins(&our_walk) {
            if let Some(their_pin) = their_pins.get(&message) {
                if differ(&our_pin, their_pin) {
                    conflicts.push((our_pin, their_pin.clone()));
                }
            }
        }
        conflicts
    }

    /// The commit that brought in the block `id` edits (itself unless it is an edit).
    fn block_root(&self, id: &str) -> String {
        let mut id = id.to_owned();
        while let Some(target) = self.commits[&id].target.clone() {
            id = target;
        }
        id
    }

    /// The first-parent line ending at `tip`, oldest first.
    fn first_parent_line(&self, tip: &str) -> Vec<String> {
        let mut line = vec![tip.to_owned()];
        while let Some(parent) = self.commits[line.last().unwrap()].parents.first() {
            line.push(parent.clone());
        }
        line.reverse();
        line
    }

    /// The copy of `original` a replay writes after `parent`: its other parents, target and
    /// `resolves` link sent through `map` (the commits replayed so far, to their copies).
    fn replay_of(
        &self,
        original: &str,
        parent: Option<String>,
        map: &BTreeMap<String, String>,
    ) -> ModelCommit {
        let old = &self.commits[original];
        let mapped = |id: &String| map.get(id).cloned().unwrap_or_else(|| id.clone());
        let mut parents: Vec<String> = parent.into_iter().collect();
        parents.extend(old.parents.iter().skip(1).map(mapped));
        ModelCommit {
            parents,
            kind: old.kind,
            message: old.message.clone(),
            content: old.content.clone(),
            target: old.target.as_ref().map(mapped),
            resolves: old.resolves.as_ref().map(mapped),
            collapsed: old.collapsed.clone(),
        }
    }

    fn move_refs(&mut self, op: &str, after: Refs) {
        let before = std::mem::replace(&mut self.refs, after);
        self.moves.push((op.to_owned(), before));
    }

    fn undo_target(&self) -> Option<Refs> {
        let mut skip = 0;
        for (op, before) in self.moves.iter().rev() {
            if op == "undo" {
                skip += 1;
            } else if skip > 0 {
                skip -= 1;
            } else {
                return Some(before.clone());
            }
        }
        None
    }
}

/// A commit of kind, content and (for an edit) target chosen by index, on the model's HEAD.
fn step_commit(
    agent: &Agent,
    model: &mut Model,
    (kind, content, target): (u8, u8, usize),
    head: Option<String>,
) -> Result<(), TestCaseError> {
    let kind = [CommitKind::Append, CommitKind::Pin, CommitKind::Edit][kind as usize];
    let content = CONTENTS[content as usize];
    let target = (kind == CommitKind::Edit)
        .then(|| model.pick(target))
        .flatten();
    // An edit's target is in the context at HEAD and brings a block (a merge brings none).
    let valid = kind != CommitKind::Edit
        || target.as_ref().is_some_and(|t| {
            model.commits[t].parents.len() < 2
                && head
                    .as_deref()
                    .is_some_and(|head| model.is_ancestor(t, head))
        });
    let result = agent.commit(request(kind, content, target.as_deref()));
    prop_assert_eq!(
        result.is_ok(),
        valid,
        "{:?}",
        result.as_ref().err().map(ToString::to_string)
    );
    if let Ok(commit) = result {
        prop_assert_eq!(commit.parents.first(), head.as_ref());
        model.ids.push(commit.id.clone());
        model
            .commits
            .insert(commit.id.clone(), ModelCommit::of(&commit, content.into()));
        let mut after = model.refs.clone();
        after.move_head_to(&commit.id);
        model.move_refs("commit", after);
    }
    Ok(())
}

/// Applies `op` to the library and the model; both must agree on whether it is valid.
fn step(agent: &Agent, model: &mut Model, op: &Op) -> Result<(), TestCaseError> {
    let head = model.refs.head_commit().map(str::to_owned);
    match op {
        Op::Commit {
            kind,
            content,
            target,
        } => step_commit(agent, model, (*kind, *content, *target), head)?,
        Op::Branch { name, at } => {
            let name = NAMES[*name as usize];
            let at = at.and_then(|at| model.pick(at));
            let point = at.clone().or(head);
            let valid = !model.refs.branches.contains_key(name) && point.is_some();
            let result = agent.branch(name, at.as_deref());
            prop_assert_eq!(result.is_ok(), valid, "{:?}", op);
            if let (Ok(_), Some(point)) = (result, point) {
                let mut after = model.refs.clone();
                after.branches.insert(name.into(), point);
                model.move_refs("branch", after);
            }
        }
        Op::Switch { name } => {
            let name = NAMES[*name as usize];
            let valid = model.refs.branches.contains_key(name);
            prop_assert_eq!(agent.switch(name).is_ok(), valid, "{:?}", op);
            if valid {
                let mut after = model.refs.clone();
                after.head = Head::Branch(name.into());
                model.move_refs("switch", after);
            }
        }
        Op::Checkout { commit } | Op::Reset { commit, .. } => {
            let Some(id) = model.pick(*commit) else {
                return Ok(());
            };
            let mut after = model.refs.clone();
            let name = if let Op::Reset { hard, .. } = op {
                let mode = if *hard {
                    ResetMode::Hard
                } else {
                    ResetMode::Soft
                };
                agent
                    .reset(mode, &id)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                after.move_head_to(&id);
                "reset"
            } else {
                agent
                    .checkout(&id)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                after.head = Head::Detached(id);
                "checkout"
            };
            model.move_refs(name, after);
        }
        Op::Merge { name } => step_merge(agent, model, branch_name(model, *name), head)?,
        Op::Rebase { name } => step_rebase(agent, model, branch_name(model, *name), head)?,
        Op::DeleteBranch { name, force } => {
            step_delete(agent, model, NAMES[*name as usize], *force)?
        }
        Op::CheckoutRevision { back, second } => {
            step_checkout_revision(agent, model, *back, *second, head)?
        }
        Op::Reorder(reorder) => step_reorder(agent, model, reorder, head)?,
        Op::Compress { from, to } => step_compress(agent, model, (*from, *to), head)?,
        Op::Spawn { child } => step_spawn(agent, model, CHILDREN[*child as usize], head)?,
        Op::Collapse { child } => step_collapse(agent, model, CHILDREN[*child as usize], head)?,
        Op::Undo => {
            let expected = model.undo_target();
            let result = agent.undo();
            prop_assert_eq!(result.is_ok(), expected.is_some());
            if let Some(expected) = expected {
                prop_assert_eq!(result.unwrap(), expected.clone());
                model.move_refs("undo", expected);
            }
        }
    }
    Ok(())
}

/// Deletes branch `name`: the model refuses HEAD's branch, one that does not exist, and,
/// without `force`, one no other ref reaches.
fn step_delete(
    agent: &Agent,
    model: &mut Model,
    name: &str,
    force: bool,
) -> Result<(), TestCaseError> {
    let mut after = model.refs.clone();
    let at = after.branches.remove(name);
    let valid = at.as_ref().is_some_and(|at| {
        model.refs.branch() != Some(name)
            && (force || after.pointed_at().any(|tip| model.is_ancestor(at, tip)))
    });
    let result = agent.delete_branch(name, force);
    prop_assert_eq!(
        result.is_ok(),
        valid,
        "{:?}",
        result.as_ref().err().map(ToString::to_string)
    );
    if let Ok(deleted) = result {
        prop_assert_eq!(&deleted.refs, &after);
        model.move_refs("delete_branch", after);
    }
    Ok(())
}

/// Checks out `HEAD~back` (then `^2`): the model walks first parents, then the second.
fn step_checkout_revision(
    agent: &Agent,
    model: &mut Model,
    back: u8,
    second: bool,
    head: Option<String>,
) -> Result<(), TestCaseError> {
    let mut expected = head;
    for _ in 0..back {
        expected = expected.and_then(|id| model.commits[&id].parents.first().cloned());
    }
    if second {
        expected = expected.and_then(|id| model.commits[&id].parents.get(1).cloned());
    }
    let revision = format!("HEAD~{back}{}", if second { "^2" } else { "" });
    let result = agent.checkout(&revision);
    prop_assert_eq!(result.is_ok(), expected.is_some(), "{}", revision);
    if let Some(id) = expected {
        let mut after = model.refs.clone();
        after.head = Head::Detached(id);
        prop_assert_eq!(result.unwrap().refs, after.clone());
        model.move_refs("checkout", after);
    }
    Ok(())
}

/// Merges branch `name` with a resolver that always answers: the model predicts up to date,
/// fast-forward or a merge commit `[HEAD, theirs]`, and learns the commits written.
fn step_merge(
    agent: &Agent,
    model: &mut Model,
    name: &str,
    head: Option<String>,
) -> Result<(), TestCaseError> {
    let theirs = model.refs.branches.get(name).cloned();
    let result = agent.merge(name, None, Some(&mut resolved), Unrelated::Allow);
    let Some(theirs) = theirs else {
        prop_assert!(result.is_err());
        return Ok(());
    };
    let predicted = head.as_ref().map(|head| model.conflicts(head, &theirs));
    if let (Err(Error::Context(ContextError::LosesBlock { block, .. })), Some(head)) =
        (&result, &head)
    {
        // Refused: the merge commit alone (resolutions aside, their contents kept) must lose
        // that block in the model too.
        let mut merged = model.clone();
        let pending = "a merge not recorded".to_owned();
        merged.commits.insert(
            pending.clone(),
            ModelCommit::new(vec![head.clone(), theirs.clone()], CommitKind::Append, ""),
        );
        let resolved = conflict_contents(&merged, predicted.as_deref().unwrap_or_default());
        let lost = merged.lost_block([head, &theirs], &pending, &resolved);
        prop_assert_eq!(lost.as_ref(), Some(block));
        return Ok(());
    }
    let outcome = result.map_err(|e| TestCaseError::fail(e.to_string()))?;
    let mut after = model.refs.clone();
    match (&outcome, head) {
        (MergeOutcome::UpToDate, Some(head)) => {
            prop_assert!(model.is_ancestor(&theirs, &head));
            return Ok(());
        }
        (MergeOutcome::FastForward { refs }, head) => {
            prop_assert!(head.is_none_or(|head| model.is_ancestor(&head, &theirs)));
            after.move_head_to(&theirs);
            prop_assert_eq!(refs, &after);
        }
        (
            MergeOutcome::Merged {
                merge,
                resolutions,
                conflicts,
                ..
            },
            Some(head),
        ) => {
            prop_assert!(!model.is_ancestor(&theirs, &head) && !model.is_ancestor(&head, &theirs));
            prop_assert_eq!(&merge.parents, &vec![head.clone(), theirs.clone()]);
            prop_assert_eq!(Some(sides(conflicts)), predicted);
            learn(model, merge, String::new());
            for (resolution, conflict) in resolutions.iter().zip(conflicts) {
                learn(model, resolution, resolved_content(conflict));
            }
            let last = resolutions.last().unwrap_or(merge);
            let resolved = conflict_contents(model, &sides(conflicts));
            let lost = model.lost_block([&head, &theirs], &last.id, &resolved);
            prop_assert_eq!(lost, None);
            after.move_head_to(&last.id);
        }
        (outcome, head) => prop_assert!(false, "{:?} at {:?}", outcome, head),
    }
    model.move_refs("merge", after);
    Ok(())
}

/// Rebases HEAD onto branch `name` with a resolver that always answers: the model predicts
/// nothing to do, a move, or a replay of every commit HEAD has and ONTO lacks, merges included,
/// each on the new copy of its first parent (ONTO when that was not replayed) with
/// `rebased_from` links, then one resolution edit per conflict it predicts; and that no block
/// HEAD's side wrote is lost.
fn step_rebase(
    agent: &Agent,
    model: &mut Model,
    name: &str,
    head: Option<String>,
) -> Result<(), TestCaseError> {
    let onto = model.refs.branches.get(name).cloned();
    let last_lsn = agent.recorder().journal().last_lsn();
    let result = agent.rebase(name, Some(&mut resolved));
    let (Some(onto), Some(head)) = (onto, head) else {
        prop_assert!(result.is_err());
        return Ok(());
    };
    if let Err(Error::Context(ContextError::LosesBlock { block, .. })) = &result {
        // Refused, recording nothing, naming a block of one side. (The model does not replay
        // the copies a refused rebase would have made; a rebase that goes through is checked
        // by the same rule below.)
        prop_assert_eq!(agent.recorder().journal().last_lsn(), last_lsn);
        let named = [&head, &onto].map(|side| model.blocks(Some(side)).0);
        prop_assert!(named.iter().flatten().any(|b| &b.brought_by == block));
        return Ok(());
    }
    let rewrite = result.map_err(|e| TestCaseError::fail(e.to_string()))?;
    if model.is_ancestor(&onto, &head) {
        prop_assert!(rewrite.commits.is_empty());
        return Ok(());
    }
    let behind: Vec<String> = model.walk(Some(&onto));
    let replayed: Vec<String> = model
        .walk(Some(&head))
        .into_iter()
        .filter(|id| !behind.contains(id))
        .collect();
    let mut after = model.refs.clone();
    if model.is_ancestor(&head, &onto) {
        prop_assert!(rewrite.commits.is_empty());
        after.move_head_to(&onto);
        prop_assert_eq!(&rewrite.refs, &after);
        model.move_refs("rebase", after);
        return Ok(());
    }
    let conflicts = model.conflicts(&head, &onto);
    prop_assert_eq!(sides(&rewrite.conflicts), conflicts.clone());
    prop_assert_eq!(rewrite.commits.len(), replayed.len() + conflicts.len());
    let (before, _) = model.blocks(Some(&head));
    let (copies, resolutions) = rewrite.commits.split_at(replayed.len());
    let copies = learn_copies(model, copies, &replayed, &onto)?;
    let new_copy = |id: &str| copies.get(id).cloned().unwrap_or_else(|| id.to_owned());
    for (resolution, conflict) in resolutions.iter().zip(&rewrite.conflicts) {
        prop_assert_eq!(
            resolution.target.clone(),
            Some(new_copy(&conflict.ours.commit))
        );
        prop_assert_eq!(&resolution.links["resolves"], &conflict.theirs.commit);
        learn(model, resolution, resolved_content(conflict));
    }
    let tip = resolutions.last().map(|c| c.id.clone());
    after.move_head_to(&tip.unwrap_or_else(|| new_copy(&head)));
    prop_assert_eq!(&rewrite.refs, &after);
    // No block of either side is lost: each one's content is in the new context, or a
    // resolution replaced it, or ONTO's side changed that block (HEAD's side's changes of
    // ONTO's blocks the same). Blocks are compared by content, not by the copy of the commit
    // that showed it: identical blocks are kept once, so a copy may land in another block of
    // the same content.
    let _ = before;
    let tip = after
        .head_commit()
        .expect("a rebase leaves HEAD on a commit");
    let resolved = conflict_contents(model, &sides(&rewrite.conflicts));
    let lost = model.lost_block([&head, &onto], tip, &resolved);
    prop_assert_eq!(lost, None, "{:?}", model.blocks(Some(tip)).0);
    model.move_refs("rebase", after);
    Ok(())
}

/// Reorders a range of HEAD's first-parent line (see [`Reorder`]). The model refuses an order
/// that does not name each of the range's commits once, merges aside (`BadOrder`), and an
/// edit put before its target without `force` (`EditBeforeTarget`, the first one). Otherwise it
/// replays the order, then HEAD's later first-parent commits, as one line (the range's merge
/// commits flattened; nothing at all for a line left in its order) in a copy of itself, and compares the blocks before and after by kind
/// and content, as many of each, leaving out those a forced edit put before its target leaves
/// unedited: the same, the reorder must write that line; else it must be refused
/// (`ReorderChangesBlock` or `ReorderAddsBlock`). A refusal records nothing.
fn step_reorder(
    agent: &Agent,
    model: &mut Model,
    reorder: &Reorder,
    head: Option<String>,
) -> Result<(), TestCaseError> {
    let journal_end = agent.recorder().journal().last_lsn();
    let Some(head) = head else {
        let range = format!(
            "..{}",
            model.pick(reorder.to).unwrap_or_else(|| "HEAD".into())
        );
        prop_assert!(agent.reorder(&range, &[], false).is_err());
        prop_assert_eq!(agent.recorder().journal().last_lsn(), journal_end);
        return Ok(());
    };
    let (from, to, later) = pick_range(model, &head, (reorder.from, reorder.to));
    let to = &to;
    let behind = model.walk(from.as_deref());
    let (merges, mut ordered): (Vec<String>, Vec<String>) = model
        .walk(Some(to))
        .into_iter()
        .filter(|id| !behind.contains(id))
        .partition(|id| model.commits[id].parents.len() > 1);
    let as_it_is = ordered.clone();
    let count = ordered.len();
    for &(one, other) in reorder.swaps.iter().filter(|_| count > 0) {
        ordered.swap(one % count, other % count);
    }
    let order = spoiled(model, &ordered, &merges, &reorder.flaw);
    let range = format!("{}..{to}", from.as_deref().unwrap_or(""));
    let result = agent.reorder(&range, &order, reorder.force);
    let refused = |expected: &dyn Fn(&ContextError) -> bool| -> Result<(), TestCaseError> {
        match &result {
            Err(Error::Context(error)) => prop_assert!(expected(error), "{}: {}", range, error),
            other => prop_assert!(
                false,
                "{} {:?}: expected a refusal, got {:?}",
                range,
                order,
                other
            ),
        }
        prop_assert_eq!(agent.recorder().journal().last_lsn(), journal_end);
        Ok(())
    };
    if order != ordered {
        return refused(&|error| matches!(error, ContextError::BadOrder { .. }));
    }
    let warnings = edits_before_targets(model, &ordered);
    if let (Some((edit, target)), false) = (warnings.first(), reorder.force) {
        let expected = ContextError::EditBeforeTarget {
            edit: edit.clone(),
            target: target.clone(),
        };
        return refused(&|error| *error == expected);
    }
    if merges.is_empty() && ordered == as_it_is {
        // The line as it is: nothing moves, so nothing is written (git's unchanged todo).
        let rewrite = result.map_err(|e| TestCaseError::fail(format!("{range}: {e}")))?;
        prop_assert!(rewrite.commits.is_empty(), "{:?}", rewrite.commits);
        prop_assert_eq!(&rewrite.refs, &model.refs);
        prop_assert_eq!(agent.recorder().journal().last_lsn(), journal_end);
        return Ok(());
    }
    let replayed: Vec<&String> = ordered.iter().chain(&later).collect();
    if !keeps_the_blocks(model, &head, from.clone(), &replayed, &warnings) {
        return refused(&|error| {
            matches!(
                error,
                ContextError::ReorderChangesBlock { .. } | ContextError::ReorderAddsBlock { .. }
            )
        });
    }
    let rewrite = result.map_err(|e| TestCaseError::fail(format!("{range} {order:?}: {e}")))?;
    prop_assert_eq!(&rewrite.flattened, &merges);
    let reported: Vec<(String, String)> = rewrite
        .warnings
        .iter()
        .map(|warning| (warning.edit.clone(), warning.target.clone()))
        .collect();
    prop_assert_eq!(reported, warnings);
    prop_assert_eq!(rewrite.commits.len(), replayed.len());
    let mut map = BTreeMap::new();
    let mut tip = from;
    for (copy, original) in rewrite.commits.iter().zip(replayed) {
        prop_assert_eq!(&copy.links["rebased_from"], original);
        let expected = model.replay_of(original, tip.take(), &map);
        prop_assert_eq!(&copy.parents, &expected.parents);
        prop_assert_eq!(&copy.target, &expected.target);
        prop_assert_eq!(copy.links.get("resolves"), expected.resolves.as_ref());
        prop_assert_eq!(copy.kind, expected.kind);
        learn(model, copy, expected.content);
        map.insert(original.clone(), copy.id.clone());
        tip = Some(copy.id.clone());
    }
    let mut after = model.refs.clone();
    after.move_head_to(&tip.expect("a range holds its first commit or FROM"));
    prop_assert_eq!(&rewrite.refs, &after);
    model.move_refs("reorder", after);
    Ok(())
}

/// The range `FROM..TO` of HEAD's first-parent line a reorder or compression picks by index
/// (see [`Reorder`]), with the line's commits after TO.
fn pick_range(
    model: &Model,
    head: &str,
    (from, to): (Option<usize>, usize),
) -> (Option<String>, String, Vec<String>) {
    let line = model.first_parent_line(head);
    let to_at = line.len() - 1 - to % line.len();
    let from = from
        .filter(|_| to_at > 0)
        .map(|from| line[from % to_at].clone());
    (from, line[to_at].clone(), line[to_at + 1..].to_vec())
}

/// Compresses a range with `respect_pins`. The model refuses, as cutting an edit apart from
/// its target (`CompressCutsEdit`), a range holding an edit of a commit outside it, and a later
/// commit editing a block of the range that is not a pin kept. Otherwise it writes, in a copy
/// of itself, the summary on FROM, the range's pinned blocks at TO (content as edited by then)
/// as pins, and the later commits replayed, an edit of a kept pin's block following the kept
/// pin; a pinned block of HEAD's context that is no pinned block of the new one, content for
/// content, refuses it (`PinLost`). Else the library must have written those commits, moving
/// HEAD onto the last. A refusal records nothing.
fn step_compress(
    agent: &Agent,
    model: &mut Model,
    range: (Option<usize>, usize),
    head: Option<String>,
) -> Result<(), TestCaseError> {
    let journal_end = agent.recorder().journal().last_lsn();
    let mut summarize = |_: &agentrail::context::CompressInput| -> agentrail::Result<Generated> {
        Ok(Generated {
            content: SUMMARY.into(),
            usage: None,
        })
    };
    let Some(head) = head else {
        prop_assert!(agent
            .compress("..HEAD", true, None, &mut summarize)
            .is_err());
        prop_assert_eq!(agent.recorder().journal().last_lsn(), journal_end);
        return Ok(());
    };
    let (from, to, later) = pick_range(model, &head, range);
    let behind = model.walk(from.as_deref());
    let in_range: Vec<String> = model
        .walk(Some(&to))
        .into_iter()
        .filter(|id| !behind.contains(id))
        .collect();
    let pins: Vec<ModelBlock> = model
        .blocks(Some(&to))
        .0
        .into_iter()
        .filter(|block| in_range.contains(&block.brought_by) && block.kind == CommitKind::Pin)
        .collect();
    let kept = |root: &String| pins.iter().any(|pin| &pin.brought_by == root);
    let target = |id: &String| model.commits[id].target.clone();
    let cuts_an_edit = in_range
        .iter()
        .filter_map(target)
        .any(|target| !in_range.contains(&target))
        || later
            .iter()
            .filter_map(target)
            .any(|target| in_range.contains(&target) && !kept(&model.block_root(&target)));
    let text = format!("{}..{to}", from.as_deref().unwrap_or(""));
    let result = agent.compress(&text, true, None, &mut summarize);
    let refused = |expected: &dyn Fn(&ContextError) -> bool| -> Result<(), TestCaseError> {
        match &result {
            Err(Error::Context(error)) => prop_assert!(expected(error), "{}: {}", text, error),
            other => prop_assert!(false, "{}: expected a refusal, got {:?}", text, other),
        }
        prop_assert_eq!(agent.recorder().journal().last_lsn(), journal_end);
        Ok(())
    };
    if cuts_an_edit {
        return refused(&|error| matches!(error, ContextError::CompressCutsEdit { .. }));
    }
    let predicted = predicted_compression(model, &in_range, &pins, (from.clone(), &later));
    let pinned = |model: &Model, tip: &str| -> Vec<String> {
        let blocks = model.blocks(Some(tip)).0.into_iter();
        blocks
            .filter(|block| block.kind == CommitKind::Pin)
            .map(|block| block.content)
            .collect()
    };
    let now = pinned(model, &head);
    let then = pinned(&predicted.0, &predicted.1);
    if now.iter().any(|pin| !then.contains(pin)) {
        return refused(&|error| matches!(error, ContextError::PinLost { .. }));
    }
    let rewrite = result.map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
    prop_assert_eq!(rewrite.commits.len(), 1 + pins.len() + later.len());
    let (summary, rest) = rewrite.commits.split_first().expect("a summary");
    let (kept_pins, replays) = rest.split_at(pins.len());
    prop_assert_eq!(&summary.parents, &from.iter().cloned().collect::<Vec<_>>());
    prop_assert_eq!(summary.kind, CommitKind::Append);
    prop_assert_eq!(&summary.links["compressed_to"], &to);
    learn(model, summary, SUMMARY.into());
    let mut tip = summary.id.clone();
    let mut map = BTreeMap::new();
    for (copy, pin) in kept_pins.iter().zip(&pins) {
        prop_assert_eq!(&copy.parents, &vec![tip.clone()]);
        prop_assert_eq!(copy.kind, CommitKind::Pin);
        prop_assert_eq!(&copy.links["pinned_from"], &pin.brought_by);
        prop_assert_eq!(&copy.message, &model.commits[&pin.brought_by].message);
        for id in in_range
            .iter()
            .filter(|id| model.block_root(id) == pin.brought_by)
        {
            map.insert(id.clone(), copy.id.clone());
        }
        learn(model, copy, pin.content.clone());
        tip = copy.id.clone();
    }
    for (copy, original) in replays.iter().zip(&later) {
        prop_assert_eq!(&copy.links["rebased_from"], original);
        let expected = model.replay_of(original, Some(tip), &map);
        prop_assert_eq!(&copy.parents, &expected.parents);
        prop_assert_eq!(&copy.target, &expected.target);
        prop_assert_eq!(copy.links.get("resolves"), expected.resolves.as_ref());
        prop_assert_eq!(copy.kind, expected.kind);
        learn(model, copy, expected.content);
        map.insert(original.clone(), copy.id.clone());
        tip = copy.id.clone();
    }
    let mut after = model.refs.clone();
    after.move_head_to(&tip);
    prop_assert_eq!(&rewrite.refs, &after);
    model.move_refs("compress", after);
    Ok(())
}

/// A copy of `model` holding the commits a compression of `in_range` would write (the summary
/// on FROM, the kept `pins`, the `later` commits replayed), and the last of them.
fn predicted_compression(
    model: &Model,
    in_range: &[String],
    pins: &[ModelBlock],
    (from, later): (Option<String>, &[String]),
) -> (Model, String) {
    let mut predicted = model.clone();
    let mut tip = "summary".to_owned();
    let summary = ModelCommit::new(from.into_iter().collect(), CommitKind::Append, SUMMARY);
    predicted.commits.insert(tip.clone(), summary);
    let mut map = BTreeMap::new();
    for (index, pin) in pins.iter().enumerate() {
        let id = format!("kept pin {index}");
        let mut copy = ModelCommit::new(vec![tip], CommitKind::Pin, &pin.content);
        copy.message = model.commits[&pin.brought_by].message.clone();
        predicted.commits.insert(id.clone(), copy);
        for original in in_range
            .iter()
            .filter(|id| model.block_root(id) == pin.brought_by)
        {
            map.insert(original.clone(), id.clone());
        }
        tip = id;
    }
    for (index, original) in later.iter().enumerate() {
        let id = format!("replay {index}");
        let copy = predicted.replay_of(original, Some(tip), &map);
        predicted.commits.insert(id.clone(), copy);
        map.insert(original.clone(), id.clone());
        tip = id;
    }
    (predicted, tip)
}

/// Spawns `child` from HEAD: refused when `main` spawned it already (it has refs); else a
/// root holding the task, linking back to `main` and HEAD, and a spawn commit on HEAD linking
/// to the child and its root, both agents moved.
fn step_spawn(
    agent: &Agent,
    model: &mut Model,
    child: &str,
    head: Option<String>,
) -> Result<(), TestCaseError> {
    let task = format!("the task of {child}");
    let result = agent.spawn(child, Some(&task));
    prop_assert_eq!(result.is_ok(), !model.children.contains_key(child));
    let Ok(spawned) = result else {
        return Ok(());
    };
    let root = &spawned.root;
    prop_assert!(root.parents.is_empty());
    prop_assert_eq!(
        root.links.get("parent_agent").map(String::as_str),
        Some("main")
    );
    prop_assert_eq!(root.links.get("spawned_from"), head.as_ref());
    let spawn = &spawned.spawn;
    prop_assert_eq!(&spawn.parents, &head.into_iter().collect::<Vec<_>>());
    prop_assert_eq!(spawn.links.get("child").map(String::as_str), Some(child));
    prop_assert_eq!(spawn.links.get("child_root"), Some(&root.id));
    // The root is the child's: no operation of `main` may pick it.
    let content = task.clone();
    model.commits.insert(
        root.id.clone(),
        ModelCommit::new(vec![], CommitKind::Append, &content),
    );
    model.children.insert(child.to_owned(), root.id.clone());
    learn(
        model,
        spawn,
        format!("Spawned sub-agent {child} with the task:\n{task}"),
    );
    let mut after = model.refs.clone();
    after.move_head_to(&spawn.id);
    model.move_refs("spawn", after);
    Ok(())
}

/// Collapses `child`: refused when `main` never spawned it, or when a collapse of its HEAD is
/// in `main`'s context already; else one commit on HEAD holding the summary and the child's
/// output (its HEAD's content), linking to the child and its HEAD.
fn step_collapse(
    agent: &Agent,
    model: &mut Model,
    child: &str,
    head: Option<String>,
) -> Result<(), TestCaseError> {
    let summary = format!("{child} is done");
    let result = agent.collapse(child, None, |_| Ok(summary.clone()));
    let Some(child_head) = model.children.get(child).cloned() else {
        prop_assert!(result.is_err());
        return Ok(());
    };
    let collapsed = (child.to_owned(), child_head.clone());
    let again = model
        .walk(head.as_deref())
        .iter()
        .any(|id| model.commits[id].collapsed.as_ref() == Some(&collapsed));
    prop_assert_eq!(
        result.is_ok(),
        !again,
        "{:?}",
        result.as_ref().err().map(ToString::to_string)
    );
    let Ok(done) = result else {
        return Ok(());
    };
    let commit = &done.commit;
    prop_assert_eq!(&commit.parents, &head.into_iter().collect::<Vec<_>>());
    prop_assert_eq!(commit.kind, CommitKind::Append);
    prop_assert_eq!(&done.child_head, &child_head);
    let output = model.commits[&child_head].content.clone();
    let content =
        format!("Sub-agent {child} finished.\n\nSummary:\n{summary}\n\nOutput:\n{output}");
    learn(model, commit, content);
    prop_assert_eq!(&model.commits[&commit.id].collapsed, &Some(collapsed));
    let mut after = model.refs.clone();
    after.move_head_to(&commit.id);
    model.move_refs("collapse", after);
    Ok(())
}

/// `ordered` spoiled by `flaw` (unchanged when the flaw cannot apply: no merge to name, no
/// commit to leave out or name twice).
fn spoiled(model: &Model, ordered: &[String], merges: &[String], flaw: &Flaw) -> Vec<String> {
    let mut order = ordered.to_vec();
    let slot = |index: usize, count: usize| index % (count + 1);
    match *flaw {
        Flaw::None => {}
        Flaw::NamesMerge(index) if !merges.is_empty() => {
            let merge = merges[index % merges.len()].clone();
            order.insert(slot(index, ordered.len()), merge);
        }
        Flaw::LeavesOut(index) if !order.is_empty() => {
            order.remove(index % ordered.len());
        }
        Flaw::NamesTwice(index) if !order.is_empty() => {
            let again = ordered[index % ordered.len()].clone();
            order.insert(slot(index / 7, ordered.len()), again);
        }
        Flaw::NamesAnother(index) => {
            let another = model.pick(index).expect("HEAD is a commit");
            order.insert(slot(index / 7, ordered.len()), another);
        }
        _ => {}
    }
    order
}

/// The edits `ordered` puts before their targets, as (edit, target).
fn edits_before_targets(model: &Model, ordered: &[String]) -> Vec<(String, String)> {
    let position = |id: &String| ordered.iter().position(|other| other == id);
    let mut warnings = Vec::new();
    for (at, id) in ordered.iter().enumerate() {
        let target = model.commits[id].target.as_ref();
        if let Some(target) = target.filter(|target| position(target) > Some(at)) {
            warnings.push((id.clone(), target.clone()));
        }
    }
    warnings
}

/// Whether replaying `replayed` as one line after `from` gives a context of the blocks HEAD's
/// holds, by kind and content, as many of each, leaving out on both sides the blocks of the
/// commits `warnings`' edits target (a forced edit before its target leaves its block as it
/// was), found through the commit that brought each in.
fn keeps_the_blocks(
    model: &Model,
    head: &str,
    from: Option<String>,
    replayed: &[&String],
    warnings: &[(String, String)],
) -> bool {
    let mut predicted = model.clone();
    let mut map = BTreeMap::new();
    let mut original_of = BTreeMap::new();
    let mut tip = from;
    for (index, original) in replayed.iter().enumerate() {
        let copy = predicted.replay_of(original, tip.take(), &map);
        let id = format!("replay {index}");
        predicted.ids.push(id.clone());
        predicted.commits.insert(id.clone(), copy);
        map.insert((*original).clone(), id.clone());
        original_of.insert(id.clone(), (*original).clone());
        tip = Some(id);
    }
    let excused: Vec<String> = warnings
        .iter()
        .map(|(_, target)| model.block_root(target))
        .collect();
    let counted = |model: &Model, tip: Option<&str>| -> BTreeMap<(String, &str), usize> {
        let mut counts = BTreeMap::new();
        for block in model.blocks(tip).0 {
            let brought_by = original_of
                .get(&block.brought_by)
                .unwrap_or(&block.brought_by);
            if !excused.contains(brought_by) {
                *counts
                    .entry((block.content, block.kind.as_str()))
                    .or_default() += 1;
            }
        }
        counts
    };
    counted(model, Some(head)) == counted(&predicted, tip.as_deref())
}

/// Checks the copies a rebase wrote of `replayed` (each with its original's kind and content,
/// its first parent the copy of the original's, else `onto`; its other parents and target
/// the copies of the original's when they were replayed), learns them, and returns the copy
/// of each original.
fn learn_copies(
    model: &mut Model,
    copies: &[Commit],
    replayed: &[String],
    onto: &str,
) -> Result<BTreeMap<String, String>, TestCaseError> {
    let mut map: BTreeMap<String, String> = BTreeMap::new();
    for (copy, original) in copies.iter().zip(replayed) {
        prop_assert_eq!(&copy.links["rebased_from"], original);
        let old = model.commits[original].clone();
        let mapped = |id: &String| map.get(id).cloned().unwrap_or_else(|| id.clone());
        let first = old.parents.first().and_then(|parent| map.get(parent));
        let mut parents = vec![first.map_or(onto.to_owned(), String::clone)];
        parents.extend(old.parents.iter().skip(1).map(mapped));
        prop_assert_eq!(&copy.parents, &parents);
        prop_assert_eq!(copy.target.clone(), old.target.as_ref().map(mapped));
        prop_assert_eq!(copy.kind, old.kind);
        map.insert(original.clone(), copy.id.clone());
        learn(model, copy, old.content.clone());
    }
    Ok(map)
}

/// The resolver of the model's merges and rebases: both sides' contents.
fn resolved(conflict: &Conflict) -> agentrail::Result<Generated> {
    Ok(Generated {
        content: resolved_content(conflict),
        usage: None,
    })
}

fn resolved_content(conflict: &Conflict) -> String {
    format!("{} & {}", conflict.ours.content, conflict.theirs.content)
}

/// A conflict list as (our commit, their commit) pairs, as the model predicts them.
fn sides(conflicts: &[Conflict]) -> Vec<(String, String)> {
    conflicts
        .iter()
        .map(|c| (c.ours.commit.clone(), c.theirs.commit.clone()))
        .collect()
}

/// The contents both sides of `conflicts` (our commit, their commit) gave their blocks.
fn conflict_contents(model: &Model, conflicts: &[(String, String)]) -> Vec<String> {
    conflicts
        .iter()
        .flat_map(|(ours, theirs)| [ours, theirs])
        .map(|id| model.commits[id].content.clone())
        .collect()
}

/// Adds a commit an operation wrote to the model.
fn learn(model: &mut Model, commit: &Commit, content: String) {
    model.ids.push(commit.id.clone());
    let modeled = ModelCommit::of(commit, content);
    model.commits.insert(commit.id.clone(), modeled);
}

/// The graph's invariants, and that it agrees with the model.
fn check(recorder: &Recorder, graph: &Graph, model: &Model) -> Result<(), TestCaseError> {
    prop_assert_eq!(graph.rejected(), 0);
    prop_assert_eq!(graph.commits().len(), model.commits.len());
    let mut seen = std::collections::HashSet::new();
    // Every parent and target was inserted before its child (so no cycle).
    let mut by_lsn: Vec<_> = graph.commits().collect();
    by_lsn.sort_by_key(|commit| commit.lsn);
    for commit in by_lsn {
        for earlier in commit.parents.iter().chain(&commit.target) {
            prop_assert!(seen.contains(earlier), "{} before {}", earlier, commit.id);
        }
        seen.insert(commit.id.clone());
    }
    let refs = graph.refs("main");
    prop_assert!(refs.pointed_at().all(|id| graph.commit(id).is_some()));
    prop_assert_eq!(&refs, &model.refs);
    for (child, root) in &model.children {
        let mut spawned = Refs::default();
        spawned.move_head_to(root);
        prop_assert_eq!(graph.refs(child), spawned);
    }
    let head = refs.head_commit();
    let context = materialize(recorder.journal(), graph, head).unwrap();
    // `status`'s size, worked out from the graph alone, is the materialized context's.
    let size = agentrail::context::materialize::size_at(graph, head);
    prop_assert_eq!(size.blocks, context.blocks.len());
    prop_assert_eq!(size.tokens, context.tokens);
    let blocks: Vec<(String, CommitKind)> = context
        .blocks
        .into_iter()
        .map(|block| (block.content, block.kind))
        .collect();
    prop_assert_eq!(blocks, model.context(head));
    Ok(())
}

/// Runs `ops` on the library and the model, checking after each replayed from the journal,
/// then from the checkpoint, then after a rebuild.
/// A first block; `spike` one block further; `topic` one commit of kind `topic_kind` (an
/// append, or an edit of the first block) further, then merged with `spike`; HEAD on `topic`
/// at the merge.
fn spike_merged_into_topic(topic_kind: u8) -> Vec<Op> {
    vec![
        Op::Commit {
            kind: 0,
            content: 0,
            target: 0,
        },
        Op::Branch { name: 1, at: None },
        Op::Branch { name: 2, at: None },
        Op::Switch { name: 2 },
        Op::Commit {
            kind: 0,
            content: 3,
            target: 0,
        },
        Op::Switch { name: 1 },
        Op::Commit {
            kind: topic_kind,
            content: 2,
            target: 0,
        },
        Op::Merge { name: 2 },
    ]
}

fn agrees_with_the_model(ops: &[Op]) -> Result<(), TestCaseError> {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let agent = Agent::new(&recorder, "main", None);
    let mut model = Model::default();
    for op in ops {
        step(&agent, &mut model, op)?;
        // Replayed from the journal alone, with no checkpoint...
        let fresh = tempfile::tempdir().unwrap();
        let replayed = Projector::new(fresh.path())
            .load::<Graph>(recorder.journal())
            .unwrap();
        check(&recorder, &replayed.state, &model)?;
    }
    // ... incrementally from the checkpoint the operations kept ...
    let loaded = recorder.load::<Graph>().unwrap();
    // (There is a checkpoint once an operation has loaded the graph: none ran on an empty graph
    // when every operation was skipped.)
    if recorder.journal().last_lsn() > 0 {
        prop_assert_eq!(loaded.checkpoint, CheckpointStatus::Current);
    }
    check(&recorder, &loaded.state, &model)?;
    // ... and after a rebuild.
    recorder.projector().rebuild(recorder.journal()).unwrap();
    let rebuilt = recorder.load::<Graph>().unwrap();
    prop_assert_eq!(&rebuilt.state, &loaded.state);
    check(&recorder, &rebuilt.state, &model)?;
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|value| value.parse().ok()).unwrap_or(MODEL_CASES_DEFAULT)
    ))]

    #[test]
    fn random_operations_agree_with_the_model(ops in proptest::collection::vec(op(), 1..30)) {
        agrees_with_the_model(&ops)?;
    }

    #[test]
    fn compressions_spawns_and_collapses_agree_with_the_model(ops in proptest::collection::vec(compress_and_sub_agent_op(), 1..30)) {
        agrees_with_the_model(&ops)?;
    }

    #[test]
    fn forks_merges_and_rebases_agree_with_the_model(ops in proptest::collection::vec(fork_op(), 1..30)) {
        // A first block, and `topic` and `spike` at it.
        let mut forked = vec![
            Op::Commit { kind: 0, content: 0, target: 0 },
            Op::Branch { name: 1, at: None },
            Op::Branch { name: 2, at: None },
        ];
        forked.extend(ops);
        agrees_with_the_model(&forked)?;
    }

    #[test]
    fn rebases_of_a_branch_holding_a_merge_agree_with_the_model(ops in proptest::collection::vec(fork_op(), 1..30)) {
        // `topic` another block further, then merged with `spike`; HEAD on `main` at the
        // first block.
        let mut merged = spike_merged_into_topic(0);
        merged.push(Op::Switch { name: 0 });
        merged.extend(ops);
        agrees_with_the_model(&merged)?;
    }

    #[test]
    fn reorders_of_ranges_holding_merges_agree_with_the_model(ops in proptest::collection::vec(reorder_heavy_op(), 1..24)) {
        // `topic` an edit of the first block, then merged with `spike`; HEAD on `topic` at
        // the merge.
        let mut merged = spike_merged_into_topic(2);
        merged.extend(ops);
        agrees_with_the_model(&merged)?;
    }
}

#[test]
fn an_operation_writes_its_commits_then_one_ref_update_that_may_move_other_agents() {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let parent = Agent::new(&recorder, "lead", None);
    let base = append(&parent, "base");
    let child = Agent::new(&recorder, "helper", None);
    let new = |content: &str, parents: Vec<String>, links: &[(&str, &str)]| NewCommit {
        kind: CommitKind::Append,
        message: content.to_owned(),
        content: content.to_owned(),
        parents,
        target: None,
        tokens: None,
        links: links
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect(),
    };
    let (root_event, root) = child
        .commit_event(new("task", vec![], &[("spawned_from", &base)]), false)
        .unwrap();
    let (plain_event, plain) = child.commit_event(new("task", vec![], &[]), false).unwrap();
    assert_ne!(root.id, plain.id, "links are covered by the id");
    drop(plain_event);
    let (spawn_event, spawn) = parent
        .commit_event(
            new("spawned", vec![base.clone()], &[("child_root", &root.id)]),
            false,
        )
        .unwrap();
    let (lock, graph) = parent.lock_graph(&["helper"]).unwrap();
    let mut refs = graph.refs("lead");
    refs.move_head_to(&spawn.id);
    let mut child_refs = Refs::default();
    child_refs.move_head_to(&root.id);
    let change = RefChange {
        op: "spawn".into(),
        mode: None,
        refs: refs.clone(),
        also: BTreeMap::from([("helper".to_owned(), child_refs.clone())]),
    };
    let written = parent
        .record_op(
            &lock,
            change,
            vec![(root_event, root), (spawn_event, spawn)],
        )
        .unwrap();
    assert_eq!(
        written.iter().map(|commit| commit.lsn).collect::<Vec<_>>(),
        [2, 3]
    );
    let graph = parent.graph().unwrap();
    assert_eq!(graph.refs("lead"), refs);
    assert_eq!(graph.refs("helper"), child_refs);
    assert_eq!(graph.reflog("helper").last().unwrap().op, "spawn");
    assert_eq!(graph.reflog("helper").last().unwrap().lsn, 4);
    assert_eq!(
        graph.commit(&written[0].id).unwrap().links["spawned_from"],
        base
    );
    assert_eq!(graph.rejected(), 0);
    assert_eq!(contents_at(&child, None), ["task"]);
}

#[test]
fn block_roots_follow_long_edit_chains_and_remember_them() {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let agent = Agent::new(&recorder, "main", None);
    let root = append(&agent, "plan v0");
    let other = append(&agent, "notes");
    let mut chain = vec![root.clone()];
    for version in 1..=300 {
        let previous = chain.last().unwrap().clone();
        let edit = agent
            .commit(request(
                CommitKind::Edit,
                &format!("plan v{version}"),
                Some(&previous),
            ))
            .unwrap();
        chain.push(edit.id);
    }
    let graph = agent.graph().unwrap();
    let mut roots = agentrail::context::merge::BlockRoots::new(&graph);
    // From the newest edit first (the whole chain walked once), then every other one.
    for id in chain.iter().rev() {
        assert_eq!(roots.of(id), Some(root.as_str()));
    }
    assert_eq!(roots.of(&other), Some(other.as_str()));
    assert_eq!(roots.of("0000"), None);
    assert_eq!(contents(&agent), ["plan v300", "notes"]);
}
