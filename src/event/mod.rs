//! Events: what the journal's records mean. An event has a type, a timestamp, an optional
//! session and agent, and a JSON object of data. This module converts between three shapes, on
//! purpose kept apart so a change to one cannot silently change another: the JSON line a user
//! writes and reads, the in-memory [`Event`], and the on-disk [`EventRecord`] encoded with
//! postcard (`format-spec/journal.md` section 7). Input is checked against the closed set of
//! types in [`schema`] (`format-spec/events.md`); what is read back from disk is not, so that
//! journals holding older or newer type names stay readable.

mod borrowed;
mod encode;
pub mod json_line;
mod number;
pub mod schema;
pub mod tombstone;

pub use borrowed::{DataRef, EventRef, ValueRef};
pub use json_line::JsonLineError;
pub use schema::EventType;
pub use tombstone::{tombstone_of, TombstoneInfo};

use crate::journal::{Record, KIND_EVENT};
pub(crate) use number::StoredNumber;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value as Json};

/// The newest encoding version of an event record: version 2 adds [`Value::Number`]. A record
/// that holds none is written as version 1, which it is byte for byte, so that an agentrail of
/// version 1 still reads every event that does not need the new variant.
pub const EVENT_ENCODING_VERSION: u8 = 2;

/// The encoding version of a record whose data holds no [`Value::Number`].
pub const EVENT_ENCODING_VERSION_FIRST: u8 = 1;

/// Whether this version reads records of encoding version `version`.
pub fn is_known_encoding_version(version: u8) -> bool {
    (EVENT_ENCODING_VERSION_FIRST..=EVENT_ENCODING_VERSION).contains(&version)
}

/// An event in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// UTC microseconds since the Unix epoch.
    pub ts_micros: i64,
    pub event_type: String,
    pub session: Option<String>,
    pub agent: Option<String>,
    pub data: Map<String, Json>,
}

