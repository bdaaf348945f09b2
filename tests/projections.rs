//! Library-level tests of the projection engine: what each built-in projection holds for a
//! scripted scenario, loading incrementally from checkpoints, and never trusting a checkpoint
//! that is missing, stale, damaged or of another journal.

use agentrail::event::{Event, EventRef};
use agentrail::journal::{Durability, Journal, NewRecord, Options, KIND_EVENT};
use agentrail::project::{
    Active, CheckpointStatus, Projection, Projector, SessionStatus, SessionTokens, Sessions, Stats,
    TokenTotals, Tokens, CHECKPOINT_LAG_DIVISOR, NO_KEY,
};
use proptest::prelude::*;
use serde_json::{json, Value as Json};
use std::path::Path;

/// Small segments, so that the journals of these tests seal several and a checkpoint's record
/// often lies in a sealed, compressed segment.
const SEGMENT_BYTES_IN_TEST: u64 = 4096;
/// A record kind this version does not know and skips.
const KIND_SKIPPED: u16 = 0x8001;
const PROPTEST_CASES_DEFAULT: u32 = 48;

fn open_journal(dir: &Path) -> Journal {
    let options = Options {
        segment_bytes: SEGMENT_BYTES_IN_TEST,
        durability: Durability::Never,
        ..Options::default()
    };
    if dir.exists() {
        Journal::open(dir, options).unwrap()
    } else {
        Journal::create(dir, options).unwrap()
    }
}

fn event(
    ts: i64,
    event_type: &str,
    session: Option<&str>,
    agent: Option<&str>,
    data: Json,
) -> Event {
    let Json::Object(data) = data else {
        panic!("event data must be an object")
    };
    Event {
        ts_micros: ts,
        event_type: event_type.into(),
        session: session.map(str::to_owned),
        agent: agent.map(str::to_owned),
        data,
    }
}

/// What a test appends: an event, or a record of a kind this version skips.
#[derive(Debug, Clone)]
enum Item {
    Event(Event),
    Skipped(Vec<u8>),
}

fn append(journal: &Journal, items: &[Item]) {
    if items.is_empty() {
        return;
    }
    let records = items
        .iter()
        .map(|item| match item {
            Item::Event(event) => NewRecord::new(KIND_EVENT, event.encode()),
            Item::Skipped(payload) => NewRecord::new(KIND_SKIPPED, payload.clone()),
        })
        .collect();
    journal.append_batch(records).unwrap();
}

/// Two sessions that end (one committed, one aborted), one left open, LLM calls of several
/// models and agents, an event of a type no projection uses, an event for a session never
/// started, ill-typed fields, and a record of a skipped kind at LSN 15.
fn scenario() -> Vec<Item> {
    let s1 = Some("s1");
    let s2 = Some("s2");
    let claude = Some("claude");
    let codex = Some("codex");
    let events = vec![
        event(
            1_000,
            "session_start",
            s1,
            claude,
            json!({"task": "fix bug"}),
        ),
        event(
            2_000,
            "session_start",
            s2,
            codex,
            json!({"task": "write docs"}),
        ),
        event(
            3_000,
            "action",
            s1,
            claude,
            json!({"description": "read", "kind": "read"}),
        ),
        event(
            4_000,
            "llm_call",
            s1,
            claude,
            json!({"model": "opus", "input_tokens": 100,
            "output_tokens": 20, "cache_read_tokens": 50, "cost_usd": 0.01}),
        ),
        event(
            5_000,
            "note",
            s1,
            claude,
            json!({"text": "an older event type"}),
        ),
        event(
            6_000,
            "llm_call",
            s2,
            codex,
            json!({"model": "gpt", "input_tokens": 10,
            "output_tokens": 5, "cache_creation_tokens": 7, "cost_usd": 0.002}),
        ),
        event(7_000, "action", s2, codex, json!({"description": "write"})),
        event(
            8_000,
            "llm_call",
            None,
            claude,
            json!({"model": "opus", "input_tokens": 1,
            "output_tokens": 1}),
        ),
        event(
            9_000,
            "session_end",
            s1,
            claude,
            json!({"status": "committed",
            "message": "done", "description": "fixed it"}),
        ),
        event(
            10_000,
            "action",
            Some("ghost"),
            claude,
            json!({"description": "lost"}),
        ),
        event(
            11_000,
            "llm_call",
            s2,
            None,
            json!({"model": "haiku", "input_tokens": "many",
            "output_tokens": 3, "cost_usd": -1}),
        ),
        event(
            12_000,
            "session_end",
            s2,
            codex,
            json!({"status": "aborted",
            "message": "gave up"}),
        ),
        event(
            13_000,
            "session_start",
            Some("s3"),
            claude,
            json!({"task": 3}),
        ),
        event(14_000, "action", Some("s3"), claude, json!({})),
    ];
    let mut items: Vec<Item> = events.into_iter().map(Item::Event).collect();
    items.push(Item::Skipped(b"from a newer agentrail".to_vec()));
    items
}

