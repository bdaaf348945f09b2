//! The revision syntax alone, then walks through a small graph with a merge: every step,
//! chains of them, HEAD attached and detached, and each error naming the revision.

use super::*;
use crate::event::{Event, EventType};
use serde_json::{json, Value as Json};

fn parsed(text: &str) -> (Base<'_>, Vec<Step>) {
    let revision = Revision::parse(text).unwrap();
    (revision.base, revision.steps)
}

fn bad(text: &str) -> String {
    match Revision::parse(text) {
        Err(ContextError::BadRevision { rev, reason }) => {
            assert_eq!(rev, text);
            reason
        }
        other => panic!("{text:?} parsed as {other:?}"),
    }
}

#[test]
fn a_base_alone_has_no_steps() {
    assert_eq!(parsed("main"), (Base::Name("main"), vec![]));
    assert_eq!(parsed("HEAD"), (Base::Head, vec![]));
    assert_eq!(parsed("0a1b2c"), (Base::Name("0a1b2c"), vec![]));
    // Only the whole word is HEAD.
    assert_eq!(parsed("HEADS"), (Base::Name("HEADS"), vec![]));
    assert_eq!(parsed("head"), (Base::Name("head"), vec![]));
}

#[test]
fn steps_chain_with_counts_defaulting_to_one() {
    use Step::{Ancestor, Parent};
    assert_eq!(parsed("main~"), (Base::Name("main"), vec![Ancestor(1)]));
    assert_eq!(parsed("main~3"), (Base::Name("main"), vec![Ancestor(3)]));
    assert_eq!(parsed("HEAD^"), (Base::Head, vec![Parent(1)]));
    assert_eq!(parsed("HEAD^0"), (Base::Head, vec![Parent(0)]));
    assert_eq!(
        parsed("main~2^2~1"),
        (
            Base::Name("main"),
            vec![Ancestor(2), Parent(2), Ancestor(1)]
        )
    );
    assert_eq!(
        parsed("abcd^^~~10"),
        (
            Base::Name("abcd"),
            vec![Parent(1), Parent(1), Ancestor(1), Ancestor(10)]
        )
    );
    assert_eq!(parsed("x~007"), (Base::Name("x"), vec![Ancestor(7)]));
}

#[test]
fn bad_syntax_is_refused_naming_what_is_wrong() {
    assert!(bad("").contains("names no commit"));
    assert!(bad("~1").contains("names no commit"));
    assert!(bad("^2").contains("names no commit"));
    assert!(bad("main~x").contains("'x' after ~"), "{}", bad("main~x"));
    assert!(
        bad("main^2a").contains("'a' after ^2"),
        "{}",
        bad("main^2a")
    );
    assert!(bad("main^{commit}").contains("'{' after ^"));
    assert!(bad("HEAD~99999999999").contains("too large"));
    let message = ContextError::BadRevision {
        rev: "main~x".into(),
        reason: "r".into(),
    }
    .to_string();
    assert!(
        message.starts_with("\"main~x\" is not a revision"),
        "{message}"
    );
}

fn commit(graph: &mut Graph, lsn: u64, agent: &str, content: &str, parents: &[&str]) -> String {
    let data = json!({"kind": "append", "message": content, "content": content, "tokens": 1,
        "parents": parents, "move_head": false});
    let Json::Object(data) = data else {
        unreachable!()
    };
    let event = Event::new(EventType::Commit, None, Some(agent.into()), data).unwrap();
    graph.apply_owned(lsn, &event);
    let id = graph.commits().last().unwrap().id.clone();
    assert_eq!(graph.commit(&id).unwrap().message, content);
    id
}

fn set_refs(graph: &mut Graph, lsn: u64, agent: &str, head: Json, branches: Json) {
    let data = json!({"op": "branch", "agent": agent, "head": head, "branches": branches});
    let Json::Object(data) = data else {
        unreachable!()
    };
    let event = Event::new(EventType::RefUpdate, None, Some(agent.into()), data).unwrap();
    graph.apply_owned(lsn, &event);
}

/// `root - a - b - m - c` on main, where `m` merges `b` (first parent) and `x`, forked at
/// `a`; `side` at `x`; HEAD on main. Agent `other` has one commit.
struct Sample {
    graph: Graph,
    root: String,
    a: String,
    b: String,
    x: String,
    m: String,
    c: String,
    other: String,
}

