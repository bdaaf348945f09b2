//! Redaction at the library level: every built-in detector on a corpus of fake secrets placed
//! in every position an event can hold a string, a negative corpus of ordinary agent text that
//! must come back unchanged, the secret-name rule for object members, user patterns, and
//! properties (idempotence, no panics) over generated strings.
//!
//! Every secret in `tests/redaction/corpus.jsonl` is made up: right shape and length, obviously
//! fake value (`FAKE`, `EXAMPLE`, `0123456789`).

use agentrail::event::Event;
use agentrail::redact::{PatternConfig, RedactError, Redactor, REDACTION_MARKER_PREFIX};
use proptest::prelude::*;
use serde_json::{json, Value as Json};
use std::borrow::Cow;

#[derive(Debug, serde::Deserialize)]
struct Sample {
    kind: String,
    text: String,
    secret: String,
    /// False for samples that must end their string (a PEM block cut off before its END line).
    #[serde(default = "yes")]
    wrap: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, serde::Deserialize)]
struct Ordinary {
    note: String,
    text: String,
}

fn samples() -> Vec<Sample> {
    jsonl(include_str!("redaction/corpus.jsonl"))
}

fn ordinary_texts() -> Vec<Ordinary> {
    jsonl(include_str!("redaction/negative.jsonl"))
}

fn jsonl<T: serde::de::DeserializeOwned>(text: &str) -> Vec<T> {
    text.lines()
        .enumerate()
        .map(|(index, line)| {
            serde_json::from_str(line).unwrap_or_else(|error| panic!("line {}: {error}", index + 1))
        })
        .collect()
}

/// Where a string can sit in an event's data, as JSON pointers: the fields agents write, an
/// unknown field, nested objects, arrays of strings, arrays of objects, arrays of arrays.
const DATA_POSITIONS: &[&str] = &[
    "/prompt",
    "/response",
    "/stdout",
    "/stderr",
    "/content",
    "/diff",
    "/zz_unknown_field",
    "/locals/note",
    "/locals/frame/detail",
    "/messages/0/content",
    "/args/1",
    "/matrix/0/0",
];

/// An event holding `text` at every position of [`DATA_POSITIONS`] (the session and agent are
/// identifiers, refused rather than redacted: see
/// `an_identifier_that_looks_like_a_secret_is_refused_not_rewritten`).
fn event_with_text_everywhere(text: &str) -> Event {
    let data = json!({
        "tool": "bash",
        "prompt": text, "response": text, "stdout": text, "stderr": text,
        "content": text, "diff": text, "zz_unknown_field": text,
        "locals": {"note": text, "lsn": 7, "frame": {"detail": text}},
        "messages": [{"role": "user", "content": text}],
        "args": ["--verbose", text],
        "matrix": [[text, 1], [true, null]],
        "input_tokens": 1200,
    });
    event_of(json!({"type": "tool_output", "session": "s-1", "agent": "a-1", "data": data}))
}

/// Every string the event holds at a known position, named by its position.
fn strings_at_positions(event: &Event) -> Vec<(String, String)> {
    let data = Json::Object(event.data.clone());
    let found: Vec<(String, String)> = DATA_POSITIONS
        .iter()
        .map(|position| {
            let value = data.pointer(position).and_then(Json::as_str);
            (
                position.to_string(),
                value.unwrap_or("<missing>").to_owned(),
            )
        })
        .collect();
    found
}

/// The event a JSON object literal describes.
fn event_of(object: Json) -> Event {
    let Json::Object(object) = object else {
        unreachable!("json! of an object literal is an object")
    };
    Event::from_json_object(object, 1, 0).expect("a well-formed event")
}

fn marker(kind: &str) -> String {
    format!("{REDACTION_MARKER_PREFIX}{kind}]")
}

