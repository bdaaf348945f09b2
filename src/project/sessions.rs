//! The `sessions` projection: every session a `session_start` event began, with its task,
//! agent, status, times, counts and token totals. Sessions are kept in the order they started,
//! with an index by id and the set of open ones, so a lookup and "the most recently started
//! open session" are cheap however long the history.
//!
//! The rules, shared with the `active` projection so the two always agree on what is open:
//! - a `session_start` for an id that is not open starts a new session with that id (an id may
//!   be reused after its session ended: [`Sessions::get`] then names the newest one, and
//!   [`Sessions::iter`] lists both); a `session_start` for an open id is just another event;
//! - an event whose `session` names no started session is ignored; any other event with that
//!   session counts towards the newest session with the id, even after it ended;
//! - the first `session_end` ends the session; its `status` is `committed` or `aborted`, and
//!   anything else (including `completed`, a missing or an unknown status) counts as
//!   `completed`;
//! - the agent is the `session_start` event's agent.

use super::fields;
use super::tokens::TokenTotals;
use super::Projection;
use crate::event::EventRef;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Where a session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum SessionStatus {
    #[default]
    Open,
    Completed,
    Committed,
    Aborted,
}

impl SessionStatus {
    /// The status a `session_end` event's `status` field names.
    pub fn of_end(status: Option<&str>) -> SessionStatus {
        match status {
            Some("committed") => SessionStatus::Committed,
            Some("aborted") => SessionStatus::Aborted,
            _ => SessionStatus::Completed,
        }
    }

    /// The lower-case name used in events and output.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Open => "open",
            SessionStatus::Completed => "completed",
            SessionStatus::Committed => "committed",
            SessionStatus::Aborted => "aborted",
        }
    }
}

impl std::fmt::Display for SessionStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One session as the journal tells it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct SessionInfo {
    pub id: String,
    /// The `task` of the `session_start` event.
    pub task: Option<String>,
    pub agent: Option<String>,
    pub status: SessionStatus,
    pub start_lsn: u64,
    pub start_ts_micros: i64,
    /// LSN and timestamp of the `session_end` event, once there is one.
    pub end_lsn: Option<u64>,
    pub end_ts_micros: Option<i64>,
    /// `action` events of the session.
    pub actions: u64,
    /// Every event of the session, its start and end included.
    pub events: u64,
    pub last_lsn: u64,
    pub last_ts_micros: i64,
    /// `message` and `description` of the `session_end` event.
    pub message: Option<String>,
    pub description: Option<String>,
    /// The session's `llm_call` events, added up.
    pub tokens: TokenTotals,
}

impl SessionInfo {
    fn start(id: &str, lsn: u64, event: &EventRef<'_>) -> SessionInfo {
        SessionInfo {
            id: id.to_owned(),
            task: fields::owned_text(&event.data, "task"),
            agent: event.agent.map(str::to_owned),
            start_lsn: lsn,
            start_ts_micros: event.ts_micros,
            ..SessionInfo::default()
        }
    }

    /// Counts one event of this session; true if it ended the session.
    fn record(&mut self, lsn: u64, event: &EventRef<'_>) -> bool {
        self.events = self.events.saturating_add(1);
        self.last_lsn = lsn;
        self.last_ts_micros = event.ts_micros;
        match event.event_type {
            "action" => self.actions = self.actions.saturating_add(1),
            "llm_call" => self.tokens.add(&TokenTotals::of_call(&event.data)),
            "session_end" if self.is_open() => {
                self.end(lsn, event);
                return true;
            }
            _ => {}
        }
        false
    }

    fn end(&mut self, lsn: u64, event: &EventRef<'_>) {
        self.status = SessionStatus::of_end(fields::text(&event.data, "status"));
        self.end_lsn = Some(lsn);
        self.end_ts_micros = Some(event.ts_micros);
        self.message = fields::owned_text(&event.data, "message");
        self.description = fields::owned_text(&event.data, "description");
    }

    pub fn is_open(&self) -> bool {
        self.status == SessionStatus::Open
    }

    /// From start to end, for an ended session; 0 if the agent's clock put the end first.
    pub fn duration_micros(&self) -> Option<i64> {
        self.end_ts_micros
            .map(|end| end.saturating_sub(self.start_ts_micros).max(0))
    }
}

/// Every session, in the order they started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Sessions {
    sessions: Vec<SessionInfo>,
    /// Position in `sessions` of the newest session with each id.
    by_id: BTreeMap<String, usize>,
    /// Positions in `sessions` of the open sessions.
    open: BTreeSet<usize>,
}

impl Sessions {
    /// The newest session with this id.
    pub fn get(&self, id: &str) -> Option<&SessionInfo> {
        self.by_id
            .get(id)
            .and_then(|&position| self.sessions.get(position))
    }

