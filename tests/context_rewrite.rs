//! The rewriting context operations through the library: merge (clean, up to date,
//! fast-forward, edit and pin conflicts with and without a resolver), rebase (of a branch
//! holding a merge, and with conflicts, with and without a resolver), compress and reorder
//! (of a line, and flattening a range holding a merge: a block both sides held, an edit across
//! the sides, a resolved conflicting merge, a merge named in the order), each on a scenario,
//! each undone by `undo`.

#[path = "common/context_lib.rs"]
mod context_lib;

use agentrail::context::{
    Agent, CommitKind, CommitRequest, CompressInput, Conflict, ConflictKind, ContextError,
    Generated, LlmUsage, MergeOutcome, Unrelated,
};
use context_lib::{contents, contents_and_kinds, context_error, last_op, recorder};

fn commit(
    agent: &Agent,
    kind: CommitKind,
    message: &str,
    content: &str,
    target: Option<&str>,
) -> String {
    agent
        .commit(CommitRequest {
            kind,
            message: message.to_owned(),
            content: content.to_owned(),
            target: target.map(str::to_owned),
            tokens: Some(content.len() as u64),
        })
        .unwrap()
        .id
}

fn append(agent: &Agent, content: &str) -> String {
    commit(agent, CommitKind::Append, content, content, None)
}

/// `base` on main, then branch `topic` at it; HEAD stays on main.
fn forked(agent: &Agent) -> String {
    let base = append(agent, "base");
    agent.branch("topic", None).unwrap();
    base
}

#[test]
fn a_clean_merge_has_two_parents_adds_no_block_and_keeps_identical_blocks_once() {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let agent = Agent::new(&recorder, "main", None);
    forked(&agent);
    let ours = append(&agent, "ours");
    append(&agent, "both");
    agent.switch("topic").unwrap();
    append(&agent, "theirs");
    let theirs = append(&agent, "both");
    agent.switch("main").unwrap();
    let outcome = agent.merge("topic", None, None, Unrelated::Refuse).unwrap();
    let MergeOutcome::Merged {
        merge, resolutions, ..
    } = outcome
    else {
        panic!("expected a merge commit, got {outcome:?}");
    };
    assert!(resolutions.is_empty());
    assert_eq!(merge.parents.len(), 2);
    assert_eq!(merge.parents[1], theirs);
    assert_eq!(merge.message, "merge topic");
    assert_eq!(contents(&agent), ["base", "ours", "both", "theirs"]);
    let graph = agent.graph().unwrap();
    assert_eq!(graph.refs("main").head_commit(), Some(merge.id.as_str()));
    assert_eq!(graph.reflog("main").last().unwrap().op, "merge");
    // Merging again is up to date and records nothing.
    let last = recorder.journal().last_lsn();
    assert_eq!(
        agent.merge("topic", None, None, Unrelated::Refuse).unwrap(),
        MergeOutcome::UpToDate
    );
    assert_eq!(recorder.journal().last_lsn(), last);
    // Undo puts main back before the merge.
    let refs = agent.undo().unwrap();
    assert_ne!(refs.head_commit(), Some(ours.as_str()));
    assert_eq!(contents(&agent), ["base", "ours", "both"]);
}

#[test]
fn an_edit_of_a_merge_commit_which_adds_no_block_is_refused() {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let agent = Agent::new(&recorder, "main", None);
    forked(&agent);
    append(&agent, "ours");
    agent.switch("topic").unwrap();
    append(&agent, "theirs");
    agent.switch("main").unwrap();
    let MergeOutcome::Merged { merge, .. } =
        agent.merge("topic", None, None, Unrelated::Refuse).unwrap()
    else {
        panic!("expected a merge commit");
    };
    let last = recorder.journal().last_lsn();
    let request = CommitRequest {
        kind: CommitKind::Edit,
        message: "edit".into(),
        content: "changed".into(),
        target: Some(merge.id[..8].to_owned()),
        tokens: None,
    };
    let error = context_error(agent.commit(request).unwrap_err());
    assert!(
        matches!(error, ContextError::TargetIsMerge { ref target } if *target == merge.id),
        "{error}"
    );
    assert_eq!(recorder.journal().last_lsn(), last);
    assert_eq!(contents(&agent), ["base", "ours", "theirs"]);
}

#[test]
fn merging_a_descendant_fast_forwards() {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let agent = Agent::new(&recorder, "main", None);
    forked(&agent);
    agent.switch("topic").unwrap();
    let ahead = append(&agent, "ahead");
    agent.switch("main").unwrap();
    let outcome = agent.merge("topic", None, None, Unrelated::Refuse).unwrap();
    let MergeOutcome::FastForward { refs } = outcome else {
        panic!("expected a fast-forward, got {outcome:?}");
    };
    assert_eq!(refs.head_commit(), Some(ahead.as_str()));
    let graph = agent.graph().unwrap();
    assert_eq!(graph.commits().len(), 2, "no merge commit");
    assert_eq!(graph.reflog("main").last().unwrap().op, "merge");
}

/// Both sides edit `base`; both add a pin "rule" with other content.
fn conflicting(agent: &Agent) -> String {
    let base = forked(agent);
    commit(agent, CommitKind::Edit, "ours", "base, ours", Some(&base));
    commit(agent, CommitKind::Pin, "rule", "never push", None);
    agent.switch("topic").unwrap();
    commit(
        agent,
        CommitKind::Edit,
        "theirs",
        "base, theirs",
        Some(&base),
    );
    commit(agent, CommitKind::Pin, "rule", "always push", None);
    agent.switch("main").unwrap();
    base
}