/// The four built-in projections, loaded together.
#[derive(Debug, Clone, PartialEq)]
struct All {
    sessions: Sessions,
    active: Active,
    tokens: Tokens,
    session_tokens: SessionTokens,
    stats: Stats,
}

fn load_all(projector: &Projector, journal: &Journal) -> All {
    All {
        sessions: projector.load::<Sessions>(journal).unwrap().state,
        active: projector.load::<Active>(journal).unwrap().state,
        tokens: projector.load::<Tokens>(journal).unwrap().state,
        session_tokens: projector.load::<SessionTokens>(journal).unwrap().state,
        stats: projector.load::<Stats>(journal).unwrap().state,
    }
}

/// The projections replayed from LSN 1 with no checkpoint at all.
fn fresh(journal: &Journal) -> All {
    let dir = tempfile::tempdir().unwrap();
    load_all(&Projector::new(dir.path()), journal)
}

/// A journal holding the scenario, and a projector, both in `dir`.
fn scenario_setup(dir: &Path) -> (Journal, Projector) {
    let journal = open_journal(&dir.join("journal"));
    append(&journal, &scenario());
    (journal, Projector::new(dir.join("projections")))
}

#[test]
fn sessions_of_the_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let (journal, projector) = scenario_setup(dir.path());
    let loaded = projector.load::<Sessions>(&journal).unwrap();
    assert_eq!(loaded.checkpoint, CheckpointStatus::Missing);
    assert_eq!((loaded.lsn, loaded.replayed), (15, 15));
    let sessions = loaded.state;
    assert_eq!(sessions.len(), 3);
    assert!(sessions.get("ghost").is_none());
    let s1 = sessions.get("s1").unwrap();
    assert_eq!(s1.task.as_deref(), Some("fix bug"));
    assert_eq!(s1.agent.as_deref(), Some("claude"));
    assert_eq!(s1.status, SessionStatus::Committed);
    assert_eq!((s1.start_lsn, s1.start_ts_micros), (1, 1_000));
    assert_eq!((s1.end_lsn, s1.end_ts_micros), (Some(9), Some(9_000)));
    assert_eq!(s1.duration_micros(), Some(8_000));
    assert_eq!((s1.actions, s1.events), (1, 5));
    assert_eq!((s1.last_lsn, s1.last_ts_micros), (9, 9_000));
    assert_eq!(s1.message.as_deref(), Some("done"));
    assert_eq!(s1.description.as_deref(), Some("fixed it"));
    let s1_tokens = TokenTotals {
        calls: 1,
        input_tokens: 100,
        output_tokens: 20,
        cache_read_tokens: 50,
        cache_creation_tokens: 0,
        cost_usd: 0.01,
    };
    assert_eq!(s1.tokens, s1_tokens);
    let s2 = sessions.get("s2").unwrap();
    assert_eq!(s2.status, SessionStatus::Aborted);
    assert_eq!(s2.message.as_deref(), Some("gave up"));
    assert_eq!((s2.actions, s2.events, s2.last_lsn), (1, 5, 12));
    assert_eq!((s2.tokens.calls, s2.tokens.input_tokens), (2, 10));
    assert_eq!((s2.tokens.output_tokens, s2.tokens.cost_usd), (8, 0.002));
    let s3 = sessions.get("s3").unwrap();
    assert_eq!((s3.status, s3.task.as_deref()), (SessionStatus::Open, None));
    assert_eq!(
        (s3.events, s3.last_lsn, s3.duration_micros()),
        (2, 14, None)
    );
    let order: Vec<&str> = sessions.iter().map(|session| session.id.as_str()).collect();
    assert_eq!(order, ["s1", "s2", "s3"]);
    assert_eq!(
        sessions.most_recent_open().map(|s| s.id.as_str()),
        Some("s3")
    );
}

