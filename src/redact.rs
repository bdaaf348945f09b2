//! Inline redaction of secrets. Before an event reaches the journal, every string in it
//! (`data` at any depth, `session`, `agent`) passes the built-in detectors for the credential
//! formats people leak, plus the user's own patterns, and each match is replaced by a marker
//! naming the kind removed: `[REDACTED:github_token]`. An object member whose key names a
//! secret (`"password"`, `"api_key"`, ...) has its string or number value replaced whole by
//! `[REDACTED:secret_field]` (a number thus becomes a string), unless the string is a file's
//! path or a key file's name. Object keys inside `data` pass
//! the detectors too (a key holding a secret becomes its marker), all but the names of the
//! event type's own fields.
//!
//! Speed: almost no string carries a secret, so a string first meets a gate that is a necessary
//! condition of every detector and runs at memory speed: a search for the literals every
//! token format contains (`ghp_`, `AKIA`, `eyJ`, `://`, `okie`, ...; see `LiteralGate`), a
//! look at the name before each `=` and `:`, and at a quoted one after each `=`, for a secret
//! stem (for the `KEY=VALUE` family and XML's `name="Password" value="..."`),
//! and three scans of their own (an option naming a secret, a closing tag naming one, plain or
//! HTML-escaped, `SK` and 32 hex digits). A string that passes meets one [`RegexSet`] of hints, a closer necessary
//! condition per detector; a string that fails either comes back borrowed, unallocated. Only
//! the detectors whose hint matched then run, in order, each on the output of the one before. A pass repeats until it changes nothing, and
//! nothing inside an existing marker is ever replaced, so redacting twice gives what
//! redacting once gave. User patterns have no gate: with any configured, every string also
//! meets a [`RegexSet`] of them.
//!
//! The detectors themselves live in `redact/detectors.rs`, the rule for secret names in
//! `redact/keys.rs`.

mod detectors;
mod keys;

use crate::event::schema::is_commit_id;
use crate::event::{Event, EventType, InputError};
use detectors::{Found, Gate, BUILTIN};
use regex::{CaptureLocations, Regex, RegexBuilder, RegexSet, RegexSetBuilder};
use serde_json::{Map, Value as Json};
use std::borrow::Cow;
use std::ops::Range;
use std::sync::OnceLock;

/// What every marker starts with; a marker is this, a kind in `[a-z0-9_]+`, and `]`.
pub const REDACTION_MARKER_PREFIX: &str = "[REDACTED:";
/// The kind reported for a string under an object key that names a secret.
pub const SECRET_FIELD_KIND: &str = "secret_field";

/// Largest compiled program of one detector's regex (the `regex` crate's size limit).
pub const REGEX_SIZE_BYTES_MAX: usize = 1 << 20;
/// Largest compiled program of a regex set: every detector's hint, or every user pattern.
pub const REGEX_SET_SIZE_BYTES_MAX: usize = 8 << 20;
/// Cache of the lazy DFA, per regex and per thread using it.
pub const DFA_CACHE_BYTES_MAX: usize = 2 << 20;
/// Longest user pattern accepted, in bytes of regex source.
pub const USER_PATTERN_BYTES_MAX: usize = 4096;
/// Longest user pattern name, which becomes its kind.
pub const PATTERN_NAME_BYTES_MAX: usize = 64;
/// Most user patterns accepted.
pub const USER_PATTERNS_COUNT_MAX: usize = 256;
/// Most passes over one string. Two suffice unless a replacement makes a new match; the limit
/// only bounds a pathological user pattern.
pub const REDACTION_PASSES_MAX: usize = 8;

/// A user pattern from `config.json`. Its matches are reported with `name` as their kind;
/// when the regex has a group named `secret` (or any name starting with `secret`), only the
/// first such group that took part in the match is replaced, keeping the context around it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PatternConfig {
    pub name: String,
    pub regex: String,
}

