//! Projections: views of the journal rebuilt from its events, such as the list of sessions or
//! the token totals. A [`Projection`] is a state and a rule to apply one event to it.
//!
//! Architecture invariant: a projection's state depends only on the events, in LSN order.

pub mod active;
mod fields;
pub mod sessions;
pub mod stats;
pub mod tokens;

pub use active::{Active, ActiveSession};
pub use sessions::{SessionInfo, SessionStatus, Sessions};
pub use stats::Stats;
pub use tokens::{TokenTotals, Tokens, NO_KEY};

use crate::event::Event;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A view of the journal: a state and how one event changes it.
///
/// `apply` must depend only on the state, the LSN and the event, and must accept any event:
/// types it does not use, fields missing or of the wrong type. Any change to the state's
/// layout or meaning must bump `VERSION`.
pub trait Projection: Default + Serialize + DeserializeOwned {
    /// The checkpoint's file name stem: 1 to 64 bytes of `a-z`, `0-9`, `_` and `-`.
    const NAME: &'static str;
    /// The version of the state's layout and meaning.
    const VERSION: u32;
    fn apply(&mut self, lsn: u64, event: &Event);
}