#[test]
fn every_sample_is_redacted_in_every_position_keeping_the_text_around_it() {
    let redactor = Redactor::builtin();
    for sample in samples() {
        // A sample whose secret is not in its text would pass without redacting anything.
        assert!(
            !sample.secret.is_empty() && sample.text.contains(&sample.secret),
            "the secret of {} is not in its text {:?}",
            sample.kind,
            sample.text
        );
        let after = if sample.wrap {
            "\ncontext after >>>"
        } else {
            ""
        };
        let text = format!("<<< context before\n{}{after}", sample.text);
        let expected = text.replace(&sample.secret, &marker(&sample.kind));
        let mut event = event_with_text_everywhere(&text);
        redactor.redact_event(&mut event).unwrap();
        for (position, redacted) in strings_at_positions(&event) {
            assert_eq!(
                redacted, expected,
                "kind {} at {position}, sample {:?}",
                sample.kind, sample.text
            );
            assert!(!redacted.contains(&sample.secret));
        }
        assert_eq!(event.data["input_tokens"], 1200);
        assert_eq!(event.data["locals"]["lsn"], 7);
    }
}

#[test]
fn a_private_key_cut_by_the_output_cap_leaves_none_of_its_body() {
    let body: Vec<String> = (0..150)
        .map(|line| format!("FAKEKEYLINE{line:03}{}", "A".repeat(50)))
        .collect();
    for before in [1_000, 4_000, 6_000] {
        let stdout = format!(
            "{}\n-----BEGIN RSA PRIVATE KEY-----\n{}\n-----END RSA PRIVATE KEY-----\ndone\n",
            "x".repeat(before),
            body.join("\n")
        );
        let object = json!({"type": "tool_output", "data": {"tool": "cat", "stdout": stdout}});
        let mut event = event_of(object);
        assert_eq!(event.data["truncated"], json!(true));
        Redactor::builtin().redact_event(&mut event).unwrap();
        let stored = event.data["stdout"].as_str().unwrap();
        assert!(!stored.contains("FAKEKEYLINE"), "{before}: {stored}");
        assert!(
            stored.contains(&marker("private_key")),
            "{before}: {stored}"
        );
    }
}

/// Output of numbered lines with `secret_line` among them, placed so that a cut of the tail
/// at `cut_from_end` bytes before the end falls `offset` bytes into it.
fn output_around(secret_line: &str, cut_from_end: usize, offset: usize) -> String {
    let head: String = (0..600)
        .map(|line| format!("build step {line:04}\n"))
        .collect();
    let wanted = cut_from_end + offset - secret_line.len() - 1;
    let mut tail = String::new();
    let mut line = 0;
    while tail.len() + 16 < wanted {
        tail.push_str(&format!("test case {line:04}\n"));
        line += 1;
    }
    tail.push_str(&"y".repeat(wanted - tail.len() - 1));
    tail.push('\n');
    format!("{head}{secret_line}\n{tail}")
}

#[test]
fn a_token_cut_by_the_output_cap_leaves_no_fragment_of_it() {
    let token = "ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8";
    let keep = agentrail::event::schema::TOOL_OUTPUT_STREAM_BYTES_MAX
        - agentrail::event::schema::CAP_MARKER_BYTES_MAX;
    for offset in [6, 12, 20, 30] {
        let stdout = output_around(
            &format!("export GITHUB_TOKEN={token}"),
            keep - keep / 2,
            offset,
        );
        let object = json!({"type": "tool_output", "data": {"tool": "sh", "stdout": stdout}});
        let mut event = event_of(object);
        assert_eq!(event.data["truncated"], json!(true));
        Redactor::builtin().redact_event(&mut event).unwrap();
        let stored = event.data["stdout"].as_str().unwrap();
        for start in 4..token.len() - 10 {
            let fragment = &token[start..start + 10];
            assert!(
                !stored.contains(fragment),
                "{offset}: {fragment} in {stored}"
            );
        }
    }
}

