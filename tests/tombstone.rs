//! Tombstones (`format-spec/journal.md` section 10) at the journal level: rewriting sealed
//! segments keeps verify passing, the chain and the links between segments unchanged, the
//! recovery checkpoint valid, and every record not asked for byte for byte; a crash at any
//! sync of a rewrite leaves the old segment or the new one; a record in the active segment is
//! sealed in first; every projection rebuilds after gc and purge, giving the same answers
//! for what was kept; and gc and purge of content that compresses as prose does shrink the
//! segments they rewrite.

mod common;

use agentrail::context::gc::{self, Policy};
use agentrail::context::{Agent, CommitKind, CommitRequest, Graph, ResetMode};
use agentrail::event::{decode_record, Decoded, Event};
use agentrail::journal::format::{
    FrameHeader, Tombstone, FRAME_FLAG_BATCH_CONTINUES, FRAME_FLAG_TOMBSTONE,
};
use agentrail::journal::segment::{list_segments, segment_path, SealedSegment};
use agentrail::journal::sim::{CrashMode, SimFs};
use agentrail::journal::vfs::Vfs;
use agentrail::journal::{
    verify, Durability, Journal, NewRecord, Options, Record, Summarizer, KIND_EVENT,
};
use agentrail::project::{SessionTokens, Sessions, Tokens};
use agentrail::recorder::Recorder;
use agentrail::workspace::Workspace;
use agentrail::Error;
use common::{payload, read_all};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

const DIR: &str = "/tombstone/journal";
const SEGMENT_BYTES: u64 = 4 * 1024;
const RECORDS: u64 = 120;
const SUMMARY: &[u8] = b"kept summary";

fn options(fs: &SimFs) -> Options {
    Options {
        segment_bytes: SEGMENT_BYTES,
        checkpoint_interval_bytes: 1024,
        durability: Durability::Always,
        vfs: Arc::new(fs.clone()),
        ..Options::default()
    }
}

fn summarizer() -> Summarizer {
    Arc::new(|_record: &Record| Ok(SUMMARY.to_vec()))
}

/// A journal of `RECORDS` deterministic records over several 4 KiB segments.
fn filled() -> SimFs {
    let fs = SimFs::new();
    let journal = Journal::create(DIR, options(&fs)).unwrap();
    let records = (1..=RECORDS)
        .map(|lsn| NewRecord::new(KIND_EVENT, payload(lsn)))
        .collect();
    journal.append_batch(records).unwrap();
    journal.close();
    fs
}

fn open(fs: &SimFs) -> Journal {
    Journal::open(DIR, options(fs)).unwrap()
}

/// LSNs in sealed segments only: the first and last of some segments, and some in between.
fn sealed_targets(fs: &SimFs) -> BTreeSet<u64> {
    let segments = list_segments(fs, Path::new(DIR)).unwrap();
    let mut targets = BTreeSet::new();
    for pair in segments.windows(2).take(segments.len().saturating_sub(1)) {
        targets.insert(pair[0]);
        targets.insert(pair[1] - 1);
        targets.insert((pair[0] + pair[1]) / 2);
    }
    targets
}

/// Checks every record: a target is a tombstone of the original, any other is unchanged.
fn assert_records(journal: &Journal, targets: &BTreeSet<u64>) {
    let records = read_all(journal).unwrap();
    assert_eq!(records.len() as u64, RECORDS);
    for record in &records {
        let original = payload(record.lsn);
        if !targets.contains(&record.lsn) {
            assert_eq!(record.payload, original, "LSN {}", record.lsn);
            assert_eq!(record.flags & FRAME_FLAG_TOMBSTONE, 0);
            continue;
        }
        assert_ne!(record.flags & FRAME_FLAG_TOMBSTONE, 0, "LSN {}", record.lsn);
        let header =
            FrameHeader::for_payload(record.lsn, record.kind, record.flags, &record.payload);
        let tombstone = Tombstone::decode(&header, &record.payload).unwrap();
        assert_eq!(tombstone.summary, SUMMARY);
        let digest: [u8; 32] = Sha256::digest(&original).into();
        assert_eq!(tombstone.payload_sha256, digest);
        // The original header, byte for byte: with the batch flag when its record was not
        // the last of its append.
        let kept = FrameHeader {
            flags: tombstone.kept_header.flags & !FRAME_FLAG_BATCH_CONTINUES,
            ..tombstone.kept_header
        };
        assert_eq!(
            kept,
            FrameHeader::for_payload(record.lsn, KIND_EVENT, 0, &original)
        );
    }
}

