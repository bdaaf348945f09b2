//! Events read in place: [`EventRef`] borrows its strings from the record's payload, so a
//! replay allocates no string and builds no JSON map for fields nobody reads. Replay feeds
//! every projection every event, and turning each payload into an owned [`Event`] (a string
//! per key and value, a hashed map per object) was a quarter of a rebuild's CPU time.
//!
//! The borrowed types mirror the disk types [`EventRecord`](super::EventRecord) and
//! [`Value`](super::Value) field for field and variant for variant, so they decode exactly the
//! bytes those define (a property test holds them to it); the format is still defined by the
//! owned disk types alone.

use super::number::parse_number_text;
use super::{is_known_encoding_version, nested, number_text, Event, EventType, StoredNumber};
use serde::Deserialize;
use serde_json::{Map, Number, Value as Json};

/// An event borrowed from a record payload (or from an [`Event`], see [`Event::to_ref`]).
#[derive(Debug, Clone, PartialEq)]
pub struct EventRef<'a> {
    /// UTC microseconds since the Unix epoch.
    pub ts_micros: i64,
    pub event_type: &'a str,
    pub session: Option<&'a str>,
    pub agent: Option<&'a str>,
    pub data: DataRef<'a>,
}

/// The members of an event's `data` object, in stored order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DataRef<'a>(Vec<(&'a str, ValueRef<'a>)>);

/// A stored JSON value, borrowed: [`Value`](super::Value) with `&str` for `String`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub enum ValueRef<'a> {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    String(&'a str),
    Array(#[serde(borrow, deserialize_with = "nested")] Vec<ValueRef<'a>>),
    Object(#[serde(borrow, deserialize_with = "nested")] Vec<(&'a str, ValueRef<'a>)>),
    Number(#[serde(borrow, deserialize_with = "number_text")] &'a str),
}

/// [`EventRecord`](super::EventRecord), borrowed.
#[derive(Deserialize)]
struct StoredEvent<'a> {
    encoding_version: u8,
    ts_micros: i64,
    event_type: &'a str,
    session: Option<&'a str>,
    agent: Option<&'a str>,
    #[serde(borrow)]
    data: ValueRef<'a>,
}

impl<'a> EventRef<'a> {
    /// Decodes an event record payload in place. It accepts and refuses exactly what
    /// [`Event::decode`] does, with the same reasons.
    pub fn decode(lsn: u64, payload: &'a [u8]) -> crate::Result<EventRef<'a>> {
        let decode_error = |reason: String| crate::Error::Decode { lsn, reason };
        let stored: StoredEvent<'a> =
            postcard::from_bytes(payload).map_err(|error| decode_error(error.to_string()))?;
        if !is_known_encoding_version(stored.encoding_version) {
            return Err(decode_error(format!(
                "event encoding version {} is not known",
                stored.encoding_version
            )));
        }
        let ValueRef::Object(members) = stored.data else {
            return Err(decode_error("event data is not an object".into()));
        };
        Ok(EventRef {
            ts_micros: stored.ts_micros,
            event_type: stored.event_type,
            session: stored.session,
            agent: stored.agent,
            data: DataRef(members),
        })
    }

    /// The event's type, if it is one this version knows (stored events may carry others).
    pub fn kind(&self) -> Option<EventType> {
        EventType::parse(self.event_type)
    }

    /// The owned event, its strings copied and `data` built as a JSON map.
    pub fn to_event(&self) -> Event {
        Event {
            ts_micros: self.ts_micros,
            event_type: self.event_type.to_owned(),
            session: self.session.map(str::to_owned),
            agent: self.agent.map(str::to_owned),
            data: self.data.to_json(),
        }
    }
}

impl<'a> DataRef<'a> {
    /// The value of member `key`. If a stored object repeats a key, the last one counts, as it
    /// does when the object is read into a JSON map.
    pub fn get(&self, key: &str) -> Option<&ValueRef<'a>> {
        self.0
            .iter()
            .rev()
            .find(|(member, _)| *member == key)
            .map(|(_, value)| value)
    }

    /// The members, in stored order.
    pub fn members(&self) -> &[(&'a str, ValueRef<'a>)] {
        &self.0
    }

    /// The object as a JSON map.
    pub fn to_json(&self) -> Map<String, Json> {
        object_to_json(&self.0)
    }
}

impl ValueRef<'_> {
    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            ValueRef::String(text) => Some(text),
            _ => None,
        }
    }

    /// The integer, if this is one that is not negative (as [`Json::as_u64`]: a float is not).
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            ValueRef::Int(int) => u64::try_from(int).ok(),
            ValueRef::UInt(uint) => Some(uint),
            _ => None,
        }
    }

    /// The number as a float, if this is a number that JSON can hold (as [`Json::as_f64`]; a
    /// stored non-finite float reads as JSON null).
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            ValueRef::Int(int) => Some(int as f64),
            ValueRef::UInt(uint) => Some(uint as f64),
            ValueRef::Float(float) if float.is_finite() => Some(float),
            ValueRef::Number(text) => text.parse::<f64>().ok().filter(|float| float.is_finite()),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            ValueRef::Bool(flag) => Some(flag),
            _ => None,
        }
    }

    /// The value as JSON, as [`Json::from`] a [`Value`](super::Value) makes it.
    pub fn to_json(&self) -> Json {
        match *self {
            ValueRef::Null => Json::Null,
            ValueRef::Bool(flag) => Json::Bool(flag),
            ValueRef::Int(int) => Json::Number(int.into()),
            ValueRef::UInt(uint) => Json::Number(uint.into()),
            ValueRef::Float(float) => Number::from_f64(float).map_or(Json::Null, Json::Number),
            ValueRef::Number(text) => parse_number_text(text).map_or(Json::Null, Json::Number),
            ValueRef::String(text) => Json::String(text.to_owned()),
            ValueRef::Array(ref items) => {
                Json::Array(items.iter().map(ValueRef::to_json).collect())
            }
            ValueRef::Object(ref members) => Json::Object(object_to_json(members)),
        }
    }
}

