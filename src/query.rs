//! Reading events back: which session later commands act on, the last events that pass a
//! filter, and one event by LSN. The CLI's `log`, `show`, `resume` and session commands are thin
//! over these.

use crate::error::Result;
use crate::event::{decode_record, decode_record_ref, Decoded, Event, EventRef};
use crate::journal::Journal;
use crate::project::Active;
use std::collections::VecDeque;

/// The session later commands act on: `requested` (the CLI passes `AGENTRAIL_SESSION`) when
/// given, else the most recent open session of `agent` (of any agent when `None`; see
/// [`Active::most_recent_open_of`]), so that one agent's events never land in another's
/// session; with the session's agent when it is open.
pub fn current_session(
    active: &Active,
    requested: Option<&str>,
    agent: Option<&str>,
) -> Option<(String, Option<String>)> {
    if let Some(id) = requested {
        let agent = active.get(id).and_then(|session| session.agent.clone());
        return Some((id.to_owned(), agent));
    }
    active
        .most_recent_open_of(agent)
        .map(|session| (session.id.clone(), session.agent.clone()))
}

/// The last `last` events from `first_lsn` on that pass `keep`, in LSN order, with their LSNs.
/// Only `last` events are held at a time, however many pass; `keep` sees each event borrowed
/// from its record, and only those it keeps are copied.
pub fn last_events(
    journal: &Journal,
    first_lsn: u64,
    last: usize,
    keep: impl Fn(&EventRef<'_>) -> bool,
) -> Result<Vec<(u64, Event)>> {
    let mut found = VecDeque::with_capacity(last.min(1024));
    if last == 0 {
        return Ok(Vec::new());
    }
    for record in journal.read_from(first_lsn.max(1))? {
        let record = record?;
        if let Some(event) = decode_record_ref(&record)? {
            if keep(&event) {
                if found.len() == last {
                    found.pop_front();
                }
                found.push_back((record.lsn, event.to_event()));
            }
        }
    }
    Ok(found.into())
}

/// What is stored at an LSN.
#[derive(Debug, Clone, PartialEq)]
pub enum Found {
    Event(Event),
    /// A record of a kind this version does not know and skips.
    Skipped,
    /// The journal holds no such LSN.
    Absent,
}

/// The event at `lsn`.
pub fn event_at(journal: &Journal, lsn: u64) -> Result<Found> {
    if lsn == 0 || lsn > journal.last_lsn() {
        return Ok(Found::Absent);
    }
    let Some(record) = journal.read_from(lsn)?.next() else {
        return Ok(Found::Absent);
    };
    Ok(match decode_record(&record?)? {
        Decoded::Event(event) => Found::Event(event),
        Decoded::Skipped { .. } => Found::Skipped,
    })
}