/// A JSON value as stored: postcard is not self-describing, so JSON gets an explicit enum.
/// Object keys keep their order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    String(String),
    Array(#[serde(deserialize_with = "nested")] Vec<Value>),
    Object(#[serde(deserialize_with = "nested")] Vec<(String, Value)>),
    /// A JSON number that `i64`, `u64` and `f64` cannot hold exactly (an integer beyond 64
    /// bits, a decimal with more digits than an `f64` keeps), as its JSON text. Encoding
    /// version 2.
    Number(#[serde(deserialize_with = "number_text")] String),
}

/// Decodes the text of a [`Value::Number`], refusing text that is not one JSON number.
fn number_text<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + AsRef<str>,
{
    let text = T::deserialize(deserializer)?;
    match number::parse_number_text(text.as_ref()) {
        Some(_) => Ok(text),
        None => Err(serde::de::Error::custom(
            "event data holds a number whose text is not a JSON number",
        )),
    }
}

/// Deepest nesting of arrays and objects a stored value may have. serde_json refuses JSON
/// nested deeper than 128, so no event made from a JSON line comes near it; postcard has no
/// limit of its own, and decoding bad bytes nested without bound would overflow the stack.
pub const VALUE_NESTING_DEPTH_MAX: usize = 128;

thread_local! {
    static VALUE_NESTING_DEPTH: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Decodes the content of an array or object, refusing to nest deeper than the limit.
fn nested<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    let depth = VALUE_NESTING_DEPTH.with(|depth| depth.replace(depth.get() + 1)) + 1;
    let result = if depth > VALUE_NESTING_DEPTH_MAX {
        Err(serde::de::Error::custom(format!(
            "event data is nested deeper than {VALUE_NESTING_DEPTH_MAX} levels"
        )))
    } else {
        T::deserialize(deserializer)
    };
    VALUE_NESTING_DEPTH.with(|depth| depth.set(depth.get() - 1));
    result
}

/// The disk type of an event, version 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    pub encoding_version: u8,
    pub ts_micros: i64,
    pub event_type: String,
    pub session: Option<String>,
    pub agent: Option<String>,
    pub data: Value,
}

/// Why an input line is not an event. `field` names the offending field, when there is one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}: {message}", line_label(*.line), .field.as_ref().map(|field| format!("{}field `{field}`", if *.line == 0 { "" } else { ", " })).unwrap_or_default())]
pub struct InputError {
    pub line: usize,
    pub field: Option<String>,
    pub message: String,
}

/// `line 4`, or nothing for input that did not come from a file (line 0).
fn line_label(line: usize) -> String {
    if line == 0 {
        String::new()
    } else {
        format!("line {line}")
    }
}

impl From<&Json> for Value {
    fn from(json: &Json) -> Value {
        match json {
            Json::Null => Value::Null,
            Json::Bool(flag) => Value::Bool(*flag),
            Json::Number(number) => match StoredNumber::of(number) {
                StoredNumber::Int(int) => Value::Int(int),
                StoredNumber::UInt(uint) => Value::UInt(uint),
                StoredNumber::Float(float) => Value::Float(float),
                StoredNumber::Text(text) => Value::Number(text.to_owned()),
            },
            Json::String(text) => Value::String(text.clone()),
            Json::Array(items) => Value::Array(items.iter().map(Value::from).collect()),
            Json::Object(map) => Value::Object(
                map.iter()
                    .map(|(key, value)| (key.clone(), Value::from(value)))
                    .collect(),
            ),
        }
    }
}

/// Moves a stored value into JSON without copying its strings. This is the reference
/// conversion: [`ValueRef::to_json`] must give the same JSON (a property test holds it to it).
impl From<Value> for Json {
    fn from(value: Value) -> Json {
        match value {
            Value::Null => Json::Null,
            Value::Bool(flag) => Json::Bool(flag),
            Value::Int(int) => Json::Number(int.into()),
            Value::UInt(uint) => Json::Number(uint.into()),
            Value::Float(float) => Number::from_f64(float).map_or(Json::Null, Json::Number),
            Value::Number(text) => {
                number::parse_number_text(&text).map_or(Json::Null, Json::Number)
            }
            Value::String(text) => Json::String(text),
            Value::Array(items) => Json::Array(items.into_iter().map(Json::from).collect()),
            Value::Object(pairs) => Json::Object(
                pairs
                    .into_iter()
                    .map(|(key, value)| (key, Json::from(value)))
                    .collect(),
            ),
        }
    }
}

/// Formats UTC microseconds as RFC 3339 with six fractional digits and `Z`.
pub fn format_ts(ts_micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(ts_micros)
        .map(|time| time.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
        .unwrap_or_else(|| ts_micros.to_string())
}

/// Years a time may fall in, in UTC: RFC 3339 writes a year in four digits, so a time
/// outside them could be read but not written back as one (`-0001-12-31T23:59:00Z` from
/// `0000-01-01T00:00:00+00:01`).
pub const TS_YEARS: std::ops::RangeInclusive<i32> = 0..=9999;

/// Parses an RFC 3339 timestamp (any offset) to UTC microseconds. A time whose UTC year is
/// outside [`TS_YEARS`] is refused, so that every stored time exports as RFC 3339.
pub fn parse_ts(text: &str) -> Result<i64, String> {
    use chrono::Datelike;
    let time = chrono::DateTime::parse_from_rfc3339(text)
        .map_err(|error| format!("\"{text}\" is not an RFC 3339 timestamp ({error})"))?;
    let year = time.with_timezone(&chrono::Utc).year();
    if !TS_YEARS.contains(&year) {
        return Err(format!(
            "\"{text}\" falls in the year {year} in UTC; a time must fall in the years 0000 to 9999 in UTC to be written back as RFC 3339"
        ));
    }
    Ok(time.timestamp_micros())
}

/// The current time in UTC microseconds.
pub fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// At most 64 characters of a user's text, for quoting it in an error.
fn truncate_for_message(text: &str) -> String {
    match text.char_indices().nth(EVENT_TYPE_QUOTE_CHARS_MAX) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_owned(),
    }
}

/// Characters of an unknown type name quoted back in an error.
const EVENT_TYPE_QUOTE_CHARS_MAX: usize = 64;

fn input_error(line: usize, field: Option<&str>, message: impl Into<String>) -> InputError {
    InputError {
        line,
        field: field.map(str::to_owned),
        message: message.into(),
    }
}

fn optional_string(
    object: &Map<String, Json>,
    line: usize,
    field: &str,
) -> Result<Option<String>, InputError> {
    match object.get(field) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(input_error(line, Some(field), "must be a string")),
    }
}

