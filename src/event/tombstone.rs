//! What an event keeps when gc or purge removes its content (`format-spec/events.md` section
//! 8). The journal replaces the record by a tombstone frame holding the original header, the
//! SHA-256 of the original payload and a *summary* (`format-spec/journal.md` section 10); for
//! an event the summary is an ordinary event record with the same envelope (time, type,
//! session, agent) and only the `data` fields that are identifiers, counts or closed choices,
//! never free text, so that every projection still rebuilds from it: token totals stay, the
//! graph keeps a placeholder for a removed commit, sessions keep their status.

use super::{Event, EventType};
use crate::journal::format::{FrameHeader, Tombstone, FRAME_FLAG_TOMBSTONE};
use crate::journal::rewrite::hex;
use crate::journal::{Journal, Record, KIND_EVENT};
use serde_json::Map;

/// The `data` fields a tombstone of each event type keeps.
pub fn kept_fields(kind: Option<EventType>) -> &'static [&'static str] {
    match kind {
        Some(EventType::Commit) => &[
            "kind",
            "id",
            "parents",
            "target",
            "tokens",
            "tokenizer",
            "move_head",
            "links",
        ],
        Some(EventType::RefUpdate) => &["op", "agent", "head", "branches", "mode", "also"],
        Some(EventType::LlmCall) => &[
            "model",
            "input_tokens",
            "output_tokens",
            "cache_read_tokens",
            "cache_creation_tokens",
            "latency_ms",
            "cost_usd",
        ],
        Some(EventType::ToolOutput) => &["tool", "exit_code", "duration_ms", "truncated"],
        Some(EventType::SessionEnd) => &["status"],
        Some(EventType::Task) => &["id", "status"],
        Some(EventType::Action) => &["kind"],
        Some(EventType::Failure) => &["error_type"],
        Some(EventType::GitDiff) => &["truncated"],
        _ => &[],
    }
}

/// The event a tombstone keeps of `event`: its envelope and its kept `data` fields.
pub fn kept_event(event: &Event) -> Event {
    let kept = kept_fields(event.kind());
    let data: Map<_, _> = event
        .data
        .iter()
        .filter(|(key, _)| kept.contains(&key.as_str()))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    Event {
        ts_micros: event.ts_micros,
        event_type: event.event_type.clone(),
        session: event.session.clone(),
        agent: event.agent.clone(),
        data,
    }
}

/// The summary of a record for its tombstone: for an event, the encoding of [`kept_event`]; a
/// record that does not decode as an event keeps an event of type `unreadable` with no data;
/// a record of another kind keeps nothing.
pub fn summary_of(record: &Record) -> Vec<u8> {
    if record.kind != KIND_EVENT {
        return Vec::new();
    }
    let kept = match Event::decode(record.lsn, &record.payload) {
        Ok(event) => kept_event(&event),
        Err(_) => Event {
            ts_micros: 0,
            event_type: UNREADABLE_TYPE.to_owned(),
            session: None,
            agent: None,
            data: Map::new(),
        },
    };
    kept.encode()
}

/// The type a tombstone gives an event whose payload did not decode.
pub const UNREADABLE_TYPE: &str = "unreadable";

/// What a tombstone says of the payload it replaced.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TombstoneInfo {
    /// SHA-256 of the removed payload, 64 lowercase hex digits.
    pub sha256: String,
    /// Length of the removed payload.
    pub bytes: u32,
}

/// The tombstone in `record`, if it is one: its summary and what it says of the payload.
pub fn tombstone_of(record: &Record) -> Option<(TombstoneInfo, &[u8])> {
    if record.flags & FRAME_FLAG_TOMBSTONE == 0 {
        return None;
    }
    let header = FrameHeader::for_payload(record.lsn, record.kind, record.flags, &record.payload);
    let tombstone = Tombstone::decode(&header, &record.payload).ok()?;
    let info = TombstoneInfo {
        sha256: hex(&tombstone.payload_sha256),
        bytes: tombstone.kept_header.payload_len,
    };
    Some((info, tombstone.summary))
}

/// What the tombstone at `lsn` says, if the record there is one.
pub fn tombstone_at(journal: &Journal, lsn: u64) -> crate::Result<Option<TombstoneInfo>> {
    if lsn == 0 || lsn > journal.last_lsn() {
        return Ok(None);
    }
    match journal.read_from(lsn)?.next() {
        Some(record) => Ok(tombstone_of(&record?).map(|(info, _)| info)),
        None => Ok(None),
    }
}

/// True when `event` is a `commit` whose content was removed: a commit cannot be written
/// without `content` (the input check requires it), so only a tombstone reads back so.
pub fn is_removed_commit(event: &Event) -> bool {
    event.kind() == Some(EventType::Commit) && !event.data.contains_key("content")
}
