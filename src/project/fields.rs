//! Reading an event's `data` fields the forgiving way projections need. Stored events may come
//! from older versions or carry fields of the wrong type; a projection treats such a field as
//! absent (or 0) instead of failing, because the journal is the truth and a view must always be
//! rebuildable from it.

use crate::event::{DataRef, ValueRef};

/// The string in `data[key]`, or `None` if it is missing or not a string.
pub(crate) fn text<'a>(data: &'a DataRef<'_>, key: &str) -> Option<&'a str> {
    data.get(key).and_then(ValueRef::as_str)
}

/// The string in `data[key]`, owned.
pub(crate) fn owned_text(data: &DataRef<'_>, key: &str) -> Option<String> {
    text(data, key).map(str::to_owned)
}

/// The non-negative integer in `data[key]`, or 0 if it is missing, negative, fractional or not
/// a number.
pub(crate) fn count(data: &DataRef<'_>, key: &str) -> u64 {
    data.get(key).and_then(ValueRef::as_u64).unwrap_or(0)
}

/// The finite, non-negative number in `data[key]`, or 0.0 otherwise.
pub(crate) fn amount(data: &DataRef<'_>, key: &str) -> f64 {
    data.get(key)
        .and_then(ValueRef::as_f64)
        .filter(|value| value.is_finite() && *value >= 0.0)
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;
    use serde_json::{json, Value as Json};

    #[test]
    fn ill_typed_fields_read_as_absent_or_zero() {
        let Json::Object(data) = json!({
            "name": "x", "number": 7, "negative": -3, "fraction": 2.5, "string": "12",
            "cost": 0.25, "huge": f64::MAX, "null": null
        }) else {
            unreachable!()
        };
        let event = Event {
            ts_micros: 0,
            event_type: "note".into(),
            session: None,
            agent: None,
            data,
        };
        let view = event.to_ref();
        let data = &view.data;
        assert_eq!(text(data, "name"), Some("x"));
        assert_eq!(text(data, "number"), None);
        assert_eq!(text(data, "missing"), None);
        assert_eq!(count(data, "number"), 7);
        assert_eq!(count(data, "negative"), 0);
        assert_eq!(count(data, "fraction"), 0);
        assert_eq!(count(data, "string"), 0);
        assert_eq!(count(data, "null"), 0);
        assert_eq!(amount(data, "cost"), 0.25);
        assert_eq!(amount(data, "number"), 7.0);
        assert_eq!(amount(data, "negative"), 0.0);
        assert_eq!(amount(data, "string"), 0.0);
        assert_eq!(amount(data, "huge"), f64::MAX);
    }
}
