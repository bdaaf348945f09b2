//! Issue 4: a crash in the middle of any context operation leaves the refs as they were before
//! it or as they are after it, never in between (`format-spec/events.md`, sections 7 and 7.1).
//!
//! The library test runs every operation that moves refs on a small scenario, then cuts the
//! journal on disk after each record the operation appended, and inside each (a torn record,
//! which recovery drops), opens the cut workspace as a restarted process would (journal
//! recovery, the graph projection from its checkpoint) and checks that every agent's refs and
//! the context materialized at its HEAD are, all together, the state before or the state after.
//!
//! One more library test: a compression that would lose a pin fails; no cut of what it
//! appends may leave the refs on a context without the pin.
//!
//! The process tests kill real `agentrail` processes with SIGKILL at staggered moments and
//! while their batch is being written, and check the same through the CLI after `verify`: a
//! rebase of a few thousand commits (until at least one kill has cut its batch), and a merge, a
//! compression and a collapse whose resolver or summarizer sleeps (until kills have left both
//! the state before and the state after).

mod common;
#[path = "common/context_lib.rs"]
mod context_lib;

use agentrail::context::{
    materialize, Agent, CommitKind, CommitRequest, Conflict, Generated, Graph, Refs, ResetMode,
    Unrelated,
};
use agentrail::journal::Durability;
use agentrail::recorder::Recorder;
use agentrail::workspace::Workspace;
use common::{active_frames, copy_dir, fast_tempdir, segment_names, FRAME_HEADER_BYTES};
use context_lib::{append, commit};
use std::collections::BTreeMap;
use std::path::Path;

/// Big enough that every scenario stays in one active segment, whose frames the test can cut.
const SEGMENT_BYTES: u64 = 4 * 1024 * 1024;

/// What a restarted process sees of one agent: its refs, and the blocks (kind, content) of the
/// context at its HEAD.
type AgentState = (Refs, Vec<(CommitKind, String)>);

/// Every agent's state, by agent name.
type State = BTreeMap<String, AgentState>;

fn open(root: &Path) -> Recorder {
    Recorder::open(Workspace::open(root).unwrap(), Durability::Never).unwrap()
}

/// The state of `agents` (and of every agent with refs) as the recorder's graph shows it.
fn state_of(recorder: &Recorder, agents: &[&str]) -> State {
    let graph = recorder.load::<Graph>().unwrap().state;
    assert_eq!(
        graph.rejected(),
        0,
        "an operation wrote an event the graph rejects"
    );
    let mut names: Vec<String> = graph.agents().map(str::to_owned).collect();
    names.extend(agents.iter().map(|agent| (*agent).to_owned()));
    names
        .into_iter()
        .map(|name| {
            let refs = graph.refs(&name);
            let context = materialize(recorder.journal(), &graph, refs.head_commit()).unwrap();
            let blocks = context
                .blocks
                .into_iter()
                .map(|block| (block.kind, block.content))
                .collect();
            (name, (refs, blocks))
        })
        .collect()
}

/// Where to cut the active segment for the records `first..=last`: at the start of each (the
/// shorter prefix), inside its header, inside its body and one byte short of its end (torn
/// records), and at the end of the last (the whole operation). Each with the number of
/// records of the operation a correct recovery keeps.
fn cuts(segment: &[u8], first: u64, last: u64) -> Vec<(usize, u64)> {
    let frames = active_frames(segment);
    let ours: Vec<_> = frames.iter().filter(|frame| frame.lsn >= first).collect();
    assert_eq!(ours.len() as u64, last + 1 - first, "the op's records");
    let mut cuts = Vec::new();
    for (kept, frame) in ours.iter().enumerate() {
        let kept = kept as u64;
        cuts.push((frame.start, kept));
        cuts.push((frame.start + FRAME_HEADER_BYTES / 2, kept));
        cuts.push((
            frame.start + FRAME_HEADER_BYTES + (frame.end - frame.start) / 3,
            kept,
        ));
        cuts.push((frame.end - 1, kept));
    }
    cuts.push((ours[ours.len() - 1].end, last + 1 - first));
    cuts
}