#[test]
fn active_tokens_and_stats_of_the_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let (journal, projector) = scenario_setup(dir.path());
    let all = load_all(&projector, &journal);
    let active = &all.active;
    assert_eq!(active.len(), 1);
    assert!(active.is_open("s3") && !active.is_open("s1") && !active.is_open("ghost"));
    let s3 = active.most_recent_open().unwrap();
    assert_eq!(
        (s3.id.as_str(), s3.agent.as_deref()),
        ("s3", Some("claude"))
    );
    assert_eq!(
        (s3.start_lsn, s3.start_ts_micros, s3.last_lsn),
        (13, 13_000, 14)
    );
    assert_eq!(active.get("s3"), Some(s3));

    let tokens = &all.tokens;
    assert_eq!(tokens.total.calls, 4);
    assert_eq!(tokens.total.input_tokens, 111);
    assert_eq!(tokens.total.output_tokens, 29);
    assert_eq!(tokens.total.cache_read_tokens, 50);
    assert_eq!(tokens.total.cache_creation_tokens, 7);
    assert_eq!(tokens.total.cost_usd, 0.01 + 0.002);
    let calls = |map: &std::collections::BTreeMap<String, TokenTotals>| {
        map.iter()
            .map(|(key, totals)| (key.clone(), totals.calls))
            .collect::<Vec<_>>()
    };
    let pairs = |list: &[(&str, u64)]| {
        list.iter()
            .map(|(key, count)| (key.to_string(), *count))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        calls(&all.session_tokens.by_session),
        pairs(&[(NO_KEY, 1), ("s1", 1), ("s2", 2)])
    );
    assert_eq!(
        calls(&tokens.by_agent),
        pairs(&[(NO_KEY, 1), ("claude", 2), ("codex", 1)])
    );
    assert_eq!(
        calls(&tokens.by_model),
        pairs(&[("gpt", 1), ("haiku", 1), ("opus", 2)])
    );
    assert_eq!(tokens.by_agent["claude"].input_tokens, 101);

    let stats = &all.stats;
    assert_eq!(stats.events, 14);
    let by_type: Vec<(String, u64)> = stats.by_type.clone().into_iter().collect();
    let expected = [
        ("action", 4),
        ("llm_call", 4),
        ("note", 1),
        ("session_end", 2),
        ("session_start", 3),
    ];
    assert_eq!(by_type, pairs(&expected));
    assert_eq!((stats.sessions_started, stats.sessions_ended), (3, 2));
    assert_eq!(
        (stats.first_ts_micros, stats.last_ts_micros),
        (Some(1_000), Some(14_000))
    );
    assert_eq!(stats.last_lsn, 14);
}

/// More events after the scenario: another session with calls, and an end for `s3`.
fn more_events(first_ts: i64, count: usize) -> Vec<Item> {
    let mut items = vec![Item::Event(event(
        first_ts,
        "session_start",
        Some("s4"),
        None,
        json!({"task": "more"}),
    ))];
    for index in 0..count {
        let ts = first_ts + 1 + index as i64;
        let data = json!({"model": "opus", "input_tokens": index, "output_tokens": 1,
            "prompt": "p".repeat(index % 300)});
        items.push(Item::Event(event(
            ts,
            "llm_call",
            Some("s4"),
            Some("claude"),
            data,
        )));
    }
    items.push(Item::Event(event(
        first_ts + 9_999,
        "session_end",
        Some("s3"),
        None,
        json!({"status": "completed"}),
    )));
    items
}