#[test]
fn a_merge_of_unrelated_histories_is_refused_unless_allowed() {
    // A reorder of `..TO` replays the first commit as a new root: the old line, kept on
    // `before`, and the new one share no commit, as after `git rebase -i --root`.
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let agent = Agent::new(&recorder, "main", None);
    let one = append(&agent, "one");
    let two = append(&agent, "two");
    agent.branch("before", None).unwrap();
    agent
        .reorder("..HEAD", &order_of(&[&two, &one]), false)
        .unwrap();
    let last = recorder.journal().last_lsn();
    let error = context_error(
        agent
            .merge("before", None, None, Unrelated::Refuse)
            .unwrap_err(),
    );
    assert!(
        matches!(&error, ContextError::UnrelatedHistories { theirs } if theirs == "before"),
        "{error}"
    );
    assert_eq!(recorder.journal().last_lsn(), last);
    let merged = agent.merge("before", None, None, Unrelated::Allow).unwrap();
    assert!(matches!(merged, MergeOutcome::Merged { .. }));
    // Identical blocks are kept once: the old line's blocks are the new line's.
    assert_eq!(contents(&agent), ["two", "one"]);
}

#[test]
fn edits_of_one_block_appended_on_both_sides_conflict() {
    // Both sides append the same text (kept once, so one block) and edit it differently: a
    // conflict, though each edit's block came in through a different commit. It was merged
    // silently, one edit lost; the same held for identical blocks of unrelated histories.
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let agent = Agent::new(&recorder, "main", None);
    forked(&agent);
    let ours = append(&agent, "shared");
    commit(
        &agent,
        CommitKind::Edit,
        "ours",
        "shared, ours",
        Some(&ours),
    );
    agent.switch("topic").unwrap();
    let theirs = append(&agent, "shared");
    commit(
        &agent,
        CommitKind::Edit,
        "theirs",
        "shared, theirs",
        Some(&theirs),
    );
    agent.switch("main").unwrap();
    let last = recorder.journal().last_lsn();
    let error = context_error(
        agent
            .merge("topic", None, None, Unrelated::Refuse)
            .unwrap_err(),
    );
    let ContextError::MergeConflicts { conflicts, .. } = &error else {
        panic!("expected conflicts, got {error}");
    };
    assert_eq!(conflicts.len(), 1, "{error}");
    assert_eq!(conflicts[0].block.as_deref(), Some(ours.as_str()));
    assert_eq!(conflicts[0].ours.content, "shared, ours");
    assert_eq!(conflicts[0].theirs.content, "shared, theirs");
    assert_eq!(recorder.journal().last_lsn(), last);
    let mut resolve = |_: &Conflict| -> agentrail::Result<Generated> {
        Ok(Generated {
            content: "shared, both".into(),
            usage: None,
        })
    };
    agent
        .merge("topic", None, Some(&mut resolve), Unrelated::Refuse)
        .unwrap();
    let blocks: Vec<String> = agent
        .context(None)
        .unwrap()
        .blocks
        .into_iter()
        .map(|block| block.content)
        .collect();
    assert_eq!(blocks, ["base", "shared, both"]);
}

#[test]
fn a_conflicting_merge_without_resolver_lists_the_conflicts_and_records_nothing() {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let agent = Agent::new(&recorder, "main", None);
    let base = conflicting(&agent);
    let last = recorder.journal().last_lsn();
    let error = context_error(
        agent
            .merge("topic", None, None, Unrelated::Refuse)
            .unwrap_err(),
    );
    let ContextError::MergeConflicts { conflicts, .. } = &error else {
        panic!("expected conflicts, got {error}");
    };
    assert_eq!(conflicts.len(), 2, "{error}");
    assert_eq!(conflicts[0].kind, ConflictKind::Edit);
    assert_eq!(conflicts[0].block.as_deref(), Some(base.as_str()));
    assert_eq!(conflicts[0].base.as_deref(), Some("base"));
    assert_eq!(conflicts[0].ours.content, "base, ours");
    assert_eq!(conflicts[0].theirs.content, "base, theirs");
    assert_eq!(conflicts[1].kind, ConflictKind::Pin);
    assert_eq!(conflicts[1].message, "rule");
    assert!(
        error.to_string().contains("contradicting pins \"rule\""),
        "{error}"
    );
    assert_eq!(recorder.journal().last_lsn(), last);
    // A failing resolver records nothing either.
    let mut failing = |_: &Conflict| -> agentrail::Result<Generated> {
        Err(ContextError::HelperFailed {
            helper: "resolver".into(),
            reason: "exit 3".into(),
        }
        .into())
    };
    assert!(agent
        .merge("topic", None, Some(&mut failing), Unrelated::Refuse)
        .is_err());
    assert_eq!(recorder.journal().last_lsn(), last);
}

