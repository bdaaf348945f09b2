//! Recording: the one way events reach the journal. A [`Recorder`] holds an open journal, the
//! workspace's redactor and its projector; every event it appends passes the redactor first,
//! so no string reaches disk before the secret detectors have seen it. The redactor is built on
//! first use (about 1.4 ms of compiling patterns), so commands that only read do not pay for it.

use crate::context::{ContextError, Graph};
use crate::error::Result;
use crate::event::schema::is_branch_name;
use crate::event::{Event, EventType, InputError};
use crate::journal::{Durability, Journal, NewRecord, KIND_EVENT};
use crate::project::{Loaded, Projection, Projector, Sessions};
use crate::redact::Redactor;
use crate::workspace::Workspace;
use serde_json::{json, Map, Value as Json};
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// An open workspace, ready to record and to answer from projections.
pub struct Recorder {
    workspace: Workspace,
    journal: Journal,
    redactor: OnceLock<Redactor>,
    projector: Projector,
}

impl Recorder {
    /// Opens the workspace's journal.
    pub fn open(workspace: Workspace, durability: Durability) -> Result<Recorder> {
        let journal = workspace.open_journal(durability)?;
        let projector = Projector::new(workspace.projections_dir());
        Ok(Recorder {
            workspace,
            journal,
            redactor: OnceLock::new(),
            projector,
        })
    }

    pub fn workspace(&self) -> &Workspace {
        &self.workspace
    }

    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    pub fn projector(&self) -> &Projector {
        &self.projector
    }

    /// The workspace's redactor: the built-in detectors and the config's patterns. A bad
    /// pattern is an error here, before anything is recorded.
    pub fn redactor(&self) -> Result<&Redactor> {
        if let Some(redactor) = self.redactor.get() {
            return Ok(redactor);
        }
        let built = self.workspace.redactor()?;
        Ok(self.redactor.get_or_init(|| built))
    }

    /// The record for an event: redacted, then encoded.
    pub fn encode(&self, event: Event) -> Result<NewRecord> {
        Ok(encode(self.redactor()?, event)?)
    }

    /// Appends one event and returns its LSN once acknowledged.
    pub fn record(&self, event: Event) -> Result<u64> {
        self.journal
            .append_batch(vec![self.encode(event)?])
            .map(|lsns| lsns.start)
    }

    /// Appends events as one batch.
    pub fn record_all(&self, events: Vec<Event>) -> Result<Range<u64>> {
        let redactor = self.redactor()?;
        let records = events
            .into_iter()
            .map(|event| encode(redactor, event))
            .collect::<Result<_, InputError>>()?;
        self.journal.append_batch(records)
    }

    /// A projection, brought up to date from its checkpoint.
    pub fn load<P: Projection>(&self) -> Result<Loaded<P>> {
        self.projector.load::<P>(&self.journal)
    }

    /// Starts a session: records `session_start` and returns the new session's id and LSN.
    pub fn start_session(&self, task: &str, agent: Option<String>) -> Result<(String, u64)> {
        let id = new_session_id();
        let event = Event::new(
            EventType::SessionStart,
            Some(id.clone()),
            agent,
            object(json!({ "task": task })),
        )?;
        let lsn = self.record(event)?;
        Ok((id, lsn))
    }

    /// Refuses `agent` as the agent of an event about to be recorded when it is not a name a
    /// new agent may have (as a branch name: 1 to 200 bytes, no blanks or control characters,
    /// no leading `-`; see [`is_branch_name`]) and the journal knows no agent by it: neither a
    /// context (the rule `commit` and `spawn` apply) nor a session started by it. An agent an
    /// import brought with another name keeps working. Only such a name pays for loading the
    /// two projections.
    pub fn check_agent(&self, agent: &str) -> Result<()> {
        if is_branch_name(agent) {
            return Ok(());
        }
        let known = self.load::<Graph>()?.state.has_agent(agent)
            || (self.load::<Sessions>()?.state.iter())
                .any(|session| session.agent.as_deref() == Some(agent));
        match known {
            true => Ok(()),
            false => Err(ContextError::BadAgentName {
                name: agent.to_owned(),
            }
            .into()),
        }
    }

    /// Closes the journal, waiting for the writer to finish.
    pub fn close(self) {
        self.journal.close();
    }
}

/// The record for an event: redacted by `redactor`, a commit given its token count if it has
/// none, then encoded. An identifier that looks like a secret is an [`InputError`]
/// ([`Redactor::redact_event`]).
pub fn encode(redactor: &Redactor, mut event: Event) -> Result<NewRecord, InputError> {
    redactor.redact_event(&mut event)?;
    crate::context::tokens::store_token_count(&mut event);
    Ok(NewRecord::new(KIND_EVENT, event.encode()))
}

/// The members of a JSON object literal.
pub fn object(value: Json) -> Map<String, Json> {
    match value {
        Json::Object(map) => map,
        _ => Map::new(),
    }
}

/// A new session id: `s-` and 12 hex digits mixed from the time, the process and a counter, so
/// that sessions started at the same microsecond by different processes still differ.
pub fn new_session_id() -> String {
    static STARTED: AtomicU64 = AtomicU64::new(0);
    let seed = (crate::event::now_micros() as u64)
        ^ (u64::from(std::process::id()) << 40)
        ^ STARTED
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    format!("s-{:012x}", splitmix64(seed) & 0xFFFF_FFFF_FFFF)
}

fn splitmix64(mut value: u64) -> u64 {
    value = value.wrapping_add(0x9E37_79B9_7F4A_7C15);
    value = (value ^ (value >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    value = (value ^ (value >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    value ^ (value >> 31)
}

#[cfg(test)]
mod tests {
    #[test]
    fn session_ids_differ_and_have_one_shape() {
        let ids: std::collections::BTreeSet<String> =
            (0..1000).map(|_| super::new_session_id()).collect();
        assert_eq!(ids.len(), 1000);
        assert!(ids.iter().all(|id| id.len() == 14 && id.starts_with("s-")));
    }
}
