//! Parsing one JSON input line into the [`serde_json::Value`] serde_json would build, but for
//! a key given twice in one object, at any depth, which is an error naming the key's path
//! (`data.locals.x`, `data.items[2].id`) rather than a silent "the last one wins": an input
//! such as `{"type":"action","type":"failure",...}` means two things at once, and storing one
//! of them would store what the writer may not have meant.
//!
//! The check is done in the parse itself, by a visitor that builds the same value and refuses
//! an object member whose key its object already holds, so that the import's hot path reads
//! each byte once. The path is assembled only on the way out of a failed parse. Numbers are
//! kept as written (serde_json's `arbitrary_precision`, which hands every number to a visitor
//! as a one-member map holding its text; see `format-spec/events.md`, section 2).

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::map::Entry;
use serde_json::{Map, Number, Value as Json};
use std::cell::RefCell;
use std::fmt;

/// The key serde_json (`arbitrary_precision`) gives the one member of the map it hands a
/// visitor for a number, whose value is the number's text. Its `Value` reads it the same way.
const NUMBER_TOKEN: &str = "$serde_json::private::Number";

/// Why a line is not one JSON value with unique keys.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JsonLineError {
    /// Not JSON (serde_json's error, with its position).
    #[error(transparent)]
    Syntax(serde_json::Error),
    /// An object names `path`'s last key twice; `column` is serde_json's (1-based) where the
    /// parse stopped, at or just after the end of the second one's value.
    #[error("key `{path}` is given twice in one object (near column {column})")]
    DuplicateKey { path: String, column: usize },
}

/// Parses `text` as one JSON value, refusing an object that names a key twice.
pub fn parse(text: &str) -> Result<Json, JsonLineError> {
    let duplicate = RefCell::new(None);
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let parsed = UniqueKeys {
        duplicate: &duplicate,
    }
    .deserialize(&mut deserializer)
    .and_then(|value| deserializer.end().map(|()| value));
    parsed.map_err(|error| match duplicate.into_inner() {
        Some(steps) => JsonLineError::DuplicateKey {
            path: path_text(steps),
            column: error.column(),
        },
        None => JsonLineError::Syntax(error),
    })
}

/// One step of the path to a duplicated key.
#[derive(Debug)]
enum Step {
    Key(String),
    Index(usize),
}

/// The steps (innermost first, as they were pushed on the way out) as a path:
/// `data.items[2].id`.
fn path_text(steps: Vec<Step>) -> String {
    let mut path = String::new();
    for step in steps.into_iter().rev() {
        match step {
            Step::Key(key) if path.is_empty() => path.push_str(&key),
            Step::Key(key) => {
                path.push('.');
                path.push_str(&key);
            }
            Step::Index(index) => path.push_str(&format!("[{index}]")),
        }
    }
    path
}

/// The seed and visitor that build a value: `duplicate` is set to the duplicated key when one
/// is met, and each enclosing object or array adds its step to it as the error passes out.
#[derive(Clone, Copy)]
struct UniqueKeys<'a> {
    duplicate: &'a RefCell<Option<Vec<Step>>>,
}

impl UniqueKeys<'_> {
    /// `error`, after adding `step` to the path when the error is a duplicated key (a syntax
    /// error has no path).
    fn within<E>(self, step: impl FnOnce() -> Step, error: E) -> E {
        if let Some(steps) = self.duplicate.borrow_mut().as_mut() {
            steps.push(step());
        }
        error
    }

    fn insert<E: de::Error>(
        self,
        object: &mut Map<String, Json>,
        key: String,
        value: Json,
    ) -> Result<(), E> {
        match object.entry(key) {
            Entry::Vacant(entry) => {
                entry.insert(value);
                Ok(())
            }
            Entry::Occupied(entry) => {
                *self.duplicate.borrow_mut() = Some(vec![Step::Key(entry.key().clone())]);
                Err(E::custom("a key is given twice in one object"))
            }
        }
    }

    /// The value of the member `key`, its path step added to an error.
    fn member<'de, A: MapAccess<'de>>(self, map: &mut A, key: &str) -> Result<Json, A::Error> {
        map.next_value_seed(self)
            .map_err(|error| self.within(|| Step::Key(key.to_owned()), error))
    }
}

