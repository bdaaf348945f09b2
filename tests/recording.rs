//! Recording through the library: the closed event set and its bad-input matrix, the caps,
//! redaction on the way to disk, JSONL import (all or nothing), and the projections a recorder
//! answers from.

use agentrail::event::{decode_record, Decoded, Event, EventType};
use agentrail::import::{encode_line, encode_lines};
use agentrail::journal::Durability;
use agentrail::project::{Active, SessionTokens, Sessions, Tokens};
use agentrail::recorder::{object, Recorder};
use agentrail::workspace::Workspace;
use serde_json::{json, Value};

fn recorder() -> (tempfile::TempDir, Recorder) {
    let temp = tempfile::tempdir().unwrap();
    let workspace = Workspace::init(&temp.path().join(".agentrail"), 65536).unwrap();
    let recorder = Recorder::open(workspace, Durability::Never).unwrap();
    (temp, recorder)
}

fn stored(recorder: &Recorder) -> Vec<Value> {
    recorder
        .journal()
        .read_from(1)
        .unwrap()
        .map(|record| {
            let record = record.unwrap();
            match decode_record(&record).unwrap() {
                Decoded::Event(event) => event.to_json(record.lsn),
                Decoded::Skipped { kind } => panic!("unexpected kind {kind}"),
            }
        })
        .collect()
}

#[test]
fn every_type_accepts_its_minimal_data_and_refuses_it_without_a_required_field() {
    let minimal = [
        (EventType::SessionStart, json!({"task": "t"})),
        (EventType::SessionEnd, json!({"status": "completed"})),
        (EventType::Action, json!({"description": "d"})),
        (
            EventType::LlmCall,
            json!({"model": "m", "input_tokens": 1, "output_tokens": 2}),
        ),
        (EventType::ToolOutput, json!({"tool": "bash"})),
        (
            EventType::Failure,
            json!({"error_type": "E", "message": "m"}),
        ),
        (EventType::GitDiff, json!({"diff": "+a"})),
        (EventType::Decision, json!({"choice": "c"})),
        (
            EventType::Commit,
            json!({"kind": "pin", "message": "m", "content": "c"}),
        ),
        (EventType::Task, json!({"id": "t1", "status": "started"})),
        (
            EventType::RefUpdate,
            json!({"op": "switch", "agent": "a", "head": {"branch": "main"}, "branches": {}}),
        ),
    ];
    assert_eq!(minimal.len(), EventType::ALL.len());
    for (kind, data) in minimal {
        Event::new(kind, None, None, object(data.clone())).unwrap();
        for field in data.as_object().unwrap().keys() {
            let mut without = object(data.clone());
            without.remove(field);
            let error = Event::new(kind, None, None, without).unwrap_err();
            assert_eq!(
                error.field.as_deref(),
                Some(format!("data.{field}").as_str()),
                "{kind}"
            );
        }
    }
}

#[test]
fn unknown_data_fields_come_back_unchanged() {
    let (_temp, recorder) = recorder();
    let data = json!({"choice": "c", "x-vendor": {"nested": [1, 2.5, null, "s"]}, "zzz": true});
    recorder
        .record(Event::new(EventType::Decision, None, None, object(data.clone())).unwrap())
        .unwrap();
    assert_eq!(stored(&recorder)[0]["data"], data);
}

#[test]
fn import_is_all_or_nothing_and_names_the_first_bad_line() {
    let (_temp, recorder) = recorder();
    let good = r#"{"type":"action","data":{"description":"ok"}}"#;
    let bad = r#"{"type":"llm_call","data":{"model":"m","input_tokens":-1,"output_tokens":1}}"#;
    // Large enough to be parsed on several threads: the error must still be the first line.
    let mut lines: Vec<&str> = vec![good; 40_000];
    lines[25_000] = bad;
    lines[39_000] = "not json";
    let text = lines.join("\n");
    let error = encode_lines(recorder.redactor().unwrap(), &text, 0)
        .err()
        .unwrap();
    assert_eq!(error.line, 25_001);
    assert_eq!(error.field.as_deref(), Some("data.input_tokens"));
    assert!(stored(&recorder).is_empty());
    lines[25_000] = good;
    lines[39_000] = good;
    let records = encode_lines(recorder.redactor().unwrap(), &lines.join("\n"), 0).unwrap();
    assert_eq!(records.len(), 40_000);
}

