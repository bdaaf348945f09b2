//! Regression tests for what the fuzz targets in `fuzz/` found, each reproduced through the
//! library's public API so that it runs with `cargo test`, without a fuzzer. Each test names
//! the target and the minimized input that found it.

use agentrail::event::{Event, VALUE_NESTING_DEPTH_MAX};
use agentrail::journal::sim::{CrashMode, SimFs};
use agentrail::journal::{Durability, Journal, Options, KIND_EVENT};
use agentrail::redact::{Redactor, REDACTION_PASSES_MAX};
use std::path::Path;
use std::sync::Arc;

fn options(fs: &SimFs, durability: Durability) -> Options {
    Options {
        segment_bytes: 14_695,
        durability,
        checkpoint_interval_bytes: 23_808,
        vfs: Arc::new(fs.clone()),
        ..Options::default()
    }
}

/// `fuzz/fuzz_targets/model.rs`, input `41 67 29 5d 00 5c 5c 68 ff 68`: in mode `never`, a
/// record is appended and the journal closed (nothing synced); the journal is opened again and
/// `sync` succeeds; a power cut then lost the record. The new handle had written nothing
/// itself, so its `sync` skipped the `fdatasync`, though the records it recovered were not
/// known to be durable.
#[test]
fn sync_after_reopen_makes_records_of_the_earlier_handle_durable() {
    let fs = SimFs::new();
    let dir = Path::new("/journal");
    let journal = Journal::create(dir, options(&fs, Durability::Never)).unwrap();
    assert_eq!(journal.append(KIND_EVENT, vec![7; 2712]).unwrap(), 1);
    drop(journal);
    let journal = Journal::open(dir, options(&fs, Durability::Never)).unwrap();
    journal.sync().unwrap();
    let image = fs.crash_image(CrashMode::DropUnsynced);
    drop(journal);
    let recovered = Journal::open(dir, options(&image, Durability::Never)).unwrap();
    assert_eq!(
        recovered.last_lsn(),
        1,
        "the synced record was lost in a crash"
    );
}

/// The same gap through the other door: records that another handle (another process, in
/// practice) appended without syncing are picked up by this handle's writer before a `sync`,
/// and that `sync` must cover them too.
#[test]
fn sync_covers_records_appended_by_another_handle() {
    let fs = SimFs::new();
    let dir = Path::new("/journal");
    let syncing = Journal::create(dir, options(&fs, Durability::Never)).unwrap();
    let appending = Journal::open(dir, options(&fs, Durability::Never)).unwrap();
    assert_eq!(appending.append(KIND_EVENT, vec![7; 100]).unwrap(), 1);
    syncing.sync().unwrap();
    let image = fs.crash_image(CrashMode::DropUnsynced);
    drop((syncing, appending));
    let recovered = Journal::open(dir, options(&image, Durability::Never)).unwrap();
    assert_eq!(
        recovered.last_lsn(),
        1,
        "the synced record was lost in a crash"
    );
}

/// An event payload (postcard, `format-spec/journal.md` section 7) whose data is an object
/// holding `arrays` arrays nested in each other around a null.
fn nested_event_payload(arrays: usize) -> Vec<u8> {
    // encoding_version 1, ts 0, event_type "", session None, agent None.
    let mut payload = vec![1, 0, 0, 0, 0];
    // data: Object (variant 7) of one entry, key "a".
    payload.extend_from_slice(&[7, 1, 1, b'a']);
    for _ in 0..arrays {
        // Array (variant 6) of one element.
        payload.extend_from_slice(&[6, 1]);
    }
    payload.push(0);
    payload
}

/// `fuzz/fuzz_targets/decode_segment.rs`, which hands its raw input to `Event::decode`: bytes
/// nesting arrays 50,000 deep (`01 00 00 00 00`, then `06 01` repeated, then `00`) overflowed
/// the stack and aborted the process, since postcard decodes nested values by recursion with no
/// limit. Any record of kind `event` could carry them.
#[test]
fn event_decode_refuses_data_nested_without_bound_instead_of_overflowing_the_stack() {
    let mut raw = vec![1, 0, 0, 0, 0];
    for _ in 0..50_000 {
        raw.extend_from_slice(&[6, 1]);
    }
    raw.push(0);
    assert!(Event::decode(1, &raw).is_err());
    assert!(Event::decode(1, &nested_event_payload(1_000_000)).is_err());
}

#[test]
fn event_decode_accepts_data_nested_up_to_the_limit() {
    // The data object is one level, each array one more.
    let deepest = nested_event_payload(VALUE_NESTING_DEPTH_MAX - 1);
    assert!(Event::decode(1, &deepest).is_ok());
    // postcard replaces the limit's message by its own generic one, so only the refusal shows.
    assert!(Event::decode(1, &nested_event_payload(VALUE_NESTING_DEPTH_MAX)).is_err());
}

/// `fuzz/fuzz_targets/event_input.rs`, run 11 (input
/// `LVFQYXNzUFA9/yAgPV92MQErKysrODhQUEFQPbJALgk9X4KCgoKCgiAgPV92MQErKysrODhQQVFQYXNzUFA9/yAgPV92MQErKysrODhQUEFQPbJALgk9X4KCgoKCgiAgPV92MQErKysrODhQQXBBAFBQICA9X4KCgoKCUnBBAFBQICA9X4KCgoKCUr8=`
/// in base64, `-QPassPP=\xff  =_v1...`): redacting a redacted string changed it. The marker
/// a pass wrote, `[REDACTED:secret_assignment]`, ends in a name holding `secret` and `]`, which
/// the `KEY=VALUE` detector reads as a key: in `PASSWORD=hunter2 =y`, the next pass redacted
/// `y`, the pass after it the next `=y`, and a chain longer than the passes allowed was left
/// half done, so that an export imported again came back changed.
#[test]
fn a_redaction_marker_is_never_read_as_a_key_naming_a_secret() {
    let redactor = Redactor::builtin();
    assert_eq!(
        redactor.redact_str("API_KEY=abc123 = other"),
        "API_KEY=[REDACTED:secret_assignment] = other"
    );
    let links = " =y".repeat(REDACTION_PASSES_MAX + 2);
    let once = redactor
        .redact_str(&format!("PASSWORD=hunter2{links}"))
        .into_owned();
    assert_eq!(
        once,
        format!("PASSWORD=[REDACTED:secret_assignment]{links}")
    );
    assert_eq!(redactor.redact_str(&once), once);
    let found =
        b"-QPassPP=\xff  =_v1\x01++++88PPAP=\xb2@.\t=_\x82\x82  =_v1\x01++++88PApA\x00PP  =_\x82R";
    let text = String::from_utf8_lossy(found);
    let once = redactor.redact_str(&text).into_owned();
    assert!(
        once.starts_with("-QPassPP=[REDACTED:secret_assignment]  =_v1"),
        "{once}"
    );
    assert_eq!(redactor.redact_str(&once), once);
}