/// Builds a workspace with `setup`, runs `op` on it, then checks every cut of the records `op`
/// appended: the recovered journal keeps the whole records before the cut, and the state is
/// the one before `op` until its last record is kept, the one after once it is. `agents` names
/// the agents to compare besides those with refs (a child that exists only after a spawn).
fn check_every_cut(
    name: &str,
    agents: &[&str],
    setup: impl FnOnce(&Recorder),
    op: impl FnOnce(&Recorder),
) {
    check_cuts(name, agents, setup, op, true);
}

/// [`check_every_cut`] for an operation that `changes` the state, or that fails after it
/// appended records (every cut must then show the state before it).
fn check_cuts(
    name: &str,
    agents: &[&str],
    setup: impl FnOnce(&Recorder),
    op: impl FnOnce(&Recorder),
    changes: bool,
) {
    let temp = fast_tempdir();
    let root = temp.path().join("ws");
    let recorder = Recorder::open(
        Workspace::init(&root, SEGMENT_BYTES).unwrap(),
        Durability::Never,
    )
    .unwrap();
    setup(&recorder);
    let first = recorder.journal().last_lsn() + 1;
    let before = state_of(&recorder, agents);
    op(&recorder);
    let last = recorder.journal().last_lsn();
    let after = state_of(&recorder, agents);
    recorder.close();
    if !changes {
        assert_eq!(
            before, after,
            "{name}: the failed operation changed the state"
        );
        if last < first {
            return;
        }
    }
    assert!(last >= first, "{name}: the operation appended nothing");
    if changes {
        assert_ne!(before, after, "{name}: the operation changed nothing");
    }

    let journal_dir = root.join("journal");
    let segments = segment_names(&journal_dir);
    let active = segments.last().unwrap();
    assert_eq!(
        segments.len(),
        1,
        "{name}: the scenario outgrew one segment"
    );
    let segment = std::fs::read(journal_dir.join(active)).unwrap();
    let mut seen = (0, 0);
    for (case, (cut_at, kept)) in cuts(&segment, first, last).into_iter().enumerate() {
        let copy = temp.path().join(format!("cut-{case}"));
        let (last_lsn, state) = recovered_after_cut(&root, &copy, active, cut_at, agents);
        let context = format!("{name}: cut at byte {cut_at} (after {kept} of the op's records)");
        // The operation is one append, stored whole or not at all (`format-spec/journal.md`
        // section 11): a cut inside it leaves none of it.
        let whole = first + kept > last;
        assert_eq!(last_lsn, if whole { last } else { first - 1 }, "{context}");
        let expected = if whole { &after } else { &before };
        assert!(
            state == *expected,
            "{context}: the refs are {}\n  state: {state:#?}\n  before: {before:#?}\n  after: {after:#?}",
            if state == before || state == after { "the wrong side" } else { "neither before nor after" }
        );
        if state == before {
            seen.0 += 1
        } else {
            seen.1 += 1
        }
    }
    assert!(
        !changes || (seen.0 > 0 && seen.1 > 0),
        "{name}: cuts saw {seen:?} (before, after)"
    );
}

/// Copies the workspace `root` to `copy`, cuts its `active` segment at byte `cut_at`, opens it
/// as a restarted process would, and returns the last LSN recovery kept and the state; then
/// removes the copy.
fn recovered_after_cut(
    root: &Path,
    copy: &Path,
    active: &str,
    cut_at: usize,
    agents: &[&str],
) -> (u64, State) {
    copy_dir(root, copy);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(copy.join("journal").join(active))
        .unwrap();
    file.set_len(cut_at as u64).unwrap();
    drop(file);
    let recovered = open(copy);
    let last_lsn = recovered.journal().last_lsn();
    let state = state_of(&recovered, agents);
    recovered.close();
    std::fs::remove_dir_all(copy).unwrap();
    (last_lsn, state)
}

fn main_agent(recorder: &Recorder) -> Agent<'_> {
    Agent::new(recorder, "main", Some("s-1".into()))
}

/// `base` and `shared` on main, branch `topic` at `shared`, then `ours` and a pin on main and
/// `theirs` on topic; HEAD on main.
fn diverged(recorder: &Recorder) {
    let agent = main_agent(recorder);
    append(&agent, "base");
    append(&agent, "shared");
    agent.branch("topic", None).unwrap();
    append(&agent, "ours");
    commit(&agent, CommitKind::Pin, "rule: be brief", None);
    agent.switch("topic").unwrap();
    append(&agent, "theirs");
    append(&agent, "more of theirs");
    agent.switch("main").unwrap();
}

