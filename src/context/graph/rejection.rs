//! Why the graph turned a `commit` or `ref_update` event away: the reason a replay counts in
//! `rejected`, and the error an import gives for the line that holds such an event, naming
//! the field at fault.

/// An event that would have broken the graph (`format-spec/events.md`, section 7).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// A field the graph needs is missing or of the wrong type. Input checks refuse these
    /// before an event is stored, so only an event written by other means gets here.
    #[error("is missing or is not what a {event} event holds there")]
    Malformed { event: &'static str, field: String },
    #[error("names {id}, which is not an earlier commit")]
    UnknownParent { index: usize, id: String },
    #[error("names {id}, which is not an earlier commit")]
    UnknownTarget { id: String },
    #[error("is given on a {kind} commit: only an edit names a target")]
    TargetWithoutEdit { kind: &'static str },
    #[error("is {claimed}, but the commit's fields hash to {computed}")]
    IdMismatch { claimed: String, computed: String },
    #[error("commit {id} is already in the graph (the same commit recorded twice)")]
    Duplicate { id: String },
    #[error("points at {id}, which is not a commit")]
    UnknownRef { field: String, id: String },
}

impl Rejection {
    /// The field at fault, as input errors name fields (`data.parents[1]`, `data.head`).
    pub fn field(&self) -> Option<String> {
        let field = match self {
            Rejection::Malformed { field, .. } | Rejection::UnknownRef { field, .. } => {
                field.clone()
            }
            Rejection::UnknownParent { index, .. } => format!("parents[{index}]"),
            Rejection::UnknownTarget { .. } | Rejection::TargetWithoutEdit { .. } => {
                "target".into()
            }
            Rejection::IdMismatch { .. } => "id".into(),
            Rejection::Duplicate { .. } => return None,
        };
        Some(format!("data.{field}"))
    }
}
