//! Encoding an [`Event`] without copying it. [`EventRecord`] is the disk type; building one
//! clones every string and rebuilds the JSON tree as [`Value`]s, which was a fifth of a bulk
//! import's encoding time. The views here serialize the event's own strings and JSON in place
//! and produce exactly the bytes that serializing the `EventRecord` would (a test and a
//! property test hold them to it), so the format is still defined by the disk types alone.

use super::{
    Event, EventRecord, StoredNumber, Value, EVENT_ENCODING_VERSION, EVENT_ENCODING_VERSION_FIRST,
};
use serde::ser::{SerializeSeq, SerializeStruct, SerializeTuple, Serializer};
use serde::Serialize;
use serde_json::{Map, Value as Json};
use std::cell::RefCell;

/// Scratch buffers kept above this size are given back after an encode, so one huge event
/// does not pin its size for the life of the thread.
const SCRATCH_BYTES_KEPT_MAX: usize = 1024 * 1024;

thread_local! {
    /// Each thread encodes into one reused buffer, then copies the result out at its exact
    /// size: postcard's own vector grows by doubling and reallocating from empty.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The record payload of `event`: the postcard bytes of its [`EventRecord`].
pub fn encode_event(event: &Event) -> Vec<u8> {
    let view = RecordView(event);
    SCRATCH.with(|scratch| {
        let mut buffer = std::mem::take(&mut *scratch.borrow_mut());
        buffer.clear();
        // Serializing strings, numbers and sequences of known length into a Vec cannot fail.
        let buffer = postcard::to_extend(&view, buffer).unwrap_or_default();
        let payload = buffer.clone();
        if buffer.capacity() <= SCRATCH_BYTES_KEPT_MAX {
            *scratch.borrow_mut() = buffer;
        }
        payload
    })
}

/// An event seen as its [`EventRecord`]: the same fields, in the same order.
struct RecordView<'a>(&'a Event);

impl Serialize for RecordView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let event = self.0;
        let mut record = serializer.serialize_struct("EventRecord", 6)?;
        record.serialize_field("encoding_version", &encoding_version(&event.data))?;
        record.serialize_field("ts_micros", &event.ts_micros)?;
        record.serialize_field("event_type", &event.event_type)?;
        record.serialize_field("session", &event.session)?;
        record.serialize_field("agent", &event.agent)?;
        record.serialize_field("data", &ObjectView(&event.data))?;
        record.end()
    }
}

/// A JSON value seen as a [`Value`]: the variant [`Value::from`] would pick, with the same
/// index and content.
struct JsonView<'a>(&'a Json);

/// A JSON object seen as [`Value::Object`].
struct ObjectView<'a>(&'a Map<String, Json>);

/// One member of an object: the `(String, Value)` pair of [`Value::Object`].
struct MemberView<'a>(&'a str, &'a Json);

/// The variant indexes of [`Value`], in declaration order (serde numbers variants so).
mod variant {
    pub const NULL: u32 = 0;
    pub const BOOL: u32 = 1;
    pub const INT: u32 = 2;
    pub const UINT: u32 = 3;
    pub const FLOAT: u32 = 4;
    pub const STRING: u32 = 5;
    pub const ARRAY: u32 = 6;
    pub const OBJECT: u32 = 7;
    pub const NUMBER: u32 = 8;
}

impl Serialize for JsonView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Json::Null => serializer.serialize_unit_variant("Value", variant::NULL, "Null"),
            Json::Bool(flag) => {
                serializer.serialize_newtype_variant("Value", variant::BOOL, "Bool", flag)
            }
            Json::Number(number) => match StoredNumber::of(number) {
                StoredNumber::Int(int) => {
                    serializer.serialize_newtype_variant("Value", variant::INT, "Int", &int)
                }
                StoredNumber::UInt(uint) => {
                    serializer.serialize_newtype_variant("Value", variant::UINT, "UInt", &uint)
                }
                StoredNumber::Float(float) => {
                    serializer.serialize_newtype_variant("Value", variant::FLOAT, "Float", &float)
                }
                StoredNumber::Text(text) => {
                    serializer.serialize_newtype_variant("Value", variant::NUMBER, "Number", text)
                }
            },
            Json::String(text) => {
                serializer.serialize_newtype_variant("Value", variant::STRING, "String", text)
            }
            Json::Array(items) => serializer.serialize_newtype_variant(
                "Value",
                variant::ARRAY,
                "Array",
                &ArrayView(items),
            ),
            Json::Object(map) => ObjectView(map).serialize(serializer),
        }
    }
}

/// The items of an array, as the `Vec<Value>` of [`Value::Array`].
struct ArrayView<'a>(&'a [Json]);

impl Serialize for ArrayView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for item in self.0 {
            seq.serialize_element(&JsonView(item))?;
        }
        seq.end()
    }
}

impl Serialize for ObjectView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_newtype_variant("Value", variant::OBJECT, "Object", &Members(self.0))
    }
}

/// The members of an object, as the `Vec<(String, Value)>` of [`Value::Object`].
struct Members<'a>(&'a Map<String, Json>);

