//! How a JSON number is stored. serde_json (with `arbitrary_precision`) keeps a number's text,
//! so a number is never rounded on its way in; this module picks the stored form: an `i64`, a
//! `u64`, an `f64` when the float's shortest text means the same decimal value as the number's
//! text (`0.1`, `1e5`, `-0.0`), and otherwise the text itself, so that an integer beyond 64
//! bits or a decimal with more digits than an `f64` holds comes back exactly as written
//! (`format-spec/journal.md` section 7, `Value::Number`).

use serde_json::Number;

/// How a JSON number is stored: as `Int` when it fits an `i64`, else as `UInt` when it fits a
/// `u64`, else as `Float` when an `f64` holds its value, else as its `Text`. The one rule
/// behind [`Value::from`](super::Value), [`ValueRef::from`](super::ValueRef) and the encoder.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum StoredNumber<'a> {
    Int(i64),
    UInt(u64),
    Float(f64),
    Text(&'a str),
}

impl StoredNumber<'_> {
    pub(crate) fn of(number: &Number) -> StoredNumber<'_> {
        let text = number.as_str();
        if !is_float_syntax(text) {
            return match (number.as_i64(), number.as_u64()) {
                (Some(int), _) => StoredNumber::Int(int),
                (None, Some(uint)) => StoredNumber::UInt(uint),
                // An integer that fits no 64-bit type: an `f64` would round it.
                (None, None) => StoredNumber::Text(text),
            };
        }
        match number.as_f64() {
            Some(float) if float_keeps_value(text, float) => StoredNumber::Float(float),
            _ => StoredNumber::Text(text),
        }
    }
}

/// The number `text` means, if it is one JSON number and nothing else: what a stored
/// `Value::Number` must hold, checked when it is read back so that bad bytes cannot make an
/// invalid JSON number.
pub(crate) fn parse_number_text(text: &str) -> Option<Number> {
    serde_json::from_str::<Number>(text)
        .ok()
        .filter(|number| number.as_str() == text)
}

/// Whether a JSON number is written as a float (with a fraction or an exponent).
fn is_float_syntax(text: &str) -> bool {
    text.bytes().any(|byte| matches!(byte, b'.' | b'e' | b'E'))
}

/// Significant decimal digits an `f64` always tells apart (`f64::DIGITS`): a decimal of at most
/// this many, in the normal range, is the shortest text of its nearest `f64`, since no shorter
/// decimal rounds to that `f64` too.
const F64_EXACT_DIGITS: usize = f64::DIGITS as usize;
/// The largest power of ten, either way, of a decimal's leading digit for which that holds
/// without looking closer: normal `f64`s reach 10^±307, kept clear of the edges.
const F64_PLAIN_EXPONENT_MAX: i64 = 290;

/// Whether `float`, the `f64` nearest to the JSON number `text`, is written (shortest, as
/// export writes it: serde_json formats floats with zmij) as the same decimal value as `text`:
/// then storing the float loses nothing. Nearly every float has few digits and is answered
/// without formatting it.
fn float_keeps_value(text: &str, float: f64) -> bool {
    let Some(number) = Decimal::parse(text.as_bytes()) else {
        return false;
    };
    let digits = number.whole.len() + number.fraction.len();
    let leading = number.exponent.saturating_add(digits as i64);
    if digits <= F64_EXACT_DIGITS && leading.abs() <= F64_PLAIN_EXPONENT_MAX {
        return true;
    }
    let mut buffer = zmij::Buffer::new();
    let shortest = buffer.format_finite(float);
    Decimal::parse(shortest.as_bytes()).is_some_and(|shortest| number == shortest)
}

/// A decimal number, read in place from its text: sign, significant digits (no leading or
/// trailing zeros; none for zero) and the power of ten of the last one.
#[derive(Debug)]
struct Decimal<'a> {
    negative: bool,
    /// The significant digits, split where the text's decimal point was.
    whole: &'a [u8],
    fraction: &'a [u8],
    exponent: i64,
}