#[test]
fn a_line_too_large_for_one_record_is_an_input_error_naming_its_line() {
    let (_temp, recorder) = recorder();
    let good = r#"{"type":"action","data":{"description":"ok"}}"#;
    let limit = agentrail::journal::format::RECORD_PAYLOAD_BYTES_MAX as usize;
    let huge =
        json!({"type": "action", "data": {"description": "x".repeat(limit + 1)}}).to_string();
    let text = format!("{good}\n{good}\n{huge}\n{good}\n");
    let error = encode_lines(recorder.redactor().unwrap(), &text, 0)
        .err()
        .unwrap();
    assert_eq!((error.line, error.field.as_deref()), (3, None), "{error}");
    assert!(error.to_string().contains(&limit.to_string()), "{error}");
    // `append --event` goes through the same one-line encoder.
    let error = encode_line(recorder.redactor().unwrap(), &huge, 1, 0)
        .err()
        .unwrap();
    assert_eq!((error.line, error.field.as_deref()), (1, None), "{error}");
    assert!(encode_line(recorder.redactor().unwrap(), good, 1, 0).is_ok());
}

#[test]
fn a_byte_order_mark_is_named_in_the_error() {
    let line = "\u{feff}{\"type\":\"action\",\"data\":{\"description\":\"d\"}}";
    let error = Event::from_json_line(line, 3, 0).unwrap_err();
    assert_eq!(error.line, 3);
    assert!(error.message.contains("byte order mark"), "{error}");
}

#[test]
fn a_workspace_directory_without_its_config_is_not_taken_for_no_workspace() {
    let temp = tempfile::tempdir().unwrap();
    let root = temp.path().join(".agentrail");
    assert!(matches!(
        Workspace::open(&root),
        Err(agentrail::Error::NotFound(_))
    ));
    // What an init killed before it wrote config.json leaves: `init` refuses to overwrite it,
    // so the error must not send the person back to `init` as if nothing were there.
    std::fs::create_dir_all(&root).unwrap();
    for made in ["", "journal"] {
        std::fs::create_dir_all(root.join(made)).unwrap();
        let error = Workspace::open(&root).unwrap_err();
        assert!(
            matches!(&error, agentrail::Error::Config { path, .. } if path.ends_with("config.json")),
            "{error}"
        );
        assert!(error.to_string().contains("interrupted"), "{error}");
    }
    // A directory of other things (a project named by mistake) is just not a workspace.
    std::fs::write(temp.path().join("notes.txt"), "x").unwrap();
    assert!(matches!(
        Workspace::open(temp.path()),
        Err(agentrail::Error::NotFound(_))
    ));
}

#[test]
fn a_bad_config_names_its_line_column_and_field() {
    let temp = tempfile::tempdir().unwrap();
    let root = temp.path().join(".agentrail");
    Workspace::init(&root, 64 * 1024).unwrap();
    let config = root.join("config.json");
    let cases = [
        (
            "{\n  \"format_version\": 1,\n  \"segment_bytes\": 65536,\n  \"context\": {\"budget_tokens\": \"lots\"}\n}\n",
            "line 4, column 37, field `context.budget_tokens`: invalid type: string \"lots\", expected u64",
        ),
        (
            "{\"format_version\": 1, \"segment_bytes\": 65536,\n \"redact\": {\"patterns\": [{\"nam\": \"x\"}]}}",
            "line 2, column 37, field `redact.patterns[0]`: missing field `name`",
        ),
        (
            "{\"format_version\": 1, \"segment_bytes\": 65536}\n}",
            "line 2, column 1: trailing characters",
        ),
        // A misspelt section is refused, not ignored with its settings.
        (
            "{\"format_version\": 1, \"segment_bytes\": 65536,\n \"contxt\": {\"budget_tokens\": 10}}",
            "line 2, column 9, field `contxt`: unknown field `contxt`, expected one of `format_version`, `segment_bytes`, `redact`, `context`",
        ),
    ];
    for (text, expected) in cases {
        std::fs::write(&config, text).unwrap();
        let error = Workspace::open(&root).unwrap_err().to_string();
        assert!(
            error.ends_with(&format!("config.json {expected}")),
            "{error}"
        );
    }
}