impl Serialize for Members<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for (key, value) in self.0 {
            seq.serialize_element(&MemberView(key, value))?;
        }
        seq.end()
    }
}

impl Serialize for MemberView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut pair = serializer.serialize_tuple(2)?;
        pair.serialize_element(self.0)?;
        pair.serialize_element(&JsonView(self.1))?;
        pair.end()
    }
}

/// The lowest encoding version that holds `data`: version 2 only when a number in it is
/// stored as text ([`Value::Number`]).
fn encoding_version(data: &Map<String, Json>) -> u8 {
    if data.values().any(holds_number_text) {
        EVENT_ENCODING_VERSION
    } else {
        EVENT_ENCODING_VERSION_FIRST
    }
}

fn holds_number_text(json: &Json) -> bool {
    match json {
        Json::Number(number) => matches!(StoredNumber::of(number), StoredNumber::Text(_)),
        Json::Array(items) => items.iter().any(holds_number_text),
        Json::Object(map) => map.values().any(holds_number_text),
        Json::Null | Json::Bool(_) | Json::String(_) => false,
    }
}

/// The record an event is stored as, built by copying: the reference [`encode_event`] is held
/// to, and what code that wants an owned disk value uses.
pub fn to_record(event: &Event) -> EventRecord {
    EventRecord {
        encoding_version: encoding_version(&event.data),
        ts_micros: event.ts_micros,
        event_type: event.event_type.clone(),
        session: event.session.clone(),
        agent: event.agent.clone(),
        data: Value::Object(
            event
                .data
                .iter()
                .map(|(key, value)| (key.clone(), Value::from(value)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::{encode_event, to_record};
    use crate::event::Event;
    use proptest::prelude::*;
    use serde_json::{json, Map, Value as Json};

    fn event_with(data: Json, session: Option<&str>) -> Event {
        let Json::Object(data) = data else {
            unreachable!("test data is an object")
        };
        Event {
            ts_micros: 1_790_000_000_000_000,
            event_type: "llm_call".into(),
            session: session.map(str::to_owned),
            agent: Some("planner".into()),
            data,
        }
    }

    fn copied(event: &Event) -> Vec<u8> {
        postcard::to_stdvec(&to_record(event)).unwrap()
    }

    #[test]
    fn every_kind_of_value_encodes_as_the_disk_type_does() {
        let data = json!({
            "null": null, "yes": true, "int": -7, "big": u64::MAX, "float": 1.5,
            "text": "héllo", "list": [1, "two", [3.25], {"k": null}],
            "nested": {"a": {"b": [true, false]}}, "empty": {}, "none": []
        });
        for session in [None, Some("s-1")] {
            let event = event_with(data.clone(), session);
            assert_eq!(encode_event(&event), copied(&event));
        }
    }

    #[test]
    fn a_large_event_is_encoded_whole_and_does_not_stay_in_the_scratch() {
        let event = event_with(json!({ "stdout": "x".repeat(3 * 1024 * 1024) }), None);
        assert_eq!(encode_event(&event), copied(&event));
        let small = event_with(json!({ "n": 1 }), None);
        assert_eq!(encode_event(&small), copied(&small));
    }

    #[test]
    fn a_record_is_version_2_only_when_it_holds_a_number_stored_as_text() {
        let plain = event_with(json!({ "n": [1, -2.5, u64::MAX], "s": "x" }), None);
        assert_eq!(to_record(&plain).encoding_version, 1);
        assert_eq!(encode_event(&plain)[0], 1);
        let huge: Json =
            serde_json::from_str(r#"{"n":[1,{"deep":123456789012345678901234567890}]}"#).unwrap();
        let huge = event_with(huge, None);
        assert_eq!(to_record(&huge).encoding_version, 2);
        assert_eq!(encode_event(&huge), copied(&huge));
        assert_eq!(Event::decode(1, &encode_event(&huge)).unwrap(), huge);
    }

    fn json_value() -> impl Strategy<Value = Json> {
        let leaf = prop_oneof![
            Just(Json::Null),
            any::<bool>().prop_map(Json::Bool),
            any::<i64>().prop_map(Json::from),
            any::<u64>().prop_map(Json::from),
            any::<f64>().prop_map(Json::from),
            ".{0,12}".prop_map(Json::String),
            "-?[1-9][0-9]{20,40}(\\.[0-9]{20})?"
                .prop_map(|text| Json::Number(text.parse().unwrap())),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Json::Array),
                prop::collection::vec(("[a-z]{0,6}", inner), 0..6)
                    .prop_map(|members| Json::Object(members.into_iter().collect::<Map<_, _>>())),
            ]
        })
    }

    proptest! {
        #[test]
        fn any_json_encodes_as_the_disk_type_does(
            members in prop::collection::vec(("[a-z_]{1,8}", json_value()), 0..8),
            session in proptest::option::of("[a-z0-9-]{1,12}"),
        ) {
            let data = Json::Object(members.into_iter().collect());
            let event = event_with(data, session.as_deref());
            prop_assert_eq!(encode_event(&event), copied(&event));
        }
    }
}