impl<'a> Decimal<'a> {
    /// Reads JSON number syntax, which zmij's text of an `f64` also is; `None` when the
    /// exponent does not fit an `i64` (such a number is kept as text).
    fn parse(text: &'a [u8]) -> Option<Decimal<'a>> {
        let (negative, unsigned) = match text.split_first() {
            Some((b'-', rest)) => (true, rest),
            _ => (false, text),
        };
        let (mantissa, exponent) = match unsigned.iter().position(|&b| b == b'e' || b == b'E') {
            Some(at) => (&unsigned[..at], parse_exponent(&unsigned[at + 1..])?),
            None => (unsigned, 0),
        };
        let (whole, fraction) = match mantissa.iter().position(|&byte| byte == b'.') {
            Some(at) => (&mantissa[..at], &mantissa[at + 1..]),
            None => (mantissa, &mantissa[mantissa.len()..]),
        };
        let whole = trim_start_zeros(whole);
        let fraction = trim_end_zeros(fraction);
        let (whole, fraction, exponent) = if fraction.is_empty() {
            let trimmed = trim_end_zeros(whole);
            let zeros = i64::try_from(whole.len() - trimmed.len()).ok()?;
            (trimmed, fraction, exponent.checked_add(zeros)?)
        } else {
            let places = i64::try_from(fraction.len()).ok()?;
            let fraction = if whole.is_empty() {
                trim_start_zeros(fraction)
            } else {
                fraction
            };
            (whole, fraction, exponent.checked_sub(places)?)
        };
        let zero = whole.is_empty() && fraction.is_empty();
        Some(Decimal {
            negative,
            whole,
            fraction,
            exponent: if zero { 0 } else { exponent },
        })
    }

    fn digits(&self) -> impl Iterator<Item = &u8> + '_ {
        self.whole.iter().chain(self.fraction)
    }
}

impl PartialEq for Decimal<'_> {
    fn eq(&self, other: &Decimal<'_>) -> bool {
        self.negative == other.negative
            && self.exponent == other.exponent
            && self.digits().eq(other.digits())
    }
}

fn parse_exponent(text: &[u8]) -> Option<i64> {
    std::str::from_utf8(text).ok()?.parse().ok()
}

fn trim_start_zeros(digits: &[u8]) -> &[u8] {
    let zeros = digits.iter().take_while(|&&digit| digit == b'0').count();
    &digits[zeros..]
}

fn trim_end_zeros(digits: &[u8]) -> &[u8] {
    let zeros = digits
        .iter()
        .rev()
        .take_while(|&&digit| digit == b'0')
        .count();
    &digits[..digits.len() - zeros]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(text: &str) -> StoredNumber<'_> {
        let number: &'static Number = Box::leak(Box::new(serde_json::from_str(text).unwrap()));
        StoredNumber::of(number)
    }

    #[test]
    fn numbers_an_f64_holds_are_stored_as_numbers() {
        assert_eq!(stored("-7"), StoredNumber::Int(-7));
        assert_eq!(stored("18446744073709551615"), StoredNumber::UInt(u64::MAX));
        for (text, float) in [
            ("0.1", 0.1),
            ("1.5", 1.5),
            ("1e5", 1e5),
            ("1E2", 100.0),
            ("100.000", 100.0),
            ("-2.5e-300", -2.5e-300),
            ("1.7976931348623157e308", f64::MAX),
        ] {
            assert_eq!(stored(text), StoredNumber::Float(float), "{text}");
        }
        assert!(matches!(stored("-0.0"), StoredNumber::Float(zero) if zero.is_sign_negative()));
    }

    /// The few-digits shortcut of `float_keeps_value` agrees with formatting the float, for
    /// decimals of up to 15 digits across the exponents it covers and around its edges.
    #[test]
    fn the_few_digits_shortcut_agrees_with_formatting() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..200_000 {
            let digits = 1 + next() % F64_EXACT_DIGITS as u64;
            let mantissa = next() % 10u64.pow(digits as u32);
            let exponent = (next() % 640) as i64 - 320;
            let text = format!("{mantissa}e{exponent}");
            let Ok(float) = text.parse::<f64>() else {
                continue;
            };
            if !float.is_finite() {
                continue;
            }
            let mut buffer = zmij::Buffer::new();
            let shortest = buffer.format_finite(float);
            let formatted = match (
                Decimal::parse(text.as_bytes()),
                Decimal::parse(shortest.as_bytes()),
            ) {
                (Some(number), Some(shortest)) => number == shortest,
                _ => false,
            };
            assert_eq!(float_keeps_value(&text, float), formatted, "{text}");
        }
    }

    #[test]
    fn numbers_an_f64_would_change_are_stored_as_text() {
        for text in [
            "123456789012345678901234567890",
            "-123456789012345678901234567890",
            "18446744073709551616",
            "-9223372036854775809",
            "1.00000000000000000001",
            "0.30000000000000000000000001",
            "1e+400",
            "1e-400",
        ] {
            assert_eq!(stored(text), StoredNumber::Text(text), "{text}");
        }
    }

    #[test]
    fn only_one_whole_json_number_is_number_text() {
        assert!(parse_number_text("-1.5e+7").is_some());
        for text in ["", "1 ", "+1", "01", "1.", "1e", "NaN", "1 2", "\"1\""] {
            assert_eq!(parse_number_text(text), None, "{text:?}");
        }
    }
}
