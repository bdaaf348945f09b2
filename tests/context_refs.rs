//! Revisions (`HEAD`, `~N`, `^N`) in every operation that takes a commit, and branch deletion:
//! its refusals, its reflog entry, `undo`, replay from the journal, and gc keeping the deleted
//! branch's commits while its reflog entry is young.

#[path = "common/context_lib.rs"]
mod context_lib;

use agentrail::context::gc::{self, Policy};
use agentrail::context::{
    Agent, CommitKind, ContextError, Generated, Graph, Head, MergeOutcome, ResetMode, Unrelated,
};
use agentrail::project::Projector;
use context_lib::{commit, contents, contents_at, context_error, last_op, recorder};

fn append(agent: &Agent, content: &str) -> String {
    commit(agent, CommitKind::Append, content, None)
}

#[test]
fn every_operation_that_takes_a_commit_takes_a_revision() {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let agent = Agent::new(&recorder, "main", None);
    let ids: Vec<String> = ["b0", "b1", "b2", "b3"]
        .iter()
        .map(|content| append(&agent, content))
        .collect();
    // branch AT, checkout, context --at, reset, each through HEAD and steps.
    let refs = agent.branch("topic", Some("HEAD~2")).unwrap();
    assert_eq!(refs.branches["topic"], ids[1]);
    assert_eq!(contents_at(&agent, Some("HEAD^^")), ["b0", "b1"]);
    assert_eq!(contents_at(&agent, Some("topic~1")), ["b0"]);
    let refs = agent.checkout("main~3").unwrap().refs;
    assert_eq!(refs.head, Head::Detached(ids[0].clone()));
    // A branch's exact name puts HEAD on it, as git's checkout does; `~0` detaches there.
    let moved = agent.checkout("topic").unwrap();
    assert_eq!(moved.op, "switch");
    assert_eq!(moved.refs.head, Head::Branch("topic".into()));
    let moved = agent.checkout("topic~0").unwrap();
    assert_eq!(moved.op, "checkout");
    assert_eq!(moved.refs.head, Head::Detached(ids[1].clone()));
    agent.switch("main").unwrap();
    let refs = agent.reset(ResetMode::Soft, "HEAD~1").unwrap();
    assert_eq!(refs.branches["main"], ids[2]);
    agent.undo().unwrap();
    // An edit's target.
    let edit = agent
        .commit(agentrail::context::CommitRequest {
            kind: CommitKind::Edit,
            message: "edit".into(),
            content: "b1 edited".into(),
            target: Some("HEAD~2".into()),
            tokens: Some(1),
        })
        .unwrap();
    assert_eq!(edit.target.as_deref(), Some(ids[1].as_str()));
    // diff A B.
    let diff = agent.diff("HEAD~1", "HEAD").unwrap();
    assert_eq!(diff.only_to.len(), 1);
    assert_eq!(diff.only_to[0].id, edit.id);
    // A range FROM..TO of compress, and reorder's --order.
    let mut summarize = |_: &agentrail::context::CompressInput| -> agentrail::Result<Generated> {
        Ok(Generated {
            content: "summary".into(),
            usage: None,
        })
    };
    agent
        .compress("HEAD~3..HEAD~1", false, None, &mut summarize)
        .unwrap();
    assert_eq!(contents(&agent), ["b0", "b1 edited", "summary"]);
    agent.undo().unwrap();
    let order = ["HEAD~1".to_owned(), "HEAD~2".to_owned()];
    let reordered = agent.reorder("HEAD~3..HEAD~1", &order, false).unwrap();
    assert_eq!(reordered.commits.len(), 3);
    assert_eq!(contents(&agent), ["b0", "b1 edited", "b3", "b2"]);
    agent.undo().unwrap();
    // merge and rebase targets.
    agent.switch("topic").unwrap();
    append(&agent, "t1");
    let merged = agent
        .merge("topic~1", None, None, Unrelated::Refuse)
        .unwrap();
    assert!(matches!(merged, MergeOutcome::UpToDate));
    let MergeOutcome::Merged { merge, .. } = agent
        .merge("main~1", None, None, Unrelated::Refuse)
        .unwrap()
    else {
        panic!("a merge commit")
    };
    assert_eq!(merge.parents[1], ids[3]);
    agent.undo().unwrap();
    let rebased = agent.rebase("main~2", None).unwrap();
    assert_eq!(rebased.commits.len(), 1);
    assert_eq!(contents(&agent), ["b0", "b1", "b2", "t1"]);
}

