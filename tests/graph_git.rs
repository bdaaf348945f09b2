//! `log --graph` against git itself: random histories (branches, merges of merges, merges of
//! an ancestor, criss-cross merges, octopus merges, several roots) are built both as a context
//! graph and, with the same shape and one commit per second, in a git repository, and
//! `git log --graph --all` must draw the same picture, character for character (trailing
//! spaces aside, which agentrail cuts), in git's default order for a graph, with one-line
//! entries (`--oneline`) and with entries of several lines separated by blank lines (the full
//! `log`), each in full and cut to its first commits (`-n`). Needs `git` on the PATH; fails,
//! rather than skips, without it.

use agentrail::context::graph::{Commit, Graph};
use agentrail::context::lanes::{graph_rows, Entries};
use agentrail::event::{Event, EventType};
use agentrail::project::Projection;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::io::Write as _;
use std::process::{Command, Stdio};

const CASES: usize = 150;
const COMMITS_MAX: usize = 16;

/// A random history: each commit's parents, by index, every parent before its child.
fn history(rng: &mut StdRng) -> Vec<Vec<usize>> {
    let count = rng.gen_range(2..=COMMITS_MAX);
    let mut parents: Vec<Vec<usize>> = vec![vec![]];
    let mut heads: Vec<usize> = vec![0];
    while parents.len() < count {
        let new = parents.len();
        let head = rng.gen_range(0..heads.len());
        let any = rng.gen_range(0..new);
        let roll = rng.gen_range(0..100);
        if roll < 40 {
            parents.push(vec![heads[head]]);
            heads[head] = new;
        } else if roll < 60 {
            parents.push(vec![any]);
            heads.push(new);
        } else if roll < 88 {
            let other = if heads.len() > 1 && rng.gen_bool(0.7) {
                heads[rng.gen_range(0..heads.len())]
            } else {
                any
            };
            if other == heads[head] {
                continue;
            }
            parents.push(vec![heads[head], other]);
            heads[head] = new;
            // Keeping the other head lets it be merged again: criss-cross merges.
            if rng.gen_bool(0.5) {
                heads.retain(|kept| *kept != other);
            }
        } else if roll < 94 && new >= 3 {
            let mut octopus = vec![heads[head]];
            while octopus.len() < 3 {
                let parent = rng.gen_range(0..new);
                if !octopus.contains(&parent) {
                    octopus.push(parent);
                }
            }
            parents.push(octopus);
            heads[head] = new;
        } else {
            parents.push(vec![]);
            heads.push(new);
        }
    }
    parents
}

/// The history as a context graph, commit `i` with message `c{case}-{i}`; its ids by index.
fn context_graph(case: usize, history: &[Vec<usize>]) -> (Graph, Vec<String>) {
    let mut graph = Graph::default();
    let mut ids: Vec<String> = Vec::new();
    for (index, parents) in history.iter().enumerate() {
        let parents: Vec<&String> = parents.iter().map(|parent| &ids[*parent]).collect();
        let data = json!({"kind": "append", "message": format!("c{case}-{index}"),
            "content": format!("block {case} {index}"), "tokens": 1, "parents": parents});
        let Value::Object(data) = data else {
            unreachable!()
        };
        let event = Event::new(EventType::Commit, None, Some("main".into()), data).unwrap();
        graph.apply(index as u64 + 1, &event.to_ref());
        ids.push(graph.refs("main").head_commit().unwrap().to_owned());
    }
    assert_eq!(graph.rejected(), 0);
    (graph, ids)
}