fn object_to_json(members: &[(&str, ValueRef<'_>)]) -> Map<String, Json> {
    members
        .iter()
        .map(|(key, value)| ((*key).to_owned(), value.to_json()))
        .collect()
}

impl<'a> From<&'a Json> for ValueRef<'a> {
    /// The value [`Value::from`](super::Value) would store, borrowed.
    fn from(json: &'a Json) -> ValueRef<'a> {
        match json {
            Json::Null => ValueRef::Null,
            Json::Bool(flag) => ValueRef::Bool(*flag),
            Json::Number(number) => match StoredNumber::of(number) {
                StoredNumber::Int(int) => ValueRef::Int(int),
                StoredNumber::UInt(uint) => ValueRef::UInt(uint),
                StoredNumber::Float(float) => ValueRef::Float(float),
                StoredNumber::Text(text) => ValueRef::Number(text),
            },
            Json::String(text) => ValueRef::String(text),
            Json::Array(items) => ValueRef::Array(items.iter().map(ValueRef::from).collect()),
            Json::Object(map) => ValueRef::Object(members_of(map)),
        }
    }
}

fn members_of(map: &Map<String, Json>) -> Vec<(&str, ValueRef<'_>)> {
    map.iter()
        .map(|(key, value)| (key.as_str(), ValueRef::from(value)))
        .collect()
}

impl Event {
    /// The event borrowed, as a replay would decode it from its record.
    pub fn to_ref(&self) -> EventRef<'_> {
        EventRef {
            ts_micros: self.ts_micros,
            event_type: &self.event_type,
            session: self.session.as_deref(),
            agent: self.agent.as_deref(),
            data: DataRef(members_of(&self.data)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{EventRecord, Value, EVENT_ENCODING_VERSION};
    use proptest::prelude::*;
    use serde_json::json;

    fn event_with(data: Json) -> Event {
        let Json::Object(data) = data else {
            unreachable!("test data is an object")
        };
        Event {
            ts_micros: -5,
            event_type: "llm_call".into(),
            session: Some("s-1".into()),
            agent: None,
            data,
        }
    }

    /// What decoding with the owned disk types gives.
    fn owned_decode(payload: &[u8]) -> Option<Event> {
        let record: EventRecord = postcard::from_bytes(payload).ok()?;
        let Json::Object(data) = Json::from(record.data) else {
            return None;
        };
        is_known_encoding_version(record.encoding_version).then(|| Event {
            ts_micros: record.ts_micros,
            event_type: record.event_type,
            session: record.session,
            agent: record.agent,
            data,
        })
    }

    #[test]
    fn fields_read_as_the_json_map_reads_them() {
        let event = event_with(json!({
            "text": "x", "n": 7, "neg": -3, "frac": 2.5, "big": u64::MAX, "yes": true,
            "list": [1, {"k": "v"}], "null": null,
            "huge": Json::Number("-123456789012345678901234567890".parse().unwrap()),
            "digits": Json::Number("1.00000000000000000001".parse().unwrap())
        }));
        let payload = event.encode();
        let view = EventRef::decode(3, &payload).unwrap();
        assert_eq!(view, event.to_ref());
        assert_eq!(view.to_event(), event);
        for (key, json) in &event.data {
            let value = view.data.get(key).unwrap();
            assert_eq!(value.as_str(), json.as_str(), "{key}");
            assert_eq!(value.as_u64(), json.as_u64(), "{key}");
            assert_eq!(value.as_f64(), json.as_f64(), "{key}");
            assert_eq!(value.as_bool(), json.as_bool(), "{key}");
            assert_eq!(&value.to_json(), json, "{key}");
        }
        assert_eq!(view.data.get("missing"), None);
    }

    #[test]
    fn a_repeated_key_reads_as_its_last_value_and_a_non_finite_float_as_null() {
        let record = EventRecord {
            encoding_version: EVENT_ENCODING_VERSION,
            ts_micros: 1,
            event_type: "x".into(),
            session: None,
            agent: None,
            data: Value::Object(vec![
                ("k".into(), Value::Int(1)),
                ("k".into(), Value::Int(2)),
                ("inf".into(), Value::Float(f64::INFINITY)),
            ]),
        };
        let payload = postcard::to_stdvec(&record).unwrap();
        let view = EventRef::decode(1, &payload).unwrap();
        assert_eq!(view.data.get("k").and_then(ValueRef::as_u64), Some(2));
        assert_eq!(view.data.get("inf").and_then(ValueRef::as_f64), None);
        assert_eq!(Some(view.to_event()), owned_decode(&payload));
    }

    #[test]
    fn data_that_is_not_an_object_and_unknown_versions_are_refused() {
        let mut record = EventRecord {
            encoding_version: EVENT_ENCODING_VERSION,
            ts_micros: 1,
            event_type: "x".into(),
            session: None,
            agent: None,
            data: Value::Array(vec![]),
        };
        let error = EventRef::decode(4, &postcard::to_stdvec(&record).unwrap()).unwrap_err();
        assert!(
            error.to_string().contains("event data is not an object"),
            "{error}"
        );
        record.data = Value::Object(vec![]);
        record.encoding_version = EVENT_ENCODING_VERSION + 1;
        let error = EventRef::decode(4, &postcard::to_stdvec(&record).unwrap()).unwrap_err();
        assert!(error.to_string().contains("encoding version 3"), "{error}");
    }

    proptest! {
        /// Any bytes: the borrowed decoder accepts what the owned disk types accept, and reads
        /// the same event from them.
        #[test]
        fn any_bytes_decode_as_the_disk_types_decode_them(
            bytes in prop::collection::vec(any::<u8>(), 0..64),
        ) {
            let borrowed = EventRef::decode(1, &bytes).ok().map(|view| view.to_event());
            prop_assert_eq!(borrowed, owned_decode(&bytes));
        }

        #[test]
        fn encoded_events_decode_as_the_disk_types_decode_them(
            members in prop::collection::vec(("[a-z]{1,4}", any::<i64>()), 0..6),
            text in ".{0,12}",
            float in any::<f64>(),
            huge in "-?[1-9][0-9]{19,40}",
        ) {
            let mut data: Map<String, Json> =
                members.into_iter().map(|(key, int)| (key, int.into())).collect();
            data.insert("text".into(), text.into());
            data.insert("nested".into(), json!([{ "f": float }, [null, true]]));
            data.insert("huge".into(), Json::Number(huge.parse().unwrap()));
            let event = event_with(Json::Object(data));
            let payload = event.encode();
            let view = EventRef::decode(1, &payload).unwrap();
            prop_assert_eq!(Some(view.to_event()), owned_decode(&payload));
            prop_assert_eq!(view, event.to_ref());
        }
    }
}