#[test]
fn loads_replay_only_what_is_new_and_equal_a_rebuild_from_scratch() {
    let dir = tempfile::tempdir().unwrap();
    let (journal, projector) = scenario_setup(dir.path());
    load_all(&projector, &journal);
    let again = projector.load::<Sessions>(&journal).unwrap();
    assert_eq!(again.checkpoint, CheckpointStatus::Current);
    assert_eq!((again.replayed, again.lsn), (0, 15));
    let stats = projector.load::<Stats>(&journal).unwrap();
    assert_eq!(
        (stats.checkpoint, stats.replayed),
        (CheckpointStatus::Current, 0)
    );

    let more = more_events(20_000, 120);
    append(&journal, &more);
    let sessions = projector.load::<Sessions>(&journal).unwrap();
    assert_eq!(sessions.checkpoint, CheckpointStatus::Current);
    assert_eq!(sessions.replayed, more.len() as u64);
    assert_eq!(sessions.lsn, 15 + more.len() as u64);
    let all = load_all(&projector, &journal);
    assert_eq!(all, fresh(&journal));
    assert_eq!(all.sessions.get("s4").unwrap().tokens.calls, 120);
    let open: Vec<&str> = all
        .active
        .iter()
        .map(|session| session.id.as_str())
        .collect();
    assert_eq!(open, ["s4"]);
    assert_eq!(projector.load::<Active>(&journal).unwrap().replayed, 0);
}

/// The sum of the payload lengths of the records after `lsn`.
fn payload_bytes_after(journal: &Journal, lsn: u64) -> u64 {
    journal
        .read_from(lsn + 1)
        .unwrap()
        .map(|record| record.unwrap().payload.len() as u64)
        .sum()
}

#[test]
fn a_large_checkpoint_is_saved_again_only_once_the_records_behind_it_are_worth_it() {
    let dir = tempfile::tempdir().unwrap();
    let journal = open_journal(&dir.path().join("journal"));
    let projector = Projector::new(dir.path().join("projections"));
    let starts: Vec<Item> = (0..2_000)
        .map(|index| {
            let task = format!("task {index}: find why the nightly build fails on arm64");
            let session = format!("s{index}");
            let data = json!({ "task": task });
            Item::Event(event(index, "session_start", Some(&session), None, data))
        })
        .collect();
    append(&journal, &starts);
    let first = projector.load::<Sessions>(&journal).unwrap();
    assert_eq!(first.checkpoint, CheckpointStatus::Missing);
    let path = dir.path().join("projections/sessions.ckpt");
    let checkpoint_bytes = std::fs::metadata(&path).unwrap().len();
    let action = |ts: i64| {
        let data = json!({"description": "ran the tests"});
        Item::Event(event(ts, "action", Some("s7"), None, data))
    };
    // One small event behind a large checkpoint: replayed, and the checkpoint left as it is.
    append(&journal, &[action(5_000)]);
    for _ in 0..2 {
        let loaded = projector.load::<Sessions>(&journal).unwrap();
        assert_eq!(
            (loaded.checkpoint, loaded.replayed),
            (CheckpointStatus::Current, 1)
        );
        assert_eq!(loaded.state, fresh(&journal).sessions);
    }
    assert_eq!(std::fs::metadata(&path).unwrap().len(), checkpoint_bytes);
    // Once the records behind it hold a CHECKPOINT_LAG_DIVISOR-th of its bytes, a load saves.
    let mut ts = 5_001;
    while payload_bytes_after(&journal, first.lsn) * CHECKPOINT_LAG_DIVISOR < checkpoint_bytes {
        append(&journal, &[action(ts)]);
        ts += 1;
    }
    let lagging = journal.last_lsn() - first.lsn;
    assert!(lagging > 10, "{lagging} records behind");
    let saving = projector.load::<Sessions>(&journal).unwrap();
    assert_eq!(saving.replayed, lagging);
    let after = projector.load::<Sessions>(&journal).unwrap();
    assert_eq!(
        (after.checkpoint, after.replayed),
        (CheckpointStatus::Current, 0)
    );
    assert_eq!(after.state, fresh(&journal).sessions);
}

#[test]
fn a_checkpoint_survives_reopening_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let (journal, projector) = scenario_setup(dir.path());
    let first = projector.load::<Tokens>(&journal).unwrap();
    journal.close();
    let journal = open_journal(&dir.path().join("journal"));
    let second = projector.load::<Tokens>(&journal).unwrap();
    assert_eq!(
        (second.checkpoint, second.replayed),
        (CheckpointStatus::Current, 0)
    );
    assert_eq!(second.state, first.state);
}