#[test]
fn stored_events_the_input_schema_now_refuses_still_read() {
    // The schema checks input only: a journal written when a blank model, tool or commit
    // content was taken must still be read whole, and counted.
    let (_temp, recorder) = recorder();
    let lines = [
        r#"{"type":"llm_call","data":{"model":"m","input_tokens":3,"output_tokens":4}}"#,
        r#"{"type":"tool_output","data":{"tool":"t","exit_code":0}}"#,
    ];
    let mut events: Vec<Event> = lines
        .iter()
        .map(|line| Event::from_json_line(line, 1, 0).unwrap())
        .collect();
    events[0].data.insert("model".into(), json!(" "));
    events[1].data.insert("tool".into(), json!(""));
    events[1]
        .data
        .insert("exit_code".into(), json!(2_147_483_648_u64));
    recorder.record_all(events).unwrap();
    let stored = stored(&recorder);
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[0]["data"]["model"], json!(" "));
    assert_eq!(stored[1]["data"]["exit_code"], json!(2_147_483_648_u64));
    let tokens = recorder.load::<Tokens>().unwrap().state;
    assert_eq!(tokens.by_model[" "].input_tokens, 3);
}

#[test]
fn a_config_of_a_format_version_this_agentrail_does_not_read_is_refused() {
    let temp = tempfile::tempdir().unwrap();
    let root = temp.path().join(".agentrail");
    Workspace::init(&root, 64 * 1024).unwrap();
    let config = root.join("config.json");
    for version in [0, 2, u32::MAX] {
        let text = format!("{{\"format_version\": {version}, \"segment_bytes\": 65536}}\n");
        std::fs::write(&config, text).unwrap();
        let error = Workspace::open(&root).unwrap_err();
        assert!(
            matches!(error, agentrail::Error::Config { .. }),
            "{error:?}"
        );
        assert_eq!(
            error.to_string(),
            format!(
                "{}: field `format_version`: version {version} is not one this agentrail reads (it reads version 1)",
                config.display()
            )
        );
    }
    std::fs::write(
        &config,
        "{\"format_version\": 1, \"segment_bytes\": 65536}\n",
    )
    .unwrap();
    Workspace::open(&root).unwrap();
}

#[test]
fn import_keeps_order_across_threads() {
    let (_temp, recorder) = recorder();
    let text: String = (0..30_000)
        .map(|index| json!({"type": "action", "data": {"description": format!("step {index}"), "pad": "x".repeat(40)}}).to_string() + "\n")
        .collect();
    let records = encode_lines(recorder.redactor().unwrap(), &text, 0).unwrap();
    agentrail::import::append(&recorder, records).unwrap();
    let events = stored(&recorder);
    assert_eq!(events.len(), 30_000);
    for (index, event) in events.iter().enumerate() {
        assert_eq!(event["data"]["description"], json!(format!("step {index}")));
    }
}

#[test]
fn imported_secrets_are_redacted_in_every_field() {
    let (_temp, recorder) = recorder();
    let key = "AKIAIOSFODNN7EXAMPLE";
    let line = json!({
        "type": "llm_call", "session": "s-1", "agent": "a",
        "data": {"model": "m", "input_tokens": 1, "output_tokens": 1, "prompt": format!("key {key}"),
                 "unknown": {"deep": [format!("x {key} y")]}}
    })
    .to_string();
    let records = encode_lines(recorder.redactor().unwrap(), &line, 0).unwrap();
    agentrail::import::append(&recorder, records).unwrap();
    let text = stored(&recorder)[0].to_string();
    assert!(!text.contains(key), "{text}");
    assert_eq!(text.matches("[REDACTED:").count(), 2, "{text}");
}