/// Why user patterns were refused. `index` is the pattern's 0-based position in the list given.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedactError {
    /// The name is empty, too long, or has characters other than `a-z`, `0-9` and `_`.
    #[error("redaction pattern {index} (\"{name}\"): a name must be 1 to {PATTERN_NAME_BYTES_MAX} bytes of a-z, 0-9 and _")]
    InvalidName { index: usize, name: String },

    /// The regex does not compile, or is too large.
    #[error("redaction pattern {index} (\"{name}\") is not a usable regex: {reason}")]
    InvalidRegex {
        index: usize,
        name: String,
        reason: String,
    },

    /// More patterns than [`USER_PATTERNS_COUNT_MAX`].
    #[error("{count} redaction patterns given, but at most {USER_PATTERNS_COUNT_MAX} are allowed")]
    TooManyPatterns { count: usize },

    /// Each pattern compiles alone, but all of them together exceed [`REGEX_SET_SIZE_BYTES_MAX`].
    #[error("the redaction patterns together are too large to search at once: {reason}")]
    PatternsTooLarge { reason: String },
}

/// One compiled detector.
#[derive(Debug, Clone)]
struct Detector {
    /// `[REDACTED:<kind>]`.
    marker: String,
    regex: Regex,
    /// Groups whose name starts with `secret`, each with whether it holds a quoted value.
    secret_groups: Vec<(usize, bool)>,
    key_group: Option<usize>,
    key_quote_group: Option<usize>,
    accept: fn(&Found) -> bool,
}

/// Finds and replaces secrets. Build it once and share it by reference: it is `Send + Sync`,
/// and the `regex` crate keeps per-thread search state internally.
#[derive(Debug, Clone)]
pub struct Redactor {
    detectors: Vec<Detector>,
    /// The built-in gate literals; see the module documentation.
    gate_literals: LiteralGate,
    /// The user patterns, which have no gate of their own; `None` when there are none.
    user_patterns: Option<RegexSet>,
    /// Pattern `i` is a necessary condition for `detectors[i]` to match.
    hints: RegexSet,
}

/// The built-in detectors and their gate, compiled once per process.
struct Builtin {
    detectors: Vec<Detector>,
    gate_literals: LiteralGate,
}

/// A search for any of the gate's literals. It is the first thing every string meets, so it
/// picks its searcher itself rather than leave it to `regex`, whose choice for an alternation
/// of literals turned on details: the vectorized Teddy searcher when the CPU has it and the
/// literals allow it (at most 64, of 3 bytes or more), else an Aho-Corasick automaton, which
/// took twice as long on the bench's events.
#[derive(Debug, Clone)]
enum LiteralGate {
    Teddy(aho_corasick::packed::Searcher),
    Automaton(aho_corasick::AhoCorasick),
}

/// The shortest gate literal for which Teddy looks at 3 bytes per candidate; with a shorter
/// one it looks at fewer and stops at nearly every string.
const TEDDY_LITERAL_BYTES_MIN: usize = 3;

impl LiteralGate {
    fn new(literals: &[&str]) -> LiteralGate {
        let teddy = literals
            .iter()
            .all(|literal| literal.len() >= TEDDY_LITERAL_BYTES_MIN)
            .then(|| {
                aho_corasick::packed::Config::new()
                    .builder()
                    .extend(literals)
                    .build()
            })
            .flatten();
        match teddy {
            Some(searcher) => LiteralGate::Teddy(searcher),
            None => LiteralGate::Automaton(
                aho_corasick::AhoCorasick::builder()
                    .kind(Some(aho_corasick::AhoCorasickKind::DFA))
                    .build(literals)
                    .expect("the gate literals build an automaton"),
            ),
        }
    }

    fn is_match(&self, text: &str) -> bool {
        match self {
            LiteralGate::Teddy(searcher) => searcher.find(text).is_some(),
            LiteralGate::Automaton(automaton) => automaton.is_match(text),
        }
    }

    #[cfg(test)]
    fn is_teddy(&self) -> bool {
        matches!(self, LiteralGate::Teddy(_))
    }
}

impl Redactor {
    /// Only the built-in detectors.
    pub fn builtin() -> Redactor {
        static BUILTIN_REDACTOR: OnceLock<Redactor> = OnceLock::new();
        BUILTIN_REDACTOR
            .get_or_init(|| {
                // With no user patterns nothing can be refused; a unit test proves it.
                Redactor::new(&[]).expect("built-in redaction patterns compile")
            })
            .clone()
    }

