//! The human form of one event, for `agentrail show LSN`. A header line begins as `log`'s line
//! for the event does (LSN, time to the second, type, session) and names the agent as `show
//! SESSION` does (`agent=NAME`); a purged event says so on the next line; then the event's data,
//! one field per line as `name: value`, in the order it was recorded. A nested object's fields
//! (a failure's `locals`) and an array's items (`- value`) go on the lines below its name, one
//! level deeper; so does a string of several lines or of more than [`INLINE_CHARS_MAX`]
//! characters, each of its lines indented, so that a tool's output or a diff reads as it was
//! printed. `--json` prints the event's JSON object instead, unchanged.

use super::visible::line as one_line;
use agentrail::event::tombstone::TombstoneInfo;
use agentrail::event::Event;
use serde_json::{Map, Value as Json};

/// Characters of a string shown on its name's line; a longer one goes below it.
const INLINE_CHARS_MAX: usize = 100;
/// One level of nesting.
const INDENT: &str = "  ";
/// How much deeper than its name a string shown below it is indented (as `show COMMIT`
/// indents a commit's message).
const TEXT_INDENT: &str = "    ";

/// `show LSN`'s human form of `event`, at `lsn`, purged when `tombstone` says so.
pub fn event_text(lsn: u64, event: &Event, tombstone: Option<&TombstoneInfo>) -> String {
    let mut text = header(lsn, event);
    text.push('\n');
    if let Some(info) = tombstone {
        text += &format!(
            "purged: {} bytes removed, sha256 {}\n",
            info.bytes, info.sha256
        );
    }
    fields(&mut text, &event.data, 0);
    text
}

/// `2 2026-11-23T10:00:05Z llm_call s-000000000001 agent=planner`.
fn header(lsn: u64, event: &Event) -> String {
    let mut line = format!(
        "{lsn} {} {}",
        super::query::short_ts(event.ts_micros),
        one_line(&event.event_type)
    );
    if let Some(session) = &event.session {
        line += &format!(" {}", one_line(session));
    }
    if let Some(agent) = &event.agent {
        line += &format!(" agent={}", one_line(agent));
    }
    line
}

/// The members of `object`, `depth` levels deep.
fn fields(text: &mut String, object: &Map<String, Json>, depth: usize) {
    for (name, value) in object {
        let label = format!("{}{}:", INDENT.repeat(depth), one_line(name));
        value_text(text, &label, value, depth);
    }
}

/// `label` (a member's `name:` or an item's `-`, already indented for `depth`) and `value`: on
/// the label's line when it fits there, else on the lines below it.
fn value_text(text: &mut String, label: &str, value: &Json, depth: usize) {
    *text += label;
    match value {
        Json::Object(object) if !object.is_empty() => {
            text.push('\n');
            fields(text, object, depth + 1);
        }
        Json::Array(items) if !items.is_empty() => {
            text.push('\n');
            let dash = format!("{}-", INDENT.repeat(depth + 1));
            for item in items {
                value_text(text, &dash, item, depth + 1);
            }
        }
        Json::String(string) if is_long(string) => {
            text.push('\n');
            let indent = INDENT.repeat(depth) + TEXT_INDENT;
            for line in string.lines() {
                if !line.is_empty() {
                    *text += &indent;
                    *text += line;
                }
                text.push('\n');
            }
        }
        // Nothing after the colon would read as a missing value.
        Json::String(string) if string.is_empty() => *text += " \"\"\n",
        Json::String(string) => *text += &format!(" {}\n", one_line(string)),
        // Numbers as recorded, true, false, null, {} and [].
        other => *text += &format!(" {other}\n"),
    }
}

/// True when `string` goes below its name: more than one line, or too long for one.
fn is_long(string: &str) -> bool {
    string.contains('\n') || string.chars().count() > INLINE_CHARS_MAX
}

#[cfg(test)]
mod tests {
    use super::event_text;
    use agentrail::event::tombstone::TombstoneInfo;
    use agentrail::event::{Event, EventType};
    use serde_json::json;

    fn event(data: serde_json::Value) -> Event {
        let serde_json::Value::Object(data) = data else {
            panic!("not an object")
        };
        let mut event = Event::new(EventType::Failure, None, None, data).unwrap();
        event.ts_micros = 1_795_000_000_000_000;
        event
    }

    #[test]
    fn short_fields_are_one_line_each_and_nested_ones_are_indented() {
        let mut failure = event(json!({
            "error_type": "KeyError", "message": "", "locals": {"x": "1", "n": 2},
            "options": ["a", {"b": true}], "empty": {}, "none": null,
        }));
        failure.session = Some("s-000000000001".into());
        failure.agent = Some("coder".into());
        assert_eq!(
            event_text(7, &failure, None),
            "7 2026-11-18T11:06:40Z failure s-000000000001 agent=coder\n\
             error_type: KeyError\nmessage: \"\"\nlocals:\n  x: 1\n  n: 2\n\
             options:\n  - a\n  -\n    b: true\nempty: {}\nnone: null\n"
        );
    }

    #[test]
    fn a_long_or_multi_line_string_goes_below_its_name_line_by_line() {
        let long = "x".repeat(101);
        let failure = event(json!({
            "error_type": "E", "message": "first\n\n\tsecond\n", "location": long,
            "locals": {"trace": "a\nb"},
        }));
        assert_eq!(
            event_text(1, &failure, None),
            format!(
                "1 2026-11-18T11:06:40Z failure\nerror_type: E\nmessage:\n    first\n\n    \
                 \tsecond\nlocation:\n    {long}\nlocals:\n  trace:\n      a\n      b\n"
            )
        );
    }

    #[test]
    fn a_one_line_value_shows_line_breaks_it_may_hold_as_spaces() {
        let failure = event(json!({"error_type": "E\rF", "message": "m"}));
        let shown = event_text(1, &failure, None);
        assert!(shown.contains("error_type: E F\n"), "{shown}");
    }

    #[test]
    fn a_purged_event_says_so_under_its_header() {
        let info = TombstoneInfo {
            sha256: "ab".repeat(32),
            bytes: 120,
        };
        let shown = event_text(
            3,
            &event(json!({"error_type": "E", "message": "m"})),
            Some(&info),
        );
        assert_eq!(
            shown.lines().nth(1).unwrap(),
            format!("purged: 120 bytes removed, sha256 {}", "ab".repeat(32))
        );
    }
}