impl<'de> DeserializeSeed<'de> for UniqueKeys<'_> {
    type Value = Json;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Json, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for UniqueKeys<'_> {
    type Value = Json;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("any valid JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Json, E> {
        Ok(Json::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Json, E> {
        Ok(Json::Number(value.into()))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Json, E> {
        Ok(Json::Number(value.into()))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Json, E> {
        Ok(Number::from_f64(value).map_or(Json::Null, Json::Number))
    }

    fn visit_str<E>(self, value: &str) -> Result<Json, E> {
        Ok(Json::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Json, E> {
        Ok(Json::String(value))
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_none<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_some<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Json, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        loop {
            let index = items.len();
            let item = seq.next_element_seed(self);
            match item.map_err(|error| self.within(|| Step::Index(index), error))? {
                Some(item) => items.push(item),
                None => return Ok(Json::Array(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let first = match map.next_key_seed(FirstKey)? {
            None => return Ok(Json::Object(Map::new())),
            Some(FirstKeyIs::Number) => return map.next_value_seed(NumberText).map(Json::Number),
            Some(FirstKeyIs::Key(key)) => key,
        };
        let mut object = Map::new();
        let value = self.member(&mut map, &first)?;
        object.insert(first, value);
        while let Some(key) = map.next_key::<String>()? {
            let value = self.member(&mut map, &key)?;
            self.insert(&mut object, key, value)?;
        }
        Ok(Json::Object(object))
    }
}

/// What the first key of a map is: a member's, or the marker of a number.
enum FirstKeyIs {
    Key(String),
    Number,
}

/// Reads a map's first key, telling a number's marker apart without copying it.
struct FirstKey;

impl<'de> DeserializeSeed<'de> for FirstKey {
    type Value = FirstKeyIs;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<FirstKeyIs, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for FirstKey {
    type Value = FirstKeyIs;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a string key")
    }

    fn visit_str<E>(self, key: &str) -> Result<FirstKeyIs, E> {
        Ok(match key {
            NUMBER_TOKEN => FirstKeyIs::Number,
            _ => FirstKeyIs::Key(key.to_owned()),
        })
    }

    fn visit_string<E>(self, key: String) -> Result<FirstKeyIs, E> {
        Ok(match key.as_str() {
            NUMBER_TOKEN => FirstKeyIs::Number,
            _ => FirstKeyIs::Key(key),
        })
    }
}

/// Reads a number's text, as serde_json's own `Value` does, into the number it writes.
struct NumberText;

impl<'de> DeserializeSeed<'de> for NumberText {
    type Value = Number;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Number, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for NumberText {
    type Value = Number;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a string holding a number")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Number, E> {
        text.parse().map_err(E::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::{parse, JsonLineError};
    use serde_json::Value as Json;

    fn duplicate(text: &str) -> String {
        match parse(text) {
            Err(JsonLineError::DuplicateKey { path, .. }) => path,
            other => panic!("expected a duplicate key in {text}, got {other:?}"),
        }
    }

    #[test]
    fn a_key_given_twice_is_named_by_its_path_at_any_depth() {
        assert_eq!(duplicate(r#"{"type":"action","type":"failure"}"#), "type");
        assert_eq!(duplicate(r#"{"data":{"a":1,"b":{},"a":2}}"#), "data.a");
        let deep = r#"{"data":{"items":[{"id":1},{"x":[0,{"id":1,"id":2}]}]}}"#;
        assert_eq!(duplicate(deep), "data.items[1].x[1].id");
        assert_eq!(duplicate(r#"{"a":{"b":null},"a":{"b":null}}"#), "a");
        // The same key in sibling objects is no duplicate.
        parse(r#"{"a":{"k":1},"b":{"k":1},"c":[{"k":1},{"k":1}]}"#).unwrap();
    }

    #[test]
    fn what_parses_is_what_serde_json_builds_numbers_as_written_included() {
        let texts = [
            r#"{"z":1,"a":[true,null,-2,1.5,18446744073709551615,-9223372036854775808],"m":{"k":"v\u00e9\n"}}"#,
            r#"{"big":123456789012345678901234567890,"exact":0.1000000000000000055511151231257827,"huge":1e400,"neg":-2.5E-400}"#,
            r#"[{},[],"",0,-0,-0.0,1E2]"#,
            r#"  "text"  "#,
            "7",
        ];
        for text in texts {
            let expected: Json = serde_json::from_str(text).unwrap();
            let parsed = parse(text).unwrap();
            assert_eq!(parsed, expected, "{text}");
            assert_eq!(parsed.to_string(), expected.to_string(), "{text}");
        }
    }

    #[test]
    fn bad_json_is_serde_jsons_error() {
        for text in [r#"{"a":1"#, r#"{"a":1} x"#, "{\"a\":01}", "", "[1,]"] {
            let expected = serde_json::from_str::<Json>(text).unwrap_err().to_string();
            match parse(text) {
                Err(JsonLineError::Syntax(error)) => assert_eq!(error.to_string(), expected),
                other => panic!("{text}: {other:?}"),
            }
        }
    }
}