#[test]
fn a_resolver_replaces_the_conflicting_blocks_and_its_tokens_are_an_llm_call() {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let agent = Agent::new(&recorder, "main", Some("s-1".into()));
    conflicting(&agent);
    let mut asked = Vec::new();
    let mut resolver = |conflict: &Conflict| -> agentrail::Result<Generated> {
        asked.push(conflict.kind);
        Ok(Generated {
            content: format!("{} + {}", conflict.ours.content, conflict.theirs.content),
            usage: Some(LlmUsage {
                model: "judge".into(),
                input_tokens: 10,
                output_tokens: 4,
            }),
        })
    };
    let outcome = agent
        .merge("topic", None, Some(&mut resolver), Unrelated::Refuse)
        .unwrap();
    assert_eq!(asked, [ConflictKind::Edit, ConflictKind::Pin]);
    let MergeOutcome::Merged {
        merge,
        resolutions,
        refs,
        ..
    } = outcome
    else {
        panic!("expected a merge");
    };
    assert_eq!(resolutions.len(), 2);
    assert_eq!(resolutions[0].parents, std::slice::from_ref(&merge.id));
    assert_eq!(refs.head_commit(), Some(resolutions[1].id.as_str()));
    assert_both_conflicts_resolved(&agent);
    let exported: Vec<_> = (1..=recorder.journal().last_lsn())
        .filter_map(
            |lsn| match agentrail::query::event_at(recorder.journal(), lsn).unwrap() {
                agentrail::query::Found::Event(event) => Some(event),
                _ => None,
            },
        )
        .filter(|event| event.event_type == "llm_call")
        .collect();
    assert_eq!(exported.len(), 2);
    assert_eq!(exported[0].session.as_deref(), Some("s-1"));
    assert_eq!(exported[0].count("input_tokens"), Some(10));
    assert_eq!(agent.graph().unwrap().rejected(), 0);
}

#[test]
fn rebase_replays_the_branch_on_onto_with_edits_retargeted() {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let agent = Agent::new(&recorder, "main", None);
    forked(&agent);
    append(&agent, "main work");
    agent.switch("topic").unwrap();
    let first = append(&agent, "topic work");
    let edit = commit(
        &agent,
        CommitKind::Edit,
        "sharper",
        "topic work, sharper",
        Some(&first),
    );
    let rewrite = agent.rebase("main", None).unwrap();
    assert_eq!(rewrite.commits.len(), 2);
    let main = agent.graph().unwrap().refs("main").branches["main"].clone();
    assert_eq!(rewrite.commits[0].parents, [main]);
    assert_eq!(rewrite.commits[0].links["rebased_from"], first);
    assert_eq!(rewrite.commits[1].links["rebased_from"], edit);
    assert_eq!(
        rewrite.commits[1].target.as_deref(),
        Some(rewrite.commits[0].id.as_str())
    );
    assert_eq!(
        contents(&agent),
        ["base", "main work", "topic work, sharper"]
    );
    assert_eq!(
        rewrite.tokens_after,
        rewrite.tokens_before + "main work".len() as u64
    );
    let graph = agent.graph().unwrap();
    assert_eq!(graph.reflog("main").last().unwrap().op, "rebase");
    assert!(graph.commit(&edit).is_some(), "the old commits stay");
    // Already on main: nothing to do; undo puts topic back.
    let last = recorder.journal().last_lsn();
    assert!(agent.rebase("main", None).unwrap().commits.is_empty());
    assert_eq!(recorder.journal().last_lsn(), last);
    assert_eq!(agent.undo().unwrap().branches["topic"], edit);
    assert_eq!(contents(&agent), ["base", "topic work, sharper"]);
}

#[test]
fn rebase_replays_a_merge_as_a_merge_and_keeps_the_merged_blocks() {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let agent = Agent::new(&recorder, "main", None);
    forked(&agent);
    agent.branch("spike", None).unwrap();
    append(&agent, "main work");
    agent.switch("spike").unwrap();
    let spike = append(&agent, "spike work");
    agent.switch("topic").unwrap();
    let topic = append(&agent, "topic work");
    let MergeOutcome::Merged { merge, .. } =
        agent.merge("spike", None, None, Unrelated::Refuse).unwrap()
    else {
        panic!("expected a merge commit");
    };
    let later = commit(
        &agent,
        CommitKind::Edit,
        "spike, sharper",
        "spike work, sharper",
        Some(&spike),
    );
    let before = agent.context(None).unwrap();
    let onto = agent.context(Some("main")).unwrap();
    let rewrite = agent.rebase("main", None).unwrap();
    // Each commit topic has and main lacks is replayed once, in the same shape: the merge
    // is a merge of the copies of its parents, the edit follows its target's copy.
    let copy_of = |original: &str| {
        let copy = rewrite
            .commits
            .iter()
            .find(|c| c.links["rebased_from"] == original);
        copy.unwrap_or_else(|| panic!("no copy of {original}: {rewrite:?}"))
    };
    assert_eq!(rewrite.commits.len(), 4);
    let main = agent.graph().unwrap().refs("main").branches["main"].clone();
    assert_eq!(copy_of(&topic).parents, std::slice::from_ref(&main));
    assert_eq!(copy_of(&spike).parents, [main]);
    let merge_copy = copy_of(&merge.id);
    assert_eq!(
        merge_copy.parents,
        [copy_of(&topic).id.clone(), copy_of(&spike).id.clone()]
    );
    assert_eq!(
        copy_of(&later).parents,
        std::slice::from_ref(&merge_copy.id)
    );
    assert_eq!(
        copy_of(&later).target.as_deref(),
        Some(copy_of(&spike).id.as_str())
    );
    assert_eq!(
        rewrite.refs.head_commit(),
        Some(copy_of(&later).id.as_str())
    );
    // Every block topic held that main lacks is in the new context.
    assert_eq!(
        contents(&agent),
        ["base", "main work", "topic work", "spike work, sharper"]
    );
    let after = contents(&agent);
    for block in before.blocks.iter().filter(|b| !onto.blocks.contains(b)) {
        assert!(after.contains(&block.content), "{} lost", block.content);
    }
    assert_eq!(agent.graph().unwrap().rejected(), 0);
    assert_eq!(agent.undo().unwrap().branches["topic"], later);
}