#[test]
fn sessions_and_tokens_follow_what_is_recorded() {
    let (_temp, recorder) = recorder();
    let (id, _) = recorder
        .start_session("task", Some("agent-1".into()))
        .unwrap();
    let call = |tokens: u64| {
        let data = json!({"model": "m", "input_tokens": tokens, "output_tokens": 1});
        Event::new(
            EventType::LlmCall,
            Some(id.clone()),
            Some("agent-1".into()),
            object(data),
        )
        .unwrap()
    };
    recorder.record_all(vec![call(10), call(20)]).unwrap();
    assert_eq!(
        recorder
            .load::<Active>()
            .unwrap()
            .state
            .most_recent_open()
            .unwrap()
            .id,
        id
    );
    let tokens = recorder.load::<Tokens>().unwrap().state;
    assert_eq!(tokens.total.input_tokens, 30);
    let by_session = recorder.load::<SessionTokens>().unwrap().state.by_session;
    assert_eq!(by_session[&id].calls, 2);
    let end = Event::new(
        EventType::SessionEnd,
        Some(id.clone()),
        None,
        object(json!({"status": "aborted"})),
    )
    .unwrap();
    recorder.record(end).unwrap();
    assert!(recorder
        .load::<Active>()
        .unwrap()
        .state
        .most_recent_open()
        .is_none());
    let sessions = recorder.load::<Sessions>().unwrap().state;
    assert_eq!(sessions.get(&id).unwrap().status.as_str(), "aborted");
}

#[test]
fn the_current_session_is_the_requested_one_else_the_agents_most_recent_open_one() {
    use agentrail::query::current_session;
    let (_temp, recorder) = recorder();
    let active = || recorder.load::<Active>().unwrap().state;
    assert_eq!(current_session(&active(), None, None), None);
    let (first, _) = recorder.start_session("one", Some("a1".into())).unwrap();
    let (second, _) = recorder.start_session("two", None).unwrap();
    assert_eq!(
        current_session(&active(), None, None),
        Some((second.clone(), None))
    );
    // An agent's own session, not the newest; one started without an agent is main's.
    assert_eq!(
        current_session(&active(), None, Some("a1")),
        Some((first.clone(), Some("a1".into())))
    );
    assert_eq!(
        current_session(&active(), None, Some("main")),
        Some((second.clone(), None))
    );
    assert_eq!(current_session(&active(), None, Some("a2")), None);
    assert_eq!(
        current_session(&active(), Some(&first), None),
        Some((first.clone(), Some("a1".into())))
    );
    let end = Event::new(
        EventType::SessionEnd,
        Some(second),
        None,
        object(json!({"status": "completed"})),
    )
    .unwrap();
    recorder.record(end).unwrap();
    assert_eq!(
        current_session(&active(), None, None),
        Some((first, Some("a1".into())))
    );
    // A requested session is honoured even when it is not open (the caller decides).
    assert_eq!(
        current_session(&active(), Some("s-gone"), Some("a1")),
        Some(("s-gone".into(), None))
    );
}

#[test]
fn last_events_keeps_only_the_last_that_pass_and_event_at_finds_one() {
    use agentrail::query::{event_at, last_events, Found};
    let (_temp, recorder) = recorder();
    let events: Vec<Event> = (0..50)
        .map(|index| {
            let kind = if index % 5 == 0 {
                EventType::Decision
            } else {
                EventType::Action
            };
            let field = if kind == EventType::Decision {
                "choice"
            } else {
                "description"
            };
            Event::new(
                kind,
                None,
                None,
                object(json!({ field: format!("e{index}") })),
            )
            .unwrap()
        })
        .collect();
    recorder.record_all(events).unwrap();
    let decisions = last_events(recorder.journal(), 1, 3, |event| {
        event.event_type == "decision"
    })
    .unwrap();
    let lsns: Vec<u64> = decisions.iter().map(|(lsn, _)| *lsn).collect();
    assert_eq!(lsns, [36, 41, 46]);
    assert_eq!(decisions[2].1.text("choice"), Some("e45"));
    assert!(last_events(recorder.journal(), 1, 0, |_| true)
        .unwrap()
        .is_empty());
    assert_eq!(
        last_events(recorder.journal(), 48, 10, |_| true)
            .unwrap()
            .len(),
        3
    );
    match event_at(recorder.journal(), 7).unwrap() {
        Found::Event(event) => assert_eq!(event.text("description"), Some("e6")),
        other => panic!("{other:?}"),
    }
    assert_eq!(event_at(recorder.journal(), 0).unwrap(), Found::Absent);
    assert_eq!(event_at(recorder.journal(), 51).unwrap(), Found::Absent);
}

