//! The graph's checkpoint: what it keeps, how ids are found across a load, and that a
//! damaged one is refused rather than trusted.

use super::*;
use proptest::prelude::*;
use serde_json::json;

fn commit_event(agent: &str, data: Json) -> Event {
    let Json::Object(data) = data else {
        panic!("data must be an object")
    };
    Event::new(
        EventType::Commit,
        Some("s1".into()),
        Some(agent.into()),
        data,
    )
    .unwrap()
}

/// A graph of `count` commits of agent `main` on one line, every 7th an edit of the one
/// before, every 5th with a link, plus a branch and a detached HEAD on agent `other`.
fn sample(count: u64) -> Graph {
    let mut graph = Graph::default();
    let mut lsn = 0;
    let mut last = None;
    for index in 0..count {
        lsn += 1;
        let mut data = json!({"kind": "append", "message": format!("m{index}"),
            "content": format!("block {index}"), "tokens": index});
        if let (true, Some(last)) = (index % 7 == 6, &last) {
            data["kind"] = json!("edit");
            data["target"] = json!(last);
        }
        if index % 5 == 4 {
            data["links"] = json!({"note": format!("n{index}")});
        }
        graph.apply(lsn, &commit_event("main", data).to_ref());
        last = graph.refs("main").head_commit().map(str::to_owned);
    }
    let head = last.expect("at least one commit");
    let other = json!({"op": "checkout", "agent": "other", "head": {"detached": head},
        "branches": {"side": head}});
    let Json::Object(other) = other else {
        unreachable!()
    };
    let event = Event::new(EventType::RefUpdate, None, Some("other".into()), other).unwrap();
    graph.apply(lsn + 1, &event.to_ref());
    assert_eq!(graph.rejected(), 0);
    graph
}

fn reloaded(graph: &Graph) -> Graph {
    postcard::from_bytes(&postcard::to_stdvec(graph).unwrap()).unwrap()
}

/// Each agent's name, refs and reflog.
type AgentAnswers = Vec<(String, Refs, Vec<RefMove>)>;

/// Everything the graph answers, as plain values.
fn answers(graph: &Graph) -> (Vec<Commit>, AgentAnswers) {
    let commits = graph.commits().cloned().collect();
    let agents = graph
        .agents()
        .map(|agent| (agent.to_owned(), graph.refs(agent), graph.reflog(agent)))
        .collect();
    (commits, agents)
}

#[test]
fn a_reloaded_graph_answers_as_the_one_saved() {
    let graph = sample(60);
    let loaded = reloaded(&graph);
    assert_eq!(loaded, graph);
    assert_eq!(answers(&loaded), answers(&graph));
    for commit in graph.commits() {
        assert_eq!(loaded.commit(&commit.id), Some(commit));
        assert_eq!(loaded.resolve(&commit.id[..12]).unwrap(), commit);
    }
    assert_eq!(
        loaded
            .commits()
            .filter(|commit| !commit.links.is_empty())
            .count(),
        12
    );
}

#[test]
fn ids_are_found_both_in_the_loaded_part_and_among_commits_added_since() {
    let mut graph = reloaded(&sample(30));
    let head = graph.refs("main").head_commit().unwrap().to_owned();
    for index in 0..10 {
        let data = json!({"kind": "pin", "message": "p", "content": format!("pin {index}")});
        graph.apply(100 + index, &commit_event("main", data).to_ref());
    }
    assert_eq!(graph.len(), 40);
    assert!(graph.is_ancestor(&head, graph.refs("main").head_commit().unwrap()));
    let twice = reloaded(&reloaded(&graph));
    assert_eq!(answers(&twice), answers(&graph));
    for commit in graph.commits() {
        assert_eq!(graph.resolve(&commit.id[..10]).unwrap(), commit);
        assert_eq!(twice.commit(&commit.id), Some(commit));
    }
    assert!(matches!(
        graph.resolve("zzzz"),
        Err(ContextError::NotHex { .. })
    ));
}

