//! Token counts of context blocks. A count given with the commit is kept as is; otherwise the
//! content is counted with the o200k_base encoding, exactly as tiktoken-rs's
//! `encode_ordinary(content).len()` counts it (its vocabulary ships in the crate, so nothing is
//! downloaded).
//!
//! Counting needs only two of the things tiktoken-rs's `CoreBPE` builds: the map from a token's
//! bytes to its rank and the pattern that cuts text into pieces. `CoreBPE` also builds a reverse
//! map and a sorted copy of every token, from a vocabulary it decodes from base64 first, which
//! made a counting `commit` spend about 0.2 s of CPU before its first count. So the rank map is
//! built here from a table `build.rs` decoded out of tiktoken-rs at build time, and the pieces
//! are counted with tiktoken-rs's own pattern (`O200K_BASE_PAT_STR`) and merge function
//! (`byte_pair_split`), so no BPE of our own decides a count. A test compares the counts with
//! tiktoken-rs's on a corpus. The map is still built once per process, on first use.

use std::sync::LazyLock;

use rustc_hash::FxHashMap;

/// Every ordinary o200k_base token, rank by rank: its length in one byte, then its bytes.
static RANK_TABLE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/o200k_base.ranks"));

/// The number of ordinary o200k_base tokens (ranks 0 to 199,997); `build.rs` wrote them all.
const RANK_COUNT: usize = 199_998;

/// What counting needs, built once per process.
struct Counter {
    /// A token's bytes to its rank, the map tiktoken-rs's `byte_pair_split` merges with.
    ranks: FxHashMap<Vec<u8>, tiktoken_rs::Rank>,
    /// o200k_base's pattern, which cuts text into pieces that are merged on their own.
    pieces: fancy_regex::Regex,
}

static COUNTER: LazyLock<Counter> = LazyLock::new(Counter::new);

impl Counter {
    fn new() -> Counter {
        let mut ranks = FxHashMap::with_capacity_and_hasher(RANK_COUNT, Default::default());
        let mut rest = RANK_TABLE;
        while let Some((&length, after)) = rest.split_first() {
            let (token, after) = after.split_at(usize::from(length));
            let rank = tiktoken_rs::Rank::try_from(ranks.len()).unwrap_or(tiktoken_rs::Rank::MAX);
            ranks.insert(token.to_vec(), rank);
            rest = after;
        }
        assert_eq!(
            ranks.len(),
            RANK_COUNT,
            "the embedded o200k_base table is whole"
        );
        let pieces = fancy_regex::Regex::new(tiktoken_rs::O200K_BASE_PAT_STR)
            .expect("tiktoken-rs's o200k_base pattern compiles");
        Counter { ranks, pieces }
    }

    /// tiktoken-rs's `encode_ordinary(text).len()`: each piece the pattern finds is one token
    /// if it is one, else as many as `byte_pair_split` merges it into.
    fn count(&self, text: &str) -> u64 {
        let mut tokens = 0;
        let mut counted_to = 0;
        for piece in self.pieces.find_iter(text) {
            // fancy-regex fails only past its backtracking limit, where tiktoken-rs panics
            // and gives no count; the text left is then counted a token per byte, an upper
            // bound, rather than failing the commit.
            let Ok(piece) = piece else {
                return tokens + (text.len() - counted_to) as u64;
            };
            let bytes = piece.as_str().as_bytes();
            tokens += if self.ranks.contains_key(bytes) {
                1
            } else {
                tiktoken_rs::byte_pair_split(bytes, &self.ranks).len() as u64
            };
            counted_to = piece.end();
        }
        tokens
    }
}

/// The tokens of `content` in the o200k_base encoding (special tokens counted as text).
pub fn count_tokens(content: &str) -> u64 {
    if content.is_empty() {
        return 0;
    }
    COUNTER.count(content)
}

/// Builds the counter now (it is otherwise built on first use), so that a caller can overlap
/// the build, a few tens of milliseconds of one core, with work of its own such as reading
/// input.
pub fn load_tokenizer() {
    LazyLock::force(&COUNTER);
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

    /// Characters from several scripts, digits, punctuation, marks and kinds of whitespace.
    const ALPHABET: &str = " \t\n\r  aAbZ09'sllve.,;:!?-_/\\()[]{}<>\"éüßñ漢字かなÅ한국어Ωπ🙂👍🏽\u{200d}\u{301}\u{a0}\u{3000}";

    /// `length` characters of [`ALPHABET`] drawn by xorshift from `state`, the same on every run.
    fn mixed_text(state: &mut u64, length: usize) -> String {
        let alphabet: Vec<char> = ALPHABET.chars().collect();
        (0..length)
            .map(|_| {
                *state ^= *state << 13;
                *state ^= *state >> 7;
                *state ^= *state << 17;
                alphabet[(*state % alphabet.len() as u64) as usize]
            })
            .collect()
    }

    /// Our counts against tiktoken-rs's own `encode_ordinary` (which builds the whole
    /// `CoreBPE`) on texts of every kind: this repository's docs and code cut at blank lines,
    /// thousands of short random mixes, and single pieces longer than 100 bytes, which
    /// tiktoken-rs merges with another function than short ones.
    #[test]
    fn counts_equal_tiktoken_rs_encode_ordinary() {
        let mut texts: Vec<String> = Vec::new();
        for file in [
            include_str!("../../README.md"),
            include_str!("../../ARCHITECTURE.md"),
            include_str!("ops.rs"),
            include_str!("../../format-spec/journal.md"),
        ] {
            texts.extend(file.split("\n\n").map(str::to_owned));
            texts.push(file.to_owned());
        }
        let mut state = 0x2545_F491_4F6C_DD1D;
        texts.extend((0..20_000).map(|i| mixed_text(&mut state, i % 64)));
        texts.push(mixed_text(&mut state, 5000));
        for (piece, times) in [
            ("x", 1000),
            ("ab", 700),
            (" ", 300),
            ("\n", 200),
            ("漢", 400),
        ] {
            texts.push(piece.repeat(times));
        }
        texts.push(ALPHABET.repeat(100));
        let tiktoken = tiktoken_rs::o200k_base_singleton();
        let wrong: Vec<(&String, u64, usize)> = texts
            .iter()
            .map(|text| {
                (
                    text,
                    count_tokens(text),
                    tiktoken.encode_ordinary(text).len(),
                )
            })
            .filter(|(_, ours, theirs)| *ours != *theirs as u64)
            .take(5)
            .collect();
        assert!(wrong.is_empty(), "{wrong:#?}");
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
            (
                "long mixed",
                mixed_text(&mut 0x9E37_79B9_7F4A_7C15, 4000),
                3419,
            ),
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
