//! The `stats` projection: the journal's own numbers — how many events of each type, how many
//! sessions started and ended, and the time span and last LSN of the events. Records of kinds
//! this version skips are not events and are not counted.

use super::Projection;
use crate::event::EventRef;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Counts over every event of the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Stats {
    /// Events replayed, of every type.
    pub events: u64,
    /// Events by their type name, including types this version gives no meaning to.
    pub by_type: BTreeMap<String, u64>,
    /// `session_start` events.
    pub sessions_started: u64,
    /// `session_end` events.
    pub sessions_ended: u64,
    /// Timestamp of the first event in LSN order (not the smallest: timestamps come from
    /// agents' clocks and need not increase).
    pub first_ts_micros: Option<i64>,
    /// Timestamp of the last event in LSN order.
    pub last_ts_micros: Option<i64>,
    /// LSN of the last event (0 if there is none).
    pub last_lsn: u64,
}

impl Projection for Stats {
    const NAME: &'static str = "stats";
    const VERSION: u32 = 1;

    fn apply(&mut self, lsn: u64, event: &EventRef<'_>) {
        self.events = self.events.saturating_add(1);
        match self.by_type.get_mut(event.event_type) {
            Some(count) => *count = count.saturating_add(1),
            None => {
                self.by_type.insert(event.event_type.to_owned(), 1);
            }
        }
        match event.event_type {
            "session_start" => self.sessions_started = self.sessions_started.saturating_add(1),
            "session_end" => self.sessions_ended = self.sessions_ended.saturating_add(1),
            _ => {}
        }
        self.first_ts_micros.get_or_insert(event.ts_micros);
        self.last_ts_micros = Some(event.ts_micros);
        self.last_lsn = lsn;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;

    fn event(event_type: &str, ts_micros: i64) -> Event {
        Event {
            ts_micros,
            event_type: event_type.into(),
            session: None,
            agent: None,
            data: Default::default(),
        }
    }

    #[test]
    fn counts_types_sessions_and_the_span_in_lsn_order() {
        let mut stats = Stats::default();
        stats.apply(1, &event("session_start", 50).to_ref());
        stats.apply(2, &event("note", 10).to_ref());
        stats.apply(4, &event("note", 70).to_ref());
        stats.apply(5, &event("session_end", 60).to_ref());
        assert_eq!(stats.events, 4);
        assert_eq!(stats.by_type["note"], 2);
        assert_eq!(stats.by_type.len(), 3);
        assert_eq!((stats.sessions_started, stats.sessions_ended), (1, 1));
        assert_eq!(stats.first_ts_micros, Some(50));
        assert_eq!(stats.last_ts_micros, Some(60));
        assert_eq!(stats.last_lsn, 5);
    }
}
