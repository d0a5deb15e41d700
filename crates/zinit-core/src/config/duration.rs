//! Duration text: `250ms`, `2s`, `1.5s`, `1m`, `1h`, `1m30s`, or a bare
//! number of seconds (`10`, `0.5`). Parsing and formatting only; bounds
//! are the lowering's business.

use std::fmt;
use std::time::Duration;

/// Why a duration string was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DurationError {
    /// Not of the accepted shape.
    Invalid(String),
    /// Larger than `Duration` can hold.
    TooLarge(String),
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DurationError::Invalid(raw) => write!(
                f,
                "invalid duration {raw:?}: expected seconds or numbers with a unit \
                 (ms, s, m, h), e.g. 10, \"250ms\", \"1.5s\", \"1m30s\""
            ),
            DurationError::TooLarge(raw) => write!(f, "duration {raw:?} is too large"),
        }
    }
}

impl std::error::Error for DurationError {}

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// Parse a duration string. A bare number means seconds; otherwise one or
/// more `<number><unit>` parts, largest unit first or not, no spaces
/// inside. Numbers may have a decimal fraction (kept to the nanosecond).
pub fn parse_duration(raw: &str) -> Result<Duration, DurationError> {
    let invalid = || DurationError::Invalid(raw.to_owned());
    let text = raw.trim();
    if text.is_empty() {
        return Err(invalid());
    }
    let mut rest = text;
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_len);
        let unit_len = after
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let unit_nanos = match unit {
            "" if number_len == text.len() => NANOS_PER_SEC,
            "ms" => 1_000_000,
            "s" => NANOS_PER_SEC,
            "m" => 60 * NANOS_PER_SEC,
            "h" => 3600 * NANOS_PER_SEC,
            _ => return Err(invalid()),
        };
        let part = scaled(number, unit_nanos).ok_or_else(invalid)?;
        total = total
            .checked_add(part)
            .ok_or_else(|| DurationError::TooLarge(raw.to_owned()))?;
        rest = after;
    }
    let secs = u64::try_from(total / NANOS_PER_SEC)
        .map_err(|_| DurationError::TooLarge(raw.to_owned()))?;
    // The remainder is below 10^9 and fits.
    let nanos = (total % NANOS_PER_SEC) as u32;
    Ok(Duration::new(secs, nanos))
}

/// `number * unit` in nanoseconds, for `12`, `1.5`, `.5`, `2.`;
/// None if malformed (or absurdly long).
fn scaled(number: &str, unit_nanos: u128) -> Option<u128> {
    let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
    if int_part.is_empty() && frac_part.is_empty() || frac_part.contains('.') {
        return None;
    }
    let int: u128 = if int_part.is_empty() {
        0
    } else {
        int_part.parse().ok()?
    };
    let mut value = int.checked_mul(unit_nanos)?;
    // Fraction digits: keep 18, far below a nanosecond of any unit.
    let frac_digits = &frac_part[..frac_part.len().min(18)];
    if !frac_digits.is_empty() {
        let frac: u128 = frac_digits.parse().ok()?;
        let scale = 10u128.pow(u32::try_from(frac_digits.len()).ok()?);
        value = value.checked_add(frac.checked_mul(unit_nanos)? / scale)?;
    }
    Some(value)
}

/// Format a duration the way [`parse_duration`] reads it, e.g. `1m30s`,
/// `250ms`, `1.5s`, `0s`.
pub fn format_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let nanos = d.subsec_nanos();
    if secs == 0 && nanos == 0 {
        return "0s".to_owned();
    }
    let millis = d.subsec_millis();
    if secs == 0 && nanos == millis * 1_000_000 {
        return format!("{millis}ms");
    }
    let mut out = String::new();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        out += &format!("{h}h");
    }
    if m > 0 {
        out += &format!("{m}m");
    }
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        out += &format!("{s}.{}s", frac.trim_end_matches('0'));
    } else if s > 0 {
        out += &format!("{s}s");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn accepts_the_documented_forms() {
        assert_eq!(parse_duration("250ms"), Ok(ms(250)));
        assert_eq!(parse_duration("2s"), Ok(ms(2000)));
        assert_eq!(parse_duration("1.5s"), Ok(ms(1500)));
        assert_eq!(parse_duration("1m"), Ok(ms(60_000)));
        assert_eq!(parse_duration("1h"), Ok(ms(3_600_000)));
        assert_eq!(parse_duration("1m30s"), Ok(ms(90_000)));
        assert_eq!(parse_duration("1h2m3s4ms"), Ok(ms(3_723_004)));
        assert_eq!(parse_duration(" 10 "), Ok(ms(10_000)));
        assert_eq!(parse_duration("0.25"), Ok(ms(250)));
        assert_eq!(parse_duration(".5s"), Ok(ms(500)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("1.0000000001s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_duration("0.1ms"), Ok(Duration::from_micros(100)));
    }

    #[test]
    fn refuses_everything_else() {
        for bad in [
            "", " ", "s", "10x", "1 s", "1.2.3s", "-1s", "+1s", "1s 2s", "ms", ".s", "1e3", "1S",
            "10 20", "1d",
        ] {
            assert_eq!(
                parse_duration(bad),
                Err(DurationError::Invalid(bad.into())),
                "{bad:?}"
            );
        }
        let huge = "99999999999999999999999h";
        assert!(parse_duration(huge).is_err());
        assert_eq!(
            parse_duration("18446744073709551616"),
            Err(DurationError::TooLarge("18446744073709551616".into()))
        );
    }

    #[test]
    fn formats_round_trip() {
        for (d, text) in [
            (Duration::ZERO, "0s"),
            (ms(250), "250ms"),
            (ms(1500), "1.5s"),
            (ms(90_000), "1m30s"),
            (ms(3_600_000), "1h"),
            (ms(3_723_004), "1h2m3.004s"),
            (Duration::from_nanos(1), "0.000000001s"),
        ] {
            assert_eq!(format_duration(d), text);
            assert_eq!(parse_duration(text), Ok(d));
        }
    }

    #[test]
    fn messages_name_the_text() {
        let e = parse_duration("soon").unwrap_err().to_string();
        assert!(
            e.starts_with("invalid duration \"soon\": expected seconds"),
            "{e}"
        );
    }
}