#[test]
fn a_token_on_a_long_line_cut_by_the_output_cap_leaves_no_fragment_of_it() {
    // Found with `agentrail run` printing one long line of minified JSON: with no line end
    // near a cut, the head kept `"gh":"ghp_R2d2C3` and the tail could start inside a token,
    // fragments no detector recognizes.
    let token = "ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8";
    let stream_max = agentrail::event::schema::TOOL_OUTPUT_STREAM_BYTES_MAX;
    let keep = stream_max - agentrail::event::schema::CAP_MARKER_BYTES_MAX;
    for offset in [6, 12, 20, 30] {
        // The head is cut at keep / 2 bytes, the tail keep - keep / 2 bytes before the end.
        let head_side = format!("{}\",\"t\":\"{token}\",", "a".repeat(keep / 2 - 8 - offset));
        let tail_side = format!("\"u\":\"{token}\",{}", "z".repeat(keep - keep / 2 - offset));
        let stdout = format!("{{{head_side}{}{tail_side}}}", "m".repeat(3 * stream_max));
        let object = json!({"type": "tool_output", "data": {"tool": "sh", "stdout": stdout}});
        let mut event = event_of(object);
        assert_eq!(event.data["truncated"], json!(true));
        Redactor::builtin().redact_event(&mut event).unwrap();
        let stored = event.data["stdout"].as_str().unwrap();
        for start in 4..token.len() - 6 {
            let fragment = &token[start..start + 6];
            assert!(
                !stored.contains(fragment),
                "{offset}: {fragment} in {stored}"
            );
        }
    }
}

#[test]
fn the_corpus_covers_every_builtin_kind() {
    let kinds: std::collections::BTreeSet<String> =
        samples().into_iter().map(|sample| sample.kind).collect();
    for kind in [
        "private_key",
        "jwt",
        "aws_access_key_id",
        "aws_secret_access_key",
        "gcp_api_key",
        "gcp_private_key_id",
        "azure_account_key",
        "azure_sas_signature",
        "gcp_access_token",
        "github_token",
        "gitlab_token",
        "slack_token",
        "slack_webhook",
        "stripe_key",
        "npm_token",
        "huggingface_token",
        "anthropic_api_key",
        "openai_api_key",
        "bearer_token",
        "basic_auth",
        "url_password",
        "secret_assignment",
        "sendgrid_api_key",
        "twilio_api_key",
        "pypi_token",
        "digitalocean_token",
        "shopify_token",
        "secret_argument",
        "secret_element",
        "cookie",
    ] {
        assert!(kinds.contains(kind), "no sample of {kind}");
    }
}

#[test]
fn ordinary_agent_text_comes_back_unchanged_and_unallocated() {
    let redactor = Redactor::builtin();
    for ordinary in ordinary_texts() {
        let redacted = redactor.redact_str(&ordinary.text);
        assert_eq!(redacted, ordinary.text, "{}", ordinary.note);
        assert!(matches!(redacted, Cow::Borrowed(_)), "{}", ordinary.note);
        let original = event_with_text_everywhere(&ordinary.text);
        let mut event = original.clone();
        redactor.redact_event(&mut event).unwrap();
        assert_eq!(event, original, "{}", ordinary.note);
    }
}

#[test]
fn members_named_like_secrets_lose_their_string_and_number_values_whole() {
    let mut event = event_with_text_everywhere("nothing secret");
    event.data["locals"] = json!({
        "password": "hunter2", "api_key": "abc", "DB_PASSWORD": "p4ss word",
        "githubToken": "not even token shaped", "client_secret": "",
        "password_attempts": 3, "token": 42, "auth": null, "secret": false,
        "credentials": {"user": "bob", "note": "password=hunter3"},
        "secrets": ["listed", "Bearer abcdefghijklmnop0123"],
        "input_tokens": 1200, "author": "Ada", "token_count": 9, "keyword": "fn"
    });
    event
        .data
        .insert("api_token".into(), json!("top level too"));
    Redactor::builtin().redact_event(&mut event).unwrap();
    let field = marker("secret_field");
    assert_eq!(
        event.data["locals"],
        json!({
            "password": field, "api_key": field, "DB_PASSWORD": field,
            "githubToken": field, "client_secret": "",
            "password_attempts": 3, "token": field, "auth": null, "secret": false,
            "credentials": {"user": "bob", "note": "password=[REDACTED:secret_assignment]"},
            "secrets": ["listed", "Bearer [REDACTED:bearer_token]"],
            "input_tokens": 1200, "author": "Ada", "token_count": 9, "keyword": "fn"
        })
    );
    assert_eq!(event.data["api_token"], json!(field));
}

