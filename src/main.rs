//! The `agentrail` binary: argument parsing, environment, output and exit codes over the
//! library. Exit codes: 0 success (and a closed stdout pipe), 1 a failed operation, 2 bad
//! usage, bad input or a damaged journal.

mod cli;

/// mimalloc rather than the system allocator: a bulk import builds and frees millions of small
/// JSON values on several threads, where glibc's malloc, free and arena growth took a quarter
/// of the CPU time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(cli::run());
}