    /// The built-in detectors, then the user's patterns in the order given (so a built-in
    /// kind wins when both match the same text). A user pattern's kind is its name.
    pub fn new(extra: &[PatternConfig]) -> Result<Redactor, RedactError> {
        if extra.len() > USER_PATTERNS_COUNT_MAX {
            return Err(RedactError::TooManyPatterns { count: extra.len() });
        }
        let builtin = compiled_builtin();
        let mut detectors = builtin.detectors.clone();
        for (index, pattern) in extra.iter().enumerate() {
            detectors.push(user_detector(index, pattern)?);
        }
        let user_regexes = extra.iter().map(|pattern| pattern.regex.as_str());
        let user_patterns = if extra.is_empty() {
            None
        } else {
            Some(regex_set(user_regexes.clone())?)
        };
        let hints = regex_set(BUILTIN.iter().map(|spec| spec.hint).chain(user_regexes))?;
        Ok(Redactor {
            detectors,
            gate_literals: builtin.gate_literals.clone(),
            user_patterns,
            hints,
        })
    }

    /// `text` with every secret replaced by its marker; borrowed when nothing matched.
    pub fn redact_str<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut current = Cow::Borrowed(text);
        for _ in 0..REDACTION_PASSES_MAX {
            match self.redact_pass(&current) {
                Some(next) => current = Cow::Owned(next),
                None => break,
            }
        }
        current
    }

    /// Redacts every string in `value`, at any depth, object keys included, and replaces whole
    /// every string or number member whose key names a secret.
    pub fn redact_json(&self, value: &mut Json) {
        let mut pending = vec![value];
        self.redact_pending(&mut pending);
    }

    /// Redacts `event.data` as [`Redactor::redact_json`] does, but for the names of the event
    /// type's own fields (which a user pattern must not rename) and its identifiers. Any other
    /// member name of `data` is redacted like a key below it: an unknown member may be named by
    /// a secret as well as a nested key can.
    ///
    /// Identifiers (the session and agent, a commit's ids and links, a ref update's refs, a
    /// task's id; [`identifier_fields`]) are what other events refer to by value: rewriting one
    /// would silently detach them (a branch whose commit became a marker, an agent renamed).
    /// They are never redacted; one that a detector would redact is refused instead, and
    /// nothing of the event is stored. A full commit id is a hash and is not looked at.
    pub fn redact_event(&self, event: &mut Event) -> Result<(), InputError> {
        for (field, name) in [("session", &event.session), ("agent", &event.agent)] {
            if let Some(name) = name {
                self.check_name(field, name)?;
            }
        }
        let kind = EventType::parse(&event.event_type);
        let identifiers = kind.map_or(&[][..], identifier_fields);
        self.redact_keys_but(&mut event.data, |key| {
            kind.is_some_and(|kind| kind.has_field(key))
        });
        let mut pending = Vec::new();
        for (key, member) in event.data.iter_mut() {
            match identifiers.contains(&key.as_str()) {
                true => self.check_identifiers(key, member)?,
                false => self.push_member(key, member, &mut pending),
            }
        }
        self.redact_pending(&mut pending);
        Ok(())
    }

    /// Refuses `name`, given for the event's identifier `field` (`agent`, `session`, ...), when
    /// a detector would redact it, as [`Redactor::redact_event`] does: so that a caller can
    /// also refuse it before doing anything the event would record.
    pub fn check_name(&self, field: &str, name: &str) -> Result<(), InputError> {
        if is_commit_id(name) {
            return Ok(());
        }
        let Cow::Owned(redacted) = self.redact_str(name) else {
            return Ok(());
        };
        let kind = marker_spans(&redacted).first().map_or("", |span| {
            &redacted[span.start + REDACTION_MARKER_PREFIX.len()..span.end - 1]
        });
        Err(InputError {
            line: 0,
            field: Some(field.to_owned()),
            message: format!(
                "looks like a secret ({kind}); it names what other events refer to, so it is never redacted: name it otherwise"
            ),
        })
    }

    /// [`Redactor::check_name`] for every string and key in `value`, the member `key` of
    /// `data`.
    fn check_identifiers(&self, key: &str, value: &Json) -> Result<(), InputError> {
        let field = format!("data.{key}");
        let mut pending = vec![value];
        while let Some(value) = pending.pop() {
            match value {
                Json::String(text) => self.check_name(&field, text)?,
                Json::Array(items) => pending.extend(items),
                Json::Object(members) => {
                    for (name, member) in members {
                        self.check_name(&field, name)?;
                        pending.push(member);
                    }
                }
                Json::Null | Json::Bool(_) | Json::Number(_) => {}
            }
        }
        Ok(())
    }

    /// Walks with an explicit stack: values built in memory may nest deeper than the stack.
    fn redact_pending(&self, pending: &mut Vec<&mut Json>) {
        while let Some(value) = pending.pop() {
            match value {
                Json::String(text) => self.redact_string(text),
                Json::Array(items) => pending.extend(items.iter_mut()),
                Json::Object(members) => {
                    self.redact_keys(members);
                    self.push_members(members, pending)
                }
                Json::Null | Json::Bool(_) | Json::Number(_) => {}
            }
        }
    }

    fn push_members<'v>(
        &self,
        members: &'v mut Map<String, Json>,
        pending: &mut Vec<&'v mut Json>,
    ) {
        for (key, member) in members.iter_mut() {
            self.push_member(key, member, pending);
        }
    }

    /// Redacts a member whose `key` names a secret whole, else leaves it to the walk.
    fn push_member<'v>(&self, key: &str, member: &'v mut Json, pending: &mut Vec<&'v mut Json>) {
        match member {
            // A key that was itself redacted says nothing about its value, a file's path or
            // name (`"private_key": "./server.key"`) tells none of the secret, an integer
            // under a name counting tokens (`"max_token": "4096"`) is a count, and
            // `"api_key_env": "OPENAI_API_KEY"` names the variable holding the key.
            Json::String(text)
                if keys::is_secret_name(key)
                    && !key.starts_with(REDACTION_MARKER_PREFIX)
                    && !detectors::is_file(text)
                    && !keys::is_not_the_secret(key, text) =>
            {
                redact_whole(text)
            }
            // A number can be a secret too (a PIN, a numeric password): the marker is a
            // string, so the member's JSON type changes. The number's text is as written
            // (`arbitrary_precision`), so `4096` and `4096.0` are told apart.
            Json::Number(number)
                if keys::is_secret_name(key)
                    && !key.starts_with(REDACTION_MARKER_PREFIX)
                    && !keys::is_not_the_secret(key, &number.to_string()) =>
            {
                *member = Json::String(marker(SECRET_FIELD_KIND))
            }
            _ => pending.push(member),
        }
    }

    /// Keys are strings of the event too (a map keyed by API keys among a failure's `locals`,
    /// say): a key holding a secret is replaced by its redaction, in place in the member order. Two
    /// keys that redact alike are kept apart by a ` #2`, ` #3`... suffix, so no member is lost.
    fn redact_keys(&self, members: &mut Map<String, Json>) {
        self.redact_keys_but(members, |_| false);
    }

    /// [`Redactor::redact_keys`] for the keys that `exempt` does not name.
    fn redact_keys_but(&self, members: &mut Map<String, Json>, exempt: impl Fn(&str) -> bool) {
        // The exemption first: an event's own field names are most of its keys, and cheaper
        // to look up than to pass through the detectors' gate.
        let redacted = |key: &str| -> Option<String> {
            match exempt(key) {
                true => None,
                false => match self.redact_str(key) {
                    Cow::Owned(redacted) => Some(redacted),
                    Cow::Borrowed(_) => None,
                },
            }
        };
        if !members.keys().any(|key| redacted(key).is_some()) {
            return;
        }
        for (key, value) in std::mem::take(members) {
            let key = redacted(&key).unwrap_or(key);
            let key = (1..)
                .map(|copy| match copy {
                    1 => key.clone(),
                    copy => format!("{key} #{copy}"),
                })
                .find(|candidate| !members.contains_key(candidate))
                .unwrap_or_default();
            members.insert(key, value);
        }
    }

    fn redact_string(&self, text: &mut String) {
        if let Cow::Owned(redacted) = self.redact_str(text) {
            *text = redacted;
        }
    }

    /// False when no detector can match `text`; cheap, and false for nearly every string.
    fn passes_gate(&self, text: &str) -> bool {
        self.gate_literals.is_match(text)
            || keys::names_a_secret_at_a_separator(text)
            || keys::names_a_secret_option(text)
            || keys::closes_a_secret_element(text)
            || detectors::has_twilio_key_shape(text)
            || self
                .user_patterns
                .as_ref()
                .is_some_and(|patterns| patterns.is_match(text))
    }

    /// One pass of every detector whose hint matches; `None` when nothing changed.
    fn redact_pass(&self, text: &str) -> Option<String> {
        if !self.passes_gate(text) || !self.hints.is_match(text) {
            return None;
        }
        let mut output: Option<String> = None;
        for index in self.hints.matches(text).iter() {
            let input = output.as_deref().unwrap_or(text);
            if let Some(next) = self.detectors[index].apply(input) {
                output = Some(next);
            }
        }
        output
    }
}

