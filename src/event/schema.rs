//! The closed set of event types and the shape of each one's `data`: which fields are required,
//! what JSON type each must have, and the caps applied to bulky fields before storing. Field
//! names follow the OpenTelemetry GenAI semantic conventions where those have one
//! (`gen_ai.request.model` → `model`, `gen_ai.usage.input_tokens` → `input_tokens`, ...).
//! Fields a type does not name are kept unchanged. `format-spec/events.md` is the contract.

use serde_json::{Map, Value as Json};
use std::fmt;

/// Longest `stdout` or `stderr` a `tool_output` event stores; longer streams keep their head and
/// tail around an omission marker and get `truncated: true`.
pub const TOOL_OUTPUT_STREAM_BYTES_MAX: usize = 10 * 1024;
/// Lines of a `git_diff`'s `diff` stored; longer diffs keep the first lines and get
/// `truncated: true`.
pub const GIT_DIFF_LINES_MAX: usize = 50;

/// Every `op` a `ref_update` may name: the operations that write one (`src/context/ops.rs`,
/// `merge.rs`, `rewrite.rs`, `subagent.rs`). An input naming another would record a reflog entry
/// no command made, which `undo` and gc's retention (which singles out `reset`) would then read
/// as a move of some kind; a new operation adds its name here, and a test imports what every
/// context command writes.
pub const REF_UPDATE_OPS: &[&str] = &[
    "branch",
    "delete_branch",
    "switch",
    "checkout",
    "reset",
    "undo",
    "merge",
    "rebase",
    "compress",
    "reorder",
    "spawn",
    "collapse",
];

/// Every event type agentrail accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    SessionStart,
    SessionEnd,
    Action,
    LlmCall,
    ToolOutput,
    Failure,
    GitDiff,
    Decision,
    Commit,
    Task,
    RefUpdate,
}

impl EventType {
    pub const ALL: [EventType; 11] = [
        EventType::SessionStart,
        EventType::SessionEnd,
        EventType::Action,
        EventType::LlmCall,
        EventType::ToolOutput,
        EventType::Failure,
        EventType::GitDiff,
        EventType::Decision,
        EventType::Commit,
        EventType::Task,
        EventType::RefUpdate,
    ];

