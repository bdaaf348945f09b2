//! Journal benchmarks, with the peers side by side.
//!
//! - `fdatasync`: this machine's latency for one 4 KiB write plus `fdatasync`, the floor under
//!   every durable append; and, for 256 B and 4 KiB, appending to a growing file (what the
//!   journal does) beside overwriting a file already written with zeros (what a log that
//!   preallocates its segments does, and why the journal does not: README, "What the table
//!   says").
//! - `append/{size}/{mode}/{threads}`: records per second through `Journal::append` for 256 B,
//!   4 KiB and 1 MiB records, in each durability mode, with 1, 4 and 16 appending threads.
//!   The peer `{size}/naive_write_fdatasync/{threads}` is what one writes by hand: a
//!   mutex-guarded file with one write and one `fdatasync` per record. Group commit is the
//!   difference. The peer
//!   `{size}/hand_group_commit/16` is its ceiling on this disk: one thread writing 16 records
//!   with one write and one `fdatasync`, with nothing else to do (no lock, frames, channel or
//!   wake-ups); its rate over `naive_write_fdatasync/1` is the most 16 appenders can gain.
//! - `replay`: iterating every record of sealed (zstd) segments, throughput in record bytes;
//!   the peer `replay/raw_file_read` reads the same number of bytes from a plain file.
//!
//! Files go under `target/bench-data` (the same disk as the build), never a tmpfs, so that
//! `fdatasync` costs what it costs. Run: `cargo bench --bench journal`.

use agentrail::journal::{Durability, Journal, Options, KIND_EVENT};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SIZES: [(usize, &str); 3] = [(256, "256B"), (4096, "4KiB"), (1 << 20, "1MiB")];
const THREADS: [usize; 3] = [1, 4, 16];
const MODES: [(Durability, &str); 3] = [
    (Durability::Always, "always"),
    (Durability::Batch, "batch"),
    (Durability::Never, "never"),
];

fn bench_dir(name: &str) -> tempfile::TempDir {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    std::fs::create_dir_all(&root).expect("creating target/bench-data");
    tempfile::Builder::new()
        .prefix(name)
        .tempdir_in(root)
        .expect("creating a bench directory")
}

/// A record payload that compresses about as well as agent events do (text-like, repetitive).
fn payload(size: usize, seed: u64) -> Vec<u8> {
    let words = [
        "tool_output ",
        "exit_code=0 ",
        "cargo test ",
        "input_tokens ",
        "the agent ",
        "decided ",
        "{\"k\":",
        "12345 ",
    ];
    let mut out = Vec::with_capacity(size);
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while out.len() < size {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(words[(state % words.len() as u64) as usize].as_bytes());
    }
    out.truncate(size);
    out
}

/// Runs `iters` operations split over `threads` threads and returns the wall time.
fn run_threads(
    iters: u64,
    threads: usize,
    operation: impl Fn(u64) + Send + Sync + 'static,
) -> Duration {
    let operation = Arc::new(operation);
    let per_thread = iters.div_ceil(threads as u64);
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|thread| {
            let operation = operation.clone();
            std::thread::spawn(move || {
                (0..per_thread).for_each(|index| operation(thread as u64 * per_thread + index))
            })
        })
        .collect();
    handles
        .into_iter()
        .for_each(|handle| handle.join().expect("bench thread"));
    start.elapsed()
}

fn fdatasync_latency(c: &mut Criterion) {
    let dir = bench_dir("fsync");
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.path().join("f"))
        .expect("open");
    let block = vec![7u8; 4096];
    c.bench_function("fdatasync/4KiB_write_then_fdatasync", |b| {
        b.iter(|| {
            file.write_all(&block).expect("write");
            file.sync_data().expect("fdatasync");
        })
    });
    // 64 KiB is what one sync of 16 writers' 4 KiB records carries.
    for (size, size_name) in [(256, "256B"), (4096, "4KiB"), (65536, "64KiB")] {
        let block = vec![7u8; size];
        let mut grown = File::create(dir.path().join(format!("grown{size}"))).expect("create");
        c.bench_function(
            &format!("fdatasync/{size_name}_append_to_growing_file"),
            |b| {
                b.iter(|| {
                    grown.write_all(&block).expect("write");
                    grown.sync_data().expect("fdatasync");
                })
            },
        );
        let mut zeroed = File::create(dir.path().join(format!("zeroed{size}"))).expect("create");
        zeroed
            .write_all(&vec![0u8; ZEROED_FILE_BYTES])
            .expect("zero");
        zeroed.sync_all().expect("fsync");
        let mut offset = 0;
        c.bench_function(
            &format!("fdatasync/{size_name}_overwrite_of_zeroed_file"),
            |b| {
                b.iter(|| {
                    offset = (offset + size) % ZEROED_FILE_BYTES;
                    zeroed.seek(SeekFrom::Start(offset as u64)).expect("seek");
                    zeroed.write_all(&block).expect("write");
                    zeroed.sync_data().expect("fdatasync");
                })
            },
        );
    }
}

/// The preallocated file the overwrite peer writes into, round and round.
const ZEROED_FILE_BYTES: usize = 64 << 20;

