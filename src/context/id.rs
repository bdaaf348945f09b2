//! Commit ids: the hex SHA-256 of a canonical encoding of everything a commit is, so that the
//! same block with the same history, author and time has the same id on any machine, and any
//! change to it (or to any ancestor, through `parents`) gives another id. The encoding is part
//! of the format contract (`format-spec/events.md`): a domain string, then each field in a fixed
//! order as a little-endian u64 length followed by its bytes, numbers as little-endian u64/i64,
//! and absent optional fields as one 0 byte (present ones as 1 and the value).

use super::{CommitKind, ContextError};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The fewest hex digits of an id a person may type for it.
pub const COMMIT_PREFIX_HEX_DIGITS_MIN: usize = 4;
/// The first bytes hashed, naming what the hash is of and its encoding version.
const COMMIT_ID_DOMAIN: &[u8] = b"agentrail context commit v1\0";

/// The fields a commit id covers.
#[derive(Debug, Clone, Copy)]
pub struct CommitFields<'a> {
    pub parents: &'a [String],
    pub kind: CommitKind,
    pub content: &'a str,
    pub message: &'a str,
    pub target: Option<&'a str>,
    pub tokens: u64,
    pub agent: &'a str,
    pub session: Option<&'a str>,
    pub ts_micros: i64,
    /// Named pointers (to a spawned child, a collapsed head, a rebased original); hashed only
    /// when there are any, so commits without links keep the ids they had before links.
    pub links: &'a BTreeMap<String, String>,
}

/// The id of a commit: 64 lowercase hex digits.
pub fn commit_id(fields: &CommitFields) -> String {
    let mut hasher = Sha256::new();
    hasher.update(COMMIT_ID_DOMAIN);
    hasher.update((fields.parents.len() as u64).to_le_bytes());
    for parent in fields.parents {
        put_text(&mut hasher, parent);
    }
    put_text(&mut hasher, fields.kind.as_str());
    put_text(&mut hasher, fields.content);
    put_text(&mut hasher, fields.message);
    put_optional(&mut hasher, fields.target);
    hasher.update(fields.tokens.to_le_bytes());
    put_text(&mut hasher, fields.agent);
    put_optional(&mut hasher, fields.session);
    hasher.update(fields.ts_micros.to_le_bytes());
    if !fields.links.is_empty() {
        hasher.update((fields.links.len() as u64).to_le_bytes());
        for (name, value) in fields.links {
            put_text(&mut hasher, name);
            put_text(&mut hasher, value);
        }
    }
    hex(&hasher.finalize())
}

/// Lowercase hex digits of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(DIGITS[usize::from(byte >> 4)] as char);
        text.push(DIGITS[usize::from(byte & 0xf)] as char);
    }
    text
}

fn put_text(hasher: &mut Sha256, text: &str) {
    hasher.update((text.len() as u64).to_le_bytes());
    hasher.update(text.as_bytes());
}

fn put_optional(hasher: &mut Sha256, text: Option<&str>) {
    match text {
        None => hasher.update([0u8]),
        Some(text) => {
            hasher.update([1u8]);
            put_text(hasher, text);
        }
    }
}

/// Ambiguous candidates an error lists at most.
const AMBIGUOUS_CANDIDATES_MAX: usize = 5;

/// The one id that starts with `prefix` (4 to 64 hex digits, any case), among those
/// `matching` gives for the prefix in lowercase (at most the given count of them, in id order).
pub fn resolve_prefix(
    prefix: &str,
    matching: impl FnOnce(&str, usize) -> Vec<String>,
) -> Result<String, ContextError> {
    let lower = prefix.to_ascii_lowercase();
    if !lower.bytes().all(|byte| byte.is_ascii_hexdigit()) || lower.is_empty() {
        return Err(ContextError::NotHex {
            text: prefix.to_owned(),
        });
    }
    if lower.len() < COMMIT_PREFIX_HEX_DIGITS_MIN {
        return Err(ContextError::PrefixTooShort { prefix: lower });
    }
    match matching(&lower, AMBIGUOUS_CANDIDATES_MAX).as_slice() {
        [] => Err(ContextError::UnknownCommit { prefix: lower }),
        [only] => Ok(only.clone()),
        several => Err(ContextError::AmbiguousPrefix {
            prefix: lower,
            candidates: several.iter().map(|id| short_id(id).to_owned()).collect(),
        }),
    }
}

/// Hex digits of an id shown to people.
pub const SHORT_ID_HEX_DIGITS: usize = 12;

/// The first 12 hex digits of an id.
pub fn short_id(id: &str) -> &str {
    &id[..id.len().min(SHORT_ID_HEX_DIGITS)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields<'a>(parents: &'a [String], content: &'a str) -> CommitFields<'a> {
        CommitFields {
            parents,
            kind: CommitKind::Append,
            content,
            message: "m",
            target: None,
            tokens: 3,
            agent: "main",
            session: None,
            ts_micros: 1,
            links: &NO_LINKS,
        }
    }

    static NO_LINKS: BTreeMap<String, String> = BTreeMap::new();

    #[test]
    fn ids_are_64_hex_and_change_with_every_field() {
        let id = commit_id(&fields(&[], "a"));
        assert!(crate::event::schema::is_commit_id(&id));
        assert_ne!(id, commit_id(&fields(&[], "b")));
        assert_ne!(id, commit_id(&fields(std::slice::from_ref(&id), "a")));
        let mut other = fields(&[], "a");
        other.session = Some("");
        assert_ne!(id, commit_id(&other), "absent and empty differ");
        // Length prefixes keep field boundaries: "ab"+"c" is not "a"+"bc".
        let mut split = fields(&[], "ab");
        split.message = "c";
        let mut moved = fields(&[], "a");
        moved.message = "bc";
        assert_ne!(commit_id(&split), commit_id(&moved));
    }

    #[test]
    fn prefixes_resolve_when_unique() {
        let ids = ["abcd01", "abcd02", "ef0123"];
        let resolve_prefix = |prefix: &str| {
            resolve_prefix(prefix, |lower, limit| {
                let matching = ids.iter().filter(|id| id.starts_with(lower));
                matching.take(limit).map(|id| id.to_string()).collect()
            })
        };
        assert_eq!(resolve_prefix("EF01").unwrap(), "ef0123");
        assert_eq!(resolve_prefix("abcd01").unwrap(), "abcd01");
        assert!(matches!(
            resolve_prefix("abcd"),
            Err(ContextError::AmbiguousPrefix { .. })
        ));
        assert!(matches!(
            resolve_prefix("abc"),
            Err(ContextError::PrefixTooShort { .. })
        ));
        assert!(matches!(
            resolve_prefix("0000"),
            Err(ContextError::UnknownCommit { .. })
        ));
        assert!(matches!(
            resolve_prefix("main"),
            Err(ContextError::NotHex { .. })
        ));
    }
}