#[test]
fn a_conflicting_rebase_without_resolver_lists_the_conflicts_and_records_nothing() {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let agent = Agent::new(&recorder, "main", None);
    let base = conflicting(&agent);
    let last = recorder.journal().last_lsn();
    let refs = agent.graph().unwrap().refs("main");
    let error = context_error(agent.rebase("topic", None).unwrap_err());
    let ContextError::RebaseConflicts { onto, conflicts } = &error else {
        panic!("expected conflicts, got {error}");
    };
    assert_eq!(onto, "topic");
    assert_eq!(conflicts.len(), 2, "{error}");
    // Ours is HEAD's side (the commits replayed), theirs ONTO's, as in a merge.
    assert_eq!(conflicts[0].kind, ConflictKind::Edit);
    assert_eq!(conflicts[0].block.as_deref(), Some(base.as_str()));
    assert_eq!(conflicts[0].base.as_deref(), Some("base"));
    assert_eq!(conflicts[0].ours.content, "base, ours");
    assert_eq!(conflicts[0].theirs.content, "base, theirs");
    assert_eq!(conflicts[1].kind, ConflictKind::Pin);
    let shown = error.to_string();
    assert!(
        shown.starts_with("rebasing onto topic conflicts: both sides edited block"),
        "{shown}"
    );
    assert!(shown.contains("contradicting pins \"rule\""), "{shown}");
    assert_eq!(recorder.journal().last_lsn(), last);
    assert_eq!(agent.graph().unwrap().refs("main"), refs);
    // A failing resolver records nothing either.
    let mut failing = |_: &Conflict| -> agentrail::Result<Generated> {
        Err(ContextError::HelperFailed {
            helper: "resolver".into(),
            reason: "exit 3".into(),
        }
        .into())
    };
    assert!(agent.rebase("topic", Some(&mut failing)).is_err());
    assert_eq!(recorder.journal().last_lsn(), last);
}

#[test]
fn a_rebase_with_a_resolver_writes_the_resolutions_after_the_replayed_head() {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let agent = Agent::new(&recorder, "main", Some("s-1".into()));
    conflicting(&agent);
    let before = agent.graph().unwrap().refs("main");
    let mut resolver = |conflict: &Conflict| -> agentrail::Result<Generated> {
        Ok(Generated {
            content: format!("{} + {}", conflict.ours.content, conflict.theirs.content),
            usage: Some(LlmUsage {
                model: "judge".into(),
                input_tokens: 10,
                output_tokens: 4,
            }),
        })
    };
    let rewrite = agent.rebase("topic", Some(&mut resolver)).unwrap();
    assert_eq!(rewrite.conflicts.len(), 2);
    // Main's edit and pin replayed on topic, then one resolution edit per conflict.
    assert_eq!(rewrite.commits.len(), 4);
    let (copies, resolutions) = rewrite.commits.split_at(2);
    for (resolution, conflict) in resolutions.iter().zip(&rewrite.conflicts) {
        let copy = copies
            .iter()
            .find(|copy| copy.links["rebased_from"] == conflict.ours.commit)
            .unwrap();
        assert_eq!(resolution.kind, CommitKind::Edit);
        assert_eq!(resolution.target.as_deref(), Some(copy.id.as_str()));
        assert_eq!(resolution.links["resolves"], conflict.theirs.commit);
    }
    assert_eq!(resolutions[0].parents, [copies[1].id.clone()]);
    assert_eq!(rewrite.refs.head_commit(), Some(resolutions[1].id.as_str()));
    assert_both_conflicts_resolved(&agent);
    let llm_calls = (1..=recorder.journal().last_lsn())
        .filter_map(
            |lsn| match agentrail::query::event_at(recorder.journal(), lsn).unwrap() {
                agentrail::query::Found::Event(event) => Some(event),
                _ => None,
            },
        )
        .filter(|event| event.event_type == "llm_call")
        .count();
    assert_eq!(llm_calls, 2);
    assert_eq!(last_op(&agent), "rebase");
    assert_eq!(agent.undo().unwrap(), before);
}

fn summarized(text: &str) -> impl FnMut(&CompressInput) -> agentrail::Result<Generated> + '_ {
    move |_| {
        Ok(Generated {
            content: text.to_owned(),
            usage: None,
        })
    }
}

#[test]
fn compress_replaces_the_range_with_a_summary_keeps_pins_and_replays_later_commits() {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let agent = Agent::new(&recorder, "main", None);
    let system = append(&agent, "system");
    let first = append(&agent, "tried A: a long story");
    let pin = commit(&agent, CommitKind::Pin, "rule", "never push", None);
    commit(&agent, CommitKind::Edit, "shorter", "tried A", Some(&first));
    let to = append(&agent, "tried B: another long story");
    commit(
        &agent,
        CommitKind::Edit,
        "rule",
        "never push to main",
        Some(&pin),
    );
    append(&agent, "now");
    let mut seen = Vec::new();
    let mut summarize = |input: &CompressInput| -> agentrail::Result<Generated> {
        seen = input
            .blocks
            .iter()
            .map(|block| block.content.clone())
            .collect();
        Ok(Generated {
            content: "A and B failed".into(),
            usage: None,
        })
    };
    let range = format!("{}..{}", &system[..8], &to[..8]);
    let rewrite = agent.compress(&range, true, None, &mut summarize).unwrap();
    assert_eq!(seen, ["tried A", "tried B: another long story"]);
    assert_eq!(
        contents(&agent),
        ["system", "A and B failed", "never push to main", "now"]
    );
    assert_eq!(rewrite.pins_checked, 1);
    assert!(rewrite.tokens_after < rewrite.tokens_before);
    assert_eq!(rewrite.commits[0].parents, std::slice::from_ref(&system));
    assert_eq!(rewrite.commits[0].links["compressed_to"], to);
    assert_eq!(rewrite.commits[1].links["pinned_from"], pin);
    assert_eq!(rewrite.commits[1].kind, CommitKind::Pin);
    // The later edit of the pin follows the kept pin.
    assert_eq!(
        rewrite.commits[2].target.as_deref(),
        Some(rewrite.commits[1].id.as_str())
    );
    assert_eq!(agent.context(None).unwrap().blocks[2].kind, CommitKind::Pin);
    assert_eq!(last_op(&agent), "compress");
    agent.undo().unwrap();
    assert_eq!(contents(&agent).len(), 5);
    // Without --respect-pins the pin is summarized too, and the later edit of it would be cut
    // from its target: refused, nothing recorded.
    let last = recorder.journal().last_lsn();
    let error = agent
        .compress(&range, false, None, &mut summarized("x"))
        .unwrap_err();
    assert!(matches!(
        context_error(error),
        ContextError::CompressCutsEdit { .. }
    ));
    assert_eq!(recorder.journal().last_lsn(), last);
    // From the first commit.
    let rewrite = agent
        .compress(
            &format!("..{}", &system[..8]),
            false,
            Some("intro".into()),
            &mut summarized("sys"),
        )
        .unwrap();
    assert!(rewrite.commits[0].parents.is_empty());
    assert_eq!(contents(&agent)[0], "sys");
}

