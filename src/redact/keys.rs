//! Which names name a secret. One rule serves two callers: the `KEY=VALUE` detectors, which
//! look at the key written before a value, and the JSON member rule, which looks at an object
//! member's key. A name is split into words (`DB_PASSWORD`, `db-password`, `dbPassword` and
//! `DBPassword` all give `db` + `password`), and it names a secret when a word, or a pair of
//! adjacent words, is on the lists below. Whole words, not substrings, keep `input_tokens`,
//! `tokenizer`, `author` and `keyword` ordinary; a last word that describes a secret rather
//! than holding one (`token_count`, `password_file`, `auth_type`) makes the name ordinary too,
//! and so does a word counting passes before `pass` (`second_pass`, `--high-pass`). A name
//! counting tokens (`MAX_TOKEN`) or the variable holding a secret (`API_KEY_ENV`) still names
//! a secret, but an integer under the first is a count and a variable's name under the second
//! is a name ([`is_not_the_secret`]).

/// Substrings every secret name contains, checked first so that ordinary names (nearly all of
/// them) cost one short scan and no word splitting.
const SECRET_STEMS: &[&str] = &[
    "pass",
    "pwd",
    "secret",
    "token",
    "key",
    "auth",
    "credential",
    "cookie",
];
/// The first letters of [`SECRET_STEMS`], lowercase: most positions in a name start none.
const SECRET_STEM_FIRST_BYTES: &[u8] = b"pstkac";
/// Bytes looked at together when searching for separators: a block without any is skipped
/// by one branch, which the compiler vectorizes.
const SEPARATOR_BLOCK_BYTES: usize = 32;

/// Words that make a name a secret's name wherever they appear in it.
const SECRET_WORDS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "secret",
    "secrets",
    "token",
    "apikey",
    "accesskey",
    "privatekey",
    "secretkey",
    "clientsecret",
    "authtoken",
    "accesstoken",
    "refreshtoken",
    "credential",
    "credentials",
    "auth",
    "authorization",
    "cookie",
    "cookies",
];

/// Secret words that also name a secret as the end of a word written without a separator:
/// `PGPASSWORD`, `GHTOKEN`, `APPSECRET`.
const SECRET_WORD_ENDINGS: &[&str] = &["password", "passwd", "secret", "token"];

/// Words that name a secret only inside a longer name: `DB_PASS` holds a password, while a
/// line `PASS: test_append` is a test result.
const SECRET_WORDS_NOT_ALONE: &[&str] = &["pass"];

/// Words that make the `pass` after them a pass over something rather than a password: an
/// encoder's `--second-pass`, a filter's `--high-pass`, LLVM's `-run-pass`. The list is closed
/// on purpose: any other word before `pass` (`DB_PASS`, `--admin-pass`) names a password, so
/// a qualifier missing here costs a false positive, never a leak.
const WORDS_COUNTING_PASSES: &[&str] = &[
    "first", "second", "third", "fourth", "fifth", "final", "last", "next", "previous", "single",
    "double", "triple", "multi", "one", "two", "three", "dual", "each", "every", "extra",
    "initial", "high", "low", "band", "all", "run", "debug",
];

/// Adjacent words that together name a secret: `API_KEY`, `accessKey`, `private-key`.
const SECRET_WORD_PAIRS: &[(&str, &str)] = &[
    ("api", "key"),
    ("access", "key"),
    ("private", "key"),
    ("signing", "key"),
    ("encryption", "key"),
    ("master", "key"),
];

/// A name ending in one of these words is about a secret and does not hold one.
const DESCRIBING_WORDS: &[&str] = &[
    "count",
    "counts",
    "len",
    "length",
    "size",
    "type",
    "kind",
    "name",
    "names",
    "file",
    "path",
    "dir",
    "url",
    "uri",
    "endpoint",
    "method",
    "mode",
    "scheme",
    "provider",
    "enabled",
    "disabled",
    "required",
    "ttl",
    "expiry",
    "expires",
    "expiration",
    "at",
    "policy",
    "limit",
    "max",
    "min",
    "timeout",
    "version",
    "hint",
    "prompt",
    "label",
    "usage",
    "used",
    "rate",
    "attempts",
    "retries",
    "domain",
    "secure",
    "samesite",
    "httponly",
];