impl Event {
    /// Parses one JSON line. `line` is its 1-based number, for errors; `now_micros` stamps an
    /// event that carries no `ts`. `lsn` in the input is ignored. A key given twice in one
    /// object, at any depth, is an error whose field is the key's path ([`json_line`]).
    pub fn from_json_line(text: &str, line: usize, now_micros: i64) -> Result<Event, InputError> {
        let json = json_line::parse(text).map_err(|error| match error {
            JsonLineError::DuplicateKey { path, column } => {
                let message = format!("is given twice in one JSON object (near column {column}, after the second): an object names each key once");
                input_error(line, Some(&path), message)
            }
            JsonLineError::Syntax(_) if text.starts_with('\u{feff}') => input_error(
                line,
                None,
                "not valid JSON: it starts with a byte order mark (U+FEFF); write the input without one",
            ),
            JsonLineError::Syntax(error) => {
                let message = crate::error::json_message(&error);
                let message = format!("not valid JSON at column {}: {message}", error.column());
                input_error(line, None, message)
            }
        })?;
        let Json::Object(object) = json else {
            return Err(input_error(line, None, "an event must be a JSON object"));
        };
        Event::from_json_object(object, line, now_micros)
    }

    /// Builds an event from a parsed JSON object; see [`Event::from_json_line`].
    pub fn from_json_object(
        mut object: Map<String, Json>,
        line: usize,
        now_micros: i64,
    ) -> Result<Event, InputError> {
        if object.contains_key("tombstone") {
            return Err(input_error(
                line,
                Some("tombstone"),
                "this line is a tombstone (an event whose content gc or purge removed); it cannot be imported",
            ));
        }
        if let Some(unknown) = object.keys().find(|key| {
            !matches!(
                key.as_str(),
                "lsn" | "ts" | "type" | "session" | "agent" | "data"
            )
        }) {
            return Err(input_error(
                line,
                Some(unknown),
                "unknown field: an event has lsn, ts, type, session, agent and data",
            ));
        }
        let kind = match object.get("type") {
            Some(Json::String(text)) => EventType::parse(text).ok_or_else(|| {
                input_error(
                    line,
                    Some("type"),
                    format!(
                        "unknown event type \"{}\"; the types are {}",
                        truncate_for_message(text),
                        EventType::names()
                    ),
                )
            })?,
            Some(_) => return Err(input_error(line, Some("type"), "must be a string")),
            None => return Err(input_error(line, Some("type"), "is missing")),
        };
        let mut data = match object.remove("data") {
            Some(Json::Object(data)) => data,
            Some(_) => return Err(input_error(line, Some("data"), "must be a JSON object")),
            None => return Err(input_error(line, Some("data"), "is missing")),
        };
        schema::check_data(kind, &mut data)
            .map_err(|error| input_error(line, Some(&error.field), error.message))?;
        let ts_micros = match object.get("ts") {
            None | Some(Json::Null) => now_micros,
            Some(Json::String(text)) => {
                parse_ts(text).map_err(|message| input_error(line, Some("ts"), message))?
            }
            Some(_) => return Err(input_error(line, Some("ts"), "must be an RFC 3339 string")),
        };
        let session = optional_string(&object, line, "session")?;
        let starts_or_ends = matches!(kind, EventType::SessionStart | EventType::SessionEnd);
        if starts_or_ends && session.as_deref() == Some("") {
            let message = "must not be empty: a session_start or session_end names the session it starts or ends";
            return Err(input_error(line, Some("session"), message));
        }
        let agent = optional_string(&object, line, "agent")?;
        let moved = data.get("agent").and_then(Json::as_str);
        if kind == EventType::RefUpdate && agent.is_some() && agent.as_deref() != moved {
            let message = "names another agent than data.agent, whose refs a ref_update moves";
            return Err(input_error(line, Some("agent"), message));
        }
        if session.is_none() && matches!(kind, EventType::SessionStart | EventType::SessionEnd) {
            let message =
                "is missing: a session_start or session_end names the session it starts or ends";
            return Err(input_error(line, Some("session"), message));
        }
        Ok(Event {
            ts_micros,
            event_type: kind.as_str().to_owned(),
            session,
            agent,
            data,
        })
    }

