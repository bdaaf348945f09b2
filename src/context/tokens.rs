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
//! (`byte_pair_split`) for pieces under 100 bytes. From 100 bytes on, `encode_ordinary` merges
//! with a heap instead (`_byte_pair_merge_large`, which tiktoken-rs does not export), since
//! `byte_pair_split` is quadratic in a piece's length; [`merged_count`] makes those merges in
//! the same order, counting them. Tests compare the counts with tiktoken-rs's on a corpus and
//! on pieces of 1 MB. The map is still built once per process, on first use.

use std::collections::BinaryHeap;
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
            } else if bytes.len() < LONG_PIECE_BYTES_MIN {
                tiktoken_rs::byte_pair_split(bytes, &self.ranks).len() as u64
            } else {
                merged_count(bytes, &self.ranks)
            };
            counted_to = piece.end();
        }
        tokens
    }
}

/// From this length on, tiktoken-rs's `encode_ordinary` merges a piece with its heap merge
/// (`_byte_pair_merge_large`), and so does [`merged_count`]: `byte_pair_split`, its only
/// exported merge, scans the whole piece for each merge, quadratic in the length, so a 1 MB
/// run of one letter would take hours.
const LONG_PIECE_BYTES_MIN: usize = 100;

/// A merge the heap offers: the pair starting at `start`, of `rank`; the lowest rank pops
/// first, then the leftmost, which is the order `byte_pair_split` merges in.
#[derive(PartialEq, Eq)]
struct Merge {
    start: usize,
    rank: tiktoken_rs::Rank,
}

impl Ord for Merge {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (other.rank, other.start).cmp(&(self.rank, self.start))
    }
}

impl PartialOrd for Merge {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// One part of a piece being merged, by the byte it starts at.
struct Part {
    /// Where the part before it starts (`usize::MAX` for the first).
    previous: usize,
    /// Where it ends, and where the part after it ends.
    end: usize,
    next_end: usize,
    /// The rank of its merge with the part after it; `Rank::MAX` for none (or a stale one).
    next_rank: tiktoken_rs::Rank,
}

/// How many tokens tiktoken-rs's `_byte_pair_merge_large` (which `encode_ordinary` uses for
/// pieces of [`LONG_PIECE_BYTES_MIN`] bytes or more, and does not export) merges `piece`
/// into: the same merges in the same order, from a heap, without building the tokens. Each
/// merge makes one part of two, so the count is the bytes less the merges.
fn merged_count(piece: &[u8], ranks: &FxHashMap<Vec<u8>, tiktoken_rs::Rank>) -> u64 {
    let none = tiktoken_rs::Rank::MAX;
    let rank_of = |start: usize, end: usize| match end <= piece.len() {
        true => ranks.get(&piece[start..end]).copied().unwrap_or(none),
        false => none,
    };
    let mut heap = BinaryHeap::with_capacity(piece.len());
    let mut parts: Vec<Part> = (0..piece.len())
        .map(|start| {
            let next_rank = rank_of(start, start + 2);
            if next_rank != none {
                heap.push(Merge {
                    start,
                    rank: next_rank,
                });
            }
            let previous = start.checked_sub(1).unwrap_or(usize::MAX);
            let (end, next_end) = (start + 1, start + 2);
            Part {
                previous,
                end,
                next_end,
                next_rank,
            }
        })
        .collect();
    let mut merges = 0;
    let offer =
        |parts: &mut Vec<Part>, heap: &mut BinaryHeap<Merge>, start: usize, next_end: usize| {
            let rank = rank_of(start, next_end);
            parts[start].next_end = next_end;
            parts[start].next_rank = rank;
            if rank != none {
                heap.push(Merge { start, rank });
            }
        };
    while let Some(left) = heap.pop() {
        if left.rank != parts[left.start].next_rank {
            continue; // stale: one of its parts has merged since
        }
        let right = parts[left.start].end;
        let right_end = parts[left.start].next_end;
        let right_next_end = parts[right].next_end;
        parts[left.start].end = right_end;
        offer(&mut parts, &mut heap, left.start, right_next_end);
        if right_end < parts.len() {
            parts[right_end].previous = left.start;
        }
        if left.start > 0 {
            let previous = parts[left.start].previous;
            offer(&mut parts, &mut heap, previous, right_end);
        }
        parts[right].next_rank = none;
        merges += 1;
    }
    (piece.len() - merges) as u64
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

    /// Found by committing 80 KB of `a` (5.3 s; 20 KB took 0.33 s): a piece the pattern does
    /// not cut, a run of letters, punctuation or spaces, was merged by `byte_pair_split`,
    /// quadratic in its length, so a 1 MB one held a `commit` (and the agent's lock) for
    /// hours. Each of these pieces of 1 MB now counts as `encode_ordinary` counts it, which
    /// takes tiktoken-rs's heap merge for pieces of 100 bytes or more.
    #[test]
    fn megabyte_pieces_count_as_tiktoken_rs_counts_them() {
        let mut state = 0x2545_F491_4F6C_DD1D_u64;
        let letters: String = (0..1 << 20)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                char::from(b'a' + (state % 26) as u8)
            })
            .collect();
        let tiktoken = tiktoken_rs::o200k_base_singleton();
        for text in ["a".repeat(1 << 20), "=".repeat(1 << 20), letters] {
            let expected = tiktoken.encode_ordinary(&text).len() as u64;
            assert_eq!(count_tokens(&text), expected, "{}...", &text[..20]);
        }
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
