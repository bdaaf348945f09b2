//! The built-in detectors: for each kind of credential, the regex that finds it, a cheaper
//! hint regex and a yet cheaper gate that strings must pass first, and a check that turns
//! away look-alikes the regex cannot.
//!
//! Conventions every pattern here follows, relied on by the engine in `super`:
//! - the text to replace is the first participating group whose name starts with `secret`
//!   (the whole match when there is none), so context such as a header name, a URL's user or a
//!   `KEY=` stays readable; `secret_dq` and `secret_sq` mark a value that was quoted;
//! - a `key` group holds the name a value was assigned to, `keyquote` the quote before it;
//! - every accepted match of `pattern` also matches `hint` and passes `gate`, so the fast path
//!   never hides a secret (the corpus in `tests/redaction/` has a sample for every detector);
//! - word boundaries are ASCII (`(?-u:\b)`), which keeps the lazy DFA working on non-ASCII text.
//!
//! The order is the order detectors run in: specific formats before generic rules, so that
//! `GITHUB_TOKEN=ghp_...` is reported as `github_token`, not as `secret_assignment`.

use super::keys::{is_not_the_secret, is_secret_name};
use std::ops::Range;

/// One match a detector's regex found, for its check to accept or turn away.
pub(super) struct Found<'t> {
    /// The whole text searched.
    pub text: &'t str,
    /// The text the marker would replace.
    pub secret: Range<usize>,
    /// The secret was written between quotes.
    pub secret_quoted: bool,
    /// The name the value was assigned to, for detectors with a `key` group.
    pub key: Option<Range<usize>>,
    /// The key was written between quotes.
    pub key_quoted: bool,
}

impl Found<'_> {
    fn secret_text(&self) -> &str {
        &self.text[self.secret.clone()]
    }
}

/// A built-in detector before compilation. A gate literal may be any part of what every match
/// holds, of 3 bytes or more: the gate searches for them with Teddy (`super::LiteralGate`).
pub(super) struct Spec {
    pub kind: &'static str,
    pub pattern: &'static str,
    /// A necessary condition of `pattern`, cheap for the prefilter's `RegexSet`.
    pub hint: &'static str,
    /// A yet cheaper necessary condition, checked first on every string.
    pub gate: Gate,
    pub accept: fn(&Found) -> bool,
}

/// What any match of a detector must contain, so that a string without it skips the detector.
pub(super) enum Gate {
    /// One of these literals, case-sensitive.
    Literals(&'static [&'static str]),
    /// An `=` or `:` after a name containing a secret stem, or an `=` before one in quotes (see
    /// [`super::keys::names_a_secret_at_a_separator`]).
    SecretNameThenSeparator,
    /// An option (`-` or `--` starting a word) whose name contains a secret stem, then a blank
    /// (see [`super::keys::names_a_secret_option`]).
    SecretOptionThenBlank,
    /// A closing tag, perhaps HTML-escaped, whose name contains a secret stem (see
    /// [`super::keys::closes_a_secret_element`]).
    SecretClosingTag,
    /// `SK` and 32 lowercase hex digits (see [`has_twilio_key_shape`]). As a literal, `SK`
    /// alone would be the gate's only one shorter than 3 bytes, which makes the regex crate's
    /// vectorized literal search take 2-byte fingerprints and stop at nearly every string.
    TwilioKeyShape,
}

/// True when `SK` followed by 32 lowercase hex digits occurs in `text`.
pub(super) fn has_twilio_key_shape(text: &str) -> bool {
    const HEX_DIGITS: usize = 32;
    let bytes = text.as_bytes();
    // A one-character search runs on memchr; a two-character one would not.
    text.match_indices('S').any(|(at, _)| {
        let digits = bytes.get(at + 2..at + 2 + HEX_DIGITS).unwrap_or_default();
        bytes.get(at + 1) == Some(&b'K')
            && digits.len() == HEX_DIGITS
            && digits
                .iter()
                .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(byte))
    })
}

/// The `KEY` part of a `KEY=VALUE` or `KEY: VALUE`: an identifier that may carry dots and
/// dashes, preceded by the start of the text or a character that cannot continue a name, and
/// perhaps quoted or subscripted (`ENV['TOKEN'] = ...`).
macro_rules! assigned_key {
    () => {
        r#"(?:^|[^A-Za-z0-9_])(?P<keyquote>["']?)(?P<key>[A-Za-z_][A-Za-z0-9_.-]*)["']?\]?[ \t]*"#
    };
}

/// Stems of secret names followed by a separator: the hint of both assignment detectors.
macro_rules! secret_stem {
    () => {
        r#"(?i)(?:pass|pwd|secret|token|key|auth|credential|cookie)[A-Za-z0-9_.-]*["']?\]?[ \t]*"#
    };
}

/// Where a token with a fixed prefix may start: at the start of the text, after a character
/// that cannot continue a word, or after a percent-escape (`%3Aghp_...` in an encoded URL) or a
/// backslash escape (`\nsk-ant-...` in JSON quoted inside a string), whose last character is a
/// letter or digit that a word boundary would wrongly take as part of the token.
macro_rules! token_start {
    () => {
        r"(?:^|[^A-Za-z0-9_]|%[0-9A-Fa-f]{2}|\\[nrt])"
    };
}

/// The argument after a command-line option: one quoted string, or one word that does not
/// start like the next option. A word's closing backticks and parentheses are left out of it:
/// a shell reads neither unquoted as part of a word, so they close what the command was written
/// in (`` `--password VALUE` ``, `(--token VALUE)`).
macro_rules! argument_value {
    () => {
        r#"(?:"(?P<secret_dq>[^"\r\n]*)"|'(?P<secret_sq>[^'\r\n]*)'|(?P<secret>[^\s"'-](?:[^\s"']*[^\s"'`)])?))"#
    };
}

/// What may come just before a command-line option: the start of the text, a blank or line
/// break, or what opens or separates the command it is written in (a quote, a backtick, a
/// bracket, a comma, `;`, `=`, `|`). The gate's [`super::keys::names_a_secret_option`] takes
/// the same characters.
macro_rules! option_start {
    () => {
        r#"(?:^|[ \t\r\n'"`(\[{,;=|])"#
    };
}