fn append(c: &mut Criterion) {
    let mut group = c.benchmark_group("append");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for (size, size_name) in SIZES {
        group.throughput(Throughput::Elements(1));
        for (mode, mode_name) in MODES {
            for threads in THREADS {
                let id = BenchmarkId::new(format!("{size_name}/{mode_name}"), threads);
                group.bench_function(id, |b| {
                    b.iter_custom(|iters| {
                        let dir = bench_dir("append");
                        let journal = Arc::new(
                            Journal::create(
                                dir.path(),
                                Options {
                                    durability: mode,
                                    ..Options::default()
                                },
                            )
                            .expect("create"),
                        );
                        let record = Arc::new(payload(size, 1));
                        let writer = journal.clone();
                        let elapsed = run_threads(iters, threads, move |_| {
                            writer
                                .append(KIND_EVENT, record.as_ref().clone())
                                .expect("append");
                        });
                        drop(journal);
                        elapsed
                    })
                });
            }
        }
        for threads in THREADS {
            group.bench_function(
                BenchmarkId::new(format!("{size_name}/naive_write_fdatasync"), threads),
                |b| {
                    b.iter_custom(|iters| {
                        let dir = bench_dir("naive");
                        let file = OpenOptions::new()
                            .create(true)
                            .append(true)
                            .open(dir.path().join("log"))
                            .expect("open");
                        let file = Arc::new(Mutex::new(file));
                        let record = Arc::new(payload(size, 1));
                        run_threads(iters, threads, move |_| {
                            let mut file = file.lock().expect("lock");
                            file.write_all(&record).expect("write");
                            file.sync_data().expect("fdatasync");
                        })
                    })
                },
            );
        }
        group.bench_function(
            BenchmarkId::new(
                format!("{size_name}/hand_group_commit"),
                GROUP_COMMIT_PEER_RECORDS,
            ),
            |b| b.iter_custom(|iters| hand_group_commit(size, iters)),
        );
    }
    group.finish();
}

/// Records in each write of the hand-written group commit: as many as the journal's 16
/// appending threads put in one batch.
const GROUP_COMMIT_PEER_RECORDS: usize = 16;

/// The ceiling for any group commit on this disk: one thread, no lock, no frames, no
/// acknowledgements, one write and one `fdatasync` for every 16 records. Returns the time for
/// `iters` records.
fn hand_group_commit(size: usize, iters: u64) -> Duration {
    let dir = bench_dir("group");
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.path().join("log"))
        .expect("open");
    let batch = payload(size * GROUP_COMMIT_PEER_RECORDS, 1);
    let rounds = (iters / GROUP_COMMIT_PEER_RECORDS as u64).max(1);
    let start = Instant::now();
    for _ in 0..rounds {
        file.write_all(&batch).expect("write");
        file.sync_data().expect("fdatasync");
    }
    let records = rounds * GROUP_COMMIT_PEER_RECORDS as u64;
    start.elapsed().mul_f64(iters as f64 / records as f64)
}

/// Bytes of records in the replay journal.
const REPLAY_RECORD_BYTES: usize = 256 * 1024 * 1024;
const REPLAY_RECORD_SIZE: usize = 4096;

fn replay(c: &mut Criterion) {
    let dir = bench_dir("replay");
    let journal = Journal::create(
        dir.path(),
        Options {
            durability: Durability::Never,
            ..Options::default()
        },
    )
    .expect("create");
    let count = REPLAY_RECORD_BYTES / REPLAY_RECORD_SIZE;
    for chunk in 0..count / 1024 {
        let records = (0..1024)
            .map(|index| {
                agentrail::journal::NewRecord::new(
                    KIND_EVENT,
                    payload(REPLAY_RECORD_SIZE, (chunk * 1024 + index) as u64),
                )
            })
            .collect();
        journal.append_batch(records).expect("append");
    }
    journal.sync().expect("sync");
    drop(journal);
    let journal = Journal::open(dir.path(), Options::default()).expect("open");
    let raw_path = dir.path().join("raw-peer");
    {
        let mut raw = File::create(&raw_path).expect("create raw");
        for index in 0..count {
            raw.write_all(&payload(REPLAY_RECORD_SIZE, index as u64))
                .expect("write raw");
        }
    }
    let mut group = c.benchmark_group("replay");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Bytes(REPLAY_RECORD_BYTES as u64));
    group.bench_function("journal_sealed_segments", |b| {
        b.iter(|| {
            let mut bytes = 0usize;
            for record in journal.iter().expect("reader") {
                bytes += record.expect("record").payload.len();
            }
            assert_eq!(bytes, REPLAY_RECORD_BYTES);
        })
    });
    group.bench_function("raw_file_read", |b| {
        b.iter(|| {
            let mut file = File::open(&raw_path).expect("open raw");
            let mut buffer = vec![0u8; 1 << 20];
            let mut bytes = 0usize;
            loop {
                let read = file.read(&mut buffer).expect("read raw");
                if read == 0 {
                    break;
                }
                bytes += read;
            }
            assert_eq!(bytes, REPLAY_RECORD_BYTES);
        })
    });
    group.finish();
}

criterion_group!(benches, fdatasync_latency, append, replay);
criterion_main!(benches);