#[test]
fn ranges_must_lie_on_heads_first_parent_line() {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let agent = Agent::new(&recorder, "main", None);
    let base = forked(&agent);
    let on_main = append(&agent, "main");
    agent.switch("topic").unwrap();
    let on_topic = append(&agent, "topic");
    agent.switch("main").unwrap();
    for range in [
        on_main.clone(),
        format!("{on_main}.."),
        format!("{base}..{on_topic}"),
        format!("{on_main}..{base}"),
    ] {
        let error = agent
            .compress(&range, true, None, &mut summarized("x"))
            .unwrap_err();
        assert!(
            matches!(context_error(error), ContextError::BadRange { .. }),
            "{range}"
        );
    }
}

#[test]
fn reorder_refuses_an_edit_before_its_target_unless_forced() {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let agent = Agent::new(&recorder, "main", None);
    let base = append(&agent, "base");
    let one = append(&agent, "one");
    let two = append(&agent, "two");
    let edit = commit(&agent, CommitKind::Edit, "two'", "two, edited", Some(&two));
    let range = format!("{base}..{edit}");
    let order = |ids: &[&String]| ids.iter().map(|id| id[..8].to_owned()).collect::<Vec<_>>();
    let rewrite = agent
        .reorder(&range, &order(&[&two, &edit, &one]), false)
        .unwrap();
    assert_eq!(contents(&agent), ["base", "two, edited", "one"]);
    assert!(rewrite.warnings.is_empty());
    assert_eq!(
        rewrite.commits[1].target.as_deref(),
        Some(rewrite.commits[0].id.as_str())
    );
    agent.undo().unwrap();
    let last = recorder.journal().last_lsn();
    let error = agent
        .reorder(&range, &order(&[&edit, &two, &one]), false)
        .unwrap_err();
    assert!(matches!(
        context_error(error),
        ContextError::EditBeforeTarget { .. }
    ));
    for bad in [
        order(&[&two, &one]),
        order(&[&two, &two, &one]),
        order(&[&base, &two, &one]),
    ] {
        let error = agent.reorder(&range, &bad, false).unwrap_err();
        assert!(
            matches!(context_error(error), ContextError::BadOrder { .. }),
            "{bad:?}"
        );
    }
    assert_eq!(recorder.journal().last_lsn(), last);
    let rewrite = agent
        .reorder(&range, &order(&[&edit, &two, &one]), true)
        .unwrap();
    assert_eq!(rewrite.warnings.len(), 1);
    assert_eq!(rewrite.warnings[0].edit, edit);
    assert_eq!(
        contents(&agent),
        ["base", "two", "one"],
        "the edit changes nothing"
    );
    assert_eq!(last_op(&agent), "reorder");
}

/// Found by running `agentrail reorder A..D --order B,C,D` (the order the range already
/// has): it wrote copies of the range's commits and of the later ones and moved HEAD onto
/// them. As `git rebase -i` with its todo list unchanged, such a reorder now writes nothing.
#[test]
fn a_reorder_into_the_order_the_range_has_writes_nothing() {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let agent = Agent::new(&recorder, "main", None);
    let base = append(&agent, "base");
    let one = append(&agent, "one");
    let two = append(&agent, "two");
    let three = append(&agent, "three");
    let later = append(&agent, "later");
    let range = format!("{base}..{three}");
    let last = recorder.journal().last_lsn();
    let rewrite = agent
        .reorder(&range, &order_of(&[&one, &two, &three]), false)
        .unwrap();
    assert!(rewrite.commits.is_empty(), "{:?}", rewrite.commits);
    assert_eq!(rewrite.refs.head_commit(), Some(later.as_str()));
    assert_eq!(recorder.journal().last_lsn(), last, "nothing was recorded");
    let rewrite = agent
        .reorder(&range, &order_of(&[&one, &three, &two]), false)
        .unwrap();
    let rewritten: Vec<&str> = rewrite.commits.iter().map(|c| c.message.as_str()).collect();
    assert_eq!(
        rewritten,
        ["one", "three", "two", "later"],
        "an order that moves is replayed"
    );
    assert_eq!(contents(&agent), ["base", "one", "three", "two", "later"]);
}

