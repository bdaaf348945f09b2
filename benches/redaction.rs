//! Redaction benchmarks over the agent workload of `benches/common/workload.rs`.
//!
//! - `redaction/clean/*`: 10 000 workload events without secrets, throughput in bytes of their
//!   JSON lines. `clone` is the baseline (copying the events, which redacting in place must
//!   follow anyway when the caller keeps the original); `redact` is `Redactor::redact_event`
//!   over already-cloned events (the clone is excluded); `clone_and_redact` is both.
//! - `redaction/secrets_1pct/*`: the same with one fake secret in every hundredth event, so
//!   the detectors behind the prefilter run and allocate.
//!
//! Run: `cargo bench --bench redaction -- --warm-up-time 1 --measurement-time 3`.

#[path = "common/workload.rs"]
mod workload;

use agentrail::event::Event;
use agentrail::redact::Redactor;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use serde_json::Value;

const EVENT_COUNT: usize = 10_000;
const SEED: u64 = 1;
/// One event in this many carries a secret in the `secrets_1pct` group.
const SECRET_EVERY_EVENTS: usize = 100;

/// Fake secrets, one appended to a text field of every hundredth event.
const FAKE_SECRETS: &[&str] = &[
    " export GITHUB_TOKEN=ghp_FAKEfake0123456789FAKEfake0123456789",
    " Authorization: Bearer FAKEtoken0123456789abcdef",
    " aws_access_key_id AKIAIOSFODNN7EXAMPLE",
    " postgres://admin:FakePassw0rd@db.internal:5432/app",
    " DB_PASSWORD=hunter2-fake",
];

fn to_events(values: &[Value]) -> Vec<Event> {
    values
        .iter()
        .enumerate()
        .map(|(index, value)| {
            let Value::Object(object) = value.clone() else {
                panic!("workload event {index} is not an object")
            };
            Event::from_json_object(object, index + 1, 0).expect("workload events are valid")
        })
        .collect()
}

fn json_bytes(values: &[Value]) -> u64 {
    values
        .iter()
        .map(|value| value.to_string().len() as u64 + 1)
        .sum()
}

/// Appends a fake secret to the first text field of every hundredth event.
fn sprinkle_secrets(values: &mut [Value]) {
    for (index, value) in values.iter_mut().enumerate().step_by(SECRET_EVERY_EVENTS) {
        let secret = FAKE_SECRETS[(index / SECRET_EVERY_EVENTS) % FAKE_SECRETS.len()];
        let Some(Value::Object(data)) = value.get_mut("data") else {
            continue;
        };
        let text = data.values_mut().find_map(|field| match field {
            Value::String(text) if text.len() >= 30 => Some(text),
            _ => None,
        });
        if let Some(text) = text {
            text.push_str(secret);
        }
    }
}

/// How many events redaction changes: checked before timing, so a bench of a redactor that
/// finds nothing (or everything) cannot pass unnoticed.
fn events_changed(redactor: &Redactor, events: &[Event]) -> usize {
    let mut redacted = events.to_vec();
    redacted.iter_mut().for_each(|event| {
        redactor
            .redact_event(event)
            .expect("no identifier looks like a secret")
    });
    events
        .iter()
        .zip(&redacted)
        .filter(|(before, after)| before != after)
        .count()
}

fn bench_group(criterion: &mut Criterion, name: &str, values: &[Value], changed_expected: usize) {
    let redactor = Redactor::builtin();
    let events = to_events(values);
    let bytes = json_bytes(values);
    let changed = events_changed(&redactor, &events);
    eprintln!(
        "{name}: {} events, {bytes} bytes of JSON lines, {} bytes per event on average, \
         {changed} changed by redaction",
        events.len(),
        bytes / events.len() as u64
    );
    assert_eq!(
        changed, changed_expected,
        "events changed by redaction in {name}"
    );
    let mut group = criterion.benchmark_group(format!("redaction/{name}"));
    group.throughput(Throughput::Bytes(bytes));
    group.sample_size(10);
    group.bench_function("clone", |bench| bench.iter(|| events.clone()));
    group.bench_function("redact", |bench| {
        bench.iter_batched_ref(
            || events.clone(),
            |events| {
                events.iter_mut().for_each(|event| {
                    redactor
                        .redact_event(event)
                        .expect("no identifier looks like a secret")
                })
            },
            BatchSize::LargeInput,
        )
    });
    group.bench_function("clone_and_redact", |bench| {
        bench.iter(|| {
            let mut events = events.clone();
            events.iter_mut().for_each(|event| {
                redactor
                    .redact_event(event)
                    .expect("no identifier looks like a secret")
            });
            events
        })
    });
    group.finish();
}

fn redaction(criterion: &mut Criterion) {
    let clean = workload::events(EVENT_COUNT, SEED);
    bench_group(criterion, "clean", &clean, 0);
    let mut with_secrets = clean;
    sprinkle_secrets(&mut with_secrets);
    let sprinkled = EVENT_COUNT.div_ceil(SECRET_EVERY_EVENTS);
    bench_group(criterion, "secrets_1pct", &with_secrets, sprinkled);
}

criterion_group!(benches, redaction);
criterion_main!(benches);