fn compiled_builtin() -> &'static Builtin {
    static BUILTIN_COMPILED: OnceLock<Builtin> = OnceLock::new();
    BUILTIN_COMPILED.get_or_init(|| {
        let detectors = BUILTIN
            .iter()
            .map(|spec| {
                // The built-in patterns are constants; a unit test proves they compile.
                let regex = compile(spec.pattern).expect("built-in redaction pattern compiles");
                Detector::new(spec.kind, regex, spec.accept)
            })
            .collect();
        let mut literals: Vec<&str> = BUILTIN
            .iter()
            .flat_map(|spec| match spec.gate {
                Gate::Literals(literals) => literals,
                Gate::SecretNameThenSeparator
                | Gate::SecretOptionThenBlank
                | Gate::SecretClosingTag
                | Gate::TwilioKeyShape => &[][..],
            })
            .copied()
            .collect();
        literals.sort();
        literals.dedup();
        let literals = without_redundant(&literals);
        let gate_literals = LiteralGate::new(&literals);
        Builtin {
            detectors,
            gate_literals,
        }
    })
}

/// The literals that contain no other one: a string holding a longer one holds the shorter,
/// so the gate finds the same strings with fewer literals. Fewer matters: Teddy takes at most
/// 64, and each one more makes its first pass stop more often (see [`LiteralGate`]).
fn without_redundant<'l>(literals: &[&'l str]) -> Vec<&'l str> {
    literals
        .iter()
        .filter(|literal| {
            !literals
                .iter()
                .any(|other| other != *literal && literal.contains(other))
        })
        .copied()
        .collect()
}