mod properties {
    use agentrail::event::schema::{cap_head_tail, first_lines};
    use agentrail::event::Event;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Capping keeps any text within the cap, at character boundaries, with its head and
        /// tail, and capping again changes nothing.
        #[test]
        fn capping_keeps_head_and_tail_within_the_cap(text in "\\PC{0,400}", cap in 70usize..300) {
            match cap_head_tail(&text, cap) {
                None => prop_assert!(text.len() <= cap),
                Some(capped) => {
                    prop_assert!(capped.len() <= cap, "{} > {}", capped.len(), cap);
                    let (head, rest) = capped.split_once("\n[... ").unwrap();
                    let tail = rest.split_once(" bytes omitted ...]\n").unwrap().1;
                    prop_assert!(text.starts_with(head) && text.ends_with(tail));
                    prop_assert_eq!(cap_head_tail(&capped, cap), None);
                }
            }
        }

        #[test]
        fn first_lines_keeps_a_prefix_of_whole_lines(lines in prop::collection::vec("[a-z]{0,5}", 0..80), keep in 1usize..60) {
            let text = lines.join("\n");
            let expected: Vec<&str> = text.lines().take(keep).collect();
            match first_lines(&text, keep) {
                None => prop_assert!(text.lines().count() <= keep),
                Some(kept) => prop_assert_eq!(kept, expected.join("\n")),
            }
        }

