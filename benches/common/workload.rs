//! A deterministic agent workload, the Rust port of `benches/gen_events.py`, shared by the
//! benches (`#[path = "common/workload.rs"] mod workload;`). Sessions of 20-200 events; 40%
//! `llm_call`, 30% `tool_output` with 0.1-6 KB of stdout (log-uniform: most tool output is
//! short), then decisions, failures, diffs and commits, about 1.4 KB per event as compact JSON
//! (issue 3's workload). The same count and seed always give the
//! same events (for this crate's pinned `rand`), though not the same bytes as the Python script.
//! Self-contained: it needs only `rand` 0.8 and `serde_json`.

#![allow(dead_code)]

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

const WORDS: &str =
    "the agent reads src/lib.rs and runs cargo test; error[E0308]: mismatched types \
    expected u64 found i64 at src/journal/writer.rs:212:9 warning unused variable \
    fn append_batch records payload checksum segment roll seal compress replay \
    test result ok 42 passed 0 failed finished in 0.31s Compiling agentrail v0.1.0";

/// `count` events, each a full event object: `ts`, `session`, `agent`, `type`, `data`.
pub fn events(count: usize, seed: u64) -> Vec<Value> {
    let words: Vec<&str> = WORDS.split_whitespace().collect();
    let mut generator = Generator {
        rng: StdRng::seed_from_u64(seed),
        words,
    };
    let mut out = Vec::with_capacity(count);
    let mut session = 0u64;
    while out.len() < count {
        session += 1;
        let session_length = generator.rng.gen_range(20..201).min(count - out.len());
        for index in 0..session_length {
            out.push(generator.event(session, index));
        }
    }
    out
}

/// The same events as JSON lines, each ending in `\n`.
pub fn jsonl(count: usize, seed: u64) -> String {
    let mut out = String::new();
    for event in events(count, seed) {
        out.push_str(&event.to_string());
        out.push('\n');
    }
    out
}

struct Generator {
    rng: StdRng,
    words: Vec<&'static str>,
}

impl Generator {
    /// Words picked at random, joined by spaces, cut to `size` bytes.
    fn text(&mut self, size: usize) -> String {
        let mut out = String::with_capacity(size + 16);
        while out.len() < size {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(self.words[self.rng.gen_range(0..self.words.len())]);
        }
        out.truncate(size);
        out
    }

    fn sized_text(&mut self, low: usize, high: usize) -> String {
        let size = self.rng.gen_range(low..high);
        self.text(size)
    }

    /// Text of `low..high` bytes, the size log-uniform: as many between 100 and 600 bytes as
    /// between 1,000 and 6,000.
    fn log_sized_text(&mut self, low: usize, high: usize) -> String {
        let size = self
            .rng
            .gen_range((low as f64).ln()..(high as f64).ln())
            .exp();
        self.text(size as usize)
    }

    fn pick<'a>(&mut self, choices: &[&'a str]) -> &'a str {
        choices[self.rng.gen_range(0..choices.len())]
    }

    fn event(&mut self, session: u64, index: usize) -> Value {
        let kind: f64 = self.rng.gen();
        let ts = format!(
            "2026-11-23T{:02}:{:02}:{:02}.{:06}Z",
            10 + index / 3600 % 10,
            index / 60 % 60,
            index % 60,
            self.rng.gen_range(0..1_000_000)
        );
        let (event_type, data) = match kind {
            kind if kind < 0.40 => ("llm_call", self.llm_call()),
            kind if kind < 0.70 => ("tool_output", self.tool_output()),
            kind if kind < 0.82 => ("decision", self.decision()),
            kind if kind < 0.90 => ("failure", self.failure()),
            kind if kind < 0.96 => ("git_diff", self.git_diff()),
            _ => ("commit", self.commit()),
        };
        json!({
            "ts": ts,
            "session": format!("s-{session}"),
            "agent": format!("agent-{}", session % 7),
            "type": event_type,
            "data": data,
        })
    }

    fn llm_call(&mut self) -> Value {
        json!({
            "model": self.pick(&["claude-sonnet-4", "gpt-5", "o4-mini"]),
            "input_tokens": self.rng.gen_range(200..40_000),
            "output_tokens": self.rng.gen_range(10..4_000),
            "cache_read_tokens": self.rng.gen_range(0..30_000),
            "latency_ms": self.rng.gen_range(200..20_000),
            "prompt": self.sized_text(300, 1500),
            "response": self.sized_text(50, 600),
        })
    }

    fn tool_output(&mut self) -> Value {
        let exit_code = [0, 0, 0, 1, 101][self.rng.gen_range(0..5)];
        json!({
            "tool": self.pick(&["bash", "cargo", "git", "pytest"]),
            "command": self.text(40),
            "exit_code": exit_code,
            "duration_ms": self.rng.gen_range(5..90_000),
            "stdout": self.log_sized_text(100, 6000),
            "stderr": self.sized_text(0, 400),
        })
    }

    fn decision(&mut self) -> Value {
        json!({"choice": self.text(60), "rationale": self.text(300)})
    }

    fn failure(&mut self) -> Value {
        json!({
            "error_type": "AssertionError",
            "message": self.text(120),
            "location": "tests/crash.rs:88",
            "locals": {"lsn": self.rng.gen_range(0..1_000_000), "segment": self.text(30)},
        })
    }

    fn git_diff(&mut self) -> Value {
        let lines = self.rng.gen_range(5..50);
        let diff: Vec<String> = (0..lines).map(|_| format!("+{}", self.text(60))).collect();
        json!({"diff": diff.join("\n"), "stat": "3 files changed"})
    }

    fn commit(&mut self) -> Value {
        json!({"kind": "append", "message": self.text(50), "content": self.text(800)})
    }
}