    /// The name used in JSON and on disk.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::SessionStart => "session_start",
            EventType::SessionEnd => "session_end",
            EventType::Action => "action",
            EventType::LlmCall => "llm_call",
            EventType::ToolOutput => "tool_output",
            EventType::Failure => "failure",
            EventType::GitDiff => "git_diff",
            EventType::Decision => "decision",
            EventType::Commit => "commit",
            EventType::Task => "task",
            EventType::RefUpdate => "ref_update",
        }
    }

    pub fn parse(name: &str) -> Option<EventType> {
        EventType::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
    }

    /// The type names, comma-separated, for error messages.
    pub fn names() -> String {
        EventType::ALL.map(EventType::as_str).join(", ")
    }

    /// Whether `name` is one of this type's own `data` fields (required or optional).
    pub fn has_field(self, name: &str) -> bool {
        self.fields().iter().any(|field| field.name == name)
    }

    fn fields(self) -> &'static [Field] {
        use Shape::*;
        match self {
            EventType::SessionStart => const { &[req("task", Words)] },
            EventType::SessionEnd => {
                const {
                    &[
                        req("status", OneOf(&["completed", "committed", "aborted"])),
                        opt("message", Text),
                        opt("description", Text),
                    ]
                }
            }
            EventType::Action => const { &[req("description", Words), opt("kind", Text)] },
            EventType::LlmCall => {
                const {
                    &[
                        // As `event llm-call --model` is: a blank model is a slip (an unset
                        // variable), and `tokens --by model` would list its calls under no name.
                        req("model", Words),
                        req("input_tokens", Count),
                        req("output_tokens", Count),
                        opt("cache_read_tokens", Count),
                        opt("cache_creation_tokens", Count),
                        opt("cost_usd", Amount),
                        opt("latency_ms", Count),
                        opt("prompt", Text),
                        opt("response", Text),
                    ]
                }
            }
            EventType::ToolOutput => {
                const {
                    &[
                        req("tool", Words),
                        opt("command", Text),
                        opt("exit_code", ExitCode),
                        opt("stdout", Text),
                        opt("stderr", Text),
                        opt("duration_ms", Count),
                        opt("truncated", Flag),
                    ]
                }
            }
            EventType::Failure => {
                const {
                    &[
                        req("error_type", Words),
                        // Python's `assert x` raises an AssertionError whose message is empty:
                        // a failure to keep, not bad input.
                        req("message", Text),
                        opt("location", Text),
                        opt("locals", Object),
                    ]
                }
            }
            EventType::GitDiff => {
                const {
                    &[
                        req("diff", Words),
                        opt("stat", Text),
                        opt("files", WordsEach),
                        opt("truncated", Flag),
                    ]
                }
            }
            EventType::Decision => {
                const {
                    &[
                        req("choice", Words),
                        opt("rationale", Words),
                        opt("options", WordsEach),
                    ]
                }
            }
            EventType::Commit => {
                const {
                    &[
                        req("kind", OneOf(&["append", "edit", "pin"])),
                        req("message", Words),
                        req("content", Text),
                        opt("parents", CommitIds),
                        opt("target", CommitId),
                        opt("tokens", Count),
                        opt("tokenizer", Text),
                        opt("id", CommitId),
                        opt("move_head", Flag),
                        opt("links", Links),
                    ]
                }
            }
            EventType::Task => {
                const {
                    &[
                        req("id", Words),
                        req("status", OneOf(&["started", "done", "failed"])),
                        opt("result", Any),
                    ]
                }
            }
            EventType::RefUpdate => {
                const {
                    &[
                        req("op", OneOf(REF_UPDATE_OPS)),
                        req("agent", Text),
                        req("head", Head),
                        req("branches", Branches),
                        opt("mode", OneOf(&["soft", "hard"])),
                        opt("also", AgentRefs),
                    ]
                }
            }
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// What JSON a field must hold.
#[derive(Debug, Clone, Copy)]
enum Shape {
    Text,
    /// A string holding something besides whitespace: what a required field that says what
    /// the event is about (a task, a description, a choice, a model) must be.
    Words,
    /// A non-negative integer (token counts, milliseconds).
    Count,
    /// An integer a 32-bit signed integer holds: a process's exit status, which may be
    /// negative (Windows' `NTSTATUS` codes) and never needs more.
    ExitCode,
    /// A finite, non-negative number (money).
    Amount,
    Flag,
    Object,
    /// An array of strings, each holding something besides whitespace (a diff's files, a
    /// decision's options): a blank entry names nothing. An entry's error names its position.
    WordsEach,
    OneOf(&'static [&'static str]),
    Any,
    /// A full context commit id: 64 lowercase hex digits.
    CommitId,
    /// An array of full commit ids.
    CommitIds,
    /// `{"branch": NAME}` or `{"detached": ID}`.
    Head,
    /// An object of branch names to full commit ids.
    Branches,
    /// An object of link names to strings (a commit's pointers: ids, agent names).
    Links,
    /// An object of agent names to `{"head": HEAD, "branches": BRANCHES}`.
    AgentRefs,
}

#[derive(Debug, Clone, Copy)]
struct Field {
    name: &'static str,
    shape: Shape,
    required: bool,
}

const fn req(name: &'static str, shape: Shape) -> Field {
    Field {
        name,
        shape,
        required: true,
    }
}

const fn opt(name: &'static str, shape: Shape) -> Field {
    Field {
        name,
        shape,
        required: false,
    }
}

/// Why a field of `data` is not what its type needs: the field's name and the complaint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// Checks `data` against the type's fields, then applies the caps (which may change `data`).
pub fn check_data(kind: EventType, data: &mut Map<String, Json>) -> Result<(), FieldError> {
    for field in kind.fields() {
        match data.get(field.name) {
            None | Some(Json::Null) if field.required => {
                return Err(field_error(field.name, "is missing".into()))
            }
            None | Some(Json::Null) => {}
            Some(value) => {
                check_shape(field.shape, value)
                    .map_err(|message| field_error(field.name, message))?;
                check_entries(field, value)?;
            }
        }
    }
    check_cross_fields(kind, data)?;
    apply_caps(kind, data);
    Ok(())
}