#[test]
fn an_empty_journal_loads_empty_states_and_checkpoints_them_at_lsn_0() {
    let dir = tempfile::tempdir().unwrap();
    let journal = open_journal(&dir.path().join("journal"));
    let projector = Projector::new(dir.path().join("deep/er/projections"));
    let first = projector.load::<Sessions>(&journal).unwrap();
    assert_eq!(
        (first.checkpoint, first.lsn, first.replayed),
        (CheckpointStatus::Missing, 0, 0)
    );
    assert_eq!(first.state, Sessions::default());
    assert!(projector.checkpoint_path(Sessions::NAME).is_file());
    let second = projector.load::<Sessions>(&journal).unwrap();
    assert_eq!(second.checkpoint, CheckpointStatus::Current);
    append(&journal, &scenario());
    let third = projector.load::<Sessions>(&journal).unwrap();
    assert_eq!(
        (third.checkpoint, third.replayed),
        (CheckpointStatus::Current, 15)
    );
    assert_eq!(third.state, fresh(&journal).sessions);
}

/// Replaces P's checkpoint with `bytes`, then checks the load rebuilds from LSN 1, equals a
/// fresh replay, says why, and leaves a good checkpoint behind.
fn assert_rebuilt_after<P>(
    projector: &Projector,
    journal: &Journal,
    bytes: &[u8],
    why: &str,
) -> CheckpointStatus
where
    P: Projection + PartialEq + std::fmt::Debug,
{
    let path = projector.checkpoint_path(P::NAME);
    std::fs::write(&path, bytes).unwrap();
    let loaded = projector.load::<P>(journal).unwrap();
    assert_ne!(loaded.checkpoint, CheckpointStatus::Current, "{why}");
    assert_eq!(loaded.replayed, journal.last_lsn(), "{why}");
    let empty = tempfile::tempdir().unwrap();
    let fresh = Projector::new(empty.path()).load::<P>(journal).unwrap();
    assert_eq!(loaded.state, fresh.state, "{why}");
    let again = projector.load::<P>(journal).unwrap();
    assert_eq!(
        (again.checkpoint, again.replayed),
        (CheckpointStatus::Current, 0),
        "{why}"
    );
    loaded.checkpoint
}

fn is_damaged(status: &CheckpointStatus) -> bool {
    matches!(status, CheckpointStatus::Damaged(_))
}

#[test]
fn damaged_checkpoints_are_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let (journal, projector) = scenario_setup(dir.path());
    projector.load::<Active>(&journal).unwrap();
    let good = std::fs::read(projector.checkpoint_path(Active::NAME)).unwrap();
    for index in 0..good.len() {
        let mut flipped = good.clone();
        flipped[index] ^= 0x20;
        let status = assert_rebuilt_after::<Active>(&projector, &journal, &flipped, "flip");
        assert!(is_damaged(&status), "byte {index}: {status:?}");
    }
    for length in 0..good.len() {
        let status = assert_rebuilt_after::<Active>(&projector, &journal, &good[..length], "cut");
        assert!(is_damaged(&status), "{length} bytes: {status:?}");
    }
    let garbage: Vec<u8> = (0..5000u32)
        .map(|index| (index * 7919 % 251) as u8)
        .collect();
    let status = assert_rebuilt_after::<Sessions>(&projector, &journal, &garbage, "garbage");
    assert!(is_damaged(&status), "{status:?}");
    projector.load::<Tokens>(&journal).unwrap();
    let tokens = std::fs::read(projector.checkpoint_path(Tokens::NAME)).unwrap();
    let mut longer = tokens.clone();
    longer.extend_from_slice(b"tail");
    let status = assert_rebuilt_after::<Tokens>(&projector, &journal, &longer, "appended");
    assert!(is_damaged(&status), "{status:?}");
    let status = assert_rebuilt_after::<Stats>(&projector, &journal, &tokens, "another's");
    assert!(
        is_damaged(&status),
        "a checkpoint of tokens is not one of stats: {status:?}"
    );
}

/// A projection of the same name as `sessions` and another version: its checkpoint is stale
/// for `Sessions`, and the other way round. It also shows that a projection outside the crate
/// needs nothing but the trait.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
struct OtherSessions {
    events: u64,
}

impl Projection for OtherSessions {
    const NAME: &'static str = Sessions::NAME;
    const VERSION: u32 = Sessions::VERSION + 1;

    fn apply(&mut self, _lsn: u64, _event: &EventRef<'_>) {
        self.events += 1;
    }
}