/// Words that, just before a last word `token`, make a name a number of tokens rather than a
/// token: `MAX_TOKEN`, `num_token`, `gen_ai.usage.input_token`, `maxToken`, `MAXTOKEN`. The
/// plural (`max_tokens`, `gen_ai.usage.output_tokens`) names no secret in the first place.
const TOKEN_COUNT_WORDS: &[&str] = &[
    "max",
    "maximum",
    "min",
    "minimum",
    "num",
    "number",
    "count",
    "limit",
    "len",
    "length",
    "size",
    "total",
    "input",
    "output",
    "prompt",
    "completion",
    "cache",
    "cached",
    "reasoning",
    "remaining",
    "used",
];

/// Last words that make a name say which environment variable holds a secret: `API_KEY_ENV`,
/// `token_var`, `PASSWORD_ENV_VARIABLE`, `apiKeyEnvVar`.
const ENVIRONMENT_WORDS: &[&str] = &["env", "var", "variable", "envvar"];

/// Whole names that are not secrets though they contain a secret word: the shell's working
/// directory variables, which appear in every environment dump.
const ORDINARY_NAMES: &[&str] = &["pwd", "oldpwd"];

/// True when `name` (an object key or the key of a `KEY=VALUE` line) names a secret.
pub(crate) fn is_secret_name(name: &str) -> bool {
    if !has_secret_stem(name) {
        return false;
    }
    if ORDINARY_NAMES
        .iter()
        .any(|ordinary| ordinary.eq_ignore_ascii_case(name))
    {
        return false;
    }
    let mut secret = false;
    let mut secret_if_not_alone = false;
    let mut word_count = 0;
    let mut previous = "";
    for word in words(name) {
        word_count += 1;
        secret |= is_one_of(word, SECRET_WORDS)
            || ends_with_one_of(word, SECRET_WORD_ENDINGS)
            || SECRET_WORD_PAIRS.iter().any(|(first, second)| {
                first.eq_ignore_ascii_case(previous) && second.eq_ignore_ascii_case(word)
            });
        secret_if_not_alone |=
            is_one_of(word, SECRET_WORDS_NOT_ALONE) && !is_one_of(previous, WORDS_COUNTING_PASSES);
        previous = word;
    }
    (secret || (secret_if_not_alone && word_count > 1)) && !is_one_of(previous, DESCRIBING_WORDS)
}

/// True when `value`, held under a name that names a secret, is not that secret but says
/// something about it: a count of tokens ([`is_count_of_tokens`]) or the name of the
/// environment variable that holds the secret ([`is_environment_variable_name`]).
pub(crate) fn is_not_the_secret(name: &str, value: &str) -> bool {
    is_count_of_tokens(name, value) || is_environment_variable_name(name, value)
}

/// True when `value` has an environment variable's name's shape and `name` ends in a word of
/// [`ENVIRONMENT_WORDS`]: `api_key_env=OPENAI_API_KEY`, `token_env: GITHUB_TOKEN`. The shape
/// is uppercase letters, digits and `_`, starting with a letter or `_`, and with a `_` or no
/// digit, so that a random uppercase key (`K7XQ2M9P`) is no name. Elsewhere
/// (`API_KEY=OPENAI_API_KEY`) such a value may be the secret itself and is redacted.
fn is_environment_variable_name(name: &str, value: &str) -> bool {
    let bytes = value.as_bytes();
    let is_name_shaped = bytes
        .first()
        .is_some_and(|first| first.is_ascii_uppercase() || *first == b'_')
        && bytes
            .iter()
            .all(|byte| byte.is_ascii_uppercase() || byte.is_ascii_digit() || *byte == b'_')
        && bytes.iter().any(u8::is_ascii_uppercase)
        && (bytes.contains(&b'_') || !bytes.iter().any(u8::is_ascii_digit));
    is_name_shaped
        && words(name)
            .last()
            .is_some_and(|last| is_one_of(last, ENVIRONMENT_WORDS))
}