fn field_error(name: &str, message: String) -> FieldError {
    FieldError {
        field: format!("data.{name}"),
        message,
    }
}

fn check_shape(shape: Shape, value: &Json) -> Result<(), String> {
    let fits = match shape {
        Shape::Text => value.is_string(),
        Shape::Words => value.as_str().is_some_and(|text| !text.trim().is_empty()),
        Shape::Count => value.is_u64(),
        Shape::ExitCode => value
            .as_i64()
            .is_some_and(|code| i32::try_from(code).is_ok()),
        Shape::Amount => value.as_f64().is_some_and(|amount| amount >= 0.0),
        Shape::Flag => value.is_boolean(),
        Shape::Object => value.is_object(),
        Shape::WordsEach => value
            .as_array()
            .is_some_and(|items| items.iter().all(Json::is_string)),
        Shape::OneOf(choices) => value.as_str().is_some_and(|text| choices.contains(&text)),
        Shape::Any => true,
        Shape::CommitId => value.as_str().is_some_and(is_commit_id),
        Shape::CommitIds => value.as_array().is_some_and(|items| {
            items
                .iter()
                .all(|item| item.as_str().is_some_and(is_commit_id))
        }),
        Shape::Head => is_head(value),
        Shape::Branches => value.as_object().is_some_and(|branches| {
            branches
                .iter()
                .all(|(name, id)| is_branch_name(name) && id.as_str().is_some_and(is_commit_id))
        }),
        Shape::Links => value
            .as_object()
            .is_some_and(|links| links.values().all(Json::is_string)),
        Shape::AgentRefs => value.as_object().is_some_and(|agents| {
            agents
                .iter()
                .all(|(agent, refs)| is_branch_name(agent) && is_agent_refs(refs))
        }),
    };
    if fits {
        return Ok(());
    }
    Err(match shape {
        Shape::Text => "must be a string".into(),
        Shape::Words if value.is_string() => "must not be empty or only whitespace".into(),
        Shape::Words => "must be a string".into(),
        Shape::Count => format!("must be a non-negative integer, not {value}"),
        Shape::ExitCode => format!(
            "must be an integer from {} to {} (an exit code fits a 32-bit signed integer), not {value}",
            i32::MIN,
            i32::MAX
        ),
        Shape::Amount => format!("must be a non-negative number, not {value}"),
        Shape::Flag => "must be true or false".into(),
        Shape::Object => "must be a JSON object".into(),
        Shape::WordsEach => "must be an array of strings".into(),
        Shape::OneOf(choices) => format!("must be one of {}, not {value}", choices.join(", ")),
        Shape::Any => unreachable!("every value fits Any"),
        Shape::CommitId => format!("must be a full commit id (64 hex digits), not {value}"),
        Shape::CommitIds => "must be an array of full commit ids (64 hex digits)".into(),
        Shape::Head => {
            format!("must be {{\"branch\": NAME}} or {{\"detached\": ID}}, not {value}")
        }
        Shape::Branches => "must be an object of branch names to full commit ids".into(),
        Shape::Links => "must be an object of names to strings".into(),
        Shape::AgentRefs => {
            "must be an object of agent names to {\"head\": .., \"branches\": ..}".into()
        }
    })
}

/// For an array of [`Shape::WordsEach`], already an array of strings: its first blank entry as
/// the error, named by its position (`data.files[1]`).
fn check_entries(field: &Field, value: &Json) -> Result<(), FieldError> {
    let Shape::WordsEach = field.shape else {
        return Ok(());
    };
    let entries = value.as_array().map_or(&[][..], Vec::as_slice);
    match entries
        .iter()
        .position(|entry| entry.as_str().is_some_and(|text| text.trim().is_empty()))
    {
        Some(index) => Err(field_error(
            &format!("{}[{index}]", field.name),
            "must not be empty or only whitespace".into(),
        )),
        None => Ok(()),
    }
}

/// True for `{"head": HEAD, "branches": BRANCHES}`, an agent's full refs.
fn is_agent_refs(value: &Json) -> bool {
    let Some(refs) = value.as_object() else {
        return false;
    };
    refs.len() == 2
        && refs.get("head").is_some_and(is_head)
        && refs
            .get("branches")
            .is_some_and(|branches| check_shape(Shape::Branches, branches).is_ok())
}