#[test]
fn a_compression_that_would_lose_a_pin_records_nothing() {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let agent = Agent::new(&recorder, "main", None);
    let base = append(&agent, "keep me");
    // Pinning the same content later pins the earlier block (identical blocks are kept once),
    // so the range holds the pin but not the block it pins.
    commit(&agent, CommitKind::Pin, "rule", "keep me", None);
    let to = append(&agent, "long story");
    let head = agent.graph().unwrap().refs("main");
    let last_lsn = recorder.journal().last_lsn();
    let range = format!("{}..{}", &base[..8], &to[..8]);
    let error = agent
        .compress(&range, true, None, &mut summarized("short"))
        .unwrap_err();
    let error = context_error(error);
    assert_eq!(
        error,
        ContextError::PinLost {
            pin: base.to_owned()
        }
    );
    let graph = agent.graph().unwrap();
    assert_eq!(graph.refs("main"), head);
    assert_eq!(graph.reflog("main").last().unwrap().op, "commit");
    assert_eq!(recorder.journal().last_lsn(), last_lsn);
    assert_eq!(agent.context(None).unwrap().blocks[0].kind, CommitKind::Pin);
}

#[test]
fn a_summarizer_that_prints_nothing_fails_the_compression_and_records_nothing() {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let agent = Agent::new(&recorder, "main", None);
    let base = append(&agent, "base");
    append(&agent, "long story");
    let to = append(&agent, "more of it");
    let last_lsn = recorder.journal().last_lsn();
    let range = format!("{}..{}", &base[..8], &to[..8]);
    let error = agent
        .compress(&range, false, None, &mut summarized(" \n"))
        .unwrap_err();
    assert!(
        matches!(context_error(error), ContextError::HelperFailed { ref helper, .. } if helper == "summarizer")
    );
    assert_eq!(recorder.journal().last_lsn(), last_lsn);
    assert_eq!(contents(&agent), ["base", "long story", "more of it"]);
}

#[test]
fn a_commit_whose_content_was_purged_is_not_replayed_with_its_placeholder_as_content() {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let agent = Agent::new(&recorder, "main", None);
    let leaked = append(&agent, "a secret");
    let base = append(&agent, "base");
    agentrail::context::gc::purge(&recorder, &[1]).unwrap();
    let last_lsn = recorder.journal().last_lsn();
    let tokens = agent.context(None).unwrap().tokens;
    let order = [base[..8].to_owned(), leaked[..8].to_owned()];
    let error = context_error(
        agent
            .reorder(&format!("..{}", &base[..8]), &order, false)
            .unwrap_err(),
    );
    assert!(
        matches!(error, ContextError::ContentRemoved { ref id } if *id == leaked),
        "{error}"
    );
    assert_eq!(recorder.journal().last_lsn(), last_lsn);
    assert_eq!(agent.context(None).unwrap().tokens, tokens);
    // Nor is a purged pin kept verbatim by a compression that respects pins.
    let pin = commit(&agent, CommitKind::Pin, "rule", "a pinned secret", None);
    let to = append(&agent, "after");
    agentrail::context::gc::purge(&recorder, &[recorder.journal().last_lsn() - 1]).unwrap();
    let last_lsn = recorder.journal().last_lsn();
    let range = format!("{}..{}", &base[..8], &to[..8]);
    let error = agent
        .compress(&range, true, None, &mut summarized("summary"))
        .unwrap_err();
    assert!(matches!(context_error(error), ContextError::ContentRemoved { ref id } if *id == pin),);
    assert_eq!(recorder.journal().last_lsn(), last_lsn);
}

/// The context after the resolver merged both conflicts of the fixture: the edited block and
/// the pin, each resolved once.
fn assert_both_conflicts_resolved(agent: &Agent<'_>) {
    assert_eq!(
        contents_and_kinds(agent),
        [
            ("base, ours + base, theirs".to_owned(), CommitKind::Append),
            ("never push + always push".to_owned(), CommitKind::Pin),
        ]
    );
}

/// The ids' first 8 digits, as `--order` takes them.
fn order_of(ids: &[&String]) -> Vec<String> {
    ids.iter().map(|id| id[..8].to_owned()).collect()
}

/// `base`, then `main work` on main and `topic work` on topic, merged into main; HEAD on main
/// at the merge. Returns (base, main work, topic work, merge).
fn merged(agent: &Agent) -> (String, String, String, String) {
    let base = forked(agent);
    let ours = append(agent, "main work");
    agent.switch("topic").unwrap();
    let theirs = append(agent, "topic work");
    agent.switch("main").unwrap();
    let MergeOutcome::Merged { merge, .. } =
        agent.merge("topic", None, None, Unrelated::Refuse).unwrap()
    else {
        panic!("expected a merge commit");
    };
    (base, ours, theirs, merge.id)
}

#[test]
fn reorder_flattens_a_merge_into_one_line_and_replays_later_commits() {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let agent = Agent::new(&recorder, "main", None);
    let (base, ours, theirs, merge) = merged(&agent);
    let later = append(&agent, "after");
    let range = format!("{}..{}", &base[..8], &merge[..8]);
    let rewrite = agent
        .reorder(&range, &order_of(&[&theirs, &ours]), false)
        .unwrap();
    assert_eq!(rewrite.flattened, std::slice::from_ref(&merge));
    assert!(rewrite.warnings.is_empty());
    assert_eq!(
        contents(&agent),
        ["base", "topic work", "main work", "after"]
    );
    // One line: each copy's only parent is the copy before it, the later commit on top.
    let originals: Vec<&str> = rewrite
        .commits
        .iter()
        .map(|c| c.links["rebased_from"].as_str())
        .collect();
    assert_eq!(originals, [&theirs, &ours, &later]);
    let mut parent = base.clone();
    for copy in &rewrite.commits {
        assert_eq!(copy.parents, [parent]);
        parent = copy.id.clone();
    }
    assert_eq!(rewrite.refs.head_commit(), Some(parent.as_str()));
    assert_eq!(rewrite.tokens_after, rewrite.tokens_before);
    assert_eq!(last_op(&agent), "reorder");
    agent.undo().unwrap();
    assert_eq!(
        contents(&agent),
        ["base", "main work", "topic work", "after"]
    );
}

