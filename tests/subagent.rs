//! Sub-agents and the inspection commands through the library: spawn (its events, the links
//! both ways, its crash-safety: every cut of its batch leaves both agents as before or both as
//! after), collapse with a summarizer closure, expand, undo after spawn and collapse, a parent
//! with many children, blame, audit at an LSN and at a time, and diff of two revisions.

#[path = "common/context_lib.rs"]
mod context_lib;

use agentrail::context::inspect::{graph_at, AuditBound};
use agentrail::context::subagent::{
    SubagentCommitKind, LINK_CHILD, LINK_CHILD_HEAD, LINK_CHILD_ROOT, LINK_PARENT_AGENT,
    LINK_SPAWNED_FROM,
};
use agentrail::context::{Agent, CommitKind, ContextError, Refs, Unrelated};
use agentrail::event::{Event, EventType};
use agentrail::recorder::{object, Recorder};
use context_lib::{append, commit, contents, context_error, recorder};
use serde_json::json;

fn summary_of(context: &agentrail::context::Context) -> Result<String, String> {
    Ok(format!("{} blocks", context.blocks.len()))
}

#[test]
fn spawn_starts_a_child_whose_root_points_back_in_one_ref_update() {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let lead = Agent::new(&recorder, "lead", Some("s-1".into()));
    let base = append(&lead, "You lead.");
    let spawned = lead.spawn("helper", Some("Find the flaky test.")).unwrap();
    let (root, spawn) = (&spawned.root, &spawned.spawn);
    assert_eq!((root.lsn, spawn.lsn), (2, 3));
    assert_eq!(root.agent, "helper");
    assert_eq!(root.session.as_deref(), Some("s-1"));
    assert!(root.parents.is_empty());
    assert_eq!(root.links[LINK_PARENT_AGENT], "lead");
    assert_eq!(root.links[LINK_SPAWNED_FROM], base);
    assert_eq!(spawn.parents, vec![base.clone()]);
    assert_eq!(spawn.links[LINK_CHILD], "helper");
    assert_eq!(spawn.links[LINK_CHILD_ROOT], root.id);

    let graph = lead.graph().unwrap();
    assert_eq!(graph.refs("lead").head_commit(), Some(spawn.id.as_str()));
    let mut child_refs = Refs::default();
    child_refs.move_head_to(&root.id);
    assert_eq!(graph.refs("helper"), child_refs);
    for agent in ["lead", "helper"] {
        let last = graph.reflog(agent).pop().unwrap();
        assert_eq!((last.op.as_str(), last.lsn), ("spawn", 4), "{agent}");
    }
    let helper = Agent::new(&recorder, "helper", None);
    assert_eq!(contents(&helper), ["Find the flaky test."]);
    assert_eq!(
        contents(&lead),
        [
            "You lead.",
            "Spawned sub-agent helper with the task:\nFind the flaky test."
        ]
    );
    assert_eq!(graph.rejected(), 0);
}

#[test]
fn every_cut_of_a_spawn_leaves_both_agents_as_before_or_both_as_after() {
    // A crash keeps a prefix of the batch: the journal up to some LSN. Replaying each prefix
    // shows the two agents never disagree about the spawn.
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let lead = Agent::new(&recorder, "lead", None);
    let base = append(&lead, "base");
    let spawned = lead.spawn("helper", None).unwrap();
    let before = graph_at(recorder.journal(), 1).unwrap();
    for cut in 1..=4 {
        let graph = graph_at(recorder.journal(), cut).unwrap();
        let lead_head = graph.refs("lead").head_commit().map(str::to_owned);
        let child_head = graph.refs("helper").head_commit().map(str::to_owned);
        if cut < 4 {
            assert_eq!(lead_head.as_deref(), Some(base.as_str()), "cut at {cut}");
            assert_eq!(child_head, None, "cut at {cut}");
            assert_eq!(graph.refs("lead"), before.refs("lead"));
        } else {
            assert_eq!(lead_head, Some(spawned.spawn.id.clone()));
            assert_eq!(child_head, Some(spawned.root.id.clone()));
        }
        assert_eq!(graph.rejected(), 0);
    }
}