    /// Every session, in the order they started.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &SessionInfo> + '_ {
        self.sessions.iter()
    }

    /// The open sessions, in the order they started.
    pub fn open(&self) -> impl DoubleEndedIterator<Item = &SessionInfo> + '_ {
        self.open
            .iter()
            .filter_map(|&position| self.sessions.get(position))
    }

    /// The open session that started last.
    pub fn most_recent_open(&self) -> Option<&SessionInfo> {
        self.open().next_back()
    }

    /// How many sessions started.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    fn start(&mut self, id: &str, lsn: u64, event: &EventRef<'_>) {
        let position = self.sessions.len();
        self.sessions.push(SessionInfo::start(id, lsn, event));
        self.by_id.insert(id.to_owned(), position);
        self.open.insert(position);
    }
}

impl Projection for Sessions {
    const NAME: &'static str = "sessions";
    const VERSION: u32 = 1;

    fn apply(&mut self, lsn: u64, event: &EventRef<'_>) {
        let Some(id) = event.session else {
            return;
        };
        if event.event_type == "session_start" && !self.get(id).is_some_and(SessionInfo::is_open) {
            self.start(id, lsn, event);
        }
        let Some(&position) = self.by_id.get(id) else {
            return;
        };
        let Some(session) = self.sessions.get_mut(position) else {
            return;
        };
        if session.record(lsn, event) {
            self.open.remove(&position);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;
    use serde_json::{json, Value as Json};

    fn event(event_type: &str, session: &str, ts_micros: i64, data: Json) -> Event {
        let Json::Object(data) = data else {
            unreachable!()
        };
        Event {
            ts_micros,
            event_type: event_type.into(),
            session: Some(session.into()),
            agent: Some("claude".into()),
            data,
        }
    }

    #[test]
    fn a_session_counts_its_events_ends_once_and_ignores_unstarted_ids() {
        let mut sessions = Sessions::default();
        sessions.apply(1, &event("action", "s", 5, json!({})).to_ref());
        sessions.apply(
            2,
            &event("session_start", "s", 10, json!({"task": "t"})).to_ref(),
        );
        sessions.apply(
            3,
            &event("action", "s", 20, json!({"description": "d"})).to_ref(),
        );
        sessions.apply(
            4,
            &event("llm_call", "s", 30, json!({"input_tokens": 9})).to_ref(),
        );
        let end = json!({"status": "aborted", "message": "m"});
        sessions.apply(5, &event("session_end", "s", 45, end).to_ref());
        sessions.apply(
            6,
            &event("session_end", "s", 50, json!({"status": "committed"})).to_ref(),
        );
        let session = sessions.get("s").unwrap();
        assert_eq!(session.task.as_deref(), Some("t"));
        assert_eq!(session.agent.as_deref(), Some("claude"));
        assert_eq!(session.status, SessionStatus::Aborted);
        assert_eq!(session.message.as_deref(), Some("m"));
        assert_eq!((session.start_lsn, session.end_lsn), (2, Some(5)));
        assert_eq!(session.duration_micros(), Some(35));
        assert_eq!((session.actions, session.events), (1, 5));
        assert_eq!((session.last_lsn, session.last_ts_micros), (6, 50));
        assert_eq!(session.tokens.input_tokens, 9);
        assert_eq!(sessions.most_recent_open(), None);
    }

    #[test]
    fn a_reused_id_starts_a_new_session_but_a_second_start_of_an_open_one_does_not() {
        let mut sessions = Sessions::default();
        sessions.apply(
            1,
            &event("session_start", "a", 1, json!({"task": "one"})).to_ref(),
        );
        sessions.apply(2, &event("session_start", "b", 2, json!({})).to_ref());
        sessions.apply(
            3,
            &event("session_start", "a", 3, json!({"task": "again"})).to_ref(),
        );
        assert_eq!(sessions.len(), 2);
        assert_eq!(sessions.most_recent_open().unwrap().id, "b");
        sessions.apply(
            4,
            &event("session_end", "b", 4, json!({"status": "?"})).to_ref(),
        );
        assert_eq!(sessions.get("b").unwrap().status, SessionStatus::Completed);
        assert_eq!(sessions.most_recent_open().unwrap().id, "a");
        sessions.apply(5, &event("session_end", "a", 5, json!({})).to_ref());
        sessions.apply(
            6,
            &event("session_start", "a", 6, json!({"task": "two"})).to_ref(),
        );
        assert_eq!(sessions.len(), 3);
        let newest = sessions.most_recent_open().unwrap();
        assert_eq!((newest.task.as_deref(), newest.start_lsn), (Some("two"), 6));
        assert_eq!(sessions.get("a").unwrap().start_lsn, 6);
        assert_eq!(sessions.iter().next().unwrap().events, 3);
    }
}
