//! Any bytes as one input line of `agentrail append`/`import`: parsing and the schema checks
//! either refuse it with an error naming line 1 or give an event; a valid event is redacted
//! (or refused, when a detector would redact one of its identifiers; redacting again changes
//! nothing), encoded and decoded back unchanged. Also any bytes as a
//! string through the redactor. No input may panic.

#![no_main]

use agentrail::event::Event;
use agentrail::redact::Redactor;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn redactor() -> &'static Redactor {
    static REDACTOR: OnceLock<Redactor> = OnceLock::new();
    REDACTOR.get_or_init(Redactor::builtin)
}

fuzz_target!(|bytes: &[u8]| {
    let text = String::from_utf8_lossy(bytes);
    let once = redactor().redact_str(&text).into_owned();
    assert_eq!(
        redactor().redact_str(&once),
        once,
        "redaction is not idempotent"
    );
    match Event::from_json_line(&text, 1, 0) {
        Err(error) => assert_eq!(error.line, 1),
        Ok(mut event) => {
            // An identifier a detector would redact is refused: nothing of the event is kept.
            if redactor().redact_event(&mut event).is_err() {
                return;
            }
            let redacted = event.clone();
            (redactor().redact_event(&mut event)).expect("a redacted event redacts again");
            assert_eq!(event, redacted, "redacting an event twice changed it");
            let decoded = Event::decode(1, &event.encode()).expect("an encoded event decodes");
            assert_eq!(decoded, event);
        }
    }
});