#[test]
fn a_checkpoint_of_another_version_is_stale_and_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let (journal, projector) = scenario_setup(dir.path());
    let other = projector.load::<OtherSessions>(&journal).unwrap();
    assert_eq!(other.state.events, 14);
    let path = projector.checkpoint_path(Sessions::NAME);
    let stale = std::fs::read(&path).unwrap();
    let status = assert_rebuilt_after::<Sessions>(&projector, &journal, &stale, "stale");
    assert_eq!(status, CheckpointStatus::Stale);
    let back = projector.load::<OtherSessions>(&journal).unwrap();
    assert_eq!(
        (back.checkpoint, back.state),
        (CheckpointStatus::Stale, other.state)
    );
}

#[test]
fn a_checkpoint_of_another_journal_is_a_mismatch_and_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let (journal, projector) = scenario_setup(dir.path());
    load_all(&projector, &journal);
    let checkpoint = std::fs::read(projector.checkpoint_path(Sessions::NAME)).unwrap();

    // The same number of records, other content.
    let other = open_journal(&dir.path().join("other"));
    let shifted: Vec<Item> = scenario()
        .into_iter()
        .map(|item| match item {
            Item::Event(mut event) => {
                event.ts_micros += 1;
                Item::Event(event)
            }
            Item::Skipped(mut payload) => {
                payload.push(b'!');
                Item::Skipped(payload)
            }
        })
        .collect();
    append(&other, &shifted);
    let status = assert_rebuilt_after::<Sessions>(&projector, &other, &checkpoint, "other");
    assert_eq!(status, CheckpointStatus::Mismatch);

    // A journal shorter than the checkpoint, as after `repair` cut it: its first records equal.
    let short = open_journal(&dir.path().join("short"));
    append(&short, &scenario()[..5]);
    let status = assert_rebuilt_after::<Sessions>(&projector, &short, &checkpoint, "short");
    assert_eq!(status, CheckpointStatus::Mismatch);

    // Cut, then grown again past the checkpoint with other events.
    append(&short, &more_events(50_000, 20));
    let status = assert_rebuilt_after::<Sessions>(&projector, &short, &checkpoint, "regrown");
    assert_eq!(status, CheckpointStatus::Mismatch);

    // The journal it belongs to still takes it.
    std::fs::write(projector.checkpoint_path(Sessions::NAME), &checkpoint).unwrap();
    let loaded = projector.load::<Sessions>(&journal).unwrap();
    assert_eq!(
        (loaded.checkpoint, loaded.replayed),
        (CheckpointStatus::Current, 0)
    );
}

#[test]
fn rebuild_drops_and_recreates_every_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (journal, projector) = scenario_setup(dir.path());
    load_all(&projector, &journal);
    std::fs::write(projector.checkpoint_path(Stats::NAME), b"damaged").unwrap();
    std::fs::write(
        projector.checkpoint_path("retired"),
        b"a projection no longer built in",
    )
    .unwrap();
    let leftover = projector.dir().join("sessions.ckpt.999-0.tmp");
    std::fs::write(&leftover, b"left by a crashed writer").unwrap();
    let unrelated = projector.dir().join("notes.txt");
    std::fs::write(&unrelated, b"not a checkpoint").unwrap();

    let report = projector.rebuild(&journal).unwrap();
    assert_eq!((report.events, report.records), (14, 15));
    assert!(report.events_per_second >= 0.0);
    assert!(!leftover.exists() && !projector.checkpoint_path("retired").exists());
    assert!(unrelated.exists());
    let expected = fresh(&journal);
    assert_eq!(load_all(&projector, &journal), expected);
    for name in [
        Sessions::NAME,
        Active::NAME,
        Tokens::NAME,
        SessionTokens::NAME,
        Stats::NAME,
        agentrail::context::Graph::NAME,
    ] {
        assert!(projector.checkpoint_path(name).is_file(), "{name}");
    }
    assert_eq!(
        projector.load::<Stats>(&journal).unwrap().checkpoint,
        CheckpointStatus::Current
    );
    assert_eq!(projector.drop_checkpoints().unwrap(), 6);
    assert_eq!(projector.drop_checkpoints().unwrap(), 0);
    assert!(unrelated.exists());
    let missing = projector.load::<Tokens>(&journal).unwrap();
    assert_eq!(missing.checkpoint, CheckpointStatus::Missing);
    assert_eq!(
        Projector::new(dir.path().join("none"))
            .drop_checkpoints()
            .unwrap(),
        0
    );
}