/// Five commits on main: a, b (pinned), c, an edit of c, e.
fn line(recorder: &Recorder) -> Vec<String> {
    let agent = main_agent(recorder);
    let a = append(&agent, "a");
    let b = commit(&agent, CommitKind::Pin, "b is pinned", None);
    let c = append(&agent, "c");
    let d = commit(&agent, CommitKind::Edit, "c, edited", Some(&c));
    let e = append(&agent, "e");
    vec![a, b, c, d, e]
}

fn summary(
    content: &str,
) -> impl FnMut(&agentrail::context::CompressInput) -> agentrail::Result<Generated> + '_ {
    move |_| {
        Ok(Generated {
            content: content.to_owned(),
            usage: None,
        })
    }
}

#[test]
fn every_cut_of_a_ref_moving_operation_leaves_the_refs_before_or_after_it() {
    check_every_cut("commit", &[], line_of_one, |r| {
        append(&main_agent(r), "one more");
    });
    check_every_cut(
        "first commit",
        &[],
        |_| {},
        |r| {
            append(&main_agent(r), "first");
        },
    );
    check_every_cut("branch", &[], diverged, |r| {
        main_agent(r).branch("side", Some("topic")).unwrap();
    });
    check_every_cut("switch", &[], diverged, |r| {
        main_agent(r).switch("topic").unwrap();
    });
    check_every_cut("checkout", &[], diverged, |r| {
        main_agent(r).checkout("topic~0").unwrap();
    });
    for mode in [ResetMode::Soft, ResetMode::Hard] {
        check_every_cut(
            &format!("reset {}", mode.as_str()),
            &[],
            diverged,
            move |r| {
                main_agent(r).reset(mode, "topic").unwrap();
            },
        );
    }
    check_every_cut("undo", &[], diverged, |r| {
        main_agent(r).undo().unwrap();
    });
    check_every_cut(
        "branch -d",
        &[],
        |r| {
            diverged(r);
            main_agent(r).branch("merged", Some("main~1")).unwrap();
        },
        |r| {
            main_agent(r).delete_branch("merged", false).unwrap();
        },
    );
    check_every_cut("branch -D", &[], diverged, |r| {
        main_agent(r).delete_branch("topic", true).unwrap();
    });
}

fn line_of_one(recorder: &Recorder) {
    append(&main_agent(recorder), "only");
}

#[test]
fn every_cut_of_a_merge_leaves_the_refs_before_or_after_it() {
    check_every_cut("merge, clean", &[], diverged, |r| {
        main_agent(r)
            .merge("topic", None, None, Unrelated::Refuse)
            .unwrap();
    });
    check_every_cut(
        "merge, fast-forward",
        &[],
        |r| {
            diverged(r);
            main_agent(r).branch("ahead", Some("main")).unwrap();
            main_agent(r).switch("ahead").unwrap();
            append(&main_agent(r), "ahead of main");
            main_agent(r).switch("main").unwrap();
        },
        |r| {
            main_agent(r)
                .merge("ahead", None, None, Unrelated::Refuse)
                .unwrap();
        },
    );
    let conflicted = |r: &Recorder| {
        let agent = main_agent(r);
        let block = append(&agent, "the plan");
        commit(&agent, CommitKind::Pin, "rule", None);
        agent.branch("topic", None).unwrap();
        commit(&agent, CommitKind::Edit, "the plan, ours", Some(&block));
        agent.switch("topic").unwrap();
        commit(&agent, CommitKind::Edit, "the plan, theirs", Some(&block));
        agent.switch("main").unwrap();
    };
    check_every_cut("merge, resolved", &[], conflicted, |r| {
        let mut resolver = |conflict: &Conflict| -> agentrail::Result<Generated> {
            Ok(Generated {
                content: format!("{} + {}", conflict.ours.content, conflict.theirs.content),
                usage: Some(agentrail::context::LlmUsage {
                    model: "test-model".into(),
                    input_tokens: 10,
                    output_tokens: 5,
                }),
            })
        };
        main_agent(r)
            .merge("topic", None, Some(&mut resolver), Unrelated::Refuse)
            .unwrap();
    });
}