/// The arguments between a command's name and the option looked for, all on one line and in
/// one command of a pipeline or list.
macro_rules! same_command {
    () => {
        r"[ \t](?:[^\r\n|;&]*?[ \t])?"
    };
}

/// Any other attributes of an XML element, each `name="value"` or `name='value'`, between the
/// two that a detector pairs.
macro_rules! xml_attributes {
    () => {
        r#"(?:[ \t\r\n]+[A-Za-z_:][A-Za-z0-9_.:-]*[ \t]*=[ \t]*(?:"[^"]*"|'[^']*'))*"#
    };
}

/// A `key` or `name` attribute whose value contains a secret stem: the hint of the detectors
/// that pair it with a `value` attribute.
macro_rules! xml_secret_name_attribute {
    () => {
        r#"(?:key|name)[ \t]*=[ \t]*["'][A-Za-z0-9_.:-]*(?i:pass|pwd|secret|token|key|auth|credential|cookie)"#
    };
}

/// Authorization header (or `authorization=` parameter) up to its scheme.
macro_rules! authorization {
    () => {
        r#"(?i)(?-u:\b)(?:proxy-)?authorization["']?[ \t]*[:=][ \t]*["']?"#
    };
}

/// The word an option's name ends in when it may name a secret: the check asks
/// [`is_secret_name`] about the whole name, which takes `pass` only after another word
/// (`--db-pass`, not `-pass 1`).
macro_rules! option_secret_word {
    () => {
        "(?:pass(?:w(?:or)?d|phrase)?|token|secret|key|credentials?|Pass(?:w(?:or)?d|phrase)?|Token|Secret|Key|Credentials?)"
    };
}