#[test]
fn the_active_checkpoint_stays_small_however_many_sessions_ended() {
    let dir = tempfile::tempdir().unwrap();
    let journal = open_journal(&dir.path().join("journal"));
    let projector = Projector::new(dir.path().join("projections"));
    let mut items = Vec::new();
    for index in 0..3000 {
        let id = format!("session-{index}");
        items.push(Item::Event(event(
            index,
            "session_start",
            Some(&id),
            Some("a"),
            json!({"task": "t"}),
        )));
        items.push(Item::Event(event(
            index,
            "session_end",
            Some(&id),
            None,
            json!({"status": "completed"}),
        )));
    }
    items.push(Item::Event(event(
        9,
        "session_start",
        Some("last"),
        Some("a"),
        json!({"task": "t"}),
    )));
    append(&journal, &items);
    let active = projector.load::<Active>(&journal).unwrap();
    assert_eq!(active.state.most_recent_open().unwrap().id, "last");
    let bytes = std::fs::metadata(projector.checkpoint_path(Active::NAME))
        .unwrap()
        .len();
    assert!(bytes < 200, "the active checkpoint is {bytes} bytes");
    let sessions = projector.load::<Sessions>(&journal).unwrap().state;
    assert_eq!(sessions.len(), 3001);
    assert_eq!(sessions.most_recent_open().unwrap().id, "last");
}

#[test]
fn a_must_understand_record_of_an_unknown_kind_fails_the_load() {
    let dir = tempfile::tempdir().unwrap();
    let (journal, projector) = scenario_setup(dir.path());
    let record = NewRecord {
        kind: KIND_SKIPPED,
        flags: agentrail::journal::format::FRAME_FLAG_MUST_UNDERSTAND,
        payload: vec![1, 2, 3],
    };
    journal.append_batch(vec![record]).unwrap();
    let error = projector.load::<Stats>(&journal).unwrap_err();
    assert!(
        matches!(error, agentrail::Error::UnknownKind { lsn: 16, .. }),
        "{error}"
    );
}

// ---- the model: loading in two steps equals one replay from scratch ----

const SESSION_IDS: [Option<&str>; 4] = [Some("a"), Some("b"), Some("c"), None];
const AGENTS: [Option<&str>; 3] = [Some("claude"), Some("codex"), None];
const TYPES: [&str; 7] = [
    "session_start",
    "session_end",
    "action",
    "llm_call",
    "llm_call",
    "note",
    "tool_output",
];
const STATUSES: [&str; 4] = ["completed", "committed", "aborted", "bogus"];

fn item() -> impl Strategy<Value = Item> {
    let event = (
        0..TYPES.len(),
        0..SESSION_IDS.len(),
        0..AGENTS.len(),
        0u64..2000,
        0..STATUSES.len(),
        any::<bool>(),
        0usize..600,
    );
    prop_oneof![
        20 => event.prop_map(|(kind, session, agent, number, status, ill_typed, padding)| {
            let tokens: Json = if ill_typed { json!(format!("{number}")) } else { json!(number) };
            let model = ["m1", "m2"][(number % 2) as usize];
            let data = json!({
                "task": "t", "status": STATUSES[status], "description": "d",
                "model": model, "input_tokens": tokens,
                "output_tokens": number / 3, "cost_usd": number as f64 / 1000.0,
                "stdout": "x".repeat(padding),
            });
            Item::Event(event_of(TYPES[kind], SESSION_IDS[session], AGENTS[agent], number as i64, data))
        }),
        1 => proptest::collection::vec(any::<u8>(), 0..40).prop_map(Item::Skipped),
    ]
}

fn event_of(
    event_type: &str,
    session: Option<&str>,
    agent: Option<&str>,
    ts: i64,
    data: Json,
) -> Event {
    event(ts, event_type, session, agent, data)
}

/// The built-in projections folded in memory, without the projector.
fn folded(items: &[Item]) -> All {
    let mut all = All {
        sessions: Sessions::default(),
        active: Active::default(),
        tokens: Tokens::default(),
        session_tokens: SessionTokens::default(),
        stats: Stats::default(),
    };
    for (index, item) in items.iter().enumerate() {
        if let Item::Event(event) = item {
            let lsn = index as u64 + 1;
            let event = &event.to_ref();
            all.sessions.apply(lsn, event);
            all.active.apply(lsn, event);
            all.tokens.apply(lsn, event);
            all.session_tokens.apply(lsn, event);
            all.stats.apply(lsn, event);
        }
    }
    all
}