/// True when `value`, held under the secret's name `name`, is a count of tokens rather than a
/// token: an integer (`-1` often means no limit) under a name whose last word is `token` after
/// a word of [`TOKEN_COUNT_WORDS`]. Both are needed: `"password": 1234` is a PIN, and
/// `INPUT_TOKEN=8f3a9c` a form's token. A token of a known format under such a name is no
/// integer, and its own detector finds it wherever it is.
fn is_count_of_tokens(name: &str, value: &str) -> bool {
    let digits = value.strip_prefix('-').unwrap_or(value);
    let is_integer = !digits.is_empty() && digits.bytes().all(|byte| byte.is_ascii_digit());
    is_integer && names_a_count_of_tokens(name)
}

/// True for `MAX_TOKEN`, `maxToken`, `MAXTOKEN`: see [`TOKEN_COUNT_WORDS`].
fn names_a_count_of_tokens(name: &str) -> bool {
    const TOKEN: &str = "token";
    let (previous, last) = words(name).fold(("", ""), |(_, last), word| (last, word));
    match last.len().checked_sub(TOKEN.len()) {
        Some(0) => last.eq_ignore_ascii_case(TOKEN) && is_one_of(previous, TOKEN_COUNT_WORDS),
        Some(prefix) => {
            ends_with_one_of(last, &[TOKEN]) && is_one_of(&last[..prefix], TOKEN_COUNT_WORDS)
        }
        None => false,
    }
}

/// True when some `=` or `:` in `text` follows a name containing a secret stem, perhaps with
/// spaces, quotes, a `]` or a backslash between them, or when some `=` precedes such a name in
/// quotes (an XML attribute `name="Password"`): the cheap test a string must pass before any
/// `KEY=VALUE` detector runs on it. Each byte is looked at a bounded number of times, since
/// the scan back from a separator stops at the separator before it, and the scan forward at
/// the quote that ends the name.
pub(crate) fn names_a_secret_at_a_separator(text: &str) -> bool {
    let is_separator = |byte: u8| byte == b'=' || byte == b':';
    let blocks = text.as_bytes().chunks(SEPARATOR_BLOCK_BYTES).enumerate();
    let mut blocks_with_separators = blocks.filter(|(_, block)| {
        block
            .iter()
            .fold(false, |any, &byte| any | is_separator(byte))
    });
    blocks_with_separators.any(|(block_index, block)| {
        let block_start = block_index * SEPARATOR_BLOCK_BYTES;
        let mut separators = block
            .iter()
            .enumerate()
            .filter(|(_, &byte)| is_separator(byte));
        separators.any(|(offset, &byte)| {
            let separator = block_start + offset;
            has_secret_stem(name_before(text, separator))
                || (byte == b'=' && has_secret_stem(quoted_name_after(text, separator)))
        })
    })
}

/// The name in quotes that an `=` at `separator` assigns, after blanks (`= "Password"`); empty
/// when no quote follows.
fn quoted_name_after(text: &str, separator: usize) -> &str {
    let bytes = text.as_bytes();
    let is_name =
        |byte: &u8| byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'.' | b':' | b'-');
    let quote = separator
        + 1
        + bytes[separator + 1..]
            .iter()
            .take_while(|byte| matches!(byte, b' ' | b'\t'))
            .count();
    if !matches!(bytes.get(quote), Some(b'"' | b'\'')) {
        return "";
    }
    let length = bytes[quote + 1..].iter().take_while(|b| is_name(b)).count();
    // Both ends sit next to ASCII bytes, so they are character boundaries.
    &text[quote + 1..quote + 1 + length]
}

