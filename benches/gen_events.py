#!/usr/bin/env python3
"""Writes N agent events as JSON lines on stdout, deterministically (seeded), for measuring the
journal's size on disk and import speed. The mix follows the workload of the benches: sessions
of 20-200 events; 40% llm_call, 30% tool_output of 0.1-6 KB (log-uniform: most tool output is
short), the rest decisions, failures, diffs and commits; about 1.4 KB per event. Usage: python3 benches/gen_events.py N [SEED] > events.jsonl"""
import json
import math
import random
import sys

WORDS = ("the agent reads src/lib.rs and runs cargo test; error[E0308]: mismatched types "
         "expected u64 found i64 at src/journal/writer.rs:212:9 warning unused variable "
         "fn append_batch records payload checksum segment roll seal compress replay "
         "test result ok 42 passed 0 failed finished in 0.31s Compiling agentrail v0.1.0").split()


def text(rng, size):
    out, length = [], 0
    while length < size:
        word = rng.choice(WORDS)
        out.append(word)
        length += len(word) + 1
    return " ".join(out)[:size]


def event(rng, session, index):
    kind = rng.random()
    ts = f"2026-11-23T{10 + index // 3600 % 10:02d}:{index // 60 % 60:02d}:{index % 60:02d}.{rng.randrange(10**6):06d}Z"
    base = {"ts": ts, "session": f"s-{session}", "agent": f"agent-{session % 7}"}
    if kind < 0.40:
        data = {"model": rng.choice(["claude-sonnet-4", "gpt-5", "o4-mini"]),
                "input_tokens": rng.randrange(200, 40000), "output_tokens": rng.randrange(10, 4000),
                "cache_read_tokens": rng.randrange(0, 30000), "latency_ms": rng.randrange(200, 20000),
                "prompt": text(rng, rng.randrange(300, 1500)), "response": text(rng, rng.randrange(50, 600))}
        return {**base, "type": "llm_call", "data": data}
    if kind < 0.70:
        data = {"tool": rng.choice(["bash", "cargo", "git", "pytest"]), "command": text(rng, 40),
                "exit_code": rng.choice([0, 0, 0, 1, 101]), "duration_ms": rng.randrange(5, 90000),
                "stdout": text(rng, int(math.exp(rng.uniform(math.log(100), math.log(6000))))), "stderr": text(rng, rng.randrange(0, 400))}
        return {**base, "type": "tool_output", "data": data}
    if kind < 0.82:
        return {**base, "type": "decision", "data": {"choice": text(rng, 60), "rationale": text(rng, 300)}}
    if kind < 0.90:
        data = {"error_type": "AssertionError", "message": text(rng, 120), "location": "tests/crash.rs:88",
                "locals": {"lsn": rng.randrange(10**6), "segment": text(rng, 30)}}
        return {**base, "type": "failure", "data": data}
    if kind < 0.96:
        diff = "\n".join("+" + text(rng, 60) for _ in range(rng.randrange(5, 50)))
        return {**base, "type": "git_diff", "data": {"diff": diff, "stat": "3 files changed"}}
    return {**base, "type": "commit", "data": {"kind": "append", "message": text(rng, 50), "content": text(rng, 800)}}


def main():
    count = int(sys.argv[1])
    rng = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
    written, session = 0, 0
    while written < count:
        session += 1
        for index in range(min(rng.randrange(20, 201), count - written)):
            sys.stdout.write(json.dumps(event(rng, session, index), separators=(",", ":")) + "\n")
            written += 1


if __name__ == "__main__":
    main()