#[test]
fn expand_takes_a_revision() {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let lead = Agent::new(&recorder, "lead", None);
    append(&lead, "base");
    let spawned = lead.spawn("helper", Some("find it")).unwrap();
    append(&lead, "later");
    let expanded = lead.expand("HEAD~1").unwrap();
    assert_eq!(expanded.commit.commit.id, spawned.spawn.id);
    assert_eq!(expanded.child, "helper");
    let error = context_error(lead.expand("HEAD~2").unwrap_err());
    assert!(
        matches!(error, ContextError::NotASubagentCommit { .. }),
        "{error}"
    );
}

#[test]
fn revision_errors_name_the_revision_and_record_nothing() {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let agent = Agent::new(&recorder, "main", None);
    let unborn = context_error(agent.checkout("HEAD").unwrap_err());
    assert!(matches!(unborn, ContextError::UnbornHead { ref rev, .. } if rev == "HEAD"));
    let base = append(&agent, "base");
    append(&agent, "next");
    let before = recorder.journal().last_lsn();
    let past = context_error(agent.reset(ResetMode::Hard, "HEAD~2").unwrap_err());
    assert_eq!(
        past,
        ContextError::PastRoot {
            rev: "HEAD~2".into(),
            root: base[..12].into()
        }
    );
    let parent = context_error(agent.checkout("HEAD^2").unwrap_err());
    assert!(matches!(
        parent,
        ContextError::NoSuchParent {
            parent: 2,
            parents: 1,
            ..
        }
    ));
    let syntax = context_error(agent.branch("x", Some("main~two")).unwrap_err());
    assert!(matches!(syntax, ContextError::BadRevision { ref rev, .. } if rev == "main~two"));
    assert_eq!(recorder.journal().last_lsn(), before);
}

#[test]
fn new_branch_names_hold_no_revision_syntax() {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let agent = Agent::new(&recorder, "main", None);
    append(&agent, "base");
    for name in ["HEAD", "a~1", "a^", "x^2"] {
        let error = context_error(agent.branch(name, None).unwrap_err());
        assert!(
            matches!(error, ContextError::BadBranchName { .. }),
            "{name}: {error}"
        );
    }
    agent.branch("HEADS", None).unwrap();
}

/// `main: base - m1`, `topic: base - t1` (not merged), `done` at base; HEAD on main.
fn forked(agent: &Agent) -> (String, String, String) {
    let base = append(agent, "base");
    agent.branch("topic", None).unwrap();
    agent.branch("done", None).unwrap();
    let m1 = append(agent, "m1");
    agent.switch("topic").unwrap();
    let t1 = append(agent, "t1");
    agent.switch("main").unwrap();
    (base, m1, t1)
}