#[test]
fn spawn_refuses_an_agent_with_a_context_itself_and_bad_names_recording_nothing() {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let lead = Agent::new(&recorder, "lead", None);
    append(&lead, "base");
    append(&Agent::new(&recorder, "busy", None), "already working");
    let last = recorder.journal().last_lsn();
    let refused = |child: &str| context_error(lead.spawn(child, Some("task")).unwrap_err());
    assert!(matches!(refused("busy"), ContextError::AgentExists { agent } if agent == "busy"));
    assert!(matches!(refused("lead"), ContextError::SpawnItself { .. }));
    assert!(matches!(
        refused("two words"),
        ContextError::BadAgentName { .. }
    ));
    assert!(matches!(refused(""), ContextError::BadAgentName { .. }));
    assert_eq!(recorder.journal().last_lsn(), last);
    // A parent with no commit yet may spawn: the root then has no `spawned_from`.
    let fresh = Agent::new(&recorder, "fresh", None);
    let spawned = fresh.spawn("kid", None).unwrap();
    assert!(!spawned.root.links.contains_key(LINK_SPAWNED_FROM));
    assert!(spawned.spawn.parents.is_empty());
    assert_eq!(
        contents(&Agent::new(&recorder, "kid", None)),
        ["You are sub-agent kid of agent fresh."]
    );
}

#[test]
fn collapse_folds_the_childs_output_and_summary_into_one_commit_on_the_parent() {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let lead = Agent::new(&recorder, "lead", None);
    append(&lead, "You lead.");
    lead.spawn("helper", Some("Find it.")).unwrap();
    let helper = Agent::new(&recorder, "helper", None);
    append(&helper, "Looked in tests/.");
    let head = append(&helper, "It is tests/io.rs.");
    let mut seen = Vec::new();
    let collapsed = lead
        .collapse("helper", None, |context| {
            seen = context.blocks.iter().map(|b| b.content.clone()).collect();
            summary_of(context)
        })
        .unwrap();
    assert_eq!(
        seen,
        ["Find it.", "Looked in tests/.", "It is tests/io.rs."]
    );
    assert_eq!(collapsed.output, "It is tests/io.rs.");
    assert_eq!(collapsed.summary, "3 blocks");
    assert_eq!(collapsed.child_head, head);
    assert_eq!(collapsed.commit.links[LINK_CHILD], "helper");
    assert_eq!(collapsed.commit.links[LINK_CHILD_HEAD], head);
    let graph = lead.graph().unwrap();
    assert_eq!(
        graph.refs("lead").head_commit(),
        Some(collapsed.commit.id.as_str())
    );
    assert_eq!(graph.reflog("lead").last().unwrap().op, "collapse");
    assert_eq!(
        contents(&lead).last().unwrap(),
        "Sub-agent helper finished.\n\nSummary:\n3 blocks\n\nOutput:\nIt is tests/io.rs."
    );
    // The child is untouched, and a given output wins over the child's last block.
    assert_eq!(graph.refs("helper").head_commit(), Some(head.as_str()));
    lead.undo().unwrap();
    let again = lead
        .collapse("helper", Some("tests/io.rs".into()), |_| Ok("short".into()))
        .unwrap();
    assert_eq!(again.output, "tests/io.rs");
}

#[test]
fn collapse_checks_the_child_before_summarizing_and_records_nothing_on_failure() {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let lead = Agent::new(&recorder, "lead", None);
    append(&lead, "base");
    lead.spawn("helper", None).unwrap();
    append(&Agent::new(&recorder, "stranger", None), "mine");
    let last = recorder.journal().last_lsn();
    let never = |_: &agentrail::context::Context| -> Result<String, String> {
        panic!("the summarizer must not run")
    };
    let error = context_error(lead.collapse("nobody", None, never).unwrap_err());
    assert!(matches!(error, ContextError::UnknownAgent { agent } if agent == "nobody"));
    let error = context_error(lead.collapse("stranger", None, never).unwrap_err());
    assert!(matches!(error, ContextError::NotAChild { .. }));
    let failing = lead.collapse("helper", None, |_| Err("exit status 3".into()));
    let error = context_error(failing.unwrap_err());
    assert!(
        matches!(&error, ContextError::SummarizerFailed { reason, .. } if reason == "exit status 3")
    );
    let empty = lead.collapse("helper", None, |_| Ok(" \n".into()));
    assert!(matches!(
        context_error(empty.unwrap_err()),
        ContextError::EmptySummary { .. }
    ));
    assert_eq!(recorder.journal().last_lsn(), last);
}