fn regex_set<'p>(patterns: impl IntoIterator<Item = &'p str>) -> Result<RegexSet, RedactError> {
    RegexSetBuilder::new(patterns)
        .size_limit(REGEX_SET_SIZE_BYTES_MAX)
        .dfa_size_limit(DFA_CACHE_BYTES_MAX)
        .build()
        .map_err(|error| RedactError::PatternsTooLarge {
            reason: error.to_string(),
        })
}

/// The members of an event type's `data` that other events refer to by value, so that
/// redaction must not rewrite them: commit ids and links, refs, names of agents and branches.
pub fn identifier_fields(kind: EventType) -> &'static [&'static str] {
    match kind {
        EventType::Commit => &["kind", "parents", "target", "tokenizer", "id", "links"],
        EventType::RefUpdate => &["op", "agent", "head", "branches", "mode", "also"],
        EventType::Task => &["id"],
        _ => &[],
    }
}

/// Replaces a secret member's value whole, unless it is empty or already one marker.
fn redact_whole(text: &mut String) {
    let already = marker_spans(text).first() == Some(&(0..text.len()));
    if !text.is_empty() && !already {
        *text = marker(SECRET_FIELD_KIND);
    }
}

fn marker(kind: &str) -> String {
    format!("{REDACTION_MARKER_PREFIX}{kind}]")
}