    /// A new event stamped now, checked like an input line (errors carry line 0).
    pub fn new(
        kind: EventType,
        session: Option<String>,
        agent: Option<String>,
        mut data: Map<String, Json>,
    ) -> Result<Event, InputError> {
        schema::check_data(kind, &mut data)
            .map_err(|error| input_error(0, Some(&error.field), error.message))?;
        Ok(Event {
            ts_micros: now_micros(),
            event_type: kind.as_str().to_owned(),
            session,
            agent,
            data,
        })
    }

    /// The event's type, if it is one this version knows (stored events may carry others).
    pub fn kind(&self) -> Option<EventType> {
        EventType::parse(&self.event_type)
    }

    /// A string field of `data`, if present and a string.
    pub fn text(&self, field: &str) -> Option<&str> {
        self.data.get(field).and_then(Json::as_str)
    }

    /// A non-negative integer field of `data`, if present and one.
    pub fn count(&self, field: &str) -> Option<u64> {
        self.data.get(field).and_then(Json::as_u64)
    }

    /// The canonical JSON object: `lsn`, `ts`, `type`, `session` and `agent` when present, `data`.
    pub fn to_json(&self, lsn: u64) -> Json {
        let mut object = Map::new();
        object.insert("lsn".into(), lsn.into());
        object.insert("ts".into(), format_ts(self.ts_micros).into());
        object.insert("type".into(), self.event_type.clone().into());
        if let Some(session) = &self.session {
            object.insert("session".into(), session.clone().into());
        }
        if let Some(agent) = &self.agent {
            object.insert("agent".into(), agent.clone().into());
        }
        object.insert("data".into(), Json::Object(self.data.clone()));
        Json::Object(object)
    }

    /// The canonical JSON object of a tombstoned event: as [`Event::to_json`], with a
    /// `tombstone` member before `data` (`format-spec/events.md` section 8).
    pub fn to_tombstone_json(&self, lsn: u64, info: &TombstoneInfo) -> Json {
        let mut object = match self.to_json(lsn) {
            Json::Object(object) => object,
            _ => Map::new(),
        };
        let data = object.remove("data").unwrap_or(Json::Null);
        object.insert(
            "tombstone".into(),
            serde_json::json!({ "sha256": info.sha256, "bytes": info.bytes }),
        );
        object.insert("data".into(), data);
        Json::Object(object)
    }

    /// The disk type for this event (a copy; [`Event::encode`] writes the same bytes without
    /// one).
    pub fn to_record(&self) -> EventRecord {
        encode::to_record(self)
    }

    /// The record payload (postcard).
    pub fn encode(&self) -> Vec<u8> {
        encode::encode_event(self)
    }

    /// Decodes a record payload written by [`Event::encode`].
    pub fn decode(lsn: u64, payload: &[u8]) -> crate::Result<Event> {
        EventRef::decode(lsn, payload).map(|event| event.to_event())
    }
}