pub(super) const BUILTIN: &[Spec] = &[
    Spec {
        kind: "private_key",
        // A block cut off before its END line (truncated tool output) is redacted to the end;
        // one whose BEGIN line was cut off (the tail of capped output) keeps none of the
        // base64 lines before its END line.
        pattern: r"-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----(?:[\s\S]*?-----END[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----|[\s\S]*)|(?:^|\n)(?P<secret>[A-Za-z0-9+/=\r\n]*-----END[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----)",
        hint: r"-----(?:BEGIN|END)[ A-Z0-9]*PRIVATE KEY",
        gate: Gate::Literals(&["-----BEGIN", "-----END"]),
        accept: always,
    },
    Spec {
        kind: "jwt",
        pattern: concat!(
            token_start!(),
            r"(?P<secret>eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*)"
        ),
        hint: r"eyJ[A-Za-z0-9_-]{8,}\.eyJ",
        gate: Gate::Literals(&["eyJ"]),
        accept: always,
    },
    Spec {
        kind: "aws_access_key_id",
        pattern: concat!(
            token_start!(),
            r"(?P<secret>(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})(?-u:\b)"
        ),
        hint: r"(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}",
        gate: Gate::Literals(&["A3T", "AKIA", "ASIA", "ABIA", "ACCA"]),
        accept: always,
    },
    Spec {
        kind: "aws_secret_access_key",
        pattern: r#"(?i)secret_?access_?key["']?[ \t]*[:=][ \t]*["']?(?P<secret>[A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)"#,
        hint: r"(?i)secret_?access_?key",
        gate: Gate::SecretNameThenSeparator,
        accept: always,
    },
    Spec {
        kind: "gcp_api_key",
        pattern: concat!(
            token_start!(),
            r"(?P<secret>AIza[0-9A-Za-z_-]{35})(?:[^0-9A-Za-z_-]|$)"
        ),
        hint: r"AIza[0-9A-Za-z_-]{35}",
        gate: Gate::Literals(&["AIza"]),
        accept: always,
    },
    Spec {
        kind: "gcp_private_key_id",
        pattern: r#"(?i)private_?key_?id["']?[ \t]*[:=][ \t]*["']?(?P<secret>[0-9a-f]{40})(?-u:\b)"#,
        hint: r"(?i)private_?key_?id",
        gate: Gate::SecretNameThenSeparator,
        accept: always,
    },
    Spec {
        kind: "azure_account_key",
        pattern: r"(?i)(?-u:\b)(?:Account|SharedAccess)Key[ \t]*=[ \t]*(?P<secret>[A-Za-z0-9+/]{20,}={0,2})",
        hint: r"(?i)(?:Account|SharedAccess)Key[ \t]*=",
        gate: Gate::SecretNameThenSeparator,
        accept: always,
    },
    Spec {
        kind: "azure_sas_signature",
        // A shared access signature's `sig` parameter, in a SAS URL or a connection string's
        // `SharedAccessSignature=`: the rest of the token is its readable scope and expiry.
        pattern: r"(?:^|[?&;])sig=(?P<secret>[A-Za-z0-9%+/]{16,}={0,2})",
        hint: r"sig=[A-Za-z0-9%+/]{16}",
        gate: Gate::Literals(&["sig="]),
        accept: always,
    },
    Spec {
        kind: "gcp_access_token",
        // An OAuth 2.0 access token from Google's token endpoint (`gcloud auth
        // print-access-token`).
        pattern: concat!(token_start!(), r"(?P<secret>ya29\.[0-9A-Za-z_-]{20,})"),
        hint: r"ya29\.[0-9A-Za-z_-]{20}",
        gate: Gate::Literals(&["ya29."]),
        accept: always,
    },
    Spec {
        kind: "github_token",
        pattern: concat!(
            token_start!(),
            r"(?P<secret>gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})"
        ),
        hint: r"gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{22}",
        gate: Gate::Literals(&["ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"]),
        accept: always,
    },
    Spec {
        kind: "gitlab_token",
        pattern: concat!(
            token_start!(),
            // The routable form (GitLab 17.x) ends in `.<version>.<length and checksum>`,
            // which is part of the token.
            r"(?P<secret>gl(?:pat|dt|rt|ptt|ft|soat|cbt)-[A-Za-z0-9_-]{20,}(?:\.[0-9a-z]{2}\.[0-9a-z]{7,})?)"
        ),
        hint: r"gl(?:pat|dt|rt|ptt|ft|soat|cbt)-[A-Za-z0-9_-]{20}",
        gate: Gate::Literals(&[
            "glpat-", "gldt-", "glrt-", "glptt-", "glft-", "glsoat-", "glcbt-",
        ]),
        accept: always,
    },
    Spec {
        kind: "slack_token",
        // Bot, user, legacy and refresh (`xoxe-`) tokens, and app-level tokens (`xapp-`).
        pattern: concat!(
            token_start!(),
            r"(?P<secret>(?:xox[abprse]|xapp)-[A-Za-z0-9-]{10,})"
        ),
        hint: r"(?:xox[abprse]|xapp)-[A-Za-z0-9-]{10}",
        gate: Gate::Literals(&["xox", "xapp-"]),
        accept: always,
    },
    Spec {
        kind: "slack_webhook",
        pattern: r"hooks\.slack\.com/(?:services|workflows|triggers)/(?P<secret>[A-Za-z0-9_/-]+)",
        hint: r"hooks\.slack\.com/",
        gate: Gate::Literals(&["hooks.slack.com/"]),
        accept: always,
    },
    Spec {
        kind: "stripe_key",
        pattern: concat!(
            token_start!(),
            r"(?P<secret>(?:sk|rk|pk)_(?:live|test)_[0-9A-Za-z]{10,}|whsec_[0-9A-Za-z]{20,})"
        ),
        hint: r"(?:sk|rk|pk)_(?:live|test)_[0-9A-Za-z]{10}|whsec_[0-9A-Za-z]{20}",
        gate: Gate::Literals(&["_live_", "_test_", "whsec_"]),
        accept: always,
    },
    Spec {
        kind: "sendgrid_api_key",
        pattern: concat!(
            token_start!(),
            r"(?P<secret>SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43})(?:[^A-Za-z0-9_-]|$)"
        ),
        hint: r"SG\.[A-Za-z0-9_-]{22}\.",
        gate: Gate::Literals(&["SG."]),
        accept: always,
    },
    Spec {
        kind: "twilio_api_key",
        // An API key SID: `SK` and 32 lowercase hex digits, a whole word. A hash that happens
        // to follow `SK` in a word does not qualify, nor do hex-looking runs of one kind.
        pattern: concat!(token_start!(), r"(?P<secret>SK[0-9a-f]{32})(?-u:\b)"),
        hint: r"SK[0-9a-f]{32}",
        gate: Gate::TwilioKeyShape,
        accept: has_digit_and_lowercase,
    },
    Spec {
        kind: "pypi_token",
        // A macaroon whose base64 starts with the location `pypi.org` or `test.pypi.org`.
        pattern: concat!(
            token_start!(),
            r"(?P<secret>pypi-(?:AgEIcHlwaS5vcmc|AgENdGVzdC5weXBpLm9yZw)[A-Za-z0-9_-]{50,})"
        ),
        hint: r"pypi-(?:AgEIcHlwaS5vcmc|AgENdGVzdC5weXBpLm9yZw)",
        gate: Gate::Literals(&["pypi-Ag"]),
        accept: always,
    },
    Spec {
        kind: "digitalocean_token",
        // Personal access (`dop_`), OAuth (`doo_`) and refresh (`dor_`) tokens.
        pattern: concat!(
            token_start!(),
            r"(?P<secret>do[opr]_v1_[0-9a-f]{64})(?-u:\b)"
        ),
        hint: r"do[opr]_v1_[0-9a-f]{64}",
        gate: Gate::Literals(&["_v1_"]),
        accept: always,
    },
    Spec {
        kind: "shopify_token",
        // Admin API access, custom app, partner and shared-secret tokens.
        pattern: concat!(
            token_start!(),
            r"(?P<secret>shp(?:at|ca|pa|ss)_[0-9a-fA-F]{32})(?-u:\b)"
        ),
        hint: r"shp(?:at|ca|pa|ss)_[0-9a-fA-F]{32}",
        gate: Gate::Literals(&["shp"]),
        accept: always,
    },
    Spec {
        kind: "npm_token",
        pattern: concat!(token_start!(), r"(?P<secret>npm_[A-Za-z0-9]{36})(?-u:\b)"),
        hint: r"npm_[A-Za-z0-9]{36}",
        gate: Gate::Literals(&["npm_"]),
        accept: always,
    },
    Spec {
        kind: "huggingface_token",
        pattern: concat!(token_start!(), r"(?P<secret>hf_[A-Za-z0-9]{34,})(?-u:\b)"),
        hint: r"hf_[A-Za-z0-9]{34}",
        gate: Gate::Literals(&["hf_"]),
        accept: always,
    },
    Spec {
        kind: "anthropic_api_key",
        pattern: concat!(token_start!(), r"(?P<secret>sk-ant-[A-Za-z0-9_-]{20,})"),
        hint: r"sk-ant-[A-Za-z0-9_-]{20}",
        gate: Gate::Literals(&["sk-ant-"]),
        accept: always,
    },
    Spec {
        kind: "openai_api_key",
        pattern: concat!(
            token_start!(),
            r"(?P<secret>sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,})"
        ),
        hint: r"sk-[A-Za-z0-9_-]{20}",
        gate: Gate::Literals(&["sk-"]),
        accept: looks_random,
    },
    Spec {
        kind: "bearer_token",
        // A placeholder stays, as for `KEY=VALUE`: `Bearer $TOKEN`, `Bearer ${GITHUB_TOKEN}`.
        pattern: concat!(authorization!(), r#"bearer[ \t]+(?P<secret>[^\s"',;]+)"#),
        hint: concat!(authorization!(), r"bearer[ \t]"),
        gate: Gate::SecretNameThenSeparator,
        accept: not_a_placeholder,
    },
    Spec {
        kind: "basic_auth",
        pattern: concat!(authorization!(), r#"basic[ \t]+(?P<secret>[^\s"',;]+)"#),
        hint: concat!(authorization!(), r"basic[ \t]"),
        gate: Gate::SecretNameThenSeparator,
        accept: not_a_placeholder,
    },
    Spec {
        kind: "basic_auth",
        // The option may follow `curl` directly: `curl -u user:password URL`.
        pattern: r#"(?-u:\b)curl(?:[ \t][^\r\n]*?)?[ \t](?:-u|--user)[ \t=]*["']?[^\s:"']+:(?P<secret>[^\s"']+)"#,
        hint: r"curl(?:[ \t][^\r\n]*?)?[ \t](?:-u|--user)",
        gate: Gate::Literals(&["curl"]),
        accept: always,
    },
    Spec {
        kind: "bearer_token",
        // Without the header name, only a token that looks like one: "Bearer authentication"
        // is prose.
        pattern: r"(?-u:\b)(?:bearer|Bearer|BEARER)[ \t]+(?P<secret>[A-Za-z0-9._~+/-]{16,}=*)",
        hint: r"(?:bearer|Bearer|BEARER)[ \t]+[A-Za-z0-9._~+/-]{16}",
        gate: Gate::Literals(&["bearer", "Bearer", "BEARER"]),
        accept: has_digit,
    },
    Spec {
        kind: "url_password",
        // The password runs to the last `@` of the authority: one typed unescaped may hold `@`
        // and `:` itself (`postgres://app:p@ss:w0rd@db/app`).
        pattern: r#"(?-u:\b)[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@"'<>]*:(?P<secret>[^\s/"'<>]+)@"#,
        hint: r#"://[^\s:/@"'<>]*:[^\s/"'<>]+@"#,
        gate: Gate::Literals(&["://"]),
        accept: always,
    },
    Spec {
        kind: "cookie",
        // The values of a `Cookie:` header's pairs, and of a `Set-Cookie:` header's first pair
        // (the others are its attributes), also as `curl -H 'Cookie: ...'` or as the argument
        // of curl's `-b` and `--cookie`: the cookie names stay readable. A pair after the first
        // is found by the `;` before it; the check makes sure it is still in the header or the
        // argument. Without a `=`, curl's argument names a cookie file and is kept.
        pattern: r#"(?:(?i:cookie)["']?[ \t]*:[ \t]*["']?|;|[ \t](?:-b|--cookie)[ \t]+["']?)[ \t]*[^\s=;"',\\]+=(?P<secret>[^;\s"'\\]+)"#,
        hint: concat!(
            r#"(?i)cookie["']?[ \t]*:|curl"#,
            same_command!(),
            r"(?:-b|--cookie)[ \t]"
        ),
        gate: Gate::Literals(&["okie", "OKIE", "curl"]),
        accept: in_cookie_list,
    },
    Spec {
        kind: "secret_argument",
        // `--api-key VALUE`, `--password "VALUE"`, `-token VALUE`: an option whose name names a
        // secret, and the argument after it (`--password=VALUE` is a `KEY=VALUE`), perhaps on
        // the next line after a `\` that continues the command. The option may open a quoted
        // command or a code span: `echo '--password VALUE'`, `` `--token VALUE` ``.
        pattern: concat!(
            option_start!(),
            r"--?(?P<key>(?:[A-Za-z0-9][A-Za-z0-9_-]*)?",
            option_secret_word!(),
            r")[ \t]+(?:\\\r?\n[ \t]*)?",
            argument_value!()
        ),
        hint: concat!(
            option_start!(),
            r"--?[A-Za-z0-9_-]*",
            option_secret_word!(),
            r"[ \t]+[^\s-]"
        ),
        gate: Gate::SecretOptionThenBlank,
        accept: secret_option_argument,
    },
    Spec {
        kind: "secret_argument",
        // `-p` is a password only to commands known to take one there (`docker login`, its kin,
        // `sshpass`), as `-a` and `--pass` are to `redis-cli`; elsewhere `-p` is a port, a path
        // or `mkdir -p`.
        pattern: concat!(
            r"(?-u:\b)(?:(?:(?:docker|podman|nerdctl|buildah|skopeo|helm|oras)",
            same_command!(),
            r"login|sshpass)",
            same_command!(),
            r"-p[ \t]*|redis-cli",
            same_command!(),
            r"(?:-a|--pass)[ \t]+)",
            argument_value!()
        ),
        hint: concat!(
            r"(?:login|sshpass)",
            same_command!(),
            r"-p|redis-cli",
            same_command!(),
            r"-(?:a|-pass)[ \t]"
        ),
        gate: Gate::Literals(&["ogin", "sshpass", "s-cli"]),
        accept: not_a_placeholder,
    },
    Spec {
        kind: "secret_argument",
        // `gh secret set NAME --body VALUE` (GitHub CLI): the body is the secret's value, named
        // like a secret or not. NAME only names it, and without `--body` the value comes from
        // the terminal, stdin or a file.
        pattern: concat!(
            r"(?-u:\b)secret[ \t]+set",
            same_command!(),
            r"(?:-b[ \t=]*|--body(?:[ \t]+|=))",
            argument_value!()
        ),
        hint: concat!(r"secret[ \t]+set", same_command!(), r"-(?:b|-body)"),
        gate: Gate::Literals(&["secret set"]),
        accept: not_a_placeholder,
    },
    Spec {
        kind: "secret_argument",
        // MySQL's and MariaDB's clients take a password only attached, `-pVALUE`: after
        // `-p ` comes the database's name, and the password is asked for.
        pattern: concat!(
            r"(?-u:\b)(?:mysql[a-z]*|mariadb(?:-[a-z]+)?)",
            same_command!(),
            r#"-p(?:"(?P<secret_dq>[^"\r\n]*)"|'(?P<secret_sq>[^'\r\n]*)'|(?P<secret>[^\s"']+))"#
        ),
        hint: concat!(r"(?:mysql|mariadb)[a-z-]*", same_command!(), r"-p[^\s]"),
        gate: Gate::Literals(&["mysql", "mariadb"]),
        accept: not_a_placeholder,
    },
    Spec {
        kind: "secret_argument",
        // OpenSSL's password arguments: `-pass pass:VALUE`, `-passin`, `-passout`. Their other
        // sources (`env:NAME`, `file:PATH`, `fd:N`, `stdin`) name where a password is. The
        // `:` after `pass` passes the gate, `pass` being a secret stem.
        pattern: r#"(?:^|[ \t])-pass(?:in|out)?[ \t]+(?:"pass:(?P<secret_dq>[^"\r\n]*)"|'pass:(?P<secret_sq>[^'\r\n]*)'|pass:(?P<secret>[^\s"']+))"#,
        hint: r#"-pass(?:in|out)?[ \t]+["']?pass:"#,
        gate: Gate::SecretNameThenSeparator,
        accept: not_a_placeholder,
    },
    Spec {
        kind: "secret_element",
        // `<password>VALUE</password>`, `<ns:apiKey>VALUE</ns:apiKey>`: an XML element whose
        // name names a secret, holding text only. The regex cannot ask for the closing tag to
        // repeat the opening one; the check does.
        pattern: r"<(?P<key>[A-Za-z_][A-Za-z0-9_.:-]*)(?:[ \t\r\n][^<>]*)?>(?P<secret>[^<]+)</[A-Za-z_][A-Za-z0-9_.:-]*>",
        hint: r"(?i)</[A-Za-z0-9_.:-]*(?:pass|pwd|secret|token|key|auth|credential|cookie)",
        gate: Gate::SecretClosingTag,
        accept: secret_element,
    },
    Spec {
        kind: "secret_element",
        // The same element HTML-escaped, as logs and web pages show XML:
        // `&lt;password&gt;VALUE&lt;/password&gt;`. The value may hold entities (`&amp;`).
        pattern: r"&lt;(?P<key>[A-Za-z_][A-Za-z0-9_.:-]*)(?:[ \t\r\n](?:[^<>&]|&(?:quot|apos|amp);)*)?&gt;(?P<secret>(?:[^<&]|&(?:amp|quot|apos|#[0-9]+|#x[0-9A-Fa-f]+);)+)&lt;/[A-Za-z_][A-Za-z0-9_.:-]*&gt;",
        hint: r"(?i)&lt;/[A-Za-z0-9_.:-]*(?:pass|pwd|secret|token|key|auth|credential|cookie)",
        gate: Gate::SecretClosingTag,
        accept: secret_element,
    },
    Spec {
        kind: "secret_element",
        // `<add key="ClearTextPassword" value="VALUE" />` (NuGet, .NET `appSettings`),
        // `<property name="password" value="VALUE"/>` (Spring, Ant): an element whose `key` or
        // `name` attribute names a secret holds it in its `value` attribute, perhaps with other
        // attributes between them. The `=` after `key`, or before the quoted secret's name,
        // passes the gate.
        pattern: concat!(
            r#"[ \t\r\n](?:key|name)[ \t]*=[ \t]*(?P<keyquote>["'])(?P<key>[A-Za-z_][A-Za-z0-9_.:-]*)["']"#,
            xml_attributes!(),
            r#"[ \t\r\n]+value[ \t]*=[ \t]*(?:"(?P<secret_dq>[^"\r\n]*)"|'(?P<secret_sq>[^'\r\n]*)')"#
        ),
        hint: xml_secret_name_attribute!(),
        gate: Gate::SecretNameThenSeparator,
        accept: assigns_to_secret_name_not_a_file,
    },
    Spec {
        kind: "secret_element",
        // The same with the `value` attribute first: `<add value="VALUE" key="Password"/>`.
        pattern: concat!(
            r#"[ \t\r\n]value[ \t]*=[ \t]*(?:"(?P<secret_dq>[^"\r\n]*)"|'(?P<secret_sq>[^'\r\n]*)')"#,
            xml_attributes!(),
            r#"[ \t\r\n]+(?:key|name)[ \t]*=[ \t]*(?P<keyquote>["'])(?P<key>[A-Za-z_][A-Za-z0-9_.:-]*)["']"#
        ),
        hint: xml_secret_name_attribute!(),
        gate: Gate::SecretNameThenSeparator,
        accept: assigns_to_secret_name_not_a_file,
    },
    Spec {
        kind: "secret_assignment",
        // A number under a secret's name in JSON (or a Python dict) printed inside a string:
        // `{"user": "bob", "password": 123456}`. `KEY: VALUE` takes the rest of such a line
        // as the value, which then looks like code.
        pattern: r#"\\?["'](?P<key>[A-Za-z_][A-Za-z0-9_.-]*)\\?["'][ \t]*:[ \t]*(?P<secret>-?[0-9][0-9.eE+-]*)(?:[^A-Za-z0-9_.]|$)"#,
        hint: r#"(?i)(?:pass|pwd|secret|token|key|auth|credential|cookie)[A-Za-z0-9_.-]*\\?["'][ \t]*:[ \t]*-?[0-9]"#,
        gate: Gate::SecretNameThenSeparator,
        accept: assigns_to_secret_name,
    },
    Spec {
        kind: "secret_assignment",
        // `KEY=VALUE`, `export KEY="VALUE"`, `?access_token=VALUE&...`: the value is one word
        // or one quoted string.
        pattern: concat!(
            assigned_key!(),
            r#"=[ \t]*(?:"(?P<secret_dq>[^"\r\n]*)"|'(?P<secret_sq>[^'\r\n]*)'|(?P<secret>[^\s"',;&)}]+))"#
        ),
        hint: concat!(secret_stem!(), "="),
        gate: Gate::SecretNameThenSeparator,
        accept: secret_assignment_with_equals,
    },
    Spec {
        kind: "secret_assignment",
        // `KEY: VALUE` (YAML, headers, JSON): an unquoted value runs to the end of the line.
        pattern: concat!(
            assigned_key!(),
            r#":[ \t]*(?:"(?P<secret_dq>[^"\r\n]*)"|'(?P<secret_sq>[^'\r\n]*)'|(?P<secret>[^\s"'](?:[^\r\n]*[^\s])?))"#
        ),
        hint: concat!(secret_stem!(), ":"),
        gate: Gate::SecretNameThenSeparator,
        accept: secret_assignment_with_colon,
    },
    Spec {
        kind: "secret_assignment",
        // A JSON member inside a JSON string inside a string: `{\"password\":\"...\"}`.
        pattern: r#"\\"(?P<key>[A-Za-z_][A-Za-z0-9_.-]*)\\"[ \t]*:[ \t]*\\"(?P<secret_dq>(?:[^"\\\r\n]|\\[^"\r\n])*)\\""#,
        hint: r#"(?i)(?:pass|pwd|secret|token|key|auth|credential|cookie)[A-Za-z0-9_.-]*\\"[ \t]*:"#,
        gate: Gate::SecretNameThenSeparator,
        accept: assigns_to_secret_name,
    },
];

fn always(_: &Found) -> bool {
    true
}

fn has_digit(found: &Found) -> bool {
    found
        .secret_text()
        .bytes()
        .any(|byte| byte.is_ascii_digit())
}

/// A random hex string has both; `SK` and 32 digits, or 32 of `a`-`f`, is a word.
fn has_digit_and_lowercase(found: &Found) -> bool {
    let secret = found.secret_text().as_bytes();
    secret.iter().any(u8::is_ascii_digit) && secret.iter().any(u8::is_ascii_lowercase)
}

/// Random keys mix digits and both cases; `sk-` followed by hyphenated words does not.
fn looks_random(found: &Found) -> bool {
    let secret = found.secret_text().as_bytes();
    secret.iter().any(u8::is_ascii_digit)
        && secret.iter().any(u8::is_ascii_uppercase)
        && secret.iter().any(u8::is_ascii_lowercase)
}

/// Spaces around `=` mark source code rather than a shell or `.env` line, so there a value
/// named like a secret (`token = new_token`) is a variable.
fn secret_assignment_with_equals(found: &Found) -> bool {
    let key_end = found.key.as_ref().map_or(found.secret.start, |key| key.end);
    let spaced = found.text[key_end..found.secret.start].contains([' ', '\t']);
    assigns_to_secret_name_not_a_file(found)
        && (found.secret_quoted || !looks_like_code(found.secret_text(), spaced))
}

/// An unquoted key before `:` must start its line (after indentation or list, diff and
/// comment marks), so that `Error: token: expired` in prose is left alone while YAML and
/// header lines are redacted.
fn secret_assignment_with_colon(found: &Found) -> bool {
    if !assigns_to_secret_name_not_a_file(found) {
        return false;
    }
    if found.secret_quoted {
        return true;
    }
    let key_start = found
        .key
        .as_ref()
        .map_or(found.secret.start, |key| key.start);
    let line_start = found.text[..key_start].rfind('\n').map_or(0, |at| at + 1);
    let before_key = &found.text[line_start..key_start];
    let key_starts_line = before_key
        .chars()
        .all(|c| c.is_whitespace() || "-+#>*/;|".contains(c));
    (found.key_quoted || key_starts_line) && !looks_like_code(found.secret_text(), false)
}

/// Option arguments that stand for a secret without being one, beyond placeholders: the
/// value names of help texts (`--token TOKEN`, `--api-key string`), a file that holds the
/// secret (`--private-key ~/.ssh/id_ed25519`, `--private-key id_rsa`) or a reference to one
/// (`--secret id=npmrc,src=.npmrc`), and, unquoted, a word of prose that mentions the option
/// (`pass the --token flag`) or a shell operator (`--token | jq`). A switch takes no argument
/// at all (`psql --password db`, `--no-password`), and a container tool's `--secret` only names
/// one (`podman run --secret db_pw`).
fn secret_option_argument(found: &Found) -> bool {
    const VALUE_NAMES: &[&str] = &["string", "str", "text", "value"];
    let value = found.secret_text();
    let is_value_name = value
        .bytes()
        .all(|byte| byte.is_ascii_uppercase() || byte == b'_' || byte == b'-')
        || VALUE_NAMES
            .iter()
            .any(|name| name.eq_ignore_ascii_case(value));
    let is_prose = !found.secret_quoted && is_prose_word(value);
    let is_operator = !found.secret_quoted && is_shell_operator(value);
    let stands_for_secret = is_file(value) || is_secret_reference(value);
    assigns_to_secret_name(found)
        && !is_value_name
        && !is_prose
        && !is_operator
        && !stands_for_secret
        && !is_switch(found)
        && !is_container_secret_name(found)
}

/// The option and the words of its command before it: from the last line break or shell
/// operator before the option to the option, across lines that a `\` continues.
fn option_and_command<'t>(found: &Found<'t>) -> Option<(&'t str, &'t str)> {
    let key = found.key.clone()?;
    let before = &found.text[..key.start];
    let mut end = before.len();
    let command_start = loop {
        match before[..end].rfind(['\n', '\r', '|', ';', '&']) {
            Some(at) if before[..at].trim_end_matches('\r').ends_with('\\') => end = at,
            Some(at) => break at + 1,
            None => break 0,
        }
    };
    Some((&found.text[key], &before[command_start..]))
}

/// The program a word of a command runs, without its directory.
fn program(word: &str) -> &str {
    word.rsplit('/').next().unwrap_or(word)
}

/// True for an option that takes no argument, so that the word after it is not its value:
/// a negated one (`--no-password`), Ansible's `--ask-pass` and `--ask-vault-pass`, and the
/// `--password` of MySQL's, MariaDB's and PostgreSQL's clients, which asks for the password
/// (MySQL's takes one only attached, `--password=VALUE`; PostgreSQL's never does).
fn is_switch(found: &Found) -> bool {
    let Some((option, command)) = option_and_command(found) else {
        return false;
    };
    let asks_for_password = |word: &str| {
        let program = program(word);
        is_mysql_client(program) || is_postgres_client(program)
    };
    option.starts_with("no-")
        || option.starts_with("ask-")
        || (option == "password" && command.split_ascii_whitespace().any(asks_for_password))
}

fn is_mysql_client(program: &str) -> bool {
    let is_lowercase = |rest: &str| rest.bytes().all(|byte| byte.is_ascii_lowercase());
    program.strip_prefix("mysql").is_some_and(is_lowercase)
        || program
            .strip_prefix("mariadb")
            .is_some_and(|rest| rest.is_empty() || rest.strip_prefix('-').is_some_and(is_lowercase))
}

/// `psql`, `pgbench`, `pg_dump` and the other `pg_` tools, and the wrappers PostgreSQL ships.
fn is_postgres_client(program: &str) -> bool {
    const WRAPPERS: &[&str] = &[
        "psql",
        "pgcli",
        "pgbench",
        "createdb",
        "dropdb",
        "createuser",
        "dropuser",
        "vacuumdb",
        "reindexdb",
        "clusterdb",
        "vacuumlo",
    ];
    WRAPPERS.contains(&program)
        || program.strip_prefix("pg_").is_some_and(|rest| {
            !rest.is_empty()
                && rest
                    .bytes()
                    .all(|byte| byte.is_ascii_lowercase() || byte == b'_')
        })
}

/// True for the `--secret` of a container tool (Docker, Podman, Buildah, nerdctl), which names
/// a secret kept in its store or a file (`podman run --secret db_pw`, `docker service create
/// --secret my_secret`): none of them takes a secret's value on its command line.
fn is_container_secret_name(found: &Found) -> bool {
    const CONTAINER_TOOLS: &[&str] = &["docker", "podman", "buildah", "nerdctl", "buildctl"];
    option_and_command(found).is_some_and(|(option, command)| {
        option == "secret"
            && command
                .split_ascii_whitespace()
                .any(|word| CONTAINER_TOOLS.contains(&program(word)))
    })
}

/// True for a word that a shell reads as an operator rather than an argument: a pipe, a list
/// (`;`, `&&`), a redirection (`> out.txt`, `2>&1`), or the `\` that continues the line.
fn is_shell_operator(value: &str) -> bool {
    let without_descriptor = value.trim_start_matches(|c: char| c.is_ascii_digit());
    value == "\\" || without_descriptor.starts_with(['|', '&', ';', '<', '>'])
}

/// True for the `--secret` of Docker, BuildKit and Podman, which names a secret and where it
/// is kept: `id=npmrc,src=.npmrc`, `id=aws,env=AWS_TOKEN`, `source=db_pw,target=pw`, and
/// Podman's `db_pw,type=env,target=PW`. Every comma-separated pair has one of their keys, but
/// for a first one that is a bare name followed by pairs (a bare name alone may be a secret).
fn is_secret_reference(value: &str) -> bool {
    const REFERENCE_KEYS: &[&str] = &[
        "id", "src", "source", "env", "type", "target", "dst", "required", "mode", "uid", "gid",
    ];
    let is_reference_pair = |pair: &str| {
        pair.split_once('=')
            .is_some_and(|(key, _)| REFERENCE_KEYS.contains(&key))
    };
    let mut parts = value.split(',');
    let first = parts.next().unwrap_or_default();
    let mut rest = parts.peekable();
    let first_is_name = !first.contains('=') && rest.peek().is_some();
    (first_is_name || is_reference_pair(first)) && rest.all(is_reference_pair)
}

/// True for a file's path or a key file's name: what stands where a secret would when the
/// secret is kept in that file.
pub(super) fn is_file(value: &str) -> bool {
    is_path(value) || is_key_file_name(value)
}

/// True for `./id_rsa`, `../keys/a.pem`, `~/.ssh/id_ed25519`, `/etc/ssl/private/a.key`: a
/// path's start, then only letters, digits and `/._-~` (blanks too, once quoted). Base64,
/// which may start with `/`, is a path only when it holds no `+` and no `=`.
fn is_path(value: &str) -> bool {
    const PATH_STARTS: &[&str] = &["/", "./", "../", "~/"];
    PATH_STARTS.iter().any(|start| value.starts_with(start))
        && value
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"/._-~ ".contains(&byte))
}

