//! A reader's prefetch threads end with it: once a reader is dropped, nothing reads the
//! mapping of the sealed segment it was in, so a file rewritten afterwards is never touched
//! (a thread left decompressing would die of SIGBUS on a truncated file). A test binary of its
//! own, so no other test's reader has threads running while they are counted.
#![cfg(target_os = "linux")]

mod common;

use agentrail::journal::{Durability, Journal, NewRecord, Options, KIND_EVENT};
use common::{fast_tempdir, segment_names};

/// The name the reader gives its prefetch threads, as Linux keeps it: 15 bytes at most.
const PREFETCH_THREAD_COMM: &str = "agentrail-prefe";
/// Records of this size fill a 256 KiB sealed block with 32 of them.
const RECORD_BYTES: usize = 8 * 1024;
/// Sealed segments of 64 blocks: each of the two prefetch threads has 32 to decompress, more
/// than its channel holds, so it is still running (blocked on a full channel) when counted.
const SEGMENT_BYTES: u64 = 16 * 1024 * 1024;

/// How many of this process's threads are prefetch threads.
fn prefetch_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.unwrap().path().join("comm")).ok())
        .filter(|comm| comm.trim_end() == PREFETCH_THREAD_COMM)
        .count()
}

#[test]
fn dropping_a_reader_in_the_middle_of_a_sealed_segment_leaves_no_prefetch_thread() {
    let dir = fast_tempdir();
    let options = Options {
        segment_bytes: SEGMENT_BYTES,
        durability: Durability::Never,
        ..Options::default()
    };
    let journal = Journal::create(dir.path(), options).unwrap();
    let records = (0..4096u32)
        .map(|n| NewRecord::new(KIND_EVENT, n.to_le_bytes().repeat(RECORD_BYTES / 4)))
        .collect();
    journal.append_batch(records).unwrap();
    assert!(segment_names(dir.path()).len() >= 2, "a sealed segment");
    for round in 0..20 {
        let mut reader = journal.read_from(1 + round * 7).unwrap();
        assert_eq!(reader.next().unwrap().unwrap().lsn, 1 + round * 7);
        assert!(
            prefetch_threads() > 0,
            "round {round}: no prefetch thread to count"
        );
        drop(reader);
        assert_eq!(
            prefetch_threads(),
            0,
            "round {round}: a thread outlived its reader"
        );
    }
}