/// A segment's first LSN and prev_chain, and, when sealed, its footer's end_chain and last LSN.
type SegmentLinks = (u64, u32, Option<(u32, u64)>);

/// The chain values that tie segments together.
fn links(fs: &SimFs) -> Vec<SegmentLinks> {
    let dir = Path::new(DIR);
    list_segments(fs, dir)
        .unwrap()
        .into_iter()
        .map(
            |first| match SealedSegment::open(fs, &segment_path(dir, first), first) {
                Ok(sealed) => (
                    first,
                    sealed.header.prev_chain,
                    Some((sealed.footer.end_chain, sealed.footer.last_lsn)),
                ),
                Err(_) => (first, 0, None),
            },
        )
        .collect()
}

#[test]
fn tombstones_in_sealed_segments_keep_verify_chain_links_and_checkpoint() {
    let fs = filled();
    let targets = sealed_targets(&fs);
    assert!(targets.len() >= 6, "the workload spans several segments");
    let links_before = links(&fs);
    let checkpoint_before = fs.read_file(&Path::new(DIR).join("checkpoint")).unwrap();
    let journal = open(&fs);
    let lsns: Vec<u64> = targets.iter().copied().collect();
    let report = journal.tombstone(&lsns, summarizer()).unwrap();
    assert!(!report.sealed_active);
    assert_eq!(report.tombstoned.len(), targets.len());
    assert_records(&journal, &targets);
    journal.close();
    assert_eq!(
        links(&fs),
        links_before,
        "the chain and the links are unchanged"
    );
    assert_eq!(
        fs.read_file(&Path::new(DIR).join("checkpoint")).unwrap(),
        checkpoint_before,
        "the recovery checkpoint is untouched and still describes the log"
    );
    let verified = verify(&fs, Path::new(DIR)).unwrap();
    assert!(verified.is_ok(), "{:?}", verified.problems);
    assert_eq!(verified.records, RECORDS);
    let journal = open(&fs);
    assert!(journal.recovery_report().from_checkpoint);
    assert_eq!(
        journal.append(KIND_EVENT, b"after".to_vec()).unwrap(),
        RECORDS + 1
    );
    journal.close();
    assert!(verify(&fs, Path::new(DIR)).unwrap().is_ok());
}

#[test]
fn a_record_in_the_active_segment_is_sealed_in_first() {
    let fs = filled();
    let journal = open(&fs);
    let report = journal.tombstone(&[RECORDS], summarizer()).unwrap();
    assert!(report.sealed_active);
    assert_records(&journal, &BTreeSet::from([RECORDS]));
    assert_eq!(
        journal.append(KIND_EVENT, b"after".to_vec()).unwrap(),
        RECORDS + 1
    );
    journal.close();
    let verified = verify(&fs, Path::new(DIR)).unwrap();
    assert!(verified.is_ok(), "{:?}", verified.problems);
}

#[test]
fn an_lsn_not_in_the_journal_changes_nothing_and_a_second_tombstone_is_a_no_op() {
    let fs = filled();
    let journal = open(&fs);
    for lsn in [0, RECORDS + 1] {
        let error = journal.tombstone(&[1, lsn], summarizer()).unwrap_err();
        assert!(matches!(error, Error::NoSuchLsn { .. }), "{error}");
    }
    assert_records(&journal, &BTreeSet::new());
    journal.tombstone(&[2], summarizer()).unwrap();
    let again = journal.tombstone(&[2], summarizer()).unwrap();
    assert_eq!(again.already, vec![2]);
    assert!(again.tombstoned.is_empty() && again.rewritten.is_empty());
    assert_records(&journal, &BTreeSet::from([2]));
}