/// True for the name of a file that holds a key or a certificate, given without a directory:
/// SSH's own names (`id_rsa`, `id_ed25519.pub`), or a name and one of the extensions such
/// files carry (`server.key`, `client.pem`, a service account's `sa.json`). A random token
/// holds no dot, or, as a JWT does, no such extension after its last one; `.txt` is not among
/// them, since `--password notes.txt` may be what was typed as the password.
fn is_key_file_name(value: &str) -> bool {
    const SSH_KEY_NAMES: &[&str] = &[
        "id_rsa",
        "id_dsa",
        "id_ecdsa",
        "id_ed25519",
        "id_ecdsa_sk",
        "id_ed25519_sk",
    ];
    const KEY_FILE_EXTENSIONS: &[&str] = &[
        "key", "pem", "pub", "crt", "cer", "der", "p8", "p12", "pfx", "jks", "keystore", "ppk",
        "gpg", "pgp", "asc", "json",
    ];
    let is_name = value
        .bytes()
        .all(|byte| byte.is_ascii_alphanumeric() || b"._-".contains(&byte));
    let without_pub = value.strip_suffix(".pub").unwrap_or(value);
    let has_key_extension = value.rsplit_once('.').is_some_and(|(stem, extension)| {
        !stem.is_empty()
            && KEY_FILE_EXTENSIONS
                .iter()
                .any(|known| known.eq_ignore_ascii_case(extension))
    });
    is_name && (SSH_KEY_NAMES.contains(&without_pub) || has_key_extension)
}