        /// No input line makes parsing panic; what parses survives the disk encoding, each
        /// number with its value (a float comes back in its shortest form: `0.000...1464`
        /// as `1.464e-68`).
        #[test]
        fn any_line_parses_or_is_refused_and_what_parses_round_trips(line in any_line()) {
            if let Ok(mut event) = Event::from_json_line(&line, 1, 0) {
                let mut decoded = Event::decode(1, &event.encode()).unwrap();
                for data in [&mut event.data, &mut decoded.data] {
                    data.values_mut().for_each(canonical_numbers);
                }
                prop_assert_eq!(decoded, event);
            }
        }
    }

    /// The case proptest found: a float written with 67 leading zeros is stored as the f64 of
    /// the same value, and comes back in the f64's shortest form.
    #[test]
    fn a_float_in_a_long_form_comes_back_with_its_value() {
        let line = r#"{"type":"decision","data":{"choice":"a","task":0.00000000000000000000000000000000000000000000000000000000000000000001464592562442439}}"#;
        let event = Event::from_json_line(line, 1, 0).unwrap();
        let decoded = Event::decode(1, &event.encode()).unwrap();
        assert_eq!(decoded.data["task"].to_string(), "1.464592562442439e-68");
        let mut values = [event.data["task"].clone(), decoded.data["task"].clone()];
        values.iter_mut().for_each(canonical_numbers);
        assert_eq!(values[0], values[1]);
    }

    /// Rewrites every number in `json` as its value's canonical text: sign, significant digits
    /// and the power of ten of the last one, so that equal values compare equal.
    fn canonical_numbers(json: &mut serde_json::Value) {
        use serde_json::Value;
        match json {
            Value::Number(number) => {
                let text = canonical_number(&number.to_string());
                *json = Value::String(text);
            }
            Value::Array(items) => items.iter_mut().for_each(canonical_numbers),
            Value::Object(map) => map.values_mut().for_each(canonical_numbers),
            _ => {}
        }
    }

    fn canonical_number(text: &str) -> String {
        let (sign, unsigned) = match text.strip_prefix('-') {
            Some(rest) => ("-", rest),
            None => ("", text),
        };
        let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
            Some((mantissa, exponent)) => (mantissa, exponent.parse::<i64>().unwrap()),
            None => (unsigned, 0),
        };
        let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let digits = format!("{whole}{fraction}");
        let exponent = exponent - fraction.len() as i64;
        let trimmed_end = digits.trim_end_matches('0');
        let exponent = exponent + (digits.len() - trimmed_end.len()) as i64;
        let significant = trimmed_end.trim_start_matches('0');
        match significant {
            "" => "0".to_owned(),
            _ => format!("{sign}{significant}e{exponent}"),
        }
    }

    /// JSON-ish lines: mostly event-shaped, with random types, fields and values.
    fn any_line() -> impl Strategy<Value = String> {
        let value = prop_oneof![
            Just("null".to_owned()),
            any::<i64>().prop_map(|n| n.to_string()),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| f.to_string()),
            "\\PC{0,20}".prop_map(|s| serde_json::to_string(&s).unwrap()),
            Just("[\"a\",1]".to_owned()),
            Just("{\"k\":{\"n\":[]}}".to_owned()),
        ];
        let field = prop_oneof![
            Just("task"),
            Just("status"),
            Just("model"),
            Just("input_tokens"),
            Just("output_tokens"),
            Just("tool"),
            Just("stdout"),
            Just("diff"),
            Just("choice"),
            Just("kind"),
            Just("id"),
            Just("description"),
            Just("error_type"),
            Just("message"),
            Just("content"),
            Just("x"),
        ];
        let kind = prop_oneof![
            Just("session_start"),
            Just("session_end"),
            Just("action"),
            Just("llm_call"),
            Just("tool_output"),
            Just("failure"),
            Just("git_diff"),
            Just("decision"),
            Just("commit"),
            Just("task"),
            Just("nope"),
        ];
        (
            kind,
            prop::collection::vec((field, value), 0..6),
            "\\PC{0,3}",
        )
            .prop_map(|(kind, fields, noise)| {
                let data: Vec<String> =
                    fields.iter().map(|(f, v)| format!("\"{f}\":{v}")).collect();
                format!(
                    "{{\"type\":\"{kind}\",\"data\":{{{}}}}}{noise}",
                    data.join(",")
                )
            })
    }
}

#[test]
fn an_imported_commit_without_a_token_count_is_stored_with_one() {
    let (_temp, recorder) = recorder();
    let lines = [
        r#"{"type":"commit","agent":"a","data":{"kind":"append","message":"m","content":"You are a careful coding agent."}}"#,
        r#"{"type":"commit","agent":"a","data":{"kind":"pin","message":"m","content":"x","tokens":99}}"#,
    ];
    let records = encode_lines(recorder.redactor().unwrap(), &lines.join("\n"), 0).unwrap();
    agentrail::import::append(&recorder, records).unwrap();
    let events = stored(&recorder);
    assert_eq!(events[0]["data"]["tokens"], json!(7));
    assert_eq!(events[0]["data"]["tokenizer"], json!("o200k_base"));
    assert_eq!(events[1]["data"]["tokens"], json!(99));
    assert_eq!(events[1]["data"].get("tokenizer"), None);
}

/// Imports `lines` (session bounds of `s-1` and `s-2`, written short) as one batch; the line and
/// message of the error, if any.
fn import_bounds(recorder: &Recorder, lines: &[(&str, &str)]) -> Result<u64, (usize, String)> {
    let text: Vec<String> = lines
        .iter()
        .map(|(kind, session)| {
            let data = match *kind {
                "session_start" => json!({"task": "t"}),
                _ => json!({"status": "committed"}),
            };
            json!({"type": kind, "session": session, "data": data}).to_string()
        })
        .collect();
    let batch = encode_lines(recorder.redactor().unwrap(), &text.join("\n"), 0)
        .map_err(|error| (error.line, error.to_string()))?;
    match agentrail::import::append(recorder, batch) {
        Ok(lsns) => Ok(lsns.end - lsns.start),
        Err(agentrail::Error::Input(error)) => {
            assert_eq!(error.field.as_deref(), Some("session"), "{error}");
            Err((error.line, error.message))
        }
        Err(other) => panic!("{other}"),
    }
}