#[test]
fn an_ambiguous_prefix_lists_candidates_from_both_parts() {
    let mut graph = reloaded(&sample(600));
    for index in 0..600 {
        let data = json!({"kind": "append", "message": "r", "content": format!("recent {index}")});
        graph.apply(1000 + index, &commit_event("main", data).to_ref());
    }
    // 1,200 ids among 65,536 four-digit prefixes: about 11 pairs share one, and none do
    // about once in 60,000 runs.
    let mut ids: Vec<&str> = graph.commits().map(|commit| commit.id.as_str()).collect();
    ids.sort();
    let pair = ids
        .windows(2)
        .find(|pair| pair[0][..4] == pair[1][..4])
        .expect("two ids share a 4-digit prefix");
    match graph.resolve(&pair[0][..4]) {
        Err(ContextError::AmbiguousPrefix { candidates, .. }) => {
            assert!(candidates.contains(&pair[0][..12].to_owned()));
            assert!(candidates.contains(&pair[1][..12].to_owned()));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_state_that_breaks_an_invariant_is_refused() {
    let graph = sample(20);
    let mut columns_and_rest = postcard::to_stdvec(&graph).unwrap();
    // The first column is the ids: a length prefix (1 byte for 640), then 32 bytes per id.
    // Swapping two ids breaks their sorted order.
    let (first, second) = (2..34, 34..66);
    let copy: Vec<u8> = columns_and_rest[first.clone()].to_vec();
    columns_and_rest.copy_within(second.clone(), first.start);
    columns_and_rest[second].copy_from_slice(&copy);
    assert!(postcard::from_bytes::<Graph>(&columns_and_rest).is_err());
    assert!(postcard::from_bytes::<Graph>(&postcard::to_stdvec(&graph).unwrap()).is_ok());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Whatever a damaged state decodes to (its CRC is checked before, but the state's own
    /// checks must hold on their own), every answer comes without a panic.
    #[test]
    fn any_damaged_state_is_refused_or_answers_without_panicking(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let graph = sample(25);
        let mut bytes = postcard::to_stdvec(&graph).unwrap();
        for (at, value) in flips {
            let at = at.index(bytes.len());
            bytes[at] = value;
        }
        if let Ok(damaged) = postcard::from_bytes::<Graph>(&bytes) {
            let _ = answers(&damaged);
            let tips: Vec<String> = damaged.commits().map(|commit| commit.id.clone()).collect();
            let tips: Vec<&str> = tips.iter().map(String::as_str).collect();
            let _ = damaged.topological(&tips);
            let _ = damaged.newest_first(&tips, Some(10));
            for tip in &tips {
                let _ = crate::context::materialize::size_at(&damaged, Some(tip));
            }
        }
    }
}

/// Builds `history` (oldest first, each commit as `(message, parents)`) on agent `main`.
fn graph_of(history: &[(&str, &[&str])]) -> Graph {
    let mut graph = Graph::default();
    let mut ids: BTreeMap<&str, String> = BTreeMap::new();
    for (lsn, (message, parents)) in (1..).zip(history) {
        let parents: Vec<&String> = parents.iter().map(|parent| &ids[parent]).collect();
        let data = json!({"kind": "append", "message": message, "content": message,
            "tokens": 1, "parents": parents});
        graph.apply(lsn, &commit_event("main", data).to_ref());
        ids.insert(
            message,
            graph.refs("main").head_commit().unwrap().to_owned(),
        );
    }
    graph
}

/// A topic branch merged into main twice, then worked on again, one commit a second.
fn merged_twice() -> Graph {
    graph_of(&[
        ("base", &[]),
        ("main-1", &["base"]),
        ("topic-1", &["base"]),
        ("merge-1", &["main-1", "topic-1"]),
        ("topic-2", &["topic-1"]),
        ("main-2", &["merge-1"]),
        ("merge-2", &["main-2", "topic-2"]),
        ("topic-3", &["topic-2"]),
    ])
}

#[test]
fn topo_order_lists_a_merged_branch_right_after_the_merge_as_git_does() {
    let graph = merged_twice();
    let tips: Vec<String> = graph
        .commits()
        .filter(|commit| ["merge-2", "topic-3"].contains(&commit.message.as_str()))
        .map(|commit| commit.id.clone())
        .collect();
    let tips: Vec<&str> = tips.iter().map(String::as_str).collect();
    let messages = |commits: Vec<&Commit>| -> Vec<String> {
        commits
            .iter()
            .map(|commit| commit.message.clone())
            .collect()
    };
    // `git log --graph --all --format=%s` on the same history, one commit a second.
    let git = [
        "topic-3", "merge-2", "topic-2", "main-2", "merge-1", "topic-1", "main-1", "base",
    ];
    assert_eq!(messages(graph.topo_order(&tips, None)), git);
    assert_eq!(messages(graph.topo_order(&tips, Some(3))), git[..3]);
    let by_lsn = [
        "topic-3", "merge-2", "main-2", "topic-2", "merge-1", "topic-1", "main-1", "base",
    ];
    assert_eq!(messages(graph.newest_first(&tips, None)), by_lsn);
}

#[test]
fn reachable_only_from_is_what_the_tip_reaches_and_the_kept_tips_do_not() {
    let graph = merged_twice();
    let id = |message: &str| {
        let found = graph.commits().find(|commit| commit.message == message);
        found.unwrap().id.clone()
    };
    let messages = |tip: &str, kept: &[&str]| -> Vec<String> {
        let kept: Vec<String> = kept.iter().map(|message| id(message)).collect();
        let kept: Vec<&str> = kept.iter().map(String::as_str).collect();
        let only = graph.reachable_only_from(&id(tip), &kept);
        only.iter().map(|commit| commit.message.clone()).collect()
    };
    assert_eq!(messages("topic-3", &["merge-2"]), ["topic-3"]);
    assert_eq!(
        messages("merge-2", &["topic-3"]),
        ["merge-2", "main-2", "merge-1", "main-1"]
    );
    assert!(messages("base", &["topic-3"]).is_empty());
    assert!(messages("merge-1", &["merge-2", "topic-3"]).is_empty());
    assert_eq!(messages("topic-2", &["main-1"]), ["topic-2", "topic-1"]);
    // Against the set difference of everything reachable, for every pair.
    let all: Vec<String> = graph.commits().map(|commit| commit.id.clone()).collect();
    for tip in &all {
        for kept in &all {
            let from_kept: HashSet<&str> = graph
                .newest_first(&[kept], None)
                .iter()
                .map(|commit| commit.id.as_str())
                .collect();
            let expected: Vec<&str> = graph
                .newest_first(&[tip], None)
                .iter()
                .map(|commit| commit.id.as_str())
                .filter(|id| !from_kept.contains(id))
                .collect();
            let only: Vec<&str> = graph
                .reachable_only_from(tip, &[kept])
                .iter()
                .map(|commit| commit.id.as_str())
                .collect();
            assert_eq!(only, expected);
        }
    }
}