/// True for the words that follow an option named in a sentence rather than given a value:
/// `pass the --token flag`, `use --api-key or --token`, `set --password to it`. A password
/// that is one of them guards nothing; any other word, `--token abc123def456` or
/// `--password hunter`, stays a secret.
fn is_prose_word(value: &str) -> bool {
    const PROSE_WORDS: &[&str] = &[
        "flag",
        "flags",
        "option",
        "options",
        "argument",
        "arguments",
        "parameter",
        "switch",
        "a",
        "an",
        "the",
        "and",
        "or",
        "nor",
        "but",
        "to",
        "as",
        "at",
        "by",
        "for",
        "from",
        "in",
        "into",
        "of",
        "on",
        "with",
        "without",
        "instead",
        "is",
        "was",
        "are",
        "be",
        "if",
        "when",
        "then",
        "that",
        "which",
        "so",
        "not",
    ];
    let word = value.trim_end_matches(['.', ',', ';', ':', '!', '?', ')']);
    PROSE_WORDS
        .iter()
        .any(|prose| prose.eq_ignore_ascii_case(word))
}

fn not_a_placeholder(found: &Found) -> bool {
    !is_placeholder(found.secret_text())
}

/// The element closes with the name it opened with, which names a secret, and holds more
/// than blanks and a placeholder. The closing tag may be HTML-escaped (`&lt;/name&gt;`).
fn secret_element(found: &Found) -> bool {
    let name = found.key.clone().map_or("", |key| &found.text[key]);
    let value = found.secret_text().trim();
    let closing = &found.text[found.secret.end..];
    let closes_same = (closing.strip_prefix("</"))
        .or_else(|| closing.strip_prefix("&lt;/"))
        .and_then(|rest| rest.strip_prefix(name))
        .is_some_and(|rest| rest.starts_with('>') || rest.starts_with("&gt;"));
    closes_same
        && is_secret_name(name)
        && !is_not_the_secret(name, value)
        && !value.is_empty()
        && !is_placeholder(value)
        && !is_file(value)
}