/// Crashes the rewrite at every sync it makes, in every crash mode: each image opens, verifies,
/// and holds in each segment either every original record or every tombstone asked for.
#[test]
fn a_crash_at_any_sync_of_a_rewrite_leaves_each_segment_old_or_new() {
    let targets = sealed_targets(&filled());
    let lsns: Vec<u64> = targets.iter().copied().collect();
    for point in 1.. {
        let fs = filled();
        let journal = open(&fs);
        fs.fail_at_sync(point);
        let result = journal.tombstone(&lsns, summarizer());
        let failed = fs.has_failed();
        drop(journal);
        for mode in [
            CrashMode::DropUnsynced,
            CrashMode::KeepUnsynced,
            CrashMode::TearUnsynced { seed: point },
        ] {
            check_crash_image(&fs.crash_image(mode), &targets, point);
        }
        if !failed {
            result.unwrap();
            assert!(point > 2, "the rewrite syncs");
            break;
        }
    }
}

fn check_crash_image(image: &SimFs, targets: &BTreeSet<u64>, point: u64) {
    let journal = Journal::open(DIR, options(image)).unwrap();
    let records = read_all(&journal).unwrap();
    assert_eq!(records.len() as u64, RECORDS, "crash at sync {point}");
    let segments = list_segments(image, Path::new(DIR)).unwrap();
    for pair in segments.windows(2) {
        let inside: Vec<&Record> = records
            .iter()
            .filter(|record| {
                (pair[0]..pair[1]).contains(&record.lsn) && targets.contains(&record.lsn)
            })
            .collect();
        let tombstones = inside
            .iter()
            .filter(|record| record.flags & FRAME_FLAG_TOMBSTONE != 0)
            .count();
        assert!(
            tombstones == 0 || tombstones == inside.len(),
            "crash at sync {point}: segment {} is half rewritten",
            pair[0]
        );
    }
    journal.close();
    let names = image.list_dir(Path::new(DIR)).unwrap();
    assert!(
        !names.iter().any(|name| name.ends_with(".tmp")),
        "open removes temporary files"
    );
    let verified = verify(image, Path::new(DIR)).unwrap();
    assert!(
        verified.is_ok(),
        "crash at sync {point}: {:?}",
        verified.problems
    );
}

/// Another handle (as another process would) appends while this one rewrites: the lock orders
/// them, and the log ends whole.
#[test]
fn appends_from_another_handle_wait_for_the_rewrite() {
    let fs = filled();
    let first = open(&fs);
    let second = open(&fs);
    let targets: Vec<u64> = (1..=RECORDS).step_by(3).collect();
    std::thread::scope(|scope| {
        let appender = scope.spawn(|| {
            for _ in 0..50 {
                second.append(KIND_EVENT, b"concurrent".to_vec()).unwrap();
            }
        });
        first.tombstone(&targets, summarizer()).unwrap();
        appender.join().unwrap();
    });
    first.close();
    second.close();
    let verified = verify(&fs, Path::new(DIR)).unwrap();
    assert!(verified.is_ok(), "{:?}", verified.problems);
    assert_eq!(verified.records, RECORDS + 50);
}

// ---- events and projections ----

fn request(message: &str, content: &str) -> CommitRequest {
    CommitRequest {
        kind: CommitKind::Append,
        message: message.into(),
        content: content.into(),
        target: None,
        tokens: None,
    }
}

fn event(line: &str) -> Event {
    Event::from_json_line(line, 1, agentrail::event::now_micros()).unwrap()
}

