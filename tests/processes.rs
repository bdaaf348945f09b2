//! Real processes against one journal: `agentrail append` children killed with SIGKILL at random
//! moments, and several children appending at once. What must hold afterwards: every append
//! that exited 0 is in the export at the LSNs it printed, with its data; LSNs run from 1 without
//! a gap; a killed append left nothing or all of its batch (an append is atomic,
//! `format-spec/journal.md` section 11), an `import` killed while it writes too; and `verify`
//! passes.
//!
//! Segments are 64 KiB so that rolls (sealing, creating the next segment, the checkpoint)
//! happen often, under contention and under the kill.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_agentrail");
const SEGMENT_BYTES: &str = "65536";

fn agentrail(workdir: &Path) -> Command {
    let mut command = Command::new(BIN);
    command
        .current_dir(workdir)
        .env_remove("AGENTRAIL_DIR")
        .env_remove("AGENTRAIL_SYNC");
    command
}

fn init(workdir: &Path) {
    let status = agentrail(workdir)
        .args(["init", "--segment-bytes", SEGMENT_BYTES])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
}

/// A seed from the environment (`AGENTRAIL_TEST_SEED`) to replay a failure, else a fresh one.
fn seeded_rng(test: &str) -> StdRng {
    let seed = std::env::var("AGENTRAIL_TEST_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or_else(|| rand::thread_rng().gen());
    eprintln!("{test}: AGENTRAIL_TEST_SEED={seed}");
    StdRng::seed_from_u64(seed)
}

/// One event of a batch, identified by its batch and its index in the batch.
fn event_line(batch: &str, index: usize, pad_bytes: usize) -> String {
    json!({
        "ts": "2026-01-02T03:04:05.000000Z",
        "type": "action",
        "agent": batch,
        "data": {"description": "process test", "batch": batch, "index": index, "pad": "p".repeat(pad_bytes)},
    })
    .to_string()
}

/// A batch of events for one `agentrail append`.
struct Batch {
    id: String,
    lines: Vec<String>,
}

impl Batch {
    fn random(id: String, rng: &mut StdRng) -> Batch {
        let count = rng.gen_range(1..=30);
        let lines = (0..count)
            .map(|index| event_line(&id, index, rng.gen_range(0..600)))
            .collect();
        Batch { id, lines }
    }

    fn stdin(&self) -> String {
        self.lines.join("\n") + "\n"
    }

    /// Starts `agentrail append` with this batch on stdin (small enough for the pipe buffer).
    fn spawn(&self, workdir: &Path, sync_mode: &str) -> Child {
        let mut child = agentrail(workdir)
            .arg("append")
            .env("AGENTRAIL_SYNC", sync_mode)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(self.stdin().as_bytes()).unwrap();
        drop(stdin);
        child
    }
}

/// The LSNs an append that exited 0 printed; one per line of its batch, contiguous.
fn acknowledged_lsns(batch: &Batch, output: &Output) -> Vec<u64> {
    let text = String::from_utf8(output.stdout.clone()).unwrap();
    let lsns: Vec<u64> = text.lines().map(|line| line.parse().unwrap()).collect();
    assert_eq!(lsns.len(), batch.lines.len(), "batch {}: {text}", batch.id);
    for pair in lsns.windows(2) {
        assert_eq!(pair[1], pair[0] + 1, "batch {}: {lsns:?}", batch.id);
    }
    lsns
}

/// Exports the journal; checks LSNs run 1, 2, 3, ... and returns the events.
fn export_contiguous(workdir: &Path) -> Vec<Value> {
    let output = agentrail(workdir).arg("export").output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "export failed: {stderr}");
    let events: Vec<Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    for (index, event) in events.iter().enumerate() {
        assert_eq!(event["lsn"], index as u64 + 1, "LSNs are not contiguous");
    }
    events
}