#[test]
fn every_cut_of_a_rewrite_leaves_the_refs_before_or_after_it() {
    check_every_cut("rebase", &[], diverged, |r| {
        main_agent(r).rebase("topic", None).unwrap();
    });
    for respect_pins in [false, true] {
        check_every_cut(
            &format!("compress, respect_pins {respect_pins}"),
            &[],
            |r| {
                line(r);
            },
            move |r| {
                let agent = main_agent(r);
                let line = first_parent_ids(&agent);
                let range = format!("{}..{}", &line[0][..8], &line[3][..8]);
                agent
                    .compress(
                        &range,
                        respect_pins,
                        None,
                        &mut summary("b to d, summarized"),
                    )
                    .unwrap();
            },
        );
    }
    check_every_cut(
        "reorder",
        &[],
        |r| {
            line(r);
        },
        |r| {
            let agent = main_agent(r);
            let line = first_parent_ids(&agent);
            let range = format!("{}..{}", &line[0][..8], &line[2][..8]);
            let order = [line[2][..8].to_owned(), line[1][..8].to_owned()];
            agent.reorder(&range, &order, false).unwrap();
        },
    );
}

#[test]
fn every_cut_of_a_compression_that_would_lose_a_pin_leaves_the_refs_before_it() {
    // Pinning content already in the context pins the earlier block (identical blocks are
    // kept once), so the range holds the pin but not the block it pins: the summary would drop
    // the pin, and the compression fails. No cut of what it appends may show the pin lost.
    check_cuts(
        "compress losing a pin",
        &[],
        |r| {
            let agent = main_agent(r);
            append(&agent, "keep me");
            let request = CommitRequest {
                kind: CommitKind::Pin,
                message: "rule".into(),
                content: "keep me".into(),
                target: None,
                tokens: Some(7),
            };
            agent.commit(request).unwrap();
            append(&agent, "long story");
        },
        |r| {
            let agent = main_agent(r);
            let line = first_parent_ids(&agent);
            let range = format!("{}..{}", &line[0][..8], &line[2][..8]);
            let failed = agent.compress(&range, true, None, &mut summary("short"));
            assert!(failed.is_err(), "the compression kept the pin: {failed:?}");
        },
        false,
    );
}

/// HEAD's first-parent line of main, oldest first.
fn first_parent_ids(agent: &Agent) -> Vec<String> {
    let graph = agent.graph().unwrap();
    let mut line = Vec::new();
    let mut at = graph.refs("main").head_commit().map(str::to_owned);
    while let Some(id) = at {
        at = graph.commit(&id).unwrap().parents.first().cloned();
        line.push(id);
    }
    line.reverse();
    line
}

#[test]
fn every_cut_of_a_spawn_or_collapse_leaves_both_agents_before_or_after_it() {
    check_every_cut("spawn", &["helper"], diverged, |r| {
        main_agent(r)
            .spawn("helper", Some("find the flaky test"))
            .unwrap();
    });
    check_every_cut(
        "spawn from an unborn parent",
        &["helper"],
        |_| {},
        |r| {
            main_agent(r).spawn("helper", None).unwrap();
        },
    );
    check_every_cut(
        "collapse",
        &[],
        |r| {
            diverged(r);
            main_agent(r).spawn("helper", Some("find it")).unwrap();
            append(&Agent::new(r, "helper", None), "found: a race");
        },
        |r| {
            main_agent(r)
                .collapse("helper", None, |context| {
                    Ok(format!("{} blocks", context.blocks.len()))
                })
                .unwrap();
        },
    );
}

const BIN: &str = env!("CARGO_BIN_EXE_agentrail");
/// Commits the killed rebase replays: a batch of about 1 MB, over many 64 KiB segments.
const REBASED_COMMITS: usize = 2000;
/// Kills of the rebase at least: even ones at staggered moments from its start to past its
/// end, odd ones at a random moment after its batch started reaching the disk (most of a run
/// is computing the batch, so staggered kills alone would seldom cut it).
const KILLS: u32 = 10;
/// Kills of the rebase at most: after [`KILLS`], rounds go on until one kill has cut the batch.
const KILLS_MAX: u32 = 40;
/// Kills of a merge, compress or collapse at least, and at most: rounds go on until kills have
/// left both the state before and the state after.
const SHORT_OP_KILLS: u32 = 4;
const SHORT_OP_KILLS_MAX: u32 = 12;