/// A workspace with sessions, LLM calls, and a context where `reset --hard` left two commits
/// behind; returns the recorder and the ids of the commits left behind.
fn workspace(temp: &Path) -> (Recorder, Vec<String>) {
    let root = temp.join(".agentrail");
    Workspace::init(&root, SEGMENT_BYTES).unwrap();
    let recorder = Recorder::open(Workspace::open(&root).unwrap(), Durability::Never).unwrap();
    let (session, _) = recorder.start_session("the task", None).unwrap();
    let agent = Agent::new(&recorder, "main", Some(session.clone()));
    let base = agent.commit(request("base", "the base block")).unwrap();
    let mut left = Vec::new();
    for number in 0..2 {
        left.push(
            agent
                .commit(request("later", &format!("secret block {number}")))
                .unwrap()
                .id,
        );
    }
    // Soft: the young reflog keeps what it left behind (a hard reset would not).
    agent.reset(ResetMode::Soft, &base.id).unwrap();
    agent.commit(request("kept", "a kept block")).unwrap();
    for number in 0..40 {
        recorder
            .record(event(&format!(
                r#"{{"type":"llm_call","session":"{session}","data":{{"model":"m","input_tokens":{number},"output_tokens":2,"prompt":"padding padding padding padding padding padding padding padding"}}}}"#
            )))
            .unwrap();
    }
    (recorder, left)
}

fn answers(recorder: &Recorder) -> (Sessions, Tokens, SessionTokens, Graph) {
    (
        recorder.load::<Sessions>().unwrap().state,
        recorder.load::<Tokens>().unwrap().state,
        recorder.load::<SessionTokens>().unwrap().state,
        recorder.load::<Graph>().unwrap().state,
    )
}

