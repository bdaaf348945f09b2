//! Token counts of context blocks. A count given with the commit is kept as is; otherwise the
//! content is counted with the o200k_base encoding (tiktoken-rs, which ships its vocabulary in
//! the crate, so nothing is downloaded). Loading the encoding takes a noticeable fraction of a
//! second once per process, so it is loaded on first use only.

/// The tokens of `content` in the o200k_base encoding (special tokens counted as text).
pub fn count_tokens(content: &str) -> u64 {
    if content.is_empty() {
        return 0;
    }
    tiktoken_rs::o200k_base_singleton()
        .encode_ordinary(content)
        .len() as u64
}

/// Loads the encoding now (it is otherwise loaded on first use), so that a caller can overlap
/// the load, a few hundred milliseconds of one core, with work of its own such as reading input.
pub fn load_tokenizer() {
    tiktoken_rs::o200k_base_singleton();
}

/// The name of the encoding [`count_tokens`] uses, for `status` and the docs.
pub const TOKENIZER: &str = "o200k_base";

/// Gives a `commit` event without a token count the count of its content, marked as counted,
/// so that the count (and the commit id built on it) is fixed when the event is written, not
/// recomputed by every replay with whatever tokenizer version replays it.
pub fn store_token_count(event: &mut crate::event::Event) {
    if event.event_type != "commit" || event.data.get("tokens").is_some_and(|t| !t.is_null()) {
        return;
    }
    let counted = count_tokens(event.text("content").unwrap_or_default());
    event.data.insert("tokens".into(), counted.into());
    event.data.insert("tokenizer".into(), TOKENIZER.into());
}

#[cfg(test)]
mod tests {
    use super::count_tokens;

    /// A long mix of scripts, digits, punctuation and whitespace runs, the same on every run.
    fn mixed_text() -> String {
        let alphabet: Vec<char> =
            " \t\n\r  aAbZ09'sllve.,;:!?-_/\\()[]{}<>\"éüßñ漢字かなÅ한국어Ωπ🙂👍🏽\u{200d}\u{301}\u{a0}\u{3000}"
                .chars()
                .collect();
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        (0..4000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                alphabet[(state % alphabet.len() as u64) as usize]
            })
            .collect()
    }

    /// Counts pinned to tiktoken-rs 0.12.1's o200k_base (`encode_ordinary`), taken before the
    /// tokenizer's loading changed: any change to how we count must leave every one as it is,
    /// since a stored commit's id is built on its count.
    #[test]
    fn counts_match_o200k_base() {
        let code = "fn main() {\n    let counts: Vec<u64> = (0..10).map(|n| n * n).collect();\n    println!(\"{counts:?}\");\n}\n";
        let cases: Vec<(&str, String, u64)> = vec![
            ("empty", String::new(), 0),
            ("two words", "hello world".into(), 2),
            (
                "ascii",
                "The quick brown fox jumps over the lazy dog.".into(),
                10,
            ),
            (
                "unicode",
                "Grüße aus Zürich — 東京で会いましょう 🙂👍🏽 naïve café".into(),
                19,
            ),
            ("code", code.into(), 35),
            (
                "special token as text",
                "<|endoftext|> is text here".into(),
                10,
            ),
            (
                "whitespace runs",
                "   trailing spaces and\n  \n\n blank lines   ".into(),
                9,
            ),
            (
                "long prose",
                "All work and no play makes Jack a dull boy. ".repeat(200),
                2201,
            ),
            ("one long piece", "x".repeat(500), 63),
            ("long mixed", mixed_text(), 3419),
        ];
        let wrong: Vec<String> = cases
            .iter()
            .filter_map(|(name, text, expected)| {
                let found = count_tokens(text);
                (found != *expected).then(|| format!("{name}: expected {expected}, found {found}"))
            })
            .collect();
        assert!(wrong.is_empty(), "{wrong:#?}");
    }
}
