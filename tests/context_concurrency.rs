//! Context operations from several threads and processes at once: each agent's ref moves are
//! serialized (`context::lock`), so no commit, branch or ref move is lost to another one that
//! decided from the same graph; `gc` and `purge` wait for them; and an operation that cannot
//! get its lock in time fails having recorded nothing.

#[path = "common/context_lib.rs"]
mod context_lib;

use agentrail::context::lock::RefLock;
use agentrail::context::{Agent, CommitKind, CommitRequest, ContextError};
use agentrail::journal::Durability;
use agentrail::recorder::Recorder;
use agentrail::workspace::Workspace;
use agentrail::Error;
use context_lib::contents;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

const THREADS: usize = 4;
const COMMITS_PER_THREAD: usize = 12;

fn workspace(temp: &tempfile::TempDir) -> PathBuf {
    let root = temp.path().join(".agentrail");
    Workspace::init(&root, 65536).unwrap();
    root
}

/// A recorder of its own, as another process has.
fn open(root: &Path) -> Recorder {
    Recorder::open(Workspace::open(root).unwrap(), Durability::Never).unwrap()
}

fn request(content: String) -> CommitRequest {
    CommitRequest {
        kind: CommitKind::Append,
        message: content.clone(),
        content,
        target: None,
        tokens: Some(1),
    }
}

#[test]
fn concurrent_commits_on_one_agent_all_stay_on_its_branch() {
    let temp = tempfile::tempdir().unwrap();
    let root = workspace(&temp);
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let root = &root;
            scope.spawn(move || {
                let recorder = open(root);
                let agent = Agent::new(&recorder, "main", None);
                for index in 0..COMMITS_PER_THREAD {
                    agent.commit(request(format!("{thread}-{index}"))).unwrap();
                }
            });
        }
    });
    let recorder = open(&root);
    let agent = Agent::new(&recorder, "main", None);
    let blocks = contents(&agent);
    assert_eq!(blocks.len(), THREADS * COMMITS_PER_THREAD, "{blocks:?}");
    let expected: BTreeSet<String> = (0..THREADS)
        .flat_map(|thread| (0..COMMITS_PER_THREAD).map(move |index| format!("{thread}-{index}")))
        .collect();
    assert_eq!(blocks.into_iter().collect::<BTreeSet<_>>(), expected);
    // One line of history: every commit's parent is the commit recorded before it.
    let graph = agent.graph().unwrap();
    let head = graph.refs("main").head_commit().unwrap().to_owned();
    assert_eq!(
        graph.topological(&[&head]).len(),
        THREADS * COMMITS_PER_THREAD
    );
}

#[test]
fn branches_created_while_another_thread_commits_are_all_kept() {
    let temp = tempfile::tempdir().unwrap();
    let root = workspace(&temp);
    let recorder = open(&root);
    let agent = Agent::new(&recorder, "main", None);
    agent.commit(request("root".into())).unwrap();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let recorder = open(&root);
            let agent = Agent::new(&recorder, "main", None);
            for index in 0..COMMITS_PER_THREAD {
                agent.commit(request(format!("work {index}"))).unwrap();
            }
        });
        scope.spawn(|| {
            let recorder = open(&root);
            let agent = Agent::new(&recorder, "main", None);
            for index in 0..COMMITS_PER_THREAD {
                agent.branch(&format!("b{index}"), None).unwrap();
            }
        });
    });
    let recorder = open(&root);
    let agent = Agent::new(&recorder, "main", None);
    let refs = agent.graph().unwrap().refs("main");
    let branches: Vec<&String> = refs.branches.keys().collect();
    assert_eq!(branches.len(), COMMITS_PER_THREAD + 1, "{branches:?}");
    assert_eq!(contents(&agent).len(), COMMITS_PER_THREAD + 1);
}

#[test]
fn an_operation_that_cannot_get_its_lock_in_time_records_nothing() {
    let temp = tempfile::tempdir().unwrap();
    let root = workspace(&temp);
    let recorder = open(&root);
    let agent = Agent::new(&recorder, "main", None).with_lock_wait(Duration::from_millis(50));
    agent.commit(request("before".into())).unwrap();
    let last = recorder.journal().last_lsn();
    let held = RefLock::all(&root.join("locks"), Duration::ZERO).unwrap();
    let error = agent.commit(request("blocked".into())).unwrap_err();
    match error {
        Error::Context(ContextError::RefsBusy {
            agent,
            lock,
            waited_ms,
        }) => {
            assert_eq!(agent, None);
            assert_eq!(lock, root.join("locks").join("context.lock"));
            assert_eq!(waited_ms, 50);
        }
        other => panic!("{other}"),
    }
    assert!(agent.branch("topic", None).is_err());
    assert_eq!(recorder.journal().last_lsn(), last);
    // Another agent's operation waits for gc as well; once it is done, all go on.
    let other = Agent::new(&recorder, "other", None).with_lock_wait(Duration::from_millis(50));
    assert!(other.commit(request("blocked".into())).is_err());
    drop(held);
    agent.commit(request("after".into())).unwrap();
    assert_eq!(contents(&agent), ["before", "after"]);
    // An agent's lock file is named by a hash of its name: the error names the agent.
    let held = RefLock::agents(&root.join("locks"), ["main"], Duration::ZERO).unwrap();
    let error = agent.commit(request("blocked".into())).unwrap_err();
    assert!(
        matches!(&error, Error::Context(ContextError::RefsBusy { agent: Some(name), .. }) if name == "main"),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .starts_with("another operation on the refs of agent \"main\" holds "),
        "{error}"
    );
    drop(held);
}

#[test]
fn an_agent_holding_its_lock_does_not_block_other_agents() {
    let temp = tempfile::tempdir().unwrap();
    let root = workspace(&temp);
    let recorder = open(&root);
    let main = Agent::new(&recorder, "main", None).with_lock_wait(Duration::from_millis(50));
    let (held, _graph) = main.lock_graph(&[]).unwrap();
    let other = Agent::new(&recorder, "other", None).with_lock_wait(Duration::from_millis(50));
    other.commit(request("free".into())).unwrap();
    assert!(main.commit(request("busy".into())).is_err());
    drop(held);
    main.commit(request("free".into())).unwrap();
}

#[test]
fn gc_waits_for_operations_in_flight() {
    let temp = tempfile::tempdir().unwrap();
    let root = workspace(&temp);
    let recorder = open(&root);
    let main = Agent::new(&recorder, "main", None);
    main.commit(request("kept".into())).unwrap();
    let (held, _graph) = main.lock_graph(&[]).unwrap();
    let (started, starting) = std::sync::mpsc::channel();
    let gc = std::thread::spawn({
        let root = root.clone();
        move || {
            let recorder = open(&root);
            let policy = agentrail::context::gc::Policy {
                retention_days: 30,
                collect_collapsed_children: false,
                now_micros: 0,
            };
            started.send(()).unwrap();
            agentrail::context::gc::collect_garbage(&recorder, &policy, false).unwrap();
        }
    });
    starting.recv().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(!gc.is_finished(), "gc ran while an operation held its lock");
    drop(held);
    gc.join().unwrap();
}