#[test]
fn gc_collects_what_nothing_reaches_and_every_projection_rebuilds() {
    let temp = tempfile::tempdir().unwrap();
    let (recorder, left) = workspace(temp.path());
    let (sessions, tokens, session_tokens, graph) = answers(&recorder);
    let agent = Agent::new(&recorder, "main", None);
    let context = agent.context(None).unwrap();
    let young = Policy {
        retention_days: 30,
        collect_collapsed_children: false,
        now_micros: agentrail::event::now_micros(),
    };
    let kept = gc::collect_garbage(&recorder, &young, false).unwrap();
    assert!(
        kept.collected.is_empty(),
        "the reflog is young: everything is kept"
    );
    let old = Policy {
        retention_days: 0,
        ..young
    };
    let dry = gc::collect_garbage(&recorder, &old, true).unwrap();
    let ids: Vec<&str> = dry
        .collected
        .iter()
        .map(|commit| commit.id.as_str())
        .collect();
    assert_eq!(ids, left.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(dry.rewrite.is_none());
    let report = gc::collect_garbage(&recorder, &old, false).unwrap();
    assert_eq!(report.collected, dry.collected);
    assert!(verify(
        &agentrail::journal::vfs::StdFs,
        &recorder.workspace().journal_dir()
    )
    .unwrap()
    .is_ok());
    let rebuilt = recorder.projector().rebuild(recorder.journal()).unwrap();
    assert!(rebuilt.events > 40);
    let (sessions_after, tokens_after, session_tokens_after, graph_after) = answers(&recorder);
    assert_eq!(sessions_after, sessions);
    assert_eq!(tokens_after, tokens);
    assert_eq!(session_tokens_after, session_tokens);
    assert_eq!(graph_after.rejected(), graph.rejected());
    assert_eq!(
        graph_after.agents().collect::<Vec<_>>(),
        graph.agents().collect::<Vec<_>>()
    );
    assert_eq!(
        graph_after.reflog("main"),
        graph.reflog("main"),
        "old reflog entries still apply"
    );
    for id in &left {
        assert!(graph_after.is_removed(id));
        assert_eq!(
            graph_after.commit(id).unwrap().parents,
            graph.commit(id).unwrap().parents
        );
    }
    assert_eq!(
        agent.context(None).unwrap(),
        context,
        "the reachable context is unchanged"
    );
    for record in read_all(recorder.journal()).unwrap() {
        if let Decoded::Event(event) = decode_record(&record).unwrap() {
            let content = event.text("content").unwrap_or_default();
            assert!(
                !content.contains("secret"),
                "LSN {} kept its content",
                record.lsn
            );
        }
    }
    assert!(gc::collect_garbage(&recorder, &old, false)
        .unwrap()
        .collected
        .is_empty());
}

#[test]
fn purge_keeps_counts_and_removes_text_of_any_event() {
    let temp = tempfile::tempdir().unwrap();
    let (recorder, _) = workspace(temp.path());
    let (sessions, tokens, session_tokens, _) = answers(&recorder);
    let last = recorder.journal().last_lsn();
    let journal_dir = recorder.workspace().journal_dir();
    let segments = list_segments(&agentrail::journal::vfs::StdFs, &journal_dir).unwrap();
    let in_active = last >= *segments.last().unwrap();
    let report = gc::purge(&recorder, &[last]).unwrap();
    assert_eq!(report.sealed_active, in_active);
    assert_eq!(report.tombstoned.len(), 1);
    let record = recorder
        .journal()
        .read_from(last)
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let (info, _) = agentrail::event::tombstone_of(&record).unwrap();
    assert_eq!(info.sha256, report.tombstoned[0].payload_sha256);
    let Decoded::Event(event) = decode_record(&record).unwrap() else {
        panic!("a tombstoned event decodes");
    };
    assert_eq!(event.event_type, "llm_call");
    assert!(event.data.get("prompt").is_none());
    let (sessions_after, tokens_after, session_tokens_after, _) = answers(&recorder);
    assert_eq!(sessions_after, sessions);
    assert_eq!(tokens_after, tokens, "token counts are kept");
    assert_eq!(session_tokens_after, session_tokens);
    let error = gc::purge(&recorder, &[last + 1]).unwrap_err();
    assert!(matches!(error, Error::NoSuchLsn { .. }));
    let line = serde_json::to_string(&event.to_tombstone_json(last, &info)).unwrap();
    let refused = Event::from_json_line(&line, 3, 0).unwrap_err();
    assert_eq!(refused.field.as_deref(), Some("tombstone"));
}

/// A frame that passes every checksum but whose kept header is not its own is corruption, never
/// a torn tail: recovery and verify agree, and nothing is truncated.
#[test]
fn a_tombstone_whose_kept_header_is_not_its_own_is_corruption() {
    let fs = SimFs::new();
    let journal = Journal::create(DIR, options(&fs)).unwrap();
    journal.append(KIND_EVENT, payload(1)).unwrap();
    journal.close();
    let other = FrameHeader::for_payload(3, KIND_EVENT, 0, b"another record").encode();
    let forged = Tombstone::encode(&other, &[0; 32], SUMMARY);
    let header = FrameHeader::for_payload(2, KIND_EVENT, FRAME_FLAG_TOMBSTONE, &forged);
    let path = segment_path(Path::new(DIR), 1);
    let mut bytes = fs.read_file(&path).unwrap();
    bytes.extend_from_slice(&header.encode());
    bytes.extend_from_slice(&forged);
    fs.write_file(&path, &bytes).unwrap();
    let verified = verify(&fs, Path::new(DIR)).unwrap();
    assert!(!verified.is_ok(), "verify reports the forged tombstone");
    assert!(verified.torn_tail.is_none());
    let _ = fs.remove_file(&Path::new(DIR).join("DAMAGED"));
    let error = Journal::open(DIR, options(&fs)).unwrap_err();
    assert!(error.is_corruption(), "{error}");
    assert_eq!(fs.read_file(&path).unwrap(), bytes, "nothing was truncated");
}

#[test]
fn a_commit_the_graph_rejected_stays_rejected_after_its_purge() {
    let temp = tempfile::tempdir().unwrap();
    let (recorder, _) = workspace(temp.path());
    let wrong_id = "ab".repeat(32);
    let line = format!(
        r#"{{"type":"commit","agent":"main","data":{{"kind":"append","message":"m","content":"c","id":"{wrong_id}"}}}}"#
    );
    let lsn = recorder.record(event(&line)).unwrap();
    let before = recorder.load::<Graph>().unwrap().state;
    assert!(before.commit(&wrong_id).is_none());
    gc::purge(&recorder, &[lsn]).unwrap();
    let after = recorder.load::<Graph>().unwrap().state;
    assert!(
        after.commit(&wrong_id).is_none(),
        "the bogus id is not taken"
    );
    assert_eq!(after.refs("main"), before.refs("main"));
    assert_eq!(after.rejected(), before.rejected());
}

#[test]
fn the_originals_of_a_rebase_are_collected_once_the_reflog_lets_go() {
    let temp = tempfile::tempdir().unwrap();
    let (recorder, _) = workspace(temp.path());
    let agent = Agent::new(&recorder, "main", None);
    agent.branch("topic", None).unwrap();
    agent.switch("topic").unwrap();
    let original = agent.commit(request("topic", "topic work")).unwrap();
    agent.switch("main").unwrap();
    agent.commit(request("main", "main work")).unwrap();
    agent.switch("topic").unwrap();
    agent.rebase("main", None).unwrap();
    let old = Policy {
        retention_days: 0,
        collect_collapsed_children: false,
        now_micros: agentrail::event::now_micros() + 1,
    };
    let dry = gc::collect_garbage(&recorder, &old, true).unwrap();
    assert!(
        dry.collected.iter().any(|commit| commit.id == original.id),
        "the rebased commit's rebased_from link does not keep the original"
    );
}

/// Prose-like text: words of a small vocabulary in a pseudo-random order, so that it
/// compresses about as agent output does (a few times), not as one repeated phrase does.
fn prose(seed: u64, words: usize) -> String {
    const VOCABULARY: [&str; 16] = [
        "the", "agent", "reads", "file", "and", "writes", "a", "test", "for", "journal", "segment",
        "block", "then", "runs", "cargo", "again",
    ];
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut text = String::new();
    for _ in 0..words {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        text.push_str(VOCABULARY[(state >> 60) as usize]);
        text.push(' ');
    }
    text
}

fn rewritten_bytes(report: &agentrail::journal::TombstoneReport) -> (u64, u64) {
    report
        .rewritten
        .iter()
        .fold((0, 0), |(before, after), segment| {
            (
                before + segment.file_bytes_before,
                after + segment.file_bytes_after,
            )
        })
}

/// A tombstone keeps about 80 bytes that do not compress (the SHA-256 of the removed payload,
/// a commit's id, CRCs): removing content that compressed to more than that must shrink the
/// segments rewritten (`format-spec/journal.md` section 10, "What it costs").
#[test]
fn gc_and_purge_of_prose_like_content_shrink_the_segments_they_rewrite() {
    let temp = tempfile::tempdir().unwrap();
    let root = temp.path().join(".agentrail");
    Workspace::init(&root, 64 * 1024).unwrap();
    let recorder = Recorder::open(Workspace::open(&root).unwrap(), Durability::Never).unwrap();
    let agent = Agent::new(&recorder, "main", None);
    let mut commits = Vec::new();
    for number in 0..200 {
        let content = prose(number, 100);
        commits.push(
            agent
                .commit(request(&format!("m{number}"), &content))
                .unwrap(),
        );
    }
    agent.reset(ResetMode::Hard, &commits[99].id).unwrap();
    let old = Policy {
        retention_days: 0,
        collect_collapsed_children: false,
        now_micros: agentrail::event::now_micros(),
    };
    let report = gc::collect_garbage(&recorder, &old, false).unwrap();
    assert_eq!(report.collected.len(), 100);
    let (before, after) = rewritten_bytes(report.rewrite.as_ref().unwrap());
    assert!(
        after <= before,
        "gc grew its segments: {before} -> {after} bytes"
    );

    let kept: Vec<u64> = commits[..100].iter().map(|commit| commit.lsn).collect();
    let purged = gc::purge(&recorder, &kept).unwrap();
    assert_eq!(purged.tombstoned.len(), 100);
    let (before, after) = rewritten_bytes(&purged);
    assert!(
        after <= before,
        "purge grew its segments: {before} -> {after} bytes"
    );
}