fn compile(pattern: &str) -> Result<Regex, String> {
    RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_BYTES_MAX)
        .dfa_size_limit(DFA_CACHE_BYTES_MAX)
        .build()
        .map_err(|error| error.to_string())
}

fn user_detector(index: usize, pattern: &PatternConfig) -> Result<Detector, RedactError> {
    let name = &pattern.name;
    let name_is_valid = !name.is_empty()
        && name.len() <= PATTERN_NAME_BYTES_MAX
        && name
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_');
    if !name_is_valid {
        return Err(RedactError::InvalidName {
            index,
            name: name.clone(),
        });
    }
    let invalid = |reason| RedactError::InvalidRegex {
        index,
        name: name.clone(),
        reason,
    };
    if pattern.regex.len() > USER_PATTERN_BYTES_MAX {
        return Err(invalid(format!(
            "it is {} bytes long, and the limit is {USER_PATTERN_BYTES_MAX}",
            pattern.regex.len()
        )));
    }
    let regex = compile(&pattern.regex).map_err(invalid)?;
    Ok(Detector::new(name, regex, |_| true))
}

impl Detector {
    fn new(kind: &str, regex: Regex, accept: fn(&Found) -> bool) -> Detector {
        let group = |wanted: &str| regex.capture_names().position(|name| name == Some(wanted));
        let secret_groups = regex
            .capture_names()
            .enumerate()
            .filter_map(|(index, name)| {
                let name = name?;
                name.starts_with("secret")
                    .then_some((index, name == "secret_dq" || name == "secret_sq"))
            })
            .collect();
        Detector {
            marker: marker(kind),
            secret_groups,
            key_group: group("key"),
            key_quote_group: group("keyquote"),
            accept,
            regex,
        }
    }

    /// `text` with this detector's accepted matches replaced; `None` when there were none.
    /// A turned-away match is searched again one character later, so that a rejected
    /// `url=...?token=...` does not hide the `token=` inside it.
    fn apply(&self, text: &str) -> Option<String> {
        let markers = marker_spans(text);
        let mut locations = self.regex.capture_locations();
        let mut output = String::new();
        let mut copied = 0;
        let mut position = 0;
        while position <= text.len() {
            let Some(matched) = self.regex.captures_read_at(&mut locations, text, position) else {
                break;
            };
            match self.accepted_secret(text, &locations, &markers) {
                Some(secret) => {
                    output.push_str(&text[copied..secret.start]);
                    output.push_str(&self.marker);
                    copied = secret.end;
                    position = matched.end().max(secret.end);
                }
                None => position = next_char_start(text, matched.start()),
            }
        }
        if output.is_empty() {
            return None;
        }
        output.push_str(&text[copied..]);
        Some(output)
    }

    /// The range to replace, if this match is a secret not already redacted.
    fn accepted_secret(
        &self,
        text: &str,
        locations: &CaptureLocations,
        markers: &[Range<usize>],
    ) -> Option<Range<usize>> {
        let span = |group: usize| locations.get(group).map(|(start, end)| start..end);
        let (secret, secret_quoted) = self
            .secret_groups
            .iter()
            .find_map(|&(group, quoted)| Some((span(group)?, quoted)))
            .or_else(|| Some((span(0)?, false)))?;
        let key = self.key_group.and_then(span);
        // A marker's kind is the redactor's word, not the text's: `secret_assignment` in
        // `[REDACTED:secret_assignment] = x` names no secret, and taking it for a key would
        // redact `x` on the next pass, and so on down a chain longer than the passes allow.
        let in_marker = |range: &Range<usize>| {
            markers
                .iter()
                .any(|marker| marker.start < range.end && range.start < marker.end)
        };
        if secret.is_empty() || in_marker(&secret) || key.as_ref().is_some_and(in_marker) {
            return None;
        }
        let found = Found {
            text,
            secret: secret.clone(),
            secret_quoted,
            key,
            key_quoted: self
                .key_quote_group
                .and_then(span)
                .is_some_and(|quote| !quote.is_empty()),
        };
        (self.accept)(&found).then_some(secret)
    }
}