/// The bytes after which a `-` may start an option: blanks and line breaks, and the quotes,
/// backtick, brackets and separators that open or split the command an option is written in
/// (`echo '--password VALUE'`, `` `--token VALUE` ``, `(--api-key VALUE)`, `a,--token VALUE`).
/// The `option_start!` of the detectors' patterns takes the same bytes.
const OPTION_PRECEDERS: &[u8] = b" \t\r\n'\"`([{,;=|";

/// True when some option in `text` (one or two `-` starting the text or following a byte of
/// [`OPTION_PRECEDERS`]) has a name containing a secret stem and is followed by a space or
/// tab: the cheap test a string must pass before the `--api-key VALUE` detector runs on it. It
/// looks only at the dashes that start a word, each once.
pub(crate) fn names_a_secret_option(text: &str) -> bool {
    let bytes = text.as_bytes();
    let is_name = |byte: &u8| byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-');
    text.match_indices('-').any(|(at, _)| {
        let starts_word = at == 0 || OPTION_PRECEDERS.contains(&bytes[at - 1]);
        if !starts_word {
            return false;
        }
        let name_start = at + 1 + usize::from(bytes.get(at + 1) == Some(&b'-'));
        let name_end = name_start
            + bytes[name_start..]
                .iter()
                .take_while(|b| is_name(b))
                .count();
        matches!(bytes.get(name_end), Some(b' ' | b'\t'))
            && has_secret_stem(&text[name_start..name_end])
    })
}

/// True when some closing tag in `text` (`</password>`, `</ns:apiKey>`, or HTML-escaped as logs
/// show XML, `&lt;/password&gt;`) has a name containing a secret stem: the cheap test before the
/// XML element detectors.
pub(crate) fn closes_a_secret_element(text: &str) -> bool {
    // One-character searches run on memchr; a search for `</` or `&lt;/` would not.
    let closing = |opening: char, rest: &'static str| {
        text.match_indices(opening).any(move |(at, _)| {
            let name_start = at + 1 + rest.len();
            text.as_bytes()[at + 1..].starts_with(rest.as_bytes())
                && has_secret_stem(tag_name(text, name_start))
        })
    };
    closing('<', "/") || closing('&', "lt;/")
}

/// The tag name that starts at `start`, which follows an ASCII byte.
fn tag_name(text: &str, start: usize) -> &str {
    let is_name =
        |byte: &u8| byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'.' | b':' | b'-');
    let length = text.as_bytes()[start..]
        .iter()
        .take_while(|b| is_name(b))
        .count();
    // Both ends sit next to ASCII bytes, so they are character boundaries.
    &text[start..start + length]
}

/// The name that a separator at `separator` assigns to, skipping spaces, quotes, `]` and `\`.
fn name_before(text: &str, separator: usize) -> &str {
    let bytes = text.as_bytes();
    let is_between = |byte: u8| matches!(byte, b' ' | b'\t' | b'"' | b'\'' | b']' | b'\\');
    let is_name = |byte: u8| byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'.' | b'-');
    let mut name_end = separator;
    while name_end > 0 && is_between(bytes[name_end - 1]) {
        name_end -= 1;
    }
    let mut name_start = name_end;
    while name_start > 0 && is_name(bytes[name_start - 1]) {
        name_start -= 1;
    }
    // Both ends sit next to ASCII bytes, so they are character boundaries.
    &text[name_start..name_end]
}

fn has_secret_stem(name: &str) -> bool {
    let bytes = name.as_bytes();
    (0..bytes.len()).any(|at| {
        let rest = &bytes[at..];
        SECRET_STEM_FIRST_BYTES.contains(&rest[0].to_ascii_lowercase())
            && SECRET_STEMS.iter().any(|stem| {
                rest.len() >= stem.len() && rest[..stem.len()].eq_ignore_ascii_case(stem.as_bytes())
            })
    })
}