#[test]
fn a_block_both_sides_held_stays_once_after_flattening() {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let agent = Agent::new(&recorder, "main", None);
    let base = forked(&agent);
    let our_both = append(&agent, "both");
    let ours = append(&agent, "ours");
    agent.switch("topic").unwrap();
    let theirs = append(&agent, "theirs");
    let their_both = append(&agent, "both");
    agent.switch("main").unwrap();
    agent.merge("topic", None, None, Unrelated::Refuse).unwrap();
    assert_eq!(contents(&agent), ["base", "both", "ours", "theirs"]);
    let order = order_of(&[&theirs, &their_both, &ours, &our_both]);
    let rewrite = agent
        .reorder(&format!("{}..HEAD", &base[..8]), &order, false)
        .unwrap();
    assert_eq!(rewrite.flattened.len(), 1);
    assert_eq!(rewrite.commits.len(), 4);
    assert_eq!(contents(&agent), ["base", "theirs", "both", "ours"]);
}

#[test]
fn an_edit_across_the_sides_of_a_flattened_merge_follows_its_target() {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let agent = Agent::new(&recorder, "main", None);
    let (base, ours, theirs, merge) = merged(&agent);
    // After the merge, main edits topic's block.
    let edit = commit(
        &agent,
        CommitKind::Edit,
        "sharper",
        "topic work, sharper",
        Some(&theirs),
    );
    let range = format!("{}..HEAD", &base[..8]);
    let last = recorder.journal().last_lsn();
    let error = agent
        .reorder(&range, &order_of(&[&edit, &theirs, &ours]), false)
        .unwrap_err();
    assert_eq!(
        context_error(error),
        ContextError::EditBeforeTarget {
            edit: edit.clone(),
            target: theirs.clone()
        }
    );
    assert_eq!(recorder.journal().last_lsn(), last);
    let rewrite = agent
        .reorder(&range, &order_of(&[&ours, &theirs, &edit]), false)
        .unwrap();
    assert_eq!(rewrite.flattened, [merge]);
    assert_eq!(
        rewrite.commits[2].target.as_deref(),
        Some(rewrite.commits[1].id.as_str())
    );
    assert_eq!(
        contents(&agent),
        ["base", "main work", "topic work, sharper"]
    );
    agent.undo().unwrap();
    // Forced, the edit keeps its old target and changes nothing: a warning, not a refusal.
    let rewrite = agent
        .reorder(&range, &order_of(&[&edit, &theirs, &ours]), true)
        .unwrap();
    assert_eq!(rewrite.warnings.len(), 1);
    assert_eq!(rewrite.flattened.len(), 1);
    assert_eq!(contents(&agent), ["base", "topic work", "main work"]);
}

#[test]
fn a_merge_named_in_the_order_is_refused_since_merges_are_flattened() {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let agent = Agent::new(&recorder, "main", None);
    let (base, ours, theirs, merge) = merged(&agent);
    let range = format!("{}..{}", &base[..8], &merge[..8]);
    let last = recorder.journal().last_lsn();
    let error = context_error(
        agent
            .reorder(&range, &order_of(&[&theirs, &merge, &ours]), false)
            .unwrap_err(),
    );
    let ContextError::BadOrder { reason } = &error else {
        panic!("expected a bad order, got {error}");
    };
    assert!(
        reason.contains(&merge) && reason.contains("flattens"),
        "{error}"
    );
    // Leaving a side's commit out is refused too, counting only the commits to name.
    let error = context_error(
        agent
            .reorder(&range, &order_of(&[&ours]), false)
            .unwrap_err(),
    );
    assert!(
        error.to_string().contains("1 of the range's 2 commits"),
        "{error}"
    );
    assert_eq!(recorder.journal().last_lsn(), last);
}

#[test]
fn flattening_a_resolved_merge_keeps_the_resolutions_after_both_sides() {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let agent = Agent::new(&recorder, "main", None);
    let base = conflicting(&agent);
    let mut resolver = |conflict: &Conflict| -> agentrail::Result<Generated> {
        Ok(Generated {
            content: format!("{} + {}", conflict.ours.content, conflict.theirs.content),
            usage: None,
        })
    };
    let MergeOutcome::Merged {
        merge,
        resolutions,
        conflicts,
        ..
    } = agent
        .merge("topic", None, Some(&mut resolver), Unrelated::Refuse)
        .unwrap()
    else {
        panic!("expected a merge");
    };
    let (our_edit, our_pin) = (&conflicts[0].ours.commit, &conflicts[1].ours.commit);
    let (their_edit, their_pin) = (&conflicts[0].theirs.commit, &conflicts[1].theirs.commit);
    let (resolve_edit, resolve_pin) = (&resolutions[0].id, &resolutions[1].id);
    let range = format!("{}..HEAD", &base[..8]);
    let last = recorder.journal().last_lsn();
    // A resolution before the other side's edit: that edit would win again.
    let early = [
        our_edit,
        our_pin,
        resolve_edit,
        resolve_pin,
        their_edit,
        their_pin,
    ];
    let error = context_error(agent.reorder(&range, &order_of(&early), false).unwrap_err());
    assert_eq!(
        error,
        ContextError::ReorderChangesBlock {
            block: base.clone()
        }
    );
    // A pin resolution before the other side's pin: that pin would come back as a block.
    let early = [
        our_edit,
        their_edit,
        resolve_edit,
        our_pin,
        resolve_pin,
        their_pin,
    ];
    let error = context_error(agent.reorder(&range, &order_of(&early), false).unwrap_err());
    assert_eq!(
        error,
        ContextError::ReorderAddsBlock {
            commit: their_pin.clone()
        }
    );
    assert_eq!(recorder.journal().last_lsn(), last);
    // Both sides first, in any order, then the resolutions: the same resolved context.
    let good = [
        their_pin,
        their_edit,
        our_pin,
        our_edit,
        resolve_edit,
        resolve_pin,
    ];
    let rewrite = agent.reorder(&range, &order_of(&good), false).unwrap();
    assert_eq!(rewrite.flattened, [merge.id]);
    assert_eq!(rewrite.commits.len(), 6);
    assert_both_conflicts_resolved(&agent);
    assert_eq!(agent.graph().unwrap().rejected(), 0);
}