#[test]
fn a_member_counting_tokens_keeps_its_whole_number_and_nothing_else() {
    // Found in a new user's walkthrough: `event failure --local num_token=4` stored the
    // count as `[REDACTED:secret_field]`. A count word before `token` makes the name a count
    // of tokens, but only a whole number under it is kept: a PIN stays a secret under
    // `password`, and a string under `input_token` (a form's CSRF token) stays one too.
    let mut event = event_of(json!({"type": "failure", "data": {
        "error_type": "E", "message": "m",
        "locals": {"num_token": "4", "max_token": 4096, "maxToken": 8192,
            "gen_ai.usage.input_token": 1200, "completion_token": 17, "total_token": 1217,
            "password": 1234, "pin": 4321, "token": 42, "input_token": "FAKEcsrf0123",
            "max_token_secret": 7, "prompt_token": 1.5, "MAX_TOKEN": -1},
        "num_token": 4,
    }}));
    Redactor::builtin().redact_event(&mut event).unwrap();
    let field = marker("secret_field");
    assert_eq!(
        Json::Object(event.data),
        json!({"error_type": "E", "message": "m",
            "locals": {"num_token": "4", "max_token": 4096, "maxToken": 8192,
                "gen_ai.usage.input_token": 1200, "completion_token": 17, "total_token": 1217,
                "password": field, "pin": 4321, "token": field, "input_token": field,
                "max_token_secret": field, "prompt_token": field, "MAX_TOKEN": -1},
            "num_token": 4,
        })
    );
}

#[test]
fn a_member_naming_where_a_secret_is_kept_keeps_the_variable_name_and_nothing_else() {
    // `api_key_env: OPENAI_API_KEY` names the variable holding the key; only a name in an
    // environment variable's shape is kept, and only under a name ending in env or var.
    let mut value = json!({
        "api_key_env": "OPENAI_API_KEY", "tokenEnvVar": "GH_TOKEN_2", "password_var": "PGPASSWORD",
        "API_KEY_VAR": "hunter2", "secret_var": "K7XQ2M9PZ", "token_env": "github_token",
        "api_key": "OPENAI_API_KEY", "password_env": 1234,
    });
    Redactor::builtin().redact_json(&mut value);
    let field = marker("secret_field");
    assert_eq!(
        value,
        json!({
            "api_key_env": "OPENAI_API_KEY", "tokenEnvVar": "GH_TOKEN_2", "password_var": "PGPASSWORD",
            "API_KEY_VAR": field, "secret_var": field, "token_env": field,
            "api_key": field, "password_env": field,
        })
    );
}

#[test]
fn a_member_named_like_a_secret_keeps_a_file_path_or_key_file_name() {
    // A file holding the secret tells none of it, as for an option's argument and `KEY=VALUE`.
    let mut value = json!({
        "private_key": "./keys/server.key", "ssh_private_key": "id_ed25519",
        "tls": {"privateKey": "/etc/ssl/private/a.pem", "password": "server.key.bak1"},
        "api_key": "FakeApiKey.0123",
    });
    Redactor::builtin().redact_json(&mut value);
    let field = marker("secret_field");
    assert_eq!(
        value,
        json!({
            "private_key": "./keys/server.key", "ssh_private_key": "id_ed25519",
            "tls": {"privateKey": "/etc/ssl/private/a.pem", "password": field},
            "api_key": field,
        })
    );
}

