//! The `agentrail` binary: argument parsing, environment, output and exit codes over the
//! library. Exit codes: 0 success (and a closed stdout pipe), 1 a failed operation, 2 bad
//! usage, bad input or a damaged journal.

mod cli;

fn main() {
    std::process::exit(cli::run());
}