/// `active` and `sessions` agree on the open sessions.
fn open_sessions_agree(all: &All) -> bool {
    let from_sessions: Vec<(String, u64, u64)> = all
        .sessions
        .open()
        .map(|session| (session.id.clone(), session.start_lsn, session.last_lsn))
        .collect();
    let from_active: Vec<(String, u64, u64)> = all
        .active
        .iter()
        .map(|session| (session.id.clone(), session.start_lsn, session.last_lsn))
        .collect();
    from_sessions == from_active
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|value| value.parse().ok()).unwrap_or(PROPTEST_CASES_DEFAULT)
    ))]

    #[test]
    fn loading_in_two_steps_equals_a_rebuild_from_scratch(
        items in proptest::collection::vec(item(), 0..120),
        split in any::<proptest::sample::Index>(),
    ) {
        let split = split.index(items.len() + 1);
        let dir = tempfile::tempdir().unwrap();
        let journal = open_journal(&dir.path().join("journal"));
        let projector = Projector::new(dir.path().join("projections"));
        append(&journal, &items[..split]);
        prop_assert_eq!(load_all(&projector, &journal), folded(&items[..split]));
        append(&journal, &items[split..]);
        let stepwise = load_all(&projector, &journal);
        let rebuilt = Projector::new(dir.path().join("rebuilt"));
        let report = rebuilt.rebuild(&journal).unwrap();
        prop_assert_eq!(report.records, items.len() as u64);
        prop_assert_eq!(&stepwise, &load_all(&rebuilt, &journal));
        prop_assert_eq!(&stepwise, &folded(&items));
        prop_assert!(open_sessions_agree(&stepwise));
        // Loading again starts from a current checkpoint. It may replay a few records: a load
        // that replayed little leaves the checkpoint to lag (projections.md section 3).
        let again = projector.load::<Sessions>(&journal).unwrap();
        prop_assert_eq!(again.checkpoint, CheckpointStatus::Current);
        prop_assert!(again.replayed <= (items.len() - split) as u64);
        prop_assert_eq!(&again.state, &stepwise.sessions);
    }
}

/// README's example of a projection of one's own ("Using it as a library"), as written there.
#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Failures {
    by_type: std::collections::BTreeMap<String, u64>,
}

impl Projection for Failures {
    const NAME: &'static str = "failures";
    const VERSION: u32 = 1;

    fn apply(&mut self, _lsn: u64, event: &EventRef<'_>) {
        if event.event_type == "failure" {
            let error_type = event
                .data
                .get("error_type")
                .and_then(|value| value.as_str());
            *self
                .by_type
                .entry(error_type.unwrap_or("?").to_owned())
                .or_default() += 1;
        }
    }
}

#[test]
fn the_readme_projection_of_ones_own_counts_failures_and_loads_from_its_checkpoint() {
    use agentrail::recorder::{object, Recorder};
    use agentrail::workspace::Workspace;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(".agentrail");
    Workspace::init(&root, SEGMENT_BYTES_IN_TEST).unwrap();
    let recorder = Recorder::open(Workspace::open(&root).unwrap(), Durability::Never).unwrap();
    let failure = |error_type: &str| {
        let data = object(json!({"error_type": error_type, "message": "m"}));
        Event::new(agentrail::event::EventType::Failure, None, None, data).unwrap()
    };
    for error_type in ["E0308", "timeout", "E0308"] {
        recorder.record(failure(error_type)).unwrap();
    }
    let loaded = recorder.load::<Failures>().unwrap();
    assert_eq!(loaded.checkpoint, CheckpointStatus::Missing);
    let expected = [("E0308".to_owned(), 2), ("timeout".to_owned(), 1)];
    assert_eq!(loaded.state.by_type, expected.into());

    recorder.record(failure("timeout")).unwrap();
    let loaded = recorder.load::<Failures>().unwrap();
    assert_eq!(
        (loaded.checkpoint, loaded.replayed),
        (CheckpointStatus::Current, 1)
    );
    assert_eq!(loaded.state.by_type["timeout"], 2);
}
