//! `agentrail init`: create the workspace and its empty journal.

use super::{emit, CliError, CliResult, EXIT_FAILURE};
use agentrail::workspace::{Workspace, WORKSPACE_DIR_NAME};
use serde_json::json;
use std::path::PathBuf;

pub fn run(segment_bytes: u64, json: bool) -> CliResult {
    let root = match std::env::var_os("AGENTRAIL_DIR").filter(|dir| !dir.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => std::env::current_dir()?.join(WORKSPACE_DIR_NAME),
    };
    if root.exists() {
        return Err(CliError::new(
            EXIT_FAILURE,
            format!("{} already exists; nothing was changed", root.display()),
        ));
    }
    let workspace = Workspace::init(&root, segment_bytes)?;
    let value = json!({ "root": workspace.root(), "segment_bytes": segment_bytes });
    emit(json, &value, || {
        format!(
            "Initialized an empty agentrail journal in {} (segments of {} bytes)",
            workspace.root().display(),
            segment_bytes
        )
    })
}
