//! The `tokens` and `session_tokens` projections: what the language-model calls (`llm_call`
//! events) cost, in tokens and dollars, overall and by agent and model (`tokens`), and by
//! session (`session_tokens`). Sessions are kept apart because their number grows with the
//! journal while agents and models stay few: `agentrail tokens` and `status` load a checkpoint
//! whose size does not grow with the journal. [`TokenTotals`] is also what the `sessions`
//! projection keeps per session, so all add a call up the same way.

use super::fields;
use super::Projection;
use crate::event::{DataRef, EventRef};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The key under which calls without a session, an agent or a model are counted. A real
/// session, agent or model literally named `(none)` shares it.
pub const NO_KEY: &str = "(none)";

/// Decimals of a summed cost in dollars worth showing: a ten-billionth of a dollar is far below
/// any price, and far above the binary rounding error of a sum of `f64`s.
pub const COST_USD_DECIMALS: i32 = 10;

/// Sums over `llm_call` events. Counts saturate at `u64::MAX` rather than wrap, and the cost
/// at `f64::MAX` rather than become infinite (which JSON cannot write).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct TokenTotals {
    pub calls: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_creation_tokens: u64,
    pub cost_usd: f64,
}

impl TokenTotals {
    /// One call, from an `llm_call` event's data. A token count that is missing, negative,
    /// fractional or not a number counts as 0; so does a cost that is not a finite,
    /// non-negative number.
    pub fn of_call(data: &DataRef<'_>) -> TokenTotals {
        TokenTotals {
            calls: 1,
            input_tokens: fields::count(data, "input_tokens"),
            output_tokens: fields::count(data, "output_tokens"),
            cache_read_tokens: fields::count(data, "cache_read_tokens"),
            cache_creation_tokens: fields::count(data, "cache_creation_tokens"),
            cost_usd: fields::amount(data, "cost_usd"),
        }
    }

    /// Adds `other` to these totals.
    pub fn add(&mut self, other: &TokenTotals) {
        self.calls = self.calls.saturating_add(other.calls);
        self.input_tokens = self.input_tokens.saturating_add(other.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(other.output_tokens);
        self.cache_read_tokens = self
            .cache_read_tokens
            .saturating_add(other.cache_read_tokens);
        self.cache_creation_tokens = self
            .cache_creation_tokens
            .saturating_add(other.cache_creation_tokens);
        self.cost_usd = (self.cost_usd + other.cost_usd).min(f64::MAX);
    }

    /// The summed cost to [`COST_USD_DECIMALS`] decimals: `0.1 + 0.2` is `0.3`, not the
    /// `0.30000000000000004` the sum holds.
    pub fn cost_usd_rounded(&self) -> f64 {
        let scale = 10f64.powi(COST_USD_DECIMALS);
        let rounded = (self.cost_usd * scale).round() / scale;
        // A sum too large to scale is shown as it is.
        if rounded.is_finite() {
            rounded
        } else {
            self.cost_usd
        }
    }
}

/// Token totals of every `llm_call` in the journal: overall, and keyed by agent and model (the
/// `model` data field), with [`NO_KEY`] for calls that lack one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Tokens {
    pub total: TokenTotals,
    pub by_agent: BTreeMap<String, TokenTotals>,
    pub by_model: BTreeMap<String, TokenTotals>,
}

/// Token totals of every `llm_call` keyed by its session, with [`NO_KEY`] for calls without
/// one (sessions never started are counted too).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct SessionTokens {
    pub by_session: BTreeMap<String, TokenTotals>,
}

fn add_under(map: &mut BTreeMap<String, TokenTotals>, key: Option<&str>, call: &TokenTotals) {
    let key = key.unwrap_or(NO_KEY);
    match map.get_mut(key) {
        Some(totals) => totals.add(call),
        None => {
            map.insert(key.to_owned(), call.clone());
        }
    }
}

impl Projection for Tokens {
    const NAME: &'static str = "tokens";
    /// 2: `by_session` moved to [`SessionTokens`].
    const VERSION: u32 = 2;