#[test]
fn every_cookie_value_of_a_header_is_redacted_and_its_names_and_attributes_kept() {
    let redactor = Redactor::builtin();
    let cookie = marker("cookie");
    let cases = [
        (
            "Cookie: session=FAKEsess0123; csrftoken=FAKEcsrf9876; theme=dark",
            format!("Cookie: session={cookie}; csrftoken={cookie}; theme={cookie}"),
        ),
        (
            "set-cookie: sid=FAKEsid0123; Path=/; Expires=Wed, 21 Oct 2026 07:28:00 GMT; HttpOnly",
            format!("set-cookie: sid={cookie}; Path=/; Expires=Wed, 21 Oct 2026 07:28:00 GMT; HttpOnly"),
        ),
        (
            "curl -H \"Cookie: cookie_consent=yes; sid=FAKEsid42\" -H \"X-Trace: a=b; c=d\" https://x.test",
            format!("curl -H \"Cookie: cookie_consent={cookie}; sid={cookie}\" -H \"X-Trace: a=b; c=d\" https://x.test"),
        ),
        (
            "{\"Cookie\": \"sid=FAKEsid77; lang=en\"}",
            format!("{{\"Cookie\": \"sid={cookie}; lang={cookie}\"}}"),
        ),
        (
            "curl -b 'session=FAKEsess0123; theme=dark' -H 'X-Trace: a=b; c=d' https://x.test",
            format!("curl -b 'session={cookie}; theme={cookie}' -H 'X-Trace: a=b; c=d' https://x.test"),
        ),
        (
            "curl -b cookies.txt --cookie \"sid=FAKEsid42;lang=en\" https://x.test; echo a=b; c=d",
            format!("curl -b cookies.txt --cookie \"sid={cookie};lang={cookie}\" https://x.test; echo a=b; c=d"),
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(redactor.redact_str(text), expected, "{text}");
    }
    // A cookie header held as a JSON member loses its value whole, as any secret member does.
    let mut value = json!({"headers": {"Cookie": "sid=FAKEsid77", "Accept": "*/*"}});
    redactor.redact_json(&mut value);
    assert_eq!(
        value,
        json!({"headers": {"Cookie": marker("secret_field"), "Accept": "*/*"}})
    );
}

#[test]
fn redact_json_covers_the_value_itself_whatever_its_shape() {
    let redactor = Redactor::builtin();
    let mut text = json!("AKIAIOSFODNN7EXAMPLE");
    redactor.redact_json(&mut text);
    assert_eq!(text, json!(marker("aws_access_key_id")));
    let mut list = json!([{"password": "x"}, ["AKIAIOSFODNN7EXAMPLE"], 3]);
    redactor.redact_json(&mut list);
    assert_eq!(
        list,
        json!([{"password": marker("secret_field")}, [marker("aws_access_key_id")], 3])
    );
}

#[test]
fn keys_of_nested_objects_are_redacted_and_no_member_is_lost() {
    let key = "AKIAIOSFODNN7EXAMPLE";
    let redacted = marker("aws_access_key_id");
    let mut value = json!({key: key, "clients": {key: 1, "ASIAFAKEFAKEFAKE2345": 2, "x": 3}});
    Redactor::builtin().redact_json(&mut value);
    let expected = json!({
        redacted.clone(): redacted.clone(),
        "clients": {redacted.clone(): 1, format!("{redacted} #2"): 2, "x": 3},
    });
    assert_eq!(value, expected);
    let order: Vec<_> = value["clients"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(
        order,
        [redacted.clone(), format!("{redacted} #2"), "x".into()]
    );
}

#[test]
fn an_events_own_field_names_are_not_rewritten_but_keys_below_them_are() {
    // A user pattern that happens to match a field name of the type, and a key below it.
    let patterns = [PatternConfig {
        name: "internal".into(),
        regex: "error_type|clients".into(),
    }];
    let object = json!({"type": "failure", "data": {
        "error_type": "KeyError", "message": "no client",
        "locals": {"clients": {"sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH": "c1"}},
    }});
    let mut event = event_of(object);
    Redactor::new(&patterns)
        .unwrap()
        .redact_event(&mut event)
        .unwrap();
    let keys: Vec<_> = event.data.keys().cloned().collect();
    assert_eq!(keys, ["error_type", "message", "locals"]);
    let locals = event.data["locals"].as_object().unwrap();
    let (clients_key, clients) = locals.iter().next().unwrap();
    assert_eq!(clients_key, &marker("internal"));
    let clients = clients.as_object().unwrap();
    let keys: Vec<_> = clients.keys().cloned().collect();
    assert_eq!(keys, [marker("anthropic_api_key")], "{clients:?}");
    // The value under a redacted key is not a secret for that.
    assert_eq!(clients[&marker("anthropic_api_key")], "c1");
}

#[test]
fn a_secret_used_as_the_name_of_an_unknown_member_of_data_is_redacted() {
    // Found driving the CLI: `append --event '{"type":"action","data":{"description":"d",
    // "ghp_...":1}}'` stored the token as it was, since only keys below `data`'s members were
    // redacted. Only the names of the type's own fields are exempt (README, events.md 5).
    let token = "ghp_FAKEfake0123456789FAKEfake0123456789";
    let object = json!({"type": "action", "data": {
        "description": "d", token: {"nested": 1}, "kind": "k",
    }});
    let mut event = event_of(object);
    Redactor::builtin().redact_event(&mut event).unwrap();
    let keys: Vec<_> = event.data.keys().cloned().collect();
    assert_eq!(
        keys,
        ["description", marker("github_token").as_str(), "kind"]
    );
    assert_eq!(event.data[&marker("github_token")], json!({"nested": 1}));
}

#[test]
fn a_user_pattern_redacts_with_its_name_as_kind_and_may_keep_context() {
    let redactor = Redactor::new(&[
        PatternConfig {
            name: "ticket_token".into(),
            regex: r"\bitk_[0-9a-f]{16}\b".into(),
        },
        PatternConfig {
            name: "employee_pin".into(),
            regex: r"(?i)\bpin (?P<secret>\d{4,8})\b".into(),
        },
    ])
    .expect("valid patterns");
    assert_eq!(
        redactor.redact_str("use itk_0123456789abcdef now, PIN 123456 ok"),
        "use [REDACTED:ticket_token] now, PIN [REDACTED:employee_pin] ok"
    );
    // Built-ins still run.
    assert_eq!(
        redactor.redact_str("AKIAIOSFODNN7EXAMPLE"),
        marker("aws_access_key_id")
    );
}

#[test]
fn a_user_pattern_matching_the_empty_string_changes_nothing() {
    let pattern = PatternConfig {
        name: "anything".into(),
        regex: "x*".into(),
    };
    let redactor = Redactor::new(&[pattern]).expect("valid pattern");
    assert_eq!(redactor.redact_str("abc"), "abc");
    assert_eq!(redactor.redact_str("axxb"), "a[REDACTED:anything]b");
}

#[test]
fn a_bad_user_regex_is_refused_naming_the_pattern() {
    let good = PatternConfig {
        name: "fine".into(),
        regex: "fine_[0-9]+".into(),
    };
    let bad = PatternConfig {
        name: "broken_one".into(),
        regex: "(unclosed".into(),
    };
    let error = Redactor::new(&[good.clone(), bad]).expect_err("refused");
    let message = error.to_string();
    assert!(
        matches!(&error, RedactError::InvalidRegex { index: 1, name, .. } if name == "broken_one"),
        "{error:?}"
    );
    assert!(
        message.contains("broken_one") && message.contains("1"),
        "{message}"
    );

    let huge = PatternConfig {
        name: "huge".into(),
        regex: "a{1000}{1000}".into(),
    };
    let error = Redactor::new(&[huge]).expect_err("too large");
    assert!(
        matches!(error, RedactError::InvalidRegex { index: 0, .. }),
        "{error:?}"
    );

    for name in ["", "Upper", "has-dash", "spa ce", &"n".repeat(65)] {
        let pattern = PatternConfig {
            name: name.into(),
            regex: "x".into(),
        };
        let error = Redactor::new(&[good.clone(), pattern]).expect_err("bad name");
        assert!(
            matches!(&error, RedactError::InvalidName { index: 1, name: got } if got == name),
            "{error:?}"
        );
    }
}

#[test]
fn too_many_user_patterns_are_refused() {
    let pattern = PatternConfig {
        name: "p".into(),
        regex: "p_[0-9]{8}".into(),
    };
    let many = vec![pattern; agentrail::redact::USER_PATTERNS_COUNT_MAX + 1];
    let error = Redactor::new(&many).expect_err("too many");
    assert!(
        matches!(error, RedactError::TooManyPatterns { .. }),
        "{error:?}"
    );
}

#[test]
fn the_redactor_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Redactor>();
}

/// Pieces of secrets, separators and markers, so that generated strings come near detectors.
const FRAGMENTS: &[&str] = &[
    "password=",
    "TOKEN: ",
    "\"api_key\": \"",
    "Authorization: Bearer ",
    "Bearer ",
    "Basic ",
    "ghp_",
    "FAKEfake0123456789FAKEfake0123456789",
    "AKIAIOSFODNN7EXAMPLE",
    "sk-ant-",
    "sk-proj-",
    "eyJhbGciOiJIUzI1NiJ9.",
    "eyJzdWIiOiJmYWtlIn0.",
    "postgres://u:",
    "@host",
    "-----BEGIN RSA PRIVATE KEY-----",
    "-----END RSA PRIVATE KEY-----",
    "[REDACTED:",
    "[REDACTED:jwt]",
    "]",
    "=",
    ":",
    "\n",
    " ",
    "'",
    "\"",
    "$",
    "(",
];

fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ -~\n]{0,24}",
        prop::sample::select(FRAGMENTS).prop_map(str::to_owned),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn redacting_twice_is_redacting_once(parts in prop::collection::vec(fragment(), 0..10)) {
        let redactor = Redactor::builtin();
        let text = parts.concat();
        let once = redactor.redact_str(&text).into_owned();
        let twice = redactor.redact_str(&once);
        prop_assert_eq!(twice.as_ref(), once.as_str());
    }

    #[test]
    fn redacting_an_event_twice_is_redacting_it_once(
        parts in prop::collection::vec(fragment(), 0..6),
        key in prop::sample::select(&["password", "note", "api_key", "stdout"][..]),
    ) {
        let redactor = Redactor::builtin();
        let text = parts.concat();
        let mut event = event_with_text_everywhere(&text);
        event.data.insert(key.to_owned(), json!(text));
        redactor.redact_event(&mut event).unwrap();
        let once = event.clone();
        redactor.redact_event(&mut event).unwrap();
        prop_assert_eq!(event, once);
    }
}