fn agentrail(workdir: &Path, sync: &str, args: &[&str]) -> std::process::Command {
    let mut command = std::process::Command::new(BIN);
    command
        .current_dir(workdir)
        .env_remove("AGENTRAIL_DIR")
        .env_remove("AGENTRAIL_AGENT")
        .env("AGENTRAIL_SYNC", sync)
        .args(args);
    command
}

/// Runs a command that must succeed; its stdout as JSON when it prints JSON.
fn run_json(workdir: &Path, args: &[&str]) -> serde_json::Value {
    let output = agentrail(workdir, "never", args).output().unwrap();
    assert!(
        output.status.success(),
        "agentrail {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or(serde_json::Value::Null)
}

/// Imports `count` commits of `agent` on its HEAD, in one sync.
fn import_line(workdir: &Path, agent: &str, count: usize) {
    let lines: String = (0..count)
        .map(|step| {
            let event = serde_json::json!({
                "ts": "2026-01-02T03:04:05.000000Z",
                "type": "commit",
                "agent": agent,
                "data": {"kind": "append", "message": format!("step {step}"),
                         "content": format!("step {step} of the long task"), "tokens": 7},
            });
            format!("{event}\n")
        })
        .collect();
    std::fs::write(workdir.join("commits.jsonl"), lines).unwrap();
    run_json(workdir, &["import", "commits.jsonl"]);
}

/// `base`, branch `topic` at it, thousands of commits on main (imported in one sync), and one
/// commit on topic; HEAD on main, so `rebase topic` replays every commit of main.
fn rebase_scenario(workdir: &Path) {
    run_json(workdir, &["init", "--segment-bytes", "65536"]);
    run_json(workdir, &["commit", "--content", "base", "-m", "base"]);
    run_json(workdir, &["branch", "topic"]);
    import_line(workdir, "main", REBASED_COMMITS);
    run_json(workdir, &["switch", "topic"]);
    run_json(workdir, &["commit", "--content", "theirs", "-m", "theirs"]);
    run_json(workdir, &["switch", "main"]);
}

/// What the CLI shows of an agent after a restart: the contents of the context at HEAD, the
/// branches, and the reflog (newest first).
struct Shown {
    contents: Vec<serde_json::Value>,
    branches: serde_json::Value,
    moves: Vec<serde_json::Value>,
    last_lsn: u64,
}

fn shown(workdir: &Path, agent: &str) -> Shown {
    let agent = ["--agent", agent];
    let context = run_json(workdir, &["context", "--json", agent[0], agent[1]]);
    let contents = context["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|block| block["content"].clone())
        .collect();
    let reflog = run_json(workdir, &["reflog", "--json", agent[0], agent[1]]);
    let status = run_json(workdir, &["status", "--json"]);
    let branches = ["branch", "--list", "--json", agent[0], agent[1]];
    Shown {
        contents,
        branches: run_json(workdir, &branches),
        moves: reflog["moves"].as_array().unwrap().clone(),
        last_lsn: status["journal"]["last_lsn"].as_u64().unwrap(),
    }
}

fn seed() -> u64 {
    let seed = std::env::var("AGENTRAIL_TEST_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or_else(|| {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
            now.map_or(1, |since| since.as_nanos() as u64)
        });
    eprintln!("AGENTRAIL_TEST_SEED={seed}");
    seed
}

/// An operation to kill: its `op` in the reflog, its arguments, the agent whose refs it moves
/// first, then the other agents whose refs it must leave alone.
struct Killed<'a> {
    op: &'a str,
    args: &'a [&'a str],
    agents: &'a [&'a str],
}

/// An agent's part of [`Shown`], without the journal's last LSN.
fn refs_and_context(
    shown: &Shown,
) -> (
    &[serde_json::Value],
    &serde_json::Value,
    &[serde_json::Value],
) {
    (&shown.contents, &shown.branches, &shown.moves)
}

/// How the kills of [`kill_rounds`] left the operation.
#[derive(Debug, Default)]
struct Landed {
    /// Before it wrote anything.
    before: u32,
    /// With part of its batch written, which the next command removed (the journal's appends
    /// are whole or nothing, `format-spec/journal.md` section 11): the state before it.
    part_of_batch: u32,
    after: u32,
}