#[test]
fn a_second_collapse_of_the_same_child_head_is_refused_until_the_child_commits_again() {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let lead = Agent::new(&recorder, "lead", None);
    append(&lead, "base");
    lead.spawn("helper", Some("go")).unwrap();
    let helper = Agent::new(&recorder, "helper", None);
    let head = append(&helper, "found it");
    let first = lead.collapse("helper", None, summary_of).unwrap();
    append(&lead, "later work");
    let last = recorder.journal().last_lsn();
    let never = |_: &agentrail::context::Context| -> Result<String, String> {
        panic!("the summarizer must not run again")
    };
    let error = context_error(lead.collapse("helper", None, never).unwrap_err());
    assert_eq!(
        error,
        ContextError::AlreadyCollapsed {
            child: "helper".into(),
            child_head: head,
            commit: first.commit.id.clone(),
        }
    );
    assert_eq!(recorder.journal().last_lsn(), last, "nothing recorded");
    // Once the child commits again, its new HEAD collapses.
    append(&helper, "and fixed it");
    let second = lead.collapse("helper", None, summary_of).unwrap();
    // A collapse HEAD no longer reaches does not count: undo it, and the same HEAD collapses.
    lead.undo().unwrap();
    let redone = lead
        .collapse("helper", None, |_| Ok("better".into()))
        .unwrap();
    assert_eq!(redone.child_head, second.child_head);
    assert_ne!(redone.commit.id, second.commit.id);
}

#[test]
fn expand_shows_the_commits_of_a_branch_the_child_merged() {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let lead = Agent::new(&recorder, "lead", None);
    append(&lead, "You lead.");
    lead.spawn("helper", Some("task")).unwrap();
    let helper = Agent::new(&recorder, "helper", None);
    append(&helper, "plan");
    helper.branch("idea", None).unwrap();
    helper.switch("idea").unwrap();
    append(&helper, "tried the idea");
    helper.switch("main").unwrap();
    append(&helper, "main work");
    helper.merge("idea", None, None, Unrelated::Refuse).unwrap();
    let collapsed = lead.collapse("helper", None, summary_of).unwrap();
    let expansion = lead.expand(&collapsed.commit.id).unwrap();
    let texts: Vec<&str> = expansion
        .child_commits
        .iter()
        .map(|commit| commit.commit.message.as_str())
        .collect();
    assert_eq!(
        texts,
        [
            "spawned by lead",
            "plan",
            "main work",
            "tried the idea",
            "merge idea"
        ],
        "the merged branch's commit comes after the line it joins"
    );
}

#[test]
fn a_parent_spawns_many_children_that_commit_many_times_and_expand_shows_each_line() {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let lead = Agent::new(&recorder, "lead", None);
    append(&lead, "You lead.");
    let mut collapses = Vec::new();
    for child in ["a", "b", "c"] {
        let spawned = lead.spawn(child, Some(&format!("task {child}"))).unwrap();
        let worker = Agent::new(&recorder, child, None);
        for step in 0..4 {
            append(&worker, &format!("{child} step {step}"));
        }
        let expansion = lead.expand(&spawned.spawn.id[..8]).unwrap();
        assert_eq!(expansion.kind, SubagentCommitKind::Spawn);
        assert_eq!(
            expansion.child_commits.len(),
            5,
            "the root and 4 steps so far"
        );
        let collapsed = lead.collapse(child, None, summary_of).unwrap();
        collapses.push((child, collapsed.commit.id));
        append(&worker, &format!("{child} after the collapse"));
    }
    for (child, id) in collapses {
        let expansion = lead.expand(&id).unwrap();
        assert_eq!(expansion.kind, SubagentCommitKind::Collapse);
        assert_eq!(expansion.child, child);
        assert!(expansion.commit.content.contains("Summary:\n5 blocks"));
        let texts: Vec<&str> = expansion
            .child_commits
            .iter()
            .map(|commit| commit.content.as_str())
            .collect();
        let mut expected = vec![format!("task {child}")];
        expected.extend((0..4).map(|step| format!("{child} step {step}")));
        assert_eq!(texts, expected, "up to the collapsed head, not later work");
    }
    // 1 base + 3 spawns + 3 collapses on the parent.
    assert_eq!(contents(&lead).len(), 7);
    let plain = lead
        .graph()
        .unwrap()
        .refs("a")
        .head_commit()
        .unwrap()
        .to_owned();
    let error = context_error(lead.expand(&plain).unwrap_err());
    assert!(matches!(error, ContextError::NotASubagentCommit { .. }));
    let error = context_error(lead.expand("0000").unwrap_err());
    assert!(matches!(error, ContextError::UnknownCommit { .. }));
}