/// A `git fast-import` stream of every case, a ref `case{n}/c{i}` at each commit and commit
/// dates one second apart in creation order, so git's date order is the LSN order.
fn fast_import_stream(histories: &[Vec<Vec<usize>>]) -> String {
    let mut stream = String::new();
    let mut mark = 0;
    for (case, history) in histories.iter().enumerate() {
        let first_mark = mark + 1;
        for (index, parents) in history.iter().enumerate() {
            mark += 1;
            let date = 1_700_000_000 + mark;
            let message = format!("c{case}-{index}");
            writeln!(
                stream,
                "commit refs/heads/case{case}/c{index}\nmark :{mark}"
            )
            .unwrap();
            writeln!(stream, "committer T <t@example.com> {date} +0000").unwrap();
            writeln!(stream, "data {}\n{message}", message.len()).unwrap();
            for (number, parent) in parents.iter().enumerate() {
                let verb = if number == 0 { "from" } else { "merge" };
                writeln!(stream, "{verb} :{}", first_mark + parent).unwrap();
            }
            stream.push('\n');
        }
    }
    stream
}

fn git(dir: &std::path::Path, args: &[&str], input: Option<&str>) -> String {
    let mut child = Command::new("git")
        .args(["-c", "log.showSignature=false", "-c", "color.ui=never"])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("this test compares with git: install git and put it on the PATH");
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(input.unwrap_or_default().as_bytes())
        .unwrap();
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn trimmed(text: &str) -> String {
    text.lines()
        .map(|line| format!("{}\n", line.trim_end()))
        .collect()
}

/// agentrail's picture of every commit, each entry `lines` lines of its message.
fn drawn(commits: &[&Commit], entries: Entries, lines: usize) -> String {
    let mut drawn = String::new();
    for (rows, commit) in graph_rows(commits, entries).iter().zip(commits) {
        if let Some(separator) = &rows.separator {
            drawn += separator;
            drawn.push('\n');
        }
        let text = format!("{}\n", commit.message).repeat(lines);
        drawn += &rows.draw(&text);
    }
    trimmed(&drawn)
}

#[test]
fn log_graph_draws_what_git_draws() {
    let mut rng = StdRng::seed_from_u64(0x67_72_61_70_68);
    let histories: Vec<Vec<Vec<usize>>> = (0..CASES).map(|_| history(&mut rng)).collect();
    let repo = tempfile::tempdir().unwrap();
    git(repo.path(), &["init", "-q", "--bare", "."], None);
    git(
        repo.path(),
        &["fast-import", "--quiet"],
        Some(&fast_import_stream(&histories)),
    );
    let mut failures = Vec::new();
    let mut git_marks = String::new();
    for (case, history) in histories.iter().enumerate() {
        let (graph, ids) = context_graph(case, history);
        let tips: Vec<&str> = ids.iter().map(String::as_str).collect();
        let commits = graph.topo_order(&tips, None);
        let refs = format!("--branches=case{case}/*");
        let forms = [
            ("--format=%s", Entries::OneLine, 1),
            ("--format=format:%s%n%s%n%s%n", Entries::BlankLineBetween, 3),
        ];
        // `-n`: git draws the first commits of the same order, as `log --graph -n` does.
        let limit = rng.gen_range(1..=history.len());
        let limited = graph.topo_order(&tips, Some(limit));
        let limit_arg = format!("-n{limit}");
        let all = forms.iter().map(|form| (form, &commits, None));
        let firsts = forms.iter().map(|form| (form, &limited, Some(&limit_arg)));
        for (&(format, entries, lines), commits, limit) in all.chain(firsts) {
            let mut args = vec!["log", "--graph", format, &refs];
            args.extend(limit.map(String::as_str));
            let expected = trimmed(&git(repo.path(), &args, None));
            let found = drawn(commits, entries, lines);
            git_marks.extend(expected.chars().filter(|mark| "_-.".contains(*mark)));
            if found != expected {
                failures.push(format!(
                    "case {case} ({format}), parents {history:?}:\n--- git\n{expected}--- agentrail\n{found}"
                ));
            }
        }
    }
    // The histories are varied enough that git runs lines along `_` and draws octopus merges.
    assert!(git_marks.contains('_') && git_marks.contains('.'));
    assert!(
        failures.is_empty(),
        "{} of {} drawings differ from git's; the first:\n{}",
        failures.len(),
        4 * CASES,
        failures
            .iter()
            .take(3)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
