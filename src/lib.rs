//! agentrail records what AI agents do as immutable events in a local, crash-safe, append-only
//! journal, and rebuilds from it whatever an agent or its operator needs to know.
pub mod error;
pub mod journal;
pub use error::{Error, Result};