/// The pair sits in a `Cookie:` header or in curl's cookie argument; `line` is its line up to
/// the value.
fn in_cookie_list(found: &Found) -> bool {
    let line_start = found.text[..found.secret.start]
        .rfind('\n')
        .map_or(0, |at| at + 1);
    let line = &found.text[line_start..found.secret.start];
    in_cookie_header(line) || in_curl_cookie_argument(line)
}

/// The pair sits in a `Cookie:` header, or is the first pair of a `Set-Cookie:` one, and the
/// header has not ended: no quote between its colon and the value.
fn in_cookie_header(line: &str) -> bool {
    let lower = line.to_ascii_lowercase();
    let header = lower.match_indices("cookie").find_map(|(at, name)| {
        let after_name = lower[at + name.len()..].trim_start_matches(['"', '\'', ' ', '\t']);
        let pairs = after_name.strip_prefix(':')?;
        Some((
            at,
            pairs
                .trim_start_matches([' ', '\t'])
                .trim_start_matches(['"', '\'']),
        ))
    });
    let Some((at, pairs)) = header else {
        return false;
    };
    let header_ended = pairs.contains(['"', '\'']);
    let past_first_pair = lower[..at].ends_with("set-") && pairs.contains(';');
    !header_ended && !past_first_pair
}