/// Runs `killed` uninterrupted on a copy of `setup` (`AGENTRAIL_SYNC=always`), then kills it
/// with SIGKILL on fresh copies, round after round: at least `rounds`, then more, up to
/// `rounds_max`, until `enough` says the kills landed where they should. After each kill
/// `verify` passes and the CLI shows every agent as before the operation, or the first as after
/// it and the others as before, never a mixture. Kills alternate between a staggered moment
/// from the start to 1.25 times an uninterrupted run, and a random moment after the journal
/// started to grow, within the time the uninterrupted run spent writing.
fn kill_rounds(
    setup: &Path,
    killed: &Killed,
    (rounds, rounds_max): (u32, u32),
    enough: impl Fn(&Landed) -> bool,
) -> Landed {
    let temp = setup.parent().unwrap();
    let before: Vec<Shown> = killed.agents.iter().map(|a| shown(setup, a)).collect();
    let finished = temp.join("finished");
    copy_dir(setup, &finished);
    let started = std::time::Instant::now();
    let run = agentrail(&finished, "always", killed.args)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let writing = wait_for_writes(&finished, run);
    let duration = started.elapsed();
    let write_window = duration.saturating_sub(writing);
    let after = shown(&finished, killed.agents[0]);
    assert_ne!(before[0].contents, after.contents, "{}", killed.op);
    for (agent, before) in killed.agents.iter().zip(&before).skip(1) {
        let now = shown(&finished, agent);
        assert_eq!(
            refs_and_context(&now),
            refs_and_context(before),
            "{}: {agent}",
            killed.op
        );
    }

    let mut state = seed();
    let mut landed = Landed::default();
    let mut kill = 0;
    while kill < rounds || (kill < rounds_max && !enough(&landed)) {
        let workdir = temp.join(format!("kill-{kill}"));
        copy_dir(setup, &workdir);
        let fraction = (common::splitmix(&mut state) % 1000) as u32;
        let mut child = agentrail(&workdir, "always", killed.args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let started = std::time::Instant::now();
        let delay = if kill % 2 == 0 {
            // From the start to twice the uninterrupted run (a loaded machine runs it slower
            // than it did uninterrupted), each at a random point of its own slice of the first
            // `rounds`, so early, middle and late kills all happen.
            let slices = rounds.div_ceil(2);
            let slice = duration * 2 / slices;
            slice * (kill / 2 % slices) + slice * fraction / 1000
        } else {
            journal_grew(&workdir, &mut child) + write_window * fraction / 1000
        };
        std::thread::sleep(delay.saturating_sub(started.elapsed()));
        // Killing a child that exited but was not waited for is a harmless no-op.
        child.kill().unwrap();
        child.wait().unwrap();
        // The first command to open the journal says whether it cut off a killed append.
        let opened = agentrail(&workdir, "never", &["status"]).output().unwrap();
        assert!(
            opened.status.success(),
            "{}",
            String::from_utf8_lossy(&opened.stderr)
        );
        let cut = String::from_utf8_lossy(&opened.stderr).contains("interrupted append");
        run_json(&workdir, &["verify"]);
        let context = format!("{}: kill {kill} after {delay:?} (seed above)", killed.op);
        let now = shown(&workdir, killed.agents[0]);
        match side_of(killed.op, &now, &before[0], &after, &context) {
            Side::Before if cut => {
                assert_eq!(
                    now.last_lsn, before[0].last_lsn,
                    "{context}: the cut left records"
                );
                landed.part_of_batch += 1
            }
            Side::Before => landed.before += 1,
            Side::After => {
                assert!(!cut, "{context}: a cut append, yet the state after it");
                landed.after += 1
            }
        }
        for (agent, before) in killed.agents.iter().zip(&before).skip(1) {
            let now = shown(&workdir, agent);
            assert_eq!(
                refs_and_context(&now),
                refs_and_context(before),
                "{context}: {agent}"
            );
        }
        std::fs::remove_dir_all(&workdir).unwrap();
        kill += 1;
    }
    eprintln!(
        "{} ran {duration:?}, writing for {write_window:?}; {kill} kills: {landed:?}",
        killed.op
    );
    landed
}

/// A rebase of thousands of commits (`AGENTRAIL_SYNC=always`) killed with SIGKILL at staggered
/// moments and while its batch is written: after each kill `verify` passes and the CLI shows
/// the refs and context before the rebase (a cut batch leaves its commits unreferenced) or
/// after it, never a mixture; and at least one kill cut the batch.
#[test]
fn a_rebase_killed_with_sigkill_leaves_the_refs_before_or_after_it() {
    // On the disk, not in RAM: `always` then pays real syncs, so the batch takes a while to
    // reach the file and a kill can cut it.
    let temp = tempfile::tempdir().unwrap();
    let setup = temp.path().join("setup");
    std::fs::create_dir_all(&setup).unwrap();
    rebase_scenario(&setup);
    let killed = Killed {
        op: "rebase",
        args: &["rebase", "topic"],
        agents: &["main"],
    };
    let landed = kill_rounds(&setup, &killed, (KILLS, KILLS_MAX), |landed| {
        landed.part_of_batch > 0
    });
    assert!(
        landed.part_of_batch > 0,
        "no kill of {KILLS_MAX} landed while the rebase's batch was written: {landed:?}"
    );
}

/// A sleeping resolver, summarizer, so that a kill lands while it runs or right after.
const SLEEPING_RESOLVER: &str = "cat >/dev/null; sleep 0.1; echo resolved";
const SLEEPING_SUMMARIZER: &str = "cat >/dev/null; sleep 0.1; echo summarized";

/// Whether the kills of a short operation left both the state before it and after it.
fn both_sides(landed: &Landed) -> bool {
    landed.before + landed.part_of_batch > 0 && landed.after > 0
}

fn assert_both_sides(op: &str, landed: &Landed) {
    assert!(
        both_sides(landed),
        "{op}: the kills did not land both before and after it: {landed:?}"
    );
}

/// A merge whose resolver sleeps, killed with SIGKILL while the resolver runs and right after.
#[test]
fn a_merge_killed_with_sigkill_leaves_the_refs_before_or_after_it() {
    let temp = tempfile::tempdir().unwrap();
    let setup = temp.path().join("setup");
    std::fs::create_dir_all(&setup).unwrap();
    run_json(&setup, &["init"]);
    let base = run_json(
        &setup,
        &["commit", "--json", "-m", "base", "--content", "base"],
    );
    let base = base["id"].as_str().unwrap().to_owned();
    run_json(&setup, &["branch", "topic"]);
    for (branch, edit) in [("main", "ours"), ("topic", "theirs")] {
        run_json(&setup, &["switch", branch]);
        let args = [
            "-m",
            edit,
            "--kind",
            "edit",
            "--target",
            &base,
            "--content",
            edit,
        ];
        run_json(&setup, &[&["commit"][..], &args].concat());
        run_json(&setup, &["commit", "-m", branch, "--content", branch]);
    }
    run_json(&setup, &["switch", "main"]);
    let killed = Killed {
        op: "merge",
        args: &["merge", "topic", "--resolver", SLEEPING_RESOLVER],
        agents: &["main"],
    };
    let landed = kill_rounds(
        &setup,
        &killed,
        (SHORT_OP_KILLS, SHORT_OP_KILLS_MAX),
        both_sides,
    );
    assert_both_sides("merge", &landed);
}

/// A compression whose summarizer sleeps and which replays a few hundred later commits, killed
/// with SIGKILL while the summarizer runs, while the batch is written and after.
#[test]
fn a_compress_killed_with_sigkill_leaves_the_refs_before_or_after_it() {
    let temp = tempfile::tempdir().unwrap();
    let setup = temp.path().join("setup");
    std::fs::create_dir_all(&setup).unwrap();
    run_json(&setup, &["init", "--segment-bytes", "65536"]);
    run_json(
        &setup,
        &[
            "commit",
            "-m",
            "rule",
            "--kind",
            "pin",
            "--content",
            "be brief",
        ],
    );
    import_line(&setup, "main", 300);
    let killed = Killed {
        op: "compress",
        args: &[
            "compress",
            "HEAD~290..HEAD~280",
            "--respect-pins",
            "--summarizer",
            SLEEPING_SUMMARIZER,
        ],
        agents: &["main"],
    };
    let landed = kill_rounds(
        &setup,
        &killed,
        (SHORT_OP_KILLS, SHORT_OP_KILLS_MAX),
        both_sides,
    );
    assert_both_sides("compress", &landed);
}

/// A collapse whose summarizer sleeps, killed with SIGKILL while it runs and right after: the
/// parent is before or after it, the child as it was.
#[test]
fn a_collapse_killed_with_sigkill_leaves_the_refs_before_or_after_it() {
    let temp = tempfile::tempdir().unwrap();
    let setup = temp.path().join("setup");
    std::fs::create_dir_all(&setup).unwrap();
    run_json(&setup, &["init"]);
    let lead = ["--agent", "lead"];
    run_json(
        &setup,
        &[
            "commit",
            "-m",
            "lead",
            "--content",
            "You lead.",
            lead[0],
            lead[1],
        ],
    );
    run_json(
        &setup,
        &["spawn", "helper", "--task", "Find it.", lead[0], lead[1]],
    );
    let found = ["-m", "found", "--content", "Found it."];
    run_json(
        &setup,
        &[&["commit", "--agent", "helper"][..], &found].concat(),
    );
    let killed = Killed {
        op: "collapse",
        args: &[
            "collapse",
            "helper",
            "--summarizer",
            SLEEPING_SUMMARIZER,
            "--agent",
            "lead",
        ],
        agents: &["lead", "helper"],
    };
    let landed = kill_rounds(
        &setup,
        &killed,
        (SHORT_OP_KILLS, SHORT_OP_KILLS_MAX),
        both_sides,
    );
    assert_both_sides("collapse", &landed);
}

enum Side {
    Before,
    After,
}

/// Which side of the operation `op` the CLI shows of its agent after a kill; fails unless it
/// is wholly one: the refs, reflog and context as before it, or its one ref move, the context
/// as after it, HEAD still on its branch and the other branches where they were. (A run's ids
/// cover its time, so an "after" is compared by content and shape, not by id.)
fn side_of(op: &str, now: &Shown, before: &Shown, after: &Shown, context: &str) -> Side {
    if now.moves.len() == before.moves.len() {
        assert_eq!(
            now.contents, before.contents,
            "{context}: neither before nor after"
        );
        assert_eq!(now.branches, before.branches, "{context}");
        assert_eq!(now.moves, before.moves, "{context}");
        return Side::Before;
    }
    assert_eq!(
        now.contents, after.contents,
        "{context}: neither before nor after"
    );
    assert_eq!(now.last_lsn, after.last_lsn, "{context}");
    assert_eq!(now.moves.len(), before.moves.len() + 1, "{context}");
    assert_eq!(now.moves[0]["op"], op, "{context}");
    assert_eq!(
        now.moves[0]["before"], before.moves[0]["after"],
        "{context}"
    );
    assert_eq!(now.branches["head"], before.branches["head"], "{context}");
    let others = |shown: &Shown| {
        let mut branches = shown.branches["branches"].clone();
        let head = shown.branches["head"]["branch"].as_str().unwrap();
        branches.as_object_mut().unwrap().remove(head);
        branches
    };
    assert_eq!(others(now), others(before), "{context}");
    let head = &now.branches["head_commit"];
    assert_eq!(head, &now.moves[0]["after"]["head_commit"], "{context}");
    Side::After
}

/// The bytes of the journal's segments.
fn journal_bytes(workdir: &Path) -> u64 {
    let dir = workdir.join(".agentrail").join("journal");
    segment_names(&dir)
        .iter()
        .filter_map(|name| std::fs::metadata(dir.join(name)).ok())
        .map(|metadata| metadata.len())
        .sum()
}

/// How long after now the journal of `workdir` started to grow, polled until it does or
/// `child` exits.
fn journal_grew(workdir: &Path, child: &mut std::process::Child) -> std::time::Duration {
    let started = std::time::Instant::now();
    let bytes = journal_bytes(workdir);
    while journal_bytes(workdir) == bytes && child.try_wait().unwrap().is_none() {
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
    started.elapsed()
}

/// Waits for an uninterrupted `child`, which must succeed; returns when its journal started
/// to grow.
fn wait_for_writes(workdir: &Path, mut child: std::process::Child) -> std::time::Duration {
    let writing = journal_grew(workdir, &mut child);
    assert!(child.wait().unwrap().success());
    writing
}