#[test]
fn undo_after_spawn_moves_back_only_the_agent_that_undoes() {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let lead = Agent::new(&recorder, "lead", None);
    let base = append(&lead, "base");
    let spawned = lead.spawn("helper", Some("go")).unwrap();
    let helper = Agent::new(&recorder, "helper", None);
    let step = append(&helper, "step");
    // The parent's undo takes the spawn commit out of its own context; the child keeps going.
    let refs = lead.undo().unwrap();
    assert_eq!(refs.head_commit(), Some(base.as_str()));
    let graph = lead.graph().unwrap();
    assert_eq!(graph.refs("helper").head_commit(), Some(step.as_str()));
    // The child's undos walk back its own moves: its commit, then the spawn (to unborn).
    assert_eq!(
        helper.undo().unwrap().head_commit(),
        Some(spawned.root.id.as_str())
    );
    assert_eq!(helper.undo().unwrap(), Refs::default());
    // With no context left, the name may be spawned again.
    lead.spawn("helper", Some("again")).unwrap();
    assert_eq!(contents(&helper), ["again"]);
    // Undo after collapse puts the parent back on the spawn commit.
    let spawn_head = lead
        .graph()
        .unwrap()
        .refs("lead")
        .head_commit()
        .unwrap()
        .to_owned();
    lead.collapse("helper", None, summary_of).unwrap();
    assert_eq!(
        lead.undo().unwrap().head_commit(),
        Some(spawn_head.as_str())
    );
}

#[test]
fn blame_names_the_commit_that_brought_a_text_in_and_the_edit_that_changed_it() {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let agent = Agent::new(&recorder, "coder", None);
    let system = append(&agent, "You are a coding agent.\nBe brief.");
    let task = append(&agent, "Fix the flaky test.");
    let edit = commit(
        &agent,
        CommitKind::Edit,
        "You are a careful coding agent.\nBe brief.",
        Some(&system),
    );
    let blame = agent.blame("careful", None).unwrap();
    assert_eq!(blame.hits.len(), 1);
    let hit = &blame.hits[0];
    assert_eq!((hit.index, hit.block.id.as_str()), (0, system.as_str()));
    assert_eq!(hit.block.edited_by.as_deref(), Some(edit.as_str()));
    assert_eq!(hit.lines, [(1, "You are a careful coding agent.".into())]);
    let blame = agent.blame("brief", None).unwrap();
    assert_eq!(blame.hits[0].lines, [(2, "Be brief.".into())]);
    let blame = agent.blame("e", None).unwrap();
    assert_eq!(blame.hits.len(), 2);
    assert_eq!(blame.hits[1].block.id, task);
    assert_eq!(blame.hits[1].block.edited_by, None);
    assert!(agent.blame("absent", None).unwrap().hits.is_empty());
    // At an earlier commit the edit is not there yet.
    assert!(agent.blame("careful", Some(&task)).unwrap().hits.is_empty());
    let error = context_error(agent.blame("", None).unwrap_err());
    assert_eq!(error, ContextError::EmptyBlameText);
    // A mistyped agent is named as unknown, as audit does, not searched as an empty context.
    let typo = Agent::new(&recorder, "codr", None);
    let error = context_error(typo.blame("careful", None).unwrap_err());
    let agent = "codr".to_owned();
    assert_eq!(error, ContextError::UnknownAgent { agent });
}

/// Records a commit of `agent` at a fixed time, as an import would (it lands on HEAD).
fn commit_at(recorder: &Recorder, agent: &str, content: &str, ts_micros: i64) -> u64 {
    let data = object(json!({"kind": "append", "message": content, "content": content}));
    let mut event = Event::new(EventType::Commit, None, Some(agent.into()), data).unwrap();
    event.ts_micros = ts_micros;
    recorder.record(event).unwrap()
}

#[test]
fn audit_shows_what_an_agent_knew_when_another_decided() {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let second = 1_000_000;
    commit_at(&recorder, "agent-3", "The API is v1.", 10 * second);
    let data = object(json!({"choice": "ship v1 client"}));
    let mut decision = Event::new(EventType::Decision, None, Some("agent-1".into()), data).unwrap();
    decision.ts_micros = 20 * second;
    let decided = recorder.record(decision).unwrap();
    commit_at(&recorder, "agent-3", "The API moved to v2.", 30 * second);

    let agent3 = Agent::new(&recorder, "agent-3", None);
    let then = agent3.audit(AuditBound::Lsn(decided)).unwrap();
    assert_eq!(then.lsn, decided);
    assert_eq!(then.ts_micros, Some(20 * second));
    let blocks: Vec<&str> = then
        .context
        .blocks
        .iter()
        .map(|b| b.content.as_str())
        .collect();
    assert_eq!(blocks, ["The API is v1."]);
    let by_time = agent3.audit(AuditBound::Time(25 * second)).unwrap();
    assert_eq!(
        (by_time.lsn, by_time.context.clone()),
        (decided, then.context)
    );
    let now = agent3.audit(AuditBound::Time(40 * second)).unwrap();
    assert_eq!(now.context.blocks.len(), 2);
    let before = agent3.audit(AuditBound::Time(5 * second)).unwrap();
    assert_eq!((before.lsn, before.ts_micros), (0, None));
    assert!(before.context.blocks.is_empty());
    assert_eq!(before.refs, Refs::default());

    let error = context_error(agent3.audit(AuditBound::Lsn(99)).unwrap_err());
    assert_eq!(error, ContextError::LsnBeyondJournal { lsn: 99, last: 3 });
    let nobody = Agent::new(&recorder, "agent-9", None);
    let error = context_error(nobody.audit(AuditBound::Lsn(1)).unwrap_err());
    assert!(matches!(error, ContextError::UnknownAgent { .. }));
}