impl EventRecord {
    /// Decodes a record payload written by [`Event::encode`], leaving `data` as stored (an
    /// [`Event`] turns it into a JSON map, which costs an allocation per key).
    pub fn decode(lsn: u64, payload: &[u8]) -> crate::Result<EventRecord> {
        let record: EventRecord =
            postcard::from_bytes(payload).map_err(|error| crate::Error::Decode {
                lsn,
                reason: error.to_string(),
            })?;
        if !is_known_encoding_version(record.encoding_version) {
            return Err(crate::Error::Decode {
                lsn,
                reason: format!(
                    "event encoding version {} is not known",
                    record.encoding_version
                ),
            });
        }
        Ok(record)
    }

    /// Takes field `name` out of `data`, if `data` is an object that has it.
    pub fn take_field(&mut self, name: &str) -> Option<Value> {
        let Value::Object(fields) = &mut self.data else {
            return None;
        };
        let at = fields.iter().position(|(key, _)| key == name)?;
        Some(fields.swap_remove(at).1)
    }
}

/// What a stored record means to this version of agentrail.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    Event(Event),
    /// A kind this version does not know and may skip (format spec section 7).
    Skipped {
        kind: u16,
    },
}

/// Decodes a record: events are decoded, unknown skippable kinds are passed over, unknown
/// must-understand kinds are an error.
/// A tombstone decodes to the event it kept (`format-spec/events.md` section 8).
pub fn decode_record(record: &Record) -> crate::Result<Decoded> {
    match event_payload(record)? {
        Ok(payload) => Event::decode(record.lsn, payload).map(Decoded::Event),
        Err(kind) => Ok(Decoded::Skipped { kind }),
    }
}

/// The event a record holds, decoded in place (for a tombstone, the event it kept), or `None`
/// for a record of a kind this version may skip.
pub fn decode_record_ref(record: &Record) -> crate::Result<Option<EventRef<'_>>> {
    match event_payload(record)? {
        Ok(payload) => EventRef::decode(record.lsn, payload).map(Some),
        Err(_) => Ok(None),
    }
}