#[test]
fn imported_session_bounds_must_start_a_new_session_and_end_an_open_one() {
    let (_temp, recorder) = recorder();
    let (start, end) = ("session_start", "session_end");
    assert_eq!(
        import_bounds(&recorder, &[(start, "s-1"), (end, "s-1")]),
        Ok(2)
    );
    // An id starts one session: again after it ended (the same input imported twice) is refused.
    let again = import_bounds(&recorder, &[(start, "s-2"), (start, "s-1")]).unwrap_err();
    assert_eq!(again.0, 2);
    assert!(
        again
            .1
            .contains("session s-1 was started already, at LSN 1"),
        "{}",
        again.1
    );
    let twice =
        import_bounds(&recorder, &[(start, "s-2"), (end, "s-2"), (start, "s-2")]).unwrap_err();
    assert_eq!(twice.0, 3, "{}", twice.1);
    assert!(twice.1.contains("started on line 1 already"), "{}", twice.1);
    let never = import_bounds(&recorder, &[(start, "s-2"), (end, "s-3")]).unwrap_err();
    assert_eq!(never.0, 2);
    assert!(never.1.contains("session s-3 is not open"), "{}", never.1);
    let ended_twice = import_bounds(&recorder, &[(end, "s-1")]).unwrap_err();
    assert_eq!(ended_twice.0, 1, "{}", ended_twice.1);
    let in_batch =
        import_bounds(&recorder, &[(start, "s-2"), (end, "s-2"), (end, "s-2")]).unwrap_err();
    assert_eq!(in_batch.0, 3, "{}", in_batch.1);
    assert_eq!(
        stored(&recorder).len(),
        2,
        "only the first import was appended"
    );
    // A bound without a session is refused as it is read.
    let text = r#"{"type":"session_end","data":{"status":"committed"}}"#;
    let error = encode_lines(recorder.redactor().unwrap(), text, 0).unwrap_err();
    assert_eq!((error.line, error.field.as_deref()), (1, Some("session")));
}

/// A session bound of `session` at second `second` of a fixed minute, naming `agent` if any.
fn bound(kind: &str, session: &str, agent: Option<&str>, second: u32) -> String {
    let data = match kind {
        "session_start" => json!({"task": "t"}),
        _ => json!({"status": "completed"}),
    };
    let mut line = json!({"type": kind, "session": session, "data": data,
                          "ts": format!("2026-11-24T10:00:{second:02}Z")});
    if let Some(agent) = agent {
        line["agent"] = json!(agent);
    }
    line.to_string()
}

/// Imports `lines` as one batch; the error's line and field, if any.
fn import_lines(recorder: &Recorder, lines: &[String]) -> Result<u64, (usize, Option<String>)> {
    let batch = encode_lines(recorder.redactor().unwrap(), &lines.join("\n"), 0)
        .map_err(|error| (error.line, error.field))?;
    match agentrail::import::append(recorder, batch) {
        Ok(lsns) => Ok(lsns.end - lsns.start),
        Err(agentrail::Error::Input(error)) => Err((error.line, error.field)),
        Err(other) => panic!("{other}"),
    }
}