/// Hex digits in a full context commit id (a SHA-256).
pub const COMMIT_ID_HEX_DIGITS: usize = 64;
/// Longest branch name accepted, in bytes.
pub const BRANCH_NAME_BYTES_MAX: usize = 200;

/// True for 64 lowercase hex digits.
pub fn is_commit_id(text: &str) -> bool {
    text.len() == COMMIT_ID_HEX_DIGITS
        && text
            .bytes()
            .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte))
}

/// A branch name: 1 to 200 bytes, no whitespace or control characters, not starting with `-`
/// (it would read as an option).
pub fn is_branch_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= BRANCH_NAME_BYTES_MAX
        && !name.starts_with('-')
        && !name.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn is_head(value: &Json) -> bool {
    let Some(head) = value.as_object() else {
        return false;
    };
    if head.len() != 1 {
        return false;
    }
    match (head.get("branch"), head.get("detached")) {
        (Some(Json::String(name)), None) => is_branch_name(name),
        (None, Some(Json::String(id))) => is_commit_id(id),
        _ => false,
    }
}

/// Rules that tie fields together: an `edit` commit names its `target`, and an `append` or
/// `pin` that is not a merge holds content, as `commit` asks of its `--content`: a block that
/// shows nothing is nearly always an empty file or stdin. A merge commit (two or more
/// parents) adds no block, so its content is empty; an edit may empty its target's block.
fn check_cross_fields(kind: EventType, data: &Map<String, Json>) -> Result<(), FieldError> {
    if kind != EventType::Commit {
        return Ok(());
    }
    let commit_kind = data.get("kind").and_then(Json::as_str);
    let has_target = !matches!(data.get("target"), None | Some(Json::Null));
    if commit_kind == Some("edit") && !has_target {
        return Err(field_error(
            "target",
            "is missing: an edit commit names the commit it replaces".into(),
        ));
    }
    let is_merge = data
        .get("parents")
        .and_then(Json::as_array)
        .is_some_and(|parents| parents.len() >= 2);
    let is_blank = data
        .get("content")
        .and_then(Json::as_str)
        .is_some_and(|content| content.trim().is_empty());
    if matches!(commit_kind, Some("append" | "pin")) && !is_merge && is_blank {
        let message = format!(
            "must not be empty or only whitespace: the {} commit would add a block that shows nothing",
            commit_kind.unwrap_or_default()
        );
        return Err(field_error("content", message));
    }
    Ok(())
}

fn apply_caps(kind: EventType, data: &mut Map<String, Json>) {
    let mut truncated = false;
    match kind {
        EventType::ToolOutput => {
            for stream in ["stdout", "stderr"] {
                if let Some(Json::String(text)) = data.get_mut(stream) {
                    if let Some(capped) = cap_head_tail(text, TOOL_OUTPUT_STREAM_BYTES_MAX) {
                        *text = capped;
                        truncated = true;
                    }
                }
            }
        }
        EventType::GitDiff => {
            if let Some(Json::String(diff)) = data.get_mut("diff") {
                if let Some(capped) = first_lines(diff, GIT_DIFF_LINES_MAX) {
                    *diff = capped;
                    truncated = true;
                }
            }
        }
        _ => {}
    }
    if truncated {
        data.insert("truncated".into(), Json::Bool(true));
    }
}

/// `text` cut to at most `bytes_max` bytes, keeping its head and tail around a marker that says
/// how many bytes were left out; `None` when it already fits.
pub fn cap_head_tail(text: &str, bytes_max: usize) -> Option<String> {
    if text.len() <= bytes_max {
        return None;
    }
    let keep = bytes_max.saturating_sub(CAP_MARKER_BYTES_MAX);
    let head_end = head_end_at_line(text.as_bytes(), floor_char_boundary(text, keep / 2));
    let tail_start = tail_start_at_line(
        text.as_bytes(),
        ceil_char_boundary(text, text.len() - (keep - head_end)),
    );
    let omitted = tail_start - head_end;
    Some(join_head_tail(
        &text[..head_end],
        omitted,
        &text[tail_start..],
    ))
}

