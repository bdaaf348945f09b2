//! agentrail records what AI agents do as immutable events in a local, crash-safe, append-only
//! journal, and rebuilds from it whatever an agent or its operator needs to know.
//!
//! Layers, with data flowing one way: [`event`] gives records meaning, [`redact`] removes
//! secrets from events before they are written, [`journal`] keeps the bytes, [`project`]
//! rebuilds views from the events, [`workspace`] finds the `.agentrail` directory. The
//! `agentrail` binary is a thin shell over them; this library does no terminal I/O and reads no
//! environment variables.

pub mod error;
pub mod event;
pub mod journal;
pub mod project;
pub mod redact;
pub mod workspace;

pub use error::{Error, Result};
