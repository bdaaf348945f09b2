//! agentrail records what AI agents do as immutable events in a local, crash-safe, append-only
//! journal, and rebuilds from it whatever an agent or its operator needs to know.
//!
//! Layers, with data flowing one way: [`journal`] keeps the bytes, [`event`] gives records
//! meaning, [`redact`] removes secrets before anything is stored, [`recorder`] and [`import`]
//! are the ways events come in, [`project`] rebuilds views from them and [`query`] reads them
//! back, [`context`] versions each agent's context window on top of them, [`workspace`] finds the
//! `.agentrail` directory. The `agentrail` binary is a thin shell over them; this library does
//! no terminal I/O and reads no environment variables.

pub mod context;
pub mod error;
pub mod event;
pub mod import;
pub mod journal;
pub mod project;
pub mod query;
pub mod recorder;
pub mod redact;
pub mod workspace;

pub use error::{Error, Result};