/// How far a cut moves to fall at a line end: back for a head, forward for a tail. A kept line
/// is then whole, so a secret on it (a token, `KEY=VALUE`, an `Authorization` header) is kept
/// whole, where the redactor finds it, or left out whole, never kept in part. On a line longer
/// than this (minified JSON, a progress bar redrawn with `\r`), the cut moves to a word end
/// instead (see [`is_word_break`]), which keeps the same promise for the word the cut was in.
pub const CAP_LINE_SEARCH_BYTES: usize = 1024;

/// Where a head cut at `end` falls: after the last line end within [`CAP_LINE_SEARCH_BYTES`]
/// before `end`, else after the last word break there; at `end` when the head already ends a
/// line or neither is near it.
pub fn head_end_at_line(bytes: &[u8], end: usize) -> usize {
    if end == 0 || bytes[end - 1] == b'\n' {
        return end;
    }
    let from = end.saturating_sub(CAP_LINE_SEARCH_BYTES);
    let window = &bytes[from..end];
    window
        .iter()
        .rposition(|&byte| byte == b'\n')
        .or_else(|| window.iter().rposition(|&byte| is_word_break(byte)))
        .map_or(end, |at| from + at + 1)
}

/// Where a tail cut at `start` falls: after the first line end within
/// [`CAP_LINE_SEARCH_BYTES`] from `start`, else at the first word break there; at `start` when
/// the tail already starts a line or neither is near it.
pub fn tail_start_at_line(bytes: &[u8], start: usize) -> usize {
    if start == 0 || bytes[start - 1] == b'\n' {
        return start;
    }
    next_line_start(bytes, start)
        .or_else(|| next_word_break(bytes, start))
        .unwrap_or(start)
}

/// A byte that no secret a detector finds runs across: whitespace, quotes and the brackets and
/// separators around values. `=`, `:`, `/`, `@`, `.`, `+`, `-` are not breaks, since tokens,
/// URL passwords and `KEY=VALUE` hold them, so a cut moves past the whole of such a word.
pub fn is_word_break(byte: u8) -> bool {
    byte.is_ascii_whitespace() || b"\"'`,;<>()[]{}|".contains(&byte)
}

/// The first word break within [`CAP_LINE_SEARCH_BYTES`] from `start`, if one is.
pub fn next_word_break(bytes: &[u8], start: usize) -> Option<usize> {
    let end = (start + CAP_LINE_SEARCH_BYTES).min(bytes.len());
    bytes[start..end]
        .iter()
        .position(|&byte| is_word_break(byte))
        .map(|at| start + at)
}

/// Just after the first line end within [`CAP_LINE_SEARCH_BYTES`] from `start`, if one is.
pub fn next_line_start(bytes: &[u8], start: usize) -> Option<usize> {
    let end = (start + CAP_LINE_SEARCH_BYTES).min(bytes.len());
    bytes[start..end]
        .iter()
        .position(|&byte| byte == b'\n')
        .map(|at| start + at + 1)
}

/// Room kept for the omission marker in a capped text; no marker takes more.
pub const CAP_MARKER_BYTES_MAX: usize = 64;

/// A head and a tail around the marker saying how many bytes between them were left out.
pub fn join_head_tail(head: &str, omitted: usize, tail: &str) -> String {
    format!("{head}\n[... {omitted} bytes omitted ...]\n{tail}")
}

/// The first `lines_max` lines of `text`, or `None` when it has no more.
pub fn first_lines(text: &str, lines_max: usize) -> Option<String> {
    let mut ends = text.match_indices('\n').map(|(index, _)| index);
    let end = ends.nth(lines_max.checked_sub(1)?)?;
    // A text whose last kept line ends it exactly has nothing more.
    (end + 1 < text.len()).then(|| text[..end].to_owned())
}