/// Where the markers already in `text` are; empty, without allocating, when there are none.
fn marker_spans(text: &str) -> Vec<Range<usize>> {
    text.match_indices(REDACTION_MARKER_PREFIX)
        .filter_map(|(start, _)| {
            let kind_start = start + REDACTION_MARKER_PREFIX.len();
            let kind_length = text[kind_start..]
                .bytes()
                .take_while(|byte| {
                    byte.is_ascii_lowercase() || byte.is_ascii_digit() || *byte == b'_'
                })
                .count();
            let end = kind_start + kind_length;
            (kind_length > 0 && text[end..].starts_with(']')).then_some(start..end + 1)
        })
        .collect()
}

fn next_char_start(text: &str, at: usize) -> usize {
    at + text[at..].chars().next().map_or(1, char::len_utf8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_pattern_and_hint_compiles() {
        for spec in BUILTIN {
            compile(spec.pattern).unwrap_or_else(|error| panic!("{}: {error}", spec.kind));
            compile(spec.hint).unwrap_or_else(|error| panic!("{} hint: {error}", spec.kind));
        }
        let redactor = Redactor::builtin();
        assert_eq!(redactor.detectors.len(), BUILTIN.len());
    }

    /// The gate literals stay within what Teddy searches (at most 64, of 3 bytes or more): past
    /// that the gate falls back to an automaton that took twice as long on the bench's events.
    /// A new detector needing more literals needs a gate of another kind (see `Gate`).
    #[test]
    fn the_builtin_gate_literals_fit_the_vectorized_searcher() {
        #[cfg(target_arch = "x86_64")]
        if !std::arch::is_x86_feature_detected!("ssse3") {
            return;
        }
        assert!(compiled_builtin().gate_literals.is_teddy());
    }

    #[test]
    fn builtin_kinds_are_snake_case() {
        for spec in BUILTIN {
            assert!(
                spec.kind
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{}",
                spec.kind
            );
        }
    }

    #[test]
    fn markers_are_found_only_when_well_formed() {
        let text = "a [REDACTED:jwt] b [REDACTED:] [REDACTED:Nope] [REDACTED:x_1]";
        let spans: Vec<&str> = marker_spans(text).into_iter().map(|s| &text[s]).collect();
        assert_eq!(spans, ["[REDACTED:jwt]", "[REDACTED:x_1]"]);
    }

    #[test]
    fn nothing_matched_means_borrowed() {
        let redactor = Redactor::builtin();
        let text = "cargo test: 42 passed; 0 failed";
        assert!(matches!(redactor.redact_str(text), Cow::Borrowed(_)));
    }

    #[test]
    fn a_rejected_match_does_not_hide_a_secret_inside_it() {
        let redactor = Redactor::builtin();
        let text = "url=https://example.test/cb?access_token=abc123def456&state=1";
        assert_eq!(
            redactor.redact_str(text),
            "url=https://example.test/cb?access_token=[REDACTED:secret_assignment]&state=1"
        );
    }

    #[test]
    fn secret_members_are_replaced_whole_and_only_strings() {
        let redactor = Redactor::builtin();
        let mut value = serde_json::json!({
            "password": "hunter2", "token_count": 3, "secret": true,
            "credentials": {"user": "bob", "pass": "x"}, "api_key": ["nested ok"],
            "auth": "", "token": "[REDACTED:github_token]"
        });
        redactor.redact_json(&mut value);
        assert_eq!(
            value,
            serde_json::json!({
                "password": "[REDACTED:secret_field]", "token_count": 3, "secret": true,
                "credentials": {"user": "bob", "pass": "x"}, "api_key": ["nested ok"],
                "auth": "", "token": "[REDACTED:github_token]"
            })
        );
    }

    #[test]
    fn deep_nesting_does_not_overflow_the_stack() {
        let mut value = Json::String("password=hunter2".into());
        for _ in 0..100_000 {
            value = Json::Array(vec![value]);
        }
        Redactor::builtin().redact_json(&mut value);
        let mut inner = &value;
        while let Json::Array(items) = inner {
            inner = &items[0];
        }
        assert_eq!(inner, "password=[REDACTED:secret_assignment]");
        // Dropping 100 000 nested arrays recurses in serde_json; leak it instead.
        std::mem::forget(value);
    }
}