#[test]
fn reorder_refuses_to_swap_two_edits_of_one_block_which_would_change_it() {
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let agent = Agent::new(&recorder, "main", None);
    let base = append(&agent, "base");
    let block = append(&agent, "draft");
    let first = commit(&agent, CommitKind::Edit, "e1", "draft 2", Some(&block));
    let second = commit(&agent, CommitKind::Edit, "e2", "draft 3", Some(&block));
    let last = recorder.journal().last_lsn();
    let range = format!("{}..HEAD", &base[..8]);
    let error = agent
        .reorder(&range, &order_of(&[&block, &second, &first]), false)
        .unwrap_err();
    assert_eq!(
        context_error(error),
        ContextError::ReorderChangesBlock { block }
    );
    assert_eq!(recorder.journal().last_lsn(), last);
    assert_eq!(contents(&agent), ["base", "draft 3"]);
}

/// `main` brings in `x` and edits it to `y`; `topic` brings in `y` and edits it to `p`. HEAD
/// on main. Returns main's block (the commit that brought `x` in) and topic's edit to `p`.
fn a_block_edited_into_one_the_other_side_brings_in(agent: &Agent) -> (String, String) {
    forked(agent);
    let block = append(agent, "x");
    commit(agent, CommitKind::Edit, "to y", "y", Some(&block));
    agent.switch("topic").unwrap();
    let theirs = append(agent, "y");
    let edit = commit(agent, CommitKind::Edit, "to p", "p", Some(&theirs));
    agent.switch("main").unwrap();
    (block, edit)
}

#[test]
fn a_merge_that_would_lose_a_block_is_refused_and_records_nothing() {
    // Blocks are kept once when their contents match as the walk meets them: topic's `y`
    // joined main's block (edited to `y`), and topic's edit of it to `p` then replaced main's
    // content. The merge gave [base, p], main's `y` silently gone; both sides added a block.
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let agent = Agent::new(&recorder, "main", None);
    let (block, edit) = a_block_edited_into_one_the_other_side_brings_in(&agent);
    let last = recorder.journal().last_lsn();
    let error = context_error(
        agent
            .merge("topic", None, None, Unrelated::Refuse)
            .unwrap_err(),
    );
    let expected = ContextError::LosesBlock {
        block: block.clone(),
        shown_instead: Some(edit),
    };
    assert_eq!(error.to_string(), expected.to_string());
    assert_eq!(recorder.journal().last_lsn(), last);
    assert_eq!(contents(&agent), ["base", "y"]);
    // Once main's block shows other content, the two are kept apart and the merge goes through.
    commit(&agent, CommitKind::Edit, "to y2", "y2", Some(&block));
    agent.merge("topic", None, None, Unrelated::Refuse).unwrap();
    assert_eq!(contents(&agent), ["base", "y2", "p"]);
}

#[test]
fn a_rebase_that_would_lose_a_block_is_refused_and_records_nothing() {
    // The same with topic rebased onto main: main's line first, so topic's copy of `y` joins
    // main's block and the copy of its edit replaces main's `y` with `p`.
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let agent = Agent::new(&recorder, "main", None);
    let (block, edit) = a_block_edited_into_one_the_other_side_brings_in(&agent);
    agent.switch("topic").unwrap();
    let last = recorder.journal().last_lsn();
    let error = context_error(agent.rebase("main", None).unwrap_err());
    // The copy of topic's edit is not written: the error names the edit it copies.
    let expected = ContextError::LosesBlock {
        block,
        shown_instead: Some(edit),
    };
    assert_eq!(error.to_string(), expected.to_string());
    assert_eq!(recorder.journal().last_lsn(), last);
    assert_eq!(contents(&agent), ["base", "p"]);
    // Rebased the other way, main's edit comes after topic's blocks: nothing is lost.
    agent.switch("main").unwrap();
    agent.rebase("topic", None).unwrap();
    assert_eq!(contents(&agent), ["base", "p", "y"]);
}

#[test]
fn an_edit_of_a_block_the_other_side_holds_unedited_is_not_a_loss() {
    // Both sides bring in `x`, kept once; topic edits its copy to `z`. The merge shows `z`
    // where main's `x` was: the other side changed that block, as an edit of a shared block.
    let temp = tempfile::tempdir().unwrap();
    let recorder = recorder(&temp);
    let agent = Agent::new(&recorder, "main", None);
    forked(&agent);
    append(&agent, "x");
    agent.switch("topic").unwrap();
    let theirs = append(&agent, "x");
    commit(&agent, CommitKind::Edit, "to z", "z", Some(&theirs));
    agent.switch("main").unwrap();
    agent.merge("topic", None, None, Unrelated::Refuse).unwrap();
    assert_eq!(contents(&agent), ["base", "z"]);
}