fn ends_with_one_of(word: &str, list: &[&str]) -> bool {
    list.iter().any(|ending| {
        word.len() >= ending.len()
            && word.as_bytes()[word.len() - ending.len()..].eq_ignore_ascii_case(ending.as_bytes())
    })
}

fn is_one_of(word: &str, list: &[&str]) -> bool {
    list.iter().any(|listed| listed.eq_ignore_ascii_case(word))
}

/// The words of a name: runs of ASCII letters, split where camelCase starts a new word.
/// Digits, punctuation and non-ASCII characters separate words and are dropped.
fn words(name: &str) -> Words<'_> {
    Words { name, position: 0 }
}

struct Words<'n> {
    name: &'n str,
    position: usize,
}

impl<'n> Iterator for Words<'n> {
    type Item = &'n str;

    fn next(&mut self) -> Option<&'n str> {
        let bytes = self.name.as_bytes();
        let start = (self.position..bytes.len()).find(|&at| bytes[at].is_ascii_alphabetic())?;
        let mut end = start + 1;
        while end < bytes.len() && bytes[end].is_ascii_alphabetic() && !starts_word(bytes, end) {
            end += 1;
        }
        self.position = end;
        // Both ends sit next to ASCII letters, so they are character boundaries.
        Some(&self.name[start..end])
    }
}