fn assert_verify_passes(workdir: &Path) {
    let output = agentrail(workdir).arg("verify").output().unwrap();
    assert!(
        output.status.success(),
        "verify failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The events of the export grouped by batch id, each as (LSN, index in batch, line as
/// appended).
fn by_batch(events: &[Value]) -> HashMap<String, Vec<(u64, usize, Value)>> {
    let mut batches: HashMap<String, Vec<(u64, usize, Value)>> = HashMap::new();
    for event in events {
        let id = event["data"]["batch"].as_str().unwrap().to_string();
        let index = event["data"]["index"].as_u64().unwrap() as usize;
        let mut appended = event.clone();
        appended.as_object_mut().unwrap().remove("lsn");
        batches
            .entry(id)
            .or_default()
            .push((event["lsn"].as_u64().unwrap(), index, appended));
    }
    batches
}

/// Checks the export against every batch: an acknowledged batch is there whole at its LSNs; an
/// unacknowledged one is absent or whole at contiguous LSNs; nothing else is there.
fn check_batches(events: &[Value], batches: &[(Batch, Option<Vec<u64>>)]) {
    let mut found = by_batch(events);
    for (batch, acknowledged) in batches {
        let present = found.remove(&batch.id).unwrap_or_default();
        if let Some(lsns) = acknowledged {
            assert_eq!(
                present.len(),
                batch.lines.len(),
                "acknowledged batch {} lost records",
                batch.id
            );
            for (position, (lsn, index, _)) in present.iter().enumerate() {
                assert_eq!(*lsn, lsns[position], "batch {}", batch.id);
                assert_eq!(*index, position, "batch {}", batch.id);
            }
        }
        assert!(
            present.is_empty() || present.len() == batch.lines.len(),
            "batch {}: {} of its {} records are in the journal",
            batch.id,
            present.len(),
            batch.lines.len()
        );
        for (position, (lsn, index, appended)) in present.iter().enumerate() {
            assert_eq!(*index, position, "batch {} is not a prefix", batch.id);
            assert_eq!(*lsn, present[0].0 + position as u64, "batch {}", batch.id);
            let expected: Value = serde_json::from_str(&batch.lines[position]).unwrap();
            assert_eq!(appended, &expected, "batch {} record {position}", batch.id);
        }
    }
    assert!(
        found.is_empty(),
        "records of unknown batches: {:?}",
        found.keys()
    );
}

/// When to kill: a moment drawn from a window that follows how long appends take on this
/// machine, so that most kills land while the child runs (starting up, waiting for the lock,
/// writing, rolling) whatever the machine's speed. Only the mix of outcomes depends on timing;
/// no assertion does.
struct KillWindow {
    micros: u64,
}

impl KillWindow {
    fn pick(&self, rng: &mut StdRng) -> std::time::Duration {
        std::time::Duration::from_micros(rng.gen_range(0..=self.micros))
    }

    /// Widens the window when nearly every kill came too early, narrows it when most came too
    /// late.
    fn adapt(&mut self, killed: usize, attempted: usize) {
        if attempted == 0 {
            return;
        }
        if killed * 10 >= attempted * 9 {
            self.micros = self.micros * 5 / 4;
        } else if killed * 2 < attempted {
            self.micros = (self.micros * 4 / 5).max(500);
        }
    }
}

/// Rounds of several appends at once, each left to finish or killed at a random moment.
#[test]
fn appends_killed_with_sigkill_lose_nothing_acknowledged() {
    const ROUNDS: usize = 80;
    const CHILDREN: usize = 4;
    let mut rng = seeded_rng("appends_killed_with_sigkill_lose_nothing_acknowledged");
    let dir = tempfile::tempdir().unwrap();
    init(dir.path());
    let mut window = KillWindow { micros: 10_000 };
    let mut batches: Vec<(Batch, Option<Vec<u64>>)> = Vec::new();
    let (mut acknowledged, mut killed) = (0, 0);
    for round in 0..ROUNDS {
        let started = std::time::Instant::now();
        // One child in four is never killed, so some appends always finish.
        let mut children: Vec<(Option<std::time::Duration>, Batch, Child)> = (0..CHILDREN)
            .map(|child| {
                let batch = Batch::random(format!("r{round}c{child}"), &mut rng);
                let mode = ["always", "batch", "never"][rng.gen_range(0..3)];
                let kill_at = (rng.gen_range(0..4) != 0).then(|| window.pick(&mut rng));
                let process = batch.spawn(dir.path(), mode);
                (kill_at, batch, process)
            })
            .collect();
        children.sort_by_key(|(kill_at, _, _)| *kill_at);
        let (mut round_killed, mut round_attempted) = (0, 0);
        for (kill_at, batch, mut child) in children {
            if let Some(kill_at) = kill_at {
                std::thread::sleep(kill_at.saturating_sub(started.elapsed()));
                // Killing a child that has exited but was not waited for is a harmless no-op.
                child.kill().unwrap();
                round_attempted += 1;
            }
            let output = child.wait_with_output().unwrap();
            let lsns = if output.status.success() {
                acknowledged += 1;
                Some(acknowledged_lsns(&batch, &output))
            } else {
                assert_eq!(
                    output.status.code(),
                    None,
                    "batch {} failed without being killed: {}",
                    batch.id,
                    String::from_utf8_lossy(&output.stderr)
                );
                killed += 1;
                round_killed += 1;
                None
            };
            batches.push((batch, lsns));
        }
        window.adapt(round_killed, round_attempted);
    }
    eprintln!(
        "{acknowledged} appends acknowledged, {killed} killed; kill window {} us",
        window.micros
    );
    // Export writes nothing: a command that opens the journal cuts off a killed append first.
    assert!(agentrail(dir.path())
        .arg("status")
        .output()
        .unwrap()
        .status
        .success());
    let events = export_contiguous(dir.path());
    check_batches(&events, &batches);
    let found = by_batch(&events);
    let killed_but_written = batches
        .iter()
        .filter(|(batch, lsns)| lsns.is_none() && found.contains_key(&batch.id))
        .count();
    eprintln!("{killed_but_written} killed appends had written (all or part of) their batch");
    assert_verify_passes(dir.path());
    // The journal takes appends after all of this.
    let last = events.len() as u64;
    let batch = Batch {
        id: "after".into(),
        lines: vec![event_line("after", 0, 10)],
    };
    let output = batch
        .spawn(dir.path(), "always")
        .wait_with_output()
        .unwrap();
    assert!(output.status.success());
    assert_eq!(acknowledged_lsns(&batch, &output), vec![last + 1]);
}

/// Six threads, each running fifty `agentrail append` processes one after another.
#[test]
fn concurrent_appending_processes_get_unique_contiguous_lsns() {
    const WRITERS: usize = 6;
    const APPENDS_PER_WRITER: usize = 50;
    let mut rng = seeded_rng("concurrent_appending_processes_get_unique_contiguous_lsns");
    let dir = tempfile::tempdir().unwrap();
    init(dir.path());
    let plans: Vec<Vec<Batch>> = (0..WRITERS)
        .map(|writer| {
            (0..APPENDS_PER_WRITER)
                .map(|append| Batch::random(format!("w{writer}a{append}"), &mut rng))
                .collect()
        })
        .collect();
    let results: Vec<Vec<(Batch, Option<Vec<u64>>)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = plans
            .into_iter()
            .map(|plan| {
                let workdir = dir.path();
                scope.spawn(move || {
                    plan.into_iter()
                        .map(|batch| {
                            let output = batch.spawn(workdir, "always").wait_with_output().unwrap();
                            assert!(
                                output.status.success(),
                                "batch {}: {}",
                                batch.id,
                                String::from_utf8_lossy(&output.stderr)
                            );
                            let lsns = acknowledged_lsns(&batch, &output);
                            (batch, Some(lsns))
                        })
                        .collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().unwrap())
            .collect()
    });
    let batches: Vec<(Batch, Option<Vec<u64>>)> = results.into_iter().flatten().collect();
    let total: usize = batches.iter().map(|(batch, _)| batch.lines.len()).sum();
    let mut all_lsns: Vec<u64> = batches
        .iter()
        .flat_map(|(_, lsns)| lsns.clone().unwrap())
        .collect();
    all_lsns.sort_unstable();
    assert_eq!(all_lsns, (1..=total as u64).collect::<Vec<_>>());
    let events = export_contiguous(dir.path());
    assert_eq!(events.len(), total);
    check_batches(&events, &batches);
    let segments = std::fs::read_dir(dir.path().join(".agentrail/journal"))
        .unwrap()
        .filter(|entry| {
            entry
                .as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".seg")
        })
        .count();
    assert!(
        segments > 2,
        "expected rolls under contention, found {segments} segments"
    );
    assert_verify_passes(dir.path());
}

fn segment_files(workdir: &Path) -> usize {
    std::fs::read_dir(workdir.join(".agentrail/journal"))
        .unwrap()
        .filter(|entry| {
            let name = entry.as_ref().unwrap().file_name();
            name.to_string_lossy().ends_with(".seg")
        })
        .count()
}

/// `agentrail import` killed while it writes (once it has rolled a few segments): the next
/// command says it removed the interrupted append, and none of the file's events are left, so
/// the same file can simply be imported again.
#[test]
fn an_import_killed_while_it_writes_leaves_none_of_its_events() {
    const EVENTS: usize = 20_000;
    const ROUNDS_MAX: usize = 20;
    let dir = tempfile::tempdir().unwrap();
    init(dir.path());
    let mut cut = 0;
    for round in 0..ROUNDS_MAX {
        let id = format!("import{round}");
        let lines: Vec<String> = (0..EVENTS)
            .map(|index| event_line(&id, index, 200))
            .collect();
        let file = dir.path().join(format!("{id}.jsonl"));
        std::fs::write(&file, lines.join("\n") + "\n").unwrap();
        let before = segment_files(dir.path());
        let mut child = agentrail(dir.path())
            .arg("import")
            .arg(&file)
            .env("AGENTRAIL_SYNC", "always")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        while segment_files(dir.path()) < before + 3 && child.try_wait().unwrap().is_none() {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        child.kill().unwrap();
        let status = child.wait().unwrap();
        // Readers that write nothing (export) show none of an unfinished append either.
        let exported = by_batch(&export_contiguous(dir.path()))
            .get(&id)
            .map_or(0, Vec::len);
        assert!(
            exported == 0 || exported == EVENTS,
            "round {round} ({status}): export showed {exported} of the import's {EVENTS} events"
        );
        let next = agentrail(dir.path()).arg("status").output().unwrap();
        assert!(
            next.status.success(),
            "{}",
            String::from_utf8_lossy(&next.stderr)
        );
        let said = String::from_utf8_lossy(&next.stderr);
        let events = export_contiguous(dir.path());
        let found = by_batch(&events).get(&id).map_or(0, Vec::len);
        assert!(
            found == 0 || found == EVENTS,
            "round {round} ({status}): {found} of the import's {EVENTS} events are in the journal"
        );
        if said.contains("recovered from an interrupted append") {
            assert_eq!(found, 0, "round {round}: {said}");
            cut += 1;
            if cut == 2 {
                break;
            }
        }
    }
    assert!(
        cut > 0,
        "no kill in {ROUNDS_MAX} rounds landed while the import wrote"
    );
    assert_verify_passes(dir.path());
}