#[test]
fn an_imported_session_end_is_by_the_starting_agent_and_not_before_the_start() {
    let (_temp, recorder) = recorder();
    let (start, end) = ("session_start", "session_end");
    let refused = |line, field: &str| Err((line, Some(field.to_owned())));
    // Started and ended in the same input.
    let other_agent = [
        bound(start, "s-1", Some("planner"), 10),
        bound(end, "s-1", Some("coder"), 20),
    ];
    assert_eq!(import_lines(&recorder, &other_agent), refused(2, "agent"));
    let earlier = [
        bound(start, "s-1", Some("planner"), 10),
        bound(end, "s-1", Some("planner"), 9),
    ];
    assert_eq!(import_lines(&recorder, &earlier), refused(2, "ts"));
    // Started by an earlier import: checked against the journal's session.
    assert_eq!(
        import_lines(&recorder, &[bound(start, "s-1", Some("planner"), 10)]),
        Ok(1)
    );
    let later = [bound(end, "s-1", Some("coder"), 20)];
    assert_eq!(import_lines(&recorder, &later), refused(1, "agent"));
    let unnamed = [bound(end, "s-1", None, 20)];
    assert_eq!(import_lines(&recorder, &unnamed), refused(1, "agent"));
    let before = [bound(end, "s-1", Some("planner"), 9)];
    assert_eq!(import_lines(&recorder, &before), refused(1, "ts"));
    assert_eq!(
        stored(&recorder).len(),
        1,
        "no refused import appended anything"
    );
    // At the start's own time, by the same agent, it ends.
    let same_time = [bound(end, "s-1", Some("planner"), 10)];
    assert_eq!(import_lines(&recorder, &same_time), Ok(1));
    // A session started without an agent is main's, as everywhere: an end naming main or none
    // ends it, and one naming another agent does not.
    let unnamed_start = [
        bound(start, "s-2", None, 30),
        bound(end, "s-2", Some("main"), 31),
    ];
    assert_eq!(import_lines(&recorder, &unnamed_start), Ok(2));
    let pair = [bound(start, "s-3", None, 30), bound(end, "s-3", None, 31)];
    assert_eq!(import_lines(&recorder, &pair), Ok(2));
    let pair = [
        bound(start, "s-4", None, 30),
        bound(end, "s-4", Some("planner"), 31),
    ];
    assert_eq!(import_lines(&recorder, &pair), refused(2, "agent"));
}

#[test]
fn a_key_given_twice_is_refused_naming_its_line_and_path_and_nothing_is_appended() {
    let (_temp, recorder) = recorder();
    let good = r#"{"type":"action","data":{"description":"d"}}"#.to_owned();
    for (bad, path) in [
        (
            r#"{"type":"action","type":"failure","data":{"description":"d"}}"#,
            "type",
        ),
        (
            r#"{"type":"action","data":{"description":"d","kind":"a","kind":"b"}}"#,
            "data.kind",
        ),
        (
            r#"{"type":"action","data":{"description":"d","extra":[{"k":1},{"k":1,"k":2}]}}"#,
            "data.extra[1].k",
        ),
    ] {
        let lines = [good.clone(), good.clone(), bad.to_owned(), good.clone()];
        assert_eq!(
            import_lines(&recorder, &lines),
            Err((3, Some(path.to_owned()))),
            "{bad}"
        );
        let error = encode_line(recorder.redactor().unwrap(), bad, 1, 0).unwrap_err();
        assert_eq!(error.field.as_deref(), Some(path), "{bad}");
        assert!(error.message.contains("given twice"), "{}", error.message);
    }
    assert!(stored(&recorder).is_empty());
}

#[test]
fn an_agent_name_a_new_agent_may_not_have_is_refused_unless_the_journal_knows_it() {
    let (_temp, recorder) = recorder();
    recorder.check_agent("planner").unwrap();
    let long = "a".repeat(201);
    let refused = ["has space", "tab\there", "-leading", "bell\u{7}", &long];
    for name in refused {
        let error = recorder.check_agent(name).unwrap_err().to_string();
        assert!(
            error.contains("is not a name for a new agent"),
            "{name:?}: {error}"
        );
    }
    // An import may bring any name: its agent keeps working, through its session or its context.
    let start = json!({"type": "session_start", "session": "s-1", "agent": "has space", "data": {"task": "t"}});
    let commit = json!({"type": "commit", "agent": "-leading", "data": {"kind": "append", "message": "m", "content": "c"}});
    let lines = format!("{start}\n{commit}\n");
    let records = encode_lines(recorder.redactor().unwrap(), &lines, 0).unwrap();
    agentrail::import::append(&recorder, records).unwrap();
    recorder.check_agent("has space").unwrap();
    recorder.check_agent("-leading").unwrap();
    assert!(recorder.check_agent("tab\there").is_err());
}