/// The pair sits in the argument of the last `-b` or `--cookie` option of a `curl` command,
/// and the argument has not ended: no closing quote, or no blank when it is unquoted.
fn in_curl_cookie_argument(line: &str) -> bool {
    let bytes = line.as_bytes();
    let option = ["-b", "--cookie"]
        .iter()
        .filter_map(|option| {
            let starts_word = |at: usize| at > 0 && matches!(bytes[at - 1], b' ' | b'\t');
            line.match_indices(option)
                .filter(|(at, _)| starts_word(*at))
                .last()
        })
        .max_by_key(|(at, _)| *at);
    let Some((option_start, option)) = option else {
        return false;
    };
    let command = &line[..option_start];
    let command = &command[command.rfind(['|', ';', '&']).map_or(0, |at| at + 1)..];
    let in_curl = command
        .split_ascii_whitespace()
        .any(|word| word == "curl" || word.ends_with("/curl"));
    let Some(argument) = line[option_start + option.len()..].strip_prefix([' ', '\t']) else {
        return false;
    };
    let argument = argument.trim_start_matches([' ', '\t']);
    let ended = match argument.strip_prefix(['"', '\'']) {
        Some(quoted) => quoted.contains(&argument[..1]),
        None => argument.contains([' ', '\t']),
    };
    in_curl && !ended
}