fn floor_char_boundary(text: &str, mut index: usize) -> usize {
    while !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

fn ceil_char_boundary(text: &str, mut index: usize) -> usize {
    while !text.is_char_boundary(index) {
        index += 1;
    }
    index
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn data(value: Json) -> Map<String, Json> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn every_type_name_parses_back() {
        for kind in EventType::ALL {
            assert_eq!(EventType::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(EventType::parse("note"), None);
    }

    #[test]
    fn token_counts_must_be_non_negative_integers() {
        for bad in [json!(-1), json!(1.5), json!("3"), json!(null)] {
            let mut fields = data(json!({"model": "m", "input_tokens": bad, "output_tokens": 1}));
            let error = check_data(EventType::LlmCall, &mut fields).unwrap_err();
            assert_eq!(error.field, "data.input_tokens", "{bad}");
        }
        let mut fields = data(json!({"model": "m", "input_tokens": 0, "output_tokens": 7}));
        check_data(EventType::LlmCall, &mut fields).unwrap();
    }

    #[test]
    fn unknown_fields_are_kept_and_optional_nulls_allowed() {
        let mut fields = data(json!({"choice": "a", "rationale": null, "extra": {"x": [1]}}));
        check_data(EventType::Decision, &mut fields).unwrap();
        assert_eq!(fields["extra"], json!({"x": [1]}));
    }

    #[test]
    fn long_tool_output_keeps_head_and_tail_within_the_cap() {
        let stdout = format!("HEAD{}TAIL", "é".repeat(20_000));
        let mut fields = data(json!({"tool": "bash", "stdout": stdout, "stderr": "short"}));
        check_data(EventType::ToolOutput, &mut fields).unwrap();
        let capped = fields["stdout"].as_str().unwrap();
        assert!(capped.len() <= TOOL_OUTPUT_STREAM_BYTES_MAX);
        assert!(capped.starts_with("HEAD") && capped.ends_with("TAIL"));
        assert!(capped.contains("bytes omitted"));
        assert_eq!(fields["stderr"], json!("short"));
        assert_eq!(fields["truncated"], json!(true));
        // Capping is idempotent: a capped event checked again is unchanged.
        let again = fields.clone();
        check_data(EventType::ToolOutput, &mut fields).unwrap();
        assert_eq!(fields, again);
    }

    #[test]
    fn blank_names_diffs_rationales_files_and_options_are_refused_naming_the_entry() {
        for (kind, value, field) in [
            (
                EventType::LlmCall,
                json!({"model": " ", "input_tokens": 1, "output_tokens": 1}),
                "data.model",
            ),
            (EventType::ToolOutput, json!({"tool": ""}), "data.tool"),
            (EventType::GitDiff, json!({"diff": "\n"}), "data.diff"),
            (
                EventType::GitDiff,
                json!({"diff": "+x", "files": ["a", " "]}),
                "data.files[1]",
            ),
            (
                EventType::Decision,
                json!({"choice": "c", "rationale": ""}),
                "data.rationale",
            ),
            (
                EventType::Decision,
                json!({"choice": "c", "options": [""]}),
                "data.options[0]",
            ),
        ] {
            let error = check_data(kind, &mut data(value.clone())).unwrap_err();
            assert_eq!(error.field, field, "{value}");
            assert_eq!(
                error.message, "must not be empty or only whitespace",
                "{value}"
            );
        }
        let error = check_data(
            EventType::GitDiff,
            &mut data(json!({"diff": "+x", "files": [1]})),
        );
        assert_eq!(error.unwrap_err().message, "must be an array of strings");
        let mut fields = data(json!({"choice": "c", "options": [], "rationale": null}));
        check_data(EventType::Decision, &mut fields).unwrap();
    }

    #[test]
    fn an_exit_code_fits_a_32_bit_signed_integer() {
        let tool_output = |exit_code: Json| {
            check_data(
                EventType::ToolOutput,
                &mut data(json!({"tool": "t", "exit_code": exit_code})),
            )
        };
        for good in [json!(0), json!(-1), json!(i32::MAX), json!(i32::MIN)] {
            tool_output(good).unwrap();
        }
        for bad in [
            json!(2_147_483_648_u64),
            json!(-2_147_483_649_i64),
            json!(u64::MAX),
            json!(1.5),
        ] {
            assert_eq!(
                tool_output(bad.clone()).unwrap_err().field,
                "data.exit_code",
                "{bad}"
            );
        }
    }

    #[test]
    fn a_diff_keeps_its_first_fifty_lines() {
        let diff: String = (0..80).map(|line| format!("+line {line}\n")).collect();
        let mut fields = data(json!({"diff": diff}));
        check_data(EventType::GitDiff, &mut fields).unwrap();
        assert_eq!(fields["diff"].as_str().unwrap().lines().count(), 50);
        assert_eq!(fields["truncated"], json!(true));
        let short: String = (0..50).map(|line| format!("+line {line}\n")).collect();
        assert_eq!(first_lines(&short, 50), None);
    }
}

#[cfg(test)]
mod context_tests {
    use super::*;
    use serde_json::json;

    fn check(kind: EventType, value: Json) -> Result<(), FieldError> {
        let mut data = value.as_object().unwrap().clone();
        check_data(kind, &mut data)
    }

    #[test]
    fn commit_ids_heads_and_branches_have_their_shapes() {
        let id = "a".repeat(64);
        let commit = |extra: Json| {
            let mut data = json!({"kind": "append", "message": "m", "content": "c"});
            data.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            check(EventType::Commit, data)
        };
        commit(json!({"parents": [id], "id": id, "tokens": 3, "move_head": false})).unwrap();
        for (bad, field) in [
            (json!({"parents": ["abcd"]}), "data.parents"),
            (json!({"id": "A".repeat(64)}), "data.id"),
            (json!({"tokens": -1}), "data.tokens"),
            (json!({"move_head": "no"}), "data.move_head"),
        ] {
            assert_eq!(commit(bad.clone()).unwrap_err().field, field, "{bad}");
        }
        let edit = json!({"kind": "edit", "message": "m", "content": "c"});
        assert_eq!(
            check(EventType::Commit, edit).unwrap_err().field,
            "data.target"
        );
        let update = |head: Json, branches: Json| {
            check(
                EventType::RefUpdate,
                json!({"op": "switch", "agent": "a", "head": head, "branches": branches}),
            )
        };
        update(json!({"branch": "main"}), json!({})).unwrap();
        update(json!({"detached": id}), json!({"main": id, "topic": id})).unwrap();
        for (head, branches, field) in [
            (json!({"branch": "a b"}), json!({}), "data.head"),
            (json!({"detached": "abcd"}), json!({}), "data.head"),
            (
                json!({"branch": "main", "detached": id}),
                json!({}),
                "data.head",
            ),
            (
                json!({"branch": "main"}),
                json!({"-x": id}),
                "data.branches",
            ),
            (
                json!({"branch": "main"}),
                json!({"main": "abcd"}),
                "data.branches",
            ),
        ] {
            assert_eq!(update(head, branches).unwrap_err().field, field);
        }
    }

    #[test]
    fn an_append_or_pin_holds_content_but_a_merge_or_an_edit_may_not() {
        let id = "a".repeat(64);
        let commit = |kind: &str, content: &str, parents: Json| {
            let mut data = json!({"kind": kind, "message": "m", "content": content, "target": id});
            if !parents.is_null() {
                data["parents"] = parents;
            }
            check(EventType::Commit, data)
        };
        for kind in ["append", "pin"] {
            for content in ["", " \n\t"] {
                for parents in [Json::Null, json!([]), json!([id])] {
                    let error = commit(kind, content, parents.clone()).unwrap_err();
                    assert_eq!(error.field, "data.content", "{kind} {content:?} {parents}");
                    assert!(
                        error.message.starts_with("must not be empty"),
                        "{}",
                        error.message
                    );
                }
            }
            commit(kind, "c", json!([id])).unwrap();
        }
        commit("append", "", json!([id, "b".repeat(64)])).unwrap();
        commit("edit", "", json!([id])).unwrap();
    }

    #[test]
    fn a_ref_update_names_an_op_an_operation_writes() {
        let update = |op: Json| {
            let data = json!({"op": op, "agent": "a", "head": {"branch": "main"}, "branches": {}});
            check(EventType::RefUpdate, data)
        };
        for op in REF_UPDATE_OPS {
            update(json!(op)).unwrap();
        }
        for bad in [
            json!("frobnicate"),
            json!("commit"),
            json!(""),
            json!("Reset"),
            json!(7),
        ] {
            let error = update(bad.clone()).unwrap_err();
            assert_eq!(error.field, "data.op", "{bad}");
            assert!(error.message.contains("delete_branch"), "{}", error.message);
        }
    }
}
