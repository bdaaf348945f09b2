//! The `active` projection: only the sessions that are open now. A command run for every event
//! an agent records ("which session is this event for?") loads this one rather than
//! `sessions`, so its cost stays that of the open sessions: an ended session is forgotten, and
//! the checkpoint stays a few hundred bytes however long the journal grows.
//!
//! It follows the same rules as `sessions` (see [`super::sessions`]), so the two agree on which
//! sessions are open, their starts, and their last events.

use super::fields;
use super::Projection;
use crate::event::EventRef;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// An open session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ActiveSession {
    pub id: String,
    pub task: Option<String>,
    pub agent: Option<String>,
    pub start_lsn: u64,
    pub start_ts_micros: i64,
    /// LSN and timestamp of the session's last event so far.
    pub last_lsn: u64,
    pub last_ts_micros: i64,
}

/// The open sessions, by id and by start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Active {
    by_id: BTreeMap<String, ActiveSession>,
    /// Id of the open session each start LSN began.
    by_start: BTreeMap<u64, String>,
}

impl Active {
    /// The open session with this id.
    pub fn get(&self, id: &str) -> Option<&ActiveSession> {
        self.by_id.get(id)
    }

    pub fn is_open(&self, id: &str) -> bool {
        self.by_id.contains_key(id)
    }

    /// The open session that started last.
    pub fn most_recent_open(&self) -> Option<&ActiveSession> {
        self.by_start
            .values()
            .next_back()
            .and_then(|id| self.by_id.get(id))
    }

    /// The open session of `agent` that started last: one whose agent is `agent`, where a
    /// session started without an agent is the default agent's (`main`). Any agent's when
    /// `agent` is `None`.
    pub fn most_recent_open_of(&self, agent: Option<&str>) -> Option<&ActiveSession> {
        let Some(agent) = agent else {
            return self.most_recent_open();
        };
        let belongs = |session: &&ActiveSession| {
            session
                .agent
                .as_deref()
                .unwrap_or(crate::context::DEFAULT_AGENT)
                == agent
        };
        self.iter().rev().find(belongs)
    }

    /// The open sessions, in the order they started.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &ActiveSession> + '_ {
        self.by_start.values().filter_map(|id| self.by_id.get(id))
    }

    /// How many sessions are open.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    fn start(&mut self, id: &str, lsn: u64, event: &EventRef<'_>) {
        let session = ActiveSession {
            id: id.to_owned(),
            task: fields::owned_text(&event.data, "task"),
            agent: event.agent.map(str::to_owned),
            start_lsn: lsn,
            start_ts_micros: event.ts_micros,
            last_lsn: lsn,
            last_ts_micros: event.ts_micros,
        };
        self.by_start.insert(lsn, id.to_owned());
        self.by_id.insert(id.to_owned(), session);
    }

    fn end(&mut self, id: &str) {
        if let Some(session) = self.by_id.remove(id) {
            self.by_start.remove(&session.start_lsn);
        }
    }
}

impl Projection for Active {
    const NAME: &'static str = "active";
    const VERSION: u32 = 1;

    fn apply(&mut self, lsn: u64, event: &EventRef<'_>) {
        let Some(id) = event.session else {
            return;
        };
        match event.event_type {
            "session_start" if !self.is_open(id) => self.start(id, lsn, event),
            "session_end" => self.end(id),
            _ => {
                if let Some(session) = self.by_id.get_mut(id) {
                    session.last_lsn = lsn;
                    session.last_ts_micros = event.ts_micros;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;

    fn event(event_type: &str, session: &str) -> Event {
        Event {
            ts_micros: 7,
            event_type: event_type.into(),
            session: Some(session.into()),
            agent: None,
            data: Default::default(),
        }
    }

    #[test]
    fn ended_sessions_are_forgotten_and_the_newest_open_one_is_found() {
        let mut active = Active::default();
        active.apply(1, &event("session_start", "a").to_ref());
        active.apply(2, &event("session_start", "b").to_ref());
        active.apply(3, &event("action", "a").to_ref());
        active.apply(4, &event("session_start", "a").to_ref());
        active.apply(5, &event("action", "nobody").to_ref());
        assert_eq!(active.most_recent_open().unwrap().id, "b");
        assert_eq!(active.get("a").unwrap().last_lsn, 4);
        active.apply(6, &event("session_end", "b").to_ref());
        assert!(!active.is_open("b"));
        assert_eq!(active.most_recent_open().unwrap().id, "a");
        active.apply(7, &event("session_end", "a").to_ref());
        assert!(active.is_empty());
        assert_eq!(active, Active::default());
    }

    #[test]
    fn an_agents_newest_open_session_is_its_own() {
        let mut active = Active::default();
        let started = |session: &str, agent: Option<&str>| Event {
            agent: agent.map(str::to_owned),
            ..event("session_start", session)
        };
        active.apply(1, &started("a1-old", Some("a1")).to_ref());
        active.apply(2, &started("plain", None).to_ref());
        active.apply(3, &started("a1-new", Some("a1")).to_ref());
        active.apply(4, &started("a2", Some("a2")).to_ref());
        let of = |agent| {
            active
                .most_recent_open_of(agent)
                .map(|session| session.id.as_str())
        };
        assert_eq!(of(Some("a1")), Some("a1-new"));
        assert_eq!(of(Some("a2")), Some("a2"));
        assert_eq!(of(Some("main")), Some("plain"), "no agent is main's");
        assert_eq!(of(Some("a3")), None);
        assert_eq!(of(None), Some("a2"));
    }
}