/// [`assigns_to_secret_name`], unless the value is a file's path or a key file's name
/// (`PRIVATE_KEY=./server.key`): the secret is in the file, and the file's name tells none of it.
fn assigns_to_secret_name_not_a_file(found: &Found) -> bool {
    assigns_to_secret_name(found) && !is_file(found.secret_text())
}

fn assigns_to_secret_name(found: &Found) -> bool {
    let key = found.key.clone().map_or("", |key| &found.text[key]);
    let value = found.secret_text();
    // `password=password` is a keyword argument passing a variable along.
    is_secret_name(key)
        && !value.is_empty()
        && !value.eq_ignore_ascii_case(key)
        && !is_placeholder(without_authorization_scheme(value))
        && !is_not_the_secret(key, value)
}

/// The credential of an `Authorization` header's value, after its scheme (`Bearer`, `Basic` or
/// GitHub's `token`) and blanks, so that `Authorization: Bearer $TOKEN` is a placeholder as
/// `TOKEN=$TOKEN` is; `value` itself when no scheme starts it.
fn without_authorization_scheme(value: &str) -> &str {
    const SCHEMES: &[&str] = &["bearer", "basic", "token"];
    SCHEMES
        .iter()
        .find_map(|scheme| {
            let rest = value.get(scheme.len()..)?;
            let is_scheme =
                value[..scheme.len()].eq_ignore_ascii_case(scheme) && rest.starts_with([' ', '\t']);
            is_scheme.then(|| rest.trim_start_matches([' ', '\t']))
        })
        .unwrap_or(value)
}

/// Values that stand for a secret without being one: `$TOKEN`, `${{ secrets.X }}`,
/// `%PASSWORD%`, `<your-token>`, `{{ token }}`, and flags such as `true` or `null`.
fn is_placeholder(value: &str) -> bool {
    const FLAGS: &[&str] = &[
        "true",
        "false",
        "null",
        "none",
        "nil",
        "undefined",
        "yes",
        "no",
    ];
    value.starts_with('$')
        || (value.len() > 1 && value.starts_with('%') && value.ends_with('%'))
        || (value.starts_with('<') && value.ends_with('>'))
        || value.starts_with("{{")
        || FLAGS.iter().any(|flag| flag.eq_ignore_ascii_case(value))
}

/// Unquoted values that are source code rather than a secret: `get_token()`, `&str`,
/// `String,`, `auth_header}`, `Token::new`, `== expected`, and variables named like secrets:
/// always when dotted (`args.password`), and when `spaced` for a plain name
/// (`token = new_token`), since `PASSWORD=myPassword1` is a password.
fn looks_like_code(value: &str, spaced: bool) -> bool {
    value.contains('(')
        || value.starts_with(['&', '*', '[', '{', '=', '>', '<', ':'])
        || value.ends_with([',', ';', '{', '}', ')', ']'])
        || ((spaced || value.contains('.')) && is_identifier_path(value) && is_secret_name(value))
}

fn is_identifier_path(value: &str) -> bool {
    value.split('.').all(|part| {
        part.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}