#[test]
fn an_identifier_that_looks_like_a_secret_is_refused_not_rewritten() {
    let token = "ghp_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let id = "0123456789abcdef".repeat(4);
    let refused = [
        (
            json!({"type": "action", "agent": token, "data": {"description": "x"}}),
            "agent",
        ),
        (
            json!({"type": "action", "session": token, "data": {"description": "x"}}),
            "session",
        ),
        (
            json!({"type": "ref_update", "data": {"op": "branch", "agent": "main",
                "head": {"branch": "main"}, "branches": {token: id, "main": id}}}),
            "data.branches",
        ),
        (
            json!({"type": "task", "data": {"id": format!("deploy {token}"), "status": "started"}}),
            "data.id",
        ),
    ];
    for (object, field) in refused {
        let mut event = event_of(object.clone());
        let error = Redactor::builtin().redact_event(&mut event).unwrap_err();
        assert_eq!(error.field.as_deref(), Some(field), "{object}");
        assert!(error.message.contains("github_token"), "{error}");
        assert!(
            !error.to_string().contains(token),
            "the error repeats no secret: {error}"
        );
    }
    // A branch or user pattern that only looks secret-ish by name keeps its commit id, and a
    // pattern matching commit ids leaves them alone: they are hashes.
    let patterns = [PatternConfig {
        name: "vendor_key".into(),
        regex: "[A-Za-z0-9]{40}".into(),
    }];
    let object = json!({"type": "ref_update", "data": {"op": "branch", "agent": "main",
        "head": {"branch": "main"}, "branches": {"fix-password": id, "main": id}}});
    let mut event = event_of(object.clone());
    Redactor::new(&patterns)
        .unwrap()
        .redact_event(&mut event)
        .unwrap();
    assert_eq!(Json::Object(event.data), object["data"]);
    let commit = json!({"type": "commit", "data": {"kind": "append", "message": "m",
        "content": "c", "parents": [id], "id": id, "links": {"child_head": id}}});
    let mut event = event_of(commit.clone());
    Redactor::new(&patterns)
        .unwrap()
        .redact_event(&mut event)
        .unwrap();
    assert_eq!(Json::Object(event.data), commit["data"]);
}