/// True when the letter at `at` starts a new camelCase word: `apiKey` at `K`, `APIKey` at `K`.
fn starts_word(bytes: &[u8], at: usize) -> bool {
    let previous = bytes[at - 1];
    let current = bytes[at];
    let next_is_lower = bytes.get(at + 1).is_some_and(u8::is_ascii_lowercase);
    (previous.is_ascii_lowercase() && current.is_ascii_uppercase())
        || (previous.is_ascii_uppercase() && current.is_ascii_uppercase() && next_is_lower)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_into_words_at_punctuation_digits_and_camel_case() {
        let split = |name| words(name).collect::<Vec<_>>();
        assert_eq!(split("DB_PASSWORD"), ["DB", "PASSWORD"]);
        assert_eq!(split("x-api-key"), ["x", "api", "key"]);
        assert_eq!(split("apiKey"), ["api", "Key"]);
        assert_eq!(split("APIKey2"), ["API", "Key"]);
        assert_eq!(split("__"), Vec::<&str>::new());
    }

    #[test]
    fn secret_names_are_recognised_with_prefixes_suffixes_and_any_case() {
        for name in [
            "password",
            "DB_PASSWORD",
            "GITHUB_TOKEN",
            "api_key",
            "apiKey",
            "APIKEY",
            "X-Api-Key",
            "aws_secret_access_key",
            "client_secret",
            "PRIVATE_KEY",
            "credentials",
            "AUTH",
            "Authorization",
            "smtp_pass",
            "admin-pass",
            "second_db_pass",
            "DB_PWD",
            "private_key_id",
            "password_hash",
        ] {
            assert!(is_secret_name(name), "{name}");
        }
    }

    #[test]
    fn stem_first_bytes_are_the_stems_first_bytes() {
        let mut firsts: Vec<u8> = SECRET_STEMS.iter().map(|stem| stem.as_bytes()[0]).collect();
        firsts.sort();
        firsts.dedup();
        let mut listed = SECRET_STEM_FIRST_BYTES.to_vec();
        listed.sort();
        assert_eq!(firsts, listed);
    }

    #[test]
    fn a_secret_name_at_a_separator_is_noticed() {
        for text in [
            "DB_PASSWORD=x",
            "a: 1\n  api_key: x",
            "{\"token\" : 1}",
            "ENV['SECRET'] = 1",
            "{\\\"auth\\\":1}",
            "Proxy-Authorization:",
            &format!("{}x_token={}", "a".repeat(31), "b".repeat(40)),
            &format!("{}PASSWORD: x", ".".repeat(64)),
            "<add name=\"Password\" value=\"x\"/>",
            "name= 'api_key'",
        ] {
            assert!(names_a_secret_at_a_separator(text), "{text}");
        }
        for text in [
            "",
            "=",
            "src/lib.rs:212:9",
            "a = b",
            "token is here",
            "passed 0 failed",
            "<a name=\"top\" href=\"#x\">",
            "x=",
            "x= \"",
        ] {
            assert!(!names_a_secret_at_a_separator(text), "{text}");
        }
    }

    #[test]
    fn a_closing_tag_naming_a_secret_is_noticed_escaped_or_not() {
        for text in [
            "<password>x</password>",
            "</ns:apiKey>",
            "&lt;password&gt;x&lt;/password&gt;",
            "a &amp; b &lt;/Token",
        ] {
            assert!(closes_a_secret_element(text), "{text}");
        }
        for text in [
            "",
            "<",
            "&",
            "&lt;",
            "<password>",
            "&lt;/b&gt; </b> a & b",
            "&lt;password",
        ] {
            assert!(!closes_a_secret_element(text), "{text}");
        }
    }

    #[test]
    fn an_integer_under_a_name_counting_tokens_is_a_count() {
        for (name, value) in [
            ("MAX_TOKEN", "4096"),
            ("num_token", "4"),
            ("gen_ai.usage.input_token", "1200"),
            ("maxToken", "-1"),
            ("MAXTOKEN", "8192"),
            ("completion-token", "17"),
        ] {
            assert!(is_not_the_secret(name, value), "{name}={value}");
        }
        for (name, value) in [
            ("MAX_TOKEN", "4k"),
            ("MAX_TOKEN", ""),
            ("MAX_TOKEN", "-"),
            ("MAX_TOKEN", "1.5"),
            ("input_token", "8f3a9c"),
            ("password", "1234"),
            ("token", "42"),
            ("auth_token", "42"),
            ("max_token_secret", "7"),
            ("climaxtoken", "7"),
        ] {
            assert!(!is_not_the_secret(name, value), "{name}={value}");
        }
    }

    #[test]
    fn an_environment_variable_name_under_a_name_ending_in_env_or_var_is_a_name() {
        for (name, value) in [
            ("api_key_env", "OPENAI_API_KEY"),
            ("API_KEY_VAR", "OPENAI_API_KEY"),
            ("token_env", "GITHUB_TOKEN"),
            ("passwordEnvVar", "PGPASSWORD"),
            ("SECRET_ENV_VARIABLE", "_PRIVATE_2"),
            ("token_envvar", "GH_TOKEN_2"),
        ] {
            assert!(is_not_the_secret(name, value), "{name}={value}");
        }
        for (name, value) in [
            ("api_key_env", "openai_api_key"),
            ("api_key_env", "OpenAI_API_KEY"),
            ("api_key_env", "K7XQ2M9P"),
            ("api_key_env", "2FA_CODE"),
            ("api_key_env", "___"),
            ("api_key_env", ""),
            ("api_key", "OPENAI_API_KEY"),
            ("env_api_key", "OPENAI_API_KEY"),
            ("token_environment", "GITHUB_TOKEN"),
        ] {
            assert!(!is_not_the_secret(name, value), "{name}={value}");
        }
    }

    #[test]
    fn ordinary_names_are_not_secret_names() {
        for name in [
            "input_tokens",
            "max_tokens",
            "tokenizer",
            "author",
            "keyword",
            "cache_key",
            "key",
            "token_count",
            "password_file",
            "auth_type",
            "PASS",
            "passed",
            "PWD",
            "OLDPWD",
            "second_pass",
            "--high-pass",
            "run-pass",
            "model",
            "",
        ] {
            assert!(!is_secret_name(name), "{name}");
        }
    }
}
