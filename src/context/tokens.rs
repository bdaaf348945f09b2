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
    #[test]
    fn counts_words_as_tokens() {
        assert_eq!(super::count_tokens(""), 0);
        assert_eq!(super::count_tokens("hello world"), 2);
    }
}