fn sample() -> Sample {
    let mut graph = Graph::default();
    let root = commit(&mut graph, 1, "main", "root", &[]);
    let a = commit(&mut graph, 2, "main", "a", &[&root]);
    let x = commit(&mut graph, 3, "main", "x", &[&a]);
    let b = commit(&mut graph, 4, "main", "b", &[&a]);
    let m = commit(&mut graph, 5, "main", "m", &[&b, &x]);
    let c = commit(&mut graph, 6, "main", "c", &[&m]);
    let other = commit(&mut graph, 7, "other", "o", &[]);
    let branches = json!({"main": c, "side": x, "odd~1": root});
    set_refs(&mut graph, 8, "main", json!({"branch": "main"}), branches);
    assert_eq!(graph.rejected(), 0);
    Sample {
        graph,
        root,
        a,
        b,
        x,
        m,
        c,
        other,
    }
}

fn resolved(sample: &Sample, text: &str) -> Result<String, ContextError> {
    resolve(&sample.graph, "main", text, IdScope::Agent)
}

#[test]
fn steps_walk_first_parents_and_numbered_parents() {
    let s = sample();
    let expect = [
        ("HEAD", &s.c),
        ("main", &s.c),
        ("HEAD^0", &s.c),
        ("main~", &s.m),
        ("main^", &s.m),
        ("main~1", &s.m),
        ("main~2", &s.b),
        ("main^^", &s.b),
        ("main~1^1", &s.b),
        ("main~1^2", &s.x),
        ("main~1^2~1", &s.a),
        ("main~1^2^", &s.a),
        ("main~4", &s.root),
        ("HEAD~3", &s.a),
        ("side~2", &s.root),
        ("main~0", &s.c),
    ];
    for (text, id) in expect {
        assert_eq!(&resolved(&s, text).unwrap(), id, "{text}");
    }
    // An id prefix takes steps too, and a merge's ^2 leaves its first-parent line.
    let prefix = format!("{}^2", &s.m[..8]);
    assert_eq!(resolved(&s, &prefix).unwrap(), s.x);
}

#[test]
fn head_follows_a_detached_head() {
    let mut s = sample();
    let branches = json!({"main": s.c});
    set_refs(&mut s.graph, 9, "main", json!({"detached": s.x}), branches);
    assert_eq!(resolved(&s, "HEAD").unwrap(), s.x);
    assert_eq!(resolved(&s, "HEAD~1").unwrap(), s.a);
}

#[test]
fn walking_past_a_root_names_the_revision_and_the_root() {
    let s = sample();
    let error = resolved(&s, "main~5").unwrap_err();
    assert_eq!(
        error,
        ContextError::PastRoot {
            rev: "main~5".into(),
            root: short_id(&s.root).into()
        }
    );
    assert!(error.to_string().contains("\"main~5\""), "{error}");
    assert!(matches!(
        resolved(&s, "side~2^"),
        Err(ContextError::PastRoot { .. })
    ));
}

#[test]
fn a_parent_a_commit_does_not_have_is_refused() {
    let s = sample();
    let error = resolved(&s, "main~1^3").unwrap_err();
    assert_eq!(
        error,
        ContextError::NoSuchParent {
            rev: "main~1^3".into(),
            commit: short_id(&s.m).into(),
            parent: 3,
            parents: 2,
        }
    );
    assert!(
        error.to_string().ends_with("which has only 2 parents"),
        "{error}"
    );
    let error = resolved(&s, "main^2").unwrap_err();
    assert!(
        error.to_string().ends_with("which has only 1 parent"),
        "{error}"
    );
}

#[test]
fn head_of_an_agent_without_commits_is_refused_naming_the_revision() {
    let s = sample();
    let error = resolve(&s.graph, "nobody", "HEAD~1", IdScope::Agent).unwrap_err();
    assert_eq!(
        error,
        ContextError::UnbornHead {
            rev: "HEAD~1".into(),
            agent: "nobody".into(),
            branch: "main".into()
        }
    );
}

#[test]
fn prefixes_stay_in_scope_and_old_branch_names_keep_their_meaning() {
    let s = sample();
    let prefix = &s.other[..10];
    assert!(matches!(
        resolved(&s, prefix),
        Err(ContextError::OtherAgent { .. })
    ));
    let any = resolve(&s.graph, "main", prefix, IdScope::AnyAgent);
    assert_eq!(any.unwrap(), s.other);
    // A branch named `odd~1` before `~` was syntax: the whole name wins...
    assert_eq!(resolved(&s, "odd~1").unwrap(), s.root);
    // ... and `odd` alone is no branch and no hex prefix.
    assert!(matches!(
        resolved(&s, "odd~2"),
        Err(ContextError::NotHex { .. })
    ));
}