#[test]
fn diff_lists_the_commits_each_side_lacks_and_a_text_diff() {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let agent = Agent::new(&recorder, "coder", None);
    let base = append(&agent, "system");
    agent.branch("try-a", None).unwrap();
    let on_main = append(&agent, "plan B");
    agent.switch("try-a").unwrap();
    let a1 = append(&agent, "plan A");
    let a2 = append(&agent, "A failed");
    let diff = agent.diff("main", "try-a").unwrap();
    assert_eq!(diff.from, on_main);
    let ids = |commits: &[agentrail::context::Commit]| -> Vec<String> {
        commits.iter().map(|commit| commit.id.clone()).collect()
    };
    assert_eq!(ids(&diff.only_from), std::slice::from_ref(&on_main));
    assert_eq!(ids(&diff.only_to), [a2, a1]);
    assert_eq!(
        diff.unified,
        "--- main\n+++ try-a\n@@ -1,3 +1,5 @@\n system\n \n-plan B\n+plan A\n+\n+A failed\n"
    );
    let same = agent.diff("main", &on_main[..6]).unwrap();
    assert!(same.only_from.is_empty() && same.only_to.is_empty());
    assert_eq!(same.unified, "");
    assert!(agent.diff(&base, "main").unwrap().only_from.is_empty());
    let error = context_error(agent.diff("main", "nope").unwrap_err());
    assert!(matches!(error, ContextError::NotHex { .. }));
}

/// The ids `gc` would collect now, with a young retention and the collapsed-children policy
/// as given.
fn collected_now(agent: &Agent, collect_collapsed_children: bool) -> Vec<String> {
    let policy = agentrail::context::gc::Policy {
        retention_days: 30,
        collect_collapsed_children,
        now_micros: agentrail::event::now_micros(),
    };
    let graph = agent.graph().unwrap();
    let collected = agentrail::context::gc::unreachable(&graph, &policy).into_iter();
    collected.map(|commit| commit.id.clone()).collect()
}

#[test]
fn the_collapsed_children_policy_collects_a_childs_inner_history_unless_built_on() {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let lead = Agent::new(&recorder, "lead", None);
    append(&lead, "You lead.");
    let root = lead.spawn("helper", Some("Find it.")).unwrap().root.id;
    let helper = Agent::new(&recorder, "helper", None);
    let looked = append(&helper, "Looked in tests/.");
    let found = append(&helper, "It is tests/io.rs.");
    lead.collapse("helper", None, summary_of).unwrap();
    // Without the policy the child's refs and the collapse's link keep its history.
    assert_eq!(collected_now(&lead, false), Vec::<String>::new());
    // With it, neither the child's own refs nor its young reflog nor the links keep it.
    let inner = [root.clone(), looked.clone(), found.clone()];
    assert_eq!(collected_now(&lead, true), inner);
    // The lead's own history, collapse commit included, stays.
    let graph = lead.graph().unwrap();
    let lead_head = graph.refs("lead").head_commit().unwrap().to_owned();
    assert!(!collected_now(&lead, true).contains(&lead_head));
    // A child that goes on working after the collapse builds on that history: it is kept.
    let later = append(&helper, "Also tests/net.rs.");
    assert_eq!(collected_now(&lead, true), Vec::<String>::new());
    // Collapsed again, the whole history is inner history once more.
    lead.collapse("helper", None, summary_of).unwrap();
    assert_eq!(
        collected_now(&lead, true),
        [root.clone(), looked.clone(), found.clone(), later.clone()]
    );
    // Undone, the collapse holds the child's output for no one: the child keeps its history
    // (the undone collapse commit itself is kept by the young reflog).
    lead.undo().unwrap();
    assert_eq!(collected_now(&lead, true), Vec::<String>::new());
}
