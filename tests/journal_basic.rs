//! Library-level tests of appending, rolling, reopening and reading.

use agentrail::journal::{Durability, Journal, NewRecord, Options, KIND_EVENT};
use std::sync::Arc;

fn small_options() -> Options {
    Options {
        segment_bytes: 64 * 1024,
        ..Options::default()
    }
}

fn payload(lsn: u64) -> Vec<u8> {
    let len = (lsn * 37 % 3000) as usize;
    (0..len).map(|index| (lsn as usize + index) as u8).collect()
}

fn read_all(journal: &Journal) -> Vec<(u64, Vec<u8>)> {
    journal
        .iter()
        .unwrap()
        .map(|record| record.map(|r| (r.lsn, r.payload)).unwrap())
        .collect()
}

#[test]
fn appends_roll_into_sealed_segments_and_read_back_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    {
        let journal = Journal::create(&path, small_options()).unwrap();
        for lsn in 1..=500u64 {
            assert_eq!(journal.append(KIND_EVENT, payload(lsn)).unwrap(), lsn);
        }
        let all = read_all(&journal);
        assert_eq!(all.len(), 500);
    }
    let segments = std::fs::read_dir(&path)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".seg")
        })
        .count();
    assert!(segments > 5, "expected several segments, found {segments}");
    let journal = Journal::open(&path, small_options()).unwrap();
    assert_eq!(journal.last_lsn(), 500);
    let all = read_all(&journal);
    for (index, (lsn, bytes)) in all.iter().enumerate() {
        assert_eq!(*lsn, index as u64 + 1);
        assert_eq!(bytes, &payload(*lsn));
    }
    let from = journal.read_from(333).unwrap().next().unwrap().unwrap();
    assert_eq!(from.lsn, 333);
    assert_eq!(journal.append(KIND_EVENT, b"x".to_vec()).unwrap(), 501);
}

#[test]
fn concurrent_appenders_get_unique_contiguous_lsns() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Arc::new(
        Journal::create(
            dir.path(),
            Options {
                durability: Durability::Always,
                ..small_options()
            },
        )
        .unwrap(),
    );
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let journal = journal.clone();
            std::thread::spawn(move || {
                (0..100)
                    .map(|_| {
                        journal
                            .append_batch(vec![NewRecord::new(1, vec![7; 100])])
                            .unwrap()
                            .start
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut lsns: Vec<u64> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    lsns.sort();
    assert_eq!(lsns, (1..=800).collect::<Vec<_>>());
}