/// The event payload of a record (for a tombstone, the event it kept), or `Err` with the kind
/// of a record this version may skip; unknown must-understand kinds are an error.
pub fn event_payload(record: &Record) -> crate::Result<Result<&[u8], u16>> {
    let payload = match tombstone_of(record) {
        Some((_, summary)) => summary,
        None if record.flags & crate::journal::format::FRAME_FLAG_TOMBSTONE != 0 => {
            return Err(crate::Error::Decode {
                lsn: record.lsn,
                reason: "tombstone payload is damaged".into(),
            })
        }
        None => &record.payload,
    };
    match record.kind {
        KIND_EVENT => Ok(Ok(payload)),
        kind if record.flags & crate::journal::format::FRAME_FLAG_MUST_UNDERSTAND != 0 => {
            Err(crate::Error::UnknownKind {
                lsn: record.lsn,
                kind,
            })
        }
        kind => Ok(Err(kind)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_is_taken_only_when_it_can_be_written_back_as_rfc_3339() {
        for text in ["0000-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z"] {
            let micros = parse_ts(text).unwrap();
            assert_eq!(parse_ts(&format_ts(micros)), Ok(micros), "{text}");
        }
        // Four-digit years that leave them once moved to UTC.
        for (text, year) in [
            ("0000-01-01T00:00:00+00:01", "-1"),
            ("9999-12-31T23:59:59-00:01", "10000"),
        ] {
            let refused = parse_ts(text).unwrap_err();
            assert!(
                refused.contains(&format!("year {year} in UTC")),
                "{refused}"
            );
        }
    }

    #[test]
    fn a_line_round_trips_through_the_disk_encoding_keeping_key_order_and_numbers() {
        let line = r#"{"type":"decision","ts":"2026-11-23T01:02:03.5+01:00","agent":"a","data":{"z":1,"choice":"c","a":[true,null,-2,1.5,18446744073709551615],"m":{"k":"v"}}}"#;
        let event = Event::from_json_line(line, 1, 0).unwrap();
        let decoded = Event::decode(9, &event.encode()).unwrap();
        assert_eq!(decoded, event);
        let json = serde_json::to_string(&decoded.to_json(9)).unwrap();
        assert_eq!(
            json,
            r#"{"lsn":9,"ts":"2026-11-23T00:02:03.500000Z","type":"decision","agent":"a","data":{"z":1,"choice":"c","a":[true,null,-2,1.5,18446744073709551615],"m":{"k":"v"}}}"#
        );
    }

    #[test]
    fn bad_lines_name_the_line_and_the_field() {
        let cases = [
            ("[1]", None),
            ("{", None),
            (r#"{"data":{}}"#, Some("type")),
            (r#"{"type":"note","data":{}}"#, Some("type")),
            (r#"{"type":"action"}"#, Some("data")),
            (r#"{"type":"action","data":[]}"#, Some("data")),
            (r#"{"type":7,"data":{}}"#, Some("type")),
            (r#"{"type":"action","data":{}}"#, Some("data.description")),
            (
                r#"{"type":"action","data":{"description":" \t"}}"#,
                Some("data.description"),
            ),
            (
                r#"{"type":"session_start","data":{"task":""}}"#,
                Some("data.task"),
            ),
            (
                r#"{"type":"decision","data":{"choice":"\n"}}"#,
                Some("data.choice"),
            ),
            (
                r#"{"type":"llm_call","data":{"model":"m","input_tokens":-1,"output_tokens":1}}"#,
                Some("data.input_tokens"),
            ),
            (
                r#"{"type":"llm_call","data":{"model":"m","input_tokens":1,"output_tokens":2.5}}"#,
                Some("data.output_tokens"),
            ),
            (
                r#"{"type":"action","data":{"description":"d"},"ts":"yesterday"}"#,
                Some("ts"),
            ),
            (
                r#"{"type":"action","data":{"description":"d"},"session":3}"#,
                Some("session"),
            ),
            (
                r#"{"type":"action","data":{"description":"d"},"extra":3}"#,
                Some("extra"),
            ),
            (
                r#"{"type":"action","type":"failure","data":{"description":"d"}}"#,
                Some("type"),
            ),
            (
                r#"{"type":"action","data":{"description":"d","description":"e"}}"#,
                Some("data.description"),
            ),
            (
                r#"{"type":"failure","data":{"error_type":"E","message":"m","locals":{"x":[{"y":1,"y":1}]}}}"#,
                Some("data.locals.x[0].y"),
            ),
        ];
        for (text, field) in cases {
            let error = Event::from_json_line(text, 4, 0).unwrap_err();
            assert_eq!(error.line, 4, "{text}");
            assert_eq!(error.field.as_deref(), field, "{text}");
        }
    }

    #[test]
    fn an_empty_failure_message_is_kept_but_an_empty_model_is_refused() {
        let text = r#"{"type":"failure","data":{"error_type":"AssertionError","message":""}}"#;
        assert!(Event::from_json_line(text, 1, 0).is_ok(), "{text}");
        let text = r#"{"type":"llm_call","data":{"model":"","input_tokens":1,"output_tokens":2}}"#;
        let error = Event::from_json_line(text, 1, 0).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("data.model"));
    }

    #[test]
    fn an_empty_session_is_not_taken_for_a_missing_one() {
        for text in [
            r#"{"type":"session_start","session":"","data":{"task":"t"}}"#,
            r#"{"type":"session_end","session":"","data":{"status":"aborted"}}"#,
        ] {
            let error = Event::from_json_line(text, 1, 0).unwrap_err();
            assert_eq!(error.field.as_deref(), Some("session"), "{text}");
            assert!(error.message.starts_with("must not be empty"), "{text}");
        }
    }
}