#[test]
fn deleting_a_branch_refuses_heads_and_unreached_ones_unless_forced() {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let agent = Agent::new(&recorder, "main", None);
    let (base, _, t1) = forked(&agent);
    let before = recorder.journal().last_lsn();
    let head = context_error(agent.delete_branch("main", true).unwrap_err());
    assert!(
        matches!(head, ContextError::DeleteCurrentBranch { .. }),
        "{head}"
    );
    let unknown = context_error(agent.delete_branch("nowhere", false).unwrap_err());
    assert!(
        matches!(unknown, ContextError::UnknownBranch { .. }),
        "{unknown}"
    );
    let unmerged = context_error(agent.delete_branch("topic", false).unwrap_err());
    assert_eq!(
        unmerged,
        ContextError::BranchNotMerged {
            agent: "main".into(),
            name: "topic".into(),
            at: t1[..12].into()
        }
    );
    assert_eq!(recorder.journal().last_lsn(), before);
    // `done` is reached from HEAD: deleted without force, as one ref move.
    let deleted = agent.delete_branch("done", false).unwrap();
    assert_eq!(deleted.at, base);
    assert!(!deleted.refs.branches.contains_key("done"));
    assert_eq!(recorder.journal().last_lsn(), before + 1);
    assert_eq!(last_op(&agent), "delete_branch");
    // A branch only another branch reaches, with HEAD detached elsewhere.
    agent.branch("behind", Some("topic~1")).unwrap();
    agent.checkout("main").unwrap();
    agent.delete_branch("behind", false).unwrap();
    // Forced, an unreached branch goes; `undo` brings it back.
    let deleted = agent.delete_branch("topic", true).unwrap();
    assert_eq!(deleted.at, t1);
    let refs = agent.undo().unwrap();
    assert_eq!(refs.branches["topic"], t1);
    // Replayed from the journal alone, the graph agrees.
    let fresh = tempfile::tempdir().unwrap();
    let replayed = Projector::new(fresh.path())
        .load::<Graph>(recorder.journal())
        .unwrap()
        .state;
    assert_eq!(replayed, agent.graph().unwrap());
    assert_eq!(replayed.rejected(), 0);
    let ops: Vec<String> = replayed.reflog("main").into_iter().map(|m| m.op).collect();
    assert_eq!(
        ops.iter().filter(|op| *op == "delete_branch").count(),
        3,
        "{ops:?}"
    );
    let deletion = &replayed.reflog("main")[ops.len() - 2];
    assert_eq!(deletion.before.branches["topic"], t1);
    assert!(!deletion.after.branches.contains_key("topic"));
}

#[test]
fn gc_keeps_a_deleted_branch_while_its_reflog_entry_is_young() {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let agent = Agent::new(&recorder, "main", None);
    let (_, _, t1) = forked(&agent);
    agent.delete_branch("topic", true).unwrap();
    let young = Policy {
        retention_days: 30,
        collect_collapsed_children: false,
        now_micros: agentrail::event::now_micros(),
    };
    let graph = agent.graph().unwrap();
    assert!(gc::reachable(&graph, &young).contains(&t1));
    let old = Policy {
        retention_days: 0,
        now_micros: young.now_micros + 1_000_000,
        ..young
    };
    let collected: Vec<String> = gc::unreachable(&graph, &old)
        .into_iter()
        .map(|commit| commit.id.clone())
        .collect();
    assert_eq!(collected, [t1]);
}

/// The ids `gc` would collect now with a retention of 30 days: only what no ref and no young
/// reflog entry keeps.
fn collected_now(agent: &Agent) -> Vec<String> {
    let young = Policy {
        retention_days: 30,
        collect_collapsed_children: false,
        now_micros: agentrail::event::now_micros(),
    };
    let graph = agent.graph().unwrap();
    let collected = gc::unreachable(&graph, &young).into_iter();
    collected.map(|commit| commit.id.clone()).collect()
}

#[test]
fn gc_collects_what_a_hard_reset_left_behind_but_not_what_a_soft_one_did() {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let agent = Agent::new(&recorder, "main", None);
    let (_, m1, t1) = forked(&agent);
    // The topic branch, deleted before the reset, stays kept by its young entry.
    agent.delete_branch("topic", true).unwrap();
    let m2 = append(&agent, "m2");
    agent.reset(ResetMode::Soft, "HEAD~2").unwrap();
    assert_eq!(collected_now(&agent), Vec::<String>::new(), "soft");
    agent.undo().unwrap();
    agent.reset(ResetMode::Hard, "HEAD~2").unwrap();
    assert_eq!(collected_now(&agent), [m1.clone(), m2.clone()], "hard");
    // An undo of the hard reset reaches them again, and so does a branch.
    agent.undo().unwrap();
    assert_eq!(collected_now(&agent), Vec::<String>::new(), "undone");
    agent.branch("keep", Some("HEAD~1")).unwrap();
    agent.reset(ResetMode::Hard, "HEAD~2").unwrap();
    assert_eq!(collected_now(&agent), [m2], "m1 is on branch keep");
    let graph = agent.graph().unwrap();
    assert!(graph.commit(&t1).is_some() && !collected_now(&agent).contains(&t1));
}