    fn apply(&mut self, _lsn: u64, event: &EventRef<'_>) {
        if event.event_type != "llm_call" {
            return;
        }
        let call = TokenTotals::of_call(&event.data);
        self.total.add(&call);
        add_under(&mut self.by_agent, event.agent, &call);
        let model = fields::text(&event.data, "model");
        add_under(&mut self.by_model, model, &call);
    }
}

impl Projection for SessionTokens {
    const NAME: &'static str = "session_tokens";
    const VERSION: u32 = 1;

    fn apply(&mut self, _lsn: u64, event: &EventRef<'_>) {
        if event.event_type != "llm_call" {
            return;
        }
        let call = TokenTotals::of_call(&event.data);
        add_under(&mut self.by_session, event.session, &call);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;
    use serde_json::{json, Value as Json};

    fn call(session: Option<&str>, agent: Option<&str>, data: Json) -> Event {
        let Json::Object(data) = data else {
            unreachable!()
        };
        Event {
            ts_micros: 0,
            event_type: "llm_call".into(),
            session: session.map(str::to_owned),
            agent: agent.map(str::to_owned),
            data,
        }
    }

    #[test]
    fn calls_add_up_by_session_agent_and_model_with_a_key_for_none() {
        let mut tokens = Tokens::default();
        let mut sessions = SessionTokens::default();
        let first = json!({"model": "m1", "input_tokens": 10, "output_tokens": 5,
            "cache_read_tokens": 3, "cost_usd": 0.5});
        let second = json!({"input_tokens": -4, "output_tokens": "7", "cost_usd": "x",
            "cache_creation_tokens": 2});
        for (lsn, event) in [
            (1, call(Some("s"), Some("a"), first)),
            (2, call(None, Some("a"), second)),
        ] {
            tokens.apply(lsn, &event.to_ref());
            sessions.apply(lsn, &event.to_ref());
        }
        let mut note = call(Some("s"), None, json!({"input_tokens": 100}));
        note.event_type = "note".into();
        tokens.apply(3, &note.to_ref());
        sessions.apply(3, &note.to_ref());
        let expected_total = TokenTotals {
            calls: 2,
            input_tokens: 10,
            output_tokens: 5,
            cache_read_tokens: 3,
            cache_creation_tokens: 2,
            cost_usd: 0.5,
        };
        assert_eq!(tokens.total, expected_total);
        assert_eq!(tokens.by_agent["a"], expected_total);
        assert_eq!(sessions.by_session["s"].input_tokens, 10);
        assert_eq!(sessions.by_session[NO_KEY].cache_creation_tokens, 2);
        assert_eq!(tokens.by_model["m1"].calls, 1);
        assert_eq!(tokens.by_model[NO_KEY].calls, 1);
        assert_eq!(sessions.by_session.len(), 2);
    }

    #[test]
    fn counts_saturate() {
        let mut totals = TokenTotals {
            input_tokens: u64::MAX - 1,
            ..TokenTotals::default()
        };
        totals.add(&TokenTotals {
            input_tokens: 5,
            ..TokenTotals::default()
        });
        assert_eq!(totals.input_tokens, u64::MAX);
    }

    #[test]
    fn a_summed_cost_is_shown_without_the_sums_rounding_error() {
        let mut totals = TokenTotals::default();
        for cost in [0.1, 0.2] {
            let call = TokenTotals {
                cost_usd: cost,
                ..TokenTotals::default()
            };
            totals.add(&call);
        }
        assert_ne!(totals.cost_usd, 0.3);
        assert_eq!(totals.cost_usd_rounded(), 0.3);
        totals.cost_usd = 0.000_000_000_12;
        assert_eq!(totals.cost_usd_rounded(), 0.000_000_000_1);
        totals.cost_usd = f64::MAX;
        assert_eq!(totals.cost_usd_rounded(), f64::MAX);
    }

    #[test]
    fn a_summed_cost_saturates_rather_than_becoming_infinite() {
        let huge = TokenTotals {
            cost_usd: f64::MAX,
            ..TokenTotals::default()
        };
        let mut totals = huge.clone();
        totals.add(&huge);
        assert_eq!(totals.cost_usd, f64::MAX);
        let json = serde_json::to_value(&totals).unwrap();
        assert_eq!(json["cost_usd"], serde_json::json!(f64::MAX));
    }
}
